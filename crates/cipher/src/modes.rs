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

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    /// NIST SP 800-38A appendix F plaintext (four blocks).
    const PLAIN: &str = "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51 \
                         30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710";
    const K128: &str = "2b7e151628aed2a6abf7158809cf4f3c";
    const K192: &str = "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b";
    const K256: &str = "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4";
    const CTR_IV: &str = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
    const CBC_IV: &str = "000102030405060708090a0b0c0d0e0f";

    /// Encrypts in two calls (1 block, then 3) to exercise the state carried between packets,
    /// and decrypts back.
    fn check(kind: ModeKind, key: &str, iv: &str, expected: &str) {
        let (key, iv, plain, expected) = (h(key), h(iv), h(PLAIN), h(expected));
        let mut enc = Encryptor::new(kind, &key, &iv).unwrap();
        let mut data = plain.clone();
        let (a, b) = data.split_at_mut(16);
        enc.apply(a);
        enc.apply(b);
        assert_eq!(hex::encode(&data), hex::encode(&expected), "{kind:?}");
        let mut dec = Decryptor::new(kind, &key, &iv).unwrap();
        let (a, b) = data.split_at_mut(32);
        dec.apply(a);
        dec.apply(b);
        assert_eq!(data, plain, "{kind:?}");
    }

    #[test]
    fn aes_ctr_sp800_38a_f5() {
        check(
            ModeKind::Aes128Ctr,
            K128,
            CTR_IV,
            "874d6191b620e3261bef6864990db6ce 9806f66b7970fdff8617187bb9fffdff \
             5ae4df3edbd5d35e5b4f09020db03eab 1e031dda2fbe03d1792170a0f3009cee",
        );
        check(
            ModeKind::Aes192Ctr,
            K192,
            CTR_IV,
            "1abc932417521ca24f2b0459fe7e6e0b 090339ec0aa6faefd5ccc2c6f4ce8e94 \
             1e36b26bd1ebc670d1bd1d665620abf7 4f78a7f6d29809585a97daec58c6b050",
        );
        check(
            ModeKind::Aes256Ctr,
            K256,
            CTR_IV,
            "601ec313775789a5b7a7f504bbf3d228 f443e3ca4d62b59aca84e990cacaf5c5 \
             2b0930daa23de94ce87017ba2d84988d dfc9c58db67aada613c2dd08457941a6",
        );
    }

    #[test]
    fn aes_cbc_sp800_38a_f2() {
        check(
            ModeKind::Aes128Cbc,
            K128,
            CBC_IV,
            "7649abac8119b246cee98e9b12e9197d 5086cb9b507219ee95db113a917678b2 \
             73bed6b8e3c1743b7116e69e22229516 3ff1caa1681fac09120eca307586e1a7",
        );
        check(
            ModeKind::Aes192Cbc,
            K192,
            CBC_IV,
            "4f021db243bc633d7178183a9fa071e8 b4d9ada9ad7dedf4e5e738763f69145a \
             571b242012fb7ae07fa9baac3df102e0 08b0e27988598881d920a9e64f5615cd",
        );
        check(
            ModeKind::Aes256Cbc,
            K256,
            CBC_IV,
            "f58c4c04d6e5f1ba779eabfb5f7bfbd6 9cfc4e967edb808d679f777bc6702c7d \
             39f23369a9d9bacfa530e26304231461 b2eb05e2c39be9fcda6c19078c6a9d1b",
        );
    }

    /// NIST SP 800-67 appendix B example: with a zero IV the first CBC block is the ECB one.
    #[test]
    fn tdes_sp800_67_first_block() {
        let key = h("0123456789abcdef 23456789abcdef01 456789abcdef0123");
        let mut enc = Encryptor::new(ModeKind::TdesCbc, &key, &[0; 8]).unwrap();
        let mut block = *b"The qufc";
        enc.apply(&mut block);
        assert_eq!(hex::encode(block), "a826fd8ce53b855f");
        let mut dec = Decryptor::new(ModeKind::TdesCbc, &key, &[0; 8]).unwrap();
        dec.apply(&mut block);
        assert_eq!(&block, b"The qufc");
    }

    #[test]
    fn key_and_iv_lengths_are_checked() {
        assert!(Encryptor::new(ModeKind::Aes128Ctr, &[0; 15], &[0; 16]).is_err());
        assert!(Encryptor::new(ModeKind::Aes128Ctr, &[0; 16], &[0; 12]).is_err());
        assert!(Decryptor::new(ModeKind::TdesCbc, &[0; 24], &[0; 16]).is_err());
        assert!(Decryptor::new(ModeKind::None, &[0; 1], &[]).is_err());
    }
}
