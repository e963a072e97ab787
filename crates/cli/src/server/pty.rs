//! Pseudo-terminals without `unsafe`: `openpt`/`grantpt`/`unlockpt`/`ptsname` from rustix,
//! the slave opened by path, the requested size (`TIOCSWINSZ`) and the client's terminal
//! modes (RFC 4254 §8) applied with `tcsetattr`. The master side is non-blocking and read and
//! written through tokio's reactor ([`Master`]).
//!
//! Making the slave the child's controlling terminal needs `setsid()` + `TIOCSCTTY` in the
//! child between `fork` and `exec`, which safe Rust cannot do (`pre_exec` is `unsafe`). See
//! [`super::process`] for how the child is started instead (`setsid --ctty`).

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use rustix::fs::{Mode, OFlags};
use rustix::pty::OpenptFlags;
use rustix::termios::{
    ControlModes, InputModes, LocalModes, OptionalActions, OutputModes, SpecialCodeIndex, Termios,
    Winsize,
};
use tokio::io::{AsyncRead, ReadBuf};
use whelk::TerminalModes;
use whelk_channel::Opcode;

/// Largest accepted terminal dimension (characters or pixels); larger requests are clamped.
pub(crate) const MAX_DIMENSION: u32 = u16::MAX as u32;

/// A terminal size as `pty-req` and `window-change` carry it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Size {
    /// Columns.
    pub(crate) cols: u32,
    /// Rows.
    pub(crate) rows: u32,
    /// Width in pixels.
    pub(crate) width_px: u32,
    /// Height in pixels.
    pub(crate) height_px: u32,
}

fn dim(v: u32) -> u16 {
    u16::try_from(v.min(MAX_DIMENSION)).unwrap_or(u16::MAX)
}

impl Size {
    fn winsize(self) -> Winsize {
        Winsize {
            ws_row: dim(self.rows),
            ws_col: dim(self.cols),
            ws_xpixel: dim(self.width_px),
            ws_ypixel: dim(self.height_px),
        }
    }
}

/// An open pseudo-terminal pair.
#[derive(Debug)]
pub(crate) struct Pty {
    /// The master side (ours).
    pub(crate) master: OwnedFd,
    /// The slave side (the child's stdio); close it in the parent once the child runs.
    pub(crate) slave: OwnedFd,
    /// The slave's path (`/dev/pts/N`), for `SSH_TTY`.
    pub(crate) path: String,
}

/// Opens a pseudo-terminal of `size` with `modes` applied.
pub(crate) fn open(size: Size, modes: &TerminalModes) -> io::Result<Pty> {
    let master =
        rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    rustix::pty::grantpt(&master)?;
    rustix::pty::unlockpt(&master)?;
    let name = rustix::pty::ptsname(&master, Vec::new())?;
    let slave = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    rustix::termios::tcsetwinsize(&slave, size.winsize())?;
    let mut t = rustix::termios::tcgetattr(&slave)?;
    apply_modes(&mut t, modes);
    rustix::termios::tcsetattr(&slave, OptionalActions::Now, &t)?;
    Ok(Pty {
        master,
        slave,
        path: name.to_string_lossy().into_owned(),
    })
}

/// Changes the size of the terminal behind `fd` (the kernel sends `SIGWINCH` to the
/// foreground process group).
pub(crate) fn resize(fd: impl AsFd, size: Size) -> io::Result<()> {
    rustix::termios::tcsetwinsize(fd, size.winsize()).map_err(io::Error::from)
}

/// Flags types that can be switched bit by bit.
trait SetBit: Sized {
    fn set_bit(&mut self, bit: Self, on: bool);
}

macro_rules! set_bit {
    ($($t:ty),*) => {$(
        impl SetBit for $t {
            fn set_bit(&mut self, bit: Self, on: bool) {
                self.set(bit, on);
            }
        }
    )*};
}
set_bit!(InputModes, OutputModes, ControlModes, LocalModes);

