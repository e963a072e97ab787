//! OpenSSH's pattern matching (`match.c`): `*` and `?` wildcards, comma-separated pattern
//! lists with `!` negation, address lists with CIDR blocks, and the `glob(3)` subset used to
//! expand `Include` patterns.

use std::net::IpAddr;

/// Whether `s` matches `pattern`, where `*` matches any run of characters (including none) and
/// `?` exactly one; everything else matches itself, case-sensitively.
#[must_use]
pub fn match_pattern(s: &str, pattern: &str) -> bool {
    let s: Vec<char> = s.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    let (mut si, mut pi) = (0usize, 0usize);
    // Where to resume after the last `*`: (pattern index after it, string index it covers to).
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi + 1, si));
                pi += 1;
            }
            Some(&c) if c == '?' || Some(&c) == s.get(si) => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|&c| c == '*'))
}

/// The outcome of matching against a pattern list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListMatch {
    /// A negated pattern (`!pat`) matched: the list rejects the string outright.
    Negative,
    /// No pattern matched.
    NoMatch,
    /// A positive pattern matched and no negated one did.
    Positive,
}

impl ListMatch {
    /// `true` only for [`ListMatch::Positive`].
    #[must_use]
    pub fn is_match(self) -> bool {
        self == Self::Positive
    }
}

/// Matches `s` against a comma-separated list of patterns, each optionally negated with `!`
/// (OpenSSH `match_pattern_list`). With `lower`, the patterns are lower-cased first (the
/// caller lower-cases `s` if it wants a case-insensitive match, as `match_hostname` does).
#[must_use]
pub fn match_list(s: &str, list: &str, lower: bool) -> ListMatch {
    let mut positive = false;
    for sub in list.split(',') {
        let (negated, sub) = match sub.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, sub),
        };
        let sub = if lower {
            sub.to_ascii_lowercase()
        } else {
            sub.to_owned()
        };
        if match_pattern(s, &sub) {
            if negated {
                return ListMatch::Negative;
            }
            positive = true;
        }
    }
    if positive {
        ListMatch::Positive
    } else {
        ListMatch::NoMatch
    }
}

/// Case-insensitive host-name list matching (OpenSSH `match_hostname`).
#[must_use]
pub fn match_hostname(host: &str, list: &str) -> ListMatch {
    match_list(&host.to_ascii_lowercase(), list, true)
}

/// Why an address list is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadAddressList(pub String);

/// Parses `a.b.c.d/len` or `addr` as a network; `Ok(None)` if it is not an address at all
/// (then the entry is a wildcard pattern), `Err` if the mask leaves host bits set.
fn parse_cidr(entry: &str) -> Result<Option<(IpAddr, u32)>, BadAddressList> {
    let (addr, len) = match entry.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (entry, None),
    };
    let Ok(ip) = addr.parse::<IpAddr>() else {
        return Ok(None);
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) => match l.parse::<u32>() {
            Ok(n) if n <= max && !l.starts_with('+') => n,
            _ => return Ok(None),
        },
    };
    if bits(ip) & !mask(ip, len) != 0 {
        return Err(BadAddressList(format!(
            "inconsistent mask length for match network \"{entry}\""
        )));
    }
    Ok(Some((ip, len)))
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn mask(ip: IpAddr, len: u32) -> u128 {
    let width = if ip.is_ipv4() { 32 } else { 128 };
    let all: u128 = if width == 32 {
        u128::from(u32::MAX)
    } else {
        u128::MAX
    };
    if len == 0 {
        0
    } else {
        all & !(all.checked_shr(len).unwrap_or(0))
    }
}

