//! Channel handles: stdin as [`AsyncWrite`], stdout and stderr as [`AsyncRead`].

use std::future::poll_fn;
use std::io;
use std::ops::DerefMut;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use whelk::{ChannelId, Connection};

use crate::driver::Shared;

/// Which stream a reader reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Stdout,
    Stderr,
}

/// Reads a channel's data (stdout) or extended data (stderr). Reading re-opens the
/// channel's window, so a slow reader slows the sender.
///
/// One `poll_read` copies as many buffered packets as fit; [`ChannelReader::read_chunk`]
/// hands out the received bytes without copying them.
pub struct ChannelReader<C> {
    shared: Arc<Shared<C>>,
    id: ChannelId,
    stream: Stream,
    /// The largest `local window + buffered bytes` seen: the channel's receive window
    /// (RFC 4254 §5.2) as far as this reader knows.
    window: u64,
}

impl<C> std::fmt::Debug for ChannelReader<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelReader")
            .field("id", &self.id)
            .field("stream", &self.stream)
            .finish()
    }
}

impl<C> ChannelReader<C> {
    pub(crate) fn stdout(shared: Arc<Shared<C>>, id: ChannelId) -> Self {
        Self {
            shared,
            id,
            stream: Stream::Stdout,
            window: 0,
        }
    }

    pub(crate) fn stderr(shared: Arc<Shared<C>>, id: ChannelId) -> Self {
        Self {
            shared,
            id,
            stream: Stream::Stderr,
            window: 0,
        }
    }
}

impl<C: DerefMut<Target = Connection> + Send> ChannelReader<C> {
    /// Reads the next received bytes, up to `max`, as they arrived (a slice of the
    /// decrypted packet, no copy). `Ok(None)` at EOF (or when `max` is 0); an error when the
    /// connection ended before the peer's EOF.
    ///
    /// ```no_run
    /// # async fn f(session: whelk_tokio::Session) -> std::io::Result<()> {
    /// let mut out = session.stdout();
    /// while let Some(chunk) = out.read_chunk(256 * 1024).await? {
    ///     println!("{} bytes", chunk.len());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn read_chunk(&mut self, max: usize) -> io::Result<Option<Bytes>> {
        poll_fn(|cx| self.poll_read_chunk(cx, max)).await
    }

    /// Polls for the next received bytes, up to `max`; see [`ChannelReader::read_chunk`].
    pub fn poll_read_chunk(
        &mut self,
        cx: &mut Context<'_>,
        max: usize,
    ) -> Poll<io::Result<Option<Bytes>>> {
        let mut out = None;
        match self.poll_with(cx, max, |b| {
            out = Some(b);
            0
        }) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(out)),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Hands buffered packets (each at most the room left) to `take`, which returns the
    /// room left after it, until nothing is buffered or no room is left. Pending (waker
    /// registered) when nothing was buffered and the stream is still open.
    fn poll_with(
        &mut self,
        cx: &mut Context<'_>,
        max: usize,
        mut take: impl FnMut(Bytes) -> usize,
    ) -> Poll<io::Result<()>> {
        let mut g = self.shared.lock();
        let (id, stream) = (self.id, self.stream);
        let state = |g: &crate::driver::Inner<C>| {
            let ch = g.conn.channels();
            u64::from(ch.local_window(id))
                .saturating_add(u64::try_from(ch.buffered(id)).unwrap_or(u64::MAX))
        };
        self.window = self.window.max(state(&g));
        let mut room = max;
        let mut any = false;
        while room > 0 {
            let got = match stream {
                Stream::Stdout => g.conn.read(id, room),
                Stream::Stderr => g.conn.read_stderr(id, room),
            };
            let Some(b) = got else { break };
            any = true;
            let n = b.len();
            let left = take(b);
            room = left.min(room.saturating_sub(n));
        }
        if any {
            // The channel layer queues a WINDOW_ADJUST once half the window has been
            // read; only then does the driver have something new to send. While more
            // than half is still open (or buffered), the peer is not blocked on us.
            let open = state(&g);
            drop(g);
            if open.saturating_mul(2) <= self.window {
                self.shared.wake.notify_one();
            }
            return Poll::Ready(Ok(()));
        }
        let lost = g.done.clone();
        let c = g.chan(id);
        if let Some(why) = lost
            && !c.peer_eof
            && max > 0
        {
            // The connection ended under the channel: an error, not a clean EOF.
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::ConnectionAborted, why)));
        }
        if c.eof || c.closed || max == 0 {
            return Poll::Ready(Ok(()));
        }
        let slot = match stream {
            Stream::Stdout => &mut c.read_waker,
            Stream::Stderr => &mut c.err_waker,
        };
        *slot = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl<C: DerefMut<Target = Connection> + Send> AsyncRead for ChannelReader<C> {
    /// Copies as many buffered packets as fit into `buf`.
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let max = buf.remaining();
        this.poll_with(cx, max, |b| {
            buf.put_slice(&b);
            buf.remaining()
        })
    }
}

/// Writes a channel's data (stdin on the client, stdout on the server) or, for the
/// server, its stderr. Shutting it down sends EOF.
pub struct ChannelWriter<C> {
    shared: Arc<Shared<C>>,
    id: ChannelId,
    stream: Stream,
}

impl<C> std::fmt::Debug for ChannelWriter<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelWriter")
            .field("id", &self.id)
            .field("stream", &self.stream)
            .finish()
    }
}

impl<C> ChannelWriter<C> {
    pub(crate) fn stdout(shared: Arc<Shared<C>>, id: ChannelId) -> Self {
        Self {
            shared,
            id,
            stream: Stream::Stdout,
        }
    }

    pub(crate) fn stderr(shared: Arc<Shared<C>>, id: ChannelId) -> Self {
        Self {
            shared,
            id,
            stream: Stream::Stderr,
        }
    }
}

fn broken(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, e.to_string())
}

impl<C: DerefMut<Target = Connection> + Send> AsyncWrite for ChannelWriter<C> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut g = this.shared.lock();
        if let Some(why) = &g.done {
            return Poll::Ready(Err(broken(why)));
        }
        if g.chan(this.id).closed {
            return Poll::Ready(Err(broken("channel closed")));
        }
        // Data already queued means the driver has not sent it yet: it either was told to
        // (a wake-up is pending) or waits for the peer's window or a key exchange, and
        // then sends this too. Only the first bytes in an empty queue need a wake-up.
        let idle = g.conn.channels().queued(this.id) == 0;
        let r = match this.stream {
            Stream::Stdout => g.conn.write(this.id, data),
            Stream::Stderr => g.conn.write_stderr(this.id, data),
        };
        match r {
            Ok(0) if !data.is_empty() => {
                g.chan(this.id).write_waker = Some(cx.waker().clone());
                Poll::Pending
            }
            Ok(n) => {
                drop(g);
                if idle {
                    this.shared.wake.notify_one();
                }
                Poll::Ready(Ok(n))
            }
            Err(e) => Poll::Ready(Err(broken(e))),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut g = this.shared.lock();
        // EOF ends the whole data stream: only the stdout writer sends it.
        if this.stream == Stream::Stderr || g.chan(this.id).closed {
            return Poll::Ready(Ok(()));
        }
        let r = g.conn.eof(this.id);
        drop(g);
        this.shared.wake.notify_one();
        Poll::Ready(r.map_err(broken))
    }
}
