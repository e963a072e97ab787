//! The client side of X11 forwarding, sans-IO (RFC 4254 §6.3; what `ssh -X` / `ssh -Y`
//! do): where a `DISPLAY` points ([`Display::parse`]), the real authorization cookie from
//! `xauth list` output ([`parse_xauth_list`]), and the fake-cookie scheme OpenSSH uses
//! ([`Spoofing`], [`SetupRewriter`]).
//!
//! The scheme: the client never sends the X server's real cookie to the SSH server. The
//! `x11-req` (RFC 4254 §6.3.1) carries a *fake* cookie of the same protocol and length,
//! drawn fresh from the connection's RNG; sshd hands it to `xauth` on the remote side, so
//! X clients there present the fake cookie. Each incoming `x11` channel (RFC 4254 §6.3.2)
//! starts with the X11 connection setup (X Window System Protocol, "Connection Setup"):
//!
//! ```text
//! byte-order 'B' (MSB first) or 'l' (LSB first), 1 unused byte,
//! CARD16 protocol-major-version, CARD16 protocol-minor-version,
//! CARD16 n = length of authorization-protocol-name,
//! CARD16 d = length of authorization-protocol-data, 2 unused bytes,
//! STRING8 authorization-protocol-name, pad to 4,
//! STRING8 authorization-protocol-data, pad to 4
//! ```
//!
//! The [`SetupRewriter`] reads that header as it arrives (split anywhere), checks that the
//! protocol name is the expected one and the data equals the fake cookie (in constant
//! time, `subtle`), replaces the data with the real cookie and passes everything after the
//! header through unchanged. Anything else is refused: the driver closes the channel
//! without having connected a byte to the X server. A header is at most [`MAX_SETUP`]
//! bytes; lengths that cannot match are refused as soon as the fixed 12-byte prefix is in.
//! Nothing here panics on any input.
//!
//! ```
//! use whelk::x11::{Cookie, Display, SetupRewriter, Spoofing, Target};
//! # use rand_core::SeedableRng;
//! # let mut rng = chacha20::ChaCha20Rng::from_seed([1; 32]);
//! let display = Display::parse(":3.1")?;
//! assert_eq!(display.target, Target::Unix("/tmp/.X11-unix/X3".into()));
//! assert_eq!(display.screen, 1);
//!
//! let real = whelk::x11::parse_xauth_list(
//!     "host/unix:3  MIT-MAGIC-COOKIE-1  000102030405060708090a0b0c0d0e0f\n",
//! ).expect("a cookie");
//! let spoof = Spoofing::new(real, &mut rng);
//! // What goes into the x11-req: the protocol name and the fake cookie, in hex.
//! assert_eq!(spoof.protocol(), "MIT-MAGIC-COOKIE-1");
//! assert_eq!(spoof.fake_hex().len(), 32);
//!
//! // A remote X client's connection setup, presenting the fake cookie, in two pieces.
//! let setup = whelk::x11::encode_setup(b'l', 11, 0, b"MIT-MAGIC-COOKIE-1", spoof.fake());
//! let mut rw = spoof.rewriter();
//! assert_eq!(rw.handle_input(&setup[..5]), Ok(None));
//! let out = rw.handle_input(&setup[5..])?.expect("complete");
//! // Same header, the real cookie in place of the fake one.
//! assert_eq!(out.len(), setup.len());
//! assert_eq!(&out[out.len() - 16..], &(0..16).collect::<Vec<u8>>()[..]);
//! // Later bytes pass through.
//! assert_eq!(rw.handle_input(b"req"), Ok(Some(b"req".to_vec())));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use bytes::Bytes;
use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use whelk_wire::msg::ChannelRequestKind;
use whelk_wire::types::Text;
use zeroize::Zeroizing;

/// The authorization protocol OpenSSH forwards (and the only one `xauth generate` makes).
pub const MIT_MAGIC_COOKIE_1: &str = "MIT-MAGIC-COOKIE-1";

/// Where local displays listen: `/tmp/.X11-unix/X<N>`.
pub const UNIX_SOCKET_DIR: &str = "/tmp/.X11-unix";

/// TCP port of display 0 (`host:N` listens on `6000 + N`).
pub const TCP_PORT_BASE: u16 = 6000;

/// Longest authorization protocol name accepted from `xauth` (bytes).
pub const MAX_PROTOCOL_NAME: usize = 64;

