//! Memory stays bounded under hostile input, measured with whelk-test's counting global
//! allocator (per thread: the in-memory pair runs on the test's thread). Figures are
//! printed; the bounds are documented in docs/security.md.
//!
//! - P01 / K17: a 4 GiB packet length right after the banner; a PING flood before
//!   authentication (never answered);
//! - C08: 20 000 CHANNEL_OPEN (session and an unknown type) after authentication;
//! - global-request flood: 20 000 GLOBAL_REQUEST with want-reply;
//! - K18: 100 key re-exchanges started by the peer;
//! - R03: a zlib@openssh.com packet inflating to 4 MiB after authentication: cut off with
//!   COMPRESSION_ERROR, no allocation near the inflated size.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use common::*;
use whelk_test::alloc::{Counting, measure};
use whelk_test::hostile::{Enc, Hostile, Peer};
use whelk_test::pair::{Endpoint, Side};

#[global_allocator]
static ALLOC: Counting = Counting;

const MIB: usize = 1 << 20;

fn installed() {
    assert!(
        whelk_test::alloc::installed(),
        "counting allocator not installed"
    );
}

/// Sends `batches` × `per_batch` payloads from the hostile client, driving the pair after
/// each batch and forgetting what the hostile peer logged (its own memory is not the
/// victim's).
fn flood(
    p: &mut whelk_test::pair::Pair<Peer>,
    batches: usize,
    mut make: impl FnMut(usize) -> Bytes,
    per_batch: usize,
) {
    for b in 0..batches {
        {
            let h = p.client.hostile().unwrap();
            for i in 0..per_batch {
                h.send(make(b * per_batch + i));
            }
        }
        let _ = p.drive_quiet(100_000);
        let h = p.client.hostile().unwrap();
        h.received().lock().unwrap().clear();
        h.sent().lock().unwrap().clear();
    }
}

#[test]
fn p01_huge_length_after_banner_allocates_nothing_big() {
    installed();
    let ((), stats) = measure(|| {
        let now = Instant::now();
        let mut h = Hostile::client(hostile_transport(false), 1, now);
        h.raw_only();
        h.send_raw(b"SSH-2.0-hostile\r\n\xff\xff\xff\xff\x00");
        let log: Log = Log::default();
        let mut p = pair(
            Peer::Hostile(Box::new(h)),
            victim_server(server_config(), 2, now),
            now,
            3,
        );
        p.set_responder(Side::Server, victim_responder(log.clone()));
        let _ = p.drive_quiet(1000);
        assert!(
            log.borrow().iter().any(|e| e == "disc:PROTOCOL_ERROR:us"),
            "{:?}",
            log.borrow()
        );
    });
    println!("P01: {stats:?}");
    assert!(stats.largest < 300 * 1024, "{stats:?}");
    assert!(stats.peak < 2 * MIB, "{stats:?}");
}

#[test]
fn k17_ping_flood_before_authentication_is_not_answered_and_bounded() {
    installed();
    let now = Instant::now();
    let mut h = Hostile::client(hostile_transport(true), 5, now);
    h.conn.request_service("ssh-userauth").unwrap();
    let mut p = pair(
        Peer::Hostile(Box::new(h)),
        victim_server(server_config(), 6, now),
        now,
        7,
    );
    let log: Log = Log::default();
    p.set_responder(Side::Server, victim_responder(log.clone()));
    let _ = p.drive_quiet(10_000);
    let ping = Enc::msg(192).string(b"ping").done();
    let ((), stats) = measure(|| flood(&mut p, 100, |_| ping.clone(), 200));
    println!("K17 20000 PINGs before auth: {stats:?}");
    let h = p.client.hostile_ref().unwrap();
    assert!(h.peer_disconnect().is_none());
    assert!(
        !h.received_numbers().contains(&193),
        "PONG before authentication"
    );
    assert!(
        stats.peak < 4 * MIB && stats.retained < 256 * 1024,
        "{stats:?}"
    );
}

