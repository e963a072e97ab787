//! The `openssh-key-v1` envelope (OpenSSH PROTOCOL.key) read by hand, and its private section
//! normalized so the `ssh-key` crate accepts every key OpenSSH writes.
//!
//! ```text
//! "openssh-key-v1\0"
//! string ciphername, string kdfname, string kdfoptions
//! uint32 number of keys (1)
//! string public key
//! string private section (encrypted unless ciphername is "none")
//! [16-byte tag for aes*-gcm@openssh.com / chacha20-poly1305@openssh.com]
//!
//! private section: uint32 checkint, uint32 checkint, string keytype, key fields...,
//!                  string comment, padding 1, 2, 3, ... to the cipher's block size
//! ```
//!
//! OpenSSH writes an ECDSA private scalar as a minimal RFC 4251 `mpint`: 31 bytes or fewer for
//! one P-256 key in 256. `ssh-key` 0.7 rejects any scalar shorter than 32 bytes, so the
//! scalar is left-padded to the field size here before `ssh-key` sees it.
//!
//! Every length is checked against the input (typed errors, never a panic); decrypted and
//! rebuilt private sections live in [`Zeroizing`] buffers.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use zeroize::Zeroizing;

use crate::algorithm::KeyType;
use crate::error::{Error, Result};
use crate::public::format_err;

const FORMAT: &str = "OpenSSH private key";
const MAGIC: &[u8] = b"openssh-key-v1\0";
/// The PEM label of the format.
const LABEL: &str = "OPENSSH PRIVATE KEY";
/// Length of the AEAD tag that follows the private section for GCM / ChaCha20-Poly1305.
const TAG_LEN: usize = 16;
/// Block size `ssh-key` expects of an unencrypted private section (`none` cipher).
const PLAIN_BLOCK: usize = 8;
/// The largest key file accepted (bytes of PEM text): far above any real key (an RSA-16384
/// key is about 12 KiB), bounding the work a hostile file can cause.
pub(crate) const MAX_FILE_LEN: usize = 256 * 1024;

fn bad(why: &str) -> Error {
    format_err(FORMAT, why)
}

/// A length-checked reader over SSH wire encodings.
struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.rest.len() {
            return Err(bad("truncated field"));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        let arr: [u8; 4] = b.try_into().map_err(|_| bad("truncated field"))?;
        Ok(u32::from_be_bytes(arr))
    }

    fn u8(&mut self) -> Result<u8> {
        let b = self.take(1)?;
        b.first().copied().ok_or_else(|| bad("truncated field"))
    }

    fn string(&mut self) -> Result<&'a [u8]> {
        let len = usize::try_from(self.u32()?).map_err(|_| bad("field too long"))?;
        self.take(len)
    }
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) -> Result<()> {
    let len = u32::try_from(s.len()).map_err(|_| bad("field too long"))?;
    put_u32(out, len);
    out.extend_from_slice(s);
    Ok(())
}

/// The parsed envelope of an `openssh-key-v1` file.
pub(crate) struct Envelope {
    /// `ciphername` (`none` when unencrypted).
    pub(crate) cipher: String,
    /// `kdfname`.
    pub(crate) kdf_name: Vec<u8>,
    /// `kdfoptions` (salt and rounds for bcrypt).
    pub(crate) kdf_options: Vec<u8>,
    /// The public key blob.
    pub(crate) public_key: Vec<u8>,
    /// The private section, still encrypted unless `cipher` is `none`.
    pub(crate) private: Zeroizing<Vec<u8>>,
    /// The AEAD tag after the private section, if any bytes follow it.
    pub(crate) tag: Option<[u8; TAG_LEN]>,
}

impl Envelope {
    /// Decodes the PEM text and parses the envelope.
    pub(crate) fn from_pem(text: &str) -> Result<Self> {
        let text = text.trim_start();
        if text.len() > MAX_FILE_LEN {
            return Err(bad("file too large"));
        }
        let mut decoder = pem_rfc7468::Decoder::new_detect_wrap(text.as_bytes())
            .map_err(|e| bad(&e.to_string()))?;
        if decoder.type_label() != LABEL {
            return Err(bad("not an OPENSSH PRIVATE KEY"));
        }
        let mut bin = Zeroizing::new(Vec::new());
        decoder
            .decode_to_end(&mut bin)
            .map_err(|e| bad(&e.to_string()))?;
        Self::parse(&bin)
    }

