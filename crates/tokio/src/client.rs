//! The async client: [`connect`] (or [`connect_stream`], [`connect_command`],
//! [`Client::jump`]), then [`Client::run`], [`Client::exec`], [`Client::session`] or one
//! of the forwardings.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpStream;
use whelk::{
    Answer, ChannelEvent, ChannelId, ChannelOpenFailureReason, ChannelOpenKind, ChannelRequestKind,
    ClientConnection, Event, GlobalRequestKind, HostKeyDecision, HostbasedIdentity,
    IncomingChannel, KeySigner, PrivateKey, PromptKind, PublicKey,
};
use whelk_keys::cert::{CertType, Certificate, KeyOrCert};
use whelk_keys::known_hosts::{HostKeyStatus, KnownHosts};
use whelk_keys::{SigAlg, VerifyPolicy};
use zeroize::Zeroizing;

use crate::channel::{ChannelReader, ChannelWriter};
use crate::client_x11::X11Slot;
use crate::driver::{Hooks, Inner, Shared, drive};
use crate::error::{Error, Result};
use crate::forward::{Endpoint, RemoteRoutes, connect_local};
use crate::{os_rng, wait_for};

/// The server's host key, as presented to a [`HostKeyPolicy::Callback`].
#[derive(Debug, Clone)]
pub struct HostKeyInfo {
    /// The host name or address given to [`connect`].
    pub host: String,
    /// The port.
    pub port: u16,
    /// The negotiated host key algorithm.
    pub algorithm: String,
    /// The key (for a host certificate, the certified key; `None` if whelk-keys cannot
    /// parse the blob).
    pub key: Option<PublicKey>,
    /// The raw key blob.
    pub blob: Vec<u8>,
}

/// A host key callback: `true` trusts the key.
pub type HostKeyCallback = Arc<dyn Fn(&HostKeyInfo) -> bool + Send + Sync>;

/// How the client decides whether it trusts the server's host key.
#[derive(Clone)]
#[non_exhaustive]
pub enum HostKeyPolicy {
    /// Trust what a `known_hosts` file lists for the host (the default:
    /// `$HOME/.ssh/known_hosts`). Unknown, changed and revoked keys are rejected. A host
    /// certificate is trusted when a `@cert-authority` line for the host names its CA and
    /// the certificate is a valid host certificate for the host name (as OpenSSH's
    /// `ssh`); the client then offers the certificate algorithms first.
    KnownHostsFile(PathBuf),
    /// Like [`HostKeyPolicy::KnownHostsFile`], but a host key the file knows nothing
    /// about is accepted and appended to the file (OpenSSH `StrictHostKeyChecking
    /// accept-new`); changed and revoked keys are still rejected.
    KnownHostsFileAcceptNew(PathBuf),
    /// Trust what these `known_hosts` lines list for the host (same rules).
    KnownHosts(String),
    /// Ask the application.
    Callback(HostKeyCallback),
    /// Trust any key (tests only: this defeats server authentication).
    AcceptAny,
}

impl std::fmt::Debug for HostKeyPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::KnownHostsFile(p) => f.debug_tuple("KnownHostsFile").field(p).finish(),
            Self::KnownHostsFileAcceptNew(p) => {
                f.debug_tuple("KnownHostsFileAcceptNew").field(p).finish()
            }
            Self::KnownHosts(_) => f.write_str("KnownHosts(..)"),
            Self::Callback(_) => f.write_str("Callback(..)"),
            Self::AcceptAny => f.write_str("AcceptAny"),
        }
    }
}

impl Default for HostKeyPolicy {
    fn default() -> Self {
        let home = std::env::var_os("HOME").unwrap_or_default();
        Self::KnownHostsFile(PathBuf::from(home).join(".ssh").join("known_hosts"))
    }
}

/// A boxed future, as the prompt callbacks return.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// One keyboard-interactive prompt (RFC 4256 §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// The prompt text (sanitized).
    pub text: String,
    /// Whether the answer may be shown while typed.
    pub echo: bool,
}

/// A keyboard-interactive round from the server (RFC 4256 §3.2), all text sanitized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KbdInteractive {
    /// The user being authenticated.
    pub user: String,
    /// Title.
    pub name: String,
    /// Instruction.
    pub instruction: String,
    /// The prompts, in order (may be empty: answer with an empty list).
    pub prompts: Vec<Prompt>,
}

/// The function behind a [`KbdCallback`].
type KbdFn = dyn Fn(KbdInteractive) -> BoxFuture<Option<Vec<Zeroizing<String>>>> + Send + Sync;

/// Answers keyboard-interactive rounds: one answer per prompt, or `None` to skip the
/// method.
#[derive(Clone)]
pub struct KbdCallback(Arc<KbdFn>);

impl std::fmt::Debug for KbdCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KbdCallback(..)")
    }
}

/// Asked for a password (given the user name): `Some(password)` or `None` to skip the
/// method. Called once per attempt, so a wrong answer can be corrected.
#[derive(Clone)]
pub struct PasswordCallback(
    Arc<dyn Fn(String) -> BoxFuture<Option<Zeroizing<String>>> + Send + Sync>,
);

impl std::fmt::Debug for PasswordCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordCallback(..)")
    }
}

/// Shown the server's `SSH_MSG_USERAUTH_BANNER` text (RFC 4252 §5.4), already sanitized;
/// show it attributed to the server.
#[derive(Clone)]
pub struct BannerCallback(Arc<dyn Fn(&str) + Send + Sync>);

