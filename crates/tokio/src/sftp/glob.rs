//! Shell-style wildcards (`*`, `?`, `[a-z]`, `[!x]`, `\` escapes) as `sftp`'s `get`/`put`
//! use them (glob(3) semantics: a leading `.` is matched only by a literal `.`).

use std::path::{Path, PathBuf};

/// Whether `s` contains wildcard characters.
#[must_use]
pub fn has_magic(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Whether `name` (one path component) matches `pattern`.
#[must_use]
pub fn fnmatch(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    if n.first() == Some(&'.') && p.first() != Some(&'.') {
        return false;
    }
    matches(&p, &n)
}

fn matches(p: &[char], n: &[char]) -> bool {
    // Iterative matcher with single-star backtracking.
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let c = n.get(ni).copied().unwrap_or_default();
        match p.get(pi).copied() {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some('?') => {
                pi += 1;
                ni += 1;
                continue;
            }
            Some('[') => {
                if let Some((ok, len)) = class(p.get(pi..).unwrap_or_default(), c) {
                    if ok {
                        pi += len;
                        ni += 1;
                        continue;
                    }
                } else if c == '[' {
                    pi += 1;
                    ni += 1;
                    continue;
                }
            }
            Some('\\') if p.get(pi + 1) == Some(&c) => {
                pi += 2;
                ni += 1;
                continue;
            }
            Some(x) if x == c && x != '\\' => {
                pi += 1;
                ni += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sp, sn)) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    p.get(pi..).unwrap_or_default().iter().all(|&c| c == '*')
}

/// Matches `c` against the bracket expression at the start of `p`; returns (matched,
/// length of the expression), or `None` if the bracket is not closed.
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(i), Some('!' | '^'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let x = *p.get(i)?;
        if x == ']' && !first {
            return Some((hit != negate, i + 1));
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&e| e != ']') {
            let hi = *p.get(i + 2)?;
            if x <= c && c <= hi {
                hit = true;
            }
            i += 3;
        } else {
            if x == c {
                hit = true;
            }
            i += 1;
        }
    }
}

/// Expands `pattern` against the local file system, sorted; a pattern without wildcards is
/// returned as is (whether or not it exists).
pub fn local_glob(pattern: &str) -> std::io::Result<Vec<PathBuf>> {
    if !has_magic(pattern) {
        return Ok(vec![PathBuf::from(pattern)]);
    }
    let absolute = pattern.starts_with('/');
    let mut current: Vec<PathBuf> = vec![if absolute {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    }];
    for comp in pattern.split('/').filter(|c| !c.is_empty()) {
        let mut next = Vec::new();
        for base in &current {
            if has_magic(comp) {
                let dir: &Path = if base.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    base
                };
                let Ok(rd) = std::fs::read_dir(dir) else {
                    continue;
                };
                let mut names: Vec<String> = rd
                    .filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|n| fnmatch(comp, n))
                    .collect();
                names.sort();
                next.extend(names.into_iter().map(|n| base.join(n)));
            } else {
                let p = base.join(comp);
                if p.symlink_metadata().is_ok() {
                    next.push(p);
                }
            }
        }
        current = next;
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(fnmatch("*.txt", "a.txt"));
        assert!(!fnmatch("*.txt", ".a.txt"));
        assert!(fnmatch(".*", ".hidden"));
        assert!(fnmatch("a?c", "abc"));
        assert!(fnmatch("[a-c]x", "bx"));
        assert!(!fnmatch("[!a-c]x", "bx"));
        assert!(fnmatch("*b*c", "abxbc"));
        assert!(fnmatch("f\\*", "f*"));
        assert!(!fnmatch("f\\*", "fa"));
        assert!(fnmatch("ü*", "über"));
        assert!(!fnmatch("a", "ab"));
        assert!(fnmatch("*", "x"));
    }
}
