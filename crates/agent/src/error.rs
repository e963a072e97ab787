//! Errors of the agent protocol.

/// What went wrong with an agent message, key or connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A frame declared a length over [`crate::MAX_MESSAGE_LEN`] (checked before buffering).
    #[error("agent message of {len} bytes exceeds the {max}-byte limit")]
    MessageTooLarge {
        /// The declared length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A frame of length zero (no message number).
    #[error("empty agent message")]
    EmptyMessage,
    /// A message body broke the wire format.
    #[error(transparent)]
    Wire(#[from] whelk_wire::Error),
    /// A key or certificate in a message was invalid.
    #[error("key: {0}")]
    Key(#[from] whelk_keys::Error),
    /// A private key of a type the agent cannot hold (security keys, DSA, unknown types).
    #[error("unsupported key type {0:?}")]
    UnsupportedKeyType(String),
    /// A key constraint the agent does not implement.
    #[error("unsupported key constraint {0}")]
    UnsupportedConstraint(String),
    /// An identities answer listed more than [`crate::MAX_IDENTITIES`] keys.
    #[error("identities answer lists {0} keys (limit 2048)")]
    TooManyIdentities(u32),
    /// A reply was not one the request allows.
    #[error("unexpected agent reply (message {0})")]
    UnexpectedResponse(u8),
    /// The agent answered `SSH_AGENT_FAILURE` (or `SSH_AGENT_EXTENSION_FAILURE`).
    #[error("the agent refused the request")]
    Refused,
    /// The peer closed the connection (in the middle of a message, or before a reply).
    #[error("agent connection closed")]
    Closed,
    /// The operating system's random source failed.
    #[error("random source failed")]
    Random,
    /// The connection is unusable after an earlier error.
    #[error("agent connection failed earlier")]
    Poisoned,
    /// An I/O error on the UNIX socket.
    #[error("agent socket: {0}")]
    Io(#[from] std::io::Error),
    /// `SSH_AUTH_SOCK` is not set.
    #[error("SSH_AUTH_SOCK is not set")]
    NoAuthSock,
}

/// Result with [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;
