//! The agent protocol's messages (draft-miller-ssh-agent, OpenSSH `PROTOCOL.agent`) and its
//! framing: every message is `uint32 length, byte type, body`.

use bytes::Bytes;
use whelk_keys::PrivateKey;
use whelk_keys::cert::{Certificate, KeyOrCert};
use whelk_wire::types::{PutSsh, Reader};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The longest message accepted (OpenSSH `AGENT_MAX_LEN`, 256 KiB), checked against the
/// frame's declared length before anything is buffered (catalog R04/R06).
pub const MAX_MESSAGE_LEN: usize = 256 * 1024;

/// The most identities accepted in one reply (OpenSSH `MAX_AGENT_IDENTITIES`); a server
/// never lists more.
pub const MAX_IDENTITIES: usize = 2048;

/// Message numbers.
pub mod code {
    /// `SSH_AGENT_FAILURE`.
    pub const FAILURE: u8 = 5;
    /// `SSH_AGENT_SUCCESS`.
    pub const SUCCESS: u8 = 6;
    /// `SSH_AGENTC_REQUEST_IDENTITIES`.
    pub const REQUEST_IDENTITIES: u8 = 11;
    /// `SSH_AGENT_IDENTITIES_ANSWER`.
    pub const IDENTITIES_ANSWER: u8 = 12;
    /// `SSH_AGENTC_SIGN_REQUEST`.
    pub const SIGN_REQUEST: u8 = 13;
    /// `SSH_AGENT_SIGN_RESPONSE`.
    pub const SIGN_RESPONSE: u8 = 14;
    /// `SSH_AGENTC_ADD_IDENTITY`.
    pub const ADD_IDENTITY: u8 = 17;
    /// `SSH_AGENTC_REMOVE_IDENTITY`.
    pub const REMOVE_IDENTITY: u8 = 18;
    /// `SSH_AGENTC_REMOVE_ALL_IDENTITIES`.
    pub const REMOVE_ALL_IDENTITIES: u8 = 19;
    /// `SSH_AGENTC_ADD_SMARTCARD_KEY` (not supported: answered with FAILURE).
    pub const ADD_SMARTCARD_KEY: u8 = 20;
    /// `SSH_AGENTC_REMOVE_SMARTCARD_KEY` (not supported).
    pub const REMOVE_SMARTCARD_KEY: u8 = 21;
    /// `SSH_AGENTC_LOCK`.
    pub const LOCK: u8 = 22;
    /// `SSH_AGENTC_UNLOCK`.
    pub const UNLOCK: u8 = 23;
    /// `SSH_AGENTC_ADD_ID_CONSTRAINED`.
    pub const ADD_ID_CONSTRAINED: u8 = 25;
    /// `SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED` (not supported).
    pub const ADD_SMARTCARD_KEY_CONSTRAINED: u8 = 26;
    /// `SSH_AGENTC_EXTENSION`.
    pub const EXTENSION: u8 = 27;
    /// `SSH_AGENT_EXTENSION_FAILURE`.
    pub const EXTENSION_FAILURE: u8 = 28;
    /// `SSH_AGENT_EXTENSION_RESPONSE`.
    pub const EXTENSION_RESPONSE: u8 = 29;
}

/// Constraint numbers in `SSH_AGENTC_ADD_ID_CONSTRAINED`.
pub mod constraint {
    /// `SSH_AGENT_CONSTRAIN_LIFETIME` (`uint32` seconds).
    pub const LIFETIME: u8 = 1;
    /// `SSH_AGENT_CONSTRAIN_CONFIRM`.
    pub const CONFIRM: u8 = 2;
    /// `SSH_AGENT_CONSTRAIN_MAXSIGN` (XMSS; not supported).
    pub const MAXSIGN: u8 = 3;
    /// `SSH_AGENT_CONSTRAIN_EXTENSION` (`string name, contents`).
    pub const EXTENSION: u8 = 255;
}

