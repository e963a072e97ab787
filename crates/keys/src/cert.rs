//! OpenSSH certificates (`*-cert-v01@openssh.com`, PROTOCOL.certkeys): parsing, CA signature
//! verification, validity window, principals, critical options and extensions; creation and
//! signing with a [`CertBuilder`].
//!
//! Parsed and encoded here (not through `ssh-key`) so that the CA signature is checked over
//! the exact bytes received and the certified key is a whelk [`PublicKey`] parsed with the
//! same strict rules as a plain key blob.

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::IpAddr;

use bytes::Bytes;
use rand_core::CryptoRng;
use whelk_wire::types::{PutSsh, Reader};

use crate::algorithm::{KeyType, SigAlg};
use crate::error::{CertError, Error, Result, invalid};
use crate::pattern::cidr_contains;
use crate::private::PrivateKey;
use crate::public::{PublicKey, VerifyPolicy, decode_base64, format_err, split_word, utf8};

/// Whether a certificate is for a user or a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertType {
    /// `SSH2_CERT_TYPE_USER` (1).
    User,
    /// `SSH2_CERT_TYPE_HOST` (2).
    Host,
}

impl CertType {
    fn to_u32(self) -> u32 {
        match self {
            Self::User => 1,
            Self::Host => 2,
        }
    }
}

/// The critical options OpenSSH defines (any other makes a certificate invalid).
pub const KNOWN_CRITICAL_OPTIONS: [&str; 3] =
    ["force-command", "source-address", "verify-required"];

/// The default extensions `ssh-keygen -s` puts in user certificates.
pub const DEFAULT_USER_EXTENSIONS: [&str; 5] = [
    "permit-X11-forwarding",
    "permit-agent-forwarding",
    "permit-port-forwarding",
    "permit-pty",
    "permit-user-rc",
];

/// A parsed certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    blob: Vec<u8>,
    /// Length of the signed part (everything before the signature string).
    tbs_len: usize,
    key_type: KeyType,
    nonce: Vec<u8>,
    key: PublicKey,
    serial: u64,
    cert_type: CertType,
    key_id: String,
    principals: Vec<String>,
    valid_after: u64,
    valid_before: u64,
    critical_options: Vec<(String, String)>,
    extensions: Vec<(String, String)>,
    ca: PublicKey,
    signature: Vec<u8>,
}

fn read_options(raw: &[u8], what: &'static str) -> Result<Vec<(String, String)>> {
    let bytes = Bytes::copy_from_slice(raw);
    let mut r = Reader::new(&bytes, what);
    let mut out: Vec<(String, String)> = Vec::new();
    while r.remaining() > 0 {
        let name = utf8(r.string_slice()?, what)?.to_string();
        let data = r.string_slice()?;
        let value = if data.is_empty() {
            String::new()
        } else {
            let d = Bytes::copy_from_slice(data);
            let mut dr = Reader::new(&d, what);
            let v = utf8(dr.string_slice()?, what)?.to_string();
            dr.finish()?;
            v
        };
        if out.iter().any(|(n, _)| *n == name) {
            return Err(invalid(what, "duplicate option"));
        }
        out.push((name, value));
    }
    Ok(out)
}

fn write_options(out: &mut Vec<u8>, opts: &[(String, String)]) {
    let mut buf = Vec::new();
    for (name, value) in opts {
        buf.put_ssh_string(name.as_bytes());
        if value.is_empty() {
            buf.put_ssh_string(b"");
        } else {
            let mut inner = Vec::new();
            inner.put_ssh_string(value.as_bytes());
            buf.put_ssh_string(&inner);
        }
    }
    out.put_ssh_string(&buf);
}

impl Certificate {
    /// Parses a certificate blob.
    pub fn from_blob(blob: &[u8]) -> Result<Self> {
        let bytes = Bytes::copy_from_slice(blob);
        let mut r = Reader::new(&bytes, "certificate");
        let name = utf8(r.string_slice()?, "certificate")?;
        let key_type = KeyType::from_cert_name(name)
            .ok_or_else(|| Error::UnsupportedAlgorithm(name.to_string()))?;
        let nonce = r.string_slice()?.to_vec();
        let data = PublicKey::read_body(key_type, &mut r)?;
        let key = PublicKey::from_data(data);
        let serial = r.u64()?;
        let cert_type = match r.u32()? {
            1 => CertType::User,
            2 => CertType::Host,
            _ => return Err(invalid("certificate", "unknown certificate type")),
        };
        let key_id = utf8(r.string_slice()?, "certificate key id")?.to_string();
        let principals_raw = Bytes::copy_from_slice(r.string_slice()?);
        let mut pr = Reader::new(&principals_raw, "certificate principals");
        let mut principals = Vec::new();
        while pr.remaining() > 0 {
            principals.push(utf8(pr.string_slice()?, "certificate principals")?.to_string());
        }
        let valid_after = r.u64()?;
        let valid_before = r.u64()?;
        let critical_options = read_options(r.string_slice()?, "certificate critical options")?;
        let extensions = read_options(r.string_slice()?, "certificate extensions")?;
        let _reserved = r.string_slice()?;
        let ca_blob = r.string_slice()?;
        let ca = PublicKey::from_blob(ca_blob).map_err(|e| match e {
            Error::UnsupportedAlgorithm(n) if KeyType::from_cert_name(&n).is_some() => {
                Error::Certificate(CertError::CaIsCertificate)
            }
            other => other,
        })?;
        let tbs_len = blob.len() - r.remaining();
        let signature = r.string_slice()?.to_vec();
        r.finish()?;
        Ok(Self {
            blob: blob.to_vec(),
            tbs_len,
            key_type,
            nonce,
            key,
            serial,
            cert_type,
            key_id,
            principals,
            valid_after,
            valid_before,
            critical_options,
            extensions,
            ca,
            signature,
        })
    }

