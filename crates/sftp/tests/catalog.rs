//! Security catalog rows F05-F09 and F12 against the server state machine and `StdFs`, plus
//! hostile replies to the client (F13) and malformed packets of every kind. Raw bytes go in,
//! decoded packets come out.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap
)]

mod common;

use bytes::Bytes;
use common::t;
use whelk_sftp::Error;
use whelk_sftp::client::{Client, ClientConfig, Event, Reply};
use whelk_sftp::codec::{
    Attrs, Deframer, ExtendedRequest as E, Handle, Name, OpenFlags, Packet, Request, Response,
    Status, StatusCode,
};
use whelk_sftp::fs::{StdFs, StdFsConfig, serve_chunk};
use whelk_sftp::server::{Event as ServerEvent, Server, ServerConfig};

struct Raw {
    server: Server,
    fs: StdFs,
    _dir: tempfile::TempDir,
}

const INIT: &[u8] = &[0, 0, 0, 5, 1, 0, 0, 0, 3];

fn frame(t: u8, body: &[u8]) -> Vec<u8> {
    let mut v = ((body.len() + 1) as u32).to_be_bytes().to_vec();
    v.push(t);
    v.extend_from_slice(body);
    v
}

fn req(id: u32, request: Request) -> Vec<u8> {
    Packet::Request { id, request }.to_vec()
}

fn decode_all(bytes: &[u8]) -> Vec<Packet> {
    let mut d = Deframer::new(u32::MAX);
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = d.push(rest).unwrap();
        rest = &rest[n..];
        if let Some(p) = d.next_packet().unwrap() {
            out.push(Packet::decode(&p).unwrap());
        }
    }
    out
}

impl Raw {
    fn new(config: ServerConfig, fs: StdFsConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), b"content").unwrap();
        let fs = StdFs::new(dir.path(), fs).unwrap();
        let mut r = Self {
            server: Server::new(config),
            fs,
            _dir: dir,
        };
        let out = r.feed(INIT).unwrap();
        assert!(matches!(out[..], [Packet::Version { version: 3, .. }]));
        r
    }

    fn default() -> Self {
        Self::new(ServerConfig::default(), StdFsConfig::default())
    }

    fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Packet>, Error> {
        serve_chunk(&mut self.server, &mut self.fs, bytes).map(|b| decode_all(&b))
    }

    /// Sends one packet and returns the single status reply to `id`.
    fn status(&mut self, id: u32, bytes: &[u8]) -> Status {
        match &self.feed(bytes).unwrap()[..] {
            [
                Packet::Response {
                    id: got,
                    response: Response::Status(s),
                },
            ] => {
                assert_eq!(*got, id);
                s.clone()
            }
            other => panic!("expected one STATUS, got {other:?}"),
        }
    }

    fn handle(&mut self, id: u32, request: Request) -> Handle {
        match &self.feed(&req(id, request)).unwrap()[..] {
            [
                Packet::Response {
                    response: Response::Handle(h),
                    ..
                },
            ] => h.clone(),
            other => panic!("expected HANDLE, got {other:?}"),
        }
    }
}

// ----- F05: message length, order of INIT -----

#[test]
fn f05_oversized_length_is_refused_before_buffering() {
    for len in [0x0010_0000u32, 0xffff_ffff, 256 * 1024 + 1] {
        let mut r = Raw::default();
        let mut bytes = len.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[3, 0, 0, 0, 1]);
        let err = r.feed(&bytes).unwrap_err();
        assert_eq!(
            err,
            Error::PacketTooLarge {
                len,
                max: 256 * 1024
            }
        );
        // The error latches.
        assert_eq!(r.server.handle_input(INIT), Err(err));
    }
    // Exactly the limit is fine (a WRITE that long is refused by the write cap instead).
    let mut r = Raw::default();
    let mut bytes = (256 * 1024u32).to_be_bytes().to_vec();
    bytes.push(6);
    bytes.extend_from_slice(&7u32.to_be_bytes());
    bytes.extend_from_slice(&[0; 256 * 1024 - 5]);
    let out = r.feed(&bytes).unwrap();
    assert!(
        matches!(out[..], [Packet::Response { id: 7, response: Response::Status(ref s) }] if s.code == StatusCode::BAD_MESSAGE)
    );
}

