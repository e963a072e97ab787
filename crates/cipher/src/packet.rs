//! The two halves of packet protection: [`PacketSealer`] (outbound) and [`PacketOpener`]
//! (inbound), and the shared checks on the packets handed to them.

use core::ops::Range;

use bytes::BytesMut;
use whelk_wire::frame::{Alignment, MIN_PACKET_SIZE, check_padding};

use crate::error::{Error, Result};

/// Outbound packet protection for one direction, with whatever state the algorithm carries
/// from packet to packet (CTR counter, CBC chaining block, GCM invocation counter).
///
/// Build the packet with [`whelk_wire::frame::start_packet`] and
/// [`whelk_wire::frame::finish_packet`] using [`PacketSealer::alignment`], then call
/// [`PacketSealer::seal`] with the range `finish_packet` returned. The packet must be the last
/// thing in the buffer: the MAC or tag ([`PacketSealer::trailer_len`] bytes) is appended
/// right after it, and everything else is encrypted in place.
pub trait PacketSealer: Send {
    /// The SSH name of the cipher in use.
    fn name(&self) -> &'static str;
    /// The SSH name of the MAC in use, if the cipher is not an AEAD.
    fn mac_name(&self) -> Option<&'static str> {
        None
    }
    /// How packets must be padded for this algorithm.
    fn alignment(&self) -> Alignment;
    /// How many bytes [`PacketSealer::seal`] appends (MAC or tag length; 0 for `none`).
    fn trailer_len(&self) -> usize;
    /// Encrypts the packet at `packet` (which must end at the end of `buf`) in place and
    /// appends the MAC or tag. `seq` is the packet's sequence number (RFC 4253 §6.4).
    fn seal(&mut self, seq: u32, buf: &mut BytesMut, packet: Range<usize>) -> Result<()>;
}

/// Inbound packet protection for one direction, in two steps:
///
/// 1. [`PacketOpener::open_length`] with the first [`PacketOpener::length_bytes`] bytes of a
///    packet returns `packet_length`: in clear for AEAD ciphers and EtM MACs, decrypted with
///    the length key for chacha20-poly1305, by decrypting the first block for
///    encrypt-and-MAC modes (the opener keeps that block). Nothing is verified yet: check the
///    value against the limits before buffering the rest.
/// 2. [`PacketOpener::open`] with the whole packet (`4 + packet_length` bytes plus
///    [`PacketOpener::trailer_len`]) verifies the tag or MAC (in constant time) and decrypts in
///    place, then checks the padding. It returns the payload's range within `packet`. After a
///    successful `open`, `packet[..4 + packet_length]` holds the plaintext packet.
///
/// [`crate::Deframer`] drives the two steps over a receive buffer.
pub trait PacketOpener: Send {
    /// The SSH name of the cipher in use.
    fn name(&self) -> &'static str;
    /// The SSH name of the MAC in use, if the cipher is not an AEAD.
    fn mac_name(&self) -> Option<&'static str> {
        None
    }
    /// How packet lengths must align for this algorithm.
    fn alignment(&self) -> Alignment;
    /// Length of the MAC or tag that follows each packet.
    fn trailer_len(&self) -> usize;
    /// How many bytes [`PacketOpener::open_length`] needs: 4 when the length is readable on its
    /// own, the cipher block size when the first block must be decrypted.
    fn length_bytes(&self) -> usize;
    /// Whether a failure must be hidden by discarding input up to the packet limit before
    /// reporting it (CBC with an encrypt-and-MAC MAC, catalog P07 / CVE-2008-5161).
    fn discard_on_error(&self) -> bool {
        false
    }
    /// Step 1: reads `packet_length` from the start of a packet (`first` holds at least
    /// [`PacketOpener::length_bytes`] bytes). Returns `Ok` even for absurd values: range
    /// checks are the caller's.
    fn open_length(&mut self, seq: u32, first: &[u8]) -> Result<u32>;
    /// Step 2: verifies and decrypts the whole packet in place (`packet` is exactly
    /// `4 + packet_length + trailer_len` bytes, `packet_length` as returned by step 1) and
    /// returns the range of the payload within `packet`.
    fn open(&mut self, seq: u32, packet: &mut [u8]) -> Result<Range<usize>>;
}

/// Checks that `packet` is a whole packet at the end of `buf`, built for `alignment`, and
/// returns `packet_length`.
pub(crate) fn check_sealable(
    buf: &BytesMut,
    packet: &Range<usize>,
    alignment: Alignment,
) -> Result<u32> {
    let bad = || Error::BadPacketRange {
        start: packet.start,
        end: packet.end,
        buf_len: buf.len(),
    };
    if packet.end != buf.len() || packet.start > packet.end {
        return Err(bad());
    }
    let total = packet.end - packet.start;
    if total < MIN_PACKET_SIZE {
        return Err(bad());
    }
    let header = buf
        .get(packet.start..)
        .and_then(<[u8]>::first_chunk::<4>)
        .ok_or_else(bad)?;
    let len = u32::from_be_bytes(*header);
    if usize::try_from(len).ok() != Some(total - 4) || alignment.check(len).is_err() {
        return Err(bad());
    }
    Ok(len)
}

/// Checks that `packet` has the size step 1 announced, and returns `4 + packet_length`.
pub(crate) fn check_openable(packet: &[u8], pending: Option<u32>, trailer: usize) -> Result<usize> {
    let len = pending.ok_or(Error::OpenOutOfOrder)?;
    let body = usize::try_from(len)
        .ok()
        .and_then(|l| l.checked_add(4))
        .ok_or(Error::OpenOutOfOrder)?;
    if body.checked_add(trailer) != Some(packet.len()) || body < 6 {
        return Err(Error::OpenOutOfOrder);
    }
    Ok(body)
}

/// After decryption: checks `padding_length` and returns the payload range of a plaintext
/// packet of `body` bytes (`4 + packet_length`).
pub(crate) fn payload_range(packet: &[u8], body: usize) -> Result<Range<usize>> {
    let padding = *packet.get(4).ok_or(Error::OpenOutOfOrder)?;
    let len = u32::try_from(body - 4).map_err(|_| Error::OpenOutOfOrder)?;
    check_padding(padding, len)?;
    Ok(5..body - usize::from(padding))
}
