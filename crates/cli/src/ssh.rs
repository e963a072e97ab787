//! `whelk ssh [options] destination [command...]`: an OpenSSH-style client on whelk-tokio.
//!
//! - Destination `[user@]host` or `ssh://[user@]host[:port]`; `-l`/`-p` override.
//! - Configuration: `-F file` (or `~/.ssh/config` then `/etc/ssh/ssh_config`), with
//!   `-o Option=value` and the flags taking precedence (first value wins), `Host`/`Match`,
//!   tokens. Options mapped: algorithms (`Ciphers`, `MACs`, `KexAlgorithms`,
//!   `HostKeyAlgorithms` with `+`/`-`/`^`), `IdentityFile`, `IdentitiesOnly`,
//!   `IdentityAgent`, `Port`, `User`, `Hostname`, `HostKeyAlias`, `LocalForward`,
//!   `RemoteForward`, `DynamicForward`, `ExitOnForwardFailure`, `ServerAliveInterval`,
//!   `ServerAliveCountMax`, `ConnectTimeout`, `BatchMode`, `StrictHostKeyChecking`,
//!   `UserKnownHostsFile`, `GlobalKnownHostsFile`, `HashKnownHosts`, `ProxyJump`,
//!   `ProxyCommand`, `ForwardAgent`, `ForwardX11` (`-X`/`-x`), `ForwardX11Trusted` (`-Y`),
//!   `ForwardX11Timeout`, `XAuthLocation`, `RequestTTY`, `RemoteCommand`, `SetEnv`, `SendEnv`,
//!   `PreferredAuthentications`, `PasswordAuthentication`, `KbdInteractiveAuthentication`,
//!   `PubkeyAuthentication`, `NumberOfPasswordPrompts`, `RekeyLimit`, `LogLevel`,
//!   `Compression` (`-C`: `zlib@openssh.com`, `zlib`, `none`), `AddressFamily`,
//!   `BindAddress`, `ConnectionAttempts`, `TCPKeepAlive`, `CertificateFile` (and
//!   `<identity>-cert.pub` next to each identity), `Match exec` (run by `$SHELL -c`).
//! - Host key algorithms: unless `HostKeyAlgorithms` is set, the algorithms of the keys
//!   `known_hosts` already has for the host go first (and are offered even when not in the
//!   defaults, e.g. `ecdsa-sha2-nistp256`), as OpenSSH orders its proposal.
//! - An agent named by `SSH_AUTH_SOCK` that cannot be reached is skipped (debug log).
//! - Exit status: the remote command's; 255 when connecting or authenticating fails (with
//!   OpenSSH's messages), when the command died of a signal or sent no status.
//! - `-G` prints the resolved configuration ([`dump`]); `-W host:port` connects stdin and
//!   stdout to a `direct-tcpip` channel; `-f` (with `-N`) goes to the background once
//!   authenticated and the forwardings are up ([`background`]: a re-executed child, as
//!   whelk does not fork).
//! - Interactive sessions (`-t`, or no command with a terminal): raw mode restored on every
//!   exit path, window size sent and `SIGWINCH` forwarded, escapes `~.` and `~?` after a
//!   newline (`~~` sends one `~`).

mod background;
mod dump;
mod forward;
mod hostkey;
mod options;
mod session;
mod stdio;

use std::path::PathBuf;
use std::process::ExitCode;

use whelk_config::client::{LogLevel, ProxyJump, RequestTty};

use crate::common::tty;
use options::{Resolved, parse_destination, resolve};

