//! Helpers shared by the whelk-std integration tests: a private `sshd` trusting one test
//! key, and a client configured for it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use whelk::PrivateKey;
use whelk_std::{Client, ClientConfig, HostKeyPolicy, Session, connect};
use whelk_test::openssh::{ChildGuard, Sshd, SshdBuilder, find, run};

/// The user sshd logs the tests in as (the one running them).
pub(crate) fn user() -> String {
    std::env::var("USER").unwrap_or_else(|_| "root".to_owned())
}

/// The key sshd's `authorized_keys` lists.
pub(crate) fn user_key() -> PrivateKey {
    PrivateKey::ed25519_from_seed(&[21; 32])
}

/// An sshd builder that authorizes [`user_key`]; panics when sshd is not installed.
pub(crate) fn sshd_builder() -> SshdBuilder {
    find("sshd").expect("sshd not installed: this interop test needs openssh-server");
    let line = user_key().public_key().to_openssh("whelk-std-test");
    Sshd::builder().authorized_key(line)
}

/// A started [`sshd_builder`].
pub(crate) fn sshd() -> Sshd {
    sshd_builder().start().unwrap()
}

/// A client config for `sshd`: [`user_key`], its host keys trusted.
pub(crate) fn config(sshd: &Sshd) -> ClientConfig {
    ClientConfig::new(&user())
        .key(user_key())
        .host_key(HostKeyPolicy::KnownHosts(sshd.known_hosts().unwrap()))
}

/// A client connected to `sshd`.
pub(crate) fn client(sshd: &Sshd) -> Client {
    connect("127.0.0.1", sshd.port(), config(sshd)).unwrap()
}

/// Writes `data` to the session's stdin from another thread (then EOF) while reading its
/// stdout to the end here; returns what was read.
pub(crate) fn pipe_through(session: &Session, data: &[u8]) -> Vec<u8> {
    let mut stdin = session.stdin();
    let send = data.to_vec();
    let writer = std::thread::spawn(move || {
        stdin.write_all(&send).unwrap();
        stdin.flush().unwrap();
        stdin.send_eof().unwrap();
    });
    let mut got = Vec::new();
    session.stdout().read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    got
}

/// A test-started `ssh-agent` holding one key (the private key exists only in the agent
/// and in a temporary file deleted after `ssh-add`).
pub(crate) struct Agent {
    _guard: ChildGuard,
    pub(crate) sock: std::path::PathBuf,
    pub(crate) public: String,
    _dir: tempfile::TempDir,
}

pub(crate) fn agent_with_key() -> Agent {
    let agent = find("ssh-agent").expect("ssh-agent not installed");
    find("ssh-add").expect("ssh-add not installed");
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("agent.sock");
    let guard = ChildGuard::spawn(Command::new(agent).arg("-D").arg("-a").arg(&sock)).unwrap();
    let key = dir.path().join("id_agent");
    let mut keygen = Command::new(find("ssh-keygen").unwrap());
    keygen
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "agent-only-key",
            "-f",
        ])
        .arg(&key);
    run(keygen, Duration::from_secs(20)).unwrap();
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    // Wait for the agent's socket, then load the key.
    for _ in 0..500 {
        if UnixStream::connect(&sock).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut add = Command::new("ssh-add");
    add.env("SSH_AUTH_SOCK", &sock).arg(&key);
    let out = run(add, Duration::from_secs(20)).unwrap();
    assert!(out.status.success(), "ssh-add: {}", out.stderr_str());
    std::fs::remove_file(&key).unwrap();
    Agent {
        _guard: guard,
        sock,
        public,
        _dir: dir,
    }
}

/// A TCP echo service on loopback.
pub(crate) fn echo_tcp() -> u16 {
    let svc = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = svc.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut sock in svc.incoming().flatten() {
            std::thread::spawn(move || {
                let mut rd = sock.try_clone().unwrap();
                let _ = std::io::copy(&mut rd, &mut sock);
            });
        }
    });
    port
}

/// A UNIX socket echo service at `path`.
pub(crate) fn echo_unix(path: &Path) {
    let svc = UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        for mut sock in svc.incoming().flatten() {
            std::thread::spawn(move || {
                let mut rd = sock.try_clone().unwrap();
                let _ = std::io::copy(&mut rd, &mut sock);
            });
        }
    });
}

/// Writes `msg`, reads the echo back.
pub(crate) fn echo_round<S: Read + Write>(sock: &mut S, msg: &[u8]) {
    sock.write_all(msg).unwrap();
    let mut back = vec![0u8; msg.len()];
    sock.read_exact(&mut back).unwrap();
    assert!(back == msg);
}
