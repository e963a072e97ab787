//! An open remote file: [`AsyncRead`], [`AsyncWrite`] and [`AsyncSeek`].

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncSeek, AsyncWrite, ReadBuf};
use whelk_sftp::client::Reply;
use whelk_sftp::codec::{Attrs, ExtendedRequest, Handle, Request, Statvfs};

use super::client::{ReadResult, SftpClient, expect_data, expect_ok, unexpected};
use super::error::{Error, Result};

type Fut<T> = Pin<Box<dyn Future<Output = Result<T>> + Send>>;

/// An open remote file. Reads and writes go to the current position, which
/// [`AsyncSeek`] moves (`SeekFrom::End` asks the server for the size). Closed on drop (without
/// waiting) or by [`File::close`], which reports the server's answer.
pub struct File {
    client: SftpClient,
    handle: Option<Handle>,
    path: String,
    pos: u64,
    leftover: Bytes,
    read: Option<Fut<ReadResult>>,
    write: Option<(Fut<()>, usize)>,
    seek: Option<Fut<u64>>,
}

impl std::fmt::Debug for File {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("File")
            .field("path", &self.path)
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

fn io_err(e: Error) -> io::Error {
    match e {
        Error::Io(e) => e,
        other => io::Error::other(other),
    }
}

impl File {
    pub(super) fn new(client: SftpClient, handle: Handle, path: String) -> Self {
        Self {
            client,
            handle: Some(handle),
            path,
            pos: 0,
            leftover: Bytes::new(),
            read: None,
            write: None,
            seek: None,
        }
    }

    fn handle(&self) -> Result<Handle> {
        self.handle
            .clone()
            .ok_or_else(|| Error::Invalid(format!("{}: file is closed", self.path)))
    }

    /// The path it was opened with.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The current position.
    #[must_use]
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Moves the current position (no request is sent).
    pub fn set_position(&mut self, pos: u64) {
        self.pos = pos;
        self.leftover = Bytes::new();
    }

    /// The client this file belongs to.
    pub(super) fn client_handle(&self) -> SftpClient {
        self.client.clone()
    }

    /// The SFTP handle.
    pub(super) fn raw_handle(&self) -> Option<&Handle> {
        self.handle.as_ref()
    }

    /// `FSTAT`.
    pub async fn metadata(&self) -> Result<Attrs> {
        match self
            .client
            .call(Request::Fstat {
                handle: self.handle()?,
            })
            .await?
        {
            Reply::Attrs(a) => Ok(a),
            Reply::Status(s) => Err(Error::status(&self.path, s)),
            other => Err(unexpected(&self.path, &other)),
        }
    }

    /// `FSETSTAT`.
    pub async fn set_metadata(&self, attrs: Attrs) -> Result<()> {
        let reply = self
            .client
            .call(Request::Fsetstat {
                handle: self.handle()?,
                attrs,
            })
            .await?;
        expect_ok(&self.path, reply)
    }

    /// Sets the file's size.
    pub async fn set_len(&self, size: u64) -> Result<()> {
        self.set_metadata(Attrs {
            size: Some(size),
            ..Attrs::default()
        })
        .await
    }

    /// `fsync@openssh.com`.
    pub async fn fsync(&self) -> Result<()> {
        let reply = self
            .client
            .call(Request::Extended(ExtendedRequest::Fsync {
                handle: self.handle()?,
            }))
            .await?;
        expect_ok(&self.path, reply)
    }

    /// `fstatvfs@openssh.com`.
    pub async fn statvfs(&self) -> Result<Statvfs> {
        match self
            .client
            .call(Request::Extended(ExtendedRequest::Fstatvfs {
                handle: self.handle()?,
            }))
            .await?
        {
            Reply::Statvfs(s) => Ok(s),
            Reply::Status(s) => Err(Error::status(&self.path, s)),
            other => Err(unexpected(&self.path, &other)),
        }
    }

    /// One `READ` of up to `len` bytes at `offset`; `None` at end of file.
    pub async fn read_at(&self, offset: u64, len: u32) -> Result<Option<Bytes>> {
        let reply = self
            .client
            .call(Request::Read {
                handle: self.handle()?,
                offset,
                len,
            })
            .await?;
        match expect_data(&self.path, reply)? {
            ReadResult::Data(d) => Ok(Some(d)),
            ReadResult::Eof => Ok(None),
        }
    }

    /// One `WRITE` of `data` at `offset`.
    pub async fn write_at(&self, offset: u64, data: Bytes) -> Result<()> {
        let reply = self
            .client
            .call(Request::Write {
                handle: self.handle()?,
                offset,
                data,
            })
            .await?;
        expect_ok(&self.path, reply)
    }

