//! SSHSIG both ways with `ssh-keygen -Y sign/verify`, and allowed_signers.
//! These tests FAIL if ssh-keygen is missing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{KEY_NAMES, fixture, rng, ssh_keygen, ssh_keygen_path, write_private};
use whelk_keys::sshsig::{AllowedSigners, Signer, SshSig, SshSigHash};
use whelk_keys::{KeyGen, PrivateKey, VerifyPolicy};

const MSG: &[u8] = b"the quick brown fox\n";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Runs ssh-keygen with `stdin` as input.
fn ssh_keygen_stdin(args: &[&str], stdin: &[u8]) -> std::process::Output {
    let mut child = Command::new(ssh_keygen_path())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn ssh_keygen_signatures_verify_in_whelk() {
    let dir = tempfile::tempdir().unwrap();
    let msg_path = dir.path().join("msg");
    std::fs::write(&msg_path, MSG).unwrap();
    let mut signers = String::new();
    let policy = VerifyPolicy::default();
    for name in KEY_NAMES {
        let key_path = write_private(
            dir.path(),
            &format!("id_{name}"),
            &fixture(&format!("id_{name}")),
        );
        ssh_keygen(&[
            "-q",
            "-Y",
            "sign",
            "-f",
            key_path.to_str().unwrap(),
            "-n",
            "file",
            msg_path.to_str().unwrap(),
        ]);
        let sig_text = std::fs::read_to_string(dir.path().join("msg.sig")).unwrap();
        std::fs::remove_file(dir.path().join("msg.sig")).unwrap();
        let sig = SshSig::from_armored(&sig_text).unwrap();
        // Re-encoding reproduces ssh-keygen's armor byte for byte.
        assert_eq!(sig.to_armored(), sig_text, "{name}");
        assert_eq!(sig.namespace(), "file");
        assert_eq!(sig.hash(), SshSigHash::Sha512);
        sig.verify("file", MSG, &policy).unwrap();
        assert!(sig.verify("git", MSG, &policy).is_err());
        assert!(sig.verify("file", b"tampered", &policy).is_err());
        let Signer::Key(k) = sig.signer() else {
            panic!()
        };
        let line = format!("{name}@example.com {}\n", k.to_openssh(""));
        signers.push_str(&line);
        let allowed = AllowedSigners::parse(&signers);
        let ok = allowed
            .verify(
                &format!("{name}@example.com"),
                "file",
                MSG,
                &sig,
                now(),
                &policy,
            )
            .unwrap();
        assert_eq!(ok.key, *k);
        assert!(
            allowed
                .verify("mallory@example.com", "file", MSG, &sig, now(), &policy)
                .is_err()
        );
        assert_eq!(
            allowed.find_principals(&sig, now(), &policy),
            [format!("{name}@example.com")]
        );
    }
}

#[test]
fn whelk_signatures_verify_in_ssh_keygen() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = rng(21);
    let keys = [
        PrivateKey::generate(KeyGen::Ed25519, &mut r).unwrap(),
        PrivateKey::generate(KeyGen::Ecdsa(whelk_keys::Curve::NistP256), &mut r).unwrap(),
        PrivateKey::generate(KeyGen::Ecdsa(whelk_keys::Curve::NistP384), &mut r).unwrap(),
        PrivateKey::generate(KeyGen::Ecdsa(whelk_keys::Curve::NistP521), &mut r).unwrap(),
        PrivateKey::from_openssh(&fixture("id_rsa3072"), None).unwrap(),
    ];
    for (i, key) in keys.iter().enumerate() {
        for hash in [SshSigHash::Sha256, SshSigHash::Sha512] {
            let sig = SshSig::sign(key, "git", hash, MSG, &mut r).unwrap();
            let sig_path = dir.path().join(format!("s{i}.sig"));
            std::fs::write(&sig_path, sig.to_armored()).unwrap();
            let allowed = dir.path().join("allowed");
            std::fs::write(
                &allowed,
                format!(
                    "alice@example.com,*@corp.example namespaces=\"git,file\" {}\n",
                    key.public_key().to_openssh("")
                ),
            )
            .unwrap();
            let out = ssh_keygen_stdin(
                &[
                    "-Y",
                    "verify",
                    "-f",
                    allowed.to_str().unwrap(),
                    "-I",
                    "bob@corp.example",
                    "-n",
                    "git",
                    "-s",
                    sig_path.to_str().unwrap(),
                ],
                MSG,
            );
            assert!(
                out.status.success(),
                "{i} {hash:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let out = ssh_keygen_stdin(
                &[
                    "-Y",
                    "verify",
                    "-f",
                    allowed.to_str().unwrap(),
                    "-I",
                    "bob@corp.example",
                    "-n",
                    "git",
                    "-s",
                    sig_path.to_str().unwrap(),
                ],
                b"tampered",
            );
            assert!(!out.status.success());
            // whelk agrees with itself through the same allowed_signers line.
            let parsed = AllowedSigners::parse(&std::fs::read_to_string(&allowed).unwrap());
            parsed
                .verify(
                    "bob@corp.example",
                    "git",
                    MSG,
                    &sig,
                    now(),
                    &VerifyPolicy::default(),
                )
                .unwrap();
            assert!(
                parsed
                    .verify(
                        "bob@corp.example",
                        "email",
                        MSG,
                        &sig,
                        now(),
                        &VerifyPolicy::default()
                    )
                    .is_err()
            );
        }
    }
}

#[test]
fn allowed_signers_options_and_errors() {
    let mut r = rng(22);
    let key = PrivateKey::generate(KeyGen::Ed25519, &mut r).unwrap();
    let pk = key.public_key().to_openssh("comment");
    let text = format!(
        "# comment\n\
         a@x valid-after=\"20200101\",valid-before=\"20300101\" {pk}\n\
         \"b@x,c@x\" {pk}\n\
         d@x bogus-option {pk}\n\
         e@x\n\
         f@x valid-after=\"notadate\" {pk}\n"
    );
    let allowed = AllowedSigners::parse(&text);
    assert_eq!(allowed.signers().len(), 2);
    let lines: Vec<usize> = allowed.errors().iter().map(|e| e.line).collect();
    assert_eq!(lines, [4, 5, 6]);
    let sig = SshSig::sign(&key, "file", SshSigHash::Sha512, MSG, &mut r).unwrap();
    let p = VerifyPolicy::default();
    allowed
        .verify("a@x", "file", MSG, &sig, 1_700_000_000, &p)
        .unwrap();
    assert!(
        allowed
            .verify("a@x", "file", MSG, &sig, 1_900_000_000, &p)
            .is_err()
    );
    assert!(
        allowed
            .verify("a@x", "file", MSG, &sig, 1_500_000_000, &p)
            .is_err()
    );
    allowed
        .verify("c@x", "file", MSG, &sig, 1_900_000_000, &p)
        .unwrap();
}
