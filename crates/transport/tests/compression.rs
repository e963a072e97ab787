//! Compression negotiation (RFC 4253 §6.2, catalog R03) between two transports in the
//! `Pair` harness: `zlib@openssh.com` starts only after USERAUTH_SUCCESS (the server after
//! sending it, the client after receiving it), plain `zlib` with the keys, `none` when
//! either side does not offer a method, a fresh stream after each NEWKEYS, and an inflated
//! payload over the packet limit is COMPRESSION_ERROR.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use bytes::Bytes;
use common::*;
use whelk_transport::{ClientConfig, DisconnectReason, Event, ServerConfig};

fn configs(client: &[&str], server: &[&str]) -> (ClientConfig, ServerConfig) {
    let mut c = ClientConfig::default();
    c.config.algorithms.compression = client.iter().map(|s| (*s).to_owned()).collect();
    let mut s = ServerConfig::new(vec![ed25519()]);
    s.config.algorithms.compression = server.iter().map(|s| (*s).to_owned()).collect();
    (c, s)
}

fn payloads(events: &[Event]) -> Vec<Bytes> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Payload(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

/// Handshake, service, USERAUTH_SUCCESS from the server, then payloads both ways (and
/// through a re-exchange); returns the wire byte counts after authentication (to the server,
/// to the client).
fn exchange(client: &[&str], server: &[&str], seed: u64) -> (String, (u64, u64)) {
    let (c, s) = configs(client, server);
    let mut p = pair_with(c, s, seed);
    p.client.0.request_service("ssh-userauth").unwrap();
    p.drive_bounded(100_000, |p| {
        p.client_events
            .iter()
            .any(|e| matches!(e, Event::ServiceAccepted(_)))
    })
    .unwrap();
    let negotiated = p
        .client
        .0
        .negotiated()
        .unwrap()
        .compression_client_to_server
        .clone();
    // Before USERAUTH_SUCCESS nothing is compressed with zlib@openssh.com: no
    // unauthenticated peer reaches the inflater.
    let before = p.delivered().0;
    let mut early = vec![94u8];
    early.resize(100_000, 0);
    p.client.0.send_payload(Bytes::from(early)).unwrap();
    p.drive_quiet(100_000).unwrap();
    let early_bytes = p.delivered().0 - before;
    if negotiated == "zlib@openssh.com" || negotiated == "none" {
        assert!(early_bytes >= 100_000, "{negotiated}: {early_bytes}");
    } else {
        assert!(early_bytes < 10_000, "{negotiated}: {early_bytes}");
    }
    // As OpenSSH, both directions compress from the packet after USERAUTH_SUCCESS: the
    // client sends nothing between its request and the answer.
    p.server.0.send_payload(Bytes::from_static(&[52])).unwrap();
    p.drive_quiet(100_000).unwrap();
    authenticate(&mut p);
    let start = p.delivered();
    let big = Bytes::from(vec![0x61u8; 200_000]);
    for round in 0..3u8 {
        let mut msg = vec![94u8, round];
        msg.extend_from_slice(&big);
        let msg = Bytes::from(msg);
        p.client.0.send_payload(msg.clone()).unwrap();
        p.server.0.send_payload(msg.clone()).unwrap();
        p.drive_quiet(100_000).unwrap();
        assert!(payloads(&p.server_events).contains(&msg), "round {round}");
        assert!(payloads(&p.client_events).contains(&msg), "round {round}");
        let before = p.client.0.kex_count();
        assert!(p.client.0.rekey());
        p.drive_bounded(100_000, |p| p.client.0.kex_count() > before)
            .unwrap();
    }
    assert!(p.client.0.error().is_none() && p.server.0.error().is_none());
    let end = p.delivered();
    (negotiated, (end.0 - start.0, end.1 - start.1))
}

#[test]
fn delayed_zlib_negotiated_and_used_after_userauth_success() {
    let (n, (up, down)) = exchange(
        &["zlib@openssh.com", "none"],
        &["none", "zlib@openssh.com"],
        1,
    );
    assert_eq!(n, "zlib@openssh.com");
    // 3 × 200 KB each way went through compressed.
    assert!(up < 100_000 && down < 100_000, "{up} {down}");
}

#[test]
fn plain_zlib_from_the_first_newkeys() {
    let (n, (up, down)) = exchange(&["zlib"], &["zlib", "none"], 2);
    assert_eq!(n, "zlib");
    assert!(up < 100_000 && down < 100_000, "{up} {down}");
}

#[test]
fn none_unless_both_offer_it() {
    let (n, (up, down)) = exchange(&["none"], &["none", "zlib@openssh.com"], 3);
    assert_eq!(n, "none");
    assert!(up > 600_000 && down > 600_000, "{up} {down}");
}

#[test]
fn inflating_past_the_packet_limit_is_compression_error() {
    let (c, s) = configs(&["zlib"], &["zlib"]);
    let mut p = pair_with(c, s, 4);
    handshake(&mut p);
    // 300 KB of zeros compress to a few hundred bytes; the server inflates past 256 KiB.
    let mut bomb = vec![2u8];
    bomb.resize(300_000, 0);
    p.client.0.send_raw_for_tests(Bytes::from(bomb), false);
    p.drive_quiet(100_000).unwrap();
    assert_eq!(
        disconnect_reason(&p.server_events),
        Some(DisconnectReason::COMPRESSION_ERROR)
    );
}
