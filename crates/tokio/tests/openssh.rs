//! whelk-tokio against OpenSSH: the client against a private `sshd`, and `ssh` against the
//! whelk server. Skipped (with a note) when OpenSSH is not installed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use whelk::{AlgorithmsExt, AuthRequest, AuthorizedKeysPolicy, Decision, PrivateKey};
use whelk_test::openssh::{Ssh, Sshd, find};
use whelk_tokio::*;

fn have(tool: &str) -> bool {
    find(tool).is_ok()
}

fn user() -> String {
    std::env::var("USER").unwrap_or_else(|_| "root".to_owned())
}

fn user_key() -> PrivateKey {
    PrivateKey::ed25519_from_seed(&[11; 32])
}

fn sshd() -> Option<Sshd> {
    if !have("sshd") {
        panic!("sshd not installed: this interop test needs openssh-server");
    }
    let line = user_key().public_key().to_openssh("whelk-tokio-test");
    Some(Sshd::builder().authorized_key(line).start().unwrap())
}

async fn client(sshd: &Sshd) -> Client {
    let config = ClientConfig::new(&user())
        .key(user_key())
        .host_key(HostKeyPolicy::KnownHosts(sshd.known_hosts().unwrap()));
    connect("127.0.0.1", sshd.port(), config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_collects_stdout_stderr_and_exit_status() {
    let Some(sshd) = sshd() else { return };
    let c = client(&sshd).await;
    let out = c.run("echo hi; echo err >&2; exit 3").await.unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
    // sshd at LogLevel DEBUG1 also sends its session debug lines to stderr.
    assert!(String::from_utf8_lossy(&out.stderr).ends_with("err\n"));
    assert_eq!(out.exit_status, Some(3));
    assert_eq!(out.exit_signal, None);
    // The connection carries more commands.
    let out = c.run("true").await.unwrap();
    assert_eq!(out.exit_status, Some(0));
    c.disconnect().await;
    assert!(!c.is_connected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_piped_through_cat() {
    let Some(sshd) = sshd() else { return };
    let c = client(&sshd).await;
    let s = c.exec("cat").await.unwrap();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut stdin = s.stdin();
    let mut stdout = s.stdout();
    let send = data.clone();
    let writer = tokio::spawn(async move {
        stdin.write_all(&send).await.unwrap();
        stdin.shutdown().await.unwrap();
    });
    let mut got = Vec::new();
    stdout.read_to_end(&mut got).await.unwrap();
    writer.await.unwrap();
    assert_eq!(got.len(), data.len());
    assert!(got == data);
    assert_eq!(s.wait().await.unwrap().status, Some(0));
}

/// Each UMAC (OpenSSH's `umac-*@openssh.com`, RFC 4418) with AES-CTR carries 1 MB each way
/// through `cat` on sshd: hundreds of packets, so the per-packet nonce (the sequence number)
/// and both directions' keys are exercised, not just the handshake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn umac_carries_bulk_data_both_ways() {
    if !have("sshd") {
        panic!("sshd not installed: this interop test needs openssh-server");
    }
    const UMACS: [&str; 4] = [
        "umac-64-etm@openssh.com",
        "umac-128-etm@openssh.com",
        "umac-64@openssh.com",
        "umac-128@openssh.com",
    ];
    let line = user_key().public_key().to_openssh("whelk-tokio-test");
    let sshd = Sshd::builder()
        .authorized_key(line)
        .option("Ciphers", "aes128-ctr,aes256-ctr")
        .option("MACs", UMACS.join(","))
        .start()
        .unwrap();
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i * 13 % 251) as u8).collect();
    for (i, mac) in UMACS.into_iter().enumerate() {
        let mut config = ClientConfig::new(&user())
            .key(user_key())
            .host_key(HostKeyPolicy::KnownHosts(sshd.known_hosts().unwrap()));
        let cipher = if i % 2 == 0 {
            "aes128-ctr"
        } else {
            "aes256-ctr"
        };
        config.ssh.algorithms().set_ciphers(cipher).unwrap();
        config.ssh.algorithms().set_macs(mac).unwrap();
        let c = connect("127.0.0.1", sshd.port(), config).await.unwrap();
        let s = c.exec("cat").await.unwrap();
        let mut stdin = s.stdin();
        let send = data.clone();
        let writer = tokio::spawn(async move {
            stdin.write_all(&send).await.unwrap();
            stdin.shutdown().await.unwrap();
        });
        let mut got = Vec::new();
        s.stdout().read_to_end(&mut got).await.unwrap();
        writer.await.unwrap();
        assert!(got == data, "{mac}: {} bytes back", got.len());
        assert_eq!(s.wait().await.unwrap().status, Some(0), "{mac}");
        c.disconnect().await;
    }
    // sshd logged what it negotiated.
    let log = sshd.stderr_log();
    for mac in UMACS {
        assert!(
            log.contains(&format!("MAC: {mac}")),
            "{mac} never used:\n{log}"
        );
    }

    // OpenSSH's ssh against the whelk server, the same 1 MB through its `cat`.
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let line = std::fs::read_to_string(format!("{}.pub", key.display())).unwrap();
    let input = dir.path().join("input");
    std::fs::write(&input, &data).unwrap();
    let mut config = ServerConfig::new(vec![PrivateKey::ed25519_from_seed(&[3; 32])]);
    config.ssh.algorithms().set_ciphers("+aes128-ctr").unwrap();
    config.ssh.algorithms().set_macs(&UMACS[..]).unwrap();
    let server = listen(
        "127.0.0.1:0",
        config,
        Echo {
            policy: AuthorizedKeysPolicy::new(&line),
        },
    )
    .await
    .unwrap();
    for mac in UMACS {
        let mut cmd = Ssh::new(server.local_addr())
            .user("alice")
            .identity(&key)
            .option("Ciphers", "aes128-ctr")
            .option("MACs", mac)
            .arg("-v")
            .remote_command("cat")
            .command()
            .unwrap();
        cmd.stdin(std::fs::File::open(&input).unwrap());
        let out = tokio::time::timeout(
            Duration::from_secs(60),
            tokio::task::spawn_blocking(move || cmd.output().unwrap()),
        )
        .await
        .unwrap()
        .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{mac}: {err}");
        assert!(
            err.contains(&format!("MAC: {mac}")),
            "{mac} not negotiated:\n{err}"
        );
        assert!(out.stdout == data, "{mac}: {} bytes back", out.stdout.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_sessions_at_once() {
    let Some(sshd) = sshd() else { return };
    let c = client(&sshd).await;
    let runs = (0..5).map(|i| {
        let c = c.clone();
        tokio::spawn(async move { c.run(&format!("echo n{i}; exit {i}")).await.unwrap() })
    });
    for (i, r) in runs.enumerate() {
        let out = r.await.unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("n{i}\n"));
        assert_eq!(out.exit_status, Some(u32::try_from(i).unwrap()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_signal_and_timeout() {
    let Some(sshd) = sshd() else { return };
    let c = client(&sshd).await;
    let out = c.run("kill -TERM $$").await.unwrap();
    assert_eq!(out.exit_signal.as_deref(), Some("TERM"));
    assert_eq!(out.exit_status, None);
    let r = c
        .run_timeout("sleep 10", Some(Duration::from_millis(300)))
        .await;
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    // Still usable afterwards.
    assert_eq!(c.run("exit 4").await.unwrap().exit_status, Some(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pty_and_window_change() {
    let Some(sshd) = sshd() else { return };
    let c = client(&sshd).await;
    let s = c.session().await.unwrap();
    s.request_pty("xterm", 100, 30).await.unwrap();
    // The size changes before the command looks at it.
    s.window_change(120, 40).unwrap();
    s.exec("stty size").await.unwrap();
    let out = s.collect().await.unwrap();
    // With a pty, sshd's debug lines share stdout.
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.trim_end().ends_with("40 120"), "{text:?}");
    c.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_host_key_is_rejected() {
    let Some(sshd) = sshd() else { return };
    let other = PrivateKey::ed25519_from_seed(&[99; 32]);
    let known = format!(
        "[127.0.0.1]:{} {}",
        sshd.port(),
        other.public_key().to_openssh("")
    );
    let config = ClientConfig::new(&user())
        .key(user_key())
        .host_key(HostKeyPolicy::KnownHosts(known));
    let r = connect("127.0.0.1", sshd.port(), config).await;
    assert!(matches!(r, Err(Error::HostKey(_))), "{r:?}");
    // A callback sees the key.
    let seen = Arc::new(std::sync::Mutex::new(None));
    let s2 = seen.clone();
    let config = ClientConfig::new(&user())
        .key(user_key())
        .host_key(HostKeyPolicy::Callback(Arc::new(move |info| {
            *s2.lock().unwrap() = Some(info.algorithm.clone());
            true
        })));
    let c = connect("127.0.0.1", sshd.port(), config).await.unwrap();
    assert_eq!(seen.lock().unwrap().as_deref(), Some("ssh-ed25519"));
    c.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_fails_to_authenticate() {
    let Some(sshd) = sshd() else { return };
    let config = ClientConfig::new(&user())
        .key(PrivateKey::ed25519_from_seed(&[5; 32]))
        .host_key(HostKeyPolicy::KnownHosts(sshd.known_hosts().unwrap()));
    let r = connect("127.0.0.1", sshd.port(), config).await;
    assert!(matches!(r, Err(Error::Closed(_))), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_and_remote_port_forwarding_through_sshd() {
    let Some(sshd) = sshd() else { return };
    // A TCP service only the server side "reaches": it answers with the bytes reversed.
    let svc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let svc_port = svc.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = svc.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                sock.read_to_end(&mut buf).await.unwrap();
                buf.reverse();
                sock.write_all(&buf).await.unwrap();
            });
        }
    });
    let c = client(&sshd).await;
    let local = c
        .forward_local("127.0.0.1:0", "127.0.0.1", svc_port)
        .await
        .unwrap();
    let addr = local.local_addr().unwrap();
    // Remote forwarding: sshd listens and the connections come back to us.
    let remote_fwd = c
        .forward_remote("127.0.0.1", 0, "127.0.0.1", svc_port)
        .await
        .unwrap();
    let bound = remote_fwd.remote_port().unwrap();
    assert_ne!(bound, 0);
    let remote: std::net::SocketAddr = format!("127.0.0.1:{bound}").parse().unwrap();
    for (round, addr) in [addr, addr, remote, remote].into_iter().enumerate() {
        let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
        let msg = format!("forwarded {round}");
        sock.write_all(msg.as_bytes()).await.unwrap();
        sock.shutdown().await.unwrap();
        let mut back = Vec::new();
        sock.read_to_end(&mut back).await.unwrap();
        let want: String = msg.chars().rev().collect();
        assert_eq!(String::from_utf8_lossy(&back), want);
    }
    local.close().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    drop(remote_fwd);
    c.disconnect().await;
}

// ---------------------------------------------------------------- ssh -> whelk server

struct Echo {
    policy: AuthorizedKeysPolicy,
}

impl Handler for Echo {
    async fn auth(&self, request: &AuthRequest) -> Decision {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        match &request.kind {
            whelk::RequestKind::Password { password, .. } => {
                if password.as_slice() == b"pw" {
                    Decision::Accept(whelk::Grant::default())
                } else {
                    Decision::Reject
                }
            }
            _ => self.policy.decide(request, now),
        }
    }

    async fn exec(&self, command: String, session: ServerSession) -> Exit {
        let mut out = session.stdout();
        let mut err = session.stderr();
        if command == "cat" {
            let mut input = Vec::new();
            session.stdin().read_to_end(&mut input).await.unwrap();
            out.write_all(&input).await.unwrap();
            return Exit::Code(0);
        }
        out.write_all(format!("ran: {command}\n").as_bytes())
            .await
            .unwrap();
        err.write_all(b"to stderr\n").await.unwrap();
        Exit::Code(7)
    }
}

fn keygen(dir: &Path) -> PathBuf {
    let path = dir.join("id_ed25519");
    let st = Command::new(find("ssh-keygen").unwrap())
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "t", "-f"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(st.success());
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssh_client_runs_a_command_on_the_whelk_server() {
    if !have("ssh") || !have("ssh-keygen") {
        panic!("OpenSSH not installed: this interop test needs openssh-client");
    }
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let line = std::fs::read_to_string(format!("{}.pub", key.display())).unwrap();
    let host = PrivateKey::ed25519_from_seed(&[3; 32]);
    let server = listen(
        "127.0.0.1:0",
        ServerConfig::new(vec![host]),
        Echo {
            policy: AuthorizedKeysPolicy::new(&line),
        },
    )
    .await
    .unwrap();
    let addr = server.local_addr();
    let ssh = Ssh::new(addr)
        .user("alice")
        .identity(&key)
        .remote_command("hello world");
    let out = tokio::task::spawn_blocking(move || ssh.run(Duration::from_secs(20)).unwrap())
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ran: hello world\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("to stderr"));
    assert_eq!(out.status.code(), Some(7));

    // Our own client against our own server, stdin through `cat`.
    let config = ClientConfig::new("alice")
        .key(PrivateKey::from_openssh(&std::fs::read_to_string(&key).unwrap(), None).unwrap())
        .host_key(HostKeyPolicy::AcceptAny);
    let c = connect("127.0.0.1", addr.port(), config).await.unwrap();
    let s = c.exec("cat").await.unwrap();
    let mut stdin = s.stdin();
    stdin.write_all(b"piped").await.unwrap();
    stdin.shutdown().await.unwrap();
    let out = s.collect().await.unwrap();
    assert_eq!(out.stdout, b"piped");
    assert_eq!(out.exit_status, Some(0));
    c.disconnect().await;

    // Password authentication, and a wrong password.
    let config = ClientConfig::new("bob")
        .password("pw")
        .host_key(HostKeyPolicy::AcceptAny);
    let c = connect("127.0.0.1", addr.port(), config).await.unwrap();
    let out = c.run("by password").await.unwrap();
    assert_eq!(out.stdout, b"ran: by password\n");
    assert_eq!(out.stderr, b"to stderr\n");
    assert_eq!(out.exit_status, Some(7));
    c.disconnect().await;
    let config = ClientConfig::new("bob")
        .password("nope")
        .host_key(HostKeyPolicy::AcceptAny);
    let r = connect("127.0.0.1", addr.port(), config).await;
    assert!(matches!(r, Err(Error::Closed(_))), "{r:?}");
}
