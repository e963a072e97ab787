//! `whelk server` channels besides exec: port forwarding (`ssh -W`, `-L`, `-R`) as the
//! configuration allows, subsystems (the built-in SFTP server and external commands) and agent
//! forwarding, driven by OpenSSH's `ssh`, `sftp`, `ssh-agent` and `ssh-add`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use common::{Fixture, RUN, echo_server, me, run_with_input};
use whelk_test::openssh;

#[test]
fn stdio_forwarding_to_a_loopback_service() {
    let f = Fixture::new();
    let server = f.start(&[]);
    let port = echo_server();
    let cmd = server
        .ssh(&f.key())
        .arg("-W")
        .arg(format!("127.0.0.1:{port}"))
        .command()
        .unwrap();
    let (code, out, err) = run_with_input(cmd, b"ping through whelk\n");
    assert_eq!(code, Some(0), "{err}\n{}", server.log());
    assert_eq!(out, "ping through whelk\n");
    server.assert_logged("direct-tcpip to 127.0.0.1");
}

#[test]
fn local_forwarding_with_dash_l() {
    let f = Fixture::new();
    let server = f.start(&[]);
    let port = echo_server();
    let local = openssh::free_port().unwrap();
    let mut ssh = server
        .ssh(&f.key())
        .option("ExitOnForwardFailure", "yes")
        .arg("-N")
        .arg("-L")
        .arg(format!("127.0.0.1:{local}:127.0.0.1:{port}"))
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let mut conn = loop {
        if let Ok(c) = TcpStream::connect(("127.0.0.1", local)) {
            break c;
        }
        assert!(
            start.elapsed() < RUN,
            "ssh -L never listened: {}",
            ssh.stderr_str()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    conn.write_all(b"via -L\n").unwrap();
    let mut buf = [0u8; 7];
    conn.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"via -L\n");
    ssh.kill();
}

#[test]
fn remote_forwarding_with_dash_r() {
    let f = Fixture::new();
    let server = f.start(&[]);
    // The readiness probes below are connections too.
    let port = echo_server();
    let remote = openssh::free_port().unwrap();
    let script = format!(
        "until (exec 3<>/dev/tcp/127.0.0.1/{remote}) 2>/dev/null; do sleep 0.05; done; \
         exec 3<>/dev/tcp/127.0.0.1/{remote}; echo back-through-R >&3; head -n1 <&3"
    );
    let out = server
        .ssh(&f.key())
        .option("ExitOnForwardFailure", "yes")
        .arg("-R")
        .arg(format!("127.0.0.1:{remote}:127.0.0.1:{port}"))
        .remote_command(format!("bash -c '{script}'"))
        .run(RUN)
        .unwrap();
    assert_eq!(
        out.stdout_str(),
        "back-through-R\n",
        "{}\n{}",
        out.stderr_str(),
        server.log()
    );
    server.assert_logged("tcpip-forward 127.0.0.1");
}

#[test]
fn forwarding_refused_by_configuration() {
    let f = Fixture::new();
    let port = echo_server();
    let server = f.start(&["-o", "AllowTcpForwarding=no"]);
    let cmd = server
        .ssh(&f.key())
        .arg("-W")
        .arg(format!("127.0.0.1:{port}"))
        .command()
        .unwrap();
    let (code, out, err) = run_with_input(cmd, b"x\n");
    assert_ne!(code, Some(0));
    assert!(out.is_empty());
    assert!(err.contains("failed"), "{err}");
    drop(server);

    // PermitOpen admits only what it lists.
    let server = f.start(&["-o", &format!("PermitOpen=127.0.0.1:{port}")]);
    let other = echo_server();
    let ok = server
        .ssh(&f.key())
        .arg("-W")
        .arg(format!("127.0.0.1:{port}"))
        .command()
        .unwrap();
    assert_eq!(run_with_input(ok, b"listed\n").1, "listed\n");
    let refused = server
        .ssh(&f.key())
        .arg("-W")
        .arg(format!("127.0.0.1:{other}"))
        .command()
        .unwrap();
    let (_, out, err) = run_with_input(refused, b"x\n");
    assert!(out.is_empty() && err.contains("failed"), "{err}");
}

fn sftp_batch(
    server: &common::Server,
    key: &std::path::Path,
    batch: &str,
    dir: &std::path::Path,
) -> openssh::Output {
    let file = dir.join("batch");
    std::fs::write(&file, batch).unwrap();
    let mut cmd = Command::new(openssh::find("sftp").unwrap());
    cmd.args(["-F", "/dev/null", "-P"])
        .arg(server.addr.port().to_string())
        .arg("-i")
        .arg(key)
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "LogLevel=ERROR",
            "-b",
        ])
        .arg(&file)
        .arg(format!("{}@127.0.0.1", me()));
    openssh::run(cmd, RUN).unwrap()
}