/// `SSH_AGENT_RSA_SHA2_256` sign flag: sign with `rsa-sha2-256`.
pub const SIGN_RSA_SHA2_256: u32 = 2;
/// `SSH_AGENT_RSA_SHA2_512` sign flag: sign with `rsa-sha2-512`.
pub const SIGN_RSA_SHA2_512: u32 = 4;

/// The `session-bind@openssh.com` extension name.
pub const EXT_SESSION_BIND: &str = "session-bind@openssh.com";
/// The `query` extension name (lists the extensions an agent supports).
pub const EXT_QUERY: &str = "query";

/// A key constraint of `SSH_AGENTC_ADD_ID_CONSTRAINED`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    /// The key is removed this many seconds after it was added.
    Lifetime(u32),
    /// Every use of the key needs the user's confirmation.
    Confirm,
    /// An extension constraint (e.g. `restrict-destination-v00@openssh.com`). The whelk
    /// server refuses keys with extension constraints it does not implement, as the draft
    /// requires.
    Extension {
        /// Extension name.
        name: Bytes,
        /// Extension-specific contents (the rest of the message).
        contents: Bytes,
    },
}

/// The body of `SSH_AGENTC_ADD_IDENTITY` / `SSH_AGENTC_ADD_ID_CONSTRAINED`.
#[derive(Debug, Clone)]
pub struct AddIdentity {
    /// The private key (zeroized on drop).
    pub key: PrivateKey,
    /// The certificate, when the identity is a certificate (its key is `key`'s public key).
    pub certificate: Option<Certificate>,
    /// The comment (bytes as sent; OpenSSH does not require UTF-8).
    pub comment: Bytes,
    /// Constraints; the message is `ADD_ID_CONSTRAINED` when there are any.
    pub constraints: Vec<Constraint>,
}

/// A request from a client to an agent.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Request {
    /// `SSH_AGENTC_REQUEST_IDENTITIES`.
    RequestIdentities,
    /// `SSH_AGENTC_SIGN_REQUEST`.
    Sign {
        /// The identity's blob (key or certificate) as listed.
        key_blob: Bytes,
        /// The data to sign.
        data: Bytes,
        /// [`SIGN_RSA_SHA2_256`] / [`SIGN_RSA_SHA2_512`].
        flags: u32,
    },
    /// `SSH_AGENTC_ADD_IDENTITY` or `SSH_AGENTC_ADD_ID_CONSTRAINED`.
    Add(Box<AddIdentity>),
    /// `SSH_AGENTC_REMOVE_IDENTITY`.
    Remove {
        /// The identity's blob.
        key_blob: Bytes,
    },
    /// `SSH_AGENTC_REMOVE_ALL_IDENTITIES`.
    RemoveAll,
    /// `SSH_AGENTC_LOCK`.
    Lock {
        /// The passphrase (zeroized on drop).
        passphrase: Zeroizing<Vec<u8>>,
    },
    /// `SSH_AGENTC_UNLOCK`.
    Unlock {
        /// The passphrase (zeroized on drop).
        passphrase: Zeroizing<Vec<u8>>,
    },
    /// `SSH_AGENTC_EXTENSION`.
    Extension {
        /// Extension name.
        name: Bytes,
        /// Extension-specific contents (the rest of the message).
        contents: Bytes,
    },
    /// A request type this crate does not model (smartcard keys, unknown numbers); a
    /// server answers `SSH_AGENT_FAILURE`.
    Other {
        /// The message number.
        code: u8,
    },
}

/// One identity in `SSH_AGENT_IDENTITIES_ANSWER`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The key or certificate blob.
    pub key_blob: Bytes,
    /// The comment.
    pub comment: Bytes,
}

impl Identity {
    /// Parses the blob as a public key or certificate.
    pub fn key(&self) -> Result<KeyOrCert> {
        Ok(KeyOrCert::from_blob(&self.key_blob)?)
    }

