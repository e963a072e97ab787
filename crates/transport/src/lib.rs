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
//! ```
//! use bytes::{Bytes, BytesMut};
//! use rand_core::SeedableRng;
//! use whelk_transport::{ClientConfig, Connection, Event, HostKeyDecision, ServerConfig};
//!
//! let now = std::time::Instant::now();
//! let rng = |seed| Box::new(chacha20::ChaCha20Rng::seed_from_u64(seed));
//! let host_key = whelk_keys::PrivateKey::ed25519_from_seed(&[1; 32]);
//! let mut client = Connection::client(ClientConfig::default(), rng(1), now)?;
//! let mut server = Connection::server(ServerConfig::new(vec![host_key]), rng(2), now)?;
//! client.request_service("ssh-userauth")?; // sent once the key exchange allows
//!
//! // The caller's I/O loop, here a wire in memory.
//! let mut wire = BytesMut::new();
//! let mut accepted = false;
//! while !accepted {
//!     wire.clear();
//!     let _ = client.poll_transmit(now, &mut wire);
//!     server.handle_input(now, &wire)?;
//!     wire.clear();
//!     let _ = server.poll_transmit(now, &mut wire);
//!     client.handle_input(now, &wire)?;
//!     while let Some(event) = client.poll_event() {
//!         match event {
//!             // A known_hosts check would go here (it may answer later).
//!             Event::HostKey(check) => client.respond(check, HostKeyDecision::Accept)?,
//!             Event::ServiceAccepted(name) => accepted = name == "ssh-userauth",
//!             _ => {}
//!         }
//!     }
//!     while server.poll_event().is_some() {}
//! }
//! assert!(client.is_established() && client.is_strict_kex());
//! assert_eq!(client.session_id(), server.session_id());
//! client.send_payload(Bytes::from_static(b"\x32..."))?; // an upper-layer message
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
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
//!   upper-layer payloads wait in the queue meanwhile. A peer starting re-exchanges far more
//!   often than its data or time limits explain is cut off ([`PeerRekeyLimit`], K18).
//! - **Errors latch** and carry their disconnect: the first fatal [`Error`] queues
//!   `SSH_MSG_DISCONNECT` with the reason `DisconnectReason::from(&Error)` gives (the one
//!   mapping), and later calls return it again.
//!
//! Compression ([`Algorithms::compression`]): `none` by default; `zlib@openssh.com` starts
//! after USERAUTH_SUCCESS (the server after sending it, the client after receiving it), `zlib`
//! with the keys; a fresh zlib stream per direction after each NEWKEYS; every inflated packet
//! is capped at the packet limit (COMPRESSION_ERROR, catalog R03).
//!
//! # Tests
//!
//! - `tests/pair.rs`: client and server in whelk-test's deterministic `Pair` harness
//!   (virtual clock, seeded delivery down to one byte at a time, tampering in flight):
//!   handshake, service and payloads, every kex method with every host key algorithm, every
//!   cipher with every MAC, deferred / rejected / unanswered host key decisions, Terrapin
//!   injections with and without strict KEX, sequence number resets, rekeying on demand, by
//!   time, by bytes (3DES after 2^16 blocks) and while 100 MiB flow, back-pressure, timers,
//!   IGNORE / DEBUG / PING.
//! - `tests/malformed.rs`: a raw peer sending bad identification lines, packet lengths,
//!   padding, message numbers, duplicate KEXINIT, early NEWKEYS, unknown methods, invalid
//!   public values, EXT_INFO at the wrong time, flipped bits after NEWKEYS: each gives its
//!   documented disconnect reason, on the wire and in the latched error.
//! - `tests/openssh.rs`: OpenSSH in both directions, rotating through every algorithm both
//!   implement.
//! - `tests/compression.rs`: `zlib@openssh.com` only after USERAUTH_SUCCESS, plain `zlib`
//!   from the keys, `none` unless both offer a method, across re-exchanges, and a bomb
//!   inflating past the packet limit giving COMPRESSION_ERROR.
//! - `tests/fuzz_corpus.rs`: replays `testdata/fuzz/transport_{server,client}/` through the
//!   [`fuzzing`] bodies of the `transport_server` / `transport_client` fuzz targets.
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
    PeerRekeyLimit, REKEY_PACKETS, ServerConfig,
};
pub use connection::{Connection, until};
#[doc(hidden)]
pub use connection::{InboundObserver, OutboundFilter};
pub use error::{Error, Result, SendError};
pub use event::{Event, HostKeyCheck, HostKeyDecision, KexInfo};
pub use whelk_wire::msg::DisconnectReason;
