//! X11 forwarding on the server (RFC 4254 §6.3, sshd's `X11Forwarding`): a session's
//! `x11-req` gets a TCP display listener on loopback (sshd's `X11UseLocalhost yes`), and
//! every connection to it goes to the client over its own `x11` channel.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Weak};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use whelk::{ChannelOpenKind, ServerConnection};

use super::limits::Slot;
use super::session::open_channel;
use crate::driver::Shared;
use crate::forward::stop_accepting;

/// X11 display `n` listens on TCP port 6000 + `n`.
pub(crate) const X11_BASE_PORT: u32 = 6000;
/// Longest authentication protocol name or cookie accepted in an `x11-req`.
pub(crate) const MAX_X11_AUTH_LEN: usize = 1024;

/// An `x11-req` (RFC 4254 §6.3.1) as the [`crate::Handler`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct X11Request {
    /// Only one connection is to be forwarded (the listener stops after it).
    pub single_connection: bool,
    /// The X11 authentication protocol, e.g. `MIT-MAGIC-COOKIE-1`.
    pub auth_protocol: String,
    /// The (fake) authentication cookie, in hex.
    pub auth_cookie: String,
    /// The X11 screen number.
    pub screen: u32,
}

/// X11 forwarding granted to a session ([`crate::ServerSession::x11`]): what to put in
/// the session's `DISPLAY` and its Xauthority file (sshd runs `xauth add` with
/// [`X11Forwarding::xauth_display`], [`X11Forwarding::auth_protocol`] and
/// [`X11Forwarding::auth_cookie`]). The display listens on loopback TCP port 6000 + its
/// number until the session ends (or, with `single_connection`, until its first
/// connection).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct X11Forwarding {
    /// The display number `N` (TCP port 6000 + `N` on 127.0.0.1, and `::1` if available).
    pub display_number: u32,
    /// The screen the client asked for.
    pub screen: u32,
    /// The authentication protocol the client sent (only `[A-Za-z0-9.:/_-]`).
    pub auth_protocol: String,
    /// The cookie the client sent (only `[A-Za-z0-9.:/_-]`).
    pub auth_cookie: String,
    /// Whether only the first connection is forwarded.
    pub single_connection: bool,
}

impl X11Forwarding {
    /// The `DISPLAY` value for the session: `localhost:N.S`.
    #[must_use]
    pub fn display(&self) -> String {
        format!("localhost:{}.{}", self.display_number, self.screen)
    }

    /// The display name of the Xauthority entry: `unix:N.S`, as sshd writes it (X
    /// clients look up `localhost:N` under the host's own name, which `unix:N` stands
    /// for).
    #[must_use]
    pub fn xauth_display(&self) -> String {
        format!("unix:{}.{}", self.display_number, self.screen)
    }
}

/// Whether `s` may go into an `xauth` command line (sshd's `xauth_valid_string`): not
/// empty, at most [`MAX_X11_AUTH_LEN`] bytes, only alphanumerics and `.:/-_`.
pub(crate) fn valid_auth_string(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_X11_AUTH_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'/' | b'-' | b'_'))
}

/// A session's display listener; dropping it stops listening (connections already
/// forwarded go on).
#[derive(Debug)]
pub(crate) struct X11Listener {
    listeners: Vec<Arc<TcpListener>>,
    task: JoinHandle<()>,
    _slot: Slot,
}

impl Drop for X11Listener {
    fn drop(&mut self) {
        for l in &self.listeners {
            let _ = stop_accepting(l);
        }
        self.task.abort();
    }
}

/// Binds the first free display `N` in `offset..offset + count` (port 6000 + `N` free on
/// 127.0.0.1 and, where IPv6 works, on `::1`; no `/tmp/.X11-unix/X<N>` socket) and starts
/// forwarding its connections over `x11` channels. `None` if no display is free.
pub(crate) async fn listen(
    shared: &Arc<Shared<ServerConnection>>,
    slot: Slot,
    offset: u32,
    count: u32,
    single_connection: bool,
) -> Option<(u32, X11Listener)> {
    let end = offset.saturating_add(count);
    for n in offset..end {
        let Some(port) = X11_BASE_PORT
            .checked_add(n)
            .and_then(|p| u16::try_from(p).ok())
        else {
            break;
        };
        if std::path::Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
            continue;
        }
        let Ok(v4) = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await else {
            continue;
        };
        let mut listeners = vec![Arc::new(v4)];
        match TcpListener::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, port))).await {
            Ok(v6) => listeners.push(Arc::new(v6)),
            // Someone else has the port on ::1: clients of localhost:N could reach it.
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
            // No IPv6 on this host: IPv4 alone.
            Err(_) => {}
        }
        let task = tokio::spawn(accept_loop(
            Arc::downgrade(shared),
            listeners.clone(),
            single_connection,
        ));
        let listener = X11Listener {
            listeners,
            task,
            _slot: slot,
        };
        return Some((n, listener));
    }
    None
}

/// Accepts on the display's sockets and carries each connection over an `x11` channel.
async fn accept_loop(
    shared: Weak<Shared<ServerConnection>>,
    listeners: Vec<Arc<TcpListener>>,
    single_connection: bool,
) {
    loop {
        let accepted = match listeners.as_slice() {
            [a] => a.accept().await,
            [a, b] => tokio::select! {
                r = a.accept() => r,
                r = b.accept() => r,
            },
            _ => return,
        };
        let Ok((sock, peer)) = accepted else { return };
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if shared.lock().done.is_some() {
            return;
        }
        if single_connection {
            // Refusing from before the channel is opened on.
            for l in &listeners {
                let _ = stop_accepting(l);
            }
            tokio::spawn(forward(shared, sock, peer));
            return;
        }
        tokio::spawn(forward(shared, sock, peer));
    }
}

async fn forward(shared: Arc<Shared<ServerConnection>>, sock: TcpStream, peer: SocketAddr) {
    let _ = sock.set_nodelay(true);
    let kind = ChannelOpenKind::X11 {
        originator_address: peer.ip().to_string().into(),
        originator_port: u32::from(peer.port()),
    };
    if let Ok(ch) = open_channel(&shared, kind).await {
        super::forward::splice(sock, ch).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_strings_are_checked_like_sshd() {
        assert!(valid_auth_string("MIT-MAGIC-COOKIE-1"));
        assert!(valid_auth_string("0123456789abcdef0123456789abcdef"));
        assert!(!valid_auth_string(""));
        assert!(!valid_auth_string("abc\nadd evil"));
        assert!(!valid_auth_string("a b"));
        assert!(!valid_auth_string(&"a".repeat(MAX_X11_AUTH_LEN + 1)));
    }

    #[test]
    fn display_names() {
        let x = X11Forwarding {
            display_number: 10,
            screen: 2,
            auth_protocol: "MIT-MAGIC-COOKIE-1".into(),
            auth_cookie: "00".into(),
            single_connection: false,
        };
        assert_eq!(x.display(), "localhost:10.2");
        assert_eq!(x.xauth_display(), "unix:10.2");
    }
}
