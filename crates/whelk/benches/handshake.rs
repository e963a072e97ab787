//! A whole connection set-up through the sans-IO facade, in memory, client and server in one
//! thread: identification, KEXINIT, the key exchange (one row per method, Ed25519 host key),
//! NEWKEYS, EXT_INFO, `ssh-userauth`, password authentication accepted by the server's
//! application, until both sides report `is_authenticated`. No sockets, no runtime: this is
//! the CPU cost of a login on both sides together.
//!
//! `cargo bench -p whelk --bench handshake -- --warm-up-time 1 --measurement-time 3`
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use criterion::{Criterion, criterion_group, criterion_main};
use rand_core::SeedableRng;
use whelk::*;

const KEX: &[&str] = &[
    "curve25519-sha256",
    "mlkem768x25519-sha256",
    "sntrup761x25519-sha512@openssh.com",
    "ecdh-sha2-nistp256",
];

fn rng(seed: u64) -> chacha20::ChaCha20Rng {
    chacha20::ChaCha20Rng::seed_from_u64(seed)
}

/// Connects and authenticates one client/server pair; returns both.
fn login(kex: &str, host_key: &PrivateKey, seed: u64) -> (ClientConnection, ServerConnection) {
    let start = Instant::now();
    let mut cc = ClientConfig::new("alice");
    cc.algorithms().kex = vec![kex.to_string()];
    let mut sc = ServerConfig::new(vec![host_key.clone()]);
    sc.algorithms().kex = vec![kex.to_string()];
    let mut client = ClientConnection::new(cc, rng(seed), start).unwrap();
    let mut server = ServerConnection::new(sc, rng(seed + 1), start).unwrap();
    let (mut c2s, mut s2c) = (BytesMut::new(), BytesMut::new());
    for i in 0..200 {
        let now = start + Duration::from_millis(10 * i);
        c2s.clear();
        let _ = client.poll_transmit(now, &mut c2s);
        if !c2s.is_empty() {
            server.handle_input(now, &c2s).unwrap();
        }
        server.handle_timeout(now);
        while let Some(ev) = server.poll_event() {
            if let Event::AuthRequest(req) = ev {
                let ok = matches!(&req.kind, RequestKind::Password { password, .. }
                    if password.as_slice() == b"pw");
                let d = if ok {
                    Decision::Accept(Grant::default())
                } else {
                    Decision::Reject
                };
                server.respond_auth(now, req, d).unwrap();
            }
        }
        s2c.clear();
        let _ = server.poll_transmit(now, &mut s2c);
        if !s2c.is_empty() {
            client.handle_input(now, &s2c).unwrap();
        }
        while let Some(ev) = client.poll_event() {
            match ev {
                Event::HostKey(check) => client
                    .respond_host_key(check, HostKeyDecision::Accept)
                    .unwrap(),
                Event::Credentials(req) => client
                    .respond_credentials(req, Answer::Password("pw".to_string().into()))
                    .unwrap(),
                _ => {}
            }
        }
        if client.is_authenticated() && server.is_authenticated() {
            return (client, server);
        }
    }
    panic!("{kex}: never authenticated");
}

fn handshake(c: &mut Criterion) {
    let host_key = PrivateKey::ed25519_from_seed(&[7; 32]);
    let mut g = c.benchmark_group("connect+auth");
    let mut seed = 0;
    for kex in KEX {
        g.bench_function(format!("{kex} ssh-ed25519 password"), |b| {
            b.iter(|| {
                seed += 2;
                black_box(login(kex, &host_key, seed))
            });
        });
    }
    g.finish();
}

criterion_group!(benches, handshake);
criterion_main!(benches);
