//! Helpers shared by the `client_*` tests: a private sshd that trusts one user key, the
//! whelk client for it, echo services on TCP and UNIX sockets, OpenSSH tools.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    dead_code
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use whelk::PrivateKey;
use whelk_test::openssh::{Sshd, SshdBuilder, find};
use whelk_tokio::{Client, ClientConfig, HostKeyPolicy, connect};

/// The local user sshd logs us in as.
pub(crate) fn user() -> String {
    std::env::var("USER").unwrap_or_else(|_| "root".to_owned())
}

/// The user key every test sshd trusts.
pub(crate) fn user_key() -> PrivateKey {
    PrivateKey::ed25519_from_seed(&[21; 32])
}

/// An sshd builder trusting [`user_key`] (fails when sshd is missing).
pub(crate) fn sshd_builder() -> SshdBuilder {
    find("sshd").expect("sshd not installed: these interop tests need openssh-server");
    let line = user_key()
        .public_key()
        .to_openssh("whelk-tokio-client-test");
    Sshd::builder().authorized_key(line)
}

/// A started sshd trusting [`user_key`].
pub(crate) fn sshd() -> Sshd {
    sshd_builder().start().unwrap()
}

/// Client settings for `sshd`: [`user_key`], host key from the sshd's known_hosts.
pub(crate) fn config(sshd: &Sshd) -> ClientConfig {
    ClientConfig::new(&user())
        .key(user_key())
        .host_key(HostKeyPolicy::KnownHosts(sshd.known_hosts().unwrap()))
}

/// A connected client.
pub(crate) async fn client(sshd: &Sshd) -> Client {
    connect("127.0.0.1", sshd.port(), config(sshd))
        .await
        .unwrap()
}

/// `ssh-keygen -q -N "" -C test -f DIR/NAME ARGS...`: returns the private key path.
pub(crate) fn keygen(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let st = Command::new(find("ssh-keygen").unwrap())
        .args(["-q", "-N", "", "-C", "test", "-f"])
        .arg(&path)
        .args(args)
        .status()
        .unwrap();
    assert!(st.success());
    path
}

/// The `.pub` line of a key made by [`keygen`].
pub(crate) fn public_line(path: &Path) -> String {
    std::fs::read_to_string(format!("{}.pub", path.display()))
        .unwrap()
        .trim()
        .to_string()
}

/// Loads a private key file.
pub(crate) fn load(path: &Path) -> PrivateKey {
    PrivateKey::from_openssh(&std::fs::read_to_string(path).unwrap(), None).unwrap()
}

async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut sock: S) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if sock.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = sock.shutdown().await;
}

/// A TCP echo service on loopback; returns its port.
pub(crate) async fn tcp_echo() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(echo(s));
        }
    });
    port
}

/// A UNIX-socket echo service at `path`.
pub(crate) fn unix_echo(path: &Path) {
    let l = tokio::net::UnixListener::bind(path).unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(echo(s));
        }
    });
}

/// Writes `msg`, half-closes, reads everything back.
pub(crate) async fn round_trip<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, msg: &[u8]) -> Vec<u8> {
    s.write_all(msg).await.unwrap();
    s.shutdown().await.unwrap();
    let mut back = Vec::new();
    s.read_to_end(&mut back).await.unwrap();
    back
}

/// The local account the password and keyboard-interactive tests log in as.
pub(crate) const TEST_USER: &str = "whelk-test";
/// Its password.
pub(crate) const TEST_PASSWORD: &str = "whelk-test-password";

/// Makes sure the account `whelk-test` (password `whelk-test-password`) exists: creates it
/// when missing and running as root, else fails with instructions.
pub(crate) fn require_test_user() {
    use std::io::Write;
    use std::process::Stdio;
    let exists = || {
        Command::new("getent")
            .args(["passwd", TEST_USER])
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if exists() {
        return;
    }
    let how = format!(
        "create it as root: useradd -M -s /bin/sh {TEST_USER} && \
         echo '{TEST_USER}:{TEST_PASSWORD}' | chpasswd"
    );
    let uid = Command::new("id").arg("-u").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "the user {TEST_USER} is missing: {how}"
    );
    let st = Command::new("useradd")
        .args(["-M", "-s", "/bin/sh", TEST_USER])
        .status()
        .unwrap();
    assert!(st.success() || exists(), "useradd failed: {how}");
    let mut child = Command::new("chpasswd")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{TEST_USER}:{TEST_PASSWORD}\n").as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "chpasswd failed: {how}");
}

