//! Port forwarding bookkeeping shared by the adapters, without I/O: the [`Endpoint`] of a
//! forwarding (TCP host and port, or UNIX socket path), where the server listens for a
//! remote forwarding ([`RemoteListener`]) with the global requests that start and cancel
//! it, and the table that routes the server's `forwarded-*` channels to their targets
//! ([`RemoteRoutes`]).
//!
//! The messages: `tcpip-forward` / `cancel-tcpip-forward` and the `forwarded-tcpip`
//! channel (RFC 4254 §7.1, §7.2), OpenSSH's `streamlocal-forward@openssh.com` /
//! `cancel-streamlocal-forward@openssh.com` and `forwarded-streamlocal@openssh.com`
//! (OpenSSH PROTOCOL §2.4). Listening and connecting stay in the adapters.
//!
//! ```
//! use whelk::forward::{Endpoint, RemoteListener, RemoteRoutes};
//! let remote = Endpoint::tcp("127.0.0.1", 0);
//! let _request = RemoteListener::request(&remote); // send it, wait for the reply
//! // The server bound port 40022:
//! let listener = RemoteListener::bound(remote, Some(40022)).expect("a TCP endpoint");
//! let mut routes = RemoteRoutes::default();
//! let route = routes.add(listener.clone(), Endpoint::tcp("localhost", 80));
//! // A forwarded-tcpip channel names the address and port the server listens on.
//! assert_eq!(routes.find_tcp(b"127.0.0.1", 40022), Some(Endpoint::tcp("localhost", 80)));
//! // Closing the forwarding: the listener to cancel with `cancel_request()`.
//! assert_eq!(routes.remove(route), Some(listener));
//! assert_eq!(routes.find_tcp(b"127.0.0.1", 40022), None);
//! ```
#![forbid(unsafe_code)]

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use std::path::{Path, PathBuf};

use whelk_wire::msg::GlobalRequestKind;

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

impl core::fmt::Display for Endpoint {
    /// `host:port` (`[host]:port` for an IPv6 literal), or the socket path.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Self::Tcp { host, port } => write!(f, "{host}:{port}"),
            Self::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A socket path as the SSH messages carry it (a string): `None` when it is not UTF-8.
#[must_use]
pub fn socket_path(p: &Path) -> Option<String> {
    p.to_str().map(str::to_string)
}

/// Where the server listens for a remote forwarding, as it names it in `forwarded-*`
/// channels.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RemoteListener {
    /// `tcpip-forward`: the address asked for and the port bound (RFC 4254 §7.1).
    Tcp {
        /// The address to bind, as sent.
        address: String,
        /// The port bound (the one the server picked when 0 was asked for).
        port: u32,
    },
    /// `streamlocal-forward@openssh.com`: the socket path.
    Unix(String),
}

impl RemoteListener {
    /// The global request asking the server to listen on `remote` (`tcpip-forward` or
    /// `streamlocal-forward@openssh.com`; send it with want-reply). `None` when a socket
    /// path is not UTF-8.
    #[must_use]
    pub fn request(remote: &Endpoint) -> Option<GlobalRequestKind> {
        Some(match remote {
            Endpoint::Tcp { host, port } => GlobalRequestKind::TcpipForward {
                address: host.clone().into(),
                port: u32::from(*port),
            },
            Endpoint::Unix(p) => GlobalRequestKind::StreamlocalForward {
                socket_path: socket_path(p)?.into(),
            },
        })
    }

    /// The listener after the server accepted [`RemoteListener::request`]: `bound` is the
    /// port from its reply (sent when port 0 was asked for). `None` when a socket path is
    /// not UTF-8.
    #[must_use]
    pub fn bound(remote: Endpoint, bound: Option<u32>) -> Option<Self> {
        Some(match remote {
            Endpoint::Tcp { host, port } => Self::Tcp {
                address: host,
                port: bound.unwrap_or(u32::from(port)),
            },
            Endpoint::Unix(p) => Self::Unix(socket_path(&p)?),
        })
    }

    /// The TCP port bound; `None` for a UNIX socket (or a port beyond 65535).
    #[must_use]
    pub fn port(&self) -> Option<u16> {
        match self {
            Self::Tcp { port, .. } => u16::try_from(*port).ok(),
            Self::Unix(_) => None,
        }
    }

    /// Where the server listens, as an [`Endpoint`].
    #[must_use]
    pub fn endpoint(&self) -> Endpoint {
        match self {
            Self::Tcp { address, port } => {
                Endpoint::tcp(address, u16::try_from(*port).unwrap_or(0))
            }
            Self::Unix(p) => Endpoint::unix(p),
        }
    }

    /// The global request cancelling it (`cancel-tcpip-forward` or
    /// `cancel-streamlocal-forward@openssh.com`).
    #[must_use]
    pub fn cancel_request(&self) -> GlobalRequestKind {
        match self {
            Self::Tcp { address, port } => GlobalRequestKind::CancelTcpipForward {
                address: address.clone().into(),
                port: *port,
            },
            Self::Unix(p) => GlobalRequestKind::CancelStreamlocalForward {
                socket_path: p.clone().into(),
            },
        }
    }
}

/// One forwarding added to [`RemoteRoutes`], to remove it by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteId(u64);

/// The remote forwardings of a connection: what the server listens on, and where the
/// connections it forwards go here.
///
/// The same listener may be asked for more than once (a UNIX socket path forwarded again,
/// which the server takes over with `StreamLocalBindUnlink`): the newest forwarding is the
/// one the server's listener now serves, so its target wins until it is removed, and the
/// listener is cancelled on the server only when no forwarding for it remains.
#[derive(Debug, Clone, Default)]
pub struct RemoteRoutes {
    routes: Vec<(RouteId, RemoteListener, Endpoint)>,
    next: u64,
}

