//! OpenSSH key files and fingerprints against the real `ssh-keygen` (OpenSSH 9.2).
//! These tests FAIL if ssh-keygen is missing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{KEY_NAMES, PASSPHRASE, fixture, keys_dir, rng, ssh_keygen, stdout, write_private};
use whelk_keys::{Curve, Error, HashAlg, KeyGen, PrivateKey, PublicKey, openssh};

#[test]
fn ssh_keygen_keys_load_plain_and_encrypted() {
    for name in KEY_NAMES {
        let (pub_key, comment) =
            PublicKey::from_openssh(&fixture(&format!("id_{name}.pub"))).unwrap();
        assert_eq!(comment, format!("whelk-test {name}"));

        let plain = PrivateKey::from_openssh(&fixture(&format!("id_{name}")), None).unwrap();
        assert_eq!(plain.public_key(), &pub_key, "{name}");
        assert_eq!(plain.comment(), comment);
        assert!(!openssh::is_encrypted(&fixture(&format!("id_{name}"))).unwrap());

        let enc_text = fixture(&format!("id_{name}_enc"));
        assert!(openssh::is_encrypted(&enc_text).unwrap());
        let (enc_pub, _) =
            PublicKey::from_openssh(&fixture(&format!("id_{name}_enc.pub"))).unwrap();
        // The public half is readable without the passphrase.
        assert_eq!(openssh::public_key(&enc_text).unwrap(), enc_pub);
        assert_eq!(
            PrivateKey::from_openssh(&enc_text, None).unwrap_err(),
            Error::PassphraseRequired
        );
        assert_eq!(
            PrivateKey::from_openssh(&enc_text, Some(b"wrong horse")).unwrap_err(),
            Error::WrongPassphrase,
            "{name}"
        );
        let enc = PrivateKey::from_openssh(&enc_text, Some(PASSPHRASE)).unwrap();
        assert_eq!(enc.public_key(), &enc_pub);
        assert_eq!(enc.comment(), format!("whelk-test {name} enc"));
    }
}

#[test]
fn aes256_gcm_encrypted_keys_load() {
    for name in ["ed25519", "ecdsa256"] {
        let text = fixture(&format!("id_{name}_gcm"));
        assert!(text.contains("OPENSSH PRIVATE KEY"));
        let key = PrivateKey::from_openssh(&text, Some(PASSPHRASE)).unwrap();
        let plain = PrivateKey::from_openssh(&fixture(&format!("id_{name}")), None).unwrap();
        assert_eq!(key.public_key(), plain.public_key());
        assert_eq!(
            PrivateKey::from_openssh(&text, Some(b"nope")).unwrap_err(),
            Error::WrongPassphrase
        );
    }
}

#[test]
fn catalog_r05_kdf_rounds_are_capped() {
    let text = fixture("id_ed25519_a100");
    PrivateKey::from_openssh(&text, Some(PASSPHRASE)).unwrap();
    assert_eq!(
        PrivateKey::from_openssh_with_limit(&text, Some(PASSPHRASE), 50).unwrap_err(),
        Error::KdfRoundsTooHigh {
            rounds: 100,
            max: 50
        }
    );
}

#[test]
fn fingerprints_and_randomart_match_ssh_keygen() {
    for name in KEY_NAMES.iter().chain(&["rsa1024"]) {
        let path = keys_dir().join(format!("id_{name}.pub"));
        let path = path.to_str().unwrap();
        let (key, comment) = PublicKey::from_openssh(&fixture(&format!("id_{name}.pub"))).unwrap();
        for (hash, flag) in [(HashAlg::Sha256, "sha256"), (HashAlg::Md5, "md5")] {
            let out = stdout(&ssh_keygen(&["-l", "-E", flag, "-f", path]));
            let want = format!(
                "{} {} {} ({})\n",
                key.bits(),
                key.fingerprint(hash),
                comment,
                key.key_type().short_name()
            );
            assert_eq!(out, want, "{name} {flag}");
            let out = stdout(&ssh_keygen(&["-lv", "-E", flag, "-f", path]));
            let art = key.randomart(hash);
            assert_eq!(out, format!("{want}{art}\n"), "{name} {flag}");
        }
    }
}

