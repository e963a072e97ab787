//! Every method end to end over the in-memory pair.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use whelk_auth::*;
use whelk_keys::cert::{CertBuilder, CertType};
use whelk_keys::{Curve, KeyGen, PrivateKey, SigAlg};
use whelk_wire::msg::{AuthMethod, ExtInfo, Message};
use whelk_wire::types::Text;
use zeroize::Zeroizing;

fn pw_server() -> ServerConfig {
    ServerConfig {
        methods: vec![Method::PublicKey, Method::Password],
        ..ServerConfig::default()
    }
}

fn password_checker(user: &'static str, pw: &'static str) -> impl FnMut(&AuthRequest) -> Decision {
    move |req| match &req.kind {
        RequestKind::Password { password, .. }
            if req.user == user && secret_eq(password, pw.as_bytes()) =>
        {
            accept()
        }
        _ => Decision::Reject,
    }
}

#[test]
fn password_accepted() {
    let mut p = Pair::new(client_config("alice"), pw_server())
        .decide(password_checker("alice", "hunter2"))
        .password("hunter2");
    p.run();
    assert!(p.authenticated());
    assert_eq!(p.outcome().user, "alice");
    assert_eq!(p.outcome().methods, [Method::Password]);
    // The `none` probe first, then the password.
    assert_eq!(p.log.to_server.len(), 2);
}

#[test]
fn password_wrong_then_right() {
    let mut tries = 0;
    let mut p = Pair::new(client_config("alice"), pw_server())
        .decide(password_checker("alice", "right"))
        .answer(move |_| {
            tries += 1;
            Answer::Password(Zeroizing::new(
                if tries < 3 { "wrong" } else { "right" }.into(),
            ))
        });
    p.run();
    assert!(p.authenticated());
    assert_eq!(p.server.failures(), 2);
}

#[test]
fn password_gives_up_after_three_prompts() {
    let mut p = Pair::new(client_config("alice"), pw_server())
        .decide(password_checker("alice", "right"))
        .password("wrong");
    p.run();
    assert!(!p.client.is_authenticated());
    assert!(matches!(p.client_error, Some(Error::NoMoreMethods { .. })));
    assert_eq!(p.log.prompts.len(), 3);
    // The client's disconnect names the reason.
    assert!(
        matches!(p.log.to_server.last(), Some(Message::Disconnect(d))
        if d.reason == whelk_wire::msg::DisconnectReason::NO_MORE_AUTH_METHODS_AVAILABLE)
    );
}

#[test]
fn password_change_flow() {
    let mut p = Pair::new(client_config("bob"), ServerConfig::default())
        .decide(|req| match &req.kind {
            RequestKind::Password {
                new_password: None, ..
            } => Decision::ChangePassword {
                prompt: "Password expired\x1b[2J".into(),
            },
            RequestKind::Password {
                password,
                new_password: Some(new),
            } if &password[..] == b"old" && &new[..] == b"new" => accept(),
            _ => Decision::Reject,
        })
        .answer(|k| match k {
            PromptKind::Password => Answer::Password(Zeroizing::new("old".into())),
            PromptKind::ChangePassword { prompt } => {
                // Control characters are stripped (catalog M04).
                assert_eq!(prompt, "Password expired[2J");
                Answer::ChangePassword {
                    old: Zeroizing::new("old".into()),
                    new: Zeroizing::new("new".into()),
                }
            }
            _ => Answer::Skip,
        });
    p.run();
    assert!(p.authenticated());
}

#[test]
fn none_accepted_when_enabled() {
    let mut p = Pair::new(
        client_config("guest"),
        ServerConfig {
            methods: vec![Method::None, Method::Password],
            ..ServerConfig::default()
        },
    )
    .decide(|req| match req.kind {
        RequestKind::None => accept(),
        _ => Decision::Reject,
    });
    p.run();
    assert!(p.authenticated());
    assert_eq!(p.outcome().methods, [Method::None]);
}

