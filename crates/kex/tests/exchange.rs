//! In-memory client <-> server exchanges for every method: same `K`, same `H`, same keys;
//! host key checks (catalog K14, M02); session id and re-exchange.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Run, assert_kex_failed, context, ecdsa_key, ed25519_key};
use whelk_kex::{
    DirectionSizes, Error, GexGroups, GexRequest, KeySizes, METHODS, SecretEncoding, method_by_name,
};

fn sizes() -> KeySizes {
    KeySizes {
        client_to_server: DirectionSizes::for_algorithms("aes256-ctr", Some("hmac-sha2-512"))
            .unwrap(),
        server_to_client: DirectionSizes::for_algorithms("chacha20-poly1305@openssh.com", None)
            .unwrap(),
    }
}

#[test]
fn every_method_agrees() {
    let key = ed25519_key();
    for method in METHODS {
        let (c, s) = Run::new(method, &key).run().unwrap_or_else(|e| {
            panic!("{}: {e:?}", method.name);
        });
        assert_eq!(c.shared_secret, s.shared_secret, "{}", method.name);
        assert_eq!(c.exchange_hash, s.exchange_hash, "{}", method.name);
        assert_eq!(c.exchange_hash.len(), method.hash.output_len());
        assert_eq!(
            c.session_id, c.exchange_hash,
            "first exchange: session id is H"
        );
        assert_eq!(s.session_id, s.exchange_hash);
        assert_eq!(c.host_key, s.host_key);
        let (kc, ks) = (
            c.derive_keys(&sizes()).unwrap(),
            s.derive_keys(&sizes()).unwrap(),
        );
        assert_eq!(kc, ks, "{}", method.name);
        assert_eq!(kc.client_to_server.key.len(), 32);
        assert_eq!(kc.client_to_server.iv.len(), 16);
        assert_eq!(kc.client_to_server.mac_key.len(), 64);
        assert_eq!(kc.server_to_client.key.len(), 64);
        assert_eq!(kc.server_to_client.iv.len(), 0);
        assert_eq!(kc.server_to_client.mac_key.len(), 0);
        // K's encoding is what the method says.
        let enc = c.shared_secret.encoded();
        let len = u32::from_be_bytes(enc[..4].try_into().unwrap()) as usize;
        assert_eq!(len + 4, enc.len());
        match method.secret_encoding {
            SecretEncoding::String => assert_eq!(len, method.hash.output_len()),
            SecretEncoding::MpInt => {
                assert!(enc[4] & 0x80 == 0, "mpint K must be non-negative");
                assert!(enc[4] != 0 || enc[5] & 0x80 != 0, "mpint K must be minimal");
            }
        }
    }
}

#[test]
fn different_seeds_give_different_secrets() {
    let key = ed25519_key();
    let method = method_by_name("curve25519-sha256").unwrap();
    let mut a = Run::new(method, &key);
    a.seed = 5;
    let mut b = Run::new(method, &key);
    b.seed = 6;
    let (a, _) = a.run().unwrap();
    let (b, _) = b.run().unwrap();
    assert_ne!(a.shared_secret, b.shared_secret);
    assert_ne!(a.exchange_hash, b.exchange_hash);
}

#[test]
fn reexchange_keeps_the_session_id() {
    let key = ed25519_key();
    let method = method_by_name("mlkem768x25519-sha256").unwrap();
    let (first, _) = Run::new(method, &key).run().unwrap();
    let mut again = Run::new(method_by_name("ecdh-sha2-nistp384").unwrap(), &key);
    again.ctx.session_id = Some(first.session_id.clone());
    again.seed = 77;
    let (c, s) = again.run().unwrap();
    assert_eq!(c.session_id, first.session_id);
    assert_eq!(s.session_id, first.session_id);
    assert_ne!(c.exchange_hash, first.exchange_hash);
    assert_eq!(
        c.derive_keys(&sizes()).unwrap(),
        s.derive_keys(&sizes()).unwrap()
    );
}

#[test]
fn ecdsa_and_certless_rsa_names_work_as_host_key_algorithms() {
    let key = ecdsa_key();
    let method = method_by_name("curve25519-sha256").unwrap();
    let mut run = Run::new(method, &key);
    run.server_alg = "ecdsa-sha2-nistp256";
    run.client_alg = "ecdsa-sha2-nistp256";
    let (c, s) = run.run().unwrap();
    assert_eq!(c.exchange_hash, s.exchange_hash);
}

#[test]
fn catalog_k14_host_key_of_another_algorithm_is_rejected() {
    // The server presents an ECDSA key while the client negotiated ssh-ed25519.
    let key = ecdsa_key();
    let mut run = Run::new(method_by_name("curve25519-sha256").unwrap(), &key);
    run.server_alg = "ecdsa-sha2-nistp256";
    run.client_alg = "ssh-ed25519";
    let (side, e) = run.run().unwrap_err();
    assert_eq!(side, "client");
    assert!(matches!(e, Error::HostKey(_)), "{e:?}");
    assert_kex_failed(&e);
}

#[test]
fn catalog_k14_signature_by_another_key_is_rejected() {
    // The reply is signed by a different Ed25519 key than the one presented (catalog M02).
    use bytes::Bytes;
    use whelk_kex::{ClientKex, ClientStep, HostKeySigner, KeySigner, ServerKex, ServerStep};
    struct Liar<'a> {
        presented: Bytes,
        signer: KeySigner<'a, chacha20::ChaCha20Rng>,
    }
    impl HostKeySigner for Liar<'_> {
        fn public_key_blob(&self) -> Bytes {
            self.presented.clone()
        }
        fn sign(&mut self, h: &[u8]) -> whelk_kex::Result<Vec<u8>> {
            self.signer.sign(h)
        }
    }
    let method = method_by_name("sntrup761x25519-sha512").unwrap();
    let real = ed25519_key();
    let other = whelk_keys::PrivateKey::ed25519_from_seed(&[1; 32]);
    let mut srng = common::rng(3);
    let mut liar = Liar {
        presented: Bytes::copy_from_slice(real.public_key().blob()),
        signer: KeySigner::new(&other, "ssh-ed25519", &mut srng).unwrap(),
    };
    let mut client = ClientKex::for_method(method, "ssh-ed25519", context());
    let mut server = ServerKex::for_method(method, context());
    let mut crng = common::rng(4);
    let mut rng2 = common::rng(5);
    let init = client.start(&mut crng).unwrap();
    let ServerStep::Done { reply, .. } = server.handle(&init, &mut rng2, &mut liar).unwrap() else {
        panic!()
    };
    let e = client.handle(&reply, &mut crng).unwrap_err();
    assert!(matches!(e, Error::BadSignature(_)), "{e:?}");
    assert_kex_failed(&e);
    // The machine is finished after an error.
    assert!(matches!(
        client.handle(&reply, &mut crng),
        Err(Error::State(_))
    ));
    let _ = ClientStep::Send;
}

#[test]
fn gex_with_a_moduli_file() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/kex/moduli"
    ))
    .unwrap();
    let groups = GexGroups::from_moduli(&text).unwrap();
    let key = ed25519_key();
    for name in [
        "diffie-hellman-group-exchange-sha256",
        "diffie-hellman-group-exchange-sha1",
    ] {
        let mut run = Run::new(method_by_name(name).unwrap(), &key);
        run.groups = groups.clone();
        run.gex = GexRequest::new(2048, 3072, 4096).unwrap();
        let (c, s) = run.run().unwrap();
        assert_eq!(c.exchange_hash, s.exchange_hash);
        assert_eq!(c.shared_secret, s.shared_secret);
    }
}
