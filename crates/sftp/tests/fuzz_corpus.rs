//! Replays the `sftp_server_input` and `sftp_client_input` fuzz corpora
//! (`testdata/fuzz/sftp_*/`) through the bodies of the fuzz targets
//! (`whelk_sftp::fuzzing`), so plain `cargo test` covers every seed and every input the
//! fuzzer found. `WHELK_WRITE_SEEDS=1 cargo test -p whelk-sftp --test fuzz_corpus` (re)writes
//! the hand-written seeds. A further test runs deterministic pseudo-random inputs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap
)]

use std::fs;
use std::path::PathBuf;

use bytes::Bytes;
use whelk_sftp::codec::{
    Attrs, ExtendedRequest as E, Handle, Name, OpenFlags, Packet, Request, Response, Status,
    StatusCode,
};
use whelk_sftp::fuzzing::{client_input, server_input};
use whelk_wire::types::Text;

fn dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/fuzz")
        .join(target)
}

fn req(id: u32, request: Request) -> Vec<u8> {
    Packet::Request { id, request }.to_vec()
}

fn resp(id: u32, response: Response) -> Vec<u8> {
    Packet::Response { id, response }.to_vec()
}

fn h(n: u8) -> Handle {
    Handle::new(Bytes::from(vec![0, 0, 0, n])).unwrap()
}

