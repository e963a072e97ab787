//! The line loop shared by both configuration kinds: splitting lines, `Include` (globs,
//! nesting limit, block state saved and restored around each file), and dispatch of every
//! other line to a [`Handler`].

use crate::error::{Error, ErrorKind, Location};
use crate::lex::{Line, split_args, split_line};
use crate::source::FileSource;

/// OpenSSH's `READCONF_MAX_DEPTH`: how deeply `Include`s may nest.
pub const MAX_INCLUDE_DEPTH: usize = 16;

/// How many files one parse may read through `Include` in total. OpenSSH has no such limit,
/// but without one a file that includes itself twice per level is read 2^16 times; whelk
/// stops with [`ErrorKind::TooManyIncludes`] instead.
pub const MAX_INCLUDED_FILES: usize = 1024;

/// One parsed line, handed to a [`Handler`].
pub(crate) struct Directive<'l> {
    /// The split line (keyword lower-cased, raw rest).
    pub(crate) line: Line<'l>,
    /// The arguments, split and unquoted.
    pub(crate) args: Vec<String>,
    /// Where the line is.
    pub(crate) loc: Location,
}

impl Directive<'_> {
    /// An error at this line.
    pub(crate) fn err(&self, kind: ErrorKind) -> Error {
        Error::new(self.loc.clone(), kind)
    }

    /// A "bad value" error at this line.
    pub(crate) fn bad(&self, value: &str, reason: impl Into<String>) -> Error {
        self.err(ErrorKind::BadValue {
            keyword: self.line.keyword.clone(),
            value: value.to_owned(),
            reason: reason.into(),
        })
    }

    /// The single argument of a one-argument keyword; errors if there is none, it is empty,
    /// or more follow.
    pub(crate) fn one(&self) -> Result<&str, Error> {
        let first = self.first()?;
        self.no_more(1)?;
        Ok(first)
    }

    /// The first argument (must be present and non-empty).
    pub(crate) fn first(&self) -> Result<&str, Error> {
        match self.args.first() {
            None => Err(self.err(ErrorKind::MissingArgument {
                keyword: self.line.keyword.clone(),
            })),
            Some(a) if a.is_empty() => Err(self.err(ErrorKind::EmptyArgument {
                keyword: self.line.keyword.clone(),
            })),
            Some(a) => Ok(a),
        }
    }

    /// Errors if there are more than `n` arguments.
    pub(crate) fn no_more(&self, n: usize) -> Result<(), Error> {
        match self.args.get(n) {
            Some(extra) => Err(self.err(ErrorKind::TrailingGarbage {
                keyword: self.line.keyword.clone(),
                extra: extra.clone(),
            })),
            None => Ok(()),
        }
    }

    /// All arguments; at least one, none empty.
    pub(crate) fn all_nonempty(&self) -> Result<&[String], Error> {
        self.first()?;
        if self.args.iter().any(String::is_empty) {
            return Err(self.err(ErrorKind::EmptyArgument {
                keyword: self.line.keyword.clone(),
            }));
        }
        Ok(&self.args)
    }

    /// The raw text after the keyword (for options that take "the rest of the line").
    pub(crate) fn raw(&self) -> &str {
        self.line.rest
    }
}

/// What a configuration kind does with its lines.
pub(crate) trait Handler {
    /// The block state (which options apply), saved and restored around `Include`.
    type State: Copy;

    /// Whether options in this state apply at all (an `Include` in an inactive state reads its
    /// files with "never match": no block inside becomes active).
    fn is_active(&self, state: Self::State) -> bool;

    /// Handles one line other than `Include`. `never_match` is set inside files included
    /// from an inactive block.
    fn directive(
        &mut self,
        d: &Directive<'_>,
        state: &mut Self::State,
        never_match: bool,
    ) -> Result<(), Error>;
}

/// Runs `handler` over `text` (named `name`), following `Include`s through `files`.
pub(crate) fn run<H: Handler>(
    handler: &mut H,
    files: &dyn FileSource,
    text: &str,
    name: &str,
    state: &mut H::State,
) -> Result<(), Error> {
    let mut walk = Walk {
        handler,
        files,
        budget: MAX_INCLUDED_FILES,
    };
    walk.file(text, name, state, false, 0)
}

/// One parse: the handler, where files come from, and how many more may be included.
struct Walk<'h, 'f, H> {
    handler: &'h mut H,
    files: &'f dyn FileSource,
    budget: usize,
}

impl<H: Handler> Walk<'_, '_, H> {
    fn file(
        &mut self,
        text: &str,
        name: &str,
        state: &mut H::State,
        never_match: bool,
        depth: usize,
    ) -> Result<(), Error> {
        for (i, raw) in text.split('\n').enumerate() {
            let loc = Location::new(name, i + 1);
            let Some(line) = split_line(raw) else {
                continue;
            };
            if line.rest.is_empty() {
                return Err(Error::new(
                    loc,
                    ErrorKind::MissingArgument {
                        keyword: line.keyword,
                    },
                ));
            }
            let args = split_args(line.rest)
                .map_err(|_| Error::new(loc.clone(), ErrorKind::InvalidQuotes))?;
            let d = Directive { line, args, loc };
            if d.line.keyword == "include" {
                self.include(&d, state, never_match, depth)?;
            } else {
                self.handler.directive(&d, state, never_match)?;
            }
        }
        Ok(())
    }

    fn include(
        &mut self,
        d: &Directive<'_>,
        state: &mut H::State,
        never_match: bool,
        depth: usize,
    ) -> Result<(), Error> {
        let args = d.all_nonempty()?;
        if depth >= MAX_INCLUDE_DEPTH {
            return Err(d.err(ErrorKind::IncludeDepth {
                max: MAX_INCLUDE_DEPTH,
            }));
        }
        let saved = *state;
        let child_never = never_match || !self.handler.is_active(saved);
        for arg in args {
            let pattern = self.files.resolve_include(arg);
            let paths = self.files.glob(&pattern).map_err(|message| {
                d.err(ErrorKind::IncludeGlob {
                    pattern: pattern.clone(),
                    message,
                })
            })?;
            if paths.is_empty() {
                tracing::debug!(
                    file = %d.loc.file, line = d.loc.line, %pattern,
                    "Include matched no files"
                );
            }
            for path in paths {
                self.budget = self.budget.checked_sub(1).ok_or_else(|| {
                    d.err(ErrorKind::TooManyIncludes {
                        max: MAX_INCLUDED_FILES,
                    })
                })?;
                let text = self.files.read(&path).map_err(|message| {
                    Error::new(
                        Location::new(path.clone(), 0),
                        ErrorKind::Read {
                            message,
                            included_from: Some(d.loc.clone()),
                        },
                    )
                })?;
                let Some(text) = text else {
                    // Vanished between glob and read; OpenSSH ignores ENOENT here too.
                    continue;
                };
                self.file(&text, &path, state, child_never, depth + 1)?;
                // A Host or Match inside the included file does not leak into this one.
                *state = saved;
            }
        }
        Ok(())
    }
}