impl std::fmt::Debug for BannerCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BannerCallback(..)")
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

/// Client settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The protocol settings (user, algorithms, limits).
    pub ssh: whelk::ClientConfig,
    /// Keys tried for publickey authentication, in order (after the agent's).
    pub keys: Vec<PrivateKey>,
    /// Keys presented with a certificate (OpenSSH `CertificateFile`, `id_*-cert.pub`),
    /// tried after the agent's identities and before [`ClientConfig::keys`]
    /// (RFC 4252 section 7 with the certificate as the public key blob, OpenSSH
    /// PROTOCOL.certkeys).
    pub certified_keys: Vec<(PrivateKey, Certificate)>,
    /// The password for `password` authentication (used once).
    pub password: Option<Zeroizing<String>>,
    /// The client host key for `hostbased` authentication, tried before publickey
    /// (see [`ClientConfig::hostbased`]).
    pub hostbased: Option<HostbasedKey>,
    /// Asked for passwords (after [`ClientConfig::password`], if any, was tried).
    pub password_callback: Option<PasswordCallback>,
    /// Answers keyboard-interactive prompts. Without it, a round with exactly one hidden
    /// prompt is answered with [`ClientConfig::password`] (once), others are skipped.
    pub kbd_callback: Option<KbdCallback>,
    /// Shown the server's pre-authentication banner (default: ignored).
    pub banner_callback: Option<BannerCallback>,
    /// The host key check.
    pub host_key: HostKeyPolicy,
    /// How long the TCP connection (or proxy) may take to establish (default 30 s).
    pub connect_timeout: Option<Duration>,
    /// How long the SSH handshake and authentication may take once connected (default
    /// 60 s, including the time prompt callbacks take).
    pub auth_timeout: Option<Duration>,
    /// Send `keepalive@openssh.com` every interval (OpenSSH `ServerAliveInterval`;
    /// default off). Each is a global request the server must answer, so a server or path
    /// that stopped working is noticed. (The transport's own
    /// `ssh.transport.limits.keepalive` sends `ping@openssh.com` only to servers that
    /// announce it, OpenSSH 9.5 and later, and otherwise an unanswered `SSH_MSG_IGNORE`.)
    pub keepalive_interval: Option<Duration>,
    /// Unanswered keepalives after which the connection is declared dead and closed
    /// (OpenSSH `ServerAliveCountMax`, default 3).
    pub keepalive_max: u32,
    /// An ssh-agent socket whose identities are tried first for publickey authentication.
    pub agent: Option<PathBuf>,
    /// Whether an [`ClientConfig::agent`] that cannot be reached is skipped instead of
    /// failing the connection (what OpenSSH does with `SSH_AUTH_SOCK`; set by
    /// [`ClientConfig::agent_from_env`]).
    pub agent_optional: bool,
    /// Forward this agent socket to sessions (`auth-agent-req@openssh.com`, `ssh -A`).
    pub forward_agent: Option<PathBuf>,
}

impl ClientConfig {
    /// Defaults, logging in as `user`.
    #[must_use]
    pub fn new(user: &str) -> Self {
        Self {
            ssh: whelk::ClientConfig::new(user),
            keys: Vec::new(),
            certified_keys: Vec::new(),
            password: None,
            hostbased: None,
            password_callback: None,
            kbd_callback: None,
            banner_callback: None,
            host_key: HostKeyPolicy::default(),
            connect_timeout: Some(Duration::from_secs(30)),
            auth_timeout: Some(Duration::from_secs(60)),
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

    /// Adds a key presented with its certificate for publickey authentication. Fails
    /// (an [`Error::Io`] of kind `InvalidInput`) if `cert` does not certify `key`.
    pub fn key_with_certificate(mut self, key: PrivateKey, cert: Certificate) -> Result<Self> {
        if cert.public_key() != key.public_key() {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the certificate does not certify this key",
            )));
        }
        self.certified_keys.push((key, cert));
        Ok(self)
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
    /// form) is added once, by [`ClientConnection::set_hostbased`]. RSA host keys sign
    /// with `rsa-sha2-512`. A second call replaces the first.
    ///
    /// OpenSSH's sshd accepts it with `HostbasedAuthentication yes`, the host key listed
    /// under `client_host` in `/etc/ssh/ssh_known_hosts` (or the target user's
    /// `~/.ssh/known_hosts`), and `client_host client_user` in `/etc/ssh/shosts.equiv`
    /// (or the target user's `~/.shosts`; only these for root). It checks the name in
    /// the request against the reverse DNS of the connection unless
    /// `HostbasedUsesNameFromPacketOnly yes`.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use whelk_tokio::{ClientConfig, connect};
    /// let pem = std::fs::read_to_string("/etc/ssh/ssh_host_ed25519_key")?;
    /// let host_key = whelk::PrivateKey::from_openssh(&pem, None)?;
    /// let config = ClientConfig::new("alice").hostbased(host_key, "client.example.org", "alice");
    /// let client = connect("server.example.org", 22, config).await?;
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

    /// Sets the host key policy.
    #[must_use]
    pub fn host_key(mut self, policy: HostKeyPolicy) -> Self {
        self.host_key = policy;
        self
    }

