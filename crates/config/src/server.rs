//! The server configuration (`sshd_config(5)`): [`ServerConfig`] and [`parse_server`].
//!
//! Semantics follow OpenSSH 9.2's `servconf.c`: keywords are case-insensitive; the first
//! value wins for most options, while `Port`, `ListenAddress`, `HostKey`,
//! `HostCertificate`, `Subsystem`, `AcceptEnv`, `AllowUsers` and `DenyUsers` accumulate. A
//! `Match` block lasts until the next `Match` (or the end of the file); only some options
//! may appear in one. For a connection ([`ServerMatchContext`]) the options of the matching
//! blocks (first value wins among them) override the global ones, as `sshd` does.

use core::fmt;
use std::time::Duration;

use crate::algorithms::AlgorithmList;
use crate::client::{LOG_LEVELS, LogLevel};
use crate::engine::{self, Directive, Handler};
use crate::error::{Error, ErrorKind};
use crate::forward::parse_port;
use crate::pattern::{ListMatch, match_address_list, match_hostname, match_list};
use crate::source::FileSource;
use crate::values::{self, SERVER_FLAG, choice, first};

/// The connection a server configuration is evaluated for (`sshd -C`); absent fields make
/// the criteria that need them false.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerMatchContext {
    /// The user name (`Match User`).
    pub user: Option<String>,
    /// The user's groups (`Match Group`).
    pub groups: Vec<String>,
    /// The client's host name (`Match Host`).
    pub host: Option<String>,
    /// The client's address (`Match Address`).
    pub address: Option<String>,
    /// The local address the connection arrived on (`Match LocalAddress`).
    pub local_address: Option<String>,
    /// The local port (`Match LocalPort`).
    pub local_port: Option<u16>,
    /// The routing domain (`Match RDomain`).
    pub rdomain: Option<String>,
}

impl ServerMatchContext {
    /// Parses an `sshd -C` connection specification: comma-separated `key=value` pairs with
    /// keys `user`, `host`, `addr`, `laddr`, `lport` and `rdomain`.
    pub fn from_spec(spec: &str) -> Result<Self, String> {
        let mut c = Self::default();
        for kv in spec.split(',').filter(|kv| !kv.is_empty()) {
            let Some((k, v)) = kv.split_once('=') else {
                return Err(format!("expected key=value, got {kv:?}"));
            };
            match k {
                "user" => c.user = Some(v.to_owned()),
                "host" => c.host = Some(v.to_owned()),
                "addr" => c.address = Some(v.to_owned()),
                "laddr" => c.local_address = Some(v.to_owned()),
                "lport" => {
                    c.local_port = Some(
                        parse_port(v)
                            .filter(|&p| p > 0)
                            .ok_or_else(|| format!("invalid lport {v:?}"))?,
                    );
                }
                "rdomain" => c.rdomain = Some(v.to_owned()),
                other => return Err(format!("unknown connection spec key {other:?}")),
            }
        }
        Ok(c)
    }
}

/// `AllowTcpForwarding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AllowTcpForwarding {
    /// `yes` / `all`.
    Yes,
    /// `no`.
    No,
    /// `local`: only local (`-L`) forwarding.
    Local,
    /// `remote`: only remote (`-R`) forwarding.
    Remote,
}

/// `IgnoreRhosts`: which of `~/.rhosts` and `~/.shosts` `hostbased` authentication reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IgnoreRhosts {
    /// `yes` (the default): neither.
    Yes,
    /// `no`: both.
    No,
    /// `shosts-only`: `~/.shosts` only.
    ShostsOnly,
}

/// `PermitRootLogin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PermitRootLogin {
    /// `yes`.
    Yes,
    /// `prohibit-password` / `without-password`.
    ProhibitPassword,
    /// `forced-commands-only`.
    ForcedCommandsOnly,
    /// `no`.
    No,
}

/// A `ListenAddress`: `host|addr[:port]`, `[addr]:port`, optionally `rdomain name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListenAddress {
    /// The host or address.
    pub host: String,
    /// The port; `None` means every `Port` (22 if there is none).
    pub port: Option<u16>,
    /// The routing domain, if given.
    pub rdomain: Option<String>,
}

