//! A client and a server over the in-memory byte stream, with `StdFs` in a temporary
//! directory: every request of version 3 and every extension.
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

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use bytes::Bytes;
use common::{Pair, exists, t};
use whelk_sftp::client::{Event, Reply};
use whelk_sftp::codec::{
    Attrs, DEFAULT_MAX_PACKET, DEFAULT_MAX_READ, ExtendedRequest as E, Limits, OpenFlags, Request,
    StatusCode, ext,
};
use whelk_sftp::fs::{StdFsConfig, ls_time, mode_string};
use whelk_sftp::server::ServerConfig;

#[test]
fn version_negotiation_advertises_openssh_extensions() {
    let p = Pair::new();
    assert_eq!(p.client.version(), Some(3));
    assert_eq!(p.server.version(), Some(3));
    for (name, version) in ext::ADVERTISED {
        assert_eq!(
            p.client.extension(name).map(|b| b.as_ref()),
            Some(version.as_bytes()),
            "{name}"
        );
    }
    assert_eq!(
        p.client.extension("statvfs@openssh.com").unwrap().as_ref(),
        b"2"
    );
    assert_eq!(
        p.client
            .extension("posix-rename@openssh.com")
            .unwrap()
            .as_ref(),
        b"1"
    );
}

#[test]
fn open_write_read_close() {
    let mut p = Pair::new();
    let h = p
        .open(
            "/f.txt",
            OpenFlags::WRITE | OpenFlags::CREAT | OpenFlags::TRUNC,
        )
        .unwrap();
    p.ok(Request::Write {
        handle: h.clone(),
        offset: 0,
        data: Bytes::from_static(b"hello "),
    });
    p.ok(Request::Write {
        handle: h.clone(),
        offset: 6,
        data: Bytes::from_static(b"world"),
    });
    p.ok(Request::Close { handle: h.clone() });
    // Closing twice: the handle is gone (catalog F08).
    assert_eq!(p.code(Request::Close { handle: h }), StatusCode::FAILURE);
    assert_eq!(std::fs::read(p.path("f.txt")).unwrap(), b"hello world");
    assert_eq!(p.read_file("f.txt").unwrap(), b"hello world");

    // Reads at an offset and past the end.
    let h = p.open("f.txt", OpenFlags::READ).unwrap();
    match p.call(Request::Read {
        handle: h.clone(),
        offset: 6,
        len: 100,
    }) {
        Reply::Data(d) => assert_eq!(&d[..], b"world"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        p.code(Request::Read {
            handle: h.clone(),
            offset: 1 << 40,
            len: 10
        }),
        StatusCode::EOF
    );
    // Writing through a read-only handle fails.
    assert_eq!(
        p.code(Request::Write {
            handle: h.clone(),
            offset: 0,
            data: Bytes::from_static(b"x")
        }),
        StatusCode::FAILURE
    );
    p.ok(Request::Close { handle: h });

    // APPEND, EXCL.
    let h = p
        .open("f.txt", OpenFlags::WRITE | OpenFlags::APPEND)
        .unwrap();
    p.ok(Request::Write {
        handle: h.clone(),
        offset: 0,
        data: Bytes::from_static(b"!"),
    });
    p.ok(Request::Close { handle: h });
    assert_eq!(std::fs::read(p.path("f.txt")).unwrap(), b"hello world!");
    let err = p
        .open(
            "f.txt",
            OpenFlags::WRITE | OpenFlags::CREAT | OpenFlags::EXCL,
        )
        .unwrap_err();
    assert_eq!(err.code, StatusCode::FAILURE);
    assert_eq!(
        p.open("missing", OpenFlags::READ).unwrap_err().code,
        StatusCode::NO_SUCH_FILE
    );
}

#[test]
fn large_transfer_many_outstanding_requests() {
    let mut p = Pair::new();
    let data: Vec<u8> = (0..600_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let h = p.open("big", OpenFlags::WRITE | OpenFlags::CREAT).unwrap();
    // Pipelined writes: all sent before any reply is read.
    let mut ids = Vec::new();
    for (i, chunk) in data.chunks(32 * 1024).enumerate() {
        ids.push(
            p.client
                .send(Request::Write {
                    handle: h.clone(),
                    offset: (i * 32 * 1024) as u64,
                    data: Bytes::copy_from_slice(chunk),
                })
                .unwrap(),
        );
    }
    assert_eq!(p.client.outstanding(), ids.len());
    p.pump();
    let mut seen = Vec::new();
    while let Some(Event::Reply { id, reply }) = p.client.poll_event() {
        assert_eq!(reply, Reply::Status(whelk_sftp::codec::Status::ok()));
        seen.push(id);
    }
    seen.sort_unstable();
    assert_eq!(seen, ids);
    p.ok(Request::Close { handle: h });
    assert_eq!(p.read_file("big").unwrap(), data);
}

#[test]
fn stat_lstat_fstat_setstat_fsetstat() {
    let mut p = Pair::new();
    p.write_file("f", b"12345");
    std::os::unix::fs::symlink("f", p.path("l")).unwrap();
    let a = p.stat("f").unwrap();
    assert_eq!(a.size, Some(5));
    assert!(a.is_file());
    let meta = std::fs::metadata(p.path("f")).unwrap();
    assert_eq!(a.uid_gid, Some((meta.uid(), meta.gid())));
    assert_eq!(a.times.unwrap().1 as i64, meta.mtime());
    assert!(p.stat("l").unwrap().is_file());
    assert!(p.lstat("l").unwrap().is_symlink());
    assert!(p.stat("/").unwrap().is_dir());
    assert_eq!(p.stat("nope").unwrap_err().code, StatusCode::NO_SUCH_FILE);

    p.ok(Request::Setstat {
        path: t("f"),
        attrs: Attrs {
            size: Some(3),
            permissions: Some(0o600),
            times: Some((1_000_000, 2_000_000)),
            ..Attrs::default()
        },
    });
    let meta = std::fs::metadata(p.path("f")).unwrap();
    assert_eq!(meta.len(), 3);
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    assert_eq!(meta.mtime(), 2_000_000);
    assert_eq!(meta.atime(), 1_000_000);

    let h = p.open("f", OpenFlags::READ | OpenFlags::WRITE).unwrap();
    match p.call(Request::Fstat { handle: h.clone() }) {
        Reply::Attrs(a) => assert_eq!(a.size, Some(3)),
        other => panic!("{other:?}"),
    }
    p.ok(Request::Fsetstat {
        handle: h.clone(),
        attrs: Attrs {
            size: Some(10),
            permissions: Some(0o640),
            times: Some((5, 6)),
            ..Attrs::default()
        },
    });
    let meta = std::fs::metadata(p.path("f")).unwrap();
    assert_eq!(
        (meta.len(), meta.permissions().mode() & 0o777, meta.mtime()),
        (10, 0o640, 6)
    );
    p.ok(Request::Close { handle: h });

    // lsetstat changes the times of the link itself, not of its target.
    match p.ext(E::Lsetstat {
        path: t("l"),
        attrs: Attrs {
            times: Some((7, 8)),
            ..Attrs::default()
        },
    }) {
        Reply::Status(s) => assert_eq!(s.code, StatusCode::OK, "{s}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::symlink_metadata(p.path("l")).unwrap().mtime(), 8);
    assert_eq!(std::fs::metadata(p.path("f")).unwrap().mtime(), 6);
    // The mode of a symlink cannot be changed on Linux: OP_UNSUPPORTED, target untouched.
    match p.ext(E::Lsetstat {
        path: t("l"),
        attrs: Attrs {
            permissions: Some(0o600),
            ..Attrs::default()
        },
    }) {
        Reply::Status(s) => assert_eq!(s.code, StatusCode::OP_UNSUPPORTED),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        std::fs::metadata(p.path("f")).unwrap().permissions().mode() & 0o777,
        0o640
    );
    // chown to the current owner is always allowed; setstat of a missing file is NO_SUCH_FILE.
    let (uid, gid) = p.stat("f").unwrap().uid_gid.unwrap();
    p.ok(Request::Setstat {
        path: t("f"),
        attrs: Attrs {
            uid_gid: Some((uid, gid)),
            ..Attrs::default()
        },
    });
    assert_eq!(
        p.code(Request::Setstat {
            path: t("missing"),
            attrs: Attrs {
                times: Some((1, 1)),
                ..Attrs::default()
            },
        }),
        StatusCode::NO_SUCH_FILE
    );
}

#[test]
fn readdir_lists_entries_with_longnames() {
    let mut p = Pair::with(
        ServerConfig::default(),
        StdFsConfig {
            readdir_batch: 3,
            ..StdFsConfig::default()
        },
    );
    p.ok(Request::Mkdir {
        path: t("d"),
        attrs: Attrs::default(),
    });
    for i in 0..7 {
        p.write_file(&format!("d/file{i}"), &vec![b'x'; i * 100]);
    }
    p.ok(Request::Mkdir {
        path: t("d/sub"),
        attrs: Attrs {
            permissions: Some(0o750),
            ..Attrs::default()
        },
    });
    std::os::unix::fs::symlink("file1", p.path("d/link")).unwrap();
    let names = p.list("/d").unwrap();
    let mut files: Vec<String> = names.iter().map(|n| n.filename.to_string()).collect();
    files.sort();
    let mut expected: Vec<String> = (0..7).map(|i| format!("file{i}")).collect();
    expected.extend([".".into(), "..".into(), "link".into(), "sub".into()]);
    expected.sort();
    assert_eq!(files, expected);
    for n in &names {
        let long = n.longname.to_string();
        assert!(long.ends_with(&format!(" {}", n.filename)), "{long}");
        let mode = n.attrs.permissions.unwrap();
        assert!(long.starts_with(&mode_string(mode)), "{long}");
        match n.filename.to_string().as_str() {
            "file3" => {
                assert!(long.starts_with("-rw"), "{long}");
                assert!(long.contains(" 300 "), "{long}");
                assert_eq!(n.attrs.size, Some(300));
            }
            "sub" => assert!(long.starts_with("drwxr-x---"), "{long}"),
            "link" => assert!(long.starts_with("lrwxrwxrwx"), "{long}"),
            _ => {}
        }
    }
    // An empty directory still has . and ..
    p.ok(Request::Mkdir {
        path: t("empty"),
        attrs: Attrs::default(),
    });
    assert_eq!(p.list("empty").unwrap().len(), 2);
    // READDIR with a file handle (catalog F08) and OPENDIR of a file.
    let h = p.open("d/file1", OpenFlags::READ).unwrap();
    assert_eq!(
        p.code(Request::Readdir { handle: h.clone() }),
        StatusCode::FAILURE
    );
    p.ok(Request::Close { handle: h });
    assert_eq!(
        p.list("d/file1").unwrap_err().code,
        StatusCode::NO_SUCH_FILE
    );
}

#[test]
fn longname_helpers() {
    assert_eq!(mode_string(0o100_644), "-rw-r--r--");
    assert_eq!(mode_string(0o040_755), "drwxr-xr-x");
    assert_eq!(mode_string(0o104_755), "-rwsr-xr-x");
    assert_eq!(mode_string(0o041_777), "drwxrwxrwt");
    assert_eq!(mode_string(0o102_644), "-rw-r-Sr--");
    // 2006-01-02 15:04:05 UTC.
    let t = 1_136_214_245;
    assert_eq!(ls_time(t, t + 3600), "Jan  2 15:04");
    assert_eq!(ls_time(t, t + 400 * 86_400), "Jan  2  2006");
    assert_eq!(ls_time(951_782_400, 0), "Feb 29  2000");
}

#[test]
fn mkdir_rmdir_remove_rename() {
    let mut p = Pair::new();
    p.ok(Request::Mkdir {
        path: t("/a"),
        attrs: Attrs::default(),
    });
    assert!(p.path("a").is_dir());
    assert_eq!(
        p.code(Request::Mkdir {
            path: t("a"),
            attrs: Attrs::default()
        }),
        StatusCode::FAILURE
    );
    p.write_file("a/f", b"1");
    // rmdir of a non-empty directory fails, remove of a directory fails.
    assert_eq!(p.code(Request::Rmdir { path: t("a") }), StatusCode::FAILURE);
    assert_eq!(
        p.code(Request::Remove { filename: t("a") }),
        StatusCode::FAILURE
    );
    p.ok(Request::Rename {
        oldpath: t("a/f"),
        newpath: t("g"),
    });
    assert!(!exists(&p.path("a/f")) && exists(&p.path("g")));
    // Plain RENAME refuses to replace; posix-rename replaces.
    p.write_file("h", b"2");
    assert_eq!(
        p.code(Request::Rename {
            oldpath: t("g"),
            newpath: t("h")
        }),
        StatusCode::FAILURE
    );
    assert_eq!(std::fs::read(p.path("h")).unwrap(), b"2");
    assert_eq!(
        p.ext(E::PosixRename {
            oldpath: t("g"),
            newpath: t("h")
        }),
        Reply::Status(whelk_sftp::codec::Status::ok())
    );
    assert_eq!(std::fs::read(p.path("h")).unwrap(), b"1");
    assert_eq!(
        p.code(Request::Rename {
            oldpath: t("nope"),
            newpath: t("x")
        }),
        StatusCode::NO_SUCH_FILE
    );
    p.ok(Request::Remove { filename: t("h") });
    assert_eq!(
        p.code(Request::Remove { filename: t("h") }),
        StatusCode::NO_SUCH_FILE
    );
    p.ok(Request::Rmdir { path: t("a") });
    assert!(!exists(&p.path("a")));
}

#[test]
fn symlink_readlink_hardlink_realpath() {
    let mut p = Pair::new();
    p.ok(Request::Mkdir {
        path: t("d"),
        attrs: Attrs::default(),
    });
    p.write_file("d/f", b"data");
    // OpenSSH order on the wire: target first, then the link path.
    p.ok(Request::Symlink {
        link: t("/l"),
        target: t("d/f"),
    });
    assert_eq!(
        std::fs::read_link(p.path("l")).unwrap().to_str(),
        Some("d/f")
    );
    assert_eq!(p.read_file("l").unwrap(), b"data");
    let n = p.names(Request::Readlink { path: t("l") }).unwrap();
    assert_eq!(n[0].filename, "d/f");
    // An absolute target is stored under the root and shown relative to it.
    p.ok(Request::Symlink {
        link: t("abs"),
        target: t("/d/f"),
    });
    assert_eq!(std::fs::read_link(p.path("abs")).unwrap(), p.path("d/f"));
    assert_eq!(
        p.names(Request::Readlink { path: t("abs") }).unwrap()[0].filename,
        "/d/f"
    );
    assert_eq!(p.read_file("abs").unwrap(), b"data");
    // Hard link.
    match p.ext(E::Hardlink {
        oldpath: t("d/f"),
        newpath: t("hard"),
    }) {
        Reply::Status(s) => assert_eq!(s.code, StatusCode::OK, "{s}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::metadata(p.path("hard")).unwrap().nlink(), 2);
    // realpath: canonical, relative to the root, symlinks resolved, `..` clamped.
    assert_eq!(p.realpath(".").unwrap(), "/");
    assert_eq!(p.realpath("").unwrap(), "/");
    assert_eq!(p.realpath("/d/./f").unwrap(), "/d/f");
    assert_eq!(p.realpath("d//f/../f").unwrap(), "/d/f");
    assert_eq!(p.realpath("l").unwrap(), "/d/f");
    assert_eq!(p.realpath("/../../..").unwrap(), "/");
    assert_eq!(p.realpath("d/not-yet").unwrap(), "/d/not-yet");
    // Readlink of a non-link: EINVAL, which OpenSSH's errno_to_portable maps to BAD_MESSAGE.
    assert_eq!(
        p.code(Request::Readlink { path: t("d/f") }),
        StatusCode::BAD_MESSAGE
    );
}

#[test]
fn statvfs_fstatvfs_fsync_limits() {
    let mut p = Pair::new();
    p.write_file("f", b"x");
    let v = match p.ext(E::Statvfs { path: t("/") }) {
        Reply::Statvfs(v) => v,
        other => panic!("{other:?}"),
    };
    assert!(v.bsize > 0 && v.blocks > 0 && v.namemax > 0, "{v:?}");
    let h = p.open("f", OpenFlags::READ | OpenFlags::WRITE).unwrap();
    match p.ext(E::Fstatvfs { handle: h.clone() }) {
        Reply::Statvfs(w) => assert_eq!(w.bsize, v.bsize),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        p.ext(E::Fsync { handle: h.clone() }),
        Reply::Status(whelk_sftp::codec::Status::ok())
    );
    p.ok(Request::Close { handle: h });

    assert_eq!(p.client.limits(), None);
    let l = match p.ext(E::Limits) {
        Reply::Limits(l) => l,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        l,
        Limits {
            max_packet_len: u64::from(DEFAULT_MAX_PACKET),
            max_read_len: u64::from(DEFAULT_MAX_READ),
            max_write_len: u64::from(DEFAULT_MAX_READ),
            max_open_handles: 256,
        }
    );
    assert_eq!(l.max_packet_len, 256 * 1024);
    assert_eq!(l.max_read_len, 255 * 1024);
    assert_eq!(p.client.limits(), Some(l));
    assert_eq!(p.client.max_read_len(), 255 * 1024);
}

#[test]
fn expand_path_and_home_directory() {
    let mut p = Pair::with(
        ServerConfig::default(),
        StdFsConfig {
            home: "/home/me".into(),
            user: Some("me".into()),
            ..StdFsConfig::default()
        },
    );
    std::fs::create_dir_all(p.path("home/me/docs")).unwrap();
    let one = |r: Reply| match r {
        Reply::Name(n) => n[0].filename.to_string(),
        other => panic!("{other:?}"),
    };
    assert_eq!(one(p.ext(E::ExpandPath { path: t("~") })), "/home/me");
    assert_eq!(
        one(p.ext(E::ExpandPath {
            path: t("~/docs/../docs")
        })),
        "/home/me/docs"
    );
    assert_eq!(
        one(p.ext(E::ExpandPath {
            path: t("~me/docs")
        })),
        "/home/me/docs"
    );
    assert_eq!(
        one(p.ext(E::ExpandPath { path: t("docs") })),
        "/home/me/docs"
    );
    assert_eq!(one(p.ext(E::ExpandPath { path: t("/etc") })), "/etc");
    match p.ext(E::ExpandPath { path: t("~root/x") }) {
        Reply::Status(s) => assert_eq!(s.code, StatusCode::NO_SUCH_FILE),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        one(p.ext(E::HomeDirectory { username: t("me") })),
        "/home/me"
    );
    match p.ext(E::HomeDirectory {
        username: t("root"),
    }) {
        Reply::Status(s) => assert_eq!(s.code, StatusCode::FAILURE),
        other => panic!("{other:?}"),
    }
    // Relative paths start at the home directory.
    assert_eq!(p.realpath(".").unwrap(), "/home/me");
    p.write_file("note", b"n");
    assert!(p.path("home/me/note").exists());
}

#[test]
fn copy_data() {
    let mut p = Pair::new();
    p.write_file("src", b"0123456789");
    let r = p.open("src", OpenFlags::READ).unwrap();
    let w = p.open("dst", OpenFlags::WRITE | OpenFlags::CREAT).unwrap();
    let copy = |p: &mut Pair, ro, rl, wo| {
        p.ext(E::CopyData {
            read_handle: r.clone(),
            read_offset: ro,
            read_len: rl,
            write_handle: w.clone(),
            write_offset: wo,
        })
    };
    assert_eq!(
        copy(&mut p, 2, 3, 0),
        Reply::Status(whelk_sftp::codec::Status::ok())
    );
    assert_eq!(std::fs::read(p.path("dst")).unwrap(), b"234");
    // Length 0 copies to the end of the file.
    assert_eq!(
        copy(&mut p, 5, 0, 3),
        Reply::Status(whelk_sftp::codec::Status::ok())
    );
    assert_eq!(std::fs::read(p.path("dst")).unwrap(), b"23456789");
    // Overlapping copy within one handle is refused.
    match p.ext(E::CopyData {
        read_handle: w.clone(),
        read_offset: 0,
        read_len: 4,
        write_handle: w.clone(),
        write_offset: 2,
    }) {
        Reply::Status(s) => assert_eq!(s.code, StatusCode::FAILURE),
        other => panic!("{other:?}"),
    }
    p.ok(Request::Close { handle: r });
    p.ok(Request::Close { handle: w });
}

#[test]
fn users_groups_by_id() {
    let mut p = Pair::new();
    match p.ext(E::UsersGroupsById {
        uids: vec![0, 4_000_000_000],
        gids: vec![0],
    }) {
        Reply::UsersGroups(ug) => {
            assert_eq!(ug.users.len(), 2);
            assert_eq!(ug.groups.len(), 1);
            assert_eq!(ug.users[0], "root");
            assert_eq!(ug.users[1], "");
            assert_eq!(ug.groups[0], "root");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_extension_is_unsupported() {
    let mut p = Pair::new();
    match p.ext(E::Other {
        name: t("nope@example.com"),
        data: Bytes::from_static(b"abc"),
    }) {
        Reply::Status(s) => assert_eq!(s.code, StatusCode::OP_UNSUPPORTED),
        other => panic!("{other:?}"),
    }
}

#[test]
fn requests_before_version_are_held() {
    use whelk_sftp::client::{Client, ClientConfig};
    let mut c = Client::new(ClientConfig::default());
    let id = c.send(Request::Realpath { path: t(".") }).unwrap();
    let mut out = Vec::new();
    c.poll_transmit(&mut out);
    // Only INIT (length 5, type 1, version 3).
    assert_eq!(out, [0, 0, 0, 5, 1, 0, 0, 0, 3]);
    c.handle_input(&[0, 0, 0, 5, 2, 0, 0, 0, 3]).unwrap();
    out.clear();
    c.poll_transmit(&mut out);
    assert_eq!(out[4], 16);
    assert_eq!(u32::from_be_bytes(out[5..9].try_into().unwrap()), id);
}

/// The same session delivered whole and in pieces of 1..=7 bytes (both directions) gives the
/// same replies.
#[test]
fn chunked_delivery_gives_the_same_replies() {
    use whelk_sftp::client::{Client, ClientConfig};
    use whelk_sftp::fs::{StdFs, serve_chunk};
    use whelk_sftp::server::Server;

    fn run(piece: Option<usize>) -> Vec<Event> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"0123456789").unwrap();
        let mut fs = StdFs::new(dir.path(), StdFsConfig::default()).unwrap();
        let mut server = Server::new(ServerConfig::default());
        let mut client = Client::new(ClientConfig::default());
        let h = whelk_sftp::codec::Handle::new(Bytes::from_static(&[0, 0, 0, 0])).unwrap();
        for r in [
            Request::Open {
                filename: t("f"),
                pflags: OpenFlags::READ | OpenFlags::WRITE,
                attrs: Attrs::default(),
            },
            Request::Read {
                handle: h.clone(),
                offset: 2,
                len: 5,
            },
            Request::Write {
                handle: h.clone(),
                offset: 10,
                data: Bytes::from_static(b"abc"),
            },
            Request::Fstat { handle: h.clone() },
            Request::Realpath { path: t("../f") },
            Request::Opendir { path: t("/") },
            Request::Extended(E::Limits),
            Request::Close { handle: h },
        ] {
            client.send(r).unwrap();
        }
        let mut events = Vec::new();
        let mut step = 0usize;
        for _ in 0..100 {
            let mut c2s = Vec::new();
            client.poll_transmit(&mut c2s);
            let mut s2c = Vec::new();
            let chunks: Vec<&[u8]> = match piece {
                None => vec![&c2s[..]],
                Some(_) => {
                    let mut v = Vec::new();
                    let mut rest = &c2s[..];
                    while !rest.is_empty() {
                        step += 1;
                        let n = (step % 7 + 1).min(rest.len());
                        v.push(&rest[..n]);
                        rest = &rest[n..];
                    }
                    v
                }
            };
            for c in chunks {
                s2c.extend(serve_chunk(&mut server, &mut fs, c).unwrap());
            }
            if c2s.is_empty() && s2c.is_empty() {
                break;
            }
            match piece {
                None => {
                    client.handle_input(&s2c).unwrap();
                }
                Some(_) => {
                    for b in s2c.chunks(3) {
                        client.handle_input(b).unwrap();
                    }
                }
            }
            while let Some(ev) = client.poll_event() {
                events.push(ev);
            }
        }
        // Attributes carry times that differ between runs; keep the sizes only.
        events
            .into_iter()
            .map(|e| match e {
                Event::Reply {
                    id,
                    reply: Reply::Attrs(a),
                } => Event::Reply {
                    id,
                    reply: Reply::Attrs(Attrs {
                        size: a.size,
                        ..Attrs::default()
                    }),
                },
                Event::Reply {
                    id,
                    reply: Reply::Handle(_),
                } => Event::Reply {
                    id,
                    reply: Reply::Handle(whelk_sftp::codec::Handle::default()),
                },
                other => other,
            })
            .collect()
    }
    let key = |e: &Event| match e {
        Event::Version { .. } => None,
        Event::Reply { id, .. } => Some(*id),
    };
    let mut whole = run(None);
    whole.sort_by_key(key);
    assert_eq!(whole.len(), 9);
    // The limits reply comes from the state machine itself, ahead of the backend's replies:
    // replies are matched by id, not by order.
    assert!(
        whole.iter().any(
            |e| matches!(e, Event::Reply { id: 1, reply: Reply::Data(d) } if &d[..] == b"23456")
        )
    );
    let mut pieces = run(Some(7));
    pieces.sort_by_key(key);
    assert_eq!(pieces, whole);
}
