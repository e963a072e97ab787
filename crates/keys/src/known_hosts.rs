//! `known_hosts` files (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"): plain and hashed
//! (`|1|salt|hash`) host patterns, `*`/`?` wildcards, `!` negation, `[host]:port`,
//! `@cert-authority` and `@revoked` markers, comments; lookup and appending.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use hmac::{Hmac, KeyInit, Mac};
use rand_core::CryptoRng;
use sha1::Sha1;
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};
use crate::pattern::{ListMatch, match_list};
use crate::public::{PublicKey, decode_base64, format_err, split_word};

/// A line that could not be parsed; the rest of the file is still used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong with it.
    pub error: Error,
}

/// The marker at the start of a known_hosts line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// `@cert-authority`: the key is a CA trusted to sign host certificates.
    CertAuthority,
    /// `@revoked`: the key must never be accepted.
    Revoked,
}

/// The host part of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPatterns {
    /// A comma-separated pattern list, as written.
    Plain(String),
    /// A hashed host name: HMAC-SHA1 of the host string keyed with the salt.
    Hashed {
        /// The salt (20 bytes for `|1|`).
        salt: Vec<u8>,
        /// The HMAC.
        hash: Vec<u8>,
    },
}

/// One parsed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based line number.
    pub line: usize,
    /// The marker, if any.
    pub marker: Option<Marker>,
    /// The hosts the line is about.
    pub hosts: HostPatterns,
    /// The key.
    pub key: PublicKey,
    /// The comment after the key (may be empty).
    pub comment: String,
}

/// The host string OpenSSH matches and hashes: `host` for port 22, `[host]:port` otherwise.
#[must_use]
pub fn host_string(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        alloc::format!("[{host}]:{port}")
    }
}

fn hmac_sha1(salt: &[u8], host: &str) -> Vec<u8> {
    // HMAC accepts keys of any length.
    match <Hmac<Sha1> as KeyInit>::new_from_slice(salt) {
        Ok(mut mac) => {
            mac.update(host.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

impl HostPatterns {
    /// Whether `host_str` (already in `[host]:port` form when needed) matches.
    fn matches(&self, host_str: &str) -> ListMatch {
        match self {
            Self::Plain(list) => match_list(host_str, list, true),
            Self::Hashed { salt, hash } => {
                let h = hmac_sha1(salt, &host_str.to_ascii_lowercase());
                if !h.is_empty() && bool::from(h.ct_eq(hash)) {
                    ListMatch::Match
                } else {
                    ListMatch::NoMatch
                }
            }
        }
    }

    fn parse(s: &str) -> Result<Self> {
        if let Some(rest) = s.strip_prefix("|1|") {
            let (salt, hash) = rest
                .split_once('|')
                .ok_or_else(|| format_err(FORMAT, "hashed host without hash"))?;
            let salt = decode_base64(salt).ok_or_else(|| format_err(FORMAT, "bad salt"))?;
            let hash = decode_base64(hash).ok_or_else(|| format_err(FORMAT, "bad hash"))?;
            if salt.len() != 20 || hash.len() != 20 {
                return Err(format_err(FORMAT, "hashed host of the wrong size"));
            }
            Ok(Self::Hashed { salt, hash })
        } else if s.starts_with('|') {
            Err(format_err(FORMAT, "unknown host hash type"))
        } else if s.is_empty() || s.split(',').any(str::is_empty) {
            Err(format_err(FORMAT, "empty host pattern"))
        } else {
            Ok(Self::Plain(s.to_string()))
        }
    }
}

const FORMAT: &str = "known_hosts";

/// A parsed `known_hosts` file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownHosts {
    entries: Vec<Entry>,
    errors: Vec<LineError>,
}

/// What the file says about one host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostKeys<'a> {
    /// Keys trusted for the host (no marker).
    pub trusted: Vec<&'a Entry>,
    /// CA keys trusted to sign host certificates for the host (`@cert-authority`).
    pub cert_authorities: Vec<&'a Entry>,
    /// Revoked keys (`@revoked`): these apply to every host.
    pub revoked: Vec<&'a Entry>,
}

/// The verdict for a presented host key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyStatus {
    /// The key is listed for the host.
    Trusted,
    /// The key is revoked: reject it.
    Revoked,
    /// The host has keys of the same type, none of them this one: the host key changed
    /// (possible man-in-the-middle attack; OpenSSH's "REMOTE HOST IDENTIFICATION HAS CHANGED").
    Changed,
    /// Nothing is known about this key for the host (other types may be listed).
    Unknown,
}

impl HostKeys<'_> {
    /// Checks a presented (plain) host key.
    #[must_use]
    pub fn check(&self, key: &PublicKey) -> HostKeyStatus {
        if self.revoked.iter().any(|e| e.key == *key) {
            return HostKeyStatus::Revoked;
        }
        if self.trusted.iter().any(|e| e.key == *key) {
            return HostKeyStatus::Trusted;
        }
        if self
            .trusted
            .iter()
            .any(|e| e.key.key_type() == key.key_type())
        {
            return HostKeyStatus::Changed;
        }
        HostKeyStatus::Unknown
    }

    /// Whether `ca` is a certificate authority trusted for the host (and not revoked).
    #[must_use]
    pub fn is_trusted_ca(&self, ca: &PublicKey) -> bool {
        !self.revoked.iter().any(|e| e.key == *ca)
            && self.cert_authorities.iter().any(|e| e.key == *ca)
    }
}