fn server_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut v = Vec::new();
    let mut session = vec![0u8];
    session.extend(req(
        1,
        Request::Open {
            filename: Text::from("f"),
            pflags: OpenFlags::READ | OpenFlags::WRITE | OpenFlags::CREAT,
            attrs: Attrs::default(),
        },
    ));
    session.extend(req(
        2,
        Request::Write {
            handle: h(1),
            offset: 0,
            data: Bytes::from_static(b"hello"),
        },
    ));
    session.extend(req(
        3,
        Request::Read {
            handle: h(1),
            offset: 0,
            len: 0xffff_ffff,
        },
    ));
    session.extend(req(
        4,
        Request::Opendir {
            path: Text::from("/"),
        },
    ));
    session.extend(req(5, Request::Readdir { handle: h(2) }));
    session.extend(req(6, Request::Close { handle: h(1) }));
    session.extend(req(7, Request::Extended(E::Limits)));
    session.extend(req(
        8,
        Request::Extended(E::Statvfs {
            path: Text::from("/"),
        }),
    ));
    session.extend(req(
        9,
        Request::Symlink {
            link: Text::from("l"),
            target: Text::from("t"),
        },
    ));
    v.push(("session", session.clone()));
    let mut reversed = session.clone();
    reversed[0] = 3;
    v.push(("session_read_only_reversed", reversed));
    let mut exhaust = vec![2u8];
    for id in 0..10 {
        exhaust.extend(req(
            id,
            Request::Opendir {
                path: Text::from("/"),
            },
        ));
    }
    v.push(("handle_exhaustion", exhaust));
    v.push(("setstat_bad_attrs", {
        let mut b = vec![0u8, 0, 0, 0, 18, 9, 0, 0, 0, 1, 0, 0, 0, 1, b'f'];
        b.extend_from_slice(&[0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        b
    }));
    v.push(("oversized_length", vec![0, 0xff, 0xff, 0xff, 0xff, 3]));
    v.push(("second_init", vec![0, 0, 0, 0, 5, 1, 0, 0, 0, 3]));
    v.push(("unknown_type", vec![0, 0, 0, 0, 5, 99, 0, 0, 0, 1]));
    v.push(("big_write", {
        let mut b = vec![0u8];
        b.extend(req(
            1,
            Request::Write {
                handle: h(1),
                offset: 0,
                data: Bytes::from(vec![0; 1200]),
            },
        ));
        b
    }));
    v.push(("duplicate_id", {
        let mut b = vec![0u8];
        b.extend(req(
            1,
            Request::Stat {
                path: Text::from("/"),
            },
        ));
        b.extend(req(
            1,
            Request::Stat {
                path: Text::from("/"),
            },
        ));
        b
    }));
    v
}

fn client_seeds() -> Vec<(&'static str, Vec<u8>)> {
    // Request ids of the fuzz body: 0 OPEN, 1 READ(16), 2 READDIR, 3 STAT, 4 CLOSE, 5 statvfs,
    // 6 limits, 7 users-groups-by-id, 8 unknown extension.
    let mut v = Vec::new();
    let mut all = vec![7u8];
    all.extend(resp(0, Response::Handle(h(1))));
    all.extend(resp(
        1,
        Response::Data(Bytes::from_static(b"0123456789abcdef")),
    ));
    all.extend(resp(
        2,
        Response::Name(vec![Name {
            filename: Text::from("../../.bashrc"),
            longname: Text::from("x"),
            attrs: Attrs::default(),
        }]),
    ));
    all.extend(resp(
        3,
        Response::Attrs(Attrs {
            size: Some(1),
            ..Attrs::default()
        }),
    ));
    all.extend(resp(4, Status::ok().into()));
    all.extend(resp(
        5,
        Response::ExtendedReply(whelk_sftp::codec::Statvfs::default().encode()),
    ));
    all.extend(resp(
        6,
        Response::ExtendedReply(whelk_sftp::codec::Limits::default().encode()),
    ));
    all.extend(resp(
        7,
        Response::ExtendedReply(
            whelk_sftp::codec::UsersGroups {
                users: vec![Text::from("root")],
                groups: vec![Text::from("root")],
            }
            .encode(),
        ),
    ));
    all.extend(resp(8, Response::ExtendedReply(Bytes::from_static(b"raw"))));
    v.push(("every_reply", all));
    let mut long = vec![0u8];
    long.extend(resp(1, Response::Data(Bytes::from(vec![0; 17]))));
    v.push(("data_longer_than_asked", long));
    let mut wrong = vec![0u8];
    wrong.extend(resp(3, Response::Data(Bytes::new())));
    v.push(("wrong_kind", wrong));
    let mut unknown = vec![0u8];
    unknown.extend(resp(99, StatusCode::OK.into()));
    v.push(("unknown_id", unknown));
    let mut twice = vec![0u8];
    twice.extend(resp(4, StatusCode::OK.into()));
    twice.extend(resp(4, StatusCode::OK.into()));
    v.push(("answered_twice", twice));
    v.push((
        "name_count_huge",
        vec![0, 0, 0, 0, 9, 104, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff],
    ));
    v.push(("bad_limits_body", {
        let mut b = vec![0u8];
        b.extend(resp(
            6,
            Response::ExtendedReply(Bytes::from_static(b"short")),
        ));
        b
    }));
    v
}

fn run(target: &str, seeds: Vec<(&'static str, Vec<u8>)>, body: fn(&[u8])) {
    let write = std::env::var_os("WHELK_WRITE_SEEDS").is_some();
    if write {
        fs::create_dir_all(dir(target)).unwrap();
    }
    let n_seeds = seeds.len();
    for (name, bytes) in seeds {
        body(&bytes);
        if write {
            fs::write(dir(target).join(name), &bytes).unwrap();
        }
    }
    let mut n = 0;
    for entry in fs::read_dir(dir(target)).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            body(&fs::read(&path).unwrap());
            n += 1;
        }
    }
    assert!(n >= n_seeds, "{target} corpus has only {n} inputs");
}

#[test]
fn replay_server_corpus() {
    run("sftp_server_input", server_seeds(), server_input);
}

#[test]
fn replay_client_corpus() {
    run("sftp_client_input", client_seeds(), client_input);
}

#[test]
fn pseudo_random_inputs() {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    // Mutations of the seeds: byte flips, truncations, splices.
    let seeds: Vec<Vec<u8>> = server_seeds()
        .into_iter()
        .chain(client_seeds())
        .map(|(_, b)| b)
        .collect();
    for i in 0..4000 {
        let mut input = seeds[(next() as usize) % seeds.len()].clone();
        let flips = next() % 6;
        for _ in 0..flips {
            if input.is_empty() {
                break;
            }
            let at = (next() as usize) % input.len();
            input[at] = next().to_le_bytes()[3];
        }
        if next() % 4 == 0 {
            let cut = (next() as usize) % (input.len() + 1);
            input.truncate(cut);
        }
        if i % 2 == 0 {
            server_input(&input);
        } else {
            client_input(&input);
        }
    }
}
