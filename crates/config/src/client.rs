//! The client configuration (`ssh_config(5)`): [`ClientConfig`], the [`MatchContext`] that
//! `Host` and `Match` are evaluated against, and [`parse_client`] / [`resolve_client`].
//!
//! Semantics follow OpenSSH 9.2's `readconf.c`: keywords are case-insensitive; for most
//! options the first value obtained wins; `IdentityFile`, `CertificateFile`, the forwardings
//! and `SendEnv` accumulate; a `Host` or `Match` line starts a block that lasts until the
//! next one; `Match host` sees the `Hostname` set so far, `Match user` the `User` set so far.

use core::fmt;
use std::time::Duration;

use crate::algorithms::AlgorithmList;
use crate::engine::{self, Directive, Handler};
use crate::error::{Error, ErrorKind};
use crate::forward::{Forward, ForwardKind, parse_port};
use crate::pattern::{match_hostname, match_list, match_pattern};
use crate::source::FileSource;
use crate::tokens::{self, TokenContext};
use crate::values::{self, CLIENT_FLAG, choice, first};

/// OpenSSH's `SSH_MAX_IDENTITY_FILES` (also applied to certificate files).
pub const MAX_IDENTITY_FILES: usize = 100;

/// OpenSSH's `SSH_MAX_HOSTS_FILES`.
pub const MAX_KNOWN_HOSTS_FILES: usize = 128;

/// What a `Match exec` command is handed to: the command (tokens already expanded); returns
/// whether it succeeded (exit status 0).
pub type ExecFn<'a> = dyn FnMut(&str) -> bool + 'a;

/// Who is connecting where: the values `Host` and `Match` lines are tested against, and
/// those the tokens expand to.
///
/// `user` and `port` are command-line values (`ssh -l`, `-p`, `user@host`): like OpenSSH,
/// they are set before the file is read, so they win over `User` and `Port` lines and are
/// what `Match user` sees.
pub struct MatchContext<'a> {
    /// The host as given (after canonicalization in a canonical pass): what `Host` matches.
    pub host: String,
    /// The host exactly as typed on the command line (`Match originalhost`, `%n`).
    pub original_host: String,
    /// The remote user given on the command line, if any.
    pub user: Option<String>,
    /// The port given on the command line, if any.
    pub port: Option<u16>,
    /// The local user name (`Match localuser`, `%u`).
    pub local_user: String,
    /// The local host name (`%l`; `%L` is the part before the first dot).
    pub local_host: String,
    /// The local user's home directory (`%d`).
    pub home_dir: String,
    /// The local user ID (`%i`).
    pub uid: u32,
    /// This pass runs after host-name canonicalization (`Match canonical`).
    pub canonical: bool,
    /// This is the final pass (`Match final`). OpenSSH 9.2 makes `canonical` and `final`
    /// both true in its second pass; either flag here makes both criteria match.
    pub final_pass: bool,
    /// Runs a `Match exec` command. Without one, `exec` criteria are false (and logged).
    pub exec: Option<Box<ExecFn<'a>>>,
}

impl fmt::Debug for MatchContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MatchContext")
            .field("host", &self.host)
            .field("original_host", &self.original_host)
            .field("user", &self.user)
            .field("port", &self.port)
            .field("local_user", &self.local_user)
            .field("local_host", &self.local_host)
            .field("home_dir", &self.home_dir)
            .field("uid", &self.uid)
            .field("canonical", &self.canonical)
            .field("final_pass", &self.final_pass)
            .field("exec", &self.exec.as_ref().map(|_| "<fn>"))
            .finish()
    }
}

impl MatchContext<'_> {
    /// A context for connecting to `host` as local user `local_user` (home `/home/<user>`,
    /// uid 1000, local host `localhost`), first pass, no `exec` runner. Adjust the public
    /// fields as needed.
    #[must_use]
    pub fn new(host: impl Into<String>, local_user: impl Into<String>) -> Self {
        let host = host.into();
        let local_user = local_user.into();
        Self {
            original_host: host.clone(),
            host,
            user: None,
            port: None,
            home_dir: format!("/home/{local_user}"),
            local_user,
            local_host: "localhost".into(),
            uid: 1000,
            canonical: false,
            final_pass: false,
            exec: None,
        }
    }
}

impl<'a> MatchContext<'a> {
    /// Sets the `Match exec` runner.
    #[must_use]
    pub fn with_exec(mut self, exec: impl FnMut(&str) -> bool + 'a) -> Self {
        self.exec = Some(Box::new(exec));
        self
    }
}

/// `AddressFamily`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressFamily {
    /// `any`.
    Any,
    /// `inet` (IPv4 only).
    Inet,
    /// `inet6` (IPv6 only).
    Inet6,
}

