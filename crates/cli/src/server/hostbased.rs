//! `hostbased` authentication decisions of `whelk server` (RFC 4252 §9), with the rules of
//! OpenSSH's sshd (`auth2-hostbased.c`, `auth-rhosts.c`).
//!
//! The library has already checked the client host's signature; what is left is trust:
//!
//! 1. The client host name from the packet loses one trailing dot (`ssh-keysign` sends
//!    `localhost.`). With `HostbasedUsesNameFromPacketOnly no` (the default) sshd looks up
//!    the reverse DNS name of the peer address and uses that name; **whelk instead checks
//!    that the claimed name resolves (forward lookup) to the peer address** and refuses the
//!    request otherwise ("userauth_hostbased mismatch"), then uses the claimed name.
//! 2. The (host, client user) pair must be allowed by `/etc/hosts.equiv` or
//!    `/etc/ssh/shosts.equiv` (not for root), else by `~/.shosts` (unless `IgnoreRhosts yes`,
//!    the default) or `~/.rhosts` (only with `IgnoreRhosts no`); as root, the files in the home
//!    directory count only with `PermitRootLogin yes`. Lines are `host [user]` (`user`
//!    defaults to the target user), a `-` before either negates the line, a `+` before it is
//!    dropped, a lone `+` (wildcard) is ignored, as sshd does. `@netgroup` entries are not
//!    supported (skipped). With `StrictModes yes` (the default), the home directory and files
//!    in it that others may write, or owned by someone else than the user or root, are refused.
//! 3. The host key must be listed for that host name in `/etc/ssh/ssh_known_hosts` or
//!    `~/.ssh/known_hosts` (unless `IgnoreUserKnownHosts yes`), falling back to the
//!    `known_hosts2` files when neither says anything about the host, and not be `@revoked`.
//!    A host certificate must be valid now, for that name (when it lists principals), and
//!    signed by an `@cert-authority` for the host.
//!
//! Before all this, the signature algorithm (for a certificate its `*-cert-v01@openssh.com`
//! name) must be in `HostbasedAcceptedAlgorithms` (checked by the handler).

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use tracing::debug;
use whelk_config::server::IgnoreRhosts;
use whelk_keys::VerifyPolicy;
use whelk_keys::cert::{CertType, KeyOrCert};
use whelk_keys::known_hosts::{HostKeyStatus, KnownHosts};

/// `/etc/hosts.equiv`.
pub(crate) const HOSTS_EQUIV: &str = "/etc/hosts.equiv";
/// `/etc/ssh/shosts.equiv`.
pub(crate) const SHOSTS_EQUIV: &str = "/etc/ssh/shosts.equiv";
/// The system known_hosts files (sshd's `_PATH_SSH_SYSTEM_HOSTFILE` and `...2`).
pub(crate) const SYSTEM_KNOWN_HOSTS: [&str; 2] =
    ["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"];

/// Where the trust comes from.
#[derive(Debug, Clone)]
pub(crate) struct Files {
    /// The system equivalence files, in order (skipped for root).
    pub(crate) equiv: Vec<PathBuf>,
    /// The system known_hosts files (the first, then the compatibility one).
    pub(crate) system_known_hosts: [PathBuf; 2],
    /// The target user's home directory.
    pub(crate) home: PathBuf,
}

impl Files {
    /// The system paths and `home`.
    pub(crate) fn system(home: &Path) -> Self {
        Self {
            equiv: vec![HOSTS_EQUIV.into(), SHOSTS_EQUIV.into()],
            system_known_hosts: SYSTEM_KNOWN_HOSTS.map(PathBuf::from),
            home: home.to_path_buf(),
        }
    }
}

/// The settings that matter here.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    /// `IgnoreRhosts`.
    pub(crate) ignore_rhosts: IgnoreRhosts,
    /// `IgnoreUserKnownHosts`.
    pub(crate) ignore_user_known_hosts: bool,
    /// `StrictModes`.
    pub(crate) strict_modes: bool,
    /// `PermitRootLogin yes`.
    pub(crate) permit_root_login_yes: bool,
    /// The target user's uid.
    pub(crate) uid: u32,
}

