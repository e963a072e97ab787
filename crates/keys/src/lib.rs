//! SSH keys for whelk: the signature-algorithm layer used by key exchange and user
//! authentication, key generation, fingerprints, and every key file format OpenSSH users meet.
//!
//! - [`PublicKey`]: strict SSH wire blobs, [`PublicKey::verify`] under a [`VerifyPolicy`]
//!   (RSA size limits, SHA-1 off by default, security-key flags), fingerprints and random art.
//! - [`PrivateKey`]: generation ([`KeyGen`]), [`PrivateKey::sign`] producing wire signature
//!   blobs, secret material zeroized on drop.
//!
//! - Files: [`openssh`] (`openssh-key-v1`, bcrypt-pbkdf + AES), [`pem`] (PKCS#1, SEC1,
//!   PKCS#8, SPKI, RFC 4716), [`cert`] (OpenSSH certificates), [`sshsig`] (SSHSIG and
//!   `allowed_signers`), [`known_hosts`], [`authorized_keys`] (typed key options).
//!
//! ```
//! use whelk_keys::{KeyGen, PrivateKey, SigAlg, VerifyPolicy};
//! # use rand_core::SeedableRng;
//! # let mut rng = chacha20::ChaCha20Rng::from_seed([7; 32]);
//! let key = PrivateKey::generate(KeyGen::Ed25519, &mut rng)?;
//! let blob = key.sign(SigAlg::Ed25519, b"exchange hash", &mut rng)?;
//! let public = key.public_key();
//! public.verify(SigAlg::Ed25519, b"exchange hash", &blob, &VerifyPolicy::default())?;
//! // The request's algorithm must match the signature blob's (catalog A08).
//! assert!(public.verify(SigAlg::RsaSha2_512, b"exchange hash", &blob, &VerifyPolicy::default()).is_err());
//! assert!(public.fingerprint(whelk_keys::HashAlg::Sha256).to_string().starts_with("SHA256:"));
//! # Ok::<(), whelk_keys::Error>(())
//! ```
//!
//! # Design notes
//!
//! - The signature layer (blob parsing, verification, signing) is written directly on the
//!   RustCrypto primitives (`ed25519-dalek`, `p256`/`p384`/`p521`, `rsa`) so that every
//!   strictness rule is ours: canonical blobs, algorithm/blob agreement, RSA size limits
//!   checked before any arithmetic, SHA-1 refused unless configured, `verify_strict` for
//!   Ed25519, hedged ECDSA nonces, blinded RSA signing.
//! - The OpenSSH private key container: the envelope and check-ints are read here (so
//!   ECDSA scalars in OpenSSH's minimal `mpint` form load), bcrypt-pbkdf, the ciphers and the
//!   key fields are the `ssh-key` crate's; keys cross into whelk's types through their
//!   components.
//! - Certificates are parsed and encoded here rather than through `ssh-key`, so the CA
//!   signature is checked over the exact bytes received and the certified key goes
//!   through the same strict parser as any key.
//! - `@revoked` lines in known_hosts apply to every host (stricter than OpenSSH, which only
//!   consults lines whose host pattern matches).
//! - Time is a parameter (Unix seconds); timespecs without `Z` are read as UTC.
//!
//! Nothing here does I/O, reads a clock or uses a global RNG: files come in as `&str`,
//! randomness as a [`rand_core::CryptoRng`], "now" as a Unix time argument.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod algorithm;
pub mod authorized_keys;
pub mod cert;
pub mod error;
pub mod fingerprint;
#[doc(hidden)]
pub mod fuzzing;
pub mod known_hosts;
pub mod openssh;
pub mod pattern;
pub mod pem;
pub mod private;
pub mod public;
pub mod sshsig;

pub use algorithm::{Curve, KeyType, SigAlg};
pub use error::{CertError, Error, Result};
pub use fingerprint::{Fingerprint, HashAlg};
pub use private::{KeyGen, PrivateKey};
pub use public::{PublicKey, SkSignatureInfo, Verified, VerifyPolicy};
