//! The settings of `whelk server`: command-line flags, an `sshd_config` file (`-f`) and
//! `-o Option=value` overrides, resolved into one [`Settings`] value.
//!
//! Precedence follows `sshd`: `-o` wins over the file (first value wins, and `-o` lines are
//! read first); the dedicated flags (`--listen`, `--host-key`, `--authorized-keys`) win over
//! both. Options that `whelk-config` does not model (`PermitListen`,
//! `PermitUserEnvironment`, `AllowStreamLocalForwarding`, `GatewayPorts`,
//! `PerSourceMaxStartups`, `PerSourceNetBlockSize`, `PerSourcePenalties`,
//! `PerSourcePenaltyExemptList`, `PermitUserRC`, `X11DisplayOffset`, `X11UseLocalhost`,
//! `XAuthLocation`) are read here with the same
//! first-value-wins rule, ignoring `Match` blocks.

use std::path::{Path, PathBuf};
use std::time::Duration;

use whelk::Method;
use whelk_config::server::{
    AllowTcpForwarding, AuthenticationMethods, IgnoreRhosts, MaxStartups, PermitRootLogin,
    ServerMatchContext,
};
use whelk_config::{AlgorithmList, ServerConfig as FileConfig};

/// The default listening address: loopback only, an unprivileged port.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:2222";
/// `AcceptEnv` when nothing sets it (OpenSSH's Debian default).
pub(crate) const DEFAULT_ACCEPT_ENV: &[&str] = &["LANG", "LC_*"];
/// `MaxStartups` default (`10:30:100`), as sshd.
pub(crate) const DEFAULT_MAX_STARTUPS: MaxStartups = MaxStartups {
    start: 10,
    rate: 30,
    full: 100,
};
/// `XAuthLocation` default (Debian's sshd).
pub(crate) const DEFAULT_XAUTH: &str = "/usr/bin/xauth";
/// `X11DisplayOffset` default, as sshd.
pub(crate) const DEFAULT_X11_DISPLAY_OFFSET: u32 = 10;
/// `MaxSessions` default, as sshd.
pub(crate) const DEFAULT_MAX_SESSIONS: u32 = 10;
/// `HostbasedAcceptedAlgorithms` default (OpenSSH 9's `KEX_DEFAULT_PK_ALG`).
pub(crate) const DEFAULT_HOSTBASED_ALGORITHMS: &[&str] = &[
    "ssh-ed25519-cert-v01@openssh.com",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com",
    "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "rsa-sha2-512-cert-v01@openssh.com",
    "rsa-sha2-256-cert-v01@openssh.com",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "rsa-sha2-512",
    "rsa-sha2-256",
];
/// What `HostbasedAcceptedAlgorithms` may name: the defaults and SHA-1 RSA.
const SUPPORTED_HOSTBASED_ALGORITHMS: &[&str] = &[
    "ssh-ed25519-cert-v01@openssh.com",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com",
    "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "rsa-sha2-512-cert-v01@openssh.com",
    "rsa-sha2-256-cert-v01@openssh.com",
    "ssh-rsa-cert-v01@openssh.com",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "rsa-sha2-512",
    "rsa-sha2-256",
    "ssh-rsa",
];