/// The client host name with one trailing dot removed, as sshd does.
pub(crate) fn strip_dot(host: &str) -> &str {
    host.strip_suffix('.').unwrap_or(host)
}

/// Whether `name` resolves (forward lookup) to `peer`'s address; the check whelk makes
/// instead of sshd's reverse lookup. Blocking (the resolver); call off the async threads.
pub(crate) fn resolves_to(name: &str, peer: IpAddr) -> bool {
    match (name, 0).to_socket_addrs() {
        Ok(addrs) => addrs
            .map(|a: SocketAddr| a.ip())
            .any(|ip| same_ip(ip, peer)),
        Err(e) => {
            debug!("hostbased: resolving {name}: {e}");
            false
        }
    }
}

fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}

/// What one `hosts.equiv`/`.shosts` file says about (host, client user): `Some(true)`
/// allowed, `Some(false)` a negated line matched, `None` nothing matched
/// (sshd's `check_rhosts_file`: the first matching line decides).
pub(crate) fn check_rhosts_text(
    text: &str,
    hostname: &str,
    ipaddr: &str,
    client_user: &str,
    server_user: &str,
) -> Option<bool> {
    for line in text.lines() {
        let line = line.trim_start_matches([' ', '\t']);
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let (host, user) = match words.as_slice() {
            [h] => (*h, server_user),
            [h, u] => (*h, *u),
            _ => {
                debug!("hostbased: garbage line in rhosts file skipped");
                continue;
            }
        };
        let mut negated = false;
        let host = if let Some(h) = host.strip_prefix('-') {
            negated = true;
            h
        } else {
            host.strip_prefix('+').unwrap_or(host)
        };
        let user = if let Some(u) = user.strip_prefix('-') {
            negated = true;
            u
        } else {
            user.strip_prefix('+').unwrap_or(user)
        };
        if host.is_empty() || user.is_empty() {
            debug!("hostbased: wildcard host/user name ignored in rhosts file");
            continue;
        }
        if host.starts_with('@') || user.starts_with('@') {
            debug!("hostbased: netgroup entry {host} {user} not supported, skipped");
            continue;
        }
        if !host.eq_ignore_ascii_case(hostname) && host != ipaddr {
            continue;
        }
        if user != client_user {
            continue;
        }
        return Some(!negated);
    }
    None
}

/// Whether `meta` passes sshd's StrictModes check for user `uid`: owned by the user or root,
/// not writable by group or others.
fn secure(meta: &std::fs::Metadata, uid: u32) -> bool {
    (meta.uid() == 0 || meta.uid() == uid) && meta.mode() & 0o022 == 0
}

/// Whether the equivalence files allow `client_user` from `hostname`/`ipaddr` to log in as
/// `server_user`: `Ok(file)` names the file that allowed it, `Err` says why not.
pub(crate) fn rhosts_allowed(
    policy: &Policy,
    files: &Files,
    server_user: &str,
    client_user: &str,
    hostname: &str,
    ipaddr: &str,
) -> Result<PathBuf, String> {
    let root = policy.uid == 0;
    let check = |path: &Path| -> Option<bool> {
        let text = std::fs::read_to_string(path).ok()?;
        check_rhosts_text(&text, hostname, ipaddr, client_user, server_user)
    };
    if root {
        debug!("hostbased: root user, ignoring system hosts files");
    } else {
        for path in &files.equiv {
            // A negated line in a system file only ends that file's check (as sshd).
            if check(path) == Some(true) {
                return Ok(path.clone());
            }
        }
    }
    let home = std::fs::metadata(&files.home)
        .map_err(|e| format!("no home directory {}: {e}", files.home.display()))?;
    if policy.strict_modes && !secure(&home, policy.uid) {
        return Err(format!(
            "bad ownership or modes for home directory {}",
            files.home.display()
        ));
    }
    let mut why = format!("no equivalence file allows {client_user}@{hostname}");
    for name in [".shosts", ".rhosts"] {
        let path = files.home.join(name);
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if policy.strict_modes && !secure(&meta, policy.uid) {
            why = format!("bad modes for {}", path.display());
            tracing::info!(
                "hostbased: refused {}: bad ownership or modes",
                path.display()
            );
            continue;
        }
        let ignored = (root && !policy.permit_root_login_yes)
            || policy.ignore_rhosts == IgnoreRhosts::Yes
            || (policy.ignore_rhosts == IgnoreRhosts::ShostsOnly && name != ".shosts");
        if ignored {
            debug!("hostbased: configured to ignore {}", path.display());
            continue;
        }
        match check(&path) {
            Some(true) => return Ok(path),
            Some(false) => {
                why = format!("negative entry in {}", path.display());
            }
            None => {}
        }
    }
    Err(why)
}

