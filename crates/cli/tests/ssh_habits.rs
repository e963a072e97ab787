//! `whelk ssh` with OpenSSH's habits, against test-started OpenSSH servers: user
//! certificates (`CertificateFile`, `id_*-cert.pub`), `-G`, `-W`, `-f -N`, config files
//! with `Host`/`Match`/`Include`, quiet host key additions with `LogLevel ERROR`/`-q`, a
//! stale `SSH_AUTH_SOCK`, and known host key algorithms first (an ECDSA-only server).
//! Fails (never skips) without OpenSSH.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::{Home, dest, me, run, s, ssh_keygen, text};
use whelk_test::openssh::{self, HostKeyType, Sshd};

mod common;

#[test]
fn user_certificates_from_certificate_file_and_next_to_the_identity() {
    let home = Home::new();
    let dir = home.path();
    let ca = dir.join("user_ca");
    ssh_keygen(&["-q", "-t", "ed25519", "-N", "", "-f", s(&ca)]);
    let ca_pub = dir.join("user_ca.pub");
    // No authorized key: only a certificate by the CA gets in.
    let sshd = Sshd::builder()
        .option("TrustedUserCAKeys", s(&ca_pub))
        .start()
        .unwrap();
    home.trust(&sshd);
    let p = sshd.port().to_string();
    let out = run(
        {
            let mut c = home.cmd();
            c.args(["-o", "BatchMode=yes", "-p", &p, &dest(), "echo in"]);
            c
        },
        b"",
    );
    assert_eq!(out.status.code(), Some(255), "no certificate yet");
    // ~/.ssh/id_ed25519-cert.pub, made by ssh-keygen -s, is used with the identity.
    let key_pub = dir.join(".ssh").join("id_ed25519.pub");
    ssh_keygen(&[
        "-q",
        "-s",
        s(&ca),
        "-I",
        "cert-id",
        "-n",
        &me(),
        s(&key_pub),
    ]);
    assert!(dir.join(".ssh").join("id_ed25519-cert.pub").exists());
    let mut c = home.cmd();
    c.args([
        "-o",
        "BatchMode=yes",
        "-p",
        &p,
        &dest(),
        "echo default-cert",
    ]);
    let out = run(c, b"");
    assert_eq!(text(&out.stdout), "default-cert\n", "{}", text(&out.stderr));
    common::assert_logged(|| sshd.stderr_log(), "cert-id");
    // An identity elsewhere with CertificateFile naming its certificate.
    let other = dir.join("other");
    std::fs::create_dir(&other).unwrap();
    for f in ["id_ed25519", "id_ed25519-cert.pub"] {
        std::fs::rename(dir.join(".ssh").join(f), other.join(f)).unwrap();
    }
    std::fs::rename(other.join("id_ed25519"), other.join("key")).unwrap();
    std::fs::rename(other.join("id_ed25519-cert.pub"), other.join("the-cert")).unwrap();
    let mut c = home.cmd();
    c.args(["-o", "BatchMode=yes", "-i", s(&other.join("key"))])
        .args([
            "-o",
            &format!("CertificateFile={}", s(&other.join("the-cert"))),
        ])
        .args(["-p", &p, &dest(), "echo certificate-file"]);
    let out = run(c, b"");
    assert_eq!(
        text(&out.stdout),
        "certificate-file\n",
        "{}",
        text(&out.stderr)
    );
    // Without it, the key alone is refused.
    let mut c = home.cmd();
    c.args(["-o", "BatchMode=yes", "-i", s(&other.join("key"))])
        .args(["-p", &p, &dest(), "true"]);
    assert_eq!(run(c, b"").status.code(), Some(255));
}

#[test]
fn log_level_error_and_q_hide_permanently_added() {
    let home = Home::new();
    let sshd = home.sshd();
    let p = sshd.port().to_string();
    for quiet in [&["-o", "LogLevel=ERROR"][..], &["-q"][..], &[][..]] {
        let _ = std::fs::remove_file(home.known_hosts());
        let mut c = home.cmd();
        c.args(quiet)
            .args(["-o", "StrictHostKeyChecking=accept-new", "-p", &p, &dest()])
            .arg("echo ok");
        let out = run(c, b"");
        assert_eq!(text(&out.stdout), "ok\n", "{}", text(&out.stderr));
        let warned = text(&out.stderr).contains("Permanently added");
        assert_eq!(warned, quiet.is_empty(), "{quiet:?}: {}", text(&out.stderr));
        // The key was added either way.
        assert!(
            std::fs::read_to_string(home.known_hosts())
                .unwrap()
                .contains("ssh-ed25519")
        );
    }
}

#[test]
fn unreachable_agent_socket_is_skipped() {
    let home = Home::new();
    let sshd = home.sshd();
    home.trust(&sshd);
    // A socket file nobody listens on any more, and a path that does not exist.
    let stale = home.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    for sock in [stale, home.path().join("missing.sock")] {
        let mut c = home.cmd();
        c.env("SSH_AUTH_SOCK", &sock).args([
            "-p",
            &sshd.port().to_string(),
            &dest(),
            "echo no-agent",
        ]);
        let out = run(c, b"");
        assert_eq!(text(&out.stdout), "no-agent\n", "{}", text(&out.stderr));
        assert!(!text(&out.stderr).to_lowercase().contains("agent"));
    }
}

