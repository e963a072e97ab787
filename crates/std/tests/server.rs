//! The whelk-std server: OpenSSH's `ssh` against it, and the whelk-std client against it
//! in-process. Fails (never skips) when OpenSSH is not installed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use whelk::{AuthRequest, AuthorizedKeysPolicy, Decision, PrivateKey, RequestKind};
use whelk_std::*;
use whelk_test::openssh::{Ssh, find};

mod common;
use common::{agent_with_key, echo_round, echo_tcp, echo_unix, pipe_through};

struct TestHandler {
    policy: AuthorizedKeysPolicy,
    freeze: std::sync::Mutex<Option<std::sync::mpsc::Receiver<()>>>,
    sftp_root: PathBuf,
}

impl Handler for TestHandler {
    fn auth(&self, request: &AuthRequest) -> Decision {
        match &request.kind {
            RequestKind::Password { password, .. } => {
                if password.as_slice() == b"pw" {
                    Decision::Accept(whelk::Grant::default())
                } else {
                    Decision::Reject
                }
            }
            RequestKind::KeyboardInteractive { .. } => Decision::Prompts(whelk_auth_prompts()),
            RequestKind::KeyboardInteractiveResponse { responses } => {
                let r: Vec<&[u8]> = responses.iter().map(|r| r.as_slice()).collect();
                if r == [&b"42"[..], &b"1234"[..]] {
                    Decision::Accept(whelk::Grant::default())
                } else {
                    Decision::Reject
                }
            }
            _ => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs();
                self.policy.decide(request, now)
            }
        }
    }

    fn accept(&self, request: &SessionRequest, _session: &ServerSession) -> bool {
        if *request == SessionRequest::Exec("freeze".into()) {
            // Holds this connection's input (decisions are taken on its reader thread)
            // until the test lets go.
            let rx = self.freeze.lock().unwrap().take();
            if let Some(rx) = rx {
                let _ = rx.recv();
            }
        }
        true
    }

    fn exec(&self, command: String, session: ServerSession) -> u32 {
        let mut out = session.stdout();
        match command.as_str() {
            "cat" => {
                std::io::copy(&mut session.stdin(), &mut out).unwrap();
                0
            }
            "count" => {
                let n = std::io::copy(&mut session.stdin(), &mut std::io::sink()).unwrap();
                writeln!(out, "{n}").unwrap();
                0
            }
            "env" => {
                for (k, v) in session.env() {
                    writeln!(out, "{k}={v}").unwrap();
                }
                0
            }
            "pty" => {
                let p = session.pty();
                match p {
                    Some(p) => writeln!(out, "{} {}x{}", p.term, p.columns, p.rows).unwrap(),
                    None => writeln!(out, "no pty").unwrap(),
                }
                0
            }
            "wait-signal" => loop {
                let s = session.take_signals();
                if let Some(sig) = s.first() {
                    writeln!(out, "got {sig}").unwrap();
                    return 0;
                }
                if session.is_closed() {
                    return 1;
                }
                std::thread::sleep(Duration::from_millis(10));
            },
            "panic" => panic!("handler panicked on purpose"),
            // The client's forwarded agent through a socket, as `ssh-add -l` sees it.
            "agent-list" => {
                let dir = tempfile::tempdir().unwrap();
                let agent = match session.agent_listener(&dir.path().join("agent.sock")) {
                    Ok(a) => a,
                    Err(e) => {
                        writeln!(out, "no agent: {e}").unwrap();
                        return 2;
                    }
                };
                let o = Command::new("ssh-add")
                    .arg("-l")
                    .env("SSH_AUTH_SOCK", agent.path())
                    .output()
                    .unwrap();
                out.write_all(&o.stdout).unwrap();
                0
            }
            // One auth-agent@openssh.com channel: SSH_AGENTC_REQUEST_IDENTITIES by hand.
            "agent-count" => {
                let mut ch = session.open_agent().unwrap();
                ch.write_all(&[0, 0, 0, 1, 11]).unwrap();
                let mut len = [0u8; 4];
                ch.read_exact(&mut len).unwrap();
                let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
                ch.read_exact(&mut body).unwrap();
                assert_eq!(body[0], 12);
                let n = u32::from_be_bytes(body[1..5].try_into().unwrap());
                writeln!(out, "identities {n}").unwrap();
                0
            }
            c if c.starts_with("source ") => {
                let n: usize = c["source ".len()..].parse().unwrap();
                let chunk = vec![9u8; 1000];
                for _ in 0..n / 1000 {
                    if out.write_all(&chunk).is_err() {
                        return 1;
                    }
                }
                0
            }
            _ => {
                writeln!(out, "ran: {command} as {}", session.user()).unwrap();
                session.stderr().write_all(b"to stderr\n").unwrap();
                7
            }
        }
    }

    fn shell(&self, session: ServerSession) -> u32 {
        let mut out = session.stdout();
        let term = session.pty().map_or_else(|| "none".to_string(), |p| p.term);
        writeln!(out, "shell on {term}").unwrap();
        for line in BufReader::new(session.stdin()).lines() {
            let line = line.unwrap();
            if let Some(code) = line.strip_prefix("exit ") {
                return code.parse().unwrap();
            }
            writeln!(out, "> {line}").unwrap();
        }
        0
    }

    fn subsystem(&self, name: String, session: ServerSession) -> u32 {
        if name == "sftp" {
            let mut fs = sftp::StdFs::new(&self.sftp_root, sftp::StdFsConfig::default()).unwrap();
            return match sftp::serve(&session, Default::default(), &mut fs) {
                Ok(()) => 0,
                Err(_) => 1,
            };
        }
        writeln!(session.stdout(), "subsystem {name}").unwrap();
        0
    }

    fn direct_tcpip(&self, host: &str, _port: u16) -> bool {
        host == "127.0.0.1"
    }

    fn tcpip_forward(&self, address: &str, _port: u16) -> bool {
        address == "127.0.0.1"
    }

    fn direct_streamlocal(&self, path: &str) -> bool {
        path.ends_with(".sock")
    }

    fn streamlocal_forward(&self, path: &str) -> bool {
        path.ends_with(".sock")
    }

    fn agent_forwarding(&self, user: &str) -> bool {
        user == "alice"
    }
}

