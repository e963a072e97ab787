//! Round trips for every cipher x MAC x compression combination, over payload sizes from the
//! smallest to the largest the packet limit allows, through the Deframer with the input
//! arriving in uneven pieces.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

mod common;

use std::collections::HashMap;

use bytes::{BufMut, BytesMut};
use common::{combinations, label, pair, payload, rng};
use whelk_cipher::compress::DEFAULT_MAX_INFLATED;
use whelk_cipher::registry::{COMPRESSIONS, CompressionKind};
use whelk_cipher::{Compressor, Decompressor, Deframer};
use whelk_wire::frame::{Alignment, PacketLimits, finish_packet, start_packet};

/// The largest payload whose packet fits `limits` under `alignment`.
fn max_payload(limits: PacketLimits, alignment: Alignment) -> usize {
    let max = limits.max_packet_len() as usize;
    (1..max)
        .rev()
        .find(|&p| 1 + p + usize::from(alignment.padding_len(p)) <= max)
        .unwrap()
}

/// Payloads and what goes on the wire for them.
type Stream = Vec<(Vec<u8>, Vec<u8>)>;

/// The payloads for one list of sizes, and (when compressing) their compressed forms from one
/// zlib stream, checked to inflate back packet by packet. The cipher and MAC never see
/// anything but these bytes, so each stream is built once and shared by every combination
/// with the same alignment.
fn stream(sizes: &[usize], compressing: bool) -> Stream {
    let mut deflate = Compressor::new();
    let mut inflate = Decompressor::new(DEFAULT_MAX_INFLATED);
    sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| {
            let data = payload(size, i as u64);
            if !compressing {
                return (data.clone(), data);
            }
            let mut z = BytesMut::new();
            deflate.compress(&data, &mut z).unwrap();
            let mut out = BytesMut::new();
            inflate.decompress(&z, &mut out).unwrap();
            assert!(out[..] == data[..], "zlib round trip of {size} bytes");
            (data, z.to_vec())
        })
        .collect()
}

fn round_trips(compression: &str) -> usize {
    let comp = COMPRESSIONS.iter().find(|c| c.name == compression).unwrap();
    let compressing = comp.kind == CompressionKind::Zlib;
    let limits = PacketLimits::default();
    let mut combos = 0;
    let mut streams: HashMap<Vec<usize>, Stream> = HashMap::new();
    for (c, m) in combinations() {
        combos += 1;
        let name = format!("{} {}", label(c, m), comp.name);
        let (mut sealer, opener) = pair(c, m);
        let alignment = sealer.alignment();
        let mut sizes = vec![1, 2, 7, 8, 15, 16, 17, 31, 32, 33, 255, 256, 4096, 32768];
        // Compressed payloads of half-random data stay below the uncompressed size, so the
        // maximal payload fits either way; the inflate cap is the default.
        sizes.push(max_payload(limits, alignment).min(DEFAULT_MAX_INFLATED));
        let packets = streams
            .entry(sizes.clone())
            .or_insert_with(|| stream(&sizes, compressing));
        let mut r = rng(7);
        let mut wire = BytesMut::new();
        let first_seq = u32::MAX - 3; // cross the sequence number wrap too
        for (i, (_, on_wire)) in packets.iter().enumerate() {
            let seq = first_seq.wrapping_add(i as u32);
            let start = start_packet(&mut wire);
            wire.put_slice(on_wire);
            let range = finish_packet(&mut wire, start, alignment, &mut r).unwrap();
            assert!(
                range.len() - 4 <= limits.max_packet_len() as usize,
                "{name}"
            );
            let end = range.end;
            sealer.seal(seq, &mut wire, range).unwrap();
            assert_eq!(wire.len(), end + sealer.trailer_len(), "{name}");
        }
        let mut deframer = Deframer::new(opener, limits);
        let mut inbound = BytesMut::new();
        let mut got = 0;
        let mut seq = first_seq;
        for piece in wire.chunks(4093) {
            inbound.extend_from_slice(piece);
            while let Some(p) = deframer
                .next_packet(seq, &mut inbound)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
            {
                let (data, on_wire) = &packets[got];
                assert!(
                    p.payload[..] == on_wire[..],
                    "{name}: payload of {} bytes differs",
                    data.len()
                );
                seq = seq.wrapping_add(1);
                got += 1;
            }
        }
        assert!(inbound.is_empty(), "{name}");
        assert_eq!(got, packets.len(), "{name}");
    }
    combos
}

// 3 AEAD ciphers + 8 others x 14 MACs, for each compression method.
const COMBINATIONS: usize = 3 + 8 * 14;

#[test]
fn every_combination_round_trips_without_compression() {
    assert_eq!(round_trips("none"), COMBINATIONS);
}

#[test]
fn every_combination_round_trips_with_zlib() {
    assert_eq!(round_trips("zlib"), COMBINATIONS);
}

#[test]
fn every_combination_round_trips_with_delayed_zlib() {
    assert_eq!(round_trips("zlib@openssh.com"), COMBINATIONS);
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Random combination, payload sizes, sequence numbers and input splits.
        #[test]
        fn random_packets_round_trip(
            combo in 0usize..83,
            sizes in proptest::collection::vec(1usize..3000, 1..6),
            seq0 in any::<u32>(),
            piece in 1usize..600,
            seed in any::<u64>(),
        ) {
            let (c, m) = combinations()[combo];
            let (mut sealer, opener) = pair(c, m);
            let mut r = rng(seed);
            let mut wire = BytesMut::new();
            for (i, &n) in sizes.iter().enumerate() {
                common::seal(sealer.as_mut(), seq0.wrapping_add(i as u32), &payload(n, seed ^ i as u64), &mut wire, &mut r);
            }
            let mut d = Deframer::new(opener, PacketLimits::default());
            let mut inbound = BytesMut::new();
            let mut got = 0;
            for chunk in wire.chunks(piece) {
                inbound.extend_from_slice(chunk);
                while let Some(p) = d.next_packet(seq0.wrapping_add(got as u32), &mut inbound).unwrap() {
                    prop_assert_eq!(&p.payload[..], &payload(sizes[got], seed ^ got as u64)[..]);
                    got += 1;
                }
            }
            prop_assert_eq!(got, sizes.len());
            prop_assert!(inbound.is_empty());
        }
    }
}
