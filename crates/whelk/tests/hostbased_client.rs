//! `ClientConnection::set_hostbased` (RFC 4252 section 9) in memory, through whelk-test's
//! `Pair`: hostbased goes first, the client host name carries exactly one trailing dot,
//! the server verifies the signature, and the identity can only be set before
//! authentication starts.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use bytes::BytesMut;
use rand_core::SeedableRng;
use whelk::*;
use whelk_test::pair::{Endpoint, Pair, Side};

fn rng(seed: u8) -> chacha20::ChaCha20Rng {
    chacha20::ChaCha20Rng::from_seed([seed; 32])
}

enum Peer {
    Client(ClientConnection),
    Server(ServerConnection),
}

impl Peer {
    fn conn(&mut self) -> &mut Connection {
        match self {
            Self::Client(c) => c,
            Self::Server(s) => s,
        }
    }
    fn view(&self) -> &Connection {
        match self {
            Self::Client(c) => c,
            Self::Server(s) => s,
        }
    }
    fn client(&mut self) -> &mut ClientConnection {
        match self {
            Self::Client(c) => c,
            Self::Server(_) => panic!("not a client"),
        }
    }
}

impl Endpoint for Peer {
    type Event = Event;
    fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<usize, String> {
        self.conn()
            .handle_input(now, data)
            .map_err(|e| e.to_string())
    }
    fn poll_transmit(&mut self, now: Instant, out: &mut BytesMut) -> usize {
        self.conn().poll_transmit(now, out)
    }
    fn poll_event(&mut self) -> Option<Event> {
        self.conn().poll_event()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.view().poll_timeout()
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.conn().handle_timeout(now);
    }
}

fn host_key() -> PrivateKey {
    PrivateKey::ed25519_from_seed(&[9; 32])
}

fn identity(client_host: &str) -> HostbasedIdentity {
    HostbasedIdentity {
        signer: Box::new(KeySigner::new(host_key(), rng(4))),
        client_host: client_host.to_string(),
        client_user: "bob".to_string(),
    }
}

/// What the server saw: the methods of each request (after `none`) and hostbased names.
#[derive(Default)]
struct Seen {
    methods: Vec<Method>,
    hostbased: Vec<(String, String)>,
    authenticated: bool,
}

/// Runs a client with `client_host` (and a publickey identity the server would accept
/// too) against a server accepting that publickey key and, if `trust_host`, hostbased
/// from [`host_key`].
fn run(client_host: &str, trust_host: bool) -> (Seen, ClientConnection) {
    let now = Instant::now();
    let user_key = PrivateKey::ed25519_from_seed(&[42; 32]);
    let mut client = ClientConnection::new(ClientConfig::new("alice"), rng(1), now).unwrap();
    client
        .add_identity(Box::new(KeySigner::new(user_key.clone(), rng(3))))
        .unwrap();
    client.set_hostbased(identity(client_host)).unwrap();
    let mut config = ServerConfig::new(vec![PrivateKey::ed25519_from_seed(&[7; 32])]);
    config.auth.methods.push(Method::HostBased);
    let server = ServerConnection::new(config, rng(2), now).unwrap();
    let mut pair = Pair::new(Peer::Client(client), Peer::Server(server), now, 7);
    let seen = Rc::new(RefCell::new(Seen::default()));
    let log = seen.clone();
    pair.set_responder(
        Side::Client,
        Box::new(move |peer, ev| {
            let c = peer.client();
            match ev {
                Event::HostKey(check) => {
                    c.respond_host_key(check, HostKeyDecision::Accept).unwrap();
                }
                Event::Authenticated { .. } => log.borrow_mut().authenticated = true,
                other => return Some(other),
            }
            None
        }),
    );
    let log = seen.clone();
    let trusted = host_key().public_key().clone();
    let authorized = user_key.public_key().clone();
    pair.set_responder(
        Side::Server,
        Box::new(move |peer, ev| {
            let Peer::Server(s) = peer else {
                panic!("not a server")
            };
            match ev {
                Event::AuthRequest(req) => {
                    let mut log = log.borrow_mut();
                    let accept = match &req.kind {
                        RequestKind::None => false,
                        RequestKind::HostBased {
                            key,
                            client_host,
                            client_user,
                            ..
                        } => {
                            log.methods.push(Method::HostBased);
                            log.hostbased
                                .push((client_host.clone(), client_user.clone()));
                            trust_host && key.public_key() == &trusted
                        }
                        RequestKind::PublicKey { key, .. } => {
                            log.methods.push(Method::PublicKey);
                            key.public_key() == &authorized
                        }
                        _ => false,
                    };
                    let d = if accept {
                        Decision::Accept(Grant::default())
                    } else {
                        Decision::Reject
                    };
                    s.respond_auth(Instant::now(), req, d).unwrap();
                }
                other => return Some(other),
            }
            None
        }),
    );
    let log = seen.clone();
    pair.drive_bounded(500, |_| log.borrow().authenticated)
        .unwrap();
    let Peer::Client(client) = pair.client else {
        panic!("not a client")
    };
    let seen = std::mem::take(&mut *seen.borrow_mut());
    (seen, client)
}

#[test]
fn hostbased_goes_first_with_one_trailing_dot() {
    for name in ["client.example", "client.example."] {
        let (seen, _) = run(name, true);
        assert!(seen.authenticated);
        // Accepted at once: publickey was never asked.
        assert_eq!(seen.methods, [Method::HostBased]);
        assert_eq!(
            seen.hostbased,
            [("client.example.".to_string(), "bob".to_string())]
        );
    }
}

#[test]
fn set_hostbased_after_authentication_is_a_usage_error() {
    let (_, mut client) = run("client.example", true);
    assert!(client.is_authenticated());
    let e = client.set_hostbased(identity("late.example")).unwrap_err();
    assert!(matches!(e, Error::Usage(_)), "{e:?}");
}

#[test]
fn a_refused_host_falls_back_to_publickey() {
    let (seen, client) = run("client.example", false);
    assert!(client.is_authenticated());
    // The publickey query, then the signed request.
    assert_eq!(
        seen.methods,
        [Method::HostBased, Method::PublicKey, Method::PublicKey]
    );
}
