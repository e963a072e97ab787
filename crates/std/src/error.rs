//! Errors of the blocking driver.

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A socket (or file) error.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The SSH connection failed: the first fatal protocol error (authentication failures
    /// included: [`whelk::Error::Auth`]).
    #[error("{0}")]
    Ssh(#[from] whelk::Error),
    /// The connection ended (the peer disconnected or the socket closed).
    #[error("connection closed: {0}")]
    Closed(String),
    /// The peer refused a channel or a request.
    #[error("refused: {0}")]
    Refused(String),
    /// The server's host key was not trusted.
    #[error("host key not trusted: {0}")]
    HostKey(String),
    /// The operation did not finish in time.
    #[error("timed out")]
    Timeout,
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
