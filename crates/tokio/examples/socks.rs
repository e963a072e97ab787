//! Dynamic forwarding (`ssh -D`), a SOCKS 4/4a/5 proxy through the server:
//! `cargo run -p whelk-tokio --example socks -- HOST PORT USER [LISTEN]`
//! (LISTEN defaults to `127.0.0.1:1080`), then e.g.
//! `curl --socks5-hostname 127.0.0.1:1080 http://intranet.example/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use whelk_tokio::{ClientConfig, connect};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (host, port, user, listen) = match args.as_slice() {
        [_, h, p, u] => (h, p, u, "127.0.0.1:1080"),
        [_, h, p, u, l] => (h, p, u, l.as_str()),
        _ => {
            eprintln!("usage: socks HOST PORT USER [LISTEN]");
            std::process::exit(2);
        }
    };
    let config = ClientConfig::new(user)
        .agent_from_env()
        .keepalive(Duration::from_secs(30), 3);
    let client = connect(host, port.parse()?, config).await?;
    let socks = client.forward_dynamic(listen).await?;
    eprintln!(
        "SOCKS proxy on {} through {host}; Ctrl-C ends",
        socks
            .local_addr()
            .map_or_else(String::new, |a| a.to_string())
    );
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        why = client.closed() => eprintln!("connection ended: {why}"),
    }
    socks.close().await;
    client.disconnect().await;
    Ok(())
}
