//! Binary packet framing (RFC 4253 §6) without cryptography.
//!
//! ```text
//! uint32    packet_length    (not counting the MAC or packet_length itself)
//! byte      padding_length   (4..=255)
//! byte[n1]  payload          (n1 = packet_length - padding_length - 1)
//! byte[n2]  random padding   (n2 = padding_length)
//! ```
//!
//! The total length (`4 + packet_length`, or `packet_length` alone when the length travels
//! outside the encrypted block as with EtM MACs and AEAD ciphers) is a multiple of the
//! cipher block size or 8, whichever is larger, and at least 16 bytes. The cipher layer
//! reuses [`check_packet_length`], [`check_padding`] and [`Alignment`] for protected packets.

use core::ops::Range;

use bytes::{BufMut, Bytes, BytesMut};
use rand_core::CryptoRng;

use crate::error::{Error, Result};
use crate::msg::Message;

/// Default limit on `packet_length`: 256 KiB, as OpenSSH's `PACKET_MAX_SIZE`.
pub const DEFAULT_MAX_PACKET_LEN: u32 = 256 * 1024;
/// The smallest limit that may be configured: RFC 4253 §6.1 requires every implementation
/// to accept packets of 35000 bytes.
pub const MIN_MAX_PACKET_LEN: u32 = 35_000;
/// Minimum padding (RFC 4253 §6).
pub const MIN_PADDING: u8 = 4;
/// Minimum alignment, used whatever the cipher's block size (RFC 4253 §6).
pub const MIN_BLOCK: usize = 8;
/// Minimum size of a whole packet (RFC 4253 §6).
pub const MIN_PACKET_SIZE: usize = 16;

/// Limits on inbound packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketLimits {
    max_packet_len: u32,
}

impl Default for PacketLimits {
    fn default() -> Self {
        Self {
            max_packet_len: DEFAULT_MAX_PACKET_LEN,
        }
    }
}

impl PacketLimits {
    /// A limit on `packet_length`; values below [`MIN_MAX_PACKET_LEN`] are raised to it.
    #[must_use]
    pub fn new(max_packet_len: u32) -> Self {
        Self {
            max_packet_len: max_packet_len.max(MIN_MAX_PACKET_LEN),
        }
    }

    /// The largest `packet_length` accepted.
    #[must_use]
    pub fn max_packet_len(&self) -> u32 {
        self.max_packet_len
    }
}

/// How packet lengths must align for the cipher in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alignment {
    block: usize,
    length_in_block: bool,
}

impl Alignment {
    /// Unencrypted packets (before the first NEWKEYS, or the `none` cipher): 8-byte blocks,
    /// the length field counted.
    pub const PLAINTEXT: Self = Self {
        block: MIN_BLOCK,
        length_in_block: true,
    };

    /// Alignment for a cipher with `block_size`-byte blocks (raised to 8). `length_in_block`
    /// is false where the length field is not part of the encrypted blocks (EtM MACs, AEAD
    /// ciphers; RFC 5647 §7.2, OpenSSH PROTOCOL §1.5).
    #[must_use]
    pub fn new(block_size: usize, length_in_block: bool) -> Self {
        Self {
            block: block_size.max(MIN_BLOCK),
            length_in_block,
        }
    }

    /// The block size packets align to.
    #[must_use]
    pub fn block(&self) -> usize {
        self.block
    }

    /// The padding to add to a payload of `payload_len` bytes: the least that is at least 4,
    /// aligns the packet and makes it at least 16 bytes long.
    #[must_use]
    pub fn padding_len(&self, payload_len: usize) -> u8 {
        let covered = if self.length_in_block { 5 } else { 1 } + payload_len;
        let mut pad = self.block - covered % self.block;
        if pad < usize::from(MIN_PADDING) {
            pad += self.block;
        }
        while 5 + payload_len + pad < MIN_PACKET_SIZE {
            pad += self.block;
        }
        // block <= 255 - 4 is guaranteed by every SSH cipher (16 bytes at most); the minimum
        // keeps the result honest for any value.
        u8::try_from(pad).unwrap_or(u8::MAX)
    }

    /// Checks that `packet_length` aligns.
    pub fn check(&self, packet_len: u32) -> Result<()> {
        let covered = u64::from(packet_len) + if self.length_in_block { 4 } else { 0 };
        // block is at most a few dozen bytes; the conversion cannot fail on any real target.
        let block = u64::try_from(self.block).unwrap_or(u64::MAX);
        if covered % block == 0 {
            Ok(())
        } else {
            Err(Error::PacketMisaligned {
                len: packet_len,
                block: self.block,
            })
        }
    }
}

/// Checks `packet_length` against the limit and the smallest possible packet, before any
/// buffering happens.
pub fn check_packet_length(packet_len: u32, limits: PacketLimits) -> Result<()> {
    if packet_len > limits.max_packet_len {
        return Err(Error::PacketTooLarge {
            len: packet_len,
            max: limits.max_packet_len,
        });
    }
    // padding_length byte + 4 bytes of padding + at least the message number.
    if packet_len < 1 + u32::from(MIN_PADDING) + 1 {
        return Err(Error::PacketTooSmall { len: packet_len });
    }
    Ok(())
}

