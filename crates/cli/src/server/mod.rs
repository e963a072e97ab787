//! `whelk server`: a per-user SSH server (like `sshd`, without root).
//!
//! With no arguments it listens on `127.0.0.1:2222`, uses an Ed25519 host key generated on
//! first run in the user's state directory (`$XDG_STATE_HOME/whelk/` or
//! `~/.local/state/whelk/`, mode 0600, reused afterwards) and admits the keys in
//! `~/.ssh/authorized_keys`. Only the user running the server may log in: any other user name
//! is refused exactly like an unknown user.
//!
//! ```text
//! $ whelk server
//! INFO whelk server: host key ssh-ed25519 SHA256:... (~/.local/state/whelk/ssh_host_ed25519_key)
//! INFO whelk server: listening on 127.0.0.1:2222
//! $ ssh -p 2222 localhost
//! ```
//!
//! Modules: [`options`] (flags, `-f sshd_config`, `-o`, `Match` blocks per connection),
//! [`hostkey`], [`passwd`] (`--passwd-file`), [`hostbased`] (`HostbasedAuthentication`:
//! equivalence files and known_hosts, as sshd), [`process`] (starting commands and shells,
//! signals, exit), [`pty`] (pseudo-terminals), [`session`] (environment, PTY or pipes, agent
//! socket, the built-in SFTP server) and [`handler`] (the whelk-tokio handler:
//! authentication, per-connection restrictions, forwarding decisions, logging).
//!
//! Decisions worth knowing:
//!
//! - **No `unsafe`.** A PTY must become the child's controlling terminal, which needs
//!   `setsid()` + `TIOCSCTTY` between `fork` and `exec` (`pre_exec`, unsafe). The child is
//!   started as util-linux `setsid --ctty $SHELL ...` with the PTY slave as its stdio
//!   instead ([`process`]); the PTY itself comes from rustix's safe `openpt`.
//! - **One user.** Sessions run as the user running the server, through `$SHELL` (else the
//!   passwd entry's shell, else `/bin/sh`), like sshd's `$SHELL -c command` and login shell.
//! - **Restrictions** come from the authentication that succeeded (authorized_keys options,
//!   certificate extensions) and from the configuration evaluated for the connection.
//! - **Not supported** (refused or ignored with a warning): `HostCertificate` (the transport
//!   does not present host certificates yet), `X11UseLocalhost no` (X11 displays listen on
//!   loopback only), GSSAPI authentication, `ChrootDirectory`, `Match Host` (no DNS),
//!   `@netgroup` entries in `hosts.equiv`/`~/.shosts`.
//! - **Hostbased authentication** (`HostbasedAuthentication yes`, default no) follows sshd:
//!   `/etc/hosts.equiv`, `/etc/ssh/shosts.equiv`, `~/.shosts`/`~/.rhosts` per `IgnoreRhosts`,
//!   `StrictModes`, the host key in `/etc/ssh/ssh_known_hosts` or `~/.ssh/known_hosts`,
//!   `HostbasedAcceptedAlgorithms`. One difference: with `HostbasedUsesNameFromPacketOnly no`
//!   sshd trusts the reverse DNS name of the peer; whelk takes the name the client sends and
//!   requires it to resolve to the peer's address (see [`hostbased`]).
//! - **X11 forwarding** (`X11Forwarding yes`, `X11DisplayOffset`, `XAuthLocation`): the
//!   session gets `DISPLAY=localhost:N.S`, and before its command runs, `xauth -q -` adds
//!   the client's cookie for `unix:N.S` (to `$XAUTHORITY` of the session's environment,
//!   else `~/.Xauthority`), as sshd's `do_xauth` does. Also when `~/.ssh/rc` runs (sshd
//!   leaves xauth to the rc file then, passing the cookie on its stdin; whelk's rc file
//!   reads `/dev/null`).
//!
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tracing::{error, info, warn};

pub(crate) mod handler;
pub(crate) mod hostbased;
pub(crate) mod hostkey;
pub(crate) mod options;
pub(crate) mod passwd;
pub(crate) mod process;
pub(crate) mod pty;
pub(crate) mod session;

use options::{Settings, Sources};

