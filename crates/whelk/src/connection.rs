//! The connection: transport + authentication + channels, routed in one place.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::ops::{Deref, DerefMut};

use bytes::{Bytes, BytesMut};
use rand_core::CryptoRng;
use whelk_auth::{
    Answer, AuthRequest, ClientAuth, CredentialRequest, Decision, HostbasedIdentity, Method,
    ServerAuth, Signer,
};
use whelk_channel::{
    ChannelConfig, ChannelId, Channels, GlobalReply, GlobalRequestId, GlobalRequestToken,
    IncomingChannel, RequestId, RequestToken, Role,
};
use whelk_keys::{PrivateKey, SigAlg};
use whelk_transport::{HostKeyCheck, HostKeyDecision, KexInfo, SendError};
use whelk_wire::msg::{
    AuthFamily, ChannelOpenFailureReason, ChannelOpenKind, ChannelRequestKind, Context,
    DisconnectReason, ExtInfo, ExtendedDataType, GlobalRequestKind, Message, MessageNumber, Phase,
};
use whelk_wire::types::Text;

use crate::Instant;
use crate::config::{ClientConfig, ServerConfig};
use crate::error::{Error, Result};

/// The service authentication runs under.
const USERAUTH: &str = "ssh-userauth";

/// Something the application should know about or decide.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// Client: the server's host key (its signature verified). Answer with
    /// [`ClientConnection::respond_host_key`]; nothing after the key exchange moves until then.
    HostKey(HostKeyCheck),
    /// A key exchange completed (the first one or a re-exchange).
    KexDone(Box<KexInfo>),
    /// Client: a banner from the server (sanitized).
    Banner(String),
    /// Client: a password or keyboard-interactive answers are needed. Answer with
    /// [`ClientConnection::respond_credentials`].
    Credentials(CredentialRequest),
    /// Client: the server accepted a method but wants more.
    PartialSuccess {
        /// The methods that can continue.
        methods: Vec<String>,
    },
    /// Server: the client asks to authenticate (signatures already verified). Answer with
    /// [`ServerConnection::respond_auth`].
    AuthRequest(AuthRequest),
    /// Authentication succeeded; channels can be used now.
    Authenticated {
        /// The user.
        user: String,
        /// The methods used, in order.
        methods: Vec<Method>,
        /// Server: everything the authentication established (key options, certificates).
        outcome: Option<Box<whelk_auth::Authenticated>>,
    },
    /// A connection protocol event: channel opens (decision tokens on either side), data,
    /// EOF, close, channel requests (exec, pty-req, window-change, signal, exit-status...)
    /// with their decision tokens, global requests and their answers, writability.
    Channel(whelk_channel::Event),
    /// The connection is over.
    Disconnected {
        /// The reason code.
        reason: DisconnectReason,
        /// The description.
        description: String,
        /// Whether the peer sent it.
        by_peer: bool,
    },
}

struct ClientSide {
    user: String,
    config: Option<whelk_auth::ClientConfig>,
    identities: Vec<Box<dyn Signer>>,
    hostbased: Option<HostbasedIdentity>,
    host_key: Option<Bytes>,
    ext: Option<ExtInfo>,
    auth: Option<ClientAuth>,
}

struct ServerSide {
    config: Option<whelk_auth::ServerConfig>,
    host_keys: Vec<PrivateKey>,
    auth: Option<ServerAuth>,
}

enum Side {
    Client(Box<ClientSide>),
    Server(Box<ServerSide>),
}

/// What client and server connections share: the inputs, the outputs and the channel
/// commands. Reached through [`ClientConnection`] and [`ServerConnection`] (which
/// dereference to it).
///
/// Call order (quinn's contract): inputs ([`Connection::handle_input`],
/// [`Connection::handle_timeout`]); commands; then drain [`Connection::poll_transmit`],
/// [`Connection::poll_event`] and arm a timer from [`Connection::poll_timeout`].
pub struct Connection {
    transport: whelk_transport::Connection,
    channels: Channels,
    channel_config: ChannelConfig,
    side: Side,
    events: VecDeque<Event>,
    session_id: Option<Bytes>,
    error: Option<Error>,
    /// The time of the latest input, timer or output call.
    now: Instant,
    /// Whether the transport was told that authentication succeeded.
    announced: bool,
}

