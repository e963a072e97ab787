//! Sessions against OpenSSH's sshd: environment variables (`AcceptEnv`), a session used
//! directly as one `AsyncRead + AsyncWrite` stream, subsystems, and refused requests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod client_common;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use whelk_tokio::Error;

use client_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_is_passed_when_the_server_accepts_it() {
    let sshd = sshd_builder()
        .option("AcceptEnv", "WHELK_*")
        .start()
        .unwrap();
    let c = client(&sshd).await;
    let s = c.session().await.unwrap();
    s.env("WHELK_GREETING", "hello there").await.unwrap();
    // sshd answers env requests it does not accept with failure.
    let r = s.env("OTHER_VAR", "x").await;
    assert!(matches!(r, Err(Error::Refused(_))), "{r:?}");
    s.exec("echo \"$WHELK_GREETING/${OTHER_VAR:-unset}\"")
        .await
        .unwrap();
    let out = s.collect().await.unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello there/unset\n");
    c.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_one_stream() {
    let sshd = sshd();
    let c = client(&sshd).await;
    let mut s = c.exec("tr a-z A-Z").await.unwrap();
    s.write_all(b"shout this").await.unwrap();
    s.shutdown().await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert_eq!(out, "SHOUT THIS");
    assert_eq!(s.wait().await.unwrap().status, Some(0));
    // An unknown subsystem is refused; sftp is there.
    let s = c.session().await.unwrap();
    assert!(s.subsystem("no-such-subsystem").await.is_err());
    let s = c.session().await.unwrap();
    s.subsystem("sftp").await.unwrap();
    c.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_banner_reaches_the_callback() {
    let dir = tempfile::tempdir().unwrap();
    let banner = dir.path().join("banner.txt");
    std::fs::write(&banner, "Authorized use only\n").unwrap();
    let sshd = sshd_builder()
        .option("Banner", banner.display().to_string())
        .start()
        .unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let config = config(&sshd).banner(move |text| s2.lock().unwrap().push(text.to_string()));
    let c = whelk_tokio::connect("127.0.0.1", sshd.port(), config)
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].contains("Authorized use only"), "{seen:?}");
    c.disconnect().await;
}
