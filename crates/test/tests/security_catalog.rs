//! One table-driven test per row of the security catalog (/work/shared/security-catalog.md
//! §5) that the hostile peer can play against whelk's facade, for each role the row applies
//! to. Rows covered elsewhere are named in docs/security.md (catalog status).
//!
//! Every row also asserts what no row may do: no application event (authentication,
//! channel, credential) after the hostile input unless the row allows it, and the victim
//! never authenticated as the attacker.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Instant;

use bytes::Bytes;
use common::*;
use whelk::DisconnectReason as R;
use whelk_test::hostile::{Enc, Hostile, Peer, plain_packet};
use whelk_test::pair::Side;

#[derive(Debug, Clone, Copy)]
enum Want {
    /// The victim disconnects with one of these reasons.
    Disc(&'static [R]),
    /// UNIMPLEMENTED with the sequence number of the last injected packet.
    Unimpl,
    /// Either a disconnect with one of these reasons or nothing at all.
    DiscOrQuiet(&'static [R]),
}

const PROTO: &[R] = &[R::PROTOCOL_ERROR];
const KEX: &[R] = &[R::PROTOCOL_ERROR, R::KEY_EXCHANGE_FAILED];

fn verify(id: &str, role: &str, want: Want, o: &Outcome) {
    verify_app(id, role, want, o, 0);
}

/// `opens`: channel opens the row makes on purpose (their one application event each).
fn verify_app(id: &str, role: &str, want: Want, o: &Outcome, opens: usize) {
    let ctx = format!(
        "{id} ({role}): disconnect {:?}, error {:?}, UNIMPLEMENTED {:?}, app {:?}, received {:?}",
        o.disconnect, o.victim_error, o.unimplemented, o.app_after, o.received
    );
    match want {
        Want::Disc(reasons) => {
            let r = o.disconnect.as_ref().map(|d| d.0);
            assert!(r.is_some_and(|r| reasons.contains(&r)), "{ctx}");
        }
        Want::Unimpl => {
            assert!(o.disconnect.is_none(), "{ctx}");
            assert_eq!(o.unimplemented, [o.injected_seq], "{ctx}");
        }
        Want::DiscOrQuiet(reasons) => {
            if let Some((r, _)) = &o.disconnect {
                assert!(reasons.contains(r), "{ctx}");
            }
        }
    }
    let channel_events = o.app_after.iter().filter(|e| *e == "app:Channel").count();
    assert!(
        o.app_after.len() == channel_events && channel_events <= opens,
        "{ctx}"
    );
    println!("{ctx}");
}

fn row(id: &str, victim_server: bool, state: State, msgs: Vec<Bytes>, want: Want) {
    let seed = id
        .bytes()
        .fold(7u64, |a, b| a.wrapping_mul(31).wrapping_add(u64::from(b)));
    let o = scenario(victim_server, state, msgs, seed);
    verify(
        id,
        if victim_server { "server" } else { "client" },
        want,
        &o,
    );
}

fn both(id: &str, state: State, msgs: Vec<Bytes>, want: Want) {
    row(id, true, state, msgs.clone(), want);
    row(id, false, state, msgs, want);
}

/// Raw bytes from a hostile peer that never runs a transport (framing before any kex).
/// Returns the victim's log (`disc:<reason>:us` when it disconnected).
fn raw(victim_server: bool, bytes: &[u8]) -> Vec<String> {
    let now = Instant::now();
    let log: Log = Log::default();
    let mut h = if victim_server {
        Hostile::client(hostile_transport(false), 1, now)
    } else {
        Hostile::server(hostile_transport(false), vec![host_key()], 1, now)
    };
    h.raw_only();
    h.send_raw(bytes);
    let hp = Peer::Hostile(Box::new(h));
    let mut p = if victim_server {
        pair(hp, victim_server_peer(now, 2), now, 3)
    } else {
        pair(victim_client_peer(now, 2), hp, now, 3)
    };
    let vside = if victim_server {
        Side::Server
    } else {
        Side::Client
    };
    p.set_responder(vside, victim_responder(log.clone()));
    let _ = p.drive_quiet(10_000);
    let l = log.borrow().clone();
    assert!(!l.iter().any(|e| e.starts_with("app:")), "{l:?}");
    l
}

fn raw_disc(id: &str, victim_server: bool, bytes: &[u8], reason: &str) {
    let l = raw(victim_server, bytes);
    let want = format!("disc:{reason}:us");
    assert!(l.contains(&want), "{id}: want {want}, got {l:?}");
}

fn v(line: &str) -> Vec<u8> {
    line.as_bytes().to_vec()
}

fn with_version(rest: &[u8]) -> Vec<u8> {
    let mut b = v("SSH-2.0-hostile\r\n");
    b.extend_from_slice(rest);
    b
}

// ------------------------------------------------------------------ version string

#[test]
fn v01_client_line_before_identification() {
    raw_disc("V01", true, b"HELLO\r\nSSH-2.0-t\r\n", "PROTOCOL_ERROR");
}

#[test]
fn v02_unlimited_pre_banner_lines_from_server() {
    let lines = "x\r\n".repeat(1025);
    raw_disc("V02", false, lines.as_bytes(), "PROTOCOL_ERROR");
}

#[test]
fn v03_overlong_identification_line() {
    raw_disc(
        "V03",
        true,
        format!("SSH-2.0-{}\r\n", "A".repeat(300)).as_bytes(),
        "PROTOCOL_ERROR",
    );
    raw_disc(
        "V03",
        false,
        format!("SSH-2.0-{}\r\n", "A".repeat(9000)).as_bytes(),
        "PROTOCOL_ERROR",
    );
}

#[test]
fn v05_protocol_version_1_and_3_refused_1_99_accepted() {
    for victim_server in [true, false] {
        raw_disc(
            "V05",
            victim_server,
            b"SSH-1.5-x\r\n",
            "PROTOCOL_VERSION_NOT_SUPPORTED",
        );
        raw_disc(
            "V05",
            victim_server,
            b"SSH-3.0-x\r\n",
            "PROTOCOL_VERSION_NOT_SUPPORTED",
        );
        let l = raw(victim_server, b"SSH-1.99-x\r\n");
        assert!(!l.iter().any(|e| e.starts_with("disc:")), "V05 1.99: {l:?}");
    }
}

// ------------------------------------------------------------------ packet framing

#[test]
fn p01_huge_packet_length() {
    for victim_server in [true, false] {
        raw_disc(
            "P01",
            victim_server,
            &with_version(&[0xff, 0xff, 0xff, 0xff, 0]),
            "PROTOCOL_ERROR",
        );
        raw_disc(
            "P01",
            victim_server,
            &with_version(&[0, 4, 0, 1, 0]),
            "PROTOCOL_ERROR",
        );
    }
}

#[test]
fn p02_packet_length_too_small() {
    for victim_server in [true, false] {
        raw_disc(
            "P02",
            victim_server,
            &with_version(&[0, 0, 0, 0]),
            "PROTOCOL_ERROR",
        );
        raw_disc(
            "P02",
            victim_server,
            &with_version(&[0, 0, 0, 4, 4, 0x15, 0, 0, 0]),
            "PROTOCOL_ERROR",
        );
    }
}

#[test]
fn p03_bad_padding_and_alignment() {
    let mut a = vec![0, 0, 0, 0x0c, 0x03, 0x15];
    a.extend([0; 10]);
    let mut b = vec![0, 0, 0, 0x0c, 0x0c, 0x15];
    b.extend([0; 10]);
    let mut c = vec![0, 0, 0, 0x0d, 0x0a, 0x15];
    c.extend([0; 11]);
    for victim_server in [true, false] {
        for case in [&a, &b, &c] {
            raw_disc("P03", victim_server, &with_version(case), "PROTOCOL_ERROR");
        }
    }
}

#[test]
fn p04_message_number_zero() {
    for victim_server in [true, false] {
        raw_disc(
            "P04",
            victim_server,
            &with_version(&plain_packet(&[0])),
            "PROTOCOL_ERROR",
        );
    }
    both(
        "P04",
        State::Authenticated,
        vec![Bytes::from_static(&[0])],
        Want::Disc(PROTO),
    );
}

#[test]
fn p05_unknown_message_gets_unimplemented_with_its_sequence_number() {
    both(
        "P05",
        State::Authenticated,
        vec![Bytes::from_static(&[200])],
        Want::Unimpl,
    );
    // During the strict initial exchange it is fatal instead.
    both(
        "P05",
        State::StrictInitialKex,
        vec![Bytes::from_static(&[200])],
        Want::Disc(PROTO),
    );
}

// ------------------------------------------------------------------ key exchange

fn kexinit() -> Bytes {
    whelk_test::hostile::minimal_message(20, true)
}

#[test]
fn k04_duplicate_kexinit() {
    both(
        "K04",
        State::StrictInitialKex,
        vec![kexinit()],
        Want::Disc(KEX),
    );
    both("K04", State::Rekey, vec![kexinit()], Want::Disc(KEX));
}

#[test]
fn k05_kex_messages_out_of_order() {
    let ecdh_init = Enc::msg(30).string(&[9; 32]).done();
    // KEX_ECDH_INIT before KEXINIT; NEWKEYS right after KEXINIT; a client's message from
    // the server; kex messages outside any exchange.
    row(
        "K05",
        true,
        State::BeforeKex,
        vec![ecdh_init.clone()],
        Want::Disc(KEX),
    );
    both(
        "K05",
        State::StrictInitialKex,
        vec![Bytes::from_static(&[21])],
        Want::Disc(PROTO),
    );
    row(
        "K05",
        false,
        State::StrictInitialKex,
        vec![ecdh_init.clone()],
        Want::Disc(KEX),
    );
    both(
        "K05",
        State::Authenticated,
        vec![ecdh_init],
        Want::Disc(PROTO),
    );
    both(
        "K05",
        State::Authenticated,
        vec![Bytes::from_static(&[21])],
        Want::Disc(PROTO),
    );
}

// ------------------------------------------------------------------ EXT_INFO

fn ext_info(name: &[u8], value: &[u8]) -> Bytes {
    Enc::msg(7).u32(1).string(name).string(value).done()
}

#[test]
fn e01_ext_info_before_newkeys() {
    both(
        "E01",
        State::StrictInitialKex,
        vec![ext_info(b"server-sig-algs", b"chosen@attacker.com")],
        Want::Disc(PROTO),
    );
}

#[test]
fn e02_ext_info_huge_count_without_body() {
    both(
        "E02",
        State::AfterNewKeys,
        vec![Enc::msg(7).u32(0xffff_ffff).done()],
        Want::Disc(PROTO),
    );
}

#[test]
fn e03_ext_info_twice_or_late() {
    let e = ext_info(b"ping@openssh.com", b"0");
    row(
        "E03",
        true,
        State::AfterNewKeys,
        vec![e.clone(), e.clone()],
        Want::Disc(PROTO),
    );
    both(
        "E03",
        State::Authenticated,
        vec![e.clone()],
        Want::Disc(PROTO),
    );
    both("E03", State::Userauth, vec![e], Want::Disc(PROTO));
}

// ------------------------------------------------------------------ authentication

fn channel_open_session(sender: u32) -> Bytes {
    Enc::msg(90)
        .string(b"session")
        .u32(sender)
        .u32(0x20_0000)
        .u32(0x8000)
        .done()
}

fn exec(recipient: u32) -> Bytes {
    Enc::msg(98)
        .u32(recipient)
        .string(b"exec")
        .bool(true)
        .string(b"id")
        .done()
}

#[test]
fn a01_client_sends_userauth_success() {
    row(
        "A01",
        true,
        State::Userauth,
        vec![Bytes::from_static(&[52]), channel_open_session(0)],
        Want::Disc(PROTO),
    );
}

#[test]
fn a02_connection_protocol_before_authentication() {
    let forward = Enc::msg(80)
        .string(b"tcpip-forward")
        .bool(true)
        .string(b"0.0.0.0")
        .u32(22)
        .done();
    for state in [State::AfterNewKeys, State::Userauth] {
        row(
            "A02",
            true,
            state,
            vec![channel_open_session(0), exec(0)],
            Want::Disc(PROTO),
        );
        row("A02", true, state, vec![forward.clone()], Want::Disc(PROTO));
    }
}

#[test]
fn a04_service_request_abuse() {
    let req = |s: &[u8]| Enc::msg(5).string(s).done();
    row(
        "A04",
        true,
        State::AfterNewKeys,
        vec![req(b"ssh-connection")],
        Want::Disc(&[R::SERVICE_NOT_AVAILABLE]),
    );
    row(
        "A04",
        true,
        State::Userauth,
        vec![req(b"ssh-userauth")],
        Want::Disc(PROTO),
    );
    row(
        "A04",
        true,
        State::AfterNewKeys,
        vec![Enc::msg(6).string(b"ssh-userauth").done()],
        Want::Disc(PROTO),
    );
    row(
        "A04",
        false,
        State::AfterNewKeys,
        vec![req(b"ssh-userauth")],
        Want::Disc(PROTO),
    );
}

#[test]
fn a05_userauth_request_before_service_accept() {
    let r = Enc::msg(50)
        .string(USER.as_bytes())
        .string(b"ssh-connection")
        .string(b"password")
        .bool(false)
        .string(PASSWORD.as_bytes())
        .done();
    row("A05", true, State::AfterNewKeys, vec![r], Want::Disc(PROTO));
}

#[test]
fn a13_late_userauth_request_and_second_success() {
    let root = Enc::msg(50)
        .string(b"root")
        .string(b"ssh-connection")
        .string(b"password")
        .bool(false)
        .string(b"toor")
        .done();
    // Server: ignored (or PROTOCOL_ERROR), never a new authentication (no AuthRequest
    // event is checked by `verify`).
    row(
        "A13",
        true,
        State::Authenticated,
        vec![root],
        Want::DiscOrQuiet(PROTO),
    );
    // Client: a second USERAUTH_SUCCESS is a protocol error.
    row(
        "A13",
        false,
        State::Authenticated,
        vec![Bytes::from_static(&[52])],
        Want::Disc(PROTO),
    );
}

#[test]
fn m03_unsolicited_userauth_success_service_accept_pk_ok() {
    row(
        "M03",
        false,
        State::AfterNewKeys,
        vec![Bytes::from_static(&[52])],
        Want::Disc(PROTO),
    );
    row(
        "M03",
        false,
        State::Userauth,
        vec![Enc::msg(60).string(b"ssh-ed25519").string(b"").done()],
        Want::Disc(PROTO),
    );
}

// ------------------------------------------------------------------ channels

fn window_adjust(ch: u32, n: u32) -> Bytes {
    Enc::msg(93).u32(ch).u32(n).done()
}

/// Opens a session (accepted by the victim server as its channel 0), waits for the
/// OPEN_CONFIRMATION, then sends `then`.
fn on_open_channel(id: &str, then: Vec<Bytes>, want: Want) {
    on_open_channel_events(id, then, want, 1);
}

/// [`on_open_channel`] where the follow-up itself is reported (EOF, CLOSE): at most
/// `events` channel events in all.
fn on_open_channel_events(id: &str, then: Vec<Bytes>, want: Want, events: usize) {
    let o = scenario_then(
        true,
        State::Authenticated,
        vec![channel_open_session(0)],
        Some((91, then)),
        id.len() as u64,
    );
    assert!(
        o.received.contains(&91),
        "{id}: session not confirmed: {:?}",
        o.received
    );
    verify_app(id, "server", want, &o, events);
}

#[test]
fn c01_window_adjust_overflow() {
    on_open_channel(
        "C01",
        vec![window_adjust(0, 0xffff_ffff), window_adjust(0, 0xffff_ffff)],
        Want::DiscOrQuiet(PROTO),
    );
}

#[test]
fn c04_m06_messages_for_unknown_channels() {
    let id = 0xdead_beef;
    let msgs = [
        Enc::msg(94).u32(id).string(b"data").done(),
        Enc::msg(96).u32(id).done(),
        Enc::msg(97).u32(id).done(),
        exec(id),
        window_adjust(id, 10),
        Enc::msg(91).u32(id).u32(0).u32(1024).u32(1024).done(),
    ];
    for m in msgs {
        both("C04/M06", State::Authenticated, vec![m], Want::Disc(PROTO));
    }
}

#[test]
fn c05_double_close_data_after_eof() {
    let close = Enc::msg(97).u32(0).done();
    let eof = Enc::msg(96).u32(0).done();
    let data = Enc::msg(94).u32(0).string(b"late").done();
    // The open, the EOF and one CLOSE reach the application; nothing more.
    let w = Want::DiscOrQuiet(PROTO);
    on_open_channel_events("C05 close twice", vec![close.clone(), close], w, 2);
    on_open_channel_events("C05 data after eof", vec![eof.clone(), data], w, 2);
    on_open_channel_events(
        "C05 adjust after eof",
        vec![eof, window_adjust(0, 100)],
        w,
        2,
    );
}

#[test]
fn c06_open_confirmation_for_a_channel_never_opened() {
    row(
        "C06",
        false,
        State::Authenticated,
        vec![Enc::msg(91).u32(5).u32(9).u32(1024).u32(1024).done()],
        Want::Disc(PROTO),
    );
    row(
        "C06",
        false,
        State::Authenticated,
        vec![Enc::msg(92).u32(5).u32(2).string(b"").string(b"").done()],
        Want::Disc(PROTO),
    );
}

#[test]
fn c11_unsolicited_global_replies() {
    let mut msgs = Vec::new();
    for i in 0..1000 {
        msgs.push(Bytes::from_static(if i % 2 == 0 { &[81] } else { &[82] }));
    }
    both("C11", State::Authenticated, msgs, Want::DiscOrQuiet(PROTO));
}

#[test]
fn c13_unrequested_agent_channel_refused() {
    let open = Enc::msg(90)
        .string(b"auth-agent@openssh.com")
        .u32(3)
        .u32(0x20_0000)
        .u32(0x8000)
        .done();
    let seed = 13;
    let o = scenario(false, State::Authenticated, vec![open], seed);
    assert!(o.disconnect.is_none(), "{:?}", o.disconnect);
    assert!(
        o.received.contains(&92),
        "no OPEN_FAILURE: {:?}",
        o.received
    );
}

#[test]
fn a05_reordered_userauth_request_overtakes_service_request() {
    // The hostile client's filter holds its SERVICE_REQUEST back and lets it out after a
    // USERAUTH_REQUEST: the server sees authentication before the service was accepted.
    let now = Instant::now();
    let mut h = Hostile::client(hostile_transport(true), 60, now);
    let userauth = Enc::msg(50)
        .string(USER.as_bytes())
        .string(b"ssh-connection")
        .string(b"password")
        .bool(false)
        .string(PASSWORD.as_bytes())
        .done();
    let mut held: Option<Bytes> = None;
    h.filter(move |p| match p.first() {
        Some(5) => {
            held = Some(p);
            Vec::new()
        }
        Some(50) => {
            let mut out = vec![p];
            out.extend(held.take());
            out
        }
        _ => vec![p],
    });
    h.conn.request_service("ssh-userauth").unwrap();
    h.send(userauth);
    let log: Log = Log::default();
    let mut p = pair(
        Peer::Hostile(Box::new(h)),
        victim_server_peer(now, 61),
        now,
        62,
    );
    p.set_responder(Side::Server, victim_responder(log.clone()));
    let _ = p.drive_quiet(10_000);
    let h = p.client.hostile_ref().unwrap();
    assert_eq!(
        h.peer_disconnect().map(|d| d.0),
        Some(R::PROTOCOL_ERROR),
        "{:?}",
        log.borrow()
    );
    assert!(!log.borrow().iter().any(|e| e.starts_with("app:")));
    // Both packets went out, in the swapped order.
    let sent: Vec<u8> = h
        .sent()
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(_, p)| p.first().copied())
        .filter(|n| *n == 5 || *n == 50)
        .collect();
    assert_eq!(sent, [50, 5]);
}