    /// The comment as text (lossy).
    #[must_use]
    pub fn comment_lossy(&self) -> String {
        String::from_utf8_lossy(&self.comment).into_owned()
    }
}

/// A reply from an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Response {
    /// `SSH_AGENT_SUCCESS`.
    Success,
    /// `SSH_AGENT_FAILURE`.
    Failure,
    /// `SSH_AGENT_IDENTITIES_ANSWER`.
    Identities(Vec<Identity>),
    /// `SSH_AGENT_SIGN_RESPONSE`: the signature blob (`string alg, string sig`).
    Signature(Bytes),
    /// `SSH_AGENT_EXTENSION_FAILURE`.
    ExtensionFailure,
    /// `SSH_AGENT_EXTENSION_RESPONSE` (contents after the message number).
    ExtensionResponse(Bytes),
}

fn put_frame(body: &[u8]) -> Result<Vec<u8>> {
    if body.len() > MAX_MESSAGE_LEN {
        return Err(Error::MessageTooLarge {
            len: u64::try_from(body.len()).unwrap_or(u64::MAX),
            max: MAX_MESSAGE_LEN,
        });
    }
    let len = u32::try_from(body.len()).map_err(|_| Error::MessageTooLarge {
        len: u64::MAX,
        max: MAX_MESSAGE_LEN,
    })?;
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    Ok(out)
}

impl Request {
    /// Decodes one message (message number and body, without the length prefix).
    pub fn decode(msg: &Bytes) -> Result<Self> {
        let mut r = Reader::new(msg, "agent request");
        let code = r.u8().map_err(|_| Error::EmptyMessage)?;
        let req = match code {
            code::REQUEST_IDENTITIES => Self::RequestIdentities,
            code::SIGN_REQUEST => Self::Sign {
                key_blob: r.string()?,
                data: r.string()?,
                flags: r.u32()?,
            },
            code::ADD_IDENTITY | code::ADD_ID_CONSTRAINED => {
                let (key, certificate) = crate::key::read_private(&mut r)?;
                let comment = r.string()?;
                let mut constraints = Vec::new();
                if code == code::ADD_ID_CONSTRAINED {
                    while r.remaining() > 0 {
                        let c = match r.u8()? {
                            constraint::LIFETIME => Constraint::Lifetime(r.u32()?),
                            constraint::CONFIRM => Constraint::Confirm,
                            constraint::EXTENSION => {
                                let name = r.string()?;
                                let contents = r.rest();
                                Constraint::Extension { name, contents }
                            }
                            other => {
                                return Err(Error::UnsupportedConstraint(format!("{other}")));
                            }
                        };
                        constraints.push(c);
                    }
                }
                Self::Add(Box::new(AddIdentity {
                    key,
                    certificate,
                    comment,
                    constraints,
                }))
            }
            code::REMOVE_IDENTITY => Self::Remove {
                key_blob: r.string()?,
            },
            code::REMOVE_ALL_IDENTITIES => Self::RemoveAll,
            code::LOCK | code::UNLOCK => {
                let passphrase = Zeroizing::new(r.string_slice()?.to_vec());
                if code == code::LOCK {
                    Self::Lock { passphrase }
                } else {
                    Self::Unlock { passphrase }
                }
            }
            code::EXTENSION => Self::Extension {
                name: r.string()?,
                contents: r.rest(),
            },
            code => {
                let _ = r.rest();
                Self::Other { code }
            }
        };
        r.finish()?;
        Ok(req)
    }

