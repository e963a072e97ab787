//! The algorithm registry: every cipher, MAC and compression method this crate implements,
//! by SSH name, with its key/IV/MAC sizes, whether it is on by default, and the default
//! preference order (OpenSSH 9/10's).
//!
//! The key exchange derives `key_len`/`iv_len`/`mac_key_len` bytes of each kind (RFC 4253
//! §7.2) and hands them to [`CipherAlgorithm::sealer`] / [`CipherAlgorithm::opener`] as
//! [`Keys`].

use alloc::boxed::Box;
use alloc::string::ToString;

use crate::chachapoly::{self, ChaChaPolyOpener, ChaChaPolySealer};
use crate::cipher_mac::{CipherMacOpener, CipherMacSealer};
use crate::error::{Error, Result};
use crate::gcm::{self, GcmKind, GcmOpener, GcmSealer};
use crate::mac::{MacKind, PacketMac};
use crate::modes::{Decryptor, Encryptor, ModeKind};
use crate::packet::{PacketOpener, PacketSealer};

/// Key material for one direction, as derived by the key exchange. Slices of the wrong length
/// are rejected with [`Error::KeyLength`]. Unused parts are empty.
#[derive(Clone, Copy, Default)]
pub struct Keys<'a> {
    /// Encryption key (RFC 4253 §7.2 "C"/"D").
    pub key: &'a [u8],
    /// Initial IV (RFC 4253 §7.2 "A"/"B"): the CBC IV, CTR's initial counter, GCM's nonce.
    pub iv: &'a [u8],
    /// Integrity key (RFC 4253 §7.2 "E"/"F"); empty for AEAD ciphers.
    pub mac_key: &'a [u8],
}

impl core::fmt::Debug for Keys<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Keys")
            .field("key", &self.key.len())
            .field("iv", &self.iv.len())
            .field("mac_key", &self.mac_key.len())
            .finish()
    }
}

/// How a cipher is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CipherKind {
    ChaChaPoly,
    Gcm(GcmKind),
    Mode(ModeKind),
}

/// A cipher this crate implements.
#[derive(Debug, PartialEq, Eq)]
pub struct CipherAlgorithm {
    /// The SSH name.
    pub name: &'static str,
    /// Key length in bytes.
    pub key_len: usize,
    /// IV length in bytes (0 for chacha20-poly1305, which uses the sequence number).
    pub iv_len: usize,
    /// Block size in bytes (8 for stream ciphers and `none`: the minimum alignment).
    pub block_len: usize,
    /// Tag length for AEAD ciphers, 0 otherwise.
    pub tag_len: usize,
    /// Whether the algorithm is offered by default (CBC, 3DES and `none` are not).
    pub default_enabled: bool,
    kind: CipherKind,
}

impl CipherAlgorithm {
    /// Whether this cipher authenticates on its own (the negotiated MAC is then ignored, as
    /// OpenSSH does; RFC 5647 §5.1 would instead require the MAC to match).
    #[must_use]
    pub fn is_aead(&self) -> bool {
        self.tag_len > 0
    }

    /// Whether this is a CBC cipher (catalog P07: off by default; see [`crate::Deframer`]).
    #[must_use]
    pub fn is_cbc(&self) -> bool {
        matches!(self.kind, CipherKind::Mode(m) if m.is_cbc())
    }

    /// A sealer for one direction. `mac` is ignored for AEAD ciphers and required otherwise
    /// (pass the `none` MAC to send unauthenticated packets deliberately).
    pub fn sealer(
        &self,
        mac: Option<&MacAlgorithm>,
        keys: &Keys<'_>,
    ) -> Result<Box<dyn PacketSealer>> {
        Ok(match self.kind {
            CipherKind::ChaChaPoly => {
                no_iv(keys.iv)?;
                Box::new(ChaChaPolySealer::new(keys.key)?)
            }
            CipherKind::Gcm(kind) => Box::new(GcmSealer::new(kind, keys.key, keys.iv)?),
            CipherKind::Mode(mode) => {
                let mac = mac.ok_or(Error::MacRequired(self.name))?;
                Box::new(CipherMacSealer {
                    name: self.name,
                    mac_name: mac.name,
                    enc: Encryptor::new(mode, keys.key, keys.iv)?,
                    mac: mac.keyed(keys.mac_key)?,
                    etm: mac.etm,
                    block: self.block_len,
                })
            }
        })
    }

    /// An opener for one direction; the counterpart of [`CipherAlgorithm::sealer`].
    pub fn opener(
        &self,
        mac: Option<&MacAlgorithm>,
        keys: &Keys<'_>,
    ) -> Result<Box<dyn PacketOpener>> {
        Ok(match self.kind {
            CipherKind::ChaChaPoly => {
                no_iv(keys.iv)?;
                Box::new(ChaChaPolyOpener::new(keys.key)?)
            }
            CipherKind::Gcm(kind) => Box::new(GcmOpener::new(kind, keys.key, keys.iv)?),
            CipherKind::Mode(mode) => {
                let mac = mac.ok_or(Error::MacRequired(self.name))?;
                Box::new(CipherMacOpener::new(
                    (self.name, mac.name),
                    Decryptor::new(mode, keys.key, keys.iv)?,
                    mac.keyed(keys.mac_key)?,
                    mac.etm,
                    self.block_len,
                    mode.is_cbc(),
                ))
            }
        })
    }
}