fn whelk_auth_prompts() -> whelk_auth::Prompts {
    whelk_auth::Prompts {
        name: "2FA".into(),
        instruction: "answer both".into(),
        prompts: vec![("Code: ".into(), true), ("PIN: ".into(), false)],
    }
}

fn keygen(dir: &Path) -> PathBuf {
    let path = dir.join("id_ed25519");
    let st = Command::new(find("ssh-keygen").unwrap())
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "t", "-f"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(st.success());
    path
}

struct Fixture {
    dir: tempfile::TempDir,
    key_path: PathBuf,
    key: PrivateKey,
    server: Server,
}

fn fixture(max_connections: usize) -> Fixture {
    fixture_with(max_connections, None)
}

fn fixture_with(max_connections: usize, freeze: Option<std::sync::mpsc::Receiver<()>>) -> Fixture {
    find("ssh").expect("OpenSSH not installed: this interop test needs openssh-client");
    let dir = tempfile::tempdir().unwrap();
    let key_path = keygen(dir.path());
    let sftp_root = dir.path().join("sftp-root");
    std::fs::create_dir(&sftp_root).unwrap();
    let line = std::fs::read_to_string(format!("{}.pub", key_path.display())).unwrap();
    let key = PrivateKey::from_openssh(&std::fs::read_to_string(&key_path).unwrap(), None).unwrap();
    let host = PrivateKey::ed25519_from_seed(&[3; 32]);
    let server = listen(
        "127.0.0.1:0",
        ServerConfig::new(vec![host])
            .max_connections(max_connections)
            .streamlocal_bind_unlink(true),
        TestHandler {
            policy: AuthorizedKeysPolicy::new(&line),
            freeze: std::sync::Mutex::new(freeze),
            sftp_root,
        },
    )
    .unwrap();
    Fixture {
        dir,
        key_path,
        key,
        server,
    }
}

