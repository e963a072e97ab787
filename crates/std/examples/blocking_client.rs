//! Runs one command: `cargo run -p whelk-std --example blocking_client -- USER@HOST[:PORT] KEY_FILE COMMAND`.
//! The host key is checked against `~/.ssh/known_hosts` (hosts seen for the first time are
//! recorded, as `StrictHostKeyChecking accept-new`). Stdin is passed to the command.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read, Write};

use whelk_std::{ClientConfig, HostKeyPolicy, StrictHostKeyChecking, connect};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, target, key, command] = args.as_slice() else {
        eprintln!("usage: client USER@HOST[:PORT] KEY_FILE COMMAND");
        std::process::exit(2);
    };
    let (user, host) = target.split_once('@').ok_or("USER@HOST")?;
    let (host, port) = match host.rsplit_once(':') {
        Some((h, p)) => (h, p.parse()?),
        None => (host, 22),
    };
    let key = whelk::PrivateKey::from_openssh(&std::fs::read_to_string(key)?, None)?;
    let home = std::env::var("HOME")?;
    let config = ClientConfig::new(user)
        .key(key)
        .host_key(HostKeyPolicy::known_hosts_file_with(
            format!("{home}/.ssh/known_hosts"),
            StrictHostKeyChecking::AcceptNew,
        ));
    let client = connect(host, port, config)?;
    let session = client.exec(command)?;
    // Stdin on a thread, stderr on another, stdout here.
    let mut stdin = session.stdin();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut stdin);
        let _ = stdin.send_eof();
    });
    let mut stderr = session.stderr();
    let err = std::thread::spawn(move || {
        let _ = std::io::copy(&mut stderr, &mut std::io::stderr());
    });
    let mut buf = [0u8; 32 * 1024];
    let mut stdout = session.stdout();
    loop {
        let n = stdout.read(&mut buf)?;
        if n == 0 {
            break;
        }
        std::io::stdout().write_all(&buf[..n])?;
    }
    let _ = err.join();
    let status = session.wait()?;
    client.disconnect();
    std::process::exit(
        status
            .status
            .map_or(255, |s| i32::try_from(s).unwrap_or(255)),
    );
}
