//! A simple server: `cargo run -p whelk-tokio --example server -- 127.0.0.1:2222 AUTHORIZED_KEYS`
//! accepts the keys listed in the `authorized_keys` file and answers every command by
//! echoing it back (it runs nothing).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use tokio::io::AsyncWriteExt;
use whelk::{AuthRequest, AuthorizedKeysPolicy, Decision, PrivateKey};
use whelk_tokio::{Exit, Handler, ServerConfig, ServerSession, listen};

struct Echo(AuthorizedKeysPolicy);

impl Handler for Echo {
    async fn auth(&self, request: &AuthRequest) -> Decision {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.0.decide(request, now)
    }

    async fn exec(&self, command: String, session: ServerSession) -> Exit {
        let _ = session
            .stdout()
            .write_all(format!("you said: {command}\n").as_bytes())
            .await;
        Exit::Code(0)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, addr, authorized] = args.as_slice() else {
        eprintln!("usage: server ADDR AUTHORIZED_KEYS");
        return Ok(());
    };
    let policy = AuthorizedKeysPolicy::new(&std::fs::read_to_string(authorized)?);
    // A fresh host key each run; a real server loads a persistent one.
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)?;
    let host = PrivateKey::ed25519_from_seed(&seed);
    let server = listen(addr, ServerConfig::new(vec![host]), Echo(policy)).await?;
    println!("listening on {}", server.local_addr());
    tokio::signal::ctrl_c().await?;
    // Disconnect every client (BY_APPLICATION) and give them a moment to go.
    server
        .shutdown_and_wait(std::time::Duration::from_secs(5))
        .await;
    Ok(())
}
