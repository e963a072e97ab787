//! The async SSH server: [`listen`] (or [`serve`] on a bound listener) with a
//! [`Handler`] that makes every decision, one driver task per connection.
//!
//! The handler decides authentication, session requests (`pty-req`, `env`,
//! `auth-agent-req@openssh.com`, `x11-req`, `shell`, `exec`, `subsystem`) and forwarding
//! (`direct-tcpip`, `direct-streamlocal@openssh.com`, `tcpip-forward`,
//! `streamlocal-forward@openssh.com`). Every method has a default: sessions are refused,
//! environment variables, agent and X11 forwarding and all forwarding denied, PTYs
//! allowed. Each call runs in its own task; a decision that does not come within
//! [`ServerConfig::decision_timeout`] is a denial, so a stuck handler cannot pin a
//! connection. Forwarding that the handler allows is done by the server itself (it
//! connects, binds and pipes both ways with back-pressure); for X11 it listens on a
//! loopback display and tells the session ([`ServerSession::x11`]) its `DISPLAY` and
//! cookie.
//!
//! Requests on one session channel are handled in order (an `env` decision completes
//! before the `shell` it precedes starts); `window-change`, `signal` and `break` reach
//! the running session as [`SessionEvent`]s. The `shell`/`exec`/`subsystem` request is
//! answered with success once the handler takes a stream of its [`ServerSession`] (or
//! calls [`ServerSession::accept`]); returning [`Exit::Refused`] before that answers
//! with failure. The return value becomes `exit-status` or `exit-signal`, then EOF and
//! CLOSE.
//!
//! What authentication granted is enforced before the handler is asked
//! ([`Permissions`]: `authorized_keys` options such as `no-pty`, `permitopen=`,
//! `command=`, and certificate `permit-*` extensions and `force-command`).
//!
//! Limits: [`ServerConfig::max_startups`] (sshd's `MaxStartups`, random early drop of
//! unauthenticated connections), [`ServerConfig::per_source_max_startups`],
//! [`ServerConfig::max_connections`], the login grace time of the protocol settings, and
//! the channel limits of [`whelk::ServerConfig`]. Refused connections are closed right
//! after `accept`, before any handshake work. [`ServerConfig::per_source_penalties`]
//! (sshd 9.8's `PerSourcePenalties`, on by default) refuses a source network whose
//! connections keep ending without authenticating until its penalty expires.
//! [`Server::shutdown`] stops accepting and disconnects every connection.
//!
//! ```no_run
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use whelk::{AuthRequest, AuthorizedKeysPolicy, Decision, PrivateKey};
//! use whelk_tokio::{ConnectionInfo, Exit, Handler, Pty, ServerConfig, ServerSession, listen};
//!
//! struct App {
//!     keys: AuthorizedKeysPolicy,
//! }
//!
//! impl Handler for App {
//!     async fn auth(&self, request: &AuthRequest) -> Decision {
//!         let now = std::time::SystemTime::now()
//!             .duration_since(std::time::UNIX_EPOCH)
//!             .map_or(0, |d| d.as_secs());
//!         self.keys.decide(request, now)
//!     }
//!
//!     async fn authenticated(&self, conn: &ConnectionInfo) {
//!         println!("{} logged in from {}", conn.user(), conn.peer_addr());
//!     }
//!
//!     async fn env(&self, _conn: &ConnectionInfo, name: &str, _value: &str) -> bool {
//!         name == "LANG" || name.starts_with("LC_")
//!     }
//!
//!     async fn exec(&self, command: String, session: ServerSession) -> Exit {
//!         let mut out = session.stdout();
//!         match command.as_str() {
//!             "cat" => {
//!                 let mut input = Vec::new();
//!                 let _ = session.stdin().read_to_end(&mut input).await;
//!                 let _ = out.write_all(&input).await;
//!                 Exit::Code(0)
//!             }
//!             _ => {
//!                 let _ = session.stderr().write_all(b"unknown command\n").await;
//!                 Exit::Code(127)
//!             }
//!         }
//!     }
//!
//!     async fn direct_tcpip(
//!         &self,
//!         _conn: &ConnectionInfo,
//!         host: &str,
//!         _port: u32,
//!         _originator: &str,
//!         _originator_port: u32,
//!     ) -> bool {
//!         host == "127.0.0.1" || host == "localhost"
//!     }
//! }
//!
//! # async fn demo() -> Result<(), whelk_tokio::Error> {
//! let host_key = PrivateKey::ed25519_from_seed(&[7; 32]);
//! let keys = AuthorizedKeysPolicy::new("ssh-ed25519 AAAA... alice@example");
//! let server = listen("127.0.0.1:2222", ServerConfig::new(vec![host_key]), App { keys }).await?;
//! // ... later:
//! server.shutdown_and_wait(std::time::Duration::from_secs(5)).await;
//! # Ok(()) }
//! ```

mod forward;
mod limits;
mod penalty;
mod session;
mod threads;
mod x11;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use whelk::{
    AuthRequest, ChannelEvent, ChannelId, ChannelOpenFailureReason, ChannelOpenKind,
    ChannelRequestKind, Decision, DisconnectReason, Event, GlobalReply, GlobalRequestKind,
    GlobalRequestToken, IncomingChannel, RequestToken, ServerConnection, TerminalModes,
};

use crate::driver::{Hooks, Inner, Shared, drive};
use crate::error::Result;
use crate::{os_rng, wait_for};

pub use limits::MaxStartups;
pub use penalty::{Overflow, PerSourcePenalties};
pub use session::{
    AgentListener, ConnectionInfo, Exit, Permissions, Pty, ServerSession, ServerStream,
    SessionEvent, SessionKind,
};
pub use x11::{X11Forwarding, X11Request};

type Conn = ServerConnection;

