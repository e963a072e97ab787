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
