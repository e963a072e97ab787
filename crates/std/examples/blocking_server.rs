//! A small server: `cargo run -p whelk-std --example blocking_server -- 127.0.0.1:2222 AUTHORIZED_KEYS`
//! accepts the keys listed in the `authorized_keys` file; `exec` of `upper` copies stdin
//! to stdout in capitals, any other command is echoed back (it runs nothing).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read, Write};

use whelk::{AuthRequest, AuthorizedKeysPolicy, Decision, PrivateKey};
use whelk_std::{Handler, ServerConfig, ServerSession, listen};

struct Demo(AuthorizedKeysPolicy);

impl Handler for Demo {
    fn auth(&self, request: &AuthRequest) -> Decision {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.0.decide(request, now)
    }

    fn exec(&self, command: String, session: ServerSession) -> u32 {
        let mut out = session.stdout();
        if command == "upper" {
            let mut input = Vec::new();
            let _ = session.stdin().read_to_end(&mut input);
            let _ = out.write_all(&input.to_ascii_uppercase());
        } else {
            let _ = writeln!(out, "you said: {command}");
        }
        0
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, addr, authorized] = args.as_slice() else {
        eprintln!("usage: server ADDR AUTHORIZED_KEYS");
        std::process::exit(2);
    };
    let policy = AuthorizedKeysPolicy::new(&std::fs::read_to_string(authorized)?);
    // A fresh host key each run; a real server loads a persistent one.
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)?;
    let server = listen(
        addr.as_str(),
        ServerConfig::new(vec![PrivateKey::ed25519_from_seed(&seed)]),
        Demo(policy),
    )?;
    println!("listening on {}", server.local_addr());
    loop {
        std::thread::park();
    }
}