/// How long shutdown waits for connections to close.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Command-line arguments of `whelk server`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Address and port to listen on (repeatable) [default: 127.0.0.1:2222].
    #[arg(long = "listen", value_name = "ADDR:PORT")]
    listen: Vec<String>,
    /// Host private key file (repeatable) [default: generated in the state directory].
    #[arg(long = "host-key", value_name = "FILE")]
    host_keys: Vec<PathBuf>,
    /// authorized_keys file (repeatable) [default: ~/.ssh/authorized_keys].
    #[arg(long = "authorized-keys", value_name = "FILE")]
    authorized_keys: Vec<PathBuf>,
    /// Port to listen on (sshd's -p: `Port`; on 127.0.0.1 unless ListenAddress says otherwise).
    #[arg(short = 'p', value_name = "PORT")]
    port: Option<u16>,
    /// Test mode: check the configuration and host keys, then exit (like sshd -t).
    #[arg(short = 't')]
    test: bool,
    /// Read this sshd_config file.
    #[arg(short = 'f', value_name = "CONFIG")]
    config: Option<PathBuf>,
    /// An sshd_config option (`Option=value` or `"Option value"`), winning over -f (repeatable).
    #[arg(short = 'o', value_name = "OPTION")]
    options: Vec<String>,
    /// Password file (`user:$6$...` lines: sha512-crypt, sha256-crypt, yescrypt, argon2id):
    /// enables password and keyboard-interactive authentication.
    #[arg(long = "passwd-file", value_name = "FILE")]
    passwd_file: Option<PathBuf>,
    /// Root directory of the built-in SFTP server [default: home].
    #[arg(long = "sftp-root", value_name = "DIR")]
    sftp_root: Option<PathBuf>,
    /// Debug: log debug messages (`-dd`: trace); the server stays in the foreground.
    #[arg(short = 'd', action = clap::ArgAction::Count)]
    debug: u8,
    /// Do not detach (the server never does; accepted for sshd compatibility).
    #[arg(short = 'D')]
    foreground: bool,
    /// Log to stderr (the server always does; accepted for sshd compatibility).
    #[arg(short = 'e')]
    log_stderr: bool,
    /// Read a password from stdin, print its sha512-crypt hash (for --passwd-file) and exit.
    #[arg(long = "hash-password")]
    hash_password: bool,
}

/// Runs `whelk server`.
pub(crate) fn main(args: Args) -> ExitCode {
    if args.hash_password {
        return hash_password();
    }
    let filter = match args.debug {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .try_init();
    let _ = (args.foreground, args.log_stderr);
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => match rt.block_on(run(args)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                error!("whelk server: {e}");
                eprintln!("whelk server: {e}");
                ExitCode::from(255)
            }
        },
        Err(e) => {
            eprintln!("whelk server: {e}");
            ExitCode::from(255)
        }
    }
}

