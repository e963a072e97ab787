//! Method names and the signed data of RFC 4252 §7 / §9 and OpenSSH PROTOCOL §2.5.

use alloc::vec::Vec;

use whelk_wire::msg::{AuthFamily, Disconnect, DisconnectReason, Message};
use whelk_wire::names;
use whelk_wire::types::{PutSsh, Text};

/// An authentication method (as configured; `publickey` covers
/// `publickey-hostbound-v00@openssh.com`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Method {
    /// `none`.
    None,
    /// `password`.
    Password,
    /// `publickey` (and its hostbound form).
    PublicKey,
    /// `keyboard-interactive`.
    KeyboardInteractive,
    /// `hostbased`.
    HostBased,
}

impl Method {
    /// The name in `SSH_MSG_USERAUTH_FAILURE` lists and `AuthenticationMethods`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::None => names::AUTH_NONE,
            Self::Password => names::AUTH_PASSWORD,
            Self::PublicKey => names::AUTH_PUBLICKEY,
            Self::KeyboardInteractive => names::AUTH_KEYBOARD_INTERACTIVE,
            Self::HostBased => names::AUTH_HOSTBASED,
        }
    }

    /// Parses a method name (`publickey-hostbound-v00@openssh.com` is `publickey`).
    #[must_use]
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            names::AUTH_NONE => Self::None,
            names::AUTH_PASSWORD => Self::Password,
            names::AUTH_PUBLICKEY | names::AUTH_PUBLICKEY_HOSTBOUND => Self::PublicKey,
            names::AUTH_KEYBOARD_INTERACTIVE => Self::KeyboardInteractive,
            names::AUTH_HOSTBASED => Self::HostBased,
            _ => return None,
        })
    }

    pub(crate) const fn family(self) -> Option<AuthFamily> {
        match self {
            Self::Password => Some(AuthFamily::Password),
            Self::PublicKey => Some(AuthFamily::PublicKey),
            Self::KeyboardInteractive => Some(AuthFamily::KeyboardInteractive),
            Self::None | Self::HostBased => None,
        }
    }
}

impl core::fmt::Display for Method {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// The data a `publickey` (or hostbound) request signs (RFC 4252 §7, PROTOCOL §2.5):
/// `string session_id, byte 50, string user, string service, string method, bool TRUE,
/// string algorithm, string key[, string host_key]`.
#[must_use]
pub fn publickey_signed_data(
    session_id: &[u8],
    user: &[u8],
    service: &[u8],
    algorithm: &[u8],
    public_key: &[u8],
    host_key: Option<&[u8]>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + session_id.len() + public_key.len());
    out.put_ssh_string(session_id);
    out.push(50);
    out.put_ssh_string(user);
    out.put_ssh_string(service);
    let method = if host_key.is_some() {
        names::AUTH_PUBLICKEY_HOSTBOUND
    } else {
        names::AUTH_PUBLICKEY
    };
    out.put_ssh_string(method.as_bytes());
    out.put_ssh_bool(true);
    out.put_ssh_string(algorithm);
    out.put_ssh_string(public_key);
    if let Some(h) = host_key {
        out.put_ssh_string(h);
    }
    out
}

/// The data a `hostbased` request signs (RFC 4252 §9).
#[must_use]
pub fn hostbased_signed_data(
    session_id: &[u8],
    user: &[u8],
    service: &[u8],
    algorithm: &[u8],
    public_key: &[u8],
    client_host: &[u8],
    client_user: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + session_id.len() + public_key.len());
    out.put_ssh_string(session_id);
    out.push(50);
    out.put_ssh_string(user);
    out.put_ssh_string(service);
    out.put_ssh_string(names::AUTH_HOSTBASED.as_bytes());
    out.put_ssh_string(algorithm);
    out.put_ssh_string(public_key);
    out.put_ssh_string(client_host);
    out.put_ssh_string(client_user);
    out
}

pub(crate) fn disconnect(e: &crate::Error) -> Message {
    let text = alloc::format!("{e}");
    Message::Disconnect(Disconnect {
        reason: DisconnectReason::from(e),
        description: Text::from(text),
        language: Text::from(""),
    })
}

/// Text from the peer made safe to show: control characters other than newline and tab
/// are dropped, invalid UTF-8 replaced (catalog M04: prompts and banners cannot repaint the
/// terminal).
#[must_use]
pub fn sanitize(text: &[u8]) -> String {
    String::from_utf8_lossy(text)
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect()
}

/// Compares two secrets (a password against the stored one, say) in time that depends only
/// on their lengths, with `subtle`.
#[must_use]
pub fn secret_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(a.ct_eq(b))
}
