//! Configuration with modern defaults, and the AsyncSSH-style algorithm list syntax.
//!
//! An algorithm list is given either as a list of names, which replaces the defaults, or as
//! a string of comma-separated names or patterns (`*` matches any run of characters, `?`
//! one character), optionally prefixed:
//!
//! | spec | result |
//! |------|--------|
//! | `"aes256-gcm@openssh.com,chacha20*"` | exactly these, in this order |
//! | `"+aes128-cbc"` | the defaults, then the matches not already in them |
//! | `"-*-sha1*"` | the defaults without the matches |
//! | `"^aes256-ctr"` | the matches first, then the rest of the defaults |
//!
//! Patterns expand over every algorithm whelk supports (in its preference order); a plain
//! name that whelk does not support, a pattern that matches nothing or an empty result is
//! an error.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use whelk_keys::{PrivateKey, SigAlg};

use crate::error::{Error, Result};

/// An algorithm list specification: a string with the prefix and wildcard syntax, or a
/// list of names (or patterns) replacing the defaults.
#[derive(Debug, Clone, Copy)]
pub enum AlgorithmSpec<'a> {
    /// `"+name,pat*"`, `"-pat"`, `"^name"` or `"a,b,c"`.
    Str(&'a str),
    /// A replacement list.
    List(&'a [&'a str]),
}

impl<'a> From<&'a str> for AlgorithmSpec<'a> {
    fn from(s: &'a str) -> Self {
        Self::Str(s)
    }
}

impl<'a> From<&'a [&'a str]> for AlgorithmSpec<'a> {
    fn from(l: &'a [&'a str]) -> Self {
        Self::List(l)
    }
}

impl<'a, const N: usize> From<&'a [&'a str; N]> for AlgorithmSpec<'a> {
    fn from(l: &'a [&'a str; N]) -> Self {
        Self::List(l)
    }
}

/// Whether `name` matches `pattern` (`*` any run, `?` one character).
#[must_use]
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matcher with backtracking to the last `*`.
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == '?' || Some(&c) == n.get(ni) => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|&c| c == '*'))
}

fn expand(patterns: &[&str], supported: &[&str], what: &str) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for pat in patterns.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let wild = pat.contains(['*', '?']);
        let mut any = false;
        for s in supported {
            let hit = if wild {
                wildcard_match(pat, s)
            } else {
                pat == *s
            };
            if hit {
                any = true;
                if !out.iter().any(|o| o == s) {
                    out.push((*s).to_owned());
                }
            }
        }
        if !any {
            return Err(Error::Config(if wild {
                format!("{what}: `{pat}` matches no supported algorithm")
            } else {
                format!("{what}: `{pat}` is not supported")
            }));
        }
    }
    Ok(out)
}

/// Applies `spec` to `defaults`, expanding names and patterns over `supported`.
pub fn apply_algorithm_spec(
    what: &str,
    defaults: &[String],
    supported: &[&str],
    spec: AlgorithmSpec<'_>,
) -> Result<Vec<String>> {
    let out = match spec {
        AlgorithmSpec::List(list) => expand(list, supported, what)?,
        AlgorithmSpec::Str(s) => {
            let s = s.trim();
            let (prefix, body) = match s.chars().next() {
                Some(c @ ('+' | '-' | '^')) => (Some(c), s.get(1..).unwrap_or_default()),
                _ => (None, s),
            };
            let items: Vec<&str> = body.split(',').collect();
            match prefix {
                None => expand(&items, supported, what)?,
                Some('+') => {
                    let mut out = defaults.to_vec();
                    for a in expand(&items, supported, what)? {
                        if !out.contains(&a) {
                            out.push(a);
                        }
                    }
                    out
                }
                Some('-') => {
                    let items: Vec<&str> = items
                        .iter()
                        .map(|p| p.trim())
                        .filter(|p| !p.is_empty())
                        .collect();
                    defaults
                        .iter()
                        .filter(|d| !items.iter().any(|p| wildcard_match(p, d)))
                        .cloned()
                        .collect()
                }
                Some(_) => {
                    let mut out = expand(&items, supported, what)?;
                    for d in defaults {
                        if !out.contains(d) {
                            out.push(d.clone());
                        }
                    }
                    out
                }
            }
        }
    };
    if out.is_empty() {
        return Err(Error::Config(format!("{what}: the list is empty")));
    }
    Ok(out)
}

/// Every key exchange method whelk implements.
#[must_use]
pub fn supported_kex() -> Vec<&'static str> {
    whelk_kex::METHODS.iter().map(|m| m.name).collect()
}

/// Every cipher whelk implements.
#[must_use]
pub fn supported_ciphers() -> Vec<&'static str> {
    whelk_cipher::registry::CIPHERS
        .iter()
        .map(|c| c.name)
        .filter(|n| *n != "none")
        .collect()
}

/// Every MAC whelk implements.
#[must_use]
pub fn supported_macs() -> Vec<&'static str> {
    whelk_cipher::registry::MACS
        .iter()
        .map(|m| m.name)
        .filter(|n| *n != "none")
        .collect()
}

