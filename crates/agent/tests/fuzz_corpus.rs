//! Replays the `agent_message` fuzz corpus (`testdata/fuzz/agent_message/`) through the body
//! of the fuzz target (`whelk_agent::fuzzing::agent_message`), so plain `cargo test` covers
//! every seed and every input the fuzzer found. `WHELK_WRITE_SEEDS=1 cargo test -p
//! whelk-agent --test fuzz_corpus` (re)writes the hand-written seeds. A further test runs
//! deterministic pseudo-random inputs and mutations of the seeds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use std::path::PathBuf;

use bytes::Bytes;
use whelk_agent::fuzzing::agent_message;
use whelk_agent::proto::{Constraint, code};
use whelk_agent::{AddIdentity, Identity, Request, Response};
use whelk_keys::PrivateKey;
use zeroize::Zeroizing;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/fuzz/agent_message")
}

fn body(frame: Vec<u8>) -> Vec<u8> {
    frame[4..].to_vec()
}

/// Seeds: request and reply bodies (what `agent_message` decodes directly), and whole frame
/// streams (what its server connection reads).
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let ed = PrivateKey::ed25519_from_seed(&[5; 32]);
    let add = |constraints: Vec<Constraint>| {
        Request::Add(Box::new(AddIdentity {
            key: ed.clone(),
            certificate: None,
            comment: Bytes::from_static(b"seed"),
            constraints,
        }))
        .to_frame()
        .unwrap()
    };
    let sign = Request::Sign {
        key_blob: Bytes::copy_from_slice(ed.public_key().blob()),
        data: Bytes::from_static(b"to be signed"),
        flags: 0,
    }
    .to_frame()
    .unwrap();
    let list = Request::RequestIdentities.to_frame().unwrap();
    let lock = Request::Lock {
        passphrase: Zeroizing::new(b"pw".to_vec()),
    }
    .to_frame()
    .unwrap();
    let unlock = Request::Unlock {
        passphrase: Zeroizing::new(b"pw".to_vec()),
    }
    .to_frame()
    .unwrap();
    let query = Request::Extension {
        name: Bytes::from_static(b"query"),
        contents: Bytes::new(),
    }
    .to_frame()
    .unwrap();
    let bind = Request::Extension {
        name: Bytes::from_static(b"session-bind@openssh.com"),
        contents: Bytes::from_static(&[0, 0, 0, 1, 1, 0, 0, 0, 1, 2, 0, 0, 0, 1, 3, 1]),
    }
    .to_frame()
    .unwrap();
    let remove = Request::Remove {
        key_blob: Bytes::copy_from_slice(ed.public_key().blob()),
    }
    .to_frame()
    .unwrap();
    let identities = Response::Identities(vec![Identity {
        key_blob: Bytes::copy_from_slice(ed.public_key().blob()),
        comment: Bytes::from_static(b"c"),
    }])
    .to_frame()
    .unwrap();

    let mut session = Vec::new();
    for f in [
        &add(vec![]),
        &list,
        &sign,
        &lock,
        &list,
        &unlock,
        &remove,
        &query,
        &bind,
    ] {
        session.extend_from_slice(f);
    }
    let mut constrained_session = add(vec![Constraint::Lifetime(0), Constraint::Confirm]);
    constrained_session.extend_from_slice(&sign);
    constrained_session.extend_from_slice(&Request::RemoveAll.to_frame().unwrap());

    vec![
        ("req-add-ed25519", body(add(vec![]))),
        (
            "req-add-constrained",
            body(add(vec![Constraint::Lifetime(60), Constraint::Confirm])),
        ),
        ("req-sign", body(sign.clone())),
        ("req-list", body(list.clone())),
        ("req-lock", body(lock)),
        ("req-query", body(query)),
        ("req-session-bind", body(bind)),
        ("resp-identities", body(identities)),
        (
            "resp-signature",
            body(
                Response::Signature(Bytes::from_static(b"\0\0\0\x0bssh-ed25519\0\0\0\0"))
                    .to_frame()
                    .unwrap(),
            ),
        ),
        ("resp-success", vec![code::SUCCESS]),
        ("stream-session", session),
        ("stream-constrained", constrained_session),
        ("stream-r06-ffffffff", vec![0xff, 0xff, 0xff, 0xff, 0x0b]),
        ("stream-empty-frame", vec![0, 0, 0, 0]),
        ("stream-unknown", vec![0, 0, 0, 1, 99, 0, 0, 0, 1, 20]),
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
        agent_message(&data);
        n += 1;
    }
    assert!(
        n >= seeds().len(),
        "only {n} corpus files in {}",
        d.display()
    );
}

#[test]
fn seeds_run_without_the_corpus() {
    for (_, bytes) in seeds() {
        agent_message(&bytes);
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
            (0..len).map(|_| next() as u8).collect()
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
        agent_message(&data);
    }
}
