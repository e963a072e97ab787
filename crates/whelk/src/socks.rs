//! The server side of a SOCKS handshake, sans-IO: what `ssh -D` (dynamic forwarding)
//! speaks to local programs. Both adapters (`whelk-tokio`, `whelk-std`) drive a
//! [`Handshake`] and turn its [`Request`] into a `direct-tcpip` channel (RFC 4254 §7.2).
//!
//! Supported:
//!
//! - SOCKS 4 CONNECT (the SOCKS 4 protocol description, "SOCKS: A protocol for TCP proxy
//!   across firewalls", Ying-Da Lee): `VN=4 CD=1 DSTPORT DSTIP USERID NUL`;
//! - SOCKS 4a CONNECT to a host name ("SOCKS 4A: A Simple Extension to SOCKS 4
//!   Protocol"): `DSTIP` is `0.0.0.x` with `x != 0`, and the host name follows the user id,
//!   NUL-terminated;
//! - SOCKS 5 (RFC 1928) with the method "NO AUTHENTICATION REQUIRED" (`X'00'`, §3) and the
//!   command CONNECT (§4) to an IPv4 address, a domain name or an IPv6 address (§5).
//!
//! Refused with the protocol's error reply (queued for [`Handshake::poll_transmit`]),
//! after which the driver closes the connection: SOCKS 4 commands other than CONNECT
//! (reply `CD=91`), a SOCKS 5 greeting without method `X'00'` (reply `X'FF'`, §3), SOCKS 5
//! BIND / UDP ASSOCIATE (`REP=X'07'` "command not supported", §6) and unknown address
//! types (`REP=X'08'`). Malformed input ends the handshake without a reply.
//!
//! Limits (hostile clients): a SOCKS 4 user id and a SOCKS 4a host name are at most
//! [`MAX_FIELD`] bytes; host names must be non-empty UTF-8 without control characters
//! (no NUL that a C program on the server would cut the name at); the handshake is at
//! most [`MAX_HANDSHAKE`] bytes; drivers should give up after [`HANDSHAKE_TIMEOUT`]. The
//! user id is read and ignored: there is no SOCKS authentication. Nothing here panics on
//! any input.
//!
//! ```
//! use whelk::socks::{Address, Handshake, Version};
//! let mut hs = Handshake::new();
//! // SOCKS 5 greeting: version 5, one method, "no authentication".
//! assert_eq!(hs.handle_input(&[5, 1, 0]), Ok(None));
//! assert_eq!(hs.poll_transmit().as_deref(), Some(&[5, 0][..]));
//! // CONNECT example.net:443, with two bytes of early data behind it.
//! let mut req = vec![5, 1, 0, 3, 11];
//! req.extend_from_slice(b"example.net");
//! req.extend_from_slice(&[1, 187, b'h', b'i']);
//! let r = hs.handle_input(&req)?.expect("complete");
//! assert_eq!((r.version, r.port), (Version::Socks5, 443));
//! assert_eq!(r.address, Address::Domain("example.net".into()));
//! assert_eq!(hs.into_remaining(), b"hi");
//! // After the channel opened (or failed): the reply for the client.
//! assert_eq!(r.version.reply(true), &[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
//! # Ok::<(), whelk::socks::Error>(())
//! ```
#![forbid(unsafe_code)]

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::{Ipv4Addr, Ipv6Addr};
use core::time::Duration;

/// Longest SOCKS 4 user id, SOCKS 4a host name or SOCKS 5 domain name (bytes, without a
/// terminating NUL). SOCKS 5 cannot express more (a one-byte length, RFC 1928 §5).
pub const MAX_FIELD: usize = 255;

/// Most bytes a handshake may take before its request is complete: the largest SOCKS 4a
/// request (8-byte header, user id and host name with their NULs), which is more than a
/// SOCKS 5 greeting (2 + 255) plus request (7 + 255) needs.
pub const MAX_HANDSHAKE: usize = 8 + 2 * (MAX_FIELD + 1);

