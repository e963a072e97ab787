//! A minimal `ssh-agent` on whelk: `agent [-D] [-d] [-a socket] [-t life] [-s | -c]`.
//!
//! - `-a path`: bind the socket there (default: `$TMPDIR/whelk-XXXX/agent.<pid>` in a new
//!   mode-0700 directory).
//! - `-D`: stay in the foreground. Without it the agent starts itself again in the
//!   background (with `-D`), prints the environment lines and exits, as `ssh-agent` does.
//! - `-d`: foreground with a line on stderr per connection-level event (same as `-D` here).
//! - `-t life`: default lifetime in seconds for added keys.
//! - `-s` / `-c`: Bourne (default) or C-shell syntax for the printed lines.
//!
//! Keys added with `ssh-add -c` are confirmed with `$SSH_ASKPASS` (default `ssh-askpass`)
//! run with `SSH_ASKPASS_PROMPT=confirm`, as `ssh-agent` does; exit status 0 allows the use.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;

use whelk_agent::Agent;
use whelk_agent::unix::UnixServer;

struct Options {
    foreground: bool,
    socket: Option<PathBuf>,
    lifetime: Option<u32>,
    csh: bool,
}

fn usage() -> ExitCode {
    eprintln!("usage: agent [-D] [-d] [-a bind_address] [-t life] [-s | -c]");
    ExitCode::from(1)
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        foreground: false,
        socket: None,
        lifetime: None,
        csh: std::env::var("SHELL").is_ok_and(|s| s.ends_with("csh")),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-D" | "-d" => o.foreground = true,
            "-a" => o.socket = Some(PathBuf::from(args.next().ok_or("-a needs a path")?)),
            "-t" => {
                let v = args.next().ok_or("-t needs seconds")?;
                o.lifetime = Some(v.parse().map_err(|_| format!("bad lifetime {v:?}"))?);
            }
            "-s" => o.csh = false,
            "-c" => o.csh = true,
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(o)
}

fn default_socket() -> std::io::Result<PathBuf> {
    let base = std::env::temp_dir();
    let pid = std::process::id();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = base.join(format!("whelk-{pid:x}{nanos:x}"));
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    Ok(dir.join(format!("agent.{pid}")))
}

fn print_env(socket: &Path, pid: u32, csh: bool) {
    let s = socket.display();
    if csh {
        println!("setenv SSH_AUTH_SOCK {s};");
        println!("setenv SSH_AGENT_PID {pid};");
    } else {
        println!("SSH_AUTH_SOCK={s}; export SSH_AUTH_SOCK;");
        println!("SSH_AGENT_PID={pid}; export SSH_AGENT_PID;");
    }
    println!("echo Agent pid {pid};");
}

fn askpass_confirm(prompt: &str) -> bool {
    let program = std::env::var_os("SSH_ASKPASS").unwrap_or_else(|| "ssh-askpass".into());
    Command::new(program)
        .arg(prompt)
        .env("SSH_ASKPASS_PROMPT", "confirm")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("agent: {e}");
            return usage();
        }
    };
    let socket = match opts.socket.clone().map_or_else(default_socket, Ok) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("agent: cannot create socket directory: {e}");
            return ExitCode::from(1);
        }
    };

    if !opts.foreground {
        // Start again in the background with -D: no fork needed.
        let exe = match std::env::current_exe() {
            Ok(e) => e,
            Err(e) => {
                eprintln!("agent: {e}");
                return ExitCode::from(1);
            }
        };
        let mut cmd = Command::new(exe);
        cmd.arg("-D").arg("-a").arg(&socket);
        if let Some(t) = opts.lifetime {
            cmd.arg("-t").arg(t.to_string());
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        match child {
            Ok(child) => {
                // Wait until the socket exists so the printed lines are usable at once.
                for _ in 0..200 {
                    if socket.exists() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                print_env(&socket, child.id(), opts.csh);
                return ExitCode::SUCCESS;
            }
            Err(e) => {
                eprintln!("agent: cannot start: {e}");
                return ExitCode::from(1);
            }
        }
    }

    let mut agent = Agent::new();
    agent.set_default_lifetime(opts.lifetime);
    let mut server = match UnixServer::bind(&socket, agent) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("agent: bind {}: {e}", socket.display());
            return ExitCode::from(1);
        }
    };
    server.set_confirm(Arc::new(|r| askpass_confirm(&r.prompt())));
    print_env(&socket, std::process::id(), opts.csh);
    // ssh-agent -D keeps stdout open; flush so a parent reading the lines sees them.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    match server.serve() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("agent: {e}");
            ExitCode::from(1)
        }
    }
}
