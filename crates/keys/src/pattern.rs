//! OpenSSH patterns (match.c): `*` and `?` wildcards, `!` negation in comma-separated
//! lists, and address/CIDR lists for `from=` and `source-address`.

use core::net::IpAddr;

/// Matches `s` against one wildcard pattern (`*` any run, `?` any one character).
/// Iterative, linear-memory, and bounded in time by `len(s) * len(pattern)`.
#[must_use]
pub fn match_pattern(s: &str, pattern: &str) -> bool {
    let s = s.as_bytes();
    let p = pattern.as_bytes();
    let (mut si, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(&c) if c == b'?' || Some(&c) == s.get(si) => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

/// The result of matching against a pattern list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListMatch {
    /// No pattern matched.
    NoMatch,
    /// A positive pattern matched and no negated one did.
    Match,
    /// A negated (`!`) pattern matched: this overrides any positive match.
    Negated,
}

/// Matches `s` against a comma-separated pattern list (`match_pattern_list`). With
/// `fold_case`, both sides are compared in lower case (host names).
#[must_use]
pub fn match_list(s: &str, list: &str, fold_case: bool) -> ListMatch {
    let s = if fold_case {
        s.to_ascii_lowercase()
    } else {
        s.into()
    };
    let mut got = ListMatch::NoMatch;
    for pat in list.split(',') {
        let (neg, pat) = match pat.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pat),
        };
        let pat = if fold_case {
            pat.to_ascii_lowercase()
        } else {
            pat.into()
        };
        if match_pattern(&s, &pat) {
            if neg {
                return ListMatch::Negated;
            }
            got = ListMatch::Match;
        }
    }
    got
}

/// Whether `addr` is inside `cidr` (`192.0.2.0/24`, `2001:db8::/32` or a plain address).
#[must_use]
pub fn cidr_contains(cidr: &str, addr: IpAddr) -> Option<bool> {
    let (net, bits) = match cidr.split_once('/') {
        Some((n, b)) => (n, Some(b.parse::<u32>().ok()?)),
        None => (cidr, None),
    };
    let net: IpAddr = net.parse().ok()?;
    match (net, addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let bits = bits.unwrap_or(32);
            if bits > 32 {
                return None;
            }
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            let n = u32::from(n);
            if n & !mask != 0 {
                // OpenSSH rejects networks with host bits set.
                return None;
            }
            Some(u32::from(a) & mask == n)
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let bits = bits.unwrap_or(128);
            if bits > 128 {
                return None;
            }
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            let n = u128::from(n);
            if n & !mask != 0 {
                return None;
            }
            Some(u128::from(a) & mask == n)
        }
        _ => Some(false),
    }
}

/// Matches a client against a `from=`-style list (`match_host_and_ip`): each entry is a
/// host name pattern, an address pattern, or a CIDR block, any of them negated with `!`.
/// A negated match rejects; otherwise any positive match accepts.
#[must_use]
pub fn match_host_and_ip(host: Option<&str>, addr: Option<IpAddr>, list: &str) -> bool {
    let mut matched = false;
    for entry in list.split(',') {
        let (neg, pat) = match entry.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, entry),
        };
        let hit = if pat.contains('/') {
            match addr.map(|a| cidr_contains(pat, a)) {
                // An invalid CIDR block makes the whole list fail, as in OpenSSH.
                Some(None) => return false,
                Some(Some(hit)) => hit,
                None => false,
            }
        } else {
            let by_addr = addr.is_some_and(|a| match_pattern(&a.to_string(), pat));
            let by_host = host
                .is_some_and(|h| match_pattern(&h.to_ascii_lowercase(), &pat.to_ascii_lowercase()));
            by_addr || by_host
        };
        if hit {
            if neg {
                return false;
            }
            matched = true;
        }
    }
    matched
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(match_pattern("host.example.com", "*.example.com"));
        assert!(match_pattern("a", "?"));
        assert!(!match_pattern("ab", "?"));
        assert!(match_pattern("", "*"));
        assert!(match_pattern("abc", "a*c"));
        assert!(match_pattern("axxbxxc", "a*b*c"));
        assert!(!match_pattern("axxbxx", "a*b*c"));
        assert!(match_pattern("[h]:2222", "[h]:2222"));
        // Pathological patterns stay fast.
        let s = "a".repeat(2000);
        assert!(!match_pattern(&s, &"*a".repeat(500).replace("a*a", "a*b")));
    }

    #[test]
    fn lists_and_negation() {
        assert_eq!(
            match_list("a.example.com", "*.example.com,!b.example.com", true),
            ListMatch::Match
        );
        assert_eq!(
            match_list("b.example.com", "*.example.com,!b.example.com", true),
            ListMatch::Negated
        );
        assert_eq!(
            match_list("B.EXAMPLE.com", "b.example.com", true),
            ListMatch::Match
        );
        assert_eq!(
            match_list("c.org", "*.example.com", true),
            ListMatch::NoMatch
        );
    }

    #[test]
    fn cidr() {
        let a: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(cidr_contains("192.0.2.0/24", a), Some(true));
        assert_eq!(cidr_contains("192.0.3.0/24", a), Some(false));
        assert_eq!(cidr_contains("192.0.2.1/24", a), None);
        assert_eq!(cidr_contains("0.0.0.0/0", a), Some(true));
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(cidr_contains("2001:db8::/32", b), Some(true));
        assert!(match_host_and_ip(
            Some("h.example.com"),
            Some(a),
            "*.example.com"
        ));
        assert!(!match_host_and_ip(
            Some("h.example.com"),
            Some(a),
            "*.example.com,!192.0.2.0/24"
        ));
        assert!(match_host_and_ip(None, Some(a), "10.0.0.0/8,192.0.2.*"));
    }
}
