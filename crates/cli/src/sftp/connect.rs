//! Connecting for `whelk sftp` and `whelk scp`: `-P`, `-i`, `-o`, `-F` (or `~/.ssh/config`
//! then `/etc/ssh/ssh_config`) resolved with whelk-config; `Port`, `User`, `Hostname`,
//! `IdentityFile`, `IdentitiesOnly`, `IdentityAgent`/`SSH_AUTH_SOCK`, `Ciphers`, `MACs`,
//! `KexAlgorithms`, `HostKeyAlgorithms`, `ConnectTimeout`, `BatchMode`,
//! `StrictHostKeyChecking` and `UserKnownHostsFile`/`GlobalKnownHostsFile` are used.

use std::path::PathBuf;
use std::sync::Arc;

use whelk::{AlgorithmsExt, PrivateKey};
use whelk_config::client::StrictHostKeyChecking;
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

fn host_key_policy(cfg: &ClientConfig, host: &str, port: u16, batch: bool) -> HostKeyPolicy {
    let user_files: Vec<String> = cfg.user_known_hosts_files.clone().unwrap_or_else(|| {
        vec![
            "~/.ssh/known_hosts".to_string(),
            "~/.ssh/known_hosts2".to_string(),
        ]
    });
    let global: Vec<String> = cfg.global_known_hosts_files.clone().unwrap_or_else(|| {
        vec![
            "/etc/ssh/ssh_known_hosts".to_string(),
            "/etc/ssh/ssh_known_hosts2".to_string(),
        ]
    });
    let mut text = String::new();
    for f in user_files.iter().chain(&global) {
        if let Ok(t) = std::fs::read_to_string(common::expand_tilde(f)) {
            text.push_str(&t);
            text.push('\n');
        }
    }
    let known = KnownHosts::parse(&text);
    if !known.lookup(host, port).cert_authorities.is_empty() {
        return HostKeyPolicy::KnownHosts(text);
    }
    let mode = cfg
        .strict_host_key_checking
        .unwrap_or(StrictHostKeyChecking::Ask);
    let add_to = user_files.first().map(|f| common::expand_tilde(f));
    let host = host.to_string();
    HostKeyPolicy::Callback(Arc::new(move |info: &HostKeyInfo| {
        let Some(key) = &info.key else {
            return false;
        };
        match known.lookup(&host, port).check(key) {
            HostKeyStatus::Trusted => true,
            HostKeyStatus::Revoked | HostKeyStatus::Changed => {
                eprintln!("Host key for {host} has changed or is revoked; refusing to connect.");
                false
            }
            HostKeyStatus::Unknown => {
                let accept = match mode {
                    StrictHostKeyChecking::No | StrictHostKeyChecking::AcceptNew => true,
                    StrictHostKeyChecking::Yes => false,
                    StrictHostKeyChecking::Ask => {
                        !batch
                            && common::tty::ask(&format!(
                                "The authenticity of host '{host}' can't be established.\n\
                                 {} key fingerprint is {}.\n\
                                 Are you sure you want to continue connecting (yes/no)? ",
                                key.key_type().short_name(),
                                key.fingerprint(whelk_keys::HashAlg::Sha256)
                            ))
                            .is_ok_and(|a| a.trim() == "yes")
                    }
                };
                if !accept {
                    eprintln!("Host key verification failed.");
                } else if mode != StrictHostKeyChecking::No
                    && let Some(path) = &add_to
                {
                    let hp = whelk_keys::known_hosts::host_string(&host, port);
                    let line = format!("{hp} {}", key.to_openssh(""));
                    let _ = common::append_line(path, line.trim_end());
                }
                accept
            }
        }
    }))
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
