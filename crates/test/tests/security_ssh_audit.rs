//! `ssh-audit` (jtesta/ssh-audit, `pip install ssh-audit`) against whelk-tokio's server and
//! client, on loopback. Fails when ssh-audit is missing.
//!
//! - defaults: exit code below 3 (no failure; the non-post-quantum methods draw warnings) and
//!   no algorithm flagged for Terrapin (the strict-KEX marker is there);
//! - the hardened profile of docs/security.md (`whelk::config::hardened_algorithms`, an
//!   Ed25519 host key): exit 0 and no warning at all;
//! - client audit (`ssh-audit -c`, listening on loopback only): the same two rules for
//!   whelk-tokio's `connect` with the defaults and with the hardened profile.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use whelk::{AuthRequest, Decision, PrivateKey};
use whelk_tokio::HostKeyPolicy;

struct Nobody;

impl whelk_tokio::Handler for Nobody {
    async fn auth(&self, _request: &AuthRequest) -> Decision {
        Decision::Reject
    }
}

fn ssh_audit_python() -> String {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("ssh-audit").is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "ssh-audit not found in PATH: install it with `pip install ssh-audit` (PyPI); \
         this test fails without it"
    );
    "python3".to_owned()
}

/// Runs ssh-audit with `args`; the socket `bind` is pinned to 127.0.0.1 (ssh-audit's client
/// audit would listen on 0.0.0.0).
fn ssh_audit(args: &[String]) -> Output {
    let python = ssh_audit_python();
    let code = "import socket, sys, runpy\n\
        _bind = socket.socket.bind\n\
        socket.socket.bind = lambda s, a: _bind(s, ('127.0.0.1', a[1]))\n\
        sys.argv = ['ssh-audit'] + sys.argv[1:]\n\
        runpy.run_module('ssh_audit', run_name='__main__')\n";
    let out = Command::new(python)
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

fn host_key() -> PrivateKey {
    PrivateKey::ed25519_from_seed(&[7; 32])
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

async fn audit_server(config: whelk_tokio::ServerConfig) -> Output {
    let server = whelk_tokio::listen("127.0.0.1:0", config, Nobody)
        .await
        .unwrap();
    let port = server.local_addr().port();
    let args = vec![
        "-n".to_owned(),
        "--skip-rate-test".to_owned(),
        "-t".to_owned(),
        "20".to_owned(),
        "-p".to_owned(),
        port.to_string(),
        "127.0.0.1".to_owned(),
    ];
    tokio::task::spawn_blocking(move || ssh_audit(&args))
        .await
        .unwrap()
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

async fn audit_client(algorithms: Option<whelk::Algorithms>) -> Output {
    let port = whelk_test::openssh::free_port().unwrap();
    let args = vec![
        "-n".to_owned(),
        "-c".to_owned(),
        "-t".to_owned(),
        "20".to_owned(),
        "-p".to_owned(),
        port.to_string(),
    ];
    let audit = tokio::task::spawn_blocking(move || ssh_audit(&args));
    let mut config = whelk_tokio::ClientConfig::new("audit").host_key(HostKeyPolicy::AcceptAny);
    if let Some(a) = algorithms {
        config.ssh.transport.algorithms = a;
    }
    config.connect_timeout = Some(Duration::from_secs(10));
    for _ in 0..200 {
        if listening(port) || audit.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(listening(port), "ssh-audit -c did not start listening");
    // ssh-audit reads our KEXINIT and hangs up: the connection fails, the audit is done.
    let r = whelk_tokio::connect("127.0.0.1", port, config).await;
    assert!(r.is_err(), "ssh-audit does not complete a key exchange");
    audit.await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_audit_server_defaults() {
    let config = whelk_tokio::ServerConfig::new(vec![host_key()]);
    let out = audit_server(config).await;
    check_defaults(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_audit_server_hardened_profile_is_clean() {
    let mut config = whelk_tokio::ServerConfig::new(vec![host_key()]);
    config.ssh.transport.algorithms = whelk::config::hardened_algorithms();
    let out = audit_server(config).await;
    check_clean(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_audit_client_defaults() {
    let out = audit_client(None).await;
    check_defaults(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_audit_client_hardened_profile_is_clean() {
    let out = audit_client(Some(whelk::config::hardened_algorithms())).await;
    check_clean(&out);
}
