//! The client side: frames requests and reads replies, in order, over any byte stream.

use bytes::Bytes;
use whelk_keys::{KeyType, SigAlg};

use crate::error::{Error, Result};
use crate::proto::{Deframer, Identity, Request, Response, SIGN_RSA_SHA2_256, SIGN_RSA_SHA2_512};

/// The sign-request flags asking for signature algorithm `alg` (only RSA's SHA-2 variants
/// need flags).
#[must_use]
pub fn sign_flags(alg: SigAlg) -> u32 {
    match alg {
        SigAlg::RsaSha2_256 => SIGN_RSA_SHA2_256,
        SigAlg::RsaSha2_512 => SIGN_RSA_SHA2_512,
        _ => 0,
    }
}

/// The signature algorithm an agent uses for a key of type `key_type` given `flags`
/// (`None` for RSA without SHA-2 flags, which means SHA-1 `ssh-rsa`).
#[must_use]
pub fn signature_algorithm(key_type: KeyType, flags: u32) -> Option<SigAlg> {
    if key_type == KeyType::Rsa {
        if flags & SIGN_RSA_SHA2_512 != 0 {
            Some(SigAlg::RsaSha2_512)
        } else if flags & SIGN_RSA_SHA2_256 != 0 {
            Some(SigAlg::RsaSha2_256)
        } else {
            None
        }
    } else {
        Some(key_type.default_signature_algorithm())
    }
}

/// A client connection to an agent: [`Client::request`] frames a request, [`Client::receive`]
/// takes in reply bytes, [`Client::poll_response`] yields replies in request order.
#[derive(Debug, Default)]
pub struct Client {
    deframer: Deframer,
    pending: usize,
}

impl Client {
    /// A new client connection.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Frames `request`; send the returned bytes to the agent.
    pub fn request(&mut self, request: &Request) -> Result<Vec<u8>> {
        let frame = request.to_frame()?;
        self.pending = self.pending.saturating_add(1);
        Ok(frame)
    }

    /// How many requests await a reply.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Takes in bytes from the agent. A reply length over [`crate::MAX_MESSAGE_LEN`] is an
    /// error before anything is buffered.
    pub fn receive(&mut self, input: &[u8]) -> Result<()> {
        self.deframer.push(input)
    }

    /// The next reply, if a whole one has arrived. A reply nobody asked for is an error.
    pub fn poll_response(&mut self) -> Result<Option<Response>> {
        let Some(msg) = self.deframer.next_message()? else {
            return Ok(None);
        };
        if self.pending == 0 {
            let code = msg.first().copied().unwrap_or(0);
            return Err(Error::UnexpectedResponse(code));
        }
        self.pending -= 1;
        Response::decode(&msg).map(Some)
    }
}

impl Response {
    /// The identities of an identities answer.
    pub fn into_identities(self) -> Result<Vec<Identity>> {
        match self {
            Self::Identities(ids) => Ok(ids),
            other => Err(other.unexpected()),
        }
    }

    /// The signature blob of a sign response.
    pub fn into_signature(self) -> Result<Bytes> {
        match self {
            Self::Signature(sig) => Ok(sig),
            other => Err(other.unexpected()),
        }
    }

    /// `Ok` for `SSH_AGENT_SUCCESS`.
    pub fn into_success(self) -> Result<()> {
        match self {
            Self::Success => Ok(()),
            other => Err(other.unexpected()),
        }
    }

    fn unexpected(&self) -> Error {
        match self {
            Self::Failure | Self::ExtensionFailure => Error::Refused,
            Self::Success => Error::UnexpectedResponse(crate::proto::code::SUCCESS),
            Self::Identities(_) => Error::UnexpectedResponse(crate::proto::code::IDENTITIES_ANSWER),
            Self::Signature(_) => Error::UnexpectedResponse(crate::proto::code::SIGN_RESPONSE),
            Self::ExtensionResponse(_) => {
                Error::UnexpectedResponse(crate::proto::code::EXTENSION_RESPONSE)
            }
        }
    }
}
