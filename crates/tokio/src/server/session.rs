//! The server's side of a session channel, and channel streams.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use whelk::{
    ChannelId, ChannelOpenKind, Grant, Method, PublicKey, RequestToken, ServerConnection,
    TerminalModes,
};

use crate::channel::{ChannelReader, ChannelWriter};
use crate::driver::Shared;
use crate::error::{Error, Result};
use crate::wait_for;

/// Who is connected: passed to every [`crate::Handler`] call so applications can log and
/// decide per peer and user.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    pub(crate) id: u64,
    pub(crate) peer: SocketAddr,
    pub(crate) local: SocketAddr,
    pub(crate) user: String,
    pub(crate) methods: Vec<Method>,
    pub(crate) keys: Vec<PublicKey>,
    pub(crate) grants: Vec<Grant>,
    pub(crate) permissions: Permissions,
}

impl ConnectionInfo {
    /// A number naming this connection for the server's lifetime (for logs).
    #[must_use]
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The client's address.
    #[must_use]
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// The address the client connected to.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The authenticated user (empty before authentication succeeded).
    #[must_use]
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The authentication methods that succeeded, in order.
    #[must_use]
    pub fn methods(&self) -> &[Method] {
        &self.methods
    }

    /// The keys whose signatures verified (publickey), in order.
    #[must_use]
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    /// What each successful method granted: the `authorized_keys` options and the
    /// certificate that authenticated.
    #[must_use]
    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }

    /// What the grants allow; the server enforces it before asking the handler.
    #[must_use]
    pub fn permissions(&self) -> &Permissions {
        &self.permissions
    }
}

/// What authentication allows the session to do, from the `authorized_keys` options
/// (`restrict`, `no-pty`, `no-port-forwarding`, `no-agent-forwarding`, `permitopen`,
/// `permitlisten`, `command=`) and the certificate (`permit-*` extensions,
/// `force-command`) of every method that succeeded; the most restrictive wins. The
/// server enforces it: a denied PTY, forwarding or agent request is refused without
/// asking the [`crate::Handler`], and a forced command replaces whatever session the
/// client starts (the handler's `exec` runs it; [`ServerSession::kind`] tells what the
/// client asked for, sshd's `SSH_ORIGINAL_COMMAND`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Permissions {
    /// PTYs may be allocated.
    pub pty: bool,
    /// TCP and UNIX-socket forwarding are allowed (then also [`Permissions::permits_open`]
    /// and [`Permissions::permits_listen`]).
    pub port_forwarding: bool,
    /// Agent forwarding is allowed.
    pub agent_forwarding: bool,
    /// X11 forwarding is allowed.
    pub x11_forwarding: bool,
    /// `~/.ssh/rc` may run.
    pub user_rc: bool,
    /// The forced command, if any.
    pub forced_command: Option<String>,
    /// Two grants force different commands: every session is refused.
    pub conflicting_commands: bool,
    grants: Vec<Grant>,
}

impl Default for Permissions {
    fn default() -> Self {
        Self {
            pty: true,
            port_forwarding: true,
            agent_forwarding: true,
            x11_forwarding: true,
            user_rc: true,
            forced_command: None,
            conflicting_commands: false,
            grants: Vec::new(),
        }
    }
}

impl Permissions {
    /// The permissions of these grants (everything allowed when they restrict nothing).
    #[must_use]
    pub fn from_grants(grants: &[Grant]) -> Self {
        let mut p = Self {
            grants: grants.to_vec(),
            ..Self::default()
        };
        let force = |cmd: &str, p: &mut Self| match &p.forced_command {
            Some(c) if c != cmd => p.conflicting_commands = true,
            Some(_) => {}
            None => p.forced_command = Some(cmd.to_string()),
        };
        for g in grants {
            if let Some(o) = &g.options {
                p.pty &= o.permits_pty();
                p.port_forwarding &= o.permits_port_forwarding();
                p.agent_forwarding &= o.permits_agent_forwarding();
                p.x11_forwarding &= o.permits_x11_forwarding();
                p.user_rc &= o.permits_user_rc();
                if let Some(c) = &o.command {
                    force(c, &mut p);
                }
            }
            if let Some(c) = &g.certificate {
                p.pty &= c.has_extension("permit-pty");
                p.port_forwarding &= c.has_extension("permit-port-forwarding");
                p.agent_forwarding &= c.has_extension("permit-agent-forwarding");
                p.x11_forwarding &= c.has_extension("permit-X11-forwarding");
                p.user_rc &= c.has_extension("permit-user-rc");
                if let Some(cmd) = c.force_command() {
                    force(cmd, &mut p);
                }
            }
        }
        p
    }