/// Every host key (signature) algorithm whelk implements.
#[must_use]
pub fn supported_host_keys() -> Vec<&'static str> {
    SigAlg::ALL.iter().map(|a| a.name()).collect()
}

pub use whelk_transport::Algorithms;

/// The algorithm list setters on [`Algorithms`] (see the [module docs](self)).
pub trait AlgorithmsExt {
    /// Changes the key exchange methods.
    fn set_kex<'a>(&mut self, spec: impl Into<AlgorithmSpec<'a>>) -> Result<&mut Self>;
    /// Changes the ciphers.
    fn set_ciphers<'a>(&mut self, spec: impl Into<AlgorithmSpec<'a>>) -> Result<&mut Self>;
    /// Changes the MACs.
    fn set_macs<'a>(&mut self, spec: impl Into<AlgorithmSpec<'a>>) -> Result<&mut Self>;
    /// Changes the host key algorithms.
    fn set_host_keys<'a>(&mut self, spec: impl Into<AlgorithmSpec<'a>>) -> Result<&mut Self>;
    /// Changes the compression methods (e.g. `"zlib@openssh.com,none"` for `ssh -C`).
    fn set_compression<'a>(&mut self, spec: impl Into<AlgorithmSpec<'a>>) -> Result<&mut Self>;
}

impl AlgorithmsExt for Algorithms {
    fn set_kex<'a>(&mut self, spec: impl Into<AlgorithmSpec<'a>>) -> Result<&mut Self> {
        self.kex = apply_algorithm_spec("kex", &self.kex, &supported_kex(), spec.into())?;
        Ok(self)
    }

    fn set_ciphers<'a>(&mut self, spec: impl Into<AlgorithmSpec<'a>>) -> Result<&mut Self> {
        self.ciphers =
            apply_algorithm_spec("ciphers", &self.ciphers, &supported_ciphers(), spec.into())?;
        Ok(self)
    }

    fn set_macs<'a>(&mut self, spec: impl Into<AlgorithmSpec<'a>>) -> Result<&mut Self> {
        self.macs = apply_algorithm_spec("macs", &self.macs, &supported_macs(), spec.into())?;
        Ok(self)
    }

    fn set_host_keys<'a>(&mut self, spec: impl Into<AlgorithmSpec<'a>>) -> Result<&mut Self> {
        self.host_key = apply_algorithm_spec(
            "host keys",
            &self.host_key,
            &supported_host_keys(),
            spec.into(),
        )?;
        Ok(self)
    }

    fn set_compression<'a>(&mut self, spec: impl Into<AlgorithmSpec<'a>>) -> Result<&mut Self> {
        self.compression = apply_algorithm_spec(
            "compression",
            &self.compression,
            &supported_compressions(),
            spec.into(),
        )?;
        Ok(self)
    }
}