/// `MaxStartups start:rate:full` (a single number `n` is `n:30:n`, as `sshd` fills it in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MaxStartups {
    /// Unauthenticated connections before random early drop begins.
    pub start: u32,
    /// Drop probability (percent) at `start`.
    pub rate: u32,
    /// Connections at which every new one is refused.
    pub full: u32,
}

impl fmt::Display for MaxStartups {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.start, self.rate, self.full)
    }
}

/// `AuthenticationMethods`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AuthenticationMethods {
    /// `any`: a single successful method suffices.
    Any,
    /// Each list is a sequence of methods (`publickey,password`, `keyboard-interactive:pam`)
    /// that must all succeed; any one list suffices.
    Lists(Vec<Vec<String>>),
}

/// A `Subsystem`: a name and its command line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subsystem {
    /// The subsystem name, e.g. `sftp`.
    pub name: String,
    /// The command and its arguments, space-separated (`internal-sftp` is built in).
    pub command: String,
}

/// The server options whelk knows, each `None`/empty until a line sets it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// `AcceptEnv` patterns (accumulated).
    pub accept_env: Vec<String>,
    /// `AllowAgentForwarding`.
    pub allow_agent_forwarding: Option<bool>,
    /// `AllowTcpForwarding`.
    pub allow_tcp_forwarding: Option<AllowTcpForwarding>,
    /// `AllowUsers` patterns (accumulated).
    pub allow_users: Vec<String>,
    /// `AuthenticationMethods`.
    pub authentication_methods: Option<AuthenticationMethods>,
    /// `AuthorizedKeysFile` (tokens unexpanded; `none` kept as is).
    pub authorized_keys_files: Option<Vec<String>>,
    /// `Banner` (`none` kept as is).
    pub banner: Option<String>,
    /// `CASignatureAlgorithms`.
    pub ca_signature_algorithms: Option<AlgorithmList>,
    /// `ChrootDirectory`.
    pub chroot_directory: Option<String>,
    /// `Ciphers`.
    pub ciphers: Option<AlgorithmList>,
    /// `ClientAliveCountMax`.
    pub client_alive_count_max: Option<u32>,
    /// `ClientAliveInterval`.
    pub client_alive_interval: Option<Duration>,
    /// `DenyUsers` patterns (accumulated).
    pub deny_users: Vec<String>,
    /// `ForceCommand` (the rest of the line, verbatim).
    pub force_command: Option<String>,
    /// `HostCertificate` (accumulated).
    pub host_certificates: Vec<String>,
    /// `HostKey` (accumulated).
    pub host_keys: Vec<String>,
    /// `HostKeyAlgorithms`.
    pub host_key_algorithms: Option<AlgorithmList>,
    /// `HostbasedAcceptedAlgorithms` (alias `HostbasedAcceptedKeyTypes`).
    pub hostbased_accepted_algorithms: Option<AlgorithmList>,
    /// `HostbasedAuthentication`.
    pub hostbased_authentication: Option<bool>,
    /// `HostbasedUsesNameFromPacketOnly`.
    pub hostbased_uses_name_from_packet_only: Option<bool>,
    /// `IgnoreRhosts`.
    pub ignore_rhosts: Option<IgnoreRhosts>,
    /// `IgnoreUserKnownHosts`.
    pub ignore_user_known_hosts: Option<bool>,
    /// `KbdInteractiveAuthentication` (alias `ChallengeResponseAuthentication`).
    pub kbd_interactive_authentication: Option<bool>,
    /// `KexAlgorithms`.
    pub kex_algorithms: Option<AlgorithmList>,
    /// `ListenAddress` (accumulated).
    pub listen_addresses: Vec<ListenAddress>,
    /// `LoginGraceTime`.
    pub login_grace_time: Option<Duration>,
    /// `LogLevel`.
    pub log_level: Option<LogLevel>,
    /// `MACs`.
    pub macs: Option<AlgorithmList>,
    /// `MaxAuthTries`.
    pub max_auth_tries: Option<u32>,
    /// `MaxSessions`.
    pub max_sessions: Option<u32>,
    /// `MaxStartups`.
    pub max_startups: Option<MaxStartups>,
    /// `PasswordAuthentication`.
    pub password_authentication: Option<bool>,
    /// `PermitEmptyPasswords`.
    pub permit_empty_passwords: Option<bool>,
    /// `PermitOpen` (`any`, `none`, or `host:port` entries with `*` wildcards).
    pub permit_open: Option<Vec<String>>,
    /// `PermitRootLogin`.
    pub permit_root_login: Option<PermitRootLogin>,
    /// `PermitTTY`.
    pub permit_tty: Option<bool>,
    /// `Port` (accumulated).
    pub ports: Vec<u16>,
    /// `StrictModes`.
    pub strict_modes: Option<bool>,
    /// `PubkeyAcceptedAlgorithms` (alias `PubkeyAcceptedKeyTypes`).
    pub pubkey_accepted_algorithms: Option<AlgorithmList>,
    /// `PubkeyAuthentication`.
    pub pubkey_authentication: Option<bool>,
    /// `RekeyLimit`, first argument, in bytes (0 for `default`).
    pub rekey_limit: Option<u64>,
    /// `RekeyLimit`, second argument (absent or `none`: not set).
    pub rekey_interval: Option<Duration>,
    /// `Subsystem` (accumulated; names are unique).
    pub subsystems: Vec<Subsystem>,
    /// `TrustedUserCAKeys`.
    pub trusted_user_ca_keys: Option<String>,
    /// `X11Forwarding`.
    pub x11_forwarding: Option<bool>,
}

