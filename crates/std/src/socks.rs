//! The SOCKS side of dynamic forwarding ([`crate::Client::forward_dynamic`], `ssh -D`):
//! SOCKS 4 (CONNECT), 4a (CONNECT to a host name) and 5 (RFC 1928, method "no
//! authentication", CONNECT to IPv4, IPv6 or a domain name). Each request becomes a
//! `direct-tcpip` channel; domain names go to the server unresolved.
//!
//! The parser is sans-IO: [`parse_request`] and [`parse_greeting5`] look at the bytes
//! received so far and say "need more", "refuse with this reply" or "done, this many
//! bytes used"; [`serve`] only moves bytes.
//!
//! Limits: user ids and host names of at most 255 bytes; the handshake must arrive
//! within [`HANDSHAKE_TIMEOUT`]. BIND, UDP ASSOCIATE and SOCKS 5 authentication methods
//! other than "none" are refused with the protocol's error reply and the connection
//! closed.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::client::Client;
use crate::forward::{LocalStream, splice};

/// Longest SOCKS 4 user id or 4a host name accepted (bytes, without the NUL).
const MAX_FIELD: usize = 255;
/// How long a SOCKS client may take to send its greeting and request.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Most bytes a greeting or request can take (SOCKS 4a: header, user id, host name).
const MAX_HANDSHAKE: usize = 8 + 2 * (MAX_FIELD + 1);

/// SOCKS 4 reply: request granted.
const V4_GRANTED: [u8; 8] = [0, 90, 0, 0, 0, 0, 0, 0];
/// SOCKS 4 reply: request rejected or failed.
const V4_REJECTED: [u8; 8] = [0, 91, 0, 0, 0, 0, 0, 0];

/// A SOCKS 5 reply with bound address 0.0.0.0:0 (RFC 1928 §6).
const fn reply5(code: u8) -> [u8; 10] {
    [5, code, 0, 1, 0, 0, 0, 0, 0, 0]
}

/// A CONNECT request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Connect {
    /// Which protocol it came in (the reply differs).
    pub(crate) v5: bool,
    /// The destination: an IP literal or a name.
    pub(crate) host: String,
    /// The destination port.
    pub(crate) port: u16,
}

/// What the bytes received so far amount to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed<T> {
    /// Not enough bytes yet.
    More,
    /// Complete: the value and how many bytes it took.
    Done(T, usize),
    /// Refused: send this reply and close.
    Refuse(&'static [u8]),
    /// Malformed: close without a reply.
    Invalid(&'static str),
}

/// A cursor over received bytes; `None` means "not enough yet".
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).and_then(|b| b.first().copied())
    }

    fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
    }

    /// A NUL-terminated field: `Ok(None)` when the NUL has not arrived yet.
    fn nul_terminated(&mut self) -> Result<Option<&'a [u8]>, &'static str> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        match rest.iter().take(MAX_FIELD + 1).position(|&b| b == 0) {
            Some(n) => {
                let field = rest.get(..n).unwrap_or_default();
                self.pos += n + 1;
                Ok(Some(field))
            }
            None if rest.len() > MAX_FIELD => Err("SOCKS4 field too long"),
            None => Ok(None),
        }
    }
}

macro_rules! need {
    ($e:expr) => {
        match $e {
            Some(v) => v,
            None => return Parsed::More,
        }
    };
}

/// Parses a SOCKS 5 greeting (version, methods): `Done(true)` when "no authentication"
/// is offered (reply `05 00`), `Refuse` otherwise.
pub(crate) fn parse_greeting5(buf: &[u8]) -> Parsed<()> {
    let mut c = Cursor { buf, pos: 0 };
    if need!(c.u8()) != 5 {
        return Parsed::Invalid("not a SOCKS5 greeting");
    }
    let n = need!(c.u8());
    let methods = need!(c.take(usize::from(n)));
    if methods.contains(&0) {
        Parsed::Done((), c.pos)
    } else {
        // No acceptable method.
        Parsed::Refuse(&[5, 0xff])
    }
}

