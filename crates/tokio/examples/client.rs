//! A simple client: `cargo run -p whelk-tokio --example client -- HOST PORT USER KEYFILE CMD`
//! (publickey authentication with an OpenSSH private key, host key checked against
//! `~/.ssh/known_hosts`).
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
    let [_, host, port, user, keyfile, command] = args.as_slice() else {
        eprintln!("usage: client HOST PORT USER KEYFILE COMMAND");
        return Ok(());
    };
    let key = whelk::PrivateKey::from_openssh(&std::fs::read_to_string(keyfile)?, None)?;
    let client = connect(host, port.parse()?, ClientConfig::new(user).key(key)).await?;
    let out = client.run(command).await?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    client.disconnect().await;
    std::process::exit(
        out.exit_status
            .map_or(255, |s| i32::try_from(s).unwrap_or(255)),
    );
}
