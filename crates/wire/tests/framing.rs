//! Binary packet framing (RFC 4253 §6): padding arithmetic, encode/deframe round trips with
//! a seeded RNG, and the security catalog rows P01-P04 (hostile lengths and paddings).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bytes::{Bytes, BytesMut};
use chacha20::ChaCha20Rng;
use proptest::collection::vec;
use proptest::prelude::*;
use rand_core::SeedableRng;
use whelk_wire::Error;
use whelk_wire::frame::{
    Alignment, DEFAULT_MAX_PACKET_LEN, Deframer, MIN_MAX_PACKET_LEN, MIN_PACKET_SIZE, Packet,
    PacketLimits, check_packet_length, check_padding, encode_packet, finish_packet, start_packet,
};
use whelk_wire::msg::{ChannelData, DisconnectReason, Ignore, Message, NewKeys};

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn deframer() -> Deframer {
    Deframer::new(PacketLimits::default())
}

fn buf(bytes: &[u8]) -> BytesMut {
    BytesMut::from(bytes)
}

/// A plaintext packet by hand: length, padding length, payload, `pad` zero bytes.
fn raw_packet(payload: &[u8], pad: u8) -> Vec<u8> {
    let len = u32::try_from(1 + payload.len() + usize::from(pad)).unwrap();
    let mut v = len.to_be_bytes().to_vec();
    v.push(pad);
    v.extend_from_slice(payload);
    v.extend(std::iter::repeat_n(0u8, usize::from(pad)));
    v
}

fn data(len: usize) -> Message {
    ChannelData {
        recipient: 3,
        data: (0..len)
            .map(|i| u8::try_from(i % 251).unwrap())
            .collect::<Vec<u8>>()
            .into(),
    }
    .into()
}

/// Feeds `stream` to a deframer in pieces of `chunk` bytes, collecting every packet.
fn deframe_in_chunks(stream: &[u8], chunk: usize) -> Result<Vec<Packet>, Error> {
    let mut d = deframer();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        while let Some(p) = d.next_packet(&mut buf)? {
            out.push(p);
        }
    }
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Padding arithmetic
// ---------------------------------------------------------------------------------------------

fn check_padding_len(payload_len: usize, block: usize, length_in_block: bool) {
    let a = Alignment::new(block, length_in_block);
    assert_eq!(a.block(), block.max(8));
    let pad = usize::from(a.padding_len(payload_len));
    assert!((4..=255).contains(&pad), "padding {pad}");
    let total = 4 + 1 + payload_len + pad;
    assert!(total >= MIN_PACKET_SIZE, "total {total}");
    let covered = if length_in_block { total } else { total - 4 };
    assert_eq!(
        covered % a.block(),
        0,
        "payload {payload_len} block {block}"
    );
    // The least such padding: one block less breaks a rule.
    if pad >= a.block() {
        let less = pad - a.block();
        assert!(less < 4 || 4 + 1 + payload_len + less < MIN_PACKET_SIZE);
    }
    let packet_len = u32::try_from(total - 4).unwrap();
    assert_eq!(a.check(packet_len), Ok(()));
    // A real payload has at least its message number.
    if payload_len > 0 {
        assert_eq!(
            check_padding(u8::try_from(pad).unwrap(), packet_len),
            Ok(())
        );
    }
}

#[test]
fn padding_len_small_payloads_exhaustively() {
    for payload_len in 0..2048 {
        for block in [8, 16] {
            for length_in_block in [true, false] {
                check_padding_len(payload_len, block, length_in_block);
            }
        }
    }
}

#[test]
fn padding_len_examples() {
    let plain = Alignment::PLAINTEXT;
    assert_eq!(plain.block(), 8);
    // Payload 1 (NEWKEYS): 4 + 1 + 1 + pad = 16 -> pad 10.
    assert_eq!(plain.padding_len(1), 10);
    // Payload 0: 5 + pad >= 16 and aligned -> 11.
    assert_eq!(plain.padding_len(0), 11);
    // Payload 7: 4 + 1 + 7 = 12 -> 4 more makes 16.
    assert_eq!(plain.padding_len(7), 4);
    // Payload 8: 13 -> 3 would align but is below 4 -> 11.
    assert_eq!(plain.padding_len(8), 11);
    // Length outside the blocks (EtM/AEAD), 16-byte blocks: 1 + 14 + 17 = 32.
    assert_eq!(Alignment::new(16, false).padding_len(14), 17);
    assert_eq!(Alignment::new(16, false).padding_len(11), 4);
    // Block sizes below 8 are raised to 8.
    assert_eq!(Alignment::new(1, true), Alignment::PLAINTEXT);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn padding_len_property(
        payload_len in 0usize..70_000,
        block in prop_oneof![Just(8usize), Just(16usize)],
        length_in_block in any::<bool>(),
    ) {
        check_padding_len(payload_len, block, length_in_block);
    }
}

