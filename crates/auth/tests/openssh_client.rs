//! whelk's client against a real `sshd` (OpenSSH 9.2), beyond publickey (see `openssh.rs`):
//!
//! - password authentication that succeeds (`UsePAM no`: sshd checks /etc/shadow) and
//!   keyboard-interactive that succeeds (`UsePAM yes`: on Linux sshd offers
//!   keyboard-interactive only through PAM), both as the local account `whelk-test` with
//!   the password `whelk-test-password` ([`require_test_user`] creates it when running as
//!   root, as `.ci/run` does);
//! - host certificates (`HostCertificate`): the client offers the `*-cert-v01@openssh.com`
//!   host key algorithms first and decides the transport's `HostKey` event from a
//!   known_hosts text with `@cert-authority` and `@revoked` lines (whelk-keys' known_hosts
//!   API and certificate validation): the right CA is accepted, another CA, a revoked host
//!   key and a certificate for another host name are rejected.
//!
//! These tests need OpenSSH (`ssh-keygen`, `sshd`): they fail, never skip, without it.
//!
//! Not here: hostbased authentication against sshd. sshd 9.2 accepts the client host only
//! through `/etc/hosts.equiv`, `/etc/ssh/shosts.equiv` or the user's `~/.shosts` /
//! `~/.rhosts`, and finds the client host key only in `/etc/ssh/ssh_known_hosts[2]` or
//! `~/.ssh/known_hosts` (compiled-in paths; no sshd_config option points elsewhere), so a
//! test would have to write system files or a home directory.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use whelk_auth::*;
use whelk_keys::cert::{CertType, KeyOrCert};
use whelk_keys::known_hosts::{HostKeyStatus, KnownHosts};
use whelk_keys::{SigAlg, VerifyPolicy};
use whelk_test::openssh::{Sshd, find};
use whelk_transport::{HostKeyCheck, HostKeyDecision};
use zeroize::Zeroizing;

use common::openssh::{accept_any, keygen, load, public_line, unix_now, whelk_client};

/// The local account the password and keyboard-interactive tests log in as.
const TEST_USER: &str = "whelk-test";
/// Its password.
const TEST_PASSWORD: &str = "whelk-test-password";

/// Makes sure the account `whelk-test` (password `whelk-test-password`) exists: creates it
/// when missing and running as root, else fails with instructions. Once per test binary.
fn require_test_user() {
    static DONE: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    let r = DONE.get_or_init(|| {
        let exists = |u: &str| {
            Command::new("getent")
                .args(["passwd", u])
                .stdout(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        };
        if exists(TEST_USER) {
            return Ok(());
        }
        let how = format!(
            "create it as root: useradd -M -s /bin/sh {TEST_USER} && \
             echo '{TEST_USER}:{TEST_PASSWORD}' | chpasswd (.ci/run does this)"
        );
        let uid = Command::new("id").arg("-u").output().map_err(|e| {
            format!("the local user {TEST_USER} does not exist and `id -u` failed ({e}): {how}")
        })?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return Err(format!(
                "the local user {TEST_USER} does not exist and we are not root: {how}"
            ));
        }
        let st = Command::new("useradd")
            .args(["-M", "-s", "/bin/sh", TEST_USER])
            .status()
            .map_err(|e| format!("useradd: {e}"))?;
        // Another process may have created it in between.
        if !st.success() && !exists(TEST_USER) {
            return Err(format!("useradd {TEST_USER} failed ({st}): {how}"));
        }
        let mut child = Command::new("chpasswd")
            .stdin(Stdio::piped())
            .spawn()
            .map_err(|e| format!("chpasswd: {e}"))?;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{TEST_USER}:{TEST_PASSWORD}\n").as_bytes())
            .map_err(|e| format!("chpasswd: {e}"))?;
        let st = child.wait().map_err(|e| format!("chpasswd: {e}"))?;
        if !st.success() {
            return Err(format!("chpasswd failed ({st}): {how}"));
        }
        Ok(())
    });
    if let Err(e) = r {
        panic!("{e}");
    }
}