/// `StrictHostKeyChecking`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StrictHostKeyChecking {
    /// `yes`/`true`: never add keys, refuse changed ones.
    Yes,
    /// `no`/`false`/`off`: accept and add anything new, refuse changed keys.
    No,
    /// `ask` (the default).
    Ask,
    /// `accept-new`: add new keys, refuse changed ones.
    AcceptNew,
}

/// `RequestTTY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestTty {
    /// `no`/`false`.
    No,
    /// `yes`/`true`.
    Yes,
    /// `force`.
    Force,
    /// `auto`.
    Auto,
}

/// `CanonicalizeHostname`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CanonicalizeHostname {
    /// `no`.
    No,
    /// `yes`: only for direct connections.
    Yes,
    /// `always`: also for proxied connections.
    Always,
}

/// `PubkeyAuthentication`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PubkeyAuthentication {
    /// `no`.
    No,
    /// `yes`: with the host-bound extension when the server supports it.
    Yes,
    /// `unbound`: without the host-bound extension.
    Unbound,
    /// `host-bound`: only with the host-bound extension.
    HostBound,
}

/// `LogLevel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// `QUIET`.
    Quiet,
    /// `FATAL`.
    Fatal,
    /// `ERROR`.
    Error,
    /// `INFO`.
    Info,
    /// `VERBOSE`.
    Verbose,
    /// `DEBUG` / `DEBUG1`.
    Debug1,
    /// `DEBUG2`.
    Debug2,
    /// `DEBUG3`.
    Debug3,
}

pub(crate) const LOG_LEVELS: &[(&str, LogLevel)] = &[
    ("QUIET", LogLevel::Quiet),
    ("FATAL", LogLevel::Fatal),
    ("ERROR", LogLevel::Error),
    ("INFO", LogLevel::Info),
    ("VERBOSE", LogLevel::Verbose),
    ("DEBUG", LogLevel::Debug1),
    ("DEBUG1", LogLevel::Debug1),
    ("DEBUG2", LogLevel::Debug2),
    ("DEBUG3", LogLevel::Debug3),
];

/// `ForwardAgent`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ForwardAgent {
    /// `yes`: forward the agent at `$SSH_AUTH_SOCK`.
    Yes,
    /// `no`.
    No,
    /// Forward the agent at this socket path (or `$VARIABLE`).
    Socket(String),
}

/// One hop of `ProxyJump`: `[user@]host[:port]` or `ssh://[user@]host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JumpHost {
    /// The user, if given.
    pub user: Option<String>,
    /// The host.
    pub host: String,
    /// The port, if given.
    pub port: Option<u16>,
}

impl fmt::Display for JumpHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(u) = &self.user {
            write!(f, "{u}@")?;
        }
        match (self.host.contains(':'), self.port) {
            (true, Some(p)) => write!(f, "[{}]:{p}", self.host),
            (false, Some(p)) => write!(f, "{}:{p}", self.host),
            (_, None) => write!(f, "{}", self.host),
        }
    }
}

/// `ProxyJump`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProxyJump {
    /// `none`.
    None,
    /// Jump through these hosts, first to last.
    Hosts(Vec<JumpHost>),
}

impl fmt::Display for ProxyJump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => write!(f, "none"),
            Self::Hosts(h) => {
                let parts: Vec<String> = h.iter().map(ToString::to_string).collect();
                write!(f, "{}", parts.join(","))
            }
        }
    }
}

/// Parses `[user@]host[:port]` (host may be `[v6]`).
fn parse_user_host_port(s: &str) -> Option<JumpHost> {
    let (user, hostport) = match s.rfind('@') {
        Some(i) => (Some(s.get(..i)?.to_owned()), s.get(i + 1..)?),
        None => (None, s),
    };
    if user.as_deref() == Some("") {
        return None;
    }
    let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
        let end = inner.find(']')?;
        let host = inner.get(..end)?;
        let after = inner.get(end + 1..)?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (host, port)
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() || host.contains(['/', ' ', '@']) {
        return None;
    }
    let port = match port {
        None => None,
        Some(p) => Some(parse_port(p).filter(|&p| p > 0)?),
    };
    Some(JumpHost {
        user,
        host: host.to_owned(),
        port,
    })
}

fn parse_jump(s: &str) -> Option<ProxyJump> {
    let s = s.split('#').next().unwrap_or(s).trim_end();
    if s.eq_ignore_ascii_case("none") {
        return Some(ProxyJump::None);
    }
    let mut hops = Vec::new();
    for hop in s.split(',') {
        let hop = match hop.strip_prefix("ssh://") {
            Some(rest) => {
                let rest = rest.strip_suffix('/').unwrap_or(rest);
                if rest.contains('/') {
                    return None;
                }
                rest
            }
            None => hop,
        };
        hops.push(parse_user_host_port(hop)?);
    }
    Some(ProxyJump::Hosts(hops))
}