#[test]
fn known_ecdsa_host_key_goes_first_with_an_ecdsa_only_server() {
    let home = Home::new();
    let sshd = Sshd::builder()
        .host_key(HostKeyType::EcdsaP256)
        .authorized_key(home.pub_line.trim())
        .start()
        .unwrap();
    let p = sshd.port().to_string();
    // Nothing known: the defaults have no ECDSA, so there is no common algorithm.
    let mut c = home.cmd();
    c.args([
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
    ])
    .args(["-p", &p, &dest(), "true"]);
    let out = run(c, b"");
    assert_eq!(out.status.code(), Some(255), "{}", text(&out.stderr));
    // known_hosts has the ECDSA key: ecdsa-sha2-nistp256 first, and the login works.
    home.trust(&sshd);
    assert!(sshd.known_hosts().unwrap().contains("ecdsa-sha2-nistp256"));
    let mut c = home.cmd();
    c.args(["-G", "-p", &p, &dest()]);
    let g = text(&run(c, b"").stdout);
    assert!(
        g.lines()
            .any(|l| l.starts_with("hostkeyalgorithms ecdsa-sha2-nistp256,ssh-ed25519")),
        "{g}"
    );
    let mut c = home.cmd();
    c.args([
        "-o",
        "StrictHostKeyChecking=yes",
        "-p",
        &p,
        &dest(),
        "echo ecdsa",
    ]);
    let out = run(c, b"");
    assert_eq!(text(&out.stdout), "ecdsa\n", "{}", text(&out.stderr));
    // An explicit HostKeyAlgorithms is left as it is (as OpenSSH does).
    let mut c = home.cmd();
    c.args([
        "-o",
        "HostKeyAlgorithms=ssh-ed25519",
        "-G",
        "-p",
        &p,
        &dest(),
    ]);
    let g = text(&run(c, b"").stdout);
    assert!(g.contains("\nhostkeyalgorithms ssh-ed25519\n"), "{g}");
}

/// A config file with `Include` (a glob), `Host`, `Match host ... exec` and
/// `Match user`; returns its path.
fn write_config(home: &Home, port: u16) -> PathBuf {
    let dir = home.path();
    let conf_d = dir.join("conf.d");
    std::fs::create_dir_all(&conf_d).unwrap();
    let marker = dir.join("marker");
    std::fs::write(
        conf_d.join("10-box.conf"),
        format!(
            "Host box\n  Hostname 127.0.0.1\n  User {}\n  RemoteCommand echo from-config\n",
            me()
        ),
    )
    .unwrap();
    std::fs::write(conf_d.join("ignored.txt"), "Host *\n  Port 9\n").unwrap();
    let cfg = dir.join("config");
    std::fs::write(
        &cfg,
        format!(
            "Include {}/*.conf\n\
             Match host 127.0.0.1 exec \"test -e {}\"\n  Port {port}\n\
             Match user {}\n  IdentityFile {}/moved_key\n  ConnectTimeout 17\n\
             Host *\n  IdentitiesOnly yes\n",
            s(&conf_d),
            s(&marker),
            me(),
            s(dir),
        ),
    )
    .unwrap();
    cfg
}

#[test]
fn config_file_with_host_match_and_include() {
    let home = Home::new();
    let sshd = home.sshd();
    home.trust(&sshd);
    let dir = home.path();
    // The identity is only where the Match user block says.
    std::fs::rename(dir.join(".ssh").join("id_ed25519"), dir.join("moved_key")).unwrap();
    let cfg = write_config(&home, sshd.port());
    let with_cfg = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_whelk"));
        c.arg("ssh")
            .env("HOME", dir)
            .env_remove("SSH_AUTH_SOCK")
            .arg("-F")
            .arg(&cfg);
        c
    };
    // Match exec is false while the marker is missing: no Port, so 22.
    let mut c = with_cfg();
    c.args(["-G", "box"]);
    let g = text(&run(c, b"").stdout);
    assert!(g.contains("\nport 22\n"), "{g}");
    std::fs::write(dir.join("marker"), "").unwrap();
    // -G agrees with ssh -G on what the file sets.
    let mut c = with_cfg();
    c.args(["-G", "box"]);
    let ours = text(&run(c, b"").stdout);
    let theirs = Command::new(openssh::find("ssh").unwrap())
        .env("HOME", dir)
        .arg("-F")
        .arg(&cfg)
        .args(["-G", "box"])
        .output()
        .unwrap();
    let theirs = text(&theirs.stdout);
    for key in [
        "user",
        "hostname",
        "port",
        "identityfile",
        "connecttimeout",
        "identitiesonly",
        "remotecommand",
    ] {
        let pick = |t: &str| -> Vec<String> {
            t.lines()
                .filter(|l| l.split(' ').next() == Some(key))
                .map(String::from)
                .collect()
        };
        assert_eq!(pick(&ours), pick(&theirs), "{key}\n{ours}");
        assert!(!pick(&ours).is_empty(), "{key}");
    }
    assert!(
        ours.contains(&format!("\nport {}\n", sshd.port())),
        "{ours}"
    );
    // The connection uses them all: port, user, identity, remote command.
    let out = run(
        {
            let mut c = with_cfg();
            c.arg("box");
            c
        },
        b"",
    );
    assert_eq!(text(&out.stdout), "from-config\n", "{}", text(&out.stderr));
    // -o wins over the file.
    let mut c = with_cfg();
    c.args(["-o", "RemoteCommand=echo from-o", "box"]);
    let out = run(c, b"");
    assert_eq!(text(&out.stdout), "from-o\n", "{}", text(&out.stderr));
}