/// Everything the server needs to know, resolved.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// `host:port` pairs to listen on.
    pub(crate) listen: Vec<String>,
    /// Host key files; empty: the generated key in the state directory.
    pub(crate) host_keys: Vec<PathBuf>,
    /// `HostCertificate` files (not supported by the transport yet: warned about).
    pub(crate) host_certificates: Vec<PathBuf>,
    /// `authorized_keys` files (tokens expanded, relative to home).
    pub(crate) authorized_keys: Vec<PathBuf>,
    /// `TrustedUserCAKeys`.
    pub(crate) trusted_user_ca_keys: Option<PathBuf>,
    /// `--passwd-file`.
    pub(crate) passwd_file: Option<PathBuf>,
    /// `PubkeyAuthentication`.
    pub(crate) pubkey_auth: bool,
    /// `PasswordAuthentication` (needs a passwd file to be useful).
    pub(crate) password_auth: bool,
    /// `KbdInteractiveAuthentication` (needs a passwd file to be useful).
    pub(crate) kbd_interactive_auth: bool,
    /// `HostbasedAuthentication` (default no).
    pub(crate) hostbased_auth: bool,
    /// `HostbasedAcceptedAlgorithms`, resolved (a certificate counts by its `*-cert-v01`
    /// name).
    pub(crate) hostbased_algorithms: Vec<String>,
    /// `HostbasedUsesNameFromPacketOnly` (default no).
    pub(crate) hostbased_name_from_packet_only: bool,
    /// `IgnoreRhosts` (default yes).
    pub(crate) ignore_rhosts: IgnoreRhosts,
    /// `IgnoreUserKnownHosts` (default no).
    pub(crate) ignore_user_known_hosts: bool,
    /// `StrictModes` (default yes): refuse the user's hostbased files (`~/.shosts`,
    /// `~/.rhosts`, `~/.ssh/known_hosts`) and home when others may write them.
    pub(crate) strict_modes: bool,
    /// `PermitRootLogin yes` (as root, sshd reads `~/.shosts` / `~/.rhosts` only then).
    pub(crate) permit_root_login_yes: bool,
    /// `AuthenticationMethods` chains (empty: any one method).
    pub(crate) auth_chains: Vec<Vec<Method>>,
    /// `MaxAuthTries`.
    pub(crate) max_auth_tries: Option<u32>,
    /// `LoginGraceTime` (`Some(0)` disables).
    pub(crate) login_grace_time: Option<Duration>,
    /// `MaxStartups`.
    pub(crate) max_startups: MaxStartups,
    /// `PerSourceMaxStartups` (`None`: no per-source cap).
    pub(crate) per_source_max_startups: Option<usize>,
    /// `PerSourceNetBlockSize` (IPv4, IPv6 prefix lengths).
    pub(crate) per_source_net_block: (u8, u8),
    /// `PerSourcePenalties` (on by default, sshd 9.8's values).
    pub(crate) per_source_penalties: whelk_tokio::PerSourcePenalties,
    /// `MaxSessions`.
    pub(crate) max_sessions: u32,
    /// `ClientAliveInterval`.
    pub(crate) client_alive_interval: Option<Duration>,
    /// `ClientAliveCountMax`.
    pub(crate) client_alive_count_max: u32,
    /// `AllowTcpForwarding`.
    pub(crate) allow_tcp_forwarding: AllowTcpForwarding,
    /// `AllowStreamLocalForwarding` (`yes`/`all` or not).
    pub(crate) allow_stream_local_forwarding: bool,
    /// `AllowAgentForwarding`.
    pub(crate) allow_agent_forwarding: bool,
    /// `PermitOpen` (`None`: any).
    pub(crate) permit_open: Option<Vec<String>>,
    /// `PermitListen` (`None`: any).
    pub(crate) permit_listen: Option<Vec<String>>,
    /// `GatewayPorts` (`yes`: remote forwards may listen on any address the client names;
    /// otherwise loopback only).
    pub(crate) gateway_ports: bool,
    /// `PermitTTY`.
    pub(crate) permit_tty: bool,
    /// `PermitUserEnvironment` (honours `environment=` in authorized_keys).
    pub(crate) permit_user_environment: bool,
    /// `PermitUserRC`: run `~/.ssh/rc` before a session's command.
    pub(crate) permit_user_rc: bool,
    /// `X11Forwarding` (default no).
    pub(crate) x11_forwarding: bool,
    /// `X11DisplayOffset` (default 10).
    pub(crate) x11_display_offset: u32,
    /// `XAuthLocation` (default `/usr/bin/xauth`; `none`: X11 forwarding is refused).
    pub(crate) xauth_location: Option<PathBuf>,
    /// `AcceptEnv` patterns.
    pub(crate) accept_env: Vec<String>,
    /// `AllowUsers` patterns (empty: anyone; only the user part of `user@host` is used).
    pub(crate) allow_users: Vec<String>,
    /// `DenyUsers` patterns.
    pub(crate) deny_users: Vec<String>,
    /// `Banner` file.
    pub(crate) banner: Option<PathBuf>,
    /// `Subsystem` name and command line.
    pub(crate) subsystems: Vec<(String, String)>,
    /// `ForceCommand`.
    pub(crate) force_command: Option<String>,
    /// `RekeyLimit` bytes (0: default).
    pub(crate) rekey_limit: Option<u64>,
    /// `RekeyLimit` time.
    pub(crate) rekey_interval: Option<Duration>,
    /// `Ciphers`.
    pub(crate) ciphers: Option<String>,
    /// `MACs`.
    pub(crate) macs: Option<String>,
    /// `KexAlgorithms`.
    pub(crate) kex: Option<String>,
    /// `HostKeyAlgorithms`.
    pub(crate) host_key_algorithms: Option<String>,
    /// Root of the built-in SFTP server (default: home).
    pub(crate) sftp_root: Option<PathBuf>,
    /// Options set in the configuration that whelk does not carry out (warned about).
    pub(crate) unsupported: Vec<String>,
}

