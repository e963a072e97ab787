//! `whelk server` sessions driven by OpenSSH's `ssh` (and whelk's own client where `ssh`
//! cannot show the detail): exec with stdin/stdout/stderr and exit status, exit signals,
//! PTYs with the requested size and window changes, signals, environment, forced commands.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::{Fixture, RUN, Server, me, run_with_input};
use tokio::io::AsyncReadExt;
use whelk_tokio::{Client, ClientConfig, HostKeyPolicy};

/// Runs `body` with whelk's own client connected to `server` with the fixture's key (for
/// what OpenSSH's client cannot show or do).
fn with_client<T>(f: &Fixture, server: &Server, body: impl AsyncFnOnce(Client) -> T) -> T {
    let text = std::fs::read_to_string(f.key()).unwrap();
    let key = whelk::PrivateKey::from_openssh(&text, None).unwrap();
    let config = ClientConfig::new(&me())
        .key(key)
        .host_key(HostKeyPolicy::AcceptAny);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = whelk_tokio::connect("127.0.0.1", server.addr.port(), config)
            .await
            .unwrap();
        body(client).await
    })
}

#[test]
fn exec_with_stdin_stdout_stderr_and_exit_status() {
    let f = Fixture::new();
    let server = f.start(&[]);
    let cmd = server
        .ssh(&f.key())
        .remote_command("read line; echo \"got $line\"; echo oops >&2; cat; exit 7")
        .command()
        .unwrap();
    let (code, out, err) = run_with_input(cmd, b"hello\nrest of stdin\n");
    assert_eq!(code, Some(7), "stderr: {err}\nlog: {}", server.log());
    assert_eq!(out, "got hello\nrest of stdin\n");
    assert!(err.contains("oops"), "stderr: {err}");
    let log = server.assert_logged("exec \"read line");
    assert!(log.contains("accepted publickey for"), "{log}");
    assert!(log.contains("SHA256:"), "{log}");
}

#[test]
fn environment_of_a_session() {
    let f = Fixture::new();
    let server = f.start(&[]);
    let out = server
        .ssh(&f.key())
        .option("SetEnv", "LANG=fr_FR.UTF-8 LC_TIME=C FOO=bar")
        .remote_command(
            "echo \"$USER|$LOGNAME|$HOME|$SHELL|$LANG|$LC_TIME|$FOO|${SSH_CONNECTION%% *}|$SSH_TTY|$(pwd)\"",
        )
        .run(RUN)
        .unwrap();
    assert!(out.status.success(), "{}", out.stderr_str());
    let me = me();
    let home = f.home();
    assert_eq!(
        out.stdout_str().trim(),
        format!(
            "{me}|{me}|{h}|/bin/sh|fr_FR.UTF-8|C||127.0.0.1||{h}",
            h = home.display()
        )
    );
}

#[test]
fn exit_signal_is_reported() {
    let f = Fixture::new();
    let server = f.start(&[]);
    // OpenSSH's client does not show exit-signal; whelk's does.
    let out = with_client(&f, &server, async |client| {
        client.run("echo before; kill -TERM $$").await.unwrap()
    });
    assert_eq!(out.stdout, b"before\n");
    assert_eq!(out.exit_signal.as_deref(), Some("TERM"));
    assert_eq!(out.exit_status, None);
    // ssh exits with 255 when the command died by a signal.
    let o = server
        .ssh(&f.key())
        .remote_command("kill -KILL $$")
        .run(RUN)
        .unwrap();
    assert_eq!(o.status.code(), Some(255));
    server.assert_logged("signal KILL");
}