/// Command-line arguments of `whelk ssh`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Port to connect to on the remote host.
    #[arg(short = 'p', value_name = "port")]
    port: Option<u16>,
    /// User to log in as.
    #[arg(short = 'l', value_name = "login_name")]
    login: Option<String>,
    /// Identity (private key) file; repeatable.
    #[arg(short = 'i', value_name = "identity_file")]
    identity: Vec<String>,
    /// Configuration file ("none" for none; default ~/.ssh/config).
    #[arg(short = 'F', value_name = "configfile")]
    config_file: Option<String>,
    /// Option in ssh_config syntax (Option=value); repeatable.
    #[arg(short = 'o', value_name = "option")]
    options: Vec<String>,
    /// Local forwarding: `[bind_address:]port:host:hostport` (or UNIX socket paths).
    #[arg(
        short = 'L',
        value_name = "forward",
        help = "Local forwarding: [bind_address:]port:host:hostport (or UNIX socket paths)"
    )]
    local: Vec<String>,
    /// Remote forwarding: `[bind_address:]port:host:hostport`.
    #[arg(
        short = 'R',
        value_name = "forward",
        help = "Remote forwarding: [bind_address:]port:host:hostport"
    )]
    remote: Vec<String>,
    /// Dynamic (SOCKS) forwarding: `[bind_address:]port`.
    #[arg(
        short = 'D',
        value_name = "forward",
        help = "Dynamic (SOCKS) forwarding: [bind_address:]port"
    )]
    dynamic: Vec<String>,
    /// Do not run a remote command (forwarding only).
    #[arg(short = 'N')]
    no_command: bool,
    /// Disable pseudo-terminal allocation.
    #[arg(short = 'T')]
    no_tty: bool,
    /// Force pseudo-terminal allocation (-tt: even without a local terminal).
    #[arg(short = 't', action = clap::ArgAction::Count)]
    tty: u8,
    /// Forward the authentication agent.
    #[arg(short = 'A')]
    forward_agent: bool,
    /// Do not forward the authentication agent.
    #[arg(short = 'a')]
    no_forward_agent: bool,
    /// X11 forwarding (untrusted unless ForwardX11Trusted), to $DISPLAY.
    #[arg(short = 'X')]
    forward_x11: bool,
    /// Disable X11 forwarding.
    #[arg(short = 'x')]
    no_forward_x11: bool,
    /// Trusted X11 forwarding, to $DISPLAY.
    #[arg(short = 'Y')]
    forward_x11_trusted: bool,
    /// Connect through these jump hosts: `[user@]host[:port][,...]`.
    #[arg(
        short = 'J',
        value_name = "destination",
        help = "Connect through these jump hosts: [user@]host[:port][,...]"
    )]
    jump: Option<String>,
    /// Verbose (repeat for more: -vvv).
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    verbose: u8,
    /// Quiet: no warnings or diagnostics.
    #[arg(short = 'q')]
    quiet: bool,
    /// Append debug logs to this file instead of stderr.
    #[arg(short = 'E', value_name = "log_file")]
    log_file: Option<PathBuf>,
    /// Ciphers, comma-separated (+/-/^ modify the defaults).
    #[arg(short = 'c', value_name = "cipher_spec")]
    ciphers: Option<String>,
    /// MACs, comma-separated.
    #[arg(short = 'm', value_name = "mac_spec")]
    macs: Option<String>,
    /// Request compression (zlib@openssh.com).
    #[arg(short = 'C')]
    compression: bool,
    /// Read stdin from /dev/null.
    #[arg(short = 'n')]
    null_stdin: bool,
    /// Print the resolved configuration (`keyword value` lines) and exit.
    #[arg(short = 'G')]
    print_config: bool,
    /// Forward stdin and stdout to `host:port` through the server (no session).
    #[arg(
        short = 'W',
        value_name = "host:port",
        help = "Forward stdin and stdout to host:port through the server (no session)"
    )]
    stdio_forward: Option<String>,
    /// Go to the background once authenticated and the forwardings are up (with -N).
    #[arg(short = 'f')]
    fork_after_auth: bool,
    /// `[user@]host` or `ssh://[user@]host[:port]`.
    #[arg(help = "[user@]host or ssh://[user@]host[:port]")]
    destination: String,
    /// Command to run (the remote login shell if none).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// A fatal error: the message (already in OpenSSH's words) and exit status 255.
#[derive(Debug)]
pub(crate) struct Fail {
    msg: String,
}

impl Fail {
    pub(crate) fn new(msg: impl Into<String>) -> Self {
        Self { msg: msg.into() }
    }
}

/// The reason part of an I/O error, as `strerror` words it.
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => "Connection refused".into(),
        K::TimedOut => "Connection timed out".into(),
        K::NotFound => "No such file or directory".into(),
        K::PermissionDenied => "Permission denied".into(),
        K::HostUnreachable => "No route to host".into(),
        K::NetworkUnreachable => "Network is unreachable".into(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s.get(..i).unwrap_or(&s).to_string(),
                None => s,
            }
        }
    }
}

