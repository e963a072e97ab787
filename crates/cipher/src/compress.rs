//! `zlib` and `zlib@openssh.com` compression (RFC 4253 §6.2): one zlib stream per direction,
//! carried from packet to packet (RFC 4253 §6.2 has it initialised after each key exchange:
//! the transport makes new ones with the new keys), with a flush at the end of each packet's
//! payload, so each
//! packet can be inflated as soon as it arrives while the dictionary carries over between
//! packets. We end packets with a sync flush (miniz_oxide treats zlib's partial flush as a sync
//! flush); OpenSSH ends them with `Z_PARTIAL_FLUSH`, which leaves the stream between two
//! packets not byte-aligned. The inflater keeps its bit position across calls, so it reads
//! either (`tests/compress.rs` replays a stream produced by C zlib with `Z_PARTIAL_FLUSH`).
//!
//! Inflation writes into the caller's buffer and stops with
//! [`Error::DecompressedTooLarge`] as soon as the output would pass the limit, so a
//! compression bomb costs at most the limit in memory (catalog R03). The total per
//! connection is not capped (nor is it by OpenSSH): what the inflated payloads become is
//! bounded further up (channel windows).

use alloc::boxed::Box;

use bytes::BytesMut;
use miniz_oxide::deflate::core::CompressorOxide;
use miniz_oxide::inflate::stream::InflateState;
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};

use crate::error::{Error, Result};

/// Default cap on an inflated payload: 256 KiB, the packet limit (catalog R03; russh
/// CVE-2026-46702).
pub const DEFAULT_MAX_INFLATED: usize = 256 * 1024;

/// zlib compression level used (OpenSSH uses 6, zlib's default).
pub const LEVEL: u8 = 6;

/// The zlib stream of one outbound direction.
pub struct Compressor {
    state: Box<CompressorOxide>,
}

impl core::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Compressor").finish_non_exhaustive()
    }
}

impl Default for Compressor {
    fn default() -> Self {
        Self::new()
    }
}

impl Compressor {
    /// A fresh zlib stream (with its 2-byte zlib header, as RFC 4253 §6.2 requires).
    #[must_use]
    pub fn new() -> Self {
        let mut state = Box::<CompressorOxide>::default();
        state.set_format_and_level(DataFormat::Zlib, LEVEL);
        Self { state }
    }

    /// Compresses `payload` and appends the result, ending on a sync flush, to `out`. Call
    /// it between [`whelk_wire::frame::start_packet`] and
    /// [`whelk_wire::frame::finish_packet`] to compress straight into the packet.
    pub fn compress(&mut self, payload: &[u8], out: &mut BytesMut) -> Result<()> {
        let mut input = payload;
        loop {
            // Stored blocks bound deflate's expansion: 5 bytes per 64 KiB, plus the flush
            // marker and header; the loop copes if it is ever exceeded.
            let room = input.len() + input.len() / 64 + 64;
            let start = out.len();
            out.resize(start + room, 0);
            let res = miniz_oxide::deflate::stream::deflate(
                &mut self.state,
                input,
                out.get_mut(start..).unwrap_or_default(),
                MZFlush::Sync,
            );
            out.truncate(start + res.bytes_written);
            match res.status {
                Ok(MZStatus::Ok) => {}
                Ok(_) | Err(_) => return Err(Error::CompressorFailed),
            }
            input = input.get(res.bytes_consumed..).unwrap_or_default();
            // Done when all input is consumed and the flush fit in the space given.
            if input.is_empty() && res.bytes_written < room {
                return Ok(());
            }
        }
    }
}

/// The zlib stream of one inbound direction.
pub struct Decompressor {
    state: Box<InflateState>,
    max: usize,
}

impl core::fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Decompressor")
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl Decompressor {
    /// A fresh zlib stream whose packets may inflate to at most `max_payload` bytes each.
    #[must_use]
    pub fn new(max_payload: usize) -> Self {
        Self {
            state: InflateState::new_boxed(DataFormat::Zlib),
            max: max_payload,
        }
    }

    /// The per-packet limit.
    #[must_use]
    pub fn max_payload(&self) -> usize {
        self.max
    }

    /// Inflates one packet's `compressed` payload and appends it to `out`. Fails with
    /// [`Error::DecompressedTooLarge`] once the output would exceed the limit (having
    /// appended at most the limit plus a small chunk), or [`Error::CorruptCompressedData`].
    /// After an error the stream is unusable: the connection must end.
    pub fn decompress(&mut self, compressed: &[u8], out: &mut BytesMut) -> Result<()> {
        const CHUNK: usize = 16 * 1024;
        let mut input = compressed;
        let mut produced = 0usize;
        loop {
            // Never give the inflater more room than the limit (+1 to detect the overrun).
            let room = CHUNK
                .max(input.len().saturating_mul(4))
                .min(self.max.saturating_sub(produced).saturating_add(1));
            let start = out.len();
            out.resize(start + room, 0);
            let res = miniz_oxide::inflate::stream::inflate(
                &mut self.state,
                input,
                out.get_mut(start..).unwrap_or_default(),
                MZFlush::Sync,
            );
            out.truncate(start + res.bytes_written);
            produced = produced.saturating_add(res.bytes_written);
            if produced > self.max {
                return Err(Error::DecompressedTooLarge { max: self.max });
            }
            input = input.get(res.bytes_consumed..).unwrap_or_default();
            match res.status {
                Ok(MZStatus::Ok | MZStatus::StreamEnd) => {}
                // No progress possible: fine once every input byte is in.
                Err(MZError::Buf) if input.is_empty() => return Ok(()),
                Ok(MZStatus::NeedDict) | Err(_) => return Err(Error::CorruptCompressedData),
            }
            let full = res.bytes_written == room;
            if input.is_empty() && !full {
                return Ok(());
            }
            if res.bytes_consumed == 0 && res.bytes_written == 0 {
                return Err(Error::CorruptCompressedData);
            }
        }
    }
}
