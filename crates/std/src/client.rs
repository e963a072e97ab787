//! The blocking client: [`connect`], then [`Client::run`], [`Client::exec`],
//! [`Client::session`], port forwarding and [`Client::disconnect`].

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use whelk::{
    Answer, ChannelEvent, ChannelOpenFailureReason, ChannelOpenKind, ClientConnection, Event,
    HostKeyDecision, KeySigner, PrivateKey, PromptKind, PublicKey,
};
use whelk_keys::known_hosts::{self, HostKeyStatus, KnownHosts};
use zeroize::Zeroizing;

use crate::channel::{ChanRef, ChannelReader, ChannelWriter, Stream};
use crate::driver::{Hooks, Shared, spawn};
use crate::error::{Error, Result};
use crate::os_rng;

type Conn = ClientConnection;

/// The server's host key, as presented to a [`HostKeyPolicy::Callback`].
#[derive(Debug, Clone)]
pub struct HostKeyInfo {
    /// The host name or address given to [`connect`].
    pub host: String,
    /// The port.
    pub port: u16,
    /// The negotiated host key algorithm.
    pub algorithm: String,
    /// The key (`None` if whelk-keys cannot parse the blob, e.g. a certificate).
    pub key: Option<PublicKey>,
    /// The raw key blob.
    pub blob: Vec<u8>,
}

/// A host key callback: `true` trusts the key.
pub type HostKeyCallback = Arc<dyn Fn(&HostKeyInfo) -> bool + Send + Sync>;

/// What a `known_hosts` file does with keys it does not list (OpenSSH's
/// `StrictHostKeyChecking`). Whatever the mode, a key listed as `@revoked` is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StrictHostKeyChecking {
    /// Only keys the file lists for the host are trusted (`yes`, the default).
    #[default]
    Yes,
    /// A host the file lists no key of this type for is trusted and its key appended to
    /// the file; a key that differs from a listed one of the same type is refused
    /// (`accept-new`).
    AcceptNew,
    /// Like [`StrictHostKeyChecking::AcceptNew`], and a changed key is accepted too (not
    /// recorded); as OpenSSH does then, password and keyboard-interactive authentication
    /// are not attempted, so a password never goes to an impostor (`no`).
    No,
}

/// A keyboard-interactive round, as presented to a [`KeyboardInteractiveCallback`].
#[derive(Debug, Clone)]
pub struct Prompts {
    /// The server's title (sanitized).
    pub name: String,
    /// The server's instruction (sanitized).
    pub instruction: String,
    /// `(prompt, echo)` pairs (sanitized); `echo` false for secrets.
    pub prompts: Vec<(String, bool)>,
}

/// Answers keyboard-interactive prompts: one response per prompt, or `None` to skip the
/// method.
pub type KeyboardInteractiveCallback = Arc<dyn Fn(&Prompts) -> Option<Vec<String>> + Send + Sync>;

/// How the client decides whether it trusts the server's host key.
#[derive(Clone)]
#[non_exhaustive]
pub enum HostKeyPolicy {
    /// Trust what a `known_hosts` file lists for the host (the default:
    /// `$HOME/.ssh/known_hosts` with [`StrictHostKeyChecking::Yes`]). A missing file
    /// lists nothing.
    KnownHostsFile {
        /// The file.
        path: PathBuf,
        /// What to do with keys the file does not list.
        mode: StrictHostKeyChecking,
    },
    /// Trust what these `known_hosts` lines list for the host.
    KnownHosts(String),
    /// Ask the application.
    Callback(HostKeyCallback),
    /// Trust any key (tests only: this defeats server authentication).
    AcceptAny,
}

impl HostKeyPolicy {
    /// A `known_hosts` file with [`StrictHostKeyChecking::Yes`].
    #[must_use]
    pub fn known_hosts_file(path: impl Into<PathBuf>) -> Self {
        Self::KnownHostsFile {
            path: path.into(),
            mode: StrictHostKeyChecking::Yes,
        }
    }

    /// A `known_hosts` file with another [`StrictHostKeyChecking`] mode.
    #[must_use]
    pub fn known_hosts_file_with(path: impl Into<PathBuf>, mode: StrictHostKeyChecking) -> Self {
        Self::KnownHostsFile {
            path: path.into(),
            mode,
        }
    }
}

impl std::fmt::Debug for HostKeyPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::KnownHostsFile { path, mode } => f
                .debug_struct("KnownHostsFile")
                .field("path", path)
                .field("mode", mode)
                .finish(),
            Self::KnownHosts(_) => f.write_str("KnownHosts(..)"),
            Self::Callback(_) => f.write_str("Callback(..)"),
            Self::AcceptAny => f.write_str("AcceptAny"),
        }
    }
}

