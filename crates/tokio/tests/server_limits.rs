//! The whelk-tokio server's limits: MaxStartups, per-source startups, per-source penalties,
//! the connection cap, login grace time, graceful shutdown, 200 concurrent sessions and
//! connections, and back-pressure from a stalled reader.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod server_common;

use server_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_max_startups_refuses_then_recovers() {
    let f = Fixture::start(false, |c| c.max_startups = MaxStartups::hard(3)).await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(f.addr()).await.unwrap());
    }
    assert!(eventually(async || f.server.unauthenticated() == 3).await);
    // A fourth gets our version line and a TOO_MANY_CONNECTIONS disconnect, then EOF.
    let mut extra = TcpStream::connect(f.addr()).await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(GUARD, extra.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert!(got.starts_with(b"SSH-2.0-"), "{got:?}");
    // ssh gives up with the reason.
    let err = cat_refused(f.ssh()).await;
    assert!(err.contains("too many"), "{err}");
    assert_eq!(f.server.unauthenticated(), 3);
    // Once they go, a real login works.
    drop(idle);
    assert!(eventually(async || f.server.unauthenticated() == 0).await);
    assert_cat(f.ssh(), "back").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_login_grace_time_closes_idle_connections() {
    let f = Fixture::start(false, |c| {
        c.ssh.auth.login_grace_time = Some(Duration::from_millis(500));
    })
    .await;
    let mut s = TcpStream::connect(f.addr()).await.unwrap();
    s.write_all(b"SSH-2.0-idle\r\n").await.unwrap();
    let mut got = Vec::new();
    // The server ends the connection by itself (the guard only catches a hang).
    let r = tokio::time::timeout(GUARD, s.read_to_end(&mut got)).await;
    assert!(r.is_ok(), "login grace time did not close the connection");
    assert!(eventually(async || f.server.connections() == 0).await);
    assert_eq!(f.server.unauthenticated(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_graceful_shutdown_disconnects_live_clients() {
    let f = Fixture::start(false, |_| {}).await;
    let mut bg = Bg::spawn(f.ssh().remote_command("wait"));
    assert_eq!(bg.stdout_line().await, "ready\n");
    let c = connect("127.0.0.1", f.addr().port(), f.whelk_config())
        .await
        .unwrap();
    assert_eq!(f.server.connections(), 2);
    assert!(f.server.shutdown_and_wait(GUARD).await);
    assert_eq!(bg.exit().await, Some(255));
    assert_eq!(f.server.connections(), 0);
    assert!(eventually(async || !c.is_connected()).await);
    // No more accepting.
    let refused = match TcpStream::connect(f.addr()).await {
        Err(_) => true,
        Ok(mut s) => {
            let mut b = [0u8; 1];
            matches!(
                tokio::time::timeout(GUARD, s.read(&mut b)).await,
                Ok(Ok(0) | Err(_))
            )
        }
    };
    assert!(refused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_200_concurrent_sessions_complete() {
    let f = Fixture::start(false, |c| {
        c.max_startups = MaxStartups::hard(1000);
    })
    .await;
    let port = f.addr().port();
    // 20 whelk connections x 10 sessions each, all at once.
    let mut tasks = Vec::new();
    for conn in 0..20 {
        let config = f.whelk_config();
        tasks.push(tokio::spawn(async move {
            let c = connect("127.0.0.1", port, config).await.unwrap();
            let mut sessions = Vec::new();
            for s in 0..10 {
                let c = c.clone();
                sessions.push(tokio::spawn(async move {
                    whelk_cat(&c, &format!("conn {conn} session {s}")).await;
                }));
            }
            for s in sessions {
                s.await.unwrap();
            }
            c.disconnect().await;
        }));
    }
    tokio::time::timeout(Duration::from_secs(120), async {
        for t in tasks {
            t.await.unwrap();
        }
    })
    .await
    .expect("200 sessions hung");
    // And 20 ssh clients at once.
    let mut runs = Vec::new();
    for i in 0..20 {
        let ssh = f.ssh().remote_command("cat");
        runs.push(tokio::spawn(async move {
            let msg = format!("ssh {i}");
            let (code, out, err) = run(ssh, msg.as_bytes()).await;
            assert_eq!((code, out), (Some(0), msg), "{err}");
        }));
    }
    for r in runs {
        r.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_200_concurrent_connections_complete() {
    let f = Fixture::start(false, |c| {
        c.max_startups = MaxStartups::hard(1000);
    })
    .await;
    let port = f.addr().port();
    let mut tasks = Vec::new();
    for i in 0..200 {
        // The cheapest key exchange: this measures the server, not post-quantum math in a
        // debug build.
        let mut config = f.whelk_config();
        config.ssh.algorithms().kex = vec!["curve25519-sha256".to_string()];
        tasks.push(tokio::spawn(async move {
            let c = connect("127.0.0.1", port, config).await.unwrap();
            whelk_cat(&c, &format!("connection {i}")).await;
            c.disconnect().await;
        }));
    }
    tokio::time::timeout(Duration::from_secs(120), async {
        for t in tasks {
            t.await.unwrap();
        }
    })
    .await
    .expect("200 connections hung");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_stalled_reader_holds_back_only_its_own_session() {
    use std::sync::atomic::Ordering;
    let f = Fixture::start(false, |_| {}).await;
    // A client that never reads a session producing without end; its window is 1 MiB.
    const WINDOW: u32 = 1024 * 1024;
    let mut config = f.whelk_config();
    config.ssh.channel = config.ssh.channel.with_window(WINDOW);
    let c = connect("127.0.0.1", f.addr().port(), config).await.unwrap();
    let flood = c.exec("flood").await.unwrap();
    assert!(eventually(async || f.flooded.load(Ordering::SeqCst) > 0).await);
    // Other sessions on the same connection and other connections go on.
    let o = c.run("split").await.unwrap();
    assert_eq!(o.exit_status, Some(3));
    assert_cat(f.ssh(), "meanwhile").await;
    // What the handler could write is bounded by the client's window (the server's send
    // queue never exceeds what the window lets it send): nothing grows without a reader.
    let stalled = f.flooded.load(Ordering::SeqCst);
    assert!(
        stalled <= WINDOW as usize,
        "{stalled} bytes taken without a reader"
    );
    // Reading lets it go on.
    let mut r = flood.stdout();
    let mut buf = vec![0u8; 1024 * 1024];
    let mut got = 0;
    while got < 8 * 1024 * 1024 {
        got += r.read(&mut buf).await.unwrap();
    }
    assert!(f.flooded.load(Ordering::SeqCst) > stalled);
    drop(r);
    flood.close();
    c.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_max_connections_counts_authenticated_ones_too() {
    let f = Fixture::start(false, |c| c.max_connections = 1).await;
    let mut bg = Bg::spawn(f.ssh().remote_command("wait"));
    assert_eq!(bg.stdout_line().await, "ready\n");
    assert_eq!(f.server.unauthenticated(), 0);
    let err = cat_refused(f.ssh()).await;
    assert!(err.contains("too many connections"), "{err}");
    bg.child.kill().await.unwrap();
    assert!(eventually(async || f.server.connections() == 0).await);
    assert_cat(f.ssh(), "now").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_per_source_startups_keep_a_flood_from_one_address_out() {
    let f = Fixture::start(false, |c| c.per_source_max_startups = Some(3)).await;
    // 200 idle connections from 127.0.0.2 that never authenticate: 3 are kept, the rest
    // refused at once.
    let mut kept = Vec::new();
    let mut refused = 0;
    for _ in 0..200 {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let mut s = sock.connect(f.addr()).await.unwrap();
        // The server's first packet tells: KEXINIT (20) for a kept connection,
        // DISCONNECT (1) for a refused one.
        // (A plain close, without the message, when many refusals are in flight.)
        let mut first = Vec::new();
        let mut byte = [0u8; 1];
        while !first.ends_with(b"\r\n") {
            if s.read_exact(&mut byte).await.is_err() {
                break;
            }
            first.push(byte[0]);
        }
        if first.is_empty() {
            refused += 1;
            continue;
        }
        assert!(first.starts_with(b"SSH-2.0-"), "{first:?}");
        let mut head = [0u8; 6];
        tokio::time::timeout(GUARD, s.read_exact(&mut head))
            .await
            .expect("no packet after the version line")
            .unwrap();
        match head[5] {
            20 => kept.push(s),
            1 => refused += 1,
            other => panic!("unexpected first message {other}"),
        }
    }
    assert_eq!(kept.len(), 3);
    assert_eq!(refused, 197);
    assert_eq!(f.server.unauthenticated(), 3);
    // A client from another address still gets in while the flood holds its slots.
    assert_cat(f.ssh_from("127.0.0.1"), "from elsewhere").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_without_a_host_key_does_not_start() {
    let r = listen("127.0.0.1:0", ServerConfig::new(Vec::new()), Stuck).await;
    assert!(r.is_err());
}

/// A handler for tests that never get as far as asking it.
struct Stuck;

impl Handler for Stuck {
    async fn auth(&self, _request: &AuthRequest) -> Decision {
        Decision::Reject
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_listeners_share_their_limits() {
    let mut config = ServerConfig::new(vec![PrivateKey::ed25519_from_seed(&[5; 32])]);
    config.max_startups = MaxStartups::hard(2);
    let listeners = vec![
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        TcpListener::bind("127.0.0.2:0").await.unwrap(),
    ];
    let server = whelk_tokio::serve_all(listeners, config, Stuck).unwrap();
    let addrs = server.local_addrs().to_vec();
    assert_eq!(addrs.len(), 2);
    let _idle = [
        TcpStream::connect(addrs[0]).await.unwrap(),
        TcpStream::connect(addrs[1]).await.unwrap(),
    ];
    assert!(eventually(async || server.unauthenticated() == 2).await);
    // Either address is full now.
    for addr in &addrs {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut got = Vec::new();
        tokio::time::timeout(GUARD, s.read_to_end(&mut got))
            .await
            .expect("refused connection left open")
            .unwrap();
        assert!(got.starts_with(b"SSH-2.0-"), "{got:?}");
    }
    assert!(server.shutdown_and_wait(GUARD).await);
    assert_eq!(server.connections(), 0);
}

/// A TCP connection to `addr` from the loopback address `from`.
async fn connect_from(from: &str, addr: SocketAddr) -> TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(format!("{from}:0").parse().unwrap()).unwrap();
    sock.connect(addr).await.unwrap()
}

/// Connects from `from`, reads the server's version line and hangs up before any key
/// exchange. Returns false when the server closed without a word (a penalised source).
async fn handshake_and_drop(from: &str, addr: SocketAddr) -> bool {
    let mut s = connect_from(from, addr).await;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\n") {
        match tokio::time::timeout(GUARD, s.read(&mut byte))
            .await
            .unwrap()
        {
            Ok(1) => line.push(byte[0]),
            _ => break,
        }
    }
    if line.is_empty() {
        return false;
    }
    assert!(line.starts_with(b"SSH-2.0-"), "{line:?}");
    true
}

fn short_penalties(c: &mut ServerConfig) {
    // noauth 1 s each, refused from 2 s outstanding, at most 3 s.
    c.per_source_penalties
        .apply(&["noauth:1s", "min:2s", "max:3s"])
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_per_source_penalties_refuse_a_source_that_keeps_dropping() {
    let f = Fixture::start(false, short_penalties).await;
    // 127.0.0.1 keeps connecting and hanging up before authenticating.
    let mut accepted = 0;
    let mut refused = false;
    for _ in 0..200 {
        if handshake_and_drop("127.0.0.1", f.addr()).await {
            accepted += 1;
        } else {
            refused = true;
            break;
        }
    }
    println!("127.0.0.1 refused after {accepted} dropped connections");
    assert!(
        refused,
        "a source dropping 200 connections was never refused"
    );
    // Not at the first one: only once 2 s of penalty are outstanding.
    assert!(accepted >= 2, "{accepted}");
    assert_eq!(f.server.penalised_sources(), 1);
    // Another address still logs in meanwhile.
    assert_cat(f.ssh_from("127.0.0.2"), "from elsewhere").await;
    assert!(f.logged("login alice 127.0.0.2"));
    // The penalty expires (at most 3 s): then 127.0.0.1 is served again and logs in.
    assert!(
        eventually_every(Duration::from_millis(100), async || {
            handshake_and_drop("127.0.0.1", f.addr()).await
        })
        .await,
        "the penalty did not expire"
    );
    assert_cat(f.ssh_from("127.0.0.1"), "back").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_per_source_penalties_count_failed_logins() {
    // The defaults: authfail 5 s, refused from 15 s: the fourth connection after three
    // failed logins is closed unanswered.
    let f = Fixture::start(false, |_| {}).await;
    for i in 0..3 {
        let s = connect_from("127.0.0.2", f.addr()).await;
        let config = ClientConfig::new("alice")
            .password("wrong")
            .host_key(HostKeyPolicy::AcceptAny);
        let r = whelk_tokio::connect_stream(s, "127.0.0.1", f.addr().port(), config).await;
        assert!(r.is_err(), "login {i} with a wrong password succeeded");
    }
    // The server records the penalty once it has seen the connection end.
    assert!(
        eventually_every(Duration::from_millis(50), async || {
            !handshake_and_drop("127.0.0.2", f.addr()).await
        })
        .await,
        "three failed logins did not penalise 127.0.0.2"
    );
    // ssh from there gives up; from 127.0.0.1 it logs in.
    cat_refused(f.ssh_from("127.0.0.2")).await;
    assert_cat(f.ssh_from("127.0.0.1"), "still").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_per_source_penalties_do_not_count_none_probes_as_failures() {
    // ssh with every method off sends only the `none` request and gives up: a `noauth`
    // (1 s), not an `authfail` (5 s), so four of them stay below the 15 s threshold.
    let f = Fixture::start(false, |_| {}).await;
    for _ in 0..4 {
        let (code, _, err) = run(
            f.ssh()
                .arg("-b")
                .arg("127.0.0.2")
                .option("PubkeyAuthentication", "no")
                .option("PasswordAuthentication", "no")
                .option("KbdInteractiveAuthentication", "no")
                .option("BatchMode", "yes")
                .remote_command("cat"),
            b"",
        )
        .await;
        assert_eq!(code, Some(255), "{err}");
    }
    assert!(handshake_and_drop("127.0.0.2", f.addr()).await);
    assert_cat(f.ssh_from("127.0.0.2"), "in").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_per_source_penalties_off() {
    let f = Fixture::start(false, |c| {
        c.per_source_penalties = whelk_tokio::PerSourcePenalties::disabled();
    })
    .await;
    for _ in 0..40 {
        assert!(handshake_and_drop("127.0.0.1", f.addr()).await);
    }
    assert_eq!(f.server.penalised_sources(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_per_source_penalties_spare_exempt_networks() {
    let f = Fixture::start(false, |c| {
        short_penalties(c);
        c.per_source_penalties
            .set_exempt_list("127.0.0.1/32")
            .unwrap();
    })
    .await;
    for _ in 0..40 {
        assert!(handshake_and_drop("127.0.0.1", f.addr()).await);
    }
    // 127.0.0.3 is not exempt: refused after a few.
    let mut refused = false;
    for _ in 0..200 {
        if !handshake_and_drop("127.0.0.3", f.addr()).await {
            refused = true;
            break;
        }
    }
    assert!(refused);
    assert_eq!(f.server.penalised_sources(), 1);
}
