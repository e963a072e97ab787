//! Client and server transports against each other in the deterministic `Pair` harness.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use whelk_test::pair::{Delivery, Side};
use whelk_transport::{
    ClientConfig, DisconnectReason, Event, HostKeyDecision, SendError, ServerConfig,
};
use whelk_wire::frame::{Alignment, encode_packet};
use whelk_wire::msg::{Ignore, Message};

fn service_and_payloads(p: &mut T2) {
    p.client.0.request_service("ssh-userauth").unwrap();
    p.drive_bounded(10_000, |p| {
        p.client_events
            .iter()
            .any(|e| matches!(e, Event::ServiceAccepted(s) if s == "ssh-userauth"))
    })
    .unwrap();
    assert!(
        p.server_events
            .iter()
            .any(|e| matches!(e, Event::ServiceRequested(s) if s == "ssh-userauth"))
    );
    p.client
        .0
        .send_payload(Bytes::from_static(b"\x32hello"))
        .unwrap();
    p.server
        .0
        .send_payload(Bytes::from_static(b"\x33world"))
        .unwrap();
    p.drive_bounded(10_000, |p| {
        p.server_events
            .iter()
            .any(|e| matches!(e, Event::Payload(b) if &b[..] == b"\x32hello"))
            && p.client_events
                .iter()
                .any(|e| matches!(e, Event::Payload(b) if &b[..] == b"\x33world"))
    })
    .unwrap();
}

type T2 = whelk_test::pair::Pair<T>;

#[test]
fn handshake_service_and_payloads() {
    let mut p = pair(1);
    handshake(&mut p);
    assert!(p.client.0.is_strict_kex() && p.server.0.is_strict_kex());
    assert_eq!(p.client.0.session_id(), p.server.0.session_id());
    let n = p.client.0.negotiated().unwrap();
    assert_eq!(n.kex.name, "mlkem768x25519-sha256");
    assert_eq!(n.host_key_algorithm, "ssh-ed25519");
    assert_eq!(kex_done_count(&p.client_events), 1);
    assert_eq!(kex_done_count(&p.server_events), 1);
    // ext-info: the server announced its extensions, the client read them.
    let ext = p.client.0.peer_extensions().unwrap();
    assert!(ext.get("server-sig-algs").is_some());
    assert_eq!(
        &ext.get("publickey-hostbound@openssh.com").unwrap()[..],
        b"0"
    );
    assert!(p.client.0.peer_supports_ping());
    service_and_payloads(&mut p);
}

#[test]
fn byte_at_a_time_and_random_splits() {
    for (seed, delivery) in [
        (2, Delivery::Fixed(1)),
        (3, Delivery::Fixed(7)),
        (4, Delivery::Random { max: 1 }),
        (5, Delivery::Random { max: 3 }),
        (6, Delivery::Random { max: 100 }),
        (7, Delivery::Random { max: 5000 }),
    ] {
        let mut c = ClientConfig::default();
        c.config.algorithms.kex = vec!["curve25519-sha256".into()];
        let mut p = pair_with(c, ServerConfig::new(vec![ed25519()]), seed).with_delivery(delivery);
        p.drive_bounded(2_000_000, established)
            .unwrap_or_else(|e| panic!("{delivery:?}: {e}"));
        service_and_payloads(&mut p);
    }
}

#[test]
fn deferred_host_key_decision() {
    let mut p = pair(8);
    let held = std::rc::Rc::new(std::cell::RefCell::new(None));
    let h = held.clone();
    p.set_responder(
        Side::Client,
        Box::new(move |_, ev| match ev {
            Event::HostKey(check) => {
                *h.borrow_mut() = Some(check);
                None
            }
            other => Some(other),
        }),
    );
    // Nothing moves on while the decision is pending (an asynchronous known_hosts check).
    p.drive_bounded(10_000, |_| held.borrow().is_some())
        .unwrap();
    assert!(!p.client.0.is_established());
    let check = held.borrow_mut().take().unwrap();
    assert_eq!(check.algorithm, "ssh-ed25519");
    assert_eq!(&check.host_key[..], ed25519().public_key().blob());
    p.client.0.respond(check, HostKeyDecision::Accept).unwrap();
    handshake(&mut p);
}

