//! Public keys: SSH wire blobs, signature verification with whelk's policy, fingerprints and
//! the OpenSSH one-line format.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use bytes::Bytes;
use sha2::{Digest, Sha256, Sha512};
use whelk_wire::types::{MpInt, PutSsh, Reader};

use crate::algorithm::{Curve, KeyType, SigAlg};
use crate::error::{Error, Result, invalid};
use crate::fingerprint::{Fingerprint, HashAlg};

/// The largest RSA modulus whelk accepts anywhere, in bits (Go's cap; catalog R05).
pub const MAX_RSA_BITS: u32 = 16384;
/// The default smallest RSA modulus accepted for verification, in bits (catalog §3).
pub const DEFAULT_MIN_RSA_BITS: u32 = 2048;
/// Largest RSA public exponent accepted (2^33 - 1, as the `rsa` crate and *ring*).
const MAX_RSA_EXPONENT_BITS: u32 = 33;

/// The rules signature verification follows. The default is strict: RSA keys of
/// 2048..=16384 bits, no SHA-1 `ssh-rsa`, security keys must assert user presence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyPolicy {
    /// Smallest RSA modulus accepted, in bits (default 2048; never above [`MAX_RSA_BITS`]).
    pub min_rsa_bits: u32,
    /// Whether `ssh-rsa` (RSA with SHA-1) signatures are accepted (default `false`).
    pub allow_sha1: bool,
    /// Whether FIDO security-key signatures must carry the user-presence flag (default
    /// `true`, OpenSSH's default unless `no-touch-required`).
    pub require_user_presence: bool,
    /// Whether FIDO security-key signatures must carry the user-verification flag (default
    /// `false`; OpenSSH's `verify-required`).
    pub require_user_verification: bool,
}

impl Default for VerifyPolicy {
    fn default() -> Self {
        Self {
            min_rsa_bits: DEFAULT_MIN_RSA_BITS,
            allow_sha1: false,
            require_user_presence: true,
            require_user_verification: false,
        }
    }
}

impl VerifyPolicy {
    /// The default policy, but accepting `ssh-rsa` (SHA-1) signatures: for talking to old
    /// peers when the user explicitly asks for it.
    #[must_use]
    pub fn allowing_sha1() -> Self {
        Self {
            allow_sha1: true,
            ..Self::default()
        }
    }
}

/// Security-key (FIDO) authenticator data that came with a verified `sk-*` signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkSignatureInfo {
    /// The flags byte (0x01 user present, 0x04 user verified).
    pub flags: u8,
    /// The authenticator's signature counter.
    pub counter: u32,
}

impl SkSignatureInfo {
    /// Flag: the user touched the authenticator.
    pub const USER_PRESENT: u8 = 0x01;
    /// Flag: the authenticator verified the user (PIN or biometrics).
    pub const USER_VERIFIED: u8 = 0x04;

    /// Whether the user-presence flag is set.
    #[must_use]
    pub const fn user_present(&self) -> bool {
        self.flags & Self::USER_PRESENT != 0
    }

    /// Whether the user-verification flag is set.
    #[must_use]
    pub const fn user_verified(&self) -> bool {
        self.flags & Self::USER_VERIFIED != 0
    }
}

/// The outcome of a successful verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// For security-key signatures: the flags and counter.
    pub sk: Option<SkSignatureInfo>,
}

#[derive(Clone)]
pub(crate) enum KeyData {
    Ed25519([u8; 32]),
    Ecdsa {
        curve: Curve,
        /// Uncompressed SEC1 point.
        point: Vec<u8>,
    },
    Rsa {
        /// Unsigned big-endian, no leading zeros.
        e: Vec<u8>,
        /// Unsigned big-endian, no leading zeros.
        n: Vec<u8>,
    },
    SkEd25519 {
        key: [u8; 32],
        application: String,
    },
    SkEcdsa {
        point: Vec<u8>,
        application: String,
    },
}

