//! Interop: whelk's client state machine drives OpenSSH's real `sftp-server` (a child process
//! over its stdin/stdout, no SSH underneath). Proves the codec and the client against the
//! reference implementation: version negotiation and extensions, limits@openssh.com, a
//! pipelined write/read round trip, readdir with long names, stat/lstat/fstat/setstat,
//! symlink argument order, realpath, rename/posix-rename/hardlink, statvfs, fsync,
//! expand-path and copy-data.
//!
//! Needs `/usr/lib/openssh/sftp-server` (Debian package openssh-server); without it each test
//! prints a note and returns.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap
)]

use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use bytes::Bytes;
use whelk_sftp::client::{Client, ClientConfig, Event, Reply};
use whelk_sftp::codec::{
    Attrs, ExtendedRequest as E, Handle, OpenFlags, Request, Status, StatusCode, ext,
};
use whelk_wire::types::Text;

const SFTP_SERVER: &str = "/usr/lib/openssh/sftp-server";

struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    client: Client,
    dir: tempfile::TempDir,
}

fn t(s: &str) -> Text {
    Text::from(s.to_owned())
}

impl Peer {
    fn start() -> Option<Self> {
        if !Path::new(SFTP_SERVER).exists() {
            panic!("{SFTP_SERVER} not installed: this interop test needs openssh-server");
        }
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(SFTP_SERVER)
            .args(["-e", "-l", "ERROR", "-d"])
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut p = Self {
            child,
            stdin,
            stdout,
            client: Client::new(ClientConfig::default()),
            dir,
        };
        p.flush();
        match p.next_event() {
            Event::Version { version, .. } => assert_eq!(version, 3),
            other => panic!("{other:?}"),
        }
        Some(p)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn p(&self, rel: &str) -> Text {
        t(self.path(rel).to_str().unwrap())
    }

    fn flush(&mut self) {
        let mut out = Vec::new();
        self.client.poll_transmit(&mut out);
        if !out.is_empty() {
            self.stdin.write_all(&out).unwrap();
            self.stdin.flush().unwrap();
        }
    }

    fn next_event(&mut self) -> Event {
        loop {
            if let Some(ev) = self.client.poll_event() {
                return ev;
            }
            let mut buf = [0u8; 65536];
            let n = self.stdout.read(&mut buf).unwrap();
            assert!(n > 0, "sftp-server closed its output");
            assert_eq!(self.client.handle_input(&buf[..n]).unwrap(), n);
        }
    }

    fn call(&mut self, req: Request) -> Reply {
        let id = self.client.send(req).unwrap();
        self.flush();
        match self.next_event() {
            Event::Reply { id: got, reply } => {
                assert_eq!(got, id);
                reply
            }
            other => panic!("{other:?}"),
        }
    }

    fn ok(&mut self, req: Request) {
        match self.call(req) {
            Reply::Status(s) => assert_eq!(s.code, StatusCode::OK, "{s}"),
            other => panic!("{other:?}"),
        }
    }

    fn status(&mut self, req: Request) -> Status {
        match self.call(req) {
            Reply::Status(s) => s,
            other => panic!("{other:?}"),
        }
    }

    fn handle(&mut self, req: Request) -> Handle {
        match self.call(req) {
            Reply::Handle(h) => h,
            other => panic!("{other:?}"),
        }
    }

    fn attrs(&mut self, req: Request) -> Attrs {
        match self.call(req) {
            Reply::Attrs(a) => a,
            other => panic!("{other:?}"),
        }
    }

    fn name(&mut self, req: Request) -> String {
        match self.call(req) {
            Reply::Name(n) => {
                assert_eq!(n.len(), 1);
                n[0].filename.to_string()
            }
            other => panic!("{other:?}"),
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn version_extensions_and_limits() {
    let Some(mut p) = Peer::start() else { return };
    // What OpenSSH 9.x advertises, with the versions the crate's server copies.
    for (name, version) in [
        (ext::POSIX_RENAME, "1"),
        (ext::STATVFS, "2"),
        (ext::FSTATVFS, "2"),
        (ext::HARDLINK, "1"),
        (ext::FSYNC, "1"),
        (ext::LSETSTAT, "1"),
        (ext::LIMITS, "1"),
        (ext::EXPAND_PATH, "1"),
    ] {
        assert_eq!(
            p.client.extension(name).map(|b| b.to_vec()),
            Some(version.as_bytes().to_vec()),
            "{name}"
        );
    }
    let advertised: Vec<String> = p
        .client
        .extensions()
        .iter()
        .map(|(n, v)| format!("{n}={v:?}"))
        .collect();
    eprintln!("sftp-server advertises: {advertised:?}");
    for (name, version) in p.client.extensions().to_vec() {
        if let Some((_, ours)) = ext::ADVERTISED.iter().find(|(n, _)| name == *n) {
            assert_eq!(version.as_ref(), ours.as_bytes(), "{name}");
        }
    }
    match p.call(Request::Extended(E::Limits)) {
        Reply::Limits(l) => {
            assert_eq!(l.max_packet_len, 256 * 1024);
            assert_eq!(l.max_read_len, 255 * 1024);
            assert_eq!(l.max_write_len, 255 * 1024);
            assert!(l.max_open_handles > 0);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p.client.max_read_len(), 255 * 1024);
    // An unknown extension.
    let s = p.status(Request::Extended(E::Other {
        name: t("nope@example.com"),
        data: Bytes::new(),
    }));
    assert_eq!(s.code, StatusCode::OP_UNSUPPORTED);
}

#[test]
fn pipelined_write_read_round_trip() {
    let Some(mut p) = Peer::start() else { return };
    let data: Vec<u8> = (0..700_000u32)
        .map(|i| (i % 251) as u8 ^ (i >> 11) as u8)
        .collect();
    let f = p.p("big");
    let h = p.handle(Request::Open {
        filename: f.clone(),
        pflags: OpenFlags::WRITE | OpenFlags::CREAT | OpenFlags::TRUNC,
        attrs: Attrs {
            permissions: Some(0o600),
            ..Attrs::default()
        },
    });
    let chunk = 32 * 1024;
    let mut ids = Vec::new();
    for (i, c) in data.chunks(chunk).enumerate() {
        ids.push(
            p.client
                .send(Request::Write {
                    handle: h.clone(),
                    offset: (i * chunk) as u64,
                    data: Bytes::copy_from_slice(c),
                })
                .unwrap(),
        );
    }
    p.flush();
    for _ in &ids {
        match p.next_event() {
            Event::Reply {
                id,
                reply: Reply::Status(s),
            } => {
                assert!(ids.contains(&id));
                assert_eq!(s.code, StatusCode::OK, "{s}");
            }
            other => panic!("{other:?}"),
        }
    }
    p.ok(Request::Close { handle: h });
    assert_eq!(std::fs::read(p.path("big")).unwrap(), data);
    assert_eq!(
        std::fs::metadata(p.path("big")).unwrap().mode() & 0o777,
        0o600
    );

    // Read it back with many outstanding READs of the largest size, reassembled by id.
    let h = p.handle(Request::Open {
        filename: f,
        pflags: OpenFlags::READ,
        attrs: Attrs::default(),
    });
    let len = 64 * 1024;
    let mut by_id = std::collections::BTreeMap::new();
    for i in 0..(data.len() / len + 2) {
        let id = p
            .client
            .send(Request::Read {
                handle: h.clone(),
                offset: (i * len) as u64,
                len: len as u32,
            })
            .unwrap();
        by_id.insert(id, i);
    }
    p.flush();
    let mut back = vec![0u8; data.len()];
    let mut eofs = 0;
    for _ in 0..by_id.len() {
        match p.next_event() {
            Event::Reply {
                id,
                reply: Reply::Data(d),
            } => {
                let at = by_id[&id] * len;
                back[at..at + d.len()].copy_from_slice(&d);
            }
            Event::Reply {
                reply: Reply::Status(s),
                ..
            } => {
                assert_eq!(s.code, StatusCode::EOF);
                eofs += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(eofs >= 1);
    assert_eq!(back, data);
    match p.call(Request::Fstat { handle: h.clone() }) {
        Reply::Attrs(a) => assert_eq!(a.size, Some(data.len() as u64)),
        other => panic!("{other:?}"),
    }
    p.ok(Request::Close { handle: h.clone() });
    // A stale handle: OpenSSH says NO_SUCH_FILE (EBADF through errno_to_portable).
    assert_eq!(
        p.status(Request::Close { handle: h }).code,
        StatusCode::NO_SUCH_FILE
    );
}

#[test]
fn directories_links_and_metadata() {
    let Some(mut p) = Peer::start() else { return };
    let d = p.p("d");
    p.ok(Request::Mkdir {
        path: d.clone(),
        attrs: Attrs::default(),
    });
    for name in ["a", "b", "c"] {
        std::fs::write(p.path(&format!("d/{name}")), name.repeat(10)).unwrap();
    }
    // readdir with long names.
    let h = p.handle(Request::Opendir { path: d.clone() });
    let mut names = Vec::new();
    loop {
        match p.call(Request::Readdir { handle: h.clone() }) {
            Reply::Name(n) => names.extend(n),
            Reply::Status(s) => {
                assert_eq!(s.code, StatusCode::EOF);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    p.ok(Request::Close { handle: h });
    let mut listed: Vec<String> = names.iter().map(|n| n.filename.to_string()).collect();
    listed.sort();
    assert_eq!(listed, [".", "..", "a", "b", "c"]);
    let a = names.iter().find(|n| n.filename == "a").unwrap();
    assert_eq!(a.attrs.size, Some(10));
    assert!(
        a.longname.to_string().starts_with("-rw"),
        "{:?}",
        a.longname
    );
    assert!(a.longname.to_string().ends_with(" a"));

    // SYMLINK: the argument order must be OpenSSH's for the link to point the right way.
    p.ok(Request::Symlink {
        link: p.p("d/link"),
        target: t("a"),
    });
    assert_eq!(
        std::fs::read_link(p.path("d/link")).unwrap(),
        Path::new("a")
    );
    assert_eq!(
        p.name(Request::Readlink {
            path: p.p("d/link")
        }),
        "a"
    );
    assert!(
        p.attrs(Request::Lstat {
            path: p.p("d/link")
        })
        .is_symlink()
    );
    assert!(
        p.attrs(Request::Stat {
            path: p.p("d/link")
        })
        .is_file()
    );
    let real = p.name(Request::Realpath {
        path: p.p("d/../d/./a"),
    });
    assert_eq!(
        real,
        std::fs::canonicalize(p.path("d/a"))
            .unwrap()
            .to_str()
            .unwrap()
    );

    // setstat, then stat sees it.
    p.ok(Request::Setstat {
        path: p.p("d/a"),
        attrs: Attrs {
            permissions: Some(0o640),
            times: Some((1000, 2000)),
            ..Attrs::default()
        },
    });
    let at = p.attrs(Request::Stat { path: p.p("d/a") });
    assert_eq!(at.permissions.unwrap() & 0o777, 0o640);
    assert_eq!(at.times, Some((1000, 2000)));

    // rename refuses to replace, posix-rename replaces, hardlink links.
    let s = p.status(Request::Rename {
        oldpath: p.p("d/a"),
        newpath: p.p("d/b"),
    });
    assert_eq!(s.code, StatusCode::FAILURE);
    p.ok(Request::Extended(E::PosixRename {
        oldpath: p.p("d/a"),
        newpath: p.p("d/b"),
    }));
    assert_eq!(std::fs::read(p.path("d/b")).unwrap(), b"aaaaaaaaaa");
    p.ok(Request::Extended(E::Hardlink {
        oldpath: p.p("d/b"),
        newpath: p.p("d/h"),
    }));
    assert_eq!(std::fs::metadata(p.path("d/h")).unwrap().nlink(), 2);
    assert_eq!(
        p.status(Request::Remove {
            filename: p.p("d/missing")
        })
        .code,
        StatusCode::NO_SUCH_FILE
    );
    assert_eq!(
        p.status(Request::Rmdir { path: d.clone() }).code,
        StatusCode::FAILURE
    );

    // statvfs / fstatvfs / fsync / copy-data.
    let v = match p.call(Request::Extended(E::Statvfs { path: d.clone() })) {
        Reply::Statvfs(v) => v,
        other => panic!("{other:?}"),
    };
    assert!(v.bsize > 0 && v.namemax > 0);
    let r = p.handle(Request::Open {
        filename: p.p("d/c"),
        pflags: OpenFlags::READ,
        attrs: Attrs::default(),
    });
    let w = p.handle(Request::Open {
        filename: p.p("d/copy"),
        pflags: OpenFlags::WRITE | OpenFlags::CREAT,
        attrs: Attrs::default(),
    });
    match p.call(Request::Extended(E::Fstatvfs { handle: r.clone() })) {
        Reply::Statvfs(v2) => assert_eq!(v2.fsid, v.fsid),
        other => panic!("{other:?}"),
    }
    if p.client.supports(ext::COPY_DATA) {
        p.ok(Request::Extended(E::CopyData {
            read_handle: r.clone(),
            read_offset: 2,
            read_len: 0,
            write_handle: w.clone(),
            write_offset: 0,
        }));
    }
    p.ok(Request::Extended(E::Fsync { handle: w.clone() }));
    p.ok(Request::Close { handle: r });
    p.ok(Request::Close { handle: w });
    if p.client.supports(ext::COPY_DATA) {
        assert_eq!(std::fs::read(p.path("d/copy")).unwrap(), b"cccccccc");
    }

    // expand-path of `~` is the home directory of the user running sftp-server.
    if p.client.supports(ext::EXPAND_PATH) {
        let home = p.name(Request::Extended(E::ExpandPath { path: t("~") }));
        assert!(home.starts_with('/'), "{home}");
    }
    if p.client.supports(ext::USERS_GROUPS_BY_ID) {
        let me = std::fs::metadata(p.path("d/copy")).unwrap();
        match p.call(Request::Extended(E::UsersGroupsById {
            uids: vec![0, me.uid()],
            gids: vec![0],
        })) {
            Reply::UsersGroups(ug) => {
                assert_eq!(ug.users[0], "root");
                assert_eq!(ug.groups[0], "root");
                let name = ug.users[1].to_string();
                // home-directory of the user running sftp-server is its passwd entry's
                // directory (expand-path's `~` is the start directory given with -d instead).
                if p.client.supports(ext::HOME_DIRECTORY) {
                    let home = p.name(Request::Extended(E::HomeDirectory { username: t(&name) }));
                    assert!(home.starts_with('/'), "{home}");
                    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
                    let entry = passwd
                        .lines()
                        .find(|l| l.split(':').next() == Some(name.as_str()));
                    if let Some(dir) = entry.and_then(|l| l.split(':').nth(5)) {
                        assert_eq!(home, dir);
                    }
                    let s = p.status(Request::Extended(E::HomeDirectory {
                        username: t("no-such-user-x"),
                    }));
                    assert_ne!(s.code, StatusCode::OK);
                }
            }
            other => panic!("{other:?}"),
        }
    }
}
