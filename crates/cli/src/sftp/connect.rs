//! Connecting for `whelk sftp` and `whelk scp`: `-P`, `-i`, `-o`, `-F` (or `~/.ssh/config`
//! then `/etc/ssh/ssh_config`) resolved with whelk-config; `Port`, `User`, `Hostname`,
//! `IdentityFile`, `IdentitiesOnly`, `IdentityAgent`/`SSH_AUTH_SOCK`, `Ciphers`, `MACs`,
//! `KexAlgorithms`, `HostKeyAlgorithms`, `ConnectTimeout`, `BatchMode`,
//! `StrictHostKeyChecking`, `UserKnownHostsFile`/`GlobalKnownHostsFile`, `HostKeyAlias`,
//! `HashKnownHosts` and `LogLevel` are used; host keys are checked as ssh checks them
//! ([`crate::common::hostkey`]).

use std::path::PathBuf;

use whelk::{AlgorithmsExt, PrivateKey};
use whelk_config::io::StdFiles;
use whelk_config::{AlgorithmList, ClientConfig, MatchContext, NoFiles, parse_client_into};
use whelk_tokio::Client;

use crate::common;
use crate::common::hostkey::Settings;

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
        common::default_identity_files()
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
    let (user_files, global_files) = known_hosts_files(&cfg);
    c = c.host_key(Settings::new(&cfg, &hostname, port, user_files, global_files).policy());
    whelk_tokio::connect(&hostname, port, c).await.map_err(|e| {
        if matches!(e, whelk_tokio::Error::HostKey(_)) {
            eprintln!("Host key verification failed.");
        }
        format!("Connection to {hostname} port {port}: {e}")
    })
}

/// The user known_hosts files (`UserKnownHostsFile`, default `~/.ssh/known_hosts` and
/// `~/.ssh/known_hosts2`) and the global ones (`GlobalKnownHostsFile`, default
/// `/etc/ssh/ssh_known_hosts` and `/etc/ssh/ssh_known_hosts2`), `~` expanded.
fn known_hosts_files(cfg: &ClientConfig) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let expand = |files: &Option<Vec<String>>, default: [&str; 2]| -> Vec<PathBuf> {
        match files {
            Some(list) => list.iter().map(|f| common::expand_tilde(f)).collect(),
            None => default.iter().map(|f| common::expand_tilde(f)).collect(),
        }
    };
    (
        expand(
            &cfg.user_known_hosts_files,
            ["~/.ssh/known_hosts", "~/.ssh/known_hosts2"],
        ),
        expand(
            &cfg.global_known_hosts_files,
            ["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"],
        ),
    )
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
