//! `hostbased` authentication (RFC 4252 section 9) from the whelk-std client against
//! OpenSSH's sshd.
//!
//! sshd finds the trusted client host in the target user's `~/.shosts` and the client
//! host key in `~/.ssh/known_hosts` (for root the only files it reads). The tests log in
//! as the user running them (root) without writing into the real home: sshd runs in a
//! private mount namespace with a temporary directory bind-mounted over that home
//! (`SshdBuilder::bind_mount`). `HostbasedUsesNameFromPacketOnly yes` makes sshd take the
//! host name from the request rather than from the reverse DNS of 127.0.0.1.
//!
//! Fails (never skips) when sshd, unshare or root privileges are missing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use tempfile::TempDir;
use whelk::PrivateKey;
use whelk_std::{ClientConfig, Error, HostKeyPolicy, connect};
use whelk_test::openssh::{HostKeyType, Sshd, current_user, find, keygen};

/// The client host's name as sshd knows it (whelk sends it with a trailing dot).
const CLIENT_HOST: &str = "client.whelk.test";
/// The user on the client host.
const CLIENT_USER: &str = "hb-client";

/// A client host key (Ed25519, by `ssh-keygen`) and an sshd whose target user's home
/// trusts it under [`CLIENT_HOST`], for `shosts_user` in `~/.shosts`; the sshd also
/// accepts `user_key` for publickey.
fn setup(home: &TempDir, shosts_user: &str, user_key: &PrivateKey) -> (Sshd, PrivateKey) {
    find("sshd").expect("sshd not installed: these interop tests need openssh-server");
    find("unshare").expect("unshare not installed: these tests need util-linux");
    let path = home.path().join("client_host_ed25519");
    keygen(HostKeyType::Ed25519, &path).unwrap();
    let key = PrivateKey::from_openssh(&std::fs::read_to_string(&path).unwrap(), None).unwrap();
    let sshd = Sshd::builder()
        .hostbased_home(
            home.path(),
            &format!("{CLIENT_HOST} {shosts_user}\n"),
            &format!(
                "{CLIENT_HOST} {}\n",
                key.public_key().to_openssh("client-host-key")
            ),
        )
        .unwrap()
        .authorized_key(user_key.public_key().to_openssh("user-key"))
        .start()
        .unwrap();
    (sshd, key)
}

#[test]
fn hostbased_logs_in_before_publickey_is_tried() {
    let home = tempfile::tempdir().unwrap();
    let user_key = PrivateKey::ed25519_from_seed(&[21; 32]);
    let (sshd, key) = setup(&home, CLIENT_USER, &user_key);
    let user = current_user().unwrap();
    let config = ClientConfig::new(&user)
        .host_key(HostKeyPolicy::KnownHosts(sshd.known_hosts().unwrap()))
        .key(user_key)
        .hostbased(key, CLIENT_HOST, CLIENT_USER);
    let c = connect("127.0.0.1", sshd.port(), config)
        .unwrap_or_else(|e| panic!("{e}\n{}", sshd.stderr_log()));
    let out = c.run("echo hostbased-ok; id -un").unwrap();
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
    assert!(!log.contains("method publickey"), "{log}");
    c.disconnect();
}

#[test]
fn client_user_missing_from_shosts_fails_authentication() {
    let home = tempfile::tempdir().unwrap();
    let (sshd, key) = setup(
        &home,
        "someone-else",
        &PrivateKey::ed25519_from_seed(&[21; 32]),
    );
    let config = ClientConfig::new(&current_user().unwrap())
        .host_key(HostKeyPolicy::KnownHosts(sshd.known_hosts().unwrap()))
        .hostbased(key, CLIENT_HOST, CLIENT_USER);
    let r = connect("127.0.0.1", sshd.port(), config);
    assert!(
        matches!(
            r,
            Err(Error::Ssh(whelk::Error::Auth(
                whelk_auth::Error::NoMoreMethods { .. }
            )))
        ),
        "{r:?}\n{}",
        sshd.stderr_log()
    );
    assert!(sshd.logged("Failed hostbased for"), "{}", sshd.stderr_log());
}
