//! SSH signatures (`ssh-keygen -Y sign/verify`, OpenSSH PROTOCOL.sshsig) and
//! `allowed_signers` files (ssh-keygen(1) "ALLOWED SIGNERS").

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use bytes::Bytes;
use rand_core::CryptoRng;
use sha2::{Digest, Sha256, Sha512};
use whelk_wire::types::{PutSsh, Reader};

use crate::algorithm::{KeyType, SigAlg};
use crate::authorized_keys::{parse_timespec, quoted_value, split_option_field};
use crate::cert::{CertType, Certificate};
use crate::error::{Error, Result, invalid};
use crate::known_hosts::LineError;
use crate::pattern::{ListMatch, match_list};
use crate::private::PrivateKey;
use crate::public::{
    ParsedSignature, PublicKey, VerifyPolicy, decode_base64, format_err, split_word, utf8,
};

const MAGIC: &[u8; 6] = b"SSHSIG";
const VERSION: u32 = 1;
const BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";
const END: &str = "-----END SSH SIGNATURE-----";
const FORMAT: &str = "SSH signature";

/// The message hash of an SSH signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SshSigHash {
    /// `sha256`.
    Sha256,
    /// `sha512` (ssh-keygen's default).
    #[default]
    Sha512,
}

impl SshSigHash {
    /// The name in the signature.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    fn digest(self, msg: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(msg).to_vec(),
            Self::Sha512 => Sha512::digest(msg).to_vec(),
        }
    }
}

/// Who signed: a plain key or a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    /// A plain public key.
    Key(PublicKey),
    /// A certificate (the signature is by its certified key).
    Certificate(Box<Certificate>),
}

impl Signer {
    /// The key that made the signature.
    #[must_use]
    pub fn public_key(&self) -> &PublicKey {
        match self {
            Self::Key(k) => k,
            Self::Certificate(c) => c.public_key(),
        }
    }

    fn blob(&self) -> &[u8] {
        match self {
            Self::Key(k) => k.blob(),
            Self::Certificate(c) => c.blob(),
        }
    }
}

/// A parsed SSH signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshSig {
    signer: Signer,
    namespace: String,
    reserved: Vec<u8>,
    hash: SshSigHash,
    signature: Vec<u8>,
}

fn signed_data(namespace: &str, reserved: &[u8], hash: SshSigHash, msg: &[u8]) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend_from_slice(MAGIC);
    d.put_ssh_string(namespace.as_bytes());
    d.put_ssh_string(reserved);
    d.put_ssh_string(hash.name().as_bytes());
    d.put_ssh_string(&hash.digest(msg));
    d
}

impl SshSig {
    /// Signs `msg` in `namespace` (e.g. `file`, `git`), as `ssh-keygen -Y sign` does (RSA
    /// keys sign with `rsa-sha2-512`).
    pub fn sign<R: CryptoRng + ?Sized>(
        key: &PrivateKey,
        namespace: &str,
        hash: SshSigHash,
        msg: &[u8],
        rng: &mut R,
    ) -> Result<Self> {
        if namespace.is_empty() {
            return Err(invalid(FORMAT, "empty namespace"));
        }
        let data = signed_data(namespace, &[], hash, msg);
        let signature = key.sign(key.default_signature_algorithm(), &data, rng)?;
        Ok(Self {
            signer: Signer::Key(key.public_key().clone()),
            namespace: namespace.to_string(),
            reserved: Vec::new(),
            hash,
            signature,
        })
    }

    /// Parses the binary form.
    pub fn from_blob(blob: &[u8]) -> Result<Self> {
        let bytes = Bytes::copy_from_slice(blob);
        let mut r = Reader::new(&bytes, "SSHSIG");
        if r.array::<6>()? != *MAGIC {
            return Err(invalid(FORMAT, "bad magic"));
        }
        if r.u32()? != VERSION {
            return Err(invalid(FORMAT, "unsupported version"));
        }
        let key_blob = r.string_slice()?;
        let signer = {
            let kb = Bytes::copy_from_slice(key_blob);
            let mut kr = Reader::new(&kb, "SSHSIG");
            let name = utf8(kr.string_slice()?, FORMAT)?;
            if KeyType::from_cert_name(name).is_some() {
                Signer::Certificate(Box::new(Certificate::from_blob(key_blob)?))
            } else {
                Signer::Key(PublicKey::from_blob(key_blob)?)
            }
        };
        let namespace = utf8(r.string_slice()?, FORMAT)?.to_string();
        let reserved = r.string_slice()?.to_vec();
        let hash = match r.string_slice()? {
            b"sha256" => SshSigHash::Sha256,
            b"sha512" => SshSigHash::Sha512,
            _ => return Err(invalid(FORMAT, "unsupported hash")),
        };
        let signature = r.string_slice()?.to_vec();
        r.finish()?;
        Ok(Self {
            signer,
            namespace,
            reserved,
            hash,
            signature,
        })
    }

