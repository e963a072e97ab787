//! What a peer sends first: its identification line (RFC 4253 §4.2) and its first binary
//! packet, which for OpenSSH is always `SSH_MSG_KEXINIT` (RFC 4253 §7.1).
//!
//! [`parse`] works on bytes already received (a golden file); [`read`] pulls them from any
//! [`Read`]; [`exchange`] sends our identification on a [`TcpStream`] and reads the peer's
//! hello. Everything is parsed with `whelk-wire`'s [`VersionReader`] and [`Deframer`], and the
//! exact bytes off the wire are kept in [`Hello::raw`].

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use whelk_wire::frame::{Deframer, PacketLimits};
use whelk_wire::msg::{KexInit, Message};
use whelk_wire::version::{PreambleLimits, Role, Version, VersionReader, VersionStatus};

use crate::{Error, Result};

/// The identification line the harness sends (without CR LF). It matches none of OpenSSH's
/// compatibility patterns, so the peer treats us as a current implementation.
pub const OUR_IDENTIFICATION: &str = "SSH-2.0-whelk_test";

/// How long [`exchange`] waits for the peer by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Most bytes [`read`] accepts before giving up: the preamble limit, a version line and one
/// packet of the default maximum size.
const MAX_HELLO: usize = 64 * 1024 + 255 + 4 + 256 * 1024;

/// A peer's identification and first packet.
#[derive(Clone, Debug)]
pub struct Hello {
    /// The exact bytes received, from the first byte through the end of the first packet
    /// (any preamble lines, the identification line with its CR LF, then the packet).
    pub raw: Vec<u8>,
    /// Where the identification exchange ends in [`Hello::raw`] (the packet starts here).
    pub packet_start: usize,
    /// The peer's identification.
    pub version: Version,
    /// The first packet's payload.
    pub payload: Bytes,
    /// The first packet's `padding_length`.
    pub padding_len: u8,
}

impl Hello {
    /// The identification part of [`Hello::raw`] (preamble lines, if any, and the line with
    /// its CR LF).
    #[must_use]
    pub fn identification_bytes(&self) -> &[u8] {
        self.raw.get(..self.packet_start).unwrap_or_default()
    }

    /// The first binary packet as received (length, padding length, payload, padding).
    #[must_use]
    pub fn packet_bytes(&self) -> &[u8] {
        self.raw.get(self.packet_start..).unwrap_or_default()
    }

    /// The first packet decoded as a message.
    pub fn message(&self) -> Result<Message> {
        Message::decode(&self.payload).map_err(|source| Error::Wire {
            context: "decoding the first packet".into(),
            source,
        })
    }

    /// The first packet as KEXINIT; an error if it is anything else.
    pub fn kexinit(&self) -> Result<KexInit> {
        match self.message()? {
            Message::KexInit(k) => Ok(k),
            other => Err(Error::Unexpected(format!(
                "first packet is not KEXINIT: {other:?}"
            ))),
        }
    }
}

/// Parses a hello from the front of `bytes`. `we_are` is our role: a client accepts preamble
/// lines from the server, a server does not. `Ok(None)` means more bytes are needed; bytes
/// after the first packet are ignored.
pub fn parse(bytes: &[u8], we_are: Role) -> Result<Option<Hello>> {
    let wire = |context: &str| {
        let context = context.to_owned();
        move |source| Error::Wire { context, source }
    };
    let mut reader = VersionReader::new(we_are, PreambleLimits::default());
    let (consumed, version) = match reader
        .read(bytes)
        .map_err(wire("reading the identification"))?
    {
        VersionStatus::Incomplete { .. } => return Ok(None),
        VersionStatus::Done { consumed, version } => (consumed, version),
    };
    let rest = bytes.get(consumed..).unwrap_or_default();
    let mut buf = BytesMut::from(rest);
    let mut deframer = Deframer::new(PacketLimits::default());
    let Some(packet) = deframer
        .next_packet(&mut buf)
        .map_err(wire("deframing the first packet"))?
    else {
        return Ok(None);
    };
    let packet_len = 4 + 1 + packet.payload.len() + usize::from(packet.padding_len);
    let end = consumed + packet_len;
    let raw = bytes
        .get(..end)
        .ok_or_else(|| Error::Unexpected("packet longer than the input".into()))?
        .to_vec();
    Ok(Some(Hello {
        raw,
        packet_start: consumed,
        version,
        payload: packet.payload,
        padding_len: packet.padding_len,
    }))
}

