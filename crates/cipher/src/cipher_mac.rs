//! Non-AEAD protection: a stream or block cipher plus an HMAC, either encrypt-and-MAC
//! (RFC 4253 §6: MAC over the plaintext packet, length encrypted) or encrypt-then-MAC
//! (OpenSSH PROTOCOL §1.5: length in clear, MAC over the length and the ciphertext).

use core::ops::Range;

use bytes::BytesMut;
use whelk_wire::frame::Alignment;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::mac::{MAX_MAC_LEN, PacketMac};
use crate::modes::{Decryptor, Encryptor};
use crate::packet::{PacketOpener, PacketSealer, check_openable, check_sealable, payload_range};

/// Largest cipher block (AES).
const MAX_BLOCK: usize = 16;

/// Outbound cipher + MAC.
pub(crate) struct CipherMacSealer {
    pub(crate) name: &'static str,
    pub(crate) mac_name: &'static str,
    pub(crate) enc: Encryptor,
    pub(crate) mac: PacketMac,
    pub(crate) etm: bool,
    pub(crate) block: usize,
}

impl PacketSealer for CipherMacSealer {
    fn name(&self) -> &'static str {
        self.name
    }

    fn mac_name(&self) -> Option<&'static str> {
        Some(self.mac_name)
    }

    fn alignment(&self) -> Alignment {
        Alignment::new(self.block, !self.etm)
    }

    fn trailer_len(&self) -> usize {
        self.mac.len()
    }

    fn seal(&mut self, seq: u32, buf: &mut BytesMut, packet: Range<usize>) -> Result<()> {
        check_sealable(buf, &packet, self.alignment())?;
        let bad = Error::BadPacketRange {
            start: packet.start,
            end: packet.end,
            buf_len: buf.len(),
        };
        let mut tag = [0u8; MAX_MAC_LEN];
        let pkt = buf.get_mut(packet).ok_or(bad.clone())?;
        if self.etm {
            let body = pkt.get_mut(4..).ok_or(bad.clone())?;
            self.enc.apply(body);
            self.mac.compute(seq, pkt, &mut tag);
        } else {
            self.mac.compute(seq, pkt, &mut tag);
            self.enc.apply(pkt);
        }
        buf.extend_from_slice(tag.get(..self.mac.len()).ok_or(bad)?);
        Ok(())
    }
}

/// Inbound cipher + MAC.
pub(crate) struct CipherMacOpener {
    name: &'static str,
    mac_name: &'static str,
    dec: Decryptor,
    mac: PacketMac,
    etm: bool,
    block: usize,
    cbc: bool,
    /// `packet_length` from step 1, until step 2 consumes it.
    pending: Option<u32>,
    /// Encrypt-and-MAC: the first block, decrypted in step 1.
    first: Zeroizing<[u8; MAX_BLOCK]>,
}

impl CipherMacOpener {
    pub(crate) fn new(
        (name, mac_name): (&'static str, &'static str),
        dec: Decryptor,
        mac: PacketMac,
        etm: bool,
        block: usize,
        cbc: bool,
    ) -> Self {
        Self {
            name,
            mac_name,
            dec,
            mac,
            etm,
            block: block.clamp(1, MAX_BLOCK),
            cbc,
            pending: None,
            first: Zeroizing::new([0; MAX_BLOCK]),
        }
    }
}

impl PacketOpener for CipherMacOpener {
    fn name(&self) -> &'static str {
        self.name
    }

    fn mac_name(&self) -> Option<&'static str> {
        Some(self.mac_name)
    }

    fn alignment(&self) -> Alignment {
        Alignment::new(self.block, !self.etm)
    }

    fn trailer_len(&self) -> usize {
        self.mac.len()
    }

    fn length_bytes(&self) -> usize {
        if self.etm { 4 } else { self.block.max(4) }
    }

    fn discard_on_error(&self) -> bool {
        self.cbc && !self.etm
    }

    fn open_length(&mut self, _seq: u32, first: &[u8]) -> Result<u32> {
        let len = if self.etm {
            let head = first.first_chunk::<4>().ok_or(Error::OpenOutOfOrder)?;
            u32::from_be_bytes(*head)
        } else {
            let n = self.block.max(4);
            let src = first.get(..n).ok_or(Error::OpenOutOfOrder)?;
            let dst = self.first.get_mut(..n).ok_or(Error::OpenOutOfOrder)?;
            dst.copy_from_slice(src);
            self.dec.apply(dst);
            let head = dst.first_chunk::<4>().ok_or(Error::OpenOutOfOrder)?;
            u32::from_be_bytes(*head)
        };
        self.pending = Some(len);
        Ok(len)
    }

    fn open(&mut self, seq: u32, packet: &mut [u8]) -> Result<Range<usize>> {
        let body = check_openable(packet, self.pending, self.mac.len())?;
        self.pending = None;
        let (data, received) = packet.split_at_mut(body);
        if self.etm {
            // Verify before touching the ciphertext.
            if !self.mac.verify(seq, data, received) {
                return Err(Error::Mac);
            }
            let ct = data.get_mut(4..).ok_or(Error::OpenOutOfOrder)?;
            if ct.len() % self.block != 0 {
                return Err(Error::Mac);
            }
            self.dec.apply(ct);
        } else {
            let n = self.block.max(4);
            if data.len() % n != 0 {
                return Err(Error::Mac);
            }
            let (head, rest) = data.split_at_mut(n.min(data.len()));
            head.copy_from_slice(self.first.get(..head.len()).ok_or(Error::OpenOutOfOrder)?);
            self.dec.apply(rest);
            if !self.mac.verify(seq, data, received) {
                return Err(Error::Mac);
            }
        }
        payload_range(packet, body)
    }
}
