//! Replays the `channel_ops` fuzz corpus (`testdata/fuzz/channel_ops/`) through the body of
//! the fuzz target (`whelk_channel::fuzzing::channel_ops`), so plain `cargo test` covers every
//! seed and every input the fuzzer found.
//!
//! The hand-written seeds come from [`seeds`]; `WHELK_WRITE_SEEDS=1 cargo test -p
//! whelk-channel --test fuzz_corpus` (re)writes them into the corpus directory. A further
//! test runs a few thousand deterministic pseudo-random inputs through the same body.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::path::PathBuf;

use whelk_channel::fuzzing::channel_ops;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/fuzz/channel_ops")
}

// Operation bytes of the fuzz body: low nibble = operation, bit 7 = side (0 or 1).
const INJECT: u8 = 0;
const TRANSFER: u8 = 1;
const OPEN: u8 = 2;
const WRITE: u8 = 3;
const READ: u8 = 4;
const EOF: u8 = 5;
const CLOSE: u8 = 6;
const REQUEST: u8 = 7;
const GLOBAL: u8 = 8;
const ANSWER_OPEN: u8 = 9;
const RESPOND: u8 = 10;
const WRITE_EXT: u8 = 11;
const SETTLE: u8 = 12;
const S1: u8 = 0x80;

/// Opens a session from side 0 (the client with flags 0) and accepts it on side 1.
fn session() -> Vec<u8> {
    vec![OPEN, 0, TRANSFER, 0, S1 | ANSWER_OPEN, 0, S1 | TRANSFER, 3]
}

#[rustfmt::skip]
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut v = Vec::new();

    let mut data = vec![0u8];
    data.extend(session());
    data.extend([
        WRITE, 0, 200,          TRANSFER, 30,
        S1 | READ, 1, 255,      S1 | TRANSFER, 5,
        WRITE, 0, 255,          S1 | WRITE, 0, 100,
        S1 | WRITE_EXT, 0, 50,  TRANSFER, 40,
        S1 | TRANSFER, 40,      READ, 1, 255,
        EOF, 0,                 S1 | CLOSE, 0,
        SETTLE, 0,
    ]);
    v.push(("session_data_eof_close", data));

    let mut reqs = vec![0u8];
    reqs.extend(session());
    reqs.extend([
        REQUEST, 0b0000_1101,   REQUEST, 0b0000_0001,   REQUEST, 0b0001_1101,
        TRANSFER, 10,
        S1 | RESPOND, 2,        S1 | RESPOND, 1,        S1 | RESPOND, 0,
        S1 | TRANSFER, 10,
        GLOBAL, 0x80,           GLOBAL, 0x82,           GLOBAL, 0x83,
        TRANSFER, 10,           S1 | RESPOND, 1,        S1 | TRANSFER, 10,
        SETTLE, 0,
    ]);
    v.push(("requests_out_of_order", reqs));

    // WINDOW_ADJUST (93) of 0xffffffff on channel 0, twice.
    let mut overflow = vec![0u8];
    overflow.extend(session());
    for _ in 0..2 {
        overflow.extend([INJECT, 13, 8, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    }
    overflow.extend([SETTLE, 0]);
    v.push(("inject_window_overflow", overflow));

    // CHANNEL_DATA (94) for channel 0xdeadbeef.
    let mut unknown = vec![0u8];
    unknown.extend(session());
    unknown.extend([INJECT, 14, 9, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1, b'A', SETTLE, 0]);
    v.push(("inject_data_unknown_channel", unknown));

    // CHANNEL_CLOSE (97) twice, then CHANNEL_DATA, on channel 0.
    let mut double_close = vec![0u8];
    double_close.extend(session());
    double_close.extend([
        INJECT, 17, 4, 0, 0, 0, 0,
        INJECT, 17, 4, 0, 0, 0, 0,
        INJECT, 14, 9, 0, 0, 0, 0, 0, 0, 0, 1, b'B',
        SETTLE, 0,
    ]);
    v.push(("inject_double_close", double_close));

    // Limits on (flag 2), side 0 is the server (flag 1): the client side opens many channels.
    let mut flood = vec![3u8];
    for _ in 0..8 {
        flood.extend([S1 | OPEN, 1, S1 | TRANSFER, 0, ANSWER_OPEN, 0]);
    }
    flood.extend([TRANSFER, 20, S1 | TRANSFER, 20, SETTLE, 0]);
    v.push(("limits_open_flood", flood));

    let mut exhaust = vec![0u8];
    exhaust.extend(session());
    for _ in 0..6 {
        exhaust.extend([WRITE, 0, 255, TRANSFER, 50, S1 | READ, 0, 8, S1 | TRANSFER, 5]);
    }
    exhaust.extend([SETTLE, 0]);
    v.push(("window_exhaustion_refill", exhaust));

    v
}

#[test]
fn seeds_run_clean() {
    let write = std::env::var_os("WHELK_WRITE_SEEDS").is_some();
    if write {
        fs::create_dir_all(corpus_dir()).unwrap();
    }
    for (name, bytes) in seeds() {
        channel_ops(&bytes);
        if write {
            fs::write(corpus_dir().join(name), &bytes).unwrap();
        }
    }
}

#[test]
fn replay_corpus() {
    let mut n = 0;
    for entry in fs::read_dir(corpus_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = fs::read(&path).unwrap();
            channel_ops(&bytes);
            n += 1;
        }
    }
    assert!(n >= seeds().len(), "corpus has only {n} inputs");
}

#[test]
fn pseudo_random_inputs() {
    // xorshift64*: deterministic, no RNG dependency.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    for _ in 0..3000 {
        let len = usize::try_from(next() % 400).unwrap();
        let input: Vec<u8> = (0..len).map(|_| next().to_le_bytes()[7]).collect();
        channel_ops(&input);
    }
}
