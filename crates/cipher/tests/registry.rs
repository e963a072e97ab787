//! The algorithm registry: names, sizes, defaults and constructors.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use whelk_cipher::registry::{
    self, CIPHERS, Keys, MACS, cipher_by_name, compression_by_name, mac_by_name,
};
use whelk_cipher::{Error, PacketOpener, PacketSealer};
use whelk_wire::frame::Alignment;

fn names<T>(it: impl Iterator<Item = T>, f: impl Fn(T) -> &'static str) -> Vec<&'static str> {
    it.map(f).collect()
}

#[test]
fn default_order_matches_modern_openssh() {
    assert_eq!(
        names(registry::default_ciphers(), |a| a.name),
        [
            "chacha20-poly1305@openssh.com",
            "aes128-ctr",
            "aes192-ctr",
            "aes256-ctr",
            "aes128-gcm@openssh.com",
            "aes256-gcm@openssh.com",
        ]
    );
    // OpenSSH 9.2's `ssh -G` / `sshd -T` MACs list, in order.
    assert_eq!(
        names(registry::default_macs(), |a| a.name),
        [
            "umac-64-etm@openssh.com",
            "umac-128-etm@openssh.com",
            "hmac-sha2-256-etm@openssh.com",
            "hmac-sha2-512-etm@openssh.com",
            "hmac-sha1-etm@openssh.com",
            "umac-64@openssh.com",
            "umac-128@openssh.com",
            "hmac-sha2-256",
            "hmac-sha2-512",
            "hmac-sha1",
        ]
    );
    assert_eq!(
        names(registry::default_compressions(), |a| a.name),
        ["none", "zlib@openssh.com"]
    );
}

#[test]
fn legacy_algorithms_are_off_by_default() {
    let off = |n: &str| {
        cipher_by_name(n)
            .map(|a| a.default_enabled)
            .or(mac_by_name(n).map(|a| a.default_enabled))
            == Some(false)
    };
    for n in [
        "aes128-cbc",
        "aes192-cbc",
        "aes256-cbc",
        "3des-cbc",
        "none",
        "hmac-sha1-96",
        "hmac-md5",
        "hmac-md5-etm@openssh.com",
    ] {
        assert!(off(n), "{n}");
    }
    assert!(!compression_by_name("zlib").unwrap().default_enabled);
    assert!(compression_by_name("zlib@openssh.com").unwrap().delayed);
    assert!(!compression_by_name("zlib").unwrap().delayed);
    assert!(mac_by_name("none").is_some_and(|m| !m.default_enabled));
}

#[test]
fn names_are_unique_and_sizes_are_the_specs() {
    let mut all: Vec<&str> = CIPHERS.iter().map(|a| a.name).collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), CIPHERS.len());
    let mut all: Vec<&str> = MACS.iter().map(|a| a.name).collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), MACS.len());
    let sizes = |n| {
        let a = cipher_by_name(n).unwrap();
        (a.key_len, a.iv_len, a.block_len, a.tag_len, a.is_aead())
    };
    assert_eq!(sizes("chacha20-poly1305@openssh.com"), (64, 0, 8, 16, true));
    assert_eq!(sizes("aes128-gcm@openssh.com"), (16, 12, 16, 16, true));
    assert_eq!(sizes("aes256-gcm@openssh.com"), (32, 12, 16, 16, true));
    assert_eq!(sizes("aes128-ctr"), (16, 16, 16, 0, false));
    assert_eq!(sizes("aes192-ctr"), (24, 16, 16, 0, false));
    assert_eq!(sizes("aes256-ctr"), (32, 16, 16, 0, false));
    assert_eq!(sizes("aes128-cbc"), (16, 16, 16, 0, false));
    assert_eq!(sizes("3des-cbc"), (24, 8, 8, 0, false));
    assert_eq!(sizes("none"), (0, 0, 8, 0, false));
    let m = |n| {
        let a = mac_by_name(n).unwrap();
        (a.key_len, a.mac_len, a.etm)
    };
    assert_eq!(m("hmac-sha2-256-etm@openssh.com"), (32, 32, true));
    assert_eq!(m("hmac-sha2-512-etm@openssh.com"), (64, 64, true));
    assert_eq!(m("hmac-sha1-etm@openssh.com"), (20, 20, true));
    assert_eq!(m("hmac-sha2-256"), (32, 32, false));
    assert_eq!(m("hmac-sha2-512"), (64, 64, false));
    assert_eq!(m("hmac-sha1"), (20, 20, false));
    assert_eq!(m("hmac-sha1-96"), (20, 12, false));
    assert_eq!(m("hmac-md5"), (16, 16, false));
    assert_eq!(m("hmac-md5-etm@openssh.com"), (16, 16, true));
    assert_eq!(m("none"), (0, 0, false));
    assert_eq!(m("umac-64-etm@openssh.com"), (16, 8, true));
    assert_eq!(m("umac-128-etm@openssh.com"), (16, 16, true));
    assert_eq!(m("umac-64@openssh.com"), (16, 8, false));
    assert_eq!(m("umac-128@openssh.com"), (16, 16, false));
    assert!(cipher_by_name("aes128-cbc").unwrap().is_cbc());
    assert!(!cipher_by_name("aes128-ctr").unwrap().is_cbc());
    assert!(cipher_by_name("umac-64-etm@openssh.com").is_none());
    assert!(mac_by_name("umac-32@openssh.com").is_none());
}

