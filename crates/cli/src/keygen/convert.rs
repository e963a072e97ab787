//! Key conversion, as `ssh-keygen -e` and `-i` do it: export a public key (of a public or
//! private key file) as RFC 4716 (`---- BEGIN SSH2 PUBLIC KEY ----`, the default), PKCS#8
//! SubjectPublicKeyInfo (`-m PKCS8`) or PEM (`-m PEM`: PKCS#1 `RSA PUBLIC KEY` for RSA,
//! SubjectPublicKeyInfo otherwise), and import those forms back into OpenSSH's one-line
//! public key format.

use whelk_keys::PublicKey;

use super::{Args, Fail, Result, file_arg, load_private, read_text};
use crate::common;

/// `ssh-keygen -e [-m RFC4716|PKCS8|PEM] -f file`.
pub(super) fn export(args: &Args) -> Result<()> {
    let path = file_arg(args, "the key is")?;
    let text = read_text(&path)?;
    let key = if text.contains("PRIVATE KEY-----") {
        load_private(&path, args.passphrase.as_deref())?
            .public_key()
            .clone()
    } else {
        PublicKey::from_any(&text)
            .map_err(|e| Fail::new(format!("{}: {e}", path.display())))?
            .0
    };
    let out = match conversion_format(args)?.as_str() {
        "RFC4716" => {
            // ssh-keygen always writes this comment, whatever the key's own.
            let c = format!(
                "{}-bit {}, converted by {}@{} from OpenSSH",
                key.bits(),
                key.key_type().short_name(),
                common::local_user(),
                common::local_host()
            );
            key.to_rfc4716(&c)
        }
        // PKCS#1 for RSA, as ssh-keygen -e -m PEM writes it.
        "PEM" if key.rsa_components().is_some() => {
            let (e, n) = key.rsa_components().unwrap_or_default();
            let mut body = der_integer(n);
            body.extend(der_integer(e));
            pem("RSA PUBLIC KEY", &der_tlv(0x30, &body))
        }
        _ => key
            .to_spki_pem()
            .map_err(|e| Fail::new(format!("export: {e}")))?,
    };
    print!("{out}");
    Ok(())
}

/// A DER tag-length-value.
fn der_tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = body.len();
    if len < 0x80 {
        out.extend(u8::try_from(len).ok());
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let digits = bytes.get(skip..).unwrap_or_default();
        out.extend(u8::try_from(digits.len()).ok().map(|n| 0x80 | n));
        out.extend_from_slice(digits);
    }
    out.extend_from_slice(body);
    out
}

/// A DER INTEGER from unsigned big-endian bytes.
fn der_integer(unsigned: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = unsigned.iter().copied().skip_while(|b| *b == 0).collect();
    let mut body = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        body.push(0);
    }
    body.extend_from_slice(&trimmed);
    der_tlv(0x02, &body)
}

/// PEM armour (base64 lines of 64 characters).
fn pem(label: &str, der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in der.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let idx = usize::try_from((n >> (18 - 6 * i)) & 63).unwrap_or(0);
                b64.push(char::from(ALPHABET.get(idx).copied().unwrap_or(b'A')));
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// `ssh-keygen -i [-m RFC4716|PKCS8|PEM] -f file`: the key in OpenSSH's one-line form.
///
/// Like `ssh-keygen` (OpenSSH 9.2), `-i` converts public keys: a PEM or PKCS#8 private key
/// is refused (exit 255), whatever `-m` says; `-y` prints a private key's public half.
pub(super) fn import(args: &Args) -> Result<()> {
    let path = file_arg(args, "the key is")?;
    let text = read_text(&path)?;
    let format = conversion_format(args)?;
    if text.contains("PRIVATE KEY-----") {
        return Err(Fail::new(format!(
            "{}: not a public key in {format} format (a private key: use -y for its public key)",
            path.display()
        )));
    }
    let bad = |e: whelk_keys::Error| Fail::new(format!("{}: {e}", path.display()));
    let key = match format.as_str() {
        "RFC4716" => PublicKey::from_rfc4716(&text).map_err(bad)?.0,
        _ => PublicKey::from_pem(&text).map_err(bad)?,
    };
    println!("{}", key.to_openssh("").trim_end());
    Ok(())
}

/// `-m` for `-e`/`-i`: RFC4716 (the default), PKCS8 or PEM, in upper case.
fn conversion_format(args: &Args) -> Result<String> {
    let format = args
        .format
        .as_deref()
        .unwrap_or("RFC4716")
        .to_ascii_uppercase();
    match format.as_str() {
        "RFC4716" | "PKCS8" | "PEM" => Ok(format),
        other => Err(Fail::usage(format!(
            "Unsupported conversion format \"{other}\""
        ))),
    }
}