/// Runs `cmd` with `input` on stdin, killing it after 20 s.
fn run_with_stdin(mut cmd: Command, input: &[u8]) -> std::process::Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let end = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > end {
            child.kill().unwrap();
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    feeder.join().unwrap();
    std::process::Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

#[test]
fn openssh_client_against_the_whelk_std_server() {
    let f = fixture(8);
    let ssh = |cmd: &str| {
        Ssh::new(f.server.local_addr())
            .user("alice")
            .identity(&f.key_path)
            .remote_command(cmd)
    };
    // exec with stdin piped through, exit status 0.
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let out = run_with_stdin(ssh("cat").command().unwrap(), &data);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout == data);
    // stdout, stderr and a non-zero exit status.
    let out = run_with_stdin(ssh("hello world").command().unwrap(), b"");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ran: hello world as alice\n"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("to stderr"));
    assert_eq!(out.status.code(), Some(7));
    // A pty (ssh -tt) carries the terminal type.
    let mut cmd = Ssh::new(f.server.local_addr())
        .user("alice")
        .identity(&f.key_path)
        .arg("-tt")
        .remote_command("pty")
        .command()
        .unwrap();
    cmd.env("TERM", "xterm-whelk");
    let out = run_with_stdin(cmd, b"");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("xterm-whelk"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // A handler that panics ends its session with 255, not the server.
    let out = run_with_stdin(ssh("panic").command().unwrap(), b"");
    assert_eq!(out.status.code(), Some(255));
    let out = run_with_stdin(ssh("cat").command().unwrap(), b"still up");
    assert_eq!(out.stdout, b"still up");
}

fn client_config(user: &str) -> ClientConfig {
    ClientConfig::new(user).host_key(HostKeyPolicy::AcceptAny)
}

#[test]
fn whelk_client_against_whelk_server() {
    let f = fixture(8);
    let port = f.server.local_addr().port();
    let c = connect("127.0.0.1", port, client_config("alice").key(f.key.clone())).unwrap();

    // Both directions larger than the window, at once: stdin written on another thread.
    let data: Vec<u8> = (0..5_000_000u32).map(|i| (i * 13 % 251) as u8).collect();
    let s = c.exec("cat").unwrap();
    let got = pipe_through(&s, &data);
    assert!(got == data);
    assert_eq!(s.wait().unwrap().status, Some(0));

    // Sessions closed before running anything are forgotten by the server.
    for _ in 0..3 {
        let s = c.session().unwrap();
        s.close();
        s.wait().unwrap();
    }

    // Output, stderr, exit status.
    let out = c.run("hi").unwrap();
    assert_eq!(out.stdout, b"ran: hi as alice\n");
    assert_eq!(out.stderr, b"to stderr\n");
    assert_eq!(out.exit_status, Some(7));

    // Many sessions from many threads.
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let c = c.clone();
            std::thread::spawn(move || {
                let s = c.exec("count").unwrap();
                let mut stdin = s.stdin();
                stdin.write_all(&vec![1u8; 100_000 * i]).unwrap();
                stdin.send_eof().unwrap();
                let out = s.collect().unwrap();
                assert_eq!(out.stdout, format!("{}\n", 100_000 * i).as_bytes());
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }

    // env and pty + window-change reach the handler; a shell and a subsystem.
    let s = c.session().unwrap();
    s.env("LANG", "C.UTF-8").unwrap();
    s.exec("env").unwrap();
    assert_eq!(s.collect().unwrap().stdout, b"LANG=C.UTF-8\n");
    let s = c.session().unwrap();
    s.request_pty("vt100", 80, 24).unwrap();
    s.window_change(132, 50).unwrap();
    s.exec("pty").unwrap();
    assert_eq!(s.collect().unwrap().stdout, b"vt100 132x50\n");
    let s = c.session().unwrap();
    s.request_pty("xterm", 80, 24).unwrap();
    s.shell().unwrap();
    let mut stdin = s.stdin();
    stdin.write_all(b"one\ntwo\nexit 5\n").unwrap();
    let out = s.collect().unwrap();
    assert_eq!(out.stdout, b"shell on xterm\n> one\n> two\n");
    assert_eq!(out.exit_status, Some(5));
    let s = c.session().unwrap();
    s.subsystem("demo").unwrap();
    assert_eq!(s.collect().unwrap().stdout, b"subsystem demo\n");
    // A second command on a running session is refused; signals reach the handler.
    let s = c.exec("wait-signal").unwrap();
    let r = s.exec("again");
    assert!(matches!(r, Err(Error::Refused(_))), "{r:?}");
    s.signal("INT").unwrap();
    assert_eq!(s.collect().unwrap().stdout, b"got INT\n");

    // A reader with a timeout.
    let s = c.exec("cat").unwrap();
    let mut so = s.stdout();
    so.set_read_timeout(Some(Duration::from_millis(50)));
    let e = so.read(&mut [0u8; 8]).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    s.stdin().write_all(b"late").unwrap();
    let mut buf = [0u8; 8];
    so.set_read_timeout(None);
    let n = so.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"late");
    drop((s, so));

    c.disconnect();
    assert!(!c.is_connected());

    // A session keeps its connection up after the client handle is gone.
    let s = connect("127.0.0.1", port, client_config("alice").key(f.key.clone()))
        .unwrap()
        .exec("cat")
        .unwrap();
    let mut stdin = s.stdin();
    stdin.write_all(b"kept").unwrap();
    stdin.send_eof().unwrap();
    assert_eq!(s.collect().unwrap().stdout, b"kept");
}

#[test]
fn password_and_keyboard_interactive_against_whelk_server() {
    let f = fixture(8);
    let port = f.server.local_addr().port();
    let c = connect("127.0.0.1", port, client_config("bob").password("pw")).unwrap();
    assert_eq!(c.run("x").unwrap().stdout, b"ran: x as bob\n");
    c.disconnect();
    let r = connect("127.0.0.1", port, client_config("bob").password("nope"));
    assert!(matches!(r, Err(Error::Ssh(whelk::Error::Auth(_)))), "{r:?}");

    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let config = client_config("carol").keyboard_interactive(move |p: &Prompts| {
        s2.lock().unwrap().push(p.clone());
        Some(vec!["42".to_string(), "1234".to_string()])
    });
    let c = connect("127.0.0.1", port, config).unwrap();
    assert_eq!(c.run("y").unwrap().exit_status, Some(7));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].name, "2FA");
    assert_eq!(
        seen[0].prompts,
        vec![("Code: ".to_string(), true), ("PIN: ".to_string(), false)]
    );
    c.disconnect();
}

