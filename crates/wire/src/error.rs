//! Errors of the wire layer, each naming the rule that was broken and the
//! `SSH_MSG_DISCONNECT` reason it maps to ([`Error::disconnect_reason`]).

use crate::msg::DisconnectReason;

/// A rule of the SSH wire format that input broke, or that a value to encode would break.
///
/// Every variant maps to one disconnect reason (RFC 4253 §11.1); the mapping lives in
/// [`Error::disconnect_reason`] and nowhere else.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ----- RFC 4251 §5 data types and message bodies -----
    /// The input ended before a field was complete.
    #[error("{what}: input ends early")]
    Truncated {
        /// The field or message being read.
        what: &'static str,
    },
    /// A message had bytes left after its last field.
    #[error("{what}: {extra} unexpected trailing byte(s)")]
    TrailingData {
        /// The message being read.
        what: &'static str,
        /// How many bytes were left.
        extra: usize,
    },
    /// A name-list broke RFC 4251 §5 / RFC 4250 §4.6.1.
    #[error("{what}: invalid name-list: {rule}")]
    InvalidNameList {
        /// The field being read.
        what: &'static str,
        /// Which rule the list broke.
        rule: NameRule,
    },
    /// An mpint was not in its minimal two's-complement form (RFC 4251 §5).
    #[error("{what}: mpint is not minimally encoded")]
    NonCanonicalMpint {
        /// The field being read.
        what: &'static str,
    },
    /// A count field promised more elements than the remaining input can hold.
    #[error("{what}: count {count} exceeds what the remaining input can hold")]
    CountTooLarge {
        /// The field being read.
        what: &'static str,
        /// The count the peer sent.
        count: u32,
    },
    /// A message payload was empty: it has no message number.
    #[error("empty message payload")]
    EmptyPayload,
    /// Message number 0 is never valid (RFC 4250 §4.1; OpenSSH "Invalid ssh2 packet type").
    #[error("message number 0 is reserved")]
    ReservedMessageNumber,
    /// A message was decoded as a type whose number it does not carry.
    #[error("expected message {expected}, found {found}")]
    UnexpectedMessage {
        /// The number the decoder expected.
        expected: u8,
        /// The number found in the payload.
        found: u8,
    },
    /// KEXINIT's reserved field was not zero (RFC 4253 §7.1).
    #[error("KEXINIT reserved field is {0:#x}, must be 0")]
    KexInitReserved(u32),
    /// A value is too large to encode (a string over 2^32-1 bytes).
    #[error("value of {len} bytes is too large to encode")]
    EncodingTooLarge {
        /// The encoded length that was asked for.
        len: usize,
    },

    // ----- RFC 4253 §6 binary packet framing -----
    /// `packet_length` exceeds the configured maximum (checked before buffering).
    #[error("packet length {len} exceeds the maximum {max}")]
    PacketTooLarge {
        /// The length the peer sent.
        len: u32,
        /// The configured maximum.
        max: u32,
    },
    /// `packet_length` is too small to hold a padding length, a payload and 4 bytes of padding.
    #[error("packet length {len} is too small")]
    PacketTooSmall {
        /// The length the peer sent.
        len: u32,
    },
    /// `4 + packet_length` (or `packet_length` where the length is not encrypted) is not a
    /// multiple of the block size.
    #[error("packet length {len} is not a multiple of the block size {block}")]
    PacketMisaligned {
        /// The length the peer sent.
        len: u32,
        /// The block size in force.
        block: usize,
    },
    /// `padding_length` is below 4 or leaves no room for the message number.
    #[error("invalid padding length {padding} for packet length {len}")]
    BadPadding {
        /// The padding length the peer sent.
        padding: u8,
        /// The packet length it came with.
        len: u32,
    },

    // ----- RFC 4253 §4.2 version exchange -----
    /// The identification line is longer than 255 bytes including CR LF.
    #[error("identification line longer than {max} bytes")]
    VersionLineTooLong {
        /// The limit in force.
        max: usize,
    },
    /// A line before the identification line is longer than the limit.
    #[error("pre-identification line longer than {max} bytes")]
    PreambleLineTooLong {
        /// The limit in force.
        max: usize,
    },
    /// The peer sent more lines before its identification line than allowed.
    #[error("more than {max} lines before the identification line")]
    TooManyPreambleLines {
        /// The limit in force.
        max: usize,
    },
    /// The peer sent more bytes before its identification line than allowed.
    #[error("more than {max} bytes before the identification line")]
    PreambleTooLarge {
        /// The limit in force.
        max: usize,
    },
    /// A client sent a line that does not start with `SSH-` (RFC 4253 §4.2: only servers may).
    #[error("client sent a line that is not an identification line")]
    UnexpectedPreamble,
    /// The identification exchange contained a NUL byte.
    #[error("NUL byte in identification exchange")]
    NulInVersion,
    /// A carriage return not followed by a line feed.
    #[error("carriage return not followed by line feed in identification line")]
    StrayCarriageReturn,
    /// The identification line does not have the `SSH-protoversion-softwareversion` form.
    #[error("malformed identification line")]
    MalformedVersion,
    /// The peer speaks a protocol version other than 2.0 (or 1.99).
    #[error("unsupported protocol version")]
    UnsupportedProtocolVersion,
}

/// The rule of RFC 4251 §5 / RFC 4250 §4.6.1 a name-list broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameRule {
    /// Two commas in a row, or a comma at either end.
    #[error("empty name")]
    Empty,
    /// A name longer than 64 characters.
    #[error("name longer than 64 characters")]
    TooLong,
    /// A character outside printable US-ASCII (or a space).
    #[error("name contains a character outside printable US-ASCII")]
    NotPrintable,
}

impl Error {
    /// The `SSH_MSG_DISCONNECT` reason this error is reported with (RFC 4253 §11.1).
    #[must_use]
    pub fn disconnect_reason(&self) -> DisconnectReason {
        match self {
            Self::UnsupportedProtocolVersion => DisconnectReason::PROTOCOL_VERSION_NOT_SUPPORTED,
            Self::Truncated { .. }
            | Self::TrailingData { .. }
            | Self::InvalidNameList { .. }
            | Self::NonCanonicalMpint { .. }
            | Self::CountTooLarge { .. }
            | Self::EmptyPayload
            | Self::ReservedMessageNumber
            | Self::UnexpectedMessage { .. }
            | Self::KexInitReserved(_)
            | Self::EncodingTooLarge { .. }
            | Self::PacketTooLarge { .. }
            | Self::PacketTooSmall { .. }
            | Self::PacketMisaligned { .. }
            | Self::BadPadding { .. }
            | Self::VersionLineTooLong { .. }
            | Self::PreambleLineTooLong { .. }
            | Self::TooManyPreambleLines { .. }
            | Self::PreambleTooLarge { .. }
            | Self::UnexpectedPreamble
            | Self::NulInVersion
            | Self::StrayCarriageReturn
            | Self::MalformedVersion => DisconnectReason::PROTOCOL_ERROR,
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