/// The client options whelk knows, each `None`/empty until a line sets it. The options are
/// as written (tokens unexpanded, algorithm modifiers kept), apart from parsing into types.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientConfig {
    /// `AddressFamily`.
    pub address_family: Option<AddressFamily>,
    /// `BatchMode`.
    pub batch_mode: Option<bool>,
    /// `BindAddress`.
    pub bind_address: Option<String>,
    /// `BindInterface`.
    pub bind_interface: Option<String>,
    /// `CanonicalDomains`.
    pub canonical_domains: Option<Vec<String>>,
    /// `CanonicalizeFallbackLocal`.
    pub canonicalize_fallback_local: Option<bool>,
    /// `CanonicalizeHostname`.
    pub canonicalize_hostname: Option<CanonicalizeHostname>,
    /// `CanonicalizeMaxDots`.
    pub canonicalize_max_dots: Option<u32>,
    /// `CanonicalizePermittedCNAMEs` (rules `source_domains:target_domains`, or `none`).
    pub canonicalize_permitted_cnames: Option<Vec<String>>,
    /// `CASignatureAlgorithms`.
    pub ca_signature_algorithms: Option<AlgorithmList>,
    /// `CertificateFile` (every one, in order; duplicates dropped).
    pub certificate_files: Vec<String>,
    /// `CheckHostIP`.
    pub check_host_ip: Option<bool>,
    /// `Ciphers`.
    pub ciphers: Option<AlgorithmList>,
    /// `Compression`.
    pub compression: Option<bool>,
    /// `ConnectionAttempts`.
    pub connection_attempts: Option<u32>,
    /// `ConnectTimeout`.
    pub connect_timeout: Option<Duration>,
    /// `DynamicForward` (every one, in order; duplicates dropped).
    pub dynamic_forwards: Vec<Forward>,
    /// `ExitOnForwardFailure`.
    pub exit_on_forward_failure: Option<bool>,
    /// `ForwardAgent`.
    pub forward_agent: Option<ForwardAgent>,
    /// `ForwardX11` (RFC 4254 §6.3; `ssh -X`/`-x`).
    pub forward_x11: Option<bool>,
    /// `ForwardX11Timeout` (untrusted X11 forwarding; OpenSSH's default is 20 minutes).
    pub forward_x11_timeout: Option<Duration>,
    /// `ForwardX11Trusted` (`ssh -Y`; OpenSSH's default is `no`).
    pub forward_x11_trusted: Option<bool>,
    /// `GlobalKnownHostsFile`.
    pub global_known_hosts_files: Option<Vec<String>>,
    /// `HashKnownHosts`.
    pub hash_known_hosts: Option<bool>,
    /// `HostbasedAcceptedAlgorithms`.
    pub hostbased_accepted_algorithms: Option<AlgorithmList>,
    /// `HostKeyAlgorithms`.
    pub host_key_algorithms: Option<AlgorithmList>,
    /// `HostKeyAlias`.
    pub host_key_alias: Option<String>,
    /// `Hostname` (may contain `%h`; see [`ClientConfig::effective_hostname`]).
    pub hostname: Option<String>,
    /// `IdentitiesOnly`.
    pub identities_only: Option<bool>,
    /// `IdentityAgent` (`none`, `SSH_AUTH_SOCK`, a path or `$VARIABLE`).
    pub identity_agent: Option<String>,
    /// `IdentityFile` (every one, in order; duplicates dropped).
    pub identity_files: Vec<String>,
    /// `KbdInteractiveAuthentication` (alias `ChallengeResponseAuthentication`).
    pub kbd_interactive_authentication: Option<bool>,
    /// `KexAlgorithms`.
    pub kex_algorithms: Option<AlgorithmList>,
    /// `LocalForward` (every one, in order; duplicates dropped).
    pub local_forwards: Vec<Forward>,
    /// `LogLevel`.
    pub log_level: Option<LogLevel>,
    /// `MACs`.
    pub macs: Option<AlgorithmList>,
    /// `NumberOfPasswordPrompts`.
    pub number_of_password_prompts: Option<u32>,
    /// `PasswordAuthentication`.
    pub password_authentication: Option<bool>,
    /// `Port`.
    pub port: Option<u16>,
    /// `PreferredAuthentications`.
    pub preferred_authentications: Option<Vec<String>>,
    /// `ProxyCommand` (the rest of the line, verbatim; `none` kept as is).
    pub proxy_command: Option<String>,
    /// `ProxyJump`.
    pub proxy_jump: Option<ProxyJump>,
    /// `PubkeyAcceptedAlgorithms` (alias `PubkeyAcceptedKeyTypes`).
    pub pubkey_accepted_algorithms: Option<AlgorithmList>,
    /// `PubkeyAuthentication`.
    pub pubkey_authentication: Option<PubkeyAuthentication>,
    /// `RekeyLimit`, first argument, in bytes (0 for `default`).
    pub rekey_limit: Option<u64>,
    /// `RekeyLimit`, second argument (absent or `none`: not set).
    pub rekey_interval: Option<Duration>,
    /// `RemoteCommand` (the rest of the line, verbatim).
    pub remote_command: Option<String>,
    /// `RemoteForward` (every one, in order; duplicates dropped; a target-less one is a
    /// remote dynamic forward).
    pub remote_forwards: Vec<Forward>,
    /// `RequestTTY`.
    pub request_tty: Option<RequestTty>,
    /// `SendEnv` patterns (accumulated; `-pattern` removes earlier ones).
    pub send_env: Vec<String>,
    /// `ServerAliveCountMax`.
    pub server_alive_count_max: Option<u32>,
    /// `ServerAliveInterval`.
    pub server_alive_interval: Option<Duration>,
    /// `SetEnv` (`NAME=value` pairs of the first `SetEnv` line that applies).
    pub set_env: Option<Vec<(String, String)>>,
    /// `StrictHostKeyChecking`.
    pub strict_host_key_checking: Option<StrictHostKeyChecking>,
    /// `TCPKeepAlive`.
    pub tcp_keep_alive: Option<bool>,
    /// `User`.
    pub user: Option<String>,
    /// `XAuthLocation` (OpenSSH's default is `/usr/bin/xauth`).
    pub xauth_location: Option<String>,
    /// `UserKnownHostsFile`.
    pub user_known_hosts_files: Option<Vec<String>>,
    /// Some `Match final` line was seen: the caller should run a final pass
    /// ([`resolve_client`] does).
    pub final_pass_requested: bool,
}

