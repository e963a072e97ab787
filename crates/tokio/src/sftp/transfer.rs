//! Pipelined transfers: get, put, copy, their recursive and wildcard forms, and resume.

use std::collections::VecDeque;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::oneshot;
use whelk_sftp::client::Reply;
use whelk_sftp::codec::{Attrs, ExtendedRequest, Handle, OpenFlags, Request, ext};

use super::client::{ReadResult, SftpClient, basename, expect_data, expect_ok, join};
use super::error::{Error, Result};
use super::file::File;
use super::glob;

/// Where a transfer stands, for [`TransferOptions::progress`].
#[derive(Debug, Clone)]
pub struct Progress {
    /// The file being transferred (the remote path, or the local one for uploads).
    pub path: String,
    /// Bytes of this file done so far (including what a resume skipped).
    pub transferred: u64,
    /// The file's size, when known.
    pub total: Option<u64>,
}

/// A local file being downloaded: tracks the end of the data written without a gap
/// (replies to pipelined reads may come back out of order after a short read) and, unless
/// the download completed, cuts the file back to it when dropped.
struct PartialFile<'a> {
    file: &'a std::fs::File,
    state: std::sync::Mutex<Contiguous>,
}

/// The end of the gap-free data, and the ranges written beyond a gap (start -> end).
struct Contiguous {
    end: u64,
    ahead: std::collections::BTreeMap<u64, u64>,
    complete: bool,
}

impl<'a> PartialFile<'a> {
    fn new(file: &'a std::fs::File, start: u64) -> Self {
        Self {
            file,
            state: std::sync::Mutex::new(Contiguous {
                end: start,
                ahead: std::collections::BTreeMap::new(),
                complete: false,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Contiguous> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `len` bytes at `off` are in the file (or a hole that reads as them: zeros).
    fn written(&self, off: u64, len: u64) {
        let mut s = self.lock();
        if off > s.end {
            let e = s.ahead.entry(off).or_insert(0);
            *e = (*e).max(off.saturating_add(len));
            return;
        }
        s.end = s.end.max(off.saturating_add(len));
        while let Some((&o, &e)) = s.ahead.first_key_value() {
            if o > s.end {
                break;
            }
            s.ahead.remove(&o);
            s.end = s.end.max(e);
        }
    }

    /// The download finished: the file stays as it is.
    fn complete(&self) {
        self.lock().complete = true;
    }
}

impl Drop for PartialFile<'_> {
    fn drop(&mut self) {
        let s = self.lock();
        if !s.complete {
            let _ = self.file.set_len(s.end);
        }
    }
}

/// A progress callback.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// How transfers behave.
#[derive(Clone)]
pub struct TransferOptions {
    /// Copy directories with everything below them (`-r`).
    pub recursive: bool,
    /// Copy modification/access times and permission bits (`-p`).
    pub preserve: bool,
    /// Continue a partial transfer: skip what the destination already holds
    /// (`reget`/`reput`).
    pub resume: bool,
    /// How many READ or WRITE requests may be in flight per file (default 64, like
    /// OpenSSH's `sftp -R`).
    pub max_outstanding: usize,
    /// Bytes per READ/WRITE; default: what the server's `limits@openssh.com` allows (at
    /// least 32 KiB).
    pub block_size: Option<u32>,
    /// Leave holes where a block is all zeros (the file ends with the right size).
    pub sparse: bool,
    /// Called as data moves.
    pub progress: Option<ProgressFn>,
}

impl Default for TransferOptions {
    fn default() -> Self {
        Self {
            recursive: false,
            preserve: false,
            resume: false,
            max_outstanding: 64,
            block_size: None,
            sparse: true,
            progress: None,
        }
    }
}

impl std::fmt::Debug for TransferOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransferOptions")
            .field("recursive", &self.recursive)
            .field("preserve", &self.preserve)
            .field("resume", &self.resume)
            .field("max_outstanding", &self.max_outstanding)
            .field("block_size", &self.block_size)
            .field("sparse", &self.sparse)
            .finish_non_exhaustive()
    }
}

impl TransferOptions {
    fn report(&self, path: &str, transferred: u64, total: Option<u64>) {
        if let Some(p) = &self.progress {
            p(&Progress {
                path: path.to_string(),
                transferred,
                total,
            });
        }
    }

