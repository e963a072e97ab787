//! Helpers the client-side subcommands share (`whelk ssh`, `whelk keygen`, `whelk agent`):
//! the random generator, paths, time, file writing, the terminal ([`tty`]) and host key
//! checking (`whelk ssh`, `whelk sftp`, `whelk scp`: [`hostkey`]); and received channel
//! data copied to local files (`whelk ssh`, `whelk server`: [`packet_copy`]).

pub(crate) mod hostkey;
pub(crate) mod packet_copy;
pub(crate) mod tty;

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand_core::SeedableRng;

/// A ChaCha20 generator seeded from the operating system.
pub(crate) fn rng() -> std::io::Result<chacha20::ChaCha20Rng> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| std::io::Error::other(format!("getrandom: {e}")))?;
    Ok(chacha20::ChaCha20Rng::from_seed(seed))
}

/// `$HOME` (empty path if unset).
pub(crate) fn home() -> PathBuf {
    PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
}

/// The identity files tried when none is configured: `~/.ssh/id_ed25519`, `id_ecdsa`,
/// `id_rsa` (`whelk ssh`, `whelk sftp`, `whelk scp`).
pub(crate) fn default_identity_files() -> Vec<PathBuf> {
    ["id_ed25519", "id_ecdsa", "id_rsa"]
        .iter()
        .map(|n| home().join(".ssh").join(n))
        .collect()
}

/// Expands a leading `~/` (or a lone `~`) to `$HOME`.
pub(crate) fn expand_tilde(path: &str) -> PathBuf {
    if path == "~" {
        home()
    } else if let Some(rest) = path.strip_prefix("~/") {
        home().join(rest)
    } else {
        PathBuf::from(path)
    }
}

/// The local user name, as OpenSSH takes it (`getpwuid`): the uid's line in
/// `/etc/passwd`, else `$USER`/`$LOGNAME`, else the numeric uid.
pub(crate) fn local_user() -> String {
    let uid = rustix::process::getuid().as_raw().to_string();
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| {
            p.lines().find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                (f.nth(1)? == uid).then(|| name.to_string())
            })
        })
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .unwrap_or(uid)
}

/// The local host name (`/proc/sys/kernel/hostname`, else `localhost`).
pub(crate) fn local_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Unix time in seconds.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Writes `contents` to `path` with `mode` (created or truncated; the mode is applied to new
/// files and forced on existing ones).
pub(crate) fn write_file(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    f.write_all(contents)?;
    f.flush()
}

/// Appends a line (a newline is added) to `path`, creating it (mode 0644) and its parent
/// directory (mode 0700) if needed.
pub(crate) fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
        && !dir.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .open(path)?;
    // Keep the file line-structured even if the last line had no newline.
    let needs_nl = std::fs::read(path)
        .map(|b| b.last().is_some_and(|&c| c != b'\n'))
        .unwrap_or(false);
    if needs_nl {
        f.write_all(b"\n")?;
    }
    f.write_all(line.as_bytes())?;
    f.write_all(b"\n")
}
