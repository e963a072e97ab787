//! Replays the `socks_handshake` fuzz corpus (`testdata/fuzz/socks_handshake/`) through the
//! body of the fuzz target (`whelk::socks::fuzzing::handshake`), so plain `cargo test`
//! covers every seed and every input the fuzzer found. `WHELK_WRITE_SEEDS=1 cargo test -p
//! whelk --test socks_fuzz_corpus` (re)writes the hand-written seeds. A further test runs
//! deterministic pseudo-random inputs and mutations of the seeds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use whelk::socks::fuzzing::handshake;
use whelk::socks::{Address, Handshake, Request, Version};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/fuzz/socks_handshake")
}

fn encode(version: Version, address: Address, port: u16) -> Vec<u8> {
    Request {
        version,
        address,
        port,
    }
    .encode()
    .unwrap()
}

/// Seeds: valid SOCKS 4, 4a and 5 CONNECT requests (with early data behind some), and
/// the refusals and malformed inputs the server answers or drops.
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let v4 = encode(
        Version::Socks4,
        Address::Ipv4(Ipv4Addr::new(10, 0, 0, 7)),
        80,
    );
    let v4a = encode(
        Version::Socks4a,
        Address::Domain("example.net".into()),
        8080,
    );
    let v5_name = encode(Version::Socks5, Address::Domain("example.org".into()), 443);
    let v5_v4 = encode(Version::Socks5, Address::Ipv4(Ipv4Addr::LOCALHOST), 22);
    let v5_v6 = encode(Version::Socks5, Address::Ipv6(Ipv6Addr::LOCALHOST), 22);
    vec![
        ("v4-connect", v4.clone()),
        (
            "v4-connect-userid-early-data",
            [
                &[4, 1, 0, 80, 192, 0, 2, 1][..],
                b"alice\0GET / HTTP/1.0\r\n\r\n",
            ]
            .concat(),
        ),
        ("v4a-connect", v4a),
        (
            "v4a-connect-userid",
            [&[4, 1, 0, 22, 0, 0, 0, 9][..], b"bob\0host.example\0"].concat(),
        ),
        ("v4-bind", vec![4, 2, 0, 80, 1, 2, 3, 4, 0]),
        ("v5-connect-name", v5_name.clone()),
        ("v5-connect-ipv4", v5_v4),
        (
            "v5-connect-ipv6-early-data",
            [v5_v6, b"SSH-2.0-x\r\n".to_vec()].concat(),
        ),
        (
            "v5-connect-after-several-methods",
            [&[5, 3, 2, 1, 0][..], &v5_name[3..]].concat(),
        ),
        ("v5-no-acceptable-method", vec![5, 1, 2]),
        (
            "v5-udp-associate",
            vec![5, 1, 0, 5, 3, 0, 1, 127, 0, 0, 1, 0, 53],
        ),
        ("v5-bad-atyp", vec![5, 1, 0, 5, 1, 0, 9, 0, 0]),
        ("v5-empty-name", vec![5, 1, 0, 5, 1, 0, 3, 0, 0, 80]),
        (
            "http-not-socks",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ),
        ("v4-long-userid", [&v4[..8], &[b'u'; 300][..]].concat()),
    ]
}

#[test]
fn replay_corpus() {
    let d = dir();
    if std::env::var_os("WHELK_WRITE_SEEDS").is_some() {
        std::fs::create_dir_all(&d).unwrap();
        for (name, bytes) in seeds() {
            std::fs::write(d.join(format!("seed-{name}")), bytes).unwrap();
        }
    }
    let mut n = 0;
    for entry in std::fs::read_dir(&d).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        handshake(&data);
        n += 1;
    }
    assert!(
        n >= seeds().len(),
        "only {n} corpus files in {}",
        d.display()
    );
}

/// Each valid seed gives the request it encodes.
#[test]
fn valid_seeds_give_their_requests() {
    for (name, bytes) in seeds() {
        handshake(&bytes);
        let mut hs = Handshake::new();
        let r = hs.handle_input(&bytes);
        let valid = name.contains("connect") && !name.contains("long");
        assert_eq!(matches!(r, Ok(Some(_))), valid, "{name}: {r:?}");
    }
}

#[test]
fn pseudo_random_inputs_and_mutations() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let seeds = seeds();
    for i in 0..3000 {
        let mut data = if i % 2 == 0 {
            seeds[(next() % seeds.len() as u64) as usize].1.clone()
        } else {
            let len = (next() % 64) as usize;
            let mut d: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if let Some(first) = d.first_mut() {
                *first = [4, 5][(next() % 2) as usize];
            }
            d
        };
        if !data.is_empty() {
            for _ in 0..=(next() % 4) {
                let at = (next() % data.len() as u64) as usize;
                data[at] = next() as u8;
            }
        }
        if next() % 3 == 0 {
            let cut = (next() % (data.len() as u64 + 1)) as usize;
            data.truncate(cut);
        }
        handshake(&data);
    }
}
