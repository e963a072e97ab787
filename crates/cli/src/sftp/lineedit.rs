//! A small line editor for the interactive `whelk sftp` prompt: the terminal in raw mode
//! (rustix termios, restored after every line), in-memory history, and the usual keys.
//!
//! | key | action |
//! |---|---|
//! | Left / Right, Ctrl-B / Ctrl-F | move one character |
//! | Home / End, Ctrl-A / Ctrl-E | start / end of line |
//! | Up / Down, Ctrl-P / Ctrl-N | previous / next history entry |
//! | Backspace, Ctrl-H / Delete | delete before / under the cursor |
//! | Ctrl-U / Ctrl-K / Ctrl-W | delete to start / to end / the word before the cursor |
//! | Ctrl-L | clear the screen |
//! | Ctrl-C | abandon the line |
//! | Ctrl-D | end of input on an empty line, else delete under the cursor |
//!
//! Characters are taken as one column wide (no wide-character layout).

use std::io::{Read, Write};
use std::os::fd::AsFd;

use crate::common::tty;

/// At most this many lines of history are kept (oldest dropped first).
pub(crate) const HISTORY_MAX: usize = 1000;

/// What one call to [`LineEditor::read_line`] produced.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Input {
    /// A line (without its end).
    Line(String),
    /// Ctrl-C: the line was abandoned.
    Interrupted,
    /// Ctrl-D on an empty line, or the end of the terminal's input.
    Eof,
}

/// Line editor state: the history across lines.
#[derive(Debug, Default)]
pub(crate) struct LineEditor {
    history: Vec<String>,
}

/// The line being edited.
#[derive(Debug, Default)]
struct Buffer {
    chars: Vec<char>,
    pos: usize,
}

impl Buffer {
    fn set(&mut self, s: &str) {
        self.chars = s.chars().collect();
        self.pos = self.chars.len();
    }

    fn text(&self) -> String {
        self.chars.iter().collect()
    }

    fn insert(&mut self, c: char) {
        self.chars.insert(self.pos, c);
        self.pos += 1;
    }

    fn backspace(&mut self) {
        if self.pos > 0 {
            self.pos -= 1;
            self.chars.remove(self.pos);
        }
    }

    fn delete(&mut self) {
        if self.pos < self.chars.len() {
            self.chars.remove(self.pos);
        }
    }

    fn delete_word(&mut self) {
        let mut start = self.pos;
        while start > 0 && self.chars.get(start - 1).is_some_and(|c| c.is_whitespace()) {
            start -= 1;
        }
        while start > 0
            && self
                .chars
                .get(start - 1)
                .is_some_and(|c| !c.is_whitespace())
        {
            start -= 1;
        }
        self.chars.drain(start..self.pos);
        self.pos = start;
    }
}

/// A decoded key press.
#[derive(Debug, PartialEq, Eq)]
enum Key {
    Char(char),
    Enter,
    Backspace,
    Delete,
    Left,
    Right,
    Home,
    End,
    Up,
    Down,
    KillStart,
    KillEnd,
    KillWord,
    Clear,
    Interrupt,
    CtrlD,
    Ignore,
}

