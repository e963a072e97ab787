//! A hostile SSH peer for the security suite, and an [`Endpoint`] that puts it and whelk's
//! facade connections ([`whelk::ClientConnection`], [`whelk::ServerConnection`]) in one
//! [`crate::pair::Pair`].
//!
//! [`Hostile`] speaks the real transport: it is a `whelk_transport::Connection` (real key
//! exchange, ciphers, MACs, compression), with test hooks that let a test
//!
//! - emit arbitrary payloads as packets ([`Hostile::send`], [`Hostile::send_now`]: sealed with
//!   the current keys, no checks);
//! - emit raw bytes on the wire ([`Hostile::send_raw`]: before the next packet, or
//!   [`Hostile::raw_only`] for framing attacks without a transport);
//! - drop, insert, alter or reorder its own packets ([`Hostile::filter`]: every outbound
//!   payload goes through a closure returning what to send instead);
//! - read what the victim sent, decrypted ([`Hostile::received`]: sequence number and
//!   payload of every packet) and why it disconnected ([`Hostile::peer_disconnect`]).
//!
//! Byte-level faults between two endpoints (a byte at a time, flips in flight, hours of
//! virtual time, livelock detection) are the [`crate::pair::Pair`]'s. [`plain_packets`]
//! splits the unencrypted part of a stream into packets for man-in-the-middle tampering
//! before NEWKEYS, and [`minimal_message`] builds a minimal well-formed instance of any
//! message number (the state × message matrix).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use rand_core::SeedableRng;
use whelk::{ClientConnection, ServerConnection};
use whelk_transport::{Connection, DisconnectReason, Event as TEvent, HostKeyDecision};

use crate::pair::Endpoint;

/// Packets the hostile peer received: (sequence number, decrypted payload).
pub type Received = Arc<Mutex<Vec<(u32, Bytes)>>>;

/// The hostile peer.
pub struct Hostile {
    /// The transport under the hostile peer's control (its own test hooks included).
    pub conn: Connection,
    raw: Vec<u8>,
    raw_only: bool,
    received: Received,
    sent: Received,
    peer_disconnect: Option<(DisconnectReason, String)>,
    /// Answer the host key check by accepting (client role; default on).
    pub accept_host_key: bool,
}

impl std::fmt::Debug for Hostile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hostile")
            .field("conn", &self.conn)
            .field("peer_disconnect", &self.peer_disconnect)
            .finish_non_exhaustive()
    }
}

fn rng(seed: u64) -> Box<chacha20::ChaCha20Rng> {
    Box::new(chacha20::ChaCha20Rng::seed_from_u64(seed))
}

impl Hostile {
    fn wrap(mut conn: Connection) -> Self {
        let received: Received = Arc::default();
        let log = received.clone();
        conn.set_inbound_observer_for_tests(Some(Box::new(move |seq, payload| {
            log.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((seq, payload.clone()));
        })));
        let sent: Received = Arc::default();
        let out = sent.clone();
        conn.set_outbound_observer_for_tests(Some(Box::new(move |seq, payload| {
            out.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((seq, payload.clone()));
        })));
        Self {
            conn,
            raw: Vec::new(),
            raw_only: false,
            received,
            sent,
            peer_disconnect: None,
            accept_host_key: true,
        }
    }

    /// A hostile client with these transport settings.
    pub fn client(config: whelk_transport::Config, seed: u64, now: Instant) -> Self {
        let conn = Connection::client(whelk_transport::ClientConfig { config }, rng(seed), now);
        Self::wrap(conn.unwrap_or_else(|e| unreachable_config(&e)))
    }

    /// A hostile server with these transport settings and host keys.
    pub fn server(
        config: whelk_transport::Config,
        host_keys: Vec<whelk_keys::PrivateKey>,
        seed: u64,
        now: Instant,
    ) -> Self {
        let mut sc = whelk_transport::ServerConfig::new(host_keys);
        sc.config = config;
        sc.login_grace = None;
        let conn = Connection::server(sc, rng(seed), now);
        Self::wrap(conn.unwrap_or_else(|e| unreachable_config(&e)))
    }

    /// Queues `payload` as a packet, sent when control messages may be (after our first
    /// NEWKEYS and outside a key exchange), whatever it is.
    pub fn send(&mut self, payload: impl Into<Bytes>) {
        self.conn.send_raw_for_tests(payload.into(), false);
    }

