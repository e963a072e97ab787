//! Private keys: generation, signing, and conversion to and from the `ssh-key` crate's
//! representation (which the OpenSSH file format is built on).

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use p256::elliptic_curve::Generate;
use rand_core::CryptoRng;
use rsa::traits::PublicKeyParts;
use whelk_wire::types::PutSsh;
use zeroize::Zeroizing;

use crate::algorithm::{Curve, KeyType, SigAlg};
use crate::error::{Error, Result};
use crate::fingerprint::{Fingerprint, HashAlg};
use crate::public::{KeyData, PublicKey, put_mpint_unsigned, strip_zeros};

/// What kind of key to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyGen {
    /// Ed25519 (the recommended default).
    Ed25519,
    /// ECDSA on a NIST curve.
    Ecdsa(Curve),
    /// RSA with a modulus of `bits` bits (2048..=8192; see [`KeyGen::RSA_DEFAULT_BITS`]).
    Rsa {
        /// Modulus size.
        bits: u32,
    },
}

impl KeyGen {
    /// The RSA modulus size `ssh-keygen` uses by default.
    pub const RSA_DEFAULT_BITS: u32 = 3072;
    /// The smallest RSA modulus whelk generates.
    pub const RSA_MIN_BITS: u32 = 2048;
    /// The largest RSA modulus whelk generates.
    pub const RSA_MAX_BITS: u32 = 8192;

    /// RSA with the default size (3072 bits).
    #[must_use]
    pub const fn rsa_default() -> Self {
        Self::Rsa {
            bits: Self::RSA_DEFAULT_BITS,
        }
    }
}

/// The secret half, ready to sign. Every variant zeroizes its secret on drop.
#[derive(Clone)]
pub(crate) enum Secret {
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::SecretKey),
    P384(p384::SecretKey),
    P521(p521::SecretKey),
    Rsa(Box<rsa::RsaPrivateKey>),
}

/// A private key that can sign, with its public key and comment.
///
/// The secret material is zeroized when the key is dropped. `Debug` prints only the public
/// half.
#[derive(Clone)]
pub struct PrivateKey {
    secret: Secret,
    public: PublicKey,
    comment: String,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("public", &self.public)
            .field("comment", &self.comment)
            .finish_non_exhaustive()
    }
}

fn ecdsa_public_data(curve: Curve, point: &[u8]) -> KeyData {
    KeyData::Ecdsa {
        curve,
        point: point.to_vec(),
    }
}

fn rsa_public_data(key: &rsa::RsaPrivateKey) -> KeyData {
    KeyData::Rsa {
        e: strip_zeros(&key.e_bytes()).to_vec(),
        n: strip_zeros(&key.n_bytes()).to_vec(),
    }
}

impl Secret {
    fn public_data(&self) -> KeyData {
        use p256::elliptic_curve::sec1::ToSec1Point;
        match self {
            Self::Ed25519(k) => KeyData::Ed25519(k.verifying_key().to_bytes()),
            Self::P256(k) => ecdsa_public_data(
                Curve::NistP256,
                k.public_key().to_sec1_point(false).as_bytes(),
            ),
            Self::P384(k) => ecdsa_public_data(
                Curve::NistP384,
                k.public_key().to_sec1_point(false).as_bytes(),
            ),
            Self::P521(k) => ecdsa_public_data(
                Curve::NistP521,
                k.public_key().to_sec1_point(false).as_bytes(),
            ),
            Self::Rsa(k) => rsa_public_data(k),
        }
    }
}

impl PrivateKey {
    pub(crate) fn from_secret(secret: Secret, comment: String) -> Result<Self> {
        if let Secret::Rsa(k) = &secret {
            let bits = u32::try_from(k.size().saturating_mul(8)).unwrap_or(u32::MAX);
            if bits > crate::public::MAX_RSA_BITS {
                return Err(Error::RsaKeySize {
                    bits,
                    min: 0,
                    max: crate::public::MAX_RSA_BITS,
                });
            }
        }
        let public = PublicKey::from_data(secret.public_data());
        Ok(Self {
            secret,
            public,
            comment,
        })
    }

    pub(crate) fn secret_ref(&self) -> &Secret {
        &self.secret
    }

