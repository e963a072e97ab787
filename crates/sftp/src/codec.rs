//! Every SFTP version 3 packet (draft-ietf-secsh-filexfer-02) and the bodies of OpenSSH's
//! extensions (PROTOCOL §4), with the packet framing.
//!
//! A packet on the byte stream is `uint32 length`, `byte type`, then the body; `length` counts
//! the type byte and the body. [`Deframer`] cuts the stream into packets and refuses a length
//! above its limit before buffering anything of it; [`Packet::decode`] reads one packet (type
//! and body) and [`Packet::encode`] writes one, framed. Data (`WRITE`, `DATA`) is decoded as a
//! zero-copy [`Bytes`] slice of the packet buffer.
//!
//! `SYMLINK` follows OpenSSH (PROTOCOL §4.1), which sends the target path *before* the link
//! path, the reverse of the draft; [`Request::Symlink`] names both fields so the order only
//! matters on the wire.

use alloc::vec::Vec;
use core::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use whelk_wire::types::{PutSsh, Reader, Text};

use crate::error::{Error, Result};

/// The protocol version this crate speaks.
pub const SFTP_VERSION: u32 = 3;
/// The default limit on a packet's length (OpenSSH `SFTP_MAX_MSG_LENGTH`).
pub const DEFAULT_MAX_PACKET: u32 = 256 * 1024;
/// The default clamp on a READ length and cap on WRITE data (OpenSSH `SFTP_MAX_READ_LENGTH`).
pub const DEFAULT_MAX_READ: u32 = DEFAULT_MAX_PACKET - 1024;
/// The longest handle string (draft §6.2).
pub const MAX_HANDLE_LEN: usize = 256;

/// Packet type numbers (draft §3, §7, §8).
pub mod packet_type {
    /// `SSH_FXP_INIT`.
    pub const INIT: u8 = 1;
    /// `SSH_FXP_VERSION`.
    pub const VERSION: u8 = 2;
    /// `SSH_FXP_OPEN`.
    pub const OPEN: u8 = 3;
    /// `SSH_FXP_CLOSE`.
    pub const CLOSE: u8 = 4;
    /// `SSH_FXP_READ`.
    pub const READ: u8 = 5;
    /// `SSH_FXP_WRITE`.
    pub const WRITE: u8 = 6;
    /// `SSH_FXP_LSTAT`.
    pub const LSTAT: u8 = 7;
    /// `SSH_FXP_FSTAT`.
    pub const FSTAT: u8 = 8;
    /// `SSH_FXP_SETSTAT`.
    pub const SETSTAT: u8 = 9;
    /// `SSH_FXP_FSETSTAT`.
    pub const FSETSTAT: u8 = 10;
    /// `SSH_FXP_OPENDIR`.
    pub const OPENDIR: u8 = 11;
    /// `SSH_FXP_READDIR`.
    pub const READDIR: u8 = 12;
    /// `SSH_FXP_REMOVE`.
    pub const REMOVE: u8 = 13;
    /// `SSH_FXP_MKDIR`.
    pub const MKDIR: u8 = 14;
    /// `SSH_FXP_RMDIR`.
    pub const RMDIR: u8 = 15;
    /// `SSH_FXP_REALPATH`.
    pub const REALPATH: u8 = 16;
    /// `SSH_FXP_STAT`.
    pub const STAT: u8 = 17;
    /// `SSH_FXP_RENAME`.
    pub const RENAME: u8 = 18;
    /// `SSH_FXP_READLINK`.
    pub const READLINK: u8 = 19;
    /// `SSH_FXP_SYMLINK`.
    pub const SYMLINK: u8 = 20;
    /// `SSH_FXP_STATUS`.
    pub const STATUS: u8 = 101;
    /// `SSH_FXP_HANDLE`.
    pub const HANDLE: u8 = 102;
    /// `SSH_FXP_DATA`.
    pub const DATA: u8 = 103;
    /// `SSH_FXP_NAME`.
    pub const NAME: u8 = 104;
    /// `SSH_FXP_ATTRS`.
    pub const ATTRS: u8 = 105;
    /// `SSH_FXP_EXTENDED`.
    pub const EXTENDED: u8 = 200;
    /// `SSH_FXP_EXTENDED_REPLY`.
    pub const EXTENDED_REPLY: u8 = 201;

    /// Whether `t` is a request type (carries an id and goes client to server).
    #[must_use]
    pub const fn is_request(t: u8) -> bool {
        matches!(t, OPEN..=SYMLINK | EXTENDED)
    }
}

/// Names of the extensions (OpenSSH PROTOCOL §4) and the versions OpenSSH advertises.
pub mod ext {
    /// `posix-rename@openssh.com`: RENAME that replaces an existing target.
    pub const POSIX_RENAME: &str = "posix-rename@openssh.com";
    /// `statvfs@openssh.com`.
    pub const STATVFS: &str = "statvfs@openssh.com";
    /// `fstatvfs@openssh.com`.
    pub const FSTATVFS: &str = "fstatvfs@openssh.com";
    /// `hardlink@openssh.com`.
    pub const HARDLINK: &str = "hardlink@openssh.com";
    /// `fsync@openssh.com`.
    pub const FSYNC: &str = "fsync@openssh.com";
    /// `lsetstat@openssh.com`: SETSTAT that does not follow a final symlink.
    pub const LSETSTAT: &str = "lsetstat@openssh.com";
    /// `limits@openssh.com`.
    pub const LIMITS: &str = "limits@openssh.com";
    /// `expand-path@openssh.com`: REALPATH with `~` expansion.
    pub const EXPAND_PATH: &str = "expand-path@openssh.com";
    /// `copy-data`: server-side copy between two handles.
    pub const COPY_DATA: &str = "copy-data";
    /// `home-directory`.
    pub const HOME_DIRECTORY: &str = "home-directory";
    /// `users-groups-by-id@openssh.com`.
    pub const USERS_GROUPS_BY_ID: &str = "users-groups-by-id@openssh.com";

