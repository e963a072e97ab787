//! What the transport reports to the application ([`crate::Connection::poll_event`]) and
//! the decisions it asks for.

use alloc::boxed::Box;
use alloc::string::String;

use bytes::Bytes;
use whelk_kex::Negotiated;
use whelk_wire::msg::{DisconnectReason, ExtInfo};

/// Something the application should know about or act on.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A key exchange (the first one or a re-exchange) completed.
    KexDone(Box<KexInfo>),
    /// Client: the server's host key, whose signature over the exchange hash verified. The
    /// application decides whether it trusts it (known_hosts, CA...) and answers with
    /// [`crate::Connection::respond`], now or later; nothing after the key exchange is sent
    /// or read until then.
    HostKey(HostKeyCheck),
    /// Server: the client requested this service, and it was accepted.
    ServiceRequested(String),
    /// Client: the server accepted this service.
    ServiceAccepted(String),
    /// The peer's `SSH_MSG_EXT_INFO` (RFC 8308).
    ExtInfo(ExtInfo),
    /// A message for the upper layers (number 50 or more): the whole payload, a view of
    /// the receive buffer.
    Payload(Bytes),
    /// `SSH_MSG_DEBUG` from the peer.
    Debug {
        /// Whether the peer asked for it to be shown.
        always_display: bool,
        /// The message.
        message: String,
    },
    /// The peer did not understand our packet with this sequence number.
    Unimplemented(u32),
    /// `SSH2_MSG_PONG` answering our ping.
    Pong(Bytes),
    /// The send queue has room again after [`crate::SendError::Blocked`].
    Writable,
    /// The connection is over: the peer sent `SSH_MSG_DISCONNECT` (`by_peer`), or we did
    /// because of an error or [`crate::Connection::disconnect`].
    Disconnected {
        /// The reason code.
        reason: DisconnectReason,
        /// The description.
        description: String,
        /// Whether the peer sent it.
        by_peer: bool,
    },
}

/// What a key exchange negotiated.
#[derive(Debug, Clone)]
pub struct KexInfo {
    /// The algorithms.
    pub negotiated: Negotiated,
    /// Whether this was the first exchange of the connection.
    pub initial: bool,
    /// Whether strict KEX is in force.
    pub strict: bool,
    /// The session identifier.
    pub session_id: Bytes,
}

/// A host key decision the client must take. Answer with [`crate::Connection::respond`].
#[derive(Debug)]
#[must_use = "the key exchange waits until the host key is accepted or rejected"]
pub struct HostKeyCheck {
    pub(crate) id: u64,
    /// The host key blob (`K_S`; a certificate for certificate algorithms).
    pub host_key: Bytes,
    /// The negotiated host key algorithm.
    pub algorithm: String,
}

/// The answer to a [`HostKeyCheck`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyDecision {
    /// Trusted: continue.
    Accept,
    /// Not trusted: disconnect with `HOST_KEY_NOT_VERIFIABLE`.
    Reject,
}
