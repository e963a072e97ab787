//! The SOCKS side of dynamic forwarding ([`crate::Client::forward_dynamic`], `ssh -D`):
//! SOCKS 4, 4a and 5 CONNECT without authentication, parsed by the sans-IO
//! [`whelk::socks::Handshake`] (limits and refusals are documented there). Each request
//! becomes a `direct-tcpip` channel; domain names go to the server unresolved. The
//! handshake must arrive within [`HANDSHAKE_TIMEOUT`].

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use whelk::socks::{HANDSHAKE_TIMEOUT, Handshake, Request};

use crate::client::Client;
use crate::forward::splice;

/// Reads the greeting (SOCKS 5) and the CONNECT request, sending what the handshake
/// asks for; `None` when refused (answered) or malformed. Returns the request and any
/// bytes received after it.
async fn handshake(sock: &mut TcpStream) -> Option<(Request, Vec<u8>)> {
    let mut hs = Handshake::new();
    let mut chunk = [0u8; 512];
    loop {
        let n = sock.read(&mut chunk).await.ok()?;
        let r = hs.handle_input(chunk.get(..n)?);
        if let Some(out) = hs.poll_transmit() {
            sock.write_all(&out).await.ok()?;
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
pub(crate) async fn serve(client: Client, mut sock: TcpStream) {
    let Ok(Some((req, early))) =
        tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(&mut sock)).await
    else {
        return;
    };
    match client.direct_tcpip(&req.host(), req.port).await {
        Ok(mut ch) => {
            if sock.write_all(req.version.reply(true)).await.is_ok()
                && ch.write_all(&early).await.is_ok()
            {
                splice(sock, ch).await;
            }
        }
        Err(_) => {
            let _ = sock.write_all(req.version.reply(false)).await;
        }
    }
}