impl core::fmt::Debug for Connection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Connection")
            .field("client", &self.is_client())
            .field("authenticated", &self.is_authenticated())
            .field("channels", &self.channels.channel_count())
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

fn text(s: &str) -> Text {
    Text(Bytes::copy_from_slice(s.as_bytes()))
}

impl Connection {
    fn new(
        transport: whelk_transport::Connection,
        side: Side,
        role: Role,
        cfg: (whelk_channel::Config, ChannelConfig),
        now: Instant,
    ) -> Self {
        Self {
            transport,
            channels: Channels::new(role, cfg.0),
            channel_config: cfg.1,
            side,
            events: VecDeque::new(),
            session_id: None,
            error: None,
            now,
            announced: false,
        }
    }

    // ------------------------------------------------------------------ getters

    /// Whether this is the client end.
    #[must_use]
    pub fn is_client(&self) -> bool {
        matches!(self.side, Side::Client(_))
    }

    /// Whether authentication succeeded (channels can be used).
    #[must_use]
    pub fn is_authenticated(&self) -> bool {
        match &self.side {
            Side::Client(c) => c.auth.as_ref().is_some_and(ClientAuth::is_authenticated),
            Side::Server(s) => s.auth.as_ref().is_some_and(ServerAuth::is_authenticated),
        }
    }