#[test]
fn c08_channel_open_flood_stays_bounded() {
    installed();
    let (mut p, log) = authenticated_pair(server_config(), hostile_transport(true), 10);
    let replies = std::rc::Rc::new(std::cell::RefCell::new([0usize; 3]));
    let ((), stats) = measure(|| {
        for b in 0..100 {
            {
                let h = p.client.hostile().unwrap();
                for i in 0..200u32 {
                    let n = b * 200 + i;
                    let kind: &[u8] = if n % 2 == 0 {
                        b"session"
                    } else {
                        b"bogus-type"
                    };
                    h.send(
                        Enc::msg(90)
                            .string(kind)
                            .u32(n)
                            .u32(0x20_0000)
                            .u32(0x8000)
                            .done(),
                    );
                }
            }
            let _ = p.drive_quiet(100_000);
            let h = p.client.hostile().unwrap();
            let rec = h.received();
            let mut rec = rec.lock().unwrap();
            for (_, pl) in rec.iter() {
                match pl.first() {
                    Some(91) => replies.borrow_mut()[0] += 1,
                    Some(92) => replies.borrow_mut()[1] += 1,
                    _ => replies.borrow_mut()[2] += 1,
                }
            }
            rec.clear();
            h.sent().lock().unwrap().clear();
        }
    });
    let r = *replies.borrow();
    println!(
        "C08 20000 opens: confirmations {}, failures {}, other {}; {stats:?}",
        r[0], r[1], r[2]
    );
    assert!(r[0] <= 1024, "more channels than the cap: {r:?}");
    assert!(r[0] + r[1] >= 19_000, "opens unanswered: {r:?}");
    assert!(p.client.hostile_ref().unwrap().peer_disconnect().is_none() || r[1] > 0);
    assert!(stats.peak < 16 * MIB, "{stats:?}");
    let _ = log;
}

#[test]
fn global_request_flood_stays_bounded() {
    installed();
    let (mut p, _log) = authenticated_pair(server_config(), hostile_transport(true), 20);
    let req = Enc::msg(80).string(b"flood@example.com").bool(true).done();
    let mut failures = 0usize;
    let ((), stats) = measure(|| {
        for _ in 0..100 {
            {
                let h = p.client.hostile().unwrap();
                for _ in 0..200 {
                    h.send(req.clone());
                }
            }
            let _ = p.drive_quiet(100_000);
            let h = p.client.hostile().unwrap();
            let rec = h.received();
            let mut rec = rec.lock().unwrap();
            failures += rec.iter().filter(|(_, pl)| pl.first() == Some(&82)).count();
            rec.clear();
            h.sent().lock().unwrap().clear();
        }
    });
    println!("global requests: 20000 sent, {failures} REQUEST_FAILURE; {stats:?}");
    assert_eq!(failures, 20_000);
    assert!(
        stats.peak < 4 * MIB && stats.retained < 512 * 1024,
        "{stats:?}"
    );
}

#[test]
fn k18_many_rekeys_by_the_peer_keep_memory_flat() {
    installed();
    // Back to back, as a storm: with the rate limit off (see the next test for it).
    let mut config = server_config();
    config.transport.limits.peer_rekeys = None;
    let (mut p, _log) = authenticated_pair(config, hostile_transport(true), 30);
    let mut done = 0;
    let ((), stats) = measure(|| {
        for _ in 0..100 {
            let h = p.client.hostile().unwrap();
            let before = h.conn.kex_count();
            assert!(h.conn.rekey());
            p.drive_bounded(10_000, |p| {
                p.client.hostile_ref().unwrap().conn.kex_count() > before
            })
            .unwrap();
            done += 1;
            let h = p.client.hostile().unwrap();
            h.received().lock().unwrap().clear();
            h.sent().lock().unwrap().clear();
        }
    });
    println!("K18 {done} re-exchanges: {stats:?}");
    assert!(p.server.whelk_ref().unwrap().error().is_none());
    assert!(stats.retained < 256 * 1024, "{stats:?}");
}

/// Starts one key re-exchange from the hostile client and drives it; whether it completed.
fn peer_rekey(p: &mut whelk_test::pair::Pair<Peer>) -> bool {
    let h = p.client.hostile().unwrap();
    let before = h.conn.kex_count();
    assert!(h.conn.rekey());
    let done = p
        .drive_bounded(10_000, |p| {
            p.client.hostile_ref().unwrap().conn.kex_count() > before
                || p.server.whelk_ref().unwrap().error().is_some()
        })
        .is_ok();
    let h = p.client.hostile().unwrap();
    h.received().lock().unwrap().clear();
    h.sent().lock().unwrap().clear();
    done && p.server.whelk_ref().unwrap().error().is_none()
}

