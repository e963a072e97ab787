//! Connecting (directly, through `ProxyJump` hops or a `ProxyCommand`) with OpenSSH's
//! error messages, and running the session: command mode with stdin/stdout/stderr piped,
//! or an interactive PTY session in raw mode with escape sequences.

use std::io::Write;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use whelk_tokio::{Client, Error, Session, X11Auth, X11Options};

use super::options::{Resolved, client_config, resolve};
use super::stdio::{self, Output, PipeInput, copy_out};
use super::{Args, Fail, hostkey, io_reason, jump_hosts};
use crate::common::tty;

/// The message `ssh` prints when connecting or authenticating fails.
fn describe(e: &Error, r: &Resolved) -> String {
    match e {
        Error::Io(io) => format!(
            "ssh: connect to host {} port {}: {}",
            r.host,
            r.port,
            io_reason(io)
        ),
        Error::HostKey(_) => "Host key verification failed.".into(),
        Error::Timeout => format!(
            "ssh: connect to host {} port {}: Connection timed out",
            r.host, r.port
        ),
        Error::Closed(why) | Error::Refused(why) => auth_message(why, r)
            .unwrap_or_else(|| format!("Connection to {} port {} closed: {why}", r.host, r.port)),
        other => {
            let s = other.to_string();
            auth_message(&s, r).unwrap_or_else(|| format!("ssh: {s}"))
        }
    }
}

/// `user@host: Permission denied (methods).` from an authentication failure.
fn auth_message(why: &str, r: &Resolved) -> Option<String> {
    let lower = why.to_ascii_lowercase();
    if let Some(i) = why.find("server offers: ") {
        let rest = why.get(i + "server offers: ".len()..)?;
        let methods: String = rest
            .chars()
            .take_while(|c| !matches!(c, ')' | ' '))
            .collect();
        return Some(format!(
            "{}@{}: Permission denied ({methods}).",
            r.user, r.host
        ));
    }
    (lower.contains("authentication") || lower.contains("permission denied"))
        .then(|| format!("{}@{}: Permission denied ({why}).", r.user, r.host))
}