    /// Generates a new key with randomness from `rng`.
    pub fn generate<R: CryptoRng + ?Sized>(spec: KeyGen, rng: &mut R) -> Result<Self> {
        let secret = match spec {
            KeyGen::Ed25519 => Secret::Ed25519(ed25519_dalek::SigningKey::generate(rng)),
            KeyGen::Ecdsa(Curve::NistP256) => Secret::P256(p256::SecretKey::generate_from_rng(rng)),
            KeyGen::Ecdsa(Curve::NistP384) => Secret::P384(p384::SecretKey::generate_from_rng(rng)),
            KeyGen::Ecdsa(Curve::NistP521) => Secret::P521(p521::SecretKey::generate_from_rng(rng)),
            KeyGen::Rsa { bits } => {
                if !(KeyGen::RSA_MIN_BITS..=KeyGen::RSA_MAX_BITS).contains(&bits) {
                    return Err(Error::KeyGen("RSA size must be 2048..=8192 bits"));
                }
                let bits = usize::try_from(bits).map_err(|_| Error::KeyGen("size"))?;
                let key = rsa::RsaPrivateKey::new(rng, bits)
                    .map_err(|_| Error::Crypto("RSA key generation failed"))?;
                Secret::Rsa(Box::new(key))
            }
        };
        Self::from_secret(secret, String::new())
    }

    /// Builds an Ed25519 key from its 32-byte seed (the RFC 8032 private key).
    #[must_use]
    pub fn ed25519_from_seed(seed: &[u8; 32]) -> Self {
        let sk = ed25519_dalek::SigningKey::from_bytes(seed);
        let public = PublicKey::from_data(KeyData::Ed25519(sk.verifying_key().to_bytes()));
        Self {
            secret: Secret::Ed25519(sk),
            public,
            comment: String::new(),
        }
    }

    /// The public key.
    #[must_use]
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The key type.
    #[must_use]
    pub fn key_type(&self) -> KeyType {
        self.public.key_type()
    }

    /// The comment (from the key file, or set by the user).
    #[must_use]
    pub fn comment(&self) -> &str {
        &self.comment
    }

    /// Replaces the comment.
    pub fn set_comment(&mut self, comment: impl Into<String>) {
        self.comment = comment.into();
    }

    /// The public key's fingerprint.
    #[must_use]
    pub fn fingerprint(&self, hash: HashAlg) -> Fingerprint {
        self.public.fingerprint(hash)
    }

    /// The default signature algorithm for this key (`rsa-sha2-512` for RSA).
    #[must_use]
    pub fn default_signature_algorithm(&self) -> SigAlg {
        self.key_type().default_signature_algorithm()
    }

