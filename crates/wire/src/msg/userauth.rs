//! User authentication messages: RFC 4252 (request, failure, success, banner, PK_OK,
//! PASSWD_CHANGEREQ), RFC 4256 (keyboard-interactive), OpenSSH PROTOCOL §2.5
//! (`publickey-hostbound-v00@openssh.com`). GSS-API (RFC 4462) has numbers only.

use alloc::vec::Vec;

use bytes::{BufMut, Bytes};

use super::{MessageBody, message};
use crate::error::Result;
use crate::names;
use crate::types::{Field, NameList, PutSsh, Reader, Text, string_len};

message! {
    /// `SSH_MSG_USERAUTH_FAILURE` (RFC 4252 §5.1).
    UserauthFailure = 51, "SSH_MSG_USERAUTH_FAILURE" {
        /// Methods that may productively continue.
        methods: NameList,
        /// Whether the request succeeded but more methods are required.
        partial_success: bool,
    }
}

message! {
    /// `SSH_MSG_USERAUTH_SUCCESS` (RFC 4252 §5.1): no fields.
    UserauthSuccess = 52, "SSH_MSG_USERAUTH_SUCCESS" {}
}

message! {
    /// `SSH_MSG_USERAUTH_BANNER` (RFC 4252 §5.4).
    UserauthBanner = 53, "SSH_MSG_USERAUTH_BANNER" {
        /// The banner text (UTF-8; display with control characters filtered).
        message: Text,
        /// Language tag.
        language: Text,
    }
}

message! {
    /// `SSH_MSG_USERAUTH_PK_OK` (RFC 4252 §7).
    UserauthPkOk = 60, "SSH_MSG_USERAUTH_PK_OK" {
        /// Public key algorithm name from the request.
        algorithm: Text,
        /// Public key blob from the request.
        public_key: Bytes,
    }
}

message! {
    /// `SSH_MSG_USERAUTH_PASSWD_CHANGEREQ` (RFC 4252 §8).
    UserauthPasswdChangereq = 60, "SSH_MSG_USERAUTH_PASSWD_CHANGEREQ" {
        /// Prompt (UTF-8).
        prompt: Text,
        /// Language tag.
        language: Text,
    }
}

/// One keyboard-interactive prompt (RFC 4256 §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// The prompt text.
    pub prompt: Text,
    /// Whether the response may be echoed.
    pub echo: bool,
}

/// `SSH_MSG_USERAUTH_INFO_REQUEST` (RFC 4256 §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserauthInfoRequest {
    /// Name (may be empty).
    pub name: Text,
    /// Instruction (may be empty).
    pub instruction: Text,
    /// Language tag (deprecated, usually empty).
    pub language: Text,
    /// The prompts, possibly none.
    pub prompts: Vec<Prompt>,
}

impl MessageBody for UserauthInfoRequest {
    const NUMBER: u8 = 60;
    const NAME: &'static str = "SSH_MSG_USERAUTH_INFO_REQUEST";

    fn read_body(r: &mut Reader<'_>) -> Result<Self> {
        let name = r.text()?;
        let instruction = r.text()?;
        let language = r.text()?;
        // A prompt is a string and a boolean: at least 5 bytes.
        let n = r.count(5)?;
        let mut prompts = Vec::with_capacity(n);
        for _ in 0..n {
            prompts.push(Prompt {
                prompt: r.text()?,
                echo: r.bool()?,
            });
        }
        Ok(Self {
            name,
            instruction,
            language,
            prompts,
        })
    }

    fn body_len(&self) -> usize {
        self.name.len()
            + self.instruction.len()
            + self.language.len()
            + 12
            + 4
            + self
                .prompts
                .iter()
                .map(|p| string_len(p.prompt.len()) + 1)
                .sum::<usize>()
    }

    fn write_body<B: BufMut + ?Sized>(&self, out: &mut B) {
        out.put_ssh_string(self.name.as_bytes());
        out.put_ssh_string(self.instruction.as_bytes());
        out.put_ssh_string(self.language.as_bytes());
        out.put_u32(u32::try_from(self.prompts.len()).unwrap_or(u32::MAX));
        for p in &self.prompts {
            out.put_ssh_string(p.prompt.as_bytes());
            out.put_ssh_bool(p.echo);
        }
    }
}

/// `SSH_MSG_USERAUTH_INFO_RESPONSE` (RFC 4256 §3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserauthInfoResponse {
    /// One response per prompt, in order.
    pub responses: Vec<Bytes>,
}

impl MessageBody for UserauthInfoResponse {
    const NUMBER: u8 = 61;
    const NAME: &'static str = "SSH_MSG_USERAUTH_INFO_RESPONSE";

