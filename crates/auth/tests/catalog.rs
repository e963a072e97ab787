//! Security catalog rows (docs: /work/shared/security-catalog.md) as named tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use whelk_auth::server::{MAX_REQUESTS, MIN_FAILURE_DELAY};
use whelk_auth::*;
use whelk_keys::{PrivateKey, SigAlg, VerifyPolicy};
use whelk_wire::msg::{
    AuthMethod, ChannelOpen, ChannelOpenKind, DisconnectReason, ExtInfo, GlobalRequest,
    GlobalRequestKind, Message, UserauthInfoResponse, UserauthPkOk, UserauthRequest,
    UserauthSuccess,
};
use whelk_wire::types::{NameList, Text};
use zeroize::Zeroizing;

fn server(config: ServerConfig) -> ServerAuth {
    ServerAuth::new(
        config,
        Bytes::from_static(&SESSION_ID),
        host_key_blob(),
        std::time::Instant::now(),
    )
}

fn req(user: &str, method: AuthMethod) -> Message {
    Message::UserauthRequest(UserauthRequest {
        user: Text::from(user.to_string()),
        service: Text::from("ssh-connection"),
        method,
    })
}

fn password(user: &str, pw: &[u8]) -> Message {
    req(
        user,
        AuthMethod::Password {
            password: Bytes::copy_from_slice(pw),
            new_password: None,
        },
    )
}

fn signed_pk(
    key: &PrivateKey,
    user: &str,
    alg: SigAlg,
    session_id: &[u8],
    sign_alg: SigAlg,
) -> Message {
    let blob = key.public_key().blob().to_vec();
    let data = publickey_signed_data(
        session_id,
        user.as_bytes(),
        b"ssh-connection",
        alg.name().as_bytes(),
        &blob,
        None,
    );
    let sig = key
        .sign_allowing_sha1(sign_alg, &data, &mut rng(1))
        .unwrap();
    req(
        user,
        AuthMethod::PublicKey {
            algorithm: Text::from(alg.name()),
            public_key: Bytes::from(blob),
            signature: Some(Bytes::from(sig)),
        },
    )
}

/// Drains everything the server sends, letting the clock run 1 s.
fn drain(s: &mut ServerAuth, now: std::time::Instant) -> Vec<Message> {
    let later = now + Duration::from_secs(1);
    std::iter::from_fn(|| s.poll_transmit(later)).collect()
}

fn disconnect_reason(msgs: &[Message]) -> Option<DisconnectReason> {
    msgs.iter().find_map(|m| match m {
        Message::Disconnect(d) => Some(d.reason),
        _ => None,
    })
}

#[test]
fn catalog_a01_client_sends_userauth_success() {
    let mut s = server(ServerConfig::default());
    let now = std::time::Instant::now();
    let e = s.handle_message(now, Message::UserauthSuccess(UserauthSuccess {}));
    assert_eq!(e, Err(Error::ClientSentSuccess));
    assert!(!s.is_authenticated());
    assert_eq!(
        disconnect_reason(&drain(&mut s, now)),
        Some(DisconnectReason::PROTOCOL_ERROR)
    );
    // Latched: a following channel open gets the same error, no event.
    let open = Message::ChannelOpen(ChannelOpen {
        sender: 0,
        initial_window: 0x20_0000,
        max_packet: 0x8000,
        kind: ChannelOpenKind::Session,
    });
    assert_eq!(s.handle_message(now, open), Err(Error::ClientSentSuccess));
    assert!(s.poll_event().is_none());
}

