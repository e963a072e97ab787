//! From the command line and `ssh_config` files to one resolved configuration, then to
//! whelk-tokio's [`whelk_tokio::ClientConfig`].
//!
//! Precedence as in OpenSSH (the first value wins): command-line flags and `-o` options,
//! then the `-F` file (or `~/.ssh/config` and `/etc/ssh/ssh_config`).

use std::path::PathBuf;
use std::time::Duration;

use whelk::{AlgorithmsExt, PrivateKey};
use whelk_config::client::{ForwardAgent, PubkeyAuthentication, StrictHostKeyChecking};
use whelk_config::io::StdFiles;
use whelk_config::{AlgorithmList, ClientConfig, MatchContext, NoFiles, parse_client_into};
use whelk_keys::cert::Certificate;

use super::{Args, Fail};
use crate::common::{self, tty};

/// A destination: `[user@]host[:port]` as `ssh` takes it, or `ssh://[user@]host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Destination {
    pub(crate) user: Option<String>,
    pub(crate) host: String,
    pub(crate) port: Option<u16>,
}

/// Parses the destination argument.
pub(crate) fn parse_destination(s: &str) -> Result<Destination, Fail> {
    let bad = || Fail::new(format!("ssh: invalid destination \"{s}\""));
    if let Some(rest) = s.strip_prefix("ssh://") {
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') {
            return Err(bad());
        }
        let (user, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_string()), h),
            None => (None, rest),
        };
        let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
            let (h, after) = inner.split_once(']').ok_or_else(bad)?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p.parse().map_err(|_| bad())?),
                None if after.is_empty() => None,
                None => return Err(bad()),
            };
            (h.to_string(), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p.parse().map_err(|_| bad())?)),
                None => (hostport.to_string(), None),
            }
        };
        if host.is_empty() || user.as_deref() == Some("") {
            return Err(bad());
        }
        return Ok(Destination { user, host, port });
    }
    let (user, host) = match s.rsplit_once('@') {
        Some((u, h)) => (Some(u.to_string()), h.to_string()),
        None => (None, s.to_string()),
    };
    if host.is_empty() || user.as_deref() == Some("") {
        return Err(bad());
    }
    Ok(Destination {
        user,
        host,
        port: None,
    })
}

/// Everything resolved for one host.
#[derive(Debug)]
pub(crate) struct Resolved {
    /// The host as given (`%n`).
    pub(crate) original_host: String,
    /// The host to connect to (`Hostname` applied).
    pub(crate) host: String,
    /// The port.
    pub(crate) port: u16,
    /// The remote user.
    pub(crate) user: String,
    /// The parsed options.
    pub(crate) cfg: ClientConfig,
    /// Token values for `%` expansion.
    pub(crate) tokens: whelk_config::TokenContext,
}

