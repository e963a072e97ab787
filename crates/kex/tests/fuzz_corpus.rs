//! Replays `testdata/fuzz/kex_peer_value/` through the fuzz target's body
//! (`whelk_kex::fuzzing::kex_peer_value`), so stable `cargo test` covers the seeds and every
//! regression input the fuzzer found.
//!
//! `WHELK_WRITE_SEEDS=1 cargo test -p whelk-kex --test fuzz_corpus` (re)writes the
//! hand-made seeds from [`seeds`]; without it they are only run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::path::{Path, PathBuf};

use whelk_kex::fuzzing::{FuzzRng, kex_peer_value};
use whelk_kex::{ClientKex, ExchangeContext, Group, METHODS, SecretEncoding};
use whelk_wire::msg::{KexFamily, Message};
use whelk_wire::types::MpInt;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/fuzz/kex_peer_value")
}

fn chunk(v: &[u8]) -> Vec<u8> {
    let mut out = u16::try_from(v.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(v);
    out
}

fn ctx() -> ExchangeContext {
    ExchangeContext {
        client_version: bytes::Bytes::from_static(b"SSH-2.0-x"),
        server_version: bytes::Bytes::from_static(b"SSH-2.0-y"),
        client_kexinit: bytes::Bytes::new(),
        server_kexinit: bytes::Bytes::new(),
        session_id: None,
    }
}

/// A real client public value for the method (as the server would receive it).
fn client_value(i: usize) -> Vec<u8> {
    let m = &METHODS[i];
    let mut c = ClientKex::for_method(m, "ssh-ed25519", ctx());
    match c.start(&mut FuzzRng::new(9)).unwrap() {
        Message::KexEcdhInit(x) => x.client_public.to_vec(),
        Message::KexdhInit(x) => x.e.as_bytes().to_vec(),
        _ => Vec::new(),
    }
}

fn mpint_bytes(be: &[u8]) -> Vec<u8> {
    MpInt::from_unsigned_be(be).as_bytes().to_vec()
}

/// The hand-made seeds: (file name, bytes).
fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let p14 = Group::Modp2048.prime();
    let mut p14_minus_1 = p14.to_vec();
    *p14_minus_1.last_mut().unwrap() -= 1;
    for (i, m) in METHODS.iter().enumerate() {
        let idx = u8::try_from(i).unwrap();
        let name = m.name.replace('@', "_at_");
        let mut add = |what: &str, body: Vec<u8>| {
            out.push((format!("{idx:02}-{name}-{what}"), body));
        };
        match m.family {
            KexFamily::Ecdh => {
                let real = client_value(i);
                add("server-real", [vec![idx, 0], real.clone()].concat());
                add("server-zero", [vec![idx, 0], vec![0; real.len()]].concat());
                add(
                    "server-short",
                    [vec![idx, 0], real[..real.len() - 1].to_vec()].concat(),
                );
                let reply_len = match m.secret_encoding {
                    SecretEncoding::String if m.hash.output_len() == 32 => 1088 + 32,
                    SecretEncoding::String => 1039 + 32,
                    SecretEncoding::MpInt => real.len(),
                };
                add(
                    "client-zero",
                    [vec![idx, 1], chunk(&vec![0; reply_len]), b"sig".to_vec()].concat(),
                );
                add(
                    "client-ones",
                    [vec![idx, 1], chunk(&vec![1; reply_len]), Vec::new()].concat(),
                );
            }
            KexFamily::Dh => {
                add("server-real", [vec![idx, 0], client_value(i)].concat());
                add("server-one", vec![idx, 0, 1]);
                add(
                    "server-p-1",
                    [vec![idx, 0], mpint_bytes(&p14_minus_1)].concat(),
                );
                add(
                    "client-two",
                    [vec![idx, 1], chunk(&[2]), Vec::new()].concat(),
                );
                add(
                    "client-p-1",
                    [vec![idx, 1], chunk(&mpint_bytes(&p14_minus_1))].concat(),
                );
            }
            _ => {
                let req: Vec<u8> = [2048u32, 2048, 4096]
                    .iter()
                    .flat_map(|w| w.to_be_bytes())
                    .collect();
                add(
                    "server-e",
                    [vec![idx, 0], chunk(&req), vec![0x12, 0x34, 0x56, 0x78]].concat(),
                );
                add(
                    "server-bad-request",
                    [vec![idx, 0], chunk(&[0xff; 12]), vec![5]].concat(),
                );
                let group = [chunk(&mpint_bytes(p14)), chunk(&[2]), vec![0x33; 200]].concat();
                add("client-group14", [vec![idx, 1], chunk(&group)].concat());
                let small = [
                    chunk(&mpint_bytes(Group::Oakley1024.prime())),
                    chunk(&[2]),
                    vec![7],
                ]
                .concat();
                add("client-small-group", [vec![idx, 1], chunk(&small)].concat());
            }
        }
    }
    out
}

#[test]
fn seeds_run_and_are_on_disk() {
    let seeds = seeds();
    if std::env::var_os("WHELK_WRITE_SEEDS").is_some() {
        fs::create_dir_all(dir()).unwrap();
        for (name, body) in &seeds {
            fs::write(dir().join(name), body).unwrap();
        }
    }
    for (name, body) in &seeds {
        kex_peer_value(body);
        let on_disk = fs::read(dir().join(name))
            .unwrap_or_else(|e| panic!("seed {name} missing (WHELK_WRITE_SEEDS=1): {e}"));
        assert_eq!(&on_disk, body, "seed {name} is stale (WHELK_WRITE_SEEDS=1)");
    }
}

#[test]
fn corpus_replays_without_panics() {
    let mut files: Vec<PathBuf> = fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= METHODS.len() * 4, "corpus too small");
    for f in files {
        kex_peer_value(&fs::read(&f).unwrap());
    }
}

#[test]
fn short_and_empty_inputs() {
    for data in [&[][..], &[0], &[1, 0], &[255, 255], &[14, 1, 0, 0]] {
        kex_peer_value(data);
    }
}
