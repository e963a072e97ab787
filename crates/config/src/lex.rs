//! Splitting a configuration line into a keyword and its arguments, as OpenSSH 9.x does
//! (`strdelim` for the keyword, `argv_split` for the arguments).

/// OpenSSH's `WHITESPACE`.
fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// A line split into its keyword (lower case) and the raw text after it (the separator,
/// whitespace or one `=`, removed). `None` for blank lines and comments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line<'a> {
    /// The keyword, lower-cased.
    pub(crate) keyword: String,
    /// The keyword as written.
    pub(crate) original: &'a str,
    /// Everything after the separator (may be empty).
    pub(crate) rest: &'a str,
}

/// Splits a line into keyword and rest. Returns `None` for blank lines and comments.
pub(crate) fn split_line(line: &str) -> Option<Line<'_>> {
    let line = line.trim_end_matches(|c: char| is_ws(c) || c == '\x0c');
    let line = line.trim_start_matches(is_ws);
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (original, after, split_by_equals) = if let Some(quoted) = line.strip_prefix('"') {
        match quoted.find('"') {
            Some(end) => (
                quoted.get(..end).unwrap_or_default(),
                quoted.get(end + 1..).unwrap_or_default(),
                false,
            ),
            // No closing quote: OpenSSH's strdelim finds no keyword and skips the line.
            None => return None,
        }
    } else {
        let end = line.find(|c: char| is_ws(c) || c == '=' || c == '"');
        match end {
            Some(end) => {
                let sep = line.get(end..).unwrap_or_default();
                match sep.strip_prefix('=') {
                    Some(after) => (line.get(..end).unwrap_or_default(), after, true),
                    None => (line.get(..end).unwrap_or_default(), sep, false),
                }
            }
            None => (line, "", false),
        }
    };
    if original.is_empty() {
        return None;
    }
    let mut rest = after.trim_start_matches(is_ws);
    if !split_by_equals && let Some(r) = rest.strip_prefix('=') {
        rest = r.trim_start_matches(is_ws);
    }
    Some(Line {
        keyword: original.to_ascii_lowercase(),
        original,
        rest,
    })
}

/// Why [`split_args`] failed: a quote was never closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UnterminatedQuote;

/// Splits arguments as OpenSSH's `argv_split(s, .., terminate_on_comment = 1)`: separated by
/// spaces and tabs; single or double quotes group (and are removed); a backslash escapes a
/// quote, a backslash, or (outside quotes) a space; a `#` at the start of an argument ends the
/// line.
pub(crate) fn split_args(s: &str) -> Result<Vec<String>, UnterminatedQuote> {
    let mut args = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        // Skip separators.
        while chars.peek().is_some_and(|&c| c == ' ' || c == '\t') {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        if first == '#' {
            break;
        }
        let mut arg = String::new();
        let mut quote: Option<char> = None;
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.peek() {
                    Some(&n)
                        if n == '\'' || n == '"' || n == '\\' || (quote.is_none() && n == ' ') =>
                    {
                        arg.push(n);
                        chars.next();
                    }
                    _ => arg.push(c),
                }
            } else if quote.is_none() && (c == ' ' || c == '\t') {
                break;
            } else if quote.is_none() && (c == '"' || c == '\'') {
                quote = Some(c);
            } else if quote == Some(c) {
                quote = None;
            } else {
                arg.push(c);
            }
        }
        if quote.is_some() {
            return Err(UnterminatedQuote);
        }
        args.push(arg);
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(line: &str) -> Option<(String, String)> {
        split_line(line).map(|l| (l.keyword, l.rest.to_owned()))
    }

    #[test]
    fn keyword_separators() {
        assert_eq!(kw("Port 22"), Some(("port".into(), "22".into())));
        assert_eq!(kw("  PORT=22  "), Some(("port".into(), "22".into())));
        assert_eq!(kw("Port = 22"), Some(("port".into(), "22".into())));
        assert_eq!(kw("Port\t=\t22\x0c"), Some(("port".into(), "22".into())));
        assert_eq!(kw("Port==22"), Some(("port".into(), "=22".into())));
        assert_eq!(kw("\"Port\" 22"), Some(("port".into(), "22".into())));
        assert_eq!(kw("\"Port 22"), None);
        assert_eq!(kw("Port"), Some(("port".into(), String::new())));
        assert_eq!(kw("   # comment"), None);
        assert_eq!(kw(""), None);
        assert_eq!(kw(" \t \r\n"), None);
    }

    #[test]
    fn argument_splitting() {
        let s = |x: &str| split_args(x).unwrap();
        assert_eq!(s("a b\tc"), ["a", "b", "c"]);
        assert_eq!(s("\"a b\" c"), ["a b", "c"]);
        assert_eq!(s("'a \"b' c"), ["a \"b", "c"]);
        assert_eq!(s("a\\ b c"), ["a b", "c"]);
        assert_eq!(s("a\\x"), ["a\\x"]);
        assert_eq!(s("\"a\\\"b\""), ["a\"b"]);
        assert_eq!(s("x\"y z\"w"), ["xy zw"]);
        assert_eq!(s("a # comment"), ["a"]);
        assert_eq!(s("a b#c"), ["a", "b#c"]);
        assert_eq!(s("\"\""), [""]);
        assert!(s("").is_empty());
        assert_eq!(split_args("\"abc"), Err(UnterminatedQuote));
        assert_eq!(split_args("'abc"), Err(UnterminatedQuote));
    }
}
