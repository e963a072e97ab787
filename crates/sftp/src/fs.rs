//! [`StdFs`]: a [`Filesystem`] over `std::fs`, confined to a root directory. This module is
//! the crate's only I/O.
//!
//! Confinement (catalog F01, F03): every client path is resolved here, component by
//! component, against the root, never by handing it to the OS:
//!
//! - an absolute client path is relative to the root; a relative one is relative to the home
//!   directory ([`StdFsConfig::home`], `/` by default);
//! - `.` is skipped; `..` in a client path stops at the root (`/..` is `/`, as in a chroot);
//! - each existing component is checked with `lstat`; a symlink is read and its target is
//!   resolved in its place (an absolute target must lie under the root's canonical path, a
//!   relative one must not climb above the root with `..`); a target that leaves the root
//!   ends the operation with `PERMISSION_DENIED`; more than 40 links end it with `FAILURE`;
//! - the operation itself then walks the resolved components from a descriptor of the root
//!   with `openat(O_PATH | O_DIRECTORY | O_NOFOLLOW)` and acts on the last one relative to its
//!   parent (`openat`, `mkdirat`, `unlinkat`, `renameat2`, `linkat`, `symlinkat`,
//!   `readlinkat`, `utimensat`, `fchownat` with `O_NOFOLLOW` / `AT_SYMLINK_NOFOLLOW`), so a
//!   directory swapped for a symlink between the check and the system call (a TOCTOU race)
//!   makes the operation fail instead of leaving the root; the one exception is the mode
//!   change of SETSTAT / lsetstat: Linux's `fchmodat` cannot refuse a final symlink (before
//!   `fchmodat2`), so a last component swapped for a symlink in the instant between its check
//!   and the call would be followed;
//! - SYMLINK refuses a target that resolves outside the root, and writes an absolute target as
//!   the real path under the root (so other programs following the link stay inside too);
//!   READLINK shows such a target relative to the root again;
//! - RENAME, posix-rename and hardlink resolve both ends this way, and refuse to move or link
//!   a relative symlink to where its target would leave the root; the root itself cannot be
//!   removed, renamed or replaced; RENAME uses `RENAME_NOREPLACE`;
//! - REALPATH answers `/` followed by the resolved components.
//!
//! Linux only (`O_PATH`, `renameat2`).
//!
//! I/O errors map to status codes as OpenSSH's `errno_to_portable` does: not found, not a
//! directory, symlink loop -> `NO_SUCH_FILE`; permission denied -> `PERMISSION_DENIED`; invalid
//! names -> `BAD_MESSAGE`; unsupported -> `OP_UNSUPPORTED`; anything else -> `FAILURE`; the
//! message is the system's error text.

use std::collections::{BTreeMap, VecDeque};
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, Metadata};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use whelk_wire::types::Text;

use crate::codec::{Attrs, Handle, Name, OpenFlags, Status, StatusCode, Statvfs, UsersGroups};
use crate::server::{Filesystem, FsResult};

use rustix::fs::{AtFlags, Mode, OFlags};

/// `O_NOFOLLOW | O_CLOEXEC`: every descriptor this module opens.
const NOFOLLOW: OFlags = OFlags::NOFOLLOW.union(OFlags::CLOEXEC);

/// How many symlinks one path may go through (Linux `MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

/// [`StdFs`] settings.
#[derive(Clone, Debug)]
pub struct StdFsConfig {
    /// Refuse every modification with `PERMISSION_DENIED` (catalog F12).
    pub read_only: bool,
    /// The home directory, as the client sees it (relative paths start here; `~` and
    /// `home-directory` report it).
    pub home: String,
    /// The user name `home-directory` and `~user` answer for (`None`: any name).
    pub user: Option<String>,
    /// How many handles may be open at once.
    pub max_handles: usize,
    /// Entries per READDIR reply.
    pub readdir_batch: usize,
    /// Look up user and group names in `/etc/passwd` and `/etc/group` for long names and
    /// `users-groups-by-id@openssh.com`.
    pub resolve_names: bool,
}

impl Default for StdFsConfig {
    fn default() -> Self {
        Self {
            read_only: false,
            home: "/".into(),
            user: None,
            max_handles: 256,
            readdir_batch: 100,
            resolve_names: true,
        }
    }
}

enum Entry {
    File(File),
    Dir {
        /// The directory stream (it owns the handle's only descriptor).
        dir: rustix::fs::Dir,
        /// Whether the stream has ended.
        done: bool,
        /// Whether `.` and `..` were listed.
        dots: bool,
        /// Whether this is the root (whose `..` is itself).
        is_root: bool,
    },
}

/// A [`Filesystem`] over `std::fs`, confined to a root directory.
pub struct StdFs {
    root: PathBuf,
    root_fd: OwnedFd,
    config: StdFsConfig,
    handles: BTreeMap<u32, Entry>,
    next_handle: u32,
    users: Option<BTreeMap<u32, String>>,
    groups: Option<BTreeMap<u32, String>>,
}

impl core::fmt::Debug for StdFs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StdFs")
            .field("root", &self.root)
            .field("config", &self.config)
            .field("open_handles", &self.handles.len())
            .finish_non_exhaustive()
    }
}

