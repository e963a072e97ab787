//! Verification of FIDO security-key signatures (`sk-ssh-ed25519@openssh.com`,
//! `sk-ecdsa-sha2-nistp256@openssh.com`; OpenSSH PROTOCOL.u2f): flags and counter.
//! The authenticator is simulated with ordinary keys signing the authenticator data.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use sha2::{Digest, Sha256};
use whelk_keys::{Error, KeyType, PublicKey, SigAlg, SkSignatureInfo, VerifyPolicy};
use whelk_wire::types::{MpInt, PutSsh};

const APP: &str = "ssh:";

fn authenticator_data(flags: u8, counter: u32, data: &[u8]) -> Vec<u8> {
    let mut m = Sha256::digest(APP.as_bytes()).to_vec();
    m.push(flags);
    m.extend_from_slice(&counter.to_be_bytes());
    m.extend_from_slice(&Sha256::digest(data));
    m
}

fn sk_ed25519(seed: u8) -> (ed25519_dalek::SigningKey, PublicKey) {
    let sk = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
    let mut blob = Vec::new();
    blob.put_ssh_string(b"sk-ssh-ed25519@openssh.com");
    blob.put_ssh_string(sk.verifying_key().as_bytes());
    blob.put_ssh_string(APP.as_bytes());
    (sk, PublicKey::from_blob(&blob).unwrap())
}

fn sign_ed(sk: &ed25519_dalek::SigningKey, flags: u8, counter: u32, data: &[u8]) -> Vec<u8> {
    use ed25519_dalek::Signer;
    let sig = sk.sign(&authenticator_data(flags, counter, data));
    let mut out = Vec::new();
    out.put_ssh_string(b"sk-ssh-ed25519@openssh.com");
    out.put_ssh_string(&sig.to_bytes());
    out.push(flags);
    out.extend_from_slice(&counter.to_be_bytes());
    out
}

fn sk_ecdsa() -> (p256::ecdsa::SigningKey, PublicKey) {
    use p256::elliptic_curve::sec1::ToSec1Point;
    let sk = p256::ecdsa::SigningKey::from_slice(&[0x42; 32]).unwrap();
    let point = sk.verifying_key().as_affine().to_sec1_point(false);
    let mut blob = Vec::new();
    blob.put_ssh_string(b"sk-ecdsa-sha2-nistp256@openssh.com");
    blob.put_ssh_string(b"nistp256");
    blob.put_ssh_string(point.as_bytes());
    blob.put_ssh_string(APP.as_bytes());
    (sk, PublicKey::from_blob(&blob).unwrap())
}

fn sign_ec(sk: &p256::ecdsa::SigningKey, flags: u8, counter: u32, data: &[u8]) -> Vec<u8> {
    use p256::ecdsa::signature::Signer;
    let sig: p256::ecdsa::Signature = sk.sign(&authenticator_data(flags, counter, data));
    let (r, s) = sig.split_bytes();
    let mut inner = Vec::new();
    inner.put_ssh_string(MpInt::from_unsigned_be(&r).as_bytes());
    inner.put_ssh_string(MpInt::from_unsigned_be(&s).as_bytes());
    let mut out = Vec::new();
    out.put_ssh_string(b"sk-ecdsa-sha2-nistp256@openssh.com");
    out.put_ssh_string(&inner);
    out.push(flags);
    out.extend_from_slice(&counter.to_be_bytes());
    out
}