#[test]
fn alignment_check() {
    let plain = Alignment::PLAINTEXT;
    assert_eq!(plain.check(12), Ok(()));
    assert_eq!(
        plain.check(13),
        Err(Error::PacketMisaligned { len: 13, block: 8 })
    );
    let etm = Alignment::new(16, false);
    assert_eq!(etm.check(32), Ok(()));
    assert_eq!(
        etm.check(28),
        Err(Error::PacketMisaligned { len: 28, block: 16 })
    );
    assert_eq!(Alignment::new(16, true).check(28), Ok(()));
    // No overflow at the top of the range.
    assert!(plain.check(u32::MAX).is_err());
    assert_eq!(plain.check(u32::MAX - 3), Ok(()));
}

// ---------------------------------------------------------------------------------------------
// Encoding and deframing
// ---------------------------------------------------------------------------------------------

#[test]
fn encode_packet_layout() {
    let mut out = BytesMut::from(&b"prefix"[..]);
    let range = encode_packet(
        &mut out,
        &NewKeys {}.into(),
        Alignment::PLAINTEXT,
        &mut rng(1),
    )
    .unwrap();
    assert_eq!(range, 6..22);
    assert_eq!(&out[..6], b"prefix");
    let p = &out[6..];
    // packet_length 12, padding_length 10, payload 0x15, 10 bytes of padding.
    assert_eq!(&p[..6], &[0, 0, 0, 12, 10, 21]);
    assert_eq!(p.len(), 16);
    // The padding comes from the RNG: the same seed gives the same bytes, another seed not.
    let mut again = BytesMut::new();
    encode_packet(
        &mut again,
        &NewKeys {}.into(),
        Alignment::PLAINTEXT,
        &mut rng(1),
    )
    .unwrap();
    assert_eq!(&again[..], p);
    let mut other = BytesMut::new();
    encode_packet(
        &mut other,
        &NewKeys {}.into(),
        Alignment::PLAINTEXT,
        &mut rng(2),
    )
    .unwrap();
    assert_ne!(&other[6..], &p[6..]);
    assert_ne!(&p[6..], &[0; 10]);
}

#[test]
fn start_and_finish_packet_match_encode_packet() {
    let msg: Message = Ignore {
        data: Bytes::from_static(b"abc"),
    }
    .into();
    let mut a = BytesMut::new();
    let start = start_packet(&mut a);
    msg.encode(&mut a).unwrap();
    let ra = finish_packet(&mut a, start, Alignment::new(16, true), &mut rng(9)).unwrap();
    let mut b = BytesMut::new();
    let rb = encode_packet(&mut b, &msg, Alignment::new(16, true), &mut rng(9)).unwrap();
    assert_eq!(ra, rb);
    assert_eq!(a, b);
    assert_eq!(a.len() % 16, 0);
}

