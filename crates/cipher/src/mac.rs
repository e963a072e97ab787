//! HMAC over `uint32 sequence_number || packet` (RFC 4253 §6.4), full or truncated.

use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};

/// The largest MAC output (HMAC-SHA-512).
pub(crate) const MAX_MAC_LEN: usize = 64;

/// Which MAC function an algorithm uses. Room is left for UMAC (RFC 4418 / OpenSSH's
/// `umac-*@openssh.com`): it would be one more variant here and one more row in the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MacKind {
    /// No MAC at all (`none`; RFC 4253 §6.4: OPTIONAL, only when explicitly configured).
    None,
    /// HMAC-SHA-1 (RFC 2104, FIPS 180-4).
    HmacSha1,
    /// HMAC-SHA-256 (RFC 6668).
    HmacSha256,
    /// HMAC-SHA-512 (RFC 6668).
    HmacSha512,
    /// HMAC-MD5 (legacy).
    HmacMd5,
}

/// A keyed MAC. The keyed inner/outer states are computed once; each packet clones them, so
/// the key is hashed once per key exchange rather than once per packet. The HMAC states
/// zeroize themselves on drop (`hmac`'s `zeroize` feature).
#[derive(Clone)]
enum State {
    None,
    Sha1(Hmac<Sha1>),
    Sha256(Hmac<Sha256>),
    Sha512(Hmac<Sha512>),
    Md5(Hmac<Md5>),
}

/// A MAC as used on packets: keyed state and output length (HMAC output may be truncated, as
/// in `hmac-sha1-96`).
#[derive(Clone)]
pub(crate) struct PacketMac {
    state: State,
    len: usize,
}

impl core::fmt::Debug for PacketMac {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PacketMac")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

fn keyed<M: KeyInit>(key: &[u8], expected: usize) -> Result<M> {
    if key.len() != expected {
        return Err(Error::KeyLength {
            what: "MAC key",
            got: key.len(),
            expected,
        });
    }
    // HMAC accepts keys of any length; the check above is the SSH rule (key = hash size).
    M::new_from_slice(key).map_err(|_| Error::KeyLength {
        what: "MAC key",
        got: key.len(),
        expected,
    })
}

fn run<M: Mac + Clone>(keyed: &M, seq: u32, data: &[u8], out: &mut [u8; MAX_MAC_LEN]) {
    let mut m = keyed.clone();
    m.update(&seq.to_be_bytes());
    m.update(data);
    let tag = m.finalize().into_bytes();
    for (o, t) in out.iter_mut().zip(tag.iter()) {
        *o = *t;
    }
}

impl PacketMac {
    /// A MAC of `kind` with output truncated to `len` bytes, keyed with `key` (which must be
    /// `key_len` bytes long).
    pub(crate) fn new(kind: MacKind, key: &[u8], key_len: usize, len: usize) -> Result<Self> {
        let state = match kind {
            MacKind::None => {
                if !key.is_empty() {
                    return Err(Error::KeyLength {
                        what: "MAC key",
                        got: key.len(),
                        expected: 0,
                    });
                }
                State::None
            }
            MacKind::HmacSha1 => State::Sha1(keyed(key, key_len)?),
            MacKind::HmacSha256 => State::Sha256(keyed(key, key_len)?),
            MacKind::HmacSha512 => State::Sha512(keyed(key, key_len)?),
            MacKind::HmacMd5 => State::Md5(keyed(key, key_len)?),
        };
        Ok(Self {
            state,
            len: len.min(MAX_MAC_LEN),
        })
    }

    /// Output length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Computes the MAC of `seq || data` into `out[..self.len()]`.
    pub(crate) fn compute(&self, seq: u32, data: &[u8], out: &mut [u8; MAX_MAC_LEN]) {
        match &self.state {
            State::None => {}
            State::Sha1(k) => run(k, seq, data, out),
            State::Sha256(k) => run(k, seq, data, out),
            State::Sha512(k) => run(k, seq, data, out),
            State::Md5(k) => run(k, seq, data, out),
        }
    }

    /// Checks `received` against the MAC of `seq || data` in constant time.
    pub(crate) fn verify(&self, seq: u32, data: &[u8], received: &[u8]) -> bool {
        let mut expected = [0u8; MAX_MAC_LEN];
        self.compute(seq, data, &mut expected);
        let Some(expected) = expected.get(..self.len) else {
            return false;
        };
        // Lengths are public (fixed per algorithm); the comparison of contents is
        // constant-time.
        expected.len() == received.len() && bool::from(expected.ct_eq(received))
    }
}
