//! The benchmark cases shared by `seal_open` (criterion) and `ratio` (interleaved): for each
//! algorithm, closures doing one seal + open of a 32 KiB payload through the SSH layer, and
//! where it makes sense the same cryptographic work done by the RustCrypto crates alone.
#![allow(
    missing_docs,
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;

use aes::Aes128;
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use bytes::{BufMut, BytesMut};
use chacha20::ChaCha20Legacy;
use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use hmac::{Hmac, Mac};
use rand_core::SeedableRng;
use sha2::Sha256;
use whelk_cipher::registry::{Keys, cipher_by_name, mac_by_name};
use whelk_cipher::{Deframer, PacketOpener, PacketSealer};
use whelk_wire::frame::{PacketLimits, finish_packet, start_packet};

pub const PAYLOAD: usize = 32 * 1024;

pub type Work = Box<dyn FnMut()>;

pub struct Case {
    /// The SSH algorithm name(s).
    pub name: String,
    /// The raw primitives' name, and one seal + open's worth of their work.
    pub raw: Option<(&'static str, Work)>,
    /// `seal` then `open_length` + `open`, in place.
    pub ssh: Work,
    /// `start_packet`, payload copy, `finish_packet`, `seal`, `Deframer::next_packet`.
    pub pipeline: Work,
    /// Whether the 90 % target applies (AEADs and CTR + EtM).
    pub target: bool,
}

fn build(cipher: &str, mac: Option<&str>) -> (Box<dyn PacketSealer>, Box<dyn PacketOpener>) {
    let c = cipher_by_name(cipher).unwrap();
    let mac_len = mac.map_or(0, |m| mac_by_name(m).unwrap().key_len);
    let (key, iv, mac_key) = (
        vec![0x11; c.key_len],
        vec![0x22; c.iv_len],
        vec![0x33; mac_len],
    );
    let keys = Keys {
        key: &key,
        iv: &iv,
        mac_key: &mac_key,
    };
    let m = mac.map(|m| mac_by_name(m).unwrap());
    (c.sealer(m, &keys).unwrap(), c.opener(m, &keys).unwrap())
}

fn ssh_in_place(cipher: &str, mac: Option<&str>) -> Work {
    let (mut sealer, mut opener) = build(cipher, mac);
    let mut rng = chacha20::ChaCha20Rng::seed_from_u64(1);
    let mut buf = BytesMut::with_capacity(PAYLOAD + 256);
    let start = start_packet(&mut buf);
    buf.put_bytes(0x5e, PAYLOAD);
    let range = finish_packet(&mut buf, start, sealer.alignment(), &mut rng).unwrap();
    let len = range.end;
    let first = opener.length_bytes();
    let mut seq = 0u32;
    Box::new(move || {
        sealer.seal(seq, &mut buf, 0..len).unwrap();
        let l = opener.open_length(seq, &buf[..first]).unwrap();
        assert_eq!(l as usize + 4, len);
        let payload = opener.open(seq, &mut buf[..]).unwrap();
        black_box(&buf[payload]);
        buf.truncate(len);
        seq = seq.wrapping_add(1);
    })
}

fn pipeline(cipher: &str, mac: Option<&str>) -> Work {
    let (mut sealer, opener) = build(cipher, mac);
    let mut deframer = Deframer::new(opener, PacketLimits::default());
    let mut rng = chacha20::ChaCha20Rng::seed_from_u64(1);
    let payload = vec![0x5eu8; PAYLOAD];
    let mut wire = BytesMut::with_capacity(PAYLOAD + 256);
    let mut seq = 0u32;
    Box::new(move || {
        wire.reserve(PAYLOAD + 256);
        let start = start_packet(&mut wire);
        wire.put_slice(&payload);
        let range = finish_packet(&mut wire, start, sealer.alignment(), &mut rng).unwrap();
        sealer.seal(seq, &mut wire, range).unwrap();
        let p = deframer.next_packet(seq, &mut wire).unwrap().unwrap();
        assert_eq!(p.payload.len(), PAYLOAD);
        black_box(p);
        seq = seq.wrapping_add(1);
    })
}

/// Poly1305 of `data`, whole blocks through `update` (the backend's four-block path), the
/// rest through `compute_unpadded`: the fastest way to call the crate.
fn poly1305_unpadded(key: &[u8; 32], data: &[u8]) -> poly1305::Tag {
    use poly1305::universal_hash::{KeyInit, UniversalHash};
    let mut poly = poly1305::Poly1305::new(key.into());
    let (blocks, rest) = poly1305::Block::slice_as_chunks(data);
    poly.update(blocks);
    poly.compute_unpadded(rest)
}

/// Raw chacha20 + poly1305: keystream from block 1 over the data and Poly1305 over it, then
/// Poly1305 and the keystream again. (The SSH layer adds the length cipher and the Poly1305
/// key derivation: two more ChaCha20 blocks per packet.)
fn chacha_raw() -> Work {
    let (key, poly_key) = ([0x11u8; 32], [0x44u8; 32]);
    let mut data = vec![0x5eu8; PAYLOAD];
    let mut seq = 0u64;
    Box::new(move || {
        let nonce = seq.to_be_bytes();
        let mut c = ChaCha20Legacy::new((&key).into(), &nonce.into());
        c.seek(64u64);
        c.apply_keystream(&mut data);
        let tag = poly1305_unpadded(&poly_key, &data);
        let check = poly1305_unpadded(&poly_key, &data);
        assert_eq!(tag, check);
        let mut c = ChaCha20Legacy::new((&key).into(), &nonce.into());
        c.seek(64u64);
        c.apply_keystream(&mut data);
        black_box(&data);
        seq += 1;
    })
}

fn gcm_raw<A: AeadInOut + 'static>(aead: A) -> Work {
    let mut data = vec![0x5eu8; PAYLOAD];
    Box::new(move || {
        let nonce = aes_gcm::Nonce::<A::NonceSize>::default();
        let aad = [0, 0, 0x80, 0x10];
        let tag = aead
            .encrypt_inout_detached(&nonce, &aad, data.as_mut_slice().into())
            .unwrap();
        aead.decrypt_inout_detached(&nonce, &aad, data.as_mut_slice().into(), &tag)
            .unwrap();
        black_box(&data);
    })
}

