//! `whelk server` with `HostbasedAuthentication yes`: OpenSSH's `ssh` signs through
//! `ssh-keysign` (client host `localhost.` for 127.0.0.1), and the server trusts the pair
//! (localhost, user) from `~/.shosts` and the host key from `~/.ssh/known_hosts` in the
//! fixture's home.
//!
//! `ssh-keysign` reads only `/etc/ssh` (`ssh_config` with `EnableSSHKeysign yes`, the host
//! keys): `ssh` runs in a private mount namespace (`unshare -m`) with a temporary directory
//! mounted over `/etc/ssh`, as in whelk-tokio's `server_hostbased` test. Needs root (the
//! namespace), OpenSSH's `ssh`, `ssh-keygen`, `ssh-keysign` and util-linux `unshare`; fails
//! when one is missing. As root, sshd (and whelk) read `~/.shosts` only with
//! `PermitRootLogin yes`, so the server gets that option.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Fixture, RUN, Server, me};
use whelk_test::openssh::{self, Ssh, find};

const KEYSIGN: &str = "/usr/lib/openssh/ssh-keysign";

/// The options of a server that accepts hostbased with `~/.shosts` (and does not hold a
/// test's refused attempts against 127.0.0.1).
const HOSTBASED: &[&str] = &[
    "-o",
    "PerSourcePenalties=no",
    "-o",
    "HostbasedAuthentication=yes",
    "-o",
    "HostbasedUsesNameFromPacketOnly=yes",
    "-o",
    "IgnoreRhosts=shosts-only",
    "-o",
    "PermitRootLogin=yes",
];

/// The client side: a directory to mount over `/etc/ssh` with `ssh_config` and an Ed25519
/// host key, and that key's public line.
struct ClientHost {
    _dir: tempfile::TempDir,
    etc: PathBuf,
    public: String,
}

impl ClientHost {
    fn new() -> Self {
        for tool in ["ssh", "ssh-keygen"] {
            find(tool).unwrap_or_else(|e| panic!("{tool}: {e} (this test needs openssh-client)"));
        }
        find("unshare").expect("unshare (util-linux) not installed");
        assert!(
            Path::new(KEYSIGN).exists(),
            "{KEYSIGN} missing (openssh-client)"
        );
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc-ssh");
        std::fs::create_dir(&etc).unwrap();
        std::fs::write(etc.join("ssh_config"), "EnableSSHKeysign yes\n").unwrap();
        let key = etc.join("ssh_host_ed25519_key");
        common::keygen(&key, "ed25519");
        let public = common::public_line(&key);
        Self {
            _dir: dir,
            etc,
            public,
        }
    }

    /// `ssh` (hostbased only) running `echo hostbased` on `server`, with this `/etc/ssh`.
    fn ssh(&self, server: &Server) -> openssh::Output {
        self.ssh_with(server, "ssh-ed25519")
    }

    /// [`ClientHost::ssh`] offering the host key `algorithms`.
    fn ssh_with(&self, server: &Server, algorithms: &str) -> openssh::Output {
        let ssh = Ssh::new(server.addr)
            .user(me())
            .option("PreferredAuthentications", "hostbased")
            .option("HostbasedAuthentication", "yes")
            .option("EnableSSHKeysign", "yes")
            .option("HostbasedAcceptedAlgorithms", algorithms)
            .remote_command("echo hostbased");
        let inner = ssh.command().unwrap();
        let mut cmd = Command::new(find("unshare").unwrap());
        cmd.args([
            "-m",
            "sh",
            "-c",
            r#"mount --bind "$0" /etc/ssh && exec "$@""#,
        ])
        .arg(&self.etc)
        .arg(inner.get_program())
        .args(inner.get_args());
        openssh::run(cmd, RUN).unwrap()
    }
}

fn write(path: &Path, text: &str, mode: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A fixture whose home trusts `client` for the current user: `~/.shosts` and
/// `~/.ssh/known_hosts`.
fn trusting(client: &ClientHost) -> Fixture {
    let f = Fixture::new();
    let home = f.home();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755)).unwrap();
    write(
        &home.join(".shosts"),
        &format!("localhost {}\n", me()),
        0o600,
    );
    write(
        &home.join(".ssh/known_hosts"),
        &format!("localhost {}\n", client.public),
        0o644,
    );
    f
}

#[test]
fn openssh_logs_in_with_hostbased() {
    let client = ClientHost::new();
    let f = trusting(&client);
    let server = f.start(HOSTBASED);
    let out = client.ssh(&server);
    assert!(
        out.status.success(),
        "{}\n{}",
        out.stderr_str(),
        server.log()
    );
    assert_eq!(out.stdout_str(), "hostbased\n");
    server.assert_logged(&format!("accepted hostbased for {} from 127.0.0.1:", me()));
    server.assert_logged(&format!("(client {}@localhost)", me()));
}

#[test]
fn claimed_name_is_checked_against_the_peer_address() {
    // HostbasedUsesNameFromPacketOnly no (the default): `localhost` resolves to 127.0.0.1.
    let client = ClientHost::new();
    let f = trusting(&client);
    let server = f.start(&[
        "-o",
        "HostbasedAuthentication=yes",
        "-o",
        "IgnoreRhosts=shosts-only",
        "-o",
        "PermitRootLogin=yes",
    ]);
    let out = client.ssh(&server);
    assert!(
        out.status.success(),
        "{}\n{}",
        out.stderr_str(),
        server.log()
    );
    assert_eq!(out.stdout_str(), "hostbased\n");
}