#[test]
fn f05_short_messages() {
    // Length 0: no type byte.
    let mut r = Raw::default();
    assert_eq!(r.feed(&[0, 0, 0, 0]).unwrap_err(), Error::EmptyPacket);
    // A request too short to carry an id cannot be answered: fatal.
    let mut r = Raw::default();
    assert!(r.feed(&[0, 0, 0, 3, 3, 0, 0]).is_err());
    // With an id but nothing else: BAD_MESSAGE for that id.
    let mut r = Raw::default();
    assert_eq!(
        r.status(9, &frame(3, &9u32.to_be_bytes())).code,
        StatusCode::BAD_MESSAGE
    );
}

#[test]
fn f05_messages_before_init_and_second_init() {
    let mut s = Server::new(ServerConfig::default());
    let open = req(
        1,
        Request::Open {
            filename: t("/etc/passwd"),
            pflags: OpenFlags::READ,
            attrs: Attrs::default(),
        },
    );
    assert_eq!(s.handle_input(&open), Err(Error::NotNegotiated(3)));
    assert_eq!(s.poll_event(), None);
    let mut out = Vec::new();
    s.poll_transmit(&mut out);
    assert!(out.is_empty());

    let mut r = Raw::default();
    assert_eq!(r.feed(INIT).unwrap_err(), Error::DuplicateVersion);
    // INIT with a version below 3.
    let mut s = Server::new(ServerConfig::default());
    assert_eq!(
        s.handle_input(&[0, 0, 0, 5, 1, 0, 0, 0, 2]),
        Err(Error::UnsupportedVersion(2))
    );
    // A newer client is answered with version 3.
    let mut s = Server::new(ServerConfig::default());
    s.handle_input(&[0, 0, 0, 5, 1, 0, 0, 0, 6]).unwrap();
    let mut out = Vec::new();
    s.poll_transmit(&mut out);
    assert!(matches!(
        decode_all(&out)[..],
        [Packet::Version { version: 3, .. }]
    ));
    assert!(matches!(
        s.poll_event(),
        Some(ServerEvent::Initialized { version: 3, .. })
    ));
}

// ----- F06: oversized READ / WRITE -----

#[test]
fn f06_read_is_clamped_and_big_write_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("big"), vec![7u8; 600 * 1024]).unwrap();
    let mut r = Raw {
        server: Server::new(ServerConfig::default()),
        fs: StdFs::new(dir.path(), StdFsConfig::default()).unwrap(),
        _dir: dir,
    };
    r.feed(INIT).unwrap();
    let h = r.handle(
        1,
        Request::Open {
            filename: t("big"),
            pflags: OpenFlags::READ,
            attrs: Attrs::default(),
        },
    );
    for offset in [0, 1 << 63] {
        let out = r
            .feed(&req(
                2,
                Request::Read {
                    handle: h.clone(),
                    offset,
                    len: 0xffff_ffff,
                },
            ))
            .unwrap();
        match &out[..] {
            [
                Packet::Response {
                    response: Response::Data(d),
                    ..
                },
            ] => {
                assert_eq!(offset, 0);
                assert_eq!(d.len(), 255 * 1024);
            }
            [
                Packet::Response {
                    response: Response::Status(s),
                    ..
                },
            ] => {
                assert_eq!(offset, 1 << 63);
                assert_eq!(s.code, StatusCode::EOF);
            }
            other => panic!("{other:?}"),
        }
    }
    // The clamp is visible to a backend answering asynchronously, too.
    let mut s = Server::new(ServerConfig::default());
    s.handle_input(INIT).unwrap();
    s.handle_input(&req(
        5,
        Request::Read {
            handle: h.clone(),
            offset: 0,
            len: u32::MAX,
        },
    ))
    .unwrap();
    let _ = s.poll_event();
    match s.poll_event() {
        Some(ServerEvent::Request {
            request: Request::Read { len, .. },
            ..
        }) => assert_eq!(len, 255 * 1024),
        other => panic!("{other:?}"),
    }
    // DATA longer than the clamp is cut by the state machine.
    s.reply(5, Response::Data(Bytes::from(vec![0; 300 * 1024])))
        .unwrap();
    let mut out = Vec::new();
    s.poll_transmit(&mut out);
    match &decode_all(&out)[1..] {
        [
            Packet::Response {
                response: Response::Data(d),
                ..
            },
        ] => assert_eq!(d.len(), 255 * 1024),
        other => panic!("{other:?}"),
    }

    // WRITE above 255 KiB (but within the packet limit): BAD_MESSAGE, nothing written.
    let w = r.handle(
        3,
        Request::Open {
            filename: t("w"),
            pflags: OpenFlags::WRITE | OpenFlags::CREAT,
            attrs: Attrs::default(),
        },
    );
    let s = r.status(
        4,
        &req(
            4,
            Request::Write {
                handle: w.clone(),
                offset: 0,
                data: Bytes::from(vec![1; 255 * 1024 + 1]),
            },
        ),
    );
    assert_eq!(s.code, StatusCode::BAD_MESSAGE);
    assert_eq!(std::fs::metadata(r.fs.root().join("w")).unwrap().len(), 0);
    // WRITE of 1 MiB exceeds the packet limit: the session ends.
    let err = r
        .feed(&req(
            6,
            Request::Write {
                handle: w,
                offset: 0,
                data: Bytes::from(vec![1; 1 << 20]),
            },
        ))
        .unwrap_err();
    assert!(matches!(err, Error::PacketTooLarge { .. }));
}

