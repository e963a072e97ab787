//! `ssh -f`: go to the background after authentication.
//!
//! OpenSSH forks once authenticated; whelk does not fork (no `unsafe`), so `whelk ssh -f`
//! re-executes itself at once as a child marked by `WHELK_SSH_BACKGROUND=1` (stdin from
//! `/dev/null`, stderr shared) and waits: the child connects and authenticates (prompts
//! still reach the terminal), starts the forwardings, then reports on a pipe, starts a
//! session of its own (`setsid`) and keeps running. The parent exits 0 at that report,
//! or with the child's status if the child ends first. Only `-f -N` is supported: a
//! remote command's output would need the parent's stdout.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use super::{Args, Fail};

const MARK: &str = "WHELK_SSH_BACKGROUND";

/// Whether this process is the re-executed background child.
pub(super) fn is_child() -> bool {
    std::env::var_os(MARK).is_some_and(|v| v == "1")
}

/// The foreground side: runs the child and waits for its report.
pub(super) fn parent(args: &Args) -> Result<u8, Fail> {
    if !args.no_command {
        return Err(Fail::new(if args.command.is_empty() {
            "Cannot fork into background without a command to execute."
        } else {
            "whelk ssh: -f is supported only with -N (forwarding only): whelk does not fork, \
             so a remote command cannot move to the background after authentication"
        }));
    }
    let exe = std::env::current_exe().map_err(|e| Fail::new(format!("ssh: {e}")))?;
    let mut child = Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(MARK, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Fail::new(format!("ssh: background process: {e}")))?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    if line.trim_end() == "ready" {
        return Ok(0);
    }
    let status = child
        .wait()
        .map_err(|e| Fail::new(format!("ssh: background process: {e}")))?;
    Ok(status
        .code()
        .and_then(|c| u8::try_from(c).ok())
        .unwrap_or(255))
}

/// The child side, once authenticated with the forwardings up: tell the parent, let go
/// of its pipe, of stderr (unless `-v`, as OpenSSH) and of the terminal's session.
pub(super) fn detach(verbose: bool) {
    let mut out = std::io::stdout();
    let _ = out.write_all(b"ready\n");
    let _ = out.flush();
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        let _ = rustix::stdio::dup2_stdout(&null);
        if !verbose {
            let _ = rustix::stdio::dup2_stderr(&null);
        }
    }
    let _ = rustix::process::setsid();
}
