//! Replays `testdata/fuzz/auth_server/` and `testdata/fuzz/auth_client/` through the fuzz
//! targets' bodies (`whelk_auth::fuzzing::{server, client}`), so stable `cargo test` covers
//! every seed and every regression input the fuzzer found.
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
    AuthMethod, ChannelOpen, ChannelOpenKind, Message, Prompt, UserauthBanner, UserauthFailure,
    UserauthInfoRequest, UserauthInfoResponse, UserauthPasswdChangereq, UserauthPkOk,
    UserauthRequest, UserauthSuccess,
};
use whelk_wire::types::{NameList, Text};

/// The fuzz harness's session id (see `whelk_auth::fuzzing::server`).
const FUZZ_SESSION_ID: [u8; 32] = [7; 32];

fn dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/fuzz")
        .join(target)
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

fn client_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let key = ed25519(1);
    let failure = |methods: &str, partial: bool| {
        Message::UserauthFailure(UserauthFailure {
            methods: NameList::parse(methods).unwrap(),
            partial_success: partial,
        })
    };
    let pk_ok = Message::UserauthPkOk(UserauthPkOk {
        algorithm: Text::from("ssh-ed25519"),
        public_key: Bytes::copy_from_slice(key.public_key().blob()),
    });
    let success = Message::UserauthSuccess(UserauthSuccess {});
    let banner = Message::UserauthBanner(UserauthBanner {
        message: Text::from("hello\x1b[2J"),
        language: Text::from(""),
    });
    let info = Message::UserauthInfoRequest(UserauthInfoRequest {
        name: Text::from("n"),
        instruction: Text::from("i"),
        language: Text::from(""),
        prompts: vec![Prompt {
            prompt: Text::from("Password: "),
            echo: false,
        }],
    });
    let change = Message::UserauthPasswdChangereq(UserauthPasswdChangereq {
        prompt: Text::from("expired"),
        language: Text::from(""),
    });
    let all = "publickey,keyboard-interactive,password";
    vec![
        (
            "seed-publickey",
            record(
                0x10,
                &[banner, failure(all, false), pk_ok.clone(), success.clone()],
            ),
        ),
        (
            "seed-trivial-none",
            record(0x11, std::slice::from_ref(&success)),
        ),
        (
            "seed-kbd-int",
            record(
                0x10,
                &[
                    failure("keyboard-interactive", false),
                    info.clone(),
                    info,
                    success.clone(),
                ],
            ),
        ),
        (
            "seed-password-change",
            record(0x10, &[failure("password", false), change, success.clone()]),
        ),
        (
            "seed-partial",
            record(
                0x10,
                &[
                    failure(all, false),
                    pk_ok.clone(),
                    failure("password", true),
                    success.clone(),
                    success,
                ],
            ),
        ),
        ("seed-unsolicited-pk-ok", record(0x00, &[pk_ok])),
        (
            "seed-give-up",
            record(0x00, &[failure("gssapi-with-mic", false)]),
        ),
    ]
}

type Oracle = fn(&[u8]);
type Seeds = Vec<(&'static str, Vec<u8>)>;

fn targets() -> Vec<(&'static str, Oracle, Seeds)> {
    vec![
        ("auth_server", fuzzing::server as Oracle, seeds()),
        ("auth_client", fuzzing::client as Oracle, client_seeds()),
    ]
}

#[test]
fn replay_auth_corpus() {
    for (target, oracle, seeds) in targets() {
        let dir = dir(target);
        if std::env::var_os("WHELK_WRITE_SEEDS").is_some() {
            fs::create_dir_all(&dir).unwrap();
            for (name, data) in &seeds {
                fs::write(dir.join(name), data).unwrap();
            }
        }
        for (_, data) in &seeds {
            oracle(data);
        }
        let mut n = 0;
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            oracle(&fs::read(&path).unwrap());
            n += 1;
        }
        assert!(n >= seeds.len(), "seeds missing in {}", dir.display());
        eprintln!("{target}: {n} inputs replayed");
    }
}