    /// The binary form.
    #[must_use]
    pub fn to_blob(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.put_ssh_string(self.signer.blob());
        out.put_ssh_string(self.namespace.as_bytes());
        out.put_ssh_string(&self.reserved);
        out.put_ssh_string(self.hash.name().as_bytes());
        out.put_ssh_string(&self.signature);
        out
    }

    /// Parses the armored form (`-----BEGIN SSH SIGNATURE-----`).
    pub fn from_armored(text: &str) -> Result<Self> {
        let text = text.trim();
        let body = text
            .strip_prefix(BEGIN)
            .and_then(|t| t.strip_suffix(END))
            .ok_or_else(|| format_err(FORMAT, "missing BEGIN/END lines"))?;
        let b64: String = body.split_whitespace().collect();
        let blob = decode_base64(&b64).ok_or_else(|| format_err(FORMAT, "bad base64"))?;
        Self::from_blob(&blob)
    }

    /// The armored form, base64 wrapped at 70 columns like ssh-keygen, ending in a newline.
    #[must_use]
    pub fn to_armored(&self) -> String {
        let b64 = <base64ct::Base64 as base64ct::Encoding>::encode_string(&self.to_blob());
        let mut out = String::from(BEGIN);
        out.push('\n');
        for chunk in b64.as_bytes().chunks(70) {
            out.push_str(core::str::from_utf8(chunk).unwrap_or_default());
            out.push('\n');
        }
        out.push_str(END);
        out.push('\n');
        out
    }

    /// Who signed.
    #[must_use]
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// The namespace.
    #[must_use]
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The message hash.
    #[must_use]
    pub fn hash(&self) -> SshSigHash {
        self.hash
    }

    /// Verifies the signature over `msg` for `namespace` with the embedded key (which the
    /// caller must then trust, e.g. through [`AllowedSigners::verify`]). `ssh-rsa` SHA-1
    /// signatures are refused, as by ssh-keygen.
    pub fn verify(&self, namespace: &str, msg: &[u8], policy: &VerifyPolicy) -> Result<()> {
        if self.namespace != namespace {
            return Err(invalid(FORMAT, "namespace mismatch"));
        }
        let parsed = ParsedSignature::parse(&self.signature)?;
        if parsed.alg == SigAlg::SshRsa.name() {
            return Err(Error::Sha1Disabled);
        }
        let data = signed_data(&self.namespace, &self.reserved, self.hash, msg);
        self.signer
            .public_key()
            .verify_any(&data, &self.signature, policy)
            .map(|_| ())
    }
}

/// One line of an `allowed_signers` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedSigner {
    /// 1-based line number.
    pub line: usize,
    /// Comma-separated principal patterns.
    pub principals: String,
    /// `cert-authority`: the key is a CA for certificates of the principals.
    pub cert_authority: bool,
    /// `namespaces="a,b"`: namespace patterns the key may sign for (any when `None`).
    pub namespaces: Option<String>,
    /// `valid-after` (Unix seconds).
    pub valid_after: Option<u64>,
    /// `valid-before` (Unix seconds).
    pub valid_before: Option<u64>,
    /// The key.
    pub key: PublicKey,
}

impl AllowedSigner {
    fn valid_at(&self, now: u64) -> bool {
        self.valid_after.is_none_or(|t| now >= t) && self.valid_before.is_none_or(|t| now < t)
    }

    fn allows_namespace(&self, ns: &str) -> bool {
        self.namespaces
            .as_deref()
            .is_none_or(|list| match_list(ns, list, false) == ListMatch::Match)
    }
}

/// A parsed `allowed_signers` file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedSigners {
    signers: Vec<AllowedSigner>,
    errors: Vec<LineError>,
}

