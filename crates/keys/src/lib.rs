//! SSH keys for whelk: the signature-algorithm layer used by key exchange and user
//! authentication, key generation, fingerprints, and every key file format OpenSSH users meet.
//!
//! - [`PublicKey`]: strict SSH wire blobs, [`PublicKey::verify`] under a [`VerifyPolicy`]
//!   (RSA size limits, SHA-1 off by default, security-key flags), fingerprints and random art.
//! - [`PrivateKey`]: generation ([`KeyGen`]), [`PrivateKey::sign`] producing wire signature
//!   blobs, secret material zeroized on drop.
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