    /// The extensions and versions a server advertises in VERSION, as OpenSSH's
    /// sftp-server does.
    pub const ADVERTISED: &[(&str, &str)] = &[
        (POSIX_RENAME, "1"),
        (STATVFS, "2"),
        (FSTATVFS, "2"),
        (HARDLINK, "1"),
        (FSYNC, "1"),
        (LSETSTAT, "1"),
        (LIMITS, "1"),
        (EXPAND_PATH, "1"),
        (COPY_DATA, "1"),
        (HOME_DIRECTORY, "1"),
        (USERS_GROUPS_BY_ID, "1"),
    ];
}

/// An SFTP status code (draft §7): an open newtype, so unknown codes survive.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StatusCode(pub u32);

impl StatusCode {
    /// `SSH_FX_OK`.
    pub const OK: Self = Self(0);
    /// `SSH_FX_EOF`.
    pub const EOF: Self = Self(1);
    /// `SSH_FX_NO_SUCH_FILE`.
    pub const NO_SUCH_FILE: Self = Self(2);
    /// `SSH_FX_PERMISSION_DENIED`.
    pub const PERMISSION_DENIED: Self = Self(3);
    /// `SSH_FX_FAILURE`.
    pub const FAILURE: Self = Self(4);
    /// `SSH_FX_BAD_MESSAGE`.
    pub const BAD_MESSAGE: Self = Self(5);
    /// `SSH_FX_NO_CONNECTION`.
    pub const NO_CONNECTION: Self = Self(6);
    /// `SSH_FX_CONNECTION_LOST`.
    pub const CONNECTION_LOST: Self = Self(7);
    /// `SSH_FX_OP_UNSUPPORTED`.
    pub const OP_UNSUPPORTED: Self = Self(8);

    /// The name of a known code.
    #[must_use]
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "OK",
            1 => "EOF",
            2 => "NO_SUCH_FILE",
            3 => "PERMISSION_DENIED",
            4 => "FAILURE",
            5 => "BAD_MESSAGE",
            6 => "NO_CONNECTION",
            7 => "CONNECTION_LOST",
            8 => "OP_UNSUPPORTED",
            _ => return None,
        })
    }

    /// The default message text OpenSSH uses for the code.
    #[must_use]
    pub const fn default_message(self) -> &'static str {
        match self.0 {
            0 => "Success",
            1 => "End of file",
            2 => "No such file",
            3 => "Permission denied",
            4 => "Failure",
            5 => "Bad message",
            6 => "No connection",
            7 => "Connection lost",
            8 => "Operation unsupported",
            _ => "Unknown error",
        }
    }
}

impl fmt::Debug for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "StatusCode({})", self.0),
        }
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// `pflags` of OPEN (draft §6.3): an open newtype.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct OpenFlags(pub u32);

impl OpenFlags {
    /// `SSH_FXF_READ`.
    pub const READ: Self = Self(0x01);
    /// `SSH_FXF_WRITE`.
    pub const WRITE: Self = Self(0x02);
    /// `SSH_FXF_APPEND`.
    pub const APPEND: Self = Self(0x04);
    /// `SSH_FXF_CREAT`.
    pub const CREAT: Self = Self(0x08);
    /// `SSH_FXF_TRUNC`.
    pub const TRUNC: Self = Self(0x10);
    /// `SSH_FXF_EXCL`.
    pub const EXCL: Self = Self(0x20);

    /// Whether every bit of `other` is set.
    #[must_use]
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the flags ask for any kind of modification.
    #[must_use]
    pub const fn writes(self) -> bool {
        self.0 & (Self::WRITE.0 | Self::APPEND.0 | Self::CREAT.0 | Self::TRUNC.0) != 0
    }
}

impl core::ops::BitOr for OpenFlags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl fmt::Debug for OpenFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OpenFlags({:#x})", self.0)
    }
}

/// ATTRS flag bits (draft §5).
pub mod attr_flags {
    /// `SSH_FILEXFER_ATTR_SIZE`.
    pub const SIZE: u32 = 0x0000_0001;
    /// `SSH_FILEXFER_ATTR_UIDGID`.
    pub const UIDGID: u32 = 0x0000_0002;
    /// `SSH_FILEXFER_ATTR_PERMISSIONS`.
    pub const PERMISSIONS: u32 = 0x0000_0004;
    /// `SSH_FILEXFER_ATTR_ACMODTIME`.
    pub const ACMODTIME: u32 = 0x0000_0008;
    /// `SSH_FILEXFER_ATTR_EXTENDED`.
    pub const EXTENDED: u32 = 0x8000_0000;
    /// Every bit version 3 defines.
    pub const ALL: u32 = SIZE | UIDGID | PERMISSIONS | ACMODTIME | EXTENDED;
}

/// File attributes (draft §5). A field is `Some` when its flag is set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attrs {
    /// `size`.
    pub size: Option<u64>,
    /// `uid`, `gid`.
    pub uid_gid: Option<(u32, u32)>,
    /// `permissions` (POSIX mode bits including the file type).
    pub permissions: Option<u32>,
    /// `atime`, `mtime` (seconds since the epoch).
    pub times: Option<(u32, u32)>,
    /// Extended attribute pairs (`type`, `data`).
    pub extended: Vec<(Text, Bytes)>,
}

/// The file-type bits of `permissions` (POSIX `S_IFMT`).
pub mod file_type {
    /// `S_IFMT`.
    pub const MASK: u32 = 0o170_000;
    /// Directory.
    pub const DIR: u32 = 0o040_000;
    /// Regular file.
    pub const REG: u32 = 0o100_000;
    /// Symbolic link.
    pub const LNK: u32 = 0o120_000;
    /// Character device.
    pub const CHR: u32 = 0o020_000;
    /// Block device.
    pub const BLK: u32 = 0o060_000;
    /// FIFO.
    pub const FIFO: u32 = 0o010_000;
    /// Socket.
    pub const SOCK: u32 = 0o140_000;
}

