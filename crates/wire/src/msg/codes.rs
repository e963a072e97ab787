//! Numeric codes as open newtypes: named constants for the values the RFCs assign, and any
//! other value kept as it came so it survives a round trip.

use core::fmt;

use bytes::BufMut;

use crate::error::Result;
use crate::types::{Field, Reader};

macro_rules! open_code {
    (
        $(#[$meta:meta])*
        $name:ident($repr:ty) {
            $( $(#[$cmeta:meta])* $konst:ident = $value:expr, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub $repr);

        impl $name {
            $( $(#[$cmeta])* pub const $konst: Self = Self($value); )*

            /// The constant's name, if the value is one the RFCs assign.
            #[must_use]
            pub fn name(self) -> Option<&'static str> {
                match self {
                    $( Self::$konst => Some(stringify!($konst)), )*
                    _ => None,
                }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}({})", stringify!($name), self.0),
                }
            }
        }

        impl From<$repr> for $name {
            fn from(v: $repr) -> Self {
                Self(v)
            }
        }

        impl From<$name> for $repr {
            fn from(v: $name) -> Self {
                v.0
            }
        }
    };
}

open_code! {
    /// `SSH_MSG_DISCONNECT` reason codes (RFC 4253 §11.1, RFC 4250 §4.2.2).
    DisconnectReason(u32) {
        /// `SSH_DISCONNECT_HOST_NOT_ALLOWED_TO_CONNECT`
        HOST_NOT_ALLOWED_TO_CONNECT = 1,
        /// `SSH_DISCONNECT_PROTOCOL_ERROR`
        PROTOCOL_ERROR = 2,
        /// `SSH_DISCONNECT_KEY_EXCHANGE_FAILED`
        KEY_EXCHANGE_FAILED = 3,
        /// `SSH_DISCONNECT_RESERVED`
        RESERVED = 4,
        /// `SSH_DISCONNECT_MAC_ERROR`
        MAC_ERROR = 5,
        /// `SSH_DISCONNECT_COMPRESSION_ERROR`
        COMPRESSION_ERROR = 6,
        /// `SSH_DISCONNECT_SERVICE_NOT_AVAILABLE`
        SERVICE_NOT_AVAILABLE = 7,
        /// `SSH_DISCONNECT_PROTOCOL_VERSION_NOT_SUPPORTED`
        PROTOCOL_VERSION_NOT_SUPPORTED = 8,
        /// `SSH_DISCONNECT_HOST_KEY_NOT_VERIFIABLE`
        HOST_KEY_NOT_VERIFIABLE = 9,
        /// `SSH_DISCONNECT_CONNECTION_LOST`
        CONNECTION_LOST = 10,
        /// `SSH_DISCONNECT_BY_APPLICATION`
        BY_APPLICATION = 11,
        /// `SSH_DISCONNECT_TOO_MANY_CONNECTIONS`
        TOO_MANY_CONNECTIONS = 12,
        /// `SSH_DISCONNECT_AUTH_CANCELLED_BY_USER`
        AUTH_CANCELLED_BY_USER = 13,
        /// `SSH_DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE`
        NO_MORE_AUTH_METHODS_AVAILABLE = 14,
        /// `SSH_DISCONNECT_ILLEGAL_USER_NAME`
        ILLEGAL_USER_NAME = 15,
    }
}

open_code! {
    /// `SSH_MSG_CHANNEL_OPEN_FAILURE` reason codes (RFC 4254 §5.1, RFC 4250 §4.3).
    ChannelOpenFailureReason(u32) {
        /// `SSH_OPEN_ADMINISTRATIVELY_PROHIBITED`
        ADMINISTRATIVELY_PROHIBITED = 1,
        /// `SSH_OPEN_CONNECT_FAILED`
        CONNECT_FAILED = 2,
        /// `SSH_OPEN_UNKNOWN_CHANNEL_TYPE`
        UNKNOWN_CHANNEL_TYPE = 3,
        /// `SSH_OPEN_RESOURCE_SHORTAGE`
        RESOURCE_SHORTAGE = 4,
    }
}

open_code! {
    /// `SSH_MSG_CHANNEL_EXTENDED_DATA` data type codes (RFC 4254 §5.2, RFC 4250 §4.4).
    ExtendedDataType(u32) {
        /// `SSH_EXTENDED_DATA_STDERR`
        STDERR = 1,
    }
}

macro_rules! code_field {
    ($($t:ty),*) => {$(
        impl Field for $t {
            fn read(r: &mut Reader<'_>) -> Result<Self> {
                r.u32().map(Self)
            }
            fn len(&self) -> usize {
                4
            }
            fn write<B: BufMut + ?Sized>(&self, out: &mut B) {
                out.put_u32(self.0);
            }
        }
    )*};
}

code_field!(DisconnectReason, ChannelOpenFailureReason, ExtendedDataType);
