//! The server side: [`ServerAuth`].

use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use whelk_keys::authorized_keys::KeyOptions;
use whelk_keys::cert::{Certificate, KeyOrCert};
use whelk_keys::{PublicKey, SigAlg, VerifyPolicy};
use whelk_wire::msg::{
    AuthFamily, AuthMethod, Message, Prompt, UserauthBanner, UserauthFailure, UserauthInfoRequest,
    UserauthPasswdChangereq, UserauthPkOk, UserauthRequest, UserauthSuccess,
};
use whelk_wire::names;
use whelk_wire::types::{NameList, Text};
use zeroize::Zeroizing;

use crate::method::{disconnect, hostbased_signed_data, publickey_signed_data};
use crate::{Error, Instant, Method, Result};

/// OpenSSH's `MaxAuthTries` default.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 6;
/// OpenSSH's `LoginGraceTime` default.
pub const DEFAULT_LOGIN_GRACE_TIME: Duration = Duration::from_secs(120);
/// Hard cap on `SSH_MSG_USERAUTH_REQUEST`s of any kind per connection (OpenSSH's 1024).
pub const MAX_REQUESTS: u32 = 1024;
/// Longest password passed to the application (OpenSSH `MAX_PASSWORD_LEN`, CVE-2016-6515).
pub const MAX_PASSWORD_LEN: usize = 1024;
/// Longest user name passed to the application.
pub const MAX_USER_LEN: usize = 256;
/// Most keyboard-interactive prompts in one round.
pub const MAX_PROMPTS: usize = 64;
/// OpenSSH's minimum delay before a failure reply.
pub const MIN_FAILURE_DELAY: Duration = Duration::from_millis(5);
/// OpenSSH's per-user jitter range added to the minimum (0 to 4.2 ms).
pub const FAILURE_JITTER_MICROS: u32 = 4200;

/// Server configuration.
#[derive(Clone)]
pub struct ServerConfig {
    /// Methods offered (`none` is asked to the application only if listed here).
    pub methods: Vec<Method>,
    /// `AuthenticationMethods`: each chain lists methods that must succeed in that order
    /// (e.g. `[[PublicKey, Password]]`; a method may repeat, `[[PublicKey, PublicKey]]` needs
    /// two different keys). Empty: any one method is enough.
    pub required: Vec<Vec<Method>>,
    /// `MaxAuthTries`: the connection is dropped at this many failures (0: no limit besides
    /// [`MAX_REQUESTS`]).
    pub max_attempts: u32,
    /// `LoginGraceTime` (`None`: no limit).
    pub login_grace_time: Option<Duration>,
    /// Minimum time between a request and its failure reply, to which the per-user jitter
    /// is added (zero: failures are answered at once, without jitter either).
    pub failure_delay: Duration,
    /// Secret that derives the per-user jitter (give it random bytes: the jitter of a user
    /// name must not be predictable, and must be the same for every attempt).
    pub jitter_key: [u8; 32],
    /// Banner sent before the first reply.
    pub banner: Option<String>,
    /// The service authentication leads to.
    pub service: String,
    /// Signature policy (RSA sizes, SHA-1, security-key flags).
    pub verify_policy: VerifyPolicy,
}

impl core::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The jitter key stays out of logs.
        f.debug_struct("ServerConfig")
            .field("methods", &self.methods)
            .field("required", &self.required)
            .field("max_attempts", &self.max_attempts)
            .field("login_grace_time", &self.login_grace_time)
            .field("failure_delay", &self.failure_delay)
            .field("banner", &self.banner)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            methods: alloc::vec![
                Method::PublicKey,
                Method::KeyboardInteractive,
                Method::Password
            ],
            required: Vec::new(),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            login_grace_time: Some(DEFAULT_LOGIN_GRACE_TIME),
            failure_delay: MIN_FAILURE_DELAY,
            jitter_key: [0; 32],
            banner: None,
            service: names::SERVICE_CONNECTION.to_string(),
            verify_policy: VerifyPolicy::default(),
        }
    }
}

