//! Algorithm negotiation (RFC 4253 §7.1).

use alloc::string::{String, ToString};

use whelk_keys::SigAlg;
use whelk_wire::msg::KexInit;
use whelk_wire::names::{EXT_INFO_C, EXT_INFO_S, KEX_STRICT_C_V00, KEX_STRICT_S_V00};
use whelk_wire::types::NameList;

use crate::error::{Category, Error, Result};
use crate::method::{KexMethod, method_by_name};

/// Which end of the connection we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The client.
    Client,
    /// The server.
    Server,
}

/// Whether `name` is one of the pseudo-algorithms carried in `kex_algorithms` (RFC 8308
/// `ext-info-*`, OpenSSH's `kex-strict-*`), which are never negotiated as a method.
#[must_use]
pub fn is_kex_marker(name: &str) -> bool {
    matches!(
        name,
        EXT_INFO_C | EXT_INFO_S | KEX_STRICT_C_V00 | KEX_STRICT_S_V00
    ) || name.starts_with("ext-info-")
        || name.starts_with("kex-strict-")
}

/// Whether a host key algorithm can sign: whelk-keys knows it as a plain or certificate
/// signature algorithm.
#[must_use]
pub fn is_signature_host_key_algorithm(name: &str) -> bool {
    SigAlg::from_any_name(name).is_some()
}

/// The outcome of negotiation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The key exchange method.
    pub kex: &'static KexMethod,
    /// The server host key algorithm (possibly a certificate algorithm).
    pub host_key_algorithm: String,
    /// Cipher, client to server.
    pub cipher_client_to_server: String,
    /// Cipher, server to client.
    pub cipher_server_to_client: String,
    /// MAC, client to server; `None` when the cipher is an AEAD (the MAC lists are then not
    /// negotiated, as in OpenSSH).
    pub mac_client_to_server: Option<String>,
    /// MAC, server to client; `None` for AEAD ciphers.
    pub mac_server_to_client: Option<String>,
    /// Compression, client to server.
    pub compression_client_to_server: String,
    /// Compression, server to client.
    pub compression_server_to_client: String,
    /// Language, client to server (no match is not an error).
    pub language_client_to_server: Option<String>,
    /// Language, server to client.
    pub language_server_to_client: Option<String>,
    /// The client's `kex_algorithms` had `ext-info-c`.
    pub client_ext_info: bool,
    /// The server's `kex_algorithms` had `ext-info-s`.
    pub server_ext_info: bool,
    /// The client's `kex_algorithms` had `kex-strict-c-v00@openssh.com`.
    pub client_strict_kex: bool,
    /// The server's `kex_algorithms` had `kex-strict-s-v00@openssh.com`.
    pub server_strict_kex: bool,
    /// The client set `first_kex_packet_follows` and guessed wrong: the server must discard
    /// the client's next key exchange packet.
    pub discard_client_guess: bool,
    /// The server set `first_kex_packet_follows` and guessed wrong: the client must discard
    /// the server's next key exchange packet.
    pub discard_server_guess: bool,
}

impl Negotiated {
    /// Strict key exchange (Terrapin countermeasure) is on when both sides offered it. Only
    /// meaningful for the first exchange of a connection.
    #[must_use]
    pub fn strict_kex(&self) -> bool {
        self.client_strict_kex && self.server_strict_kex
    }

    /// Whether `me` must discard the next key exchange packet from the peer (a wrong guess
    /// after `first_kex_packet_follows`, RFC 4253 §7).
    #[must_use]
    pub fn discard_peer_guess(&self, me: Role) -> bool {
        match me {
            Role::Client => self.discard_server_guess,
            Role::Server => self.discard_client_guess,
        }
    }
}

fn pick(client: &NameList, server: &NameList, cat: Category) -> Result<String> {
    client
        .first_match(server)
        .map(ToString::to_string)
        .ok_or(Error::NoCommonAlgorithm(cat))
}

fn first_method(list: &NameList) -> Option<&str> {
    list.iter().find(|n| !is_kex_marker(n))
}

