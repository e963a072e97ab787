//! The whelk-tokio [`Handler`](whelk_tokio::Handler) of `whelk server`: authentication
//! (authorized_keys, trusted CAs, the passwd file; only the current user) and sessions.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::{debug, info, warn};
use whelk::{
    AlgorithmsExt, AuthRequest, AuthorizedKeysPolicy, Decision, Grant, Method, RequestKind,
};
use whelk_auth::Prompts;
use whelk_config::server::{AllowTcpForwarding, ServerMatchContext};
use whelk_keys::HashAlg;
use whelk_keys::authorized_keys::KeyOptions;
use whelk_keys::cert::KeyOrCert;
use whelk_tokio::{ConnectionInfo, Exit, Pty, ServerSession, X11Request};

use super::session;

use super::hostbased;
use super::options::{Settings, Sources};
use super::passwd::PasswdFile;
use super::process::Account;

/// Builds the protocol configuration from the settings.
pub(crate) fn protocol_config(
    s: &Settings,
    host_keys: Vec<whelk::PrivateKey>,
    banner: Option<String>,
) -> Result<whelk::ServerConfig, String> {
    let mut c = whelk::ServerConfig::new(host_keys);
    let mut methods = Vec::new();
    if s.pubkey_auth {
        methods.push(Method::PublicKey);
    }
    if s.hostbased_auth {
        methods.push(Method::HostBased);
    }
    if s.passwd_file.is_some() {
        if s.kbd_interactive_auth {
            methods.push(Method::KeyboardInteractive);
        }
        if s.password_auth {
            methods.push(Method::Password);
        }
    }
    if methods.is_empty() {
        return Err("no authentication method is enabled".into());
    }
    c.auth.methods = methods;
    c.auth.required = s.auth_chains.clone();
    if let Some(n) = s.max_auth_tries {
        c.auth.max_attempts = n;
    }
    if let Some(t) = s.login_grace_time {
        let grace = (!t.is_zero()).then_some(t);
        c.auth.login_grace_time = grace;
    }
    c.auth.banner = banner;
    getrandom::fill(&mut c.auth.jitter_key).map_err(|e| format!("getrandom: {e}"))?;
    let t = &mut c.transport;
    if let Some(bytes) = s.rekey_limit.filter(|b| *b > 0) {
        t.limits.rekey_bytes = bytes;
    }
    if let Some(time) = s.rekey_interval {
        t.limits.rekey_time = Some(time);
    }
    if let Some(i) = s.client_alive_interval {
        t.limits.keepalive = Some(i);
        t.limits.keepalive_max_missed = s.client_alive_count_max;
    }
    let alg = &mut t.algorithms;
    if let Some(v) = &s.ciphers {
        alg.set_ciphers(v.as_str())
            .map_err(|e| format!("Ciphers: {e}"))?;
    }
    if let Some(v) = &s.macs {
        alg.set_macs(v.as_str()).map_err(|e| format!("MACs: {e}"))?;
    }
    if let Some(v) = &s.kex {
        alg.set_kex(v.as_str())
            .map_err(|e| format!("KexAlgorithms: {e}"))?;
    }
    if let Some(v) = &s.host_key_algorithms {
        alg.set_host_keys(v.as_str())
            .map_err(|e| format!("HostKeyAlgorithms: {e}"))?;
    }
    c.channels.max_sessions = usize::try_from(s.max_sessions).unwrap_or(usize::MAX);
    Ok(c)
}

/// What every connection shares.
#[derive(Debug)]
pub(crate) struct State {
    /// The global settings.
    pub(crate) settings: Arc<Settings>,
    /// What they were made from, to evaluate `Match` blocks per connection.
    sources: Sources,
    /// The account sessions run as.
    pub(crate) account: Account,
    /// `--passwd-file`.
    pub(crate) passwords: Option<PasswdFile>,
}

impl State {
    /// Shares the settings.
    pub(crate) fn new(
        settings: Settings,
        sources: Sources,
        account: Account,
        passwords: Option<PasswdFile>,
    ) -> Self {
        Self {
            settings: Arc::new(settings),
            sources,
            account,
            passwords,
        }
    }

