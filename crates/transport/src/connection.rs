//! The connection state machine.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use chacha20::ChaCha20Rng;
use rand_core::{CryptoRng, SeedableRng};
use whelk_cipher::registry::{CompressionAlgorithm, CompressionKind};
use whelk_cipher::{Compressor, Decompressor, Deframer, PacketOpener, PacketSealer, registry};
use whelk_kex::{
    ClientKex, ClientStep, ExchangeContext, KexOutput, KeySigner, KeySizes, Negotiated, ServerKex,
    ServerStep, negotiate,
};
use whelk_keys::{PrivateKey, SigAlg};
use whelk_wire::frame::{PacketLimits, PacketStart, finish_packet, start_packet};
use whelk_wire::msg::{
    ChannelData, ChannelExtendedData, ChannelWindowAdjust, Context, DebugMessage, Disconnect,
    DisconnectReason, ExtInfo, Ignore, KexInit, Message, MessageBody, NewKeys, Ping, Pong,
    ServiceAccept, ServiceRequest, Unimplemented,
};
use whelk_wire::names::{
    EXT_INFO_C, EXT_INFO_S, EXT_PING, EXT_PUBLICKEY_HOSTBOUND, EXT_SERVER_SIG_ALGS,
    KEX_STRICT_C_V00, KEX_STRICT_S_V00, SERVICE_USERAUTH,
};
use whelk_wire::types::{NameList, Text};
use whelk_wire::version::{Role as WireRole, Version, VersionReader, VersionStatus};

use crate::Instant;
use crate::config::{ClientConfig, Config, REKEY_PACKETS, ServerConfig};
use crate::error::{Error, Result, SendError};
use crate::event::{Event, HostKeyCheck, HostKeyDecision, KexInfo};

/// Message numbers.
const MSG_DISCONNECT: u8 = 1;
const MSG_IGNORE: u8 = 2;
const MSG_UNIMPLEMENTED: u8 = 3;
const MSG_DEBUG: u8 = 4;
const MSG_SERVICE_REQUEST: u8 = 5;
const MSG_SERVICE_ACCEPT: u8 = 6;
const MSG_EXT_INFO: u8 = 7;
const MSG_KEXINIT: u8 = 20;
const MSG_NEWKEYS: u8 = 21;
const MSG_USERAUTH_SUCCESS: u8 = 52;
const MSG_PING: u8 = 192;
const MSG_PONG: u8 = 193;

/// Most control messages (PONG, UNIMPLEMENTED replies...) queued; more are dropped
/// (catalog K17).
const MAX_CONTROL: usize = 64;
/// Room in the receive buffer beyond the largest packet (MAC, length, slack).
const RX_SLACK: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    Kex = 0,
    Rekey = 1,
    Keepalive = 2,
    LoginGrace = 3,
}

const TIMERS: [Timer; 4] = [
    Timer::Kex,
    Timer::Rekey,
    Timer::Keepalive,
    Timer::LoginGrace,
];

struct ServerSide {
    host_keys: Vec<PrivateKey>,
    services: Vec<String>,
    server_sig_algs: Vec<String>,
}

enum Machine {
    Waiting,
    Client(ClientKex),
    Server(ServerKex),
}

/// An upper-layer payload waiting for its packet. The channel data path's messages wait
/// unencoded and are encoded straight into their packet; others are encoded when queued.
enum Outgoing {
    /// Encoded already ([`Connection::send_payload`], or any other message).
    Encoded(Bytes),
    Data(ChannelData),
    ExtendedData(ChannelExtendedData),
    WindowAdjust(ChannelWindowAdjust),
}

impl Outgoing {
    fn from_message(msg: Message) -> Result<Self, whelk_wire::Error> {
        Ok(match msg {
            Message::ChannelData(m) => Self::Data(m),
            Message::ChannelExtendedData(m) => Self::ExtendedData(m),
            Message::ChannelWindowAdjust(m) => Self::WindowAdjust(m),
            other => Self::Encoded(other.to_bytes()?),
        })
    }

    fn len(&self) -> usize {
        match self {
            Self::Encoded(b) => b.len(),
            Self::Data(m) => m.encoded_len(),
            Self::ExtendedData(m) => m.encoded_len(),
            Self::WindowAdjust(m) => m.encoded_len(),
        }
    }

    fn number(&self) -> u8 {
        match self {
            Self::Encoded(b) => b.first().copied().unwrap_or(0),
            Self::Data(_) => ChannelData::NUMBER,
            Self::ExtendedData(_) => ChannelExtendedData::NUMBER,
            Self::WindowAdjust(_) => ChannelWindowAdjust::NUMBER,
        }
    }

    /// Appends the payload to `out`.
    fn encode(&self, out: &mut BytesMut) {
        match self {
            Self::Encoded(b) => out.put_slice(b),
            Self::Data(m) => m.encode(out),
            Self::ExtendedData(m) => m.encode(out),
            Self::WindowAdjust(m) => m.encode(out),
        }
    }

    fn into_bytes(self) -> Bytes {
        match self {
            Self::Encoded(b) => b,
            other => {
                let mut out = BytesMut::with_capacity(other.len());
                other.encode(&mut out);
                out.freeze()
            }
        }
    }
}

enum OutItem {
    Payload(Bytes),
    /// Our NEWKEYS: after it, this sealer and compression; `bool`: of the first exchange.
    NewKeys(
        Box<dyn PacketSealer>,
        bool,
        Option<&'static CompressionAlgorithm>,
    ),
}

/// The compression of one direction under the current keys (RFC 4253 §6.2): the negotiated
/// method, and the zlib stream once it is active (`zlib` at once, `zlib@openssh.com` only
/// after USERAUTH_SUCCESS). A new stream starts with each NEWKEYS, as OpenSSH does.
struct Compression<S> {
    method: Option<&'static CompressionAlgorithm>,
    stream: Option<S>,
}

impl<S> Default for Compression<S> {
    fn default() -> Self {
        Self {
            method: None,
            stream: None,
        }
    }
}

impl<S> Compression<S> {
    fn switch(
        &mut self,
        method: Option<&'static CompressionAlgorithm>,
        authenticated: bool,
        new: impl FnOnce() -> S,
    ) {
        self.method = method.filter(|m| m.kind == CompressionKind::Zlib);
        self.stream = None;
        self.activate(authenticated, new);
    }

    fn activate(&mut self, authenticated: bool, new: impl FnOnce() -> S) {
        if self.stream.is_none() && self.method.is_some_and(|m| !m.delayed || authenticated) {
            self.stream = Some(new());
        }
    }
}

struct Kex {
    initial: bool,
    ours: KexInit,
    ours_payload: Bytes,
    theirs_payload: Option<Bytes>,
    negotiated: Option<Negotiated>,
    machine: Machine,
    discard_guess: bool,
    output: Option<Box<KexOutput>>,
    pending_opener: Option<Box<dyn PacketOpener>>,
    pending_in_compression: Option<&'static CompressionAlgorithm>,
    /// Our NEWKEYS is queued (sent in order by `poll_transmit`, which then switches keys).
    newkeys_queued: bool,
    recv_newkeys: bool,
}

/// One end of an SSH transport, client or server, sans-IO.
///
/// Call order (quinn's contract): getters; inputs ([`Connection::handle_input`],
/// [`Connection::handle_timeout`]); commands ([`Connection::send_payload`],
/// [`Connection::request_service`], [`Connection::rekey`], [`Connection::respond`],
/// [`Connection::disconnect`], ...); then drain [`Connection::poll_transmit`],
/// [`Connection::poll_event`] and arm a timer from [`Connection::poll_timeout`].
pub struct Connection {
    client: bool,
    server: Option<Box<ServerSide>>,
    config: Config,
    rng: Box<dyn CryptoRng + Send>,
    /// Padding bytes come from their own stream (seeded from `rng`), so the cookie, the
    /// ephemeral keys and the signatures do not depend on how many packets were sent
    /// before them: a seeded run replays identically whatever the I/O timing.
    pad_rng: ChaCha20Rng,
    now: Instant,

    our_version: Version,
    version_sent: bool,
    their_version: Option<Version>,
    version_reader: VersionReader,