/// Matches an address against a comma-separated list of CIDR blocks, addresses and wildcard
/// patterns, each optionally negated (OpenSSH `addr_match_list`). An address that does not
/// parse matches nothing; an empty entry or a network with host bits set is an error.
pub fn match_address_list(addr: &str, list: &str) -> Result<ListMatch, BadAddressList> {
    let ip: Option<IpAddr> = addr.parse().ok();
    let mut result = ListMatch::NoMatch;
    for entry in list.split(',') {
        let (negated, entry) = match entry.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, entry),
        };
        if entry.is_empty() {
            return Err(BadAddressList(format!(
                "empty entry in address list \"{list}\""
            )));
        }
        let found = match parse_cidr(entry)? {
            Some((net, len)) => ip.is_some_and(|ip| {
                ip.is_ipv4() == net.is_ipv4() && bits(ip) & mask(ip, len) == bits(net)
            }),
            None => ip.is_some() && match_pattern(addr, entry),
        };
        if found {
            if negated {
                return Ok(ListMatch::Negative);
            }
            result = ListMatch::Positive;
        }
    }
    Ok(result)
}

/// Whether a file name matches one component of a `glob(3)` pattern: `*`, `?`, bracket
/// expressions (`[abc]`, `[a-z]`, `[!x]`/`[^x]`), and backslash escapes. A leading `.` in the
/// name must be matched literally (wildcards do not match hidden files).
#[must_use]
pub fn glob_component(name: &str, pattern: &str) -> bool {
    if name.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    let n: Vec<char> = name.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    let toks = glob_tokens(&p);
    // Greedy matching with backtracking to the last `*` only: O(len(name) * len(pattern)).
    let (mut ni, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match toks.get(ti) {
            Some(Tok::Star) => {
                star = Some((ti + 1, ni));
                ti += 1;
            }
            Some(tok) if n.get(ni).is_some_and(|&c| tok.accepts(c)) => {
                ti += 1;
                ni += 1;
            }
            _ => match star {
                Some((st, sn)) => {
                    ti = st;
                    ni = sn + 1;
                    star = Some((st, sn + 1));
                }
                None => return false,
            },
        }
    }
    toks.get(ti..)
        .is_some_and(|rest| rest.iter().all(|t| matches!(t, Tok::Star)))
}

/// One element of a glob pattern.
enum Tok {
    /// `*`.
    Star,
    /// `?`.
    Any,
    /// A literal character.
    Lit(char),
    /// A bracket expression: ranges, negated or not.
    Set(Vec<(char, char)>, bool),
}

impl Tok {
    fn accepts(&self, c: char) -> bool {
        match self {
            Self::Star | Self::Any => true,
            Self::Lit(l) => *l == c,
            Self::Set(ranges, negate) => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negate
            }
        }
    }
}

fn glob_tokens(p: &[char]) -> Vec<Tok> {
    let mut toks = Vec::new();
    let mut i = 0;
    while let Some(&c) = p.get(i) {
        match c {
            '*' => {
                toks.push(Tok::Star);
                i += 1;
            }
            '?' => {
                toks.push(Tok::Any);
                i += 1;
            }
            '\\' => match p.get(i + 1) {
                Some(&lit) => {
                    toks.push(Tok::Lit(lit));
                    i += 2;
                }
                None => {
                    toks.push(Tok::Lit('\\'));
                    i += 1;
                }
            },
            '[' => match bracket(p.get(i..).unwrap_or_default()) {
                Some((tok, used)) => {
                    toks.push(tok);
                    i += used;
                }
                None => {
                    toks.push(Tok::Lit('['));
                    i += 1;
                }
            },
            lit => {
                toks.push(Tok::Lit(lit));
                i += 1;
            }
        }
    }
    toks
}

/// Parses a bracket expression at the start of `p`; returns it and how many characters it
/// used, or `None` if the bracket is not closed (then `[` is literal).
fn bracket(p: &[char]) -> Option<(Tok, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(i), Some('!' | '^'));
    if negate {
        i += 1;
    }
    let mut ranges: Vec<(char, char)> = Vec::new();
    let mut first = true;
    loop {
        let c = *p.get(i)?;
        if c == ']' && !first {
            break;
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&e| e != ']') {
            let end = *p.get(i + 2)?;
            ranges.push((c, end));
            i += 3;
        } else {
            ranges.push((c, c));
            i += 1;
        }
    }
    Some((Tok::Set(ranges, negate), i + 1))
}

