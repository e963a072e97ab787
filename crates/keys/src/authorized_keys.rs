//! `authorized_keys` files (sshd(8) "AUTHORIZED_KEYS FILE FORMAT") with every OpenSSH key
//! option parsed into a typed [`KeyOptions`] policy. A malformed line is reported with its
//! line number and skipped.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::IpAddr;

use crate::algorithm::KeyType;
use crate::error::{Error, Result};
use crate::known_hosts::LineError;
use crate::pattern::match_host_and_ip;
use crate::public::{PublicKey, format_err, split_word};

const FORMAT: &str = "authorized_keys";

/// The typed options of one `authorized_keys` line.
///
/// Flags that can be switched on and off are `Option<bool>`: `None` means "not mentioned",
/// so `restrict` decides (see the `permits_*` methods).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyOptions {
    /// `restrict`: disable every forwarding, pty and user rc unless re-enabled on the line.
    pub restrict: bool,
    /// `agent-forwarding` / `no-agent-forwarding`.
    pub agent_forwarding: Option<bool>,
    /// `port-forwarding` / `no-port-forwarding`.
    pub port_forwarding: Option<bool>,
    /// `pty` / `no-pty`.
    pub pty: Option<bool>,
    /// `user-rc` / `no-user-rc`.
    pub user_rc: Option<bool>,
    /// `X11-forwarding` / `no-X11-forwarding`.
    pub x11_forwarding: Option<bool>,
    /// `cert-authority`: the key is a CA trusted to sign user certificates.
    pub cert_authority: bool,
    /// `command="..."`: the forced command.
    pub command: Option<String>,
    /// `environment="NAME=value"`, in order.
    pub environment: Vec<(String, String)>,
    /// `from="pattern-list"`: where the client may connect from.
    pub from: Option<String>,
    /// `permitopen="host:port"` (several allowed).
    pub permit_open: Vec<String>,
    /// `permitlisten="[host:]port"` (several allowed).
    pub permit_listen: Vec<String>,
    /// `principals="a,b"` (with `cert-authority`): accepted certificate principals.
    pub principals: Option<Vec<String>>,
    /// `expiry-time="timespec"`, as seconds since the Unix epoch (UTC: whelk has no time
    /// zone database; a timespec without `Z` is read as UTC).
    pub expiry_time: Option<u64>,
    /// `tunnel="n"`: the forced tun device number.
    pub tunnel: Option<u32>,
    /// `no-touch-required` (security keys).
    pub no_touch_required: bool,
    /// `verify-required` (security keys).
    pub verify_required: bool,
}

impl KeyOptions {
    fn flag(v: Option<bool>, restrict: bool) -> bool {
        v.unwrap_or(!restrict)
    }

    /// Whether agent forwarding is allowed.
    #[must_use]
    pub fn permits_agent_forwarding(&self) -> bool {
        Self::flag(self.agent_forwarding, self.restrict)
    }

    /// Whether TCP/stream-local forwarding is allowed.
    #[must_use]
    pub fn permits_port_forwarding(&self) -> bool {
        Self::flag(self.port_forwarding, self.restrict)
    }

    /// Whether a pty may be allocated.
    #[must_use]
    pub fn permits_pty(&self) -> bool {
        Self::flag(self.pty, self.restrict)
    }

    /// Whether `~/.ssh/rc` runs.
    #[must_use]
    pub fn permits_user_rc(&self) -> bool {
        Self::flag(self.user_rc, self.restrict)
    }

    /// Whether X11 forwarding is allowed.
    #[must_use]
    pub fn permits_x11_forwarding(&self) -> bool {
        Self::flag(self.x11_forwarding, self.restrict)
    }

    /// Whether the key has expired at `now` (seconds since the Unix epoch).
    #[must_use]
    pub fn is_expired(&self, now: u64) -> bool {
        self.expiry_time.is_some_and(|t| now >= t)
    }

    /// Whether a client at `host`/`addr` passes `from=` (true when there is no `from=`).
    #[must_use]
    pub fn permits_source(&self, host: Option<&str>, addr: Option<IpAddr>) -> bool {
        self.from
            .as_deref()
            .is_none_or(|list| match_host_and_ip(host, addr, list))
    }

    /// Whether `permitopen` allows a connection to `host:port` (true when unrestricted).
    #[must_use]
    pub fn permits_open(&self, host: &str, port: u16) -> bool {
        if self.permit_open.is_empty() {
            return true;
        }
        self.permit_open
            .iter()
            .any(|p| host_port_matches(p, host, port))
    }

    /// Whether `permitlisten` allows listening on `host:port` (true when unrestricted).
    #[must_use]
    pub fn permits_listen(&self, host: &str, port: u16) -> bool {
        if self.permit_listen.is_empty() {
            return true;
        }
        self.permit_listen.iter().any(|p| {
            if p.contains(':') {
                host_port_matches(p, host, port)
            } else {
                port_matches(p, port)
            }
        })
    }
}