    /// The settings of a connection from `peer` to `local`: the global ones overridden by
    /// the `Match` blocks that match it (`User`, `Group`, `Address`, `LocalAddress`,
    /// `LocalPort`; `Host` never matches: no DNS). Authentication methods offered are the
    /// global ones, so a `Match` block can narrow them but not add one.
    pub(crate) fn settings_for(&self, peer: SocketAddr, local: SocketAddr) -> Arc<Settings> {
        if !self.sources.has_match() {
            return self.settings.clone();
        }
        let ctx = ServerMatchContext {
            user: Some(self.account.name.clone()),
            groups: self.sources.groups.clone(),
            host: None,
            address: Some(peer.ip().to_string()),
            local_address: Some(local.ip().to_string()),
            local_port: Some(local.port()),
            rdomain: None,
        };
        match Settings::resolve(&self.sources, Some(&ctx)) {
            Ok(s) => Arc::new(s),
            Err(e) => {
                warn!("Match blocks for {peer}: {e}; using the global settings");
                self.settings.clone()
            }
        }
    }

    /// The authorized_keys policy for a client at `peer`, read afresh (edits apply to the
    /// next attempt, as with sshd).
    fn policy(&self, settings: &Settings, peer: Option<SocketAddr>) -> AuthorizedKeysPolicy {
        let mut text = String::new();
        for path in &settings.authorized_keys {
            match std::fs::read_to_string(path) {
                Ok(t) => {
                    text.push_str(&t);
                    text.push('\n');
                }
                Err(e) => debug!("{}: {e}", path.display()),
            }
        }
        let mut policy = AuthorizedKeysPolicy::new(&text);
        for e in policy.authorized_keys().errors() {
            debug!("authorized_keys: skipped a line: {e:?}");
        }
        if let Some(path) = &settings.trusted_user_ca_keys {
            match std::fs::read_to_string(path) {
                Ok(t) => {
                    for line in t.lines().map(str::trim) {
                        if line.is_empty() || line.starts_with('#') {
                            continue;
                        }
                        if let Ok((ca, _)) = whelk::PublicKey::from_openssh(line) {
                            policy = policy.with_trusted_ca(ca);
                        }
                    }
                }
                Err(e) => debug!("TrustedUserCAKeys {}: {e}", path.display()),
            }
        }
        if let Some(p) = peer {
            policy = policy.with_client_addr(p.ip());
        }
        policy
    }

    /// Decides one authentication request from `peer` under `settings`.
    pub(crate) fn decide(
        &self,
        settings: &Settings,
        req: &AuthRequest,
        peer: Option<SocketAddr>,
    ) -> Decision {
        let me = req.user == self.account.name && settings.user_allowed(&req.user);
        let peer_s = peer.map_or_else(|| "?".to_owned(), |p| p.to_string());
        match &req.kind {
            RequestKind::PublicKey { key, signed, .. } => {
                if !settings.pubkey_auth {
                    Decision::Reject
                } else {
                    // The policy runs for other users too (and rejects below), so that the
                    // work done does not depend on the user name.
                    let d = self.policy(settings, peer).decide(req, unix_now());
                    let d = if me { d } else { Decision::Reject };
                    if *signed || !matches!(d, Decision::Accept(_)) {
                        info!(
                            "{} publickey for {} from {peer_s}: {}",
                            if matches!(d, Decision::Accept(_) | Decision::Partial(_)) {
                                "accepted"
                            } else {
                                "refused"
                            },
                            req.user,
                            describe_key(key)
                        );
                    }
                    d
                }
            }
            RequestKind::Password { password, .. } => {
                self.password_decision(settings, &req.user, Method::Password, Some(password), peer)
            }
            RequestKind::KeyboardInteractive { .. } => {
                // Prompts for anyone (a refusal here would tell who may log in).
                if settings.kbd_interactive_auth && self.passwords.is_some() {
                    Decision::Prompts(Prompts {
                        name: String::new(),
                        instruction: String::new(),
                        prompts: vec![("Password: ".to_owned(), false)],
                    })
                } else {
                    Decision::Reject
                }
            }
            RequestKind::KeyboardInteractiveResponse { responses } => self.password_decision(
                settings,
                &req.user,
                Method::KeyboardInteractive,
                match responses.as_slice() {
                    [one] => Some(one),
                    _ => None,
                },
                peer,
            ),
            RequestKind::HostBased {
                key,
                algorithm,
                client_host,
                client_user,
            } => self.hostbased_decision(
                settings,
                &HostBasedClaim {
                    user: req.user.clone(),
                    key: key.clone(),
                    algorithm: *algorithm,
                    client_host: client_host.clone(),
                    client_user: client_user.clone(),
                },
                peer,
            ),
            _ => Decision::Reject,
        }
    }

