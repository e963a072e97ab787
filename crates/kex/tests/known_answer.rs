//! Known-answer tests: RFC 7748 §6.1 X25519 keys driven through `curve25519-sha256`, and a
//! `diffie-hellman-group14-sha256` run checked against values computed with Python; in both,
//! `H` and the derived keys are recomputed here independently of the crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::VecDeque;
use std::convert::Infallible;

use bytes::Bytes;
use common::{context, ed25519_key};
use rand_core::{TryCryptoRng, TryRng};
use sha2::{Digest, Sha256};
use whelk_kex::{
    ClientKex, ClientStep, DirectionSizes, KexOutput, KeySigner, KeySizes, ServerKex, ServerStep,
    derive_key, method_by_name,
};
use whelk_wire::msg::Message;

/// Hands out the given bytes, then zeros.
struct Scripted(VecDeque<u8>);

impl Scripted {
    fn new(bytes: &[u8]) -> Self {
        Self(bytes.iter().copied().collect())
    }
}

impl TryRng for Scripted {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for d in dst {
            *d = self.0.pop_front().unwrap_or(0);
        }
        Ok(())
    }
}

impl TryCryptoRng for Scripted {}

fn string(out: &mut Vec<u8>, v: &[u8]) {
    out.extend_from_slice(&u32::try_from(v.len()).unwrap().to_be_bytes());
    out.extend_from_slice(v);
}

fn mpint(out: &mut Vec<u8>, magnitude: &[u8]) {
    let start = magnitude
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(magnitude.len());
    let m = &magnitude[start..];
    if m.first().is_some_and(|b| b & 0x80 != 0) {
        let mut v = vec![0];
        v.extend_from_slice(m);
        string(out, &v);
    } else {
        string(out, m);
    }
}

fn unhex(s: &str) -> Vec<u8> {
    let s = if s.len() % 2 == 1 {
        format!("0{s}")
    } else {
        s.to_string()
    };
    hex::decode(s).unwrap()
}

/// One exchange with scripted randomness; returns (client output, server output, the init
/// message, the reply message).
fn run(
    method: &str,
    client_bytes: &[u8],
    server_bytes: &[u8],
) -> (KexOutput, KexOutput, Message, Message) {
    let method = method_by_name(method).unwrap();
    let key = ed25519_key();
    let mut crng = Scripted::new(client_bytes);
    let mut srng = Scripted::new(server_bytes);
    let mut sign_rng = Scripted::new(&[]);
    let mut signer = KeySigner::new(&key, "ssh-ed25519", &mut sign_rng).unwrap();
    let mut client = ClientKex::for_method(method, "ssh-ed25519", context());
    let mut server = ServerKex::for_method(method, context());
    let init = client.start(&mut crng).unwrap();
    let ServerStep::Done { reply, output } = server.handle(&init, &mut srng, &mut signer).unwrap()
    else {
        panic!()
    };
    let ClientStep::Done(c) = client.handle(&reply, &mut crng).unwrap() else {
        panic!()
    };
    (*c, *output, init, *reply)
}

/// `K1 = HASH(K || H || X || session_id)`, `Kn+1 = HASH(K || H || K1..Kn)`: written out.
fn expected_key(k: &[u8], h: &[u8], letter: u8, len: usize) -> Vec<u8> {
    let mut out = Sha256::new()
        .chain_update(k)
        .chain_update(h)
        .chain_update([letter])
        .chain_update(h)
        .finalize()
        .to_vec();
    while out.len() < len {
        let next = Sha256::new()
            .chain_update(k)
            .chain_update(h)
            .chain_update(&out)
            .finalize();
        out.extend_from_slice(&next);
    }
    out.truncate(len);
    out
}

fn transcript_prefix(host_key: &[u8]) -> Vec<u8> {
    let ctx = context();
    let mut t = Vec::new();
    string(&mut t, &ctx.client_version);
    string(&mut t, &ctx.server_version);
    string(&mut t, &ctx.client_kexinit);
    string(&mut t, &ctx.server_kexinit);
    string(&mut t, host_key);
    t
}

fn check_keys(out: &KexOutput, k_encoded: &[u8]) {
    // 100-byte keys need four SHA-256 blocks: exercises the extension loop.
    let sizes = KeySizes {
        client_to_server: DirectionSizes {
            iv: 16,
            key: 100,
            mac_key: 64,
        },
        server_to_client: DirectionSizes {
            iv: 12,
            key: 32,
            mac_key: 0,
        },
    };
    let keys = out.derive_keys(&sizes).unwrap();
    let h = &out.exchange_hash;
    assert_eq!(
        *keys.client_to_server.iv,
        expected_key(k_encoded, h, b'A', 16)
    );
    assert_eq!(
        *keys.server_to_client.iv,
        expected_key(k_encoded, h, b'B', 12)
    );
    assert_eq!(
        *keys.client_to_server.key,
        expected_key(k_encoded, h, b'C', 100)
    );
    assert_eq!(
        *keys.server_to_client.key,
        expected_key(k_encoded, h, b'D', 32)
    );
    assert_eq!(
        *keys.client_to_server.mac_key,
        expected_key(k_encoded, h, b'E', 64)
    );
    assert!(keys.server_to_client.mac_key.is_empty());
    let single = derive_key(out.hash(), k_encoded, h, b'C', h, 100).unwrap();
    assert_eq!(*single, *keys.client_to_server.key);
}