/// Raw AES-128-CTR + HMAC-SHA-256: encrypt, MAC; MAC, decrypt.
fn ctr_hmac_raw() -> Work {
    let mut enc = ctr::Ctr128BE::<Aes128>::new(&[0x11; 16].into(), &[0x22; 16].into());
    let mut dec = ctr::Ctr128BE::<Aes128>::new(&[0x11; 16].into(), &[0x22; 16].into());
    let hmac = Hmac::<Sha256>::new_from_slice(&[0x33; 32]).unwrap();
    let mut data = vec![0x5eu8; PAYLOAD];
    Box::new(move || {
        enc.apply_keystream(&mut data);
        let mut m = hmac.clone();
        m.update(&data);
        let tag = m.finalize().into_bytes();
        let mut m = hmac.clone();
        m.update(&data);
        assert_eq!(m.finalize().into_bytes(), tag);
        dec.apply_keystream(&mut data);
        black_box(&data);
    })
}

fn case(cipher: &str, mac: Option<&str>, raw: Option<(&'static str, Work)>, target: bool) -> Case {
    Case {
        name: match mac {
            Some(m) => format!("{cipher} + {m}"),
            None => cipher.to_string(),
        },
        raw,
        ssh: ssh_in_place(cipher, mac),
        pipeline: pipeline(cipher, mac),
        target,
    }
}

pub fn cases() -> Vec<Case> {
    vec![
        case(
            "chacha20-poly1305@openssh.com",
            None,
            Some(("chacha20 + poly1305", chacha_raw())),
            true,
        ),
        case(
            "aes128-gcm@openssh.com",
            None,
            Some((
                "aes-gcm Aes128Gcm",
                gcm_raw(Aes128Gcm::new_from_slice(&[0x11; 16]).unwrap()),
            )),
            true,
        ),
        case(
            "aes256-gcm@openssh.com",
            None,
            Some((
                "aes-gcm Aes256Gcm",
                gcm_raw(Aes256Gcm::new_from_slice(&[0x11; 32]).unwrap()),
            )),
            true,
        ),
        case(
            "aes128-ctr",
            Some("hmac-sha2-256-etm@openssh.com"),
            Some(("ctr Aes128 + hmac Sha256", ctr_hmac_raw())),
            true,
        ),
        case("aes128-ctr", Some("umac-64-etm@openssh.com"), None, false),
        case("aes128-ctr", Some("umac-128-etm@openssh.com"), None, false),
        case(
            "aes128-ctr",
            Some("hmac-sha2-256"),
            Some(("ctr Aes128 + hmac Sha256", ctr_hmac_raw())),
            false,
        ),
        case(
            "aes256-ctr",
            Some("hmac-sha2-512-etm@openssh.com"),
            None,
            false,
        ),
        case("aes128-cbc", Some("hmac-sha1"), None, false),
    ]
}