    /// Asks `f` for passwords (`f(user)`; `None` skips the method).
    #[must_use]
    pub fn password_prompt<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<Zeroizing<String>>> + Send + 'static,
    {
        self.password_callback = Some(PasswordCallback(Arc::new(move |u| Box::pin(f(u)))));
        self
    }

    /// Answers keyboard-interactive rounds with `f` (one answer per prompt; `None` skips
    /// the method).
    #[must_use]
    pub fn keyboard_interactive<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(KbdInteractive) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<Vec<Zeroizing<String>>>> + Send + 'static,
    {
        self.kbd_callback = Some(KbdCallback(Arc::new(move |k| Box::pin(f(k)))));
        self
    }

    /// Passes the server's banner (sanitized) to `f`, e.g. to print it.
    #[must_use]
    pub fn banner(mut self, f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.banner_callback = Some(BannerCallback(Arc::new(f)));
        self
    }

    /// Sets the TCP connect timeout (`None`: no limit).
    #[must_use]
    pub fn connect_timeout(mut self, limit: Option<Duration>) -> Self {
        self.connect_timeout = limit;
        self
    }

    /// Sets the handshake and authentication timeout (`None`: no limit).
    #[must_use]
    pub fn auth_timeout(mut self, limit: Option<Duration>) -> Self {
        self.auth_timeout = limit;
        self
    }

    /// Sends `keepalive@openssh.com` every `interval` and closes the connection after
    /// `max` went unanswered (OpenSSH `ServerAliveInterval` / `ServerAliveCountMax`).
    #[must_use]
    pub fn keepalive(mut self, interval: Duration, max: u32) -> Self {
        self.keepalive_interval = Some(interval);
        self.keepalive_max = max.max(1);
        self
    }

    /// Tries the identities of the ssh-agent at `path` (before [`ClientConfig::keys`]).
    /// Connecting fails if the agent cannot be reached.
    #[must_use]
    pub fn agent(mut self, path: impl Into<PathBuf>) -> Self {
        self.agent = Some(path.into());
        self.agent_optional = false;
        self
    }

    /// Tries the identities of the ssh-agent named by `SSH_AUTH_SOCK`, if set. An agent
    /// that cannot be reached (stale socket) is skipped, as OpenSSH does.
    #[must_use]
    pub fn agent_from_env(mut self) -> Self {
        if let Some(p) = std::env::var_os("SSH_AUTH_SOCK").filter(|p| !p.is_empty()) {
            self.agent = Some(PathBuf::from(p));
            self.agent_optional = true;
        }
        self
    }

    /// Forwards the agent at `path` into every session (`ssh -A`): the session asks for
    /// `auth-agent-req@openssh.com` and the server's `auth-agent@openssh.com` channels
    /// are connected to `path`. Only forward an agent to servers you trust.
    #[must_use]
    pub fn forward_agent(mut self, path: impl Into<PathBuf>) -> Self {
        self.forward_agent = Some(path.into());
        self
    }
}

pub(crate) type Conn = ClientConnection;

enum Trust {
    /// The known hosts, and the file to append new keys to (accept-new).
    Known(KnownHosts, Option<PathBuf>),
    Callback(HostKeyCallback),
    Any,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

struct ClientHooks {
    host: String,
    port: u16,
    user: String,
    trust: Trust,
    password: Option<Zeroizing<String>>,
    password_used: bool,
    password_callback: Option<PasswordCallback>,
    kbd_callback: Option<KbdCallback>,
    banner_callback: Option<BannerCallback>,
    rejected: Option<String>,
    routes: RemoteRoutes,
    forward_agent: Option<PathBuf>,
    x11: X11Slot,
}

impl ClientHooks {
    fn trusted(&self, algorithm: &str, blob: &[u8]) -> std::result::Result<(), String> {
        let key = KeyOrCert::parse_for_algorithm(algorithm, blob)
            .ok()
            .map(|(_, k)| k.public_key().clone());
        match &self.trust {
            Trust::Any => Ok(()),
            Trust::Known(kh, accept_new) => {
                let keys = kh.lookup(&self.host, self.port);
                let (_, presented) = KeyOrCert::parse_for_algorithm(algorithm, blob)
                    .map_err(|e| format!("host key blob: {e}"))?;
                if keys.check(presented.public_key()) == HostKeyStatus::Revoked {
                    return Err("host key revoked".into());
                }
                match presented.certificate() {
                    Some(cert) => {
                        if !keys.is_trusted_ca(cert.signature_key()) {
                            return Err("host certificate CA not trusted for this host".into());
                        }
                        cert.validate(
                            unix_now(),
                            CertType::Host,
                            Some(&self.host),
                            &VerifyPolicy::default(),
                        )
                        .map_err(|e| format!("host certificate: {e}"))
                    }
                    None => match keys.check(presented.public_key()) {
                        HostKeyStatus::Trusted => Ok(()),
                        HostKeyStatus::Unknown if accept_new.is_some() => {
                            if let Some(path) = accept_new {
                                append_known_host(
                                    path,
                                    &self.host,
                                    self.port,
                                    presented.public_key(),
                                );
                            }
                            Ok(())
                        }
                        HostKeyStatus::Changed => Err("host key CHANGED".into()),
                        other => Err(format!("host key {other:?}")),
                    },
                }
            }
            Trust::Callback(cb) => {
                let info = HostKeyInfo {
                    host: self.host.clone(),
                    port: self.port,
                    algorithm: algorithm.to_string(),
                    key,
                    blob: blob.to_vec(),
                };
                if cb(&info) {
                    Ok(())
                } else {
                    Err("refused by the host key callback".into())
                }
            }
        }
    }

