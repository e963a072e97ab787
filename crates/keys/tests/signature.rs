//! The signature-algorithm layer: sign/verify for every key type, the strict checks of
//! catalog row A08, the RSA size limits (catalog §3, R05) and the SHA-1 policy.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{fixture, rng};
use whelk_keys::{Curve, Error, KeyGen, KeyType, PrivateKey, PublicKey, SigAlg, VerifyPolicy};
use whelk_wire::types::PutSsh;

fn load(name: &str) -> PrivateKey {
    PrivateKey::from_openssh(&fixture(&format!("id_{name}")), None).unwrap()
}

fn all_keys() -> Vec<PrivateKey> {
    let mut r = rng(1);
    vec![
        PrivateKey::generate(KeyGen::Ed25519, &mut r).unwrap(),
        PrivateKey::generate(KeyGen::Ecdsa(Curve::NistP256), &mut r).unwrap(),
        PrivateKey::generate(KeyGen::Ecdsa(Curve::NistP384), &mut r).unwrap(),
        PrivateKey::generate(KeyGen::Ecdsa(Curve::NistP521), &mut r).unwrap(),
        load("rsa2048"),
    ]
}

#[test]
fn sign_verify_every_type_and_algorithm() {
    let policy = VerifyPolicy::allowing_sha1();
    let mut r = rng(2);
    for key in all_keys() {
        let public = key.public_key();
        // The blob survives a parse/encode round trip.
        assert_eq!(PublicKey::from_blob(public.blob()).unwrap(), *public);
        for &alg in key.key_type().signature_algorithms() {
            let data = format!("session data for {alg}");
            let sig = key
                .sign_allowing_sha1(alg, data.as_bytes(), &mut r)
                .unwrap();
            let v = public.verify(alg, data.as_bytes(), &sig, &policy).unwrap();
            assert_eq!(v.sk, None);
            // Wrong data fails.
            assert_eq!(
                public.verify(alg, b"other session", &sig, &policy),
                Err(Error::BadSignature),
                "{alg}"
            );
            // verify_any picks the algorithm from the blob.
            assert_eq!(
                public.verify_any(data.as_bytes(), &sig, &policy).unwrap().0,
                alg
            );
        }
    }
}

#[test]
fn catalog_a08_signature_algorithm_must_match_request() {
    let rsa = load("rsa2048");
    let mut r = rng(3);
    let data = b"data";
    let policy = VerifyPolicy::allowing_sha1();
    // Request rsa-sha2-512, signature says ssh-rsa.
    let sig = rsa
        .sign_allowing_sha1(SigAlg::SshRsa, data, &mut r)
        .unwrap();
    assert!(matches!(
        rsa.public_key()
            .verify(SigAlg::RsaSha2_512, data, &sig, &policy),
        Err(Error::SignatureTypeMismatch { .. })
    ));
    // Request rsa-sha2-256, signature is rsa-sha2-512.
    let sig = rsa.sign(SigAlg::RsaSha2_512, data, &mut r).unwrap();
    assert!(matches!(
        rsa.public_key()
            .verify(SigAlg::RsaSha2_256, data, &sig, &policy),
        Err(Error::SignatureTypeMismatch { .. })
    ));
    // Algorithm ssh-ed25519 with an RSA key.
    assert!(matches!(
        rsa.public_key()
            .verify(SigAlg::Ed25519, data, &sig, &policy),
        Err(Error::AlgorithmMismatch { .. })
    ));
    // An Ed25519 signature relabelled as another type.
    let ed = PrivateKey::generate(KeyGen::Ed25519, &mut r).unwrap();
    let sig = ed.sign(SigAlg::Ed25519, data, &mut r).unwrap();
    let mut relabelled = Vec::new();
    relabelled.put_ssh_string(b"ecdsa-sha2-nistp256");
    relabelled.extend_from_slice(&sig[4 + 11..]);
    assert!(
        ed.public_key()
            .verify(SigAlg::Ed25519, data, &relabelled, &policy)
            .is_err()
    );
    // Trailing bytes after the signature blob.
    let mut trailing = sig.clone();
    trailing.push(0);
    assert!(matches!(
        ed.public_key()
            .verify(SigAlg::Ed25519, data, &trailing, &policy),
        Err(Error::Wire(_))
    ));
    // Another key's signature.
    let other = PrivateKey::generate(KeyGen::Ed25519, &mut r).unwrap();
    let sig2 = other.sign(SigAlg::Ed25519, data, &mut r).unwrap();
    assert_eq!(
        ed.public_key()
            .verify(SigAlg::Ed25519, data, &sig2, &policy),
        Err(Error::BadSignature)
    );
}

