//! SCP: copies over SFTP (what OpenSSH 9's `scp` does by default) or with the legacy
//! scp/rcp protocol (`scp -O`), both directions, recursive (`-r`) and preserving times and
//! modes (`-p`), and the server side of the legacy protocol ([`serve_sink`] for `scp -t`,
//! [`serve_source`] for `scp -f`, [`serve_command`] to dispatch an exec request).
//!
//! The legacy protocol (OpenSSH `scp.c`): the sink acknowledges with a zero byte (a `\x01`
//! warning or `\x02` fatal byte followed by a message line otherwise); the source sends
//! `T<mtime> 0 <atime> 0` (with `-p`), `C<mode> <size> <name>` followed by the data and a
//! zero byte, `D<mode> 0 <name>` to enter a directory and `E` to leave it, each acknowledged.
//! Names the sink receives must be single path components (no `/`, `.` or `..`; CVE-2019-6111,
//! CVE-2018-20685); lines are limited to 8 KiB.
//!
//! ```no_run
//! # async fn demo(client: &whelk_tokio::Client) -> Result<(), whelk_tokio::scp::Error> {
//! use whelk_tokio::scp::{Options, Protocol, upload, download};
//! let opts = Options { recursive: true, preserve: true, protocol: Protocol::Legacy };
//! upload(client, &["dir".as_ref()], "backup/", &opts).await?;
//! download(client, &["backup/dir"], "restored".as_ref(), &opts).await?;
//! # Ok(()) }
//! ```

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::sftp::{SftpClient, TransferOptions};

pub use crate::sftp::{Error, Result};

/// Which protocol carries the copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// SFTP (the `sftp` subsystem), OpenSSH 9's default.
    #[default]
    Sftp,
    /// The legacy scp/rcp protocol: runs `scp -t` / `scp -f` on the server (`scp -O`).
    Legacy,
}

/// Copy settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Copy directories recursively (`-r`).
    pub recursive: bool,
    /// Preserve modification/access times and modes (`-p`).
    pub preserve: bool,
    /// The protocol.
    pub protocol: Protocol,
}

/// The longest protocol line accepted.
pub const MAX_LINE: usize = 8192;

fn bad(msg: impl Into<String>) -> Error {
    Error::Invalid(msg.into())
}

/// Quotes `s` for the remote shell; with `glob`, `*?[]` stay unquoted so the remote shell
/// expands them (like OpenSSH's scp does for sources).
#[must_use]
pub fn shell_quote(s: &str, glob: bool) -> String {
    let mut out = String::new();
    let mut open = false;
    for c in s.chars() {
        let magic = glob && matches!(c, '*' | '?' | '[' | ']');
        if magic {
            if open {
                out.push('\'');
                open = false;
            }
            out.push(c);
        } else if c == '\'' {
            if open {
                out.push('\'');
                open = false;
            }
            out.push_str("\\'");
        } else {
            if !open {
                out.push('\'');
                open = true;
            }
            out.push(c);
        }
    }
    if open {
        out.push('\'');
    }
    if out.is_empty() {
        out.push_str("''");
    }
    out
}

// ----- the protocol, both roles -----

/// Reads one line (without `\n`), at most [`MAX_LINE`] bytes; `None` at a clean EOF.
async fn read_line<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    loop {
        let mut b = [0u8; 1];
        if r.read(&mut b).await? == 0 {
            return if line.is_empty() {
                Ok(None)
            } else {
                Err(bad("scp: truncated protocol line"))
            };
        }
        if b[0] == b'\n' {
            return Ok(Some(line));
        }
        if line.len() >= MAX_LINE {
            return Err(bad("scp: protocol line too long"));
        }
        line.push(b[0]);
    }
}

/// Reads an acknowledgement: `Ok(None)` for success, `Ok(Some(msg))` for a warning
/// (`\x01`), an error for a fatal answer (`\x02`) or EOF.
async fn response<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<String>> {
    let mut b = [0u8; 1];
    if r.read(&mut b).await? == 0 {
        return Err(bad(
            "scp: connection closed while waiting for an acknowledgement",
        ));
    }
    match b[0] {
        0 => Ok(None),
        code @ (1 | 2) => {
            let msg = read_line(r).await?.unwrap_or_default();
            let msg = String::from_utf8_lossy(&msg).into_owned();
            if code == 2 {
                Err(bad(msg))
            } else {
                Ok(Some(msg))
            }
        }
        other => Err(bad(format!(
            "scp: unexpected acknowledgement byte {other:#04x}"
        ))),
    }
}

