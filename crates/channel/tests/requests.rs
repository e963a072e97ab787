//! Session channel requests and global requests: every request type across the wire,
//! want-reply answered in order even when the application answers out of order, requests
//! this layer answers itself, forwarding bookkeeping.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use bytes::Bytes;
use common::{Pair, Side};
use whelk_channel::{ChannelConfig, Config, Event, GlobalReply, Opcode, TerminalModes};
use whelk_wire::msg::{
    ChannelOpenFailureReason, ChannelOpenKind, ChannelRequestKind, GlobalRequestKind, RawTail,
    RequestSuccess,
};

fn pty() -> ChannelRequestKind {
    let mut modes = TerminalModes::new();
    modes.set(Opcode::VINTR, 3).unwrap();
    modes.set(Opcode::ECHO, 1).unwrap();
    modes.set(Opcode::ICANON, 1).unwrap();
    modes.set(Opcode::TTY_OP_ISPEED, 38400).unwrap();
    modes.set(Opcode::TTY_OP_OSPEED, 38400).unwrap();
    ChannelRequestKind::PtyReq {
        term: "xterm-256color".into(),
        columns: 80,
        rows: 24,
        width_px: 640,
        height_px: 480,
        modes: modes.encode(),
    }
}

fn client_requests() -> Vec<ChannelRequestKind> {
    vec![
        pty(),
        ChannelRequestKind::X11Req {
            single_connection: true,
            auth_protocol: "MIT-MAGIC-COOKIE-1".into(),
            auth_cookie: "0123456789abcdef".into(),
            screen: 0,
        },
        ChannelRequestKind::Env {
            name: "LANG".into(),
            value: "en_US.UTF-8".into(),
        },
        ChannelRequestKind::Shell,
        ChannelRequestKind::Exec {
            command: Bytes::from_static(b"uname -a"),
        },
        ChannelRequestKind::Subsystem {
            name: "sftp".into(),
        },
        ChannelRequestKind::WindowChange {
            columns: 120,
            rows: 40,
            width_px: 0,
            height_px: 0,
        },
        ChannelRequestKind::Signal { name: "INT".into() },
        ChannelRequestKind::Break { length_ms: 500 },
        ChannelRequestKind::AuthAgentReq,
        ChannelRequestKind::EndOfWrite,
    ]
}

fn server_requests() -> Vec<ChannelRequestKind> {
    vec![
        ChannelRequestKind::XonXoff {
            client_can_do: true,
        },
        ChannelRequestKind::ExitStatus { status: 42 },
        ChannelRequestKind::ExitSignal {
            signal: "SEGV".into(),
            core_dumped: true,
            message: "boom".into(),
            language: "".into(),
        },
        ChannelRequestKind::EndOfWrite,
    ]
}

