//! Channel reads and writes through a real connection (the client against a private
//! `sshd`), with more data than one receive window (2 MiB), so the window has to be
//! re-opened by the reader: `ChannelReader::read_chunk` (no copy), small `poll_read`s and
//! stderr, and a writer that keeps the send queue full.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use whelk::PrivateKey;
use whelk_test::openssh::{Sshd, find};
use whelk_tokio::*;

fn user() -> String {
    std::env::var("USER").unwrap_or_else(|_| "root".to_owned())
}

fn user_key() -> PrivateKey {
    PrivateKey::ed25519_from_seed(&[12; 32])
}

fn sshd() -> Sshd {
    find("sshd").expect("sshd not installed: this interop test needs openssh-server");
    let line = user_key().public_key().to_openssh("whelk-tokio-test");
    Sshd::builder().authorized_key(line).start().unwrap()
}

async fn client(sshd: &Sshd) -> Client {
    let config = ClientConfig::new(&user())
        .key(user_key())
        .host_key(HostKeyPolicy::KnownHosts(sshd.known_hosts().unwrap()));
    connect("127.0.0.1", sshd.port(), config).await.unwrap()
}

fn pattern(n: u32) -> Vec<u8> {
    (0..n).map(|i| u8::try_from(i * 7 % 251).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_chunk_hands_out_everything_across_several_windows() {
    let sshd = sshd();
    let c = client(&sshd).await;
    let s = c.exec("cat").await.unwrap();
    let data = pattern(7_000_000);
    let mut stdin = s.stdin();
    let send = data.clone();
    let writer = tokio::spawn(async move {
        stdin.write_all(&send).await.unwrap();
        stdin.shutdown().await.unwrap();
    });
    let mut out = s.stdout();
    let mut got = Vec::new();
    while let Some(chunk) = out.read_chunk(64 * 1024).await.unwrap() {
        assert!(
            !chunk.is_empty() && chunk.len() <= 64 * 1024,
            "{}",
            chunk.len()
        );
        got.extend_from_slice(&chunk);
    }
    writer.await.unwrap();
    assert_eq!(got.len(), data.len());
    assert!(got == data);
    // At EOF it stays at EOF; a zero maximum reads nothing.
    assert!(out.read_chunk(1024).await.unwrap().is_none());
    assert!(out.read_chunk(0).await.unwrap().is_none());
    assert_eq!(s.wait().await.unwrap().status, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_reads_reopen_the_window() {
    let sshd = sshd();
    let c = client(&sshd).await;
    // 5 MB: the sender blocks on the window twice; only our reads re-open it.
    let s = c.exec("head -c 5000000 /dev/zero").await.unwrap();
    let mut out = s.stdout();
    let mut buf = vec![0u8; 3000];
    let mut total = 0usize;
    loop {
        let n = out.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        assert!(buf[..n].iter().all(|&b| b == 0));
        total += n;
    }
    assert_eq!(total, 5_000_000);
    assert_eq!(s.wait().await.unwrap().status, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdout_with_large_reads_and_stderr_as_chunks() {
    let sshd = sshd();
    let c = client(&sshd).await;
    let s = c
        .exec("head -c 3000000 /dev/zero; head -c 3000000 /dev/zero >&2")
        .await
        .unwrap();
    let mut out = s.stdout();
    let mut err = s.stderr();
    // stdout and stderr share the window: read both at once.
    let errs = tokio::spawn(async move {
        let mut err_total = 0usize;
        while let Some(chunk) = err.read_chunk(1 << 20).await.unwrap() {
            err_total += chunk.len();
        }
        err_total
    });
    let mut big = vec![0u8; 1024 * 1024];
    let mut total = 0usize;
    loop {
        let n = out.read(&mut big).await.unwrap();
        if n == 0 {
            break;
        }
        total += n;
    }
    assert_eq!(total, 3_000_000);
    // The account's shell may add a line of its own on stderr.
    let e = errs.await.unwrap();
    assert!((3_000_000..3_001_000).contains(&e), "{e}");
    assert_eq!(s.wait().await.unwrap().status, Some(0));
}
