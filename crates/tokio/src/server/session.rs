//! The server's side of a session channel, and channel streams.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use whelk::{ChannelId, ChannelOpenKind, RequestToken, ServerConnection, TerminalModes};

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
    pub(crate) events: mpsc::Receiver<SessionEvent>,
    pub(crate) reply: Reply,
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

    /// The next `window-change`, `signal` or `break` of the client; `None` once the
    /// channel or the connection closed.
    pub async fn next_event(&mut self) -> Option<SessionEvent> {
        self.events.recv().await
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

    /// Listens on a UNIX socket at `path` (like sshd's `SSH_AUTH_SOCK`) and carries each
    /// connection to the client's agent over its own `auth-agent@openssh.com` channel.
    /// The listener stops (and the socket file is removed) when the returned guard is
    /// dropped or the connection ends.
    pub fn agent_listener(&self, path: &std::path::Path) -> Result<AgentListener> {
        if !self.agent {
            return Err(Error::Refused("agent forwarding was not requested".into()));
        }
        let listener = tokio::net::UnixListener::bind(path)?;
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
        Ok(AgentListener {
            path: path.to_path_buf(),
            task,
        })
    }
}

/// A forwarded agent socket (see [`ServerSession::agent_listener`]); dropping it stops
/// listening and removes the socket file.
#[derive(Debug)]
pub struct AgentListener {
    path: std::path::PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl AgentListener {
    /// The socket's path (for `SSH_AUTH_SOCK`).
    #[must_use]
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl Drop for AgentListener {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
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
/// connection or an agent channel. Shutting down the writing half sends EOF; dropping it
/// closes the channel.
pub struct ServerStream {
    shared: Arc<Shared<ServerConnection>>,
    id: ChannelId,
    reader: ChannelReader<ServerConnection>,
    writer: ChannelWriter<ServerConnection>,
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
