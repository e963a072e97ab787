//! `ssh-keygen -F host`, `-R host` and `-H` on a `known_hosts` file (default
//! `~/.ssh/known_hosts`).
//!
//! Behaviour follows `ssh-keygen`: `-F` prints `# Host NAME found: line N [CA|REVOKED]`
//! then the line as stored (hashed lines included) and exits 1 when nothing matched; `-R`
//! removes the plain (unmarked) lines that match, keeping the previous file as `FILE.old`;
//! `-H` replaces every plain host name with a hashed one, one line per name, leaving
//! `@cert-authority`/`@revoked` lines, hashed lines and wildcard patterns as they are.

use std::path::{Path, PathBuf};

use whelk_keys::known_hosts::{KnownHosts, Marker};

use super::{Args, Fail, Result, read_text};
use crate::common;

/// The known_hosts file: `-f`, else `~/.ssh/known_hosts`.
fn file(args: &Args) -> PathBuf {
    args.file
        .clone()
        .unwrap_or_else(|| common::home().join(".ssh").join("known_hosts"))
}

/// What a line is for `-F`/`-R`: `None` when it is not an entry or does not name `host`.
fn line_match(line: &str, host: &str) -> Option<Option<Marker>> {
    let known = KnownHosts::parse(line);
    let e = known.entries().first()?;
    let marker = e.marker;
    let hit = if marker == Some(Marker::Revoked) {
        // Revoked entries apply to every host in whelk-keys' lookup; match the patterns.
        let rest = line.trim_start().strip_prefix("@revoked")?;
        let plain = KnownHosts::parse(rest);
        !plain.lookup(host, 22).trusted.is_empty()
    } else {
        let keys = known.lookup(host, 22);
        !keys.trusted.is_empty() || !keys.cert_authorities.is_empty()
    };
    hit.then_some(marker)
}

/// Writes `new` to `path`, keeping the old contents as `path.old`, and says so.
fn replace(path: &Path, new: &str) -> Result<()> {
    let mut old = path.as_os_str().to_owned();
    old.push(".old");
    let old = PathBuf::from(old);
    let fail = |e: std::io::Error| Fail::new(format!("{}: {e}", path.display()));
    let mode = std::fs::metadata(path)
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
        .unwrap_or(0o644);
    let _ = std::fs::remove_file(&old);
    std::fs::hard_link(path, &old)
        .or_else(|_| std::fs::copy(path, &old).map(|_| ()))
        .map_err(fail)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    common::write_file(&tmp, new.as_bytes(), mode).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)?;
    println!("{} updated.", path.display());
    println!("Original contents retained as {}", old.display());
    Ok(())
}

/// `ssh-keygen -F host [-f known_hosts]`.
pub(super) fn find(args: &Args, host: &str) -> Result<()> {
    let path = file(args);
    let text = read_text(&path)?;
    let mut found = false;
    for (i, line) in text.lines().enumerate() {
        if let Some(marker) = line_match(line, host) {
            found = true;
            let what = match marker {
                Some(Marker::CertAuthority) => "CA",
                Some(Marker::Revoked) => "REVOKED",
                None => "",
            };
            println!("# Host {host} found: line {} {what}", i + 1);
            println!("{line}");
        }
    }
    if found {
        Ok(())
    } else {
        Err(Fail {
            msg: String::new(),
            code: 1,
        })
    }
}

/// `ssh-keygen -R host [-f known_hosts]`.
pub(super) fn remove(args: &Args, host: &str) -> Result<()> {
    let path = file(args);
    let text = read_text(&path)?;
    let mut kept = String::new();
    let mut removed = false;
    for (i, line) in text.lines().enumerate() {
        if line_match(line, host) == Some(None) {
            println!("# Host {host} found: line {}", i + 1);
            removed = true;
        } else {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    if !removed {
        eprintln!("Host {host} not found in {}", path.display());
        return Ok(());
    }
    replace(&path, &kept)
}

/// `ssh-keygen -H [-f known_hosts]`.
pub(super) fn hash(args: &Args) -> Result<()> {
    let path = file(args);
    let text = read_text(&path)?;
    let mut rng = common::rng().map_err(|e| Fail::new(e.to_string()))?;
    let mut out = String::new();
    let mut unhashed = false;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        let is_plain_entry = KnownHosts::parse(line)
            .entries()
            .first()
            .is_some_and(|e| e.marker.is_none());
        let hosts = t.split_whitespace().next().unwrap_or_default();
        if !is_plain_entry || hosts.starts_with('|') {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        unhashed = true;
        if hosts.contains(['*', '?', '!']) {
            eprintln!(
                "{}:{}: ignoring host name with wildcard: {hosts}",
                path.display(),
                i + 1
            );
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let rest = t.get(hosts.len()..).unwrap_or_default();
        for h in hosts.split(',') {
            let hashed = whelk_keys::known_hosts::hashed_host(h, &mut rng);
            out.push_str(&hashed);
            out.push_str(rest);
            out.push('\n');
        }
    }
    let mut old = path.as_os_str().to_owned();
    old.push(".old");
    replace(&path, &out)?;
    if unhashed {
        eprintln!(
            "WARNING: {} contains unhashed entries",
            PathBuf::from(old).display()
        );
        eprintln!("Delete this file to ensure privacy of hostnames");
    }
    Ok(())
}