    /// Parses the binary envelope.
    pub(crate) fn parse(bin: &[u8]) -> Result<Self> {
        let rest = bin
            .strip_prefix(MAGIC)
            .ok_or_else(|| bad("missing openssh-key-v1 magic"))?;
        let mut r = Cursor { rest };
        let cipher = core::str::from_utf8(r.string()?)
            .map_err(|_| bad("cipher name is not UTF-8"))?
            .to_string();
        let kdf_name = r.string()?.to_vec();
        let kdf_options = r.string()?.to_vec();
        if r.u32()? != 1 {
            return Err(bad("exactly one key per file is supported"));
        }
        let public_key = r.string()?.to_vec();
        let private = Zeroizing::new(r.string()?.to_vec());
        let tag = match r.rest.len() {
            0 => None,
            TAG_LEN => {
                let t: [u8; TAG_LEN] = r.rest.try_into().map_err(|_| bad("bad tag"))?;
                Some(t)
            }
            _ => return Err(bad("trailing data after the private section")),
        };
        Ok(Self {
            cipher,
            kdf_name,
            kdf_options,
            public_key,
            private,
            tag,
        })
    }

    /// Whether the private section is encrypted.
    pub(crate) fn is_encrypted(&self) -> bool {
        self.cipher != "none"
    }

    /// The `kdfname, kdfoptions` pair in wire form (what `ssh_key::Kdf` decodes).
    pub(crate) fn kdf_wire(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        put_string(&mut out, &self.kdf_name)?;
        put_string(&mut out, &self.kdf_options)?;
        Ok(out)
    }
}

/// The unencrypted envelope (cipher and kdf `none`) holding `public_key` and the plain,
/// normalized private section.
pub(crate) fn unencrypted(public_key: &[u8], private: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(Vec::with_capacity(
        MAGIC.len() + 40 + public_key.len() + private.len(),
    ));
    out.extend_from_slice(MAGIC);
    put_string(&mut out, b"none")?;
    put_string(&mut out, b"none")?;
    put_string(&mut out, b"")?;
    put_u32(&mut out, 1);
    put_string(&mut out, public_key)?;
    put_string(&mut out, private)?;
    Ok(out)
}

/// The field size of an ECDSA key type's private scalar (32, 48, 66 bytes).
fn ecdsa_scalar_size(key_type: KeyType) -> Option<usize> {
    match key_type {
        KeyType::EcdsaNistP256 => Some(32),
        KeyType::EcdsaNistP384 => Some(48),
        KeyType::EcdsaNistP521 => Some(66),
        _ => None,
    }
}

/// Rewrites the contents of an ECDSA private scalar `mpint` (RFC 4251 §5) as exactly the
/// curve's field size (32, 48 or 66 bytes, big-endian, left-padded with zeros).
///
/// OpenSSH writes the scalar minimally (so a P-256 scalar whose top byte is zero is 31
/// bytes or fewer), with a `0x00` sign byte when the top bit is set; the `ssh-key` crate
/// only accepts 32 bytes and more. Accepted: 1 to size bytes, or size + 1 bytes starting with
/// `0x00`. Anything else, or a key type that is not ECDSA, is an error.
///
/// Used by the OpenSSH key loader and by whelk-agent for `SSH_AGENTC_ADD_IDENTITY`.
#[doc(hidden)]
pub fn normalize_ecdsa_scalar(key_type: KeyType, mpint: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let size = ecdsa_scalar_size(key_type).ok_or(Error::Invalid {
        what: "ECDSA private key",
        why: "not an ECDSA key type",
    })?;
    let digits = match mpint.split_first() {
        Some((0, rest)) if mpint.len() == size + 1 => rest,
        _ if (1..=size).contains(&mpint.len()) => mpint,
        _ => {
            return Err(Error::Invalid {
                what: "ECDSA private key",
                why: "private scalar has the wrong length",
            });
        }
    };
    let mut out = Zeroizing::new(alloc::vec![0u8; size]);
    let start = size - digits.len();
    out.get_mut(start..)
        .ok_or(Error::Invalid {
            what: "ECDSA private key",
            why: "private scalar has the wrong length",
        })?
        .copy_from_slice(digits);
    Ok(out)
}