fn port_matches(p: &str, port: u16) -> bool {
    p == "*" || p.parse::<u16>().is_ok_and(|x| x == port)
}

fn host_port_matches(spec: &str, host: &str, port: u16) -> bool {
    let Some((h, p)) = spec.rsplit_once(':') else {
        return false;
    };
    let h = h.trim_start_matches('[').trim_end_matches(']');
    (h == "*" || h.eq_ignore_ascii_case(host)) && port_matches(p, port)
}

/// One parsed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizedKey {
    /// 1-based line number.
    pub line: usize,
    /// The options.
    pub options: KeyOptions,
    /// The key (for `cert-authority` lines: the CA key).
    pub key: PublicKey,
    /// The comment after the key.
    pub comment: String,
}

/// A parsed `authorized_keys` file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizedKeys {
    keys: Vec<AuthorizedKey>,
    errors: Vec<LineError>,
}

impl AuthorizedKeys {
    /// Parses a file; malformed lines are recorded in [`AuthorizedKeys::errors`] and skipped.
    #[must_use]
    pub fn parse(text: &str) -> Self {
        let mut me = Self::default();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            match parse_line(line, n) {
                Ok(Some(k)) => me.keys.push(k),
                Ok(None) => {}
                Err(error) => me.errors.push(LineError { line: n, error }),
            }
        }
        me
    }

    /// The usable lines.
    #[must_use]
    pub fn keys(&self) -> &[AuthorizedKey] {
        &self.keys
    }

    /// The skipped lines and why.
    #[must_use]
    pub fn errors(&self) -> &[LineError] {
        &self.errors
    }

    /// The first non-CA line for `key` (what sshd uses for a plain public key).
    #[must_use]
    pub fn find(&self, key: &PublicKey) -> Option<&AuthorizedKey> {
        self.keys
            .iter()
            .find(|k| !k.options.cert_authority && k.key == *key)
    }

    /// The first `cert-authority` line for the CA key `ca`.
    #[must_use]
    pub fn find_ca(&self, ca: &PublicKey) -> Option<&AuthorizedKey> {
        self.keys
            .iter()
            .find(|k| k.options.cert_authority && k.key == *ca)
    }
}

fn starts_with_key_type(word: &str) -> bool {
    KeyType::from_name(word).is_some()
        || matches!(word, "ssh-dss" | "ssh-rsa-cert-v01@openssh.com")
        || KeyType::from_cert_name(word).is_some()
}

fn parse_line(line: &str, n: usize) -> Result<Option<AuthorizedKey>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let (first, _) = split_word(line);
    let (options, rest) = if starts_with_key_type(first) {
        (KeyOptions::default(), line)
    } else {
        parse_options(line)?
    };
    let (key, comment) = PublicKey::from_openssh(rest)?;
    Ok(Some(AuthorizedKey {
        line: n,
        options,
        key,
        comment,
    }))
}

/// Splits the option list at the first unquoted space; returns the options and the rest.
fn parse_options(line: &str) -> Result<(KeyOptions, &str)> {
    let (opts, rest) = split_option_field(line)?;
    let mut o = KeyOptions::default();
    for opt in opts {
        apply_option(&mut o, &opt)?;
    }
    Ok((o, rest))
}

/// Splits `a,b="x y",c rest` into its options (quotes kept) and the rest of the line.
pub(crate) fn split_option_field(line: &str) -> Result<(Vec<String>, &str)> {
    let bytes = line.as_bytes();
    let mut i = 0;
    let mut in_quote = false;
    while let Some(&c) = bytes.get(i) {
        match c {
            b'\\' if in_quote => i += 1,
            b'"' => in_quote = !in_quote,
            b' ' | b'\t' if !in_quote => break,
            _ => {}
        }
        i += 1;
    }
    if in_quote {
        return Err(format_err(FORMAT, "unterminated quoted option"));
    }
    let (opts, rest) = line
        .split_at_checked(i.min(line.len()))
        .unwrap_or((line, ""));
    Ok((split_options(opts)?, rest.trim_start()))
}

