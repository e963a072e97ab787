//! Shared setup of the security suite: whelk victims (facade client/server) against the
//! hostile peer in a `Pair`, and a log of the victim's application events.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod matrix;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use rand_core::SeedableRng;
use whelk::DisconnectReason as R;
use whelk::{
    Answer, ClientConfig, ClientConnection, Decision, Event, HostKeyDecision, PrivateKey,
    ServerConfig, ServerConnection,
};
use whelk_test::hostile::{Enc, Hostile, Peer, PeerEvent};
use whelk_test::pair::{Pair, Side};
use whelk_transport::Event as TEvent;

pub const USER: &str = "alice";
pub const PASSWORD: &str = "correct horse";

pub fn host_key() -> PrivateKey {
    PrivateKey::ed25519_from_seed(&[3; 32])
}

pub fn rng(seed: u64) -> chacha20::ChaCha20Rng {
    chacha20::ChaCha20Rng::seed_from_u64(seed)
}

/// The victim server: facade defaults, an Ed25519 host key, password auth for alice.
pub fn server_config() -> ServerConfig {
    ServerConfig::new(vec![host_key()])
}

pub fn client_config() -> ClientConfig {
    ClientConfig::new(USER)
}

pub fn victim_server(config: ServerConfig, seed: u64, now: Instant) -> Peer {
    Peer::Server(Box::new(
        ServerConnection::new(config, rng(seed), now).unwrap(),
    ))
}

pub fn victim_client(config: ClientConfig, seed: u64, now: Instant) -> Peer {
    Peer::Client(Box::new(
        ClientConnection::new(config, rng(seed), now).unwrap(),
    ))
}

/// Transport settings of the hostile peer: cheap curve25519 + Ed25519, AES-CTR with an
/// EtM MAC, strict kex as given.
pub fn hostile_transport(strict: bool) -> whelk_transport::Config {
    let mut c = whelk_transport::Config::default();
    c.algorithms.kex = vec!["curve25519-sha256".into()];
    c.algorithms.host_key = vec!["ssh-ed25519".into()];
    c.strict_kex = strict;
    c
}

/// What the victim did, in order: application events (by name) and markers the test adds.
pub type Log = Rc<RefCell<Vec<String>>>;

/// Whether a facade event reaches the application (a handler call in an adapter).
pub fn is_application_event(ev: &Event) -> bool {
    matches!(
        ev,
        Event::AuthRequest(_)
            | Event::Authenticated { .. }
            | Event::Credentials(_)
            | Event::Banner(_)
            | Event::PartialSuccess { .. }
            | Event::Channel(_)
    )
}

pub fn event_name(ev: &Event) -> String {
    let s = format!("{ev:?}");
    s.split(['(', ' ', '{']).next().unwrap_or("").to_owned()
}

/// Responder of a victim: accepts the host key, answers credentials with the password,
/// accepts alice's password; logs every application event as `app:<name>`.
pub fn victim_responder(log: Log) -> whelk_test::pair::Responder<Peer> {
    Box::new(move |peer, ev| {
        let PeerEvent::Whelk(ev) = ev else {
            return Some(ev);
        };
        if is_application_event(&ev) {
            log.borrow_mut().push(format!("app:{}", event_name(&ev)));
        }
        if let Event::Disconnected {
            reason, by_peer, ..
        } = &ev
        {
            log.borrow_mut().push(format!(
                "disc:{reason:?}:{}",
                if *by_peer { "peer" } else { "us" }
            ));
        }
        match (peer, ev) {
            (Peer::Client(c), Event::HostKey(check)) => {
                let _ = c.respond_host_key(check, HostKeyDecision::Accept);
                None
            }
            (Peer::Client(c), Event::Credentials(req)) => {
                let _ = c.respond_credentials(req, Answer::Password(PASSWORD.to_owned().into()));
                None
            }
            (Peer::Server(s), Event::AuthRequest(req)) => {
                let ok = req.user == USER
                    && matches!(&req.kind, whelk::RequestKind::Password { password, .. } if password.as_slice() == PASSWORD.as_bytes());
                let decision = if ok {
                    Decision::Accept(whelk::Grant::default())
                } else {
                    Decision::Reject
                };
                let now = Instant::now();
                let _ = s.respond_auth(now, req, decision);
                None
            }
            (Peer::Server(s), Event::Channel(whelk::ChannelEvent::OpenRequest(inc))) => {
                let _ = s.accept_channel(inc);
                None
            }
            (Peer::Client(c), Event::Channel(whelk::ChannelEvent::OpenRequest(inc))) => {
                // A client victim refuses what it did not ask for (C13).
                let _ = c.reject_channel(
                    inc,
                    whelk::ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED,
                    "not requested",
                );
                None
            }
            (_, ev) => Some(PeerEvent::Whelk(ev)),
        }
    })
}

