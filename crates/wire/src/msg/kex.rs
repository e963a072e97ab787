//! Key-exchange method messages (numbers 30-49): fixed-group DH (RFC 4253 §8), ECDH form
//! (RFC 5656 §7.1, used by curve25519 per RFC 8731 and the hybrid post-quantum methods) and
//! group exchange (RFC 4419). GSS-API key exchange (RFC 4462) has numbers only, in
//! [`MessageNumber`](super::MessageNumber).

use bytes::Bytes;

use super::message;
use crate::types::MpInt;

message! {
    /// `SSH_MSG_KEXDH_INIT` (RFC 4253 §8).
    KexdhInit = 30, "SSH_MSG_KEXDH_INIT" {
        /// The client's public value `e`.
        e: MpInt,
    }
}

message! {
    /// `SSH_MSG_KEXDH_REPLY` (RFC 4253 §8).
    KexdhReply = 31, "SSH_MSG_KEXDH_REPLY" {
        /// `K_S`: the server's public host key blob.
        host_key: Bytes,
        /// The server's public value `f`.
        f: MpInt,
        /// Signature of the exchange hash `H`.
        signature: Bytes,
    }
}

message! {
    /// `SSH_MSG_KEX_ECDH_INIT` (RFC 5656 §7.1).
    KexEcdhInit = 30, "SSH_MSG_KEX_ECDH_INIT" {
        /// `Q_C`: the client's ephemeral public value (octet string).
        client_public: Bytes,
    }
}

message! {
    /// `SSH_MSG_KEX_ECDH_REPLY` (RFC 5656 §7.1).
    KexEcdhReply = 31, "SSH_MSG_KEX_ECDH_REPLY" {
        /// `K_S`: the server's public host key blob.
        host_key: Bytes,
        /// `Q_S`: the server's ephemeral public value.
        server_public: Bytes,
        /// Signature of the exchange hash `H`.
        signature: Bytes,
    }
}

message! {
    /// `SSH_MSG_KEX_DH_GEX_REQUEST_OLD` (RFC 4419 §5).
    KexDhGexRequestOld = 30, "SSH_MSG_KEX_DH_GEX_REQUEST_OLD" {
        /// Preferred group size in bits.
        n: u32,
    }
}

message! {
    /// `SSH_MSG_KEX_DH_GEX_REQUEST` (RFC 4419 §3).
    KexDhGexRequest = 34, "SSH_MSG_KEX_DH_GEX_REQUEST" {
        /// Minimal acceptable group size in bits.
        min: u32,
        /// Preferred group size in bits.
        n: u32,
        /// Maximal acceptable group size in bits.
        max: u32,
    }
}

message! {
    /// `SSH_MSG_KEX_DH_GEX_GROUP` (RFC 4419 §3).
    KexDhGexGroup = 31, "SSH_MSG_KEX_DH_GEX_GROUP" {
        /// Safe prime `p`.
        p: MpInt,
        /// Generator `g`.
        g: MpInt,
    }
}

message! {
    /// `SSH_MSG_KEX_DH_GEX_INIT` (RFC 4419 §3).
    KexDhGexInit = 32, "SSH_MSG_KEX_DH_GEX_INIT" {
        /// The client's public value `e`.
        e: MpInt,
    }
}

message! {
    /// `SSH_MSG_KEX_DH_GEX_REPLY` (RFC 4419 §3).
    KexDhGexReply = 33, "SSH_MSG_KEX_DH_GEX_REPLY" {
        /// `K_S`: the server's public host key blob.
        host_key: Bytes,
        /// The server's public value `f`.
        f: MpInt,
        /// Signature of the exchange hash `H`.
        signature: Bytes,
    }
}
