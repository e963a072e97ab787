//! Replays `testdata/fuzz/auth_server/` through the fuzz target's body
//! (`whelk_auth::fuzzing::server`), so stable `cargo test` covers every seed and every
//! regression input the fuzzer found.
//!
//! `WHELK_WRITE_SEEDS=1 cargo test -p whelk-auth --test fuzz_corpus` (re)writes the seeds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use common::{ed25519, rng};
use whelk_auth::{fuzzing, publickey_signed_data};
use whelk_keys::SigAlg;
use whelk_wire::msg::{
    AuthMethod, ChannelOpen, ChannelOpenKind, Message, UserauthInfoResponse, UserauthRequest,
    UserauthSuccess,
};
use whelk_wire::types::Text;

/// The fuzz harness's session id (see `whelk_auth::fuzzing::server`).
const FUZZ_SESSION_ID: [u8; 32] = [7; 32];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/fuzz/auth_server")
}

fn record(mode: u8, msgs: &[Message]) -> Vec<u8> {
    let mut out = vec![mode];
    for m in msgs {
        let b = m.to_bytes().unwrap();
        out.extend_from_slice(&u16::try_from(b.len()).unwrap().to_be_bytes());
        out.extend_from_slice(&b);
    }
    out
}

fn req(user: &str, method: AuthMethod) -> Message {
    Message::UserauthRequest(UserauthRequest {
        user: Text::from(user.to_string()),
        service: Text::from("ssh-connection"),
        method,
    })
}

fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let key = ed25519(1);
    let blob = Bytes::copy_from_slice(key.public_key().blob());
    let data = publickey_signed_data(
        &FUZZ_SESSION_ID,
        b"alice",
        b"ssh-connection",
        b"ssh-ed25519",
        &blob,
        None,
    );
    let sig = Bytes::from(key.sign(SigAlg::Ed25519, &data, &mut rng(1)).unwrap());
    let query = req(
        "alice",
        AuthMethod::PublicKey {
            algorithm: Text::from("ssh-ed25519"),
            public_key: blob.clone(),
            signature: None,
        },
    );
    let signed = req(
        "alice",
        AuthMethod::PublicKey {
            algorithm: Text::from("ssh-ed25519"),
            public_key: blob,
            signature: Some(sig),
        },
    );
    let password = |p: &'static [u8], new: Option<&'static [u8]>| {
        req(
            "alice",
            AuthMethod::Password {
                password: Bytes::from_static(p),
                new_password: new.map(Bytes::from_static),
            },
        )
    };
    let kbd = req(
        "alice",
        AuthMethod::KeyboardInteractive {
            language: Text::from(""),
            submethods: Text::from("pam"),
        },
    );
    let info = Message::UserauthInfoResponse(UserauthInfoResponse {
        responses: vec![Bytes::from_static(b"123456")],
    });
    let open = Message::ChannelOpen(ChannelOpen {
        sender: 0,
        initial_window: 0x20_0000,
        max_packet: 0x8000,
        kind: ChannelOpenKind::Session,
    });
    vec![
        (
            "seed-none-password",
            record(3, &[req("alice", AuthMethod::None), password(b"pw", None)]),
        ),
        (
            "seed-publickey",
            record(3, &[query.clone(), signed.clone()]),
        ),
        (
            "seed-chain",
            record(0x13, &[query, signed, password(b"pw", None)]),
        ),
        (
            "seed-password-change",
            record(1, &[password(b"old", None), password(b"old", Some(b"new"))]),
        ),
        (
            "seed-kbd-int",
            record(1, &[kbd.clone(), info.clone(), info]),
        ),
        (
            "seed-a01-success",
            record(0, &[Message::UserauthSuccess(UserauthSuccess {})]),
        ),
        (
            "seed-a02-channel-open",
            record(0, &[req("a", AuthMethod::None), open]),
        ),
        (
            "seed-user-change",
            record(
                2,
                &[password(b"x", None), req("root", AuthMethod::None), kbd],
            ),
        ),
        (
            "seed-many-failures",
            record(0, &vec![password(b"bad", None); 8]),
        ),
    ]
}

#[test]
fn replay_auth_server_corpus() {
    let dir = dir();
    if std::env::var_os("WHELK_WRITE_SEEDS").is_some() {
        fs::create_dir_all(&dir).unwrap();
        for (name, data) in seeds() {
            fs::write(dir.join(name), data).unwrap();
        }
    }
    for (_, data) in seeds() {
        fuzzing::server(&data);
    }
    let mut n = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        fuzzing::server(&fs::read(&path).unwrap());
        n += 1;
    }
    assert!(n >= seeds().len(), "seeds missing in {}", dir.display());
}