/// What the known_hosts files say about `key` for `host` (`Err`: an invalid certificate).
fn status_in(
    paths: &[PathBuf],
    host: &str,
    key: &KeyOrCert,
    now: u64,
) -> Result<HostKeyStatus, String> {
    let mut text = String::new();
    for p in paths {
        if let Ok(t) = std::fs::read_to_string(p) {
            text.push_str(&t);
            text.push('\n');
        }
    }
    let known = KnownHosts::parse(&text);
    let keys = known.lookup(host, 22);
    Ok(match key {
        KeyOrCert::Key(k) => keys.check(k),
        KeyOrCert::Certificate(c) => {
            let principal = (!c.principals().is_empty()).then_some(host);
            if keys.revoked.iter().any(|e| e.key == *c.public_key()) {
                HostKeyStatus::Revoked
            } else if let Err(e) =
                c.validate(now, CertType::Host, principal, &VerifyPolicy::default())
            {
                return Err(format!("host certificate for {host}: {e}"));
            } else if keys.is_trusted_ca(c.signature_key()) {
                HostKeyStatus::Trusted
            } else if keys.revoked.iter().any(|e| e.key == *c.signature_key()) {
                HostKeyStatus::Revoked
            } else {
                HostKeyStatus::Unknown
            }
        }
    })
}

