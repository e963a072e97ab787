//! Seal + open throughput for 32 KiB payloads, per algorithm, next to the raw RustCrypto
//! primitives doing the same cryptographic work in the same run (docs/benchmarks.md).
//!
//! For each algorithm three rows:
//! - `raw`: the RustCrypto crates alone, encrypting + authenticating 32 KiB, then verifying +
//!   decrypting it (what seal + open cannot avoid);
//! - `ssh`: `PacketSealer::seal` then `PacketOpener::open_length` + `open`, in place on one
//!   buffer (the packet is plaintext again after `open`, so no copy is needed between rounds);
//! - `pipeline`: the full path a transport takes: `start_packet`, copy the payload in,
//!   `finish_packet` (random padding), `seal`, then `Deframer::next_packet` handing out the
//!   payload as `Bytes`.
//!
//! Run: `cargo bench -p whelk-cipher --bench seal_open -- --warm-up-time 1 --measurement-time 2`
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;

use aes::Aes128;
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use bytes::{BufMut, BytesMut};
use chacha20::ChaCha20Legacy;
use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use rand_core::SeedableRng;
use sha2::Sha256;
use whelk_cipher::registry::{Keys, cipher_by_name, mac_by_name};
use whelk_cipher::{Deframer, PacketOpener, PacketSealer};
use whelk_wire::frame::{PacketLimits, finish_packet, start_packet};

const PAYLOAD: usize = 32 * 1024;

fn build(cipher: &str, mac: Option<&str>) -> (Box<dyn PacketSealer>, Box<dyn PacketOpener>) {
    let c = cipher_by_name(cipher).unwrap();
    let mac_len = mac.map_or(0, |m| mac_by_name(m).unwrap().key_len);
    let (key, iv, mac_key) = (
        vec![0x11; c.key_len],
        vec![0x22; c.iv_len],
        vec![0x33; mac_len],
    );
    let keys = Keys {
        key: &key,
        iv: &iv,
        mac_key: &mac_key,
    };
    let m = mac.map(|m| mac_by_name(m).unwrap());
    (c.sealer(m, &keys).unwrap(), c.opener(m, &keys).unwrap())
}

fn label(cipher: &str, mac: Option<&str>) -> String {
    match mac {
        Some(m) => format!("{cipher}+{m}"),
        None => cipher.to_string(),
    }
}

fn ssh_in_place(c: &mut Criterion, cipher: &str, mac: Option<&str>) {
    let (mut sealer, mut opener) = build(cipher, mac);
    let mut rng = chacha20::ChaCha20Rng::seed_from_u64(1);
    let mut buf = BytesMut::with_capacity(PAYLOAD + 256);
    let start = start_packet(&mut buf);
    buf.put_bytes(0x5e, PAYLOAD);
    let range = finish_packet(&mut buf, start, sealer.alignment(), &mut rng).unwrap();
    let len = range.end;
    let first = opener.length_bytes();
    let mut seq = 0u32;
    let mut g = c.benchmark_group("seal_open_32k");
    g.throughput(Throughput::Bytes(PAYLOAD as u64));
    g.bench_function(format!("ssh/{}", label(cipher, mac)), |b| {
        b.iter(|| {
            sealer.seal(seq, &mut buf, 0..len).unwrap();
            let l = opener.open_length(seq, &buf[..first]).unwrap();
            assert_eq!(l as usize + 4, len);
            let payload = opener.open(seq, &mut buf[..]).unwrap();
            black_box(&buf[payload]);
            buf.truncate(len);
            seq = seq.wrapping_add(1);
        });
    });
    g.finish();
}

fn pipeline(c: &mut Criterion, cipher: &str, mac: Option<&str>) {
    let (mut sealer, opener) = build(cipher, mac);
    let mut deframer = Deframer::new(opener, PacketLimits::default());
    let mut rng = chacha20::ChaCha20Rng::seed_from_u64(1);
    let payload = vec![0x5eu8; PAYLOAD];
    let mut wire = BytesMut::with_capacity(PAYLOAD + 256);
    let mut seq = 0u32;
    let mut g = c.benchmark_group("seal_open_32k");
    g.throughput(Throughput::Bytes(PAYLOAD as u64));
    g.bench_function(format!("pipeline/{}", label(cipher, mac)), |b| {
        b.iter(|| {
            wire.reserve(PAYLOAD + 256);
            let start = start_packet(&mut wire);
            wire.put_slice(&payload);
            let range = finish_packet(&mut wire, start, sealer.alignment(), &mut rng).unwrap();
            sealer.seal(seq, &mut wire, range).unwrap();
            let p = deframer.next_packet(seq, &mut wire).unwrap().unwrap();
            assert_eq!(p.payload.len(), PAYLOAD);
            black_box(p);
            seq = seq.wrapping_add(1);
        });
    });
    g.finish();
}

