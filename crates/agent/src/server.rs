//! The agent side: the key store ([`Agent`]) and the per-connection state machine
//! ([`ServerConnection`]) that turns request bytes into reply bytes.
//!
//! Nothing here reads a clock or does I/O: time comes in as seconds on any monotonic scale
//! (lifetimes are relative to it), randomness as a [`CryptoRng`], and the user's answer to a
//! confirmation as a [`Confirm`] callback. [`ServerConnection`] works over any byte stream:
//! a UNIX socket ([`crate::unix`]) or, later, a forwarded `auth-agent@openssh.com` channel.

use bytes::Bytes;
use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use whelk_keys::cert::KeyOrCert;
use whelk_keys::{HashAlg, KeyType, PrivateKey, SigAlg, VerifyPolicy};
use whelk_wire::msg::SessionBind;
use zeroize::Zeroizing;

use crate::error::Result;
use crate::proto::{
    AddIdentity, Constraint, Deframer, EXT_QUERY, EXT_SESSION_BIND, Identity, MAX_IDENTITIES,
    Request, Response, SIGN_RSA_SHA2_256, SIGN_RSA_SHA2_512, encode_query_reply,
};

/// The most session bindings one connection records (OpenSSH `AGENT_MAX_SESSION_IDS`).
pub const MAX_SESSION_BINDS: usize = 16;

/// The longest wait after failed unlock attempts, in seconds (the wait grows by one second
/// per failure up to this).
pub const MAX_UNLOCK_DELAY: u64 = 10;

/// What a confirmation prompt is about.
#[derive(Debug, Clone)]
pub struct ConfirmRequest {
    /// The identity's comment.
    pub comment: String,
    /// The key type.
    pub key_type: KeyType,
    /// The key's SHA-256 fingerprint.
    pub fingerprint: String,
}

impl ConfirmRequest {
    /// The prompt text `ssh-agent` shows.
    #[must_use]
    pub fn prompt(&self) -> String {
        format!(
            "Allow use of key {}?\nKey fingerprint {}.",
            self.comment, self.fingerprint
        )
    }
}

/// Asks the user whether a key added with the confirm constraint may be used.
pub trait Confirm {
    /// `true` allows this one use.
    fn confirm(&mut self, request: &ConfirmRequest) -> bool;
}

impl<F: FnMut(&ConfirmRequest) -> bool> Confirm for F {
    fn confirm(&mut self, request: &ConfirmRequest) -> bool {
        self(request)
    }
}

/// A [`Confirm`] that refuses every use (for agents with no way to ask).
#[derive(Debug, Clone, Copy, Default)]
pub struct DenyAll;

impl Confirm for DenyAll {
    fn confirm(&mut self, _request: &ConfirmRequest) -> bool {
        false
    }
}

/// What the server state machine needs from its environment for one call.
pub struct Env<'a> {
    /// The current time in seconds on the same scale as every earlier call.
    pub now: u64,
    /// Randomness for ECDSA nonce hedging and RSA blinding.
    pub rng: &'a mut dyn CryptoRng,
    /// The confirmation prompt.
    pub confirm: &'a mut dyn Confirm,
}

impl core::fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Env")
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

struct Entry {
    key: PrivateKey,
    blob: Bytes,
    comment: Bytes,
    expires_at: Option<u64>,
    confirm: bool,
}

impl Entry {
    fn confirm_request(&self) -> ConfirmRequest {
        ConfirmRequest {
            comment: String::from_utf8_lossy(&self.comment).into_owned(),
            key_type: self.key.key_type(),
            fingerprint: self.key.fingerprint(HashAlg::Sha256).to_string(),
        }
    }
}

/// The agent's key store: identities in memory only (each private key zeroized when it is
/// removed, expires or the agent is dropped), the lock, lifetimes and options.
pub struct Agent {
    ids: Vec<Entry>,
    lock: Option<Zeroizing<Vec<u8>>>,
    failed_unlocks: u64,
    unlock_not_before: u64,
    default_lifetime: Option<u32>,
    allow_ssh_rsa: bool,
}