/// A service that answers with the bytes it got, reversed.
fn reverse_service() -> u16 {
    let svc = TcpListener::bind("127.0.0.1:0").unwrap();
    let svc_port = svc.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for sock in svc.incoming() {
            let mut sock = sock.unwrap();
            std::thread::spawn(move || {
                // Probe connections (readiness checks) may go away early.
                let mut buf = Vec::new();
                let _ = sock.read_to_end(&mut buf);
                buf.reverse();
                let _ = sock.write_all(&buf);
            });
        }
    });
    svc_port
}

fn reversed_through(addr: std::net::SocketAddr, msg: &[u8]) -> Vec<u8> {
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.write_all(msg).unwrap();
    sock.shutdown(std::net::Shutdown::Write).unwrap();
    let mut back = Vec::new();
    sock.read_to_end(&mut back).unwrap();
    back
}

#[test]
fn remote_forwarding_through_the_whelk_server() {
    let f = fixture(8);
    let port = f.server.local_addr().port();
    let svc_port = reverse_service();
    let c = connect("127.0.0.1", port, client_config("alice").key(f.key.clone())).unwrap();
    let fwd = c
        .forward_remote("127.0.0.1", 0, "127.0.0.1", svc_port)
        .unwrap();
    assert_ne!(fwd.remote_port().unwrap(), 0);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", fwd.remote_port().unwrap())
        .parse()
        .unwrap();
    let threads: Vec<_> = (0..3)
        .map(|i| {
            std::thread::spawn(move || (i, reversed_through(addr, format!("rf{i}").as_bytes())))
        })
        .collect();
    for t in threads {
        let (i, back) = t.join().unwrap();
        assert_eq!(back, format!("{i}fr").as_bytes());
    }
    fwd.close().unwrap();
    assert!(TcpStream::connect(addr).is_err());
    // The handler refuses other addresses.
    let r = c.forward_remote("0.0.0.0", 0, "127.0.0.1", svc_port);
    assert!(matches!(r, Err(Error::Refused(_))), "{r:?}");

    // OpenSSH's `ssh -R` against the whelk server.
    let rport = whelk_test::openssh::free_port().unwrap();
    let mut cmd = Ssh::new(f.server.local_addr())
        .user("alice")
        .identity(&f.key_path)
        .option("ExitOnForwardFailure", "yes")
        .arg("-N")
        .arg("-R")
        .arg(format!("127.0.0.1:{rport}:127.0.0.1:{svc_port}"))
        .command()
        .unwrap();
    let mut ssh = whelk_test::openssh::ChildGuard::spawn(&mut cmd).unwrap();
    let raddr: std::net::SocketAddr = format!("127.0.0.1:{rport}").parse().unwrap();
    eventually(|| TcpStream::connect(raddr).is_ok());
    assert_eq!(reversed_through(raddr, b"from ssh -R"), b"R- hss morf");
    ssh.kill();
    c.disconnect();
}