    /// Decides a `hostbased` request (its signature already verified) from `peer`: resolves
    /// the claimed host name (unless `HostbasedUsesNameFromPacketOnly yes`), reads the
    /// equivalence and known_hosts files (see [`hostbased`]). Blocking.
    pub(crate) fn hostbased_decision(
        &self,
        settings: &Settings,
        claim: &HostBasedClaim,
        peer: Option<SocketAddr>,
    ) -> Decision {
        let HostBasedClaim {
            user,
            key,
            algorithm,
            client_host,
            client_user,
        } = claim;
        let peer_s = peer.map_or_else(|| "?".to_owned(), |p| p.to_string());
        let host = hostbased::strip_dot(client_host);
        let ipaddr = peer.map_or_else(String::new, |p| p.ip().to_canonical().to_string());
        let verdict = (|| {
            if !settings.hostbased_auth {
                return Err("HostbasedAuthentication is off".to_owned());
            }
            if *user != self.account.name || !settings.user_allowed(user) {
                return Err("user not allowed".to_owned());
            }
            let alg_name = match key {
                KeyOrCert::Key(_) => algorithm.name(),
                KeyOrCert::Certificate(_) => algorithm.cert_name(),
            };
            if !settings.hostbased_algorithms.iter().any(|a| a == alg_name) {
                return Err(format!("{alg_name} is not in HostbasedAcceptedAlgorithms"));
            }
            let policy = hostbased::Policy {
                ignore_rhosts: settings.ignore_rhosts,
                ignore_user_known_hosts: settings.ignore_user_known_hosts,
                strict_modes: settings.strict_modes,
                permit_root_login_yes: settings.permit_root_login_yes,
                uid: rustix::process::getuid().as_raw(),
            };
            let files = hostbased::Files::system(&self.account.home);
            let ip_for_files = if settings.hostbased_name_from_packet_only {
                host.to_owned()
            } else {
                if !peer.is_some_and(|p| hostbased::resolves_to(host, p.ip())) {
                    warn!(
                        "userauth_hostbased mismatch: client sends {host}, which does not resolve to {ipaddr}"
                    );
                    return Err(format!("{host} does not resolve to {ipaddr}"));
                }
                ipaddr.clone()
            };
            let by =
                hostbased::rhosts_allowed(&policy, &files, user, client_user, host, &ip_for_files)?;
            debug!(
                "hostbased: {client_user}@{host} allowed by {}",
                by.display()
            );
            hostbased::host_key_known(&policy, &files, host, key, unix_now())
        })();
        match verdict {
            Ok(()) => {
                info!(
                    "accepted hostbased for {user} from {peer_s}: {} (client {client_user}@{host})",
                    describe_key(key)
                );
                Decision::Accept(Grant::default())
            }
            Err(why) => {
                info!(
                    "failed hostbased for {user} from {peer_s}: {} (client {client_user}@{host}): {why}",
                    describe_key(key)
                );
                Decision::Reject
            }
        }
    }

    /// Decides a password (or the single keyboard-interactive answer) of `user`: CPU-bound
    /// hash work, run on a blocking thread by the handler.
    pub(crate) fn password_decision(
        &self,
        settings: &Settings,
        user: &str,
        method: Method,
        password: Option<&[u8]>,
        peer: Option<SocketAddr>,
    ) -> Decision {
        let enabled = match method {
            Method::Password => settings.password_auth,
            _ => settings.kbd_interactive_auth,
        };
        let ok = enabled
            && password.is_some_and(|p| self.check_password(user, p))
            && settings.user_allowed(user);
        info!(
            "{} {} for {user} from {}",
            if ok { "accepted" } else { "failed" },
            method.name(),
            peer.map_or_else(|| "?".to_owned(), |p| p.to_string())
        );
        if ok {
            Decision::Accept(Grant::default())
        } else {
            Decision::Reject
        }
    }

    fn check_password(&self, user: &str, password: &[u8]) -> bool {
        let Some(file) = &self.passwords else {
            return false;
        };
        if user == self.account.name {
            file.verify(user, password)
        } else {
            // Another name costs the same hash work as the owner's (whose entry is used,
            // or a dummy one), then fails: the time does not tell names apart.
            let _ = file.verify(&self.account.name, password);
            false
        }
    }
}