impl Default for HostKeyPolicy {
    fn default() -> Self {
        let home = std::env::var_os("HOME").unwrap_or_default();
        Self::known_hosts_file(PathBuf::from(home).join(".ssh").join("known_hosts"))
    }
}

/// Client settings. [`ClientConfig::new`] gives the defaults; the builder methods change
/// them.
#[derive(Clone)]
pub struct ClientConfig {
    /// The protocol settings (user, algorithms, limits, channel windows).
    pub ssh: whelk::ClientConfig,
    /// Keys tried for publickey authentication, in order.
    pub keys: Vec<PrivateKey>,
    /// The password for `password` authentication, and for a keyboard-interactive round
    /// with a single secret prompt when no [`ClientConfig::keyboard_interactive`] callback
    /// is set.
    pub password: Option<Zeroizing<String>>,
    /// Answers keyboard-interactive prompts.
    pub keyboard_interactive: Option<KeyboardInteractiveCallback>,
    /// The host key check.
    pub host_key: HostKeyPolicy,
    /// How long connecting, the key exchange and authentication may take together
    /// (default 30 s; `None`: no limit).
    pub connect_timeout: Option<Duration>,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("ssh", &self.ssh)
            .field("keys", &self.keys.len())
            .field("password", &self.password.is_some())
            .field("keyboard_interactive", &self.keyboard_interactive.is_some())
            .field("host_key", &self.host_key)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

impl ClientConfig {
    /// Defaults, logging in as `user`: no keys, no password, the host key checked against
    /// `~/.ssh/known_hosts`, a 30 s connect timeout, no keepalive.
    #[must_use]
    pub fn new(user: &str) -> Self {
        Self {
            ssh: whelk::ClientConfig::new(user),
            keys: Vec::new(),
            password: None,
            keyboard_interactive: None,
            host_key: HostKeyPolicy::default(),
            connect_timeout: Some(Duration::from_secs(30)),
        }
    }

    /// Adds a key for publickey authentication.
    #[must_use]
    pub fn key(mut self, key: PrivateKey) -> Self {
        self.keys.push(key);
        self
    }

    /// Sets the password.
    #[must_use]
    pub fn password(mut self, password: &str) -> Self {
        self.password = Some(Zeroizing::new(password.to_string()));
        self
    }

    /// Sets the keyboard-interactive callback.
    #[must_use]
    pub fn keyboard_interactive(
        mut self,
        callback: impl Fn(&Prompts) -> Option<Vec<String>> + Send + Sync + 'static,
    ) -> Self {
        self.keyboard_interactive = Some(Arc::new(callback));
        self
    }

    /// Sets the host key policy.
    #[must_use]
    pub fn host_key(mut self, policy: HostKeyPolicy) -> Self {
        self.host_key = policy;
        self
    }

    /// Sets the connect timeout (`None`: none).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sends a keepalive when nothing was sent for `interval` (OpenSSH's
    /// `ServerAliveInterval`). With a server that announced `ping@openssh.com` (whelk,
    /// OpenSSH 9.5 and later) it is a PING, and after three unanswered ones (in
    /// `ssh.transport.limits.keepalive_max_missed`, OpenSSH's `ServerAliveCountMax`) the
    /// connection ends with a keepalive timeout; with others it is an IGNORE, which keeps
    /// NATs and idle timers on the path open but cannot detect a dead server.
    #[must_use]
    pub fn keepalive(mut self, interval: Option<Duration>) -> Self {
        self.ssh.transport.limits.keepalive = interval;
        self
    }
}

enum Trust {
    Known {
        hosts: KnownHosts,
        record: Option<(PathBuf, StrictHostKeyChecking)>,
    },
    Callback(HostKeyCallback),
    Any,
}

/// Remote forwards: (address, bound port, local target host, local target port).
type Forwards = Arc<Mutex<Vec<(String, u32, String, u16)>>>;

struct ClientHooks {
    host: String,
    port: u16,
    trust: Trust,
    password: Option<Zeroizing<String>>,
    kbd: Option<KeyboardInteractiveCallback>,
    /// (password used, keyboard-interactive password used, host key changed).
    state: Mutex<(bool, bool, bool)>,
    forwards: Forwards,
}

enum Verdict {
    Trusted,
    /// Trusted, but authentication must not reveal secrets.
    TrustedChanged,
    Refused(String),
}

impl ClientHooks {
    fn verdict(&self, algorithm: &str, blob: &[u8]) -> Verdict {
        let key = PublicKey::from_blob(blob).ok();
        let what = format!("{algorithm} key of {}:{}", self.host, self.port);
        match &self.trust {
            Trust::Any => Verdict::Trusted,
            Trust::Callback(cb) => {
                let info = HostKeyInfo {
                    host: self.host.clone(),
                    port: self.port,
                    algorithm: algorithm.to_string(),
                    key,
                    blob: blob.to_vec(),
                };
                if cb(&info) {
                    Verdict::Trusted
                } else {
                    Verdict::Refused(format!("{what} refused by the callback"))
                }
            }
            Trust::Known { hosts, record } => {
                let Some(key) = key else {
                    return Verdict::Refused(format!("{what}: unsupported key"));
                };
                let status = hosts.lookup(&self.host, self.port).check(&key);
                let mode = record.as_ref().map(|(_, m)| *m);
                match (status, mode) {
                    (HostKeyStatus::Trusted, _) => Verdict::Trusted,
                    (HostKeyStatus::Revoked, _) => Verdict::Refused(format!("{what} is revoked")),
                    (
                        HostKeyStatus::Unknown,
                        Some(StrictHostKeyChecking::AcceptNew | StrictHostKeyChecking::No),
                    ) => match record {
                        Some((path, _)) => match self.record(path, &key) {
                            Ok(()) => Verdict::Trusted,
                            Err(e) => Verdict::Refused(format!(
                                "{what} could not be recorded in {}: {e}",
                                path.display()
                            )),
                        },
                        None => Verdict::Refused(format!("{what} is unknown")),
                    },
                    (HostKeyStatus::Changed, Some(StrictHostKeyChecking::No)) => {
                        Verdict::TrustedChanged
                    }
                    (HostKeyStatus::Changed, _) => Verdict::Refused(format!(
                        "{what} differs from the one known (possible man-in-the-middle attack)"
                    )),
                    (HostKeyStatus::Unknown, _) => Verdict::Refused(format!("{what} is unknown")),
                }
            }
        }
    }

