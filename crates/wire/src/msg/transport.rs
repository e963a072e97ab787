//! Transport-layer messages: RFC 4253 §§7, 10, 11; RFC 8308 (EXT_INFO, NEWCOMPRESS); OpenSSH
//! PROTOCOL §1.9 (PING/PONG).

use alloc::vec::Vec;

use bytes::{BufMut, Bytes};

use super::{DisconnectReason, MessageBody, message};
use crate::error::{Error, Result};
use crate::types::{NameList, PutSsh, Reader, Text, string_len};

message! {
    /// `SSH_MSG_DISCONNECT` (RFC 4253 §11.1).
    Disconnect = 1, "SSH_MSG_DISCONNECT" {
        /// Why the sender is closing.
        reason: DisconnectReason,
        /// Human-readable description (UTF-8).
        description: Text,
        /// Language tag (RFC 3066), usually empty.
        language: Text,
    }
}

message! {
    /// `SSH_MSG_IGNORE` (RFC 4253 §11.2).
    Ignore = 2, "SSH_MSG_IGNORE" {
        /// Arbitrary data.
        data: Bytes,
    }
}

message! {
    /// `SSH_MSG_UNIMPLEMENTED` (RFC 4253 §11.4).
    Unimplemented = 3, "SSH_MSG_UNIMPLEMENTED" {
        /// Sequence number of the packet that was not understood.
        sequence: u32,
    }
}

message! {
    /// `SSH_MSG_DEBUG` (RFC 4253 §11.3).
    DebugMessage = 4, "SSH_MSG_DEBUG" {
        /// Whether the message should be shown to the user.
        always_display: bool,
        /// The message (UTF-8).
        message: Text,
        /// Language tag.
        language: Text,
    }
}

message! {
    /// `SSH_MSG_SERVICE_REQUEST` (RFC 4253 §10).
    ServiceRequest = 5, "SSH_MSG_SERVICE_REQUEST" {
        /// Service name, e.g. `ssh-userauth`.
        service: Text,
    }
}

message! {
    /// `SSH_MSG_SERVICE_ACCEPT` (RFC 4253 §10).
    ServiceAccept = 6, "SSH_MSG_SERVICE_ACCEPT" {
        /// Service name.
        service: Text,
    }
}

message! {
    /// `SSH_MSG_NEWCOMPRESS` (RFC 8308 §3.2): no fields.
    NewCompress = 8, "SSH_MSG_NEWCOMPRESS" {}
}

message! {
    /// `SSH_MSG_NEWKEYS` (RFC 4253 §7.3): no fields.
    NewKeys = 21, "SSH_MSG_NEWKEYS" {}
}

message! {
    /// `SSH2_MSG_PING` (OpenSSH PROTOCOL §1.9): answered with a PONG carrying the same data.
    Ping = 192, "SSH2_MSG_PING" {
        /// Data to echo.
        data: Bytes,
    }
}

message! {
    /// `SSH2_MSG_PONG` (OpenSSH PROTOCOL §1.9).
    Pong = 193, "SSH2_MSG_PONG" {
        /// The PING's data.
        data: Bytes,
    }
}

/// `SSH_MSG_EXT_INFO` (RFC 8308 §2.3): extension names and their values, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExtInfo {
    /// `(extension-name, extension-value)` pairs. Values are opaque here; their format
    /// depends on the extension (often a name-list).
    pub extensions: Vec<(Text, Bytes)>,
}

impl ExtInfo {
    /// The value of extension `name`, if present.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Bytes> {
        self.extensions
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }
}

impl MessageBody for ExtInfo {
    const NUMBER: u8 = 7;
    const NAME: &'static str = "SSH_MSG_EXT_INFO";

    fn read_body(r: &mut Reader<'_>) -> Result<Self> {
        // Each entry is two strings: at least 8 bytes.
        let n = r.count(8)?;
        let mut extensions = Vec::with_capacity(n);
        for _ in 0..n {
            extensions.push((r.text()?, r.string()?));
        }
        Ok(Self { extensions })
    }