    fn outstanding(&self) -> usize {
        self.max_outstanding.max(1)
    }
}

fn local_err(path: &Path, e: std::io::Error) -> Error {
    Error::Io(std::io::Error::new(
        e.kind(),
        format!("{}: {e}", path.display()),
    ))
}

fn file_time(t: u32) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::from(t))
}

fn unix_secs(t: std::io::Result<SystemTime>) -> u32 {
    t.ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

fn is_zero(b: &[u8]) -> bool {
    b.iter().all(|&x| x == 0)
}

/// Sets local permissions and times from remote attributes.
fn apply_local(path: &Path, attrs: &Attrs, file: Option<&std::fs::File>) -> Result<()> {
    if let Some(mode) = attrs.permissions {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o7777))
            .map_err(|e| local_err(path, e))?;
    }
    if let Some((atime, mtime)) = attrs.times {
        let times = std::fs::FileTimes::new()
            .set_accessed(file_time(atime))
            .set_modified(file_time(mtime));
        let f = match file {
            Some(f) => f.try_clone(),
            None => std::fs::File::open(path),
        }
        .map_err(|e| local_err(path, e))?;
        f.set_times(times).map_err(|e| local_err(path, e))?;
    }
    Ok(())
}

/// Remote attributes (times, permissions) from local metadata.
fn local_attrs(meta: &std::fs::Metadata, times: bool) -> Attrs {
    Attrs {
        permissions: Some(meta.permissions().mode() & 0o7777),
        times: times.then(|| (unix_secs(meta.accessed()), unix_secs(meta.modified()))),
        ..Attrs::default()
    }
}

impl SftpClient {
    fn block(&self, opts: &TransferOptions, write: bool) -> u32 {
        opts.block_size
            .unwrap_or(if write {
                self.write_len()
            } else {
                self.read_len()
            })
            .clamp(1, whelk_sftp::codec::DEFAULT_MAX_READ)
    }

    /// Reads `handle` from `start` to its end with up to `max_outstanding` READs in flight,
    /// handing each block to `sink(offset, data)`. The sink may return a pending WRITE
    /// whose status is checked before too many pile up. Returns the end of file.
    async fn read_pipeline<F>(
        &self,
        path: &str,
        handle: &Handle,
        start: u64,
        total: Option<u64>,
        opts: &TransferOptions,
        mut sink: F,
    ) -> Result<u64>
    where
        F: FnMut(u64, Bytes) -> Result<Option<oneshot::Receiver<Reply>>>,
    {
        let block = self.block(opts, false);
        let max = opts.outstanding();
        let mut reads: VecDeque<(u64, u32, oneshot::Receiver<Reply>)> = VecDeque::new();
        let mut writes: VecDeque<oneshot::Receiver<Reply>> = VecDeque::new();
        let mut next = start;
        let mut eof: Option<u64> = None;
        let mut done = start;
        loop {
            while reads.len() < max && eof.is_none() {
                let rx = self.send(Request::Read {
                    handle: handle.clone(),
                    offset: next,
                    len: block,
                })?;
                reads.push_back((next, block, rx));
                next += u64::from(block);
            }
            let Some((off, len, rx)) = reads.pop_front() else {
                break;
            };
            match expect_data(path, self.recv(rx).await?)? {
                ReadResult::Eof => eof = Some(eof.map_or(off, |e| e.min(off))),
                ReadResult::Data(d) => {
                    let n = d.len() as u64;
                    if n == 0 {
                        eof = Some(eof.map_or(off, |e| e.min(off)));
                        continue;
                    }
                    if let Some(w) = sink(off, d)? {
                        writes.push_back(w);
                    }
                    while writes.len() >= max {
                        if let Some(w) = writes.pop_front() {
                            expect_ok(path, self.recv(w).await?)?;
                        }
                    }
                    done += n;
                    opts.report(path, done, total);
                    let asked = u64::from(len);
                    if n < asked && eof.is_none_or(|e| off + n < e) {
                        // A short read: ask for the rest of that block.
                        let rest = u32::try_from(asked - n).unwrap_or(block);
                        let rx = self.send(Request::Read {
                            handle: handle.clone(),
                            offset: off + n,
                            len: rest,
                        })?;
                        reads.push_back((off + n, rest, rx));
                    }
                }
            }
        }
        for w in writes {
            expect_ok(path, self.recv(w).await?)?;
        }
        Ok(eof.unwrap_or(next))
    }