/// An SSH public key of a supported type, kept with its canonical wire blob.
///
/// Parsing is strict (minimal mpints, uncompressed curve points on the named curve, no trailing
/// bytes, RSA modulus at most [`MAX_RSA_BITS`]), so two keys are equal exactly when their
/// blobs are.
#[derive(Clone)]
pub struct PublicKey {
    blob: Bytes,
    data: KeyData,
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.blob == other.blob
    }
}
impl Eq for PublicKey {}

impl core::hash::Hash for PublicKey {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.blob.hash(state);
    }
}

impl PartialOrd for PublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for PublicKey {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.blob.cmp(&other.blob)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("type", &self.key_type().name())
            .field(
                "fingerprint",
                &self.fingerprint(HashAlg::Sha256).to_string(),
            )
            .finish()
    }
}

pub(crate) fn utf8<'a>(b: &'a [u8], what: &'static str) -> Result<&'a str> {
    core::str::from_utf8(b).map_err(|_| invalid(what, "not UTF-8"))
}

/// Strips leading zero bytes of an unsigned big-endian number.
pub(crate) fn strip_zeros(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    b.get(start..).unwrap_or_default()
}

/// Number of significant bits of an unsigned big-endian number without leading zeros.
pub(crate) fn bit_len(be: &[u8]) -> u32 {
    let be = strip_zeros(be);
    match be.first() {
        None => 0,
        Some(&top) => {
            let bytes = u32::try_from(be.len()).unwrap_or(u32::MAX);
            bytes.saturating_sub(1).saturating_mul(8) + (8 - top.leading_zeros())
        }
    }
}

pub(crate) fn put_mpint_unsigned(out: &mut Vec<u8>, be: &[u8]) {
    out.put_ssh_string(MpInt::from_unsigned_be(be).as_bytes());
}

fn read_unsigned_mpint(r: &mut Reader<'_>, what: &'static str) -> Result<Vec<u8>> {
    let m = r.mpint()?;
    let mag = m
        .unsigned_be()
        .ok_or_else(|| invalid(what, "negative integer"))?;
    Ok(mag.to_vec())
}

/// Validates an uncompressed SEC1 point on `curve`.
fn check_point(curve: Curve, point: &[u8]) -> Result<()> {
    let want = 1 + 2 * curve.field_len();
    if point.len() != want || point.first() != Some(&0x04) {
        return Err(invalid(
            "ECDSA public key",
            "point is not an uncompressed point of the curve's size",
        ));
    }
    let ok = match curve {
        Curve::NistP256 => p256::PublicKey::from_sec1_bytes(point).is_ok(),
        Curve::NistP384 => p384::PublicKey::from_sec1_bytes(point).is_ok(),
        Curve::NistP521 => p521::PublicKey::from_sec1_bytes(point).is_ok(),
    };
    if ok {
        Ok(())
    } else {
        Err(invalid("ECDSA public key", "point is not on the curve"))
    }
}

fn check_ed25519(key: &[u8; 32]) -> Result<()> {
    ed25519_dalek::VerifyingKey::from_bytes(key)
        .map(|_| ())
        .map_err(|_| invalid("Ed25519 public key", "not a valid curve point"))
}

impl PublicKey {
    /// Parses an SSH public key blob (RFC 4253 §6.6 and friends).
    pub fn from_blob(blob: &[u8]) -> Result<Self> {
        let bytes = Bytes::copy_from_slice(blob);
        let mut r = Reader::new(&bytes, "public key blob");
        let name = utf8(r.string_slice()?, "public key blob")?;
        let kt = KeyType::from_name(name)
            .ok_or_else(|| Error::UnsupportedAlgorithm(name.to_string()))?;
        let data = Self::read_body(kt, &mut r)?;
        r.finish()?;
        Ok(Self { blob: bytes, data })
    }

