//! Typed SSH messages: one struct per message, and [`Message`], the sum of them all.
//!
//! Every struct implements [`MessageBody`] (decode from a payload, encode into any
//! [`BufMut`]). [`Message::decode`] dispatches on the message number; numbers whose meaning
//! depends on the negotiated key exchange or authentication method (30-49, 60-79) need a
//! [`Context`]. A number with no meaning in the context decodes to [`Message::Unknown`], never
//! to an error, so the transport can answer `SSH_MSG_UNIMPLEMENTED` (RFC 4253 §11.4).

use bytes::{BufMut, Bytes};

use crate::error::{Error, Result};
use crate::types::Reader;

mod codes;
mod connection;
mod ext;
mod kex;
mod number;
mod transport;
mod userauth;

pub use codes::{ChannelOpenFailureReason, DisconnectReason, ExtendedDataType};
pub use connection::{
    ChannelClose, ChannelData, ChannelEof, ChannelExtendedData, ChannelFailure, ChannelOpen,
    ChannelOpenConfirmation, ChannelOpenFailure, ChannelOpenKind, ChannelRequest,
    ChannelRequestKind, ChannelSuccess, ChannelWindowAdjust, GlobalRequest, GlobalRequestKind,
    RawTail, RequestFailure, RequestSuccess,
};
pub use ext::SessionBind;
pub use kex::{
    KexDhGexGroup, KexDhGexInit, KexDhGexReply, KexDhGexRequest, KexDhGexRequestOld, KexEcdhInit,
    KexEcdhReply, KexdhInit, KexdhReply,
};
pub use number::{MessageNumber, Phase};
pub use transport::{
    DebugMessage, Disconnect, ExtInfo, Ignore, KexInit, NewCompress, NewKeys, Ping, Pong,
    ServiceAccept, ServiceRequest, Unimplemented,
};
pub use userauth::{
    AuthMethod, Prompt, UserauthBanner, UserauthFailure, UserauthInfoRequest, UserauthInfoResponse,
    UserauthPasswdChangereq, UserauthPkOk, UserauthRequest, UserauthSuccess,
};

/// A message type with a fixed number: decoded from and encoded to a payload (the message
/// number byte followed by the body).
pub trait MessageBody: Sized {
    /// The message number.
    const NUMBER: u8;
    /// The RFC name, for errors and logs.
    const NAME: &'static str;