/// The inputs [`Settings::resolve`] combines (kept for the whole run: `Match` blocks are
/// evaluated again for each connection).
#[derive(Debug, Clone, Default)]
pub(crate) struct Sources {
    /// `--listen` values.
    pub(crate) listen: Vec<String>,
    /// `--host-key` values.
    pub(crate) host_keys: Vec<PathBuf>,
    /// `--authorized-keys`.
    pub(crate) authorized_keys: Vec<PathBuf>,
    /// `--passwd-file`.
    pub(crate) passwd_file: Option<PathBuf>,
    /// `--sftp-root`.
    pub(crate) sftp_root: Option<PathBuf>,
    /// `-f` file name and its text.
    pub(crate) config_file: Option<(String, String)>,
    /// `-o` values.
    pub(crate) options: Vec<String>,
    /// The user's name, for `%u` and `Match User`.
    pub(crate) user: String,
    /// Home directory, for `%h`, `~` and relative paths.
    pub(crate) home: PathBuf,
    /// The user's groups, for `Match Group`.
    pub(crate) groups: Vec<String>,
}

impl Sources {
    /// Whether a `Match` block could make a connection's settings differ from the global ones.
    pub(crate) fn has_match(&self) -> bool {
        let is_match = |l: &str| {
            l.trim_start()
                .get(..5)
                .is_some_and(|w| w.eq_ignore_ascii_case("match"))
        };
        self.options.iter().any(|o| is_match(o))
            || self
                .config_file
                .as_ref()
                .is_some_and(|(_, t)| t.lines().any(is_match))
    }
}

/// Turns `-o Key=Value` (or `Key Value`) into a configuration line.
fn option_line(o: &str) -> String {
    match o.split_once('=') {
        Some((k, v)) if !k.trim().contains(char::is_whitespace) => {
            format!("{} {}", k.trim(), v.trim())
        }
        _ => o.trim().to_owned(),
    }
}

/// `Key value` pairs of the lines outside `Match` blocks (first value wins), for the
/// options `whelk-config` does not model.
fn extra_option(texts: &[&str], key: &str) -> Option<Vec<String>> {
    for text in texts {
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let (k, rest) = match line.find(|c: char| c.is_whitespace() || c == '=') {
                Some(i) => (line.get(..i).unwrap_or(""), line.get(i..).unwrap_or("")),
                None => (line, ""),
            };
            if k.eq_ignore_ascii_case("match") {
                break;
            }
            if k.eq_ignore_ascii_case(key) {
                let rest = rest.trim_start().trim_start_matches('=').trim();
                return Some(rest.split_whitespace().map(str::to_owned).collect());
            }
        }
    }
    None
}

fn yes(v: &[String]) -> Option<bool> {
    match v.first().map(|s| s.to_ascii_lowercase()).as_deref() {
        Some("yes" | "all") => Some(true),
        Some("no" | "local" | "remote") => Some(false),
        _ => None,
    }
}

