//! The session's local stdio: stdin copied to the channel, the channel's stdout and
//! stderr copied to ours.
//!
//! A pipe of our own (`head -c 1G /dev/zero | whelk ssh host 'cat > f'`, `whelk ssh host
//! 'cat f' | sha256sum`) is set non-blocking and served on the runtime's own thread by the
//! reactor, the way OpenSSH sets its non-terminal stdio non-blocking. One thread then
//! reads, encrypts and sends (or receives, decrypts and writes); reads run ahead until the
//! channel's send buffer is full, and writes take every packet received so far, so the
//! data moves in large batches without waking other threads. The file's status flags are
//! put back when the copy ends or the process exits normally. Anything else (a terminal, a
//! regular file, a socket, a pipe shared with another of our stdio descriptors, and stderr
//! always, which our own messages use too) is served by a thread of its own, where a
//! blocked read or write does not hold up the runtime or exit.

use std::io::{self, Read};
use std::ops::DerefMut;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{FileType, OFlags};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::mpsc;
use whelk_tokio::ChannelReader;

use crate::common::packet_copy::{self, Batch};

/// Bytes read from stdin at a time: twice a default pipe's capacity.
const READ_SIZE: usize = 128 * 1024;
/// Most bytes handed to one `writev` on the local output.
const OUT_BATCH: usize = 1024 * 1024;

/// A file's status flags as they were before we set O_NONBLOCK, put back when dropped.
#[derive(Debug)]
struct SavedFlags {
    /// A duplicate: the same open file.
    fd: OwnedFd,
    flags: OFlags,
}

impl SavedFlags {
    /// The flags of `fd` when it is a pipe not shared with `others` (setting O_NONBLOCK on
    /// a shared file would reach our other stdio too).
    fn of_own_pipe(fd: BorrowedFd<'_>, others: [BorrowedFd<'_>; 2]) -> Option<Self> {
        let st = rustix::fs::fstat(fd).ok()?;
        if FileType::from_raw_mode(st.st_mode) != FileType::Fifo {
            return None;
        }
        let same = |o: &BorrowedFd<'_>| {
            rustix::fs::fstat(o).is_ok_and(|s| (s.st_dev, s.st_ino) == (st.st_dev, st.st_ino))
        };
        if others.iter().any(same) {
            return None;
        }
        Some(Self {
            flags: rustix::fs::fcntl_getfl(fd).ok()?,
            fd: fd.try_clone_to_owned().ok()?,
        })
    }
}

impl Drop for SavedFlags {
    fn drop(&mut self) {
        let _ = rustix::fs::fcntl_setfl(&self.fd, self.flags);
    }
}

/// One of our stdio pipes set non-blocking on the reactor; its flags are put back when
/// dropped.
#[derive(Debug)]
pub(super) struct OwnPipe<P> {
    pipe: P,
    _saved: SavedFlags,
}

impl<P> OwnPipe<P> {
    /// `fd` as a pipe on the reactor (`open` checks the pipe's end and sets it
    /// non-blocking) when it is a pipe not shared with `others`.
    fn new(
        fd: BorrowedFd<'_>,
        others: [BorrowedFd<'_>; 2],
        open: impl FnOnce(OwnedFd) -> io::Result<P>,
    ) -> Option<Self> {
        let saved = SavedFlags::of_own_pipe(fd, others)?;
        match open(saved.fd.try_clone().ok()?) {
            Ok(pipe) => Some(Self {
                pipe,
                _saved: saved,
            }),
            Err(e) => {
                tracing::debug!("stdio pipe on the reactor: {e}");
                None
            }
        }
    }
}

/// stdin set non-blocking on the reactor.
pub(super) type PipeInput = OwnPipe<pipe::Receiver>;

impl PipeInput {
    /// stdin as a [`PipeInput`] when it is a pipe of our own.
    pub(super) fn stdin() -> Option<Self> {
        let (stdin, stdout, stderr) = (io::stdin(), io::stdout(), io::stderr());
        let others = [stdout.as_fd(), stderr.as_fd()];
        Self::new(stdin.as_fd(), others, pipe::Receiver::from_owned_fd)
    }