    /// Reads the type-specific fields of a key of type `kt` (used by blobs and certificates).
    pub(crate) fn read_body(kt: KeyType, r: &mut Reader<'_>) -> Result<KeyData> {
        Ok(match kt {
            KeyType::Ed25519 => {
                let key = ed25519_bytes(r.string_slice()?)?;
                check_ed25519(&key)?;
                KeyData::Ed25519(key)
            }
            KeyType::EcdsaNistP256 | KeyType::EcdsaNistP384 | KeyType::EcdsaNistP521 => {
                let curve = read_curve(r, kt)?;
                let point = r.string_slice()?.to_vec();
                check_point(curve, &point)?;
                KeyData::Ecdsa { curve, point }
            }
            KeyType::Rsa => {
                let e = read_unsigned_mpint(r, "RSA public key")?;
                let n = read_unsigned_mpint(r, "RSA public key")?;
                check_rsa(&e, &n)?;
                KeyData::Rsa { e, n }
            }
            KeyType::SkEd25519 => {
                let key = ed25519_bytes(r.string_slice()?)?;
                check_ed25519(&key)?;
                let application = utf8(r.string_slice()?, "security key application")?;
                KeyData::SkEd25519 {
                    key,
                    application: application.to_string(),
                }
            }
            KeyType::SkEcdsaNistP256 => {
                let curve = read_curve(r, kt)?;
                let point = r.string_slice()?.to_vec();
                check_point(curve, &point)?;
                let application = utf8(r.string_slice()?, "security key application")?;
                KeyData::SkEcdsa {
                    point,
                    application: application.to_string(),
                }
            }
        })
    }

    pub(crate) fn from_data(data: KeyData) -> Self {
        let mut out = Vec::new();
        out.put_ssh_string(data.key_type().name().as_bytes());
        data.write_body(&mut out);
        Self {
            blob: Bytes::from(out),
            data,
        }
    }

    pub(crate) fn data_ref(&self) -> &KeyData {
        &self.data
    }

    /// The canonical wire blob.
    #[must_use]
    pub fn to_blob(&self) -> Vec<u8> {
        self.blob.to_vec()
    }

    /// The canonical wire blob, borrowed.
    #[must_use]
    pub fn blob(&self) -> &[u8] {
        &self.blob
    }

    /// The key type.
    #[must_use]
    pub fn key_type(&self) -> KeyType {
        self.data.key_type()
    }

    /// The key size in bits as `ssh-keygen -l` reports it (modulus bits for RSA, 256 for
    /// Ed25519, the curve size for ECDSA).
    #[must_use]
    pub fn bits(&self) -> u32 {
        match &self.data {
            KeyData::Ed25519(_) | KeyData::SkEd25519 { .. } | KeyData::SkEcdsa { .. } => 256,
            KeyData::Ecdsa { curve, .. } => curve.bits(),
            KeyData::Rsa { n, .. } => bit_len(n),
        }
    }

    /// For security keys: the FIDO application string (usually `ssh:`).
    #[must_use]
    pub fn sk_application(&self) -> Option<&str> {
        match &self.data {
            KeyData::SkEd25519 { application, .. } | KeyData::SkEcdsa { application, .. } => {
                Some(application)
            }
            _ => None,
        }
    }

    /// The Ed25519 public key bytes, for Ed25519 keys.
    #[must_use]
    pub fn ed25519_bytes(&self) -> Option<&[u8; 32]> {
        match &self.data {
            KeyData::Ed25519(k) => Some(k),
            _ => None,
        }
    }

    /// The RSA `(e, n)` as unsigned big-endian bytes, for RSA keys.
    #[must_use]
    pub fn rsa_components(&self) -> Option<(&[u8], &[u8])> {
        match &self.data {
            KeyData::Rsa { e, n } => Some((e, n)),
            _ => None,
        }
    }

    /// The curve and uncompressed SEC1 point, for ECDSA keys.
    #[must_use]
    pub fn ecdsa_point(&self) -> Option<(Curve, &[u8])> {
        match &self.data {
            KeyData::Ecdsa { curve, point } => Some((*curve, point)),
            KeyData::SkEcdsa { point, .. } => Some((Curve::NistP256, point)),
            _ => None,
        }
    }

