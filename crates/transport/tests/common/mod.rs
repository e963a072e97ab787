//! Shared helpers: the `Pair` endpoint wrapper, keys and configurations.
#![allow(dead_code, unreachable_pub)]

use std::sync::OnceLock;
use std::time::Instant;

use bytes::BytesMut;
use chacha20::ChaCha20Rng;
use rand_core::SeedableRng;
use whelk_keys::{Curve, KeyGen, PrivateKey};
use whelk_test::pair::{Endpoint, Pair, Side};
use whelk_transport::{ClientConfig, Connection, Event, HostKeyDecision, ServerConfig};

/// `Connection` as a `Pair` endpoint.
pub struct T(pub Connection);

impl Endpoint for T {
    type Event = Event;
    fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<usize, String> {
        self.0.handle_input(now, data).map_err(|e| e.to_string())
    }
    fn poll_transmit(&mut self, now: Instant, out: &mut BytesMut) -> usize {
        self.0.poll_transmit(now, out)
    }
    fn poll_event(&mut self) -> Option<Event> {
        self.0.poll_event()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.0.poll_timeout()
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.0.handle_timeout(now);
    }
}

pub fn rng(seed: u64) -> Box<ChaCha20Rng> {
    Box::new(ChaCha20Rng::seed_from_u64(seed))
}

pub fn ed25519() -> PrivateKey {
    PrivateKey::ed25519_from_seed(&[7; 32])
}

pub fn ecdsa(curve: Curve) -> PrivateKey {
    PrivateKey::generate(KeyGen::Ecdsa(curve), &mut ChaCha20Rng::seed_from_u64(11)).unwrap()
}

pub fn rsa() -> PrivateKey {
    static KEY: OnceLock<PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| {
        PrivateKey::generate(
            KeyGen::Rsa { bits: 2048 },
            &mut ChaCha20Rng::seed_from_u64(12),
        )
        .unwrap()
    })
    .clone()
}

pub fn all_host_keys() -> Vec<PrivateKey> {
    vec![
        ed25519(),
        ecdsa(Curve::NistP256),
        ecdsa(Curve::NistP384),
        ecdsa(Curve::NistP521),
        rsa(),
    ]
}

/// A client and a server whose responders accept the host key and record everything.
pub fn pair_with(client: ClientConfig, server: ServerConfig, seed: u64) -> Pair<T> {
    let now = Instant::now();
    let c = Connection::client(client, rng(seed), now).unwrap();
    let s = Connection::server(server, rng(seed + 1), now).unwrap();
    let mut p = Pair::new(T(c), T(s), now, seed);
    p.set_responder(
        Side::Client,
        Box::new(|c: &mut T, ev| match ev {
            Event::HostKey(check) => {
                c.0.respond(check, HostKeyDecision::Accept).ok();
                None
            }
            other => Some(other),
        }),
    );
    p
}

pub fn pair(seed: u64) -> Pair<T> {
    pair_with(
        ClientConfig::default(),
        ServerConfig::new(vec![ed25519()]),
        seed,
    )
}

pub fn established(p: &mut Pair<T>) -> bool {
    p.client.0.is_established() && p.server.0.is_established()
}

/// Drives to the end of the first key exchange and panics with the state otherwise.
pub fn handshake(p: &mut Pair<T>) {
    p.drive_bounded(100_000, established)
        .unwrap_or_else(|e| panic!("{e}: {p:?} client {:?} server {:?}", p.client.0, p.server.0));
}

pub fn kex_done_count(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::KexDone(_)))
        .count()
}

pub fn disconnect_reason(events: &[Event]) -> Option<whelk_transport::DisconnectReason> {
    events.iter().find_map(|e| match e {
        Event::Disconnected { reason, .. } => Some(*reason),
        _ => None,
    })
}

/// The upper layer authenticated: lets either side start re-exchanges.
pub fn authenticate(p: &mut Pair<T>) {
    p.client.0.authenticated();
    p.server.0.authenticated();
}
