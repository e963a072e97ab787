//! Certificate host key algorithms: the server presents an OpenSSH host certificate made by
//! ssh-keygen; the client checks the signature over `H` with the certified key (the CA and
//! principals are the caller's business, from known_hosts).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use base64ct::{Base64, Encoding};
use bytes::Bytes;
use common::{assert_kex_failed, context, rng};
use whelk_kex::{
    ClientKex, ClientStep, Error, KeySigner, ServerKex, ServerStep, method_by_name,
    verify_host_signature,
};
use whelk_keys::PrivateKey;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../../testdata/kex/hostcert/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn cert_blob(name: &str) -> Bytes {
    let line = fixture(name);
    let b64 = line.split_whitespace().nth(1).unwrap();
    Bytes::from(Base64::decode_vec(b64).unwrap())
}

fn exchange(key: &PrivateKey, cert: Bytes, alg: &str, client_alg: &str) -> Result<(), Error> {
    let method = method_by_name("curve25519-sha256").unwrap();
    let mut sr = rng(1);
    let mut signer = KeySigner::new(key, alg, &mut sr)
        .unwrap()
        .with_certificate(cert.clone());
    let mut client = ClientKex::for_method(method, client_alg, context());
    let mut server = ServerKex::for_method(method, context());
    let mut cr = rng(2);
    let init = client.start(&mut cr).unwrap();
    let ServerStep::Done { reply, output } =
        server.handle(&init, &mut rng(3), &mut signer).unwrap()
    else {
        panic!()
    };
    assert_eq!(output.host_key, cert);
    match client.handle(&reply, &mut cr)? {
        ClientStep::Done(out) => {
            assert_eq!(out.host_key, cert);
            assert_eq!(out.exchange_hash, output.exchange_hash);
            Ok(())
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn ed25519_host_certificate() {
    let key = PrivateKey::from_openssh(&fixture("host_ed25519"), None).unwrap();
    let cert = cert_blob("host_ed25519-cert.pub");
    exchange(
        &key,
        cert,
        "ssh-ed25519-cert-v01@openssh.com",
        "ssh-ed25519-cert-v01@openssh.com",
    )
    .unwrap();
}

#[test]
fn ecdsa_p384_host_certificate() {
    let key = PrivateKey::from_openssh(&fixture("host_ecdsa384"), None).unwrap();
    let cert = cert_blob("host_ecdsa384-cert.pub");
    exchange(
        &key,
        cert,
        "ecdsa-sha2-nistp384-cert-v01@openssh.com",
        "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    )
    .unwrap();
}

#[test]
fn certificate_for_another_key_is_rejected() {
    // The ECDSA certificate presented with the Ed25519 key's signature.
    let key = PrivateKey::from_openssh(&fixture("host_ed25519"), None).unwrap();
    let cert = cert_blob("host_ecdsa384-cert.pub");
    let e = exchange(
        &key,
        cert.clone(),
        "ssh-ed25519-cert-v01@openssh.com",
        "ssh-ed25519-cert-v01@openssh.com",
    )
    .unwrap_err();
    assert!(matches!(e, Error::HostKey(_)), "{e:?}");
    assert_kex_failed(&e);
    // A plain key where a certificate was negotiated, and the reverse.
    let plain = Bytes::copy_from_slice(key.public_key().blob());
    let e = exchange(
        &key,
        plain,
        "ssh-ed25519",
        "ssh-ed25519-cert-v01@openssh.com",
    )
    .unwrap_err();
    assert_kex_failed(&e);
    let e = exchange(
        &key,
        cert_blob("host_ed25519-cert.pub"),
        "ssh-ed25519-cert-v01@openssh.com",
        "ssh-ed25519",
    )
    .unwrap_err();
    assert_kex_failed(&e);
}

#[test]
fn truncated_certificates_and_signatures_fail_cleanly() {
    let key = PrivateKey::from_openssh(&fixture("host_ed25519"), None).unwrap();
    let cert = cert_blob("host_ed25519-cert.pub");
    let h = [7u8; 32];
    let mut r = rng(4);
    let sig = key.sign(whelk_keys::SigAlg::Ed25519, &h, &mut r).unwrap();
    let policy = whelk_keys::VerifyPolicy::default();
    verify_host_signature("ssh-ed25519-cert-v01@openssh.com", &cert, &h, &sig, &policy).unwrap();
    for cut in [0, 4, 10, 40, 60] {
        let e = verify_host_signature(
            "ssh-ed25519-cert-v01@openssh.com",
            &cert[..cut],
            &h,
            &sig,
            &policy,
        )
        .unwrap_err();
        assert_kex_failed(&e);
    }
    for cut in [0, 5, sig.len() - 1] {
        let e = verify_host_signature(
            "ssh-ed25519-cert-v01@openssh.com",
            &cert,
            &h,
            &sig[..cut],
            &policy,
        )
        .unwrap_err();
        assert!(matches!(e, Error::BadSignature(_)), "{e:?}");
    }
    // catalog K14: an rsa-sha2-256 signature blob where rsa-sha2-512 was negotiated is
    // covered by whelk-keys' strict verify; here an unknown algorithm name.
    let e = verify_host_signature("ssh-dss", &cert, &h, &sig, &policy).unwrap_err();
    assert!(matches!(e, Error::UnsupportedHostKeyAlgorithm(_)));
}