async fn ack<W: AsyncWrite + Unpin>(w: &mut W) -> Result<()> {
    w.write_all(b"\0").await?;
    w.flush().await?;
    Ok(())
}

async fn warn<W: AsyncWrite + Unpin>(w: &mut W, msg: &str) -> Result<()> {
    let line = format!("\x01scp: {}\n", msg.replace('\n', " "));
    w.write_all(line.as_bytes()).await?;
    w.flush().await?;
    Ok(())
}

fn secs(t: std::io::Result<SystemTime>) -> u64 {
    t.ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

fn set_times(path: &Path, mtime: u64, atime: u64) -> std::io::Result<()> {
    let f = std::fs::File::open(path)?;
    f.set_times(
        std::fs::FileTimes::new()
            .set_modified(UNIX_EPOCH + Duration::from_secs(mtime))
            .set_accessed(UNIX_EPOCH + Duration::from_secs(atime)),
    )
}

/// The source role: sends `paths` (after the sink's first acknowledgement). Problems with
/// one path are sent as warnings and counted; returns how many paths failed.
async fn source<R, W>(r: &mut R, w: &mut W, paths: &[PathBuf], opts: &Options) -> Result<u32>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    if let Some(msg) = response(r).await? {
        return Err(bad(msg));
    }
    let mut errors = 0;
    for p in paths {
        errors += Box::pin(send_path(r, w, p, opts)).await?;
    }
    Ok(errors)
}

async fn send_path<R, W>(r: &mut R, w: &mut W, path: &Path, opts: &Options) -> Result<u32>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let shown = path.display().to_string();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            warn(w, &format!("{shown}: {e}")).await?;
            return Ok(1);
        }
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| ".".into());
    if name.contains('\n') {
        warn(w, &format!("{shown}: name contains a newline")).await?;
        return Ok(1);
    }
    let mode = meta.permissions().mode() & 0o7777;
    if opts.preserve {
        let line = format!("T{} 0 {} 0\n", secs(meta.modified()), secs(meta.accessed()));
        w.write_all(line.as_bytes()).await?;
        w.flush().await?;
        if let Some(m) = response(r).await? {
            return Err(bad(m));
        }
    }
    if meta.is_dir() {
        if !opts.recursive {
            warn(w, &format!("{shown}: not a regular file")).await?;
            return Ok(1);
        }
        let entries = match std::fs::read_dir(path) {
            Ok(rd) => rd,
            Err(e) => {
                warn(w, &format!("{shown}: {e}")).await?;
                return Ok(1);
            }
        };
        w.write_all(format!("D{mode:04o} 0 {name}\n").as_bytes())
            .await?;
        w.flush().await?;
        if let Some(m) = response(r).await? {
            return Err(bad(m));
        }
        let mut children: Vec<PathBuf> = entries
            .filter_map(std::result::Result::ok)
            .map(|e| e.path())
            .collect();
        children.sort();
        let mut errors = 0;
        for c in children {
            errors += Box::pin(send_path(r, w, &c, opts)).await?;
        }
        w.write_all(b"E\n").await?;
        w.flush().await?;
        if let Some(m) = response(r).await? {
            return Err(bad(m));
        }
        return Ok(errors);
    }
    if !meta.is_file() {
        warn(w, &format!("{shown}: not a regular file")).await?;
        return Ok(1);
    }
    let mut f = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(e) => {
            warn(w, &format!("{shown}: {e}")).await?;
            return Ok(1);
        }
    };
    let size = meta.len();
    w.write_all(format!("C{mode:04o} {size} {name}\n").as_bytes())
        .await?;
    w.flush().await?;
    if let Some(m) = response(r).await? {
        return Err(bad(m));
    }
    let mut left = size;
    let mut buf = vec![0u8; 128 * 1024];
    let mut failed = None;
    while left > 0 {
        let want = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
        let chunk = buf.get_mut(..want).unwrap_or_default();
        let n = match f.read(chunk).await {
            Ok(0) => {
                failed = Some("file shrank while being sent".to_string());
                0
            }
            Ok(n) => n,
            Err(e) => {
                failed = Some(e.to_string());
                0
            }
        };
        if n == 0 {
            // Keep the protocol in step: pad with zeros, then report the error.
            let pad = vec![0u8; buf.len()];
            while left > 0 {
                let k = usize::try_from(left.min(pad.len() as u64)).unwrap_or(pad.len());
                w.write_all(pad.get(..k).unwrap_or_default()).await?;
                left -= k as u64;
            }
            break;
        }
        w.write_all(buf.get(..n).unwrap_or_default()).await?;
        left -= n as u64;
    }
    match &failed {
        None => ack(w).await?,
        Some(e) => warn(w, &format!("{shown}: {e}")).await?,
    }
    if let Some(m) = response(r).await? {
        return Err(bad(m));
    }
    Ok(u32::from(failed.is_some()))
}