    /// Parses the one-line form (`ssh-ed25519-cert-v01@openssh.com base64 [comment]`, as in
    /// `id_ed25519-cert.pub`). Returns the certificate and the comment.
    pub fn from_openssh(line: &str) -> Result<(Self, String)> {
        let (name, rest) = split_word(line.trim());
        let (b64, comment) = split_word(rest);
        let blob = decode_base64(b64).ok_or_else(|| format_err("certificate", "bad base64"))?;
        let cert = Self::from_blob(&blob)?;
        if cert.key_type.cert_name() != name {
            return Err(format_err("certificate", "type does not match the blob"));
        }
        Ok((cert, comment.trim().to_string()))
    }

    /// The one-line form with `comment`.
    #[must_use]
    pub fn to_openssh(&self, comment: &str) -> String {
        let mut s = alloc::format!(
            "{} {}",
            self.key_type.cert_name(),
            <base64ct::Base64 as base64ct::Encoding>::encode_string(&self.blob)
        );
        if !comment.is_empty() {
            s.push(' ');
            s.push_str(comment);
        }
        s
    }

    /// The certificate blob.
    #[must_use]
    pub fn blob(&self) -> &[u8] {
        &self.blob
    }

    /// The certified key's type.
    #[must_use]
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The certified public key.
    #[must_use]
    pub fn public_key(&self) -> &PublicKey {
        &self.key
    }

    /// The CA key that signed the certificate.
    #[must_use]
    pub fn signature_key(&self) -> &PublicKey {
        &self.ca
    }

    /// The nonce.
    #[must_use]
    pub fn nonce(&self) -> &[u8] {
        &self.nonce
    }

    /// The serial number.
    #[must_use]
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// User or host certificate.
    #[must_use]
    pub fn cert_type(&self) -> CertType {
        self.cert_type
    }

    /// The key identifier (logged by servers).
    #[must_use]
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The valid principals (user or host names); empty means "any" to OpenSSH's
    /// `ssh-keygen -L` but is refused by [`Certificate::validate`] when a principal is asked for.
    #[must_use]
    pub fn principals(&self) -> &[String] {
        &self.principals
    }

    /// Start of validity (Unix seconds, inclusive).
    #[must_use]
    pub fn valid_after(&self) -> u64 {
        self.valid_after
    }

    /// End of validity (Unix seconds, exclusive; `u64::MAX` = forever).
    #[must_use]
    pub fn valid_before(&self) -> u64 {
        self.valid_before
    }

    /// The critical options, `(name, value)` (value empty for flags).
    #[must_use]
    pub fn critical_options(&self) -> &[(String, String)] {
        &self.critical_options
    }

    /// The extensions, `(name, value)`.
    #[must_use]
    pub fn extensions(&self) -> &[(String, String)] {
        &self.extensions
    }

    /// Whether the extension `name` is present (for example `permit-pty`).
    #[must_use]
    pub fn has_extension(&self, name: &str) -> bool {
        self.extensions.iter().any(|(n, _)| n == name)
    }

