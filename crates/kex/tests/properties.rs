//! Properties of key derivation and of `K`'s encoding.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use whelk_kex::{KexHash, MAX_DERIVED_LEN, SharedSecret, derive_key};
use whelk_wire::types::{MpInt, PutSsh};

fn hashes() -> impl Strategy<Value = KexHash> {
    prop_oneof![
        Just(KexHash::Sha1),
        Just(KexHash::Sha256),
        Just(KexHash::Sha384),
        Just(KexHash::Sha512)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// A shorter key is a prefix of a longer one (the extension loop only appends).
    #[test]
    fn derived_keys_are_prefixes(
        hash in hashes(),
        k in proptest::collection::vec(any::<u8>(), 0..80),
        h in proptest::collection::vec(any::<u8>(), 20..64),
        letter in b'A'..=b'F',
        a in 0usize..300,
        b in 0usize..300,
    ) {
        let (short, long) = (a.min(b), a.max(b));
        let ks = derive_key(hash, &k, &h, letter, &h, short).unwrap();
        let kl = derive_key(hash, &k, &h, letter, &h, long).unwrap();
        prop_assert_eq!(ks.len(), short);
        prop_assert_eq!(&kl[..short], &ks[..]);
    }

    /// `K` as an mpint is exactly whelk-wire's mpint encoding of the magnitude.
    #[test]
    fn mpint_secret_matches_the_wire_encoding(v in proptest::collection::vec(any::<u8>(), 0..80)) {
        let ours = SharedSecret::from_mpint_magnitude(&v);
        let mut theirs = Vec::new();
        theirs.put_ssh_string(MpInt::from_unsigned_be(&v).as_bytes());
        prop_assert_eq!(ours.encoded(), &theirs[..]);
    }
}

#[test]
fn derivation_length_is_bounded() {
    assert!(derive_key(KexHash::Sha256, b"k", b"h", b'A', b"s", MAX_DERIVED_LEN).is_ok());
    assert!(derive_key(KexHash::Sha256, b"k", b"h", b'A', b"s", MAX_DERIVED_LEN + 1).is_err());
    assert!(
        derive_key(KexHash::Sha1, b"k", b"h", b'A', b"s", 0)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn registry_order_and_flags() {
    use whelk_kex::{METHODS, default_method_names, method_by_name};
    let defaults: Vec<&str> = default_method_names().collect();
    assert_eq!(
        defaults,
        [
            "mlkem768x25519-sha256",
            "sntrup761x25519-sha512",
            "sntrup761x25519-sha512@openssh.com",
            "curve25519-sha256",
            "curve25519-sha256@libssh.org",
            "ecdh-sha2-nistp256",
            "ecdh-sha2-nistp384",
            "ecdh-sha2-nistp521",
            "diffie-hellman-group-exchange-sha256",
            "diffie-hellman-group16-sha512",
            "diffie-hellman-group18-sha512",
            "diffie-hellman-group14-sha256",
        ]
    );
    for legacy in [
        "diffie-hellman-group14-sha1",
        "diffie-hellman-group1-sha1",
        "diffie-hellman-group-exchange-sha1",
    ] {
        let m = method_by_name(legacy).unwrap();
        assert!(!m.default_enabled);
        assert_eq!(m.hash, KexHash::Sha1);
    }
    assert_eq!(METHODS.len(), 15);
    assert!(method_by_name("ext-info-c").is_none());
    assert_eq!(
        method_by_name("ecdh-sha2-nistp384").unwrap().hash,
        KexHash::Sha384
    );
    assert!(
        method_by_name("mlkem768x25519-sha256")
            .unwrap()
            .is_post_quantum()
    );
}

fn kexinit_from(kex: &[&str], hk: &[&str], c: &[&str]) -> whelk_wire::msg::KexInit {
    use whelk_wire::types::NameList;
    let l = |v: &[&str]| NameList::from_names(v.iter()).unwrap();
    whelk_wire::msg::KexInit {
        cookie: [0; 16],
        kex_algorithms: l(kex),
        server_host_key_algorithms: l(hk),
        encryption_client_to_server: l(c),
        encryption_server_to_client: l(c),
        mac_client_to_server: l(&["hmac-sha2-256", "hmac-sha2-512"]),
        mac_server_to_client: l(&["hmac-sha2-512", "hmac-sha2-256"]),
        compression_client_to_server: l(&["none"]),
        compression_server_to_client: l(&["none"]),
        languages_client_to_server: NameList::empty(),
        languages_server_to_client: NameList::empty(),
        first_kex_packet_follows: false,
    }
}

const KEX_POOL: &[&str] = &[
    "mlkem768x25519-sha256",
    "curve25519-sha256",
    "ecdh-sha2-nistp256",
    "diffie-hellman-group14-sha256",
    "ext-info-c",
    "ext-info-s",
    "kex-strict-c-v00@openssh.com",
    "kex-strict-s-v00@openssh.com",
];
const HK_POOL: &[&str] = &[
    "ssh-ed25519",
    "rsa-sha2-512",
    "ecdsa-sha2-nistp256",
    "ssh-dss",
];
const C_POOL: &[&str] = &["aes128-ctr", "aes256-ctr", "chacha20-poly1305@openssh.com"];

fn subset(pool: &'static [&'static str]) -> impl Strategy<Value = Vec<&'static str>> {
    proptest::sample::subsequence(pool, 0..=pool.len()).prop_shuffle()
}

proptest! {
    /// Whatever the lists, negotiation picks, per category, the first name of the client's
    /// list that the server has (skipping markers and unusable host key names), or fails
    /// naming that category; it never panics.
    #[test]
    fn negotiation_is_first_client_match(
        ck in subset(KEX_POOL), sk in subset(KEX_POOL),
        ch in subset(HK_POOL), sh in subset(HK_POOL),
        cc in subset(C_POOL), sc in subset(C_POOL),
    ) {
        let c = kexinit_from(&ck, &ch, &cc);
        let s = kexinit_from(&sk, &sh, &sc);
        let is_marker = |n: &&str| n.starts_with("ext-info-") || n.starts_with("kex-strict-");
        let want_kex = ck.iter().filter(|n| !is_marker(n)).find(|n| sk.contains(n));
        let want_hk = ch.iter().filter(|n| **n != "ssh-dss").find(|n| sh.contains(n));
        let want_c = cc.iter().find(|n| sc.contains(n));
        match whelk_kex::negotiate(&c, &s) {
            Ok(n) => {
                prop_assert_eq!(Some(&n.kex.name), want_kex);
                prop_assert_eq!(Some(&n.host_key_algorithm.as_str()), want_hk);
                prop_assert_eq!(Some(&n.cipher_client_to_server.as_str()), want_c);
                prop_assert_eq!(n.client_ext_info, ck.contains(&"ext-info-c"));
                prop_assert_eq!(n.server_strict_kex, sk.contains(&"kex-strict-s-v00@openssh.com"));
                let aead = n.cipher_client_to_server.starts_with("chacha20");
                prop_assert_eq!(n.mac_client_to_server.is_none(), aead);
            }
            Err(whelk_kex::Error::NoCommonAlgorithm(cat)) => {
                use whelk_kex::Category;
                let expected = if want_kex.is_none() {
                    Category::Kex
                } else if want_hk.is_none() {
                    Category::HostKey
                } else {
                    Category::CipherClientToServer
                };
                prop_assert_eq!(cat, expected);
            }
            Err(e) => prop_assert!(false, "unexpected error {e:?}"),
        }
    }
}