/// The `ssh_config` lines the command-line flags stand for.
fn flag_lines(args: &Args) -> String {
    let mut lines = Vec::new();
    for o in &args.options {
        lines.push(o.clone());
    }
    for i in &args.identity {
        lines.push(format!("IdentityFile \"{i}\""));
    }
    if let Some(c) = &args.ciphers {
        lines.push(format!("Ciphers {c}"));
    }
    if let Some(m) = &args.macs {
        lines.push(format!("MACs {m}"));
    }
    if let Some(j) = &args.jump {
        lines.push(format!("ProxyJump {j}"));
    }
    if args.forward_agent {
        lines.push("ForwardAgent yes".into());
    }
    if args.no_forward_agent {
        lines.push("ForwardAgent no".into());
    }
    // -Y wins over -X and -x, -x over -X.
    if args.forward_x11_trusted {
        lines.push("ForwardX11 yes".into());
        lines.push("ForwardX11Trusted yes".into());
    }
    if args.no_forward_x11 {
        lines.push("ForwardX11 no".into());
    }
    if args.forward_x11 {
        lines.push("ForwardX11 yes".into());
    }
    if args.compression {
        lines.push("Compression yes".into());
    }
    if args.quiet {
        lines.push("LogLevel QUIET".into());
    }
    match args.verbose {
        0 => {}
        1 => lines.push("LogLevel DEBUG1".into()),
        2 => lines.push("LogLevel DEBUG2".into()),
        _ => lines.push("LogLevel DEBUG3".into()),
    }
    // Options lines come first so they win, like `-o` in OpenSSH.
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// Resolves the configuration for `host` (with `user`/`port` from the destination or a
/// jump specification, which `-l`/`-p` override for the final destination).
pub(crate) fn resolve(
    args: &Args,
    host: &str,
    user: Option<String>,
    port: Option<u16>,
    flags: bool,
) -> Result<Resolved, Fail> {
    let local_user = common::local_user();
    let mut ctx = MatchContext::new(host, local_user.clone());
    ctx.original_host = host.to_string();
    ctx.user = user;
    ctx.port = port;
    ctx.home_dir = common::home().display().to_string();
    ctx.local_host = common::local_host();
    ctx.uid = rustix::process::getuid().as_raw();
    // `Match exec`: the command runs under `sh -c` (as OpenSSH, with the user's shell and
    // stdin/stdout on /dev/null); exit status 0 matches.
    ctx.exec = Some(Box::new(|cmd: &str| {
        let shell = std::env::var_os("SHELL").filter(|s| !s.is_empty());
        std::process::Command::new(shell.unwrap_or_else(|| "/bin/sh".into()))
            .arg("-c")
            .arg(cmd)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }));
    let cfg_err = |e: whelk_config::Error| Fail::new(format!("ssh: {e}"));
    let mut cfg = ClientConfig::default();
    // Jump hosts are configured by the files alone, as the `ssh -W` OpenSSH runs for
    // each hop does not get the flags and `-o` options meant for the destination.
    let flag_text = if flags {
        flag_lines(args)
    } else {
        String::new()
    };
    parse_client_into(&mut cfg, &flag_text, "command line", &NoFiles, &mut ctx).map_err(cfg_err)?;
    match args.config_file.as_deref() {
        Some("none") => {}
        Some(path) => {
            let path = common::expand_tilde(path);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                Fail::new(format!(
                    "Can't open user config file {}: {e}",
                    path.display()
                ))
            })?;
            let dir = path.parent().map(|p| p.display().to_string());
            let files = StdFiles::new(dir, Some(ctx.home_dir.clone()));
            parse_client_into(
                &mut cfg,
                &text,
                &path.display().to_string(),
                &files,
                &mut ctx,
            )
            .map_err(cfg_err)?;
        }
        None => {
            let user_cfg = common::home().join(".ssh").join("config");
            if let Ok(text) = std::fs::read_to_string(&user_cfg) {
                parse_client_into(
                    &mut cfg,
                    &text,
                    &user_cfg.display().to_string(),
                    &StdFiles::user(),
                    &mut ctx,
                )
                .map_err(cfg_err)?;
            }
            if let Ok(text) = std::fs::read_to_string("/etc/ssh/ssh_config") {
                parse_client_into(
                    &mut cfg,
                    &text,
                    "/etc/ssh/ssh_config",
                    &StdFiles::system(),
                    &mut ctx,
                )
                .map_err(cfg_err)?;
            }
        }
    }
    let hostname = cfg
        .effective_hostname(host)
        .map_err(|e| Fail::new(format!("ssh: Hostname: {e}")))?;
    let tokens = cfg
        .token_context(&ctx)
        .map_err(|e| Fail::new(format!("ssh: {e}")))?;
    Ok(Resolved {
        original_host: host.to_string(),
        host: hostname,
        port: cfg.effective_port(),
        user: cfg.effective_user(&local_user),
        cfg,
        tokens,
    })
}

/// `%`-expands and `~`-expands a path option.
pub(crate) fn expand_path(r: &Resolved, s: &str) -> PathBuf {
    let s = whelk_config::expand(s, &r.tokens).unwrap_or_else(|_| s.to_string());
    common::expand_tilde(&s)
}

/// An algorithm list in the facade's `+`/`-`/`^` string syntax.
fn spec(list: &AlgorithmList) -> String {
    let m = list.modifier().map(String::from).unwrap_or_default();
    format!("{m}{}", list.names().join(","))
}

/// Whether prompts may be shown (no `BatchMode`).
pub(crate) fn batch(r: &Resolved) -> bool {
    r.cfg.batch_mode == Some(true)
}

