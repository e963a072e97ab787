//! whelk-std client features against a private OpenSSH `sshd` on loopback: keepalive
//! against a frozen server, dynamic (SOCKS) forwarding, UNIX socket forwarding, ssh-agent
//! authentication and forwarding, ProxyJump. Fails (never skips) when OpenSSH is not
//! installed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::Duration;

use whelk_std::*;
use whelk_test::openssh::{Sshd, find, run};

mod common;
use common::{
    agent_with_key, client, config, echo_round, echo_tcp, echo_unix, pipe_through, sshd,
    sshd_builder as builder, user,
};

/// The processes below `pid` (from /proc).
fn descendants(pid: u32) -> Vec<u32> {
    let mut parents = vec![pid];
    let mut found = Vec::new();
    while let Some(p) = parents.pop() {
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|s| s.parse::<u32>().ok());
            if ppid == Some(p) && !found.contains(&child) {
                found.push(child);
                parents.push(child);
            }
        }
    }
    found
}

fn signal(pids: &[u32], sig: &str) {
    for pid in pids {
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .status();
    }
}

/// Stopped processes, continued when dropped (also when the test fails).
struct Frozen(Vec<u32>);

impl Drop for Frozen {
    fn drop(&mut self) {
        signal(&self.0, "CONT");
    }
}

#[test]
fn keepalive_detects_a_stopped_sshd() {
    let sshd = sshd();
    let c = connect(
        "127.0.0.1",
        sshd.port(),
        config(&sshd).keepalive(Duration::from_millis(200), 3),
    )
    .unwrap();
    assert_eq!(c.run("exit 0").unwrap().exit_status, Some(0));
    // Freeze the processes serving this connection (sshd's per-connection children);
    // the kernel still acknowledges our packets, so only keepalives can tell.
    let frozen = Frozen(descendants(sshd.pid()));
    assert!(!frozen.0.is_empty(), "no sshd child processes");
    signal(&frozen.0, "STOP");
    // A generous bound (not a timing assertion: detection takes ~0.8 s): without
    // working keepalives this would wait forever.
    for _ in 0..600 {
        if !c.is_connected() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!c.is_connected(), "the frozen server was not detected");
    let why = c.wait_closed();
    drop(frozen);
    assert!(why.contains("keepalive timeout"), "{why}");
    assert!(!c.is_connected());
    assert!(c.run("true").is_err());
}

#[test]
fn keepalive_leaves_a_healthy_idle_connection_alone() {
    let sshd = sshd();
    let c = connect(
        "127.0.0.1",
        sshd.port(),
        config(&sshd).keepalive(Duration::from_millis(250), 8),
    )
    .unwrap();
    // Twelve keepalive rounds: sshd answers each one (REQUEST_FAILURE counts as an
    // answer). The 2 s of slack (8 missed) only keeps a loaded machine from looking dead;
    // the stopped-sshd test shows that unanswered keepalives do end the connection.
    std::thread::sleep(Duration::from_millis(3000));
    assert!(c.is_connected());
    assert_eq!(c.run("exit 5").unwrap().exit_status, Some(5));
    c.disconnect();
}

/// A minimal HTTP/1.0 server answering every request with `hello`.
fn http_service() -> u16 {
    let svc = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = svc.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut sock in svc.incoming().flatten() {
            let mut req = Vec::new();
            let mut b = [0u8; 1];
            while !req.ends_with(b"\r\n\r\n") && sock.read(&mut b).unwrap_or(0) == 1 {
                req.push(b[0]);
            }
            let _ = sock.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        }
    });
    port
}

fn socks_connect(
    proxy: SocketAddr,
    request: &[u8],
    greeting: Option<&[u8]>,
) -> (TcpStream, Vec<u8>) {
    let mut s = TcpStream::connect(proxy).unwrap();
    if let Some(g) = greeting {
        s.write_all(g).unwrap();
        let mut chosen = [0u8; 2];
        s.read_exact(&mut chosen).unwrap();
        assert_eq!(chosen, [5, 0]);
    }
    s.write_all(request).unwrap();
    let mut reply = vec![0u8; if greeting.is_some() { 10 } else { 8 }];
    s.read_exact(&mut reply).unwrap();
    (s, reply)
}

