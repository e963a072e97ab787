//! `aes128-gcm@openssh.com` and `aes256-gcm@openssh.com` (RFC 5647 as OpenSSH implements it:
//! the MAC negotiation is ignored, the 4-byte length travels in clear as additional
//! authenticated data, and packets align to 16 bytes without the length field).
//!
//! The 12-byte nonce is the KEX-derived IV: a 4-byte fixed field and an 8-byte invocation
//! counter that is incremented (big-endian, modulo 2^64) after every packet (RFC 5647 §7.1).
//! The sequence number is not an input: the counter plays its part.

use core::ops::Range;

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce, Tag};
use alloc::boxed::Box;
use bytes::BytesMut;
use whelk_wire::frame::Alignment;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::packet::{PacketOpener, PacketSealer, check_openable, check_sealable, payload_range};

/// Tag length.
pub(crate) const TAG_LEN: usize = 16;
/// IV (nonce) length.
pub(crate) const IV_LEN: usize = 12;

/// Key size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GcmKind {
    Aes128,
    Aes256,
}

enum Aead {
    Aes128(Box<Aes128Gcm>),
    Aes256(Box<Aes256Gcm>),
}

/// Key schedule, GHASH key (both zeroize on drop: `aes-gcm`'s `zeroize` feature) and the
/// nonce.
struct State {
    aead: Aead,
    name: &'static str,
    nonce: Zeroizing<[u8; IV_LEN]>,
}

impl State {
    fn new(kind: GcmKind, key: &[u8], iv: &[u8]) -> Result<Self> {
        let key_len = match kind {
            GcmKind::Aes128 => 16,
            GcmKind::Aes256 => 32,
        };
        let bad_key = Error::KeyLength {
            what: "cipher key",
            got: key.len(),
            expected: key_len,
        };
        let (aead, name) = match kind {
            GcmKind::Aes128 => (
                Aead::Aes128(Box::new(
                    Aes128Gcm::new_from_slice(key).map_err(|_| bad_key)?,
                )),
                "aes128-gcm@openssh.com",
            ),
            GcmKind::Aes256 => (
                Aead::Aes256(Box::new(
                    Aes256Gcm::new_from_slice(key).map_err(|_| bad_key)?,
                )),
                "aes256-gcm@openssh.com",
            ),
        };
        let nonce: [u8; IV_LEN] = iv.try_into().map_err(|_| Error::KeyLength {
            what: "cipher IV",
            got: iv.len(),
            expected: IV_LEN,
        })?;
        Ok(Self {
            aead,
            name,
            nonce: Zeroizing::new(nonce),
        })
    }

    /// Increments the invocation counter (the last 8 bytes of the nonce).
    fn next_nonce(&mut self) {
        if let Some((_, counter)) = self.nonce.split_first_chunk_mut::<4>()
            && let Some(counter) = counter.first_chunk_mut::<8>()
        {
            *counter = u64::from_be_bytes(*counter).wrapping_add(1).to_be_bytes();
        }
    }

    fn encrypt(&self, aad: &[u8], data: &mut [u8]) -> Result<Tag> {
        let nonce = Nonce::from(*self.nonce);
        match &self.aead {
            Aead::Aes128(a) => a.encrypt_inout_detached(&nonce, aad, data.into()),
            Aead::Aes256(a) => a.encrypt_inout_detached(&nonce, aad, data.into()),
        }
        .map_err(|_| Error::Mac)
    }

    fn decrypt(&self, aad: &[u8], data: &mut [u8], tag: &[u8]) -> Result<()> {
        let nonce = Nonce::from(*self.nonce);
        let tag = Tag::try_from(tag).map_err(|_| Error::Mac)?;
        // aes-gcm compares the tag in constant time and leaves the data untouched on failure.
        match &self.aead {
            Aead::Aes128(a) => a.decrypt_inout_detached(&nonce, aad, data.into(), &tag),
            Aead::Aes256(a) => a.decrypt_inout_detached(&nonce, aad, data.into(), &tag),
        }
        .map_err(|_| Error::Mac)
    }
}

/// Outbound AES-GCM.
pub(crate) struct GcmSealer(State);

impl GcmSealer {
    pub(crate) fn new(kind: GcmKind, key: &[u8], iv: &[u8]) -> Result<Self> {
        State::new(kind, key, iv).map(Self)
    }
}

