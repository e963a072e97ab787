//! Pair fault injection against whelk's facade client and server: a whole login and
//! command delivered one byte at a time, virtual time jumping hours (rekey by time, login
//! grace), and livelock detection by bounded driving.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use whelk_test::pair::{Delivery, DriveError, Side};

fn facade_pair(
    seed: u64,
    delivery: Delivery,
) -> (whelk_test::pair::Pair<whelk_test::hostile::Peer>, Log) {
    let now = Instant::now();
    let mut cc = client_config();
    cc.auth.methods = vec![whelk::Method::Password];
    let log: Log = Log::default();
    let mut p = pair(
        victim_client(cc, seed, now),
        victim_server(server_config(), seed + 1, now),
        now,
        seed + 2,
    )
    .with_delivery(delivery);
    p.set_responder(Side::Client, victim_responder(log.clone()));
    p.set_responder(Side::Server, victim_responder(log.clone()));
    (p, log)
}

fn authenticated(log: &Log) -> bool {
    log.borrow()
        .iter()
        .filter(|e| *e == "app:Authenticated")
        .count()
        == 2
}

#[test]
fn login_one_byte_at_a_time() {
    let (mut p, log) = facade_pair(1, Delivery::Fixed(1));
    let steps = p.drive_bounded(2_000_000, |_| authenticated(&log)).unwrap();
    println!(
        "login one byte at a time: {steps} steps, delivered {:?}",
        p.delivered()
    );
    assert!(p.client_error.is_none() && p.server_error.is_none());
}

#[test]
fn login_random_splits_with_many_seeds() {
    for seed in 0..20 {
        let (mut p, log) = facade_pair(100 + seed, Delivery::Random { max: 7 });
        p.drive_bounded(500_000, |_| authenticated(&log)).unwrap();
    }
}

#[test]
fn virtual_time_jumps_hours_rekey_by_time() {
    let (mut p, log) = facade_pair(2, Delivery::Whole);
    p.drive_bounded(10_000, |_| authenticated(&log)).unwrap();
    let before = p.client.whelk_ref().unwrap().transport().kex_count();
    let fired = p.advance(Duration::from_secs(5 * 3600), 10_000).unwrap();
    let after = p.client.whelk_ref().unwrap().transport().kex_count();
    println!("5 h of virtual time: {fired} timers, kex count {before} -> {after}");
    assert!(after >= before + 4, "hourly rekey: {before} -> {after}");
    assert!(p.client.whelk_ref().unwrap().error().is_none());
    assert!(p.server.whelk_ref().unwrap().error().is_none());
    assert!(!log.borrow().iter().any(|e| e.starts_with("disc:")));
}

#[test]
fn virtual_time_login_grace_expires_before_authentication() {
    let now = Instant::now();
    let log: Log = Log::default();
    // A client that never answers the host key check: the server's login grace runs out.
    let mut p = pair(
        victim_client(client_config(), 3, now),
        victim_server(server_config(), 4, now),
        now,
        5,
    );
    p.set_responder(Side::Server, victim_responder(log.clone()));
    p.set_responder(Side::Client, Box::new(|_, _| None));
    let _ = p.advance(Duration::from_secs(3 * 3600), 10_000);
    let l = log.borrow();
    assert!(
        l.iter()
            .any(|e| e.starts_with("disc:") && e.ends_with(":us")),
        "{l:?}"
    );
    assert!(p.elapsed() >= Duration::from_secs(60), "{:?}", p.elapsed());
}

#[test]
fn bounded_driving_reports_a_livelock() {
    let (mut p, log) = facade_pair(6, Delivery::Whole);
    p.drive_bounded(10_000, |_| authenticated(&log)).unwrap();
    // Keepalive-free connection with hourly rekey timers: a goal that never holds ends
    // with an error, never a hang.
    let r = p.drive_bounded(50, |_| false);
    assert!(
        matches!(
            r,
            Err(DriveError::Livelock { .. } | DriveError::Stalled { .. })
        ),
        "{r:?}"
    );
}

#[test]
fn zlib_openssh_survives_rekeys_in_both_directions() {
    // A hostile client (a plain transport) with compression, whelk's server offering it.
    let mut t = hostile_transport(true);
    t.algorithms.compression = vec!["zlib@openssh.com".into()];
    let (mut p, log) = authenticated_pair(server_config(), t, 50);
    let req = whelk_test::hostile::Enc::msg(80)
        .string(b"probe@example.com")
        .bool(true)
        .done();
    for round in 0..4 {
        let h = p.client.hostile().unwrap();
        h.send(
            whelk_test::hostile::Enc::msg(2)
                .string(&[round; 50_000])
                .done(),
        );
        h.send(req.clone());
        let _ = p.drive_quiet(10_000);
        let h = p.client.hostile().unwrap();
        let failures = h.received_numbers().iter().filter(|n| **n == 82).count();
        assert_eq!(
            failures,
            usize::from(round) + 1,
            "round {round}: {:?}",
            log.borrow()
        );
        let before = h.conn.kex_count();
        assert!(h.conn.rekey());
        p.drive_bounded(10_000, |p| {
            p.client.hostile_ref().unwrap().conn.kex_count() > before
        })
        .unwrap();
    }
    let n = p
        .server
        .whelk_ref()
        .unwrap()
        .transport()
        .negotiated()
        .unwrap()
        .clone();
    assert_eq!(n.compression_server_to_client, "zlib@openssh.com");
    assert!(p.server.whelk_ref().unwrap().error().is_none());
}
