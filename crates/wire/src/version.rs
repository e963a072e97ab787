//! The protocol version exchange (RFC 4253 §4.2).
//!
//! Each side sends `SSH-protoversion-softwareversion SP comments CR LF`. A server may send
//! other lines first; a client may not. [`VersionReader`] reads the peer's side from a
//! caller-owned buffer without buffering anything itself, and bounds what it will look at.

use core::fmt;

use alloc::vec::Vec;
use bytes::{BufMut, Bytes};

use crate::error::{Error, Result};

/// Longest identification line, CR LF included (RFC 4253 §4.2).
pub const MAX_VERSION_LINE: usize = 255;

/// Which side of the connection we are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// We opened the connection.
    Client,
    /// We accepted the connection.
    Server,
}

/// Bounds on what a server may send before its identification line (read by a client).
/// Defaults follow OpenSSH: 1024 lines of at most 8192 bytes, and 64 KiB in all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreambleLimits {
    /// Most lines before the identification line.
    pub max_lines: usize,
    /// Longest such line, line ending included.
    pub max_line_len: usize,
    /// Most bytes in all such lines.
    pub max_total: usize,
}

impl Default for PreambleLimits {
    fn default() -> Self {
        Self {
            max_lines: 1024,
            max_line_len: 8192,
            max_total: 64 * 1024,
        }
    }
}

/// A parsed identification line.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Version {
    line: Bytes,
    software: Range,
    comments: Option<Range>,
}

type Range = core::ops::Range<usize>;

const PREFIX: &[u8] = b"SSH-";

impl Version {
    /// Parses an identification line without its line ending.
    pub fn parse(line: Bytes) -> Result<Self> {
        if line.len() + 2 > MAX_VERSION_LINE {
            return Err(Error::VersionLineTooLong {
                max: MAX_VERSION_LINE,
            });
        }
        let rest = line.strip_prefix(PREFIX).ok_or(Error::MalformedVersion)?;
        let dash = rest
            .iter()
            .position(|&b| b == b'-')
            .ok_or(Error::MalformedVersion)?;
        let (proto, after) = rest.split_at(dash);
        match proto {
            b"2.0" | b"1.99" => {}
            _ if proto.iter().all(|b| b.is_ascii_digit() || *b == b'.') && !proto.is_empty() => {
                return Err(Error::UnsupportedProtocolVersion);
            }
            _ => return Err(Error::MalformedVersion),
        }
        let soft_start = PREFIX.len() + dash + 1;
        let after = after.get(1..).unwrap_or_default();
        let soft_len = after.iter().position(|&b| b == b' ').unwrap_or(after.len());
        let software = soft_start..soft_start + soft_len;
        let soft = after.get(..soft_len).unwrap_or_default();
        if soft.is_empty() || !soft.iter().all(|b| (0x21..=0x7e).contains(b)) {
            return Err(Error::MalformedVersion);
        }
        let comments = (soft_len < after.len()).then(|| software.end + 1..line.len());
        if line.iter().any(|&b| b < 0x20 || b == 0x7f) {
            return Err(Error::MalformedVersion);
        }
        Ok(Self {
            line,
            software,
            comments,
        })
    }

    /// Our own identification: `SSH-2.0-<software>[ <comments>]`. `software` must be
    /// printable US-ASCII without spaces or `-`; comments printable.
    pub fn new(software: &str, comments: Option<&str>) -> Result<Self> {
        if !software
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'-')
        {
            return Err(Error::MalformedVersion);
        }
        let mut line = Vec::with_capacity(MAX_VERSION_LINE);
        line.extend_from_slice(b"SSH-2.0-");
        line.extend_from_slice(software.as_bytes());
        if let Some(c) = comments {
            line.push(b' ');
            line.extend_from_slice(c.as_bytes());
        }
        Self::parse(Bytes::from(line))
    }

    /// The line as sent, without CR LF: `V_C`/`V_S` in the exchange hash.
    #[must_use]
    pub fn line(&self) -> &Bytes {
        &self.line
    }

    /// The protocol version: `2.0`, or `1.99` from servers that also speak SSH-1.
    #[must_use]
    pub fn protocol(&self) -> &str {
        if self.line.starts_with(b"SSH-1.99-") {
            "1.99"
        } else {
            "2.0"
        }
    }

    /// The software version, e.g. `OpenSSH_9.2p1`.
    #[must_use]
    pub fn software(&self) -> &str {
        self.line
            .get(self.software.clone())
            .and_then(|s| core::str::from_utf8(s).ok())
            .unwrap_or_default()
    }

    /// The comments, if any (bytes, not necessarily UTF-8).
    #[must_use]
    pub fn comments(&self) -> Option<&[u8]> {
        self.comments.clone().and_then(|r| self.line.get(r))
    }

    /// Appends the line with its CR LF.
    pub fn encode<B: BufMut + ?Sized>(&self, out: &mut B) {
        out.put_slice(&self.line);
        out.put_slice(b"\r\n");
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Version")
            .field(&alloc::string::String::from_utf8_lossy(&self.line))
            .finish()
    }
}