fn no_iv(iv: &[u8]) -> Result<()> {
    if iv.is_empty() {
        Ok(())
    } else {
        Err(Error::KeyLength {
            what: "cipher IV",
            got: iv.len(),
            expected: 0,
        })
    }
}

/// A MAC this crate implements.
#[derive(Debug, PartialEq, Eq)]
pub struct MacAlgorithm {
    /// The SSH name.
    pub name: &'static str,
    /// Key length in bytes.
    pub key_len: usize,
    /// MAC length on the wire in bytes.
    pub mac_len: usize,
    /// Encrypt-then-MAC (`-etm@openssh.com`): length in clear, MAC over the ciphertext.
    pub etm: bool,
    /// Whether the algorithm is offered by default (MD5, SHA-1-96 and `none` are not).
    pub default_enabled: bool,
    /// The MAC function.
    pub kind: MacKind,
}

impl MacAlgorithm {
    fn keyed(&self, key: &[u8]) -> Result<PacketMac> {
        PacketMac::new(self.kind, key, self.key_len, self.mac_len)
    }
}

/// What a compression method does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CompressionKind {
    /// No compression.
    None,
    /// zlib (RFC 1950/1951) with a sync flush after each packet (RFC 4253 §6.2).
    Zlib,
}

/// A compression method this crate implements.
#[derive(Debug, PartialEq, Eq)]
pub struct CompressionAlgorithm {
    /// The SSH name.
    pub name: &'static str,
    /// What it does.
    pub kind: CompressionKind,
    /// `zlib@openssh.com`: compression starts only after USERAUTH_SUCCESS (the transport
    /// switches it on), so no unauthenticated peer can reach the inflater.
    pub delayed: bool,
    /// Whether offered by default (plain `zlib`, which compresses before authentication, is
    /// not: catalog R03).
    pub default_enabled: bool,
}

const fn cipher(
    name: &'static str,
    key_len: usize,
    iv_len: usize,
    block_len: usize,
    tag_len: usize,
    default_enabled: bool,
    kind: CipherKind,
) -> CipherAlgorithm {
    CipherAlgorithm {
        name,
        key_len,
        iv_len,
        block_len,
        tag_len,
        default_enabled,
        kind,
    }
}

/// Every cipher, the default-enabled ones first in OpenSSH's default preference order.
pub static CIPHERS: &[CipherAlgorithm] = &[
    cipher(
        "chacha20-poly1305@openssh.com",
        chachapoly::KEY_LEN,
        0,
        8,
        chachapoly::TAG_LEN,
        true,
        CipherKind::ChaChaPoly,
    ),
    cipher(
        "aes128-ctr",
        16,
        16,
        16,
        0,
        true,
        CipherKind::Mode(ModeKind::Aes128Ctr),
    ),
    cipher(
        "aes192-ctr",
        24,
        16,
        16,
        0,
        true,
        CipherKind::Mode(ModeKind::Aes192Ctr),
    ),
    cipher(
        "aes256-ctr",
        32,
        16,
        16,
        0,
        true,
        CipherKind::Mode(ModeKind::Aes256Ctr),
    ),
    cipher(
        "aes128-gcm@openssh.com",
        16,
        gcm::IV_LEN,
        16,
        gcm::TAG_LEN,
        true,
        CipherKind::Gcm(GcmKind::Aes128),
    ),
    cipher(
        "aes256-gcm@openssh.com",
        32,
        gcm::IV_LEN,
        16,
        gcm::TAG_LEN,
        true,
        CipherKind::Gcm(GcmKind::Aes256),
    ),
    cipher(
        "aes128-cbc",
        16,
        16,
        16,
        0,
        false,
        CipherKind::Mode(ModeKind::Aes128Cbc),
    ),
    cipher(
        "aes192-cbc",
        24,
        16,
        16,
        0,
        false,
        CipherKind::Mode(ModeKind::Aes192Cbc),
    ),
    cipher(
        "aes256-cbc",
        32,
        16,
        16,
        0,
        false,
        CipherKind::Mode(ModeKind::Aes256Cbc),
    ),
    cipher(
        "3des-cbc",
        24,
        8,
        8,
        0,
        false,
        CipherKind::Mode(ModeKind::TdesCbc),
    ),
    cipher("none", 0, 0, 8, 0, false, CipherKind::Mode(ModeKind::None)),
];

const fn mac(
    name: &'static str,
    kind: MacKind,
    key_len: usize,
    mac_len: usize,
    etm: bool,
    default_enabled: bool,
) -> MacAlgorithm {
    MacAlgorithm {
        name,
        key_len,
        mac_len,
        etm,
        default_enabled,
        kind,
    }
}

