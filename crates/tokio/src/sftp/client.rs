//! The async SFTP client.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use whelk_sftp::client::{Client as Proto, ClientConfig, Event, Reply};
use whelk_sftp::codec::{
    Attrs, DEFAULT_MAX_READ, ExtendedRequest, Handle, Limits, Name, OpenFlags, Request, StatusCode,
    Statvfs, ext,
};
use whelk_wire::types::Text;

use super::error::{Error, Result};
use super::file::File;
use super::glob;

/// The state shared by the client handles and its two I/O tasks.
pub(super) struct Core {
    state: Mutex<State>,
    /// Wakes the writer task: the state machine has bytes to send.
    wake: Notify,
}

struct State {
    proto: Proto,
    waiters: HashMap<u32, oneshot::Sender<Reply>>,
    ready: Option<oneshot::Sender<()>>,
    closed: Option<String>,
}

impl Core {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn close(&self, why: String) {
        let mut st = self.lock();
        if st.closed.is_none() {
            st.closed = Some(why);
        }
        st.waiters.clear();
        st.ready = None;
    }
}

/// Aborts the I/O tasks and releases the channel when the last handle goes away.
struct Inner {
    core: Arc<Core>,
    tasks: Vec<JoinHandle<()>>,
    read_len: AtomicU32,
    write_len: AtomicU32,
    _keep: Option<Box<dyn Any + Send + Sync>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// An SFTP session (version 3 with OpenSSH's extensions). Cheap to clone; every clone and
/// every open [`File`] shares the one session, and requests from all of them may be in flight
/// at once.
#[derive(Clone)]
pub struct SftpClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SftpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SftpClient")
            .field("read_len", &self.read_len())
            .field("write_len", &self.write_len())
            .finish_non_exhaustive()
    }
}

/// An open directory ([`SftpClient::opendir`]); closed on drop or by [`SftpClient::closedir`].
#[derive(Debug)]
pub struct Dir {
    pub(super) client: SftpClient,
    pub(super) handle: Option<Handle>,
}

impl Drop for Dir {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            let _ = self.client.send(Request::Close { handle: h });
        }
    }
}

pub(super) fn text(s: &str) -> Text {
    Text::from(s.to_string())
}

/// Maps a reply that should be `STATUS OK`.
pub(super) fn expect_ok(path: &str, reply: Reply) -> Result<()> {
    match reply {
        Reply::Status(s) if s.code == StatusCode::OK => Ok(()),
        Reply::Status(s) => Err(Error::status(path, s)),
        other => Err(unexpected(path, &other)),
    }
}

pub(super) fn unexpected(path: &str, reply: &Reply) -> Error {
    Error::Invalid(format!("{path}: unexpected reply {reply:?}"))
}

fn expect_handle(path: &str, reply: Reply) -> Result<Handle> {
    match reply {
        Reply::Handle(h) => Ok(h),
        Reply::Status(s) => Err(Error::status(path, s)),
        other => Err(unexpected(path, &other)),
    }
}

fn expect_attrs(path: &str, reply: Reply) -> Result<Attrs> {
    match reply {
        Reply::Attrs(a) => Ok(a),
        Reply::Status(s) => Err(Error::status(path, s)),
        other => Err(unexpected(path, &other)),
    }
}

fn expect_one_name(path: &str, reply: Reply) -> Result<String> {
    match reply {
        Reply::Name(n) => n
            .into_iter()
            .next()
            .map(|n| n.filename.to_string_lossy().into_owned())
            .ok_or_else(|| Error::Invalid(format!("{path}: empty NAME reply"))),
        Reply::Status(s) => Err(Error::status(path, s)),
        other => Err(unexpected(path, &other)),
    }
}

/// Joins a remote directory and a name with `/`.
#[must_use]
pub(super) fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() || dir == "." {
        name.to_string()
    } else if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// The last component of a remote path.
#[must_use]
pub(super) fn basename(path: &str) -> &str {
    let t = path.trim_end_matches('/');
    t.rsplit('/').next().unwrap_or(t)
}

