//! Host key checking as `ssh` does it, shared by `whelk ssh`, `whelk sftp` and `whelk scp`:
//! `known_hosts` files, `StrictHostKeyChecking` (`yes`, `accept-new`, `no`, `ask` with a
//! prompt on `/dev/tty`), `HostKeyAlias`, `BatchMode`, and new keys appended to the first
//! user file (hashed with `HashKnownHosts`).
//!
//! A known, matching key is trusted; a changed or revoked one is refused whatever
//! `StrictHostKeyChecking` says (ssh itself lets `no` through with password authentication
//! disabled; whelk refuses). An unknown key is refused with `yes` (and with `ask` in batch
//! mode), asked about on the terminal with `ask`, accepted with `accept-new` and `no`; an
//! accepted key is appended with ssh's "Permanently added" warning (not with `LogLevel`
//! QUIET, FATAL or ERROR, nor with `-q`). The final "Host key verification failed." is the
//! caller's to print, when the connection fails with [`whelk_tokio::Error::HostKey`].

use std::path::PathBuf;
use std::sync::Arc;

use whelk_config::ClientConfig;
use whelk_config::client::{LogLevel, StrictHostKeyChecking};
use whelk_keys::known_hosts::{HostKeyStatus, KnownHosts, host_string};
use whelk_keys::{HashAlg, PublicKey};
use whelk_tokio::{HostKeyInfo, HostKeyPolicy};

use super::tty;

/// What a host key is checked with: the name and port it is looked up under, the
/// known_hosts files, and the options that decide about an unknown key.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The name keys are looked up by: `HostKeyAlias`, else the host connected to.
    pub(crate) name: String,
    /// The port connected to.
    pub(crate) port: u16,
    /// `StrictHostKeyChecking` (default `ask`).
    pub(crate) mode: StrictHostKeyChecking,
    /// `BatchMode`: no prompt.
    pub(crate) batch: bool,
    /// `HashKnownHosts`: new entries are written hashed.
    pub(crate) hash: bool,
    /// No "Permanently added" warning.
    pub(crate) quiet: bool,
    /// The user known_hosts files; new keys go to the first.
    pub(crate) user_files: Vec<PathBuf>,
    /// The global known_hosts files.
    pub(crate) global_files: Vec<PathBuf>,
}

impl Settings {
    /// The settings `cfg` gives for a connection to `host` (after `Hostname`) on `port`,
    /// with the (already expanded) known_hosts files.
    pub(crate) fn new(
        cfg: &ClientConfig,
        host: &str,
        port: u16,
        user_files: Vec<PathBuf>,
        global_files: Vec<PathBuf>,
    ) -> Self {
        Self {
            name: cfg
                .host_key_alias
                .clone()
                .unwrap_or_else(|| host.to_string()),
            port,
            mode: cfg
                .strict_host_key_checking
                .unwrap_or(StrictHostKeyChecking::Ask),
            batch: cfg.batch_mode == Some(true),
            hash: cfg.hash_known_hosts == Some(true),
            // "Permanently added" is logged at INFO: not with LogLevel QUIET, FATAL or ERROR.
            quiet: matches!(
                cfg.log_level,
                Some(LogLevel::Quiet | LogLevel::Fatal | LogLevel::Error)
            ),
            user_files,
            global_files,
        }
    }

    /// The text of all known_hosts files (the user files first; missing ones skipped).
    fn known_text(&self) -> String {
        let mut text = String::new();
        for f in self.user_files.iter().chain(&self.global_files) {
            if let Ok(t) = std::fs::read_to_string(f) {
                text.push_str(&t);
                text.push('\n');
            }
        }
        text
    }

    /// The host key policy for the connection.
    pub(crate) fn policy(self) -> HostKeyPolicy {
        let text = self.known_text();
        let known = KnownHosts::parse(&text);
        // Host certificates are checked by whelk-tokio itself against @cert-authority lines.
        if !known
            .lookup(&self.name, self.port)
            .cert_authorities
            .is_empty()
        {
            return HostKeyPolicy::KnownHosts(text);
        }
        let check = Checker {
            settings: self,
            known,
        };
        HostKeyPolicy::Callback(Arc::new(move |info: &HostKeyInfo| check.check(info)))
    }

    /// The host key algorithms of the keys known_hosts already has for the host (best
    /// first, never SHA-1 `ssh-rsa`): OpenSSH's client puts these first in its proposal
    /// (when `HostKeyAlgorithms` is not set) so the key it already trusts is the one
    /// negotiated.
    pub(crate) fn known_algorithms(&self) -> Vec<String> {
        let known = KnownHosts::parse(&self.known_text());
        let mut out: Vec<String> = Vec::new();
        for e in known.lookup(&self.name, self.port).trusted {
            for alg in e.key.key_type().signature_algorithms() {
                let n = alg.name().to_string();
                if *alg != whelk_keys::SigAlg::SshRsa && !out.contains(&n) {
                    out.push(n);
                }
            }
        }
        out
    }
}

/// The check behind [`Settings::policy`].
struct Checker {
    settings: Settings,
    known: KnownHosts,
}

impl Checker {
    fn check(&self, info: &HostKeyInfo) -> bool {
        let s = &self.settings;
        let Some(key) = &info.key else {
            eprintln!(
                "No trusted certificate authority for the {} host certificate of {}.",
                info.algorithm, s.name
            );
            return false;
        };
        let hostport = host_string(&s.name, s.port);
        let kt = key.key_type().short_name();
        let fp = key.fingerprint(HashAlg::Sha256);
        match self.known.lookup(&s.name, s.port).check(key) {
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
        let s = &self.settings;
        let kt = key.key_type().short_name();
        let fp = key.fingerprint(HashAlg::Sha256);
        let accept = match s.mode {
            StrictHostKeyChecking::Yes => {
                eprintln!(
                    "No {kt} host key is known for {hostport} and you have requested strict checking."
                );
                false
            }
            StrictHostKeyChecking::AcceptNew | StrictHostKeyChecking::No => true,
            StrictHostKeyChecking::Ask if s.batch => {
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
        let s = &self.settings;
        let Some(path) = s.user_files.first() else {
            return;
        };
        let host_field = if s.hash {
            match super::rng() {
                Ok(mut rng) => whelk_keys::known_hosts::hashed_host(hostport, &mut rng),
                Err(_) => hostport.to_string(),
            }
        } else {
            hostport.to_string()
        };
        let line = format!("{host_field} {}", key.to_openssh("").trim_end());
        match super::append_line(path, &line) {
            Ok(()) => {
                if !s.quiet {
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
