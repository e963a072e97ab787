//! Errors of the key layer.

use alloc::string::String;

/// Everything that can go wrong with keys, signatures and key files.
///
/// Remote input (key and signature blobs from the network) and local files are both untrusted:
/// every malformed input maps to one of these variants, never to a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A wire-format rule was broken inside a key or signature blob.
    #[error("malformed encoding: {0}")]
    Wire(#[from] whelk_wire::Error),
    /// The structure was well-formed SSH encoding but its contents are invalid.
    #[error("invalid {what}: {why}")]
    Invalid {
        /// The structure being read.
        what: &'static str,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A key type or algorithm name this library does not know or does not support.
    #[error("unsupported algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// The signature algorithm does not belong to the key's type (RFC 4252 §7, catalog A08).
    #[error("signature algorithm {sig_alg} cannot be used with a {key_type} key")]
    AlgorithmMismatch {
        /// The signature algorithm that was requested.
        sig_alg: &'static str,
        /// The key's type.
        key_type: &'static str,
    },
    /// The signature blob names a different algorithm than the one requested (catalog A08).
    #[error("signature blob is {found:?}, expected {expected}")]
    SignatureTypeMismatch {
        /// The algorithm the caller asked for.
        expected: &'static str,
        /// The algorithm named inside the signature blob.
        found: String,
    },
    /// The signature is well-formed but does not verify.
    #[error("signature verification failed")]
    BadSignature,
    /// SHA-1 based `ssh-rsa` signatures are disabled by policy.
    #[error("ssh-rsa (SHA-1) signatures are disabled")]
    Sha1Disabled,
    /// An RSA modulus outside the allowed range.
    #[error("RSA modulus of {bits} bits outside the allowed range {min}..={max}")]
    RsaKeySize {
        /// The key's modulus size.
        bits: u32,
        /// Smallest allowed size.
        min: u32,
        /// Largest allowed size.
        max: u32,
    },
    /// A security-key signature without the user-presence flag, when the policy requires it.
    #[error("security key signature lacks user presence")]
    UserPresenceRequired,
    /// A security-key signature without the user-verification flag, when required.
    #[error("security key signature lacks user verification")]
    UserVerificationRequired,
    /// The key can verify but not sign (security keys, public-only keys).
    #[error("{0} keys cannot sign here")]
    CannotSign(&'static str),
    /// Key generation parameters out of range.
    #[error("invalid key generation parameters: {0}")]
    KeyGen(&'static str),
    /// A private key file is encrypted and no passphrase was given.
    #[error("the private key is encrypted: a passphrase is required")]
    PassphraseRequired,
    /// The passphrase did not decrypt the private key (check-ints or tag mismatch).
    #[error("wrong passphrase (or corrupt private key)")]
    WrongPassphrase,
    /// The key file's bcrypt-pbkdf work factor exceeds the configured limit (catalog R05).
    #[error("bcrypt-pbkdf rounds {rounds} exceed the limit {max}")]
    KdfRoundsTooHigh {
        /// Rounds in the file.
        rounds: u32,
        /// The configured maximum.
        max: u32,
    },
    /// A key file could not be parsed.
    #[error("malformed {format} key file: {why}")]
    Format {
        /// The file format.
        format: &'static str,
        /// What went wrong (library message).
        why: String,
    },
    /// A private key's public half does not match its private half.
    #[error("private key does not match its public key")]
    KeyMismatch,
    /// A cryptographic operation failed (random number generator, internal error).
    #[error("cryptographic operation failed: {0}")]
    Crypto(&'static str),
    /// A certificate failed validation.
    #[error("certificate rejected: {0}")]
    Certificate(CertError),
}

/// Why a certificate was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// The CA signature does not verify.
    #[error("bad CA signature")]
    BadSignature,
    /// The current time is before `valid_after`.
    #[error("not yet valid")]
    NotYetValid,
    /// The current time is at or after `valid_before`.
    #[error("expired")]
    Expired,
    /// The principal is not listed.
    #[error("principal {0:?} not allowed")]
    Principal(String),
    /// A user certificate was presented as a host certificate or vice versa.
    #[error("wrong certificate type")]
    WrongType,
    /// The signing CA is not trusted.
    #[error("CA not trusted")]
    UntrustedCa,
    /// An unknown critical option (which must cause rejection, PROTOCOL.certkeys).
    #[error("unknown critical option {0:?}")]
    UnknownCriticalOption(String),
    /// The source address is not allowed by the `source-address` option.
    #[error("source address not allowed")]
    SourceAddress,
    /// The CA key is itself a certificate.
    #[error("CA key is a certificate")]
    CaIsCertificate,
}

impl From<CertError> for Error {
    fn from(e: CertError) -> Self {
        Self::Certificate(e)
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;

pub(crate) fn invalid(what: &'static str, why: &'static str) -> Error {
    Error::Invalid { what, why }
}
