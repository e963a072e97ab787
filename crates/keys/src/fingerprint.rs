//! Key fingerprints (`SHA256:` + unpadded base64, `MD5:` + colon hex) and the OpenSSH
//! "random art" picture.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use md5::Md5;
use sha2::{Digest, Sha256};

/// The hash a fingerprint is computed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HashAlg {
    /// SHA-256 (OpenSSH's default since 6.8).
    #[default]
    Sha256,
    /// MD5 (the legacy colon-hex form).
    Md5,
}

impl HashAlg {
    /// The name OpenSSH prints (`SHA256`, `MD5`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA256",
            Self::Md5 => "MD5",
        }
    }
}

/// A key fingerprint: a hash of the public key blob.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    alg: HashAlg,
    digest: Vec<u8>,
}

impl Fingerprint {
    /// The fingerprint of a public key blob.
    #[must_use]
    pub fn of_blob(alg: HashAlg, blob: &[u8]) -> Self {
        let digest = match alg {
            HashAlg::Sha256 => Sha256::digest(blob).to_vec(),
            HashAlg::Md5 => Md5::digest(blob).to_vec(),
        };
        Self { alg, digest }
    }

    /// The hash algorithm.
    #[must_use]
    pub const fn alg(&self) -> HashAlg {
        self.alg
    }

    /// The raw digest.
    #[must_use]
    pub fn digest(&self) -> &[u8] {
        &self.digest
    }

    /// Parses the printed form (`SHA256:...` or `MD5:aa:bb:...`).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        if let Some(b64) = s.strip_prefix("SHA256:") {
            use base64ct::Encoding;
            let digest = base64ct::Base64Unpadded::decode_vec(b64).ok()?;
            (digest.len() == 32).then_some(Self {
                alg: HashAlg::Sha256,
                digest,
            })
        } else {
            let hexs = s.strip_prefix("MD5:")?;
            let mut digest = Vec::with_capacity(16);
            for part in hexs.split(':') {
                if part.len() != 2 {
                    return None;
                }
                digest.push(u8::from_str_radix(part, 16).ok()?);
            }
            (digest.len() == 16).then_some(Self {
                alg: HashAlg::Md5,
                digest,
            })
        }
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.alg {
            HashAlg::Sha256 => {
                f.write_str("SHA256:")?;
                f.write_str(
                    &<base64ct::Base64Unpadded as base64ct::Encoding>::encode_string(&self.digest),
                )
            }
            HashAlg::Md5 => {
                f.write_str("MD5:")?;
                for (i, b) in self.digest.iter().enumerate() {
                    if i > 0 {
                        f.write_str(":")?;
                    }
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }
    }
}

const FLDSIZE_X: usize = 17;
const FLDSIZE_Y: usize = 9;
const AUGMENT: &[u8] = b" .o+=*BOX@%&#/^SE";

/// Draws the "drunken bishop" picture exactly as OpenSSH's `fingerprint_randomart()`
/// (sshkey.c) does, for a key of type `short_type` (`ED25519`, `RSA`...) and `bits` bits.
#[must_use]
pub fn randomart(fp: &Fingerprint, short_type: &str, bits: u32) -> String {
    let len = AUGMENT.len() - 1;
    let mut field = [[0usize; FLDSIZE_Y]; FLDSIZE_X];
    let mut x = FLDSIZE_X / 2;
    let mut y = FLDSIZE_Y / 2;
    for &byte in fp.digest() {
        let mut input = byte;
        for _ in 0..4 {
            x = if input & 1 != 0 {
                (x + 1).min(FLDSIZE_X - 1)
            } else {
                x.saturating_sub(1)
            };
            y = if input & 2 != 0 {
                (y + 1).min(FLDSIZE_Y - 1)
            } else {
                y.saturating_sub(1)
            };
            if let Some(cell) = field.get_mut(x).and_then(|c| c.get_mut(y))
                && *cell < len - 2
            {
                *cell += 1;
            }
            input >>= 2;
        }
    }
    if let Some(c) = field
        .get_mut(FLDSIZE_X / 2)
        .and_then(|c| c.get_mut(FLDSIZE_Y / 2))
    {
        *c = len - 1;
    }
    if let Some(c) = field.get_mut(x).and_then(|c| c.get_mut(y)) {
        *c = len;
    }

    // The C code formats into char[FLDSIZE_X] buffers: at most 16 characters survive.
    let mut title = alloc::format!("[{short_type} {bits}]");
    if title.len() > FLDSIZE_X {
        title = alloc::format!("[{short_type}]");
    }
    title.truncate(FLDSIZE_X - 1);
    let mut hash = alloc::format!("[{}]", fp.alg().name());
    hash.truncate(FLDSIZE_X - 1);

    let mut out = String::new();
    border(&mut out, &title);
    for yy in 0..FLDSIZE_Y {
        out.push('|');
        for col in &field {
            let v = col.get(yy).copied().unwrap_or(0).min(len);
            out.push(char::from(AUGMENT.get(v).copied().unwrap_or(b' ')));
        }
        out.push_str("|\n");
    }
    border(&mut out, &hash);
    // Like OpenSSH, no newline after the last line.
    out.pop();
    out
}

fn border(out: &mut String, label: &str) {
    out.push('+');
    let pad = (FLDSIZE_X - label.len()) / 2;
    for _ in 0..pad {
        out.push('-');
    }
    out.push_str(label);
    for _ in pad + label.len()..FLDSIZE_X {
        out.push('-');
    }
    out.push('+');
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trip() {
        let fp = Fingerprint::of_blob(HashAlg::Sha256, b"abc");
        assert_eq!(Fingerprint::parse(&fp.to_string()), Some(fp));
        let fp = Fingerprint::of_blob(HashAlg::Md5, b"abc");
        let s = fp.to_string();
        assert!(s.starts_with("MD5:") && s.len() == 4 + 47);
        assert_eq!(Fingerprint::parse(&s), Some(fp));
        assert_eq!(Fingerprint::parse("SHA256:!!"), None);
    }
}
