//! Replays the `config_parse` fuzz corpus in `testdata/fuzz/config_parse/` through the body
//! of the fuzz target (`whelk_config::fuzzing::parse`), so stable `cargo test` covers every
//! seed and every regression input the fuzzer found. Also runs the body over generated
//! inputs: every prefix of every seed and a deterministic byte-mutation sweep.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::path::{Path, PathBuf};

use whelk_config::fuzzing;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/fuzz/config_parse")
}

fn corpus() -> Vec<(PathBuf, Vec<u8>)> {
    let dir = corpus_dir();
    let mut files: Vec<(PathBuf, Vec<u8>)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus directory {} is missing: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let data = fs::read(&p).unwrap();
            (p, data)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "corpus {} is empty", dir.display());
    files
}

#[test]
fn replay_config_parse() {
    let files = corpus();
    for (path, data) in &files {
        let r = std::panic::catch_unwind(|| fuzzing::parse(data));
        assert!(
            r.is_ok(),
            "config_parse: {} fails; reproduce with `cargo fuzz run config_parse {}` from fuzz/",
            path.display(),
            path.display()
        );
    }
    eprintln!("config_parse: {} inputs replayed", files.len());
}

#[test]
fn prefixes_of_seeds() {
    let mut n = 0;
    for (_, data) in corpus() {
        for end in 0..=data.len() {
            fuzzing::parse(&data[..end]);
            n += 1;
        }
    }
    eprintln!("{n} prefixes");
}

#[test]
fn byte_mutations_of_seeds() {
    // xorshift: deterministic, no dependency.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    const INTERESTING: &[u8] = b" \t\n\r=\"'\\#%,:![]*?/-+^0123456789abcdefkmgwhsKMGTWHS";
    let mut n = 0;
    for (_, data) in corpus() {
        if data.is_empty() {
            continue;
        }
        for _ in 0..150 {
            let mut d = data.clone();
            for _ in 0..(1 + next() % 4) {
                let i = usize::try_from(next() % d.len() as u64).unwrap();
                let b = INTERESTING[usize::try_from(next() % INTERESTING.len() as u64).unwrap()];
                match next() % 3 {
                    0 => d[i] = b,
                    1 => d.insert(i, b),
                    _ => {
                        if d.len() > 1 {
                            d.remove(i);
                        }
                    }
                }
            }
            fuzzing::parse(&d);
            n += 1;
        }
    }
    eprintln!("{n} mutated inputs");
}