impl core::fmt::Debug for Agent {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Agent")
            .field("identities", &self.ids.len())
            .field("locked", &self.lock.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for Agent {
    fn default() -> Self {
        Self::new()
    }
}

/// One connection's session bindings (`session-bind@openssh.com`).
#[derive(Debug, Clone, Default)]
pub struct Session {
    binds: Vec<SessionBind>,
}

impl Session {
    /// The bindings recorded on this connection, oldest first.
    #[must_use]
    pub fn binds(&self) -> &[SessionBind] {
        &self.binds
    }
}

impl Agent {
    /// An empty, unlocked agent.
    #[must_use]
    pub fn new() -> Self {
        Self {
            ids: Vec::new(),
            lock: None,
            failed_unlocks: 0,
            unlock_not_before: 0,
            default_lifetime: None,
            allow_ssh_rsa: false,
        }
    }

    /// The lifetime given to keys added without one (`ssh-agent -t`).
    pub fn set_default_lifetime(&mut self, seconds: Option<u32>) {
        self.default_lifetime = seconds;
    }

    /// Whether RSA keys sign with `ssh-rsa` (SHA-1) when a request sets neither RSA SHA-2
    /// flag. Off by default (such requests fail); OpenSSH's agent allows it.
    pub fn set_allow_ssh_rsa(&mut self, allow: bool) {
        self.allow_ssh_rsa = allow;
    }

    /// How many identities are held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no identities are held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Whether the agent is locked.
    #[must_use]
    pub fn is_locked(&self) -> bool {
        self.lock.is_some()
    }

    /// Removes (and zeroizes) every key whose lifetime has ended; returns how many.
    pub fn expire(&mut self, now: u64) -> usize {
        let before = self.ids.len();
        self.ids
            .retain(|e| e.expires_at.is_none_or(|deadline| now < deadline));
        before - self.ids.len()
    }

    /// The earliest time a key expires, for a driver's timer.
    #[must_use]
    pub fn next_expiry(&self) -> Option<u64> {
        self.ids.iter().filter_map(|e| e.expires_at).min()
    }

    /// The identities a client would be shown (none while locked).
    #[must_use]
    pub fn identities(&self) -> Vec<Identity> {
        if self.is_locked() {
            return Vec::new();
        }
        self.ids
            .iter()
            .take(MAX_IDENTITIES)
            .map(|e| Identity {
                key_blob: e.blob.clone(),
                comment: e.comment.clone(),
            })
            .collect()
    }

    /// Adds an identity, as `SSH_AGENTC_ADD_ID_CONSTRAINED` would. Returns `false` (and
    /// adds nothing) when the agent is locked, full, or a constraint is not supported.
    #[must_use]
    pub fn add(&mut self, add: AddIdentity, now: u64) -> bool {
        if self.is_locked() {
            return false;
        }
        let mut lifetime = self.default_lifetime;
        let mut confirm = false;
        for c in &add.constraints {
            match c {
                Constraint::Lifetime(secs) => lifetime = Some(*secs),
                Constraint::Confirm => confirm = true,
                // Destination restrictions, security-key providers and other extensions
                // are not implemented: refuse rather than hold a key with fewer limits
                // than the user asked for.
                Constraint::Extension { .. } => return false,
            }
        }
        let AddIdentity {
            key,
            certificate,
            comment,
            ..
        } = add;
        let blob = match &certificate {
            Some(cert) => {
                if cert.public_key() != key.public_key() {
                    return false;
                }
                Bytes::copy_from_slice(cert.blob())
            }
            None => Bytes::copy_from_slice(key.public_key().blob()),
        };
        let entry = Entry {
            key,
            blob,
            comment,
            expires_at: lifetime.map(|s| now.saturating_add(u64::from(s))),
            confirm,
        };
        if let Some(existing) = self.ids.iter_mut().find(|e| e.blob == entry.blob) {
            // Re-adding replaces the comment and constraints (as ssh-agent does).
            *existing = entry;
            return true;
        }
        if self.ids.len() >= MAX_IDENTITIES {
            return false;
        }
        self.ids.push(entry);
        true
    }

    /// Removes the identity with this blob; `false` if there is none (or locked).
    #[must_use]
    pub fn remove(&mut self, key_blob: &[u8]) -> bool {
        if self.is_locked() {
            return false;
        }
        let before = self.ids.len();
        self.ids.retain(|e| e.blob.as_ref() != key_blob);
        before != self.ids.len()
    }

    /// Removes every identity; `false` while locked.
    #[must_use]
    pub fn remove_all(&mut self) -> bool {
        if self.is_locked() {
            return false;
        }
        self.ids.clear();
        true
    }

    fn sign(&self, key_blob: &[u8], data: &[u8], flags: u32, env: &mut Env<'_>) -> Response {
        if self.is_locked() {
            return Response::Failure;
        }
        let Some(entry) = self.ids.iter().find(|e| e.blob.as_ref() == key_blob) else {
            return Response::Failure;
        };
        let key_type = entry.key.key_type();
        let alg = if key_type == KeyType::Rsa {
            if flags & SIGN_RSA_SHA2_512 != 0 {
                SigAlg::RsaSha2_512
            } else if flags & SIGN_RSA_SHA2_256 != 0 {
                SigAlg::RsaSha2_256
            } else if self.allow_ssh_rsa {
                SigAlg::SshRsa
            } else {
                return Response::Failure;
            }
        } else {
            key_type.default_signature_algorithm()
        };
        if entry.confirm && !env.confirm.confirm(&entry.confirm_request()) {
            return Response::Failure;
        }
        match entry.key.sign_allowing_sha1(alg, data, &mut *env.rng) {
            Ok(sig) => Response::Signature(Bytes::from(sig)),
            Err(_) => Response::Failure,
        }
    }

    fn lock(&mut self, passphrase: Zeroizing<Vec<u8>>) -> bool {
        if self.is_locked() {
            return false;
        }
        self.lock = Some(passphrase);
        self.failed_unlocks = 0;
        true
    }

    fn unlock(&mut self, passphrase: &[u8], now: u64) -> bool {
        let Some(stored) = &self.lock else {
            return false;
        };
        if now < self.unlock_not_before {
            return false;
        }
        if bool::from(stored.as_slice().ct_eq(passphrase)) {
            self.lock = None;
            self.failed_unlocks = 0;
            self.unlock_not_before = 0;
            true
        } else {
            // Slow down guessing: each failure adds a second before the next attempt is
            // considered, up to MAX_UNLOCK_DELAY.
            self.failed_unlocks = self.failed_unlocks.saturating_add(1);
            self.unlock_not_before = now.saturating_add(self.failed_unlocks.min(MAX_UNLOCK_DELAY));
            false
        }
    }

    fn session_bind(&self, session: &mut Session, contents: &Bytes) -> Response {
        let Ok(bind) = SessionBind::decode(contents) else {
            return Response::Failure;
        };
        let Ok(host_key) = KeyOrCert::from_blob(&bind.host_key) else {
            return Response::Failure;
        };
        if host_key
            .public_key()
            .verify_any(&bind.session_id, &bind.signature, &VerifyPolicy::default())
            .is_err()
        {
            return Response::Failure;
        }
        for b in &session.binds {
            if !b.is_forwarding {
                // A connection used for authentication is never rebound.
                return Response::Failure;
            }
            if b.session_id == bind.session_id {
                return if b.host_key == bind.host_key {
                    Response::Success
                } else {
                    Response::Failure
                };
            }
        }
        if session.binds.len() >= MAX_SESSION_BINDS {
            return Response::Failure;
        }
        session.binds.push(bind);
        Response::Success
    }

    /// Answers one request. Expired keys are removed first.
    pub fn handle(
        &mut self,
        request: Request,
        session: &mut Session,
        env: &mut Env<'_>,
    ) -> Response {
        self.expire(env.now);
        let ok = |b: bool| {
            if b {
                Response::Success
            } else {
                Response::Failure
            }
        };
        match request {
            Request::RequestIdentities => Response::Identities(self.identities()),
            Request::Sign {
                key_blob,
                data,
                flags,
            } => self.sign(&key_blob, &data, flags, env),
            Request::Add(add) => ok(self.add(*add, env.now)),
            Request::Remove { key_blob } => ok(self.remove(&key_blob)),
            Request::RemoveAll => ok(self.remove_all()),
            Request::Lock { passphrase } => ok(self.lock(passphrase)),
            Request::Unlock { passphrase } => ok(self.unlock(&passphrase, env.now)),
            Request::Extension { name, contents } => {
                if name.as_ref() == EXT_QUERY.as_bytes() {
                    Response::ExtensionResponse(encode_query_reply(&[EXT_QUERY, EXT_SESSION_BIND]))
                } else if name.as_ref() == EXT_SESSION_BIND.as_bytes() {
                    self.session_bind(session, &contents)
                } else {
                    Response::Failure
                }
            }
            Request::Other { .. } => Response::Failure,
        }
    }
}

/// One client connection to the agent, over any byte stream: feed it what arrives, send
/// what it queues. A framing error (a length over [`crate::MAX_MESSAGE_LEN`] or zero) is
/// fatal and latched: the driver closes the stream. A malformed message body is answered
/// with `SSH_AGENT_FAILURE` and the connection continues, since the frame boundary is known.
#[derive(Debug, Default)]
pub struct ServerConnection {
    deframer: Deframer,
    session: Session,
    out: Vec<u8>,
    failed: bool,
}

impl ServerConnection {
    /// A new connection.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// This connection's session bindings.
    #[must_use]
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Takes in bytes from the client and answers every whole request in them, queueing
    /// the replies for [`ServerConnection::take_output`].
    pub fn receive(&mut self, agent: &mut Agent, input: &[u8], env: &mut Env<'_>) -> Result<()> {
        if self.failed {
            return Err(crate::Error::Poisoned);
        }
        let r = self.receive_inner(agent, input, env);
        if r.is_err() {
            self.failed = true;
        }
        r
    }

    fn receive_inner(&mut self, agent: &mut Agent, input: &[u8], env: &mut Env<'_>) -> Result<()> {
        self.deframer.push(input)?;
        while let Some(msg) = self.deframer.next_message()? {
            let response = match Request::decode(&msg) {
                Ok(req) => agent.handle(req, &mut self.session, env),
                Err(_) => Response::Failure,
            };
            scrub(msg);
            self.out.extend_from_slice(&response.to_frame()?);
        }
        Ok(())
    }

    /// Replies waiting to be sent.
    #[must_use]
    pub fn take_output(&mut self) -> Vec<u8> {
        core::mem::take(&mut self.out)
    }
}

/// Zeroizes a message buffer once nothing else refers to it (requests may carry keys or a
/// lock passphrase).
fn scrub(msg: Bytes) {
    if let Ok(mut owned) = msg.try_into_mut() {
        zeroize::Zeroize::zeroize(owned.as_mut());
    }
}
