//! The blocking server: [`listen`] with a [`Handler`] that decides authentication and
//! runs `exec`, `shell` and `subsystem` requests, a thread per running command, and
//! decides port forwarding over TCP (`direct-tcpip`, `tcpip-forward`, RFC 4254 §7) and
//! UNIX sockets (`direct-streamlocal@openssh.com`, `streamlocal-forward@openssh.com`,
//! OpenSSH PROTOCOL §2.4) and agent forwarding (`auth-agent-req@openssh.com`, OpenSSH
//! PROTOCOL.agent). Everything is refused unless the handler allows it.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use whelk::{
    AuthRequest, ChannelEvent, ChannelId, ChannelOpenFailureReason, ChannelOpenKind,
    ChannelRequestKind, Decision, Event, GlobalRequestKind, ServerConnection,
};

use crate::channel::{ChanRef, ChannelReader, ChannelWriter, Stream};
use crate::driver::{Hooks, Shared, spawn};
use crate::error::{Error, Result};
use crate::forward::{Endpoint, LocalStream, connect_local, splice, stop_accepting};
use crate::os_rng;
use crate::socket_file::{self, SocketFile, bind_unix};

type Conn = ServerConnection;

/// The default cap on connections served at once ([`ServerConfig::max_connections`]).
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The protocol settings (host keys, authentication, algorithms, limits).
    pub ssh: whelk::ServerConfig,
    /// Connections served at once; connections beyond it are closed as soon as they are
    /// accepted (default [`DEFAULT_MAX_CONNECTIONS`]).
    pub max_connections: usize,
    /// sshd's `StreamLocalBindUnlink`: whether a stale socket file at a
    /// `streamlocal-forward@openssh.com` path is removed before binding (default false:
    /// the request fails while the file exists). Other kinds of files are never removed.
    pub streamlocal_bind_unlink: bool,
}

impl ServerConfig {
    /// Defaults with these host keys.
    #[must_use]
    pub fn new(host_keys: Vec<whelk::PrivateKey>) -> Self {
        Self {
            ssh: whelk::ServerConfig::new(host_keys),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            streamlocal_bind_unlink: false,
        }
    }

    /// Sets [`ServerConfig::streamlocal_bind_unlink`].
    #[must_use]
    pub fn streamlocal_bind_unlink(mut self, unlink: bool) -> Self {
        self.streamlocal_bind_unlink = unlink;
        self
    }

    /// Sets [`ServerConfig::max_connections`].
    #[must_use]
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }
}

/// What a session asks to run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionRequest {
    /// `exec` with the command (lossily decoded as UTF-8).
    Exec(String),
    /// `shell`.
    Shell,
    /// `subsystem` with its name.
    Subsystem(String),
}

/// A pseudo-terminal the client asked for (`pty-req`, RFC 4254 §6.2), with the size its
/// latest `window-change` gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pty {
    /// `TERM`.
    pub term: String,
    /// Columns.
    pub columns: u32,
    /// Rows.
    pub rows: u32,
    /// Width in pixels.
    pub width_px: u32,
    /// Height in pixels.
    pub height_px: u32,
    /// The encoded terminal modes ([`whelk::TerminalModes`] decodes them).
    pub modes: Bytes,
}

