//! Copying a channel's received data to a local file (a child's stdin on the server, our
//! stdout on the client) straight from the decrypted packets, with no buffer in between:
//! every packet already received goes out in one vectored write.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::ops::DerefMut;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use whelk_tokio::ChannelReader;

/// Most received chunks (packets) one write takes.
pub(crate) const MAX_CHUNKS: usize = 64;

/// Packets waiting to be written, the front one maybe in part.
#[derive(Debug, Default)]
pub(crate) struct Batch<B> {
    chunks: VecDeque<B>,
    /// Bytes of the front chunk already written.
    skip: usize,
}

impl<B: AsRef<[u8]>> Batch<B> {
    fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Adds a chunk; empty ones are dropped (a write of nothing would look like a closed
    /// pipe).
    fn push(&mut self, chunk: B) {
        if !chunk.as_ref().is_empty() {
            self.chunks.push_back(chunk);
        }
    }

    /// What is left to write, for one vectored write.
    fn slices(&self) -> Vec<IoSlice<'_>> {
        let mut it = self.chunks.iter().map(AsRef::as_ref);
        let head = it
            .next()
            .and_then(|c| c.get(self.skip..))
            .unwrap_or_default();
        std::iter::once(head)
            .chain(it.take(MAX_CHUNKS - 1))
            .map(IoSlice::new)
            .collect()
    }

    /// Drops `n` written bytes off the front.
    fn consume(&mut self, mut n: usize) {
        while let Some(front) = self.chunks.front() {
            let left = front.as_ref().len().saturating_sub(self.skip);
            if left > n {
                self.skip += n;
                return;
            }
            n -= left;
            self.skip = 0;
            self.chunks.pop_front();
        }
    }

    /// Writes everything to `to`, emptying the batch.
    pub(crate) async fn write_to(&mut self, to: &mut (impl AsyncWrite + Unpin)) -> io::Result<()> {
        while !self.is_empty() {
            let n = to.write_vectored(&self.slices()).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.consume(n);
        }
        Ok(())
    }

    /// Writes everything to `to` from a thread of its own, emptying the batch. A
    /// non-blocking file (shared with another process that set it so) is retried after
    /// a millisecond.
    pub(crate) fn write_blocking(&mut self, to: &mut impl Write) -> io::Result<()> {
        while !self.is_empty() {
            let n = match to.write_vectored(&self.slices()) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                    continue;
                }
                Err(e) => return Err(e),
            };
            self.consume(n);
        }
        Ok(())
    }
}

impl Batch<Bytes> {
    /// Adds `first` and every packet already received after it, without waiting, up to
    /// `max` bytes and [`MAX_CHUNKS`] packets. EOF and errors are left for the next read.
    pub(crate) fn fill<C>(&mut self, first: Bytes, from: &mut ChannelReader<C>, max: usize)
    where
        C: DerefMut<Target = whelk::Connection> + Send,
    {
        let mut total = first.len();
        self.push(first);
        let mut cx = Context::from_waker(Waker::noop());
        while total < max && self.chunks.len() < MAX_CHUNKS {
            match from.poll_read_chunk(&mut cx, max - total) {
                Poll::Ready(Ok(Some(b))) => {
                    total += b.len();
                    self.push(b);
                }
                _ => break,
            }
        }
    }
}

/// Copies a channel stream to `to` until EOF (Ok) or the first error, at most `max` bytes
/// per write.
pub(crate) async fn copy<C>(
    from: &mut ChannelReader<C>,
    to: &mut (impl AsyncWrite + Unpin),
    max: usize,
) -> io::Result<()>
where
    C: DerefMut<Target = whelk::Connection> + Send,
{
    let mut batch = Batch::default();
    while let Some(first) = from.read_chunk(max).await? {
        batch.fill(first, from, max);
        batch.write_to(to).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn chunks() -> (Vec<Vec<u8>>, Vec<u8>) {
        let chunks: Vec<Vec<u8>> = (0u8..90).map(|i| vec![i; usize::from(i) * 3]).collect();
        let want = chunks.concat();
        (chunks, want)
    }

    #[tokio::test]
    async fn writes_survive_short_writes() {
        let (chunks, want) = chunks();
        let mut batch = Batch::default();
        for c in chunks {
            batch.push(c);
        }
        // A 7-byte pipe: every write is short.
        let (mut w, mut r) = tokio::io::duplex(7);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            r.read_to_end(&mut got).await.unwrap();
            got
        });
        batch.write_to(&mut w).await.unwrap();
        assert!(batch.is_empty());
        drop(w);
        assert_eq!(reader.await.unwrap(), want);
    }

    /// Takes at most 5 bytes per write.
    struct Short(Vec<u8>);

    impl Write for Short {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(5);
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn blocking_writes_survive_short_writes_and_many_chunks() {
        let (chunks, want) = chunks();
        let mut batch = Batch::default();
        for c in chunks {
            batch.push(c);
        }
        assert!(batch.slices().len() <= MAX_CHUNKS);
        let mut out = Short(Vec::new());
        batch.write_blocking(&mut out).unwrap();
        assert!(batch.is_empty());
        assert_eq!(out.0, want);
    }
}