/// Server settings: the protocol settings plus the limits of the async server.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The protocol settings (host keys, authentication incl. login grace time and
    /// maximum attempts, algorithms, channel limits).
    pub ssh: whelk::ServerConfig,
    /// Random early drop of unauthenticated connections (default `10:30:100`, as sshd).
    pub max_startups: MaxStartups,
    /// Most unauthenticated connections from one source network (sshd's
    /// `PerSourceMaxStartups`; default `None`: no per-source cap, as sshd). With a cap, a
    /// flood from one address cannot take every [`ServerConfig::max_startups`] slot.
    pub per_source_max_startups: Option<usize>,
    /// The prefix lengths (IPv4, IPv6) grouping addresses into one source network for
    /// [`ServerConfig::per_source_max_startups`] (sshd's `PerSourceNetBlockSize`, default
    /// `32:128`).
    pub per_source_net_block: (u8, u8),
    /// Penalties for source networks whose connections end without authenticating
    /// (sshd's `PerSourcePenalties`, on by default as in sshd 9.8: `noauth` 1 s,
    /// `authfail` 5 s, `grace-exceeded` 10 s, refused from 15 s outstanding, at most
    /// 600 s, 65536 sources per address family, permissive overflow). A penalised
    /// source's connections are closed right after `accept`, unanswered.
    pub per_source_penalties: PerSourcePenalties,
    /// Most connections at once, authenticated or not (default 1000); more are refused
    /// right after `accept`.
    pub max_connections: usize,
    /// How long the [`Handler`] may take for a decision (authentication, a channel open,
    /// a request) before it counts as a denial (default 30 s). Also bounds connecting a
    /// `direct-tcpip` target.
    pub decision_timeout: Duration,
    /// Whether refused connections get a version line and `SSH_MSG_DISCONNECT`
    /// (`TOO_MANY_CONNECTIONS`) before the close, so the client can tell why (default
    /// true; false just closes, as sshd does).
    pub refusal_message: bool,
    /// sshd's `GatewayPorts`: false (the default) binds every `tcpip-forward` listener to
    /// loopback whatever address the client asked for.
    pub gateway_ports: bool,
    /// Most `tcpip-forward` + `streamlocal-forward` listeners per connection (default 64).
    pub max_forwards: usize,
    /// sshd's `StreamLocalBindUnlink`: whether a stale socket file at a
    /// `streamlocal-forward` path is removed before binding (default false: the request
    /// fails). Forwarded sockets are created with mode 0600.
    pub streamlocal_bind_unlink: bool,
    /// Queue of [`SessionEvent`]s not yet taken by a session (default 64); further events
    /// are dropped (`break` is then answered with failure).
    pub session_event_queue: usize,
    /// The first X11 display number tried for a session's X11 forwarding (sshd's
    /// `X11DisplayOffset`, default 10): display `N` listens on loopback TCP port
    /// 6000 + `N`.
    pub x11_display_offset: u32,
    /// How many display numbers from [`ServerConfig::x11_display_offset`] on are tried
    /// before an `x11-req` fails (default 1000, as sshd).
    pub x11_max_displays: u32,
    /// Most X11 display listeners per connection, one per session that asked (default
    /// 10, sshd's `MaxSessions` default); a further `x11-req` fails.
    pub max_x11_listeners: usize,
    /// Threads of its own for the connections (default 0: none). With 0, every connection
    /// runs as tasks of the runtime that called [`serve`]. With `n`, [`serve`] starts `n`
    /// threads, each with a single-threaded tokio runtime, and puts every new connection on
    /// the one with the fewest connections; the connection and every task it spawns (its
    /// sessions, the [`Handler`] calls, forwarding) stay on that thread. The tasks of one
    /// connection wake each other for every packet: on a multi-threaded runtime those
    /// wake-ups cross worker threads, on one thread the woken task runs next, which saved
    /// a fifth to a quarter of `whelk server`'s CPU time in bulk uploads
    /// (docs/benchmarks.md).
    /// `whelk server` uses one thread per CPU. The [`Handler`] then runs on a
    /// current-thread runtime: `tokio::task::block_in_place` is not available there (use
    /// `spawn_blocking`). The threads end once the [`Server`] and every connection it
    /// accepted are gone.
    pub connection_threads: usize,
}

impl ServerConfig {
    /// Defaults with these host keys.
    #[must_use]
    pub fn new(host_keys: Vec<whelk::PrivateKey>) -> Self {
        Self {
            ssh: whelk::ServerConfig::new(host_keys),
            max_startups: MaxStartups::default(),
            per_source_max_startups: None,
            per_source_net_block: (32, 128),
            per_source_penalties: PerSourcePenalties::default(),
            max_connections: 1000,
            decision_timeout: Duration::from_secs(30),
            refusal_message: true,
            gateway_ports: false,
            max_forwards: 64,
            streamlocal_bind_unlink: false,
            session_event_queue: 64,
            x11_display_offset: 10,
            x11_max_displays: 1000,
            max_x11_listeners: 10,
            connection_threads: 0,
        }
    }
}

