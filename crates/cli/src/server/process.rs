//! Starting the session's processes as the current user, through the login shell.
//!
//! - `exec`: `$SHELL -c command` (`argv[0]` is the shell's name), like sshd.
//! - `shell`: the shell as a login shell (`argv[0]` is `-name`, or `-l` on the PTY path).
//! - A subsystem configured with a command: `$SHELL -c command`, stdio piped.
//! - With a user rc file (`~/.ssh/rc`, sshd's `PermitUserRC`), `/bin/sh` runs it first (stdin
//!   from `/dev/null`, output to the session) and then `exec`s the shell, so the process the
//!   server waits for and signals is still the session's shell.
//!
//! Without a PTY the child gets pipes and its own process group (`process_group(0)`), so a
//! `^C` to a foreground server does not reach it. With a PTY the child must become a
//! session leader whose controlling terminal is the PTY slave. That takes `setsid()` and
//! `ioctl(TIOCSCTTY)` between `fork` and `exec`, which needs `unsafe` `pre_exec` in Rust.
//! whelk keeps `forbid(unsafe_code)` and lets util-linux do it instead: the child is
//! `setsid --ctty $SHELL ...` with the slave as its stdin, stdout and stderr. `setsid(1)` calls
//! `setsid()`, then `TIOCSCTTY` on its stdin, then `execvp`s the shell, so the PID we hold is
//! the shell's (it only forks when it already leads a process group, which a freshly
//! spawned child never does). `setsid` is looked up in `/usr/bin` and `/bin`.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};

use rustix::process::Signal;
use tokio::process::{Child, Command};

use super::pty::Pty;

/// `PATH` for sessions when the server has none.
pub(crate) const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";
/// Where `setsid(1)` (util-linux) is looked for.
pub(crate) const SETSID_PATHS: &[&str] = &["/usr/bin/setsid", "/bin/setsid"];

/// The account the server runs as (the only one that may log in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Account {
    /// User name.
    pub(crate) name: String,
    /// Home directory.
    pub(crate) home: PathBuf,
    /// Login shell.
    pub(crate) shell: PathBuf,
}

/// The current user: the `/etc/passwd` entry of our uid, completed from `$USER`, `$HOME`
/// and `$SHELL`. `$SHELL` wins over the passwd entry (a per-user server runs the shell the
/// user chose for it), then `/bin/sh`.
pub(crate) fn current_account() -> Account {
    let uid = rustix::process::getuid().as_raw();
    let entry = std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                match f.as_slice() {
                    [name, _, id, _, _, home, shell, ..] if id.parse() == Ok(uid) => Some((
                        (*name).to_owned(),
                        PathBuf::from(home),
                        PathBuf::from(shell),
                    )),
                    _ => None,
                }
            })
        });
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let name = entry
        .as_ref()
        .map(|e| e.0.clone())
        .or_else(|| env("USER").map(|u| u.to_string_lossy().into_owned()))
        .unwrap_or_else(|| uid.to_string());
    let home = env("HOME")
        .map(PathBuf::from)
        .or_else(|| entry.as_ref().map(|e| e.1.clone()))
        .unwrap_or_else(|| PathBuf::from("/"));
    let shell = env("SHELL")
        .map(PathBuf::from)
        .or_else(|| entry.as_ref().map(|e| e.2.clone()))
        .filter(|s| s.is_absolute())
        .unwrap_or_else(|| PathBuf::from("/bin/sh"));
    Account { name, home, shell }
}

/// The names of `user`'s groups (primary and supplementary) from `/etc/passwd` and
/// `/etc/group`, for `Match Group`.
pub(crate) fn groups(user: &str) -> Vec<String> {
    let primary = std::fs::read_to_string("/etc/passwd").ok().and_then(|t| {
        t.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            match f.as_slice() {
                [name, _, _, gid, ..] if *name == user => Some((*gid).to_owned()),
                _ => None,
            }
        })
    });
    let Ok(text) = std::fs::read_to_string("/etc/group") else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            match f.as_slice() {
                [name, _, gid, members, ..]
                    if primary.as_deref() == Some(*gid)
                        || members.split(',').any(|m| m == user) =>
                {
                    Some((*name).to_owned())
                }
                _ => None,
            }
        })
        .collect()
}

/// What to start.
#[derive(Debug)]
pub(crate) struct Launch<'a> {
    /// The account (shell, home).
    pub(crate) account: &'a Account,
    /// `Some(command)` for `$SHELL -c command`; `None` for a login shell.
    pub(crate) command: Option<&'a str>,
    /// The whole environment of the child.
    pub(crate) env: &'a [(String, String)],
    /// `~/.ssh/rc` to run with `/bin/sh` first (sshd's user rc), if any.
    pub(crate) user_rc: Option<&'a Path>,
}

