//! A blocking SFTP client ([`crate::Client::sftp`]) over the sans-IO
//! [`whelk_sftp::client::Client`], on an `sftp` subsystem channel.
//!
//! One thread per SFTP session reads the channel and files each reply under its request id;
//! callers send requests and wait for their ids, so any number of threads can use one
//! [`Sftp`] at once. Whole-file transfers ([`Sftp::download`], [`Sftp::upload`] and the
//! helpers built on them) keep [`PIPELINE`] requests in flight.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use bytes::Bytes;
use whelk_sftp::client::{Client as SftpClient, ClientConfig as SftpConfig, Event, Reply};
use whelk_sftp::codec::{Handle, Request};

pub use whelk_sftp::codec::{Attrs, Name, OpenFlags, Status, StatusCode};

use crate::client::{Session, Stdin};
use crate::error::{Error, Result};

/// Requests kept in flight by whole-file transfers.
pub const PIPELINE: usize = 16;
/// Bytes per WRITE request (and the READ length asked for unless the server's
/// `limits@openssh.com` says otherwise): 32 KiB, which every server takes.
pub const CHUNK: usize = 32 * 1024;

struct State {
    client: SftpClient,
    replies: HashMap<u32, Reply>,
    /// Replies nobody waits for (a CLOSE sent on drop).
    discard: HashSet<u32>,
    ready: bool,
    closed: Option<String>,
}

struct Inner {
    state: Mutex<State>,
    cond: Condvar,
    /// Serializes writes so packets reach the channel in the order they were queued.
    writer: Mutex<Stdin>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn send(&self, request: Request) -> Result<u32> {
        let mut w = self
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (id, bytes) = {
            let mut st = self.lock();
            if let Some(why) = &st.closed {
                return Err(Error::Closed(why.clone()));
            }
            let id = st.client.send(request)?;
            let mut out = Vec::new();
            let _ = st.client.poll_transmit(&mut out);
            (id, out)
        };
        w.write_all(&bytes)?;
        Ok(id)
    }

