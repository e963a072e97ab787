//! Errors of the SFTP layer.

use crate::codec::StatusCode;

/// A rule of the SFTP protocol that input broke, or a misuse of a state machine.
///
/// Errors that concern a single request are answered with a `STATUS` reply and never reach
/// the caller as an [`Error`]; what reaches it is fatal for the session (the adapter closes the
/// channel), except the `Api*` variants, which only refuse the call that caused them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A field of a packet body broke the SSH data-type rules (truncated, trailing bytes,
    /// counts larger than the packet).
    #[error("malformed SFTP packet: {0}")]
    Wire(#[from] whelk_wire::Error),
    /// The declared length of a packet exceeds the limit (checked before buffering).
    #[error("SFTP packet length {len} exceeds the maximum {max}")]
    PacketTooLarge {
        /// The length the peer sent.
        len: u32,
        /// The configured maximum.
        max: u32,
    },
    /// A packet of length 0: it has no type byte.
    #[error("empty SFTP packet")]
    EmptyPacket,
    /// A packet type this side does not accept (a reply sent to a server, a request sent to
    /// a client, or an unassigned number where no id can be read).
    #[error("unexpected SFTP packet type {0}")]
    UnexpectedPacket(u8),
    /// A handle string longer than 256 bytes (SFTP draft §6.2; Erlang CVE-2025-48038).
    #[error("handle of {0} bytes exceeds 256 bytes")]
    HandleTooLong(usize),
    /// ATTRS flags with bits this version does not define.
    #[error("ATTRS flags {0:#010x} contain undefined bits")]
    BadAttrFlags(u32),
    /// A packet arrived before INIT (server) or VERSION (client).
    #[error("SFTP packet type {0} before version negotiation")]
    NotNegotiated(u8),
    /// A second INIT or VERSION.
    #[error("second SFTP version negotiation packet")]
    DuplicateVersion,
    /// The peer's version is one this implementation does not speak.
    #[error("unsupported SFTP version {0}")]
    UnsupportedVersion(u32),
    /// A reply whose id matches no outstanding request.
    #[error("SFTP reply for unknown request id {0}")]
    UnknownId(u32),
    /// A request id that is already outstanding.
    #[error("SFTP request id {0} is already outstanding")]
    DuplicateId(u32),
    /// A reply of a kind the request cannot have (DATA for a STAT, ...).
    #[error("SFTP reply type {got} to request {id} that expects {expected}")]
    WrongReply {
        /// The request id.
        id: u32,
        /// What the request allows.
        expected: &'static str,
        /// The packet type that came.
        got: u8,
    },
    /// The session has ended (a fatal error was reported earlier, or the state machine was
    /// closed).
    #[error("SFTP session is closed")]
    Closed,
    /// The application answered a request id that is not outstanding.
    #[error("no outstanding request with id {0}")]
    ApiUnknownId(u32),
    /// The application answered a request with a reply of the wrong kind.
    #[error("reply kind {got} is not valid for request {id} (expects {expected})")]
    ApiWrongReply {
        /// The request id.
        id: u32,
        /// What the request allows.
        expected: &'static str,
        /// The packet type given.
        got: u8,
    },
    /// The application tried to send a value that cannot be encoded (a handle over 256
    /// bytes, a packet over the peer's limit).
    #[error("request cannot be encoded: {0}")]
    ApiInvalid(&'static str),
}

impl Error {
    /// The SFTP status a server reports for a request that failed to decode with this error.
    #[must_use]
    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::UnsupportedVersion(_) => StatusCode::OP_UNSUPPORTED,
            Self::Closed => StatusCode::CONNECTION_LOST,
            _ => StatusCode::BAD_MESSAGE,
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;