/// Runs `open` on a free port (below the kernel's ephemeral range, so no socket of the
/// machine is given it by the kernel meanwhile), trying other free ports while `open`
/// fails: `free_port` checks a port by listening on it, and a child process started at
/// that moment may hold that probe listener for a little while.
fn on_free_port<T, E: std::fmt::Debug>(mut open: impl FnMut(u16) -> Result<T, E>) -> (u16, T) {
    let mut last = None;
    for _ in 0..50 {
        let port = whelk_test::openssh::free_port().unwrap();
        match open(port) {
            Ok(t) => return (port, t),
            Err(e) => last = Some(e),
        }
    }
    panic!("no free port could be used: {last:?}");
}

/// A forwarding (remote or local) or a server that is closed no longer accepts
/// connections once `close`/`shutdown` has returned, even while another thread keeps
/// starting processes (which inherit the listening socket until they exec). When the
/// listeners were only closed, not shut down, a connection made right after the close was
/// accepted by the kernel within the first few rounds (for each of the three kinds).
#[test]
fn closed_listeners_refuse_connections_while_processes_start() {
    let f = fixture(8);
    let port = f.server.local_addr().port();
    let svc_port = reverse_service();
    let c = connect("127.0.0.1", port, client_config("alice").key(f.key.clone())).unwrap();
    let spawner = whelk_test::churn::ProcessChurn::start();
    for i in 0..150 {
        let (rport, fwd) =
            on_free_port(|p| c.forward_remote("127.0.0.1", p, "127.0.0.1", svc_port));
        fwd.close().unwrap();
        let r = TcpStream::connect(("127.0.0.1", rport));
        assert!(
            r.is_err(),
            "round {i}: closed remote forwarding accepted {r:?}"
        );

        let (lport, fwd) =
            on_free_port(|p| c.forward_local(&format!("127.0.0.1:{p}"), "127.0.0.1", svc_port));
        fwd.close();
        let r = TcpStream::connect(("127.0.0.1", lport));
        assert!(
            r.is_err(),
            "round {i}: closed local forwarding accepted {r:?}"
        );

        let (sport, mut server) = on_free_port(|p| {
            listen(
                ("127.0.0.1", p),
                ServerConfig::new(vec![PrivateKey::ed25519_from_seed(&[3; 32])]),
                TestHandler {
                    policy: AuthorizedKeysPolicy::new(""),
                    freeze: std::sync::Mutex::new(None),
                    sftp_root: PathBuf::new(),
                },
            )
        });
        server.shutdown();
        let r = TcpStream::connect(("127.0.0.1", sport));
        assert!(r.is_err(), "round {i}: shut down server accepted {r:?}");
    }
    // The loop above ran while processes were being started.
    assert!(spawner.finish().unwrap() > 0);
    c.disconnect();
}

#[test]
fn local_forwarding_through_the_whelk_server() {
    let f = fixture(8);
    let port = f.server.local_addr().port();
    let svc = TcpListener::bind("127.0.0.1:0").unwrap();
    let svc_port = svc.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for sock in svc.incoming() {
            let mut sock = sock.unwrap();
            std::thread::spawn(move || {
                // Probe connections (readiness checks) may go away early.
                let mut buf = Vec::new();
                let _ = sock.read_to_end(&mut buf);
                buf.reverse();
                let _ = sock.write_all(&buf);
            });
        }
    });
    let c = connect("127.0.0.1", port, client_config("alice").key(f.key.clone())).unwrap();
    let fwd = c
        .forward_local("127.0.0.1:0", "127.0.0.1", svc_port)
        .unwrap();
    let mut sock = TcpStream::connect(fwd.local_addr().unwrap()).unwrap();
    sock.write_all(b"abcdef").unwrap();
    sock.shutdown(std::net::Shutdown::Write).unwrap();
    let mut back = Vec::new();
    sock.read_to_end(&mut back).unwrap();
    assert_eq!(back, b"fedcba");
    // The handler refuses other hosts.
    let r = c.direct_tcpip("localhost", svc_port);
    assert!(matches!(r, Err(Error::Refused(_))), "{r:?}");
    fwd.close();
    c.disconnect();

    // OpenSSH's `ssh -L` against the whelk server.
    let lport = whelk_test::openssh::free_port().unwrap();
    let mut cmd = Ssh::new(f.server.local_addr())
        .user("alice")
        .identity(&f.key_path)
        .option("ExitOnForwardFailure", "yes")
        .arg("-N")
        .arg("-L")
        .arg(format!("127.0.0.1:{lport}:127.0.0.1:{svc_port}"))
        .command()
        .unwrap();
    let mut ssh = whelk_test::openssh::ChildGuard::spawn(&mut cmd).unwrap();
    let laddr: std::net::SocketAddr = format!("127.0.0.1:{lport}").parse().unwrap();
    eventually(|| TcpStream::connect(laddr).is_ok());
    assert_eq!(reversed_through(laddr, b"from ssh -L"), b"L- hss morf");
    ssh.kill();
}

