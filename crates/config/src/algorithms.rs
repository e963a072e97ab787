//! Algorithm lists with OpenSSH's modifiers (`Ciphers`, `MACs`, `KexAlgorithms`,
//! `HostKeyAlgorithms`, `PubkeyAcceptedAlgorithms`, `CASignatureAlgorithms`, ...).

use core::fmt;

use crate::pattern::match_pattern;

/// An algorithm list as written in a configuration file. The modifier is kept for the
/// consumer, who knows the defaults and the supported set: [`AlgorithmList::resolve`] applies
/// it the way OpenSSH's `kex_assemble_names` does.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AlgorithmList {
    /// `a,b,c`: exactly these (entries may be wildcard patterns, matched against the
    /// supported set).
    Replace(Vec<String>),
    /// `+a,b`: the defaults, then these.
    Append(Vec<String>),
    /// `-a,b*`: the defaults without these (wildcard patterns).
    Remove(Vec<String>),
    /// `^a,b`: these, then the rest of the defaults.
    Prepend(Vec<String>),
}

/// Why a list is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlgorithmListError {
    /// No name at all (``, `+`, `,`).
    #[error("empty algorithm name in list")]
    EmptyName,
    /// A character that cannot appear in an algorithm name or pattern.
    #[error("invalid character {0:?} in algorithm name")]
    BadChar(char),
    /// Applying the list left nothing.
    #[error("the algorithm list is empty after applying it to the defaults")]
    Empty,
}

impl AlgorithmList {
    /// Parses `[+|-|^]name[,name...]`.
    pub fn parse(s: &str) -> Result<Self, AlgorithmListError> {
        let (ctor, body): (fn(Vec<String>) -> Self, &str) = match s.chars().next() {
            Some('+') => (Self::Append, s.get(1..).unwrap_or_default()),
            Some('-') => (Self::Remove, s.get(1..).unwrap_or_default()),
            Some('^') => (Self::Prepend, s.get(1..).unwrap_or_default()),
            _ => (Self::Replace, s),
        };
        let mut names = Vec::new();
        // Like OpenSSH, empty entries (`a,,b`, `a,`) are skipped; a list with no name at all
        // is an error.
        for name in body.split(',').filter(|n| !n.is_empty()) {
            if let Some(c) = name
                .chars()
                .find(|c| !c.is_ascii_graphic() || matches!(c, ',' | '"' | '\'' | '+' | '^'))
            {
                return Err(AlgorithmListError::BadChar(c));
            }
            if name.starts_with('-') {
                return Err(AlgorithmListError::BadChar('-'));
            }
            names.push(name.to_owned());
        }
        if names.is_empty() {
            return Err(AlgorithmListError::EmptyName);
        }
        Ok(ctor(names))
    }

    /// The names (or patterns) of the list, without the modifier.
    #[must_use]
    pub fn names(&self) -> &[String] {
        match self {
            Self::Replace(v) | Self::Append(v) | Self::Remove(v) | Self::Prepend(v) => v,
        }
    }

    /// The modifier character (`+`, `-`, `^`), if any.
    #[must_use]
    pub fn modifier(&self) -> Option<char> {
        match self {
            Self::Replace(_) => None,
            Self::Append(_) => Some('+'),
            Self::Remove(_) => Some('-'),
            Self::Prepend(_) => Some('^'),
        }
    }

