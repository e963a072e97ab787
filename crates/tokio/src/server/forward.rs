//! Port and socket forwarding done by the server once the handler allowed it:
//! `direct-tcpip` / `direct-streamlocal@openssh.com` connections, and listeners for
//! `tcpip-forward` / `streamlocal-forward@openssh.com` (RFC 4254 §7, OpenSSH PROTOCOL §2.4).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Weak};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use whelk::{ChannelOpenKind, ServerConnection};

use super::session::{ServerStream, open_channel};
use crate::driver::Shared;
use crate::forward::stop_accepting;
use crate::socket_file::{SocketFile, bind_unix};

/// Copies both ways between a socket and a channel until both directions ended (or
/// the socket's direction once the client closed the channel); the channel is closed
/// when `ch` is dropped. Back-pressure: each side is read only as fast as the other side
/// takes the bytes (the channel window, the socket buffer).
pub(crate) async fn splice<S>(sock: S, ch: ServerStream)
where
    S: AsyncRead + AsyncWrite,
{
    let shared = ch.shared().clone();
    let id = ch.id();
    let (mut srd, mut swr) = tokio::io::split(sock);
    let (mut crd, mut cwr) = tokio::io::split(ch);
    let up = async {
        let _ = tokio::io::copy(&mut srd, &mut cwr).await;
        let _ = cwr.shutdown().await;
    };
    let down = async {
        let _ = tokio::io::copy(&mut crd, &mut swr).await;
        let _ = swr.shutdown().await;
    };
    tokio::pin!(up, down);
    tokio::select! {
        () = &mut up => down.await,
        () = &mut down => {
            // Everything the client sent is delivered; once it closes the channel nothing
            // more can go to it, so an idle socket must not keep this task alive.
            tokio::select! {
                () = up => {}
                () = super::channel_closed(&shared, id) => {}
            }
        }
    }
}

/// The task accepting on a forwarding listener, and the listener if TCP or its socket
/// file if UNIX. Dropping it stops both: a TCP socket refuses connections at once (even if
/// a child process holds a copy of it), and is closed once the task is gone; a UNIX socket
/// file is removed if its path still names it.
#[derive(Debug)]
struct Running {
    task: JoinHandle<()>,
    tcp: Option<Arc<TcpListener>>,
    unix: Option<SocketFile>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(l) = &self.tcp {
            let _ = stop_accepting(l);
        }
        self.task.abort();
        if let Some(file) = &self.unix {
            file.remove_if_ours();
        }
    }
}

/// The listeners one connection asked for; dropping it (when the connection ends) stops
/// them and removes their socket files.
#[derive(Debug, Default)]
pub(crate) struct Forwards {
    tcp: HashMap<(String, u32), Running>,
    unix: HashMap<String, Running>,
}

impl Forwards {
    pub(crate) fn len(&self) -> usize {
        self.tcp.len() + self.unix.len()
    }

    /// Stops a `tcpip-forward` listener: when it returns, connections to it are refused.
    pub(crate) fn cancel_tcp(&mut self, address: &str, port: u32) -> bool {
        self.tcp.remove(&(address.to_string(), port)).is_some()
    }

    /// Stops a `streamlocal-forward@openssh.com` listener and removes its socket file.
    pub(crate) fn cancel_unix(&mut self, path: &str) -> bool {
        self.unix.remove(path).is_some()
    }
}

/// Where a `tcpip-forward` for `address` listens: loopback unless `gateway_ports`
/// (sshd's `GatewayPorts no`), else the address itself (`""`, `"*"`: every address).
fn bind_address(address: &str, gateway_ports: bool) -> String {
    if !gateway_ports {
        return "127.0.0.1".to_string();
    }
    match address {
        "" | "*" | "0.0.0.0" => "0.0.0.0".to_string(),
        "localhost" => "127.0.0.1".to_string(),
        a => a.to_string(),
    }
}

/// Binds the listener for a `tcpip-forward` and starts forwarding; returns the bound
/// port.
pub(crate) async fn start_tcp(
    shared: &Arc<Shared<ServerConnection>>,
    table: &Arc<std::sync::Mutex<Forwards>>,
    address: String,
    port: u32,
    gateway_ports: bool,
) -> std::io::Result<u32> {
    let port16 = u16::try_from(port)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "port > 65535"))?;
    let listener =
        Arc::new(TcpListener::bind((bind_address(&address, gateway_ports), port16)).await?);
    let bound = u32::from(listener.local_addr()?.port());
    let weak = Arc::downgrade(shared);
    let addr = address.clone();
    let accepting = listener.clone();
    let task = tokio::spawn(async move {
        while let Ok((sock, peer)) = accepting.accept().await {
            let _ = sock.set_nodelay(true);
            let Some(shared) = weak.upgrade() else { break };
            let kind = ChannelOpenKind::ForwardedTcpip {
                connected_address: addr.clone().into(),
                connected_port: bound,
                originator_address: peer.ip().to_string().into(),
                originator_port: u32::from(peer.port()),
            };
            if !open_and_splice(shared, kind, sock) {
                break;
            }
        }
    });
    let mut t = table
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // A listener this one replaces is stopped (dropped).
    let running = Running {
        task,
        tcp: Some(listener),
        unix: None,
    };
    t.tcp.insert((address, bound), running);
    Ok(bound)
}

/// Binds the UNIX socket for a `streamlocal-forward@openssh.com` and starts forwarding.
/// An existing file at `path` is an error unless `unlink` and it is a stale socket.
pub(crate) fn start_unix(
    shared: &Arc<Shared<ServerConnection>>,
    table: &Arc<std::sync::Mutex<Forwards>>,
    path: String,
    unlink: bool,
) -> std::io::Result<()> {
    let (listener, file) = bind_unix(Path::new(&path), unlink)?;
    let weak: Weak<Shared<ServerConnection>> = Arc::downgrade(shared);
    let p = path.clone();
    let task = tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let Some(shared) = weak.upgrade() else { break };
            let kind = ChannelOpenKind::ForwardedStreamlocal {
                socket_path: p.clone().into(),
                reserved: String::new().into(),
            };
            if !open_and_splice(shared, kind, sock) {
                break;
            }
        }
    });
    let mut t = table
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let running = Running {
        task,
        tcp: None,
        unix: Some(file),
    };
    // A listener this one replaces stops; the path names the new socket now, so its
    // file stays.
    t.unix.insert(path, running);
    Ok(())
}

/// Opens a channel for an accepted connection and splices it in its own task. Returns
/// false once the connection is over.
fn open_and_splice<S>(shared: Arc<Shared<ServerConnection>>, kind: ChannelOpenKind, sock: S) -> bool
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    if shared.lock().done.is_some() {
        return false;
    }
    tokio::spawn(async move {
        if let Ok(ch) = open_channel(&shared, kind).await {
            splice(sock, ch).await;
        }
    });
    true
}

/// Connects a `direct-tcpip` target (TCP_NODELAY).
pub(crate) async fn connect_tcp(host: &str, port: u32) -> std::io::Result<tokio::net::TcpStream> {
    let port = u16::try_from(port)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "port > 65535"))?;
    let sock = tokio::net::TcpStream::connect((host, port)).await?;
    sock.set_nodelay(true)?;
    Ok(sock)
}
