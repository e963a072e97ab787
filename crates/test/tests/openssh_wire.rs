//! Live interop with the OpenSSH installed on this machine: whelk-wire parses what a real
//! `sshd` and a real `ssh` send first, and the algorithm lists match what the tools
//! themselves say their configuration is (`sshd -T`, `ssh -G`) or the `-o` options given.
//!
//! These tests FAIL (they never skip) when OpenSSH is missing: the error says to install
//! `openssh-server` / `openssh-client`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::TcpStream;
use std::time::{Duration, Instant};

use whelk_test::hello::{self, Hello};
use whelk_test::openssh::{self, EffectiveConfig, HostKeyType, Sshd};
use whelk_wire::msg::KexInit;
use whelk_wire::types::NameList;
use whelk_wire::version::Role;

fn names(list: &NameList) -> Vec<String> {
    list.iter().map(str::to_owned).collect()
}

fn plus(mut base: Vec<String>, extra: &[&str]) -> Vec<String> {
    base.extend(extra.iter().map(|s| (*s).to_owned()));
    base
}

fn split(list: &str) -> Vec<String> {
    list.split(',').map(str::to_owned).collect()
}

/// Connects to `sshd`, sends our identification and reads its hello.
fn server_hello(sshd: &Sshd) -> Hello {
    let mut stream = TcpStream::connect(sshd.addr()).unwrap();
    hello::exchange(&mut stream, Role::Client, hello::DEFAULT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}\n--- sshd log ---\n{}", sshd.stderr_log()))
}

fn check_identification(hello: &Hello) {
    assert_eq!(hello.version.protocol(), "2.0");
    assert!(
        hello.version.software().starts_with("OpenSSH_"),
        "{:?}",
        hello.version
    );
    let id = hello.identification_bytes();
    assert_eq!(&id[..4], b"SSH-");
    assert!(id.ends_with(b"\r\n"));
    assert_eq!(&id[..id.len() - 2], hello.version.line().as_ref());
}

/// The host key algorithms sshd advertises: for each key it holds, in `HostKey` order, the
/// algorithms for that key type that its `HostKeyAlgorithms` allows.
fn expected_host_key_algs(sshd: &Sshd, effective: &EffectiveConfig) -> Vec<String> {
    let allowed = effective.list("hostkeyalgorithms");
    sshd.host_keys()
        .iter()
        .flat_map(|(ty, _)| ty.default_algorithms().iter())
        .filter(|alg| allowed.iter().any(|a| a == *alg))
        .map(|s| (*s).to_owned())
        .collect()
}

fn expected_server_compression(effective: &EffectiveConfig) -> Vec<String> {
    match effective.get("compression") {
        Some("no") => split("none"),
        Some("yes" | "delayed") => split("none,zlib@openssh.com"),
        other => panic!("unexpected sshd -T compression {other:?}"),
    }
}

/// Checks a server KEXINIT against `sshd -T`.
fn check_against_sshd_t(sshd: &Sshd, k: &KexInit) -> EffectiveConfig {
    let t = sshd.effective_config().unwrap();
    assert_eq!(
        names(&k.kex_algorithms),
        plus(t.list("kexalgorithms"), &["kex-strict-s-v00@openssh.com"])
    );
    assert_eq!(
        names(&k.server_host_key_algorithms),
        expected_host_key_algs(sshd, &t)
    );
    for list in [
        &k.encryption_client_to_server,
        &k.encryption_server_to_client,
    ] {
        assert_eq!(names(list), t.list("ciphers"));
    }
    for list in [&k.mac_client_to_server, &k.mac_server_to_client] {
        assert_eq!(names(list), t.list("macs"));
    }
    for list in [
        &k.compression_client_to_server,
        &k.compression_server_to_client,
    ] {
        assert_eq!(names(list), expected_server_compression(&t));
    }
    assert!(k.languages_client_to_server.is_empty());
    assert!(k.languages_server_to_client.is_empty());
    assert!(!k.first_kex_packet_follows);
    t
}

#[test]
fn openssh_tools_are_installed() {
    for tool in ["sshd", "ssh", "ssh-keygen", "ssh-keyscan"] {
        let path = openssh::find(tool).unwrap_or_else(|e| panic!("{e}"));
        assert!(path.is_absolute(), "{}", path.display());
    }
    assert_eq!(
        openssh::find("sshd").unwrap(),
        std::path::Path::new("/usr/sbin/sshd")
    );
    let v = openssh::ssh_version().unwrap();
    assert!(v.starts_with("OpenSSH_"), "{v}");
}

