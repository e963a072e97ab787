//! `whelk ssh` against test-started OpenSSH servers: commands with stdin piped, exit codes,
//! stderr separation, known_hosts modes, `-o`/`-F` options, algorithms, `-L`/`-R`
//! forwarding, `-J`, PTY with `-tt`, agent identities, BatchMode and connection errors.
//! Fails (never skips) without OpenSSH.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Home, dest, echo_server, err_text, me, run, text};
use whelk_test::openssh::{self, ChildGuard, Sshd};

mod common;

#[test]
fn command_with_stdin_exit_status_and_stderr() {
    let home = Home::new();
    let sshd = home.sshd();
    home.trust(&sshd);
    let mut c = home.cmd();
    c.args(["-p", &sshd.port().to_string(), &dest()])
        .arg("cat; echo to-stderr >&2; exit 7");
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let out = run(c, &data);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    assert_eq!(out.stdout, data);
    assert_eq!(err_text(&out.stderr), "to-stderr\n");
    // Arguments are joined with spaces, as ssh does; exit 0.
    let mut c = home.cmd();
    c.args(["-p", &sshd.port().to_string(), &dest(), "echo", "a", "b"]);
    let out = run(c, b"");
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(0), "a b\n".into())
    );
    // ssh://user@host:port destinations.
    let mut c = home.cmd();
    c.arg(format!("ssh://{}@127.0.0.1:{}", me(), sshd.port()))
        .arg("exit 3");
    assert_eq!(run(c, b"").status.code(), Some(3));
}

#[test]
fn known_hosts_accept_new_strict_and_changed_key() {
    let home = Home::new();
    let sshd = home.sshd();
    let port = sshd.port().to_string();
    // Strict checking with nothing known: refused with 255.
    let mut c = home.cmd();
    c.args([
        "-p",
        &port,
        "-o",
        "StrictHostKeyChecking=yes",
        &dest(),
        "true",
    ]);
    let out = run(c, b"");
    assert_eq!(out.status.code(), Some(255));
    assert!(
        text(&out.stderr).contains("Host key verification failed."),
        "{}",
        text(&out.stderr)
    );
    assert!(!home.known_hosts().exists());
    // BatchMode with the default (ask): refused too, no prompt.
    let mut c = home.cmd();
    c.args(["-p", &port, "-o", "BatchMode=yes", &dest(), "true"]);
    assert_eq!(run(c, b"").status.code(), Some(255));
    // accept-new: added to known_hosts with a warning.
    let mut c = home.cmd();
    c.args([
        "-p",
        &port,
        "-o",
        "StrictHostKeyChecking=accept-new",
        &dest(),
        "echo ok",
    ]);
    let out = run(c, b"");
    assert_eq!(text(&out.stdout), "ok\n", "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!(
            "Warning: Permanently added '[127.0.0.1]:{port}' (ED25519) to the list of known hosts."
        )),
        "{}",
        text(&out.stderr)
    );
    let written = std::fs::read_to_string(home.known_hosts()).unwrap();
    assert_eq!(written, sshd.known_hosts().unwrap());
    // -q: a key added quietly.
    let quiet_home = Home::new();
    let mut c = quiet_home.cmd();
    c.env("HOME", quiet_home.path())
        .args(["-q", "-i"])
        .arg(home.path().join(".ssh").join("id_ed25519"))
        .args([
            "-p",
            &port,
            "-o",
            "StrictHostKeyChecking=no",
            &dest(),
            "echo ok",
        ]);
    let out = run(c, b"");
    assert_eq!(text(&out.stdout), "ok\n", "{}", text(&out.stderr));
    assert_eq!(err_text(&out.stderr), "");
    assert!(quiet_home.known_hosts().exists());
    // HashKnownHosts: the host is written hashed, and ssh-keygen -F still finds it.
    let hashed_home = Home::new();
    let mut c = hashed_home.cmd();
    c.args(["-q", "-i"])
        .arg(home.path().join(".ssh").join("id_ed25519"))
        .args([
            "-o",
            "HashKnownHosts=yes",
            "-o",
            "StrictHostKeyChecking=accept-new",
        ])
        .args(["-p", &port, &dest(), "echo ok"]);
    assert_eq!(text(&run(c, b"").stdout), "ok\n");
    let hashed = std::fs::read_to_string(hashed_home.known_hosts()).unwrap();
    assert!(hashed.starts_with("|1|"), "{hashed}");
    let o = Command::new(openssh::find("ssh-keygen").unwrap())
        .args(["-F", &format!("[127.0.0.1]:{port}"), "-f"])
        .arg(hashed_home.known_hosts())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stdout));
    // And whelk trusts its own hashed entry.
    let mut c = hashed_home.cmd();
    c.args(["-i"])
        .arg(home.path().join(".ssh").join("id_ed25519"))
        .args([
            "-o",
            "StrictHostKeyChecking=yes",
            "-p",
            &port,
            &dest(),
            "echo again",
        ]);
    assert_eq!(text(&run(c, b"").stdout), "again\n");
    // Now strict checking passes, silently.
    let mut c = home.cmd();
    c.args([
        "-p",
        &port,
        "-o",
        "StrictHostKeyChecking=yes",
        &dest(),
        "echo ok",
    ]);
    let out = run(c, b"");
    assert_eq!(text(&out.stdout), "ok\n");
    assert_eq!(err_text(&out.stderr), "");
    // ssh-keygen -F finds the entry whelk wrote.
    let o = Command::new(openssh::find("ssh-keygen").unwrap())
        .args(["-F", &format!("[127.0.0.1]:{port}"), "-f"])
        .arg(home.known_hosts())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stdout));
    // A changed key fails with 255 even with accept-new (and with no).
    let other = tempfile::tempdir().unwrap();
    let o = Command::new(openssh::find("ssh-keygen").unwrap())
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(other.path().join("k"))
        .output()
        .unwrap();
    assert!(o.status.success());
    let fake = std::fs::read_to_string(other.path().join("k.pub")).unwrap();
    let fake: Vec<&str> = fake.split_whitespace().collect();
    std::fs::write(
        home.known_hosts(),
        format!("[127.0.0.1]:{port} {} {}\n", fake[0], fake[1]),
    )
    .unwrap();
    for mode in ["accept-new", "no"] {
        let mut c = home.cmd();
        c.args([
            "-p",
            &port,
            "-o",
            &format!("StrictHostKeyChecking={mode}"),
            &dest(),
            "true",
        ]);
        let out = run(c, b"");
        assert_eq!(out.status.code(), Some(255), "{mode}");
        let err = text(&out.stderr);
        assert!(
            err.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
            "{err}"
        );
        assert!(err.contains("Host key verification failed."), "{err}");
    }
}

