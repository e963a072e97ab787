//! OpenSSH configuration files for whelk: the client's `ssh_config` and the server's
//! `sshd_config`, parsed into typed options with OpenSSH 9.2's semantics.
//!
//! - [`client`]: [`ClientConfig`], evaluated for one connection ([`MatchContext`]): `Host`
//!   blocks, `Match` (`all`, `canonical`, `exec`, `final`, `host`, `localuser`,
//!   `originalhost`, `user`, each negatable with `!`), first value wins.
//! - [`server`]: [`ServerConfig`], global options plus the `Match` blocks (`All`, `Address`,
//!   `Group`, `Host`, `LocalAddress`, `LocalPort`, `RDomain`, `User`) that apply to one
//!   connection ([`ServerMatchContext`]), which override the global values.
//! - `Include` with globs, through a [`FileSource`]: the parser itself does no I/O
//!   ([`MemoryFiles`] for tests and embedders, [`io::StdFiles`] at the I/O edge).
//! - [`tokens`]: `%` expansion (`%%`, `%C`, `%d`, `%h`, `%i`, `%k`, `%L`, `%l`, `%n`, `%p`,
//!   `%r`, `%u`); [`units`]: byte counts (`2m512k`) and intervals (`1w2d3h`);
//!   [`forward`]: forwarding specifications; [`AlgorithmList`]: `+`/`-`/`^` lists.
//!
//! Options whelk does not know are ignored with a `tracing` debug event; a bad value is an
//! [`Error`] naming the file and line.
//!
//! The tests compare what whelk resolves with `ssh -G` and `sshd -T` (OpenSSH 9.2p1) for
//! the files in `testdata/config/`. Where whelk deliberately differs from OpenSSH:
//!
//! - Unknown keywords are ignored (OpenSSH rejects them unless `IgnoreUnknown` lists them).
//! - Byte counts may be sums (`2m512k`); OpenSSH's `scan_scaled` takes a single term.
//! - Algorithm names are checked for syntax only; [`AlgorithmList::resolve`] applies the
//!   modifiers against the defaults and the supported set the consumer provides.
//! - One parse reads at most [`MAX_INCLUDED_FILES`] files through `Include`; permissions of
//!   included files are not checked.
//! - No DNS: `CanonicalizeHostname` is parsed, but canonicalization (and the pass after it)
//!   is the caller's; [`resolve_client`] runs the `Match final` pass.
//! - `Match exec` calls [`MatchContext::exec`]; without one the criterion is false.
//! - OpenSSH 9.2 quirks kept: `Match canonical` and `Match final` are both true in the
//!   second pass; `all` may follow one other criterion (`Match host x all`); a remote forward
//!   with one argument is a remote dynamic forward.
//!
//! ```
//! use std::time::Duration;
//! use whelk_config::{MatchContext, MemoryFiles, parse_client};
//!
//! let files = MemoryFiles::new().with(
//!     "/home/alice/.ssh/conf.d/work.conf",
//!     "Host *.work.example\n  User alice.w\n  ServerAliveInterval 1m\n",
//! ).include_dir("/home/alice/.ssh");
//! let text = "\
//! Include conf.d/*.conf
//! Host db
//!   Hostname %h.work.example
//!   Port 2222
//!   LocalForward 5432 localhost:5432
//! Host *
//!   Port 22
//!   Ciphers ^chacha20-poly1305@openssh.com
//! ";
//! let mut ctx = MatchContext::new("db", "alice");
//! let config = parse_client(text, "~/.ssh/config", &files, &mut ctx)?;
//! assert_eq!(config.effective_hostname("db")?, "db.work.example");
//! assert_eq!(config.port, Some(2222)); // the first value wins
//! assert_eq!(config.user, None); // `Host *.work.example` tests `db`, not the Hostname
//! assert_eq!(config.local_forwards[0].to_string(), "5432 [localhost]:5432");
//! assert_eq!(config.ciphers.unwrap().modifier(), Some('^'));
//!
//! // Errors name the file and line.
//! let err = parse_client("Port 22\nPort lots\n", "cfg", &files, &mut ctx).unwrap_err();
//! assert_eq!((err.file(), err.line()), ("cfg", 2));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod algorithms;
pub mod client;
mod engine;
pub mod error;
pub mod forward;
pub mod io;
mod lex;
pub mod pattern;
pub mod server;
pub mod source;
pub mod tokens;
pub mod units;
mod values;

#[doc(hidden)]
pub mod fuzzing;

pub use algorithms::AlgorithmList;
pub use client::{ClientConfig, MatchContext, parse_client, parse_client_into, resolve_client};
pub use engine::{MAX_INCLUDE_DEPTH, MAX_INCLUDED_FILES};
pub use error::{Error, ErrorKind, Location};
pub use forward::{Forward, ForwardKind, ForwardListen, ForwardTarget};
pub use server::{ServerConfig, ServerMatchContext, parse_server};
pub use source::{FileSource, MemoryFiles, NoFiles};
pub use tokens::{TokenContext, expand};
pub use units::{parse_bytes, parse_time};
