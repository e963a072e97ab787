//! The whelk-tokio server's forwarding against OpenSSH's `ssh` and whelk's client: `-L`,
//! `-W`, `-D`, `-R` (fixed and allocated ports), UNIX sockets both ways, refusals, and
//! cancellation.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod server_common;

use server_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_local_forwarding_ssh_l_and_w() {
    let f = Fixture::start(true, |_| {}).await;
    let echo = tcp_echo().await;
    let lport = free_port().unwrap();
    let mut bg = Bg::spawn(f.forwarding("-L", format!("127.0.0.1:{lport}:127.0.0.1:{echo}")));
    for i in 0..3 {
        let mut s = connect_retry(format!("127.0.0.1:{lport}").parse().unwrap()).await;
        let msg = format!("through -L #{i}").into_bytes();
        assert_eq!(round_trip(&mut s, &msg).await, msg);
    }
    // A bigger transfer, both ways at once (back-pressure through the channel window).
    let mut s = connect_retry(format!("127.0.0.1:{lport}").parse().unwrap()).await;
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(round_trip(&mut s, &big).await, big);
    bg.child.kill().await.unwrap();
    assert!(f.logged(&format!("direct-tcpip 127.0.0.1:{echo}")));

    // ssh -W: stdin/stdout are the connection.
    let (code, out, err) = run(
        f.ssh().arg("-W").arg(format!("127.0.0.1:{echo}")),
        b"stdio forward",
    )
    .await;
    assert_eq!(out, "stdio forward", "{err}");
    assert_eq!(code, Some(0), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_dynamic_forwarding_ssh_d() {
    let f = Fixture::start(true, |_| {}).await;
    let echo = tcp_echo().await;
    let dport = free_port().unwrap();
    let mut bg = Bg::spawn(f.forwarding("-D", format!("127.0.0.1:{dport}")));
    // A minimal SOCKS5 client: no authentication, CONNECT to 127.0.0.1:echo.
    let mut s = connect_retry(format!("127.0.0.1:{dport}").parse().unwrap()).await;
    s.write_all(&[5, 1, 0]).await.unwrap();
    let mut hello = [0u8; 2];
    s.read_exact(&mut hello).await.unwrap();
    assert_eq!(hello, [5, 0]);
    let mut req = vec![5, 1, 0, 1, 127, 0, 0, 1];
    req.extend_from_slice(&echo.to_be_bytes());
    s.write_all(&req).await.unwrap();
    let mut reply = [0u8; 10];
    s.read_exact(&mut reply).await.unwrap();
    assert_eq!(reply[..2], [5, 0], "SOCKS reply {reply:?}");
    assert_eq!(round_trip(&mut s, b"via socks").await, b"via socks");
    bg.child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_remote_forwarding_ssh_r_fixed_and_allocated_port() {
    let f = Fixture::start(true, |_| {}).await;
    let echo = tcp_echo().await;
    // A fixed port.
    let rport = free_port().unwrap();
    let mut bg = Bg::spawn(f.forwarding("-R", format!("127.0.0.1:{rport}:127.0.0.1:{echo}")));
    let mut s = connect_retry(format!("127.0.0.1:{rport}").parse().unwrap()).await;
    assert_eq!(round_trip(&mut s, b"fixed -R").await, b"fixed -R");
    drop(s);
    bg.child.kill().await.unwrap();
    drop(bg);
    // The listener goes with the connection.
    assert!(
        eventually(async || TcpStream::connect(("127.0.0.1", rport)).await.is_err()).await,
        "the -R listener outlived its connection"
    );

    // Port 0: the server picks and ssh prints it.
    let mut bg = Bg::spawn(f.forwarding("-R", format!("0:127.0.0.1:{echo}")));
    let line = bg.line("Allocated port").await;
    let port: u16 = line
        .split_whitespace()
        .nth(2)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert_ne!(port, 0);
    let mut s = connect_retry(format!("127.0.0.1:{port}").parse().unwrap()).await;
    assert_eq!(round_trip(&mut s, b"allocated -R").await, b"allocated -R");
    bg.child.kill().await.unwrap();
    assert!(f.logged("tcpip-forward"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_unix_socket_forwarding_both_ways() {
    let f = Fixture::start(true, |_| {}).await;
    // -L local.sock:remote.sock: the server connects to remote.sock.
    let remote = f.path("remote.sock");
    unix_echo(&remote);
    let local = f.path("local.sock");
    let mut bg = Bg::spawn(f.forwarding("-L", format!("{}:{}", local.display(), remote.display())));
    let mut s = connect_unix_retry(&local).await;
    assert_eq!(round_trip(&mut s, b"unix -L").await, b"unix -L");
    bg.child.kill().await.unwrap();
    assert!(f.logged("direct-streamlocal"));

    // -R listen.sock:target.sock: the server listens on listen.sock.
    let target = f.path("target.sock");
    unix_echo(&target);
    let listen_on = f.path("listen.sock");
    let mut bg = Bg::spawn(f.forwarding(
        "-R",
        format!("{}:{}", listen_on.display(), target.display()),
    ));
    let mut s = connect_unix_retry(&listen_on).await;
    assert_eq!(round_trip(&mut s, b"unix -R").await, b"unix -R");
    // Only its owner may connect (sshd's StreamLocalBindMask 0177).
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&listen_on).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    drop(s);
    bg.child.kill().await.unwrap();
    drop(bg);
    // The socket file goes with the connection.
    assert!(
        eventually(async || !listen_on.exists()).await,
        "the -R socket outlived its connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_refuses_forwarding_the_handler_denies() {
    let f = Fixture::start(false, |_| {}).await;
    let echo = tcp_echo().await;
    let (code, _, err) = run(f.ssh().arg("-W").arg(format!("127.0.0.1:{echo}")), b"x").await;
    assert_eq!(code, Some(255), "{err}");
    assert!(err.contains("administratively prohibited"), "{err}");
    let (code, _, err) = run(f.forwarding("-R", format!("0:127.0.0.1:{echo}")), b"").await;
    assert_eq!(code, Some(255), "{err}");
    assert!(err.contains("remote port forwarding failed"), "{err}");
    let sock = f.path("denied.sock");
    let (code, _, err) = run(
        f.forwarding(
            "-R",
            format!("{}:{}", sock.display(), f.path("t.sock").display()),
        ),
        b"",
    )
    .await;
    assert_eq!(code, Some(255), "{err}");
    assert!(!sock.exists());
    assert!(f.logged("direct-tcpip") && f.logged("tcpip-forward"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_cancel_forwarding_from_whelk_client() {
    use whelk_tokio::Endpoint;
    let f = Fixture::start(true, |_| {}).await;
    let echo = tcp_echo().await;
    let c = connect("127.0.0.1", f.addr().port(), f.whelk_config())
        .await
        .unwrap();
    // tcpip-forward with port 0, used, then cancelled.
    let mut fwd = c
        .forward_remote("127.0.0.1", 0, "127.0.0.1", echo)
        .await
        .unwrap();
    let port = fwd.remote_port().unwrap();
    let mut s = connect_retry(format!("127.0.0.1:{port}").parse().unwrap()).await;
    assert_eq!(round_trip(&mut s, b"before cancel").await, b"before cancel");
    fwd.close();
    assert!(
        eventually(async || TcpStream::connect(("127.0.0.1", port)).await.is_err()).await,
        "cancel-tcpip-forward left the listener"
    );
    // The connection carried before the cancel goes on, and so does the SSH connection.
    assert_eq!(round_trip(&mut s, b"after cancel").await, b"after cancel");
    assert_eq!(c.run("split").await.unwrap().exit_status, Some(3));

    // streamlocal-forward, cancelled: the socket file goes.
    let target = f.path("t.sock");
    unix_echo(&target);
    let listen_on = f.path("l.sock");
    let mut fwd = c
        .forward_remote_to(
            Endpoint::unix(listen_on.clone()),
            Endpoint::unix(target.clone()),
        )
        .await
        .unwrap();
    let mut s = connect_unix_retry(&listen_on).await;
    assert_eq!(round_trip(&mut s, b"unix").await, b"unix");
    fwd.close();
    assert!(
        eventually(async || !listen_on.exists()).await,
        "cancel-streamlocal-forward left the socket"
    );
    assert_eq!(c.run("split").await.unwrap().exit_status, Some(3));
    c.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_stale_forward_socket_needs_bind_unlink() {
    for unlink in [false, true] {
        let f = Fixture::start(true, |c| c.streamlocal_bind_unlink = unlink).await;
        let target = f.path("target.sock");
        unix_echo(&target);
        // A socket file left behind by an earlier server.
        let stale = f.path("stale.sock");
        drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
        assert!(stale.exists());
        let ssh = f.forwarding("-R", format!("{}:{}", stale.display(), target.display()));
        if unlink {
            let mut bg = Bg::spawn(ssh);
            let mut s = connect_unix_retry(&stale).await;
            assert_eq!(round_trip(&mut s, b"replaced").await, b"replaced");
            bg.child.kill().await.unwrap();
        } else {
            let (code, _, err) = run(ssh, b"").await;
            assert_eq!(code, Some(255), "{err}");
            assert!(err.contains("remote port forwarding failed"), "{err}");
            assert!(stale.exists());
        }
    }
}

/// A UNIX socket service that answers each connection with `tag`, then closes it.
fn unix_tagged(path: &Path, tag: &'static [u8]) {
    let l = UnixListener::bind(path).unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let _ = s.write_all(tag).await;
        }
    });
}

/// Connects to `path` (which must listen now) and reads the service's whole answer.
async fn read_tag(path: &Path) -> Vec<u8> {
    let mut s = UnixStream::connect(path)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut got = Vec::new();
    tokio::time::timeout(GUARD, s.read_to_end(&mut got))
        .await
        .expect("forwarded socket hung")
        .unwrap();
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_forward_socket_taken_over_is_not_removed_by_the_old_forward() {
    use whelk_tokio::Endpoint;
    let f = Fixture::start(true, |c| c.streamlocal_bind_unlink = true).await;
    let listen_on = f.path("shared.sock");
    let targets = [
        ("one.sock", b"one"),
        ("two.sock", b"two"),
        ("six.sock", b"six"),
    ];
    for (name, tag) in targets {
        unix_tagged(&f.path(name), tag);
    }
    let forward = async |c: &whelk_tokio::Client, target: &str| {
        c.forward_remote_to(
            Endpoint::unix(listen_on.clone()),
            Endpoint::unix(f.path(target)),
        )
        .await
        .unwrap()
    };
    let c1 = connect("127.0.0.1", f.addr().port(), f.whelk_config())
        .await
        .unwrap();
    let fwd1 = forward(&c1, "one.sock").await;
    assert_eq!(read_tag(&listen_on).await, b"one");

    // The same connection forwards the same path again: the new listener replaces the
    // old one, whose cleanup must leave the new socket file alone.
    let fwd1b = forward(&c1, "two.sock").await;
    assert!(
        listen_on.exists(),
        "re-forwarding a path removed its new socket"
    );
    // The client routes the path to the newest forwarding's target, as the server's
    // listener is the new one.
    assert_eq!(read_tag(&listen_on).await, b"two");
    // Closing the newer forwarding: the older one's target again, and the server keeps
    // listening (no cancel is sent while a forwarding of the path remains).
    drop(fwd1b);
    assert_eq!(c1.run("split").await.unwrap().exit_status, Some(3));
    assert_eq!(read_tag(&listen_on).await, b"one");
    let fwd1b = forward(&c1, "two.sock").await;
    assert_eq!(read_tag(&listen_on).await, b"two");

    // Another connection takes the path over (StreamLocalBindUnlink).
    let c2 = connect("127.0.0.1", f.addr().port(), f.whelk_config())
        .await
        .unwrap();
    let fwd2 = forward(&c2, "six.sock").await;
    assert_eq!(read_tag(&listen_on).await, b"six");

    // The first connection cancels its forward: the server has handled the cancel once
    // a later request on that connection is answered.
    drop(fwd1);
    drop(fwd1b);
    assert_eq!(c1.run("split").await.unwrap().exit_status, Some(3));
    assert!(
        listen_on.exists(),
        "a cancelled forward removed its successor's socket"
    );
    assert_eq!(read_tag(&listen_on).await, b"six");

    // A third connection takes it over from the second, and the second goes away.
    let c3 = connect("127.0.0.1", f.addr().port(), f.whelk_config())
        .await
        .unwrap();
    let fwd3 = forward(&c3, "one.sock").await;
    assert_eq!(read_tag(&listen_on).await, b"one");
    std::mem::forget(fwd2);
    c2.disconnect().await;
    assert!(
        eventually(async || f.server.connections() == 2).await,
        "the second connection did not end"
    );
    // Let the server finish dropping the second connection's listeners (a later
    // request on another connection is no ordering guarantee; the count above is).
    assert_eq!(c3.run("split").await.unwrap().exit_status, Some(3));
    assert!(
        listen_on.exists(),
        "a closed connection removed its successor's socket"
    );
    assert_eq!(read_tag(&listen_on).await, b"one");

    // The forward that owns the socket still removes it.
    drop(fwd3);
    assert_eq!(c3.run("split").await.unwrap().exit_status, Some(3));
    assert!(
        !listen_on.exists(),
        "cancelling the owning forward left the socket"
    );
    c3.disconnect().await;
    c1.disconnect().await;
}
