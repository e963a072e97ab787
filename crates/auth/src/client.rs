//! The client side: [`ClientAuth`], and the [`Signer`] trait that keeps signing pluggable.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::task::Poll;

use bytes::Bytes;
use rand_core::CryptoRng;
use whelk_keys::cert::{Certificate, KeyOrCert};
use whelk_keys::{KeyType, PrivateKey, SigAlg};
use whelk_wire::msg::{
    AuthFamily, AuthMethod, ExtInfo, Message, UserauthInfoResponse, UserauthRequest,
};
use whelk_wire::names;
use whelk_wire::types::{NameList, Text};
use zeroize::Zeroizing;

use crate::method::{disconnect, hostbased_signed_data, publickey_signed_data, sanitize};
use crate::{Error, Method, Result};

/// Something that signs for an identity: a private key in memory ([`KeySigner`]), an agent
/// connection, a hardware token.
pub trait Signer: core::fmt::Debug + Send {
    /// The key or certificate presented.
    fn identity(&self) -> &KeyOrCert;
    /// Signs `data` with `alg`, returning the wire signature blob.
    fn sign(
        &mut self,
        alg: SigAlg,
        data: &[u8],
    ) -> core::result::Result<Vec<u8>, whelk_keys::Error>;

    /// Signs without making the caller wait, for signers whose answer comes later (an
    /// ssh-agent on a socket, a hardware token). [`ClientAuth`] signs a publickey request
    /// through this method: on [`Poll::Pending`] it sends nothing and calls again, with
    /// the same arguments, from each [`ClientAuth::poll_transmit`] until the answer is
    /// [`Poll::Ready`]. A signer returning `Pending` must itself make its driver call
    /// `poll_transmit` again once the answer is in (no waker crosses this sans-IO API).
    ///
    /// The default signs at once with [`Signer::sign`].
    fn poll_sign(
        &mut self,
        alg: SigAlg,
        data: &[u8],
    ) -> Poll<core::result::Result<Vec<u8>, whelk_keys::Error>> {
        Poll::Ready(self.sign(alg, data))
    }
}

/// A [`Signer`] over a [`PrivateKey`] (optionally presented with its certificate).
pub struct KeySigner<R> {
    key: PrivateKey,
    identity: KeyOrCert,
    rng: R,
    allow_sha1: bool,
}

impl<R> core::fmt::Debug for KeySigner<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeySigner")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl<R: CryptoRng> KeySigner<R> {
    /// Signs with `key`, presenting the plain public key. `rng` hedges ECDSA nonces and
    /// blinds RSA.
    pub fn new(key: PrivateKey, rng: R) -> Self {
        let identity = KeyOrCert::Key(key.public_key().clone());
        Self {
            key,
            identity,
            rng,
            allow_sha1: false,
        }
    }

    /// Signs with `key`, presenting `cert` (which must certify `key`'s public key).
    pub fn with_certificate(key: PrivateKey, cert: Certificate, rng: R) -> Self {
        Self {
            key,
            identity: KeyOrCert::Certificate(Box::new(cert)),
            rng,
            allow_sha1: false,
        }
    }

    /// Lets this signer make `ssh-rsa` (SHA-1) signatures when asked.
    #[must_use]
    pub fn allowing_sha1(mut self) -> Self {
        self.allow_sha1 = true;
        self
    }
}

impl<R: CryptoRng + Send> Signer for KeySigner<R> {
    fn identity(&self) -> &KeyOrCert {
        &self.identity
    }

    fn sign(
        &mut self,
        alg: SigAlg,
        data: &[u8],
    ) -> core::result::Result<Vec<u8>, whelk_keys::Error> {
        if self.allow_sha1 {
            self.key.sign_allowing_sha1(alg, data, &mut self.rng)
        } else {
            self.key.sign(alg, data, &mut self.rng)
        }
    }
}