#[test]
fn umac_keys_are_checked() {
    for m in MACS.iter().filter(|m| m.name.starts_with("umac-")) {
        assert!(
            build("aes128-ctr", Some(m.name), 16, 16, 16).is_ok(),
            "{}",
            m.name
        );
        for bad in [0, 15, 17, 32] {
            assert!(
                matches!(
                    build("aes128-ctr", Some(m.name), 16, 16, bad).err(),
                    Some(Error::KeyLength { got, expected: 16, .. }) if got == bad
                ),
                "{} {bad}",
                m.name
            );
        }
    }
}

type Pair = (Box<dyn PacketSealer>, Box<dyn PacketOpener>);

fn build(c: &str, m: Option<&str>, key: usize, iv: usize, mac_key: usize) -> Result<Pair, Error> {
    let (k, i, mk) = (vec![1; key], vec![2; iv], vec![3; mac_key]);
    let keys = Keys {
        key: &k,
        iv: &i,
        mac_key: &mk,
    };
    Ok((
        registry::sealer(c, m, &keys)?,
        registry::opener(c, m, &keys)?,
    ))
}

#[test]
fn constructors_check_every_length() {
    for c in CIPHERS {
        let mac = (!c.is_aead()).then_some("hmac-sha2-256");
        let mk = if c.is_aead() { 0 } else { 32 };
        assert!(
            build(c.name, mac, c.key_len, c.iv_len, mk).is_ok(),
            "{}",
            c.name
        );
        for (k, i, m) in [
            (c.key_len + 1, c.iv_len, mk),
            (c.key_len, c.iv_len + 1, mk),
            (c.key_len, c.iv_len, mk + 1),
        ] {
            if c.is_aead() && m != mk {
                continue; // the MAC key is not used
            }
            match build(c.name, mac, k, i, m) {
                Err(Error::KeyLength { .. }) => {}
                other => panic!("{}: {:?}", c.name, other.err()),
            }
        }
        if c.key_len > 0 {
            assert!(build(c.name, mac, c.key_len - 1, c.iv_len, mk).is_err());
        }
    }
}

#[test]
fn aead_ciphers_ignore_the_mac_and_others_need_one() {
    let (s, o) = build("aes256-gcm@openssh.com", Some("hmac-md5"), 32, 12, 0).unwrap();
    assert_eq!(
        (s.trailer_len(), o.trailer_len(), s.mac_name()),
        (16, 16, None)
    );
    assert_eq!(
        build("aes128-ctr", None, 16, 16, 0).err(),
        Some(Error::MacRequired("aes128-ctr"))
    );
    assert!(matches!(
        build("rot13", Some("hmac-sha1"), 0, 0, 20).err(),
        Some(Error::UnknownAlgorithm(n)) if n == "rot13"
    ));
    assert!(matches!(
        build("aes128-ctr", Some("umac-96@openssh.com"), 16, 16, 0).err(),
        Some(Error::UnknownAlgorithm(_))
    ));
}

#[test]
fn alignment_and_trailers() {
    let check = |c: &str, m: Option<&str>, mk: usize, align: Alignment, trailer: usize| {
        let a = cipher_by_name(c).unwrap();
        let (s, o) = build(c, m, a.key_len, a.iv_len, mk).unwrap();
        assert_eq!(s.alignment(), align, "{c} {m:?}");
        assert_eq!(o.alignment(), align, "{c} {m:?}");
        assert_eq!(s.trailer_len(), trailer);
        assert_eq!(o.trailer_len(), trailer);
        assert_eq!(s.name(), c);
        assert_eq!(o.mac_name(), m.filter(|_| !a.is_aead()));
    };
    check(
        "chacha20-poly1305@openssh.com",
        None,
        0,
        Alignment::new(8, false),
        16,
    );
    check(
        "aes128-gcm@openssh.com",
        None,
        0,
        Alignment::new(16, false),
        16,
    );
    check(
        "aes128-ctr",
        Some("hmac-sha2-256"),
        32,
        Alignment::new(16, true),
        32,
    );
    check(
        "aes128-ctr",
        Some("hmac-sha2-512-etm@openssh.com"),
        64,
        Alignment::new(16, false),
        64,
    );
    check(
        "3des-cbc",
        Some("hmac-sha1-96"),
        20,
        Alignment::new(8, true),
        12,
    );
    check("none", Some("none"), 0, Alignment::PLAINTEXT, 0);
    // Step 1 needs the first block only where the length is encrypted with the body.
    let a = cipher_by_name("aes128-cbc").unwrap();
    let (_, o) = build("aes128-cbc", Some("hmac-sha1"), a.key_len, a.iv_len, 20).unwrap();
    assert_eq!((o.length_bytes(), o.discard_on_error()), (16, true));
    let (_, o) = build("aes128-cbc", Some("hmac-sha1-etm@openssh.com"), 16, 16, 20).unwrap();
    assert_eq!((o.length_bytes(), o.discard_on_error()), (4, false));
    let (_, o) = build("aes128-ctr", Some("hmac-sha1"), 16, 16, 20).unwrap();
    assert_eq!((o.length_bytes(), o.discard_on_error()), (16, false));
}
