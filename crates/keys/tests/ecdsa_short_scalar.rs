//! ECDSA private keys whose scalar OpenSSH writes as a short, minimal RFC 4251 `mpint`
//! (31 bytes or fewer for one P-256 key in 256; the `ssh-key` crate alone rejects them).
//! The fixtures `testdata/keys/id_ecdsa{256,384}_short{,_enc,_gcm}` were written by
//! `ssh-keygen` 9.2 from 31-byte scalars. These tests FAIL if ssh-keygen is missing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;

use common::{PASSPHRASE, fixture, rng, ssh_keygen, stdout, write_private};
use rand_core::Rng;
use whelk_keys::{Error, KeyType, PrivateKey, PublicKey, SigAlg, VerifyPolicy, openssh};

/// Big-endian reads over a decoded key file.
struct Walk<'a>(&'a [u8]);

impl<'a> Walk<'a> {
    fn u32(&mut self) -> u32 {
        let v = u32::from_be_bytes(self.0[..4].try_into().unwrap());
        self.0 = &self.0[4..];
        v
    }
    fn string(&mut self) -> &'a [u8] {
        let n = self.u32() as usize;
        let (s, rest) = self.0.split_at(n);
        self.0 = rest;
        s
    }
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

fn decode_pem(text: &str) -> Vec<u8> {
    let mut d = pem_rfc7468::Decoder::new_detect_wrap(text.as_bytes()).unwrap();
    let mut bin = Vec::new();
    d.decode_to_end(&mut bin).unwrap();
    bin
}

const MAGIC: &[u8] = b"openssh-key-v1\0";

/// The unencrypted ECDSA private section of an OpenSSH key file: (key type, scalar mpint).
fn scalar_of(text: &str) -> (String, Vec<u8>) {
    let bin = decode_pem(text);
    let mut w = Walk(&bin[MAGIC.len()..]);
    assert_eq!(w.string(), b"none");
    w.string();
    w.string();
    w.u32();
    w.string();
    let mut p = Walk(w.string());
    p.u32();
    p.u32();
    let ty = String::from_utf8(p.string().to_vec()).unwrap();
    p.string();
    p.string();
    (ty, p.string().to_vec())
}

/// Rewrites an unencrypted ECDSA OpenSSH key file with its scalar as a minimal mpint, as
/// OpenSSH writes it (whelk and `ssh-key` write the full field size).
fn minimal_mpint_form(text: &str) -> String {
    let bin = decode_pem(text);
    let mut w = Walk(&bin[MAGIC.len()..]);
    let mut out = MAGIC.to_vec();
    for _ in 0..3 {
        put_string(&mut out, w.string());
    }
    out.extend_from_slice(&w.u32().to_be_bytes());
    put_string(&mut out, w.string());
    let mut p = Walk(w.string());
    let mut section = Vec::new();
    section.extend_from_slice(&p.u32().to_be_bytes());
    section.extend_from_slice(&p.u32().to_be_bytes());
    for _ in 0..3 {
        put_string(&mut section, p.string());
    }
    let scalar = p.string();
    let digits: Vec<u8> = scalar.iter().copied().skip_while(|b| *b == 0).collect();
    let mut mpint = Vec::new();
    if digits.first().is_some_and(|b| b & 0x80 != 0) {
        mpint.push(0);
    }
    mpint.extend_from_slice(&digits);
    put_string(&mut section, &mpint);
    put_string(&mut section, p.string()); // comment
    let mut pad = 1u8;
    while section.len() % 8 != 0 {
        section.push(pad);
        pad += 1;
    }
    put_string(&mut out, &section);
    pem_rfc7468::encode_string("OPENSSH PRIVATE KEY", pem_rfc7468::LineEnding::LF, &out).unwrap()
}

const SHORT: &[(&str, SigAlg)] = &[
    ("ecdsa256_short", SigAlg::EcdsaNistP256),
    ("ecdsa384_short", SigAlg::EcdsaNistP384),
];

fn signs(key: &PrivateKey, alg: SigAlg) {
    let sig = key.sign(alg, b"short scalar", &mut rng(3)).unwrap();
    key.public_key()
        .verify(alg, b"short scalar", &sig, &VerifyPolicy::default())
        .unwrap();
}