/// A `hostbased` identity: the client host's key and names.
#[derive(Debug)]
pub struct HostbasedIdentity {
    /// Signs with the host key.
    pub signer: Box<dyn Signer>,
    /// This host's name (FQDN with a trailing dot, as OpenSSH sends it).
    pub client_host: String,
    /// The local user name.
    pub client_user: String,
}

/// Client configuration.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The user to log in as.
    pub user: String,
    /// The service after authentication.
    pub service: String,
    /// Methods in the order to try them (default: publickey, keyboard-interactive, password,
    /// like OpenSSH's `PreferredAuthentications`; hostbased only when listed).
    pub methods: Vec<Method>,
    /// Refuse a session the server grants without real authentication (catalog M04).
    pub require_auth: bool,
    /// Allow `ssh-rsa` (SHA-1) signatures when the server lists nothing better.
    pub allow_sha1: bool,
    /// Password prompts per connection (OpenSSH `NumberOfPasswordPrompts`).
    pub password_attempts: u32,
    /// Keyboard-interactive attempts per connection.
    pub kbd_attempts: u32,
    /// Keyboard-interactive submethods hint.
    pub submethods: String,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            user: String::new(),
            service: names::SERVICE_CONNECTION.to_string(),
            methods: alloc::vec![
                Method::PublicKey,
                Method::KeyboardInteractive,
                Method::Password
            ],
            require_auth: false,
            allow_sha1: false,
            password_attempts: 3,
            kbd_attempts: 3,
            submethods: String::new(),
        }
    }
}

/// What the client needs from the application.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PromptKind {
    /// A password for [`ClientConfig::user`].
    Password,
    /// The server wants a new password (answer [`Answer::ChangePassword`]).
    ChangePassword {
        /// The server's prompt (sanitized).
        prompt: String,
    },
    /// Keyboard-interactive prompts (all text sanitized); answer [`Answer::Responses`].
    KeyboardInteractive {
        /// Title.
        name: String,
        /// Instruction.
        instruction: String,
        /// `(prompt, echo)` pairs.
        prompts: Vec<(String, bool)>,
    },
}

/// A request for credentials: answer with [`ClientAuth::respond`].
#[must_use = "answer the request with ClientAuth::respond"]
#[derive(Debug)]
pub struct CredentialRequest {
    id: u64,
    /// What is asked.
    pub kind: PromptKind,
}

/// The application's answer to a [`CredentialRequest`]. `Debug` never shows secrets.
#[derive(Clone)]
#[non_exhaustive]
pub enum Answer {
    /// The password.
    Password(Zeroizing<String>),
    /// Old and new password for a change request.
    ChangePassword {
        /// The current password.
        old: Zeroizing<String>,
        /// The new password.
        new: Zeroizing<String>,
    },
    /// One response per keyboard-interactive prompt.
    Responses(Vec<Zeroizing<String>>),
    /// Skip this method and try the next one.
    Skip,
    /// Give up (disconnects with `AUTH_CANCELLED_BY_USER`).
    Cancel,
}

impl core::fmt::Debug for Answer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Password(_) => f.write_str("Password(<redacted>)"),
            Self::ChangePassword { .. } => f.write_str("ChangePassword(<redacted>)"),
            Self::Responses(r) => write!(f, "Responses({} redacted)", r.len()),
            Self::Skip => f.write_str("Skip"),
            Self::Cancel => f.write_str("Cancel"),
        }
    }
}

/// What [`ClientAuth::poll_event`] yields.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientEvent {
    /// A banner from the server (sanitized: show it attributed to the server).
    Banner(String),
    /// Credentials are needed.
    Credentials(CredentialRequest),
    /// The server accepted an earlier method but wants more (partial success).
    PartialSuccess {
        /// What the server says can continue.
        methods: Vec<String>,
    },
    /// Authentication succeeded.
    Authenticated {
        /// The methods that were used, in order.
        methods: Vec<Method>,
    },
}

