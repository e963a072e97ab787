//! Port forwarding on the client: local (`ssh -L`), remote (`ssh -R`) and dynamic
//! (`ssh -D`, SOCKS in [`crate::socks`]), over TCP and UNIX sockets in any mix.
//!
//! The channels: `direct-tcpip` and `forwarded-tcpip` (RFC 4254 §7), and OpenSSH's
//! `direct-streamlocal@openssh.com` / `forwarded-streamlocal@openssh.com` with the global
//! requests `streamlocal-forward@openssh.com` / `cancel-streamlocal-forward@openssh.com`
//! (OpenSSH PROTOCOL §2.4).
//!
//! Each forwarding returns a handle: [`LocalForward`] (a listener here, with a thread
//! blocked in `accept`; closing it stops accepting, connections already carried keep
//! going, as with `ssh -O cancel`) or [`RemoteForward`] (a listener on the server; closing
//! it cancels it there). Dropping a handle closes it. Each carried connection uses two
//! threads, one per direction.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use std::ops::DerefMut;

use whelk::forward::{RemoteListener, RouteId, socket_path};
use whelk::{Connection, GlobalRequestKind};

use crate::channel::{ChanRef, ChannelReader, ChannelWriter, Stream};
use crate::client::{Client, Session};
use crate::error::{Error, Result};
use crate::socket_file::{self, SocketFile, bind_unix};

pub use whelk::forward::Endpoint;

/// A connected local socket, TCP or UNIX.
#[derive(Debug)]
pub(crate) enum LocalStream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl LocalStream {
    fn try_clone(&self) -> std::io::Result<Self> {
        Ok(match self {
            Self::Tcp(s) => Self::Tcp(s.try_clone()?),
            Self::Unix(s) => Self::Unix(s.try_clone()?),
        })
    }

    fn shutdown_write(&self) {
        let _ = match self {
            Self::Tcp(s) => s.shutdown(Shutdown::Write),
            Self::Unix(s) => s.shutdown(Shutdown::Write),
        };
    }

    /// Sets a read timeout (the SOCKS handshake uses one).
    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) -> std::io::Result<()> {
        match self {
            Self::Tcp(s) => s.set_read_timeout(timeout),
            Self::Unix(s) => s.set_read_timeout(timeout),
        }
    }
}

impl Read for LocalStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Self::Tcp(s) => s.read(buf),
            Self::Unix(s) => s.read(buf),
        }
    }
}

impl Write for LocalStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Tcp(s) => s.write(buf),
            Self::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Tcp(s) => s.flush(),
            Self::Unix(s) => s.flush(),
        }
    }
}

/// Connects to a local endpoint (TCP_NODELAY on TCP).
pub(crate) fn connect_local(target: &Endpoint) -> std::io::Result<LocalStream> {
    match target {
        Endpoint::Tcp { host, port } => {
            let s = TcpStream::connect((host.as_str(), *port))?;
            s.set_nodelay(true)?;
            Ok(LocalStream::Tcp(s))
        }
        Endpoint::Unix(p) => Ok(LocalStream::Unix(UnixStream::connect(p)?)),
    }
}

/// Copies both ways between a local socket and a channel (a client's or a server's)
/// until both directions ended (EOF is passed on in each direction); the channel closes
/// when its last handle is gone.
pub(crate) fn splice<C>(sock: LocalStream, chan: &Arc<ChanRef<C>>)
where
    C: DerefMut<Target = Connection> + Send + 'static,
{
    let Ok(mut rd) = sock.try_clone() else {
        chan.close();
        return;
    };
    let mut wr = sock;
    let mut to_peer = ChannelWriter::new(chan.clone(), Stream::Stdout);
    let up = std::thread::Builder::new()
        .name("whelk-splice".into())
        .spawn(move || {
            let _ = std::io::copy(&mut rd, &mut to_peer);
            let _ = to_peer.send_eof();
        });
    let mut from_peer = ChannelReader::new(chan.clone(), Stream::Stdout);
    let _ = std::io::copy(&mut from_peer, &mut wr);
    wr.shutdown_write();
    if let Ok(up) = up {
        let _ = up.join();
    }
}

/// The remote forwardings ([`whelk::forward::RemoteRoutes`]), shared by the client's
/// handles and its connection thread.
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

