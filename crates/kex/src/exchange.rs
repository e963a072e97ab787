//! The exchange hash `H` (RFC 4253 §8, RFC 4419 §3, RFC 5656 §4) and what an exchange
//! produces.

use alloc::vec::Vec;

use bytes::Bytes;
use whelk_wire::types::MpInt;
use zeroize::Zeroizing;

use crate::derive::{KeySizes, Keys, derive_keys};
use crate::dh::{DhGroup, trim};
use crate::error::Result;
use crate::hash::{Hasher, KexHash};
use crate::method::KexMethod;

/// The shared secret `K` in its wire encoding (the `mpint` or `string` the method
/// specifies, with the length prefix), exactly as it enters the exchange hash and key
/// derivation. Zeroized on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedSecret(Zeroizing<Vec<u8>>);

impl core::fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SharedSecret({} bytes)", self.0.len())
    }
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
}

impl SharedSecret {
    /// `K` as an `mpint` of the unsigned big-endian `magnitude`.
    #[must_use]
    pub fn from_mpint_magnitude(magnitude: &[u8]) -> Self {
        let digits = trim(magnitude);
        let pad = digits.first().is_some_and(|b| b & 0x80 != 0);
        let len = digits.len() + usize::from(pad);
        let mut out = Zeroizing::new(Vec::with_capacity(4 + len));
        put_len(&mut out, len);
        if pad {
            out.push(0);
        }
        out.extend_from_slice(digits);
        Self(out)
    }

    /// `K` as a `string`.
    #[must_use]
    pub fn from_string(value: &[u8]) -> Self {
        let mut out = Zeroizing::new(Vec::with_capacity(4 + value.len()));
        put_len(&mut out, value.len());
        out.extend_from_slice(value);
        Self(out)
    }

    /// The encoded form (length prefix included).
    #[must_use]
    pub fn encoded(&self) -> &[u8] {
        &self.0
    }
}

/// What both sides must feed into the exchange hash besides the method's values: the
/// identification strings and both KEXINIT payloads, and the session identifier of the first
/// exchange (for re-exchanges).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeContext {
    /// `V_C`: the client's identification line without CR LF.
    pub client_version: Bytes,
    /// `V_S`: the server's identification line without CR LF.
    pub server_version: Bytes,
    /// `I_C`: the payload of the client's `SSH_MSG_KEXINIT` (message number included), as
    /// sent or received.
    pub client_kexinit: Bytes,
    /// `I_S`: the payload of the server's `SSH_MSG_KEXINIT`.
    pub server_kexinit: Bytes,
    /// The session identifier if this is a re-exchange (`H` of the first exchange); `None`
    /// for the first exchange, whose `H` becomes the session identifier.
    pub session_id: Option<Vec<u8>>,
}

/// The result of a completed key exchange, on either side.
#[derive(Debug)]
pub struct KexOutput {
    /// The method used.
    pub method: &'static KexMethod,
    /// `K`, encoded as the method says.
    pub shared_secret: SharedSecret,
    /// `H`.
    pub exchange_hash: Vec<u8>,
    /// The session identifier: `H` of the first exchange.
    pub session_id: Vec<u8>,
    /// `K_S`: the server's host key blob (a certificate for certificate algorithms). The
    /// client has checked the signature; whether the key is *trusted* (known_hosts, CA) is
    /// the caller's decision.
    pub host_key: Bytes,
    /// The server's signature of `H`.
    pub signature: Bytes,
}

impl KexOutput {
    /// The hash of the method.
    #[must_use]
    pub fn hash(&self) -> KexHash {
        self.method.hash
    }

    /// Derives the keys of both directions (RFC 4253 §7.2).
    pub fn derive_keys(&self, sizes: &KeySizes) -> Result<Keys> {
        derive_keys(
            self.method.hash,
            self.shared_secret.encoded(),
            &self.exchange_hash,
            &self.session_id,
            sizes,
        )
    }
}

/// A public value in the exchange hash.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PublicValue<'a> {
    /// DH `e` / `f`.
    MpInt(&'a MpInt),
    /// ECDH `Q_C` / `Q_S`.
    Str(&'a [u8]),
}

/// The group exchange part of the hash (RFC 4419 §3).
#[derive(Debug, Clone, Copy)]
pub(crate) struct GexHashPart<'a> {
    pub(crate) min: u32,
    pub(crate) n: u32,
    pub(crate) max: u32,
    pub(crate) group: &'a DhGroup,
}

fn put_string(h: &mut Hasher, v: &[u8]) {
    h.update(&u32::try_from(v.len()).unwrap_or(u32::MAX).to_be_bytes());
    h.update(v);
}

/// `H = HASH(V_C || V_S || I_C || I_S || K_S || [min || n || max || p || g] || e || f || K)`.
pub(crate) fn exchange_hash(
    hash: KexHash,
    ctx: &ExchangeContext,
    host_key: &[u8],
    gex: Option<GexHashPart<'_>>,
    client: PublicValue<'_>,
    server: PublicValue<'_>,
    k: &SharedSecret,
) -> Vec<u8> {
    let mut h = hash.hasher();
    put_string(&mut h, &ctx.client_version);
    put_string(&mut h, &ctx.server_version);
    put_string(&mut h, &ctx.client_kexinit);
    put_string(&mut h, &ctx.server_kexinit);
    put_string(&mut h, host_key);
    if let Some(g) = gex {
        h.update(&g.min.to_be_bytes());
        h.update(&g.n.to_be_bytes());
        h.update(&g.max.to_be_bytes());
        put_string(&mut h, g.group.p_mpint().as_bytes());
        put_string(&mut h, g.group.g_mpint().as_bytes());
    }
    for v in [client, server] {
        match v {
            PublicValue::MpInt(m) => put_string(&mut h, m.as_bytes()),
            PublicValue::Str(s) => put_string(&mut h, s),
        }
    }
    h.update(k.encoded());
    h.finish()
}
