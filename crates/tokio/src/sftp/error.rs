//! Errors of the SFTP client and server adapters.

use whelk_sftp::codec::{Status, StatusCode};

/// What went wrong in an SFTP operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with a `STATUS` other than `OK` (draft-02 §7).
    #[error("{path}: {status}")]
    Status {
        /// The path (or description) the request concerned.
        path: String,
        /// The status the server sent.
        status: Status,
    },
    /// The SFTP session broke a protocol rule (fatal for the session).
    #[error("SFTP protocol: {0}")]
    Protocol(#[from] whelk_sftp::Error),
    /// Local I/O failed (or the channel broke).
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The SSH layer failed (opening the channel, starting the subsystem).
    #[error("{0}")]
    Ssh(#[from] crate::Error),
    /// The session ended.
    #[error("SFTP session closed: {0}")]
    Closed(String),
    /// A request the operation cannot make sense of (a directory where a file was expected,
    /// a glob without matches, an unsafe name in a listing, ...).
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// The SFTP status code, when the server answered with one.
    #[must_use]
    pub fn status_code(&self) -> Option<StatusCode> {
        match self {
            Self::Status { status, .. } => Some(status.code),
            _ => None,
        }
    }

    /// Whether the server said the path does not exist.
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        self.status_code() == Some(StatusCode::NO_SUCH_FILE)
    }

    pub(crate) fn status(path: &str, status: Status) -> Self {
        Self::Status {
            path: path.to_string(),
            status,
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