impl Attrs {
    /// The flags word these attributes encode with.
    #[must_use]
    pub fn flags(&self) -> u32 {
        let mut f = 0;
        if self.size.is_some() {
            f |= attr_flags::SIZE;
        }
        if self.uid_gid.is_some() {
            f |= attr_flags::UIDGID;
        }
        if self.permissions.is_some() {
            f |= attr_flags::PERMISSIONS;
        }
        if self.times.is_some() {
            f |= attr_flags::ACMODTIME;
        }
        if !self.extended.is_empty() {
            f |= attr_flags::EXTENDED;
        }
        f
    }

    /// Whether `permissions` says directory.
    #[must_use]
    pub fn is_dir(&self) -> bool {
        self.permissions
            .is_some_and(|p| p & file_type::MASK == file_type::DIR)
    }

    /// Whether `permissions` says regular file.
    #[must_use]
    pub fn is_file(&self) -> bool {
        self.permissions
            .is_some_and(|p| p & file_type::MASK == file_type::REG)
    }

    /// Whether `permissions` says symbolic link.
    #[must_use]
    pub fn is_symlink(&self) -> bool {
        self.permissions
            .is_some_and(|p| p & file_type::MASK == file_type::LNK)
    }

    /// Reads ATTRS; undefined flag bits are an error, the extended count is bounded by the
    /// remaining input.
    pub fn read(r: &mut Reader<'_>) -> Result<Self> {
        let flags = r.u32()?;
        if flags & !attr_flags::ALL != 0 {
            return Err(Error::BadAttrFlags(flags));
        }
        let mut a = Self::default();
        if flags & attr_flags::SIZE != 0 {
            a.size = Some(r.u64()?);
        }
        if flags & attr_flags::UIDGID != 0 {
            a.uid_gid = Some((r.u32()?, r.u32()?));
        }
        if flags & attr_flags::PERMISSIONS != 0 {
            a.permissions = Some(r.u32()?);
        }
        if flags & attr_flags::ACMODTIME != 0 {
            a.times = Some((r.u32()?, r.u32()?));
        }
        if flags & attr_flags::EXTENDED != 0 {
            let n = r.count(8)?;
            let mut ext = Vec::with_capacity(n);
            for _ in 0..n {
                ext.push((r.text()?, r.string()?));
            }
            a.extended = ext;
        }
        Ok(a)
    }

    /// Writes ATTRS.
    pub fn write(&self, out: &mut impl BufMut) {
        out.put_u32(self.flags());
        if let Some(s) = self.size {
            out.put_u64(s);
        }
        if let Some((u, g)) = self.uid_gid {
            out.put_u32(u);
            out.put_u32(g);
        }
        if let Some(p) = self.permissions {
            out.put_u32(p);
        }
        if let Some((at, mt)) = self.times {
            out.put_u32(at);
            out.put_u32(mt);
        }
        if !self.extended.is_empty() {
            out.put_u32(u32::try_from(self.extended.len()).unwrap_or(u32::MAX));
            for (t, d) in &self.extended {
                out.put_ssh_string(t.as_bytes());
                out.put_ssh_string(d);
            }
        }
    }
}

/// A handle string: at most [`MAX_HANDLE_LEN`] bytes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Handle(Bytes);

impl Handle {
    /// Wraps handle bytes, checking the length.
    pub fn new(b: impl Into<Bytes>) -> Result<Self> {
        let b = b.into();
        if b.len() > MAX_HANDLE_LEN {
            return Err(Error::HandleTooLong(b.len()));
        }
        Ok(Self(b))
    }

    /// The handle bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        Self::new(r.string()?)
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handle(")?;
        for b in self.0.iter() {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// One entry of a NAME reply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Name {
    /// The file name (a bare name in READDIR, a path in REALPATH/READLINK).
    pub filename: Text,
    /// An `ls -l`-like line for display (unspecified format; empty from REALPATH of some
    /// servers).
    pub longname: Text,
    /// The attributes (may be empty).
    pub attrs: Attrs,
}

impl Name {
    /// Whether `filename` is a single safe path component for a recursive download: not
    /// empty, not `.` or `..`, without `/`, `\` or NUL (catalog F13, CVE-2019-6111).
    #[must_use]
    pub fn is_safe_component(&self) -> bool {
        let n = self.filename.as_bytes();
        !n.is_empty()
            && n != b"."
            && n != b".."
            && !n.iter().any(|&b| matches!(b, b'/' | b'\\' | 0))
    }
}

/// The body of a `STATUS` reply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// The code.
    pub code: StatusCode,
    /// A human-readable message.
    pub message: Text,
    /// The message's language tag.
    pub language: Text,
}

impl Status {
    /// A status with `message` and an empty language tag.
    #[must_use]
    pub fn new(code: StatusCode, message: impl Into<Text>) -> Self {
        Self {
            code,
            message: message.into(),
            language: Text::default(),
        }
    }

    /// `OK` with the default message.
    #[must_use]
    pub fn ok() -> Self {
        Self::from(StatusCode::OK)
    }
}

impl From<StatusCode> for Status {
    fn from(code: StatusCode) -> Self {
        Self::new(code, code.default_message())
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// The reply of `statvfs@openssh.com` / `fstatvfs@openssh.com` (PROTOCOL §4.4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Statvfs {
    /// File system block size.
    pub bsize: u64,
    /// Fundamental block size.
    pub frsize: u64,
    /// Blocks (in `frsize` units).
    pub blocks: u64,
    /// Free blocks.
    pub bfree: u64,
    /// Free blocks for unprivileged users.
    pub bavail: u64,
    /// Inodes.
    pub files: u64,
    /// Free inodes.
    pub ffree: u64,
    /// Free inodes for unprivileged users.
    pub favail: u64,
    /// File system id.
    pub fsid: u64,
    /// `SSH_FXE_STATVFS_ST_RDONLY` (1) | `SSH_FXE_STATVFS_ST_NOSUID` (2).
    pub flag: u64,
    /// Maximum file name length.
    pub namemax: u64,
}

impl Statvfs {
    /// `SSH_FXE_STATVFS_ST_RDONLY`.
    pub const RDONLY: u64 = 1;
    /// `SSH_FXE_STATVFS_ST_NOSUID`.
    pub const NOSUID: u64 = 2;