    /// Downloads `remote` to `local` (into it, if `local` is a directory). A directory needs
    /// [`TransferOptions::recursive`]. Returns the bytes transferred.
    pub async fn get(
        &self,
        remote: &str,
        local: impl AsRef<Path>,
        opts: &TransferOptions,
    ) -> Result<u64> {
        let local = local.as_ref();
        let target = if local.is_dir() {
            local.join(basename(remote))
        } else {
            local.to_path_buf()
        };
        self.download(remote, &target, opts).await
    }

    /// Downloads `remote` to exactly `local` (no "into the directory" rule: a directory
    /// tree is merged into an existing `local` directory, like `sftp`'s `get -r`).
    pub async fn download(
        &self,
        remote: &str,
        local: impl AsRef<Path>,
        opts: &TransferOptions,
    ) -> Result<u64> {
        let target = local.as_ref();
        let attrs = self.stat(remote).await?;
        if attrs.is_dir() {
            if !opts.recursive {
                return Err(Error::Invalid(format!(
                    "{remote}: is a directory (use recursive)"
                )));
            }
            return Box::pin(self.get_dir(remote, target, &attrs, opts)).await;
        }
        self.download_file(remote, target, &attrs, opts).await
    }

    /// [`SftpClient::get`] that resumes a partial download (`reget`).
    pub async fn reget(
        &self,
        remote: &str,
        local: impl AsRef<Path>,
        opts: &TransferOptions,
    ) -> Result<u64> {
        let opts = TransferOptions {
            resume: true,
            ..opts.clone()
        };
        self.get(remote, local, &opts).await
    }

    async fn get_dir(
        &self,
        remote: &str,
        local: &Path,
        attrs: &Attrs,
        opts: &TransferOptions,
    ) -> Result<u64> {
        std::fs::create_dir_all(local).map_err(|e| local_err(local, e))?;
        let mut total = 0;
        for n in self.scandir(remote).await? {
            if !n.is_safe_component() {
                return Err(Error::Invalid(format!(
                    "{remote}: unsafe name {:?} in listing",
                    n.filename
                )));
            }
            let name = n.filename.to_string_lossy().into_owned();
            let child = join(remote, &name);
            let target = local.join(&name);
            let a = if n.attrs.is_symlink() {
                // Follow links to files; links to directories are not followed (loops).
                match self.stat(&child).await {
                    Ok(a) if a.is_file() => a,
                    _ => continue,
                }
            } else {
                n.attrs.clone()
            };
            if a.is_dir() {
                total += Box::pin(self.get_dir(&child, &target, &a, opts)).await?;
            } else if a.is_file() {
                total += self.download_file(&child, &target, &a, opts).await?;
            }
        }
        if opts.preserve {
            apply_local(local, attrs, None)?;
        }
        Ok(total)
    }