/// Longest authorization data accepted from `xauth` (bytes; a MIT-MAGIC-COOKIE-1 has 16).
pub const MAX_COOKIE: usize = 256;

/// Most bytes a connection setup header can take before it is checked: the fixed part,
/// then the longest protocol name and cookie, each padded to 4.
pub const MAX_SETUP: usize = 12 + MAX_PROTOCOL_NAME + MAX_COOKIE;

/// A `DISPLAY` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad DISPLAY {0:?}: expected [host]:N[.S], unix:N[.S] or /path:N[.S]")]
pub struct DisplayError(pub String);

/// Where to connect for a display.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// A UNIX-domain socket (`/tmp/.X11-unix/X<N>`, or the path of a `/path:N` display).
    Unix(String),
    /// A TCP address: the host and `6000 + N`.
    Tcp {
        /// Host name or address (without brackets).
        host: String,
        /// `6000 + N`.
        port: u16,
    },
}

/// A parsed `DISPLAY` value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Display {
    /// Where the X server listens.
    pub target: Target,
    /// The display number `N`.
    pub number: u32,
    /// The screen `S` (0 without `.S`); sent in the `x11-req`.
    pub screen: u32,
    /// The display name to give `xauth` (OpenSSH turns `localhost:N` into `unix:N`).
    pub xauth_name: String,
}

impl Display {
    /// Parses a `DISPLAY` the way OpenSSH's `x11_connect_display` reads it:
    ///
    /// - `:N[.S]` and `unix:N[.S]`: the local socket `/tmp/.X11-unix/X<N>`;
    /// - `/path/to/socket:N[.S]` (macOS launchd displays): the socket at the path;
    /// - `host:N[.S]`: TCP to `host`, port `6000 + N` (`[v6addr]:N` too).
    ///
    /// `N` and `S` are decimal; DECnet displays (`host::N`) are refused.
    pub fn parse(display: &str) -> Result<Self, DisplayError> {
        let bad = || DisplayError(display.to_string());
        let (host, rest) = display.rsplit_once(':').ok_or_else(bad)?;
        let (number, screen) = match rest.split_once('.') {
            Some((n, s)) => (decimal(n).ok_or_else(bad)?, decimal(s).ok_or_else(bad)?),
            None => (decimal(rest).ok_or_else(bad)?, 0),
        };
        let target = if host.is_empty() || host == "unix" {
            Target::Unix(format!("{UNIX_SOCKET_DIR}/X{number}"))
        } else if host.starts_with('/') {
            Target::Unix(host.to_string())
        } else {
            let host = match host.strip_prefix('[') {
                Some(h) => h.strip_suffix(']').ok_or_else(bad)?,
                None if host.contains(':') => return Err(bad()),
                None => host,
            };
            if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(bad());
            }
            let port = u16::try_from(number)
                .ok()
                .and_then(|n| TCP_PORT_BASE.checked_add(n))
                .ok_or_else(bad)?;
            Target::Tcp {
                host: host.to_string(),
                port,
            }
        };
        let xauth_name = match display.strip_prefix("localhost:") {
            Some(rest) => format!("unix:{rest}"),
            None => display.to_string(),
        };
        Ok(Self {
            target,
            number,
            screen,
            xauth_name,
        })
    }
}

/// A decimal number of at most 9 digits (no sign, no spaces).
fn decimal(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// An X authorization: protocol name and data (the data is wiped on drop).
#[derive(Clone, PartialEq, Eq)]
pub struct Cookie {
    protocol: String,
    data: Zeroizing<Vec<u8>>,
}

impl core::fmt::Debug for Cookie {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Cookie")
            .field("protocol", &self.protocol)
            .field("len", &self.data.len())
            .finish_non_exhaustive()
    }
}

impl Cookie {
    /// A cookie; `None` if the protocol name is empty, longer than [`MAX_PROTOCOL_NAME`]
    /// or not printable ASCII, or the data is empty or longer than [`MAX_COOKIE`].
    #[must_use]
    pub fn new(protocol: &str, data: Vec<u8>) -> Option<Self> {
        let data = Zeroizing::new(data);
        let ok_name = !protocol.is_empty()
            && protocol.len() <= MAX_PROTOCOL_NAME
            && protocol.bytes().all(|b| b.is_ascii_graphic());
        (ok_name && !data.is_empty() && data.len() <= MAX_COOKIE).then(|| Self {
            protocol: protocol.to_string(),
            data,
        })
    }

