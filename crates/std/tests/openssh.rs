//! The whelk-std client against a private OpenSSH `sshd` on loopback. Fails (never skips)
//! when OpenSSH is not installed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use whelk::PrivateKey;
use whelk_std::*;

mod common;
use common::{client, pipe_through, sshd, user, user_key};

#[test]
fn run_collects_stdout_stderr_exit_status_and_signal() {
    let sshd = sshd();
    let c = client(&sshd);
    let out = c.run("echo hi; echo err >&2; exit 3").unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
    // sshd at LogLevel DEBUG1 also sends its session debug lines to stderr.
    assert!(String::from_utf8_lossy(&out.stderr).ends_with("err\n"));
    assert_eq!(out.exit_status, Some(3));
    assert_eq!(out.exit_signal, None);
    let out = c.run("kill -TERM $$").unwrap();
    assert_eq!(out.exit_signal.as_deref(), Some("TERM"));
    assert_eq!(out.exit_status, None);
    // A time limit closes the channel; the connection goes on.
    let r = c.run_timeout("sleep 10", Some(Duration::from_millis(300)));
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    assert_eq!(c.run("exit 4").unwrap().exit_status, Some(4));
    c.disconnect();
    assert!(!c.is_connected());
    assert!(c.run("true").is_err());
}

#[test]
fn stdin_piped_through_cat_with_back_pressure() {
    let sshd = sshd();
    let c = client(&sshd);
    // Larger than a channel window (2 MiB) in both directions.
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let s = c.exec("cat; echo done >&2").unwrap();
    let got = pipe_through(&s, &data);
    assert_eq!(got.len(), data.len());
    assert!(got == data);
    let mut err = String::new();
    s.stderr().read_to_string(&mut err).unwrap();
    assert!(err.ends_with("done\n"), "{err:?}");
    assert_eq!(s.wait().unwrap().status, Some(0));
}

#[test]
fn sessions_from_many_threads_at_once() {
    let sshd = sshd();
    let c = client(&sshd);
    let threads: Vec<_> = (0..6)
        .map(|i| {
            let c = c.clone();
            std::thread::spawn(move || {
                let out = c
                    .run(&format!("echo n{i}; head -c 100000 /dev/zero; exit {i}"))
                    .unwrap();
                (i, out)
            })
        })
        .collect();
    for t in threads {
        let (i, out) = t.join().unwrap();
        assert!(out.stdout.starts_with(format!("n{i}\n").as_bytes()));
        assert_eq!(out.stdout.len(), 3 + 100_000);
        assert_eq!(out.exit_status, Some(u32::try_from(i).unwrap()));
    }
}

#[test]
fn pty_window_change_and_shell() {
    let sshd = sshd();
    let c = client(&sshd);
    let s = c.session().unwrap();
    s.request_pty("xterm", 100, 30).unwrap();
    s.window_change(120, 40).unwrap();
    s.exec("stty size; tty").unwrap();
    let out = s.collect().unwrap();
    // With a pty, sshd's debug lines share stdout.
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains("40 120"), "{text:?}");
    assert!(text.contains("/dev/pts/"), "{text:?}");
    assert_eq!(out.exit_status, Some(0));

    // A shell fed through stdin.
    let s = c.shell().unwrap();
    let mut stdin = s.stdin();
    stdin.write_all(b"echo from-shell\nexit 6\n").unwrap();
    stdin.send_eof().unwrap();
    let out = s.collect().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("from-shell"));
    assert_eq!(out.exit_status, Some(6));
}