    fn wait(&self, id: u32) -> Result<Reply> {
        let mut st = self.lock();
        loop {
            if let Some(r) = st.replies.remove(&id) {
                return Ok(r);
            }
            if let Some(why) = &st.closed {
                return Err(Error::Closed(why.clone()));
            }
            st = self
                .cond
                .wait(st)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    fn request(&self, request: Request) -> Result<Reply> {
        let id = self.send(request)?;
        self.wait(id)
    }

    /// Sends a request whose reply is not awaited.
    fn forget(&self, request: Request) {
        if let Ok(id) = self.send(request) {
            let mut st = self.lock();
            if st.replies.remove(&id).is_none() {
                st.discard.insert(id);
            }
        }
    }
}

/// A failure status as an error (OK is `Ok`).
fn status(reply: Reply) -> Result<()> {
    match reply {
        Reply::Status(s) if s.code == StatusCode::OK => Ok(()),
        other => Err(unexpected(other)),
    }
}

fn unexpected(reply: Reply) -> Error {
    match reply {
        Reply::Status(s) => Error::SftpStatus {
            code: s.code,
            message: s.message.to_string(),
        },
        other => Error::Refused(format!("unexpected SFTP reply {other:?}")),
    }
}

fn text<T: From<String>>(path: &str) -> T {
    path.to_string().into()
}

/// An SFTP session (version 3, with OpenSSH's extensions available to
/// [`Sftp::request`]). Usable from many threads at once. Dropping it closes the channel.
pub struct Sftp {
    inner: Arc<Inner>,
    session: Session,
}

impl std::fmt::Debug for Sftp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sftp")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl Sftp {
    /// Starts the session on a channel whose `sftp` subsystem was accepted.
    pub(crate) fn start(session: Session) -> Result<Self> {
        let mut client = SftpClient::new(SftpConfig::default());
        let mut init = Vec::new();
        let _ = client.poll_transmit(&mut init);
        let mut stdin = session.stdin();
        stdin.write_all(&init)?;
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                client,
                replies: HashMap::new(),
                discard: HashSet::new(),
                ready: false,
                closed: None,
            }),
            cond: Condvar::new(),
            writer: Mutex::new(stdin),
        });
        let mut stdout = session.stdout();
        let reader = inner.clone();
        std::thread::Builder::new()
            .name("whelk-sftp".into())
            .spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                let why = loop {
                    let n = match stdout.read(&mut buf) {
                        Ok(0) => break "SFTP channel closed".to_string(),
                        Ok(n) => n,
                        Err(e) => break format!("SFTP channel: {e}"),
                    };
                    let mut st = reader.lock();
                    if let Err(e) = st.client.handle_input(buf.get(..n).unwrap_or_default()) {
                        break format!("SFTP: {e}");
                    }
                    while let Some(ev) = st.client.poll_event() {
                        match ev {
                            Event::Version { .. } => st.ready = true,
                            Event::Reply { id, reply } => {
                                if !st.discard.remove(&id) {
                                    st.replies.insert(id, reply);
                                }
                            }
                        }
                    }
                    drop(st);
                    reader.cond.notify_all();
                };
                reader.lock().closed = Some(why);
                reader.cond.notify_all();
            })?;
        // Wait for VERSION.
        let mut st = inner.lock();
        while !st.ready {
            if let Some(why) = &st.closed {
                return Err(Error::Closed(why.clone()));
            }
            st = inner
                .cond
                .wait(st)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        drop(st);
        Ok(Self { inner, session })
    }

    /// Sends any request and waits for its reply (for the extensions this API does not
    /// wrap: `statvfs@openssh.com`, `hardlink@openssh.com`, ...).
    pub fn request(&self, request: Request) -> Result<Reply> {
        self.inner.request(request)
    }

    /// Whether the server announced the extension `name` (e.g. `posix-rename@openssh.com`).
    #[must_use]
    pub fn supports(&self, name: &str) -> bool {
        self.inner.lock().client.supports(name)
    }

    /// The canonical absolute form of `path` (`"."`: the starting directory).
    pub fn realpath(&self, path: &str) -> Result<String> {
        match self.inner.request(Request::Realpath { path: text(path) })? {
            Reply::Name(names) => names
                .into_iter()
                .next()
                .map(|n| n.filename.to_string())
                .ok_or_else(|| Error::Refused("empty REALPATH reply".into())),
            other => Err(unexpected(other)),
        }
    }

    /// The attributes of `path`, following symbolic links.
    pub fn stat(&self, path: &str) -> Result<Attrs> {
        match self.inner.request(Request::Stat { path: text(path) })? {
            Reply::Attrs(a) => Ok(a),
            other => Err(unexpected(other)),
        }
    }

    /// The attributes of `path` itself (a symbolic link is not followed).
    pub fn lstat(&self, path: &str) -> Result<Attrs> {
        match self.inner.request(Request::Lstat { path: text(path) })? {
            Reply::Attrs(a) => Ok(a),
            other => Err(unexpected(other)),
        }
    }

    /// Changes attributes of `path` (permissions, times, owner; `size` truncates).
    pub fn setstat(&self, path: &str, attrs: Attrs) -> Result<()> {
        status(self.inner.request(Request::Setstat {
            path: text(path),
            attrs,
        })?)
    }

    /// The entries of directory `path` (without `.` and `..`), in the server's order.
    pub fn read_dir(&self, path: &str) -> Result<Vec<Name>> {
        let handle = match self.inner.request(Request::Opendir { path: text(path) })? {
            Reply::Handle(h) => h,
            other => return Err(unexpected(other)),
        };
        let mut out = Vec::new();
        let r =
            loop {
                match self.inner.request(Request::Readdir {
                    handle: handle.clone(),
                }) {
                    Ok(Reply::Name(names)) => out.extend(names.into_iter().filter(|n| {
                        n.filename.as_bytes() != b"." && n.filename.as_bytes() != b".."
                    })),
                    Ok(Reply::Status(s)) if s.code == StatusCode::EOF => break Ok(()),
                    Ok(other) => break Err(unexpected(other)),
                    Err(e) => break Err(e),
                }
            };
        let closed = self
            .inner
            .request(Request::Close { handle })
            .and_then(status);
        r.and(closed).map(|()| out)
    }

    /// Creates directory `path`.
    pub fn mkdir(&self, path: &str) -> Result<()> {
        status(self.inner.request(Request::Mkdir {
            path: text(path),
            attrs: Attrs::default(),
        })?)
    }

    /// Removes the empty directory `path`.
    pub fn rmdir(&self, path: &str) -> Result<()> {
        status(self.inner.request(Request::Rmdir { path: text(path) })?)
    }

    /// Removes the file `path`.
    pub fn remove(&self, path: &str) -> Result<()> {
        status(self.inner.request(Request::Remove {
            filename: text(path),
        })?)
    }

    /// Renames `from` to `to`; replaces an existing `to` when the server supports
    /// `posix-rename@openssh.com`, fails otherwise (plain SFTP v3 `RENAME`).
    pub fn rename(&self, from: &str, to: &str) -> Result<()> {
        let request = if self.supports("posix-rename@openssh.com") {
            Request::Extended(whelk_sftp::codec::ExtendedRequest::PosixRename {
                oldpath: text(from),
                newpath: text(to),
            })
        } else {
            Request::Rename {
                oldpath: text(from),
                newpath: text(to),
            }
        };
        status(self.inner.request(request)?)
    }

    /// Opens `path` with `flags` (new files get `attrs`, e.g. permissions).
    pub fn open_with(&self, path: &str, flags: OpenFlags, attrs: Attrs) -> Result<File> {
        match self.inner.request(Request::Open {
            filename: text(path),
            pflags: flags,
            attrs,
        })? {
            Reply::Handle(handle) => Ok(File {
                inner: self.inner.clone(),
                handle: Some(handle),
                offset: 0,
            }),
            other => Err(unexpected(other)),
        }
    }

    /// Opens `path` for reading.
    pub fn open(&self, path: &str) -> Result<File> {
        self.open_with(path, OpenFlags::READ, Attrs::default())
    }

    /// Creates (or truncates) `path` for writing.
    pub fn create(&self, path: &str) -> Result<File> {
        self.open_with(
            path,
            OpenFlags(OpenFlags::WRITE.0 | OpenFlags::CREAT.0 | OpenFlags::TRUNC.0),
            Attrs::default(),
        )
    }

    fn read_len(&self) -> u32 {
        let max = self.inner.lock().client.max_read_len();
        max.min(u32::try_from(CHUNK).unwrap_or(u32::MAX)).max(1)
    }

    /// Copies the remote file `path` into `out`, [`PIPELINE`] reads in flight; returns
    /// the bytes copied.
    pub fn download(&self, path: &str, out: &mut impl Write) -> Result<u64> {
        let file = self.open(path)?;
        let Some(handle) = file.handle.clone() else {
            return Ok(0);
        };
        let len = self.read_len();
        let mut queue: VecDeque<(u32, u64, u32)> = VecDeque::new();
        let mut next = 0u64;
        let mut done = 0u64;
        let mut eof = false;
        let mut failure = None;
        loop {
            while !eof && failure.is_none() && queue.len() < PIPELINE {
                match self.inner.send(Request::Read {
                    handle: handle.clone(),
                    offset: next,
                    len,
                }) {
                    Ok(id) => queue.push_back((id, next, len)),
                    Err(e) => failure = Some(e),
                }
                next += u64::from(len);
            }
            let Some((id, offset, asked)) = queue.pop_front() else {
                break;
            };
            let reply = self.inner.wait(id)?;
            if eof || failure.is_some() {
                continue;
            }
            match reply {
                Reply::Data(d) => {
                    out.write_all(&d)?;
                    done = offset + d.len() as u64;
                    // A short read that is not the end: fetch the rest before going on.
                    let end = offset + u64::from(asked);
                    let mut at = done;
                    while at < end && !d.is_empty() {
                        let want = u32::try_from(end - at).unwrap_or(len);
                        match self.inner.request(Request::Read {
                            handle: handle.clone(),
                            offset: at,
                            len: want,
                        }) {
                            Ok(Reply::Data(more)) if !more.is_empty() => {
                                out.write_all(&more)?;
                                at += more.len() as u64;
                                done = at;
                            }
                            Ok(Reply::Status(s)) if s.code == StatusCode::EOF => {
                                eof = true;
                                break;
                            }
                            Ok(other) => {
                                failure = Some(unexpected(other));
                                break;
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    if d.is_empty() {
                        eof = true;
                    }
                }
                Reply::Status(s) if s.code == StatusCode::EOF => eof = true,
                other => failure = Some(unexpected(other)),
            }
        }
        file.close()?;
        match failure {
            Some(e) => Err(e),
            None => Ok(done),
        }
    }

    /// Copies everything `input` gives into the remote file `path` (created or
    /// truncated), [`PIPELINE`] writes in flight; returns the bytes copied.
    pub fn upload(&self, input: &mut impl Read, path: &str) -> Result<u64> {
        let file = self.create(path)?;
        let Some(handle) = file.handle.clone() else {
            return Ok(0);
        };
        let mut queue: VecDeque<u32> = VecDeque::new();
        let mut offset = 0u64;
        let mut failure = None;
        let mut buf = vec![0u8; CHUNK];
        let mut input_done = false;
        loop {
            while !input_done && failure.is_none() && queue.len() < PIPELINE {
                let n = read_full(input, &mut buf)?;
                if n == 0 {
                    input_done = true;
                    break;
                }
                let data = Bytes::copy_from_slice(buf.get(..n).unwrap_or_default());
                match self.inner.send(Request::Write {
                    handle: handle.clone(),
                    offset,
                    data,
                }) {
                    Ok(id) => queue.push_back(id),
                    Err(e) => failure = Some(e),
                }
                offset += n as u64;
            }
            let Some(id) = queue.pop_front() else {
                break;
            };
            if let Err(e) = self.inner.wait(id).and_then(status)
                && failure.is_none()
            {
                failure = Some(e);
            }
        }
        let closed = file.close();
        match failure {
            Some(e) => Err(e),
            None => closed.map(|()| offset),
        }
    }

    /// The whole remote file `path`.
    pub fn read(&self, path: &str) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.download(path, &mut out)?;
        Ok(out)
    }

    /// Writes `data` as the remote file `path` (created or truncated).
    pub fn write(&self, path: &str, data: &[u8]) -> Result<()> {
        let mut input = data;
        self.upload(&mut input, path).map(|_| ())
    }

    /// Downloads the remote file `remote` to the local file `local` (created or
    /// truncated); returns the bytes copied.
    pub fn get(&self, remote: &str, local: impl AsRef<Path>) -> Result<u64> {
        let mut f = io::BufWriter::new(std::fs::File::create(local)?);
        let n = self.download(remote, &mut f)?;
        f.flush()?;
        Ok(n)
    }

    /// Uploads the local file `local` to the remote file `remote` (created or truncated);
    /// returns the bytes copied.
    pub fn put(&self, local: impl AsRef<Path>, remote: &str) -> Result<u64> {
        let mut f = std::fs::File::open(local)?;
        self.upload(&mut f, remote)
    }

    /// Ends the session (closes the channel).
    pub fn close(self) {
        self.session.close();
    }
}

impl Drop for Sftp {
    fn drop(&mut self) {
        // The reader thread holds a handle too: close explicitly so it sees the end.
        self.session.close();
    }
}

/// Reads until `buf` is full or the input ends.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while let Some(rest) = buf.get_mut(n..) {
        if rest.is_empty() {
            break;
        }
        match input.read(rest) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// An open remote file: [`Read`], [`Write`] and [`Seek`] (one request at a time; use
/// [`Sftp::download`] / [`Sftp::upload`] for fast whole-file transfers). Closed on drop
/// (without waiting); [`File::close`] reports errors.
pub struct File {
    inner: Arc<Inner>,
    handle: Option<Handle>,
    offset: u64,
}

impl std::fmt::Debug for File {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("File")
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

fn io_err(e: Error) -> io::Error {
    match e {
        Error::Io(e) => e,
        Error::SftpStatus { code, .. } if code == StatusCode::NO_SUCH_FILE => {
            io::Error::new(io::ErrorKind::NotFound, e.to_string())
        }
        Error::SftpStatus { code, .. } if code == StatusCode::PERMISSION_DENIED => {
            io::Error::new(io::ErrorKind::PermissionDenied, e.to_string())
        }
        other => io::Error::other(other.to_string()),
    }
}

impl File {
    fn handle(&self) -> Result<Handle> {
        self.handle
            .clone()
            .ok_or_else(|| Error::Closed("file closed".into()))
    }

    /// The file's attributes.
    pub fn stat(&self) -> Result<Attrs> {
        match self.inner.request(Request::Fstat {
            handle: self.handle()?,
        })? {
            Reply::Attrs(a) => Ok(a),
            other => Err(unexpected(other)),
        }
    }

    /// Closes the handle and reports the server's answer.
    pub fn close(mut self) -> Result<()> {
        match self.handle.take() {
            Some(handle) => status(self.inner.request(Request::Close { handle })?),
            None => Ok(()),
        }
    }
}

impl Drop for File {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            self.inner.forget(Request::Close { handle });
        }
    }
}