/// The `/bin/sh` script that runs the user rc file (`$1`) with stdin from `/dev/null`, then
/// replaces itself with the session's command (the rest of the arguments), so the process
/// the server signals and waits for is the shell itself.
const RC_WRAPPER: &str = "/bin/sh \"$1\" </dev/null; shift; exec \"$@\"";

/// The program and arguments that run `launch`: `$SHELL -c command` or `$SHELL -l`
/// (through the rc wrapper when there is a user rc). `argv[0]` of the direct form is set by
/// the caller.
fn argv(launch: &Launch<'_>) -> (PathBuf, Vec<OsString>) {
    let shell = launch.account.shell.clone();
    let tail: Vec<OsString> = match launch.command {
        Some(c) => vec!["-c".into(), c.into()],
        None => vec!["-l".into()],
    };
    match launch.user_rc {
        Some(rc) => {
            let mut args: Vec<OsString> = vec![
                "-c".into(),
                RC_WRAPPER.into(),
                "sh".into(),
                rc.into(),
                shell.into(),
            ];
            args.extend(tail);
            (PathBuf::from("/bin/sh"), args)
        }
        None => (shell, tail),
    }
}

fn shell_name(shell: &Path) -> OsString {
    shell
        .file_name()
        .map_or_else(|| OsString::from("sh"), OsString::from)
}

