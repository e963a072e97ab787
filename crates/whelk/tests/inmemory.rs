//! In-memory client <-> server through whelk-test's `Pair` (virtual clock, seeded splits).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use rand_core::SeedableRng;
use whelk::*;
use whelk_test::pair::{Delivery, Endpoint, Pair, Side};

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
    fn client(&mut self) -> &mut ClientConnection {
        match self {
            Self::Client(c) => c,
            Self::Server(_) => panic!("not a client"),
        }
    }
    fn server(&mut self) -> &mut ServerConnection {
        match self {
            Self::Server(s) => s,
            Self::Client(_) => panic!("not a server"),
        }
    }
    fn view(&self) -> &Connection {
        match self {
            Self::Client(c) => c,
            Self::Server(s) => s,
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

fn user_key() -> PrivateKey {
    PrivateKey::ed25519_from_seed(&[42; 32])
}

/// What the client side saw, per channel.
#[derive(Default, Debug)]
struct ClientLog {
    stdout: BTreeMap<ChannelId, Vec<u8>>,
    stderr: BTreeMap<ChannelId, Vec<u8>>,
    exit: BTreeMap<ChannelId, u32>,
    exit_signal: BTreeMap<ChannelId, String>,
    closed: BTreeSet<ChannelId>,
    confirmed: BTreeSet<ChannelId>,
    replies: Vec<(ChannelId, bool)>,
    authenticated: bool,
    forwarded: Vec<String>,
    global: Vec<(bool, Option<u32>)>,
}

/// What the server side saw.
#[derive(Default, Debug)]
struct ServerLog {
    requests: Vec<String>,
    users: Vec<String>,
    cat: BTreeSet<ChannelId>,
    data: BTreeMap<ChannelId, Vec<u8>>,
}

type Responder = Box<dyn FnMut(&mut Peer, Event) -> Option<Event>>;

fn client_responder(log: Rc<RefCell<ClientLog>>, password: &'static str) -> Responder {
    Box::new(move |peer, ev| {
        let c = peer.client();
        let mut log = log.borrow_mut();
        match ev {
            Event::HostKey(check) => c.respond_host_key(check, HostKeyDecision::Accept).unwrap(),
            Event::Credentials(req) => c
                .respond_credentials(req, Answer::Password(password.to_string().into()))
                .unwrap(),
            Event::Authenticated { .. } => log.authenticated = true,
            Event::Channel(ChannelEvent::OpenConfirmed { id }) => {
                log.confirmed.insert(id);
            }
            Event::Channel(ChannelEvent::OpenRequest(inc)) => {
                log.forwarded.push(format!("{:?}", inc.kind()));
                let id = c.accept_channel(inc).unwrap();
                c.write(id, b"from client").unwrap();
            }
            Event::Channel(ChannelEvent::GlobalRequestResult {
                success,
                bound_port,
                ..
            }) => log.global.push((success, bound_port)),
            Event::Channel(ChannelEvent::Data { id }) => {
                while let Some(b) = c.read(id, 4096) {
                    log.stdout.entry(id).or_default().extend_from_slice(&b);
                }
            }
            Event::Channel(ChannelEvent::ExtendedData { id }) => {
                while let Some(b) = c.read_stderr(id, 4096) {
                    log.stderr.entry(id).or_default().extend_from_slice(&b);
                }
            }
            Event::Channel(ChannelEvent::Request { id, kind, .. }) => match kind {
                ChannelRequestKind::ExitStatus { status } => {
                    log.exit.insert(id, status);
                }
                ChannelRequestKind::ExitSignal { signal, .. } => {
                    log.exit_signal.insert(id, signal.to_string());
                }
                _ => {}
            },
            Event::Channel(ChannelEvent::RequestResult { id, success, .. }) => {
                log.replies.push((id, success));
            }
            Event::Channel(ChannelEvent::Closed { id }) => {
                // Read what is left, then close our side.
                while let Some(b) = c.read(id, 4096) {
                    log.stdout.entry(id).or_default().extend_from_slice(&b);
                }
                let _ = c.close(id);
                log.closed.insert(id);
            }
            other => return Some(other),
        }
        None
    })
}

fn server_responder(log: Rc<RefCell<ServerLog>>) -> Responder {
    let authorized = user_key().public_key().to_openssh("alice@test");
    let policy = AuthorizedKeysPolicy::new(&authorized);
    Box::new(move |peer, ev| {
        let s = peer.server();
        let mut log = log.borrow_mut();
        match ev {
            Event::AuthRequest(req) => {
                let d = match &req.kind {
                    RequestKind::Password { password, .. } if password.as_slice() == b"pw" => {
                        Decision::Accept(Grant::default())
                    }
                    RequestKind::PublicKey { .. } => policy.decide(&req, 1_750_000_000),
                    _ => Decision::Reject,
                };
                // The virtual clock is not visible here: answer "now" as of the request.
                s.respond_auth(Instant::now(), req, d).unwrap();
            }
            Event::Authenticated { user, .. } => log.users.push(user),
            Event::Channel(ChannelEvent::OpenRequest(inc)) => {
                if !matches!(inc.kind(), ChannelOpenKind::Session) {
                    log.requests.push(format!("open {:?}", inc.kind()));
                }
                s.accept_channel(inc).unwrap();
            }
            Event::Channel(ChannelEvent::GlobalRequest {
                kind: GlobalRequestKind::TcpipForward { address, port },
                token: Some(token),
            }) => {
                log.requests.push(format!("tcpip-forward {address}:{port}"));
                let reply = if port == 0 {
                    GlobalReply::BoundPort(4242)
                } else {
                    GlobalReply::Success
                };
                s.respond_global(token, reply).unwrap();
            }
            Event::Channel(ChannelEvent::Request { id, kind, token }) => {
                if let Some(t) = token {
                    s.respond_request(t, true).unwrap();
                }
                match kind {
                    ChannelRequestKind::Exec { command } => {
                        let cmd = String::from_utf8_lossy(&command).to_string();
                        log.requests.push(format!("exec {cmd}"));
                        if cmd == "cat" {
                            log.cat.insert(id);
                        } else if let Some(rest) = cmd.strip_prefix("echo ") {
                            s.write(id, format!("{rest}\n").as_bytes()).unwrap();
                            s.write_stderr(id, b"err\n").unwrap();
                            s.exit_status(id, 3).unwrap();
                            s.eof(id).unwrap();
                            s.close(id).unwrap();
                        }
                    }
                    ChannelRequestKind::PtyReq {
                        term,
                        columns,
                        rows,
                        ..
                    } => log.requests.push(format!("pty {term} {columns}x{rows}")),
                    ChannelRequestKind::WindowChange { columns, rows, .. } => {
                        log.requests.push(format!("winch {columns}x{rows}"));
                    }
                    ChannelRequestKind::Shell => log.requests.push("shell".into()),
                    ChannelRequestKind::Signal { name } => {
                        log.requests.push(format!("signal {name}"));
                        s.exit_signal(id, &name.to_string(), false, "").unwrap();
                        s.close(id).unwrap();
                    }
                    other => log.requests.push(format!("{other:?}")),
                }
            }
            Event::Channel(ChannelEvent::Data { id }) => {
                while let Some(b) = s.read(id, 4096) {
                    if log.cat.contains(&id) {
                        assert_eq!(s.write(id, &b).unwrap(), b.len());
                    } else {
                        log.data.entry(id).or_default().extend_from_slice(&b);
                    }
                }
            }
            Event::Channel(ChannelEvent::Eof { id }) if log.cat.contains(&id) => {
                s.exit_status(id, 0).unwrap();
                s.eof(id).unwrap();
                s.close(id).unwrap();
            }
            Event::Channel(ChannelEvent::Closed { id }) => {
                let _ = s.close(id);
            }
            other => return Some(other),
        }
        None
    })
}

struct Setup {
    pair: Pair<Peer>,
    client: Rc<RefCell<ClientLog>>,
    server: Rc<RefCell<ServerLog>>,
}

fn setup(password: &'static str, with_key: bool, delivery: Delivery) -> Setup {
    let now = Instant::now();
    let host = PrivateKey::ed25519_from_seed(&[7; 32]);
    let mut client = ClientConnection::new(ClientConfig::new("alice"), rng(1), now).unwrap();
    if with_key {
        client
            .add_identity(Box::new(KeySigner::new(user_key(), rng(3))))
            .unwrap();
    }
    let server = ServerConnection::new(ServerConfig::new(vec![host]), rng(2), now).unwrap();
    let mut pair =
        Pair::new(Peer::Client(client), Peer::Server(server), now, 7).with_delivery(delivery);
    let client = Rc::new(RefCell::new(ClientLog::default()));
    let server = Rc::new(RefCell::new(ServerLog::default()));
    pair.set_responder(Side::Client, client_responder(client.clone(), password));
    pair.set_responder(Side::Server, server_responder(server.clone()));
    Setup {
        pair,
        client,
        server,
    }
}

#[test]
fn exec_stdout_stderr_exit_status() {
    let mut s = setup("pw", false, Delivery::Whole);
    let ch = s.pair.client.client().open_session().unwrap();
    s.pair.client.client().exec(ch, b"echo hi").unwrap();
    let log = s.client.clone();
    s.pair
        .drive_bounded(500, |_| log.borrow().closed.contains(&ch))
        .unwrap();
    let log = s.client.borrow();
    assert!(log.authenticated);
    assert_eq!(log.stdout[&ch], b"hi\n");
    assert_eq!(log.stderr[&ch], b"err\n");
    assert_eq!(log.exit[&ch], 3);
    assert_eq!(log.replies, [(ch, true)]);
    assert_eq!(s.server.borrow().users, ["alice"]);
    assert_eq!(s.server.borrow().requests, ["exec echo hi"]);
}

#[test]
fn stdin_through_cat_with_random_splits() {
    let mut s = setup("pw", false, Delivery::Random { max: 7 });
    let ch = s.pair.client.client().open_session().unwrap();
    s.pair.client.client().exec(ch, b"cat").unwrap();
    let log = s.client.clone();
    s.pair
        .drive_bounded(5000, |_| log.borrow().confirmed.contains(&ch))
        .unwrap();
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let mut off = 0;
    while off < data.len() {
        off += s.pair.client.client().write(ch, &data[off..]).unwrap();
        s.pair.step();
    }
    s.pair.client.client().eof(ch).unwrap();
    s.pair
        .drive_bounded(200_000, |_| log.borrow().closed.contains(&ch))
        .unwrap();
    let log = s.client.borrow();
    assert_eq!(log.stdout[&ch].len(), data.len());
    assert!(log.stdout[&ch] == data);
    assert_eq!(log.exit[&ch], 0);
}

#[test]
fn several_sessions_at_once() {
    let mut s = setup("pw", false, Delivery::Whole);
    let ids: Vec<ChannelId> = (0..5)
        .map(|i| {
            let c = s.pair.client.client();
            let ch = c.open_session().unwrap();
            c.exec(ch, format!("echo n{i}").as_bytes()).unwrap();
            ch
        })
        .collect();
    let log = s.client.clone();
    let want = ids.clone();
    s.pair
        .drive_bounded(1000, |_| {
            want.iter().all(|c| log.borrow().closed.contains(c))
        })
        .unwrap();
    s.pair.drive_quiet(100).unwrap();
    let log = s.client.borrow();
    for (i, ch) in ids.iter().enumerate() {
        assert_eq!(log.stdout[ch], format!("n{i}\n").as_bytes());
        assert_eq!(log.exit[ch], 3);
    }
    assert_eq!(s.pair.client.view().channels().channel_count(), 0);
}

#[test]
fn pty_window_change_and_signal() {
    let mut s = setup("pw", false, Delivery::Whole);
    let c = s.pair.client.client();
    let ch = c.open_session().unwrap();
    c.request_pty(ch, "xterm-256color", 80, 24, Bytes::new())
        .unwrap();
    c.shell(ch).unwrap();
    c.window_change(ch, 120, 40).unwrap();
    c.signal(ch, "TERM").unwrap();
    let log = s.client.clone();
    s.pair
        .drive_bounded(500, |_| log.borrow().closed.contains(&ch))
        .unwrap();
    assert_eq!(
        s.server.borrow().requests,
        [
            "pty xterm-256color 80x24",
            "shell",
            "winch 120x40",
            "signal TERM"
        ]
    );
    let log = s.client.borrow();
    assert_eq!(log.exit_signal[&ch], "TERM");
    assert_eq!(log.replies, [(ch, true), (ch, true)]);
}

#[test]
fn publickey_authentication() {
    let mut s = setup("wrong", true, Delivery::Whole);
    let ch = s.pair.client.client().open_session().unwrap();
    s.pair.client.client().exec(ch, b"echo key").unwrap();
    let log = s.client.clone();
    s.pair
        .drive_bounded(500, |_| log.borrow().closed.contains(&ch))
        .unwrap();
    assert_eq!(s.client.borrow().stdout[&ch], b"key\n");
    assert_eq!(s.server.borrow().users, ["alice"]);
}

#[test]
fn wrong_password_ends_the_connection() {
    let mut s = setup("wrong", false, Delivery::Whole);
    let _ = s.pair.client.client().open_session().unwrap();
    let _ = s.pair.drive_bounded(2000, |p| p.client.view().is_closed());
    s.pair.drive_quiet(100).unwrap();
    let c = s.pair.client.view();
    assert!(c.is_closed(), "{:?}", c.error());
    assert!(!c.is_authenticated());
    assert!(s.server.borrow().requests.is_empty());
    let e = c.error().unwrap();
    assert_eq!(
        e.disconnect_reason(),
        DisconnectReason::NO_MORE_AUTH_METHODS_AVAILABLE
    );
    assert!(
        s.pair
            .client_events
            .iter()
            .any(|e| matches!(e, Event::Disconnected { .. }))
    );
}

/// A raw transport client that skips authentication and opens a channel: the server's
/// facade must treat the connection-protocol message as fatal (catalog A02).
#[test]
fn connection_message_before_auth_is_fatal() {
    // Before the userauth service: the transport refuses it; after it, before success: the
    // facade's phase routing does.
    let e = channel_open_before_auth(false);
    assert!(matches!(e, Error::Transport(_)), "{e:?}");
    let e = channel_open_before_auth(true);
    assert!(matches!(e, Error::Protocol(_)), "{e:?}");
}

fn channel_open_before_auth(after_service: bool) -> Error {
    use whelk_transport::{Event as T, HostKeyDecision as D};
    let now = Instant::now();
    let host = PrivateKey::ed25519_from_seed(&[7; 32]);
    let mut server = ServerConnection::new(ServerConfig::new(vec![host]), rng(2), now).unwrap();
    let mut raw = whelk_transport::Connection::client(
        whelk_transport::ClientConfig::default(),
        Box::new(rng(1)),
        now,
    )
    .unwrap();
    let mut peer_disconnect = None;
    let mut sent = false;
    for _ in 0..50 {
        let mut buf = BytesMut::new();
        let _ = raw.poll_transmit(now, &mut buf);
        let _ = server.handle_input(now, &buf);
        let mut buf = BytesMut::new();
        let _ = server.poll_transmit(now, &mut buf);
        let _ = raw.handle_input(now, &buf);
        while let Some(ev) = raw.poll_event() {
            match ev {
                T::HostKey(c) => raw.respond(c, D::Accept).unwrap(),
                T::KexDone(_) if after_service => raw.request_service("ssh-userauth").unwrap(),
                T::KexDone(_) | T::ServiceAccepted(_) if !sent => {
                    sent = true;
                    // SSH_MSG_CHANNEL_OPEN "session", sender 0, window 2 MiB, packet 32 KiB.
                    let mut p = vec![90u8, 0, 0, 0, 7];
                    p.extend_from_slice(b"session");
                    p.extend_from_slice(&[0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 0x80, 0]);
                    raw.send_payload(Bytes::from(p)).unwrap();
                }
                T::Disconnected {
                    reason,
                    by_peer: true,
                    ..
                } => peer_disconnect = Some(reason),
                _ => {}
            }
        }
        while server.poll_event().is_some() {}
    }
    assert!(sent);
    assert_eq!(peer_disconnect, Some(DisconnectReason::PROTOCOL_ERROR));
    assert!(!server.is_authenticated());
    server.error().cloned().unwrap()
}

/// Connections move into async driver tasks.
#[test]
fn connections_are_send() {
    fn is_send<T: Send>() {}
    is_send::<ClientConnection>();
    is_send::<ServerConnection>();
}

#[test]
fn port_forwarding_requests_and_channels() {
    let mut s = setup("pw", false, Delivery::Whole);
    // Remote forwarding: the server binds a port and opens forwarded-tcpip channels back.
    s.pair
        .client
        .client()
        .tcpip_forward("127.0.0.1", 0)
        .unwrap();
    // Local forwarding: the client opens direct-tcpip channels.
    let direct = s
        .pair
        .client
        .client()
        .open_direct_tcpip("db.internal", 5432, "127.0.0.1", 40000)
        .unwrap();
    let log = s.client.clone();
    s.pair
        .drive_bounded(500, |_| {
            let l = log.borrow();
            !l.global.is_empty() && l.confirmed.contains(&direct)
        })
        .unwrap();
    assert_eq!(s.client.borrow().global, [(true, Some(4242))]);
    let fwd = s
        .pair
        .server
        .server()
        .open_forwarded_tcpip("127.0.0.1", 4242, "203.0.113.9", 5555)
        .unwrap();
    s.pair.drive_quiet(200).unwrap();
    assert_eq!(s.client.borrow().forwarded.len(), 1);
    assert!(s.client.borrow().forwarded[0].contains("ForwardedTcpip"));
    // The data the client wrote on the forwarded channel reached the server.
    assert_eq!(s.server.borrow().data[&fwd], b"from client");
    let reqs = s.server.borrow().requests.clone();
    assert!(
        reqs.iter().any(|r| r == "tcpip-forward 127.0.0.1:0"),
        "{reqs:?}"
    );
    assert!(
        reqs.iter()
            .any(|r| r.contains("DirectTcpip") && r.contains("db.internal")),
        "{reqs:?}"
    );
}

/// A forwarded-tcpip channel the client never asked for is refused by the client's
/// channel layer (catalog C13), not offered to the application.
#[test]
fn unrequested_forwarded_channel_is_refused() {
    let mut s = setup("pw", false, Delivery::Whole);
    let log = s.client.clone();
    s.pair
        .drive_bounded(500, |_| log.borrow().authenticated)
        .unwrap();
    let fwd = s
        .pair
        .server
        .server()
        .open_forwarded_tcpip("127.0.0.1", 8080, "203.0.113.9", 5555)
        .unwrap();
    s.pair.drive_quiet(200).unwrap();
    assert!(s.client.borrow().forwarded.is_empty());
    assert!(s.pair.server_events.iter().any(|e| matches!(
        e,
        Event::Channel(ChannelEvent::OpenFailed { id, .. }) if *id == fwd
    )));
}

#[test]
fn byte_at_a_time_delivery() {
    let mut s = setup("pw", false, Delivery::Fixed(1));
    let ch = s.pair.client.client().open_session().unwrap();
    s.pair.client.client().exec(ch, b"echo tiny").unwrap();
    let log = s.client.clone();
    s.pair
        .drive_bounded(200_000, |_| log.borrow().closed.contains(&ch))
        .unwrap();
    assert_eq!(s.client.borrow().stdout[&ch], b"tiny\n");
    assert_eq!(s.client.borrow().exit[&ch], 3);
}

/// A bit flipped in flight after authentication: the receiver fails with a MAC error,
/// neither side panics, and both report the end of the connection.
#[test]
fn corrupted_byte_fails_cleanly() {
    let mut s = setup("pw", false, Delivery::Whole);
    let log = s.client.clone();
    s.pair
        .drive_bounded(500, |_| log.borrow().authenticated)
        .unwrap();
    s.pair.set_tamper(Box::new(|side, _, bytes| {
        if side == Side::Server
            && let Some(b) = bytes.get_mut(20)
        {
            *b ^= 0x40;
        }
    }));
    let ch = s.pair.client.client().open_session().unwrap();
    let _ = s.pair.drive_bounded(500, |p| p.client.view().is_closed());
    s.pair.drive_quiet(100).unwrap();
    let c = s.pair.client.view();
    assert!(c.is_closed());
    assert!(
        matches!(c.error(), Some(Error::Transport(_))),
        "{:?}",
        c.error()
    );
    assert!(!s.client.borrow().confirmed.contains(&ch));
    assert!(s.pair.server.view().is_closed());
}

/// After authentication either side may re-key; sessions go on across it.
#[test]
fn rekey_mid_session() {
    let mut s = setup("pw", false, Delivery::Whole);
    let log = s.client.clone();
    s.pair
        .drive_bounded(500, |_| log.borrow().authenticated)
        .unwrap();
    s.pair.drive_quiet(100).unwrap();
    let c = s.pair.client.client();
    let ch = c.open_session().unwrap();
    c.exec(ch, b"cat").unwrap();
    s.pair
        .drive_bounded(500, |_| log.borrow().confirmed.contains(&ch))
        .unwrap();
    let c = s.pair.client.client();
    assert!(c.rekey(), "client re-exchange after authentication");
    assert_eq!(c.write(ch, b"across the rekey").unwrap(), 16);
    c.eof(ch).unwrap();
    s.pair
        .drive_bounded(1000, |_| log.borrow().closed.contains(&ch))
        .unwrap();
    assert_eq!(s.client.borrow().stdout[&ch], b"across the rekey");
    assert_eq!(s.pair.client.view().transport().kex_count(), 2);
}

/// TCP EOF without a DISCONNECT ends the connection with CONNECTION_LOST.
#[test]
fn eof_without_disconnect() {
    let mut s = setup("pw", false, Delivery::Whole);
    let log = s.client.clone();
    s.pair
        .drive_bounded(500, |_| log.borrow().authenticated)
        .unwrap();
    let c = s.pair.client.client();
    assert!(!c.handle_eof());
    assert!(c.is_closed());
    let mut saw = false;
    while let Some(ev) = c.poll_event() {
        if let Event::Disconnected {
            reason, by_peer, ..
        } = ev
        {
            assert_eq!(reason, DisconnectReason::CONNECTION_LOST);
            // The transport counts a lost connection as the peer's doing.
            assert!(by_peer);
            saw = true;
        }
    }
    assert!(saw);
    assert!(c.handle_eof(), "already over");
}
