//! The `openssh-key-v1` private key format (OpenSSH PROTOCOL.key), unencrypted or encrypted
//! with bcrypt-pbkdf + `aes256-ctr` (and `aes256-gcm@openssh.com`, ... on import), built on
//! the `ssh-key` crate.
//!
//! Loading reads the envelope here (`envelope`), decrypts with `ssh-key`'s KDF and cipher,
//! checks the check-ints, and widens an ECDSA private scalar that OpenSSH wrote as a short
//! minimal `mpint` (one P-256 key in 256) to the field size before `ssh-key` decodes the
//! key, which would otherwise reject it.

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

mod envelope;

use envelope::Envelope;
#[doc(hidden)]
pub use envelope::normalize_ecdsa_scalar;

/// The plain private section of an unencrypted file, normalized, wrapped again as an
/// unencrypted envelope and parsed by `ssh-key`.
fn parse_plain(env: &Envelope, section: &[u8], block_size: usize) -> Result<ssh_key::PrivateKey> {
    let normalized = envelope::normalize_private(section, block_size)?;
    let bin = envelope::unencrypted(&env.public_key, &normalized)?;
    ssh_key::PrivateKey::from_bytes(&bin).map_err(|e| format_err(FORMAT, &e.to_string()))
}

/// Loads an unencrypted file (check-int mismatch is a format error here, not a passphrase one).
fn parse_unencrypted(env: &Envelope) -> Result<ssh_key::PrivateKey> {
    if env.kdf_name != b"none" || !env.kdf_options.is_empty() || env.tag.is_some() {
        return Err(format_err(FORMAT, "unencrypted key with a KDF or tag"));
    }
    parse_plain(env, &env.private, 8).map_err(|e| match e {
        Error::WrongPassphrase => format_err(FORMAT, "check-ints differ"),
        other => other,
    })
}

/// Decrypts the private section with `passphrase` (bcrypt-pbkdf rounds capped at
/// `max_rounds`), checks the check-ints and parses the result.
fn parse_encrypted(
    env: &Envelope,
    passphrase: &[u8],
    max_rounds: u32,
) -> Result<ssh_key::PrivateKey> {
    use ssh_key::encoding::Decode;
    let unsupported = || Error::UnsupportedAlgorithm(env.cipher.clone());
    let cipher = ssh_key::Cipher::new(&env.cipher).map_err(|_| unsupported())?;
    let kdf_wire = env.kdf_wire()?;
    let kdf = ssh_key::Kdf::decode(&mut kdf_wire.as_slice()).map_err(|e| {
        if env.kdf_name == b"bcrypt" {
            format_err(FORMAT, &e.to_string())
        } else {
            Error::UnsupportedAlgorithm(String::from_utf8_lossy(&env.kdf_name).into_owned())
        }
    })?;
    match &kdf {
        ssh_key::Kdf::Bcrypt { rounds, .. } => {
            if *rounds > max_rounds || *rounds == 0 {
                return Err(Error::KdfRoundsTooHigh {
                    rounds: *rounds,
                    max: max_rounds,
                });
            }
        }
        _ => return Err(format_err(FORMAT, "encrypted key without a KDF")),
    }
    let (key, iv) = kdf
        .derive_key_and_iv(cipher, passphrase)
        .map_err(|e| match e {
            // bcrypt-pbkdf refuses an empty passphrase: it cannot be the right one.
            ssh_key::Error::Crypto => Error::WrongPassphrase,
            _ => unsupported(),
        })?;
    let tag = match (cipher.has_tag(), env.tag) {
        (true, Some(t)) => Some(t.into()),
        (false, None) => None,
        (true, None) => return Err(format_err(FORMAT, "missing authentication tag")),
        (false, Some(_)) => {
            return Err(format_err(
                FORMAT,
                "trailing data after the private section",
            ));
        }
    };
    let mut buffer = Zeroizing::new(env.private.to_vec());
    cipher
        .decrypt(&key, &iv, &mut buffer, tag)
        .map_err(|e| match e {
            ssh_key::cipher::Error::Crypto => Error::WrongPassphrase,
            ssh_key::cipher::Error::UnsupportedCipher(_) => unsupported(),
            other => format_err(FORMAT, &other.to_string()),
        })?;
    parse_plain(env, &buffer, cipher.block_size())
}

/// Whether an OpenSSH private key file is encrypted (needs a passphrase).
pub fn is_encrypted(text: &str) -> Result<bool> {
    Ok(Envelope::from_pem(text)?.is_encrypted())
}

/// The public key of an OpenSSH private key file, which is stored unencrypted: readable
/// without the passphrase. For an unencrypted file the private section is checked too.
pub fn public_key(text: &str) -> Result<PublicKey> {
    let env = Envelope::from_pem(text)?;
    if !env.is_encrypted() {
        parse_unencrypted(&env)?;
    }
    PublicKey::from_blob(&env.public_key)
}

impl PrivateKey {
    /// Loads an OpenSSH (`-----BEGIN OPENSSH PRIVATE KEY-----`) private key. An encrypted
    /// key needs `passphrase`; a wrong one is [`Error::WrongPassphrase`]. The bcrypt-pbkdf
    /// work factor is capped at [`DEFAULT_MAX_KDF_ROUNDS`].
    ///
    /// ECDSA private scalars are accepted in OpenSSH's minimal `mpint` form (a P-256
    /// scalar whose top byte is zero is 31 bytes or fewer).
    pub fn from_openssh(text: &str, passphrase: Option<&[u8]>) -> Result<Self> {
        Self::from_openssh_with_limit(text, passphrase, DEFAULT_MAX_KDF_ROUNDS)
    }

    /// [`PrivateKey::from_openssh`] with an explicit bcrypt-pbkdf rounds limit.
    pub fn from_openssh_with_limit(
        text: &str,
        passphrase: Option<&[u8]>,
        max_rounds: u32,
    ) -> Result<Self> {
        let env = Envelope::from_pem(text)?;
        if !env.is_encrypted() {
            return Self::from_ssh_key(&parse_unencrypted(&env)?);
        }
        let passphrase = passphrase.ok_or(Error::PassphraseRequired)?;
        Self::from_ssh_key(&parse_encrypted(&env, passphrase, max_rounds)?)
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