    /// Encodes the message with its length prefix.
    pub fn to_frame(&self) -> Result<Vec<u8>> {
        let mut b = Zeroizing::new(Vec::new());
        match self {
            Self::RequestIdentities => b.push(code::REQUEST_IDENTITIES),
            Self::Sign {
                key_blob,
                data,
                flags,
            } => {
                b.push(code::SIGN_REQUEST);
                b.put_ssh_string(key_blob);
                b.put_ssh_string(data);
                b.extend_from_slice(&flags.to_be_bytes());
            }
            Self::Add(add) => {
                b.push(if add.constraints.is_empty() {
                    code::ADD_IDENTITY
                } else {
                    code::ADD_ID_CONSTRAINED
                });
                crate::key::put_private(&mut b, &add.key, add.certificate.as_ref())?;
                b.put_ssh_string(&add.comment);
                for c in &add.constraints {
                    match c {
                        Constraint::Lifetime(secs) => {
                            b.push(constraint::LIFETIME);
                            b.extend_from_slice(&secs.to_be_bytes());
                        }
                        Constraint::Confirm => b.push(constraint::CONFIRM),
                        Constraint::Extension { name, contents } => {
                            b.push(constraint::EXTENSION);
                            b.put_ssh_string(name);
                            b.extend_from_slice(contents);
                        }
                    }
                }
            }
            Self::Remove { key_blob } => {
                b.push(code::REMOVE_IDENTITY);
                b.put_ssh_string(key_blob);
            }
            Self::RemoveAll => b.push(code::REMOVE_ALL_IDENTITIES),
            Self::Lock { passphrase } | Self::Unlock { passphrase } => {
                b.push(if matches!(self, Self::Lock { .. }) {
                    code::LOCK
                } else {
                    code::UNLOCK
                });
                b.put_ssh_string(passphrase);
            }
            Self::Extension { name, contents } => {
                b.push(code::EXTENSION);
                b.put_ssh_string(name);
                b.extend_from_slice(contents);
            }
            Self::Other { code } => b.push(*code),
        }
        put_frame(&b)
    }
}

impl Response {
    /// Decodes one reply (message number and body, without the length prefix).
    ///
    /// An identities answer over [`MAX_IDENTITIES`] keys is an error, checked before any
    /// allocation for the list.
    pub fn decode(msg: &Bytes) -> Result<Self> {
        let mut r = Reader::new(msg, "agent reply");
        let code = r.u8().map_err(|_| Error::EmptyMessage)?;
        let resp = match code {
            code::SUCCESS => Self::Success,
            code::FAILURE => Self::Failure,
            code::IDENTITIES_ANSWER => {
                let declared = r.u32()?;
                if usize::try_from(declared).map_or(true, |n| n > MAX_IDENTITIES) {
                    return Err(Error::TooManyIdentities(declared));
                }
                // Each identity takes at least two empty strings (8 bytes).
                let n = usize::try_from(declared).unwrap_or(0);
                if n.saturating_mul(8) > r.remaining() {
                    return Err(whelk_wire::Error::CountTooLarge {
                        what: "agent identities answer",
                        count: declared,
                    }
                    .into());
                }
                let mut ids = Vec::with_capacity(n);
                for _ in 0..n {
                    ids.push(Identity {
                        key_blob: r.string()?,
                        comment: r.string()?,
                    });
                }
                Self::Identities(ids)
            }
            code::SIGN_RESPONSE => Self::Signature(r.string()?),
            code::EXTENSION_FAILURE => Self::ExtensionFailure,
            code::EXTENSION_RESPONSE => Self::ExtensionResponse(r.rest()),
            other => return Err(Error::UnexpectedResponse(other)),
        };
        r.finish()?;
        Ok(resp)
    }

    /// Encodes the reply with its length prefix.
    pub fn to_frame(&self) -> Result<Vec<u8>> {
        let mut b = Vec::new();
        match self {
            Self::Success => b.push(code::SUCCESS),
            Self::Failure => b.push(code::FAILURE),
            Self::Identities(ids) => {
                b.push(code::IDENTITIES_ANSWER);
                let n = u32::try_from(ids.len().min(MAX_IDENTITIES)).unwrap_or(0);
                b.extend_from_slice(&n.to_be_bytes());
                for id in ids.iter().take(MAX_IDENTITIES) {
                    b.put_ssh_string(&id.key_blob);
                    b.put_ssh_string(&id.comment);
                }
            }
            Self::Signature(sig) => {
                b.push(code::SIGN_RESPONSE);
                b.put_ssh_string(sig);
            }
            Self::ExtensionFailure => b.push(code::EXTENSION_FAILURE),
            Self::ExtensionResponse(contents) => {
                b.push(code::EXTENSION_RESPONSE);
                b.extend_from_slice(contents);
            }
        }
        put_frame(&b)
    }
}

