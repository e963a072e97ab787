//! Body of the `cipher_open` fuzz target in `fuzz/`, kept here so that an ordinary
//! `cargo test` replays the corpus in `testdata/fuzz/cipher_open/` through exactly the code
//! the fuzzer runs.
//!
//! Input layout: byte 0 picks the cipher x MAC combination ([`combinations`]), byte 1 the
//! size of the chunks the rest is fed in (1..=256 bytes), the rest is the byte stream from
//! the "peer". Keys are fixed. The function panics if, and only if, it finds a bug: a panic
//! inside the crate, a deframer asking for more than the packet limit, a payload over the
//! limit, or a decompressor producing more than its cap.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use alloc::vec;
use alloc::vec::Vec;

use bytes::BytesMut;
use whelk_wire::frame::PacketLimits;

use crate::compress::Decompressor;
use crate::deframe::Deframer;
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

/// The `cipher_open` target: random bytes under a fixed key must never panic. Returns how
/// many packets opened (for the corpus tests).
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
    let opener = c
        .opener(m, &keys)
        .expect("fixed keys have the registry's sizes");
    let trailer = opener.trailer_len();
    let limits = PacketLimits::default();
    let max = limits.max_packet_len() as usize;
    let mut deframer = Deframer::new(opener, limits);
    let mut inflate = Decompressor::new(max);
    let mut buf = BytesMut::new();
    let mut seq = 0u32;
    let chunk = usize::from(*split) + 1;
    for piece in rest.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            assert!(deframer.bytes_needed(&buf) <= max + 4 + trailer);
            match deframer.next_packet(seq, &mut buf) {
                Ok(Some(packet)) => {
                    assert!(packet.payload.len() < max);
                    seq = seq.wrapping_add(1);
                    let mut out = BytesMut::new();
                    if inflate.decompress(&packet.payload, &mut out).is_err() {
                        // A corrupt stream stays corrupt; start a new one.
                        inflate = Decompressor::new(max);
                    }
                    assert!(out.len() <= max + 1);
                }
                Ok(None) => break,
                Err(_) => {
                    // Errors latch.
                    assert!(deframer.next_packet(seq, &mut buf).is_err());
                    return seq as usize;
                }
            }
        }
    }
    seq as usize
}
