//! SFTP version 3 (draft-ietf-secsh-filexfer-02) with OpenSSH's extensions, without I/O.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod client;
pub mod codec;
pub mod error;
#[cfg(unix)]
pub mod fs;
pub mod server;

#[doc(hidden)]
pub mod fuzzing;

pub use error::{Error, Result};
