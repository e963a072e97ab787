//! Message numbers (RFC 4250 §4.1 and the RFCs and OpenSSH documents that add to it) and the
//! protocol phase each range belongs to.

use core::fmt;

/// A message number: the first byte of every payload.
///
/// Numbers 30-49 mean different things for different key exchange methods, and 60-79 for
/// different authentication methods (RFC 4250 §4.1.2); the constants for those share values.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageNumber(pub u8);

macro_rules! numbers {
    ($( $(#[$m:meta])* $name:ident = $v:literal, )*) => {
        impl MessageNumber {
            $( $(#[$m])* pub const $name: Self = Self($v); )*
        }
    };
}

numbers! {
    /// `SSH_MSG_DISCONNECT` (RFC 4253 §11.1)
    DISCONNECT = 1,
    /// `SSH_MSG_IGNORE` (RFC 4253 §11.2)
    IGNORE = 2,
    /// `SSH_MSG_UNIMPLEMENTED` (RFC 4253 §11.4)
    UNIMPLEMENTED = 3,
    /// `SSH_MSG_DEBUG` (RFC 4253 §11.3)
    DEBUG = 4,
    /// `SSH_MSG_SERVICE_REQUEST` (RFC 4253 §10)
    SERVICE_REQUEST = 5,
    /// `SSH_MSG_SERVICE_ACCEPT` (RFC 4253 §10)
    SERVICE_ACCEPT = 6,
    /// `SSH_MSG_EXT_INFO` (RFC 8308 §2.3)
    EXT_INFO = 7,
    /// `SSH_MSG_NEWCOMPRESS` (RFC 8308 §3.2)
    NEWCOMPRESS = 8,
    /// `SSH_MSG_KEXINIT` (RFC 4253 §7.1)
    KEXINIT = 20,
    /// `SSH_MSG_NEWKEYS` (RFC 4253 §7.3)
    NEWKEYS = 21,
    /// `SSH_MSG_KEXDH_INIT` (RFC 4253 §8)
    KEXDH_INIT = 30,
    /// `SSH_MSG_KEXDH_REPLY` (RFC 4253 §8)
    KEXDH_REPLY = 31,
    /// `SSH_MSG_KEX_ECDH_INIT` (RFC 5656 §7.1; also curve25519, RFC 8731, and the hybrid
    /// post-quantum methods)
    KEX_ECDH_INIT = 30,
    /// `SSH_MSG_KEX_ECDH_REPLY` (RFC 5656 §7.1)
    KEX_ECDH_REPLY = 31,
    /// `SSH_MSG_KEX_DH_GEX_REQUEST_OLD` (RFC 4419 §5)
    KEX_DH_GEX_REQUEST_OLD = 30,
    /// `SSH_MSG_KEX_DH_GEX_GROUP` (RFC 4419 §5)
    KEX_DH_GEX_GROUP = 31,
    /// `SSH_MSG_KEX_DH_GEX_INIT` (RFC 4419 §5)
    KEX_DH_GEX_INIT = 32,
    /// `SSH_MSG_KEX_DH_GEX_REPLY` (RFC 4419 §5)
    KEX_DH_GEX_REPLY = 33,
    /// `SSH_MSG_KEX_DH_GEX_REQUEST` (RFC 4419 §5)
    KEX_DH_GEX_REQUEST = 34,
    /// `SSH_MSG_KEXGSS_INIT` (RFC 4462 §2.5; number only)
    KEXGSS_INIT = 30,
    /// `SSH_MSG_KEXGSS_CONTINUE` (RFC 4462 §2.5; number only)
    KEXGSS_CONTINUE = 31,
    /// `SSH_MSG_KEXGSS_COMPLETE` (RFC 4462 §2.5; number only)
    KEXGSS_COMPLETE = 32,
    /// `SSH_MSG_KEXGSS_HOSTKEY` (RFC 4462 §2.5; number only)
    KEXGSS_HOSTKEY = 33,
    /// `SSH_MSG_KEXGSS_ERROR` (RFC 4462 §2.5; number only)
    KEXGSS_ERROR = 34,
    /// `SSH_MSG_KEXGSS_GROUPREQ` (RFC 4462 §2.5; number only)
    KEXGSS_GROUPREQ = 40,
    /// `SSH_MSG_KEXGSS_GROUP` (RFC 4462 §2.5; number only)
    KEXGSS_GROUP = 41,
    /// `SSH_MSG_USERAUTH_REQUEST` (RFC 4252 §5)
    USERAUTH_REQUEST = 50,
    /// `SSH_MSG_USERAUTH_FAILURE` (RFC 4252 §5.1)
    USERAUTH_FAILURE = 51,
    /// `SSH_MSG_USERAUTH_SUCCESS` (RFC 4252 §5.1)
    USERAUTH_SUCCESS = 52,
    /// `SSH_MSG_USERAUTH_BANNER` (RFC 4252 §5.4)
    USERAUTH_BANNER = 53,
    /// `SSH_MSG_USERAUTH_PK_OK` (RFC 4252 §7)
    USERAUTH_PK_OK = 60,
    /// `SSH_MSG_USERAUTH_PASSWD_CHANGEREQ` (RFC 4252 §8)
    USERAUTH_PASSWD_CHANGEREQ = 60,
    /// `SSH_MSG_USERAUTH_INFO_REQUEST` (RFC 4256 §3.2)
    USERAUTH_INFO_REQUEST = 60,
    /// `SSH_MSG_USERAUTH_INFO_RESPONSE` (RFC 4256 §3.4)
    USERAUTH_INFO_RESPONSE = 61,
    /// `SSH_MSG_USERAUTH_GSSAPI_RESPONSE` (RFC 4462 §3.3; number only)
    USERAUTH_GSSAPI_RESPONSE = 60,
    /// `SSH_MSG_USERAUTH_GSSAPI_TOKEN` (RFC 4462 §3.4; number only)
    USERAUTH_GSSAPI_TOKEN = 61,
    /// `SSH_MSG_USERAUTH_GSSAPI_EXCHANGE_COMPLETE` (RFC 4462 §3.5; number only)
    USERAUTH_GSSAPI_EXCHANGE_COMPLETE = 63,
    /// `SSH_MSG_USERAUTH_GSSAPI_ERROR` (RFC 4462 §3.8; number only)
    USERAUTH_GSSAPI_ERROR = 64,
    /// `SSH_MSG_USERAUTH_GSSAPI_ERRTOK` (RFC 4462 §3.9; number only)
    USERAUTH_GSSAPI_ERRTOK = 65,
    /// `SSH_MSG_USERAUTH_GSSAPI_MIC` (RFC 4462 §3.6; number only)
    USERAUTH_GSSAPI_MIC = 66,
    /// `SSH_MSG_GLOBAL_REQUEST` (RFC 4254 §4)
    GLOBAL_REQUEST = 80,
    /// `SSH_MSG_REQUEST_SUCCESS` (RFC 4254 §4)
    REQUEST_SUCCESS = 81,
    /// `SSH_MSG_REQUEST_FAILURE` (RFC 4254 §4)
    REQUEST_FAILURE = 82,
    /// `SSH_MSG_CHANNEL_OPEN` (RFC 4254 §5.1)
    CHANNEL_OPEN = 90,
    /// `SSH_MSG_CHANNEL_OPEN_CONFIRMATION` (RFC 4254 §5.1)
    CHANNEL_OPEN_CONFIRMATION = 91,
    /// `SSH_MSG_CHANNEL_OPEN_FAILURE` (RFC 4254 §5.1)
    CHANNEL_OPEN_FAILURE = 92,
    /// `SSH_MSG_CHANNEL_WINDOW_ADJUST` (RFC 4254 §5.2)
    CHANNEL_WINDOW_ADJUST = 93,
    /// `SSH_MSG_CHANNEL_DATA` (RFC 4254 §5.2)
    CHANNEL_DATA = 94,
    /// `SSH_MSG_CHANNEL_EXTENDED_DATA` (RFC 4254 §5.2)
    CHANNEL_EXTENDED_DATA = 95,
    /// `SSH_MSG_CHANNEL_EOF` (RFC 4254 §5.3)
    CHANNEL_EOF = 96,
    /// `SSH_MSG_CHANNEL_CLOSE` (RFC 4254 §5.3)
    CHANNEL_CLOSE = 97,
    /// `SSH_MSG_CHANNEL_REQUEST` (RFC 4254 §5.4)
    CHANNEL_REQUEST = 98,
    /// `SSH_MSG_CHANNEL_SUCCESS` (RFC 4254 §5.4)
    CHANNEL_SUCCESS = 99,
    /// `SSH_MSG_CHANNEL_FAILURE` (RFC 4254 §5.4)
    CHANNEL_FAILURE = 100,
    /// `SSH2_MSG_PING` (OpenSSH PROTOCOL §1.9, `ping@openssh.com`)
    PING = 192,
    /// `SSH2_MSG_PONG` (OpenSSH PROTOCOL §1.9)
    PONG = 193,
}

/// The part of the protocol a message number belongs to (RFC 4250 §4.1.2 ranges).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// 1-19: transport layer generic (disconnect, ignore, debug, service, ext-info).
    Transport,
    /// 20-29: algorithm negotiation (KEXINIT, NEWKEYS).
    AlgorithmNegotiation,
    /// 30-49: specific to the key exchange method.
    KexMethod,
    /// 50-59: user authentication generic.
    Userauth,
    /// 60-79: specific to the authentication method.
    UserauthMethod,
    /// 80-89: connection protocol generic (global requests).
    Connection,
    /// 90-127: channel related.
    Channel,
    /// 128-191: reserved for client protocols.
    Reserved,
    /// 192-255: local extensions (OpenSSH's PING/PONG live here).
    LocalExtension,
    /// 0: never valid.
    Invalid,
}

impl MessageNumber {
    /// The range of RFC 4250 §4.1.2 this number falls in.
    #[must_use]
    pub fn phase(self) -> Phase {
        match self.0 {
            0 => Phase::Invalid,
            1..=19 => Phase::Transport,
            20..=29 => Phase::AlgorithmNegotiation,
            30..=49 => Phase::KexMethod,
            50..=59 => Phase::Userauth,
            60..=79 => Phase::UserauthMethod,
            80..=89 => Phase::Connection,
            90..=127 => Phase::Channel,
            128..=191 => Phase::Reserved,
            192..=255 => Phase::LocalExtension,
        }
    }

    /// A name for logs. Numbers that depend on the negotiated method get a combined name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self.0 {
            1 => "SSH_MSG_DISCONNECT",
            2 => "SSH_MSG_IGNORE",
            3 => "SSH_MSG_UNIMPLEMENTED",
            4 => "SSH_MSG_DEBUG",
            5 => "SSH_MSG_SERVICE_REQUEST",
            6 => "SSH_MSG_SERVICE_ACCEPT",
            7 => "SSH_MSG_EXT_INFO",
            8 => "SSH_MSG_NEWCOMPRESS",
            20 => "SSH_MSG_KEXINIT",
            21 => "SSH_MSG_NEWKEYS",
            30 => "SSH_MSG_KEXDH_INIT/KEX_ECDH_INIT/KEX_DH_GEX_REQUEST_OLD",
            31 => "SSH_MSG_KEXDH_REPLY/KEX_ECDH_REPLY/KEX_DH_GEX_GROUP",
            32 => "SSH_MSG_KEX_DH_GEX_INIT",
            33 => "SSH_MSG_KEX_DH_GEX_REPLY",
            34 => "SSH_MSG_KEX_DH_GEX_REQUEST",
            50 => "SSH_MSG_USERAUTH_REQUEST",
            51 => "SSH_MSG_USERAUTH_FAILURE",
            52 => "SSH_MSG_USERAUTH_SUCCESS",
            53 => "SSH_MSG_USERAUTH_BANNER",
            60 => "SSH_MSG_USERAUTH_PK_OK/PASSWD_CHANGEREQ/INFO_REQUEST",
            61 => "SSH_MSG_USERAUTH_INFO_RESPONSE",
            80 => "SSH_MSG_GLOBAL_REQUEST",
            81 => "SSH_MSG_REQUEST_SUCCESS",
            82 => "SSH_MSG_REQUEST_FAILURE",
            90 => "SSH_MSG_CHANNEL_OPEN",
            91 => "SSH_MSG_CHANNEL_OPEN_CONFIRMATION",
            92 => "SSH_MSG_CHANNEL_OPEN_FAILURE",
            93 => "SSH_MSG_CHANNEL_WINDOW_ADJUST",
            94 => "SSH_MSG_CHANNEL_DATA",
            95 => "SSH_MSG_CHANNEL_EXTENDED_DATA",
            96 => "SSH_MSG_CHANNEL_EOF",
            97 => "SSH_MSG_CHANNEL_CLOSE",
            98 => "SSH_MSG_CHANNEL_REQUEST",
            99 => "SSH_MSG_CHANNEL_SUCCESS",
            100 => "SSH_MSG_CHANNEL_FAILURE",
            192 => "SSH2_MSG_PING",
            193 => "SSH2_MSG_PONG",
            _ => "unassigned",
        }
    }
}

impl fmt::Debug for MessageNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

impl From<u8> for MessageNumber {
    fn from(v: u8) -> Self {
        Self(v)
    }
}
