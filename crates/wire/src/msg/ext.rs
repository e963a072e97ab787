//! Bodies of OpenSSH extensions that travel inside other protocols but belong to SSH's wire
//! vocabulary.

use bytes::{BufMut, Bytes};

use crate::error::Result;
use crate::types::{Field, Reader};

/// The body of the agent extension `session-bind@openssh.com` (OpenSSH PROTOCOL.agent §1):
/// binds an agent connection to the SSH session it is used for.
///
/// The agent crate wraps it in `SSH_AGENTC_EXTENSION`; it lives here because it is made of
/// transport values (host key, session identifier, exchange-hash signature).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionBind {
    /// The server's host key blob.
    pub host_key: Bytes,
    /// The session identifier (first exchange hash).
    pub session_id: Bytes,
    /// The server's signature over the exchange hash.
    pub signature: Bytes,
    /// Whether the agent connection is forwarded.
    pub is_forwarding: bool,
}

impl SessionBind {
    /// Decodes the extension contents (after the extension name).
    pub fn decode(contents: &Bytes) -> Result<Self> {
        let mut r = Reader::new(contents, "session-bind@openssh.com");
        let v = Self {
            host_key: r.string()?,
            session_id: r.string()?,
            signature: r.string()?,
            is_forwarding: r.bool()?,
        };
        r.finish()?;
        Ok(v)
    }

    /// Length of the encoded contents.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        Field::len(&self.host_key) + Field::len(&self.session_id) + Field::len(&self.signature) + 1
    }

    /// Appends the encoded contents.
    pub fn encode<B: BufMut + ?Sized>(&self, out: &mut B) {
        self.host_key.write(out);
        self.session_id.write(out);
        self.signature.write(out);
        self.is_forwarding.write(out);
    }
}
