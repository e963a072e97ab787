//! R04 (declared-length allocation): with the counting allocator, decoding never allocates
//! more than twice the input plus a small constant, for every seed of the `wire_message`
//! and `keys_public_blob` fuzz corpora (testdata/fuzz/) and for hand-made inputs whose
//! declared lengths and counts are huge (0xFFFFFFFF) with nothing behind them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use whelk_test::alloc::{Counting, measure};
use whelk_test::hostile::Enc;

#[global_allocator]
static ALLOC: Counting = Counting;

/// Allowed peak: 2 × input + this.
const SLACK: usize = 2048;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/fuzz")
        .join(target);
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.unwrap().path();
        if p.is_file() {
            out.push(std::fs::read(p).unwrap());
        }
    }
    assert!(!out.is_empty(), "empty corpus {}", dir.display());
    out
}

fn check(what: &str, input: &[u8], f: impl FnOnce()) -> usize {
    let ((), stats) = measure(f);
    assert!(
        stats.peak <= 2 * input.len() + SLACK,
        "{what}: {} input bytes, {stats:?}",
        input.len()
    );
    stats.peak
}

/// Decodes `data` (first byte: context selector) with the payload copied into `Bytes`
/// before the measurement starts.
fn decode_message(what: &str, data: &[u8]) -> usize {
    let Some((&sel, payload)) = data.split_first() else {
        return 0;
    };
    let payload = bytes::Bytes::copy_from_slice(payload);
    check(what, data, || {
        let _ = whelk_wire::msg::Message::decode_with(&payload, whelk_wire::fuzzing::context(sel));
    })
}

#[test]
fn r04_wire_messages_allocate_at_most_twice_their_size() {
    assert!(whelk_test::alloc::installed());
    let seeds = corpus("wire_message");
    let mut worst = 0;
    for s in &seeds {
        worst = worst.max(decode_message("wire_message seed", s));
    }
    // Declared counts and lengths with nothing behind them, in every context.
    let huge = 0xffff_ffffu32;
    let hostile: Vec<Vec<u8>> = vec![
        Enc::msg(7).u32(huge).done().to_vec(), // EXT_INFO count
        Enc::msg(60)
            .string(b"")
            .string(b"")
            .u32(huge)
            .done()
            .to_vec(), // INFO_REQUEST prompts
        Enc::msg(61).u32(huge).done().to_vec(), // INFO_RESPONSE count
        Enc::msg(20).raw(&[0; 16]).u32(huge).done().to_vec(), // KEXINIT name-list
        Enc::msg(2).u32(huge).done().to_vec(), // IGNORE string
        Enc::msg(94).u32(0).u32(huge).done().to_vec(), // CHANNEL_DATA
        Enc::msg(50).u32(huge).done().to_vec(), // USERAUTH_REQUEST user
        Enc::msg(30).u32(huge).done().to_vec(), // KEX_ECDH_INIT / KEXDH
    ];
    for h in &hostile {
        for sel in 0..16u8 {
            let mut input = vec![sel];
            input.extend_from_slice(h);
            worst = worst.max(decode_message("hand-made", &input));
        }
    }
    println!(
        "{} seeds + {} hand-made inputs, worst peak {worst} bytes",
        seeds.len(),
        hostile.len() * 16
    );
}

#[test]
fn r04_public_key_blobs_allocate_at_most_twice_their_size() {
    let seeds = corpus("keys_public_blob");
    let mut worst = 0;
    for s in &seeds {
        worst = worst.max(check("keys_public_blob seed", s, || {
            let _ = whelk_keys::PublicKey::from_blob(s);
        }));
    }
    for name in [
        &b"ssh-rsa"[..],
        b"ssh-ed25519",
        b"ecdsa-sha2-nistp256",
        b"ssh-ed25519-cert-v01@openssh.com",
    ] {
        let blob = Enc::default().string(name).u32(0xffff_ffff).done();
        worst = worst.max(check("hand-made blob", &blob, || {
            let _ = whelk_keys::PublicKey::from_blob(&blob);
        }));
    }
    println!("{} seeds, worst peak {worst} bytes", seeds.len());
}