    /// Appends the key to the `known_hosts` file (creating it and its directory).
    fn record(&self, path: &Path, key: &PublicKey) -> std::io::Result<()> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)?;
        }
        let mut rng = os_rng().map_err(std::io::Error::other)?;
        let line = known_hosts::format_entry(&self.host, self.port, key, false, &mut rng);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        // Start on a fresh line if the file does not end with one.
        let needs_newline = std::fs::read(path)
            .map(|b| b.last().is_some_and(|&c| c != b'\n'))
            .unwrap_or(false);
        if needs_newline {
            f.write_all(b"\n")?;
        }
        f.write_all(format!("{line}\n").as_bytes())
    }

    fn credentials(&self, kind: &PromptKind) -> Answer {
        let mut st = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (password_used, kbd_password_used, changed) = &mut *st;
        if *changed {
            return Answer::Skip;
        }
        match kind {
            PromptKind::Password => match &self.password {
                Some(p) if !*password_used => {
                    *password_used = true;
                    Answer::Password(p.clone())
                }
                _ => Answer::Skip,
            },
            PromptKind::KeyboardInteractive {
                name,
                instruction,
                prompts,
            } => {
                if let Some(cb) = &self.kbd {
                    let p = Prompts {
                        name: name.clone(),
                        instruction: instruction.clone(),
                        prompts: prompts.clone(),
                    };
                    drop(st);
                    return match cb(&p) {
                        Some(r) => Answer::Responses(r.into_iter().map(Zeroizing::new).collect()),
                        None => Answer::Skip,
                    };
                }
                match (prompts.as_slice(), &self.password) {
                    ([], _) => Answer::Responses(Vec::new()),
                    ([(_, false)], Some(p)) if !*kbd_password_used => {
                        *kbd_password_used = true;
                        Answer::Responses(vec![p.clone()])
                    }
                    _ => Answer::Skip,
                }
            }
            _ => Answer::Skip,
        }
    }
}