    /// The latched fatal error, if any.
    #[must_use]
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// Whether the connection is over (an error latched or a disconnect was sent or
    /// received).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.error.is_some() || self.transport.error().is_some()
    }

    /// The session identifier, once the first key exchange completed.
    #[must_use]
    pub fn session_id(&self) -> Option<&Bytes> {
        self.session_id.as_ref()
    }

    /// The transport underneath (algorithms negotiated, peer version, counters).
    #[must_use]
    pub fn transport(&self) -> &whelk_transport::Connection {
        &self.transport
    }

    /// The channel layer underneath (windows, buffered bytes, channel states).
    #[must_use]
    pub fn channels(&self) -> &Channels {
        &self.channels
    }

    // ------------------------------------------------------------------ inputs

    /// Feeds bytes received from the peer, in any split. Returns how many were consumed;
    /// fewer than given means "call again with the rest later" (a host key decision is
    /// pending). Fatal errors latch.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<usize> {
        self.now = now;
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let mut consumed = 0;
        loop {
            let rest = data.get(consumed..).unwrap_or_default();
            let r = self.transport.handle_input(now, rest);
            self.drain_transport(now);
            match r {
                Ok(n) => {
                    consumed += n;
                    if n == 0 || consumed >= data.len() {
                        break;
                    }
                }
                Err(e) => return Err(self.fail(e.into())),
            }
            if let Some(e) = &self.error {
                return Err(e.clone());
            }
        }
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(consumed),
        }
    }

    /// Like [`Connection::handle_input`], without copying: complete packets are taken off
    /// the front of `buf` and decrypted in place, and channel data is handed out as
    /// [`Bytes`] views of `buf`'s allocation. What stays in `buf` (a partial packet, or input
    /// held back while a host key decision is pending) is the caller's: append the next
    /// bytes read to it and call again, also after answering a decision.
    /// See [`whelk_transport::Connection::handle_input_buf`].
    pub fn handle_input_buf(&mut self, now: Instant, buf: &mut BytesMut) -> Result<()> {
        self.now = now;
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        loop {
            let before = buf.len();
            let r = self.transport.handle_input_buf(now, buf);
            self.drain_transport(now);
            if let Err(e) = r {
                return Err(self.fail(e.into()));
            }
            if let Some(e) = &self.error {
                return Err(e.clone());
            }
            // Once the transport's events were drained it may take more.
            if buf.is_empty() || buf.len() == before {
                return Ok(());
            }
        }
    }

    /// The peer closed its sending side (TCP EOF). Returns whether the connection had
    /// already ended (a DISCONNECT came first); otherwise it ends now with
    /// `CONNECTION_LOST` (nothing more is sent).
    pub fn handle_eof(&mut self) -> bool {
        if self.is_closed() {
            return true;
        }
        self.transport.handle_eof();
        let now = self.now;
        self.drain_transport(now);
        self.sync_error();
        false
    }

    /// Fires every timer due at `now` (transport timers, delayed authentication replies,
    /// login grace).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        self.transport.handle_timeout(now);
        self.drain_transport(now);
        if let Side::Server(s) = &mut self.side
            && let Some(a) = s.auth.as_mut()
            && a.handle_timeout(now).is_err()
            && let Some(e) = a.error().cloned()
        {
            self.fail(e.into());
        }
        self.sync_error();
    }

    // ------------------------------------------------------------------ outputs

    /// Appends every packet ready to go to `out`. Returns how many bytes were appended.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, out: &mut BytesMut) -> usize {
        self.now = now;
        self.flush(now);
        let n = self.transport.poll_transmit(now, out);
        self.drain_transport(now);
        n
    }

    /// The earliest timer, if any.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let t = self.transport.poll_timeout();
        let a = match &self.side {
            Side::Server(s) => s.auth.as_ref().and_then(ServerAuth::poll_timeout),
            Side::Client(_) => None,
        };
        match (t, a) {
            (Some(t), Some(a)) => Some(t.min(a)),
            (t, a) => t.or(a),
        }
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(ev) = self.events.pop_front() {
            return Some(ev);
        }
        if let Some(ev) = self.poll_auth_event() {
            return Some(ev);
        }
        self.channels.poll_event().map(Event::Channel)
    }

    // ------------------------------------------------------------------ commands

    /// Opens a session channel (queued until authentication succeeded).
    /// [`whelk_channel::Event::OpenConfirmed`] or `OpenFailed` follows.
    pub fn open_session(&mut self) -> Result<ChannelId> {
        self.open(ChannelOpenKind::Session)
    }

    /// Opens a `direct-tcpip` channel (client: local port forwarding).
    pub fn open_direct_tcpip(
        &mut self,
        host: &str,
        port: u32,
        originator: &str,
        originator_port: u32,
    ) -> Result<ChannelId> {
        self.open(ChannelOpenKind::DirectTcpip {
            host: text(host),
            port,
            originator_address: text(originator),
            originator_port,
        })
    }

    /// Server: opens a `forwarded-tcpip` channel for a connection to a port the client
    /// asked to forward (`tcpip-forward`).
    pub fn open_forwarded_tcpip(
        &mut self,
        address: &str,
        port: u32,
        originator: &str,
        originator_port: u32,
    ) -> Result<ChannelId> {
        self.open(ChannelOpenKind::ForwardedTcpip {
            connected_address: text(address),
            connected_port: port,
            originator_address: text(originator),
            originator_port,
        })
    }

    /// Opens a channel of any kind.
    pub fn open(&mut self, kind: ChannelOpenKind) -> Result<ChannelId> {
        self.check()?;
        Ok(self.channels.open(kind, self.channel_config)?)
    }

    /// Accepts a channel the peer opened.
    pub fn accept_channel(&mut self, incoming: IncomingChannel) -> Result<ChannelId> {
        self.check()?;
        Ok(self.channels.accept(incoming, self.channel_config)?)
    }

    /// Refuses a channel the peer opened.
    pub fn reject_channel(
        &mut self,
        incoming: IncomingChannel,
        reason: ChannelOpenFailureReason,
        description: &str,
    ) -> Result<()> {
        self.check()?;
        Ok(self.channels.reject(incoming, reason, description)?)
    }

    /// Sends a channel request; with `want_reply`,
    /// [`whelk_channel::Event::RequestResult`] follows.
    pub fn request(
        &mut self,
        id: ChannelId,
        kind: ChannelRequestKind,
        want_reply: bool,
    ) -> Result<RequestId> {
        self.check()?;
        Ok(self.channels.request(id, kind, want_reply)?)
    }

    /// Client: runs `command` on a session channel (reply wanted).
    pub fn exec(&mut self, id: ChannelId, command: &[u8]) -> Result<RequestId> {
        let command = Bytes::copy_from_slice(command);
        self.request(id, ChannelRequestKind::Exec { command }, true)
    }

    /// Client: starts the user's shell (reply wanted).
    pub fn shell(&mut self, id: ChannelId) -> Result<RequestId> {
        self.request(id, ChannelRequestKind::Shell, true)
    }

    /// Client: starts a subsystem such as `sftp` (reply wanted).
    pub fn subsystem(&mut self, id: ChannelId, name: &str) -> Result<RequestId> {
        self.request(id, ChannelRequestKind::Subsystem { name: text(name) }, true)
    }

    /// Client: asks for a pseudo-terminal (reply wanted). `modes` are encoded terminal
    /// modes ([`whelk_channel::TerminalModes`]); empty means none.
    pub fn request_pty(
        &mut self,
        id: ChannelId,
        term: &str,
        columns: u32,
        rows: u32,
        modes: Bytes,
    ) -> Result<RequestId> {
        let modes = if modes.is_empty() {
            // TTY_OP_END alone.
            Bytes::from_static(&[0])
        } else {
            modes
        };
        self.request(
            id,
            ChannelRequestKind::PtyReq {
                term: text(term),
                columns,
                rows,
                width_px: 0,
                height_px: 0,
                modes,
            },
            true,
        )
    }

    /// Client: the terminal changed size (no reply).
    pub fn window_change(&mut self, id: ChannelId, columns: u32, rows: u32) -> Result<()> {
        self.request(
            id,
            ChannelRequestKind::WindowChange {
                columns,
                rows,
                width_px: 0,
                height_px: 0,
            },
            false,
        )
        .map(|_| ())
    }

    /// Client: sends a signal (`"TERM"`, `"INT"`... without `SIG`; no reply).
    pub fn signal(&mut self, id: ChannelId, name: &str) -> Result<()> {
        self.request(id, ChannelRequestKind::Signal { name: text(name) }, false)
            .map(|_| ())
    }

    /// Client: sets an environment variable for the session (reply wanted).
    pub fn env(&mut self, id: ChannelId, name: &str, value: &str) -> Result<RequestId> {
        self.request(
            id,
            ChannelRequestKind::Env {
                name: text(name),
                value: text(value),
            },
            true,
        )
    }

    /// Server: reports the command's exit status (no reply).
    pub fn exit_status(&mut self, id: ChannelId, status: u32) -> Result<()> {
        self.request(id, ChannelRequestKind::ExitStatus { status }, false)
            .map(|_| ())
    }

    /// Server: reports that the command was killed by a signal (no reply).
    pub fn exit_signal(
        &mut self,
        id: ChannelId,
        signal: &str,
        core_dumped: bool,
        message: &str,
    ) -> Result<()> {
        self.request(
            id,
            ChannelRequestKind::ExitSignal {
                signal: text(signal),
                core_dumped,
                message: text(message),
                language: Text::default(),
            },
            false,
        )
        .map(|_| ())
    }

    /// Answers a channel request of the peer.
    pub fn respond_request(&mut self, token: RequestToken, success: bool) -> Result<()> {
        self.check()?;
        Ok(self.channels.respond(token, success)?)
    }

    /// Writes data; returns how much was taken (0: blocked until
    /// [`whelk_channel::Event::Writable`]).
    pub fn write(&mut self, id: ChannelId, data: &[u8]) -> Result<usize> {
        self.check()?;
        Ok(self.channels.write(id, data)?)
    }

    /// Writes stderr data (extended data type 1).
    pub fn write_stderr(&mut self, id: ChannelId, data: &[u8]) -> Result<usize> {
        self.check()?;
        Ok(self
            .channels
            .write_extended(id, ExtendedDataType::STDERR, data)?)
    }

    /// Reads up to `max` bytes of data; reading re-opens the window.
    pub fn read(&mut self, id: ChannelId, max: usize) -> Option<Bytes> {
        self.channels.read(id, max)
    }

    /// Reads up to `max` bytes of extended (stderr) data.
    pub fn read_stderr(&mut self, id: ChannelId, max: usize) -> Option<Bytes> {
        self.channels.read_extended(id, max).map(|(_, b)| b)
    }

    /// Sends EOF after the data written so far.
    pub fn eof(&mut self, id: ChannelId) -> Result<()> {
        self.check()?;
        Ok(self.channels.eof(id)?)
    }

    /// Closes a channel.
    pub fn close(&mut self, id: ChannelId) -> Result<()> {
        self.check()?;
        Ok(self.channels.close(id)?)
    }

    /// Sends a global request; with `want_reply`,
    /// [`whelk_channel::Event::GlobalRequestResult`] follows.
    pub fn global_request(
        &mut self,
        kind: GlobalRequestKind,
        want_reply: bool,
    ) -> Result<GlobalRequestId> {
        self.check()?;
        Ok(self.channels.global_request(kind, want_reply)?)
    }

    /// Client: asks the server to listen on `address:port` and forward connections back
    /// (`tcpip-forward`; port 0 lets the server pick, reported in the result).
    pub fn tcpip_forward(&mut self, address: &str, port: u32) -> Result<GlobalRequestId> {
        self.global_request(
            GlobalRequestKind::TcpipForward {
                address: text(address),
                port,
            },
            true,
        )
    }

    /// Client: cancels a `tcpip-forward`.
    pub fn cancel_tcpip_forward(&mut self, address: &str, port: u32) -> Result<GlobalRequestId> {
        self.global_request(
            GlobalRequestKind::CancelTcpipForward {
                address: text(address),
                port,
            },
            true,
        )
    }

    /// Answers a global request of the peer.
    pub fn respond_global(&mut self, token: GlobalRequestToken, reply: GlobalReply) -> Result<()> {
        self.check()?;
        Ok(self.channels.respond_global(token, reply)?)
    }

    /// Starts a key re-exchange; returns whether one was started.
    pub fn rekey(&mut self) -> bool {
        self.transport.rekey()
    }

    /// Closes the connection with `SSH_MSG_DISCONNECT`.
    pub fn disconnect(&mut self, reason: DisconnectReason, description: &str) {
        self.close_with(reason, description);
        self.sync_error();
    }

    // ------------------------------------------------------------------ internals

    fn check(&self) -> Result<()> {
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Latches `e` and queues the disconnect that goes with it.
    fn fail(&mut self, e: Error) -> Error {
        if let Some(old) = &self.error {
            return old.clone();
        }
        self.close_with(e.disconnect_reason(), &e.to_string());
        self.error = Some(e.clone());
        e
    }

    /// Queues our DISCONNECT and reports it (the transport reports only its own failures and
    /// the peer's DISCONNECT).
    fn close_with(&mut self, reason: DisconnectReason, description: &str) {
        if self.transport.error().is_some() {
            return;
        }
        self.transport.disconnect(reason, description);
        self.events.push_back(Event::Disconnected {
            reason,
            description: description.to_string(),
            by_peer: false,
        });
    }

    fn sync_error(&mut self) {
        if self.error.is_none()
            && let Some(e) = self.transport.error()
        {
            self.error = Some(Error::Transport(e.clone()));
        }
    }

    fn drain_transport(&mut self, now: Instant) {
        use whelk_transport::Event as T;
        while let Some(ev) = self.transport.poll_event() {
            match ev {
                T::KexDone(info) => {
                    if info.initial {
                        self.session_id = Some(info.session_id.clone());
                        if self.is_client()
                            && let Err(e) = self.transport.request_service(USERAUTH)
                        {
                            self.fail(e.into());
                        }
                    }
                    self.events.push_back(Event::KexDone(info));
                }
                T::HostKey(check) => {
                    if let Side::Client(c) = &mut self.side {
                        c.host_key = Some(check.host_key.clone());
                    }
                    self.events.push_back(Event::HostKey(check));
                }
                T::ExtInfo(ext) => {
                    if let Side::Client(c) = &mut self.side {
                        if let Some(a) = c.auth.as_mut() {
                            a.handle_ext_info(&ext);
                        }
                        c.ext = Some(ext);
                    }
                }
                T::ServiceAccepted(_) => self.start_client_auth(),
                T::ServiceRequested(_) => self.start_server_auth(now),
                T::Payload(p) => {
                    if let Err(e) = self.route(now, &p) {
                        self.fail(e);
                    }
                }
                T::Disconnected {
                    reason,
                    description,
                    by_peer,
                } => {
                    self.sync_error();
                    self.events.push_back(Event::Disconnected {
                        reason,
                        description,
                        by_peer,
                    });
                }
                _ => {}
            }
        }
        self.sync_error();
    }

    fn start_client_auth(&mut self) {
        let Some(session_id) = self.session_id.clone() else {
            return;
        };
        let Side::Client(c) = &mut self.side else {
            return;
        };
        let Some(config) = c.config.take() else {
            return;
        };
        let mut auth = ClientAuth::new(config, session_id, c.host_key.clone());
        if let Some(ext) = &c.ext {
            auth.handle_ext_info(ext);
        }
        for id in c.identities.drain(..) {
            auth.add_identity(id);
        }
        if let Some(hb) = c.hostbased.take() {
            auth.set_hostbased(hb);
        }
        let r = auth.start();
        c.auth = Some(auth);
        if let Err(e) = r {
            self.fail(e.into());
        }
    }

    fn start_server_auth(&mut self, now: Instant) {
        let Some(session_id) = self.session_id.clone() else {
            return;
        };
        let negotiated = self
            .transport
            .negotiated()
            .map(|n| n.host_key_algorithm.clone());
        let Side::Server(s) = &mut self.side else {
            return;
        };
        let Some(config) = s.config.take() else {
            return;
        };
        let alg = negotiated.as_deref().and_then(SigAlg::from_name);
        let key = s
            .host_keys
            .iter()
            .find(|k| alg.is_some_and(|a| a.key_type() == k.key_type()))
            .or_else(|| s.host_keys.first());
        let blob = key.map_or_else(Bytes::new, |k| {
            Bytes::copy_from_slice(k.public_key().blob())
        });
        s.auth = Some(ServerAuth::new(config, session_id, blob, now));
    }

    /// The one place messages are routed by phase.
    fn route(&mut self, now: Instant, payload: &Bytes) -> Result<()> {
        let number = payload.first().copied().unwrap_or(0);
        match MessageNumber(number).phase() {
            Phase::Userauth | Phase::UserauthMethod => self.route_auth(now, payload, number),
            Phase::Connection | Phase::Channel => {
                if !self.is_authenticated() {
                    return Err(Error::Protocol(format!(
                        "connection protocol message {number} before authentication succeeded"
                    )));
                }
                let msg = Message::decode(payload)
                    .map_err(|e| Error::Protocol(format!("message {number}: {e}")))?;
                match self.channels.handle_message(msg) {
                    Err(e) if e.is_fatal() => Err(e.into()),
                    // Channel-scoped errors were answered or dropped by the layer.
                    _ => Ok(()),
                }
            }
            // Reserved and local extension numbers: nothing here understands them.
            _ => Ok(()),
        }
    }

    fn route_auth(&mut self, now: Instant, payload: &Bytes, number: u8) -> Result<()> {
        let decode = |ctx: Option<AuthFamily>| {
            Message::decode_with(
                payload,
                Context {
                    kex: None,
                    auth: ctx,
                },
            )
            .map_err(|e| Error::Protocol(format!("message {number}: {e}")))
        };
        match &mut self.side {
            Side::Client(c) => {
                let Some(a) = c.auth.as_mut() else {
                    return Err(Error::Protocol(format!(
                        "authentication message {number} before the service was accepted"
                    )));
                };
                let msg = decode(a.context())?;
                match a.handle_message(msg) {
                    Err(e) if a.error().is_some() => Err(e.into()),
                    _ => Ok(()),
                }
            }
            Side::Server(s) => {
                let Some(a) = s.auth.as_mut() else {
                    return Err(Error::Protocol(format!(
                        "authentication message {number} before the service request"
                    )));
                };
                let msg = decode(a.context())?;
                match a.handle_message(now, msg) {
                    Err(e) if a.error().is_some() => Err(e.into()),
                    _ => Ok(()),
                }
            }
        }
    }

    /// Moves messages from authentication, then (once authenticated) from the channels,
    /// into the transport while it takes them.
    fn flush(&mut self, now: Instant) {
        if self.error.is_some() {
            return;
        }
        // Messages go to the transport unencoded: it encodes each straight into its packet
        // (channel data is copied once, from the channel's queue into the output buffer).
        while self.transport.can_send() {
            let Some(msg) = self.next_message(now) else {
                break;
            };
            if let Message::Disconnect(d) = &msg {
                let description = d.description.to_string();
                self.close_with(d.reason, &description);
                self.sync_error();
                break;
            }
            match self.transport.send_message(msg) {
                Ok(()) => {}
                // `can_send` said yes: only a failure of the transport itself gets here.
                Err(SendError::Blocked | SendError::Closed(_)) => break,
                Err(e) => {
                    self.fail(Error::Protocol(format!("cannot send: {e}")));
                    break;
                }
            }
        }
        if !self.announced && self.is_authenticated() {
            // Both roles: the server stops its login grace timer and answers PINGs; both
            // may start their own re-exchanges from now on.
            self.announced = true;
            self.transport.authenticated();
        }
    }

    fn next_message(&mut self, now: Instant) -> Option<Message> {
        let from_auth = match &mut self.side {
            Side::Client(c) => c.auth.as_mut().and_then(ClientAuth::poll_transmit),
            Side::Server(s) => s.auth.as_mut().and_then(|a| a.poll_transmit(now)),
        };
        if from_auth.is_some() {
            return from_auth;
        }
        if self.is_authenticated() {
            self.channels.poll_transmit()
        } else {
            None
        }
    }

    fn poll_auth_event(&mut self) -> Option<Event> {
        match &mut self.side {
            Side::Client(c) => {
                let a = c.auth.as_mut()?;
                loop {
                    let ev = a.poll_event()?;
                    return Some(match ev {
                        whelk_auth::ClientEvent::Banner(b) => Event::Banner(b),
                        whelk_auth::ClientEvent::Credentials(r) => Event::Credentials(r),
                        whelk_auth::ClientEvent::PartialSuccess { methods } => {
                            Event::PartialSuccess { methods }
                        }
                        whelk_auth::ClientEvent::Authenticated { methods } => {
                            Event::Authenticated {
                                user: c.user.clone(),
                                methods,
                                outcome: None,
                            }
                        }
                        _ => continue,
                    });
                }
            }
            Side::Server(s) => {
                let a = s.auth.as_mut()?;
                loop {
                    let ev = a.poll_event()?;
                    return Some(match ev {
                        whelk_auth::ServerEvent::Request(r) => Event::AuthRequest(r),
                        whelk_auth::ServerEvent::Authenticated(out) => Event::Authenticated {
                            user: out.user.clone(),
                            methods: out.methods.clone(),
                            outcome: Some(Box::new(out)),
                        },
                        _ => continue,
                    });
                }
            }
        }
    }
}

