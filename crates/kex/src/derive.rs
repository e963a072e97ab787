//! Key derivation (RFC 4253 §7.2).

use alloc::string::ToString;
use alloc::vec::Vec;

use whelk_cipher::registry::{cipher_by_name, mac_by_name};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::hash::KexHash;
use crate::negotiate::Negotiated;

/// Longest key, IV or MAC key derived (far above any algorithm's need).
pub const MAX_DERIVED_LEN: usize = 1024;

/// How many bytes of each kind one direction needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirectionSizes {
    /// Initial IV length.
    pub iv: usize,
    /// Encryption key length.
    pub key: usize,
    /// Integrity key length (0 for AEAD ciphers).
    pub mac_key: usize,
}

impl DirectionSizes {
    /// The sizes for a cipher and (for non-AEAD ciphers) a MAC from whelk-cipher's
    /// registry.
    pub fn for_algorithms(cipher: &str, mac: Option<&str>) -> Result<Self> {
        let c =
            cipher_by_name(cipher).ok_or_else(|| Error::UnsupportedMethod(cipher.to_string()))?;
        let mac_key = if c.is_aead() {
            0
        } else {
            match mac {
                Some(name) => {
                    mac_by_name(name)
                        .ok_or_else(|| Error::UnsupportedMethod(name.to_string()))?
                        .key_len
                }
                None => 0,
            }
        };
        Ok(Self {
            iv: c.iv_len,
            key: c.key_len,
            mac_key,
        })
    }
}

/// The sizes for both directions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeySizes {
    /// Client to server ("A", "C", "E").
    pub client_to_server: DirectionSizes,
    /// Server to client ("B", "D", "F").
    pub server_to_client: DirectionSizes,
}

impl KeySizes {
    /// The sizes the negotiated ciphers and MACs need.
    pub fn for_negotiated(n: &Negotiated) -> Result<Self> {
        Ok(Self {
            client_to_server: DirectionSizes::for_algorithms(
                &n.cipher_client_to_server,
                n.mac_client_to_server.as_deref(),
            )?,
            server_to_client: DirectionSizes::for_algorithms(
                &n.cipher_server_to_client,
                n.mac_server_to_client.as_deref(),
            )?,
        })
    }
}

/// Keys of one direction, zeroized on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct DirectionKeys {
    /// Initial IV.
    pub iv: Zeroizing<Vec<u8>>,
    /// Encryption key.
    pub key: Zeroizing<Vec<u8>>,
    /// Integrity key.
    pub mac_key: Zeroizing<Vec<u8>>,
}

impl core::fmt::Debug for DirectionKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DirectionKeys")
            .field("iv", &self.iv.len())
            .field("key", &self.key.len())
            .field("mac_key", &self.mac_key.len())
            .finish()
    }
}

impl DirectionKeys {
    /// The keys as whelk-cipher takes them.
    #[must_use]
    pub fn as_cipher_keys(&self) -> whelk_cipher::Keys<'_> {
        whelk_cipher::Keys {
            key: &self.key,
            iv: &self.iv,
            mac_key: &self.mac_key,
        }
    }
}

/// Keys of both directions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// Client to server.
    pub client_to_server: DirectionKeys,
    /// Server to client.
    pub server_to_client: DirectionKeys,
}

/// One key: `K1 = HASH(K || H || letter || session_id)`, `Kn+1 = HASH(K || H || K1 || ... ||
/// Kn)`, truncated to `len`. `k` is `K` in its wire encoding.
pub fn derive_key(
    hash: KexHash,
    k: &[u8],
    h: &[u8],
    letter: u8,
    session_id: &[u8],
    len: usize,
) -> Result<Zeroizing<Vec<u8>>> {
    if len > MAX_DERIVED_LEN {
        return Err(Error::Derive("requested key too long"));
    }
    let mut out = Zeroizing::new(Vec::with_capacity(len + hash.output_len()));
    if len == 0 {
        return Ok(out);
    }
    let mut first = hash.hasher();
    first.update(k);
    first.update(h);
    first.update(&[letter]);
    first.update(session_id);
    out.extend_from_slice(&Zeroizing::new(first.finish()));
    while out.len() < len {
        let mut next = hash.hasher();
        next.update(k);
        next.update(h);
        next.update(&out);
        out.extend_from_slice(&Zeroizing::new(next.finish()));
    }
    out.truncate(len);
    Ok(out)
}

/// Derives both directions' keys: IVs "A"/"B", encryption keys "C"/"D", integrity keys
/// "E"/"F" (RFC 4253 §7.2). `k` is `K` in its wire encoding.
pub fn derive_keys(
    hash: KexHash,
    k: &[u8],
    h: &[u8],
    session_id: &[u8],
    sizes: &KeySizes,
) -> Result<Keys> {
    let c = &sizes.client_to_server;
    let s = &sizes.server_to_client;
    Ok(Keys {
        client_to_server: DirectionKeys {
            iv: derive_key(hash, k, h, b'A', session_id, c.iv)?,
            key: derive_key(hash, k, h, b'C', session_id, c.key)?,
            mac_key: derive_key(hash, k, h, b'E', session_id, c.mac_key)?,
        },
        server_to_client: DirectionKeys {
            iv: derive_key(hash, k, h, b'B', session_id, s.iv)?,
            key: derive_key(hash, k, h, b'D', session_id, s.key)?,
            mac_key: derive_key(hash, k, h, b'F', session_id, s.mac_key)?,
        },
    })
}
