//! Body of the `cipher_open` fuzz target in `fuzz/`, kept here so that an ordinary
//! `cargo test` replays the corpus in `testdata/fuzz/cipher_open/` through exactly the code
//! the fuzzer runs.
//!
//! Input layout: byte 0 picks the cipher x MAC combination ([`combinations`]), byte 1 the
//! size of the chunks the rest is fed in (1..=256 bytes), the rest is the byte stream from
//! the "peer". Keys are fixed. The function panics if, and only if, it finds a bug: a panic
//! inside the crate, a deframer asking for more than the packet limit, a payload over the
//! limit, an error that does not latch, a different outcome for the same bytes delivered whole
//! and in pieces, or a decompressor producing more than its cap.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use alloc::vec;
use alloc::vec::Vec;

use bytes::{Bytes, BytesMut};
use whelk_wire::frame::PacketLimits;

use crate::compress::Decompressor;
use crate::deframe::Deframer;
use crate::error::Error;
use crate::registry::{CIPHERS, CipherAlgorithm, Keys, MACS, MacAlgorithm};

/// Every cipher x MAC pair (AEAD ciphers once, with no MAC), in registry order.
#[must_use]
pub fn combinations() -> Vec<(&'static CipherAlgorithm, Option<&'static MacAlgorithm>)> {
    let mut out = Vec::new();
    for c in CIPHERS {
        if c.is_aead() {
            out.push((c, None));
        } else {
            for m in MACS {
                out.push((c, Some(m)));
            }
        }
    }
    out
}

/// Fixed key material of the right sizes for `c` and `m`: bytes `0x11`, `0x22`, `0x33`.
#[must_use]
pub fn fixed_keys(c: &CipherAlgorithm, m: Option<&MacAlgorithm>) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mac_len = if c.is_aead() {
        0
    } else {
        m.map_or(0, |m| m.key_len)
    };
    (
        vec![0x11; c.key_len],
        vec![0x22; c.iv_len],
        vec![0x33; mac_len],
    )
}

/// What feeding a byte stream to a deframer gave: the payloads, and the error it stopped
/// with, if any.
type Outcome = (Vec<Bytes>, Option<Error>);

/// Feeds `stream` to a fresh deframer for `(c, m)` in pieces of `chunk` bytes.
fn feed(
    c: &CipherAlgorithm,
    m: Option<&MacAlgorithm>,
    keys: &Keys<'_>,
    stream: &[u8],
    chunk: usize,
) -> Outcome {
    let opener = c
        .opener(m, keys)
        .expect("fixed keys have the registry's sizes");
    let trailer = opener.trailer_len();
    let limits = PacketLimits::default();
    let max = limits.max_packet_len() as usize;
    let mut deframer = Deframer::new(opener, limits);
    let mut buf = BytesMut::new();
    let mut payloads = Vec::new();
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            assert!(deframer.bytes_needed(&buf) <= max + 4 + trailer);
            let seq = u32::try_from(payloads.len()).unwrap();
            match deframer.next_packet(seq, &mut buf) {
                Ok(Some(packet)) => {
                    assert!(packet.payload.len() < max);
                    payloads.push(packet.payload);
                }
                Ok(None) => break,
                Err(e) => {
                    // Errors latch.
                    assert_eq!(deframer.next_packet(seq, &mut buf), Err(e.clone()));
                    return (payloads, Some(e));
                }
            }
        }
    }
    (payloads, None)
}

/// The `cipher_open` target: random bytes under a fixed key must never panic, and must give
/// the same packets and the same error whether they arrive whole or in pieces. Every payload
/// that opens also goes through a zlib inflater with the default cap. Returns how many
/// packets opened (for the corpus tests).
pub fn open(data: &[u8]) -> usize {
    let [sel, split, rest @ ..] = data else {
        return 0;
    };
    let combos = combinations();
    let (c, m) = combos[usize::from(*sel) % combos.len()];
    let (key, iv, mac_key) = fixed_keys(c, m);
    let keys = Keys {
        key: &key,
        iv: &iv,
        mac_key: &mac_key,
    };
    let whole = feed(c, m, &keys, rest, rest.len().max(1));
    let pieces = feed(c, m, &keys, rest, usize::from(*split) + 1);
    assert_eq!(whole, pieces);
    let max = PacketLimits::default().max_packet_len() as usize;
    let mut inflate = Decompressor::new(max);
    for payload in &whole.0 {
        let mut out = BytesMut::new();
        if inflate.decompress(payload, &mut out).is_err() {
            // A corrupt stream stays corrupt; start a new one.
            inflate = Decompressor::new(max);
        }
        assert!(out.len() <= max + 1);
    }
    whole.0.len()
}