/// An unanswered host key decision ends with the key exchange timer.
#[test]
fn unanswered_host_key_decision_times_out() {
    let mut p = pair(10);
    let held = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let h = held.clone();
    p.set_responder(
        Side::Client,
        Box::new(move |_, ev| {
            h.borrow_mut().push(ev);
            None
        }),
    );
    p.drive_bounded(10_000, |p| p.client.0.is_closed()).unwrap();
    assert!(matches!(
        p.client.0.error(),
        Some(whelk_transport::Error::KexTimeout)
    ));
    assert_eq!(p.elapsed(), Duration::from_secs(60));
}

#[test]
fn rejected_host_key_disconnects() {
    let mut p = pair(9);
    p.set_responder(
        Side::Client,
        Box::new(|c: &mut T, ev| match ev {
            Event::HostKey(check) => {
                let _ = c.0.respond(check, HostKeyDecision::Reject);
                None
            }
            other => Some(other),
        }),
    );
    p.drive_bounded(10_000, |p| p.server.0.is_closed()).unwrap();
    assert_eq!(
        disconnect_reason(&p.server_events),
        Some(DisconnectReason::HOST_KEY_NOT_VERIFIABLE)
    );
    assert_eq!(
        disconnect_reason(&p.client_events),
        Some(DisconnectReason::HOST_KEY_NOT_VERIFIABLE)
    );
}

/// Every kex method with every host key algorithm, ciphers and MACs rotating; then every
/// cipher with every MAC (AEAD ciphers once) under curve25519 + ed25519.
#[test]
fn every_kex_with_every_host_key() {
    let ciphers: Vec<&str> = whelk_cipher::registry::CIPHERS
        .iter()
        .map(|c| c.name)
        .collect();
    let macs: Vec<&str> = whelk_cipher::registry::MACS
        .iter()
        .map(|m| m.name)
        .filter(|m| *m != "none")
        .collect();
    let host_algs = [
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "rsa-sha2-512",
        "rsa-sha2-256",
    ];
    let mut i = 0usize;
    for method in whelk_kex::METHODS {
        for host in host_algs {
            // The big finite-field groups are slow: one host key each.
            let slow = method.name.contains("group16")
                || method.name.contains("group18")
                || method.name.contains("exchange");
            if slow && host != host_algs[i % host_algs.len()] {
                continue;
            }
            let cipher = ciphers[i % ciphers.len()];
            let mac = macs[i % macs.len()];
            i += 1;
            run_combo(method.name, host, cipher, mac, u64::try_from(i).unwrap());
        }
    }
}

#[test]
fn every_cipher_with_every_mac() {
    let macs: Vec<&str> = whelk_cipher::registry::MACS
        .iter()
        .map(|m| m.name)
        .collect();
    let mut i = 100;
    for c in whelk_cipher::registry::CIPHERS {
        let list: Vec<&str> = if c.is_aead() {
            vec![macs[0]]
        } else {
            macs.clone()
        };
        for mac in list {
            i += 1;
            run_combo("curve25519-sha256", "ssh-ed25519", c.name, mac, i);
        }
    }
}

/// Key derivation depends on the kex hash length against the key lengths (RFC 4253 §7.2
/// extends short hashes): every cipher x MAC under one method of each hash (SHA-1, SHA-256,
/// SHA-384, SHA-512).
#[test]
fn every_cipher_and_mac_with_each_kex_hash() {
    let macs: Vec<&str> = whelk_cipher::registry::MACS
        .iter()
        .map(|m| m.name)
        .collect();
    let mut i = 500;
    for kex in [
        "diffie-hellman-group14-sha1",
        "ecdh-sha2-nistp256",
        "ecdh-sha2-nistp384",
        "sntrup761x25519-sha512",
    ] {
        for c in whelk_cipher::registry::CIPHERS {
            let list: Vec<&str> = if c.is_aead() {
                vec![macs[0]]
            } else {
                macs.clone()
            };
            for mac in list {
                i += 1;
                run_combo_quiet(kex, "ssh-ed25519", c.name, mac, i);
            }
        }
    }
}

