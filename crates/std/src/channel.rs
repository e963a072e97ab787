//! Channel handles: [`ChannelReader`] ([`std::io::Read`]) and [`ChannelWriter`]
//! ([`std::io::Write`]), sharing one [`ChanRef`] that closes the channel when the last
//! handle goes away.

use std::io;
use std::ops::DerefMut;
use std::sync::Arc;
use std::time::Instant;

use whelk::{ChannelId, Connection};

use crate::driver::{Inner, Shared};

/// One channel of a connection; closing it when the last handle is dropped. Its `Drop`
/// takes the connection's lock: never drop the last one while holding it.
pub(crate) struct ChanRef<C: DerefMut<Target = Connection>> {
    pub(crate) shared: Arc<Shared<C>>,
    pub(crate) id: ChannelId,
}

impl<C: DerefMut<Target = Connection>> ChanRef<C> {
    /// Registers a channel the handles will follow.
    pub(crate) fn new(shared: Arc<Shared<C>>, id: ChannelId, inner: &mut Inner<C>) -> Arc<Self> {
        inner.chans.entry(id).or_default();
        Arc::new(Self { shared, id })
    }

    /// Runs a command on the connection and wakes the writer.
    pub(crate) fn command<T>(
        &self,
        f: impl FnOnce(&mut Inner<C>, ChannelId) -> whelk::Result<T>,
    ) -> crate::Result<T> {
        let mut g = self.shared.lock();
        if g.done.is_some() {
            return Err(g.failure());
        }
        let r = f(&mut g, self.id);
        drop(g);
        self.shared.kick();
        Ok(r?)
    }

    /// Waits for the peer's answer to our CHANNEL_OPEN until `deadline` (`None`: the
    /// deadline passed): `Err` with the peer's reason, or "connection closed".
    pub(crate) fn wait_open(&self, deadline: Option<Instant>) -> Option<Result<(), String>> {
        let id = self.id;
        self.shared.wait_for(deadline, |g| {
            match g.chans.get(&id).and_then(|c| c.open.clone()) {
                Some(r) => Some(r),
                None => g
                    .done
                    .is_some()
                    .then(|| Err("connection closed".to_string())),
            }
        })
    }

    /// Waits for the answer to the want-reply request just sent.
    pub(crate) fn request_result(&self, what: &str) -> crate::Result<()> {
        let id = self.id;
        let ok = self
            .shared
            .wait_for(None, |g| match g.chans.get_mut(&id) {
                Some(c) => c.results.pop_front().or_else(|| c.closed.then_some(false)),
                None => Some(false),
            })
            .unwrap_or(false);
        if ok {
            return Ok(());
        }
        let g = self.shared.lock();
        if g.done.is_some() {
            Err(g.failure())
        } else {
            Err(crate::Error::Refused(what.to_string()))
        }
    }

    /// Sends EOF (once everything written so far is sent).
    pub(crate) fn eof(&self) -> io::Result<()> {
        let mut g = self.shared.lock();
        if g.chans.get(&self.id).is_none_or(|c| c.closed) {
            return Ok(());
        }
        let r = g.conn.eof(self.id);
        drop(g);
        self.shared.kick();
        r.map_err(broken)
    }

    /// Waits until what was written has been handed to the socket.
    pub(crate) fn flush(&self) -> io::Result<()> {
        let id = self.id;
        self.shared.wait_for(None, |g| {
            let gone = g.done.is_some() || g.chans.get(&id).is_none_or(|c| c.closed);
            (gone || g.conn.channels().queued(id) == 0).then_some(())
        });
        Ok(())
    }

    /// Closes the channel now.
    pub(crate) fn close(&self) {
        let mut g = self.shared.lock();
        if g.chans.get(&self.id).is_some_and(|c| !c.closed) {
            let _ = g.conn.close(self.id);
        }
        drop(g);
        self.shared.kick();
    }
}

impl<C: DerefMut<Target = Connection>> Drop for ChanRef<C> {
    fn drop(&mut self) {
        let mut g = self.shared.lock();
        let closed = match g.chans.get_mut(&self.id) {
            Some(c) => {
                c.dropped = true;
                c.closed
            }
            None => true,
        };
        if closed {
            g.chans.remove(&self.id);
        } else {
            let _ = g.conn.close(self.id);
        }
        drop(g);
        self.shared.kick();
    }
}

