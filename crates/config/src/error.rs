//! Errors: every one names the file and line it comes from.

use core::fmt;

/// Where in the configuration something was found: a file name (as given to the parser or
/// produced by an `Include`) and a 1-based line number (0 when the error concerns the file as
/// a whole, e.g. it cannot be read).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    /// The file, as named by the caller or by the `Include` line that pulled it in.
    pub file: String,
    /// The 1-based line number; 0 for the file as a whole.
    pub line: usize,
}

impl Location {
    /// A location in `file` at `line`.
    pub fn new(file: impl Into<String>, line: usize) -> Self {
        Self {
            file: file.into(),
            line,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file)
        } else {
            write!(f, "{} line {}", self.file, self.line)
        }
    }
}

/// A configuration error: what went wrong ([`ErrorKind`]) and where ([`Location`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {kind}")]
pub struct Error {
    /// The file and line.
    pub location: Location,
    /// What is wrong.
    pub kind: ErrorKind,
}

impl Error {
    /// An error of `kind` at `location`.
    pub fn new(location: Location, kind: ErrorKind) -> Self {
        Self { location, kind }
    }

    /// The file the error is in.
    #[must_use]
    pub fn file(&self) -> &str {
        &self.location.file
    }

    /// The 1-based line the error is on (0 for the file as a whole).
    #[must_use]
    pub fn line(&self) -> usize {
        self.location.line
    }
}

/// What is wrong with a configuration line or file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A quote is opened and never closed.
    #[error("invalid quotes")]
    InvalidQuotes,
    /// A keyword with nothing after it.
    #[error("no argument after keyword \"{keyword}\"")]
    MissingArgument {
        /// The keyword (lower case).
        keyword: String,
    },
    /// An empty (`""`) argument where a value is needed.
    #[error("keyword \"{keyword}\" has an empty argument")]
    EmptyArgument {
        /// The keyword (lower case).
        keyword: String,
    },
    /// More arguments than the keyword takes.
    #[error("keyword \"{keyword}\": garbage at end of line: \"{extra}\"")]
    TrailingGarbage {
        /// The keyword (lower case).
        keyword: String,
        /// The first extra argument.
        extra: String,
    },
    /// A value the keyword does not accept.
    #[error("keyword \"{keyword}\": bad value \"{value}\": {reason}")]
    BadValue {
        /// The keyword (lower case).
        keyword: String,
        /// The offending value.
        value: String,
        /// Why it is rejected.
        reason: String,
    },
    /// A `Match` line that cannot be understood.
    #[error("bad Match condition: {0}")]
    BadMatch(String),
    /// A `Host` line inside a server configuration, or a keyword only the other side knows
    /// used in a way that makes no sense.
    #[error("\"{keyword}\" is not allowed here: {reason}")]
    NotAllowed {
        /// The keyword (lower case).
        keyword: String,
        /// Why.
        reason: String,
    },
    /// A server keyword that `sshd` does not accept inside a `Match` block.
    #[error("directive \"{keyword}\" is not allowed within a Match block")]
    NotAllowedInMatch {
        /// The keyword (lower case).
        keyword: String,
    },
    /// `Include` nested deeper than OpenSSH allows (16 levels).
    #[error("too many recursive configuration includes (more than {max})")]
    IncludeDepth {
        /// The limit.
        max: usize,
    },
    /// More files read through `Include` in one parse than whelk allows.
    #[error("too many included files (more than {max} in one parse)")]
    TooManyIncludes {
        /// The limit.
        max: usize,
    },
    /// The file source could not expand an `Include` pattern.
    #[error("Include \"{pattern}\": {message}")]
    IncludeGlob {
        /// The pattern, after `~` and relative-path resolution.
        pattern: String,
        /// What the file source reported.
        message: String,
    },
    /// A file could not be read (the location names it, with line 0; the `Include` line that
    /// named it is in `included_from`).
    #[error("cannot read{}: {message}", included_from.as_ref().map(|l| format!(" (included from {l})")).unwrap_or_default())]
    Read {
        /// What the file source reported.
        message: String,
        /// The `Include` line that named the file, if any.
        included_from: Option<Location>,
    },
    /// A `%` token that the option does not support, or a `%` at the end of a string.
    #[error("token expansion: {0}")]
    Token(#[from] crate::tokens::TokenError),
}
