//! The methods with ECDH-style messages (RFC 5656 §7.1): curve25519 (RFC 8731), the NIST
//! curves (RFC 5656) and the hybrid post-quantum methods (`mlkem768x25519-sha256`,
//! `sntrup761x25519-sha512[@openssh.com]`).

use alloc::boxed::Box;
use alloc::vec::Vec;

use ml_kem::kem::{Decapsulate, Encapsulate, KeyExport};
use ml_kem::{MlKem768, Seed};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::exchange::SharedSecret;
use crate::method::{KexMethod, Kind};

/// X25519 public value length.
pub const X25519_LEN: usize = 32;
/// ML-KEM-768 encapsulation key length (FIPS 203).
pub const MLKEM768_PUBLIC_LEN: usize = 1184;
/// ML-KEM-768 ciphertext length (FIPS 203).
pub const MLKEM768_CIPHERTEXT_LEN: usize = 1088;
/// sntrup761 public key length.
pub const SNTRUP761_PUBLIC_LEN: usize = sntrup761::PUBLIC_KEY_SIZE;
/// sntrup761 ciphertext length.
pub const SNTRUP761_CIPHERTEXT_LEN: usize = sntrup761::CIPHERTEXT_SIZE;

type MlKemDk = ml_kem::DecapsulationKey<MlKem768>;
type MlKemEk = ml_kem::EncapsulationKey<MlKem768>;

/// The client's ephemeral secret between its init message and the server's reply.
pub(crate) enum ClientSecret {
    MlKem(MlKemDk, x25519_dalek::StaticSecret),
    Sntrup(Box<sntrup761::DecapsulationKey>, x25519_dalek::StaticSecret),
    X25519(x25519_dalek::StaticSecret),
    P256(p256::ecdh::EphemeralSecret),
    P384(p384::ecdh::EphemeralSecret),
    P521(p521::ecdh::EphemeralSecret),
}

fn x25519_keygen<R: CryptoRng + ?Sized>(
    rng: &mut R,
) -> (x25519_dalek::StaticSecret, [u8; X25519_LEN]) {
    let secret = x25519_dalek::StaticSecret::random_from_rng(rng);
    let public = x25519_dalek::PublicKey::from(&secret).to_bytes();
    (secret, public)
}

/// X25519 with the peer's value: exactly 32 bytes, and the all-zero output (every
/// low-order point) rejected in constant time (OpenSSH kexc25519.c, catalog K09/K10).
fn x25519_shared(
    secret: &x25519_dalek::StaticSecret,
    peer: &[u8],
    method: &'static str,
) -> Result<Zeroizing<[u8; X25519_LEN]>> {
    let peer: [u8; X25519_LEN] = peer
        .try_into()
        .map_err(|_| Error::peer(method, "X25519 public value", "not 32 bytes"))?;
    let shared = secret.diffie_hellman(&x25519_dalek::PublicKey::from(peer));
    if !shared.was_contributory() {
        return Err(Error::peer(
            method,
            "X25519 shared secret",
            "all zero (low-order public value)",
        ));
    }
    Ok(Zeroizing::new(shared.to_bytes()))
}

/// Checks a SEC1 point: uncompressed form of exactly the curve's size (RFC 5656 §3.1).
fn check_sec1(peer: &[u8], field_len: usize, method: &'static str) -> Result<()> {
    if peer.len() != 1 + 2 * field_len {
        return Err(Error::peer(method, "EC public point", "wrong length"));
    }
    if peer.first() != Some(&0x04) {
        return Err(Error::peer(method, "EC public point", "not uncompressed"));
    }
    Ok(())
}