/// What the application decides, and the sessions it runs. Every method but
/// [`Handler::auth`] has a default; security-relevant ones deny. Each call runs in its
/// own task and may take its time (a database lookup, a long command), but a decision
/// must come within [`ServerConfig::decision_timeout`].
pub trait Handler: Send + Sync + 'static {
    /// A TCP connection was accepted (before the SSH handshake): return false to close it
    /// (an address filter). Default: accept.
    fn connected(&self, conn: &ConnectionInfo) -> impl Future<Output = bool> + Send {
        let _ = conn;
        async { true }
    }

    /// Decides an authentication request (publickey signatures are already verified;
    /// [`whelk::AuthorizedKeysPolicy`] decides from an `authorized_keys` text).
    fn auth(&self, request: &AuthRequest) -> impl Future<Output = Decision> + Send;

    /// [`Handler::auth`] with the connection (peer address) at hand; by default calls
    /// [`Handler::auth`].
    fn auth_from(
        &self,
        conn: &ConnectionInfo,
        request: &AuthRequest,
    ) -> impl Future<Output = Decision> + Send {
        let _ = conn;
        self.auth(request)
    }

    /// Authentication succeeded ([`ConnectionInfo::user`] is set). For logs.
    fn authenticated(&self, conn: &ConnectionInfo) -> impl Future<Output = ()> + Send {
        let _ = conn;
        async {}
    }

    /// The connection ended (`reason` says why). For logs; cut short after
    /// [`ServerConfig::decision_timeout`].
    fn disconnected(&self, conn: &ConnectionInfo, reason: &str) -> impl Future<Output = ()> + Send {
        let _ = (conn, reason);
        async {}
    }

    /// A session asks for a pseudo-terminal (`pty-req`). Default: allowed (the session
    /// decides what to do with it, see [`ServerSession::pty`]).
    fn pty_request(&self, conn: &ConnectionInfo, pty: &Pty) -> impl Future<Output = bool> + Send {
        let _ = (conn, pty);
        async { true }
    }

    /// A session asks to set an environment variable (`env`). Default: denied (like
    /// sshd's empty `AcceptEnv`: `LD_PRELOAD` and friends are dangerous).
    fn env(
        &self,
        conn: &ConnectionInfo,
        name: &str,
        value: &str,
    ) -> impl Future<Output = bool> + Send {
        let _ = (conn, name, value);
        async { false }
    }

    /// A session asks for agent forwarding (`auth-agent-req@openssh.com`). Default:
    /// denied. When allowed, [`ServerSession::open_agent`] and
    /// [`ServerSession::agent_listener`] reach the client's agent.
    fn agent_forwarding(&self, conn: &ConnectionInfo) -> impl Future<Output = bool> + Send {
        let _ = conn;
        async { false }
    }

    /// A session asks for X11 forwarding (`x11-req`, RFC 4254 §6.3.1; `ssh -X`/`-Y`).
    /// Default: denied (sshd's `X11Forwarding no`). Requests the grants forbid
    /// ([`Permissions::x11_forwarding`]: `no-x11-forwarding`, `restrict`, a certificate
    /// without `permit-X11-forwarding`), a second one on the same session, and ones whose
    /// protocol or cookie hold anything but `[A-Za-z0-9.:/_-]` (they end up in an `xauth`
    /// command) fail without asking. When allowed, the server listens on the first free
    /// display (see [`ServerConfig::x11_display_offset`]; the request fails if none is)
    /// and forwards each connection to it over an `x11` channel;
    /// [`ServerSession::x11`] tells the session its `DISPLAY` and cookie.
    fn x11_forwarding(
        &self,
        conn: &ConnectionInfo,
        request: &X11Request,
    ) -> impl Future<Output = bool> + Send {
        let _ = (conn, request);
        async { false }
    }

    /// Runs the user's shell (`shell`) until it ends. Default: refused.
    fn shell(&self, session: ServerSession) -> impl Future<Output = Exit> + Send {
        let _ = session;
        async { Exit::Refused }
    }

    /// Runs `command` (`exec`; invalid UTF-8 replaced) until it ends. Default: refused.
    /// The session's stdin, stdout and stderr are async streams; EOF, the exit status and
    /// CLOSE follow the return. Also runs forced commands ([`Permissions`]) whatever the
    /// client asked for.
    fn exec(&self, command: String, session: ServerSession) -> impl Future<Output = Exit> + Send {
        let _ = (command, session);
        async { Exit::Refused }
    }

    /// Runs the subsystem `name` (`subsystem`, e.g. `sftp`) until it ends. Default:
    /// refused.
    fn subsystem(&self, name: String, session: ServerSession) -> impl Future<Output = Exit> + Send {
        let _ = (name, session);
        async { Exit::Refused }
    }

    /// The client wants a connection to `host:port` (`direct-tcpip`, `ssh -L`, `-D`,
    /// `-W`). Default: denied. When allowed the server connects and pipes.
    fn direct_tcpip(
        &self,
        conn: &ConnectionInfo,
        host: &str,
        port: u32,
        originator: &str,
        originator_port: u32,
    ) -> impl Future<Output = bool> + Send {
        let _ = (conn, host, port, originator, originator_port);
        async { false }
    }

    /// The client wants a connection to the UNIX socket `path`
    /// (`direct-streamlocal@openssh.com`). Default: denied.
    fn direct_streamlocal(
        &self,
        conn: &ConnectionInfo,
        path: &str,
    ) -> impl Future<Output = bool> + Send {
        let _ = (conn, path);
        async { false }
    }

    /// The client wants the server to listen on `address:port` and forward connections
    /// back (`tcpip-forward`, `ssh -R`; port 0: the server picks and reports it).
    /// Default: denied. When allowed the server binds (see
    /// [`ServerConfig::gateway_ports`]) until `cancel-tcpip-forward` or the end of the
    /// connection.
    fn tcpip_forward(
        &self,
        conn: &ConnectionInfo,
        address: &str,
        port: u32,
    ) -> impl Future<Output = bool> + Send {
        let _ = (conn, address, port);
        async { false }
    }

    /// The client wants the server to listen on the UNIX socket `path`
    /// (`streamlocal-forward@openssh.com`). Default: denied.
    fn streamlocal_forward(
        &self,
        conn: &ConnectionInfo,
        path: &str,
    ) -> impl Future<Output = bool> + Send {
        let _ = (conn, path);
        async { false }
    }
}

/// Runs a handler decision for at most `limit`; `default` if it took longer or panicked.
async fn decide<T>(limit: Duration, default: T, fut: impl Future<Output = T> + Send) -> T {
    match tokio::time::timeout(limit, guarded(fut)).await {
        Ok(Some(v)) => v,
        _ => default,
    }
}

/// A handler future whose panic becomes `None`: a buggy handler must not leave the peer
/// waiting for an answer or a channel open forever.
struct CatchPanic<'a, T>(Pin<Box<dyn Future<Output = T> + Send + 'a>>);

impl<T> Future for CatchPanic<'_, T> {
    type Output = Option<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let fut = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Some(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(None),
        }
    }
}

fn guarded<'a, T>(fut: impl Future<Output = T> + Send + 'a) -> CatchPanic<'a, T> {
    CatchPanic(Box::pin(fut))
}

/// A session channel request, queued to the channel's session task.
struct SessionMsg {
    kind: ChannelRequestKind,
    token: Option<RequestToken>,
}

/// What every task of one connection needs.
struct Ctx<H> {
    handler: Arc<H>,
    config: Arc<ServerConfig>,
    shared: Arc<Shared<Conn>>,
    /// X11 display listeners of the connection.
    x11_listeners: Arc<AtomicUsize>,
}

impl<H> Clone for Ctx<H> {
    fn clone(&self) -> Self {
        Self {
            handler: self.handler.clone(),
            config: self.config.clone(),
            shared: self.shared.clone(),
            x11_listeners: self.x11_listeners.clone(),
        }
    }
}

impl<H> Ctx<H> {
    fn respond_request(&self, token: Option<RequestToken>, ok: bool) {
        if let Some(token) = token {
            let _ = self.shared.lock().conn.respond_request(token, ok);
            self.shared.wake.notify_one();
        }
    }

