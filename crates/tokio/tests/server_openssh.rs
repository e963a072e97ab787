//! The whelk-tokio server against OpenSSH's `ssh` client (and whelk's own client): exec,
//! PTY shells, env, subsystems, every kind of forwarding, refusals, agent forwarding,
//! connection limits and shutdown. Fails (never skips) when OpenSSH is missing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use whelk::{AuthRequest, AuthorizedKeysPolicy, Decision, PrivateKey};
use whelk_test::openssh::{Ssh, find, free_port};
use whelk_tokio::{
    ClientConfig, ConnectionInfo, Exit, Handler, HostKeyPolicy, MaxStartups, Pty, Server,
    ServerConfig, ServerSession, SessionEvent, connect, listen,
};

/// Longest any single ssh run may take before the test fails (a hang guard, not a
/// timing assertion).
const GUARD: Duration = Duration::from_secs(30);

#[derive(Clone)]
struct App {
    policy: Arc<AuthorizedKeysPolicy>,
    forwarding: bool,
    log: Arc<Mutex<Vec<String>>>,
    flooded: Arc<std::sync::atomic::AtomicUsize>,
}

impl App {
    fn note(&self, s: String) {
        self.log.lock().unwrap().push(s);
    }
}

impl Handler for App {
    async fn auth(&self, request: &AuthRequest) -> Decision {
        match &request.kind {
            whelk::RequestKind::Password { password, .. } if password.as_slice() == b"pw" => {
                Decision::Accept(whelk::Grant::default())
            }
            whelk::RequestKind::Password { .. } => Decision::Reject,
            _ => self.policy.decide(request, 0),
        }
    }

    async fn authenticated(&self, conn: &ConnectionInfo) {
        self.note(format!("login {} {}", conn.user(), conn.peer_addr().ip()));
    }

    async fn pty_request(&self, _conn: &ConnectionInfo, pty: &Pty) -> bool {
        self.note(format!("pty {} {}x{}", pty.term, pty.columns, pty.rows));
        true
    }

    async fn env(&self, _conn: &ConnectionInfo, name: &str, _value: &str) -> bool {
        name.starts_with("WHELK_")
    }

    async fn agent_forwarding(&self, _conn: &ConnectionInfo) -> bool {
        true
    }

