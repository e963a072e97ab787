//! Stream and block cipher modes whose state runs on across packets: AES-CTR (RFC 4344: the
//! counter is never reset between packets) and CBC (RFC 4253 §6.3: the last ciphertext
//! block of one packet is the IV of the next).

use aes::{Aes128, Aes192, Aes256};
use alloc::boxed::Box;

use ctr::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, StreamCipher, array::Array};
use des::TdesEde3;

use crate::error::{Error, Result};

type Ctr<C> = ctr::Ctr128BE<C>;

/// Which cipher (and mode) a non-AEAD algorithm uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ModeKind {
    /// No encryption (`none`).
    None,
    /// AES-128 in counter mode (RFC 4344).
    Aes128Ctr,
    /// AES-192 in counter mode (RFC 4344).
    Aes192Ctr,
    /// AES-256 in counter mode (RFC 4344).
    Aes256Ctr,
    /// AES-128 in CBC mode (RFC 4253).
    Aes128Cbc,
    /// AES-192 in CBC mode (RFC 4253).
    Aes192Cbc,
    /// AES-256 in CBC mode (RFC 4253).
    Aes256Cbc,
    /// Three-key triple DES (EDE) in CBC mode (RFC 4253).
    TdesCbc,
}

impl ModeKind {
    /// Whether this is a CBC mode (catalog P07 applies).
    pub(crate) fn is_cbc(self) -> bool {
        matches!(
            self,
            Self::Aes128Cbc | Self::Aes192Cbc | Self::Aes256Cbc | Self::TdesCbc
        )
    }
}

fn check(what: &'static str, got: &[u8], expected: usize) -> Result<()> {
    if got.len() == expected {
        Ok(())
    } else {
        Err(Error::KeyLength {
            what,
            got: got.len(),
            expected,
        })
    }
}

fn init<C: KeyIvInit>(key: &[u8], iv: &[u8]) -> Result<C> {
    check("cipher key", key, C::key_size())?;
    check("cipher IV", iv, C::iv_size())?;
    C::new_from_slices(key, iv).map_err(|_| Error::KeyLength {
        what: "cipher key",
        got: key.len(),
        expected: C::key_size(),
    })
}

/// Encrypts `data` (a whole number of blocks) with a CBC encryptor. Any trailing partial block
/// is left alone; callers only pass aligned data.
fn cbc_encrypt<C: BlockModeEncrypt>(c: &mut C, data: &mut [u8]) {
    let (blocks, _rest) = Array::slice_as_chunks_mut(data);
    c.encrypt_blocks(blocks);
}

fn cbc_decrypt<C: BlockModeDecrypt>(c: &mut C, data: &mut [u8]) {
    let (blocks, _rest) = Array::slice_as_chunks_mut(data);
    c.decrypt_blocks(blocks);
}

/// Encryption state. Key schedules zeroize on drop (`zeroize` features of `aes`, `des`,
/// `ctr`, `cbc`).
pub(crate) enum Encryptor {
    None,
    Aes128Ctr(Box<Ctr<Aes128>>),
    Aes192Ctr(Box<Ctr<Aes192>>),
    Aes256Ctr(Box<Ctr<Aes256>>),
    Aes128Cbc(Box<cbc::Encryptor<Aes128>>),
    Aes192Cbc(Box<cbc::Encryptor<Aes192>>),
    Aes256Cbc(Box<cbc::Encryptor<Aes256>>),
    TdesCbc(Box<cbc::Encryptor<TdesEde3>>),
}

/// Decryption state.
pub(crate) enum Decryptor {
    None,
    Aes128Ctr(Box<Ctr<Aes128>>),
    Aes192Ctr(Box<Ctr<Aes192>>),
    Aes256Ctr(Box<Ctr<Aes256>>),
    Aes128Cbc(Box<cbc::Decryptor<Aes128>>),
    Aes192Cbc(Box<cbc::Decryptor<Aes192>>),
    Aes256Cbc(Box<cbc::Decryptor<Aes256>>),
    TdesCbc(Box<cbc::Decryptor<TdesEde3>>),
}

