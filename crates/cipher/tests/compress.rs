//! zlib / zlib@openssh.com: one stream per direction kept across packets, OpenSSH-shaped
//! input (Z_PARTIAL_FLUSH, not byte-aligned between packets), and the inflate cap
//! (catalog R03).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use bytes::BytesMut;
use whelk_cipher::compress::DEFAULT_MAX_INFLATED;
use whelk_cipher::{Compressor, Decompressor, Error};
use whelk_wire::msg::DisconnectReason;

fn fixture() -> Vec<(Vec<u8>, Vec<u8>)> {
    include_str!("data/zlib_stream.txt")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (p, z) = l.split_once(' ').unwrap();
            (hex::decode(p).unwrap(), hex::decode(z).unwrap())
        })
        .collect()
}

#[test]
fn inflates_an_openssh_shaped_stream_packet_by_packet() {
    // Produced by C zlib with Z_PARTIAL_FLUSH, as OpenSSH's packet.c does.
    let mut d = Decompressor::new(DEFAULT_MAX_INFLATED);
    for (payload, compressed) in fixture() {
        let mut out = BytesMut::new();
        d.decompress(&compressed, &mut out).unwrap();
        assert_eq!(&out[..], &payload[..]);
    }
}

#[test]
fn later_packets_depend_on_earlier_ones() {
    let f = fixture();
    // The fourth payload repeats the second: it compresses to a back-reference...
    assert!(f[3].1.len() < f[1].1.len());
    // ...which a fresh stream cannot resolve.
    let mut fresh = Decompressor::new(DEFAULT_MAX_INFLATED);
    let mut out = BytesMut::new();
    assert!(fresh.decompress(&f[3].1, &mut out).is_err() || out[..] != f[3].0[..]);
}

#[test]
fn our_stream_keeps_state_across_packets() {
    let packets: Vec<Vec<u8>> = (0..6u8)
        .map(|i| {
            let mut p = b"\x5e\x00\x00\x00\x01\x00\x00\x00\x40".to_vec();
            p.extend(b"drwxr-xr-x 2 user user 4096 Nov 21 06:00 projects\n".repeat(2));
            p.push(i);
            p
        })
        .collect();
    let mut c = Compressor::new();
    let mut d = Decompressor::new(DEFAULT_MAX_INFLATED);
    let mut sizes = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        let mut z = BytesMut::new();
        c.compress(p, &mut z).unwrap();
        if i == 0 {
            assert_eq!(z[0], 0x78, "zlib header (RFC 1950)");
        }
        // Each packet ends on a sync flush marker, so it can be inflated on its own arrival.
        assert!(z.ends_with(&[0, 0, 0xff, 0xff]));
        sizes.push(z.len());
        let mut out = BytesMut::from(&b"kept"[..]);
        d.decompress(&z, &mut out).unwrap();
        assert_eq!(&out[..4], b"kept", "appends");
        assert_eq!(&out[4..], &p[..]);
    }
    // Dictionary carried over: repeats cost far less than the first packet.
    assert!(sizes[5] * 3 < sizes[0], "{sizes:?}");
}

#[test]
fn empty_and_large_payloads() {
    let mut c = Compressor::new();
    let mut d = Decompressor::new(DEFAULT_MAX_INFLATED);
    for p in [
        Vec::new(),
        vec![7u8; DEFAULT_MAX_INFLATED],
        (0..=255u8).cycle().take(70_000).collect(),
    ] {
        let mut z = BytesMut::new();
        c.compress(&p, &mut z).unwrap();
        let mut out = BytesMut::new();
        d.decompress(&z, &mut out).unwrap();
        assert!(out[..] == p[..]);
    }
}

#[test]
fn cap_is_exact() {
    let mut c = Compressor::new();
    let mut z = BytesMut::new();
    c.compress(&[1u8; 1000], &mut z).unwrap();
    let mut ok = Decompressor::new(1000);
    let mut out = BytesMut::new();
    ok.decompress(&z, &mut out).unwrap();
    assert_eq!(out.len(), 1000);
    let mut tight = Decompressor::new(999);
    let mut out = BytesMut::new();
    assert_eq!(
        tight.decompress(&z, &mut out),
        Err(Error::DecompressedTooLarge { max: 999 })
    );
    assert!(out.len() <= 1000);
}

/// Catalog R03: one packet of about 200 KiB that inflates to 200 MiB.
#[test]
fn catalog_r03_compression_bomb_is_refused_without_a_huge_allocation() {
    // A MiB of zeros, compressed and sync-flushed, is a byte-aligned run of non-final
    // deflate blocks: repeating it makes a valid stream of any inflated size.
    let mut c = Compressor::new();
    let mut unit = BytesMut::new();
    c.compress(&[0u8; 1 << 20], &mut unit).unwrap();
    let (header, blocks) = unit.split_at(2);
    let mut bomb = header.to_vec();
    for _ in 0..200 {
        bomb.extend_from_slice(blocks);
    }
    // Fits in one packet.
    assert!(bomb.len() < 256 * 1024, "{}", bomb.len());
    let mut d = Decompressor::new(DEFAULT_MAX_INFLATED);
    let mut out = BytesMut::new();
    let e = d.decompress(&bomb, &mut out).unwrap_err();
    assert_eq!(
        e,
        Error::DecompressedTooLarge {
            max: DEFAULT_MAX_INFLATED
        }
    );
    assert_eq!(e.disconnect_reason(), DisconnectReason::COMPRESSION_ERROR);
    assert!(out.len() <= DEFAULT_MAX_INFLATED + 1);
    assert!(out.capacity() <= 2 * DEFAULT_MAX_INFLATED);
}

#[test]
fn corrupt_streams_are_errors_not_panics() {
    let mut d = Decompressor::new(DEFAULT_MAX_INFLATED);
    let mut out = BytesMut::new();
    assert_eq!(
        d.decompress(b"\x78\x9c\xff\xff\xff\xff", &mut out),
        Err(Error::CorruptCompressedData)
    );
    // A bad header.
    let mut d = Decompressor::new(DEFAULT_MAX_INFLATED);
    assert!(d.decompress(b"\x00\x00", &mut out).is_err());
    // Garbage of every length from a fixed pattern.
    for n in 0..300 {
        let junk: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
        let mut d = Decompressor::new(4096);
        let mut out = BytesMut::new();
        let _ = d.decompress(&junk, &mut out);
        assert!(out.len() <= 4097);
    }
}
