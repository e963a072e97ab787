//! The server side of one key exchange.

use alloc::boxed::Box;
use alloc::vec::Vec;

use bytes::Bytes;
use rand_core::CryptoRng;
use whelk_wire::msg::{KexDhGexGroup, KexDhGexReply, KexEcdhReply, KexdhReply, Message};

use crate::client::{dh_shared, exponent_bits};
use crate::dh::DhGroup;
use crate::ecdh;
use crate::error::{Error, Result};
use crate::exchange::{ExchangeContext, GexHashPart, KexOutput, PublicValue, exchange_hash};
use crate::gex::{GexGroups, GexRequest};
use crate::hostkey::HostKeySigner;
use crate::method::{KexMethod, Kind};
use crate::negotiate::Negotiated;

/// What the server does next.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerStep {
    /// Send this message and wait for the client's next (group exchange: the group).
    Send(Box<Message>),
    /// Send `reply` (the `..._REPLY` with the host key, public value and signature); the
    /// exchange is complete.
    Done {
        /// The reply message.
        reply: Box<Message>,
        /// What the exchange produced.
        output: Box<KexOutput>,
    },
}

#[derive(Debug)]
enum State {
    Waiting,
    GexGroupSent {
        min: u32,
        n: u32,
        max: u32,
        group: DhGroup,
    },
    Finished,
}

/// The server's key exchange state machine for one exchange, sans I/O: feed it the client's
/// messages with [`ServerKex::handle`]. Any error ends the exchange.
#[derive(Debug)]
pub struct ServerKex {
    method: &'static KexMethod,
    ctx: ExchangeContext,
    groups: GexGroups,
    state: State,
}

impl ServerKex {
    /// A server exchange for the negotiated method, choosing group exchange groups from the
    /// built-in groups.
    #[must_use]
    pub fn new(negotiated: &Negotiated, ctx: ExchangeContext) -> Self {
        Self::for_method(negotiated.kex, ctx)
    }

    /// A server exchange for an explicit method.
    #[must_use]
    pub fn for_method(method: &'static KexMethod, ctx: ExchangeContext) -> Self {
        Self {
            method,
            ctx,
            groups: GexGroups::builtin(),
            state: State::Waiting,
        }
    }

    /// Group exchange groups to choose from (e.g. [`GexGroups::from_moduli`]).
    #[must_use]
    pub fn with_groups(mut self, groups: GexGroups) -> Self {
        self.groups = groups;
        self
    }

    /// The method.
    #[must_use]
    pub fn method(&self) -> &'static KexMethod {
        self.method
    }

    /// Takes the client's next message. `signer` signs `H` with the host key of the
    /// negotiated host key algorithm.
    pub fn handle<R: CryptoRng + ?Sized>(
        &mut self,
        msg: &Message,
        rng: &mut R,
        signer: &mut dyn HostKeySigner,
    ) -> Result<ServerStep> {
        let state = core::mem::replace(&mut self.state, State::Finished);
        match (state, self.method.kind, msg) {
            (State::Waiting, Kind::Dh(g), Message::KexdhInit(init)) => {
                let group = g.dh_group();
                let (secret, f) = group.keygen(rng, exponent_bits(self.method))?;
                let k = dh_shared(self.method, &group, &secret, &init.e)?;
                let host_key = signer.public_key_blob();
                let h = exchange_hash(
                    self.method.hash,
                    &self.ctx,
                    &host_key,
                    None,
                    PublicValue::MpInt(&init.e),
                    PublicValue::MpInt(&f),
                    &k,
                );
                let signature = Bytes::from(signer.sign(&h)?);
                let reply = KexdhReply {
                    host_key: host_key.clone(),
                    f,
                    signature: signature.clone(),
                }
                .into();
                Ok(self.done(reply, k, h, host_key, signature))
            }
            (State::Waiting, Kind::Gex, Message::KexDhGexRequest(req)) => {
                let clamped = GexRequest::clamp_request(req.min, req.n, req.max)?;
                let group = self.groups.choose(&clamped, rng)?;
                let msg = KexDhGexGroup {
                    p: group.p_mpint(),
                    g: group.g_mpint(),
                }
                .into();
                self.state = State::GexGroupSent {
                    min: req.min,
                    n: req.n,
                    max: req.max,
                    group,
                };
                Ok(ServerStep::Send(Box::new(msg)))
            }
            (
                State::GexGroupSent { min, n, max, group },
                Kind::Gex,
                Message::KexDhGexInit(init),
            ) => {
                let (secret, f) = group.keygen(rng, exponent_bits(self.method))?;
                let k = dh_shared(self.method, &group, &secret, &init.e)?;
                let host_key = signer.public_key_blob();
                let gex = GexHashPart {
                    min,
                    n,
                    max,
                    group: &group,
                };
                let h = exchange_hash(
                    self.method.hash,
                    &self.ctx,
                    &host_key,
                    Some(gex),
                    PublicValue::MpInt(&init.e),
                    PublicValue::MpInt(&f),
                    &k,
                );
                let signature = Bytes::from(signer.sign(&h)?);
                let reply = KexDhGexReply {
                    host_key: host_key.clone(),
                    f,
                    signature: signature.clone(),
                }
                .into();
                Ok(self.done(reply, k, h, host_key, signature))
            }
            (State::Waiting, Kind::Dh(_) | Kind::Gex, m) => Err(Error::UnexpectedMessage {
                expected: if matches!(self.method.kind, Kind::Gex) {
                    "SSH_MSG_KEX_DH_GEX_REQUEST"
                } else {
                    "SSH_MSG_KEXDH_INIT"
                },
                found: m.number().0,
            }),
            (State::Waiting, _, Message::KexEcdhInit(init)) => {
                let (q_s, k) = ecdh::server_respond(self.method, &init.client_public, rng)?;
                let host_key = signer.public_key_blob();
                let h = exchange_hash(
                    self.method.hash,
                    &self.ctx,
                    &host_key,
                    None,
                    PublicValue::Str(&init.client_public),
                    PublicValue::Str(&q_s),
                    &k,
                );
                let signature = Bytes::from(signer.sign(&h)?);
                let reply = KexEcdhReply {
                    host_key: host_key.clone(),
                    server_public: Bytes::from(q_s),
                    signature: signature.clone(),
                }
                .into();
                Ok(self.done(reply, k, h, host_key, signature))
            }
            (State::Waiting, _, m) => Err(Error::UnexpectedMessage {
                expected: "SSH_MSG_KEX_ECDH_INIT",
                found: m.number().0,
            }),
            (State::GexGroupSent { .. }, _, m) => Err(Error::UnexpectedMessage {
                expected: "SSH_MSG_KEX_DH_GEX_INIT",
                found: m.number().0,
            }),
            (State::Finished, _, _) => Err(Error::State("exchange already finished or failed")),
        }
    }

    fn done(
        &self,
        reply: Message,
        k: crate::exchange::SharedSecret,
        h: Vec<u8>,
        host_key: Bytes,
        signature: Bytes,
    ) -> ServerStep {
        let session_id = self.ctx.session_id.clone().unwrap_or_else(|| h.clone());
        ServerStep::Done {
            reply: Box::new(reply),
            output: Box::new(KexOutput {
                method: self.method,
                shared_secret: k,
                exchange_hash: h,
                session_id,
                host_key,
                signature,
            }),
        }
    }
}