/// A pair: `client` first.
pub fn pair(client: Peer, server: Peer, now: Instant, seed: u64) -> Pair<Peer> {
    Pair::new(client, server, now, seed)
}

/// The side the hostile peer is on.
pub fn hostile_side(p: &Pair<Peer>) -> Side {
    if p.client.hostile_ref().is_some() {
        Side::Client
    } else {
        Side::Server
    }
}

pub fn hostile(p: &mut Pair<Peer>) -> &mut Hostile {
    match hostile_side(p) {
        Side::Client => p.client.hostile().unwrap(),
        Side::Server => p.server.hostile().unwrap(),
    }
}

pub fn hostile_ref(p: &Pair<Peer>) -> &Hostile {
    match hostile_side(p) {
        Side::Client => p.client.hostile_ref().unwrap(),
        Side::Server => p.server.hostile_ref().unwrap(),
    }
}

pub fn victim_ref(p: &Pair<Peer>) -> &whelk::Connection {
    match hostile_side(p) {
        Side::Client => p.server.whelk_ref().unwrap(),
        Side::Server => p.client.whelk_ref().unwrap(),
    }
}

/// Drives until quiet (no timer needed), then lets virtual time run up to 10 s so delayed
/// answers (auth failure delay) come out; never more than `max` steps.
pub fn settle(p: &mut Pair<Peer>, max: usize) {
    let _ = p.drive_quiet(max);
    let deadline = p.now + std::time::Duration::from_secs(10);
    let _ = p.drive_bounded(max, |p| {
        p.now >= deadline || victim_ref(p).is_closed() || next_timer(p).is_none_or(|t| t > deadline)
    });
    let _ = p.drive_quiet(max);
}

