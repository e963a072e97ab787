//! The SOCKS side of dynamic forwarding ([`crate::Client::forward_dynamic`], `ssh -D`):
//! SOCKS 4 (CONNECT), 4a (CONNECT to a host name) and 5 (RFC 1928, method "no
//! authentication", CONNECT to IPv4, IPv6 or a domain name), parsed by the sans-IO
//! [`whelk::socks::Handshake`], which also documents the limits and refusals. Each
//! request becomes a `direct-tcpip` channel; domain names go to the server unresolved.
//! The handshake must arrive within [`HANDSHAKE_TIMEOUT`].

use std::io::{Read, Write};

use whelk::socks::{HANDSHAKE_TIMEOUT, Handshake, Request};

use crate::client::Client;
use crate::forward::{LocalStream, splice};

/// Reads the greeting (SOCKS 5) and the CONNECT request, sending what the handshake
/// asks for; `None` when refused (answered) or malformed. Returns the request and any
/// bytes received after it (a client sending data before the reply).
fn handshake(sock: &mut LocalStream) -> Option<(Request, Vec<u8>)> {
    let mut hs = Handshake::new();
    let mut chunk = [0u8; 512];
    loop {
        let n = sock.read(&mut chunk).ok()?;
        let r = hs.handle_input(chunk.get(..n)?);
        if let Some(out) = hs.poll_transmit() {
            sock.write_all(&out).ok()?;
        }
        match r {
            Ok(Some(req)) => return Some((req, hs.into_remaining())),
            Ok(None) if n > 0 => {}
            Ok(None) | Err(_) => return None,
        }
    }
}

/// Serves one SOCKS client connection: handshake, `direct-tcpip` channel, reply, then
/// bytes both ways.
pub(crate) fn serve(client: &Client, mut sock: LocalStream) {
    if sock.set_read_timeout(Some(HANDSHAKE_TIMEOUT)).is_err() {
        return;
    }
    let Some((req, early)) = handshake(&mut sock) else {
        return;
    };
    if sock.set_read_timeout(None).is_err() {
        return;
    }
    match client.direct_tcpip(&req.host(), req.port) {
        Ok(ch) => {
            let reply = req.version.reply(true);
            if sock.write_all(reply).is_ok() && ch.stdin().write_all(&early).is_ok() {
                splice(sock, &ch.chan);
            }
        }
        Err(_) => {
            let _ = sock.write_all(req.version.reply(false));
        }
    }
}