// ----- F07: handle exhaustion -----

#[test]
fn f07_handle_exhaustion() {
    let mut r = Raw::default();
    let mut ok = Vec::new();
    let mut failures = 0;
    for id in 0..10_000u32 {
        let request = if id % 2 == 0 {
            Request::Opendir { path: t("/") }
        } else {
            Request::Open {
                filename: t("file"),
                pflags: OpenFlags::READ,
                attrs: Attrs::default(),
            }
        };
        match &r.feed(&req(id, request)).unwrap()[..] {
            [
                Packet::Response {
                    response: Response::Handle(h),
                    ..
                },
            ] => ok.push(h.clone()),
            [
                Packet::Response {
                    response: Response::Status(s),
                    ..
                },
            ] => {
                assert_eq!(s.code, StatusCode::FAILURE);
                failures += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(ok.len(), 256);
    assert_eq!(failures, 10_000 - 256);
    assert_eq!(r.server.open_handles(), 256);
    assert_eq!(r.fs.open_handles(), 256);
    // Closing one frees one.
    let h = ok.pop().unwrap();
    assert_eq!(
        r.status(20_000, &req(20_000, Request::Close { handle: h }))
            .code,
        StatusCode::OK
    );
    assert_eq!(r.server.open_handles(), 255);
    r.handle(20_001, Request::Opendir { path: t("/") });
    // A failed OPEN releases its reservation.
    let mut r2 = Raw::default();
    for id in 0..300 {
        r2.status(
            id,
            &req(
                id,
                Request::Open {
                    filename: t("missing"),
                    pflags: OpenFlags::READ,
                    attrs: Attrs::default(),
                },
            ),
        );
    }
    assert_eq!(r2.server.open_handles(), 0);
    // The session ends: every descriptor goes back.
    r.fs.close_all();
    assert_eq!(r.fs.open_handles(), 0);
}

#[test]
fn f07_many_outstanding_requests_apply_back_pressure() {
    let mut s = Server::new(ServerConfig {
        max_outstanding: 4,
        ..ServerConfig::default()
    });
    s.handle_input(INIT).unwrap();
    let mut bytes = Vec::new();
    for id in 0..10 {
        bytes.extend(req(id, Request::Stat { path: t("/") }));
    }
    let n = s.handle_input(&bytes).unwrap();
    assert!(n < bytes.len());
    assert_eq!(s.outstanding(), 4);
    assert_eq!(s.handle_input(&bytes[n..]).unwrap(), 0);
    s.reply(2, Response::Attrs(Attrs::default())).unwrap();
    assert!(s.handle_input(&bytes[n..]).unwrap() > 0);
    // Answers may come in any order, but only once and only of the right kind.
    assert_eq!(
        s.reply(2, StatusCode::OK.into()),
        Err(Error::ApiUnknownId(2))
    );
    assert!(matches!(
        s.reply(0, Response::Data(Bytes::new())),
        Err(Error::ApiWrongReply { .. })
    ));
    s.reply(0, StatusCode::NO_SUCH_FILE.into()).unwrap();
}

// ----- F08: bogus handles -----

#[test]
fn f08_bogus_handles() {
    let mut r = Raw::default();
    // A 4 KiB handle: refused while decoding.
    let mut body = 1u32.to_be_bytes().to_vec();
    body.extend_from_slice(&4096u32.to_be_bytes());
    body.extend_from_slice(&[b'h'; 4096]);
    body.extend_from_slice(&0u64.to_be_bytes());
    body.extend_from_slice(&16u32.to_be_bytes());
    assert_eq!(r.status(1, &frame(5, &body)).code, StatusCode::BAD_MESSAGE);
    // 257 bytes too; 256 is a well-formed handle that was never issued.
    for (len, code) in [
        (257, StatusCode::BAD_MESSAGE),
        (256, StatusCode::FAILURE),
        (0, StatusCode::FAILURE),
    ] {
        let mut body = 2u32.to_be_bytes().to_vec();
        body.extend_from_slice(&(len as u32).to_be_bytes());
        body.extend(vec![0u8; len]);
        assert_eq!(
            r.status(2, &frame(4, &body)).code,
            code,
            "handle of {len} bytes"
        );
    }
    // Never issued, stale (closed twice), wrong type.
    let never = Handle::new(Bytes::from_static(&[0, 0, 0, 99])).unwrap();
    assert_eq!(
        r.status(
            3,
            &req(
                3,
                Request::Read {
                    handle: never.clone(),
                    offset: 0,
                    len: 1
                }
            )
        )
        .code,
        StatusCode::FAILURE
    );
    let f = r.handle(
        4,
        Request::Open {
            filename: t("file"),
            pflags: OpenFlags::READ,
            attrs: Attrs::default(),
        },
    );
    let d = r.handle(5, Request::Opendir { path: t("/") });
    assert_eq!(
        r.status(6, &req(6, Request::Readdir { handle: f.clone() }))
            .code,
        StatusCode::FAILURE
    );
    assert_eq!(
        r.status(
            7,
            &req(
                7,
                Request::Read {
                    handle: d.clone(),
                    offset: 0,
                    len: 1
                }
            )
        )
        .code,
        StatusCode::FAILURE
    );
    assert_eq!(
        r.status(
            8,
            &req(
                8,
                Request::Write {
                    handle: d.clone(),
                    offset: 0,
                    data: Bytes::from_static(b"x")
                }
            )
        )
        .code,
        StatusCode::FAILURE
    );
    assert_eq!(
        r.status(
            9,
            &req(9, Request::Extended(E::Fsync { handle: d.clone() }))
        )
        .code,
        StatusCode::FAILURE
    );
    assert_eq!(
        r.status(10, &req(10, Request::Close { handle: f.clone() }))
            .code,
        StatusCode::OK
    );
    assert_eq!(
        r.status(11, &req(11, Request::Close { handle: f.clone() }))
            .code,
        StatusCode::FAILURE
    );
    assert_eq!(
        r.status(
            12,
            &req(
                12,
                Request::Read {
                    handle: f,
                    offset: 0,
                    len: 1
                }
            )
        )
        .code,
        StatusCode::FAILURE
    );
    assert_eq!(r.server.open_handles(), 1);
}

// ----- F09: malformed ATTRS -----

#[test]
fn f09_malformed_attrs() {
    let mut r = Raw::default();
    let setstat = |id: u32, attrs: &[u8]| {
        let mut body = id.to_be_bytes().to_vec();
        body.extend_from_slice(&4u32.to_be_bytes());
        body.extend_from_slice(b"file");
        body.extend_from_slice(attrs);
        frame(9, &body)
    };
    let cases: &[(&str, &[u8])] = &[
        (
            "EXTENDED with count 0xffffffff",
            &[0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff],
        ),
        ("unknown flag bit", &[0, 0, 0, 0x10]),
        ("unknown high bit", &[0x40, 0, 0, 0]),
        ("truncated size", &[0, 0, 0, 1, 0, 0]),
        ("truncated uid/gid", &[0, 0, 0, 2, 0, 0, 0, 1]),
        ("truncated times", &[0, 0, 0, 8, 0, 0, 0, 1, 0]),
        ("no flags", &[0, 0]),
        (
            "EXTENDED count 1, pair cut",
            &[0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 5, b'a'],
        ),
        ("trailing bytes", &[0, 0, 0, 0, 0]),
    ];
    for (i, (what, attrs)) in cases.iter().enumerate() {
        let id = i as u32 + 100;
        let s = r.status(id, &setstat(id, attrs));
        assert_eq!(s.code, StatusCode::BAD_MESSAGE, "{what}: {s}");
    }
    // The file is untouched and the session continues.
    assert_eq!(std::fs::read(r.fs.root().join("file")).unwrap(), b"content");
    assert_eq!(r.status(1, &setstat(1, &[0, 0, 0, 0])).code, StatusCode::OK);
    // EXTENDED pairs that fit are accepted.
    assert_eq!(
        r.status(
            2,
            &setstat(
                2,
                &[0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, b'a', 0, 0, 0, 0]
            )
        )
        .code,
        StatusCode::OK
    );
}

// ----- F12: read-only mode -----

fn write_ops(h: &Handle) -> Vec<(&'static str, Request)> {
    let a = Attrs {
        permissions: Some(0o777),
        ..Attrs::default()
    };
    vec![
        (
            "open write",
            Request::Open {
                filename: t("file"),
                pflags: OpenFlags::WRITE,
                attrs: Attrs::default(),
            },
        ),
        (
            "open creat",
            Request::Open {
                filename: t("new"),
                pflags: OpenFlags::READ | OpenFlags::CREAT,
                attrs: Attrs::default(),
            },
        ),
        (
            "open trunc",
            Request::Open {
                filename: t("file"),
                pflags: OpenFlags::READ | OpenFlags::TRUNC,
                attrs: Attrs::default(),
            },
        ),
        (
            "open append",
            Request::Open {
                filename: t("file"),
                pflags: OpenFlags::APPEND,
                attrs: Attrs::default(),
            },
        ),
        (
            "write",
            Request::Write {
                handle: h.clone(),
                offset: 0,
                data: Bytes::from_static(b"x"),
            },
        ),
        (
            "setstat",
            Request::Setstat {
                path: t("file"),
                attrs: a.clone(),
            },
        ),
        (
            "fsetstat",
            Request::Fsetstat {
                handle: h.clone(),
                attrs: a.clone(),
            },
        ),
        (
            "remove",
            Request::Remove {
                filename: t("file"),
            },
        ),
        (
            "mkdir",
            Request::Mkdir {
                path: t("d"),
                attrs: Attrs::default(),
            },
        ),
        ("rmdir", Request::Rmdir { path: t("sub") }),
        (
            "rename",
            Request::Rename {
                oldpath: t("file"),
                newpath: t("f2"),
            },
        ),
        (
            "symlink",
            Request::Symlink {
                link: t("l"),
                target: t("file"),
            },
        ),
        (
            "posix-rename",
            Request::Extended(E::PosixRename {
                oldpath: t("file"),
                newpath: t("f3"),
            }),
        ),
        (
            "hardlink",
            Request::Extended(E::Hardlink {
                oldpath: t("file"),
                newpath: t("f4"),
            }),
        ),
        (
            "lsetstat",
            Request::Extended(E::Lsetstat {
                path: t("file"),
                attrs: a,
            }),
        ),
        ("fsync", Request::Extended(E::Fsync { handle: h.clone() })),
        (
            "copy-data",
            Request::Extended(E::CopyData {
                read_handle: h.clone(),
                read_offset: 0,
                read_len: 0,
                write_handle: h.clone(),
                write_offset: 100,
            }),
        ),
    ]
}

fn check_read_only(mut r: Raw) {
    std::fs::create_dir(r.fs.root().join("sub")).unwrap();
    let h = r.handle(
        1,
        Request::Open {
            filename: t("file"),
            pflags: OpenFlags::READ,
            attrs: Attrs::default(),
        },
    );
    for (i, (what, request)) in write_ops(&h).into_iter().enumerate() {
        let id = 100 + i as u32;
        let s = r.status(id, &req(id, request));
        assert_eq!(s.code, StatusCode::PERMISSION_DENIED, "{what}: {s}");
    }
    let root = r.fs.root().to_path_buf();
    assert_eq!(std::fs::read(root.join("file")).unwrap(), b"content");
    let mut names: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["file", "sub"]);
    // Reading still works.
    match &r
        .feed(&req(
            2,
            Request::Read {
                handle: h,
                offset: 0,
                len: 100,
            },
        ))
        .unwrap()[..]
    {
        [
            Packet::Response {
                response: Response::Data(d),
                ..
            },
        ] => assert_eq!(&d[..], b"content"),
        other => panic!("{other:?}"),
    }
    match &r
        .feed(&req(3, Request::Extended(E::Statvfs { path: t("/") })))
        .unwrap()[..]
    {
        [
            Packet::Response {
                response: Response::ExtendedReply(b),
                ..
            },
        ] => {
            let v = whelk_sftp::codec::Statvfs::decode(b).unwrap();
            assert_ne!(v.flag & whelk_sftp::codec::Statvfs::RDONLY, 0);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn f12_read_only_backend_refuses_every_write() {
    check_read_only(Raw::new(
        ServerConfig::default(),
        StdFsConfig {
            read_only: true,
            ..StdFsConfig::default()
        },
    ));
}

#[test]
fn f12_read_only_server_refuses_every_write() {
    check_read_only(Raw::new(
        ServerConfig {
            read_only: true,
            ..ServerConfig::default()
        },
        StdFsConfig {
            read_only: true,
            ..StdFsConfig::default()
        },
    ));
    // The state machine alone refuses before any backend sees the request.
    let mut s = Server::new(ServerConfig {
        read_only: true,
        ..ServerConfig::default()
    });
    s.handle_input(INIT).unwrap();
    let _ = s.poll_event();
    let h = Handle::new(Bytes::from_static(b"h")).unwrap();
    for (i, (what, request)) in write_ops(&h).into_iter().enumerate() {
        s.handle_input(&req(i as u32, request)).unwrap();
        assert_eq!(s.poll_event(), None, "{what} reached the backend");
    }
    let mut out = Vec::new();
    s.poll_transmit(&mut out);
    let replies = decode_all(&out);
    assert_eq!(replies.len(), 18);
    for p in &replies[1..] {
        assert!(
            matches!(p, Packet::Response { response: Response::Status(s), .. } if s.code == StatusCode::PERMISSION_DENIED)
        );
    }
}

// ----- malformed packets of other kinds -----

#[test]
fn malformed_and_unexpected_packets() {
    let mut r = Raw::default();
    // Unknown type with an id: OP_UNSUPPORTED, the session goes on.
    assert_eq!(
        r.status(5, &frame(99, &5u32.to_be_bytes())).code,
        StatusCode::OP_UNSUPPORTED
    );
    // Reply types and VERSION sent to a server.
    for t in [2u8, 101, 102, 103, 104, 105, 201] {
        assert_eq!(
            r.status(6, &frame(t, &[0, 0, 0, 6, 0, 0, 0, 0])).code,
            StatusCode::OP_UNSUPPORTED,
            "type {t}"
        );
    }
    // Trailing bytes after a request.
    let mut bytes = req(7, Request::Stat { path: t("file") });
    bytes.push(0);
    let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) + 1;
    bytes[..4].copy_from_slice(&len.to_be_bytes());
    assert_eq!(r.status(7, &bytes).code, StatusCode::BAD_MESSAGE);
    // A string length running past the packet.
    assert_eq!(
        r.status(8, &frame(17, &[0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, b'a']))
            .code,
        StatusCode::BAD_MESSAGE
    );
    // A known extension with a truncated body; an unknown one.
    let mut body = 9u32.to_be_bytes().to_vec();
    body.extend_from_slice(&24u32.to_be_bytes());
    body.extend_from_slice(b"posix-rename@openssh.com");
    assert_eq!(
        r.status(9, &frame(200, &body)).code,
        StatusCode::BAD_MESSAGE
    );
    let mut body = 10u32.to_be_bytes().to_vec();
    body.extend_from_slice(&3u32.to_be_bytes());
    body.extend_from_slice(b"x@y");
    assert_eq!(
        r.status(10, &frame(200, &body)).code,
        StatusCode::OP_UNSUPPORTED
    );
    // Byte-at-a-time delivery gives the same result.
    let bytes = req(11, Request::Stat { path: t("file") });
    let mut out = Vec::new();
    for b in &bytes {
        out.extend(r.feed(std::slice::from_ref(b)).unwrap());
    }
    assert!(matches!(
        out[..],
        [Packet::Response {
            id: 11,
            response: Response::Attrs(_)
        }]
    ));
    // A path with a NUL byte.
    assert_eq!(
        r.status(12, &req(12, Request::Stat { path: t("fi\0le") }))
            .code,
        StatusCode::BAD_MESSAGE
    );
}

#[test]
fn duplicate_outstanding_id_is_fatal() {
    let mut s = Server::new(ServerConfig::default());
    s.handle_input(INIT).unwrap();
    s.handle_input(&req(1, Request::Stat { path: t("/") }))
        .unwrap();
    assert_eq!(
        s.handle_input(&req(1, Request::Stat { path: t("/") })),
        Err(Error::DuplicateId(1))
    );
}

// ----- the client against a hostile server (F13 and reply matching) -----

fn ready_client() -> Client {
    let mut c = Client::new(ClientConfig::default());
    c.handle_input(&[0, 0, 0, 5, 2, 0, 0, 0, 3]).unwrap();
    assert!(matches!(c.poll_event(), Some(Event::Version { .. })));
    c
}

fn resp(id: u32, response: Response) -> Vec<u8> {
    Packet::Response { id, response }.to_vec()
}

#[test]
fn client_rejects_unknown_ids_wrong_kinds_and_long_data() {
    let mut c = ready_client();
    assert_eq!(
        c.handle_input(&resp(5, StatusCode::OK.into())),
        Err(Error::UnknownId(5))
    );
    assert_eq!(c.handle_input(&[]), Err(Error::UnknownId(5)));

    let mut c = ready_client();
    let id = c.send(Request::Stat { path: t("/") }).unwrap();
    assert!(matches!(
        c.handle_input(&resp(id, Response::Data(Bytes::new()))),
        Err(Error::WrongReply { .. })
    ));

    let mut c = ready_client();
    let h = Handle::new(Bytes::from_static(b"h")).unwrap();
    let id = c
        .send(Request::Read {
            handle: h.clone(),
            offset: 0,
            len: 4,
        })
        .unwrap();
    assert!(matches!(
        c.handle_input(&resp(id, Response::Data(Bytes::from_static(b"12345")))),
        Err(Error::WrongReply { .. })
    ));

    // A reply is matched once: a second one for the same id is unknown.
    let mut c = ready_client();
    let id = c.send(Request::Close { handle: h }).unwrap();
    c.handle_input(&resp(id, StatusCode::OK.into())).unwrap();
    assert_eq!(
        c.handle_input(&resp(id, StatusCode::OK.into())),
        Err(Error::UnknownId(id))
    );

    // Out-of-order replies are matched by id.
    let mut c = ready_client();
    let a = c.send(Request::Stat { path: t("a") }).unwrap();
    let b = c.send(Request::Realpath { path: t("b") }).unwrap();
    let mut bytes = resp(
        b,
        Response::Name(vec![Name {
            filename: t("/b"),
            ..Name::default()
        }]),
    );
    bytes.extend(resp(a, StatusCode::NO_SUCH_FILE.into()));
    c.handle_input(&bytes).unwrap();
    assert!(matches!(c.poll_event(), Some(Event::Reply { id, reply: Reply::Name(_) }) if id == b));
    assert!(
        matches!(c.poll_event(), Some(Event::Reply { id, reply: Reply::Status(_) }) if id == a)
    );

    // Packets before VERSION, a second VERSION, versions other than 3, oversized packets.
    let mut c = Client::new(ClientConfig::default());
    assert_eq!(
        c.handle_input(&resp(0, StatusCode::OK.into())),
        Err(Error::NotNegotiated(101))
    );
    let mut c = ready_client();
    assert_eq!(
        c.handle_input(&[0, 0, 0, 5, 2, 0, 0, 0, 3]),
        Err(Error::DuplicateVersion)
    );
    let mut c = Client::new(ClientConfig::default());
    assert_eq!(
        c.handle_input(&[0, 0, 0, 5, 2, 0, 0, 0, 2]),
        Err(Error::UnsupportedVersion(2))
    );
    let mut c = ready_client();
    assert!(matches!(
        c.handle_input(&[0xff, 0xff, 0xff, 0xff]),
        Err(Error::PacketTooLarge { .. })
    ));
    // A request to the client.
    let mut c = ready_client();
    assert_eq!(
        c.handle_input(&req(1, Request::Stat { path: t("/") })),
        Err(Error::UnexpectedPacket(17))
    );
}

#[test]
fn f13_unsafe_names_are_flagged() {
    let name = |s: &str| Name {
        filename: t(s),
        ..Name::default()
    };
    for bad in [
        "../../.bashrc",
        "/etc/x",
        "..",
        ".",
        "",
        "a/b",
        "a\\b",
        "a\0b",
    ] {
        assert!(!name(bad).is_safe_component(), "{bad:?}");
    }
    for good in ["file", ".hidden", "..a", "a..", "with space"] {
        assert!(name(good).is_safe_component(), "{good:?}");
    }
    // A NAME reply with such entries still decodes (the application decides).
    let mut c = ready_client();
    let h = Handle::new(Bytes::from_static(b"d")).unwrap();
    let id = c.send(Request::Readdir { handle: h }).unwrap();
    c.handle_input(&resp(
        id,
        Response::Name(vec![name("../../.bashrc"), name("/etc/x")]),
    ))
    .unwrap();
    match c.poll_event() {
        Some(Event::Reply {
            reply: Reply::Name(n),
            ..
        }) => assert!(n.iter().all(|n| !n.is_safe_component())),
        other => panic!("{other:?}"),
    }
}

#[test]
fn client_limits_lower_the_send_cap() {
    let mut c = ready_client();
    let id = c.send(Request::Extended(E::Limits)).unwrap();
    let limits = whelk_sftp::codec::Limits {
        max_packet_len: 1024,
        max_read_len: 900,
        max_write_len: 900,
        max_open_handles: 10,
    };
    c.handle_input(&resp(id, Response::ExtendedReply(limits.encode())))
        .unwrap();
    assert_eq!(c.limits(), Some(limits));
    assert_eq!(c.max_read_len(), 900);
    let h = Handle::new(Bytes::from_static(b"h")).unwrap();
    assert!(
        c.send(Request::Write {
            handle: h.clone(),
            offset: 0,
            data: Bytes::from(vec![0; 2000])
        })
        .is_err()
    );
    assert!(
        c.send(Request::Write {
            handle: h,
            offset: 0,
            data: Bytes::from(vec![0; 900])
        })
        .is_ok()
    );
    // A malformed limits body is fatal.
    let id = c.send(Request::Extended(E::Limits)).unwrap();
    assert!(
        c.handle_input(&resp(
            id,
            Response::ExtendedReply(Bytes::from_static(b"short"))
        ))
        .is_err()
    );
}