fn algorithms(list: Option<&AlgorithmList>) -> Option<String> {
    list.map(|l| {
        let mut s = l.modifier().map(String::from).unwrap_or_default();
        s.push_str(&l.names().join(","));
        s
    })
}

/// Expands `%%`, `%h`, `%u` and `~` and makes `path` absolute under `home`.
pub(crate) fn expand_path(path: &str, user: &str, home: &Path) -> PathBuf {
    let home_s = home.to_string_lossy();
    let mut out = String::new();
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next() {
                Some('%') => out.push('%'),
                Some('h') => out.push_str(&home_s),
                Some('u') => out.push_str(user),
                Some(o) => {
                    out.push('%');
                    out.push(o);
                }
                None => out.push('%'),
            }
        } else {
            out.push(c);
        }
    }
    if let Some(rest) = out.strip_prefix("~/") {
        return home.join(rest);
    }
    let p = PathBuf::from(out);
    if p.is_absolute() { p } else { home.join(p) }
}

fn method_chains(m: Option<&AuthenticationMethods>) -> Result<Vec<Vec<Method>>, String> {
    let Some(AuthenticationMethods::Lists(lists)) = m else {
        return Ok(Vec::new());
    };
    lists
        .iter()
        .map(|list| {
            list.iter()
                .map(|name| {
                    let base = name.split_once(':').map_or(name.as_str(), |(b, _)| b);
                    Method::from_name(base)
                        .ok_or_else(|| format!("AuthenticationMethods: {name} is not supported"))
                })
                .collect()
        })
        .collect()
}