#[test]
fn sftp_batch_through_the_subsystem() {
    let f = Fixture::new();
    let server = f.start(&[]);
    let local = f.path("local.txt");
    std::fs::write(&local, "sftp through whelk\n").unwrap();
    let back = f.path("back.txt");
    let batch = format!(
        "put {} up.txt\nmkdir sub\nrename up.txt sub/up.txt\nls sub\nget sub/up.txt {}\n",
        local.display(),
        back.display()
    );
    let out = sftp_batch(&server, &f.key(), &batch, f.dir.path());
    assert!(
        out.status.success(),
        "{}\n{}",
        out.stderr_str(),
        server.log()
    );
    assert_eq!(
        std::fs::read_to_string(f.home().join("sub/up.txt")).unwrap(),
        "sftp through whelk\n"
    );
    assert_eq!(
        std::fs::read_to_string(&back).unwrap(),
        "sftp through whelk\n"
    );
    server.assert_logged("subsystem sftp");
}

#[test]
fn sftp_root_confines_the_builtin_server() {
    let f = Fixture::new();
    let root = f.path("sftp-root");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("inside.txt"), "in\n").unwrap();
    let server = f.start(&["--sftp-root", root.to_str().unwrap()]);
    let got = f.path("got.txt");
    let out = sftp_batch(
        &server,
        &f.key(),
        &format!("get /inside.txt {}\n", got.display()),
        f.dir.path(),
    );
    assert!(out.status.success(), "{}", out.stderr_str());
    assert_eq!(std::fs::read_to_string(&got).unwrap(), "in\n");
    let out = sftp_batch(
        &server,
        &f.key(),
        "get /../authorized_keys /dev/null\n",
        f.dir.path(),
    );
    assert!(!out.status.success());
}

#[test]
fn external_subsystem_commands() {
    let f = Fixture::new();
    let sftp_server = [
        "/usr/lib/openssh/sftp-server",
        "/usr/libexec/openssh/sftp-server",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .expect("OpenSSH's sftp-server (openssh-sftp-server) is needed");
    let server = f.start(&[
        "-o",
        &format!("Subsystem=sftp {sftp_server}"),
        "-o",
        "Subsystem=upper tr a-z A-Z",
    ]);
    let out = server
        .ssh(&f.key())
        .arg("-s")
        .remote_command("upper")
        .command()
        .unwrap();
    let (code, stdout, err) = run_with_input(out, b"shout\n");
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(stdout, "SHOUT\n");

    let local = f.path("l.txt");
    std::fs::write(&local, "external\n").unwrap();
    let out = sftp_batch(
        &server,
        &f.key(),
        &format!("put {} ext.txt\n", local.display()),
        f.dir.path(),
    );
    assert!(out.status.success(), "{}", out.stderr_str());
    assert_eq!(
        std::fs::read_to_string(f.home().join("ext.txt")).unwrap(),
        "external\n"
    );

    let refused = server
        .ssh(&f.key())
        .arg("-s")
        .remote_command("nosuch")
        .run(RUN)
        .unwrap();
    assert_ne!(refused.status.code(), Some(0));
}

#[test]
fn agent_forwarding_gives_the_session_an_agent() {
    let f = Fixture::new();
    let server = f.start(&[]);
    let sock = f.path("agent.sock");
    let mut agent = openssh::ChildGuard::spawn(
        Command::new(openssh::find("ssh-agent").unwrap())
            .arg("-D")
            .arg("-a")
            .arg(&sock),
    )
    .unwrap();
    common::wait_for_socket(&sock, &agent);
    let add = Command::new(openssh::find("ssh-add").unwrap())
        .arg(f.key())
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .unwrap();
    assert!(add.status.success(), "{add:?}");
    let mut cmd = server
        .ssh(&f.key())
        .option("ForwardAgent", "yes")
        .option("IdentityAgent", sock.to_str().unwrap())
        .remote_command("ssh-add -l; echo \"sock=$SSH_AUTH_SOCK\"")
        .command()
        .unwrap();
    cmd.env("SSH_AUTH_SOCK", &sock);
    let out = openssh::run(cmd, RUN).unwrap();
    let text = out.stdout_str();
    let fp = Command::new(openssh::find("ssh-keygen").unwrap())
        .arg("-lf")
        .arg(f.key())
        .output()
        .unwrap();
    let fp = String::from_utf8_lossy(&fp.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned();
    assert!(
        text.contains(&fp),
        "{text}\n{}\n{}",
        out.stderr_str(),
        server.log()
    );
    assert!(text.contains("sock=/"), "{text}");
    agent.kill();
}

/// A UNIX-socket echo service at `path` answering one connection.
fn unix_echo_service(path: &std::path::Path) {
    let listener = std::os::unix::net::UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 || s.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    });
}

