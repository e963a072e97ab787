//! Host key checking as `ssh` does it: `known_hosts` files, `StrictHostKeyChecking`
//! (`yes`, `accept-new`, `no`, `ask` with a prompt on `/dev/tty`), `HostKeyAlias`, and new
//! keys appended to the first user file (hashed with `HashKnownHosts`).

use std::path::PathBuf;
use std::sync::Arc;

use whelk_config::client::{LogLevel, StrictHostKeyChecking};
use whelk_keys::known_hosts::{HostKeyStatus, KnownHosts, host_string};
use whelk_keys::{HashAlg, PublicKey};
use whelk_tokio::{HostKeyInfo, HostKeyPolicy};

use super::options::{self, Resolved};
use crate::common::{self, tty};

/// The host key policy for a connection to `r`.
pub(crate) fn policy(r: &Resolved, quiet: bool) -> HostKeyPolicy {
    let (user_files, _) = options::known_hosts_files(r);
    let (text, name) = known_text(r);
    let known = KnownHosts::parse(&text);
    // Host certificates are checked by whelk-tokio itself against @cert-authority lines.
    if !known.lookup(&name, r.port).cert_authorities.is_empty() {
        return HostKeyPolicy::KnownHosts(text);
    }
    let check = Checker {
        name,
        port: r.port,
        mode: options::strict(r),
        batch: options::batch(r),
        hash: r.cfg.hash_known_hosts == Some(true),
        add_to: user_files.first().cloned(),
        known,
        // "Permanently added" is logged at INFO: not with LogLevel QUIET, FATAL or ERROR.
        quiet: quiet
            || matches!(
                r.cfg.log_level,
                Some(LogLevel::Quiet | LogLevel::Fatal | LogLevel::Error)
            ),
    };
    HostKeyPolicy::Callback(Arc::new(move |info: &HostKeyInfo| check.check(info)))
}

/// The text of all known_hosts files for `r`, and the name keys are looked up by
/// (`HostKeyAlias`, else the host).
fn known_text(r: &Resolved) -> (String, String) {
    let (user_files, global_files) = options::known_hosts_files(r);
    let mut text = String::new();
    for f in user_files.iter().chain(&global_files) {
        if let Ok(t) = std::fs::read_to_string(f) {
            text.push_str(&t);
            text.push('\n');
        }
    }
    let name = r
        .cfg
        .host_key_alias
        .clone()
        .unwrap_or_else(|| r.host.clone());
    (text, name)
}

/// The host key algorithms of the keys known_hosts already has for `r` (best first,
/// never SHA-1 `ssh-rsa`): OpenSSH's client puts these first in its proposal (when
/// `HostKeyAlgorithms` is not set) so the key it already trusts is the one negotiated.
pub(crate) fn known_algorithms(r: &Resolved) -> Vec<String> {
    let (text, name) = known_text(r);
    let known = KnownHosts::parse(&text);
    let mut out: Vec<String> = Vec::new();
    for e in known.lookup(&name, r.port).trusted {
        for alg in e.key.key_type().signature_algorithms() {
            let n = alg.name().to_string();
            if *alg != whelk_keys::SigAlg::SshRsa && !out.contains(&n) {
                out.push(n);
            }
        }
    }
    out
}

struct Checker {
    name: String,
    port: u16,
    mode: StrictHostKeyChecking,
    batch: bool,
    hash: bool,
    add_to: Option<PathBuf>,
    known: KnownHosts,
    quiet: bool,
}

impl Checker {
    fn check(&self, info: &HostKeyInfo) -> bool {
        let Some(key) = &info.key else {
            eprintln!(
                "No trusted certificate authority for the {} host certificate of {}.",
                info.algorithm, self.name
            );
            return false;
        };
        let hostport = host_string(&self.name, self.port);
        let kt = key.key_type().short_name();
        let fp = key.fingerprint(HashAlg::Sha256);
        match self.known.lookup(&self.name, self.port).check(key) {
            HostKeyStatus::Trusted => {
                tracing::debug!("Host '{hostport}' is known and matches the {kt} host key.");
                true
            }
            HostKeyStatus::Revoked => {
                eprintln!(
                    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
                     @       WARNING: REVOKED HOST KEY DETECTED!               @\n\
                     @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
                     The {kt} host key for {hostport} is marked as revoked.\n\
                     This could mean that a stolen key is being used to\n\
                     impersonate this host."
                );
                false
            }
            HostKeyStatus::Changed => {
                eprintln!(
                    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
                     @    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
                     @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
                     IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n\
                     Someone could be eavesdropping on you right now (man-in-the-middle attack)!\n\
                     It is also possible that a host key has just been changed.\n\
                     The fingerprint for the {kt} key sent by the remote host is\n\
                     {fp}.\n\
                     Please contact your system administrator.\n\
                     {kt} host key for {hostport} has changed and you have requested strict checking."
                );
                false
            }
            HostKeyStatus::Unknown => self.unknown(key, &hostport),
        }
    }

    fn unknown(&self, key: &PublicKey, hostport: &str) -> bool {
        let kt = key.key_type().short_name();
        let fp = key.fingerprint(HashAlg::Sha256);
        let accept = match self.mode {
            StrictHostKeyChecking::Yes => {
                eprintln!(
                    "No {kt} host key is known for {hostport} and you have requested strict checking."
                );
                false
            }
            StrictHostKeyChecking::AcceptNew | StrictHostKeyChecking::No => true,
            StrictHostKeyChecking::Ask if self.batch => {
                eprintln!(
                    "No {kt} host key is known for {hostport} and you have requested strict checking."
                );
                false
            }
            StrictHostKeyChecking::Ask => {
                let q = format!(
                    "The authenticity of host '{hostport}' can't be established.\n\
                     {kt} key fingerprint is {fp}.\n\
                     This key is not known by any other names.\n\
                     Are you sure you want to continue connecting (yes/no/[fingerprint])? "
                );
                let mut answer = tty::ask(&q).unwrap_or_default();
                loop {
                    let a = answer.to_ascii_lowercase();
                    if a == "yes" || answer == fp.to_string() {
                        break true;
                    }
                    if a == "no" || a.is_empty() {
                        break false;
                    }
                    answer = tty::ask("Please type 'yes', 'no' or the fingerprint: ")
                        .unwrap_or_default();
                }
            }
        };
        if accept {
            self.add(key, hostport);
        }
        accept
    }

    fn add(&self, key: &PublicKey, hostport: &str) {
        let Some(path) = &self.add_to else { return };
        let host_field = if self.hash {
            match common::rng() {
                Ok(mut rng) => whelk_keys::known_hosts::hashed_host(hostport, &mut rng),
                Err(_) => hostport.to_string(),
            }
        } else {
            hostport.to_string()
        };
        let line = format!("{host_field} {}", key.to_openssh("").trim_end());
        match common::append_line(path, &line) {
            Ok(()) => {
                if !self.quiet {
                    eprintln!(
                        "Warning: Permanently added '{hostport}' ({}) to the list of known hosts.",
                        key.key_type().short_name()
                    );
                }
            }
            Err(e) => eprintln!(
                "Failed to add the host to the list of known hosts ({}): {e}",
                path.display()
            ),
        }
    }
}