#[test]
fn round_trip_whole_and_byte_at_a_time() {
    let msgs: Vec<Message> = vec![
        NewKeys {}.into(),
        data(0),
        data(1),
        data(1000),
        Ignore {
            data: Bytes::from_static(b"x"),
        }
        .into(),
        data(32_768),
    ];
    let mut stream = BytesMut::new();
    let mut r = rng(42);
    for m in &msgs {
        encode_packet(&mut stream, m, Alignment::PLAINTEXT, &mut r).unwrap();
    }
    for chunk in [stream.len(), 1, 7, 4096] {
        let packets = deframe_in_chunks(&stream, chunk).unwrap();
        assert_eq!(packets.len(), msgs.len());
        for (p, m) in packets.iter().zip(&msgs) {
            assert_eq!(p.payload, m.to_bytes().unwrap());
            assert_eq!(
                p.padding_len,
                Alignment::PLAINTEXT.padding_len(m.encoded_len())
            );
            assert_eq!(&Message::decode(&p.payload).unwrap(), m);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn round_trip_property(
        seed in any::<u64>(),
        sizes in vec(0usize..3000, 1..8),
        chunk in 1usize..64,
    ) {
        let msgs: Vec<Message> = sizes.iter().map(|&n| data(n)).collect();
        let mut stream = BytesMut::new();
        let mut r = rng(seed);
        for m in &msgs {
            let before = stream.len();
            let range = encode_packet(&mut stream, m, Alignment::PLAINTEXT, &mut r).unwrap();
            prop_assert_eq!(range.start, before);
            prop_assert_eq!(range.end, stream.len());
            prop_assert_eq!(range.len() % 8, 0);
        }
        let whole = deframe_in_chunks(&stream, stream.len()).unwrap();
        let bytewise = deframe_in_chunks(&stream, 1).unwrap();
        let chunked = deframe_in_chunks(&stream, chunk).unwrap();
        prop_assert_eq!(&whole, &bytewise);
        prop_assert_eq!(&whole, &chunked);
        for (p, m) in whole.iter().zip(&msgs) {
            prop_assert_eq!(&Message::decode(&p.payload).unwrap(), m);
        }
    }
}

#[test]
fn bytes_needed_reports_what_is_missing() {
    let d = deframer();
    let pkt = raw_packet(&[21], 10); // 16 bytes
    assert_eq!(d.bytes_needed(&[]), Ok(4));
    assert_eq!(d.bytes_needed(&pkt[..1]), Ok(3));
    assert_eq!(d.bytes_needed(&pkt[..4]), Ok(12));
    assert_eq!(d.bytes_needed(&pkt[..10]), Ok(6));
    assert_eq!(d.bytes_needed(&pkt[..15]), Ok(1));
    assert_eq!(d.bytes_needed(&pkt), Ok(0));
    // A hostile length is an error here too, not a request for 4 GiB.
    assert!(matches!(
        d.bytes_needed(&[0xff, 0xff, 0xff, 0xff]),
        Err(Error::PacketTooLarge { .. })
    ));
    // next_packet agrees: nothing until all 16 bytes are there.
    let mut dd = deframer();
    let mut b = BytesMut::new();
    for (i, &byte) in pkt.iter().enumerate() {
        assert_eq!(dd.next_packet(&mut b), Ok(None), "after {i} bytes");
        let expected = if i < 4 { 4 - i } else { pkt.len() - i };
        assert_eq!(d.bytes_needed(&b), Ok(expected), "after {i} bytes");
        b.extend_from_slice(&[byte]);
    }
    let p = dd.next_packet(&mut b).unwrap().unwrap();
    assert_eq!(&p.payload[..], &[21]);
    assert_eq!(p.padding_len, 10);
    assert!(b.is_empty());
}

#[test]
fn two_packets_and_a_partial_in_one_buffer() {
    let mut stream = raw_packet(&[21], 10);
    stream.extend(raw_packet(&[2, 0, 0, 0, 0], 6));
    let third = raw_packet(&[5, 0, 0, 0, 0], 6);
    stream.extend_from_slice(&third[..7]);
    let mut b = buf(&stream);
    let mut d = deframer();
    assert_eq!(&d.next_packet(&mut b).unwrap().unwrap().payload[..], &[21]);
    assert_eq!(
        &d.next_packet(&mut b).unwrap().unwrap().payload[..],
        &[2, 0, 0, 0, 0]
    );
    assert_eq!(d.next_packet(&mut b), Ok(None));
    assert_eq!(&b[..], &third[..7]);
    assert_eq!(d.bytes_needed(&b), Ok(third.len() - 7));
    b.extend_from_slice(&third[7..]);
    assert_eq!(
        &d.next_packet(&mut b).unwrap().unwrap().payload[..],
        &[5, 0, 0, 0, 0]
    );
}

// ---------------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------------

#[test]
fn packet_limits() {
    assert_eq!(DEFAULT_MAX_PACKET_LEN, 256 * 1024);
    assert_eq!(MIN_MAX_PACKET_LEN, 35_000);
    assert_eq!(PacketLimits::default().max_packet_len(), 262_144);
    assert_eq!(PacketLimits::new(1000).max_packet_len(), 35_000);
    assert_eq!(PacketLimits::new(0).max_packet_len(), 35_000);
    assert_eq!(PacketLimits::new(100_000).max_packet_len(), 100_000);
    assert_eq!(PacketLimits::new(u32::MAX).max_packet_len(), u32::MAX);
}

/// RFC 4253 §6.1: every implementation must take a packet of 35000 bytes in all (length
/// field included) and a payload of 32768 bytes.
#[test]
fn rfc4253_minimum_sizes_are_accepted() {
    // 4 + packet_length = 35000: packet_length 34996, aligned to 8.
    let payload_len = 34_996 - 1 - 4;
    let mut payload = vec![0u8; payload_len];
    payload[0] = 2; // SSH_MSG_IGNORE, any body
    let pkt = raw_packet(&payload, 4);
    assert_eq!(pkt.len(), 35_000);
    for limits in [PacketLimits::default(), PacketLimits::new(1000)] {
        let mut d = Deframer::new(limits);
        let mut b = buf(&pkt);
        let p = d.next_packet(&mut b).unwrap().unwrap();
        assert_eq!(p.payload.len(), payload_len);
    }
    // Under the smallest limit, 8 bytes more is too much.
    let pkt = raw_packet(&vec![2u8; payload_len + 8], 4);
    let mut d = Deframer::new(PacketLimits::new(1000));
    assert_eq!(
        d.next_packet(&mut buf(&pkt[..4])),
        Err(Error::PacketTooLarge {
            len: 35_004,
            max: 35_000
        })
    );
    // A 32768-byte CHANNEL_DATA payload fits under the smallest limit.
    let mut stream = BytesMut::new();
    let m = data(32_768 - 9);
    encode_packet(&mut stream, &m, Alignment::PLAINTEXT, &mut rng(3)).unwrap();
    assert_eq!(m.encoded_len(), 32_768);
    let mut d = Deframer::new(PacketLimits::new(0));
    let p = d.next_packet(&mut stream).unwrap().unwrap();
    assert_eq!(Message::decode(&p.payload).unwrap(), m);
}

#[test]
fn largest_aligned_packet_under_the_default_limit() {
    // 262140 + 4 is a multiple of 8; 262144 itself is not aligned.
    let d = deframer();
    assert_eq!(d.bytes_needed(&[0x00, 0x03, 0xff, 0xfc]), Ok(262_140));
    assert_eq!(
        d.bytes_needed(&[0x00, 0x04, 0x00, 0x00]),
        Err(Error::PacketMisaligned {
            len: 262_144,
            block: 8
        })
    );
}

// ---------------------------------------------------------------------------------------------
// Security catalog rows P01-P04 (docs: security-catalog.md)
// ---------------------------------------------------------------------------------------------

/// P01: `packet_length = 0xffffffff` is refused as soon as the 4 length bytes are in, long
/// before the body could arrive; nothing is buffered for it.
#[test]
fn catalog_p01_length_ffffffff_rejected_before_the_body() {
    let err = Error::PacketTooLarge {
        len: u32::MAX,
        max: 262_144,
    };
    let expected = Err(err.clone());
    let mut d = deframer();
    assert_eq!(d.next_packet(&mut buf(&[0xff, 0xff, 0xff])), Ok(None));
    assert_eq!(d.next_packet(&mut buf(&[0xff, 0xff, 0xff, 0xff])), expected);
    assert_eq!(
        d.next_packet(&mut buf(&[0xff, 0xff, 0xff, 0xff, 0x00])),
        expected
    );
    assert_eq!(d.bytes_needed(&[0xff, 0xff, 0xff, 0xff]), Err(err.clone()));
    assert_eq!(err.disconnect_reason(), DisconnectReason::PROTOCOL_ERROR);
}

/// P01: 256 KiB + 1 (`00 04 00 01`) is over the default limit.
#[test]
fn catalog_p01_256k_plus_one_rejected_before_the_body() {
    let mut d = deframer();
    assert_eq!(
        d.next_packet(&mut buf(&[0x00, 0x04, 0x00, 0x01])),
        Err(Error::PacketTooLarge {
            len: 262_145,
            max: 262_144
        })
    );
    assert_eq!(
        check_packet_length(262_145, PacketLimits::default()),
        Err(Error::PacketTooLarge {
            len: 262_145,
            max: 262_144
        })
    );
    assert_eq!(
        check_packet_length(262_144, PacketLimits::default()),
        Ok(())
    );
}

/// P02: `packet_length` below 5, or 0, cannot hold a padding length, a message number and
/// 4 bytes of padding.
#[test]
fn catalog_p02_packet_too_small() {
    let mut d = deframer();
    assert_eq!(
        d.next_packet(&mut buf(&[0, 0, 0, 0])),
        Err(Error::PacketTooSmall { len: 0 })
    );
    assert_eq!(
        d.next_packet(&mut buf(&[0, 0, 0, 4, 4, 0x15, 0, 0, 0])),
        Err(Error::PacketTooSmall { len: 4 })
    );
    for len in 0..=5u32 {
        assert_eq!(
            check_packet_length(len, PacketLimits::default()),
            Err(Error::PacketTooSmall { len })
        );
    }
    assert_eq!(check_packet_length(6, PacketLimits::default()), Ok(()));
    assert_eq!(
        Error::PacketTooSmall { len: 0 }.disconnect_reason(),
        DisconnectReason::PROTOCOL_ERROR
    );
}

/// P03: padding below 4, padding that leaves no payload, and lengths that do not align.
#[test]
fn catalog_p03_bad_padding_and_misalignment() {
    let mut d = deframer();
    // `00 00 00 0c 03 15` + 10: padding 3.
    let mut p = vec![0, 0, 0, 0x0c, 0x03, 0x15];
    p.extend([0; 10]);
    assert_eq!(
        d.next_packet(&mut buf(&p)),
        Err(Error::BadPadding {
            padding: 3,
            len: 12
        })
    );
    // `00 00 00 0c 0c 15` + 10: padding as long as the packet.
    let mut p = vec![0, 0, 0, 0x0c, 0x0c, 0x15];
    p.extend([0; 10]);
    assert_eq!(
        d.next_packet(&mut buf(&p)),
        Err(Error::BadPadding {
            padding: 12,
            len: 12
        })
    );
    // Padding 11 of 12 leaves no room for the message number.
    let mut p = vec![0, 0, 0, 0x0c, 0x0b, 0x15];
    p.extend([0; 10]);
    assert_eq!(
        d.next_packet(&mut buf(&p)),
        Err(Error::BadPadding {
            padding: 11,
            len: 12
        })
    );
    // Padding 255 in a short packet.
    let mut p = vec![0, 0, 0, 0x0c, 0xff, 0x15];
    p.extend([0; 10]);
    assert!(matches!(
        d.next_packet(&mut buf(&p)),
        Err(Error::BadPadding { padding: 255, .. })
    ));
    // `00 00 00 0d 0a 15` + 11: 4 + 13 is not a multiple of 8, caught from the length alone.
    let mut p = vec![0, 0, 0, 0x0d, 0x0a, 0x15];
    p.extend([0; 11]);
    let misaligned = Err(Error::PacketMisaligned { len: 13, block: 8 });
    assert_eq!(d.next_packet(&mut buf(&p)), misaligned);
    assert_eq!(d.next_packet(&mut buf(&p[..4])), misaligned);
    // Padding 10 of 12 leaves exactly the message number: fine.
    let mut p = vec![0, 0, 0, 0x0c, 0x0a, 0x15];
    p.extend([0; 10]);
    let pkt = d.next_packet(&mut buf(&p)).unwrap().unwrap();
    assert_eq!(&pkt.payload[..], &[0x15]);
    // The checks on their own.
    assert_eq!(check_padding(4, 12), Ok(()));
    assert_eq!(check_padding(10, 12), Ok(()));
    assert!(check_padding(3, 12).is_err());
    assert!(check_padding(11, 12).is_err());
    assert!(check_padding(0, 12).is_err());
}

/// P04: message number 0 arrives framed correctly and is refused by the decoder.
#[test]
fn catalog_p04_message_type_zero() {
    let pkt = raw_packet(&[0x00], 10);
    let mut d = deframer();
    let p = d.next_packet(&mut buf(&pkt)).unwrap().unwrap();
    let e = Message::decode(&p.payload).unwrap_err();
    assert_eq!(e, Error::ReservedMessageNumber);
    assert_eq!(e.disconnect_reason(), DisconnectReason::PROTOCOL_ERROR);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// Arbitrary streams never panic, never yield a packet that breaks a rule, and whole and
    /// byte-at-a-time delivery agree.
    #[test]
    fn arbitrary_streams(stream in vec(any::<u8>(), 0..200), chunk in 1usize..20) {
        let run = |chunk: usize| {
            let mut d = Deframer::new(PacketLimits::new(0));
            let mut b = BytesMut::new();
            let mut out = Vec::new();
            for piece in stream.chunks(chunk) {
                b.extend_from_slice(piece);
                loop {
                    match d.next_packet(&mut b) {
                        Ok(Some(p)) => out.push(p),
                        Ok(None) => break,
                        Err(e) => return (out, Some(e)),
                    }
                }
            }
            (out, None)
        };
        let whole = run(stream.len().max(1));
        prop_assert_eq!(&whole, &run(1));
        prop_assert_eq!(&whole, &run(chunk));
        for p in &whole.0 {
            prop_assert!(p.padding_len >= 4);
            prop_assert!(!p.payload.is_empty());
        }
    }
}