/// The client end of an SSH connection: transport, authentication and channels behind
/// one sans-IO surface. See the [crate docs](crate) for a walk-through.
#[derive(Debug)]
pub struct ClientConnection(Connection);

impl ClientConnection {
    /// A client. `rng` supplies every random byte (cookies, ephemeral keys, padding);
    /// `now` starts the key exchange timer.
    pub fn new(
        config: ClientConfig,
        rng: impl CryptoRng + Send + 'static,
        now: Instant,
    ) -> Result<Self> {
        let transport = whelk_transport::Connection::client(
            whelk_transport::ClientConfig {
                config: config.transport,
            },
            Box::new(rng),
            now,
        )?;
        let mut auth = config.auth;
        if auth.service.is_empty() {
            auth.service = "ssh-connection".to_string();
        }
        let side = Side::Client(Box::new(ClientSide {
            user: auth.user.clone(),
            config: Some(auth),
            identities: Vec::new(),
            hostbased: None,
            host_key: None,
            ext: None,
            auth: None,
        }));
        Ok(Self(Connection::new(
            transport,
            side,
            Role::Client,
            (config.channels, config.channel),
            now,
        )))
    }

    /// Adds a key to try for publickey authentication (before authentication starts).
    pub fn add_identity(&mut self, signer: Box<dyn Signer>) -> Result<()> {
        match &mut self.0.side {
            Side::Client(c) => match c.auth.as_mut() {
                Some(a) if !a.is_authenticated() => {
                    a.add_identity(signer);
                    Ok(())
                }
                Some(_) => Err(Error::Usage("already authenticated".into())),
                None => {
                    c.identities.push(signer);
                    Ok(())
                }
            },
            Side::Server(_) => Err(Error::Usage("not a client".into())),
        }
    }