    fn credentials(
        &mut self,
        shared: &Arc<Shared<Conn>>,
        inner: &mut Inner<Conn>,
        req: whelk::CredentialRequest,
    ) {
        match &req.kind {
            PromptKind::Password => {
                if let Some(p) = self.password.as_ref().filter(|_| !self.password_used) {
                    self.password_used = true;
                    let _ = inner
                        .conn
                        .respond_credentials(req, Answer::Password(p.clone()));
                    return;
                }
                if let Some(cb) = &self.password_callback {
                    let fut = (cb.0)(self.user.clone());
                    answer_later(shared, req, async move {
                        fut.await.map_or(Answer::Skip, Answer::Password)
                    });
                    return;
                }
            }
            PromptKind::KeyboardInteractive {
                name,
                instruction,
                prompts,
            } => {
                if let Some(cb) = &self.kbd_callback {
                    let round = KbdInteractive {
                        user: self.user.clone(),
                        name: name.clone(),
                        instruction: instruction.clone(),
                        prompts: prompts
                            .iter()
                            .map(|(text, echo)| Prompt {
                                text: text.clone(),
                                echo: *echo,
                            })
                            .collect(),
                    };
                    let fut = (cb.0)(round);
                    answer_later(shared, req, async move {
                        fut.await.map_or(Answer::Skip, Answer::Responses)
                    });
                    return;
                }
                if let [(_, false)] = prompts.as_slice()
                    && let Some(p) = self.password.as_ref().filter(|_| !self.password_used)
                {
                    self.password_used = true;
                    let _ = inner
                        .conn
                        .respond_credentials(req, Answer::Responses(vec![p.clone()]));
                    return;
                }
            }
            _ => {}
        }
        let _ = inner.conn.respond_credentials(req, Answer::Skip);
    }

    fn incoming(
        &mut self,
        shared: &Arc<Shared<Conn>>,
        inner: &mut Inner<Conn>,
        incoming: IncomingChannel,
    ) {
        if matches!(incoming.kind(), ChannelOpenKind::X11 { .. }) {
            self.incoming_x11(shared, inner, incoming);
            return;
        }
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
        let Some(target) = target else {
            // Called with the lock held: answer through `inner`.
            let _ = inner.conn.reject_channel(
                incoming,
                ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED,
                "not requested",
            );
            return;
        };
        let shared = shared.clone();
        // Connect first, then confirm or refuse (as OpenSSH does).
        tokio::spawn(async move {
            match connect_local(&target).await {
                Ok(sock) => {
                    let id = {
                        let mut g = shared.lock();
                        match g.conn.accept_channel(incoming) {
                            Ok(id) => {
                                g.chan(id).open = Some(Ok(()));
                                Some(id)
                            }
                            Err(_) => None,
                        }
                    };
                    shared.wake.notify_one();
                    if let Some(id) = id {
                        let session = Session::new(shared, id, X11Slot::default());
                        crate::forward::splice(sock, session).await;
                    }
                }
                Err(e) => {
                    let _ = shared.lock().conn.reject_channel(
                        incoming,
                        ChannelOpenFailureReason::CONNECT_FAILED,
                        &e.to_string(),
                    );
                    shared.wake.notify_one();
                }
            }
        });
    }
}

impl ClientHooks {
    /// An `x11` channel (RFC 4254 §6.3.2): accepted only after an `x11-req` (and, for
    /// untrusted forwarding, before its timeout), once the local display answered.
    fn incoming_x11(
        &mut self,
        shared: &Arc<Shared<Conn>>,
        inner: &mut Inner<Conn>,
        incoming: IncomingChannel,
    ) {
        let Some(route) = crate::client_x11::route(&self.x11) else {
            let _ = inner.conn.reject_channel(
                incoming,
                ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED,
                "X11 forwarding not requested or timed out",
            );
            return;
        };
        let shared = shared.clone();
        let slot = self.x11.clone();
        tokio::spawn(async move {
            match route.connect().await {
                Ok(sock) => {
                    let id = {
                        let mut g = shared.lock();
                        match g.conn.accept_channel(incoming) {
                            Ok(id) => {
                                g.chan(id).open = Some(Ok(()));
                                Some(id)
                            }
                            Err(_) => None,
                        }
                    };
                    shared.wake.notify_one();
                    if let Some(id) = id {
                        route.serve(sock, Session::new(shared, id, slot)).await;
                    }
                }
                Err(e) => {
                    let _ = shared.lock().conn.reject_channel(
                        incoming,
                        ChannelOpenFailureReason::CONNECT_FAILED,
                        &e.to_string(),
                    );
                    shared.wake.notify_one();
                }
            }
        });
    }
}

/// Appends a `known_hosts` line for a newly accepted host key (best effort: a key that
/// cannot be recorded is still accepted for this connection, as OpenSSH does).
fn append_known_host(path: &std::path::Path, host: &str, port: u16, key: &PublicKey) {
    use std::io::Write;
    let Ok(mut rng) = os_rng() else { return };
    let line = whelk_keys::known_hosts::format_entry(host, port, key, false, &mut rng);
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{line}");
    }
}