#[test]
fn signal_request_reaches_the_process() {
    let f = Fixture::new();
    let server = f.start(&[]);
    let (out, status) = with_client(&f, &server, async |client| {
        let s = client.session().await.unwrap();
        s.exec("trap 'echo got USR1; exit 3' USR1; echo ready; while :; do sleep 0.05; done")
            .await
            .unwrap();
        let mut stdout = s.stdout();
        let mut buf = [0u8; 6];
        stdout.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ready\n");
        s.signal("USR1").unwrap();
        let mut rest = Vec::new();
        stdout.read_to_end(&mut rest).await.unwrap();
        (rest, s.wait().await.unwrap())
    });
    assert_eq!(String::from_utf8_lossy(&out), "got USR1\n");
    assert_eq!(status.status, Some(3), "{status:?}");
}

#[test]
fn pty_with_requested_size_and_window_change() {
    let f = Fixture::new();
    let server = f.start(&[]);
    let out = with_client(&f, &server, async |client| {
        let s = client.session().await.unwrap();
        s.request_pty("xterm-256color", 100, 30).await.unwrap();
        s.exec("tty; echo $TERM; stty size; read x; stty size")
            .await
            .unwrap();
        let mut stdout = s.stdout();
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        // Wait for the first size, then resize and let `read` go on.
        while !String::from_utf8_lossy(&seen).contains("30 100") {
            let n = stdout.read(&mut buf).await.unwrap();
            assert!(n > 0, "early EOF: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buf[..n]);
        }
        s.window_change(132, 43).unwrap();
        let mut stdin = s.stdin();
        tokio::io::AsyncWriteExt::write_all(&mut stdin, b"go\n")
            .await
            .unwrap();
        stdout.read_to_end(&mut seen).await.unwrap();
        let status = s.wait().await.unwrap();
        assert_eq!(status.status, Some(0));
        String::from_utf8_lossy(&seen).replace('\r', "")
    });
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("/dev/pts/"), "{out}");
    assert_eq!(lines[1], "xterm-256color", "{out}");
    assert_eq!(lines[2], "30 100", "{out}");
    // The echoed input, then the new size.
    assert_eq!(lines.last().copied(), Some("43 132"), "{out}");
}

#[test]
fn ssh_tt_gets_a_terminal() {
    let f = Fixture::new();
    let server = f.start(&[]);
    let out = server
        .ssh(&f.key())
        .arg("-tt")
        .remote_command("tty; test -t 0 && echo stdin-is-a-tty; echo \"tty=$SSH_TTY\"")
        .run(RUN)
        .unwrap();
    assert!(out.status.success(), "{}", out.stderr_str());
    let text = out.stdout_str().replace('\r', "");
    let mut lines = text.lines();
    let tty = lines.next().unwrap();
    assert!(tty.starts_with("/dev/pts/"), "{text}");
    assert_eq!(lines.next(), Some("stdin-is-a-tty"));
    assert_eq!(lines.next(), Some(format!("tty={tty}").as_str()));

    // The exit status comes through the terminal path too.
    let out = server
        .ssh(&f.key())
        .arg("-tt")
        .remote_command("exit 7")
        .run(RUN)
        .unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", out.stderr_str());
}

#[test]
fn max_sessions_limits_sessions_per_connection() {
    let f = Fixture::new();
    let server = f.start(&["-o", "MaxSessions=1"]);
    with_client(&f, &server, async |client| {
        let first = client.session().await.unwrap();
        assert!(
            client.session().await.is_err(),
            "a second session was opened"
        );
        first.exec("echo one").await.unwrap();
        let out = first.collect().await.unwrap();
        assert_eq!(out.stdout, b"one\n");
    });
}

#[test]
fn no_pty_option_refuses_the_terminal() {
    let f = Fixture::new();
    f.authorize("no-pty");
    let server = f.start(&[]);
    // With -tt, ssh gives up on the channel when the PTY is refused (as with sshd).
    let out = server
        .ssh(&f.key())
        .arg("-tt")
        .remote_command("tty")
        .run(RUN)
        .unwrap();
    assert!(
        out.stderr_str().contains("PTY allocation request failed"),
        "{}",
        out.stderr_str()
    );
    assert!(
        !out.stdout_str().contains("/dev/pts"),
        "{}",
        out.stdout_str()
    );
}