impl ServerConfig {
    /// The ports to listen on: `Port` values, or 22.
    #[must_use]
    pub fn effective_ports(&self) -> Vec<u16> {
        if self.ports.is_empty() {
            vec![22]
        } else {
            self.ports.clone()
        }
    }

    /// Every (address, port) pair to listen on, as `sshd -T` lists them: each
    /// `ListenAddress` with its own port or with every [`ServerConfig::effective_ports`];
    /// `::` and `0.0.0.0` (in the order `sshd -T` lists them) when there is no
    /// `ListenAddress`.
    #[must_use]
    pub fn listen_pairs(&self) -> Vec<(String, u16)> {
        let ports = self.effective_ports();
        let mut out = Vec::new();
        let default = [
            ListenAddress {
                host: "::".into(),
                port: None,
                rdomain: None,
            },
            ListenAddress {
                host: "0.0.0.0".into(),
                port: None,
                rdomain: None,
            },
        ];
        let list: &[ListenAddress] = if self.listen_addresses.is_empty() {
            &default
        } else {
            &self.listen_addresses
        };
        for la in list {
            match la.port {
                Some(p) => out.push((la.host.clone(), p)),
                None => out.extend(ports.iter().map(|&p| (la.host.clone(), p))),
            }
        }
        out
    }

    /// `self` with every option that `overlay` sets replaced by `overlay`'s value (lists
    /// replaced when non-empty), as `sshd` copies `Match` options over the global ones.
    #[must_use]
    pub fn overlaid_with(mut self, overlay: Self) -> Self {
        macro_rules! opt {
            ($($f:ident),* $(,)?) => { $( if overlay.$f.is_some() { self.$f = overlay.$f; } )* };
        }
        macro_rules! list {
            ($($f:ident),* $(,)?) => { $( if !overlay.$f.is_empty() { self.$f = overlay.$f; } )* };
        }
        opt!(
            allow_agent_forwarding,
            allow_tcp_forwarding,
            authentication_methods,
            authorized_keys_files,
            banner,
            ca_signature_algorithms,
            chroot_directory,
            ciphers,
            client_alive_count_max,
            client_alive_interval,
            force_command,
            host_key_algorithms,
            hostbased_accepted_algorithms,
            hostbased_authentication,
            hostbased_uses_name_from_packet_only,
            ignore_rhosts,
            ignore_user_known_hosts,
            kbd_interactive_authentication,
            kex_algorithms,
            login_grace_time,
            log_level,
            macs,
            max_auth_tries,
            max_sessions,
            max_startups,
            password_authentication,
            permit_empty_passwords,
            permit_open,
            permit_root_login,
            permit_tty,
            pubkey_accepted_algorithms,
            pubkey_authentication,
            rekey_limit,
            rekey_interval,
            strict_modes,
            trusted_user_ca_keys,
            x11_forwarding,
        );
        list!(
            accept_env,
            allow_users,
            deny_users,
            host_certificates,
            host_keys,
            listen_addresses,
            ports,
            subsystems,
        );
        self
    }
}

