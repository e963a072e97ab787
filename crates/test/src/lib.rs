//! Test-only harness for whelk: real OpenSSH as a loopback peer, and the golden vectors it
//! produces.
//!
//! This crate is never published and never linked into the library crates. It uses std,
//! child processes and sockets freely.
//!
//! - [`openssh`]: locate the OpenSSH tools ([`openssh::find`]), run a private `sshd` on a free
//!   loopback port ([`openssh::Sshd`]), run the `ssh` client against an address
//!   ([`openssh::Ssh`]), and pick a free port ([`openssh::free_port`]).
//! - [`hello`]: read what a peer sends first (its identification line and its first binary
//!   packet, the KEXINIT) with `whelk-wire`, keeping the exact bytes off the wire.
//! - [`pair`]: the deterministic in-memory `Pair` harness for sans-IO endpoints (virtual
//!   clock, seeded delivery splits, tampering in flight, bounded driving).
//! - [`hostile`]: a hostile peer speaking the real transport (kex, ciphers, MACs) that emits
//!   arbitrary payloads and raw bytes, rewrites its own packets, and records what the victim
//!   sent and why it disconnected; [`hostile::Peer`] puts it and whelk's facade connections
//!   in one `Pair`.
//! - [`ssh_audit`]: run `ssh-audit` against a loopback server or client and judge its report.
//! - [`alloc`]: a counting global allocator for "memory stays bounded" assertions (the only
//!   module allowed `unsafe`: `GlobalAlloc` is an unsafe trait).
//!
//! A missing OpenSSH tool is an [`Error::ToolMissing`]: tests that need a peer fail with a
//! message saying what to install; they never pass silently.
//!
//! ```no_run
//! use whelk_test::{hello, openssh::Sshd};
//! use whelk_wire::version::Role;
//!
//! let sshd = Sshd::builder().option("KexAlgorithms", "curve25519-sha256").start()?;
//! let mut stream = std::net::TcpStream::connect(sshd.addr())?;
//! let hello = hello::exchange(&mut stream, Role::Client, hello::DEFAULT_TIMEOUT)?;
//! assert!(hello.kexinit()?.kex_algorithms.contains("curve25519-sha256"));
//! # Ok::<(), whelk_test::Error>(())
//! ```
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod alloc;
pub mod churn;
pub mod hello;
pub mod hostile;
pub mod openssh;
pub mod pair;
pub mod ssh_audit;
pub mod x11;

use std::path::PathBuf;

/// Everything that can go wrong while driving a test peer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An OpenSSH tool is not installed: the test cannot run and must fail.
    #[error(
        "`{tool}` not found (searched {searched}); install the `{package}` package \
         (e.g. `apt-get install openssh-server openssh-client sshpass`): \
         tests that need a real OpenSSH peer fail without it"
    )]
    ToolMissing {
        /// The tool that was looked for, e.g. `sshd`.
        tool: String,
        /// The Debian package that provides it.
        package: &'static str,
        /// Where it was looked for.
        searched: String,
    },
    /// An I/O operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A tool ran but failed; its output is included.
    #[error("`{command}` failed ({status}):\n{output}")]
    ToolFailed {
        /// The command line.
        command: String,
        /// How it exited.
        status: String,
        /// Its stderr (and stdout).
        output: String,
    },
    /// A peer process exited or never became ready; its log is included.
    #[error("{what}\n--- peer log ---\n{log}")]
    Peer {
        /// What went wrong.
        what: String,
        /// The peer's stderr so far.
        log: String,
    },
    /// A deadline passed.
    #[error("timed out after {after:?} {what}")]
    Timeout {
        /// What was being waited for.
        what: String,
        /// How long was waited.
        after: std::time::Duration,
    },
    /// The peer's bytes broke a rule of the SSH wire format.
    #[error("{context}: {source}")]
    Wire {
        /// What was being read.
        context: String,
        /// The rule that was broken.
        #[source]
        source: whelk_wire::Error,
    },
    /// The peer sent something well-formed but not what the harness expected.
    #[error("unexpected from peer: {0}")]
    Unexpected(String),
    /// A file that should exist (a golden vector, a key) is missing or unreadable.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(source: std::io::Error) -> Self {
        Self::io("I/O", source)
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
