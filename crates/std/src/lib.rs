//! whelk on `std::net`: a blocking SSH client and server driving the sans-IO [`whelk`]
//! connections. Everything protocol-related (key exchange, authentication, channels,
//! windows, timers) is the same code `whelk-tokio` drives; this crate only moves bytes and
//! wakes threads.
//!
//! - **Client**: [`connect`] (or [`connect_stream`] over a socket made elsewhere) with a
//!   [`ClientConfig`]: keys, password, a keyboard-interactive callback, the host key
//!   policy ([`HostKeyPolicy`]: a `known_hosts` file with [`StrictHostKeyChecking`] modes
//!   by default, fixed lines, or a callback), connect timeout. Then
//!   [`Client::run`] / [`Client::run_timeout`] ([`Output`]), [`Client::exec`],
//!   [`Client::shell`], [`Client::session`] ([`Session`]: stdin/stdout/stderr, pty,
//!   window-change, signals, [`Session::wait`]), [`Client::sftp`] ([`sftp::Sftp`]) and
//!   [`Client::disconnect`]. A [`Client`] is cheap to clone and used from many threads.
//!   Besides:
//!   - **Keepalive** ([`ClientConfig::keepalive`], OpenSSH's `ServerAliveInterval` /
//!     `ServerAliveCountMax`): `keepalive@openssh.com` global requests with want-reply;
//!     a server that stops answering (frozen, gone behind a dead NAT) ends the connection
//!     with a "keepalive timeout" error ([`Client::wait_closed`] says why).
//!   - **Port forwarding** over TCP and UNIX sockets in any mix, each with a handle that
//!     stops it when closed or dropped: local ([`Client::forward_local`],
//!     [`Client::forward_local_to`], `ssh -L`; `direct-tcpip`, RFC 4254 §7.2, and
//!     `direct-streamlocal@openssh.com`, OpenSSH PROTOCOL §2.4), remote
//!     ([`Client::forward_remote`], [`Client::forward_remote_to`], `ssh -R`;
//!     `tcpip-forward`, RFC 4254 §7.1, and `streamlocal-forward@openssh.com`), and
//!     dynamic ([`Client::forward_dynamic`], `ssh -D`: a SOCKS 4, 4a and 5 CONNECT
//!     proxy). Single channels: [`Client::direct_tcpip`], [`Client::direct_streamlocal`].
//!   - **ssh-agent**: keys held by an agent for publickey authentication
//!     ([`ClientConfig::agent`], [`ClientConfig::agent_from_env`]) and agent forwarding
//!     ([`ClientConfig::forward_agent`], `ssh -A`; `auth-agent-req@openssh.com` and
//!     `auth-agent@openssh.com` channels, OpenSSH PROTOCOL.agent).
//!   - **ProxyJump** ([`Client::jump`], `ssh -J`): a connection through a `direct-tcpip`
//!     channel of another, host key checked and authenticated end to end.
//! - **Server**: [`listen`] with a [`ServerConfig`] and a blocking [`Handler`]
//!   (authentication, `exec` / `shell` / subsystems with a [`ServerSession`], and, when
//!   the handler allows them, port forwarding: `direct-tcpip` and `tcpip-forward` (RFC
//!   4254 §7), `direct-streamlocal@openssh.com` and `streamlocal-forward@openssh.com`
//!   (OpenSSH PROTOCOL §2.4, sockets bound with mode 0600,
//!   [`ServerConfig::streamlocal_bind_unlink`]), and agent forwarding
//!   (`auth-agent-req@openssh.com`: [`ServerSession::agent_listener`] gives commands an
//!   `SSH_AUTH_SOCK`, [`ServerSession::open_agent`] one agent channel)), a cap on
//!   connections, [`Server::shutdown`]; [`sftp::serve`] answers the `sftp` subsystem
//!   from a [`sftp::Filesystem`] such as the confined `sftp::StdFs`.
//!
//! # How it runs
//!
//! Each connection has a driver made of two threads around the sans-IO connection, which
//! sits behind a mutex shared with the handles (condition variables wake whoever waits):
//!
//! - a **writer** thread sends what [`whelk::Connection::poll_transmit`] has ready and
//!   fires timers, sleeping until a handle issues a command or
//!   [`whelk::Connection::poll_timeout`] is due;
//! - a **reader** thread blocks in `read` (with a read timeout derived from
//!   [`whelk::Connection::poll_timeout`]) and feeds [`whelk::Connection::handle_input`].
//!
//! The socket has `TCP_NODELAY` set. `std` cannot wake a thread blocked in `read` when a
//! handle has something to send, and one thread blocked writing while the peer does the
//! same would deadlock: hence two threads. Channel handles are [`std::io::Read`] and
//! [`std::io::Write`]; reading is what re-opens a channel's window, so a slow reader slows
//! the sender (back-pressure reaches the peer instead of growing memory), and a write
//! blocks while the peer's window is closed. Handles can be used from any thread, and
//! many sessions can run at once on one connection.
//!
//! Decisions (host key, credentials, authentication, channel requests) are answered
//! outside the lock, so a callback or a [`Handler`] may block. The server runs every
//! command on a thread of its own.
//!
//! # Client
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use whelk_std::{ClientConfig, HostKeyPolicy, StrictHostKeyChecking, connect};
//!
//! # fn main() -> Result<(), whelk_std::Error> {
//! let key = whelk::PrivateKey::ed25519_from_seed(&[1; 32]);
//! let config = ClientConfig::new("alice")
//!     .key(key)
//!     // ~/.ssh/known_hosts, recording hosts seen for the first time (accept-new).
//!     .host_key(HostKeyPolicy::known_hosts_file_with(
//!         "/home/alice/.ssh/known_hosts",
//!         StrictHostKeyChecking::AcceptNew,
//!     ))
//!     // Keys in the ssh-agent at $SSH_AUTH_SOCK, if any, are tried first.
//!     .agent_from_env()
//!     // Give up on a server silent for 3 x 30 s (ServerAliveInterval/CountMax).
//!     .keepalive(std::time::Duration::from_secs(30), 3);
//! let client = connect("127.0.0.1", 22, config)?;
//!
//! // Run a command and collect everything.
//! let out = client.run("echo hi; echo err >&2; exit 3")?;
//! assert_eq!((out.stdout.as_slice(), out.exit_status), (&b"hi\n"[..], Some(3)));
//!
//! // Stream through a command: stdin, stdout and stderr are Read/Write.
//! let session = client.exec("tr a-z A-Z")?;
//! let mut stdin = session.stdin();
//! stdin.write_all(b"hello")?;
//! stdin.send_eof()?;
//! let mut upper = String::new();
//! session.stdout().read_to_string(&mut upper)?;
//! assert_eq!(upper, "HELLO");
//! assert_eq!(session.wait()?.status, Some(0));
//!
//! // ssh -L 127.0.0.1:8080:intranet:80 (the handle keeps it listening).
//! let fwd = client.forward_local("127.0.0.1:8080", "intranet", 80)?;
//! # drop(fwd);
//! // ssh -D 127.0.0.1:1080: a SOCKS proxy whose connections leave from the server.
//! let socks = client.forward_dynamic("127.0.0.1:1080")?;
//! # drop(socks);
//!
//! // ssh -J: a second connection through this one.
//! let inner = client.jump("10.0.0.5", 22, ClientConfig::new("alice").agent_from_env())?;
//! # drop(inner);
//!
//! // SFTP: whole files (pipelined), directories, or a File with Read/Write/Seek.
//! let sftp = client.sftp()?;
//! sftp.put("report.pdf", "/tmp/report.pdf")?;
//! for entry in sftp.read_dir("/tmp")? {
//!     println!("{} {:?}", entry.filename, entry.attrs.size);
//! }
//! client.disconnect();
//! # Ok(()) }
//! ```
//!
//! # Server
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use whelk::{AuthRequest, AuthorizedKeysPolicy, Decision, PrivateKey};
//! use whelk_std::{Handler, ServerConfig, ServerSession, listen};
//!
//! struct Upper(AuthorizedKeysPolicy);
//!
//! impl Handler for Upper {
//!     fn auth(&self, request: &AuthRequest) -> Decision {
//!         let now = std::time::SystemTime::now()
//!             .duration_since(std::time::UNIX_EPOCH)
//!             .map_or(0, |d| d.as_secs());
//!         self.0.decide(request, now)
//!     }
//!
//!     // `ssh host upper` copies stdin to stdout in capitals; anything else fails.
//!     fn exec(&self, command: String, session: ServerSession) -> u32 {
//!         if command != "upper" {
//!             let _ = writeln!(session.stderr(), "unknown command: {command}");
//!             return 127;
//!         }
//!         let mut input = Vec::new();
//!         let _ = session.stdin().read_to_end(&mut input);
//!         let _ = session.stdout().write_all(&input.to_ascii_uppercase());
//!         0
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let authorized = std::fs::read_to_string("/home/alice/.ssh/authorized_keys")?;
//! let host_key = PrivateKey::ed25519_from_seed(&[7; 32]); // load a persistent one
//! let mut server = listen(
//!     "127.0.0.1:2222",
//!     ServerConfig::new(vec![host_key]).max_connections(100),
//!     Upper(AuthorizedKeysPolicy::new(&authorized)),
//! )?;
//! println!("listening on {}", server.local_addr());
//! // ... later
//! server.shutdown();
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod agent;
mod channel;
mod client;
mod driver;
mod error;
mod forward;
mod server;
pub mod sftp;
mod socket_file;
mod socks;

use rand_core::SeedableRng;

pub use channel::{ChannelReader, ChannelWriter};
pub use client::{
    Client, ClientConfig, ExitStatus, HostKeyCallback, HostKeyInfo, HostKeyPolicy, HostbasedKey,
    KeyboardInteractiveCallback, Output, Prompts, Session, Stdin, StrictHostKeyChecking, connect,
    connect_stream,
};
pub use error::{Error, Result};
pub use forward::{Endpoint, LocalForward, RemoteForward};
pub use server::{
    AgentListener, DEFAULT_MAX_CONNECTIONS, Handler, Pty, Server, ServerChannel, ServerConfig,
    ServerSession, SessionRequest, listen,
};

/// A ChaCha20 generator seeded from the operating system.
pub(crate) fn os_rng() -> Result<chacha20::ChaCha20Rng> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| Error::Io(std::io::Error::other(format!("getrandom: {e}"))))?;
    Ok(chacha20::ChaCha20Rng::from_seed(seed))
}
