//! The `openssh-key-v1` private key format (OpenSSH PROTOCOL.key), unencrypted or encrypted
//! with bcrypt-pbkdf + `aes256-ctr` (and `aes256-gcm@openssh.com`, ... on import), built on
//! the `ssh-key` crate.

use alloc::string::{String, ToString};
use alloc::vec;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::private::PrivateKey;
use crate::public::{PublicKey, format_err};

/// `ssh-keygen`'s default bcrypt-pbkdf work factor (`-a`).
pub const DEFAULT_KDF_ROUNDS: u32 = 16;
/// The largest bcrypt-pbkdf work factor whelk accepts when loading a key unless told
/// otherwise (catalog R05: bound the CPU a file can make us spend).
pub const DEFAULT_MAX_KDF_ROUNDS: u32 = 1024;

const FORMAT: &str = "OpenSSH private key";

fn parse(text: &str) -> Result<ssh_key::PrivateKey> {
    ssh_key::PrivateKey::from_openssh(text.trim_start())
        .map_err(|e| format_err(FORMAT, &e.to_string()))
}

/// Whether an OpenSSH private key file is encrypted (needs a passphrase).
pub fn is_encrypted(text: &str) -> Result<bool> {
    Ok(parse(text)?.is_encrypted())
}

/// The public key of an OpenSSH private key file, which is stored unencrypted: readable
/// without the passphrase.
pub fn public_key(text: &str) -> Result<PublicKey> {
    let key = parse(text)?;
    let blob = key
        .public_key()
        .to_bytes()
        .map_err(|e| format_err(FORMAT, &e.to_string()))?;
    PublicKey::from_blob(&blob)
}

impl PrivateKey {
    /// Loads an OpenSSH (`-----BEGIN OPENSSH PRIVATE KEY-----`) private key. An encrypted
    /// key needs `passphrase`; a wrong one is [`Error::WrongPassphrase`]. The bcrypt-pbkdf
    /// work factor is capped at [`DEFAULT_MAX_KDF_ROUNDS`].
    pub fn from_openssh(text: &str, passphrase: Option<&[u8]>) -> Result<Self> {
        Self::from_openssh_with_limit(text, passphrase, DEFAULT_MAX_KDF_ROUNDS)
    }

    /// [`PrivateKey::from_openssh`] with an explicit bcrypt-pbkdf rounds limit.
    pub fn from_openssh_with_limit(
        text: &str,
        passphrase: Option<&[u8]>,
        max_rounds: u32,
    ) -> Result<Self> {
        let key = parse(text)?;
        if !key.is_encrypted() {
            return Self::from_ssh_key(&key);
        }
        let passphrase = passphrase.ok_or(Error::PassphraseRequired)?;
        if let ssh_key::Kdf::Bcrypt { rounds, .. } = key.kdf()
            && (*rounds > max_rounds || *rounds == 0)
        {
            return Err(Error::KdfRoundsTooHigh {
                rounds: *rounds,
                max: max_rounds,
            });
        }
        let decrypted = key.decrypt(passphrase).map_err(|e| match e {
            ssh_key::Error::Crypto | ssh_key::Error::Encoding(_) => Error::WrongPassphrase,
            ssh_key::Error::AlgorithmUnknown | ssh_key::Error::AlgorithmUnsupported { .. } => {
                Error::UnsupportedAlgorithm(key.cipher().as_str().to_string())
            }
            other => format_err(FORMAT, &other.to_string()),
        })?;
        Self::from_ssh_key(&decrypted)
    }

    /// Writes the key in the unencrypted OpenSSH format (what `ssh-keygen -N ''` writes),
    /// with LF line endings.
    pub fn to_openssh(&self) -> Result<Zeroizing<String>> {
        self.to_ssh_key()?
            .to_openssh(ssh_key::LineEnding::LF)
            .map_err(|e| format_err(FORMAT, &e.to_string()))
    }

    /// Writes the key encrypted with bcrypt-pbkdf (`rounds`, 16-byte salt) and
    /// `aes256-ctr`, as `ssh-keygen` does (default rounds: [`DEFAULT_KDF_ROUNDS`]).
    pub fn to_openssh_encrypted<R: CryptoRng + ?Sized>(
        &self,
        passphrase: &[u8],
        rounds: u32,
        rng: &mut R,
    ) -> Result<Zeroizing<String>> {
        if rounds == 0 {
            return Err(Error::KeyGen("bcrypt-pbkdf rounds must be at least 1"));
        }
        let mut salt = vec![0u8; 16];
        rng.fill_bytes(&mut salt);
        let checkint = rng.next_u32();
        let kdf = ssh_key::Kdf::Bcrypt { salt, rounds };
        self.to_ssh_key()?
            .encrypt_with(ssh_key::Cipher::Aes256Ctr, kdf, checkint, passphrase)
            .map_err(|e| format_err(FORMAT, &e.to_string()))?
            .to_openssh(ssh_key::LineEnding::LF)
            .map_err(|e| format_err(FORMAT, &e.to_string()))
    }
}
