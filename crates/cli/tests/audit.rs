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
use std::time::Duration;

use support::Fixture;
use whelk_test::openssh::ChildGuard;
use whelk_test::ssh_audit::{self, check_clean, check_defaults};

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

fn audit_server(extra: &[&str]) -> Output {
    let f = Fixture::new();
    let server = f.start(extra);
    let args = ssh_audit::server_args(server.addr.port(), false);
    let out = ssh_audit::run(&args).unwrap();
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
    let args = ssh_audit::server_args(server.addr.port(), true);
    let out = ssh_audit::run(&args).unwrap();
    drop(server);
    ssh_audit::check_rate_throttled(&out);
    check_defaults(&out);
}

fn audit_client(options: &[String]) -> Output {
    let port = whelk_test::openssh::free_port().unwrap();
    let args = ssh_audit::client_args(port);
    let audit = std::thread::spawn(move || ssh_audit::run(&args));
    assert!(
        ssh_audit::wait_listening(port, || audit.is_finished()),
        "ssh-audit -c did not start listening"
    );
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
    audit.join().unwrap().unwrap()
}

#[test]
fn ssh_audit_whelk_ssh_defaults() {
    check_defaults(&audit_client(&[]));
}

#[test]
fn ssh_audit_whelk_ssh_hardened_profile_is_clean() {
    check_clean(&audit_client(&hardened_options()));
}