/// What a `hostbased` request claims (its signature verified by the library).
#[derive(Debug, Clone)]
pub(crate) struct HostBasedClaim {
    /// The user to log in as.
    pub(crate) user: String,
    /// The client host's key or certificate.
    pub(crate) key: KeyOrCert,
    /// The signature algorithm.
    pub(crate) algorithm: whelk_keys::SigAlg,
    /// The client host name as sent.
    pub(crate) client_host: String,
    /// The user on the client host.
    pub(crate) client_user: String,
}

fn describe_key(key: &KeyOrCert) -> String {
    match key {
        KeyOrCert::Key(k) => format!("{} {}", k.key_type().name(), k.fingerprint(HashAlg::Sha256)),
        KeyOrCert::Certificate(c) => format!(
            "certificate {} ID {:?} serial {} CA {} {}",
            c.key_type().name(),
            c.key_id(),
            c.serial(),
            c.signature_key().key_type().name(),
            c.signature_key().fingerprint(HashAlg::Sha256)
        ),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What the authentication that let a connection in allows (sshd's `auth_options`): the
/// matched `authorized_keys` line's options and the certificate's extensions and critical
/// options, merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Restrictions {
    /// `command=` or the certificate's `force-command`.
    pub(crate) forced_command: Option<String>,
    /// `pty` allowed (`no-pty`, `restrict`, no `permit-pty`).
    pub(crate) pty: bool,
    /// Port forwarding allowed.
    pub(crate) port_forwarding: bool,
    /// Agent forwarding allowed.
    pub(crate) agent_forwarding: bool,
    /// `~/.ssh/rc` may run (`no-user-rc`, `restrict`, no `permit-user-rc`).
    pub(crate) user_rc: bool,
    /// `environment=` values.
    pub(crate) environment: Vec<(String, String)>,
    /// `permitopen=` / `permitlisten=` of the line (empty: unrestricted).
    pub(crate) options: KeyOptions,
}

impl Default for Restrictions {
    fn default() -> Self {
        Self {
            forced_command: None,
            pty: true,
            port_forwarding: true,
            agent_forwarding: true,
            user_rc: true,
            environment: Vec::new(),
            options: KeyOptions::default(),
        }
    }
}

impl Restrictions {
    /// From what a publickey (or password) method granted.
    pub(crate) fn from_grant(grant: &Grant) -> Self {
        let mut r = Self::default();
        if let Some(o) = &grant.options {
            r.forced_command.clone_from(&o.command);
            r.pty = o.permits_pty();
            r.port_forwarding = o.permits_port_forwarding();
            r.agent_forwarding = o.permits_agent_forwarding();
            r.user_rc = o.permits_user_rc();
            r.environment.clone_from(&o.environment);
            r.options = o.clone();
        }
        if let Some(c) = &grant.certificate {
            if let Some(fc) = c.force_command() {
                // Both set and different: sshd refuses; whelk runs the certificate's.
                r.forced_command = Some(fc.to_owned());
            }
            r.pty &= c.has_extension("permit-pty");
            r.port_forwarding &= c.has_extension("permit-port-forwarding");
            r.agent_forwarding &= c.has_extension("permit-agent-forwarding");
            r.user_rc &= c.has_extension("permit-user-rc");
        }
        r
    }
}

/// Whether `list` (`PermitOpen`/`PermitListen` entries; `None`: any) admits `host:port`.
fn listed(list: Option<&Vec<String>>, host: &str, port: u16, listen: bool) -> bool {
    let Some(list) = list else { return true };
    if list.is_empty() {
        return false; // `none`
    }
    let o = KeyOptions {
        permit_open: if listen { Vec::new() } else { list.clone() },
        permit_listen: if listen { list.clone() } else { Vec::new() },
        ..KeyOptions::default()
    };
    if listen {
        o.permits_listen(host, port)
    } else {
        o.permits_open(host, port)
    }
}

/// The handler given to [`whelk_tokio::listen`]: decisions from [`State`], sessions in
/// [`super::session`].
#[derive(Debug, Clone)]
pub(crate) struct ServerHandler {
    state: Arc<State>,
    /// What each authenticated connection may do, by connection id.
    grants: Arc<Mutex<HashMap<u64, Restrictions>>>,
    /// Each connection's settings (`Match` blocks applied), by connection id.
    settings: Arc<Mutex<HashMap<u64, Arc<Settings>>>>,
}

impl ServerHandler {
    /// A handler over the shared state.
    pub(crate) fn new(state: Arc<State>) -> Self {
        Self {
            state,
            grants: Arc::default(),
            settings: Arc::default(),
        }
    }

    /// The connection's settings (computed when it connected).
    fn settings(&self, conn: &ConnectionInfo) -> Arc<Settings> {
        let known = self
            .settings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&conn.id())
            .cloned();
        known.unwrap_or_else(|| self.state.settings_for(conn.peer_addr(), conn.local_addr()))
    }

    fn restrictions(&self, conn: &ConnectionInfo) -> Restrictions {
        self.grants
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&conn.id())
            .cloned()
            // No grant recorded: the most restrictive answer.
            .unwrap_or(Restrictions {
                forced_command: None,
                pty: false,
                port_forwarding: false,
                agent_forwarding: false,
                user_rc: false,
                environment: Vec::new(),
                options: KeyOptions::default(),
            })
    }

    fn tcp_allowed(&self, conn: &ConnectionInfo, local: bool) -> bool {
        let r = self.restrictions(conn);
        let mode = self.settings(conn).allow_tcp_forwarding;
        r.port_forwarding
            && match mode {
                AllowTcpForwarding::Yes => true,
                AllowTcpForwarding::No => false,
                AllowTcpForwarding::Local => local,
                AllowTcpForwarding::Remote => !local,
            }
    }
}

