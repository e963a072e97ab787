//! Replays the `x11_setup` fuzz corpus (`testdata/fuzz/x11_setup/`) through the body of
//! the fuzz target (`whelk::x11::fuzzing::setup`), so plain `cargo test` covers every seed
//! and every input the fuzzer found. `WHELK_WRITE_SEEDS=1 cargo test -p whelk --test
//! x11_fuzz_corpus` (re)writes the hand-written seeds. A further test runs deterministic
//! pseudo-random inputs and mutations of the seeds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use std::path::PathBuf;

use whelk::x11::encode_setup;
use whelk::x11::fuzzing::{FAKE, REAL, rewriter, setup};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/fuzz/x11_setup")
}

const MIT: &[u8] = b"MIT-MAGIC-COOKIE-1";

/// Seeds: the fake cookie in both byte orders (with and without requests behind the
/// header), and refusals: wrong cookie, short cookie, other protocols, no
/// authorization, a bad byte order, huge lengths, truncated headers.
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut wrong = FAKE;
    wrong[7] ^= 0x40;
    vec![
        ("fake-lsb", encode_setup(b'l', 11, 0, MIT, &FAKE)),
        ("fake-msb", encode_setup(b'B', 11, 0, MIT, &FAKE)),
        (
            "fake-lsb-then-requests",
            [
                encode_setup(b'l', 11, 0, MIT, &FAKE),
                vec![55, 0, 4, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            ]
            .concat(),
        ),
        (
            "real-cookie-presented",
            encode_setup(b'l', 11, 0, MIT, &REAL),
        ),
        ("wrong-cookie", encode_setup(b'B', 11, 0, MIT, &wrong)),
        ("short-cookie", encode_setup(b'l', 11, 0, MIT, &FAKE[..8])),
        ("no-auth", encode_setup(b'l', 11, 0, b"", b"")),
        (
            "xdm-auth",
            encode_setup(b'B', 11, 0, b"XDM-AUTHORIZATION-1", &[1; 24]),
        ),
        ("bad-order", encode_setup(b'x', 11, 0, MIT, &FAKE)),
        (
            "huge-lengths",
            [&b"l\0\x0b\0\0\0\xff\xff\xff\xff\0\0"[..], &[0x41; 64][..]].concat(),
        ),
        (
            "truncated",
            encode_setup(b'l', 11, 0, MIT, &FAKE)[..40].to_vec(),
        ),
        ("empty", Vec::new()),
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
        setup(&data);
        n += 1;
    }
    assert!(
        n >= seeds().len(),
        "only {n} corpus files in {}",
        d.display()
    );
}

/// Only the seeds presenting the fake cookie are rewritten.
#[test]
fn seeds_give_their_results() {
    for (name, bytes) in seeds() {
        setup(&bytes);
        let r = rewriter().handle_input(&bytes);
        let valid = name.starts_with("fake");
        assert_eq!(matches!(r, Ok(Some(_))), valid, "{name}: {r:?}");
        if name == "truncated" || name == "empty" {
            assert_eq!(r, Ok(None), "{name}");
        }
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
            let len = (next() % 80) as usize;
            let mut d: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if let Some(first) = d.first_mut() {
                *first = [b'B', b'l'][(next() % 2) as usize];
            }
            d
        };
        if !data.is_empty() {
            for _ in 0..=(next() % 3) {
                let at = (next() % data.len() as u64) as usize;
                data[at] = next() as u8;
            }
        }
        if next() % 3 == 0 {
            let cut = (next() % (data.len() as u64 + 1)) as usize;
            data.truncate(cut);
        }
        setup(&data);
    }
}
