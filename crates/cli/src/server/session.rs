//! Running a session: the command (or shell, or subsystem) as the current user, its
//! environment, an optional PTY, agent forwarding, and the pump between the channel and the
//! process until it ends.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tracing::{debug, info, warn};
use whelk_tokio::{Exit, ServerSession, SessionEvent, SessionKind, X11Forwarding};

use super::handler::{Restrictions, State};
use super::options::Settings;
use super::process::{self, Launch};
use super::pty::{self, Size};
use crate::common::packet_copy;

/// How long a PTY session's output is still read after its process exited, when nothing
/// arrives (a background job holding the terminal must not keep the channel open).
pub(crate) const PTY_DRAIN_IDLE: Duration = Duration::from_millis(200);
/// Read buffer per stream (a pipe holds 64 KiB).
const BUF: usize = 64 * 1024;

/// What the session will do, once forced commands and subsystems are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Plan {
    /// A process: `None` is the login shell.
    Process(Option<String>),
    /// The built-in SFTP server.
    InternalSftp,
}

/// Runs `session` to its end.
pub(crate) async fn run(
    state: &State,
    settings: &Settings,
    restrictions: &Restrictions,
    mut session: ServerSession,
) -> Exit {
    let s = settings;
    let id = session.connection().id();
    let kind = session.kind().clone();
    let forced = s
        .force_command
        .clone()
        .or_else(|| restrictions.forced_command.clone());
    let original = match &kind {
        SessionKind::Exec(c) => Some(c.clone()),
        _ => None,
    };
    let plan = match (&forced, &kind) {
        (Some(f), _) if f == "internal-sftp" => Plan::InternalSftp,
        (Some(f), _) => Plan::Process(Some(f.clone())),
        (None, SessionKind::Shell) => Plan::Process(None),
        (None, SessionKind::Exec(c)) => Plan::Process(Some(c.clone())),
        (None, SessionKind::Subsystem(name)) => match s.subsystem(name) {
            Some("internal-sftp") => Plan::InternalSftp,
            Some(cmd) => Plan::Process(Some(cmd.to_owned())),
            None if name == "sftp" => Plan::InternalSftp,
            None => {
                info!("connection {id}: subsystem {name:?} refused (not configured)");
                return Exit::Refused;
            }
        },
        (None, _) => return Exit::Refused,
    };
    match &kind {
        SessionKind::Shell => info!("connection {id}: shell{}", pty_note(&session)),
        SessionKind::Exec(c) => info!("connection {id}: exec {c:?}{}", pty_note(&session)),
        SessionKind::Subsystem(n) => info!("connection {id}: subsystem {n}"),
        _ => {}
    }
    if let Some(f) = &forced {
        info!("connection {id}: forced command {f:?}");
    }
    if plan == Plan::InternalSftp {
        return internal_sftp(state, settings, &session).await;
    }
    let Plan::Process(command) = plan else {
        return Exit::Refused;
    };

    // The agent socket lives in a private directory for the session's lifetime.
    let agent = if session.agent_forwarding() {
        match AgentDir::create() {
            Ok(dir) => match session.agent_listener(&dir.socket()) {
                Ok(listener) => {
                    debug!(
                        "connection {id}: agent socket {}",
                        listener.path().display()
                    );
                    // The listener goes first (it removes its socket), then the directory.
                    Some((listener, dir))
                }
                Err(e) => {
                    warn!("connection {id}: agent forwarding: {e}");
                    None
                }
            },
            Err(e) => {
                warn!("connection {id}: agent forwarding: {e}");
                None
            }
        }
    } else {
        None
    };

    let env = environment(
        state,
        settings,
        restrictions,
        &session,
        forced.is_some().then_some(original).flatten(),
        agent.as_ref().map(|(l, _)| l.path()),
    );
    if let (Some(x), Some(xauth)) = (session.x11(), &settings.xauth_location) {
        add_xauth(id, xauth, &state.account.home, &env, x).await;
    }
    // sshd's user rc: not for subsystems nor under ForceCommand.
    let rc = state.account.home.join(".ssh/rc");
    let user_rc = (!matches!(kind, SessionKind::Subsystem(_))
        && settings.force_command.is_none()
        && settings.permit_user_rc
        && restrictions.user_rc
        && rc.is_file())
    .then_some(rc.as_path());
    if let Some(rc) = user_rc {
        debug!("connection {id}: running {}", rc.display());
    }
    let launch = Launch {
        account: &state.account,
        command: command.as_deref(),
        env: &env,
        user_rc,
    };
    let exit = match session.pty().cloned() {
        Some(req) => {
            let size = Size {
                cols: req.columns,
                rows: req.rows,
                width_px: req.width_px,
                height_px: req.height_px,
            };
            match pty::open(size, &req.modes) {
                Ok(p) => {
                    let mut env = env.clone();
                    env.push(("SSH_TTY".into(), p.path.clone()));
                    let launch = Launch {
                        env: &env,
                        ..launch
                    };
                    run_pty(&mut session, &launch, p).await
                }
                Err(e) => fail(&session, &format!("cannot open a terminal: {e}")).await,
            }
        }
        None => run_piped(&mut session, &launch).await,
    };
    drop(agent);
    match &exit {
        Exit::Code(c) => info!("connection {id}: session ended, exit status {c}"),
        Exit::Signal { name, .. } => info!("connection {id}: session ended, signal {name}"),
        _ => info!("connection {id}: session ended"),
    }
    exit
}