/// `ssh -N -L 127.0.0.1:<port>:<socket>`; returns the echoed bytes or the ssh log.
fn through_streamlocal(
    server: &common::Server,
    f: &Fixture,
    sock: &std::path::Path,
) -> Result<Vec<u8>, String> {
    let local = openssh::free_port().unwrap();
    let mut ssh = server
        .ssh(&f.key())
        .option("ExitOnForwardFailure", "yes")
        .arg("-N")
        .arg("-L")
        .arg(format!("127.0.0.1:{local}:{}", sock.display()))
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let mut conn = loop {
        if let Ok(c) = TcpStream::connect(("127.0.0.1", local)) {
            break c;
        }
        assert!(
            start.elapsed() < RUN,
            "ssh -L never listened: {}",
            ssh.stderr_str()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    conn.set_read_timeout(Some(RUN)).unwrap();
    conn.write_all(b"unix!\n").unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64];
    while buf.len() < 6 {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    ssh.kill();
    if buf.is_empty() {
        Err(ssh.stderr_str())
    } else {
        Ok(buf)
    }
}

#[test]
fn unix_socket_forwarding_as_configured() {
    let f = Fixture::new();
    let sock = f.path("echo.sock");
    unix_echo_service(&sock);
    let server = f.start(&[]);
    assert_eq!(through_streamlocal(&server, &f, &sock).unwrap(), b"unix!\n");
    server.assert_logged("direct-streamlocal");
    drop(server);

    let sock2 = f.path("echo2.sock");
    unix_echo_service(&sock2);
    let server = f.start(&["-o", "AllowStreamLocalForwarding=no"]);
    assert!(through_streamlocal(&server, &f, &sock2).is_err());
    server.assert_logged("refused");
}

#[test]
fn permit_listen_limits_remote_forwards() {
    let f = Fixture::new();
    let allowed = openssh::free_port().unwrap();
    let server = f.start(&["-o", &format!("PermitListen={allowed}")]);
    let other = loop {
        let p = openssh::free_port().unwrap();
        if p != allowed {
            break p;
        }
    };
    let run = |port: u16| {
        server
            .ssh(&f.key())
            .option("ExitOnForwardFailure", "yes")
            .arg("-R")
            .arg(format!("127.0.0.1:{port}:127.0.0.1:9"))
            .remote_command("echo forwarded")
            .run(RUN)
            .unwrap()
    };
    let ok = run(allowed);
    assert_eq!(ok.stdout_str(), "forwarded\n", "{}", ok.stderr_str());
    let refused = run(other);
    assert_ne!(refused.status.code(), Some(0));
    assert!(
        refused
            .stderr_str()
            .contains("remote port forwarding failed"),
        "{}",
        refused.stderr_str()
    );
}
