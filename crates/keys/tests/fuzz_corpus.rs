//! Replays the fuzz corpus in `testdata/fuzz/keys_*/` through the bodies of the fuzz targets
//! (`whelk_keys::fuzzing`), so stable `cargo test` covers every seed and every regression
//! input the fuzzer found.
//!
//! `WHELK_WRITE_SEEDS=1 cargo test -p whelk-keys --test fuzz_corpus` (re)writes the seeds
//! (built from `testdata/keys`) into `testdata/fuzz/`; without it the seeds are only run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{fixture, keys_dir, rng};
use whelk_keys::cert::{CertBuilder, CertType};
use whelk_keys::fuzzing;
use whelk_keys::sshsig::{SshSig, SshSigHash};
use whelk_keys::{PrivateKey, PublicKey};

type Oracle = fn(&[u8]);

const TARGETS: &[(&str, Oracle)] = &[
    ("keys_public_blob", fuzzing::public_key_blob),
    ("keys_verify", fuzzing::verify),
    ("keys_openssh_private", fuzzing::openssh_private),
    ("keys_pem", fuzzing::pem),
    ("keys_public_any", fuzzing::public_any),
    ("keys_known_hosts", fuzzing::known_hosts),
    ("keys_authorized_keys", fuzzing::authorized_keys),
    ("keys_certificate", fuzzing::certificate),
    ("keys_sshsig", fuzzing::sshsig),
];

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/fuzz")
}

fn fixtures_matching(pred: impl Fn(&str) -> bool) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = fs::read_dir(keys_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| pred(p.file_name().unwrap().to_str().unwrap()))
        .map(|p| {
            (
                p.file_name().unwrap().to_str().unwrap().to_string(),
                fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    let pubs = fixtures_matching(|n| n.ends_with(".pub"));
    for (name, text) in &pubs {
        let (key, _) = PublicKey::from_openssh(std::str::from_utf8(text).unwrap()).unwrap();
        out.push((
            "keys_public_blob",
            name.replace(".pub", ".blob"),
            key.to_blob(),
        ));
        out.push(("keys_public_any", name.clone(), text.clone()));
    }
    for (name, data) in fixtures_matching(|n| n.contains(".pub.")) {
        out.push(("keys_public_any", name, data));
    }
    for (name, data) in fixtures_matching(|n| {
        n.starts_with("id_") && !n.contains(".pub") && !n.contains(".pem") && !n.contains(".pkcs8")
    }) {
        out.push(("keys_openssh_private", name, data));
    }
    for (name, data) in fixtures_matching(|n| n.contains(".pem") || n.contains(".pkcs8")) {
        if !n_is_pub(&name) {
            out.push(("keys_pem", name, data));
        }
    }
    let mut r = rng(99);
    let ed = PrivateKey::from_openssh(&fixture("id_ed25519"), None).unwrap();
    let ec = PrivateKey::from_openssh(&fixture("id_ecdsa384"), None).unwrap();
    let rsa = PrivateKey::from_openssh(&fixture("id_rsa2048"), None).unwrap();
    for (i, key) in [&ed, &ec, &rsa].iter().enumerate() {
        for (j, &alg) in key.key_type().signature_algorithms().iter().enumerate() {
            let sig = key.sign_allowing_sha1(alg, b"fuzz", &mut r).unwrap();
            let blob = key.public_key().to_blob();
            let sel = whelk_keys::SigAlg::ALL
                .iter()
                .position(|a| *a == alg)
                .unwrap() as u8;
            let mut d = vec![sel];
            d.extend_from_slice(&(blob.len() as u16).to_be_bytes());
            d.extend_from_slice(&blob);
            d.extend_from_slice(&sig);
            out.push(("keys_verify", format!("valid-{i}-{j}"), d));
        }
    }
    let e = ed.public_key().to_openssh("");
    let c = ec.public_key().to_openssh("ca");
    let known_hosts = format!(
        "# comment\nhost.example.com,192.0.2.1 {e}\n[h]:2222 {c}\n*.corp,!evil.corp {e}\n@cert-authority *.example.com {c}\n@revoked * {e}\n|1|JfKTdBh7rNbXkVAQCRp4OQoPfmI=|USECr3SWf1JUPsms5AqfD5QfxkM= {e}\n"
    );
    out.push(("keys_known_hosts", "mixed".into(), known_hosts.into_bytes()));
    let authorized = format!(
        "restrict,pty,command=\"echo \\\"hi\\\"\",environment=\"A=b\",from=\"10.0.0.0/8,!10.1.2.3\",permitopen=\"h:22\",permitlisten=\"8080\",principals=\"a,b\",expiry-time=\"20300101\",tunnel=\"1\",no-touch-required,verify-required {e} c\ncert-authority {c}\n{e}\nbad-option {e}\n"
    );
    out.push((
        "keys_authorized_keys",
        "mixed".into(),
        authorized.into_bytes(),
    ));
    let cert = CertBuilder::new(ed.public_key().clone(), CertType::User, 0, u64::MAX)
        .principal("root")
        .critical_option("force-command", "ls")
        .critical_option("source-address", "192.0.2.0/24")
        .sign(&ec, whelk_keys::SigAlg::EcdsaNistP384, &mut r)
        .unwrap();
    out.push(("keys_certificate", "user".into(), cert.blob().to_vec()));
    let host = CertBuilder::new(ec.public_key().clone(), CertType::Host, 1, 2)
        .principal("h")
        .sign(&rsa, whelk_keys::SigAlg::RsaSha2_512, &mut r)
        .unwrap();
    out.push(("keys_certificate", "host".into(), host.blob().to_vec()));
    let sig = SshSig::sign(&ed, "file", SshSigHash::Sha512, b"fuzz", &mut r).unwrap();
    out.push(("keys_sshsig", "blob".into(), sig.to_blob()));
    out.push((
        "keys_sshsig",
        "armored".into(),
        sig.to_armored().into_bytes(),
    ));
    out.push((
        "keys_sshsig",
        "allowed_signers".into(),
        format!("a@x,*@y namespaces=\"file,git\",valid-after=\"20200101\" {e}\n\"b c\" cert-authority {c}\n").into_bytes(),
    ));
    out
}

fn n_is_pub(name: &str) -> bool {
    name.contains(".pub")
}

#[test]
fn seeds_are_written_or_run() {
    let write = std::env::var_os("WHELK_WRITE_SEEDS").is_some();
    for (target, name, data) in seeds() {
        let (_, run) = TARGETS.iter().find(|(t, _)| *t == target).unwrap();
        run(&data);
        if write {
            let dir = corpus_root().join(target);
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join(&name), &data).unwrap();
        }
    }
}

#[test]
fn corpus_replays_cleanly() {
    let mut total = 0;
    for (target, run) in TARGETS {
        let dir = corpus_root().join(target);
        let entries = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("corpus directory {} is missing: {e}", dir.display()));
        let mut files: Vec<_> = entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "corpus {target} is empty");
        for p in files {
            let data = fs::read(&p).unwrap();
            let result = std::panic::catch_unwind(|| run(&data));
            assert!(result.is_ok(), "{} panicked", p.display());
            // Every prefix must be handled too (truncated files are the commonest bug).
            for cut in [data.len() / 2, data.len().saturating_sub(1)] {
                run(&data[..cut]);
            }
            total += 1;
        }
    }
    assert!(total >= 50, "only {total} corpus files");
}