#[test]
fn catalog_a02_connection_messages_before_auth() {
    let now = std::time::Instant::now();
    let open = Message::ChannelOpen(ChannelOpen {
        sender: 0,
        initial_window: 0x20_0000,
        max_packet: 0x8000,
        kind: ChannelOpenKind::Session,
    });
    let global = Message::GlobalRequest(GlobalRequest {
        want_reply: true,
        kind: GlobalRequestKind::TcpipForward {
            address: Text::from(""),
            port: 0,
        },
    });
    for (m, number) in [(open, 90), (global, 80)] {
        let mut s = server(ServerConfig::default());
        // Even in the middle of authentication.
        s.handle_message(now, password("alice", b"x")).unwrap();
        assert_eq!(
            s.handle_message(now, m),
            Err(Error::ConnectionMessageBeforeAuth { number })
        );
        assert_eq!(
            disconnect_reason(&drain(&mut s, now)),
            Some(DisconnectReason::PROTOCOL_ERROR)
        );
        assert!(!s.is_authenticated());
    }
}

#[test]
fn catalog_a07_query_for_a_then_signature_by_b() {
    let a = ed25519(1);
    let b = ed25519(2);
    let mut asked = Vec::new();
    let mut s = server(ServerConfig::default());
    let now = std::time::Instant::now();
    // Query for A (no signature): the application authorizes A.
    let query = req(
        "alice",
        AuthMethod::PublicKey {
            algorithm: Text::from("ssh-ed25519"),
            public_key: Bytes::copy_from_slice(a.public_key().blob()),
            signature: None,
        },
    );
    s.handle_message(now, query).unwrap();
    let Some(ServerEvent::Request(r)) = s.poll_event() else {
        panic!()
    };
    assert!(matches!(
        r.kind,
        RequestKind::PublicKey { signed: false, .. }
    ));
    s.respond(now, r, accept()).unwrap();
    assert!(matches!(drain(&mut s, now)[..], [Message::UserauthPkOk(_)]));
    assert!(!s.is_authenticated(), "a query never authenticates");
    // Then a valid signature by B.
    s.handle_message(
        now,
        signed_pk(&b, "alice", SigAlg::Ed25519, &SESSION_ID, SigAlg::Ed25519),
    )
    .unwrap();
    let Some(ServerEvent::Request(r)) = s.poll_event() else {
        panic!()
    };
    match &r.kind {
        RequestKind::PublicKey {
            key, signed: true, ..
        } => asked.push(key.public_key().clone()),
        other => panic!("{other:?}"),
    }
    s.respond(now, r, accept()).unwrap();
    assert_eq!(asked, [b.public_key().clone()]);
    assert_eq!(s.outcome().unwrap().keys, [b.public_key().clone()]);
}

#[test]
fn catalog_a08_bad_signatures_fail_without_asking() {
    let ed = ed25519(3);
    let rsa = fixture_key("id_rsa2048");
    let p256 = fixture_key("id_ecdsa256");
    let cases: Vec<Message> = vec![
        // Signature over another connection's session id.
        signed_pk(&ed, "alice", SigAlg::Ed25519, &[0x11; 32], SigAlg::Ed25519),
        // Request names rsa-sha2-512, the blob is ssh-rsa (SHA-1).
        signed_pk(
            &rsa,
            "alice",
            SigAlg::RsaSha2_512,
            &SESSION_ID,
            SigAlg::SshRsa,
        ),
        // Request names rsa-sha2-512, the blob is rsa-sha2-256.
        signed_pk(
            &rsa,
            "alice",
            SigAlg::RsaSha2_512,
            &SESSION_ID,
            SigAlg::RsaSha2_256,
        ),
        // Algorithm ssh-ed25519 with an RSA key blob.
        req(
            "alice",
            AuthMethod::PublicKey {
                algorithm: Text::from("ssh-ed25519"),
                public_key: Bytes::copy_from_slice(rsa.public_key().blob()),
                signature: Some(Bytes::from_static(b"\0\0\0\x0bssh-ed25519\0\0\0\0")),
            },
        ),
        // ECDSA P-256 key named as P-384.
        req(
            "alice",
            AuthMethod::PublicKey {
                algorithm: Text::from("ecdsa-sha2-nistp384"),
                public_key: Bytes::copy_from_slice(p256.public_key().blob()),
                signature: None,
            },
        ),
        // Corrupted signature bytes.
        {
            let Message::UserauthRequest(mut r) =
                signed_pk(&ed, "alice", SigAlg::Ed25519, &SESSION_ID, SigAlg::Ed25519)
            else {
                unreachable!()
            };
            if let AuthMethod::PublicKey {
                signature: Some(s), ..
            } = &mut r.method
            {
                let mut v = s.to_vec();
                *v.last_mut().unwrap() ^= 1;
                *s = Bytes::from(v);
            }
            Message::UserauthRequest(r)
        },
    ];
    let n = cases.len();
    let mut s = server(ServerConfig {
        max_attempts: 100,
        ..ServerConfig::default()
    });
    let now = std::time::Instant::now();
    for m in cases {
        s.handle_message(now, m).unwrap();
        assert!(s.poll_event().is_none(), "the application is never asked");
        assert!(matches!(
            drain(&mut s, now)[..],
            [Message::UserauthFailure(_)]
        ));
    }
    assert_eq!(s.failures() as usize, n, "each counts toward MaxAuthTries");
}