impl ClientConfig {
    /// The host to connect to: `Hostname` with `%h` (and `%%`) expanded against `host`, or
    /// `host` itself; lower-cased, as `ssh` does.
    pub fn effective_hostname(&self, host: &str) -> Result<String, tokens::TokenError> {
        let raw = match &self.hostname {
            Some(h) => tokens::expand_only(
                h,
                &TokenContext {
                    remote_host: Some(host.to_owned()),
                    ..TokenContext::default()
                },
                "h",
            )?,
            None => host.to_owned(),
        };
        Ok(raw.to_ascii_lowercase())
    }

    /// The port to connect to (22 by default).
    #[must_use]
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or(22)
    }

    /// `ServerAliveInterval`, else 300 seconds in `BatchMode` (as `ssh` fills it in), else
    /// zero (off).
    #[must_use]
    pub fn effective_server_alive_interval(&self) -> Duration {
        match (self.server_alive_interval, self.batch_mode) {
            (Some(d), _) => d,
            (None, Some(true)) => Duration::from_secs(300),
            (None, _) => Duration::ZERO,
        }
    }

    /// The remote user: `User`, else the local user.
    #[must_use]
    pub fn effective_user(&self, local_user: &str) -> String {
        self.user.clone().unwrap_or_else(|| local_user.to_owned())
    }

    /// The values tokens expand to for a connection described by `ctx` with these options.
    pub fn token_context(
        &self,
        ctx: &MatchContext<'_>,
    ) -> Result<TokenContext, tokens::TokenError> {
        Ok(TokenContext {
            local_host: Some(ctx.local_host.clone()),
            remote_host: Some(self.effective_hostname(&ctx.host)?),
            original_host: Some(ctx.original_host.clone()),
            port: Some(self.effective_port()),
            remote_user: Some(self.effective_user(&ctx.local_user)),
            local_user: Some(ctx.local_user.clone()),
            home_dir: Some(ctx.home_dir.clone()),
            uid: Some(ctx.uid),
            host_key_alias: self.host_key_alias.clone(),
        })
    }
}

/// Parses client configuration `text` (named `name` in errors and logs) for the connection
/// described by `ctx`, following `Include`s through `files`. One pass; see
/// [`resolve_client`] for the final pass `Match final` asks for.
pub fn parse_client(
    text: &str,
    name: &str,
    files: &dyn FileSource,
    ctx: &mut MatchContext<'_>,
) -> Result<ClientConfig, Error> {
    let mut config = ClientConfig::default();
    parse_client_into(&mut config, text, name, files, ctx)?;
    Ok(config)
}

/// Like [`parse_client`], onto options already set (by earlier files or an earlier pass):
/// values already present win, as when OpenSSH reads `~/.ssh/config` and then
/// `/etc/ssh/ssh_config`.
pub fn parse_client_into(
    config: &mut ClientConfig,
    text: &str,
    name: &str,
    files: &dyn FileSource,
    ctx: &mut MatchContext<'_>,
) -> Result<(), Error> {
    if config.user.is_none() {
        config.user.clone_from(&ctx.user);
    }
    if config.port.is_none() {
        config.port = ctx.port;
    }
    let mut handler = ClientHandler { config, ctx };
    let mut active = true;
    engine::run(&mut handler, files, text, name, &mut active)
}

