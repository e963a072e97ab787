//! Port forwarding on the client: local (`ssh -L`), remote (`ssh -R`) and dynamic
//! (`ssh -D`, in [`crate::socks`]), over TCP and UNIX sockets in any mix.
//!
//! Each forwarding returns a handle: [`LocalForward`] (a listener here; closing it stops
//! accepting, connections already carried keep going, as with `ssh -O cancel`) or
//! [`RemoteForward`] (a listener on the server; closing it sends
//! `cancel-tcpip-forward` / `cancel-streamlocal-forward@openssh.com`). Dropping a handle
//! closes it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use whelk::GlobalRequestKind;

use crate::client::{Client, Conn, Session};
use crate::driver::Shared;
use crate::error::{Error, Result};
use crate::wait_for;

/// One end of a forwarding: a TCP host and port, or a UNIX socket path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// A TCP address (a name or an IP literal) and port.
    Tcp {
        /// Host name or address.
        host: String,
        /// Port (0 when listening: any free port).
        port: u16,
    },
    /// A UNIX-domain socket path.
    Unix(PathBuf),
}

impl Endpoint {
    /// A TCP endpoint.
    #[must_use]
    pub fn tcp(host: &str, port: u16) -> Self {
        Self::Tcp {
            host: host.to_string(),
            port,
        }
    }

    /// A UNIX socket endpoint.
    #[must_use]
    pub fn unix(path: impl Into<PathBuf>) -> Self {
        Self::Unix(path.into())
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Self::Tcp { host, port } => write!(f, "{host}:{port}"),
            Self::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A byte stream to a local endpoint.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// Connects to a local endpoint (TCP_NODELAY on TCP).
pub(crate) async fn connect_local(target: &Endpoint) -> std::io::Result<Box<dyn Io>> {
    match target {
        Endpoint::Tcp { host, port } => {
            let s = TcpStream::connect((host.as_str(), *port)).await?;
            s.set_nodelay(true)?;
            Ok(Box::new(s))
        }
        Endpoint::Unix(p) => Ok(Box::new(UnixStream::connect(p).await?)),
    }
}

/// Copies both ways between a local stream and a channel until both directions ended
/// (EOF is passed on in each direction); then the channel is closed.
pub(crate) async fn splice<S: AsyncRead + AsyncWrite + Unpin>(mut sock: S, mut ch: Session) {
    let _ = tokio::io::copy_bidirectional(&mut sock, &mut ch).await;
}

/// Where the server listens for a remote forwarding, as the server reports it in
/// `forwarded-*` channels.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Remote {
    Tcp(String, u32),
    Unix(String),
}

/// The remote forwardings: what the server listens on, and where its connections go.
#[derive(Debug, Clone, Default)]
pub(crate) struct RemoteRoutes(Arc<Mutex<Vec<(Remote, Endpoint)>>>);

impl RemoteRoutes {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Remote, Endpoint)>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The target for a `forwarded-tcpip` channel: the exact address and port, else the
    /// port alone (servers may report the bound address differently).
    pub(crate) fn find_tcp(&self, address: &[u8], port: u32) -> Option<Endpoint> {
        let routes = self.lock();
        let by_port = |exact: bool| {
            routes.iter().find_map(|(r, t)| match r {
                Remote::Tcp(a, p) if *p == port && (!exact || a.as_bytes() == address) => {
                    Some(t.clone())
                }
                _ => None,
            })
        };
        by_port(true).or_else(|| by_port(false))
    }

    /// The target for a `forwarded-streamlocal@openssh.com` channel.
    pub(crate) fn find_unix(&self, path: &[u8]) -> Option<Endpoint> {
        self.lock().iter().find_map(|(r, t)| match r {
            Remote::Unix(p) if p.as_bytes() == path => Some(t.clone()),
            _ => None,
        })
    }

    fn add(&self, remote: Remote, target: Endpoint) {
        self.lock().push((remote, target));
    }

    fn remove(&self, remote: &Remote) {
        self.lock().retain(|(r, _)| r != remote);
    }
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    async fn bind(listen: &Endpoint) -> Result<Self> {
        Ok(match listen {
            Endpoint::Tcp { host, port } => {
                Self::Tcp(TcpListener::bind((host.as_str(), *port)).await?)
            }
            Endpoint::Unix(p) => Self::Unix(UnixListener::bind(p)?),
        })
    }