/// What the application decides and runs. Every method may block: [`Handler::auth`] and
/// [`Handler::accept`] run on the connection's reader thread (the connection reads nothing
/// more until they return, so keep them reasonably quick), [`Handler::exec`],
/// [`Handler::shell`] and [`Handler::subsystem`] on a thread of their own, and
/// [`Handler::direct_tcpip`] on the thread that will carry the forwarded connection.
pub trait Handler: Send + Sync + 'static {
    /// Decides an authentication request (publickey signatures are already verified;
    /// [`whelk::AuthorizedKeysPolicy`] decides from an `authorized_keys` text).
    fn auth(&self, request: &AuthRequest) -> Decision;

    /// Whether to run what a session asks for (answered before it runs). The default
    /// accepts `exec` and refuses `shell` and subsystems: override it together with
    /// [`Handler::shell`] or [`Handler::subsystem`].
    fn accept(&self, request: &SessionRequest, session: &ServerSession) -> bool {
        let _ = session;
        matches!(request, SessionRequest::Exec(_))
    }

    /// Runs `command`; returns its exit status. EOF and CLOSE follow the return.
    fn exec(&self, command: String, session: ServerSession) -> u32;

    /// Runs a shell; returns its exit status.
    fn shell(&self, session: ServerSession) -> u32 {
        let _ = session;
        1
    }

    /// Runs the subsystem `name` (e.g. `sftp`); returns its exit status.
    fn subsystem(&self, name: String, session: ServerSession) -> u32 {
        let _ = (name, session);
        1
    }

    /// Whether a client may open a `direct-tcpip` channel to `host:port` (local port
    /// forwarding through this server; the server then connects and copies both ways).
    /// Default: no.
    fn direct_tcpip(&self, host: &str, port: u16) -> bool {
        let _ = (host, port);
        false
    }

    /// Whether a client may have this server listen on `address:port` and forward the
    /// connections back (`tcpip-forward`, remote port forwarding, RFC 4254 §7.1; port 0:
    /// any free port, reported to the client). `""` binds every address, `"localhost"`
    /// the loopback. Default: no.
    fn tcpip_forward(&self, address: &str, port: u16) -> bool {
        let _ = (address, port);
        false
    }

    /// Whether a client may open a `direct-streamlocal@openssh.com` channel to the UNIX
    /// socket `path` (local forwarding to a socket, OpenSSH PROTOCOL §2.4; the server
    /// then connects and copies both ways). Default: no.
    fn direct_streamlocal(&self, path: &str) -> bool {
        let _ = path;
        false
    }

    /// Whether a client may have this server listen on the UNIX socket `path` and
    /// forward the connections back (`streamlocal-forward@openssh.com`, OpenSSH PROTOCOL
    /// §2.4; the socket gets mode 0600, see also
    /// [`ServerConfig::streamlocal_bind_unlink`]). Default: no.
    fn streamlocal_forward(&self, path: &str) -> bool {
        let _ = path;
        false
    }

    /// Whether `user`'s session may use the client's agent (`auth-agent-req@openssh.com`,
    /// OpenSSH PROTOCOL.agent). When allowed, [`ServerSession::agent_listener`] and
    /// [`ServerSession::open_agent`] reach it. Default: no.
    fn agent_forwarding(&self, user: &str) -> bool {
        let _ = user;
        false
    }
}

#[derive(Debug, Default)]
struct SessionInfo {
    pty: Option<Pty>,
    env: Vec<(String, String)>,
    signals: Vec<String>,
    running: bool,
    /// Agent forwarding was asked for and allowed.
    agent: bool,
}

/// The server's side of a session: the client's stdin to read, stdout and stderr to
/// write, the terminal and environment it asked for.
pub struct ServerSession {
    chan: Arc<ChanRef<Conn>>,
    info: Arc<Mutex<SessionInfo>>,
    user: String,
}

impl std::fmt::Debug for ServerSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSession")
            .field("id", &self.chan.id)
            .field("user", &self.user)
            .finish()
    }
}

impl ServerSession {
    fn info(&self) -> std::sync::MutexGuard<'_, SessionInfo> {
        self.info
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The authenticated user.
    #[must_use]
    pub fn user(&self) -> &str {
        &self.user
    }

    /// What the client sends (the command's stdin); reads 0 at the client's EOF.
    #[must_use]
    pub fn stdin(&self) -> ChannelReader<Conn> {
        ChannelReader::new(self.chan.clone(), Stream::Stdout)
    }

    /// The command's stdout.
    #[must_use]
    pub fn stdout(&self) -> ChannelWriter<Conn> {
        ChannelWriter::new(self.chan.clone(), Stream::Stdout)
    }

    /// The command's stderr.
    #[must_use]
    pub fn stderr(&self) -> ChannelWriter<Conn> {
        ChannelWriter::new(self.chan.clone(), Stream::Stderr)
    }

    /// The pseudo-terminal, if the client asked for one (its current size).
    #[must_use]
    pub fn pty(&self) -> Option<Pty> {
        self.info().pty.clone()
    }

    /// The environment variables the client set (`env` requests), in order.
    #[must_use]
    pub fn env(&self) -> Vec<(String, String)> {
        self.info().env.clone()
    }