#[test]
fn catalog_a09_max_auth_tries() {
    let mut p = Pair::new(client_config("alice"), ServerConfig::default())
        .answer(|_| Answer::Password(Zeroizing::new("wrong".into())));
    p.client = ClientAuth::new(
        ClientConfig {
            password_attempts: 10,
            methods: vec![Method::Password],
            ..client_config("alice")
        },
        Bytes::from_static(&SESSION_ID),
        None,
    );
    p.run();
    assert_eq!(p.server_error, Some(Error::TooManyAttempts));
    assert_eq!(p.server.error(), Some(&Error::TooManyAttempts));
    assert_eq!(p.server.failures(), 6);
    let reasons: Vec<_> = p
        .log
        .to_client
        .iter()
        .filter_map(|(_, m)| match m {
            Message::Disconnect(d) => Some(d.reason),
            _ => None,
        })
        .collect();
    assert_eq!(reasons, [DisconnectReason::NO_MORE_AUTH_METHODS_AVAILABLE]);
    // Six password requests reached the server, not seven.
    let pw = p.log.to_server.iter().filter(|m| matches!(m, Message::UserauthRequest(r) if matches!(r.method, AuthMethod::Password { .. }))).count();
    assert_eq!(pw, 6);
}

#[test]
fn catalog_a09_unlimited_queries_are_capped() {
    let mut s = server(ServerConfig::default());
    let now = std::time::Instant::now();
    let key = ed25519(4);
    let query = req(
        "alice",
        AuthMethod::PublicKey {
            algorithm: Text::from("ssh-ed25519"),
            public_key: Bytes::copy_from_slice(key.public_key().blob()),
            signature: None,
        },
    );
    let mut accepted = 0;
    for i in 0..2000u32 {
        match s.handle_message(now, query.clone()) {
            Ok(()) => {}
            Err(e) => {
                assert_eq!(e, Error::TooManyAttempts);
                assert!(i <= MAX_REQUESTS, "{i}");
                break;
            }
        }
        // Answered with PK_OK: not a failure, yet still bounded.
        while let Some(ServerEvent::Request(r)) = s.poll_event() {
            s.respond(now, r, accept()).unwrap();
            accepted += 1;
        }
        let _ = drain(&mut s, now);
    }
    assert_eq!(s.error(), Some(&Error::TooManyAttempts));
    assert_eq!(accepted, MAX_REQUESTS);
    // `none` floods too.
    let mut s = server(ServerConfig::default());
    let r = (0..2000).find(|_| s.handle_message(now, req("a", AuthMethod::None)).is_err());
    assert_eq!(r, Some(MAX_REQUESTS as usize));
}