    async fn shell(&self, session: ServerSession) -> Exit {
        let mut out = session.stdout();
        let banner = match session.pty() {
            Some(p) => format!("shell term={} {}x{}\r\n", p.term, p.columns, p.rows),
            None => "shell without pty\r\n".to_string(),
        };
        out.write_all(banner.as_bytes()).await.unwrap();
        let mut input = session.stdin();
        let mut line = Vec::new();
        let mut buf = [0u8; 256];
        loop {
            let n = input.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                return Exit::Code(0);
            }
            for &b in &buf[..n] {
                if b == b'\r' || b == b'\n' {
                    let text = String::from_utf8_lossy(&line).into_owned();
                    line.clear();
                    if text == "exit" {
                        return Exit::Code(5);
                    }
                    if !text.is_empty() {
                        out.write_all(format!("echo:{text}\r\n").as_bytes())
                            .await
                            .unwrap();
                    }
                } else {
                    line.push(b);
                }
            }
        }
    }

    async fn exec(&self, command: String, mut session: ServerSession) -> Exit {
        const KNOWN: &[&str] = &[
            "cat",
            "split",
            "killed",
            "env",
            "wait",
            "events",
            "agent",
            "agent-sock",
            "flood",
        ];
        if !KNOWN.contains(&command.as_str()) {
            // Before taking a stream: the exec request itself fails.
            return Exit::Refused;
        }
        self.note(format!("exec {command} (asked {:?})", session.kind()));
        let mut out = session.stdout();
        match command.as_str() {
            "cat" => {
                let mut input = Vec::new();
                session.stdin().read_to_end(&mut input).await.unwrap();
                out.write_all(&input).await.unwrap();
                Exit::Code(0)
            }
            "split" => {
                out.write_all(b"to stdout\n").await.unwrap();
                session.stderr().write_all(b"to stderr\n").await.unwrap();
                Exit::Code(3)
            }
            "killed" => {
                out.write_all(b"dying\n").await.unwrap();
                Exit::Signal {
                    name: "TERM".into(),
                    core_dumped: false,
                    message: "terminated".into(),
                }
            }
            "env" => {
                let mut env = session.env().to_vec();
                env.sort();
                for (k, v) in env {
                    out.write_all(format!("{k}={v}\n").as_bytes())
                        .await
                        .unwrap();
                }
                Exit::Code(0)
            }
            "flood" => {
                // Writes until the client goes away; counts what the channel took.
                let chunk = vec![b'x'; 16 * 1024];
                while out.write_all(&chunk).await.is_ok() {
                    self.flooded
                        .fetch_add(chunk.len(), std::sync::atomic::Ordering::SeqCst);
                }
                Exit::Code(0)
            }
            "wait" => {
                out.write_all(b"ready\n").await.unwrap();
                session.closed().await;
                Exit::Code(0)
            }
            "events" => {
                out.write_all(b"ready\n").await.unwrap();
                let mut seen = Vec::new();
                while seen.len() < 2 {
                    match session.next_event().await {
                        Some(SessionEvent::WindowChange { columns, rows, .. }) => {
                            seen.push(format!("size {columns}x{rows}"));
                        }
                        Some(SessionEvent::Signal(s)) => seen.push(format!("signal {s}")),
                        Some(other) => seen.push(format!("{other:?}")),
                        None => break,
                    }
                }
                let pty = session.pty().map(|p| p.term.clone()).unwrap_or_default();
                out.write_all(format!("pty {pty}; {}\n", seen.join("; ")).as_bytes())
                    .await
                    .unwrap();
                Exit::Code(0)
            }
            "agent-sock" => {
                // A per-session agent socket, as sshd's SSH_AUTH_SOCK: ssh-add talks to the
                // client's agent through it.
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("agent");
                let listener = match session.agent_listener(&path) {
                    Ok(l) => l,
                    Err(e) => {
                        out.write_all(format!("no agent: {e}\n").as_bytes())
                            .await
                            .unwrap();
                        return Exit::Code(1);
                    }
                };
                let o = tokio::process::Command::new(find("ssh-add").unwrap())
                    .arg("-l")
                    .env("SSH_AUTH_SOCK", listener.path())
                    .output()
                    .await
                    .unwrap();
                out.write_all(&o.stdout).await.unwrap();
                drop(listener);
                assert!(!path.exists());
                Exit::Code(o.status.code().map_or(1, i32::cast_unsigned))
            }
            "agent" => {
                // SSH_AGENTC_REQUEST_IDENTITIES, then count the keys in the answer.
                let mut agent = match session.open_agent().await {
                    Ok(a) => a,
                    Err(e) => {
                        out.write_all(format!("no agent: {e}\n").as_bytes())
                            .await
                            .unwrap();
                        return Exit::Code(1);
                    }
                };
                agent.write_all(&[0, 0, 0, 1, 11]).await.unwrap();
                let mut len = [0u8; 4];
                agent.read_exact(&mut len).await.unwrap();
                let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
                agent.read_exact(&mut body).await.unwrap();
                assert_eq!(body[0], 12, "SSH_AGENT_IDENTITIES_ANSWER");
                let n = u32::from_be_bytes(body[1..5].try_into().unwrap());
                out.write_all(format!("agent keys: {n}\n").as_bytes())
                    .await
                    .unwrap();
                Exit::Code(0)
            }
            _ => Exit::Refused,
        }
    }

    async fn subsystem(&self, name: String, session: ServerSession) -> Exit {
        if name != "echo" {
            return Exit::Refused;
        }
        // One stream, as a protocol server would use it.
        let (mut r, mut w) = tokio::io::split(session.stream());
        tokio::io::copy(&mut r, &mut w).await.unwrap();
        Exit::Code(0)
    }

    async fn direct_tcpip(
        &self,
        _conn: &ConnectionInfo,
        host: &str,
        port: u32,
        _originator: &str,
        _originator_port: u32,
    ) -> bool {
        self.note(format!("direct-tcpip {host}:{port}"));
        self.forwarding
    }

    async fn direct_streamlocal(&self, _conn: &ConnectionInfo, path: &str) -> bool {
        self.note(format!("direct-streamlocal {path}"));
        self.forwarding
    }

    async fn tcpip_forward(&self, _conn: &ConnectionInfo, address: &str, port: u32) -> bool {
        self.note(format!("tcpip-forward {address}:{port}"));
        self.forwarding
    }

    async fn streamlocal_forward(&self, _conn: &ConnectionInfo, path: &str) -> bool {
        self.note(format!("streamlocal-forward {path}"));
        self.forwarding
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    key: PathBuf,
    server: Server,
    log: Arc<Mutex<Vec<String>>>,
    flooded: Arc<std::sync::atomic::AtomicUsize>,
}

impl Fixture {
    async fn start(forwarding: bool, tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        Self::start_with_options(forwarding, "", tweak).await
    }

    /// `options`: the `authorized_keys` options of the client key's line.
    async fn start_with_options(
        forwarding: bool,
        options: &str,
        tweak: impl FnOnce(&mut ServerConfig),
    ) -> Self {
        find("ssh").expect("OpenSSH not installed: these tests need openssh-client");
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id_ed25519");
        let st = std::process::Command::new(find("ssh-keygen").unwrap())
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "t", "-f"])
            .arg(&key)
            .status()
            .unwrap();
        assert!(st.success());
        let line = std::fs::read_to_string(format!("{}.pub", key.display())).unwrap();
        let line = format!("{options} {line}");
        let log = Arc::new(Mutex::new(Vec::new()));
        let flooded = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let app = App {
            policy: Arc::new(AuthorizedKeysPolicy::new(&line)),
            forwarding,
            log: log.clone(),
            flooded: flooded.clone(),
        };
        let mut config = ServerConfig::new(vec![PrivateKey::ed25519_from_seed(&[5; 32])]);
        tweak(&mut config);
        let server = listen("127.0.0.1:0", config, app).await.unwrap();
        Self {
            dir,
            key,
            server,
            log,
            flooded,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    fn ssh(&self) -> Ssh {
        Ssh::new(self.addr()).user("alice").identity(&self.key)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn logged(&self, what: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(what))
    }

    fn whelk_config(&self) -> ClientConfig {
        let key =
            PrivateKey::from_openssh(&std::fs::read_to_string(&self.key).unwrap(), None).unwrap();
        ClientConfig::new("alice")
            .key(key)
            .host_key(HostKeyPolicy::AcceptAny)
    }
}

