//! **The I/O edge.** [`StdFiles`], a [`FileSource`] on the real file system (`std::fs`), for
//! the command-line tools; the rest of the crate does no I/O.
//!
//! `Include` globs are expanded component by component with `read_dir` (`*`, `?`, `[...]`,
//! hidden files only matched by a pattern starting with `.`), results sorted per component,
//! as `glob(3)` does. Unlike `ssh`, the permissions of included files are not checked.

use std::path::{Path, PathBuf};

use crate::pattern::{glob_component, has_glob_meta};
use crate::source::FileSource;

/// The real file system, with the include directory and home directory `Include` needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StdFiles {
    include_dir: Option<String>,
    home_dir: Option<String>,
}

impl StdFiles {
    /// Relative includes resolve against `include_dir`; `~/` expands to `home_dir`.
    #[must_use]
    pub fn new(include_dir: Option<String>, home_dir: Option<String>) -> Self {
        Self {
            include_dir,
            home_dir,
        }
    }

    /// For a user's `~/.ssh/config`: relative includes in `$HOME/.ssh`.
    #[must_use]
    pub fn user() -> Self {
        let home = std::env::var("HOME").ok();
        Self {
            include_dir: home.as_ref().map(|h| crate::source::join(h, ".ssh")),
            home_dir: home,
        }
    }

    /// For `/etc/ssh/ssh_config` and `/etc/ssh/sshd_config`: relative includes in `/etc/ssh`.
    #[must_use]
    pub fn system() -> Self {
        Self {
            include_dir: Some("/etc/ssh".into()),
            home_dir: std::env::var("HOME").ok(),
        }
    }
}

impl FileSource for StdFiles {
    fn include_dir(&self) -> Option<&str> {
        self.include_dir.as_deref()
    }

    fn home_dir(&self) -> Option<&str> {
        self.home_dir.as_deref()
    }

    fn glob(&self, pattern: &str) -> Result<Vec<String>, String> {
        let absolute = pattern.starts_with('/');
        let mut current: Vec<PathBuf> = vec![if absolute {
            PathBuf::from("/")
        } else {
            PathBuf::new()
        }];
        for comp in pattern.split('/').filter(|c| !c.is_empty()) {
            let mut next = Vec::new();
            for base in &current {
                if has_glob_meta(comp) {
                    let dir = if base.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        base.as_path()
                    };
                    let Ok(entries) = std::fs::read_dir(dir) else {
                        continue;
                    };
                    let mut names: Vec<String> = entries
                        .filter_map(Result::ok)
                        .filter_map(|e| e.file_name().into_string().ok())
                        .filter(|n| glob_component(n, comp))
                        .collect();
                    names.sort();
                    next.extend(names.into_iter().map(|n| base.join(n)));
                } else {
                    next.push(base.join(comp));
                }
            }
            current = next;
        }
        let mut out: Vec<String> = current
            .into_iter()
            .filter(|p| p.exists() && !p.as_os_str().is_empty())
            .filter_map(|p| p.into_os_string().into_string().ok())
            .collect();
        out.dedup();
        Ok(out)
    }

    fn read(&self, path: &str) -> Result<Option<String>, String> {
        let p = Path::new(path);
        if p.is_dir() {
            // ssh opens a directory and reads nothing from it.
            return Ok(Some(String::new()));
        }
        match std::fs::read(p) {
            Ok(bytes) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| "not valid UTF-8".to_owned()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Reads a top-level configuration file through `files`: `Ok(None)` if it does not exist.
/// Errors name the file.
pub fn read_config(files: &dyn FileSource, path: &str) -> Result<Option<String>, crate::Error> {
    files.read(path).map_err(|message| {
        crate::Error::new(
            crate::error::Location::new(path, 0),
            crate::error::ErrorKind::Read {
                message,
                included_from: None,
            },
        )
    })
}
