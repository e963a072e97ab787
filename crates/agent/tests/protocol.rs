//! In-memory client <-> server tests of the agent protocol: every request type, every key
//! type, certificates, constraints, lock/unlock, extensions and the limits.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use bytes::Bytes;
use rand_core::SeedableRng;
use whelk_agent::proto::{self, Constraint, SIGN_RSA_SHA2_256, SIGN_RSA_SHA2_512, code};
use whelk_agent::{
    AddIdentity, Agent, Client, ConfirmRequest, DenyAll, Env, Error, Identity, Request, Response,
    ServerConnection,
};
use whelk_keys::cert::{CertBuilder, CertType, KeyOrCert};
use whelk_keys::{PrivateKey, SigAlg, VerifyPolicy};
use whelk_wire::msg::SessionBind;
use zeroize::Zeroizing;

type Rng = chacha20::ChaCha20Rng;

fn key(name: &str) -> PrivateKey {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/keys")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut k = PrivateKey::from_openssh(&text, None).unwrap();
    k.set_comment(name);
    k
}

/// A client, a server connection and an agent wired together in memory.
struct Harness {
    agent: Agent,
    conn: ServerConnection,
    client: Client,
    rng: Rng,
    now: u64,
    confirm_answer: bool,
    confirm_asked: Vec<String>,
}

impl Harness {
    fn new() -> Self {
        Self {
            agent: Agent::new(),
            conn: ServerConnection::new(),
            client: Client::new(),
            rng: Rng::from_seed([1; 32]),
            now: 1000,
            confirm_answer: false,
            confirm_asked: Vec::new(),
        }
    }

    fn feed(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let answer = self.confirm_answer;
        let asked = &mut self.confirm_asked;
        let mut confirm = |r: &ConfirmRequest| {
            asked.push(r.prompt());
            answer
        };
        let mut env = Env {
            now: self.now,
            rng: &mut self.rng,
            confirm: &mut confirm,
        };
        self.conn.receive(&mut self.agent, bytes, &mut env)
    }

    fn call(&mut self, req: Request) -> Response {
        let bytes = self.client.request(&req).unwrap();
        self.feed(&bytes).unwrap();
        self.client.receive(&self.conn.take_output()).unwrap();
        self.client.poll_response().unwrap().expect("a whole reply")
    }

    fn add(&mut self, key: &PrivateKey, constraints: Vec<Constraint>) -> Response {
        self.call(Request::Add(Box::new(AddIdentity {
            key: key.clone(),
            certificate: None,
            comment: Bytes::from(key.comment().to_owned()),
            constraints,
        })))
    }

    fn list(&mut self) -> Vec<Identity> {
        self.call(Request::RequestIdentities)
            .into_identities()
            .unwrap()
    }

    fn sign(&mut self, blob: &[u8], data: &[u8], flags: u32) -> Response {
        self.call(Request::Sign {
            key_blob: Bytes::copy_from_slice(blob),
            data: Bytes::copy_from_slice(data),
            flags,
        })
    }
}

#[test]
fn add_list_sign_verify_every_key_type() {
    let mut h = Harness::new();
    let cases = [
        ("id_ed25519", 0, SigAlg::Ed25519),
        ("id_ecdsa256", 0, SigAlg::EcdsaNistP256),
        ("id_ecdsa384", 0, SigAlg::EcdsaNistP384),
        ("id_ecdsa521", 0, SigAlg::EcdsaNistP521),
        ("id_rsa2048", SIGN_RSA_SHA2_256, SigAlg::RsaSha2_256),
        ("id_rsa2048", SIGN_RSA_SHA2_512, SigAlg::RsaSha2_512),
        (
            "id_rsa3072",
            SIGN_RSA_SHA2_512 | SIGN_RSA_SHA2_256,
            SigAlg::RsaSha2_512,
        ),
    ];
    for (name, _, _) in &cases {
        h.add(&key(name), vec![]).into_success().unwrap();
    }
    let ids = h.list();
    assert_eq!(ids.len(), 6, "re-adding id_rsa2048 does not duplicate it");
    for (name, flags, alg) in cases {
        let k = key(name);
        let id = ids
            .iter()
            .find(|i| i.key_blob.as_ref() == k.public_key().blob())
            .unwrap();
        assert_eq!(id.comment_lossy(), name);
        let data = format!("data for {name}");
        let sig = h
            .sign(&id.key_blob, data.as_bytes(), flags)
            .into_signature()
            .unwrap();
        k.public_key()
            .verify(alg, data.as_bytes(), &sig, &VerifyPolicy::default())
            .unwrap();
        assert_eq!(
            whelk_agent::client::signature_algorithm(k.key_type(), flags),
            Some(alg)
        );
    }
}

