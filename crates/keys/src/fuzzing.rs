//! Bodies of the `keys_*` fuzz targets in `fuzz/`, kept here so that an ordinary `cargo test`
//! replays the corpus in `testdata/fuzz/keys_*/` through exactly the code the fuzzer runs.
//!
//! Each function panics if, and only if, it finds a bug: a parser that accepts something it
//! cannot reproduce, or a parse that is not stable under re-encoding. Parsers must never
//! panic on their own. Encrypted inputs are parsed without a passphrase (so a fuzz input
//! cannot make the fuzzer spend seconds in a KDF); the decrypted content goes through the
//! same code as unencrypted keys.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use alloc::string::String;

use crate::authorized_keys::AuthorizedKeys;
use crate::cert::{CertType, Certificate};
use crate::known_hosts::KnownHosts;
use crate::public::{PublicKey, VerifyPolicy};
use crate::sshsig::{AllowedSigners, SshSig};
use crate::{HashAlg, PrivateKey, SigAlg, openssh};

fn text(data: &[u8]) -> Option<&str> {
    core::str::from_utf8(data).ok()
}

fn check_key(key: &PublicKey) {
    let again = PublicKey::from_blob(key.blob()).expect("canonical blob re-parses");
    assert_eq!(&again, key);
    let line = key.to_openssh("c");
    let (back, comment) = PublicKey::from_openssh(&line).expect("own line re-parses");
    assert_eq!(&back, key);
    assert_eq!(comment, "c");
    let _ = key.fingerprint(HashAlg::Md5).to_string();
    let _ = key.randomart(HashAlg::Sha256);
    let _ = key.check_policy(&VerifyPolicy::default());
}

/// `keys_public_blob`: a public key blob must re-encode to exactly itself.
pub fn public_key_blob(data: &[u8]) {
    if let Ok(key) = PublicKey::from_blob(data) {
        assert_eq!(key.blob(), data, "accepted blob is not canonical");
        check_key(&key);
    }
}

/// `keys_verify`: byte 0 picks the signature algorithm, bytes 1-2 the length of the key
/// blob that follows; the rest is the signature blob, over a fixed message. Verification
/// must fail cleanly (it cannot succeed without the private key).
pub fn verify(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let alg = SigAlg::ALL[usize::from(sel) % SigAlg::ALL.len()];
    let Some((len, rest)) = rest.split_first_chunk::<2>() else {
        return;
    };
    let len = usize::from(u16::from_be_bytes(*len));
    let Some((key_blob, sig)) = rest.split_at_checked(len) else {
        return;
    };
    if let Ok(key) = PublicKey::from_blob(key_blob) {
        let lenient = VerifyPolicy {
            min_rsa_bits: 0,
            allow_sha1: true,
            require_user_presence: false,
            require_user_verification: false,
        };
        let _ = key.verify(alg, b"fuzz", sig, &lenient);
        let _ = key.verify_any(b"fuzz", sig, &VerifyPolicy::default());
    }
}

/// `keys_openssh_private`: an OpenSSH private key file (no passphrase given).
pub fn openssh_private(data: &[u8]) {
    let Some(t) = text(data) else { return };
    let _ = openssh::is_encrypted(t);
    if let Ok(pk) = openssh::public_key(t) {
        check_key(&pk);
    }
    if let Ok(key) = PrivateKey::from_openssh_with_limit(t, None, 4) {
        check_key(key.public_key());
        let again = key.to_openssh().expect("own key encodes");
        let back = PrivateKey::from_openssh(&again, None).expect("own encoding re-parses");
        assert_eq!(back.public_key(), key.public_key());
        assert_eq!(back.comment(), key.comment());
    }
}

/// `keys_pem`: PEM/PKCS#1/SEC1/PKCS#8 private keys (no passphrase given).
pub fn pem(data: &[u8]) {
    let Some(t) = text(data) else { return };
    if let Ok(key) = PrivateKey::from_pem(t, None) {
        check_key(key.public_key());
        let p8 = key.to_pkcs8_pem().expect("own key encodes");
        let back = PrivateKey::from_pem(&p8, None).expect("own PKCS#8 re-parses");
        assert_eq!(back.public_key(), key.public_key());
    }
}