/// Progress of [`VersionReader::read`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub enum VersionStatus {
    /// No identification line yet. `consumed` bytes (whole preamble lines) may be dropped
    /// from the front of the buffer; call again with more input.
    Incomplete {
        /// Bytes the caller may discard.
        consumed: usize,
    },
    /// The identification line was read. `consumed` bytes, up to and including its line
    /// feed, are done with; anything after them is the first binary packet.
    Done {
        /// Bytes the caller may discard.
        consumed: usize,
        /// The peer's identification.
        version: Version,
    },
}

/// Reads the peer's identification, sans-IO.
#[derive(Clone, Debug)]
pub struct VersionReader {
    we_are: Role,
    limits: PreambleLimits,
    lines: usize,
    bytes: usize,
    /// Bytes at the front of the partial line the caller kept that an earlier call already
    /// checked, so byte-at-a-time input costs linear, not quadratic, time.
    scanned: usize,
}

impl VersionReader {
    /// A reader for the identification our peer sends. As a client we accept a bounded
    /// preamble of other lines from the server; as a server, only the identification line.
    #[must_use]
    pub fn new(we_are: Role, limits: PreambleLimits) -> Self {
        Self {
            we_are,
            limits,
            lines: 0,
            bytes: 0,
            scanned: 0,
        }
    }

    /// Reads from the front of `input` (what the peer sent and the caller has not yet
    /// discarded). Never keeps a reference to `input`.
    pub fn read(&mut self, input: &[u8]) -> Result<VersionStatus> {
        let mut pos = 0;
        loop {
            let rest = input.get(pos..).unwrap_or_default();
            // Only the first line can be one an earlier call saw part of.
            let from = if pos == 0 { self.scanned } else { 0 };
            let Some(nl) = self.scan_line(rest, from)? else {
                self.scanned = rest.len();
                return Ok(VersionStatus::Incomplete { consumed: pos });
            };
            self.scanned = 0;
            let raw = rest.get(..nl).unwrap_or_default();
            let line = raw.strip_suffix(b"\r").unwrap_or(raw);
            check_chars(line)?;
            if line.starts_with(PREFIX) {
                let version = Version::parse(Bytes::copy_from_slice(line))?;
                return Ok(VersionStatus::Done {
                    consumed: pos + nl + 1,
                    version,
                });
            }
            self.preamble_line(nl + 1)?;
            pos += nl + 1;
        }
    }

    fn preamble_line(&mut self, len: usize) -> Result<()> {
        if self.we_are == Role::Server {
            return Err(Error::UnexpectedPreamble);
        }
        if len > self.limits.max_line_len {
            return Err(Error::PreambleLineTooLong {
                max: self.limits.max_line_len,
            });
        }
        self.lines += 1;
        if self.lines > self.limits.max_lines {
            return Err(Error::TooManyPreambleLines {
                max: self.limits.max_lines,
            });
        }
        self.bytes += len;
        if self.bytes > self.limits.max_total {
            return Err(Error::PreambleTooLarge {
                max: self.limits.max_total,
            });
        }
        Ok(())
    }

    /// Finds the line feed that ends the line at the front of `rest`, rejecting the line as
    /// soon as a prefix of it can already not become valid, so the caller never buffers more
    /// than a line's limit.
    ///
    /// Every prefix is checked, in one pass, as if the bytes had arrived one at a time: the
    /// error is the one of the shortest failing prefix, whatever the chunks the input came in.
    /// The first `from` bytes were checked by an earlier call and are not looked at again.
    fn scan_line(&self, rest: &[u8], from: usize) -> Result<Option<usize>> {
        let from = from.min(rest.len());
        let mut after_cr = from
            .checked_sub(1)
            .and_then(|i| rest.get(i))
            .is_some_and(|&b| b == b'\r');
        for (i, &b) in rest.iter().enumerate().skip(from) {
            if b == b'\n' {
                return Ok(Some(i));
            }
            // The line so far is `rest[..=i]`; a CR may only be followed by the LF.
            if b == 0 {
                return Err(Error::NulInVersion);
            }
            if after_cr {
                return Err(Error::StrayCarriageReturn);
            }
            after_cr = b == b'\r';
            let len = i + 1;
            // At most 4 comparisons: whether the line still starts like `SSH-`.
            let may_be_version = rest.iter().zip(PREFIX).take(len).all(|(a, p)| a == p);
            if may_be_version {
                // Line ending not yet seen: content + at least LF.
                if len + 1 > MAX_VERSION_LINE {
                    return Err(Error::VersionLineTooLong {
                        max: MAX_VERSION_LINE,
                    });
                }
            } else if self.we_are == Role::Server {
                return Err(Error::UnexpectedPreamble);
            } else if len >= self.limits.max_line_len {
                return Err(Error::PreambleLineTooLong {
                    max: self.limits.max_line_len,
                });
            }
        }
        Ok(None)
    }
}

fn check_chars(line: &[u8]) -> Result<()> {
    if line.contains(&0) {
        return Err(Error::NulInVersion);
    }
    if line.contains(&b'\r') {
        return Err(Error::StrayCarriageReturn);
    }
    Ok(())
}