    fn respond_global(&self, token: Option<GlobalRequestToken>, reply: GlobalReply) {
        if let Some(token) = token {
            let _ = self.shared.lock().conn.respond_global(token, reply);
            self.shared.wake.notify_one();
        }
    }

    fn reject(&self, incoming: IncomingChannel, reason: ChannelOpenFailureReason, why: &str) {
        let _ = self
            .shared
            .lock()
            .conn
            .reject_channel(incoming, reason, why);
        self.shared.wake.notify_one();
    }

    /// Accepts a channel; `None` if the connection is over.
    fn accept(&self, incoming: IncomingChannel) -> Option<ServerStream> {
        let mut g = self.shared.lock();
        let id = g.conn.accept_channel(incoming).ok()?;
        g.chan(id).open = Some(Ok(()));
        drop(g);
        self.shared.wake.notify_one();
        Some(ServerStream::new(self.shared.clone(), id))
    }
}

/// Counts a connection as unauthenticated, overall and for its source, while alive.
struct Startup {
    _all: limits::Slot,
    _source: Option<limits::SourceSlot>,
    /// The penalty the source earns if the connection ends unauthenticated.
    penalty: Option<Arc<penalty::Ticket>>,
}

struct ServerHooks<H> {
    ctx: Ctx<H>,
    info: Arc<ConnectionInfo>,
    /// The latest `info`, for the `disconnected` call.
    latest: Arc<Mutex<Arc<ConnectionInfo>>>,
    sessions: HashMap<ChannelId, (mpsc::Sender<SessionMsg>, Arc<session::Progress>)>,
    forwards: Arc<Mutex<forward::Forwards>>,
    /// Held while the connection is unauthenticated (counts against MaxStartups).
    startup: Option<Startup>,
}

impl<H: Handler> ServerHooks<H> {
    fn open_request(&mut self, inner: &mut Inner<Conn>, incoming: IncomingChannel) {
        let ctx = self.ctx.clone();
        let info = self.info.clone();
        let limit = ctx.config.decision_timeout;
        match incoming.kind() {
            ChannelOpenKind::Session => {
                let Ok(id) = inner.conn.accept_channel(incoming) else {
                    return;
                };
                inner.chan(id).open = Some(Ok(()));
                self.sessions.retain(|_, (tx, _)| !tx.is_closed());
                let (tx, rx) = mpsc::channel(self.ctx.config.session_event_queue.max(1));
                let progress = Arc::new(session::Progress::new());
                self.sessions.insert(id, (tx, progress.clone()));
                tokio::spawn(session_task(ctx, info, id, rx, progress));
            }
            ChannelOpenKind::DirectTcpip {
                host,
                port,
                originator_address,
                originator_port,
            } => {
                let host = host.to_string_lossy().into_owned();
                let port = *port;
                let orig = originator_address.to_string_lossy().into_owned();
                let oport = *originator_port;
                if !info.permissions.permits_open(&host, port) {
                    let _ = inner.conn.reject_channel(
                        incoming,
                        ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED,
                        "forwarding not permitted for this key",
                    );
                    return;
                }
                tokio::spawn(async move {
                    let ok = decide(
                        limit,
                        false,
                        ctx.handler.direct_tcpip(&info, &host, port, &orig, oport),
                    )
                    .await;
                    if !ok {
                        ctx.reject(
                            incoming,
                            ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED,
                            "forwarding refused",
                        );
                        return;
                    }
                    let sock = tokio::time::timeout(limit, forward::connect_tcp(&host, port)).await;
                    match sock {
                        Ok(Ok(sock)) => {
                            if let Some(ch) = ctx.accept(incoming) {
                                forward::splice(sock, ch).await;
                            }
                        }
                        Ok(Err(e)) => ctx.reject(
                            incoming,
                            ChannelOpenFailureReason::CONNECT_FAILED,
                            &e.to_string(),
                        ),
                        Err(_) => ctx.reject(
                            incoming,
                            ChannelOpenFailureReason::CONNECT_FAILED,
                            "connect timed out",
                        ),
                    }
                });
            }
            ChannelOpenKind::DirectStreamlocal { socket_path, .. } => {
                let path = socket_path.to_string_lossy().into_owned();
                if !info.permissions.port_forwarding {
                    let _ = inner.conn.reject_channel(
                        incoming,
                        ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED,
                        "forwarding not permitted for this key",
                    );
                    return;
                }
                tokio::spawn(async move {
                    let ok =
                        decide(limit, false, ctx.handler.direct_streamlocal(&info, &path)).await;
                    if !ok {
                        ctx.reject(
                            incoming,
                            ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED,
                            "forwarding refused",
                        );
                        return;
                    }
                    let sock =
                        tokio::time::timeout(limit, tokio::net::UnixStream::connect(&path)).await;
                    match sock {
                        Ok(Ok(sock)) => {
                            if let Some(ch) = ctx.accept(incoming) {
                                forward::splice(sock, ch).await;
                            }
                        }
                        Ok(Err(e)) => ctx.reject(
                            incoming,
                            ChannelOpenFailureReason::CONNECT_FAILED,
                            &e.to_string(),
                        ),
                        Err(_) => ctx.reject(
                            incoming,
                            ChannelOpenFailureReason::CONNECT_FAILED,
                            "connect timed out",
                        ),
                    }
                });
            }
            _ => {
                let _ = inner.conn.reject_channel(
                    incoming,
                    ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED,
                    "channel type not supported",
                );
            }
        }
    }
}

