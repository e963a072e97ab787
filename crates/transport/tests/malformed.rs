//! Malformed and out-of-order input from a raw peer: each case gives its documented
//! disconnect reason (the `SSH_MSG_DISCONNECT` we send, and the latched error), never a panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use chacha20::ChaCha20Rng;
use common::*;
use rand_core::SeedableRng;
use whelk_test::pair::Side;
use whelk_transport::{ClientConfig, Connection, DisconnectReason, Error, Event, ServerConfig};
use whelk_wire::frame::{Alignment, encode_packet};
use whelk_wire::msg::{ExtInfo, KexEcdhInit, KexEcdhReply, KexInit, Message, NewKeys};
use whelk_wire::types::{NameList, Text};

const CLIENT_VERSION: &[u8] = b"SSH-2.0-raw_peer\r\n";

fn kexinit(kex: &str) -> Message {
    let nl = |v: &str| NameList::parse(v).unwrap();
    Message::KexInit(KexInit {
        cookie: [1; 16],
        kex_algorithms: nl(kex),
        server_host_key_algorithms: nl("ssh-ed25519"),
        encryption_client_to_server: nl("aes128-ctr"),
        encryption_server_to_client: nl("aes128-ctr"),
        mac_client_to_server: nl("hmac-sha2-256"),
        mac_server_to_client: nl("hmac-sha2-256"),
        compression_client_to_server: nl("none"),
        compression_server_to_client: nl("none"),
        languages_client_to_server: NameList::empty(),
        languages_server_to_client: NameList::empty(),
        first_kex_packet_follows: false,
    })
}

fn pkt(m: &Message) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_packet(
        &mut out,
        m,
        Alignment::PLAINTEXT,
        &mut ChaCha20Rng::seed_from_u64(3),
    )
    .unwrap();
    out.to_vec()
}

fn raw(payload: &[u8]) -> Vec<u8> {
    // A plaintext packet around an arbitrary payload (padded to 8).
    let mut pad = 8 - (5 + payload.len()) % 8;
    if pad < 4 {
        pad += 8;
    }
    let len = u32::try_from(1 + payload.len() + pad).unwrap();
    let mut v = len.to_be_bytes().to_vec();
    v.push(u8::try_from(pad).unwrap());
    v.extend_from_slice(payload);
    v.extend(std::iter::repeat_n(0, pad));
    v
}

/// Feeds `input` to a fresh endpoint (server unless `client`) byte by byte and returns the
/// latched error and the reason of the DISCONNECT it reported.
fn feed(client: bool, input: &[u8]) -> (Error, DisconnectReason) {
    let now = Instant::now();
    let mut conn = if client {
        Connection::client(ClientConfig::default(), rng(1), now).unwrap()
    } else {
        Connection::server(ServerConfig::new(vec![ed25519()]), rng(1), now).unwrap()
    };
    let mut out = BytesMut::new();
    let _ = conn.poll_transmit(now, &mut out);
    let mut error = None;
    for b in input {
        if let Err(e) = conn.handle_input(now, std::slice::from_ref(b)) {
            error = Some(e);
            break;
        }
    }
    let error = error.unwrap_or_else(|| panic!("no error for {}", hex::encode(input)));
    // Latched: the same error again.
    assert_eq!(conn.handle_input(now, b"x").unwrap_err(), error);
    let mut reason = None;
    while let Some(ev) = conn.poll_event() {
        if let Event::Disconnected {
            reason: r,
            by_peer: false,
            ..
        } = ev
        {
            reason = Some(r);
        }
    }
    let reason = reason.unwrap();
    assert_eq!(reason, DisconnectReason::from(&error));
    // The DISCONNECT goes out (plaintext before NEWKEYS): its reason code is on the wire.
    out.clear();
    let _ = conn.poll_transmit(now, &mut out);
    assert_eq!(out[5], 1, "a DISCONNECT packet");
    assert_eq!(u32::from_be_bytes(out[6..10].try_into().unwrap()), reason.0);
    (error, reason)
}

fn with_version(rest: &[&[u8]]) -> Vec<u8> {
    let mut v = CLIENT_VERSION.to_vec();
    for r in rest {
        v.extend_from_slice(r);
    }
    v
}