/// How long drivers let a SOCKS client take for its greeting and request (the default of
/// both adapters).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// The SOCKS 4 command code CONNECT, and the SOCKS 5 one (RFC 1928 §4).
const CMD_CONNECT: u8 = 1;
/// SOCKS 5 method "NO AUTHENTICATION REQUIRED" (RFC 1928 §3).
const METHOD_NONE: u8 = 0;
/// SOCKS 5 method reply "NO ACCEPTABLE METHODS" (RFC 1928 §3).
const NO_ACCEPTABLE_METHODS: [u8; 2] = [5, 0xff];
/// SOCKS 5 method reply selecting "NO AUTHENTICATION REQUIRED".
const METHOD_SELECTED: [u8; 2] = [5, METHOD_NONE];

/// SOCKS 4 reply `CD=90`, request granted (port and address ignored by clients).
const V4_GRANTED: [u8; 8] = [0, 90, 0, 0, 0, 0, 0, 0];
/// SOCKS 4 reply `CD=91`, request rejected or failed.
const V4_REJECTED: [u8; 8] = [0, 91, 0, 0, 0, 0, 0, 0];

/// A SOCKS 5 reply with `BND.ADDR` 0.0.0.0 and `BND.PORT` 0 (RFC 1928 §6).
const fn reply5(rep: u8) -> [u8; 10] {
    [5, rep, 0, 1, 0, 0, 0, 0, 0, 0]
}
/// `REP=X'00'` succeeded.
const V5_SUCCEEDED: [u8; 10] = reply5(0);
/// `REP=X'05'` connection refused (the server could not, or would not, connect).
const V5_REFUSED: [u8; 10] = reply5(5);
/// `REP=X'07'` command not supported.
const V5_CMD_UNSUPPORTED: [u8; 10] = reply5(7);
/// `REP=X'08'` address type not supported.
const V5_ATYP_UNSUPPORTED: [u8; 10] = reply5(8);

/// Which protocol a request came in (the reply differs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// SOCKS 4: an IPv4 destination.
    Socks4,
    /// SOCKS 4a: a host name destination, resolved by the proxy (here: by the SSH server).
    Socks4a,
    /// SOCKS 5 (RFC 1928).
    Socks5,
}

impl Version {
    /// The reply to a CONNECT request once the outcome is known: `granted` (the channel
    /// opened: SOCKS 4 `CD=90`, SOCKS 5 `REP=X'00'`) or not (SOCKS 4 `CD=91`, SOCKS 5
    /// `REP=X'05'` "connection refused"). The bound address in it is 0.0.0.0:0.
    #[must_use]
    pub fn reply(self, granted: bool) -> &'static [u8] {
        match (self, granted) {
            (Self::Socks4 | Self::Socks4a, true) => &V4_GRANTED,
            (Self::Socks4 | Self::Socks4a, false) => &V4_REJECTED,
            (Self::Socks5, true) => &V5_SUCCEEDED,
            (Self::Socks5, false) => &V5_REFUSED,
        }
    }
}

/// A CONNECT destination.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// An IPv4 address (SOCKS 4, SOCKS 5 `ATYP=X'01'`).
    Ipv4(Ipv4Addr),
    /// A host name to be resolved by the SSH server (SOCKS 4a, SOCKS 5 `ATYP=X'03'`):
    /// 1 to [`MAX_FIELD`] bytes of UTF-8 without control characters.
    Domain(String),
    /// An IPv6 address (SOCKS 5 `ATYP=X'04'`).
    Ipv6(Ipv6Addr),
}

impl core::fmt::Display for Address {
    /// The host as a `direct-tcpip` channel names it: an IP literal (IPv6 without
    /// brackets) or the name.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Ipv4(a) => a.fmt(f),
            Self::Domain(n) => f.write_str(n),
            Self::Ipv6(a) => a.fmt(f),
        }
    }
}

/// A complete CONNECT request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Request {
    /// The protocol it came in.
    pub version: Version,
    /// Where to connect.
    pub address: Address,
    /// The destination port.
    pub port: u16,
}

impl Request {
    /// The host for a `direct-tcpip` channel (RFC 4254 §7.2 "host to connect").
    #[must_use]
    pub fn host(&self) -> String {
        self.address.to_string()
    }

