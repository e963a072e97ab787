//! Loopback security tests with whelk-tokio (and sshd):
//!
//! - R01: 200 idle unauthenticated TCP connections (each sent only a banner) do not stop a
//!   real login: whelk-tokio's MaxStartups (default 10:30:100) refuses new unauthenticated
//!   connections at 100, login grace (2 s here) frees the slots, the login then succeeds;
//! - V06: a banner dripped one byte every 300 ms holds the only pre-auth slot
//!   (MaxStartups 1) until login grace (2 s) closes it; then a normal login succeeds;
//! - R03 interop: `zlib@openssh.com` negotiated between whelk-tokio's client and server and
//!   between whelk-tokio's client and sshd (`Compression yes`), 1 MiB through `cat` intact.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use whelk::{AlgorithmsExt, AuthRequest, Decision, PrivateKey, RequestKind};
use whelk_test::openssh::Sshd;
use whelk_tokio::{Exit, HostKeyPolicy, ServerSession};

const PASSWORD: &str = "loopback password";

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
        let _ = out.shutdown().await;
        Exit::Code(0)
    }

    async fn disconnected(&self, _conn: &whelk_tokio::ConnectionInfo, reason: &str) {
        self.disconnects.lock().unwrap().push(reason.to_owned());
    }
}

fn host_key() -> PrivateKey {
    PrivateKey::ed25519_from_seed(&[21; 32])
}

fn client_config() -> whelk_tokio::ClientConfig {
    let mut c = whelk_tokio::ClientConfig::new("tester")
        .password(PASSWORD)
        .host_key(HostKeyPolicy::AcceptAny);
    c.connect_timeout = Some(Duration::from_secs(10));
    c
}

/// Sends `data` through `cat` on `client` and returns what came back.
async fn through_cat(client: &whelk_tokio::Client, data: &[u8]) -> Vec<u8> {
    let s = client.exec("cat").await.unwrap();
    let mut stdin = s.stdin();
    let mut stdout = s.stdout();
    let send = data.to_vec();
    let writer = tokio::spawn(async move {
        stdin.write_all(&send).await.unwrap();
        stdin.shutdown().await.unwrap();
    });
    let mut got = Vec::new();
    stdout.read_to_end(&mut got).await.unwrap();
    writer.await.unwrap();
    got
}

