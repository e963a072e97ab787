//! The blocking client: [`connect`], then [`Client::run`], [`Client::exec`],
//! [`Client::session`], port forwarding and [`Client::disconnect`].

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use whelk::{
    Answer, ChannelEvent, ChannelOpenFailureReason, ChannelOpenKind, ChannelRequestKind,
    ClientConnection, Event, GlobalRequestKind, HostKeyDecision, HostbasedIdentity, KeySigner,
    PrivateKey, PromptKind, PublicKey,
};
use whelk_keys::known_hosts::{self, HostKeyStatus, KnownHosts};
use zeroize::Zeroizing;

use crate::channel::{ChanRef, ChannelReader, ChannelWriter, Stream};
use crate::driver::{Hooks, ReadHalf, Shared, WriteHalf, spawn_halves};
use crate::error::{Error, Result};
use crate::forward::{Endpoint, RemoteRoutes, connect_local, splice};
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

/// A client host key and names for `hostbased` authentication (RFC 4252 section 9); see
/// [`ClientConfig::hostbased`].
#[derive(Debug, Clone)]
pub struct HostbasedKey {
    /// The client host's private key (OpenSSH keeps it in `/etc/ssh/ssh_host_*_key`).
    pub host_key: PrivateKey,
    /// The client host's name as the server knows it (without the trailing dot, which is
    /// added when the request is sent).
    pub client_host: String,
    /// The user name on the client host.
    pub client_user: String,
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
    /// The client host key for `hostbased` authentication, tried before publickey (see
    /// [`ClientConfig::hostbased`]).
    pub hostbased: Option<HostbasedKey>,
    /// Answers keyboard-interactive prompts.
    pub keyboard_interactive: Option<KeyboardInteractiveCallback>,
    /// The host key check.
    pub host_key: HostKeyPolicy,
    /// How long connecting, the key exchange and authentication may take together
    /// (default 30 s; `None`: no limit).
    pub connect_timeout: Option<Duration>,
    /// Send `keepalive@openssh.com` every interval (OpenSSH `ServerAliveInterval`; default
    /// `None`: never). See [`ClientConfig::keepalive`].
    pub keepalive_interval: Option<Duration>,
    /// Unanswered keepalives after which the connection is declared dead and closed
    /// (OpenSSH `ServerAliveCountMax`; default 3).
    pub keepalive_max: u32,
    /// An ssh-agent socket whose identities are tried first for publickey authentication.
    pub agent: Option<PathBuf>,
    /// Whether an [`ClientConfig::agent`] that cannot be reached is skipped instead of
    /// failing the connection (set by [`ClientConfig::agent_from_env`]).
    pub agent_optional: bool,
    /// Forward this agent socket to sessions (`auth-agent-req@openssh.com`, `ssh -A`).
    pub forward_agent: Option<PathBuf>,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("ssh", &self.ssh)
            .field("keys", &self.keys.len())
            .field("password", &self.password.is_some())
            .field(
                "hostbased",
                &self
                    .hostbased
                    .as_ref()
                    .map(|h| (&h.client_host, &h.client_user)),
            )
            .field("keyboard_interactive", &self.keyboard_interactive.is_some())
            .field("host_key", &self.host_key)
            .field("connect_timeout", &self.connect_timeout)
            .field("keepalive_interval", &self.keepalive_interval)
            .field("keepalive_max", &self.keepalive_max)
            .field("agent", &self.agent)
            .field("agent_optional", &self.agent_optional)
            .field("forward_agent", &self.forward_agent)
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
            hostbased: None,
            keyboard_interactive: None,
            host_key: HostKeyPolicy::default(),
            connect_timeout: Some(Duration::from_secs(30)),
            keepalive_interval: None,
            keepalive_max: 3,
            agent: None,
            agent_optional: false,
            forward_agent: None,
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

    /// Authenticates with `hostbased` (RFC 4252 section 9): `host_key`, the client host's
    /// key, signs that `client_user` on `client_host` asks to log in, and the server
    /// decides from its own lists whom it trusts. Tried before publickey, as OpenSSH's
    /// default `PreferredAuthentications` does. `client_host` is the plain host name the
    /// server knows this host by; the trailing dot OpenSSH sends (the fully qualified
    /// form) is added once, by [`whelk::ClientConnection::set_hostbased`]. RSA host keys
    /// sign with `rsa-sha2-512`. A second call replaces the first.
    ///
    /// OpenSSH's sshd accepts it with `HostbasedAuthentication yes`, the host key listed
    /// under `client_host` in `/etc/ssh/ssh_known_hosts` (or the target user's
    /// `~/.ssh/known_hosts`), and `client_host client_user` in `/etc/ssh/shosts.equiv`
    /// (or the target user's `~/.shosts`; only these for root). It checks the name in
    /// the request against the reverse DNS of the connection unless
    /// `HostbasedUsesNameFromPacketOnly yes`.
    ///
    /// ```no_run
    /// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use whelk_std::{ClientConfig, connect};
    /// let pem = std::fs::read_to_string("/etc/ssh/ssh_host_ed25519_key")?;
    /// let host_key = whelk::PrivateKey::from_openssh(&pem, None)?;
    /// let config = ClientConfig::new("alice").hostbased(host_key, "client.example.org", "alice");
    /// let client = connect("server.example.org", 22, config)?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn hostbased(mut self, host_key: PrivateKey, client_host: &str, client_user: &str) -> Self {
        self.hostbased = Some(HostbasedKey {
            host_key,
            client_host: client_host.to_string(),
            client_user: client_user.to_string(),
        });
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

