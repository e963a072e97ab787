//! The SSH transport layer (RFC 4253), sans-IO, for both roles.
//!
//! A [`Connection`] takes the bytes the peer sent ([`Connection::handle_input`], any split,
//! one byte at a time included), yields the bytes to send ([`Connection::poll_transmit`],
//! packets built lazily), reports [`Event`]s ([`Connection::poll_event`]) and keeps one timer
//! table ([`Connection::poll_timeout`] / [`Connection::handle_timeout`]). Time arrives as an
//! [`Instant`] argument and randomness through the `rand_core::CryptoRng` given at
//! construction: no I/O, clock, threads or global RNG.
//!
//! # Flow
//!
//! Identification lines, `SSH_MSG_KEXINIT` both ways (ours is sent right after our
//! identification), the negotiated key exchange (whelk-kex), the host key decision (client:
//! [`Event::HostKey`], answered with [`Connection::respond`] whenever the application is
//! ready), `SSH_MSG_NEWKEYS` and the key switch, then the service request
//! ([`Connection::request_service`] / [`Event::ServiceRequested`]) and upper-layer payloads
//! ([`Connection::send_payload`] / [`Event::Payload`]).
//!
//! # Security
//!
//! - **Strict KEX** (`kex-strict-*-v00@openssh.com`, on by default, the Terrapin /
//!   CVE-2023-48795 countermeasure): when both sides offer it, the peer's KEXINIT must be its
//!   first packet, any non-KEX message during the first exchange is fatal, and sequence
//!   numbers restart at 0 after each NEWKEYS (catalog K01, K02).
//! - **Phases**: during the first exchange only messages 1-4 and 20-49 are accepted; during a
//!   re-exchange, once the peer's KEXINIT arrived, only those too. Duplicate KEXINIT (K04),
//!   NEWKEYS before keys (K05) and kex messages outside an exchange are
//!   `PROTOCOL_ERROR`.
//! - **EXT_INFO** (RFC 8308) only right after the first NEWKEYS, or once more from the server
//!   just before USERAUTH_SUCCESS, and only when we announced `ext-info-*` (E01, E03, E05).
//! - **Limits**: inbound packet length checked before buffering (256 KiB default), receive
//!   buffer never larger than one packet, bounded send queue with back-pressure
//!   ([`SendError::Blocked`], [`Event::Writable`]; K16), bounded control replies (K17),
//!   bounded preamble before the server's identification, key exchange timeout, login grace
//!   timer for the server.
//! - **Rekeying** after 1 GiB (2^(L/4) blocks for 64-bit block ciphers, RFC 4344), 2^31
//!   packets or one hour, or on demand ([`Connection::rekey`]); either side may start it, and
//!   upper-layer payloads wait in the queue meanwhile.
//! - **Errors latch** and carry their disconnect: the first fatal [`Error`] queues
//!   `SSH_MSG_DISCONNECT` with the reason `DisconnectReason::from(&Error)` gives (the one
//!   mapping), and later calls return it again.
//!
//! Compression is not negotiated (only `none` is offered).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

mod config;
mod connection;
mod error;
mod event;

#[doc(hidden)]
pub mod fuzzing;

/// The time type the transport takes (a virtual clock in tests).
pub type Instant = std::time::Instant;

pub use config::{
    Algorithms, ClientConfig, Config, DEFAULT_REKEY_BYTES, DEFAULT_REKEY_TIME, Limits,
    REKEY_PACKETS, ServerConfig,
};
pub use connection::{Connection, until};
pub use error::{Error, Result, SendError};
pub use event::{Event, HostKeyCheck, HostKeyDecision, KexInfo};
pub use whelk_wire::msg::DisconnectReason;