/// Parses server configuration `text` (named `name` in errors and logs), following
/// `Include`s through `files`. With `conn`, the `Match` blocks that match it override the
/// global options; without, only the global options are returned (every `Match` block is
/// still checked).
pub fn parse_server(
    text: &str,
    name: &str,
    files: &dyn FileSource,
    conn: Option<&ServerMatchContext>,
) -> Result<ServerConfig, Error> {
    let mut handler = ServerHandler {
        global: ServerConfig::default(),
        matched: ServerConfig::default(),
        conn,
    };
    let mut state = ServerState {
        in_match: false,
        global: true,
        conn: false,
    };
    engine::run(&mut handler, files, text, name, &mut state)?;
    Ok(handler.global.overlaid_with(handler.matched))
}

#[derive(Debug, Clone, Copy)]
struct ServerState {
    /// Inside a `Match` block.
    in_match: bool,
    /// Lines apply to the global options (outside `Match`, or in `Match all`).
    global: bool,
    /// Lines apply to the connection's options (in a `Match` block that matches it).
    conn: bool,
}

struct ServerHandler<'a> {
    global: ServerConfig,
    matched: ServerConfig,
    conn: Option<&'a ServerMatchContext>,
}

impl Handler for ServerHandler<'_> {
    type State = ServerState;

    fn is_active(&self, s: ServerState) -> bool {
        s.global || s.conn
    }

    fn directive(
        &mut self,
        d: &Directive<'_>,
        state: &mut ServerState,
        never: bool,
    ) -> Result<(), Error> {
        if d.line.keyword == "match" {
            let (all, conn) = self.match_line(d)?;
            *state = ServerState {
                in_match: true,
                global: all && !never,
                conn: conn && !never,
            };
            return Ok(());
        }
        let Some(allowed_in_match) = match_allowed(&d.line.keyword) else {
            tracing::debug!(
                file = %d.loc.file, line = d.loc.line, keyword = %d.line.keyword,
                "ignoring unsupported server option"
            );
            return Ok(());
        };
        if state.in_match && !allowed_in_match {
            return Err(d.err(ErrorKind::NotAllowedInMatch {
                keyword: d.line.original.to_owned(),
            }));
        }
        // Parse (and validate) once, apply to each target.
        option(d, &mut self.global, state.global)?;
        if state.in_match && state.conn {
            option(d, &mut self.matched, true)?;
        }
        Ok(())
    }
}

impl ServerHandler<'_> {
    /// Returns (matches with no connection, i.e. `Match all`; matches the connection).
    fn match_line(&self, d: &Directive<'_>) -> Result<(bool, bool), Error> {
        let bad = |m: String| d.err(ErrorKind::BadMatch(m));
        let mut result = true;
        let mut attributes = 0usize;
        let mut args = d.args.iter().peekable();
        while let Some(attr) = args.next() {
            if attr.starts_with('#') {
                break;
            }
            attributes += 1;
            let name = attr.to_ascii_lowercase();
            if name == "all" {
                let more = args
                    .peek()
                    .is_some_and(|a| !a.is_empty() && !a.starts_with('#'));
                if attributes != 1 || more {
                    return Err(bad(format!(
                        "'{attr}' cannot be combined with other Match attributes"
                    )));
                }
                return Ok((true, true));
            }
            let arg = match args.next() {
                Some(a) if !a.is_empty() => a,
                _ => return Err(bad(format!("missing Match criteria for {attr}"))),
            };
            let ci = self.conn;
            let ok = match name.as_str() {
                "user" => ci
                    .and_then(|c| c.user.as_deref())
                    .is_some_and(|u| match_list(u, arg, false).is_match()),
                "group" => ci.is_some_and(|c| {
                    c.user.is_some()
                        && c.groups
                            .iter()
                            .any(|g| match_list(g, arg, false).is_match())
                        && !c
                            .groups
                            .iter()
                            .any(|g| match_list(g, arg, false) == ListMatch::Negative)
                }),
                "host" => ci
                    .and_then(|c| c.host.as_deref())
                    .is_some_and(|h| match_hostname(h, arg).is_match()),
                "address" | "localaddress" => {
                    let addr = ci.and_then(|c| {
                        if name == "address" {
                            c.address.as_deref()
                        } else {
                            c.local_address.as_deref()
                        }
                    });
                    // Validate the list even when there is nothing to match it against.
                    let m = match_address_list(addr.unwrap_or(""), arg).map_err(|e| bad(e.0))?;
                    addr.is_some() && m.is_match()
                }
                "localport" => {
                    let Some(p) = parse_port(arg) else {
                        return Err(bad(format!("invalid LocalPort '{arg}' on Match line")));
                    };
                    ci.and_then(|c| c.local_port) == Some(p)
                }
                "rdomain" => ci
                    .and_then(|c| c.rdomain.as_deref())
                    .is_some_and(|r| match_list(r, arg, false).is_match()),
                other => return Err(bad(format!("unsupported Match attribute {other}"))),
            };
            if !ok {
                result = false;
            }
        }
        if attributes == 0 {
            return Err(bad("one or more attributes required for Match".into()));
        }
        Ok((false, result && self.conn.is_some()))
    }
}