    /// Queues `payload` as a packet that goes out next, even before NEWKEYS or during a key
    /// exchange (after what the exchange already queued).
    pub fn send_now(&mut self, payload: impl Into<Bytes>) {
        self.conn.send_raw_for_tests(payload.into(), true);
    }

    /// Queues raw bytes, written before the next packets the transport produces.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.raw.extend_from_slice(bytes);
    }

    /// From now on only raw bytes go out (the transport's own output is discarded): for
    /// framing attacks before any key exchange.
    pub fn raw_only(&mut self) {
        self.raw_only = true;
    }

    /// Every outbound payload (except NEWKEYS and DISCONNECT) goes through `filter`, which
    /// returns what to send instead: nothing (drop), several (insert), changed (alter);
    /// holding one back and returning it later reorders.
    pub fn filter(&mut self, filter: impl FnMut(Bytes) -> Vec<Bytes> + Send + 'static) {
        self.conn
            .set_outbound_filter_for_tests(Some(Box::new(filter)));
    }

    /// A handle on the packets received so far: (sequence number, decrypted payload).
    #[must_use]
    pub fn received(&self) -> Received {
        self.received.clone()
    }

    /// A handle on the packets sent so far: (sequence number, payload before compression).
    #[must_use]
    pub fn sent(&self) -> Received {
        self.sent.clone()
    }

    /// The sequence number of the last packet sent with exactly this payload.
    #[must_use]
    pub fn seq_of(&self, payload: &[u8]) -> Option<u32> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .rev()
            .find(|(_, p)| p.as_ref() == payload)
            .map(|(s, _)| *s)
    }

    /// The message numbers received so far, in order.
    #[must_use]
    pub fn received_numbers(&self) -> Vec<u8> {
        self.received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter_map(|(_, p)| p.first().copied())
            .collect()
    }

    /// The sequence numbers carried by the UNIMPLEMENTED replies received so far.
    #[must_use]
    pub fn unimplemented_replies(&self) -> Vec<u32> {
        self.received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(_, p)| p.first() == Some(&3) && p.len() == 5)
            .filter_map(|(_, p)| {
                let b: [u8; 4] = p.get(1..5)?.try_into().ok()?;
                Some(u32::from_be_bytes(b))
            })
            .collect()
    }

    /// The victim's DISCONNECT (reason, description), if it sent one.
    #[must_use]
    pub fn peer_disconnect(&self) -> Option<&(DisconnectReason, String)> {
        self.peer_disconnect.as_ref()
    }

    /// The next sequence number our transport seals with (what the victim's UNIMPLEMENTED
    /// for our next packet carries).
    #[must_use]
    pub fn next_send_seq(&self) -> u32 {
        self.conn.sequence_numbers().0
    }
}

fn unreachable_config(e: &whelk_transport::Error) -> ! {
    // Test harness: a bad configuration is the test's own bug.
    #[allow(clippy::panic)]
    {
        panic!("hostile peer configuration: {e}")
    }
}

/// One end in a [`crate::pair::Pair`]: whelk's facade client or server, or the hostile
/// peer.
#[derive(Debug)]
pub enum Peer {
    /// whelk's client.
    Client(Box<ClientConnection>),
    /// whelk's server.
    Server(Box<ServerConnection>),
    /// The hostile peer.
    Hostile(Box<Hostile>),
}

/// What a [`Peer`] reports.
#[derive(Debug)]
pub enum PeerEvent {
    /// From whelk's facade.
    Whelk(whelk::Event),
    /// From the hostile peer's transport.
    Transport(TEvent),
}

impl Peer {
    /// The facade connection (client or server).
    pub fn whelk(&mut self) -> Option<&mut whelk::Connection> {
        match self {
            Self::Client(c) => Some(c),
            Self::Server(s) => Some(s),
            Self::Hostile(_) => None,
        }
    }

    /// The facade connection, read-only.
    #[must_use]
    pub fn whelk_ref(&self) -> Option<&whelk::Connection> {
        match self {
            Self::Client(c) => Some(c),
            Self::Server(s) => Some(s),
            Self::Hostile(_) => None,
        }
    }

    /// The hostile peer.
    pub fn hostile(&mut self) -> Option<&mut Hostile> {
        match self {
            Self::Hostile(h) => Some(h),
            _ => None,
        }
    }

