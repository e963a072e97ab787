//! A minimal async server: [`listen`] with a [`Handler`] that decides authentication and
//! runs `exec` requests.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use whelk::{
    AuthRequest, ChannelEvent, ChannelId, ChannelOpenFailureReason, ChannelOpenKind,
    ChannelRequestKind, Decision, Event, ServerConnection,
};

use crate::channel::{ChannelReader, ChannelWriter};
use crate::driver::{Hooks, Inner, Shared, drive};
use crate::error::Result;
use crate::os_rng;

type Conn = ServerConnection;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The protocol settings (host keys, authentication, algorithms, limits).
    pub ssh: whelk::ServerConfig,
}

impl ServerConfig {
    /// Defaults with these host keys.
    #[must_use]
    pub fn new(host_keys: Vec<whelk::PrivateKey>) -> Self {
        Self {
            ssh: whelk::ServerConfig::new(host_keys),
        }
    }
}

/// What the application decides: authentication and commands. Each call runs in its own
/// task, so it may take its time (a database lookup, a long command).
pub trait Handler: Send + Sync + 'static {
    /// Decides an authentication request (publickey signatures are already verified;
    /// [`whelk::AuthorizedKeysPolicy`] decides from an `authorized_keys` text).
    fn auth(&self, request: &AuthRequest) -> impl Future<Output = Decision> + Send;

    /// Runs `command` for an `exec` request; returns its exit status. The session's
    /// stdin, stdout and stderr are async streams; EOF and CLOSE follow the return.
    fn exec(&self, command: String, session: ServerSession) -> impl Future<Output = u32> + Send;
}

/// The server's side of a session running a command.
pub struct ServerSession {
    shared: Arc<Shared<Conn>>,
    id: ChannelId,
}

impl std::fmt::Debug for ServerSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSession")
            .field("id", &self.id)
            .finish()
    }
}

impl ServerSession {
    /// What the client sends (its stdin).
    #[must_use]
    pub fn stdin(&self) -> ChannelReader<ServerConnection> {
        ChannelReader::stdout(self.shared.clone(), self.id)
    }

    /// The command's stdout.
    #[must_use]
    pub fn stdout(&self) -> ChannelWriter<ServerConnection> {
        ChannelWriter::stdout(self.shared.clone(), self.id)
    }

    /// The command's stderr.
    #[must_use]
    pub fn stderr(&self) -> ChannelWriter<ServerConnection> {
        ChannelWriter::stderr(self.shared.clone(), self.id)
    }
}

struct ServerHooks<H> {
    handler: Arc<H>,
}

impl<H: Handler> Hooks<Conn> for ServerHooks<H> {
    fn event(&mut self, shared: &Arc<Shared<Conn>>, inner: &mut Inner<Conn>, event: Event) {
        match event {
            Event::AuthRequest(req) => {
                let handler = self.handler.clone();
                let shared = shared.clone();
                tokio::spawn(async move {
                    let decision = handler.auth(&req).await;
                    let _ = shared
                        .lock()
                        .conn
                        .respond_auth(Instant::now(), req, decision);
                    shared.wake.notify_one();
                });
            }
            Event::Channel(ChannelEvent::OpenRequest(incoming)) => {
                if matches!(incoming.kind(), ChannelOpenKind::Session) {
                    if let Ok(id) = inner.conn.accept_channel(incoming) {
                        inner.chan(id);
                    }
                } else {
                    let _ = inner.conn.reject_channel(
                        incoming,
                        ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED,
                        "only sessions",
                    );
                }
            }
            Event::Channel(ChannelEvent::Request { id, kind, token }) => {
                let ok = match kind {
                    ChannelRequestKind::Exec { command } => {
                        let command = String::from_utf8_lossy(&command).into_owned();
                        let handler = self.handler.clone();
                        let shared = shared.clone();
                        tokio::spawn(async move {
                            let session = ServerSession {
                                shared: shared.clone(),
                                id,
                            };
                            let status = handler.exec(command, session).await;
                            let mut g = shared.lock();
                            let _ = g.conn.exit_status(id, status);
                            let _ = g.conn.eof(id);
                            let _ = g.conn.close(id);
                            drop(g);
                            shared.wake.notify_one();
                        });
                        true
                    }
                    ChannelRequestKind::PtyReq { .. } | ChannelRequestKind::WindowChange { .. } => {
                        true
                    }
                    _ => false,
                };
                if let Some(token) = token {
                    let _ = inner.conn.respond_request(token, ok);
                }
            }
            _ => {}
        }
    }
}

/// A listening server; dropping it (or [`Server::shutdown`]) stops accepting.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Server {
    /// The address it listens on.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections (running ones go on).
    pub fn shutdown(&self) {
        self.task.abort();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Listens on `addr` and serves every connection with `handler`, one driver task each.
pub async fn listen<H: Handler>(addr: &str, config: ServerConfig, handler: H) -> Result<Server> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let handler = Arc::new(handler);
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            if stream.set_nodelay(true).is_err() {
                continue;
            }
            let Ok(rng) = os_rng() else { continue };
            let Ok(conn) = ServerConnection::new(config.ssh.clone(), rng, Instant::now()) else {
                continue;
            };
            let shared = Shared::new(conn);
            let hooks = ServerHooks {
                handler: handler.clone(),
            };
            tokio::spawn(drive(shared, stream, hooks));
        }
    });
    Ok(Server { addr: local, task })
}