/// Runs `ssh` with `stdin` fed in; returns (exit code, stdout, stderr).
async fn run(ssh: Ssh, stdin: &[u8]) -> (Option<i32>, String, String) {
    let mut cmd = tokio::process::Command::from(ssh.command().unwrap());
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    tokio::spawn(async move {
        let _ = input.write_all(&data).await;
    });
    let out = tokio::time::timeout(GUARD, child.wait_with_output())
        .await
        .expect("ssh hung")
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Starts `ssh` in the background (stdin open, stderr lines collected).
struct Bg {
    child: tokio::process::Child,
    stderr: tokio::sync::mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
}

impl Bg {
    fn spawn(ssh: Ssh) -> Self {
        let mut cmd = tokio::process::Command::from(ssh.command().unwrap());
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().unwrap();
        let err = child.stderr.take().unwrap();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut lines = BufReader::new(err).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                let _ = tx.send(l);
            }
        });
        Self {
            child,
            stderr: rx,
            seen: Vec::new(),
        }
    }

    /// Waits for a stderr line containing `what`; returns it.
    async fn line(&mut self, what: &str) -> String {
        let found = tokio::time::timeout(GUARD, async {
            while let Some(l) = self.stderr.recv().await {
                self.seen.push(l.clone());
                if l.contains(what) {
                    return Some(l);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(l)) => l,
            _ => panic!("no stderr line with {what:?}; saw {:?}", self.seen),
        }
    }

    async fn exit(&mut self) -> Option<i32> {
        tokio::time::timeout(GUARD, self.child.wait())
            .await
            .expect("ssh did not exit")
            .unwrap()
            .code()
    }
}

/// Connects to a TCP port, retrying while nothing listens yet (ssh sets up `-L`
/// listeners and the server `-R` ones asynchronously).
async fn connect_retry(addr: SocketAddr) -> TcpStream {
    for _ in 0..400 {
        if let Ok(s) = TcpStream::connect(addr).await {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("nothing listens on {addr}");
}

async fn connect_unix_retry(path: &Path) -> UnixStream {
    for _ in 0..400 {
        if let Ok(s) = UnixStream::connect(path).await {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("nothing listens on {}", path.display());
}

/// A TCP echo service; returns its port.
async fn tcp_echo() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.into_split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    port
}

fn unix_echo(path: &Path) {
    let l = UnixListener::bind(path).unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.into_split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
}

/// Sends `msg` and reads the same number of bytes back.
async fn round_trip<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    s: &mut S,
    msg: &[u8],
) -> Vec<u8> {
    s.write_all(msg).await.unwrap();
    let mut back = vec![0u8; msg.len()];
    tokio::time::timeout(GUARD, s.read_exact(&mut back))
        .await
        .expect("echo hung")
        .unwrap();
    back
}

// ------------------------------------------------------------------- sessions

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_exec_stdin_stdout_stderr_and_exit_status() {
    let f = Fixture::start(false, |_| {}).await;
    let (code, out, err) = run(f.ssh().remote_command("cat"), b"piped through\n").await;
    assert_eq!((code, out.as_str()), (Some(0), "piped through\n"), "{err}");
    let (code, out, err) = run(f.ssh().remote_command("split"), b"").await;
    assert_eq!(code, Some(3), "{err}");
    assert_eq!(out, "to stdout\n");
    assert!(err.contains("to stderr"), "{err}");
    assert!(!out.contains("to stderr"));
    // An unknown command is refused: ssh reports the failed exec request.
    let (code, _, err) = run(f.ssh().remote_command("nonsense"), b"").await;
    assert_eq!(code, Some(255), "{err}");
    assert!(err.contains("exec request failed"), "stderr: {err:?}");
    assert!(
        f.logged("login alice 127.0.0.1"),
        "{:?}",
        f.log.lock().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_exit_signal_reaches_ssh() {
    let f = Fixture::start(false, |_| {}).await;
    let (code, out, err) = run(f.ssh().remote_command("killed"), b"").await;
    assert_eq!(out, "dying\n");
    // OpenSSH 9.2 has no exit status to pass on: it exits 255 (and says nothing).
    assert_eq!(code, Some(255), "{err}");

    // whelk's client sees the signal.
    let c = connect("127.0.0.1", f.addr().port(), f.whelk_config())
        .await
        .unwrap();
    let o = c.run("killed").await.unwrap();
    assert_eq!(o.exit_signal.as_deref(), Some("TERM"));
    assert_eq!(o.exit_status, None);
    c.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_pty_shell_env_and_subsystem() {
    let f = Fixture::start(false, |_| {}).await;
    // ssh -tt: a PTY request with TERM, then a shell.
    let mut ssh = f.ssh().arg("-tt");
    ssh = ssh.option("SetEnv", "TERM=vt-whelk");
    let mut cmd = ssh.command().unwrap();
    cmd.env("TERM", "vt-whelk");
    let mut child = tokio::process::Command::from(cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"hello\rexit\r").await.unwrap();
    let out = tokio::time::timeout(GUARD, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("shell term=vt-whelk"), "{stdout}");
    assert!(stdout.contains("echo:hello"), "{stdout}");
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(f.logged("pty vt-whelk"));

    // env via SetEnv: only WHELK_* pass the handler.
    let (code, out, err) = run(
        f.ssh()
            .option("SetEnv", "WHELK_A=one WHELK_B=two OTHER=three")
            .remote_command("env"),
        b"",
    )
    .await;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "WHELK_A=one\nWHELK_B=two\n");

    // A subsystem, and a refused one.
    let (code, out, err) = run(f.ssh().arg("-s").remote_command("echo"), b"sub data").await;
    assert_eq!((code, out.as_str()), (Some(0), "sub data"), "{err}");
    let (code, _, err) = run(f.ssh().arg("-s").remote_command("nope"), b"").await;
    assert_eq!(code, Some(255), "{err}");
    assert!(err.contains("subsystem request failed"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_session_events_from_whelk_client() {
    let f = Fixture::start(false, |_| {}).await;
    let c = connect("127.0.0.1", f.addr().port(), f.whelk_config())
        .await
        .unwrap();
    let s = c.session().await.unwrap();
    s.request_pty("xterm-whelk", 80, 24).await.unwrap();
    s.exec("events").await.unwrap();
    let mut out = s.stdout();
    let mut ready = [0u8; 6];
    out.read_exact(&mut ready).await.unwrap();
    assert_eq!(&ready, b"ready\n");
    s.window_change(100, 40).unwrap();
    s.signal("INT").unwrap();
    let o = s.collect().await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "pty xterm-whelk; size 100x40; signal INT\n"
    );
    assert_eq!(o.exit_status, Some(0));
    c.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_agent_forwarding() {
    let f = Fixture::start(false, |_| {}).await;
    let sock = f.path("agent.sock");
    let mut agent = tokio::process::Command::new(find("ssh-agent").unwrap())
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let _ = connect_unix_retry(&sock).await;
    let st = tokio::process::Command::new(find("ssh-add").unwrap())
        .arg(&f.key)
        .env("SSH_AUTH_SOCK", &sock)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .unwrap();
    assert!(st.success());
    let (code, out, err) = run(
        f.ssh()
            .arg("-A")
            .option("IdentityAgent", sock.display().to_string())
            .remote_command("agent"),
        b"",
    )
    .await;
    assert_eq!((code, out.as_str()), (Some(0), "agent keys: 1\n"), "{err}");
    let (code, out, err) = run(
        f.ssh()
            .arg("-A")
            .option("IdentityAgent", sock.display().to_string())
            .remote_command("agent-sock"),
        b"",
    )
    .await;
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("ED25519") && out.contains(" t "), "{out}");
    // Without -A the session has no agent.
    let (code, out, _) = run(f.ssh().remote_command("agent"), b"").await;
    assert_eq!(code, Some(1));
    assert!(out.starts_with("no agent"), "{out}");
    agent.kill().await.unwrap();
}

// ----------------------------------------------------------------- forwarding

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_local_forwarding_ssh_l_and_w() {
    let f = Fixture::start(true, |_| {}).await;
    let echo = tcp_echo().await;
    let lport = free_port().unwrap();
    let mut bg = Bg::spawn(
        f.ssh()
            .arg("-N")
            .arg("-L")
            .arg(format!("127.0.0.1:{lport}:127.0.0.1:{echo}"))
            .option("ExitOnForwardFailure", "yes"),
    );
    for i in 0..3 {
        let mut s = connect_retry(format!("127.0.0.1:{lport}").parse().unwrap()).await;
        let msg = format!("through -L #{i}").into_bytes();
        assert_eq!(round_trip(&mut s, &msg).await, msg);
    }
    // A bigger transfer, both ways at once (back-pressure through the channel window).
    let mut s = connect_retry(format!("127.0.0.1:{lport}").parse().unwrap()).await;
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(round_trip(&mut s, &big).await, big);
    bg.child.kill().await.unwrap();
    assert!(f.logged(&format!("direct-tcpip 127.0.0.1:{echo}")));

    // ssh -W: stdin/stdout are the connection.
    let (code, out, err) = run(
        f.ssh().arg("-W").arg(format!("127.0.0.1:{echo}")),
        b"stdio forward",
    )
    .await;
    assert_eq!(out, "stdio forward", "{err}");
    assert_eq!(code, Some(0), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_dynamic_forwarding_ssh_d() {
    let f = Fixture::start(true, |_| {}).await;
    let echo = tcp_echo().await;
    let dport = free_port().unwrap();
    let mut bg = Bg::spawn(
        f.ssh()
            .arg("-N")
            .arg("-D")
            .arg(format!("127.0.0.1:{dport}"))
            .option("ExitOnForwardFailure", "yes"),
    );
    // A minimal SOCKS5 client: no authentication, CONNECT to 127.0.0.1:echo.
    let mut s = connect_retry(format!("127.0.0.1:{dport}").parse().unwrap()).await;
    s.write_all(&[5, 1, 0]).await.unwrap();
    let mut hello = [0u8; 2];
    s.read_exact(&mut hello).await.unwrap();
    assert_eq!(hello, [5, 0]);
    let mut req = vec![5, 1, 0, 1, 127, 0, 0, 1];
    req.extend_from_slice(&echo.to_be_bytes());
    s.write_all(&req).await.unwrap();
    let mut reply = [0u8; 10];
    s.read_exact(&mut reply).await.unwrap();
    assert_eq!(reply[..2], [5, 0], "SOCKS reply {reply:?}");
    assert_eq!(round_trip(&mut s, b"via socks").await, b"via socks");
    bg.child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_remote_forwarding_ssh_r_fixed_and_allocated_port() {
    let f = Fixture::start(true, |_| {}).await;
    let echo = tcp_echo().await;
    // A fixed port.
    let rport = free_port().unwrap();
    let mut bg = Bg::spawn(
        f.ssh()
            .arg("-N")
            .arg("-R")
            .arg(format!("127.0.0.1:{rport}:127.0.0.1:{echo}"))
            .option("ExitOnForwardFailure", "yes"),
    );
    let mut s = connect_retry(format!("127.0.0.1:{rport}").parse().unwrap()).await;
    assert_eq!(round_trip(&mut s, b"fixed -R").await, b"fixed -R");
    drop(s);
    bg.child.kill().await.unwrap();
    drop(bg);
    // The listener goes with the connection.
    let mut closed = false;
    for _ in 0..400 {
        if TcpStream::connect(("127.0.0.1", rport)).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(closed, "the -R listener outlived its connection");

    // Port 0: the server picks and ssh prints it.
    let mut bg = Bg::spawn(
        f.ssh()
            .arg("-N")
            .arg("-R")
            .arg(format!("0:127.0.0.1:{echo}"))
            .option("ExitOnForwardFailure", "yes"),
    );
    let line = bg.line("Allocated port").await;
    let port: u16 = line
        .split_whitespace()
        .nth(2)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert_ne!(port, 0);
    let mut s = connect_retry(format!("127.0.0.1:{port}").parse().unwrap()).await;
    assert_eq!(round_trip(&mut s, b"allocated -R").await, b"allocated -R");
    bg.child.kill().await.unwrap();
    assert!(f.logged("tcpip-forward"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_unix_socket_forwarding_both_ways() {
    let f = Fixture::start(true, |_| {}).await;
    // -L local.sock:remote.sock: the server connects to remote.sock.
    let remote = f.path("remote.sock");
    unix_echo(&remote);
    let local = f.path("local.sock");
    let mut bg = Bg::spawn(
        f.ssh()
            .arg("-N")
            .arg("-L")
            .arg(format!("{}:{}", local.display(), remote.display()))
            .option("ExitOnForwardFailure", "yes"),
    );
    let mut s = connect_unix_retry(&local).await;
    assert_eq!(round_trip(&mut s, b"unix -L").await, b"unix -L");
    bg.child.kill().await.unwrap();
    assert!(f.logged("direct-streamlocal"));

    // -R listen.sock:target.sock: the server listens on listen.sock.
    let target = f.path("target.sock");
    unix_echo(&target);
    let listen_on = f.path("listen.sock");
    let mut bg = Bg::spawn(
        f.ssh()
            .arg("-N")
            .arg("-R")
            .arg(format!("{}:{}", listen_on.display(), target.display()))
            .option("ExitOnForwardFailure", "yes"),
    );
    let mut s = connect_unix_retry(&listen_on).await;
    assert_eq!(round_trip(&mut s, b"unix -R").await, b"unix -R");
    drop(s);
    bg.child.kill().await.unwrap();
    drop(bg);
    // The socket file goes with the connection.
    let mut gone = false;
    for _ in 0..400 {
        if !listen_on.exists() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(gone, "the -R socket outlived its connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_refuses_forwarding_the_handler_denies() {
    let f = Fixture::start(false, |_| {}).await;
    let echo = tcp_echo().await;
    let (code, _, err) = run(f.ssh().arg("-W").arg(format!("127.0.0.1:{echo}")), b"x").await;
    assert_eq!(code, Some(255), "{err}");
    assert!(err.contains("administratively prohibited"), "{err}");
    let (code, _, err) = run(
        f.ssh()
            .arg("-N")
            .arg("-R")
            .arg(format!("0:127.0.0.1:{echo}"))
            .option("ExitOnForwardFailure", "yes"),
        b"",
    )
    .await;
    assert_eq!(code, Some(255), "{err}");
    assert!(err.contains("remote port forwarding failed"), "{err}");
    let sock = f.path("denied.sock");
    let (code, _, err) = run(
        f.ssh()
            .arg("-N")
            .arg("-R")
            .arg(format!("{}:{}", sock.display(), f.path("t.sock").display()))
            .option("ExitOnForwardFailure", "yes"),
        b"",
    )
    .await;
    assert_eq!(code, Some(255), "{err}");
    assert!(!sock.exists());
    assert!(f.logged("direct-tcpip") && f.logged("tcpip-forward"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_enforces_authorized_keys_options() {
    let f = Fixture::start_with_options(
        true,
        r#"no-pty,permitopen="127.0.0.1:1",command="cat""#,
        |_| {},
    )
    .await;
    // The forced command runs whatever the client asks for.
    let (code, out, err) = run(f.ssh().remote_command("split"), b"forced").await;
    assert_eq!((code, out.as_str()), (Some(0), "forced"), "{err}");
    assert!(
        f.logged(r#"exec cat (asked Exec("split"))"#),
        "{:?}",
        f.log.lock().unwrap()
    );
    // permitopen: the handler would allow it, the key does not.
    let echo = tcp_echo().await;
    let (code, _, err) = run(f.ssh().arg("-W").arg(format!("127.0.0.1:{echo}")), b"x").await;
    assert_eq!(code, Some(255), "{err}");
    assert!(err.contains("administratively prohibited"), "{err}");
    assert!(!f.logged("direct-tcpip"), "the handler was asked");
    // no-pty.
    let c = connect("127.0.0.1", f.addr().port(), f.whelk_config())
        .await
        .unwrap();
    let s = c.session().await.unwrap();
    assert!(s.request_pty("xterm", 80, 24).await.is_err());
    assert!(!f.logged("pty "), "the handler was asked for a PTY");
    c.disconnect().await;
}

// ------------------------------------------------------------ limits, shutdown

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_max_startups_refuses_then_recovers() {
    let f = Fixture::start(false, |c| c.max_startups = MaxStartups::hard(3)).await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(f.addr()).await.unwrap());
    }
    for _ in 0..400 {
        if f.server.unauthenticated() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(f.server.unauthenticated(), 3);
    // A fourth gets our version line and a TOO_MANY_CONNECTIONS disconnect, then EOF.
    let mut extra = TcpStream::connect(f.addr()).await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(GUARD, extra.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert!(got.starts_with(b"SSH-2.0-"), "{got:?}");
    // ssh gives up with the reason.
    let (code, _, err) = run(f.ssh().remote_command("cat"), b"").await;
    assert_eq!(code, Some(255), "{err}");
    assert!(err.contains("too many"), "{err}");
    assert_eq!(f.server.unauthenticated(), 3);
    // Once they go, a real login works.
    drop(idle);
    for _ in 0..400 {
        if f.server.unauthenticated() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (code, out, err) = run(f.ssh().remote_command("cat"), b"back").await;
    assert_eq!((code, out.as_str()), (Some(0), "back"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_login_grace_time_closes_idle_connections() {
    let f = Fixture::start(false, |c| {
        c.ssh.auth.login_grace_time = Some(Duration::from_millis(500));
    })
    .await;
    let mut s = TcpStream::connect(f.addr()).await.unwrap();
    s.write_all(b"SSH-2.0-idle\r\n").await.unwrap();
    let mut got = Vec::new();
    // The server ends the connection by itself (the guard only catches a hang).
    let r = tokio::time::timeout(GUARD, s.read_to_end(&mut got)).await;
    assert!(r.is_ok(), "login grace time did not close the connection");
    for _ in 0..400 {
        if f.server.connections() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(f.server.connections(), 0);
    assert_eq!(f.server.unauthenticated(), 0);
}

/// A handler that never answers: authentication (unless `login`), forwarding, sessions.
struct Stuck {
    login: bool,
}

impl Handler for Stuck {
    async fn auth(&self, _request: &AuthRequest) -> Decision {
        if self.login {
            return Decision::Accept(whelk::Grant::default());
        }
        std::future::pending().await
    }

    async fn direct_tcpip(
        &self,
        _conn: &ConnectionInfo,
        _host: &str,
        _port: u32,
        _originator: &str,
        _originator_port: u32,
    ) -> bool {
        std::future::pending().await
    }

    async fn exec(&self, _command: String, session: ServerSession) -> Exit {
        // Never accepts, never returns until the client goes away.
        session.closed().await;
        Exit::Code(0)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_decision_timeout_denies_a_stuck_handler() {
    let mut config = ServerConfig::new(vec![PrivateKey::ed25519_from_seed(&[5; 32])]);
    config.decision_timeout = Duration::from_millis(300);
    let stuck = listen("127.0.0.1:0", config.clone(), Stuck { login: false })
        .await
        .unwrap();
    let client = || {
        ClientConfig::new("bob")
            .password("pw")
            .host_key(HostKeyPolicy::AcceptAny)
    };
    let r = connect("127.0.0.1", stuck.local_addr().port(), client()).await;
    assert!(r.is_err(), "authenticated through a stuck handler");

    // Channel decisions: the open and the exec are refused once the time is up, and the
    // connection still works.
    let server = listen("127.0.0.1:0", config, Stuck { login: true })
        .await
        .unwrap();
    let c = connect("127.0.0.1", server.local_addr().port(), client())
        .await
        .unwrap();
    let echo = tcp_echo().await;
    let r = c.direct_tcpip("127.0.0.1", echo).await;
    assert!(matches!(r, Err(whelk_tokio::Error::Refused(_))), "{r:?}");
    let r = c.exec("anything").await;
    assert!(matches!(r, Err(whelk_tokio::Error::Refused(_))), "{r:?}");
    let r = c.direct_tcpip("127.0.0.1", echo).await;
    assert!(r.is_err());
    assert!(c.is_connected());
    c.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_graceful_shutdown_disconnects_live_clients() {
    let f = Fixture::start(false, |_| {}).await;
    let mut bg = Bg::spawn(f.ssh().remote_command("wait"));
    let mut line = String::new();
    let mut stdout = BufReader::new(bg.child.stdout.take().unwrap());
    tokio::time::timeout(GUARD, stdout.read_line(&mut line))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(line, "ready\n");
    let c = connect("127.0.0.1", f.addr().port(), f.whelk_config())
        .await
        .unwrap();
    assert_eq!(f.server.connections(), 2);
    assert!(f.server.shutdown_and_wait(GUARD).await);
    assert_eq!(bg.exit().await, Some(255));
    assert_eq!(f.server.connections(), 0);
    for _ in 0..400 {
        if !c.is_connected() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(!c.is_connected());
    // No more accepting.
    let refused = match TcpStream::connect(f.addr()).await {
        Err(_) => true,
        Ok(mut s) => {
            let mut b = [0u8; 1];
            matches!(
                tokio::time::timeout(GUARD, s.read(&mut b)).await,
                Ok(Ok(0) | Err(_))
            )
        }
    };
    assert!(refused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_200_concurrent_sessions_complete() {
    let f = Fixture::start(false, |c| {
        c.max_startups = MaxStartups::hard(1000);
    })
    .await;
    let port = f.addr().port();
    // 20 whelk connections x 10 sessions each, all at once.
    let mut tasks = Vec::new();
    for conn in 0..20 {
        let config = f.whelk_config();
        tasks.push(tokio::spawn(async move {
            let c = connect("127.0.0.1", port, config).await.unwrap();
            let mut sessions = Vec::new();
            for s in 0..10 {
                let c = c.clone();
                sessions.push(tokio::spawn(async move {
                    let sess = c.exec("cat").await.unwrap();
                    let msg = format!("conn {conn} session {s}");
                    let mut stdin = sess.stdin();
                    stdin.write_all(msg.as_bytes()).await.unwrap();
                    stdin.shutdown().await.unwrap();
                    let o = sess.collect().await.unwrap();
                    assert_eq!(o.stdout, msg.as_bytes());
                    assert_eq!(o.exit_status, Some(0));
                }));
            }
            for s in sessions {
                s.await.unwrap();
            }
            c.disconnect().await;
        }));
    }
    tokio::time::timeout(Duration::from_secs(120), async {
        for t in tasks {
            t.await.unwrap();
        }
    })
    .await
    .expect("200 sessions hung");
    // And 20 ssh clients at once.
    let mut runs = Vec::new();
    for i in 0..20 {
        let ssh = f.ssh().remote_command("cat");
        runs.push(tokio::spawn(async move {
            let msg = format!("ssh {i}");
            let (code, out, err) = run(ssh, msg.as_bytes()).await;
            assert_eq!((code, out), (Some(0), msg), "{err}");
        }));
    }
    for r in runs {
        r.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_200_concurrent_connections_complete() {
    let f = Fixture::start(false, |c| {
        c.max_startups = MaxStartups::hard(1000);
    })
    .await;
    let port = f.addr().port();
    let mut tasks = Vec::new();
    for i in 0..200 {
        // The cheapest key exchange: this measures the server, not post-quantum math in a
        // debug build.
        let mut config = f.whelk_config();
        config.ssh.algorithms().kex = vec!["curve25519-sha256".to_string()];
        tasks.push(tokio::spawn(async move {
            let c = connect("127.0.0.1", port, config).await.unwrap();
            let s = c.exec("cat").await.unwrap();
            let msg = format!("connection {i}");
            let mut stdin = s.stdin();
            stdin.write_all(msg.as_bytes()).await.unwrap();
            stdin.shutdown().await.unwrap();
            let o = s.collect().await.unwrap();
            assert_eq!(o.stdout, msg.as_bytes());
            c.disconnect().await;
        }));
    }
    tokio::time::timeout(Duration::from_secs(120), async {
        for t in tasks {
            t.await.unwrap();
        }
    })
    .await
    .expect("200 connections hung");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_stalled_reader_holds_back_only_its_own_session() {
    use std::sync::atomic::Ordering;
    let f = Fixture::start(false, |_| {}).await;
    // A client that never reads a session producing without end.
    let c = connect("127.0.0.1", f.addr().port(), f.whelk_config())
        .await
        .unwrap();
    let flood = c.exec("flood").await.unwrap();
    for _ in 0..400 {
        if f.flooded.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Other sessions on the same connection and other connections go on.
    let o = c.run("split").await.unwrap();
    assert_eq!(o.exit_status, Some(3));
    let (code, out, err) = run(f.ssh().remote_command("cat"), b"meanwhile").await;
    assert_eq!((code, out.as_str()), (Some(0), "meanwhile"), "{err}");
    // What the handler could write is bounded by the client's window (2 MiB by default)
    // plus the channel's send buffer: nothing grows without the client reading.
    let stalled = f.flooded.load(Ordering::SeqCst);
    assert!(
        stalled <= 4 * 1024 * 1024,
        "{stalled} bytes taken without a reader"
    );
    // Reading lets it go on.
    let mut r = flood.stdout();
    let mut buf = vec![0u8; 1024 * 1024];
    let mut got = 0;
    while got < 8 * 1024 * 1024 {
        got += r.read(&mut buf).await.unwrap();
    }
    assert!(f.flooded.load(Ordering::SeqCst) > stalled);
    drop(r);
    flood.close();
    c.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_cancel_forwarding_from_whelk_client() {
    use whelk_tokio::Endpoint;
    let f = Fixture::start(true, |_| {}).await;
    let echo = tcp_echo().await;
    let c = connect("127.0.0.1", f.addr().port(), f.whelk_config())
        .await
        .unwrap();
    // tcpip-forward with port 0, used, then cancelled.
    let mut fwd = c
        .forward_remote("127.0.0.1", 0, "127.0.0.1", echo)
        .await
        .unwrap();
    let port = fwd.remote_port().unwrap();
    let mut s = connect_retry(format!("127.0.0.1:{port}").parse().unwrap()).await;
    assert_eq!(round_trip(&mut s, b"before cancel").await, b"before cancel");
    fwd.close();
    let mut closed = false;
    for _ in 0..400 {
        if TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(closed, "cancel-tcpip-forward left the listener");
    // The connection carried before the cancel goes on, and so does the SSH connection.
    assert_eq!(round_trip(&mut s, b"after cancel").await, b"after cancel");
    assert_eq!(c.run("split").await.unwrap().exit_status, Some(3));

    // streamlocal-forward, cancelled: the socket file goes.
    let target = f.path("t.sock");
    unix_echo(&target);
    let listen_on = f.path("l.sock");
    let mut fwd = c
        .forward_remote_to(
            Endpoint::unix(listen_on.clone()),
            Endpoint::unix(target.clone()),
        )
        .await
        .unwrap();
    let mut s = connect_unix_retry(&listen_on).await;
    assert_eq!(round_trip(&mut s, b"unix").await, b"unix");
    fwd.close();
    let mut gone = false;
    for _ in 0..400 {
        if !listen_on.exists() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(gone, "cancel-streamlocal-forward left the socket");
    assert_eq!(c.run("split").await.unwrap().exit_status, Some(3));
    c.disconnect().await;
}

/// A handler with bugs: it panics.
struct Panicky;

impl Handler for Panicky {
    async fn auth(&self, request: &AuthRequest) -> Decision {
        assert_ne!(request.user, "panic", "handler bug in auth");
        Decision::Accept(whelk::Grant::default())
    }

    async fn direct_tcpip(
        &self,
        _conn: &ConnectionInfo,
        _host: &str,
        _port: u32,
        _originator: &str,
        _originator_port: u32,
    ) -> bool {
        panic!("handler bug in direct_tcpip")
    }

    async fn exec(&self, command: String, session: ServerSession) -> Exit {
        if command == "late" {
            session.stdout().write_all(b"started\n").await.unwrap();
        }
        panic!("handler bug in exec")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_survives_a_panicking_handler() {
    let config = ServerConfig::new(vec![PrivateKey::ed25519_from_seed(&[5; 32])]);
    let server = listen("127.0.0.1:0", config, Panicky).await.unwrap();
    let port = server.local_addr().port();
    let client = |user: &str| {
        ClientConfig::new(user)
            .password("pw")
            .host_key(HostKeyPolicy::AcceptAny)
    };
    // A panic deciding authentication is a rejection.
    assert!(connect("127.0.0.1", port, client("panic")).await.is_err());
    let c = connect("127.0.0.1", port, client("bob")).await.unwrap();
    // ... deciding a channel open, a refusal.
    let r = c.direct_tcpip("127.0.0.1", 1).await;
    assert!(matches!(r, Err(whelk_tokio::Error::Refused(_))), "{r:?}");
    // ... before a session started, a failed request.
    let r = c.exec("early").await;
    assert!(matches!(r, Err(whelk_tokio::Error::Refused(_))), "{r:?}");
    // ... in a running session, the channel closes without a status.
    let o = c.run("late").await.unwrap();
    assert_eq!(o.stdout, b"started\n");
    assert_eq!((o.exit_status, o.exit_signal), (None, None));
    assert!(c.is_connected());
    c.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_max_connections_counts_authenticated_ones_too() {
    let f = Fixture::start(false, |c| c.max_connections = 1).await;
    let mut bg = Bg::spawn(f.ssh().remote_command("wait"));
    let mut line = String::new();
    let mut stdout = BufReader::new(bg.child.stdout.take().unwrap());
    tokio::time::timeout(GUARD, stdout.read_line(&mut line))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(line, "ready\n");
    assert_eq!(f.server.unauthenticated(), 0);
    let (code, _, err) = run(f.ssh().remote_command("cat"), b"").await;
    assert_eq!(code, Some(255), "{err}");
    assert!(err.contains("too many connections"), "{err}");
    bg.child.kill().await.unwrap();
    for _ in 0..400 {
        if f.server.connections() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (code, out, err) = run(f.ssh().remote_command("cat"), b"now").await;
    assert_eq!((code, out.as_str()), (Some(0), "now"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_per_source_startups_keep_a_flood_from_one_address_out() {
    let f = Fixture::start(false, |c| c.per_source_max_startups = Some(3)).await;
    // 200 idle connections from 127.0.0.2 that never authenticate: 3 are kept, the rest
    // refused at once.
    let mut kept = Vec::new();
    let mut refused = 0;
    for _ in 0..200 {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let mut s = sock.connect(f.addr()).await.unwrap();
        // The server's first packet tells: KEXINIT (20) for a kept connection,
        // DISCONNECT (1) for a refused one.
        // (A plain close, without the message, when many refusals are in flight.)
        let mut first = Vec::new();
        let mut byte = [0u8; 1];
        while !first.ends_with(b"\r\n") {
            if s.read_exact(&mut byte).await.is_err() {
                break;
            }
            first.push(byte[0]);
        }
        if first.is_empty() {
            refused += 1;
            continue;
        }
        assert!(first.starts_with(b"SSH-2.0-"), "{first:?}");
        let mut head = [0u8; 6];
        tokio::time::timeout(GUARD, s.read_exact(&mut head))
            .await
            .expect("no packet after the version line")
            .unwrap();
        match head[5] {
            20 => kept.push(s),
            1 => refused += 1,
            other => panic!("unexpected first message {other}"),
        }
    }
    assert_eq!(kept.len(), 3);
    assert_eq!(refused, 197);
    assert_eq!(f.server.unauthenticated(), 3);
    // A client from another address still gets in while the flood holds its slots.
    let (code, out, err) = run(
        f.ssh().arg("-b").arg("127.0.0.1").remote_command("cat"),
        b"from elsewhere",
    )
    .await;
    assert_eq!((code, out.as_str()), (Some(0), "from elsewhere"), "{err}");
}