#[test]
fn sshd_default_kexinit_matches_sshd_t() {
    let started = Instant::now();
    let sshd = Sshd::start().unwrap();
    eprintln!("sshd ready after {:?}", started.elapsed());
    let hello = server_hello(&sshd);
    check_identification(&hello);
    let k = hello.kexinit().unwrap();
    let t = check_against_sshd_t(&sshd, &k);
    // The defaults of this OpenSSH generation.
    for name in [
        "sntrup761x25519-sha512@openssh.com",
        "curve25519-sha256",
        "kex-strict-s-v00@openssh.com",
    ] {
        assert!(k.kex_algorithms.contains(name), "{name}");
    }
    assert_eq!(names(&k.server_host_key_algorithms), ["ssh-ed25519"]);
    assert_eq!(t.get("port"), Some(sshd.port().to_string().as_str()));
    assert_eq!(
        t.get("listenaddress"),
        Some(format!("{}", sshd.addr()).as_str())
    );
}

#[test]
fn sshd_with_options_sends_exactly_them() {
    let kex = "curve25519-sha256,diffie-hellman-group14-sha256";
    let ciphers = "aes256-gcm@openssh.com,aes128-ctr";
    let macs = "hmac-sha2-512-etm@openssh.com,hmac-sha2-256";
    let sshd = Sshd::builder()
        .host_key(HostKeyType::Rsa)
        .host_key(HostKeyType::Ed25519)
        .option("KexAlgorithms", kex)
        .option("Ciphers", ciphers)
        .option("MACs", macs)
        .option("HostKeyAlgorithms", "ssh-ed25519,rsa-sha2-512")
        .option("Compression", "no")
        .start()
        .unwrap();
    let hello = server_hello(&sshd);
    check_identification(&hello);
    let k = hello.kexinit().unwrap();
    // Exactly the options given, plus the strict-kex marker.
    assert_eq!(
        names(&k.kex_algorithms),
        plus(split(kex), &["kex-strict-s-v00@openssh.com"])
    );
    assert_eq!(names(&k.encryption_client_to_server), split(ciphers));
    assert_eq!(names(&k.mac_server_to_client), split(macs));
    // Host keys in HostKey order (RSA first), filtered by HostKeyAlgorithms.
    assert_eq!(
        names(&k.server_host_key_algorithms),
        ["rsa-sha2-512", "ssh-ed25519"]
    );
    assert_eq!(names(&k.compression_client_to_server), ["none"]);
    // And sshd -T agrees with both.
    let t = check_against_sshd_t(&sshd, &k);
    assert_eq!(t.get("kexalgorithms"), Some(kex));
    assert_eq!(t.get("ciphers"), Some(ciphers));
    assert_eq!(t.get("macs"), Some(macs));
}

#[test]
fn sshd_logs_and_is_killed_on_drop() {
    let sshd = Sshd::builder()
        .host_key(HostKeyType::EcdsaP256)
        .start()
        .unwrap();
    let pid = sshd.pid();
    let port = sshd.port();
    assert!(sshd.dir().join("sshd_config").is_file());
    assert!(sshd.host_keys()[0].1.is_file());
    let known = sshd.known_hosts().unwrap();
    assert!(
        known.starts_with(&format!("[127.0.0.1]:{port} ecdsa-sha2-nistp256 AAAA")),
        "{known}"
    );
    let hello = server_hello(&sshd);
    assert_eq!(
        names(&hello.kexinit().unwrap().server_host_key_algorithms),
        ["ecdsa-sha2-nistp256"]
    );
    // LogLevel DEBUG1 on stderr (-e); the listening line comes before readiness.
    let log = sshd.stderr_log();
    assert!(
        log.contains(&format!("Server listening on 127.0.0.1 port {port}")),
        "{log}"
    );
    let dir = sshd.dir().to_owned();
    drop(sshd);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "sshd {pid} still exists after drop"
    );
    assert!(!dir.exists(), "{} not removed", dir.display());
}

#[test]
fn sshd_reports_a_bad_option_with_its_log() {
    let err = Sshd::builder()
        .option("KexAlgorithms", "no-such-kex")
        .ready_timeout(Duration::from_secs(10))
        .start()
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("exited"), "{msg}");
    assert!(msg.contains("no-such-kex"), "{msg}");
}

/// Checks a client KEXINIT against `ssh -G` for the same invocation.
fn check_against_ssh_g(k: &KexInit, g: &EffectiveConfig) {
    assert_eq!(
        names(&k.kex_algorithms),
        plus(
            g.list("kexalgorithms"),
            &["ext-info-c", "kex-strict-c-v00@openssh.com"]
        )
    );
    // With no known host key for the destination, the configured order is sent as is.
    assert_eq!(
        names(&k.server_host_key_algorithms),
        g.list("hostkeyalgorithms")
    );
    for list in [
        &k.encryption_client_to_server,
        &k.encryption_server_to_client,
    ] {
        assert_eq!(names(list), g.list("ciphers"));
    }
    for list in [&k.mac_client_to_server, &k.mac_server_to_client] {
        assert_eq!(names(list), g.list("macs"));
    }
    // The client offers zlib either way; Compression only changes the preference.
    let compression = match g.get("compression") {
        Some("no") => split("none,zlib@openssh.com,zlib"),
        Some("yes") => split("zlib@openssh.com,zlib,none"),
        other => panic!("unexpected ssh -G compression {other:?}"),
    };
    for list in [
        &k.compression_client_to_server,
        &k.compression_server_to_client,
    ] {
        assert_eq!(names(list), compression);
    }
    assert!(k.languages_client_to_server.is_empty());
    assert!(!k.first_kex_packet_follows);
}

