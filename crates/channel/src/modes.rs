//! Encoded terminal modes (RFC 4254 §8), carried by `pty-req`.
//!
//! The encoding is a sequence of `(opcode: byte, argument: uint32)` pairs ended by
//! `TTY_OP_END` (0). Opcodes 1-159 take a uint32 argument; 160-255 are undefined and "cause
//! parsing to stop (they should only be used after any other data)". Decoding is lenient
//! where the RFC allows it (a missing `TTY_OP_END` ends the list, bytes after `TTY_OP_END` or
//! after an opcode of 160 or more are ignored) and strict where a value would be guessed (an
//! argument cut short is an error).

use alloc::vec::Vec;
use core::fmt;

use bytes::{BufMut, Bytes, BytesMut};

/// One terminal mode opcode, with the names RFC 4254 §8 (and RFC 8160 for `IUTF8`) assigns.
/// Unknown opcodes are kept as they came.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Opcode(pub u8);

macro_rules! opcodes {
    ($( $(#[$m:meta])* $name:ident = $v:expr, )*) => {
        impl Opcode {
            $( $(#[$m])* pub const $name: Self = Self($v); )*

            /// The opcode's RFC name, if it has one.
            #[must_use]
            pub fn name(self) -> Option<&'static str> {
                match self {
                    $( Self::$name => Some(stringify!($name)), )*
                    _ => None,
                }
            }
        }
    };
}

opcodes! {
    /// Indicates the end of options.
    TTY_OP_END = 0,
    /// Interrupt character.
    VINTR = 1,
    /// Quit character (SIGQUIT).
    VQUIT = 2,
    /// Erase the character to the left of the cursor.
    VERASE = 3,
    /// Kill the current input line.
    VKILL = 4,
    /// End-of-file character.
    VEOF = 5,
    /// End-of-line character in addition to CR and/or LF.
    VEOL = 6,
    /// Additional end-of-line character.
    VEOL2 = 7,
    /// Continues paused output (normally control-Q).
    VSTART = 8,
    /// Pauses output (normally control-S).
    VSTOP = 9,
    /// Suspends the current program.
    VSUSP = 10,
    /// Another suspend character.
    VDSUSP = 11,
    /// Reprints the current input line.
    VREPRINT = 12,
    /// Erases a word left of cursor.
    VWERASE = 13,
    /// Enter the next character typed literally.
    VLNEXT = 14,
    /// Character to flush output.
    VFLUSH = 15,
    /// Switch to a different shell layer.
    VSWTCH = 16,
    /// Prints system status line.
    VSTATUS = 17,
    /// Toggles the flushing of terminal output.
    VDISCARD = 18,
    /// Ignore parity errors.
    IGNPAR = 30,
    /// Mark parity and framing errors.
    PARMRK = 31,
    /// Enable checking of parity errors.
    INPCK = 32,
    /// Strip 8th bit off characters.
    ISTRIP = 33,
    /// Map NL into CR on input.
    INLCR = 34,
    /// Ignore CR on input.
    IGNCR = 35,
    /// Map CR to NL on input.
    ICRNL = 36,
    /// Translate uppercase characters to lowercase.
    IUCLC = 37,
    /// Enable output flow control.
    IXON = 38,
    /// Any char will restart after stop.
    IXANY = 39,
    /// Enable input flow control.
    IXOFF = 40,
    /// Ring bell on input queue full.
    IMAXBEL = 41,
    /// Terminal input and output is assumed to be UTF-8 (RFC 8160).
    IUTF8 = 42,
    /// Enable signals INTR, QUIT, \[D\]SUSP.
    ISIG = 50,
    /// Canonicalize input lines.
    ICANON = 51,
    /// Enable input and output of uppercase characters by preceding their lowercase
    /// equivalents with "\".
    XCASE = 52,
    /// Enable echoing.
    ECHO = 53,
    /// Visually erase chars.
    ECHOE = 54,
    /// Kill character discards current line.
    ECHOK = 55,
    /// Echo NL even if ECHO is off.
    ECHONL = 56,
    /// Don't flush after interrupt.
    NOFLSH = 57,
    /// Stop background jobs from output.
    TOSTOP = 58,
    /// Enable extensions.
    IEXTEN = 59,
    /// Echo control characters as ^(Char).
    ECHOCTL = 60,
    /// Visual erase for line kill.
    ECHOKE = 61,
    /// Retype pending input.
    PENDIN = 62,
    /// Enable output processing.
    OPOST = 70,
    /// Convert lowercase to uppercase.
    OLCUC = 71,
    /// Map NL to CR-NL.
    ONLCR = 72,
    /// Translate carriage return to newline (output).
    OCRNL = 73,
    /// Translate newline to carriage return-newline (output).
    ONOCR = 74,
    /// Newline performs a carriage return (output).
    ONLRET = 75,
    /// 7 bit mode.
    CS7 = 90,
    /// 8 bit mode.
    CS8 = 91,
    /// Parity enable.
    PARENB = 92,
    /// Odd parity, else even.
    PARODD = 93,
    /// Specifies the input baud rate in bits per second.
    TTY_OP_ISPEED = 128,
    /// Specifies the output baud rate in bits per second.
    TTY_OP_OSPEED = 129,
}

impl Opcode {
    /// Whether the opcode carries a uint32 argument (1-159). 0 ends the list; 160-255 stop
    /// parsing.
    #[must_use]
    pub fn has_argument(self) -> bool {
        (1..160).contains(&self.0)
    }
}

impl fmt::Debug for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "Opcode({})", self.0),
        }
    }
}