/// `ssh-keygen -s CA -h -I host -n PRINCIPAL -V -5m:+1h key.pub`: a host certificate.
fn sign_host_cert(ca: &Path, host_key: &Path, principal: &str) -> PathBuf {
    let st = Command::new(find("ssh-keygen").unwrap())
        .args(["-q", "-s"])
        .arg(ca)
        .args([
            "-h",
            "-I",
            "whelk-test-host",
            "-n",
            principal,
            "-V",
            "-5m:+1h",
        ])
        .arg(format!("{}.pub", host_key.display()))
        .status()
        .unwrap();
    assert!(st.success());
    PathBuf::from(format!("{}-cert.pub", host_key.display()))
}

/// Polls sshd's log (written by a reader thread) for `needle`, up to 2 s.
fn sshd_logged(sshd: &Sshd, needle: &str) -> bool {
    (0..100).any(|_| {
        let found = sshd.stderr_log().contains(needle);
        if !found {
            std::thread::sleep(Duration::from_millis(20));
        }
        found
    })
}

fn user_config(methods: Vec<Method>) -> ClientConfig {
    ClientConfig {
        user: TEST_USER.into(),
        methods,
        ..ClientConfig::default()
    }
}

#[test]
fn whelk_client_password_succeeds_against_sshd() {
    require_test_user();
    // UsePAM no (the fixture's default): sshd checks the password against /etc/shadow.
    let sshd = Sshd::builder()
        .option("AuthenticationMethods", "password")
        .start()
        .unwrap();
    let mut prompts = 0;
    let out = whelk_client(
        sshd.addr(),
        whelk_transport::ClientConfig::default(),
        accept_any,
        user_config(vec![Method::PublicKey, Method::Password]),
        |_| {},
        |k| {
            assert_eq!(*k, PromptKind::Password);
            prompts += 1;
            Answer::Password(Zeroizing::new(TEST_PASSWORD.into()))
        },
    );
    assert_eq!(
        out.auth,
        Some(Ok(vec![Method::Password])),
        "{}",
        sshd.stderr_log()
    );
    assert_eq!(prompts, 1);
    assert!(
        sshd_logged(&sshd, &format!("Accepted password for {TEST_USER}")),
        "{}",
        sshd.stderr_log()
    );
    eprintln!("whelk -> sshd: password for {TEST_USER} ok");

    // A wrong password first, then the right one: the second prompt succeeds.
    let sshd = Sshd::builder()
        .option("AuthenticationMethods", "password")
        .start()
        .unwrap();
    let mut tries = 0;
    let out = whelk_client(
        sshd.addr(),
        whelk_transport::ClientConfig::default(),
        accept_any,
        ClientConfig {
            password_attempts: 3,
            ..user_config(vec![Method::Password])
        },
        |_| {},
        |_| {
            tries += 1;
            let pw = if tries == 1 { "wrong" } else { TEST_PASSWORD };
            Answer::Password(Zeroizing::new(pw.into()))
        },
    );
    assert_eq!(
        out.auth,
        Some(Ok(vec![Method::Password])),
        "{}",
        sshd.stderr_log()
    );
    assert_eq!(tries, 2);
    assert!(
        sshd_logged(&sshd, &format!("Failed password for {TEST_USER}")),
        "{}",
        sshd.stderr_log()
    );
    eprintln!("whelk -> sshd: wrong then right password ok");
}

#[test]
fn whelk_client_keyboard_interactive_succeeds_against_sshd_with_pam() {
    require_test_user();
    // On Linux sshd offers keyboard-interactive only through PAM; the command line wins
    // over the fixture's `UsePAM no`.
    let sshd = Sshd::builder()
        .option("UsePAM", "yes")
        .option("KbdInteractiveAuthentication", "yes")
        .option("AuthenticationMethods", "keyboard-interactive")
        .start()
        .unwrap();
    let mut seen = Vec::new();
    let out = whelk_client(
        sshd.addr(),
        whelk_transport::ClientConfig::default(),
        accept_any,
        user_config(vec![Method::KeyboardInteractive]),
        |_| {},
        |k| match k {
            PromptKind::KeyboardInteractive { prompts, .. } => {
                seen.push(prompts.clone());
                // pam_unix asks "Password: " without echo; answer every hidden prompt.
                Answer::Responses(
                    prompts
                        .iter()
                        .map(|(_, echo)| {
                            Zeroizing::new(if *echo { TEST_USER } else { TEST_PASSWORD }.into())
                        })
                        .collect(),
                )
            }
            other => panic!("unexpected prompt {other:?}"),
        },
    );
    assert_eq!(
        out.auth,
        Some(Ok(vec![Method::KeyboardInteractive])),
        "prompts {seen:?}\n{}",
        sshd.stderr_log()
    );
    assert!(
        seen.iter()
            .flatten()
            .any(|(p, echo)| !echo && p.contains("assword")),
        "{seen:?}"
    );
    assert!(
        sshd_logged(
            &sshd,
            &format!("Accepted keyboard-interactive/pam for {TEST_USER}")
        ),
        "{}",
        sshd.stderr_log()
    );
    eprintln!("whelk -> sshd: keyboard-interactive (PAM) ok, prompts {seen:?}");
}