impl<H: Handler> Hooks<Conn> for ServerHooks<H> {
    fn event(&mut self, _shared: &Arc<Shared<Conn>>, inner: &mut Inner<Conn>, event: Event) {
        match event {
            Event::AuthRequest(req) => {
                let ctx = self.ctx.clone();
                let info = self.info.clone();
                // A rejected `none` probe is not a failed attempt (as sshd counts them).
                let ticket = self
                    .startup
                    .as_ref()
                    .and_then(|s| s.penalty.clone())
                    .filter(|_| !matches!(req.kind, whelk::RequestKind::None));
                tokio::spawn(async move {
                    let decision = decide(
                        ctx.config.decision_timeout,
                        Decision::Reject,
                        ctx.handler.auth_from(&info, &req),
                    )
                    .await;
                    if let (Decision::Reject, Some(t)) = (&decision, ticket) {
                        t.auth_failed();
                    }
                    let _ = ctx
                        .shared
                        .lock()
                        .conn
                        .respond_auth(Instant::now(), req, decision);
                    ctx.shared.wake.notify_one();
                });
            }
            Event::Authenticated {
                user,
                methods,
                outcome,
            } => {
                if let Some(t) = self.startup.take().and_then(|s| s.penalty) {
                    t.authenticated();
                }
                let mut info = (*self.info).clone();
                info.user = user;
                info.methods = methods;
                if let Some(out) = outcome {
                    info.permissions = Permissions::from_grants(&out.grants);
                    info.keys = out.keys;
                    info.grants = out.grants;
                }
                self.info = Arc::new(info);
                *lock(&self.latest) = self.info.clone();
                let info = self.info.clone();
                let handler = self.ctx.handler.clone();
                tokio::spawn(async move {
                    let _ = guarded(handler.authenticated(&info)).await;
                });
            }
            Event::Channel(ChannelEvent::OpenRequest(incoming)) => {
                self.open_request(inner, incoming);
            }
            Event::Channel(ChannelEvent::Request { id, kind, token }) => {
                let msg = SessionMsg { kind, token };
                let rest = match self.sessions.get(&id) {
                    Some((tx, progress)) => match tx.try_send(msg) {
                        Ok(()) => {
                            progress.queued();
                            None
                        }
                        Err(
                            mpsc::error::TrySendError::Full(m)
                            | mpsc::error::TrySendError::Closed(m),
                        ) => Some(m),
                    },
                    None => Some(msg),
                };
                if let Some(SessionMsg {
                    token: Some(token), ..
                }) = rest
                {
                    let _ = inner.conn.respond_request(token, false);
                }
            }
            _ => {}
        }
    }

    fn global_request(
        &mut self,
        _shared: &Arc<Shared<Conn>>,
        inner: &mut Inner<Conn>,
        kind: GlobalRequestKind,
        token: Option<GlobalRequestToken>,
    ) -> Option<GlobalRequestToken> {
        let ctx = self.ctx.clone();
        let info = self.info.clone();
        let table = self.forwards.clone();
        let limit = ctx.config.decision_timeout;
        match kind {
            GlobalRequestKind::TcpipForward { address, port } => {
                let address = address.to_string_lossy().into_owned();
                tokio::spawn(async move {
                    let full = lock(&table).len() >= ctx.config.max_forwards;
                    let ok = !full
                        && info.permissions.permits_listen(&address, port)
                        && decide(
                            limit,
                            false,
                            ctx.handler.tcpip_forward(&info, &address, port),
                        )
                        .await;
                    let reply = if ok {
                        match forward::start_tcp(
                            &ctx.shared,
                            &table,
                            address,
                            port,
                            ctx.config.gateway_ports,
                        )
                        .await
                        {
                            Ok(bound) if port == 0 => GlobalReply::BoundPort(bound),
                            Ok(_) => GlobalReply::Success,
                            Err(_) => GlobalReply::Failure,
                        }
                    } else {
                        GlobalReply::Failure
                    };
                    ctx.respond_global(token, reply);
                });
                None
            }
            GlobalRequestKind::CancelTcpipForward { address, port } => {
                let address = address.to_string_lossy();
                let ok = lock(&table).cancel_tcp(&address, port);
                // Answered here, under the driver's lock (ctx.respond_global would lock again).
                if let Some(token) = token {
                    let _ = inner.conn.respond_global(token, reply_of(ok));
                }
                None
            }
            GlobalRequestKind::StreamlocalForward { socket_path } => {
                let path = socket_path.to_string_lossy().into_owned();
                tokio::spawn(async move {
                    let full = lock(&table).len() >= ctx.config.max_forwards;
                    let ok = !full
                        && info.permissions.port_forwarding
                        && decide(limit, false, ctx.handler.streamlocal_forward(&info, &path))
                            .await;
                    let unlink = ctx.config.streamlocal_bind_unlink;
                    let ok = ok && forward::start_unix(&ctx.shared, &table, path, unlink).is_ok();
                    ctx.respond_global(token, reply_of(ok));
                });
                None
            }
            GlobalRequestKind::CancelStreamlocalForward { socket_path } => {
                let ok = lock(&table).cancel_unix(&socket_path.to_string_lossy());
                if let Some(token) = token {
                    let _ = inner.conn.respond_global(token, reply_of(ok));
                }
                None
            }
            _ => token,
        }
    }
}