/// What the client asks for; the application answers with a [`Decision`].
///
/// `Debug` never shows passwords or keyboard-interactive responses.
#[non_exhaustive]
pub enum RequestKind {
    /// `none`: usually rejected (accept for accounts with no authentication).
    None,
    /// `password`; `new_password` is set when the client answers a change request.
    Password {
        /// The password.
        password: Zeroizing<Vec<u8>>,
        /// The new password.
        new_password: Option<Zeroizing<Vec<u8>>>,
    },
    /// `publickey` (or its hostbound form). When `signed`, the crate has already verified
    /// the signature over this session: the application decides whether the key (or the
    /// certificate's CA) is acceptable for the user. When not signed, accepting only sends
    /// `PK_OK`; it never authenticates (catalog A07).
    PublicKey {
        /// The key or certificate.
        key: KeyOrCert,
        /// The signature algorithm named in the request.
        algorithm: SigAlg,
        /// Whether a signature was present and verified.
        signed: bool,
        /// Whether the request was `publickey-hostbound-v00@openssh.com` (bound to our
        /// host key, already checked).
        hostbound: bool,
    },
    /// `keyboard-interactive` start: answer [`Decision::Prompts`] (or accept/reject).
    KeyboardInteractive {
        /// The client's submethod hints.
        submethods: String,
    },
    /// Keyboard-interactive responses to the last prompts.
    KeyboardInteractiveResponse {
        /// One response per prompt.
        responses: Vec<Zeroizing<Vec<u8>>>,
    },
    /// `hostbased`: the signature by the client host's key is verified.
    HostBased {
        /// The host key or certificate.
        key: KeyOrCert,
        /// The signature algorithm.
        algorithm: SigAlg,
        /// The client host name as claimed.
        client_host: String,
        /// The user on the client host.
        client_user: String,
    },
}

impl core::fmt::Debug for RequestKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Password { new_password, .. } => f
                .debug_struct("Password")
                .field("password", &"<redacted>")
                .field("new_password", &new_password.as_ref().map(|_| "<redacted>"))
                .finish(),
            Self::PublicKey {
                key,
                algorithm,
                signed,
                hostbound,
            } => f
                .debug_struct("PublicKey")
                .field("key", key)
                .field("algorithm", algorithm)
                .field("signed", signed)
                .field("hostbound", hostbound)
                .finish(),
            Self::KeyboardInteractive { submethods } => f
                .debug_struct("KeyboardInteractive")
                .field("submethods", submethods)
                .finish(),
            Self::KeyboardInteractiveResponse { responses } => f
                .debug_struct("KeyboardInteractiveResponse")
                .field("responses", &responses.len())
                .finish(),
            Self::HostBased {
                key,
                algorithm,
                client_host,
                client_user,
            } => f
                .debug_struct("HostBased")
                .field("key", key)
                .field("algorithm", algorithm)
                .field("client_host", client_host)
                .field("client_user", client_user)
                .finish(),
        }
    }
}

impl RequestKind {
    /// The method this request belongs to.
    #[must_use]
    pub fn method(&self) -> Method {
        match self {
            Self::None => Method::None,
            Self::Password { .. } => Method::Password,
            Self::PublicKey { .. } => Method::PublicKey,
            Self::KeyboardInteractive { .. } | Self::KeyboardInteractiveResponse { .. } => {
                Method::KeyboardInteractive
            }
            Self::HostBased { .. } => Method::HostBased,
        }
    }
}

/// A decision the application owes: answer it with [`ServerAuth::respond`] whenever ready.
#[must_use = "answer the request with ServerAuth::respond"]
#[derive(Debug)]
pub struct AuthRequest {
    id: u64,
    /// The user name (valid UTF-8, at most [`MAX_USER_LEN`] bytes).
    pub user: String,
    /// The request.
    pub kind: RequestKind,
}

/// What the application (or [`crate::AuthorizedKeysPolicy`]) grants with an accepted method:
/// restrictions to enforce on the session later.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grant {
    /// Options of the `authorized_keys` line that matched.
    pub options: Option<KeyOptions>,
    /// The certificate that authenticated (its `force-command`, `source-address` and
    /// permit-* extensions apply).
    pub certificate: Option<Certificate>,
}

/// One keyboard-interactive round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prompts {
    /// Name (shown as a title).
    pub name: String,
    /// Instruction.
    pub instruction: String,
    /// `(prompt, echo)` pairs.
    pub prompts: Vec<(String, bool)>,
}