/// Whether a known keyword may appear in a `Match` block; `None` for unknown keywords.
fn match_allowed(keyword: &str) -> Option<bool> {
    Some(match keyword {
        "acceptenv"
        | "allowagentforwarding"
        | "allowtcpforwarding"
        | "allowusers"
        | "authenticationmethods"
        | "authorizedkeysfile"
        | "banner"
        | "casignaturealgorithms"
        | "chrootdirectory"
        | "clientalivecountmax"
        | "clientaliveinterval"
        | "denyusers"
        | "forcecommand"
        | "hostbasedacceptedalgorithms"
        | "hostbasedacceptedkeytypes"
        | "hostbasedauthentication"
        | "hostbasedusesnamefrompacketonly"
        | "ignorerhosts"
        | "kbdinteractiveauthentication"
        | "challengeresponseauthentication"
        | "loglevel"
        | "maxauthtries"
        | "maxsessions"
        | "passwordauthentication"
        | "permitemptypasswords"
        | "permitopen"
        | "permitrootlogin"
        | "permittty"
        | "pubkeyacceptedalgorithms"
        | "pubkeyacceptedkeytypes"
        | "pubkeyauthentication"
        | "rekeylimit"
        | "trustedusercakeys"
        | "x11forwarding" => true,
        "ciphers"
        | "hostcertificate"
        | "hostkey"
        | "hostkeyalgorithms"
        | "kexalgorithms"
        | "listenaddress"
        | "logingracetime"
        | "macs"
        | "maxstartups"
        | "port"
        | "subsystem"
        | "ignoreuserknownhosts"
        | "strictmodes" => false,
        _ => return None,
    })
}

const AUTH_METHODS: &[&str] = &[
    "gssapi-with-mic",
    "publickey",
    "password",
    "keyboard-interactive",
    "hostbased",
];