/// Parses a SOCKS 4/4a request (from the version byte on).
pub(crate) fn parse_request4(buf: &[u8]) -> Parsed<Connect> {
    let mut c = Cursor { buf, pos: 0 };
    if need!(c.u8()) != 4 {
        return Parsed::Invalid("not a SOCKS4 request");
    }
    let cmd = need!(c.u8());
    let port = need!(c.u16());
    let ip: [u8; 4] = match need!(c.take(4)).try_into() {
        Ok(ip) => ip,
        Err(_) => return Parsed::Invalid("SOCKS4 address"),
    };
    // The user id is ignored (no authentication).
    match c.nul_terminated() {
        Ok(Some(_)) => {}
        Ok(None) => return Parsed::More,
        Err(e) => return Parsed::Invalid(e),
    }
    let host = if matches!(ip, [0, 0, 0, x] if x != 0) {
        // SOCKS 4a: 0.0.0.x means the host name follows the user id.
        match c.nul_terminated() {
            Ok(Some(name)) => match std::str::from_utf8(name) {
                Ok(n) if !n.is_empty() => n.to_string(),
                _ => return Parsed::Invalid("SOCKS4a host name"),
            },
            Ok(None) => return Parsed::More,
            Err(e) => return Parsed::Invalid(e),
        }
    } else {
        Ipv4Addr::from(ip).to_string()
    };
    if cmd != 1 {
        return Parsed::Refuse(&V4_REJECTED);
    }
    Parsed::Done(
        Connect {
            v5: false,
            host,
            port,
        },
        c.pos,
    )
}

/// Parses a SOCKS 5 request (after the greeting).
pub(crate) fn parse_request5(buf: &[u8]) -> Parsed<Connect> {
    const CMD_UNSUPPORTED: [u8; 10] = reply5(7);
    const ATYP_UNSUPPORTED: [u8; 10] = reply5(8);
    let mut c = Cursor { buf, pos: 0 };
    let Ok([ver, cmd, _reserved, atyp]) = <[u8; 4]>::try_from(need!(c.take(4))) else {
        return Parsed::Invalid("SOCKS5 request");
    };
    if ver != 5 {
        return Parsed::Invalid("SOCKS5 request with a wrong version");
    }
    let host = match atyp {
        1 => {
            let ip: [u8; 4] = match need!(c.take(4)).try_into() {
                Ok(ip) => ip,
                Err(_) => return Parsed::Invalid("SOCKS5 address"),
            };
            Ipv4Addr::from(ip).to_string()
        }
        3 => {
            let len = need!(c.u8());
            match std::str::from_utf8(need!(c.take(usize::from(len)))) {
                Ok(n) if !n.is_empty() => n.to_string(),
                _ => return Parsed::Invalid("SOCKS5 host name"),
            }
        }
        4 => {
            let ip: [u8; 16] = match need!(c.take(16)).try_into() {
                Ok(ip) => ip,
                Err(_) => return Parsed::Invalid("SOCKS5 address"),
            };
            Ipv6Addr::from(ip).to_string()
        }
        _ => return Parsed::Refuse(&ATYP_UNSUPPORTED),
    };
    let port = need!(c.u16());
    if cmd != 1 {
        return Parsed::Refuse(&CMD_UNSUPPORTED);
    }
    Parsed::Done(
        Connect {
            v5: true,
            host,
            port,
        },
        c.pos,
    )
}

/// Parses the start of a SOCKS request: SOCKS 4/4a, or a SOCKS 5 greeting followed by
/// its request (`greeted`: the greeting was parsed and answered already; `buf` then
/// starts at the request).
pub(crate) fn parse_request(buf: &[u8], greeted: bool) -> Parsed<Connect> {
    if greeted {
        return parse_request5(buf);
    }
    match buf.first() {
        None => Parsed::More,
        Some(4) => parse_request4(buf),
        Some(5) => Parsed::Invalid("SOCKS5 request before the greeting"),
        Some(_) => Parsed::Invalid("unknown SOCKS version"),
    }
}

