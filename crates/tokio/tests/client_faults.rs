//! Faults and load against OpenSSH's sshd: the connection's sshd processes killed
//! mid-transfer, a proxy dropped mid-transfer (reads and writes end with an error, not a
//! hang), a slow reader in each direction (the window bounds what is buffered), and 200
//! sessions at once over 4 connections.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod client_common;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use whelk_tokio::Session;

use client_common::*;

/// The processes whose parent is `pid`, recursively (from /proc).
fn descendants(pid: u32) -> Vec<u32> {
    let mut parent_of: Vec<(u32, u32)> = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
        let Some(rest) = stat.rsplit(')').next() else {
            continue;
        };
        if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|s| s.parse().ok()) {
            parent_of.push((p, ppid));
        }
    }
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for &(c, pp) in &parent_of {
            if pp == p && !out.contains(&c) {
                out.push(c);
                todo.push(c);
            }
        }
    }
    out
}

/// Writes until a write fails; returns how much was written (each write of 64 KiB may
/// block while the window is closed, but must end with an error once the connection is
/// gone).
async fn write_until_error(s: &Session) -> usize {
    let mut stdin = s.stdin();
    let chunk = vec![7u8; 64 * 1024];
    let mut total = 0;
    while stdin.write_all(&chunk).await.is_ok() {
        total += chunk.len();
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_server_process_ends_reads_and_writes_with_errors() {
    let sshd = sshd();
    let c = client(&sshd).await;
    let s = c.exec("cat").await.unwrap();
    let mut stdout = s.stdout();
    let mut stdin = s.stdin();
    stdin.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    stdout.read_exact(&mut buf).await.unwrap();
    // Traffic in flight when the connection's processes die.
    let writer = {
        let s2 = c.exec("cat > /dev/null").await.unwrap();
        tokio::spawn(async move { write_until_error(&s2).await })
    };
    let kids = descendants(sshd.pid());
    assert!(!kids.is_empty());
    for pid in kids {
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    }
    let mut rest = Vec::new();
    let r = stdout.read_to_end(&mut rest).await;
    assert!(r.is_err(), "read ended cleanly: {r:?}");
    writer.await.unwrap();
    assert!(stdin.write_all(b"more").await.is_err());
    let why = c.closed().await;
    assert!(!why.is_empty());
    assert!(c.run("true").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_proxy_mid_transfer_ends_with_errors() {
    let sshd = sshd();
    let proxy = Proxy::start(sshd.port()).await;
    let c = proxy.client(&sshd, config(&sshd)).await;
    let s = c.exec("cat").await.unwrap();
    let mut stdout = s.stdout();
    let writer = {
        let s2 = c.exec("cat").await.unwrap();
        // Keep this session's output flowing into its window; only the write side matters.
        tokio::spawn(async move {
            let n = write_until_error(&s2).await;
            (n, s2)
        })
    };
    let mut stdin = s.stdin();
    let mut got = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    // Stream through cat until 1 MiB came back, then cut the path.
    while got < 1024 * 1024 {
        stdin.write_all(&buf[..16 * 1024]).await.unwrap();
        got += stdout.read(&mut buf).await.unwrap();
    }
    proxy.cut();
    let r = loop {
        match stdout.read(&mut buf).await {
            Ok(0) => break Ok(()),
            Ok(_) => {}
            Err(e) => break Err(e),
        }
    };
    assert!(r.is_err(), "read ended cleanly");
    let (_, _s2) = writer.await.unwrap();
    assert!(!c.is_connected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_reader_window_bounds_inbound_buffer() {
    let sshd = sshd();
    let c = client(&sshd).await;
    const TOTAL: usize = 20_000_000;
    let s = c.exec(&format!("head -c {TOTAL} /dev/zero")).await.unwrap();
    // Nobody reads: wait until the buffered amount stops growing.
    let mut last = usize::MAX;
    let mut same = 0;
    while same < 5 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = s.buffered();
        if now == last && now > 0 {
            same += 1;
        } else {
            same = 0;
        }
        last = now;
    }
    eprintln!("slow reader: {last} bytes buffered of {TOTAL} sent");
    // The default window (2 MiB) bounds it.
    assert!(last <= 2 * 1024 * 1024, "{last}");
    assert!(last < TOTAL);
    // Reading re-opens the window: everything arrives.
    let out = s.collect().await.unwrap();
    assert_eq!(out.stdout.len(), TOTAL);
    assert_eq!(out.exit_status, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_remote_reader_bounds_what_the_writer_queues() {
    let sshd = sshd();
    let c = client(&sshd).await;
    // Never reads stdin; exits once its stdout is gone.
    let s = c
        .exec("while :; do echo x || exit; sleep 0.2; done")
        .await
        .unwrap();
    let mut stdin = s.stdin();
    let chunk = vec![1u8; 64 * 1024];
    let mut written = 0usize;
    // Write until a write stays blocked (the peer's window is closed).
    while let Ok(r) =
        tokio::time::timeout(Duration::from_millis(500), stdin.write_all(&chunk)).await
    {
        r.unwrap();
        written += chunk.len();
        assert!(written < 64 * 1024 * 1024, "writes never blocked");
    }
    let queued = s.queued();
    eprintln!("stalled reader: {written} bytes accepted by write, {queued} queued locally");
    // sshd's window (2 MiB) plus our send buffer (256 KiB) plus a chunk.
    assert!(
        written <= 2 * 1024 * 1024 + 256 * 1024 + 64 * 1024,
        "{written}"
    );
    assert!(queued <= 256 * 1024, "{queued}");
    s.close();
    c.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_sessions_over_four_connections() {
    let sshd = sshd_builder().option("MaxSessions", "64").start().unwrap();
    // As the test account, whose shell is /bin/sh (root's shell startup files are slow
    // here); sshd's AuthorizedKeysFile is shared, so the test key works for it too.
    require_test_user();
    let mut clients = Vec::new();
    for _ in 0..4 {
        let config = whelk_tokio::ClientConfig::new(TEST_USER)
            .key(user_key())
            .host_key(whelk_tokio::HostKeyPolicy::KnownHosts(
                sshd.known_hosts().unwrap(),
            ));
        clients.push(
            whelk_tokio::connect("127.0.0.1", sshd.port(), config)
                .await
                .unwrap(),
        );
    }
    let start = std::time::Instant::now();
    let runs: Vec<_> = (0..200)
        .map(|i| {
            let c = clients[i % 4].clone();
            tokio::spawn(async move {
                let out = c.run(&format!("echo s{i}")).await.unwrap();
                assert_eq!(String::from_utf8_lossy(&out.stdout), format!("s{i}\n"));
                assert_eq!(out.exit_status, Some(0));
            })
        })
        .collect();
    for r in runs {
        r.await.unwrap();
    }
    eprintln!("200 sessions over 4 connections: {:?}", start.elapsed());
    for c in clients {
        c.disconnect().await;
    }
}