#[test]
fn options_config_file_and_algorithms() {
    let home = Home::new();
    let sshd = Sshd::builder()
        .authorized_key(home.pub_line.trim())
        .option("Ciphers", "aes128-ctr,aes256-gcm@openssh.com")
        .option("MACs", "hmac-sha2-256")
        .start()
        .unwrap();
    home.trust(&sshd);
    // Port and User through -o; a cipher the server has.
    let mut c = home.cmd();
    c.args([
        "-o",
        &format!("Port={}", sshd.port()),
        "-o",
        &format!("User={}", me()),
    ])
    .args([
        "-c",
        "aes128-ctr",
        "-m",
        "hmac-sha2-256",
        "127.0.0.1",
        "echo via-o",
    ]);
    let out = run(c, b"");
    assert_eq!(text(&out.stdout), "via-o\n", "{}", text(&out.stderr));
    // -C: zlib@openssh.com negotiated (sshd logs the choice).
    let mut c = home.cmd();
    c.args([
        "-C",
        "-p",
        &sshd.port().to_string(),
        &dest(),
        "echo compressed",
    ]);
    let out = run(c, b"");
    assert_eq!(text(&out.stdout), "compressed\n", "{}", text(&out.stderr));
    common::assert_logged(|| sshd.stderr_log(), "compression: zlib@openssh.com");
    // A cipher the server does not have: the connection fails with 255.
    let mut c = home.cmd();
    c.args([
        "-p",
        &sshd.port().to_string(),
        "-c",
        "chacha20-poly1305@openssh.com",
        &dest(),
        "true",
    ]);
    let out = run(c, b"");
    assert_eq!(out.status.code(), Some(255));
    assert!(!text(&out.stderr).is_empty());
    // A config file: Host alias, Hostname, Port, User, IdentityFile, then -o beats it.
    let cfg = home.path().join("cfg");
    let key = home.path().join(".ssh").join("id_ed25519");
    std::fs::rename(&key, home.path().join("elsewhere")).unwrap();
    std::fs::write(
        &cfg,
        format!(
            "Host box\n  Hostname 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile %d/elsewhere\n  \
             RemoteCommand echo from-config\nHost *\n  Ciphers aes256-gcm@openssh.com\n",
            sshd.port(),
            me()
        ),
    )
    .unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_whelk"));
    c.arg("ssh")
        .env("HOME", home.path())
        .env_remove("SSH_AUTH_SOCK")
        .arg("-F")
        .arg(&cfg)
        .arg("box");
    let out = run(c, b"");
    assert_eq!(text(&out.stdout), "from-config\n", "{}", text(&out.stderr));
    let mut c = Command::new(env!("CARGO_BIN_EXE_whelk"));
    c.arg("ssh")
        .env("HOME", home.path())
        .env_remove("SSH_AUTH_SOCK")
        .arg("-F")
        .arg(&cfg)
        .args(["-o", "Port=1", "box"]);
    let out = run(c, b"");
    assert_eq!(out.status.code(), Some(255));
    assert!(
        text(&out.stderr).contains("ssh: connect to host 127.0.0.1 port 1: Connection refused"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn connection_refused_and_batch_mode_password_failure() {
    let home = Home::new();
    let port = openssh::free_port().unwrap();
    let mut c = home.cmd();
    c.args(["-p", &port.to_string(), &dest(), "true"]);
    let out = run(c, b"");
    assert_eq!(out.status.code(), Some(255));
    assert_eq!(
        text(&out.stderr).trim_end(),
        format!("ssh: connect to host 127.0.0.1 port {port}: Connection refused")
    );
    // A server that only takes passwords: BatchMode cannot prompt.
    let sshd = Sshd::builder()
        .option("AuthenticationMethods", "password")
        .start()
        .unwrap();
    home.trust(&sshd);
    let mut c = home.cmd();
    c.args([
        "-p",
        &sshd.port().to_string(),
        "-o",
        "BatchMode=yes",
        &dest(),
        "true",
    ]);
    let out = run(c, b"");
    assert_eq!(out.status.code(), Some(255));
    assert_eq!(
        text(&out.stderr).trim_end(),
        format!("{}@127.0.0.1: Permission denied (password).", me())
    );
}

#[test]
fn pty_with_tt_and_escape_disconnect() {
    let home = Home::new();
    let sshd = home.sshd();
    home.trust(&sshd);
    let mut c = home.cmd();
    c.args(["-tt", "-p", &sshd.port().to_string(), &dest(), "tty"]);
    let out = run(c, b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // With a PTY, the session's stderr (sshd's debug lines) comes on stdout too.
    let tty = err_text(&out.stdout);
    assert!(
        tty.trim_start_matches('\r')
            .trim_end()
            .starts_with("/dev/pts/"),
        "{tty:?}"
    );
    // Without -t there is no terminal.
    let mut c = home.cmd();
    c.args(["-p", &sshd.port().to_string(), &dest(), "tty"]);
    let out = run(c, b"");
    assert_eq!(text(&out.stdout), "not a tty\n");
    // `~.` after a newline ends the session (255) although the remote command waits.
    let mut c = home.cmd();
    c.args(["-tt", "-p", &sshd.port().to_string(), &dest(), "sleep 60"]);
    let start = Instant::now();
    let out = run(c, b"\n~.");
    assert_eq!(out.status.code(), Some(255));
    assert!(start.elapsed() < Duration::from_secs(30));
    assert!(text(&out.stderr).contains("Connection to 127.0.0.1 closed."));
}

fn echo_through(port: u16, guard: &mut ChildGuard) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            if s.write_all(b"ping through the tunnel").is_ok() {
                let mut buf = [0u8; 23];
                if s.read_exact(&mut buf).is_ok() {
                    assert_eq!(&buf, b"ping through the tunnel");
                    return;
                }
            }
        }
        assert!(
            guard.try_wait().unwrap().is_none(),
            "whelk ssh exited: {}",
            guard.stderr_str()
        );
        assert!(Instant::now() < deadline, "{}", guard.stderr_str());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn local_and_remote_forwarding() {
    let home = Home::new();
    let sshd = home.sshd();
    home.trust(&sshd);
    let echo = echo_server();
    let lport = openssh::free_port().unwrap();
    let mut c = home.cmd();
    c.args(["-N", "-p", &sshd.port().to_string()])
        .args(["-L", &format!("{lport}:127.0.0.1:{echo}")])
        .arg(dest());
    let mut g = ChildGuard::spawn(&mut c).unwrap();
    echo_through(lport, &mut g);
    g.kill();
    // -R with port 0: the allocated port is printed, connections come back here.
    let mut c = home.cmd();
    c.args(["-N", "-p", &sshd.port().to_string()])
        .args(["-R", &format!("0:127.0.0.1:{echo}")])
        .arg(dest());
    let mut g = ChildGuard::spawn(&mut c).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let rport: u16 = loop {
        let err = g.stderr_str();
        if let Some(p) = err
            .lines()
            .find_map(|l| l.strip_prefix("Allocated port "))
            .and_then(|l| l.split_whitespace().next())
        {
            break p.parse().unwrap();
        }
        assert!(Instant::now() < deadline, "{err}");
        assert!(g.try_wait().unwrap().is_none(), "{err}");
        std::thread::sleep(Duration::from_millis(20));
    };
    echo_through(rport, &mut g);
    g.kill();
}

#[test]
fn proxy_jump_through_a_second_sshd() {
    let home = Home::new();
    let jump = home.sshd();
    let target = home.sshd();
    home.trust(&jump);
    home.trust(&target);
    let mut c = home.cmd();
    c.args(["-J", &format!("{}:{}", dest(), jump.port())])
        .args([
            "-p",
            &target.port().to_string(),
            &dest(),
            "echo $SSH_CONNECTION",
        ]);
    let out = run(c, b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // The target saw a connection from the jump host (loopback) to its own port.
    let line = text(&out.stdout);
    assert!(
        line.trim_end().ends_with(&format!(" {}", target.port())),
        "{line}"
    );
    // The jump host logged a direct-tcpip request for the target.
    common::assert_logged(|| jump.stderr_log(), "direct-tcpip");
}

#[test]
fn identity_from_whelk_agent_and_log_file() {
    let home = Home::new();
    let sshd = home.sshd();
    home.trust(&sshd);
    let sock = home.path().join("agent.sock");
    let mut agent = ChildGuard::spawn(
        Command::new(env!("CARGO_BIN_EXE_whelk"))
            .args(["agent", "-D", "-a"])
            .arg(&sock),
    )
    .unwrap();
    common::wait_for_socket(&sock, &agent);
    let key = home.path().join(".ssh").join("id_ed25519");
    let o = Command::new(openssh::find("ssh-add").unwrap())
        .arg(&key)
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    std::fs::remove_file(&key).unwrap();
    let log = home.path().join("ssh.log");
    let mut c = home.cmd();
    c.env("SSH_AUTH_SOCK", &sock)
        .args(["-v", "-E"])
        .arg(&log)
        .args(["-p", &sshd.port().to_string(), &dest(), "echo agent-ok"]);
    let out = run(c, b"");
    assert_eq!(text(&out.stdout), "agent-ok\n", "{}", text(&out.stderr));
    assert_eq!(err_text(&out.stderr), "");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("DEBUG"), "{logged}");
    // -A: the agent is forwarded; ssh-add on the server side lists the key.
    let mut c = home.cmd();
    c.env("SSH_AUTH_SOCK", &sock).args([
        "-A",
        "-p",
        &sshd.port().to_string(),
        &dest(),
        "ssh-add -L",
    ]);
    let out = run(c, b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(home.pub_line.split_whitespace().nth(1).unwrap()),
        "{}",
        text(&out.stdout)
    );
    // Without -A there is no agent over there.
    let mut c = home.cmd();
    c.env("SSH_AUTH_SOCK", &sock)
        .args(["-p", &sshd.port().to_string(), &dest(), "ssh-add -L"]);
    assert_eq!(run(c, b"").status.code(), Some(2));
    agent.kill();
}

const TEST_USER: &str = "whelk-test";
const TEST_PASSWORD: &str = "whelk-test-password";

/// The local account the password tests log in as (created when running as root, as the
/// other interop tests do).
fn require_test_user() {
    let exists = || {
        Command::new("getent")
            .args(["passwd", TEST_USER])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if exists() {
        return;
    }
    let _ = Command::new("useradd")
        .args(["-M", "-s", "/bin/sh", TEST_USER])
        .status();
    let mut child = Command::new("chpasswd")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{TEST_USER}:{TEST_PASSWORD}\n").as_bytes())
        .unwrap();
    child.wait().unwrap();
    assert!(
        exists(),
        "create {TEST_USER} as root: useradd -M -s /bin/sh {TEST_USER} && echo '{TEST_USER}:{TEST_PASSWORD}' | chpasswd"
    );
}

/// Logs in as the test user against `sshd` (which offers only `method`), with sshpass
/// answering whelk's prompt on the terminal it gives it: the right password, then a wrong
/// one (refused with 255).
fn prompted_login(sshd: &Sshd, method: &str) {
    let home = Home::new();
    home.trust(sshd);
    let port = sshd.port().to_string();
    let dest = format!("{TEST_USER}@127.0.0.1");
    for (password, code) in [(TEST_PASSWORD, Some(0)), ("wrong", Some(255))] {
        let mut c = Command::new(openssh::find("sshpass").unwrap());
        c.args(["-p", password])
            .arg(env!("CARGO_BIN_EXE_whelk"))
            .args(["ssh", "-F", "none", "-p", &port])
            .args(["-o", "NumberOfPasswordPrompts=1", &dest, "echo login-ok"])
            .env("HOME", home.path())
            .env_remove("SSH_AUTH_SOCK");
        let out = run(c, b"");
        assert_eq!(out.status.code(), code, "{method}: {}", text(&out.stderr));
        if code == Some(0) {
            assert_eq!(text(&out.stdout), "login-ok\n");
        } else {
            assert!(
                err_text(&out.stderr).contains(&format!("Permission denied ({method}).")),
                "{}",
                text(&out.stderr)
            );
        }
    }
}

#[test]
fn password_prompt_on_the_terminal() {
    require_test_user();
    let sshd = Sshd::builder()
        .option("AuthenticationMethods", "password")
        .start()
        .unwrap();
    prompted_login(&sshd, "password");
}

#[test]
fn dynamic_forwarding_socks5() {
    let home = Home::new();
    let sshd = home.sshd();
    home.trust(&sshd);
    let echo = echo_server();
    let dport = openssh::free_port().unwrap();
    let mut c = home.cmd();
    c.args([
        "-N",
        "-D",
        &dport.to_string(),
        "-p",
        &sshd.port().to_string(),
    ])
    .arg(dest());
    let mut g = ChildGuard::spawn(&mut c).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut s = loop {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", dport)) {
            break s;
        }
        assert!(g.try_wait().unwrap().is_none(), "{}", g.stderr_str());
        assert!(Instant::now() < deadline, "{}", g.stderr_str());
        std::thread::sleep(Duration::from_millis(20));
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // SOCKS5: no authentication, CONNECT 127.0.0.1:echo.
    s.write_all(&[5, 1, 0]).unwrap();
    let mut reply = [0u8; 2];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(reply, [5, 0]);
    let p = echo.to_be_bytes();
    s.write_all(&[5, 1, 0, 1, 127, 0, 0, 1, p[0], p[1]])
        .unwrap();
    let mut reply = [0u8; 10];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(reply[..2], [5, 0]);
    s.write_all(b"socks!").unwrap();
    let mut buf = [0u8; 6];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"socks!");
    g.kill();
}

#[test]
fn proxy_command_through_openssh_w() {
    let home = Home::new();
    let jump = home.sshd();
    let target = home.sshd();
    home.trust(&target);
    let kh = home.path().join("jump_known_hosts");
    std::fs::write(&kh, jump.known_hosts().unwrap()).unwrap();
    let proxy = format!(
        "ProxyCommand={} -F /dev/null -i {} -o UserKnownHostsFile={} -o BatchMode=yes -p {} -W %h:%p {}",
        openssh::find("ssh").unwrap().display(),
        home.path().join(".ssh").join("id_ed25519").display(),
        kh.display(),
        jump.port(),
        dest()
    );
    let mut c = home.cmd();
    c.args([
        "-o",
        &proxy,
        "-p",
        &target.port().to_string(),
        &dest(),
        "echo proxied",
    ]);
    let out = run(c, b"");
    assert_eq!(text(&out.stdout), "proxied\n", "{}", text(&out.stderr));
}

/// Runs `sh -c script` on a pseudo-terminal (util-linux `script`), typing `input`.
fn on_terminal(script: &str, input: &[u8]) -> (Option<i32>, String) {
    let mut c = Command::new("timeout");
    c.args(["60", "script", "-qec", script, "/dev/null"]);
    let out = run(c, input);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).replace('\r', ""),
    )
}

#[test]
fn unknown_host_key_prompt_on_the_terminal() {
    let home = Home::new();
    let sshd = home.sshd();
    let ssh = format!(
        "HOME={} {} ssh -F none -p {} {} echo ok; echo rc=$?",
        home.path().display(),
        env!("CARGO_BIN_EXE_whelk"),
        sshd.port(),
        dest()
    );
    let (_, out) = on_terminal(&ssh, b"no\n");
    assert!(out.contains("can't be established"), "{out}");
    assert!(out.contains("Host key verification failed."), "{out}");
    assert!(out.contains("rc=255"), "{out}");
    assert!(!home.known_hosts().exists());
    let (_, out) = on_terminal(&ssh, b"yes\n");
    assert!(
        out.contains("Are you sure you want to continue connecting (yes/no/[fingerprint])?"),
        "{out}"
    );
    assert!(out.contains("ok\nrc=0"), "{out}");
    assert_eq!(
        std::fs::read_to_string(home.known_hosts()).unwrap(),
        sshd.known_hosts().unwrap()
    );
}

#[test]
fn closed_local_stdout_ends_the_remote_command() {
    let home = Home::new();
    let sshd = home.sshd();
    home.trust(&sshd);
    let mut c = home.cmd();
    c.args(["-p", &sshd.port().to_string(), &dest(), "yes"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 2];
    out.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"y\n");
    drop(out);
    // `yes | head -1` over ssh: whelk closes the channel and exits.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            assert_eq!(st.code(), Some(255));
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("whelk ssh kept running after its stdout closed");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn keyboard_interactive_prompt_on_the_terminal() {
    require_test_user();
    // PAM asks "Password: " through keyboard-interactive.
    let sshd = Sshd::builder()
        .option("UsePAM", "yes")
        .option("AuthenticationMethods", "keyboard-interactive")
        .start()
        .unwrap();
    prompted_login(&sshd, "keyboard-interactive");
}

#[test]
fn host_certificate_signed_by_whelk_keygen() {
    let home = Home::new();
    let keys = tempfile::tempdir().unwrap();
    let k = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_whelk"))
            .arg("keygen")
            .args(args)
            .current_dir(keys.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
    };
    k(&["-q", "-N", "", "-t", "ed25519", "-f", "ca"]);
    k(&["-q", "-N", "", "-t", "ecdsa", "-f", "host"]);
    k(&[
        "-q",
        "-s",
        "ca",
        "-h",
        "-I",
        "test host",
        "-n",
        "127.0.0.1",
        "host.pub",
    ]);
    let sshd = Sshd::builder()
        .authorized_key(home.pub_line.trim())
        .option("HostKey", keys.path().join("host").display().to_string())
        .config_line(format!(
            "HostCertificate {}",
            keys.path().join("host-cert.pub").display()
        ))
        .start()
        .unwrap();
    // Only the CA is known: the host is trusted through its certificate. (whelk's client
    // offers no NIST host key algorithms by default: -o adds them back.)
    let ca = std::fs::read_to_string(keys.path().join("ca.pub")).unwrap();
    std::fs::write(
        home.known_hosts(),
        format!("@cert-authority [127.0.0.1]:{} {ca}", sshd.port()),
    )
    .unwrap();
    let mut c = home.cmd();
    c.args([
        "-o",
        "StrictHostKeyChecking=yes",
        "-p",
        &sshd.port().to_string(),
    ])
    .args(["-o", "HostKeyAlgorithms=+ecdsa-sha2-nistp256"])
    .args([&dest(), "echo cert-ok"]);
    let out = run(c, b"");
    assert_eq!(text(&out.stdout), "cert-ok\n", "{}", text(&out.stderr));
    // Another CA: refused.
    k(&["-q", "-N", "", "-t", "ed25519", "-f", "other"]);
    let other = std::fs::read_to_string(keys.path().join("other.pub")).unwrap();
    std::fs::write(
        home.known_hosts(),
        format!("@cert-authority [127.0.0.1]:{} {other}", sshd.port()),
    )
    .unwrap();
    let mut c = home.cmd();
    c.args([
        "-o",
        "StrictHostKeyChecking=yes",
        "-p",
        &sshd.port().to_string(),
    ])
    .args(["-o", "HostKeyAlgorithms=+ecdsa-sha2-nistp256"])
    .args([&dest(), "echo cert-ok"]);
    let out = run(c, b"");
    assert_eq!(out.status.code(), Some(255));
    assert!(
        text(&out.stderr).contains("Host key verification failed."),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn setenv_sendenv_and_exit_on_forward_failure() {
    let home = Home::new();
    let sshd = Sshd::builder()
        .authorized_key(home.pub_line.trim())
        .option("AcceptEnv", "WHELK_*")
        .start()
        .unwrap();
    home.trust(&sshd);
    let port = sshd.port().to_string();
    let mut c = home.cmd();
    c.env("WHELK_SENT", "from-env")
        .args(["-p", &port, "-o", "SetEnv=WHELK_SET=from-setenv"])
        .args(["-o", "SendEnv=WHELK_*", &dest()])
        .arg("echo $WHELK_SET $WHELK_SENT");
    let out = run(c, b"");
    assert_eq!(
        text(&out.stdout),
        "from-setenv from-env\n",
        "{}",
        text(&out.stderr)
    );
    // A local forward that cannot listen: a warning, or fatal with ExitOnForwardFailure.
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port();
    let mut c = home.cmd();
    c.args([
        "-p",
        &port,
        "-L",
        &format!("{busy_port}:127.0.0.1:9"),
        &dest(),
        "echo ran",
    ]);
    let out = run(c, b"");
    assert_eq!(text(&out.stdout), "ran\n");
    assert!(
        text(&out.stderr).contains("Warning: local port forwarding failed"),
        "{}",
        text(&out.stderr)
    );
    let mut c = home.cmd();
    c.args(["-p", &port, "-o", "ExitOnForwardFailure=yes"])
        .args([
            "-L",
            &format!("{busy_port}:127.0.0.1:9"),
            &dest(),
            "echo ran",
        ]);
    let out = run(c, b"");
    assert_eq!(out.status.code(), Some(255));
    assert_eq!(text(&out.stdout), "");
    drop(busy);
}

#[test]
fn bind_address_family_and_connection_attempts() {
    let home = Home::new();
    let sshd = home.sshd();
    home.trust(&sshd);
    let port = sshd.port().to_string();
    // BindAddress: the server sees the connection from 127.0.0.2.
    let mut c = home.cmd();
    c.args([
        "-o",
        "BindAddress=127.0.0.2",
        "-o",
        "TCPKeepAlive=no",
        "-p",
        &port,
    ])
    .args([&dest(), "echo $SSH_CONNECTION"]);
    let out = run(c, b"");
    assert!(
        text(&out.stdout).starts_with("127.0.0.2 "),
        "{} {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    // AddressFamily inet6 leaves no address for 127.0.0.1.
    let mut c = home.cmd();
    c.args(["-o", "AddressFamily=inet6", "-p", &port, &dest(), "true"]);
    let out = run(c, b"");
    assert_eq!(out.status.code(), Some(255));
    assert!(
        text(&out.stderr).contains("Could not resolve hostname 127.0.0.1"),
        "{}",
        text(&out.stderr)
    );
    // Two attempts on a closed port: still refused.
    let closed = openssh::free_port().unwrap();
    let mut c = home.cmd();
    c.args([
        "-o",
        "ConnectionAttempts=2",
        "-p",
        &closed.to_string(),
        &dest(),
        "true",
    ]);
    let out = run(c, b"");
    assert_eq!(out.status.code(), Some(255));
    assert!(
        text(&out.stderr).contains("Connection refused"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn connection_lost_mid_command() {
    let home = Home::new();
    let mut sshd = home.sshd();
    home.trust(&sshd);
    let started = home.path().join("started");
    let mut c = home.cmd();
    c.args(["-p", &sshd.port().to_string(), &dest()])
        .arg(format!("touch {}; sleep 60", started.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = c.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !started.exists() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    // Kill the session's sshd process: the server side of the connection goes away.
    let pids = Command::new("pgrep")
        .args(["-P", &sshd.pid().to_string()])
        .output()
        .unwrap();
    for pid in text(&pids.stdout).split_whitespace() {
        let _ = Command::new("kill").args(["-9", pid]).status();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(255));
    assert!(
        err_text(&out.stderr).contains("Connection to 127.0.0.1 closed by remote host."),
        "{}",
        text(&out.stderr)
    );
    assert!(sshd.is_running());
}

/// stdin and stdout on pipes of their own are served on the runtime's thread, set
/// non-blocking while the session runs: input that arrives in pieces with pauses between
/// them (the pipe runs empty) all reaches the remote side, EOF follows the last piece;
/// output to a reader that starts late (the pipe fills up) arrives whole; and both pipes
/// are left blocking again for whoever shares them, also when the remote command ends
/// before our input does. A regular file (which cannot be watched) goes through the
/// reading thread and arrives whole as well.
#[test]
fn piped_and_file_stdio_carry_the_data() {
    use std::os::fd::AsFd;
    let home = Home::new();
    let sshd = home.sshd();
    home.trust(&sshd);
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();

    let (read_end, write_end) = std::io::pipe().unwrap();
    // The test keeps a copy of the read end: the same open file as the child's stdin.
    let child_stdin = read_end.try_clone().unwrap();
    let mut c = home.cmd();
    c.args(["-p", &sshd.port().to_string(), &dest(), "cat"])
        .stdin(Stdio::from(child_stdin))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = c.spawn().unwrap();
    let mut writer = write_end;
    for piece in data.chunks(70_000) {
        writer.write_all(piece).unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }
    drop(writer);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout == data, "got {} bytes", out.stdout.len());
    let flags = rustix::fs::fcntl_getfl(read_end.as_fd()).unwrap();
    assert!(
        !flags.contains(rustix::fs::OFlags::NONBLOCK),
        "stdin left non-blocking: {flags:?}"
    );

    // The remote command ends while our input is still open: the flags are put back on
    // the way out as well.
    let (read_end, mut writer) = std::io::pipe().unwrap();
    let mut c = home.cmd();
    c.args(["-p", &sshd.port().to_string(), &dest(), "head -c 5"])
        .stdin(Stdio::from(read_end.try_clone().unwrap()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = c.spawn().unwrap();
    writer.write_all(b"hello, and more").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(0), "hello".into())
    );
    let flags = rustix::fs::fcntl_getfl(read_end.as_fd()).unwrap();
    assert!(!flags.contains(rustix::fs::OFlags::NONBLOCK), "{flags:?}");
    drop(writer);

    // stdout to a pipe the test also holds, read only after a pause.
    let (mut read_end, write_end) = std::io::pipe().unwrap();
    let want: String = (1..=300_000).map(|i| format!("{i}\n")).collect();
    let mut c = home.cmd();
    c.args(["-p", &sshd.port().to_string(), &dest(), "seq 1 300000"])
        .stdin(Stdio::null())
        .stdout(Stdio::from(write_end.try_clone().unwrap()))
        .stderr(Stdio::piped());
    let child = c.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut got = vec![0u8; want.len()];
    read_end.read_exact(&mut got).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(got == want.as_bytes(), "stdout differs");
    let flags = rustix::fs::fcntl_getfl(write_end.as_fd()).unwrap();
    assert!(!flags.contains(rustix::fs::OFlags::NONBLOCK), "{flags:?}");

    let file = home.path().join("input");
    std::fs::write(&file, &data).unwrap();
    let mut c = home.cmd();
    c.args(["-p", &sshd.port().to_string(), &dest(), "cat"])
        .stdin(std::fs::File::open(&file).unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout == data, "got {} bytes", out.stdout.len());
}
