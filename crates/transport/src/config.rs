//! Configuration: algorithm preference lists, limits and role-specific settings.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use whelk_keys::{PrivateKey, SigAlg};
use whelk_wire::version::PreambleLimits;

/// Algorithm preference lists, most preferred first. The defaults are modern OpenSSH's;
/// weak algorithms (SHA-1 key exchange, CBC, 3DES, MD5, `ssh-rsa`) exist in the registries
/// but are off unless listed here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Algorithms {
    /// Key exchange methods (without the `ext-info-*` / `kex-strict-*` markers, which the
    /// transport adds itself).
    pub kex: Vec<String>,
    /// Host key algorithms. A server offers those it holds a key for.
    pub host_key: Vec<String>,
    /// Ciphers, both directions.
    pub ciphers: Vec<String>,
    /// MACs, both directions (ignored with AEAD ciphers).
    pub macs: Vec<String>,
    /// Compression methods, both directions (RFC 4253 §6.2). Default `none` only, as
    /// OpenSSH's client. `zlib@openssh.com` compresses only after USERAUTH_SUCCESS (no
    /// unauthenticated peer reaches the inflater); plain `zlib` from the first NEWKEYS. Each
    /// inflated packet is capped at [`Limits::max_packet_len`] (COMPRESSION_ERROR beyond,
    /// catalog R03).
    pub compression: Vec<String>,
}

impl Default for Algorithms {
    fn default() -> Self {
        Self {
            kex: whelk_kex::default_method_names()
                .map(ToString::to_string)
                .collect(),
            host_key: [
                SigAlg::Ed25519,
                SigAlg::EcdsaNistP256,
                SigAlg::EcdsaNistP384,
                SigAlg::EcdsaNistP521,
                SigAlg::RsaSha2_512,
                SigAlg::RsaSha2_256,
            ]
            .iter()
            .map(|a| a.name().to_string())
            .collect(),
            ciphers: whelk_cipher::registry::default_ciphers()
                .map(|c| c.name.to_string())
                .collect(),
            macs: whelk_cipher::registry::default_macs()
                .map(|m| m.name.to_string())
                .collect(),
            compression: vec!["none".to_string()],
        }
    }
}

/// Byte-count rekey limit default: 1 GiB (RFC 4253 §9).
pub const DEFAULT_REKEY_BYTES: u64 = 1 << 30;
/// Time rekey limit default: one hour (RFC 4253 §9).
pub const DEFAULT_REKEY_TIME: Duration = Duration::from_secs(3600);
/// Packet-count rekey limit (OpenSSH `MAX_PACKETS`, catalog P09).
pub const REKEY_PACKETS: u64 = 1 << 31;

/// Limits and timers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest inbound `packet_length` (default 256 KiB, as OpenSSH; at least 35000).
    pub max_packet_len: u32,
    /// What a client accepts before the server's identification line (lines, line length).
    pub preamble: PreambleLimits,
    /// Rekey after this many bytes in either direction (default 1 GiB; lowered to 2^(L/4)
    /// blocks for an L-bit block cipher, RFC 4344 §3.2, i.e. 512 KiB for 3DES).
    pub rekey_bytes: u64,
    /// Rekey after this much time (default one hour); `None` for no time limit.
    pub rekey_time: Option<Duration>,
    /// The identification exchange plus each key exchange must finish within this time.
    pub kex_timeout: Duration,
    /// Most upper-layer payloads queued while they cannot be sent (e.g. during a key
    /// exchange); more give [`crate::SendError::Blocked`] (catalog K16, Go uses 64).
    pub max_pending_payloads: usize,
    /// Most bytes of queued upper-layer payloads.
    pub max_pending_bytes: usize,
    /// Most events waiting to be polled before input is no longer consumed.
    pub max_pending_events: usize,
    /// Keepalive interval: when nothing was sent for this long, send a PING (if the peer
    /// announced `ping@openssh.com`) or an IGNORE.
    pub keepalive: Option<Duration>,
    /// Unanswered keepalive PINGs before the connection is declared lost (as OpenSSH's
    /// `ServerAliveCountMax`, default 3).
    pub keepalive_max_missed: u32,
    /// How often the peer may start a key re-exchange (catalog K18, a rekey storm); `None`
    /// for no limit.
    pub peer_rekeys: Option<PeerRekeyLimit>,
}