fn status(code: StatusCode, message: &str) -> Status {
    Status::new(code, String::from(message))
}

fn denied(message: &str) -> Status {
    status(StatusCode::PERMISSION_DENIED, message)
}

fn read_only() -> Status {
    denied("Read-only file system")
}

/// Maps an I/O error to a status (OpenSSH `errno_to_portable`).
#[must_use]
pub fn io_status(e: &io::Error) -> Status {
    use io::ErrorKind as K;
    let code = match e.kind() {
        K::NotFound | K::NotADirectory => StatusCode::NO_SUCH_FILE,
        K::PermissionDenied => StatusCode::PERMISSION_DENIED,
        K::InvalidInput | K::InvalidFilename => StatusCode::BAD_MESSAGE,
        K::Unsupported => StatusCode::OP_UNSUPPORTED,
        _ if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            StatusCode::NO_SUCH_FILE
        }
        _ => StatusCode::FAILURE,
    };
    Status::new(code, e.to_string())
}

fn io_err(e: io::Error) -> Status {
    io_status(&e)
}

fn errno(e: rustix::io::Errno) -> Status {
    io_status(&io::Error::from(e))
}

/// Attributes from metadata.
#[must_use]
pub fn attrs_of(m: &Metadata) -> Attrs {
    Attrs {
        size: Some(m.size()),
        uid_gid: Some((m.uid(), m.gid())),
        permissions: Some(m.mode()),
        times: Some((secs32(m.atime()), secs32(m.mtime()))),
        extended: Vec::new(),
    }
}

fn secs32(t: i64) -> u32 {
    u32::try_from(t.max(0)).unwrap_or(u32::MAX)
}

/// Splits a client path into components (empty ones dropped).
fn components(path: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    path.split(|&b| b == b'/').filter(|c| !c.is_empty())
}

/// A resolved path: components below the root, none of them a symlink (except possibly the
/// last, when it was not followed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Resolved(Vec<OsString>);

impl Resolved {
    fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    fn client_view(&self) -> Text {
        if self.0.is_empty() {
            return Text::from("/");
        }
        let mut out = Vec::new();
        for c in &self.0 {
            out.push(b'/');
            out.extend_from_slice(c.as_bytes());
        }
        Text(Bytes::from(out))
    }
}