#[test]
fn fixtures_hold_short_minimal_scalars_that_ssh_key_alone_rejects() {
    for (name, _) in SHORT {
        let text = fixture(&format!("id_{name}"));
        let (_, scalar) = scalar_of(&text);
        assert_eq!(scalar.len(), 31, "{name}");
        assert!(scalar[0] != 0 && scalar[0] & 0x80 == 0, "{name}: minimal");
        // The limitation these fixtures guard against.
        assert!(ssh_key::PrivateKey::from_openssh(&text).is_err(), "{name}");
        for suffix in ["_enc", "_gcm"] {
            let enc =
                ssh_key::PrivateKey::from_openssh(fixture(&format!("id_{name}{suffix}"))).unwrap();
            assert!(enc.decrypt(PASSPHRASE).is_err(), "{name}{suffix}");
        }
    }
}

#[test]
fn short_scalar_keys_load_plain_and_encrypted() {
    for (name, alg) in SHORT {
        for suffix in ["", "_enc", "_gcm"] {
            let file = format!("id_{name}{suffix}");
            let text = fixture(&file);
            let (want, comment) =
                PublicKey::from_openssh(&fixture(&format!("{file}.pub"))).unwrap();
            assert_eq!(openssh::public_key(&text).unwrap(), want, "{file}");
            assert_eq!(openssh::is_encrypted(&text).unwrap(), !suffix.is_empty());
            let key = if suffix.is_empty() {
                PrivateKey::from_openssh(&text, None).unwrap()
            } else {
                assert_eq!(
                    PrivateKey::from_openssh(&text, None).unwrap_err(),
                    Error::PassphraseRequired
                );
                assert_eq!(
                    PrivateKey::from_openssh(&text, Some(b"wrong horse")).unwrap_err(),
                    Error::WrongPassphrase,
                    "{file}"
                );
                assert_eq!(
                    PrivateKey::from_openssh(&text, Some(b"")).unwrap_err(),
                    Error::WrongPassphrase,
                    "{file}"
                );
                assert_eq!(
                    PrivateKey::from_openssh_with_limit(&text, Some(PASSPHRASE), 4).unwrap_err(),
                    Error::KdfRoundsTooHigh { rounds: 16, max: 4 }
                );
                PrivateKey::from_openssh(&text, Some(PASSPHRASE)).unwrap()
            };
            assert_eq!(key.public_key(), &want, "{file}");
            assert_eq!(key.comment(), comment);
            signs(&key, *alg);
        }
    }
}

#[test]
fn short_scalar_keys_written_by_whelk_are_read_by_ssh_keygen() {
    let dir = tempfile::tempdir().unwrap();
    for (name, _) in SHORT {
        let key = PrivateKey::from_openssh(&fixture(&format!("id_{name}")), None).unwrap();
        let want = fixture(&format!("id_{name}.pub"));
        let plain = write_private(dir.path(), name, &key.to_openssh().unwrap());
        let out = ssh_keygen(&["-y", "-f", plain.to_str().unwrap()]);
        assert_eq!(
            stdout(&out).split_whitespace().nth(1),
            want.split_whitespace().nth(1)
        );
        let enc = key
            .to_openssh_encrypted(PASSPHRASE, 4, &mut rng(9))
            .unwrap();
        let enc = write_private(dir.path(), &format!("{name}_enc"), &enc);
        let out = ssh_keygen(&["-y", "-P", "correct horse", "-f", enc.to_str().unwrap()]);
        assert_eq!(
            stdout(&out).split_whitespace().nth(1),
            want.split_whitespace().nth(1)
        );
    }
}

fn key_from_scalar(ty: KeyType, scalar: &[u8]) -> Option<PrivateKey> {
    use p256::pkcs8::EncodePrivateKey;
    let pem = match ty {
        KeyType::EcdsaNistP256 => p256::SecretKey::from_slice(scalar)
            .ok()?
            .to_pkcs8_pem(Default::default())
            .unwrap(),
        _ => p384::SecretKey::from_slice(scalar)
            .ok()?
            .to_pkcs8_pem(Default::default())
            .unwrap(),
    };
    Some(PrivateKey::from_pem(&pem, None).unwrap())
}