fn publickey_pair(key: PrivateKey, seed: u8) -> Pair {
    let line = key.public_key().to_openssh("user@host");
    let policy = AuthorizedKeysPolicy::new(&line);
    let mut p = Pair::new(client_config("carol"), ServerConfig::default())
        .decide(move |req| policy.decide(req, NOW_UNIX));
    p.client
        .add_identity(Box::new(KeySigner::new(key, rng(seed))));
    p
}

fn signed_algorithm(p: &Pair) -> String {
    p.log
        .to_server
        .iter()
        .find_map(|m| match m {
            Message::UserauthRequest(r) => match &r.method {
                AuthMethod::PublicKey {
                    algorithm,
                    signature: Some(_),
                    ..
                } => Some(algorithm.to_string()),
                _ => None,
            },
            _ => None,
        })
        .unwrap()
}

#[test]
fn publickey_ed25519_query_then_signed() {
    let key = ed25519(1);
    let public = key.public_key().clone();
    let mut p = publickey_pair(key, 1);
    p.run();
    assert!(p.authenticated());
    assert_eq!(p.outcome().keys, [public]);
    // none, query, signed request; PK_OK in between.
    assert_eq!(p.log.to_server.len(), 3);
    assert!(
        p.log
            .to_client
            .iter()
            .any(|(_, m)| matches!(m, Message::UserauthPkOk(_)))
    );
    assert_eq!(signed_algorithm(&p), "ssh-ed25519");
}

#[test]
fn publickey_ecdsa_all_curves() {
    for (i, curve) in [Curve::NistP256, Curve::NistP384, Curve::NistP521]
        .into_iter()
        .enumerate()
    {
        let key =
            PrivateKey::generate(KeyGen::Ecdsa(curve), &mut rng(u8::try_from(i).unwrap())).unwrap();
        let mut p = publickey_pair(key, 9);
        p.run();
        assert!(p.authenticated(), "{curve:?}");
    }
}

#[test]
fn publickey_rsa_follows_server_sig_algs() {
    for (algs, expected) in [
        ("ssh-ed25519,rsa-sha2-512,rsa-sha2-256", "rsa-sha2-512"),
        ("ssh-ed25519,rsa-sha2-256", "rsa-sha2-256"),
    ] {
        let key = fixture_key("id_rsa2048");
        let mut p = publickey_pair(key, 2);
        p.client.handle_ext_info(&ExtInfo {
            extensions: vec![(
                Text::from("server-sig-algs"),
                bytes::Bytes::from_static(algs.as_bytes()),
            )],
        });
        p.run();
        assert!(p.authenticated());
        assert_eq!(signed_algorithm(&p), expected);
    }
}

/// A server that accepts `key` or any password; the client answers password prompts.
fn key_or_password_pair(key: &PrivateKey) -> Pair {
    let policy = AuthorizedKeysPolicy::new(&key.public_key().to_openssh(""));
    Pair::new(client_config("carol"), ServerConfig::default())
        .decide(move |req| match &req.kind {
            RequestKind::Password { .. } => accept(),
            _ => policy.decide(req, NOW_UNIX),
        })
        .password("pw")
}

/// Answers `poll_sign` with `Pending` until `ready` is set (as an ssh-agent whose reply is
/// still on its way), then with `inner`'s signature, or fails when `fail` is set.
#[derive(Debug)]
struct Deferred {
    inner: KeySigner<chacha20::ChaCha20Rng>,
    ready: std::sync::Arc<std::sync::atomic::AtomicBool>,
    fail: bool,
}

impl Signer for Deferred {
    fn identity(&self) -> &whelk_keys::cert::KeyOrCert {
        self.inner.identity()
    }
    fn sign(
        &mut self,
        alg: SigAlg,
        data: &[u8],
    ) -> std::result::Result<Vec<u8>, whelk_keys::Error> {
        self.inner.sign(alg, data)
    }
    fn poll_sign(
        &mut self,
        alg: SigAlg,
        data: &[u8],
    ) -> std::task::Poll<std::result::Result<Vec<u8>, whelk_keys::Error>> {
        if !self.ready.load(std::sync::atomic::Ordering::SeqCst) {
            return std::task::Poll::Pending;
        }
        if self.fail {
            return std::task::Poll::Ready(Err(whelk_keys::Error::CannotSign("test")));
        }
        std::task::Poll::Ready(self.inner.sign(alg, data))
    }
}

