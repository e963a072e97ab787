//! whelk on tokio: an async SSH client ([`connect`], [`Client::run`], [`Client::exec`],
//! [`Client::session`]) and server ([`listen`]).
//!
//! One driver task per connection owns the socket (TCP_NODELAY) and the sans-IO
//! connection sits behind a mutex shared with the handles. Each turn the driver feeds what
//! it read ([`whelk::Connection::handle_input`]), drains events (waking channel handles,
//! answering decisions), writes what [`whelk::Connection::poll_transmit`] produced and
//! sleeps until the socket, a handle or the connection's next timer wakes it. Channel
//! handles implement [`tokio::io::AsyncRead`] / [`tokio::io::AsyncWrite`]; reading is what
//! re-opens a channel's window, so a slow reader slows the sender.
//!
//! ```no_run
//! # async fn demo() -> Result<(), whelk_tokio::Error> {
//! use whelk_tokio::{ClientConfig, connect};
//! let key = whelk::PrivateKey::ed25519_from_seed(&[1; 32]);
//! let client = connect("127.0.0.1", 22, ClientConfig::new("alice").key(key)).await?;
//! let out = client.run("echo hi; echo err >&2; exit 3").await?;
//! assert_eq!((out.stdout.as_slice(), out.exit_status), (&b"hi\n"[..], Some(3)));
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod agent;
mod channel;
mod client;
mod client_x11;
mod driver;
mod error;
mod forward;
pub mod scp;
pub mod server;
pub mod sftp;
mod socket_file;
mod socks;
mod stream;

use std::sync::Arc;

use rand_core::SeedableRng;

pub use channel::{ChannelReader, ChannelWriter};
pub use client::{
    BannerCallback, BoxFuture, KbdCallback, KbdInteractive, PasswordCallback, Prompt,
    connect_command, connect_stream,
};
pub use client::{
    Client, ClientConfig, ExitStatus, HostKeyCallback, HostKeyInfo, HostKeyPolicy, HostbasedKey,
    Output, Session, Stdin, connect,
};
pub use client_x11::{X11Auth, X11Options};
pub use error::{Error, Result};
pub use forward::{Endpoint, LocalForward, RemoteForward};
pub use server::{
    AgentListener, ConnectionInfo, Exit, Handler, MaxStartups, Overflow, PerSourcePenalties,
    Permissions, Pty, Server, ServerConfig, ServerSession, ServerStream, SessionEvent, SessionKind,
    X11Forwarding, X11Request, listen, serve, serve_all,
};
pub use stream::ChildStream;

/// A ChaCha20 generator seeded from the operating system.
pub(crate) fn os_rng() -> Result<chacha20::ChaCha20Rng> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| Error::Io(std::io::Error::other(format!("getrandom: {e}"))))?;
    Ok(chacha20::ChaCha20Rng::from_seed(seed))
}

/// Waits until `f` returns `Some`, re-checking each time the driver reports a change.
pub(crate) async fn wait_for<C, T>(
    shared: &Arc<driver::Shared<C>>,
    mut f: impl FnMut(&mut driver::Inner<C>) -> Option<T>,
) -> T
where
    C: std::ops::DerefMut<Target = whelk::Connection>,
{
    loop {
        let notified = shared.changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(t) = f(&mut shared.lock()) {
            return t;
        }
        notified.await;
    }
}
