//! Connecting for `whelk sftp` and `whelk scp`: `-P`, `-i`, `-o`, `-F` (or `~/.ssh/config`
//! then `/etc/ssh/ssh_config`) resolved with whelk-config; `Port`, `User`, `Hostname`,
//! `IdentityFile`, `IdentitiesOnly`, `IdentityAgent`/`SSH_AUTH_SOCK`, `Ciphers`, `MACs`,
//! `KexAlgorithms`, `HostKeyAlgorithms`, `ConnectTimeout`, `BatchMode`,
//! `StrictHostKeyChecking`, `UserKnownHostsFile`/`GlobalKnownHostsFile`, `HostKeyAlias`,
//! `HashKnownHosts` and `LogLevel` are used; host keys are checked as ssh checks them.

use std::path::PathBuf;
use std::sync::Arc;

use whelk::{AlgorithmsExt, PrivateKey};
use whelk_config::client::{LogLevel, StrictHostKeyChecking};
use whelk_config::io::StdFiles;
use whelk_config::{AlgorithmList, ClientConfig, MatchContext, NoFiles, parse_client_into};
use whelk_keys::known_hosts::{HostKeyStatus, KnownHosts};
use whelk_tokio::{Client, HostKeyInfo, HostKeyPolicy};

use crate::common;

/// The connection options both commands share.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnOpts {
    /// `-P port`.
    pub(crate) port: Option<u16>,
    /// `-i file` (repeatable).
    pub(crate) identities: Vec<String>,
    /// `-o Option=value` (repeatable).
    pub(crate) options: Vec<String>,
    /// `-F file` (`none` for none).
    pub(crate) config_file: Option<String>,
    /// `-c cipher_spec`.
    pub(crate) cipher: Option<String>,
}

fn flag_text(o: &ConnOpts) -> String {
    let mut lines: Vec<String> = o
        .options
        .iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) if !k.contains(char::is_whitespace) => format!("{k} {v}"),
            _ => s.clone(),
        })
        .collect();
    if let Some(p) = o.port {
        lines.push(format!("Port {p}"));
    }
    for i in &o.identities {
        lines.push(format!("IdentityFile {i}"));
    }
    if let Some(c) = &o.cipher {
        lines.push(format!("Ciphers {c}"));
    }
    let mut t = lines.join("\n");
    t.push('\n');
    t
}

