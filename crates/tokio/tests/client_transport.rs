//! The client's transport against OpenSSH's sshd: SSH over a TCP proxy stream
//! (`connect_stream`), over a proxy command (`ssh -W`, OpenSSH's ProxyCommand idiom),
//! through jump hosts (`Client::jump`, ProxyJump, twice nested), the authentication
//! timeout, and keepalives (answered by sshd; a frozen path detected).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod client_common;

use std::time::Duration;

use whelk_tokio::{Error, connect, connect_command};

use client_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_over_a_proxied_stream() {
    let sshd = sshd();
    let proxy = Proxy::start(sshd.port()).await;
    // The host key is checked for the name given, not the proxy's address.
    let c = proxy.client(&sshd, config(&sshd)).await;
    let out = c.run("echo via proxy").await.unwrap();
    assert_eq!(out.stdout, b"via proxy\n");
    c.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_over_a_proxy_command() {
    let dir = tempfile::tempdir().unwrap();
    let hop_key = keygen(dir.path(), "id_hop", &["-t", "ed25519"]);
    let sshd = sshd_builder()
        .authorized_key(public_line(&hop_key))
        .start()
        .unwrap();
    let ssh = whelk_test::openssh::find("ssh").unwrap();
    let command = format!(
        "exec {} -F /dev/null -i {} -o IdentitiesOnly=yes -o UserKnownHostsFile=/dev/null \
         -o StrictHostKeyChecking=no -o BatchMode=yes -o LogLevel=ERROR -p {} -W %h:%p {}@127.0.0.1",
        ssh.display(),
        hop_key.display(),
        sshd.port(),
        user()
    );
    let c = connect_command(&command, "127.0.0.1", sshd.port(), config(&sshd))
        .await
        .unwrap();
    let out = c.run("echo via proxy command").await.unwrap();
    assert_eq!(out.stdout, b"via proxy command\n");
    c.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_jump_nested_twice() {
    let jump_host = sshd();
    let target = sshd();
    let first = client(&jump_host).await;
    // The wrong host key for the jumped-to host is still caught.
    let r = first
        .jump("127.0.0.1", target.port(), config(&jump_host))
        .await;
    assert!(matches!(r, Err(Error::HostKey(_))), "{r:?}");
    let second = first
        .jump("127.0.0.1", jump_host.port(), config(&jump_host))
        .await
        .unwrap();
    let third = second
        .jump("127.0.0.1", target.port(), config(&target))
        .await
        .unwrap();
    // The hops stay up while the last connection uses them.
    drop(first);
    drop(second);
    let out = third.run("echo three hops").await.unwrap();
    assert_eq!(out.stdout, b"three hops\n");
    // Data both ways through the nested channels.
    let s = third.exec("cat").await.unwrap();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let back = round_trip(s, &data).await;
    assert!(back == data);
    third.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_timeout_on_a_silent_server() {
    // Accepts and never says anything.
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    let config = whelk_tokio::ClientConfig::new("nobody")
        .host_key(whelk_tokio::HostKeyPolicy::AcceptAny)
        .auth_timeout(Some(Duration::from_millis(300)));
    let r = connect("127.0.0.1", port, config).await;
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    hold.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_answered_then_frozen_path_detected() {
    let sshd = sshd();
    let proxy = Proxy::start(sshd.port()).await;
    // Dead after 8 unanswered keepalives 250 ms apart: a loaded machine may stall sshd or
    // the proxy for a few hundred milliseconds without the path being frozen.
    let config = config(&sshd).keepalive(Duration::from_millis(250), 8);
    let c = connect("127.0.0.1", proxy.port, config.clone()).await;
    // The proxy's address is not the name in known_hosts: check against the sshd's port.
    assert!(c.is_err());
    let c = proxy.client(&sshd, config).await;
    // Many intervals pass while sshd answers: the connection stays up.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(c.is_connected());
    assert_eq!(c.run("true").await.unwrap().exit_status, Some(0));
    // A session waiting for output when the path freezes.
    let s = c.exec("cat").await.unwrap();
    proxy.freeze();
    let why = c.closed().await;
    assert!(why.contains("keepalive timeout"), "{why}");
    assert!(!c.is_connected());
    let mut out = s.stdout();
    let mut buf = Vec::new();
    let r = tokio::io::AsyncReadExt::read_to_end(&mut out, &mut buf).await;
    assert!(r.is_err(), "{r:?}");
    assert!(c.run("true").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_timeout_when_the_listener_queue_is_full() {
    // A listener that never accepts, with a backlog of 1: once its queue is full Linux
    // drops further SYNs, so a new connect neither succeeds nor fails.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = sock.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut held = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(s)) = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            held.push(s);
        }
    }
    let config = whelk_tokio::ClientConfig::new("nobody")
        .host_key(whelk_tokio::HostKeyPolicy::AcceptAny)
        .connect_timeout(Some(Duration::from_millis(300)))
        .auth_timeout(None);
    let r = connect("127.0.0.1", addr.port(), config).await;
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    drop((held, listener));
}
