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

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use rand_core::SeedableRng;
use whelk::{
    Answer, ClientConfig, ClientConnection, Decision, Event, HostKeyDecision, PrivateKey,
    ServerConfig, ServerConnection,
};
use whelk_test::hostile::{Hostile, Peer, PeerEvent};
use whelk_test::pair::{Pair, Side};

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