    /// Sets the identity for `hostbased` authentication (RFC 4252 section 9): the client
    /// host's key signs the request, and the server trusts `client_user` on `client_host`
    /// (OpenSSH: `HostbasedAuthentication yes`, the host key in `ssh_known_hosts` or the
    /// target user's `~/.ssh/known_hosts`, and the pair in `shosts.equiv` or `~/.shosts`).
    ///
    /// Call it before authentication starts (right after [`ClientConnection::new`]); a
    /// second call replaces the identity. [`HostbasedIdentity::client_host`] may be given
    /// with or without the trailing dot that OpenSSH's `ssh` sends (the fully qualified
    /// form); one is added here if it is missing, and sshd strips it again before looking
    /// the name up.
    ///
    /// Hostbased is tried before publickey, as in OpenSSH's default
    /// `PreferredAuthentications` (`gssapi-with-mic,hostbased,publickey,
    /// keyboard-interactive,password`): if [`whelk_auth::ClientConfig::methods`] does not
    /// list [`Method::HostBased`], it is inserted first; a list that names it keeps its
    /// position. RSA host keys sign with `rsa-sha2-512`.
    ///
    /// [`Error::Usage`] on a server, or once authentication has started.
    pub fn set_hostbased(&mut self, mut identity: HostbasedIdentity) -> Result<()> {
        let Side::Client(c) = &mut self.0.side else {
            return Err(Error::Usage("not a client".into()));
        };
        if let Some(a) = &c.auth {
            return Err(Error::Usage(
                if a.is_authenticated() {
                    "already authenticated"
                } else {
                    "hostbased must be set before authentication starts"
                }
                .into(),
            ));
        }
        let Some(config) = c.config.as_mut() else {
            return Err(Error::Usage(
                "hostbased must be set before authentication starts".into(),
            ));
        };
        if !identity.client_host.is_empty() && !identity.client_host.ends_with('.') {
            identity.client_host.push('.');
        }
        if !config.methods.contains(&Method::HostBased) {
            config.methods.insert(0, Method::HostBased);
        }
        c.hostbased = Some(identity);
        Ok(())
    }