#[test]
fn rsa_without_sha2_flags_is_refused_unless_allowed() {
    let mut h = Harness::new();
    let k = key("id_rsa2048");
    h.add(&k, vec![]).into_success().unwrap();
    assert_eq!(h.sign(k.public_key().blob(), b"x", 0), Response::Failure);
    h.agent.set_allow_ssh_rsa(true);
    let sig = h
        .sign(k.public_key().blob(), b"x", 0)
        .into_signature()
        .unwrap();
    k.public_key()
        .verify(SigAlg::SshRsa, b"x", &sig, &VerifyPolicy::allowing_sha1())
        .unwrap();
}

#[test]
fn sign_with_unknown_key_fails() {
    let mut h = Harness::new();
    let k = key("id_ed25519");
    assert_eq!(h.sign(k.public_key().blob(), b"x", 0), Response::Failure);
}

#[test]
fn certificates_are_identities() {
    let mut h = Harness::new();
    let mut rng = Rng::from_seed([3; 32]);
    let ca = PrivateKey::ed25519_from_seed(&[0xca; 32]);
    for (name, alg, flags) in [
        ("id_ed25519", SigAlg::Ed25519, 0),
        ("id_ecdsa384", SigAlg::EcdsaNistP384, 0),
        ("id_rsa2048", SigAlg::RsaSha2_256, SIGN_RSA_SHA2_256),
    ] {
        let k = key(name);
        let cert = CertBuilder::new(k.public_key().clone(), CertType::User, 0, u64::MAX)
            .key_id(name)
            .principal("alice")
            .sign(&ca, SigAlg::Ed25519, &mut rng)
            .unwrap();
        // The plain key and its certificate are separate identities.
        h.add(&k, vec![]).into_success().unwrap();
        h.call(Request::Add(Box::new(AddIdentity {
            key: k.clone(),
            certificate: Some(cert.clone()),
            comment: Bytes::from(format!("{name}-cert")),
            constraints: vec![],
        })))
        .into_success()
        .unwrap();
        let ids = h.list();
        let id = ids
            .iter()
            .find(|i| i.key_blob.as_ref() == cert.blob())
            .expect("certificate listed");
        match id.key().unwrap() {
            KeyOrCert::Certificate(c) => assert_eq!(c.key_id(), name),
            KeyOrCert::Key(_) => panic!("listed as a plain key"),
        }
        let sig = h
            .sign(cert.blob(), b"cert data", flags)
            .into_signature()
            .unwrap();
        k.public_key()
            .verify(alg, b"cert data", &sig, &VerifyPolicy::default())
            .unwrap();
        // Removing the certificate leaves the plain key.
        h.call(Request::Remove {
            key_blob: Bytes::copy_from_slice(cert.blob()),
        })
        .into_success()
        .unwrap();
        assert!(h.list().iter().all(|i| i.key_blob.as_ref() != cert.blob()));
        assert!(
            h.list()
                .iter()
                .any(|i| i.key_blob.as_ref() == k.public_key().blob())
        );
    }
}