fn run_combo_quiet(kex: &str, host: &str, cipher: &str, mac: &str, seed: u64) {
    let mut c = ClientConfig::default();
    c.config.algorithms.kex = vec![kex.into()];
    c.config.algorithms.host_key = vec![host.into()];
    c.config.algorithms.ciphers = vec![cipher.into()];
    c.config.algorithms.macs = vec![mac.into()];
    let mut s = ServerConfig::new(vec![ed25519()]);
    s.config.algorithms = c.config.algorithms.clone();
    let mut p = pair_with(c, s, seed);
    p.drive_bounded(100_000, established)
        .unwrap_or_else(|e| panic!("{kex} {host} {cipher} {mac}: {e} {p:?}"));
    service_and_payloads(&mut p);
}

fn run_combo(kex: &str, host: &str, cipher: &str, mac: &str, seed: u64) {
    let mut c = ClientConfig::default();
    c.config.algorithms.kex = vec![kex.into()];
    c.config.algorithms.host_key = vec![host.into()];
    c.config.algorithms.ciphers = vec![cipher.into()];
    c.config.algorithms.macs = vec![mac.into()];
    let mut s = ServerConfig::new(all_host_keys());
    s.config.algorithms = c.config.algorithms.clone();
    let mut p = pair_with(c, s, seed);
    p.drive_bounded(100_000, established)
        .unwrap_or_else(|e| panic!("{kex} {host} {cipher} {mac}: {e} {p:?}"));
    let n = p.client.0.negotiated().unwrap();
    assert_eq!(n.kex.name, kex);
    assert_eq!(n.host_key_algorithm, host);
    assert_eq!(n.cipher_client_to_server, cipher);
    service_and_payloads(&mut p);
    eprintln!("ok: {kex} {host} {cipher} {mac}");
}

fn plain_ignore() -> Vec<u8> {
    let mut out = bytes::BytesMut::new();
    let mut rng = chacha20::ChaCha20Rng::seed_from_u64(0);
    encode_packet(
        &mut out,
        &Message::Ignore(Ignore {
            data: Bytes::from_static(b"terrapin"),
        }),
        Alignment::PLAINTEXT,
        &mut rng,
    )
    .unwrap();
    out.to_vec()
}

use rand_core::SeedableRng;

/// Terrapin (CVE-2023-48795, catalog K02): an attacker inserts an IGNORE before the server's
/// NEWKEYS (to shift the client's receive sequence number and delete the first encrypted
/// packet, EXT_INFO). With strict KEX the client disconnects at once.
#[test]
fn terrapin_ignore_before_newkeys_is_fatal_with_strict_kex() {
    let mut p = pair(20);
    let ignore = plain_ignore();
    let mut batches = 0;
    p.set_tamper(Box::new(move |side, _offset, bytes| {
        if side == Side::Server {
            batches += 1;
            // Batch 1: identification + KEXINIT. Batch 2: KEX_ECDH_REPLY + NEWKEYS + EXT_INFO.
            if batches == 2 {
                let mut v = ignore.clone();
                v.extend_from_slice(bytes);
                *bytes = v;
            }
        }
    }));
    p.drive_bounded(10_000, |p| p.client.0.is_closed()).unwrap();
    assert!(!p.client.0.is_established());
    let err = p.client.0.error().unwrap().clone();
    assert!(
        matches!(err, whelk_transport::Error::StrictKex(_)),
        "{err:?}"
    );
    assert_eq!(
        disconnect_reason(&p.client_events),
        Some(DisconnectReason::PROTOCOL_ERROR)
    );
    // The server hears why.
    p.drive_bounded(10_000, |p| p.server.0.is_closed()).unwrap();
    assert!(p.server_events.iter().any(|e| matches!(
        e,
        Event::Disconnected { by_peer: true, reason, .. } if *reason == DisconnectReason::PROTOCOL_ERROR
    )));
}