fn parse_times(line: &[u8]) -> Option<(u64, u64)> {
    let s = std::str::from_utf8(line.get(1..)?).ok()?;
    let mut it = s.split(' ');
    let mtime = it.next()?.parse().ok()?;
    let _ = it.next()?;
    let atime = it.next()?.parse().ok()?;
    Some((mtime, atime))
}

fn parse_entry(line: &[u8]) -> Option<(u32, u64, String)> {
    let s = std::str::from_utf8(line.get(1..)?).ok()?;
    let (mode, rest) = s.split_once(' ')?;
    let (size, name) = rest.split_once(' ')?;
    if mode.len() != 4 || !mode.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    Some((
        u32::from_str_radix(mode, 8).ok()?,
        size.parse().ok()?,
        name.to_string(),
    ))
}

fn safe_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

type OpenDir = (PathBuf, Option<(u64, u64)>, u32);

/// The sink role: acknowledges, then receives files into `target` (into it if it is a
/// directory). Returns how many entries failed (warnings from the source included).
async fn sink<R, W>(
    r: &mut R,
    w: &mut W,
    target: &Path,
    target_should_be_dir: bool,
    opts: &Options,
    expected: &[String],
) -> Result<u32>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let target_is_dir = target.is_dir();
    if target_should_be_dir && !target_is_dir {
        let msg = format!("\x02scp: {}: not a directory\n", target.display());
        w.write_all(msg.as_bytes()).await?;
        w.flush().await?;
        return Err(bad(format!("{}: not a directory", target.display())));
    }
    ack(w).await?;
    let mut errors = 0;
    // (directory, its times from a T line, its mode)
    let mut dirs: Vec<OpenDir> = Vec::new();
    let mut times: Option<(u64, u64)> = None;
    let mut buf = vec![0u8; 128 * 1024];
    loop {
        let Some(line) = read_line(r).await? else {
            if dirs.is_empty() {
                return Ok(errors);
            }
            return Err(bad("scp: connection closed inside a directory"));
        };
        let first = line.first().copied().unwrap_or_default();
        match first {
            1 | 2 => {
                let msg = String::from_utf8_lossy(line.get(1..).unwrap_or_default()).into_owned();
                errors += 1;
                if first == 2 {
                    return Err(bad(msg));
                }
                tracing_msg(&msg);
            }
            b'E' => {
                let Some((dir, t, mode)) = dirs.pop() else {
                    return Err(bad("scp: unexpected E"));
                };
                if opts.preserve {
                    let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode));
                    if let Some((m, a)) = t {
                        let _ = set_times(&dir, m, a);
                    }
                }
                ack(w).await?;
            }
            b'T' => {
                times = Some(parse_times(&line).ok_or_else(|| bad("scp: bad T line"))?);
                ack(w).await?;
            }
            b'C' | b'D' => {
                let (mode, size, name) =
                    parse_entry(&line).ok_or_else(|| bad("scp: bad C/D line"))?;
                if !safe_name(&name) {
                    let msg = format!("\x02scp: refusing unsafe name {name:?}\n");
                    w.write_all(msg.as_bytes()).await?;
                    w.flush().await?;
                    return Err(bad(format!("scp: refusing unsafe name {name:?}")));
                }
                // CVE-2019-6111: a top-level name must be one we asked for.
                if dirs.is_empty()
                    && !expected.is_empty()
                    && !expected
                        .iter()
                        .any(|p| crate::sftp::glob::fnmatch(p, &name) || p == &name)
                {
                    let msg = format!(
                        "\x02scp: protocol error: filename {name:?} does not match request\n"
                    );
                    w.write_all(msg.as_bytes()).await?;
                    w.flush().await?;
                    return Err(bad(format!(
                        "scp: protocol error: filename {name:?} does not match request"
                    )));
                }
                let dest = match dirs.last() {
                    Some((d, _, _)) => d.join(&name),
                    None if target_is_dir => target.join(&name),
                    None => target.to_path_buf(),
                };
                let t = times.take();
                if first == b'D' {
                    if !opts.recursive {
                        let msg = "\x02scp: received a directory without -r\n";
                        w.write_all(msg.as_bytes()).await?;
                        w.flush().await?;
                        return Err(bad("scp: received a directory without -r"));
                    }
                    if !dest.is_dir() {
                        if let Err(e) = std::fs::create_dir(&dest) {
                            let msg = format!("\x02scp: {}: {e}\n", dest.display());
                            w.write_all(msg.as_bytes()).await?;
                            w.flush().await?;
                            return Err(bad(format!("{}: {e}", dest.display())));
                        }
                        // Writable while we fill it; -p sets the real mode at E.
                        let _ = std::fs::set_permissions(
                            &dest,
                            std::fs::Permissions::from_mode(mode | 0o700),
                        );
                    }
                    dirs.push((dest, t, mode));
                    ack(w).await?;
                    continue;
                }
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(mode & 0o777)
                    .open(&dest);
                ack(w).await?;
                let mut file = file.map(tokio::fs::File::from_std);
                let mut write_err: Option<String> = file.as_ref().err().map(|e| e.to_string());
                let mut left = size;
                while left > 0 {
                    let want = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
                    let n = r.read(buf.get_mut(..want).unwrap_or_default()).await?;
                    if n == 0 {
                        return Err(bad("scp: connection closed in the middle of a file"));
                    }
                    left -= n as u64;
                    if write_err.is_none()
                        && let Ok(f) = file.as_mut()
                        && let Err(e) = f.write_all(buf.get(..n).unwrap_or_default()).await
                    {
                        write_err = Some(e.to_string());
                    }
                }
                if let Ok(f) = file.as_mut()
                    && let Err(e) = f.flush().await
                {
                    write_err.get_or_insert(e.to_string());
                }
                drop(file);
                // The source's status byte after the data.
                if let Some(m) = response(r).await? {
                    errors += 1;
                    tracing_msg(&m);
                }
                if write_err.is_none() && opts.preserve {
                    let _ = std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode));
                    if let Some((m, a)) = t
                        && let Err(e) = set_times(&dest, m, a)
                    {
                        write_err = Some(e.to_string());
                    }
                }
                match write_err {
                    None => ack(w).await?,
                    Some(e) => {
                        errors += 1;
                        warn(w, &format!("{}: {e}", dest.display())).await?;
                    }
                }
            }
            _ => {
                let msg = "\x02scp: protocol error: unexpected line\n";
                w.write_all(msg.as_bytes()).await?;
                w.flush().await?;
                return Err(bad("scp: protocol error: unexpected line"));
            }
        }
    }
}