/// The application's answer to an [`AuthRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// The method succeeded (for an unsigned publickey query: send `PK_OK`).
    Accept(Grant),
    /// The method succeeded but another one is needed as well.
    Partial(Grant),
    /// The method failed.
    Reject,
    /// Password only: the password is right but expired; ask for a new one
    /// (`SSH_MSG_USERAUTH_PASSWD_CHANGEREQ`).
    ChangePassword {
        /// The prompt.
        prompt: String,
    },
    /// Keyboard-interactive only: send these prompts (another round).
    Prompts(Prompts),
}

/// The result of successful authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The user.
    pub user: String,
    /// The methods that succeeded, in order.
    pub methods: Vec<Method>,
    /// What each method granted (same order).
    pub grants: Vec<Grant>,
    /// The keys whose signatures verified (publickey and hostbased), in order.
    pub keys: Vec<PublicKey>,
}

/// What [`ServerAuth::poll_event`] yields.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A decision to make.
    Request(AuthRequest),
    /// Authentication succeeded (`USERAUTH_SUCCESS` is queued).
    Authenticated(Authenticated),
}

#[derive(Debug)]
enum PendingKind {
    Query { algorithm: Text, blob: Bytes },
    Method,
}

#[derive(Debug)]
struct Pending {
    id: u64,
    method: Method,
    started: Instant,
    kind: PendingKind,
    key: Option<PublicKey>,
}

/// The server's user-authentication state machine (RFC 4252) for one connection, started once
/// the transport accepted the `ssh-userauth` service.
///
/// Call order: [`ServerAuth::handle_message`] for each decoded message (decode 60-79 with
/// [`ServerAuth::context`]); [`ServerAuth::handle_timeout`] when [`ServerAuth::poll_timeout`]
/// passes; [`ServerAuth::respond`] to answer requests; then drain
/// [`ServerAuth::poll_transmit`] and [`ServerAuth::poll_event`].
///
/// Failure replies are held back until the request is at least
/// [`ServerConfig::failure_delay`] plus a per-user jitter old, so that a known and an unknown
/// user look the same on the wire and in time (catalog A10); the deadline is in
/// [`ServerAuth::poll_timeout`].
#[derive(Debug)]
pub struct ServerAuth {
    config: ServerConfig,
    session_id: Bytes,
    host_key: Bytes,
    grace_deadline: Option<Instant>,
    out: VecDeque<(Instant, Message)>,
    events: VecDeque<ServerEvent>,
    error: Option<Error>,
    current: Option<(Bytes, Bytes)>,
    user: String,
    passed: Vec<Method>,
    grants: Vec<Grant>,
    keys: Vec<PublicKey>,
    needs_more: bool,
    failures: u32,
    requests: u32,
    next_id: u64,
    pending: Option<Pending>,
    kbd_prompts: Option<(usize, Instant)>,
    family: Option<AuthFamily>,
    banner_sent: bool,
    done: Option<Authenticated>,
}

impl ServerAuth {
    /// A new state machine. `session_id` is the first exchange hash, `host_key` the blob of
    /// the host key used in key exchange (checked in hostbound requests). `now` starts the
    /// login grace timer: pass the time the connection was accepted, so that the grace time
    /// covers the whole pre-authentication phase (version exchange and key exchange too).
    #[must_use]
    pub fn new(config: ServerConfig, session_id: Bytes, host_key: Bytes, now: Instant) -> Self {
        let grace_deadline = config.login_grace_time.and_then(|d| now.checked_add(d));
        Self {
            config,
            session_id,
            host_key,
            grace_deadline,
            out: VecDeque::new(),
            events: VecDeque::new(),
            error: None,
            current: None,
            user: String::new(),
            passed: Vec::new(),
            grants: Vec::new(),
            keys: Vec::new(),
            needs_more: false,
            failures: 0,
            requests: 0,
            next_id: 0,
            pending: None,
            kbd_prompts: None,
            family: None,
            banner_sent: false,
            done: None,
        }
    }