/// Catalog K01: an IGNORE before the KEXINIT (right after the identification line).
#[test]
fn terrapin_ignore_before_kexinit_is_fatal_with_strict_kex() {
    let mut p = pair(21);
    let ignore = plain_ignore();
    p.set_tamper(Box::new(move |side, offset, bytes| {
        if side == Side::Server && offset == 0 {
            let nl = bytes.iter().position(|&b| b == b'\n').unwrap();
            let rest = bytes.split_off(nl + 1);
            bytes.extend_from_slice(&ignore);
            bytes.extend_from_slice(&rest);
        }
    }));
    p.drive_bounded(10_000, |p| p.client.0.is_closed()).unwrap();
    assert!(matches!(
        p.client.0.error(),
        Some(whelk_transport::Error::StrictKex(_))
    ));
}

/// Without strict KEX on either side the same injection is not caught during the exchange:
/// the shifted sequence number only shows as a MAC failure on the first encrypted packet
/// (here nothing deletes it). Strict KEX is what closes the Terrapin gap.
#[test]
fn without_strict_kex_the_injection_shifts_sequence_numbers() {
    let mut c = ClientConfig::default();
    c.config.strict_kex = false;
    c.config.algorithms.ciphers = vec!["aes128-ctr".into()];
    c.config.algorithms.macs = vec!["hmac-sha2-256-etm@openssh.com".into()];
    let mut s = ServerConfig::new(vec![ed25519()]);
    s.config.strict_kex = false;
    let mut p = pair_with(c, s, 22);
    let ignore = plain_ignore();
    let mut batches = 0;
    p.set_tamper(Box::new(move |side, _offset, bytes| {
        if side == Side::Server {
            batches += 1;
            if batches == 2 {
                let mut v = ignore.clone();
                v.extend_from_slice(bytes);
                *bytes = v;
            }
        }
    }));
    p.drive_bounded(10_000, |p| p.client.0.is_closed()).unwrap();
    assert_eq!(
        disconnect_reason(&p.client_events),
        Some(DisconnectReason::MAC_ERROR)
    );
}

#[test]
fn strict_kex_resets_sequence_numbers() {
    let mut p = pair(23);
    handshake(&mut p);
    p.drive_quiet(1000).unwrap();
    // After NEWKEYS the counters restarted at 0: the client has sent nothing since its
    // NEWKEYS, the server only EXT_INFO.
    assert_eq!(p.client.0.sequence_numbers(), (0, 1));
    assert_eq!(p.server.0.sequence_numbers(), (1, 0));
}

#[test]
fn rekey_on_demand_from_either_side() {
    let mut p = pair(30);
    handshake(&mut p);
    authenticate(&mut p);
    let sid = p.client.0.session_id().cloned();
    assert!(p.client.0.rekey());
    p.drive_bounded(10_000, |p| {
        p.client.0.kex_count() == 2 && p.server.0.kex_count() == 2
    })
    .unwrap();
    assert!(p.server.0.rekey());
    p.drive_bounded(10_000, |p| {
        p.client.0.kex_count() == 3 && p.server.0.kex_count() == 3
    })
    .unwrap();
    assert_eq!(p.client.0.session_id().cloned(), sid);
    assert_eq!(p.server.0.session_id().cloned(), sid);
    service_and_payloads(&mut p);
}

#[test]
fn rekey_after_time_limit() {
    let mut c = ClientConfig::default();
    c.config.limits.rekey_time = Some(Duration::from_secs(600));
    let mut s = ServerConfig::new(vec![ed25519()]);
    s.login_grace = None;
    s.config.limits.rekey_time = None;
    let mut p = pair_with(c, s, 31);
    handshake(&mut p);
    authenticate(&mut p);
    p.drive_bounded(100_000, |p| {
        p.client.0.kex_count() == 4 && p.server.0.kex_count() == 4
    })
    .unwrap();
    // Three re-exchanges took 30 minutes of virtual time, in a few milliseconds.
    assert!(p.elapsed() >= Duration::from_secs(1800));
    assert!(p.elapsed() < Duration::from_secs(1801));
}