fn owned(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

/// Post-quantum hybrids, then X25519, then finite-field DH of at least 3072 bits (RFC 8268
/// groups 16 and 18): no NIST ECDH, no SHA-1, no 2048-bit group or group exchange.
const KEX_DEFAULT: &[&str] = &[
    "mlkem768x25519-sha256",
    "sntrup761x25519-sha512",
    "sntrup761x25519-sha512@openssh.com",
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
];

/// AEAD first, then CTR (always with an EtM MAC).
const CIPHERS_DEFAULT: &[&str] = &[
    "chacha20-poly1305@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-gcm@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
];

/// Encrypt-then-MAC with SHA-2 only.
const MACS_DEFAULT: &[&str] = &[
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
];

/// The server's default algorithm lists ([`ServerConfig::new`]): the hardened OpenSSH
/// guides' choice, which `ssh-audit` grades without failures (only the curve25519 and DH
/// methods draw its "not post-quantum" warning):
///
/// - kex: `mlkem768x25519-sha256`, `sntrup761x25519-sha512`,
///   `sntrup761x25519-sha512@openssh.com`, `curve25519-sha256`,
///   `curve25519-sha256@libssh.org`, `diffie-hellman-group16-sha512`,
///   `diffie-hellman-group18-sha512`;
/// - host keys: `ssh-ed25519`, `rsa-sha2-512`, `rsa-sha2-256` (never `ssh-rsa`), then the
///   ECDSA ones (offered only when such a host key is configured; `ssh-audit` fails NIST
///   curves, so prefer Ed25519 host keys);
/// - ciphers: ChaCha20-Poly1305, AES-GCM, AES-CTR; MACs: `hmac-sha2-{256,512}-etm` only;
/// - compression: `none`, `zlib@openssh.com` (after authentication only).
#[must_use]
pub fn server_default_algorithms() -> Algorithms {
    Algorithms {
        kex: owned(KEX_DEFAULT),
        host_key: owned(&[
            "ssh-ed25519",
            "rsa-sha2-512",
            "rsa-sha2-256",
            "ecdsa-sha2-nistp256",
            "ecdsa-sha2-nistp384",
            "ecdsa-sha2-nistp521",
        ]),
        ciphers: owned(CIPHERS_DEFAULT),
        macs: owned(MACS_DEFAULT),
        compression: owned(&["none", "zlib@openssh.com"]),
    }
}

/// The client's default algorithm lists ([`ClientConfig::new`]): the server's key
/// exchange, cipher and MAC lists; host keys `ssh-ed25519`, `rsa-sha2-512`, `rsa-sha2-256`
/// (no NIST curves, no `ssh-rsa`); compression `none` (as OpenSSH's client without `-C`).
///
/// Every OpenSSH since 7.2 has a common algorithm in each list (curve25519, AES-CTR,
/// `hmac-sha2-256-etm`, rsa-sha2 / Ed25519 host keys). Older or ECDSA-only servers need an
/// explicit opt-in with the [`AlgorithmsExt`] setters, e.g.
/// `config.algorithms().set_host_keys("+ecdsa-sha2-nistp256")?` or
/// `set_kex("+ecdh-sha2-nistp256,diffie-hellman-group14-sha256")?`.
#[must_use]
pub fn client_default_algorithms() -> Algorithms {
    Algorithms {
        kex: owned(KEX_DEFAULT),
        host_key: owned(&["ssh-ed25519", "rsa-sha2-512", "rsa-sha2-256"]),
        ciphers: owned(CIPHERS_DEFAULT),
        macs: owned(MACS_DEFAULT),
        compression: owned(&["none"]),
    }
}

/// The hardened profile (docs/security.md): post-quantum key exchange only, AEAD ciphers
/// only (so no MAC is ever used), Ed25519 host keys only. With an Ed25519 host key a server
/// using it gets a clean `ssh-audit` report (exit 0, no warnings); a client using it needs a
/// server with OpenSSH 9.0+ (sntrup761) or 9.9+ (ML-KEM).
#[must_use]
pub fn hardened_algorithms() -> Algorithms {
    Algorithms {
        kex: owned(&[
            "mlkem768x25519-sha256",
            "sntrup761x25519-sha512",
            "sntrup761x25519-sha512@openssh.com",
        ]),
        host_key: owned(&["ssh-ed25519"]),
        ciphers: owned(&[
            "chacha20-poly1305@openssh.com",
            "aes256-gcm@openssh.com",
            "aes128-gcm@openssh.com",
        ]),
        macs: owned(MACS_DEFAULT),
        compression: owned(&["none"]),
    }
}

/// Every compression method whelk implements.
#[must_use]
pub fn supported_compressions() -> Vec<&'static str> {
    whelk_cipher::registry::COMPRESSIONS
        .iter()
        .map(|c| c.name)
        .collect()
}

/// A client's configuration. [`ClientConfig::new`] gives modern defaults.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The transport settings (algorithms, limits, strict KEX, software version).
    pub transport: whelk_transport::Config,
    /// The authentication settings (user, method order).
    pub auth: whelk_auth::ClientConfig,
    /// Connection protocol limits.
    pub channels: whelk_channel::Config,
    /// Window and packet sizes of the channels we open or accept.
    pub channel: whelk_channel::ChannelConfig,
}

impl ClientConfig {
    /// Defaults, logging in as `user`.
    #[must_use]
    pub fn new(user: &str) -> Self {
        Self {
            transport: whelk_transport::Config {
                algorithms: client_default_algorithms(),
                ..whelk_transport::Config::default()
            },
            auth: whelk_auth::ClientConfig {
                user: user.to_string(),
                ..whelk_auth::ClientConfig::default()
            },
            channels: whelk_channel::Config::default(),
            channel: whelk_channel::ChannelConfig::default(),
        }
    }

    /// The algorithm lists, to change with the [`AlgorithmsExt`] setters.
    pub fn algorithms(&mut self) -> &mut Algorithms {
        &mut self.transport.algorithms
    }
}

/// A server's configuration. [`ServerConfig::new`] gives modern defaults.
#[derive(Clone)]
pub struct ServerConfig {
    /// The transport settings.
    pub transport: whelk_transport::Config,
    /// The host keys (one per algorithm family).
    pub host_keys: Vec<PrivateKey>,
    /// The authentication settings (methods, chains, attempts, delays, banner).
    pub auth: whelk_auth::ServerConfig,
    /// Connection protocol limits.
    pub channels: whelk_channel::Config,
    /// Window and packet sizes of the channels we open or accept.
    pub channel: whelk_channel::ChannelConfig,
}

impl core::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("transport", &self.transport)
            .field("host_keys", &self.host_keys.len())
            .finish_non_exhaustive()
    }
}

impl ServerConfig {
    /// Defaults with these host keys.
    #[must_use]
    pub fn new(host_keys: Vec<PrivateKey>) -> Self {
        Self {
            transport: whelk_transport::Config {
                algorithms: server_default_algorithms(),
                ..whelk_transport::Config::default()
            },
            host_keys,
            auth: whelk_auth::ServerConfig::default(),
            channels: whelk_channel::Config::default(),
            channel: whelk_channel::ChannelConfig::default(),
        }
    }

    /// The algorithm lists, to change with the [`AlgorithmsExt`] setters.
    pub fn algorithms(&mut self) -> &mut Algorithms {
        &mut self.transport.algorithms
    }
}