#[test]
fn known_hosts_file_modes() {
    let sshd = sshd();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sub").join("known_hosts");
    let base = || ClientConfig::new(&user()).key(user_key());

    // yes: an unknown host is refused, the file stays untouched.
    let r = connect(
        "127.0.0.1",
        sshd.port(),
        base().host_key(HostKeyPolicy::known_hosts_file(&file)),
    );
    assert!(matches!(r, Err(Error::HostKey(_))), "{r:?}");
    assert!(!file.exists());

    // accept-new: recorded, then trusted by `yes`.
    let c = connect(
        "127.0.0.1",
        sshd.port(),
        base().host_key(HostKeyPolicy::known_hosts_file_with(
            &file,
            StrictHostKeyChecking::AcceptNew,
        )),
    )
    .unwrap();
    c.disconnect();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with(&format!("[127.0.0.1]:{} ssh-ed25519 ", sshd.port())),
        "{text}"
    );
    let c = connect(
        "127.0.0.1",
        sshd.port(),
        base().host_key(HostKeyPolicy::known_hosts_file(&file)),
    )
    .unwrap();
    assert_eq!(c.run("exit 0").unwrap().exit_status, Some(0));
    c.disconnect();

    // A changed key is refused by accept-new; `no` lets it through.
    let other = PrivateKey::ed25519_from_seed(&[99; 32]);
    std::fs::write(
        &file,
        format!(
            "[127.0.0.1]:{} {}\n",
            sshd.port(),
            other.public_key().to_openssh("")
        ),
    )
    .unwrap();
    let r = connect(
        "127.0.0.1",
        sshd.port(),
        base().host_key(HostKeyPolicy::known_hosts_file_with(
            &file,
            StrictHostKeyChecking::AcceptNew,
        )),
    );
    match r {
        Err(Error::HostKey(why)) => assert!(why.contains("differs"), "{why}"),
        other => panic!("{other:?}"),
    }
    let c = connect(
        "127.0.0.1",
        sshd.port(),
        base().host_key(HostKeyPolicy::known_hosts_file_with(
            &file,
            StrictHostKeyChecking::No,
        )),
    )
    .unwrap();
    c.disconnect();
    // Revoked keys are refused whatever the mode.
    let key_line = sshd.known_hosts().unwrap();
    let key_part = key_line.split_once(' ').unwrap().1;
    std::fs::write(&file, format!("@revoked * {key_part}\n")).unwrap();
    let r = connect(
        "127.0.0.1",
        sshd.port(),
        base().host_key(HostKeyPolicy::known_hosts_file_with(
            &file,
            StrictHostKeyChecking::No,
        )),
    );
    assert!(matches!(r, Err(Error::HostKey(_))), "{r:?}");

    // A callback sees the key.
    let seen = Arc::new(Mutex::new(None));
    let s2 = seen.clone();
    let cb: HostKeyCallback = Arc::new(move |info: &HostKeyInfo| {
        *s2.lock().unwrap() = Some((info.algorithm.clone(), info.port));
        true
    });
    let c = connect(
        "127.0.0.1",
        sshd.port(),
        base().host_key(HostKeyPolicy::Callback(cb)),
    )
    .unwrap();
    assert_eq!(
        seen.lock().unwrap().clone(),
        Some(("ssh-ed25519".to_string(), sshd.port()))
    );
    c.disconnect();
}

#[test]
fn wrong_key_fails_to_authenticate() {
    let sshd = sshd();
    let config = ClientConfig::new(&user())
        .key(PrivateKey::ed25519_from_seed(&[5; 32]))
        .host_key(HostKeyPolicy::KnownHosts(sshd.known_hosts().unwrap()));
    let r = connect("127.0.0.1", sshd.port(), config);
    assert!(matches!(r, Err(Error::Ssh(whelk::Error::Auth(_)))), "{r:?}");
}

/// A TCP service only "the server side" reaches: it answers with the bytes reversed.
fn reverse_service() -> u16 {
    let svc = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = svc.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for sock in svc.incoming() {
            let mut sock = sock.unwrap();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                sock.read_to_end(&mut buf).unwrap();
                buf.reverse();
                sock.write_all(&buf).unwrap();
            });
        }
    });
    port
}

fn round_trip(addr: std::net::SocketAddr, msg: &str) {
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.write_all(msg.as_bytes()).unwrap();
    sock.shutdown(std::net::Shutdown::Write).unwrap();
    let mut back = Vec::new();
    sock.read_to_end(&mut back).unwrap();
    let want: String = msg.chars().rev().collect();
    assert_eq!(String::from_utf8_lossy(&back), want);
}

#[test]
fn local_and_remote_port_forwarding_through_sshd() {
    let sshd = sshd();
    let svc_port = reverse_service();
    let c = client(&sshd);
    // ssh -L
    let local = c
        .forward_local("127.0.0.1:0", "127.0.0.1", svc_port)
        .unwrap();
    let laddr = local.local_addr().unwrap();
    // ssh -R with port 0: sshd picks and reports the port.
    let remote = c
        .forward_remote("127.0.0.1", 0, "127.0.0.1", svc_port)
        .unwrap();
    assert_ne!(remote.remote_port().unwrap(), 0);
    let raddr: std::net::SocketAddr = format!("127.0.0.1:{}", remote.remote_port().unwrap())
        .parse()
        .unwrap();
    // Several at once, both ways.
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let addr = if i % 2 == 0 { laddr } else { raddr };
            std::thread::spawn(move || {
                round_trip(addr, &format!("forwarded {i} {}", "x".repeat(i * 10000)))
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Closing the handles stops both.
    local.close();
    assert!(TcpStream::connect(laddr).is_err());
    remote.close().unwrap();
    assert!(TcpStream::connect(raddr).is_err());
    assert_eq!(c.run("exit 0").unwrap().exit_status, Some(0));
    c.disconnect();
}