    /// Sends a `keepalive@openssh.com` global request with want-reply every `interval`
    /// and closes the connection with a "keepalive timeout" error after `max` of them in
    /// a row went unanswered (OpenSSH's `ServerAliveInterval` / `ServerAliveCountMax`,
    /// OpenSSH PROTOCOL §2.5 for the request name; RFC 4254 §4: any server answers an
    /// unknown global request with `SSH_MSG_REQUEST_FAILURE`, which counts as an answer).
    /// This detects a dead or frozen server of any version, unlike the transport-level
    /// `ssh.transport.limits.keepalive` (PING only to servers that announce
    /// `ping@openssh.com`, otherwise IGNORE). `max` is at least 1.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), whelk_std::Error> {
    /// use std::time::Duration;
    /// let config = whelk_std::ClientConfig::new("alice")
    ///     .keepalive(Duration::from_secs(15), 3); // dead after ~45 s of silence
    /// let client = whelk_std::connect("example.net", 22, config)?;
    /// let why = client.wait_closed(); // "keepalive timeout: ..." if the server froze
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn keepalive(mut self, interval: Duration, max: u32) -> Self {
        self.keepalive_interval = Some(interval);
        self.keepalive_max = max.max(1);
        self
    }

    /// Tries the identities of the ssh-agent at `path` first for publickey authentication
    /// (before [`ClientConfig::keys`]); connecting fails if the agent cannot be reached.
    /// Signatures are made by the agent (the private keys never leave it).
    #[must_use]
    pub fn agent(mut self, path: impl Into<PathBuf>) -> Self {
        self.agent = Some(path.into());
        self.agent_optional = false;
        self
    }

    /// Tries the identities of the ssh-agent named by `SSH_AUTH_SOCK`, if set. An agent
    /// that cannot be reached is skipped, as `ssh` does.
    #[must_use]
    pub fn agent_from_env(mut self) -> Self {
        if let Some(p) = std::env::var_os("SSH_AUTH_SOCK").filter(|p| !p.is_empty()) {
            self.agent = Some(PathBuf::from(p));
            self.agent_optional = true;
        }
        self
    }