/// Answers a credential request once `answer` is ready (a prompt callback).
fn answer_later(
    shared: &Arc<Shared<Conn>>,
    req: whelk::CredentialRequest,
    answer: impl Future<Output = Answer> + Send + 'static,
) {
    let shared = shared.clone();
    tokio::spawn(async move {
        let a = answer.await;
        let _ = shared.lock().conn.respond_credentials(req, a);
        shared.wake.notify_one();
    });
}

impl Hooks<Conn> for ClientHooks {
    fn event(&mut self, shared: &Arc<Shared<Conn>>, inner: &mut Inner<Conn>, event: Event) {
        match event {
            Event::HostKey(check) => {
                let decision = match self.trusted(&check.algorithm, &check.host_key) {
                    Ok(()) => HostKeyDecision::Accept,
                    Err(why) => {
                        self.rejected = Some(format!(
                            "{} key of {}:{}: {why}",
                            check.algorithm, self.host, self.port
                        ));
                        HostKeyDecision::Reject
                    }
                };
                let _ = inner.conn.respond_host_key(check, decision);
                if let Some(why) = &self.rejected
                    && inner.done.is_none()
                {
                    inner.done = Some(format!("host key: {why}"));
                }
            }
            Event::Credentials(req) => self.credentials(shared, inner, req),
            Event::Banner(text) => {
                if let Some(cb) = &self.banner_callback {
                    (cb.0)(&text);
                }
            }
            Event::Channel(ChannelEvent::OpenRequest(incoming)) => {
                self.incoming(shared, inner, incoming);
            }
            Event::Channel(ChannelEvent::Request {
                token: Some(token), ..
            }) => {
                let _ = inner.conn.respond_request(token, false);
            }
            _ => {}
        }
    }
}

/// A connected, authenticated client. Cheap to clone; the connection lives in a driver
/// task until [`Client::disconnect`], the peer ends it, or the last clone is dropped.
#[derive(Clone)]
pub struct Client {
    pub(crate) shared: Arc<Shared<Conn>>,
    _guard: Arc<Guard>,
    pub(crate) routes: RemoteRoutes,
    forward_agent: bool,
    x11: X11Slot,
}

/// Disconnects when the last [`Client`] clone goes away.
struct Guard(Arc<Shared<Conn>>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0
            .lock()
            .conn
            .disconnect(whelk::DisconnectReason::BY_APPLICATION, "client dropped");
        self.0.wake.notify_one();
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
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

async fn with_limit<T>(limit: Option<Duration>, fut: impl Future<Output = Result<T>>) -> Result<T> {
    match limit {
        Some(t) => tokio::time::timeout(t, fut)
            .await
            .map_err(|_| Error::Timeout)?,
        None => fut.await,
    }
}

/// Connects to `host:port` over TCP (TCP_NODELAY, [`ClientConfig::connect_timeout`]),
/// checks the host key and authenticates (within [`ClientConfig::auth_timeout`]).
///
/// ```no_run
/// # async fn demo() -> Result<(), whelk_tokio::Error> {
/// use std::time::Duration;
/// use whelk_tokio::{ClientConfig, connect};
/// let config = ClientConfig::new("alice")
///     .agent_from_env()
///     .keepalive(Duration::from_secs(15), 3);
/// let client = connect("example.org", 22, config).await?;
/// let out = client.run("uptime").await?;
/// # Ok(()) }
/// ```
pub async fn connect(host: &str, port: u16, config: ClientConfig) -> Result<Client> {
    let stream = with_limit(config.connect_timeout, async {
        Ok(TcpStream::connect((host, port)).await?)
    })
    .await?;
    stream.set_nodelay(true)?;
    connect_stream(stream, host, port, config).await
}

/// Runs SSH over an already established byte stream (a proxy's socket, a
/// [`ProxyCommand`](connect_command)'s pipes, a channel of another connection as
/// [`Client::jump`] does). `host` and `port` are the names the host key is checked for.
pub async fn connect_stream<S>(
    stream: S,
    host: &str,
    port: u16,
    config: ClientConfig,
) -> Result<Client>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let limit = config.auth_timeout;
    with_limit(limit, handshake(stream, host, port, config)).await
}

/// Connects through a proxy command (OpenSSH `ProxyCommand`): `command` runs under
/// `sh -c` with `%h` and `%p` replaced by `host` and `port` (and `%%` by `%`), and SSH
/// runs over its stdin and stdout. The command is killed when the connection ends.
pub async fn connect_command(
    command: &str,
    host: &str,
    port: u16,
    config: ClientConfig,
) -> Result<Client> {
    let stream = crate::stream::ChildStream::spawn(command, host, port)?;
    connect_stream(stream, host, port, config).await
}

/// The host key algorithms with the certificate variants first (what OpenSSH offers when
/// `known_hosts` has a `@cert-authority` for the host).
fn certs_first(plain: &[String]) -> Vec<String> {
    let certs = plain
        .iter()
        .filter_map(|n| SigAlg::from_name(n))
        .map(|a| a.cert_name().to_string())
        .filter(|c| !plain.contains(c));
    certs.chain(plain.iter().cloned()).collect()
}