    fn body_len(&self) -> usize {
        4 + self
            .extensions
            .iter()
            .map(|(n, v)| string_len(n.len()) + string_len(v.len()))
            .sum::<usize>()
    }

    fn write_body<B: BufMut + ?Sized>(&self, out: &mut B) {
        out.put_u32(u32::try_from(self.extensions.len()).unwrap_or(u32::MAX));
        for (n, v) in &self.extensions {
            out.put_ssh_string(n.as_bytes());
            out.put_ssh_string(v);
        }
    }
}

/// `SSH_MSG_KEXINIT` (RFC 4253 §7.1).
///
/// Algorithm lists are in preference order. The reserved uint32 must be zero; a non-zero value
/// is rejected. The exchange hash needs the exact payload bytes, so the transport keeps the
/// payload as received rather than re-encoding this value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KexInit {
    /// 16 random bytes.
    pub cookie: [u8; 16],
    /// `kex_algorithms` (also carries `ext-info-c`/`-s` and the strict-kex markers).
    pub kex_algorithms: NameList,
    /// `server_host_key_algorithms`.
    pub server_host_key_algorithms: NameList,
    /// `encryption_algorithms_client_to_server`.
    pub encryption_client_to_server: NameList,
    /// `encryption_algorithms_server_to_client`.
    pub encryption_server_to_client: NameList,
    /// `mac_algorithms_client_to_server`.
    pub mac_client_to_server: NameList,
    /// `mac_algorithms_server_to_client`.
    pub mac_server_to_client: NameList,
    /// `compression_algorithms_client_to_server`.
    pub compression_client_to_server: NameList,
    /// `compression_algorithms_server_to_client`.
    pub compression_server_to_client: NameList,
    /// `languages_client_to_server`.
    pub languages_client_to_server: NameList,
    /// `languages_server_to_client`.
    pub languages_server_to_client: NameList,
    /// `first_kex_packet_follows`.
    pub first_kex_packet_follows: bool,
}

impl KexInit {
    fn lists(&self) -> [&NameList; 10] {
        [
            &self.kex_algorithms,
            &self.server_host_key_algorithms,
            &self.encryption_client_to_server,
            &self.encryption_server_to_client,
            &self.mac_client_to_server,
            &self.mac_server_to_client,
            &self.compression_client_to_server,
            &self.compression_server_to_client,
            &self.languages_client_to_server,
            &self.languages_server_to_client,
        ]
    }
}

impl MessageBody for KexInit {
    const NUMBER: u8 = 20;
    const NAME: &'static str = "SSH_MSG_KEXINIT";

    fn read_body(r: &mut Reader<'_>) -> Result<Self> {
        let msg = Self {
            cookie: r.array()?,
            kex_algorithms: r.name_list()?,
            server_host_key_algorithms: r.name_list()?,
            encryption_client_to_server: r.name_list()?,
            encryption_server_to_client: r.name_list()?,
            mac_client_to_server: r.name_list()?,
            mac_server_to_client: r.name_list()?,
            compression_client_to_server: r.name_list()?,
            compression_server_to_client: r.name_list()?,
            languages_client_to_server: r.name_list()?,
            languages_server_to_client: r.name_list()?,
            first_kex_packet_follows: r.bool()?,
        };
        match r.u32()? {
            0 => Ok(msg),
            other => Err(Error::KexInitReserved(other)),
        }
    }

    fn body_len(&self) -> usize {
        16 + self
            .lists()
            .iter()
            .map(|l| string_len(l.as_str().len()))
            .sum::<usize>()
            + 1
            + 4
    }

    fn write_body<B: BufMut + ?Sized>(&self, out: &mut B) {
        out.put_slice(&self.cookie);
        for l in self.lists() {
            out.put_ssh_string(l.as_str().as_bytes());
        }
        out.put_ssh_bool(self.first_kex_packet_follows);
        out.put_u32(0);
    }
}
