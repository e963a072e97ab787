//! Bodies of the fuzz targets in `fuzz/`, kept here so that an ordinary `cargo test` replays
//! the corpus in `testdata/fuzz/` through exactly the code the fuzzer runs.
//!
//! Each function panics if, and only if, it finds a bug: a decoder that accepts a value it
//! then cannot reproduce, a length that disagrees with the encoding, two ways of feeding
//! the same bytes that disagree, or a reader that buffers past its limits. See
//! `docs/fuzzing.md` for the targets, the corpus and how to run them.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use alloc::vec::Vec;
use core::convert::Infallible;

use bytes::{Bytes, BytesMut};
use rand_core::{TryCryptoRng, TryRng};

use crate::frame::{
    Alignment, Deframer, MIN_PACKET_SIZE, MIN_PADDING, Packet, PacketLimits, finish_packet,
    start_packet,
};
use crate::msg::{AuthFamily, Context, KexFamily, Message};
use crate::version::{
    MAX_VERSION_LINE, PreambleLimits, Role, Version, VersionReader, VersionStatus,
};

/// The decoding context the first input byte of the `message` target selects: bits 0-1 pick
/// the key exchange family (none, DH, ECDH, GEX), bits 2-3 the authentication method (none,
/// publickey, password, keyboard-interactive); the other bits are ignored.
#[must_use]
pub fn context(selector: u8) -> Context {
    let kex = match selector & 0x3 {
        0 => None,
        1 => Some(KexFamily::Dh),
        2 => Some(KexFamily::Ecdh),
        _ => Some(KexFamily::DhGex),
    };
    let auth = match (selector >> 2) & 0x3 {
        0 => None,
        1 => Some(AuthFamily::PublicKey),
        2 => Some(AuthFamily::Password),
        _ => Some(AuthFamily::KeyboardInteractive),
    };
    Context { kex, auth }
}

/// Whether the meaning of message number `n` depends on the [`Context`].
fn method_specific(n: u8) -> bool {
    matches!(n, 30..=49 | 60..=79)
}

/// Decodes a payload (first byte: context selector, see [`context`]).
///
/// Whatever decodes must re-encode to exactly as many bytes as it came from, with the length
/// `encoded_len` promised, byte for byte the same except for booleans (any non-zero byte
/// reads as TRUE and is written back as 1); the re-encoding must decode to the same value
/// and re-encode to itself. Numbers outside 30-49 and 60-79 must decode the same in every
/// context. Errors must format and map to a disconnect reason.
pub fn message(data: &[u8]) {
    let Some((&selector, payload)) = data.split_first() else {
        return;
    };
    let ctx = context(selector);
    let payload = Bytes::copy_from_slice(payload);
    let decoded = Message::decode_with(&payload, ctx);
    if let Some(&number) = payload.first()
        && !method_specific(number)
    {
        assert_eq!(
            decoded,
            Message::decode(&payload),
            "number {number} decodes differently in context {ctx:?}"
        );
    }
    let msg = match decoded {
        Ok(msg) => msg,
        Err(e) => {
            check_error(&e);
            return;
        }
    };
    assert_eq!(Some(msg.number().0), payload.first().copied());
    let encoded = msg.to_bytes().expect("a decoded message re-encodes");
    assert_eq!(
        encoded.len(),
        msg.encoded_len(),
        "encoded_len disagrees for {msg:?}"
    );
    assert_eq!(
        encoded.len(),
        payload.len(),
        "decoding lost or invented bytes for {msg:?}"
    );
    for (i, (&got, &sent)) in encoded.iter().zip(payload.iter()).enumerate() {
        assert!(
            got == sent || (got == 1 && sent > 1),
            "byte {i} re-encodes as {got:#04x}, was {sent:#04x} ({msg:?})"
        );
    }
    let again = Message::decode_with(&encoded, ctx).expect("a re-encoded message decodes");
    assert_eq!(again, msg, "round trip changed the message");
    assert_eq!(
        again.to_bytes().expect("re-encodes"),
        encoded,
        "the encoding is not canonical"
    );
    if let Message::ChannelData(d) = &msg {
        // The data must be a view of the payload (zero-copy), not a copy.
        let range = payload.as_ptr_range();
        assert!(
            d.data.is_empty() || range.contains(&d.data.as_ptr()),
            "CHANNEL_DATA copied its data"
        );
    }
    let _ = alloc::format!("{msg:?} {:?}", msg.number());
}

fn check_error(e: &crate::Error) {
    let _ = e.disconnect_reason();
    let _ = alloc::format!("{e} {e:?}");
}

/// The limit the `deframe` target runs with (raised to the RFC 4253 minimum of 35000).
const FUZZ_MAX_PACKET: u32 = 64 * 1024;