macro_rules! nist {
    ($module:ident, $curve:ident, $field:expr) => {
        pub(crate) mod $module {
            use super::*;
            use ::$curve::elliptic_curve::Generate;
            use ::$curve::elliptic_curve::sec1::ToSec1Point;

            pub(crate) fn keygen<R: CryptoRng + ?Sized>(
                rng: &mut R,
            ) -> (::$curve::ecdh::EphemeralSecret, Vec<u8>) {
                let secret = ::$curve::ecdh::EphemeralSecret::generate_from_rng(rng);
                let public = secret
                    .public_key()
                    .as_affine()
                    .to_sec1_point(false)
                    .as_bytes()
                    .to_vec();
                (secret, public)
            }

            /// The x-coordinate of the shared point, big-endian (RFC 5656 §4).
            pub(crate) fn shared(
                secret: &::$curve::ecdh::EphemeralSecret,
                peer: &[u8],
                method: &'static str,
            ) -> Result<Zeroizing<Vec<u8>>> {
                check_sec1(peer, $field, method)?;
                // Decoding checks that the point is on the curve and not the identity.
                let pk = ::$curve::PublicKey::from_sec1_bytes(peer)
                    .map_err(|_| Error::peer(method, "EC public point", "not on the curve"))?;
                let shared = secret.diffie_hellman(&pk);
                Ok(Zeroizing::new(shared.raw_secret_bytes().to_vec()))
            }
        }
    };
}

nist!(nist_p256, p256, 32);
nist!(nist_p384, p384, 48);
nist!(nist_p521, p521, 66);

/// `K` of the classic methods: the mpint of the raw big-endian secret.
fn mpint_secret(raw: &[u8]) -> SharedSecret {
    SharedSecret::from_mpint_magnitude(raw)
}

/// `K` of the hybrid methods: `string(HASH(kem_secret || x25519_secret))`.
fn hybrid_secret(method: &KexMethod, kem: &[u8], ecdh: &[u8]) -> SharedSecret {
    let mut h = method.hash.hasher();
    h.update(kem);
    h.update(ecdh);
    let digest = Zeroizing::new(h.finish());
    SharedSecret::from_string(&digest)
}

/// Client side: a fresh secret and `Q_C`.
pub(crate) fn client_start<R: CryptoRng + ?Sized>(
    method: &KexMethod,
    rng: &mut R,
) -> Result<(ClientSecret, Vec<u8>)> {
    Ok(match method.kind {
        Kind::MlKem768X25519 => {
            let mut seed = Zeroizing::new(Seed::default());
            rng.fill_bytes(seed.as_mut_slice());
            let dk = MlKemDk::from_seed(*seed);
            let mut q = dk.encapsulation_key().to_bytes().to_vec();
            let (x, xp) = x25519_keygen(rng);
            q.extend_from_slice(&xp);
            (ClientSecret::MlKem(dk, x), q)
        }
        Kind::Sntrup761X25519 => {
            let (ek, dk) = sntrup761::generate_key(&mut *rng);
            let mut q = ek.as_ref().to_vec();
            let (x, xp) = x25519_keygen(rng);
            q.extend_from_slice(&xp);
            (ClientSecret::Sntrup(Box::new(dk), x), q)
        }
        Kind::Curve25519 => {
            let (x, xp) = x25519_keygen(rng);
            (ClientSecret::X25519(x), xp.to_vec())
        }
        Kind::NistP256 => {
            let (s, q) = nist_p256::keygen(rng);
            (ClientSecret::P256(s), q)
        }
        Kind::NistP384 => {
            let (s, q) = nist_p384::keygen(rng);
            (ClientSecret::P384(s), q)
        }
        Kind::NistP521 => {
            let (s, q) = nist_p521::keygen(rng);
            (ClientSecret::P521(s), q)
        }
        Kind::Dh(_) | Kind::Gex => return Err(Error::State("not an ECDH-family method")),
    })
}

/// Splits `value` into a KEM part of exactly `kem_len` bytes and an X25519 part of exactly
/// 32 bytes.
fn split_hybrid<'a>(
    value: &'a [u8],
    kem_len: usize,
    method: &'static str,
    what: &'static str,
) -> Result<(&'a [u8], &'a [u8])> {
    if value.len() != kem_len + X25519_LEN {
        return Err(Error::peer(method, what, "wrong length"));
    }
    Ok(value.split_at(kem_len))
}

