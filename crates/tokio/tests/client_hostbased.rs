//! `hostbased` authentication (RFC 4252 section 9) from the whelk-tokio client against
//! OpenSSH's sshd, started by each test.
//!
//! sshd trusts a client host through files in the target user's home: `~/.shosts`
//! (`client_host client_user`) and `~/.ssh/known_hosts` (the client host key under
//! `client_host`); for root those are the only ones it reads (`hosts.equiv` and
//! `shosts.equiv` are skipped). The tests log in as the user running them (root here) and
//! never write into the real home: sshd runs in a private mount namespace in which a
//! temporary directory is bind-mounted over that home ([`SshdBuilder::bind_mount`]).
//! `HostbasedUsesNameFromPacketOnly yes` makes sshd take the host name from the request
//! instead of the reverse DNS of 127.0.0.1.
//!
//! These tests fail (never skip) when sshd, unshare or root privileges are missing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use tempfile::TempDir;
use whelk::PrivateKey;
use whelk_test::openssh::{HostKeyType, Sshd, SshdBuilder, current_user, find, keygen};
use whelk_tokio::{ClientConfig, Error, HostKeyPolicy, connect};

/// The client host's name as sshd knows it (whelk sends it with a trailing dot).
const CLIENT_HOST: &str = "client.whelk.test";
/// The user on the client host.
const CLIENT_USER: &str = "hb-client";

/// A client host key of type `ty`, made by `ssh-keygen` in `dir`.
fn host_key(dir: &Path, ty: HostKeyType) -> PrivateKey {
    let path = dir.join(format!("client_{}", ty.file_name()));
    keygen(ty, &path).unwrap();
    PrivateKey::from_openssh(&std::fs::read_to_string(&path).unwrap(), None).unwrap()
}

/// An sshd accepting hostbased authentication, whose target user's home (the current
/// user's, seen only by sshd) holds `shosts` as `.shosts` and `known_hosts` as
/// `.ssh/known_hosts`. `configure` may add more settings.
fn hostbased_sshd(
    home: &TempDir,
    shosts: &str,
    known_hosts: &str,
    configure: impl FnOnce(SshdBuilder) -> SshdBuilder,
) -> Sshd {
    find("sshd").expect("sshd not installed: these interop tests need openssh-server");
    find("unshare").expect("unshare not installed: these tests need util-linux");
    configure(
        Sshd::builder()
            .hostbased_home(home.path(), shosts, known_hosts)
            .unwrap(),
    )
    .start()
    .unwrap()
}

/// `client_host keytype base64` for `key`.
fn known_host_line(host: &str, key: &PrivateKey) -> String {
    format!(
        "{host} {}\n",
        key.public_key().to_openssh("client-host-key")
    )
}