#[test]
fn dynamic_forwarding_socks4_4a_5_through_sshd() {
    let sshd = sshd();
    let c = client(&sshd);
    let echo = echo_tcp();
    let [hi, lo] = echo.to_be_bytes();
    let socks = c.forward_dynamic("127.0.0.1:0").unwrap();
    let proxy = socks.local_addr().unwrap();

    // SOCKS 4: IPv4 address.
    let (mut s, reply) = socks_connect(proxy, &[4, 1, hi, lo, 127, 0, 0, 1, b'u', 0], None);
    assert_eq!(reply[..2], [0, 90]);
    echo_round(&mut s, b"socks4");
    // SOCKS 4a: a host name, resolved by the server.
    let mut req = vec![4, 1, hi, lo, 0, 0, 0, 1, 0];
    req.extend_from_slice(b"127.0.0.1\0");
    let (mut s, reply) = socks_connect(proxy, &req, None);
    assert_eq!(reply[..2], [0, 90]);
    echo_round(&mut s, &vec![7u8; 300_000]);
    // SOCKS 5: IPv4 and domain name, greeting with two methods.
    let (mut s, reply) = socks_connect(
        proxy,
        &[5, 1, 0, 1, 127, 0, 0, 1, hi, lo],
        Some(&[5, 2, 2, 0]),
    );
    assert_eq!(reply[..2], [5, 0]);
    echo_round(&mut s, b"socks5");
    let mut req = vec![5, 1, 0, 3, 9];
    req.extend_from_slice(b"127.0.0.1");
    req.extend_from_slice(&[hi, lo]);
    let (mut s, reply) = socks_connect(proxy, &req, Some(&[5, 1, 0]));
    assert_eq!(reply[..2], [5, 0]);
    echo_round(&mut s, b"socks5 by name");

    // A closed port: sshd cannot connect, the proxy says "connection refused".
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let [chi, clo] = closed.local_addr().unwrap().port().to_be_bytes();
    drop(closed);
    let (_, reply) = socks_connect(
        proxy,
        &[5, 1, 0, 1, 127, 0, 0, 1, chi, clo],
        Some(&[5, 1, 0]),
    );
    assert_eq!(reply[..2], [5, 5]);
    // BIND is not supported.
    let (_, reply) = socks_connect(proxy, &[5, 2, 0, 1, 127, 0, 0, 1, hi, lo], Some(&[5, 1, 0]));
    assert_eq!(reply[..2], [5, 7]);
    // Only "no authentication" is offered back.
    let mut s = TcpStream::connect(proxy).unwrap();
    s.write_all(&[5, 1, 2]).unwrap();
    let mut chosen = Vec::new();
    s.read_to_end(&mut chosen).unwrap();
    assert_eq!(chosen, [5, 0xff]);

    // curl through the proxy, SOCKS 5 with the name sent unresolved and SOCKS 4a.
    find("curl").expect("curl not installed");
    let http = http_service();
    for flag in ["--socks5-hostname", "--socks4a", "--socks5", "--socks4"] {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "20", flag, &proxy.to_string()])
            .arg(format!("http://127.0.0.1:{http}/"));
        let out = run(cmd, Duration::from_secs(30)).unwrap();
        assert_eq!(out.stdout_str(), "hello", "{flag}: {}", out.stderr_str());
    }

    // Closing the handle stops the listener; the connection goes on.
    socks.close();
    assert!(TcpStream::connect(proxy).is_err());
    assert_eq!(c.run("exit 0").unwrap().exit_status, Some(0));
}