#[test]
fn wrong_version_lines() {
    let (e, r) = feed(false, b"SSH-1.5-old\r\n");
    assert_eq!(r, DisconnectReason::PROTOCOL_VERSION_NOT_SUPPORTED, "{e}");
    let (_, r) = feed(false, b"GET / HTTP/1.1\r\n");
    assert_eq!(r, DisconnectReason::PROTOCOL_ERROR);
    let (_, r) = feed(false, b"SSH-2.0-\x00bad\r\n");
    assert_eq!(r, DisconnectReason::PROTOCOL_ERROR);
    let mut long = b"SSH-2.0-".to_vec();
    long.extend(std::iter::repeat_n(b'a', 300));
    let (_, r) = feed(false, &long);
    assert_eq!(r, DisconnectReason::PROTOCOL_ERROR);
}

#[test]
fn too_many_lines_before_the_version() {
    let mut input = Vec::new();
    for _ in 0..1025 {
        input.extend_from_slice(b"hello\r\n");
    }
    let (e, r) = feed(true, &input);
    assert_eq!(r, DisconnectReason::PROTOCOL_ERROR, "{e}");
}

/// Catalog P01/P02: oversized and undersized packet lengths, before anything is buffered.
#[test]
fn packet_lengths() {
    for bad in [
        &[0xff, 0xff, 0xff, 0xff, 0x00][..],
        &[0x00, 0x04, 0x00, 0x01][..],
        &[0, 0, 0, 0][..],
        &[0, 0, 0, 4, 4, 0x15, 0, 0, 0][..],
    ] {
        let (e, r) = feed(false, &with_version(&[bad]));
        assert_eq!(r, DisconnectReason::PROTOCOL_ERROR, "{e}");
    }
}

/// Catalog P03: padding shorter than 4, padding past the packet, misaligned length.
#[test]
fn bad_padding() {
    let mut a = vec![0, 0, 0, 0x0c, 0x03, 0x15];
    a.extend([0; 10]);
    let mut b = vec![0, 0, 0, 0x0c, 0x0c, 0x15];
    b.extend([0; 10]);
    let mut c = vec![0, 0, 0, 0x0d, 0x0a, 0x15];
    c.extend([0; 11]);
    for bad in [a, b, c] {
        let (e, r) = feed(false, &with_version(&[&bad]));
        assert_eq!(r, DisconnectReason::PROTOCOL_ERROR, "{e}");
    }
}

/// Catalog P04: message number 0.
#[test]
fn message_type_zero() {
    let (_, r) = feed(false, &with_version(&[&raw(&[0])]));
    assert_eq!(r, DisconnectReason::PROTOCOL_ERROR);
}

/// Catalog K04.
#[test]
fn kexinit_twice() {
    let k = pkt(&kexinit("curve25519-sha256,kex-strict-c-v00@openssh.com"));
    let (e, r) = feed(false, &with_version(&[&k, &k]));
    assert_eq!(e, Error::KexInitTwice);
    assert_eq!(r, DisconnectReason::PROTOCOL_ERROR);
}

/// Catalog K05: NEWKEYS before the exchange; kex messages before KEXINIT; a reply sent by
/// a client.
#[test]
fn newkeys_before_kex_and_wrong_order() {
    let k = pkt(&kexinit("curve25519-sha256"));
    let nk = pkt(&Message::NewKeys(NewKeys {}));
    let (e, r) = feed(false, &with_version(&[&k, &nk]));
    assert_eq!(e, Error::UnexpectedNewKeys);
    assert_eq!(r, DisconnectReason::PROTOCOL_ERROR);
    let (_, r) = feed(false, &with_version(&[&nk]));
    assert_eq!(r, DisconnectReason::PROTOCOL_ERROR);
    let (_, r) = feed(false, &with_version(&[&raw(&[30, 0, 0, 0, 32]), &[0; 32]]));
    assert_eq!(r, DisconnectReason::PROTOCOL_ERROR);
    let reply = Message::KexEcdhReply(KexEcdhReply {
        host_key: Bytes::from_static(b"k"),
        server_public: Bytes::from(vec![9; 32]),
        signature: Bytes::from_static(b"s"),
    });
    let mut body = BytesMut::new();
    reply.encode(&mut body).unwrap();
    let (_, r) = feed(false, &with_version(&[&k, &raw(&body)]));
    assert_eq!(r, DisconnectReason::PROTOCOL_ERROR);
}

