//! Forwarding through OpenSSH's sshd: local (`-L`) and remote (`-R`, port 0, cancel)
//! TCP forwarding, dynamic SOCKS 4/4a/5 forwarding (`-D`), UNIX socket forwarding both
//! ways, and every TCP <-> UNIX mix. Echo services stand behind each forwarding.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod client_common;

use std::os::unix::fs::PermissionsExt;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use whelk_tokio::Endpoint;

use client_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_tcp_forward_and_close() {
    let sshd = sshd();
    let echo = tcp_echo().await;
    let c = client(&sshd).await;
    let fwd = c
        .forward_local("127.0.0.1:0", "127.0.0.1", echo)
        .await
        .unwrap();
    let addr = fwd.local_addr().unwrap();
    assert_eq!(fwd.local_path(), None);
    // Several connections, concurrently.
    let tasks: Vec<_> = (0..5)
        .map(|i| {
            tokio::spawn(async move {
                let msg = format!("hello {i}").repeat(1000);
                let back =
                    round_trip(TcpStream::connect(addr).await.unwrap(), msg.as_bytes()).await;
                assert_eq!(back, msg.as_bytes());
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    // A connection accepted before close goes on after it.
    let mut open = TcpStream::connect(addr).await.unwrap();
    open.write_all(b"before").await.unwrap();
    let mut buf = [0u8; 6];
    open.read_exact(&mut buf).await.unwrap();
    fwd.close().await;
    assert!(TcpStream::connect(addr).await.is_err(), "still listening");
    let back = round_trip(open, b" and after").await;
    assert_eq!(back, b" and after");
    c.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_tcp_forward_port_zero_and_cancel() {
    let sshd = sshd();
    let echo = tcp_echo().await;
    let c = client(&sshd).await;
    let fwd = c
        .forward_remote("127.0.0.1", 0, "127.0.0.1", echo)
        .await
        .unwrap();
    let port = fwd.remote_port().unwrap();
    assert_ne!(port, 0);
    assert_eq!(fwd.remote_addr(), Endpoint::tcp("127.0.0.1", port));
    for i in 0..3 {
        let msg = format!("remote {i}");
        let s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        assert_eq!(round_trip(s, msg.as_bytes()).await, msg.as_bytes());
    }
    // A fixed port too.
    let fixed = whelk_test::openssh::free_port().unwrap();
    let fwd2 = c
        .forward_remote("127.0.0.1", fixed, "127.0.0.1", echo)
        .await
        .unwrap();
    assert_eq!(fwd2.remote_port(), Some(fixed));
    let s = TcpStream::connect(("127.0.0.1", fixed)).await.unwrap();
    assert_eq!(round_trip(s, b"fixed").await, b"fixed");
    // Dropping cancels: once a later request has been answered, sshd no longer listens.
    drop(fwd);
    drop(fwd2);
    assert_eq!(c.run("true").await.unwrap().exit_status, Some(0));
    assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());
    assert!(TcpStream::connect(("127.0.0.1", fixed)).await.is_err());
    c.disconnect().await;
}

/// A minimal SOCKS client: the handshake for `version` (4, 40 for 4a, 5 with a domain
/// name, 54 for 5 with an IPv4 address), then the stream.
async fn socks_connect(
    proxy: std::net::SocketAddr,
    version: u8,
    host: &str,
    port: u16,
) -> TcpStream {
    let mut s = TcpStream::connect(proxy).await.unwrap();
    let p = port.to_be_bytes();
    match version {
        4 => {
            let ip: std::net::Ipv4Addr = host.parse().unwrap();
            let mut req = vec![4, 1, p[0], p[1]];
            req.extend_from_slice(&ip.octets());
            req.extend_from_slice(b"user\0");
            s.write_all(&req).await.unwrap();
        }
        40 => {
            let mut req = vec![4, 1, p[0], p[1], 0, 0, 0, 1];
            req.extend_from_slice(b"user\0");
            req.extend_from_slice(host.as_bytes());
            req.push(0);
            s.write_all(&req).await.unwrap();
        }
        5 | 54 => {
            s.write_all(&[5, 1, 0]).await.unwrap();
            let mut m = [0u8; 2];
            s.read_exact(&mut m).await.unwrap();
            assert_eq!(m, [5, 0]);
            let mut req = vec![5, 1, 0];
            if version == 5 {
                req.push(3);
                req.push(u8::try_from(host.len()).unwrap());
                req.extend_from_slice(host.as_bytes());
            } else {
                req.push(1);
                req.extend_from_slice(&host.parse::<std::net::Ipv4Addr>().unwrap().octets());
            }
            req.extend_from_slice(&p);
            s.write_all(&req).await.unwrap();
        }
        _ => unreachable!(),
    }
    if version == 5 || version == 54 {
        let mut rep = [0u8; 10];
        s.read_exact(&mut rep).await.unwrap();
        assert_eq!(rep[..2], [5, 0], "SOCKS5 reply {rep:?}");
    } else {
        let mut rep = [0u8; 8];
        s.read_exact(&mut rep).await.unwrap();
        assert_eq!(rep[..2], [0, 90], "SOCKS4 reply {rep:?}");
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_socks4_4a_5_forwarding() {
    let sshd = sshd();
    let echo = tcp_echo().await;
    let c = client(&sshd).await;
    let socks = c.forward_dynamic("127.0.0.1:0").await.unwrap();
    let proxy = socks.local_addr().unwrap();
    for (version, host) in [
        (4, "127.0.0.1"),
        (40, "localhost"),
        (5, "localhost"),
        (54, "127.0.0.1"),
    ] {
        let s = socks_connect(proxy, version, host, echo).await;
        let msg = format!("through socks {version} to {host}");
        assert_eq!(round_trip(s, msg.as_bytes()).await, msg.as_bytes());
    }
    // A refused destination: a closed port gets the failure replies.
    let closed = whelk_test::openssh::free_port().unwrap();
    let mut s = TcpStream::connect(proxy).await.unwrap();
    let p = closed.to_be_bytes();
    s.write_all(&[4, 1, p[0], p[1], 127, 0, 0, 1, 0])
        .await
        .unwrap();
    let mut rep = [0u8; 8];
    s.read_exact(&mut rep).await.unwrap();
    assert_eq!(rep[1], 91);
    let mut s = TcpStream::connect(proxy).await.unwrap();
    s.write_all(&[5, 1, 0]).await.unwrap();
    let mut m = [0u8; 2];
    s.read_exact(&mut m).await.unwrap();
    s.write_all(&[5, 1, 0, 1, 127, 0, 0, 1, p[0], p[1]])
        .await
        .unwrap();
    let mut rep = [0u8; 10];
    s.read_exact(&mut rep).await.unwrap();
    assert_ne!(rep[1], 0);
    // SOCKS5 without the "no authentication" method, and BIND: refused.
    let mut s = TcpStream::connect(proxy).await.unwrap();
    s.write_all(&[5, 1, 2]).await.unwrap();
    s.read_exact(&mut m).await.unwrap();
    assert_eq!(m, [5, 0xff]);
    let mut s = TcpStream::connect(proxy).await.unwrap();
    s.write_all(&[5, 1, 0]).await.unwrap();
    s.read_exact(&mut m).await.unwrap();
    s.write_all(&[5, 2, 0, 1, 127, 0, 0, 1, 0, 80])
        .await
        .unwrap();
    s.read_exact(&mut rep).await.unwrap();
    assert_eq!(rep[1], 7);
    // A SOCKS4 user id beyond 255 bytes: the connection is dropped without a reply.
    let mut s = TcpStream::connect(proxy).await.unwrap();
    let mut req = vec![4, 1, p[0], p[1], 127, 0, 0, 1];
    req.extend_from_slice(&[b'u'; 300]);
    req.push(0);
    s.write_all(&req).await.unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest).await;
    assert!(rest.is_empty(), "{rest:?}");
    // An unknown version: dropped too.
    let mut s = TcpStream::connect(proxy).await.unwrap();
    s.write_all(&[9, 9, 9]).await.unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest).await;
    assert!(rest.is_empty());
    socks.close().await;
    assert!(TcpStream::connect(proxy).await.is_err());
    c.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_socket_forwarding_both_ways() {
    let sshd = sshd();
    let dir = tempfile::tempdir().unwrap();
    let echo_path = dir.path().join("echo.sock");
    unix_echo(&echo_path);
    let c = client(&sshd).await;

    // Local: a UNIX listener here -> direct-streamlocal to the echo socket.
    let here = dir.path().join("local.sock");
    let fwd = c
        .forward_local_to(Endpoint::unix(&here), Endpoint::unix(&echo_path))
        .await
        .unwrap();
    assert_eq!(fwd.local_path(), Some(here.as_path()));
    // Only its owner may connect (ssh's `StreamLocalBindMask 0177`).
    let mode = std::fs::metadata(&here).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let s = UnixStream::connect(&here).await.unwrap();
    assert_eq!(round_trip(s, b"local unix").await, b"local unix");
    fwd.close().await;
    assert!(!here.exists());

    // Closing removes only the socket it bound, not one put at the path since.
    let fwd = c
        .forward_local_to(Endpoint::unix(&here), Endpoint::unix(&echo_path))
        .await
        .unwrap();
    std::fs::remove_file(&here).unwrap();
    let _successor = std::os::unix::net::UnixListener::bind(&here).unwrap();
    fwd.close().await;
    assert!(
        here.exists(),
        "closing a forward removed a socket it did not bind"
    );
    std::fs::remove_file(&here).unwrap();

    // Remote: sshd listens on a UNIX socket -> forwarded-streamlocal -> the echo socket.
    let there = dir.path().join("remote.sock");
    let rfwd = c
        .forward_remote_to(Endpoint::unix(&there), Endpoint::unix(&echo_path))
        .await
        .unwrap();
    assert_eq!(rfwd.remote_port(), None);
    let s = UnixStream::connect(&there).await.unwrap();
    assert_eq!(round_trip(s, b"remote unix").await, b"remote unix");
    drop(rfwd);
    assert_eq!(c.run("true").await.unwrap().exit_status, Some(0));
    assert!(UnixStream::connect(&there).await.is_err());

    // A direct-streamlocal channel used as a stream by hand.
    let ch = c
        .direct_streamlocal(echo_path.to_str().unwrap())
        .await
        .unwrap();
    assert_eq!(round_trip(ch, b"by hand").await, b"by hand");
    c.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_tcp_and_unix_forwarding() {
    let sshd = sshd();
    let dir = tempfile::tempdir().unwrap();
    let echo_path = dir.path().join("echo.sock");
    unix_echo(&echo_path);
    let echo_port = tcp_echo().await;
    let c = client(&sshd).await;

    // Local TCP -> remote UNIX.
    let f = c
        .forward_local_to(Endpoint::tcp("127.0.0.1", 0), Endpoint::unix(&echo_path))
        .await
        .unwrap();
    let s = TcpStream::connect(f.local_addr().unwrap()).await.unwrap();
    assert_eq!(round_trip(s, b"tcp->unix").await, b"tcp->unix");

    // Local UNIX -> remote TCP.
    let here = dir.path().join("l.sock");
    let f2 = c
        .forward_local_to(Endpoint::unix(&here), Endpoint::tcp("127.0.0.1", echo_port))
        .await
        .unwrap();
    let s = UnixStream::connect(&here).await.unwrap();
    assert_eq!(round_trip(s, b"unix->tcp").await, b"unix->tcp");

    // Remote TCP -> local UNIX.
    let r = c
        .forward_remote_to(Endpoint::tcp("127.0.0.1", 0), Endpoint::unix(&echo_path))
        .await
        .unwrap();
    let s = TcpStream::connect(("127.0.0.1", r.remote_port().unwrap()))
        .await
        .unwrap();
    assert_eq!(
        round_trip(s, b"remote tcp->unix").await,
        b"remote tcp->unix"
    );

    // Remote UNIX -> local TCP.
    let there = dir.path().join("r.sock");
    let r2 = c
        .forward_remote_to(
            Endpoint::unix(&there),
            Endpoint::tcp("127.0.0.1", echo_port),
        )
        .await
        .unwrap();
    let s = UnixStream::connect(&there).await.unwrap();
    assert_eq!(
        round_trip(s, b"remote unix->tcp").await,
        b"remote unix->tcp"
    );

    drop((f, f2, r, r2));
    c.disconnect().await;
}