/// Starts `launch` with piped stdin, stdout and stderr in its own process group.
pub(crate) fn spawn_piped(launch: &Launch<'_>) -> std::io::Result<Child> {
    let shell = &launch.account.shell;
    let mut cmd;
    match (launch.user_rc, launch.command) {
        (Some(_), _) => {
            let (program, args) = argv(launch);
            cmd = Command::new(program);
            cmd.args(args);
        }
        (None, Some(c)) => {
            cmd = Command::new(shell);
            cmd.arg0(shell_name(shell)).arg("-c").arg(c);
        }
        (None, None) => {
            cmd = Command::new(shell);
            let mut login = OsString::from("-");
            login.push(shell_name(shell));
            cmd.arg0(login);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    common(&mut cmd, launch);
    cmd.spawn()
}

/// Starts `launch` on the PTY's slave as its controlling terminal (through `setsid --ctty`).
/// The caller closes its copy of the slave afterwards.
pub(crate) fn spawn_pty(launch: &Launch<'_>, pty: &Pty) -> std::io::Result<Child> {
    let setsid = SETSID_PATHS
        .iter()
        .map(Path::new)
        .find(|p| p.exists())
        .ok_or_else(|| {
            std::io::Error::other("setsid(1) from util-linux is needed for PTY sessions")
        })?;
    let mut cmd = Command::new(setsid);
    let (program, args) = argv(launch);
    cmd.arg("--ctty").arg(program).args(args);
    cmd.stdin(Stdio::from(pty.slave.try_clone()?))
        .stdout(Stdio::from(pty.slave.try_clone()?))
        .stderr(Stdio::from(pty.slave.try_clone()?));
    common(&mut cmd, launch);
    cmd.spawn()
}

fn common(cmd: &mut Command, launch: &Launch<'_>) {
    // Like sshd, a missing home directory is not fatal: the session starts in `/`.
    let dir = if launch.account.home.is_dir() {
        launch.account.home.as_path()
    } else {
        Path::new("/")
    };
    cmd.env_clear()
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .current_dir(dir)
        .kill_on_drop(false);
}

/// How a session's process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Exit {
    /// `exit-status`.
    Status(u32),
    /// `exit-signal`: the signal's name without `SIG`, and whether it dumped core.
    Signal(String, bool),
}

impl Exit {
    /// From a wait status.
    pub(crate) fn from_status(s: ExitStatus) -> Self {
        if let Some(code) = s.code() {
            return Self::Status(u32::try_from(code).unwrap_or(255));
        }
        match s.signal() {
            Some(sig) => Self::Signal(signal_name(sig), s.core_dumped()),
            None => Self::Status(255),
        }
    }
}

/// The signals of RFC 4254 §6.10 (and a few more OpenSSH sends), by SSH name.
const SIGNALS: &[(&str, Signal)] = &[
    ("ABRT", Signal::ABORT),
    ("ALRM", Signal::ALARM),
    ("FPE", Signal::FPE),
    ("HUP", Signal::HUP),
    ("ILL", Signal::ILL),
    ("INT", Signal::INT),
    ("KILL", Signal::KILL),
    ("PIPE", Signal::PIPE),
    ("QUIT", Signal::QUIT),
    ("SEGV", Signal::SEGV),
    ("TERM", Signal::TERM),
    ("USR1", Signal::USR1),
    ("USR2", Signal::USR2),
    ("CONT", Signal::CONT),
    ("STOP", Signal::STOP),
    ("TSTP", Signal::TSTP),
    ("WINCH", Signal::WINCH),
];

/// The signal an SSH `signal` request names (`TERM`, `INT`...; `SIG` prefix tolerated).
pub(crate) fn signal_by_name(name: &str) -> Option<Signal> {
    let name = name.strip_prefix("SIG").unwrap_or(name);
    SIGNALS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// The SSH name of signal number `raw` (`TERM`), or `SIG<n>@whelk` for others.
pub(crate) fn signal_name(raw: i32) -> String {
    SIGNALS
        .iter()
        .find(|(_, s)| s.as_raw() == raw)
        .map_or_else(|| format!("SIG{raw}@whelk"), |(n, _)| (*n).to_owned())
}

/// Sends `signal` to process `pid`.
pub(crate) fn send_signal(pid: u32, signal: Signal) -> std::io::Result<()> {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .ok_or_else(|| std::io::Error::other("bad pid"))?;
    rustix::process::kill_process(pid, signal).map_err(std::io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn account() -> Account {
        Account {
            name: "me".into(),
            home: std::env::temp_dir(),
            shell: PathBuf::from("/bin/sh"),
        }
    }

    #[tokio::test]
    async fn exec_with_env_and_exit_status() {
        let acct = account();
        let env = vec![("FOO".to_owned(), "bar".to_owned())];
        let mut child = spawn_piped(&Launch {
            account: &acct,
            command: Some("read x; echo \"$x $FOO $0\"; echo e >&2; exit 7"),
            env: &env,
            user_rc: None,
        })
        .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"hi\n").await.unwrap();
        drop(stdin);
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .await
            .unwrap();
        let status = child.wait().await.unwrap();
        assert_eq!(out, "hi bar sh\n");
        assert_eq!(Exit::from_status(status), Exit::Status(7));
    }

    #[tokio::test]
    async fn killed_by_signal() {
        let acct = account();
        let mut child = spawn_piped(&Launch {
            account: &acct,
            command: Some("kill -TERM $$"),
            env: &[],
            user_rc: None,
        })
        .unwrap();
        let status = child.wait().await.unwrap();
        assert_eq!(
            Exit::from_status(status),
            Exit::Signal("TERM".into(), false)
        );
    }

    #[tokio::test]
    async fn user_rc_runs_first() {
        let dir = tempfile::tempdir().unwrap();
        let rc = dir.path().join("rc");
        std::fs::write(&rc, "echo rc-ran; read nothing || echo rc-stdin-empty\n").unwrap();
        let acct = account();
        let mut child = spawn_piped(&Launch {
            account: &acct,
            command: Some("echo main; exit 5"),
            env: &[],
            user_rc: Some(&rc),
        })
        .unwrap();
        drop(child.stdin.take());
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .await
            .unwrap();
        let status = child.wait().await.unwrap();
        assert_eq!(out, "rc-ran\nrc-stdin-empty\nmain\n");
        assert_eq!(Exit::from_status(status), Exit::Status(5));
    }

    #[tokio::test]
    async fn missing_home_starts_in_root() {
        let acct = Account {
            home: PathBuf::from("/nonexistent/whelk-home"),
            ..account()
        };
        let out = spawn_piped(&Launch {
            account: &acct,
            command: Some("pwd"),
            env: &[],
            user_rc: None,
        })
        .unwrap()
        .wait_with_output()
        .await
        .unwrap();
        assert_eq!(out.stdout, b"/\n");
    }

    #[test]
    fn signal_names() {
        assert_eq!(signal_by_name("INT"), Some(Signal::INT));
        assert_eq!(signal_by_name("SIGUSR1"), Some(Signal::USR1));
        assert_eq!(signal_by_name("BOGUS"), None);
        assert_eq!(signal_name(Signal::KILL.as_raw()), "KILL");
        assert_eq!(signal_name(64), "SIG64@whelk");
    }

    #[test]
    fn groups_of_root() {
        if current_account().name == "root" {
            assert!(groups("root").contains(&"root".to_owned()));
        }
        assert!(groups("no-such-user-here").is_empty());
    }

    #[test]
    fn account_is_found() {
        let a = current_account();
        assert!(!a.name.is_empty());
        assert!(a.shell.is_absolute());
    }
}