/// Opens the TCP connection as `ssh` does: `AddressFamily`, `BindAddress`,
/// `ConnectionAttempts` (one second apart), `TCPKeepAlive` (default on), every address the
/// name resolves to in turn.
async fn tcp_connect(r: &Resolved) -> Result<tokio::net::TcpStream, Fail> {
    use whelk_config::client::AddressFamily;
    let resolve_err = || {
        Fail::new(format!(
            "ssh: Could not resolve hostname {}: Name or service not known",
            r.host
        ))
    };
    let family = r.cfg.address_family.unwrap_or(AddressFamily::Any);
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((r.host.as_str(), r.port))
        .await
        .map_err(|_| resolve_err())?
        .filter(|a| match family {
            AddressFamily::Any => true,
            AddressFamily::Inet => a.is_ipv4(),
            AddressFamily::Inet6 => a.is_ipv6(),
        })
        .collect();
    if addrs.is_empty() {
        return Err(resolve_err());
    }
    let bind: Option<std::net::IpAddr> = match r.cfg.bind_address.as_deref() {
        None => None,
        Some(b) => Some(
            b.parse()
                .map_err(|_| Fail::new(format!("ssh: BindAddress {b}: not an IP address")))?,
        ),
    };
    let attempts = r.cfg.connection_attempts.unwrap_or(1).max(1);
    let mut last = None;
    for attempt in 0..attempts {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        for a in &addrs {
            tracing::debug!("Connecting to {} [{}] port {}.", r.host, a.ip(), r.port);
            let socket = if a.is_ipv4() {
                tokio::net::TcpSocket::new_v4()
            } else {
                tokio::net::TcpSocket::new_v6()
            };
            let attempt = async {
                let socket = socket?;
                socket.set_keepalive(r.cfg.tcp_keep_alive != Some(false))?;
                if let Some(ip) = bind {
                    socket.bind(std::net::SocketAddr::new(ip, 0))?;
                }
                socket.connect(*a).await
            };
            match attempt.await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
    }
    let e = last.unwrap_or_else(|| std::io::Error::other("no address"));
    Err(Fail::new(describe(&Error::Io(e), r)))
}

/// Connects to one hop: over `via` (a jump connection), a `ProxyCommand`, or TCP.
async fn connect_one(r: &Resolved, via: Option<&Client>, quiet: bool) -> Result<Client, Fail> {
    let mut config = client_config(r)?;
    config = config.host_key(hostkey::policy(r, quiet));
    let result = if let Some(prev) = via {
        prev.jump(&r.host, r.port, config).await
    } else if let Some(cmd) = r.cfg.proxy_command.as_deref().filter(|c| *c != "none") {
        let cmd = whelk_config::expand(cmd, &r.tokens).unwrap_or_else(|_| cmd.to_string());
        whelk_tokio::connect_command(&cmd, &r.host, r.port, config).await
    } else {
        let limit = config.connect_timeout;
        let tcp = tcp_connect(r);
        let stream = match limit {
            Some(t) => tokio::time::timeout(t, tcp)
                .await
                .map_err(|_| Fail::new(describe(&Error::Timeout, r)))??,
            None => tcp.await?,
        };
        let _ = stream.set_nodelay(true);
        whelk_tokio::connect_stream(stream, &r.host, r.port, config).await
    };
    result.map_err(|e| {
        tracing::debug!("connection to {}:{} failed: {e}", r.host, r.port);
        Fail::new(describe(&e, r))
    })
}

/// Connects to the destination, through every `ProxyJump` hop first. Returns the
/// connection and the jump connections, which must stay up as long as it is used.
pub(super) async fn connect_all(
    args: &Args,
    r: &Resolved,
    quiet: bool,
) -> Result<(Client, Vec<Client>), Fail> {
    let mut hops: Vec<Client> = Vec::new();
    for hop in &jump_hosts(r) {
        let hr = resolve(args, &hop.host, hop.user.clone(), hop.port, false)?;
        tracing::debug!("jump host {}:{}", hr.host, hr.port);
        let c = connect_one(&hr, hops.last(), quiet).await?;
        hops.push(c);
    }
    let client = connect_one(r, hops.last(), quiet).await?;
    Ok((client, hops))
}

/// What the escape-sequence filter decided for a chunk of keyboard input.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Filtered {
    /// Bytes to send to the remote side.
    pub(super) send: Vec<u8>,
    /// `~.`: disconnect.
    pub(super) disconnect: bool,
    /// `~?`: print the help.
    pub(super) help: bool,
}

/// The `~` escape state machine (OpenSSH `process_escapes`): an escape is recognised only
/// right after a newline (or at the very start).
#[derive(Debug)]
pub(super) struct Escapes {
    at_line_start: bool,
    pending_tilde: bool,
}

impl Escapes {
    pub(super) fn new() -> Self {
        Self {
            at_line_start: true,
            pending_tilde: false,
        }
    }

    pub(super) fn filter(&mut self, input: &[u8]) -> Filtered {
        let mut out = Filtered::default();
        for &b in input {
            if self.pending_tilde {
                self.pending_tilde = false;
                match b {
                    b'.' => {
                        out.disconnect = true;
                        return out;
                    }
                    b'?' => {
                        out.help = true;
                        self.at_line_start = false;
                        continue;
                    }
                    b'~' => {
                        out.send.push(b'~');
                        self.at_line_start = false;
                        continue;
                    }
                    _ => out.send.push(b'~'),
                }
            } else if self.at_line_start && b == b'~' {
                self.pending_tilde = true;
                continue;
            }
            out.send.push(b);
            self.at_line_start = b == b'\r' || b == b'\n';
        }
        out
    }
}