/// 100 MiB of upper-layer payloads flow while byte-limit rekeys run; nothing is lost,
/// reordered or duplicated.
#[test]
fn rekey_while_100_mib_flows() {
    let mut c = ClientConfig::default();
    c.config.algorithms.kex = vec!["curve25519-sha256".into()];
    c.config.algorithms.ciphers = vec!["aes128-gcm@openssh.com".into()];
    c.config.limits.rekey_bytes = 8 << 20;
    let mut s = ServerConfig::new(vec![ed25519()]);
    s.config.limits.rekey_bytes = 8 << 20;
    let mut p = pair_with(c, s, 32);
    handshake(&mut p);
    authenticate(&mut p);
    p.client.0.request_service("ssh-userauth").unwrap();
    let total: usize = 100 << 20;
    let chunk = 32 * 1024;
    let mut sent = 0usize;
    let mut next = 0u32;
    let mut received = 0usize;
    let mut expected = 0u32;
    let mut blocked = 0usize;
    p.set_responder(Side::Server, Box::new(|_, ev| Some(ev)));
    let mut steps = 0;
    while received < total {
        steps += 1;
        assert!(steps < 1_000_000, "livelock");
        while sent < total {
            let mut body = vec![0x5e_u8];
            body.extend_from_slice(&next.to_be_bytes());
            body.resize(chunk, u8::try_from(next % 251).unwrap());
            match p.client.0.send_payload(Bytes::from(body)) {
                Ok(()) => {
                    sent += chunk;
                    next += 1;
                }
                Err(SendError::Blocked) => {
                    blocked += 1;
                    break;
                }
                Err(e) => panic!("{e}"),
            }
        }
        p.step();
        for ev in p.server_events.drain(..) {
            if let Event::Payload(b) = ev {
                assert_eq!(b.len(), chunk);
                assert_eq!(u32::from_be_bytes(b[1..5].try_into().unwrap()), expected);
                assert_eq!(b[chunk - 1], u8::try_from(expected % 251).unwrap());
                expected += 1;
                received += b.len();
            }
        }
        p.client_events.clear();
    }
    assert!(
        p.client.0.kex_count() >= 12,
        "only {} exchanges",
        p.client.0.kex_count()
    );
    assert!(blocked > 0, "the bounded queue never pushed back");
    eprintln!(
        "100 MiB in {steps} steps, {} key exchanges, {blocked} blocked sends",
        p.client.0.kex_count()
    );
}