/// Splits `a,b="x,y",c` at commas outside quotes.
fn split_options(s: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quote = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_quote => {
                cur.push(c);
                if let Some(next) = chars.next() {
                    cur.push(next);
                }
            }
            '"' => {
                in_quote = !in_quote;
                cur.push(c);
            }
            ',' if !in_quote => out.push(core::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    if out.iter().any(String::is_empty) {
        return Err(format_err(FORMAT, "empty option"));
    }
    Ok(out)
}

/// The value of `name="value"`, with `\"` unescaped.
pub(crate) fn quoted_value(raw: &str) -> Result<String> {
    let inner = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .ok_or_else(|| format_err(FORMAT, "option value must be quoted"))?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('"') => out.push('"'),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

fn apply_option(o: &mut KeyOptions, opt: &str) -> Result<()> {
    let (name, value) = match opt.split_once('=') {
        Some((n, v)) => (n, Some(quoted_value(v)?)),
        None => (opt, None),
    };
    let name = name.to_ascii_lowercase();
    let need = |v: Option<String>| v.ok_or_else(|| format_err(FORMAT, "option needs a value"));
    let flag = |v: &Option<String>| {
        if v.is_some() {
            Err(format_err(FORMAT, "flag option takes no value"))
        } else {
            Ok(())
        }
    };
    match name.as_str() {
        "restrict" => {
            flag(&value)?;
            o.restrict = true;
        }
        "cert-authority" => {
            flag(&value)?;
            o.cert_authority = true;
        }
        "agent-forwarding" | "no-agent-forwarding" => {
            flag(&value)?;
            o.agent_forwarding = Some(!name.starts_with("no-"));
        }
        "port-forwarding" | "no-port-forwarding" => {
            flag(&value)?;
            o.port_forwarding = Some(!name.starts_with("no-"));
        }
        "pty" | "no-pty" => {
            flag(&value)?;
            o.pty = Some(!name.starts_with("no-"));
        }
        "user-rc" | "no-user-rc" => {
            flag(&value)?;
            o.user_rc = Some(!name.starts_with("no-"));
        }
        "x11-forwarding" | "no-x11-forwarding" => {
            flag(&value)?;
            o.x11_forwarding = Some(!name.starts_with("no-"));
        }
        "no-touch-required" => {
            flag(&value)?;
            o.no_touch_required = true;
        }
        "verify-required" => {
            flag(&value)?;
            o.verify_required = true;
        }
        "command" => {
            if o.command.is_some() {
                return Err(format_err(FORMAT, "duplicate command option"));
            }
            o.command = Some(need(value)?);
        }
        "environment" => {
            let v = need(value)?;
            let (k, val) = v
                .split_once('=')
                .ok_or_else(|| format_err(FORMAT, "environment needs NAME=value"))?;
            if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(format_err(FORMAT, "invalid environment name"));
            }
            o.environment.push((k.to_string(), val.to_string()));
        }
        "from" => {
            let v = need(value)?;
            if v.is_empty() || v.split(',').any(str::is_empty) {
                return Err(format_err(FORMAT, "empty from= pattern"));
            }
            o.from = Some(v);
        }
        "permitopen" => {
            let v = need(value)?;
            check_host_port(&v, true)?;
            o.permit_open.push(v);
        }
        "permitlisten" => {
            let v = need(value)?;
            check_host_port(&v, false)?;
            o.permit_listen.push(v);
        }
        "principals" => {
            let v = need(value)?;
            let list: Vec<String> = v.split(',').map(ToString::to_string).collect();
            if list.iter().any(String::is_empty) {
                return Err(format_err(FORMAT, "empty principal"));
            }
            o.principals = Some(list);
        }
        "expiry-time" => {
            o.expiry_time = Some(parse_timespec(&need(value)?)?);
        }
        "tunnel" => {
            let v = need(value)?;
            o.tunnel = Some(
                v.parse::<u32>()
                    .map_err(|_| format_err(FORMAT, "tunnel needs a number"))?,
            );
        }
        _ => return Err(format_err(FORMAT, "unknown option")),
    }
    Ok(())
}

fn check_host_port(v: &str, host_required: bool) -> Result<()> {
    let ok = match v.rsplit_once(':') {
        Some((h, p)) => !h.is_empty() && port_ok(p),
        None => !host_required && port_ok(v),
    };
    if ok {
        Ok(())
    } else {
        Err(format_err(FORMAT, "bad host:port"))
    }
}

fn port_ok(p: &str) -> bool {
    p == "*" || p.parse::<u16>().is_ok()
}

/// Parses an OpenSSH timespec `YYYYMMDD[Z]`, `YYYYMMDDHHMM[Z]` or `YYYYMMDDHHMMSS[Z]` as UTC.
pub fn parse_timespec(s: &str) -> Result<u64> {
    let bad = || format_err(FORMAT, "bad timespec");
    let s = s.strip_suffix(['Z', 'z']).unwrap_or(s);
    if !s.bytes().all(|b| b.is_ascii_digit()) || !matches!(s.len(), 8 | 12 | 14) {
        return Err(bad());
    }
    let num = |a: usize, b: usize| -> Result<u64> {
        s.get(a..b)
            .and_then(|x| x.parse::<u64>().ok())
            .ok_or_else(bad)
    };
    let (y, mo, d) = (num(0, 4)?, num(4, 6)?, num(6, 8)?);
    let (h, mi, sec) = match s.len() {
        12 => (num(8, 10)?, num(10, 12)?, 0),
        14 => (num(8, 10)?, num(10, 12)?, num(12, 14)?),
        _ => (0, 0, 0),
    };
    if !(1970..=9999).contains(&y)
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&d)
        || h > 23
        || mi > 59
        || sec > 60
    {
        return Err(bad());
    }
    Ok(days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec)
}

