//! PEM and friends: PKCS#1 RSA and SEC1 EC private keys (plain, or with OpenSSL's legacy
//! `Proc-Type: 4,ENCRYPTED` AES-CBC encryption on import), PKCS#8 private keys (plain and
//! PBES2-encrypted), and public keys as SPKI PEM, PKCS#1 `RSA PUBLIC KEY` and RFC 4716.
//!
//! These are the formats `ssh-keygen -m PEM|PKCS8|RFC4716` reads and writes.

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use md5::Md5;
use pkcs8::der::zeroize::Zeroizing;
use pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rand_core::CryptoRng;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey, EncodeRsaPrivateKey};
use rsa::traits::PublicKeyParts;
use sha2::Digest as _;
use spki::{DecodePublicKey, EncodePublicKey};

use crate::algorithm::Curve;
use crate::error::{Error, Result};
use crate::private::{PrivateKey, Secret};
use crate::public::{KeyData, PublicKey, decode_base64, format_err, strip_zeros};

/// PBKDF2-SHA256 iterations whelk uses when writing encrypted PKCS#8.
pub const DEFAULT_PBKDF2_ITERATIONS: u32 = 100_000;

const FORMAT: &str = "PEM";

fn fmt_err(e: impl ToString) -> Error {
    format_err(FORMAT, &e.to_string())
}

/// Splits a PEM document into label, headers (`Name: value`) and decoded body. Unlike
/// RFC 7468 this accepts the RFC 1421 headers OpenSSL's legacy encryption writes.
/// A PEM document: label, headers and decoded body.
type PemParts = (String, Vec<(String, String)>, Zeroizing<Vec<u8>>);

fn pem_parts(text: &str) -> Result<PemParts> {
    let mut lines = text.lines().map(str::trim).skip_while(|l| l.is_empty());
    let first = lines.next().ok_or_else(|| fmt_err("empty input"))?;
    let label = first
        .strip_prefix("-----BEGIN ")
        .and_then(|l| l.strip_suffix("-----"))
        .ok_or_else(|| fmt_err("missing BEGIN line"))?
        .to_string();
    let end = alloc::format!("-----END {label}-----");
    let mut headers = Vec::new();
    let mut b64 = Zeroizing::new(String::new());
    let mut ended = false;
    for line in lines {
        if line == end {
            ended = true;
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && b64.is_empty()
        {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        } else {
            b64.push_str(line);
        }
    }
    if !ended {
        return Err(fmt_err("missing END line"));
    }
    let der = decode_base64(&b64).ok_or_else(|| fmt_err("bad base64"))?;
    Ok((label, headers, Zeroizing::new(der)))
}

/// OpenSSL's `EVP_BytesToKey(MD5, count = 1)` key derivation of the legacy PEM encryption.
fn evp_bytes_to_key(pass: &[u8], salt: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(len + 16));
    let mut prev: Vec<u8> = Vec::new();
    while out.len() < len {
        let mut h = Md5::new();
        h.update(&prev);
        h.update(pass);
        h.update(salt);
        prev = h.finalize().to_vec();
        out.extend_from_slice(&prev);
    }
    out.truncate(len);
    out
}

fn legacy_decrypt(
    headers: &[(String, String)],
    der: &[u8],
    passphrase: Option<&[u8]>,
) -> Result<Zeroizing<Vec<u8>>> {
    use aes::cipher::block_padding::Pkcs7;
    use aes::cipher::{BlockModeDecrypt, KeyIvInit};
    let encrypted = headers
        .iter()
        .any(|(k, v)| k == "Proc-Type" && v.contains("ENCRYPTED"));
    if !encrypted {
        return Ok(Zeroizing::new(der.to_vec()));
    }
    let pass = passphrase.ok_or(Error::PassphraseRequired)?;
    let dek = headers
        .iter()
        .find(|(k, _)| k == "DEK-Info")
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| fmt_err("encrypted PEM without DEK-Info"))?;
    let (cipher, iv_hex) = dek.split_once(',').ok_or_else(|| fmt_err("bad DEK-Info"))?;
    let iv = hex_decode(iv_hex.trim()).ok_or_else(|| fmt_err("bad DEK-Info IV"))?;
    let iv: [u8; 16] = iv
        .try_into()
        .map_err(|_| fmt_err("DEK-Info IV must be 16 bytes"))?;
    let salt = iv.get(..8).unwrap_or_default();
    let plain = match cipher {
        "AES-128-CBC" => {
            let key = evp_bytes_to_key(pass, salt, 16);
            cbc::Decryptor::<aes::Aes128>::new_from_slices(&key, &iv)
                .map_err(|_| fmt_err("key setup"))?
                .decrypt_padded_vec::<Pkcs7>(der)
        }
        "AES-192-CBC" => {
            let key = evp_bytes_to_key(pass, salt, 24);
            cbc::Decryptor::<aes::Aes192>::new_from_slices(&key, &iv)
                .map_err(|_| fmt_err("key setup"))?
                .decrypt_padded_vec::<Pkcs7>(der)
        }
        "AES-256-CBC" => {
            let key = evp_bytes_to_key(pass, salt, 32);
            cbc::Decryptor::<aes::Aes256>::new_from_slices(&key, &iv)
                .map_err(|_| fmt_err("key setup"))?
                .decrypt_padded_vec::<Pkcs7>(der)
        }
        other => return Err(Error::UnsupportedAlgorithm(other.to_string())),
    };
    plain
        .map(Zeroizing::new)
        .map_err(|_| Error::WrongPassphrase)
}

