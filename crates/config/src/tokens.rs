//! `%` token expansion, as in `ssh_config(5)` "TOKENS".
//!
//! | token | meaning |
//! |-------|---------|
//! | `%%`  | a literal `%` |
//! | `%C`  | SHA-1 (hex) of `%l%h%p%r` ([`connection_hash`]; OpenSSH 9.2 hashes exactly these) |
//! | `%d`  | the local user's home directory |
//! | `%h`  | the remote host name (after `Hostname`) |
//! | `%i`  | the local user ID |
//! | `%k`  | the host key alias, else the original host |
//! | `%L`  | the local host name up to the first `.` |
//! | `%l`  | the local host name |
//! | `%n`  | the original remote host name, as given on the command line |
//! | `%p`  | the remote port |
//! | `%r`  | the remote user name |
//! | `%u`  | the local user name |

use sha1::{Digest, Sha1};

/// Why expansion failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// `%x` for a letter that is not a token, or one the option does not allow.
    #[error("unknown or disallowed token %{0}")]
    Unknown(char),
    /// A token whose value the context does not have.
    #[error("no value for token %{0}")]
    Unavailable(char),
    /// A `%` at the very end.
    #[error("'%' at end of string")]
    TrailingPercent,
}

/// The values tokens expand to. Missing values make their token an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenContext {
    /// `%l`: the local host name (`gethostname`).
    pub local_host: Option<String>,
    /// `%h`: the remote host name, after `Hostname` was applied.
    pub remote_host: Option<String>,
    /// `%n`: the host as given on the command line.
    pub original_host: Option<String>,
    /// `%p`: the remote port.
    pub port: Option<u16>,
    /// `%r`: the remote user name.
    pub remote_user: Option<String>,
    /// `%u`: the local user name.
    pub local_user: Option<String>,
    /// `%d`: the local user's home directory.
    pub home_dir: Option<String>,
    /// `%i`: the local user ID.
    pub uid: Option<u32>,
    /// `%k`: the `HostKeyAlias` (OpenSSH falls back to the original host).
    pub host_key_alias: Option<String>,
}

/// `%C`: the lower-case hex SHA-1 of `%l%h%p%r` (what OpenSSH 9.2 hashes; checked against
/// `ssh -G` in the tests).
#[must_use]
pub fn connection_hash(
    local_host: &str,
    remote_host: &str,
    port: u16,
    remote_user: &str,
) -> String {
    let mut h = Sha1::new();
    h.update(local_host.as_bytes());
    h.update(remote_host.as_bytes());
    h.update(port.to_string().as_bytes());
    h.update(remote_user.as_bytes());
    h.finalize()
        .iter()
        .fold(String::with_capacity(40), |mut s, b| {
            s.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
            s.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
            s
        })
}

/// Every token letter [`expand`] knows.
pub const ALL_TOKENS: &str = "CdhikLlnpru";

impl TokenContext {
    /// The value of token `t`, if the context has it.
    fn value(&self, t: char) -> Result<String, TokenError> {
        let need = |v: &Option<String>| v.clone().ok_or(TokenError::Unavailable(t));
        match t {
            'C' => {
                let (Some(l), Some(h), Some(p), Some(r)) = (
                    &self.local_host,
                    &self.remote_host,
                    self.port,
                    &self.remote_user,
                ) else {
                    return Err(TokenError::Unavailable('C'));
                };
                Ok(connection_hash(l, h, p, r))
            }
            'd' => need(&self.home_dir),
            'h' => need(&self.remote_host),
            'i' => self
                .uid
                .map(|u| u.to_string())
                .ok_or(TokenError::Unavailable(t)),
            'k' => self
                .host_key_alias
                .clone()
                .or_else(|| self.original_host.clone())
                .ok_or(TokenError::Unavailable(t)),
            'L' => self
                .local_host
                .as_deref()
                .map(|l| l.split('.').next().unwrap_or(l).to_owned())
                .ok_or(TokenError::Unavailable(t)),
            'l' => need(&self.local_host),
            'n' => need(&self.original_host),
            'p' => self
                .port
                .map(|p| p.to_string())
                .ok_or(TokenError::Unavailable(t)),
            'r' => need(&self.remote_user),
            'u' => need(&self.local_user),
            other => Err(TokenError::Unknown(other)),
        }
    }
}

/// Expands every token of [`ALL_TOKENS`] (and `%%`) in `s`.
pub fn expand(s: &str, ctx: &TokenContext) -> Result<String, TokenError> {
    expand_only(s, ctx, ALL_TOKENS)
}

/// Expands `%%` and the tokens whose letters are in `allowed`; any other `%x` is
/// [`TokenError::Unknown`] (OpenSSH refuses the whole value then).
pub fn expand_only(s: &str, ctx: &TokenContext, allowed: &str) -> Result<String, TokenError> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            None => return Err(TokenError::TrailingPercent),
            Some('%') => out.push('%'),
            Some(t) if allowed.contains(t) => out.push_str(&ctx.value(t)?),
            Some(t) => return Err(TokenError::Unknown(t)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> TokenContext {
        TokenContext {
            local_host: Some("vm.local".into()),
            remote_host: Some("foo.example.com".into()),
            original_host: Some("foo".into()),
            port: Some(2222),
            remote_user: Some("bob".into()),
            local_user: Some("root".into()),
            home_dir: Some("/root".into()),
            uid: Some(0),
            host_key_alias: None,
        }
    }

    #[test]
    fn every_token() {
        let c = ctx();
        assert_eq!(
            expand("%h %l %L %n %p %r %u %d %i %k %%", &c).unwrap(),
            "foo.example.com vm.local vm foo 2222 bob root /root 0 foo %"
        );
        assert_eq!(
            expand("%C", &c).unwrap(),
            connection_hash("vm.local", "foo.example.com", 2222, "bob")
        );
        assert_eq!(expand("no tokens", &c).unwrap(), "no tokens");
        assert_eq!(expand("100%%", &c).unwrap(), "100%");
    }

    #[test]
    fn hash_matches_openssh_9_2() {
        // From `ssh -G` (OpenSSH 9.2p1): l=vm h=foo.example.com p=2222 r=bob.
        assert_eq!(
            connection_hash("vm", "foo.example.com", 2222, "bob"),
            "e0e8a0883018b30f9d5fb62395d4cee02f9331e2"
        );
    }

    #[test]
    fn errors() {
        let c = ctx();
        assert_eq!(expand("%", &c), Err(TokenError::TrailingPercent));
        assert_eq!(expand("a%", &c), Err(TokenError::TrailingPercent));
        assert_eq!(expand("%z", &c), Err(TokenError::Unknown('z')));
        assert_eq!(expand_only("%u", &c, "h"), Err(TokenError::Unknown('u')));
        assert_eq!(expand_only("%h%%", &c, "h").unwrap(), "foo.example.com%");
        let empty = TokenContext::default();
        assert_eq!(expand("%h", &empty), Err(TokenError::Unavailable('h')));
        assert_eq!(expand("%C", &empty), Err(TokenError::Unavailable('C')));
        assert_eq!(expand("%k", &empty), Err(TokenError::Unavailable('k')));
    }
}
