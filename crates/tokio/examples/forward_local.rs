//! Local port forwarding (`ssh -L`):
//! `cargo run -p whelk-tokio --example forward_local -- HOST PORT USER LISTEN TARGET_HOST TARGET_PORT`,
//! e.g. `... example.org 22 alice 127.0.0.1:8080 intranet.example 80`.
//!
//! Connections to LISTEN here are carried through the server to TARGET (as the server
//! resolves it) until Ctrl-C.
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
    let [_, host, port, user, listen, target_host, target_port] = args.as_slice() else {
        eprintln!("usage: forward_local HOST PORT USER LISTEN TARGET_HOST TARGET_PORT");
        std::process::exit(2);
    };
    let config = ClientConfig::new(user)
        .agent_from_env()
        .keepalive(Duration::from_secs(30), 3);
    let client = connect(host, port.parse()?, config).await?;
    let forward = client
        .forward_local(listen, target_host, target_port.parse()?)
        .await?;
    eprintln!(
        "forwarding {} -> {target_host}:{target_port} via {host}; Ctrl-C ends",
        forward
            .local_addr()
            .map_or_else(String::new, |a| a.to_string())
    );
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        why = client.closed() => eprintln!("connection ended: {why}"),
    }
    forward.close().await;
    client.disconnect().await;
    Ok(())
}