/// Largest PBKDF2 iteration count accepted when decrypting PKCS#8 (catalog R05: a file must
/// not be able to make us spend minutes in a KDF).
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
/// Largest scrypt cost (log2 N) accepted when decrypting PKCS#8 (2^20 with r = 8 is 1 GiB).
pub const MAX_SCRYPT_LOG_N: u32 = 20;

fn check_kdf_cost(scheme: &pkcs8::pkcs5::EncryptionScheme, max_iterations: u32) -> Result<()> {
    use pkcs8::pkcs5::EncryptionScheme;
    use pkcs8::pkcs5::pbes2::Kdf;
    if let EncryptionScheme::Pbes2(p) = scheme {
        match &p.kdf {
            Kdf::Pbkdf2(k) if k.iteration_count > max_iterations => {
                return Err(Error::KdfRoundsTooHigh {
                    rounds: k.iteration_count,
                    max: max_iterations,
                });
            }
            Kdf::Scrypt(k) => {
                let n = k.cost_parameter;
                let log_n = 63u32.saturating_sub(n.leading_zeros());
                if log_n > MAX_SCRYPT_LOG_N || k.block_size > 32 || k.parallelization > 16 {
                    return Err(Error::KdfRoundsTooHigh {
                        rounds: log_n,
                        max: MAX_SCRYPT_LOG_N,
                    });
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

fn secret_from_pkcs8_der(der: &[u8]) -> Result<Secret> {
    if let Ok(k) = rsa::RsaPrivateKey::from_pkcs8_der(der) {
        return Ok(Secret::Rsa(Box::new(k)));
    }
    if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_der(der) {
        return Ok(Secret::Ed25519(k));
    }
    if let Ok(k) = p256::SecretKey::from_pkcs8_der(der) {
        return Ok(Secret::P256(k));
    }
    if let Ok(k) = p384::SecretKey::from_pkcs8_der(der) {
        return Ok(Secret::P384(k));
    }
    if let Ok(k) = p521::SecretKey::from_pkcs8_der(der) {
        return Ok(Secret::P521(k));
    }
    Err(fmt_err("PKCS#8 key of an unsupported type"))
}

fn secret_from_sec1_der(der: &[u8]) -> Result<Secret> {
    if let Ok(k) = p256::SecretKey::from_sec1_der(der) {
        return Ok(Secret::P256(k));
    }
    if let Ok(k) = p384::SecretKey::from_sec1_der(der) {
        return Ok(Secret::P384(k));
    }
    if let Ok(k) = p521::SecretKey::from_sec1_der(der) {
        return Ok(Secret::P521(k));
    }
    Err(fmt_err("SEC1 key on an unsupported curve"))
}

impl PrivateKey {
    /// Loads a private key in any format ssh-keygen writes: OpenSSH, PKCS#1 (`RSA PRIVATE
    /// KEY`), SEC1 (`EC PRIVATE KEY`), with or without legacy PEM encryption, and PKCS#8
    /// (`PRIVATE KEY`, `ENCRYPTED PRIVATE KEY`).
    pub fn from_any(text: &str, passphrase: Option<&[u8]>) -> Result<Self> {
        if text
            .trim_start()
            .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----")
        {
            return Self::from_openssh(text, passphrase);
        }
        Self::from_pem(text, passphrase)
    }

    /// Loads a PKCS#1, SEC1 or PKCS#8 PEM private key (PBKDF2 iterations capped at
    /// [`MAX_PBKDF2_ITERATIONS`]).
    pub fn from_pem(text: &str, passphrase: Option<&[u8]>) -> Result<Self> {
        Self::from_pem_with_limit(text, passphrase, MAX_PBKDF2_ITERATIONS)
    }

    /// [`PrivateKey::from_pem`] with an explicit PBKDF2 iteration limit for encrypted PKCS#8.
    pub fn from_pem_with_limit(
        text: &str,
        passphrase: Option<&[u8]>,
        max_pbkdf2_iterations: u32,
    ) -> Result<Self> {
        let (label, headers, der) = pem_parts(text)?;
        let secret = match label.as_str() {
            "RSA PRIVATE KEY" => {
                let der = legacy_decrypt(&headers, &der, passphrase)?;
                let k = rsa::RsaPrivateKey::from_pkcs1_der(&der).map_err(|e| {
                    if headers.is_empty() {
                        fmt_err(e)
                    } else {
                        Error::WrongPassphrase
                    }
                })?;
                Secret::Rsa(Box::new(k))
            }
            "EC PRIVATE KEY" => {
                let der = legacy_decrypt(&headers, &der, passphrase)?;
                secret_from_sec1_der(&der).map_err(|e| {
                    if headers.is_empty() {
                        e
                    } else {
                        Error::WrongPassphrase
                    }
                })?
            }
            "PRIVATE KEY" => secret_from_pkcs8_der(&der)?,
            "ENCRYPTED PRIVATE KEY" => {
                let pass = passphrase.ok_or(Error::PassphraseRequired)?;
                let info =
                    pkcs8::EncryptedPrivateKeyInfoRef::try_from(der.as_slice()).map_err(fmt_err)?;
                check_kdf_cost(&info.encryption_algorithm, max_pbkdf2_iterations)?;
                let doc = info.decrypt(pass).map_err(|_| Error::WrongPassphrase)?;
                secret_from_pkcs8_der(doc.as_bytes())?
            }
            other => {
                return Err(format_err(
                    FORMAT,
                    &alloc::format!("unsupported PEM label {other:?}"),
                ));
            }
        };
        Self::from_secret(secret, String::new())
    }

    fn pkcs8_der(&self) -> Result<pkcs8::SecretDocument> {
        match self.secret_ref() {
            Secret::Ed25519(k) => {
                // RFC 8410 v1 (no public key): OpenSSL 3.0 rejects ed25519-dalek's v2 form.
                let mut der = Zeroizing::new(alloc::vec![
                    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04,
                    0x22, 0x04, 0x20,
                ]);
                der.extend_from_slice(&Zeroizing::new(k.to_bytes())[..]);
                return pkcs8::SecretDocument::try_from(der.as_slice()).map_err(fmt_err);
            }
            Secret::P256(k) => k.to_pkcs8_der(),
            Secret::P384(k) => k.to_pkcs8_der(),
            Secret::P521(k) => k.to_pkcs8_der(),
            Secret::Rsa(k) => k.to_pkcs8_der(),
        }
        .map_err(fmt_err)
    }

    /// Writes an unencrypted PKCS#8 `PRIVATE KEY` PEM (`ssh-keygen -m PKCS8`).
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>> {
        let der = self.pkcs8_der()?;
        der.to_pem("PRIVATE KEY", LineEnding::LF).map_err(fmt_err)
    }

    /// Writes a PBES2 (PBKDF2-SHA256, AES-256-CBC) `ENCRYPTED PRIVATE KEY` PEM.
    pub fn to_pkcs8_encrypted_pem<R: CryptoRng + ?Sized>(
        &self,
        passphrase: &[u8],
        iterations: u32,
        rng: &mut R,
    ) -> Result<Zeroizing<String>> {
        let der = self.pkcs8_der()?;
        let mut salt = [0u8; 16];
        let mut iv = [0u8; 16];
        rng.fill_bytes(&mut salt);
        rng.fill_bytes(&mut iv);
        let params = pkcs8::pkcs5::pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(
            iterations, &salt, iv,
        )
        .map_err(fmt_err)?;
        let info = pkcs8::PrivateKeyInfoRef::try_from(der.as_bytes()).map_err(fmt_err)?;
        let enc = info
            .encrypt_with_params(params, passphrase)
            .map_err(fmt_err)?;
        enc.to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
            .map_err(fmt_err)
    }

    /// Writes the traditional PEM form: PKCS#1 `RSA PRIVATE KEY` for RSA, SEC1 `EC PRIVATE
    /// KEY` for ECDSA (`ssh-keygen -m PEM`). Ed25519 has no such form (PKCS#8 is used).
    pub fn to_traditional_pem(&self) -> Result<Zeroizing<String>> {
        match self.secret_ref() {
            Secret::Rsa(k) => k.to_pkcs1_pem(LineEnding::LF).map_err(fmt_err),
            Secret::P256(k) => k.to_sec1_pem(LineEnding::LF).map_err(fmt_err),
            Secret::P384(k) => k.to_sec1_pem(LineEnding::LF).map_err(fmt_err),
            Secret::P521(k) => k.to_sec1_pem(LineEnding::LF).map_err(fmt_err),
            Secret::Ed25519(_) => self.to_pkcs8_pem(),
        }
    }
}

fn rsa_data(k: &rsa::RsaPublicKey) -> KeyData {
    KeyData::Rsa {
        e: strip_zeros(&k.e_bytes()).to_vec(),
        n: strip_zeros(&k.n_bytes()).to_vec(),
    }
}

fn ecdsa_data(curve: Curve, point: &[u8]) -> KeyData {
    KeyData::Ecdsa {
        curve,
        point: point.to_vec(),
    }
}

impl PublicKey {
    /// Parses an X.509 SubjectPublicKeyInfo in DER.
    pub fn from_spki_der(der: &[u8]) -> Result<Self> {
        use p256::elliptic_curve::sec1::ToSec1Point;
        let data = if let Ok(k) = rsa::RsaPublicKey::from_public_key_der(der) {
            rsa_data(&k)
        } else if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_der(der) {
            KeyData::Ed25519(k.to_bytes())
        } else if let Ok(k) = p256::PublicKey::from_public_key_der(der) {
            ecdsa_data(Curve::NistP256, k.to_sec1_point(false).as_bytes())
        } else if let Ok(k) = p384::PublicKey::from_public_key_der(der) {
            ecdsa_data(Curve::NistP384, k.to_sec1_point(false).as_bytes())
        } else if let Ok(k) = p521::PublicKey::from_public_key_der(der) {
            ecdsa_data(Curve::NistP521, k.to_sec1_point(false).as_bytes())
        } else {
            return Err(fmt_err("SubjectPublicKeyInfo of an unsupported type"));
        };
        // Re-parse the blob so every key goes through the same strict checks.
        Self::from_blob(Self::from_data(data).blob())
    }

    /// The X.509 SubjectPublicKeyInfo in DER (`ssh-keygen -e -m PKCS8`).
    pub fn to_spki_der(&self) -> Result<Vec<u8>> {
        let doc = match self.data_ref() {
            KeyData::Ed25519(k) => ed25519_dalek::VerifyingKey::from_bytes(k)
                .map_err(fmt_err)?
                .to_public_key_der(),
            KeyData::Ecdsa { curve, point } => match curve {
                Curve::NistP256 => p256::PublicKey::from_sec1_bytes(point)
                    .map_err(fmt_err)?
                    .to_public_key_der(),
                Curve::NistP384 => p384::PublicKey::from_sec1_bytes(point)
                    .map_err(fmt_err)?
                    .to_public_key_der(),
                Curve::NistP521 => p521::PublicKey::from_sec1_bytes(point)
                    .map_err(fmt_err)?
                    .to_public_key_der(),
            },
            KeyData::Rsa { e, n } => crate::public::rsa_public(e, n)?.to_public_key_der(),
            KeyData::SkEd25519 { .. } | KeyData::SkEcdsa { .. } => {
                return Err(fmt_err("security keys have no SPKI form"));
            }
        }
        .map_err(fmt_err)?;
        Ok(doc.into_vec())
    }

    /// The SPKI `PUBLIC KEY` PEM.
    pub fn to_spki_pem(&self) -> Result<String> {
        pem_rfc7468::encode_string("PUBLIC KEY", LineEnding::LF, &self.to_spki_der()?)
            .map_err(fmt_err)
    }

    /// Parses a PEM public key: SPKI `PUBLIC KEY` or PKCS#1 `RSA PUBLIC KEY`.
    pub fn from_pem(text: &str) -> Result<Self> {
        let (label, _, der) = pem_parts(text)?;
        match label.as_str() {
            "PUBLIC KEY" => Self::from_spki_der(&der),
            "RSA PUBLIC KEY" => {
                let k = rsa::RsaPublicKey::from_pkcs1_der(&der).map_err(fmt_err)?;
                Self::from_blob(Self::from_data(rsa_data(&k)).blob())
            }
            other => Err(format_err(
                FORMAT,
                &alloc::format!("unsupported PEM label {other:?}"),
            )),
        }
    }

    /// Parses an RFC 4716 (`---- BEGIN SSH2 PUBLIC KEY ----`) public key; returns the key
    /// and its `Comment:` header (empty if none).
    pub fn from_rfc4716(text: &str) -> Result<(Self, String)> {
        const F: &str = "RFC 4716 public key";
        let mut lines = text
            .lines()
            .map(str::trim_end)
            .skip_while(|l| l.trim().is_empty());
        if lines.next() != Some("---- BEGIN SSH2 PUBLIC KEY ----") {
            return Err(format_err(F, "missing BEGIN line"));
        }
        let mut comment = String::new();
        let mut b64 = String::new();
        let mut continuing: Option<String> = None;
        let mut ended = false;
        for line in lines {
            if line == "---- END SSH2 PUBLIC KEY ----" {
                ended = true;
                break;
            }
            if let Some(mut header) = continuing.take() {
                header.push_str(line);
                if header.ends_with('\\') {
                    header.pop();
                    continuing = Some(header);
                } else if let Some(c) = header_comment(&header) {
                    comment = c;
                }
                continue;
            }
            if b64.is_empty() && line.contains(':') {
                let mut header = line.to_string();
                if header.ends_with('\\') {
                    header.pop();
                    continuing = Some(header);
                } else if let Some(c) = header_comment(&header) {
                    comment = c;
                }
            } else {
                b64.push_str(line.trim());
            }
        }
        if !ended {
            return Err(format_err(F, "missing END line"));
        }
        let blob = decode_base64(&b64).ok_or_else(|| format_err(F, "bad base64"))?;
        Ok((Self::from_blob(&blob)?, comment))
    }

    /// The RFC 4716 form (`ssh-keygen -e`), with an optional comment header.
    #[must_use]
    pub fn to_rfc4716(&self, comment: &str) -> String {
        let mut out = String::from("---- BEGIN SSH2 PUBLIC KEY ----\n");
        if !comment.is_empty() {
            let header = alloc::format!("Comment: \"{comment}\"");
            // Header lines are at most 72 bytes; longer ones continue with a backslash.
            let bytes = header.as_bytes();
            let mut start = 0;
            while start < bytes.len() {
                let mut end = (start + 71).min(bytes.len());
                while !header.is_char_boundary(end) {
                    end -= 1;
                }
                out.push_str(header.get(start..end).unwrap_or_default());
                if end < bytes.len() {
                    out.push('\\');
                }
                out.push('\n');
                start = end;
            }
        }
        let b64 = <base64ct::Base64 as base64ct::Encoding>::encode_string(self.blob());
        for chunk in b64.as_bytes().chunks(70) {
            out.push_str(core::str::from_utf8(chunk).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("---- END SSH2 PUBLIC KEY ----\n");
        out
    }

    /// Parses a public key in any format: OpenSSH one-line, RFC 4716, SPKI or PKCS#1 PEM.
    /// Returns the key and its comment (empty when the format has none).
    pub fn from_any(text: &str) -> Result<(Self, String)> {
        let t = text.trim_start();
        if t.starts_with("---- BEGIN SSH2 PUBLIC KEY") {
            Self::from_rfc4716(t)
        } else if t.starts_with("-----BEGIN ") {
            Ok((Self::from_pem(t)?, String::new()))
        } else {
            Self::from_openssh(t)
        }
    }
}

fn header_comment(header: &str) -> Option<String> {
    let (k, v) = header.split_once(':')?;
    if !k.trim().eq_ignore_ascii_case("comment") {
        return None;
    }
    let v = v.trim();
    Some(
        v.strip_prefix('"')
            .and_then(|x| x.strip_suffix('"'))
            .unwrap_or(v)
            .to_string(),
    )
}
