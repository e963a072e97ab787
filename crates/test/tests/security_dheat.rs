//! K15 (DHEat, CVE-2002-20001) and R02 (per-source penalties): the whelk-tokio server's
//! `PerSourcePenalties` (on by default, sshd 9.8's values) bound how many unauthenticated
//! handshakes one source gets, so a key-exchange flood from one address is throttled while
//! other addresses are served. Fails when ssh-audit is missing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use whelk::{AuthRequest, Decision, PrivateKey};
use whelk_test::ssh_audit;

struct Nobody;

impl whelk_tokio::Handler for Nobody {
    async fn auth(&self, _request: &AuthRequest) -> Decision {
        Decision::Reject
    }
}

fn host_key() -> PrivateKey {
    PrivateKey::ed25519_from_seed(&[7; 32])
}

async fn server(config: whelk_tokio::ServerConfig) -> whelk_tokio::Server {
    whelk_tokio::listen("127.0.0.1:0", config, Nobody)
        .await
        .unwrap()
}

/// Connects from `from`, reads until the server's version line or EOF, hangs up (what
/// ssh-audit's rate test does). Whether a version line came.
async fn handshake(from: &str, addr: SocketAddr) -> bool {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(format!("{from}:0").parse().unwrap()).unwrap();
    let Ok(mut s) = sock.connect(addr).await else {
        return false;
    };
    let mut buf = [0u8; 8];
    let mut got = Vec::new();
    while got.len() < 8 {
        match tokio::time::timeout(Duration::from_secs(30), s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            Ok(_) => break,
            Err(_) => panic!("no answer and no close within 30 s"),
        }
    }
    got.starts_with(b"SSH-")
}

/// `rounds` rounds of 16 concurrent connect-read-hangup from `from`: (handshakes that
/// got a version line, elapsed).
async fn flood(addr: SocketAddr, from: &'static str, rounds: usize) -> (usize, Duration) {
    let start = Instant::now();
    let mut ok = 0;
    for _ in 0..rounds {
        let tasks: Vec<_> = (0..16)
            .map(|_| tokio::spawn(handshake(from, addr)))
            .collect();
        for t in tasks {
            if t.await.unwrap() {
                ok += 1;
            }
        }
    }
    (ok, start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dheat_one_source_gets_a_bounded_number_of_handshakes() {
    let s = server(whelk_tokio::ServerConfig::new(vec![host_key()])).await;
    let addr = s.local_addr();
    let (ok, took) = flood(addr, "127.0.0.1", 40).await;
    println!(
        "penalties on (defaults): {ok} of 640 handshakes from 127.0.0.1 answered in {took:?} \
         ({:.1}/s)",
        ok as f64 / took.as_secs_f64()
    );
    // noauth 1 s each, refused from 15 s outstanding: 15, plus what was in flight (16 at
    // a time) before the server saw the earlier ones end (a few rounds at most).
    assert!(ok >= 15, "{ok}");
    assert!(ok <= 15 + 4 * 16, "{ok} handshakes answered: not throttled");
    assert_eq!(s.penalised_sources(), 1);
    // Another address is still served.
    assert!(handshake("127.0.0.2", addr).await);

    // The same flood without penalties: every one is answered.
    let mut config = whelk_tokio::ServerConfig::new(vec![host_key()]);
    config.per_source_penalties = whelk_tokio::PerSourcePenalties::disabled();
    let s = server(config).await;
    let (ok, took) = flood(s.local_addr(), "127.0.0.1", 40).await;
    println!(
        "penalties off: {ok} of 640 handshakes answered in {took:?} ({:.1}/s)",
        ok as f64 / took.as_secs_f64()
    );
    assert_eq!(ok, 640);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dheat_ssh_audit_rate_test_sees_throttling() {
    // The default algorithms keep DH group16/18, so ssh-audit runs its DHEat rate test
    // (3 sockets, 1.5 s, up to 38 connections; warns above 20 connections/s).
    let s = server(whelk_tokio::ServerConfig::new(vec![host_key()])).await;
    let args = ssh_audit::server_args(s.local_addr().port(), true);
    let out = tokio::task::spawn_blocking(move || ssh_audit::run(&args))
        .await
        .unwrap()
        .unwrap();
    ssh_audit::check_rate_throttled(&out);
    let t = ssh_audit::text(&out);
    let rate = t
        .lines()
        .find(|l| l.contains("connections opened per second"))
        .unwrap_or("no rate line");
    println!("measured: {rate}");
    assert!((0..3).contains(&out.status.code().unwrap()));
    assert_eq!(s.penalised_sources(), 1);
}
