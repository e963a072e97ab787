//! SFTP version 3 (draft-ietf-secsh-filexfer-02) with OpenSSH's extensions, without I/O.
//!
//! - [`codec`]: every version 3 packet, [`codec::Attrs`], [`codec::StatusCode`], the bodies of
//!   `posix-rename@openssh.com`, `statvfs@openssh.com`, `fstatvfs@openssh.com`,
//!   `hardlink@openssh.com`, `fsync@openssh.com`, `lsetstat@openssh.com`,
//!   `limits@openssh.com`, `expand-path@openssh.com`, `copy-data`, `home-directory` and
//!   `users-groups-by-id@openssh.com`, and the length-prefixed framing with its limit
//!   (256 KiB by default, checked before anything is buffered).
//! - [`client::Client`]: sends INIT, negotiates the version, numbers requests, matches each
//!   reply to its request (any number outstanding, any order) and checks its kind.
//! - [`server::Server`]: waits for INIT, decodes requests and reports them as events that a
//!   backend answers by id whenever it is ready; enforces the limits (packet size, READ clamp,
//!   WRITE cap, open handles, outstanding requests, read-only mode) before a backend sees a
//!   request. [`server::Filesystem`] is the synchronous backend trait.
//! - [`fs::StdFs`] (Linux): the one I/O edge, a `Filesystem` over `std::fs` confined to a
//!   root directory (`..`, absolute paths and symlinks cannot leave it).
//!
//! Both state machines are byte stream in, byte stream out: the SSH channel (or a pipe to
//! `sftp-server`, or memory) is the caller's business.
//!
//! ```
//! use whelk_sftp::client::{Client, ClientConfig, Event, Reply};
//! use whelk_sftp::codec::{OpenFlags, Request, Attrs};
//! use whelk_sftp::fs::{StdFs, StdFsConfig};
//! use whelk_sftp::server::{Server, ServerConfig};
//! use bytes::Bytes;
//!
//! let dir = tempfile::tempdir()?;
//! let mut fs = StdFs::new(dir.path(), StdFsConfig::default())?;
//! let mut server = Server::new(ServerConfig::default());
//! let mut client = Client::new(ClientConfig::default());
//!
//! // Moves bytes both ways until both sides are quiet.
//! let mut pump = |client: &mut Client, server: &mut Server| -> Result<(), whelk_sftp::Error> {
//!     loop {
//!         let mut wire = Vec::new();
//!         client.poll_transmit(&mut wire);
//!         server.handle_input(&wire)?;
//!         server.answer_all(&mut fs)?; // a real adapter may answer later, in any order
//!         let mut back = Vec::new();
//!         server.poll_transmit(&mut back);
//!         if wire.is_empty() && back.is_empty() {
//!             return Ok(());
//!         }
//!         client.handle_input(&back)?;
//!     }
//! };
//!
//! // Requests may be queued before VERSION arrives; they go out right after it.
//! let open = client.send(Request::Open {
//!     filename: "/hello.txt".into(),
//!     pflags: OpenFlags::WRITE | OpenFlags::CREAT,
//!     attrs: Attrs::default(),
//! })?;
//! pump(&mut client, &mut server)?;
//! assert!(matches!(client.poll_event(), Some(Event::Version { version: 3, .. })));
//! let Some(Event::Reply { id, reply: Reply::Handle(handle) }) = client.poll_event() else {
//!     panic!("no handle");
//! };
//! assert_eq!(id, open);
//!
//! let write = client.send(Request::Write { handle: handle.clone(), offset: 0, data: Bytes::from_static(b"hi") })?;
//! let close = client.send(Request::Close { handle })?;
//! pump(&mut client, &mut server)?;
//! for expected in [write, close] {
//!     let Some(Event::Reply { id, reply: Reply::Status(s) }) = client.poll_event() else { panic!() };
//!     assert_eq!((id, s.code), (expected, whelk_sftp::codec::StatusCode::OK));
//! }
//! assert_eq!(std::fs::read(dir.path().join("hello.txt"))?, b"hi");
//!
//! // `..` stops at the root.
//! client.send(Request::Realpath { path: "/../../etc".into() })?;
//! pump(&mut client, &mut server)?;
//! let Some(Event::Reply { reply: Reply::Name(names), .. }) = client.poll_event() else { panic!() };
//! assert_eq!(names[0].filename, "/etc");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod client;
pub mod codec;
pub mod error;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub mod fs;
pub mod server;

#[doc(hidden)]
pub mod fuzzing;

pub use error::{Error, Result};