fn hash_password() -> ExitCode {
    let mut line = zeroize::Zeroizing::new(String::new());
    if std::io::stdin().read_line(&mut line).is_err() {
        eprintln!("whelk server: cannot read a password from stdin");
        return ExitCode::from(255);
    }
    let pw = line.trim_end_matches(['\r', '\n']);
    match passwd::hash_sha512(pw.as_bytes()) {
        Ok(h) => {
            println!("{h}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("whelk server: {e}");
            ExitCode::from(255)
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let account = process::current_account();
    let config_file = match &args.config {
        Some(p) => Some((
            p.display().to_string(),
            std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?,
        )),
        None => None,
    };
    let sources = Sources {
        listen: args.listen.clone(),
        host_keys: args.host_keys.clone(),
        authorized_keys: args.authorized_keys.clone(),
        passwd_file: args.passwd_file.clone(),
        sftp_root: args.sftp_root.clone(),
        config_file,
        // -p is a Port option that wins over the file (-o Port, given first, wins over it).
        options: args
            .options
            .iter()
            .cloned()
            .chain(args.port.map(|p| format!("Port {p}")))
            .collect(),
        user: account.name.clone(),
        home: account.home.clone(),
        groups: process::groups(&account.name),
    };
    let settings = Settings::resolve(&sources, None)?;

    let mut host_keys = Vec::new();
    if settings.host_keys.is_empty() {
        let path = hostkey::state_dir(&account.home).join(hostkey::GENERATED_KEY_NAME);
        let (key, generated) = hostkey::load_or_generate(&path)?;
        hostkey::check_permissions(&path);
        if generated {
            info!("generated a new host key in {}", path.display());
        }
        info!(
            "host key {} {} ({})",
            key.public_key().key_type().name(),
            hostkey::fingerprint(&key),
            path.display()
        );
        host_keys.push(key);
    } else {
        for path in &settings.host_keys {
            hostkey::check_permissions(path);
            let key = hostkey::load(path)?;
            info!(
                "host key {} {} ({})",
                key.public_key().key_type().name(),
                hostkey::fingerprint(&key),
                path.display()
            );
            host_keys.push(key);
        }
    }
    for option in &settings.unsupported {
        warn!("{option}: not supported by whelk server, ignored");
    }
    for cert in &settings.host_certificates {
        warn!(
            "HostCertificate {} ignored: whelk's transport does not offer host certificates yet",
            cert.display()
        );
    }
    let passwords = match &settings.passwd_file {
        Some(p) => {
            if let Ok(meta) = std::fs::metadata(p)
                && std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o077 != 0
            {
                warn!(
                    "{} is readable or writable by other users: chmod 600 it",
                    p.display()
                );
            }
            let (file, errors) = passwd::PasswdFile::load(p)?;
            for e in errors {
                warn!("{}: {e}", p.display());
            }
            if !file.has_user(&account.name) {
                warn!(
                    "{} has no usable entry for {}: password logins will fail",
                    p.display(),
                    account.name
                );
            }
            Some(file)
        }
        None => None,
    };
    for path in &settings.authorized_keys {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let keys = whelk_keys::authorized_keys::AuthorizedKeys::parse(&text);
                info!(
                    "authorized keys: {} ({} keys{})",
                    path.display(),
                    keys.keys().len(),
                    if keys.errors().is_empty() {
                        String::new()
                    } else {
                        format!(", {} bad lines skipped", keys.errors().len())
                    }
                );
            }
            Err(e) => warn!("authorized keys: {}: {e}", path.display()),
        }
    }
    if settings.user_allowed(&account.name) {
        info!("logins allowed for {} only", account.name);
    } else {
        warn!(
            "AllowUsers/DenyUsers refuse {}: nobody can log in",
            account.name
        );
    }
    let banner = match &settings.banner {
        Some(p) => Some(std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?),
        None => None,
    };
    let ssh = handler::protocol_config(&settings, host_keys, banner)?;
    if args.test {
        info!("configuration OK");
        return Ok(());
    }
    let state = Arc::new(handler::State::new(
        settings.clone(),
        sources,
        account,
        passwords,
    ));

    // Signal handlers first: a signal the server was started with ignored (`nohup` ignores
    // SIGHUP, background jobs of a non-interactive shell SIGINT and SIGQUIT, and the Rust
    // runtime SIGPIPE) would stay ignored in every session's processes (`yes | head` would
    // print EPIPE errors, Ctrl-C would not interrupt); a caught one is reset to the default
    // by exec, as sshd resets them for its children.
    let signals = Signals::new().map_err(|e| format!("signal handlers: {e}"))?;
    let mut config = whelk_tokio::ServerConfig::new(Vec::new());
    config.ssh = ssh;
    config.max_startups = whelk_tokio::MaxStartups {
        start: usize::try_from(settings.max_startups.start).unwrap_or(usize::MAX),
        rate: settings.max_startups.rate,
        full: usize::try_from(settings.max_startups.full).unwrap_or(usize::MAX),
    };
    // A per-user server: a plain close for refused connections, as sshd.
    config.refusal_message = false;
    config.gateway_ports = settings.gateway_ports;
    config.x11_display_offset = settings.x11_display_offset;
    config.per_source_max_startups = settings.per_source_max_startups;
    config.per_source_net_block = settings.per_source_net_block;
    config.per_source_penalties = settings.per_source_penalties.clone();
    // Each connection on one thread (its tasks wake each other per packet), one thread
    // per CPU for the connections together.
    config.connection_threads = std::thread::available_parallelism().map_or(1, usize::from);
    let mut listeners = Vec::new();
    for addr in &settings.listen {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("listen on {addr}: {e}"))?;
        listeners.push(l);
    }
    // One server for every ListenAddress: MaxStartups and the per-source limits count the
    // connections on all of them together, as sshd's do.
    let server = whelk_tokio::serve_all(listeners, config, handler::ServerHandler::new(state))
        .map_err(|e| format!("listen: {e}"))?;
    for a in server.local_addrs() {
        info!("listening on {a}");
    }
    signals.shutdown().await;
    info!("shutting down");
    // Stop accepting and disconnect every client (each gets SSH_MSG_DISCONNECT).
    if !server.shutdown_and_wait(SHUTDOWN_GRACE).await {
        warn!("connections still open after {SHUTDOWN_GRACE:?}");
    }
    Ok(())
}

/// The signals the server handles: SIGTERM, SIGINT and SIGQUIT shut it down; SIGHUP is
/// logged and otherwise ignored (there is no configuration reload); SIGPIPE is caught and
/// dropped (writes to a closed pipe fail with EPIPE, as when it was ignored).
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    quit: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    pipe: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            quit: signal(SignalKind::quit())?,
            hup: signal(SignalKind::hangup())?,
            pipe: signal(SignalKind::pipe())?,
        })
    }

    /// Waits for a shutdown signal.
    async fn shutdown(mut self) {
        loop {
            tokio::select! {
                _ = self.term.recv() => return,
                _ = self.int.recv() => return,
                _ = self.quit.recv() => return,
                _ = self.hup.recv() => info!("SIGHUP: configuration reload is not supported; going on"),
                _ = self.pipe.recv() => {}
            }
        }
    }
}