fn reply_of(ok: bool) -> GlobalReply {
    if ok {
        GlobalReply::Success
    } else {
        GlobalReply::Failure
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Resolves once the channel (or the connection) closed.
async fn channel_closed(shared: &Arc<Shared<Conn>>, id: ChannelId) {
    wait_for(shared, |g| {
        (g.done.is_some() || g.chans.get(&id).is_none_or(|c| c.closed)).then_some(())
    })
    .await;
}

/// Handles one session channel's requests in order: decisions before the start, then
/// events for the running session.
async fn session_task<H: Handler>(
    ctx: Ctx<H>,
    info: Arc<ConnectionInfo>,
    id: ChannelId,
    mut rx: mpsc::Receiver<SessionMsg>,
    progress: Arc<session::Progress>,
) {
    let limit = ctx.config.decision_timeout;
    let mut pty: Option<Pty> = None;
    let mut env = Vec::new();
    let mut agent = false;
    // The display listener lives as long as this task: until the session ended.
    let mut x11: Option<(X11Forwarding, x11::X11Listener)> = None;
    let (kind, token) = loop {
        let msg = tokio::select! {
            m = rx.recv() => m,
            () = channel_closed(&ctx.shared, id) => None,
        };
        let Some(SessionMsg { kind, token }) = msg else {
            forget_closed(&ctx.shared, id);
            return;
        };
        // Before the session starts, nothing waits for the count to be exact.
        progress.handled();
        match kind {
            ChannelRequestKind::PtyReq {
                term,
                columns,
                rows,
                width_px,
                height_px,
                modes,
            } => {
                let p = Pty {
                    term: term.to_string_lossy().into_owned(),
                    columns,
                    rows,
                    width_px,
                    height_px,
                    modes: TerminalModes::decode(&modes).unwrap_or_default(),
                };
                let ok = pty.is_none()
                    && info.permissions.pty
                    && decide(limit, false, ctx.handler.pty_request(&info, &p)).await;
                if ok {
                    pty = Some(p);
                }
                ctx.respond_request(token, ok);
            }
            ChannelRequestKind::Env { name, value } => {
                let (name, value) = (
                    name.to_string_lossy().into_owned(),
                    value.to_string_lossy().into_owned(),
                );
                let ok = decide(limit, false, ctx.handler.env(&info, &name, &value)).await;
                if ok {
                    env.push((name, value));
                }
                ctx.respond_request(token, ok);
            }
            ChannelRequestKind::AuthAgentReq => {
                let ok = agent
                    || (info.permissions.agent_forwarding
                        && decide(limit, false, ctx.handler.agent_forwarding(&info)).await);
                agent = ok;
                ctx.respond_request(token, ok);
            }
            ChannelRequestKind::X11Req {
                single_connection,
                auth_protocol,
                auth_cookie,
                screen,
            } => {
                let request = X11Request {
                    single_connection,
                    auth_protocol: auth_protocol.to_string_lossy().into_owned(),
                    auth_cookie: auth_cookie.to_string_lossy().into_owned(),
                    screen,
                };
                if x11.is_none() {
                    x11 = start_x11(&ctx, &info, request).await;
                    ctx.respond_request(token, x11.is_some());
                } else {
                    ctx.respond_request(token, false);
                }
            }
            ChannelRequestKind::WindowChange {
                columns,
                rows,
                width_px,
                height_px,
            } => {
                if let Some(p) = pty.as_mut() {
                    (p.columns, p.rows, p.width_px, p.height_px) =
                        (columns, rows, width_px, height_px);
                }
                ctx.respond_request(token, pty.is_some());
            }
            ChannelRequestKind::Shell => break (SessionKind::Shell, token),
            ChannelRequestKind::Exec { command } => {
                break (
                    SessionKind::Exec(String::from_utf8_lossy(&command).into_owned()),
                    token,
                );
            }
            ChannelRequestKind::Subsystem { name } => {
                break (
                    SessionKind::Subsystem(name.to_string_lossy().into_owned()),
                    token,
                );
            }
            _ => ctx.respond_request(token, false),
        }
    };

    // The session runs in its own task; this one forwards events to it.
    let (ev_tx, ev_rx) = mpsc::channel(ctx.config.session_event_queue.max(1));
    let reply: session::Reply = Arc::new(Mutex::new(token));
    let session = ServerSession {
        shared: ctx.shared.clone(),
        id,
        info,
        kind: kind.clone(),
        pty,
        env,
        agent,
        x11: x11.as_ref().map(|(f, _)| f.clone()),
        events: ev_rx,
        reply: reply.clone(),
        progress: progress.clone(),
    };
    let mut run = tokio::spawn(run_session(ctx.clone(), kind, session));
    let watchdog = {
        let ctx = ctx.clone();
        let reply = reply.clone();
        tokio::spawn(async move {
            tokio::time::sleep(limit).await;
            let token = lock(&reply).take();
            ctx.respond_request(token, false);
        })
    };
    let mut run_done = false;
    loop {
        let msg = tokio::select! {
            m = rx.recv() => m,
            _ = &mut run => {
                run_done = true;
                None
            }
            () = channel_closed(&ctx.shared, id) => None,
        };
        let Some(SessionMsg { kind, token }) = msg else {
            break;
        };
        let event = match kind {
            ChannelRequestKind::WindowChange {
                columns,
                rows,
                width_px,
                height_px,
            } => Some(SessionEvent::WindowChange {
                columns,
                rows,
                width_px,
                height_px,
            }),
            ChannelRequestKind::Signal { name } => {
                Some(SessionEvent::Signal(name.to_string_lossy().into_owned()))
            }
            ChannelRequestKind::Break { length_ms } => Some(SessionEvent::Break { length_ms }),
            _ => None,
        };
        let ok = event.is_some_and(|e| ev_tx.try_send(e).is_ok());
        ctx.respond_request(token, ok);
        progress.handled();
    }
    drop(ev_tx);
    drop(rx);
    progress.stopped();
    // Once the handler is done and both sides closed the channel, forget it.
    if !run_done {
        let _ = run.await;
    }
    watchdog.abort();
    channel_closed(&ctx.shared, id).await;
    forget_closed(&ctx.shared, id);
}

/// Drops the bookkeeping of a closed channel nobody uses any more.
fn forget_closed(shared: &Arc<Shared<Conn>>, id: ChannelId) {
    let mut g = shared.lock();
    if g.chans.get(&id).is_some_and(|c| c.closed) {
        g.chans.remove(&id);
    }
}

/// Decides an `x11-req` and, when allowed, listens on a free display.
async fn start_x11<H: Handler>(
    ctx: &Ctx<H>,
    info: &ConnectionInfo,
    request: X11Request,
) -> Option<(X11Forwarding, x11::X11Listener)> {
    let cfg = &ctx.config;
    // Counted from now on, so that sessions asking at once cannot pass the limit together.
    let slot = limits::Slot::take(&ctx.x11_listeners);
    let ok = info.permissions.x11_forwarding
        && x11::valid_auth_string(&request.auth_protocol)
        && x11::valid_auth_string(&request.auth_cookie)
        && ctx.x11_listeners.load(Ordering::SeqCst) <= cfg.max_x11_listeners
        && decide(
            cfg.decision_timeout,
            false,
            ctx.handler.x11_forwarding(info, &request),
        )
        .await;
    if !ok {
        return None;
    }
    let (n, listener) = x11::listen(
        &ctx.shared,
        slot,
        cfg.x11_display_offset,
        cfg.x11_max_displays,
        request.single_connection,
    )
    .await?;
    let fwd = X11Forwarding {
        display_number: n,
        screen: request.screen,
        auth_protocol: request.auth_protocol,
        auth_cookie: request.auth_cookie,
        single_connection: request.single_connection,
    };
    Some((fwd, listener))
}

/// Runs the handler's session and reports how it ended.
async fn run_session<H: Handler>(ctx: Ctx<H>, kind: SessionKind, session: ServerSession) {
    let id = session.id;
    let reply = session.reply.clone();
    let permissions = &session.info.permissions;
    let forced = permissions.forced_command.clone();
    let run = match (kind, forced) {
        _ if permissions.conflicting_commands => None,
        // A forced command replaces whatever the client asked for.
        (_, Some(command)) => Some(guarded(ctx.handler.exec(command, session))),
        (SessionKind::Shell, None) => Some(guarded(ctx.handler.shell(session))),
        (SessionKind::Exec(command), None) => Some(guarded(ctx.handler.exec(command, session))),
        (SessionKind::Subsystem(name), None) => Some(guarded(ctx.handler.subsystem(name, session))),
    };
    // A panicking handler ends its session like a refusal: failure or CLOSE.
    let exit = match run {
        Some(run) => run.await.unwrap_or(Exit::Refused),
        None => Exit::Refused,
    };
    let token = lock(&reply).take();
    let mut g = ctx.shared.lock();
    let refused_now = token.is_some() && matches!(exit, Exit::Refused);
    if let Some(token) = token {
        let _ = g.conn.respond_request(token, !refused_now);
    }
    match exit {
        // Refused before it was accepted: the client decides what to do with the channel.
        Exit::Refused if refused_now => {}
        Exit::Code(code) => {
            let _ = g.conn.eof(id);
            let _ = g.conn.exit_status(id, code);
            let _ = g.conn.close(id);
        }
        Exit::Signal {
            name,
            core_dumped,
            message,
        } => {
            let _ = g.conn.eof(id);
            let _ = g.conn.exit_signal(id, &name, core_dumped, &message);
            let _ = g.conn.close(id);
        }
        Exit::Refused => {
            let _ = g.conn.close(id);
        }
    }
    drop(g);
    ctx.shared.wake.notify_one();
}

/// A live connection: its shared state once the SSH connection exists, and its task.
struct Entry {
    shared: Option<Arc<Shared<Conn>>>,
    task: tokio::task::AbortHandle,
}

/// Live connections of a server, for shutdown.
#[derive(Default)]
struct Registry {
    conns: HashMap<u64, Entry>,
}

struct State {
    registry: Mutex<Registry>,
    /// Notified whenever a connection ends.
    ended: Notify,
    stopping: AtomicBool,
    unauthenticated: Arc<AtomicUsize>,
    live: Arc<AtomicUsize>,
    /// Refused connections still getting their message.
    refusing: Arc<AtomicUsize>,
    per_source: Arc<limits::PerSource>,
    penalties: Arc<penalty::Penalties>,
    next_id: AtomicU64,
}

/// A listening server. Dropping it stops accepting (running connections go on);
/// [`Server::shutdown`] also disconnects them.
pub struct Server {
    addrs: Vec<SocketAddr>,
    state: Arc<State>,
    /// The listeners, shared with the accept loops (to shut them down).
    listeners: Vec<Arc<TcpListener>>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addrs", &self.addrs)
            .field("connections", &self.connections())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// The address it listens on (the first one, with [`serve_all`]).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.addrs
            .first()
            .copied()
            .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Every address it listens on.
    #[must_use]
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Connections open now.
    #[must_use]
    pub fn connections(&self) -> usize {
        self.state.live.load(Ordering::SeqCst)
    }

    /// Connections open now that have not authenticated yet.
    #[must_use]
    pub fn unauthenticated(&self) -> usize {
        self.state.unauthenticated.load(Ordering::SeqCst)
    }

    /// Source networks with an outstanding penalty
    /// ([`ServerConfig::per_source_penalties`]), refused or not yet.
    #[must_use]
    pub fn penalised_sources(&self) -> usize {
        self.state.penalties.len()
    }

    /// Stops accepting and ends every connection with `SSH_MSG_DISCONNECT`
    /// (`BY_APPLICATION`). Returns at once; see [`Server::shutdown_and_wait`]. Once it
    /// returns, connections to the server's addresses are refused, even if a child
    /// process started meanwhile still holds a copy of a listening socket.
    pub fn shutdown(&self) {
        self.state.stopping.store(true, Ordering::SeqCst);
        self.stop_accepting();
        let conns: Vec<_> = lock(&self.state.registry)
            .conns
            .values()
            .map(|e| (e.shared.clone(), e.task.clone()))
            .collect();
        for (shared, task) in conns {
            match shared {
                Some(shared) => {
                    shared
                        .lock()
                        .conn
                        .disconnect(DisconnectReason::BY_APPLICATION, "server shutting down");
                    shared.wake.notify_one();
                }
                // Not speaking SSH yet (the `connected` hook runs): just close.
                None => task.abort(),
            }
        }
    }

    /// [`Server::shutdown`], then waits up to `timeout` for every connection task to end
    /// (the rest are aborted). Returns whether all ended in time.
    pub async fn shutdown_and_wait(&self, timeout: Duration) -> bool {
        self.shutdown();
        let all_ended = async {
            loop {
                let ended = self.state.ended.notified();
                tokio::pin!(ended);
                ended.as_mut().enable();
                if lock(&self.state.registry).conns.is_empty() {
                    return;
                }
                ended.await;
            }
        };
        if tokio::time::timeout(timeout, all_ended).await.is_ok() {
            return true;
        }
        for (_, e) in lock(&self.state.registry).conns.drain() {
            e.task.abort();
        }
        false
    }

    /// Shuts the listeners down (connections to them are refused from now on) and stops
    /// the accept loops.
    fn stop_accepting(&self) {
        for l in &self.listeners {
            let _ = crate::forward::stop_accepting(l);
        }
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_accepting();
    }
}

/// Listens on `addr` and serves every connection with `handler`, one driver task each
/// (see [`serve`]).
pub async fn listen<H: Handler>(addr: &str, config: ServerConfig, handler: H) -> Result<Server> {
    let listener = TcpListener::bind(addr).await?;
    serve(listener, config, handler)
}

/// Serves every connection `listener` accepts with `handler` (for a listener the
/// application bound itself). Fails if the protocol settings cannot make a connection
/// (e.g. no host key).
pub fn serve<H: Handler>(
    listener: TcpListener,
    config: ServerConfig,
    handler: H,
) -> Result<Server> {
    serve_all(vec![listener], config, handler)
}

/// [`serve`] on several listeners (sshd's `ListenAddress` lines) sharing one set of
/// limits: `max_startups`, `max_connections` and the per-source caps count connections
/// on all of them together, and [`Server::shutdown`] ends them all.
pub fn serve_all<H: Handler>(
    listeners: Vec<TcpListener>,
    config: ServerConfig,
    handler: H,
) -> Result<Server> {
    let addrs = listeners
        .iter()
        .map(TcpListener::local_addr)
        .collect::<std::io::Result<Vec<_>>>()?;
    // A configuration no connection could use (no host key, bad algorithm lists) is an
    // error now rather than a silent close of every connection later.
    ServerConnection::new(config.ssh.clone(), os_rng()?, Instant::now())?;
    let state = Arc::new(State {
        registry: Mutex::new(Registry::default()),
        ended: Notify::new(),
        stopping: AtomicBool::new(false),
        unauthenticated: Arc::new(AtomicUsize::new(0)),
        live: Arc::new(AtomicUsize::new(0)),
        refusing: Arc::new(AtomicUsize::new(0)),
        per_source: Arc::new(limits::PerSource::default()),
        penalties: Arc::new(penalty::Penalties::new(config.per_source_penalties.clone())),
        next_id: AtomicU64::new(1),
    });
    let threads = threads::Threads::start(config.connection_threads)?;
    let config = Arc::new(config);
    let handler = Arc::new(handler);
    let listeners: Vec<_> = listeners.into_iter().map(Arc::new).collect();
    let tasks = listeners
        .iter()
        .map(|l| {
            tokio::spawn(accept_loop(
                l.clone(),
                config.clone(),
                handler.clone(),
                state.clone(),
                threads.clone(),
            ))
        })
        .collect();
    Ok(Server {
        addrs,
        state,
        listeners,
        tasks,
    })
}

/// Most refused connections being sent their refusal at once.
const REFUSING: usize = 64;

async fn accept_loop<H: Handler>(
    listener: Arc<TcpListener>,
    config: Arc<ServerConfig>,
    handler: Arc<H>,
    state: Arc<State>,
    threads: Arc<threads::Threads>,
) {
    let software = config.ssh.transport.software.clone();
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            if state.stopping.load(Ordering::SeqCst) {
                // The listener is shut down.
                break;
            }
            // Out of descriptors and the like: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if state.stopping.load(Ordering::SeqCst) {
            break;
        }
        let block = limits::net_block(peer.ip(), config.per_source_net_block);
        let penalise = config.per_source_penalties.enabled
            && !config.per_source_penalties.is_exempt(peer.ip());
        if penalise && state.penalties.refuses(block, Instant::now()) {
            // Penalised (sshd's PerSourcePenalties): closed unanswered, no handshake work.
            drop(stream);
            continue;
        }
        let live = state.live.load(Ordering::SeqCst);
        let unauth = state.unauthenticated.load(Ordering::SeqCst);
        let mut source = None;
        let refuse = if live >= config.max_connections {
            Some("too many connections")
        } else if config.max_startups.should_drop(unauth, limits::roll()) {
            Some("too many unauthenticated connections")
        } else if let Some(max) = config.per_source_max_startups {
            source = state.per_source.take(block, max);
            source
                .is_none()
                .then_some("too many unauthenticated connections from this address")
        } else {
            None
        };
        if let Some(why) = refuse {
            // At most REFUSING refusals are in flight; beyond that a plain close.
            if config.refusal_message && state.refusing.load(Ordering::SeqCst) < REFUSING {
                limits::refuse(stream, &software, why, limits::Slot::take(&state.refusing));
            }
            continue;
        }
        let live_slot = limits::Slot::take(&state.live);
        let startup = Startup {
            _all: limits::Slot::take(&state.unauthenticated),
            _source: source,
            penalty: penalise
                .then(|| Arc::new(penalty::Ticket::new(state.penalties.clone(), block))),
        };
        let id = state.next_id.fetch_add(1, Ordering::SeqCst);
        let config = config.clone();
        let handler = handler.clone();
        let st = state.clone();
        // The task starts once its entry (with its abort handle) is registered.
        let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
        let task = threads.spawn_with_stream(stream, move |stream| async move {
            if let (Ok(()), Ok(stream)) = (go_rx.await, stream) {
                serve_connection(stream, peer, id, config, handler, startup, &st).await;
            }
            drop(live_slot);
            lock(&st.registry).conns.remove(&id);
            st.ended.notify_waiters();
        });
        lock(&state.registry).conns.insert(
            id,
            Entry {
                shared: None,
                task: task.abort_handle(),
            },
        );
        let _ = go_tx.send(());
    }
}

