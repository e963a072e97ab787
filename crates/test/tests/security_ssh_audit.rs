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

use std::process::Output;
use std::time::Duration;

use whelk::{AuthRequest, Decision, PrivateKey};
use whelk_test::ssh_audit::{self, check_clean, check_defaults};
use whelk_tokio::HostKeyPolicy;

struct Nobody;

impl whelk_tokio::Handler for Nobody {
    async fn auth(&self, _request: &AuthRequest) -> Decision {
        Decision::Reject
    }
}

fn host_key() -> PrivateKey {
    PrivateKey::ed25519_from_seed(&[7; 32])
}

async fn audit_server(config: whelk_tokio::ServerConfig) -> Output {
    let server = whelk_tokio::listen("127.0.0.1:0", config, Nobody)
        .await
        .unwrap();
    let args = ssh_audit::server_args(server.local_addr().port(), false);
    tokio::task::spawn_blocking(move || ssh_audit::run(&args))
        .await
        .unwrap()
        .unwrap()
}

async fn audit_client(algorithms: Option<whelk::Algorithms>) -> Output {
    let port = whelk_test::openssh::free_port().unwrap();
    let args = ssh_audit::client_args(port);
    let audit = tokio::task::spawn_blocking(move || ssh_audit::run(&args));
    let mut config = whelk_tokio::ClientConfig::new("audit").host_key(HostKeyPolicy::AcceptAny);
    if let Some(a) = algorithms {
        config.ssh.transport.algorithms = a;
    }
    config.connect_timeout = Some(Duration::from_secs(10));
    assert!(
        ssh_audit::wait_listening(port, || audit.is_finished()),
        "ssh-audit -c did not start listening"
    );
    // ssh-audit reads our KEXINIT and hangs up: the connection fails, the audit is done.
    let r = whelk_tokio::connect("127.0.0.1", port, config).await;
    assert!(r.is_err(), "ssh-audit does not complete a key exchange");
    audit.await.unwrap().unwrap()
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