/// Checks `padding_length` against `packet_length`: at least 4, and leaving at least one
/// payload byte for the message number.
pub fn check_padding(padding: u8, packet_len: u32) -> Result<()> {
    if padding < MIN_PADDING || u32::from(padding) + 2 > packet_len {
        return Err(Error::BadPadding {
            padding,
            len: packet_len,
        });
    }
    Ok(())
}

/// Where a packet being built starts in the output buffer (see [`start_packet`]).
#[derive(Clone, Copy, Debug)]
#[must_use]
pub struct PacketStart(usize);

/// Reserves the 5-byte header of a packet at the end of `out`; encode the payload right
/// after it, then call [`finish_packet`]. The payload is written once, in place.
pub fn start_packet(out: &mut BytesMut) -> PacketStart {
    let at = out.len();
    out.put_bytes(0, 5);
    PacketStart(at)
}

/// Completes a packet begun with [`start_packet`]: fills in the header and appends random
/// padding from `rng`. Returns the range of the whole packet in `out`.
pub fn finish_packet<R: CryptoRng + ?Sized>(
    out: &mut BytesMut,
    start: PacketStart,
    alignment: Alignment,
    rng: &mut R,
) -> Result<Range<usize>> {
    let header_end = start.0 + 5;
    let payload_len = out
        .len()
        .checked_sub(header_end)
        .ok_or(Error::EmptyPayload)?;
    let pad = alignment.padding_len(payload_len);
    let packet_len = 1 + payload_len + usize::from(pad);
    let len_u32 =
        u32::try_from(packet_len).map_err(|_| Error::EncodingTooLarge { len: packet_len })?;
    let header = out
        .get_mut(start.0..header_end)
        .ok_or(Error::EmptyPayload)?;
    let [l0, l1, l2, l3] = len_u32.to_be_bytes();
    header.copy_from_slice(&[l0, l1, l2, l3, pad]);
    let pad_at = out.len();
    out.put_bytes(0, usize::from(pad));
    if let Some(padding) = out.get_mut(pad_at..) {
        rng.fill_bytes(padding);
    }
    Ok(start.0..out.len())
}

/// Appends `msg` as a complete unencrypted packet.
pub fn encode_packet<R: CryptoRng + ?Sized>(
    out: &mut BytesMut,
    msg: &Message,
    alignment: Alignment,
    rng: &mut R,
) -> Result<Range<usize>> {
    let start = start_packet(out);
    if let Err(e) = msg.encode(out) {
        out.truncate(start.0);
        return Err(e);
    }
    finish_packet(out, start, alignment, rng)
}

/// One deframed packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// The payload: a slice of the input buffer, not a copy.
    pub payload: Bytes,
    /// `padding_length` as received.
    pub padding_len: u8,
}

/// Splits a stream of unencrypted packets: the first step of reading before NEWKEYS.
///
/// The length is checked against the limit as soon as its 4 bytes are there, so a hostile
/// length never makes the caller buffer more than the limit.
#[derive(Clone, Debug)]
pub struct Deframer {
    limits: PacketLimits,
    alignment: Alignment,
}

impl Deframer {
    /// A deframer for unencrypted packets.
    #[must_use]
    pub fn new(limits: PacketLimits) -> Self {
        Self {
            limits,
            alignment: Alignment::PLAINTEXT,
        }
    }

    fn header(&self, buf: &[u8]) -> Result<Option<u32>> {
        let Some(len) = buf.first_chunk::<4>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(*len);
        check_packet_length(len, self.limits)?;
        self.alignment.check(len)?;
        Ok(Some(len))
    }

    /// How many bytes `buf` must hold before [`Deframer::next_packet`] can make progress
    /// (0 if it can now).
    pub fn bytes_needed(&self, buf: &[u8]) -> Result<usize> {
        Ok(match self.header(buf)? {
            None => 4 - buf.len(),
            Some(len) => (4 + len as usize).saturating_sub(buf.len()),
        })
    }

    /// Takes the next complete packet off the front of `buf`, or returns `None` if more bytes
    /// are needed. The payload shares `buf`'s allocation.
    pub fn next_packet(&mut self, buf: &mut BytesMut) -> Result<Option<Packet>> {
        let Some(len) = self.header(buf)? else {
            return Ok(None);
        };
        let total = 4 + len as usize;
        if buf.len() < total {
            return Ok(None);
        }
        let padding_len = *buf.get(4).ok_or(Error::PacketTooSmall { len })?;
        check_padding(padding_len, len)?;
        let packet = buf.split_to(total).freeze();
        let payload = packet.slice(5..total - usize::from(padding_len));
        Ok(Some(Packet {
            payload,
            padding_len,
        }))
    }
}
