//! OpenSSH's `ssh` logs in to a whelk-tokio server with `hostbased` authentication (RFC 4252
//! §9): the client host's key signs through `ssh-keysign`, as in a real deployment.
//!
//! `ssh-keysign` reads only the system files: `/etc/ssh/ssh_config` (which must say
//! `EnableSSHKeysign yes`) and the host keys `/etc/ssh/ssh_host_*_key`. The test leaves the
//! machine's own files alone: `ssh` runs in a private mount namespace (`unshare -m`) where
//! a temporary directory with that configuration and test host keys is mounted over
//! `/etc/ssh`. Needs root (for the namespace), OpenSSH's `ssh`, `ssh-keygen` and
//! `ssh-keysign`, and util-linux `unshare`; fails when one is missing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use tokio::io::AsyncWriteExt;
use whelk::{AuthRequest, Decision, Method, PrivateKey, PublicKey, RequestKind};
use whelk_keys::cert::KeyOrCert;
use whelk_test::openssh::{Ssh, find};
use whelk_tokio::{Exit, Handler, ServerConfig, ServerSession, listen};

const KEYSIGN: &str = "/usr/lib/openssh/ssh-keysign";

/// What a hostbased request carried.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    algorithm: String,
    key_type: String,
    client_host: String,
    client_user: String,
}

/// Accepts `hostbased` from one trusted host key, host `localhost.` and the local user.
#[derive(Clone)]
struct HostTrust {
    trusted: Arc<Mutex<Option<PublicKey>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Handler for HostTrust {
    async fn auth(&self, request: &AuthRequest) -> Decision {
        let RequestKind::HostBased {
            key,
            algorithm,
            client_host,
            client_user,
        } = &request.kind
        else {
            return Decision::Reject;
        };
        let KeyOrCert::Key(key) = key else {
            return Decision::Reject;
        };
        self.seen.lock().unwrap().push(Seen {
            algorithm: algorithm.name().to_owned(),
            key_type: key.key_type().name().to_owned(),
            client_host: client_host.clone(),
            client_user: client_user.clone(),
        });
        let trusted = self.trusted.lock().unwrap().as_ref() == Some(key);
        if trusted && client_host == "localhost." && *client_user == me() && request.user == me() {
            Decision::Accept(whelk::Grant::default())
        } else {
            Decision::Reject
        }
    }

    async fn exec(&self, command: String, session: ServerSession) -> Exit {
        let mut out = session.stdout();
        out.write_all(format!("ran: {command}\n").as_bytes())
            .await
            .unwrap();
        Exit::Code(0)
    }
}

fn me() -> String {
    std::env::var("USER").unwrap_or_else(|_| "root".to_owned())
}

/// A host key made by `ssh-keygen` in `dir` (as `/etc/ssh/ssh_host_<kind>_key`).
fn host_key(dir: &Path, kind: &str) -> PublicKey {
    let path = dir.join(format!("ssh_host_{kind}_key"));
    let st = Command::new(find("ssh-keygen").unwrap())
        .args(["-q", "-t", kind, "-N", "", "-C", "", "-f"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(st.success());
    let line = std::fs::read_to_string(format!("{}.pub", path.display())).unwrap();
    PublicKey::from_openssh(&line).unwrap().0
}

/// `ssh ... cmd` with the test's `/etc/ssh`, in a mount namespace of its own.
fn ssh_hostbased(etc: &Path, addr: std::net::SocketAddr, algorithms: &str) -> std::process::Output {
    let ssh = Ssh::new(addr)
        .option("HostbasedAuthentication", "yes")
        .option("EnableSSHKeysign", "yes")
        .option("HostbasedAcceptedAlgorithms", algorithms)
        .option("PreferredAuthentications", "hostbased")
        .arg("-v")
        .remote_command("echo hostbased");
    let inner = ssh.command().unwrap();
    let mut cmd = Command::new(find("unshare").expect("unshare (util-linux) not installed"));
    cmd.args([
        "-m",
        "sh",
        "-c",
        r#"mount --bind "$0" /etc/ssh && exec "$@""#,
    ])
    .arg(etc)
    .arg(inner.get_program())
    .args(inner.get_args());
    cmd.output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssh_client_logs_in_with_hostbased() {
    for tool in ["ssh", "ssh-keygen"] {
        find(tool).unwrap_or_else(|e| panic!("{tool}: {e} (this test needs openssh-client)"));
    }
    assert!(
        Path::new(KEYSIGN).exists(),
        "{KEYSIGN} missing (openssh-client)"
    );
    let dir = tempfile::tempdir().unwrap();
    let etc: PathBuf = dir.path().join("etc-ssh");
    std::fs::create_dir(&etc).unwrap();
    std::fs::write(etc.join("ssh_config"), "EnableSSHKeysign yes\n").unwrap();
    let ed25519 = host_key(&etc, "ed25519");
    let rsa = host_key(&etc, "rsa");

    let handler = HostTrust {
        trusted: Arc::default(),
        seen: Arc::default(),
    };
    let mut config = ServerConfig::new(vec![PrivateKey::ed25519_from_seed(&[3; 32])]);
    config.ssh.auth.methods = vec![Method::HostBased];
    let server = listen("127.0.0.1:0", config, handler.clone())
        .await
        .unwrap();
    let addr = server.local_addr();
    let run = |algorithms: &'static str| {
        let etc = etc.clone();
        tokio::task::spawn_blocking(move || ssh_hostbased(&etc, addr, algorithms))
    };

    // The Ed25519 host key is trusted.
    *handler.trusted.lock().unwrap() = Some(ed25519.clone());
    let out = run("ssh-ed25519").await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ran: echo hostbased\n"
    );
    assert!(
        err.contains("Authenticated to 127.0.0.1") && err.contains("using \"hostbased\""),
        "{err}"
    );
    let seen = std::mem::take(&mut *handler.seen.lock().unwrap());
    assert_eq!(
        seen,
        [Seen {
            algorithm: "ssh-ed25519".into(),
            key_type: "ssh-ed25519".into(),
            client_host: "localhost.".into(),
            client_user: me(),
        }]
    );

    // Only the RSA key is trusted: ssh offers the Ed25519 one first, then RSA signed with
    // SHA-512 (RFC 8332), which gets in.
    *handler.trusted.lock().unwrap() = Some(rsa.clone());
    let out = run("ssh-ed25519,rsa-sha2-512").await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let seen = std::mem::take(&mut *handler.seen.lock().unwrap());
    let algs: Vec<&str> = seen.iter().map(|s| s.algorithm.as_str()).collect();
    assert_eq!(algs, ["ssh-ed25519", "rsa-sha2-512"], "{seen:?}");
    assert_eq!(seen[1].key_type, "ssh-rsa");

    // No trusted key: refused, and ssh has nothing else to try.
    *handler.trusted.lock().unwrap() = None;
    let out = run("ssh-ed25519,rsa-sha2-512,rsa-sha2-256").await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("Permission denied"), "{err}");
    assert!(out.stdout.is_empty());
    let seen = handler.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    server.shutdown();
}
