//! Fuzz target bodies (used by `fuzz/fuzz_targets/transport_*.rs` and replayed over
//! `testdata/fuzz/transport_*/` by `tests/fuzz_corpus.rs` in plain `cargo test`). Not part of
//! the API.
//!
//! Each target builds one endpoint with a fixed configuration and a seeded RNG, gives it a
//! valid peer identification line ([`PEER_VERSION`]) and then the fuzz input, in chunks whose
//! size the first input byte picks. Everything is deterministic, so a transcript captured
//! from a real peer configured as [`peer_client_config`] / [`peer_server_config`] replays
//! byte for byte into the encrypted phase (that is how the seeds are made).

use alloc::boxed::Box;
use alloc::string::ToString;
use alloc::vec;

use bytes::BytesMut;
use chacha20::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::{ClientConfig, Connection, Error, Event, HostKeyDecision, Instant, ServerConfig};

/// The identification line the fuzz input is preceded by.
pub const PEER_VERSION: &[u8] = b"SSH-2.0-whelk_fuzz_peer\r\n";
/// RNG seed of the fuzzed server.
pub const SERVER_SEED: u64 = 1;
/// RNG seed of the fuzzed client.
pub const CLIENT_SEED: u64 = 2;

/// What a run reached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The first key exchange completed.
    pub established: bool,
    /// Key exchanges completed.
    pub kex_count: u64,
    /// Upper-layer payloads delivered.
    pub payloads: usize,
    /// The latched error at the end, if any.
    pub error: Option<Error>,
}

/// The MAC list both fuzzed endpoints offer. Pinned rather than the registry's default, so
/// that the KEXINIT bytes, and with them the exchange hash and the keys the saved seeds were
/// encrypted under, stay the same when the default list changes.
const MACS: &[&str] = &[
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
    "hmac-sha1-etm@openssh.com",
    "hmac-sha2-256",
    "hmac-sha2-512",
    "hmac-sha1",
];

fn macs() -> Vec<String> {
    MACS.iter().map(|m| (*m).to_string()).collect()
}

/// The fuzzed server's configuration.
#[must_use]
pub fn server_config() -> ServerConfig {
    let key = whelk_keys::PrivateKey::ed25519_from_seed(&[3; 32]);
    let mut config = ServerConfig::new(vec![key]);
    config.config.algorithms.kex = vec!["curve25519-sha256".to_string()];
    config.config.algorithms.ciphers = vec![
        "chacha20-poly1305@openssh.com".to_string(),
        "aes128-ctr".to_string(),
    ];
    config.config.algorithms.macs = macs();
    config
}

/// The fuzzed client's configuration.
#[must_use]
pub fn client_config() -> ClientConfig {
    let mut config = ClientConfig::default();
    config.config.algorithms.kex = vec!["curve25519-sha256".to_string()];
    config.config.algorithms.macs = macs();
    config
}

/// A peer client whose bytes replay into the fuzzed server (its identification is
/// [`PEER_VERSION`]).
#[must_use]
pub fn peer_client_config() -> ClientConfig {
    let mut config = client_config();
    config.config.software = "whelk_fuzz_peer".to_string();
    config
}

/// A peer server whose bytes replay into the fuzzed client.
#[must_use]
pub fn peer_server_config() -> ServerConfig {
    let mut config = server_config();
    config.config.software = "whelk_fuzz_peer".to_string();
    config
}

/// The fuzzed server.
pub fn new_server(now: Instant) -> Result<Connection, Error> {
    Connection::server(
        server_config(),
        Box::new(ChaCha20Rng::seed_from_u64(SERVER_SEED)),
        now,
    )
}

/// The fuzzed client (it has asked for the `ssh-userauth` service).
pub fn new_client(now: Instant) -> Result<Connection, Error> {
    let mut conn = Connection::client(
        client_config(),
        Box::new(ChaCha20Rng::seed_from_u64(CLIENT_SEED)),
        now,
    )?;
    conn.request_service("ssh-userauth")?;
    Ok(conn)
}

fn drain(conn: &mut Connection, outcome: &mut Outcome) {
    while let Some(ev) = conn.poll_event() {
        match ev {
            Event::HostKey(check) => {
                let _ = conn.respond(check, HostKeyDecision::Accept);
            }
            Event::Payload(_) => outcome.payloads += 1,
            _ => {}
        }
    }
}

fn drive(mut conn: Connection, data: &[u8]) -> Outcome {
    let now = Instant::now();
    let mut outcome = Outcome::default();
    let mut out = BytesMut::new();
    let _ = conn.poll_transmit(now, &mut out);
    if conn.handle_input(now, PEER_VERSION).is_err() {
        outcome.error = conn.error().cloned();
        return outcome;
    }
    // The first byte picks the chunk size (0 = whole), so the same body is also fed in
    // pieces.
    let (chunk, body) = match data.split_first() {
        Some((0, rest)) => (rest.len().max(1), rest),
        Some((c, rest)) => (usize::from(*c), rest),
        None => (1, data),
    };
    let mut first_error: Option<Error> = None;
    'outer: for piece in body.chunks(chunk) {
        let mut rest = piece;
        let mut stalls = 0;
        while !rest.is_empty() {
            match conn.handle_input(now, rest) {
                Ok(n) => {
                    rest = rest.get(n..).unwrap_or_default();
                    if n == 0 {
                        stalls += 1;
                        if stalls > 4 {
                            break 'outer;
                        }
                    }
                }
                Err(e) => {
                    // Errors latch: the same error comes back.
                    if let Some(f) = &first_error {
                        assert_eq!(f, &e, "latched error changed");
                    }
                    first_error = Some(e);
                    assert!(
                        conn.handle_input(now, b"\0").err().as_ref() == first_error.as_ref(),
                        "error did not latch"
                    );
                    break 'outer;
                }
            }
            drain(&mut conn, &mut outcome);
            out.clear();
            let _ = conn.poll_transmit(now, &mut out);
        }
    }
    drain(&mut conn, &mut outcome);
    outcome.established = conn.is_established();
    outcome.kex_count = conn.kex_count();
    let _ = conn.poll_timeout();
    conn.handle_timeout(now + core::time::Duration::from_secs(7200));
    out.clear();
    let _ = conn.poll_transmit(now, &mut out);
    drain(&mut conn, &mut outcome);
    outcome.error = conn.error().cloned();
    outcome
}

/// Fuzz body: a server transport fed `data` after a valid client identification line.
pub fn server(data: &[u8]) -> Outcome {
    match new_server(Instant::now()) {
        Ok(conn) => drive(conn, data),
        Err(_) => Outcome::default(),
    }
}

/// Fuzz body: a client transport fed `data` after a valid server identification line.
pub fn client(data: &[u8]) -> Outcome {
    match new_client(Instant::now()) {
        Ok(conn) => drive(conn, data),
        Err(_) => Outcome::default(),
    }
}
