//! Property tests: every parser, fed mutations of valid inputs (byte flips, truncations,
//! insertions), returns a typed result and never panics; whatever it accepts re-encodes to
//! itself (the oracles in `whelk_keys::fuzzing`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::path::Path;

use proptest::prelude::*;
use whelk_keys::fuzzing;

type Oracle = fn(&[u8]);

const TARGETS: &[(&str, Oracle)] = &[
    ("keys_public_blob", fuzzing::public_key_blob),
    ("keys_verify", fuzzing::verify),
    ("keys_openssh_private", fuzzing::openssh_private),
    ("keys_pem", fuzzing::pem),
    ("keys_public_any", fuzzing::public_any),
    ("keys_known_hosts", fuzzing::known_hosts),
    ("keys_authorized_keys", fuzzing::authorized_keys),
    ("keys_certificate", fuzzing::certificate),
    ("keys_sshsig", fuzzing::sshsig),
];

fn seeds() -> Vec<(usize, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/fuzz");
    let mut out = Vec::new();
    for (i, (t, _)) in TARGETS.iter().enumerate() {
        let mut files: Vec<_> = fs::read_dir(root.join(t))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files {
            out.push((i, fs::read(f).unwrap()));
        }
    }
    out
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(i, x)| Mutation::Flip(i, x)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, v)| Mutation::Insert(i, v)),
        (any::<usize>(), 1usize..16).prop_map(|(i, n)| Mutation::Delete(i, n)),
    ]
}

fn apply(data: &mut Vec<u8>, m: &Mutation) {
    if data.is_empty() {
        return;
    }
    match m {
        Mutation::Flip(i, x) => {
            let i = i % data.len();
            data[i] ^= x;
        }
        Mutation::Truncate(i) => data.truncate(i % data.len()),
        Mutation::Insert(i, v) => {
            let i = i % (data.len() + 1);
            data.splice(i..i, v.iter().copied());
        }
        Mutation::Delete(i, n) => {
            let i = i % data.len();
            let end = (i + n).min(data.len());
            data.drain(i..end);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_inputs_never_panic(
        seed in any::<prop::sample::Index>(),
        muts in proptest::collection::vec(mutation(), 1..4),
    ) {
        let all = seeds();
        let (target, data) = &all[seed.index(all.len())];
        let mut data = data.clone();
        for m in &muts {
            apply(&mut data, m);
        }
        (TARGETS[*target].1)(&data);
    }
}