/// A test-started OpenSSH `ssh-agent -D -a SOCK`, killed on drop.
pub(crate) struct SshAgent {
    pub(crate) sock: PathBuf,
    _child: whelk_test::openssh::ChildGuard,
}

impl SshAgent {
    /// Starts an agent with its socket in `dir`.
    pub(crate) fn start(dir: &Path) -> Self {
        let sock = dir.join("agent.sock");
        let child = whelk_test::openssh::ChildGuard::spawn(
            Command::new(find("ssh-agent").unwrap())
                .arg("-D")
                .arg("-a")
                .arg(&sock),
        )
        .unwrap();
        for _ in 0..500 {
            if std::os::unix::net::UnixStream::connect(&sock).is_ok() {
                return Self {
                    sock,
                    _child: child,
                };
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("ssh-agent did not start");
    }

    /// `ssh-add KEY`.
    pub(crate) fn add(&self, key: &Path) {
        let out = Command::new(find("ssh-add").unwrap())
            .env("SSH_AUTH_SOCK", &self.sock)
            .arg(key)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ssh-add: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `ssh-keygen -lf KEY.pub`: the SHA256 fingerprint.
pub(crate) fn fingerprint(key: &Path) -> String {
    let out = Command::new(find("ssh-keygen").unwrap())
        .arg("-lf")
        .arg(format!("{}.pub", key.display()))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

/// A TCP proxy in front of a port that a test can freeze (stop forwarding, keep the
/// sockets: a server that stops answering) or cut (drop every connection).
pub(crate) struct Proxy {
    pub(crate) port: u16,
    frozen: std::sync::Arc<std::sync::atomic::AtomicBool>,
    cut: std::sync::Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Starts a proxy to `127.0.0.1:target`.
    pub(crate) async fn start(target: u16) -> Self {
        use std::sync::atomic::Ordering;
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let frozen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let cut = std::sync::Arc::new(tokio::sync::Notify::new());
        let (f, c) = (frozen.clone(), cut.clone());
        let task = tokio::spawn(async move {
            while let Ok((a, _)) = l.accept().await {
                let b = tokio::net::TcpStream::connect(("127.0.0.1", target))
                    .await
                    .unwrap();
                let (f, c) = (f.clone(), c.clone());
                tokio::spawn(async move {
                    let (ar, aw) = a.into_split();
                    let (br, bw) = b.into_split();
                    let pump =
                        |mut r: tokio::net::tcp::OwnedReadHalf,
                         mut w: tokio::net::tcp::OwnedWriteHalf,
                         f: std::sync::Arc<std::sync::atomic::AtomicBool>| async move {
                            let mut buf = vec![0u8; 16 * 1024];
                            loop {
                                let n = match r.read(&mut buf).await {
                                    Ok(0) | Err(_) => break,
                                    Ok(n) => n,
                                };
                                if f.load(Ordering::SeqCst) {
                                    // Frozen: hold everything, forward nothing.
                                    std::future::pending::<()>().await;
                                }
                                if w.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                            let _ = w.shutdown().await;
                            (r, w)
                        };
                    tokio::select! {
                        _ = async { tokio::join!(pump(ar, bw, f.clone()), pump(br, aw, f)) } => {}
                        () = c.notified() => {}
                    }
                });
            }
        });
        Self {
            port,
            frozen,
            cut,
            task,
        }
    }

    /// A whelk client to `sshd` through this proxy (the host key is checked for the
    /// sshd's own address, not the proxy's).
    pub(crate) async fn client(&self, sshd: &Sshd, config: ClientConfig) -> Client {
        let sock = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .unwrap();
        whelk_tokio::connect_stream(sock, "127.0.0.1", sshd.port(), config)
            .await
            .unwrap()
    }

    /// Stops forwarding (both ways), keeping the connections open.
    pub(crate) fn freeze(&self) {
        self.frozen.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Drops every proxied connection (and accepts no more).
    pub(crate) fn cut(&self) {
        self.task.abort();
        self.cut.notify_waiters();
    }
}

impl Drop for Proxy {
    /// Cuts the connections: a frozen one would keep sshd's connection process (and the
    /// test's sshd log pipe) alive.
    fn drop(&mut self) {
        self.cut();
    }
}
