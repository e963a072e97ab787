//! An echo server: its "shell" sends every line back.
//!
//! ```text
//! cargo run -p whelk-tokio --example echo_server -- 127.0.0.1:2222 PASSWORD [AUTHORIZED_KEYS]
//! ssh -p 2222 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null user@127.0.0.1
//! ```
//!
//! Any user logs in with PASSWORD or with a key listed in AUTHORIZED_KEYS. With a terminal
//! (`ssh -t`), typed characters are echoed as they come and `exit` or Ctrl-D ends the
//! session; without one (`echo hi | ssh ... -T`), lines are sent back as they arrive.
//! Terminal size changes are reported in the session.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use whelk::{AuthRequest, AuthorizedKeysPolicy, Decision, Grant, PrivateKey, RequestKind};
use whelk_tokio::{
    ConnectionInfo, Exit, Handler, Pty, ServerConfig, ServerSession, SessionEvent, listen,
};

struct EchoShell {
    password: String,
    keys: AuthorizedKeysPolicy,
}

impl Handler for EchoShell {
    async fn auth(&self, request: &AuthRequest) -> Decision {
        match &request.kind {
            RequestKind::Password { password, .. }
                if password.as_slice() == self.password.as_bytes() =>
            {
                Decision::Accept(Grant::default())
            }
            RequestKind::Password { .. } => Decision::Reject,
            _ => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                self.keys.decide(request, now)
            }
        }
    }

    async fn authenticated(&self, conn: &ConnectionInfo) {
        println!("{} logged in from {}", conn.user(), conn.peer_addr());
    }

    async fn disconnected(&self, conn: &ConnectionInfo, reason: &str) {
        println!("{} ({}) left: {reason}", conn.peer_addr(), conn.user());
    }

    async fn pty_request(&self, _conn: &ConnectionInfo, pty: &Pty) -> bool {
        println!("pty {} {}x{}", pty.term, pty.columns, pty.rows);
        true
    }

    async fn shell(&self, mut session: ServerSession) -> Exit {
        let mut out = session.stdout();
        let mut input = session.stdin();
        if session.pty().is_none() {
            // No terminal: echo whole lines.
            let mut lines = BufReader::new(input).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if out.write_all(format!("{line}\n").as_bytes()).await.is_err() {
                    break;
                }
            }
            return Exit::Code(0);
        }
        let _ = out
            .write_all(b"echo shell: type lines, `exit` ends\r\n> ")
            .await;
        let mut line = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            tokio::select! {
                ev = session.next_event() => match ev {
                    Some(SessionEvent::WindowChange { columns, rows, .. }) => {
                        let _ = out
                            .write_all(format!("\r\n[terminal is {columns}x{rows}]\r\n> ").as_bytes())
                            .await;
                    }
                    Some(_) => {}
                    None => return Exit::Code(0),
                },
                n = input.read(&mut buf) => {
                    let Ok(n) = n else { return Exit::Code(1) };
                    if n == 0 {
                        return Exit::Code(0);
                    }
                    for &b in &buf[..n] {
                        match b {
                            b'\r' | b'\n' => {
                                let text = String::from_utf8_lossy(&line).into_owned();
                                line.clear();
                                if text == "exit" {
                                    let _ = out.write_all(b"\r\nbye\r\n").await;
                                    return Exit::Code(0);
                                }
                                let _ = out.write_all(format!("\r\n{text}\r\n> ").as_bytes()).await;
                            }
                            // Ctrl-D on an empty line, as a shell.
                            4 if line.is_empty() => return Exit::Code(0),
                            // Backspace / DEL.
                            8 | 127 => {
                                if line.pop().is_some() {
                                    let _ = out.write_all(b"\x08 \x08").await;
                                }
                            }
                            // Ctrl-C: drop the line.
                            3 => {
                                line.clear();
                                let _ = out.write_all(b"^C\r\n> ").await;
                            }
                            b => {
                                line.push(b);
                                let _ = out.write_all(&[b]).await;
                            }
                        }
                    }
                }
            }
        }
    }

    async fn exec(&self, command: String, session: ServerSession) -> Exit {
        let _ = session
            .stdout()
            .write_all(format!("{command}\n").as_bytes())
            .await;
        Exit::Code(0)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (addr, password, keys) = match args.as_slice() {
        [_, addr, password] => (addr, password, String::new()),
        [_, addr, password, keys] => (addr, password, std::fs::read_to_string(keys)?),
        _ => {
            eprintln!("usage: echo_server ADDR PASSWORD [AUTHORIZED_KEYS]");
            return Ok(());
        }
    };
    // A fresh host key each run; a real server loads a persistent one.
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)?;
    let host = PrivateKey::ed25519_from_seed(&seed);
    let handler = EchoShell {
        password: password.clone(),
        keys: AuthorizedKeysPolicy::new(&keys),
    };
    let server = listen(addr, ServerConfig::new(vec![host]), handler).await?;
    println!("listening on {}", server.local_addr());
    tokio::signal::ctrl_c().await?;
    server
        .shutdown_and_wait(std::time::Duration::from_secs(5))
        .await;
    Ok(())
}
