//! What the whelk-tokio server tests share: a handler that exercises every server
//! feature, a fixture with a listening server and a client key, and helpers to drive
//! OpenSSH's `ssh`. Fails (never skips) when OpenSSH is missing.
#![allow(dead_code, unused_imports)]

pub(crate) use std::net::SocketAddr;
pub(crate) use std::path::{Path, PathBuf};
pub(crate) use std::process::Stdio;
pub(crate) use std::sync::{Arc, Mutex};
pub(crate) use std::time::Duration;

pub(crate) use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
pub(crate) use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
pub(crate) use whelk::{AuthRequest, AuthorizedKeysPolicy, Decision, PrivateKey};
pub(crate) use whelk_test::openssh::{Ssh, find, free_port};
pub(crate) use whelk_tokio::{
    ClientConfig, ConnectionInfo, Exit, Handler, HostKeyPolicy, MaxStartups, Pty, Server,
    ServerConfig, ServerSession, SessionEvent, connect, listen,
};

/// Longest any single ssh run may take before the test fails (a hang guard, not a
/// timing assertion).
pub(crate) const GUARD: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub(crate) struct App {
    policy: Arc<AuthorizedKeysPolicy>,
    forwarding: bool,
    log: Arc<Mutex<Vec<String>>>,
    flooded: Arc<std::sync::atomic::AtomicUsize>,
}

impl App {
    pub(crate) fn note(&self, s: String) {
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
                let pty = session
                    .pty()
                    .map(|p| format!("{} {}x{}", p.term, p.columns, p.rows))
                    .unwrap_or_default();
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

pub(crate) struct Fixture {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) key: PathBuf,
    pub(crate) server: Server,
    pub(crate) log: Arc<Mutex<Vec<String>>>,
    pub(crate) flooded: Arc<std::sync::atomic::AtomicUsize>,
}

impl Fixture {
    pub(crate) async fn start(forwarding: bool, tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        Self::start_with_options(forwarding, "", tweak).await
    }

    /// `options`: the `authorized_keys` options of the client key's line.
    pub(crate) async fn start_with_options(
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

    pub(crate) fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    pub(crate) fn ssh(&self) -> Ssh {
        Ssh::new(self.addr()).user("alice").identity(&self.key)
    }

    /// `ssh` from the loopback address `from` (`-b`).
    pub(crate) fn ssh_from(&self, from: &str) -> Ssh {
        self.ssh().arg("-b").arg(from)
    }

    /// `ssh -N` with one forwarding (`flag` is `-L`, `-R` or `-D`) that must be set up.
    pub(crate) fn forwarding(&self, flag: &str, spec: impl AsRef<std::ffi::OsStr>) -> Ssh {
        self.ssh()
            .arg("-N")
            .arg(flag)
            .arg(spec)
            .option("ExitOnForwardFailure", "yes")
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn logged(&self, what: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(what))
    }

    pub(crate) fn whelk_config(&self) -> ClientConfig {
        let key =
            PrivateKey::from_openssh(&std::fs::read_to_string(&self.key).unwrap(), None).unwrap();
        ClientConfig::new("alice")
            .key(key)
            .host_key(HostKeyPolicy::AcceptAny)
    }
}

/// Runs `ssh` with `stdin` fed in; returns (exit code, stdout, stderr).
pub(crate) async fn run(ssh: Ssh, stdin: &[u8]) -> (Option<i32>, String, String) {
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

/// Runs `cat` through `ssh` with `input`: it must exit 0 and echo the input.
pub(crate) async fn assert_cat(ssh: Ssh, input: &str) {
    let (code, out, err) = run(ssh.remote_command("cat"), input.as_bytes()).await;
    assert_eq!((code, out.as_str()), (Some(0), input), "{err}");
}

/// Runs `cat` through `ssh`, which must give up (exit 255). Returns its stderr.
pub(crate) async fn cat_refused(ssh: Ssh) -> String {
    let (code, _, err) = run(ssh.remote_command("cat"), b"").await;
    assert_eq!(code, Some(255), "{err}");
    err
}

/// Runs `cat` in a new session of `c` with `msg` as its input: it must come back, exit 0.
pub(crate) async fn whelk_cat(c: &whelk_tokio::Client, msg: &str) {
    let s = c.exec("cat").await.unwrap();
    let mut stdin = s.stdin();
    stdin.write_all(msg.as_bytes()).await.unwrap();
    stdin.shutdown().await.unwrap();
    let o = s.collect().await.unwrap();
    assert_eq!(o.stdout, msg.as_bytes());
    assert_eq!(o.exit_status, Some(0));
}

/// Starts `ssh` in the background (stdin open, stderr lines collected).
pub(crate) struct Bg {
    pub(crate) child: tokio::process::Child,
    stderr: tokio::sync::mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
    stdout: Option<BufReader<tokio::process::ChildStdout>>,
}

impl Bg {
    pub(crate) fn spawn(ssh: Ssh) -> Self {
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
            stdout: None,
        }
    }

    /// Waits for a stderr line containing `what`; returns it.
    pub(crate) async fn line(&mut self, what: &str) -> String {
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

    /// Reads one line of its stdout.
    pub(crate) async fn stdout_line(&mut self) -> String {
        if self.stdout.is_none() {
            self.stdout = Some(BufReader::new(self.child.stdout.take().unwrap()));
        }
        let mut line = String::new();
        let stdout = self.stdout.as_mut().unwrap();
        tokio::time::timeout(GUARD, stdout.read_line(&mut line))
            .await
            .expect("no line from ssh")
            .unwrap();
        line
    }

    pub(crate) async fn exit(&mut self) -> Option<i32> {
        tokio::time::timeout(GUARD, self.child.wait())
            .await
            .expect("ssh did not exit")
            .unwrap()
            .code()
    }
}

/// Polls `cond` every 25 ms until it holds, for at most [`GUARD`] (a hang guard, not a
/// timing assertion). Returns whether it held.
pub(crate) async fn eventually(cond: impl AsyncFnMut() -> bool) -> bool {
    eventually_every(Duration::from_millis(25), cond).await
}

/// [`eventually`], polling every `interval`.
pub(crate) async fn eventually_every(
    interval: Duration,
    mut cond: impl AsyncFnMut() -> bool,
) -> bool {
    let start = tokio::time::Instant::now();
    while !cond().await {
        if start.elapsed() >= GUARD {
            return false;
        }
        tokio::time::sleep(interval).await;
    }
    true
}

/// Connects to a TCP port, retrying while nothing listens yet (ssh sets up `-L`
/// listeners and the server `-R` ones asynchronously).
pub(crate) async fn connect_retry(addr: SocketAddr) -> TcpStream {
    for _ in 0..400 {
        if let Ok(s) = TcpStream::connect(addr).await {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("nothing listens on {addr}");
}

pub(crate) async fn connect_unix_retry(path: &Path) -> UnixStream {
    for _ in 0..400 {
        if let Ok(s) = UnixStream::connect(path).await {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("nothing listens on {}", path.display());
}

/// A TCP echo service; returns its port.
pub(crate) async fn tcp_echo() -> u16 {
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

pub(crate) fn unix_echo(path: &Path) {
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
pub(crate) async fn round_trip<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
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