#[test]
fn unix_socket_forwarding_local_remote_and_mixed() {
    let sshd = builder()
        .config_line("AllowStreamLocalForwarding yes")
        .config_line("StreamLocalBindUnlink yes")
        .start()
        .unwrap();
    let c = client(&sshd);
    let dir = tempfile::tempdir().unwrap();
    let echo_sock = dir.path().join("echo.sock");
    echo_unix(&echo_sock);
    let echo_port = echo_tcp();

    // Local UNIX -> remote UNIX (direct-streamlocal@openssh.com).
    let l1 = dir.path().join("l1.sock");
    let f1 = c
        .forward_local_to(Endpoint::unix(&l1), Endpoint::unix(&echo_sock))
        .unwrap();
    assert_eq!(f1.local_path(), Some(l1.as_path()));
    // Only its owner may connect (ssh's `StreamLocalBindMask 0177`).
    let mode = std::fs::metadata(&l1).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    echo_round(&mut UnixStream::connect(&l1).unwrap(), b"unix to unix");
    // Local TCP -> remote UNIX.
    let f2 = c
        .forward_local_to(Endpoint::tcp("127.0.0.1", 0), Endpoint::unix(&echo_sock))
        .unwrap();
    echo_round(
        &mut TcpStream::connect(f2.local_addr().unwrap()).unwrap(),
        &vec![3u8; 200_000],
    );
    // Local UNIX -> remote TCP.
    let l3 = dir.path().join("l3.sock");
    let f3 = c
        .forward_local_to(Endpoint::unix(&l3), Endpoint::tcp("127.0.0.1", echo_port))
        .unwrap();
    echo_round(&mut UnixStream::connect(&l3).unwrap(), b"unix to tcp");
    // A single direct-streamlocal channel.
    let ch = c.direct_streamlocal(echo_sock.to_str().unwrap()).unwrap();
    ch.stdin().write_all(b"channel").unwrap();
    let mut got = [0u8; 7];
    ch.stdout().read_exact(&mut got).unwrap();
    assert_eq!(&got, b"channel");
    drop(ch);

    // Remote UNIX -> local TCP (streamlocal-forward@openssh.com). A stale file is
    // replaced (StreamLocalBindUnlink).
    let r1 = dir.path().join("r1.sock");
    std::fs::write(&r1, b"stale").unwrap();
    let g1 = c
        .forward_remote_to(Endpoint::unix(&r1), Endpoint::tcp("127.0.0.1", echo_port))
        .unwrap();
    assert_eq!(g1.remote_addr(), Endpoint::unix(&r1));
    assert_eq!(g1.remote_port(), None);
    echo_round(
        &mut UnixStream::connect(&r1).unwrap(),
        b"remote unix to tcp",
    );
    // Remote UNIX -> local UNIX.
    let r2 = dir.path().join("r2.sock");
    let g2 = c
        .forward_remote_to(Endpoint::unix(&r2), Endpoint::unix(&echo_sock))
        .unwrap();
    echo_round(
        &mut UnixStream::connect(&r2).unwrap(),
        b"remote unix to unix",
    );
    // Remote TCP -> local UNIX.
    let g3 = c
        .forward_remote_to(Endpoint::tcp("127.0.0.1", 0), Endpoint::unix(&echo_sock))
        .unwrap();
    let port = g3.remote_port().unwrap();
    echo_round(
        &mut TcpStream::connect(("127.0.0.1", port)).unwrap(),
        b"remote tcp to unix",
    );

    // Closing: local listeners are gone (and their socket files removed), remote ones
    // cancelled.
    f1.close();
    assert!(!l1.exists());
    assert!(UnixStream::connect(&l1).is_err());
    // A socket put at the path since is not ours to remove.
    std::fs::remove_file(&l3).unwrap();
    let _successor = std::os::unix::net::UnixListener::bind(&l3).unwrap();
    let a2 = f2.local_addr().unwrap();
    f2.close();
    assert!(TcpStream::connect(a2).is_err());
    f3.close();
    assert!(
        l3.exists(),
        "closing a forward removed a socket it did not bind"
    );
    g1.close().unwrap();
    assert!(UnixStream::connect(&r1).is_err());
    g2.close().unwrap();
    assert!(UnixStream::connect(&r2).is_err());
    g3.close().unwrap();
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    // A forwarding to a socket path the server cannot bind is refused.
    let r = c.forward_remote_to(
        Endpoint::unix(dir.path().join("no/such/dir.sock")),
        Endpoint::unix(&echo_sock),
    );
    assert!(matches!(r, Err(Error::Refused(_))), "{r:?}");
    assert_eq!(c.run("exit 0").unwrap().exit_status, Some(0));
}

