//! Private keys as the agent protocol carries them (`SSH_AGENTC_ADD_IDENTITY`): the key type
//! name, then the type's public and private fields (the same order as inside an
//! `openssh-key-v1` file), or for a certificate the certificate blob followed by the private
//! fields only.
//!
//! Decoding reads the fields with [`Reader`] (every length checked against the message),
//! rebuilds the plain private encoding in a zeroizing buffer and hands it to the `ssh-key`
//! crate's decoder, then crosses into [`PrivateKey`] through its OpenSSH form, which checks
//! that the public half matches the private half (for a certificate: that the certificate's
//! key is this private key's). Every intermediate copy of secret bytes is zeroized.

use bytes::Bytes;
use ssh_key::encoding::{Decode, Encode};
use whelk_keys::cert::Certificate;
use whelk_keys::openssh::normalize_ecdsa_scalar;
use whelk_keys::{KeyType, PrivateKey};
use whelk_wire::types::{PutSsh, Reader};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

const CERT_SUFFIX: &str = "-cert-v01@openssh.com";

/// Reads one private key (and its certificate, for a `*-cert-v01@openssh.com` type) from `r`.
pub(crate) fn read_private(r: &mut Reader<'_>) -> Result<(PrivateKey, Option<Certificate>)> {
    let type_name = r.string_slice()?;
    let type_str = core::str::from_utf8(type_name)
        .map_err(|_| Error::UnsupportedKeyType(String::from("(not UTF-8)")))?;
    let mut plain = Zeroizing::new(Vec::new());
    let mut certificate = None;
    if type_str.ends_with(CERT_SUFFIX) {
        let cert = Certificate::from_blob(r.string_slice()?)?;
        let kt = cert.key_type();
        // The public fields come from the certified key's blob (RSA's blob order is e, n;
        // the private encoding's is n, e).
        let blob = Bytes::copy_from_slice(cert.public_key().blob());
        let mut pr = Reader::new(&blob, "certified key");
        let plain_name = pr.string_slice()?;
        plain.put_ssh_string(plain_name);
        match kt {
            KeyType::Ed25519 => {
                plain.put_ssh_string(pr.string_slice()?);
                let _public_again = r.string_slice()?;
                plain.put_ssh_string(r.string_slice()?);
            }
            KeyType::EcdsaNistP256 | KeyType::EcdsaNistP384 | KeyType::EcdsaNistP521 => {
                plain.put_ssh_string(pr.string_slice()?);
                plain.put_ssh_string(pr.string_slice()?);
                plain.put_ssh_string(&normalize_ecdsa_scalar(kt, r.string_slice()?)?);
            }
            KeyType::Rsa => {
                let e = pr.string_slice()?;
                let n = pr.string_slice()?;
                plain.put_ssh_string(n);
                plain.put_ssh_string(e);
                for _ in 0..4 {
                    plain.put_ssh_string(r.string_slice()?);
                }
            }
            other => return Err(Error::UnsupportedKeyType(String::from(other.cert_name()))),
        }
        pr.finish()?;
        certificate = Some(cert);
    } else {
        plain.put_ssh_string(type_name);
        let kt = KeyType::from_name(type_str);
        let fields = match kt {
            Some(KeyType::Ed25519) => 2,
            Some(KeyType::EcdsaNistP256 | KeyType::EcdsaNistP384 | KeyType::EcdsaNistP521) => 3,
            Some(KeyType::Rsa) => 6,
            _ => return Err(Error::UnsupportedKeyType(String::from(type_str))),
        };
        for _ in 1..fields {
            plain.put_ssh_string(r.string_slice()?);
        }
        let last = r.string_slice()?;
        match kt {
            // ssh-add sends the scalar as a minimal mpint (31 bytes or fewer for one P-256
            // key in 256); ssh-key wants the field size.
            Some(
                kt @ (KeyType::EcdsaNistP256 | KeyType::EcdsaNistP384 | KeyType::EcdsaNistP521),
            ) => {
                plain.put_ssh_string(&normalize_ecdsa_scalar(kt, last)?);
            }
            _ => plain.put_ssh_string(last),
        }
    }
    let key = private_from_plain(&plain)?;
    Ok((key, certificate))
}