    /// What a client sends for this request: for SOCKS 4/4a the request with an empty user
    /// id, for SOCKS 5 the greeting offering "no authentication" followed by the request.
    ///
    /// # Errors
    ///
    /// [`Error::Unencodable`] when the address does not fit the version (SOCKS 4 needs an
    /// IPv4 address, SOCKS 4a a name) or is not a valid name (see [`Address::Domain`]).
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        let [p0, p1] = self.port.to_be_bytes();
        let mut out = Vec::new();
        match (self.version, &self.address) {
            (Version::Socks4, Address::Ipv4(a)) => {
                out.extend_from_slice(&[4, CMD_CONNECT, p0, p1]);
                out.extend_from_slice(&a.octets());
                out.push(0);
            }
            (Version::Socks4a, Address::Domain(n)) => {
                check_name(n.as_bytes()).map_err(|_| Error::Unencodable)?;
                out.extend_from_slice(&[4, CMD_CONNECT, p0, p1, 0, 0, 0, 1, 0]);
                out.extend_from_slice(n.as_bytes());
                out.push(0);
            }
            (Version::Socks5, address) => {
                out.extend_from_slice(&[5, 1, METHOD_NONE, 5, CMD_CONNECT, 0]);
                match address {
                    Address::Ipv4(a) => {
                        out.push(1);
                        out.extend_from_slice(&a.octets());
                    }
                    Address::Domain(n) => {
                        check_name(n.as_bytes()).map_err(|_| Error::Unencodable)?;
                        let len = u8::try_from(n.len()).map_err(|_| Error::Unencodable)?;
                        out.extend_from_slice(&[3, len]);
                        out.extend_from_slice(n.as_bytes());
                    }
                    Address::Ipv6(a) => {
                        out.push(4);
                        out.extend_from_slice(&a.octets());
                    }
                }
                out.extend_from_slice(&[p0, p1]);
            }
            (Version::Socks4 | Version::Socks4a, _) => return Err(Error::Unencodable),
        }
        Ok(out)
    }
}

/// Why a handshake ended without a request. After [`Error::Refused`] the protocol's error
/// reply is waiting in [`Handshake::poll_transmit`]; send it, then close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Not SOCKS, or a malformed greeting or request (no reply is sent).
    #[error("malformed SOCKS handshake: {0}")]
    Malformed(&'static str),
    /// A field or the whole handshake is longer than the limits ([`MAX_FIELD`],
    /// [`MAX_HANDSHAKE`]).
    #[error("SOCKS handshake too long: {0}")]
    TooLong(&'static str),
    /// Something we do not serve (an authentication method, BIND, UDP ASSOCIATE, an
    /// address type); the refusal reply is queued.
    #[error("SOCKS request refused: {0}")]
    Refused(&'static str),
    /// [`Handshake::handle_input`] after the handshake ended.
    #[error("SOCKS handshake already finished")]
    Finished,
    /// [`Request::encode`]: the address does not fit the version.
    #[error("SOCKS request cannot be encoded")]
    Unencodable,
}

/// Where a handshake is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing parsed: a SOCKS 4/4a request or a SOCKS 5 greeting comes.
    Start,
    /// The SOCKS 5 greeting was answered; the request comes.
    Greeted,
    /// A request was returned, or the handshake failed.
    Finished,
}

/// The server side of one SOCKS handshake.
///
/// Feed every byte received to [`Handshake::handle_input`] (any split) and, after each
/// call, send what [`Handshake::poll_transmit`] returns. It answers the SOCKS 5 greeting
/// itself; once it returns a [`Request`] the driver opens the channel, sends
/// [`Version::reply`] and passes [`Handshake::into_remaining`] (bytes the client sent
/// after its request) on before relaying.
#[derive(Debug, Clone)]
pub struct Handshake {
    buf: Vec<u8>,
    state: State,
    out: Vec<u8>,
}

impl Default for Handshake {
    fn default() -> Self {
        Self::new()
    }
}

impl Handshake {
    /// A handshake waiting for its first byte.
    #[must_use]
    pub fn new() -> Self {
        Self {
            buf: Vec::new(),
            state: State::Start,
            out: Vec::new(),
        }
    }

    /// Takes bytes from the client: `Ok(None)` while the request is incomplete,
    /// `Ok(Some(request))` once it is (bytes after it are kept for
    /// [`Handshake::into_remaining`]).
    ///
    /// # Errors
    ///
    /// The handshake failed (see [`Error`]); every later call returns
    /// [`Error::Finished`].
    pub fn handle_input(&mut self, data: &[u8]) -> Result<Option<Request>, Error> {
        if self.state == State::Finished {
            return Err(Error::Finished);
        }
        self.buf.extend_from_slice(data);
        let r = self.advance();
        if !matches!(r, Ok(None)) {
            self.state = State::Finished;
        }
        r
    }

    fn advance(&mut self) -> Result<Option<Request>, Error> {
        if self.state == State::Start && self.buf.first() == Some(&5) {
            match parse_greeting5(&self.buf) {
                Parsed::More => return self.more(),
                Parsed::Done((), used) => {
                    self.consume(used);
                    self.out.extend_from_slice(&METHOD_SELECTED);
                    self.state = State::Greeted;
                }
                Parsed::Fail(e, reply) => return Err(self.fail(e, reply)),
            }
        }
        let parsed = match (self.state, self.buf.first()) {
            (State::Greeted, _) => parse_request5(&self.buf),
            (_, None) => Parsed::More,
            (_, Some(4)) => parse_request4(&self.buf),
            (_, Some(_)) => Parsed::Fail(Error::Malformed("unknown SOCKS version"), &[]),
        };
        match parsed {
            Parsed::More => self.more(),
            Parsed::Done(req, used) => {
                self.consume(used);
                Ok(Some(req))
            }
            Parsed::Fail(e, reply) => Err(self.fail(e, reply)),
        }
    }

    /// Incomplete: fine unless the limit is reached.
    fn more(&self) -> Result<Option<Request>, Error> {
        if self.buf.len() >= MAX_HANDSHAKE {
            return Err(Error::TooLong("SOCKS request"));
        }
        Ok(None)
    }

    fn fail(&mut self, e: Error, reply: &[u8]) -> Error {
        self.out.extend_from_slice(reply);
        e
    }

    fn consume(&mut self, used: usize) {
        self.buf.drain(..used.min(self.buf.len()));
    }

    /// Bytes for the client (the SOCKS 5 method selection, or a refusal reply), if any.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        (!self.out.is_empty()).then(|| core::mem::take(&mut self.out))
    }

    /// Whether a request was returned or the handshake failed.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.state == State::Finished
    }

    /// Bytes the client sent after its request (to be passed on to the destination);
    /// before the request is complete, the unparsed bytes.
    #[must_use]
    pub fn into_remaining(self) -> Vec<u8> {
        self.buf
    }
}

