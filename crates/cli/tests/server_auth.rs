//! `whelk server` authentication with OpenSSH clients: keys from authorized_keys (wrong key,
//! `from=`, other users refused), passwords from `--passwd-file` (password and
//! keyboard-interactive through sshpass), and the host key generated on first run.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::{Fixture, RUN, me, run_with_input};
use whelk_test::openssh;

#[test]
fn wrong_key_is_refused() {
    let f = Fixture::new();
    let other = f.path("other_key");
    common::keygen(&other, "ed25519");
    let server = f.start(&[]);
    let out = server.ssh(&other).remote_command("true").run(RUN).unwrap();
    common::assert_denied(&out);
    server.assert_logged("refused publickey");
    // The right key still works.
    let ok = server
        .ssh(&f.key())
        .remote_command("echo ok")
        .run(RUN)
        .unwrap();
    assert_eq!(ok.stdout_str(), "ok\n");
}

#[test]
fn other_users_are_refused() {
    let f = Fixture::new();
    let server = f.start(&[]);
    let user = if me() == "nobody" { "root" } else { "nobody" };
    let out = server
        .ssh(&f.key())
        .user(user)
        .remote_command("true")
        .run(RUN)
        .unwrap();
    common::assert_denied(&out);
}

#[test]
fn from_option_refuses_other_addresses() {
    let f = Fixture::new();
    f.authorize("from=\"10.9.9.9\"");
    let server = f.start(&[]);
    let out = server
        .ssh(&f.key())
        .remote_command("true")
        .run(RUN)
        .unwrap();
    assert_eq!(out.status.code(), Some(255), "{}", out.stdout_str());
    assert!(
        out.stderr_str().contains("Permission denied"),
        "{}",
        out.stderr_str()
    );

    // Admitted from loopback.
    f.authorize("from=\"127.0.0.0/8\"");
    let out = server
        .ssh(&f.key())
        .remote_command("echo in")
        .run(RUN)
        .unwrap();
    assert_eq!(out.stdout_str(), "in\n", "{}", out.stderr_str());
}

fn password_hash(password: &str) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_whelk"));
    cmd.args(["server", "--hash-password"]);
    let (code, out, err) = run_with_input(cmd, format!("{password}\n").as_bytes());
    assert_eq!(code, Some(0), "{err}");
    let hash = out.trim().to_owned();
    assert!(hash.starts_with("$6$"), "{hash}");
    hash
}

fn sshpass_ssh(
    server: &common::Server,
    password: &str,
    method: &str,
    command: &str,
) -> openssh::Output {
    let mut cmd = Command::new(openssh::find("sshpass").unwrap());
    cmd.arg("-p")
        .arg(password)
        .arg(openssh::find("ssh").unwrap());
    let args = openssh::Ssh::new(server.addr)
        .user(me())
        .option("BatchMode", "no")
        .option("PreferredAuthentications", method)
        .option("PubkeyAuthentication", "no")
        .option("NumberOfPasswordPrompts", "1")
        .option("LogLevel", "ERROR")
        .remote_command(command)
        .args();
    cmd.args(args);
    openssh::run(cmd, RUN).unwrap()
}

#[test]
fn password_and_keyboard_interactive_from_passwd_file() {
    let f = Fixture::new();
    let passwd = f.path("passwd");
    std::fs::write(
        &passwd,
        format!(
            "# whelk server passwords\nsomeone-else:{}\n{}:{}\n",
            password_hash("not mine"),
            me(),
            password_hash("correct horse")
        ),
    )
    .unwrap();
    let server = f.start(&["--passwd-file", passwd.to_str().unwrap()]);

    let out = sshpass_ssh(&server, "correct horse", "password", "echo pw-ok");
    assert_eq!(
        out.stdout_str(),
        "pw-ok\n",
        "{}\n{}",
        out.stderr_str(),
        server.log()
    );

    let out = sshpass_ssh(&server, "wrong horse", "password", "echo no");
    assert_ne!(out.status.code(), Some(0));
    assert!(out.stdout_str().is_empty());

    let out = sshpass_ssh(
        &server,
        "correct horse",
        "keyboard-interactive",
        "echo kbd-ok",
    );
    assert_eq!(
        out.stdout_str(),
        "kbd-ok\n",
        "{}\n{}",
        out.stderr_str(),
        server.log()
    );

    server.assert_logged("accepted password for");
    server.assert_logged("failed password for");
    server.assert_logged("accepted keyboard-interactive for");
}

