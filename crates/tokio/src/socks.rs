//! The SOCKS side of dynamic forwarding ([`crate::Client::forward_dynamic`], `ssh -D`):
//! SOCKS 4, 4a and 5 CONNECT without authentication. Each request becomes a
//! `direct-tcpip` channel; domain names go to the server unresolved.
//!
//! Limits: user ids and host names of at most 255 bytes; anything else (BIND, UDP
//! ASSOCIATE, SOCKS 5 authentication methods other than "none") is refused with the
//! protocol's error reply and the connection closed.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::client::Client;
use crate::forward::splice;

/// Longest SOCKS 4 user id or 4a host name accepted (bytes, without the NUL).
const MAX_FIELD: usize = 255;

/// A SOCKS request's destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dest {
    pub(crate) host: String,
    pub(crate) port: u16,
}

/// Which protocol the request came in (the reply differs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V4,
    V5,
}

async fn read_nul_terminated(sock: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let b = sock.read_u8().await?;
        if b == 0 {
            return Ok(out);
        }
        if out.len() >= MAX_FIELD {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "SOCKS4 field too long",
            ));
        }
        out.push(b);
    }
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}

/// Reads a SOCKS 4/4a request (after the version byte). `Ok(None)`: refused (already
/// answered).
async fn request4(sock: &mut TcpStream) -> std::io::Result<Option<Dest>> {
    let cmd = sock.read_u8().await?;
    let port = sock.read_u16().await?;
    let mut ip = [0u8; 4];
    sock.read_exact(&mut ip).await?;
    let _user = read_nul_terminated(sock).await?;
    let host = if ip[..3] == [0, 0, 0] && ip[3] != 0 {
        // SOCKS 4a: the name follows the user id.
        let name = read_nul_terminated(sock).await?;
        String::from_utf8(name).map_err(|_| invalid("SOCKS4a host name is not UTF-8"))?
    } else {
        std::net::Ipv4Addr::from(ip).to_string()
    };
    if cmd != 1 {
        reply(sock, Version::V4, false).await?;
        return Ok(None);
    }
    Ok(Some(Dest { host, port }))
}

/// Reads a SOCKS 5 greeting and request (after the version byte). `Ok(None)`: refused
/// (already answered).
async fn request5(sock: &mut TcpStream) -> std::io::Result<Option<Dest>> {
    let n = sock.read_u8().await?;
    let mut methods = vec![0u8; usize::from(n)];
    sock.read_exact(&mut methods).await?;
    if !methods.contains(&0) {
        // No acceptable method.
        sock.write_all(&[5, 0xff]).await?;
        return Ok(None);
    }
    sock.write_all(&[5, 0]).await?;
    let mut head = [0u8; 4];
    sock.read_exact(&mut head).await?;
    let [ver, cmd, _rsv, atyp] = head;
    if ver != 5 {
        return Err(invalid("SOCKS5 request with a wrong version"));
    }
    let host = match atyp {
        1 => {
            let mut ip = [0u8; 4];
            sock.read_exact(&mut ip).await?;
            std::net::Ipv4Addr::from(ip).to_string()
        }
        3 => {
            let len = sock.read_u8().await?;
            let mut name = vec![0u8; usize::from(len)];
            sock.read_exact(&mut name).await?;
            String::from_utf8(name).map_err(|_| invalid("SOCKS5 host name is not UTF-8"))?
        }
        4 => {
            let mut ip = [0u8; 16];
            sock.read_exact(&mut ip).await?;
            std::net::Ipv6Addr::from(ip).to_string()
        }
        _ => {
            // Address type not supported.
            sock.write_all(&[5, 8, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
            return Ok(None);
        }
    };
    let port = sock.read_u16().await?;
    if cmd != 1 {
        // Command not supported.
        sock.write_all(&[5, 7, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
        return Ok(None);
    }
    Ok(Some(Dest { host, port }))
}

async fn reply(sock: &mut TcpStream, v: Version, ok: bool) -> std::io::Result<()> {
    match v {
        // VN 0, CD 90 granted / 91 rejected, port and address ignored.
        Version::V4 => {
            sock.write_all(&[0, if ok { 90 } else { 91 }, 0, 0, 0, 0, 0, 0])
                .await
        }
        // VER 5, REP 0 succeeded / 5 connection refused, bound address 0.0.0.0:0.
        Version::V5 => {
            sock.write_all(&[5, if ok { 0 } else { 5 }, 0, 1, 0, 0, 0, 0, 0, 0])
                .await
        }
    }
}

/// Serves one SOCKS client connection.
pub(crate) async fn serve(client: Client, mut sock: TcpStream) {
    let Ok(ver) = sock.read_u8().await else {
        return;
    };
    let (v, dest) = match ver {
        4 => (Version::V4, request4(&mut sock).await),
        5 => (Version::V5, request5(&mut sock).await),
        _ => return,
    };
    let Ok(Some(dest)) = dest else { return };
    match client.direct_tcpip(&dest.host, dest.port).await {
        Ok(ch) => {
            if reply(&mut sock, v, true).await.is_ok() {
                splice(sock, ch).await;
            }
        }
        Err(_) => {
            let _ = reply(&mut sock, v, false).await;
        }
    }
}