/// A limit on key re-exchanges the peer starts (each costs a key agreement and, on a
/// server, a host-key signature). A peer-initiated re-exchange is free when at least
/// `interval` passed since the previous key exchange began, or when at least half the
/// rekey limit ([`Limits::rekey_bytes`], lowered for 64-bit block ciphers) was sent and
/// received since then: a peer rekeying for its own data or time limits never notices.
/// An earlier one spends one of `burst` allowances, which come back one per `interval`;
/// with none left the connection ends with [`crate::Error::RekeyStorm`] (PROTOCOL_ERROR).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerRekeyLimit {
    /// Early re-exchanges allowed in a row (default 10).
    pub burst: u32,
    /// The interval after which a re-exchange is free, and at which allowances come back
    /// (default one second).
    pub interval: Duration,
}

impl Default for PeerRekeyLimit {
    fn default() -> Self {
        Self {
            burst: 10,
            interval: Duration::from_secs(1),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_packet_len: whelk_wire::frame::DEFAULT_MAX_PACKET_LEN,
            preamble: PreambleLimits::default(),
            rekey_bytes: DEFAULT_REKEY_BYTES,
            rekey_time: Some(DEFAULT_REKEY_TIME),
            kex_timeout: Duration::from_secs(60),
            max_pending_payloads: 64,
            max_pending_bytes: 4 * 1024 * 1024,
            max_pending_events: 64,
            keepalive: None,
            keepalive_max_missed: 3,
            peer_rekeys: Some(PeerRekeyLimit::default()),
        }
    }
}

/// Settings both roles share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Algorithm preference lists.
    pub algorithms: Algorithms,
    /// Limits and timers.
    pub limits: Limits,
    /// Offer strict KEX (`kex-strict-*-v00@openssh.com`, Terrapin countermeasure). On by
    /// default.
    pub strict_kex: bool,
    /// Offer RFC 8308 extension negotiation (`ext-info-c` / `ext-info-s`). On by default.
    pub ext_info: bool,
    /// The software part of our identification line.
    pub software: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            algorithms: Algorithms::default(),
            limits: Limits::default(),
            strict_kex: true,
            ext_info: true,
            software: "whelk_0.1".to_string(),
        }
    }
}

/// A client's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientConfig {
    /// Shared settings.
    pub config: Config,
}

/// A server's configuration.
#[derive(Clone)]
pub struct ServerConfig {
    /// Shared settings.
    pub config: Config,
    /// Host keys: the server offers each host key algorithm of
    /// [`Algorithms::host_key`] it has a key for, and signs `H` with it.
    pub host_keys: Vec<PrivateKey>,
    /// Services a client may request (default `ssh-userauth`).
    pub services: Vec<String>,
    /// Login grace time: fatal unless [`crate::Connection::authenticated`] was called
    /// within it (default 120 s, as sshd; `None` for none).
    pub login_grace: Option<Duration>,
    /// `server-sig-algs` sent in EXT_INFO.
    pub server_sig_algs: Vec<String>,
}

impl core::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("config", &self.config)
            .field("host_keys", &self.host_keys.len())
            .field("services", &self.services)
            .field("login_grace", &self.login_grace)
            .finish_non_exhaustive()
    }
}

impl ServerConfig {
    /// A server with these host keys and the default settings.
    #[must_use]
    pub fn new(host_keys: Vec<PrivateKey>) -> Self {
        Self {
            config: Config::default(),
            host_keys,
            services: vec![whelk_wire::names::SERVICE_USERAUTH.to_string()],
            login_grace: Some(Duration::from_secs(120)),
            server_sig_algs: [
                SigAlg::Ed25519,
                SigAlg::SkEd25519,
                SigAlg::EcdsaNistP256,
                SigAlg::EcdsaNistP384,
                SigAlg::EcdsaNistP521,
                SigAlg::SkEcdsaNistP256,
                SigAlg::RsaSha2_512,
                SigAlg::RsaSha2_256,
            ]
            .iter()
            .map(|a| a.name().to_string())
            .collect(),
        }
    }
}