#[test]
fn back_pressure_during_rekey_then_writable() {
    let mut p = pair(33);
    handshake(&mut p);
    authenticate(&mut p);
    p.client.0.request_service("ssh-userauth").unwrap();
    p.drive_bounded(10_000, |p| {
        p.client.0.can_send()
            && p.client_events
                .iter()
                .any(|e| matches!(e, Event::ServiceAccepted(_)))
    })
    .unwrap();
    p.client_events.clear();
    assert!(p.client.0.rekey());
    // While the exchange runs nothing upper-layer goes out: the bounded queue fills.
    let mut n = 0u8;
    loop {
        match p.client.0.send_payload(Bytes::from(vec![0x5e, n])) {
            Ok(()) => n += 1,
            Err(SendError::Blocked) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(n, 64);
    p.drive_bounded(10_000, |p| {
        p.client_events.iter().any(|e| matches!(e, Event::Writable))
    })
    .unwrap();
    p.drive_quiet(10_000).unwrap();
    assert_eq!(p.client.0.kex_count(), 2);
    // All 64 arrived, in order, after the exchange.
    let got: Vec<u8> = p
        .server_events
        .iter()
        .filter_map(|e| match e {
            Event::Payload(b) => Some(b[1]),
            _ => None,
        })
        .collect();
    assert_eq!(got, (0..64).collect::<Vec<u8>>());
}

#[test]
fn timers_kex_timeout_login_grace_keepalive() {
    use whelk_transport::Connection;
    let now = std::time::Instant::now();
    // Kex timeout: a server that never hears from a client.
    let mut s = Connection::server(ServerConfig::new(vec![ed25519()]), rng(1), now).unwrap();
    let at = s.poll_timeout().unwrap();
    assert_eq!(at - now, Duration::from_secs(60));
    s.handle_timeout(at);
    assert!(matches!(
        s.error(),
        Some(whelk_transport::Error::KexTimeout)
    ));
    // Login grace: established but never authenticated.
    let mut p = pair(34);
    handshake(&mut p);
    p.drive_bounded(10_000, |p| p.server.0.is_closed()).unwrap();
    p.step();
    assert!(p.elapsed() >= Duration::from_secs(120));
    assert_eq!(
        disconnect_reason(&p.server_events),
        Some(DisconnectReason::BY_APPLICATION)
    );
    // Keepalive: an IGNORE after each idle interval, so the client's send counter moves.
    let mut c = ClientConfig::default();
    c.config.limits.keepalive = Some(Duration::from_secs(30));
    let mut s = ServerConfig::new(vec![ed25519()]);
    s.login_grace = None;
    let mut p = pair_with(c, s, 35);
    handshake(&mut p);
    let before = p.client.0.sequence_numbers().0;
    let start = p.now;
    p.drive_bounded(10_000, |p| p.now - start >= Duration::from_secs(95))
        .unwrap();
    assert!(p.client.0.sequence_numbers().0 >= before + 3);
}

#[test]
fn disconnect_reason_and_text_reach_the_peer() {
    let mut p = pair(36);
    handshake(&mut p);
    p.client
        .0
        .disconnect(DisconnectReason::BY_APPLICATION, "bye now");
    p.drive_bounded(1_000, |p| p.server.0.is_closed()).unwrap();
    assert!(p.server_events.iter().any(|e| matches!(
        e,
        Event::Disconnected { reason, description, by_peer: true }
            if *reason == DisconnectReason::BY_APPLICATION && description == "bye now"
    )));
}

/// Catalog K17: the server does not answer PING before the client is authenticated.
#[test]
fn no_pong_before_authentication() {
    let mut p = pair(38);
    handshake(&mut p);
    assert!(p.client.0.ping(Bytes::from_static(b"early")));
    p.drive_quiet(1000).unwrap();
    assert!(!p.client_events.iter().any(|e| matches!(e, Event::Pong(_))));
    p.server.0.authenticated();
    assert!(p.client.0.ping(Bytes::from_static(b"late")));
    p.drive_quiet(1000).unwrap();
    assert!(
        p.client_events
            .iter()
            .any(|e| matches!(e, Event::Pong(d) if &d[..] == b"late"))
    );
}

#[test]
fn ignore_debug_ping_pong_unimplemented() {
    let mut p = pair(37);
    handshake(&mut p);
    p.server.0.authenticated();
    p.client.0.send_ignore(Bytes::from_static(b"pad"));
    p.client.0.send_debug(true, "hello debug");
    assert!(p.client.0.ping(Bytes::from_static(b"are you there")));
    p.drive_bounded(1_000, |p| {
        p.client_events
            .iter()
            .any(|e| matches!(e, Event::Pong(d) if &d[..] == b"are you there"))
    })
    .unwrap();
    assert!(p.server_events.iter().any(|e| matches!(
        e,
        Event::Debug { always_display: true, message } if message == "hello debug"
    )));
}

/// RFC 4344 §3.2: a 64-bit block cipher (3DES) rekeys after 2^16 blocks (512 KiB) even
/// with the default 1 GiB limit.
#[test]
fn three_des_rekeys_after_512_kib() {
    let mut c = ClientConfig::default();
    c.config.algorithms.kex = vec!["curve25519-sha256".into()];
    c.config.algorithms.ciphers = vec!["3des-cbc".into()];
    let mut s = ServerConfig::new(vec![ed25519()]);
    s.config.algorithms = c.config.algorithms.clone();
    let mut p = pair_with(c, s, 40);
    handshake(&mut p);
    authenticate(&mut p);
    p.client.0.request_service("ssh-userauth").unwrap();
    p.drive_quiet(1000).unwrap();
    let chunk = Bytes::from(vec![0x5e; 16 * 1024]);
    for _ in 0..48 {
        while p.client.0.send_payload(chunk.clone()).is_err() {
            p.step();
        }
        p.drive_quiet(1000).unwrap();
    }
    // 768 KiB sent: exactly one byte-limit rekey so far.
    assert_eq!(p.client.0.kex_count(), 2);
    p.step();
    assert!(p.client.0.bytes_since_kex().0 < 512 * 1024);
}

/// Keepalive with a peer that announced `ping@openssh.com`: PINGs answered by PONGs keep
/// the connection up for as long as the peer answers; once the peer goes silent (its bytes
/// are dropped in flight), the fourth interval without an answer ends the connection.
#[test]
fn keepalive_pings_detect_a_dead_peer() {
    let mut c = ClientConfig::default();
    c.config.limits.keepalive = Some(Duration::from_secs(30));
    c.config.limits.rekey_time = None;
    let mut s = ServerConfig::new(vec![ed25519()]);
    s.login_grace = None;
    s.config.limits.rekey_time = None;
    let mut p = pair_with(c, s, 41);
    handshake(&mut p);
    p.server.0.authenticated();
    let start = p.now;
    p.drive_bounded(100_000, |p| p.now - start >= Duration::from_secs(600))
        .unwrap();
    assert!(!p.client.0.is_closed());
    let pongs = p
        .client_events
        .iter()
        .filter(|e| matches!(e, Event::Pong(_)))
        .count();
    assert!(pongs >= 19, "{pongs} PONGs in 10 minutes");
    // The server goes silent.
    p.set_tamper(Box::new(|side, _, bytes| {
        if side == Side::Server {
            bytes.clear();
        }
    }));
    let silent = p.now;
    p.drive_bounded(100_000, |p| p.client.0.is_closed())
        .unwrap();
    assert!(matches!(
        p.client.0.error(),
        Some(whelk_transport::Error::KeepaliveTimeout)
    ));
    let after = p.now - silent;
    assert!(
        after >= Duration::from_secs(90) && after <= Duration::from_secs(150),
        "{after:?}"
    );
}

/// Catalog P09: a rekey comes after 2^31 packets, and under strict KEX (which resets the
/// numbers at each NEWKEYS) a wrap is fatal. (Without strict KEX the numbers wrap after the
/// first exchange, as RFC 4253 §6.4 says; not tested here.)
#[test]
fn sequence_numbers_near_the_wrap() {
    // 2^31 packets since the last exchange: the next send starts a rekey first.
    let mut p = pair(42);
    handshake(&mut p);
    authenticate(&mut p);
    p.client.0.request_service("ssh-userauth").unwrap();
    p.drive_quiet(1000).unwrap();
    let (seq, _) = p.client.0.sequence_numbers();
    p.client
        .0
        .set_send_counters_for_tests(seq, whelk_transport::REKEY_PACKETS);
    p.client
        .0
        .send_payload(Bytes::from_static(b"\x5ex"))
        .unwrap();
    p.drive_bounded(10_000, |p| p.client.0.kex_count() == 2)
        .unwrap();
    // Strict: a wrap is fatal (the peer would have to skip every rekey).
    let mut p = pair(43);
    handshake(&mut p);
    p.drive_quiet(1000).unwrap();
    p.client.0.set_send_counters_for_tests(u32::MAX, 0);
    p.client.0.send_ignore(Bytes::new());
    p.drive_quiet(1000).unwrap();
    assert!(matches!(
        p.client.0.error(),
        Some(whelk_transport::Error::SequenceWrap)
    ));
}

/// The whole Terrapin attack (catalog K02, RUB-NDS PoC logic) with chacha20-poly1305: the
/// attacker inserts an IGNORE before the server's NEWKEYS and deletes the server's first
/// encrypted packet (EXT_INFO). Without strict KEX the client's receive sequence number is
/// shifted back into step and the connection silently proceeds without EXT_INFO (the attack
/// works, as on every non-strict implementation); with strict KEX it fails.
#[test]
fn terrapin_full_attack_needs_strict_kex_to_fail() {
    for strict in [false, true] {
        let mut c = ClientConfig::default();
        c.config.strict_kex = strict;
        c.config.algorithms.ciphers = vec!["chacha20-poly1305@openssh.com".into()];
        let mut s = ServerConfig::new(vec![ed25519()]);
        s.config.strict_kex = strict;
        let mut p = pair_with(c, s, 45);
        let ignore = plain_ignore();
        let mut batches = 0;
        p.set_tamper(Box::new(move |side, _offset, bytes| {
            if side != Side::Server {
                return;
            }
            batches += 1;
            if batches != 2 {
                return;
            }
            // KEX_ECDH_REPLY and NEWKEYS are in clear; what follows is the encrypted EXT_INFO.
            let reply_len = 4 + u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
            let nk_len = 4
                + u32::from_be_bytes(bytes[reply_len..reply_len + 4].try_into().unwrap()) as usize;
            assert_eq!(bytes[reply_len + 5], 21, "NEWKEYS");
            let mut v = bytes[..reply_len].to_vec();
            v.extend_from_slice(&ignore);
            v.extend_from_slice(&bytes[reply_len..reply_len + nk_len]);
            // EXT_INFO (the rest of this batch) is dropped.
            *bytes = v;
        }));
        if strict {
            p.drive_bounded(10_000, |p| p.client.0.is_closed()).unwrap();
            assert!(matches!(
                p.client.0.error(),
                Some(whelk_transport::Error::StrictKex(_))
            ));
            continue;
        }
        handshake(&mut p);
        p.client.0.request_service("ssh-userauth").unwrap();
        p.drive_bounded(10_000, |p| {
            p.client_events
                .iter()
                .any(|e| matches!(e, Event::ServiceAccepted(_)))
        })
        .unwrap();
        // The attack worked: no EXT_INFO reached the client, and nothing noticed.
        assert!(p.client.0.peer_extensions().is_none());
        assert!(!p.client.0.is_closed());
    }
}

/// No re-exchange of our own before authentication (OpenSSH rejects one), by demand or by
/// limit; it happens right after.
#[test]
fn no_rekey_of_our_own_before_authentication() {
    let mut c = ClientConfig::default();
    c.config.limits.rekey_time = Some(Duration::from_secs(60));
    let mut s = ServerConfig::new(vec![ed25519()]);
    s.login_grace = None;
    let mut p = pair_with(c, s, 47);
    handshake(&mut p);
    assert!(!p.client.0.rekey());
    let start = p.now;
    p.drive_bounded(10_000, |p| p.now - start >= Duration::from_secs(120))
        .unwrap_or(0);
    assert_eq!(p.client.0.kex_count(), 1);
    p.client.0.authenticated();
    p.drive_bounded(10_000, |p| p.client.0.kex_count() == 2)
        .unwrap();
}

#[test]
fn eof_without_disconnect_is_connection_lost() {
    let mut p = pair(46);
    handshake(&mut p);
    p.client.0.handle_eof();
    assert!(matches!(
        p.client.0.error(),
        Some(whelk_transport::Error::ConnectionLost)
    ));
    assert_eq!(
        p.client.0.handle_input(p.now, b"x").unwrap_err(),
        whelk_transport::Error::ConnectionLost
    );
    let mut out = bytes::BytesMut::new();
    assert_eq!(p.client.0.poll_transmit(p.now, &mut out), 0);
    assert!(matches!(
        p.client.0.poll_event(),
        Some(Event::Disconnected { reason, by_peer: true, .. }) if reason == DisconnectReason::CONNECTION_LOST
    ));
}