    /// Whether a `direct-tcpip` connection to `host:port` is allowed (`permitopen`).
    #[must_use]
    pub fn permits_open(&self, host: &str, port: u32) -> bool {
        let Ok(port) = u16::try_from(port) else {
            return false;
        };
        self.port_forwarding
            && self
                .grants
                .iter()
                .filter_map(|g| g.options.as_ref())
                .all(|o| o.permits_open(host, port))
    }

    /// Whether a `tcpip-forward` on `address:port` is allowed (`permitlisten`).
    #[must_use]
    pub fn permits_listen(&self, address: &str, port: u32) -> bool {
        let Ok(port) = u16::try_from(port) else {
            return false;
        };
        self.port_forwarding
            && self
                .grants
                .iter()
                .filter_map(|g| g.options.as_ref())
                .all(|o| o.permits_listen(address, port))
    }
}

/// A pseudo-terminal request (`pty-req`, RFC 4254 §6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pty {
    /// `TERM` (e.g. `xterm-256color`).
    pub term: String,
    /// Width in characters.
    pub columns: u32,
    /// Height in rows.
    pub rows: u32,
    /// Width in pixels (0 if unknown).
    pub width_px: u32,
    /// Height in pixels (0 if unknown).
    pub height_px: u32,
    /// The terminal modes (RFC 4254 §8); empty if the client sent none or they did not
    /// decode.
    pub modes: TerminalModes,
}

/// Something that happened to a running session (RFC 4254 §6.7, §6.9, RFC 4335).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// The client's terminal changed size (`window-change`).
    WindowChange {
        /// Width in characters.
        columns: u32,
        /// Height in rows.
        rows: u32,
        /// Width in pixels.
        width_px: u32,
        /// Height in pixels.
        height_px: u32,
    },
    /// The client sends a signal (`"INT"`, `"TERM"`..., without `SIG`).
    Signal(String),
    /// The client sends a break (`break`, RFC 4335) of this length.
    Break {
        /// Length in milliseconds.
        length_ms: u32,
    },
}

/// How a session ends: what the server reports before closing the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Exit {
    /// `exit-status` with this code (RFC 4254 §6.10).
    Code(u32),
    /// `exit-signal`: the command was killed by a signal (RFC 4254 §6.10).
    Signal {
        /// The signal name without `SIG` (`"TERM"`, `"KILL"`...).
        name: String,
        /// Whether it dumped core.
        core_dumped: bool,
        /// A message for the user (may be empty).
        message: String,
    },
    /// Refuses the request (`SSH_MSG_CHANNEL_FAILURE`) if the session was not accepted
    /// yet (see [`ServerSession::accept`]); otherwise closes the channel without a status.
    Refused,
}

impl From<u32> for Exit {
    fn from(code: u32) -> Self {
        Self::Code(code)
    }
}

/// What the session was started with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionKind {
    /// `shell`.
    Shell,
    /// `exec` with this command.
    Exec(String),
    /// `subsystem` with this name.
    Subsystem(String),
}

/// The reply to the request that started the session, until it is sent.
pub(crate) type Reply = Arc<Mutex<Option<RequestToken>>>;

/// How far a session's task got with the channel requests the connection queued for it:
/// lets a running session wait until every request that came before the data it read is
/// among its events (see [`ServerSession::events_caught_up`]).
#[derive(Debug)]
pub(crate) struct Progress {
    /// Requests queued to the session's task, counted by the connection task when it
    /// handles the packet (before it handles the packets after it).
    queued: std::sync::atomic::AtomicU64,
    /// Requests the session's task is done with; `u64::MAX` once it stopped.
    handled: tokio::sync::watch::Sender<u64>,
}

impl Progress {
    pub(crate) fn new() -> Self {
        Self {
            queued: std::sync::atomic::AtomicU64::new(0),
            handled: tokio::sync::watch::Sender::new(0),
        }
    }

    /// One more request queued.
    pub(crate) fn queued(&self) {
        self.queued
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// One more request handled.
    pub(crate) fn handled(&self) {
        self.handled.send_modify(|n| *n = n.saturating_add(1));
    }

    /// No more requests will be handled.
    pub(crate) fn stopped(&self) {
        self.handled.send_replace(u64::MAX);
    }

    async fn caught_up(&self) {
        let target = self.queued.load(std::sync::atomic::Ordering::SeqCst);
        let mut rx = self.handled.subscribe();
        let _ = rx.wait_for(|&n| n >= target).await;
    }
}

/// The server's side of a session: its streams, what the client asked for before
/// starting it (a PTY, environment variables, agent forwarding) and the events that
/// arrive while it runs.
///
/// The request that started the session (`shell`, `exec`, `subsystem`) is answered with
/// success when the handler calls [`ServerSession::accept`], takes one of the streams,
/// or returns anything but [`Exit::Refused`]; returning [`Exit::Refused`] first answers
/// with failure. A session left unanswered for [`crate::ServerConfig::decision_timeout`]
/// is refused.
pub struct ServerSession {
    pub(crate) shared: Arc<Shared<ServerConnection>>,
    pub(crate) id: ChannelId,
    pub(crate) info: Arc<ConnectionInfo>,
    pub(crate) kind: SessionKind,
    pub(crate) pty: Option<Pty>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) agent: bool,
    pub(crate) x11: Option<super::X11Forwarding>,
    pub(crate) events: mpsc::Receiver<SessionEvent>,
    pub(crate) reply: Reply,
    pub(crate) progress: Arc<Progress>,
}