async fn serve_connection<H: Handler>(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    id: u64,
    config: Arc<ServerConfig>,
    handler: Arc<H>,
    startup: Startup,
    state: &State,
) {
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().unwrap_or(peer);
    let info = Arc::new(ConnectionInfo {
        id,
        peer,
        local,
        user: String::new(),
        methods: Vec::new(),
        keys: Vec::new(),
        grants: Vec::new(),
        permissions: Permissions::default(),
    });
    let limit = config.decision_timeout;
    if !decide(limit, false, handler.connected(&info)).await {
        return;
    }
    let Ok(rng) = os_rng() else { return };
    let Ok(conn) = ServerConnection::new(config.ssh.clone(), rng, Instant::now()) else {
        return;
    };
    let shared = Shared::new(conn);
    {
        let mut r = lock(&state.registry);
        if state.stopping.load(Ordering::SeqCst) {
            return;
        }
        if let Some(e) = r.conns.get_mut(&id) {
            e.shared = Some(shared.clone());
        }
    }
    let latest = Arc::new(Mutex::new(info.clone()));
    let ticket = startup.penalty.clone();
    let hooks = ServerHooks {
        ctx: Ctx {
            handler: handler.clone(),
            config,
            shared: shared.clone(),
            x11_listeners: Arc::new(AtomicUsize::new(0)),
        },
        info,
        latest: latest.clone(),
        sessions: HashMap::new(),
        forwards: Arc::new(Mutex::new(forward::Forwards::default())),
        startup: Some(startup),
    };
    drive(shared.clone(), stream, hooks).await;
    let why = shared
        .lock()
        .done
        .clone()
        .unwrap_or_else(|| "connection closed".to_string());
    if let Some(t) = ticket.filter(|_| why.contains("login grace time")) {
        t.grace_exceeded();
    }
    let info = lock(&latest).clone();
    // Bounded like a decision, so a stuck hook cannot hold up shutdown_and_wait.
    let _ = tokio::time::timeout(limit, guarded(handler.disconnected(&info, &why))).await;
}