#[test]
fn catalog_a09_kbd_int_rounds_count() {
    // Each failed keyboard-interactive exchange counts, whatever the submethods say
    // (CVE-2015-5600).
    let mut s = server(ServerConfig::default());
    let now = std::time::Instant::now();
    let mut fails = 0;
    for _ in 0..20 {
        let r = s.handle_message(
            now,
            req(
                "alice",
                AuthMethod::KeyboardInteractive {
                    language: Text::from(""),
                    submethods: Text::from("pam,pam,pam,pam,pam,pam,pam,pam"),
                },
            ),
        );
        if r.is_err() {
            break;
        }
        let Some(ServerEvent::Request(t)) = s.poll_event() else {
            panic!()
        };
        s.respond(
            now,
            t,
            Decision::Prompts(Prompts {
                prompts: vec![("Password: ".into(), false)],
                ..Prompts::default()
            }),
        )
        .unwrap();
        let r = s.handle_message(
            now,
            Message::UserauthInfoResponse(UserauthInfoResponse {
                responses: vec![Bytes::from_static(b"guess")],
            }),
        );
        assert!(r.is_ok());
        let Some(ServerEvent::Request(t)) = s.poll_event() else {
            panic!()
        };
        if s.respond(now, t, Decision::Reject).is_err() {
            fails += 1;
            break;
        }
        fails += 1;
    }
    assert_eq!(fails, 6);
    assert_eq!(s.error(), Some(&Error::TooManyAttempts));
}

#[test]
fn catalog_a10_unknown_user_same_replies_and_timing() {
    // The application knows alice only; the wire must not tell.
    let key = ed25519(5);
    let line = key.public_key().to_openssh("");
    let run = |user: &'static str| {
        let policy = AuthorizedKeysPolicy::new(&line);
        let mut p = Pair::new(
            ClientConfig {
                methods: vec![Method::PublicKey, Method::Password],
                ..client_config(user)
            },
            ServerConfig {
                jitter_key: [42; 32],
                ..ServerConfig::default()
            },
        )
        .decide(move |req| {
            if req.user != "alice" {
                return Decision::Reject;
            }
            match &req.kind {
                RequestKind::Password { password, .. } if secret_eq(password, b"right") => accept(),
                RequestKind::PublicKey { .. } => match policy.decide(req, NOW_UNIX) {
                    // alice's own key is refused too here: we compare refusals.
                    Decision::Accept(_) => Decision::Reject,
                    d => d,
                },
                _ => Decision::Reject,
            }
        })
        .password("wrong");
        // A key nobody authorized (the PK_OK query is refused the same way).
        p.client
            .add_identity(Box::new(KeySigner::new(ed25519(6), rng(6))));
        p.run();
        p
    };
    let known = run("alice");
    let unknown = run("mallory");
    let shape = |p: &Pair| -> Vec<String> {
        p.log
            .to_client
            .iter()
            .map(|(_, m)| format!("{m:?}"))
            .collect()
    };
    assert_eq!(shape(&known), shape(&unknown));
    assert_eq!(known.log.to_server.len(), unknown.log.to_server.len());
    // Every failure after a real attempt is held back at least 5 ms after the request.
    for p in [&known, &unknown] {
        let times: Vec<Duration> = p
            .log
            .to_client
            .iter()
            .filter(|(_, m)| matches!(m, Message::UserauthFailure(_)))
            .map(|(t, _)| *t)
            .collect();
        // The first failure answers `none` at once; the others are delayed.
        assert_eq!(times[0], Duration::ZERO);
        for pair in times.windows(2) {
            assert!(pair[1] - pair[0] >= MIN_FAILURE_DELAY, "{times:?}");
            assert!(pair[1] - pair[0] < MIN_FAILURE_DELAY + Duration::from_micros(4200));
        }
    }
    // The jitter is a function of the user name: stable per user.
    let s = server(ServerConfig {
        jitter_key: [42; 32],
        ..ServerConfig::default()
    });
    assert_eq!(s.failure_delay(b"alice"), s.failure_delay(b"alice"));
    assert!(s.failure_delay(b"mallory") >= MIN_FAILURE_DELAY);
    // A zero minimum switches the delay off, jitter included.
    let s = server(ServerConfig {
        jitter_key: [42; 32],
        failure_delay: Duration::ZERO,
        ..ServerConfig::default()
    });
    assert_eq!(s.failure_delay(b"alice"), Duration::ZERO);
    assert_eq!(s.failure_delay(b"mallory"), Duration::ZERO);
}

