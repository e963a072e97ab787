//! Catalog M08 (PuTTY CVE-2024-31497): P-521 ECDSA nonces must use the whole range. PuTTY's
//! nonces had their top 9 bits always zero, which leaks the key after ~60 signatures. We
//! recover each nonce k = s⁻¹ (z + r d) from signatures made with a known key and check
//! that the largest one is as long as a uniform 521-bit value would be.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use p521::elliptic_curve::ff::PrimeField;
use p521::elliptic_curve::point::AffineCoordinates;
use sha2::{Digest, Sha512};
use whelk_keys::{Curve, KeyGen, PrivateKey, SigAlg};

fn scalar(be: &[u8]) -> p521::Scalar {
    let mut fb = p521::FieldBytes::default();
    fb[66 - be.len()..].copy_from_slice(be);
    p521::Scalar::from_repr(fb).unwrap()
}

fn mpint(b: &[u8]) -> (&[u8], &[u8]) {
    let len = u32::from_be_bytes(b[..4].try_into().unwrap()) as usize;
    let v = &b[4..4 + len];
    let v = if v.first() == Some(&0) { &v[1..] } else { v };
    (v, &b[4 + len..])
}

#[test]
fn catalog_m08_p521_nonces_are_full_length() {
    let mut r = common::rng(77);
    let key = PrivateKey::generate(KeyGen::Ecdsa(Curve::NistP521), &mut r).unwrap();
    let sec1 = key.to_traditional_pem().unwrap();
    let d = p521::SecretKey::from_sec1_pem(&sec1).unwrap();
    let d = scalar(&d.to_bytes());
    let mut max_bits = 0;
    let mut seen = std::collections::HashSet::new();
    for i in 0..120u32 {
        let msg = i.to_be_bytes();
        let blob = key.sign(SigAlg::EcdsaNistP521, &msg, &mut r).unwrap();
        // string "ecdsa-sha2-nistp521", string (mpint r, mpint s)
        let name_len = u32::from_be_bytes(blob[..4].try_into().unwrap()) as usize;
        let inner = &blob[4 + name_len + 4..];
        let (rb, rest) = mpint(inner);
        let (sb, _) = mpint(rest);
        let (rs, ss) = (scalar(rb), scalar(sb));
        let z = scalar(&Sha512::digest(msg));
        let k = ss.invert().unwrap() * (z + rs * d);
        // The recovery is right: (k·G).x = r.
        let x = (p521::ProjectivePoint::GENERATOR * k).to_affine().x();
        assert_eq!(scalar(&x), rs);
        let kb = k.to_repr();
        let lead = kb.iter().position(|&b| b != 0).unwrap();
        let bits = (66 - lead) * 8 - kb[lead].leading_zeros() as usize;
        max_bits = max_bits.max(bits);
        assert!(seen.insert(kb.to_vec()), "nonce repeated");
    }
    // With uniform nonces the largest of 120 has 521 bits with probability > 1 - 2^-100;
    // PuTTY's had at most 512.
    assert!(max_bits >= 519, "largest nonce has only {max_bits} bits");
}
