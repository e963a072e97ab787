//! Bodies of the fuzz targets in `fuzz/`, kept here so that an ordinary `cargo test` replays
//! the corpus in `testdata/fuzz/` through exactly the code the fuzzer runs.
//!
//! Each function panics if, and only if, it finds a bug: a decoder that accepts a value it
//! then cannot reproduce, a length that disagrees with the encoding, or two ways of feeding
//! the same bytes that disagree.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use bytes::{Bytes, BytesMut};

use crate::frame::{Deframer, PacketLimits};
use crate::msg::{AuthFamily, Context, KexFamily, Message};
use crate::version::{PreambleLimits, Role, VersionReader, VersionStatus};

/// The decoding contexts the first input byte selects from.
fn context(selector: u8) -> Context {
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

/// Decodes a payload (first byte: context selector); whatever decodes must re-encode to
/// bytes that decode to the same value, with the length `encoded_len` promised.
pub fn message(data: &[u8]) {
    let Some((&selector, payload)) = data.split_first() else {
        return;
    };
    let ctx = context(selector);
    let payload = Bytes::copy_from_slice(payload);
    let Ok(msg) = Message::decode_with(&payload, ctx) else {
        return;
    };
    let encoded = msg.to_bytes().expect("a decoded message re-encodes");
    assert_eq!(
        encoded.len(),
        msg.encoded_len(),
        "encoded_len disagrees for {msg:?}"
    );
    let again = Message::decode_with(&encoded, ctx).expect("a re-encoded message decodes");
    assert_eq!(again, msg, "round trip changed the message");
}

/// Deframes a byte stream whole and split at every 7th byte; both must give the same
/// packets, and every payload must decode or fail without panicking.
pub fn deframe(data: &[u8]) {
    let limits = PacketLimits::new(64 * 1024);
    let whole = run_deframer(limits, data, data.len().max(1));
    let split = run_deframer(limits, data, 7);
    assert_eq!(whole, split, "split delivery changed the packets");
    for payload in whole.0 {
        let _ = Message::decode(&payload);
    }
}

type Deframed = (alloc::vec::Vec<Bytes>, Option<crate::Error>);

fn run_deframer(limits: PacketLimits, data: &[u8], chunk: usize) -> Deframed {
    let mut d = Deframer::new(limits);
    let mut buf = BytesMut::new();
    let mut out = alloc::vec::Vec::new();
    for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match d.next_packet(&mut buf) {
                Ok(Some(p)) => out.push(p.payload),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
        let needed = d.bytes_needed(&buf);
        assert!(
            buf.len() <= 4 + 64 * 1024 || needed.is_err(),
            "buffered past the limit"
        );
    }
    (out, None)
}

/// Reads an identification exchange in both roles, whole and one byte at a time; both ways
/// must agree.
pub fn version(data: &[u8]) {
    for role in [Role::Client, Role::Server] {
        let whole = read_version(role, data, data.len().max(1));
        let bytewise = read_version(role, data, 1);
        assert_eq!(
            whole, bytewise,
            "byte-at-a-time delivery changed the result ({role:?})"
        );
    }
}

fn read_version(
    role: Role,
    data: &[u8],
    chunk: usize,
) -> Result<Option<(usize, Bytes)>, crate::Error> {
    let mut r = VersionReader::new(role, PreambleLimits::default());
    let mut buf = alloc::vec::Vec::new();
    let mut discarded = 0;
    for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        match r.read(&buf)? {
            VersionStatus::Incomplete { consumed } => {
                buf.drain(..consumed);
                discarded += consumed;
            }
            VersionStatus::Done { consumed, version } => {
                return Ok(Some((discarded + consumed, version.line().clone())));
            }
        }
    }
    Ok(None)
}