    /// Whether the channel is closed (the client closed it, or the connection ended): a
    /// long-running command should stop then.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        let g = self.chan.shared.lock();
        g.done.is_some() || g.chans.get(&self.chan.id).is_none_or(|c| c.closed)
    }

    /// The signals the client sent since the last call (`"INT"`, `"TERM"`...).
    #[must_use]
    pub fn take_signals(&self) -> Vec<String> {
        std::mem::take(&mut self.info().signals)
    }

    /// Whether the client asked for agent forwarding and [`Handler::agent_forwarding`]
    /// allowed it: then [`ServerSession::agent_listener`] and
    /// [`ServerSession::open_agent`] work.
    #[must_use]
    pub fn agent_forwarding(&self) -> bool {
        self.info().agent
    }

    /// Opens an `auth-agent@openssh.com` channel to the client's agent (OpenSSH
    /// PROTOCOL.agent): a stream speaking the ssh-agent protocol.
    pub fn open_agent(&self) -> Result<ServerChannel> {
        if !self.agent_forwarding() {
            return Err(Error::Refused("agent forwarding was not requested".into()));
        }
        open_from_server(&self.chan.shared, ChannelOpenKind::AuthAgent)
            .map(|chan| ServerChannel { chan })
            .ok_or_else(|| Error::Refused("auth-agent@openssh.com".into()))
    }

    /// Listens on a UNIX socket at `path` (what sshd offers as `SSH_AUTH_SOCK`; mode
    /// 0600, put it in a directory only the user can enter) and carries each connection
    /// to the client's agent over an `auth-agent@openssh.com` channel of its own. The
    /// listener stops (and the socket file is removed) when the returned handle is
    /// dropped.
    ///
    /// ```no_run
    /// # fn run(session: whelk_std::ServerSession) -> Result<(), whelk_std::Error> {
    /// let dir = std::path::Path::new("/tmp/agent-dir-0700");
    /// let agent = session.agent_listener(&dir.join("agent.sock"))?;
    /// let status = std::process::Command::new("ssh-add")
    ///     .arg("-l")
    ///     .env("SSH_AUTH_SOCK", agent.path())
    ///     .status()?;
    /// # let _ = status; Ok(()) }
    /// ```
    pub fn agent_listener(&self, path: &std::path::Path) -> Result<AgentListener> {
        if !self.agent_forwarding() {
            return Err(Error::Refused("agent forwarding was not requested".into()));
        }
        let (listener, file) = bind_unix(path, false)?;
        let listener = Arc::new(listener);
        let accepting = listener.clone();
        let forward = ForwardListener::start(
            Bound::Unix { file, listener },
            move || accepting.accept().map(|(s, _)| LocalStream::Unix(s)),
            Arc::downgrade(&self.chan.shared),
            |_| ChannelOpenKind::AuthAgent,
        )?;
        Ok(AgentListener(forward))
    }
}

/// A forwarded agent socket ([`ServerSession::agent_listener`]); dropping it stops
/// listening and removes the socket file.
pub struct AgentListener(ForwardListener);

impl std::fmt::Debug for AgentListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("AgentListener").field(&self.path()).finish()
    }
}

impl AgentListener {
    /// The socket's path (for `SSH_AUTH_SOCK`).
    #[must_use]
    pub fn path(&self) -> &std::path::Path {
        match &self.0.bound {
            Bound::Unix { file, .. } => file.path(),
            Bound::Tcp { .. } => std::path::Path::new(""),
        }
    }
}

/// A channel the server opened (e.g. [`ServerSession::open_agent`]): [`std::io::Read`]
/// and [`std::io::Write`]; closed when dropped.
pub struct ServerChannel {
    chan: Arc<ChanRef<Conn>>,
}

impl std::fmt::Debug for ServerChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerChannel")
            .field("id", &self.chan.id)
            .finish()
    }
}

impl ServerChannel {
    /// A reader of the channel's data, for another thread.
    #[must_use]
    pub fn reader(&self) -> ChannelReader<Conn> {
        ChannelReader::new(self.chan.clone(), Stream::Stdout)
    }

    /// A writer of the channel's data, for another thread.
    #[must_use]
    pub fn writer(&self) -> ChannelWriter<Conn> {
        ChannelWriter::new(self.chan.clone(), Stream::Stdout)
    }
}