    /// Forwards the agent at `path` into every session opened with [`Client::session`]
    /// (and so [`Client::exec`], [`Client::run`], [`Client::shell`]), like `ssh -A`: the
    /// session sends `auth-agent-req@openssh.com` and each `auth-agent@openssh.com`
    /// channel the server opens is connected to `path` (OpenSSH PROTOCOL.agent). Only
    /// forward an agent to servers you trust: their root can use its keys while you are
    /// connected.
    #[must_use]
    pub fn forward_agent(mut self, path: impl Into<PathBuf>) -> Self {
        self.forward_agent = Some(path.into());
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

struct ClientHooks {
    host: String,
    port: u16,
    trust: Trust,
    password: Option<Zeroizing<String>>,
    kbd: Option<KeyboardInteractiveCallback>,
    /// (password used, keyboard-interactive password used, host key changed).
    state: Mutex<(bool, bool, bool)>,
    routes: RemoteRoutes,
    /// The agent socket `auth-agent@openssh.com` channels are connected to.
    forward_agent: Option<PathBuf>,
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
                // Only channels we asked for: remote forwardings we set up, and the agent
                // when forwarding it (the channel layer refuses auth-agent@openssh.com
                // unless this connection sent auth-agent-req@openssh.com).
                let target = match incoming.kind() {
                    ChannelOpenKind::ForwardedTcpip {
                        connected_address,
                        connected_port,
                        ..
                    } => self
                        .routes
                        .find_tcp(connected_address.as_bytes(), *connected_port),
                    ChannelOpenKind::ForwardedStreamlocal { socket_path, .. } => {
                        self.routes.find_unix(socket_path.as_bytes())
                    }
                    ChannelOpenKind::AuthAgent => self.forward_agent.clone().map(Endpoint::Unix),
                    _ => None,
                };
                let mut g = shared.lock();
                match target {
                    Some(target) => {
                        if let Ok(id) = g.conn.accept_channel(incoming) {
                            let chan = ChanRef::new(shared.clone(), id, &mut g);
                            if let Some(c) = g.chans.get_mut(&id) {
                                c.open = Some(Ok(()));
                            }
                            drop(g);
                            let session = Session { chan, _guard: None };
                            let spawned = std::thread::Builder::new()
                                .name("whelk-forward".into())
                                .spawn(move || match connect_local(&target) {
                                    Ok(sock) => splice(sock, &session.chan),
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
    pub(crate) shared: Arc<Shared<Conn>>,
    pub(crate) _guard: Arc<Guard>,
    pub(crate) routes: RemoteRoutes,
    /// Sessions ask for agent forwarding.
    forward_agent: bool,
}

/// Disconnects when the last [`Client`] clone goes away.
pub(crate) struct Guard(Arc<Shared<Conn>>);

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
    let stream = tcp_connect(host, port, deadline)?;
    stream.set_nodelay(true)?;
    let wstream = stream.try_clone()?;
    handshake(
        Box::new(stream),
        Box::new(wstream),
        host,
        port,
        config,
        deadline,
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
    stream.set_nodelay(true)?;
    let wstream = stream.try_clone()?;
    handshake(
        Box::new(stream),
        Box::new(wstream),
        host,
        port,
        config,
        deadline,
    )
}

/// Key exchange and authentication over a connected byte stream, until `deadline`.
fn handshake(
    rd: Box<dyn ReadHalf>,
    wr: Box<dyn WriteHalf>,
    host: &str,
    port: u16,
    config: ClientConfig,
    deadline: Option<Instant>,
) -> Result<Client> {
    let trust = trust(config.host_key)?;
    let mut conn = ClientConnection::new(config.ssh, os_rng()?, Instant::now())?;
    if let Some(path) = &config.agent {
        match crate::agent::agent_signers(path) {
            Ok(signers) => {
                for signer in signers {
                    conn.add_identity(signer)?;
                }
            }
            // An unreachable SSH_AUTH_SOCK is not an error (OpenSSH: debug log only).
            Err(_) if config.agent_optional => {}
            Err(e) => return Err(e),
        }
    }
    for key in config.keys {
        conn.add_identity(Box::new(KeySigner::new(key, os_rng()?)))?;
    }
    if let Some(hb) = config.hostbased {
        conn.set_hostbased(HostbasedIdentity {
            signer: Box::new(KeySigner::new(hb.host_key, os_rng()?)),
            client_host: hb.client_host,
            client_user: hb.client_user,
        })?;
    }
    let shared = Shared::new(conn);
    let routes = RemoteRoutes::default();
    let hooks = Arc::new(ClientHooks {
        host: host.to_string(),
        port,
        trust,
        password: config.password,
        kbd: config.keyboard_interactive,
        state: Mutex::new((false, false, false)),
        routes: routes.clone(),
        forward_agent: config.forward_agent.clone(),
    });
    spawn_halves(&shared, rd, wr, hooks, "whelk-client")?;
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
        Some(Ok(())) => {}
        Some(Err(e)) => return Err(e),
        None => return Err(Error::Timeout),
    }
    if let Some(interval) = config.keepalive_interval {
        let shared = shared.clone();
        let max = config.keepalive_max.max(1);
        std::thread::Builder::new()
            .name("whelk-keepalive".into())
            .spawn(move || keepalive(&shared, interval, max))?;
    }
    Ok(Client {
        shared,
        _guard: guard,
        routes,
        forward_agent: config.forward_agent.is_some(),
    })
}

/// Sends `keepalive@openssh.com` (want-reply) every `interval`; when `max` intervals in a
/// row passed without an answer to the one outstanding, ends the connection with
/// "keepalive timeout" (`SSH_DISCONNECT_CONNECTION_LOST` is queued, and the reader stops
/// waiting for the peer after its linger time). Returns when the connection is over.
fn keepalive(shared: &Arc<Shared<Conn>>, interval: Duration, max: u32) {
    let mut outstanding: Option<whelk::GlobalRequestId> = None;
    let mut missed = 0u32;
    loop {
        let deadline = Instant::now() + interval;
        let mut g = shared.lock();
        // Sleep one interval (wakes on every state change: check whether it ended).
        loop {
            if g.done.is_some() {
                return;
            }
            let (g2, expired) = shared.wait(g, Some(deadline));
            g = g2;
            if expired {
                break;
            }
        }
        if g.done.is_some() {
            return;
        }
        let answered = outstanding.is_none_or(|id| {
            let i = g.global_results.iter().position(|r| r.0 == id);
            i.map(|i| g.global_results.swap_remove(i)).is_some()
        });
        if answered {
            missed = 0;
            outstanding = g
                .conn
                .global_request(GlobalRequestKind::Keepalive, true)
                .ok();
        } else {
            missed = missed.saturating_add(1);
            if missed >= max {
                let why = format!(
                    "keepalive timeout: no answer to {missed} keepalives ({interval:?} apart)"
                );
                g.conn
                    .disconnect(whelk::DisconnectReason::CONNECTION_LOST, &why);
                g.finish(why);
                drop(g);
                shared.changed.notify_all();
                shared.kick();
                return;
            }
        }
        drop(g);
        shared.kick();
    }
}

impl Client {
    fn open_with(
        &self,
        f: impl FnOnce(&mut Conn) -> whelk::Result<whelk::ChannelId>,
    ) -> Result<Session> {
        self.open_until(None, f)
    }

    /// Opens a channel and waits for the server's answer until `deadline`
    /// ([`Error::Timeout`] after it).
    fn open_until(
        &self,
        deadline: Option<Instant>,
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
        let Some(r) = chan.wait_open(deadline) else {
            return Err(Error::Timeout);
        };
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
    ///
    /// With [`ClientConfig::forward_agent`], the session first asks for agent forwarding
    /// (`auth-agent-req@openssh.com`, no reply wanted, as `ssh -A`).
    pub fn session(&self) -> Result<Session> {
        let s = self.open_with(|c| c.open_session())?;
        if self.forward_agent {
            s.chan.command(|g, id| {
                g.conn
                    .request(id, ChannelRequestKind::AuthAgentReq, false)?;
                Ok(())
            })?;
        }
        Ok(s)
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

    /// ProxyJump (`ssh -J`): connects to `host:port` as seen from this server, through a
    /// `direct-tcpip` channel of this connection (RFC 4254 §7.2), and runs a new SSH
    /// connection over it, checking the host key for `host:port` and authenticating
    /// with `config` (end to end: this server only relays encrypted bytes). Opening the
    /// channel, the key exchange and authentication together get
    /// [`ClientConfig::connect_timeout`]. This
    /// connection stays up while the new one uses it; chain calls for more hops.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), whelk_std::Error> {
    /// use whelk_std::{ClientConfig, connect};
    /// let key = whelk::PrivateKey::ed25519_from_seed(&[1; 32]);
    /// let bastion = connect("bastion.example.net", 22, ClientConfig::new("alice").key(key.clone()))?;
    /// // ssh -J bastion.example.net alice@10.0.0.5
    /// let inner = bastion.jump("10.0.0.5", 22, ClientConfig::new("alice").key(key))?;
    /// println!("{:?}", inner.run("hostname")?.stdout);
    /// # Ok(()) }
    /// ```
    pub fn jump(&self, host: &str, port: u16, config: ClientConfig) -> Result<Self> {
        // Opening the channel counts against the connect timeout too.
        let deadline = config.connect_timeout.map(|t| Instant::now() + t);
        let hop = Arc::new(self.open_until(deadline, |c| {
            c.open_direct_tcpip(host, u32::from(port), "127.0.0.1", 0)
        })?);
        let rd = HopRead {
            out: hop.stdout(),
            hop: hop.clone(),
        };
        let wr = HopWrite {
            inp: hop.stdin(),
            _hop: hop,
        };
        handshake(Box::new(rd), Box::new(wr), host, port, config, deadline)
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

/// A channel: a session (a command, a shell, a subsystem) or a forwarded TCP connection.
/// Its handles ([`Session::stdin`], [`Session::stdout`], [`Session::stderr`]) may be used
/// from other threads; the channel is closed when the session and every handle are gone.
/// A session keeps its connection up (as a [`Client`] clone does).
pub struct Session {
    pub(crate) chan: Arc<ChanRef<Conn>>,
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

/// The receiving half of a ProxyJump hop: the `direct-tcpip` channel's data.
struct HopRead {
    out: ChannelReader<Conn>,
    /// Keeps the channel and the jump connection up.
    hop: Arc<Session>,
}

impl std::io::Read for HopRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.out.read(buf)
    }
}

impl ReadHalf for HopRead {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.out.set_read_timeout(timeout);
        Ok(())
    }

    fn shutdown(&mut self) {
        self.hop.close();
    }
}

/// The sending half of a ProxyJump hop.
struct HopWrite {
    inp: Stdin,
    _hop: Arc<Session>,
}

impl Write for HopWrite {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inp.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inp.flush()
    }
}

impl WriteHalf for HopWrite {
    fn shutdown_write(&mut self) {
        let _ = self.inp.send_eof();
    }
}
