//! Packet MACs: HMAC over `uint32 sequence_number || packet` (RFC 4253 §6.4), full or
//! truncated, and UMAC (RFC 4418) over the packet alone with the sequence number as its
//! nonce (OpenSSH `mac.c`).

use alloc::boxed::Box;

use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};
use crate::umac::{self, Umac};

/// The largest MAC output (HMAC-SHA-512).
pub(crate) const MAX_MAC_LEN: usize = 64;

/// Which MAC function an algorithm uses.
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
    /// UMAC with AES-128 (RFC 4418; OpenSSH's `umac-64@openssh.com` and
    /// `umac-128@openssh.com`): UMAC-64 or UMAC-128 by the MAC length. Unlike HMAC the MAC
    /// input is the packet alone; the nonce is the sequence number as a big-endian `uint64`.
    Umac,
}

/// A keyed MAC. The keyed inner/outer states are computed once; each packet clones them, so
/// the key is hashed once per key exchange rather than once per packet. The HMAC states
/// zeroize themselves on drop (`hmac`'s `zeroize` feature). UMAC's derived keys (about 5 KiB)
/// are computed once here too, boxed so that the HMAC variants stay small, and wiped on drop.
#[derive(Clone)]
enum State {
    None,
    Sha1(Hmac<Sha1>),
    Sha256(Hmac<Sha256>),
    Sha512(Hmac<Sha512>),
    Md5(Hmac<Md5>),
    Umac(Box<Umac>),
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
            MacKind::Umac => {
                let k = <&[u8; umac::KEY_LEN]>::try_from(key)
                    .ok()
                    .filter(|_| key_len == umac::KEY_LEN && (len == 8 || len == 16))
                    .ok_or(Error::KeyLength {
                        what: "MAC key",
                        got: key.len(),
                        expected: umac::KEY_LEN,
                    })?;
                State::Umac(Box::new(Umac::new(k, len)))
            }
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

    /// Computes the MAC of packet `seq`'s `data` into `out[..self.len()]`: HMAC over
    /// `uint32 seq || data`, UMAC over `data` with `uint64 seq` as the nonce.
    pub(crate) fn compute(&self, seq: u32, data: &[u8], out: &mut [u8; MAX_MAC_LEN]) {
        match &self.state {
            State::None => {}
            State::Sha1(k) => run(k, seq, data, out),
            State::Sha256(k) => run(k, seq, data, out),
            State::Sha512(k) => run(k, seq, data, out),
            State::Md5(k) => run(k, seq, data, out),
            State::Umac(u) => {
                let n = u.tag_len();
                u.tag(u64::from(seq), data, out.get_mut(..n).unwrap_or(&mut []));
            }
        }
    }

    /// Checks `received` against the MAC of packet `seq`'s `data` in constant time.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2202 / RFC 4231 test case 2 (key "Jefe", data "what do ya want for nothing?"),
    /// fed through the packet MAC: the first four data bytes are the sequence number.
    fn jefe(kind: MacKind, len: usize) -> String {
        let mac = PacketMac::new(kind, b"Jefe", 4, len).unwrap();
        let mut out = [0u8; MAX_MAC_LEN];
        mac.compute(
            u32::from_be_bytes(*b"what"),
            b" do ya want for nothing?",
            &mut out,
        );
        hex::encode(&out[..len])
    }

    #[test]
    fn hmac_known_answers_rfc2202_rfc4231() {
        assert_eq!(
            jefe(MacKind::HmacSha256, 32),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            jefe(MacKind::HmacSha512, 64),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554\
             9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        );
        assert_eq!(
            jefe(MacKind::HmacSha1, 20),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(
            jefe(MacKind::HmacMd5, 16),
            "750c783e6ab0b503eaa86e310a5db738"
        );
        // hmac-sha1-96 is the first 12 bytes.
        assert_eq!(jefe(MacKind::HmacSha1, 12), "effcdf6ae5eb2fa2d27416d5");
    }

    #[test]
    fn verify_is_exact() {
        let mac = PacketMac::new(MacKind::HmacSha256, &[1; 32], 32, 32).unwrap();
        let mut tag = [0u8; MAX_MAC_LEN];
        mac.compute(9, b"data", &mut tag);
        assert!(mac.verify(9, b"data", &tag[..32]));
        assert!(!mac.verify(10, b"data", &tag[..32]));
        assert!(!mac.verify(9, b"dat", &tag[..32]));
        assert!(!mac.verify(9, b"data", &tag[..31]));
        for i in 0..32 * 8 {
            let mut t = tag;
            t[i / 8] ^= 1 << (i % 8);
            assert!(!mac.verify(9, b"data", &t[..32]));
        }
    }

    #[test]
    fn key_lengths_are_checked() {
        assert!(matches!(
            PacketMac::new(MacKind::HmacSha256, &[0; 31], 32, 32),
            Err(Error::KeyLength {
                got: 31,
                expected: 32,
                ..
            })
        ));
        assert!(PacketMac::new(MacKind::None, &[0; 1], 0, 0).is_err());
        assert!(PacketMac::new(MacKind::None, &[], 0, 0).is_ok());
    }
}