#[test]
fn catalog_a08_ecdsa_blob_with_wrong_curve_name() {
    let mut r = rng(4);
    let key = PrivateKey::generate(KeyGen::Ecdsa(Curve::NistP256), &mut r).unwrap();
    let blob = key.public_key().to_blob();
    // Replace the curve identifier "nistp256" with "nistp384".
    let pos = blob.windows(8).position(|w| w == b"nistp256").unwrap();
    let mut bad = blob.clone();
    bad[pos..pos + 8].copy_from_slice(b"nistp384");
    assert!(PublicKey::from_blob(&bad).is_err());
    // A P-256 point under the nistp384 type name.
    let mut bad = Vec::new();
    bad.put_ssh_string(b"ecdsa-sha2-nistp384");
    bad.put_ssh_string(b"nistp384");
    let (_, point) = key.public_key().ecdsa_point().unwrap();
    bad.put_ssh_string(point);
    assert!(PublicKey::from_blob(&bad).is_err());
    // A signature from a P-256 key presented as nistp384.
    let sig = key.sign(SigAlg::EcdsaNistP256, b"x", &mut r).unwrap();
    let p384 = PrivateKey::generate(KeyGen::Ecdsa(Curve::NistP384), &mut r).unwrap();
    assert!(
        p384.public_key()
            .verify(SigAlg::EcdsaNistP384, b"x", &sig, &VerifyPolicy::default())
            .is_err()
    );
}

#[test]
fn sha1_is_off_by_default_for_signing_and_verifying() {
    let rsa = load("rsa2048");
    let mut r = rng(5);
    assert_eq!(
        rsa.sign(SigAlg::SshRsa, b"x", &mut r),
        Err(Error::Sha1Disabled)
    );
    let sig = rsa
        .sign_allowing_sha1(SigAlg::SshRsa, b"x", &mut r)
        .unwrap();
    assert_eq!(
        rsa.public_key()
            .verify(SigAlg::SshRsa, b"x", &sig, &VerifyPolicy::default()),
        Err(Error::Sha1Disabled)
    );
    rsa.public_key()
        .verify(SigAlg::SshRsa, b"x", &sig, &VerifyPolicy::allowing_sha1())
        .unwrap();
}

#[test]
fn catalog_r05_rsa_modulus_limits() {
    // A 1024-bit key (made by ssh-keygen) is below the default minimum.
    let small = load("rsa1024");
    assert_eq!(small.public_key().bits(), 1024);
    let mut r = rng(6);
    let sig = small.sign(SigAlg::RsaSha2_256, b"x", &mut r).unwrap();
    assert!(matches!(
        small
            .public_key()
            .verify(SigAlg::RsaSha2_256, b"x", &sig, &VerifyPolicy::default()),
        Err(Error::RsaKeySize { bits: 1024, .. })
    ));
    // A lower configured minimum accepts it.
    let lenient = VerifyPolicy {
        min_rsa_bits: 1024,
        ..VerifyPolicy::default()
    };
    small
        .public_key()
        .verify(SigAlg::RsaSha2_256, b"x", &sig, &lenient)
        .unwrap();
    // A 3072-bit minimum rejects 2048.
    let strict = VerifyPolicy {
        min_rsa_bits: 3072,
        ..VerifyPolicy::default()
    };
    assert!(load("rsa2048").public_key().check_policy(&strict).is_err());
    assert!(load("rsa3072").public_key().check_policy(&strict).is_ok());

    // A 64 Kbit modulus is rejected while parsing, before any verification work.
    let mut blob = Vec::new();
    blob.put_ssh_string(b"ssh-rsa");
    blob.put_ssh_string(&[1, 0, 1]);
    let mut n = vec![0xffu8; 8192];
    n.insert(0, 0);
    blob.put_ssh_string(&n);
    assert!(matches!(
        PublicKey::from_blob(&blob),
        Err(Error::RsaKeySize { bits: 65536, .. })
    ));
    // Even modulus, even exponent.
    let mut blob = Vec::new();
    blob.put_ssh_string(b"ssh-rsa");
    blob.put_ssh_string(&[3]);
    blob.put_ssh_string(&[0x40; 256]);
    assert!(PublicKey::from_blob(&blob).is_err());
}