#[test]
fn certificate_for_another_key_is_refused() {
    let mut h = Harness::new();
    let mut rng = Rng::from_seed([4; 32]);
    let ca = PrivateKey::ed25519_from_seed(&[0xca; 32]);
    let k = key("id_ed25519");
    let other = key("id_ecdsa256");
    let cert = CertBuilder::new(other.public_key().clone(), CertType::User, 0, u64::MAX)
        .sign(&ca, SigAlg::Ed25519, &mut rng)
        .unwrap();
    // The client refuses to encode it...
    let add = Request::Add(Box::new(AddIdentity {
        key: k.clone(),
        certificate: Some(cert.clone()),
        comment: Bytes::new(),
        constraints: vec![],
    }));
    assert!(add.to_frame().is_err());
    // ...and a hand-built message with a mismatched certificate is refused by the agent:
    // an Ed25519 certificate for another Ed25519 key, with this key's private half.
    let other_ed = PrivateKey::ed25519_from_seed(&[9; 32]);
    let cert = CertBuilder::new(other_ed.public_key().clone(), CertType::User, 0, u64::MAX)
        .sign(&ca, SigAlg::Ed25519, &mut rng)
        .unwrap();
    let good = Request::Add(Box::new(AddIdentity {
        key: other_ed.clone(),
        certificate: Some(cert.clone()),
        comment: Bytes::new(),
        constraints: vec![],
    }))
    .to_frame()
    .unwrap();
    // Swap the private seed||public field (after the certificate and public key).
    let mut bad = good.clone();
    let seed_at = find(&bad, &[9; 32]).expect("seed present");
    bad[seed_at..seed_at + 32].copy_from_slice(&[8; 32]);
    h.feed(&bad).unwrap();
    let out = h.conn.take_output();
    assert_eq!(out, Response::Failure.to_frame().unwrap());
    assert!(h.agent.is_empty());
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn remove_and_remove_all() {
    let mut h = Harness::new();
    let a = key("id_ed25519");
    let b = key("id_ecdsa256");
    h.add(&a, vec![]).into_success().unwrap();
    h.add(&b, vec![]).into_success().unwrap();
    h.call(Request::Remove {
        key_blob: Bytes::copy_from_slice(a.public_key().blob()),
    })
    .into_success()
    .unwrap();
    assert_eq!(h.list().len(), 1);
    assert_eq!(
        h.call(Request::Remove {
            key_blob: Bytes::copy_from_slice(a.public_key().blob()),
        }),
        Response::Failure
    );
    h.call(Request::RemoveAll).into_success().unwrap();
    assert!(h.list().is_empty());
    assert!(h.agent.is_empty());
}

#[test]
fn lock_and_unlock() {
    let mut h = Harness::new();
    let k = key("id_ed25519");
    h.add(&k, vec![]).into_success().unwrap();
    let lock = |p: &[u8]| Request::Lock {
        passphrase: Zeroizing::new(p.to_vec()),
    };
    let unlock = |p: &[u8]| Request::Unlock {
        passphrase: Zeroizing::new(p.to_vec()),
    };
    assert_eq!(h.call(unlock(b"pw")), Response::Failure, "not locked");
    h.call(lock(b"pw")).into_success().unwrap();
    assert!(h.agent.is_locked());
    assert_eq!(h.call(lock(b"pw")), Response::Failure, "already locked");
    // Locked: nothing listed, nothing signed, added or removed.
    assert!(h.list().is_empty());
    assert_eq!(h.sign(k.public_key().blob(), b"x", 0), Response::Failure);
    assert_eq!(h.add(&key("id_ecdsa256"), vec![]), Response::Failure);
    assert_eq!(h.call(Request::RemoveAll), Response::Failure);
    // A wrong passphrase fails and delays the next attempt by a second.
    assert_eq!(h.call(unlock(b"wrong")), Response::Failure);
    assert_eq!(
        h.call(unlock(b"pw")),
        Response::Failure,
        "too soon after a failure"
    );
    h.now += 1;
    h.call(unlock(b"pw")).into_success().unwrap();
    assert!(!h.agent.is_locked());
    assert_eq!(h.list().len(), 1);
    h.sign(k.public_key().blob(), b"x", 0)
        .into_signature()
        .unwrap();
}

#[test]
fn unlock_delay_grows_and_is_capped() {
    let mut h = Harness::new();
    h.call(Request::Lock {
        passphrase: Zeroizing::new(b"pw".to_vec()),
    })
    .into_success()
    .unwrap();
    for _ in 0..20 {
        assert_eq!(
            h.call(Request::Unlock {
                passphrase: Zeroizing::new(b"no".to_vec()),
            }),
            Response::Failure
        );
        h.now += 20;
    }
    assert_eq!(
        h.call(Request::Unlock {
            passphrase: Zeroizing::new(b"no".to_vec()),
        }),
        Response::Failure
    );
    h.now += whelk_agent::server::MAX_UNLOCK_DELAY - 1;
    let unlock_pw = || Request::Unlock {
        passphrase: Zeroizing::new(b"pw".to_vec()),
    };
    assert_eq!(h.call(unlock_pw()), Response::Failure);
    h.now += 1;
    h.call(unlock_pw()).into_success().unwrap();
}

#[test]
fn lifetime_is_enforced() {
    let mut h = Harness::new();
    let a = key("id_ed25519");
    let b = key("id_ecdsa256");
    h.add(&a, vec![Constraint::Lifetime(10)])
        .into_success()
        .unwrap();
    h.add(&b, vec![]).into_success().unwrap();
    assert_eq!(h.agent.next_expiry(), Some(h.now + 10));
    h.now += 9;
    assert_eq!(h.list().len(), 2);
    h.now += 1;
    let ids = h.list();
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0].key_blob.as_ref(), b.public_key().blob());
    assert_eq!(h.sign(a.public_key().blob(), b"x", 0), Response::Failure);
}

