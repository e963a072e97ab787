//! [`Deframer`]: the inbound side of the transport after NEWKEYS, driving a
//! [`PacketOpener`]'s two steps over the caller's receive buffer.

use alloc::boxed::Box;

use bytes::{Buf, BytesMut};
use whelk_wire::frame::{Packet, PacketLimits, check_packet_length};

use crate::error::{Error, Result};
use crate::packet::PacketOpener;

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    /// Waiting for the first bytes of a packet.
    Length,
    /// `packet_length` known and checked; waiting for the whole packet.
    Body { len: u32 },
    /// CBC encrypt-and-MAC failure being hidden (catalog P07): `remaining` more bytes are
    /// swallowed, then [`Error::Mac`] is reported.
    Discard { remaining: usize },
    /// A fatal error was reported; it is reported again on every later call.
    Failed(Error),
}

/// Splits a stream of protected packets.
///
/// Call [`Deframer::next_packet`] whenever bytes have been appended to the receive buffer,
/// with the sequence number of the next inbound packet (the caller counts packets, because
/// the key exchange decides when counting restarts). The deframer
///
/// - reads `packet_length` as soon as [`PacketOpener::length_bytes`] bytes are there, and
///   checks it against [`PacketLimits`] and the cipher's alignment *before* anything else is
///   buffered ([`Deframer::bytes_needed`] never asks for more than the limit allows);
/// - once the whole packet and its MAC or tag are there, verifies and decrypts in place,
///   checks the padding, and returns the payload as a [`bytes::Bytes`] view of the buffer
///   (no copy);
/// - latches the first error: later calls return it again.
///
/// **CBC with an encrypt-and-MAC MAC** (legacy, off by default): the length comes from a
/// decrypted but not yet authenticated block, which made OpenSSH before 5.2 a length oracle
/// (CVE-2008-5161, catalog P07). As OpenSSH does since then, a bad length or a MAC failure
/// does not end the connection at once: the deframer swallows input until the packet limit's
/// worth of bytes have arrived (counted from the start of the bad packet), and only then
/// reports [`Error::Mac`]. So the number of bytes a peer can send before the error does not
/// depend on what the first block decrypted to. The error class is always `Mac` there.
pub struct Deframer {
    opener: Box<dyn PacketOpener>,
    limits: PacketLimits,
    state: State,
}

impl core::fmt::Debug for Deframer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Deframer")
            .field("cipher", &self.opener.name())
            .field("mac", &self.opener.mac_name())
            .field("limits", &self.limits)
            .field("state", &self.state)
            .finish()
    }
}

impl Deframer {
    /// A deframer opening packets with `opener`, enforcing `limits`.
    #[must_use]
    pub fn new(opener: Box<dyn PacketOpener>, limits: PacketLimits) -> Self {
        Self {
            opener,
            limits,
            state: State::Length,
        }
    }

    /// The opener in use.
    #[must_use]
    pub fn opener(&self) -> &dyn PacketOpener {
        self.opener.as_ref()
    }

    /// The limits in force.
    #[must_use]
    pub fn limits(&self) -> PacketLimits {
        self.limits
    }

    /// How many more bytes `buf` must hold before [`Deframer::next_packet`] can make progress
    /// (0 if it can now, or if the deframer has failed). Never more than the packet limit
    /// plus the MAC or tag.
    #[must_use]
    pub fn bytes_needed(&self, buf: &[u8]) -> usize {
        let have = buf.len();
        match &self.state {
            State::Length => self.opener.length_bytes().saturating_sub(have),
            State::Body { len } => self.total(*len).saturating_sub(have),
            State::Discard { remaining } => remaining.saturating_sub(have),
            State::Failed(_) => 0,
        }
    }

    fn total(&self, len: u32) -> usize {
        // len <= the limit (checked), so this cannot overflow.
        4usize
            .saturating_add(usize::try_from(len).unwrap_or(usize::MAX))
            .saturating_add(self.opener.trailer_len())
    }

    /// Takes the next complete packet off the front of `buf`, or returns `None` when more
    /// bytes are needed. `seq` is the sequence number of that packet; pass the same value
    /// until a packet comes out.
    pub fn next_packet(&mut self, seq: u32, buf: &mut BytesMut) -> Result<Option<Packet>> {
        match self.step(seq, buf) {
            Ok(p) => Ok(p),
            Err(e) => {
                if self.opener.discard_on_error() && !matches!(self.state, State::Failed(_)) {
                    // Swallow what is here and as much more as makes the packet limit.
                    let target = usize::try_from(self.limits.max_packet_len())
                        .unwrap_or(usize::MAX)
                        .saturating_add(4);
                    let remaining = target.saturating_sub(buf.len());
                    buf.clear();
                    self.state = State::Discard { remaining };
                    self.discard(buf)
                } else {
                    self.state = State::Failed(e.clone());
                    Err(e)
                }
            }
        }
    }

    fn discard(&mut self, buf: &mut BytesMut) -> Result<Option<Packet>> {
        let State::Discard { remaining } = &mut self.state else {
            return Ok(None);
        };
        let n = (*remaining).min(buf.len());
        buf.advance(n);
        *remaining -= n;
        if *remaining == 0 {
            self.state = State::Failed(Error::Mac);
            return Err(Error::Mac);
        }
        Ok(None)
    }

    fn step(&mut self, seq: u32, buf: &mut BytesMut) -> Result<Option<Packet>> {
        let len = match &self.state {
            State::Failed(e) => return Err(e.clone()),
            State::Discard { .. } => return self.discard(buf),
            State::Body { len } => *len,
            State::Length => {
                let Some(first) = buf.get(..self.opener.length_bytes()) else {
                    return Ok(None);
                };
                let len = self.opener.open_length(seq, first)?;
                check_packet_length(len, self.limits)?;
                self.opener.alignment().check(len)?;
                self.state = State::Body { len };
                len
            }
        };
        let total = self.total(len);
        let Some(packet) = buf.get_mut(..total) else {
            return Ok(None);
        };
        let payload = self.opener.open(seq, packet)?;
        let padding_len = *packet.get(4).ok_or(Error::OpenOutOfOrder)?;
        self.state = State::Length;
        let packet = buf.split_to(total).freeze();
        Ok(Some(Packet {
            payload: packet.slice(payload),
            padding_len,
        }))
    }
}