#[test]
fn rsa_keygen_bounds() {
    let mut r = rng(7);
    assert!(PrivateKey::generate(KeyGen::Rsa { bits: 1024 }, &mut r).is_err());
    assert!(PrivateKey::generate(KeyGen::Rsa { bits: 16384 }, &mut r).is_err());
    assert_eq!(KeyGen::rsa_default(), KeyGen::Rsa { bits: 3072 });
}

#[test]
fn malformed_blobs_are_errors_not_panics() {
    let key = load("ed25519");
    let blob = key.public_key().to_blob();
    for cut in 0..blob.len() {
        assert!(PublicKey::from_blob(&blob[..cut]).is_err());
    }
    let mut long = blob.clone();
    long.push(0);
    assert!(PublicKey::from_blob(&long).is_err());
    let mut unknown = Vec::new();
    unknown.put_ssh_string(b"ssh-dss");
    assert!(matches!(
        PublicKey::from_blob(&unknown),
        Err(Error::UnsupportedAlgorithm(_))
    ));
}

#[test]
fn ecdsa_signatures_are_hedged_and_ed25519_deterministic() {
    let mut r = rng(8);
    let ec = PrivateKey::generate(KeyGen::Ecdsa(Curve::NistP256), &mut r).unwrap();
    let a = ec.sign(SigAlg::EcdsaNistP256, b"m", &mut r).unwrap();
    let b = ec.sign(SigAlg::EcdsaNistP256, b"m", &mut r).unwrap();
    assert_ne!(a, b, "ECDSA nonces must be hedged with fresh randomness");
    let ed = PrivateKey::generate(KeyGen::Ed25519, &mut r).unwrap();
    assert_eq!(
        ed.sign(SigAlg::Ed25519, b"m", &mut r).unwrap(),
        ed.sign(SigAlg::Ed25519, b"m", &mut r).unwrap()
    );
}

#[test]
fn key_type_names() {
    assert_eq!(load("ecdsa521").key_type(), KeyType::EcdsaNistP521);
    assert_eq!(load("ecdsa521").public_key().bits(), 521);
    assert_eq!(load("rsa3072").public_key().bits(), 3072);
    assert_eq!(load("ed25519").comment(), "whelk-test ed25519");
}

#[test]
fn catalog_a08_algorithm_name_must_match_blob_type() {
    use whelk_keys::cert::{CertBuilder, CertType, KeyOrCert};
    let mut r = rng(10);
    let rsa = load("rsa2048");
    let ed = load("ed25519");
    let rsa_blob = rsa.public_key().to_blob();
    let (alg, k) = KeyOrCert::parse_for_algorithm("rsa-sha2-512", &rsa_blob).unwrap();
    assert_eq!(alg, SigAlg::RsaSha2_512);
    assert_eq!(k.public_key(), rsa.public_key());
    // ssh-ed25519 with an RSA blob.
    assert!(matches!(
        KeyOrCert::parse_for_algorithm("ssh-ed25519", &rsa_blob),
        Err(Error::AlgorithmMismatch { .. })
    ));
    // A certificate algorithm with a plain key, and the reverse.
    assert!(
        KeyOrCert::parse_for_algorithm("rsa-sha2-512-cert-v01@openssh.com", &rsa_blob).is_err()
    );
    let cert = CertBuilder::new(ed.public_key().clone(), CertType::User, 0, u64::MAX)
        .principal("a")
        .sign(&rsa, SigAlg::RsaSha2_256, &mut r)
        .unwrap();
    assert!(KeyOrCert::parse_for_algorithm("ssh-ed25519", cert.blob()).is_err());
    let (alg, k) =
        KeyOrCert::parse_for_algorithm("ssh-ed25519-cert-v01@openssh.com", cert.blob()).unwrap();
    assert_eq!(alg, SigAlg::Ed25519);
    assert_eq!(k.public_key(), ed.public_key());
    assert_eq!(k.certificate().unwrap().principals(), ["a"]);
    assert!(KeyOrCert::parse_for_algorithm("ssh-dss", &rsa_blob).is_err());
}