    /// Answers [`Event::HostKey`].
    pub fn respond_host_key(
        &mut self,
        check: HostKeyCheck,
        decision: HostKeyDecision,
    ) -> Result<()> {
        self.0.check()?;
        let r = self.0.transport.respond(check, decision);
        // Accepting resumes input processing inside the transport.
        let now = self.0.now;
        self.0.drain_transport(now);
        r.map_err(|e| self.0.fail(e.into()))
    }

    /// Answers [`Event::Credentials`].
    pub fn respond_credentials(
        &mut self,
        request: CredentialRequest,
        answer: Answer,
    ) -> Result<()> {
        self.0.check()?;
        let Side::Client(c) = &mut self.0.side else {
            return Err(Error::Usage("not a client".into()));
        };
        let Some(a) = c.auth.as_mut() else {
            return Err(Error::Usage("authentication has not started".into()));
        };
        match a.respond(request, answer) {
            Ok(()) => Ok(()),
            Err(e) if a.error().is_some() => Err(self.0.fail(e.into())),
            Err(e) => Err(e.into()),
        }
    }
}

/// The server end of an SSH connection.
#[derive(Debug)]
pub struct ServerConnection(Connection);

impl ServerConnection {
    /// A server. `rng` supplies every random byte; `now` starts the key exchange and login
    /// grace timers.
    pub fn new(
        config: ServerConfig,
        mut rng: impl CryptoRng + Send + 'static,
        now: Instant,
    ) -> Result<Self> {
        let mut auth = config.auth;
        if auth.jitter_key == [0; 32] {
            rng.fill_bytes(&mut auth.jitter_key);
        }
        let mut tcfg = whelk_transport::ServerConfig::new(config.host_keys.clone());
        tcfg.config = config.transport;
        tcfg.login_grace = auth.login_grace_time;
        let transport = whelk_transport::Connection::server(tcfg, Box::new(rng), now)?;
        let side = Side::Server(Box::new(ServerSide {
            config: Some(auth),
            host_keys: config.host_keys,
            auth: None,
        }));
        Ok(Self(Connection::new(
            transport,
            side,
            Role::Server,
            (config.channels, config.channel),
            now,
        )))
    }

    /// Answers [`Event::AuthRequest`]. `now` matters: failure replies are held back to a
    /// fixed delay after the request.
    pub fn respond_auth(
        &mut self,
        now: Instant,
        request: AuthRequest,
        decision: Decision,
    ) -> Result<()> {
        self.0.check()?;
        let Side::Server(s) = &mut self.0.side else {
            return Err(Error::Usage("not a server".into()));
        };
        let Some(a) = s.auth.as_mut() else {
            return Err(Error::Usage("authentication has not started".into()));
        };
        match a.respond(now, request, decision) {
            Ok(()) => Ok(()),
            Err(e) if a.error().is_some() => Err(self.0.fail(e.into())),
            Err(e) => Err(e.into()),
        }
    }
}

impl Deref for ClientConnection {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.0
    }
}

impl DerefMut for ClientConnection {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.0
    }
}

impl Deref for ServerConnection {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.0
    }
}

impl DerefMut for ServerConnection {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.0
    }
}