/// Stops a TCP listener that a thread of ours is blocked accepting on, before that thread
/// is joined. Closing the descriptor is not enough: a child process started by any thread
/// of this process holds a copy of it until it execs, and meanwhile the socket still
/// listens (a connection made then is accepted by the kernel, then reset). Shutting the
/// socket down takes it out of the listening state at once, whoever holds it, and returns
/// the blocked `accept` (Linux). Where the system refuses to shut a listening socket down,
/// the `accept` is woken with a connection of our own to `addr` instead.
pub(crate) fn stop_accepting(listener: &TcpListener, addr: SocketAddr) {
    if rustix::net::shutdown(listener, rustix::net::Shutdown::Both).is_ok() {
        return;
    }
    let mut wake = addr;
    if wake.ip().is_unspecified() {
        wake.set_ip(if wake.is_ipv4() {
            Ipv4Addr::LOCALHOST.into()
        } else {
            Ipv6Addr::LOCALHOST.into()
        });
    }
    let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
}

/// A listening socket here, TCP or UNIX (shared with the accept thread, to stop it).
#[derive(Debug, Clone)]
enum Listener {
    Tcp(Arc<TcpListener>),
    Unix(Arc<UnixListener>),
}

impl Listener {
    /// Binds `listen`; a UNIX socket with mode 0600 (ssh's `StreamLocalBindMask 0177`),
    /// returning its file to remove when the forwarding stops.
    fn bind(listen: &Endpoint) -> Result<(Self, Option<SocketFile>)> {
        Ok(match listen {
            Endpoint::Tcp { host, port } => {
                let l = TcpListener::bind((host.as_str(), *port))?;
                (Self::Tcp(Arc::new(l)), None)
            }
            Endpoint::Unix(p) => {
                let (l, file) = bind_unix(p, false)?;
                (Self::Unix(Arc::new(l)), Some(file))
            }
        })
    }

    fn accept(&self) -> std::io::Result<LocalStream> {
        match self {
            Self::Tcp(l) => {
                let (s, _) = l.accept()?;
                s.set_nodelay(true)?;
                Ok(LocalStream::Tcp(s))
            }
            Self::Unix(l) => Ok(LocalStream::Unix(l.accept()?.0)),
        }
    }
}

/// A listener here whose connections are carried through the server: local forwarding
/// (`ssh -L`, [`Client::forward_local`], [`Client::forward_local_to`]) or dynamic
/// forwarding (`ssh -D`, [`Client::forward_dynamic`]). Closing (or dropping) it stops
/// accepting and removes the UNIX socket file it created; connections already accepted
/// go on. While it listens it keeps the SSH connection up.
#[derive(Debug)]
#[must_use = "dropping the handle stops the forwarding"]
pub struct LocalForward {
    addr: Option<SocketAddr>,
    /// The listener, shared with the accept thread (to stop it).
    listener: Listener,
    /// The UNIX socket file, removed when the forwarding stops.
    unix: Option<SocketFile>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LocalForward {
    /// Starts the accept thread: `serve` runs on a thread of its own for each connection.
    fn start(
        listen: &Endpoint,
        serve: impl Fn(LocalStream) + Send + Sync + 'static,
    ) -> Result<Self> {
        let (listener, unix) = Listener::bind(listen)?;
        let addr = match &listener {
            Listener::Tcp(l) => Some(l.local_addr()?),
            Listener::Unix(_) => None,
        };
        let accepting = listener.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let serve = Arc::new(serve);
        let thread = std::thread::Builder::new()
            .name("whelk-forward-listen".into())
            .spawn(move || {
                loop {
                    let sock = accepting.accept();
                    if stop2.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(sock) = sock else {
                        // Out of descriptors, or a connection reset before accept: do
                        // not spin.
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    };
                    let serve = serve.clone();
                    let _ = std::thread::Builder::new()
                        .name("whelk-forward".into())
                        .spawn(move || serve(sock));
                }
            })?;
        Ok(Self {
            addr,
            listener,
            unix,
            stop,
            thread: Some(thread),
        })
    }

    /// The bound TCP address (the port picked when port 0 was asked; `None` for a UNIX
    /// socket).
    #[must_use]
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    /// The UNIX socket path (`None` for TCP).
    #[must_use]
    pub fn local_path(&self) -> Option<&Path> {
        self.unix.as_ref().map(SocketFile::path)
    }

    /// Stops listening; when it returns no connection is accepted any more (the TCP
    /// socket is shut down, even if a child process still holds a copy of it) and a UNIX
    /// socket file is removed.
    pub fn close(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            // Wake the blocked accept.
            match (&self.listener, self.addr, &self.unix) {
                (Listener::Tcp(l), Some(addr), _) => stop_accepting(l, addr),
                (Listener::Unix(l), _, Some(file)) => socket_file::stop_accepting(l, file),
                _ => {}
            }
            let _ = t.join();
        }
        if let Some(file) = self.unix.take() {
            file.remove_if_ours();
        }
    }
}

