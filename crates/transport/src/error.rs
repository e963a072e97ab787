//! Errors: every fatal condition of the transport, and the one place that maps each to the
//! disconnect reason sent to the peer.

use alloc::string::String;

use whelk_wire::msg::DisconnectReason;

/// A fatal transport error. The first one latches: it queues `SSH_MSG_DISCONNECT` with the
/// reason [`DisconnectReason::from`] gives, and every later call returns it again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer's identification line (or what came before it) broke a rule.
    #[error("identification exchange: {0}")]
    Version(whelk_wire::Error),
    /// A message could not be decoded.
    #[error("malformed message: {0}")]
    Wire(whelk_wire::Error),
    /// Packet framing or protection failed (length, padding, MAC, tag).
    #[error("packet: {0}")]
    Cipher(whelk_cipher::Error),
    /// The key exchange failed (no common algorithm, invalid public value, bad signature...).
    #[error("key exchange: {0}")]
    Kex(whelk_kex::Error),
    /// Strict KEX (`kex-strict-*-v00@openssh.com`, the Terrapin countermeasure) was violated.
    #[error("strict KEX violation: {0}")]
    StrictKex(&'static str),
    /// A message arrived where it has no place.
    #[error("unexpected message {number} {when}")]
    UnexpectedMessage {
        /// The message number.
        number: u8,
        /// Where in the protocol it arrived.
        when: &'static str,
    },
    /// The peer starts key re-exchanges faster than [`crate::PeerRekeyLimit`] allows.
    #[error("the peer starts key re-exchanges too often")]
    RekeyStorm,
    /// A second `SSH_MSG_KEXINIT` during one key exchange.
    #[error("SSH_MSG_KEXINIT received twice in one key exchange")]
    KexInitTwice,
    /// `SSH_MSG_NEWKEYS` before the key exchange produced keys.
    #[error("SSH_MSG_NEWKEYS before the key exchange completed")]
    UnexpectedNewKeys,
    /// The application rejected the server's host key.
    #[error("host key rejected")]
    HostKeyRejected,
    /// The server presented a different host key in a re-exchange.
    #[error("host key changed during re-exchange")]
    HostKeyChanged,
    /// The server holds no host key for the negotiated algorithm.
    #[error("no host key for {0}")]
    NoHostKey(String),
    /// The client asked for a service the server does not offer.
    #[error("service {0:?} not available")]
    ServiceNotAvailable(String),
    /// `SSH_MSG_EXT_INFO` where RFC 8308 does not allow it, or a malformed one.
    #[error("EXT_INFO: {0}")]
    ExtInfo(&'static str),
    /// The key exchange (or the identification exchange) took longer than the limit.
    #[error("key exchange timed out")]
    KexTimeout,
    /// The peer closed the byte stream without `SSH_MSG_DISCONNECT`.
    #[error("connection closed by peer")]
    ConnectionLost,
    /// Keepalive PINGs went unanswered (no packet from the peer) too many times.
    #[error("keepalive timeout: the peer stopped answering")]
    KeepaliveTimeout,
    /// The server's login grace time ran out before the application marked the connection
    /// authenticated.
    #[error("login grace time exceeded")]
    LoginGraceExpired,
    /// A sequence number would wrap during the initial key exchange, or the peer never
    /// rekeyed before 2^32 packets.
    #[error("sequence number wrapped")]
    SequenceWrap,
    /// The configuration is unusable (an algorithm list with an invalid name, no host key).
    #[error("configuration: {0}")]
    Config(String),
    /// The peer closed the connection with `SSH_MSG_DISCONNECT`.
    #[error("peer disconnected ({reason:?}): {description}")]
    PeerDisconnected {
        /// The peer's reason code.
        reason: DisconnectReason,
        /// The peer's description.
        description: String,
    },
    /// We closed the connection with [`crate::Connection::disconnect`].
    #[error("disconnected ({reason:?}): {description}")]
    LocallyClosed {
        /// The reason sent.
        reason: DisconnectReason,
        /// The description sent.
        description: String,
    },
}

impl From<&Error> for DisconnectReason {
    /// The whole mapping from errors to the reason code sent in `SSH_MSG_DISCONNECT`.
    fn from(e: &Error) -> Self {
        match e {
            Error::Version(w) => match w {
                whelk_wire::Error::UnsupportedProtocolVersion => {
                    Self::PROTOCOL_VERSION_NOT_SUPPORTED
                }
                _ => Self::PROTOCOL_ERROR,
            },
            Error::Wire(w) => w.disconnect_reason(),
            Error::Cipher(c) => c.disconnect_reason(),
            Error::Kex(k) => k.disconnect_reason(),
            Error::StrictKex(_)
            | Error::UnexpectedMessage { .. }
            | Error::KexInitTwice
            | Error::RekeyStorm
            | Error::UnexpectedNewKeys
            | Error::ExtInfo(_)
            | Error::SequenceWrap => Self::PROTOCOL_ERROR,
            Error::HostKeyRejected | Error::HostKeyChanged => Self::HOST_KEY_NOT_VERIFIABLE,
            Error::NoHostKey(_) | Error::KexTimeout => Self::KEY_EXCHANGE_FAILED,
            Error::ServiceNotAvailable(_) => Self::SERVICE_NOT_AVAILABLE,
            Error::LoginGraceExpired | Error::Config(_) => Self::BY_APPLICATION,
            Error::KeepaliveTimeout | Error::ConnectionLost => Self::CONNECTION_LOST,
            Error::PeerDisconnected { reason, .. } | Error::LocallyClosed { reason, .. } => *reason,
        }
    }
}

/// Why [`crate::Connection::send_payload`] did not take a payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The queue is full (e.g. while a key exchange runs): wait for [`crate::Event::Writable`].
    #[error("send queue full")]
    Blocked,
    /// The payload is empty or carries a transport-layer message number (below 50).
    #[error("payload must carry a message number of 50 or more")]
    NotUpperLayer,
    /// The payload is longer than a packet may carry.
    #[error("payload too large")]
    TooLarge,
    /// The connection has failed or closed.
    #[error("connection closed: {0}")]
    Closed(Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;