#[test]
fn ssh_client_default_kexinit_matches_ssh_g() {
    let (hello, ssh) = openssh::client_hello(|ssh| ssh, hello::DEFAULT_TIMEOUT).unwrap();
    check_identification(&hello);
    let k = hello.kexinit().unwrap();
    let g = ssh.effective_config().unwrap();
    check_against_ssh_g(&k, &g);
    assert!(k.kex_algorithms.contains("curve25519-sha256"));
    assert!(k.kex_algorithms.contains("kex-strict-c-v00@openssh.com"));
}

#[test]
fn ssh_client_with_options_sends_exactly_them() {
    let (hello, ssh) = openssh::client_hello(
        |ssh| {
            ssh.option("KexAlgorithms", "ecdh-sha2-nistp256,curve25519-sha256")
                .option("Ciphers", "aes128-gcm@openssh.com")
                .option("MACs", "hmac-sha2-256-etm@openssh.com,hmac-sha1")
                .option("HostKeyAlgorithms", "rsa-sha2-256,ssh-ed25519")
                .option("Compression", "yes")
        },
        hello::DEFAULT_TIMEOUT,
    )
    .unwrap();
    let k = hello.kexinit().unwrap();
    assert_eq!(
        names(&k.kex_algorithms),
        [
            "ecdh-sha2-nistp256",
            "curve25519-sha256",
            "ext-info-c",
            "kex-strict-c-v00@openssh.com"
        ]
    );
    assert_eq!(
        names(&k.encryption_server_to_client),
        ["aes128-gcm@openssh.com"]
    );
    assert_eq!(
        names(&k.mac_client_to_server),
        ["hmac-sha2-256-etm@openssh.com", "hmac-sha1"]
    );
    assert_eq!(
        names(&k.server_host_key_algorithms),
        ["rsa-sha2-256", "ssh-ed25519"]
    );
    check_against_ssh_g(&k, &ssh.effective_config().unwrap());
}

#[test]
fn ssh_client_logs_into_the_private_sshd() {
    // The whole harness together: a user key in authorized_keys, a known_hosts file pinned
    // to the server's host key, and `ssh -vvv` reporting what was negotiated.
    let keys = tempfile::tempdir().unwrap();
    let user_key = keys.path().join("id_ed25519");
    openssh::keygen(HostKeyType::Ed25519, &user_key).unwrap();
    let public = std::fs::read_to_string(keys.path().join("id_ed25519.pub")).unwrap();
    let sshd = Sshd::builder()
        .authorized_key(public.trim())
        .option("Ciphers", "aes256-gcm@openssh.com")
        .start()
        .unwrap();
    let known_hosts = keys.path().join("known_hosts");
    std::fs::write(&known_hosts, sshd.known_hosts().unwrap()).unwrap();
    let user = std::env::var("USER").unwrap_or_else(|_| "root".to_owned());
    let out = openssh::Ssh::new(sshd.addr())
        .user(&user)
        .identity(&user_key)
        .option("UserKnownHostsFile", known_hosts.display().to_string())
        .option("StrictHostKeyChecking", "yes")
        .arg("-vvv")
        .remote_command("echo")
        .remote_command("whelk-ok")
        .run(Duration::from_secs(60))
        .unwrap();
    let stderr = out.stderr_str();
    assert!(
        out.status.success(),
        "ssh failed: {}\n--- ssh ---\n{stderr}\n--- sshd ---\n{}",
        out.status,
        sshd.stderr_log()
    );
    assert_eq!(out.stdout_str().trim(), "whelk-ok");
    assert!(
        stderr.contains("debug1: kex: server->client cipher: aes256-gcm@openssh.com"),
        "{stderr}"
    );
    assert!(
        stderr.contains("debug1: Host '[127.0.0.1]:") && stderr.contains("is known and matches"),
        "{stderr}"
    );
    assert!(
        sshd.stderr_log().contains("Accepted publickey for"),
        "{}",
        sshd.stderr_log()
    );
}

#[test]
fn sshd_with_a_quiet_log_level_still_becomes_ready() {
    // Readiness then rests on the port alone (no "Server listening" line to wait for).
    let sshd = Sshd::builder()
        .option("LogLevel", "ERROR")
        .ready_timeout(Duration::from_secs(10))
        .start()
        .unwrap();
    let hello = server_hello(&sshd);
    check_identification(&hello);
    assert!(!sshd.stderr_log().contains("Server listening"));
}