    fn option(&self, name: &str) -> Option<&str> {
        self.critical_options
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `force-command` critical option.
    #[must_use]
    pub fn force_command(&self) -> Option<&str> {
        self.option("force-command")
    }

    /// The `source-address` critical option (comma-separated CIDR list).
    #[must_use]
    pub fn source_address(&self) -> Option<&str> {
        self.option("source-address")
    }

    /// Whether the `verify-required` critical option is present.
    #[must_use]
    pub fn verify_required(&self) -> bool {
        self.option("verify-required").is_some()
    }

    /// The signed bytes.
    fn tbs(&self) -> &[u8] {
        self.blob.get(..self.tbs_len).unwrap_or_default()
    }

    /// Verifies the CA signature under `policy` (an `ssh-rsa` SHA-1 CA signature needs
    /// `allow_sha1`, as OpenSSH's default `CASignatureAlgorithms` excludes it).
    pub fn verify_signature(&self, policy: &VerifyPolicy) -> Result<SigAlg> {
        // Security-key CAs sign without user presence when used by ssh-keygen -s.
        let policy = VerifyPolicy {
            require_user_presence: false,
            ..policy.clone()
        };
        self.ca
            .verify_any(self.tbs(), &self.signature, &policy)
            .map(|(alg, _)| alg)
            .map_err(|e| match e {
                Error::BadSignature => Error::Certificate(CertError::BadSignature),
                other => other,
            })
    }

    /// Full validation as sshd/ssh do it: CA signature, `valid_after <= now < valid_before`,
    /// certificate type, principal (if given: must be listed), and no unknown critical option.
    /// Trust in the CA key itself is the caller's decision ([`Certificate::signature_key`]).
    pub fn validate(
        &self,
        now: u64,
        cert_type: CertType,
        principal: Option<&str>,
        policy: &VerifyPolicy,
    ) -> Result<()> {
        if self.cert_type != cert_type {
            return Err(CertError::WrongType.into());
        }
        self.verify_signature(policy)?;
        if now < self.valid_after {
            return Err(CertError::NotYetValid.into());
        }
        if now >= self.valid_before {
            return Err(CertError::Expired.into());
        }
        if let Some(p) = principal
            && !self.principals.iter().any(|x| x == p)
        {
            return Err(CertError::Principal(p.to_string()).into());
        }
        if let Some((name, _)) = self
            .critical_options
            .iter()
            .find(|(n, _)| !KNOWN_CRITICAL_OPTIONS.contains(&n.as_str()))
        {
            return Err(CertError::UnknownCriticalOption(name.clone()).into());
        }
        Ok(())
    }

    /// Checks the `source-address` option against the client address (passes when absent).
    pub fn check_source_address(&self, addr: IpAddr) -> Result<()> {
        match self.source_address() {
            None => Ok(()),
            Some(list) => {
                let mut ok = false;
                for cidr in list.split(',') {
                    match cidr_contains(cidr.trim(), addr) {
                        Some(true) => ok = true,
                        Some(false) => {}
                        None => return Err(CertError::SourceAddress.into()),
                    }
                }
                if ok {
                    Ok(())
                } else {
                    Err(CertError::SourceAddress.into())
                }
            }
        }
    }
}

/// Builds and signs a certificate (what `ssh-keygen -s` does).
#[derive(Debug, Clone)]
pub struct CertBuilder {
    key: PublicKey,
    cert_type: CertType,
    serial: u64,
    key_id: String,
    principals: Vec<String>,
    valid_after: u64,
    valid_before: u64,
    critical_options: Vec<(String, String)>,
    extensions: Vec<(String, String)>,
}

impl CertBuilder {
    /// A certificate for `key`, valid from `valid_after` (inclusive) to `valid_before`
    /// (exclusive), Unix seconds. User certificates start with OpenSSH's default extensions.
    #[must_use]
    pub fn new(key: PublicKey, cert_type: CertType, valid_after: u64, valid_before: u64) -> Self {
        let extensions = match cert_type {
            CertType::User => DEFAULT_USER_EXTENSIONS
                .iter()
                .map(|e| ((*e).to_string(), String::new()))
                .collect(),
            CertType::Host => Vec::new(),
        };
        Self {
            key,
            cert_type,
            serial: 0,
            key_id: String::new(),
            principals: Vec::new(),
            valid_after,
            valid_before,
            critical_options: Vec::new(),
            extensions,
        }
    }

    /// Sets the serial number.
    #[must_use]
    pub fn serial(mut self, serial: u64) -> Self {
        self.serial = serial;
        self
    }

    /// Sets the key identifier.
    #[must_use]
    pub fn key_id(mut self, id: impl Into<String>) -> Self {
        self.key_id = id.into();
        self
    }

    /// Adds a principal.
    #[must_use]
    pub fn principal(mut self, p: impl Into<String>) -> Self {
        self.principals.push(p.into());
        self
    }

    /// Adds or replaces a critical option (`force-command`, `source-address`,
    /// `verify-required`); empty value for flags.
    #[must_use]
    pub fn critical_option(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        self.critical_options.retain(|(n, _)| *n != name);
        self.critical_options.push((name, value.into()));
        self
    }

    /// Adds or replaces an extension.
    #[must_use]
    pub fn extension(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        self.extensions.retain(|(n, _)| *n != name);
        self.extensions.push((name, value.into()));
        self
    }