impl std::io::Read for ServerChannel {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.reader().read(buf)
    }
}

impl std::io::Write for ServerChannel {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer().write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.writer().flush()
    }
}

/// What a server-side listener is bound to.
enum Bound {
    /// A `tcpip-forward`: the address and port asked for (the port bound for 0), the
    /// local address and the listener (shared with the accept thread, to stop it).
    Tcp {
        address: String,
        port: u16,
        local: SocketAddr,
        listener: Arc<TcpListener>,
    },
    /// A `streamlocal-forward@openssh.com` or an agent socket: the file, removed when
    /// stopped if its path still names it, and the listener (shared with the accept
    /// thread, to stop it).
    Unix {
        file: SocketFile,
        listener: Arc<UnixListener>,
    },
}

/// A listener forwarding each connection back to the client on a channel of its own;
/// stops when dropped.
struct ForwardListener {
    bound: Bound,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ForwardListener {
    /// Starts the accept thread: each connection `accept` returns goes back to the
    /// client on a channel of kind `kind(connection)`, until the listener is dropped or
    /// the connection ends.
    fn start(
        bound: Bound,
        mut accept: impl FnMut() -> std::io::Result<LocalStream> + Send + 'static,
        shared: Weak<Shared<Conn>>,
        kind: impl Fn(&LocalStream) -> ChannelOpenKind + Send + 'static,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("whelk-forward-back".into())
            .spawn(move || {
                loop {
                    let sock = accept();
                    if stop2.load(Ordering::SeqCst) {
                        break;
                    }
                    let Some(shared) = shared.upgrade() else {
                        break;
                    };
                    if shared.lock().done.is_some() {
                        break;
                    }
                    let Ok(sock) = sock else {
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    };
                    let kind = kind(&sock);
                    let _ = std::thread::Builder::new()
                        .name("whelk-forwarded".into())
                        .spawn(move || {
                            if let Some(chan) = open_from_server(&shared, kind) {
                                splice(sock, &chan);
                            }
                        });
                }
            });
        // Constructed even when the thread did not start, so that dropping it removes
        // the socket file.
        let mut listener = Self {
            bound,
            stop,
            thread: None,
        };
        listener.thread = Some(thread?);
        Ok(listener)
    }
}

impl Drop for ForwardListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the blocked accept (which then sees the flag); a TCP listener stops
        // listening at once, and once the thread is gone the socket is closed.
        match &self.bound {
            Bound::Tcp {
                local, listener, ..
            } => stop_accepting(listener, *local),
            Bound::Unix { file, listener } => socket_file::stop_accepting(listener, file),
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Bound::Unix { file, .. } = &self.bound {
            file.remove_if_ours();
        }
    }
}

/// Frees a connection slot when the connection's threads are gone.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A session channel waiting for its command: the channel and what was asked so far.
type Pending = (Arc<ChanRef<Conn>>, Arc<Mutex<SessionInfo>>);

