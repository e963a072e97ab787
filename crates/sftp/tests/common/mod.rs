//! An in-memory client <-> server pair over the SFTP byte stream, with a `StdFs` rooted in a
//! temporary directory.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

use bytes::Bytes;
use whelk_sftp::client::{Client, ClientConfig, Event, Reply};
use whelk_sftp::codec::{Attrs, ExtendedRequest, Handle, OpenFlags, Request, Status, StatusCode};
use whelk_sftp::fs::{StdFs, StdFsConfig};
use whelk_sftp::server::{Server, ServerConfig};
use whelk_wire::types::Text;

pub struct Pair {
    pub client: Client,
    pub server: Server,
    pub fs: StdFs,
    pub dir: tempfile::TempDir,
    /// The confined root (a subdirectory of `dir`, so tests can put files beside it).
    pub root: PathBuf,
}

pub fn t(s: &str) -> Text {
    Text::from(s.to_owned())
}

impl Pair {
    pub fn new() -> Self {
        Self::with(ServerConfig::default(), StdFsConfig::default())
    }

    pub fn with(server: ServerConfig, fs: StdFsConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(dir.path().join("secret"), b"outside the root").unwrap();
        let fs = StdFs::new(&root, fs).unwrap();
        let root = fs.root().to_path_buf();
        let mut p = Self {
            client: Client::new(ClientConfig::default()),
            server: Server::new(server),
            fs,
            dir,
            root,
        };
        p.pump();
        match p.client.poll_event() {
            Some(Event::Version { version: 3, .. }) => {}
            other => panic!("expected VERSION, got {other:?}"),
        }
        p
    }

    pub fn outside(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Moves bytes both ways until both sides are quiet; the server answers every request
    /// with the `StdFs` backend.
    pub fn pump(&mut self) {
        for _ in 0..1000 {
            let mut c2s = Vec::new();
            self.client.poll_transmit(&mut c2s);
            let mut rest = &c2s[..];
            while !rest.is_empty() {
                let n = self.server.handle_input(rest).unwrap();
                rest = &rest[n..];
                self.server.answer_all(&mut self.fs).unwrap();
            }
            self.server.answer_all(&mut self.fs).unwrap();
            let mut s2c = Vec::new();
            self.server.poll_transmit(&mut s2c);
            if c2s.is_empty() && s2c.is_empty() {
                return;
            }
            assert_eq!(self.client.handle_input(&s2c).unwrap(), s2c.len());
        }
        panic!("pump did not settle");
    }

    /// Sends one request and returns its reply.
    pub fn call(&mut self, req: Request) -> Reply {
        let id = self.client.send(req).unwrap();
        self.pump();
        match self.client.poll_event() {
            Some(Event::Reply { id: got, reply }) => {
                assert_eq!(got, id);
                reply
            }
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    pub fn status(&mut self, req: Request) -> Status {
        match self.call(req) {
            Reply::Status(s) => s,
            other => panic!("expected STATUS, got {other:?}"),
        }
    }

    pub fn code(&mut self, req: Request) -> StatusCode {
        self.status(req).code
    }

    pub fn ok(&mut self, req: Request) {
        let s = self.status(req);
        assert_eq!(s.code, StatusCode::OK, "{s}");
    }

    pub fn open(&mut self, path: &str, pflags: OpenFlags) -> Result<Handle, Status> {
        match self.call(Request::Open {
            filename: t(path),
            pflags,
            attrs: Attrs::default(),
        }) {
            Reply::Handle(h) => Ok(h),
            Reply::Status(s) => Err(s),
            other => panic!("{other:?}"),
        }
    }

    pub fn write_file(&mut self, path: &str, data: &[u8]) {
        let h = self
            .open(path, OpenFlags::WRITE | OpenFlags::CREAT | OpenFlags::TRUNC)
            .unwrap();
        self.ok(Request::Write {
            handle: h.clone(),
            offset: 0,
            data: Bytes::copy_from_slice(data),
        });
        self.ok(Request::Close { handle: h });
    }

    /// Reads a whole file through SFTP, or the status that stopped it.
    pub fn read_file(&mut self, path: &str) -> Result<Vec<u8>, Status> {
        let h = self.open(path, OpenFlags::READ)?;
        let mut out = Vec::new();
        loop {
            match self.call(Request::Read {
                handle: h.clone(),
                offset: out.len() as u64,
                len: 4096,
            }) {
                Reply::Data(d) => out.extend_from_slice(&d),
                Reply::Status(s) if s.code == StatusCode::EOF => break,
                Reply::Status(s) => return Err(s),
                other => panic!("{other:?}"),
            }
        }
        self.ok(Request::Close { handle: h });
        Ok(out)
    }

    pub fn names(&mut self, req: Request) -> Result<Vec<whelk_sftp::codec::Name>, Status> {
        match self.call(req) {
            Reply::Name(n) => Ok(n),
            Reply::Status(s) => Err(s),
            other => panic!("{other:?}"),
        }
    }

    pub fn realpath(&mut self, path: &str) -> Result<String, Status> {
        let n = self.names(Request::Realpath { path: t(path) })?;
        assert_eq!(n.len(), 1);
        Ok(n[0].filename.to_string())
    }

    pub fn stat(&mut self, path: &str) -> Result<Attrs, Status> {
        match self.call(Request::Stat { path: t(path) }) {
            Reply::Attrs(a) => Ok(a),
            Reply::Status(s) => Err(s),
            other => panic!("{other:?}"),
        }
    }

    pub fn lstat(&mut self, path: &str) -> Result<Attrs, Status> {
        match self.call(Request::Lstat { path: t(path) }) {
            Reply::Attrs(a) => Ok(a),
            Reply::Status(s) => Err(s),
            other => panic!("{other:?}"),
        }
    }

    /// All names of a directory listing (READDIR until EOF).
    pub fn list(&mut self, path: &str) -> Result<Vec<whelk_sftp::codec::Name>, Status> {
        let h = match self.call(Request::Opendir { path: t(path) }) {
            Reply::Handle(h) => h,
            Reply::Status(s) => return Err(s),
            other => panic!("{other:?}"),
        };
        let mut all = Vec::new();
        loop {
            match self.call(Request::Readdir { handle: h.clone() }) {
                Reply::Name(n) => all.extend(n),
                Reply::Status(s) if s.code == StatusCode::EOF => break,
                Reply::Status(s) => return Err(s),
                other => panic!("{other:?}"),
            }
        }
        self.ok(Request::Close { handle: h });
        Ok(all)
    }

    pub fn ext(&mut self, e: ExtendedRequest) -> Reply {
        self.call(Request::Extended(e))
    }
}

pub fn exists(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}