/// Catalog K06: no common kex method, or only an unknown one.
#[test]
fn unknown_kex_method() {
    let (e, r) = feed(false, &with_version(&[&pkt(&kexinit("foo@bar.example"))]));
    assert!(matches!(e, Error::Kex(_)), "{e}");
    assert_eq!(r, DisconnectReason::KEY_EXCHANGE_FAILED);
}

/// Catalog K09/K10: invalid X25519 public values (low order, wrong lengths) and a malformed
/// P-256 point.
#[test]
fn invalid_public_values() {
    let k = pkt(&kexinit("curve25519-sha256"));
    let zero = [0u8; 32];
    let one = {
        let mut v = [0u8; 32];
        v[0] = 1;
        v
    };
    let order8 =
        hex::decode("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800").unwrap();
    for q in [
        &zero[..],
        &one[..],
        &order8[..],
        &[5; 31][..],
        &[5; 33][..],
        &[][..],
    ] {
        let init = pkt(&Message::KexEcdhInit(KexEcdhInit {
            client_public: Bytes::copy_from_slice(q),
        }));
        let (e, r) = feed(false, &with_version(&[&k, &init]));
        assert_eq!(r, DisconnectReason::KEY_EXCHANGE_FAILED, "{e}");
    }
    let k = pkt(&kexinit("ecdh-sha2-nistp256"));
    let mut bad = vec![4u8];
    bad.extend([0x11; 64]);
    let init = pkt(&Message::KexEcdhInit(KexEcdhInit {
        client_public: Bytes::from(bad),
    }));
    let (_, r) = feed(false, &with_version(&[&k, &init]));
    assert_eq!(r, DisconnectReason::KEY_EXCHANGE_FAILED);
}

/// Catalog K01 against the server: IGNORE first, then a strict KEXINIT.
#[test]
fn strict_kex_first_packet_must_be_kexinit() {
    let ign = raw(&[2, 0, 0, 0, 0]);
    let k = pkt(&kexinit("curve25519-sha256,kex-strict-c-v00@openssh.com"));
    let (e, r) = feed(false, &with_version(&[&ign, &k]));
    assert!(matches!(e, Error::StrictKex(_)), "{e}");
    assert_eq!(r, DisconnectReason::PROTOCOL_ERROR);
    // After a strict KEXINIT, an IGNORE during the exchange.
    let (e, _) = feed(false, &with_version(&[&k, &ign]));
    assert!(matches!(e, Error::StrictKex(_)), "{e}");
}

/// Catalog E01: EXT_INFO in plaintext before NEWKEYS.
#[test]
fn ext_info_before_newkeys() {
    let k = pkt(&kexinit("curve25519-sha256"));
    let ext = pkt(&Message::ExtInfo(ExtInfo {
        extensions: vec![(
            Text(Bytes::from_static(b"server-sig-algs")),
            Bytes::from_static(b"chosen@attacker.com"),
        )],
    }));
    let (e, r) = feed(false, &with_version(&[&k, &ext]));
    assert_eq!(r, DisconnectReason::PROTOCOL_ERROR, "{e}");
}

/// Upper-layer and service messages during the first exchange.
#[test]
fn non_kex_messages_during_initial_kex() {
    let k = pkt(&kexinit("curve25519-sha256"));
    for payload in [
        &[5, 0, 0, 0, 0][..],
        &[50][..],
        &[94, 0, 0, 0, 0, 0, 0, 0, 0][..],
    ] {
        let (e, r) = feed(false, &with_version(&[&k, &raw(payload)]));
        assert_eq!(r, DisconnectReason::PROTOCOL_ERROR, "{e}");
    }
}

