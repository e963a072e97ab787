//! Host key checking of `whelk sftp` and `whelk scp` as ssh does it: `accept-new` appends an
//! unknown key to known_hosts (hashed with `HashKnownHosts yes`) and refuses a changed one,
//! `yes` refuses an unknown key, `-q` hides the "Permanently added" warning. Against a
//! private sshd; fails (never skips) when OpenSSH is missing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use whelk_test::openssh::{Sshd, find};

mod common;

struct Env {
    sshd: Sshd,
    dir: tempfile::TempDir,
    key: PathBuf,
    batch: PathBuf,
}

fn env() -> Env {
    find("sshd").expect("sshd not installed (openssh-server)");
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("id_ed25519");
    common::keygen(&key, "ed25519");
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let sshd = Sshd::builder()
        .authorized_key(public.trim())
        .start()
        .unwrap();
    let batch = dir.path().join("batch");
    std::fs::write(&batch, "pwd\n").unwrap();
    Env {
        sshd,
        dir,
        key,
        batch,
    }
}

/// `whelk sftp -b batch` with `known` as the only known_hosts file and extra `-o` options.
fn sftp(e: &Env, known: &Path, extra: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_whelk"));
    cmd.args(["sftp", "-F", "none", "-P"])
        .arg(e.sshd.port().to_string())
        .arg("-i")
        .arg(&e.key)
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known.display()))
        .args([
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
        ]);
    for o in extra {
        cmd.arg(o);
    }
    cmd.arg("-b")
        .arg(&e.batch)
        .arg(format!("{}@127.0.0.1", common::me()));
    cmd.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The sshd's host key as a known_hosts line for `[127.0.0.1]:port`.
fn host_line(e: &Env) -> String {
    e.sshd.known_hosts().unwrap().trim().to_owned()
}

#[test]
fn accept_new_adds_unknown_key_and_refuses_changed_key() {
    let e = env();
    // A known_hosts file that does not exist yet, in a directory that does not either.
    let known = e.dir.path().join("ssh/known_hosts");
    let out = sftp(&e, &known, &["-o", "StrictHostKeyChecking=accept-new"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let hostport = format!("[127.0.0.1]:{}", e.sshd.port());
    assert!(
        stderr(&out).contains(&format!(
            "Warning: Permanently added '{hostport}' (ED25519) to the list of known hosts."
        )),
        "{}",
        stderr(&out)
    );
    let text = std::fs::read_to_string(&known).unwrap();
    let host_key = host_line(&e);
    let key_part = host_key
        .split_whitespace()
        .skip(1)
        .take(2)
        .collect::<Vec<_>>();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let fields: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(fields[0], hostport);
    assert_eq!(fields[1..3], key_part[..]);

    // Now known: strict checking passes and nothing more is added.
    let out = sftp(&e, &known, &["-o", "StrictHostKeyChecking=yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("Permanently added"));
    assert_eq!(std::fs::read_to_string(&known).unwrap(), text);

    // A different key on record for the host: refused, even with accept-new and `no`.
    let other = e.dir.path().join("other_host");
    common::keygen(&other, "ed25519");
    let changed = e.dir.path().join("changed_known_hosts");
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let changed_text = format!("{hostport} {}", other_pub.trim());
    std::fs::write(&changed, format!("{changed_text}\n")).unwrap();
    for mode in ["accept-new", "no", "yes"] {
        let out = sftp(
            &e,
            &changed,
            &["-o", &format!("StrictHostKeyChecking={mode}")],
        );
        assert_eq!(out.status.code(), Some(255), "{mode}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
            "{mode}: {}",
            stderr(&out)
        );
        assert_eq!(
            std::fs::read_to_string(&changed).unwrap(),
            format!("{changed_text}\n"),
            "{mode}: known_hosts untouched"
        );
    }
}

#[test]
fn strict_yes_refuses_unknown_and_hash_known_hosts_hashes() {
    let e = env();
    let known = e.dir.path().join("known_hosts");
    let out = sftp(&e, &known, &["-o", "StrictHostKeyChecking=yes"]);
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Host key verification failed."),
        "{}",
        stderr(&out)
    );
    assert!(!known.exists());
    // BatchMode with the default `ask` refuses too.
    let out = sftp(&e, &known, &[]);
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    assert!(!known.exists());

    // accept-new with HashKnownHosts: the host is written hashed, and -q hides the warning.
    let out = sftp(
        &e,
        &known,
        &[
            "-q",
            "-o",
            "StrictHostKeyChecking=accept-new",
            "-o",
            "HashKnownHosts=yes",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("Permanently added"),
        "{}",
        stderr(&out)
    );
    let text = std::fs::read_to_string(&known).unwrap();
    assert!(text.starts_with("|1|"), "{text}");
    assert!(!text.contains("127.0.0.1"), "{text}");
    // ssh itself (OpenSSH) accepts the hashed line.
    let ssh = find("ssh-keygen").unwrap();
    let mut cmd = Command::new(ssh);
    cmd.args(["-F", &format!("[127.0.0.1]:{}", e.sshd.port()), "-f"])
        .arg(&known);
    let found = cmd.output().unwrap();
    assert!(
        String::from_utf8_lossy(&found.stdout).contains("ssh-ed25519"),
        "ssh-keygen -F found the hashed entry"
    );
    // And whelk finds it again with strict checking.
    let out = sftp(&e, &known, &["-o", "StrictHostKeyChecking=yes"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // whelk scp shares the checking: accept-new adds the key to a fresh file.
    let scp_known = e.dir.path().join("scp_known_hosts");
    let src = e.dir.path().join("f.txt");
    std::fs::write(&src, "hello\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_whelk"))
        .args(["scp", "-F", "none", "-P"])
        .arg(e.sshd.port().to_string())
        .arg("-i")
        .arg(&e.key)
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", scp_known.display()))
        .args([
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=accept-new",
        ])
        .arg(&src)
        .arg(format!(
            "{}@127.0.0.1:{}",
            common::me(),
            e.dir.path().join("g.txt").display()
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(e.dir.path().join("g.txt")).unwrap(),
        "hello\n"
    );
    assert!(
        std::fs::read_to_string(&scp_known)
            .unwrap()
            .starts_with(&format!("[127.0.0.1]:{} ssh-ed25519 ", e.sshd.port()))
    );
}
