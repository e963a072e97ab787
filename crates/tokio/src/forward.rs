//! Port forwarding on the client: local (`ssh -L`), remote (`ssh -R`) and dynamic
//! (`ssh -D`, in [`crate::socks`]), over TCP and UNIX sockets in any mix.
//!
//! Each forwarding returns a handle: [`LocalForward`] (a listener here; closing it stops
//! accepting, connections already carried keep going, as with `ssh -O cancel`) or
//! [`RemoteForward`] (a listener on the server; closing it sends
//! `cancel-tcpip-forward` / `cancel-streamlocal-forward@openssh.com`). Dropping a handle
//! closes it.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use whelk::forward::{RemoteListener, RouteId, socket_path};

use crate::client::{Client, Conn, Session};
use crate::driver::Shared;
use crate::error::{Error, Result};
use crate::socket_file::{SocketFile, bind_unix};
use crate::wait_for;

pub use whelk::forward::Endpoint;

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

/// Takes a TCP listener out of the listening state at once: from now on connections to
/// its address are refused, and a pending `accept` fails (which ends the accept loops).
/// Dropping the listener is not enough for that: a child process started by any thread
/// of this process holds a copy of every descriptor until it execs, and meanwhile the
/// socket still listens (a connection made then is accepted by the kernel); and a tokio
/// task that owns the listener, once aborted, drops it only later. `shutdown` acts on
/// the socket itself, whoever holds it. Systems that refuse to shut a listening socket
/// down return the error; the listener then stops when its last copy is closed.
///
/// UNIX listeners are not shut down: once their socket file is removed nothing can
/// connect to them anyway, and tokio's `accept` on a shut-down UNIX listener would spin
/// (the kernel keeps answering `EAGAIN` while reporting the socket readable).
pub(crate) fn stop_accepting(listener: &TcpListener) -> std::io::Result<()> {
    rustix::net::shutdown(listener, rustix::net::Shutdown::Both).map_err(Into::into)
}

/// The remote forwardings ([`whelk::forward::RemoteRoutes`]), shared by the client's
/// handles and its connection task.
#[derive(Debug, Clone, Default)]
pub(crate) struct RemoteRoutes(Arc<Mutex<whelk::forward::RemoteRoutes>>);

impl RemoteRoutes {
    fn lock(&self) -> std::sync::MutexGuard<'_, whelk::forward::RemoteRoutes> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The target for a `forwarded-tcpip` channel.
    pub(crate) fn find_tcp(&self, address: &[u8], port: u32) -> Option<Endpoint> {
        self.lock().find_tcp(address, port)
    }

    /// The target for a `forwarded-streamlocal@openssh.com` channel.
    pub(crate) fn find_unix(&self, path: &[u8]) -> Option<Endpoint> {
        self.lock().find_unix(path)
    }
}

enum Listener {
    /// Shared with the [`LocalForward`] (to shut it down).
    Tcp(Arc<TcpListener>),
    Unix(UnixListener),
}

impl Listener {
    /// Binds `listen`; a UNIX socket with mode 0600 (ssh's `StreamLocalBindMask 0177`),
    /// returning its file to remove when the forwarding stops.
    async fn bind(listen: &Endpoint) -> Result<(Self, Option<SocketFile>)> {
        Ok(match listen {
            Endpoint::Tcp { host, port } => {
                let l = TcpListener::bind((host.as_str(), *port)).await?;
                (Self::Tcp(Arc::new(l)), None)
            }
            Endpoint::Unix(p) => {
                let (l, file) = bind_unix(p, false)?;
                (Self::Unix(l), Some(file))
            }
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
    /// The UNIX socket file, removed when the forwarding stops.
    unix: Option<SocketFile>,
    /// The TCP listener, shared with the accept task (to shut it down).
    tcp: Option<Arc<TcpListener>>,
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
        self.unix.as_ref().map(SocketFile::path)
    }

    /// Stops listening; when it returns the listening socket is closed (and a UNIX
    /// socket file removed). Dropping it does the same, except that the socket is
    /// closed a little later; either way no connection is accepted any more, even if a
    /// child process still holds a copy of the socket.
    pub async fn close(mut self) {
        let task = self.task.take();
        self.stop();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }

    fn stop(&mut self) {
        if let Some(l) = &self.tcp {
            let _ = stop_accepting(l);
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
        if let Some(file) = self.unix.take() {
            file.remove_if_ours();
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
    remote: RemoteListener,
    route: RouteId,
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
        self.remote.port()
    }

    /// Where the server listens.
    #[must_use]
    pub fn remote_addr(&self) -> Endpoint {
        self.remote.endpoint()
    }

    /// Cancels the forwarding (`cancel-tcpip-forward` /
    /// `cancel-streamlocal-forward@openssh.com`); connections in progress go on. When the
    /// same listener was forwarded again on this connection, connections go to the
    /// remaining forwarding's target instead, and the server's listener stays.
    pub fn close(&mut self) {
        if !std::mem::take(&mut self.open) {
            return;
        }
        let Some(listener) = self.routes.lock().remove(self.route) else {
            return;
        };
        let kind = listener.cancel_request();
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
    socket_path(p).ok_or_else(|| not_utf8(&Endpoint::Unix(p.to_path_buf())))
}

fn not_utf8(e: &Endpoint) -> Error {
    Error::Refused(format!("socket path is not UTF-8: {e}"))
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
        let (listener, unix) = Listener::bind(&listen).await?;
        let (addr, tcp) = match &listener {
            Listener::Tcp(l) => (Some(l.local_addr()?), Some(l.clone())),
            Listener::Unix(_) => (None, None),
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
            unix,
            tcp,
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
        let what = match &remote {
            Endpoint::Tcp { .. } => "tcpip-forward",
            Endpoint::Unix(_) => "streamlocal-forward@openssh.com",
        };
        let kind = RemoteListener::request(&remote).ok_or_else(|| not_utf8(&remote))?;
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
        let remote =
            RemoteListener::bound(remote.clone(), bound).ok_or_else(|| not_utf8(&remote))?;
        let route = self.routes.lock().add(remote.clone(), target);
        Ok(RemoteForward {
            shared: self.shared.clone(),
            routes: self.routes.clone(),
            remote,
            route,
            open: true,
        })
    }

    /// Dynamic forwarding (`ssh -D listen`): a SOCKS 4, 4a and 5 proxy on `listen` (e.g.
    /// `"127.0.0.1:0"`) whose CONNECT requests are carried through the server
    /// (`direct-tcpip`; domain names are resolved by the server). No SOCKS
    /// authentication, no BIND or UDP.
    pub async fn forward_dynamic(&self, listen: &str) -> Result<LocalForward> {
        let listener = Arc::new(TcpListener::bind(listen).await?);
        let addr = listener.local_addr()?;
        let client = self.clone();
        let accepting = listener.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = accepting.accept().await {
                let _ = sock.set_nodelay(true);
                let client = client.clone();
                tokio::spawn(crate::socks::serve(client, sock));
            }
        });
        Ok(LocalForward {
            addr: Some(addr),
            unix: None,
            tcp: Some(listener),
            task: Some(task),
        })
    }
}