/// Deframes a byte stream whole, a byte at a time and in 7-byte pieces; all three must give
/// the same packets (or stop at the same error), never buffer past the packet limit, and
/// every packet must be an exact view of the stream. Each payload is then framed again with
/// [`finish_packet`], which must deframe to the same payload, and run through [`message`].
pub fn deframe(data: &[u8]) {
    let limits = PacketLimits::new(FUZZ_MAX_PACKET);
    let whole = run_deframer(limits, data, data.len().max(1));
    for chunk in [1, 7] {
        let split = run_deframer(limits, data, chunk);
        assert_eq!(
            whole, split,
            "delivery in {chunk}-byte pieces changed the packets"
        );
    }
    let (packets, error) = whole;
    if let Some(e) = &error {
        check_error(e);
    }

    // Every packet is the bytes of the stream, in order, with nothing skipped.
    let mut at = 0;
    for p in &packets {
        let pad = usize::from(p.padding_len);
        let packet_len = 1 + p.payload.len() + pad;
        let header = u32::try_from(packet_len).expect("bounded by the limit");
        assert_eq!(&data[at..at + 4], header.to_be_bytes(), "packet_length");
        assert_eq!(data[at + 4], p.padding_len, "padding_length");
        assert_eq!(&data[at + 5..at + 5 + p.payload.len()], &p.payload[..]);
        assert!(p.padding_len >= MIN_PADDING && !p.payload.is_empty());
        assert_eq!((4 + packet_len) % 8, 0, "accepted a misaligned packet");
        assert!(packet_len <= 64 * 1024, "accepted a packet over the limit");
        at += 4 + packet_len;
    }
    assert!(at <= data.len());

    for p in &packets {
        reframe(&p.payload);
        let mut with_selector = Vec::with_capacity(1 + p.payload.len());
        with_selector.push(0);
        with_selector.extend_from_slice(&p.payload);
        message(&with_selector);
    }
}

/// Frames `payload` with every alignment the cipher layer uses and checks the result;
/// plaintext packets must deframe back to `payload`.
fn reframe(payload: &Bytes) {
    for alignment in [
        Alignment::PLAINTEXT,
        Alignment::new(16, true),
        Alignment::new(16, false),
        Alignment::new(8, false),
    ] {
        let mut out = BytesMut::new();
        let start = start_packet(&mut out);
        out.extend_from_slice(payload);
        let range = finish_packet(&mut out, start, alignment, &mut FixedPadding).expect("frames");
        assert_eq!(range, 0..out.len());
        let packet_len = u32::from_be_bytes(out[..4].try_into().expect("4 bytes"));
        let pad = out[4];
        assert!(pad >= MIN_PADDING, "padding below 4 for {alignment:?}");
        assert!(out.len() >= MIN_PACKET_SIZE, "packet under 16 bytes");
        assert_eq!(
            usize::try_from(packet_len).expect("small"),
            out.len() - 4,
            "packet_length disagrees with the bytes written"
        );
        assert_eq!(pad, alignment.padding_len(payload.len()));
        alignment
            .check(packet_len)
            .unwrap_or_else(|e| panic!("finish_packet wrote a packet its check rejects: {e}"));
        if alignment == Alignment::PLAINTEXT {
            let limits = PacketLimits::new(FUZZ_MAX_PACKET);
            let (packets, error) = run_deframer(limits, &out, out.len());
            assert_eq!(error, None, "a framed packet does not deframe");
            assert_eq!(packets.len(), 1);
            assert_eq!(&packets[0].payload, payload);
            assert_eq!(packets[0].padding_len, pad);
        }
    }
}

/// Padding "randomness" for the re-framing oracle: a fixed pattern. Not random; fuzzing only.
#[derive(Debug)]
struct FixedPadding;

impl TryRng for FixedPadding {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(0xa5a5_a5a5)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(0xa5a5_a5a5_a5a5_a5a5)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        dst.fill(0xa5);
        Ok(())
    }
}

impl TryCryptoRng for FixedPadding {}

type Deframed = (Vec<Packet>, Option<crate::Error>);

fn run_deframer(limits: PacketLimits, data: &[u8], chunk: usize) -> Deframed {
    let mut d = Deframer::new(limits);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match d.next_packet(&mut buf) {
                Ok(Some(p)) => out.push(p),
                Ok(None) => {
                    let needed = d.bytes_needed(&buf);
                    assert!(
                        matches!(needed, Ok(n) if n > 0),
                        "next_packet wants more bytes but bytes_needed says {needed:?}"
                    );
                    break;
                }
                Err(e) => {
                    assert_eq!(
                        d.bytes_needed(&buf).err(),
                        Some(e.clone()).filter(header_error),
                        "bytes_needed and next_packet disagree"
                    );
                    return (out, Some(e));
                }
            }
        }
        assert!(
            buf.len() < 4 + limits.max_packet_len() as usize,
            "buffered {} bytes, past the limit",
            buf.len()
        );
    }
    (out, None)
}