#[test]
fn default_lifetime_applies_to_unconstrained_keys() {
    let mut h = Harness::new();
    h.agent.set_default_lifetime(Some(5));
    h.add(&key("id_ed25519"), vec![]).into_success().unwrap();
    h.add(&key("id_ecdsa256"), vec![Constraint::Lifetime(100)])
        .into_success()
        .unwrap();
    h.now += 5;
    assert_eq!(h.agent.expire(h.now), 1);
    assert_eq!(h.list().len(), 1);
}

#[test]
fn confirm_constraint_asks_every_use() {
    let mut h = Harness::new();
    let k = key("id_ed25519");
    h.add(&k, vec![Constraint::Confirm]).into_success().unwrap();
    // Listing does not ask.
    assert_eq!(h.list().len(), 1);
    assert!(h.confirm_asked.is_empty());
    h.confirm_answer = false;
    assert_eq!(h.sign(k.public_key().blob(), b"x", 0), Response::Failure);
    h.confirm_answer = true;
    let sig = h
        .sign(k.public_key().blob(), b"x", 0)
        .into_signature()
        .unwrap();
    k.public_key()
        .verify(SigAlg::Ed25519, b"x", &sig, &VerifyPolicy::default())
        .unwrap();
    assert_eq!(h.confirm_asked.len(), 2);
    assert!(h.confirm_asked[0].contains("id_ed25519"));
    assert!(h.confirm_asked[0].contains("SHA256:"));
    // A key without the constraint is never confirmed.
    let other = key("id_ecdsa256");
    h.add(&other, vec![]).into_success().unwrap();
    h.sign(other.public_key().blob(), b"x", 0)
        .into_signature()
        .unwrap();
    assert_eq!(h.confirm_asked.len(), 2);
}

#[test]
fn extension_constraints_are_refused() {
    let mut h = Harness::new();
    let resp = h.add(
        &key("id_ed25519"),
        vec![Constraint::Extension {
            name: Bytes::from_static(b"restrict-destination-v00@openssh.com"),
            contents: Bytes::from_static(&[0, 0, 0, 0]),
        }],
    );
    assert_eq!(resp, Response::Failure);
    assert!(h.agent.is_empty());
}

#[test]
fn unknown_constraint_number_is_a_failure() {
    let mut h = Harness::new();
    let mut frame = Request::Add(Box::new(AddIdentity {
        key: key("id_ed25519"),
        certificate: None,
        comment: Bytes::new(),
        constraints: vec![Constraint::Confirm],
    }))
    .to_frame()
    .unwrap();
    *frame.last_mut().unwrap() = proto::constraint::MAXSIGN;
    frame.extend_from_slice(&[0, 0, 0, 1]);
    let len = u32::try_from(frame.len() - 4).unwrap();
    frame[..4].copy_from_slice(&len.to_be_bytes());
    h.feed(&frame).unwrap();
    assert_eq!(h.conn.take_output(), Response::Failure.to_frame().unwrap());
    assert!(h.agent.is_empty());
}