async fn handshake<S>(stream: S, host: &str, port: u16, mut config: ClientConfig) -> Result<Client>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let trust = match config.host_key {
        HostKeyPolicy::AcceptAny => Trust::Any,
        HostKeyPolicy::Callback(cb) => Trust::Callback(cb),
        HostKeyPolicy::KnownHosts(text) => Trust::Known(KnownHosts::parse(&text), None),
        HostKeyPolicy::KnownHostsFile(path) => {
            let text = tokio::fs::read_to_string(&path).await.unwrap_or_default();
            Trust::Known(KnownHosts::parse(&text), None)
        }
        HostKeyPolicy::KnownHostsFileAcceptNew(path) => {
            let text = tokio::fs::read_to_string(&path).await.unwrap_or_default();
            Trust::Known(KnownHosts::parse(&text), Some(path))
        }
    };
    if let Trust::Known(kh, _) = &trust
        && !kh.lookup(host, port).cert_authorities.is_empty()
    {
        let algs = &mut config.ssh.transport.algorithms.host_key;
        *algs = certs_first(algs);
    }
    let user = config.ssh.auth.user.clone();
    let mut conn = ClientConnection::new(config.ssh, os_rng()?, Instant::now())?;
    let agent_wake = crate::agent::DriverWake::default();
    if let Some(path) = &config.agent {
        match crate::agent::agent_signers(path, agent_wake.clone()).await {
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
    for (key, cert) in config.certified_keys {
        conn.add_identity(Box::new(KeySigner::with_certificate(key, cert, os_rng()?)))?;
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
    let weak = Arc::downgrade(&shared);
    agent_wake.set(move || {
        if let Some(shared) = weak.upgrade() {
            shared.wake.notify_one();
        }
    });
    let routes = RemoteRoutes::default();
    let x11 = X11Slot::default();
    let hooks = ClientHooks {
        host: host.to_string(),
        port,
        user,
        trust,
        password: config.password,
        password_used: false,
        password_callback: config.password_callback,
        kbd_callback: config.kbd_callback,
        banner_callback: config.banner_callback,
        rejected: None,
        routes: routes.clone(),
        forward_agent: config.forward_agent.clone(),
        x11: x11.clone(),
    };
    let driver = tokio::spawn(drive(shared.clone(), stream, hooks));
    let client = Client {
        _guard: Arc::new(Guard(shared.clone())),
        shared: shared.clone(),
        routes,
        forward_agent: config.forward_agent.is_some(),
        x11,
    };
    // Dropping `client` on failure or timeout ends the driver.
    wait_for(&shared, |g| {
        if g.authenticated {
            Some(Ok(()))
        } else {
            g.done.as_ref().map(|why| {
                Err(if why.starts_with("host key:") {
                    Error::HostKey(why.clone())
                } else {
                    Error::Closed(why.clone())
                })
            })
        }
    })
    .await?;
    if let Some(interval) = config.keepalive_interval {
        tokio::spawn(keepalive(
            shared,
            interval,
            config.keepalive_max,
            driver.abort_handle(),
        ));
    }
    Ok(client)
}

/// Sends `keepalive@openssh.com` every `interval`; after `max` intervals without an answer
/// the connection is closed with "keepalive timeout".
async fn keepalive(
    shared: Arc<Shared<Conn>>,
    interval: Duration,
    max: u32,
    driver: tokio::task::AbortHandle,
) {
    let mut outstanding = None;
    let mut missed = 0u32;
    loop {
        tokio::time::sleep(interval).await;
        let dead = {
            let mut g = shared.lock();
            if g.done.is_some() {
                return;
            }
            let mut dead = None;
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
                missed += 1;
                if missed >= max {
                    let why = format!(
                        "keepalive timeout: no answer to {missed} keepalives ({interval:?} apart)"
                    );
                    g.conn
                        .disconnect(whelk::DisconnectReason::CONNECTION_LOST, &why);
                    g.finish(why.clone());
                    dead = Some(why);
                }
            }
            dead
        };
        shared.wake.notify_one();
        if dead.is_some() {
            shared.changed.notify_waiters();
            // Give the DISCONNECT a moment, then drop the socket even if the write is
            // stuck.
            tokio::time::sleep(Duration::from_millis(500)).await;
            driver.abort();
            return;
        }
    }
}

impl Client {
    /// Opens a session channel (with [`ClientConfig::forward_agent`], it asks for agent
    /// forwarding first).
    pub async fn session(&self) -> Result<Session> {
        let s = self.open(ChannelOpenKind::Session).await?;
        if self.forward_agent {
            s.shared
                .lock()
                .conn
                .request(s.id, ChannelRequestKind::AuthAgentReq, false)?;
            s.shared.wake.notify_one();
        }
        Ok(s)
    }

    /// Opens a channel of any kind and waits for the server's answer.
    pub async fn open(&self, kind: ChannelOpenKind) -> Result<Session> {
        let id = {
            let mut g = self.shared.lock();
            let id = g.conn.open(kind)?;
            g.chan(id);
            id
        };
        self.open_wait(id).await
    }

    /// Opens a `direct-tcpip` channel to `host:port` as seen from the server (RFC 4254
    /// §7.2; one connection of local port forwarding). The [`Session`] is an
    /// `AsyncRead + AsyncWrite` stream to the remote end.
    pub async fn direct_tcpip(&self, host: &str, port: u16) -> Result<Session> {
        let id = {
            let mut g = self.shared.lock();
            let id = g
                .conn
                .open_direct_tcpip(host, u32::from(port), "127.0.0.1", 0)?;
            g.chan(id);
            id
        };
        self.open_wait(id).await
    }

    /// Opens a `direct-streamlocal@openssh.com` channel to the UNIX socket `path` on the
    /// server (OpenSSH PROTOCOL §2.4). The [`Session`] is an `AsyncRead + AsyncWrite`
    /// stream.
    pub async fn direct_streamlocal(&self, path: &str) -> Result<Session> {
        self.open(ChannelOpenKind::DirectStreamlocal {
            socket_path: path.to_string().into(),
            reserved: "".into(),
            reserved_port: 0,
        })
        .await
    }

    /// ProxyJump (`ssh -J`): connects to `host:port` as seen from this server, through a
    /// `direct-tcpip` channel of this connection, and runs a new SSH connection over it
    /// (host key checked for `host`). This connection stays up while the new one uses it.
    pub async fn jump(&self, host: &str, port: u16, config: ClientConfig) -> Result<Self> {
        let channel = with_limit(config.connect_timeout, self.direct_tcpip(host, port)).await?;
        let hop = HopStream {
            channel,
            _hop: self.clone(),
        };
        connect_stream(hop, host, port, config).await
    }

    async fn open_wait(&self, id: ChannelId) -> Result<Session> {
        self.shared.wake.notify_one();
        // Owns the channel from here: closed if the wait is abandoned.
        let session = Session::new(self.shared.clone(), id, self.x11.clone());
        wait_for(&self.shared, |g| match &g.chan(id).open {
            Some(Ok(())) => Some(Ok(())),
            Some(Err(why)) => Some(Err(Error::Refused(why.clone()))),
            None => g.done.clone().map(|why| Err(Error::Closed(why))),
        })
        .await?;
        Ok(session)
    }

    /// Opens a session and runs `command` in it.
    pub async fn exec(&self, command: &str) -> Result<Session> {
        let s = self.session().await?;
        s.exec(command).await?;
        Ok(s)
    }

    /// Runs `command` with no stdin and collects its output and exit status.
    pub async fn run(&self, command: &str) -> Result<Output> {
        let s = self.exec(command).await?;
        s.stdin().shutdown_eof().await?;
        s.collect().await
    }

    /// [`Client::run`] with a time limit; on expiry the channel is closed and
    /// [`Error::Timeout`] returned.
    ///
    /// ```no_run
    /// # async fn demo(client: whelk_tokio::Client) -> Result<(), whelk_tokio::Error> {
    /// use std::time::Duration;
    /// match client.run_timeout("make test", Some(Duration::from_secs(60))).await {
    ///     Ok(out) => println!("exit {:?}", out.exit_status),
    ///     Err(whelk_tokio::Error::Timeout) => println!("took too long"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn run_timeout(&self, command: &str, limit: Option<Duration>) -> Result<Output> {
        let Some(limit) = limit else {
            return self.run(command).await;
        };
        let s = self.exec(command).await?;
        s.stdin().shutdown_eof().await?;
        match tokio::time::timeout(limit, s.collect()).await {
            Ok(r) => r,
            Err(_) => {
                s.close();
                Err(Error::Timeout)
            }
        }
    }

    /// Whether the connection is still up.
    #[must_use]
    pub fn is_connected(&self) -> bool {
        self.shared.lock().done.is_none()
    }

    /// Waits until the connection ended; returns why (e.g. "keepalive timeout: ...",
    /// "connection closed by peer").
    pub async fn closed(&self) -> String {
        wait_for(&self.shared, |g| g.done.clone()).await
    }

    /// Ends the connection (`SSH_MSG_DISCONNECT` by application).
    pub async fn disconnect(&self) {
        self.shared
            .lock()
            .conn
            .disconnect(whelk::DisconnectReason::BY_APPLICATION, "bye");
        self.shared.wake.notify_one();
        let _ = wait_for(&self.shared, |g| g.done.as_ref().map(|_| ())).await;
    }
}

