//! SSH user authentication (RFC 4252, RFC 4256 keyboard-interactive, OpenSSH certificates
//! and `publickey-hostbound-v00@openssh.com`), sans-IO, for both roles.
//!
//! [`ServerAuth`] and [`ClientAuth`] run after the transport accepted the `ssh-userauth`
//! service: they consume decoded [`Message`](whelk_wire::msg::Message)s (decode numbers
//! 60-79 with their `context()`), produce outbound messages (`poll_transmit`), events
//! (`poll_event`) and an outcome. No I/O, clock, threads or global RNG: time comes in as an
//! [`Instant`] argument.
//!
//! # Server
//!
//! Each request becomes an owned [`AuthRequest`] token, answered with
//! [`ServerAuth::respond`] whenever the application is ready (after a database lookup, a
//! remote call...) with a [`Decision`]: accept, partial, reject, a password change request or
//! keyboard-interactive prompts. The crate verifies publickey and hostbased signatures
//! itself (over the session id, with the algorithm the request names) before asking; an
//! unsigned publickey query is asked too and answered with `PK_OK`, never with success.
//! [`AuthorizedKeysPolicy`] decides publickey requests from an `authorized_keys` file and
//! trusted CAs. [`ServerConfig::required`] expresses sshd's `AuthenticationMethods`
//! chains (partial success).
//!
//! # Client
//!
//! [`ClientAuth`] tries methods in the configured order (publickey, keyboard-interactive,
//! password by default) among those the server lists; signing goes through the [`Signer`]
//! trait ([`KeySigner`] for an in-memory key), passwords and prompts through
//! [`CredentialRequest`] tokens answered with [`ClientAuth::respond`]. It gives up with
//! [`Error::NoMoreMethods`] when nothing is left.
//!
//! # Security
//!
//! - At most [`ServerConfig::max_attempts`] failures (6) and [`server::MAX_REQUESTS`]
//!   requests of any kind; a login grace timer (120 s) (catalog A09).
//! - Failure replies are held until the request is [`ServerConfig::failure_delay`] (5 ms)
//!   plus a per-user jitter old, and unknown users go through the same path as known ones,
//!   PK_OK queries included, so replies and timing do not tell them apart (A10).
//! - Client `USERAUTH_SUCCESS` (A01), connection messages before success (A02), a
//!   signature algorithm other than the one named (A08), unsolicited `PK_OK` or success at
//!   the client (M03) are fatal or failures; a user or service change flushes the method
//!   state (RFC 4252 §5); the client never signs with `ssh-rsa` unless allowed, even without
//!   `EXT_INFO` (M09), and can refuse trivial authentication (`require_auth`, M04).
//! - Errors latch and queue `SSH_MSG_DISCONNECT` with `DisconnectReason::from(&error)`.
//!
//! # Example
//!
//! In-memory password and publickey authentication:
//!
//! ```
//! use bytes::Bytes;
//! use std::time::Instant;
//! use whelk_auth::*;
//! use whelk_keys::PrivateKey;
//! use zeroize::Zeroizing;
//! # use rand_core::SeedableRng;
//!
//! let now = Instant::now();
//! let session_id = Bytes::from_static(&[1; 32]);
//! let key = PrivateKey::ed25519_from_seed(&[9; 32]);
//! let authorized = key.public_key().to_openssh("alice@laptop");
//!
//! let mut server = ServerAuth::new(ServerConfig::default(), session_id.clone(), Bytes::new(), now);
//! let mut client = ClientAuth::new(
//!     ClientConfig { user: "alice".into(), ..ClientConfig::default() },
//!     session_id,
//!     None,
//! );
//! # let rng = chacha20::ChaCha20Rng::from_seed([3; 32]);
//! client.add_identity(Box::new(KeySigner::new(key, rng)));
//! let policy = AuthorizedKeysPolicy::new(&authorized);
//! client.start()?;
//!
//! let later = now + std::time::Duration::from_secs(1);
//! for _ in 0..20 {
//!     while let Some(m) = client.poll_transmit() {
//!         server.handle_message(now, m)?;
//!     }
//!     while let Some(ServerEvent::Request(req)) = server.poll_event() {
//!         let decision = policy.decide(&req, 1_700_000_000);
//!         server.respond(now, req, decision)?;
//!     }
//!     // Failure replies are held back a few milliseconds: give them time.
//!     while let Some(m) = server.poll_transmit(later) {
//!         client.handle_message(m)?;
//!     }
//!     while let Some(ev) = client.poll_event() {
//!         if let ClientEvent::Credentials(req) = ev {
//!             client.respond(req, Answer::Password(Zeroizing::new("hunter2".into())))?;
//!         }
//!     }
//! }
//! assert!(client.is_authenticated());
//! let outcome = server.outcome().unwrap();
//! assert_eq!(outcome.user, "alice");
//! assert_eq!(outcome.methods, [Method::PublicKey]);
//! # Ok::<(), whelk_auth::Error>(())
//! ```
//!
//! # Design notes
//!
//! - [`ServerAuth::respond`] takes `now`: a failure reply is released at
//!   `max(request time + delay, now)`, so a slow application answer adds no extra signal and
//!   a fast one is padded.
//! - A user or service change flushes the methods passed so far (RFC 4252 §5) instead of
//!   disconnecting as sshd does; the failure and request counters are per connection and
//!   never reset. Only `ssh-connection` (configurable) is served; another service is
//!   `SERVICE_NOT_AVAILABLE`.
//! - `none` failures are neither delayed nor counted (as sshd), but every request counts
//!   toward [`server::MAX_REQUESTS`].
//! - Certificates are validated by the policy, not by the state machine: their validity window
//!   needs wall-clock Unix time, which [`AuthorizedKeysPolicy::decide`] takes as an argument.
//! - The client copies a password into the outgoing message (`Bytes`, owned by the transport
//!   until it is encrypted); it cannot zeroize that copy. The application's copies are
//!   [`zeroize::Zeroizing`], as are the server's copies handed to the application.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod client;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
mod method;
pub mod policy;
pub mod server;

/// The time type the state machines take (a virtual clock in tests).
pub type Instant = std::time::Instant;

pub use client::{
    Answer, ClientAuth, ClientConfig, ClientEvent, CredentialRequest, HostbasedIdentity, KeySigner,
    PromptKind, Signer,
};
pub use error::{Error, Result};
pub use method::{Method, hostbased_signed_data, publickey_signed_data, sanitize, secret_eq};
pub use policy::AuthorizedKeysPolicy;
pub use server::{
    AuthRequest, Authenticated, Decision, Grant, Prompts, RequestKind, ServerAuth, ServerConfig,
    ServerEvent,
};