fn bad_key(why: &'static str) -> Error {
    Error::Key(whelk_keys::Error::Invalid {
        what: "agent private key",
        why,
    })
}

/// Builds a [`PrivateKey`] from the plain `string type, fields...` encoding.
fn private_from_plain(plain: &[u8]) -> Result<PrivateKey> {
    let mut input = plain;
    let data = ssh_key::private::KeypairData::decode(&mut input)
        .map_err(|_| bad_key("malformed key fields"))?;
    if !input.is_empty() {
        return Err(bad_key("trailing key fields"));
    }
    if !(data.is_ed25519() || data.is_ecdsa() || data.is_rsa()) {
        return Err(Error::UnsupportedKeyType(
            data.algorithm()
                .map(|a| String::from(a.as_str()))
                .unwrap_or_default(),
        ));
    }
    if let Some(kp) = data.ed25519() {
        // ssh-key takes the public half as given; check it against the seed here.
        let key = PrivateKey::ed25519_from_seed(&kp.private.to_bytes());
        if key.public_key().ed25519_bytes() != Some(&kp.public.0) {
            return Err(Error::Key(whelk_keys::Error::KeyMismatch));
        }
        return Ok(key);
    }
    let ssh = ssh_key::PrivateKey::new(data, "").map_err(|_| bad_key("inconsistent key"))?;
    let text = ssh
        .to_openssh(ssh_key::LineEnding::LF)
        .map_err(|_| bad_key("inconsistent key"))?;
    Ok(PrivateKey::from_openssh(&text, None)?)
}

/// Appends `key` (with `certificate`, whose key must be `key`'s) in the agent's encoding.
pub(crate) fn put_private(
    out: &mut Vec<u8>,
    key: &PrivateKey,
    certificate: Option<&Certificate>,
) -> Result<()> {
    let text = key.to_openssh()?;
    let ssh = ssh_key::PrivateKey::from_openssh(text.as_bytes())
        .map_err(|_| bad_key("cannot export key"))?;
    let data = ssh.key_data();
    let mut buf = Zeroizing::new(Vec::new());
    let enc = |e: ssh_key::encoding::Error| {
        let _ = e;
        bad_key("cannot encode key")
    };
    match certificate {
        None => data.encode(&mut *buf).map_err(enc)?,
        Some(cert) => {
            if cert.public_key() != key.public_key() {
                return Err(Error::Key(whelk_keys::Error::KeyMismatch));
            }
            buf.put_ssh_string(cert.key_type().cert_name().as_bytes());
            buf.put_ssh_string(cert.blob());
            if let Some(kp) = data.ed25519() {
                buf.put_ssh_string(&kp.public.0);
                let both = Zeroizing::new(kp.to_bytes());
                buf.put_ssh_string(both.as_slice());
            } else if let Some(kp) = data.ecdsa() {
                match kp {
                    ssh_key::private::EcdsaKeypair::NistP256 { private, .. } => {
                        private.encode(&mut *buf).map_err(enc)?;
                    }
                    ssh_key::private::EcdsaKeypair::NistP384 { private, .. } => {
                        private.encode(&mut *buf).map_err(enc)?;
                    }
                    ssh_key::private::EcdsaKeypair::NistP521 { private, .. } => {
                        private.encode(&mut *buf).map_err(enc)?;
                    }
                }
            } else if let Some(kp) = data.rsa() {
                kp.private().encode(&mut *buf).map_err(enc)?;
            } else {
                return Err(Error::UnsupportedKeyType(String::from(
                    key.key_type().name(),
                )));
            }
        }
    }
    out.extend_from_slice(&buf);
    Ok(())
}