    async fn download_file(
        &self,
        remote: &str,
        local: &Path,
        attrs: &Attrs,
        opts: &TransferOptions,
    ) -> Result<u64> {
        let f = self.open(remote).await?;
        let handle = f
            .raw_handle()
            .cloned()
            .ok_or_else(|| Error::Invalid("file closed".into()))?;
        let start = if opts.resume {
            match std::fs::metadata(local) {
                Ok(m) => m.len(),
                Err(_) => 0,
            }
        } else {
            0
        };
        if let Some(size) = attrs.size
            && start > size
        {
            return Err(Error::Invalid(format!(
                "{}: local file is larger than remote {remote} ({start} > {size})",
                local.display()
            )));
        }
        let out = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(!opts.resume)
            .open(local)
            .map_err(|e| local_err(local, e))?;
        let sparse = opts.sparse;
        // Until the download completes, the local file is cut back to what it holds
        // without a gap whenever the download stops (an error, or the future dropped:
        // an interrupted `get`), so that a resume continues from there, as OpenSSH's
        // sftp does.
        let partial = PartialFile::new(&out, start);
        let end = self
            .read_pipeline(remote, &handle, start, attrs.size, opts, |off, data| {
                if !(sparse && is_zero(&data)) {
                    out.write_all_at(&data, off)
                        .map_err(|e| local_err(local, e))?;
                }
                partial.written(off, data.len() as u64);
                Ok(None)
            })
            .await?;
        partial.complete();
        out.set_len(end).map_err(|e| local_err(local, e))?;
        f.close().await?;
        if opts.preserve {
            apply_local(local, attrs, Some(&out))?;
        }
        Ok(end - start)
    }

    /// Uploads `local` to `remote` (into it, if `remote` is a directory). A directory needs
    /// [`TransferOptions::recursive`]. Returns the bytes transferred.
    pub async fn put(
        &self,
        local: impl AsRef<Path>,
        remote: &str,
        opts: &TransferOptions,
    ) -> Result<u64> {
        let local = local.as_ref();
        let name = local
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let target = if !name.is_empty() && self.isdir(remote).await? {
            join(remote, &name)
        } else {
            remote.to_string()
        };
        self.upload(local, &target, opts).await
    }

    /// Uploads `local` to exactly `remote` (no "into the directory" rule: a directory tree
    /// is merged into an existing `remote` directory, like `sftp`'s `put -r`).
    pub async fn upload(
        &self,
        local: impl AsRef<Path>,
        remote: &str,
        opts: &TransferOptions,
    ) -> Result<u64> {
        let local = local.as_ref();
        let target = remote;
        let meta = std::fs::metadata(local).map_err(|e| local_err(local, e))?;
        if meta.is_dir() {
            if !opts.recursive {
                return Err(Error::Invalid(format!(
                    "{}: is a directory (use recursive)",
                    local.display()
                )));
            }
            return Box::pin(self.put_dir(local, target, &meta, opts)).await;
        }
        self.upload_file(local, target, &meta, opts).await
    }

    /// [`SftpClient::put`] that resumes a partial upload (`reput`).
    pub async fn reput(
        &self,
        local: impl AsRef<Path>,
        remote: &str,
        opts: &TransferOptions,
    ) -> Result<u64> {
        let opts = TransferOptions {
            resume: true,
            ..opts.clone()
        };
        self.put(local, remote, &opts).await
    }

    async fn put_dir(
        &self,
        local: &Path,
        remote: &str,
        meta: &std::fs::Metadata,
        opts: &TransferOptions,
    ) -> Result<u64> {
        match self.stat(remote).await {
            Ok(a) if a.is_dir() => {}
            Ok(_) => return Err(Error::Invalid(format!("{remote}: not a directory"))),
            Err(e) if e.is_not_found() => {
                self.mkdir(remote, Some(meta.permissions().mode() & 0o777 | 0o700))
                    .await?;
            }
            Err(e) => return Err(e),
        }
        let mut entries: Vec<_> = std::fs::read_dir(local)
            .map_err(|e| local_err(local, e))?
            .filter_map(std::result::Result::ok)
            .collect();
        entries.sort_by_key(std::fs::DirEntry::file_name);
        let mut total = 0;
        for e in entries {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            let child = join(remote, &name);
            // Symlinks are followed to files; symlinked directories are skipped (loops).
            let Ok(m) = std::fs::metadata(&path) else {
                continue;
            };
            let is_link = e.file_type().is_ok_and(|t| t.is_symlink());
            if m.is_dir() && !is_link {
                total += Box::pin(self.put_dir(&path, &child, &m, opts)).await?;
            } else if m.is_file() {
                total += self.upload_file(&path, &child, &m, opts).await?;
            }
        }
        if opts.preserve {
            self.setstat(remote, local_attrs(meta, true)).await?;
        }
        Ok(total)
    }