#[test]
fn password_auth_is_off_without_a_passwd_file() {
    let f = Fixture::new();
    let server = f.start(&[]);
    let out = sshpass_ssh(&server, "anything", "password", "true");
    assert_ne!(out.status.code(), Some(0));
    // Only publickey is offered.
    assert!(
        out.stderr_str().contains("Permission denied (publickey)."),
        "{}",
        out.stderr_str()
    );
}

fn fingerprint_in(log: &str) -> String {
    let line = log
        .lines()
        .find(|l| l.contains("host key ssh-ed25519 SHA256:"))
        .unwrap_or_else(|| panic!("no host key line in\n{log}"));
    let at = line.find("SHA256:").unwrap();
    line[at..].split_whitespace().next().unwrap().to_owned()
}

#[test]
fn host_key_is_generated_once_and_reused() {
    let f = Fixture::new();
    let args = || {
        vec![
            "--authorized-keys".into(),
            f.authorized_keys().into_os_string(),
        ]
    };
    let key_path = f.home().join(".local/state/whelk/ssh_host_ed25519_key");
    assert!(!key_path.exists());

    let first = f.start_raw(args());
    let out = first
        .ssh(&f.key())
        .remote_command("echo one")
        .run(RUN)
        .unwrap();
    assert_eq!(out.stdout_str(), "one\n", "{}", out.stderr_str());
    let log1 = first.stop();
    assert!(log1.contains("generated a new host key"), "{log1}");
    let fp1 = fingerprint_in(&log1);

    let mode = std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // ssh-keygen agrees on the fingerprint.
    let kg = Command::new(openssh::find("ssh-keygen").unwrap())
        .arg("-lf")
        .arg(&key_path)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&kg.stdout).contains(&fp1));

    let second = f.start_raw(args());
    // ssh-keyscan sees the same key.
    let scan = Command::new(openssh::find("ssh-keyscan").unwrap())
        .args(["-t", "ed25519", "-p"])
        .arg(second.addr.port().to_string())
        .arg("127.0.0.1")
        .output()
        .unwrap();
    let scanned = String::from_utf8_lossy(&scan.stdout).into_owned();
    let public = std::fs::read_to_string(key_path.with_extension("pub")).unwrap();
    let blob = public.split_whitespace().nth(1).unwrap();
    assert!(scanned.contains(blob), "keyscan: {scanned:?}");
    let log2 = second.stop();
    assert!(!log2.contains("generated a new host key"), "{log2}");
    assert_eq!(fingerprint_in(&log2), fp1);
}