/// Applies RFC 4254 §8 terminal modes to `t`; unknown opcodes and modes Linux does not have
/// are ignored, as sshd does.
pub(crate) fn apply_modes(t: &mut Termios, modes: &TerminalModes) {
    for (op, value) in modes.iter() {
        let on = value != 0;
        let cc = u8::try_from(value).unwrap_or(0);
        let special = |t: &mut Termios, idx: SpecialCodeIndex| t.special_codes[idx] = cc;
        match op {
            Opcode::VINTR => special(t, SpecialCodeIndex::VINTR),
            Opcode::VQUIT => special(t, SpecialCodeIndex::VQUIT),
            Opcode::VERASE => special(t, SpecialCodeIndex::VERASE),
            Opcode::VKILL => special(t, SpecialCodeIndex::VKILL),
            Opcode::VEOF => special(t, SpecialCodeIndex::VEOF),
            Opcode::VEOL => special(t, SpecialCodeIndex::VEOL),
            Opcode::VEOL2 => special(t, SpecialCodeIndex::VEOL2),
            Opcode::VSTART => special(t, SpecialCodeIndex::VSTART),
            Opcode::VSTOP => special(t, SpecialCodeIndex::VSTOP),
            Opcode::VSUSP => special(t, SpecialCodeIndex::VSUSP),
            Opcode::VREPRINT => special(t, SpecialCodeIndex::VREPRINT),
            Opcode::VWERASE => special(t, SpecialCodeIndex::VWERASE),
            Opcode::VLNEXT => special(t, SpecialCodeIndex::VLNEXT),
            Opcode::VDISCARD => special(t, SpecialCodeIndex::VDISCARD),
            Opcode::IGNPAR => t.input_modes.set_bit(InputModes::IGNPAR, on),
            Opcode::PARMRK => t.input_modes.set_bit(InputModes::PARMRK, on),
            Opcode::INPCK => t.input_modes.set_bit(InputModes::INPCK, on),
            Opcode::ISTRIP => t.input_modes.set_bit(InputModes::ISTRIP, on),
            Opcode::INLCR => t.input_modes.set_bit(InputModes::INLCR, on),
            Opcode::IGNCR => t.input_modes.set_bit(InputModes::IGNCR, on),
            Opcode::ICRNL => t.input_modes.set_bit(InputModes::ICRNL, on),
            Opcode::IUCLC => t.input_modes.set_bit(InputModes::IUCLC, on),
            Opcode::IXON => t.input_modes.set_bit(InputModes::IXON, on),
            Opcode::IXANY => t.input_modes.set_bit(InputModes::IXANY, on),
            Opcode::IXOFF => t.input_modes.set_bit(InputModes::IXOFF, on),
            Opcode::IMAXBEL => t.input_modes.set_bit(InputModes::IMAXBEL, on),
            Opcode::IUTF8 => t.input_modes.set_bit(InputModes::IUTF8, on),
            Opcode::ISIG => t.local_modes.set_bit(LocalModes::ISIG, on),
            Opcode::ICANON => t.local_modes.set_bit(LocalModes::ICANON, on),
            Opcode::XCASE => t.local_modes.set_bit(LocalModes::XCASE, on),
            Opcode::ECHO => t.local_modes.set_bit(LocalModes::ECHO, on),
            Opcode::ECHOE => t.local_modes.set_bit(LocalModes::ECHOE, on),
            Opcode::ECHOK => t.local_modes.set_bit(LocalModes::ECHOK, on),
            Opcode::ECHONL => t.local_modes.set_bit(LocalModes::ECHONL, on),
            Opcode::NOFLSH => t.local_modes.set_bit(LocalModes::NOFLSH, on),
            Opcode::TOSTOP => t.local_modes.set_bit(LocalModes::TOSTOP, on),
            Opcode::IEXTEN => t.local_modes.set_bit(LocalModes::IEXTEN, on),
            Opcode::ECHOCTL => t.local_modes.set_bit(LocalModes::ECHOCTL, on),
            Opcode::ECHOKE => t.local_modes.set_bit(LocalModes::ECHOKE, on),
            Opcode::PENDIN => t.local_modes.set_bit(LocalModes::PENDIN, on),
            Opcode::OPOST => t.output_modes.set_bit(OutputModes::OPOST, on),
            Opcode::OLCUC => t.output_modes.set_bit(OutputModes::OLCUC, on),
            Opcode::ONLCR => t.output_modes.set_bit(OutputModes::ONLCR, on),
            Opcode::OCRNL => t.output_modes.set_bit(OutputModes::OCRNL, on),
            Opcode::ONOCR => t.output_modes.set_bit(OutputModes::ONOCR, on),
            Opcode::ONLRET => t.output_modes.set_bit(OutputModes::ONLRET, on),
            Opcode::CS7 if on => {
                t.control_modes.remove(ControlModes::CSIZE);
                t.control_modes.insert(ControlModes::CS7);
            }
            Opcode::CS8 if on => {
                t.control_modes.remove(ControlModes::CSIZE);
                t.control_modes.insert(ControlModes::CS8);
            }
            Opcode::PARENB => t.control_modes.set_bit(ControlModes::PARENB, on),
            Opcode::PARODD => t.control_modes.set_bit(ControlModes::PARODD, on),
            Opcode::TTY_OP_ISPEED => {
                let _ = t.set_input_speed(value);
            }
            Opcode::TTY_OP_OSPEED => {
                let _ = t.set_output_speed(value);
            }
            _ => {}
        }
    }
}

