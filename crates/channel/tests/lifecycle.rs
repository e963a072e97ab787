//! Channel lifecycle: open / confirm / failure, EOF in each direction, CLOSE semantics of
//! RFC 4254 §5.3 and close races, channel id reuse, limits.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Pair, Side, pattern};
use whelk_channel::{ChannelConfig, Config, Error, Event};
use whelk_wire::msg::{ChannelOpenFailureReason, ChannelOpenKind, ExtendedDataType};

fn direct_tcpip() -> ChannelOpenKind {
    ChannelOpenKind::DirectTcpip {
        host: "example.com".into(),
        port: 80,
        originator_address: "127.0.0.1".into(),
        originator_port: 5555,
    }
}

#[test]
fn open_accept_write_read_both_ways() {
    let mut p = Pair::default();
    let (c, s) = p.session();
    assert!(p.client.is_open(c) && p.server.is_open(s));
    assert_eq!(p.client.write(c, b"ping").unwrap(), 4);
    assert_eq!(p.server.write(s, b"pong").unwrap(), 4);
    assert_eq!(
        p.server
            .write_extended(s, ExtendedDataType::STDERR, b"err")
            .unwrap(),
        3
    );
    p.drive();
    assert!(matches!(p.events(Side::Server)[..], [Event::Data { id }] if id == s));
    let evs = p.events(Side::Client);
    assert!(
        matches!(evs[..], [Event::Data { id }, Event::ExtendedData { id: id2 }] if id == c && id2 == c)
    );
    assert_eq!(p.read_all(Side::Server, s), b"ping");
    assert_eq!(p.read_all(Side::Client, c), b"pong");
    let (t, e) = p.client.read_extended(c, 100).unwrap();
    assert_eq!((t, &e[..]), (ExtendedDataType::STDERR, &b"err"[..]));
}