impl Read for File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let len = u32::try_from(buf.len().min(CHUNK)).unwrap_or(u32::MAX);
        let handle = self.handle().map_err(io_err)?;
        match self
            .inner
            .request(Request::Read {
                handle,
                offset: self.offset,
                len,
            })
            .map_err(io_err)?
        {
            Reply::Data(d) => {
                let n = d.len().min(buf.len());
                if let (Some(dst), Some(src)) = (buf.get_mut(..n), d.get(..n)) {
                    dst.copy_from_slice(src);
                }
                self.offset += n as u64;
                Ok(n)
            }
            Reply::Status(s) if s.code == StatusCode::EOF => Ok(0),
            other => Err(io_err(unexpected(other))),
        }
    }
}

impl Write for File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(CHUNK);
        if n == 0 {
            return Ok(0);
        }
        let handle = self.handle().map_err(io_err)?;
        let data = Bytes::copy_from_slice(buf.get(..n).unwrap_or_default());
        let reply = self
            .inner
            .request(Request::Write {
                handle,
                offset: self.offset,
                data,
            })
            .map_err(io_err)?;
        status(reply).map_err(io_err)?;
        self.offset += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let base = match pos {
            SeekFrom::Start(o) => {
                self.offset = o;
                return Ok(o);
            }
            SeekFrom::Current(d) => (self.offset, d),
            SeekFrom::End(d) => {
                let size = self.stat().map_err(io_err)?.size.ok_or_else(|| {
                    io::Error::new(io::ErrorKind::Unsupported, "the server gave no size")
                })?;
                (size, d)
            }
        };
        let o = base
            .0
            .checked_add_signed(base.1)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek out of range"))?;
        self.offset = o;
        Ok(o)
    }
}