    fn fields(&self) -> [u64; 11] {
        [
            self.bsize,
            self.frsize,
            self.blocks,
            self.bfree,
            self.bavail,
            self.files,
            self.ffree,
            self.favail,
            self.fsid,
            self.flag,
            self.namemax,
        ]
    }

    /// Decodes the EXTENDED_REPLY body.
    pub fn decode(body: &Bytes) -> Result<Self> {
        let mut r = Reader::new(body, "statvfs reply");
        let v = Self {
            bsize: r.u64()?,
            frsize: r.u64()?,
            blocks: r.u64()?,
            bfree: r.u64()?,
            bavail: r.u64()?,
            files: r.u64()?,
            ffree: r.u64()?,
            favail: r.u64()?,
            fsid: r.u64()?,
            flag: r.u64()?,
            namemax: r.u64()?,
        };
        r.finish()?;
        Ok(v)
    }

    /// Encodes the EXTENDED_REPLY body.
    #[must_use]
    pub fn encode(&self) -> Bytes {
        let mut out = Vec::with_capacity(88);
        for f in self.fields() {
            out.put_u64(f);
        }
        Bytes::from(out)
    }
}

/// The reply of `limits@openssh.com` (PROTOCOL §4.8). Zero means "no limit / unknown".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// The longest packet the server accepts.
    pub max_packet_len: u64,
    /// The longest READ the server answers in full.
    pub max_read_len: u64,
    /// The longest WRITE the server accepts.
    pub max_write_len: u64,
    /// How many handles may be open at once.
    pub max_open_handles: u64,
}

impl Limits {
    /// Decodes the EXTENDED_REPLY body.
    pub fn decode(body: &Bytes) -> Result<Self> {
        let mut r = Reader::new(body, "limits reply");
        let v = Self {
            max_packet_len: r.u64()?,
            max_read_len: r.u64()?,
            max_write_len: r.u64()?,
            max_open_handles: r.u64()?,
        };
        r.finish()?;
        Ok(v)
    }

    /// Encodes the EXTENDED_REPLY body.
    #[must_use]
    pub fn encode(&self) -> Bytes {
        let mut out = Vec::with_capacity(32);
        out.put_u64(self.max_packet_len);
        out.put_u64(self.max_read_len);
        out.put_u64(self.max_write_len);
        out.put_u64(self.max_open_handles);
        Bytes::from(out)
    }
}

/// The reply of `users-groups-by-id@openssh.com` (PROTOCOL §4.11): names in request order,
/// empty where an id is unknown.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsersGroups {
    /// One name per requested uid.
    pub users: Vec<Text>,
    /// One name per requested gid.
    pub groups: Vec<Text>,
}

fn read_names(s: &Bytes) -> Result<Vec<Text>> {
    let mut r = Reader::new(s, "users-groups-by-id names");
    let mut v = Vec::new();
    while r.remaining() > 0 {
        v.push(r.text()?);
    }
    Ok(v)
}

fn read_ids(s: &Bytes) -> Result<Vec<u32>> {
    let mut r = Reader::new(s, "users-groups-by-id ids");
    let mut v = Vec::with_capacity(s.len() / 4);
    while r.remaining() > 0 {
        v.push(r.u32()?);
    }
    Ok(v)
}

fn put_names(out: &mut Vec<u8>, names: &[Text]) {
    let inner_len: usize = names.iter().map(|n| 4 + n.len()).sum();
    out.put_u32(u32::try_from(inner_len).unwrap_or(u32::MAX));
    for n in names {
        out.put_ssh_string(n.as_bytes());
    }
}

fn put_ids(out: &mut Vec<u8>, ids: &[u32]) {
    out.put_u32(u32::try_from(ids.len().saturating_mul(4)).unwrap_or(u32::MAX));
    for &i in ids {
        out.put_u32(i);
    }
}

impl UsersGroups {
    /// Decodes the EXTENDED_REPLY body.
    pub fn decode(body: &Bytes) -> Result<Self> {
        let mut r = Reader::new(body, "users-groups-by-id reply");
        let users = read_names(&r.string()?)?;
        let groups = read_names(&r.string()?)?;
        r.finish()?;
        Ok(Self { users, groups })
    }

    /// Encodes the EXTENDED_REPLY body.
    #[must_use]
    pub fn encode(&self) -> Bytes {
        let mut out = Vec::new();
        put_names(&mut out, &self.users);
        put_names(&mut out, &self.groups);
        Bytes::from(out)
    }
}

/// A request (client to server), without its id.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // The fields are the draft's names.
pub enum Request {
    /// `SSH_FXP_OPEN`.
    Open {
        filename: Text,
        pflags: OpenFlags,
        attrs: Attrs,
    },
    /// `SSH_FXP_CLOSE`.
    Close { handle: Handle },
    /// `SSH_FXP_READ`.
    Read {
        handle: Handle,
        offset: u64,
        len: u32,
    },
    /// `SSH_FXP_WRITE`.
    Write {
        handle: Handle,
        offset: u64,
        data: Bytes,
    },
    /// `SSH_FXP_LSTAT`.
    Lstat { path: Text },
    /// `SSH_FXP_FSTAT`.
    Fstat { handle: Handle },
    /// `SSH_FXP_SETSTAT`.
    Setstat { path: Text, attrs: Attrs },
    /// `SSH_FXP_FSETSTAT`.
    Fsetstat { handle: Handle, attrs: Attrs },
    /// `SSH_FXP_OPENDIR`.
    Opendir { path: Text },
    /// `SSH_FXP_READDIR`.
    Readdir { handle: Handle },
    /// `SSH_FXP_REMOVE`.
    Remove { filename: Text },
    /// `SSH_FXP_MKDIR`.
    Mkdir { path: Text, attrs: Attrs },
    /// `SSH_FXP_RMDIR`.
    Rmdir { path: Text },
    /// `SSH_FXP_REALPATH`.
    Realpath { path: Text },
    /// `SSH_FXP_STAT`.
    Stat { path: Text },
    /// `SSH_FXP_RENAME` (fails if `newpath` exists).
    Rename { oldpath: Text, newpath: Text },
    /// `SSH_FXP_READLINK`.
    Readlink { path: Text },
    /// `SSH_FXP_SYMLINK`: create `link` pointing to `target`. On the wire `target` comes
    /// first (OpenSSH PROTOCOL §4.1).
    Symlink { link: Text, target: Text },
    /// `SSH_FXP_EXTENDED`.
    Extended(ExtendedRequest),
}