#[test]
fn publickey_deferred_signature_is_sent_once_the_signer_answers() {
    for fail in [false, true] {
        let key = ed25519(6);
        let mut p = key_or_password_pair(&key);
        let ready = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        p.client.add_identity(Box::new(Deferred {
            inner: KeySigner::new(key, rng(6)),
            ready: ready.clone(),
            fail,
        }));
        p.run();
        // PK_OK came back; the signer has not answered: nothing more was sent.
        assert!(!p.authenticated());
        assert_eq!(p.log.to_server.len(), 2, "{:?}", p.log.to_server);
        assert!(p.client_error.is_none());
        // Asking again while it is still pending sends nothing either.
        assert!(!p.step());
        ready.store(true, std::sync::atomic::Ordering::SeqCst);
        p.drive();
        assert!(p.authenticated(), "fail={fail}");
        let want = if fail {
            Method::Password
        } else {
            Method::PublicKey
        };
        assert_eq!(p.outcome().methods, [want]);
        if !fail {
            assert_eq!(signed_algorithm(&p), "ssh-ed25519");
        }
    }
}

#[test]
fn publickey_falls_back_to_second_identity_then_password() {
    let good = ed25519(2);
    let mut p = key_or_password_pair(&good);
    p.client
        .add_identity(Box::new(KeySigner::new(ed25519(3), rng(3))));
    p.client
        .add_identity(Box::new(KeySigner::new(good.clone(), rng(4))));
    p.run();
    assert!(p.authenticated());
    assert_eq!(p.outcome().keys, [good.public_key().clone()]);

    // Neither key authorized: publickey exhausted, password next.
    let mut p = Pair::new(client_config("carol"), ServerConfig::default())
        .decide(|req| match &req.kind {
            RequestKind::Password { .. } => accept(),
            _ => Decision::Reject,
        })
        .password("pw");
    p.client
        .add_identity(Box::new(KeySigner::new(ed25519(3), rng(3))));
    p.run();
    assert!(p.authenticated());
    assert_eq!(p.outcome().methods, [Method::Password]);
}

#[test]
fn publickey_user_certificate() {
    let ca = ed25519(50);
    let user_key = ed25519(51);
    let cert = CertBuilder::new(
        user_key.public_key().clone(),
        CertType::User,
        NOW_UNIX - 100,
        NOW_UNIX + 100,
    )
    .principal("dave")
    .key_id("dave@corp")
    .sign(&ca, SigAlg::Ed25519, &mut rng(5))
    .unwrap();

    // Trusted CA (TrustedUserCAKeys).
    let policy = AuthorizedKeysPolicy::new("").with_trusted_ca(ca.public_key().clone());
    let mut p = Pair::new(client_config("dave"), ServerConfig::default())
        .decide(move |req| policy.decide(req, NOW_UNIX));
    p.client.add_identity(Box::new(KeySigner::with_certificate(
        user_key.clone(),
        cert.clone(),
        rng(6),
    )));
    p.run();
    assert!(p.authenticated());
    assert_eq!(signed_algorithm(&p), "ssh-ed25519-cert-v01@openssh.com");
    assert_eq!(p.outcome().grants[0].certificate.as_ref(), Some(&cert));

    // cert-authority line with options.
    let line = format!("cert-authority,no-pty {}", ca.public_key().to_openssh("ca"));
    let policy = AuthorizedKeysPolicy::new(&line);
    let mut p = Pair::new(client_config("dave"), ServerConfig::default())
        .decide(move |req| policy.decide(req, NOW_UNIX));
    p.client.add_identity(Box::new(KeySigner::with_certificate(
        user_key.clone(),
        cert.clone(),
        rng(6),
    )));
    p.run();
    assert!(p.authenticated());
    let opts = p.outcome().grants[0].options.as_ref().unwrap();
    assert!(!opts.permits_pty());

    // Wrong principal, expired and untrusted CA are all refused.
    for (user, now, trusted) in [
        ("eve", NOW_UNIX, true),
        ("dave", NOW_UNIX + 1000, true),
        ("dave", NOW_UNIX, false),
    ] {
        let mut policy = AuthorizedKeysPolicy::new("");
        if trusted {
            policy = policy.with_trusted_ca(ca.public_key().clone());
        }
        let mut p = Pair::new(client_config(user), ServerConfig::default())
            .decide(move |req| policy.decide(req, now));
        p.client.add_identity(Box::new(KeySigner::with_certificate(
            user_key.clone(),
            cert.clone(),
            rng(6),
        )));
        p.run();
        assert!(!p.client.is_authenticated(), "{user} {now} {trusted}");
    }
}