#[test]
fn forced_command_from_authorized_keys() {
    let f = Fixture::new();
    f.authorize("command=\"echo forced:$SSH_ORIGINAL_COMMAND\"");
    let server = f.start(&[]);
    let out = server
        .ssh(&f.key())
        .remote_command("echo not this")
        .run(RUN)
        .unwrap();
    assert!(out.status.success(), "{}", out.stderr_str());
    assert_eq!(out.stdout_str(), "forced:echo not this\n");
}

#[test]
fn shell_session_without_pty() {
    let f = Fixture::new();
    let server = f.start(&[]);
    let cmd = server.ssh(&f.key()).arg("-T").command().unwrap();
    let (code, out, err) = run_with_input(cmd, b"echo in-shell $0\nexit 4\n");
    assert_eq!(code, Some(4), "{err}");
    assert_eq!(out, "in-shell -sh\n");
}

#[test]
fn stdin_eof_closes_the_child_stdin() {
    let f = Fixture::new();
    let server = f.start(&[]);
    let cmd = server
        .ssh(&f.key())
        .remote_command("wc -c")
        .command()
        .unwrap();
    let data = vec![b'x'; 300_000];
    let (code, out, _) = run_with_input(cmd, &data);
    assert_eq!(code, Some(0));
    assert_eq!(out.trim(), "300000");
    let _ = Duration::ZERO;
}

#[test]
fn session_processes_start_with_default_signal_handling() {
    let f = Fixture::new();
    let server = f.start(&[]);
    let out = server
        .ssh(&f.key())
        .remote_command("grep SigIgn /proc/self/status; yes | head -1")
        .run(RUN)
        .unwrap();
    assert!(out.status.success(), "{}", out.stderr_str());
    let stdout = out.stdout_str();
    let mask = stdout
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .map(|m| u64::from_str_radix(m.trim(), 16).unwrap())
        .unwrap();
    // SIGHUP, SIGINT, SIGQUIT and SIGPIPE (bits 0, 1, 2, 12) are not ignored (the Rust
    // runtime ignores SIGPIPE in the server itself): `yes` dies of SIGPIPE quietly instead
    // of reporting EPIPE.
    assert_eq!(mask & 0x1007, 0, "{stdout}");
    assert!(stdout.ends_with("y\n"), "{stdout}");
    assert!(
        !out.stderr_str().contains("Broken pipe"),
        "{}",
        out.stderr_str()
    );
}

#[test]
fn concurrent_sessions_on_separate_connections() {
    let f = Fixture::new();
    let server = f.start(&[]);
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let ssh = server
                .ssh(&f.key())
                .remote_command(format!("echo start-{i}; sleep 0.2; echo end-{i}; exit {i}"));
            std::thread::spawn(move || ssh.run(RUN).unwrap())
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let out = h.join().unwrap();
        assert_eq!(out.status.code(), Some(i32::try_from(i).unwrap()));
        assert_eq!(out.stdout_str(), format!("start-{i}\nend-{i}\n"));
    }
}

/// Whether a process whose command line contains `marker` is running.
fn running(marker: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline")).is_ok_and(|c| {
            String::from_utf8_lossy(&c)
                .replace('\0', " ")
                .contains(marker)
        })
    })
}