    async fn upload_file(
        &self,
        local: &Path,
        remote: &str,
        meta: &std::fs::Metadata,
        opts: &TransferOptions,
    ) -> Result<u64> {
        let src = std::fs::File::open(local).map_err(|e| local_err(local, e))?;
        let size = meta.len();
        let start = if opts.resume {
            match self.stat(remote).await {
                Ok(a) => a.size.unwrap_or(0),
                Err(e) if e.is_not_found() => 0,
                Err(e) => return Err(e),
            }
        } else {
            0
        };
        if start > size {
            return Err(Error::Invalid(format!(
                "{remote}: remote file is larger than local {} ({start} > {size})",
                local.display()
            )));
        }
        let flags = if opts.resume {
            OpenFlags::WRITE | OpenFlags::CREAT
        } else {
            OpenFlags::WRITE | OpenFlags::CREAT | OpenFlags::TRUNC
        };
        let f = self
            .open_with(
                remote,
                flags,
                Attrs {
                    permissions: Some(meta.permissions().mode() & 0o777),
                    ..Attrs::default()
                },
            )
            .await?;
        let handle = f
            .raw_handle()
            .cloned()
            .ok_or_else(|| Error::Invalid("file closed".into()))?;
        let block = self.block(opts, true) as usize;
        let max = opts.outstanding();
        let shown = local.display().to_string();
        let mut queue: VecDeque<oneshot::Receiver<Reply>> = VecDeque::new();
        let mut off = start;
        let mut buf = vec![0u8; block];
        let mut skipped_tail = false;
        loop {
            let n = read_full_at(&src, &mut buf, off).map_err(|e| local_err(local, e))?;
            if n == 0 {
                break;
            }
            let chunk = buf.get(..n).unwrap_or_default();
            if opts.sparse && !opts.resume && is_zero(chunk) {
                skipped_tail = true;
            } else {
                skipped_tail = false;
                queue.push_back(self.send(Request::Write {
                    handle: handle.clone(),
                    offset: off,
                    data: Bytes::copy_from_slice(chunk),
                })?);
            }
            off += n as u64;
            while queue.len() >= max {
                if let Some(rx) = queue.pop_front() {
                    expect_ok(remote, self.recv(rx).await?)?;
                }
            }
            opts.report(&shown, off, Some(size));
        }
        for rx in queue {
            expect_ok(remote, self.recv(rx).await?)?;
        }
        if skipped_tail {
            f.set_len(off).await?;
        }
        if opts.preserve {
            f.set_metadata(local_attrs(meta, true)).await?;
        }
        f.close().await?;
        Ok(off - start)
    }

    /// Copies `src` to `dst` on the server: with `copy-data` when the server offers it (no
    /// data crosses the network), else by reading and writing through this client. A
    /// directory needs [`TransferOptions::recursive`]. Returns the bytes copied.
    pub async fn copy(&self, src: &str, dst: &str, opts: &TransferOptions) -> Result<u64> {
        self.copy_to(src, self, dst, opts).await
    }

