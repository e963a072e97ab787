//! The client side of one key exchange.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use bytes::Bytes;
use rand_core::CryptoRng;
use whelk_keys::VerifyPolicy;
use whelk_wire::msg::{KexDhGexInit, KexDhGexRequest, KexEcdhInit, KexdhInit, Message};
use whelk_wire::types::MpInt;

use crate::dh::{DhGroup, DhSecret};
use crate::ecdh::{self, ClientSecret};
use crate::error::{Error, Result};
use crate::exchange::{
    ExchangeContext, GexHashPart, KexOutput, PublicValue, SharedSecret, exchange_hash,
};
use crate::gex::GexRequest;
use crate::hostkey::verify_host_signature;
use crate::method::{KexMethod, Kind};
use crate::negotiate::Negotiated;

/// What the client does next.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientStep {
    /// Send this message and wait for the next one (group exchange: the
    /// `SSH_MSG_KEX_DH_GEX_INIT` after the server's group).
    Send(Box<Message>),
    /// The exchange is complete and the server's signature verified.
    Done(Box<KexOutput>),
}

enum State {
    New,
    Ecdh {
        secret: Box<ClientSecret>,
        q_c: Vec<u8>,
    },
    Dh {
        group: DhGroup,
        secret: DhSecret,
        e: MpInt,
    },
    GexRequested,
    GexInit {
        group: DhGroup,
        secret: DhSecret,
        e: MpInt,
    },
    Finished,
}

/// Secret exponent size for finite-field DH: twice the hash size in bits, at least 512
/// (OpenSSH uses twice the bits the derived keys need).
pub(crate) fn exponent_bits(method: &KexMethod) -> u32 {
    let hash_bits = u32::try_from(method.hash.output_len())
        .unwrap_or(64)
        .saturating_mul(16);
    hash_bits.max(512)
}

/// The client's key exchange state machine for one exchange, sans I/O:
/// [`ClientKex::start`] gives the first message, [`ClientKex::handle`] takes the server's
/// messages. Any error ends the exchange (the secrets are dropped and zeroized).
pub struct ClientKex {
    method: &'static KexMethod,
    host_key_algorithm: String,
    ctx: ExchangeContext,
    policy: VerifyPolicy,
    gex: GexRequest,
    state: State,
}

impl core::fmt::Debug for ClientKex {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ClientKex")
            .field("method", &self.method.name)
            .field("host_key_algorithm", &self.host_key_algorithm)
            .finish_non_exhaustive()
    }
}

impl ClientKex {
    /// A client exchange for the negotiated method and host key algorithm, verifying with
    /// the default (strict) [`VerifyPolicy`] and asking for [`GexRequest::default`] in group
    /// exchange.
    #[must_use]
    pub fn new(negotiated: &Negotiated, ctx: ExchangeContext) -> Self {
        Self::for_method(negotiated.kex, &negotiated.host_key_algorithm, ctx)
    }

    /// A client exchange for an explicit method and host key algorithm.
    #[must_use]
    pub fn for_method(
        method: &'static KexMethod,
        host_key_algorithm: &str,
        ctx: ExchangeContext,
    ) -> Self {
        Self {
            method,
            host_key_algorithm: host_key_algorithm.into(),
            ctx,
            policy: VerifyPolicy::default(),
            gex: GexRequest::default(),
            state: State::New,
        }
    }

    /// Verifies the host key signature under `policy`.
    #[must_use]
    pub fn with_policy(mut self, policy: VerifyPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Group exchange sizes to ask for.
    #[must_use]
    pub fn with_gex_request(mut self, req: GexRequest) -> Self {
        self.gex = req;
        self
    }

    /// The method.
    #[must_use]
    pub fn method(&self) -> &'static KexMethod {
        self.method
    }