fn tracing_msg(msg: &str) {
    // Warnings from the peer are counted; the caller reports the failure.
    let _ = msg;
}

// ----- server side -----

/// What an `scp -t` / `scp -f` command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCommand {
    /// `true` for `-t` (the server receives), `false` for `-f` (the server sends).
    pub to: bool,
    /// `-r`.
    pub recursive: bool,
    /// `-p`.
    pub preserve: bool,
    /// `-d`: the target must be a directory.
    pub target_is_dir: bool,
    /// The paths (target for `-t`, sources for `-f`).
    pub paths: Vec<String>,
}

/// Parses an exec request like `scp -r -p -t -- /some/dir` (what OpenSSH's client sends);
/// `None` if it is not an scp server command. Paths are split on spaces; single quotes and
/// backslashes are honoured.
#[must_use]
pub fn parse_command(command: &str) -> Option<ServerCommand> {
    let words = split_words(command)?;
    let mut it = words.into_iter();
    let prog = it.next()?;
    if prog != "scp" && !prog.ends_with("/scp") {
        return None;
    }
    let mut cmd = ServerCommand {
        to: false,
        recursive: false,
        preserve: false,
        target_is_dir: false,
        paths: Vec::new(),
    };
    let mut mode = None;
    let mut options = true;
    for w in it {
        if options && w == "--" {
            options = false;
            continue;
        }
        if options && w.starts_with('-') && w.len() > 1 {
            for c in w.chars().skip(1) {
                match c {
                    't' => mode = Some(true),
                    'f' => mode = Some(false),
                    'r' => cmd.recursive = true,
                    'p' => cmd.preserve = true,
                    'd' => cmd.target_is_dir = true,
                    'v' | 'q' => {}
                    _ => return None,
                }
            }
            continue;
        }
        options = false;
        cmd.paths.push(w);
    }
    cmd.to = mode?;
    if cmd.paths.is_empty() || (cmd.to && cmd.paths.len() != 1) {
        return None;
    }
    Some(cmd)
}