    /// A fresh random MIT-MAGIC-COOKIE-1 (16 bytes), e.g. when `xauth` has nothing for
    /// the display (OpenSSH: "No xauth data; using fake authentication data").
    #[must_use]
    pub fn random(rng: &mut impl CryptoRng) -> Self {
        let mut data = Zeroizing::new(alloc::vec![0u8; 16]);
        rng.fill_bytes(&mut data);
        Self {
            protocol: MIT_MAGIC_COOKIE_1.to_string(),
            data,
        }
    }

    /// The protocol name.
    #[must_use]
    pub fn protocol(&self) -> &str {
        &self.protocol
    }

    /// The authorization data.
    #[must_use]
    pub fn data(&self) -> &[u8] {
        &self.data
    }
}

/// The first cookie of `xauth list` output (`<display> <protocol> <hex data>` lines), as
/// OpenSSH reads it: the first line only, protocol and data as the second and third
/// fields. `None` if that line does not hold a well-formed cookie.
#[must_use]
pub fn parse_xauth_list(output: &str) -> Option<Cookie> {
    let line = output.lines().next()?;
    let mut fields = line.split_whitespace();
    let _display = fields.next()?;
    let protocol = fields.next()?;
    let hex = fields.next()?;
    Cookie::new(protocol, decode_hex(hex)?)
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let bytes = hex.as_bytes();
    if !bytes.len().is_multiple_of(2) || bytes.len() > 2 * MAX_COOKIE {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|p| match p {
            [h, l] => Some(digit(*h)? << 4 | digit(*l)?),
            _ => None,
        })
        .collect()
}

fn encode_hex(data: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(data.len() * 2);
    for b in data {
        for nibble in [b >> 4, b & 15] {
            s.push(char::from(
                DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0'),
            ));
        }
    }
    s
}

/// One X11 forwarding set-up: the real cookie and the fake one the server gets.
#[derive(Clone)]
pub struct Spoofing {
    real: Cookie,
    fake: Zeroizing<Vec<u8>>,
}

impl core::fmt::Debug for Spoofing {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Spoofing")
            .field("protocol", &self.real.protocol)
            .finish_non_exhaustive()
    }
}

impl Spoofing {
    /// Draws a fake cookie of the same length as `real` from `rng` (OpenSSH's
    /// `x11_request_forwarding_with_spoofing`).
    pub fn new(real: Cookie, rng: &mut impl CryptoRng) -> Self {
        let mut fake = Zeroizing::new(alloc::vec![0u8; real.data.len()]);
        rng.fill_bytes(&mut fake);
        Self { real, fake }
    }

    /// The authorization protocol name (sent in the `x11-req`).
    #[must_use]
    pub fn protocol(&self) -> &str {
        &self.real.protocol
    }

    /// The fake cookie.
    #[must_use]
    pub fn fake(&self) -> &[u8] {
        &self.fake
    }

    /// The fake cookie in lowercase hex, as the `x11-req` carries it.
    #[must_use]
    pub fn fake_hex(&self) -> String {
        encode_hex(&self.fake)
    }

    /// The `x11-req` channel request for `screen` (RFC 4254 §6.3.1).
    #[must_use]
    pub fn request(&self, screen: u32, single_connection: bool) -> ChannelRequestKind {
        ChannelRequestKind::X11Req {
            single_connection,
            auth_protocol: Text(Bytes::from(self.real.protocol.clone())),
            auth_cookie: Text(Bytes::from(self.fake_hex())),
            screen,
        }
    }

    /// A rewriter for one incoming `x11` channel.
    #[must_use]
    pub fn rewriter(&self) -> SetupRewriter {
        SetupRewriter {
            protocol: self.real.protocol.as_bytes().to_vec(),
            fake: self.fake.clone(),
            real: self.real.data.clone(),
            buf: Vec::new(),
            state: State::Header,
        }
    }
}

/// Why an X11 connection setup was refused (the driver closes the channel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The first byte is neither `B` nor `l`.
    #[error("X11 connection setup: bad byte order {0:#04x}")]
    ByteOrder(u8),
    /// A different authorization protocol (or none).
    #[error("X11 connection setup: unexpected authorization protocol")]
    Protocol,
    /// The authorization data is not the fake cookie.
    #[error("X11 connection setup: authorization data does not match")]
    Cookie,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Done,
    Failed(SetupError),
}