/// Errors [`Deframer::bytes_needed`] also reports: those of the 4-byte length field.
fn header_error(e: &crate::Error) -> bool {
    use crate::Error as E;
    matches!(
        e,
        E::PacketTooLarge { .. } | E::PacketTooSmall { .. } | E::PacketMisaligned { .. }
    )
}

/// Small preamble limits that inputs of a few KiB can reach.
const SMALL_LIMITS: PreambleLimits = PreambleLimits {
    max_lines: 4,
    max_line_len: 80,
    max_total: 200,
};

/// Reads an identification exchange in both roles, with the default preamble limits and with
/// `SMALL_LIMITS`, whole and one byte at a time; both ways must agree. Whatever a server
/// accepts (no preamble allowed) a client must accept the same way. An accepted line must be
/// the bytes before the line feed it ends at, come after a preamble within the limits,
/// re-parse to the same [`Version`] and survive its own encoding. A reader waiting for more
/// input must never leave more than a line's limit unconsumed.
pub fn version(data: &[u8]) {
    for limits in [PreambleLimits::default(), SMALL_LIMITS] {
        let mut results = Vec::with_capacity(2);
        for role in [Role::Client, Role::Server] {
            let whole = read_version(role, limits, data, data.len().max(1));
            let bytewise = read_version(role, limits, data, 1);
            assert_eq!(
                whole, bytewise,
                "byte-at-a-time delivery changed the result ({role:?}, {limits:?})"
            );
            match &whole {
                Ok(Some((consumed, version))) => {
                    check_version(data, *consumed, version, limits);
                }
                Ok(None) => {}
                Err(e) => check_error(e),
            }
            results.push(whole);
        }
        if let [client, server @ Ok(Some(_))] = &results[..] {
            assert_eq!(client, server, "the client rejects what the server accepts");
        }
    }
}

fn check_version(data: &[u8], consumed: usize, version: &Version, limits: PreambleLimits) {
    assert!(consumed >= 1 && consumed <= data.len());
    assert_eq!(
        data[consumed - 1],
        b'\n',
        "the line does not end at a line feed"
    );
    let line = version.line();
    let before_lf = &data[..consumed - 1];
    let before_lf = before_lf.strip_suffix(b"\r").unwrap_or(before_lf);
    assert!(
        before_lf.ends_with(line),
        "the line is not what precedes the line feed"
    );
    let preamble = &before_lf[..before_lf.len() - line.len()];
    assert!(
        preamble.is_empty() || preamble.ends_with(b"\n"),
        "the line does not start a line"
    );
    assert!(
        preamble.len() <= limits.max_total,
        "preamble over max_total"
    );
    let mut lines = 0;
    for l in preamble.split_inclusive(|&b| b == b'\n') {
        lines += 1;
        assert!(
            l.len() <= limits.max_line_len,
            "preamble line over max_line_len"
        );
        assert!(
            !l.starts_with(b"SSH-"),
            "an identification line was skipped"
        );
    }
    assert!(
        lines <= limits.max_lines,
        "more preamble lines than max_lines"
    );
    assert!(
        line.len() + 2 <= MAX_VERSION_LINE,
        "an over-long line was accepted"
    );
    assert!(
        !line.iter().any(|&b| b < 0x20 || b == 0x7f),
        "control character accepted"
    );
    assert!(matches!(version.protocol(), "2.0" | "1.99"));
    assert!(!version.software().is_empty(), "empty software version");
    let again = Version::parse(line.clone()).expect("an accepted line re-parses");
    assert_eq!(&again, version);
    let mut encoded = Vec::new();
    version.encode(&mut encoded);
    assert_eq!(
        read_version(Role::Server, limits, &encoded, encoded.len()),
        Ok(Some((encoded.len(), version.clone()))),
        "our encoding of an accepted line is not accepted"
    );
    let _ = alloc::format!("{version:?} {:?}", version.comments());
}

fn read_version(
    role: Role,
    limits: PreambleLimits,
    data: &[u8],
    chunk: usize,
) -> Result<Option<(usize, Version)>, crate::Error> {
    let mut r = VersionReader::new(role, limits);
    let mut buf = Vec::new();
    let mut discarded = 0;
    for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        match r.read(&buf)? {
            VersionStatus::Incomplete { consumed } => {
                assert!(consumed <= buf.len());
                buf.drain(..consumed);
                discarded += consumed;
                assert!(
                    buf.len() < limits.max_line_len.max(MAX_VERSION_LINE),
                    "{} bytes left waiting for a line feed ({role:?})",
                    buf.len()
                );
            }
            VersionStatus::Done { consumed, version } => {
                assert!(consumed <= buf.len());
                return Ok(Some((discarded + consumed, version)));
            }
        }
    }
    Ok(None)
}