/// Polls (no timing assertion) until `f` holds, failing after 10 s.
fn eventually(mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < end, "condition never became true");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn connection_cap_and_shutdown() {
    let mut f = fixture(1);
    let port = f.server.local_addr().port();
    let config = || client_config("alice").key(f.key.clone());
    let c = connect("127.0.0.1", port, config()).unwrap();
    assert_eq!(f.server.connections(), 1);
    // The second connection is closed at once.
    let r = connect("127.0.0.1", port, config());
    assert!(r.is_err(), "{r:?}");
    c.disconnect();
    eventually(|| f.server.connections() == 0);
    let c = connect("127.0.0.1", port, config()).unwrap();
    // Shutdown ends running sessions and the connection, and stops accepting.
    let s = c.exec("wait-signal").unwrap();
    f.server.shutdown();
    let st = s.wait().unwrap();
    assert_eq!(st.status, None);
    eventually(|| !c.is_connected());
    assert!(connect("127.0.0.1", port, config()).is_err());
}

#[test]
fn connect_timeout_when_the_server_never_speaks() {
    // Connections complete in the kernel's backlog, but nothing ever answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let config = client_config("alice").connect_timeout(Some(Duration::from_millis(300)));
    let r = connect("127.0.0.1", port, config);
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    drop(silent);
}

#[test]
fn a_reader_that_does_not_read_holds_the_sender_back() {
    let f = fixture(8);
    let port = f.server.local_addr().port();
    let stream = TcpStream::connect(f.server.local_addr()).unwrap();
    let c = connect_stream(
        stream,
        "127.0.0.1",
        port,
        client_config("alice").key(f.key.clone()),
    )
    .unwrap();
    // The command writes 8 MB; nobody reads yet: exactly one window (2 MiB) arrives and
    // the rest waits on the server (its writes block).
    let s = c.exec("source 8000000").unwrap();
    let window = 2 * 1024 * 1024;
    eventually(|| s.buffered() == window);
    assert!(s.buffered() <= window);
    // Reading re-opens the window and everything arrives.
    let mut n = 0usize;
    let mut buf = vec![0u8; 100_000];
    let mut so = s.stdout();
    loop {
        assert!(s.buffered() <= window);
        let k = so.read(&mut buf).unwrap();
        if k == 0 {
            break;
        }
        n += k;
    }
    assert_eq!(n, 8_000_000);
    assert_eq!(s.wait().unwrap().status, Some(0));
    c.disconnect();
    assert!(!c.wait_closed().is_empty());
}

#[test]
fn keepalive_detects_a_server_that_stopped_answering() {
    let (release, freeze) = std::sync::mpsc::channel();
    let f = fixture_with(8, Some(freeze));
    let port = f.server.local_addr().port();
    let config = client_config("alice")
        .key(f.key.clone())
        .keepalive(Duration::from_millis(100), 3);
    let c = connect("127.0.0.1", port, config).unwrap();
    // The server stops processing input while it "decides" this exec.
    let c2 = c.clone();
    let stuck = std::thread::spawn(move || c2.exec("freeze").map(|_| ()));
    let why = c.wait_closed();
    assert!(why.contains("keepalive"), "{why}");
    assert!(stuck.join().unwrap().is_err());
    release.send(()).unwrap();
}

