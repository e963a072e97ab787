//! Channel handles: stdin as [`AsyncWrite`], stdout and stderr as [`AsyncRead`].

use std::io;
use std::ops::DerefMut;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

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
pub struct ChannelReader<C> {
    shared: Arc<Shared<C>>,
    id: ChannelId,
    stream: Stream,
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

impl<C: DerefMut<Target = Connection> + Send> AsyncRead for ChannelReader<C> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut g = this.shared.lock();
        let max = buf.remaining();
        let got = match this.stream {
            Stream::Stdout => g.conn.read(this.id, max),
            Stream::Stderr => g.conn.read_stderr(this.id, max),
        };
        if let Some(b) = got {
            buf.put_slice(&b);
            drop(g);
            // The window may need re-opening.
            this.shared.wake.notify_one();
            return Poll::Ready(Ok(()));
        }
        let lost = g.done.clone();
        let c = g.chan(this.id);
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
        let slot = match this.stream {
            Stream::Stdout => &mut c.read_waker,
            Stream::Stderr => &mut c.err_waker,
        };
        *slot = Some(cx.waker().clone());
        Poll::Pending
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
                this.shared.wake.notify_one();
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