impl Encryptor {
    pub(crate) fn new(kind: ModeKind, key: &[u8], iv: &[u8]) -> Result<Self> {
        Ok(match kind {
            ModeKind::None => {
                check("cipher key", key, 0)?;
                check("cipher IV", iv, 0)?;
                Self::None
            }
            ModeKind::Aes128Ctr => Self::Aes128Ctr(Box::new(init(key, iv)?)),
            ModeKind::Aes192Ctr => Self::Aes192Ctr(Box::new(init(key, iv)?)),
            ModeKind::Aes256Ctr => Self::Aes256Ctr(Box::new(init(key, iv)?)),
            ModeKind::Aes128Cbc => Self::Aes128Cbc(Box::new(init(key, iv)?)),
            ModeKind::Aes192Cbc => Self::Aes192Cbc(Box::new(init(key, iv)?)),
            ModeKind::Aes256Cbc => Self::Aes256Cbc(Box::new(init(key, iv)?)),
            ModeKind::TdesCbc => Self::TdesCbc(Box::new(init(key, iv)?)),
        })
    }

    /// Encrypts `data` in place; for CBC `data` must be a whole number of blocks.
    pub(crate) fn apply(&mut self, data: &mut [u8]) {
        match self {
            Self::None => {}
            Self::Aes128Ctr(c) => c.apply_keystream(data),
            Self::Aes192Ctr(c) => c.apply_keystream(data),
            Self::Aes256Ctr(c) => c.apply_keystream(data),
            Self::Aes128Cbc(c) => cbc_encrypt(c.as_mut(), data),
            Self::Aes192Cbc(c) => cbc_encrypt(c.as_mut(), data),
            Self::Aes256Cbc(c) => cbc_encrypt(c.as_mut(), data),
            Self::TdesCbc(c) => cbc_encrypt(c.as_mut(), data),
        }
    }
}

impl Decryptor {
    pub(crate) fn new(kind: ModeKind, key: &[u8], iv: &[u8]) -> Result<Self> {
        Ok(match kind {
            ModeKind::None => {
                check("cipher key", key, 0)?;
                check("cipher IV", iv, 0)?;
                Self::None
            }
            ModeKind::Aes128Ctr => Self::Aes128Ctr(Box::new(init(key, iv)?)),
            ModeKind::Aes192Ctr => Self::Aes192Ctr(Box::new(init(key, iv)?)),
            ModeKind::Aes256Ctr => Self::Aes256Ctr(Box::new(init(key, iv)?)),
            ModeKind::Aes128Cbc => Self::Aes128Cbc(Box::new(init(key, iv)?)),
            ModeKind::Aes192Cbc => Self::Aes192Cbc(Box::new(init(key, iv)?)),
            ModeKind::Aes256Cbc => Self::Aes256Cbc(Box::new(init(key, iv)?)),
            ModeKind::TdesCbc => Self::TdesCbc(Box::new(init(key, iv)?)),
        })
    }

    /// Decrypts `data` in place; for CBC `data` must be a whole number of blocks.
    pub(crate) fn apply(&mut self, data: &mut [u8]) {
        match self {
            Self::None => {}
            Self::Aes128Ctr(c) => c.apply_keystream(data),
            Self::Aes192Ctr(c) => c.apply_keystream(data),
            Self::Aes256Ctr(c) => c.apply_keystream(data),
            Self::Aes128Cbc(c) => cbc_decrypt(c.as_mut(), data),
            Self::Aes192Cbc(c) => cbc_decrypt(c.as_mut(), data),
            Self::Aes256Cbc(c) => cbc_decrypt(c.as_mut(), data),
            Self::TdesCbc(c) => cbc_decrypt(c.as_mut(), data),
        }
    }
}