#[test]
fn publickey_hostbound() {
    let key = ed25519(7);
    let mut p = publickey_pair(key, 7);
    p.client.handle_ext_info(&ExtInfo {
        extensions: vec![(
            Text::from("publickey-hostbound@openssh.com"),
            bytes::Bytes::from_static(b"0"),
        )],
    });
    p.run();
    assert!(p.authenticated());
    assert!(p.log.to_server.iter().any(|m| matches!(m,
        Message::UserauthRequest(r) if matches!(r.method, AuthMethod::PublicKeyHostbound { signature: Some(_), .. }))));
}

#[test]
fn publickey_hostbound_for_another_host_key_fails() {
    let key = ed25519(7);
    let mut p = publickey_pair(key, 7);
    // The client believes it talks to another host (a MitM relaying with its own key).
    p.client = ClientAuth::new(
        ClientConfig {
            methods: vec![Method::PublicKey],
            ..client_config("carol")
        },
        bytes::Bytes::from_static(&SESSION_ID),
        Some(bytes::Bytes::copy_from_slice(
            ed25519(99).public_key().blob(),
        )),
    );
    p.client
        .add_identity(Box::new(KeySigner::new(ed25519(7), rng(7))));
    p.client.handle_ext_info(&ExtInfo {
        extensions: vec![(
            Text::from("publickey-hostbound@openssh.com"),
            bytes::Bytes::from_static(b"0"),
        )],
    });
    p.run();
    assert!(!p.client.is_authenticated());
    assert!(p.log.requests.is_empty(), "never reaches the application");
}

#[test]
fn keyboard_interactive_rounds_and_echo() {
    let mut round = 0;
    let mut p = Pair::new(client_config("erin"), ServerConfig::default())
        .decide(move |req| match &req.kind {
            RequestKind::KeyboardInteractive { .. } => Decision::Prompts(Prompts {
                name: "Login".into(),
                instruction: "Two steps".into(),
                prompts: vec![("User: ".into(), true), ("Password: ".into(), false)],
            }),
            RequestKind::KeyboardInteractiveResponse { responses } => {
                round += 1;
                if round == 1 {
                    assert_eq!(&responses[0][..], b"erin");
                    assert_eq!(&responses[1][..], b"secret");
                    Decision::Prompts(Prompts {
                        prompts: vec![("OTP: ".into(), false)],
                        ..Prompts::default()
                    })
                } else if &responses[0][..] == b"123456" {
                    accept()
                } else {
                    Decision::Reject
                }
            }
            _ => Decision::Reject,
        })
        .answer(|k| match k {
            PromptKind::KeyboardInteractive { prompts, .. } if prompts.len() == 2 => {
                assert!(prompts[0].1 && !prompts[1].1, "echo flags");
                Answer::Responses(vec![
                    Zeroizing::new("erin".into()),
                    Zeroizing::new("secret".into()),
                ])
            }
            PromptKind::KeyboardInteractive { .. } => {
                Answer::Responses(vec![Zeroizing::new("123456".into())])
            }
            _ => Answer::Skip,
        });
    p.run();
    assert!(p.authenticated());
    assert_eq!(p.outcome().methods, [Method::KeyboardInteractive]);
    assert_eq!(p.log.prompts.len(), 2);
}

