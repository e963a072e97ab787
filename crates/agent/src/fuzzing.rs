//! Bodies of the fuzz targets (`fuzz/fuzz_targets/agent_*.rs`), here so that the corpus
//! replay test runs them under plain `cargo test`. Not a stable API.
#![allow(clippy::expect_used)]

use bytes::Bytes;

use crate::proto::{Deframer, Request, Response};
use crate::server::{Agent, DenyAll, Env, ServerConnection};

/// Feeds `data` to the message parsers and a server connection; must never panic.
///
/// - `data` as one request and as one reply (decode, and re-encode whatever decodes: the
///   re-encoding must decode again to the same reply);
/// - `data` as a byte stream to a [`ServerConnection`] in two pieces (split at the first
///   byte's value), which must give the same output as the whole stream at once.
pub fn agent_message(data: &[u8]) {
    let msg = Bytes::copy_from_slice(data);
    if let Ok(req) = Request::decode(&msg) {
        // Re-encoding may fail only for ADD (a key that cannot be exported); never panics.
        if let Ok(frame) = req.to_frame() {
            let body = Bytes::copy_from_slice(frame.get(4..).unwrap_or_default());
            assert!(
                Request::decode(&body).is_ok(),
                "re-encoded request must decode"
            );
        }
    }
    if let Ok(resp) = Response::decode(&msg) {
        let frame = resp.to_frame().expect("a decoded reply re-encodes");
        let body = Bytes::copy_from_slice(frame.get(4..).unwrap_or_default());
        let again = Response::decode(&body).expect("re-encoded reply decodes");
        assert_eq!(again, resp, "reply round trip");
    }
    let mut d = Deframer::new();
    if d.push(data).is_ok() {
        while let Ok(Some(_)) = d.next_message() {}
    }

    let whole = run_stream(&[data]);
    let split = usize::from(data.first().copied().unwrap_or(0)).min(data.len());
    let (a, b) = data.split_at(split);
    let pieces = run_stream(&[a, b]);
    assert_eq!(whole, pieces, "same output whole and in pieces");
}

fn run_stream(chunks: &[&[u8]]) -> (Vec<u8>, bool) {
    let mut agent = Agent::new();
    let mut conn = ServerConnection::new();
    let mut rng = <chacha20::ChaCha20Rng as rand_core::SeedableRng>::from_seed([0; 32]);
    let mut confirm = DenyAll;
    let mut env = Env {
        now: 0,
        rng: &mut rng,
        confirm: &mut confirm,
    };
    let mut out = Vec::new();
    let mut failed = false;
    for c in chunks {
        if conn.receive(&mut agent, c, &mut env).is_err() {
            failed = true;
            break;
        }
        out.extend(conn.take_output());
    }
    out.extend(conn.take_output());
    (out, failed)
}