fn split_words(s: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut has = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                has = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        x => cur.push(x),
                    }
                }
            }
            '"' => {
                has = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => cur.push(chars.next()?),
                        x => cur.push(x),
                    }
                }
            }
            '\\' => {
                has = true;
                cur.push(chars.next()?);
            }
            ' ' | '\t' => {
                if has {
                    words.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            x => {
                has = true;
                cur.push(x);
            }
        }
    }
    if has {
        words.push(cur);
    }
    Some(words)
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// `scp -t target`: receives files from the client on `stdin`, acknowledging on `stdout`.
/// Returns the exit status (0, or 1 if some entry failed).
pub async fn serve_sink<R, W>(
    mut stdin: R,
    mut stdout: W,
    target: &Path,
    opts: &Options,
    target_should_be_dir: bool,
) -> Result<u32>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let errors = sink(
        &mut stdin,
        &mut stdout,
        target,
        target_should_be_dir,
        opts,
        &[],
    )
    .await?;
    stdout.flush().await?;
    Ok(u32::from(errors > 0))
}

/// `scp -f sources...`: sends `sources` to the client. Returns the exit status (0, or 1 if
/// some source failed).
pub async fn serve_source<R, W>(
    mut stdin: R,
    mut stdout: W,
    sources: &[PathBuf],
    opts: &Options,
) -> Result<u32>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let errors = source(&mut stdin, &mut stdout, sources, opts).await?;
    stdout.flush().await?;
    Ok(u32::from(errors > 0))
}

/// Runs an `scp -t`/`scp -f` exec request with relative paths resolved against `base`
/// (a server's `Handler::exec` can hand scp commands here). Returns the exit status, or
/// `None` if `command` is not an scp server command. Source paths are used as given (no
/// wildcard expansion).
pub async fn serve_command<R, W>(
    command: &str,
    stdin: R,
    stdout: W,
    base: &Path,
) -> Option<Result<u32>>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let cmd = parse_command(command)?;
    let opts = Options {
        recursive: cmd.recursive,
        preserve: cmd.preserve,
        protocol: Protocol::Legacy,
    };
    Some(if cmd.to {
        let target = resolve(base, cmd.paths.first().map_or(".", String::as_str));
        serve_sink(stdin, stdout, &target, &opts, cmd.target_is_dir).await
    } else {
        let sources: Vec<PathBuf> = cmd.paths.iter().map(|p| resolve(base, p)).collect();
        serve_source(stdin, stdout, &sources, &opts).await
    })
}

// ----- client side -----

fn flags(opts: &Options) -> String {
    let mut f = String::new();
    if opts.recursive {
        f.push_str(" -r");
    }
    if opts.preserve {
        f.push_str(" -p");
    }
    f
}

async fn finish(session: &crate::Session, what: &str, errors: u32) -> Result<()> {
    let mut err = Vec::new();
    let mut se = session.stderr();
    let _ = tokio::time::timeout(Duration::from_secs(5), se.read_to_end(&mut err)).await;
    let st = session.wait().await?;
    let status = st.status.unwrap_or(255);
    if errors > 0 || status != 0 {
        let msg = String::from_utf8_lossy(&err);
        let last = msg
            .lines()
            .rev()
            .find(|l| !l.starts_with("debug"))
            .unwrap_or("");
        return Err(bad(format!(
            "{what}: {errors} error(s), remote exit status {status} {last}"
        )));
    }
    Ok(())
}