    fn read_body(r: &mut Reader<'_>) -> Result<Self> {
        let n = r.count(4)?;
        let mut responses = Vec::with_capacity(n);
        for _ in 0..n {
            responses.push(r.string()?);
        }
        Ok(Self { responses })
    }

    fn body_len(&self) -> usize {
        4 + self
            .responses
            .iter()
            .map(|s| string_len(s.len()))
            .sum::<usize>()
    }

    fn write_body<B: BufMut + ?Sized>(&self, out: &mut B) {
        out.put_u32(u32::try_from(self.responses.len()).unwrap_or(u32::MAX));
        for s in &self.responses {
            out.put_ssh_string(s);
        }
    }
}

/// The method-specific part of `SSH_MSG_USERAUTH_REQUEST`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthMethod {
    /// `none` (RFC 4252 §5.2).
    None,
    /// `password` (RFC 4252 §8); `new_password` is set for a change request.
    Password {
        /// The (old) password.
        password: Bytes,
        /// The new password, when changing it.
        new_password: Option<Bytes>,
    },
    /// `publickey` (RFC 4252 §7): without a signature it is a query answered by PK_OK.
    PublicKey {
        /// Public key algorithm name (for RSA: `rsa-sha2-256`, `rsa-sha2-512` or `ssh-rsa`).
        algorithm: Text,
        /// Public key blob.
        public_key: Bytes,
        /// Signature, when this is a signed request.
        signature: Option<Bytes>,
    },
    /// `publickey-hostbound-v00@openssh.com` (OpenSSH PROTOCOL §2.5): `publickey` that also
    /// names the server host key the client saw.
    PublicKeyHostbound {
        /// Public key algorithm name.
        algorithm: Text,
        /// Public key blob.
        public_key: Bytes,
        /// The server's host key blob.
        host_key: Bytes,
        /// Signature, when this is a signed request.
        signature: Option<Bytes>,
    },
    /// `keyboard-interactive` (RFC 4256 §3.1).
    KeyboardInteractive {
        /// Language tag (deprecated).
        language: Text,
        /// Comma-separated submethod hints.
        submethods: Text,
    },
    /// `hostbased` (RFC 4252 §9).
    HostBased {
        /// Public key algorithm name for the host key.
        algorithm: Text,
        /// The client host's public key (and certificates).
        public_key: Bytes,
        /// The client host's name (FQDN, US-ASCII).
        client_host: Text,
        /// The user name on the client host.
        client_user: Text,
        /// Signature.
        signature: Bytes,
    },
    /// Any other method (including `gssapi-with-mic`, RFC 4462 §3): the name and the raw
    /// bytes after it.
    Other {
        /// The method name.
        method: Text,
        /// Everything after the method name.
        data: Bytes,
    },
}

impl AuthMethod {
    /// The method name as sent on the wire.
    #[must_use]
    pub fn name(&self) -> &[u8] {
        match self {
            Self::None => names::AUTH_NONE.as_bytes(),
            Self::Password { .. } => names::AUTH_PASSWORD.as_bytes(),
            Self::PublicKey { .. } => names::AUTH_PUBLICKEY.as_bytes(),
            Self::PublicKeyHostbound { .. } => names::AUTH_PUBLICKEY_HOSTBOUND.as_bytes(),
            Self::KeyboardInteractive { .. } => names::AUTH_KEYBOARD_INTERACTIVE.as_bytes(),
            Self::HostBased { .. } => names::AUTH_HOSTBASED.as_bytes(),
            Self::Other { method, .. } => method.as_bytes(),
        }
    }
}

/// `SSH_MSG_USERAUTH_REQUEST` (RFC 4252 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserauthRequest {
    /// User name (UTF-8).
    pub user: Text,
    /// Service to start after authentication (`ssh-connection`).
    pub service: Text,
    /// Method and its fields.
    pub method: AuthMethod,
}

fn opt_string_len(v: Option<&Bytes>) -> usize {
    1 + v.map_or(0, |s| string_len(s.len()))
}

impl MessageBody for UserauthRequest {
    const NUMBER: u8 = 50;
    const NAME: &'static str = "SSH_MSG_USERAUTH_REQUEST";