    /// `CLOSE`, waiting for the server's answer (a failed close can mean lost data).
    pub async fn close(mut self) -> Result<()> {
        if let Some((fut, n)) = self.write.take() {
            fut.await?;
            self.pos += n as u64;
        }
        match self.handle.take() {
            Some(handle) => {
                let reply = self.client.call(Request::Close { handle }).await?;
                expect_ok(&self.path, reply)
            }
            None => Ok(()),
        }
    }
}

impl Drop for File {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            let _ = self.client.send(Request::Close { handle });
        }
    }
}

impl AsyncRead for File {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.leftover.is_empty() {
            let n = this.leftover.len().min(buf.remaining());
            buf.put_slice(this.leftover.split_to(n).as_ref());
            return Poll::Ready(Ok(()));
        }
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if this.read.is_none() {
            let len = u32::try_from(buf.remaining())
                .unwrap_or(u32::MAX)
                .min(this.client.read_len());
            let handle = this.handle().map_err(io_err)?;
            let rx = this
                .client
                .send(Request::Read {
                    handle,
                    offset: this.pos,
                    len,
                })
                .map_err(io_err)?;
            let client = this.client.clone();
            let path = this.path.clone();
            this.read = Some(Box::pin(async move {
                expect_data(&path, client.recv(rx).await?)
            }));
        }
        let Some(fut) = this.read.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        match fut.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(r) => {
                this.read = None;
                match r.map_err(io_err)? {
                    ReadResult::Eof => Poll::Ready(Ok(())),
                    ReadResult::Data(mut d) => {
                        this.pos += d.len() as u64;
                        let n = d.len().min(buf.remaining());
                        buf.put_slice(d.split_to(n).as_ref());
                        this.leftover = d;
                        Poll::Ready(Ok(()))
                    }
                }
            }
        }
    }
}

impl AsyncWrite for File {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.write.is_none() {
            if data.is_empty() {
                return Poll::Ready(Ok(0));
            }
            let n = data.len().min(this.client.write_len() as usize);
            let chunk = Bytes::copy_from_slice(data.get(..n).unwrap_or_default());
            let handle = this.handle().map_err(io_err)?;
            let rx = this
                .client
                .send(Request::Write {
                    handle,
                    offset: this.pos,
                    data: chunk,
                })
                .map_err(io_err)?;
            let client = this.client.clone();
            let path = this.path.clone();
            this.write = Some((
                Box::pin(async move { expect_ok(&path, client.recv(rx).await?) }),
                n,
            ));
        }
        let Some((fut, n)) = this.write.as_mut() else {
            return Poll::Ready(Ok(0));
        };
        let n = *n;
        match fut.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(r) => {
                this.write = None;
                r.map_err(io_err)?;
                this.pos += n as u64;
                Poll::Ready(Ok(n))
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some((fut, n)) = this.write.as_mut() {
            let n = *n;
            match fut.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(r) => {
                    this.write = None;
                    r.map_err(io_err)?;
                    this.pos += n as u64;
                }
            }
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

impl AsyncSeek for File {
    fn start_seek(self: Pin<&mut Self>, position: io::SeekFrom) -> io::Result<()> {
        let this = self.get_mut();
        this.leftover = Bytes::new();
        let target = |base: u64, d: i64| {
            base.checked_add_signed(d)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek out of range"))
        };
        match position {
            io::SeekFrom::Start(n) => this.pos = n,
            io::SeekFrom::Current(d) => this.pos = target(this.pos, d)?,
            io::SeekFrom::End(d) => {
                let handle = this.handle().map_err(io_err)?;
                let client = this.client.clone();
                let path = this.path.clone();
                this.seek = Some(Box::pin(async move {
                    match client.call(Request::Fstat { handle }).await? {
                        Reply::Attrs(a) => {
                            let size = a.size.unwrap_or(0);
                            size.checked_add_signed(d)
                                .ok_or_else(|| Error::Invalid("seek out of range".into()))
                        }
                        Reply::Status(s) => Err(Error::status(&path, s)),
                        other => Err(unexpected(&path, &other)),
                    }
                }));
            }
        }
        Ok(())
    }

    fn poll_complete(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        if let Some(fut) = this.seek.as_mut() {
            match fut.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(r) => {
                    this.seek = None;
                    this.pos = r.map_err(io_err)?;
                }
            }
        }
        Poll::Ready(Ok(this.pos))
    }
}
