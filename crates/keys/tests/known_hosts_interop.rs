//! known_hosts against `ssh-keygen -H` (hashing) and `ssh-keygen -F` (lookup).
//! These tests FAIL if ssh-keygen is missing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{fixture, rng, ssh_keygen, ssh_keygen_raw, stdout};
use whelk_keys::PublicKey;
use whelk_keys::known_hosts::{HostKeyStatus, HostPatterns, KnownHosts, format_entry};

fn key(name: &str) -> PublicKey {
    PublicKey::from_openssh(&fixture(&format!("id_{name}.pub")))
        .unwrap()
        .0
}

#[test]
fn ssh_keygen_hashed_file_matches_plain_lookups() {
    let dir = tempfile::tempdir().unwrap();
    let ed = key("ed25519");
    let ec = key("ecdsa256");
    let rsa = key("rsa2048");
    let plain = format!(
        "server.example.com,192.0.2.10 {}\n[server.example.com]:2222 {}\nother.example.org {}\n",
        ed.to_openssh(""),
        ec.to_openssh(""),
        rsa.to_openssh("")
    );
    let path = dir.path().join("known_hosts");
    std::fs::write(&path, &plain).unwrap();
    ssh_keygen(&["-H", "-f", path.to_str().unwrap()]);
    let hashed_text = std::fs::read_to_string(&path).unwrap();
    assert!(hashed_text.contains("|1|"));
    let hashed = KnownHosts::parse(&hashed_text);
    assert!(hashed.errors().is_empty());
    // ssh-keygen -H writes one hashed line per host name.
    assert_eq!(hashed.entries().len(), 4);
    assert!(
        hashed
            .entries()
            .iter()
            .all(|e| matches!(e.hosts, HostPatterns::Hashed { .. }))
    );
    let plain = KnownHosts::parse(&plain);
    for (host, port, want) in [
        ("server.example.com", 22, Some(&ed)),
        ("192.0.2.10", 22, Some(&ed)),
        ("server.example.com", 2222, Some(&ec)),
        ("other.example.org", 22, Some(&rsa)),
        ("other.example.org", 2222, None),
        ("nobody.example.org", 22, None),
    ] {
        for kh in [&plain, &hashed] {
            let found = kh.lookup(host, port);
            match want {
                Some(k) => {
                    assert_eq!(found.trusted.len(), 1, "{host}:{port}");
                    assert_eq!(&found.trusted[0].key, k);
                    assert_eq!(found.check(k), HostKeyStatus::Trusted);
                }
                None => assert!(found.trusted.is_empty(), "{host}:{port}"),
            }
        }
    }
    // A different ed25519 key for the same host is a change.
    let other = key("ed25519_enc");
    assert_eq!(
        hashed.lookup("server.example.com", 22).check(&other),
        HostKeyStatus::Changed
    );
    assert_eq!(
        hashed.lookup("server.example.com", 22).check(&rsa),
        HostKeyStatus::Unknown
    );
}

#[test]
fn whelk_entries_are_found_by_ssh_keygen() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = rng(9);
    let ed = key("ed25519");
    let ec = key("ecdsa384");
    let mut text = String::new();
    for (host, port, k, hash) in [
        ("hashed.example.com", 22, &ed, true),
        ("hashed.example.com", 2200, &ec, true),
        ("plain.example.com", 22, &ec, false),
        ("plain.example.com", 2201, &ed, false),
    ] {
        text.push_str(&format_entry(host, port, k, hash, &mut r));
        text.push('\n');
    }
    let path = dir.path().join("known_hosts");
    std::fs::write(&path, &text).unwrap();
    let p = path.to_str().unwrap();
    for (query, k) in [
        ("hashed.example.com", &ed),
        ("[hashed.example.com]:2200", &ec),
        ("plain.example.com", &ec),
        ("[plain.example.com]:2201", &ed),
    ] {
        let out = stdout(&ssh_keygen(&["-F", query, "-f", p]));
        let b64 = k.to_openssh("");
        assert!(out.contains(&b64), "{query}: {out}");
    }
    let miss = ssh_keygen_raw(&["-F", "hashed.example.com:2200", "-f", p]);
    assert!(!miss.status.success() || stdout(&miss).is_empty());
    // And whelk reads its own output.
    let kh = KnownHosts::parse(&text);
    assert_eq!(
        kh.lookup("hashed.example.com", 2200).check(&ec),
        HostKeyStatus::Trusted
    );
    assert_eq!(
        kh.lookup("plain.example.com", 2201).check(&ed),
        HostKeyStatus::Trusted
    );
}

#[test]
fn revoked_and_cert_authority_markers() {
    let ed = key("ed25519");
    let ca = key("ecdsa256");
    let text = format!(
        "@cert-authority *.example.com {}\n@revoked * {}\n*.example.com {}\n",
        ca.to_openssh("ca"),
        ed.to_openssh(""),
        ed.to_openssh("")
    );
    let kh = KnownHosts::parse(&text);
    let found = kh.lookup("a.example.com", 22);
    assert!(found.is_trusted_ca(&ca));
    assert!(!kh.lookup("a.example.org", 22).is_trusted_ca(&ca));
    assert_eq!(found.check(&ed), HostKeyStatus::Revoked);
}