/// Every MAC, the default-enabled ones first in OpenSSH's default preference order (OpenSSH
/// 9.x `MACs` default: `umac-64-etm@openssh.com`, `umac-128-etm@openssh.com`,
/// `hmac-sha2-256-etm@openssh.com`, `hmac-sha2-512-etm@openssh.com`,
/// `hmac-sha1-etm@openssh.com`, `umac-64@openssh.com`, `umac-128@openssh.com`,
/// `hmac-sha2-256`, `hmac-sha2-512`, `hmac-sha1`). The UMACs (RFC 4418 with AES-128, 16-byte
/// key) MAC the packet alone, with the sequence number as their nonce.
pub static MACS: &[MacAlgorithm] = &[
    mac("umac-64-etm@openssh.com", MacKind::Umac, 16, 8, true, true),
    mac(
        "umac-128-etm@openssh.com",
        MacKind::Umac,
        16,
        16,
        true,
        true,
    ),
    mac(
        "hmac-sha2-256-etm@openssh.com",
        MacKind::HmacSha256,
        32,
        32,
        true,
        true,
    ),
    mac(
        "hmac-sha2-512-etm@openssh.com",
        MacKind::HmacSha512,
        64,
        64,
        true,
        true,
    ),
    mac(
        "hmac-sha1-etm@openssh.com",
        MacKind::HmacSha1,
        20,
        20,
        true,
        true,
    ),
    mac("umac-64@openssh.com", MacKind::Umac, 16, 8, false, true),
    mac("umac-128@openssh.com", MacKind::Umac, 16, 16, false, true),
    mac("hmac-sha2-256", MacKind::HmacSha256, 32, 32, false, true),
    mac("hmac-sha2-512", MacKind::HmacSha512, 64, 64, false, true),
    mac("hmac-sha1", MacKind::HmacSha1, 20, 20, false, true),
    mac("hmac-sha1-96", MacKind::HmacSha1, 20, 12, false, false),
    mac("hmac-md5", MacKind::HmacMd5, 16, 16, false, false),
    mac(
        "hmac-md5-etm@openssh.com",
        MacKind::HmacMd5,
        16,
        16,
        true,
        false,
    ),
    mac("none", MacKind::None, 0, 0, false, false),
];

/// Every compression method, the default-enabled ones first in default preference order.
pub static COMPRESSIONS: &[CompressionAlgorithm] = &[
    CompressionAlgorithm {
        name: "none",
        kind: CompressionKind::None,
        delayed: false,
        default_enabled: true,
    },
    CompressionAlgorithm {
        name: "zlib@openssh.com",
        kind: CompressionKind::Zlib,
        delayed: true,
        default_enabled: true,
    },
    CompressionAlgorithm {
        name: "zlib",
        kind: CompressionKind::Zlib,
        delayed: false,
        default_enabled: false,
    },
];

/// The cipher called `name`.
#[must_use]
pub fn cipher_by_name(name: &str) -> Option<&'static CipherAlgorithm> {
    CIPHERS.iter().find(|a| a.name == name)
}

/// The MAC called `name`.
#[must_use]
pub fn mac_by_name(name: &str) -> Option<&'static MacAlgorithm> {
    MACS.iter().find(|a| a.name == name)
}

/// The compression method called `name`.
#[must_use]
pub fn compression_by_name(name: &str) -> Option<&'static CompressionAlgorithm> {
    COMPRESSIONS.iter().find(|a| a.name == name)
}

/// The default cipher list, in preference order.
pub fn default_ciphers() -> impl Iterator<Item = &'static CipherAlgorithm> {
    CIPHERS.iter().filter(|a| a.default_enabled)
}

/// The default MAC list, in preference order.
pub fn default_macs() -> impl Iterator<Item = &'static MacAlgorithm> {
    MACS.iter().filter(|a| a.default_enabled)
}

/// The default compression list, in preference order.
pub fn default_compressions() -> impl Iterator<Item = &'static CompressionAlgorithm> {
    COMPRESSIONS.iter().filter(|a| a.default_enabled)
}

/// Builds a sealer from names: the cipher, and the MAC (ignored for AEAD ciphers).
pub fn sealer(cipher: &str, mac: Option<&str>, keys: &Keys<'_>) -> Result<Box<dyn PacketSealer>> {
    let (c, m) = lookup(cipher, mac)?;
    c.sealer(m, keys)
}

/// Builds an opener from names: the cipher, and the MAC (ignored for AEAD ciphers).
pub fn opener(cipher: &str, mac: Option<&str>, keys: &Keys<'_>) -> Result<Box<dyn PacketOpener>> {
    let (c, m) = lookup(cipher, mac)?;
    c.opener(m, keys)
}

fn lookup(
    cipher: &str,
    mac: Option<&str>,
) -> Result<(&'static CipherAlgorithm, Option<&'static MacAlgorithm>)> {
    let c = cipher_by_name(cipher).ok_or_else(|| Error::UnknownAlgorithm(cipher.to_string()))?;
    let m = match mac {
        Some(name) if !c.is_aead() => {
            Some(mac_by_name(name).ok_or_else(|| Error::UnknownAlgorithm(name.to_string()))?)
        }
        _ => None,
    };
    Ok((c, m))
}