struct ServerHooks<H> {
    handler: Arc<H>,
    user: Mutex<String>,
    sessions: Arc<Mutex<HashMap<ChannelId, Pending>>>,
    forwards: Mutex<Vec<ForwardListener>>,
    /// [`ServerConfig::streamlocal_bind_unlink`].
    unlink: bool,
    _slot: Slot,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl<H: Handler> ServerHooks<H> {
    fn session(&self, id: ChannelId) -> Option<Pending> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&id)
            .cloned()
    }

    fn open(&self, shared: &Arc<Shared<Conn>>, incoming: whelk::IncomingChannel) {
        let mut g = shared.lock();
        match incoming.kind().clone() {
            ChannelOpenKind::Session => {
                if let Ok(id) = g.conn.accept_channel(incoming) {
                    let chan = ChanRef::new(shared.clone(), id, &mut g);
                    if let Some(c) = g.chans.get_mut(&id) {
                        c.open = Some(Ok(()));
                    }
                    let mut sessions = self
                        .sessions
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    // Forget sessions closed before they ran anything (dropped below,
                    // without the connection's lock: the last handle locks it to close).
                    let stale: Vec<ChannelId> = sessions
                        .iter()
                        .filter(|(id, (_, info))| {
                            g.chans.get(id).is_none_or(|c| c.closed)
                                && !info
                                    .lock()
                                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                                    .running
                        })
                        .map(|(id, _)| *id)
                        .collect();
                    let forgotten: Vec<Pending> =
                        stale.iter().filter_map(|id| sessions.remove(id)).collect();
                    sessions.insert(id, (chan, Arc::default()));
                    drop(sessions);
                    drop(g);
                    drop(forgotten);
                }
            }
            ChannelOpenKind::DirectTcpip { host, port, .. } => {
                drop(g);
                let host = lossy(host.as_bytes());
                let port = u16::try_from(port).unwrap_or(0);
                let handler = self.handler.clone();
                self.connect_for(shared, incoming, Endpoint::tcp(&host, port), move || {
                    port != 0 && handler.direct_tcpip(&host, port)
                });
            }
            ChannelOpenKind::DirectStreamlocal { socket_path, .. } => {
                drop(g);
                let path = lossy(socket_path.as_bytes());
                let handler = self.handler.clone();
                self.connect_for(shared, incoming, Endpoint::unix(&path), move || {
                    !path.is_empty() && handler.direct_streamlocal(&path)
                });
            }
            _ => {
                let _ = g.conn.reject_channel(
                    incoming,
                    ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED,
                    "not supported",
                );
            }
        }
    }

    /// Answers a `direct-tcpip` or `direct-streamlocal@openssh.com` open on a thread of
    /// its own: `allowed` decides, then the server connects to `target` (a refused
    /// connection is the open failure) and copies both ways.
    fn connect_for(
        &self,
        shared: &Arc<Shared<Conn>>,
        incoming: whelk::IncomingChannel,
        target: Endpoint,
        allowed: impl FnOnce() -> bool + Send + 'static,
    ) {
        let shared = shared.clone();
        // Deciding and connecting may take a while: not on the connection's threads.
        let _ = std::thread::Builder::new()
            .name("whelk-direct".into())
            .spawn(move || {
                let allowed = allowed();
                let sock = if allowed {
                    connect_local(&target).ok()
                } else {
                    None
                };
                let mut g = shared.lock();
                let Some(sock) = sock else {
                    let (reason, why) = if allowed {
                        (ChannelOpenFailureReason::CONNECT_FAILED, "connect failed")
                    } else {
                        (
                            ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED,
                            "not allowed",
                        )
                    };
                    let _ = g.conn.reject_channel(incoming, reason, why);
                    drop(g);
                    shared.kick();
                    return;
                };
                let Ok(id) = g.conn.accept_channel(incoming) else {
                    return;
                };
                let chan = ChanRef::new(shared.clone(), id, &mut g);
                if let Some(c) = g.chans.get_mut(&id) {
                    c.open = Some(Ok(()));
                }
                drop(g);
                shared.kick();
                splice(sock, &chan);
            });
    }

    fn request(
        &self,
        shared: &Arc<Shared<Conn>>,
        id: ChannelId,
        kind: ChannelRequestKind,
        token: Option<whelk::RequestToken>,
    ) {
        // Asked for before the command runs; decided without holding the session's lock.
        let agent = matches!(kind, ChannelRequestKind::AuthAgentReq) && {
            let user = self
                .user
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            self.handler.agent_forwarding(&user)
        };
        let ok = match self.session(id) {
            None => false,
            Some((chan, info)) => {
                let mut i = info
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                match kind {
                    ChannelRequestKind::PtyReq {
                        term,
                        columns,
                        rows,
                        width_px,
                        height_px,
                        modes,
                    } => {
                        let fresh = i.pty.is_none() && !i.running;
                        if fresh {
                            i.pty = Some(Pty {
                                term: lossy(term.as_bytes()),
                                columns,
                                rows,
                                width_px,
                                height_px,
                                modes,
                            });
                        }
                        fresh
                    }
                    ChannelRequestKind::WindowChange {
                        columns,
                        rows,
                        width_px,
                        height_px,
                    } => {
                        if let Some(p) = i.pty.as_mut() {
                            p.columns = columns;
                            p.rows = rows;
                            p.width_px = width_px;
                            p.height_px = height_px;
                        }
                        true
                    }
                    ChannelRequestKind::Env { name, value } => {
                        if i.running {
                            false
                        } else {
                            i.env
                                .push((lossy(name.as_bytes()), lossy(value.as_bytes())));
                            true
                        }
                    }
                    ChannelRequestKind::Signal { name } => {
                        i.signals.push(lossy(name.as_bytes()));
                        true
                    }
                    ChannelRequestKind::AuthAgentReq => {
                        let ok = agent && !i.running;
                        i.agent |= ok;
                        ok
                    }
                    ChannelRequestKind::Exec { command } => {
                        drop(i);
                        self.start(
                            shared,
                            chan,
                            info,
                            SessionRequest::Exec(lossy(&command)),
                            token,
                        );
                        return;
                    }
                    ChannelRequestKind::Shell => {
                        drop(i);
                        self.start(shared, chan, info, SessionRequest::Shell, token);
                        return;
                    }
                    ChannelRequestKind::Subsystem { name } => {
                        drop(i);
                        let name = lossy(name.as_bytes());
                        self.start(shared, chan, info, SessionRequest::Subsystem(name), token);
                        return;
                    }
                    _ => false,
                }
            }
        };
        if let Some(t) = token {
            let _ = shared.lock().conn.respond_request(t, ok);
        }
    }

    /// Runs what a session asked for on a thread of its own.
    fn start(
        &self,
        shared: &Arc<Shared<Conn>>,
        chan: Arc<ChanRef<Conn>>,
        info: Arc<Mutex<SessionInfo>>,
        request: SessionRequest,
        token: Option<whelk::RequestToken>,
    ) {
        let id = chan.id;
        // Held until the exit status is queued (the session's own handles may be gone).
        let keep = chan.clone();
        let session = ServerSession {
            chan,
            info: info.clone(),
            user: self
                .user
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        };
        let already = std::mem::replace(
            &mut info
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .running,
            true,
        );
        let ok = !already && self.handler.accept(&request, &session);
        if !ok && !already {
            info.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .running = false;
        }
        if let Some(t) = token {
            let _ = shared.lock().conn.respond_request(t, ok);
            shared.kick();
        }
        if !ok {
            return;
        }
        let handler = self.handler.clone();
        let sessions = self.sessions.clone();
        let shared2 = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("whelk-session".into())
            .spawn(move || {
                let run = std::panic::AssertUnwindSafe(|| match request {
                    SessionRequest::Exec(c) => handler.exec(c, session),
                    SessionRequest::Shell => handler.shell(session),
                    SessionRequest::Subsystem(n) => handler.subsystem(n, session),
                });
                // A panicking command ends its session, not the server.
                let status = std::panic::catch_unwind(run).unwrap_or(255);
                let mut g = shared2.lock();
                if g.chans.get(&id).is_some_and(|c| !c.closed) {
                    let _ = g.conn.exit_status(id, status);
                    let _ = g.conn.eof(id);
                    let _ = g.conn.close(id);
                }
                drop(g);
                // The channel closes once the command is done with it.
                sessions
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(&id);
                drop(keep);
                shared2.kick();
            });
        if spawned.is_err() {
            let mut g = shared.lock();
            let _ = g.conn.close(id);
            drop(g);
            shared.kick();
        }
    }
}

