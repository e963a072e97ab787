//! The whelk-tokio server's sessions against OpenSSH's `ssh` and whelk's client: exec with
//! stdin/stdout/stderr and exit status or signal, PTY shells, env, subsystems, session
//! events, agent forwarding, enforced key options, and handlers that hang or panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod server_common;

use server_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_exec_stdin_stdout_stderr_and_exit_status() {
    let f = Fixture::start(false, |_| {}).await;
    assert_cat(f.ssh(), "piped through\n").await;
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
        "pty xterm-whelk 80x24; size 100x40; signal INT\n"
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
async fn server_pty_size_from_a_real_terminal() {
    let f = Fixture::start(false, |_| {}).await;
    // `script` gives ssh a terminal of a known size; ssh sends it in pty-req.
    let quote = |s: &std::ffi::OsStr| format!("'{}'", s.to_string_lossy().replace('\'', r"'\''"));
    let mut line = quote(find("ssh").unwrap().as_os_str());
    for a in f.ssh().arg("-t").args() {
        line.push(' ');
        line.push_str(&quote(&a));
    }
    let mut child = tokio::process::Command::new(find("script").unwrap())
        .arg("-q")
        .arg("-e")
        .arg("-c")
        .arg(format!("stty cols 123 rows 45; exec {line}"))
        .arg("/dev/null")
        .env("TERM", "xterm-whelk")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"exit\r").await.unwrap();
    let out = tokio::time::timeout(GUARD, child.wait_with_output())
        .await
        .expect("ssh under script hung")
        .unwrap();
    drop(stdin);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("shell term=xterm-whelk 123x45"), "{stdout}");
    assert!(f.logged("pty xterm-whelk 123x45"));
    assert_eq!(out.status.code(), Some(5), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_on_connection_threads() {
    // Every connection on one of two threads of its own: OpenSSH's ssh and whelk's
    // client get the same service as on the caller's runtime.
    let f = Fixture::start(false, |c| c.connection_threads = 2).await;
    assert_cat(f.ssh(), "piped through\n").await;
    let (code, out, err) = run(f.ssh().remote_command("split"), b"").await;
    assert_eq!(code, Some(3), "{err}");
    assert_eq!(out, "to stdout\n");
    let mut clients = Vec::new();
    for _ in 0..4 {
        let c = connect("127.0.0.1", f.addr().port(), f.whelk_config())
            .await
            .unwrap();
        clients.push(c);
    }
    assert_eq!(f.server.connections(), 4);
    // Several sessions at once on each connection, the connections spread over the threads.
    for c in &clients {
        tokio::join!(
            whelk_cat(c, "session 1\n"),
            whelk_cat(c, "session 2\n"),
            whelk_cat(c, "session 3\n"),
        );
    }
    // Dropping the server stops accepting; the open connections and their threads go on.
    let Fixture { server, dir, .. } = f;
    drop(server);
    for c in &clients {
        whelk_cat(c, "after the server is gone\n").await;
    }
    for c in clients {
        c.disconnect().await;
    }
    drop(dir);
}
