//! Fuzz target bodies (used by `fuzz/fuzz_targets/transport_*.rs` and replayed over
//! `testdata/fuzz/transport_*/` by an ordinary test). Not part of the API.

use alloc::boxed::Box;
use alloc::vec;

use bytes::BytesMut;
use chacha20::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::{ClientConfig, Connection, Event, HostKeyDecision, Instant, ServerConfig};

/// The identification line the fuzz input is preceded by.
pub const PEER_VERSION: &[u8] = b"SSH-2.0-OpenSSH_9.2p1 fuzz\r\n";

fn drive(mut conn: Connection, data: &[u8]) {
    let now = Instant::now();
    let mut out = BytesMut::new();
    let _ = conn.poll_transmit(now, &mut out);
    if conn.handle_input(now, PEER_VERSION).is_err() {
        return;
    }
    // The first byte picks the chunk size, so the same body is also fed in pieces.
    let (chunk, body) = match data.split_first() {
        Some((c, rest)) => (usize::from(*c % 64) + 1, rest),
        None => (1, data),
    };
    let mut first_error = None;
    for piece in body.chunks(chunk) {
        let mut rest = piece;
        let mut stalls = 0;
        while !rest.is_empty() && stalls < 4 {
            match conn.handle_input(now, rest) {
                Ok(n) => {
                    rest = rest.get(n..).unwrap_or_default();
                    if n == 0 {
                        stalls += 1;
                    }
                }
                Err(e) => {
                    // Errors latch: the same error comes back.
                    if let Some(f) = &first_error {
                        assert_eq!(f, &e, "latched error changed");
                    }
                    first_error = Some(e);
                    break;
                }
            }
            while let Some(ev) = conn.poll_event() {
                if let Event::HostKey(check) = ev {
                    let _ = conn.respond(check, HostKeyDecision::Accept);
                }
            }
            out.clear();
            let _ = conn.poll_transmit(now, &mut out);
        }
    }
    let _ = conn.poll_timeout();
    conn.handle_timeout(now + core::time::Duration::from_secs(7200));
    out.clear();
    let _ = conn.poll_transmit(now, &mut out);
}

/// A server transport fed `data` after a valid client identification line.
pub fn server(data: &[u8]) {
    let key = whelk_keys::PrivateKey::ed25519_from_seed(&[3; 32]);
    let mut config = ServerConfig::new(vec![key]);
    config.config.algorithms.kex = vec!["curve25519-sha256".into(), "ecdh-sha2-nistp256".into()];
    let rng = Box::new(ChaCha20Rng::seed_from_u64(1));
    if let Ok(conn) = Connection::server(config, rng, Instant::now()) {
        drive(conn, data);
    }
}

/// A client transport fed `data` after a valid server identification line.
pub fn client(data: &[u8]) {
    let rng = Box::new(ChaCha20Rng::seed_from_u64(2));
    if let Ok(conn) = Connection::client(ClientConfig::default(), rng, Instant::now()) {
        drive(conn, data);
    }
}