    /// The hostile peer, read-only.
    #[must_use]
    pub fn hostile_ref(&self) -> Option<&Hostile> {
        match self {
            Self::Hostile(h) => Some(h),
            _ => None,
        }
    }
}

impl Endpoint for Peer {
    type Event = PeerEvent;

    fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<usize, String> {
        match self {
            Self::Client(c) => c.handle_input(now, data).map_err(|e| e.to_string()),
            Self::Server(s) => s.handle_input(now, data).map_err(|e| e.to_string()),
            Self::Hostile(h) => h.conn.handle_input(now, data).map_err(|e| e.to_string()),
        }
    }

    fn poll_transmit(&mut self, now: Instant, out: &mut BytesMut) -> usize {
        match self {
            Self::Client(c) => c.poll_transmit(now, out),
            Self::Server(s) => s.poll_transmit(now, out),
            Self::Hostile(h) => {
                let start = out.len();
                let mut produced = BytesMut::new();
                let _ = h.conn.poll_transmit(now, &mut produced);
                out.put_slice(&std::mem::take(&mut h.raw));
                if !h.raw_only {
                    out.put_slice(&produced);
                }
                out.len() - start
            }
        }
    }

    fn poll_event(&mut self) -> Option<PeerEvent> {
        match self {
            Self::Client(c) => c.poll_event().map(PeerEvent::Whelk),
            Self::Server(s) => s.poll_event().map(PeerEvent::Whelk),
            Self::Hostile(h) => {
                let ev = h.conn.poll_event()?;
                match ev {
                    TEvent::HostKey(check) => {
                        let decision = if h.accept_host_key {
                            HostKeyDecision::Accept
                        } else {
                            HostKeyDecision::Reject
                        };
                        let _ = h.conn.respond(check, decision);
                        Some(PeerEvent::Transport(TEvent::Writable))
                    }
                    TEvent::Disconnected {
                        reason,
                        description,
                        by_peer: true,
                    } => {
                        h.peer_disconnect = Some((reason, description.clone()));
                        Some(PeerEvent::Transport(TEvent::Disconnected {
                            reason,
                            description,
                            by_peer: true,
                        }))
                    }
                    other => Some(PeerEvent::Transport(other)),
                }
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Self::Client(c) => c.poll_timeout(),
            Self::Server(s) => s.poll_timeout(),
            Self::Hostile(h) => h.conn.poll_timeout(),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        match self {
            Self::Client(c) => c.handle_timeout(now),
            Self::Server(s) => s.handle_timeout(now),
            Self::Hostile(h) => h.conn.handle_timeout(now),
        }
    }
}

/// A small SSH encoder for hand-made payloads.
#[derive(Debug, Default, Clone)]
pub struct Enc(pub BytesMut);

impl Enc {
    /// Starts a payload with message number `n`.
    #[must_use]
    pub fn msg(n: u8) -> Self {
        let mut b = BytesMut::new();
        b.put_u8(n);
        Self(b)
    }
    /// A byte.
    #[must_use]
    pub fn u8(mut self, v: u8) -> Self {
        self.0.put_u8(v);
        self
    }
    /// A boolean.
    #[must_use]
    pub fn bool(self, v: bool) -> Self {
        self.u8(u8::from(v))
    }
    /// A uint32.
    #[must_use]
    pub fn u32(mut self, v: u32) -> Self {
        self.0.put_u32(v);
        self
    }
    /// A string.
    #[must_use]
    pub fn string(mut self, v: &[u8]) -> Self {
        self.0.put_u32(u32::try_from(v.len()).unwrap_or(u32::MAX));
        self.0.put_slice(v);
        self
    }
    /// Raw bytes.
    #[must_use]
    pub fn raw(mut self, v: &[u8]) -> Self {
        self.0.put_slice(v);
        self
    }
    /// The payload.
    #[must_use]
    pub fn done(self) -> Bytes {
        self.0.freeze()
    }
}

/// A minimal well-formed instance of message number `n` as a client (`from_client`) or a
/// server would send it. Channel numbers are 0; names are the common ones (`ssh-userauth`,
/// `session`, `exec`); a KEXINIT offers `curve25519-sha256`, `ssh-ed25519`,
/// `aes128-ctr`, `hmac-sha2-256-etm@openssh.com`. Numbers without a defined message get
/// just the number byte.
#[must_use]
pub fn minimal_message(n: u8, from_client: bool) -> Bytes {
    let e = Enc::msg(n);
    match n {
        1 => e.u32(11).string(b"bye").string(b""),
        2 => e.string(b"x"),
        3 => e.u32(0),
        4 => e.bool(false).string(b"debug").string(b""),
        5 | 6 => e.string(b"ssh-userauth"),
        7 => e.u32(1).string(b"ping@openssh.com").string(b"0"),
        20 => {
            let mut e = e.raw(&[0x11; 16]);
            let lists: [&[u8]; 10] = [
                b"curve25519-sha256",
                b"ssh-ed25519",
                b"aes128-ctr",
                b"aes128-ctr",
                b"hmac-sha2-256-etm@openssh.com",
                b"hmac-sha2-256-etm@openssh.com",
                b"none",
                b"none",
                b"",
                b"",
            ];
            for l in lists {
                e = e.string(l);
            }
            e.bool(false).u32(0)
        }
        21 => e,
        30 => e.string(&[9; 32]),
        31 => e.string(b"").string(&[9; 32]).string(b""),
        50 => e
            .string(b"attacker")
            .string(b"ssh-connection")
            .string(b"none"),
        51 => e.string(b"password").bool(false),
        52 => e,
        53 => e.string(b"banner").string(b""),
        60 => e.string(b"ssh-ed25519").string(b""),
        61 => e.u32(0),
        80 => e.string(b"keepalive@openssh.com").bool(true),
        81 | 82 => e,
        90 => e.string(b"session").u32(0).u32(0x20_0000).u32(0x8000),
        91 => e.u32(0).u32(0).u32(0x20_0000).u32(0x8000),
        92 => e.u32(0).u32(2).string(b"no").string(b""),
        93 => e.u32(0).u32(1024),
        94 => e.u32(0).string(b"data"),
        95 => e.u32(0).u32(1).string(b"err"),
        96 | 97 | 99 | 100 => e.u32(0),
        98 => {
            if from_client {
                e.u32(0).string(b"exec").bool(true).string(b"id")
            } else {
                e.u32(0).string(b"exit-status").bool(false).u32(0)
            }
        }
        192 | 193 => e.string(b"p"),
        _ => e,
    }
    .done()
}

/// An unencrypted packet found by [`plain_packets`]: its byte range in the stream and its
/// payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainPacket {
    /// Offset of the length field.
    pub start: usize,
    /// Offset after the padding.
    pub end: usize,
    /// The payload.
    pub payload: Bytes,
}

/// Splits `stream` (starting at a packet boundary, after the identification line) into
/// unencrypted packets, stopping at the first that is incomplete or not plausible (e.g.
/// encrypted bytes after NEWKEYS). Returns the packets and where parsing stopped.
#[must_use]
pub fn plain_packets(stream: &[u8]) -> (Vec<PlainPacket>, usize) {
    let mut out = Vec::new();
    let mut at = 0usize;
    while let Some(len) = stream
        .get(at..at + 4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_be_bytes)
    {
        let Ok(len) = usize::try_from(len) else { break };
        if !(5..=35_000).contains(&len) {
            break;
        }
        let Some(&pad) = stream.get(at + 4) else {
            break;
        };
        let pad = usize::from(pad);
        if pad < 4 || pad + 1 >= len || (len + 4) % 8 != 0 {
            break;
        }
        let Some(payload) = stream.get(at + 5..at + 4 + len - pad) else {
            break;
        };
        out.push(PlainPacket {
            start: at,
            end: at + 4 + len,
            payload: Bytes::copy_from_slice(payload),
        });
        if stream.len() < at + 4 + len {
            out.pop();
            break;
        }
        at += 4 + len;
    }
    (out, at)
}

/// Frames `payload` as an unencrypted packet (padding to a multiple of 8, at least 4
/// bytes of zeros), for MITM insertion before NEWKEYS.
#[must_use]
pub fn plain_packet(payload: &[u8]) -> Vec<u8> {
    let mut pad = 8 - (payload.len() + 5) % 8;
    if pad < 4 {
        pad += 8;
    }
    let len = u32::try_from(payload.len() + pad + 1).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(payload.len() + pad + 5);
    out.extend_from_slice(&len.to_be_bytes());
    out.push(u8::try_from(pad).unwrap_or(4));
    out.extend_from_slice(payload);
    out.extend(std::iter::repeat_n(0u8, pad));
    out
}