fn pty_note(session: &ServerSession) -> String {
    session.pty().map_or_else(String::new, |p| {
        format!(" (pty {}x{} {})", p.columns, p.rows, p.term)
    })
}

/// The child's environment, as sshd builds it.
fn environment(
    state: &State,
    settings: &Settings,
    restrictions: &Restrictions,
    session: &ServerSession,
    original_command: Option<String>,
    agent_sock: Option<&Path>,
) -> Vec<(String, String)> {
    let acct = &state.account;
    let conn = session.connection();
    let (peer, local) = (conn.peer_addr(), conn.local_addr());
    let mut env: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: String| {
        env.retain(|(n, _)| n != k);
        env.push((k.to_owned(), v));
    };
    // Requested variables first (AcceptEnv), so that the fixed ones below win.
    for (k, v) in session.env() {
        set(k, v.clone());
    }
    if settings.permit_user_environment {
        for (k, v) in &restrictions.environment {
            set(k, v.clone());
        }
    }
    set("USER", acct.name.clone());
    set("LOGNAME", acct.name.clone());
    set("HOME", acct.home.to_string_lossy().into_owned());
    set("SHELL", acct.shell.to_string_lossy().into_owned());
    set(
        "PATH",
        std::env::var("PATH").unwrap_or_else(|_| process::DEFAULT_PATH.to_owned()),
    );
    set(
        "SSH_CONNECTION",
        format!(
            "{} {} {} {}",
            peer.ip(),
            peer.port(),
            local.ip(),
            local.port()
        ),
    );
    set(
        "SSH_CLIENT",
        format!("{} {} {}", peer.ip(), peer.port(), local.port()),
    );
    if let Some(p) = session.pty() {
        set("TERM", p.term.clone());
    }
    if let Some(c) = original_command {
        set("SSH_ORIGINAL_COMMAND", c);
    }
    if let Some(a) = agent_sock {
        set("SSH_AUTH_SOCK", a.to_string_lossy().into_owned());
    }
    if let Some(x) = session.x11() {
        set("DISPLAY", x.display());
    }
    env
}

/// Longest `xauth` may take.
const XAUTH_TIME: Duration = Duration::from_secs(10);