/// How one key field of a private section is encoded.
#[derive(Clone, Copy)]
enum Field {
    /// `string` / `mpint`, copied as is.
    Str,
    /// One `byte` (security-key flags).
    Byte,
    /// The ECDSA private scalar, normalized with [`normalize_ecdsa_scalar`].
    Scalar(KeyType),
}

fn fields_of(type_name: &[u8]) -> Option<&'static [Field]> {
    use Field::{Byte, Scalar, Str};
    Some(match type_name {
        b"ssh-ed25519" => &[Str, Str],
        b"ecdsa-sha2-nistp256" => &[Str, Str, Scalar(KeyType::EcdsaNistP256)],
        b"ecdsa-sha2-nistp384" => &[Str, Str, Scalar(KeyType::EcdsaNistP384)],
        b"ecdsa-sha2-nistp521" => &[Str, Str, Scalar(KeyType::EcdsaNistP521)],
        b"ssh-rsa" => &[Str, Str, Str, Str, Str, Str],
        b"ssh-dss" => &[Str, Str, Str, Str, Str],
        b"sk-ecdsa-sha2-nistp256@openssh.com" => &[Str, Str, Str, Byte, Str, Str],
        b"sk-ssh-ed25519@openssh.com" => &[Str, Str, Byte, Str, Str],
        _ => return None,
    })
}