#[test]
fn xdg_state_home_is_used_when_set() {
    let f = Fixture::new();
    let state = f.path("state");
    let port = openssh::free_port().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_whelk"));
    cmd.arg("server")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--authorized-keys")
        .arg(f.authorized_keys())
        .env("HOME", f.home())
        .env("XDG_STATE_HOME", &state);
    let mut guard = openssh::ChildGuard::spawn(&mut cmd).unwrap();
    let key = state.join("whelk/ssh_host_ed25519_key");
    let start = std::time::Instant::now();
    while !key.exists() {
        assert!(start.elapsed() < common::READY, "{}", guard.stderr_str());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    guard.kill();
}

/// Signs `key`'s public half with `ca` for `principals`; returns the certificate path.
fn certify(ca: &std::path::Path, key: &std::path::Path, principals: &str) -> std::path::PathBuf {
    let out = Command::new(openssh::find("ssh-keygen").unwrap())
        .arg("-q")
        .arg("-s")
        .arg(ca)
        .args(["-I", "test-cert", "-n", principals, "-V", "-5m:+1h"])
        .arg(key.with_extension("pub"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let cert = std::path::PathBuf::from(format!("{}-cert.pub", key.display()));
    assert!(cert.exists());
    cert
}

#[test]
fn user_certificates_from_trusted_cas_and_cert_authority_lines() {
    let f = Fixture::new();
    let ca = f.path("ca");
    common::keygen(&ca, "ed25519");
    f.set_authorized_keys("");
    let ca_pub = ca.with_extension("pub");
    let server = f.start(&["-o", &format!("TrustedUserCAKeys={}", ca_pub.display())]);

    // A certificate for this user, signed by the trusted CA.
    let mine = f.path("mine");
    common::keygen(&mine, "ed25519");
    certify(&ca, &mine, &me());
    let out = server
        .ssh(&mine)
        .remote_command("echo cert-ok")
        .run(RUN)
        .unwrap();
    assert_eq!(
        out.stdout_str(),
        "cert-ok\n",
        "{}\n{}",
        out.stderr_str(),
        server.log()
    );
    server.assert_logged("certificate ssh-ed25519");

    // A certificate for another principal is refused.
    let theirs = f.path("theirs");
    common::keygen(&theirs, "ed25519");
    certify(&ca, &theirs, "someone-else");
    let out = server.ssh(&theirs).remote_command("true").run(RUN).unwrap();
    assert_eq!(out.status.code(), Some(255));

    // cert-authority with principals= in authorized_keys (no TrustedUserCAKeys).
    drop(server);
    f.set_authorized_keys(&format!(
        "cert-authority,principals=\"ops\" {}\n",
        common::public_line(&ca)
    ));
    let server = f.start(&[]);
    let ops = f.path("ops");
    common::keygen(&ops, "ed25519");
    certify(&ca, &ops, "ops");
    let out = server
        .ssh(&ops)
        .remote_command("echo ops-ok")
        .run(RUN)
        .unwrap();
    assert_eq!(
        out.stdout_str(),
        "ops-ok\n",
        "{}\n{}",
        out.stderr_str(),
        server.log()
    );
    let out = server.ssh(&mine).remote_command("true").run(RUN).unwrap();
    assert_eq!(
        out.status.code(),
        Some(255),
        "principal {} is not listed",
        me()
    );
}

#[test]
fn expired_key_is_refused() {
    let f = Fixture::new();
    f.authorize("expiry-time=\"20200101\"");
    let server = f.start(&[]);
    let out = server
        .ssh(&f.key())
        .remote_command("true")
        .run(RUN)
        .unwrap();
    assert_eq!(out.status.code(), Some(255));
}

#[test]
fn authentication_methods_chain_needs_key_and_password() {
    let f = Fixture::new();
    let passwd = f.path("passwd");
    std::fs::write(&passwd, format!("{}:{}\n", me(), password_hash("s3cret"))).unwrap();
    std::fs::set_permissions(&passwd, std::fs::Permissions::from_mode(0o600)).unwrap();
    let server = f.start(&[
        "--passwd-file",
        passwd.to_str().unwrap(),
        "-o",
        "AuthenticationMethods=publickey,password",
    ]);
    // The key alone is only a partial success.
    let out = server
        .ssh(&f.key())
        .remote_command("true")
        .run(RUN)
        .unwrap();
    assert_eq!(out.status.code(), Some(255), "{}", out.stdout_str());

    // Key, then password.
    let mut cmd = Command::new(openssh::find("sshpass").unwrap());
    cmd.arg("-p")
        .arg("s3cret")
        .arg(openssh::find("ssh").unwrap());
    cmd.args(
        openssh::Ssh::new(server.addr)
            .user(me())
            .identity(f.key())
            .option("BatchMode", "no")
            .option("NumberOfPasswordPrompts", "1")
            .option("PreferredAuthentications", "publickey,password")
            .option("LogLevel", "ERROR")
            .remote_command("echo both")
            .args(),
    );
    let out = openssh::run(cmd, RUN).unwrap();
    assert_eq!(
        out.stdout_str(),
        "both\n",
        "{}\n{}",
        out.stderr_str(),
        server.log()
    );
}

#[test]
fn banner_from_the_configuration() {
    let f = Fixture::new();
    let banner = f.path("banner");
    std::fs::write(&banner, "Welcome to whelk\n").unwrap();
    let server = f.start(&["-o", &format!("Banner {}", banner.display())]);
    let out = openssh::Ssh::new(server.addr)
        .user(me())
        .identity(f.key())
        .remote_command("true")
        .run(RUN)
        .unwrap();
    assert!(out.status.success(), "{}", out.stderr_str());
    assert!(
        out.stderr_str().contains("Welcome to whelk"),
        "{}",
        out.stderr_str()
    );
}

#[test]
fn sshd_config_file_with_user_environment() {
    let f = Fixture::new();
    f.authorize("environment=\"FROM_KEY=yes\"");
    let config = f.path("sshd_config");
    std::fs::write(
        &config,
        format!(
            "# whelk server configuration\nAuthorizedKeysFile {}\nHostKey {}\nPasswordAuthentication no\n\
             PermitUserEnvironment yes\nAcceptEnv FOO LANG\nMaxSessions 2\n",
            f.authorized_keys().display(),
            f.host_key().display()
        ),
    )
    .unwrap();
    let server = f.start_raw(vec!["-f".into(), config.into_os_string()]);
    let out = server
        .ssh(&f.key())
        .option("SetEnv", "FOO=bar LC_ALL=C")
        .remote_command("echo \"$FROM_KEY $FOO [$LC_ALL]\"")
        .run(RUN)
        .unwrap();
    assert_eq!(
        out.stdout_str(),
        "yes bar []\n",
        "{}\n{}",
        out.stderr_str(),
        server.log()
    );
}

#[test]
fn match_blocks_apply_to_each_connection() {
    let f = Fixture::new();
    let config = f.path("sshd_config");
    std::fs::write(
        &config,
        format!(
            "AuthorizedKeysFile {}\nHostKey {}\n\
             Match Address 10.0.0.0/8\n  ForceCommand echo not-this-one\n\
             Match Address 127.0.0.1 User {}\n  ForceCommand echo \"matched:$SSH_ORIGINAL_COMMAND\"\n  AllowTcpForwarding no\n",
            f.authorized_keys().display(),
            f.host_key().display(),
            me()
        ),
    )
    .unwrap();
    let server = f.start_raw(vec!["-f".into(), config.into_os_string()]);
    let out = server
        .ssh(&f.key())
        .remote_command("echo x")
        .run(RUN)
        .unwrap();
    assert_eq!(
        out.stdout_str(),
        "matched:echo x\n",
        "{}\n{}",
        out.stderr_str(),
        server.log()
    );
    let out = server
        .ssh(&f.key())
        .arg("-W")
        .arg("127.0.0.1:9")
        .run(RUN)
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
}

#[test]
fn test_mode_checks_the_configuration() {
    let f = Fixture::new();
    let run = |extra: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_whelk"));
        cmd.arg("server")
            .arg("-t")
            .arg("--host-key")
            .arg(f.host_key())
            .args(extra)
            .env("HOME", f.home());
        openssh::run(cmd, RUN).unwrap()
    };
    let ok = run(&["-o", "Ciphers=aes256-gcm@openssh.com"]);
    assert!(ok.status.success(), "{}", ok.stderr_str());
    assert!(
        ok.stderr_str().contains("configuration OK"),
        "{}",
        ok.stderr_str()
    );
    let bad = run(&["-o", "Ciphers=no-such-cipher"]);
    assert!(!bad.status.success());
    assert!(bad.stderr_str().contains("Ciphers"), "{}", bad.stderr_str());
    let bad = run(&["-o", "MaxAuthTries=lots"]);
    assert!(!bad.status.success());
}

#[test]
fn port_flag_listens_on_loopback() {
    let f = Fixture::new();
    let port = openssh::free_port().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_whelk"));
    cmd.arg("server")
        .arg("-p")
        .arg(port.to_string())
        .arg("--host-key")
        .arg(f.host_key())
        .arg("--authorized-keys")
        .arg(f.authorized_keys())
        .env("HOME", f.home())
        .env("SHELL", "/bin/sh");
    let guard = openssh::ChildGuard::spawn(&mut cmd).unwrap();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let start = std::time::Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(start.elapsed() < common::READY, "{}", guard.stderr_str());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let server = common::Server { guard, addr };
    let out = server
        .ssh(&f.key())
        .remote_command("echo p")
        .run(RUN)
        .unwrap();
    assert_eq!(out.stdout_str(), "p\n", "{}", out.stderr_str());
    server.assert_logged(&format!("listening on 127.0.0.1:{port}"));
}