/// Reads one byte; `None` at the end of input.
fn byte(r: &mut impl Read) -> std::io::Result<Option<u8>> {
    let mut b = [0u8; 1];
    loop {
        match r.read(&mut b) {
            Ok(0) => return Ok(None),
            Ok(_) => return Ok(Some(b[0])),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Reads one key press; `None` at the end of input.
fn key(r: &mut impl Read) -> std::io::Result<Option<Key>> {
    let Some(b) = byte(r)? else {
        return Ok(None);
    };
    Ok(Some(match b {
        b'\r' | b'\n' => Key::Enter,
        0x7f | 0x08 => Key::Backspace,
        0x01 => Key::Home,
        0x02 => Key::Left,
        0x03 => Key::Interrupt,
        0x04 => Key::CtrlD,
        0x05 => Key::End,
        0x06 => Key::Right,
        0x0b => Key::KillEnd,
        0x0c => Key::Clear,
        0x0e => Key::Down,
        0x10 => Key::Up,
        0x15 => Key::KillStart,
        0x17 => Key::KillWord,
        0x1b => escape(r)?,
        b if b < 0x20 => Key::Ignore,
        b if b < 0x80 => Key::Char(char::from(b)),
        b => {
            // A UTF-8 sequence: the lead byte says how many continuation bytes follow.
            let n = match b {
                0xc0..=0xdf => 1,
                0xe0..=0xef => 2,
                0xf0..=0xf7 => 3,
                _ => return Ok(Some(Key::Ignore)),
            };
            let mut buf = vec![b];
            for _ in 0..n {
                match byte(r)? {
                    Some(c) => buf.push(c),
                    None => return Ok(None),
                }
            }
            match std::str::from_utf8(&buf)
                .ok()
                .and_then(|s| s.chars().next())
            {
                Some(c) => Key::Char(c),
                None => Key::Ignore,
            }
        }
    }))
}

/// Decodes the rest of an escape sequence (CSI `ESC [` or SS3 `ESC O`).
fn escape(r: &mut impl Read) -> std::io::Result<Key> {
    let Some(kind) = byte(r)? else {
        return Ok(Key::Ignore);
    };
    if kind != b'[' && kind != b'O' {
        return Ok(Key::Ignore);
    }
    // Parameters (digits and `;`), then one final byte.
    let mut params = String::new();
    loop {
        let Some(b) = byte(r)? else {
            return Ok(Key::Ignore);
        };
        if b.is_ascii_digit() || b == b';' {
            if params.len() < 16 {
                params.push(char::from(b));
            }
            continue;
        }
        return Ok(match (b, params.as_str()) {
            (b'A', _) => Key::Up,
            (b'B', _) => Key::Down,
            (b'C', _) => Key::Right,
            (b'D', _) => Key::Left,
            (b'H', _) => Key::Home,
            (b'F', _) => Key::End,
            (b'~', "1" | "7") => Key::Home,
            (b'~', "4" | "8") => Key::End,
            (b'~', "3") => Key::Delete,
            _ => Key::Ignore,
        });
    }
}

impl LineEditor {
    /// A line editor with empty history.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Adds a line to the history (not empty lines, not a repeat of the last one).
    pub(crate) fn add_history(&mut self, line: &str) {
        if line.trim().is_empty() || self.history.last().is_some_and(|l| l == line) {
            return;
        }
        if self.history.len() >= HISTORY_MAX {
            self.history.remove(0);
        }
        self.history.push(line.to_string());
    }

    /// Shows `prompt` on stdout and reads one edited line from the terminal on stdin.
    pub(crate) fn read_line(&mut self, prompt: &str) -> std::io::Result<Input> {
        let stdin = std::io::stdin();
        let _raw = tty::raw_mode(stdin.as_fd())?;
        let mut input = stdin.lock();
        let mut out = std::io::stdout().lock();
        self.edit(prompt, &mut input, &mut out)
    }

    /// The editing loop over any byte source and sink (the terminal, or a test's buffers).
    fn edit(
        &mut self,
        prompt: &str,
        input: &mut impl Read,
        out: &mut impl Write,
    ) -> std::io::Result<Input> {
        let mut buf = Buffer::default();
        // History index being shown: history.len() is the line being typed (kept in `draft`).
        let mut index = self.history.len();
        let mut draft = String::new();
        write!(out, "{prompt}")?;
        out.flush()?;
        loop {
            let Some(k) = key(input)? else {
                write!(out, "\r\n")?;
                out.flush()?;
                return Ok(if buf.chars.is_empty() {
                    Input::Eof
                } else {
                    Input::Line(buf.text())
                });
            };
            match k {
                Key::Enter => {
                    write!(out, "\r\n")?;
                    out.flush()?;
                    return Ok(Input::Line(buf.text()));
                }
                Key::Interrupt => {
                    write!(out, "^C\r\n")?;
                    out.flush()?;
                    return Ok(Input::Interrupted);
                }
                Key::CtrlD if buf.chars.is_empty() => {
                    write!(out, "\r\n")?;
                    out.flush()?;
                    return Ok(Input::Eof);
                }
                Key::CtrlD | Key::Delete => buf.delete(),
                Key::Char(c) => buf.insert(c),
                Key::Backspace => buf.backspace(),
                Key::Left => buf.pos = buf.pos.saturating_sub(1),
                Key::Right => buf.pos = (buf.pos + 1).min(buf.chars.len()),
                Key::Home => buf.pos = 0,
                Key::End => buf.pos = buf.chars.len(),
                Key::KillStart => {
                    buf.chars.drain(..buf.pos);
                    buf.pos = 0;
                }
                Key::KillEnd => buf.chars.truncate(buf.pos),
                Key::KillWord => buf.delete_word(),
                Key::Clear => write!(out, "\x1b[H\x1b[2J")?,
                Key::Up => {
                    if index > 0 {
                        if index == self.history.len() {
                            draft = buf.text();
                        }
                        index -= 1;
                        buf.set(self.history.get(index).map_or("", String::as_str));
                    }
                }
                Key::Down => {
                    if index < self.history.len() {
                        index += 1;
                        match self.history.get(index) {
                            Some(l) => buf.set(l),
                            None => buf.set(&draft),
                        }
                    }
                }
                Key::Ignore => continue,
            }
            // Redraw: prompt and line, clear to the end, cursor back to its column.
            write!(out, "\r{prompt}{}\x1b[K", buf.text())?;
            let back = buf.chars.len() - buf.pos;
            if back > 0 {
                write!(out, "\x1b[{back}D")?;
            }
            out.flush()?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(ed: &mut LineEditor, keys: &[u8]) -> Input {
        let mut out = Vec::new();
        ed.edit("sftp> ", &mut &keys[..], &mut out).unwrap()
    }

    #[test]
    fn editing_keys() {
        let mut ed = LineEditor::new();
        // Type, move left twice, insert, Home, insert, End, backspace.
        assert_eq!(
            run(&mut ed, b"lsx\x1b[D\x1b[D-\x01#\x05\x7f\r"),
            Input::Line("#l-s".into())
        );
        // Ctrl-W deletes the word before the cursor; Ctrl-U everything before it.
        assert_eq!(
            run(&mut ed, b"get a b\x17c\r"),
            Input::Line("get a c".into())
        );
        assert_eq!(run(&mut ed, b"junk\x15pwd\r"), Input::Line("pwd".into()));
        // Delete (ESC [3~) and Ctrl-K.
        assert_eq!(run(&mut ed, b"abc\x01\x1b[3~\r"), Input::Line("bc".into()));
        assert_eq!(run(&mut ed, b"abc\x02\x02\x0b\r"), Input::Line("a".into()));
        assert_eq!(
            run(&mut ed, "h\u{e9}!\r".as_bytes()),
            Input::Line("h\u{e9}!".into())
        );
        assert_eq!(run(&mut ed, b"x\x03"), Input::Interrupted);
        assert_eq!(run(&mut ed, b"\x04"), Input::Eof);
        assert_eq!(run(&mut ed, b""), Input::Eof);
    }

    #[test]
    fn history() {
        let mut ed = LineEditor::new();
        ed.add_history("ls");
        ed.add_history("pwd");
        ed.add_history("pwd");
        ed.add_history("  ");
        assert_eq!(ed.history, ["ls", "pwd"]);
        // Up twice reaches "ls"; Down comes back to "pwd"; Down again to the draft.
        assert_eq!(run(&mut ed, b"\x1b[A\x1b[A\r"), Input::Line("ls".into()));
        assert_eq!(
            run(&mut ed, b"\x1b[A\x1b[A\x1b[B\r"),
            Input::Line("pwd".into())
        );
        assert_eq!(
            run(&mut ed, b"dr\x1b[A\x1b[Baft\r"),
            Input::Line("draft".into())
        );
        // Up at the oldest entry stays there; SS3 arrows (ESC O A) work too.
        assert_eq!(
            run(&mut ed, b"\x1bOA\x1bOA\x1bOA\r"),
            Input::Line("ls".into())
        );
        for i in 0..HISTORY_MAX + 5 {
            ed.add_history(&i.to_string());
        }
        assert_eq!(ed.history.len(), HISTORY_MAX);
    }
}