/// Loads one identity file (asking for its passphrase unless in batch mode).
fn load_identity(path: &std::path::Path, batch: bool, explicit: bool) -> Option<PrivateKey> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            if explicit {
                eprintln!(
                    "Warning: Identity file {} not accessible: {}.",
                    path.display(),
                    super::io_reason(&e)
                );
            }
            return None;
        }
    };
    let encrypted = if text.contains("OPENSSH PRIVATE KEY") {
        whelk_keys::openssh::is_encrypted(&text).unwrap_or(false)
    } else {
        text.contains("ENCRYPTED")
    };
    if !encrypted {
        return match PrivateKey::from_any(&text, None) {
            Ok(k) => Some(k),
            Err(e) => {
                tracing::debug!("identity {}: {e}", path.display());
                None
            }
        };
    }
    if batch {
        tracing::debug!(
            "identity {}: encrypted, skipped in batch mode",
            path.display()
        );
        return None;
    }
    for _ in 0..3 {
        let prompt = format!("Enter passphrase for key '{}': ", path.display());
        let pass = tty::read_secret(&prompt, false).ok()?;
        if pass.is_empty() {
            return None;
        }
        match PrivateKey::from_any(&text, Some(pass.as_bytes())) {
            Ok(k) => return Some(k),
            Err(_) => eprintln!("Bad passphrase, try again for {}", path.display()),
        }
    }
    None
}

/// Loads an OpenSSH certificate (`ssh-...-cert-v01@openssh.com AAAA... comment`); a
/// missing file is reported only when it was named explicitly (`CertificateFile`).
fn load_certificate(path: &std::path::Path, explicit: bool) -> Option<Certificate> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            if explicit {
                eprintln!(
                    "Warning: Certificate file {} not accessible: {}.",
                    path.display(),
                    super::io_reason(&e)
                );
            }
            return None;
        }
    };
    match Certificate::from_openssh(text.trim()) {
        Ok((c, _)) => Some(c),
        Err(e) => {
            tracing::debug!("certificate {}: {e}", path.display());
            None
        }
    }
}

/// Maps the resolved options onto whelk-tokio's client configuration (without the host
/// key policy, which [`super::hostkey`] sets).
pub(crate) fn client_config(r: &Resolved) -> Result<whelk_tokio::ClientConfig, Fail> {
    let mut c = whelk_tokio::ClientConfig::new(&r.user);
    algorithms(r, &mut c.ssh)?;
    c = auth_config(r, c)?;
    Ok(c)
}

/// The algorithm lists (`Ciphers`, `MACs`, `KexAlgorithms`, `HostKeyAlgorithms` or the
/// known host key algorithms first, `Compression`) and rekeying limits.
pub(crate) fn algorithms(r: &Resolved, ssh: &mut whelk::ClientConfig) -> Result<(), Fail> {
    let alg_err = |e: whelk::Error| Fail::new(format!("ssh: {e}"));
    {
        let algs = ssh.algorithms();
        if let Some(l) = &r.cfg.ciphers {
            algs.set_ciphers(spec(l).as_str()).map_err(alg_err)?;
        }
        if let Some(l) = &r.cfg.macs {
            algs.set_macs(spec(l).as_str()).map_err(alg_err)?;
        }
        if let Some(l) = &r.cfg.kex_algorithms {
            algs.set_kex(spec(l).as_str()).map_err(alg_err)?;
        }
        if let Some(l) = &r.cfg.host_key_algorithms {
            algs.set_host_keys(spec(l).as_str()).map_err(alg_err)?;
        } else {
            // As OpenSSH: the algorithms of keys known_hosts has for this host go first
            // (and are allowed even when not in the defaults, e.g. ECDSA).
            for name in super::hostkey::known_algorithms(r).iter().rev() {
                if let Err(e) = algs.set_host_keys(format!("^{name}").as_str()) {
                    tracing::debug!("host key algorithm {name}: {e}");
                }
            }
        }
    }
    if r.cfg.compression == Some(true) {
        // What `ssh -C` offers.
        ssh.algorithms()
            .set_compression("zlib@openssh.com,zlib,none")
            .map_err(alg_err)?;
    }
    if let Some(bytes) = r.cfg.rekey_limit.filter(|b| *b > 0) {
        ssh.transport.limits.rekey_bytes = bytes;
    }
    if let Some(t) = r.cfg.rekey_interval.filter(|t| !t.is_zero()) {
        ssh.transport.limits.rekey_time = Some(t);
    }
    Ok(())
}