    /// Checks the key against the policy's size limits (RSA modulus range), without
    /// verifying anything: lets a server reject a key before doing any work (catalog R05).
    pub fn check_policy(&self, policy: &VerifyPolicy) -> Result<()> {
        if let KeyData::Rsa { n, .. } = &self.data {
            let bits = bit_len(n);
            let min = policy.min_rsa_bits.min(MAX_RSA_BITS);
            if bits < min || bits > MAX_RSA_BITS {
                return Err(Error::RsaKeySize {
                    bits,
                    min,
                    max: MAX_RSA_BITS,
                });
            }
        }
        Ok(())
    }

    /// Verifies `signature_blob` (the full `string alg, string sig[, flags, counter]` blob) over
    /// `data` with the signature algorithm `alg`, under `policy`.
    ///
    /// Strict in the way catalog row A08 asks: `alg` must belong to this key's type, the
    /// blob must name exactly `alg`, and the blob must have no trailing bytes.
    pub fn verify(
        &self,
        alg: SigAlg,
        data: &[u8],
        signature_blob: &[u8],
        policy: &VerifyPolicy,
    ) -> Result<Verified> {
        let kt = self.key_type();
        if alg.key_type() != kt {
            return Err(Error::AlgorithmMismatch {
                sig_alg: alg.name(),
                key_type: kt.name(),
            });
        }
        if alg.uses_sha1() && !policy.allow_sha1 {
            return Err(Error::Sha1Disabled);
        }
        self.check_policy(policy)?;
        let sig = ParsedSignature::parse(signature_blob)?;
        if sig.alg != alg.name() {
            return Err(Error::SignatureTypeMismatch {
                expected: alg.name(),
                found: sig.alg,
            });
        }
        self.verify_raw(alg, data, &sig.raw, sig.sk, policy)
    }

    /// Verifies with the algorithm named in the blob itself (used where no algorithm was
    /// negotiated separately: certificate CA signatures, SSHSIG). The algorithm must still
    /// belong to this key's type and pass the policy.
    pub fn verify_any(
        &self,
        data: &[u8],
        signature_blob: &[u8],
        policy: &VerifyPolicy,
    ) -> Result<(SigAlg, Verified)> {
        let sig = ParsedSignature::parse(signature_blob)?;
        let alg = SigAlg::from_name(&sig.alg).ok_or(Error::UnsupportedAlgorithm(sig.alg))?;
        let v = self.verify(alg, data, signature_blob, policy)?;
        Ok((alg, v))
    }

    fn verify_raw(
        &self,
        alg: SigAlg,
        data: &[u8],
        raw: &[u8],
        sk: Option<SkSignatureInfo>,
        policy: &VerifyPolicy,
    ) -> Result<Verified> {
        match &self.data {
            KeyData::Ed25519(key) => {
                verify_ed25519(key, data, raw)?;
                Ok(Verified { sk: None })
            }
            KeyData::Ecdsa { curve, point } => {
                verify_ecdsa(*curve, point, data, raw)?;
                Ok(Verified { sk: None })
            }
            KeyData::Rsa { e, n } => {
                verify_rsa(alg, e, n, data, raw)?;
                Ok(Verified { sk: None })
            }
            KeyData::SkEd25519 { key, application } => {
                let info = sk.ok_or(invalid("security key signature", "missing flags"))?;
                let msg = sk_signed_data(application, info, data);
                verify_ed25519(key, &msg, raw)?;
                check_sk_flags(info, policy)?;
                Ok(Verified { sk: Some(info) })
            }
            KeyData::SkEcdsa { point, application } => {
                let info = sk.ok_or(invalid("security key signature", "missing flags"))?;
                let msg = sk_signed_data(application, info, data);
                verify_ecdsa(Curve::NistP256, point, &msg, raw)?;
                check_sk_flags(info, policy)?;
                Ok(Verified { sk: Some(info) })
            }
        }
    }

    /// The fingerprint of the key's blob with `hash` (SHA-256 or MD5).
    #[must_use]
    pub fn fingerprint(&self, hash: HashAlg) -> Fingerprint {
        Fingerprint::of_blob(hash, &self.blob)
    }