/// Reads a hello from `r` (whose timeouts the caller has set). Bytes that arrive after the
/// first packet in the same read are not part of the result (OpenSSH sends nothing more
/// before it hears from us).
pub fn read<R: Read + ?Sized>(r: &mut R, we_are: Role) -> Result<Hello> {
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(hello) = parse(&got, we_are)? {
            return Ok(hello);
        }
        if got.len() > MAX_HELLO {
            return Err(Error::Unexpected(format!(
                "more than {MAX_HELLO} bytes without a complete hello"
            )));
        }
        let n = match r.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(Error::io(
                    format!(
                        "reading the peer's hello ({} bytes so far: {:?})",
                        got.len(),
                        String::from_utf8_lossy(&got)
                    ),
                    e,
                ));
            }
        };
        if n == 0 {
            return Err(Error::Unexpected(format!(
                "connection closed after {} bytes, before a complete hello: {:?}",
                got.len(),
                String::from_utf8_lossy(&got)
            )));
        }
        got.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

/// Sends [`OUR_IDENTIFICATION`] on `stream` and reads the peer's hello, all within `timeout`.
/// Sets `TCP_NODELAY` and the stream's timeouts.
pub fn exchange(stream: &mut TcpStream, we_are: Role, timeout: Duration) -> Result<Hello> {
    let deadline = Instant::now() + timeout;
    stream
        .set_nodelay(true)
        .map_err(|e| Error::io("setting TCP_NODELAY", e))?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|e| Error::io("setting the write timeout", e))?;
    stream
        .write_all(format!("{OUR_IDENTIFICATION}\r\n").as_bytes())
        .map_err(|e| Error::io("sending our identification", e))?;
    read(&mut DeadlineReader { stream, deadline }, we_are)
}

/// Reads from a stream, each read waiting no later than a fixed deadline.
struct DeadlineReader<'a> {
    stream: &'a mut TcpStream,
    deadline: Instant,
}

impl Read for DeadlineReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "deadline passed",
            ));
        }
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use whelk_wire::msg::MessageBody;
    use whelk_wire::types::NameList;

    fn kexinit_packet() -> Vec<u8> {
        let k = KexInit {
            cookie: [7; 16],
            kex_algorithms: NameList::parse("curve25519-sha256").unwrap(),
            server_host_key_algorithms: NameList::parse("ssh-ed25519").unwrap(),
            encryption_client_to_server: NameList::parse("aes128-ctr").unwrap(),
            encryption_server_to_client: NameList::parse("aes128-ctr").unwrap(),
            mac_client_to_server: NameList::parse("hmac-sha2-256").unwrap(),
            mac_server_to_client: NameList::parse("hmac-sha2-256").unwrap(),
            compression_client_to_server: NameList::parse("none").unwrap(),
            compression_server_to_client: NameList::parse("none").unwrap(),
            languages_client_to_server: NameList::empty(),
            languages_server_to_client: NameList::empty(),
            first_kex_packet_follows: false,
        };
        let mut payload = Vec::new();
        k.encode(&mut payload);
        let pad = 8 - (5 + payload.len()) % 8;
        let pad = if pad < 4 { pad + 8 } else { pad };
        let mut out = Vec::new();
        out.extend_from_slice(
            &u32::try_from(1 + payload.len() + pad)
                .unwrap()
                .to_be_bytes(),
        );
        out.push(u8::try_from(pad).unwrap());
        out.extend_from_slice(&payload);
        out.extend(std::iter::repeat_n(0, pad));
        out
    }

    #[test]
    fn parses_in_pieces_and_keeps_exact_bytes() {
        let mut wire = b"hello there\r\nSSH-2.0-Peer_1.0 c\r\n".to_vec();
        let id_len = wire.len();
        wire.extend_from_slice(&kexinit_packet());
        let total = wire.len();
        wire.extend_from_slice(b"trailing");
        for cut in 0..total {
            assert!(
                parse(&wire[..cut], Role::Client).unwrap().is_none(),
                "{cut}"
            );
        }
        let hello = parse(&wire, Role::Client).unwrap().unwrap();
        assert_eq!(hello.raw, &wire[..total]);
        assert_eq!(hello.identification_bytes().len(), id_len);
        assert_eq!(hello.version.software(), "Peer_1.0");
        let k = hello.kexinit().unwrap();
        assert_eq!(k.kex_algorithms.as_str(), "curve25519-sha256");
        // A server refuses the preamble line.
        assert!(parse(&wire, Role::Server).is_err());
    }

    #[test]
    fn read_reports_early_close() {
        let mut short: &[u8] = b"SSH-2.0-Peer\r\n\x00\x00";
        let err = read(&mut short, Role::Client).unwrap_err();
        assert!(err.to_string().contains("connection closed"), "{err}");
    }
}
