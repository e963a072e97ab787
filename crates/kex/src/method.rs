//! The registry of key exchange methods.

use whelk_wire::msg::KexFamily;

use crate::dh::Group;
use crate::hash::KexHash;

/// How the shared secret `K` is encoded in the exchange hash and in key derivation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretEncoding {
    /// `mpint` (RFC 4253 §8, RFC 5656 §4, RFC 8731 §3.1): DH, ECDH and curve25519.
    MpInt,
    /// `string` (draft-ietf-sshm-mlkem-hybrid-kex, OpenSSH PROTOCOL): the hybrid
    /// post-quantum methods, whose `K` is a hash output.
    String,
}

/// What a method computes with (internal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    MlKem768X25519,
    Sntrup761X25519,
    Curve25519,
    NistP256,
    NistP384,
    NistP521,
    Dh(Group),
    Gex,
}

/// A key exchange method this crate implements.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct KexMethod {
    /// The SSH name.
    pub name: &'static str,
    /// The exchange hash and key derivation hash.
    pub hash: KexHash,
    /// Which message family numbers 30-49 belong to during this exchange.
    pub family: KexFamily,
    /// How `K` is encoded.
    pub secret_encoding: SecretEncoding,
    /// Whether offered by default (SHA-1 methods and 1024-bit `group1` are not).
    pub default_enabled: bool,
    pub(crate) kind: Kind,
}

impl KexMethod {
    /// Whether the method needs a signature-capable host key (every method here does; RFC
    /// 4253 §7.1 also knows encryption-capable requirements, for RSA key exchange).
    #[must_use]
    pub const fn needs_signature_host_key(&self) -> bool {
        true
    }

    /// Whether this is a hybrid post-quantum method.
    #[must_use]
    pub const fn is_post_quantum(&self) -> bool {
        matches!(self.kind, Kind::MlKem768X25519 | Kind::Sntrup761X25519)
    }
}

const fn m(
    name: &'static str,
    hash: KexHash,
    family: KexFamily,
    secret_encoding: SecretEncoding,
    default_enabled: bool,
    kind: Kind,
) -> KexMethod {
    KexMethod {
        name,
        hash,
        family,
        secret_encoding,
        default_enabled,
        kind,
    }
}

use KexFamily::{Dh, DhGex, Ecdh};
use KexHash::{Sha1, Sha256, Sha384, Sha512};
use SecretEncoding::{MpInt, String as Str};

/// `mlkem768x25519-sha256`.
pub const MLKEM768X25519_SHA256: &str = "mlkem768x25519-sha256";
/// `sntrup761x25519-sha512`.
pub const SNTRUP761X25519_SHA512: &str = "sntrup761x25519-sha512";
/// `sntrup761x25519-sha512@openssh.com`.
pub const SNTRUP761X25519_SHA512_OPENSSH: &str = "sntrup761x25519-sha512@openssh.com";
/// `curve25519-sha256` (RFC 8731).
pub const CURVE25519_SHA256: &str = "curve25519-sha256";
/// `curve25519-sha256@libssh.org`.
pub const CURVE25519_SHA256_LIBSSH: &str = "curve25519-sha256@libssh.org";
/// `diffie-hellman-group-exchange-sha256` (RFC 4419).
pub const DH_GEX_SHA256: &str = "diffie-hellman-group-exchange-sha256";
/// `diffie-hellman-group-exchange-sha1` (RFC 4419, legacy).
pub const DH_GEX_SHA1: &str = "diffie-hellman-group-exchange-sha1";

/// Every method, the default-enabled ones first in OpenSSH 9.9/10's default order.
pub static METHODS: &[KexMethod] = &[
    m(
        MLKEM768X25519_SHA256,
        Sha256,
        Ecdh,
        Str,
        true,
        Kind::MlKem768X25519,
    ),
    m(
        SNTRUP761X25519_SHA512,
        Sha512,
        Ecdh,
        Str,
        true,
        Kind::Sntrup761X25519,
    ),
    m(
        SNTRUP761X25519_SHA512_OPENSSH,
        Sha512,
        Ecdh,
        Str,
        true,
        Kind::Sntrup761X25519,
    ),
    m(
        CURVE25519_SHA256,
        Sha256,
        Ecdh,
        MpInt,
        true,
        Kind::Curve25519,
    ),
    m(
        CURVE25519_SHA256_LIBSSH,
        Sha256,
        Ecdh,
        MpInt,
        true,
        Kind::Curve25519,
    ),
    m(
        "ecdh-sha2-nistp256",
        Sha256,
        Ecdh,
        MpInt,
        true,
        Kind::NistP256,
    ),
    m(
        "ecdh-sha2-nistp384",
        Sha384,
        Ecdh,
        MpInt,
        true,
        Kind::NistP384,
    ),
    m(
        "ecdh-sha2-nistp521",
        Sha512,
        Ecdh,
        MpInt,
        true,
        Kind::NistP521,
    ),
    m(DH_GEX_SHA256, Sha256, DhGex, MpInt, true, Kind::Gex),
    m(
        "diffie-hellman-group16-sha512",
        Sha512,
        Dh,
        MpInt,
        true,
        Kind::Dh(Group::Modp4096),
    ),
    m(
        "diffie-hellman-group18-sha512",
        Sha512,
        Dh,
        MpInt,
        true,
        Kind::Dh(Group::Modp8192),
    ),
    m(
        "diffie-hellman-group14-sha256",
        Sha256,
        Dh,
        MpInt,
        true,
        Kind::Dh(Group::Modp2048),
    ),
    m(
        "diffie-hellman-group14-sha1",
        Sha1,
        Dh,
        MpInt,
        false,
        Kind::Dh(Group::Modp2048),
    ),
    m(
        "diffie-hellman-group1-sha1",
        Sha1,
        Dh,
        MpInt,
        false,
        Kind::Dh(Group::Oakley1024),
    ),
    m(DH_GEX_SHA1, Sha1, DhGex, MpInt, false, Kind::Gex),
];

/// The method called `name`.
#[must_use]
pub fn method_by_name(name: &str) -> Option<&'static KexMethod> {
    METHODS.iter().find(|m| m.name == name)
}

/// The default-enabled methods in default preference order.
pub fn default_methods() -> impl Iterator<Item = &'static KexMethod> {
    METHODS.iter().filter(|m| m.default_enabled)
}

/// The names of the default-enabled methods, in order (without the `ext-info-*` and
/// `kex-strict-*` markers, which the transport appends).
pub fn default_method_names() -> impl Iterator<Item = &'static str> {
    default_methods().map(|m| m.name)
}