/// The master side of a pseudo-terminal as async byte streams: a reader, a writer (each on
/// its own duplicate of the descriptor, registered with tokio through the safe
/// `pipe::{Receiver, Sender}::from_owned_fd_unchecked`; nothing there is pipe-specific) and a
/// descriptor for resizing.
#[derive(Debug)]
pub(crate) struct Master {
    /// Reads what the session's processes write to the terminal.
    pub(crate) reader: MasterReader,
    /// Writes the terminal's input.
    pub(crate) writer: tokio::net::unix::pipe::Sender,
    /// For [`resize`].
    pub(crate) control: OwnedFd,
}

impl Master {
    /// Makes `fd` non-blocking and registers duplicates of it with the reactor.
    pub(crate) fn new(fd: OwnedFd) -> io::Result<Self> {
        rustix::io::ioctl_fionbio(&fd, true)?;
        let reader = tokio::net::unix::pipe::Receiver::from_owned_fd_unchecked(fd.try_clone()?)?;
        let writer = tokio::net::unix::pipe::Sender::from_owned_fd_unchecked(fd.try_clone()?)?;
        Ok(Self {
            reader: MasterReader(reader),
            writer,
            control: fd,
        })
    }
}

/// Reading side of a PTY master: `EIO` (every slave descriptor closed) is end of stream.
#[derive(Debug)]
pub(crate) struct MasterReader(tokio::net::unix::pipe::Receiver);

impl AsyncRead for MasterReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match ready!(Pin::new(&mut self.0).poll_read(cx, buf)) {
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::IO.raw_os_error()) => {
                Poll::Ready(Ok(()))
            }
            r => Poll::Ready(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_applied() {
        let mut modes = TerminalModes::new();
        modes.set(Opcode::ECHO, 0).unwrap();
        modes.set(Opcode::ICANON, 1).unwrap();
        modes.set(Opcode::VINTR, 3).unwrap();
        modes.set(Opcode::TTY_OP_OSPEED, 38400).unwrap();
        let size = Size {
            cols: 100,
            rows: 30,
            ..Size::default()
        };
        let pty = open(size, &modes).unwrap();
        assert!(pty.path.starts_with("/dev/pts/"));
        let t = rustix::termios::tcgetattr(&pty.slave).unwrap();
        assert!(!t.local_modes.contains(LocalModes::ECHO));
        assert!(t.local_modes.contains(LocalModes::ICANON));
        assert_eq!(t.special_codes[SpecialCodeIndex::VINTR], 3);
        let ws = rustix::termios::tcgetwinsize(&pty.slave).unwrap();
        assert_eq!((ws.ws_col, ws.ws_row), (100, 30));
        resize(
            &pty.master,
            Size {
                cols: 7,
                rows: 9,
                ..size
            },
        )
        .unwrap();
        let ws = rustix::termios::tcgetwinsize(&pty.slave).unwrap();
        assert_eq!((ws.ws_col, ws.ws_row), (7, 9));
    }

    #[test]
    fn sizes_are_clamped() {
        assert_eq!(dim(70_000), u16::MAX);
        assert_eq!(dim(80), 80);
    }
}