#[test]
fn terminal_session_is_hung_up_when_the_client_goes_away() {
    let f = Fixture::new();
    let server = f.start(&[]);
    // The shell computes the marker, so that ssh's own command line does not contain it.
    let n = std::process::id();
    let marker = format!("sleep 4321.{}", n + 1);
    let mut ssh = server
        .ssh(&f.key())
        .arg("-tt")
        .remote_command(format!("echo started; exec sleep 4321.$(({n}+1))"))
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !running(&marker) {
        assert!(start.elapsed() < RUN, "never started: {}", server.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    ssh.kill();
    // The PTY's process gets SIGHUP once the channel is gone.
    let start = std::time::Instant::now();
    while running(&marker) {
        assert!(start.elapsed() < RUN, "still running: {}", server.log());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn user_rc_runs_before_the_command() {
    let f = Fixture::new();
    std::fs::create_dir_all(f.home().join(".ssh")).unwrap();
    std::fs::write(
        f.home().join(".ssh/rc"),
        "echo rc-out\ntouch \"$HOME/rc-ran\"\n",
    )
    .unwrap();
    let server = f.start(&[]);
    let out = server
        .ssh(&f.key())
        .remote_command("echo main; exit 3")
        .run(RUN)
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", out.stderr_str());
    assert_eq!(out.stdout_str(), "rc-out\nmain\n");
    assert!(f.home().join("rc-ran").exists());
    std::fs::remove_file(f.home().join("rc-ran")).unwrap();
    drop(server);

    // no-user-rc on the key, or PermitUserRC no, skip it.
    f.authorize("no-user-rc");
    let server = f.start(&[]);
    let out = server
        .ssh(&f.key())
        .remote_command("echo main")
        .run(RUN)
        .unwrap();
    assert_eq!(out.stdout_str(), "main\n");
    drop(server);
    f.authorize("");
    let server = f.start(&["-o", "PermitUserRC=no"]);
    let out = server
        .ssh(&f.key())
        .remote_command("echo main")
        .run(RUN)
        .unwrap();
    assert_eq!(out.stdout_str(), "main\n");
    assert!(!f.home().join("rc-ran").exists());
}

#[test]
fn ssh_on_a_real_terminal_sends_its_size() {
    let f = Fixture::new();
    let server = f.start(&[]);
    // script(1) gives ssh a terminal; stty sets its size before ssh reads it.
    let ssh = server.ssh(&f.key()).arg("-tt").command_line().unwrap();
    let mut cmd = std::process::Command::new("script");
    cmd.args([
        "-qec",
        &format!("stty cols 101 rows 31; TERM=vt220 {ssh} 'stty size; echo TERM=$TERM'"),
        "/dev/null",
    ]);
    let out = whelk_test::openssh::run(cmd, RUN).unwrap();
    let text = out.stdout_str().replace('\r', "");
    assert!(text.contains("31 101\n"), "{text}\n{}", out.stderr_str());
    assert!(text.contains("TERM=vt220\n"), "{text}");
}

#[test]
fn interactive_login_shell_on_a_pty() {
    let f = Fixture::new();
    let server = f.start(&[]);
    let (out, status) = with_client(&f, &server, async |client| {
        let s = client.session().await.unwrap();
        s.request_pty("xterm", 80, 24).await.unwrap();
        s.shell().await.unwrap();
        let mut stdin = s.stdin();
        tokio::io::AsyncWriteExt::write_all(
            &mut stdin,
            b"echo \"shell=$0 tty=$(tty) ctty=$(ps -o tty= -p $$)\"; exit 5\n",
        )
        .await
        .unwrap();
        let mut out = Vec::new();
        s.stdout().read_to_end(&mut out).await.unwrap();
        (
            String::from_utf8_lossy(&out).replace('\r', ""),
            s.wait().await.unwrap(),
        )
    });
    assert_eq!(status.status, Some(5), "{out}");
    // The echoed input line, then the answer: a login shell whose controlling terminal is
    // the PTY.
    let line = out
        .lines()
        .find(|l| l.contains("tty=/dev/"))
        .unwrap_or_else(|| panic!("{out}"));
    let tty = line
        .split("tty=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    assert!(tty.starts_with("/dev/pts/"), "{line}");
    let ctty = line.split("ctty=").nth(1).unwrap().trim();
    assert_eq!(format!("/dev/{ctty}"), tty, "{line}");
}