impl Drop for LocalForward {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// A listener on the server whose connections come back here: remote forwarding
/// (`ssh -R`, [`Client::forward_remote`], [`Client::forward_remote_to`]). Closing (or
/// dropping) it cancels the forwarding on the server (`cancel-tcpip-forward`,
/// `cancel-streamlocal-forward@openssh.com`); connections in progress go on.
#[derive(Debug)]
#[must_use = "dropping the handle cancels the forwarding"]
pub struct RemoteForward {
    client: Client,
    remote: RemoteListener,
    route: RouteId,
    closed: bool,
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

    /// Cancels the forwarding and waits for the server's answer. When the same listener
    /// was forwarded again on this connection, connections go to the remaining
    /// forwarding's target instead, and the server's listener stays.
    pub fn close(mut self) -> Result<()> {
        self.cancel(true)
    }

    fn cancel(&mut self, wait: bool) -> Result<()> {
        if std::mem::replace(&mut self.closed, true) {
            return Ok(());
        }
        let Some(listener) = self.client.routes.lock().remove(self.route) else {
            // The same listener was forwarded again: that forwarding keeps it.
            return Ok(());
        };
        let kind = listener.cancel_request();
        if !wait {
            let shared = &self.client.shared;
            let mut g = shared.lock();
            if g.done.is_none() {
                let _ = g.conn.global_request(kind, false);
            }
            drop(g);
            shared.kick();
            return Ok(());
        }
        match self.client.global_request(kind) {
            Ok((true, _)) => Ok(()),
            Ok((false, _)) => Err(Error::Refused("cancel forwarding".into())),
            // The connection is gone, and the server's listener with it.
            Err(_) => Ok(()),
        }
    }
}

impl Drop for RemoteForward {
    fn drop(&mut self) {
        let _ = self.cancel(false);
    }
}

fn path_text(p: &Path) -> Result<String> {
    socket_path(p).ok_or_else(|| not_utf8(&Endpoint::Unix(p.to_path_buf())))
}

fn not_utf8(e: &Endpoint) -> Error {
    Error::Refused(format!("socket path is not UTF-8: {e}"))
}

impl Client {
    /// Sends a global request with want-reply and waits for the answer: (success, the
    /// port bound by a `tcpip-forward` for port 0).
    pub(crate) fn global_request(&self, kind: GlobalRequestKind) -> Result<(bool, Option<u32>)> {
        let request = {
            let mut g = self.shared.lock();
            if g.done.is_some() {
                return Err(g.failure());
            }
            g.conn.global_request(kind, true)?
        };
        self.shared.kick();
        self.shared
            .wait_for(None, |g| {
                if let Some(i) = g.global_results.iter().position(|r| r.0 == request) {
                    let (_, ok, bound) = g.global_results.swap_remove(i);
                    return Some(Ok((ok, bound)));
                }
                g.done.as_ref().map(|_| Err(g.failure()))
            })
            .unwrap_or_else(|| Err(Error::Closed("connection closed".into())))
    }

    /// Opens a `direct-streamlocal@openssh.com` channel to the UNIX socket `path` on the
    /// server (OpenSSH PROTOCOL §2.4; sshd needs `AllowStreamLocalForwarding`):
    /// [`Session::stdin`] writes to it, [`Session::stdout`] reads from it.
    pub fn direct_streamlocal(&self, path: &str) -> Result<Session> {
        self.open(whelk::ChannelOpenKind::DirectStreamlocal {
            socket_path: path.to_string().into(),
            reserved: "".into(),
            reserved_port: 0,
        })
    }

    /// Local port forwarding (`ssh -L bind:host:port`): listens on `bind` (e.g.
    /// `"127.0.0.1:0"`) and carries each connection to `host:port` as the server sees it
    /// (`direct-tcpip`, RFC 4254 §7.2). Stops when the returned handle is closed or
    /// dropped.
    ///
    /// ```no_run
    /// # fn example(client: &whelk_std::Client) -> Result<(), whelk_std::Error> {
    /// let fwd = client.forward_local("127.0.0.1:0", "intranet", 80)?;
    /// println!("http://{:?}/ reaches intranet:80", fwd.local_addr());
    /// fwd.close();
    /// # Ok(()) }
    /// ```
    pub fn forward_local(&self, bind: &str, host: &str, port: u16) -> Result<LocalForward> {
        let addr = std::net::ToSocketAddrs::to_socket_addrs(bind)?
            .next()
            .ok_or_else(|| Error::Refused(format!("cannot resolve {bind}")))?;
        self.forward_local_to(
            Endpoint::tcp(&addr.ip().to_string(), addr.port()),
            Endpoint::tcp(host, port),
        )
    }