#[test]
fn k18_a_rekey_storm_is_cut_off_after_the_burst() {
    // Defaults: 10 early re-exchanges in a row, then one a second.
    let (mut p, log) = authenticated_pair(server_config(), hostile_transport(true), 31);
    for i in 0..10 {
        assert!(peer_rekey(&mut p), "early re-exchange {i} refused");
    }
    // One a second is fine, indefinitely (the clock is the pair's).
    for i in 0..15 {
        p.now += std::time::Duration::from_millis(1000);
        assert!(
            peer_rekey(&mut p),
            "re-exchange {i} a second after the last refused"
        );
    }
    // Half a second apart: each spends an allowance, one comes back every other time.
    let mut done = 0;
    while done < 100 {
        p.now += std::time::Duration::from_millis(500);
        if !peer_rekey(&mut p) {
            break;
        }
        done += 1;
    }
    assert!(
        (15..25).contains(&done),
        "{done} re-exchanges at 2 a second"
    );
    let err = p.server.whelk_ref().unwrap().error().unwrap().to_string();
    assert!(err.contains("too often"), "{err}");
    let _ = p.drive_quiet(1000);
    let l = log.borrow();
    assert!(l.iter().any(|e| e == "disc:PROTOCOL_ERROR:us"), "{l:?}");
}

#[test]
fn k18_rekeys_after_data_are_never_limited() {
    // 64-bit block ciphers rekey every 512 KiB, which at speed is many times a second.
    let mut t = hostile_transport(true);
    t.algorithms.ciphers = vec!["3des-cbc".into()];
    t.algorithms.macs = vec!["hmac-sha2-256".into()];
    let mut config = server_config();
    config.transport.algorithms.ciphers = vec!["3des-cbc".into()];
    config.transport.algorithms.macs = vec!["hmac-sha2-256".into()];
    let (mut p, _log) = authenticated_pair(config, t, 32);
    for i in 0..30 {
        // About 300 KiB each way: more than half of 3DES's 512 KiB rekey limit.
        for _ in 0..10 {
            p.client
                .hostile()
                .unwrap()
                .send(Enc::msg(2).string(&[7; 30_000]).done());
        }
        let _ = p.drive_quiet(1000);
        assert!(peer_rekey(&mut p), "re-exchange {i} after data refused");
    }
}

#[test]
fn r03_zlib_bomb_after_auth_is_cut_off_with_compression_error() {
    installed();
    let mut t = hostile_transport(true);
    t.algorithms.compression = vec!["zlib@openssh.com".into()];
    let (mut p, log) = authenticated_pair(server_config(), t, 40);
    let neg = p
        .server
        .whelk_ref()
        .unwrap()
        .transport()
        .negotiated()
        .unwrap()
        .clone();
    assert_eq!(neg.compression_client_to_server, "zlib@openssh.com");
    // A legitimate compressed message first: the stream works.
    p.client
        .hostile()
        .unwrap()
        .send(Enc::msg(2).string(&[7; 100_000]).done());
    let _ = p.drive_quiet(1000);
    assert!(p.server.whelk_ref().unwrap().error().is_none());
    // The bomb: one packet of about 4 KiB that inflates to 4 MiB.
    let mut bomb = BytesMut::from(&[2u8, 0x00, 0x40, 0x00, 0x00][..]);
    bomb.resize(5 + 4 * MIB, 0);
    p.client.hostile().unwrap().send(bomb.freeze());
    let mut wire = BytesMut::new();
    let now = p.now;
    let _ = p.client.poll_transmit(now, &mut wire);
    println!("bomb: {} bytes on the wire", wire.len());
    assert!(wire.len() < 64 * 1024);
    let (r, stats) = measure(|| p.server.handle_input(now, &wire));
    println!("R03 victim while inflating: {stats:?}; result {r:?}");
    assert!(r.is_err() || p.server.whelk_ref().unwrap().error().is_some());
    let _ = p.drive_quiet(1000);
    let l = log.borrow();
    assert!(l.iter().any(|e| e == "disc:COMPRESSION_ERROR:us"), "{l:?}");
    assert!(
        stats.peak < 2 * MIB && stats.largest < 600 * 1024,
        "{stats:?}"
    );
}