    /// Copies stdin to the channel until end of input (then sends EOF) or a read error
    /// (EOF too); returns early if the channel is gone.
    pub(super) async fn pump(mut self, mut to: whelk_tokio::Stdin) {
        let mut buf = vec![0u8; READ_SIZE];
        loop {
            let n = self.pipe.read(&mut buf).await.unwrap_or_else(|e| {
                tracing::debug!("stdin: {e}");
                0
            });
            let Some(data) = buf.get(..n).filter(|d| !d.is_empty()) else {
                let _ = to.shutdown().await;
                return;
            };
            if to.write_all(data).await.is_err() {
                return;
            }
        }
    }
}

/// stdout set non-blocking on the reactor.
type PipeOutput = OwnPipe<pipe::Sender>;

impl PipeOutput {
    /// stdout as a [`PipeOutput`] when it is a pipe of our own.
    fn stdout() -> Option<Self> {
        let (stdin, stdout, stderr) = (io::stdin(), io::stdout(), io::stderr());
        let others = [stdin.as_fd(), stderr.as_fd()];
        Self::new(stdout.as_fd(), others, pipe::Sender::from_owned_fd)
    }
}

/// Our output a channel stream goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Output {
    /// The channel's data.
    Stdout,
    /// The channel's extended data (stderr).
    Stderr,
}

/// Copies a channel stream to our stdout or stderr until the remote side ends it, straight
/// from the decrypted packets (no copy): everything received so far goes in one `writev`.
/// If the local side cannot take more (a closed pipe), the channel is closed so the
/// remote command does not block forever.
pub(super) async fn copy_out<C>(
    mut from: ChannelReader<C>,
    to: Output,
    session: &whelk_tokio::Session,
) where
    C: DerefMut<Target = whelk::Connection> + Send + 'static,
{
    if to == Output::Stdout
        && let Some(mut out) = PipeOutput::stdout()
    {
        if let Err(e) = packet_copy::copy(&mut from, &mut out.pipe, OUT_BATCH).await {
            tracing::debug!("local output: {e}: closing the channel");
            session.close();
        }
        return;
    }
    let fd = match to {
        Output::Stdout => io::stdout().as_fd().try_clone_to_owned(),
        Output::Stderr => io::stderr().as_fd().try_clone_to_owned(),
    };
    let file = match fd {
        Ok(fd) => std::fs::File::from(fd),
        Err(e) => {
            tracing::debug!("local output: {e}: closing the channel");
            session.close();
            return;
        }
    };
    let handle = tokio::runtime::Handle::current();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("ssh-output".into())
        .spawn(move || {
            let _ = done_tx.send(pump_out(&handle, from, file));
        });
    if spawned.is_err() {
        session.close();
        return;
    }
    // Ok(false): the local output failed.
    if let Ok(false) = done_rx.await {
        tracing::debug!("local output closed: closing the channel");
        session.close();
    }
}

/// The output thread of [`copy_out`]; false when the local output failed.
fn pump_out<C>(
    handle: &tokio::runtime::Handle,
    mut from: ChannelReader<C>,
    mut to: std::fs::File,
) -> bool
where
    C: DerefMut<Target = whelk::Connection> + Send + 'static,
{
    let mut batch = Batch::default();
    loop {
        let Ok(Some(first)) = handle.block_on(from.read_chunk(OUT_BATCH)) else {
            return true;
        };
        batch.fill(first, &mut from, OUT_BATCH);
        if batch.write_blocking(&mut to).is_err() {
            return false;
        }
    }
}

/// Reads stdin on a thread of its own (a blocked read must not hold up exit) and hands
/// the chunks over; an empty chunk means EOF.
pub(super) fn reader(null: bool) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel(16);
    if null {
        let _ = tx.try_send(Vec::new());
        return rx;
    }
    std::thread::spawn(move || {
        let mut stdin = io::stdin();
        let mut buf = vec![0u8; READ_SIZE];
        loop {
            let n = match stdin.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => 0,
            };
            let chunk = buf.get(..n).unwrap_or_default().to_vec();
            if tx.blocking_send(chunk).is_err() || n == 0 {
                return;
            }
        }
    });
    rx
}

/// Copies stdin to the channel on a thread of its own: each read goes straight into the
/// channel's send buffer, with no hop through a task; EOF (or a read error) sends EOF.
pub(super) fn pump_on_thread(mut to: whelk_tokio::Stdin) {
    let handle = tokio::runtime::Handle::current();
    let spawned = std::thread::Builder::new()
        .name("ssh-input".into())
        .spawn(move || {
            let mut stdin = io::stdin();
            let mut buf = vec![0u8; READ_SIZE];
            loop {
                let n = match stdin.read(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => 0,
                };
                let Some(data) = buf.get(..n).filter(|d| !d.is_empty()) else {
                    let _ = handle.block_on(to.shutdown());
                    return;
                };
                if handle.block_on(to.write_all(data)).is_err() {
                    return;
                }
            }
        });
    if let Err(e) = spawned {
        tracing::debug!("stdin thread: {e}");
    }
}