impl SftpClient {
    /// Opens a session channel on `client`, starts the `sftp` subsystem and negotiates
    /// version 3 (and asks for `limits@openssh.com` when offered).
    pub async fn connect(client: &crate::Client) -> Result<Self> {
        let session = client.session().await?;
        session.subsystem("sftp").await?;
        let r = session.stdout();
        let w = session.stdin();
        Self::start(r, w, Some(Box::new(session))).await
    }

    /// [`SftpClient::connect`] under another name (the `Client::sftp()` of other libraries).
    pub async fn new(client: &crate::Client) -> Result<Self> {
        Self::connect(client).await
    }

    /// An SFTP client over any pair of byte streams (a pipe to `sftp-server`, an in-memory
    /// duplex, a session started with a command instead of the subsystem).
    pub async fn from_streams<R, W>(reader: R, writer: W) -> Result<Self>
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        Self::start(reader, writer, None).await
    }

    /// [`SftpClient::from_streams`] that also keeps `keep` (e.g. the channel) alive for as
    /// long as the client lives.
    pub async fn from_streams_keep<R, W>(
        reader: R,
        writer: W,
        keep: Box<dyn Any + Send + Sync>,
    ) -> Result<Self>
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        Self::start(reader, writer, Some(keep)).await
    }

    async fn start<R, W>(
        reader: R,
        writer: W,
        keep: Option<Box<dyn Any + Send + Sync>>,
    ) -> Result<Self>
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (ready_tx, ready_rx) = oneshot::channel();
        let core = Arc::new(Core {
            state: Mutex::new(State {
                proto: Proto::new(ClientConfig::default()),
                waiters: HashMap::new(),
                ready: Some(ready_tx),
                closed: None,
            }),
            wake: Notify::new(),
        });
        let tasks = vec![
            tokio::spawn(write_task(core.clone(), writer)),
            tokio::spawn(read_task(core.clone(), reader)),
        ];
        let me = Self {
            inner: Arc::new(Inner {
                core,
                tasks,
                read_len: AtomicU32::new(32 * 1024),
                write_len: AtomicU32::new(32 * 1024),
                _keep: keep,
            }),
        };
        if ready_rx.await.is_err() {
            return Err(Error::Closed(closed_reason(me.core())));
        }
        if me.supports(ext::LIMITS)
            && let Reply::Limits(l) = me.call(Request::Extended(ExtendedRequest::Limits)).await?
        {
            let (r, w) = block_sizes(&l);
            me.inner.read_len.store(r, Ordering::Relaxed);
            me.inner.write_len.store(w, Ordering::Relaxed);
        }
        Ok(me)
    }

    fn core(&self) -> &Core {
        &self.inner.core
    }

    // ----- getters -----

    /// The READ length transfers use (from `limits@openssh.com`, at least 32 KiB).
    #[must_use]
    pub fn read_len(&self) -> u32 {
        self.inner.read_len.load(Ordering::Relaxed)
    }

    /// The WRITE length transfers use (from `limits@openssh.com`, at least 32 KiB).
    #[must_use]
    pub fn write_len(&self) -> u32 {
        self.inner.write_len.load(Ordering::Relaxed)
    }

    /// The server's `limits@openssh.com` values, if it offered them.
    #[must_use]
    pub fn limits(&self) -> Option<Limits> {
        self.core().lock().proto.limits()
    }

    /// The extensions the server advertised (name, version).
    #[must_use]
    pub fn extensions(&self) -> Vec<(String, String)> {
        self.core()
            .lock()
            .proto
            .extensions()
            .iter()
            .map(|(n, d)| {
                (
                    n.to_string_lossy().into_owned(),
                    String::from_utf8_lossy(d).into_owned(),
                )
            })
            .collect()
    }

    /// Whether `other` is this very client (the same SFTP session), not another one.
    pub(super) fn same_session(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Whether the server advertised extension `name`.
    #[must_use]
    pub fn supports(&self, name: &str) -> bool {
        self.core().lock().proto.supports(name)
    }

    /// Whether the session is still up.
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.core().lock().closed.is_none()
    }

    // ----- requests -----

    /// Queues `request` and returns where its reply will arrive. Sending happens now, so
    /// several `send`s before the first `await` are all in flight together.
    pub(super) fn send(&self, request: Request) -> Result<oneshot::Receiver<Reply>> {
        let (tx, rx) = oneshot::channel();
        {
            let mut st = self.core().lock();
            if let Some(why) = &st.closed {
                return Err(Error::Closed(why.clone()));
            }
            let id = st.proto.send(request)?;
            st.waiters.insert(id, tx);
        }
        self.core().wake.notify_one();
        Ok(rx)
    }

    /// Waits for a reply from [`SftpClient::send`].
    pub(super) async fn recv(&self, rx: oneshot::Receiver<Reply>) -> Result<Reply> {
        match rx.await {
            Ok(r) => Ok(r),
            Err(_) => Err(Error::Closed(closed_reason(self.core()))),
        }
    }

    /// Sends `request` and waits for its reply.
    pub(super) async fn call(&self, request: Request) -> Result<Reply> {
        let rx = self.send(request)?;
        self.recv(rx).await
    }

    async fn call_ok(&self, path: &str, request: Request) -> Result<()> {
        expect_ok(path, self.call(request).await?)
    }

    /// Opens `path` with `flags`; `attrs` apply to a file it creates (permissions).
    pub async fn open_with(&self, path: &str, flags: OpenFlags, attrs: Attrs) -> Result<File> {
        let reply = self
            .call(Request::Open {
                filename: text(path),
                pflags: flags,
                attrs,
            })
            .await?;
        let handle = expect_handle(path, reply)?;
        Ok(File::new(self.clone(), handle, path.to_string()))
    }

    /// Opens `path` for reading.
    pub async fn open(&self, path: &str) -> Result<File> {
        self.open_with(path, OpenFlags::READ, Attrs::default())
            .await
    }

    /// Creates (or truncates) `path` for writing, like `File::create`.
    pub async fn create(&self, path: &str) -> Result<File> {
        self.open_with(
            path,
            OpenFlags::WRITE | OpenFlags::CREAT | OpenFlags::TRUNC,
            Attrs::default(),
        )
        .await
    }

    /// Opens `path` for appending (created if missing); writes start at its end.
    pub async fn append(&self, path: &str) -> Result<File> {
        let mut f = self
            .open_with(
                path,
                OpenFlags::WRITE | OpenFlags::CREAT | OpenFlags::APPEND,
                Attrs::default(),
            )
            .await?;
        let size = f.metadata().await?.size.unwrap_or(0);
        f.set_position(size);
        Ok(f)
    }

    /// Reads the whole file at `path`.
    pub async fn read(&self, path: &str) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut f = self.open(path).await?;
        f.read_to_end(&mut out).await?;
        f.close().await?;
        Ok(out)
    }

    /// Writes `data` to `path` (created or truncated).
    pub async fn write(&self, path: &str, data: &[u8]) -> Result<()> {
        let mut f = self.create(path).await?;
        f.write_all(data).await?;
        f.close().await
    }

    /// `STAT`: the attributes of `path`, following symlinks.
    pub async fn stat(&self, path: &str) -> Result<Attrs> {
        expect_attrs(path, self.call(Request::Stat { path: text(path) }).await?)
    }

    /// `LSTAT`: the attributes of `path` itself (a symlink is not followed).
    pub async fn lstat(&self, path: &str) -> Result<Attrs> {
        expect_attrs(path, self.call(Request::Lstat { path: text(path) }).await?)
    }

    /// `FSTAT` of an open file.
    pub async fn fstat(&self, file: &File) -> Result<Attrs> {
        file.metadata().await
    }

    /// `SETSTAT`: changes the attributes present in `attrs`.
    pub async fn setstat(&self, path: &str, attrs: Attrs) -> Result<()> {
        self.call_ok(
            path,
            Request::Setstat {
                path: text(path),
                attrs,
            },
        )
        .await
    }

    /// Sets the size of `path`.
    pub async fn truncate(&self, path: &str, size: u64) -> Result<()> {
        self.setstat(
            path,
            Attrs {
                size: Some(size),
                ..Attrs::default()
            },
        )
        .await
    }

    /// Sets the permission bits of `path`.
    pub async fn chmod(&self, path: &str, mode: u32) -> Result<()> {
        self.setstat(
            path,
            Attrs {
                permissions: Some(mode & 0o7777),
                ..Attrs::default()
            },
        )
        .await
    }

    /// Sets the owner and group of `path`.
    pub async fn chown(&self, path: &str, uid: u32, gid: u32) -> Result<()> {
        self.setstat(
            path,
            Attrs {
                uid_gid: Some((uid, gid)),
                ..Attrs::default()
            },
        )
        .await
    }

    /// Sets the access and modification times of `path` (seconds since the epoch).
    pub async fn utime(&self, path: &str, atime: u32, mtime: u32) -> Result<()> {
        self.setstat(
            path,
            Attrs {
                times: Some((atime, mtime)),
                ..Attrs::default()
            },
        )
        .await
    }

    /// `OPENDIR`.
    pub async fn opendir(&self, path: &str) -> Result<Dir> {
        let reply = self.call(Request::Opendir { path: text(path) }).await?;
        Ok(Dir {
            client: self.clone(),
            handle: Some(expect_handle(path, reply)?),
        })
    }

    /// `READDIR`: the next batch of entries, or `None` at the end.
    pub async fn readdir(&self, dir: &Dir) -> Result<Option<Vec<Name>>> {
        let Some(handle) = dir.handle.clone() else {
            return Ok(None);
        };
        match self.call(Request::Readdir { handle }).await? {
            Reply::Name(n) => Ok(Some(n)),
            Reply::Status(s) if s.code == StatusCode::EOF => Ok(None),
            Reply::Status(s) => Err(Error::status("readdir", s)),
            other => Err(unexpected("readdir", &other)),
        }
    }

    /// Closes a directory.
    pub async fn closedir(&self, mut dir: Dir) -> Result<()> {
        match dir.handle.take() {
            Some(handle) => self.call_ok("closedir", Request::Close { handle }).await,
            None => Ok(()),
        }
    }

    /// Every entry of directory `path` with its attributes, without `.` and `..`, sorted by
    /// name.
    pub async fn scandir(&self, path: &str) -> Result<Vec<Name>> {
        let dir = self.opendir(path).await?;
        let mut out = Vec::new();
        while let Some(batch) = self.readdir(&dir).await? {
            out.extend(
                batch
                    .into_iter()
                    .filter(|n| n.filename != "." && n.filename != ".."),
            );
        }
        self.closedir(dir).await?;
        out.sort_by(|a, b| a.filename.cmp(&b.filename));
        Ok(out)
    }

    /// The names in directory `path`, without `.` and `..`, sorted.
    pub async fn listdir(&self, path: &str) -> Result<Vec<String>> {
        Ok(self
            .scandir(path)
            .await?
            .into_iter()
            .map(|n| n.filename.to_string_lossy().into_owned())
            .collect())
    }

    /// `MKDIR` with permission bits `mode` (the server's default when `None`).
    pub async fn mkdir(&self, path: &str, mode: Option<u32>) -> Result<()> {
        self.call_ok(
            path,
            Request::Mkdir {
                path: text(path),
                attrs: Attrs {
                    permissions: mode,
                    ..Attrs::default()
                },
            },
        )
        .await
    }

    /// Creates `path` and every missing parent; succeeds if it already is a directory.
    pub async fn makedirs(&self, path: &str) -> Result<()> {
        let mut prefix = String::new();
        if path.starts_with('/') {
            prefix.push('/');
        }
        for comp in path.split('/').filter(|c| !c.is_empty()) {
            if !prefix.is_empty() && !prefix.ends_with('/') {
                prefix.push('/');
            }
            prefix.push_str(comp);
            if comp == "." || comp == ".." {
                continue;
            }
            match self.stat(&prefix).await {
                Ok(a) if a.is_dir() => continue,
                Ok(_) => return Err(Error::Invalid(format!("{prefix}: not a directory"))),
                Err(e) if e.is_not_found() => self.mkdir(&prefix, None).await?,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// `RMDIR` (the directory must be empty).
    pub async fn rmdir(&self, path: &str) -> Result<()> {
        self.call_ok(path, Request::Rmdir { path: text(path) })
            .await
    }

    /// Removes `path` and everything below it (symlinks are removed, not followed).
    pub async fn rmtree(&self, path: &str) -> Result<()> {
        let mut stack = vec![(path.to_string(), false)];
        while let Some((dir, visited)) = stack.pop() {
            if visited {
                self.rmdir(&dir).await?;
                continue;
            }
            stack.push((dir.clone(), true));
            for n in self.scandir(&dir).await? {
                if !n.is_safe_component() {
                    return Err(Error::Invalid(format!(
                        "{dir}: unsafe name {:?} in listing",
                        n.filename
                    )));
                }
                let child = join(&dir, &n.filename.to_string_lossy());
                if n.attrs.is_dir() {
                    stack.push((child, false));
                } else {
                    self.remove(&child).await?;
                }
            }
        }
        Ok(())
    }

    /// `REMOVE` a file.
    pub async fn remove(&self, path: &str) -> Result<()> {
        self.call_ok(
            path,
            Request::Remove {
                filename: text(path),
            },
        )
        .await
    }

    /// `RENAME` (fails if `new` exists).
    pub async fn rename(&self, old: &str, new: &str) -> Result<()> {
        self.call_ok(
            old,
            Request::Rename {
                oldpath: text(old),
                newpath: text(new),
            },
        )
        .await
    }

    /// `posix-rename@openssh.com`: replaces `new` if it exists.
    pub async fn posix_rename(&self, old: &str, new: &str) -> Result<()> {
        self.call_ok(
            old,
            Request::Extended(ExtendedRequest::PosixRename {
                oldpath: text(old),
                newpath: text(new),
            }),
        )
        .await
    }

    /// `SYMLINK`: creates `link` pointing to `target` (argument order of
    /// `std::os::unix::fs::symlink`).
    pub async fn symlink(&self, target: &str, link: &str) -> Result<()> {
        self.call_ok(
            link,
            Request::Symlink {
                link: text(link),
                target: text(target),
            },
        )
        .await
    }

    /// `READLINK`.
    pub async fn readlink(&self, path: &str) -> Result<String> {
        expect_one_name(
            path,
            self.call(Request::Readlink { path: text(path) }).await?,
        )
    }

    /// `hardlink@openssh.com`: creates `new` as a hard link to `old`.
    pub async fn link(&self, old: &str, new: &str) -> Result<()> {
        self.call_ok(
            new,
            Request::Extended(ExtendedRequest::Hardlink {
                oldpath: text(old),
                newpath: text(new),
            }),
        )
        .await
    }

    /// `REALPATH`: the canonical absolute form of `path`.
    pub async fn realpath(&self, path: &str) -> Result<String> {
        expect_one_name(
            path,
            self.call(Request::Realpath { path: text(path) }).await?,
        )
    }

    /// `statvfs@openssh.com`.
    pub async fn statvfs(&self, path: &str) -> Result<Statvfs> {
        match self
            .call(Request::Extended(ExtendedRequest::Statvfs {
                path: text(path),
            }))
            .await?
        {
            Reply::Statvfs(s) => Ok(s),
            Reply::Status(s) => Err(Error::status(path, s)),
            other => Err(unexpected(path, &other)),
        }
    }

    /// `home-directory` (empty user name: the login user's).
    pub async fn home_directory(&self, user: &str) -> Result<String> {
        expect_one_name(
            user,
            self.call(Request::Extended(ExtendedRequest::HomeDirectory {
                username: text(user),
            }))
            .await?,
        )
    }

    /// Whether `path` exists (following symlinks).
    pub async fn exists(&self, path: &str) -> Result<bool> {
        match self.stat(path).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether `path` is a directory (false if it does not exist).
    pub async fn isdir(&self, path: &str) -> Result<bool> {
        match self.stat(path).await {
            Ok(a) => Ok(a.is_dir()),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether `path` is a regular file (false if it does not exist).
    pub async fn isfile(&self, path: &str) -> Result<bool> {
        match self.stat(path).await {
            Ok(a) => Ok(a.is_file()),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The size of `path` in bytes.
    pub async fn getsize(&self, path: &str) -> Result<u64> {
        self.stat(path)
            .await?
            .size
            .ok_or_else(|| Error::Invalid(format!("{path}: server sent no size")))
    }

    /// Expands the wildcards of `pattern` (see [`glob::fnmatch`]) on the server; sorted.
    /// A pattern without wildcards gives itself if it exists, else nothing.
    pub async fn glob(&self, pattern: &str) -> Result<Vec<String>> {
        let absolute = pattern.starts_with('/');
        let mut current = vec![if absolute {
            "/".to_string()
        } else {
            String::new()
        }];
        for comp in pattern.split('/').filter(|c| !c.is_empty()) {
            let mut next = Vec::new();
            for base in &current {
                if glob::has_magic(comp) {
                    let dir = if base.is_empty() { "." } else { base.as_str() };
                    let Ok(entries) = self.scandir(dir).await else {
                        continue;
                    };
                    for n in entries {
                        let name = n.filename.to_string_lossy();
                        if n.is_safe_component() && glob::fnmatch(comp, &name) {
                            next.push(join(base, &name));
                        }
                    }
                } else {
                    next.push(join(base, comp));
                }
            }
            current = next;
        }
        let mut out = Vec::new();
        for p in current {
            if !p.is_empty() && self.lstat(&p).await.is_ok() {
                out.push(p);
            }
        }
        out.sort();
        Ok(out)
    }

    /// A raw request, for extensions this client has no method for; returns the reply.
    pub async fn request(&self, request: Request) -> Result<Reply> {
        self.call(request).await
    }

    /// Ends the session: closes the channel (every open [`File`] stops working).
    pub fn close(&self) {
        self.core().close("closed by the application".into());
        for t in &self.inner.tasks {
            t.abort();
        }
    }
}

/// Read and write block sizes from the server's limits: at least 32 KiB, at most what fits
/// in our packet limit.
fn block_sizes(l: &Limits) -> (u32, u32) {
    let clamp = |v: u64| -> u32 {
        if v == 0 {
            32 * 1024
        } else {
            u32::try_from(v)
                .unwrap_or(u32::MAX)
                .clamp(32 * 1024, DEFAULT_MAX_READ)
        }
    };
    (clamp(l.max_read_len), clamp(l.max_write_len))
}

fn closed_reason(core: &Core) -> String {
    core.lock()
        .closed
        .clone()
        .unwrap_or_else(|| "session ended".into())
}

async fn write_task<W: AsyncWrite + Unpin>(core: Arc<Core>, mut w: W) {
    let mut buf = Vec::new();
    loop {
        let notified = core.wake.notified();
        {
            let mut st = core.lock();
            if st.closed.is_some() {
                break;
            }
            st.proto.poll_transmit(&mut buf);
        }
        if buf.is_empty() {
            notified.await;
            continue;
        }
        if let Err(e) = w.write_all(&buf).await {
            core.close(format!("write: {e}"));
            return;
        }
        buf.clear();
        if let Err(e) = w.flush().await {
            core.close(format!("flush: {e}"));
            return;
        }
    }
    let _ = w.shutdown().await;
}

async fn read_task<R: AsyncRead + Unpin>(core: Arc<Core>, mut r: R) {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) => {
                core.close("the server closed the SFTP channel".into());
                return;
            }
            Ok(n) => n,
            Err(e) => {
                core.close(format!("read: {e}"));
                return;
            }
        };
        let mut st = core.lock();
        if let Err(e) = st.proto.handle_input(buf.get(..n).unwrap_or_default()) {
            drop(st);
            core.close(format!("protocol error: {e}"));
            core.wake.notify_one();
            return;
        }
        while let Some(ev) = st.proto.poll_event() {
            match ev {
                Event::Version { .. } => {
                    if let Some(tx) = st.ready.take() {
                        let _ = tx.send(());
                    }
                }
                Event::Reply { id, reply } => {
                    if let Some(tx) = st.waiters.remove(&id) {
                        let _ = tx.send(reply);
                    }
                }
            }
        }
    }
}

/// Data helper: `Reply::Data` or EOF.
pub(super) enum ReadResult {
    Data(Bytes),
    Eof,
}

pub(super) fn expect_data(path: &str, reply: Reply) -> Result<ReadResult> {
    match reply {
        Reply::Data(d) => Ok(ReadResult::Data(d)),
        Reply::Status(s) if s.code == StatusCode::EOF => Ok(ReadResult::Eof),
        Reply::Status(s) => Err(Error::status(path, s)),
        other => Err(unexpected(path, &other)),
    }
}