const ESCAPE_HELP: &str = "Supported escape sequences:\r\n \
 ~.   - terminate connection\r\n \
 ~?   - this message\r\n \
 ~~   - send the escape character by typing it twice\r\n\
(Note that escapes are only recognized immediately after newline.)\r\n";

/// `ForwardX11`: asks for X11 forwarding to `$DISPLAY` (trusted with `ForwardX11Trusted`),
/// with OpenSSH's messages; every failure is a warning and the session goes on.
async fn request_x11(r: &Resolved, session: &Session, quiet: bool) {
    let Ok(display) = std::env::var("DISPLAY") else {
        // OpenSSH says this at debug level only (`-v`).
        tracing::debug!("X11 forwarding requested but DISPLAY not set");
        return;
    };
    let mut options = X11Options::new(&display).trusted(r.cfg.forward_x11_trusted.unwrap_or(false));
    if let Some(xauth) = &r.cfg.xauth_location {
        options = options.xauth_location(crate::common::expand_tilde(xauth));
    }
    if let Some(t) = r.cfg.forward_x11_timeout {
        options = options.timeout(t);
    }
    tracing::debug!("Requesting X11 forwarding with authentication spoofing.");
    let warning = match session.request_x11(&options).await {
        Ok(X11Auth::NoXauthData) => {
            "Warning: No xauth data; using fake authentication data for X11 forwarding.".into()
        }
        Ok(_) => return,
        Err(Error::Refused(what)) if what == "x11-req" => {
            "X11 forwarding request failed on channel 0".into()
        }
        Err(Error::Refused(why)) => format!("Warning: {why}"),
        Err(e) => format!("Warning: X11 forwarding: {e}"),
    };
    if !quiet {
        eprintln!("{warning}");
    }
}

