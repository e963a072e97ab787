//! Key types and signature algorithms, with their SSH names.

use core::fmt;

/// An NIST curve used by ECDSA keys (RFC 5656).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Curve {
    /// NIST P-256 (`nistp256`).
    NistP256,
    /// NIST P-384 (`nistp384`).
    NistP384,
    /// NIST P-521 (`nistp521`).
    NistP521,
}

impl Curve {
    /// The curve identifier inside key blobs (`nistp256`...).
    #[must_use]
    pub const fn identifier(self) -> &'static str {
        match self {
            Self::NistP256 => "nistp256",
            Self::NistP384 => "nistp384",
            Self::NistP521 => "nistp521",
        }
    }

    /// The size of the curve in bits (as `ssh-keygen -l` prints it).
    #[must_use]
    pub const fn bits(self) -> u32 {
        match self {
            Self::NistP256 => 256,
            Self::NistP384 => 384,
            Self::NistP521 => 521,
        }
    }

    /// Length of a field element / scalar in bytes.
    #[must_use]
    pub const fn field_len(self) -> usize {
        match self {
            Self::NistP256 => 32,
            Self::NistP384 => 48,
            Self::NistP521 => 66,
        }
    }

    /// Parses a curve identifier.
    #[must_use]
    pub fn from_identifier(s: &str) -> Option<Self> {
        match s {
            "nistp256" => Some(Self::NistP256),
            "nistp384" => Some(Self::NistP384),
            "nistp521" => Some(Self::NistP521),
            _ => None,
        }
    }

    /// The key type of a plain ECDSA key on this curve.
    #[must_use]
    pub const fn key_type(self) -> KeyType {
        match self {
            Self::NistP256 => KeyType::EcdsaNistP256,
            Self::NistP384 => KeyType::EcdsaNistP384,
            Self::NistP521 => KeyType::EcdsaNistP521,
        }
    }
}

/// The type of a public key, named as in key blobs and key files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyType {
    /// `ssh-ed25519` (RFC 8709).
    Ed25519,
    /// `ecdsa-sha2-nistp256` (RFC 5656).
    EcdsaNistP256,
    /// `ecdsa-sha2-nistp384` (RFC 5656).
    EcdsaNistP384,
    /// `ecdsa-sha2-nistp521` (RFC 5656).
    EcdsaNistP521,
    /// `ssh-rsa` (RFC 4253, RFC 8332).
    Rsa,
    /// `sk-ssh-ed25519@openssh.com` (OpenSSH PROTOCOL.u2f): verification only.
    SkEd25519,
    /// `sk-ecdsa-sha2-nistp256@openssh.com` (OpenSSH PROTOCOL.u2f): verification only.
    SkEcdsaNistP256,
}

impl KeyType {
    /// Every key type, in whelk's preference order.
    pub const ALL: [Self; 7] = [
        Self::Ed25519,
        Self::EcdsaNistP256,
        Self::EcdsaNistP384,
        Self::EcdsaNistP521,
        Self::Rsa,
        Self::SkEd25519,
        Self::SkEcdsaNistP256,
    ];