impl Settings {
    /// Combines the flags, the `-o` options and the configuration file; with `conn`, the
    /// `Match` blocks that match it override the global options (as sshd does).
    pub(crate) fn resolve(
        src: &Sources,
        conn: Option<&ServerMatchContext>,
    ) -> Result<Self, String> {
        let files = whelk_config::io::StdFiles::new(
            Some("/etc/ssh".into()),
            Some(src.home.to_string_lossy().into_owned()),
        );
        let o_text: String = src.options.iter().map(|o| option_line(o) + "\n").collect();
        let from_o = whelk_config::parse_server(&o_text, "-o", &files, conn)
            .map_err(|e| format!("-o: {e}"))?;
        let cfg: FileConfig = match &src.config_file {
            Some((name, text)) => whelk_config::parse_server(text, name, &files, conn)
                .map_err(|e| e.to_string())?
                .overlaid_with(from_o),
            None => from_o,
        };
        let mut texts = vec![o_text.as_str()];
        if let Some((_, t)) = &src.config_file {
            texts.push(t);
        }
        let extra = |k: &str| extra_option(&texts, k);

        let listen = if !src.listen.is_empty() {
            src.listen.clone()
        } else if cfg.listen_addresses.is_empty() && cfg.ports.is_empty() {
            vec![DEFAULT_LISTEN.to_owned()]
        } else {
            let mut c = cfg.clone();
            if c.listen_addresses.is_empty() {
                // A per-user server listens on loopback unless told otherwise.
                c.listen_addresses
                    .push(whelk_config::server::ListenAddress {
                        host: "127.0.0.1".into(),
                        port: None,
                        rdomain: None,
                    });
            }
            c.listen_pairs()
                .into_iter()
                .map(|(h, p)| {
                    if h.contains(':') {
                        format!("[{h}]:{p}")
                    } else {
                        format!("{h}:{p}")
                    }
                })
                .collect()
        };
        let expand = |p: &str| expand_path(p, &src.user, &src.home);
        let host_keys = if src.host_keys.is_empty() {
            cfg.host_keys.iter().map(|p| expand(p)).collect()
        } else {
            src.host_keys.clone()
        };
        let authorized_keys = if !src.authorized_keys.is_empty() {
            src.authorized_keys.clone()
        } else if let Some(list) = &cfg.authorized_keys_files {
            list.iter()
                .filter(|p| p.as_str() != "none")
                .map(|p| expand(p))
                .collect()
        } else {
            vec![src.home.join(".ssh/authorized_keys")]
        };
        let permit_open = cfg.permit_open.clone().and_then(|v| {
            if v.iter().any(|s| s == "any") {
                None
            } else {
                Some(v.into_iter().filter(|s| s != "none").collect())
            }
        });
        let permit_listen = extra("PermitListen").and_then(|v| {
            if v.iter().any(|s| s == "any") {
                None
            } else {
                Some(v.into_iter().filter(|s| s != "none").collect())
            }
        });
        let banner = cfg.banner.as_deref().filter(|b| *b != "none").map(&expand);
        Ok(Self {
            listen,
            host_keys,
            host_certificates: cfg.host_certificates.iter().map(|p| expand(p)).collect(),
            authorized_keys,
            trusted_user_ca_keys: cfg
                .trusted_user_ca_keys
                .as_deref()
                .filter(|p| *p != "none")
                .map(&expand),
            passwd_file: src.passwd_file.clone(),
            pubkey_auth: cfg.pubkey_authentication.unwrap_or(true),
            password_auth: cfg.password_authentication.unwrap_or(true),
            kbd_interactive_auth: cfg.kbd_interactive_authentication.unwrap_or(true),
            hostbased_auth: cfg.hostbased_authentication.unwrap_or(false),
            hostbased_algorithms: match &cfg.hostbased_accepted_algorithms {
                None => DEFAULT_HOSTBASED_ALGORITHMS
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect(),
                Some(list) => list
                    .resolve(DEFAULT_HOSTBASED_ALGORITHMS, SUPPORTED_HOSTBASED_ALGORITHMS)
                    .map_err(|e| format!("HostbasedAcceptedAlgorithms: {e}"))?,
            },
            hostbased_name_from_packet_only: cfg
                .hostbased_uses_name_from_packet_only
                .unwrap_or(false),
            ignore_rhosts: cfg.ignore_rhosts.unwrap_or(IgnoreRhosts::Yes),
            ignore_user_known_hosts: cfg.ignore_user_known_hosts.unwrap_or(false),
            strict_modes: cfg.strict_modes.unwrap_or(true),
            permit_root_login_yes: cfg.permit_root_login == Some(PermitRootLogin::Yes),
            auth_chains: method_chains(cfg.authentication_methods.as_ref())?,
            max_auth_tries: cfg.max_auth_tries,
            login_grace_time: cfg.login_grace_time,
            max_startups: cfg.max_startups.unwrap_or(DEFAULT_MAX_STARTUPS),
            per_source_max_startups: match extra("PerSourceMaxStartups").as_deref() {
                None | Some([]) => None,
                Some([v, ..]) if v == "none" => None,
                Some([v, ..]) => Some(
                    v.parse()
                        .map_err(|_| format!("PerSourceMaxStartups: bad value {v:?}"))?,
                ),
            },
            per_source_net_block: match extra("PerSourceNetBlockSize").as_deref() {
                None | Some([]) => (32, 128),
                Some([v, ..]) => {
                    let (a, b) = v.split_once(':').unwrap_or((v.as_str(), "128"));
                    match (a.parse::<u8>(), b.parse::<u8>()) {
                        (Ok(a), Ok(b)) if a <= 32 && b <= 128 => (a, b),
                        _ => return Err(format!("PerSourceNetBlockSize: bad value {v:?}")),
                    }
                }
            },
            per_source_penalties: {
                let mut p = whelk_tokio::PerSourcePenalties::default();
                if let Some(words) = extra("PerSourcePenalties") {
                    let words: Vec<&str> = words.iter().map(String::as_str).collect();
                    p.apply(&words)?;
                }
                if let Some(list) = extra("PerSourcePenaltyExemptList") {
                    p.set_exempt_list(&list.join(","))?;
                }
                p
            },
            max_sessions: cfg.max_sessions.unwrap_or(DEFAULT_MAX_SESSIONS),
            client_alive_interval: cfg.client_alive_interval.filter(|d| !d.is_zero()),
            client_alive_count_max: cfg.client_alive_count_max.unwrap_or(3),
            allow_tcp_forwarding: cfg.allow_tcp_forwarding.unwrap_or(AllowTcpForwarding::Yes),
            allow_stream_local_forwarding: extra("AllowStreamLocalForwarding")
                .and_then(|v| yes(&v))
                .unwrap_or(true),
            allow_agent_forwarding: cfg.allow_agent_forwarding.unwrap_or(true),
            permit_open,
            permit_listen,
            gateway_ports: extra("GatewayPorts").and_then(|v| yes(&v)).unwrap_or(false),
            permit_tty: cfg.permit_tty.unwrap_or(true),
            permit_user_environment: extra("PermitUserEnvironment")
                .and_then(|v| yes(&v))
                .unwrap_or(false),
            permit_user_rc: extra("PermitUserRC").and_then(|v| yes(&v)).unwrap_or(true),
            x11_forwarding: cfg.x11_forwarding.unwrap_or(false),
            x11_display_offset: match extra("X11DisplayOffset").as_deref() {
                None => DEFAULT_X11_DISPLAY_OFFSET,
                Some([n]) => n
                    .parse()
                    .ok()
                    .filter(|n| *n <= 1000)
                    .ok_or_else(|| format!("X11DisplayOffset: bad value {n:?}"))?,
                Some(v) => return Err(format!("X11DisplayOffset: bad value {:?}", v.join(" "))),
            },
            xauth_location: match extra("XAuthLocation").as_deref() {
                None | Some([]) => Some(PathBuf::from(DEFAULT_XAUTH)),
                Some([p]) if p == "none" => None,
                Some(v) => Some(PathBuf::from(v.join(" "))),
            },
            accept_env: if cfg.accept_env.is_empty() {
                DEFAULT_ACCEPT_ENV.iter().map(|s| (*s).to_owned()).collect()
            } else {
                cfg.accept_env.clone()
            },
            allow_users: cfg.allow_users.clone(),
            deny_users: cfg.deny_users.clone(),
            banner,
            subsystems: cfg
                .subsystems
                .iter()
                .map(|s| (s.name.clone(), s.command.clone()))
                .collect(),
            force_command: cfg.force_command.clone(),
            rekey_limit: cfg.rekey_limit,
            rekey_interval: cfg.rekey_interval,
            ciphers: algorithms(cfg.ciphers.as_ref()),
            macs: algorithms(cfg.macs.as_ref()),
            kex: algorithms(cfg.kex_algorithms.as_ref()),
            host_key_algorithms: algorithms(cfg.host_key_algorithms.as_ref()),
            sftp_root: src.sftp_root.clone(),
            unsupported: [
                cfg.chroot_directory
                    .as_deref()
                    .filter(|c| *c != "none")
                    .map(|c| format!("ChrootDirectory {c}")),
                // Displays listen on loopback only (sshd's X11UseLocalhost yes).
                extra("X11UseLocalhost")
                    .filter(|v| yes(v) == Some(false))
                    .map(|_| "X11UseLocalhost no".to_owned()),
            ]
            .into_iter()
            .flatten()
            .collect(),
        })
    }