/// What the bytes received so far amount to.
enum Parsed<T> {
    /// Not enough bytes yet.
    More,
    /// Complete: the value and how many bytes it took.
    Done(T, usize),
    /// Failed: the error, and the reply to send (may be empty).
    Fail(Error, &'static [u8]),
}

/// A cursor over received bytes; `None` means "not enough yet".
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }

    fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_be_bytes)
    }

    /// A NUL-terminated field of at most [`MAX_FIELD`] bytes: `Ok(None)` when the NUL has
    /// not arrived yet.
    fn nul_terminated(&mut self) -> Result<Option<&'a [u8]>, Error> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        match rest.iter().take(MAX_FIELD + 1).position(|&b| b == 0) {
            Some(n) => {
                self.pos = self.pos.saturating_add(n).saturating_add(1);
                Ok(rest.get(..n))
            }
            None if rest.len() > MAX_FIELD => Err(Error::TooLong("SOCKS4 field")),
            None => Ok(None),
        }
    }
}

/// A host name: 1 to [`MAX_FIELD`] bytes of UTF-8 without control characters.
fn check_name(name: &[u8]) -> Result<String, Error> {
    if name.is_empty() || name.len() > MAX_FIELD {
        return Err(Error::Malformed("host name length"));
    }
    match core::str::from_utf8(name) {
        Ok(n) if !n.chars().any(char::is_control) => Ok(n.to_string()),
        _ => Err(Error::Malformed("host name")),
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

macro_rules! check {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Parsed::Fail(e, &[]),
        }
    };
}

/// A SOCKS 5 greeting (RFC 1928 §3: `VER NMETHODS METHODS`); accepted when it offers
/// "no authentication".
fn parse_greeting5(buf: &[u8]) -> Parsed<()> {
    let mut c = Cursor::new(buf);
    if need!(c.u8()) != 5 {
        return Parsed::Fail(Error::Malformed("not a SOCKS5 greeting"), &[]);
    }
    let n = need!(c.u8());
    let methods = need!(c.take(usize::from(n)));
    if methods.contains(&METHOD_NONE) {
        Parsed::Done((), c.pos)
    } else {
        Parsed::Fail(
            Error::Refused("no acceptable SOCKS5 authentication method"),
            &NO_ACCEPTABLE_METHODS,
        )
    }
}