impl<H: Handler> Hooks<Conn> for ServerHooks<H> {
    fn event(&self, shared: &Arc<Shared<Conn>>, event: Event) {
        match event {
            Event::AuthRequest(req) => {
                let decision = self.handler.auth(&req);
                let _ = shared
                    .lock()
                    .conn
                    .respond_auth(Instant::now(), req, decision);
            }
            Event::Authenticated { user, .. } => {
                *self
                    .user
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = user;
            }
            Event::Channel(ChannelEvent::OpenRequest(incoming)) => self.open(shared, incoming),
            Event::Channel(ChannelEvent::Request { id, kind, token }) => {
                self.request(shared, id, kind, token);
            }
            Event::Channel(ChannelEvent::GlobalRequest { kind, token }) => {
                let reply = match kind {
                    GlobalRequestKind::TcpipForward { address, port } => {
                        self.listen_forward(shared, &lossy(address.as_bytes()), port)
                    }
                    GlobalRequestKind::CancelTcpipForward { address, port } => {
                        let address = lossy(address.as_bytes());
                        self.cancel_forward(|b| {
                            matches!(b, Bound::Tcp { address: a, port: p, .. }
                                if *a == address && u32::from(*p) == port)
                        })
                    }
                    GlobalRequestKind::StreamlocalForward { socket_path } => {
                        self.listen_unix(shared, &lossy(socket_path.as_bytes()))
                    }
                    GlobalRequestKind::CancelStreamlocalForward { socket_path } => {
                        let path = PathBuf::from(lossy(socket_path.as_bytes()));
                        self.cancel_forward(
                            |b| matches!(b, Bound::Unix { file, .. } if file.path() == path),
                        )
                    }
                    _ => whelk::GlobalReply::Failure,
                };
                if let Some(token) = token {
                    let _ = shared.lock().conn.respond_global(token, reply);
                }
            }
            _ => return,
        }
        shared.kick();
    }
}