    /// Whether `name` may be set by an `env` request (`AcceptEnv` patterns).
    pub(crate) fn accepts_env(&self, name: &str) -> bool {
        !name.is_empty()
            && !name.contains('=')
            && self
                .accept_env
                .iter()
                .any(|p| whelk::config::wildcard_match(p, name))
    }

    /// Whether `AllowUsers`/`DenyUsers` let `user` in (`user@host` patterns: the host part
    /// is not checked; whelk does no DNS).
    pub(crate) fn user_allowed(&self, user: &str) -> bool {
        let hit = |p: &String| {
            let u = p.split_once('@').map_or(p.as_str(), |(u, _)| u);
            whelk::config::wildcard_match(u, user)
        };
        !self.deny_users.iter().any(hit)
            && (self.allow_users.is_empty() || self.allow_users.iter().any(hit))
    }

    /// The command line of subsystem `name`, if configured.
    pub(crate) fn subsystem(&self, name: &str) -> Option<&str> {
        self.subsystems
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(opts: &[&str], file: Option<&str>) -> Sources {
        Sources {
            options: opts.iter().map(|s| (*s).to_owned()).collect(),
            config_file: file.map(|t| ("sshd_config".to_owned(), t.to_owned())),
            user: "alice".into(),
            home: PathBuf::from("/home/alice"),
            ..Sources::default()
        }
    }

    fn resolve(opts: &[&str], file: Option<&str>) -> Settings {
        Settings::resolve(&sources(opts, file), None).unwrap()
    }

    #[test]
    fn match_blocks_apply_per_connection() {
        let file = "AllowTcpForwarding yes\nMatch Address 10.0.0.0/8\n  AllowTcpForwarding no\n  ForceCommand echo matched\n  PermitTTY no\n";
        let src = sources(&[], Some(file));
        assert!(src.has_match());
        let global = Settings::resolve(&src, None).unwrap();
        assert_eq!(global.allow_tcp_forwarding, AllowTcpForwarding::Yes);
        let ctx = ServerMatchContext {
            user: Some("alice".into()),
            address: Some("10.1.2.3".into()),
            ..ServerMatchContext::default()
        };
        let m = Settings::resolve(&src, Some(&ctx)).unwrap();
        assert_eq!(m.allow_tcp_forwarding, AllowTcpForwarding::No);
        assert_eq!(m.force_command.as_deref(), Some("echo matched"));
        assert!(!m.permit_tty);
        let other = ServerMatchContext {
            address: Some("127.0.0.1".into()),
            ..ctx
        };
        let o = Settings::resolve(&src, Some(&other)).unwrap();
        assert_eq!(o.allow_tcp_forwarding, AllowTcpForwarding::Yes);
        assert!(!sources(&["Port 22"], None).has_match());
    }

    #[test]
    fn defaults() {
        let s = resolve(&[], None);
        assert_eq!(s.listen, ["127.0.0.1:2222"]);
        assert_eq!(
            s.authorized_keys,
            [PathBuf::from("/home/alice/.ssh/authorized_keys")]
        );
        assert!(s.pubkey_auth && s.password_auth && s.permit_tty);
        assert!(!s.hostbased_auth && !s.hostbased_name_from_packet_only);
        assert!(s.strict_modes && !s.ignore_user_known_hosts && !s.permit_root_login_yes);
        assert_eq!(s.ignore_rhosts, IgnoreRhosts::Yes);
        let h = resolve(
            &[
                "HostbasedAuthentication yes",
                "IgnoreRhosts shosts-only",
                "PermitRootLogin yes",
            ],
            None,
        );
        assert!(h.hostbased_auth && h.permit_root_login_yes);
        assert_eq!(s.hostbased_algorithms.len(), 16);
        let a = resolve(
            &["HostbasedAcceptedAlgorithms -*-cert-v01@openssh.com"],
            None,
        );
        assert_eq!(a.hostbased_algorithms.len(), 8);
        let a = resolve(&["HostbasedAcceptedAlgorithms ssh-rsa,ssh-ed25519"], None);
        assert_eq!(a.hostbased_algorithms, ["ssh-rsa", "ssh-ed25519"]);
        assert!(
            Settings::resolve(&sources(&["HostbasedAcceptedAlgorithms nope"], None), None).is_err()
        );
        assert_eq!(h.ignore_rhosts, IgnoreRhosts::ShostsOnly);
        assert!(s.accepts_env("LANG") && s.accepts_env("LC_ALL") && !s.accepts_env("PATH"));
        assert_eq!(s.max_sessions, 10);
        assert!(s.permit_open.is_none() && !s.permit_user_environment && !s.gateway_ports);
        assert!(resolve(&["GatewayPorts yes"], None).gateway_ports);
        assert_eq!(
            resolve(&["ChrootDirectory /srv", "X11UseLocalhost no"], None).unsupported,
            ["ChrootDirectory /srv", "X11UseLocalhost no"]
        );
        assert!(
            resolve(&["X11UseLocalhost yes"], None)
                .unsupported
                .is_empty()
        );
        assert!(!s.x11_forwarding);
        assert_eq!(s.x11_display_offset, 10);
        assert_eq!(s.xauth_location, Some(PathBuf::from("/usr/bin/xauth")));
        let x = resolve(
            &[
                "X11Forwarding yes",
                "X11DisplayOffset 20",
                "XAuthLocation /opt/xauth",
            ],
            None,
        );
        assert!(x.x11_forwarding);
        assert_eq!(x.x11_display_offset, 20);
        assert_eq!(x.xauth_location, Some(PathBuf::from("/opt/xauth")));
        assert_eq!(resolve(&["XAuthLocation none"], None).xauth_location, None);
        let p = resolve(
            &["PerSourceMaxStartups 3", "PerSourceNetBlockSize 24:64"],
            None,
        );
        assert_eq!(
            (p.per_source_max_startups, p.per_source_net_block),
            (Some(3), (24, 64))
        );
        assert_eq!(s.per_source_max_startups, None);
        assert!(s.per_source_penalties.enabled);
        assert_eq!(s.per_source_penalties.noauth, Duration::from_secs(1));
        let p = resolve(&["PerSourcePenalties noauth:2s min:4s max:1m"], None);
        assert_eq!(p.per_source_penalties.noauth, Duration::from_secs(2));
        assert_eq!(p.per_source_penalties.min, Duration::from_secs(4));
        assert_eq!(p.per_source_penalties.max, Duration::from_secs(60));
        assert!(
            !resolve(&["PerSourcePenalties no"], None)
                .per_source_penalties
                .enabled
        );
        let p = resolve(&["PerSourcePenaltyExemptList 127.0.0.0/8,::1"], None);
        assert_eq!(p.per_source_penalties.exempt.len(), 2);
    }

    #[test]
    fn options_win_over_the_file() {
        let file = "Port 2200\nPasswordAuthentication no\nAuthorizedKeysFile .ssh/ak %h/other\nSubsystem sftp /usr/lib/openssh/sftp-server\nPermitListen 8080\nCiphers ^aes128-ctr\n";
        let s = resolve(
            &[
                "PasswordAuthentication=yes",
                "PermitOpen localhost:80",
                "PermitUserEnvironment=yes",
                "AuthenticationMethods=publickey,password",
            ],
            Some(file),
        );
        assert_eq!(s.listen, ["127.0.0.1:2200"]);
        assert!(s.password_auth);
        assert_eq!(
            s.authorized_keys,
            [
                PathBuf::from("/home/alice/.ssh/ak"),
                PathBuf::from("/home/alice/other")
            ]
        );
        assert_eq!(s.subsystem("sftp"), Some("/usr/lib/openssh/sftp-server"));
        assert_eq!(s.permit_open, Some(vec!["localhost:80".to_owned()]));
        assert_eq!(s.permit_listen, Some(vec!["8080".to_owned()]));
        assert!(s.permit_user_environment);
        assert_eq!(s.ciphers.as_deref(), Some("^aes128-ctr"));
        assert_eq!(s.auth_chains, [vec![Method::PublicKey, Method::Password]]);
    }

    #[test]
    fn allow_and_deny_users() {
        assert!(resolve(&[], None).user_allowed("alice"));
        assert!(resolve(&["AllowUsers al* bob"], None).user_allowed("alice"));
        assert!(!resolve(&["AllowUsers bob"], None).user_allowed("alice"));
        assert!(!resolve(&["DenyUsers alice@*"], None).user_allowed("alice"));
    }

    #[test]
    fn listen_address_with_port() {
        let s = resolve(
            &["ListenAddress=[::1]:2022", "ListenAddress 127.0.0.2"],
            None,
        );
        assert_eq!(s.listen, ["[::1]:2022", "127.0.0.2:22"]);
    }

    #[test]
    fn paths_expand() {
        let home = Path::new("/h");
        assert_eq!(expand_path("%h/x", "u", home), PathBuf::from("/h/x"));
        assert_eq!(expand_path("/k/%u", "u", home), PathBuf::from("/k/u"));
        assert_eq!(expand_path("~/a", "u", home), PathBuf::from("/h/a"));
        assert_eq!(expand_path("rel", "u", home), PathBuf::from("/h/rel"));
    }
}