#[test]
fn catalog_a10_malformed_key_same_for_any_user() {
    let now = std::time::Instant::now();
    let bad = |user: &str| {
        req(
            user,
            AuthMethod::PublicKey {
                algorithm: Text::from("ssh-ed25519"),
                public_key: Bytes::from_static(b"\0\0\0\x0bssh-ed25519\0\0\0\x05short"),
                signature: None,
            },
        )
    };
    let mut out = Vec::new();
    for user in ["alice", "nobody"] {
        let mut s = server(ServerConfig::default());
        s.handle_message(now, bad(user)).unwrap();
        assert!(s.poll_event().is_none());
        out.push(drain(&mut s, now));
    }
    assert_eq!(out[0], out[1]);
}

#[test]
fn catalog_a12_oversized_fields() {
    let now = std::time::Instant::now();
    // 200 KiB password: refused without reaching the application.
    let mut s = server(ServerConfig::default());
    s.handle_message(now, password("alice", &vec![b'a'; 200 * 1024]))
        .unwrap();
    assert!(s.poll_event().is_none());
    assert!(matches!(
        drain(&mut s, now)[..],
        [Message::UserauthFailure(_)]
    ));
    // 64 KiB user name.
    let mut s = server(ServerConfig::default());
    s.handle_message(now, password(&"u".repeat(64 * 1024), b"pw"))
        .unwrap();
    assert!(s.poll_event().is_none());
    assert!(matches!(
        drain(&mut s, now)[..],
        [Message::UserauthFailure(_)]
    ));
    // A method name with a NUL.
    let mut s = server(ServerConfig::default());
    s.handle_message(
        now,
        req(
            "alice",
            AuthMethod::Other {
                method: Text::from("pass\0word"),
                data: Bytes::new(),
            },
        ),
    )
    .unwrap();
    assert!(s.poll_event().is_none());
    assert!(matches!(
        drain(&mut s, now)[..],
        [Message::UserauthFailure(_)]
    ));
}

#[test]
fn catalog_a13_late_messages_after_success() {
    let mut p = Pair::new(client_config("alice"), ServerConfig::default())
        .decide(|_| accept())
        .password("x");
    p.run();
    assert!(p.authenticated());
    // A late request for root is ignored: no event, no reply, same user.
    p.inject_to_server(password("root", b"x"));
    assert!(p.server.poll_event().is_none());
    assert!(
        p.server
            .poll_transmit(p.now + Duration::from_secs(1))
            .is_none()
    );
    assert_eq!(p.outcome().user, "alice");
    // A second USERAUTH_SUCCESS to the client is a protocol error.
    assert_eq!(
        p.client
            .handle_message(Message::UserauthSuccess(UserauthSuccess {})),
        Err(Error::UnexpectedMessage { number: 52 })
    );
}

