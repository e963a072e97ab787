//! The async client: [`connect`], then [`Client::run`], [`Client::exec`] or
//! [`Client::session`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use whelk::{
    Answer, ChannelEvent, ChannelId, ChannelOpenFailureReason, ClientConnection, Event,
    HostKeyDecision, KeySigner, PrivateKey, PromptKind, PublicKey,
};
use whelk_keys::known_hosts::{HostKeyStatus, KnownHosts};
use zeroize::Zeroizing;

use crate::channel::{ChannelReader, ChannelWriter};
use crate::driver::{Hooks, Inner, Shared, drive};
use crate::error::{Error, Result};
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
    /// The key (`None` if whelk-keys cannot parse the blob, e.g. a certificate).
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
    /// `$HOME/.ssh/known_hosts`). Unknown, changed and revoked keys are rejected.
    KnownHostsFile(PathBuf),
    /// Trust what these `known_hosts` lines list for the host.
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

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The protocol settings (user, algorithms, limits).
    pub ssh: whelk::ClientConfig,
    /// Keys tried for publickey authentication, in order.
    pub keys: Vec<PrivateKey>,
    /// The password for `password` (and single-prompt keyboard-interactive)
    /// authentication.
    pub password: Option<Zeroizing<String>>,
    /// The host key check.
    pub host_key: HostKeyPolicy,
    /// How long connecting and authenticating may take (default 30 s).
    pub connect_timeout: Option<Duration>,
}

