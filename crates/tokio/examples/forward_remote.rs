//! Remote port forwarding (`ssh -R`):
//! `cargo run -p whelk-tokio --example forward_remote -- HOST PORT USER REMOTE_PORT TARGET_HOST TARGET_PORT`.
//!
//! The server listens on `127.0.0.1:REMOTE_PORT` (0: it picks one, printed) and each
//! connection to it is carried back here to TARGET, until Ctrl-C.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use whelk_tokio::{ClientConfig, connect};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, host, port, user, remote_port, target_host, target_port] = args.as_slice() else {
        eprintln!("usage: forward_remote HOST PORT USER REMOTE_PORT TARGET_HOST TARGET_PORT");
        std::process::exit(2);
    };
    let client = connect(
        host,
        port.parse()?,
        ClientConfig::new(user).agent_from_env(),
    )
    .await?;
    let forward = client
        .forward_remote(
            "127.0.0.1",
            remote_port.parse()?,
            target_host,
            target_port.parse()?,
        )
        .await?;
    eprintln!(
        "{host} listens on 127.0.0.1:{} -> {target_host}:{target_port} here; Ctrl-C ends",
        forward.remote_port().unwrap_or(0)
    );
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        why = client.closed() => eprintln!("connection ended: {why}"),
    }
    drop(forward); // cancel-tcpip-forward
    client.disconnect().await;
    Ok(())
}