    /// What numbers 60-79 mean for the next inbound message.
    #[must_use]
    pub fn context(&self) -> Option<AuthFamily> {
        self.family
    }

    /// The outcome, once authentication succeeded.
    #[must_use]
    pub fn outcome(&self) -> Option<&Authenticated> {
        self.done.as_ref()
    }

    /// Whether authentication succeeded.
    #[must_use]
    pub fn is_authenticated(&self) -> bool {
        self.done.is_some()
    }

    /// The latched fatal error, if any.
    #[must_use]
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// Failed attempts so far.
    #[must_use]
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The per-user delay before a failure reply: the configured minimum plus 0-4.2 ms
    /// derived from the user name and [`ServerConfig::jitter_key`] (zero when the minimum
    /// is zero).
    #[must_use]
    pub fn failure_delay(&self, user: &[u8]) -> Duration {
        if self.config.failure_delay.is_zero() {
            return Duration::ZERO;
        }
        let mut h = Sha256::new();
        h.update(self.config.jitter_key);
        h.update(user);
        let d = h.finalize();
        let mut four = [0u8; 4];
        for (dst, src) in four.iter_mut().zip(d.iter()) {
            *dst = *src;
        }
        let jitter = u32::from_be_bytes(four) % FAILURE_JITTER_MICROS;
        self.config.failure_delay + Duration::from_micros(u64::from(jitter))
    }

    fn fail_fatal(&mut self, now: Instant, e: Error) -> Error {
        if self.error.is_none() {
            self.out.push_back((now, disconnect(&e)));
            self.error = Some(e.clone());
        }
        e
    }