#[derive(Debug)]
enum State {
    Idle,
    None,
    PkQuery {
        alg: SigAlg,
        name: Text,
        blob: Bytes,
    },
    /// The server accepted the key; the signer has not answered yet.
    PkSigning {
        alg: SigAlg,
        name: Text,
        blob: Bytes,
        host_key: Option<Bytes>,
        data: Vec<u8>,
    },
    PkSigned,
    AwaitAnswer {
        id: u64,
    },
    Password,
    Kbd {
        rounds: u32,
    },
    HostBased,
    Done,
}

/// The client's user-authentication state machine for one connection.
///
/// Call [`ClientAuth::start`] once the transport's `ssh-userauth` service was accepted (and
/// after any `EXT_INFO` went to [`ClientAuth::handle_ext_info`]), then feed each decoded
/// message to [`ClientAuth::handle_message`] (decode 60-79 with [`ClientAuth::context`]),
/// answer [`ClientEvent::Credentials`] with [`ClientAuth::respond`], and drain
/// [`ClientAuth::poll_transmit`] and [`ClientAuth::poll_event`].
pub struct ClientAuth {
    config: ClientConfig,
    session_id: Bytes,
    host_key: Option<Bytes>,
    server_sig_algs: Option<NameList>,
    hostbound: bool,
    identities: Vec<Box<dyn Signer>>,
    next_identity: usize,
    current_identity: usize,
    hostbased: Option<HostbasedIdentity>,
    hostbased_tried: bool,
    out: VecDeque<Message>,
    events: VecDeque<ClientEvent>,
    error: Option<Error>,
    state: State,
    server_methods: NameList,
    exhausted: Vec<Method>,
    password_tries: u32,
    kbd_tries: u32,
    family: Option<AuthFamily>,
    next_id: u64,
    real_auth: bool,
    proven: bool,
    used: Vec<Method>,
    last_method: Option<Method>,
}

