//! Certificates against `ssh-keygen -s` (signing) and `ssh-keygen -L` (which verifies the CA
//! signature while parsing). These tests FAIL if ssh-keygen is missing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{keys_dir, rng, ssh_keygen, stdout, write_private};
use whelk_keys::cert::{CertBuilder, CertType, Certificate};
use whelk_keys::{CertError, Error, HashAlg, KeyGen, PrivateKey, SigAlg, VerifyPolicy};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn ssh_keygen_certificates_verify_in_whelk() {
    let dir = tempfile::tempdir().unwrap();
    let policy = VerifyPolicy::default();
    for (ca_name, user_name) in [
        ("ed25519", "ecdsa256"),
        ("rsa2048", "ed25519"),
        ("ecdsa384", "rsa2048"),
    ] {
        let ca_path = dir.path().join(format!("ca_{ca_name}"));
        std::fs::copy(keys_dir().join(format!("id_{ca_name}")), &ca_path).unwrap();
        let ca_path = write_private(
            dir.path(),
            &format!("ca_{ca_name}"),
            &std::fs::read_to_string(&ca_path).unwrap(),
        );
        let user_pub = dir.path().join(format!("user_{user_name}_{ca_name}.pub"));
        std::fs::copy(keys_dir().join(format!("id_{user_name}.pub")), &user_pub).unwrap();
        ssh_keygen(&[
            "-q",
            "-s",
            ca_path.to_str().unwrap(),
            "-I",
            "alice@example",
            "-n",
            "alice,bob",
            "-V",
            "-5m:+1h",
            "-z",
            "77",
            "-O",
            "force-command=/bin/true",
            "-O",
            "source-address=10.0.0.0/8,192.0.2.1",
            "-O",
            "verify-required",
            user_pub.to_str().unwrap(),
        ]);
        let cert_path = dir
            .path()
            .join(format!("user_{user_name}_{ca_name}-cert.pub"));
        let (cert, _) =
            Certificate::from_openssh(&std::fs::read_to_string(&cert_path).unwrap()).unwrap();
        let ca =
            PrivateKey::from_openssh(&std::fs::read_to_string(&ca_path).unwrap(), None).unwrap();
        assert_eq!(cert.signature_key(), ca.public_key());
        let user =
            whelk_keys::PublicKey::from_openssh(&std::fs::read_to_string(&user_pub).unwrap())
                .unwrap()
                .0;
        assert_eq!(cert.public_key(), &user);
        assert_eq!(cert.serial(), 77);
        assert_eq!(cert.key_id(), "alice@example");
        assert_eq!(cert.principals(), ["alice", "bob"]);
        assert_eq!(cert.cert_type(), CertType::User);
        assert_eq!(cert.force_command(), Some("/bin/true"));
        assert!(cert.verify_required());
        assert!(cert.has_extension("permit-pty"));
        let alg = cert.verify_signature(&policy).unwrap();
        if ca_name.starts_with("rsa") {
            assert_eq!(alg, SigAlg::RsaSha2_512);
        }
        let t = now();
        cert.validate(t, CertType::User, Some("bob"), &policy)
            .unwrap();
        assert_eq!(
            cert.validate(t, CertType::User, Some("eve"), &policy),
            Err(Error::Certificate(CertError::Principal("eve".into())))
        );
        assert_eq!(
            cert.validate(t, CertType::Host, None, &policy),
            Err(Error::Certificate(CertError::WrongType))
        );
        assert_eq!(
            cert.validate(t + 7200, CertType::User, None, &policy),
            Err(Error::Certificate(CertError::Expired))
        );
        assert_eq!(
            cert.validate(t - 3600, CertType::User, None, &policy),
            Err(Error::Certificate(CertError::NotYetValid))
        );
        cert.check_source_address("10.1.2.3".parse().unwrap())
            .unwrap();
        cert.check_source_address("192.0.2.1".parse().unwrap())
            .unwrap();
        assert!(
            cert.check_source_address("192.0.2.2".parse().unwrap())
                .is_err()
        );

        // Flip one byte of the signed part: the CA signature no longer verifies.
        let mut bad = cert.blob().to_vec();
        let i = bad.len() / 3;
        bad[i] ^= 1;
        if let Ok(bad) = Certificate::from_blob(&bad) {
            assert!(bad.verify_signature(&policy).is_err());
        }
    }
}

