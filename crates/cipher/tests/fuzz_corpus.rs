//! Replays `testdata/fuzz/cipher_open/` through the body of the `cipher_open` fuzz target
//! (`whelk_cipher::fuzzing::open`), so stable `cargo test` covers every seed and every
//! regression input the fuzzer found.
//!
//! The hand-written seeds come from [`seeds`]; `WHELK_WRITE_SEEDS=1 cargo test -p
//! whelk-cipher --test fuzz_corpus` (re)writes them. Without the variable the generator test
//! only runs them and checks how many packets each one opens.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use bytes::BytesMut;
use common::{combinations, payload, rng, seal};
use whelk_cipher::Compressor;
use whelk_cipher::fuzzing::{fixed_keys, open};
use whelk_cipher::registry::Keys;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/fuzz/cipher_open")
}

/// The selector byte for a cipher x MAC pair.
fn selector(cipher: &str, mac: Option<&str>) -> u8 {
    combinations()
        .iter()
        .position(|(c, m)| c.name == cipher && m.map(|m| m.name) == mac)
        .unwrap() as u8
}

/// A seed: selector, split byte, then `packets` sealed under the fixed keys (payloads
/// optionally zlib-compressed in one stream).
fn sealed(cipher: &str, mac: Option<&str>, split: u8, packets: &[Vec<u8>], zlib: bool) -> Vec<u8> {
    let sel = selector(cipher, mac);
    let (c, m) = combinations()[usize::from(sel)];
    let (key, iv, mac_key) = fixed_keys(c, m);
    let keys = Keys {
        key: &key,
        iv: &iv,
        mac_key: &mac_key,
    };
    let mut sealer = c.sealer(m, &keys).unwrap();
    let mut out = BytesMut::from(&[sel, split][..]);
    let mut z = Compressor::new();
    let mut r = rng(9);
    for (seq, p) in packets.iter().enumerate() {
        let body = if zlib {
            let mut b = BytesMut::new();
            z.compress(p, &mut b).unwrap();
            b.to_vec()
        } else {
            p.clone()
        };
        seal(sealer.as_mut(), seq as u32, &body, &mut out, &mut r);
    }
    out.to_vec()
}

/// The hand-written seeds: name, bytes, packets the oracle must open.
fn seeds() -> Vec<(&'static str, Vec<u8>, usize)> {
    let msgs = vec![
        b"\x02\x00\x00\x00\x05hello".to_vec(),
        b"\x5e\x00\x00\x00\x00\x00\x00\x00\x03abc".to_vec(),
        payload(700, 5),
    ];
    let mut bad_tag = sealed("aes128-gcm@openssh.com", None, 255, &msgs[..1], false);
    let last = bad_tag.len() - 1;
    bad_tag[last] ^= 0x80;
    let mut cbc_bad_mac = sealed("aes128-cbc", Some("hmac-sha1"), 255, &msgs[..1], false);
    let last = cbc_bad_mac.len() - 1;
    cbc_bad_mac[last] ^= 1;
    let gcm = selector("aes128-gcm@openssh.com", None);
    vec![
        (
            "chacha20-poly1305",
            sealed("chacha20-poly1305@openssh.com", None, 255, &msgs, false),
            3,
        ),
        (
            "chacha20-poly1305-bytewise",
            sealed("chacha20-poly1305@openssh.com", None, 0, &msgs, false),
            3,
        ),
        (
            "aes128-gcm",
            sealed("aes128-gcm@openssh.com", None, 16, &msgs, false),
            3,
        ),
        (
            "aes256-gcm",
            sealed("aes256-gcm@openssh.com", None, 255, &msgs, false),
            3,
        ),
        (
            "aes128-ctr-hmac-sha2-256",
            sealed("aes128-ctr", Some("hmac-sha2-256"), 255, &msgs, false),
            3,
        ),
        (
            "aes256-ctr-hmac-sha2-512-etm",
            sealed(
                "aes256-ctr",
                Some("hmac-sha2-512-etm@openssh.com"),
                7,
                &msgs,
                false,
            ),
            3,
        ),
        (
            "aes192-cbc-hmac-sha1-etm",
            sealed(
                "aes192-cbc",
                Some("hmac-sha1-etm@openssh.com"),
                255,
                &msgs,
                false,
            ),
            3,
        ),
        (
            "3des-cbc-hmac-md5",
            sealed("3des-cbc", Some("hmac-md5"), 255, &msgs, false),
            3,
        ),
        (
            "aes128-ctr-umac-64-etm",
            sealed(
                "aes128-ctr",
                Some("umac-64-etm@openssh.com"),
                255,
                &msgs,
                false,
            ),
            3,
        ),
        (
            "aes256-cbc-umac-128",
            sealed("aes256-cbc", Some("umac-128@openssh.com"), 9, &msgs, false),
            3,
        ),
        (
            "aes128-ctr-hmac-sha1-96",
            sealed("aes128-ctr", Some("hmac-sha1-96"), 255, &msgs, false),
            3,
        ),
        (
            "none-none-zlib",
            sealed("none", Some("none"), 255, &msgs, true),
            3,
        ),
        (
            "none-none-plain",
            sealed("none", Some("none"), 3, &msgs, false),
            3,
        ),
        ("gcm-bad-tag", bad_tag, 0),
        ("cbc-bad-mac-discard", cbc_bad_mac, 0),
        (
            "p01-gcm-length-ffffffff",
            vec![gcm, 255, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0],
            0,
        ),
        (
            "p02-gcm-length-0",
            vec![gcm, 255, 0, 0, 0, 0, 0, 0, 0, 0],
            0,
        ),
        ("junk-chacha", [vec![0, 255], payload(300, 77)].concat(), 0),
    ]
}

#[test]
fn seeds_open_as_expected() {
    let write = std::env::var_os("WHELK_WRITE_SEEDS").is_some();
    if write {
        fs::create_dir_all(corpus_dir()).unwrap();
    }
    for (name, bytes, packets) in seeds() {
        assert_eq!(open(&bytes), packets, "{name}");
        if write {
            fs::write(corpus_dir().join(name), &bytes).unwrap();
        }
    }
}

#[test]
fn corpus_replays_without_panics() {
    let dir = corpus_dir();
    let mut n = 0;
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_file() {
            open(&fs::read(&path).unwrap());
            n += 1;
        }
    }
    assert!(n >= seeds().len(), "{n} files in {}", dir.display());
}

#[test]
fn every_combination_survives_junk() {
    // Deterministic junk under every cipher x MAC pair, whole and in small pieces.
    for sel in 0..combinations().len() as u8 {
        for split in [0u8, 5, 255] {
            let data = [vec![sel, split], payload(2000, u64::from(sel))].concat();
            open(&data);
        }
    }
}