fn generated_keys() -> Vec<PrivateKey> {
    let mut r = rng(42);
    let mut keys = vec![
        PrivateKey::generate(KeyGen::Ed25519, &mut r).unwrap(),
        PrivateKey::generate(KeyGen::Ecdsa(Curve::NistP256), &mut r).unwrap(),
        PrivateKey::generate(KeyGen::Ecdsa(Curve::NistP384), &mut r).unwrap(),
        PrivateKey::generate(KeyGen::Ecdsa(Curve::NistP521), &mut r).unwrap(),
        PrivateKey::generate(KeyGen::Rsa { bits: 2048 }, &mut r).unwrap(),
    ];
    for (i, k) in keys.iter_mut().enumerate() {
        k.set_comment(format!("whelk generated {i}"));
    }
    keys
}

#[test]
fn whelk_keys_are_read_by_ssh_keygen() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = rng(43);
    for (i, key) in generated_keys().iter().enumerate() {
        let want_pub = key.public_key().to_openssh("");
        // Unencrypted.
        let text = key.to_openssh().unwrap();
        let p = write_private(dir.path(), &format!("k{i}"), &text);
        let p = p.to_str().unwrap();
        let out = stdout(&ssh_keygen(&["-y", "-f", p]));
        assert_eq!(out.trim(), format!("{want_pub} {}", key.comment()));
        let out = stdout(&ssh_keygen(&["-l", "-f", p]));
        assert!(
            out.contains(&key.fingerprint(HashAlg::Sha256).to_string()),
            "{out}"
        );
        // And whelk reads its own output back.
        let back = PrivateKey::from_openssh(&text, None).unwrap();
        assert_eq!(back.public_key(), key.public_key());
        assert_eq!(back.comment(), key.comment());

        // Encrypted with bcrypt-pbkdf + aes256-ctr.
        let text = key.to_openssh_encrypted(b"s3cret", 16, &mut r).unwrap();
        let p = write_private(dir.path(), &format!("k{i}_enc"), &text);
        let p = p.to_str().unwrap();
        let out = stdout(&ssh_keygen(&["-y", "-P", "s3cret", "-f", p]));
        assert!(out.starts_with(&want_pub), "{out}");
        let bad = common::ssh_keygen_raw(&["-y", "-P", "wrong", "-f", p]);
        assert!(!bad.status.success());
        let back = PrivateKey::from_openssh(&text, Some(b"s3cret")).unwrap();
        assert_eq!(back.public_key(), key.public_key());

        // The public key line is what ssh-keygen prints for the file.
        let pub_path = dir.path().join(format!("k{i}.pub"));
        std::fs::write(&pub_path, key.public_key().to_openssh(key.comment())).unwrap();
        let out = stdout(&ssh_keygen(&["-l", "-f", pub_path.to_str().unwrap()]));
        assert_eq!(
            out,
            format!(
                "{} {} {} ({})\n",
                key.public_key().bits(),
                key.fingerprint(HashAlg::Sha256),
                key.comment(),
                key.key_type().short_name()
            )
        );
    }
}

#[test]
fn ssh_keygen_changes_passphrase_of_whelk_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = rng(44);
    let key = PrivateKey::generate(KeyGen::Ed25519, &mut r).unwrap();
    let text = key.to_openssh_encrypted(b"one", 16, &mut r).unwrap();
    let p = write_private(dir.path(), "k", &text);
    ssh_keygen(&["-p", "-P", "one", "-N", "two", "-f", p.to_str().unwrap()]);
    let changed = std::fs::read_to_string(&p).unwrap();
    let back = PrivateKey::from_openssh(&changed, Some(b"two")).unwrap();
    assert_eq!(back.public_key(), key.public_key());
}