/// An `SSH_FXP_EXTENDED` request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // The fields are PROTOCOL §4's names.
pub enum ExtendedRequest {
    /// `posix-rename@openssh.com`.
    PosixRename { oldpath: Text, newpath: Text },
    /// `statvfs@openssh.com`.
    Statvfs { path: Text },
    /// `fstatvfs@openssh.com`.
    Fstatvfs { handle: Handle },
    /// `hardlink@openssh.com`: create `newpath` as a hard link to `oldpath`.
    Hardlink { oldpath: Text, newpath: Text },
    /// `fsync@openssh.com`.
    Fsync { handle: Handle },
    /// `lsetstat@openssh.com`.
    Lsetstat { path: Text, attrs: Attrs },
    /// `limits@openssh.com`.
    Limits,
    /// `expand-path@openssh.com`.
    ExpandPath { path: Text },
    /// `copy-data`: copy `read_len` bytes (0: to end of file) from `read_handle` at
    /// `read_offset` to `write_handle` at `write_offset`.
    CopyData {
        read_handle: Handle,
        read_offset: u64,
        read_len: u64,
        write_handle: Handle,
        write_offset: u64,
    },
    /// `home-directory`.
    HomeDirectory { username: Text },
    /// `users-groups-by-id@openssh.com`.
    UsersGroupsById { uids: Vec<u32>, gids: Vec<u32> },
    /// Any other extension: its name and the raw rest of the body.
    Other { name: Text, data: Bytes },
}

impl ExtendedRequest {
    /// The extension name.
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            Self::PosixRename { .. } => ext::POSIX_RENAME,
            Self::Statvfs { .. } => ext::STATVFS,
            Self::Fstatvfs { .. } => ext::FSTATVFS,
            Self::Hardlink { .. } => ext::HARDLINK,
            Self::Fsync { .. } => ext::FSYNC,
            Self::Lsetstat { .. } => ext::LSETSTAT,
            Self::Limits => ext::LIMITS,
            Self::ExpandPath { .. } => ext::EXPAND_PATH,
            Self::CopyData { .. } => ext::COPY_DATA,
            Self::HomeDirectory { .. } => ext::HOME_DIRECTORY,
            Self::UsersGroupsById { .. } => ext::USERS_GROUPS_BY_ID,
            Self::Other { name, .. } => name.to_str().unwrap_or("(non-UTF-8 extension)"),
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let name = r.text()?;
        Ok(match name.as_bytes() {
            n if n == ext::POSIX_RENAME.as_bytes() => Self::PosixRename {
                oldpath: r.text()?,
                newpath: r.text()?,
            },
            n if n == ext::STATVFS.as_bytes() => Self::Statvfs { path: r.text()? },
            n if n == ext::FSTATVFS.as_bytes() => Self::Fstatvfs {
                handle: Handle::read(r)?,
            },
            n if n == ext::HARDLINK.as_bytes() => Self::Hardlink {
                oldpath: r.text()?,
                newpath: r.text()?,
            },
            n if n == ext::FSYNC.as_bytes() => Self::Fsync {
                handle: Handle::read(r)?,
            },
            n if n == ext::LSETSTAT.as_bytes() => Self::Lsetstat {
                path: r.text()?,
                attrs: Attrs::read(r)?,
            },
            n if n == ext::LIMITS.as_bytes() => Self::Limits,
            n if n == ext::EXPAND_PATH.as_bytes() => Self::ExpandPath { path: r.text()? },
            n if n == ext::COPY_DATA.as_bytes() => Self::CopyData {
                read_handle: Handle::read(r)?,
                read_offset: r.u64()?,
                read_len: r.u64()?,
                write_handle: Handle::read(r)?,
                write_offset: r.u64()?,
            },
            n if n == ext::HOME_DIRECTORY.as_bytes() => Self::HomeDirectory {
                username: r.text()?,
            },
            n if n == ext::USERS_GROUPS_BY_ID.as_bytes() => Self::UsersGroupsById {
                uids: read_ids(&r.string()?)?,
                gids: read_ids(&r.string()?)?,
            },
            _ => Self::Other {
                name,
                data: r.rest(),
            },
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Self::Other { name, data } => {
                out.put_ssh_string(name.as_bytes());
                out.put_slice(data);
                return;
            }
            other => out.put_ssh_string(other.name().as_bytes()),
        }
        match self {
            Self::PosixRename { oldpath, newpath } | Self::Hardlink { oldpath, newpath } => {
                out.put_ssh_string(oldpath.as_bytes());
                out.put_ssh_string(newpath.as_bytes());
            }
            Self::Statvfs { path } | Self::ExpandPath { path } => {
                out.put_ssh_string(path.as_bytes());
            }
            Self::Fstatvfs { handle } | Self::Fsync { handle } => {
                out.put_ssh_string(handle.as_bytes());
            }
            Self::Lsetstat { path, attrs } => {
                out.put_ssh_string(path.as_bytes());
                attrs.write(out);
            }
            Self::CopyData {
                read_handle,
                read_offset,
                read_len,
                write_handle,
                write_offset,
            } => {
                out.put_ssh_string(read_handle.as_bytes());
                out.put_u64(*read_offset);
                out.put_u64(*read_len);
                out.put_ssh_string(write_handle.as_bytes());
                out.put_u64(*write_offset);
            }
            Self::HomeDirectory { username } => out.put_ssh_string(username.as_bytes()),
            Self::UsersGroupsById { uids, gids } => {
                put_ids(out, uids);
                put_ids(out, gids);
            }
            Self::Limits | Self::Other { .. } => {}
        }
    }
}