impl PacketSealer for GcmSealer {
    fn name(&self) -> &'static str {
        self.0.name
    }

    fn alignment(&self) -> Alignment {
        Alignment::new(16, false)
    }

    fn trailer_len(&self) -> usize {
        TAG_LEN
    }

    fn seal(&mut self, _seq: u32, buf: &mut BytesMut, packet: Range<usize>) -> Result<()> {
        check_sealable(buf, &packet, self.alignment())?;
        let bad = Error::BadPacketRange {
            start: packet.start,
            end: packet.end,
            buf_len: buf.len(),
        };
        let pkt = buf.get_mut(packet).ok_or(bad.clone())?;
        let (len, body) = pkt.split_first_chunk_mut::<4>().ok_or(bad)?;
        let tag = self.0.encrypt(len, body)?;
        self.0.next_nonce();
        buf.extend_from_slice(&tag);
        Ok(())
    }
}

/// Inbound AES-GCM.
pub(crate) struct GcmOpener {
    state: State,
    pending: Option<u32>,
}

impl GcmOpener {
    pub(crate) fn new(kind: GcmKind, key: &[u8], iv: &[u8]) -> Result<Self> {
        Ok(Self {
            state: State::new(kind, key, iv)?,
            pending: None,
        })
    }
}

impl PacketOpener for GcmOpener {
    fn name(&self) -> &'static str {
        self.state.name
    }

    fn alignment(&self) -> Alignment {
        Alignment::new(16, false)
    }

    fn trailer_len(&self) -> usize {
        TAG_LEN
    }

    fn length_bytes(&self) -> usize {
        4
    }

    fn open_length(&mut self, _seq: u32, first: &[u8]) -> Result<u32> {
        let len = u32::from_be_bytes(*first.first_chunk::<4>().ok_or(Error::OpenOutOfOrder)?);
        self.pending = Some(len);
        Ok(len)
    }

    fn open(&mut self, _seq: u32, packet: &mut [u8]) -> Result<Range<usize>> {
        let body = check_openable(packet, self.pending, TAG_LEN)?;
        self.pending = None;
        let (data, tag) = packet.split_at_mut(body);
        let (len, ct) = data
            .split_first_chunk_mut::<4>()
            .ok_or(Error::OpenOutOfOrder)?;
        self.state.decrypt(len, ct, tag)?;
        self.state.next_nonce();
        payload_range(packet, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    const IV: &str = "cafebabefacedbaddecaf888";
    const P: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                     1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
    const A: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";

    /// McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 4 and 16 (the
    /// NIST GCM validation vectors), through the same calls the sealer and opener make.
    fn check(kind: GcmKind, key: &str, c: &str, t: &str) {
        let mut st = State::new(kind, &h(key), &h(IV)).unwrap();
        let mut data = h(P);
        let tag = st.encrypt(&h(A), &mut data).unwrap();
        assert_eq!(hex::encode(&data), c);
        assert_eq!(hex::encode(tag), t);
        st.decrypt(&h(A), &mut data, &tag).unwrap();
        assert_eq!(data, h(P));
        let mut bad = tag;
        bad[15] ^= 1;
        assert_eq!(st.decrypt(&h(A), &mut data, &bad), Err(Error::Mac));
        // The nonce's invocation counter is the last 8 bytes, big-endian.
        st.next_nonce();
        assert_eq!(hex::encode(*st.nonce), "cafebabefacedbaddecaf889");
    }

    #[test]
    fn gcm_mcgrew_viega_test_cases() {
        check(
            GcmKind::Aes128,
            "feffe9928665731c6d6a8f9467308308",
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
             21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
            "5bc94fbc3221a5db94fae95ae7121a47",
        );
        check(
            GcmKind::Aes256,
            "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
            "76fc6ece0f4e1768cddf8853bb2d551b",
        );
    }

    #[test]
    fn invocation_counter_wraps_in_its_8_bytes() {
        let mut st = State::new(GcmKind::Aes128, &[0; 16], &h("01020304ffffffffffffffff")).unwrap();
        st.next_nonce();
        assert_eq!(hex::encode(*st.nonce), "010203040000000000000000");
    }
}