/// The transport config offering every `*-cert-v01@openssh.com` host key algorithm first,
/// then the plain ones (as OpenSSH's client does).
fn cert_first_transport() -> whelk_transport::ClientConfig {
    let mut tcfg = whelk_transport::ClientConfig::default();
    let plain = tcfg.config.algorithms.host_key.clone();
    let certs: Vec<String> = plain
        .iter()
        .filter_map(|n| SigAlg::from_name(n))
        .map(|a| a.cert_name().to_string())
        .collect();
    assert!(!certs.is_empty());
    tcfg.config.algorithms.host_key = certs.into_iter().chain(plain).collect();
    tcfg
}

/// The host key decision from a known_hosts text, for a server we reached as `host` on
/// `port`: a certificate must be signed by a `@cert-authority` for the host, be a valid
/// host certificate (CA signature, validity, principal `host`) and its key not be
/// `@revoked`; a plain key must be listed. Returns why it was rejected.
fn check_host_key(
    known_hosts: &str,
    host: &str,
    port: u16,
    check: &HostKeyCheck,
) -> std::result::Result<(), String> {
    let kh = KnownHosts::parse(known_hosts);
    assert!(kh.errors().is_empty(), "{:?}", kh.errors());
    let keys = kh.lookup(host, port);
    let (_, presented) = KeyOrCert::parse_for_algorithm(&check.algorithm, &check.host_key)
        .map_err(|e| format!("host key blob: {e}"))?;
    if keys.check(presented.public_key()) == HostKeyStatus::Revoked {
        return Err("host key revoked".into());
    }
    match presented.certificate() {
        Some(cert) => {
            if !keys.is_trusted_ca(cert.signature_key()) {
                return Err("certificate CA not trusted for this host".into());
            }
            cert.validate(
                unix_now(),
                CertType::Host,
                Some(host),
                &VerifyPolicy::default(),
            )
            .map_err(|e| format!("certificate: {e}"))
        }
        None => match keys.check(presented.public_key()) {
            HostKeyStatus::Trusted => Ok(()),
            other => Err(format!("plain host key: {other:?}")),
        },
    }
}