/// What kind of reply a request expects besides `STATUS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReplyKind {
    /// Only `STATUS`.
    Status,
    /// `HANDLE` (OPEN, OPENDIR).
    Handle,
    /// `DATA` (READ).
    Data,
    /// `NAME` (READDIR, REALPATH, READLINK, expand-path, home-directory).
    Name,
    /// `ATTRS` (STAT, LSTAT, FSTAT).
    Attrs,
    /// `EXTENDED_REPLY` with a statvfs body.
    Statvfs,
    /// `EXTENDED_REPLY` with a limits body.
    Limits,
    /// `EXTENDED_REPLY` with a users-groups-by-id body.
    UsersGroups,
    /// An unknown extension: `EXTENDED_REPLY` of any body, or `STATUS`.
    Extended,
}

impl ReplyKind {
    /// A description for errors.
    #[must_use]
    pub const fn describe(self) -> &'static str {
        match self {
            Self::Status => "STATUS",
            Self::Handle => "HANDLE or STATUS",
            Self::Data => "DATA or STATUS",
            Self::Name => "NAME or STATUS",
            Self::Attrs => "ATTRS or STATUS",
            Self::Statvfs | Self::Limits | Self::UsersGroups | Self::Extended => {
                "EXTENDED_REPLY or STATUS"
            }
        }
    }

    /// Whether a response of packet type `t` fits.
    #[must_use]
    pub const fn accepts(self, t: u8) -> bool {
        use packet_type as p;
        t == p::STATUS
            || matches!(
                (self, t),
                (Self::Handle, p::HANDLE)
                    | (Self::Data, p::DATA)
                    | (Self::Name, p::NAME)
                    | (Self::Attrs, p::ATTRS)
                    | (
                        Self::Statvfs | Self::Limits | Self::UsersGroups | Self::Extended,
                        p::EXTENDED_REPLY
                    )
            )
    }
}

impl Request {
    /// The packet type number.
    #[must_use]
    pub const fn packet_type(&self) -> u8 {
        use packet_type as p;
        match self {
            Self::Open { .. } => p::OPEN,
            Self::Close { .. } => p::CLOSE,
            Self::Read { .. } => p::READ,
            Self::Write { .. } => p::WRITE,
            Self::Lstat { .. } => p::LSTAT,
            Self::Fstat { .. } => p::FSTAT,
            Self::Setstat { .. } => p::SETSTAT,
            Self::Fsetstat { .. } => p::FSETSTAT,
            Self::Opendir { .. } => p::OPENDIR,
            Self::Readdir { .. } => p::READDIR,
            Self::Remove { .. } => p::REMOVE,
            Self::Mkdir { .. } => p::MKDIR,
            Self::Rmdir { .. } => p::RMDIR,
            Self::Realpath { .. } => p::REALPATH,
            Self::Stat { .. } => p::STAT,
            Self::Rename { .. } => p::RENAME,
            Self::Readlink { .. } => p::READLINK,
            Self::Symlink { .. } => p::SYMLINK,
            Self::Extended(_) => p::EXTENDED,
        }
    }

    /// The reply this request expects.
    #[must_use]
    pub const fn reply_kind(&self) -> ReplyKind {
        match self {
            Self::Open { .. } | Self::Opendir { .. } => ReplyKind::Handle,
            Self::Read { .. } => ReplyKind::Data,
            Self::Readdir { .. } | Self::Realpath { .. } | Self::Readlink { .. } => ReplyKind::Name,
            Self::Stat { .. } | Self::Lstat { .. } | Self::Fstat { .. } => ReplyKind::Attrs,
            Self::Extended(e) => match e {
                ExtendedRequest::Statvfs { .. } | ExtendedRequest::Fstatvfs { .. } => {
                    ReplyKind::Statvfs
                }
                ExtendedRequest::Limits => ReplyKind::Limits,
                ExtendedRequest::UsersGroupsById { .. } => ReplyKind::UsersGroups,
                ExtendedRequest::ExpandPath { .. } | ExtendedRequest::HomeDirectory { .. } => {
                    ReplyKind::Name
                }
                ExtendedRequest::Other { .. } => ReplyKind::Extended,
                _ => ReplyKind::Status,
            },
            _ => ReplyKind::Status,
        }
    }

    /// Whether the request modifies the file system (refused in read-only mode, catalog
    /// F12). OPEN counts when its flags ask for writing, creating or truncating.
    #[must_use]
    pub fn is_write(&self) -> bool {
        match self {
            Self::Open { pflags, .. } => pflags.writes(),
            Self::Write { .. }
            | Self::Setstat { .. }
            | Self::Fsetstat { .. }
            | Self::Remove { .. }
            | Self::Mkdir { .. }
            | Self::Rmdir { .. }
            | Self::Rename { .. }
            | Self::Symlink { .. } => true,
            Self::Extended(e) => matches!(
                e,
                ExtendedRequest::PosixRename { .. }
                    | ExtendedRequest::Hardlink { .. }
                    | ExtendedRequest::Fsync { .. }
                    | ExtendedRequest::Lsetstat { .. }
                    | ExtendedRequest::CopyData { .. }
                    | ExtendedRequest::Other { .. }
            ),
            _ => false,
        }
    }