/// A SOCKS 4/4a request: `VN CD DSTPORT DSTIP USERID NUL [HOSTNAME NUL]`.
fn parse_request4(buf: &[u8]) -> Parsed<Request> {
    let mut c = Cursor::new(buf);
    let [vn, cd] = need!(c.array());
    if vn != 4 {
        return Parsed::Fail(Error::Malformed("not a SOCKS4 request"), &[]);
    }
    let port = need!(c.u16());
    let ip: [u8; 4] = need!(c.array());
    // The user id is ignored (no authentication).
    need!(check!(c.nul_terminated()));
    let (version, address) = if matches!(ip, [0, 0, 0, x] if x != 0) {
        // SOCKS 4a: 0.0.0.x means the host name follows the user id.
        let name = need!(check!(c.nul_terminated()));
        (Version::Socks4a, Address::Domain(check!(check_name(name))))
    } else {
        (Version::Socks4, Address::Ipv4(Ipv4Addr::from(ip)))
    };
    if cd != CMD_CONNECT {
        return Parsed::Fail(
            Error::Refused("SOCKS4 command other than CONNECT"),
            &V4_REJECTED,
        );
    }
    Parsed::Done(
        Request {
            version,
            address,
            port,
        },
        c.pos,
    )
}

/// A SOCKS 5 request (RFC 1928 §4: `VER CMD RSV ATYP DST.ADDR DST.PORT`).
fn parse_request5(buf: &[u8]) -> Parsed<Request> {
    let mut c = Cursor::new(buf);
    let [ver, cmd, _rsv, atyp] = need!(c.array());
    if ver != 5 {
        return Parsed::Fail(Error::Malformed("SOCKS5 request with a wrong version"), &[]);
    }
    let address = match atyp {
        1 => Address::Ipv4(Ipv4Addr::from(need!(c.array::<4>()))),
        3 => {
            let len = need!(c.u8());
            Address::Domain(check!(check_name(need!(c.take(usize::from(len))))))
        }
        4 => Address::Ipv6(Ipv6Addr::from(need!(c.array::<16>()))),
        _ => {
            return Parsed::Fail(
                Error::Refused("SOCKS5 address type not supported"),
                &V5_ATYP_UNSUPPORTED,
            );
        }
    };
    let port = need!(c.u16());
    if cmd != CMD_CONNECT {
        return Parsed::Fail(
            Error::Refused("SOCKS5 command other than CONNECT"),
            &V5_CMD_UNSUPPORTED,
        );
    }
    Parsed::Done(
        Request {
            version: Version::Socks5,
            address,
            port,
        },
        c.pos,
    )
}

