//! Errors, and the one mapping from an error to its disconnect reason.

use alloc::string::String;

use whelk_wire::msg::DisconnectReason;

/// An authentication error. Every variant except [`Error::StaleToken`] is fatal: it latches,
/// the state machine queues `SSH_MSG_DISCONNECT` with `DisconnectReason::from(&error)`, and
/// later calls return it again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A message that has no place in the current state (PROTOCOL_ERROR).
    #[error("unexpected message {number} during authentication")]
    UnexpectedMessage {
        /// The message number.
        number: u8,
    },
    /// A connection-protocol message (80 and up) before authentication succeeded (catalog
    /// A02, Erlang/OTP CVE-2025-32433).
    #[error("connection-protocol message {number} before authentication")]
    ConnectionMessageBeforeAuth {
        /// The message number.
        number: u8,
    },
    /// The client sent `SSH_MSG_USERAUTH_SUCCESS` (catalog A01, libssh CVE-2018-10933).
    #[error("the client sent USERAUTH_SUCCESS")]
    ClientSentSuccess,
    /// The server said `SSH_MSG_USERAUTH_SUCCESS` or `PK_OK` without a matching request
    /// (catalog M03).
    #[error("unsolicited {0} from the server")]
    Unsolicited(&'static str),
    /// The requested service is not offered.
    #[error("service {0:?} not available")]
    ServiceNotAvailable(String),
    /// Keyboard-interactive: the number of responses differs from the number of prompts.
    #[error("{got} keyboard-interactive responses for {expected} prompts")]
    WrongResponseCount {
        /// Prompts sent.
        expected: usize,
        /// Responses received.
        got: usize,
    },
    /// Too many failed attempts (`MaxAuthTries`), or too many requests of any kind.
    #[error("too many authentication failures")]
    TooManyAttempts,
    /// The login grace time ran out before authentication completed.
    #[error("login grace time exceeded")]
    LoginGraceTimeout,
    /// Client: every configured method was tried (or the server offers none of them).
    #[error("no more authentication methods to try (server offers: {server_methods})")]
    NoMoreMethods {
        /// What the server last said could continue.
        server_methods: String,
    },
    /// Client: the server let us in without any real authentication while `require_auth`
    /// is set (catalog M04).
    #[error("the server accepted us without authentication (require_auth is set)")]
    TrivialAuth,
    /// Client: the application cancelled authentication.
    #[error("authentication cancelled")]
    Cancelled,
    /// Client: an answer that does not fit the request (wrong number of responses).
    #[error("answer does not fit the request: {0}")]
    BadAnswer(&'static str),
    /// Not fatal: a decision token that is not (or no longer) the one being waited for (the
    /// client abandoned that request, or a user change reset the state).
    #[error("stale decision token")]
    StaleToken,
}

impl Error {
    /// Whether the error ends the connection (everything but [`Error::StaleToken`]).
    #[must_use]
    pub fn is_fatal(&self) -> bool {
        !matches!(self, Self::StaleToken)
    }
}

impl From<&Error> for DisconnectReason {
    fn from(e: &Error) -> Self {
        match e {
            Error::UnexpectedMessage { .. }
            | Error::ConnectionMessageBeforeAuth { .. }
            | Error::ClientSentSuccess
            | Error::Unsolicited(_)
            | Error::WrongResponseCount { .. }
            | Error::StaleToken => Self::PROTOCOL_ERROR,
            Error::ServiceNotAvailable(_) => Self::SERVICE_NOT_AVAILABLE,
            Error::TooManyAttempts | Error::NoMoreMethods { .. } => {
                Self::NO_MORE_AUTH_METHODS_AVAILABLE
            }
            Error::LoginGraceTimeout | Error::TrivialAuth | Error::BadAnswer(_) => {
                Self::BY_APPLICATION
            }
            Error::Cancelled => Self::AUTH_CANCELLED_BY_USER,
        }
    }
}

/// Result with [`Error`].
pub type Result<T> = core::result::Result<T, Error>;