#[test]
fn every_session_request_crosses_the_wire() {
    let mut p = Pair::default();
    let (c, s) = p.session();
    for (from, id, peer, reqs) in [
        (Side::Client, c, s, client_requests()),
        (Side::Server, s, c, server_requests()),
    ] {
        for kind in &reqs {
            p.side(from).request(id, kind.clone(), false).unwrap();
        }
        p.drive();
        let got: Vec<ChannelRequestKind> = p
            .events(common::other(from))
            .into_iter()
            .map(|e| match e {
                Event::Request {
                    id,
                    kind,
                    token: None,
                } => {
                    assert_eq!(id, peer);
                    kind
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(got, reqs);
    }
}

#[test]
fn pty_modes_decode_on_the_server() {
    let mut p = Pair::default();
    let (c, _) = p.session();
    p.client.request(c, pty(), true).unwrap();
    p.drive();
    let Some(Event::Request {
        kind: ChannelRequestKind::PtyReq { modes, term, .. },
        token: Some(tok),
        ..
    }) = p.server.poll_event()
    else {
        panic!()
    };
    assert_eq!(term.as_bytes(), b"xterm-256color");
    let modes = TerminalModes::decode(&modes).unwrap();
    assert_eq!(modes.get(Opcode::VINTR), Some(3));
    assert_eq!(modes.get(Opcode::TTY_OP_OSPEED), Some(38400));
    assert_eq!(modes.len(), 5);
    p.server.respond(tok, true).unwrap();
    p.drive();
    assert!(matches!(
        p.events(Side::Client)[..],
        [Event::RequestResult { success: true, .. }]
    ));
}

#[test]
fn replies_go_out_in_request_order() {
    let mut p = Pair::default();
    let (c, _) = p.session();
    let r1 = p
        .client
        .request(
            c,
            ChannelRequestKind::Env {
                name: "A".into(),
                value: "1".into(),
            },
            true,
        )
        .unwrap();
    let r2 = p.client.request(c, pty(), true).unwrap();
    let r3 = p
        .client
        .request(c, ChannelRequestKind::Shell, true)
        .unwrap();
    p.drive();
    let mut tokens: Vec<_> = p
        .events(Side::Server)
        .into_iter()
        .map(|e| match e {
            Event::Request { token: Some(t), .. } => t,
            other => panic!("{other:?}"),
        })
        .collect();
    // Answer the last first: nothing may go out yet.
    let t3 = tokens.pop().unwrap();
    let t2 = tokens.pop().unwrap();
    let t1 = tokens.pop().unwrap();
    p.server.respond(t3, true).unwrap();
    p.server.respond(t2, false).unwrap();
    assert!(p.server.poll_transmit().is_none(), "held back by the first");
    p.server.respond(t1, true).unwrap();
    p.drive();
    let results: Vec<_> = p
        .events(Side::Client)
        .into_iter()
        .map(|e| match e {
            Event::RequestResult {
                request, success, ..
            } => (request, success),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(results, [(r1, true), (r2, false), (r3, true)]);
}

#[test]
fn requests_this_layer_refuses_by_itself() {
    let mut p = Pair::default();
    let (c, s) = p.session();
    let (tc, _) = p.open_with(
        Side::Client,
        ChannelOpenKind::DirectTcpip {
            host: "h".into(),
            port: 1,
            originator_address: "o".into(),
            originator_port: 2,
        },
        ChannelConfig::default(),
        ChannelConfig::default(),
    );
    let refused = [
        (Side::Client, c, ChannelRequestKind::Keepalive),
        (
            Side::Client,
            c,
            ChannelRequestKind::Other {
                request: "custom@example.com".into(),
                data: Bytes::from_static(b"\x00"),
            },
        ),
        (Side::Client, tc, ChannelRequestKind::Shell),
        (
            Side::Client,
            c,
            ChannelRequestKind::ExitStatus { status: 0 },
        ),
        (
            Side::Server,
            s,
            ChannelRequestKind::Exec {
                command: Bytes::from_static(b"rm -rf /"),
            },
        ),
        (
            Side::Client,
            c,
            ChannelRequestKind::Exec {
                command: Bytes::from_static(b"ls\0-l"),
            },
        ),
        (
            Side::Client,
            c,
            ChannelRequestKind::Subsystem {
                name: "sftp\0x".into(),
            },
        ),
    ];
    for (from, id, kind) in refused {
        let r = p.side(from).request(id, kind.clone(), true).unwrap();
        p.drive();
        assert!(
            p.events(common::other(from)).is_empty(),
            "{kind:?} reached the application"
        );
        let evs = p.events(from);
        assert!(
            matches!(evs[..], [Event::RequestResult { request, success: false, .. }] if request == r),
            "{kind:?}: {evs:?}"
        );
    }
}

#[test]
fn env_requests_are_capped() {
    let mut cfg = Config::default();
    cfg.max_env_requests = 3;
    let mut p = Pair::new(Config::default(), cfg);
    let (c, _) = p.session();
    for i in 0..10 {
        p.client
            .request(
                c,
                ChannelRequestKind::Env {
                    name: format!("V{i}").into(),
                    value: "x".into(),
                },
                true,
            )
            .unwrap();
    }
    p.drive();
    let tokens: Vec<_> = p
        .events(Side::Server)
        .into_iter()
        .map(|e| match e {
            Event::Request { token: Some(t), .. } => t,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(tokens.len(), 3);
    // The automatic failures wait behind the application's answers.
    assert!(p.server.poll_transmit().is_none());
    for t in tokens {
        p.server.respond(t, true).unwrap();
    }
    p.drive();
    let results: Vec<bool> = p
        .events(Side::Client)
        .into_iter()
        .map(|e| match e {
            Event::RequestResult { success, .. } => success,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        results,
        [
            true, true, true, false, false, false, false, false, false, false
        ]
    );
}

fn global_result(p: &mut Pair) -> (bool, Option<u32>, Bytes) {
    match &mut p.events(Side::Client)[..] {
        [
            Event::GlobalRequestResult {
                success,
                bound_port,
                data,
                ..
            },
        ] => (*success, *bound_port, data.clone()),
        other => panic!("{other:?}"),
    }
}

fn forwarded(port: u32) -> ChannelOpenKind {
    ChannelOpenKind::ForwardedTcpip {
        connected_address: "localhost".into(),
        connected_port: port,
        originator_address: "10.1.1.1".into(),
        originator_port: 40_000,
    }
}

#[test]
fn tcpip_forward_port_zero_and_cancel() {
    let mut p = Pair::default();
    p.client
        .global_request(
            GlobalRequestKind::TcpipForward {
                address: "localhost".into(),
                port: 0,
            },
            true,
        )
        .unwrap();
    p.drive();
    let Some(Event::GlobalRequest {
        kind: GlobalRequestKind::TcpipForward { port: 0, .. },
        token: Some(tok),
    }) = p.server.poll_event()
    else {
        panic!()
    };
    p.server
        .respond_global(tok, GlobalReply::BoundPort(40_123))
        .unwrap();
    p.drive();
    assert_eq!(global_result(&mut p).1, Some(40_123));
    // The server may now open forwarded-tcpip for that port, and only that one.
    p.open_with(
        Side::Server,
        forwarded(40_123),
        ChannelConfig::default(),
        ChannelConfig::default(),
    );
    p.server
        .open(forwarded(22), ChannelConfig::default())
        .unwrap();
    p.drive();
    assert!(p.events(Side::Client).is_empty());
    assert!(matches!(
        p.events(Side::Server)[..],
        [Event::OpenFailed {
            reason: ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED,
            ..
        }]
    ));
    // After cancel-tcpip-forward the port is refused too.
    p.client
        .global_request(
            GlobalRequestKind::CancelTcpipForward {
                address: "localhost".into(),
                port: 40_123,
            },
            true,
        )
        .unwrap();
    p.drive();
    let Some(Event::GlobalRequest {
        token: Some(tok), ..
    }) = p.server.poll_event()
    else {
        panic!()
    };
    p.server.respond_global(tok, GlobalReply::Success).unwrap();
    p.drive();
    assert_eq!(global_result(&mut p), (true, None, Bytes::new()));
    p.server
        .open(forwarded(40_123), ChannelConfig::default())
        .unwrap();
    p.drive();
    assert!(matches!(
        p.events(Side::Server)[..],
        [Event::OpenFailed { .. }]
    ));
}

#[test]
fn refused_forward_grants_nothing() {
    let mut p = Pair::default();
    p.client
        .global_request(
            GlobalRequestKind::TcpipForward {
                address: "".into(),
                port: 8080,
            },
            true,
        )
        .unwrap();
    p.drive();
    let Some(Event::GlobalRequest {
        token: Some(tok), ..
    }) = p.server.poll_event()
    else {
        panic!()
    };
    p.server.respond_global(tok, GlobalReply::Failure).unwrap();
    p.drive();
    assert_eq!(global_result(&mut p), (false, None, Bytes::new()));
    p.server
        .open(forwarded(8080), ChannelConfig::default())
        .unwrap();
    p.drive();
    assert!(matches!(
        p.events(Side::Server)[..],
        [Event::OpenFailed { .. }]
    ));
}

#[test]
fn streamlocal_forward_and_cancel() {
    let mut p = Pair::default();
    p.client
        .global_request(
            GlobalRequestKind::StreamlocalForward {
                socket_path: "/run/user/1000/fwd.sock".into(),
            },
            true,
        )
        .unwrap();
    p.drive();
    let Some(Event::GlobalRequest {
        token: Some(tok), ..
    }) = p.server.poll_event()
    else {
        panic!()
    };
    p.server.respond_global(tok, GlobalReply::Success).unwrap();
    p.drive();
    assert!(global_result(&mut p).0);
    let kind = ChannelOpenKind::ForwardedStreamlocal {
        socket_path: "/run/user/1000/fwd.sock".into(),
        reserved: "".into(),
    };
    p.open_with(
        Side::Server,
        kind.clone(),
        ChannelConfig::default(),
        ChannelConfig::default(),
    );
    p.client
        .global_request(
            GlobalRequestKind::CancelStreamlocalForward {
                socket_path: "/run/user/1000/fwd.sock".into(),
            },
            false,
        )
        .unwrap();
    p.drive();
    assert!(matches!(
        p.events(Side::Server)[..],
        [Event::GlobalRequest { token: None, .. }]
    ));
    p.server.open(kind, ChannelConfig::default()).unwrap();
    p.drive();
    assert!(matches!(
        p.events(Side::Server)[..],
        [Event::OpenFailed { .. }]
    ));
}

#[test]
fn keepalive_and_unknown_global_requests_fail() {
    let mut p = Pair::default();
    for kind in [
        GlobalRequestKind::Keepalive,
        GlobalRequestKind::Other {
            name: "nonsense@example.com".into(),
            data: Bytes::from_static(b"abc"),
        },
        // hostkeys-00 is for the client; a server refuses it.
        GlobalRequestKind::HostKeys { keys: vec![] },
    ] {
        p.client.global_request(kind, true).unwrap();
        p.drive();
        assert!(p.events(Side::Server).is_empty());
        assert!(!global_result(&mut p).0);
    }
    // A client refuses what only a server serves.
    p.server
        .global_request(
            GlobalRequestKind::TcpipForward {
                address: "".into(),
                port: 1,
            },
            true,
        )
        .unwrap();
    p.drive();
    assert!(p.events(Side::Client).is_empty());
    assert!(matches!(
        p.events(Side::Server)[..],
        [Event::GlobalRequestResult { success: false, .. }]
    ));
}

#[test]
fn global_replies_keep_order_with_automatic_ones() {
    let mut p = Pair::default();
    let fwd = |port| GlobalRequestKind::TcpipForward {
        address: "".into(),
        port,
    };
    let a = p.client.global_request(fwd(1000), true).unwrap();
    let b = p
        .client
        .global_request(GlobalRequestKind::Keepalive, true)
        .unwrap();
    let c = p.client.global_request(fwd(0), true).unwrap();
    p.drive();
    let mut toks: Vec<_> = p
        .events(Side::Server)
        .into_iter()
        .map(|e| match e {
            Event::GlobalRequest { token: Some(t), .. } => t,
            other => panic!("{other:?}"),
        })
        .collect();
    let tc = toks.pop().unwrap();
    let ta = toks.pop().unwrap();
    p.server
        .respond_global(tc, GlobalReply::BoundPort(5555))
        .unwrap();
    assert!(p.server.poll_transmit().is_none());
    p.server.respond_global(ta, GlobalReply::Success).unwrap();
    p.drive();
    let got: Vec<_> = p
        .events(Side::Client)
        .into_iter()
        .map(|e| match e {
            Event::GlobalRequestResult {
                request,
                success,
                bound_port,
                ..
            } => (request, success, bound_port),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        got,
        [(a, true, None), (b, false, None), (c, true, Some(5555))]
    );
}

#[test]
fn no_more_sessions() {
    let mut p = Pair::default();
    p.session();
    p.client
        .global_request(GlobalRequestKind::NoMoreSessions, false)
        .unwrap();
    p.drive();
    assert!(p.events(Side::Server).is_empty(), "handled by the layer");
    p.client
        .open(ChannelOpenKind::Session, ChannelConfig::default())
        .unwrap();
    p.drive();
    assert!(matches!(
        p.events(Side::Client)[..],
        [Event::OpenFailed {
            reason: ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED,
            ..
        }]
    ));
    // Other channel types are still fine.
    p.open_with(
        Side::Client,
        ChannelOpenKind::DirectTcpip {
            host: "h".into(),
            port: 1,
            originator_address: "o".into(),
            originator_port: 2,
        },
        ChannelConfig::default(),
        ChannelConfig::default(),
    );
}

#[test]
fn hostkeys_and_prove() {
    let mut p = Pair::default();
    let keys = vec![
        Bytes::from_static(b"key-one"),
        Bytes::from_static(b"key-two"),
    ];
    // The server announces its keys; the client's application decides what to do.
    p.server
        .global_request(GlobalRequestKind::HostKeys { keys: keys.clone() }, false)
        .unwrap();
    p.drive();
    match &p.events(Side::Client)[..] {
        [
            Event::GlobalRequest {
                kind: GlobalRequestKind::HostKeys { keys: got },
                token: None,
            },
        ] => assert_eq!(got, &keys),
        other => panic!("{other:?}"),
    }
    // The client asks for proof; the server's application signs.
    p.client
        .global_request(
            GlobalRequestKind::HostKeysProve { keys: keys.clone() },
            true,
        )
        .unwrap();
    p.drive();
    let Some(Event::GlobalRequest {
        kind: GlobalRequestKind::HostKeysProve { keys: got },
        token: Some(tok),
    }) = p.server.poll_event()
    else {
        panic!()
    };
    assert_eq!(got, keys);
    let sigs = b"\x00\x00\x00\x04sig1\x00\x00\x00\x04sig2";
    p.server
        .respond_global(tok, GlobalReply::Data(Bytes::from_static(sigs)))
        .unwrap();
    p.drive();
    let (ok, _, data) = global_result(&mut p);
    assert!(ok);
    let parsed = RequestSuccess {
        data: RawTail(data),
    }
    .hostkey_signatures()
    .unwrap();
    assert_eq!(parsed, [&b"sig1"[..], &b"sig2"[..]]);
}

#[test]
fn catalog_c13_server_initiated_channels_need_a_request() {
    let mut p = Pair::default();
    let (c, _) = p.session();
    for kind in [
        ChannelOpenKind::AuthAgent,
        ChannelOpenKind::X11 {
            originator_address: "1.2.3.4".into(),
            originator_port: 1,
        },
    ] {
        p.server.open(kind, ChannelConfig::default()).unwrap();
        p.drive();
        assert!(p.events(Side::Client).is_empty());
        assert!(matches!(
            p.events(Side::Server)[..],
            [Event::OpenFailed {
                reason: ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED,
                ..
            }]
        ));
    }
    p.client
        .request(c, ChannelRequestKind::AuthAgentReq, false)
        .unwrap();
    p.drive();
    p.events(Side::Server);
    p.open_with(
        Side::Server,
        ChannelOpenKind::AuthAgent,
        ChannelConfig::default(),
        ChannelConfig::default(),
    );
}

#[test]
fn catalog_c14_forwarding_policy_is_the_applications() {
    // The layer hands forwarding requests and direct channels to the application, which
    // refuses the ones its policy forbids.
    let mut p = Pair::default();
    p.client
        .global_request(
            GlobalRequestKind::TcpipForward {
                address: "0.0.0.0".into(),
                port: 22,
            },
            true,
        )
        .unwrap();
    p.client
        .open(
            ChannelOpenKind::DirectStreamlocal {
                socket_path: "/run/docker.sock".into(),
                reserved: "".into(),
                reserved_port: 0,
            },
            ChannelConfig::default(),
        )
        .unwrap();
    p.drive();
    for ev in p.events(Side::Server) {
        match ev {
            Event::GlobalRequest {
                kind: GlobalRequestKind::TcpipForward { port: 22, .. },
                token: Some(t),
            } => p.server.respond_global(t, GlobalReply::Failure).unwrap(),
            Event::OpenRequest(inc) => {
                assert!(matches!(
                    inc.kind(),
                    ChannelOpenKind::DirectStreamlocal { .. }
                ));
                p.server
                    .reject(
                        inc,
                        ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED,
                        "prohibited",
                    )
                    .unwrap();
            }
            other => panic!("{other:?}"),
        }
    }
    p.drive();
    let evs = p.events(Side::Client);
    assert_eq!(evs.len(), 2, "{evs:?}");
    assert!(
        evs.iter()
            .any(|e| matches!(e, Event::GlobalRequestResult { success: false, .. }))
    );
    assert!(evs.iter().any(|e| matches!(
        e,
        Event::OpenFailed {
            reason: ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED,
            ..
        }
    )));
    assert_eq!(p.server.channel_count(), 0);
}