    /// The OpenSSH random-art picture of the key (as `ssh-keygen -lv` draws it).
    #[must_use]
    pub fn randomart(&self, hash: HashAlg) -> String {
        crate::fingerprint::randomart(
            &self.fingerprint(hash),
            self.key_type().short_name(),
            self.bits(),
        )
    }

    /// Parses an OpenSSH one-line public key (`type base64 [comment]`), as in `id_*.pub`.
    /// Returns the key and the comment (empty if none).
    pub fn from_openssh(line: &str) -> Result<(Self, String)> {
        let line = line.trim();
        let (name, rest) = split_word(line);
        let (b64, comment) = split_word(rest);
        if name.is_empty() || b64.is_empty() {
            return Err(format_err(
                "OpenSSH public key",
                "expected `type base64 [comment]`",
            ));
        }
        let blob =
            decode_base64(b64).ok_or_else(|| format_err("OpenSSH public key", "bad base64"))?;
        let key = Self::from_blob(&blob)?;
        if key.key_type().name() != name {
            return Err(format_err(
                "OpenSSH public key",
                "key type does not match the blob",
            ));
        }
        Ok((key, comment.trim().to_string()))
    }

    /// The OpenSSH one-line form: `type base64[ comment]` (no newline).
    #[must_use]
    pub fn to_openssh(&self, comment: &str) -> String {
        let mut s = String::from(self.key_type().name());
        s.push(' ');
        s.push_str(&<base64ct::Base64 as base64ct::Encoding>::encode_string(
            &self.blob,
        ));
        if !comment.is_empty() {
            s.push(' ');
            s.push_str(comment);
        }
        s
    }

    /// Converts to the `ssh-key` crate's public key (for file formats built on it).
    #[allow(dead_code)]
    pub(crate) fn to_ssh_key(&self) -> Result<ssh_key::public::KeyData> {
        ssh_key::PublicKey::from_bytes(&self.blob)
            .map(|k| k.key_data().clone())
            .map_err(|e| format_err("public key", &e.to_string()))
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_openssh(""))
    }
}

impl core::str::FromStr for PublicKey {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::from_openssh(s).map(|(k, _)| k)
    }
}

pub(crate) fn format_err(format: &'static str, why: &str) -> Error {
    Error::Format {
        format,
        why: why.to_string(),
    }
}

/// Splits off the first whitespace-delimited word.
pub(crate) fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find([' ', '\t']) {
        Some(i) => (
            s.get(..i).unwrap_or(s),
            s.get(i..).unwrap_or("").trim_start(),
        ),
        None => (s, ""),
    }
}

/// Decodes standard base64, with or without padding.
pub(crate) fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use base64ct::Encoding;
    base64ct::Base64::decode_vec(s)
        .ok()
        .or_else(|| base64ct::Base64Unpadded::decode_vec(s).ok())
}

fn read_curve(r: &mut Reader<'_>, kt: KeyType) -> Result<Curve> {
    let id = utf8(r.string_slice()?, "ECDSA public key")?;
    let curve =
        Curve::from_identifier(id).ok_or_else(|| invalid("ECDSA public key", "unknown curve"))?;
    if Some(curve) != kt.curve() {
        return Err(invalid(
            "ECDSA public key",
            "curve does not match the key type",
        ));
    }
    Ok(curve)
}

fn ed25519_bytes(b: &[u8]) -> Result<[u8; 32]> {
    <[u8; 32]>::try_from(b).map_err(|_| invalid("Ed25519 public key", "not 32 bytes"))
}

fn check_rsa(e: &[u8], n: &[u8]) -> Result<()> {
    let bits = bit_len(n);
    if bits > MAX_RSA_BITS {
        return Err(Error::RsaKeySize {
            bits,
            min: 0,
            max: MAX_RSA_BITS,
        });
    }
    if bits < 512 {
        return Err(invalid("RSA public key", "modulus too small"));
    }
    if n.last().is_none_or(|b| b & 1 == 0) {
        return Err(invalid("RSA public key", "modulus is even"));
    }
    let ebits = bit_len(e);
    if !(2..=MAX_RSA_EXPONENT_BITS).contains(&ebits) || e.last().is_none_or(|b| b & 1 == 0) {
        return Err(invalid("RSA public key", "public exponent out of range"));
    }
    Ok(())
}

