//! `whelk agent` with OpenSSH clients: `ssh-add` add/list/delete/lock/unlock, `ssh`
//! authenticating to a test sshd with a key the agent holds, the background mode and `-k`.
//! Fails (never skips) without OpenSSH.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use whelk_test::openssh::{self, ChildGuard, Sshd};

mod common;

fn ok(o: &Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed ({}): {}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// Starts `whelk agent -D -a sock` and waits for its environment lines.
fn start_agent(dir: &Path) -> (ChildGuard, PathBuf, String) {
    let sock = dir.join("agent.sock");
    let mut agent = ChildGuard::spawn(
        Command::new(env!("CARGO_BIN_EXE_whelk"))
            .args(["agent", "-D", "-s", "-a"])
            .arg(&sock),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = String::from_utf8_lossy(&agent.stdout()).into_owned();
        if out.contains("echo Agent pid") {
            return (agent, sock, out);
        }
        assert!(Instant::now() < deadline, "no output from the agent: {out}");
        assert!(
            agent.try_wait().unwrap().is_none(),
            "{}",
            agent.stderr_str()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn ssh_add(sock: &Path, args: &[&str]) -> Output {
    Command::new(openssh::find("ssh-add").unwrap())
        .args(args)
        .env("SSH_AUTH_SOCK", sock)
        .env_remove("DISPLAY")
        .env_remove("SSH_ASKPASS")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ssh_keygen(dir: &Path, name: &str, ty: &str) -> String {
    let o = Command::new(openssh::find("ssh-keygen").unwrap())
        .args(["-q", "-N", "", "-C", name, "-t", ty, "-f"])
        .arg(dir.join(name))
        .output()
        .unwrap();
    ok(&o, "ssh-keygen");
    std::fs::read_to_string(dir.join(format!("{name}.pub"))).unwrap()
}

#[test]
fn ssh_add_add_list_delete_lock_unlock() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let (_agent, sock, lines) = start_agent(dir);
    assert!(
        lines.contains(&format!(
            "SSH_AUTH_SOCK={}; export SSH_AUTH_SOCK;",
            sock.display()
        )),
        "{lines}"
    );
    assert!(lines.contains("SSH_AGENT_PID="), "{lines}");
    let ed = ssh_keygen(dir, "ed", "ed25519");
    let ec = ssh_keygen(dir, "ec", "ecdsa");
    // Empty at first: ssh-add -l exits 1.
    assert_eq!(ssh_add(&sock, &["-l"]).status.code(), Some(1));
    ok(
        &ssh_add(&sock, &[dir.join("ed").to_str().unwrap()]),
        "ssh-add ed",
    );
    ok(
        &ssh_add(&sock, &[dir.join("ec").to_str().unwrap()]),
        "ssh-add ec",
    );
    let listed = ok(&ssh_add(&sock, &["-L"]), "ssh-add -L");
    assert!(
        listed.contains(ed.split_whitespace().nth(1).unwrap()),
        "{listed}"
    );
    assert!(
        listed.contains(ec.split_whitespace().nth(1).unwrap()),
        "{listed}"
    );
    let fps = ok(&ssh_add(&sock, &["-l"]), "ssh-add -l");
    assert_eq!(fps.lines().count(), 2, "{fps}");
    // Delete one.
    ok(
        &ssh_add(&sock, &["-d", dir.join("ed.pub").to_str().unwrap()]),
        "ssh-add -d",
    );
    let listed = ok(&ssh_add(&sock, &["-L"]), "ssh-add -L");
    assert!(!listed.contains(ed.split_whitespace().nth(1).unwrap()));
    assert_eq!(listed.lines().count(), 1);
    // Lock and unlock (ssh-add reads the passphrase through SSH_ASKPASS when there is no
    // terminal: a script that prints it).
    let askpass = dir.join("askpass.sh");
    std::fs::write(&askpass, "#!/bin/sh\necho lockpass\n").unwrap();
    std::fs::set_permissions(
        &askpass,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let with_askpass = |args: &[&str]| {
        Command::new(openssh::find("ssh-add").unwrap())
            .args(args)
            .env("SSH_AUTH_SOCK", &sock)
            .env("SSH_ASKPASS", &askpass)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("DISPLAY", ":0")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    ok(&with_askpass(&["-x"]), "ssh-add -x");
    // Locked: no identities are listed.
    assert_eq!(ssh_add(&sock, &["-l"]).status.code(), Some(1));
    ok(&with_askpass(&["-X"]), "ssh-add -X");
    assert_eq!(
        ok(&ssh_add(&sock, &["-l"]), "ssh-add -l").lines().count(),
        1
    );
    // Delete all.
    ok(&ssh_add(&sock, &["-D"]), "ssh-add -D");
    assert_eq!(ssh_add(&sock, &["-l"]).status.code(), Some(1));
}

#[test]
fn openssh_client_authenticates_with_a_key_in_whelk_agent() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let (_agent, sock, _) = start_agent(dir);
    let pub_line = ssh_keygen(dir, "user", "ed25519");
    ok(
        &ssh_add(&sock, &[dir.join("user").to_str().unwrap()]),
        "ssh-add",
    );
    // The private key file is gone: only the agent holds the key.
    std::fs::remove_file(dir.join("user")).unwrap();
    let sshd = Sshd::builder()
        .authorized_key(pub_line.trim())
        .start()
        .unwrap();
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string();
    let o = Command::new(openssh::find("ssh").unwrap())
        .args([
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
        ])
        .args([
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "PasswordAuthentication=no",
        ])
        .args(["-p", &sshd.port().to_string()])
        .arg(format!("{user}@127.0.0.1"))
        .arg("echo via-agent")
        .env("SSH_AUTH_SOCK", &sock)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(ok(&o, "ssh through the agent"), "via-agent\n");
}

#[test]
fn background_agent_prints_csh_lines_and_is_killed_with_k() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let sock = dir.join("bg.sock");
    let o = Command::new(env!("CARGO_BIN_EXE_whelk"))
        .args(["agent", "-c", "-a"])
        .arg(&sock)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = ok(&o, "whelk agent -c");
    assert!(
        out.contains(&format!("setenv SSH_AUTH_SOCK {};", sock.display())),
        "{out}"
    );
    let pid: u32 = out
        .lines()
        .find_map(|l| l.strip_prefix("setenv SSH_AGENT_PID "))
        .and_then(|p| p.trim_end_matches(';').parse().ok())
        .unwrap();
    // The agent answers.
    assert_eq!(ssh_add(&sock, &["-l"]).status.code(), Some(1));
    let k = Command::new(env!("CARGO_BIN_EXE_whelk"))
        .args(["agent", "-k"])
        .env("SSH_AGENT_PID", pid.to_string())
        .output()
        .unwrap();
    let out = ok(&k, "whelk agent -k");
    assert!(out.contains("unset SSH_AUTH_SOCK;"), "{out}");
    assert!(
        out.contains(&format!("echo Agent pid {pid} killed;")),
        "{out}"
    );
    // The process is gone (it is not our child, so poll /proc).
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
    {
        assert!(Instant::now() < deadline, "agent {pid} still running");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn default_lifetime_expires_keys() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let sock = dir.join("life.sock");
    let mut agent = ChildGuard::spawn(
        Command::new(env!("CARGO_BIN_EXE_whelk"))
            .args(["agent", "-D", "-t", "1", "-a"])
            .arg(&sock),
    )
    .unwrap();
    common::wait_for_socket(&sock, &agent);
    ssh_keygen(dir, "k", "ed25519");
    ok(
        &ssh_add(&sock, &[dir.join("k").to_str().unwrap()]),
        "ssh-add",
    );
    // The key goes away by itself (checked by polling, not by timing).
    let deadline = Instant::now() + Duration::from_secs(30);
    while ssh_add(&sock, &["-l"]).status.code() != Some(1) {
        assert!(Instant::now() < deadline, "the key did not expire");
        std::thread::sleep(Duration::from_millis(100));
    }
    agent.kill();
}
