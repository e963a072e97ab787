//! The Deframer against hostile framing (catalog P01-P03, P07), zero-copy payloads and the
//! error-to-disconnect mapping.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

mod common;

use bytes::{BufMut, BytesMut};
use common::{combinations, label, pair, payload, rng, seal};
use whelk_cipher::registry::cipher_by_name;
use whelk_cipher::{Deframer, Error, PacketSealer};
use whelk_wire::frame::{PacketLimits, start_packet};
use whelk_wire::msg::DisconnectReason;

fn gcm() -> (Box<dyn PacketSealer>, Deframer) {
    let (s, o) = pair(cipher_by_name("aes128-gcm@openssh.com").unwrap(), None);
    (s, Deframer::new(o, PacketLimits::default()))
}

#[test]
fn catalog_p01_oversized_length_is_rejected_from_four_bytes() {
    for len in [0xffff_ffffu32, 256 * 1024 + 16, 0x0004_0010] {
        let (_, mut d) = gcm();
        let mut buf = BytesMut::from(&len.to_be_bytes()[..]);
        let e = d.next_packet(0, &mut buf).unwrap_err();
        assert!(
            matches!(e, Error::Wire(whelk_wire::Error::PacketTooLarge { .. })),
            "{e}"
        );
        assert_eq!(e.disconnect_reason(), DisconnectReason::PROTOCOL_ERROR);
    }
}

#[test]
fn catalog_p01_encrypted_lengths_never_make_the_deframer_ask_for_more_than_the_limit() {
    // Random first blocks under ciphers whose length is encrypted: whatever they decrypt to,
    // the deframer rejects it or asks for at most one packet's worth.
    for name in ["chacha20-poly1305@openssh.com", "aes128-ctr", "aes256-ctr"] {
        let c = cipher_by_name(name).unwrap();
        let m = whelk_cipher::registry::mac_by_name("hmac-sha2-256");
        for seed in 0..200u64 {
            let (_, o) = pair(c, m.filter(|_| !c.is_aead()));
            let limits = PacketLimits::default();
            let mut d = Deframer::new(o, limits);
            let mut buf = BytesMut::from(&payload(16, seed)[..]);
            match d.next_packet(0, &mut buf) {
                Ok(None) => {
                    assert!(d.bytes_needed(&buf) <= limits.max_packet_len() as usize + 4 + 32);
                }
                Ok(Some(_)) => panic!("random block opened"),
                Err(e) => assert!(matches!(e, Error::Wire(_)), "{e}"),
            }
        }
    }
}

#[test]
fn catalog_p02_tiny_lengths_are_rejected() {
    for len in [0u32, 1, 4, 5] {
        let (_, mut d) = gcm();
        let mut buf = BytesMut::from(&len.to_be_bytes()[..]);
        let e = d.next_packet(0, &mut buf).unwrap_err();
        assert!(
            matches!(e, Error::Wire(whelk_wire::Error::PacketTooSmall { .. })),
            "{e}"
        );
    }
}

#[test]
fn catalog_p03_misaligned_length_is_rejected() {
    let (_, mut d) = gcm();
    let mut buf = BytesMut::from(&0x0000_0021u32.to_be_bytes()[..]);
    let e = d.next_packet(0, &mut buf).unwrap_err();
    assert!(
        matches!(e, Error::Wire(whelk_wire::Error::PacketMisaligned { .. })),
        "{e}"
    );
}

/// Seals a hand-made packet with the given padding length byte (the MAC is valid).
fn seal_with_padding_byte(sealer: &mut dyn PacketSealer, padding_byte: u8) -> BytesMut {
    let mut out = BytesMut::new();
    let start = out.len();
    let _ = start_packet(&mut out);
    out.put_slice(b"\x02\x00\x00\x00\x00");
    let alignment = sealer.alignment();
    let pad = usize::from(alignment.padding_len(5));
    out.put_bytes(0xaa, pad);
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    out[start + 4] = padding_byte;
    let end = out.len();
    sealer.seal(0, &mut out, start..end).unwrap();
    out
}

#[test]
fn catalog_p03_bad_padding_is_rejected_after_authentication() {
    for (c, m) in combinations() {
        if c.is_cbc() && !m.is_some_and(|m| m.etm) {
            continue; // covered by the P07 test: reported as a MAC error after the discard
        }
        let name = label(c, m);
        for padding_byte in [0u8, 3, 200, 255] {
            let (mut s, o) = pair(c, m);
            let mut wire = seal_with_padding_byte(s.as_mut(), padding_byte);
            let mut d = Deframer::new(o, PacketLimits::default());
            let e = d.next_packet(0, &mut wire).unwrap_err();
            assert!(
                matches!(e, Error::Wire(whelk_wire::Error::BadPadding { .. })),
                "{name}: {e}"
            );
            assert_eq!(e.disconnect_reason(), DisconnectReason::PROTOCOL_ERROR);
        }
    }
}

/// Feeds `first` then zeros in uneven pieces until the deframer fails; returns how many bytes
/// it was given before failing, and the error.
fn bytes_until_error(mut d: Deframer, first: &[u8]) -> (usize, Error) {
    let mut buf = BytesMut::from(first);
    let mut fed = first.len();
    loop {
        match d.next_packet(0, &mut buf) {
            Ok(Some(_)) => panic!("opened"),
            Ok(None) => {
                let n = d.bytes_needed(&buf).min(7777);
                assert!(n > 0);
                buf.put_bytes(0, n);
                fed += n;
            }
            Err(e) => return (fed, e),
        }
    }
}