#[test]
fn sftp_client_against_the_whelk_std_sftp_server() {
    let f = fixture(8);
    let port = f.server.local_addr().port();
    let c = connect("127.0.0.1", port, client_config("alice").key(f.key.clone())).unwrap();
    let sftp = c.sftp().unwrap();
    let data: Vec<u8> = (0..1_500_000u32).map(|i| (i % 241) as u8).collect();
    sftp.write("/big.bin", &data).unwrap();
    assert!(std::fs::read(f.dir.path().join("sftp-root/big.bin")).unwrap() == data);
    assert!(sftp.read("/big.bin").unwrap() == data);
    sftp.mkdir("/d").unwrap();
    sftp.rename("/big.bin", "/d/moved.bin").unwrap();
    let names: Vec<String> = sftp
        .read_dir("/d")
        .unwrap()
        .into_iter()
        .map(|n| n.filename.to_string())
        .collect();
    assert_eq!(names, ["moved.bin"]);
    assert_eq!(sftp.stat("/d/moved.bin").unwrap().size, Some(1_500_000));
    // Confined to its root.
    assert_eq!(sftp.realpath("/../..").unwrap(), "/");
    drop(sftp);
    c.disconnect();
}

fn wait_for_socket(path: &Path, ssh: &mut whelk_test::openssh::ChildGuard) {
    for _ in 0..1000 {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return;
        }
        assert!(
            ssh.try_wait().unwrap().is_none(),
            "ssh exited: {}",
            ssh.stderr_str()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{} never appeared: {}", path.display(), ssh.stderr_str());
}

#[test]
fn streamlocal_forwarding_openssh_and_whelk_clients_against_the_whelk_server() {
    let f = fixture(8);
    let d = f.dir.path();
    let echo = d.join("echo.sock");
    echo_unix(&echo);
    let svc_port = echo_tcp();
    // OpenSSH: -L local.sock:echo.sock (direct-streamlocal) and -R remote.sock:TCP
    // (streamlocal-forward; a stale socket file there is replaced).
    let local = d.join("l.sock");
    let remote = d.join("r.sock");
    drop(std::os::unix::net::UnixListener::bind(&remote).unwrap());
    let cmd = Ssh::new(f.server.local_addr())
        .user("alice")
        .identity(&f.key_path)
        .option("ExitOnForwardFailure", "yes")
        .arg("-N")
        .arg("-L")
        .arg(format!("{}:{}", local.display(), echo.display()))
        .arg("-R")
        .arg(format!("{}:127.0.0.1:{svc_port}", remote.display()));
    let mut ssh = whelk_test::openssh::ChildGuard::spawn(&mut cmd.command().unwrap()).unwrap();
    wait_for_socket(&local, &mut ssh);
    wait_for_socket(&remote, &mut ssh);
    echo_round(
        &mut std::os::unix::net::UnixStream::connect(&local).unwrap(),
        &vec![5u8; 100_000],
    );
    echo_round(
        &mut std::os::unix::net::UnixStream::connect(&remote).unwrap(),
        b"back through ssh",
    );
    ssh.kill();

    // whelk-std client: both ways, and the handler's refusals.
    let port = f.server.local_addr().port();
    let c = connect("127.0.0.1", port, client_config("alice").key(f.key.clone())).unwrap();
    let l2 = d.join("l2.sock");
    let fwd = c
        .forward_local_to(Endpoint::unix(&l2), Endpoint::unix(&echo))
        .unwrap();
    echo_round(
        &mut std::os::unix::net::UnixStream::connect(&l2).unwrap(),
        b"whelk local",
    );
    let r2 = d.join("r2.sock");
    let back = c
        .forward_remote_to(Endpoint::unix(&r2), Endpoint::unix(&echo))
        .unwrap();
    echo_round(
        &mut std::os::unix::net::UnixStream::connect(&r2).unwrap(),
        b"whelk remote",
    );
    back.close().unwrap();
    assert!(!r2.exists());
    fwd.close();
    let r = c.direct_streamlocal(d.join("not-a-socket.txt").to_str().unwrap());
    assert!(matches!(r, Err(Error::Refused(_))), "{r:?}");
    let r = c.forward_remote_to(Endpoint::unix(d.join("x.txt")), Endpoint::unix(&echo));
    assert!(matches!(r, Err(Error::Refused(_))), "{r:?}");
    // A regular file is never unlinked, even with StreamLocalBindUnlink.
    let file = d.join("file.sock");
    std::fs::write(&file, b"data").unwrap();
    let r = c.forward_remote_to(Endpoint::unix(&file), Endpoint::unix(&echo));
    assert!(matches!(r, Err(Error::Refused(_))), "{r:?}");
    assert_eq!(std::fs::read(&file).unwrap(), b"data");
    c.disconnect();
}

#[test]
fn agent_forwarding_openssh_and_whelk_clients_against_the_whelk_server() {
    let f = fixture(8);
    let agent = agent_with_key();
    // ssh -A: the handler's agent socket lists the agent's key.
    let cmd = Ssh::new(f.server.local_addr())
        .user("alice")
        .identity(&f.key_path)
        // The helper's default IdentityAgent=none would leave nothing to forward.
        .option("IdentityAgent", agent.sock.to_str().unwrap())
        .arg("-A")
        .remote_command("agent-list");
    let out = run_with_stdin(cmd.command().unwrap(), b"");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("agent-only-key (ED25519)"),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Without -A there is no agent to reach.
    let cmd = Ssh::new(f.server.local_addr())
        .user("alice")
        .identity(&f.key_path)
        .arg("-a")
        .remote_command("agent-list");
    let out = run_with_stdin(cmd.command().unwrap(), b"");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("no agent"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(out.status.code(), Some(2));
    // whelk-std client forwarding the agent; the handler opens one agent channel.
    let port = f.server.local_addr().port();
    let c = connect(
        "127.0.0.1",
        port,
        client_config("alice")
            .key(f.key.clone())
            .forward_agent(&agent.sock),
    )
    .unwrap();
    let out = c.run("agent-count").unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "identities 1\n");
    c.disconnect();
}

/// A UNIX socket service answering each connection with `tag`, then closing it.
fn tagged_unix(path: &Path, tag: &'static [u8]) {
    let svc = std::os::unix::net::UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        for mut sock in svc.incoming().flatten() {
            let _ = sock.write_all(tag);
        }
    });
}