/// Copies local `sources` to `target` on the server (`scp src... host:target`). With
/// several sources (or a directory target) the files go into `target`, which must exist.
pub async fn upload(
    client: &crate::Client,
    sources: &[&Path],
    target: &str,
    opts: &Options,
) -> Result<()> {
    match opts.protocol {
        Protocol::Sftp => {
            let sftp = SftpClient::connect(client).await?;
            let t = TransferOptions {
                recursive: opts.recursive,
                preserve: opts.preserve,
                ..TransferOptions::default()
            };
            let target = if target.is_empty() { "." } else { target };
            if sources.len() > 1 && !sftp.isdir(target).await? {
                return Err(bad(format!("{target}: not a directory")));
            }
            for s in sources {
                sftp.put(s, target, &t).await?;
            }
            Ok(())
        }
        Protocol::Legacy => {
            let target = if target.is_empty() { "." } else { target };
            let dir_flag = if sources.len() > 1 { " -d" } else { "" };
            let cmd = format!(
                "scp{}{dir_flag} -t -- {}",
                flags(opts),
                shell_quote(target, false)
            );
            let session = client.exec(&cmd).await?;
            let mut r = session.stdout();
            let mut w = session.stdin();
            let paths: Vec<PathBuf> = sources.iter().map(|p| p.to_path_buf()).collect();
            let errors = source(&mut r, &mut w, &paths, opts).await?;
            w.shutdown_eof().await?;
            finish(&session, "scp upload", errors).await
        }
    }
}

/// Copies `sources` from the server to local `target` (`scp host:src... target`).
/// Wildcards in sources are expanded on the server.
pub async fn download(
    client: &crate::Client,
    sources: &[&str],
    target: &Path,
    opts: &Options,
) -> Result<()> {
    match opts.protocol {
        Protocol::Sftp => {
            let sftp = SftpClient::connect(client).await?;
            let t = TransferOptions {
                recursive: opts.recursive,
                preserve: opts.preserve,
                ..TransferOptions::default()
            };
            let all = expand_sources(&sftp, sources).await?;
            if all.len() > 1 && !target.is_dir() {
                return Err(bad(format!("{}: not a directory", target.display())));
            }
            for s in all {
                sftp.get(&s, target, &t).await?;
            }
            Ok(())
        }
        Protocol::Legacy => {
            let quoted: Vec<String> = sources
                .iter()
                .map(|s| shell_quote(if s.is_empty() { "." } else { s }, true))
                .collect();
            let cmd = format!("scp{} -f -- {}", flags(opts), quoted.join(" "));
            let session = client.exec(&cmd).await?;
            let mut r = session.stdout();
            let mut w = session.stdin();
            let should_be_dir = sources.len() > 1;
            // The names the server may send at the top level: the sources' last components
            // (patterns stay patterns); unknown when a name has shell syntax we do not model.
            let expected: Vec<String> = sources
                .iter()
                .map(|s| {
                    let t = s.trim_end_matches('/');
                    t.rsplit('/').next().unwrap_or(t).to_string()
                })
                .collect();
            let check = expected.iter().all(|e| {
                !e.is_empty() && e != "." && e != ".." && !e.contains(['{', '~', '$', '`', '\\'])
            });
            let expected = if check { expected } else { Vec::new() };
            let errors = sink(&mut r, &mut w, target, should_be_dir, opts, &expected).await?;
            w.shutdown_eof().await?;
            finish(&session, "scp download", errors).await
        }
    }
}