/// Sets up `tracing` for `-v`/`-q`/`-E`/`LogLevel`.
fn init_logging(args: &Args, level: Option<LogLevel>) {
    let filter = match level {
        Some(LogLevel::Quiet | LogLevel::Fatal | LogLevel::Error) => "error",
        Some(LogLevel::Debug1) => "debug",
        Some(LogLevel::Debug2 | LogLevel::Debug3) => "trace",
        _ => "warn",
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_target(false)
        .without_time();
    if let Some(path) = &args.log_file {
        match std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
        {
            Ok(f) => {
                let _ = builder
                    .with_ansi(false)
                    .with_writer(std::sync::Mutex::new(f))
                    .try_init();
            }
            Err(e) => eprintln!("Couldn't open logfile {}: {e}", path.display()),
        }
    } else {
        let _ = builder.with_writer(std::io::stderr).try_init();
    }
}

/// Runs `whelk ssh`.
pub(crate) fn main(args: Args) -> ExitCode {
    // One thread: the connection's driver and the session's tasks wake each other without
    // crossing threads (stdin from a pipe is read here too; other stdin, stdout and stderr
    // have threads of their own).
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ssh: {e}");
            return ExitCode::from(255);
        }
    };
    let code = match rt.block_on(run(&args)) {
        Ok(code) => code,
        Err(f) => {
            if !f.msg.is_empty() {
                eprintln!("{}", f.msg);
            }
            255
        }
    };
    // Do not wait for a blocked stdin reader.
    rt.shutdown_background();
    ExitCode::from(code)
}

/// Whether to ask for a PTY: `-T`/`-t`/`-tt`, `RequestTTY`, else when there is no command
/// and stdin is a terminal.
fn want_tty(args: &Args, r: &Resolved, has_command: bool) -> bool {
    let mode = if args.no_tty {
        RequestTty::No
    } else if args.tty >= 2 {
        RequestTty::Force
    } else if args.tty == 1 {
        RequestTty::Yes
    } else {
        r.cfg.request_tty.unwrap_or(RequestTty::Auto)
    };
    let stdin_tty = tty::is_tty(std::io::stdin());
    match mode {
        RequestTty::No => false,
        RequestTty::Force => true,
        RequestTty::Yes => {
            if !stdin_tty && !args.quiet {
                eprintln!("Pseudo-terminal will not be allocated because stdin is not a terminal.");
            }
            stdin_tty
        }
        RequestTty::Auto => !has_command && stdin_tty,
    }
}

async fn run(args: &Args) -> Result<u8, Fail> {
    let dest = parse_destination(&args.destination)?;
    let r = resolve(
        args,
        &dest.host,
        args.login.clone().or(dest.user.clone()),
        args.port.or(dest.port),
        true,
    )?;
    if args.print_config {
        print!("{}", dump::render(&r)?);
        return Ok(0);
    }
    init_logging(args, r.cfg.log_level);
    let quiet = r.cfg.log_level == Some(LogLevel::Quiet);
    if args.fork_after_auth && !background::is_child() {
        return background::parent(args);
    }
    tracing::debug!(
        "connecting to {} port {} as {} (config for {})",
        r.host,
        r.port,
        r.user,
        r.original_host
    );
    let (client, jumps) = session::connect_all(args, &r, quiet).await?;
    if let Some(spec) = &args.stdio_forward {
        let code = forward::stdio(&client, spec).await;
        client.disconnect().await;
        drop(jumps);
        return code;
    }
    let forwards = forward::start(args, &r, &client, quiet).await?;
    let command = if args.command.is_empty() {
        r.cfg.remote_command.clone().unwrap_or_default()
    } else {
        args.command.join(" ")
    };
    if args.no_command {
        if background::is_child() {
            background::detach(args.verbose > 0);
        }
        let why = client.closed().await;
        drop(forwards);
        drop(jumps);
        tracing::debug!("connection closed: {why}");
        return Ok(255);
    }
    let pty = want_tty(args, &r, !command.is_empty());
    let code = session::run(args, &r, &client, &command, pty, quiet).await;
    drop(forwards);
    client.disconnect().await;
    drop(jumps);
    code
}

/// The jump hosts for `r`: `-J`/`ProxyJump`, unless `none`.
fn jump_hosts(r: &Resolved) -> Vec<whelk_config::client::JumpHost> {
    match &r.cfg.proxy_jump {
        Some(ProxyJump::Hosts(h)) => h.clone(),
        _ => Vec::new(),
    }
}