/// Checks and normalizes a decrypted (or plain) private section: the two check-ints must
/// match ([`Error::WrongPassphrase`] otherwise), the padding must be `1, 2, 3, ...` and
/// shorter than `block_size`; the result has its ECDSA scalar at full field size and is
/// re-padded to the `none` cipher's block size of 8.
pub(crate) fn normalize_private(section: &[u8], block_size: usize) -> Result<Zeroizing<Vec<u8>>> {
    let mut r = Cursor { rest: section };
    let check1 = r.u32()?;
    let check2 = r.u32()?;
    if check1 != check2 {
        return Err(Error::WrongPassphrase);
    }
    let mut out = Zeroizing::new(Vec::with_capacity(section.len() + 80));
    put_u32(&mut out, check1);
    put_u32(&mut out, check2);
    let type_name = r.string()?;
    let fields = fields_of(type_name).ok_or_else(|| {
        Error::UnsupportedAlgorithm(String::from_utf8_lossy(type_name).into_owned())
    })?;
    put_string(&mut out, type_name)?;
    for field in fields {
        match field {
            Field::Str => put_string(&mut out, r.string()?)?,
            Field::Byte => out.push(r.u8()?),
            Field::Scalar(kt) => {
                let scalar = normalize_ecdsa_scalar(*kt, r.string()?)?;
                put_string(&mut out, &scalar)?;
            }
        }
    }
    put_string(&mut out, r.string()?)?; // comment
    let padding = r.rest;
    if padding.len() >= block_size.max(PLAIN_BLOCK) {
        return Err(bad("too much padding"));
    }
    if !padding.iter().zip(1u8..).all(|(b, want)| *b == want) {
        return Err(bad("bad padding"));
    }
    let mut pad = 1u8;
    while out.len() % PLAIN_BLOCK != 0 {
        out.push(pad);
        pad = pad.wrapping_add(1);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_lengths() {
        let p256 = KeyType::EcdsaNistP256;
        let full = normalize_ecdsa_scalar(p256, &[7; 32]).unwrap();
        assert_eq!(full.as_slice(), &[7; 32]);
        let short = normalize_ecdsa_scalar(p256, &[1, 2]).unwrap();
        assert_eq!(short.len(), 32);
        assert_eq!(&short[30..], &[1, 2]);
        assert!(short[..30].iter().all(|b| *b == 0));
        let mut signed = vec![0u8];
        signed.extend_from_slice(&[0x80; 32]);
        assert_eq!(
            normalize_ecdsa_scalar(p256, &signed).unwrap().as_slice(),
            &[0x80; 32]
        );
        assert_eq!(
            normalize_ecdsa_scalar(KeyType::EcdsaNistP521, &[1; 40])
                .unwrap()
                .len(),
            66
        );
        assert_eq!(
            normalize_ecdsa_scalar(KeyType::EcdsaNistP384, &[0; 49])
                .unwrap()
                .len(),
            48
        );
        // Empty, too long, a 33rd byte that is not a sign byte, not ECDSA.
        assert!(normalize_ecdsa_scalar(p256, &[]).is_err());
        assert!(normalize_ecdsa_scalar(p256, &[0; 34]).is_err());
        assert!(normalize_ecdsa_scalar(p256, &[1; 33]).is_err());
        assert!(normalize_ecdsa_scalar(KeyType::Ed25519, &[1; 32]).is_err());
    }

    #[test]
    fn hostile_envelopes_are_errors() {
        let mut bin = MAGIC.to_vec();
        for s in [&b"none"[..], b"none", b""] {
            put_string(&mut bin, s).unwrap();
        }
        put_u32(&mut bin, 1);
        put_string(&mut bin, b"pk").unwrap();
        put_string(&mut bin, b"12345678").unwrap();
        assert!(Envelope::parse(&bin).is_ok());
        for cut in 0..bin.len() {
            assert!(Envelope::parse(bin.get(..cut).unwrap()).is_err(), "{cut}");
        }
        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(&[0xff; 8]);
        assert!(Envelope::parse(&huge).is_err());
        let mut trailing = bin.clone();
        trailing.push(0);
        assert!(Envelope::parse(&trailing).is_err());
        let mut two = MAGIC.to_vec();
        for s in [&b"none"[..], b"none", b""] {
            put_string(&mut two, s).unwrap();
        }
        put_u32(&mut two, 2);
        assert!(Envelope::parse(&two).is_err());
    }

    #[test]
    fn private_sections() {
        let mut sec = Vec::new();
        put_u32(&mut sec, 5);
        put_u32(&mut sec, 5);
        put_string(&mut sec, b"ecdsa-sha2-nistp256").unwrap();
        put_string(&mut sec, b"nistp256").unwrap();
        put_string(&mut sec, &[4; 65]).unwrap();
        put_string(&mut sec, &[9; 31]).unwrap();
        put_string(&mut sec, b"c").unwrap();
        sec.extend_from_slice(&[1, 2, 3]);
        let out = normalize_private(&sec, 16).unwrap();
        assert_eq!(out.len() % 8, 0);
        // The scalar grew by one byte, zero-padded on the left.
        let at = 8 + 4 + 19 + 4 + 8 + 4 + 65;
        assert_eq!(out.get(at..at + 5), Some(&[0, 0, 0, 32, 0][..]));
        // Differing check-ints, bad padding, unknown type, truncation.
        let mut bad_check = sec.clone();
        bad_check[3] = 6;
        assert_eq!(
            normalize_private(&bad_check, 16).unwrap_err(),
            Error::WrongPassphrase
        );
        let mut bad_pad = sec.clone();
        bad_pad.push(5);
        assert!(normalize_private(&bad_pad, 16).is_err());
        let mut long_pad = sec.clone();
        long_pad.extend(4..=16);
        assert!(normalize_private(&long_pad, 16).is_err());
        let mut unknown = Vec::new();
        put_u32(&mut unknown, 0);
        put_u32(&mut unknown, 0);
        put_string(&mut unknown, b"x-unknown").unwrap();
        assert!(matches!(
            normalize_private(&unknown, 8),
            Err(Error::UnsupportedAlgorithm(_))
        ));
        for cut in 0..sec.len() - 3 {
            assert!(normalize_private(&sec[..cut], 16).is_err(), "{cut}");
        }
    }
}