#[test]
fn query_extension_lists_extensions() {
    let mut h = Harness::new();
    let resp = h.call(Request::Extension {
        name: Bytes::from_static(b"query"),
        contents: Bytes::new(),
    });
    let Response::ExtensionResponse(contents) = resp else {
        panic!("{resp:?}");
    };
    let names = proto::decode_query_reply(&contents).unwrap();
    assert_eq!(names, ["query", "session-bind@openssh.com"]);
    // Unknown extensions fail (as ssh-agent answers them).
    let resp = h.call(Request::Extension {
        name: Bytes::from_static(b"nope@example.com"),
        contents: Bytes::new(),
    });
    assert_eq!(resp, Response::Failure);
}

fn bind_request(host: &PrivateKey, session_id: &[u8], forwarding: bool, rng: &mut Rng) -> Request {
    let sig = host
        .sign(host.default_signature_algorithm(), session_id, rng)
        .unwrap();
    let bind = SessionBind {
        host_key: Bytes::copy_from_slice(host.public_key().blob()),
        session_id: Bytes::copy_from_slice(session_id),
        signature: Bytes::from(sig),
        is_forwarding: forwarding,
    };
    let mut contents = Vec::new();
    bind.encode(&mut contents);
    Request::Extension {
        name: Bytes::from_static(b"session-bind@openssh.com"),
        contents: Bytes::from(contents),
    }
}

#[test]
fn session_bind_checks_the_host_signature() {
    let mut rng = Rng::from_seed([5; 32]);
    let host = key("id_ecdsa256");
    let other = key("id_ed25519");

    // A valid binding for forwarding; the same again is fine; a second session too.
    let mut h = Harness::new();
    h.call(bind_request(&host, b"session-1", true, &mut rng))
        .into_success()
        .unwrap();
    h.call(bind_request(&host, b"session-1", true, &mut rng))
        .into_success()
        .unwrap();
    h.call(bind_request(&other, b"session-2", true, &mut rng))
        .into_success()
        .unwrap();
    assert_eq!(h.conn.session().binds().len(), 2);
    // The same session id under another host key is refused.
    assert_eq!(
        h.call(bind_request(&other, b"session-1", true, &mut rng)),
        Response::Failure
    );

    // A signature by another key than the host key is refused.
    let mut h = Harness::new();
    let Request::Extension { contents, .. } = bind_request(&other, b"sid", false, &mut rng) else {
        unreachable!()
    };
    let mut forged = SessionBind::decode(&contents).unwrap();
    forged.host_key = Bytes::copy_from_slice(host.public_key().blob());
    let mut c = Vec::new();
    forged.encode(&mut c);
    let resp = h.call(Request::Extension {
        name: Bytes::from_static(b"session-bind@openssh.com"),
        contents: Bytes::from(c),
    });
    assert_eq!(resp, Response::Failure);
    assert!(h.conn.session().binds().is_empty());

    // A connection bound for authentication is never bound again.
    let mut h = Harness::new();
    h.call(bind_request(&host, b"auth", false, &mut rng))
        .into_success()
        .unwrap();
    assert_eq!(
        h.call(bind_request(&host, b"other", true, &mut rng)),
        Response::Failure
    );

    // At most MAX_SESSION_BINDS per connection.
    let mut h = Harness::new();
    for i in 0..whelk_agent::server::MAX_SESSION_BINDS {
        h.call(bind_request(
            &other,
            format!("s{i}").as_bytes(),
            true,
            &mut rng,
        ))
        .into_success()
        .unwrap();
    }
    assert_eq!(
        h.call(bind_request(&other, b"one too many", true, &mut rng)),
        Response::Failure
    );
}