/// Adds the client's X11 cookie for the session's display to the user's Xauthority file
/// (`$XAUTHORITY` of `env`, else `~/.Xauthority`), as sshd's `do_xauth`: `xauth -q -`
/// reading `remove unix:N.S` and `add unix:N.S <protocol> <cookie>` (whelk-tokio admits
/// only `[A-Za-z0-9.:/_-]` in both). A failure is logged; the session goes on (its X
/// clients will not get in).
async fn add_xauth(
    id: u64,
    xauth: &Path,
    home: &Path,
    env: &[(String, String)],
    x: &X11Forwarding,
) {
    let d = x.xauth_display();
    let script = format!(
        "remove {d}\nadd {d} {} {}\n",
        x.auth_protocol, x.auth_cookie
    );
    debug!("connection {id}: running {} -q - for {d}", xauth.display());
    let child = tokio::process::Command::new(xauth)
        .args(["-q", "-"])
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(home)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            warn!(
                "connection {id}: xauth: cannot run {}: {e}",
                xauth.display()
            );
            return;
        }
    };
    let stdin = child.stdin.take();
    let run = async {
        if let Some(mut stdin) = stdin {
            let _ = stdin.write_all(script.as_bytes()).await;
        }
        child.wait_with_output().await
    };
    match tokio::time::timeout(XAUTH_TIME, run).await {
        Ok(Ok(out)) if out.status.success() => {}
        Ok(Ok(out)) => warn!(
            "connection {id}: xauth failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Ok(Err(e)) => warn!("connection {id}: xauth: {e}"),
        Err(_) => warn!("connection {id}: xauth timed out"),
    }
}

/// Reports a failure to start on the session's stderr; exit status 255.
async fn fail(session: &ServerSession, why: &str) -> Exit {
    warn!("connection {}: {why}", session.connection().id());
    let mut err = session.stderr();
    let _ = err
        .write_all(format!("whelk server: {why}\r\n").as_bytes())
        .await;
    Exit::Code(255)
}

fn on_event(id: u64, pid: Option<u32>, ev: &SessionEvent, master: Option<&std::os::fd::OwnedFd>) {
    match ev {
        SessionEvent::WindowChange {
            columns,
            rows,
            width_px,
            height_px,
        } => {
            debug!("connection {id}: window-change {columns}x{rows}");
            if let Some(m) = master {
                let size = Size {
                    cols: *columns,
                    rows: *rows,
                    width_px: *width_px,
                    height_px: *height_px,
                };
                if let Err(e) = pty::resize(m, size) {
                    debug!("connection {id}: resize: {e}");
                }
            }
        }
        SessionEvent::Signal(name) => match (process::signal_by_name(name), pid) {
            (Some(sig), Some(pid)) => {
                info!("connection {id}: signal {name} to process {pid}");
                if let Err(e) = process::send_signal(pid, sig) {
                    debug!("connection {id}: signal: {e}");
                }
            }
            _ => debug!("connection {id}: signal {name:?} ignored"),
        },
        SessionEvent::Break { length_ms } => match master {
            Some(m) => {
                debug!("connection {id}: break ({length_ms} ms)");
                if let Err(e) = rustix::termios::tcsendbreak(m) {
                    debug!("connection {id}: break: {e}");
                }
            }
            None => debug!("connection {id}: break ignored (no terminal)"),
        },
        _ => debug!("connection {id}: {ev:?} ignored"),
    }
}

/// Pipes: stdin to the child until the client's EOF (then the child's stdin is closed),
/// stdout and stderr to the channel until the child closes them.
async fn run_piped(session: &mut ServerSession, launch: &Launch<'_>) -> Exit {
    let id = session.connection().id();
    let mut child = match process::spawn_piped(launch) {
        Ok(c) => c,
        Err(e) => {
            return fail(
                session,
                &format!("cannot start {}: {e}", launch.account.shell.display()),
            )
            .await;
        }
    };
    let pid = child.id();
    let (Some(mut child_in), Some(out), Some(err)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return fail(session, "no stdio for the child").await;
    };
    let mut stdin = session.stdin();
    let stdin_task = tokio::spawn(async move {
        let _ = packet_copy::copy(&mut stdin, &mut child_in, IN_BATCH).await;
        let _ = child_in.shutdown().await;
        // Dropping child_in closes the child's stdin.
    });
    let mut stdout = session.stdout();
    let mut stderr = session.stderr();
    // A stream is dropped at its EOF, or when the channel cannot take its data any more
    // (the client went away): the child then gets EPIPE/SIGPIPE instead of blocking.
    let (mut out, mut err) = (Some(out), Some(err));
    let (mut b1, mut b2) = (vec![0u8; BUF], vec![0u8; BUF]);
    let mut events_open = true;
    let mut status = None;
    while status.is_none() || out.is_some() || err.is_some() {
        tokio::select! {
            r = read_some(out.as_mut(), &mut b1), if out.is_some() => {
                if !forward(r, &b1, &mut stdout).await {
                    out = None;
                }
            }
            r = read_some(err.as_mut(), &mut b2), if err.is_some() => {
                if !forward(r, &b2, &mut stderr).await {
                    err = None;
                }
            }
            st = child.wait(), if status.is_none() => {
                status = Some(st);
            }
            ev = session.next_event(), if events_open => match ev {
                Some(ev) => on_event(id, pid, &ev, None),
                None => events_open = false,
            },
        }
    }
    stdin_task.abort();
    match status {
        Some(Ok(st)) => to_exit(process::Exit::from_status(st)),
        _ => Exit::Code(255),
    }
}

