//! Authentication and host keys against OpenSSH's sshd: keyboard-interactive and password
//! prompt callbacks, identities from a test-started `ssh-agent` (Ed25519 and RSA with the
//! SHA-2 sign flags), agent forwarding (`ssh-add -l` on the server sees the local
//! agent's key), and host certificates accepted through `@cert-authority`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod client_common;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use whelk_test::openssh::find;
use whelk_tokio::{ClientConfig, Error, HostKeyPolicy, connect};
use zeroize::Zeroizing;

use client_common::*;

fn sshd_logged(sshd: &whelk_test::openssh::Sshd, needle: &str) -> bool {
    (0..100).any(|_| {
        let found = sshd.stderr_log().contains(needle);
        if !found {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        found
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyboard_interactive_callback_with_pam() {
    require_test_user();
    let sshd = sshd_builder()
        .option("UsePAM", "yes")
        .option("KbdInteractiveAuthentication", "yes")
        .option("AuthenticationMethods", "keyboard-interactive")
        .start()
        .unwrap();
    let rounds = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = rounds.clone();
    let config = ClientConfig::new(TEST_USER)
        .host_key(HostKeyPolicy::KnownHosts(sshd.known_hosts().unwrap()))
        .keyboard_interactive(move |round| {
            let seen = seen.clone();
            async move {
                // An await inside the prompt, as a real UI would.
                tokio::task::yield_now().await;
                let answers = round
                    .prompts
                    .iter()
                    .map(|p| Zeroizing::new(if p.echo { TEST_USER } else { TEST_PASSWORD }.into()))
                    .collect();
                seen.lock().unwrap().push(round);
                Some(answers)
            }
        });
    let c = connect("127.0.0.1", sshd.port(), config).await.unwrap();
    let out = c.run("id -un").await.unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), TEST_USER);
    let rounds = rounds.lock().unwrap().clone();
    assert!(
        rounds.iter().any(|r| r.prompts.iter().any(|p| !p.echo)),
        "{rounds:?}"
    );
    assert!(sshd_logged(
        &sshd,
        &format!("Accepted keyboard-interactive/pam for {TEST_USER}")
    ));
    c.disconnect().await;

    // A callback that declines: the method is skipped and authentication fails.
    let config = ClientConfig::new(TEST_USER)
        .host_key(HostKeyPolicy::KnownHosts(sshd.known_hosts().unwrap()))
        .keyboard_interactive(|_| async { None });
    let r = connect("127.0.0.1", sshd.port(), config).await;
    assert!(matches!(r, Err(Error::Closed(_))), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_callback_asked_again_after_a_wrong_answer() {
    require_test_user();
    let sshd = sshd_builder()
        .option("AuthenticationMethods", "password")
        .start()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let n = calls.clone();
    let config = ClientConfig::new(TEST_USER)
        .host_key(HostKeyPolicy::KnownHosts(sshd.known_hosts().unwrap()))
        .password_prompt(move |user| {
            let n = n.clone();
            async move {
                assert_eq!(user, TEST_USER);
                let pw = if n.fetch_add(1, Ordering::SeqCst) == 0 {
                    "wrong"
                } else {
                    TEST_PASSWORD
                };
                Some(Zeroizing::new(pw.to_string()))
            }
        });
    let c = connect("127.0.0.1", sshd.port(), config).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let out = c.run("id -un").await.unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), TEST_USER);
    c.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_identities_ed25519_and_rsa() {
    let dir = tempfile::tempdir().unwrap();
    let ed = keygen(dir.path(), "id_ed25519", &["-t", "ed25519"]);
    let rsa = keygen(dir.path(), "id_rsa", &["-t", "rsa", "-b", "2048"]);
    let agent = SshAgent::start(dir.path());
    agent.add(&ed);
    agent.add(&rsa);

    // sshd trusts only the RSA key: the Ed25519 identity is refused, then RSA signs
    // through the agent with rsa-sha2-512 (the agent's SHA-2 flag). Then an sshd that
    // trusts only the Ed25519 key.
    for (key, kind) in [(&rsa, "RSA"), (&ed, "ED25519")] {
        let sshd = whelk_test::openssh::Sshd::builder()
            .authorized_key(public_line(key))
            .start()
            .unwrap();
        let config = ClientConfig::new(&user())
            .agent(&agent.sock)
            .host_key(HostKeyPolicy::KnownHosts(sshd.known_hosts().unwrap()));
        let c = connect("127.0.0.1", sshd.port(), config).await.unwrap();
        assert_eq!(c.run("true").await.unwrap().exit_status, Some(0));
        assert!(
            sshd_logged(&sshd, &format!("Accepted publickey for {} from", user()))
                && sshd_logged(&sshd, &format!("{kind} {}", fingerprint(key))),
        );
        c.disconnect().await;

        // A missing agent socket is an error at connect time.
        let config = ClientConfig::new(&user())
            .agent(dir.path().join("nope.sock"))
            .host_key(HostKeyPolicy::AcceptAny);
        assert!(connect("127.0.0.1", sshd.port(), config).await.is_err());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_forwarding_lets_the_server_list_the_local_agent() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "id_fwd", &["-t", "ed25519"]);
    let agent = SshAgent::start(dir.path());
    agent.add(&key);
    let sshd = sshd_builder()
        .option("AllowAgentForwarding", "yes")
        .start()
        .unwrap();
    let c = connect(
        "127.0.0.1",
        sshd.port(),
        config(&sshd).forward_agent(&agent.sock),
    )
    .await
    .unwrap();
    let out = c.run("ssh-add -l").await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.exit_status,
        Some(0),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(&fingerprint(&key)), "{text}");
    // Twice on one connection (each session asks again).
    let out = c.run("ssh-add -L").await.unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(public_line(&key).split(' ').nth(1).unwrap())
    );
    c.disconnect().await;

    // Without forwarding the server has no agent.
    let c = client(&sshd).await;
    let out = c.run("ssh-add -l").await.unwrap();
    assert_ne!(out.exit_status, Some(0));
    c.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_certificate_through_cert_authority() {
    let dir = tempfile::tempdir().unwrap();
    let ca = keygen(dir.path(), "host_ca", &["-t", "ed25519"]);
    let other_ca = keygen(dir.path(), "other_ca", &["-t", "ed25519"]);
    // whelk offers Ed25519 and RSA host keys by default: certify an Ed25519 key.
    let host_key = keygen(dir.path(), "host_ed_cert", &["-t", "ed25519"]);
    let st = Command::new(find("ssh-keygen").unwrap())
        .args(["-q", "-s"])
        .arg(&ca)
        .args(["-h", "-I", "host", "-n", "127.0.0.1", "-V", "-5m:+1h"])
        .arg(format!("{}.pub", host_key.display()))
        .status()
        .unwrap();
    assert!(st.success());
    let sshd = sshd_builder()
        .config_line(format!("HostKey {}", host_key.display()))
        .config_line(format!("HostCertificate {}-cert.pub", host_key.display()))
        .start()
        .unwrap();
    let port = sshd.port();
    let known = |ca: &std::path::Path| {
        format!(
            "@cert-authority 127.0.0.1,[127.0.0.1]:{port} {}\n",
            public_line(ca)
        )
    };
    let config = ClientConfig::new(&user())
        .key(user_key())
        .host_key(HostKeyPolicy::KnownHosts(known(&ca)));
    let c = connect("127.0.0.1", port, config).await.unwrap();
    assert_eq!(c.run("true").await.unwrap().exit_status, Some(0));
    c.disconnect().await;
    // The same as a file.
    let file = dir.path().join("known_hosts");
    std::fs::write(&file, known(&ca)).unwrap();
    let config = ClientConfig::new(&user())
        .key(user_key())
        .host_key(HostKeyPolicy::KnownHostsFile(file));
    let c = connect("127.0.0.1", port, config).await.unwrap();
    c.disconnect().await;
    // A callback is shown the certified key when the certificate algorithm is offered.
    let seen = Arc::new(std::sync::Mutex::new(None));
    let s2 = seen.clone();
    let mut config = ClientConfig::new(&user())
        .key(user_key())
        .host_key(HostKeyPolicy::Callback(Arc::new(move |info| {
            *s2.lock().unwrap() = Some((info.algorithm.clone(), info.key.clone()));
            true
        })));
    config.ssh.transport.algorithms.host_key = vec!["ssh-ed25519-cert-v01@openssh.com".into()];
    connect("127.0.0.1", port, config)
        .await
        .unwrap()
        .disconnect()
        .await;
    let (alg, key) = seen.lock().unwrap().clone().unwrap();
    assert_eq!(alg, "ssh-ed25519-cert-v01@openssh.com");
    assert_eq!(
        key.unwrap().to_openssh(""),
        load(&host_key).public_key().to_openssh("")
    );
    // Another CA: rejected.
    let config = ClientConfig::new(&user())
        .key(user_key())
        .host_key(HostKeyPolicy::KnownHosts(known(&other_ca)));
    let r = connect("127.0.0.1", port, config).await;
    assert!(
        matches!(&r, Err(Error::HostKey(why)) if why.contains("CA not trusted")),
        "{r:?}"
    );
    // The right CA but the host key revoked: rejected.
    let revoked = format!("{}@revoked * {}\n", known(&ca), public_line(&host_key));
    let config = ClientConfig::new(&user())
        .key(user_key())
        .host_key(HostKeyPolicy::KnownHosts(revoked));
    let r = connect("127.0.0.1", port, config).await;
    assert!(
        matches!(&r, Err(Error::HostKey(why)) if why.contains("revoked")),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_password_answers_a_single_hidden_kbd_prompt() {
    require_test_user();
    let sshd = sshd_builder()
        .option("UsePAM", "yes")
        .option("KbdInteractiveAuthentication", "yes")
        .option("AuthenticationMethods", "keyboard-interactive")
        .start()
        .unwrap();
    // No callback: PAM's lone "Password: " prompt gets the configured password.
    let config = ClientConfig::new(TEST_USER)
        .password(TEST_PASSWORD)
        .host_key(HostKeyPolicy::KnownHosts(sshd.known_hosts().unwrap()));
    let c = connect("127.0.0.1", sshd.port(), config).await.unwrap();
    assert_eq!(c.run("true").await.unwrap().exit_status, Some(0));
    c.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_new_records_unknown_hosts_and_rejects_changed_keys() {
    let sshd = sshd();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("known_hosts");
    let config = ClientConfig::new(&user())
        .key(user_key())
        .host_key(HostKeyPolicy::KnownHostsFileAcceptNew(file.clone()));
    let c = connect("127.0.0.1", sshd.port(), config).await.unwrap();
    c.disconnect().await;
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with(&format!("[127.0.0.1]:{} ssh-ed25519 ", sshd.port())),
        "{text}"
    );
    // Now strictly known.
    let config = ClientConfig::new(&user())
        .key(user_key())
        .host_key(HostKeyPolicy::KnownHostsFile(file.clone()));
    connect("127.0.0.1", sshd.port(), config)
        .await
        .unwrap()
        .disconnect()
        .await;
    // Another key on record for the host: a changed key is not accepted.
    let other = whelk::PrivateKey::ed25519_from_seed(&[77; 32]);
    std::fs::write(
        &file,
        format!(
            "[127.0.0.1]:{} {}\n",
            sshd.port(),
            other.public_key().to_openssh("")
        ),
    )
    .unwrap();
    let config = ClientConfig::new(&user())
        .key(user_key())
        .host_key(HostKeyPolicy::KnownHostsFileAcceptNew(file.clone()));
    let r = connect("127.0.0.1", sshd.port(), config).await;
    assert!(
        matches!(&r, Err(Error::HostKey(why)) if why.contains("CHANGED")),
        "{r:?}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_agent_from_env_is_skipped_and_certificates_must_match() {
    let dir = tempfile::tempdir().unwrap();
    let ed = keygen(dir.path(), "id_ed25519", &["-t", "ed25519"]);
    let sshd = whelk_test::openssh::Sshd::builder()
        .authorized_key(public_line(&ed))
        .start()
        .unwrap();
    // A socket file nobody listens on (what a stale SSH_AUTH_SOCK points at).
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let mut config = ClientConfig::new(&user())
        .agent(&stale)
        .key(load(&ed))
        .host_key(HostKeyPolicy::KnownHosts(sshd.known_hosts().unwrap()));
    // As agent_from_env sets it: skipped, the key still logs in.
    config.agent_optional = true;
    let c = connect("127.0.0.1", sshd.port(), config).await.unwrap();
    assert_eq!(c.run("true").await.unwrap().exit_status, Some(0));
    c.disconnect().await;
    // A certificate of another key is refused when configured.
    let other = keygen(dir.path(), "other", &["-t", "ed25519"]);
    let ca = keygen(dir.path(), "ca", &["-t", "ed25519"]);
    let o = Command::new(find("ssh-keygen").unwrap())
        .args(["-q", "-s"])
        .arg(&ca)
        .args(["-I", "x", "-n", "x"])
        .arg(other.with_extension("pub"))
        .output()
        .unwrap();
    assert!(o.status.success());
    let cert_text = std::fs::read_to_string(dir.path().join("other-cert.pub")).unwrap();
    let (cert, _) = whelk_keys::cert::Certificate::from_openssh(cert_text.trim()).unwrap();
    assert!(
        ClientConfig::new(&user())
            .key_with_certificate(load(&ed), cert.clone())
            .is_err()
    );
    assert!(
        ClientConfig::new(&user())
            .key_with_certificate(load(&other), cert)
            .is_ok()
    );
}
