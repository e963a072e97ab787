//! SSH-level known answers for every cipher and MAC (tests/data/vectors.txt, produced by
//! tests/data/gen_vectors.py from an independent implementation of the specs on OpenSSL):
//! sealing three packets in a row must give exactly the recorded bytes, and opening them
//! must give back the payloads.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use bytes::BytesMut;
use whelk_cipher::{Deframer, Keys, registry};
use whelk_wire::frame::PacketLimits;

struct Vector {
    cipher: String,
    mac: Option<String>,
    key: Vec<u8>,
    iv: Vec<u8>,
    mac_key: Vec<u8>,
    packets: Vec<(u32, Vec<u8>, Vec<u8>)>,
}

fn unhex(s: &str) -> Vec<u8> {
    if s == "-" {
        Vec::new()
    } else {
        hex::decode(s).unwrap()
    }
}

fn vectors() -> Vec<Vector> {
    include_str!("data/vectors.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 5 + 9, "{l}");
            Vector {
                cipher: f[0].to_string(),
                mac: (f[1] != "-").then(|| f[1].to_string()),
                key: unhex(f[2]),
                iv: unhex(f[3]),
                mac_key: unhex(f[4]),
                packets: f[5..]
                    .chunks(3)
                    .map(|p| (p[0].parse().unwrap(), unhex(p[1]), unhex(p[2])))
                    .collect(),
            }
        })
        .collect()
}

#[test]
fn every_algorithm_has_a_vector() {
    let v = vectors();
    for c in registry::CIPHERS {
        assert!(
            v.iter().any(|v| v.cipher == c.name),
            "no vector for {}",
            c.name
        );
    }
    for m in registry::MACS {
        assert!(
            v.iter().any(|v| v.mac.as_deref() == Some(m.name)),
            "no vector for {}",
            m.name
        );
    }
}

#[test]
fn seal_matches_known_answers() {
    for v in vectors() {
        let keys = Keys {
            key: &v.key,
            iv: &v.iv,
            mac_key: &v.mac_key,
        };
        let mut sealer = registry::sealer(&v.cipher, v.mac.as_deref(), &keys).unwrap();
        for (seq, plain, sealed) in &v.packets {
            let mut buf = BytesMut::from(&b"prefix"[..]);
            buf.extend_from_slice(plain);
            let range = 6..buf.len();
            sealer.seal(*seq, &mut buf, range).unwrap();
            assert_eq!(
                hex::encode(&buf[6..]),
                hex::encode(sealed),
                "{} + {:?}, seq {seq}",
                v.cipher,
                v.mac
            );
            assert_eq!(&buf[..6], b"prefix");
        }
    }
}

#[test]
fn open_matches_known_answers() {
    for v in vectors() {
        let keys = Keys {
            key: &v.key,
            iv: &v.iv,
            mac_key: &v.mac_key,
        };
        let opener = registry::opener(&v.cipher, v.mac.as_deref(), &keys).unwrap();
        let mut deframer = Deframer::new(opener, PacketLimits::default());
        let mut buf = BytesMut::new();
        for (_, _, sealed) in &v.packets {
            buf.extend_from_slice(sealed);
        }
        for (seq, plain, _) in &v.packets {
            let p = deframer
                .next_packet(*seq, &mut buf)
                .unwrap_or_else(|e| panic!("{} + {:?}: {e}", v.cipher, v.mac))
                .unwrap();
            let pad = usize::from(plain[4]);
            assert_eq!(p.padding_len, plain[4]);
            assert_eq!(&p.payload[..], &plain[5..plain.len() - pad]);
        }
        assert!(buf.is_empty());
    }
}