/// Client side: `K` from the server's `Q_S`.
pub(crate) fn client_finish(
    method: &KexMethod,
    secret: &ClientSecret,
    q_s: &[u8],
) -> Result<SharedSecret> {
    let name = method.name;
    match secret {
        ClientSecret::MlKem(dk, x) => {
            let (ct, xp) = split_hybrid(q_s, MLKEM768_CIPHERTEXT_LEN, name, "server reply")?;
            let ss_x = x25519_shared(x, xp, name)?;
            let ss_k = Zeroizing::new(
                dk.decapsulate_slice(ct)
                    .map_err(|_| Error::peer(name, "ML-KEM ciphertext", "wrong length"))?,
            );
            Ok(hybrid_secret(method, ss_k.as_slice(), ss_x.as_slice()))
        }
        ClientSecret::Sntrup(dk, x) => {
            let (ct, xp) = split_hybrid(q_s, SNTRUP761_CIPHERTEXT_LEN, name, "server reply")?;
            let ss_x = x25519_shared(x, xp, name)?;
            let ct = sntrup761::Ciphertext::try_from(ct)
                .map_err(|_| Error::peer(name, "sntrup761 ciphertext", "wrong length"))?;
            let ss_k = dk.decapsulate(&ct);
            Ok(hybrid_secret(method, ss_k.as_ref(), ss_x.as_slice()))
        }
        ClientSecret::X25519(x) => Ok(mpint_secret(x25519_shared(x, q_s, name)?.as_slice())),
        ClientSecret::P256(s) => Ok(mpint_secret(&nist_p256::shared(s, q_s, name)?)),
        ClientSecret::P384(s) => Ok(mpint_secret(&nist_p384::shared(s, q_s, name)?)),
        ClientSecret::P521(s) => Ok(mpint_secret(&nist_p521::shared(s, q_s, name)?)),
    }
}

/// Server side: `Q_S` and `K` from the client's `Q_C`.
pub(crate) fn server_respond<R: CryptoRng + ?Sized>(
    method: &KexMethod,
    q_c: &[u8],
    rng: &mut R,
) -> Result<(Vec<u8>, SharedSecret)> {
    let name = method.name;
    Ok(match method.kind {
        Kind::MlKem768X25519 => {
            let (ek, xp) = split_hybrid(q_c, MLKEM768_PUBLIC_LEN, name, "client public value")?;
            let key = ml_kem::kem::Key::<MlKemEk>::try_from(ek)
                .map_err(|_| Error::peer(name, "ML-KEM encapsulation key", "wrong length"))?;
            // Includes the FIPS 203 §7.2 modulus check.
            let ek = MlKemEk::new(&key)
                .map_err(|_| Error::peer(name, "ML-KEM encapsulation key", "invalid"))?;
            let (x, my_xp) = x25519_keygen(rng);
            let ss_x = x25519_shared(&x, xp, name)?;
            let (ct, ss_k) = ek.encapsulate_with_rng(rng);
            let ss_k = Zeroizing::new(ss_k);
            let mut q = ct.to_vec();
            q.extend_from_slice(&my_xp);
            (q, hybrid_secret(method, ss_k.as_slice(), ss_x.as_slice()))
        }
        Kind::Sntrup761X25519 => {
            let (ek, xp) = split_hybrid(q_c, SNTRUP761_PUBLIC_LEN, name, "client public value")?;
            let ek = sntrup761::EncapsulationKey::try_from(ek)
                .map_err(|_| Error::peer(name, "sntrup761 public key", "wrong length"))?;
            let (x, my_xp) = x25519_keygen(rng);
            let ss_x = x25519_shared(&x, xp, name)?;
            let (ct, ss_k) = ek.encapsulate(&mut *rng);
            let mut q = ct.as_ref().to_vec();
            q.extend_from_slice(&my_xp);
            (q, hybrid_secret(method, ss_k.as_ref(), ss_x.as_slice()))
        }
        Kind::Curve25519 => {
            let (x, my_xp) = x25519_keygen(rng);
            let ss = x25519_shared(&x, q_c, name)?;
            (my_xp.to_vec(), mpint_secret(ss.as_slice()))
        }
        Kind::NistP256 => {
            let (s, q) = nist_p256::keygen(rng);
            let ss = nist_p256::shared(&s, q_c, name)?;
            (q, mpint_secret(&ss))
        }
        Kind::NistP384 => {
            let (s, q) = nist_p384::keygen(rng);
            let ss = nist_p384::shared(&s, q_c, name)?;
            (q, mpint_secret(&ss))
        }
        Kind::NistP521 => {
            let (s, q) = nist_p521::keygen(rng);
            let ss = nist_p521::shared(&s, q_c, name)?;
            (q, mpint_secret(&ss))
        }
        Kind::Dh(_) | Kind::Gex => return Err(Error::State("not an ECDH-family method")),
    })
}