fn option(d: &Directive<'_>, c: &mut ServerConfig, active: bool) -> Result<(), Error> {
    let flag = || choice(d, SERVER_FLAG);
    match d.line.keyword.as_str() {
        "acceptenv" | "allowusers" | "denyusers" => {
            let v = d.all_nonempty()?;
            if d.line.keyword == "acceptenv"
                && let Some(bad) = v.iter().find(|a| a.contains('='))
            {
                return Err(d.bad(bad, "invalid environment name"));
            }
            if active {
                let list = match d.line.keyword.as_str() {
                    "acceptenv" => &mut c.accept_env,
                    "allowusers" => &mut c.allow_users,
                    _ => &mut c.deny_users,
                };
                list.extend(v.iter().cloned());
            }
        }
        "allowagentforwarding" => first(&mut c.allow_agent_forwarding, active, flag()?),
        "allowtcpforwarding" => {
            let v = choice(
                d,
                &[
                    ("yes", AllowTcpForwarding::Yes),
                    ("all", AllowTcpForwarding::Yes),
                    ("no", AllowTcpForwarding::No),
                    ("local", AllowTcpForwarding::Local),
                    ("remote", AllowTcpForwarding::Remote),
                ],
            )?;
            first(&mut c.allow_tcp_forwarding, active, v);
        }
        "authenticationmethods" => {
            let args = d.all_nonempty()?;
            let v = if args.first().is_some_and(|a| a == "any") {
                d.no_more(1)?;
                AuthenticationMethods::Any
            } else {
                let mut lists = Vec::new();
                for arg in args {
                    let methods: Vec<String> = arg.split(',').map(str::to_owned).collect();
                    for m in &methods {
                        let base = m.split_once(':').map_or(m.as_str(), |(b, _)| b);
                        if !AUTH_METHODS.contains(&base) {
                            return Err(d.bad(arg, format!("unknown authentication method {m:?}")));
                        }
                    }
                    lists.push(methods);
                }
                AuthenticationMethods::Lists(lists)
            };
            first(&mut c.authentication_methods, active, v);
        }
        "authorizedkeysfile" => {
            let v = d.all_nonempty()?.to_vec();
            first(&mut c.authorized_keys_files, active, v);
        }
        "banner" => first(&mut c.banner, active, values::string(d)?),
        "casignaturealgorithms" => {
            first(
                &mut c.ca_signature_algorithms,
                active,
                values::algorithms(d)?,
            );
        }
        "chrootdirectory" => first(&mut c.chroot_directory, active, values::string(d)?),
        "ciphers" => first(&mut c.ciphers, active, values::algorithms(d)?),
        "clientalivecountmax" => first(&mut c.client_alive_count_max, active, values::int(d)?),
        "clientaliveinterval" => first(&mut c.client_alive_interval, active, values::time(d)?),
        "forcecommand" => first(&mut c.force_command, active, d.raw().to_owned()),
        "hostcertificate" | "hostkey" => {
            let v = values::string(d)?;
            if active {
                if d.line.keyword == "hostkey" {
                    c.host_keys.push(v);
                } else {
                    c.host_certificates.push(v);
                }
            }
        }
        "hostkeyalgorithms" => first(&mut c.host_key_algorithms, active, values::algorithms(d)?),
        "hostbasedacceptedalgorithms" | "hostbasedacceptedkeytypes" => first(
            &mut c.hostbased_accepted_algorithms,
            active,
            values::algorithms(d)?,
        ),
        "hostbasedauthentication" => first(&mut c.hostbased_authentication, active, flag()?),
        "hostbasedusesnamefrompacketonly" => {
            first(&mut c.hostbased_uses_name_from_packet_only, active, flag()?)
        }
        "ignorerhosts" => {
            let v = choice(
                d,
                &[
                    ("yes", IgnoreRhosts::Yes),
                    ("no", IgnoreRhosts::No),
                    ("shosts-only", IgnoreRhosts::ShostsOnly),
                ],
            )?;
            first(&mut c.ignore_rhosts, active, v);
        }
        "ignoreuserknownhosts" => first(&mut c.ignore_user_known_hosts, active, flag()?),
        "kbdinteractiveauthentication" | "challengeresponseauthentication" => {
            first(&mut c.kbd_interactive_authentication, active, flag()?);
        }
        "kexalgorithms" => first(&mut c.kex_algorithms, active, values::algorithms(d)?),
        "listenaddress" => {
            let v = listen_address(d)?;
            if active {
                c.listen_addresses.push(v);
            }
        }
        "logingracetime" => first(&mut c.login_grace_time, active, values::time(d)?),
        "loglevel" => first(&mut c.log_level, active, choice(d, LOG_LEVELS)?),
        "macs" => first(&mut c.macs, active, values::algorithms(d)?),
        "maxauthtries" => first(&mut c.max_auth_tries, active, values::int(d)?),
        "maxsessions" => first(&mut c.max_sessions, active, values::int(d)?),
        "maxstartups" => {
            let arg = d.one()?;
            let nums: Vec<&str> = arg.split(':').collect();
            let v = match nums.as_slice() {
                [n] => {
                    let n = values::int_value(d, n)?;
                    MaxStartups {
                        start: n,
                        rate: 30,
                        full: n,
                    }
                }
                [s, r, f] => {
                    let (start, rate, full) = (
                        values::int_value(d, s)?,
                        values::int_value(d, r)?,
                        values::int_value(d, f)?,
                    );
                    if start > full || full < 1 || !(1..=100).contains(&rate) {
                        return Err(d.bad(arg, "illegal MaxStartups spec"));
                    }
                    MaxStartups { start, rate, full }
                }
                _ => return Err(d.bad(arg, "expected start:rate:full or a number")),
            };
            first(&mut c.max_startups, active, v);
        }
        "passwordauthentication" => first(&mut c.password_authentication, active, flag()?),
        "permitemptypasswords" => first(&mut c.permit_empty_passwords, active, flag()?),
        "permitopen" => {
            let v = d.all_nonempty()?.to_vec();
            for arg in &v {
                let single = v.len() == 1 && (arg == "any" || arg == "none");
                if !single && !valid_permit_open(arg) {
                    return Err(d.bad(arg, "expected host:port, any or none"));
                }
            }
            first(&mut c.permit_open, active, v);
        }
        "permitrootlogin" => {
            let v = choice(
                d,
                &[
                    ("without-password", PermitRootLogin::ProhibitPassword),
                    ("prohibit-password", PermitRootLogin::ProhibitPassword),
                    ("forced-commands-only", PermitRootLogin::ForcedCommandsOnly),
                    ("yes", PermitRootLogin::Yes),
                    ("no", PermitRootLogin::No),
                ],
            )?;
            first(&mut c.permit_root_login, active, v);
        }
        "permittty" => first(&mut c.permit_tty, active, flag()?),
        "port" => {
            let p = values::port(d)?;
            if active {
                c.ports.push(p);
            }
        }
        "pubkeyacceptedalgorithms" | "pubkeyacceptedkeytypes" => {
            first(
                &mut c.pubkey_accepted_algorithms,
                active,
                values::algorithms(d)?,
            );
        }
        "pubkeyauthentication" => first(&mut c.pubkey_authentication, active, flag()?),
        "rekeylimit" => {
            let (bytes, interval) = values::rekey_limit(d)?;
            first(&mut c.rekey_limit, active, bytes);
            if let Some(i) = interval {
                first(&mut c.rekey_interval, active, i);
            }
        }
        "strictmodes" => first(&mut c.strict_modes, active, flag()?),
        "subsystem" => {
            let name = d.first()?;
            let Some(cmd) = d.args.get(1).filter(|a| !a.is_empty()) else {
                return Err(d.bad(name, "missing subsystem command"));
            };
            let mut command = cmd.clone();
            for a in d.args.iter().skip(2) {
                command.push(' ');
                command.push_str(a);
            }
            if active {
                if c.subsystems.iter().any(|s| s.name == name) {
                    return Err(d.bad(name, "subsystem already defined"));
                }
                c.subsystems.push(Subsystem {
                    name: name.to_owned(),
                    command,
                });
            }
        }
        "trustedusercakeys" => first(&mut c.trusted_user_ca_keys, active, values::string(d)?),
        "x11forwarding" => first(&mut c.x11_forwarding, active, flag()?),
        _ => {}
    }
    Ok(())
}

