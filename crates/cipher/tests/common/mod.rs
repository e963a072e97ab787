//! Helpers shared by the integration tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    dead_code,
    unreachable_pub
)]

use bytes::{BufMut, BytesMut};
use chacha20::ChaCha20Rng;
use rand_core::SeedableRng;
use whelk_cipher::registry::{CipherAlgorithm, Keys, MacAlgorithm};
use whelk_cipher::{PacketOpener, PacketSealer};
use whelk_wire::frame::{finish_packet, start_packet};

pub use whelk_cipher::fuzzing::combinations;

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// A sealer and an opener for the same direction (same keys).
pub fn pair(
    c: &CipherAlgorithm,
    m: Option<&MacAlgorithm>,
) -> (Box<dyn PacketSealer>, Box<dyn PacketOpener>) {
    let (key, iv, mac_key) = whelk_cipher::fuzzing::fixed_keys(c, m);
    let keys = Keys {
        key: &key,
        iv: &iv,
        mac_key: &mac_key,
    };
    (c.sealer(m, &keys).unwrap(), c.opener(m, &keys).unwrap())
}

pub fn label(c: &CipherAlgorithm, m: Option<&MacAlgorithm>) -> String {
    format!("{}+{}", c.name, m.map_or("-", |m| m.name))
}

/// Appends `payload` as a sealed packet to `out`.
pub fn seal(
    sealer: &mut dyn PacketSealer,
    seq: u32,
    payload: &[u8],
    out: &mut BytesMut,
    rng: &mut ChaCha20Rng,
) {
    let start = start_packet(out);
    out.put_slice(payload);
    let range = finish_packet(out, start, sealer.alignment(), rng).unwrap();
    sealer.seal(seq, out, range).unwrap();
}

/// Deterministic payload bytes, half compressible text, half noise.
pub fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut r = rng(seed);
    let mut noise = vec![0u8; len];
    rand_core::Rng::fill_bytes(&mut r, &mut noise);
    (0..len)
        .map(|i| {
            if (i / 64) % 2 == 0 {
                b"the quick brown fox jumps over the lazy dog "[i % 44]
            } else {
                noise[i]
            }
        })
        .collect()
}