#[test]
fn catalog_m03_unsolicited_success_and_pk_ok() {
    let mut c = ClientAuth::new(
        client_config("alice"),
        Bytes::from_static(&SESSION_ID),
        None,
    );
    assert_eq!(
        c.handle_message(Message::UserauthSuccess(UserauthSuccess {})),
        Err(Error::Unsolicited("USERAUTH_SUCCESS"))
    );
    assert!(
        matches!(c.poll_transmit(), Some(Message::Disconnect(d)) if d.reason == DisconnectReason::PROTOCOL_ERROR)
    );

    // PK_OK for a key we did not offer.
    let mut c = ClientAuth::new(
        client_config("alice"),
        Bytes::from_static(&SESSION_ID),
        None,
    );
    c.add_identity(Box::new(KeySigner::new(ed25519(7), rng(7))));
    c.start().unwrap();
    let _ = c.poll_transmit();
    c.handle_message(Message::UserauthFailure(whelk_wire::msg::UserauthFailure {
        methods: NameList::parse("publickey").unwrap(),
        partial_success: false,
    }))
    .unwrap();
    let _query = c.poll_transmit().unwrap();
    let other = ed25519(8);
    let e = c.handle_message(Message::UserauthPkOk(UserauthPkOk {
        algorithm: Text::from("ssh-ed25519"),
        public_key: Bytes::copy_from_slice(other.public_key().blob()),
    }));
    assert_eq!(e, Err(Error::Unsolicited("PK_OK")));
}

#[test]
fn catalog_m04_trivial_auth_refused_with_require_auth() {
    let server_config = || ServerConfig {
        methods: vec![Method::None, Method::Password],
        ..ServerConfig::default()
    };
    let mut p = Pair::new(
        ClientConfig {
            require_auth: true,
            ..client_config("alice")
        },
        server_config(),
    )
    .decide(|_| accept());
    p.run();
    assert_eq!(p.client_error, Some(Error::TrivialAuth));
    assert!(!p.client.is_authenticated());

    // Keyboard-interactive with no prompts is not real authentication either.
    let mut p = Pair::new(
        ClientConfig {
            require_auth: true,
            methods: vec![Method::KeyboardInteractive],
            ..client_config("alice")
        },
        ServerConfig::default(),
    )
    .decide(|r| match r.kind {
        RequestKind::KeyboardInteractive { .. } => Decision::Prompts(Prompts::default()),
        RequestKind::KeyboardInteractiveResponse { .. } => accept(),
        _ => Decision::Reject,
    });
    p.run();
    assert_eq!(p.client_error, Some(Error::TrivialAuth));

    // Without the option the session is accepted.
    let mut p = Pair::new(client_config("alice"), server_config()).decide(|_| accept());
    p.run();
    assert!(p.authenticated());
}

#[test]
fn catalog_m09_no_sha1_without_ext_info() {
    let rsa = fixture_key("id_rsa2048");
    let c = ClientAuth::new(client_config("a"), Bytes::from_static(&SESSION_ID), None);
    // EXT_INFO missing (stripped by a MitM): still rsa-sha2-512.
    assert_eq!(
        c.choose_algorithm(rsa.key_type()),
        Some(SigAlg::RsaSha2_512)
    );
    // A server listing only ssh-rsa gets nothing unless SHA-1 is allowed.
    let mut c = ClientAuth::new(client_config("a"), Bytes::from_static(&SESSION_ID), None);
    c.handle_ext_info(&ExtInfo {
        extensions: vec![(
            Text::from("server-sig-algs"),
            Bytes::from_static(b"ssh-rsa"),
        )],
    });
    assert_eq!(c.choose_algorithm(rsa.key_type()), None);
    let mut c = ClientAuth::new(
        ClientConfig {
            allow_sha1: true,
            ..client_config("a")
        },
        Bytes::from_static(&SESSION_ID),
        None,
    );
    c.set_server_sig_algs(Some(NameList::parse("ssh-rsa").unwrap()));
    assert_eq!(c.choose_algorithm(rsa.key_type()), Some(SigAlg::SshRsa));

    // End to end: ssh-rsa against a server whose policy allows SHA-1.
    let line = rsa.public_key().to_openssh("");
    let policy = AuthorizedKeysPolicy::new(&line);
    let mut p = Pair::new(
        ClientConfig {
            allow_sha1: true,
            methods: vec![Method::PublicKey],
            ..client_config("a")
        },
        ServerConfig {
            verify_policy: VerifyPolicy::allowing_sha1(),
            ..ServerConfig::default()
        },
    )
    .decide(move |r| policy.decide(r, NOW_UNIX));
    p.client
        .set_server_sig_algs(Some(NameList::parse("ssh-rsa").unwrap()));
    p.client.add_identity(Box::new(
        KeySigner::new(rsa.clone(), rng(9)).allowing_sha1(),
    ));
    p.run();
    assert!(p.authenticated());
    // The default server refuses ssh-rsa.
    let line = rsa.public_key().to_openssh("");
    let policy = AuthorizedKeysPolicy::new(&line);
    let mut p = Pair::new(
        ClientConfig {
            allow_sha1: true,
            methods: vec![Method::PublicKey],
            ..client_config("a")
        },
        ServerConfig::default(),
    )
    .decide(move |r| policy.decide(r, NOW_UNIX));
    p.client
        .set_server_sig_algs(Some(NameList::parse("ssh-rsa").unwrap()));
    p.client
        .add_identity(Box::new(KeySigner::new(rsa, rng(9)).allowing_sha1()));
    p.run();
    assert!(!p.client.is_authenticated());
    assert!(p.log.requests.is_empty());
}