impl KeyData {
    pub(crate) fn key_type(&self) -> KeyType {
        match self {
            Self::Ed25519(_) => KeyType::Ed25519,
            Self::Ecdsa { curve, .. } => curve.key_type(),
            Self::Rsa { .. } => KeyType::Rsa,
            Self::SkEd25519 { .. } => KeyType::SkEd25519,
            Self::SkEcdsa { .. } => KeyType::SkEcdsaNistP256,
        }
    }

    /// Writes the type-specific fields (everything after the type name).
    pub(crate) fn write_body(&self, out: &mut Vec<u8>) {
        match self {
            Self::Ed25519(k) => out.put_ssh_string(k),
            Self::Ecdsa { curve, point } => {
                out.put_ssh_string(curve.identifier().as_bytes());
                out.put_ssh_string(point);
            }
            Self::Rsa { e, n } => {
                put_mpint_unsigned(out, e);
                put_mpint_unsigned(out, n);
            }
            Self::SkEd25519 { key, application } => {
                out.put_ssh_string(key);
                out.put_ssh_string(application.as_bytes());
            }
            Self::SkEcdsa { point, application } => {
                out.put_ssh_string(Curve::NistP256.identifier().as_bytes());
                out.put_ssh_string(point);
                out.put_ssh_string(application.as_bytes());
            }
        }
    }
}

/// A decoded signature blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedSignature {
    pub(crate) alg: String,
    pub(crate) raw: Vec<u8>,
    pub(crate) sk: Option<SkSignatureInfo>,
}

impl ParsedSignature {
    pub(crate) fn parse(blob: &[u8]) -> Result<Self> {
        let bytes = Bytes::copy_from_slice(blob);
        let mut r = Reader::new(&bytes, "signature blob");
        let alg = utf8(r.string_slice()?, "signature blob")?.to_string();
        let raw = r.string_slice()?.to_vec();
        let sk = if alg == SigAlg::SkEd25519.name() || alg == SigAlg::SkEcdsaNistP256.name() {
            let flags = r.u8()?;
            let counter = r.u32()?;
            Some(SkSignatureInfo { flags, counter })
        } else {
            None
        };
        r.finish()?;
        Ok(Self { alg, raw, sk })
    }
}

fn sk_signed_data(application: &str, info: SkSignatureInfo, data: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(32 + 5 + 32);
    m.extend_from_slice(&Sha256::digest(application.as_bytes()));
    m.push(info.flags);
    m.extend_from_slice(&info.counter.to_be_bytes());
    m.extend_from_slice(&Sha256::digest(data));
    m
}

fn check_sk_flags(info: SkSignatureInfo, policy: &VerifyPolicy) -> Result<()> {
    if policy.require_user_presence && !info.user_present() {
        return Err(Error::UserPresenceRequired);
    }
    if policy.require_user_verification && !info.user_verified() {
        return Err(Error::UserVerificationRequired);
    }
    Ok(())
}

fn verify_ed25519(key: &[u8; 32], data: &[u8], raw: &[u8]) -> Result<()> {
    let sig: [u8; 64] = raw
        .try_into()
        .map_err(|_| invalid("Ed25519 signature", "not 64 bytes"))?;
    let vk = ed25519_dalek::VerifyingKey::from_bytes(key).map_err(|_| Error::BadSignature)?;
    vk.verify_strict(data, &ed25519_dalek::Signature::from_bytes(&sig))
        .map_err(|_| Error::BadSignature)
}