/// Which stream a handle reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

/// Reads a channel's data (a command's stdout; a server session's stdin) or extended data
/// (stderr). [`io::Read::read`] blocks until data arrives and returns 0 at EOF. Reading is
/// what re-opens the channel's window, so a slow reader slows the sender.
pub struct ChannelReader<C: DerefMut<Target = Connection>> {
    chan: Arc<ChanRef<C>>,
    stream: Stream,
    timeout: Option<std::time::Duration>,
}

impl<C: DerefMut<Target = Connection>> std::fmt::Debug for ChannelReader<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelReader")
            .field("id", &self.chan.id)
            .field("stream", &self.stream)
            .finish()
    }
}

impl<C: DerefMut<Target = Connection>> ChannelReader<C> {
    pub(crate) fn new(chan: Arc<ChanRef<C>>, stream: Stream) -> Self {
        Self {
            chan,
            stream,
            timeout: None,
        }
    }

    /// Makes [`io::Read::read`] fail with [`io::ErrorKind::TimedOut`] when nothing arrived
    /// for this long (`None`, the default: wait forever).
    pub fn set_read_timeout(&mut self, timeout: Option<std::time::Duration>) {
        self.timeout = timeout;
    }
}

impl<C: DerefMut<Target = Connection>> io::Read for ChannelReader<C> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let shared = &self.chan.shared;
        let id = self.chan.id;
        let deadline = self.timeout.map(|d| Instant::now() + d);
        let mut g = shared.lock();
        loop {
            let got = match self.stream {
                Stream::Stdout => g.conn.read(id, buf.len()),
                Stream::Stderr => g.conn.read_stderr(id, buf.len()),
            };
            if let Some(b) = got {
                let n = b.len().min(buf.len());
                if let (Some(dst), Some(src)) = (buf.get_mut(..n), b.get(..n)) {
                    dst.copy_from_slice(src);
                }
                drop(g);
                // The window may need re-opening.
                shared.kick();
                return Ok(n);
            }
            if g.chans.get(&id).is_none_or(|c| c.eof || c.closed) {
                return Ok(0);
            }
            let (g2, expired) = shared.wait(g, deadline);
            g = g2;
            if expired {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "read timed out"));
            }
        }
    }
}

/// Writes a channel's data (a command's stdin; a server session's stdout) or, on the
/// server, its stderr. [`io::Write::write`] blocks while the peer's window is closed;
/// [`io::Write::flush`] waits until what was written has been handed to the socket.
pub struct ChannelWriter<C: DerefMut<Target = Connection>> {
    chan: Arc<ChanRef<C>>,
    stream: Stream,
}

impl<C: DerefMut<Target = Connection>> std::fmt::Debug for ChannelWriter<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelWriter")
            .field("id", &self.chan.id)
            .field("stream", &self.stream)
            .finish()
    }
}

impl<C: DerefMut<Target = Connection>> ChannelWriter<C> {
    pub(crate) fn new(chan: Arc<ChanRef<C>>, stream: Stream) -> Self {
        Self { chan, stream }
    }

    /// Sends EOF after what was written so far: the peer sees the end of its input. Only
    /// the data stream carries EOF, so on a stderr writer this does nothing.
    pub fn send_eof(&mut self) -> io::Result<()> {
        if self.stream == Stream::Stderr {
            return Ok(());
        }
        self.chan.eof()
    }
}

pub(crate) fn broken(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, e.to_string())
}

impl<C: DerefMut<Target = Connection>> io::Write for ChannelWriter<C> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        let shared = &self.chan.shared;
        let id = self.chan.id;
        let mut g = shared.lock();
        loop {
            if let Some(why) = &g.done {
                return Err(broken(why));
            }
            if g.chans.get(&id).is_none_or(|c| c.closed) {
                return Err(broken("channel closed"));
            }
            let r = match self.stream {
                Stream::Stdout => g.conn.write(id, data),
                Stream::Stderr => g.conn.write_stderr(id, data),
            };
            match r {
                Ok(0) => g = shared.wait(g, None).0,
                Ok(n) => {
                    drop(g);
                    shared.kick();
                    return Ok(n);
                }
                Err(e) => return Err(broken(e)),
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.chan.flush()
    }
}