/// `host:port` for `PermitOpen` (port a number or `*`; host may be `[v6]`).
fn valid_permit_open(arg: &str) -> bool {
    let (host, port) = if let Some(inner) = arg.strip_prefix('[') {
        let Some((h, rest)) = inner.split_once(']') else {
            return false;
        };
        let Some(p) = rest.strip_prefix(':') else {
            return false;
        };
        (h, p)
    } else {
        let Some((h, p)) = arg.rsplit_once(':') else {
            return false;
        };
        if h.contains(':') {
            return false;
        }
        (h, p)
    };
    !host.is_empty() && (port == "*" || parse_port(port).is_some_and(|p| p > 0))
}

fn listen_address(d: &Directive<'_>) -> Result<ListenAddress, Error> {
    let arg = d.first()?;
    let bad = |why: &str| d.bad(arg, why);
    let (host, port) = if !arg.contains('[') && arg.matches(':').count() >= 2 {
        (arg.to_owned(), None)
    } else if let Some(inner) = arg.strip_prefix('[') {
        let (h, rest) = inner
            .split_once(']')
            .ok_or_else(|| bad("bad address:port usage"))?;
        let port = match rest {
            "" => None,
            r => Some(
                r.strip_prefix(':')
                    .ok_or_else(|| bad("bad address:port usage"))?,
            ),
        };
        (h.to_owned(), port)
    } else {
        match arg.split_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (arg.to_owned(), None),
        }
    };
    if host.is_empty() {
        return Err(bad("bad address:port usage"));
    }
    let port = match port {
        None => None,
        Some(p) => Some(
            parse_port(p)
                .filter(|&p| p > 0)
                .ok_or_else(|| bad("bad port number"))?,
        ),
    };
    let rdomain = match d.args.get(1) {
        None => None,
        Some(kw) => {
            let name = d.args.get(2).filter(|_| kw == "rdomain");
            let Some(name) = name else {
                return Err(d.bad(kw, "bad ListenAddress syntax"));
            };
            d.no_more(3)?;
            Some(name.clone())
        }
    };
    Ok(ListenAddress {
        host,
        port,
        rdomain,
    })
}
