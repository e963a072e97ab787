//! Errors of packet protection and compression, each with the `SSH_MSG_DISCONNECT` reason it
//! is reported with ([`Error::disconnect_reason`]).

use alloc::string::String;

use whelk_wire::msg::DisconnectReason;

/// What went wrong while sealing, opening, compressing or decompressing a packet, or while
/// setting up an algorithm.
///
/// Errors caused by the peer are [`Error::Mac`] (any failed integrity check: the tag, the MAC,
/// or a CBC packet whose length or padding could not be trusted), [`Error::Wire`] (a framing
/// rule broken: length over the limit, misaligned, bad padding) and the compression errors.
/// The others are local mistakes (wrong key length, unknown name, a packet range that did not
/// come from `finish_packet`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A tag or MAC did not verify. Deliberately carries no detail: which check failed, and
    /// where, is exactly what an attacker would like to learn.
    #[error("message authentication failed")]
    Mac,
    /// A framing rule of RFC 4253 §6 was broken (packet length, alignment, padding).
    #[error(transparent)]
    Wire(#[from] whelk_wire::Error),
    /// The inflated payload would exceed the limit (a compression bomb, catalog R03).
    #[error("decompressed payload exceeds {max} bytes")]
    DecompressedTooLarge {
        /// The limit in force.
        max: usize,
    },
    /// The compressed stream is corrupt.
    #[error("corrupt compressed data")]
    CorruptCompressedData,
    /// The compressor failed (it cannot on valid input; reported rather than panicking).
    #[error("compressor failed")]
    CompressorFailed,
    /// Key, IV or MAC-key material of the wrong length was supplied.
    #[error("{what}: {got} bytes given, {expected} expected")]
    KeyLength {
        /// Which input was wrong ("cipher key", "cipher IV", "MAC key").
        what: &'static str,
        /// The length supplied.
        got: usize,
        /// The length the algorithm needs.
        expected: usize,
    },
    /// An algorithm name that this crate does not implement.
    #[error("unknown algorithm {0:?}")]
    UnknownAlgorithm(String),
    /// A non-AEAD cipher was set up without a MAC (use the `none` MAC explicitly if that is
    /// really intended).
    #[error("cipher {0} needs a MAC")]
    MacRequired(&'static str),
    /// The packet handed to a sealer is not a whole packet at the end of the buffer, aligned for
    /// the cipher (build it with `start_packet`/`finish_packet` and the sealer's alignment).
    #[error("packet range {start}..{end} is not a sealable packet in a buffer of {buf_len} bytes")]
    BadPacketRange {
        /// Start of the range given.
        start: usize,
        /// End of the range given.
        end: usize,
        /// Length of the buffer.
        buf_len: usize,
    },
    /// `open` was called with a packet whose length does not match what `open_length`
    /// returned (or without calling `open_length` first).
    #[error("open called out of order or with a packet of the wrong size")]
    OpenOutOfOrder,
}

impl Error {
    /// The `SSH_MSG_DISCONNECT` reason this error is reported with (RFC 4253 §11.1).
    #[must_use]
    pub fn disconnect_reason(&self) -> DisconnectReason {
        match self {
            Self::Mac => DisconnectReason::MAC_ERROR,
            Self::Wire(e) => e.disconnect_reason(),
            Self::DecompressedTooLarge { .. }
            | Self::CorruptCompressedData
            | Self::CompressorFailed => DisconnectReason::COMPRESSION_ERROR,
            Self::KeyLength { .. }
            | Self::UnknownAlgorithm(_)
            | Self::MacRequired(_)
            | Self::BadPacketRange { .. }
            | Self::OpenOutOfOrder => DisconnectReason::PROTOCOL_ERROR,
        }
    }
}

impl From<&Error> for DisconnectReason {
    fn from(e: &Error) -> Self {
        e.disconnect_reason()
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;