    fn read(t: u8, r: &mut Reader<'_>) -> Result<Self> {
        use packet_type as p;
        Ok(match t {
            p::OPEN => Self::Open {
                filename: r.text()?,
                pflags: OpenFlags(r.u32()?),
                attrs: Attrs::read(r)?,
            },
            p::CLOSE => Self::Close {
                handle: Handle::read(r)?,
            },
            p::READ => Self::Read {
                handle: Handle::read(r)?,
                offset: r.u64()?,
                len: r.u32()?,
            },
            p::WRITE => Self::Write {
                handle: Handle::read(r)?,
                offset: r.u64()?,
                data: r.string()?,
            },
            p::LSTAT => Self::Lstat { path: r.text()? },
            p::FSTAT => Self::Fstat {
                handle: Handle::read(r)?,
            },
            p::SETSTAT => Self::Setstat {
                path: r.text()?,
                attrs: Attrs::read(r)?,
            },
            p::FSETSTAT => Self::Fsetstat {
                handle: Handle::read(r)?,
                attrs: Attrs::read(r)?,
            },
            p::OPENDIR => Self::Opendir { path: r.text()? },
            p::READDIR => Self::Readdir {
                handle: Handle::read(r)?,
            },
            p::REMOVE => Self::Remove {
                filename: r.text()?,
            },
            p::MKDIR => Self::Mkdir {
                path: r.text()?,
                attrs: Attrs::read(r)?,
            },
            p::RMDIR => Self::Rmdir { path: r.text()? },
            p::REALPATH => Self::Realpath { path: r.text()? },
            p::STAT => Self::Stat { path: r.text()? },
            p::RENAME => Self::Rename {
                oldpath: r.text()?,
                newpath: r.text()?,
            },
            p::READLINK => Self::Readlink { path: r.text()? },
            p::SYMLINK => {
                let target = r.text()?;
                let link = r.text()?;
                Self::Symlink { link, target }
            }
            p::EXTENDED => Self::Extended(ExtendedRequest::read(r)?),
            other => return Err(Error::UnexpectedPacket(other)),
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Self::Open {
                filename,
                pflags,
                attrs,
            } => {
                out.put_ssh_string(filename.as_bytes());
                out.put_u32(pflags.0);
                attrs.write(out);
            }
            Self::Close { handle } | Self::Fstat { handle } | Self::Readdir { handle } => {
                out.put_ssh_string(handle.as_bytes())
            }
            Self::Read {
                handle,
                offset,
                len,
            } => {
                out.put_ssh_string(handle.as_bytes());
                out.put_u64(*offset);
                out.put_u32(*len);
            }
            Self::Write {
                handle,
                offset,
                data,
            } => {
                out.put_ssh_string(handle.as_bytes());
                out.put_u64(*offset);
                out.put_ssh_string(data);
            }
            Self::Lstat { path }
            | Self::Opendir { path }
            | Self::Rmdir { path }
            | Self::Realpath { path }
            | Self::Stat { path }
            | Self::Readlink { path }
            | Self::Remove { filename: path } => out.put_ssh_string(path.as_bytes()),
            Self::Setstat { path, attrs } | Self::Mkdir { path, attrs } => {
                out.put_ssh_string(path.as_bytes());
                attrs.write(out);
            }
            Self::Fsetstat { handle, attrs } => {
                out.put_ssh_string(handle.as_bytes());
                attrs.write(out);
            }
            Self::Rename { oldpath, newpath } => {
                out.put_ssh_string(oldpath.as_bytes());
                out.put_ssh_string(newpath.as_bytes());
            }
            Self::Symlink { link, target } => {
                out.put_ssh_string(target.as_bytes());
                out.put_ssh_string(link.as_bytes());
            }
            Self::Extended(e) => e.write(out),
        }
    }
}

/// A response (server to client), without its id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// `SSH_FXP_STATUS`.
    Status(Status),
    /// `SSH_FXP_HANDLE`.
    Handle(Handle),
    /// `SSH_FXP_DATA`.
    Data(Bytes),
    /// `SSH_FXP_NAME`.
    Name(Vec<Name>),
    /// `SSH_FXP_ATTRS`.
    Attrs(Attrs),
    /// `SSH_FXP_EXTENDED_REPLY`: the raw body (its format depends on the request).
    ExtendedReply(Bytes),
}

impl From<Status> for Response {
    fn from(s: Status) -> Self {
        Self::Status(s)
    }
}

impl From<StatusCode> for Response {
    fn from(c: StatusCode) -> Self {
        Self::Status(c.into())
    }
}

impl Response {
    /// The packet type number.
    #[must_use]
    pub const fn packet_type(&self) -> u8 {
        use packet_type as p;
        match self {
            Self::Status(_) => p::STATUS,
            Self::Handle(_) => p::HANDLE,
            Self::Data(_) => p::DATA,
            Self::Name(_) => p::NAME,
            Self::Attrs(_) => p::ATTRS,
            Self::ExtendedReply(_) => p::EXTENDED_REPLY,
        }
    }

    fn read(t: u8, r: &mut Reader<'_>) -> Result<Self> {
        use packet_type as p;
        Ok(match t {
            p::STATUS => {
                let code = StatusCode(r.u32()?);
                // Some version 3 servers omit the message and language tag; accept that.
                let message = if r.remaining() > 0 {
                    r.text()?
                } else {
                    Text::default()
                };
                let language = if r.remaining() > 0 {
                    r.text()?
                } else {
                    Text::default()
                };
                Self::Status(Status {
                    code,
                    message,
                    language,
                })
            }
            p::HANDLE => Self::Handle(Handle::read(r)?),
            p::DATA => Self::Data(r.string()?),
            p::NAME => {
                let n = r.count(12)?;
                let mut names = Vec::with_capacity(n);
                for _ in 0..n {
                    names.push(Name {
                        filename: r.text()?,
                        longname: r.text()?,
                        attrs: Attrs::read(r)?,
                    });
                }
                Self::Name(names)
            }
            p::ATTRS => Self::Attrs(Attrs::read(r)?),
            p::EXTENDED_REPLY => Self::ExtendedReply(r.rest()),
            other => return Err(Error::UnexpectedPacket(other)),
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Self::Status(s) => {
                out.put_u32(s.code.0);
                out.put_ssh_string(s.message.as_bytes());
                out.put_ssh_string(s.language.as_bytes());
            }
            Self::Handle(h) => out.put_ssh_string(h.as_bytes()),
            Self::Data(d) => out.put_ssh_string(d),
            Self::Name(names) => {
                out.put_u32(u32::try_from(names.len()).unwrap_or(u32::MAX));
                for n in names {
                    out.put_ssh_string(n.filename.as_bytes());
                    out.put_ssh_string(n.longname.as_bytes());
                    n.attrs.write(out);
                }
            }
            Self::Attrs(a) => a.write(out),
            Self::ExtendedReply(b) => out.put_slice(b),
        }
    }
}

/// One SFTP packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet {
    /// `SSH_FXP_INIT`: the client's version and extension pairs.
    Init {
        /// The highest version the client speaks.
        version: u32,
        /// Extension name/data pairs.
        extensions: Vec<(Text, Bytes)>,
    },
    /// `SSH_FXP_VERSION`: the negotiated version and the server's extensions.
    Version {
        /// The version the session uses.
        version: u32,
        /// Extension name/data pairs.
        extensions: Vec<(Text, Bytes)>,
    },
    /// A request with its id.
    Request {
        /// The request id.
        id: u32,
        /// The request.
        request: Request,
    },
    /// A response with the id of its request.
    Response {
        /// The request id.
        id: u32,
        /// The response.
        response: Response,
    },
}