/// Authentication: methods, identities and certificates, the agent, prompts, timeouts.
fn auth_config(
    r: &Resolved,
    mut c: whelk_tokio::ClientConfig,
) -> Result<whelk_tokio::ClientConfig, Fail> {
    // Authentication methods: PreferredAuthentications, minus the ones switched off.
    use whelk::Method;
    let mut methods: Vec<Method> = match &r.cfg.preferred_authentications {
        Some(list) => list
            .iter()
            .filter_map(|m| match m.as_str() {
                "publickey" => Some(Method::PublicKey),
                "password" => Some(Method::Password),
                "keyboard-interactive" => Some(Method::KeyboardInteractive),
                _ => None,
            })
            .collect(),
        None => vec![
            Method::PublicKey,
            Method::KeyboardInteractive,
            Method::Password,
        ],
    };
    if r.cfg.password_authentication == Some(false) {
        methods.retain(|m| *m != Method::Password);
    }
    if r.cfg.kbd_interactive_authentication == Some(false) {
        methods.retain(|m| *m != Method::KeyboardInteractive);
    }
    if r.cfg.pubkey_authentication == Some(PubkeyAuthentication::No) {
        methods.retain(|m| *m != Method::PublicKey);
    }
    c.ssh.auth.methods = methods;
    if let Some(n) = r.cfg.number_of_password_prompts {
        c.ssh.auth.password_attempts = n;
        c.ssh.auth.kbd_attempts = n;
    }
    let batch = batch(r);
    // Identities: -i / IdentityFile, else the default files.
    let explicit = !r.cfg.identity_files.is_empty();
    let files: Vec<PathBuf> = if explicit {
        r.cfg
            .identity_files
            .iter()
            .filter(|f| !f.eq_ignore_ascii_case("none"))
            .map(|f| expand_path(r, f))
            .collect()
    } else {
        common::default_identity_files()
    };
    if r.cfg.pubkey_authentication != Some(PubkeyAuthentication::No) {
        // CertificateFile, then `<identity>-cert.pub` next to each identity (as ssh).
        let mut certs: Vec<Certificate> = r
            .cfg
            .certificate_files
            .iter()
            .filter(|f| !f.eq_ignore_ascii_case("none"))
            .filter_map(|f| load_certificate(&expand_path(r, f), true))
            .collect();
        for f in files {
            if let Some(k) = load_identity(&f, batch, explicit) {
                tracing::debug!("will try identity {}", f.display());
                let mut cert_path = f.clone().into_os_string();
                cert_path.push("-cert.pub");
                certs.extend(load_certificate(std::path::Path::new(&cert_path), false));
                c.keys.push(k);
            }
        }
        for cert in certs {
            let key = c
                .keys
                .iter()
                .find(|k| k.public_key() == cert.public_key())
                .cloned();
            match key {
                Some(k) => {
                    tracing::debug!("will try certificate {}", cert.key_id());
                    c = c
                        .key_with_certificate(k, cert)
                        .map_err(|e| Fail::new(format!("ssh: {e}")))?;
                }
                None => tracing::debug!("certificate {}: no identity with its key", cert.key_id()),
            }
        }
        // The agent: IdentityAgent, else SSH_AUTH_SOCK; not with IdentitiesOnly.
        if r.cfg.identities_only != Some(true) {
            match r.cfg.identity_agent.as_deref() {
                Some(a) if a.eq_ignore_ascii_case("none") => {}
                Some("SSH_AUTH_SOCK") | None => c = c.agent_from_env(),
                Some(a) => {
                    let path = match a.strip_prefix('$') {
                        Some(var) => std::env::var_os(var).map(PathBuf::from),
                        None => Some(expand_path(r, a)),
                    };
                    if let Some(p) = path {
                        c = c.agent(p);
                    }
                }
            }
            // A socket that does not answer is not fatal: drop it.
            if let Some(p) = &c.agent
                && std::os::unix::net::UnixStream::connect(p).is_err()
            {
                tracing::debug!("agent {} not reachable", p.display());
                c.agent = None;
            }
        }
    }
    match &r.cfg.forward_agent {
        Some(ForwardAgent::Yes) => {
            if let Some(p) = std::env::var_os("SSH_AUTH_SOCK").filter(|p| !p.is_empty()) {
                c = c.forward_agent(PathBuf::from(p));
            }
        }
        Some(ForwardAgent::Socket(s)) => {
            let path = match s.strip_prefix('$') {
                Some(var) => std::env::var_os(var).map(PathBuf::from),
                None => Some(expand_path(r, s)),
            };
            if let Some(p) = path {
                c = c.forward_agent(p);
            }
        }
        Some(ForwardAgent::No) | None => {}
    }
    c.connect_timeout = r.cfg.connect_timeout.or(Some(Duration::from_secs(60)));
    // Prompts may take a person's time: no handshake limit unless in batch mode.
    c.auth_timeout = if batch {
        Some(Duration::from_secs(120))
    } else {
        None
    };
    let alive = r.cfg.effective_server_alive_interval();
    if !alive.is_zero() {
        c = c.keepalive(alive, r.cfg.server_alive_count_max.unwrap_or(3));
    }
    if !batch {
        let host = r.host.clone();
        c = c.password_prompt(move |user| {
            let prompt = format!("{user}@{host}'s password: ");
            async move {
                tokio::task::spawn_blocking(move || tty::read_secret(&prompt, false).ok())
                    .await
                    .ok()
                    .flatten()
            }
        });
        c = c.keyboard_interactive(|k: whelk_tokio::KbdInteractive| async move {
            tokio::task::spawn_blocking(move || kbd_prompts(&k))
                .await
                .ok()
                .flatten()
        });
    }
    Ok(c)
}