#[test]
fn host_key_not_in_known_hosts_is_refused() {
    let client = ClientHost::new();
    let f = trusting(&client);
    let other = f.path("other_host_key");
    common::keygen(&other, "ed25519");
    write(
        &f.home().join(".ssh/known_hosts"),
        &format!("localhost {}\n", common::public_line(&other)),
        0o644,
    );
    let server = f.start(HOSTBASED);
    let out = client.ssh(&server);
    common::assert_denied(&out);
    server.assert_logged("host key for localhost does not match");
    // Listed for another name only.
    write(
        &f.home().join(".ssh/known_hosts"),
        &format!("elsewhere {}\n", client.public),
        0o644,
    );
    common::assert_denied(&client.ssh(&server));
    server.assert_logged("host key for localhost not known");
    // Revoked.
    write(
        &f.home().join(".ssh/known_hosts"),
        &format!("localhost {0}\n@revoked * {0}\n", client.public),
        0o644,
    );
    common::assert_denied(&client.ssh(&server));
    server.assert_logged("revoked host key for localhost");
}

#[test]
fn user_not_in_shosts_is_refused() {
    let client = ClientHost::new();
    let f = trusting(&client);
    write(&f.home().join(".shosts"), "localhost someone-else\n", 0o600);
    let server = f.start(HOSTBASED);
    common::assert_denied(&client.ssh(&server));
    server.assert_logged("failed hostbased");
    // A negated line wins when it comes first.
    write(
        &f.home().join(".shosts"),
        &format!("localhost -{0}\nlocalhost {0}\n", me()),
        0o600,
    );
    common::assert_denied(&client.ssh(&server));
    server.assert_logged("negative entry");
}

#[test]
fn group_writable_shosts_is_refused() {
    let client = ClientHost::new();
    let f = trusting(&client);
    let shosts = f.home().join(".shosts");
    std::fs::set_permissions(&shosts, std::fs::Permissions::from_mode(0o620)).unwrap();
    let server = f.start(HOSTBASED);
    common::assert_denied(&client.ssh(&server));
    server.assert_logged("bad modes for");
    // StrictModes no lets it count.
    let relaxed: Vec<&str> = HOSTBASED
        .iter()
        .copied()
        .chain(["-o", "StrictModes=no"])
        .collect();
    let server = f.start(&relaxed);
    let out = client.ssh(&server);
    assert!(
        out.status.success(),
        "{}\n{}",
        out.stderr_str(),
        server.log()
    );
}

#[test]
fn shosts_is_ignored_by_default() {
    // IgnoreRhosts yes (the default) ignores ~/.shosts.
    let client = ClientHost::new();
    let f = trusting(&client);
    let server = f.start(&[
        "-o",
        "HostbasedAuthentication=yes",
        "-o",
        "HostbasedUsesNameFromPacketOnly=yes",
        "-o",
        "PermitRootLogin=yes",
    ]);
    common::assert_denied(&client.ssh(&server));
    server.assert_logged("failed hostbased");
}

#[test]
fn hostbased_is_off_by_default() {
    let client = ClientHost::new();
    let f = trusting(&client);
    let server = f.start(&[
        "-o",
        "IgnoreRhosts=shosts-only",
        "-o",
        "PermitRootLogin=yes",
    ]);
    let out = client.ssh(&server);
    common::assert_denied(&out);
    assert!(
        !server.log().contains("accepted hostbased"),
        "{}",
        server.log()
    );
}

#[test]
fn host_certificate_from_a_cert_authority() {
    let client = ClientHost::new();
    let f = trusting(&client);
    let ca = f.path("host_ca");
    common::keygen(&ca, "ed25519");
    let key = client.etc.join("ssh_host_ed25519_key.pub");
    let sign = |principal: &str| {
        let out = common::ssh_keygen(&[
            "-q",
            "-s",
            common::s(&ca),
            "-h",
            "-I",
            "client-host",
            "-n",
            principal,
            common::s(&key),
        ]);
        assert!(out.status.success(), "{}", common::err_text(&out.stderr));
    };
    sign("localhost");
    // Only the CA is trusted, not the plain key.
    write(
        &f.home().join(".ssh/known_hosts"),
        &format!("@cert-authority localhost {}\n", common::public_line(&ca)),
        0o644,
    );
    let server = f.start(HOSTBASED);
    let certs = "ssh-ed25519-cert-v01@openssh.com,ssh-ed25519";
    let out = client.ssh_with(&server, certs);
    assert!(
        out.status.success(),
        "{}\n{}",
        out.stderr_str(),
        server.log()
    );
    assert_eq!(out.stdout_str(), "hostbased\n");
    server.assert_logged("accepted hostbased");
    server.assert_logged("certificate ssh-ed25519 ID \"client-host\"");
    // A certificate for another name is refused (and the plain key is unknown).
    sign("elsewhere");
    common::assert_denied(&client.ssh_with(&server, certs));
    server.assert_logged("host certificate for localhost:");
}

#[test]
fn accepted_algorithms_are_enforced() {
    let client = ClientHost::new();
    let f = trusting(&client);
    let args: Vec<&str> = HOSTBASED
        .iter()
        .copied()
        .chain(["-o", "HostbasedAcceptedAlgorithms=ecdsa-sha2-nistp256"])
        .collect();
    let server = f.start(&args);
    common::assert_denied(&client.ssh(&server));
    server.assert_logged("ssh-ed25519 is not in HostbasedAcceptedAlgorithms");
}