    /// Local forwarding in any mix of TCP and UNIX sockets (`ssh -L` with socket paths):
    /// listens on `listen` here and carries each connection to `target` on the server's
    /// side (`direct-tcpip`, RFC 4254 §7.2, or `direct-streamlocal@openssh.com`, OpenSSH
    /// PROTOCOL §2.4).
    ///
    /// ```no_run
    /// # fn example(client: &whelk_std::Client) -> Result<(), whelk_std::Error> {
    /// use whelk_std::Endpoint;
    /// // A local TCP port reaching the server's Docker socket.
    /// let fwd = client.forward_local_to(
    ///     Endpoint::tcp("127.0.0.1", 2375),
    ///     Endpoint::unix("/var/run/docker.sock"),
    /// )?;
    /// # drop(fwd);
    /// # Ok(()) }
    /// ```
    pub fn forward_local_to(&self, listen: Endpoint, target: Endpoint) -> Result<LocalForward> {
        if let Endpoint::Unix(p) = &target {
            path_text(p)?;
        }
        let client = self.clone();
        LocalForward::start(&listen, move |sock| {
            let ch = match &target {
                Endpoint::Tcp { host, port } => client.direct_tcpip(host, *port),
                Endpoint::Unix(p) => path_text(p).and_then(|p| client.direct_streamlocal(&p)),
            };
            if let Ok(ch) = ch {
                splice(sock, &ch.chan);
            }
        })
    }

    /// Remote port forwarding (`ssh -R address:port:target_host:target_port`): asks the
    /// server to listen on `address:port` (`tcpip-forward`, RFC 4254 §7.1; port 0: the
    /// server picks, see [`RemoteForward::remote_port`]) and carries each connection it
    /// forwards to `target_host:target_port` from here. Cancelled when the returned
    /// handle is closed or dropped.
    pub fn forward_remote(
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
    }

    /// Remote forwarding in any mix of TCP and UNIX sockets: the server listens on
    /// `remote` (`tcpip-forward`, RFC 4254 §7.1, or `streamlocal-forward@openssh.com`,
    /// OpenSSH PROTOCOL §2.4; sshd needs `AllowStreamLocalForwarding`, and
    /// `StreamLocalBindUnlink yes` to replace a stale socket file) and each connection it
    /// forwards is carried to `target` here.
    ///
    /// ```no_run
    /// # fn example(client: &whelk_std::Client) -> Result<(), whelk_std::Error> {
    /// use whelk_std::Endpoint;
    /// // Programs on the server talking to /tmp/app.sock reach our local port 8080.
    /// let fwd = client.forward_remote_to(
    ///     Endpoint::unix("/tmp/app.sock"),
    ///     Endpoint::tcp("127.0.0.1", 8080),
    /// )?;
    /// fwd.close()?;
    /// # Ok(()) }
    /// ```
    pub fn forward_remote_to(&self, remote: Endpoint, target: Endpoint) -> Result<RemoteForward> {
        let kind = RemoteListener::request(&remote).ok_or_else(|| not_utf8(&remote))?;
        let (ok, bound) = self.global_request(kind)?;
        if !ok {
            return Err(Error::Refused(format!("forwarding from {remote}")));
        }
        let remote =
            RemoteListener::bound(remote.clone(), bound).ok_or_else(|| not_utf8(&remote))?;
        let route = self.routes.lock().add(remote.clone(), target);
        Ok(RemoteForward {
            client: self.clone(),
            remote,
            route,
            closed: false,
        })
    }

    /// Dynamic forwarding (`ssh -D listen`): a SOCKS 4, 4a and 5 proxy on `listen` (e.g.
    /// `"127.0.0.1:0"`) whose CONNECT requests are carried through the server
    /// (`direct-tcpip`, RFC 4254 §7.2; domain names are resolved by the server). No SOCKS
    /// authentication, no BIND or UDP ASSOCIATE (refused with the protocol's error
    /// reply). Stops when the returned handle is closed or dropped.
    ///
    /// ```no_run
    /// # fn example(client: &whelk_std::Client) -> Result<(), whelk_std::Error> {
    /// let socks = client.forward_dynamic("127.0.0.1:1080")?;
    /// // curl --socks5-hostname 127.0.0.1:1080 http://intranet/
    /// socks.close();
    /// # Ok(()) }
    /// ```
    pub fn forward_dynamic(&self, listen: &str) -> Result<LocalForward> {
        let addr = std::net::ToSocketAddrs::to_socket_addrs(listen)?
            .next()
            .ok_or_else(|| Error::Refused(format!("cannot resolve {listen}")))?;
        let client = self.clone();
        LocalForward::start(
            &Endpoint::tcp(&addr.ip().to_string(), addr.port()),
            move |sock| crate::socks::serve(&client, sock),
        )
    }
}