#[test]
fn r06_agent_frame_ffffffff_rejected_before_buffering() {
    // Catalog R06 (russh CVE-2026-46673): `ff ff ff ff 0b` must be refused at the length,
    // without waiting for (or buffering) 4 GiB.
    let mut h = Harness::new();
    let err = h.feed(&[0xff, 0xff, 0xff, 0xff, 0x0b]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::MessageTooLarge {
                len: 0xffff_ffff,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(h.conn.take_output().is_empty());
    // The error is latched.
    assert!(h.feed(&[0, 0, 0, 1, code::REQUEST_IDENTITIES]).is_err());

    // The same on the client side, and byte by byte.
    let mut d = whelk_agent::Deframer::new();
    d.push(&[0xff, 0xff, 0xff]).unwrap();
    assert!(d.push(&[0xff, 0x0b]).is_err());
    assert!(d.buffered() <= 4);
    let mut c = Client::new();
    assert!(c.receive(&[0xff, 0xff, 0xff, 0xff, 0x0c]).is_err());
}

#[test]
fn messages_over_256_kib_are_rejected_at_the_length() {
    let max = u32::try_from(whelk_agent::MAX_MESSAGE_LEN).unwrap();
    let mut h = Harness::new();
    assert!(matches!(
        h.feed(&(max + 1).to_be_bytes()),
        Err(Error::MessageTooLarge { .. })
    ));
    // Exactly the limit is accepted (a sign request padded to 256 KiB).
    let mut h = Harness::new();
    let k = key("id_ed25519");
    h.add(&k, vec![]).into_success().unwrap();
    let blob = k.public_key().blob().len();
    let data_len = whelk_agent::MAX_MESSAGE_LEN - 1 - 4 - blob - 4 - 4;
    let data = vec![7u8; data_len];
    let req = Request::Sign {
        key_blob: Bytes::copy_from_slice(k.public_key().blob()),
        data: Bytes::from(data.clone()),
        flags: 0,
    };
    let frame = req.to_frame().unwrap();
    assert_eq!(frame.len(), whelk_agent::MAX_MESSAGE_LEN + 4);
    let sig = h.call(req).into_signature().unwrap();
    k.public_key()
        .verify(SigAlg::Ed25519, &data, &sig, &VerifyPolicy::default())
        .unwrap();
    // One byte more cannot even be encoded.
    let req = Request::Sign {
        key_blob: Bytes::copy_from_slice(k.public_key().blob()),
        data: Bytes::from(vec![7u8; data_len + 1]),
        flags: 0,
    };
    assert!(matches!(req.to_frame(), Err(Error::MessageTooLarge { .. })));
}

#[test]
fn zero_length_frame_is_fatal() {
    let mut h = Harness::new();
    assert!(matches!(h.feed(&[0, 0, 0, 0]), Err(Error::EmptyMessage)));
}

#[test]
fn identities_answer_over_2048_is_rejected() {
    let mut msg = vec![code::IDENTITIES_ANSWER];
    msg.extend_from_slice(&2049u32.to_be_bytes());
    for _ in 0..2049 {
        msg.extend_from_slice(&[0; 8]);
    }
    assert!(matches!(
        Response::decode(&Bytes::from(msg)),
        Err(Error::TooManyIdentities(2049))
    ));
    // A huge count with no data behind it is refused before allocating.
    let mut msg = vec![code::IDENTITIES_ANSWER];
    msg.extend_from_slice(&u32::MAX.to_be_bytes());
    assert!(Response::decode(&Bytes::from(msg)).is_err());
    let mut msg = vec![code::IDENTITIES_ANSWER];
    msg.extend_from_slice(&2000u32.to_be_bytes());
    assert!(matches!(
        Response::decode(&Bytes::from(msg)),
        Err(Error::Wire(_))
    ));
}

#[test]
fn the_agent_holds_at_most_2048_identities() {
    let mut h = Harness::new();
    for i in 0..whelk_agent::MAX_IDENTITIES {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&(i as u64).to_be_bytes());
        let k = PrivateKey::ed25519_from_seed(&seed);
        assert!(h.agent.add(
            AddIdentity {
                key: k,
                certificate: None,
                comment: Bytes::new(),
                constraints: vec![],
            },
            0
        ));
    }
    let extra = PrivateKey::ed25519_from_seed(&[0xee; 32]);
    assert_eq!(h.add(&extra, vec![]), Response::Failure);
    let ids = h.list();
    assert_eq!(ids.len(), whelk_agent::MAX_IDENTITIES);
}

#[test]
fn unknown_and_smartcard_requests_fail_and_the_connection_continues() {
    let mut h = Harness::new();
    for c in [
        code::ADD_SMARTCARD_KEY,
        code::REMOVE_SMARTCARD_KEY,
        code::ADD_SMARTCARD_KEY_CONSTRAINED,
        0,
        99,
        255,
    ] {
        assert_eq!(h.call(Request::Other { code: c }), Response::Failure);
    }
    // A malformed body (truncated sign request) fails too, and the next request works.
    h.feed(&[0, 0, 0, 3, code::SIGN_REQUEST, 0, 0]).unwrap();
    assert_eq!(h.conn.take_output(), Response::Failure.to_frame().unwrap());
    // Trailing bytes after a request are malformed.
    h.feed(&[0, 0, 0, 2, code::REQUEST_IDENTITIES, 0]).unwrap();
    assert_eq!(h.conn.take_output(), Response::Failure.to_frame().unwrap());
    assert!(h.list().is_empty());
}

#[test]
fn unsupported_key_types_are_refused() {
    let mut h = Harness::new();
    for ty in ["ssh-dss", "sk-ssh-ed25519@openssh.com", "ssh-ed448", ""] {
        let mut body = vec![code::ADD_IDENTITY];
        body.extend_from_slice(&u32::try_from(ty.len()).unwrap().to_be_bytes());
        body.extend_from_slice(ty.as_bytes());
        body.extend_from_slice(&[0, 0, 0, 0]);
        let err = Request::decode(&Bytes::from(body.clone())).unwrap_err();
        assert!(matches!(err, Error::UnsupportedKeyType(_)), "{ty}: {err:?}");
        let mut frame = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        h.feed(&frame).unwrap();
        assert_eq!(h.conn.take_output(), Response::Failure.to_frame().unwrap());
    }
}

#[test]
fn inconsistent_private_keys_are_refused() {
    // Ed25519 with a public half that is not the seed's.
    let k = PrivateKey::ed25519_from_seed(&[1; 32]);
    let mut frame = Request::Add(Box::new(AddIdentity {
        key: k.clone(),
        certificate: None,
        comment: Bytes::new(),
        constraints: vec![],
    }))
    .to_frame()
    .unwrap();
    let public = *k.public_key().ed25519_bytes().unwrap();
    let at = find(&frame, &public).unwrap();
    frame[at] ^= 1;
    let body = Bytes::copy_from_slice(&frame[4..]);
    assert!(Request::decode(&body).is_err());

    // RSA with a modulus bit flipped.
    let k = key("id_rsa2048");
    let mut frame = Request::Add(Box::new(AddIdentity {
        key: k.clone(),
        certificate: None,
        comment: Bytes::new(),
        constraints: vec![],
    }))
    .to_frame()
    .unwrap();
    frame[40] ^= 0x10;
    assert!(Request::decode(&Bytes::copy_from_slice(&frame[4..])).is_err());
}

#[test]
fn requests_round_trip_through_the_codec() {
    let k = key("id_ecdsa521");
    let reqs = [
        Request::RequestIdentities,
        Request::Sign {
            key_blob: Bytes::from_static(b"blob"),
            data: Bytes::from_static(b"data"),
            flags: 6,
        },
        Request::Remove {
            key_blob: Bytes::from_static(b"blob"),
        },
        Request::RemoveAll,
        Request::Lock {
            passphrase: Zeroizing::new(b"pw".to_vec()),
        },
        Request::Unlock {
            passphrase: Zeroizing::new(b"pw".to_vec()),
        },
        Request::Extension {
            name: Bytes::from_static(b"query"),
            contents: Bytes::new(),
        },
        Request::Add(Box::new(AddIdentity {
            key: k.clone(),
            certificate: None,
            comment: Bytes::from_static(b"\xffnot utf-8"),
            constraints: vec![Constraint::Lifetime(60), Constraint::Confirm],
        })),
    ];
    for r in reqs {
        let frame = r.to_frame().unwrap();
        let back = Request::decode(&Bytes::copy_from_slice(&frame[4..])).unwrap();
        assert_eq!(back.to_frame().unwrap(), frame, "{r:?}");
    }
    let Request::Add(add) = Request::decode(&Bytes::copy_from_slice(
        &Request::Add(Box::new(AddIdentity {
            key: k.clone(),
            certificate: None,
            comment: Bytes::from_static(b"c"),
            constraints: vec![Constraint::Lifetime(60), Constraint::Confirm],
        }))
        .to_frame()
        .unwrap()[4..],
    ))
    .unwrap() else {
        panic!()
    };
    assert_eq!(add.key.public_key(), k.public_key());
    assert_eq!(
        add.constraints,
        [Constraint::Lifetime(60), Constraint::Confirm]
    );
}

#[test]
fn byte_at_a_time_delivery() {
    let mut h = Harness::new();
    let k = key("id_ed25519");
    let add = h
        .client
        .request(&Request::Add(Box::new(AddIdentity {
            key: k.clone(),
            certificate: None,
            comment: Bytes::from_static(b"c"),
            constraints: vec![],
        })))
        .unwrap();
    let list = h.client.request(&Request::RequestIdentities).unwrap();
    let stream: Vec<u8> = add.into_iter().chain(list).collect();
    for b in &stream {
        h.feed(std::slice::from_ref(b)).unwrap();
    }
    let out = h.conn.take_output();
    for b in &out {
        h.client.receive(std::slice::from_ref(b)).unwrap();
    }
    assert_eq!(h.client.poll_response().unwrap(), Some(Response::Success));
    let ids = h
        .client
        .poll_response()
        .unwrap()
        .unwrap()
        .into_identities()
        .unwrap();
    assert_eq!(ids.len(), 1);
    assert_eq!(h.client.poll_response().unwrap(), None);
    assert_eq!(h.client.pending(), 0);
}

#[test]
fn unsolicited_reply_is_an_error() {
    let mut c = Client::new();
    c.receive(&Response::Success.to_frame().unwrap()).unwrap();
    assert!(matches!(
        c.poll_response(),
        Err(Error::UnexpectedResponse(6))
    ));
}

#[test]
fn deny_all_refuses() {
    use whelk_agent::Confirm;
    let r = ConfirmRequest {
        comment: String::new(),
        key_type: whelk_keys::KeyType::Ed25519,
        fingerprint: String::new(),
    };
    assert!(!DenyAll.confirm(&r));
}

/// `SSH_AGENTC_ADD_IDENTITY` with the ECDSA scalar as OpenSSH's `ssh-add` sends it: a minimal
/// mpint, 31 bytes for this key. Scalars of impossible lengths are refused, not a panic.
#[test]
fn ecdsa_scalar_as_minimal_mpint_is_accepted() {
    let k = key("id_ecdsa256_short");
    let frame = Request::Add(Box::new(AddIdentity {
        key: k.clone(),
        certificate: None,
        comment: Bytes::from_static(b"short"),
        constraints: vec![],
    }))
    .to_frame()
    .unwrap();
    let blob = k.public_key().blob();
    let q = &blob[blob.len() - 65..];
    let at = find(&frame, q).unwrap() + q.len();
    // whelk writes the full 32 bytes, the first of them zero.
    assert_eq!(&frame[at..at + 5], &[0, 0, 0, 32, 0]);
    let scalar31 = frame[at + 5..at + 36].to_vec();
    let with = |mpint: &[u8]| -> Vec<u8> {
        let mut f = frame[..at].to_vec();
        f.extend_from_slice(&u32::try_from(mpint.len()).unwrap().to_be_bytes());
        f.extend_from_slice(mpint);
        f.extend_from_slice(&frame[at + 36..]);
        let len = u32::try_from(f.len() - 4).unwrap();
        f[..4].copy_from_slice(&len.to_be_bytes());
        f
    };

    let mut h = Harness::new();
    h.feed(&with(&scalar31)).unwrap();
    assert_eq!(h.conn.take_output(), Response::Success.to_frame().unwrap());
    let ids = h.list();
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0].key_blob.as_ref(), blob);
    let sig = h.sign(blob, b"minimal", 0).into_signature().unwrap();
    k.public_key()
        .verify(
            SigAlg::EcdsaNistP256,
            b"minimal",
            &sig,
            &VerifyPolicy::default(),
        )
        .unwrap();

    let not_sign_byte = [&[1u8][..], &scalar31, &[0]].concat();
    for bad in [vec![], vec![0u8], vec![0u8; 34], not_sign_byte] {
        let mut h = Harness::new();
        h.feed(&with(&bad)).unwrap();
        assert_eq!(
            h.conn.take_output(),
            Response::Failure.to_frame().unwrap(),
            "{} bytes",
            bad.len()
        );
        assert!(h.agent.is_empty());
    }
}
