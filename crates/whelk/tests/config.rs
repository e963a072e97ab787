//! The AsyncSSH-style algorithm list syntax.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use whelk::config::{supported_ciphers, supported_kex, supported_macs, wildcard_match};
use whelk::*;

fn names(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn wildcards() {
    assert!(wildcard_match("aes*-ctr", "aes128-ctr"));
    assert!(wildcard_match("aes???-ctr", "aes256-ctr"));
    assert!(!wildcard_match("aes??-ctr", "aes256-ctr"));
    assert!(wildcard_match("*", "anything"));
    assert!(wildcard_match("*sha1*", "hmac-sha1-etm@openssh.com"));
    assert!(!wildcard_match("*sha1", "hmac-sha1-etm@openssh.com"));
    assert!(wildcard_match("a*b*c", "aXXbYYc"));
    assert!(!wildcard_match("a*b*c", "aXXbYY"));
}

#[test]
fn replace_append_remove_prepend() {
    let mut c = ClientConfig::new("u");
    let defaults = c.algorithms().ciphers.clone();
    assert!(
        !defaults.iter().any(|n| n == "aes128-cbc"),
        "CBC is off by default"
    );

    // Replacement, in the order given.
    c.algorithms()
        .set_ciphers("aes256-ctr,chacha20-poly1305@openssh.com")
        .unwrap();
    assert_eq!(
        names(&c.algorithms().ciphers),
        ["aes256-ctr", "chacha20-poly1305@openssh.com"]
    );

    // A list replaces too.
    c.algorithms().set_ciphers(&["aes128-ctr"]).unwrap();
    assert_eq!(names(&c.algorithms().ciphers), ["aes128-ctr"]);

    // Append: defaults then the new ones, no duplicates.
    let mut c = ClientConfig::new("u");
    c.algorithms()
        .set_ciphers("+aes128-cbc,aes256-ctr")
        .unwrap();
    let got = c.algorithms().ciphers.clone();
    assert_eq!(&got[..defaults.len()], &defaults[..]);
    assert_eq!(got.last().unwrap(), "aes128-cbc");
    assert_eq!(got.len(), defaults.len() + 1);

    // Remove with a wildcard.
    let mut c = ClientConfig::new("u");
    c.algorithms().set_ciphers("-aes*").unwrap();
    assert!(c.algorithms().ciphers.iter().all(|n| !n.starts_with("aes")));
    assert!(!c.algorithms().ciphers.is_empty());

    // Prepend moves to the front.
    let mut c = ClientConfig::new("u");
    c.algorithms().set_ciphers("^aes128-ctr").unwrap();
    let got = c.algorithms().ciphers.clone();
    assert_eq!(got[0], "aes128-ctr");
    assert_eq!(got.len(), defaults.len());

    // Wildcards expand over every supported algorithm.
    let mut c = ClientConfig::new("u");
    c.algorithms().set_macs("hmac-sha2-*").unwrap();
    let macs = c.algorithms().macs.clone();
    assert!(macs.iter().all(|m| m.starts_with("hmac-sha2-")));
    assert!(macs.len() >= 2);
    assert!(macs.iter().all(|m| supported_macs().contains(&m.as_str())));

    // UMAC is supported, not in the facade's defaults, and added like any other.
    let mut c = ClientConfig::new("u");
    assert!(!c.algorithms().macs.iter().any(|m| m.starts_with("umac")));
    c.algorithms()
        .set_macs("+umac-128-etm@openssh.com")
        .unwrap();
    assert_eq!(
        c.algorithms().macs.last().unwrap(),
        "umac-128-etm@openssh.com"
    );
    c.algorithms().set_macs("umac-*").unwrap();
    assert_eq!(
        names(&c.algorithms().macs),
        [
            "umac-64-etm@openssh.com",
            "umac-128-etm@openssh.com",
            "umac-64@openssh.com",
            "umac-128@openssh.com"
        ]
    );
}

#[test]
fn errors() {
    let mut c = ClientConfig::new("u");
    assert!(matches!(
        c.algorithms().set_ciphers("rot13"),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        c.algorithms().set_ciphers("+nope*"),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        c.algorithms().set_kex("-*"),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        c.algorithms().set_host_keys(""),
        Err(Error::Config(_))
    ));
    // A failed change leaves the list alone.
    assert_eq!(
        c.algorithms().ciphers,
        ClientConfig::new("u").algorithms().ciphers
    );
}

#[test]
fn kex_and_host_keys() {
    let mut s = ServerConfig::new(vec![PrivateKey::ed25519_from_seed(&[1; 32])]);
    s.algorithms()
        .set_kex("+diffie-hellman-group14-sha1")
        .unwrap();
    assert_eq!(
        s.algorithms().kex.last().unwrap(),
        "diffie-hellman-group14-sha1"
    );
    assert!(supported_kex().contains(&"curve25519-sha256"));
    s.algorithms().set_host_keys("ssh-ed25519").unwrap();
    assert_eq!(names(&s.algorithms().host_key), ["ssh-ed25519"]);
    assert!(supported_ciphers().contains(&"aes256-gcm@openssh.com"));
    assert!(!supported_ciphers().contains(&"none"));
}