impl KnownHosts {
    /// Parses a file. Malformed lines are collected in [`KnownHosts::errors`] and skipped.
    #[must_use]
    pub fn parse(text: &str) -> Self {
        let mut me = Self::default();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            match parse_line(line, n) {
                Ok(Some(e)) => me.entries.push(e),
                Ok(None) => {}
                Err(error) => me.errors.push(LineError { line: n, error }),
            }
        }
        me
    }

    /// The parsed entries, in file order.
    #[must_use]
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The lines that were skipped and why.
    #[must_use]
    pub fn errors(&self) -> &[LineError] {
        &self.errors
    }

    /// Everything the file says about `host` on `port` (a name or an address).
    #[must_use]
    pub fn lookup(&self, host: &str, port: u16) -> HostKeys<'_> {
        self.lookup_names(&[host], port)
    }

    /// Like [`KnownHosts::lookup`], matching any of several names for the same server (for
    /// example the name the user typed and its address, as OpenSSH's `CheckHostIP` does).
    #[must_use]
    pub fn lookup_names(&self, names: &[&str], port: u16) -> HostKeys<'_> {
        let strings: Vec<String> = names.iter().map(|h| host_string(h, port)).collect();
        let mut out = HostKeys::default();
        for e in &self.entries {
            if e.marker == Some(Marker::Revoked) {
                // Revocations apply whatever the host pattern.
                out.revoked.push(e);
                continue;
            }
            let hit = strings
                .iter()
                .any(|s| e.hosts.matches(s) == ListMatch::Match);
            if !hit {
                continue;
            }
            match e.marker {
                None => out.trusted.push(e),
                Some(Marker::CertAuthority) => out.cert_authorities.push(e),
                Some(Marker::Revoked) => {}
            }
        }
        out
    }
}

fn parse_line(line: &str, n: usize) -> Result<Option<Entry>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let (mut first, mut rest) = split_word(line);
    let marker = match first {
        "@cert-authority" => Some(Marker::CertAuthority),
        "@revoked" => Some(Marker::Revoked),
        m if m.starts_with('@') => return Err(format_err(FORMAT, "unknown marker")),
        _ => None,
    };
    if marker.is_some() {
        (first, rest) = split_word(rest);
    }
    let hosts = HostPatterns::parse(first)?;
    let (key, comment) = PublicKey::from_openssh(rest)?;
    Ok(Some(Entry {
        line: n,
        marker,
        hosts,
        key,
        comment,
    }))
}

/// Formats a line to append for `host:port` (no trailing newline). With `hash`, the host
/// is hashed with a fresh 20-byte salt from `rng` (what `HashKnownHosts yes` writes).
pub fn format_entry<R: CryptoRng + ?Sized>(
    host: &str,
    port: u16,
    key: &PublicKey,
    hash: bool,
    rng: &mut R,
) -> String {
    let host_str = host_string(host, port);
    let hosts = if hash {
        hashed_host(&host_str, rng)
    } else {
        host_str
    };
    alloc::format!("{hosts} {}", key.to_openssh(""))
}

/// Hashes a host string (already in `[host]:port` form when needed) as `|1|salt|hash`.
pub fn hashed_host<R: CryptoRng + ?Sized>(host_str: &str, rng: &mut R) -> String {
    use base64ct::{Base64, Encoding};
    let mut salt = [0u8; 20];
    rng.fill_bytes(&mut salt);
    let hash = hmac_sha1(&salt, &host_str.to_ascii_lowercase());
    alloc::format!(
        "|1|{}|{}",
        Base64::encode_string(&salt),
        Base64::encode_string(&hash)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILwTO9s1jSJcT5BfO2k9EDEvxZifMOeO7TynEvCM/+i/";

    #[test]
    fn markers_comments_and_errors() {
        let text = alloc::format!(
            "# comment\n\nhost1,host2 {ED} c\n@cert-authority *.example.com {ED}\n@revoked * {ED}\n@bogus h {ED}\nbad line\n"
        );
        let kh = KnownHosts::parse(&text);
        assert_eq!(kh.entries().len(), 3);
        assert_eq!(kh.errors().len(), 2);
        assert_eq!(kh.errors()[0].line, 6);
        assert_eq!(kh.errors()[1].line, 7);
        let r = kh.lookup("host2", 22);
        assert_eq!(r.trusted.len(), 1);
        assert_eq!(r.revoked.len(), 1);
        assert_eq!(r.check(&r.trusted[0].key), HostKeyStatus::Revoked);
        assert_eq!(kh.lookup("a.example.com", 22).cert_authorities.len(), 1);
    }

    #[test]
    fn ports_and_negation() {
        let text = alloc::format!("[h]:2222 {ED}\n*.corp,!evil.corp {ED}\n");
        let kh = KnownHosts::parse(&text);
        assert_eq!(kh.lookup("h", 2222).trusted.len(), 1);
        assert_eq!(kh.lookup("h", 22).trusted.len(), 0);
        assert_eq!(kh.lookup("ok.corp", 22).trusted.len(), 1);
        assert_eq!(kh.lookup("evil.corp", 22).trusted.len(), 0);
        assert_eq!(kh.lookup("OK.CORP", 22).trusted.len(), 1);
    }
}