    rx: BytesMut,
    deframer: Deframer,
    sealer: Box<dyn PacketSealer>,
    send_seq: u32,
    recv_seq: u32,
    compress_out: Compression<Compressor>,
    compress_in: Compression<Decompressor>,
    /// USERAUTH_SUCCESS went out (server) or came in (client): delayed compression starts.
    compression_authenticated: bool,

    kex: Option<Box<Kex>>,
    kex_out: VecDeque<OutItem>,
    ctl_out: VecDeque<Bytes>,
    app_out: VecDeque<Outgoing>,
    app_out_bytes: usize,
    writable_wanted: bool,
    events: VecDeque<Event>,

    strict: bool,
    /// Keepalive PINGs sent since the peer last sent anything.
    keepalives_missed: u32,
    /// The upper layer said the client is authenticated.
    authenticated: bool,
    /// The rekey timer fired before authentication.
    rekey_due: bool,
    /// Our NEWKEYS is queued but not sent yet: the send counters still count old keys.
    newkeys_unsent: bool,
    sent_first_newkeys: bool,
    recv_first_newkeys: bool,
    session_id: Option<Bytes>,
    negotiated: Option<Negotiated>,
    first_host_key: Option<Bytes>,
    host_key_token: Option<u64>,
    next_token: u64,
    rekey_bytes: u64,

    bytes_sent: u64,
    bytes_recv: u64,
    packets_sent: u64,
    packets_recv: u64,
    kex_count: u64,
    /// When the current or last key exchange began.
    kex_started: Option<Instant>,
    /// Early peer-initiated re-exchanges still allowed ([`crate::PeerRekeyLimit`]), as of
    /// `rekey_allowance_at`.
    rekey_allowance: u32,
    rekey_allowance_at: Instant,

    timers: [Option<Instant>; 4],

    service_requested: Option<String>,
    service_active: bool,
    ext_info_window: bool,
    ext_info_count: u8,
    expect_userauth_success: bool,
    userauth_success_seen: bool,
    peer_ext_info: Option<ExtInfo>,

    error: Option<Error>,
    disconnect_out: Option<Bytes>,
    closed: bool,

    /// Test hooks (hostile peer): rewrite each outbound payload, observe each inbound one.
    outbound_filter: Option<OutboundFilter>,
    inbound_observer: Option<InboundObserver>,
    outbound_observer: Option<InboundObserver>,
}

/// Test hook: each outbound payload (except NEWKEYS and DISCONNECT) becomes the payloads
/// returned (none to drop it, several to insert, changed bytes to alter it).
#[doc(hidden)]
pub type OutboundFilter = Box<dyn FnMut(Bytes) -> Vec<Bytes> + Send>;
/// Test hook: sees each inbound packet's sequence number and decrypted (and inflated)
/// payload before it is handled.
#[doc(hidden)]
pub type InboundObserver = Box<dyn FnMut(u32, &Bytes) + Send>;

impl core::fmt::Debug for Connection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Connection")
            .field("client", &self.client)
            .field("established", &self.recv_first_newkeys)
            .field("kex_in_progress", &self.kex.is_some())
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

fn names<S: AsRef<str>>(list: &[S]) -> Result<NameList> {
    NameList::from_names(list.iter().map(AsRef::as_ref))
        .map_err(|e| Error::Config(alloc::format!("invalid algorithm list: {e:?}")))
}

fn plain_sealer() -> Result<Box<dyn PacketSealer>> {
    registry::sealer("none", Some("none"), &whelk_cipher::Keys::default()).map_err(Error::Cipher)
}

fn plain_opener() -> Result<Box<dyn PacketOpener>> {
    registry::opener("none", Some("none"), &whelk_cipher::Keys::default()).map_err(Error::Cipher)
}

fn text(s: &str) -> Text {
    Text(Bytes::copy_from_slice(s.as_bytes()))
}

fn encode<M: MessageBody>(m: &M) -> Bytes {
    let mut out = BytesMut::with_capacity(m.encoded_len());
    m.encode(&mut out);
    out.freeze()
}

fn encode_msg(m: &Message) -> Result<Bytes> {
    m.to_bytes().map_err(Error::Wire)
}

/// The RFC 4344 §3.2 limit for the cipher `name`: 2^(L/4) blocks for an L-bit block cipher
/// (only 3DES has 64-bit blocks here: 2^16 blocks of 8 bytes).
fn cipher_rekey_limit(name: &str, configured: u64) -> u64 {
    match registry::cipher_by_name(name) {
        Some(c) if c.is_cbc() && c.block_len == 8 => configured.min((1 << 16) * 8),
        _ => configured,
    }
}

fn key_matches(key: &PrivateKey, alg: &str) -> bool {
    SigAlg::from_name(alg).is_some_and(|a| a.key_type() == key.key_type())
}

impl Connection {
    /// A client connection. `now` starts the key exchange timer.
    pub fn client(
        config: ClientConfig,
        rng: Box<dyn CryptoRng + Send>,
        now: Instant,
    ) -> Result<Self> {
        Self::new(true, config.config, None, rng, now)
    }

    /// A server connection. `now` starts the key exchange and login grace timers.
    pub fn server(
        config: ServerConfig,
        rng: Box<dyn CryptoRng + Send>,
        now: Instant,
    ) -> Result<Self> {
        let usable = config
            .config
            .algorithms
            .host_key
            .iter()
            .any(|alg| config.host_keys.iter().any(|k| key_matches(k, alg)));
        if !usable {
            return Err(Error::Config(
                "no host key for any configured host key algorithm".to_string(),
            ));
        }
        let grace = config.login_grace;
        let side = ServerSide {
            host_keys: config.host_keys,
            services: config.services,
            server_sig_algs: config.server_sig_algs,
        };
        let mut conn = Self::new(false, config.config, Some(Box::new(side)), rng, now)?;
        conn.set_timer(Timer::LoginGrace, grace.map(|g| now + g));
        Ok(conn)
    }

    fn new(
        client: bool,
        config: Config,
        server: Option<Box<ServerSide>>,
        mut rng: Box<dyn CryptoRng + Send>,
        now: Instant,
    ) -> Result<Self> {
        let mut pad_seed = [0u8; 32];
        rng.fill_bytes(&mut pad_seed);
        let our_version = Version::new(&config.software, None)
            .map_err(|e| Error::Config(alloc::format!("software name: {e}")))?;
        let we_are = if client {
            WireRole::Client
        } else {
            WireRole::Server
        };
        let limits = PacketLimits::new(config.limits.max_packet_len);
        let rekey_burst = config.limits.peer_rekeys.map_or(0, |l| l.burst);
        let mut conn = Self {
            client,
            server,
            version_reader: VersionReader::new(we_are, config.limits.preamble),
            rekey_bytes: config.limits.rekey_bytes,
            config,
            rng,
            pad_rng: ChaCha20Rng::from_seed(pad_seed),
            now,
            our_version,
            version_sent: false,
            their_version: None,
            rx: BytesMut::new(),
            deframer: Deframer::new(plain_opener()?, limits),
            sealer: plain_sealer()?,
            send_seq: 0,
            recv_seq: 0,
            compress_out: Compression::default(),
            compress_in: Compression::default(),
            compression_authenticated: false,
            kex: None,
            kex_out: VecDeque::new(),
            ctl_out: VecDeque::new(),
            app_out: VecDeque::new(),
            app_out_bytes: 0,
            writable_wanted: false,
            events: VecDeque::new(),
            strict: false,
            keepalives_missed: 0,
            authenticated: false,
            rekey_due: false,
            newkeys_unsent: false,
            sent_first_newkeys: false,
            recv_first_newkeys: false,
            session_id: None,
            negotiated: None,
            first_host_key: None,
            host_key_token: None,
            next_token: 1,
            bytes_sent: 0,
            bytes_recv: 0,
            packets_sent: 0,
            packets_recv: 0,
            kex_count: 0,
            kex_started: None,
            rekey_allowance: rekey_burst,
            rekey_allowance_at: now,
            timers: [None; 4],
            service_requested: None,
            service_active: false,
            ext_info_window: false,
            ext_info_count: 0,
            expect_userauth_success: false,
            userauth_success_seen: false,
            peer_ext_info: None,
            error: None,
            disconnect_out: None,
            closed: false,
            outbound_filter: None,
            inbound_observer: None,
            outbound_observer: None,
        };
        conn.start_kex(true)?;
        Ok(conn)
    }