/// Days since 1970-01-01 of a (proleptic Gregorian) date, for years ≥ 1970.
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).saturating_sub(719_468)
}

/// Formats Unix seconds as an OpenSSH timespec `YYYYMMDDHHMMSSZ` (used for certificates too).
#[must_use]
pub fn format_timespec(t: u64) -> String {
    let days = t / 86400;
    let rem = t % 86400;
    // civil_from_days
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    alloc::format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

impl From<LineError> for Error {
    fn from(e: LineError) -> Self {
        e.error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILwTO9s1jSJcT5BfO2k9EDEvxZifMOeO7TynEvCM/+i/";

    #[test]
    fn every_option() {
        let line = alloc::format!(
            r#"restrict,pty,command="echo \"hi\", there",environment="A_B=1 2",from="*.example.com,!bad.example.com,10.0.0.0/8",no-agent-forwarding,agent-forwarding,no-port-forwarding,no-pty,no-user-rc,no-X11-forwarding,X11-forwarding,user-rc,port-forwarding,permitopen="host:22",permitopen="*:*",permitlisten="8080",permitlisten="localhost:9090",principals="alice,bob",cert-authority,expiry-time="20300101",tunnel="3",no-touch-required,verify-required {ED} my comment"#
        );
        let ak = AuthorizedKeys::parse(&line);
        assert!(ak.errors().is_empty(), "{:?}", ak.errors());
        let k = &ak.keys()[0];
        assert_eq!(k.comment, "my comment");
        let o = &k.options;
        assert!(o.restrict && o.cert_authority && o.no_touch_required && o.verify_required);
        assert_eq!(o.command.as_deref(), Some(r#"echo "hi", there"#));
        assert_eq!(o.environment, [("A_B".into(), "1 2".into())]);
        assert_eq!(o.pty, Some(false));
        assert!(o.permits_agent_forwarding() && o.permits_x11_forwarding() && o.permits_user_rc());
        assert!(o.permits_port_forwarding() && !o.permits_pty());
        assert_eq!(
            o.principals.as_deref(),
            Some(&["alice".into(), "bob".into()][..])
        );
        assert_eq!(o.expiry_time, Some(1_893_456_000));
        assert!(o.is_expired(1_893_456_000) && !o.is_expired(1_893_455_999));
        assert_eq!(o.tunnel, Some(3));
        assert!(o.permits_open("anything", 1));
        assert!(o.permits_listen("localhost", 9090) && o.permits_listen("x", 8080));
        assert!(!o.permits_listen("x", 8081));
        let a: IpAddr = "10.1.2.3".parse().unwrap();
        assert!(o.permits_source(Some("ok.example.com"), None));
        assert!(o.permits_source(None, Some(a)));
        assert!(!o.permits_source(Some("bad.example.com"), Some(a)));
    }

    #[test]
    fn restrict_defaults() {
        let ak = AuthorizedKeys::parse(&alloc::format!("restrict {ED}\n{ED}\n"));
        let r = &ak.keys()[0].options;
        assert!(!r.permits_pty() && !r.permits_agent_forwarding() && !r.permits_port_forwarding());
        let plain = &ak.keys()[1].options;
        assert!(plain.permits_pty() && plain.permits_x11_forwarding());
    }

    #[test]
    fn malformed_lines_are_reported_and_skipped() {
        let text = alloc::format!(
            "# c\nbogus-option {ED}\ncommand=\"unterminated {ED}\n{ED} ok\ncommand=unquoted {ED}\ntunnel=\"x\" {ED}\nssh-ed25519 AAAA!!\nfrom=\"\" {ED}\n"
        );
        let ak = AuthorizedKeys::parse(&text);
        assert_eq!(ak.keys().len(), 1);
        assert_eq!(ak.keys()[0].line, 4);
        let lines: Vec<usize> = ak.errors().iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 3, 5, 6, 7, 8]);
    }

    #[test]
    fn timespecs() {
        assert_eq!(parse_timespec("19700101").unwrap(), 0);
        assert_eq!(parse_timespec("20240229123456Z").unwrap(), 1_709_210_096);
        assert_eq!(format_timespec(1_709_210_096), "20240229123456Z");
        assert!(parse_timespec("2024").is_err());
        assert!(parse_timespec("20241301").is_err());
    }
}