#[test]
fn agent_authentication_and_forwarding() {
    let agent = agent_with_key();
    let sshd = Sshd::builder()
        .authorized_key(agent.public.trim())
        .start()
        .unwrap();
    let base = || {
        ClientConfig::new(&user()).host_key(HostKeyPolicy::KnownHosts(sshd.known_hosts().unwrap()))
    };
    // Without the agent there is no key to log in with.
    let r = connect("127.0.0.1", sshd.port(), base());
    assert!(matches!(r, Err(Error::Ssh(whelk::Error::Auth(_)))), "{r:?}");
    // The agent signs.
    let c = connect("127.0.0.1", sshd.port(), base().agent(&agent.sock)).unwrap();
    assert_eq!(c.run("exit 0").unwrap().exit_status, Some(0));
    // Not forwarded: the session has no agent.
    let out = c.run("ssh-add -l; echo \"sock=$SSH_AUTH_SOCK\"").unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("sock=\n"), "{text}");
    c.disconnect();
    // Forwarded: ssh-add on the server lists the agent's key through our connection.
    let c = connect(
        "127.0.0.1",
        sshd.port(),
        base().agent(&agent.sock).forward_agent(&agent.sock),
    )
    .unwrap();
    let out = c.run("ssh-add -l").unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("agent-only-key (ED25519)"),
        "{text:?} {:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.exit_status, Some(0));
    // The forwarded agent signs too: ssh on the server logs in to sshd with it.
    let known = sshd.dir().join("known_hosts_for_hop");
    std::fs::write(&known, sshd.known_hosts().unwrap()).unwrap();
    let hop = format!(
        "ssh -F /dev/null -o BatchMode=yes -o UserKnownHostsFile={} -p {} {}@127.0.0.1 echo signed-remotely",
        known.display(),
        sshd.port(),
        user()
    );
    let out = c.run(&hop).unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("signed-remotely"),
        "{:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    // SSH_AUTH_SOCK not reachable: agent() fails, agent_from_env() style is skipped.
    let missing = agent.sock.with_file_name("missing.sock");
    let r = connect("127.0.0.1", sshd.port(), base().agent(&missing));
    assert!(matches!(r, Err(Error::Io(_))), "{r:?}");
    c.disconnect();
}

#[test]
fn proxy_jump_through_sshd_to_another_sshd() {
    let jump = sshd();
    let target = sshd();
    let first = client(&jump);
    let inner = first
        .jump("127.0.0.1", target.port(), config(&target))
        .unwrap();
    let out = inner.run("echo through; exit 7").unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "through\n");
    assert_eq!(out.exit_status, Some(7));
    // Bulk data both ways over the nested connection.
    let s = inner.exec("cat").unwrap();
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
    let got = pipe_through(&s, &data);
    assert!(got == data);
    // A second hop on the same jump connection, chained through the inner one.
    let twice = inner.jump("127.0.0.1", jump.port(), config(&jump)).unwrap();
    assert_eq!(twice.run("exit 3").unwrap().exit_status, Some(3));
    twice.disconnect();
    // The target's host key is checked for the jump target's name.
    let wrong = config(&target).host_key(HostKeyPolicy::KnownHosts(jump.known_hosts().unwrap()));
    let r = first.jump("127.0.0.1", target.port(), wrong);
    assert!(matches!(r, Err(Error::HostKey(_))), "{r:?}");
    // Ending the jump connection ends the inner one.
    first.disconnect();
    let why = inner.wait_closed();
    assert!(!why.is_empty());
    assert!(inner.run("true").is_err());
}