#[test]
fn sk_ed25519_flags_and_counter() {
    let (sk, pk) = sk_ed25519(7);
    assert_eq!(pk.key_type(), KeyType::SkEd25519);
    assert_eq!(pk.sk_application(), Some(APP));
    let p = VerifyPolicy::default();
    let sig = sign_ed(&sk, 0x01, 42, b"data");
    let v = pk.verify(SigAlg::SkEd25519, b"data", &sig, &p).unwrap();
    assert_eq!(
        v.sk,
        Some(SkSignatureInfo {
            flags: 1,
            counter: 42
        })
    );
    assert!(v.sk.unwrap().user_present());
    // No user presence.
    let sig0 = sign_ed(&sk, 0x00, 43, b"data");
    assert_eq!(
        pk.verify(SigAlg::SkEd25519, b"data", &sig0, &p),
        Err(Error::UserPresenceRequired)
    );
    let no_touch = VerifyPolicy {
        require_user_presence: false,
        ..VerifyPolicy::default()
    };
    pk.verify(SigAlg::SkEd25519, b"data", &sig0, &no_touch)
        .unwrap();
    // verify-required.
    let uv = VerifyPolicy {
        require_user_verification: true,
        ..VerifyPolicy::default()
    };
    assert_eq!(
        pk.verify(SigAlg::SkEd25519, b"data", &sig, &uv),
        Err(Error::UserVerificationRequired)
    );
    let sig5 = sign_ed(&sk, 0x05, 44, b"data");
    assert!(
        pk.verify(SigAlg::SkEd25519, b"data", &sig5, &uv)
            .unwrap()
            .sk
            .unwrap()
            .user_verified()
    );
    // The flags and counter are signed: changing them breaks the signature.
    let mut forged = sig0.clone();
    let n = forged.len();
    forged[n - 5] = 0x01;
    assert_eq!(
        pk.verify(SigAlg::SkEd25519, b"data", &forged, &p),
        Err(Error::BadSignature)
    );
    let mut bumped = sig.clone();
    bumped[n - 1] ^= 1;
    assert_eq!(
        pk.verify(SigAlg::SkEd25519, b"data", &bumped, &p),
        Err(Error::BadSignature)
    );
    // A plain ssh-ed25519 signature by the same key is not an sk signature.
    use ed25519_dalek::Signer;
    let mut plain = Vec::new();
    plain.put_ssh_string(b"ssh-ed25519");
    plain.put_ssh_string(&sk.sign(b"data").to_bytes());
    assert!(pk.verify(SigAlg::SkEd25519, b"data", &plain, &p).is_err());
    assert!(matches!(
        pk.verify(SigAlg::Ed25519, b"data", &plain, &p),
        Err(Error::AlgorithmMismatch { .. })
    ));
}

#[test]
fn sk_ecdsa_flags_and_counter() {
    let (sk, pk) = sk_ecdsa();
    assert_eq!(pk.key_type(), KeyType::SkEcdsaNistP256);
    let p = VerifyPolicy::default();
    let sig = sign_ec(&sk, 0x01, 7, b"msg");
    let v = pk
        .verify(SigAlg::SkEcdsaNistP256, b"msg", &sig, &p)
        .unwrap();
    assert_eq!(
        v.sk,
        Some(SkSignatureInfo {
            flags: 1,
            counter: 7
        })
    );
    assert!(
        pk.verify(SigAlg::SkEcdsaNistP256, b"other", &sig, &p)
            .is_err()
    );
    let sig0 = sign_ec(&sk, 0x00, 8, b"msg");
    assert_eq!(
        pk.verify(SigAlg::SkEcdsaNistP256, b"msg", &sig0, &p),
        Err(Error::UserPresenceRequired)
    );
    // Truncated trailer.
    assert!(
        pk.verify(SigAlg::SkEcdsaNistP256, b"msg", &sig[..sig.len() - 1], &p)
            .is_err()
    );
    // Round trip through the OpenSSH line format and fingerprints.
    let line = pk.to_openssh("sk");
    assert_eq!(PublicKey::from_openssh(&line).unwrap().0, pk);
    assert!(
        pk.randomart(whelk_keys::HashAlg::Sha256)
            .starts_with("+-[ECDSA-SK 256]--+")
    );
}

#[test]
fn ssh_keygen_fingerprints_security_keys() {
    let dir = tempfile::tempdir().unwrap();
    for (i, pk) in [sk_ed25519(9).1, sk_ecdsa().1].iter().enumerate() {
        let path = dir.path().join(format!("sk{i}.pub"));
        std::fs::write(&path, pk.to_openssh("token")).unwrap();
        for (hash, flag) in [
            (whelk_keys::HashAlg::Sha256, "sha256"),
            (whelk_keys::HashAlg::Md5, "md5"),
        ] {
            let out = common::stdout(&common::ssh_keygen(&[
                "-lv",
                "-E",
                flag,
                "-f",
                path.to_str().unwrap(),
            ]));
            let want = format!(
                "{} {} token ({})\n{}\n",
                pk.bits(),
                pk.fingerprint(hash),
                pk.key_type().short_name(),
                pk.randomart(hash)
            );
            assert_eq!(out, want);
        }
    }
}
