//! State × message matrix (catalog §6.2, libssh's `torture_packet_filter` idea): for each
//! role of whelk (the victim) and each protocol state, the hostile peer sends a minimal
//! well-formed instance of every message number 0..=255. Each is either explicitly allowed
//! or ends in the documented disconnect (PROTOCOL_ERROR, or KEY_EXCHANGE_FAILED for a kex
//! message whose content the running exchange rejects) or an UNIMPLEMENTED reply carrying
//! the packet's sequence number; a refused message never reaches the application (no
//! authentication, channel or credential event after it). The rules are in
//! docs/security.md ("State × message matrix").
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
use whelk_test::hostile::{Enc, Hostile, Peer, PeerEvent, minimal_message};
use whelk_test::pair::Side;
use whelk_transport::Event as TEvent;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The message is the hostile peer's first packet, before its KEXINIT (strict kex off
    /// on the hostile side, so only the state rule applies).
    BeforeKex,
    /// Right after the hostile peer's KEXINIT, both sides strict.
    StrictInitialKex,
    /// First packet after the hostile peer's NEWKEYS, no service yet.
    AfterNewKeys,
    /// After SERVICE_ACCEPT(ssh-userauth), before authentication.
    Userauth,
    /// After USERAUTH_SUCCESS.
    Authenticated,
    /// Right after the hostile peer's KEXINIT of a re-exchange.
    Rekey,
}

