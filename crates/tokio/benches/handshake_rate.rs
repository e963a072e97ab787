//! Handshake rate over loopback: one client process makes many sequential connections to
//! one server process, each a full key exchange, Ed25519 public-key authentication, an
//! `exec` of a command the server answers at once (exit status 0, no process started) and
//! a disconnect. Prints logins per second and CPU milliseconds per login for each side.
//!
//! ```text
//! cargo bench -p whelk-tokio --bench handshake_rate               # 2000 logins per method
//! cargo bench -p whelk-tokio --bench handshake_rate -- 500 curve25519-sha256
//! ```
//!
//! The server is this program started again with `serve` (its own process, a
//! current-thread runtime, TCP_NODELAY as every whelk-tokio socket); CPU time is each
//! process's user + system time from `/proc/self/stat`, read before and after each row.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_precision_loss,
    missing_docs
)]

use std::io::{BufRead, Write};
use std::time::Instant;

use whelk::{AuthRequest, AuthorizedKeysPolicy, Decision, PrivateKey};
use whelk_tokio::{ClientConfig, Exit, Handler, HostKeyPolicy, ServerConfig, ServerSession};

const METHODS: &[&str] = &["curve25519-sha256", "mlkem768x25519-sha256"];
const USER_SEED: [u8; 32] = [7; 32];

/// Accepts the user key (an `authorized_keys` policy, as a real server would); `exec`
/// succeeds at once.
struct Bench {
    keys: AuthorizedKeysPolicy,
}

impl Handler for Bench {
    async fn auth(&self, request: &AuthRequest) -> Decision {
        self.keys.decide(request, 0)
    }

    async fn exec(&self, _command: String, _session: ServerSession) -> Exit {
        Exit::Code(0)
    }
}

/// User + system CPU seconds of this process.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which may hold spaces) start at its closing ')'.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 of `rest`.
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

fn serve() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let user_key = PrivateKey::ed25519_from_seed(&USER_SEED);
        let user = user_key.public_key();
        let keys = AuthorizedKeysPolicy::new(&user.to_openssh("bench"));
        let mut config = ServerConfig::new(vec![PrivateKey::ed25519_from_seed(&[5; 32])]);
        // Thousands of logins from one address in a few seconds are the point here.
        config.per_source_penalties = whelk_tokio::PerSourcePenalties::disabled();
        config.max_startups = whelk_tokio::MaxStartups::hard(100_000);
        let server = whelk_tokio::listen("127.0.0.1:0", config, Bench { keys })
            .await
            .unwrap();
        println!("{}", server.local_addr().port());
        std::io::stdout().flush().unwrap();
        // One line per row: answers with the CPU seconds used so far; EOF ends it.
        let mut lines =
            tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(tokio::io::stdin()));
        while let Ok(Some(_)) = lines.next_line().await {
            println!("{}", cpu_seconds());
            std::io::stdout().flush().unwrap();
        }
    });
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.first().map(String::as_str) == Some("serve") {
        return serve();
    }
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let methods: Vec<String> = match args.get(1) {
        Some(m) => vec![m.clone()],
        None => METHODS.iter().map(|m| (*m).to_string()).collect(),
    };
    let mut server = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("serve")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut to_server = server.stdin.take().unwrap();
    let mut from_server = std::io::BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    from_server.read_line(&mut line).unwrap();
    let port: u16 = line.trim().parse().unwrap();
    let mut server_cpu = || {
        writeln!(to_server).unwrap();
        to_server.flush().unwrap();
        let mut l = String::new();
        from_server.read_line(&mut l).unwrap();
        l.trim().parse::<f64>().unwrap()
    };

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("| kex | logins | logins/s | client CPU ms/login | server CPU ms/login |");
    println!("|---|---:|---:|---:|---:|");
    for method in &methods {
        let mut config = ClientConfig::new("bench")
            .key(PrivateKey::ed25519_from_seed(&USER_SEED))
            .host_key(HostKeyPolicy::AcceptAny);
        config.ssh.algorithms().kex = vec![method.clone()];
        // Warm-up (page faults, lazily initialised tables) outside the measurement.
        rt.block_on(login(port, &config));
        let (c0, s0, t0) = (cpu_seconds(), server_cpu(), Instant::now());
        for _ in 0..n {
            rt.block_on(login(port, &config));
        }
        let wall = t0.elapsed().as_secs_f64();
        let (c1, s1) = (cpu_seconds(), server_cpu());
        println!(
            "| {method} | {n} | {:.0} | {:.2} | {:.2} |",
            n as f64 / wall,
            (c1 - c0) * 1000.0 / n as f64,
            (s1 - s0) * 1000.0 / n as f64,
        );
    }
    drop(to_server);
    let _ = server.wait();
}

async fn login(port: u16, config: &ClientConfig) {
    let client = whelk_tokio::connect("127.0.0.1", port, config.clone())
        .await
        .unwrap();
    let out = client.run("true").await.unwrap();
    assert_eq!(out.exit_status, Some(0));
    client.disconnect().await;
}