#[test]
fn keyboard_interactive_skipped_then_password() {
    let mut p = Pair::new(client_config("erin"), ServerConfig::default())
        .decide(|req| match &req.kind {
            RequestKind::KeyboardInteractive { .. } => Decision::Prompts(Prompts {
                prompts: vec![("Token: ".into(), false)],
                ..Prompts::default()
            }),
            RequestKind::Password { .. } => accept(),
            _ => Decision::Reject,
        })
        .answer(|k| match k {
            PromptKind::Password => Answer::Password(Zeroizing::new("x".into())),
            _ => Answer::Skip,
        });
    p.run();
    assert!(p.authenticated());
    assert_eq!(p.outcome().methods, [Method::Password]);
}

#[test]
fn hostbased_both_sides() {
    let host = ed25519(60);
    let host_pub = host.public_key().clone();
    let server = ServerConfig {
        methods: vec![Method::HostBased, Method::Password],
        ..ServerConfig::default()
    };
    let mut p = Pair::new(
        ClientConfig {
            user: "frank".into(),
            methods: vec![Method::HostBased, Method::Password],
            ..ClientConfig::default()
        },
        server,
    )
    .decide(move |req| match &req.kind {
        RequestKind::HostBased {
            key,
            client_host,
            client_user,
            ..
        } if *key.public_key() == host_pub
            && client_host == "client.example."
            && client_user == "frank" =>
        {
            accept()
        }
        _ => Decision::Reject,
    });
    p.client.set_hostbased(HostbasedIdentity {
        signer: Box::new(KeySigner::new(host, rng(8))),
        client_host: "client.example.".into(),
        client_user: "frank".into(),
    });
    p.run();
    assert!(p.authenticated());
    assert_eq!(p.outcome().methods, [Method::HostBased]);
}

#[test]
fn banner_reaches_client_sanitized() {
    let mut p = Pair::new(
        client_config("alice"),
        ServerConfig {
            banner: Some("Welcome\x1b]0;pwned\x07 to whelk\n".into()),
            ..ServerConfig::default()
        },
    )
    .decide(|_| accept())
    .password("x");
    p.run();
    assert!(p.authenticated());
    assert_eq!(p.log.banners, ["Welcome]0;pwned to whelk\n"]);
}

#[test]
fn required_chain_publickey_then_password() {
    let key = ed25519(10);
    let policy = AuthorizedKeysPolicy::new(&key.public_key().to_openssh(""));
    let server = ServerConfig {
        required: vec![vec![Method::PublicKey, Method::Password]],
        ..ServerConfig::default()
    };
    let mut p = Pair::new(client_config("gina"), server)
        .decide(move |req| match &req.kind {
            RequestKind::Password { .. } => accept(),
            _ => policy.decide(req, NOW_UNIX),
        })
        .password("pw");
    p.client
        .add_identity(Box::new(KeySigner::new(key, rng(10))));
    p.run();
    assert!(p.authenticated());
    assert_eq!(p.outcome().methods, [Method::PublicKey, Method::Password]);
    assert_eq!(p.log.partial, 1);
    // After `none`, only publickey is offered (the chain's first step).
    let first_failure = p.log.to_client.iter().find_map(|(_, m)| match m {
        Message::UserauthFailure(f) => Some(f.methods.to_string()),
        _ => None,
    });
    assert_eq!(first_failure.as_deref(), Some("publickey"));
}

#[test]
fn required_chain_password_alone_is_not_enough() {
    let server = ServerConfig {
        required: vec![vec![Method::PublicKey, Method::Password]],
        ..ServerConfig::default()
    };
    let mut p = Pair::new(client_config("gina"), server)
        .decide(|_| accept())
        .password("pw");
    p.run();
    assert!(!p.client.is_authenticated());
    assert!(!p.server.is_authenticated());
    assert!(matches!(p.client_error, Some(Error::NoMoreMethods { .. })));
}

#[test]
fn application_partial_then_second_method() {
    let key = ed25519(11);
    let policy = AuthorizedKeysPolicy::new(&key.public_key().to_openssh(""));
    let mut p = Pair::new(client_config("hank"), ServerConfig::default())
        .decide(move |req| match &req.kind {
            RequestKind::PublicKey { signed: true, .. } => match policy.decide(req, NOW_UNIX) {
                Decision::Accept(g) => Decision::Partial(g),
                d => d,
            },
            RequestKind::Password { .. } => accept(),
            _ => policy.decide(req, NOW_UNIX),
        })
        .password("pw");
    p.client
        .add_identity(Box::new(KeySigner::new(key, rng(11))));
    p.run();
    assert!(p.authenticated());
    assert_eq!(p.outcome().methods, [Method::PublicKey, Method::Password]);
}