fn read_extension_pairs(r: &mut Reader<'_>) -> Result<Vec<(Text, Bytes)>> {
    let mut v = Vec::new();
    while r.remaining() > 0 {
        v.push((r.text()?, r.string()?));
    }
    Ok(v)
}

impl Packet {
    /// The packet type number.
    #[must_use]
    pub const fn packet_type(&self) -> u8 {
        match self {
            Self::Init { .. } => packet_type::INIT,
            Self::Version { .. } => packet_type::VERSION,
            Self::Request { request, .. } => request.packet_type(),
            Self::Response { response, .. } => response.packet_type(),
        }
    }

    /// Decodes one packet: the type byte and the body (the framing length already removed).
    /// Trailing bytes after the last field are an error.
    pub fn decode(packet: &Bytes) -> Result<Self> {
        let mut r = Reader::new(packet, "SFTP packet");
        let t = r.u8().map_err(|_| Error::EmptyPacket)?;
        let p = match t {
            packet_type::INIT => Self::Init {
                version: r.u32()?,
                extensions: read_extension_pairs(&mut r)?,
            },
            packet_type::VERSION => Self::Version {
                version: r.u32()?,
                extensions: read_extension_pairs(&mut r)?,
            },
            t if packet_type::is_request(t) => {
                let id = r.u32()?;
                Self::Request {
                    id,
                    request: Request::read(t, &mut r)?,
                }
            }
            packet_type::STATUS..=packet_type::ATTRS | packet_type::EXTENDED_REPLY => {
                let id = r.u32()?;
                Self::Response {
                    id,
                    response: Response::read(t, &mut r)?,
                }
            }
            other => return Err(Error::UnexpectedPacket(other)),
        };
        r.finish()?;
        Ok(p)
    }

    /// Writes the packet type and body, without the length prefix.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        out.put_u8(self.packet_type());
        match self {
            Self::Init {
                version,
                extensions,
            }
            | Self::Version {
                version,
                extensions,
            } => {
                out.put_u32(*version);
                for (n, d) in extensions {
                    out.put_ssh_string(n.as_bytes());
                    out.put_ssh_string(d);
                }
            }
            Self::Request { id, request } => {
                out.put_u32(*id);
                request.write(out);
            }
            Self::Response { id, response } => {
                out.put_u32(*id);
                response.write(out);
            }
        }
    }

    /// Appends the framed packet (`uint32 length` then type and body) to `out` and returns
    /// the framed length; a packet longer than `max` is refused and nothing is appended.
    pub fn encode(&self, out: &mut Vec<u8>, max: u32) -> Result<usize> {
        let start = out.len();
        out.put_u32(0);
        self.encode_body(out);
        let len = out.len() - start - 4;
        match u32::try_from(len) {
            Ok(l) if l <= max => {
                if let Some(prefix) = out.get_mut(start..start + 4) {
                    prefix.copy_from_slice(&l.to_be_bytes());
                }
                Ok(len + 4)
            }
            _ => {
                out.truncate(start);
                Err(Error::ApiInvalid(
                    "packet exceeds the maximum packet length",
                ))
            }
        }
    }

    /// The framed encoding as a new vector (no limit beyond `u32`).
    #[must_use]
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Only a packet over 4 GiB fails; that cannot be built in memory here.
        let _ = self.encode(&mut out, u32::MAX);
        out
    }
}

/// Cuts a byte stream into packets, refusing a declared length above the limit before
/// buffering any of it.
#[derive(Debug)]
pub struct Deframer {
    buf: BytesMut,
    max: u32,
}

impl Deframer {
    /// A deframer accepting packets up to `max` bytes (type byte and body).
    #[must_use]
    pub fn new(max: u32) -> Self {
        Self {
            buf: BytesMut::new(),
            max,
        }
    }

    /// The limit in force.
    #[must_use]
    pub const fn max(&self) -> u32 {
        self.max
    }

    /// Bytes buffered and not yet delivered.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// How many more bytes a complete next packet needs (0 if one is ready).
    #[must_use]
    pub fn bytes_needed(&self) -> usize {
        match self.buf.first_chunk::<4>() {
            None => 4 - self.buf.len(),
            Some(len) => {
                let total = usize::try_from(u32::from_be_bytes(*len))
                    .unwrap_or(usize::MAX)
                    .saturating_add(4);
                total.saturating_sub(self.buf.len())
            }
        }
    }

    /// Takes as many bytes of `input` as the next packet still needs (never more), and
    /// returns how many it took. The length is checked as soon as its 4 bytes are in.
    pub fn push(&mut self, input: &[u8]) -> Result<usize> {
        let mut taken = 0;
        if self.buf.len() < 4 {
            let n = (4 - self.buf.len()).min(input.len());
            self.buf
                .extend_from_slice(input.get(..n).unwrap_or_default());
            taken = n;
        }
        if let Some(len) = self.buf.first_chunk::<4>() {
            let len = u32::from_be_bytes(*len);
            if len > self.max {
                return Err(Error::PacketTooLarge { len, max: self.max });
            }
            let need = self.bytes_needed();
            let rest = input.get(taken..).unwrap_or_default();
            let n = need.min(rest.len());
            self.buf
                .extend_from_slice(rest.get(..n).unwrap_or_default());
            taken += n;
        }
        Ok(taken)
    }

    /// The next complete packet (type and body), if one is buffered.
    pub fn next_packet(&mut self) -> Result<Option<Bytes>> {
        if self.buf.len() < 4 || self.bytes_needed() > 0 {
            return Ok(None);
        }
        let mut frame = self.buf.split().freeze();
        let len = frame.get_u32();
        if len == 0 {
            return Err(Error::EmptyPacket);
        }
        Ok(Some(frame))
    }
}