/// 300 P-256 / P-384 keys with 0 to 20 leading zero bytes, re-encoded in OpenSSH's minimal
/// form (with and without the 0x00 sign byte), load with the right public key; eight are
/// re-encrypted by `ssh-keygen -p` and checked by `ssh-keygen -y` too.
#[test]
fn minimal_mpint_scalars_of_every_length_load() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = rng(42);
    let mut loaded = 0;
    for i in 0..300usize {
        let (ty, size, alg) = if i % 2 == 0 {
            (KeyType::EcdsaNistP256, 32, SigAlg::EcdsaNistP256)
        } else {
            (KeyType::EcdsaNistP384, 48, SigAlg::EcdsaNistP384)
        };
        let mut scalar = vec![0u8; size];
        r.fill_bytes(&mut scalar);
        let zeros = (i / 2) % 21;
        scalar[..zeros].fill(0);
        // Half of them with the top bit set: the mpint then carries a 0x00 sign byte.
        if i % 4 < 2 {
            scalar[zeros] |= 0x80;
        } else {
            scalar[zeros] = (scalar[zeros] & 0x7f).max(1);
        }
        let Some(key) = key_from_scalar(ty, &scalar) else {
            continue; // above the group order
        };
        let text = minimal_mpint_form(&key.to_openssh().unwrap());
        let (_, mpint) = scalar_of(&text);
        let sign_byte = usize::from(i % 4 < 2);
        assert_eq!(mpint.len(), size - zeros + sign_byte, "key {i}");
        let back = PrivateKey::from_openssh(&text, None).unwrap();
        assert_eq!(back.public_key(), key.public_key(), "key {i}");
        assert_eq!(openssh::public_key(&text).unwrap(), *key.public_key());
        // OpenSSH refuses scalars of half the group order's bits or fewer.
        if i % 50 < 2 && zeros <= 12 {
            signs(&back, alg);
            let path = write_private(dir.path(), &format!("k{i}"), &text);
            let p = path.to_str().unwrap();
            let out = ssh_keygen(&["-y", "-f", p]);
            assert_eq!(
                stdout(&out).split_whitespace().nth(1).unwrap(),
                key.public_key()
                    .to_openssh("")
                    .split_whitespace()
                    .nth(1)
                    .unwrap()
            );
            ssh_keygen(&["-q", "-p", "-P", "", "-N", "pw", "-a", "2", "-f", p]);
            let enc = std::fs::read_to_string(&path).unwrap();
            let back = PrivateKey::from_openssh(&enc, Some(b"pw")).unwrap();
            assert_eq!(back.public_key(), key.public_key(), "key {i} encrypted");
        }
        loaded += 1;
    }
    assert!(loaded > 290, "{loaded}");
}

/// The envelope of an encrypted fixture with its cipher name replaced.
fn with_cipher(text: &str, cipher: &[u8]) -> String {
    let bin = decode_pem(text);
    let mut w = Walk(&bin[MAGIC.len()..]);
    w.string();
    let mut out = MAGIC.to_vec();
    put_string(&mut out, cipher);
    out.extend_from_slice(w.0);
    pem_rfc7468::encode_string("OPENSSH PRIVATE KEY", pem_rfc7468::LineEnding::LF, &out).unwrap()
}

#[test]
fn unsupported_ciphers_and_broken_envelopes_are_typed_errors() {
    let text = fixture("id_ecdsa256_short_enc");
    assert_eq!(
        PrivateKey::from_openssh(&with_cipher(&text, b"twofish-cbc"), Some(PASSPHRASE))
            .unwrap_err(),
        Error::UnsupportedAlgorithm("twofish-cbc".into())
    );
    // aes256-ctr data presented as GCM: no tag follows the private section.
    assert!(matches!(
        PrivateKey::from_openssh(
            &with_cipher(&text, b"aes256-gcm@openssh.com"),
            Some(PASSPHRASE)
        ),
        Err(Error::Format { .. })
    ));
    // A GCM file whose tag was altered: the passphrase can't be told apart from corruption.
    let gcm = decode_pem(&fixture("id_ecdsa256_short_gcm"));
    let mut bad_tag = gcm.clone();
    *bad_tag.last_mut().unwrap() ^= 1;
    let bad_tag =
        pem_rfc7468::encode_string("OPENSSH PRIVATE KEY", pem_rfc7468::LineEnding::LF, &bad_tag)
            .unwrap();
    assert_eq!(
        PrivateKey::from_openssh(&bad_tag, Some(PASSPHRASE)).unwrap_err(),
        Error::WrongPassphrase
    );
    // Every truncation of the binary envelope is an error, never a panic.
    for cut in (0..gcm.len()).step_by(7) {
        let t = pem_rfc7468::encode_string(
            "OPENSSH PRIVATE KEY",
            pem_rfc7468::LineEnding::LF,
            &gcm[..cut],
        )
        .unwrap();
        assert!(
            PrivateKey::from_openssh(&t, Some(PASSPHRASE)).is_err(),
            "{cut}"
        );
        assert!(openssh::public_key(&t).is_err(), "{cut}");
    }
}