#[test]
fn catalog_p07_cbc_failures_cost_the_same_number_of_bytes_whatever_the_first_block() {
    let limits = PacketLimits::default();
    let expected = limits.max_packet_len() as usize + 4;
    for name in ["aes128-cbc", "aes256-cbc", "3des-cbc"] {
        let c = cipher_by_name(name).unwrap();
        let m = whelk_cipher::registry::mac_by_name("hmac-sha1");
        let mut counts = Vec::new();
        // Random first blocks (the attacker's foreign ciphertext)...
        for seed in 0..24 {
            let (_, o) = pair(c, m);
            let (n, e) = bytes_until_error(Deframer::new(o, limits), &payload(16, seed));
            assert_eq!(e, Error::Mac, "{name}");
            assert_eq!(e.disconnect_reason(), DisconnectReason::MAC_ERROR);
            counts.push(n);
        }
        // ...and a well-formed packet with a damaged MAC.
        let (mut s, o) = pair(c, m);
        let mut wire = BytesMut::new();
        seal(s.as_mut(), 0, b"\x02hello", &mut wire, &mut rng(1));
        let last = wire.len() - 1;
        wire[last] ^= 1;
        let (n, e) = bytes_until_error(Deframer::new(o, limits), &wire);
        assert_eq!(e, Error::Mac);
        counts.push(n);
        assert!(counts.iter().all(|&n| n == expected), "{name}: {counts:?}");
    }
}

#[test]
fn non_cbc_failures_are_immediate() {
    let c = cipher_by_name("aes128-ctr").unwrap();
    let m = whelk_cipher::registry::mac_by_name("hmac-sha1");
    let (mut s, o) = pair(c, m);
    let mut wire = BytesMut::new();
    seal(s.as_mut(), 0, b"\x02hello", &mut wire, &mut rng(1));
    let len = wire.len();
    wire[len - 1] ^= 1;
    let (n, e) = bytes_until_error(Deframer::new(o, PacketLimits::default()), &wire);
    assert_eq!((n, e), (len, Error::Mac));
}

#[test]
fn payloads_are_views_of_the_receive_buffer() {
    let (mut s, mut d) = gcm();
    let mut wire = BytesMut::with_capacity(4096);
    for seq in 0..3 {
        seal(s.as_mut(), seq, &payload(500, 1), &mut wire, &mut rng(2));
    }
    let base = wire.as_ptr() as usize;
    let end = base + wire.len();
    for seq in 0..3 {
        let p = d.next_packet(seq, &mut wire).unwrap().unwrap();
        let at = p.payload.as_ptr() as usize;
        assert!(at >= base && at + p.payload.len() <= end, "copied");
        assert_eq!(&p.payload[..], &payload(500, 1)[..]);
    }
}

#[test]
fn sealing_appends_in_place() {
    for (c, m) in combinations() {
        let (mut s, _) = pair(c, m);
        let mut out = BytesMut::with_capacity(1 << 16);
        out.put_slice(b"earlier bytes");
        let ptr = out.as_ptr();
        seal(s.as_mut(), 0, &payload(1000, 1), &mut out, &mut rng(3));
        assert_eq!(out.as_ptr(), ptr, "{}: buffer moved", label(c, m));
        assert_eq!(&out[..13], b"earlier bytes");
    }
}

#[test]
fn sealing_rejects_ranges_that_are_not_whole_packets() {
    let (mut s, _) = gcm();
    let mut out = BytesMut::new();
    seal(s.as_mut(), 0, b"\x02hi", &mut out, &mut rng(3));
    let n = out.len();
    // Not at the end of the buffer, empty, reversed, misaligned.
    for r in [0..n - 1, 0..0, 0..n + 1] {
        let mut buf = out.clone();
        assert!(matches!(
            s.seal(1, &mut buf, r),
            Err(Error::BadPacketRange { .. })
        ));
    }
    let mut buf = BytesMut::from(&[0, 0, 0, 12, 4, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11][..]);
    assert!(matches!(
        s.seal(1, &mut buf, 0..16),
        Err(Error::BadPacketRange { .. })
    ));
}

#[test]
fn opener_steps_out_of_order_are_errors() {
    let (_, mut o) = pair(cipher_by_name("aes128-gcm@openssh.com").unwrap(), None);
    assert_eq!(o.open(0, &mut [0u8; 36]), Err(Error::OpenOutOfOrder));
    assert_eq!(o.open_length(0, &[0, 0]), Err(Error::OpenOutOfOrder));
    assert_eq!(o.open_length(0, &[0, 0, 0, 16]), Ok(16));
    // Wrong size for the announced length.
    assert_eq!(o.open(0, &mut [0u8; 35]), Err(Error::OpenOutOfOrder));
}

#[test]
fn error_reasons() {
    assert_eq!(Error::Mac.disconnect_reason(), DisconnectReason::MAC_ERROR);
    assert_eq!(
        DisconnectReason::from(&Error::DecompressedTooLarge { max: 1 }),
        DisconnectReason::COMPRESSION_ERROR
    );
    assert_eq!(
        Error::CorruptCompressedData.disconnect_reason(),
        DisconnectReason::COMPRESSION_ERROR
    );
    assert_eq!(
        Error::Wire(whelk_wire::Error::BadPadding {
            padding: 1,
            len: 12
        })
        .disconnect_reason(),
        DisconnectReason::PROTOCOL_ERROR
    );
    // The MAC error says nothing about where the check failed.
    assert_eq!(Error::Mac.to_string(), "message authentication failed");
}

#[test]
fn debug_output_shows_no_key_material() {
    let (_, d) = gcm();
    let s = format!("{d:?}");
    assert!(s.contains("aes128-gcm@openssh.com"), "{s}");
    assert!(!s.contains("17"), "{s}"); // 0x11 key bytes as decimal
}
