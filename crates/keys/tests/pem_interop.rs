//! PEM, PKCS#1, SEC1, PKCS#8 and RFC 4716 against `ssh-keygen -m PEM|PKCS8|RFC4716`.
//! These tests FAIL if ssh-keygen is missing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{PASSPHRASE, fixture, keys_dir, rng, ssh_keygen, stdout, write_private};
use whelk_keys::{Curve, Error, KeyGen, PrivateKey, PublicKey};

const PEM_KEYS: &[&str] = &["rsa2048", "ecdsa256", "ecdsa384", "ecdsa521"];

fn openssh_pub(name: &str) -> PublicKey {
    PublicKey::from_openssh(&fixture(&format!("id_{name}.pub")))
        .unwrap()
        .0
}

#[test]
fn ssh_keygen_pem_and_pkcs8_private_keys_load() {
    for name in PEM_KEYS {
        let want = openssh_pub(name);
        for suffix in ["pem", "pkcs8"] {
            let text = fixture(&format!("id_{name}.{suffix}"));
            let key = PrivateKey::from_any(&text, None).unwrap();
            assert_eq!(key.public_key(), &want, "{name}.{suffix}");
            let enc = fixture(&format!("id_{name}.{suffix}_enc"));
            assert_eq!(
                PrivateKey::from_any(&enc, None).unwrap_err(),
                Error::PassphraseRequired
            );
            assert_eq!(
                PrivateKey::from_any(&enc, Some(b"wrong")).unwrap_err(),
                Error::WrongPassphrase,
                "{name}.{suffix}_enc"
            );
            let key = PrivateKey::from_any(&enc, Some(PASSPHRASE)).unwrap();
            assert_eq!(key.public_key(), &want, "{name}.{suffix}_enc");
        }
    }
}

#[test]
fn ssh_keygen_public_key_exports_load() {
    for name in ["rsa2048", "ecdsa256", "ecdsa384", "ecdsa521", "ed25519"] {
        let want = openssh_pub(name);
        let (k, comment) =
            PublicKey::from_any(&fixture(&format!("id_{name}.pub.rfc4716"))).unwrap();
        assert_eq!(k, want);
        assert!(comment.contains("converted by"), "{comment}");
        // whelk writes exactly what ssh-keygen -e writes.
        assert_eq!(
            k.to_rfc4716(&comment),
            fixture(&format!("id_{name}.pub.rfc4716"))
        );
        if name != "ed25519" {
            for suffix in ["pem", "pkcs8"] {
                let (k, _) =
                    PublicKey::from_any(&fixture(&format!("id_{name}.pub.{suffix}"))).unwrap();
                assert_eq!(k, want, "{name}.pub.{suffix}");
            }
            assert_eq!(
                want.to_spki_pem().unwrap(),
                fixture(&format!("id_{name}.pub.pkcs8"))
            );
        }
    }
}

