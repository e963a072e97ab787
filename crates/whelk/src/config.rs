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
            transport: whelk_transport::Config::default(),
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
            transport: whelk_transport::Config::default(),
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