/// The contents of the `query` extension's reply: `string "query"` then one `string` per
/// supported extension (draft-miller-ssh-agent §3.8.1, sent as
/// `SSH_AGENT_EXTENSION_RESPONSE`).
#[must_use]
pub fn encode_query_reply(names: &[&str]) -> Bytes {
    let mut b = Vec::new();
    b.put_ssh_string(EXT_QUERY.as_bytes());
    for n in names {
        b.put_ssh_string(n.as_bytes());
    }
    Bytes::from(b)
}

/// Parses the `query` extension's reply contents into extension names.
pub fn decode_query_reply(contents: &Bytes) -> Result<Vec<String>> {
    let mut r = Reader::new(contents, "query reply");
    if r.string_slice()? != EXT_QUERY.as_bytes() {
        return Err(Error::UnexpectedResponse(code::EXTENSION_RESPONSE));
    }
    let mut names = Vec::new();
    while r.remaining() > 0 {
        let n = r.string_slice()?;
        names.push(String::from_utf8_lossy(n).into_owned());
    }
    Ok(names)
}

/// Splits an agent byte stream into messages. The declared length is checked against
/// [`MAX_MESSAGE_LEN`] as soon as its four bytes arrive, before anything is buffered.
#[derive(Debug, Default)]
pub struct Deframer {
    buf: Vec<u8>,
}

impl Deframer {
    /// A new, empty deframer.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes held that do not yet make a whole message.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Appends `input`, checking every newly complete length prefix first.
    pub fn push(&mut self, mut input: &[u8]) -> Result<()> {
        if self.buf.len() < 4 {
            // Complete and check the length prefix before taking anything after it.
            let need = 4usize.saturating_sub(self.buf.len()).min(input.len());
            let (head, rest) = input.split_at(need);
            self.buf.extend_from_slice(head);
            self.check_head()?;
            input = rest;
        }
        self.buf.extend_from_slice(input);
        Ok(())
    }

    fn declared_len(&self) -> Option<u32> {
        let head = self.buf.first_chunk::<4>()?;
        Some(u32::from_be_bytes(*head))
    }

    fn check_head(&self) -> Result<()> {
        match self.declared_len() {
            Some(0) => Err(Error::EmptyMessage),
            Some(len) if usize::try_from(len).map_or(true, |l| l > MAX_MESSAGE_LEN) => {
                Err(Error::MessageTooLarge {
                    len: u64::from(len),
                    max: MAX_MESSAGE_LEN,
                })
            }
            _ => Ok(()),
        }
    }

    /// The next whole message (message number and body), if one has arrived.
    pub fn next_message(&mut self) -> Result<Option<Bytes>> {
        self.check_head()?;
        let Some(len) = self.declared_len() else {
            return Ok(None);
        };
        let len = usize::try_from(len).map_err(|_| Error::EmptyMessage)?;
        let end = len.saturating_add(4);
        if self.buf.len() < end {
            return Ok(None);
        }
        let msg = Bytes::copy_from_slice(self.buf.get(4..end).unwrap_or_default());
        self.buf.drain(..end);
        self.check_head()?;
        Ok(Some(msg))
    }
}

impl Drop for Deframer {
    fn drop(&mut self) {
        // Buffered input may hold key material (ADD_IDENTITY) or a lock passphrase.
        zeroize::Zeroize::zeroize(&mut self.buf);
    }
}