/// Reads from `r` if there is one (the caller only polls when there is).
async fn read_some(
    r: Option<&mut (impl tokio::io::AsyncRead + Unpin)>,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    match r {
        Some(r) => r.read(buf).await,
        None => Ok(0),
    }
}

/// Most bytes one write to the child's stdin takes: the client's data goes to the child
/// straight from the received packets (`tokio::io::copy` would copy through 8 KiB).
const IN_BATCH: usize = 256 * 1024;

/// Copies one read to `w`; false at EOF or error.
async fn forward(r: std::io::Result<usize>, buf: &[u8], w: &mut (impl AsyncWrite + Unpin)) -> bool {
    match r {
        Ok(0) | Err(_) => false,
        Ok(n) => match buf.get(..n) {
            Some(data) => w.write_all(data).await.is_ok(),
            None => false,
        },
    }
}

/// A PTY: the client's data to the master, the master's output to stdout. The session's
/// copy of the slave is closed once the child runs, so the master reads EOF when the last
/// process holding the terminal closes it.
async fn run_pty(session: &mut ServerSession, launch: &Launch<'_>, p: pty::Pty) -> Exit {
    let id = session.connection().id();
    let child = process::spawn_pty(launch, &p);
    let pty::Pty { master, slave, .. } = p;
    drop(slave);
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return fail(session, &format!("cannot start a terminal session: {e}")).await,
    };
    let pid = child.id();
    let master = match pty::Master::new(master) {
        Ok(m) => m,
        Err(e) => {
            if let Some(pid) = pid {
                let _ = process::send_signal(pid, rustix::process::Signal::HUP);
            }
            return fail(session, &format!("terminal: {e}")).await;
        }
    };
    let pty::Master {
        mut reader,
        mut writer,
        control,
    } = master;
    // The client's data and its requests are handled in one loop, in the order they came:
    // a window-change (or signal, or break) that came before some data is applied before
    // that data reaches the terminal, as sshd does. The client's EOF cannot be passed on
    // through a terminal; input just stops.
    let mut stdin = session.stdin();
    let mut stdout = session.stdout();
    let mut buf = vec![0u8; BUF];
    let (mut eof, mut events_open, mut input_open) = (false, true, true);
    // Received data not yet written to the terminal, and how much of it was.
    let mut pending = None;
    let mut status = None;
    loop {
        if eof && status.is_some() {
            break;
        }
        tokio::select! {
            r = reader.read(&mut buf), if !eof => {
                eof = !forward(r, &buf, &mut stdout).await;
            }
            st = child.wait(), if status.is_none() => {
                status = Some(st);
            }
            ev = session.next_event(), if events_open => {
                events_open = pty_event(id, pid, ev, &control, status.is_none());
            }
            r = stdin.read_chunk(BUF), if input_open && pending.is_none() => match r {
                Ok(Some(chunk)) => {
                    // Requests the client sent before this data go first.
                    session.events_caught_up().await;
                    while events_open && let Some(ev) = ready_event(session).await {
                        events_open = pty_event(id, pid, ev, &control, status.is_none());
                    }
                    pending = (!chunk.is_empty()).then_some((chunk, 0));
                }
                Ok(None) | Err(_) => input_open = false,
            },
            r = write_some(&mut writer, pending.as_ref()), if pending.is_some() => {
                match (r, pending.take()) {
                    (Ok(n), Some((chunk, done))) if done + n < chunk.len() => {
                        pending = Some((chunk, done + n));
                    }
                    (Ok(n), _) if n > 0 => {}
                    // The terminal is gone: input stops, the output is still read.
                    _ => input_open = false,
                }
            }
            () = tokio::time::sleep(PTY_DRAIN_IDLE), if status.is_some() => break,
        }
    }
    match status {
        Some(Ok(st)) => to_exit(process::Exit::from_status(st)),
        _ => Exit::Code(255),
    }
}