impl Hooks<Conn> for ClientHooks {
    fn event(&self, shared: &Arc<Shared<Conn>>, event: Event) {
        match event {
            Event::HostKey(check) => {
                let verdict = self.verdict(&check.algorithm, &check.host_key);
                let mut g = shared.lock();
                let decision = match verdict {
                    Verdict::Trusted => HostKeyDecision::Accept,
                    Verdict::TrustedChanged => {
                        self.state
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .2 = true;
                        HostKeyDecision::Accept
                    }
                    Verdict::Refused(why) => {
                        g.host_key_rejected = Some(why);
                        HostKeyDecision::Reject
                    }
                };
                let _ = g.conn.respond_host_key(check, decision);
            }
            Event::Credentials(req) => {
                let answer = self.credentials(&req.kind);
                let _ = shared.lock().conn.respond_credentials(req, answer);
            }
            Event::Channel(ChannelEvent::OpenRequest(incoming)) => {
                let target = match incoming.kind() {
                    ChannelOpenKind::ForwardedTcpip {
                        connected_address,
                        connected_port,
                        ..
                    } => self
                        .forwards
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .iter()
                        .find(|(a, p, _, _)| {
                            *p == *connected_port && connected_address.as_bytes() == a.as_bytes()
                        })
                        .map(|(_, _, h, p)| (h.clone(), *p)),
                    _ => None,
                };
                let mut g = shared.lock();
                match target {
                    Some((host, port)) => {
                        if let Ok(id) = g.conn.accept_channel(incoming) {
                            let chan = ChanRef::new(shared.clone(), id, &mut g);
                            if let Some(c) = g.chans.get_mut(&id) {
                                c.open = Some(Ok(()));
                            }
                            drop(g);
                            let session = Session { chan, _guard: None };
                            let spawned = std::thread::Builder::new()
                                .name("whelk-forward".into())
                                .spawn(move || match TcpStream::connect((host.as_str(), port)) {
                                    Ok(sock) => {
                                        let _ = sock.set_nodelay(true);
                                        splice(sock, &session);
                                    }
                                    Err(_) => session.close(),
                                });
                            drop(spawned);
                        }
                    }
                    None => {
                        let _ = g.conn.reject_channel(
                            incoming,
                            ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED,
                            "not supported",
                        );
                    }
                }
            }
            Event::Channel(ChannelEvent::Request {
                token: Some(token), ..
            }) => {
                let _ = shared.lock().conn.respond_request(token, false);
            }
            Event::Channel(ChannelEvent::GlobalRequest {
                token: Some(token), ..
            }) => {
                let _ = shared
                    .lock()
                    .conn
                    .respond_global(token, whelk::GlobalReply::Failure);
            }
            _ => return,
        }
        shared.kick();
    }
}

/// A connected, authenticated client. Cheap to clone and usable from many threads at
/// once; the connection lives until [`Client::disconnect`], the peer ends it, or the last
/// clone is dropped.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared<Conn>>,
    _guard: Arc<Guard>,
    forwards: Forwards,
}

/// Disconnects when the last [`Client`] clone goes away.
struct Guard(Arc<Shared<Conn>>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0
            .lock()
            .conn
            .disconnect(whelk::DisconnectReason::BY_APPLICATION, "client dropped");
        self.0.kick();
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

/// What a command produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr.
    pub stderr: Vec<u8>,
    /// Its exit status, if the server reported one.
    pub exit_status: Option<u32>,
    /// The signal that killed it (`"TERM"`, ...), if the server reported one.
    pub exit_signal: Option<String>,
}

/// How a session ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExitStatus {
    /// The exit status, if reported.
    pub status: Option<u32>,
    /// The signal, if reported.
    pub signal: Option<String>,
}

fn tcp_connect(host: &str, port: u16, deadline: Option<Instant>) -> Result<TcpStream> {
    let mut last = None;
    for addr in (host, port).to_socket_addrs()? {
        let r = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Error::Timeout);
                }
                TcpStream::connect_timeout(&addr, left)
            }
            None => TcpStream::connect(addr),
        };
        match r {
            Ok(s) => return Ok(s),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => last = Some(Error::Timeout),
            Err(e) => last = Some(Error::Io(e)),
        }
    }
    Err(last.unwrap_or_else(|| {
        Error::Io(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{host}: no address"),
        ))
    }))
}

/// Connects to `host:port` (TCP_NODELAY), checks the host key and authenticates, all
/// within [`ClientConfig::connect_timeout`].
///
/// # Errors
/// [`Error::HostKey`] when the host key is not trusted, [`Error::Ssh`] with
/// [`whelk::Error::Auth`] when authentication fails, [`Error::Timeout`], [`Error::Io`].
pub fn connect(host: &str, port: u16, config: ClientConfig) -> Result<Client> {
    let deadline = config.connect_timeout.map(|t| Instant::now() + t);
    let trust = trust(config.host_key)?;
    let stream = tcp_connect(host, port, deadline)?;
    handshake(
        stream,
        host,
        port,
        trust,
        config.ssh,
        config.keys,
        Extra {
            password: config.password,
            kbd: config.keyboard_interactive,
            deadline,
        },
    )
}

fn trust(policy: HostKeyPolicy) -> Result<Trust> {
    Ok(match policy {
        HostKeyPolicy::AcceptAny => Trust::Any,
        HostKeyPolicy::Callback(cb) => Trust::Callback(cb),
        HostKeyPolicy::KnownHosts(text) => Trust::Known {
            hosts: KnownHosts::parse(&text),
            record: None,
        },
        HostKeyPolicy::KnownHostsFile { path, mode } => {
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
                Err(e) => return Err(Error::Io(e)),
            };
            Trust::Known {
                hosts: KnownHosts::parse(&text),
                record: Some((path, mode)),
            }
        }
    })
}