    /// Copies `src` on this client's server to `dst` on `other`'s server, streaming through
    /// this machine (`scp -3`): reads pipelined here, each block written to `other` as it
    /// arrives, nothing stored locally (when `other` is this very client, the server copies
    /// with `copy-data` if it offers it, as [`SftpClient::copy`]). A directory `dst`
    /// receives `src` under its own name; a directory `src` needs
    /// [`TransferOptions::recursive`]. Blocks are at most `other`'s write length. Returns
    /// the bytes copied.
    pub async fn copy_to(
        &self,
        src: &str,
        other: &Self,
        dst: &str,
        opts: &TransferOptions,
    ) -> Result<u64> {
        let attrs = self.stat(src).await?;
        let target = if other.isdir(dst).await? {
            join(dst, basename(src))
        } else {
            dst.to_string()
        };
        let mut opts = opts.clone();
        let block = opts
            .block_size
            .unwrap_or(u32::MAX)
            .min(self.read_len())
            .min(other.write_len());
        opts.block_size = Some(block);
        if attrs.is_dir() {
            if !opts.recursive {
                return Err(Error::Invalid(format!(
                    "{src}: is a directory (use recursive)"
                )));
            }
            return Box::pin(self.copy_dir_to(src, other, &target, &attrs, &opts)).await;
        }
        self.copy_file_to(src, other, &target, &attrs, &opts).await
    }

    async fn copy_dir_to(
        &self,
        src: &str,
        other: &Self,
        dst: &str,
        attrs: &Attrs,
        opts: &TransferOptions,
    ) -> Result<u64> {
        if !other.isdir(dst).await? {
            other
                .mkdir(dst, attrs.permissions.map(|p| p & 0o777 | 0o700))
                .await?;
        }
        let mut total = 0;
        for n in self.scandir(src).await? {
            if !n.is_safe_component() {
                return Err(Error::Invalid(format!(
                    "{src}: unsafe name {:?} in listing",
                    n.filename
                )));
            }
            let name = n.filename.to_string_lossy().into_owned();
            let (s, d) = (join(src, &name), join(dst, &name));
            if n.attrs.is_dir() {
                total += Box::pin(self.copy_dir_to(&s, other, &d, &n.attrs, opts)).await?;
            } else if n.attrs.is_file() {
                total += self.copy_file_to(&s, other, &d, &n.attrs, opts).await?;
            }
        }
        if opts.preserve {
            other
                .setstat(
                    dst,
                    Attrs {
                        permissions: attrs.permissions.map(|p| p & 0o7777),
                        times: attrs.times,
                        ..Attrs::default()
                    },
                )
                .await?;
        }
        Ok(total)
    }

    async fn copy_file_to(
        &self,
        src: &str,
        other: &Self,
        dst: &str,
        attrs: &Attrs,
        opts: &TransferOptions,
    ) -> Result<u64> {
        let from = self.open(src).await?;
        let mut to = other
            .open_with(
                dst,
                OpenFlags::WRITE | OpenFlags::CREAT | OpenFlags::TRUNC,
                Attrs {
                    permissions: attrs.permissions.map(|p| p & 0o777),
                    ..Attrs::default()
                },
            )
            .await?;
        let size = if self.same_session(other) && self.supports(ext::COPY_DATA) {
            let (Some(rh), Some(wh)) = (from.raw_handle().cloned(), to.raw_handle().cloned())
            else {
                return Err(Error::Invalid("file closed".into()));
            };
            let reply = self
                .call(Request::Extended(ExtendedRequest::CopyData {
                    read_handle: rh,
                    read_offset: 0,
                    read_len: 0,
                    write_handle: wh,
                    write_offset: 0,
                }))
                .await?;
            expect_ok(src, reply)?;
            let size = to.metadata().await?.size.unwrap_or(0);
            opts.report(src, size, Some(size));
            size
        } else {
            self.pipe(&from, &mut to, attrs.size, opts).await?
        };
        if opts.preserve {
            to.set_metadata(Attrs {
                permissions: attrs.permissions.map(|p| p & 0o7777),
                times: attrs.times,
                ..Attrs::default()
            })
            .await?;
        }
        from.close().await?;
        to.close().await?;
        Ok(size)
    }