    /// The first message: `SSH_MSG_KEX_ECDH_INIT`, `SSH_MSG_KEXDH_INIT` or
    /// `SSH_MSG_KEX_DH_GEX_REQUEST`.
    pub fn start<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) -> Result<Message> {
        if !matches!(self.state, State::New) {
            return Err(Error::State("start called twice"));
        }
        match self.method.kind {
            Kind::Dh(g) => {
                let group = g.dh_group();
                let (secret, e) = group.keygen(rng, exponent_bits(self.method))?;
                let msg = KexdhInit { e: e.clone() }.into();
                self.state = State::Dh { group, secret, e };
                Ok(msg)
            }
            Kind::Gex => {
                self.state = State::GexRequested;
                Ok(KexDhGexRequest {
                    min: self.gex.min,
                    n: self.gex.n,
                    max: self.gex.max,
                }
                .into())
            }
            _ => {
                let (secret, q_c) = ecdh::client_start(self.method, rng)?;
                let msg = KexEcdhInit {
                    client_public: Bytes::copy_from_slice(&q_c),
                }
                .into();
                self.state = State::Ecdh {
                    secret: Box::new(secret),
                    q_c,
                };
                Ok(msg)
            }
        }
    }

    /// Takes the server's next message.
    pub fn handle<R: CryptoRng + ?Sized>(
        &mut self,
        msg: &Message,
        rng: &mut R,
    ) -> Result<ClientStep> {
        let state = core::mem::replace(&mut self.state, State::Finished);
        match (state, msg) {
            (State::Ecdh { secret, q_c }, Message::KexEcdhReply(r)) => {
                let k = ecdh::client_finish(self.method, &secret, &r.server_public)?;
                self.finish(
                    &r.host_key,
                    &r.signature,
                    None,
                    PublicValue::Str(&q_c),
                    PublicValue::Str(&r.server_public),
                    k,
                )
            }
            (State::Dh { group, secret, e }, Message::KexdhReply(r)) => {
                let k = dh_shared(self.method, &group, &secret, &r.f)?;
                self.finish(
                    &r.host_key,
                    &r.signature,
                    None,
                    PublicValue::MpInt(&e),
                    PublicValue::MpInt(&r.f),
                    k,
                )
            }
            (State::GexRequested, Message::KexDhGexGroup(g)) => {
                let (Some(p), Some(generator)) = (g.p.unsigned_be(), g.g.unsigned_be()) else {
                    return Err(Error::GroupExchange("negative group parameter"));
                };
                let group = DhGroup::new(p, generator)?;
                self.gex.check_group(&group)?;
                let (secret, e) = group.keygen(rng, exponent_bits(self.method))?;
                let msg = KexDhGexInit { e: e.clone() }.into();
                self.state = State::GexInit { group, secret, e };
                Ok(ClientStep::Send(Box::new(msg)))
            }
            (State::GexInit { group, secret, e }, Message::KexDhGexReply(r)) => {
                let k = dh_shared(self.method, &group, &secret, &r.f)?;
                let gex = GexHashPart {
                    min: self.gex.min,
                    n: self.gex.n,
                    max: self.gex.max,
                    group: &group,
                };
                self.finish(
                    &r.host_key,
                    &r.signature,
                    Some(gex),
                    PublicValue::MpInt(&e),
                    PublicValue::MpInt(&r.f),
                    k,
                )
            }
            (State::New, m) => Err(Error::UnexpectedMessage {
                expected: "nothing before start",
                found: m.number().0,
            }),
            (State::Finished, _) => Err(Error::State("exchange already finished or failed")),
            (s, m) => Err(Error::UnexpectedMessage {
                expected: match s {
                    State::Ecdh { .. } => "SSH_MSG_KEX_ECDH_REPLY",
                    State::Dh { .. } => "SSH_MSG_KEXDH_REPLY",
                    State::GexRequested => "SSH_MSG_KEX_DH_GEX_GROUP",
                    _ => "SSH_MSG_KEX_DH_GEX_REPLY",
                },
                found: m.number().0,
            }),
        }
    }

    fn finish(
        &self,
        host_key: &Bytes,
        signature: &Bytes,
        gex: Option<GexHashPart<'_>>,
        client: PublicValue<'_>,
        server: PublicValue<'_>,
        k: SharedSecret,
    ) -> Result<ClientStep> {
        let h = exchange_hash(
            self.method.hash,
            &self.ctx,
            host_key,
            gex,
            client,
            server,
            &k,
        );
        verify_host_signature(
            &self.host_key_algorithm,
            host_key,
            &h,
            signature,
            &self.policy,
        )?;
        let session_id = self.ctx.session_id.clone().unwrap_or_else(|| h.clone());
        Ok(ClientStep::Done(Box::new(KexOutput {
            method: self.method,
            shared_secret: k,
            exchange_hash: h,
            session_id,
            host_key: host_key.clone(),
            signature: signature.clone(),
        })))
    }
}

/// `K` for finite-field DH after checking the peer's value.
pub(crate) fn dh_shared(
    method: &KexMethod,
    group: &DhGroup,
    secret: &DhSecret,
    peer: &MpInt,
) -> Result<SharedSecret> {
    let mag = group.check_public(peer, method.name, "DH public value")?;
    let k = group.shared(secret, mag)?;
    Ok(SharedSecret::from_mpint_magnitude(&k))
}