/// Whether `key` is a known host key of `host` (sshd's `check_key_in_hostfiles`, the
/// `known_hosts2` files as fallback when the first pair knows nothing).
pub(crate) fn host_key_known(
    policy: &Policy,
    files: &Files,
    host: &str,
    key: &KeyOrCert,
    now: u64,
) -> Result<(), String> {
    let user_file = |name: &str| -> Option<PathBuf> {
        if policy.ignore_user_known_hosts {
            return None;
        }
        let path = files.home.join(".ssh").join(name);
        match std::fs::metadata(&path) {
            Ok(meta) if policy.strict_modes && !secure(&meta, policy.uid) => {
                tracing::info!(
                    "hostbased: ignored {}: bad ownership or modes",
                    path.display()
                );
                None
            }
            _ => Some(path),
        }
    };
    let [sys1, sys2] = &files.system_known_hosts;
    let first: Vec<PathBuf> = std::iter::once(sys1.clone())
        .chain(user_file("known_hosts"))
        .collect();
    let mut status = status_in(&first, host, key, now)?;
    if status == HostKeyStatus::Unknown {
        let second: Vec<PathBuf> = std::iter::once(sys2.clone())
            .chain(user_file("known_hosts2"))
            .collect();
        status = status_in(&second, host, key, now)?;
    }
    match status {
        HostKeyStatus::Trusted => Ok(()),
        HostKeyStatus::Revoked => Err(format!("revoked host key for {host}")),
        HostKeyStatus::Changed => Err(format!("host key for {host} does not match")),
        HostKeyStatus::Unknown => Err(format!("host key for {host} not known")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    use whelk_keys::PrivateKey;
    use whelk_keys::SigAlg;
    use whelk_keys::cert::CertBuilder;

    #[test]
    fn rhosts_lines() {
        let c = |text: &str, host: &str, cuser: &str| {
            check_rhosts_text(text, host, "192.0.2.1", cuser, "alice")
        };
        // Host alone: the client user must be the target user.
        assert_eq!(c("client.example\n", "client.example", "alice"), Some(true));
        assert_eq!(c("client.example\n", "client.example", "bob"), None);
        assert_eq!(
            c("CLIENT.example bob\n", "client.example", "bob"),
            Some(true)
        );
        assert_eq!(c("192.0.2.1 bob\n", "other", "bob"), Some(true));
        assert_eq!(c("+client bob\n", "client", "bob"), Some(true));
        // Negations: the first matching line decides.
        assert_eq!(c("-client bob\nclient bob\n", "client", "bob"), Some(false));
        assert_eq!(c("client -bob\nclient bob\n", "client", "bob"), Some(false));
        assert_eq!(c("-other bob\nclient bob\n", "client", "bob"), Some(true));
        // Wildcards, netgroups, comments and garbage are skipped.
        assert_eq!(c("+\n+ +\nclient +\n", "client", "alice"), None);
        assert_eq!(c("@hosts\n@hosts @users\n", "client", "alice"), None);
        assert_eq!(c("# client\n\n  \t\nclient a b\n", "client", "alice"), None);
        assert_eq!(c("  client\n", "client", "alice"), Some(true));
    }

    #[test]
    fn trailing_dot() {
        assert_eq!(strip_dot("localhost."), "localhost");
        assert_eq!(strip_dot("localhost"), "localhost");
        assert_eq!(strip_dot("a.."), "a.");
    }

    #[test]
    fn loopback_resolves() {
        assert!(resolves_to("127.0.0.1", "127.0.0.1".parse().unwrap()));
        assert!(!resolves_to("127.0.0.1", "127.0.0.2".parse().unwrap()));
        assert!(resolves_to(
            "127.0.0.1",
            "::ffff:127.0.0.1".parse::<IpAddr>().unwrap()
        ));
    }

    struct Env {
        dir: tempfile::TempDir,
        files: Files,
        policy: Policy,
    }

    fn env() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755)).unwrap();
        let files = Files {
            equiv: vec![
                dir.path().join("hosts.equiv"),
                dir.path().join("shosts.equiv"),
            ],
            system_known_hosts: [
                dir.path().join("ssh_known_hosts"),
                dir.path().join("ssh_known_hosts2"),
            ],
            home,
        };
        let policy = Policy {
            ignore_rhosts: IgnoreRhosts::ShostsOnly,
            ignore_user_known_hosts: false,
            strict_modes: true,
            permit_root_login_yes: false,
            uid: 1000,
        };
        Env { dir, files, policy }
    }

    fn write(path: &Path, text: &str, mode: u32) {
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn me() -> u32 {
        rustix::process::getuid().as_raw()
    }

    #[test]
    fn equivalence_files() {
        let mut e = env();
        e.policy.uid = me();
        let allowed =
            |e: &Env| rhosts_allowed(&e.policy, &e.files, "alice", "bob", "client", "192.0.2.1");
        assert!(allowed(&e).is_err());
        let shosts = e.files.home.join(".shosts");
        write(&shosts, "client bob\n", 0o600);
        if me() != 0 {
            assert_eq!(allowed(&e).unwrap(), shosts);
        }
        e.policy.permit_root_login_yes = true;
        assert_eq!(allowed(&e).unwrap(), shosts);
        // IgnoreRhosts yes ignores ~/.shosts; shosts-only ignores ~/.rhosts.
        e.policy.ignore_rhosts = IgnoreRhosts::Yes;
        assert!(allowed(&e).is_err());
        std::fs::remove_file(&shosts).unwrap();
        let rhosts = e.files.home.join(".rhosts");
        write(&rhosts, "client bob\n", 0o600);
        e.policy.ignore_rhosts = IgnoreRhosts::ShostsOnly;
        assert!(allowed(&e).is_err());
        e.policy.ignore_rhosts = IgnoreRhosts::No;
        assert_eq!(allowed(&e).unwrap(), rhosts);
        // StrictModes: group-writable files and homes are refused.
        write(&rhosts, "client bob\n", 0o620);
        assert!(allowed(&e).unwrap_err().contains("bad modes"));
        e.policy.strict_modes = false;
        assert_eq!(allowed(&e).unwrap(), rhosts);
        e.policy.strict_modes = true;
        write(&rhosts, "client bob\n", 0o600);
        std::fs::set_permissions(&e.files.home, std::fs::Permissions::from_mode(0o775)).unwrap();
        assert!(allowed(&e).unwrap_err().contains("home directory"));
        std::fs::set_permissions(&e.files.home, std::fs::Permissions::from_mode(0o755)).unwrap();
        // Another owner (as seen from a different uid).
        e.policy.uid = me() + 1;
        if me() != 0 {
            assert!(allowed(&e).is_err());
        }
        std::fs::remove_file(&rhosts).unwrap();
        // System files: for users other than root; a negated line there does not end the search.
        e.policy.uid = 1000;
        write(&e.files.equiv[0], "-client bob\n", 0o644);
        write(&e.files.equiv[1], "client bob\n", 0o644);
        assert_eq!(allowed(&e).unwrap(), e.files.equiv[1]);
        e.policy.uid = 0;
        assert!(allowed(&e).is_err());
        drop(e.dir);
    }

    #[test]
    fn known_host_keys() {
        let mut e = env();
        e.policy.uid = me();
        let key = PrivateKey::ed25519_from_seed(&[1; 32]).public_key().clone();
        let other = PrivateKey::ed25519_from_seed(&[2; 32]).public_key().clone();
        let k = KeyOrCert::Key(key.clone());
        let known = |e: &Env| host_key_known(&e.policy, &e.files, "client", &k, 1000);
        assert!(known(&e).unwrap_err().contains("not known"));
        let user = e.files.home.join(".ssh/known_hosts");
        write(&user, &format!("client {}\n", key.to_openssh("")), 0o644);
        assert!(known(&e).is_ok());
        // Another host's name does not count.
        assert!(host_key_known(&e.policy, &e.files, "server", &k, 1000).is_err());
        e.policy.ignore_user_known_hosts = true;
        assert!(known(&e).is_err());
        e.policy.ignore_user_known_hosts = false;
        write(&user, &format!("client {}\n", key.to_openssh("")), 0o666);
        assert!(known(&e).is_err());
        write(&user, &format!("client {}\n", key.to_openssh("")), 0o600);
        // Revoked in the system file.
        write(
            &e.files.system_known_hosts[0],
            &format!("@revoked * {}\n", key.to_openssh("")),
            0o644,
        );
        assert!(known(&e).unwrap_err().contains("revoked"));
        // A different key for the host: changed, no fallback to known_hosts2.
        write(
            &e.files.system_known_hosts[0],
            &format!("client {}\n", other.to_openssh("")),
            0o644,
        );
        std::fs::remove_file(&user).unwrap();
        write(
            &e.files.system_known_hosts[1],
            &format!("client {}\n", key.to_openssh("")),
            0o644,
        );
        assert!(known(&e).unwrap_err().contains("does not match"));
        std::fs::remove_file(&e.files.system_known_hosts[0]).unwrap();
        assert!(known(&e).is_ok());
    }

    #[test]
    fn host_certificates() {
        let mut e = env();
        e.policy.uid = me();
        let ca = PrivateKey::ed25519_from_seed(&[5; 32]);
        let host = PrivateKey::ed25519_from_seed(&[6; 32]).public_key().clone();
        let cert = |principal: &str, kind: CertType| {
            let c = CertBuilder::new(host.clone(), kind, 0, 2000)
                .principal(principal)
                .sign(&ca, SigAlg::Ed25519, &mut crate::common::rng().unwrap())
                .unwrap();
            KeyOrCert::Certificate(Box::new(c))
        };
        write(
            &e.files.home.join(".ssh/known_hosts"),
            &format!(
                "@cert-authority *.example {}\n",
                ca.public_key().to_openssh("")
            ),
            0o600,
        );
        let check = |e: &Env, name: &str, c: &KeyOrCert, now: u64| {
            host_key_known(&e.policy, &e.files, name, c, now)
        };
        let good = cert("a.example", CertType::Host);
        assert!(check(&e, "a.example", &good, 1000).is_ok());
        assert!(
            check(&e, "a.example", &good, 3000)
                .unwrap_err()
                .contains("certificate")
        );
        assert!(check(&e, "b.example", &cert("a.example", CertType::Host), 1000).is_err());
        assert!(check(&e, "a.example", &cert("a.example", CertType::User), 1000).is_err());
        assert!(check(&e, "a.other", &cert("a.other", CertType::Host), 1000).is_err());
        e.policy.ignore_user_known_hosts = true;
        assert!(check(&e, "a.example", &good, 1000).is_err());
    }

    /// The handler's whole decision: method on, user, claimed name against the peer, files.
    #[test]
    fn handler_decision() {
        use super::super::handler::{HostBasedClaim, State};
        use super::super::options::{Settings, Sources};
        use super::super::process::Account;
        use whelk::Decision;

        let e = env();
        let key = PrivateKey::ed25519_from_seed(&[1; 32]).public_key().clone();
        write(&e.files.home.join(".shosts"), "localhost alice\n", 0o600);
        write(
            &e.files.home.join(".ssh/known_hosts"),
            &format!("localhost {}\n", key.to_openssh("")),
            0o600,
        );
        let state = |opts: &[&str]| {
            let sources = Sources {
                options: opts.iter().map(|s| (*s).to_owned()).collect(),
                user: "alice".into(),
                home: e.files.home.clone(),
                ..Sources::default()
            };
            let settings = Settings::resolve(&sources, None).unwrap();
            let account = Account {
                name: "alice".into(),
                home: e.files.home.clone(),
                shell: "/bin/sh".into(),
            };
            (
                State::new(settings.clone(), sources, account, None),
                settings,
            )
        };
        let claim = |user: &str, host: &str| HostBasedClaim {
            user: user.into(),
            key: KeyOrCert::Key(key.clone()),
            algorithm: SigAlg::Ed25519,
            client_host: host.into(),
            client_user: "alice".into(),
        };
        let accepted = |d: Decision| matches!(d, Decision::Accept(_));
        let on = [
            "HostbasedAuthentication yes",
            "IgnoreRhosts shosts-only",
            "PermitRootLogin yes",
        ];
        let local = Some(SocketAddr::from(([127, 0, 0, 1], 40000)));
        let remote = Some(SocketAddr::from(([192, 0, 2, 1], 40000)));
        let (st, s) = state(&on);
        assert!(accepted(st.hostbased_decision(
            &s,
            &claim("alice", "localhost."),
            local
        )));
        // The claimed name does not resolve to the peer: sshd's "userauth_hostbased mismatch".
        assert!(!accepted(st.hostbased_decision(
            &s,
            &claim("alice", "localhost."),
            remote
        )));
        assert!(!accepted(st.hostbased_decision(
            &s,
            &claim("alice", "localhost."),
            None
        )));
        // Only the account's own name.
        assert!(!accepted(st.hostbased_decision(
            &s,
            &claim("bob", "localhost."),
            local
        )));
        // The name from the packet alone.
        let mut packet = on.to_vec();
        packet.push("HostbasedUsesNameFromPacketOnly yes");
        let (st, s) = state(&packet);
        assert!(accepted(st.hostbased_decision(
            &s,
            &claim("alice", "localhost."),
            remote
        )));
        assert!(!accepted(st.hostbased_decision(
            &s,
            &claim("alice", "otherhost"),
            remote
        )));
        // HostbasedAcceptedAlgorithms.
        let mut ecdsa = on.to_vec();
        ecdsa.push("HostbasedAcceptedAlgorithms ecdsa-sha2-nistp256");
        let (st, s) = state(&ecdsa);
        assert!(!accepted(st.hostbased_decision(
            &s,
            &claim("alice", "localhost."),
            local
        )));
        // Off by default.
        let (st, s) = state(&on[1..]);
        assert!(!accepted(st.hostbased_decision(
            &s,
            &claim("alice", "localhost."),
            local
        )));
    }
}