/// Runs SSH over a TCP connection made elsewhere (a proxy, a socket from a pool): checks
/// the host key as [`connect`] would for `host:port` (the names `known_hosts` is looked
/// up under) and authenticates, within [`ClientConfig::connect_timeout`].
pub fn connect_stream(
    stream: TcpStream,
    host: &str,
    port: u16,
    config: ClientConfig,
) -> Result<Client> {
    let deadline = config.connect_timeout.map(|t| Instant::now() + t);
    let trust = trust(config.host_key)?;
    handshake(
        stream,
        host,
        port,
        trust,
        config.ssh,
        config.keys,
        Extra {
            password: config.password,
            kbd: config.keyboard_interactive,
            deadline,
        },
    )
}

/// What the handshake needs besides the socket and the protocol settings.
struct Extra {
    password: Option<Zeroizing<String>>,
    kbd: Option<KeyboardInteractiveCallback>,
    deadline: Option<Instant>,
}

fn handshake(
    stream: TcpStream,
    host: &str,
    port: u16,
    trust: Trust,
    ssh: whelk::ClientConfig,
    keys: Vec<PrivateKey>,
    extra: Extra,
) -> Result<Client> {
    let deadline = extra.deadline;
    stream.set_nodelay(true)?;
    let mut conn = ClientConnection::new(ssh, os_rng()?, Instant::now())?;
    for key in keys {
        conn.add_identity(Box::new(KeySigner::new(key, os_rng()?)))?;
    }
    let shared = Shared::new(conn);
    let forwards = Forwards::default();
    let hooks = Arc::new(ClientHooks {
        host: host.to_string(),
        port,
        trust,
        password: extra.password,
        kbd: extra.kbd,
        state: Mutex::new((false, false, false)),
        forwards: forwards.clone(),
    });
    spawn(&shared, stream, hooks, "whelk-client")?;
    // From here on, dropping the guard ends the connection.
    let guard = Arc::new(Guard(shared.clone()));
    let r = shared.wait_for(deadline, |g| {
        if g.authenticated {
            Some(Ok(()))
        } else if g.done.is_some() {
            Some(Err(g.failure()))
        } else {
            None
        }
    });
    match r {
        Some(Ok(())) => Ok(Client {
            shared,
            _guard: guard,
            forwards,
        }),
        Some(Err(e)) => Err(e),
        None => Err(Error::Timeout),
    }
}

impl Client {
    fn open_with(
        &self,
        f: impl FnOnce(&mut Conn) -> whelk::Result<whelk::ChannelId>,
    ) -> Result<Session> {
        let chan = {
            let mut g = self.shared.lock();
            if g.done.is_some() {
                return Err(g.failure());
            }
            let id = f(&mut g.conn)?;
            ChanRef::new(self.shared.clone(), id, &mut g)
        };
        self.shared.kick();
        let id = chan.id;
        let r = self
            .shared
            .wait_for(None, |g| {
                match g.chans.get(&id).and_then(|c| c.open.clone()) {
                    Some(r) => Some(r),
                    None => g
                        .done
                        .is_some()
                        .then(|| Err("connection closed".to_string())),
                }
            })
            .unwrap_or(Err(String::new()));
        match r {
            Ok(()) => Ok(Session {
                chan,
                _guard: Some(self._guard.clone()),
            }),
            Err(why) => {
                let g = self.shared.lock();
                if g.done.is_some() {
                    Err(g.failure())
                } else {
                    Err(Error::Refused(why))
                }
            }
        }
    }

    /// Opens a session channel (then [`Session::exec`], [`Session::shell`],
    /// [`Session::subsystem`], after [`Session::request_pty`] if a terminal is wanted).
    pub fn session(&self) -> Result<Session> {
        self.open_with(|c| c.open_session())
    }

    /// Opens a session and runs `command` in it.
    pub fn exec(&self, command: &str) -> Result<Session> {
        let s = self.session()?;
        s.exec(command)?;
        Ok(s)
    }

    /// Opens a session and starts the login shell in it (no terminal: call
    /// [`Client::session`], [`Session::request_pty`] and [`Session::shell`] for one).
    pub fn shell(&self) -> Result<Session> {
        let s = self.session()?;
        s.shell()?;
        Ok(s)
    }

    /// Runs `command` with empty stdin and collects its output and exit status.
    pub fn run(&self, command: &str) -> Result<Output> {
        self.run_timeout(command, None)
    }