impl whelk_tokio::Handler for ServerHandler {
    async fn connected(&self, conn: &ConnectionInfo) -> bool {
        let settings = self.state.settings_for(conn.peer_addr(), conn.local_addr());
        self.settings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(conn.id(), settings);
        info!(
            "connection {} from {} to {}",
            conn.id(),
            conn.peer_addr(),
            conn.local_addr()
        );
        true
    }

    async fn auth(&self, request: &AuthRequest) -> Decision {
        self.state.decide(&self.state.settings, request, None)
    }

    async fn auth_from(&self, conn: &ConnectionInfo, request: &AuthRequest) -> Decision {
        let settings = self.settings(conn);
        let decision = if let RequestKind::HostBased {
            key,
            algorithm,
            client_host,
            client_user,
        } = &request.kind
        {
            // Name resolution and file reads block: off the async threads.
            let state = self.state.clone();
            let claim = HostBasedClaim {
                user: request.user.clone(),
                key: key.clone(),
                algorithm: *algorithm,
                client_host: client_host.clone(),
                client_user: client_user.clone(),
            };
            let peer = conn.peer_addr();
            tokio::task::spawn_blocking(move || {
                state.hostbased_decision(&settings, &claim, Some(peer))
            })
            .await
            .unwrap_or(Decision::Reject)
        } else {
            self.state
                .decide(&settings, request, Some(conn.peer_addr()))
        };
        if let Decision::Accept(g) | Decision::Partial(g) = &decision {
            let signed_key = matches!(request.kind, RequestKind::PublicKey { signed: true, .. });
            let query = matches!(request.kind, RequestKind::PublicKey { signed: false, .. });
            let mut grants = self.grants.lock().unwrap_or_else(PoisonError::into_inner);
            // A signed key's options win; a password never lifts them (AuthenticationMethods
            // chains); a key query (PK_OK) grants nothing yet.
            if signed_key || (!query && !grants.contains_key(&conn.id())) {
                grants.insert(conn.id(), Restrictions::from_grant(g));
            }
        }
        decision
    }

    async fn authenticated(&self, conn: &ConnectionInfo) {
        info!(
            "connection {}: {} logged in from {}",
            conn.id(),
            conn.user(),
            conn.peer_addr()
        );
    }