    /// The final list given the `defaults` and every `supported` algorithm, as OpenSSH's
    /// `kex_assemble_names`: `+` appends, `^` prepends (dropping later duplicates), `-` removes
    /// whatever matches its patterns from the defaults; then (except for `-`) each entry is
    /// expanded as a pattern against `supported`, keeping the first occurrence of each name.
    /// Names that are not supported are dropped; an empty result is an error.
    pub fn resolve(
        &self,
        defaults: &[&str],
        supported: &[&str],
    ) -> Result<Vec<String>, AlgorithmListError> {
        let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let list: Vec<String> = match self {
            Self::Remove(pats) => {
                let out: Vec<String> = defaults
                    .iter()
                    .filter(|d| !pats.iter().any(|p| match_pattern(d, p)))
                    .map(|d| (*d).to_owned())
                    .collect();
                return if out.is_empty() {
                    Err(AlgorithmListError::Empty)
                } else {
                    Ok(out)
                };
            }
            Self::Append(v) => cat(&owned(defaults), v),
            Self::Prepend(v) => cat(v, &owned(defaults)),
            Self::Replace(v) => v.clone(),
        };
        let mut out: Vec<String> = Vec::new();
        for entry in &list {
            for s in supported {
                if match_pattern(s, entry) && !out.iter().any(|o| o == s) {
                    out.push((*s).to_owned());
                }
            }
        }
        if out.is_empty() {
            Err(AlgorithmListError::Empty)
        } else {
            Ok(out)
        }
    }
}

/// `a` followed by the entries of `b` not already in `a`.
fn cat(a: &[String], b: &[String]) -> Vec<String> {
    let mut out = a.to_vec();
    for x in b {
        if !out.contains(x) {
            out.push(x.clone());
        }
    }
    out
}

impl fmt::Display for AlgorithmList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(m) = self.modifier() {
            write!(f, "{m}")?;
        }
        write!(f, "{}", self.names().join(","))
    }
}

impl core::str::FromStr for AlgorithmList {
    type Err = AlgorithmListError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEF: &[&str] = &["a", "b", "c"];
    const ALL: &[&str] = &["a", "b", "c", "d", "e-1", "e-2"];

    #[test]
    fn parse_modifiers() {
        assert_eq!(
            AlgorithmList::parse("a,b").unwrap(),
            AlgorithmList::Replace(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            AlgorithmList::parse("+d").unwrap(),
            AlgorithmList::Append(vec!["d".into()])
        );
        assert_eq!(
            AlgorithmList::parse("-a*").unwrap(),
            AlgorithmList::Remove(vec!["a*".into()])
        );
        assert_eq!(
            AlgorithmList::parse("^c").unwrap(),
            AlgorithmList::Prepend(vec!["c".into()])
        );
        assert_eq!(AlgorithmList::parse("^c,d").unwrap().to_string(), "^c,d");
        assert_eq!(AlgorithmList::parse(""), Err(AlgorithmListError::EmptyName));
        assert_eq!(
            AlgorithmList::parse("+"),
            Err(AlgorithmListError::EmptyName)
        );
        assert_eq!(
            AlgorithmList::parse(","),
            Err(AlgorithmListError::EmptyName)
        );
        assert_eq!(
            AlgorithmList::parse("a,,b,").unwrap(),
            AlgorithmList::Replace(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            AlgorithmList::parse("a b"),
            Err(AlgorithmListError::BadChar(' '))
        );
        // A modifier is only a modifier at the very start.
        assert_eq!(
            AlgorithmList::parse(",+a"),
            Err(AlgorithmListError::BadChar('+'))
        );
        assert_eq!(
            AlgorithmList::parse("a,-b"),
            Err(AlgorithmListError::BadChar('-'))
        );
        assert_eq!(
            AlgorithmList::parse("+^a"),
            Err(AlgorithmListError::BadChar('^'))
        );
    }

    #[test]
    fn resolve_like_openssh() {
        let r = |s: &str| AlgorithmList::parse(s).unwrap().resolve(DEF, ALL);
        assert_eq!(r("+d").unwrap(), ["a", "b", "c", "d"]);
        assert_eq!(r("+a").unwrap(), ["a", "b", "c"]);
        assert_eq!(r("-b").unwrap(), ["a", "c"]);
        assert_eq!(r("-*"), Err(AlgorithmListError::Empty));
        assert_eq!(r("^c,d").unwrap(), ["c", "d", "a", "b"]);
        assert_eq!(r("e-*,a").unwrap(), ["e-1", "e-2", "a"]);
        assert_eq!(r("unknown,b").unwrap(), ["b"]);
        assert_eq!(r("unknown"), Err(AlgorithmListError::Empty));
    }
}