/// `keys_public_any`: public keys in OpenSSH, RFC 4716, SPKI and PKCS#1 forms.
pub fn public_any(data: &[u8]) {
    let Some(t) = text(data) else { return };
    if let Ok((key, comment)) = PublicKey::from_any(t) {
        check_key(&key);
        if !comment.contains(['"', '\\', '\n', '\r']) {
            let rfc = key.to_rfc4716(&comment);
            let (back, c2) = PublicKey::from_rfc4716(&rfc).expect("own RFC 4716 re-parses");
            assert_eq!(back, key);
            assert_eq!(c2, comment);
        }
        if let Ok(spki) = key.to_spki_pem() {
            assert_eq!(PublicKey::from_pem(&spki).expect("own SPKI re-parses"), key);
        }
    }
}

/// `keys_known_hosts`: a known_hosts file and a few lookups.
pub fn known_hosts(data: &[u8]) {
    let Some(t) = text(data) else { return };
    let kh = KnownHosts::parse(t);
    for e in kh.entries() {
        check_key(&e.key);
    }
    for (host, port) in [("example.com", 22), ("192.0.2.1", 2222), ("a", 22)] {
        let found = kh.lookup(host, port);
        if let Some(e) = found.trusted.first() {
            let _ = found.check(&e.key);
        }
    }
}

/// `keys_authorized_keys`: an authorized_keys file and every policy accessor.
pub fn authorized_keys(data: &[u8]) {
    let Some(t) = text(data) else { return };
    let ak = AuthorizedKeys::parse(t);
    for k in ak.keys() {
        check_key(&k.key);
        let o = &k.options;
        let _ = (
            o.permits_agent_forwarding(),
            o.permits_port_forwarding(),
            o.permits_pty(),
            o.permits_user_rc(),
            o.permits_x11_forwarding(),
            o.is_expired(1_700_000_000),
            o.permits_source(Some("h.example.com"), "192.0.2.1".parse().ok()),
            o.permits_open("h", 22),
            o.permits_listen("localhost", 8080),
        );
        assert!(ak.find(&k.key).is_some() || o.cert_authority);
    }
}

/// `keys_certificate`: a certificate blob must re-encode to itself; validation must fail
/// or succeed cleanly.
pub fn certificate(data: &[u8]) {
    if let Ok(cert) = Certificate::from_blob(data) {
        assert_eq!(cert.blob(), data);
        check_key(cert.public_key());
        check_key(cert.signature_key());
        let line = cert.to_openssh("");
        let (back, _) = Certificate::from_openssh(&line).expect("own line re-parses");
        assert_eq!(back, cert);
        let _ = cert.validate(
            1_700_000_000,
            CertType::User,
            Some("root"),
            &VerifyPolicy::default(),
        );
        let _ = cert.check_source_address("192.0.2.1".parse().expect("address"));
    }
}

/// `keys_sshsig`: an SSHSIG blob (or armored text), and the same bytes as an
/// allowed_signers file.
pub fn sshsig(data: &[u8]) {
    let parsed = SshSig::from_blob(data)
        .ok()
        .or_else(|| text(data).and_then(|t| SshSig::from_armored(t).ok()));
    if let Some(sig) = parsed {
        let blob = sig.to_blob();
        let back = SshSig::from_blob(&blob).expect("own blob re-parses");
        assert_eq!(back, sig);
        assert_eq!(
            SshSig::from_armored(&sig.to_armored()).expect("own armor re-parses"),
            sig
        );
        let _ = sig.verify("file", b"fuzz", &VerifyPolicy::default());
        if let Some(t) = text(data) {
            let signers = AllowedSigners::parse(t);
            let _ = signers.find_principals(&sig, 1_700_000_000, &VerifyPolicy::default());
        }
    }
    if let Some(t) = text(data) {
        let signers = AllowedSigners::parse(t);
        for s in signers.signers() {
            check_key(&s.key);
        }
        let _: String = signers
            .errors()
            .iter()
            .map(|e| alloc::format!("{}", e.error))
            .collect();
    }
}
