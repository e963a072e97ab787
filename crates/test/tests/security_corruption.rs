//! P06 over loopback (OpenSSH regress `integrity.sh` + `modpipe`): a TCP proxy between
//! whelk-tokio's client and server flips one byte (XOR 0x01) of the client-to-server stream
//! at an offset counted from the end of authentication, for every cipher × MAC pair whelk
//! implements and several offsets. Every run must end with the server disconnecting for a
//! MAC failure, or, when the flipped byte lands in a length field, for the packet-length
//! class of error (`packet length ...`, padding, alignment): never success, never another
//! class of error that could serve as an oracle.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use whelk::{AlgorithmsExt, AuthRequest, Decision, PrivateKey, RequestKind};
use whelk_tokio::{Exit, HostKeyPolicy, ServerSession};

const PASSWORD: &str = "corruption";
/// Offsets after authentication: the first packet's length field, inside it, a later one.
const OFFSETS: [usize; 3] = [0, 5, 40];

#[derive(Clone, Default)]
struct Cat {
    disconnects: Arc<Mutex<Vec<String>>>,
}

impl whelk_tokio::Handler for Cat {
    async fn auth(&self, request: &AuthRequest) -> Decision {
        match &request.kind {
            RequestKind::Password { password, .. }
                if password.as_slice() == PASSWORD.as_bytes() =>
            {
                Decision::Accept(whelk::Grant::default())
            }
            _ => Decision::Reject,
        }
    }

    async fn exec(&self, _command: String, session: ServerSession) -> Exit {
        let mut input = session.stdin();
        let mut out = session.stdout();
        let _ = tokio::io::copy(&mut input, &mut out).await;
        Exit::Code(0)
    }

    async fn disconnected(&self, _conn: &whelk_tokio::ConnectionInfo, reason: &str) {
        self.disconnects.lock().unwrap().push(reason.to_owned());
    }
}

/// Copies client -> server flipping the byte at `offset` once `armed`, and server ->
/// client unchanged.
async fn proxy(listener: TcpListener, server_port: u16, armed: Arc<AtomicBool>, offset: usize) {
    let Ok((client, _)) = listener.accept().await else {
        return;
    };
    let Ok(server) = TcpStream::connect(("127.0.0.1", server_port)).await else {
        return;
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        let mut seen = 0usize;
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if armed.load(Ordering::SeqCst) {
                if (seen..seen + n).contains(&offset) {
                    buf[offset - seen] ^= 0x01;
                }
                seen += n;
            }
            if sw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = sw.shutdown().await;
    });
    let _ = tokio::io::copy(&mut sr, &mut cw).await;
    let _ = cw.shutdown().await;
    let _ = up.await;
}

fn classify(reason: &str) -> &'static str {
    if reason.contains("message authentication failed") {
        "mac"
    } else if reason.contains("packet length")
        || reason.contains("padding length")
        || reason.contains("multiple of the block size")
    {
        "length"
    } else {
        "other"
    }
}

async fn run_one(server_port: u16, log: &Cat, cipher: &str, mac: &str, offset: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let armed = Arc::new(AtomicBool::new(false));
    let task = tokio::spawn(proxy(listener, server_port, armed.clone(), offset));
    let mut config = whelk_tokio::ClientConfig::new("tester")
        .password(PASSWORD)
        .host_key(HostKeyPolicy::AcceptAny);
    config.connect_timeout = Some(Duration::from_secs(10));
    // Keepalives keep bytes flowing after the flip: a length field made a little larger
    // makes the server wait for more bytes, and without more it would wait forever.
    config.keepalive_interval = Some(Duration::from_millis(50));
    config.keepalive_max = 1000;
    {
        let a = config.ssh.algorithms();
        a.set_kex("curve25519-sha256").unwrap();
        a.set_ciphers(cipher).unwrap();
        a.set_macs(mac).unwrap();
    }
    let before = log.disconnects.lock().unwrap().len();
    let client = whelk_tokio::connect("127.0.0.1", port, config)
        .await
        .unwrap();
    // The session is open before the flip: what follows are data packets the client sends
    // without waiting for anything (a 2 MiB window), so even CBC's 256 KiB discard before
    // the MAC check (CVE-2008-5161 defence) is fed.
    let s = client.exec("cat").await.unwrap();
    armed.store(true, Ordering::SeqCst);
    // 4 MiB through cat without an error would be a success: a bug.
    let mut delivered = 0usize;
    let mut stdin = s.stdin();
    let mut stdout = s.stdout();
    let writer = tokio::spawn(async move {
        let chunk = vec![0x5au8; 32 * 1024];
        for _ in 0..128 {
            if stdin.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = stdin.shutdown().await;
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(20), stdout.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => delivered += n,
            Err(_) => panic!("{cipher} {mac} @{offset}: stalled"),
        }
    }
    writer.abort();
    // Up to 30 s (a hang guard: a loaded machine may take seconds to see the disconnect).
    for _ in 0..1200 {
        if log.disconnects.lock().unwrap().len() > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    drop(client);
    task.abort();
    let reasons = log.disconnects.lock().unwrap();
    let reason = reasons.get(before).cloned().unwrap_or_default();
    assert!(
        delivered < 4 << 20,
        "{cipher} {mac} @{offset}: all data went through a corrupted stream"
    );
    reason
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p06_one_flipped_byte_is_always_a_mac_or_length_error() {
    let mut sc = whelk_tokio::ServerConfig::new(vec![PrivateKey::ed25519_from_seed(&[31; 32])]);
    {
        let a = sc.ssh.algorithms();
        a.set_kex("+curve25519-sha256").unwrap();
        a.set_ciphers(&whelk::config::supported_ciphers()[..])
            .unwrap();
        a.set_macs(&whelk::config::supported_macs()[..]).unwrap();
    }
    let handler = Cat::default();
    let server = whelk_tokio::listen("127.0.0.1:0", sc, handler.clone())
        .await
        .unwrap();
    let port = server.local_addr().port();
    let mut pairs = Vec::new();
    for c in whelk::config::supported_ciphers() {
        let aead = c.contains("gcm") || c.contains("poly1305");
        if aead {
            pairs.push((c, "hmac-sha2-256-etm@openssh.com"));
        } else {
            for m in whelk::config::supported_macs() {
                pairs.push((c, m));
            }
        }
    }
    let mut counts = std::collections::BTreeMap::new();
    let mut bad = Vec::new();
    for (c, m) in &pairs {
        for off in OFFSETS {
            let reason = run_one(port, &handler, c, m, off).await;
            let class = classify(&reason);
            *counts.entry(class).or_insert(0usize) += 1;
            if class == "other" {
                bad.push(format!("{c} {m} @{off}: {reason:?}"));
            }
        }
    }
    println!(
        "{} pairs x {} offsets: {counts:?}",
        pairs.len(),
        OFFSETS.len()
    );
    assert!(bad.is_empty(), "other outcomes:\n{}", bad.join("\n"));
}