/// Catalog P06: a flipped bit anywhere in an encrypted packet is a MAC error, for AEAD,
/// EtM and encrypt-and-MAC modes.
#[test]
fn bad_mac_after_newkeys() {
    for (i, (cipher, mac)) in [
        ("chacha20-poly1305@openssh.com", "hmac-sha2-256"),
        ("aes256-gcm@openssh.com", "hmac-sha2-256"),
        ("aes128-ctr", "hmac-sha2-256-etm@openssh.com"),
        ("aes128-ctr", "hmac-sha2-512"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut c = ClientConfig::default();
        c.config.algorithms.kex = vec!["curve25519-sha256".into()];
        c.config.algorithms.ciphers = vec![cipher.into()];
        c.config.algorithms.macs = vec![mac.into()];
        let mut p = pair_with(c, ServerConfig::new(vec![ed25519()]), 50 + i as u64);
        handshake(&mut p);
        p.client.0.request_service("ssh-userauth").unwrap();
        // Flip a byte in the client's next batch (the encrypted SERVICE_REQUEST), past the
        // length field (so the length check does not catch it first).
        p.set_tamper(Box::new(|side, _, bytes| {
            if side == Side::Client && bytes.len() > 12 {
                let at = bytes.len() - 3;
                bytes[at] ^= 0x40;
            }
        }));
        p.drive_bounded(10_000, |p| p.server.0.is_closed()).unwrap();
        p.step();
        assert_eq!(
            disconnect_reason(&p.server_events),
            Some(DisconnectReason::MAC_ERROR),
            "{cipher} {mac}"
        );
        assert!(
            !p.server_events
                .iter()
                .any(|e| matches!(e, Event::ServiceRequested(_)))
        );
    }
}

/// Every single-byte prefix of a valid client stream fed to a server, then garbage: no
/// panic, and any error is one of the documented ones.
#[test]
fn garbage_after_valid_prefixes_never_panics() {
    let k = pkt(&kexinit("curve25519-sha256,kex-strict-c-v00@openssh.com"));
    let stream = with_version(&[&k]);
    for cut in 0..stream.len() {
        for junk in [&[0xffu8; 9][..], &[0, 0, 0, 8, 4, 1, 2, 3, 4, 5, 6, 7][..]] {
            let now = Instant::now();
            let mut conn =
                Connection::server(ServerConfig::new(vec![ed25519()]), rng(1), now).unwrap();
            let _ = conn.handle_input(now, &stream[..cut]);
            let _ = conn.handle_input(now, junk);
            while conn.poll_event().is_some() {}
            let mut out = BytesMut::new();
            let _ = conn.poll_transmit(now, &mut out);
        }
    }
}

fn ext_info_payload(n: u32, name: &str) -> Bytes {
    let mut v = vec![7u8];
    v.extend_from_slice(&n.to_be_bytes());
    if n == 1 {
        v.extend_from_slice(&u32::try_from(name.len()).unwrap().to_be_bytes());
        v.extend_from_slice(name.as_bytes());
        v.extend_from_slice(&[0, 0, 0, 1, b'x']);
    }
    Bytes::from(v)
}

/// Catalog E02: the client's first encrypted packet is `07 ff ff ff ff` (a huge extension
/// count and no body): PROTOCOL_ERROR at once.
#[test]
fn ext_info_huge_count() {
    let mut p = pair(60);
    p.set_responder(
        Side::Client,
        Box::new(|c: &mut T, ev| match ev {
            Event::HostKey(check) => {
                c.0.respond(check, whelk_transport::HostKeyDecision::Accept)
                    .unwrap();
                // Right after our NEWKEYS, as the first encrypted packet.
                c.0.send_raw_for_tests(ext_info_payload(0xffff_ffff, ""), true);
                None
            }
            other => Some(other),
        }),
    );
    p.drive_bounded(10_000, |p| p.server.0.is_closed()).unwrap();
    p.step();
    assert_eq!(
        disconnect_reason(&p.server_events),
        Some(DisconnectReason::PROTOCOL_ERROR)
    );
}

/// Catalog E03: EXT_INFO at arbitrary times: from the client after its first packet; from
/// the server a second time without USERAUTH_SUCCESS following.
#[test]
fn ext_info_at_the_wrong_time() {
    let mut p = pair(61);
    handshake(&mut p);
    p.client.0.request_service("ssh-userauth").unwrap();
    p.drive_bounded(10_000, |p| {
        p.client_events
            .iter()
            .any(|e| matches!(e, Event::ServiceAccepted(_)))
    })
    .unwrap();
    p.client
        .0
        .send_raw_for_tests(ext_info_payload(1, "server-sig-algs"), false);
    p.drive_bounded(10_000, |p| p.server.0.is_closed()).unwrap();
    assert!(matches!(p.server.0.error(), Some(Error::ExtInfo(_))));

    // Server: a second EXT_INFO is only allowed just before USERAUTH_SUCCESS.
    let mut p = pair(62);
    handshake(&mut p);
    p.client.0.request_service("ssh-userauth").unwrap();
    p.drive_bounded(10_000, |p| {
        p.client_events
            .iter()
            .any(|e| matches!(e, Event::ServiceAccepted(_)))
    })
    .unwrap();
    p.server
        .0
        .send_raw_for_tests(ext_info_payload(1, "server-sig-algs"), false);
    p.server
        .0
        .send_payload(Bytes::from_static(b"\x33\x00\x00\x00\x00\x00"))
        .unwrap();
    p.drive_bounded(10_000, |p| p.client.0.is_closed()).unwrap();
    assert!(
        matches!(p.client.0.error(), Some(Error::ExtInfo(_))),
        "{:?}",
        p.client.0.error()
    );

    // ...and accepted right before USERAUTH_SUCCESS.
    let mut p = pair(63);
    handshake(&mut p);
    p.client.0.request_service("ssh-userauth").unwrap();
    p.drive_bounded(10_000, |p| {
        p.client_events
            .iter()
            .any(|e| matches!(e, Event::ServiceAccepted(_)))
    })
    .unwrap();
    p.server
        .0
        .send_raw_for_tests(ext_info_payload(1, "server-sig-algs"), false);
    p.server
        .0
        .send_payload(Bytes::from_static(b"\x34"))
        .unwrap();
    p.drive_bounded(10_000, |p| {
        p.client_events
            .iter()
            .any(|e| matches!(e, Event::Payload(b) if b[0] == 52))
    })
    .unwrap();
    assert!(!p.client.0.is_closed());
    // A third one is never allowed.
    p.server
        .0
        .send_raw_for_tests(ext_info_payload(1, "server-sig-algs"), false);
    p.drive_bounded(10_000, |p| p.client.0.is_closed()).unwrap();
    assert!(matches!(p.client.0.error(), Some(Error::ExtInfo(_))));
}

/// Catalog P05: an unknown transport-layer message number gets SSH_MSG_UNIMPLEMENTED with
/// its sequence number.
#[test]
fn unknown_message_gets_unimplemented_with_its_sequence_number() {
    let mut p = pair(64);
    handshake(&mut p);
    p.drive_quiet(1000).unwrap();
    let seq = p.client.0.sequence_numbers().0;
    p.client
        .0
        .send_raw_for_tests(Bytes::from_static(b"\x0f"), false);
    p.drive_bounded(10_000, |p| {
        p.client_events
            .iter()
            .any(|e| matches!(e, Event::Unimplemented(_)))
    })
    .unwrap();
    assert!(
        p.client_events
            .iter()
            .any(|e| matches!(e, Event::Unimplemented(s) if *s == seq))
    );
    assert!(!p.server.0.is_closed());
}

/// Catalog K08: `first_kex_packet_follows` with a wrong guess: exactly one guessed packet
/// is discarded and the exchange proceeds.
#[test]
fn wrong_kex_guess_is_discarded() {
    let nl = |v: &str| NameList::parse(v).unwrap();
    let guess = Message::KexInit(KexInit {
        cookie: [1; 16],
        kex_algorithms: nl("curve25519-sha256"),
        server_host_key_algorithms: nl("ssh-ed25519"),
        encryption_client_to_server: nl("aes128-ctr"),
        encryption_server_to_client: nl("aes128-ctr"),
        mac_client_to_server: nl("hmac-sha2-256"),
        mac_server_to_client: nl("hmac-sha2-256"),
        compression_client_to_server: nl("none"),
        compression_server_to_client: nl("none"),
        languages_client_to_server: NameList::empty(),
        languages_server_to_client: NameList::empty(),
        first_kex_packet_follows: true,
    });
    let bogus = pkt(&Message::KexEcdhInit(KexEcdhInit {
        client_public: Bytes::from(vec![0; 32]),
    }));
    let mut base = [0u8; 32];
    base[0] = 9;
    let real = pkt(&Message::KexEcdhInit(KexEcdhInit {
        client_public: Bytes::copy_from_slice(&base),
    }));
    let now = Instant::now();
    let mut s = Connection::server(ServerConfig::new(vec![ed25519()]), rng(1), now).unwrap();
    let mut out = BytesMut::new();
    let _ = s.poll_transmit(now, &mut out);
    s.handle_input(now, &with_version(&[&pkt(&guess), &bogus, &real]))
        .unwrap();
    assert!(s.error().is_none());
    out.clear();
    let _ = s.poll_transmit(now, &mut out);
    // KEX_ECDH_REPLY then NEWKEYS went out.
    assert_eq!(out[5], 31);
}

/// The client's EXT_INFO is accepted as its first message after its first NEWKEYS (we
/// announce `ext-info-s`), and only then.
#[test]
fn client_ext_info_right_after_newkeys_is_accepted() {
    let mut p = pair(65);
    p.set_responder(
        Side::Client,
        Box::new(|c: &mut T, ev| match ev {
            Event::HostKey(check) => {
                c.0.respond(check, whelk_transport::HostKeyDecision::Accept)
                    .unwrap();
                c.0.send_raw_for_tests(ext_info_payload(1, "global-requests-ok"), true);
                None
            }
            other => Some(other),
        }),
    );
    handshake(&mut p);
    p.drive_quiet(1000).unwrap();
    assert!(!p.server.0.is_closed());
    assert!(
        p.server
            .0
            .peer_extensions()
            .is_some_and(|e| e.get("global-requests-ok").is_some())
    );
}

/// `n` with a zero-filled body of the size its fields need when they are all zero/empty.
fn zero_body(n: u8) -> Vec<u8> {
    let len = match n {
        3 | 5..=7 | 192 | 193 => 4,
        4 => 9,
        _ => 12,
    };
    let mut v = vec![n];
    v.extend(std::iter::repeat_n(0, len));
    v
}

/// Catalog §6.2, the state x message matrix (two states: before the first KEXINIT, and
/// established before any service): every message number with a zero-filled body gets
/// either its allowed handling or a documented disconnect, never a panic.
#[test]
fn state_by_message_matrix() {
    // Before KEXINIT (server).
    for n in 0..=255u8 {
        let payload = zero_body(n);
        let now = Instant::now();
        let mut s = Connection::server(ServerConfig::new(vec![ed25519()]), rng(1), now).unwrap();
        let r = s.handle_input(now, &with_version(&[&raw(&payload)]));
        let allowed = match n {
            // IGNORE, UNIMPLEMENTED, DEBUG: well-formed with zero fields before KEXINIT.
            2..=4 => r.is_ok(),
            // DISCONNECT from the peer.
            1 => matches!(s.error(), Some(Error::PeerDisconnected { .. })),
            _ => {
                let e = r.unwrap_err();
                DisconnectReason::from(&e) == DisconnectReason::PROTOCOL_ERROR
            }
        };
        assert!(allowed, "message {n} before KEXINIT: {:?}", s.error());
    }
    // Established, no service yet (client sends, server judges).
    for n in 0..=255u8 {
        let mut c = ClientConfig::default();
        c.config.algorithms.kex = vec!["curve25519-sha256".into()];
        let mut p = pair_with(c, ServerConfig::new(vec![ed25519()]), 1000 + u64::from(n));
        handshake(&mut p);
        p.drive_quiet(1000).unwrap();
        let payload = zero_body(n);
        p.client.0.send_raw_for_tests(Bytes::from(payload), false);
        p.drive_quiet(1000).unwrap();
        let server = &p.server.0;
        let reason = server.error().map(DisconnectReason::from);
        let ok = match n {
            1 => matches!(server.error(), Some(Error::PeerDisconnected { .. })),
            2..=4 => reason.is_none(),
            8..=19 | 22..=29 => {
                reason.is_none()
                    && p.client_events
                        .iter()
                        .any(|e| matches!(e, Event::Unimplemented(_)))
            }
            // SERVICE_REQUEST "" (not offered), KEXINIT with empty lists, kex messages outside an exchange, NEWKEYS, SERVICE_ACCEPT,
            // upper-layer messages before a service, PING/PONG with a zero body: all are
            // errors here except PING/PONG, which are well-formed.
            // EXT_INFO as the client's first packet after NEWKEYS is allowed (RFC 8308).
            7 | 192 | 193 => reason.is_none(),
            0 | 5 | 6 | 20 | 21 | 30..=49 => {
                reason == Some(DisconnectReason::PROTOCOL_ERROR)
                    || reason == Some(DisconnectReason::SERVICE_NOT_AVAILABLE)
                    || reason == Some(DisconnectReason::KEY_EXCHANGE_FAILED)
            }
            _ => reason == Some(DisconnectReason::PROTOCOL_ERROR),
        };
        assert!(ok, "message {n} after NEWKEYS: {:?}", server.error());
    }
}
