//! `whelk ssh` on a real terminal (util-linux `script` gives it one): the PTY gets the
//! local window size, SIGWINCH is forwarded, and the local terminal mode is restored on
//! exit. Fails (never skips) without OpenSSH or `script`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::{Command, Stdio};

use whelk_test::openssh::Sshd;

mod common;

/// Runs `sh -c script` on a fresh pseudo-terminal, typing `input`; returns the transcript
/// (CR removed).
fn on_terminal_typing(script: &str, input: &[u8]) -> (Option<i32>, String) {
    let mut child = Command::new("timeout")
        .args(["60", "script", "-qec", script, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("util-linux `script` is needed (package bsdutils)");
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, input).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).replace('\r', ""),
    )
}

fn on_terminal(script: &str) -> (Option<i32>, String) {
    on_terminal_typing(script, b"")
}

struct Setup {
    _home: common::Home,
    _sshd: Sshd,
    ssh: String,
    dir: std::path::PathBuf,
}

fn setup() -> Setup {
    let home = common::Home::new();
    let sshd = Sshd::builder()
        .authorized_key(home.pub_line.trim())
        .option("LogLevel", "INFO")
        .start()
        .unwrap();
    home.trust(&sshd);
    let ssh = format!(
        "HOME={} SSH_AUTH_SOCK= {} ssh -F none -p {} {}@127.0.0.1",
        home.path().display(),
        env!("CARGO_BIN_EXE_whelk"),
        sshd.port(),
        common::me()
    );
    let dir = home.path().to_path_buf();
    Setup {
        _home: home,
        _sshd: sshd,
        ssh,
        dir,
    }
}

#[test]
fn terminal_mode_restored_and_window_size_sent() {
    let s = setup();
    let (code, out) = on_terminal(&format!(
        "stty cols 100 rows 30; stty -g; {} -t 'stty size; exit 3'; echo rc=$?; stty -g",
        s.ssh
    ));
    assert_eq!(code, Some(0), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    // The first and last lines are the terminal settings before and after.
    assert_eq!(lines.first(), lines.last(), "{out}");
    assert!(out.contains("30 100\n"), "{out}");
    assert!(out.contains("rc=3\n"), "{out}");
    assert!(out.contains("Connection to 127.0.0.1 closed."), "{out}");
    // Also when the connection fails.
    let (_, out) = on_terminal(&format!(
        "stty -g; {} -t -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes true; \
         echo rc=$?; stty -g",
        s.ssh
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), lines.last(), "{out}");
    assert!(out.contains("rc=255"), "{out}");
    assert!(out.contains("Host key verification failed."), "{out}");
}

#[test]
fn sigwinch_is_forwarded() {
    let s = setup();
    let started = s.dir.join("started");
    let remote = format!(
        "stty size; touch {}; until [ \"$(stty size)\" = \"40 120\" ]; do sleep 0.05; done; echo resized",
        started.display()
    );
    let script = format!(
        "stty cols 100 rows 30; {} -t '{remote}' </dev/tty & \
         until [ -f {} ]; do sleep 0.05; done; stty cols 120 rows 40; wait",
        s.ssh,
        started.display()
    );
    let (code, out) = on_terminal(&script);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("30 100\n"), "{out}");
    assert!(out.contains("resized\n"), "{out}");
}

#[test]
fn interactive_shell_with_escape_help() {
    let s = setup();
    let (code, out) = on_terminal_typing(
        &format!("{}; echo rc=$?", s.ssh),
        b"~?echo hello-$((6*7))\nexit 5\n",
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("Supported escape sequences:"), "{out}");
    assert!(out.contains(" ~.   - terminate connection"), "{out}");
    assert!(out.contains("hello-42\n"), "{out}");
    assert!(
        out.contains("Connection to 127.0.0.1 closed.\nrc=5"),
        "{out}"
    );
}

#[test]
fn sigterm_restores_the_terminal() {
    let s = setup();
    let started = s.dir.join("started");
    let script = format!(
        "stty -g; {} -t 'touch {}; sleep 60' </dev/tty & pid=$!; \
         until [ -f {} ]; do sleep 0.05; done; kill -TERM $pid; wait $pid; echo rc=$?; stty -g",
        s.ssh,
        started.display(),
        started.display()
    );
    let (code, out) = on_terminal(&script);
    assert_eq!(code, Some(0), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), lines.last(), "{out}");
    assert!(out.contains("rc=255"), "{out}");
}