fn raw(c: &mut Criterion, name: &str, mut f: impl FnMut(&mut [u8])) {
    let mut data = vec![0x5eu8; PAYLOAD];
    let mut g = c.benchmark_group("seal_open_32k");
    g.throughput(Throughput::Bytes(PAYLOAD as u64));
    g.bench_function(format!("raw/{name}"), |b| {
        b.iter(|| f(black_box(&mut data)))
    });
    g.finish();
}

fn chacha_raw(data: &mut [u8], key: &[u8; 32], poly_key: &[u8; 32], seq: u64) {
    // Seal: keystream from block 1 over the data, Poly1305 over it. Open: the same in
    // reverse order. (The SSH layer adds the length cipher and the Poly1305 key derivation.)
    let nonce = seq.to_be_bytes();
    let mut c = ChaCha20Legacy::new(key.into(), &nonce.into());
    c.seek(64u64);
    c.apply_keystream(data);
    let tag = poly1305::Poly1305::new(poly_key.into()).compute_unpadded(data);
    let check = poly1305::Poly1305::new(poly_key.into()).compute_unpadded(data);
    assert_eq!(tag, check);
    let mut c = ChaCha20Legacy::new(key.into(), &nonce.into());
    c.seek(64u64);
    c.apply_keystream(data);
}

fn benches(c: &mut Criterion) {
    // chacha20-poly1305@openssh.com
    let (key, poly_key) = ([0x11u8; 32], [0x44u8; 32]);
    let mut seq = 0u64;
    raw(c, "chacha20+poly1305", |d| {
        chacha_raw(d, &key, &poly_key, seq);
        seq += 1;
    });
    ssh_in_place(c, "chacha20-poly1305@openssh.com", None);
    pipeline(c, "chacha20-poly1305@openssh.com", None);

    // AES-GCM
    let gcm128 = Aes128Gcm::new_from_slice(&[0x11; 16]).unwrap();
    raw(c, "aes128-gcm", |d| {
        let nonce = [0x22u8; 12].into();
        let tag = gcm128
            .encrypt_inout_detached(&nonce, &[0, 0, 0x80, 0x10], d.into())
            .unwrap();
        gcm128
            .decrypt_inout_detached(&nonce, &[0, 0, 0x80, 0x10], d.into(), &tag)
            .unwrap();
    });
    ssh_in_place(c, "aes128-gcm@openssh.com", None);
    pipeline(c, "aes128-gcm@openssh.com", None);
    let gcm256 = Aes256Gcm::new_from_slice(&[0x11; 32]).unwrap();
    raw(c, "aes256-gcm", |d| {
        let nonce = [0x22u8; 12].into();
        let tag = gcm256
            .encrypt_inout_detached(&nonce, &[0, 0, 0x80, 0x10], d.into())
            .unwrap();
        gcm256
            .decrypt_inout_detached(&nonce, &[0, 0, 0x80, 0x10], d.into(), &tag)
            .unwrap();
    });
    ssh_in_place(c, "aes256-gcm@openssh.com", None);

    // AES-CTR + HMAC-SHA-256 (EtM and encrypt-and-MAC do the same work).
    let mut enc = ctr::Ctr128BE::<Aes128>::new(&[0x11; 16].into(), &[0x22; 16].into());
    let mut dec = ctr::Ctr128BE::<Aes128>::new(&[0x11; 16].into(), &[0x22; 16].into());
    let hmac = Hmac::<Sha256>::new_from_slice(&[0x33; 32]).unwrap();
    raw(c, "aes128-ctr+hmac-sha256", |d| {
        enc.apply_keystream(d);
        let mut m = hmac.clone();
        m.update(d);
        let tag = m.finalize().into_bytes();
        let mut m = hmac.clone();
        m.update(d);
        assert_eq!(m.finalize().into_bytes(), tag);
        dec.apply_keystream(d);
    });
    ssh_in_place(c, "aes128-ctr", Some("hmac-sha2-256-etm@openssh.com"));
    pipeline(c, "aes128-ctr", Some("hmac-sha2-256-etm@openssh.com"));
    ssh_in_place(c, "aes128-ctr", Some("hmac-sha2-256"));
    ssh_in_place(c, "aes256-ctr", Some("hmac-sha2-512-etm@openssh.com"));

    // Raw AES-CTR keystream alone, for scale.
    let mut ks = ctr::Ctr128BE::<Aes128>::new(&[0x11; 16].into(), &[0x22; 16].into());
    raw(c, "aes128-ctr-only", |d| {
        ks.apply_keystream(d);
        ks.apply_keystream(d);
    });
    // Legacy, for scale.
    ssh_in_place(c, "aes128-cbc", Some("hmac-sha1"));
}

criterion_group!(name = group; config = Criterion::default(); targets = benches);
criterion_main!(group);
