//! The state × message matrix rules and runner, shared by `security_matrix.rs` (whelk as
//! server) and `security_matrix_client.rs` (whelk as client).
#![allow(dead_code, unreachable_pub)]

use super::*;
use whelk::DisconnectReason as R;
use whelk_test::hostile::minimal_message;

/// One `#[test]` per `name: victim_is_server, state;` line, each running [`matrix`].
#[allow(unused_macros)] // Only the matrix tests use it.
macro_rules! matrix_tests {
    ($($name:ident: $server:expr, $state:expr;)*) => {
        $(#[test] fn $name() { matrix($server, $state); })*
    };
}
#[allow(unused_imports)] // Only the matrix tests use it.
pub(crate) use matrix_tests;

pub const STATES: [State; 6] = [
    State::BeforeKex,
    State::StrictInitialKex,
    State::AfterNewKeys,
    State::Userauth,
    State::Authenticated,
    State::Rekey,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
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
pub fn expect(victim_server: bool, state: State, n: u8) -> Expect {
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
        (Authenticated, _) if undefined_conn => Unimplemented,
        (Authenticated, _) => Fatal(PROTO),
    }
}

pub fn check(victim_server: bool, state: State, n: u8, failures: &mut Vec<String>) {
    let want = expect(victim_server, state, n);
    let seed = u64::from(n) << 8 | state as u64;
    let o = scenario(
        victim_server,
        state,
        vec![minimal_message(n, !victim_server)],
        seed,
    );
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

pub fn matrix(victim_server: bool, state: State) {
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