/// Connects to `path` (which must listen now) and reads the service's whole answer.
fn read_tag(path: &Path) -> Vec<u8> {
    let mut s = std::os::unix::net::UnixStream::connect(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    got
}

#[test]
fn a_forward_socket_taken_over_is_left_to_its_new_owner() {
    let f = fixture(8);
    let d = f.dir.path();
    let shared = d.join("shared.sock");
    for (name, tag) in [
        ("one.sock", b"one"),
        ("two.sock", b"two"),
        ("six.sock", b"six"),
    ] {
        tagged_unix(&d.join(name), tag);
    }
    let port = f.server.local_addr().port();
    let login = || connect("127.0.0.1", port, client_config("alice").key(f.key.clone())).unwrap();
    let forward = |c: &Client, target: &str| {
        c.forward_remote_to(Endpoint::unix(&shared), Endpoint::unix(d.join(target)))
            .unwrap()
    };
    let c1 = login();
    let fwd1 = forward(&c1, "one.sock");
    assert_eq!(read_tag(&shared), b"one");

    // The same connection forwards the same path again (StreamLocalBindUnlink): the old
    // listener must leave the new socket file alone.
    let fwd1b = forward(&c1, "two.sock");
    assert!(
        shared.exists(),
        "re-forwarding a path removed its new socket"
    );
    // The client routes the path to the newest forwarding's target, as the server's
    // listener is the new one.
    assert_eq!(read_tag(&shared), b"two");
    // Closing the newer forwarding: the older one's target again, and the server keeps
    // listening (no cancel is sent while a forwarding of the path remains).
    fwd1b.close().unwrap();
    assert_eq!(read_tag(&shared), b"one");
    let fwd1b = forward(&c1, "two.sock");
    assert_eq!(read_tag(&shared), b"two");

    // Another connection takes the path over.
    let c2 = login();
    let fwd2 = forward(&c2, "six.sock");
    assert_eq!(read_tag(&shared), b"six");

    // The first connection cancels (the server has stopped its listeners once `close`
    // returns): the successor's socket stays.
    fwd1.close().unwrap();
    let _ = fwd1b.close();
    assert!(
        shared.exists(),
        "a cancelled forward removed its successor's socket"
    );
    assert_eq!(read_tag(&shared), b"six");

    // A third connection takes it over from the second, and the second goes away.
    let c3 = login();
    let fwd3 = forward(&c3, "one.sock");
    assert_eq!(read_tag(&shared), b"one");
    std::mem::forget(fwd2);
    c2.disconnect();
    eventually(|| f.server.connections() == 2);
    assert!(
        shared.exists(),
        "a closed connection removed its successor's socket"
    );
    assert_eq!(read_tag(&shared), b"one");

    // The forward that owns the socket still removes it.
    fwd3.close().unwrap();
    assert!(
        !shared.exists(),
        "cancelling the owning forward left its socket"
    );
    c3.disconnect();
    c1.disconnect();
}