impl<H: Handler> ServerHooks<H> {
    /// Answers `tcpip-forward`: binds, then forwards each connection back on a
    /// `forwarded-tcpip` channel.
    fn listen_forward(
        &self,
        shared: &Arc<Shared<Conn>>,
        address: &str,
        port: u32,
    ) -> whelk::GlobalReply {
        let Ok(port16) = u16::try_from(port) else {
            return whelk::GlobalReply::Failure;
        };
        if !self.handler.tcpip_forward(address, port16) {
            return whelk::GlobalReply::Failure;
        }
        let bind = match address {
            "" | "*" => "0.0.0.0",
            "localhost" => "127.0.0.1",
            a => a,
        };
        let Ok(listener) = TcpListener::bind((bind, port16)) else {
            return whelk::GlobalReply::Failure;
        };
        let Ok(local) = listener.local_addr() else {
            return whelk::GlobalReply::Failure;
        };
        let listener = Arc::new(listener);
        let bound = local.port();
        let address2 = address.to_string();
        let started = ForwardListener::start(
            Bound::Tcp {
                address: address.to_string(),
                port: if port16 == 0 { bound } else { port16 },
                local,
                listener: listener.clone(),
            },
            move || {
                let (s, _) = listener.accept()?;
                s.set_nodelay(true)?;
                Ok(LocalStream::Tcp(s))
            },
            Arc::downgrade(shared),
            move |sock| {
                let (origin, origin_port) = match sock {
                    LocalStream::Tcp(s) => s
                        .peer_addr()
                        .map_or((String::new(), 0), |p| (p.ip().to_string(), p.port())),
                    LocalStream::Unix(_) => (String::new(), 0),
                };
                ChannelOpenKind::ForwardedTcpip {
                    connected_address: address2.clone().into(),
                    connected_port: u32::from(bound),
                    originator_address: origin.into(),
                    originator_port: u32::from(origin_port),
                }
            },
        );
        let Ok(forward) = started else {
            return whelk::GlobalReply::Failure;
        };
        self.forwards
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(forward);
        if port16 == 0 {
            whelk::GlobalReply::BoundPort(u32::from(bound))
        } else {
            whelk::GlobalReply::Success
        }
    }
}

impl<H: Handler> ServerHooks<H> {
    /// Answers `streamlocal-forward@openssh.com`: binds the UNIX socket (mode 0600), then
    /// forwards each connection back on a `forwarded-streamlocal@openssh.com` channel.
    fn listen_unix(&self, shared: &Arc<Shared<Conn>>, path: &str) -> whelk::GlobalReply {
        if path.is_empty() || !self.handler.streamlocal_forward(path) {
            return whelk::GlobalReply::Failure;
        }
        let Ok((listener, file)) = bind_unix(std::path::Path::new(path), self.unlink) else {
            return whelk::GlobalReply::Failure;
        };
        let listener = Arc::new(listener);
        let accepting = listener.clone();
        let path2 = path.to_string();
        let started = ForwardListener::start(
            Bound::Unix { file, listener },
            move || accepting.accept().map(|(s, _)| LocalStream::Unix(s)),
            Arc::downgrade(shared),
            move |_| ChannelOpenKind::ForwardedStreamlocal {
                socket_path: path2.clone().into(),
                reserved: String::new().into(),
            },
        );
        let Ok(forward) = started else {
            return whelk::GlobalReply::Failure;
        };
        self.forwards
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(forward);
        whelk::GlobalReply::Success
    }

