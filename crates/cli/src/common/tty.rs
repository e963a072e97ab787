//! The controlling terminal: passphrase and yes/no prompts on `/dev/tty` (echo off for
//! secrets), raw mode with a guard that restores the previous mode, and the window size.

use std::io::{BufRead, Write};
use std::os::fd::AsFd;

use rustix::termios::{self, LocalModes, OptionalActions, Termios};
use zeroize::Zeroizing;

/// Opens the controlling terminal for reading and writing.
fn open_tty() -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
}

/// Puts a terminal back into the mode it had when dropped.
pub(crate) struct ModeGuard<F: AsFd> {
    fd: F,
    saved: Termios,
}

impl<F: AsFd> Drop for ModeGuard<F> {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(&self.fd, OptionalActions::Drain, &self.saved);
    }
}

/// Switches `fd` to raw mode; the guard restores the previous mode (also when an error or a
/// panic unwinds through it).
pub(crate) fn raw_mode<F: AsFd>(fd: F) -> std::io::Result<ModeGuard<F>> {
    let saved = termios::tcgetattr(&fd)?;
    let mut raw = saved.clone();
    raw.make_raw();
    termios::tcsetattr(&fd, OptionalActions::Drain, &raw)?;
    Ok(ModeGuard { fd, saved })
}

/// Whether `fd` is a terminal.
pub(crate) fn is_tty<F: AsFd>(fd: F) -> bool {
    termios::isatty(fd)
}

/// The window size of the terminal on `fd`: (columns, rows).
pub(crate) fn window_size<F: AsFd>(fd: F) -> Option<(u32, u32)> {
    let ws = termios::tcgetwinsize(fd).ok()?;
    (ws.ws_col > 0 && ws.ws_row > 0).then(|| (u32::from(ws.ws_col), u32::from(ws.ws_row)))
}

/// Reads one line from `r` without its line ending.
fn read_line(r: &mut impl BufRead) -> std::io::Result<Zeroizing<String>> {
    let mut line = Zeroizing::new(String::new());
    if r.read_line(&mut line)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "end of input",
        ));
    }
    while line.ends_with('\n') || line.ends_with('\r') {
        line.pop();
    }
    Ok(line)
}

/// Prompts for a secret on `/dev/tty` with echo off. Without a terminal, reads a line from
/// stdin (as `ssh-keygen` does); `allow_stdin = false` makes that an error instead.
pub(crate) fn read_secret(prompt: &str, allow_stdin: bool) -> std::io::Result<Zeroizing<String>> {
    match open_tty() {
        Ok(tty) => {
            // Echo goes off before the prompt appears (as readpassphrase(3) does), so an
            // answer typed or sent as soon as the prompt shows is never flushed or echoed.
            let saved = termios::tcgetattr(&tty)?;
            let mut quiet = saved.clone();
            quiet.local_modes -= LocalModes::ECHO;
            quiet.local_modes |= LocalModes::ECHONL;
            termios::tcsetattr(&tty, OptionalActions::Drain, &quiet)?;
            let guard = ModeGuard {
                fd: tty.try_clone()?,
                saved,
            };
            let mut out = tty.try_clone()?;
            out.write_all(prompt.as_bytes())?;
            out.flush()?;
            let line = read_line(&mut std::io::BufReader::new(&tty));
            drop(guard);
            line
        }
        Err(e) if !allow_stdin => Err(e),
        Err(_) => {
            eprint!("{prompt}");
            read_line(&mut std::io::stdin().lock())
        }
    }
}

/// Asks a question on `/dev/tty` (echo on) and returns the answer; an error without a
/// terminal.
pub(crate) fn ask(prompt: &str) -> std::io::Result<String> {
    let tty = open_tty()?;
    let mut out = tty.try_clone()?;
    out.write_all(prompt.as_bytes())?;
    out.flush()?;
    let line = read_line(&mut std::io::BufReader::new(&tty))?;
    Ok(line.trim().to_string())
}
