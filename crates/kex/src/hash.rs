//! The hash functions key exchange methods use for the exchange hash and key derivation.

use alloc::vec::Vec;

use sha2::Digest;

/// The hash of a key exchange method (RFC 4253 §7.2 `HASH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KexHash {
    /// SHA-1 (legacy methods only).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384 (`ecdh-sha2-nistp384`).
    Sha384,
    /// SHA-512.
    Sha512,
}

impl KexHash {
    /// Output length in bytes.
    #[must_use]
    pub const fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// A fresh incremental hasher.
    #[must_use]
    pub fn hasher(self) -> Hasher {
        match self {
            Self::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            Self::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Self::Sha384 => Hasher::Sha384(sha2::Sha384::new()),
            Self::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }

    /// The hash of `data`.
    #[must_use]
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let mut h = self.hasher();
        h.update(data);
        h.finish()
    }
}

/// An incremental hasher for one of the [`KexHash`] functions.
#[derive(Clone)]
pub enum Hasher {
    /// SHA-1.
    Sha1(sha1::Sha1),
    /// SHA-256.
    Sha256(sha2::Sha256),
    /// SHA-384.
    Sha384(sha2::Sha384),
    /// SHA-512.
    Sha512(sha2::Sha512),
}

impl core::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Sha1(_) => "Hasher(SHA-1)",
            Self::Sha256(_) => "Hasher(SHA-256)",
            Self::Sha384(_) => "Hasher(SHA-384)",
            Self::Sha512(_) => "Hasher(SHA-512)",
        })
    }
}

impl Hasher {
    /// Adds `data`.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha1(h) => h.update(data),
            Self::Sha256(h) => h.update(data),
            Self::Sha384(h) => h.update(data),
            Self::Sha512(h) => h.update(data),
        }
    }

    /// The digest.
    #[must_use]
    pub fn finish(self) -> Vec<u8> {
        match self {
            Self::Sha1(h) => h.finalize().to_vec(),
            Self::Sha256(h) => h.finalize().to_vec(),
            Self::Sha384(h) => h.finalize().to_vec(),
            Self::Sha512(h) => h.finalize().to_vec(),
        }
    }
}
