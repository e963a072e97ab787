//! `ssh-audit` (jtesta/ssh-audit, `pip install ssh-audit`) against the `whelk server`
//! command and, with `ssh-audit -c`, against `whelk ssh`, on loopback. Fails when ssh-audit
//! is missing.
//!
//! - defaults: exit code below 3 (no failure) and nothing flagged for Terrapin;
//! - the hardened profile of docs/security.md given as sshd/ssh options (`-o` for
//!   `whelk server` via a `-f` file and `-o`, `-o` for `whelk ssh`): exit 0, no warning;
//! - ssh-audit's DHEat rate test against `whelk server`: no warning (per-source penalties).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "server_support.rs"]
mod support;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::Fixture;
use whelk_test::openssh::ChildGuard;

/// The hardened profile of docs/security.md (`whelk::config::hardened_algorithms()`).
const KEX: &str = "mlkem768x25519-sha256,sntrup761x25519-sha512,sntrup761x25519-sha512@openssh.com";
const CIPHERS: &str = "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com";
const MACS: &str = "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com";
const HOST_KEYS: &str = "ssh-ed25519";

fn hardened_options() -> Vec<String> {
    vec![
        format!("KexAlgorithms={KEX}"),
        format!("Ciphers={CIPHERS}"),
        format!("MACs={MACS}"),
        format!("HostKeyAlgorithms={HOST_KEYS}"),
    ]
}

/// Runs ssh-audit with `args`; every socket `bind` is pinned to 127.0.0.1 (ssh-audit's
/// client audit would listen on 0.0.0.0). Prints its output to the test log.
fn ssh_audit(args: &[String]) -> Output {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("ssh-audit").is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "ssh-audit not found in PATH: install it with `pip install ssh-audit` (PyPI); \
         this test fails without it"
    );
    let code = "import socket, sys, runpy\n\
        _bind = socket.socket.bind\n\
        socket.socket.bind = lambda s, a: _bind(s, ('127.0.0.1', a[1]))\n\
        sys.argv = ['ssh-audit'] + sys.argv[1:]\n\
        runpy.run_module('ssh_audit', run_name='__main__')\n";
    let out = Command::new("python3")
        .arg("-c")
        .arg(code)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run ssh-audit");
    println!(
        "--- ssh-audit {} (exit {:?})\n{}{}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("No module named"),
        "python3 cannot import ssh_audit: install it with `pip install ssh-audit`"
    );
    out
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn check_defaults(out: &Output) {
    let code = out.status.code().expect("exit code");
    let t = text(out);
    assert!(
        (0..3).contains(&code),
        "ssh-audit exit {code} (3 = failure)"
    );
    assert!(!t.contains("-- [fail]"), "a failure: {t}");
    assert!(
        !t.contains("vulnerable to the Terrapin attack"),
        "Terrapin flagged: {t}"
    );
    assert!(t.contains("kex-strict-"), "strict KEX marker missing: {t}");
}

fn check_clean(out: &Output) {
    let code = out.status.code().expect("exit code");
    let t = text(out);
    assert_eq!(code, 0, "hardened profile: ssh-audit must exit 0");
    assert!(!t.contains("-- [fail]") && !t.contains("-- [warn]"), "{t}");
    assert!(!t.contains("vulnerable to the Terrapin attack"), "{t}");
}

fn audit_server(extra: &[&str]) -> Output {
    let f = Fixture::new();
    let server = f.start(extra);
    let args = vec![
        "-n".to_owned(),
        "--skip-rate-test".to_owned(),
        "-t".to_owned(),
        "20".to_owned(),
        "-p".to_owned(),
        server.addr.port().to_string(),
        "127.0.0.1".to_owned(),
    ];
    let out = ssh_audit(&args);
    println!("--- whelk server log\n{}", server.stop());
    out
}

#[test]
fn ssh_audit_whelk_server_defaults() {
    check_defaults(&audit_server(&[]));
}

#[test]
fn ssh_audit_whelk_server_hardened_profile_is_clean() {
    // Half as an sshd_config file (-f), half as -o options.
    let f = Fixture::new();
    let opts = hardened_options();
    let file = f.path("sshd_config");
    std::fs::write(
        &file,
        format!("{}\n{}\n", opts[0], opts[1]).replace('=', " "),
    )
    .unwrap();
    let file = file.to_str().unwrap().to_owned();
    let (o2, o3) = (opts[2].clone(), opts[3].clone());
    check_clean(&audit_server(&["-f", &file, "-o", &o2, "-o", &o3]));
}

#[test]
fn ssh_audit_whelk_server_rate_test_sees_throttling() {
    // Without --skip-rate-test: ssh-audit's DHEat rate test (3 sockets, 1.5 s, warns above
    // 20 connections/s) meets `whelk server`'s default PerSourcePenalties.
    let f = Fixture::new();
    let server = f.start(&[]);
    let args = vec![
        "-n".to_owned(),
        "-d".to_owned(),
        "-t".to_owned(),
        "20".to_owned(),
        "-p".to_owned(),
        server.addr.port().to_string(),
        "127.0.0.1".to_owned(),
    ];
    let out = ssh_audit(&args);
    drop(server);
    let t = text(&out);
    assert!(
        t.contains("dh_rate_test() results"),
        "the rate test did not run: {t}"
    );
    assert!(
        !t.contains("insufficient connection throttling"),
        "DHEat warning: {t}"
    );
    check_defaults(&out);
}

/// Whether something listens on 127.0.0.1:`port` (read from /proc, so ssh-audit's single
/// accept is not spent on a probe).
fn listening(port: u16) -> bool {
    let want = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp").is_ok_and(|t| {
        t.lines().skip(1).any(|l| {
            l.split_whitespace().nth(1) == Some(want.as_str())
                && l.split_whitespace().nth(3) == Some("0A")
        })
    })
}

fn audit_client(options: &[String]) -> Output {
    let port = whelk_test::openssh::free_port().unwrap();
    let args = vec![
        "-n".to_owned(),
        "-c".to_owned(),
        "-t".to_owned(),
        "20".to_owned(),
        "-p".to_owned(),
        port.to_string(),
    ];
    let audit = std::thread::spawn(move || ssh_audit(&args));
    let start = Instant::now();
    while !listening(port) && !audit.is_finished() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "ssh-audit -c did not start listening"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(listening(port), "ssh-audit -c did not start listening");
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_whelk"));
    cmd.arg("ssh")
        .env("HOME", home.path())
        .env_remove("SSH_AUTH_SOCK")
        .args(["-F", "none", "-p", &port.to_string()])
        .args(["-o", "StrictHostKeyChecking=no", "-o", "BatchMode=yes"])
        .args(["-o", "ConnectTimeout=10"]);
    for o in options {
        cmd.arg("-o").arg(o);
    }
    cmd.args(["127.0.0.1", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut client = ChildGuard::spawn(&mut cmd).unwrap();
    let status = client.wait_timeout(Duration::from_secs(30)).unwrap();
    println!("--- whelk ssh: {status:?}\n{}", client.stderr_str());
    // ssh-audit reads our KEXINIT and hangs up: the connection fails, the audit is done.
    assert!(
        status.is_some_and(|s| !s.success()),
        "whelk ssh did not end with a failure"
    );
    audit.join().unwrap()
}

#[test]
fn ssh_audit_whelk_ssh_defaults() {
    check_defaults(&audit_client(&[]));
}

#[test]
fn ssh_audit_whelk_ssh_hardened_profile_is_clean() {
    check_clean(&audit_client(&hardened_options()));
}
