//! Errors of the key exchange.

use alloc::string::String;

use whelk_wire::msg::DisconnectReason;

/// The algorithm category a negotiation failed in (RFC 4253 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// `kex_algorithms`.
    Kex,
    /// `server_host_key_algorithms`.
    HostKey,
    /// `encryption_algorithms_client_to_server`.
    CipherClientToServer,
    /// `encryption_algorithms_server_to_client`.
    CipherServerToClient,
    /// `mac_algorithms_client_to_server`.
    MacClientToServer,
    /// `mac_algorithms_server_to_client`.
    MacServerToClient,
    /// `compression_algorithms_client_to_server`.
    CompressionClientToServer,
    /// `compression_algorithms_server_to_client`.
    CompressionServerToClient,
}

impl Category {
    /// The KEXINIT field name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Kex => "kex_algorithms",
            Self::HostKey => "server_host_key_algorithms",
            Self::CipherClientToServer => "encryption_algorithms_client_to_server",
            Self::CipherServerToClient => "encryption_algorithms_server_to_client",
            Self::MacClientToServer => "mac_algorithms_client_to_server",
            Self::MacServerToClient => "mac_algorithms_server_to_client",
            Self::CompressionClientToServer => "compression_algorithms_client_to_server",
            Self::CompressionServerToClient => "compression_algorithms_server_to_client",
        }
    }
}

impl core::fmt::Display for Category {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything that can go wrong in a key exchange.
///
/// Every variant caused by the peer maps to `SSH_DISCONNECT_KEY_EXCHANGE_FAILED` except a
/// message that has no place in the exchange (`SSH_DISCONNECT_PROTOCOL_ERROR`); see
/// [`Error::disconnect_reason`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The two KEXINIT lists of a category have no algorithm in common.
    #[error("no matching algorithm in {0}")]
    NoCommonAlgorithm(Category),
    /// A key exchange method name this crate does not implement.
    #[error("unsupported key exchange method {0:?}")]
    UnsupportedMethod(String),
    /// The peer's public value (or the shared secret it leads to) is invalid.
    #[error("invalid {what} in {method}: {why}")]
    InvalidPeerValue {
        /// The key exchange method.
        method: &'static str,
        /// Which value.
        what: &'static str,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A message that does not belong at this point of the exchange.
    #[error("unexpected message {found} during key exchange (expected {expected})")]
    UnexpectedMessage {
        /// What the state machine waited for.
        expected: &'static str,
        /// The message number that arrived.
        found: u8,
    },
    /// A group exchange request or group outside the allowed limits.
    #[error("group exchange: {0}")]
    GroupExchange(&'static str),
    /// The server's host key blob could not be parsed or does not fit the negotiated host
    /// key algorithm.
    #[error("server host key: {0}")]
    HostKey(whelk_keys::Error),
    /// The negotiated host key algorithm is not one whelk can verify.
    #[error("unsupported host key algorithm {0:?}")]
    UnsupportedHostKeyAlgorithm(String),
    /// The signature over the exchange hash did not verify (catalog K14, M02).
    #[error("host key signature over the exchange hash: {0}")]
    BadSignature(whelk_keys::Error),
    /// The local host key signer failed.
    #[error("signing the exchange hash failed: {0}")]
    Signing(String),
    /// A line of an OpenSSH `moduli` file is malformed.
    #[error("moduli line {line}: {why}")]
    Moduli {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        why: &'static str,
    },
    /// The state machine was used out of order (a local programming error).
    #[error("key exchange used out of order: {0}")]
    State(&'static str),
    /// Key derivation was asked for more key material than it can produce.
    #[error("key derivation: {0}")]
    Derive(&'static str),
}

impl Error {
    /// The disconnect reason the transport sends for this error.
    #[must_use]
    pub fn disconnect_reason(&self) -> DisconnectReason {
        match self {
            Self::UnexpectedMessage { .. } => DisconnectReason::PROTOCOL_ERROR,
            _ => DisconnectReason::KEY_EXCHANGE_FAILED,
        }
    }

    pub(crate) const fn peer(method: &'static str, what: &'static str, why: &'static str) -> Self {
        Self::InvalidPeerValue { method, what, why }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;
