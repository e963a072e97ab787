//! Errors of a connection.

use alloc::string::String;

use whelk_wire::msg::DisconnectReason;

/// What went wrong. Connection-fatal errors latch: every later call returns the first one,
/// and `SSH_MSG_DISCONNECT` with [`Error::disconnect_reason`] was queued for the peer.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The transport failed (or the peer disconnected).
    #[error("transport: {0}")]
    Transport(#[from] whelk_transport::Error),
    /// Authentication failed.
    #[error("authentication: {0}")]
    Auth(#[from] whelk_auth::Error),
    /// The connection protocol failed (fatal), or a channel command was refused (not fatal:
    /// see [`whelk_channel::Error::is_fatal`]).
    #[error("channel: {0}")]
    Channel(#[from] whelk_channel::Error),
    /// The peer sent a message that is not allowed in the current phase (e.g. a connection
    /// protocol message before authentication succeeded).
    #[error("protocol: {0}")]
    Protocol(String),
    /// The configuration is unusable (e.g. an algorithm list names nothing we support).
    #[error("configuration: {0}")]
    Config(String),
    /// A command that is not valid in this state or role (not fatal).
    #[error("usage: {0}")]
    Usage(String),
}

impl Error {
    /// The disconnect reason this error is sent with when it is fatal.
    #[must_use]
    pub fn disconnect_reason(&self) -> DisconnectReason {
        match self {
            Self::Transport(e) => DisconnectReason::from(e),
            Self::Auth(e) => DisconnectReason::from(e),
            Self::Channel(e) => e
                .disconnect_reason()
                .unwrap_or(DisconnectReason::PROTOCOL_ERROR),
            Self::Protocol(_) => DisconnectReason::PROTOCOL_ERROR,
            Self::Config(_) | Self::Usage(_) => DisconnectReason::BY_APPLICATION,
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;