const STATES: [State; 6] = [
    State::BeforeKex,
    State::StrictInitialKex,
    State::AfterNewKeys,
    State::Userauth,
    State::Authenticated,
    State::Rekey,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The victim disconnects with one of these reasons; no application event after.
    Fatal(&'static [R]),
    /// The victim answers UNIMPLEMENTED with the packet's sequence number, stays up, no
    /// application event.
    Unimplemented,
    /// Explicitly allowed; `app`: it may reach the application (it is what the state is
    /// for, e.g. CHANNEL_OPEN after authentication).
    Allowed { app: bool },
    /// Allowed, or PROTOCOL_ERROR / KEY_EXCHANGE_FAILED (depends on what follows it); never
    /// an application event.
    Either,
    /// Dropped without an answer: no reply, no disconnect, no application event.
    Ignored,
}

const PROTO: &[R] = &[R::PROTOCOL_ERROR];
const KEX: &[R] = &[R::PROTOCOL_ERROR, R::KEY_EXCHANGE_FAILED];
const ALLOWED: Expect = Expect::Allowed { app: false };

/// The documented rules (docs/security.md, "State × message matrix").
fn expect(victim_server: bool, state: State, n: u8) -> Expect {
    use Expect::*;
    use State::*;
    // Numbers no RFC defines below 50: UNIMPLEMENTED outside key exchanges (RFC 4253
    // §11.4), fatal inside one. 128-191 and 194-255 (client protocols, local extensions):
    // UNIMPLEMENTED once a service runs.
    let undefined_low = matches!(n, 8..=19 | 22..=29);
    let undefined_high = matches!(n, 128..=191 | 194..=255);
    // Undefined numbers of the connection protocol's range.
    let undefined_conn = matches!(n, 83..=89 | 101..=127);
    match (state, n) {
        (_, 0) => Fatal(PROTO),
        (_, 1) => ALLOWED,
        (BeforeKex | Rekey, 2..=4) => ALLOWED,
        // The exchange's own next message is what the state is for.
        (StrictInitialKex | Rekey, 30) if victim_server => Either,
        (BeforeKex | StrictInitialKex | Rekey, 20..=49) => Fatal(KEX),
        (BeforeKex | StrictInitialKex | Rekey, _) => Fatal(PROTO),
        (_, 2..=4) => ALLOWED,
        (_, 192 | 193) => ALLOWED,
        // A KEXINIT starts a re-exchange (accepted at any time); the hostile peer's own
        // transport then answers the victim's KEXINIT with a second one: PROTOCOL_ERROR.
        (_, 20) => Either,
        (_, 21 | 30..=49) => Fatal(PROTO),
        (_, _) if undefined_low => Unimplemented,
        // The service request.
        (AfterNewKeys, 5) if victim_server => ALLOWED,
        (AfterNewKeys, 6) if !victim_server => Either, // unless it answers our request
        (_, 5 | 6) => Fatal(PROTO),
        // EXT_INFO: only as the first packet after NEWKEYS.
        (AfterNewKeys, 7) => ALLOWED,
        (_, 7) => Fatal(PROTO),
        // Before a service, every number from 50 up is refused, defined or not.
        (AfterNewKeys, _) => Fatal(PROTO),
        (_, _) if undefined_high => Unimplemented,
        // Authentication.
        (Userauth, 50) if victim_server => ALLOWED, // "none": refused without the application
        (Userauth, 51..=53) if !victim_server => Allowed { app: true }, // answers to "none"
        (Userauth, _) => Fatal(PROTO),
        // Authenticated: the connection protocol.
        (Authenticated, 50..=79) if victim_server => Ignored, // A13: never re-authenticates
        (Authenticated, 50..=79) => Fatal(PROTO),
        (Authenticated, 80) => Allowed { app: true },
        (Authenticated, 81 | 82) => ALLOWED, // C11: unmatched replies dropped
        (Authenticated, 90) => Allowed { app: true },
        (Authenticated, 91..=100) => Fatal(PROTO), // C04: channel 0 was never opened
        (Authenticated, _) if undefined_conn => Ignored, // see docs: should be UNIMPLEMENTED
        (Authenticated, _) => Fatal(PROTO),
    }
}

struct Outcome {
    /// The victim's DISCONNECT as the hostile peer read it.
    disconnect: Option<(R, String)>,
    /// UNIMPLEMENTED sequence numbers the hostile peer received.
    unimplemented: Vec<u32>,
    /// The sequence number of the injected packet (when it was the last one sent).
    injected_seq: u32,
    /// Application events after the injection.
    app_after: Vec<String>,
    victim_closed: bool,
}

fn marker(log: &Log) {
    log.borrow_mut().push("INJECTED".to_owned());
}

fn run(victim_server: bool, state: State, n: u8) -> Outcome {
    let now = Instant::now();
    let seed = u64::from(n) << 8 | state as u64;
    let log: Log = Log::default();
    let strict = state != State::BeforeKex;
    let msg = minimal_message(n, !victim_server);
    let msg2 = msg.clone();
    let mut h = if victim_server {
        Hostile::client(hostile_transport(strict), seed, now)
    } else {
        let mut c = hostile_transport(strict);
        c.ext_info = false; // keep the first packet after NEWKEYS ours
        Hostile::server(c, vec![host_key()], seed, now)
    };
    match state {
        State::BeforeKex | State::StrictInitialKex => {
            let before = state == State::BeforeKex;
            let m = msg.clone();
            let mut done = false;
            h.filter(move |p| {
                if done || p.first() != Some(&20) {
                    return vec![p];
                }
                done = true;
                if before {
                    vec![m.clone(), p]
                } else {
                    vec![p, m.clone()]
                }
            });
            marker(&log);
        }
        State::AfterNewKeys => {
            h.send(msg.clone());
            marker(&log);
        }
        _ => {}
    }
    if victim_server && matches!(state, State::Userauth | State::Authenticated | State::Rekey) {
        h.conn.request_service("ssh-userauth").unwrap();
    }
    let victim = if victim_server {
        victim_server_peer(now, seed)
    } else {
        victim_client_peer(now, seed)
    };
    let hostile_peer = Peer::Hostile(Box::new(h));
    let mut p = if victim_server {
        pair(hostile_peer, victim, now, seed)
    } else {
        pair(victim, hostile_peer, now, seed)
    };
    let vside = if victim_server {
        Side::Server
    } else {
        Side::Client
    };
    let hside = if victim_server {
        Side::Client
    } else {
        Side::Server
    };
    p.set_responder(vside, victim_responder(log.clone()));
    // The hostile side's script for the later states.
    let hlog = log.clone();
    let mut sent = false;
    p.set_responder(
        hside,
        Box::new(move |peer, ev| {
            let h = peer.hostile().unwrap();
            if sent {
                return Some(ev);
            }
            let inject = |h: &mut Hostile, now_too: bool| {
                if now_too {
                    h.send_now(msg.clone());
                } else {
                    h.send(msg.clone());
                }
                hlog.borrow_mut().push("INJECTED".to_owned());
            };
            match (&ev, victim_server, state) {
                (PeerEvent::Transport(TEvent::ServiceAccepted(_)), true, State::Userauth) => {
                    inject(h, false);
                    sent = true;
                }
                (PeerEvent::Transport(TEvent::ServiceAccepted(_)), true, _) => {
                    h.send(
                        Enc::msg(50)
                            .string(USER.as_bytes())
                            .string(b"ssh-connection")
                            .string(b"password")
                            .bool(false)
                            .string(PASSWORD.as_bytes())
                            .done(),
                    );
                }
                (PeerEvent::Transport(TEvent::Payload(b)), true, _) if b.first() == Some(&52) => {
                    h.conn.authenticated();
                    if state == State::Rekey {
                        assert!(h.conn.rekey());
                        inject(h, true);
                    } else {
                        inject(h, false);
                    }
                    sent = true;
                }
                (PeerEvent::Transport(TEvent::ServiceRequested(_)), false, State::Userauth) => {
                    inject(h, false);
                    sent = true;
                }
                (
                    PeerEvent::Transport(TEvent::Payload(b)),
                    false,
                    State::Authenticated | State::Rekey,
                ) if b.first() == Some(&50) => {
                    h.send(Bytes::from_static(&[52]));
                    h.conn.authenticated();
                    if state == State::Rekey {
                        assert!(h.conn.rekey());
                        inject(h, true);
                    } else {
                        inject(h, false);
                    }
                    sent = true;
                }
                _ => {}
            }
            Some(ev)
        }),
    );
    settle(&mut p, 20_000);
    let victim = victim_ref(&p);
    let victim_closed = victim.is_closed() || victim.error().is_some();
    let h = hostile_ref(&p);
    let injected_seq = h.seq_of(&msg2).unwrap_or(u32::MAX);
    let log = log.borrow();
    let at = log.iter().position(|l| l == "INJECTED");
    assert!(at.is_some(), "{state:?} {n}: never reached the state");
    let mut app_after: Vec<String> = log[at.unwrap() + 1..]
        .iter()
        .filter(|l| l.starts_with("app:"))
        .cloned()
        .collect();
    // A client victim learns of its authentication after the injection was queued (the
    // hostile server sends USERAUTH_SUCCESS and the message together).
    if !victim_server
        && matches!(state, State::Authenticated | State::Rekey)
        && app_after.first().map(String::as_str) == Some("app:Authenticated")
    {
        app_after.remove(0);
    }
    Outcome {
        disconnect: h.peer_disconnect().cloned(),
        unimplemented: h.unimplemented_replies(),
        injected_seq,
        app_after,
        victim_closed,
    }
}

fn victim_server_peer(now: Instant, seed: u64) -> Peer {
    victim_server(server_config(), seed + 1000, now)
}

fn victim_client_peer(now: Instant, seed: u64) -> Peer {
    let mut c = client_config();
    c.auth.methods = vec![whelk::Method::Password];
    victim_client(c, seed + 1000, now)
}

fn check(victim_server: bool, state: State, n: u8, failures: &mut Vec<String>) {
    let want = expect(victim_server, state, n);
    let o = run(victim_server, state, n);
    let role = if victim_server { "server" } else { "client" };
    let mut fail = |why: String| failures.push(format!("{role} {state:?} msg {n}: {why}"));
    match want {
        Expect::Fatal(reasons) => {
            match &o.disconnect {
                Some((r, _)) if reasons.contains(r) => {}
                other => fail(format!("want disconnect {reasons:?}, got {other:?}")),
            }
            if !o.app_after.is_empty() {
                fail(format!(
                    "application events after a refused message: {:?}",
                    o.app_after
                ));
            }
        }
        Expect::Unimplemented => {
            if o.disconnect.is_some() || o.victim_closed {
                fail(format!(
                    "want UNIMPLEMENTED, got disconnect {:?}",
                    o.disconnect
                ));
            } else if o.unimplemented != [o.injected_seq] {
                fail(format!(
                    "want UNIMPLEMENTED({}), got {:?}",
                    o.injected_seq, o.unimplemented
                ));
            }
            if !o.app_after.is_empty() {
                fail(format!("application events: {:?}", o.app_after));
            }
        }
        Expect::Either => {
            if let Some((r, _)) = &o.disconnect
                && !KEX.contains(r)
            {
                fail(format!("want allowed or {KEX:?}, got {r:?}"));
            }
            if !o.app_after.is_empty() {
                fail(format!("application events: {:?}", o.app_after));
            }
        }
        Expect::Ignored => {
            if o.disconnect.is_some() || !o.unimplemented.is_empty() || !o.app_after.is_empty() {
                fail(format!(
                    "want ignored, got {:?} / UNIMPLEMENTED {:?} / {:?}",
                    o.disconnect, o.unimplemented, o.app_after
                ));
            }
        }
        Expect::Allowed { app } => {
            if n != 1
                && let Some(d) = &o.disconnect
            {
                fail(format!("allowed message gave disconnect {d:?}"));
            }
            if !app && !o.app_after.is_empty() {
                fail(format!("application events: {:?}", o.app_after));
            }
        }
    }
}

fn matrix(victim_server: bool, state: State) {
    let mut failures = Vec::new();
    for n in 0..=255u8 {
        check(victim_server, state, n, &mut failures);
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

macro_rules! matrix_tests {
    ($($name:ident: $server:expr, $state:expr;)*) => {
        $(#[test] fn $name() { matrix($server, $state); })*
    };
}

matrix_tests! {
    matrix_server_before_kex: true, State::BeforeKex;
    matrix_server_strict_initial_kex: true, State::StrictInitialKex;
    matrix_server_after_newkeys: true, State::AfterNewKeys;
    matrix_server_userauth: true, State::Userauth;
    matrix_server_authenticated: true, State::Authenticated;
    matrix_server_rekey: true, State::Rekey;
    matrix_client_before_kex: false, State::BeforeKex;
    matrix_client_strict_initial_kex: false, State::StrictInitialKex;
    matrix_client_after_newkeys: false, State::AfterNewKeys;
    matrix_client_userauth: false, State::Userauth;
    matrix_client_authenticated: false, State::Authenticated;
    matrix_client_rekey: false, State::Rekey;
}

#[test]
fn matrix_covers_every_state() {
    assert_eq!(STATES.len(), 6);
}
