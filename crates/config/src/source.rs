//! Where configuration files come from: the [`FileSource`] trait the parser uses to resolve
//! `Include` patterns and read files, and [`MemoryFiles`], an in-memory implementation for
//! tests and embedders. The file-system implementation is [`crate::io::StdFiles`].

use std::collections::BTreeMap;

use crate::pattern::{glob_component, has_glob_meta};

/// Resolves `Include` patterns and reads the files they name. The parser does no I/O of its
/// own: everything goes through this trait.
pub trait FileSource {
    /// The directory relative `Include` paths are resolved against: `~/.ssh` for a user's
    /// `ssh_config`, `/etc/ssh` for the system files. `None` leaves them relative.
    fn include_dir(&self) -> Option<&str>;

    /// The home directory `~/` expands to in `Include` paths (`None`: no expansion).
    fn home_dir(&self) -> Option<&str>;

    /// Every path matching the `glob(3)` pattern (already made absolute by
    /// [`FileSource::resolve_include`]), sorted. No match is an empty list, not an error.
    fn glob(&self, pattern: &str) -> Result<Vec<String>, String>;

    /// The text of the file at `path`; `Ok(None)` if it does not exist.
    fn read(&self, path: &str) -> Result<Option<String>, String>;

    /// Turns an `Include` argument into the pattern to expand: `~/` becomes the home
    /// directory, and a relative path is taken relative to [`FileSource::include_dir`].
    fn resolve_include(&self, arg: &str) -> String {
        if let (Some(rest), Some(home)) = (arg.strip_prefix("~/"), self.home_dir()) {
            return join(home, rest);
        }
        if arg == "~"
            && let Some(home) = self.home_dir()
        {
            return home.to_owned();
        }
        if arg.starts_with('/') {
            return arg.to_owned();
        }
        match self.include_dir() {
            Some(dir) => join(dir, arg),
            None => arg.to_owned(),
        }
    }
}

/// `dir/name`, without doubling the slash.
pub(crate) fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// Files held in memory, keyed by path. Globs match path components one by one, as
/// `glob(3)` does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryFiles {
    files: BTreeMap<String, String>,
    include_dir: Option<String>,
    home_dir: Option<String>,
}

impl MemoryFiles {
    /// No files, relative includes left relative, no home directory.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a file.
    #[must_use]
    pub fn with(mut self, path: impl Into<String>, text: impl Into<String>) -> Self {
        self.insert(path, text);
        self
    }

    /// Adds (or replaces) a file.
    pub fn insert(&mut self, path: impl Into<String>, text: impl Into<String>) {
        self.files.insert(path.into(), text.into());
    }

    /// Sets the directory relative `Include` paths resolve against.
    #[must_use]
    pub fn include_dir(mut self, dir: impl Into<String>) -> Self {
        self.include_dir = Some(dir.into());
        self
    }

    /// Sets the home directory `~/` expands to.
    #[must_use]
    pub fn home_dir(mut self, dir: impl Into<String>) -> Self {
        self.home_dir = Some(dir.into());
        self
    }
}

impl FileSource for MemoryFiles {
    fn include_dir(&self) -> Option<&str> {
        self.include_dir.as_deref()
    }

    fn home_dir(&self) -> Option<&str> {
        self.home_dir.as_deref()
    }

    fn glob(&self, pattern: &str) -> Result<Vec<String>, String> {
        let pat: Vec<&str> = pattern.split('/').collect();
        Ok(self
            .files
            .keys()
            .filter(|path| {
                let comps: Vec<&str> = path.split('/').collect();
                comps.len() == pat.len()
                    && comps.iter().zip(&pat).all(|(c, p)| {
                        if has_glob_meta(p) {
                            glob_component(c, p)
                        } else {
                            c == p
                        }
                    })
            })
            .cloned()
            .collect())
    }

    fn read(&self, path: &str) -> Result<Option<String>, String> {
        Ok(self.files.get(path).cloned())
    }
}

/// A source with no files at all: every `Include` matches nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoFiles;

impl FileSource for NoFiles {
    fn include_dir(&self) -> Option<&str> {
        None
    }

    fn home_dir(&self) -> Option<&str> {
        None
    }

    fn glob(&self, _pattern: &str) -> Result<Vec<String>, String> {
        Ok(Vec::new())
    }

    fn read(&self, _path: &str) -> Result<Option<String>, String> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_globs() {
        let m = MemoryFiles::new()
            .with("/etc/ssh/conf.d/b.conf", "")
            .with("/etc/ssh/conf.d/a.conf", "")
            .with("/etc/ssh/conf.d/.hidden.conf", "")
            .with("/etc/ssh/conf.d/c.txt", "")
            .with("/etc/ssh/other/d.conf", "")
            .include_dir("/etc/ssh")
            .home_dir("/home/u");
        assert_eq!(
            m.glob("/etc/ssh/conf.d/*.conf").unwrap(),
            ["/etc/ssh/conf.d/a.conf", "/etc/ssh/conf.d/b.conf"]
        );
        assert_eq!(
            m.glob("/etc/ssh/*/*.conf").unwrap(),
            [
                "/etc/ssh/conf.d/a.conf",
                "/etc/ssh/conf.d/b.conf",
                "/etc/ssh/other/d.conf"
            ]
        );
        assert!(m.glob("/etc/ssh/none/*").unwrap().is_empty());
        assert_eq!(m.resolve_include("conf.d/*"), "/etc/ssh/conf.d/*");
        assert_eq!(m.resolve_include("~/x"), "/home/u/x");
        assert_eq!(m.resolve_include("/abs"), "/abs");
        assert_eq!(NoFiles.resolve_include("rel"), "rel");
        assert_eq!(NoFiles.resolve_include("~/rel"), "~/rel");
    }
}