    async fn accept(&self) -> std::io::Result<Box<dyn Io>> {
        match self {
            Self::Tcp(l) => {
                let (s, _) = l.accept().await?;
                s.set_nodelay(true)?;
                Ok(Box::new(s))
            }
            Self::Unix(l) => Ok(Box::new(l.accept().await?.0)),
        }
    }
}

/// A listener here whose connections are carried through the server: local forwarding
/// (`ssh -L`) or dynamic forwarding (`ssh -D`). Closing (or dropping) it stops accepting
/// and removes a UNIX socket file it created; connections already accepted go on. While it
/// listens it keeps the SSH connection up.
#[derive(Debug)]
pub struct LocalForward {
    addr: Option<SocketAddr>,
    path: Option<PathBuf>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl LocalForward {
    /// The bound TCP address (`None` for a UNIX socket).
    #[must_use]
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    /// The UNIX socket path (`None` for TCP).
    #[must_use]
    pub fn local_path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Stops listening; when it returns the listening socket is closed.
    pub async fn close(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        if let Some(p) = self.path.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Drop for LocalForward {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A listener on the server whose connections come back here: remote forwarding
/// (`ssh -R`). Closing (or dropping) it cancels the forwarding on the server.
pub struct RemoteForward {
    shared: Arc<Shared<Conn>>,
    routes: RemoteRoutes,
    remote: Remote,
    open: bool,
}

impl std::fmt::Debug for RemoteForward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteForward")
            .field("remote", &self.remote)
            .field("open", &self.open)
            .finish_non_exhaustive()
    }
}

impl RemoteForward {
    /// The port the server bound (with port 0 asked for: the one it picked); `None` for a
    /// UNIX socket.
    #[must_use]
    pub fn remote_port(&self) -> Option<u16> {
        match &self.remote {
            Remote::Tcp(_, p) => u16::try_from(*p).ok(),
            Remote::Unix(_) => None,
        }
    }

    /// Where the server listens.
    #[must_use]
    pub fn remote_addr(&self) -> Endpoint {
        match &self.remote {
            Remote::Tcp(a, p) => Endpoint::tcp(a, u16::try_from(*p).unwrap_or(0)),
            Remote::Unix(p) => Endpoint::unix(p),
        }
    }

    /// Cancels the forwarding (`cancel-tcpip-forward` /
    /// `cancel-streamlocal-forward@openssh.com`); connections in progress go on.
    pub fn close(&mut self) {
        if !std::mem::take(&mut self.open) {
            return;
        }
        self.routes.remove(&self.remote);
        let kind = match &self.remote {
            Remote::Tcp(a, p) => GlobalRequestKind::CancelTcpipForward {
                address: a.clone().into(),
                port: *p,
            },
            Remote::Unix(p) => GlobalRequestKind::CancelStreamlocalForward {
                socket_path: p.clone().into(),
            },
        };
        let mut g = self.shared.lock();
        if g.done.is_none() {
            let _ = g.conn.global_request(kind, false);
        }
        drop(g);
        self.shared.wake.notify_one();
    }
}

impl Drop for RemoteForward {
    fn drop(&mut self) {
        self.close();
    }
}

fn path_text(p: &Path) -> Result<String> {
    p.to_str()
        .map(str::to_string)
        .ok_or_else(|| Error::Refused(format!("socket path is not UTF-8: {}", p.display())))
}

impl Client {
    /// Local port forwarding (`ssh -L listen:host:port`): listens on `listen` (e.g.
    /// `"127.0.0.1:0"`) and carries each connection to `host:port` as the server sees it
    /// (`direct-tcpip`).
    pub async fn forward_local(&self, listen: &str, host: &str, port: u16) -> Result<LocalForward> {
        let addr: SocketAddr = match listen.parse() {
            Ok(a) => a,
            Err(_) => tokio::net::lookup_host(listen)
                .await?
                .next()
                .ok_or_else(|| Error::Refused(format!("cannot resolve {listen}")))?,
        };
        self.forward_local_to(
            Endpoint::tcp(&addr.ip().to_string(), addr.port()),
            Endpoint::tcp(host, port),
        )
        .await
    }

    /// Local forwarding in any mix of TCP and UNIX sockets: listens on `listen` here and
    /// carries each connection to `target` on the server's side (`direct-tcpip` or
    /// `direct-streamlocal@openssh.com`).
    pub async fn forward_local_to(
        &self,
        listen: Endpoint,
        target: Endpoint,
    ) -> Result<LocalForward> {
        let listener = Listener::bind(&listen).await?;
        let (addr, path) = match &listener {
            Listener::Tcp(l) => (Some(l.local_addr()?), None),
            Listener::Unix(_) => match &listen {
                Endpoint::Unix(p) => (None, Some(p.clone())),
                Endpoint::Tcp { .. } => (None, None),
            },
        };
        if let Endpoint::Unix(p) = &target {
            path_text(p)?;
        }
        let client = self.clone();
        let task = tokio::spawn(async move {
            while let Ok(sock) = listener.accept().await {
                let client = client.clone();
                let target = target.clone();
                tokio::spawn(async move {
                    let ch = match &target {
                        Endpoint::Tcp { host, port } => client.direct_tcpip(host, *port).await,
                        Endpoint::Unix(p) => match path_text(p) {
                            Ok(p) => client.direct_streamlocal(&p).await,
                            Err(e) => Err(e),
                        },
                    };
                    if let Ok(ch) = ch {
                        splice(sock, ch).await;
                    }
                });
            }
        });
        Ok(LocalForward {
            addr,
            path,
            task: Some(task),
        })
    }

    /// Remote port forwarding (`ssh -R address:port:target_host:target_port`): asks the
    /// server to listen on `address:port` (port 0: the server picks, see
    /// [`RemoteForward::remote_port`]) and carries each connection it forwards to
    /// `target_host:target_port` from here.
    pub async fn forward_remote(
        &self,
        address: &str,
        port: u16,
        target_host: &str,
        target_port: u16,
    ) -> Result<RemoteForward> {
        self.forward_remote_to(
            Endpoint::tcp(address, port),
            Endpoint::tcp(target_host, target_port),
        )
        .await
    }

    /// Remote forwarding in any mix of TCP and UNIX sockets: the server listens on
    /// `remote` (`tcpip-forward` or `streamlocal-forward@openssh.com`) and each
    /// connection it forwards is carried to `target` here.
    pub async fn forward_remote_to(
        &self,
        remote: Endpoint,
        target: Endpoint,
    ) -> Result<RemoteForward> {
        let (kind, what) = match &remote {
            Endpoint::Tcp { host, port } => (
                GlobalRequestKind::TcpipForward {
                    address: host.clone().into(),
                    port: u32::from(*port),
                },
                "tcpip-forward",
            ),
            Endpoint::Unix(p) => (
                GlobalRequestKind::StreamlocalForward {
                    socket_path: path_text(p)?.into(),
                },
                "streamlocal-forward@openssh.com",
            ),
        };
        let request = self.shared.lock().conn.global_request(kind, true)?;
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
            return Err(Error::Refused(format!("{what} {remote}")));
        }
        let remote = match remote {
            Endpoint::Tcp { host, port } => Remote::Tcp(host, bound.unwrap_or(u32::from(port))),
            Endpoint::Unix(p) => Remote::Unix(path_text(&p)?),
        };
        self.routes.add(remote.clone(), target);
        Ok(RemoteForward {
            shared: self.shared.clone(),
            routes: self.routes.clone(),
            remote,
            open: true,
        })
    }

    /// Dynamic forwarding (`ssh -D listen`): a SOCKS 4, 4a and 5 proxy on `listen` (e.g.
    /// `"127.0.0.1:0"`) whose CONNECT requests are carried through the server
    /// (`direct-tcpip`; domain names are resolved by the server). No SOCKS
    /// authentication, no BIND or UDP.
    pub async fn forward_dynamic(&self, listen: &str) -> Result<LocalForward> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let client = self.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let _ = sock.set_nodelay(true);
                let client = client.clone();
                tokio::spawn(crate::socks::serve(client, sock));
            }
        });
        Ok(LocalForward {
            addr: Some(addr),
            path: None,
            task: Some(task),
        })
    }
}