fn next_timer(p: &Pair<Peer>) -> Option<Instant> {
    use whelk_test::pair::Endpoint;
    match (p.client.poll_timeout(), p.server.poll_timeout()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
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

pub struct Outcome {
    /// The victim's DISCONNECT as the hostile peer read it.
    pub disconnect: Option<(R, String)>,
    /// UNIMPLEMENTED sequence numbers the hostile peer received.
    pub unimplemented: Vec<u32>,
    /// The sequence number of the injected packet (when it was the last one sent).
    pub injected_seq: u32,
    /// Application events after the injection.
    pub app_after: Vec<String>,
    pub victim_closed: bool,
    /// The victim's latched error, if any.
    pub victim_error: Option<String>,
    /// Message numbers the hostile peer received, in order.
    pub received: Vec<u8>,
    /// Whether the victim authenticated the hostile peer (server) or believes it is
    /// authenticated (client).
    pub victim_authenticated: bool,
}

pub fn marker(log: &Log) {
    log.borrow_mut().push("INJECTED".to_owned());
}

/// Drives the hostile peer against a whelk victim to `state`, injects `msgs` there (in
/// order), lets everything settle and reports.
pub fn scenario(victim_server: bool, state: State, msgs: Vec<Bytes>, seed: u64) -> Outcome {
    scenario_then(victim_server, state, msgs, None, seed)
}

/// [`scenario`], and once the victim sends message number `then.0` after the injection,
/// the hostile peer sends `then.1` too.
pub fn scenario_then(
    victim_server: bool,
    state: State,
    msgs: Vec<Bytes>,
    then: Option<(u8, Vec<Bytes>)>,
    seed: u64,
) -> Outcome {
    let mut then = then;
    let now = Instant::now();
    let log: Log = Log::default();
    let strict = state != State::BeforeKex;
    let last = msgs.last().cloned().unwrap_or_default();
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
            let m = msgs.clone();
            let mut done = false;
            h.filter(move |p| {
                if done || p.first() != Some(&20) {
                    return vec![p];
                }
                done = true;
                let mut out = m.clone();
                if before {
                    out.push(p);
                } else {
                    out.insert(0, p);
                }
                out
            });
            marker(&log);
        }
        State::AfterNewKeys => {
            for m in &msgs {
                h.send(m.clone());
            }
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
                if let (PeerEvent::Transport(TEvent::Payload(b)), Some((n, _))) = (&ev, &then)
                    && b.first() == Some(n)
                {
                    for m in then.take().map(|t| t.1).unwrap_or_default() {
                        h.send(m);
                    }
                }
                return Some(ev);
            }
            let inject = |h: &mut Hostile, now_too: bool| {
                for m in &msgs {
                    if now_too {
                        h.send_now(m.clone());
                    } else {
                        h.send(m.clone());
                    }
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
    let injected_seq = h.seq_of(&last).unwrap_or(u32::MAX);
    let victim_error = victim.error().map(ToString::to_string);
    let victim_authenticated = victim.is_authenticated();
    let received = h.received_numbers();
    let log = log.borrow();
    let at = log.iter().position(|l| l == "INJECTED");
    assert!(at.is_some(), "{state:?}: never reached the state");
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
        victim_error,
        received,
        victim_authenticated,
    }
}

pub fn victim_server_peer(now: Instant, seed: u64) -> Peer {
    victim_server(server_config(), seed + 1000, now)
}

pub fn victim_client_peer(now: Instant, seed: u64) -> Peer {
    let mut c = client_config();
    c.auth.methods = vec![whelk::Method::Password];
    victim_client(c, seed + 1000, now)
}

/// A hostile client authenticated (password) to a whelk victim server with `config`; the
/// hostile transport uses `transport`. Returns the pair (hostile = client) and the victim's
/// log.
pub fn authenticated_pair(
    config: ServerConfig,
    transport: whelk_transport::Config,
    seed: u64,
) -> (Pair<Peer>, Log) {
    let now = Instant::now();
    let log: Log = Log::default();
    let mut h = Hostile::client(transport, seed, now);
    h.conn.request_service("ssh-userauth").unwrap();
    let mut p = pair(
        Peer::Hostile(Box::new(h)),
        victim_server(config, seed + 1, now),
        now,
        seed + 2,
    );
    p.set_responder(Side::Server, victim_responder(log.clone()));
    let done = Rc::new(RefCell::new(false));
    let d2 = done.clone();
    p.set_responder(
        Side::Client,
        Box::new(move |peer, ev| {
            let h = peer.hostile().unwrap();
            match &ev {
                PeerEvent::Transport(TEvent::ServiceAccepted(_)) => h.send(
                    Enc::msg(50)
                        .string(USER.as_bytes())
                        .string(b"ssh-connection")
                        .string(b"password")
                        .bool(false)
                        .string(PASSWORD.as_bytes())
                        .done(),
                ),
                PeerEvent::Transport(TEvent::Payload(b)) if b.first() == Some(&52) => {
                    h.conn.authenticated();
                    *d2.borrow_mut() = true;
                }
                _ => {}
            }
            None
        }),
    );
    p.drive_bounded(10_000, |_| *done.borrow()).unwrap();
    let _ = p.drive_quiet(1000);
    (p, log)
}