    /// Stops the listeners `which` selects (dropped outside the lock: stopping joins
    /// their threads).
    fn cancel_forward(&self, which: impl Fn(&Bound) -> bool) -> whelk::GlobalReply {
        let stopped: Vec<ForwardListener> = {
            let mut f = self
                .forwards
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let (gone, kept) = std::mem::take(&mut *f)
                .into_iter()
                .partition(|l| which(&l.bound));
            *f = kept;
            gone
        };
        if stopped.is_empty() {
            whelk::GlobalReply::Failure
        } else {
            whelk::GlobalReply::Success
        }
    }
}

/// Opens a channel from the server and waits for the client's answer; `None` when
/// refused or the connection ended.
fn open_from_server(
    shared: &Arc<Shared<Conn>>,
    kind: ChannelOpenKind,
) -> Option<Arc<ChanRef<Conn>>> {
    let chan = {
        let mut g = shared.lock();
        if g.done.is_some() {
            return None;
        }
        let id = g.conn.open(kind).ok()?;
        ChanRef::new(shared.clone(), id, &mut g)
    };
    shared.kick();
    let opened = chan.wait_open(None).is_some_and(|r| r.is_ok());
    opened.then_some(chan)
}

/// A listening server. [`Server::shutdown`] (or dropping it) stops accepting and
/// disconnects the connections it serves.
pub struct Server {
    addr: SocketAddr,
    /// The listener, shared with the accept thread (to stop it).
    listener: Arc<TcpListener>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    live: Arc<Mutex<Vec<Weak<Shared<Conn>>>>>,
    count: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .field("connections", &self.connections())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// The address it listens on.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many connections are being served now.
    #[must_use]
    pub fn connections(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Stops accepting, and disconnects every connection (`BY_APPLICATION`). Running
    /// commands see their channels close.
    pub fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            stop_accepting(&self.listener, self.addr);
            let _ = t.join();
        }
        let live = std::mem::take(
            &mut *self
                .live
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for shared in live.iter().filter_map(Weak::upgrade) {
            shared.lock().conn.disconnect(
                whelk::DisconnectReason::BY_APPLICATION,
                "server shutting down",
            );
            shared.kick();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Listens on `addr` and serves every connection with `handler`: two driver threads per
/// connection (see the [crate docs](crate)), one thread per running command, at most
/// [`ServerConfig::max_connections`] connections at once.
pub fn listen<H: Handler>(
    addr: impl ToSocketAddrs,
    config: ServerConfig,
    handler: H,
) -> Result<Server> {
    let listener = Arc::new(TcpListener::bind(addr)?);
    let local = listener.local_addr()?;
    let handler = Arc::new(handler);
    let stop = Arc::new(AtomicBool::new(false));
    let live: Arc<Mutex<Vec<Weak<Shared<Conn>>>>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let (stop2, live2, count2) = (stop.clone(), live.clone(), count.clone());
    let listener2 = listener.clone();
    let thread = std::thread::Builder::new()
        .name("whelk-accept".into())
        .spawn(move || {
            for stream in listener2.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else {
                    // Out of descriptors or similar: do not spin.
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                };
                if count2.load(Ordering::SeqCst) >= config.max_connections {
                    // Over the cap: close at once (as OpenSSH's MaxStartups does).
                    drop(stream);
                    continue;
                }
                if stream.set_nodelay(true).is_err() {
                    continue;
                }
                let Ok(rng) = os_rng() else { continue };
                let Ok(conn) = ServerConnection::new(config.ssh.clone(), rng, Instant::now())
                else {
                    continue;
                };
                count2.fetch_add(1, Ordering::SeqCst);
                let shared = Shared::new(conn);
                let hooks = Arc::new(ServerHooks {
                    handler: handler.clone(),
                    user: Mutex::default(),
                    sessions: Arc::default(),
                    forwards: Mutex::default(),
                    unlink: config.streamlocal_bind_unlink,
                    _slot: Slot(count2.clone()),
                });
                if spawn(&shared, stream, hooks, "whelk-server").is_ok() {
                    let mut l = live2
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    l.retain(|w| w.strong_count() > 0);
                    l.push(Arc::downgrade(&shared));
                }
            }
        })?;
    Ok(Server {
        addr: local,
        listener,
        stop,
        thread: Some(thread),
        live,
        count,
    })
}
