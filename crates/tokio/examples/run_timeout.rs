//! Runs a command with a time limit:
//! `cargo run -p whelk-tokio --example run_timeout -- HOST PORT USER SECONDS CMD`.
//!
//! Keys come from the ssh-agent at `SSH_AUTH_SOCK`, the host key is checked against
//! `~/.ssh/known_hosts`, and a keepalive every 15 s notices a server that went away.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use whelk_tokio::{ClientConfig, Error, connect};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, host, port, user, seconds, command] = args.as_slice() else {
        eprintln!("usage: run_timeout HOST PORT USER SECONDS COMMAND");
        std::process::exit(2);
    };
    let config = ClientConfig::new(user)
        .agent_from_env()
        .keepalive(Duration::from_secs(15), 3)
        .connect_timeout(Some(Duration::from_secs(10)));
    let client = connect(host, port.parse()?, config).await?;
    let limit = Duration::from_secs(seconds.parse()?);
    let code = match client.run_timeout(command, Some(limit)).await {
        Ok(out) => {
            print!("{}", String::from_utf8_lossy(&out.stdout));
            eprint!("{}", String::from_utf8_lossy(&out.stderr));
            out.exit_status
                .map_or(255, |s| i32::try_from(s).unwrap_or(255))
        }
        Err(Error::Timeout) => {
            eprintln!("{command}: no result after {limit:?}");
            124
        }
        Err(e) => return Err(e.into()),
    };
    client.disconnect().await;
    std::process::exit(code);
}