    /// Signs `data` with `alg` and returns the full signature blob
    /// (`string alg_name, string signature`), ready for the wire.
    ///
    /// `rng` hedges ECDSA nonces (RFC 6979 with added randomness) and blinds RSA; Ed25519 is
    /// deterministic. `ssh-rsa` (SHA-1) is refused: see [`PrivateKey::sign_allowing_sha1`].
    pub fn sign<R: CryptoRng + ?Sized>(
        &self,
        alg: SigAlg,
        data: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>> {
        if alg.uses_sha1() {
            return Err(Error::Sha1Disabled);
        }
        self.sign_inner(alg, data, rng)
    }

    /// Like [`PrivateKey::sign`], but also signs with `ssh-rsa` (RSA/SHA-1), for peers
    /// that support nothing else and only when the user configured it.
    pub fn sign_allowing_sha1<R: CryptoRng + ?Sized>(
        &self,
        alg: SigAlg,
        data: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>> {
        self.sign_inner(alg, data, rng)
    }

    fn sign_inner<R: CryptoRng + ?Sized>(
        &self,
        alg: SigAlg,
        data: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>> {
        use p256::ecdsa::signature::RandomizedSigner;
        let kt = self.key_type();
        if alg.key_type() != kt {
            return Err(Error::AlgorithmMismatch {
                sig_alg: alg.name(),
                key_type: kt.name(),
            });
        }
        let mut out = Vec::new();
        out.put_ssh_string(alg.name().as_bytes());
        match &self.secret {
            Secret::Ed25519(k) => {
                use ed25519_dalek::Signer;
                out.put_ssh_string(&k.sign(data).to_bytes());
            }
            Secret::P256(k) => {
                let sig: p256::ecdsa::Signature = p256::ecdsa::SigningKey::from(k)
                    .try_sign_with_rng(rng, data)
                    .map_err(|_| Error::Crypto("ECDSA signing failed"))?;
                let (r, s) = sig.split_bytes();
                put_ecdsa_sig(&mut out, &r, &s);
            }
            Secret::P384(k) => {
                let sig: p384::ecdsa::Signature = p384::ecdsa::SigningKey::from(k)
                    .try_sign_with_rng(rng, data)
                    .map_err(|_| Error::Crypto("ECDSA signing failed"))?;
                let (r, s) = sig.split_bytes();
                put_ecdsa_sig(&mut out, &r, &s);
            }
            Secret::P521(k) => {
                let sig: p521::ecdsa::Signature = p521::ecdsa::SigningKey::from(k)
                    .try_sign_with_rng(rng, data)
                    .map_err(|_| Error::Crypto("ECDSA signing failed"))?;
                let (r, s) = sig.split_bytes();
                put_ecdsa_sig(&mut out, &r, &s);
            }
            Secret::Rsa(k) => {
                let (scheme, hashed) = crate::public::rsa_scheme_and_hash(alg, data)?;
                let sig = k
                    .sign_with_rng(rng, scheme, &hashed)
                    .map_err(|_| Error::Crypto("RSA signing failed"))?;
                out.put_ssh_string(&sig);
            }
        }
        Ok(out)
    }

    /// Converts to the `ssh-key` crate's private key (with this key's comment).
    pub(crate) fn to_ssh_key(&self) -> Result<ssh_key::PrivateKey> {
        use ssh_key::private::{EcdsaKeypair, Ed25519Keypair, KeypairData, RsaKeypair};
        let data = match &self.secret {
            Secret::Ed25519(k) => {
                let seed = Zeroizing::new(k.to_bytes());
                KeypairData::Ed25519(Ed25519Keypair::from_seed(&seed))
            }
            Secret::P256(k) => KeypairData::Ecdsa(EcdsaKeypair::NistP256 {
                private: k.clone().into(),
                public: k.public_key().into(),
            }),
            Secret::P384(k) => KeypairData::Ecdsa(EcdsaKeypair::NistP384 {
                private: k.clone().into(),
                public: k.public_key().into(),
            }),
            Secret::P521(k) => KeypairData::Ecdsa(EcdsaKeypair::NistP521 {
                private: k.clone().into(),
                public: k.public_key().into(),
            }),
            Secret::Rsa(k) => KeypairData::Rsa(
                RsaKeypair::try_from(k.as_ref()).map_err(|_| Error::Crypto("RSA key export"))?,
            ),
        };
        ssh_key::PrivateKey::new(data, self.comment.as_str())
            .map_err(|e| crate::public::format_err("OpenSSH private key", &e.to_string()))
    }

    /// Converts from the `ssh-key` crate's (decrypted) private key, checking that the
    /// public half in the file matches the private half.
    pub(crate) fn from_ssh_key(key: &ssh_key::PrivateKey) -> Result<Self> {
        use ssh_key::private::{EcdsaKeypair, KeypairData};
        let secret = match key.key_data() {
            KeypairData::Ed25519(kp) => {
                let seed = Zeroizing::new(kp.private.to_bytes());
                Secret::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed))
            }
            KeypairData::Ecdsa(EcdsaKeypair::NistP256 { private, .. }) => Secret::P256(
                p256::SecretKey::from_slice(private.as_slice()).map_err(|_| Error::KeyMismatch)?,
            ),
            KeypairData::Ecdsa(EcdsaKeypair::NistP384 { private, .. }) => Secret::P384(
                p384::SecretKey::from_slice(private.as_slice()).map_err(|_| Error::KeyMismatch)?,
            ),
            KeypairData::Ecdsa(EcdsaKeypair::NistP521 { private, .. }) => Secret::P521(
                p521::SecretKey::from_slice(private.as_slice()).map_err(|_| Error::KeyMismatch)?,
            ),
            KeypairData::Rsa(kp) => Secret::Rsa(Box::new(
                rsa::RsaPrivateKey::try_from(kp)
                    .map_err(|_| crate::error::invalid("RSA private key", "inconsistent"))?,
            )),
            KeypairData::Encrypted(_) => return Err(Error::PassphraseRequired),
            KeypairData::SkEd25519(_) => return Err(Error::CannotSign("sk-ssh-ed25519")),
            KeypairData::SkEcdsaSha2NistP256(_) => {
                return Err(Error::CannotSign("sk-ecdsa-sha2-nistp256"));
            }
            other => {
                let name = other
                    .algorithm()
                    .map(|a| a.as_str().to_string())
                    .unwrap_or_default();
                return Err(Error::UnsupportedAlgorithm(name));
            }
        };
        let me = Self::from_secret(secret, key.comment().as_str_lossy().to_string())?;
        // The public key stored in the file must be the private key's.
        let file_public = key
            .public_key()
            .to_bytes()
            .map_err(|e| crate::public::format_err("OpenSSH private key", &e.to_string()))?;
        if file_public != me.public.blob() {
            return Err(Error::KeyMismatch);
        }
        Ok(me)
    }
}

fn put_ecdsa_sig(out: &mut Vec<u8>, r: &[u8], s: &[u8]) {
    let mut inner = Vec::with_capacity(2 * (r.len() + 5));
    put_mpint_unsigned(&mut inner, r);
    put_mpint_unsigned(&mut inner, s);
    out.put_ssh_string(&inner);
}