impl AllowedSigners {
    /// Parses a file; malformed lines are recorded in [`AllowedSigners::errors`] and skipped.
    #[must_use]
    pub fn parse(text: &str) -> Self {
        let mut me = Self::default();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            match parse_signer_line(line, n) {
                Ok(Some(s)) => me.signers.push(s),
                Ok(None) => {}
                Err(error) => me.errors.push(LineError { line: n, error }),
            }
        }
        me
    }

    /// The usable lines.
    #[must_use]
    pub fn signers(&self) -> &[AllowedSigner] {
        &self.signers
    }

    /// The skipped lines.
    #[must_use]
    pub fn errors(&self) -> &[LineError] {
        &self.errors
    }

    /// `ssh-keygen -Y verify -I identity -n namespace`: the signature must verify, and a
    /// line must allow `identity` to sign in `namespace` at `now` with the signing key (or,
    /// for a certificate, with its CA on a `cert-authority` line, the certificate being a
    /// valid user certificate for `identity`). Returns the line that allowed it.
    pub fn verify(
        &self,
        identity: &str,
        namespace: &str,
        msg: &[u8],
        sig: &SshSig,
        now: u64,
        policy: &VerifyPolicy,
    ) -> Result<&AllowedSigner> {
        sig.verify(namespace, msg, policy)?;
        self.find_signer(identity, sig, now, policy)
            .ok_or_else(|| invalid("allowed_signers", "no line allows this signer"))
    }

    /// `ssh-keygen -Y find-principals`: the principal patterns of every line that would
    /// accept the signature's signer at `now` (the signature itself is not checked).
    #[must_use]
    pub fn find_principals(&self, sig: &SshSig, now: u64, policy: &VerifyPolicy) -> Vec<&str> {
        self.signers
            .iter()
            .filter(|s| s.valid_at(now) && s.allows_namespace(sig.namespace()))
            .filter(|s| match sig.signer() {
                Signer::Key(k) => !s.cert_authority && s.key == *k,
                Signer::Certificate(c) => {
                    s.cert_authority
                        && *c.signature_key() == s.key
                        && c.validate(now, CertType::User, None, policy).is_ok()
                }
            })
            .map(|s| s.principals.as_str())
            .collect()
    }

    fn find_signer(
        &self,
        identity: &str,
        sig: &SshSig,
        now: u64,
        policy: &VerifyPolicy,
    ) -> Option<&AllowedSigner> {
        self.signers.iter().find(|s| {
            if !s.valid_at(now)
                || !s.allows_namespace(sig.namespace())
                || match_list(identity, &s.principals, false) != ListMatch::Match
            {
                return false;
            }
            match sig.signer() {
                Signer::Key(k) => !s.cert_authority && s.key == *k,
                Signer::Certificate(c) => {
                    s.cert_authority
                        && *c.signature_key() == s.key
                        && c.validate(now, CertType::User, Some(identity), policy)
                            .is_ok()
                }
            }
        })
    }
}

fn parse_signer_line(line: &str, n: usize) -> Result<Option<AllowedSigner>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let bad = |why: &str| format_err("allowed_signers", why);
    // Principals may be quoted.
    let (principals, rest) = if let Some(q) = line.strip_prefix('"') {
        let end = q.find('"').ok_or_else(|| bad("unterminated quote"))?;
        (
            q.get(..end).unwrap_or_default(),
            q.get(end + 1..).unwrap_or_default().trim_start(),
        )
    } else {
        split_word(line)
    };
    if principals.is_empty() || principals.split(',').any(str::is_empty) {
        return Err(bad("empty principal"));
    }
    let mut cert_authority = false;
    let mut namespaces = None;
    let mut valid_after = None;
    let mut valid_before = None;
    let mut rest = rest;
    let (word, _) = split_word(rest);
    if KeyType::from_name(word).is_none() {
        let (opts, after) = split_option_field(rest)?;
        for opt in opts {
            let (name, value) = match opt.split_once('=') {
                Some((k, v)) => (k.to_ascii_lowercase(), Some(quoted_value(v)?)),
                None => (opt.to_ascii_lowercase(), None),
            };
            match (name.as_str(), value) {
                ("cert-authority", None) => cert_authority = true,
                ("namespaces", Some(v)) if !v.is_empty() => namespaces = Some(v),
                ("valid-after", Some(v)) => valid_after = Some(parse_timespec(&v)?),
                ("valid-before", Some(v)) => valid_before = Some(parse_timespec(&v)?),
                _ => return Err(bad("unknown or malformed option")),
            }
        }
        rest = after;
    }
    Ok(Some(AllowedSigner {
        line: n,
        principals: principals.to_string(),
        cert_authority,
        namespaces,
        valid_after,
        valid_before,
        key: PublicKey::from_openssh(rest)?.0,
    }))
}