fn compressible(n: usize) -> Vec<u8> {
    (0..n).map(|i| b"whelk compression "[i % 18]).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r01_idle_unauthenticated_connections_do_not_lock_out_a_login() {
    let mut config = whelk_tokio::ServerConfig::new(vec![host_key()]);
    config.ssh.auth.login_grace_time = Some(Duration::from_secs(2));
    let server = whelk_tokio::listen("127.0.0.1:0", config, Cat::default())
        .await
        .unwrap();
    let port = server.local_addr().port();
    let mut idle = Vec::new();
    for _ in 0..200 {
        if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            let _ = s.write_all(b"SSH-2.0-idle\r\n").await;
            idle.push(s);
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let peak = server.unauthenticated();
    println!("200 idle connections opened; unauthenticated on the server: {peak}");
    assert!(peak <= 100, "MaxStartups full=100, found {peak}");
    // A real login from another address (127.0.0.1 is penalised once login grace closes
    // its idle connections: per-source penalties, R02): refused (random early drop) while
    // the slots are full, admitted once login grace closed the idle ones.
    let mut attempts = 0;
    let client = loop {
        attempts += 1;
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let login = async {
            let stream = sock.connect(server.local_addr()).await?;
            whelk_tokio::connect_stream(stream, "127.0.0.1", port, client_config()).await
        };
        match login.await {
            Ok(c) => break c,
            Err(e) if attempts < 60 => {
                if attempts == 1 {
                    println!("first attempt: {e}");
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("no login after {attempts} attempts: {e}"),
        }
    };
    let out = client.run("cat").await.unwrap();
    assert_eq!(out.exit_status, Some(0));
    println!(
        "login succeeded on attempt {attempts}; unauthenticated now {}",
        server.unauthenticated()
    );
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r03_zlib_openssh_negotiated_between_whelk_client_and_server() {
    let server = whelk_tokio::listen(
        "127.0.0.1:0",
        whelk_tokio::ServerConfig::new(vec![host_key()]),
        Cat::default(),
    )
    .await
    .unwrap();
    let mut config = client_config();
    config
        .ssh
        .algorithms()
        .set_compression("zlib@openssh.com")
        .unwrap();
    let client = whelk_tokio::connect("127.0.0.1", server.local_addr().port(), config)
        .await
        .unwrap();
    let data = compressible(1 << 20);
    let got = through_cat(&client, &data).await;
    assert!(got == data, "data changed through compressed cat");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r03_zlib_openssh_interop_whelk_client_to_sshd() {
    let user = std::env::var("USER").unwrap_or_else(|_| "root".to_owned());
    let key = PrivateKey::ed25519_from_seed(&[22; 32]);
    let sshd = Sshd::builder()
        .option("Compression", "yes")
        .authorized_key(key.public_key().to_openssh("whelk-security"))
        .start()
        .expect("sshd (openssh-server) is needed for this interop test");
    let mut config = whelk_tokio::ClientConfig::new(&user)
        .key(key)
        .host_key(HostKeyPolicy::KnownHosts(sshd.known_hosts().unwrap()));
    config
        .ssh
        .algorithms()
        .set_compression("zlib@openssh.com,none")
        .unwrap();
    let client = whelk_tokio::connect("127.0.0.1", sshd.port(), config)
        .await
        .unwrap();
    let data = compressible(1 << 20);
    let got = through_cat(&client, &data).await;
    assert!(got == data, "data changed through compressed cat");
    let out = client
        .run("head -c 300000 /dev/zero | wc -c")
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "300000");
    client.disconnect().await;
    let log = sshd.stderr_log();
    assert!(
        log.contains("compression: zlib@openssh.com"),
        "sshd did not log zlib@openssh.com:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v06_slowloris_banner_is_cut_by_login_grace_and_frees_the_slot() {
    let mut config = whelk_tokio::ServerConfig::new(vec![host_key()]);
    config.ssh.auth.login_grace_time = Some(Duration::from_secs(2));
    config.max_startups = whelk_tokio::MaxStartups::hard(1);
    let server = whelk_tokio::listen("127.0.0.1:0", config, Cat::default())
        .await
        .unwrap();
    let port = server.local_addr().port();
    let mut slow = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    // One byte every 300 ms: the banner would take 5 s.
    let dripper = tokio::spawn(async move {
        for b in b"SSH-2.0-slowloris-slowloris\r\n" {
            if slow.write_all(&[*b]).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let mut buf = [0u8; 1024];
        loop {
            match slow.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            }
        }
    });
    // The server has taken the dripping connection (polled: no fixed delay).
    for _ in 0..1200 {
        if server.unauthenticated() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(server.unauthenticated(), 1);
    // While the slot is taken, a login is refused; once grace expired it succeeds.
    let mut attempts = 0;
    loop {
        attempts += 1;
        match whelk_tokio::connect("127.0.0.1", port, client_config()).await {
            Ok(c) => {
                assert_eq!(c.run("cat").await.unwrap().exit_status, Some(0));
                break;
            }
            Err(_) if attempts < 40 => tokio::time::sleep(Duration::from_millis(250)).await,
            Err(e) => panic!("no login after {attempts} attempts: {e}"),
        }
    }
    println!("login admitted on attempt {attempts}");
    assert!(
        attempts > 1,
        "the dripping connection should hold the only slot at first"
    );
    assert!(
        tokio::time::timeout(Duration::from_secs(10), dripper)
            .await
            .unwrap()
            .unwrap(),
        "the slowloris connection was closed"
    );
}