#[test]
fn ssh_keygen_host_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca_path = write_private(dir.path(), "ca", &common::fixture("id_ecdsa256"));
    let host_pub = dir.path().join("host.pub");
    std::fs::copy(keys_dir().join("id_ed25519.pub"), &host_pub).unwrap();
    ssh_keygen(&[
        "-q",
        "-s",
        ca_path.to_str().unwrap(),
        "-h",
        "-I",
        "host",
        "-n",
        "server.example.com",
        host_pub.to_str().unwrap(),
    ]);
    let (cert, _) = Certificate::from_openssh(
        &std::fs::read_to_string(dir.path().join("host-cert.pub")).unwrap(),
    )
    .unwrap();
    assert_eq!(cert.cert_type(), CertType::Host);
    assert_eq!(cert.valid_before(), u64::MAX);
    assert!(cert.extensions().is_empty());
    cert.validate(
        now(),
        CertType::Host,
        Some("server.example.com"),
        &VerifyPolicy::default(),
    )
    .unwrap();
}

#[test]
fn whelk_certificates_are_valid_for_ssh_keygen() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = rng(11);
    let user = PrivateKey::generate(KeyGen::Ed25519, &mut r).unwrap();
    let cas = [
        (
            PrivateKey::generate(KeyGen::Ed25519, &mut r).unwrap(),
            SigAlg::Ed25519,
        ),
        (
            PrivateKey::generate(KeyGen::Ecdsa(whelk_keys::Curve::NistP521), &mut r).unwrap(),
            SigAlg::EcdsaNistP521,
        ),
        (
            PrivateKey::from_openssh(&common::fixture("id_rsa2048"), None).unwrap(),
            SigAlg::RsaSha2_256,
        ),
    ];
    let t = now();
    for (i, (ca, alg)) in cas.iter().enumerate() {
        let cert = CertBuilder::new(user.public_key().clone(), CertType::User, t - 60, t + 3600)
            .serial(1000 + i as u64)
            .key_id("whelk-made")
            .principal("alice")
            .principal("root")
            .critical_option("force-command", "uptime")
            .critical_option("source-address", "127.0.0.1/32")
            .extension("permit-pty", "")
            .sign(ca, *alg, &mut r)
            .unwrap();
        cert.validate(t, CertType::User, Some("alice"), &VerifyPolicy::default())
            .unwrap();
        let path = dir.path().join(format!("u{i}-cert.pub"));
        std::fs::write(&path, cert.to_openssh("whelk")).unwrap();
        let out = stdout(&ssh_keygen(&["-L", "-f", path.to_str().unwrap()]));
        assert!(
            out.contains("Type: ssh-ed25519-cert-v01@openssh.com user certificate"),
            "{out}"
        );
        assert!(out.contains(&format!("Serial: {}", 1000 + i)), "{out}");
        assert!(out.contains("Key ID: \"whelk-made\""), "{out}");
        assert!(
            out.contains(&ca.fingerprint(HashAlg::Sha256).to_string()),
            "{out}"
        );
        assert!(out.contains(&format!("(using {})", alg.name())), "{out}");
        assert!(
            out.contains("                alice\n                root\n"),
            "{out}"
        );
        assert!(out.contains("force-command uptime"), "{out}");
        assert!(out.contains("source-address 127.0.0.1/32"), "{out}");
        assert!(out.contains("permit-pty"), "{out}");
        assert!(out.contains("permit-user-rc"), "{out}");
    }
}

#[test]
fn unknown_critical_option_is_rejected() {
    let mut r = rng(12);
    let ca = PrivateKey::generate(KeyGen::Ed25519, &mut r).unwrap();
    let user = PrivateKey::generate(KeyGen::Ed25519, &mut r).unwrap();
    let cert = CertBuilder::new(user.public_key().clone(), CertType::User, 0, u64::MAX)
        .principal("a")
        .critical_option("made-up@example.com", "x")
        .sign(&ca, SigAlg::Ed25519, &mut r)
        .unwrap();
    assert_eq!(
        cert.validate(10, CertType::User, Some("a"), &VerifyPolicy::default()),
        Err(Error::Certificate(CertError::UnknownCriticalOption(
            "made-up@example.com".into()
        )))
    );
}

#[test]
fn sha1_ca_signature_needs_explicit_policy() {
    let dir = tempfile::tempdir().unwrap();
    let ca_path = write_private(dir.path(), "ca", &common::fixture("id_rsa2048"));
    let user_pub = dir.path().join("u.pub");
    std::fs::copy(keys_dir().join("id_ed25519.pub"), &user_pub).unwrap();
    ssh_keygen(&[
        "-q",
        "-s",
        ca_path.to_str().unwrap(),
        "-t",
        "ssh-rsa",
        "-I",
        "old",
        "-n",
        "alice",
        user_pub.to_str().unwrap(),
    ]);
    let (cert, _) =
        Certificate::from_openssh(&std::fs::read_to_string(dir.path().join("u-cert.pub")).unwrap())
            .unwrap();
    assert_eq!(
        cert.verify_signature(&VerifyPolicy::default()),
        Err(Error::Sha1Disabled)
    );
    assert_eq!(
        cert.verify_signature(&VerifyPolicy::allowing_sha1()),
        Ok(SigAlg::SshRsa)
    );
}