impl core::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Queued requests may hold a password: only the state is shown.
        f.debug_struct("ClientAuth")
            .field("user", &self.config.user)
            .field("state", &self.state)
            .field("identities", &self.identities.len())
            .field("queued", &self.out.len())
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl ClientAuth {
    /// A new state machine. `session_id` is the first exchange hash; `host_key` the server's
    /// host key blob from key exchange (used for `publickey-hostbound-v00@openssh.com` when
    /// the server announces it).
    #[must_use]
    pub fn new(config: ClientConfig, session_id: Bytes, host_key: Option<Bytes>) -> Self {
        Self {
            config,
            session_id,
            host_key,
            server_sig_algs: None,
            hostbound: false,
            identities: Vec::new(),
            next_identity: 0,
            current_identity: 0,
            hostbased: None,
            hostbased_tried: false,
            out: VecDeque::new(),
            events: VecDeque::new(),
            error: None,
            state: State::Idle,
            server_methods: NameList::empty(),
            exhausted: Vec::new(),
            password_tries: 0,
            kbd_tries: 0,
            family: None,
            next_id: 0,
            real_auth: false,
            proven: false,
            used: Vec::new(),
            last_method: None,
        }
    }

    /// Adds a publickey identity (tried in the order added).
    pub fn add_identity(&mut self, signer: Box<dyn Signer>) {
        self.identities.push(signer);
    }

    /// Sets the hostbased identity.
    pub fn set_hostbased(&mut self, identity: HostbasedIdentity) {
        self.hostbased = Some(identity);
    }

    /// Takes `server-sig-algs` and `publickey-hostbound@openssh.com` from the server's
    /// `SSH_MSG_EXT_INFO` (RFC 8308).
    pub fn handle_ext_info(&mut self, ext: &ExtInfo) {
        if let Some(v) = ext.get(names::EXT_SERVER_SIG_ALGS) {
            self.server_sig_algs = core::str::from_utf8(v)
                .ok()
                .and_then(|s| NameList::parse(s).ok());
        }
        if ext.get(names::EXT_PUBLICKEY_HOSTBOUND).is_some() {
            self.hostbound = true;
        }
    }

    /// Sets `server-sig-algs` directly.
    pub fn set_server_sig_algs(&mut self, algs: Option<NameList>) {
        self.server_sig_algs = algs;
    }

    /// What numbers 60-79 mean for the next inbound message.
    #[must_use]
    pub fn context(&self) -> Option<AuthFamily> {
        self.family
    }

    /// Whether authentication succeeded.
    #[must_use]
    pub fn is_authenticated(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// The latched fatal error, if any.
    #[must_use]
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// The signature algorithm for a key: RSA picks `rsa-sha2-512`, then `rsa-sha2-256` from
    /// `server-sig-algs`; `ssh-rsa` only when allowed and the server lists nothing better. With
    /// no `server-sig-algs` (EXT_INFO missing or stripped), RSA still uses `rsa-sha2-512`
    /// (catalog M09).
    #[must_use]
    pub fn choose_algorithm(&self, key_type: KeyType) -> Option<SigAlg> {
        if key_type != KeyType::Rsa {
            return Some(key_type.default_signature_algorithm());
        }
        let Some(list) = &self.server_sig_algs else {
            return Some(SigAlg::RsaSha2_512);
        };
        [SigAlg::RsaSha2_512, SigAlg::RsaSha2_256]
            .into_iter()
            .find(|a| list.contains(a.name()))
            .or_else(|| {
                (self.config.allow_sha1 && list.contains(SigAlg::SshRsa.name()))
                    .then_some(SigAlg::SshRsa)
            })
    }

    fn fail(&mut self, e: Error) -> Error {
        if self.error.is_none() {
            self.out.push_back(disconnect(&e));
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

    fn request(&self, method: AuthMethod) -> Message {
        Message::UserauthRequest(UserauthRequest {
            user: Text::from(self.config.user.clone()),
            service: Text::from(self.config.service.clone()),
            method,
        })
    }

    fn send(&mut self, method: Method, m: AuthMethod) {
        // Whether this attempt proves anything is decided per request (catalog M04).
        self.real_auth = false;
        self.family = method.family();
        self.last_method = Some(method);
        let msg = self.request(m);
        self.out.push_back(msg);
    }

    /// Starts: sends the `none` request that learns the server's methods.
    pub fn start(&mut self) -> Result<()> {
        self.check()?;
        if matches!(self.state, State::Idle) {
            self.send(Method::None, AuthMethod::None);
            self.state = State::None;
        }
        Ok(())
    }

    /// Feeds one decoded message from the server.
    pub fn handle_message(&mut self, msg: Message) -> Result<()> {
        self.check()?;
        let number = msg.number().0;
        if matches!(self.state, State::Done) {
            if (50..80).contains(&number) {
                return Err(self.fail(Error::UnexpectedMessage { number }));
            }
            return Ok(());
        }
        match msg {
            Message::Ignore(_) | Message::Debug(_) | Message::Unimplemented(_) => Ok(()),
            Message::UserauthBanner(b) => {
                self.events
                    .push_back(ClientEvent::Banner(sanitize(b.message.as_bytes())));
                Ok(())
            }
            Message::UserauthSuccess(_) => self.on_success(),
            Message::UserauthFailure(f) => self.on_failure(f.methods, f.partial_success),
            Message::UserauthPkOk(ok) => self.on_pk_ok(&ok.algorithm, &ok.public_key),
            Message::UserauthPasswdChangereq(c) if matches!(self.state, State::Password) => {
                self.ask(PromptKind::ChangePassword {
                    prompt: sanitize(c.prompt.as_bytes()),
                });
                Ok(())
            }
            Message::UserauthInfoRequest(r) if matches!(self.state, State::Kbd { .. }) => {
                if r.prompts.is_empty() {
                    // OpenSSH answers an empty round at once; it proves nothing.
                    self.out
                        .push_back(Message::UserauthInfoResponse(UserauthInfoResponse {
                            responses: Vec::new(),
                        }));
                    return Ok(());
                }
                if let State::Kbd { rounds } = &mut self.state {
                    *rounds = rounds.saturating_add(1);
                }
                let prompts = r
                    .prompts
                    .iter()
                    .map(|p| (sanitize(p.prompt.as_bytes()), p.echo))
                    .collect();
                self.ask_kbd(PromptKind::KeyboardInteractive {
                    name: sanitize(r.name.as_bytes()),
                    instruction: sanitize(r.instruction.as_bytes()),
                    prompts,
                });
                Ok(())
            }
            other => {
                let e = if number >= 80 {
                    Error::ConnectionMessageBeforeAuth { number }
                } else {
                    match other {
                        Message::UserauthPkOk(_) => Error::Unsolicited("PK_OK"),
                        _ => Error::UnexpectedMessage { number },
                    }
                };
                Err(self.fail(e))
            }
        }
    }

    fn ask(&mut self, kind: PromptKind) {
        self.next_id = self.next_id.wrapping_add(1);
        let id = self.next_id;
        self.state = State::AwaitAnswer { id };
        self.events
            .push_back(ClientEvent::Credentials(CredentialRequest { id, kind }));
    }

    fn ask_kbd(&mut self, kind: PromptKind) {
        self.ask(kind);
    }

    fn on_success(&mut self) -> Result<()> {
        if matches!(self.state, State::Idle | State::AwaitAnswer { .. }) {
            return Err(self.fail(Error::Unsolicited("USERAUTH_SUCCESS")));
        }
        if matches!(self.state, State::PkQuery { .. } | State::PkSigning { .. }) {
            // A query is not an authentication attempt.
            return Err(self.fail(Error::Unsolicited("USERAUTH_SUCCESS")));
        }
        // Real: this very attempt carried a credential, or an earlier one got partial success.
        let real = self.proven || (self.real_auth && !matches!(self.state, State::None));
        if self.config.require_auth && !real {
            return Err(self.fail(Error::TrivialAuth));
        }
        if let Some(m) = self.last_method {
            self.used.push(m);
        }
        self.state = State::Done;
        self.family = None;
        self.events.push_back(ClientEvent::Authenticated {
            methods: self.used.clone(),
        });
        Ok(())
    }

    fn on_failure(&mut self, methods: NameList, partial: bool) -> Result<()> {
        match &self.state {
            State::Idle | State::AwaitAnswer { .. } | State::Done => {
                return Err(self.fail(Error::Unsolicited("USERAUTH_FAILURE")));
            }
            State::PkQuery { .. } | State::PkSigning { .. } | State::PkSigned => {
                if !partial {
                    self.current_identity = self.next_identity;
                }
            }
            State::Kbd { rounds } => {
                if *rounds == 0 {
                    self.exhausted.push(Method::KeyboardInteractive);
                }
            }
            State::HostBased => self.hostbased_tried = true,
            State::None | State::Password => {}
        }
        if partial {
            self.proven |= self.real_auth;
            if let Some(m) = self.last_method {
                self.used.push(m);
            }
            self.events.push_back(ClientEvent::PartialSuccess {
                methods: methods.iter().map(ToString::to_string).collect(),
            });
        }
        self.server_methods = methods;
        self.next_method()
    }

    fn on_pk_ok(&mut self, algorithm: &Text, blob: &Bytes) -> Result<()> {
        let State::PkQuery {
            alg,
            name,
            blob: sent,
        } = &self.state
        else {
            return Err(self.fail(Error::Unsolicited("PK_OK")));
        };
        if name != algorithm || sent != blob {
            return Err(self.fail(Error::Unsolicited("PK_OK")));
        }
        let (alg, name, blob) = (*alg, name.clone(), blob.clone());
        let host_key = self.hostbound_key();
        let data = publickey_signed_data(
            &self.session_id,
            self.config.user.as_bytes(),
            self.config.service.as_bytes(),
            name.as_bytes(),
            &blob,
            host_key.as_deref(),
        );
        self.state = State::PkSigning {
            alg,
            name,
            blob,
            host_key,
            data,
        };
        self.poll_signature()
    }

    /// Asks the current identity's signer for the pending signature; sends the signed
    /// request once it is there, or moves on to the next identity if it cannot sign.
    fn poll_signature(&mut self) -> Result<()> {
        let State::PkSigning { alg, data, .. } = &self.state else {
            return Ok(());
        };
        let sig = match self.identities.get_mut(self.current_identity) {
            Some(signer) => signer.poll_sign(*alg, data),
            None => Poll::Ready(Err(whelk_keys::Error::CannotSign("no such identity"))),
        };
        let Poll::Ready(sig) = sig else {
            return Ok(());
        };
        let State::PkSigning {
            name,
            blob,
            host_key,
            ..
        } = core::mem::replace(&mut self.state, State::PkSigned)
        else {
            return Ok(());
        };
        match sig {
            Ok(sig) => {
                let signature = Some(Bytes::from(sig));
                let m = match host_key {
                    Some(host_key) => AuthMethod::PublicKeyHostbound {
                        algorithm: name,
                        public_key: blob,
                        host_key,
                        signature,
                    },
                    None => AuthMethod::PublicKey {
                        algorithm: name,
                        public_key: blob,
                        signature,
                    },
                };
                self.send(Method::PublicKey, m);
                self.real_auth = true;
                Ok(())
            }
            Err(_) => {
                // This signer cannot sign: try the next identity.
                self.current_identity = self.next_identity;
                self.next_method()
            }
        }
    }

    fn hostbound_key(&self) -> Option<Bytes> {
        if self.hostbound {
            self.host_key.clone()
        } else {
            None
        }
    }

    fn next_method(&mut self) -> Result<()> {
        let order = self.config.methods.clone();
        for m in order {
            if self.exhausted.contains(&m) || !self.server_methods.contains(m.name()) {
                continue;
            }
            match m {
                Method::PublicKey => {
                    if self.try_next_identity() {
                        return Ok(());
                    }
                }
                Method::Password => {
                    if self.password_tries < self.config.password_attempts {
                        self.password_tries += 1;
                        self.ask(PromptKind::Password);
                        return Ok(());
                    }
                }
                Method::KeyboardInteractive => {
                    if self.kbd_tries < self.config.kbd_attempts {
                        self.kbd_tries += 1;
                        let sub = self.config.submethods.clone();
                        self.send(
                            m,
                            AuthMethod::KeyboardInteractive {
                                language: Text::from(""),
                                submethods: Text::from(sub),
                            },
                        );
                        self.state = State::Kbd { rounds: 0 };
                        return Ok(());
                    }
                }
                Method::HostBased => {
                    if !self.hostbased_tried && self.send_hostbased() {
                        return Ok(());
                    }
                }
                Method::None => {}
            }
            self.exhausted.push(m);
        }
        let server_methods = self.server_methods.to_string();
        Err(self.fail(Error::NoMoreMethods { server_methods }))
    }

    fn try_next_identity(&mut self) -> bool {
        while let Some(signer) = self.identities.get(self.next_identity) {
            let idx = self.next_identity;
            self.next_identity += 1;
            let id = signer.identity();
            let Some(alg) = self.choose_algorithm(id.public_key().key_type()) else {
                continue;
            };
            let name = match id {
                KeyOrCert::Key(_) => alg.name(),
                KeyOrCert::Certificate(_) => alg.cert_name(),
            };
            let blob = Bytes::copy_from_slice(id.blob());
            let name = Text::from(name);
            let m = match self.hostbound_key() {
                Some(host_key) => AuthMethod::PublicKeyHostbound {
                    algorithm: name.clone(),
                    public_key: blob.clone(),
                    host_key,
                    signature: None,
                },
                None => AuthMethod::PublicKey {
                    algorithm: name.clone(),
                    public_key: blob.clone(),
                    signature: None,
                },
            };
            self.current_identity = idx;
            self.send(Method::PublicKey, m);
            self.state = State::PkQuery { alg, name, blob };
            return true;
        }
        false
    }

    fn send_hostbased(&mut self) -> bool {
        self.hostbased_tried = true;
        let Some(hb) = self.hostbased.as_mut() else {
            return false;
        };
        let kt = hb.signer.identity().public_key().key_type();
        let alg = if kt == KeyType::Rsa {
            SigAlg::RsaSha2_512
        } else {
            kt.default_signature_algorithm()
        };
        let name = match hb.signer.identity() {
            KeyOrCert::Key(_) => alg.name(),
            KeyOrCert::Certificate(_) => alg.cert_name(),
        };
        let blob = Bytes::copy_from_slice(hb.signer.identity().blob());
        let data = hostbased_signed_data(
            &self.session_id,
            self.config.user.as_bytes(),
            self.config.service.as_bytes(),
            name.as_bytes(),
            &blob,
            hb.client_host.as_bytes(),
            hb.client_user.as_bytes(),
        );
        let Ok(sig) = hb.signer.sign(alg, &data) else {
            return false;
        };
        let m = AuthMethod::HostBased {
            algorithm: Text::from(name),
            public_key: blob,
            client_host: Text::from(hb.client_host.clone()),
            client_user: Text::from(hb.client_user.clone()),
            signature: Bytes::from(sig),
        };
        self.send(Method::HostBased, m);
        self.real_auth = true;
        self.state = State::HostBased;
        true
    }

    /// Answers a [`CredentialRequest`].
    pub fn respond(&mut self, request: CredentialRequest, answer: Answer) -> Result<()> {
        self.check()?;
        match self.state {
            State::AwaitAnswer { id } if id == request.id => {}
            _ => return Err(Error::StaleToken),
        }
        match (request.kind, answer) {
            (_, Answer::Cancel) => Err(self.fail(Error::Cancelled)),
            (PromptKind::Password | PromptKind::ChangePassword { .. }, Answer::Skip) => {
                self.exhausted.push(Method::Password);
                self.next_method()
            }
            (PromptKind::KeyboardInteractive { .. }, Answer::Skip) => {
                self.exhausted.push(Method::KeyboardInteractive);
                self.next_method()
            }
            (PromptKind::Password, Answer::Password(p)) => {
                let password = Bytes::copy_from_slice(p.as_bytes());
                self.send(
                    Method::Password,
                    AuthMethod::Password {
                        password,
                        new_password: None,
                    },
                );
                self.real_auth = true;
                self.state = State::Password;
                Ok(())
            }
            (PromptKind::ChangePassword { .. }, Answer::ChangePassword { old, new }) => {
                self.send(
                    Method::Password,
                    AuthMethod::Password {
                        password: Bytes::copy_from_slice(old.as_bytes()),
                        new_password: Some(Bytes::copy_from_slice(new.as_bytes())),
                    },
                );
                self.real_auth = true;
                self.state = State::Password;
                Ok(())
            }
            (PromptKind::KeyboardInteractive { prompts, .. }, Answer::Responses(r)) => {
                if r.len() != prompts.len() {
                    return Err(self.fail(Error::BadAnswer("one response per prompt")));
                }
                let responses = r
                    .iter()
                    .map(|s| Bytes::copy_from_slice(s.as_bytes()))
                    .collect();
                self.out
                    .push_back(Message::UserauthInfoResponse(UserauthInfoResponse {
                        responses,
                    }));
                self.real_auth = true;
                self.state = State::Kbd { rounds: 1 };
                Ok(())
            }
            _ => Err(self.fail(Error::BadAnswer("answer of the wrong kind"))),
        }
    }

    /// The next outbound message. While a [`Signer::poll_sign`] is pending, this asks the
    /// signer again first.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Message> {
        if self.error.is_none() && matches!(self.state, State::PkSigning { .. }) {
            // A failure is latched and its DISCONNECT queued: nothing else to report.
            let _ = self.poll_signature();
        }
        self.out.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }
}