/// Resolves the options for `host`.
fn resolve(o: &ConnOpts, host: &str, user: Option<String>) -> Result<ClientConfig, String> {
    let local_user = common::local_user();
    let mut ctx = MatchContext::new(host, local_user);
    ctx.original_host = host.to_string();
    ctx.user = user;
    ctx.home_dir = common::home().display().to_string();
    ctx.local_host = common::local_host();
    ctx.uid = rustix::process::getuid().as_raw();
    let mut cfg = ClientConfig::default();
    parse_client_into(&mut cfg, &flag_text(o), "command line", &NoFiles, &mut ctx)
        .map_err(|e| e.to_string())?;
    let mut files: Vec<(PathBuf, StdFiles)> = Vec::new();
    match o.config_file.as_deref() {
        Some("none") => {}
        Some(path) => {
            let path = common::expand_tilde(path);
            let dir = path.parent().map(|p| p.display().to_string());
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("Can't open user config file {}: {e}", path.display()))?;
            parse_client_into(
                &mut cfg,
                &text,
                &path.display().to_string(),
                &StdFiles::new(dir, Some(ctx.home_dir.clone())),
                &mut ctx,
            )
            .map_err(|e| e.to_string())?;
        }
        None => {
            files.push((common::home().join(".ssh/config"), StdFiles::user()));
            files.push((PathBuf::from("/etc/ssh/ssh_config"), StdFiles::system()));
        }
    }
    for (path, src) in files {
        if let Ok(text) = std::fs::read_to_string(&path) {
            parse_client_into(&mut cfg, &text, &path.display().to_string(), &src, &mut ctx)
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(cfg)
}

fn spec(l: &AlgorithmList) -> String {
    l.to_string()
}

fn load_key(path: &std::path::Path, batch: bool) -> Option<PrivateKey> {
    let text = std::fs::read_to_string(path).ok()?;
    match PrivateKey::from_openssh(&text, None) {
        Ok(k) => return Some(k),
        Err(whelk_keys::Error::WrongPassphrase) if !batch => {}
        Err(_) => return PrivateKey::from_pem(&text, None).ok(),
    }
    for _ in 0..3 {
        let p = common::tty::read_secret(
            &format!("Enter passphrase for key '{}': ", path.display()),
            false,
        )
        .ok()?;
        if let Ok(k) = PrivateKey::from_openssh(&text, Some(p.as_bytes())) {
            return Some(k);
        }
    }
    None
}

/// Connects to `host` as `user` (or the configured/local user).
pub(crate) async fn connect(
    o: &ConnOpts,
    user: Option<String>,
    host: &str,
) -> Result<Client, String> {
    let cfg = resolve(o, host, user)?;
    let hostname = cfg
        .effective_hostname(host)
        .map_err(|e| format!("Hostname: {e}"))?;
    let port = cfg.effective_port();
    let user = cfg.effective_user(&common::local_user());
    let batch = cfg.batch_mode == Some(true);
    let mut c = whelk_tokio::ClientConfig::new(&user);
    {
        let algs = c.ssh.algorithms();
        let err = |e: whelk::Error| e.to_string();
        if let Some(l) = &cfg.ciphers {
            algs.set_ciphers(spec(l).as_str()).map_err(err)?;
        }
        if let Some(l) = &cfg.macs {
            algs.set_macs(spec(l).as_str()).map_err(err)?;
        }
        if let Some(l) = &cfg.kex_algorithms {
            algs.set_kex(spec(l).as_str()).map_err(err)?;
        }
    }
    let explicit = !cfg.identity_files.is_empty();
    let ids: Vec<PathBuf> = if explicit {
        cfg.identity_files
            .iter()
            .map(|s| common::expand_tilde(s))
            .collect()
    } else {
        ["id_ed25519", "id_ecdsa", "id_rsa"]
            .iter()
            .map(|n| common::home().join(".ssh").join(n))
            .collect()
    };
    for p in ids {
        if let Some(k) = load_key(&p, batch) {
            c = c.key(k);
        } else if explicit && !p.exists() {
            eprintln!("Warning: Identity file {} not accessible.", p.display());
        }
    }
    if cfg.identities_only != Some(true) {
        match cfg.identity_agent.as_deref() {
            Some("none") => {}
            Some(a) if a != "SSH_AUTH_SOCK" => c = c.agent(common::expand_tilde(a)),
            _ => c = c.agent_from_env(),
        }
    }
    c = c.connect_timeout(cfg.connect_timeout);
    c = c.host_key(host_key_policy(&cfg, &hostname, port, batch));
    whelk_tokio::connect(&hostname, port, c)
        .await
        .map_err(|e| format!("Connection to {hostname} port {port}: {e}"))
}

/// Host key checking as `ssh` does it: the key is looked up in the user and global
/// known_hosts files under `HostKeyAlias` or the host name. A known, matching key is
/// trusted; a changed or revoked one is refused whatever `StrictHostKeyChecking` says (ssh
/// itself lets `no` through with password authentication disabled; whelk refuses). An
/// unknown key is refused with `yes` (and with `ask` in batch mode), asked about on the
/// terminal with `ask`, accepted with `accept-new` and `no`; an accepted key is appended to
/// the first user known_hosts file (host hashed with `HashKnownHosts yes`) with ssh's
/// "Permanently added" warning (not with `LogLevel` QUIET, FATAL or ERROR).
fn host_key_policy(cfg: &ClientConfig, host: &str, port: u16, batch: bool) -> HostKeyPolicy {
    let user_files: Vec<PathBuf> = cfg
        .user_known_hosts_files
        .clone()
        .unwrap_or_else(|| {
            vec![
                "~/.ssh/known_hosts".to_string(),
                "~/.ssh/known_hosts2".to_string(),
            ]
        })
        .iter()
        .map(|f| common::expand_tilde(f))
        .collect();
    let global: Vec<PathBuf> = cfg
        .global_known_hosts_files
        .clone()
        .unwrap_or_else(|| {
            vec![
                "/etc/ssh/ssh_known_hosts".to_string(),
                "/etc/ssh/ssh_known_hosts2".to_string(),
            ]
        })
        .iter()
        .map(|f| common::expand_tilde(f))
        .collect();
    let mut text = String::new();
    for f in user_files.iter().chain(&global) {
        if let Ok(t) = std::fs::read_to_string(f) {
            text.push_str(&t);
            text.push('\n');
        }
    }
    let name = cfg
        .host_key_alias
        .clone()
        .unwrap_or_else(|| host.to_string());
    let known = KnownHosts::parse(&text);
    // Host certificates are checked by whelk-tokio itself against @cert-authority lines.
    if !known.lookup(&name, port).cert_authorities.is_empty() {
        return HostKeyPolicy::KnownHosts(text);
    }
    let check = Checker {
        hostport: whelk_keys::known_hosts::host_string(&name, port),
        name,
        port,
        mode: cfg
            .strict_host_key_checking
            .unwrap_or(StrictHostKeyChecking::Ask),
        batch,
        hash: cfg.hash_known_hosts == Some(true),
        add_to: user_files.first().cloned(),
        known,
        quiet: matches!(
            cfg.log_level,
            Some(LogLevel::Quiet | LogLevel::Fatal | LogLevel::Error)
        ),
    };
    HostKeyPolicy::Callback(Arc::new(move |info: &HostKeyInfo| check.check(info)))
}

/// What [`host_key_policy`] checks with.
struct Checker {
    name: String,
    port: u16,
    hostport: String,
    mode: StrictHostKeyChecking,
    batch: bool,
    hash: bool,
    add_to: Option<PathBuf>,
    known: KnownHosts,
    quiet: bool,
}

impl Checker {
    fn check(&self, info: &HostKeyInfo) -> bool {
        let hostport = &self.hostport;
        let Some(key) = &info.key else {
            eprintln!(
                "No trusted certificate authority for the {} host certificate of {hostport}.",
                info.algorithm
            );
            return false;
        };
        let kt = key.key_type().short_name();
        let fp = key.fingerprint(whelk_keys::HashAlg::Sha256);
        match self.known.lookup(&self.name, self.port).check(key) {
            HostKeyStatus::Trusted => true,
            HostKeyStatus::Revoked => {
                eprintln!(
                    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
                     @       WARNING: REVOKED HOST KEY DETECTED!               @\n\
                     @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
                     The {kt} host key for {hostport} is marked as revoked.\n\
                     Host key verification failed."
                );
                false
            }
            HostKeyStatus::Changed => {
                eprintln!(
                    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
                     @    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
                     @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
                     IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n\
                     The fingerprint for the {kt} key sent by the remote host is\n\
                     {fp}.\n\
                     {kt} host key for {hostport} has changed and you have requested strict checking.\n\
                     Host key verification failed."
                );
                false
            }
            HostKeyStatus::Unknown => {
                let accept = match self.mode {
                    StrictHostKeyChecking::AcceptNew | StrictHostKeyChecking::No => true,
                    StrictHostKeyChecking::Yes => false,
                    StrictHostKeyChecking::Ask if self.batch => false,
                    StrictHostKeyChecking::Ask => self.ask(kt, &fp.to_string()),
                };
                if accept {
                    self.add(key);
                } else {
                    eprintln!(
                        "No {kt} host key is known for {hostport} and you have requested strict checking.\n\
                         Host key verification failed."
                    );
                }
                accept
            }
        }
    }

    fn ask(&self, kt: &str, fp: &str) -> bool {
        let q = format!(
            "The authenticity of host '{}' can't be established.\n\
             {kt} key fingerprint is {fp}.\n\
             Are you sure you want to continue connecting (yes/no/[fingerprint])? ",
            self.hostport
        );
        let mut answer = common::tty::ask(&q).unwrap_or_default();
        loop {
            let a = answer.trim().to_ascii_lowercase();
            if a == "yes" || answer.trim() == fp {
                return true;
            }
            if a == "no" || a.is_empty() {
                return false;
            }
            answer = common::tty::ask("Please type 'yes', 'no' or the fingerprint: ")
                .unwrap_or_default();
        }
    }

    fn add(&self, key: &whelk_keys::PublicKey) {
        let Some(path) = &self.add_to else { return };
        let host_field = if self.hash {
            match common::rng() {
                Ok(mut rng) => whelk_keys::known_hosts::hashed_host(&self.hostport, &mut rng),
                Err(_) => self.hostport.clone(),
            }
        } else {
            self.hostport.clone()
        };
        let line = format!("{host_field} {}", key.to_openssh("").trim_end());
        match common::append_line(path, &line) {
            Ok(()) if !self.quiet => eprintln!(
                "Warning: Permanently added '{}' ({}) to the list of known hosts.",
                self.hostport,
                key.key_type().short_name()
            ),
            Ok(()) => {}
            Err(e) => eprintln!(
                "Failed to add the host to the list of known hosts ({}): {e}",
                path.display()
            ),
        }
    }
}

/// Splits `[user@]host` (the last `@` separates).
pub(crate) fn split_user(s: &str) -> (Option<String>, String) {
    match s.rsplit_once('@') {
        Some((u, h)) => (Some(u.to_string()), h.to_string()),
        None => (None, s.to_string()),
    }
}

/// Strips `[` `]` around an IPv6 address.
pub(crate) fn unbracket(h: &str) -> String {
    h.strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(h)
        .to_string()
}