    // ---------------------------------------------------------------- getters

    /// Whether this is the client end.
    #[must_use]
    pub fn is_client(&self) -> bool {
        self.client
    }

    /// Whether the first key exchange completed (both NEWKEYS exchanged).
    #[must_use]
    pub fn is_established(&self) -> bool {
        self.sent_first_newkeys && self.recv_first_newkeys
    }

    /// Whether a key exchange is running.
    #[must_use]
    pub fn is_kex_in_progress(&self) -> bool {
        self.kex.is_some()
    }

    /// How many key exchanges completed.
    #[must_use]
    pub fn kex_count(&self) -> u64 {
        self.kex_count
    }

    /// Whether the connection is over (error, DISCONNECT sent or received).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.error.is_some()
    }

    /// The latched error, if the connection failed or closed.
    #[must_use]
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// The session identifier, once the first exchange completed.
    #[must_use]
    pub fn session_id(&self) -> Option<&Bytes> {
        self.session_id.as_ref()
    }

    /// The algorithms of the last completed exchange.
    #[must_use]
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    /// Whether strict KEX is in force.
    #[must_use]
    pub fn is_strict_kex(&self) -> bool {
        self.strict
    }

    /// The peer's identification.
    #[must_use]
    pub fn peer_version(&self) -> Option<&Version> {
        self.their_version.as_ref()
    }

    /// The peer's EXT_INFO (the last one), if any.
    #[must_use]
    pub fn peer_extensions(&self) -> Option<&ExtInfo> {
        self.peer_ext_info.as_ref()
    }

    /// Whether the peer announced `ping@openssh.com` in its EXT_INFO.
    #[must_use]
    pub fn peer_supports_ping(&self) -> bool {
        self.peer_ext_info
            .as_ref()
            .is_some_and(|e| e.get(EXT_PING).is_some())
    }

    /// The next sequence numbers (send, receive), for tests and diagnostics.
    #[must_use]
    pub fn sequence_numbers(&self) -> (u32, u32) {
        (self.send_seq, self.recv_seq)
    }

    /// Whether [`Connection::send_payload`] would accept a payload now.
    #[must_use]
    pub fn can_send(&self) -> bool {
        self.error.is_none()
            && self.app_out.len() < self.config.limits.max_pending_payloads
            && self.app_out_bytes < self.config.limits.max_pending_bytes
    }

    /// Bytes sent and received since the last key exchange.
    #[must_use]
    pub fn bytes_since_kex(&self) -> (u64, u64) {
        (self.bytes_sent, self.bytes_recv)
    }

    // ---------------------------------------------------------------- inputs

    /// Feeds bytes received from the peer, in any split. Returns how many were consumed:
    /// fewer than given means "call again later" (a host key decision is pending or too
    /// many events wait to be polled). Errors latch.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<usize> {
        self.now = now;
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let cap = usize::try_from(self.config.limits.max_packet_len)
            .unwrap_or(usize::MAX)
            .saturating_add(RX_SLACK);
        let mut consumed = 0;
        while consumed < data.len() {
            let room = cap.saturating_sub(self.rx.len());
            let n = room.min(data.len() - consumed);
            if n == 0 {
                break;
            }
            let chunk = data.get(consumed..consumed + n).unwrap_or_default();
            self.rx.extend_from_slice(chunk);
            consumed += n;
            self.process()?;
        }
        if let Some(e) = &self.error
            && !matches!(e, Error::PeerDisconnected { .. })
        {
            return Err(e.clone());
        }
        Ok(consumed)
    }

    /// Like [`Connection::handle_input`], without copying: complete packets are taken off
    /// the front of the caller's `buf`, decrypted in place there, and their payloads handed
    /// out as [`Bytes`] views of it. What is left in `buf` afterwards (a partial packet, or
    /// input held back while a host key decision is pending or too many events wait to be
    /// polled) is the caller's to keep: append the next bytes read to it and call again
    /// (also after polling events or answering a decision, even with nothing new).
    ///
    /// Read straight into `buf` (e.g. with `tokio::io::AsyncReadExt::read_buf`) to receive
    /// with no copy at all; packets already handed out keep their part of `buf`'s allocation
    /// alive, so `BytesMut::reserve` on `buf` reuses it once they are all dropped. Errors
    /// latch.
    pub fn handle_input_buf(&mut self, now: Instant, buf: &mut BytesMut) -> Result<()> {
        self.now = now;
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if !self.rx.is_empty() {
            // Bytes given through `handle_input` come first: keep the stream in order.
            let n = self.handle_input(now, buf)?;
            buf.advance(n);
            return Ok(());
        }
        core::mem::swap(&mut self.rx, buf);
        let r = self.process();
        core::mem::swap(&mut self.rx, buf);
        r?;
        if let Some(e) = &self.error
            && !matches!(e, Error::PeerDisconnected { .. })
        {
            return Err(e.clone());
        }
        Ok(())
    }

    /// The peer closed its side of the byte stream. Unless a DISCONNECT came first, this
    /// latches [`Error::ConnectionLost`] and reports [`Event::Disconnected`] with
    /// `CONNECTION_LOST`; nothing is sent.
    pub fn handle_eof(&mut self) {
        if self.error.is_some() {
            return;
        }
        self.error = Some(Error::ConnectionLost);
        self.kex_out.clear();
        self.ctl_out.clear();
        self.app_out.clear();
        self.events.push_back(Event::Disconnected {
            reason: DisconnectReason::CONNECTION_LOST,
            description: "connection closed by peer".to_string(),
            by_peer: true,
        });
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if self.error.is_some() {
            return;
        }
        for t in TIMERS {
            let slot = t as usize;
            let due = self.timers.get(slot).copied().flatten();
            if due.is_none_or(|d| d > now) {
                continue;
            }
            if let Some(s) = self.timers.get_mut(slot) {
                *s = None;
            }
            match t {
                Timer::Kex => {
                    self.fail(Error::KexTimeout);
                }
                Timer::LoginGrace => {
                    self.fail(Error::LoginGraceExpired);
                }
                Timer::Rekey => {
                    if !self.authenticated {
                        // Done right after `authenticated()`.
                        self.rekey_due = true;
                    } else {
                        self.rekey();
                    }
                }
                Timer::Keepalive => self.keepalive(),
            }
        }
    }

    // ---------------------------------------------------------------- commands

    /// Queues an upper-layer payload (message number 50 or more). It is sent once the
    /// first key exchange completed and never while a key exchange runs; the queue is
    /// bounded ([`crate::Limits::max_pending_payloads`], `max_pending_bytes`).
    pub fn send_payload(&mut self, payload: Bytes) -> Result<(), SendError> {
        if let Some(e) = &self.error {
            return Err(SendError::Closed(e.clone()));
        }
        if payload.first().is_none_or(|&n| n < 50) {
            return Err(SendError::NotUpperLayer);
        }
        if payload.len() > self.max_payload_len() {
            return Err(SendError::TooLarge);
        }
        if !self.can_send() {
            self.writable_wanted = true;
            return Err(SendError::Blocked);
        }
        self.app_out_bytes += payload.len();
        self.app_out.push_back(Outgoing::Encoded(payload));
        Ok(())
    }

    /// Queues an upper-layer message (message number 50 or more), like
    /// [`Connection::send_payload`]. The data path's messages (`SSH_MSG_CHANNEL_DATA`,
    /// `SSH_MSG_CHANNEL_EXTENDED_DATA`, `SSH_MSG_CHANNEL_WINDOW_ADJUST`) wait unencoded and
    /// are encoded straight into their packet in the output buffer when
    /// [`Connection::poll_transmit`] builds it (header reserved, payload encoded in place,
    /// padded, encrypted in place): channel data costs one copy (its `Bytes` into the output
    /// buffer) and no allocation on the way out. Other messages are encoded now.
    ///
    /// On an error the message is dropped: check [`Connection::can_send`] first to tell
    /// back-pressure ([`SendError::Blocked`]) apart before giving one up.
    pub fn send_message(&mut self, msg: Message) -> Result<(), SendError> {
        if let Some(e) = &self.error {
            return Err(SendError::Closed(e.clone()));
        }
        if msg.number().0 < 50 {
            return Err(SendError::NotUpperLayer);
        }
        let len = msg.encoded_len();
        if len > self.max_payload_len() {
            return Err(SendError::TooLarge);
        }
        if !self.can_send() {
            self.writable_wanted = true;
            return Err(SendError::Blocked);
        }
        let item = Outgoing::from_message(msg).map_err(|_| SendError::TooLarge)?;
        self.app_out_bytes += len;
        self.app_out.push_back(item);
        Ok(())
    }

    /// The longest upper-layer payload a packet may carry.
    fn max_payload_len(&self) -> usize {
        usize::try_from(self.config.limits.max_packet_len)
            .unwrap_or(usize::MAX)
            .min(whelk_wire::frame::DEFAULT_MAX_PACKET_LEN as usize)
            .saturating_sub(256 + 64)
    }

    /// Client: requests a service (`ssh-userauth`), sent as soon as the first key exchange
    /// allows; answered by [`Event::ServiceAccepted`].
    pub fn request_service(&mut self, name: &str) -> Result<()> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if !self.client || self.service_requested.is_some() {
            return Err(Error::Config(
                "only a client requests a service, once".to_string(),
            ));
        }
        self.service_requested = Some(name.to_string());
        self.ctl_out.push_back(encode(&ServiceRequest {
            service: text(name),
        }));
        Ok(())
    }

    /// Starts a key re-exchange now, if the first one completed, none is running and the
    /// connection is authenticated ([`Connection::authenticated`]). Returns whether one was
    /// started.
    ///
    /// We never start a re-exchange before user authentication, and the byte, packet and
    /// time limits wait for it too: OpenSSH's client disconnects on a KEXINIT during
    /// authentication ("bad message during authentication: type 20") and sshd does not
    /// answer one. A re-exchange the peer starts is accepted at any time.
    pub fn rekey(&mut self) -> bool {
        if self.error.is_some()
            || self.kex.is_some()
            || !self.is_established()
            || !self.authenticated
        {
            return false;
        }
        match self.start_kex(false) {
            Ok(()) => true,
            Err(e) => {
                self.fail(e);
                false
            }
        }
    }

    /// Answers a host key decision.
    pub fn respond(&mut self, check: HostKeyCheck, decision: HostKeyDecision) -> Result<()> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if self.host_key_token != Some(check.id) {
            return Err(Error::Config("stale host key decision".to_string()));
        }
        self.host_key_token = None;
        match decision {
            HostKeyDecision::Reject => Err(self.fail(Error::HostKeyRejected)),
            HostKeyDecision::Accept => {
                self.first_host_key = Some(check.host_key);
                if let Err(e) = self.install_keys() {
                    return Err(self.fail(e));
                }
                self.process()
            }
        }
    }

    /// The upper layer authenticated the client (both roles call it): stops the server's
    /// login grace timer, lets the server answer PINGs, and enables our own re-exchanges.
    pub fn authenticated(&mut self) {
        self.authenticated = true;
        if core::mem::take(&mut self.rekey_due) {
            self.rekey();
        }
        if let Some(t) = self.timers.get_mut(Timer::LoginGrace as usize) {
            *t = None;
        }
    }

    /// Sends `SSH_MSG_IGNORE` with `data` (e.g. as a keepalive or to pad traffic).
    pub fn send_ignore(&mut self, data: Bytes) {
        if self.error.is_none() && self.ctl_out.len() < MAX_CONTROL {
            self.ctl_out.push_back(encode(&Ignore { data }));
        }
    }

    /// Sends `SSH_MSG_DEBUG`.
    pub fn send_debug(&mut self, always_display: bool, message: &str) {
        if self.error.is_none() && self.ctl_out.len() < MAX_CONTROL {
            self.ctl_out.push_back(encode(&DebugMessage {
                always_display,
                message: text(message),
                language: Text::default(),
            }));
        }
    }

    /// Sends `SSH2_MSG_PING` if the peer announced `ping@openssh.com`; returns whether it did.
    pub fn ping(&mut self, data: Bytes) -> bool {
        if self.error.is_some() || !self.peer_supports_ping() || self.ctl_out.len() >= MAX_CONTROL {
            return false;
        }
        self.ctl_out.push_back(encode(&Ping { data }));
        true
    }

    /// Test hook (raw peer): queues `payload` as a packet without any check. With
    /// `immediate` it goes out next, even during a key exchange (after what the exchange
    /// already queued); otherwise when control messages may be sent.
    #[doc(hidden)]
    pub fn send_raw_for_tests(&mut self, payload: Bytes, immediate: bool) {
        if immediate {
            self.kex_out.push_back(OutItem::Payload(payload));
        } else {
            self.ctl_out.push_back(payload);
        }
    }

    /// Test hook (hostile peer): every outbound payload except NEWKEYS and DISCONNECT goes
    /// through `filter`, which returns what to send instead.
    #[doc(hidden)]
    pub fn set_outbound_filter_for_tests(&mut self, filter: Option<OutboundFilter>) {
        self.outbound_filter = filter;
    }

    /// Test hook (hostile peer): `observer` sees every inbound packet before it is handled.
    #[doc(hidden)]
    pub fn set_inbound_observer_for_tests(&mut self, observer: Option<InboundObserver>) {
        self.inbound_observer = observer;
    }

    /// Test hook (hostile peer): `observer` sees every outbound packet's sequence number and
    /// payload as it is sealed.
    #[doc(hidden)]
    pub fn set_outbound_observer_for_tests(&mut self, observer: Option<InboundObserver>) {
        self.outbound_observer = observer;
    }

    /// Closes the connection: queues `SSH_MSG_DISCONNECT` with `reason` and `description`
    /// and drops everything not yet sent.
    pub fn disconnect(&mut self, reason: DisconnectReason, description: &str) {
        if self.error.is_some() {
            return;
        }
        self.queue_disconnect(reason, description);
        self.error = Some(Error::LocallyClosed {
            reason,
            description: description.to_string(),
        });
    }

    // ---------------------------------------------------------------- outputs

    /// Appends every packet ready to go to `out` (the identification line first). Returns
    /// how many bytes were appended.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, out: &mut BytesMut) -> usize {
        self.now = now;
        let start = out.len();
        if !self.version_sent {
            self.our_version.encode(out);
            self.version_sent = true;
        }
        if let Err(e) = self.transmit(out) {
            self.fail(e);
            // The DISCONNECT the failure queued.
            let _ = self.transmit(out);
        }
        let written = out.len() - start;
        if written > 0
            && self.error.is_none()
            && let Some(k) = self.config.limits.keepalive
        {
            self.set_timer(Timer::Keepalive, Some(now + k));
        }
        written
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        let ev = self.events.pop_front();
        if self.events.is_empty() && !self.rx.is_empty() {
            // Input was held back while the event queue was full.
            let _ = self.process();
        }
        ev
    }

    /// The earliest timer, if any is armed.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.error.is_some() {
            return None;
        }
        self.timers.iter().flatten().min().copied()
    }

    // ---------------------------------------------------------------- internals

    /// The keepalive timer fired: nothing was sent for the interval. With a peer that
    /// announced `ping@openssh.com`, send a PING and count it until the peer sends anything;
    /// too many unanswered is [`Error::KeepaliveTimeout`]. Otherwise an IGNORE keeps NATs
    /// and idle timers on the path alive (it asks for no answer, so it cannot detect a dead
    /// peer).
    fn keepalive(&mut self) {
        if self.ctl_out.len() >= MAX_CONTROL {
            return;
        }
        if self.is_established() && self.peer_supports_ping() {
            if self.keepalives_missed >= self.config.limits.keepalive_max_missed {
                self.fail(Error::KeepaliveTimeout);
                return;
            }
            self.keepalives_missed += 1;
            self.ctl_out.push_back(encode(&Ping {
                data: Bytes::from_static(b"keepalive"),
            }));
        } else {
            self.ctl_out
                .push_back(encode(&Ignore { data: Bytes::new() }));
        }
    }

    /// Test hook: sets the next send sequence number and the count of packets sent since
    /// the last key exchange.
    #[doc(hidden)]
    pub fn set_send_counters_for_tests(&mut self, send_seq: u32, packets_sent: u64) {
        self.send_seq = send_seq;
        self.packets_sent = packets_sent;
    }

    fn set_timer(&mut self, t: Timer, at: Option<Instant>) {
        if let Some(slot) = self.timers.get_mut(t as usize) {
            *slot = at;
        }
    }

    fn fail(&mut self, e: Error) -> Error {
        if let Some(old) = &self.error {
            return old.clone();
        }
        self.error = Some(e.clone());
        if !matches!(e, Error::PeerDisconnected { .. }) {
            let reason = DisconnectReason::from(&e);
            let description = e.to_string();
            self.queue_disconnect(reason, &description);
            self.events.push_back(Event::Disconnected {
                reason,
                description,
                by_peer: false,
            });
        }
        e
    }

    fn queue_disconnect(&mut self, reason: DisconnectReason, description: &str) {
        self.kex_out.clear();
        self.ctl_out.clear();
        self.app_out.clear();
        self.app_out_bytes = 0;
        self.disconnect_out = Some(encode(&Disconnect {
            reason,
            description: text(description),
            language: Text::default(),
        }));
    }

    /// Whether messages other than the key exchange's may be sent.
    fn outbound_blocked(&self) -> bool {
        !self.sent_first_newkeys || self.kex.as_ref().is_some_and(|k| !k.newkeys_queued)
    }

    fn transmit(&mut self, out: &mut BytesMut) -> Result<()> {
        if let Some(d) = self.disconnect_out.take() {
            self.closed = true;
            return self.seal_into(&d, out);
        }
        if self.closed || self.error.is_some() {
            return Ok(());
        }
        loop {
            if let Some(item) = self.kex_out.pop_front() {
                match item {
                    OutItem::Payload(p) => self.seal_filtered(p, out)?,
                    OutItem::NewKeys(sealer, initial, comp) => {
                        self.send_newkeys(sealer, initial, comp, out)?;
                    }
                }
                continue;
            }
            if self.outbound_blocked() {
                break;
            }
            if let Some(p) = self.ctl_out.pop_front() {
                self.seal_filtered(p, out)?;
                continue;
            }
            if self.check_rekey()? {
                continue;
            }
            if let Some(p) = self.app_out.pop_front() {
                self.app_out_bytes = self.app_out_bytes.saturating_sub(p.len());
                self.seal_outgoing(p, out)?;
                continue;
            }
            break;
        }
        if self.writable_wanted && self.can_send() {
            self.writable_wanted = false;
            self.events.push_back(Event::Writable);
        }
        Ok(())
    }

    fn seal_filtered(&mut self, payload: Bytes, out: &mut BytesMut) -> Result<()> {
        match self.outbound_filter.as_mut() {
            None => self.seal_into(&payload, out),
            Some(f) => {
                for p in f(payload) {
                    self.seal_into(&p, out)?;
                }
                Ok(())
            }
        }
    }

    /// Seals `p` as the next packet, its payload encoded in place in `out` (the test hooks
    /// and compression need the payload on its own first).
    fn seal_outgoing(&mut self, p: Outgoing, out: &mut BytesMut) -> Result<()> {
        if self.outbound_filter.is_some()
            || self.outbound_observer.is_some()
            || self.compress_out.stream.is_some()
        {
            return self.seal_filtered(p.into_bytes(), out);
        }
        let before = out.len();
        let start = start_packet(out);
        p.encode(out);
        self.seal_packet(out, before, start, p.number())
    }

    fn seal_into(&mut self, payload: &[u8], out: &mut BytesMut) -> Result<()> {
        let before = out.len();
        let start = start_packet(out);
        match self.compress_out.stream.as_mut() {
            Some(c) => c.compress(payload, out).map_err(Error::Cipher)?,
            None => out.put_slice(payload),
        }
        let seq = self.send_seq;
        self.seal_packet(out, before, start, payload.first().copied().unwrap_or(0))?;
        if let Some(observe) = self.outbound_observer.as_mut() {
            observe(seq, &Bytes::copy_from_slice(payload));
        }
        Ok(())
    }

    /// Pads and seals the packet whose payload (message `number`) was just written after
    /// `start`, and counts it. `before` is where the packet begins in `out`.
    fn seal_packet(
        &mut self,
        out: &mut BytesMut,
        before: usize,
        start: PacketStart,
        number: u8,
    ) -> Result<()> {
        let range = finish_packet(out, start, self.sealer.alignment(), &mut self.pad_rng)
            .map_err(Error::Wire)?;
        self.sealer
            .seal(self.send_seq, out, range)
            .map_err(Error::Cipher)?;
        self.send_seq = self.next_seq(self.send_seq, self.sent_first_newkeys)?;
        self.packets_sent += 1;
        self.bytes_sent += u64::try_from(out.len() - before).unwrap_or(u64::MAX);
        if !self.client
            && !self.compression_authenticated
            && number == MSG_USERAUTH_SUCCESS
            && self.service_active
        {
            // zlib@openssh.com starts with the packets after USERAUTH_SUCCESS, both ways.
            self.start_delayed_compression();
        }
        Ok(())
    }

    fn start_delayed_compression(&mut self) {
        self.compression_authenticated = true;
        let max = usize::try_from(self.config.limits.max_packet_len).unwrap_or(usize::MAX);
        self.compress_out.activate(true, Compressor::new);
        self.compress_in.activate(true, || Decompressor::new(max));
    }

    /// The sequence number after `seq`; wrapping is fatal before the first NEWKEYS (it
    /// could only happen after 2^32 packets of an initial exchange: a Terrapin-style
    /// manipulation) and otherwise the packet limit forces a rekey long before.
    fn next_seq(&self, seq: u32, past_initial: bool) -> Result<u32> {
        match seq.checked_add(1) {
            Some(n) => Ok(n),
            None if past_initial && !self.strict => Ok(0),
            None => Err(Error::SequenceWrap),
        }
    }

    fn send_newkeys(
        &mut self,
        sealer: Box<dyn PacketSealer>,
        initial: bool,
        compression: Option<&'static CompressionAlgorithm>,
        out: &mut BytesMut,
    ) -> Result<()> {
        self.seal_into(&encode(&NewKeys {}), out)?;
        self.sealer = sealer;
        let authenticated = self.compression_authenticated;
        self.compress_out
            .switch(compression, authenticated, Compressor::new);
        self.newkeys_unsent = false;
        if initial {
            self.sent_first_newkeys = true;
        }
        if self.strict {
            self.send_seq = 0;
        }
        self.bytes_sent = 0;
        self.packets_sent = 0;
        Ok(())
    }

    fn check_rekey(&mut self) -> Result<bool> {
        if self.kex.is_some()
            || self.newkeys_unsent
            || !self.authenticated
            || !self.is_established()
            || self.error.is_some()
        {
            return Ok(false);
        }
        let over = self.bytes_sent >= self.rekey_bytes
            || self.bytes_recv >= self.rekey_bytes
            || self.packets_sent >= REKEY_PACKETS
            || self.packets_recv >= REKEY_PACKETS;
        if over {
            self.start_kex(false)?;
        }
        Ok(over)
    }

    fn start_kex(&mut self, initial: bool) -> Result<()> {
        let algs = &self.config.algorithms;
        let mut kex_names: Vec<&str> = algs.kex.iter().map(String::as_str).collect();
        if initial {
            if self.config.ext_info {
                kex_names.push(if self.client { EXT_INFO_C } else { EXT_INFO_S });
            }
            if self.config.strict_kex {
                kex_names.push(if self.client {
                    KEX_STRICT_C_V00
                } else {
                    KEX_STRICT_S_V00
                });
            }
        }
        let host_keys: Vec<&str> = match &self.server {
            None => algs.host_key.iter().map(String::as_str).collect(),
            Some(s) => algs
                .host_key
                .iter()
                .filter(|a| s.host_keys.iter().any(|k| key_matches(k, a)))
                .map(String::as_str)
                .collect(),
        };
        let mut cookie = [0u8; 16];
        self.rng.fill_bytes(&mut cookie);
        let ciphers = names(&algs.ciphers)?;
        let macs = names(&algs.macs)?;
        let compression = names(&algs.compression)?;
        let ours = KexInit {
            cookie,
            kex_algorithms: names(&kex_names)?,
            server_host_key_algorithms: names(&host_keys)?,
            encryption_client_to_server: ciphers.clone(),
            encryption_server_to_client: ciphers,
            mac_client_to_server: macs.clone(),
            mac_server_to_client: macs,
            compression_client_to_server: compression.clone(),
            compression_server_to_client: compression,
            languages_client_to_server: NameList::empty(),
            languages_server_to_client: NameList::empty(),
            first_kex_packet_follows: false,
        };
        let payload = encode_msg(&Message::KexInit(ours.clone()))?;
        self.kex_out.push_back(OutItem::Payload(payload.clone()));
        self.kex = Some(Box::new(Kex {
            initial,
            ours,
            ours_payload: payload,
            theirs_payload: None,
            negotiated: None,
            machine: Machine::Waiting,
            discard_guess: false,
            output: None,
            pending_opener: None,
            pending_in_compression: None,
            newkeys_queued: false,
            recv_newkeys: false,
        }));
        self.set_timer(Timer::Kex, Some(self.now + self.config.limits.kex_timeout));
        self.kex_started = Some(self.now);
        Ok(())
    }

    /// A re-exchange the peer starts: checked against [`crate::PeerRekeyLimit`] (K18).
    fn allow_peer_rekey(&mut self) -> Result<()> {
        let (Some(limit), Some(last)) = (self.config.limits.peer_rekeys, self.kex_started) else {
            return Ok(());
        };
        let moved = self.bytes_sent.saturating_add(self.bytes_recv);
        if self.now.saturating_duration_since(last) >= limit.interval
            || moved >= self.rekey_bytes / 2
        {
            return Ok(());
        }
        // Allowances come back one per interval (the remainder counts towards the next),
        // up to the burst; a full store starts counting afresh.
        if !limit.interval.is_zero() {
            let since = self.now.saturating_duration_since(self.rekey_allowance_at);
            let back =
                u32::try_from(since.as_nanos() / limit.interval.as_nanos()).unwrap_or(u32::MAX);
            self.rekey_allowance = self.rekey_allowance.saturating_add(back);
            self.rekey_allowance_at = self
                .rekey_allowance_at
                .checked_add(limit.interval.saturating_mul(back))
                .unwrap_or(self.now);
        }
        if self.rekey_allowance >= limit.burst {
            self.rekey_allowance = limit.burst;
            self.rekey_allowance_at = self.now;
        }
        self.rekey_allowance = self
            .rekey_allowance
            .checked_sub(1)
            .ok_or(Error::RekeyStorm)?;
        Ok(())
    }

    fn maybe_finish_kex(&mut self) {
        let done = self
            .kex
            .as_ref()
            .is_some_and(|k| k.newkeys_queued && k.recv_newkeys);
        if !done {
            return;
        }
        let Some(kex) = self.kex.take() else { return };
        let (Some(n), Some(out)) = (kex.negotiated, kex.output) else {
            return;
        };
        let session_id = self
            .session_id
            .get_or_insert_with(|| Bytes::from(out.session_id.clone()))
            .clone();
        self.kex_count += 1;
        self.rekey_bytes = cipher_rekey_limit(
            &n.cipher_client_to_server,
            cipher_rekey_limit(&n.cipher_server_to_client, self.config.limits.rekey_bytes),
        );
        self.events.push_back(Event::KexDone(Box::new(KexInfo {
            negotiated: n.clone(),
            initial: kex.initial,
            strict: self.strict,
            session_id,
        })));
        self.negotiated = Some(n);
        self.set_timer(Timer::Kex, None);
        self.set_timer(
            Timer::Rekey,
            self.config.limits.rekey_time.map(|t| self.now + t),
        );
    }

    fn can_process(&self) -> bool {
        self.error.is_none()
            && self.host_key_token.is_none()
            && self.events.len() < self.config.limits.max_pending_events
    }

    fn process(&mut self) -> Result<()> {
        match self.process_inner() {
            Ok(()) => Ok(()),
            Err(e) => Err(self.fail(e)),
        }
    }

    fn process_inner(&mut self) -> Result<()> {
        if self.error.is_some() {
            return Ok(());
        }
        if self.their_version.is_none() {
            match self.version_reader.read(&self.rx).map_err(Error::Version)? {
                VersionStatus::Incomplete { consumed } => {
                    self.rx.advance(consumed);
                    return Ok(());
                }
                VersionStatus::Done { consumed, version } => {
                    self.rx.advance(consumed);
                    self.their_version = Some(version);
                }
            }
        }
        while self.can_process() {
            if !self.recv_first_newkeys {
                // Unencrypted: check the length as soon as its 4 bytes are here (the `none`
                // opener would wait for a whole block).
                whelk_wire::frame::Deframer::new(self.deframer.limits())
                    .bytes_needed(&self.rx)
                    .map_err(Error::Wire)?;
            }
            let seq = self.recv_seq;
            let before = self.rx.len();
            let Some(packet) = self
                .deframer
                .next_packet(seq, &mut self.rx)
                .map_err(Error::Cipher)?
            else {
                break;
            };
            self.recv_seq = self.next_seq(seq, self.recv_first_newkeys)?;
            self.packets_recv += 1;
            self.keepalives_missed = 0;
            let used = before.saturating_sub(self.rx.len());
            self.bytes_recv += u64::try_from(used).unwrap_or(u64::MAX);
            let payload = match self.compress_in.stream.as_mut() {
                Some(d) => {
                    // Inflated into a buffer capped at the packet limit (catalog R03).
                    let mut plain = BytesMut::new();
                    d.decompress(&packet.payload, &mut plain)
                        .map_err(Error::Cipher)?;
                    plain.freeze()
                }
                None => packet.payload,
            };
            if let Some(observe) = self.inbound_observer.as_mut() {
                observe(seq, &payload);
            }
            self.handle_packet(seq, payload)?;
            self.check_rekey()?;
        }
        Ok(())
    }

    fn handle_packet(&mut self, seq: u32, payload: Bytes) -> Result<()> {
        let number = *payload
            .first()
            .ok_or(Error::Wire(whelk_wire::Error::EmptyPayload))?;
        if number == 0 {
            return Err(Error::Wire(whelk_wire::Error::ReservedMessageNumber));
        }
        let ext_window = core::mem::take(&mut self.ext_info_window);
        if self.expect_userauth_success {
            if number != MSG_USERAUTH_SUCCESS {
                return Err(Error::ExtInfo(
                    "a second EXT_INFO must come just before USERAUTH_SUCCESS",
                ));
            }
            self.expect_userauth_success = false;
        }
        if let Some(kex) = &self.kex
            && !kex.recv_newkeys
        {
            let kex_message = matches!(number, MSG_KEXINIT | MSG_NEWKEYS | 30..=49);
            let generic = matches!(number, MSG_DISCONNECT..=MSG_DEBUG);
            if kex.initial {
                if !kex_message && !generic {
                    return Err(Error::UnexpectedMessage {
                        number,
                        when: "during the initial key exchange",
                    });
                }
                if self.strict && !kex_message && number != MSG_DISCONNECT {
                    return Err(Error::StrictKex(
                        "non-KEX message during the initial key exchange",
                    ));
                }
            } else if kex.theirs_payload.is_some() && !kex_message && !generic {
                return Err(Error::UnexpectedMessage {
                    number,
                    when: "during a key re-exchange",
                });
            }
        }
        match number {
            MSG_DISCONNECT => {
                let d = Disconnect::decode(&payload).map_err(Error::Wire)?;
                let description = d.description.to_string_lossy().into_owned();
                self.events.push_back(Event::Disconnected {
                    reason: d.reason,
                    description: description.clone(),
                    by_peer: true,
                });
                self.error = Some(Error::PeerDisconnected {
                    reason: d.reason,
                    description,
                });
                self.closed = true;
                self.kex_out.clear();
                self.ctl_out.clear();
                self.app_out.clear();
            }
            MSG_IGNORE => {
                // Never parsed: "MUST understand (and ignore)" (RFC 4253 §11.2).
            }
            MSG_UNIMPLEMENTED => {
                let u = Unimplemented::decode(&payload).map_err(Error::Wire)?;
                self.events.push_back(Event::Unimplemented(u.sequence));
            }
            MSG_DEBUG => {
                let d = DebugMessage::decode(&payload).map_err(Error::Wire)?;
                self.events.push_back(Event::Debug {
                    always_display: d.always_display,
                    message: d.message.to_string_lossy().into_owned(),
                });
            }
            MSG_SERVICE_REQUEST => self.on_service_request(&payload)?,
            MSG_SERVICE_ACCEPT => self.on_service_accept(&payload)?,
            MSG_EXT_INFO => self.on_ext_info(&payload, ext_window)?,
            MSG_KEXINIT => self.on_kexinit(seq, payload)?,
            MSG_NEWKEYS => self.on_newkeys(&payload)?,
            30..=49 => self.on_kex_message(&payload)?,
            MSG_PING => {
                let p = Ping::decode(&payload).map_err(Error::Wire)?;
                // A server answers only once the client is authenticated (OpenSSH's fix for
                // CVE-2025-26466: no replies queued for unauthenticated peers, catalog K17).
                let may_answer = self.client || self.authenticated;
                if may_answer && self.ctl_out.len() < MAX_CONTROL {
                    self.ctl_out.push_back(encode(&Pong { data: p.data }));
                }
            }
            MSG_PONG => {
                let p = Pong::decode(&payload).map_err(Error::Wire)?;
                self.events.push_back(Event::Pong(p.data));
            }
            n if self.service_active
                && (n >= 128
                    || ((self.authenticated || self.userauth_success_seen)
                        && matches!(n, 83..=89 | 101..=127))) =>
            {
                // 128-191 are reserved for client protocols and 194-255 (after PING/PONG)
                // are local extensions (RFC 4250 §4.1.2); once authenticated, 83-89 and
                // 101-127 are the connection protocol's unassigned numbers (RFC 4254 §9).
                // No layer of whelk understands them: answered here (RFC 4253 §11.4).
                if self.ctl_out.len() < MAX_CONTROL {
                    self.ctl_out
                        .push_back(encode(&Unimplemented { sequence: seq }));
                }
            }
            n if n >= 50 => {
                if !self.service_active {
                    return Err(Error::UnexpectedMessage {
                        number,
                        when: "before a service was accepted",
                    });
                }
                if n == MSG_USERAUTH_SUCCESS && self.client {
                    self.userauth_success_seen = true;
                    if !self.compression_authenticated {
                        self.start_delayed_compression();
                    }
                }
                self.events.push_back(Event::Payload(payload));
            }
            _ => {
                if self.ctl_out.len() < MAX_CONTROL {
                    self.ctl_out
                        .push_back(encode(&Unimplemented { sequence: seq }));
                }
            }
        }
        Ok(())
    }

    fn on_service_request(&mut self, payload: &Bytes) -> Result<()> {
        let r = ServiceRequest::decode(payload).map_err(Error::Wire)?;
        let Some(side) = &self.server else {
            return Err(Error::UnexpectedMessage {
                number: MSG_SERVICE_REQUEST,
                when: "sent by the server",
            });
        };
        if self.service_active {
            return Err(Error::UnexpectedMessage {
                number: MSG_SERVICE_REQUEST,
                when: "after a service was accepted",
            });
        }
        let name = r.service.to_string_lossy().into_owned();
        if !side.services.contains(&name) {
            return Err(Error::ServiceNotAvailable(name));
        }
        self.service_active = true;
        self.ctl_out
            .push_back(encode(&ServiceAccept { service: r.service }));
        self.events.push_back(Event::ServiceRequested(name));
        Ok(())
    }

    fn on_service_accept(&mut self, payload: &Bytes) -> Result<()> {
        let a = ServiceAccept::decode(payload).map_err(Error::Wire)?;
        let name = a.service.to_string_lossy().into_owned();
        if !self.client
            || self.service_active
            || self.service_requested.as_deref() != Some(name.as_str())
        {
            return Err(Error::UnexpectedMessage {
                number: MSG_SERVICE_ACCEPT,
                when: "without a matching SERVICE_REQUEST",
            });
        }
        self.service_active = true;
        self.events.push_back(Event::ServiceAccepted(name));
        Ok(())
    }

    /// RFC 8308 §2.4: the server's EXT_INFO only as its first message after its first
    /// NEWKEYS, or (a second one) just before USERAUTH_SUCCESS; the client's only as its first
    /// message after its first NEWKEYS. Only when we announced `ext-info-*`.
    fn on_ext_info(&mut self, payload: &Bytes, ext_window: bool) -> Result<()> {
        if !self.config.ext_info {
            return Err(Error::ExtInfo("not negotiated"));
        }
        let first = ext_window && self.ext_info_count == 0;
        let second = self.client
            && self.ext_info_count == 1
            && self.service_active
            && self.service_requested.as_deref() == Some(SERVICE_USERAUTH)
            && !self.userauth_success_seen;
        if !first && !second {
            return Err(Error::ExtInfo("not allowed at this point"));
        }
        let info = ExtInfo::decode(payload).map_err(Error::Wire)?;
        if info.extensions.len() >= 1024 {
            return Err(Error::ExtInfo("too many extensions"));
        }
        if second {
            self.expect_userauth_success = true;
        }
        self.ext_info_count += 1;
        self.peer_ext_info = Some(info.clone());
        self.events.push_back(Event::ExtInfo(info));
        Ok(())
    }

    fn on_kexinit(&mut self, seq: u32, payload: Bytes) -> Result<()> {
        let theirs = KexInit::decode(&payload).map_err(Error::Wire)?;
        if self.kex.is_none() {
            self.allow_peer_rekey()?;
            self.start_kex(false)?;
        }
        let client = self.client;
        let kex = self.kex.as_mut().ok_or(Error::KexInitTwice)?;
        if kex.theirs_payload.is_some() {
            return Err(Error::KexInitTwice);
        }
        let n = if client {
            negotiate(&kex.ours, &theirs)
        } else {
            negotiate(&theirs, &kex.ours)
        }
        .map_err(Error::Kex)?;
        if kex.initial {
            self.strict = n.strict_kex() && self.config.strict_kex;
            if self.strict && seq != 0 {
                return Err(Error::StrictKex("KEXINIT was not the first packet"));
            }
        }
        let role = if client {
            whelk_kex::Role::Client
        } else {
            whelk_kex::Role::Server
        };
        kex.discard_guess = n.discard_peer_guess(role);
        let (version_c, version_s, init_c, init_s) = {
            let theirs_v = self
                .their_version
                .as_ref()
                .map(|v| v.line().clone())
                .unwrap_or_default();
            let ours_v = self.our_version.line().clone();
            if client {
                (ours_v, theirs_v, kex.ours_payload.clone(), payload.clone())
            } else {
                (theirs_v, ours_v, payload.clone(), kex.ours_payload.clone())
            }
        };
        let ctx = ExchangeContext {
            client_version: version_c,
            server_version: version_s,
            client_kexinit: init_c,
            server_kexinit: init_s,
            session_id: self.session_id.as_ref().map(|s| s.to_vec()),
        };
        kex.theirs_payload = Some(payload);
        if client {
            let mut ck = ClientKex::new(&n, ctx);
            let first = ck.start(&mut *self.rng).map_err(Error::Kex)?;
            self.kex_out
                .push_back(OutItem::Payload(encode_msg(&first)?));
            kex.machine = Machine::Client(ck);
        } else {
            let has_key = self.server.as_ref().is_some_and(|s| {
                s.host_keys
                    .iter()
                    .any(|k| key_matches(k, &n.host_key_algorithm))
            });
            if !has_key {
                return Err(Error::NoHostKey(n.host_key_algorithm.clone()));
            }
            kex.machine = Machine::Server(ServerKex::new(&n, ctx));
        }
        kex.negotiated = Some(n);
        Ok(())
    }

    fn on_kex_message(&mut self, payload: &Bytes) -> Result<()> {
        let number = payload.first().copied().unwrap_or_default();
        let Some(kex) = self.kex.as_mut() else {
            return Err(Error::UnexpectedMessage {
                number,
                when: "outside a key exchange",
            });
        };
        let Some(n) = &kex.negotiated else {
            return Err(Error::UnexpectedMessage {
                number,
                when: "before SSH_MSG_KEXINIT",
            });
        };
        if kex.output.is_some() {
            return Err(Error::UnexpectedMessage {
                number,
                when: "after the key exchange completed",
            });
        }
        if kex.discard_guess {
            kex.discard_guess = false;
            return Ok(());
        }
        let ctx = Context {
            kex: Some(n.kex.family),
            auth: None,
        };
        let msg = Message::decode_with(payload, ctx).map_err(Error::Wire)?;
        let host_key_algorithm = n.host_key_algorithm.clone();
        match &mut kex.machine {
            Machine::Waiting => {
                return Err(Error::UnexpectedMessage {
                    number,
                    when: "before SSH_MSG_KEXINIT",
                });
            }
            Machine::Client(ck) => match ck.handle(&msg, &mut *self.rng).map_err(Error::Kex)? {
                ClientStep::Send(m) => {
                    self.kex_out.push_back(OutItem::Payload(encode_msg(&m)?));
                }
                ClientStep::Done(out) => {
                    let host_key = out.host_key.clone();
                    let initial = kex.initial;
                    kex.output = Some(out);
                    if initial {
                        let id = self.next_token;
                        self.next_token += 1;
                        self.host_key_token = Some(id);
                        self.events.push_back(Event::HostKey(HostKeyCheck {
                            id,
                            host_key,
                            algorithm: host_key_algorithm,
                        }));
                    } else if self.first_host_key.as_ref() == Some(&host_key) {
                        self.install_keys()?;
                    } else {
                        return Err(Error::HostKeyChanged);
                    }
                }
                _ => {
                    return Err(Error::Kex(whelk_kex::Error::State("unknown client step")));
                }
            },
            Machine::Server(sk) => {
                let side = self
                    .server
                    .as_ref()
                    .ok_or(Error::NoHostKey(host_key_algorithm.clone()))?;
                let key = side
                    .host_keys
                    .iter()
                    .find(|k| key_matches(k, &host_key_algorithm))
                    .ok_or(Error::NoHostKey(host_key_algorithm.clone()))?;
                let mut seed = [0u8; 32];
                self.rng.fill_bytes(&mut seed);
                let mut sign_rng = ChaCha20Rng::from_seed(seed);
                let mut signer =
                    KeySigner::new(key, &host_key_algorithm, &mut sign_rng).map_err(Error::Kex)?;
                match sk
                    .handle(&msg, &mut *self.rng, &mut signer)
                    .map_err(Error::Kex)?
                {
                    ServerStep::Send(m) => {
                        self.kex_out.push_back(OutItem::Payload(encode_msg(&m)?));
                    }
                    ServerStep::Done { reply, output } => {
                        self.kex_out
                            .push_back(OutItem::Payload(encode_msg(&reply)?));
                        kex.output = Some(output);
                        self.install_keys()?;
                    }
                    _ => {
                        return Err(Error::Kex(whelk_kex::Error::State("unknown server step")));
                    }
                }
            }
        }
        Ok(())
    }

    /// Derives the new keys, builds the sealer and opener, and queues our NEWKEYS (and the
    /// server's EXT_INFO right after its first NEWKEYS).
    fn install_keys(&mut self) -> Result<()> {
        let client = self.client;
        let kex = self.kex.as_mut().ok_or(Error::UnexpectedNewKeys)?;
        let (Some(n), Some(out)) = (&kex.negotiated, &kex.output) else {
            return Err(Error::UnexpectedNewKeys);
        };
        let sizes = KeySizes::for_negotiated(n).map_err(Error::Kex)?;
        let keys = out.derive_keys(&sizes).map_err(Error::Kex)?;
        let (tx, tx_cipher, tx_mac, rx, rx_cipher, rx_mac) = if client {
            (
                &keys.client_to_server,
                &n.cipher_client_to_server,
                &n.mac_client_to_server,
                &keys.server_to_client,
                &n.cipher_server_to_client,
                &n.mac_server_to_client,
            )
        } else {
            (
                &keys.server_to_client,
                &n.cipher_server_to_client,
                &n.mac_server_to_client,
                &keys.client_to_server,
                &n.cipher_client_to_server,
                &n.mac_client_to_server,
            )
        };
        let sealer = registry::sealer(tx_cipher, tx_mac.as_deref(), &tx.as_cipher_keys())
            .map_err(Error::Cipher)?;
        kex.pending_opener = Some(
            registry::opener(rx_cipher, rx_mac.as_deref(), &rx.as_cipher_keys())
                .map_err(Error::Cipher)?,
        );
        let (tx_comp, rx_comp) = if client {
            (
                &n.compression_client_to_server,
                &n.compression_server_to_client,
            )
        } else {
            (
                &n.compression_server_to_client,
                &n.compression_client_to_server,
            )
        };
        let tx_comp = registry::compression_by_name(tx_comp);
        kex.pending_in_compression = registry::compression_by_name(rx_comp);
        let send_ext_info = !client && kex.initial && n.client_ext_info && self.config.ext_info;
        kex.newkeys_queued = true;
        self.newkeys_unsent = true;
        let initial = kex.initial;
        self.kex_out
            .push_back(OutItem::NewKeys(sealer, initial, tx_comp));
        if send_ext_info {
            let info = self.server_ext_info()?;
            self.kex_out.push_back(OutItem::Payload(info));
        }
        Ok(())
    }

    fn server_ext_info(&self) -> Result<Bytes> {
        let algs = self
            .server
            .as_ref()
            .map(|s| s.server_sig_algs.clone())
            .unwrap_or_default();
        let sig_algs = names(&algs)?;
        let info = ExtInfo {
            extensions: alloc::vec![
                (
                    Text::from(EXT_SERVER_SIG_ALGS),
                    Bytes::copy_from_slice(sig_algs.as_str().as_bytes()),
                ),
                (
                    Text::from(EXT_PUBLICKEY_HOSTBOUND),
                    Bytes::from_static(b"0")
                ),
                (Text::from(EXT_PING), Bytes::from_static(b"0")),
            ],
        };
        Ok(encode(&info))
    }

    fn on_newkeys(&mut self, payload: &Bytes) -> Result<()> {
        NewKeys::decode(payload).map_err(Error::Wire)?;
        let kex = self.kex.as_mut().ok_or(Error::UnexpectedNewKeys)?;
        if kex.recv_newkeys {
            return Err(Error::UnexpectedNewKeys);
        }
        let opener = kex.pending_opener.take().ok_or(Error::UnexpectedNewKeys)?;
        let in_compression = kex.pending_in_compression.take();
        kex.recv_newkeys = true;
        let max = usize::try_from(self.config.limits.max_packet_len).unwrap_or(usize::MAX);
        let authenticated = self.compression_authenticated;
        self.compress_in
            .switch(in_compression, authenticated, || Decompressor::new(max));
        let initial = kex.initial;
        self.deframer = Deframer::new(opener, self.deframer.limits());
        if self.strict {
            self.recv_seq = 0;
        }
        if initial {
            self.recv_first_newkeys = true;
            self.ext_info_window = true;
        }
        self.bytes_recv = 0;
        self.packets_recv = 0;
        self.maybe_finish_kex();
        Ok(())
    }
}

/// How long until `deadline` from `now` (zero if past); a helper for drivers.
#[must_use]
pub fn until(now: Instant, deadline: Instant) -> Duration {
    deadline.saturating_duration_since(now)
}
