//! `whelk agent`: an `ssh-agent` on a UNIX socket (whelk-agent's [`UnixServer`]).
//!
//! ```text
//! whelk agent [-c | -s] [-D] [-d] [-a bind_address] [-t life]
//! whelk agent [-c | -s] -k
//! ```
//!
//! It prints `SSH_AUTH_SOCK=...; export SSH_AUTH_SOCK;` and `SSH_AGENT_PID=...; export
//! SSH_AGENT_PID;` (or the `setenv` lines with `-c`), so `eval "$(whelk agent)"` works.
//!
//! Daemonizing: without `-D`/`-d` the agent starts itself again in the background (as
//! `whelk agent -D` with stdin/stdout/stderr on `/dev/null`), waits until the socket exists,
//! prints the lines for the child and exits. No `fork(2)` is needed, so the crate keeps
//! `forbid(unsafe_code)`; the background agent is not made a session leader (it stays in the
//! caller's session and process group).
//!
//! With `-D` it stays in the foreground, prints the same lines, flushes stdout and serves
//! until killed. `-k` sends SIGTERM to `$SSH_AGENT_PID` and prints the `unset` lines.
//! The socket lives in a new mode-0700 directory under `$TMPDIR` unless `-a` names a path.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;

use whelk_agent::Agent;
use whelk_agent::unix::UnixServer;

/// Command-line arguments of `whelk agent`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Bind the agent to this UNIX-domain socket path.
    #[arg(short = 'a', value_name = "bind_address")]
    bind: Option<PathBuf>,
    /// Print C-shell commands (setenv).
    #[arg(short = 'c', conflicts_with = "sh")]
    csh: bool,
    /// Print Bourne-shell commands (the default).
    #[arg(short = 's')]
    sh: bool,
    /// Stay in the foreground.
    #[arg(short = 'D')]
    foreground: bool,
    /// Debug mode: stay in the foreground (like -D).
    #[arg(short = 'd')]
    debug: bool,
    /// Kill the agent named by SSH_AGENT_PID.
    #[arg(short = 'k')]
    kill: bool,
    /// Default lifetime of added keys, in seconds or as 1h30m.
    #[arg(short = 't', value_name = "life")]
    lifetime: Option<String>,
}

fn default_socket() -> std::io::Result<PathBuf> {
    let base = std::env::temp_dir();
    let pid = std::process::id();
    let mut nonce = [0u8; 6];
    getrandom::fill(&mut nonce).map_err(|e| std::io::Error::other(e.to_string()))?;
    let tag: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    let dir = base.join(format!("whelk-{tag}"));
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    Ok(dir.join(format!("agent.{pid}")))
}

fn env_lines(socket: &Path, pid: u32, csh: bool) -> String {
    let s = socket.display();
    if csh {
        format!("setenv SSH_AUTH_SOCK {s};\nsetenv SSH_AGENT_PID {pid};\necho Agent pid {pid};\n")
    } else {
        format!(
            "SSH_AUTH_SOCK={s}; export SSH_AUTH_SOCK;\nSSH_AGENT_PID={pid}; export SSH_AGENT_PID;\necho Agent pid {pid};\n"
        )
    }
}

fn print_flush(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

fn csh_default(args: &Args) -> bool {
    if args.csh {
        true
    } else if args.sh {
        false
    } else {
        std::env::var("SHELL").is_ok_and(|s| s.ends_with("csh"))
    }
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

fn kill(csh: bool) -> ExitCode {
    let Some(pid) = std::env::var("SSH_AGENT_PID")
        .ok()
        .and_then(|p| p.parse::<i32>().ok())
        .and_then(rustix::process::Pid::from_raw)
    else {
        eprintln!("SSH_AGENT_PID not set, cannot kill agent");
        return ExitCode::from(1);
    };
    if let Err(e) = rustix::process::kill_process(pid, rustix::process::Signal::TERM) {
        eprintln!("kill: {e}");
        return ExitCode::from(1);
    }
    if csh {
        print_flush("unsetenv SSH_AUTH_SOCK;\nunsetenv SSH_AGENT_PID;\n");
    } else {
        print_flush("unset SSH_AUTH_SOCK;\nunset SSH_AGENT_PID;\n");
    }
    print_flush(&format!(
        "echo Agent pid {} killed;\n",
        pid.as_raw_nonzero()
    ));
    ExitCode::SUCCESS
}

/// Runs `whelk agent`.
pub(crate) fn main(args: Args) -> ExitCode {
    let csh = csh_default(&args);
    if args.kill {
        return kill(csh);
    }
    let lifetime = match args.lifetime.as_deref().map(whelk_config::parse_time) {
        None => None,
        Some(Ok(d)) => Some(u32::try_from(d.as_secs()).unwrap_or(u32::MAX)),
        Some(Err(_)) => {
            eprintln!("Invalid lifetime");
            return ExitCode::from(1);
        }
    };
    let socket = match args.bind.clone().map_or_else(default_socket, Ok) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("whelk agent: cannot create socket directory: {e}");
            return ExitCode::from(1);
        }
    };

    if !(args.foreground || args.debug) {
        return background(&socket, lifetime, csh);
    }

    let mut agent = Agent::new();
    agent.set_default_lifetime(lifetime);
    let mut server = match UnixServer::bind(&socket, agent) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("whelk agent: bind {}: {e}", socket.display());
            return ExitCode::from(1);
        }
    };
    server.set_confirm(Arc::new(|r| askpass_confirm(&r.prompt())));
    print_flush(&env_lines(&socket, std::process::id(), csh));
    match server.serve() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("whelk agent: {e}");
            ExitCode::from(1)
        }
    }
}

/// Starts `whelk agent -D` in the background, waits for its socket and prints the lines.
fn background(socket: &Path, lifetime: Option<u32>, csh: bool) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("whelk agent: {e}");
            return ExitCode::from(1);
        }
    };
    let mut cmd = Command::new(exe);
    cmd.arg("agent").arg("-D").arg("-a").arg(socket);
    if let Some(t) = lifetime {
        cmd.arg("-t").arg(t.to_string());
    }
    let mut child = match cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("whelk agent: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    // Wait (up to 10 s) until the socket exists so the printed lines are usable at once.
    for _ in 0..1000 {
        if socket.exists() {
            print_flush(&env_lines(socket, child.id(), csh));
            return ExitCode::SUCCESS;
        }
        if let Ok(Some(status)) = child.try_wait() {
            eprintln!("whelk agent: the background agent exited ({status})");
            return ExitCode::from(1);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    eprintln!(
        "whelk agent: the socket {} did not appear",
        socket.display()
    );
    ExitCode::from(1)
}