    /// The SSH name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Ed25519 => "ssh-ed25519",
            Self::EcdsaNistP256 => "ecdsa-sha2-nistp256",
            Self::EcdsaNistP384 => "ecdsa-sha2-nistp384",
            Self::EcdsaNistP521 => "ecdsa-sha2-nistp521",
            Self::Rsa => "ssh-rsa",
            Self::SkEd25519 => "sk-ssh-ed25519@openssh.com",
            Self::SkEcdsaNistP256 => "sk-ecdsa-sha2-nistp256@openssh.com",
        }
    }

    /// The name of the matching certificate type (`*-cert-v01@openssh.com`).
    #[must_use]
    pub const fn cert_name(self) -> &'static str {
        match self {
            Self::Ed25519 => "ssh-ed25519-cert-v01@openssh.com",
            Self::EcdsaNistP256 => "ecdsa-sha2-nistp256-cert-v01@openssh.com",
            Self::EcdsaNistP384 => "ecdsa-sha2-nistp384-cert-v01@openssh.com",
            Self::EcdsaNistP521 => "ecdsa-sha2-nistp521-cert-v01@openssh.com",
            Self::Rsa => "ssh-rsa-cert-v01@openssh.com",
            Self::SkEd25519 => "sk-ssh-ed25519-cert-v01@openssh.com",
            Self::SkEcdsaNistP256 => "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
        }
    }

    /// Parses a key type name.
    #[must_use]
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Parses a certificate type name.
    #[must_use]
    pub fn from_cert_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.cert_name() == s)
    }

    /// The curve of an ECDSA key type.
    #[must_use]
    pub const fn curve(self) -> Option<Curve> {
        match self {
            Self::EcdsaNistP256 | Self::SkEcdsaNistP256 => Some(Curve::NistP256),
            Self::EcdsaNistP384 => Some(Curve::NistP384),
            Self::EcdsaNistP521 => Some(Curve::NistP521),
            Self::Ed25519 | Self::Rsa | Self::SkEd25519 => None,
        }
    }

    /// Whether this is a FIDO security-key type (verification only in whelk).
    #[must_use]
    pub const fn is_security_key(self) -> bool {
        matches!(self, Self::SkEd25519 | Self::SkEcdsaNistP256)
    }

    /// The signature algorithms this key type can produce, best first. For RSA, the SHA-1
    /// `ssh-rsa` algorithm is listed last.
    #[must_use]
    pub const fn signature_algorithms(self) -> &'static [SigAlg] {
        match self {
            Self::Ed25519 => &[SigAlg::Ed25519],
            Self::EcdsaNistP256 => &[SigAlg::EcdsaNistP256],
            Self::EcdsaNistP384 => &[SigAlg::EcdsaNistP384],
            Self::EcdsaNistP521 => &[SigAlg::EcdsaNistP521],
            Self::Rsa => &[SigAlg::RsaSha2_512, SigAlg::RsaSha2_256, SigAlg::SshRsa],
            Self::SkEd25519 => &[SigAlg::SkEd25519],
            Self::SkEcdsaNistP256 => &[SigAlg::SkEcdsaNistP256],
        }
    }

    /// The default signature algorithm (for RSA: `rsa-sha2-512`).
    #[must_use]
    pub const fn default_signature_algorithm(self) -> SigAlg {
        match self {
            Self::Ed25519 => SigAlg::Ed25519,
            Self::EcdsaNistP256 => SigAlg::EcdsaNistP256,
            Self::EcdsaNistP384 => SigAlg::EcdsaNistP384,
            Self::EcdsaNistP521 => SigAlg::EcdsaNistP521,
            Self::Rsa => SigAlg::RsaSha2_512,
            Self::SkEd25519 => SigAlg::SkEd25519,
            Self::SkEcdsaNistP256 => SigAlg::SkEcdsaNistP256,
        }
    }

    /// The name `ssh-keygen -l` prints in parentheses (`ED25519`, `ECDSA`, `RSA`,
    /// `ED25519-SK`, `ECDSA-SK`).
    #[must_use]
    pub const fn short_name(self) -> &'static str {
        match self {
            Self::Ed25519 => "ED25519",
            Self::EcdsaNistP256 | Self::EcdsaNistP384 | Self::EcdsaNistP521 => "ECDSA",
            Self::Rsa => "RSA",
            Self::SkEd25519 => "ED25519-SK",
            Self::SkEcdsaNistP256 => "ECDSA-SK",
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A public key signature algorithm, as negotiated in `server_host_key_algorithms`, named
/// in `SSH_MSG_USERAUTH_REQUEST` and at the front of every signature blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SigAlg {
    /// `ssh-ed25519`.
    Ed25519,
    /// `ecdsa-sha2-nistp256`.
    EcdsaNistP256,
    /// `ecdsa-sha2-nistp384`.
    EcdsaNistP384,
    /// `ecdsa-sha2-nistp521`.
    EcdsaNistP521,
    /// `rsa-sha2-256` (RFC 8332).
    RsaSha2_256,
    /// `rsa-sha2-512` (RFC 8332).
    RsaSha2_512,
    /// `ssh-rsa`: RSA with SHA-1. Disabled by default for both signing and verifying.
    SshRsa,
    /// `sk-ssh-ed25519@openssh.com`.
    SkEd25519,
    /// `sk-ecdsa-sha2-nistp256@openssh.com`.
    SkEcdsaNistP256,
}