/// Client settings with only hostbased authentication.
fn config(sshd: &Sshd, key: PrivateKey, client_user: &str) -> ClientConfig {
    ClientConfig::new(&current_user().unwrap())
        .host_key(HostKeyPolicy::KnownHosts(sshd.known_hosts().unwrap()))
        .hostbased(key, CLIENT_HOST, client_user)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ed25519_host_key_logs_in_and_runs_a_command() {
    let keys = tempfile::tempdir().unwrap();
    let key = host_key(keys.path(), HostKeyType::Ed25519);
    let home = tempfile::tempdir().unwrap();
    let sshd = hostbased_sshd(
        &home,
        &format!("{CLIENT_HOST} {CLIENT_USER}\n"),
        &known_host_line(CLIENT_HOST, &key),
        // DEBUG2 shows the name as it arrived, with its trailing dot.
        |b| b.option("LogLevel", "DEBUG2"),
    );
    let user = current_user().unwrap();
    let c = connect("127.0.0.1", sshd.port(), config(&sshd, key, CLIENT_USER))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", sshd.stderr_log()));
    let out = c.run("echo hostbased-ok; id -un").await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("hostbased-ok\n{user}\n")
    );
    assert!(
        sshd.logged(&format!("Accepted hostbased for {user} from 127.0.0.1")),
        "{}",
        sshd.stderr_log()
    );
    let log = sshd.stderr_log();
    assert!(
        log.contains(&format!(
            "cuser {CLIENT_USER} chost {CLIENT_HOST}. pkalg ssh-ed25519"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!("stripping trailing dot from chost {CLIENT_HOST}.")),
        "{log}"
    );
    c.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_host_key_signs_with_rsa_sha2_512() {
    let keys = tempfile::tempdir().unwrap();
    let key = host_key(keys.path(), HostKeyType::Rsa);
    let home = tempfile::tempdir().unwrap();
    let sshd = hostbased_sshd(
        &home,
        &format!("{CLIENT_HOST} {CLIENT_USER}\n"),
        &known_host_line(CLIENT_HOST, &key),
        |b| b,
    );
    let user = current_user().unwrap();
    let c = connect("127.0.0.1", sshd.port(), config(&sshd, key, CLIENT_USER))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", sshd.stderr_log()));
    let out = c.run("echo rsa-ok").await.unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "rsa-ok\n");
    assert!(
        sshd.logged(&format!("Accepted hostbased for {user} from 127.0.0.1")),
        "{}",
        sshd.stderr_log()
    );
    let log = sshd.stderr_log();
    assert!(
        log.contains(&format!("chost {CLIENT_HOST}. pkalg rsa-sha2-512")),
        "{log}"
    );
    c.disconnect().await;
}

/// Asserts that connecting with only hostbased fails as an authentication failure.
async fn assert_refused(sshd: &Sshd, key: PrivateKey, client_user: &str) {
    let r = connect("127.0.0.1", sshd.port(), config(sshd, key, client_user)).await;
    let why = match r {
        Err(Error::Closed(why)) => why,
        other => panic!("{other:?}\n{}", sshd.stderr_log()),
    };
    assert!(
        why.contains("no more authentication methods"),
        "{why}\n{}",
        sshd.stderr_log()
    );
    assert!(sshd.logged("Failed hostbased for"), "{}", sshd.stderr_log());
    assert!(!sshd.stderr_log().contains("Accepted "));
}

/// Whether sshd got past `~/.shosts` to looking the host key up (it then loads the
/// known-hosts files).
fn looked_up_host_key(sshd: &Sshd) -> bool {
    sshd.stderr_log().contains("load_hostkeys")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_key_missing_from_known_hosts_is_refused() {
    let keys = tempfile::tempdir().unwrap();
    let key = host_key(keys.path(), HostKeyType::Ed25519);
    let listed = PrivateKey::ed25519_from_seed(&[7; 32]);
    let home = tempfile::tempdir().unwrap();
    let sshd = hostbased_sshd(
        &home,
        &format!("{CLIENT_HOST} {CLIENT_USER}\n"),
        // Another key under the right name, and the right key under another name.
        &format!(
            "{}{}",
            known_host_line(CLIENT_HOST, &listed),
            known_host_line("other.whelk.test", &key)
        ),
        |b| b,
    );
    assert_refused(&sshd, key, CLIENT_USER).await;
    // Refused for the key, not for the names.
    assert!(looked_up_host_key(&sshd), "{}", sshd.stderr_log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_user_missing_from_shosts_is_refused() {
    let keys = tempfile::tempdir().unwrap();
    let key = host_key(keys.path(), HostKeyType::Ed25519);
    let home = tempfile::tempdir().unwrap();
    let sshd = hostbased_sshd(
        &home,
        &format!("{CLIENT_HOST} someone-else\n"),
        &known_host_line(CLIENT_HOST, &key),
        |b| b,
    );
    assert_refused(&sshd, key, CLIENT_USER).await;
    // Refused by `~/.shosts`, before the (listed) key was looked up.
    assert!(!looked_up_host_key(&sshd), "{}", sshd.stderr_log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostbased_is_tried_before_publickey() {
    let keys = tempfile::tempdir().unwrap();
    let key = host_key(keys.path(), HostKeyType::Ed25519);
    // A user key sshd would accept too.
    let user_key = PrivateKey::ed25519_from_seed(&[21; 32]);
    let home = tempfile::tempdir().unwrap();
    let sshd = hostbased_sshd(
        &home,
        &format!("{CLIENT_HOST} {CLIENT_USER}\n"),
        &known_host_line(CLIENT_HOST, &key),
        |b| b.authorized_key(user_key.public_key().to_openssh("user-key")),
    );
    let user = current_user().unwrap();
    let config = config(&sshd, key, CLIENT_USER).key(user_key);
    let c = connect("127.0.0.1", sshd.port(), config)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", sshd.stderr_log()));
    let out = c.run("echo first").await.unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "first\n");
    assert!(
        sshd.logged(&format!("Accepted hostbased for {user}")),
        "{}",
        sshd.stderr_log()
    );
    let log = sshd.stderr_log();
    assert!(log.contains("method hostbased"), "{log}");
    assert!(!log.contains("method publickey"), "{log}");
    c.disconnect().await;
}