/// Terminal modes that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModesError {
    /// An opcode's uint32 argument was cut short.
    #[error("terminal mode {opcode:?}: argument cut short")]
    Truncated {
        /// The opcode whose argument was incomplete.
        opcode: Opcode,
    },
    /// [`TerminalModes::set`] was given an opcode that takes no argument (0 or 160-255).
    #[error("terminal mode {0:?} cannot carry a value")]
    NotAMode(Opcode),
}

/// A list of terminal modes, in order. Setting an opcode twice replaces its value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TerminalModes {
    modes: Vec<(Opcode, u32)>,
}

impl TerminalModes {
    /// No modes (encodes to the single byte `TTY_OP_END`).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `opcode` to `value`, replacing an earlier value. Fails for opcodes that carry no
    /// argument (0 and 160-255).
    pub fn set(&mut self, opcode: Opcode, value: u32) -> Result<&mut Self, ModesError> {
        if !opcode.has_argument() {
            return Err(ModesError::NotAMode(opcode));
        }
        match self.modes.iter_mut().find(|(o, _)| *o == opcode) {
            Some(slot) => slot.1 = value,
            None => self.modes.push((opcode, value)),
        }
        Ok(self)
    }

    /// The value of `opcode`, if set.
    #[must_use]
    pub fn get(&self, opcode: Opcode) -> Option<u32> {
        self.modes
            .iter()
            .find(|(o, _)| *o == opcode)
            .map(|&(_, v)| v)
    }

    /// The modes in order.
    pub fn iter(&self) -> impl Iterator<Item = (Opcode, u32)> + '_ {
        self.modes.iter().copied()
    }

    /// How many modes are set.
    #[must_use]
    pub fn len(&self) -> usize {
        self.modes.len()
    }

    /// Whether no mode is set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.modes.is_empty()
    }

    /// The encoding for `pty-req`: the pairs, then `TTY_OP_END`.
    #[must_use]
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.modes.len() * 5 + 1);
        for &(op, v) in &self.modes {
            out.put_u8(op.0);
            out.put_u32(v);
        }
        out.put_u8(Opcode::TTY_OP_END.0);
        out.freeze()
    }

    /// Decodes the `modes` string of a `pty-req`. A later value for the same opcode replaces
    /// an earlier one.
    pub fn decode(mut input: &[u8]) -> Result<Self, ModesError> {
        let mut modes = Self::new();
        while let Some((&op, rest)) = input.split_first() {
            let opcode = Opcode(op);
            if !opcode.has_argument() {
                // TTY_OP_END, or an undefined opcode that stops parsing (RFC 4254 §8).
                break;
            }
            let (arg, rest) = rest
                .split_first_chunk::<4>()
                .ok_or(ModesError::Truncated { opcode })?;
            modes.set(opcode, u32::from_be_bytes(*arg))?;
            input = rest;
        }
        Ok(modes)
    }
}

impl FromIterator<(Opcode, u32)> for TerminalModes {
    /// Collects modes; pairs whose opcode takes no argument are skipped.
    fn from_iter<I: IntoIterator<Item = (Opcode, u32)>>(iter: I) -> Self {
        let mut m = Self::new();
        for (o, v) in iter {
            let _ = m.set(o, v);
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn round_trip_and_names() {
        let mut m = TerminalModes::new();
        m.set(Opcode::VINTR, 3).unwrap();
        m.set(Opcode::ECHO, 1).unwrap();
        m.set(Opcode::TTY_OP_ISPEED, 38400).unwrap();
        m.set(Opcode::TTY_OP_OSPEED, 38400).unwrap();
        m.set(Opcode::ECHO, 0).unwrap();
        let enc = m.encode();
        assert_eq!(enc.len(), 4 * 5 + 1);
        assert_eq!(&enc[..5], &[1, 0, 0, 0, 3]);
        assert_eq!(*enc.last().unwrap(), 0);
        let d = TerminalModes::decode(&enc).unwrap();
        assert_eq!(d, m);
        assert_eq!(d.get(Opcode::ECHO), Some(0));
        assert_eq!(d.get(Opcode::ICANON), None);
        assert_eq!(Opcode::TTY_OP_ISPEED.name(), Some("TTY_OP_ISPEED"));
        assert_eq!(format!("{:?}", Opcode(200)), "Opcode(200)");
        assert_eq!(Opcode::IUTF8.0, 42);
        assert_eq!(TerminalModes::new().encode().as_ref(), &[0]);
    }

    #[test]
    fn decode_rules() {
        // Missing TTY_OP_END is accepted.
        let m = TerminalModes::decode(&[53, 0, 0, 0, 1]).unwrap();
        assert_eq!(m.get(Opcode::ECHO), Some(1));
        // Opcode >= 160 stops parsing, whatever follows.
        let m = TerminalModes::decode(&[53, 0, 0, 0, 1, 160, 1, 2, 51, 0, 0, 0, 1]).unwrap();
        assert_eq!(m.len(), 1);
        // Bytes after TTY_OP_END are ignored.
        let m = TerminalModes::decode(&[0, 53, 0, 0]).unwrap();
        assert!(m.is_empty());
        // Truncated argument.
        assert_eq!(
            TerminalModes::decode(&[53, 0, 0]),
            Err(ModesError::Truncated {
                opcode: Opcode::ECHO
            })
        );
        // Unknown opcode below 160 is kept.
        let m = TerminalModes::decode(&[99, 0, 0, 0, 7, 0]).unwrap();
        assert_eq!(m.get(Opcode(99)), Some(7));
        assert!(TerminalModes::new().set(Opcode(0), 1).is_err());
        assert!(TerminalModes::new().set(Opcode(160), 1).is_err());
        let m: TerminalModes = [(Opcode::CS8, 1), (Opcode(255), 3)].into_iter().collect();
        assert_eq!(m.len(), 1);
    }
}