#[test]
fn rfc7748_x25519_through_curve25519_sha256() {
    // RFC 7748 §6.1.
    let alice_private = unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    let alice_public = unhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    let bob_private = unhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    let bob_public = unhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    let shared = unhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");

    let (c, s, init, reply) = run("curve25519-sha256", &alice_private, &bob_private);
    let Message::KexEcdhInit(init) = init else {
        panic!()
    };
    let Message::KexEcdhReply(reply) = reply else {
        panic!()
    };
    assert_eq!(init.client_public.as_ref(), alice_public.as_slice());
    assert_eq!(reply.server_public.as_ref(), bob_public.as_slice());

    // K = mpint(shared) (RFC 8731 §3.1): top bit of 0x4a is clear, so no padding.
    let mut k = Vec::new();
    mpint(&mut k, &shared);
    assert_eq!(&k[..4], &[0, 0, 0, 32]);
    assert_eq!(c.shared_secret.encoded(), k.as_slice());
    assert_eq!(s.shared_secret.encoded(), k.as_slice());

    let host_key = ed25519_key().public_key().blob().to_vec();
    let mut t = transcript_prefix(&host_key);
    string(&mut t, &alice_public);
    string(&mut t, &bob_public);
    t.extend_from_slice(&k);
    let h = Sha256::digest(&t).to_vec();
    assert_eq!(c.exchange_hash, h);
    assert_eq!(s.exchange_hash, h);
    assert_eq!(c.session_id, h);
    check_keys(&c, &k);
    check_keys(&s, &k);
    assert_eq!(reply.host_key.as_ref(), host_key.as_slice());
}

#[test]
fn dh_group14_sha256_known_answer() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/kex/dh_group14_sha256.txt"
    ))
    .unwrap();
    let field = |name: &str| {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap();
        unhex(line.split_once(' ').unwrap().1.trim())
    };
    let (x, y, e, f, shared) = (field("x"), field("y"), field("e"), field("f"), field("k"));
    // The exponents' top bit is set by the crate; the script already has it set.
    let (c, s, init, reply) = run("diffie-hellman-group14-sha256", &x, &y);
    let Message::KexdhInit(init) = init else {
        panic!()
    };
    let Message::KexdhReply(reply) = reply else {
        panic!()
    };
    assert_eq!(init.e.unsigned_be().unwrap(), e.as_slice());
    assert_eq!(reply.f.unsigned_be().unwrap(), f.as_slice());
    let mut k = Vec::new();
    mpint(&mut k, &shared);
    assert_eq!(c.shared_secret.encoded(), k.as_slice());
    assert_eq!(s.shared_secret.encoded(), k.as_slice());

    let host_key = ed25519_key().public_key().blob().to_vec();
    let mut t = transcript_prefix(&host_key);
    mpint(&mut t, &e);
    mpint(&mut t, &f);
    t.extend_from_slice(&k);
    let h = Sha256::digest(&t).to_vec();
    assert_eq!(c.exchange_hash, h);
    assert_eq!(s.exchange_hash, h);
    check_keys(&c, &k);
}

#[test]
fn hybrid_secret_is_the_hash_of_both_secrets_as_a_string() {
    // With the same scripted randomness twice the run is reproducible, and K is a 32-byte
    // string (SHA-256 output) for mlkem768x25519-sha256, 64 bytes for sntrup761x25519.
    let cb: Vec<u8> = (0..200u8).collect();
    let sb: Vec<u8> = (0..200u8).rev().collect();
    let (a, _, _, _) = run("mlkem768x25519-sha256", &cb, &sb);
    let (b, _, _, _) = run("mlkem768x25519-sha256", &cb, &sb);
    assert_eq!(a.exchange_hash, b.exchange_hash);
    assert_eq!(&a.shared_secret.encoded()[..4], &[0, 0, 0, 32]);
    let (c, s, _, _) = run("sntrup761x25519-sha512", &cb, &sb);
    assert_eq!(c.shared_secret, s.shared_secret);
    assert_eq!(&c.shared_secret.encoded()[..4], &[0, 0, 0, 64]);
    let _ = Bytes::new();
}