/// Copies `sources` on one server to `target` on another, through this machine (like
/// `scp -3`). With SFTP (the default) the data streams: each file is read from one server
/// and written to the other block by block ([`SftpClient::copy_to`]), nothing is stored
/// locally; wildcards in sources expand on the source server. With the legacy protocol
/// the files go through a private temporary directory (so every name the source sends is
/// checked as in [`download`]).
pub async fn copy_between(
    from: &crate::Client,
    sources: &[&str],
    to: &crate::Client,
    target: &str,
    opts: &Options,
) -> Result<()> {
    if opts.protocol == Protocol::Sftp {
        let src = SftpClient::connect(from).await?;
        let dst = SftpClient::connect(to).await?;
        let t = TransferOptions {
            recursive: opts.recursive,
            preserve: opts.preserve,
            ..TransferOptions::default()
        };
        let all = expand_sources(&src, sources).await?;
        let target = if target.is_empty() { "." } else { target };
        if all.len() > 1 && !dst.isdir(target).await? {
            return Err(bad(format!("{target}: not a directory")));
        }
        for s in all {
            src.copy_to(&s, &dst, target, &t).await?;
        }
        src.close();
        dst.close();
        return Ok(());
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let tmp = std::env::temp_dir().join(format!("whelk-scp-{}-{nanos}", std::process::id()));
    std::fs::create_dir(&tmp)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o700))?;
    let result = async {
        download(from, sources, &tmp, opts).await?;
        let mut names: Vec<PathBuf> = std::fs::read_dir(&tmp)?
            .filter_map(std::result::Result::ok)
            .map(|e| e.path())
            .collect();
        names.sort();
        let refs: Vec<&Path> = names.iter().map(PathBuf::as_path).collect();
        upload(to, &refs, target, opts).await
    }
    .await;
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

/// The remote source names with their glob patterns expanded on the server (an empty name is
/// the home directory, `.`); a pattern that matches nothing is an error, as in OpenSSH's scp.
async fn expand_sources(sftp: &SftpClient, sources: &[&str]) -> Result<Vec<String>> {
    let mut all = Vec::new();
    for s in sources {
        let s = if s.is_empty() { "." } else { s };
        if crate::sftp::glob::has_magic(s) {
            let m = sftp.glob(s).await?;
            if m.is_empty() {
                return Err(bad(format!("{s}: no match")));
            }
            all.extend(m);
        } else {
            all.push(s.to_string());
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        let c = parse_command("scp -r -p -t -- '/a b/c'").unwrap();
        assert!(c.to && c.recursive && c.preserve && !c.target_is_dir);
        assert_eq!(c.paths, ["/a b/c"]);
        let c = parse_command("scp -f x y").unwrap();
        assert!(!c.to);
        assert_eq!(c.paths, ["x", "y"]);
        assert!(parse_command("ls -t x").is_none());
        assert!(parse_command("scp -x -t y").is_none());
        assert!(parse_command("scp -t").is_none());
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("a b", false), "'a b'");
        assert_eq!(shell_quote("it's", false), "'it'\\''s'");
        assert_eq!(shell_quote("d/*.txt", true), "'d/'*'.txt'");
        assert_eq!(shell_quote("", false), "''");
        let words = split_words(&format!("scp -t {}", shell_quote("it's a *", false))).unwrap();
        assert_eq!(words[2], "it's a *");
    }

    #[test]
    fn entries() {
        assert_eq!(
            parse_entry(b"C0644 12 a b"),
            Some((0o644, 12, "a b".into()))
        );
        assert_eq!(parse_entry(b"C644 12 a"), None);
        assert_eq!(parse_times(b"T1 0 2 0"), Some((1, 2)));
        assert!(!safe_name("..") && !safe_name("a/b") && safe_name("ok"));
    }

    /// A source that sends a name the client did not ask for is refused (CVE-2019-6111), as
    /// is a path-like name (CVE-2018-20685 style `..`).
    #[tokio::test]
    async fn sink_refuses_unrequested_and_unsafe_names() {
        for (line, expected) in [
            (&b"C0644 3 evil.txt\n"[..], vec!["wanted.txt".to_string()]),
            (&b"C0644 3 ..\n"[..], Vec::new()),
            (&b"D0755 0 ../up\n"[..], Vec::new()),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let (mut ours, theirs) = tokio::io::duplex(1024);
            let (mut r, mut w) = tokio::io::split(theirs);
            let opts = Options {
                recursive: true,
                ..Options::default()
            };
            let target = dir.path().to_path_buf();
            let task = tokio::spawn(async move {
                sink(&mut r, &mut w, &target, false, &opts, &expected).await
            });
            let mut ack = [0u8; 1];
            ours.read_exact(&mut ack).await.unwrap();
            ours.write_all(line).await.unwrap();
            ours.write_all(b"abc").await.unwrap();
            assert!(task.await.unwrap().is_err());
            let mut reply = Vec::new();
            let _ = ours.read_to_end(&mut reply).await;
            assert_eq!(reply.first(), Some(&2), "fatal error byte sent");
            assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
        }
    }
}