#[test]
fn asynchronous_decision_later() {
    // The application answers after a (virtual) second: nothing moves meanwhile.
    let mut p = Pair::new(client_config("ivy"), ServerConfig::default()).password("pw");
    p.client.start().unwrap();
    p.decide = Box::new(|_| Decision::Reject);
    // Hold the password request token instead of answering.
    let mut held = None;
    for _ in 0..10 {
        while let Some(m) = p.client.poll_transmit() {
            p.server
                .handle_message(p.now, wire(&m, p.server.context()))
                .unwrap();
        }
        while let Some(ev) = p.server.poll_event() {
            if let ServerEvent::Request(r) = ev {
                if matches!(r.kind, RequestKind::Password { .. }) {
                    held = Some(r);
                } else {
                    p.server.respond(p.now, r, Decision::Reject).unwrap();
                }
            }
        }
        p.now += std::time::Duration::from_millis(20);
        while let Some(m) = p.server.poll_transmit(p.now) {
            p.client
                .handle_message(wire(&m, p.client.context()))
                .unwrap();
        }
        while let Some(ev) = p.client.poll_event() {
            if let ClientEvent::Credentials(r) = ev {
                p.client
                    .respond(r, Answer::Password(Zeroizing::new("pw".into())))
                    .unwrap();
            }
        }
    }
    let token = held.expect("password request");
    assert_eq!(token.user, "ivy");
    p.now += std::time::Duration::from_secs(1);
    p.server.respond(p.now, token, accept()).unwrap();
    p.drive();
    assert!(p.authenticated());
}