impl StdFs {
    /// A backend confined to `root` (which must exist; it is canonicalized).
    pub fn new(root: impl AsRef<Path>, config: StdFsConfig) -> io::Result<Self> {
        let root = fs::canonicalize(root)?;
        if !fs::metadata(&root)?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "SFTP root is not a directory",
            ));
        }
        let root_fd = rustix::fs::open(
            &root,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Self {
            root,
            root_fd,
            config,
            handles: BTreeMap::new(),
            next_handle: 0,
            users: None,
            groups: None,
        })
    }

    /// The canonical root directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// How many handles are open.
    #[must_use]
    pub fn open_handles(&self) -> usize {
        self.handles.len()
    }

    /// Closes every handle (the session ended).
    pub fn close_all(&mut self) {
        self.handles.clear();
    }

    fn real(&self, r: &Resolved) -> PathBuf {
        let mut p = self.root.clone();
        p.extend(r.0.iter());
        p
    }

    /// Opens the parent directory of `r` by walking from the root descriptor with
    /// `O_NOFOLLOW` on every component, and returns it with the last component's name (`.`
    /// for the root). A component swapped for a symlink after [`Self::resolve`] checked it
    /// makes the walk fail instead of leaving the root.
    fn at(&self, r: &Resolved) -> FsResult<(OwnedFd, OsString)> {
        let mut dir = self.root_fd.try_clone().map_err(io_err)?;
        let Some((last, parents)) = r.0.split_last() else {
            return Ok((dir, OsString::from(".")));
        };
        for c in parents {
            dir = rustix::fs::openat(
                &dir,
                c.as_os_str(),
                OFlags::PATH | OFlags::DIRECTORY | NOFOLLOW,
                Mode::empty(),
            )
            .map_err(errno)?;
        }
        Ok((dir, last.clone()))
    }

    /// Opens `r` itself with `O_PATH | O_NOFOLLOW` (a symlink as itself).
    fn open_path(&self, r: &Resolved) -> FsResult<File> {
        let (dir, name) = self.at(r)?;
        rustix::fs::openat(
            &dir,
            name.as_os_str(),
            OFlags::PATH | NOFOLLOW,
            Mode::empty(),
        )
        .map(File::from)
        .map_err(errno)
    }

    /// `lstat` of `r` through the descriptor walk.
    fn meta(&self, r: &Resolved) -> FsResult<Metadata> {
        self.open_path(r)?.metadata().map_err(io_err)
    }

    /// Resolves a client path (see the module docs).
    fn resolve(&self, path: &Text, follow_last: bool) -> FsResult<Resolved> {
        let bytes = path.as_bytes();
        if bytes.contains(&0) {
            return Err(status(StatusCode::BAD_MESSAGE, "NUL byte in path"));
        }
        let mut queue: VecDeque<(OsString, bool)> = VecDeque::new();
        if !bytes.starts_with(b"/") {
            for c in components(self.config.home.as_bytes()) {
                queue.push_back((OsStr::from_bytes(c).to_owned(), false));
            }
        }
        for c in components(bytes) {
            queue.push_back((OsStr::from_bytes(c).to_owned(), false));
        }
        self.walk(Resolved::default(), queue, follow_last)
    }

    fn walk(
        &self,
        mut stack: Resolved,
        mut queue: VecDeque<(OsString, bool)>,
        follow_last: bool,
    ) -> FsResult<Resolved> {
        let mut links = 0;
        while let Some((c, from_link)) = queue.pop_front() {
            if c == "." {
                continue;
            }
            if c == ".." {
                if stack.0.pop().is_none() && from_link {
                    return Err(denied("Symbolic link leads outside the root"));
                }
                continue;
            }
            stack.0.push(c);
            if queue.is_empty() && !follow_last {
                break;
            }
            let real = self.real(&stack);
            let Ok(meta) = fs::symlink_metadata(&real) else {
                // Not there (yet): later components cannot be links; the operation reports
                // the error itself.
                continue;
            };
            if !meta.file_type().is_symlink() {
                continue;
            }
            links += 1;
            if links > MAX_LINKS {
                return Err(status(
                    StatusCode::FAILURE,
                    "Too many levels of symbolic links",
                ));
            }
            let target = fs::read_link(&real).map_err(io_err)?;
            stack.0.pop();
            let rel: &Path = if target.is_absolute() {
                stack.0.clear();
                target
                    .strip_prefix(&self.root)
                    .map_err(|_| denied("Symbolic link leads outside the root"))?
            } else {
                &target
            };
            for comp in rel.components().rev() {
                let part = match comp {
                    Component::Normal(s) => s.to_owned(),
                    Component::ParentDir => OsString::from(".."),
                    Component::CurDir | Component::RootDir | Component::Prefix(_) => continue,
                };
                queue.push_front((part, true));
            }
        }
        Ok(stack)
    }

    /// Checks a SYMLINK target for a link at `link`, returning what to write on disk.
    fn check_target(&self, link: &Resolved, target: &Text) -> FsResult<PathBuf> {
        let bytes = target.as_bytes();
        if bytes.is_empty() || bytes.contains(&0) {
            return Err(status(StatusCode::BAD_MESSAGE, "invalid symlink target"));
        }
        let mut queue: VecDeque<(OsString, bool)> = VecDeque::new();
        let absolute = bytes.starts_with(b"/");
        if !absolute {
            let parent = link.0.len().saturating_sub(1);
            for c in link.0.iter().take(parent) {
                queue.push_back((c.clone(), false));
            }
        }
        for c in components(bytes) {
            queue.push_back((OsStr::from_bytes(c).to_owned(), true));
        }
        let resolved = self.walk(Resolved::default(), queue, true)?;
        if absolute {
            Ok(self.real(&resolved))
        } else {
            Ok(PathBuf::from(OsStr::from_bytes(bytes)))
        }
    }

    /// A symlink at `from` moved or linked to `to` must still point inside the root.
    fn check_moved_link(&self, from: &Resolved, to: &Resolved) -> FsResult<()> {
        let real = self.real(from);
        let Ok(meta) = fs::symlink_metadata(&real) else {
            return Ok(());
        };
        if !meta.file_type().is_symlink() {
            return Ok(());
        }
        let target = fs::read_link(&real).map_err(io_err)?;
        if target.is_absolute() {
            if target.starts_with(&self.root) {
                return Ok(());
            }
            return Err(denied("Symbolic link leads outside the root"));
        }
        self.check_target(
            to,
            &Text(Bytes::copy_from_slice(target.as_os_str().as_bytes())),
        )
        .map(|_| ())
    }

    fn writable(&self) -> FsResult<()> {
        if self.config.read_only {
            Err(read_only())
        } else {
            Ok(())
        }
    }

    fn new_handle(&mut self, entry: Entry) -> FsResult<Handle> {
        if self.handles.len() >= self.config.max_handles {
            return Err(status(StatusCode::FAILURE, "Too many open handles"));
        }
        let mut n = self.next_handle;
        while self.handles.contains_key(&n) {
            n = n.wrapping_add(1);
        }
        self.next_handle = n.wrapping_add(1);
        self.handles.insert(n, entry);
        Handle::new(Bytes::copy_from_slice(&n.to_be_bytes()))
            .map_err(|_| status(StatusCode::FAILURE, "handle"))
    }

    fn handle_key(handle: &Handle) -> FsResult<u32> {
        <[u8; 4]>::try_from(handle.as_bytes())
            .map(u32::from_be_bytes)
            .map_err(|_| status(StatusCode::FAILURE, "Invalid handle"))
    }

    fn entry(&mut self, handle: &Handle) -> FsResult<&mut Entry> {
        let k = Self::handle_key(handle)?;
        self.handles
            .get_mut(&k)
            .ok_or_else(|| status(StatusCode::FAILURE, "Invalid handle"))
    }

    fn file(&mut self, handle: &Handle) -> FsResult<&mut File> {
        match self.entry(handle)? {
            Entry::File(f) => Ok(f),
            Entry::Dir { .. } => Err(status(StatusCode::FAILURE, "Handle is a directory")),
        }
    }

    fn list_some(&mut self, entry: &mut Entry, batch: usize) -> FsResult<Vec<Name>> {
        let Entry::Dir {
            dir,
            done,
            dots,
            is_root,
        } = entry
        else {
            return Err(status(StatusCode::FAILURE, "Handle is not a directory"));
        };
        let now = now_secs();
        let mut names = Vec::new();
        if !*dots {
            *dots = true;
            let this = dir_file(dir, OFlags::PATH)?;
            if let Ok(m) = this.metadata() {
                names.push(self.name_entry(b".", &m, now));
                if *is_root {
                    names.push(self.name_entry(b"..", &m, now));
                }
            }
            if !*is_root {
                let parent =
                    rustix::fs::openat(&this, "..", OFlags::PATH | NOFOLLOW, Mode::empty())
                        .map(File::from)
                        .map_err(io::Error::from);
                if let Ok(m) = parent.and_then(|p| p.metadata()) {
                    names.push(self.name_entry(b"..", &m, now));
                }
            }
        }
        while !*done && names.len() < batch {
            match dir.next() {
                None => *done = true,
                Some(Ok(e)) => {
                    let n = e.file_name().to_bytes().to_vec();
                    if n == b"." || n == b".." {
                        continue;
                    }
                    let fd = dir.fd().map_err(errno)?;
                    let meta = rustix::fs::openat(
                        fd,
                        OsStr::from_bytes(&n),
                        OFlags::PATH | NOFOLLOW,
                        Mode::empty(),
                    )
                    .map(File::from)
                    .map_err(io::Error::from)
                    .and_then(|f| f.metadata());
                    if let Ok(m) = meta {
                        names.push(self.name_entry(&n, &m, now));
                    }
                }
                // An entry that vanished or cannot be read is skipped (as ls does).
                Some(Err(_)) => {}
            }
        }
        if names.is_empty() {
            return Err(StatusCode::EOF.into());
        }
        Ok(names)
    }

    fn names(&mut self) {
        if self.users.is_none() {
            self.users = Some(if self.config.resolve_names {
                read_id_db("/etc/passwd")
            } else {
                BTreeMap::new()
            });
            self.groups = Some(if self.config.resolve_names {
                read_id_db("/etc/group")
            } else {
                BTreeMap::new()
            });
        }
    }

    fn user_name(&self, uid: u32) -> String {
        self.users
            .as_ref()
            .and_then(|m| m.get(&uid).cloned())
            .unwrap_or_else(|| uid.to_string())
    }

    fn group_name(&self, gid: u32) -> String {
        self.groups
            .as_ref()
            .and_then(|m| m.get(&gid).cloned())
            .unwrap_or_else(|| gid.to_string())
    }

    fn name_entry(&mut self, name: &[u8], m: &Metadata, now: i64) -> Name {
        self.names();
        let mut long = format!(
            "{}  {:>3} {:<8} {:<8} {:>8} {} ",
            mode_string(m.mode()),
            m.nlink(),
            self.user_name(m.uid()),
            self.group_name(m.gid()),
            m.size(),
            ls_time(m.mtime(), now),
        )
        .into_bytes();
        long.extend_from_slice(name);
        Name {
            filename: Text(Bytes::copy_from_slice(name)),
            longname: Text(Bytes::from(long)),
            attrs: attrs_of(m),
        }
    }

    /// SETSTAT / lsetstat through the descriptor walk. The last component is never
    /// followed: for SETSTAT it was resolved already (a symlink swapped in since is changed
    /// itself, not its target); the mode of a symlink cannot be changed on Linux.
    fn set_attrs(&self, r: &Resolved, attrs: &Attrs) -> FsResult<()> {
        let (dir, name) = self.at(r)?;
        let name = name.as_os_str();
        if let Some(size) = attrs.size {
            let f = rustix::fs::openat(
                &dir,
                name,
                OFlags::WRONLY | OFlags::NONBLOCK | NOFOLLOW,
                Mode::empty(),
            )
            .map_err(errno)?;
            File::from(f).set_len(size).map_err(io_err)?;
        }
        if let Some(mode) = attrs.permissions {
            let meta = self.meta(r)?;
            if meta.file_type().is_symlink() {
                return Err(status(
                    StatusCode::OP_UNSUPPORTED,
                    "Cannot change the mode of a symbolic link",
                ));
            }
            // fchmodat has no working AT_SYMLINK_NOFOLLOW on Linux: a symlink swapped in
            // between the check above and this call would be followed (to a target that
            // resolve() never checked). The window is a few instructions; closing it needs
            // fchmodat2 (Linux 6.6).
            rustix::fs::chmodat(
                &dir,
                name,
                Mode::from_raw_mode(mode & 0o7777),
                AtFlags::empty(),
            )
            .map_err(errno)?;
        }
        if let Some((atime, mtime)) = attrs.times {
            let ts = rustix::fs::Timestamps {
                last_access: rustix::fs::Timespec {
                    tv_sec: i64::from(atime),
                    tv_nsec: 0,
                },
                last_modification: rustix::fs::Timespec {
                    tv_sec: i64::from(mtime),
                    tv_nsec: 0,
                },
            };
            rustix::fs::utimensat(&dir, name, &ts, AtFlags::SYMLINK_NOFOLLOW).map_err(errno)?;
        }
        if let Some((uid, gid)) = attrs.uid_gid {
            rustix::fs::chownat(
                &dir,
                name,
                Some(rustix::fs::Uid::from_raw_unchecked(uid)),
                Some(rustix::fs::Gid::from_raw_unchecked(gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(errno)?;
        }
        Ok(())
    }

    fn file_set_attrs(file: &File, attrs: &Attrs) -> FsResult<()> {
        if let Some(size) = attrs.size {
            file.set_len(size).map_err(io_err)?;
        }
        if let Some(mode) = attrs.permissions {
            file.set_permissions(fs::Permissions::from_mode(mode & 0o7777))
                .map_err(io_err)?;
        }
        if let Some((atime, mtime)) = attrs.times {
            let t = |s: u32| UNIX_EPOCH + std::time::Duration::from_secs(u64::from(s));
            let times = fs::FileTimes::new()
                .set_accessed(t(atime))
                .set_modified(t(mtime));
            file.set_times(times).map_err(io_err)?;
        }
        if let Some((uid, gid)) = attrs.uid_gid {
            std::os::unix::fs::fchown(file, Some(uid), Some(gid)).map_err(io_err)?;
        }
        Ok(())
    }

    fn statvfs_of(&self, v: &rustix::fs::StatVfs) -> Statvfs {
        use rustix::fs::StatVfsMountFlags as F;
        let mut flag = 0;
        if v.f_flag.contains(F::RDONLY) || self.config.read_only {
            flag |= Statvfs::RDONLY;
        }
        if v.f_flag.contains(F::NOSUID) {
            flag |= Statvfs::NOSUID;
        }
        Statvfs {
            bsize: v.f_bsize,
            frsize: v.f_frsize,
            blocks: v.f_blocks,
            bfree: v.f_bfree,
            bavail: v.f_bavail,
            files: v.f_files,
            ffree: v.f_ffree,
            favail: v.f_favail,
            fsid: v.f_fsid,
            flag,
            namemax: v.f_namemax,
        }
    }

    fn home_text(&self) -> FsResult<Text> {
        let home = Text::from(self.config.home.clone());
        self.resolve(&home, true).map(|r| r.client_view())
    }
}

fn read_id_db(path: &str) -> BTreeMap<u32, String> {
    let mut m = BTreeMap::new();
    if let Ok(text) = fs::read_to_string(path) {
        for line in text.lines() {
            let mut f = line.split(':');
            if let (Some(name), Some(_), Some(id)) = (f.next(), f.next(), f.next())
                && let Ok(id) = id.parse::<u32>()
            {
                m.entry(id).or_insert_with(|| name.to_owned());
            }
        }
    }
    m
}

/// The `ls -l` mode column (`drwxr-xr-x`).
#[must_use]
pub fn mode_string(mode: u32) -> String {
    use crate::codec::file_type as t;
    let kind = match mode & t::MASK {
        t::DIR => 'd',
        t::LNK => 'l',
        t::CHR => 'c',
        t::BLK => 'b',
        t::FIFO => 'p',
        t::SOCK => 's',
        _ => '-',
    };
    let bit = |m: u32, c: char| if mode & m != 0 { c } else { '-' };
    let special = |x: u32, s: u32, lower: char, upper: char| match (mode & x != 0, mode & s != 0) {
        (true, true) => lower,
        (false, true) => upper,
        (true, false) => 'x',
        (false, false) => '-',
    };
    [
        kind,
        bit(0o400, 'r'),
        bit(0o200, 'w'),
        special(0o100, 0o4000, 's', 'S'),
        bit(0o040, 'r'),
        bit(0o020, 'w'),
        special(0o010, 0o2000, 's', 'S'),
        bit(0o004, 'r'),
        bit(0o002, 'w'),
        special(0o001, 0o1000, 't', 'T'),
    ]
    .iter()
    .collect()
}

/// `ls -l` time column: `Jan  2 15:04` within six months of `now`, else `Jan  2  2006` (UTC).
#[must_use]
pub fn ls_time(t: i64, now: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let name = usize::try_from(month - 1)
        .ok()
        .and_then(|i| MONTHS.get(i))
        .copied()
        .unwrap_or("???");
    const SIX_MONTHS: i64 = 182 * 86_400;
    if (now - t).abs() < SIX_MONTHS {
        format!("{name} {day:>2} {:02}:{:02}", secs / 3600, secs % 3600 / 60)
    } else {
        format!("{name} {day:>2}  {year}")
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A short-lived descriptor of a directory handle's directory (`.` relative to its stream).
fn dir_file(dir: &rustix::fs::Dir, flags: OFlags) -> FsResult<File> {
    let fd = dir.fd().map_err(errno)?;
    rustix::fs::openat(fd, ".", flags | OFlags::DIRECTORY | NOFOLLOW, Mode::empty())
        .map(File::from)
        .map_err(errno)
}

fn oflags(flags: OpenFlags) -> OFlags {
    let read = flags.contains(OpenFlags::READ);
    let write = flags.contains(OpenFlags::WRITE) || flags.contains(OpenFlags::APPEND);
    let mut o = match (read, write) {
        (_, false) => OFlags::RDONLY,
        (false, true) => OFlags::WRONLY,
        (true, true) => OFlags::RDWR,
    };
    if flags.contains(OpenFlags::APPEND) {
        o |= OFlags::APPEND;
    }
    if flags.contains(OpenFlags::CREAT) {
        o |= OFlags::CREATE;
        if flags.contains(OpenFlags::EXCL) {
            o |= OFlags::EXCL;
        }
    }
    if flags.contains(OpenFlags::TRUNC) {
        o |= OFlags::TRUNC;
    }
    o | NOFOLLOW
}

impl Filesystem for StdFs {
    fn open(&mut self, filename: &Text, flags: OpenFlags, attrs: &Attrs) -> FsResult<Handle> {
        if flags.writes() {
            self.writable()?;
        }
        let r = self.resolve(filename, true)?;
        let (dir, name) = self.at(&r)?;
        let mode = Mode::from_raw_mode(attrs.permissions.map_or(0o666, |p| p & 0o7777));
        let fd = rustix::fs::openat(&dir, name.as_os_str(), oflags(flags), mode).map_err(errno)?;
        self.new_handle(Entry::File(File::from(fd)))
    }

    fn close(&mut self, handle: &Handle) -> FsResult<()> {
        let k = Self::handle_key(handle)?;
        self.handles
            .remove(&k)
            .map(|_| ())
            .ok_or_else(|| status(StatusCode::FAILURE, "Invalid handle"))
    }

    fn read(&mut self, handle: &Handle, offset: u64, len: u32) -> FsResult<Bytes> {
        let file = self.file(handle)?;
        if i64::try_from(offset).is_err() {
            // Beyond any file the OS can hold (pread would say EINVAL).
            return Err(StatusCode::EOF.into());
        }
        // The server state machine clamps READ already; clamp here too so a backend driven
        // directly never allocates a hostile length.
        let len = len.min(crate::codec::DEFAULT_MAX_READ);
        let mut buf = vec![0; usize::try_from(len).unwrap_or(0)];
        let mut got = 0;
        while got < buf.len() {
            let at = offset.saturating_add(u64::try_from(got).unwrap_or(u64::MAX));
            match file.read_at(buf.get_mut(got..).unwrap_or_default(), at) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err(e)),
            }
        }
        if got == 0 && len > 0 {
            return Err(StatusCode::EOF.into());
        }
        buf.truncate(got);
        Ok(Bytes::from(buf))
    }

    fn write(&mut self, handle: &Handle, offset: u64, data: &[u8]) -> FsResult<()> {
        self.writable()?;
        let file = self.file(handle)?;
        file.write_all_at(data, offset).map_err(io_err)
    }

    fn lstat(&mut self, path: &Text) -> FsResult<Attrs> {
        let r = self.resolve(path, false)?;
        self.meta(&r).map(|m| attrs_of(&m))
    }

    fn fstat(&mut self, handle: &Handle) -> FsResult<Attrs> {
        match self.entry(handle)? {
            Entry::File(f) => f.metadata().map(|m| attrs_of(&m)).map_err(io_err),
            Entry::Dir { dir, .. } => dir_file(dir, OFlags::PATH)?
                .metadata()
                .map(|m| attrs_of(&m))
                .map_err(io_err),
        }
    }

    fn setstat(&mut self, path: &Text, attrs: &Attrs) -> FsResult<()> {
        self.writable()?;
        let r = self.resolve(path, true)?;
        self.set_attrs(&r, attrs)
    }

    fn fsetstat(&mut self, handle: &Handle, attrs: &Attrs) -> FsResult<()> {
        self.writable()?;
        match self.entry(handle)? {
            Entry::File(f) => Self::file_set_attrs(f, attrs),
            Entry::Dir { dir, .. } => Self::file_set_attrs(&dir_file(dir, OFlags::RDONLY)?, attrs),
        }
    }

    fn opendir(&mut self, path: &Text) -> FsResult<Handle> {
        let r = self.resolve(path, true)?;
        let (dir, name) = self.at(&r)?;
        let fd = rustix::fs::openat(
            &dir,
            name.as_os_str(),
            OFlags::RDONLY | OFlags::DIRECTORY | NOFOLLOW,
            Mode::empty(),
        )
        .map_err(errno)?;
        let dir = rustix::fs::Dir::new(fd).map_err(errno)?;
        self.new_handle(Entry::Dir {
            dir,
            done: false,
            dots: false,
            is_root: r.is_root(),
        })
    }

    fn readdir(&mut self, handle: &Handle) -> FsResult<Vec<Name>> {
        let batch = self.config.readdir_batch.max(1);
        let k = Self::handle_key(handle)?;
        // Taken out of the table while names are looked up (which needs `&mut self`), and
        // always put back.
        let mut entry = self
            .handles
            .remove(&k)
            .ok_or_else(|| status(StatusCode::FAILURE, "Invalid handle"))?;
        let result = self.list_some(&mut entry, batch);
        self.handles.insert(k, entry);
        result
    }

    fn remove(&mut self, filename: &Text) -> FsResult<()> {
        self.writable()?;
        let r = self.resolve(filename, false)?;
        if r.is_root() {
            return Err(denied("Cannot remove the root"));
        }
        let (dir, name) = self.at(&r)?;
        rustix::fs::unlinkat(&dir, name.as_os_str(), AtFlags::empty()).map_err(errno)
    }

    fn mkdir(&mut self, path: &Text, attrs: &Attrs) -> FsResult<()> {
        self.writable()?;
        let r = self.resolve(path, false)?;
        let (dir, name) = self.at(&r)?;
        let mode = Mode::from_raw_mode(attrs.permissions.map_or(0o777, |p| p & 0o7777));
        rustix::fs::mkdirat(&dir, name.as_os_str(), mode).map_err(errno)
    }

    fn rmdir(&mut self, path: &Text) -> FsResult<()> {
        self.writable()?;
        let r = self.resolve(path, false)?;
        if r.is_root() {
            return Err(denied("Cannot remove the root"));
        }
        let (dir, name) = self.at(&r)?;
        rustix::fs::unlinkat(&dir, name.as_os_str(), AtFlags::REMOVEDIR).map_err(errno)
    }

    fn realpath(&mut self, path: &Text) -> FsResult<Text> {
        self.resolve(path, true).map(|r| r.client_view())
    }

    fn stat(&mut self, path: &Text) -> FsResult<Attrs> {
        let r = self.resolve(path, true)?;
        self.meta(&r).map(|m| attrs_of(&m))
    }

    fn rename(&mut self, oldpath: &Text, newpath: &Text, posix: bool) -> FsResult<()> {
        self.writable()?;
        let from = self.resolve(oldpath, false)?;
        let to = self.resolve(newpath, false)?;
        if from.is_root() || to.is_root() {
            return Err(denied("Cannot rename the root"));
        }
        self.check_moved_link(&from, &to)?;
        let (fd, fname) = self.at(&from)?;
        let (td, tname) = self.at(&to)?;
        let (fname, tname) = (fname.as_os_str(), tname.as_os_str());
        if posix {
            return rustix::fs::renameat(&fd, fname, &td, tname).map_err(errno);
        }
        // SSH_FXP_RENAME must not replace an existing target: renameat2(RENAME_NOREPLACE)
        // where the file system supports it, else a check first (racy, like OpenSSH's
        // link+unlink fallback).
        match rustix::fs::renameat_with(&fd, fname, &td, tname, rustix::fs::RenameFlags::NOREPLACE)
        {
            Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {
                if rustix::fs::statat(&td, tname, AtFlags::SYMLINK_NOFOLLOW).is_ok() {
                    return Err(status(StatusCode::FAILURE, "File exists"));
                }
                rustix::fs::renameat(&fd, fname, &td, tname).map_err(errno)
            }
            Err(e) if e == rustix::io::Errno::EXIST => {
                Err(status(StatusCode::FAILURE, "File exists"))
            }
            other => other.map_err(errno),
        }
    }

    fn readlink(&mut self, path: &Text) -> FsResult<Text> {
        let r = self.resolve(path, false)?;
        let (dir, name) = self.at(&r)?;
        let target = rustix::fs::readlinkat(&dir, name.as_os_str(), Vec::new()).map_err(errno)?;
        let target = PathBuf::from(OsString::from_vec(target.into_bytes()));
        if let Ok(rel) = target.strip_prefix(&self.root) {
            let mut out = Vec::new();
            for c in rel.components() {
                out.push(b'/');
                out.extend_from_slice(c.as_os_str().as_bytes());
            }
            if out.is_empty() {
                out.push(b'/');
            }
            return Ok(Text(Bytes::from(out)));
        }
        Ok(Text(Bytes::from(target.into_os_string().into_vec())))
    }

    fn symlink(&mut self, link: &Text, target: &Text) -> FsResult<()> {
        self.writable()?;
        let l = self.resolve(link, false)?;
        if l.is_root() {
            return Err(denied("Cannot replace the root"));
        }
        let t = self.check_target(&l, target)?;
        let (dir, name) = self.at(&l)?;
        rustix::fs::symlinkat(&t, &dir, name.as_os_str()).map_err(errno)
    }

    fn statvfs(&mut self, path: &Text) -> FsResult<Statvfs> {
        let r = self.resolve(path, true)?;
        let f = self.open_path(&r)?;
        let v = rustix::fs::fstatvfs(&f).map_err(errno)?;
        Ok(self.statvfs_of(&v))
    }

    fn fstatvfs(&mut self, handle: &Handle) -> FsResult<Statvfs> {
        let v = match self.entry(handle)? {
            Entry::File(f) => rustix::fs::fstatvfs(&*f),
            Entry::Dir { dir, .. } => dir.fd().and_then(rustix::fs::fstatvfs),
        }
        .map_err(errno)?;
        Ok(self.statvfs_of(&v))
    }

    fn hardlink(&mut self, oldpath: &Text, newpath: &Text) -> FsResult<()> {
        self.writable()?;
        let from = self.resolve(oldpath, false)?;
        let to = self.resolve(newpath, false)?;
        if to.is_root() {
            return Err(denied("Cannot replace the root"));
        }
        self.check_moved_link(&from, &to)?;
        let (fd, fname) = self.at(&from)?;
        let (td, tname) = self.at(&to)?;
        rustix::fs::linkat(
            &fd,
            fname.as_os_str(),
            &td,
            tname.as_os_str(),
            AtFlags::empty(),
        )
        .map_err(errno)
    }

    fn fsync(&mut self, handle: &Handle) -> FsResult<()> {
        self.writable()?;
        self.file(handle)?.sync_all().map_err(io_err)
    }

    fn lsetstat(&mut self, path: &Text, attrs: &Attrs) -> FsResult<()> {
        self.writable()?;
        let r = self.resolve(path, false)?;
        self.set_attrs(&r, attrs)
    }

    fn expand_path(&mut self, path: &Text) -> FsResult<Text> {
        let p = path.as_bytes();
        let expanded = if p == b"~" || p.starts_with(b"~/") {
            let mut v = self.config.home.clone().into_bytes();
            v.push(b'/');
            v.extend_from_slice(p.get(1..).unwrap_or_default());
            Text(Bytes::from(v))
        } else if let Some(rest) = p.strip_prefix(b"~") {
            let end = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
            let (user, tail) = rest.split_at(end);
            match &self.config.user {
                Some(u) if u.as_bytes() == user => {
                    let mut v = self.config.home.clone().into_bytes();
                    v.extend_from_slice(tail);
                    Text(Bytes::from(v))
                }
                _ => return Err(status(StatusCode::NO_SUCH_FILE, "No such user")),
            }
        } else {
            path.clone()
        };
        self.realpath(&expanded)
    }

    fn copy_data(
        &mut self,
        read: &Handle,
        read_offset: u64,
        read_len: u64,
        write: &Handle,
        write_offset: u64,
    ) -> FsResult<()> {
        self.writable()?;
        if read == write {
            let end = read_offset.saturating_add(read_len);
            let overlap = read_len == 0
                || (write_offset < end && read_offset <= write_offset)
                || (read_offset < write_offset.saturating_add(read_len)
                    && write_offset <= read_offset);
            if overlap {
                return Err(status(StatusCode::FAILURE, "Overlapping copy"));
            }
        }
        let src = self.file(read)?.try_clone().map_err(io_err)?;
        let dst = self.file(write)?.try_clone().map_err(io_err)?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut done: u64 = 0;
        loop {
            let want = if read_len == 0 {
                buf.len()
            } else {
                let left = read_len - done;
                if left == 0 {
                    break;
                }
                usize::try_from(left).unwrap_or(usize::MAX).min(buf.len())
            };
            let chunk = buf.get_mut(..want).unwrap_or_default();
            let n = match src.read_at(chunk, read_offset.saturating_add(done)) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_err(e)),
            };
            dst.write_all_at(
                chunk.get(..n).unwrap_or_default(),
                write_offset.saturating_add(done),
            )
            .map_err(io_err)?;
            done += u64::try_from(n).unwrap_or(0);
        }
        Ok(())
    }

    fn home_directory(&mut self, username: &Text) -> FsResult<Text> {
        match &self.config.user {
            Some(u) if u.as_bytes() != username.as_bytes() => {
                Err(status(StatusCode::FAILURE, "No such user"))
            }
            _ => self.home_text(),
        }
    }

    fn users_groups_by_id(&mut self, uids: &[u32], gids: &[u32]) -> FsResult<UsersGroups> {
        self.names();
        let look = |m: &Option<BTreeMap<u32, String>>, id: &u32| {
            Text::from(
                m.as_ref()
                    .and_then(|m| m.get(id).cloned())
                    .unwrap_or_default(),
            )
        };
        Ok(UsersGroups {
            users: uids.iter().map(|i| look(&self.users, i)).collect(),
            groups: gids.iter().map(|i| look(&self.groups, i)).collect(),
        })
    }
}

/// Runs `server` against `fs` over one chunk of client input: feeds it, answers every
/// request synchronously, and returns the bytes for the client. A helper for tests and
/// simple blocking adapters.
pub fn serve_chunk(
    server: &mut crate::server::Server,
    fs: &mut StdFs,
    mut input: &[u8],
) -> crate::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let n = server.handle_input(input)?;
        input = input.get(n..).unwrap_or_default();
        server.answer_all(fs)?;
        server.poll_transmit(&mut out);
        if input.is_empty() {
            return Ok(out);
        }
        if n == 0 && server.outstanding() == 0 {
            // Nothing taken with nothing outstanding: no progress is possible.
            return Ok(out);
        }
    }
}