    /// Downloads every match of every pattern (wildcards expand on the server) into the
    /// local directory `local_dir`. No match for a pattern is an error.
    pub async fn mget(
        &self,
        patterns: &[&str],
        local_dir: impl AsRef<Path>,
        opts: &TransferOptions,
    ) -> Result<u64> {
        let dir = local_dir.as_ref();
        let mut total = 0;
        for p in patterns {
            let matches = if glob::has_magic(p) {
                self.glob(p).await?
            } else {
                vec![(*p).to_string()]
            };
            if matches.is_empty() {
                return Err(Error::Invalid(format!("{p}: no match")));
            }
            for m in matches {
                total += self.download(&m, dir.join(basename(&m)), opts).await?;
            }
        }
        Ok(total)
    }

    /// Uploads every match of every local pattern into the remote directory `remote_dir`.
    pub async fn mput(
        &self,
        patterns: &[&str],
        remote_dir: &str,
        opts: &TransferOptions,
    ) -> Result<u64> {
        let mut total = 0;
        for p in patterns {
            let matches: Vec<PathBuf> = glob::local_glob(p)?;
            if matches.is_empty() {
                return Err(Error::Invalid(format!("{p}: no match")));
            }
            for m in matches {
                let name = m
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                total += self.upload(&m, &join(remote_dir, &name), opts).await?;
            }
        }
        Ok(total)
    }

    /// Copies every match of every remote pattern into the remote directory `remote_dir`.
    pub async fn mcopy(
        &self,
        patterns: &[&str],
        remote_dir: &str,
        opts: &TransferOptions,
    ) -> Result<u64> {
        let mut total = 0;
        for p in patterns {
            let matches = if glob::has_magic(p) {
                self.glob(p).await?
            } else {
                vec![(*p).to_string()]
            };
            if matches.is_empty() {
                return Err(Error::Invalid(format!("{p}: no match")));
            }
            for m in matches {
                total += self.copy(&m, remote_dir, opts).await?;
            }
        }
        Ok(total)
    }

    /// Streams `len` bytes from an open remote file into `dst` at its current position;
    /// a helper for copies between two servers.
    pub async fn stream_to(
        &self,
        src: &File,
        dst: &mut File,
        opts: &TransferOptions,
    ) -> Result<u64> {
        self.pipe(src, dst, None, opts).await
    }

    /// [`SftpClient::stream_to`], reporting progress against `total` when known.
    async fn pipe(
        &self,
        src: &File,
        dst: &mut File,
        total: Option<u64>,
        opts: &TransferOptions,
    ) -> Result<u64> {
        let Some(rh) = src.raw_handle().cloned() else {
            return Err(Error::Invalid("file closed".into()));
        };
        let Some(wh) = dst.raw_handle().cloned() else {
            return Err(Error::Invalid("file closed".into()));
        };
        let target = dst.client_handle();
        let end = self
            .read_pipeline(src.path(), &rh, 0, total, opts, |off, data| {
                Ok(Some(target.send(Request::Write {
                    handle: wh.clone(),
                    offset: off,
                    data,
                })?))
            })
            .await?;
        dst.set_position(end);
        Ok(end)
    }
}

/// Reads until `buf` is full or the file ends.
fn read_full_at(f: &std::fs::File, buf: &mut [u8], off: u64) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let Some(rest) = buf.get_mut(n..) else { break };
        match f.read_at(rest, off + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::PartialFile;

    #[test]
    fn a_stopped_download_is_cut_back_to_its_gap_free_part() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("partial");
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(100).unwrap();
        {
            let partial = PartialFile::new(&file, 10);
            partial.written(10, 10);
            // A short read at 20: 5 bytes come, the rest of that block later; meanwhile
            // later blocks arrive.
            partial.written(20, 5);
            partial.written(30, 10);
            partial.written(50, 10);
            partial.written(25, 5);
        }
        // 10..40 has no gap; 50..60 lies beyond the missing 40..50.
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 40);

        let partial = PartialFile::new(&file, 40);
        partial.written(40, 10);
        partial.written(50, 10);
        partial.complete();
        drop(partial);
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            40,
            "left as it was"
        );

        {
            let partial = PartialFile::new(&file, 0);
            partial.written(5, 5);
        }
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }
}