    fn check(&self) -> Result<()> {
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Feeds one decoded message from the client.
    pub fn handle_message(&mut self, now: Instant, msg: Message) -> Result<()> {
        self.check()?;
        if self.done.is_some() {
            // Catalog A13: a late request never re-authenticates as someone else.
            return Ok(());
        }
        match msg {
            Message::Ignore(_) | Message::Debug(_) | Message::Unimplemented(_) => Ok(()),
            Message::UserauthRequest(req) => self.on_request(now, req),
            Message::UserauthInfoResponse(resp) => {
                let Some((expected, _)) = self.kbd_prompts.take() else {
                    return Err(self.fail_fatal(now, Error::UnexpectedMessage { number: 61 }));
                };
                if resp.responses.len() != expected {
                    return Err(self.fail_fatal(
                        now,
                        Error::WrongResponseCount {
                            expected,
                            got: resp.responses.len(),
                        },
                    ));
                }
                let responses = resp
                    .responses
                    .iter()
                    .map(|r| Zeroizing::new(r.to_vec()))
                    .collect();
                self.ask(
                    now,
                    Method::KeyboardInteractive,
                    PendingKind::Method,
                    None,
                    RequestKind::KeyboardInteractiveResponse { responses },
                );
                Ok(())
            }
            Message::UserauthSuccess(_) => Err(self.fail_fatal(now, Error::ClientSentSuccess)),
            other => {
                let number = other.number().0;
                let e = if number >= 80 {
                    Error::ConnectionMessageBeforeAuth { number }
                } else {
                    Error::UnexpectedMessage { number }
                };
                Err(self.fail_fatal(now, e))
            }
        }
    }

    /// Methods that may continue: with chains, the next step of every chain the methods
    /// passed so far are a prefix of (in order, as sshd's `AuthenticationMethods`).
    fn allowed(&self) -> Vec<Method> {
        let mut out: Vec<Method> = Vec::new();
        for m in self.config.methods.iter().copied() {
            if m == Method::None || out.contains(&m) {
                continue;
            }
            if self.needs_more && self.passed.contains(&m) {
                continue;
            }
            let ok = self.config.required.is_empty()
                || self.config.required.iter().any(|chain| {
                    chain.starts_with(&self.passed) && chain.get(self.passed.len()) == Some(&m)
                });
            if ok {
                out.push(m);
            }
        }
        out
    }

    fn complete(&self) -> bool {
        if self.needs_more || self.passed.is_empty() {
            return false;
        }
        self.config.required.is_empty() || self.config.required.contains(&self.passed)
    }

    fn failure_message(&self, partial_success: bool) -> Message {
        let methods =
            NameList::from_names(self.allowed().iter().map(|m| m.name())).unwrap_or_default();
        Message::UserauthFailure(UserauthFailure {
            methods,
            partial_success,
        })
    }

    /// Queues a failure reply for a request that started at `started`; counts it.
    /// `none` failures are neither delayed nor counted (OpenSSH), but every request counts
    /// toward [`MAX_REQUESTS`].
    fn reject(&mut self, now: Instant, started: Instant, method: Option<Method>) {
        let delayed = method != Some(Method::None);
        let release = if delayed {
            let at = started
                .checked_add(self.failure_delay(self.user.as_bytes()))
                .unwrap_or(now);
            at.max(now)
        } else {
            now
        };
        if delayed {
            self.failures = self.failures.saturating_add(1);
            if self.config.max_attempts != 0 && self.failures >= self.config.max_attempts {
                let e = Error::TooManyAttempts;
                self.out.push_back((release, disconnect(&e)));
                self.error = Some(e);
                return;
            }
        }
        let m = self.failure_message(false);
        self.out.push_back((release, m));
    }

    fn ask(
        &mut self,
        now: Instant,
        method: Method,
        kind: PendingKind,
        key: Option<PublicKey>,
        request: RequestKind,
    ) {
        self.next_id = self.next_id.wrapping_add(1);
        let id = self.next_id;
        self.pending = Some(Pending {
            id,
            method,
            started: now,
            kind,
            key,
        });
        self.events.push_back(ServerEvent::Request(AuthRequest {
            id,
            user: self.user.clone(),
            kind: request,
        }));
    }

    fn reset_methods(&mut self) {
        self.passed.clear();
        self.grants.clear();
        self.keys.clear();
        self.needs_more = false;
    }

    fn on_request(&mut self, now: Instant, req: UserauthRequest) -> Result<()> {
        self.requests = self.requests.saturating_add(1);
        if self.requests > MAX_REQUESTS {
            return Err(self.fail_fatal(now, Error::TooManyAttempts));
        }
        if !self.banner_sent {
            self.banner_sent = true;
            if let Some(b) = &self.config.banner {
                let m = Message::UserauthBanner(UserauthBanner {
                    message: Text::from(b.clone()),
                    language: Text::from(""),
                });
                self.out.push_back((now, m));
            }
        }
        if req.service.as_bytes() != self.config.service.as_bytes() {
            let name = req.service.to_string_lossy().into_owned();
            return Err(self.fail_fatal(now, Error::ServiceNotAvailable(name)));
        }
        // RFC 4252 §5: a new user or service flushes the accumulated state (the failure
        // count is per connection and stays).
        let key = (req.user.0.clone(), req.service.0.clone());
        if self.current.as_ref() != Some(&key) {
            if self.current.is_some() {
                self.reset_methods();
            }
            self.current = Some(key);
            self.user = match req.user.to_str() {
                Ok(u) if u.len() <= MAX_USER_LEN => u.to_string(),
                _ => String::new(),
            };
        }
        // A new request abandons any previous one (RFC 4252 §5).
        self.pending = None;
        self.kbd_prompts = None;
        let method = Method::from_name(&String::from_utf8_lossy(req.method.name()));
        self.family = method.and_then(Method::family);
        let valid_user = !self.user.is_empty();
        let Some(method) = method else {
            self.reject(now, now, None);
            return Ok(());
        };
        if method == Method::None {
            if valid_user && self.config.methods.contains(&Method::None) {
                self.ask(now, method, PendingKind::Method, None, RequestKind::None);
            } else {
                self.reject(now, now, Some(Method::None));
            }
            return Ok(());
        }
        if !valid_user || !self.allowed().contains(&method) {
            self.reject(now, now, Some(method));
            return Ok(());
        }
        match req.method {
            AuthMethod::Password {
                password,
                new_password,
            } => {
                if password.len() > MAX_PASSWORD_LEN
                    || new_password
                        .as_ref()
                        .is_some_and(|p| p.len() > MAX_PASSWORD_LEN)
                {
                    self.reject(now, now, Some(method));
                    return Ok(());
                }
                let kind = RequestKind::Password {
                    password: Zeroizing::new(password.to_vec()),
                    new_password: new_password.map(|p| Zeroizing::new(p.to_vec())),
                };
                self.ask(now, method, PendingKind::Method, None, kind);
            }
            AuthMethod::PublicKey {
                algorithm,
                public_key,
                signature,
            } => self.on_publickey(now, &req.user, algorithm, public_key, None, signature),
            AuthMethod::PublicKeyHostbound {
                algorithm,
                public_key,
                host_key,
                signature,
            } => self.on_publickey(
                now,
                &req.user,
                algorithm,
                public_key,
                Some(host_key),
                signature,
            ),
            AuthMethod::KeyboardInteractive { submethods, .. } => {
                let kind = RequestKind::KeyboardInteractive {
                    submethods: submethods.to_string_lossy().into_owned(),
                };
                self.ask(now, method, PendingKind::Method, None, kind);
            }
            AuthMethod::HostBased {
                algorithm,
                public_key,
                client_host,
                client_user,
                signature,
            } => {
                let parsed = self.parse_key(&algorithm, &public_key);
                let verified = parsed.and_then(|(alg, key)| {
                    let data = hostbased_signed_data(
                        &self.session_id,
                        req.user.as_bytes(),
                        req.service.as_bytes(),
                        algorithm.as_bytes(),
                        &public_key,
                        client_host.as_bytes(),
                        client_user.as_bytes(),
                    );
                    key.public_key()
                        .verify(alg, &data, &signature, &self.config.verify_policy)
                        .ok()
                        .map(|_| (alg, key))
                });
                let (Some((algorithm, key)), Ok(host), Ok(cuser)) =
                    (verified, client_host.to_str(), client_user.to_str())
                else {
                    self.reject(now, now, Some(method));
                    return Ok(());
                };
                let pk = key.public_key().clone();
                let kind = RequestKind::HostBased {
                    key,
                    algorithm,
                    client_host: host.to_string(),
                    client_user: cuser.to_string(),
                };
                self.ask(now, method, PendingKind::Method, Some(pk), kind);
            }
            _ => self.reject(now, now, Some(method)),
        }
        Ok(())
    }

    fn parse_key(&self, algorithm: &Text, blob: &[u8]) -> Option<(SigAlg, KeyOrCert)> {
        let name = algorithm.to_str().ok()?;
        let (alg, key) = KeyOrCert::parse_for_algorithm(name, blob).ok()?;
        if alg.uses_sha1() && !self.config.verify_policy.allow_sha1 {
            return None;
        }
        key.public_key()
            .check_policy(&self.config.verify_policy)
            .ok()?;
        Some((alg, key))
    }

    fn on_publickey(
        &mut self,
        now: Instant,
        user: &Text,
        algorithm: Text,
        blob: Bytes,
        host_key: Option<Bytes>,
        signature: Option<Bytes>,
    ) {
        let method = Method::PublicKey;
        let hostbound = host_key.is_some();
        if host_key.as_ref().is_some_and(|h| *h != self.host_key) {
            self.reject(now, now, Some(method));
            return;
        }
        let Some((alg, key)) = self.parse_key(&algorithm, &blob) else {
            self.reject(now, now, Some(method));
            return;
        };
        match signature {
            None => {
                let kind = RequestKind::PublicKey {
                    key,
                    algorithm: alg,
                    signed: false,
                    hostbound,
                };
                self.ask(
                    now,
                    method,
                    PendingKind::Query { algorithm, blob },
                    None,
                    kind,
                );
            }
            Some(sig) => {
                // A key counts once (sshd's "key already used" for `publickey,publickey`).
                if self.keys.contains(key.public_key()) {
                    self.reject(now, now, Some(method));
                    return;
                }
                let service = self.config.service.clone();
                let data = publickey_signed_data(
                    &self.session_id,
                    user.as_bytes(),
                    service.as_bytes(),
                    algorithm.as_bytes(),
                    &blob,
                    host_key.as_deref(),
                );
                if key
                    .public_key()
                    .verify(alg, &data, &sig, &self.config.verify_policy)
                    .is_err()
                {
                    self.reject(now, now, Some(method));
                    return;
                }
                let pk = key.public_key().clone();
                let kind = RequestKind::PublicKey {
                    key,
                    algorithm: alg,
                    signed: true,
                    hostbound,
                };
                self.ask(now, method, PendingKind::Method, Some(pk), kind);
            }
        }
    }

    /// Answers a request. A token the state machine no longer waits for (the client moved
    /// on, or changed user) gives [`Error::StaleToken`], which is not fatal. A decision that
    /// does not fit the request (prompts for a password, ...) counts as [`Decision::Reject`].
    pub fn respond(
        &mut self,
        now: Instant,
        request: AuthRequest,
        decision: Decision,
    ) -> Result<()> {
        self.check()?;
        let Some(pending) = self.pending.take_if(|p| p.id == request.id) else {
            return Err(Error::StaleToken);
        };
        let method = pending.method;
        match (decision, pending.kind) {
            (
                Decision::Accept(_) | Decision::Partial(_),
                PendingKind::Query { algorithm, blob },
            ) => {
                self.out.push_back((
                    now,
                    Message::UserauthPkOk(UserauthPkOk {
                        algorithm,
                        public_key: blob,
                    }),
                ));
            }
            (Decision::Accept(grant), PendingKind::Method) => {
                self.needs_more = false;
                self.passed_method(now, method, grant, pending.key);
            }
            (Decision::Partial(grant), PendingKind::Method) => {
                self.needs_more = true;
                self.passed_method(now, method, grant, pending.key);
            }
            (Decision::ChangePassword { prompt }, PendingKind::Method)
                if method == Method::Password =>
            {
                self.out.push_back((
                    now,
                    Message::UserauthPasswdChangereq(UserauthPasswdChangereq {
                        prompt: Text::from(prompt),
                        language: Text::from(""),
                    }),
                ));
            }
            (Decision::Prompts(p), PendingKind::Method)
                if method == Method::KeyboardInteractive && p.prompts.len() <= MAX_PROMPTS =>
            {
                self.kbd_prompts = Some((p.prompts.len(), pending.started));
                self.out.push_back((
                    now,
                    Message::UserauthInfoRequest(UserauthInfoRequest {
                        name: Text::from(p.name),
                        instruction: Text::from(p.instruction),
                        language: Text::from(""),
                        prompts: p
                            .prompts
                            .into_iter()
                            .map(|(prompt, echo)| Prompt {
                                prompt: Text::from(prompt),
                                echo,
                            })
                            .collect(),
                    }),
                ));
            }
            _ => self.reject(now, pending.started, Some(method)),
        }
        self.check()
    }

    fn passed_method(
        &mut self,
        now: Instant,
        method: Method,
        grant: Grant,
        key: Option<PublicKey>,
    ) {
        // Without chains a method counts once; chains may repeat one (publickey,publickey).
        if !self.config.required.is_empty() || !self.passed.contains(&method) {
            self.passed.push(method);
        }
        self.grants.push(grant);
        if let Some(k) = key {
            self.keys.push(k);
        }
        if self.complete() {
            self.out
                .push_back((now, Message::UserauthSuccess(UserauthSuccess {})));
            self.family = None;
            let done = Authenticated {
                user: self.user.clone(),
                methods: self.passed.clone(),
                grants: self.grants.clone(),
                keys: self.keys.clone(),
            };
            self.done = Some(done.clone());
            self.events.push_back(ServerEvent::Authenticated(done));
        } else {
            let m = self.failure_message(true);
            self.out.push_back((now, m));
        }
    }

    /// Fires expired timers: the login grace time.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<()> {
        self.check()?;
        if self.done.is_none() && self.grace_deadline.is_some_and(|d| now >= d) {
            return Err(self.fail_fatal(now, Error::LoginGraceTimeout));
        }
        Ok(())
    }

    /// The next outbound message whose time has come.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Message> {
        match self.out.front() {
            Some((at, _)) if *at <= now => self.out.pop_front().map(|(_, m)| m),
            _ => None,
        }
    }

    /// The earliest time something is due: a held-back reply or the login grace deadline.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let reply = self.out.front().map(|(at, _)| *at);
        let grace = if self.done.is_none() && self.error.is_none() {
            self.grace_deadline
        } else {
            None
        };
        match (reply, grace) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }
}