    fn read_body(r: &mut Reader<'_>) -> Result<Self> {
        let user = r.text()?;
        let service = r.text()?;
        let method_name = r.string_slice()?;
        let method = match core::str::from_utf8(method_name) {
            Ok(names::AUTH_NONE) => AuthMethod::None,
            Ok(names::AUTH_PASSWORD) => {
                let change = r.bool()?;
                let password = r.string()?;
                let new_password = if change { Some(r.string()?) } else { None };
                AuthMethod::Password {
                    password,
                    new_password,
                }
            }
            Ok(names::AUTH_PUBLICKEY) => {
                let has_sig = r.bool()?;
                let algorithm = r.text()?;
                let public_key = r.string()?;
                let signature = if has_sig { Some(r.string()?) } else { None };
                AuthMethod::PublicKey {
                    algorithm,
                    public_key,
                    signature,
                }
            }
            Ok(names::AUTH_PUBLICKEY_HOSTBOUND) => {
                let has_sig = r.bool()?;
                let algorithm = r.text()?;
                let public_key = r.string()?;
                let host_key = r.string()?;
                let signature = if has_sig { Some(r.string()?) } else { None };
                AuthMethod::PublicKeyHostbound {
                    algorithm,
                    public_key,
                    host_key,
                    signature,
                }
            }
            Ok(names::AUTH_KEYBOARD_INTERACTIVE) => AuthMethod::KeyboardInteractive {
                language: r.text()?,
                submethods: r.text()?,
            },
            Ok(names::AUTH_HOSTBASED) => AuthMethod::HostBased {
                algorithm: r.text()?,
                public_key: r.string()?,
                client_host: r.text()?,
                client_user: r.text()?,
                signature: r.string()?,
            },
            _ => {
                let method = Text(r.slice_of(method_name));
                AuthMethod::Other {
                    method,
                    data: r.rest(),
                }
            }
        };
        Ok(Self {
            user,
            service,
            method,
        })
    }

    fn body_len(&self) -> usize {
        let head = self.user.len() + self.service.len() + string_len(self.method.name().len()) + 8;
        head + match &self.method {
            AuthMethod::None => 0,
            AuthMethod::Password {
                password,
                new_password,
            } => {
                1 + string_len(password.len())
                    + new_password.as_ref().map_or(0, |p| string_len(p.len()))
            }
            AuthMethod::PublicKey {
                algorithm,
                public_key,
                signature,
            } => {
                Field::len(algorithm)
                    + string_len(public_key.len())
                    + opt_string_len(signature.as_ref())
            }
            AuthMethod::PublicKeyHostbound {
                algorithm,
                public_key,
                host_key,
                signature,
            } => {
                Field::len(algorithm)
                    + string_len(public_key.len())
                    + string_len(host_key.len())
                    + opt_string_len(signature.as_ref())
            }
            AuthMethod::KeyboardInteractive {
                language,
                submethods,
            } => Field::len(language) + Field::len(submethods),
            AuthMethod::HostBased {
                algorithm,
                public_key,
                client_host,
                client_user,
                signature,
            } => {
                Field::len(algorithm)
                    + string_len(public_key.len())
                    + Field::len(client_host)
                    + Field::len(client_user)
                    + string_len(signature.len())
            }
            AuthMethod::Other { data, .. } => data.len(),
        }
    }

    fn write_body<B: BufMut + ?Sized>(&self, out: &mut B) {
        out.put_ssh_string(self.user.as_bytes());
        out.put_ssh_string(self.service.as_bytes());
        out.put_ssh_string(self.method.name());
        match &self.method {
            AuthMethod::None => {}
            AuthMethod::Password {
                password,
                new_password,
            } => {
                out.put_ssh_bool(new_password.is_some());
                out.put_ssh_string(password);
                if let Some(p) = new_password {
                    out.put_ssh_string(p);
                }
            }
            AuthMethod::PublicKey {
                algorithm,
                public_key,
                signature,
            } => {
                out.put_ssh_bool(signature.is_some());
                out.put_ssh_string(algorithm.as_bytes());
                out.put_ssh_string(public_key);
                if let Some(s) = signature {
                    out.put_ssh_string(s);
                }
            }
            AuthMethod::PublicKeyHostbound {
                algorithm,
                public_key,
                host_key,
                signature,
            } => {
                out.put_ssh_bool(signature.is_some());
                out.put_ssh_string(algorithm.as_bytes());
                out.put_ssh_string(public_key);
                out.put_ssh_string(host_key);
                if let Some(s) = signature {
                    out.put_ssh_string(s);
                }
            }
            AuthMethod::KeyboardInteractive {
                language,
                submethods,
            } => {
                out.put_ssh_string(language.as_bytes());
                out.put_ssh_string(submethods.as_bytes());
            }
            AuthMethod::HostBased {
                algorithm,
                public_key,
                client_host,
                client_user,
                signature,
            } => {
                out.put_ssh_string(algorithm.as_bytes());
                out.put_ssh_string(public_key);
                out.put_ssh_string(client_host.as_bytes());
                out.put_ssh_string(client_user.as_bytes());
                out.put_ssh_string(signature);
            }
            AuthMethod::Other { data, .. } => out.put_slice(data),
        }
    }
}