/// The body of the `socks_handshake` fuzz target (`fuzz/fuzz_targets/socks_handshake.rs`),
/// here so that `cargo test -p whelk --test socks_fuzz_corpus` replays its corpus
/// (`testdata/fuzz/socks_handshake/`). Not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    #![allow(clippy::expect_used, clippy::panic)]

    use super::{Error, Handshake, MAX_HANDSHAKE, Request, Version};
    use alloc::vec::Vec;

    /// What a handshake made of a byte stream: the outcome, everything transmitted, and
    /// the bytes left over after a request.
    type Outcome = (Result<Option<Request>, Error>, Vec<u8>, Option<Vec<u8>>);

    fn run<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> Outcome {
        let mut hs = Handshake::new();
        let mut sent = Vec::new();
        let mut result = Ok(None);
        let mut after = Vec::new();
        for p in pieces {
            if result != Ok(None) {
                // What a driver would read after the handshake ended.
                after.extend_from_slice(p);
                continue;
            }
            result = hs.handle_input(p);
            if let Some(out) = hs.poll_transmit() {
                sent.extend_from_slice(&out);
            }
        }
        assert_eq!(hs.poll_transmit(), None, "nothing left to send");
        let rest = matches!(result, Ok(Some(_))).then(|| [hs.into_remaining(), after].concat());
        (result, sent, rest)
    }

    /// Feeds `data` to a [`Handshake`] whole, a byte at a time and split at the first
    /// byte's value; must never panic, and:
    ///
    /// - every split gives the same request or error, the same bytes to send and the same
    ///   leftover bytes;
    /// - at most a method selection and one reply are sent; a request leaves a suffix of
    ///   `data` over, and takes at most [`MAX_HANDSHAKE`] bytes;
    /// - a request re-encodes ([`Request::encode`]) to bytes that give the same request
    ///   and nothing left over, and the replies are well-formed.
    pub fn handshake(data: &[u8]) {
        let whole = run([data]);
        let bytes = run(data.chunks(1));
        assert_eq!(whole, bytes, "whole vs byte by byte");
        let at = usize::from(data.first().copied().unwrap_or(0)).min(data.len());
        let (a, b) = data.split_at(at);
        assert_eq!(whole, run([a, b]), "split at {at}");

        let (result, sent, rest) = whole;
        assert!(sent.len() <= 2 + 10, "sent {sent:?}");
        match result {
            Ok(Some(req)) => {
                let rest = rest.expect("leftover bytes");
                assert!(data.ends_with(&rest), "leftover is a suffix");
                assert!(data.len() - rest.len() <= MAX_HANDSHAKE);
                let again = req.encode().expect("a parsed request re-encodes");
                let (r2, sent2, rest2) = run([again.as_slice()]);
                assert_eq!(r2, Ok(Some(req.clone())), "round trip");
                assert_eq!(rest2.as_deref(), Some(&[][..]));
                assert_eq!(sent2, sent, "same method selection");
                for granted in [true, false] {
                    let reply = req.version.reply(granted);
                    let want = if req.version == Version::Socks5 {
                        10
                    } else {
                        8
                    };
                    assert_eq!(reply.len(), want);
                }
            }
            Ok(None) => assert!(data.len() < MAX_HANDSHAKE, "incomplete within the limit"),
            Err(e) => {
                assert_ne!(e, Error::Finished);
                let _ = alloc::format!("{e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(data: &[u8]) -> (Result<Option<Request>, Error>, Vec<u8>) {
        let mut hs = Handshake::new();
        let r = hs.handle_input(data);
        (r, hs.poll_transmit().unwrap_or_default())
    }

    #[test]
    fn socks4_and_4a_byte_by_byte() {
        let v4 = [4, 1, 0, 80, 10, 0, 0, 7, b'u', 0];
        let mut hs = Handshake::new();
        for b in &v4[..v4.len() - 1] {
            assert_eq!(hs.handle_input(&[*b]), Ok(None));
        }
        let r = hs.handle_input(&v4[9..]).unwrap().unwrap();
        assert_eq!(
            (r.version, r.host(), r.port),
            (Version::Socks4, "10.0.0.7".to_string(), 80)
        );
        assert_eq!(r.encode().unwrap(), [4, 1, 0, 80, 10, 0, 0, 7, 0]);
        assert_eq!(hs.poll_transmit(), None);
        assert_eq!(hs.handle_input(b"x"), Err(Error::Finished));

        let mut v4a = vec![4, 1, 0x1f, 0x90, 0, 0, 0, 1, 0];
        v4a.extend_from_slice(b"example.net\0GET");
        let mut hs = Handshake::new();
        assert_eq!(hs.handle_input(&v4a[..v4a.len() - 4]), Ok(None));
        let r = hs.handle_input(&v4a[v4a.len() - 4..]).unwrap().unwrap();
        assert_eq!(
            (r.version, r.host(), r.port),
            (Version::Socks4a, "example.net".to_string(), 8080)
        );
        assert_eq!(hs.into_remaining(), b"GET");
        assert_eq!(r.version.reply(false), V4_REJECTED);
    }

    #[test]
    fn socks4_refusals_and_limits() {
        // BIND is refused with "rejected".
        assert_eq!(
            one(&[4, 2, 0, 80, 1, 2, 3, 4, 0]),
            (
                Err(Error::Refused("SOCKS4 command other than CONNECT")),
                V4_REJECTED.to_vec()
            )
        );
        // An endless user id is cut off.
        let mut long = vec![4, 1, 0, 80, 1, 2, 3, 4];
        long.extend(core::iter::repeat_n(b'a', 300));
        assert!(matches!(one(&long).0, Err(Error::TooLong(_))));
        // An empty 4a name, a name with a control character.
        assert!(matches!(
            one(&[4, 1, 0, 80, 0, 0, 0, 1, 0, 0]).0,
            Err(Error::Malformed(_))
        ));
        assert!(matches!(
            one(&[4, 1, 0, 80, 0, 0, 0, 1, 0, b'a', 1, 0]).0,
            Err(Error::Malformed(_))
        ));
        // Not SOCKS at all: no reply.
        assert_eq!(
            one(b"GET / HTTP/1.1\r\n"),
            (Err(Error::Malformed("unknown SOCKS version")), vec![])
        );
    }

    #[test]
    fn socks5_greeting_and_requests() {
        let mut hs = Handshake::new();
        assert_eq!(hs.handle_input(&[5, 2, 2]), Ok(None));
        assert_eq!(hs.poll_transmit(), None);
        assert_eq!(hs.handle_input(&[0]), Ok(None));
        assert_eq!(hs.poll_transmit(), Some(vec![5, 0]));
        let name = [5, 1, 0, 3, 4, b'h', b'o', b's', b't', 0, 22];
        for b in &name[..name.len() - 1] {
            assert_eq!(hs.handle_input(&[*b]), Ok(None));
        }
        let r = hs.handle_input(&name[10..]).unwrap().unwrap();
        assert_eq!(
            (r.version, r.host(), r.port),
            (Version::Socks5, "host".to_string(), 22)
        );

        assert_eq!(
            one(&[5, 1, 2]),
            (
                Err(Error::Refused("no acceptable SOCKS5 authentication method")),
                vec![5, 0xff]
            )
        );
        // Greeting and request in one piece (pipelined).
        let mut v6 = vec![5, 1, 0, 5, 1, 0, 4];
        v6.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        v6.extend_from_slice(&[0, 22]);
        let (r, sent) = one(&v6);
        assert_eq!(r.unwrap().unwrap().host(), "::1");
        assert_eq!(sent, [5, 0]);
        // UDP ASSOCIATE: "command not supported"; unknown address type likewise.
        let (r, sent) = one(&[5, 1, 0, 5, 3, 0, 1, 127, 0, 0, 1, 0, 53]);
        assert!(matches!(r, Err(Error::Refused(_))));
        assert_eq!(sent, [&[5, 0][..], &V5_CMD_UNSUPPORTED].concat());
        let (r, sent) = one(&[5, 1, 0, 5, 1, 0, 9]);
        assert!(matches!(r, Err(Error::Refused(_))));
        assert_eq!(sent, [&[5, 0][..], &V5_ATYP_UNSUPPORTED].concat());
        // A request with the wrong version after the greeting.
        assert!(matches!(
            one(&[5, 1, 0, 4, 1, 0, 1]).0,
            Err(Error::Malformed(_))
        ));
    }

    #[test]
    fn encode_round_trips() {
        let reqs = [
            Request {
                version: Version::Socks4,
                address: Address::Ipv4(Ipv4Addr::new(192, 0, 2, 1)),
                port: 443,
            },
            Request {
                version: Version::Socks4a,
                address: Address::Domain("example.org".into()),
                port: 80,
            },
            Request {
                version: Version::Socks5,
                address: Address::Domain("a".repeat(MAX_FIELD)),
                port: 65535,
            },
            Request {
                version: Version::Socks5,
                address: Address::Ipv4(Ipv4Addr::LOCALHOST),
                port: 1,
            },
        ];
        for req in reqs {
            let (r, _) = one(&req.encode().unwrap());
            assert_eq!(r, Ok(Some(req)));
        }
        let bad = Request {
            version: Version::Socks4,
            address: Address::Ipv6(Ipv6Addr::LOCALHOST),
            port: 1,
        };
        assert_eq!(bad.encode(), Err(Error::Unencodable));
        let long = Request {
            version: Version::Socks5,
            address: Address::Domain("a".repeat(MAX_FIELD + 1)),
            port: 1,
        };
        assert_eq!(long.encode(), Err(Error::Unencodable));
    }

    #[test]
    fn fuzz_oracle_on_samples() {
        fuzzing::handshake(&[]);
        fuzzing::handshake(&[5, 1, 0, 5, 1, 0, 3, 4, b'h', b'o', b's', b't', 0, 22, 9]);
        fuzzing::handshake(&[4, 1, 0, 80, 0, 0, 0, 1, b'u', 0, b'n', 0]);
        fuzzing::handshake(&[4; 600]);
    }
}
