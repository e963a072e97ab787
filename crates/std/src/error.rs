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
    /// The SFTP server answered a request with a failure status.
    #[error("SFTP: {code:?}: {message}")]
    SftpStatus {
        /// The status code (`NO_SUCH_FILE`, `PERMISSION_DENIED`, ...).
        code: whelk_sftp::codec::StatusCode,
        /// The server's message.
        message: String,
    },
    /// The SFTP session failed (a protocol error).
    #[error("SFTP: {0}")]
    Sftp(#[from] whelk_sftp::Error),
    /// The operation did not finish in time.
    #[error("timed out")]
    Timeout,
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