/// A TCP server on loopback that answers each connection with everything it read,
/// upper-cased, once the client has finished writing.
fn upper_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = conn.read_to_end(&mut buf);
                let _ = conn.write_all(&buf.to_ascii_uppercase());
            });
        }
    });
    port
}

#[test]
fn stdio_forwarding_with_w() {
    let home = Home::new();
    let sshd = home.sshd();
    home.trust(&sshd);
    let target = upper_server();
    let mut c = home.cmd();
    c.args(["-p", &sshd.port().to_string(), "-W"])
        .arg(format!("127.0.0.1:{target}"))
        .arg(dest());
    let out = run(c, b"through the tunnel");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "THROUGH THE TUNNEL");
    // As a ProxyCommand for OpenSSH's ssh.
    let proxy = format!(
        "env HOME={} {} ssh -F none -p {} -W %h:%p {}",
        s(home.path()),
        env!("CARGO_BIN_EXE_whelk"),
        sshd.port(),
        dest()
    );
    let out = Command::new(openssh::find("ssh").unwrap())
        .env("HOME", home.path())
        .env_remove("SSH_AUTH_SOCK")
        .args([
            "-F",
            "none",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-i",
        ])
        .arg(home.path().join(".ssh").join("id_ed25519"))
        .arg("-o")
        .arg(format!("ProxyCommand={proxy}"))
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", s(&home.known_hosts())))
        .args(["-p", &sshd.port().to_string(), &dest(), "echo via-w"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "via-w\n", "{}", text(&out.stderr));
    // A port nobody listens on: the open fails, 255.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut c = home.cmd();
    c.args(["-p", &sshd.port().to_string(), "-W"])
        .arg(format!("127.0.0.1:{closed_port}"))
        .arg(dest());
    let out = run(c, b"");
    assert_eq!(out.status.code(), Some(255));
    assert!(
        text(&out.stderr).contains("stdio forwarding failed"),
        "{}",
        text(&out.stderr)
    );
}

/// The process ids of background `whelk ssh` children whose command line contains `tag`.
fn background_children(tag: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let env = std::fs::read(e.path().join("environ")).unwrap_or_default();
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let has = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
        if has(&env, b"WHELK_SSH_BACKGROUND=1") && has(&cmd, tag.as_bytes()) {
            out.push(pid);
        }
    }
    out
}

#[test]
fn fork_after_authentication_with_n() {
    let home = Home::new();
    let sshd = home.sshd();
    home.trust(&sshd);
    let target = upper_server();
    let lport = openssh::free_port().unwrap();
    let spec = format!("{lport}:127.0.0.1:{target}");
    let mut c = home.cmd();
    c.args([
        "-f",
        "-N",
        "-p",
        &sshd.port().to_string(),
        "-L",
        &spec,
        &dest(),
    ]);
    let out = run(c, b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // The parent has exited; the forwarding is up in the background.
    let mut conn = TcpStream::connect(("127.0.0.1", lport)).unwrap();
    conn.write_all(b"background").unwrap();
    conn.shutdown(std::net::Shutdown::Write).unwrap();
    let mut got = String::new();
    conn.read_to_string(&mut got).unwrap();
    assert_eq!(got, "BACKGROUND");
    let pids = background_children(&spec);
    assert_eq!(pids.len(), 1);
    for pid in pids {
        let _ = Command::new("kill").arg(pid.to_string()).status();
    }
    // Without -N: a clear error, as whelk cannot fork after authenticating.
    let mut c = home.cmd();
    c.args(["-f", "-p", &sshd.port().to_string(), &dest(), "true"]);
    let out = run(c, b"");
    assert_eq!(out.status.code(), Some(255));
    assert!(text(&out.stderr).contains("-N"), "{}", text(&out.stderr));
    // A failing login is reported by the foreground process.
    let mut c = home.cmd();
    c.args(["-f", "-N", "-o", "BatchMode=yes", "-l", "nobody-here"])
        .args(["-p", &sshd.port().to_string(), "127.0.0.1"]);
    let out = run(c, b"");
    assert_eq!(out.status.code(), Some(255));
    assert!(
        text(&out.stderr).contains("Permission denied"),
        "{}",
        text(&out.stderr)
    );
}
