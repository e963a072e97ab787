//! Local input to the session channel: stdin copied to the channel's stdin.
//!
//! A pipe of its own (`head -c 1G /dev/zero | whelk ssh host 'cat > f'`) is read on
//! the runtime's own thread: set non-blocking and watched by the reactor, the way OpenSSH
//! sets its non-terminal stdio non-blocking. One thread then reads, encrypts and sends, and
//! the reads run ahead until the channel's send buffer is full, so the connection sends in
//! large batches. Anything else (a terminal, a regular file, a pipe shared with our stdout
//! or stderr, a socket) is read by a thread of its own, where a blocked read does not hold up exit.

use std::io::{self, Read};
use std::os::fd::AsFd;

use rustix::fs::{FileType, OFlags};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::mpsc;

/// Bytes read from stdin at a time: twice a default pipe's capacity.
const READ_SIZE: usize = 128 * 1024;

/// stdin set non-blocking on the reactor; its file status flags are put back when dropped.
#[derive(Debug)]
pub(super) struct PipeInput {
    pipe: pipe::Receiver,
    /// The flags stdin had before.
    flags: OFlags,
}

impl PipeInput {
    /// stdin as a [`PipeInput`] when it is a pipe not shared with stdout or stderr (setting
    /// O_NONBLOCK on a shared pipe would reach our other output too).
    pub(super) fn stdin() -> Option<Self> {
        let stdin = io::stdin();
        let fd = stdin.as_fd();
        let st = rustix::fs::fstat(fd).ok()?;
        if FileType::from_raw_mode(st.st_mode) != FileType::Fifo {
            return None;
        }
        let shared = [io::stdout().as_fd(), io::stderr().as_fd()]
            .iter()
            .any(|o| {
                rustix::fs::fstat(o).is_ok_and(|s| (s.st_dev, s.st_ino) == (st.st_dev, st.st_ino))
            });
        if shared {
            return None;
        }
        let flags = rustix::fs::fcntl_getfl(fd).ok()?;
        // Checks that this is a pipe's read end and sets it non-blocking.
        match pipe::Receiver::from_owned_fd(fd.try_clone_to_owned().ok()?) {
            Ok(pipe) => Some(Self { pipe, flags }),
            Err(e) => {
                tracing::debug!("stdin on the reactor: {e}");
                let _ = rustix::fs::fcntl_setfl(fd, flags);
                None
            }
        }
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

impl Drop for PipeInput {
    fn drop(&mut self) {
        let _ = rustix::fs::fcntl_setfl(io::stdin(), self.flags);
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