/// Reads until `parse` is not [`Parsed::More`] (at most [`MAX_HANDSHAKE`] bytes).
fn read_until<T>(
    sock: &mut LocalStream,
    buf: &mut Vec<u8>,
    parse: impl Fn(&[u8]) -> Parsed<T>,
) -> std::io::Result<Parsed<T>> {
    let mut chunk = [0u8; 512];
    loop {
        match parse(buf) {
            Parsed::More => {}
            done => return Ok(done),
        }
        if buf.len() >= MAX_HANDSHAKE {
            return Ok(Parsed::Invalid("SOCKS request too long"));
        }
        let n = sock.read(&mut chunk)?;
        if n == 0 {
            return Ok(Parsed::Invalid("SOCKS client closed"));
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

/// Reads the greeting (SOCKS 5) and the CONNECT request; `Ok(None)` when refused or
/// malformed (a refusal has been answered). Returns the request and any bytes received
/// after it (a client sending data before the reply).
fn handshake(sock: &mut LocalStream) -> std::io::Result<Option<(Connect, Vec<u8>)>> {
    let mut buf = Vec::new();
    let mut greeted = false;
    let mut peek = [0u8; 1];
    if sock.read(&mut peek)? == 0 {
        return Ok(None);
    }
    buf.extend_from_slice(&peek);
    if peek == [5] {
        match read_until(sock, &mut buf, parse_greeting5)? {
            Parsed::Done((), used) => {
                buf.drain(..used.min(buf.len()));
                sock.write_all(&[5, 0])?;
                greeted = true;
            }
            Parsed::Refuse(reply) => {
                sock.write_all(reply)?;
                return Ok(None);
            }
            Parsed::More | Parsed::Invalid(_) => return Ok(None),
        }
    }
    match read_until(sock, &mut buf, |b| parse_request(b, greeted))? {
        Parsed::Done(req, used) => {
            buf.drain(..used.min(buf.len()));
            Ok(Some((req, buf)))
        }
        Parsed::Refuse(reply) => {
            sock.write_all(reply)?;
            Ok(None)
        }
        Parsed::More | Parsed::Invalid(_) => Ok(None),
    }
}

/// Serves one SOCKS client connection: handshake, `direct-tcpip` channel, reply, then
/// bytes both ways.
pub(crate) fn serve(client: &Client, mut sock: LocalStream) {
    if sock.set_read_timeout(Some(HANDSHAKE_TIMEOUT)).is_err() {
        return;
    }
    let Ok(Some((req, early))) = handshake(&mut sock) else {
        return;
    };
    if sock.set_read_timeout(None).is_err() {
        return;
    }
    const V5_GRANTED: [u8; 10] = reply5(0);
    // "Connection refused": the server could not (or would not) connect.
    const V5_REFUSED: [u8; 10] = reply5(5);
    match client.direct_tcpip(&req.host, req.port) {
        Ok(ch) => {
            let reply: &[u8] = if req.v5 { &V5_GRANTED } else { &V4_GRANTED };
            if sock.write_all(reply).is_ok() && ch.stdin().write_all(&early).is_ok() {
                splice(sock, &ch.chan);
            }
        }
        Err(_) => {
            let reply: &[u8] = if req.v5 { &V5_REFUSED } else { &V4_REJECTED };
            let _ = sock.write_all(reply);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(p: Parsed<Connect>) -> (Connect, usize) {
        match p {
            Parsed::Done(c, n) => (c, n),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn socks4_and_4a_byte_by_byte() {
        let v4 = [4, 1, 0, 80, 10, 0, 0, 7, b'u', 0];
        for i in 0..v4.len() {
            assert_eq!(parse_request(&v4[..i], false), Parsed::More);
        }
        let (c, n) = done(parse_request(&v4, false));
        assert_eq!(
            (c.host.as_str(), c.port, c.v5, n),
            ("10.0.0.7", 80, false, 10)
        );
        let mut v4a = vec![4, 1, 0x1f, 0x90, 0, 0, 0, 1, 0];
        v4a.extend_from_slice(b"example.net\0");
        assert_eq!(parse_request(&v4a[..v4a.len() - 1], false), Parsed::More);
        let (c, _) = done(parse_request(&v4a, false));
        assert_eq!((c.host.as_str(), c.port), ("example.net", 8080));
        // BIND is refused with "rejected".
        assert_eq!(
            parse_request(&[4, 2, 0, 80, 1, 2, 3, 4, 0], false),
            Parsed::Refuse(&V4_REJECTED)
        );
        // An endless user id is cut off.
        let mut long = vec![4, 1, 0, 80, 1, 2, 3, 4];
        long.extend(std::iter::repeat_n(b'a', 300));
        assert!(matches!(parse_request(&long, false), Parsed::Invalid(_)));
    }

    #[test]
    fn socks5_greeting_and_requests() {
        assert_eq!(parse_greeting5(&[5, 2, 2]), Parsed::More);
        assert_eq!(parse_greeting5(&[5, 2, 2, 0]), Parsed::Done((), 4));
        assert_eq!(parse_greeting5(&[5, 1, 2]), Parsed::Refuse(&[5, 0xff]));
        let name = [5, 1, 0, 3, 4, b'h', b'o', b's', b't', 0, 22];
        for i in 0..name.len() {
            assert_eq!(parse_request(&name[..i], true), Parsed::More);
        }
        let (c, n) = done(parse_request(&name, true));
        assert_eq!((c.host.as_str(), c.port, c.v5, n), ("host", 22, true, 11));
        let v6 = [
            5, 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 22,
        ];
        assert_eq!(done(parse_request(&v6, true)).0.host, "::1");
        // UDP ASSOCIATE: "command not supported"; unknown address type likewise.
        let udp = [5, 3, 0, 1, 127, 0, 0, 1, 0, 53];
        assert!(matches!(parse_request(&udp, true), Parsed::Refuse(r) if r[1] == 7));
        assert!(matches!(parse_request(&[5, 1, 0, 9], true), Parsed::Refuse(r) if r[1] == 8));
        assert!(matches!(
            parse_request(&[9, 1, 0, 1], false),
            Parsed::Invalid(_)
        ));
    }
}