/// Checks and rewrites the connection setup of one forwarded X11 connection (see the
/// [module docs](self)).
pub struct SetupRewriter {
    protocol: Vec<u8>,
    fake: Zeroizing<Vec<u8>>,
    real: Zeroizing<Vec<u8>>,
    buf: Vec<u8>,
    state: State,
}

impl core::fmt::Debug for SetupRewriter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SetupRewriter")
            .field("buffered", &self.buf.len())
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// `n` rounded up to a multiple of 4.
fn pad4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

impl SetupRewriter {
    /// Feeds bytes from the remote X client (the channel's data, any split).
    ///
    /// - `Ok(None)`: the header is not complete yet (the bytes are kept);
    /// - `Ok(Some(bytes))`: what to send to the X server: the first time, the header with
    ///   the real cookie followed by whatever came after it; afterwards, `data` as is;
    /// - `Err(_)`: refused; every later call returns the same error.
    pub fn handle_input(&mut self, data: &[u8]) -> Result<Option<Vec<u8>>, SetupError> {
        match self.state {
            State::Failed(e) => return Err(e),
            State::Done => return Ok(Some(data.to_vec())),
            State::Header => {}
        }
        let mut rest = data;
        loop {
            let want = match self.expected_len() {
                Ok(n) => n,
                Err(e) => return Err(self.fail(e)),
            };
            let need = want.saturating_sub(self.buf.len());
            let take = need.min(rest.len());
            let (head, tail) = rest.split_at(take);
            self.buf.extend_from_slice(head);
            rest = tail;
            if self.buf.len() < want {
                // A bad first byte is refused as soon as it is in.
                if let Err(e) = self.expected_len() {
                    return Err(self.fail(e));
                }
                return Ok(None);
            }
            if want > 12 {
                break;
            }
            // Only the fixed part so far: it gives the full length.
        }
        match self.rewrite() {
            Ok(mut out) => {
                out.extend_from_slice(rest);
                self.state = State::Done;
                Ok(Some(out))
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Whether the header has been checked and rewritten (later bytes pass through).
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    fn fail(&mut self, e: SetupError) -> SetupError {
        self.state = State::Failed(e);
        self.buf.clear();
        e
    }

    fn u16_at(&self, at: usize) -> usize {
        let pair = [
            self.buf.get(at).copied().unwrap_or(0),
            self.buf.get(at + 1).copied().unwrap_or(0),
        ];
        usize::from(if self.buf.first() == Some(&b'B') {
            u16::from_be_bytes(pair)
        } else {
            u16::from_le_bytes(pair)
        })
    }

    /// Bytes the header needs: 12 until the fixed part is in, then the whole header.
    fn expected_len(&self) -> Result<usize, SetupError> {
        if let Some(&order) = self.buf.first()
            && order != b'B'
            && order != b'l'
        {
            return Err(SetupError::ByteOrder(order));
        }
        if self.buf.len() < 12 {
            return Ok(12);
        }
        let (n, d) = (self.u16_at(6), self.u16_at(8));
        if n != self.protocol.len() {
            return Err(SetupError::Protocol);
        }
        if d != self.fake.len() {
            return Err(SetupError::Cookie);
        }
        Ok(12 + pad4(n) + pad4(d))
    }

    fn rewrite(&self) -> Result<Vec<u8>, SetupError> {
        let n = self.protocol.len();
        let name = self.buf.get(12..12 + n).ok_or(SetupError::Protocol)?;
        if name != self.protocol.as_slice() {
            return Err(SetupError::Protocol);
        }
        let at = 12 + pad4(n);
        let d = self.fake.len();
        let presented = self.buf.get(at..at + d).ok_or(SetupError::Cookie)?;
        if !bool::from(presented.ct_eq(self.fake.as_slice())) {
            return Err(SetupError::Cookie);
        }
        let mut out = self.buf.clone();
        let slot = out.get_mut(at..at + d).ok_or(SetupError::Cookie)?;
        slot.copy_from_slice(&self.real);
        Ok(out)
    }
}

/// Encodes an X11 connection setup header (what an X client sends first): `order` is `B`
/// or `l`. Lengths longer than 65535 are cut. For tests and examples.
#[must_use]
pub fn encode_setup(order: u8, major: u16, minor: u16, protocol: &[u8], data: &[u8]) -> Vec<u8> {
    let u16s = |v: u16| {
        if order == b'B' {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let len16 = |s: &[u8]| u16::try_from(s.len()).unwrap_or(u16::MAX);
    let (protocol, data) = (
        protocol.get(..usize::from(len16(protocol))).unwrap_or(&[]),
        data.get(..usize::from(len16(data))).unwrap_or(&[]),
    );
    let mut out = alloc::vec![order, 0];
    out.extend_from_slice(&u16s(major));
    out.extend_from_slice(&u16s(minor));
    out.extend_from_slice(&u16s(len16(protocol)));
    out.extend_from_slice(&u16s(len16(data)));
    out.extend_from_slice(&[0, 0]);
    for s in [protocol, data] {
        out.extend_from_slice(s);
        out.resize(out.len() + pad4(s.len()) - s.len(), 0);
    }
    out
}

/// The oracle of the `x11_setup` fuzz target (also replayed by `cargo test` over
/// `testdata/fuzz/x11_setup/`).
#[doc(hidden)]
pub mod fuzzing {
    #![allow(clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use super::{Cookie, MAX_SETUP, SetupError, SetupRewriter, Spoofing, pad4};
    use alloc::vec::Vec;
    use core::convert::Infallible;
    use rand_core::{TryCryptoRng, TryRng};

    /// The real cookie the oracle substitutes: `0x00..0x0f`.
    pub const REAL: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
    /// The fake cookie the oracle's rewriter expects: 16 bytes of `0xfa`.
    pub const FAKE: [u8; 16] = [0xfa; 16];

    /// An "RNG" that gives `0xfa` bytes, so the fake cookie is [`FAKE`].
    struct Fixed;
    impl TryRng for Fixed {
        type Error = Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Infallible> {
            Ok(0xfafa_fafa)
        }
        fn try_next_u64(&mut self) -> Result<u64, Infallible> {
            Ok(0xfafa_fafa_fafa_fafa)
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
            dst.fill(0xfa);
            Ok(())
        }
    }
    impl TryCryptoRng for Fixed {}

    /// The rewriter the oracle drives (MIT-MAGIC-COOKIE-1, [`REAL`] for [`FAKE`]).
    #[must_use]
    pub fn rewriter() -> SetupRewriter {
        let real = Cookie::new(super::MIT_MAGIC_COOKIE_1, REAL.to_vec()).expect("cookie");
        let s = Spoofing::new(real, &mut Fixed);
        assert_eq!(s.fake(), FAKE);
        s.rewriter()
    }

    fn run<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> Result<Option<Vec<u8>>, SetupError> {
        let mut rw = rewriter();
        let mut out: Option<Vec<u8>> = None;
        for p in pieces {
            match rw.handle_input(p)? {
                Some(bytes) => out.get_or_insert_with(Vec::new).extend_from_slice(&bytes),
                None => assert!(out.is_none(), "no output after output"),
            }
        }
        Ok(out)
    }

    /// Feeds `data` to a rewriter whole, a byte at a time and split at the first byte's
    /// value; must never panic, and:
    ///
    /// - every split gives the same result (the same error, or the same output);
    /// - output is exactly `data` with the fake cookie replaced by the real one, and only
    ///   when `data` presented the fake cookie under MIT-MAGIC-COOKIE-1;
    /// - the header is at most [`MAX_SETUP`] bytes.
    pub fn setup(data: &[u8]) {
        let whole = run([data]);
        assert_eq!(whole, run(data.chunks(1)), "whole vs byte by byte");
        let at = usize::from(data.first().copied().unwrap_or(0)).min(data.len());
        let (a, b) = data.split_at(at);
        assert_eq!(whole, run([a, b]), "split at {at}");
        let header = 12 + pad4(18) + 16;
        assert!(header <= MAX_SETUP);
        match whole {
            Ok(Some(out)) => {
                assert!(data.len() >= header, "complete only with a whole header");
                assert_eq!(out.len(), data.len());
                assert!(data[0] == b'B' || data[0] == b'l');
                assert_eq!(&data[12..30], b"MIT-MAGIC-COOKIE-1");
                assert_eq!(&data[32..48], FAKE);
                assert_eq!(&out[32..48], REAL);
                assert_eq!(&out[..32], &data[..32]);
                assert_eq!(&out[48..], &data[48..]);
            }
            Ok(None) => assert!(data.len() < header, "incomplete only when short"),
            Err(_) => {
                let mut rw = rewriter();
                let first = rw.handle_input(data);
                assert!(first.is_err());
                assert_eq!(rw.handle_input(b"more"), first, "errors latch");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;
    use rand_core::SeedableRng;

    fn rng() -> chacha20::ChaCha20Rng {
        chacha20::ChaCha20Rng::from_seed([9; 32])
    }

    #[test]
    fn displays() {
        let unix = |n: u32| Target::Unix(format!("/tmp/.X11-unix/X{n}"));
        let d = Display::parse(":0").unwrap();
        assert_eq!((d.target, d.number, d.screen), (unix(0), 0, 0));
        let d = Display::parse(":12.3").unwrap();
        assert_eq!((d.target, d.number, d.screen), (unix(12), 12, 3));
        let d = Display::parse("unix:5.1").unwrap();
        assert_eq!((d.target, d.number, d.screen), (unix(5), 5, 1));
        assert_eq!(d.xauth_name, "unix:5.1");
        let d = Display::parse("localhost:10.0").unwrap();
        assert_eq!(
            d.target,
            Target::Tcp {
                host: "localhost".into(),
                port: 6010
            }
        );
        assert_eq!(d.xauth_name, "unix:10.0");
        let d = Display::parse("[::1]:2").unwrap();
        assert_eq!(
            d.target,
            Target::Tcp {
                host: "::1".into(),
                port: 6002
            }
        );
        let d = Display::parse("/private/tmp/com.apple.launchd.x/org.xquartz:0").unwrap();
        assert_eq!(
            d.target,
            Target::Unix("/private/tmp/com.apple.launchd.x/org.xquartz".into())
        );
        for bad in [
            "",
            "0",
            ":",
            ":x",
            ":-1",
            ":1.",
            ":1.x",
            "host::0",
            "::1:0",
            "h:70000",
            ":+1",
            "[::1:0",
            "a b:0",
            ":1234567890",
        ] {
            assert!(Display::parse(bad).is_err(), "{bad:?}");
        }
        // Unix displays are not limited by the TCP port range.
        assert!(Display::parse(":70000").is_ok());
    }

    #[test]
    fn xauth_output() {
        let c = parse_xauth_list(
            "box/unix:0  MIT-MAGIC-COOKIE-1  00ff10Ab00ff10ab00ff10ab00ff10ab\nother line\n",
        )
        .unwrap();
        assert_eq!(c.protocol(), MIT_MAGIC_COOKIE_1);
        assert_eq!(c.data()[..4], [0, 0xff, 0x10, 0xab]);
        assert_eq!(c.data().len(), 16);
        for bad in [
            "",
            "\n",
            "box/unix:0 MIT-MAGIC-COOKIE-1",
            "box/unix:0 MIT-MAGIC-COOKIE-1 abc",
            "box/unix:0 MIT-MAGIC-COOKIE-1 zz",
            "box/unix:0 MIT-MAGIC-COOKIE-1 +1",
        ] {
            assert!(parse_xauth_list(bad).is_none(), "{bad:?}");
        }
        assert!(parse_xauth_list(&format!("d P {}", "00".repeat(MAX_COOKIE + 1))).is_none());
        assert!(Cookie::new("", alloc::vec![1]).is_none());
        assert!(Cookie::new("P", Vec::new()).is_none());
        assert!(
            format!("{c:?}").find("00ff").is_none(),
            "Debug hides the data"
        );
    }

    #[test]
    fn request_carries_the_fake_cookie() {
        let real = Cookie::new(MIT_MAGIC_COOKIE_1, alloc::vec![7; 16]).unwrap();
        let s = Spoofing::new(real.clone(), &mut rng());
        assert_ne!(s.fake(), real.data());
        let s2 = Spoofing::new(real, &mut chacha20::ChaCha20Rng::from_seed([8; 32]));
        assert_ne!(s.fake(), s2.fake(), "fresh per RNG");
        match s.request(2, false) {
            ChannelRequestKind::X11Req {
                single_connection,
                auth_protocol,
                auth_cookie,
                screen,
            } => {
                assert!(!single_connection);
                assert_eq!(auth_protocol.as_bytes(), MIT_MAGIC_COOKIE_1.as_bytes());
                assert_eq!(auth_cookie.as_bytes(), s.fake_hex().as_bytes());
                assert_eq!(decode_hex(&s.fake_hex()).unwrap(), s.fake());
                assert_eq!(screen, 2);
            }
            other => panic!("{other:?}"),
        }
    }

    fn spoof() -> Spoofing {
        Spoofing::new(
            Cookie::new(MIT_MAGIC_COOKIE_1, (100..116).collect()).unwrap(),
            &mut rng(),
        )
    }

    #[test]
    fn rewrites_both_byte_orders_any_split() {
        let s = spoof();
        for order in [b'B', b'l'] {
            let mut setup = encode_setup(order, 11, 0, b"MIT-MAGIC-COOKIE-1", s.fake());
            assert_eq!(setup.len(), 48);
            setup.extend_from_slice(b"\x01\x02after");
            let mut expected = setup.clone();
            expected[32..48].copy_from_slice(&(100..116).collect::<Vec<u8>>());
            for cut in 0..=setup.len() {
                let mut rw = s.rewriter();
                let mut out = Vec::new();
                for piece in [&setup[..cut], &setup[cut..]] {
                    if let Some(b) = rw.handle_input(piece).unwrap() {
                        out.extend_from_slice(&b);
                    }
                }
                assert!(rw.is_done());
                assert_eq!(out, expected, "cut at {cut}");
            }
        }
    }

    #[test]
    fn refusals() {
        let s = spoof();
        let fake = s.fake().to_vec();
        let mut wrong = fake.clone();
        wrong[15] ^= 1;
        let cases: Vec<(Vec<u8>, SetupError)> = alloc::vec![
            (
                encode_setup(b'x', 11, 0, b"MIT-MAGIC-COOKIE-1", &fake),
                SetupError::ByteOrder(b'x')
            ),
            (
                encode_setup(b'l', 11, 0, b"MIT-MAGIC-COOKIE-1", &wrong),
                SetupError::Cookie
            ),
            (
                encode_setup(b'B', 11, 0, b"MIT-MAGIC-COOKIE-1", &fake[..15]),
                SetupError::Cookie
            ),
            (encode_setup(b'l', 11, 0, b"", b""), SetupError::Protocol),
            (
                encode_setup(b'l', 11, 0, b"XDM-AUTHORIZATION-1", &fake),
                SetupError::Protocol
            ),
            (
                encode_setup(b'l', 11, 0, b"MIT-MAGIC-COOKIE-2", &fake),
                SetupError::Protocol
            ),
            // Right cookie, wrong byte order for the lengths.
            (
                {
                    let mut v = encode_setup(b'l', 11, 0, b"MIT-MAGIC-COOKIE-1", &fake);
                    v[0] = b'B';
                    v
                },
                SetupError::Protocol
            ),
            // Lengths claiming 64 KiB are refused after 12 bytes, nothing buffered.
            (
                [&b"l\0\x0b\0\0\0\xff\xff\xff\xff\0\0"[..], &[0; 100][..]].concat(),
                SetupError::Protocol
            ),
        ];
        for (bytes, err) in cases {
            let mut rw = s.rewriter();
            assert_eq!(rw.handle_input(&bytes), Err(err), "{bytes:?}");
            assert_eq!(rw.handle_input(b"more"), Err(err), "latched");
            assert!(!rw.is_done());
            // Byte by byte: the same error, and never output before it.
            let mut rw = s.rewriter();
            let mut got = Ok(None);
            for b in &bytes {
                got = rw.handle_input(core::slice::from_ref(b));
                if got.is_err() {
                    break;
                }
                assert_eq!(got, Ok(None));
            }
            assert_eq!(got, Err(err));
        }
        // The oracle agrees.
        fuzzing::setup(&encode_setup(
            b'B',
            11,
            0,
            b"MIT-MAGIC-COOKIE-1",
            &fuzzing::FAKE,
        ));
    }

    #[test]
    fn buffers_at_most_the_header() {
        let s = spoof();
        let mut rw = s.rewriter();
        let setup = encode_setup(b'l', 11, 0, b"MIT-MAGIC-COOKIE-1", s.fake());
        assert_eq!(rw.handle_input(&setup[..47]), Ok(None));
        assert!(rw.buf.len() <= MAX_SETUP);
        assert_eq!(rw.handle_input(&[]), Ok(None));
        let out = rw.handle_input(&setup[47..]).unwrap().unwrap();
        assert_eq!(out.len(), 48);
        assert_eq!(rw.handle_input(&[]), Ok(Some(Vec::new())));
    }
}