/// Runs the command (or the shell) and returns its exit status for `ssh` to exit with.
pub(super) async fn run(
    args: &Args,
    r: &Resolved,
    client: &Client,
    command: &str,
    pty: bool,
    quiet: bool,
) -> Result<u8, Fail> {
    let closed = |e: Error| Fail::new(format!("ssh: {e}"));
    let session = client.session().await.map_err(closed)?;
    if r.cfg.forward_x11 == Some(true) {
        request_x11(r, &session, quiet).await;
    }
    for (name, value) in r.cfg.set_env.iter().flatten() {
        if session.env(name, value).await.is_err() {
            tracing::debug!("server refused SetEnv {name}");
        }
    }
    for pattern in &r.cfg.send_env {
        for (name, value) in std::env::vars() {
            if whelk_config::pattern::match_pattern(&name, pattern)
                && session.env(&name, &value).await.is_err()
            {
                tracing::debug!("server refused SendEnv {name}");
            }
        }
    }
    let mut raw_guard = None;
    if pty {
        let term = std::env::var("TERM").unwrap_or_else(|_| "dumb".into());
        let (cols, rows) = tty::window_size(std::io::stdin()).unwrap_or((80, 24));
        if let Err(e) = session.request_pty(&term, cols, rows).await {
            eprintln!("PTY allocation request failed on channel 0 ({e})");
        }
        if tty::is_tty(std::io::stdin()) {
            raw_guard = tty::raw_mode(std::io::stdin()).ok();
        }
    }
    let started = if command.is_empty() {
        session.shell().await
    } else {
        session.exec(command).await
    };
    if let Err(e) = started {
        drop(raw_guard);
        return Err(Fail::new(format!("ssh: {e}")));
    }

    // stdout and stderr to ours, until the remote side ends them.
    let out_task = copy_out(session.stdout(), Output::Stdout, &session);
    let err_task = copy_out(session.stderr(), Output::Stderr, &session);

    // Keyboard / stdin to the remote side.
    let escapes = pty;
    let direct = !escapes && !args.null_stdin;
    let mut input = if direct {
        match PipeInput::stdin() {
            Some(pipe) => drop(tokio::spawn(pipe.pump(session.stdin()))),
            None => stdio::pump_on_thread(session.stdin()),
        }
        mpsc::channel(1).1
    } else {
        stdio::reader(args.null_stdin)
    };
    let (stop_tx, mut stop_rx) = mpsc::channel::<()>(1);
    let mut stdin = session.stdin();
    let in_task = async move {
        if direct {
            return;
        }
        let mut esc = Escapes::new();
        while let Some(chunk) = input.recv().await {
            if chunk.is_empty() {
                let _ = stdin.shutdown().await;
                return;
            }
            let data = if escapes {
                let f = esc.filter(&chunk);
                if f.help {
                    let mut e = std::io::stderr();
                    let _ = e.write_all(ESCAPE_HELP.as_bytes());
                    let _ = e.flush();
                }
                if f.disconnect {
                    let _ = stop_tx.send(()).await;
                    return;
                }
                f.send
            } else {
                chunk
            };
            if !data.is_empty() && stdin.write_all(&data).await.is_err() {
                return;
            }
        }
        // The reader thread is gone: treat as EOF.
        let _ = stdin.shutdown().await;
    };
    let in_handle = tokio::spawn(in_task);

    // Window size changes.
    let winch = if pty && tty::is_tty(std::io::stdin()) {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok()
    } else {
        None
    };
    let resize = async {
        let Some(mut sig) = winch else {
            return std::future::pending::<()>().await;
        };
        while sig.recv().await.is_some() {
            if let Some((c, r)) = tty::window_size(std::io::stdin()) {
                let _ = session.window_change(c, r);
            }
        }
        std::future::pending::<()>().await;
    };

    // SIGTERM, SIGHUP and SIGINT (SIGINT only reaches us outside raw mode) end the session
    // through the normal path, so the terminal mode is restored.
    let terminated = async {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut hup), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
            signal(SignalKind::interrupt()),
        ) else {
            return std::future::pending::<()>().await;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = hup.recv() => {}
            _ = int.recv() => {}
        }
    };
    let outputs = async {
        tokio::join!(out_task, err_task);
    };
    let disconnected = tokio::select! {
        () = outputs => false,
        Some(()) = stop_rx.recv() => true,
        () = resize => false,
        () = terminated => {
            drop(raw_guard.take());
            session.close();
            return Ok(255);
        }
    };
    in_handle.abort();
    let status = if disconnected {
        None
    } else {
        // The channel's close follows its EOF; do not hang if the server never closes it.
        tokio::time::timeout(Duration::from_secs(10), session.wait())
            .await
            .ok()
            .and_then(Result::ok)
    };
    drop(raw_guard);
    if disconnected {
        if !quiet {
            eprintln!("Connection to {} closed.", r.host);
        }
        return Ok(255);
    }
    let lost = status
        .as_ref()
        .is_none_or(|s| s.status.is_none() && s.signal.is_none())
        && !client.is_connected();
    if lost {
        eprintln!("Connection to {} closed by remote host.", r.host);
    } else if pty && !quiet && tty::is_tty(std::io::stdin()) {
        eprintln!("Connection to {} closed.", r.host);
    }
    Ok(match status {
        Some(s) => match (s.status, s.signal) {
            (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(255),
            (None, Some(sig)) => {
                tracing::debug!("remote command killed by signal {sig}");
                255
            }
            (None, None) => 255,
        },
        None => 255,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_only_after_newline() {
        let mut e = Escapes::new();
        let f = e.filter(b"a~.b\n");
        assert_eq!(f.send, b"a~.b\n");
        assert!(!f.disconnect);
        let f = e.filter(b"~?");
        assert!(f.help);
        assert!(f.send.is_empty());
        let f = e.filter(b"\r~~x\r~");
        assert_eq!(f.send, b"\r~x\r");
        let f = e.filter(b".");
        assert!(f.disconnect);
        let mut e = Escapes::new();
        assert!(e.filter(b"~.").disconnect);
        let mut e = Escapes::new();
        assert_eq!(e.filter(b"~x").send, b"~x");
    }
}