#[test]
fn user_change_resets_method_state() {
    let now = std::time::Instant::now();
    let key = ed25519(12);
    let mut s = server(ServerConfig {
        required: vec![vec![Method::PublicKey, Method::Password]],
        ..ServerConfig::default()
    });
    s.handle_message(
        now,
        signed_pk(&key, "alice", SigAlg::Ed25519, &SESSION_ID, SigAlg::Ed25519),
    )
    .unwrap();
    let Some(ServerEvent::Request(r)) = s.poll_event() else {
        panic!()
    };
    s.respond(now, r, accept()).unwrap();
    let out = drain(&mut s, now);
    assert!(
        matches!(&out[..], [Message::UserauthFailure(f)] if f.partial_success && f.methods.as_str() == "password")
    );
    // Switch to root: alice's publickey step does not carry over.
    s.handle_message(now, password("root", b"pw")).unwrap();
    assert!(
        s.poll_event().is_none(),
        "password is not allowed before publickey"
    );
    let out = drain(&mut s, now);
    assert!(
        matches!(&out[..], [Message::UserauthFailure(f)] if !f.partial_success && f.methods.as_str() == "publickey")
    );
    assert!(!s.is_authenticated());
}

#[test]
fn service_other_than_connection_is_refused() {
    let now = std::time::Instant::now();
    let mut s = server(ServerConfig::default());
    let m = Message::UserauthRequest(UserauthRequest {
        user: Text::from("alice"),
        service: Text::from("ssh-agent-evil"),
        method: AuthMethod::None,
    });
    assert!(matches!(
        s.handle_message(now, m),
        Err(Error::ServiceNotAvailable(_))
    ));
    assert_eq!(
        disconnect_reason(&drain(&mut s, now)),
        Some(DisconnectReason::SERVICE_NOT_AVAILABLE)
    );
}

#[test]
fn login_grace_time_drops_the_connection() {
    let start = std::time::Instant::now();
    let mut s = ServerAuth::new(
        ServerConfig::default(),
        Bytes::from_static(&SESSION_ID),
        host_key_blob(),
        start,
    );
    assert_eq!(s.poll_timeout(), Some(start + Duration::from_secs(120)));
    s.handle_message(start, password("alice", b"pw")).unwrap();
    let Some(ServerEvent::Request(token)) = s.poll_event() else {
        panic!()
    };
    s.handle_timeout(start + Duration::from_secs(119)).unwrap();
    let at = start + Duration::from_secs(120);
    assert_eq!(s.handle_timeout(at), Err(Error::LoginGraceTimeout));
    assert_eq!(
        disconnect_reason(&drain(&mut s, at)),
        Some(DisconnectReason::BY_APPLICATION)
    );
    // The application's late answer cannot authenticate.
    assert_eq!(
        s.respond(at, token, accept()),
        Err(Error::LoginGraceTimeout)
    );
    assert!(!s.is_authenticated());
}