    async fn disconnected(&self, conn: &ConnectionInfo, reason: &str) {
        self.grants
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&conn.id());
        self.settings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&conn.id());
        info!(
            "connection {} from {} closed: {reason}",
            conn.id(),
            conn.peer_addr()
        );
    }

    async fn pty_request(&self, conn: &ConnectionInfo, pty: &Pty) -> bool {
        let ok = self.settings(conn).permit_tty && self.restrictions(conn).pty;
        info!(
            "connection {}: pty-req {} {}x{} {}",
            conn.id(),
            pty.term,
            pty.columns,
            pty.rows,
            if ok { "allowed" } else { "refused" }
        );
        ok
    }

    async fn env(&self, conn: &ConnectionInfo, name: &str, value: &str) -> bool {
        let ok = self.settings(conn).accepts_env(name);
        info!(
            "connection {}: env {name} {}",
            conn.id(),
            if ok { "accepted" } else { "refused" }
        );
        debug!("connection {}: env {name}={value:?}", conn.id());
        ok
    }

    async fn agent_forwarding(&self, conn: &ConnectionInfo) -> bool {
        let ok =
            self.settings(conn).allow_agent_forwarding && self.restrictions(conn).agent_forwarding;
        info!(
            "connection {}: agent forwarding {}",
            conn.id(),
            if ok { "allowed" } else { "refused" }
        );
        ok
    }

    async fn x11_forwarding(&self, conn: &ConnectionInfo, request: &X11Request) -> bool {
        // The key's options and certificate are enforced by whelk-tokio before this.
        let settings = self.settings(conn);
        // sshd refuses when it has no xauth to run ("No xauth program").
        let xauth = settings.xauth_location.as_ref().filter(|p| p.is_file());
        let ok = settings.x11_forwarding && xauth.is_some();
        if settings.x11_forwarding && xauth.is_none() {
            warn!(
                "connection {}: X11 forwarding refused: no xauth program",
                conn.id()
            );
        }
        info!(
            "connection {}: X11 forwarding {} ({}, screen {})",
            conn.id(),
            if ok { "allowed" } else { "refused" },
            request.auth_protocol,
            request.screen
        );
        ok
    }

    async fn shell(&self, session: ServerSession) -> Exit {
        let r = self.restrictions(session.connection());
        let settings = self.settings(session.connection());
        session::run(&self.state, &settings, &r, session).await
    }

    async fn exec(&self, _command: String, session: ServerSession) -> Exit {
        let r = self.restrictions(session.connection());
        let settings = self.settings(session.connection());
        session::run(&self.state, &settings, &r, session).await
    }

    async fn subsystem(&self, _name: String, session: ServerSession) -> Exit {
        let r = self.restrictions(session.connection());
        let settings = self.settings(session.connection());
        session::run(&self.state, &settings, &r, session).await
    }

    async fn direct_tcpip(
        &self,
        conn: &ConnectionInfo,
        host: &str,
        port: u32,
        originator: &str,
        originator_port: u32,
    ) -> bool {
        let port16 = u16::try_from(port).unwrap_or(0);
        let r = self.restrictions(conn);
        let ok = self.tcp_allowed(conn, true)
            && listed(
                self.settings(conn).permit_open.as_ref(),
                host,
                port16,
                false,
            )
            && r.options.permits_open(host, port16);
        info!(
            "connection {}: direct-tcpip to {host}:{port} from {originator}:{originator_port} {}",
            conn.id(),
            if ok { "allowed" } else { "refused" }
        );
        ok
    }

    async fn direct_streamlocal(&self, conn: &ConnectionInfo, path: &str) -> bool {
        let ok = self.settings(conn).allow_stream_local_forwarding
            && self.restrictions(conn).port_forwarding
            && self.restrictions(conn).options.permit_open.is_empty();
        info!(
            "connection {}: direct-streamlocal to {path} {}",
            conn.id(),
            if ok { "allowed" } else { "refused" }
        );
        ok
    }

    async fn tcpip_forward(&self, conn: &ConnectionInfo, address: &str, port: u32) -> bool {
        let port16 = u16::try_from(port).unwrap_or(0);
        let r = self.restrictions(conn);
        let ok = self.tcp_allowed(conn, false)
            && listed(
                self.settings(conn).permit_listen.as_ref(),
                address,
                port16,
                true,
            )
            && r.options.permits_listen(address, port16);
        info!(
            "connection {}: tcpip-forward {address}:{port} {}",
            conn.id(),
            if ok { "allowed" } else { "refused" }
        );
        ok
    }

    async fn streamlocal_forward(&self, conn: &ConnectionInfo, path: &str) -> bool {
        let r = self.restrictions(conn);
        let ok = self.settings(conn).allow_stream_local_forwarding
            && r.port_forwarding
            && r.options.permit_listen.is_empty();
        info!(
            "connection {}: streamlocal-forward {path} {}",
            conn.id(),
            if ok { "allowed" } else { "refused" }
        );
        ok
    }
}
