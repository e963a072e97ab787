//! Measures bulk data through one channel, whelk-std client to whelk-std server in this
//! process over loopback: `cargo run --release -p whelk-std --example throughput -- [MiB]`.
//! Also runs 50 short commands one after another on one connection (exec round trips).
//! With `--sshd` as the second argument the peer is a private OpenSSH `sshd` instead
//! (`cat >/dev/null` and `head -c N /dev/zero` as the commands).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_precision_loss
)]

use std::io::{Read, Write};
use std::time::Instant;

use whelk::{AuthRequest, Decision, Grant, PrivateKey};
use whelk_std::{
    ClientConfig, Handler, HostKeyPolicy, ServerConfig, ServerSession, connect, listen,
};

struct Sink;

impl Handler for Sink {
    fn auth(&self, _request: &AuthRequest) -> Decision {
        Decision::Accept(Grant::default())
    }

    fn exec(&self, command: String, session: ServerSession) -> u32 {
        if command == "sink" {
            let n = std::io::copy(&mut session.stdin(), &mut std::io::sink()).unwrap();
            writeln!(session.stdout(), "{n}").unwrap();
        } else if let Some(n) = command.strip_prefix("source ") {
            let n: usize = n.parse().unwrap();
            let chunk = vec![7u8; 64 * 1024];
            let mut out = session.stdout();
            for _ in 0..n / chunk.len() {
                out.write_all(&chunk).unwrap();
            }
        }
        0
    }
}

fn main() {
    let mib: usize = std::env::args().nth(1).map_or(256, |a| a.parse().unwrap());
    let sshd = std::env::args().nth(2).as_deref() == Some("--sshd");
    let key = PrivateKey::ed25519_from_seed(&[2; 32]);
    // Keeps the peer alive until the end.
    let mut peer_sshd = None;
    let mut peer_server = None;
    let (port, config) = if sshd {
        let d = whelk_test::openssh::Sshd::builder()
            .authorized_key(key.public_key().to_openssh("bench"))
            .option("LogLevel", "ERROR")
            .start()
            .unwrap();
        let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
        let config = ClientConfig::new(&user)
            .key(key)
            .host_key(HostKeyPolicy::KnownHosts(d.known_hosts().unwrap()));
        let port = d.port();
        peer_sshd = Some(d);
        (port, config)
    } else {
        let server = listen(
            "127.0.0.1:0",
            ServerConfig::new(vec![PrivateKey::ed25519_from_seed(&[1; 32])]),
            Sink,
        )
        .unwrap();
        let port = server.local_addr().port();
        peer_server = Some(server);
        let config = ClientConfig::new("bench")
            .password("x")
            .host_key(HostKeyPolicy::AcceptAny);
        (port, config)
    };
    let (sink, source) = if sshd {
        (
            "cat >/dev/null; echo done".to_string(),
            "head -c {} /dev/zero",
        )
    } else {
        ("sink".to_string(), "source {}")
    };
    let t = Instant::now();
    let c = connect("127.0.0.1", port, config).unwrap();
    println!(
        "connect + kex + auth: {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );

    let bytes = mib * 1024 * 1024;
    let s = c.exec(&sink).unwrap();
    let chunk = vec![3u8; 64 * 1024];
    let t = Instant::now();
    let mut stdin = s.stdin();
    for _ in 0..bytes / chunk.len() {
        stdin.write_all(&chunk).unwrap();
    }
    stdin.send_eof().unwrap();
    let out = s.collect().unwrap();
    let dt = t.elapsed().as_secs_f64();
    let want = if sshd {
        "done".to_string()
    } else {
        bytes.to_string()
    };
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), want);
    println!("upload {mib} MiB: {:.0} MiB/s", mib as f64 / dt);

    let s = c.exec(&source.replace("{}", &bytes.to_string())).unwrap();
    let t = Instant::now();
    let mut n = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    let mut so = s.stdout();
    loop {
        let k = so.read(&mut buf).unwrap();
        if k == 0 {
            break;
        }
        n += k;
    }
    let dt = t.elapsed().as_secs_f64();
    assert_eq!(n, bytes);
    println!("download {mib} MiB: {:.0} MiB/s", mib as f64 / dt);

    let t = Instant::now();
    for _ in 0..50 {
        c.run(if sshd { "true" } else { "nothing" }).unwrap();
    }
    println!(
        "exec round trip (open + exec + close): {:.2} ms",
        t.elapsed().as_secs_f64() * 1e3 / 50.0
    );
    c.disconnect();
    drop((peer_sshd, peer_server));
}