    /// Reads the fields after the message number. Must not check for trailing data.
    fn read_body(r: &mut Reader<'_>) -> Result<Self>;
    /// Encoded length of the fields after the message number.
    fn body_len(&self) -> usize;
    /// Writes the fields after the message number.
    fn write_body<B: BufMut + ?Sized>(&self, out: &mut B);

    /// Decodes a whole payload, which must carry [`Self::NUMBER`] and nothing after the body.
    fn decode(payload: &Bytes) -> Result<Self> {
        let found = *payload.first().ok_or(Error::EmptyPayload)?;
        if found != Self::NUMBER {
            return Err(Error::UnexpectedMessage {
                expected: Self::NUMBER,
                found,
            });
        }
        let body = payload.slice(1..);
        let mut r = Reader::new(&body, Self::NAME);
        let msg = Self::read_body(&mut r)?;
        r.finish()?;
        Ok(msg)
    }

    /// Length of the whole payload.
    fn encoded_len(&self) -> usize {
        1 + self.body_len()
    }

    /// Appends the whole payload to `out`.
    fn encode<B: BufMut + ?Sized>(&self, out: &mut B) {
        out.put_u8(Self::NUMBER);
        self.write_body(out);
    }
}

/// Declares a message struct whose body is a fixed sequence of fields.
macro_rules! message {
    (
        $(#[$meta:meta])*
        $name:ident = $num:expr, $what:literal {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name { $( $(#[$fmeta])* pub $field: $ty, )* }

        impl $crate::msg::MessageBody for $name {
            const NUMBER: u8 = $num;
            const NAME: &'static str = $what;

            #[allow(unused_variables)]
            fn read_body(r: &mut $crate::types::Reader<'_>) -> $crate::error::Result<Self> {
                Ok(Self { $( $field: $crate::types::Field::read(r)?, )* })
            }

            fn body_len(&self) -> usize {
                0 $( + $crate::types::Field::len(&self.$field) )*
            }

            #[allow(unused_variables)]
            fn write_body<B: ::bytes::BufMut + ?Sized>(&self, out: &mut B) {
                $( $crate::types::Field::write(&self.$field, out); )*
            }
        }
    };
}
pub(crate) use message;

/// Which key exchange family's messages numbers 30-49 mean (set once the method is
/// negotiated).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KexFamily {
    /// Fixed-group Diffie-Hellman (RFC 4253 §8): KEXDH_INIT/REPLY carry mpints.
    Dh,
    /// ECDH form (RFC 5656 §7.1): curve25519 (RFC 8731), NIST curves and the hybrid
    /// post-quantum methods carry their public values as strings.
    Ecdh,
    /// Diffie-Hellman group exchange (RFC 4419).
    DhGex,
}

/// Which authentication method's messages numbers 60-79 mean (set by the last request sent
/// or received).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthFamily {
    /// `publickey` (RFC 4252 §7): 60 is PK_OK.
    PublicKey,
    /// `password` (RFC 4252 §8): 60 is PASSWD_CHANGEREQ.
    Password,
    /// `keyboard-interactive` (RFC 4256): 60 is INFO_REQUEST, 61 INFO_RESPONSE.
    KeyboardInteractive,
}

/// What the method-specific message numbers mean right now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Context {
    /// The key exchange family in progress, if any.
    pub kex: Option<KexFamily>,
    /// The authentication method in progress, if any.
    pub auth: Option<AuthFamily>,
}

macro_rules! messages {
    ($( $(#[$m:meta])* $variant:ident($ty:ty), )*) => {
        /// Any SSH message.
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum Message {
            $( $(#[$m])* $variant($ty), )*
            /// A message whose number has no meaning here (unassigned, or method-specific
            /// without the matching [`Context`]). `payload` is everything after the number.
            Unknown {
                /// The message number.
                number: u8,
                /// The bytes after the number.
                payload: Bytes,
            },
        }

        $(
            impl From<$ty> for Message {
                fn from(m: $ty) -> Self {
                    Self::$variant(m)
                }
            }
        )*

        impl Message {
            /// The message number.
            #[must_use]
            pub fn number(&self) -> MessageNumber {
                match self {
                    $( Self::$variant(_) => MessageNumber(<$ty as MessageBody>::NUMBER), )*
                    Self::Unknown { number, .. } => MessageNumber(*number),
                }
            }

            /// Length of the encoded payload.
            #[must_use]
            pub fn encoded_len(&self) -> usize {
                match self {
                    $( Self::$variant(m) => m.encoded_len(), )*
                    Self::Unknown { payload, .. } => 1 + payload.len(),
                }
            }

            fn encode_unchecked<B: BufMut + ?Sized>(&self, out: &mut B) {
                match self {
                    $( Self::$variant(m) => m.encode(out), )*
                    Self::Unknown { number, payload } => {
                        out.put_u8(*number);
                        out.put_slice(payload);
                    }
                }
            }
        }
    };
}

messages! {
    /// `SSH_MSG_DISCONNECT`
    Disconnect(Disconnect),
    /// `SSH_MSG_IGNORE`
    Ignore(Ignore),
    /// `SSH_MSG_UNIMPLEMENTED`
    Unimplemented(Unimplemented),
    /// `SSH_MSG_DEBUG`
    Debug(DebugMessage),
    /// `SSH_MSG_SERVICE_REQUEST`
    ServiceRequest(ServiceRequest),
    /// `SSH_MSG_SERVICE_ACCEPT`
    ServiceAccept(ServiceAccept),
    /// `SSH_MSG_EXT_INFO`
    ExtInfo(ExtInfo),
    /// `SSH_MSG_NEWCOMPRESS`
    NewCompress(NewCompress),
    /// `SSH_MSG_KEXINIT`
    KexInit(KexInit),
    /// `SSH_MSG_NEWKEYS`
    NewKeys(NewKeys),
    /// `SSH_MSG_KEXDH_INIT`
    KexdhInit(KexdhInit),
    /// `SSH_MSG_KEXDH_REPLY`
    KexdhReply(KexdhReply),
    /// `SSH_MSG_KEX_ECDH_INIT`
    KexEcdhInit(KexEcdhInit),
    /// `SSH_MSG_KEX_ECDH_REPLY`
    KexEcdhReply(KexEcdhReply),
    /// `SSH_MSG_KEX_DH_GEX_REQUEST_OLD`
    KexDhGexRequestOld(KexDhGexRequestOld),
    /// `SSH_MSG_KEX_DH_GEX_REQUEST`
    KexDhGexRequest(KexDhGexRequest),
    /// `SSH_MSG_KEX_DH_GEX_GROUP`
    KexDhGexGroup(KexDhGexGroup),
    /// `SSH_MSG_KEX_DH_GEX_INIT`
    KexDhGexInit(KexDhGexInit),
    /// `SSH_MSG_KEX_DH_GEX_REPLY`
    KexDhGexReply(KexDhGexReply),
    /// `SSH_MSG_USERAUTH_REQUEST`
    UserauthRequest(UserauthRequest),
    /// `SSH_MSG_USERAUTH_FAILURE`
    UserauthFailure(UserauthFailure),
    /// `SSH_MSG_USERAUTH_SUCCESS`
    UserauthSuccess(UserauthSuccess),
    /// `SSH_MSG_USERAUTH_BANNER`
    UserauthBanner(UserauthBanner),
    /// `SSH_MSG_USERAUTH_PK_OK`
    UserauthPkOk(UserauthPkOk),
    /// `SSH_MSG_USERAUTH_PASSWD_CHANGEREQ`
    UserauthPasswdChangereq(UserauthPasswdChangereq),
    /// `SSH_MSG_USERAUTH_INFO_REQUEST`
    UserauthInfoRequest(UserauthInfoRequest),
    /// `SSH_MSG_USERAUTH_INFO_RESPONSE`
    UserauthInfoResponse(UserauthInfoResponse),
    /// `SSH_MSG_GLOBAL_REQUEST`
    GlobalRequest(GlobalRequest),
    /// `SSH_MSG_REQUEST_SUCCESS`
    RequestSuccess(RequestSuccess),
    /// `SSH_MSG_REQUEST_FAILURE`
    RequestFailure(RequestFailure),
    /// `SSH_MSG_CHANNEL_OPEN`
    ChannelOpen(ChannelOpen),
    /// `SSH_MSG_CHANNEL_OPEN_CONFIRMATION`
    ChannelOpenConfirmation(ChannelOpenConfirmation),
    /// `SSH_MSG_CHANNEL_OPEN_FAILURE`
    ChannelOpenFailure(ChannelOpenFailure),
    /// `SSH_MSG_CHANNEL_WINDOW_ADJUST`
    ChannelWindowAdjust(ChannelWindowAdjust),
    /// `SSH_MSG_CHANNEL_DATA`
    ChannelData(ChannelData),
    /// `SSH_MSG_CHANNEL_EXTENDED_DATA`
    ChannelExtendedData(ChannelExtendedData),
    /// `SSH_MSG_CHANNEL_EOF`
    ChannelEof(ChannelEof),
    /// `SSH_MSG_CHANNEL_CLOSE`
    ChannelClose(ChannelClose),
    /// `SSH_MSG_CHANNEL_REQUEST`
    ChannelRequest(ChannelRequest),
    /// `SSH_MSG_CHANNEL_SUCCESS`
    ChannelSuccess(ChannelSuccess),
    /// `SSH_MSG_CHANNEL_FAILURE`
    ChannelFailure(ChannelFailure),
    /// `SSH2_MSG_PING`
    Ping(Ping),
    /// `SSH2_MSG_PONG`
    Pong(Pong),
}

/// The largest payload [`Message::encode`] writes: a `string` length must fit in a uint32.
const MAX_ENCODED_LEN: usize = u32::MAX as usize;

impl Message {
    /// Decodes a payload with no method-specific context: numbers 30-49 and 60-79 come back
    /// as [`Message::Unknown`].
    pub fn decode(payload: &Bytes) -> Result<Self> {
        Self::decode_with(payload, Context::default())
    }

    /// Decodes a payload; `ctx` says what numbers 30-49 and 60-79 mean.
    ///
    /// Errors only for number 0, an empty payload, or a known message whose body is
    /// malformed (truncated, trailing bytes, bad name-list or mpint). The data of
    /// `CHANNEL_DATA` and every other string is a slice of `payload`, not a copy.
    pub fn decode_with(payload: &Bytes, ctx: Context) -> Result<Self> {
        let number = *payload.first().ok_or(Error::EmptyPayload)?;
        fn d<T: MessageBody>(p: &Bytes) -> Result<T> {
            T::decode(p)
        }
        use AuthFamily as A;
        use KexFamily as K;
        Ok(match (number, ctx.kex, ctx.auth) {
            (0, _, _) => return Err(Error::ReservedMessageNumber),
            (1, _, _) => Self::Disconnect(d(payload)?),
            (2, _, _) => Self::Ignore(d(payload)?),
            (3, _, _) => Self::Unimplemented(d(payload)?),
            (4, _, _) => Self::Debug(d(payload)?),
            (5, _, _) => Self::ServiceRequest(d(payload)?),
            (6, _, _) => Self::ServiceAccept(d(payload)?),
            (7, _, _) => Self::ExtInfo(d(payload)?),
            (8, _, _) => Self::NewCompress(d(payload)?),
            (20, _, _) => Self::KexInit(d(payload)?),
            (21, _, _) => Self::NewKeys(d(payload)?),
            (30, Some(K::Dh), _) => Self::KexdhInit(d(payload)?),
            (31, Some(K::Dh), _) => Self::KexdhReply(d(payload)?),
            (30, Some(K::Ecdh), _) => Self::KexEcdhInit(d(payload)?),
            (31, Some(K::Ecdh), _) => Self::KexEcdhReply(d(payload)?),
            (30, Some(K::DhGex), _) => Self::KexDhGexRequestOld(d(payload)?),
            (31, Some(K::DhGex), _) => Self::KexDhGexGroup(d(payload)?),
            (32, Some(K::DhGex), _) => Self::KexDhGexInit(d(payload)?),
            (33, Some(K::DhGex), _) => Self::KexDhGexReply(d(payload)?),
            (34, Some(K::DhGex), _) => Self::KexDhGexRequest(d(payload)?),
            (50, _, _) => Self::UserauthRequest(d(payload)?),
            (51, _, _) => Self::UserauthFailure(d(payload)?),
            (52, _, _) => Self::UserauthSuccess(d(payload)?),
            (53, _, _) => Self::UserauthBanner(d(payload)?),
            (60, _, Some(A::PublicKey)) => Self::UserauthPkOk(d(payload)?),
            (60, _, Some(A::Password)) => Self::UserauthPasswdChangereq(d(payload)?),
            (60, _, Some(A::KeyboardInteractive)) => Self::UserauthInfoRequest(d(payload)?),
            (61, _, Some(A::KeyboardInteractive)) => Self::UserauthInfoResponse(d(payload)?),
            (80, _, _) => Self::GlobalRequest(d(payload)?),
            (81, _, _) => Self::RequestSuccess(d(payload)?),
            (82, _, _) => Self::RequestFailure(d(payload)?),
            (90, _, _) => Self::ChannelOpen(d(payload)?),
            (91, _, _) => Self::ChannelOpenConfirmation(d(payload)?),
            (92, _, _) => Self::ChannelOpenFailure(d(payload)?),
            (93, _, _) => Self::ChannelWindowAdjust(d(payload)?),
            (94, _, _) => Self::ChannelData(d(payload)?),
            (95, _, _) => Self::ChannelExtendedData(d(payload)?),
            (96, _, _) => Self::ChannelEof(d(payload)?),
            (97, _, _) => Self::ChannelClose(d(payload)?),
            (98, _, _) => Self::ChannelRequest(d(payload)?),
            (99, _, _) => Self::ChannelSuccess(d(payload)?),
            (100, _, _) => Self::ChannelFailure(d(payload)?),
            (192, _, _) => Self::Ping(d(payload)?),
            (193, _, _) => Self::Pong(d(payload)?),
            (number, _, _) => Self::Unknown {
                number,
                payload: payload.slice(1..),
            },
        })
    }

    /// Appends the encoded payload to `out`.
    ///
    /// Fails only if the payload would be longer than 2^32-1 bytes, which no SSH packet can
    /// carry; nothing is written then.
    pub fn encode<B: BufMut + ?Sized>(&self, out: &mut B) -> Result<()> {
        let len = self.encoded_len();
        if len > MAX_ENCODED_LEN {
            return Err(Error::EncodingTooLarge { len });
        }
        self.encode_unchecked(out);
        Ok(())
    }

    /// The encoded payload as a new buffer.
    pub fn to_bytes(&self) -> Result<Bytes> {
        let mut out = bytes::BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut out)?;
        Ok(out.freeze())
    }
}