pub use whelk_sftp::server::{Filesystem, ServerConfig as SftpServerConfig};

#[cfg(any(target_os = "linux", target_os = "android"))]
pub use whelk_sftp::fs::{StdFs, StdFsConfig};

/// Serves SFTP on a server session (from [`crate::Handler::subsystem`] for `"sftp"`):
/// the sans-IO [`whelk_sftp::server::Server`] answered by `fs` (e.g. [`StdFs`], confined
/// to a directory) until the client closes the session. Requests are answered in order,
/// at most [`SftpServerConfig::max_outstanding`] taken in at a time.
///
/// ```no_run
/// use whelk_std::{ServerSession, sftp};
///
/// // The body of a Handler::subsystem.
/// fn subsystem(name: String, session: ServerSession) -> u32 {
///     if name != "sftp" {
///         return 1;
///     }
///     let Ok(mut fs) = sftp::StdFs::new("/srv/files", sftp::StdFsConfig::default()) else {
///         return 1;
///     };
///     match sftp::serve(&session, sftp::SftpServerConfig::default(), &mut fs) {
///         Ok(()) => 0,
///         Err(_) => 1,
///     }
/// }
/// ```
pub fn serve<F: Filesystem + ?Sized>(
    session: &crate::ServerSession,
    config: SftpServerConfig,
    fs: &mut F,
) -> Result<()> {
    let mut server = whelk_sftp::server::Server::new(config);
    let mut input = session.stdin();
    let mut output = session.stdout();
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        let mut chunk = buf.get(..n).unwrap_or_default();
        while !chunk.is_empty() {
            let used = server.handle_input(chunk)?;
            chunk = chunk.get(used..).unwrap_or_default();
            server.answer_all(fs)?;
            let _ = server.poll_transmit(&mut out);
            output.write_all(&out)?;
            out.clear();
        }
    }
}
