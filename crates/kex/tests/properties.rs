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