/// Answers a keyboard-interactive round on the terminal.
fn kbd_prompts(k: &whelk_tokio::KbdInteractive) -> Option<Vec<zeroize::Zeroizing<String>>> {
    if !k.name.is_empty() {
        eprintln!("{}", k.name);
    }
    if !k.instruction.is_empty() {
        eprintln!("{}", k.instruction);
    }
    let mut answers = Vec::new();
    for p in &k.prompts {
        let a = if p.echo {
            tty::ask(&p.text).ok().map(zeroize::Zeroizing::new)?
        } else {
            tty::read_secret(&p.text, false).ok()?
        };
        answers.push(a);
    }
    Some(answers)
}

/// `StrictHostKeyChecking` (default `ask`).
pub(crate) fn strict(r: &Resolved) -> StrictHostKeyChecking {
    r.cfg
        .strict_host_key_checking
        .unwrap_or(StrictHostKeyChecking::Ask)
}

/// The user known_hosts files (`UserKnownHostsFile`, default `~/.ssh/known_hosts` and
/// `~/.ssh/known_hosts2`) and the global ones.
pub(crate) fn known_hosts_files(r: &Resolved) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let user = match &r.cfg.user_known_hosts_files {
        Some(list) => list.iter().map(|f| expand_path(r, f)).collect(),
        None => vec![
            common::home().join(".ssh").join("known_hosts"),
            common::home().join(".ssh").join("known_hosts2"),
        ],
    };
    let global = match &r.cfg.global_known_hosts_files {
        Some(list) => list.iter().map(|f| expand_path(r, f)).collect(),
        None => vec![
            PathBuf::from("/etc/ssh/ssh_known_hosts"),
            PathBuf::from("/etc/ssh/ssh_known_hosts2"),
        ],
    };
    (user, global)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        let d = parse_destination("alice@example.org").unwrap();
        assert_eq!(
            (d.user.as_deref(), d.host.as_str(), d.port),
            (Some("alice"), "example.org", None)
        );
        let d = parse_destination("ssh://bob@[::1]:2222").unwrap();
        assert_eq!(
            (d.user.as_deref(), d.host.as_str(), d.port),
            (Some("bob"), "::1", Some(2222))
        );
        let d = parse_destination("ssh://h:22/").unwrap();
        assert_eq!((d.user, d.host.as_str(), d.port), (None, "h", Some(22)));
        assert!(parse_destination("@h").is_err());
        assert!(parse_destination("ssh://h:x").is_err());
        assert!(parse_destination("ssh://h/path").is_err());
    }
}