#[test]
fn whelk_pem_exports_are_read_by_ssh_keygen() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = rng(31);
    let keys = [
        PrivateKey::generate(KeyGen::Ecdsa(Curve::NistP256), &mut r).unwrap(),
        PrivateKey::generate(KeyGen::Ecdsa(Curve::NistP384), &mut r).unwrap(),
        PrivateKey::generate(KeyGen::Ecdsa(Curve::NistP521), &mut r).unwrap(),
        PrivateKey::from_openssh(&fixture("id_rsa2048"), None).unwrap(),
        PrivateKey::generate(KeyGen::Ed25519, &mut r).unwrap(),
    ];
    for (i, key) in keys.iter().enumerate() {
        let want = key.public_key().to_openssh("");
        let mut variants = vec![
            ("pkcs8", key.to_pkcs8_pem().unwrap(), None),
            (
                "pkcs8_enc",
                key.to_pkcs8_encrypted_pem(b"pw", 2048, &mut r).unwrap(),
                Some("pw"),
            ),
        ];
        if i < 4 {
            variants.push(("pem", key.to_traditional_pem().unwrap(), None));
        }
        for (kind, text, pass) in variants {
            // whelk reads its own output.
            let back = PrivateKey::from_any(&text, pass.map(str::as_bytes)).unwrap();
            assert_eq!(back.public_key(), key.public_key(), "{i} {kind}");
            if i == 4 {
                // OpenSSH 9.2 cannot load Ed25519 keys from PEM/PKCS#8 ("invalid format");
                // its own -m PKCS8 export writes the OpenSSH format for Ed25519 instead. Check
                // the file with OpenSSL instead.
                let p = write_private(dir.path(), &format!("k{i}_{kind}"), &text);
                let out = std::process::Command::new("/usr/bin/openssl")
                    .args([
                        "pkey",
                        "-pubout",
                        "-passin",
                        "pass:pw",
                        "-in",
                        p.to_str().unwrap(),
                    ])
                    .output()
                    .expect("openssl is required for the Ed25519 PKCS#8 check");
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                assert_eq!(
                    String::from_utf8(out.stdout).unwrap(),
                    key.public_key().to_spki_pem().unwrap()
                );
                continue;
            }
            let p = write_private(dir.path(), &format!("k{i}_{kind}"), &text);
            let mut args = vec!["-y"];
            if let Some(pw) = pass {
                args.extend(["-P", pw]);
            }
            args.extend(["-f", p.to_str().unwrap()]);
            let out = stdout(&ssh_keygen(&args));
            assert_eq!(out.trim(), want, "{i} {kind}");
        }
        // Public exports are imported by ssh-keygen -i.
        let rfc = dir.path().join(format!("k{i}.rfc4716"));
        std::fs::write(&rfc, key.public_key().to_rfc4716("a comment")).unwrap();
        let out = stdout(&ssh_keygen(&["-i", "-f", rfc.to_str().unwrap()]));
        assert_eq!(out.trim(), want);
        let spki = dir.path().join(format!("k{i}.spki"));
        if i < 4 {
            std::fs::write(&spki, key.public_key().to_spki_pem().unwrap()).unwrap();
            let out = stdout(&ssh_keygen(&[
                "-i",
                "-m",
                "PKCS8",
                "-f",
                spki.to_str().unwrap(),
            ]));
            assert_eq!(out.trim(), want);
        }
    }
}

#[test]
fn rfc4716_headers_and_continuations() {
    let k = openssh_pub("ed25519");
    let long = "x".repeat(150);
    let text = k.to_rfc4716(&long);
    assert!(text.lines().all(|l| l.len() <= 72));
    let (back, comment) = PublicKey::from_rfc4716(&text).unwrap();
    assert_eq!(back, k);
    assert_eq!(comment, long);
    let with_other = text.replacen(
        "---- BEGIN SSH2 PUBLIC KEY ----\n",
        "---- BEGIN SSH2 PUBLIC KEY ----\nx-private: one \\\n two\nSubject: me\n",
        1,
    );
    assert_eq!(PublicKey::from_rfc4716(&with_other).unwrap().0, k);
    assert!(PublicKey::from_rfc4716("---- BEGIN SSH2 PUBLIC KEY ----\nAAAA\n").is_err());
    let _ = keys_dir();
}

#[test]
fn catalog_r05_pkcs8_kdf_cost_is_capped() {
    let mut r = rng(32);
    let key = PrivateKey::generate(KeyGen::Ed25519, &mut r).unwrap();
    let pem = key.to_pkcs8_encrypted_pem(b"pw", 0x10000, &mut r).unwrap();
    PrivateKey::from_pem(&pem, Some(b"pw")).unwrap();
    assert_eq!(
        PrivateKey::from_pem_with_limit(&pem, Some(b"pw"), 1000).unwrap_err(),
        Error::KdfRoundsTooHigh {
            rounds: 0x10000,
            max: 1000
        }
    );
}

#[test]
fn pem_loaded_keys_export_to_openssh() {
    for name in PEM_KEYS {
        let key = PrivateKey::from_any(&fixture(&format!("id_{name}.pem")), None).unwrap();
        let text = key.to_openssh().unwrap();
        let back = PrivateKey::from_openssh(&text, None).unwrap();
        assert_eq!(back.public_key(), &openssh_pub(name));
    }
}