#[test]
fn give_up_cleanly_when_server_offers_nothing_we_have() {
    let mut p = Pair::new(
        ClientConfig {
            user: "jo".into(),
            methods: vec![Method::PublicKey],
            ..ClientConfig::default()
        },
        ServerConfig {
            methods: vec![Method::Password],
            ..ServerConfig::default()
        },
    );
    p.run();
    match &p.client_error {
        Some(Error::NoMoreMethods { server_methods }) => assert_eq!(server_methods, "password"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn required_chain_two_different_keys() {
    let (k1, k2) = (ed25519(20), ed25519(21));
    let text = format!(
        "{}\n{}\n",
        k1.public_key().to_openssh(""),
        k2.public_key().to_openssh("")
    );
    let server = || ServerConfig {
        required: vec![vec![Method::PublicKey, Method::PublicKey]],
        ..ServerConfig::default()
    };
    let policy = AuthorizedKeysPolicy::new(&text);
    let mut p =
        Pair::new(client_config("kim"), server()).decide(move |r| policy.decide(r, NOW_UNIX));
    p.client
        .add_identity(Box::new(KeySigner::new(k1.clone(), rng(20))));
    p.client
        .add_identity(Box::new(KeySigner::new(k2.clone(), rng(21))));
    p.run();
    assert!(p.authenticated());
    assert_eq!(p.outcome().methods, [Method::PublicKey, Method::PublicKey]);
    assert_eq!(
        p.outcome().keys,
        [k1.public_key().clone(), k2.public_key().clone()]
    );

    // The same key twice does not satisfy the chain.
    let policy = AuthorizedKeysPolicy::new(&text);
    let mut p =
        Pair::new(client_config("kim"), server()).decide(move |r| policy.decide(r, NOW_UNIX));
    p.client
        .add_identity(Box::new(KeySigner::new(k1.clone(), rng(20))));
    p.client.add_identity(Box::new(KeySigner::new(k1, rng(22))));
    p.run();
    assert!(!p.server.is_authenticated());
    assert!(matches!(p.client_error, Some(Error::NoMoreMethods { .. })));
}

#[test]
fn cancel_disconnects_with_auth_cancelled_by_user() {
    let mut p = Pair::new(client_config("alice"), pw_server()).answer(|_| Answer::Cancel);
    p.run();
    assert_eq!(p.client_error, Some(Error::Cancelled));
    assert!(
        matches!(p.log.to_server.last(), Some(Message::Disconnect(d))
        if d.reason == whelk_wire::msg::DisconnectReason::AUTH_CANCELLED_BY_USER)
    );
}

#[test]
fn hostbased_with_wrong_client_user_in_signature_fails_unasked() {
    // The signature covers client_user "frank"; the request claims "root".
    let host = ed25519(61);
    let blob = bytes::Bytes::copy_from_slice(host.public_key().blob());
    let data = hostbased_signed_data(
        &SESSION_ID,
        b"frank",
        b"ssh-connection",
        b"ssh-ed25519",
        &blob,
        b"client.example.",
        b"frank",
    );
    let sig = host.sign(SigAlg::Ed25519, &data, &mut rng(1)).unwrap();
    let now = std::time::Instant::now();
    let mut s = ServerAuth::new(
        ServerConfig {
            methods: vec![Method::HostBased],
            ..ServerConfig::default()
        },
        bytes::Bytes::from_static(&SESSION_ID),
        host_key_blob(),
        now,
    );
    s.handle_message(
        now,
        Message::UserauthRequest(whelk_wire::msg::UserauthRequest {
            user: Text::from("frank"),
            service: Text::from("ssh-connection"),
            method: AuthMethod::HostBased {
                algorithm: Text::from("ssh-ed25519"),
                public_key: blob,
                client_host: Text::from("client.example."),
                client_user: Text::from("root"),
                signature: bytes::Bytes::from(sig),
            },
        }),
    )
    .unwrap();
    assert!(s.poll_event().is_none());
    assert_eq!(s.failures(), 1);
}

#[test]
fn banner_is_sent_once() {
    let mut p = Pair::new(
        client_config("alice"),
        ServerConfig {
            banner: Some("hi".into()),
            ..pw_server()
        },
    )
    .decide(password_checker("alice", "right"))
    .answer({
        let mut n = 0;
        move |_| {
            n += 1;
            Answer::Password(Zeroizing::new(if n < 3 { "x" } else { "right" }.into()))
        }
    });
    p.run();
    assert!(p.authenticated());
    assert_eq!(p.log.banners, ["hi"]);
}

#[test]
fn debug_output_never_shows_secrets() {
    let a = Answer::Password(Zeroizing::new("s3cr3t-pw".into()));
    assert!(!format!("{a:?}").contains("s3cr3t"));
    let now = std::time::Instant::now();
    let mut s = ServerAuth::new(
        ServerConfig::default(),
        bytes::Bytes::from_static(&SESSION_ID),
        host_key_blob(),
        now,
    );
    s.handle_message(
        now,
        Message::UserauthRequest(whelk_wire::msg::UserauthRequest {
            user: Text::from("alice"),
            service: Text::from("ssh-connection"),
            method: AuthMethod::Password {
                password: bytes::Bytes::from_static(b"s3cr3t-pw"),
                new_password: None,
            },
        }),
    )
    .unwrap();
    let Some(ServerEvent::Request(r)) = s.poll_event() else {
        panic!()
    };
    assert!(!format!("{r:?}").contains("s3cr3t"));
    let _ = s.respond(now, r, Decision::Reject);
    let mut c = ClientAuth::new(
        client_config("alice"),
        bytes::Bytes::from_static(&SESSION_ID),
        None,
    );
    c.start().unwrap();
    c.handle_message(Message::UserauthFailure(whelk_wire::msg::UserauthFailure {
        methods: whelk_wire::types::NameList::parse("password").unwrap(),
        partial_success: false,
    }))
    .unwrap();
    let _ = c.poll_transmit();
    let Some(ClientEvent::Credentials(req)) = c.poll_event() else {
        panic!()
    };
    c.respond(req, Answer::Password(Zeroizing::new("s3cr3t-pw".into())))
        .unwrap();
    assert!(!format!("{c:?}").contains("s3cr3t"));
    assert!(!format!("{:?}", ServerConfig::default()).contains("jitter_key"));
}
