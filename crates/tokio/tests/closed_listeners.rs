//! Closed listeners refuse connections at once, even while the process starts child
//! processes: the client's local, dynamic (SOCKS) and UNIX forwardings (closed or
//! dropped), the server's `tcpip-forward` / `streamlocal-forward@openssh.com` listeners
//! (cancelled) and the server's own listener (`Server::shutdown`, drop).
//!
//! A child process holds a copy of every descriptor of this process from the moment it is
//! created until it execs; a listening socket that is merely closed keeps listening in it
//! meanwhile, and a connection made right then is accepted by the kernel.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod server_common;

use server_common::*;
use whelk_tokio::Endpoint;

/// Rounds of close-then-connect for each kind of listener.
const ROUNDS: usize = 150;

/// Runs `open` on a free port (below the kernel's ephemeral range, so the kernel gives
/// it to no other socket meanwhile), trying other free ports while `open` fails.
async fn on_free_port<T, E: std::fmt::Debug>(
    mut open: impl AsyncFnMut(u16) -> Result<T, E>,
) -> (u16, T) {
    let mut last = None;
    for _ in 0..50 {
        let port = free_port().unwrap();
        match open(port).await {
            Ok(t) => return (port, t),
            Err(e) => last = Some(e),
        }
    }
    panic!("no free port could be used: {last:?}");
}

/// A handler that lets nobody in (the servers started and shut down here serve nothing).
struct Nobody;

impl Handler for Nobody {
    async fn auth(&self, _request: &AuthRequest) -> Decision {
        Decision::Reject
    }
}

/// A server letting nobody in, on a free port.
async fn nobody_server() -> (u16, Server) {
    on_free_port(async |p| {
        let config = ServerConfig::new(vec![PrivateKey::ed25519_from_seed(&[3; 32])]);
        listen(&format!("127.0.0.1:{p}"), config, Nobody).await
    })
    .await
}

async fn refused(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).await.is_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_listeners_refuse_connections_while_processes_start() {
    let f = Fixture::start(true, |_| {}).await;
    let echo = tcp_echo().await;
    let c = connect("127.0.0.1", f.addr().port(), f.whelk_config())
        .await
        .unwrap();
    let spawner = whelk_test::churn::ProcessChurn::start();
    for i in 0..ROUNDS {
        // The client's local forwarding, closed.
        let (port, fwd) = on_free_port(async |p| {
            c.forward_local(&format!("127.0.0.1:{p}"), "127.0.0.1", echo)
                .await
        })
        .await;
        fwd.close().await;
        assert!(refused(port).await, "round {i}: closed -L accepted");

        // ... dropped.
        let (port, fwd) = on_free_port(async |p| {
            c.forward_local(&format!("127.0.0.1:{p}"), "127.0.0.1", echo)
                .await
        })
        .await;
        drop(fwd);
        assert!(refused(port).await, "round {i}: dropped -L accepted");

        // The client's dynamic forwarding, closed.
        let (port, fwd) =
            on_free_port(async |p| c.forward_dynamic(&format!("127.0.0.1:{p}")).await).await;
        fwd.close().await;
        assert!(refused(port).await, "round {i}: closed -D accepted");

        // A UNIX local forwarding, closed: its socket file goes.
        let path = f.path("local.sock");
        let fwd = c
            .forward_local_to(
                Endpoint::unix(path.clone()),
                Endpoint::tcp("127.0.0.1", echo),
            )
            .await
            .unwrap();
        fwd.close().await;
        assert!(
            UnixStream::connect(&path).await.is_err(),
            "round {i}: closed UNIX -L accepted"
        );

        // The server's tcpip-forward listener, cancelled. The server answers global
        // requests in order, so once the next one is answered the cancel was handled
        // (and its reply, had one been asked for, sent).
        let (port, mut fwd) =
            on_free_port(async |p| c.forward_remote("127.0.0.1", p, "127.0.0.1", echo).await).await;
        fwd.close();
        let path = f.path("remote.sock");
        let mut ufwd = c
            .forward_remote_to(
                Endpoint::unix(path.clone()),
                Endpoint::tcp("127.0.0.1", echo),
            )
            .await
            .unwrap();
        assert!(refused(port).await, "round {i}: cancelled -R accepted");

        // The server's streamlocal-forward listener, cancelled (and answered for, as above).
        ufwd.close();
        let mut barrier = c
            .forward_remote("127.0.0.1", 0, "127.0.0.1", echo)
            .await
            .unwrap();
        assert!(
            UnixStream::connect(&path).await.is_err(),
            "round {i}: cancelled UNIX -R accepted"
        );
        barrier.close();

        // A server, shut down.
        let (port, server) = nobody_server().await;
        server.shutdown();
        assert!(refused(port).await, "round {i}: shut down server accepted");
        drop(server);

        // ... dropped.
        let (port, server) = nobody_server().await;
        drop(server);
        assert!(refused(port).await, "round {i}: dropped server accepted");
    }
    // The rounds above ran while processes were being started.
    assert!(spawner.finish().unwrap() > 0);
    assert_eq!(c.run("split").await.unwrap().exit_status, Some(3));
    c.disconnect().await;
}
