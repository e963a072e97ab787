//! Host keys in the exchange: the server signs `H` through [`HostKeySigner`]; the client
//! checks the signature with whelk-keys.

use alloc::string::ToString;
use alloc::vec::Vec;

use bytes::Bytes;
use rand_core::CryptoRng;
use whelk_keys::{KeyType, PrivateKey, PublicKey, SigAlg, VerifyPolicy};
use whelk_wire::types::{PutSsh, Reader};

use crate::error::{Error, Result};

/// What the server's transport provides to sign the exchange hash with the host key of the
/// negotiated host key algorithm.
pub trait HostKeySigner {
    /// `K_S`: the public host key blob (the certificate for certificate algorithms).
    fn public_key_blob(&self) -> Bytes;
    /// Signs the exchange hash `H`, returning the signature blob (`string alg, string
    /// sig`).
    fn sign(&mut self, exchange_hash: &[u8]) -> Result<Vec<u8>>;
}

/// A [`HostKeySigner`] over a whelk-keys [`PrivateKey`].
pub struct KeySigner<'a, R: CryptoRng + ?Sized> {
    key: &'a PrivateKey,
    alg: SigAlg,
    certificate: Option<Bytes>,
    rng: &'a mut R,
}

impl<R: CryptoRng + ?Sized> core::fmt::Debug for KeySigner<'_, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeySigner")
            .field("alg", &self.alg)
            .field("certificate", &self.certificate.is_some())
            .finish_non_exhaustive()
    }
}

impl<'a, R: CryptoRng + ?Sized> KeySigner<'a, R> {
    /// Signs with `key` using the signature algorithm of the negotiated host key algorithm
    /// `host_key_algorithm` (plain or certificate name). For a certificate algorithm, give
    /// the certificate blob with [`KeySigner::with_certificate`].
    pub fn new(key: &'a PrivateKey, host_key_algorithm: &str, rng: &'a mut R) -> Result<Self> {
        let (alg, _) = SigAlg::from_any_name(host_key_algorithm)
            .ok_or_else(|| Error::UnsupportedHostKeyAlgorithm(host_key_algorithm.to_string()))?;
        if alg.key_type() != key.key_type() {
            return Err(Error::Signing(
                "host key does not match the negotiated host key algorithm".to_string(),
            ));
        }
        Ok(Self {
            key,
            alg,
            certificate: None,
            rng,
        })
    }

    /// Presents `certificate` (its blob) as `K_S` instead of the plain public key.
    #[must_use]
    pub fn with_certificate(mut self, certificate: Bytes) -> Self {
        self.certificate = Some(certificate);
        self
    }
}

impl<R: CryptoRng + ?Sized> HostKeySigner for KeySigner<'_, R> {
    fn public_key_blob(&self) -> Bytes {
        self.certificate
            .clone()
            .unwrap_or_else(|| Bytes::copy_from_slice(self.key.public_key().blob()))
    }

    fn sign(&mut self, exchange_hash: &[u8]) -> Result<Vec<u8>> {
        if self.alg.uses_sha1() {
            // `ssh-rsa` host keys: only reachable when the configuration offered it.
            self.key
                .sign_allowing_sha1(self.alg, exchange_hash, self.rng)
                .map_err(|e| Error::Signing(e.to_string()))
        } else {
            self.key
                .sign(self.alg, exchange_hash, self.rng)
                .map_err(|e| Error::Signing(e.to_string()))
        }
    }
}

/// The plain key blob inside an OpenSSH certificate blob (PROTOCOL.certkeys): the
/// certificate's type-specific public key fields after the nonce, re-wrapped with the plain
/// key type name.
fn certificate_public_key(blob: &[u8], kt: KeyType) -> Result<Vec<u8>> {
    let bytes = Bytes::copy_from_slice(blob);
    let mut r = Reader::new(&bytes, "host certificate");
    let wire = |e: whelk_wire::Error| Error::HostKey(whelk_keys::Error::Wire(e));
    let name = r.string_slice().map_err(wire)?;
    if name != kt.cert_name().as_bytes() {
        return Err(Error::HostKey(whelk_keys::Error::Invalid {
            what: "host certificate",
            why: "certificate type does not match the host key algorithm",
        }));
    }
    let _nonce = r.string_slice().map_err(wire)?;
    let fields = match kt {
        KeyType::Ed25519 => 1,
        KeyType::EcdsaNistP256 | KeyType::EcdsaNistP384 | KeyType::EcdsaNistP521 => 2,
        KeyType::Rsa => 2,
        KeyType::SkEd25519 => 2,
        KeyType::SkEcdsaNistP256 => 3,
    };
    let mut out = Vec::new();
    out.put_ssh_string(kt.name().as_bytes());
    for _ in 0..fields {
        let f = r.string_slice().map_err(wire)?;
        out.put_ssh_string(f);
    }
    Ok(out)
}

/// Client side: checks `signature` over `exchange_hash` with the host key `host_key` for the
/// negotiated `host_key_algorithm` (catalog K14, M02). The key must be of the algorithm's
/// type and the signature blob must name exactly the algorithm's signature algorithm.
pub fn verify_host_signature(
    host_key_algorithm: &str,
    host_key: &[u8],
    exchange_hash: &[u8],
    signature: &[u8],
    policy: &VerifyPolicy,
) -> Result<()> {
    let (alg, is_cert) = SigAlg::from_any_name(host_key_algorithm)
        .ok_or_else(|| Error::UnsupportedHostKeyAlgorithm(host_key_algorithm.to_string()))?;
    let key = if is_cert {
        let plain = certificate_public_key(host_key, alg.key_type())?;
        PublicKey::from_blob(&plain).map_err(Error::HostKey)?
    } else {
        PublicKey::from_blob(host_key).map_err(Error::HostKey)?
    };
    if key.key_type() != alg.key_type() {
        return Err(Error::HostKey(whelk_keys::Error::AlgorithmMismatch {
            sig_alg: alg.name(),
            key_type: key.key_type().name(),
        }));
    }
    key.verify(alg, exchange_hash, signature, policy)
        .map(|_| ())
        .map_err(Error::BadSignature)
}