impl std::fmt::Debug for ServerSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSession")
            .field("id", &self.id)
            .field("user", &self.info.user)
            .field("kind", &self.kind)
            .field("pty", &self.pty)
            .field("env", &self.env)
            .field("agent", &self.agent)
            .field("x11", &self.x11)
            .finish_non_exhaustive()
    }
}

impl ServerSession {
    /// The channel.
    #[must_use]
    pub fn id(&self) -> ChannelId {
        self.id
    }

    /// The connection (peer address, user).
    #[must_use]
    pub fn connection(&self) -> &ConnectionInfo {
        &self.info
    }

    /// The authenticated user.
    #[must_use]
    pub fn user(&self) -> &str {
        &self.info.user
    }

    /// How the session was started.
    #[must_use]
    pub fn kind(&self) -> &SessionKind {
        &self.kind
    }

    /// The pseudo-terminal the client asked for (and the handler allowed), with its size
    /// updated by `window-change` requests that came before the session started.
    #[must_use]
    pub fn pty(&self) -> Option<&Pty> {
        self.pty.as_ref()
    }

    /// The environment variables the handler allowed, in the order they came.
    #[must_use]
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Whether the client asked for agent forwarding and the handler allowed it: then
    /// [`ServerSession::open_agent`] and [`ServerSession::agent_listener`] work.
    #[must_use]
    pub fn agent_forwarding(&self) -> bool {
        self.agent
    }

    /// The X11 forwarding the client asked for (`x11-req`) and the handler allowed: the
    /// session's `DISPLAY` ([`super::X11Forwarding::display`]) and the protocol and cookie
    /// for its Xauthority file. The display listens until the session ends.
    #[must_use]
    pub fn x11(&self) -> Option<&super::X11Forwarding> {
        self.x11.as_ref()
    }

    /// Answers the starting request with success (done at most once; also done by taking
    /// a stream).
    pub fn accept(&self) {
        let token = self
            .reply
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(token) = token {
            let _ = self.shared.lock().conn.respond_request(token, true);
            self.shared.wake.notify_one();
        }
    }

    /// What the client sends (its stdin). Reading re-opens the channel window.
    #[must_use]
    pub fn stdin(&self) -> ChannelReader<ServerConnection> {
        self.accept();
        ChannelReader::stdout(self.shared.clone(), self.id)
    }

    /// The session's stdout; shutting it down sends EOF.
    #[must_use]
    pub fn stdout(&self) -> ChannelWriter<ServerConnection> {
        self.accept();
        ChannelWriter::stdout(self.shared.clone(), self.id)
    }

    /// The session's stderr (extended data type 1).
    #[must_use]
    pub fn stderr(&self) -> ChannelWriter<ServerConnection> {
        self.accept();
        ChannelWriter::stderr(self.shared.clone(), self.id)
    }

    /// stdin and stdout as one [`AsyncRead`] + [`AsyncWrite`] stream (for a subsystem
    /// speaking a protocol, e.g. an SFTP server). Shutting it down sends EOF; dropping it
    /// does not close the channel (the exit status follows the handler's return).
    #[must_use]
    pub fn stream(&self) -> ServerStream {
        self.accept();
        let mut s = ServerStream::new(self.shared.clone(), self.id);
        s.close_on_drop = false;
        s
    }

    /// The next `window-change`, `signal` or `break` of the client; `None` once the
    /// channel or the connection closed.
    pub async fn next_event(&mut self) -> Option<SessionEvent> {
        self.events.recv().await
    }

    /// Waits until every request (`window-change`, `signal`, `break`) the client sent
    /// before the data read so far from [`ServerSession::stdin`] is queued for
    /// [`ServerSession::next_event`]. A server that applies a window-change before it
    /// passes on the data that followed it (as sshd does for a terminal) calls this after
    /// each read, then takes the events that are ready.
    pub async fn events_caught_up(&self) {
        self.progress.caught_up().await;
    }

    /// Waits until the client closed the channel (or the connection ended).
    pub async fn closed(&self) {
        let id = self.id;
        wait_for(&self.shared, |g| {
            (g.done.is_some() || g.chans.get(&id).is_none_or(|c| c.closed)).then_some(())
        })
        .await;
    }