/// Parses `text` as `ssh` does: a first pass, then, if a `Match final` line was seen, a
/// second pass with [`MatchContext::final_pass`] set and `Hostname` fixed to the host found
/// by the first pass (no DNS canonicalization is done here: that is the caller's I/O).
pub fn resolve_client(
    text: &str,
    name: &str,
    files: &dyn FileSource,
    ctx: &mut MatchContext<'_>,
) -> Result<ClientConfig, Error> {
    let mut config = parse_client(text, name, files, ctx)?;
    if config.final_pass_requested {
        let host = config
            .effective_hostname(&ctx.host)
            .map_err(|e| Error::new(crate::error::Location::new(name, 0), ErrorKind::Token(e)))?;
        config.hostname = Some(host);
        let was = ctx.final_pass;
        ctx.final_pass = true;
        let r = parse_client_into(&mut config, text, name, files, ctx);
        ctx.final_pass = was;
        r?;
    }
    Ok(config)
}

struct ClientHandler<'c, 'm, 'a> {
    config: &'c mut ClientConfig,
    ctx: &'m mut MatchContext<'a>,
}

impl Handler for ClientHandler<'_, '_, '_> {
    type State = bool;

    fn is_active(&self, state: bool) -> bool {
        state
    }

    fn directive(
        &mut self,
        d: &Directive<'_>,
        active: &mut bool,
        never: bool,
    ) -> Result<(), Error> {
        match d.line.keyword.as_str() {
            "host" => {
                *active = self.host_line(d, never)?;
                Ok(())
            }
            "match" => {
                let r = self.match_line(d)?;
                *active = r && !never;
                Ok(())
            }
            _ => self.option(d, *active),
        }
    }
}

/// Adds `item` to `list` unless it is already there.
fn push_unique<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        list.push(item);
    }
}

