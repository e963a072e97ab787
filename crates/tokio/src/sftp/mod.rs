//! SFTP over SSH: an async client ([`SftpClient`]) on the `sftp` subsystem of a session, and
//! [`serve`], which runs whelk-sftp's server state machine over a session's streams.
//!
//! The client drives the sans-IO [`whelk_sftp::client::Client`] from two tasks: one writes
//! whatever the state machine queued to the channel, the other reads replies and hands each
//! to the request that waits for it (a request-id map of one-shot senders), so any number of
//! requests may be in flight. Transfers ([`SftpClient::get`], [`SftpClient::put`],
//! [`SftpClient::copy`] and their recursive `m*` forms) keep
//! [`TransferOptions::max_outstanding`] (64) reads or writes in flight with blocks of the size
//! the server's `limits@openssh.com` allows (at least 32 KiB), like OpenSSH's `sftp`.
//!
//! ```no_run
//! # async fn demo(client: &whelk_tokio::Client) -> Result<(), whelk_tokio::sftp::Error> {
//! use whelk_tokio::sftp::{SftpClient, TransferOptions};
//! let sftp = SftpClient::connect(client).await?;
//! sftp.put("local.bin", "remote.bin", &TransferOptions::default()).await?;
//! for name in sftp.listdir(".").await? {
//!     println!("{name}");
//! }
//! sftp.get("remote.bin", "copy.bin", &TransferOptions::default()).await?;
//! # Ok(()) }
//! ```

mod client;
mod error;
mod file;
pub mod glob;
mod serve;
mod transfer;

pub use client::{Dir, SftpClient};
pub use error::{Error, Result};
pub use file::File;
pub use serve::{serve, serve_with};
pub use transfer::{Progress, ProgressFn, TransferOptions};
pub use whelk_sftp::client::Reply;
pub use whelk_sftp::codec::{
    Attrs, Limits, Name, OpenFlags, Status, StatusCode, Statvfs, file_type,
};
pub use whelk_sftp::codec::{ExtendedRequest, Request};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use whelk_sftp::fs::{StdFs, StdFsConfig};
pub use whelk_sftp::server::{Filesystem, ServerConfig};
