//! An interactive shell with a pseudo-terminal:
//! `cargo run -p whelk-tokio --example shell -- HOST PORT USER`.
//!
//! Keys come from the ssh-agent at `SSH_AUTH_SOCK`; passwords and keyboard-interactive
//! prompts are asked on the terminal. The local terminal is put in raw mode with `stty`
//! while the shell runs, and size changes (SIGWINCH) are passed on.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::process::{Command, Stdio};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::signal::unix::{SignalKind, signal};
use whelk_tokio::{ClientConfig, connect};
use zeroize::Zeroizing;

/// Runs `stty ARGS` on the controlling terminal; returns its output.
fn stty(args: &[&str]) -> Option<String> {
    let tty = std::fs::File::open("/dev/tty").ok()?;
    let out = Command::new("stty")
        .args(args)
        .stdin(Stdio::from(tty))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `(columns, rows)` of the terminal.
fn size() -> (u32, u32) {
    stty(&["size"])
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|n| n.parse().ok());
            let rows = it.next()??;
            let cols = it.next()??;
            Some((cols, rows))
        })
        .unwrap_or((80, 24))
}

/// Reads a line from the terminal without echo.
fn ask_hidden(prompt: &str) -> Zeroizing<String> {
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let saved = stty(&["-g"]);
    let _ = stty(&["-echo"]);
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    if let Some(s) = saved {
        let _ = stty(&[&s]);
    }
    eprintln!();
    Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_string())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, host, port, user] = args.as_slice() else {
        eprintln!("usage: shell HOST PORT USER");
        std::process::exit(2);
    };
    let config = ClientConfig::new(user)
        .agent_from_env()
        .password_prompt(|user| async move {
            let p =
                tokio::task::spawn_blocking(move || ask_hidden(&format!("{user}'s password: ")));
            p.await.ok()
        })
        .keyboard_interactive(|round| async move {
            tokio::task::spawn_blocking(move || {
                if !round.instruction.is_empty() {
                    eprintln!("{}", round.instruction);
                }
                round
                    .prompts
                    .iter()
                    .map(|p| ask_hidden(&p.text))
                    .collect::<Vec<_>>()
            })
            .await
            .ok()
        });
    let client = connect(host, port.parse()?, config).await?;
    let session = client.session().await?;
    let term = std::env::var("TERM").unwrap_or_else(|_| "xterm".into());
    let (cols, rows) = size();
    session.request_pty(&term, cols, rows).await?;
    session.shell().await?;

    let saved = stty(&["-g"]);
    let _ = stty(&["raw", "-echo"]);
    let mut stdin_remote = session.stdin();
    let mut stdout_remote = session.stdout();
    let mut stderr_remote = session.stderr();
    let input = tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdin.read(&mut buf).await {
            if n == 0 || stdin_remote.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = stdin_remote.shutdown().await;
    });
    let output = async {
        let mut out = tokio::io::stdout();
        let _ = tokio::io::copy(&mut stdout_remote, &mut out).await;
    };
    let errors = async {
        let mut err = tokio::io::stderr();
        let _ = tokio::io::copy(&mut stderr_remote, &mut err).await;
    };
    let mut winch = signal(SignalKind::window_change())?;
    let resize = async {
        while winch.recv().await.is_some() {
            let (c, r) = size();
            let _ = session.window_change(c, r);
        }
    };
    tokio::select! {
        _ = async { tokio::join!(output, errors) } => {}
        () = resize => {}
    }
    input.abort();
    if let Some(s) = saved {
        let _ = stty(&[&s]);
    }
    let status = session.wait().await?;
    client.disconnect().await;
    std::process::exit(
        status
            .status
            .map_or(255, |s| i32::try_from(s).unwrap_or(255)),
    );
}
