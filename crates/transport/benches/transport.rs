//! Transport benchmarks: a full in-memory handshake (curve25519-sha256,
//! sntrup761x25519-sha512@openssh.com, mlkem768x25519-sha256 and ecdh-sha2-nistp256, each with
//! ssh-ed25519; both sides, identification to the ssh-userauth service accept), and upper-layer throughput with 32 KiB payloads
//! (send_payload -> poll_transmit -> handle_input -> poll_event) next to whelk-cipher's own
//! seal + open of the same packets, for aes128-gcm and chacha20-poly1305.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use chacha20::ChaCha20Rng;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand_core::SeedableRng;
use whelk_keys::PrivateKey;
use whelk_transport::{ClientConfig, Connection, Event, HostKeyDecision, ServerConfig};
use whelk_wire::frame::{finish_packet, start_packet};

const PAYLOAD: usize = 32 * 1024;

/// The key exchange methods the handshake rows are measured for.
const KEX: &[&str] = &[
    "curve25519-sha256",
    "sntrup761x25519-sha512@openssh.com",
    "mlkem768x25519-sha256",
    "ecdh-sha2-nistp256",
];

fn configs_kex(cipher: &str, kex: &str) -> (ClientConfig, ServerConfig) {
    let mut c = ClientConfig::default();
    c.config.algorithms.kex = vec![kex.into()];
    c.config.algorithms.host_key = vec!["ssh-ed25519".into()];
    c.config.algorithms.ciphers = vec![cipher.into()];
    c.config.limits.rekey_bytes = u64::MAX;
    let mut s = ServerConfig::new(vec![PrivateKey::ed25519_from_seed(&[1; 32])]);
    s.config.algorithms = c.config.algorithms.clone();
    s.config.limits.rekey_bytes = u64::MAX;
    s.login_grace = None;
    (c, s)
}

/// Pumps bytes both ways until neither side has anything to send; accepts the host key.
fn pump(c: &mut Connection, s: &mut Connection, now: Instant, buf: &mut BytesMut) -> usize {
    let mut payloads = 0;
    loop {
        let mut moved = false;
        buf.clear();
        if c.poll_transmit(now, buf) > 0 {
            moved = true;
            s.handle_input(now, buf).unwrap();
        }
        buf.clear();
        if s.poll_transmit(now, buf) > 0 {
            moved = true;
            c.handle_input(now, buf).unwrap();
        }
        while let Some(ev) = c.poll_event() {
            moved = true;
            if let Event::HostKey(check) = ev {
                c.respond(check, HostKeyDecision::Accept).unwrap();
            }
        }
        while let Some(ev) = s.poll_event() {
            moved = true;
            if let Event::Payload(p) = ev {
                black_box(&p);
                payloads += 1;
            }
        }
        if !moved {
            return payloads;
        }
    }
}

fn connected(cipher: &str, seed: u64) -> (Connection, Connection) {
    connected_kex(cipher, "curve25519-sha256", seed)
}

fn connected_kex(cipher: &str, kex: &str, seed: u64) -> (Connection, Connection) {
    let (cc, sc) = configs_kex(cipher, kex);
    let now = Instant::now();
    let mut c = Connection::client(cc, Box::new(ChaCha20Rng::seed_from_u64(seed)), now).unwrap();
    let mut s =
        Connection::server(sc, Box::new(ChaCha20Rng::seed_from_u64(seed + 1)), now).unwrap();
    let mut buf = BytesMut::new();
    pump(&mut c, &mut s, now, &mut buf);
    assert!(c.is_established() && s.is_established());
    c.request_service("ssh-userauth").unwrap();
    pump(&mut c, &mut s, now, &mut buf);
    (c, s)
}

fn handshake(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("transport");
    let mut seed = 0;
    for kex in KEX {
        g.bench_function(format!("handshake {kex} ssh-ed25519 aes128-gcm"), |b| {
            b.iter(|| {
                seed += 2;
                black_box(connected_kex("aes128-gcm@openssh.com", kex, seed))
            });
        });
    }
    g.finish();
}

fn throughput(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("transport");
    g.throughput(Throughput::Bytes(PAYLOAD as u64));
    let mut body = vec![0x5e_u8; PAYLOAD];
    body[1..9].copy_from_slice(&[0, 0, 0, 0, 0, 0, 0x7f, 0xf7]);
    let payload = Bytes::from(body);
    for cipher in ["aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com"] {
        let (mut c, mut s) = connected(cipher, 9);
        let now = Instant::now();
        let mut buf = BytesMut::with_capacity(2 * PAYLOAD);
        g.bench_function(format!("payload 32 KiB {cipher}"), |b| {
            b.iter(|| {
                c.send_payload(payload.clone()).unwrap();
                buf.clear();
                let _ = c.poll_transmit(now, &mut buf);
                s.handle_input(now, &buf).unwrap();
                match s.poll_event() {
                    Some(Event::Payload(p)) => black_box(p),
                    other => panic!("{other:?}"),
                };
            });
        });
        // whelk-cipher alone: build, seal, open the same packet (what the transport adds
        // on top is framing bookkeeping, queues and events).
        let alg = whelk_cipher::registry::cipher_by_name(cipher).unwrap();
        let key = vec![7u8; alg.key_len];
        let iv = vec![9u8; alg.iv_len];
        let keys = whelk_cipher::Keys {
            key: &key,
            iv: &iv,
            mac_key: &[],
        };
        let mut sealer = alg.sealer(None, &keys).unwrap();
        let mut opener = alg.opener(None, &keys).unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let mut seq = 0u32;
        g.bench_function(format!("cipher seal+open 32 KiB {cipher}"), |b| {
            b.iter(|| {
                buf.clear();
                let start = start_packet(&mut buf);
                buf.extend_from_slice(&payload);
                let range = finish_packet(&mut buf, start, sealer.alignment(), &mut rng).unwrap();
                sealer.seal(seq, &mut buf, range).unwrap();
                let _ = opener
                    .open_length(seq, &buf[..opener.length_bytes()])
                    .unwrap();
                let r = opener.open(seq, &mut buf[..]).unwrap();
                seq = seq.wrapping_add(1);
                black_box(r);
            });
        });
    }
    g.finish();
}

criterion_group!(benches, handshake, throughput);
criterion_main!(benches);