impl RemoteRoutes {
    /// Adds a forwarding; it wins over earlier ones for the same listener.
    pub fn add(&mut self, remote: RemoteListener, target: Endpoint) -> RouteId {
        let id = RouteId(self.next);
        self.next = self.next.wrapping_add(1);
        self.routes.push((id, remote, target));
        id
    }

    /// Removes a forwarding (when it is cancelled). Returns the listener to cancel on the
    /// server: `Some` when no other forwarding uses it (nor when `id` is unknown).
    pub fn remove(&mut self, id: RouteId) -> Option<RemoteListener> {
        let i = self.routes.iter().position(|(r, _, _)| *r == id)?;
        let (_, remote, _) = self.routes.remove(i);
        let shared = self.routes.iter().any(|(_, r, _)| *r == remote);
        (!shared).then_some(remote)
    }

    /// The target for a `forwarded-tcpip` channel (RFC 4254 §7.2): the exact address and
    /// port, else the port alone (servers may report the bound address differently); the
    /// newest forwarding first.
    #[must_use]
    pub fn find_tcp(&self, address: &[u8], port: u32) -> Option<Endpoint> {
        let find = |exact: bool| {
            self.routes.iter().rev().find_map(|(_, r, t)| match r {
                RemoteListener::Tcp {
                    address: a,
                    port: p,
                } if *p == port && (!exact || a.as_bytes() == address) => Some(t.clone()),
                _ => None,
            })
        };
        find(true).or_else(|| find(false))
    }

    /// The target for a `forwarded-streamlocal@openssh.com` channel; the newest
    /// forwarding first.
    #[must_use]
    pub fn find_unix(&self, path: &[u8]) -> Option<Endpoint> {
        self.routes.iter().rev().find_map(|(_, r, t)| match r {
            RemoteListener::Unix(p) if p.as_bytes() == path => Some(t.clone()),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_display() {
        assert_eq!(Endpoint::tcp("::1", 22).to_string(), "[::1]:22");
        assert_eq!(Endpoint::tcp("host", 22).to_string(), "host:22");
        assert_eq!(Endpoint::unix("/tmp/s").to_string(), "/tmp/s");
    }

    #[test]
    fn routes_prefer_the_exact_address_then_the_port() {
        let mut routes = RemoteRoutes::default();
        let any = RemoteListener::bound(Endpoint::tcp("", 0), Some(2222)).unwrap();
        let lo = RemoteListener::bound(Endpoint::tcp("127.0.0.1", 2222), None).unwrap();
        let sock = RemoteListener::bound(Endpoint::unix("/run/s"), None).unwrap();
        routes.add(any.clone(), Endpoint::tcp("a", 1));
        let lo_id = routes.add(lo.clone(), Endpoint::tcp("b", 2));
        routes.add(sock.clone(), Endpoint::unix("/here"));
        assert_eq!(
            routes.find_tcp(b"127.0.0.1", 2222),
            Some(Endpoint::tcp("b", 2))
        );
        // No exact address: the port alone, the newest forwarding first.
        assert_eq!(
            routes.find_tcp(b"localhost", 2222),
            Some(Endpoint::tcp("b", 2))
        );
        assert_eq!(routes.find_tcp(b"127.0.0.1", 2223), None);
        assert_eq!(routes.find_unix(b"/run/s"), Some(Endpoint::unix("/here")));
        assert_eq!(routes.remove(lo_id), Some(lo.clone()));
        assert_eq!(routes.remove(lo_id), None);
        for address in [&b"127.0.0.1"[..], b"localhost"] {
            assert_eq!(routes.find_tcp(address, 2222), Some(Endpoint::tcp("a", 1)));
        }
        assert_eq!(any.port(), Some(2222));
        assert_eq!(sock.port(), None);
        assert_eq!(sock.endpoint(), Endpoint::unix("/run/s"));
        assert!(matches!(
            sock.cancel_request(),
            GlobalRequestKind::CancelStreamlocalForward { .. }
        ));
    }

    #[test]
    fn a_listener_forwarded_again_routes_to_the_newest_until_it_is_removed() {
        let mut routes = RemoteRoutes::default();
        let sock = RemoteListener::bound(Endpoint::unix("/run/s"), None).unwrap();
        let first = routes.add(sock.clone(), Endpoint::unix("/one"));
        let second = routes.add(sock.clone(), Endpoint::unix("/two"));
        assert_eq!(routes.find_unix(b"/run/s"), Some(Endpoint::unix("/two")));
        // The newest goes: the first target again, and the server keeps listening.
        assert_eq!(routes.remove(second), None);
        assert_eq!(routes.find_unix(b"/run/s"), Some(Endpoint::unix("/one")));
        let again = routes.add(sock.clone(), Endpoint::unix("/three"));
        // The oldest goes: the newest stays.
        assert_eq!(routes.remove(first), None);
        assert_eq!(routes.find_unix(b"/run/s"), Some(Endpoint::unix("/three")));
        // The last one goes: the listener is cancelled.
        assert_eq!(routes.remove(again), Some(sock));
        assert_eq!(routes.find_unix(b"/run/s"), None);
    }

    #[test]
    fn non_utf8_socket_paths_are_refused() {
        use std::os::unix::ffi::OsStrExt;
        let p = Path::new(std::ffi::OsStr::from_bytes(b"/tmp/\xff"));
        assert_eq!(RemoteListener::request(&Endpoint::unix(p)), None);
        assert_eq!(RemoteListener::bound(Endpoint::unix(p), None), None);
    }
}