#[test]
fn new_request_abandons_pending_decision() {
    let now = std::time::Instant::now();
    let mut s = server(ServerConfig::default());
    s.handle_message(now, password("alice", b"one")).unwrap();
    let Some(ServerEvent::Request(first)) = s.poll_event() else {
        panic!()
    };
    s.handle_message(now, password("alice", b"two")).unwrap();
    let Some(ServerEvent::Request(second)) = s.poll_event() else {
        panic!()
    };
    assert_eq!(s.respond(now, first, accept()), Err(Error::StaleToken));
    assert!(!s.is_authenticated());
    s.respond(now, second, accept()).unwrap();
    assert!(s.is_authenticated());
}

#[test]
fn info_response_out_of_place_or_wrong_count() {
    let now = std::time::Instant::now();
    let resp = |n: usize| {
        Message::UserauthInfoResponse(UserauthInfoResponse {
            responses: vec![Bytes::from_static(b"x"); n],
        })
    };
    let mut s = server(ServerConfig::default());
    assert_eq!(
        s.handle_message(now, resp(1)),
        Err(Error::UnexpectedMessage { number: 61 })
    );

    let mut s = server(ServerConfig::default());
    s.handle_message(
        now,
        req(
            "a",
            AuthMethod::KeyboardInteractive {
                language: Text::from(""),
                submethods: Text::from(""),
            },
        ),
    )
    .unwrap();
    assert_eq!(
        s.context(),
        Some(whelk_wire::msg::AuthFamily::KeyboardInteractive)
    );
    let Some(ServerEvent::Request(t)) = s.poll_event() else {
        panic!()
    };
    s.respond(
        now,
        t,
        Decision::Prompts(Prompts {
            prompts: vec![("a".into(), true), ("b".into(), false)],
            ..Prompts::default()
        }),
    )
    .unwrap();
    assert_eq!(
        s.handle_message(now, resp(3)),
        Err(Error::WrongResponseCount {
            expected: 2,
            got: 3
        })
    );
}

#[test]
fn disconnect_mapping_is_one_table() {
    for (e, r) in [
        (Error::ClientSentSuccess, DisconnectReason::PROTOCOL_ERROR),
        (
            Error::ConnectionMessageBeforeAuth { number: 90 },
            DisconnectReason::PROTOCOL_ERROR,
        ),
        (
            Error::TooManyAttempts,
            DisconnectReason::NO_MORE_AUTH_METHODS_AVAILABLE,
        ),
        (
            Error::ServiceNotAvailable("x".into()),
            DisconnectReason::SERVICE_NOT_AVAILABLE,
        ),
        (Error::Cancelled, DisconnectReason::AUTH_CANCELLED_BY_USER),
        (Error::LoginGraceTimeout, DisconnectReason::BY_APPLICATION),
    ] {
        assert_eq!(DisconnectReason::from(&e), r);
        assert!(e.is_fatal());
    }
    assert!(!Error::StaleToken.is_fatal());
}

#[test]
fn catalog_m04_earlier_failed_credentials_do_not_count() {
    // A wrong password first, then the server "accepts" an empty keyboard-interactive round.
    let mut p = Pair::new(
        ClientConfig {
            require_auth: true,
            methods: vec![Method::Password, Method::KeyboardInteractive],
            password_attempts: 1,
            ..client_config("alice")
        },
        ServerConfig::default(),
    )
    .decide(|r| match r.kind {
        RequestKind::KeyboardInteractive { .. } => Decision::Prompts(Prompts::default()),
        RequestKind::KeyboardInteractiveResponse { .. } => accept(),
        _ => Decision::Reject,
    })
    .password("guess");
    p.run();
    assert_eq!(p.client_error, Some(Error::TrivialAuth));
}