    /// Removes every extension.
    #[must_use]
    pub fn clear_extensions(mut self) -> Self {
        self.extensions.clear();
        self
    }

    /// Signs with the CA key using `alg` (for an RSA CA: `rsa-sha2-512` is what
    /// `ssh-keygen` uses) and a 32-byte nonce from `rng`.
    pub fn sign<R: CryptoRng + ?Sized>(
        mut self,
        ca: &PrivateKey,
        alg: SigAlg,
        rng: &mut R,
    ) -> Result<Certificate> {
        if self.principals.iter().any(String::is_empty) {
            return Err(invalid("certificate", "empty principal"));
        }
        // PROTOCOL.certkeys: options in lexical order of their names.
        self.critical_options.sort();
        self.extensions.sort();
        let kt = self.key.key_type();
        let mut nonce = [0u8; 32];
        rng.fill_bytes(&mut nonce);
        let mut out = Vec::new();
        out.put_ssh_string(kt.cert_name().as_bytes());
        out.put_ssh_string(&nonce);
        // The key fields are the plain blob without its type name.
        let key_blob = self.key.blob();
        let name_len = 4 + kt.name().len();
        out.extend_from_slice(key_blob.get(name_len..).unwrap_or_default());
        out.extend_from_slice(&self.serial.to_be_bytes());
        out.extend_from_slice(&self.cert_type.to_u32().to_be_bytes());
        out.put_ssh_string(self.key_id.as_bytes());
        let mut principals = Vec::new();
        for p in &self.principals {
            principals.put_ssh_string(p.as_bytes());
        }
        out.put_ssh_string(&principals);
        out.extend_from_slice(&self.valid_after.to_be_bytes());
        out.extend_from_slice(&self.valid_before.to_be_bytes());
        write_options(&mut out, &self.critical_options);
        write_options(&mut out, &self.extensions);
        out.put_ssh_string(b"");
        out.put_ssh_string(ca.public_key().blob());
        let sig = ca.sign(alg, &out, rng)?;
        out.put_ssh_string(&sig);
        Certificate::from_blob(&out)
    }
}

/// A public key as it appears on the wire where either a plain key or a certificate may
/// be sent: the host key in key exchange, the key in a publickey authentication request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrCert {
    /// A plain public key.
    Key(PublicKey),
    /// A certificate.
    Certificate(Box<Certificate>),
}

impl KeyOrCert {
    /// Parses a plain key blob or a `*-cert-v01@openssh.com` blob.
    pub fn from_blob(blob: &[u8]) -> Result<Self> {
        let bytes = Bytes::copy_from_slice(blob);
        let mut r = Reader::new(&bytes, "public key blob");
        let name = utf8(r.string_slice()?, "public key blob")?;
        if KeyType::from_cert_name(name).is_some() {
            Ok(Self::Certificate(Box::new(Certificate::from_blob(blob)?)))
        } else {
            Ok(Self::Key(PublicKey::from_blob(blob)?))
        }
    }

    /// Parses `blob` for the algorithm `alg_name` (a signature algorithm such as
    /// `rsa-sha2-512`, or its `-cert-v01@openssh.com` form), checking that the blob's type
    /// belongs to the algorithm: `ssh-ed25519` with an RSA blob, a certificate algorithm with
    /// a plain key or the reverse are all [`Error::AlgorithmMismatch`] (catalog A08).
    pub fn parse_for_algorithm(alg_name: &str, blob: &[u8]) -> Result<(SigAlg, Self)> {
        let (alg, is_cert) = SigAlg::from_any_name(alg_name)
            .ok_or_else(|| Error::UnsupportedAlgorithm(alg_name.to_string()))?;
        let k = Self::from_blob(blob)?;
        let cert = matches!(k, Self::Certificate(_));
        if cert != is_cert || k.public_key().key_type() != alg.key_type() {
            return Err(Error::AlgorithmMismatch {
                sig_alg: if is_cert { alg.cert_name() } else { alg.name() },
                key_type: if cert {
                    k.public_key().key_type().cert_name()
                } else {
                    k.public_key().key_type().name()
                },
            });
        }
        Ok((alg, k))
    }

    /// The key that signs (for a certificate: the certified key).
    #[must_use]
    pub fn public_key(&self) -> &PublicKey {
        match self {
            Self::Key(k) => k,
            Self::Certificate(c) => c.public_key(),
        }
    }

    /// The wire blob.
    #[must_use]
    pub fn blob(&self) -> &[u8] {
        match self {
            Self::Key(k) => k.blob(),
            Self::Certificate(c) => c.blob(),
        }
    }

    /// The certificate, if this is one.
    #[must_use]
    pub fn certificate(&self) -> Option<&Certificate> {
        match self {
            Self::Key(_) => None,
            Self::Certificate(c) => Some(c),
        }
    }
}