    /// [`Client::run`] with a time limit; on expiry the channel is closed and
    /// [`Error::Timeout`] returned (the connection stays usable).
    pub fn run_timeout(&self, command: &str, limit: Option<Duration>) -> Result<Output> {
        let deadline = limit.map(|l| Instant::now() + l);
        let s = self.exec(command)?;
        s.send_eof()?;
        s.collect_until(deadline)
    }

    /// Opens a `direct-tcpip` channel to `host:port` as the server sees it (one
    /// connection of local port forwarding): [`Session::stdin`] writes to it,
    /// [`Session::stdout`] reads from it.
    pub fn direct_tcpip(&self, host: &str, port: u16) -> Result<Session> {
        self.open_with(|c| c.open_direct_tcpip(host, u32::from(port), "127.0.0.1", 0))
    }

    /// Local port forwarding (`ssh -L bind:host:port`): listens on `bind` (e.g.
    /// `"127.0.0.1:0"`) and carries each connection to `host:port` through the server,
    /// a thread per direction. Stops when the returned handle is closed or dropped.
    pub fn forward_local(&self, bind: &str, host: &str, port: u16) -> Result<LocalForward> {
        let listener = TcpListener::bind(bind)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let (client, host, stop2) = (self.clone(), host.to_string(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("whelk-forward-local".into())
            .spawn(move || {
                for sock in listener.incoming() {
                    if stop2.load(Ordering::SeqCst) || !client.is_connected() {
                        break;
                    }
                    let Ok(sock) = sock else { continue };
                    let _ = sock.set_nodelay(true);
                    let (client, host) = (client.clone(), host.clone());
                    let _ = std::thread::Builder::new()
                        .name("whelk-forward".into())
                        .spawn(move || {
                            if let Ok(ch) = client.direct_tcpip(&host, port) {
                                splice(sock, &ch);
                            }
                        });
                }
            })?;
        Ok(LocalForward {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// Remote port forwarding (`ssh -R address:port:target_host:target_port`): asks the
    /// server to listen on `address:port` (port 0: the server picks, see
    /// [`RemoteForward::port`]) and carries each connection it forwards to
    /// `target_host:target_port` from here. Cancelled when the returned handle is closed or
    /// dropped.
    pub fn forward_remote(
        &self,
        address: &str,
        port: u16,
        target_host: &str,
        target_port: u16,
    ) -> Result<RemoteForward> {
        let request = {
            let mut g = self.shared.lock();
            if g.done.is_some() {
                return Err(g.failure());
            }
            g.conn.tcpip_forward(address, u32::from(port))?
        };
        self.shared.kick();
        let (ok, bound) = self
            .shared
            .wait_for(None, |g| {
                if let Some(i) = g.global_results.iter().position(|r| r.0 == request) {
                    let (_, ok, bound) = g.global_results.swap_remove(i);
                    return Some((ok, bound));
                }
                g.done.as_ref().map(|_| (false, None))
            })
            .unwrap_or((false, None));
        if !ok {
            return Err(Error::Refused(format!("tcpip-forward {address}:{port}")));
        }
        let bound = bound.unwrap_or(u32::from(port));
        self.forwards
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((
                address.to_string(),
                bound,
                target_host.to_string(),
                target_port,
            ));
        Ok(RemoteForward {
            client: self.clone(),
            address: address.to_string(),
            port: bound,
            closed: false,
        })
    }

    /// Starts an SFTP session (the `sftp` subsystem) on a new channel.
    pub fn sftp(&self) -> Result<crate::sftp::Sftp> {
        let s = self.session()?;
        s.subsystem("sftp")?;
        crate::sftp::Sftp::start(s)
    }

    /// Opens a channel of any kind (e.g. `direct-streamlocal@openssh.com`).
    pub fn open(&self, kind: ChannelOpenKind) -> Result<Session> {
        self.open_with(|c| c.open(kind))
    }

    /// Blocks until the connection ends; returns why.
    pub fn wait_closed(&self) -> String {
        self.shared
            .wait_for(None, |g| g.done.clone())
            .unwrap_or_default()
    }

    /// Whether the connection is still up.
    #[must_use]
    pub fn is_connected(&self) -> bool {
        self.shared.lock().done.is_none()
    }

    /// Ends the connection (`SSH_MSG_DISCONNECT` by application) and waits until the
    /// DISCONNECT has been handed to the socket (every session handle then reads EOF and
    /// fails to write).
    pub fn disconnect(&self) {
        self.shared
            .lock()
            .conn
            .disconnect(whelk::DisconnectReason::BY_APPLICATION, "bye");
        self.shared.kick();
        let _ = self
            .shared
            .wait_for(None, |g| (g.done.is_some() && g.writer_done).then_some(()));
    }
}

/// A local forwarding listener ([`Client::forward_local`]); stops listening when closed
/// or dropped (forwarded connections already running go on).
#[derive(Debug)]
#[must_use = "dropping the handle stops the forwarding"]
pub struct LocalForward {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LocalForward {
    /// The address it listens on (the port bound when `:0` was asked).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops listening.
    pub fn close(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            // Wake the blocked accept.
            let mut wake = self.addr;
            if wake.ip().is_unspecified() {
                wake.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
            let _ = t.join();
        }
    }
}

impl Drop for LocalForward {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// A remote forwarding ([`Client::forward_remote`]); cancelled (`cancel-tcpip-forward`)
/// when closed or dropped.
#[derive(Debug)]
#[must_use = "dropping the handle cancels the forwarding"]
pub struct RemoteForward {
    client: Client,
    address: String,
    port: u32,
    closed: bool,
}

impl RemoteForward {
    /// The port the server listens on.
    #[must_use]
    pub fn port(&self) -> u32 {
        self.port
    }

    /// Cancels the forwarding and waits for the server's answer.
    pub fn close(mut self) -> Result<()> {
        self.cancel(true)
    }

    fn cancel(&mut self, wait: bool) -> Result<()> {
        if std::mem::replace(&mut self.closed, true) {
            return Ok(());
        }
        self.client
            .forwards
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|(a, p, _, _)| !(a == &self.address && *p == self.port));
        let shared = &self.client.shared;
        let request = {
            let mut g = shared.lock();
            if g.done.is_some() {
                return Ok(());
            }
            g.conn.cancel_tcpip_forward(&self.address, self.port)?
        };
        shared.kick();
        if !wait {
            return Ok(());
        }
        let ok = shared
            .wait_for(None, |g| {
                if let Some(i) = g.global_results.iter().position(|r| r.0 == request) {
                    return Some(g.global_results.swap_remove(i).1);
                }
                g.done.as_ref().map(|_| true)
            })
            .unwrap_or(false);
        if ok {
            Ok(())
        } else {
            Err(Error::Refused("cancel-tcpip-forward".into()))
        }
    }
}

impl Drop for RemoteForward {
    fn drop(&mut self) {
        let _ = self.cancel(false);
    }
}

/// A channel: a session (a command, a shell, a subsystem) or a forwarded TCP connection.
/// Its handles ([`Session::stdin`], [`Session::stdout`], [`Session::stderr`]) may be used
/// from other threads; the channel is closed when the session and every handle are gone.
/// A session keeps its connection up (as a [`Client`] clone does).
pub struct Session {
    chan: Arc<ChanRef<Conn>>,
    /// Sessions the application opened keep the connection up.
    _guard: Option<Arc<Guard>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.chan.id)
            .finish()
    }
}

impl Session {
    /// The channel.
    #[must_use]
    pub fn id(&self) -> whelk::ChannelId {
        self.chan.id
    }

    fn request(
        &self,
        what: &str,
        send: impl FnOnce(&mut Conn, whelk::ChannelId) -> whelk::Result<whelk::RequestId>,
    ) -> Result<()> {
        self.chan.command(|g, id| send(&mut g.conn, id))?;
        self.chan.request_result(what)
    }

    /// Runs `command` (waits for the server's answer).
    pub fn exec(&self, command: &str) -> Result<()> {
        self.request("exec", |c, id| c.exec(id, command.as_bytes()))
    }

    /// Starts the login shell.
    pub fn shell(&self) -> Result<()> {
        self.request("shell", |c, id| c.shell(id))
    }

    /// Starts a subsystem (e.g. `sftp`).
    pub fn subsystem(&self, name: &str) -> Result<()> {
        self.request("subsystem", |c, id| c.subsystem(id, name))
    }

    /// Asks for a pseudo-terminal (before exec or shell).
    pub fn request_pty(&self, term: &str, columns: u32, rows: u32) -> Result<()> {
        self.request("pty-req", |c, id| {
            c.request_pty(id, term, columns, rows, bytes::Bytes::new())
        })
    }

    /// Sets an environment variable (before exec or shell; servers accept only some).
    pub fn env(&self, name: &str, value: &str) -> Result<()> {
        self.request("env", |c, id| c.env(id, name, value))
    }

    /// Tells the server the terminal size changed.
    pub fn window_change(&self, columns: u32, rows: u32) -> Result<()> {
        self.chan
            .command(|g, id| g.conn.window_change(id, columns, rows))
    }

    /// Sends a signal (`"TERM"`, `"INT"`..., without `SIG`).
    pub fn signal(&self, name: &str) -> Result<()> {
        self.chan.command(|g, id| g.conn.signal(id, name))
    }

    /// The command's stdin ([`Write`]); [`Stdin::send_eof`] ends it.
    #[must_use]
    pub fn stdin(&self) -> Stdin {
        Stdin(ChannelWriter::new(self.chan.clone(), Stream::Stdout))
    }

    /// Sends EOF on stdin (once what was written is sent).
    pub fn send_eof(&self) -> Result<()> {
        Ok(self.chan.eof()?)
    }

    /// The command's stdout ([`std::io::Read`]).
    #[must_use]
    pub fn stdout(&self) -> ChannelReader<Conn> {
        ChannelReader::new(self.chan.clone(), Stream::Stdout)
    }

    /// The command's stderr ([`std::io::Read`]).
    #[must_use]
    pub fn stderr(&self) -> ChannelReader<Conn> {
        ChannelReader::new(self.chan.clone(), Stream::Stderr)
    }

    /// Waits until the server closed the channel; returns the exit status or signal.
    ///
    /// Read the output first (or use [`Session::collect`]): output nobody reads fills the
    /// channel's window, and a command that cannot write never finishes (as with a
    /// [`std::process::Child`] whose pipes are not drained).
    pub fn wait(&self) -> Result<ExitStatus> {
        let id = self.chan.id;
        let st = self
            .chan
            .shared
            .wait_for(None, |g| match g.chans.get(&id) {
                Some(c) if !c.closed => None,
                Some(c) => Some(ExitStatus {
                    status: c.exit_status,
                    signal: c.exit_signal.clone(),
                }),
                None => Some(ExitStatus::default()),
            })
            .unwrap_or_default();
        Ok(st)
    }

    /// Reads stdout and stderr to the end (both at once, so neither can stall the other)
    /// and waits for the exit status.
    pub fn collect(&self) -> Result<Output> {
        self.collect_until(None)
    }

    fn collect_until(&self, deadline: Option<Instant>) -> Result<Output> {
        let shared = &self.chan.shared;
        let id = self.chan.id;
        let mut out = Output::default();
        let mut g = shared.lock();
        loop {
            let mut any = false;
            while let Some(b) = g.conn.read(id, usize::MAX) {
                out.stdout.extend_from_slice(&b);
                any = true;
            }
            while let Some(b) = g.conn.read_stderr(id, usize::MAX) {
                out.stderr.extend_from_slice(&b);
                any = true;
            }
            if any {
                shared.kick();
            }
            match g.chans.get(&id) {
                Some(c) if c.closed => {
                    out.exit_status = c.exit_status;
                    out.exit_signal = c.exit_signal.clone();
                    if g.done.is_some() && out.exit_status.is_none() && out.exit_signal.is_none() {
                        return Err(g.failure());
                    }
                    return Ok(out);
                }
                Some(_) => {}
                None => return Err(g.failure()),
            }
            let (g2, expired) = shared.wait(g, deadline);
            g = g2;
            if expired {
                drop(g);
                self.close();
                return Err(Error::Timeout);
            }
        }
    }

    /// Bytes received and not read yet (stdout and stderr): at most the channel's window,
    /// whatever the peer sends, because reading is what re-opens it.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.chan
            .shared
            .lock()
            .conn
            .channels()
            .buffered(self.chan.id)
    }

    /// Bytes written and not yet sent (waiting for the peer's window).
    #[must_use]
    pub fn queued(&self) -> usize {
        self.chan.shared.lock().conn.channels().queued(self.chan.id)
    }

    /// Closes the channel now (the command may see SIGHUP; output not yet read is
    /// dropped).
    pub fn close(&self) {
        self.chan.close();
    }
}

/// A session's stdin: [`Write`]; [`Stdin::send_eof`] ends it.
#[derive(Debug)]
pub struct Stdin(ChannelWriter<Conn>);

impl Stdin {
    /// Sends EOF after what was written so far.
    pub fn send_eof(&mut self) -> Result<()> {
        Ok(self.0.send_eof()?)
    }
}

impl Write for Stdin {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Copies both ways between a socket and a channel until both directions ended.
pub(crate) fn splice(sock: TcpStream, ch: &Session) {
    let Ok(mut rd) = sock.try_clone() else {
        ch.close();
        return;
    };
    let mut wr = sock;
    let mut to_remote = ch.stdin();
    let up = std::thread::Builder::new()
        .name("whelk-splice".into())
        .spawn(move || {
            let _ = std::io::copy(&mut rd, &mut to_remote);
            let _ = to_remote.send_eof();
        });
    let mut from_remote = ch.stdout();
    let _ = std::io::copy(&mut from_remote, &mut wr);
    let _ = wr.shutdown(std::net::Shutdown::Write);
    if let Ok(up) = up {
        let _ = up.join();
    }
}