/// Decodes the `mpint r, mpint s` body of an ECDSA signature into fixed-width `r || s`.
fn ecdsa_fixed(curve: Curve, raw: &[u8]) -> Result<Vec<u8>> {
    let bytes = Bytes::copy_from_slice(raw);
    let mut r = Reader::new(&bytes, "ECDSA signature");
    let len = curve.field_len();
    let mut out = Vec::with_capacity(2 * len);
    for _ in 0..2 {
        let m = r.mpint()?;
        let mag = m
            .unsigned_be()
            .ok_or_else(|| invalid("ECDSA signature", "negative component"))?;
        if mag.len() > len || mag.is_empty() {
            return Err(invalid("ECDSA signature", "component out of range"));
        }
        out.resize(out.len() + (len - mag.len()), 0);
        out.extend_from_slice(mag);
    }
    r.finish()?;
    Ok(out)
}

fn verify_ecdsa(curve: Curve, point: &[u8], data: &[u8], raw: &[u8]) -> Result<()> {
    use p256::ecdsa::signature::Verifier;
    let fixed = ecdsa_fixed(curve, raw)?;
    let ok = match curve {
        Curve::NistP256 => {
            let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map_err(|_| Error::BadSignature)?;
            let sig =
                p256::ecdsa::Signature::from_slice(&fixed).map_err(|_| Error::BadSignature)?;
            vk.verify(data, &sig).is_ok()
        }
        Curve::NistP384 => {
            let vk = p384::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map_err(|_| Error::BadSignature)?;
            let sig =
                p384::ecdsa::Signature::from_slice(&fixed).map_err(|_| Error::BadSignature)?;
            vk.verify(data, &sig).is_ok()
        }
        Curve::NistP521 => {
            let vk = p521::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map_err(|_| Error::BadSignature)?;
            let sig =
                p521::ecdsa::Signature::from_slice(&fixed).map_err(|_| Error::BadSignature)?;
            vk.verify(data, &sig).is_ok()
        }
    };
    if ok { Ok(()) } else { Err(Error::BadSignature) }
}

pub(crate) fn rsa_public(e: &[u8], n: &[u8]) -> Result<rsa::RsaPublicKey> {
    let n = rsa::BoxedUint::from_be_slice_vartime(n);
    let e = rsa::BoxedUint::from_be_slice_vartime(e);
    rsa::RsaPublicKey::new_with_max_size(n, e, MAX_RSA_BITS as usize)
        .map_err(|_| invalid("RSA public key", "rejected by the RSA implementation"))
}

pub(crate) fn rsa_scheme_and_hash(
    alg: SigAlg,
    data: &[u8],
) -> Result<(rsa::Pkcs1v15Sign, Vec<u8>)> {
    Ok(match alg {
        SigAlg::RsaSha2_256 => (
            rsa::Pkcs1v15Sign::new::<Sha256>(),
            Sha256::digest(data).to_vec(),
        ),
        SigAlg::RsaSha2_512 => (
            rsa::Pkcs1v15Sign::new::<Sha512>(),
            Sha512::digest(data).to_vec(),
        ),
        SigAlg::SshRsa => (
            rsa::Pkcs1v15Sign::new::<sha1::Sha1>(),
            sha1::Sha1::digest(data).to_vec(),
        ),
        _ => {
            return Err(Error::AlgorithmMismatch {
                sig_alg: alg.name(),
                key_type: KeyType::Rsa.name(),
            });
        }
    })
}

fn verify_rsa(alg: SigAlg, e: &[u8], n: &[u8], data: &[u8], raw: &[u8]) -> Result<()> {
    let key = rsa_public(e, n)?;
    let modlen = n.len();
    // OpenSSH (ssh_rsa_verify) rejects signatures longer than the modulus and left-pads
    // shorter ones with zeros.
    if raw.len() > modlen || raw.is_empty() {
        return Err(Error::BadSignature);
    }
    let mut sig = alloc::vec![0u8; modlen - raw.len()];
    sig.extend_from_slice(raw);
    let (scheme, hashed) = rsa_scheme_and_hash(alg, data)?;
    key.verify(scheme, &hashed, &sig)
        .map_err(|_| Error::BadSignature)
}