#[test]
fn whelk_client_host_certificate_via_cert_authority_against_sshd() {
    let dir = tempfile::tempdir().unwrap();
    let ca = keygen(dir.path(), "host_ca", &["-t", "ed25519"]);
    let other_ca = keygen(dir.path(), "other_ca", &["-t", "ed25519"]);
    // An ECDSA host key certified for 127.0.0.1, next to the fixture's plain Ed25519 key.
    let host_key = keygen(dir.path(), "host_ecdsa", &["-t", "ecdsa", "-b", "256"]);
    let cert = sign_host_cert(&ca, &host_key, "127.0.0.1");
    // The same key certified for another name.
    let host_key2 = keygen(dir.path(), "host_ecdsa2", &["-t", "ecdsa", "-b", "256"]);
    let cert2 = sign_host_cert(&ca, &host_key2, "other.example");
    let user = keygen(dir.path(), "id_user", &["-t", "ed25519"]);

    let start_sshd = |key: &Path, cert: &Path| {
        Sshd::builder()
            .config_line(format!("HostKey {}", key.display()))
            .config_line(format!("HostCertificate {}", cert.display()))
            .authorized_key(public_line(&user))
            .start()
            .unwrap()
    };
    let sshd = start_sshd(&host_key, &cert);
    let port = sshd.port();
    let ca_line = format!(
        "@cert-authority 127.0.0.1,[127.0.0.1]:{port} {}",
        public_line(&ca)
    );
    let other_ca_line = format!(
        "@cert-authority 127.0.0.1,[127.0.0.1]:{port} {}",
        public_line(&other_ca)
    );
    let revoked_line = format!("@revoked * {}", public_line(&host_key));

    let run = |sshd: &Sshd, known: &str| {
        let mut why = None;
        let user_key = load(&user);
        let out = whelk_client(
            sshd.addr(),
            cert_first_transport(),
            |check| match check_host_key(known, "127.0.0.1", sshd.port(), check) {
                Ok(()) => HostKeyDecision::Accept,
                Err(e) => {
                    why = Some(e);
                    HostKeyDecision::Reject
                }
            },
            ClientConfig {
                user: "root".into(),
                methods: vec![Method::PublicKey],
                ..ClientConfig::default()
            },
            |a| a.add_identity(Box::new(KeySigner::new(user_key, common::rng(7)))),
            |_| Answer::Cancel,
        );
        (out, why)
    };

    // The right CA: accepted, and the connection authenticates over it.
    let (out, why) = run(&sshd, &format!("# whelk test\n{ca_line}\n"));
    assert_eq!(why, None);
    assert_eq!(
        out.host_key,
        Some((
            "ecdsa-sha2-nistp256-cert-v01@openssh.com".to_string(),
            HostKeyDecision::Accept
        ))
    );
    assert_eq!(
        out.auth,
        Some(Ok(vec![Method::PublicKey])),
        "{}",
        sshd.stderr_log()
    );
    eprintln!("whelk -> sshd: host certificate accepted via @cert-authority");

    // Another CA: rejected, no authentication.
    let (out, why) = run(&sshd, &other_ca_line);
    assert_eq!(
        out.host_key.as_ref().map(|h| h.1),
        Some(HostKeyDecision::Reject)
    );
    assert_eq!(
        why.as_deref(),
        Some("certificate CA not trusted for this host")
    );
    assert!(out.auth.is_none(), "{out:?}");
    eprintln!("whelk -> sshd: host certificate from another CA rejected");

    // The right CA, but the host key is @revoked: rejected.
    let (out, why) = run(&sshd, &format!("{ca_line}\n{revoked_line}\n"));
    assert_eq!(
        out.host_key.as_ref().map(|h| h.1),
        Some(HostKeyDecision::Reject)
    );
    assert_eq!(why.as_deref(), Some("host key revoked"));
    assert!(out.auth.is_none(), "{out:?}");
    eprintln!("whelk -> sshd: revoked host key rejected");
    drop(sshd);

    // A certificate from the right CA for another host name: rejected.
    let sshd = start_sshd(&host_key2, &cert2);
    let ca_line2 = format!(
        "@cert-authority 127.0.0.1,[127.0.0.1]:{} {}",
        sshd.port(),
        public_line(&ca)
    );
    let (out, why) = run(&sshd, &ca_line2);
    assert_eq!(
        out.host_key.as_ref().map(|h| h.1),
        Some(HostKeyDecision::Reject)
    );
    let why = why.unwrap();
    assert!(why.starts_with("certificate:"), "{why}");
    assert!(out.auth.is_none(), "{out:?}");
    eprintln!("whelk -> sshd: certificate for another principal rejected ({why})");

    // Without a certificate algorithm offered, the same server shows its plain key, which
    // this known_hosts does not list: rejected.
    let mut why = None;
    let out = whelk_client(
        sshd.addr(),
        whelk_transport::ClientConfig::default(),
        |check| match check_host_key(&ca_line2, "127.0.0.1", sshd.port(), check) {
            Ok(()) => HostKeyDecision::Accept,
            Err(e) => {
                why = Some(e);
                HostKeyDecision::Reject
            }
        },
        user_config(vec![Method::PublicKey]),
        |_| {},
        |_| Answer::Cancel,
    );
    assert!(
        matches!(&out.host_key, Some((alg, HostKeyDecision::Reject)) if !alg.contains("cert")),
        "{out:?}"
    );
    assert_eq!(why.as_deref(), Some("plain host key: Unknown"));
}