impl ClientConfig {
    /// Defaults, logging in as `user`.
    #[must_use]
    pub fn new(user: &str) -> Self {
        Self {
            ssh: whelk::ClientConfig::new(user),
            keys: Vec::new(),
            password: None,
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

    /// Sets the host key policy.
    #[must_use]
    pub fn host_key(mut self, policy: HostKeyPolicy) -> Self {
        self.host_key = policy;
        self
    }
}

type Conn = ClientConnection;

enum Trust {
    Known(KnownHosts),
    Callback(HostKeyCallback),
    Any,
}

struct ClientHooks {
    host: String,
    port: u16,
    trust: Trust,
    password: Option<Zeroizing<String>>,
    password_used: bool,
    rejected: Option<String>,
    forwards: Forwards,
}

/// Remote forwards: (address, bound port) -> local target.
type Forwards = Arc<std::sync::Mutex<Vec<(String, u32, String, u16)>>>;

impl ClientHooks {
    fn trusted(&self, algorithm: &str, blob: &[u8]) -> bool {
        let key = PublicKey::from_blob(blob).ok();
        match &self.trust {
            Trust::Any => true,
            Trust::Known(kh) => key.is_some_and(|k| {
                kh.lookup(&self.host, self.port).check(&k) == HostKeyStatus::Trusted
            }),
            Trust::Callback(cb) => cb(&HostKeyInfo {
                host: self.host.clone(),
                port: self.port,
                algorithm: algorithm.to_string(),
                key,
                blob: blob.to_vec(),
            }),
        }
    }
}

impl Hooks<Conn> for ClientHooks {
    fn event(&mut self, shared: &Arc<Shared<Conn>>, inner: &mut Inner<Conn>, event: Event) {
        match event {
            Event::HostKey(check) => {
                let ok = self.trusted(&check.algorithm, &check.host_key);
                let decision = if ok {
                    HostKeyDecision::Accept
                } else {
                    self.rejected = Some(format!(
                        "{} key of {}:{} is not trusted",
                        check.algorithm, self.host, self.port
                    ));
                    HostKeyDecision::Reject
                };
                let _ = inner.conn.respond_host_key(check, decision);
                if let Some(why) = &self.rejected
                    && inner.done.is_none()
                {
                    inner.done = Some(format!("host key: {why}"));
                }
            }
            Event::Credentials(req) => {
                let answer = match (&req.kind, &self.password) {
                    (PromptKind::Password, Some(p)) if !self.password_used => {
                        self.password_used = true;
                        Answer::Password(p.clone())
                    }
                    _ => Answer::Skip,
                };
                let _ = inner.conn.respond_credentials(req, answer);
            }
            Event::Channel(ChannelEvent::OpenRequest(incoming)) => {
                let target = match incoming.kind() {
                    whelk::ChannelOpenKind::ForwardedTcpip {
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
                match target {
                    Some((host, port)) => {
                        if let Ok(id) = inner.conn.accept_channel(incoming) {
                            inner.chan(id).open = Some(Ok(()));
                            let session = Session {
                                shared: shared.clone(),
                                id,
                            };
                            tokio::spawn(async move {
                                if let Ok(sock) = TcpStream::connect((host.as_str(), port)).await {
                                    let _ = sock.set_nodelay(true);
                                    splice(sock, &session).await;
                                }
                            });
                        }
                    }
                    None => {
                        let _ = inner.conn.reject_channel(
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

/// Connects to `host:port` (TCP_NODELAY), checks the host key and authenticates.
pub async fn connect(host: &str, port: u16, config: ClientConfig) -> Result<Client> {
    let limit = config.connect_timeout;
    let fut = connect_inner(host, port, config);
    match limit {
        Some(t) => tokio::time::timeout(t, fut)
            .await
            .map_err(|_| Error::Timeout)?,
        None => fut.await,
    }
}

async fn connect_inner(host: &str, port: u16, config: ClientConfig) -> Result<Client> {
    let trust = match config.host_key {
        HostKeyPolicy::AcceptAny => Trust::Any,
        HostKeyPolicy::Callback(cb) => Trust::Callback(cb),
        HostKeyPolicy::KnownHosts(text) => Trust::Known(KnownHosts::parse(&text)),
        HostKeyPolicy::KnownHostsFile(path) => {
            let text = tokio::fs::read_to_string(&path).await.unwrap_or_default();
            Trust::Known(KnownHosts::parse(&text))
        }
    };
    let stream = TcpStream::connect((host, port)).await?;
    stream.set_nodelay(true)?;
    let mut conn = ClientConnection::new(config.ssh, os_rng()?, Instant::now())?;
    for key in config.keys {
        conn.add_identity(Box::new(KeySigner::new(key, os_rng()?)))?;
    }
    let shared = Shared::new(conn);
    let forwards = Forwards::default();
    let hooks = ClientHooks {
        host: host.to_string(),
        port,
        trust,
        password: config.password,
        password_used: false,
        rejected: None,
        forwards: forwards.clone(),
    };
    tokio::spawn(drive(shared.clone(), stream, hooks));
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
    Ok(Client {
        _guard: Arc::new(Guard(shared.clone())),
        shared,
        forwards,
    })
}

impl Client {
    /// Opens a session channel.
    pub async fn session(&self) -> Result<Session> {
        let id = {
            let mut g = self.shared.lock();
            let id = g.conn.open_session()?;
            g.chan(id);
            id
        };
        self.open_wait(id).await
    }

    /// Opens a `direct-tcpip` channel to `host:port` as seen from the server (one
    /// connection of local port forwarding). Its [`Session::stdin`] writes to the remote
    /// end, its [`Session::stdout`] reads from it.
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

    /// Local port forwarding (`ssh -L`): listens on `listen` and carries each connection
    /// to `host:port` through the server. Returns the bound address and the forwarding
    /// task (abort it to stop; it keeps the connection alive while it runs).
    pub async fn forward_local(
        &self,
        listen: &str,
        host: &str,
        port: u16,
    ) -> Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let client = self.clone();
        let host = host.to_string();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let _ = sock.set_nodelay(true);
                let client = client.clone();
                let host = host.clone();
                tokio::spawn(async move {
                    if let Ok(ch) = client.direct_tcpip(&host, port).await {
                        splice(sock, &ch).await;
                    }
                });
            }
        });
        Ok((addr, task))
    }

    /// Remote port forwarding (`ssh -R`): asks the server to listen on `address:port`
    /// (port 0: the server picks) and carries each connection it forwards to
    /// `target_host:target_port` from here. Returns the port the server bound.
    pub async fn forward_remote(
        &self,
        address: &str,
        port: u16,
        target_host: &str,
        target_port: u16,
    ) -> Result<u32> {
        let request = {
            let mut g = self.shared.lock();
            g.conn.tcpip_forward(address, u32::from(port))?
        };
        self.shared.wake.notify_one();
        let (ok, bound) = wait_for(&self.shared, |g| {
            if let Some(i) = g.global_results.iter().position(|r| r.0 == request) {
                let (_, ok, bound) = g.global_results.swap_remove(i);
                return Some((ok, bound));
            }
            g.done.as_ref().map(|_| (false, None))
        })
        .await;
        if !ok {
            return Err(Error::Refused("tcpip-forward".into()));
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
        Ok(bound)
    }

    async fn open_wait(&self, id: ChannelId) -> Result<Session> {
        self.shared.wake.notify_one();
        wait_for(&self.shared, |g| match &g.chan(id).open {
            Some(Ok(())) => Some(Ok(())),
            Some(Err(why)) => Some(Err(Error::Refused(why.clone()))),
            None => g.done.clone().map(|why| Err(Error::Closed(why))),
        })
        .await?;
        Ok(Session {
            shared: self.shared.clone(),
            id,
        })
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

/// A session channel.
pub struct Session {
    shared: Arc<Shared<Conn>>,
    id: ChannelId,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("id", &self.id).finish()
    }
}

impl Session {
    /// The channel.
    #[must_use]
    pub fn id(&self) -> ChannelId {
        self.id
    }

    async fn request(
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

impl tokio::io::AsyncWrite for Stdin {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

/// Copies both ways between a socket and a channel until both directions ended.
async fn splice(sock: TcpStream, ch: &Session) {
    let (mut rd, mut wr) = sock.into_split();
    let mut to_remote = ch.stdin();
    let mut from_remote = ch.stdout();
    let up = async {
        let _ = tokio::io::copy(&mut rd, &mut to_remote).await;
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut to_remote).await;
    };
    let down = async {
        let _ = tokio::io::copy(&mut from_remote, &mut wr).await;
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut wr).await;
    };
    tokio::join!(up, down);
}