impl SigAlg {
    /// Every signature algorithm, in whelk's default preference order (SHA-1 last).
    pub const ALL: [Self; 9] = [
        Self::Ed25519,
        Self::EcdsaNistP256,
        Self::EcdsaNistP384,
        Self::EcdsaNistP521,
        Self::SkEd25519,
        Self::SkEcdsaNistP256,
        Self::RsaSha2_512,
        Self::RsaSha2_256,
        Self::SshRsa,
    ];

    /// The SSH name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Ed25519 => "ssh-ed25519",
            Self::EcdsaNistP256 => "ecdsa-sha2-nistp256",
            Self::EcdsaNistP384 => "ecdsa-sha2-nistp384",
            Self::EcdsaNistP521 => "ecdsa-sha2-nistp521",
            Self::RsaSha2_256 => "rsa-sha2-256",
            Self::RsaSha2_512 => "rsa-sha2-512",
            Self::SshRsa => "ssh-rsa",
            Self::SkEd25519 => "sk-ssh-ed25519@openssh.com",
            Self::SkEcdsaNistP256 => "sk-ecdsa-sha2-nistp256@openssh.com",
        }
    }

    /// The certificate algorithm name (`rsa-sha2-512-cert-v01@openssh.com`, ...), used as
    /// the host key algorithm and the userauth algorithm when a certificate is presented.
    #[must_use]
    pub const fn cert_name(self) -> &'static str {
        match self {
            Self::Ed25519 => "ssh-ed25519-cert-v01@openssh.com",
            Self::EcdsaNistP256 => "ecdsa-sha2-nistp256-cert-v01@openssh.com",
            Self::EcdsaNistP384 => "ecdsa-sha2-nistp384-cert-v01@openssh.com",
            Self::EcdsaNistP521 => "ecdsa-sha2-nistp521-cert-v01@openssh.com",
            Self::RsaSha2_256 => "rsa-sha2-256-cert-v01@openssh.com",
            Self::RsaSha2_512 => "rsa-sha2-512-cert-v01@openssh.com",
            Self::SshRsa => "ssh-rsa-cert-v01@openssh.com",
            Self::SkEd25519 => "sk-ssh-ed25519-cert-v01@openssh.com",
            Self::SkEcdsaNistP256 => "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
        }
    }

    /// Parses a signature algorithm name.
    #[must_use]
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == s)
    }

    /// Parses a plain or certificate algorithm name; the flag tells which it was.
    #[must_use]
    pub fn from_any_name(s: &str) -> Option<(Self, bool)> {
        if let Some(a) = Self::from_name(s) {
            return Some((a, false));
        }
        Self::ALL
            .into_iter()
            .find(|a| a.cert_name() == s)
            .map(|a| (a, true))
    }

    /// The key type that makes this kind of signature.
    #[must_use]
    pub const fn key_type(self) -> KeyType {
        match self {
            Self::Ed25519 => KeyType::Ed25519,
            Self::EcdsaNistP256 => KeyType::EcdsaNistP256,
            Self::EcdsaNistP384 => KeyType::EcdsaNistP384,
            Self::EcdsaNistP521 => KeyType::EcdsaNistP521,
            Self::RsaSha2_256 | Self::RsaSha2_512 | Self::SshRsa => KeyType::Rsa,
            Self::SkEd25519 => KeyType::SkEd25519,
            Self::SkEcdsaNistP256 => KeyType::SkEcdsaNistP256,
        }
    }

    /// Whether the algorithm hashes with SHA-1.
    #[must_use]
    pub const fn uses_sha1(self) -> bool {
        matches!(self, Self::SshRsa)
    }
}

impl fmt::Display for SigAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in KeyType::ALL {
            assert_eq!(KeyType::from_name(k.name()), Some(k));
            assert_eq!(KeyType::from_cert_name(k.cert_name()), Some(k));
            assert!(k.signature_algorithms().iter().all(|a| a.key_type() == k));
        }
        for a in SigAlg::ALL {
            assert_eq!(SigAlg::from_name(a.name()), Some(a));
            assert_eq!(SigAlg::from_any_name(a.cert_name()), Some((a, true)));
        }
        assert_eq!(SigAlg::from_name("ssh-dss"), None);
    }
}
