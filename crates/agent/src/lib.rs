//! The ssh-agent protocol (draft-miller-ssh-agent, OpenSSH `PROTOCOL.agent`) for whelk:
//! message codec, client and server state machines, and a std UNIX-socket client and
//! server ([`unix`]).
//!
//! - [`proto`]: [`Request`] / [`Response`] with their encoders and strict decoders, the
//!   [`Deframer`] that checks each frame's declared length against [`MAX_MESSAGE_LEN`]
//!   (256 KiB, OpenSSH `AGENT_MAX_LEN`) before buffering, and [`MAX_IDENTITIES`] (2048).
//! - [`server`]: the key store [`Agent`] (keys in memory only, zeroized on removal, lifetimes
//!   and confirmation, lock/unlock, `session-bind@openssh.com` and `query`) and
//!   [`ServerConnection`], which answers requests over any byte stream (a UNIX socket now, a
//!   forwarded agent channel later).
//! - [`client`]: [`Client`], which frames requests and reads replies in order.
//! - [`unix`]: [`unix::UnixClient`] (connects to `SSH_AUTH_SOCK`) and [`unix::UnixServer`],
//!   which `ssh-add`, `ssh` and `ssh-keygen -Y sign` can use; `examples/agent.rs` wraps it
//!   with `ssh-agent`'s `-a`/`-D` flags.
//!
//! Everything but [`unix`] is sans-IO: bytes in, bytes out, time passed in as seconds,
//! randomness as a [`rand_core::CryptoRng`].
//!
//! An in-memory client and server: add a key, list it, sign, verify.
//!
//! ```
//! use bytes::Bytes;
//! use whelk_agent::{AddIdentity, Agent, Client, DenyAll, Env, Request, ServerConnection};
//! use whelk_keys::{KeyGen, PrivateKey, SigAlg, VerifyPolicy};
//! # use rand_core::SeedableRng;
//! # let mut rng = chacha20::ChaCha20Rng::from_seed([7; 32]);
//! let key = PrivateKey::generate(KeyGen::Ed25519, &mut rng)?;
//!
//! let mut agent = Agent::new();
//! let mut conn = ServerConnection::new();
//! let mut client = Client::new();
//! let mut confirm = DenyAll;
//! let mut env = Env { now: 0, rng: &mut rng, confirm: &mut confirm };
//!
//! // One round trip: the client's bytes go to the server, the server's back.
//! let mut round_trip = |request: Request, env: &mut Env<'_>| -> Result<_, whelk_agent::Error> {
//!     let bytes = client.request(&request)?;
//!     conn.receive(&mut agent, &bytes, env)?;
//!     client.receive(&conn.take_output())?;
//!     Ok(client.poll_response()?.expect("a whole reply"))
//! };
//!
//! let add = AddIdentity {
//!     key: key.clone(),
//!     certificate: None,
//!     comment: Bytes::from_static(b"me@example"),
//!     constraints: vec![],
//! };
//! round_trip(Request::Add(Box::new(add)), &mut env)?.into_success()?;
//!
//! let ids = round_trip(Request::RequestIdentities, &mut env)?.into_identities()?;
//! assert_eq!(ids.len(), 1);
//! assert_eq!(ids[0].comment.as_ref(), b"me@example");
//!
//! let sign = Request::Sign {
//!     key_blob: ids[0].key_blob.clone(),
//!     data: Bytes::from_static(b"session data"),
//!     flags: 0,
//! };
//! let signature = round_trip(sign, &mut env)?.into_signature()?;
//! let public = ids[0].key()?.public_key().clone();
//! public.verify(SigAlg::Ed25519, b"session data", &signature, &VerifyPolicy::default())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Departures from OpenSSH's `ssh-agent`
//!
//! - RSA sign requests without an SHA-2 flag (SHA-1 `ssh-rsa`) are refused unless
//!   [`Agent::set_allow_ssh_rsa`] is set.
//! - Extension constraints (`restrict-destination-v00@openssh.com` from `ssh-add -h`,
//!   security-key providers) are not implemented, so keys carrying them are refused.
//!   Smartcard (PKCS#11) messages are answered with failure.
//! - The lock passphrase is kept in zeroizing memory and compared in constant time (OpenSSH
//!   keeps a salted bcrypt-pbkdf hash). Failed unlocks are slowed by refusing further
//!   attempts for one more second per failure (up to ten), measured on the passed-in clock.
//! - A malformed request body is answered with `SSH_AGENT_FAILURE` and the connection
//!   continues (the frame boundary is known); a bad frame length closes the connection.
//! - The `query` extension is answered as draft-miller-ssh-agent §3.8.1 describes
//!   (`SSH_AGENT_EXTENSION_RESPONSE`, `string "query"`, then the names).
//!
//! # Testing
//!
//! - `tests/protocol.rs`: the in-memory client and server over every request, key type
//!   (Ed25519, ECDSA P-256/384/521, RSA with both SHA-2 flags), certificates, constraints,
//!   lock/unlock, extensions, and the limits, including catalog R06 (`ff ff ff ff 0b`) as
//!   `r06_agent_frame_ffffffff_rejected_before_buffering`.
//! - `tests/openssh.rs` (needs OpenSSH's `ssh-add`, `ssh-agent`, `ssh-keygen`; fails when
//!   they are missing): `ssh-add` (add, `-l`, `-L`, `-d`, `-D`, `-x`/`-X`, `-t`, `-c`,
//!   certificates) against the whelk agent, whelk's client against `ssh-agent`,
//!   `ssh-keygen -Y sign` through the whelk agent verified by `ssh-keygen -Y verify`, and
//!   the example binary.
//! - `tests/unix.rs`: whelk's socket client against whelk's socket server.
//! - `tests/fuzz_corpus.rs` replays `testdata/fuzz/agent_message/` through
//!   [`fuzzing::agent_message`], the body of `fuzz/fuzz_targets/agent_message.rs` (a first
//!   180 s libFuzzer run: 1.88 M inputs, no failure).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod client;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
mod key;
pub mod proto;
pub mod server;
pub mod unix;

pub use client::Client;
pub use error::{Error, Result};
pub use proto::{
    AddIdentity, Constraint, Deframer, Identity, MAX_IDENTITIES, MAX_MESSAGE_LEN, Request, Response,
};
pub use server::{Agent, Confirm, ConfirmRequest, DenyAll, Env, ServerConnection, Session};