/// A channel: a session (with [`Session::exec`], [`Session::shell`], ...) or a forwarded
/// connection. It is itself an `AsyncRead` (the channel's data: a command's stdout) and an
/// `AsyncWrite` (stdin; shutting down sends EOF), so one value carries a whole
/// connection; [`Session::stdout`], [`Session::stderr`] and [`Session::stdin`] give
/// separate handles. Dropping it closes the channel.
pub struct Session {
    shared: Arc<Shared<Conn>>,
    id: ChannelId,
    reader: ChannelReader<ClientConnection>,
    writer: ChannelWriter<ClientConnection>,
    x11: X11Slot,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("id", &self.id).finish()
    }
}

impl Session {
    pub(crate) fn new(shared: Arc<Shared<Conn>>, id: ChannelId, x11: X11Slot) -> Self {
        Self {
            x11,
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

    /// The connection's X11 forwarding state.
    pub(crate) fn x11_slot(&self) -> &X11Slot {
        &self.x11
    }

    pub(crate) async fn request(
        &self,
        what: &str,
        send: impl FnOnce(&mut ClientConnection) -> whelk::Result<whelk::RequestId>,
    ) -> Result<()> {
        {
            let mut g = self.shared.lock();
            send(&mut g.conn)?;
        }
        self.shared.wake.notify_one();
        let id = self.id;
        let ok = wait_for(&self.shared, |g| {
            let c = g.chan(id);
            c.results.pop_front().or_else(|| c.closed.then_some(false))
        })
        .await;
        if ok {
            Ok(())
        } else {
            Err(Error::Refused(what.to_string()))
        }
    }

    /// Runs `command` (waits for the server's answer).
    pub async fn exec(&self, command: &str) -> Result<()> {
        let id = self.id;
        self.request("exec", |c| c.exec(id, command.as_bytes()))
            .await
    }

    /// Starts the login shell.
    pub async fn shell(&self) -> Result<()> {
        let id = self.id;
        self.request("shell", |c| c.shell(id)).await
    }

    /// Starts a subsystem (e.g. `sftp`).
    pub async fn subsystem(&self, name: &str) -> Result<()> {
        let id = self.id;
        self.request("subsystem", |c| c.subsystem(id, name)).await
    }

    /// Sets an environment variable (servers accept only what they allow, e.g. sshd's
    /// `AcceptEnv`).
    pub async fn env(&self, name: &str, value: &str) -> Result<()> {
        let id = self.id;
        self.request("env", |c| c.env(id, name, value)).await
    }

    /// Asks for a pseudo-terminal.
    pub async fn request_pty(&self, term: &str, columns: u32, rows: u32) -> Result<()> {
        let id = self.id;
        self.request("pty-req", |c| {
            c.request_pty(id, term, columns, rows, bytes::Bytes::new())
        })
        .await
    }

    /// Tells the server the terminal size changed.
    pub fn window_change(&self, columns: u32, rows: u32) -> Result<()> {
        self.shared
            .lock()
            .conn
            .window_change(self.id, columns, rows)?;
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Sends a signal (`"TERM"`, `"INT"`...).
    pub fn signal(&self, name: &str) -> Result<()> {
        self.shared.lock().conn.signal(self.id, name)?;
        self.shared.wake.notify_one();
        Ok(())
    }

    /// The command's stdin; shutting it down sends EOF.
    #[must_use]
    pub fn stdin(&self) -> Stdin {
        Stdin(ChannelWriter::stdout(self.shared.clone(), self.id))
    }

    /// The command's stdout.
    #[must_use]
    pub fn stdout(&self) -> ChannelReader<ClientConnection> {
        ChannelReader::stdout(self.shared.clone(), self.id)
    }

    /// The command's stderr.
    #[must_use]
    pub fn stderr(&self) -> ChannelReader<ClientConnection> {
        ChannelReader::stderr(self.shared.clone(), self.id)
    }

    /// Waits until the server closed the channel; returns the exit status or signal.
    pub async fn wait(&self) -> Result<ExitStatus> {
        let id = self.id;
        wait_for(&self.shared, |g| {
            let c = g.chan(id);
            c.closed.then(|| ExitStatus {
                status: c.exit_status,
                signal: c.exit_signal.clone(),
            })
        })
        .await;
        let (status, signal) = {
            let mut g = self.shared.lock();
            let c = g.chan(id);
            (c.exit_status, c.exit_signal.clone())
        };
        Ok(ExitStatus { status, signal })
    }

    /// Reads stdout and stderr to the end and waits for the exit status.
    pub async fn collect(&self) -> Result<Output> {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let mut so = self.stdout();
        let mut se = self.stderr();
        let (a, b) = tokio::join!(so.read_to_end(&mut out), se.read_to_end(&mut err));
        a?;
        b?;
        let st = self.wait().await?;
        Ok(Output {
            stdout: out,
            stderr: err,
            exit_status: st.status,
            exit_signal: st.signal,
        })
    }

    /// Bytes received on this channel and not read yet (stdout and stderr). The receive
    /// window bounds it: a reader that stops reading stops the sender.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.shared.lock().conn.channels().buffered(self.id)
    }

    /// Bytes written to this channel and not sent yet. Writes block (return `Pending`)
    /// once the channel's send buffer is full or the peer's window is closed.
    #[must_use]
    pub fn queued(&self) -> usize {
        self.shared.lock().conn.channels().queued(self.id)
    }

    /// Closes the channel.
    pub fn close(&self) {
        let _ = self.shared.lock().conn.close(self.id);
        self.shared.wake.notify_one();
    }
}

impl Drop for Session {
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

impl AsyncRead for Session {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().reader).poll_read(cx, buf)
    }
}

impl AsyncWrite for Session {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().writer).poll_write(cx, buf)
    }

    fn poll_flush(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().writer).poll_flush(cx)
    }

    fn poll_shutdown(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().writer).poll_shutdown(cx)
    }
}

/// The channel a jumped-to connection runs over; it keeps the hop's connection up (even
/// when the application dropped its [`Client`]) for as long as the channel is in use.
struct HopStream {
    channel: Session,
    _hop: Client,
}

impl AsyncRead for HopStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().channel).poll_read(cx, buf)
    }
}

impl AsyncWrite for HopStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().channel).poll_write(cx, buf)
    }

    fn poll_flush(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().channel).poll_flush(cx)
    }

    fn poll_shutdown(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().channel).poll_shutdown(cx)
    }
}

/// A session's stdin: [`tokio::io::AsyncWrite`]; shutting it down sends EOF.
#[derive(Debug)]
pub struct Stdin(ChannelWriter<ClientConnection>);

impl Stdin {
    /// Sends EOF.
    pub async fn shutdown_eof(mut self) -> Result<()> {
        tokio::io::AsyncWriteExt::shutdown(&mut self.0).await?;
        Ok(())
    }
}

impl AsyncWrite for Stdin {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}
