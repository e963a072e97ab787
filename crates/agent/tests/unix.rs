//! whelk's UNIX-socket client against whelk's UNIX-socket server (no OpenSSH needed).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use bytes::Bytes;
use rand_core::SeedableRng;
use whelk_agent::proto::Constraint;
use whelk_agent::unix::{UnixClient, UnixServer};
use whelk_agent::{AddIdentity, Agent, Error};
use whelk_keys::{PrivateKey, SigAlg, VerifyPolicy};
use whelk_wire::msg::SessionBind;

fn add(key: &PrivateKey, constraints: Vec<Constraint>) -> AddIdentity {
    AddIdentity {
        key: key.clone(),
        certificate: None,
        comment: Bytes::from_static(b"unix test"),
        constraints,
    }
}

#[test]
fn client_and_server_over_a_socket() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("s");
    let server = UnixServer::bind(&sock, Agent::new()).unwrap();
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let store = server.agent();
    let mut handle = server.spawn();

    let mut c = UnixClient::connect(&sock).unwrap();
    let key = PrivateKey::ed25519_from_seed(&[4; 32]);
    c.add(add(&key, vec![])).unwrap();
    assert_eq!(store.lock().unwrap().len(), 1);
    let ids = c.identities().unwrap();
    assert_eq!(ids.len(), 1);
    let sig = c.sign(&ids[0].key_blob, b"m", SigAlg::Ed25519).unwrap();
    key.public_key()
        .verify(SigAlg::Ed25519, b"m", &sig, &VerifyPolicy::default())
        .unwrap();

    assert_eq!(
        c.query_extensions().unwrap(),
        ["query", "session-bind@openssh.com"]
    );
    let mut rng = chacha20::ChaCha20Rng::from_seed([6; 32]);
    let host = PrivateKey::ed25519_from_seed(&[5; 32]);
    let bind = SessionBind {
        host_key: Bytes::copy_from_slice(host.public_key().blob()),
        session_id: Bytes::from_static(b"sid"),
        signature: Bytes::from(host.sign(SigAlg::Ed25519, b"sid", &mut rng).unwrap()),
        is_forwarding: true,
    };
    c.session_bind(&bind).unwrap();
    let mut forged = bind.clone();
    forged.session_id = Bytes::from_static(b"other sid");
    assert!(matches!(c.session_bind(&forged), Err(Error::Refused)));

    c.lock(b"pw").unwrap();
    assert!(c.identities().unwrap().is_empty());
    c.unlock(b"pw").unwrap();
    c.remove(key.public_key().blob()).unwrap();
    assert!(matches!(c.remove_all(), Ok(())));
    assert!(c.identities().unwrap().is_empty());

    handle.stop().unwrap();
    assert!(!sock.exists(), "socket removed on stop");
}

#[test]
fn the_reaper_removes_expired_keys_without_a_request() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("s");
    let server = UnixServer::bind(&sock, Agent::new()).unwrap();
    let store = server.agent();
    let _handle = server.spawn();
    let mut c = UnixClient::connect(&sock).unwrap();
    c.add(add(
        &PrivateKey::ed25519_from_seed(&[1; 32]),
        vec![Constraint::Lifetime(1)],
    ))
    .unwrap();
    assert_eq!(store.lock().unwrap().len(), 1);
    let start = std::time::Instant::now();
    while !store.lock().unwrap().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "key never expired"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn r06_frame_over_a_socket_closes_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("s");
    let _handle = UnixServer::bind(&sock, Agent::new()).unwrap().spawn();
    let mut s = UnixStream::connect(&sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&[0xff, 0xff, 0xff, 0xff, 0x0b]).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(
        s.read(&mut buf).unwrap(),
        0,
        "connection closed, nothing sent"
    );
    // The agent still serves other connections.
    assert!(
        UnixClient::connect(&sock)
            .unwrap()
            .identities()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn connecting_to_a_missing_socket_fails() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        UnixClient::connect(&dir.path().join("none")),
        Err(Error::Io(_))
    ));
}

/// Run in a child process by `connect_env_uses_ssh_auth_sock` with `SSH_AUTH_SOCK` set (the
/// environment of this process is never changed); on its own it only checks the error for
/// an unset variable when the parent test environment has none.
#[test]
fn child_connect_env() {
    match std::env::var_os("WHELK_AGENT_TEST_CHILD") {
        Some(expected) => {
            let mut c = UnixClient::connect_env().unwrap();
            let n = c.identities().unwrap().len();
            assert_eq!(n.to_string(), expected.to_string_lossy());
        }
        None => {
            if std::env::var_os("SSH_AUTH_SOCK").is_none() {
                assert!(matches!(UnixClient::connect_env(), Err(Error::NoAuthSock)));
            }
        }
    }
}

#[test]
fn connect_env_uses_ssh_auth_sock() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("s");
    let server = UnixServer::bind(&sock, Agent::new()).unwrap();
    let store = server.agent();
    assert!(
        store
            .lock()
            .unwrap()
            .add(add(&PrivateKey::ed25519_from_seed(&[2; 32]), vec![]), 0)
    );
    let _handle = server.spawn();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_connect_env", "--nocapture"])
        .env("SSH_AUTH_SOCK", &sock)
        .env("WHELK_AGENT_TEST_CHILD", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
}