impl ClientHandler<'_, '_, '_> {
    /// `Host pattern...`: active if some pattern matches the host and no negated one does.
    fn host_line(&self, d: &Directive<'_>, never: bool) -> Result<bool, Error> {
        let patterns = d.all_nonempty()?;
        if never {
            return Ok(false);
        }
        let mut active = false;
        for p in patterns {
            let (negated, p) = match p.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, p.as_str()),
            };
            if match_pattern(&self.ctx.host, p) {
                if negated {
                    tracing::debug!(
                        file = %d.loc.file, line = d.loc.line,
                        "skipping Host block because of negated match for {p}"
                    );
                    return Ok(false);
                }
                active = true;
            }
        }
        Ok(active)
    }

    /// `Match criteria...`, evaluated as OpenSSH 9.2's `match_cfg_line`.
    fn match_line(&mut self, d: &Directive<'_>) -> Result<bool, Error> {
        let bad = |m: String| d.err(ErrorKind::BadMatch(m));
        let cfg = &*self.config;
        let host = if self.ctx.canonical || self.ctx.final_pass {
            cfg.hostname
                .clone()
                .unwrap_or_else(|| self.ctx.host.clone())
        } else {
            match &cfg.hostname {
                Some(h) => tokens::expand_only(
                    h,
                    &TokenContext {
                        remote_host: Some(self.ctx.host.clone()),
                        ..TokenContext::default()
                    },
                    "h",
                )
                .map_err(|e| d.err(ErrorKind::Token(e)))?,
                None => self.ctx.host.clone(),
            }
        };
        let ruser = cfg.effective_user(&self.ctx.local_user);
        let port = cfg.effective_port();
        let mut result = true;
        let mut attributes = 0usize;
        let mut args = d.args.iter().peekable();
        while let Some(attr) = args.next() {
            if attr.starts_with('#') {
                break;
            }
            if attr.is_empty() {
                return Err(bad("empty attribute".into()));
            }
            let (negate, name) = match attr.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, attr.as_str()),
            };
            let name = name.to_ascii_lowercase();
            if name == "all" {
                let more = args
                    .peek()
                    .is_some_and(|a| !a.is_empty() && !a.starts_with('#'));
                if attributes > 1 || more {
                    return Err(bad(format!(
                        "'{attr}' cannot be combined with other Match attributes"
                    )));
                }
                if result {
                    result = !negate;
                }
                return Ok(result);
            }
            attributes += 1;
            if name == "canonical" || name == "final" {
                if name == "final" {
                    self.config.final_pass_requested = true;
                }
                let r = self.ctx.canonical || self.ctx.final_pass;
                if r == negate {
                    result = false;
                }
                continue;
            }
            let arg = match args.next() {
                Some(a) if !a.is_empty() && !a.starts_with('#') => a,
                _ => return Err(bad(format!("missing Match criteria for {attr}"))),
            };
            let r = match name.as_str() {
                "host" => match_hostname(&host, arg).is_match(),
                "originalhost" => match_hostname(&self.ctx.original_host, arg).is_match(),
                "user" => match_list(&ruser, arg, false).is_match(),
                "localuser" => match_list(&self.ctx.local_user, arg, false).is_match(),
                "exec" => {
                    let tc = TokenContext {
                        local_host: Some(self.ctx.local_host.clone()),
                        remote_host: Some(host.clone()),
                        original_host: Some(self.ctx.original_host.clone()),
                        port: Some(port),
                        remote_user: Some(ruser.clone()),
                        local_user: Some(self.ctx.local_user.clone()),
                        home_dir: Some(self.ctx.home_dir.clone()),
                        uid: Some(self.ctx.uid),
                        host_key_alias: self.config.host_key_alias.clone(),
                    };
                    let cmd = tokens::expand_only(arg, &tc, "CLdhklnpru")
                        .map_err(|e| d.err(ErrorKind::Token(e)))?;
                    if !result {
                        // A previous criterion failed: OpenSSH skips the command.
                        continue;
                    }
                    match self.ctx.exec.as_mut() {
                        Some(run) => run(&cmd),
                        None => {
                            tracing::debug!(
                                file = %d.loc.file, line = d.loc.line, %cmd,
                                "Match exec without a command runner: not matched"
                            );
                            false
                        }
                    }
                }
                other => return Err(bad(format!("unsupported Match attribute {other}"))),
            };
            if r == negate {
                result = false;
            }
        }
        if attributes == 0 {
            return Err(bad("one or more attributes required for Match".into()));
        }
        Ok(result)
    }

    fn option(&mut self, d: &Directive<'_>, active: bool) -> Result<(), Error> {
        let c = &mut *self.config;
        match d.line.keyword.as_str() {
            "addressfamily" => {
                let v = choice(
                    d,
                    &[
                        ("any", AddressFamily::Any),
                        ("inet", AddressFamily::Inet),
                        ("inet6", AddressFamily::Inet6),
                    ],
                )?;
                first(&mut c.address_family, active, v);
            }
            "batchmode" => first(&mut c.batch_mode, active, choice(d, CLIENT_FLAG)?),
            "bindaddress" => first(&mut c.bind_address, active, values::string(d)?),
            "bindinterface" => first(&mut c.bind_interface, active, values::string(d)?),
            "canonicaldomains" => {
                let v = d.all_nonempty()?.to_vec();
                first(&mut c.canonical_domains, active, v);
            }
            "canonicalizefallbacklocal" => {
                first(
                    &mut c.canonicalize_fallback_local,
                    active,
                    choice(d, CLIENT_FLAG)?,
                );
            }
            "canonicalizehostname" => {
                let v = choice(
                    d,
                    &[
                        ("yes", CanonicalizeHostname::Yes),
                        ("true", CanonicalizeHostname::Yes),
                        ("no", CanonicalizeHostname::No),
                        ("false", CanonicalizeHostname::No),
                        ("always", CanonicalizeHostname::Always),
                    ],
                )?;
                first(&mut c.canonicalize_hostname, active, v);
            }
            "canonicalizemaxdots" => first(&mut c.canonicalize_max_dots, active, values::int(d)?),
            "canonicalizepermittedcnames" => {
                let v = d.all_nonempty()?.to_vec();
                for rule in &v {
                    if rule != "none" && !rule.contains(':') {
                        return Err(d.bad(rule, "expected source_domains:target_domains"));
                    }
                }
                first(&mut c.canonicalize_permitted_cnames, active, v);
            }
            "casignaturealgorithms" => {
                first(
                    &mut c.ca_signature_algorithms,
                    active,
                    values::algorithms(d)?,
                );
            }
            "certificatefile" => {
                let v = values::string(d)?;
                if active {
                    if c.certificate_files.len() >= MAX_IDENTITY_FILES {
                        return Err(d.bad(&v, "too many certificate files"));
                    }
                    push_unique(&mut c.certificate_files, v);
                }
            }
            "checkhostip" => first(&mut c.check_host_ip, active, choice(d, CLIENT_FLAG)?),
            "ciphers" => first(&mut c.ciphers, active, values::algorithms(d)?),
            "compression" => {
                first(
                    &mut c.compression,
                    active,
                    choice(d, &[("yes", true), ("no", false)])?,
                );
            }
            "connectionattempts" => first(&mut c.connection_attempts, active, values::int(d)?),
            "connecttimeout" => first(&mut c.connect_timeout, active, values::time(d)?),
            "dynamicforward" | "localforward" | "remoteforward" => {
                let (kind, list) = match d.line.keyword.as_str() {
                    "dynamicforward" => (ForwardKind::Dynamic, &mut c.dynamic_forwards),
                    "localforward" => (ForwardKind::Local, &mut c.local_forwards),
                    _ => (ForwardKind::Remote, &mut c.remote_forwards),
                };
                let a = d.first()?;
                let spec = match (kind, d.args.get(1)) {
                    (ForwardKind::Dynamic, _) => {
                        d.no_more(1)?;
                        a.to_owned()
                    }
                    (ForwardKind::Local, None) => {
                        return Err(d.bad(a, "missing target argument"));
                    }
                    (_, Some(b)) if !b.is_empty() => {
                        d.no_more(2)?;
                        format!("{a}:{b}")
                    }
                    (ForwardKind::Local, Some(_)) => {
                        return Err(d.bad(a, "missing target argument"));
                    }
                    (_, _) => {
                        d.no_more(2)?;
                        a.to_owned()
                    }
                };
                let f = Forward::parse(&spec, kind).map_err(|e| d.bad(&spec, e.to_string()))?;
                // Two arguments always name a target: `RemoteForward 127.0.0.1 8080` is not a
                // remote dynamic forward (OpenSSH rejects it).
                if f.is_dynamic() && d.args.get(1).is_some_and(|b| !b.is_empty()) {
                    return Err(d.bad(&spec, "bad forwarding specification"));
                }
                if active {
                    push_unique(list, f);
                }
            }
            "exitonforwardfailure" => {
                first(
                    &mut c.exit_on_forward_failure,
                    active,
                    choice(d, CLIENT_FLAG)?,
                );
            }
            "forwardagent" => {
                let arg = d.one()?;
                let v = match CLIENT_FLAG
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(arg))
                {
                    Some((_, true)) => ForwardAgent::Yes,
                    Some((_, false)) => ForwardAgent::No,
                    None => {
                        check_agent_path(d, arg)?;
                        ForwardAgent::Socket(arg.to_owned())
                    }
                };
                first(&mut c.forward_agent, active, v);
            }
            "forwardx11" => first(&mut c.forward_x11, active, choice(d, CLIENT_FLAG)?),
            "forwardx11timeout" => first(&mut c.forward_x11_timeout, active, values::time(d)?),
            "forwardx11trusted" => {
                first(&mut c.forward_x11_trusted, active, choice(d, CLIENT_FLAG)?);
            }
            "xauthlocation" => first(&mut c.xauth_location, active, values::string(d)?),
            "globalknownhostsfile" | "userknownhostsfile" => {
                let v = d.all_nonempty()?.to_vec();
                if v.len() > MAX_KNOWN_HOSTS_FILES {
                    return Err(d.bad(&d.line.keyword, "too many known hosts files"));
                }
                let slot = if d.line.keyword == "globalknownhostsfile" {
                    &mut c.global_known_hosts_files
                } else {
                    &mut c.user_known_hosts_files
                };
                first(slot, active, v);
            }
            "hashknownhosts" => first(&mut c.hash_known_hosts, active, choice(d, CLIENT_FLAG)?),
            "hostbasedacceptedalgorithms" | "hostbasedkeytypes" => {
                first(
                    &mut c.hostbased_accepted_algorithms,
                    active,
                    values::algorithms(d)?,
                );
            }
            "hostkeyalgorithms" => {
                first(&mut c.host_key_algorithms, active, values::algorithms(d)?);
            }
            "hostkeyalias" => first(&mut c.host_key_alias, active, values::string(d)?),
            "hostname" => {
                let v = values::string(d)?;
                tokens::expand_only(&v, &dummy_tokens(), "h")
                    .map_err(|e| d.bad(&v, e.to_string()))?;
                first(&mut c.hostname, active, v);
            }
            "identitiesonly" => first(&mut c.identities_only, active, choice(d, CLIENT_FLAG)?),
            "identityagent" => {
                let v = values::string(d)?;
                check_agent_path(d, &v)?;
                first(&mut c.identity_agent, active, v);
            }
            "identityfile" => {
                let v = values::string(d)?;
                if active {
                    if c.identity_files.len() >= MAX_IDENTITY_FILES {
                        return Err(d.bad(&v, "too many identity files specified"));
                    }
                    push_unique(&mut c.identity_files, v);
                }
            }
            "kbdinteractiveauthentication" | "challengeresponseauthentication" => {
                first(
                    &mut c.kbd_interactive_authentication,
                    active,
                    choice(d, CLIENT_FLAG)?,
                );
            }
            "kexalgorithms" => first(&mut c.kex_algorithms, active, values::algorithms(d)?),
            "loglevel" => first(&mut c.log_level, active, choice(d, LOG_LEVELS)?),
            "macs" => first(&mut c.macs, active, values::algorithms(d)?),
            "numberofpasswordprompts" => {
                first(&mut c.number_of_password_prompts, active, values::int(d)?);
            }
            "passwordauthentication" => {
                first(
                    &mut c.password_authentication,
                    active,
                    choice(d, CLIENT_FLAG)?,
                );
            }
            "port" => first(&mut c.port, active, values::port(d)?),
            "preferredauthentications" => {
                let arg = d.one()?;
                let v: Vec<String> = arg.split(',').map(str::to_owned).collect();
                if v.iter().any(String::is_empty) {
                    return Err(d.bad(arg, "empty method name"));
                }
                first(&mut c.preferred_authentications, active, v);
            }
            "proxycommand" => {
                let v = d.raw().to_owned();
                if active && c.proxy_jump.is_none() {
                    first(&mut c.proxy_command, true, v);
                }
            }
            "proxyjump" => {
                let raw = d.raw();
                let v = parse_jump(raw).ok_or_else(|| d.bad(raw, "invalid ProxyJump"))?;
                if active && c.proxy_command.is_none() {
                    first(&mut c.proxy_jump, true, v);
                }
            }
            "pubkeyacceptedalgorithms" | "pubkeyacceptedkeytypes" => {
                first(
                    &mut c.pubkey_accepted_algorithms,
                    active,
                    values::algorithms(d)?,
                );
            }
            "pubkeyauthentication" => {
                let v = choice(
                    d,
                    &[
                        ("yes", PubkeyAuthentication::Yes),
                        ("true", PubkeyAuthentication::Yes),
                        ("no", PubkeyAuthentication::No),
                        ("false", PubkeyAuthentication::No),
                        ("unbound", PubkeyAuthentication::Unbound),
                        ("host-bound", PubkeyAuthentication::HostBound),
                    ],
                )?;
                first(&mut c.pubkey_authentication, active, v);
            }
            "rekeylimit" => {
                let (bytes, interval) = values::rekey_limit(d)?;
                first(&mut c.rekey_limit, active, bytes);
                if let Some(i) = interval {
                    first(&mut c.rekey_interval, active, i);
                }
            }
            "remotecommand" => first(&mut c.remote_command, active, d.raw().to_owned()),
            "requesttty" => {
                let v = choice(
                    d,
                    &[
                        ("yes", RequestTty::Yes),
                        ("true", RequestTty::Yes),
                        ("no", RequestTty::No),
                        ("false", RequestTty::No),
                        ("force", RequestTty::Force),
                        ("auto", RequestTty::Auto),
                    ],
                )?;
                first(&mut c.request_tty, active, v);
            }
            "sendenv" => {
                for arg in d.all_nonempty()? {
                    if arg.contains('=') {
                        return Err(d.bad(arg, "invalid environment name"));
                    }
                    if !active {
                        continue;
                    }
                    if let Some(pat) = arg.strip_prefix('-') {
                        c.send_env.retain(|e| !match_pattern(e, pat));
                    } else {
                        c.send_env.push(arg.clone());
                    }
                }
            }
            "serveralivecountmax" => first(&mut c.server_alive_count_max, active, values::int(d)?),
            "serveraliveinterval" => first(&mut c.server_alive_interval, active, values::time(d)?),
            "setenv" => {
                let mut pairs: Vec<(String, String)> = Vec::new();
                for arg in d.all_nonempty()? {
                    let Some((k, v)) = arg.split_once('=') else {
                        return Err(d.bad(arg, "invalid SetEnv (expected NAME=value)"));
                    };
                    if !pairs.iter().any(|(pk, _)| pk == k) {
                        pairs.push((k.to_owned(), v.to_owned()));
                    }
                }
                first(&mut c.set_env, active, pairs);
            }
            "stricthostkeychecking" => {
                let v = choice(
                    d,
                    &[
                        ("yes", StrictHostKeyChecking::Yes),
                        ("true", StrictHostKeyChecking::Yes),
                        ("no", StrictHostKeyChecking::No),
                        ("false", StrictHostKeyChecking::No),
                        ("off", StrictHostKeyChecking::No),
                        ("ask", StrictHostKeyChecking::Ask),
                        ("accept-new", StrictHostKeyChecking::AcceptNew),
                    ],
                )?;
                first(&mut c.strict_host_key_checking, active, v);
            }
            "tcpkeepalive" => first(&mut c.tcp_keep_alive, active, choice(d, CLIENT_FLAG)?),
            "user" => first(&mut c.user, active, values::string(d)?),
            other => {
                tracing::debug!(
                    file = %d.loc.file, line = d.loc.line, keyword = other,
                    "ignoring unsupported client option"
                );
            }
        }
        Ok(())
    }
}

/// A context with every value, to validate tokens without expanding them for real.
fn dummy_tokens() -> TokenContext {
    TokenContext {
        remote_host: Some(String::new()),
        ..TokenContext::default()
    }
}

/// `IdentityAgent`/`ForwardAgent` path: a `$NAME` must be a valid variable name.
fn check_agent_path(d: &Directive<'_>, arg: &str) -> Result<(), Error> {
    if let Some(name) = arg.strip_prefix('$') {
        let name = name
            .strip_prefix('{')
            .and_then(|n| n.strip_suffix('}'))
            .unwrap_or(name);
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(d.bad(arg, "invalid environment variable name"));
        }
    }
    Ok(())
}