    /// Opens an `auth-agent@openssh.com` channel to the client's agent (agent forwarding,
    /// OpenSSH PROTOCOL.agent): a stream speaking the ssh-agent protocol.
    pub async fn open_agent(&self) -> Result<ServerStream> {
        if !self.agent {
            return Err(Error::Refused("agent forwarding was not requested".into()));
        }
        open_channel(&self.shared, ChannelOpenKind::AuthAgent).await
    }

    /// Listens on a UNIX socket at `path` (like sshd's `SSH_AUTH_SOCK`; mode 0600, put it
    /// in a directory only the user can reach) and carries each connection to the
    /// client's agent over its own `auth-agent@openssh.com` channel.
    /// The listener stops (and the socket file is removed) when the returned guard is
    /// dropped or the connection ends.
    pub fn agent_listener(&self, path: &std::path::Path) -> Result<AgentListener> {
        if !self.agent {
            return Err(Error::Refused("agent forwarding was not requested".into()));
        }
        let (listener, file) = crate::socket_file::bind_unix(path, false)?;
        let weak = Arc::downgrade(&self.shared);
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let Some(shared) = weak.upgrade() else { break };
                if shared.lock().done.is_some() {
                    break;
                }
                tokio::spawn(async move {
                    if let Ok(ch) = open_channel(&shared, ChannelOpenKind::AuthAgent).await {
                        super::forward::splice(sock, ch).await;
                    }
                });
            }
        });
        Ok(AgentListener { file, task })
    }
}

/// A forwarded agent socket (see [`ServerSession::agent_listener`]); dropping it stops
/// listening and removes the socket file.
#[derive(Debug)]
pub struct AgentListener {
    file: crate::socket_file::SocketFile,
    task: tokio::task::JoinHandle<()>,
}

impl AgentListener {
    /// The socket's path (for `SSH_AUTH_SOCK`).
    #[must_use]
    pub fn path(&self) -> &std::path::Path {
        self.file.path()
    }
}

impl Drop for AgentListener {
    fn drop(&mut self) {
        self.task.abort();
        self.file.remove_if_ours();
    }
}

/// Opens a channel from the server and waits for the client's answer.
pub(crate) async fn open_channel(
    shared: &Arc<Shared<ServerConnection>>,
    kind: ChannelOpenKind,
) -> Result<ServerStream> {
    let id = {
        let mut g = shared.lock();
        if let Some(why) = &g.done {
            return Err(Error::Closed(why.clone()));
        }
        let id = g.conn.open(kind)?;
        g.chan(id);
        id
    };
    shared.wake.notify_one();
    let stream = ServerStream::new(shared.clone(), id);
    wait_for(shared, |g| match &g.chan(id).open {
        Some(Ok(())) => Some(Ok(())),
        Some(Err(why)) => Some(Err(Error::Refused(why.clone()))),
        None => g.done.clone().map(|why| Err(Error::Closed(why))),
    })
    .await?;
    Ok(stream)
}

/// One channel as a byte stream ([`AsyncRead`] + [`AsyncWrite`]): a forwarded
/// connection, an agent channel, or a session's stdin + stdout ([`ServerSession::stream`]).
/// Shutting down the writing half sends EOF; dropping it closes the channel (except a
/// session's, which closes after the handler returned).
pub struct ServerStream {
    shared: Arc<Shared<ServerConnection>>,
    id: ChannelId,
    reader: ChannelReader<ServerConnection>,
    writer: ChannelWriter<ServerConnection>,
    close_on_drop: bool,
}

impl std::fmt::Debug for ServerStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerStream")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl ServerStream {
    pub(crate) fn new(shared: Arc<Shared<ServerConnection>>, id: ChannelId) -> Self {
        Self {
            reader: ChannelReader::stdout(shared.clone(), id),
            writer: ChannelWriter::stdout(shared.clone(), id),
            shared,
            id,
            close_on_drop: true,
        }
    }

    /// The channel.
    #[must_use]
    pub fn id(&self) -> ChannelId {
        self.id
    }

    pub(crate) fn shared(&self) -> &Arc<Shared<ServerConnection>> {
        &self.shared
    }
}

impl Drop for ServerStream {
    fn drop(&mut self) {
        if !self.close_on_drop {
            return;
        }
        let mut g = self.shared.lock();
        let closed = g.chans.get(&self.id).is_none_or(|c| c.closed);
        if closed {
            g.chans.remove(&self.id);
        } else {
            let _ = g.conn.close(self.id);
        }
        drop(g);
        self.shared.wake.notify_one();
    }
}

impl AsyncRead for ServerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().reader).poll_read(cx, buf)
    }
}

impl AsyncWrite for ServerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().writer).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().writer).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().writer).poll_shutdown(cx)
    }
}