/// Applies one of a PTY session's events; `None` (the client went away) hangs up the
/// process if it still `runs`, as closing a terminal does. Returns whether events are
/// still open.
fn pty_event(
    id: u64,
    pid: Option<u32>,
    ev: Option<SessionEvent>,
    control: &std::os::fd::OwnedFd,
    runs: bool,
) -> bool {
    match ev {
        Some(ev) => {
            on_event(id, pid, &ev, Some(control));
            true
        }
        None => {
            if runs && let Some(pid) = pid {
                let _ = process::send_signal(pid, rustix::process::Signal::HUP);
            }
            false
        }
    }
}

/// The session's next event if one is queued already (`Some(None)` when the events
/// ended), without waiting.
async fn ready_event(session: &mut ServerSession) -> Option<Option<SessionEvent>> {
    tokio::select! {
        biased;
        ev = session.next_event() => Some(ev),
        () = std::future::ready(()) => None,
    }
}

/// Writes some of the unwritten part of `pending` (the caller only polls when there is
/// one).
async fn write_some<B: std::ops::Deref<Target = [u8]>>(
    w: &mut (impl AsyncWrite + Unpin),
    pending: Option<&(B, usize)>,
) -> std::io::Result<usize> {
    match pending.and_then(|(chunk, done)| chunk.get(*done..)) {
        Some(rest) => w.write(rest).await,
        None => Ok(0),
    }
}

fn to_exit(e: process::Exit) -> Exit {
    match e {
        process::Exit::Status(c) => Exit::Code(c),
        process::Exit::Signal(name, core_dumped) => Exit::Signal {
            name,
            core_dumped,
            message: String::new(),
        },
    }
}

/// The built-in SFTP server over the session's streams, rooted at `--sftp-root` or home.
async fn internal_sftp(state: &State, settings: &Settings, session: &ServerSession) -> Exit {
    let id = session.connection().id();
    let root = settings
        .sftp_root
        .clone()
        .unwrap_or_else(|| state.account.home.clone());
    let config = whelk_sftp::fs::StdFsConfig {
        home: "/".into(),
        user: Some(state.account.name.clone()),
        ..whelk_sftp::fs::StdFsConfig::default()
    };
    let fs = match whelk_sftp::fs::StdFs::new(&root, config) {
        Ok(fs) => fs,
        Err(e) => return fail(session, &format!("sftp root {}: {e}", root.display())).await,
    };
    info!("connection {id}: sftp rooted at {}", root.display());
    let stdin = session.stdin();
    let mut stdout = session.stdout();
    let r = whelk_tokio::sftp::serve(stdin, &mut stdout, fs).await;
    let _ = stdout.shutdown().await;
    match r {
        Ok(()) => Exit::Code(0),
        Err(e) => {
            debug!("connection {id}: sftp: {e}");
            Exit::Code(1)
        }
    }
}

/// A private directory (mode 0700) for a forwarded agent socket, removed on drop.
#[derive(Debug)]
struct AgentDir(PathBuf);

impl AgentDir {
    fn create() -> std::io::Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        let mut rnd = [0u8; 8];
        getrandom::fill(&mut rnd).map_err(|e| std::io::Error::other(e.to_string()))?;
        let name: String = rnd.iter().map(|b| format!("{b:02x}")).collect();
        let dir = std::env::temp_dir().join(format!("whelk-agent-{name}"));
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        Ok(Self(dir))
    }

    fn socket(&self) -> PathBuf {
        self.0.join(format!("agent.{}", std::process::id()))
    }
}

impl Drop for AgentDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