/// Whether a pattern component contains glob metacharacters.
#[must_use]
pub fn has_glob_meta(component: &str) -> bool {
    component.contains(['*', '?', '[', '\\'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(match_pattern("foo.example.com", "*.example.com"));
        assert!(match_pattern("foo", "f?o"));
        assert!(match_pattern("", "*"));
        assert!(match_pattern("abc", "a*"));
        assert!(match_pattern("abc", "*c"));
        assert!(match_pattern("abcbc", "a*bc"));
        assert!(match_pattern("aXbYc", "a*b*c"));
        assert!(!match_pattern("abc", "a?"));
        assert!(!match_pattern("Foo", "foo"));
        assert!(!match_pattern("", "?"));
        assert!(match_pattern("a*b", "a*b"));
        assert!(match_pattern("hé", "h?"));
    }

    #[test]
    fn lists() {
        assert_eq!(match_list("a", "b,a", false), ListMatch::Positive);
        assert_eq!(match_list("a", "b,c", false), ListMatch::NoMatch);
        assert_eq!(match_list("a", "*,!a", false), ListMatch::Negative);
        assert_eq!(match_list("b", "*,!a", false), ListMatch::Positive);
        assert_eq!(match_list("a", "!a", false), ListMatch::Negative);
        assert_eq!(match_list("b", "!a", false), ListMatch::NoMatch);
        assert_eq!(
            match_hostname("HOST.Example", "*.EXAMPLE"),
            ListMatch::Positive
        );
        assert_eq!(match_list("Alice", "alice", false), ListMatch::NoMatch);
    }

    #[test]
    fn addresses() {
        let m = |a, l| match_address_list(a, l).unwrap();
        assert_eq!(m("10.1.2.3", "10.0.0.0/8"), ListMatch::Positive);
        assert_eq!(m("11.1.2.3", "10.0.0.0/8"), ListMatch::NoMatch);
        assert_eq!(
            m("10.1.2.3", "10.0.0.0/8,!10.1.0.0/16"),
            ListMatch::Negative
        );
        assert_eq!(m("192.168.1.7", "192.168.1.*"), ListMatch::Positive);
        assert_eq!(m("192.168.1.7", "192.168.1.7"), ListMatch::Positive);
        assert_eq!(m("::1", "::/0"), ListMatch::Positive);
        assert_eq!(m("fe80::1", "fe80::/10"), ListMatch::Positive);
        assert_eq!(m("10.0.0.1", "::/0"), ListMatch::NoMatch);
        assert_eq!(m("10.0.0.1", "0.0.0.0/0"), ListMatch::Positive);
        assert_eq!(m("not-an-address", "*"), ListMatch::NoMatch);
        assert!(match_address_list("10.0.0.1", "10.0.0.1/8").is_err());
        assert!(match_address_list("10.0.0.1", "10.0.0.0/8,").is_err());
    }

    #[test]
    fn globs() {
        assert!(glob_component("a.conf", "*.conf"));
        assert!(!glob_component(".a.conf", "*.conf"));
        assert!(glob_component(".a.conf", ".*.conf"));
        assert!(glob_component("b1", "b[0-9]"));
        assert!(!glob_component("bx", "b[0-9]"));
        assert!(glob_component("bx", "b[!0-9]"));
        assert!(glob_component("b]", "b[]]"));
        assert!(glob_component("b[", "b["));
        assert!(glob_component("a*", "a\\*"));
        assert!(!glob_component("ab", "a\\*"));
        assert!(glob_component("x", "?"));
        assert!(has_glob_meta("*.conf"));
        assert!(!has_glob_meta("plain.conf"));
    }
}