#[test]
fn reject_reports_reason_and_frees_the_slot() {
    let mut p = Pair::default();
    let c = p
        .client
        .open(direct_tcpip(), ChannelConfig::default())
        .unwrap();
    p.drive();
    let Some(Event::OpenRequest(inc)) = p.server.poll_event() else {
        panic!()
    };
    assert_eq!(inc.kind(), &direct_tcpip());
    assert_eq!(p.server.channel_count(), 1);
    p.server
        .reject(
            inc,
            ChannelOpenFailureReason::CONNECT_FAILED,
            "connection refused",
        )
        .unwrap();
    assert_eq!(p.server.channel_count(), 0);
    p.drive();
    let evs = p.events(Side::Client);
    match &evs[..] {
        [
            Event::OpenFailed {
                id,
                reason,
                description,
            },
        ] => {
            assert_eq!(*id, c);
            assert_eq!(*reason, ChannelOpenFailureReason::CONNECT_FAILED);
            assert_eq!(description.as_bytes(), b"connection refused");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p.client.channel_count(), 0);
    assert_eq!(p.client.write(c, b"x"), Err(Error::NoSuchChannel(c)));
}

#[test]
fn eof_from_client_then_server_keeps_writing() {
    let mut p = Pair::default();
    let (c, s) = p.session();
    p.client.write(c, b"input").unwrap();
    p.client.eof(c).unwrap();
    assert_eq!(p.client.write(c, b"more"), Err(Error::WriteAfterEof(c)));
    p.drive();
    let evs = p.events(Side::Server);
    assert!(
        matches!(evs[..], [Event::Data { .. }, Event::Eof { id }] if id == s),
        "{evs:?}"
    );
    assert!(p.server.is_peer_eof(s));
    assert_eq!(p.read_all(Side::Server, s), b"input");
    // Half-close: the other direction still flows.
    p.server.write(s, b"output").unwrap();
    p.server.eof(s).unwrap();
    p.server.close(s).unwrap();
    p.drive();
    let evs = p.events(Side::Client);
    assert!(
        matches!(evs[..], [Event::Data { .. }, Event::Eof { .. }, Event::Closed { id }] if id == c),
        "{evs:?}"
    );
    // Data is still readable after Closed; reading it releases the id.
    assert_eq!(p.client.channel_count(), 1);
    assert_eq!(p.read_all(Side::Client, c), b"output");
    assert_eq!(p.client.channel_count(), 0);
    assert!(matches!(p.events(Side::Server)[..], [Event::Closed { id }] if id == s));
    assert_eq!(p.server.channel_count(), 0);
}

#[test]
fn eof_from_server_first() {
    let mut p = Pair::default();
    let (c, s) = p.session();
    p.server.eof(s).unwrap();
    p.drive();
    assert!(matches!(p.events(Side::Client)[..], [Event::Eof { id }] if id == c));
    p.client.write(c, b"still open").unwrap();
    p.drive();
    assert_eq!(p.read_all(Side::Server, s), b"still open");
    // EOF is idempotent for the application.
    p.server.eof(s).unwrap();
    p.drive();
    assert!(p.events(Side::Client).is_empty());
}

#[test]
fn eof_goes_after_queued_data() {
    // The queue holds at most the peer's window; EOF follows the last data message, which
    // is cut into max-packet pieces.
    let mut p = Pair::default();
    let (c, s) = p.open_with(
        Side::Client,
        ChannelOpenKind::Session,
        ChannelConfig::default(),
        ChannelConfig::default()
            .with_window(4096)
            .with_max_packet(1024),
    );
    let data = pattern(10_000, 1);
    assert_eq!(
        p.client.write(c, &data).unwrap(),
        4096,
        "bounded by the window"
    );
    p.client.eof(c).unwrap();
    assert_eq!(p.transfer(Side::Client, usize::MAX), 5, "4 data + EOF");
    let evs = p.events(Side::Server);
    assert!(
        matches!(evs[..], [Event::Data { .. }, Event::Eof { id }] if id == s),
        "{evs:?}"
    );
    assert_eq!(p.read_all(Side::Server, s), &data[..4096]);
}

#[test]
fn simultaneous_close() {
    let mut p = Pair::default();
    let (c, s) = p.session();
    p.client.close(c).unwrap();
    p.server.close(s).unwrap();
    p.drive();
    assert!(matches!(p.events(Side::Client)[..], [Event::Closed { id }] if id == c));
    assert!(matches!(p.events(Side::Server)[..], [Event::Closed { id }] if id == s));
    assert_eq!((p.client.channel_count(), p.server.channel_count()), (0, 0));
    // Closing again is a usage error now that the id is released.
    assert_eq!(p.client.close(c), Err(Error::NoSuchChannel(c)));
}

#[test]
fn close_races_data_in_flight() {
    // The server writes while the client closes: the server's data crosses the client's
    // CLOSE and is dropped silently by the client, no error on either side.
    let mut p = Pair::default();
    let (c, s) = p.session();
    p.client.close(c).unwrap();
    p.server.write(s, b"late data").unwrap();
    p.server.eof(s).unwrap();
    // Deliver the server's data first, then the client's close.
    assert_eq!(p.transfer(Side::Server, usize::MAX), 2);
    assert!(p.events(Side::Client).is_empty());
    p.drive();
    assert!(matches!(p.events(Side::Client)[..], [Event::Closed { .. }]));
    assert!(matches!(p.events(Side::Server)[..], [Event::Closed { .. }]));
    assert_eq!((p.client.channel_count(), p.server.channel_count()), (0, 0));
}

#[test]
fn peer_close_drops_unsent_data() {
    let mut p = Pair::default();
    let (c, s) = p.open_with(
        Side::Client,
        ChannelOpenKind::Session,
        ChannelConfig::default(),
        ChannelConfig::default().with_window(1024),
    );
    p.client.write(c, &pattern(5000, 2)).unwrap();
    p.drive();
    assert_eq!(p.client.queued(c), 0, "bounded by the window");
    assert_eq!(p.client.write(c, &pattern(5000, 2)).unwrap(), 0);
    p.server.close(s).unwrap();
    p.drive();
    let evs = p.events(Side::Client);
    assert!(
        matches!(evs[..], [Event::Closed { id }] if id == c),
        "{evs:?}"
    );
    assert_eq!(p.client.channel_count(), 0, "nothing buffered: released");
    assert_eq!(p.client.write(c, b"x"), Err(Error::NoSuchChannel(c)));
}

#[test]
fn close_before_confirmation() {
    let mut p = Pair::default();
    let c = p
        .client
        .open(ChannelOpenKind::Session, ChannelConfig::default())
        .unwrap();
    p.client.close(c).unwrap();
    p.drive();
    let Some(Event::OpenRequest(inc)) = p.server.poll_event() else {
        panic!()
    };
    let s = p.server.accept(inc, ChannelConfig::default()).unwrap();
    p.drive();
    assert!(matches!(p.events(Side::Server)[..], [Event::Closed { id }] if id == s));
    let evs = p.events(Side::Client);
    assert!(
        matches!(evs[..], [Event::OpenConfirmed { .. }, Event::Closed { .. }]),
        "{evs:?}"
    );
    assert_eq!((p.client.channel_count(), p.server.channel_count()), (0, 0));
}

#[test]
fn channel_numbers_are_reused_but_ids_are_not() {
    let mut p = Pair::default();
    let (c1, _) = p.session();
    let (c2, s2) = p.session();
    assert_eq!((c1.number(), c2.number()), (0, 1));
    p.client.close(c1).unwrap();
    p.drive();
    p.events(Side::Client);
    p.events(Side::Server);
    let (c3, _) = p.session();
    assert_eq!(c3.number(), 0, "lowest free number is reused");
    assert_ne!(c3, c1);
    assert!(!p.client.exists(c1));
    assert_eq!(p.client.write(c1, b"x"), Err(Error::NoSuchChannel(c1)));
    assert_eq!(p.client.read(c1, 10), None);
    // The stale id does not reach the new channel.
    p.client.write(c3, b"to c3").unwrap();
    p.client.write(c2, b"to c2").unwrap();
    p.drive();
    assert_eq!(p.read_all(Side::Server, s2), b"to c2");
}

#[test]
fn unknown_channel_type_and_limits() {
    let mut cfg = Config::default();
    cfg.max_channels = 3;
    cfg.max_sessions = 2;
    let mut p = Pair::new(Config::default(), cfg);
    let c = p
        .client
        .open(
            ChannelOpenKind::Other {
                channel_type: "bogus@example.com".into(),
                data: bytes::Bytes::new(),
            },
            ChannelConfig::default(),
        )
        .unwrap();
    p.drive();
    assert!(p.events(Side::Server).is_empty(), "refused by the layer");
    assert!(matches!(
        p.events(Side::Client)[..],
        [Event::OpenFailed { id, reason: ChannelOpenFailureReason::UNKNOWN_CHANNEL_TYPE, .. }] if id == c
    ));
    p.session();
    p.session();
    // Third session: over max_sessions.
    p.client
        .open(ChannelOpenKind::Session, ChannelConfig::default())
        .unwrap();
    p.drive();
    assert!(matches!(
        p.events(Side::Client)[..],
        [Event::OpenFailed {
            reason: ChannelOpenFailureReason::RESOURCE_SHORTAGE,
            ..
        }]
    ));
    // A direct-tcpip fits max_channels; the next one does not.
    p.open_with(
        Side::Client,
        direct_tcpip(),
        ChannelConfig::default(),
        ChannelConfig::default(),
    );
    p.client
        .open(direct_tcpip(), ChannelConfig::default())
        .unwrap();
    p.drive();
    assert!(matches!(
        p.events(Side::Client)[..],
        [Event::OpenFailed {
            reason: ChannelOpenFailureReason::RESOURCE_SHORTAGE,
            ..
        }]
    ));
    assert_eq!(p.server.channel_count(), 3);
    // Our own opens are capped too.
    let mut small = Config::default();
    small.max_channels = 1;
    let mut q = Pair::new(small, Config::default());
    q.client
        .open(ChannelOpenKind::Session, ChannelConfig::default())
        .unwrap();
    assert_eq!(
        q.client
            .open(ChannelOpenKind::Session, ChannelConfig::default()),
        Err(Error::TooManyChannels { max: 1 })
    );
}

#[test]
fn server_may_not_open_sessions_and_client_may_not_open_forwarded() {
    let mut p = Pair::default();
    p.server
        .open(ChannelOpenKind::Session, ChannelConfig::default())
        .unwrap();
    p.client
        .open(
            ChannelOpenKind::ForwardedTcpip {
                connected_address: "x".into(),
                connected_port: 1,
                originator_address: "y".into(),
                originator_port: 2,
            },
            ChannelConfig::default(),
        )
        .unwrap();
    p.drive();
    for side in [Side::Client, Side::Server] {
        assert!(matches!(
            p.events(side)[..],
            [Event::OpenFailed {
                reason: ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED,
                ..
            }]
        ));
    }
}

#[test]
fn all_channel_types_cross_the_wire() {
    use whelk_wire::msg::{ChannelRequestKind, GlobalRequestKind};
    let mut p = Pair::default();
    // Client-opened types.
    for kind in [
        ChannelOpenKind::Session,
        direct_tcpip(),
        ChannelOpenKind::DirectStreamlocal {
            socket_path: "/tmp/sock".into(),
            reserved: "".into(),
            reserved_port: 0,
        },
        ChannelOpenKind::Tun {
            mode: 1,
            remote_unit: 0x7fff_ffff,
        },
    ] {
        p.open_with(
            Side::Client,
            kind,
            ChannelConfig::default(),
            ChannelConfig::default(),
        );
    }
    // Server-opened types, each after the client asked for it.
    let (sess, _) = p.session();
    p.client
        .request(
            sess,
            ChannelRequestKind::X11Req {
                single_connection: false,
                auth_protocol: "MIT-MAGIC-COOKIE-1".into(),
                auth_cookie: "abcd".into(),
                screen: 0,
            },
            false,
        )
        .unwrap();
    p.client
        .request(sess, ChannelRequestKind::AuthAgentReq, false)
        .unwrap();
    p.client
        .global_request(
            GlobalRequestKind::TcpipForward {
                address: "".into(),
                port: 8080,
            },
            false,
        )
        .unwrap();
    p.client
        .global_request(
            GlobalRequestKind::StreamlocalForward {
                socket_path: "/tmp/fwd".into(),
            },
            false,
        )
        .unwrap();
    p.drive();
    p.events(Side::Server);
    for kind in [
        ChannelOpenKind::X11 {
            originator_address: "127.0.0.1".into(),
            originator_port: 6010,
        },
        ChannelOpenKind::AuthAgent,
        ChannelOpenKind::ForwardedTcpip {
            connected_address: "".into(),
            connected_port: 8080,
            originator_address: "1.2.3.4".into(),
            originator_port: 999,
        },
        ChannelOpenKind::ForwardedStreamlocal {
            socket_path: "/tmp/fwd".into(),
            reserved: "".into(),
        },
    ] {
        p.open_with(
            Side::Server,
            kind,
            ChannelConfig::default(),
            ChannelConfig::default(),
        );
    }
    assert_eq!(p.client.channel_count(), 9);
}