/// Whether the aead cipher `name` makes the MAC irrelevant.
fn is_aead(name: &str) -> bool {
    whelk_cipher::registry::cipher_by_name(name).is_some_and(|c| c.is_aead())
}

/// Negotiates every category from the two KEXINITs (RFC 4253 §7.1): in each, the first
/// algorithm of the client's list that the server also lists.
///
/// - The key exchange method ignores the marker names (`ext-info-*`, `kex-strict-*`); a
///   match this crate does not implement is [`Error::UnsupportedMethod`].
/// - The host key algorithm must fit the method: every method here needs a
///   signature-capable host key ([`is_signature_host_key_algorithm`]; certificate
///   algorithms count).
/// - MACs are not negotiated for AEAD ciphers (OpenSSH's behaviour).
/// - A `first_kex_packet_follows` guess is wrong when the two sides' first key exchange
///   methods or first host key algorithms differ (RFC 4253 §7; OpenSSH `proposals_match`).
pub fn negotiate(client: &KexInit, server: &KexInit) -> Result<Negotiated> {
    let kex_name = client
        .kex_algorithms
        .iter()
        .filter(|n| !is_kex_marker(n))
        .find(|n| server.kex_algorithms.iter().any(|s| s == *n))
        .ok_or(Error::NoCommonAlgorithm(Category::Kex))?;
    let kex =
        method_by_name(kex_name).ok_or_else(|| Error::UnsupportedMethod(kex_name.to_string()))?;

    let host_key_algorithm = client
        .server_host_key_algorithms
        .iter()
        .filter(|n| !kex.needs_signature_host_key() || is_signature_host_key_algorithm(n))
        .find(|n| server.server_host_key_algorithms.contains(n))
        .map(ToString::to_string)
        .ok_or(Error::NoCommonAlgorithm(Category::HostKey))?;

    let cipher_client_to_server = pick(
        &client.encryption_client_to_server,
        &server.encryption_client_to_server,
        Category::CipherClientToServer,
    )?;
    let cipher_server_to_client = pick(
        &client.encryption_server_to_client,
        &server.encryption_server_to_client,
        Category::CipherServerToClient,
    )?;
    let mac_client_to_server = if is_aead(&cipher_client_to_server) {
        None
    } else {
        Some(pick(
            &client.mac_client_to_server,
            &server.mac_client_to_server,
            Category::MacClientToServer,
        )?)
    };
    let mac_server_to_client = if is_aead(&cipher_server_to_client) {
        None
    } else {
        Some(pick(
            &client.mac_server_to_client,
            &server.mac_server_to_client,
            Category::MacServerToClient,
        )?)
    };
    let compression_client_to_server = pick(
        &client.compression_client_to_server,
        &server.compression_client_to_server,
        Category::CompressionClientToServer,
    )?;
    let compression_server_to_client = pick(
        &client.compression_server_to_client,
        &server.compression_server_to_client,
        Category::CompressionServerToClient,
    )?;

    let guess_right = first_method(&client.kex_algorithms) == first_method(&server.kex_algorithms)
        && client.server_host_key_algorithms.iter().next()
            == server.server_host_key_algorithms.iter().next();

    Ok(Negotiated {
        kex,
        host_key_algorithm,
        cipher_client_to_server,
        cipher_server_to_client,
        mac_client_to_server,
        mac_server_to_client,
        compression_client_to_server,
        compression_server_to_client,
        language_client_to_server: client
            .languages_client_to_server
            .first_match(&server.languages_client_to_server)
            .map(ToString::to_string),
        language_server_to_client: client
            .languages_server_to_client
            .first_match(&server.languages_server_to_client)
            .map(ToString::to_string),
        client_ext_info: client.kex_algorithms.contains(EXT_INFO_C),
        server_ext_info: server.kex_algorithms.contains(EXT_INFO_S),
        client_strict_kex: client.kex_algorithms.contains(KEX_STRICT_C_V00),
        server_strict_kex: server.kex_algorithms.contains(KEX_STRICT_S_V00),
        discard_client_guess: client.first_kex_packet_follows && !guess_right,
        discard_server_guess: server.first_kex_packet_follows && !guess_right,
    })
}
