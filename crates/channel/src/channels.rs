//! [`Channels`]: the connection protocol state machine of one SSH connection.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::fmt;

use bytes::{Bytes, BytesMut};
use whelk_wire::msg::{
    ChannelClose, ChannelData, ChannelEof, ChannelExtendedData, ChannelFailure, ChannelOpen,
    ChannelOpenConfirmation, ChannelOpenFailure, ChannelOpenFailureReason, ChannelOpenKind,
    ChannelRequest, ChannelRequestKind, ChannelSuccess, ChannelWindowAdjust, ExtendedDataType,
    GlobalRequest, GlobalRequestKind, Message, MessageBody, RawTail, RequestFailure,
    RequestSuccess,
};
use whelk_wire::types::Text;

use crate::config::{ChannelConfig, Config, MAX_MAX_PACKET, Role};
use crate::error::{Error, Result};

/// A channel of this connection, as the application names it.
///
/// `number` is our channel number on the wire; numbers are reused (lowest free first, as
/// OpenSSH does) once a channel is closed in both directions and its data is read. `serial`
/// is never reused, so an id kept past its channel's end names nothing instead of naming a
/// newer channel that got the same number: every command with a stale id fails with
/// [`Error::NoSuchChannel`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChannelId {
    number: u32,
    serial: u64,
}

impl ChannelId {
    /// Our channel number on the wire (for logs; not unique over time).
    #[must_use]
    pub fn number(self) -> u32 {
        self.number
    }
}

impl fmt::Debug for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChannelId({}#{})", self.number, self.serial)
    }
}

impl fmt::Display for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.number, self.serial)
    }
}

/// Names one of our want-reply channel requests; echoed by [`Event::RequestResult`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(u64);

/// Names one of our want-reply global requests; echoed by [`Event::GlobalRequestResult`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GlobalRequestId(u64);

/// A channel the peer wants to open. Answer with [`Channels::accept`] or
/// [`Channels::reject`], whenever ready; until then it counts against the channel limits.
/// Dropping it unanswered leaves the peer waiting and the slot taken until the connection
/// ends, so a connection should time these decisions out (and reject).
#[must_use = "the peer waits for an answer: pass it to Channels::accept or Channels::reject"]
#[derive(Debug)]
pub struct IncomingChannel {
    id: ChannelId,
    kind: ChannelOpenKind,
    peer_window: u32,
    peer_max_packet: u32,
}

impl IncomingChannel {
    /// The id the channel will have once accepted.
    #[must_use]
    pub fn id(&self) -> ChannelId {
        self.id
    }

    /// The channel type and its fields.
    #[must_use]
    pub fn kind(&self) -> &ChannelOpenKind {
        &self.kind
    }

    /// The peer's initial window.
    #[must_use]
    pub fn peer_window(&self) -> u32 {
        self.peer_window
    }

    /// The peer's maximum packet size, as it sent it.
    #[must_use]
    pub fn peer_max_packet(&self) -> u32 {
        self.peer_max_packet
    }
}

/// A channel request of the peer that wants a reply. Answer with [`Channels::respond`].
/// Replies go out in the order the requests came, whatever order they are answered in, so a
/// token dropped unanswered holds back every later reply on its channel.
#[must_use = "the peer waits for an answer: pass it to Channels::respond"]
#[derive(Debug)]
pub struct RequestToken {
    id: ChannelId,
    seq: u64,
}

impl RequestToken {
    /// The channel the request came on.
    #[must_use]
    pub fn id(&self) -> ChannelId {
        self.id
    }
}

/// A global request of the peer that wants a reply. Answer with [`Channels::respond_global`].
/// Replies go out in the order the requests came, whatever order they are answered in, so a
/// token dropped unanswered holds back every later global reply.
#[must_use = "the peer waits for an answer: pass it to Channels::respond_global"]
#[derive(Debug)]
pub struct GlobalRequestToken {
    seq: u64,
}

/// The answer to a global request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GlobalReply {
    /// `SSH_MSG_REQUEST_SUCCESS` with no data.
    Success,
    /// `SSH_MSG_REQUEST_SUCCESS` carrying the port bound for a `tcpip-forward` that asked for
    /// port 0 (RFC 4254 §7.1).
    BoundPort(u32),
    /// `SSH_MSG_REQUEST_SUCCESS` with request-specific data (e.g. the signatures answering
    /// `hostkeys-prove-00@openssh.com`, each an SSH `string`).
    Data(Bytes),
    /// `SSH_MSG_REQUEST_FAILURE`.
    Failure,
}

/// What happened, for the application. Drained with [`Channels::poll_event`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// The peer wants to open a channel of a type we take from this side and that is within
    /// the limits (others are refused by this layer).
    OpenRequest(IncomingChannel),
    /// A channel we opened was confirmed: it can carry data now.
    OpenConfirmed {
        /// The channel.
        id: ChannelId,
    },
    /// A channel we opened was refused; its id is gone.
    OpenFailed {
        /// The channel.
        id: ChannelId,
        /// The peer's reason code.
        reason: ChannelOpenFailureReason,
        /// The peer's description.
        description: Text,
    },
    /// Data arrived for [`Channels::read`]. Queued when data arrives and no `Data` event is
    /// outstanding for the channel since its last `read`: read until `None`.
    Data {
        /// The channel.
        id: ChannelId,
    },
    /// Extended data (stderr) arrived for [`Channels::read_extended`]; same rule as `Data`.
    ExtendedData {
        /// The channel.
        id: ChannelId,
    },
    /// The peer sent EOF: it will send no more data (what is buffered can still be read).
    Eof {
        /// The channel.
        id: ChannelId,
    },
    /// The peer closed the channel. Nothing more can be sent; what is buffered can still be
    /// read, after which the id is released.
    Closed {
        /// The channel.
        id: ChannelId,
    },
    /// A channel request from the peer (one this layer does not answer itself).
    Request {
        /// The channel.
        id: ChannelId,
        /// The request.
        kind: ChannelRequestKind,
        /// Present when the peer wants a reply.
        token: Option<RequestToken>,
    },
    /// The peer answered one of our want-reply channel requests (or the channel closed
    /// before it did: `success` is then false).
    RequestResult {
        /// The channel.
        id: ChannelId,
        /// Which request.
        request: RequestId,
        /// Whether it succeeded.
        success: bool,
    },
    /// A global request from the peer (one this layer does not answer itself).
    GlobalRequest {
        /// The request.
        kind: GlobalRequestKind,
        /// Present when the peer wants a reply.
        token: Option<GlobalRequestToken>,
    },
    /// The peer answered one of our want-reply global requests.
    GlobalRequestResult {
        /// Which request.
        request: GlobalRequestId,
        /// Whether it succeeded.
        success: bool,
        /// For a successful `tcpip-forward` that asked for port 0: the port the server bound.
        bound_port: Option<u32>,
        /// The raw reply data (e.g. `hostkeys-prove-00` signatures, see
        /// [`RequestSuccess::hostkey_signatures`]).
        data: Bytes,
    },
    /// A write that was cut short can make progress again.
    Writable {
        /// The channel.
        id: ChannelId,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// We sent CHANNEL_OPEN and wait for the answer.
    Opening,
    /// The peer sent CHANNEL_OPEN and the application has not answered yet.
    PendingAccept,
    /// Confirmed in both directions.
    Open,
}

#[derive(Debug)]
struct OutChunk {
    ext: Option<ExtendedDataType>,
    buf: BytesMut,
}

#[derive(Debug)]
enum Ctl {
    Request {
        kind: ChannelRequestKind,
        want_reply: bool,
    },
    Reply(bool),
}

#[derive(Debug)]
struct Channel {
    serial: u64,
    state: State,
    session: bool,
    from_peer: bool,
    remote: u32,
    cfg: ChannelConfig,

    // Sending.
    peer_window: u32,
    peer_max_packet: u32,
    out: VecDeque<OutChunk>,
    /// The buffer of the last chunk sent, kept for the next write: once the packets cut
    /// from it are sealed it is unique again and is reused without allocating (at most
    /// about twice `send_buffer`, freed with the channel).
    spare: BytesMut,
    queued: usize,
    want_writable: bool,
    eof_requested: bool,
    eof_sent: bool,
    close_requested: bool,
    close_sent: bool,
    ctl: VecDeque<Ctl>,
    awaiting: VecDeque<u64>,

    // Receiving. Invariant: local_window + consumed + buffered == cfg.window (until the peer
    // sends EOF or CLOSE, after which nothing is credited back).
    local_window: u32,
    consumed: u32,
    inbox: VecDeque<Bytes>,
    ext_inbox: VecDeque<(ExtendedDataType, Bytes)>,
    buffered: usize,
    data_event: bool,
    ext_event: bool,
    peer_eof: bool,
    peer_close: bool,
    replies: VecDeque<(u64, Option<bool>)>,
    env_count: usize,
}

impl Channel {
    fn new(serial: u64, state: State, session: bool, from_peer: bool, cfg: ChannelConfig) -> Self {
        Self {
            serial,
            state,
            session,
            from_peer,
            remote: 0,
            cfg,
            peer_window: 0,
            peer_max_packet: 0,
            out: VecDeque::new(),
            spare: BytesMut::new(),
            queued: 0,
            want_writable: false,
            eof_requested: false,
            eof_sent: false,
            close_requested: false,
            close_sent: false,
            ctl: VecDeque::new(),
            awaiting: VecDeque::new(),
            local_window: cfg.window,
            consumed: 0,
            inbox: VecDeque::new(),
            ext_inbox: VecDeque::new(),
            buffered: 0,
            data_event: false,
            ext_event: false,
            peer_eof: false,
            peer_close: false,
            replies: VecDeque::new(),
            env_count: 0,
        }
    }

    fn id(&self, number: u32) -> ChannelId {
        ChannelId {
            number,
            serial: self.serial,
        }
    }

    /// How many more bytes `write` takes now.
    fn capacity(&self) -> usize {
        if self.state != State::Open
            || self.eof_requested
            || self.close_requested
            || self.peer_close
        {
            return 0;
        }
        let window = usize::try_from(self.peer_window).unwrap_or(usize::MAX);
        self.cfg.send_buffer.min(window).saturating_sub(self.queued)
    }

    fn push_out(&mut self, ext: Option<ExtendedDataType>, data: &[u8]) {
        match self.out.back_mut() {
            Some(last) if last.ext == ext => last.buf.extend_from_slice(data),
            _ => {
                let mut buf = core::mem::take(&mut self.spare);
                buf.extend_from_slice(data);
                self.out.push_back(OutChunk { ext, buf });
            }
        }
        self.queued = self.queued.saturating_add(data.len());
    }

    fn should_adjust(&self) -> bool {
        let threshold = (self.cfg.window / 2).max(1);
        self.consumed >= threshold
            && !self.peer_eof
            && !self.peer_close
            && !self.close_requested
            && !self.close_sent
    }

    fn credit(&mut self, n: usize) {
        self.buffered = self.buffered.saturating_sub(n);
        self.consumed = self
            .consumed
            .saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
    }

    fn releasable(&self) -> bool {
        self.close_sent && self.peer_close && self.inbox.is_empty() && self.ext_inbox.is_empty()
    }

    /// Moves answered replies at the front of the queue to the control queue.
    fn flush_replies(&mut self, ctl_total: &mut usize) {
        while let Some(&(_, Some(ok))) = self.replies.front() {
            self.replies.pop_front();
            if !self.close_sent && !self.peer_close {
                self.ctl.push_back(Ctl::Reply(ok));
                *ctl_total = ctl_total.saturating_add(1);
            }
        }
    }

    /// The next message this channel wants to send, if any.
    fn next_message(
        &mut self,
        number: u32,
        events: &mut VecDeque<Event>,
        ctl_total: &mut usize,
    ) -> Option<Message> {
        if self.state != State::Open || self.close_sent {
            return None;
        }
        let recipient = self.remote;
        if self.peer_close {
            // RFC 4254 §5.3: answer the peer's CLOSE unless we already sent ours.
            self.close_sent = true;
            return Some(ChannelClose { recipient }.into());
        }
        if self.should_adjust() {
            let add = core::mem::take(&mut self.consumed);
            self.local_window = self.local_window.saturating_add(add);
            return Some(
                ChannelWindowAdjust {
                    recipient,
                    bytes_to_add: add,
                }
                .into(),
            );
        }
        if let Some(c) = self.ctl.pop_front() {
            *ctl_total = ctl_total.saturating_sub(1);
            return Some(match c {
                Ctl::Request { kind, want_reply } => ChannelRequest {
                    recipient,
                    want_reply,
                    kind,
                }
                .into(),
                Ctl::Reply(true) => ChannelSuccess { recipient }.into(),
                Ctl::Reply(false) => ChannelFailure { recipient }.into(),
            });
        }
        if let Some(chunk) = self.out.front_mut() {
            let limit = self.peer_window.min(self.peer_max_packet);
            let n = chunk
                .buf
                .len()
                .min(usize::try_from(limit).unwrap_or(usize::MAX));
            if n == 0 {
                // Blocked on the peer's window: EOF and CLOSE wait behind the data.
                return None;
            }
            let data = chunk.buf.split_to(n).freeze();
            let ext = chunk.ext;
            if chunk.buf.is_empty()
                && let Some(done) = self.out.pop_front()
            {
                self.spare = done.buf;
            }
            self.queued = self.queued.saturating_sub(n);
            self.peer_window = self
                .peer_window
                .saturating_sub(u32::try_from(n).unwrap_or(u32::MAX));
            if self.want_writable && self.capacity() > 0 {
                self.want_writable = false;
                events.push_back(Event::Writable {
                    id: self.id(number),
                });
            }
            return Some(match ext {
                None => ChannelData { recipient, data }.into(),
                Some(data_type) => ChannelExtendedData {
                    recipient,
                    data_type,
                    data,
                }
                .into(),
            });
        }
        if self.eof_requested && !self.eof_sent {
            self.eof_sent = true;
            return Some(ChannelEof { recipient }.into());
        }
        if self.close_requested {
            self.close_sent = true;
            return Some(ChannelClose { recipient }.into());
        }
        None
    }
}

#[derive(Debug)]
enum Forward {
    None,
    Tcp(u32),
    Stream(Bytes),
}

#[derive(Debug)]
struct SentGlobal {
    id: u64,
    forward: Forward,
    port_zero: bool,
}

/// The connection protocol (RFC 4254) of one SSH connection, either role: channels, their
/// flow control, channel requests and global requests.
///
/// Methods come in four kinds, called in this order (quinn's contract):
///
/// 1. getters (`&self`): [`Channels::send_capacity`], [`Channels::buffered`], ...;
/// 2. input: [`Channels::handle_message`] for each decoded connection-protocol message;
/// 3. commands from the application: [`Channels::open`], [`Channels::accept`],
///    [`Channels::write`], [`Channels::read`], [`Channels::request`], [`Channels::respond`],
///    [`Channels::global_request`], [`Channels::eof`], [`Channels::close`], ...;
/// 4. after any call of kind 2 or 3: [`Channels::poll_transmit`] until `None` (when the
///    transport may send), then [`Channels::poll_event`] until `None`.
///
/// There is no I/O, no clock and no randomness here; timers (idle channels, unanswered
/// decisions) belong to the connection that owns this value.
#[derive(Debug)]
pub struct Channels {
    role: Role,
    config: Config,
    chans: BTreeMap<u32, Channel>,
    next_serial: u64,
    next_seq: u64,
    rr: u32,
    conn_out: VecDeque<Message>,
    events: VecDeque<Event>,
    global_replies: VecDeque<(u64, Option<GlobalReply>)>,
    sent_globals: VecDeque<SentGlobal>,
    fatal: Option<Error>,
    /// Messages waiting in the channels' control queues (requests and replies).
    ctl_total: usize,
    x11_requested: bool,
    agent_requested: bool,
    tcp_forwards: Vec<u32>,
    stream_forwards: Vec<Bytes>,
    no_more_sessions: bool,
}

fn failure_msg(recipient: u32, reason: ChannelOpenFailureReason, text: &'static str) -> Message {
    ChannelOpenFailure {
        recipient,
        reason,
        description: Text::from(text),
        language: Text::default(),
    }
    .into()
}

/// The channel a message from the peer names, which must be open.
fn open_chan<'a>(
    chans: &'a mut BTreeMap<u32, Channel>,
    number: u32,
    message: &'static str,
) -> Result<&'a mut Channel> {
    let ch = chans
        .get_mut(&number)
        .ok_or(Error::UnknownChannel { number, message })?;
    if ch.state != State::Open {
        return Err(Error::NotOpen { number, message });
    }
    Ok(ch)
}

fn str_ok(s: &[u8], max: usize) -> bool {
    s.len() <= max && !s.contains(&0)
}

impl Channels {
    /// A connection protocol layer for one side of a connection.
    #[must_use]
    pub fn new(role: Role, config: Config) -> Self {
        Self {
            role,
            config,
            chans: BTreeMap::new(),
            next_serial: 0,
            // Starts at 1: 0 marks replies this layer answered itself.
            next_seq: 1,
            rr: 0,
            conn_out: VecDeque::new(),
            events: VecDeque::new(),
            global_replies: VecDeque::new(),
            sent_globals: VecDeque::new(),
            fatal: None,
            ctl_total: 0,
            x11_requested: false,
            agent_requested: false,
            tcp_forwards: Vec::new(),
            stream_forwards: Vec::new(),
            no_more_sessions: false,
        }
    }

    // ----- getters -----

    /// Which side this is.
    #[must_use]
    pub fn role(&self) -> Role {
        self.role
    }

    /// The limits in force.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The latched fatal error, if one happened.
    #[must_use]
    pub fn error(&self) -> Option<&Error> {
        self.fatal.as_ref()
    }

    /// Channels held, in every state (this is what `max_channels` limits).
    #[must_use]
    pub fn channel_count(&self) -> usize {
        self.chans.len()
    }

    fn chan(&self, id: ChannelId) -> Option<&Channel> {
        self.chans.get(&id.number).filter(|c| c.serial == id.serial)
    }

    fn chan_mut(&mut self, id: ChannelId) -> Result<&mut Channel> {
        self.chans
            .get_mut(&id.number)
            .filter(|c| c.serial == id.serial)
            .ok_or(Error::NoSuchChannel(id))
    }

    /// Control messages (opens and their answers, requests, replies) waiting for
    /// [`Channels::poll_transmit`]. A peer that keeps sending requests while not reading our
    /// answers makes this grow; past [`Config::max_backlog`] that is fatal
    /// ([`Error::BacklogExceeded`]). A connection should also stop reading input while its own
    /// output is backed up.
    #[must_use]
    pub fn backlog(&self) -> usize {
        self.conn_out.len().saturating_add(self.ctl_total)
    }

    /// Whether `id` names a live channel (in any state).
    #[must_use]
    pub fn exists(&self, id: ChannelId) -> bool {
        self.chan(id).is_some()
    }

    /// Whether the channel is open in both directions' eyes (confirmed, not closed by the
    /// peer).
    #[must_use]
    pub fn is_open(&self, id: ChannelId) -> bool {
        self.chan(id)
            .is_some_and(|c| c.state == State::Open && !c.peer_close)
    }

    /// How many bytes [`Channels::write`] would take now.
    #[must_use]
    pub fn send_capacity(&self, id: ChannelId) -> usize {
        self.chan(id).map_or(0, Channel::capacity)
    }

    /// Bytes written but not yet sent.
    #[must_use]
    pub fn queued(&self, id: ChannelId) -> usize {
        self.chan(id).map_or(0, |c| c.queued)
    }

    /// Inbound bytes (data and extended data) received and not yet read. Never more than the
    /// window we advertised.
    #[must_use]
    pub fn buffered(&self, id: ChannelId) -> usize {
        self.chan(id).map_or(0, |c| c.buffered)
    }

    /// What the peer may still send us on this channel before we re-open the window.
    #[must_use]
    pub fn local_window(&self, id: ChannelId) -> u32 {
        self.chan(id).map_or(0, |c| c.local_window)
    }

    /// What we may still send on this channel before the peer re-opens its window.
    #[must_use]
    pub fn peer_window(&self, id: ChannelId) -> u32 {
        self.chan(id).map_or(0, |c| c.peer_window)
    }

    /// The data bytes we put in one message at most on this channel: the peer's maximum
    /// packet size, clamped to `max_send_packet`.
    #[must_use]
    pub fn peer_max_packet(&self, id: ChannelId) -> u32 {
        self.chan(id).map_or(0, |c| c.peer_max_packet)
    }

    /// Whether the peer has sent EOF (or CLOSE) on this channel.
    #[must_use]
    pub fn is_peer_eof(&self, id: ChannelId) -> bool {
        self.chan(id).is_some_and(|c| c.peer_eof || c.peer_close)
    }

    /// Whether the peer has sent CLOSE on this channel.
    #[must_use]
    pub fn is_peer_closed(&self, id: ChannelId) -> bool {
        self.chan(id).is_some_and(|c| c.peer_close)
    }

    /// The ids of the live channels, in channel-number order.
    pub fn ids(&self) -> impl Iterator<Item = ChannelId> + '_ {
        self.chans.iter().map(|(&n, c)| c.id(n))
    }

    // ----- input -----

    /// Handles one decoded connection-protocol message from the peer.
    ///
    /// A fatal error latches: this and every other method that returns a `Result` returns
    /// it again from then on, and the caller disconnects with
    /// [`Error::disconnect_reason`]. Channel-scoped errors drop the message and change
    /// nothing else.
    pub fn handle_message(&mut self, msg: Message) -> Result<()> {
        self.check()?;
        let r = self.dispatch(msg);
        if let Err(e) = &r
            && e.is_fatal()
        {
            self.fatal = Some(e.clone());
        }
        r
    }

    fn check(&self) -> Result<()> {
        match &self.fatal {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn dispatch(&mut self, msg: Message) -> Result<()> {
        let answers = match &msg {
            Message::ChannelOpen(_) => true,
            Message::ChannelRequest(r) => r.want_reply,
            Message::GlobalRequest(r) => r.want_reply,
            _ => false,
        };
        let max = self.config.max_backlog;
        if answers && self.backlog() >= max {
            return Err(Error::BacklogExceeded { max });
        }
        match msg {
            Message::ChannelOpen(m) => {
                self.on_open(m);
                Ok(())
            }
            Message::ChannelOpenConfirmation(m) => self.on_confirm(m),
            Message::ChannelOpenFailure(m) => self.on_open_failure(m),
            Message::ChannelWindowAdjust(m) => self.on_window_adjust(&m),
            Message::ChannelData(m) => self.on_data(m.recipient, None, m.data),
            Message::ChannelExtendedData(m) => self.on_data(m.recipient, Some(m.data_type), m.data),
            Message::ChannelEof(m) => self.on_eof(m.recipient),
            Message::ChannelClose(m) => self.on_close(m.recipient),
            Message::ChannelRequest(m) => self.on_request(m),
            Message::ChannelSuccess(m) => self.on_request_result(m.recipient, true),
            Message::ChannelFailure(m) => self.on_request_result(m.recipient, false),
            Message::GlobalRequest(m) => self.on_global(m),
            Message::RequestSuccess(m) => {
                self.on_global_result(Some(m));
                Ok(())
            }
            Message::RequestFailure(_) => {
                self.on_global_result(None);
                Ok(())
            }
            other => Err(Error::NotConnectionMessage {
                number: other.number().0,
            }),
        }
    }

    fn peer_may_open(&self, kind: &ChannelOpenKind) -> bool {
        use ChannelOpenKind as K;
        match (self.role, kind) {
            (Role::Server, K::Session) => !self.no_more_sessions,
            (Role::Server, K::DirectTcpip { .. } | K::DirectStreamlocal { .. } | K::Tun { .. }) => {
                true
            }
            (Role::Client, K::ForwardedTcpip { connected_port, .. }) => {
                self.tcp_forwards.contains(connected_port)
            }
            (Role::Client, K::ForwardedStreamlocal { socket_path, .. }) => self
                .stream_forwards
                .iter()
                .any(|p| p.as_ref() == socket_path.as_bytes()),
            (Role::Client, K::X11 { .. }) => self.x11_requested,
            (Role::Client, K::AuthAgent) => self.agent_requested,
            _ => false,
        }
    }

    /// The lowest channel number not in use.
    fn free_number(&self) -> Option<u32> {
        let mut n = 0u32;
        for &k in self.chans.keys() {
            if k != n {
                break;
            }
            n = n.checked_add(1)?;
        }
        Some(n)
    }

    fn alloc(&mut self, ch: impl FnOnce(u64) -> Channel) -> Option<u32> {
        if self.chans.len() >= self.config.max_channels {
            return None;
        }
        let n = self.free_number()?;
        let serial = self.next_serial;
        self.next_serial = self.next_serial.wrapping_add(1);
        self.chans.insert(n, ch(serial));
        Some(n)
    }

    fn on_open(&mut self, m: ChannelOpen) {
        use ChannelOpenFailureReason as R;
        let session = matches!(m.kind, ChannelOpenKind::Session);
        let refusal = if matches!(m.kind, ChannelOpenKind::Other { .. }) {
            Some((R::UNKNOWN_CHANNEL_TYPE, "unknown channel type"))
        } else if !self.peer_may_open(&m.kind) {
            Some((R::ADMINISTRATIVELY_PROHIBITED, "channel type not allowed"))
        } else if m.max_packet == 0 {
            Some((R::CONNECT_FAILED, "invalid maximum packet size"))
        } else if session
            && self
                .chans
                .values()
                .filter(|c| c.from_peer && c.session)
                .count()
                >= self.config.max_sessions
        {
            Some((R::RESOURCE_SHORTAGE, "too many sessions"))
        } else {
            None
        };
        if let Some((reason, text)) = refusal {
            self.conn_out.push_back(failure_msg(m.sender, reason, text));
            return;
        }
        let max_send = self.max_send_packet();
        let allocated = self.alloc(|serial| {
            let mut ch = Channel::new(
                serial,
                State::PendingAccept,
                session,
                true,
                ChannelConfig::default(),
            );
            ch.remote = m.sender;
            ch.peer_window = m.initial_window;
            ch.peer_max_packet = m.max_packet.min(max_send);
            ch
        });
        let Some(number) = allocated else {
            self.conn_out.push_back(failure_msg(
                m.sender,
                R::RESOURCE_SHORTAGE,
                "too many channels",
            ));
            return;
        };
        let serial = self.chans.get(&number).map_or(0, |c| c.serial);
        self.events.push_back(Event::OpenRequest(IncomingChannel {
            id: ChannelId { number, serial },
            kind: m.kind,
            peer_window: m.initial_window,
            peer_max_packet: m.max_packet,
        }));
    }

    fn max_send_packet(&self) -> u32 {
        self.config.max_send_packet.clamp(1, MAX_MAX_PACKET)
    }

    fn on_confirm(&mut self, m: ChannelOpenConfirmation) -> Result<()> {
        let number = m.recipient;
        let message = ChannelOpenConfirmation::NAME;
        let max_send = self.max_send_packet();
        let ch = self
            .chans
            .get_mut(&number)
            .filter(|c| c.state == State::Opening)
            .ok_or(Error::UnexpectedOpenReply { number, message })?;
        if m.max_packet == 0 {
            return Err(Error::ZeroMaxPacket { number });
        }
        ch.state = State::Open;
        ch.remote = m.sender;
        ch.peer_window = m.initial_window;
        ch.peer_max_packet = m.max_packet.min(max_send);
        let id = ch.id(number);
        self.events.push_back(Event::OpenConfirmed { id });
        if ch.want_writable && ch.capacity() > 0 {
            ch.want_writable = false;
            self.events.push_back(Event::Writable { id });
        }
        Ok(())
    }

    fn on_open_failure(&mut self, m: ChannelOpenFailure) -> Result<()> {
        let number = m.recipient;
        let message = ChannelOpenFailure::NAME;
        if !self
            .chans
            .get(&number)
            .is_some_and(|c| c.state == State::Opening)
        {
            return Err(Error::UnexpectedOpenReply { number, message });
        }
        if let Some(ch) = self.remove_chan(number) {
            let id = ch.id(number);
            self.abandon_requests(&ch, number);
            self.events.push_back(Event::OpenFailed {
                id,
                reason: m.reason,
                description: m.description,
            });
        }
        Ok(())
    }

    fn abandon_requests(&mut self, ch: &Channel, number: u32) {
        for &seq in &ch.awaiting {
            self.events.push_back(Event::RequestResult {
                id: ch.id(number),
                request: RequestId(seq),
                success: false,
            });
        }
    }

    fn on_window_adjust(&mut self, m: &ChannelWindowAdjust) -> Result<()> {
        let number = m.recipient;
        let ch = open_chan(&mut self.chans, number, ChannelWindowAdjust::NAME)?;
        let window = ch
            .peer_window
            .checked_add(m.bytes_to_add)
            .ok_or(Error::WindowOverflow {
                number,
                window: ch.peer_window,
                add: m.bytes_to_add,
            })?;
        if ch.peer_close {
            return Err(Error::AfterPeerClose {
                id: ch.id(number),
                message: ChannelWindowAdjust::NAME,
            });
        }
        ch.peer_window = window;
        if ch.want_writable && ch.capacity() > 0 {
            ch.want_writable = false;
            self.events.push_back(Event::Writable { id: ch.id(number) });
        }
        Ok(())
    }

    fn on_data(&mut self, number: u32, ext: Option<ExtendedDataType>, data: Bytes) -> Result<()> {
        let message = if ext.is_some() {
            ChannelExtendedData::NAME
        } else {
            ChannelData::NAME
        };
        let ch = open_chan(&mut self.chans, number, message)?;
        let id = ch.id(number);
        if ch.peer_close {
            return Err(Error::AfterPeerClose { id, message });
        }
        if ch.close_sent {
            // Sent before the peer saw our CLOSE: a legitimate race, dropped.
            return Ok(());
        }
        if ch.peer_eof {
            return Err(Error::AfterPeerEof { id, message });
        }
        let len = data.len();
        let max = ch.cfg.max_packet;
        let len32 = u32::try_from(len)
            .ok()
            .filter(|&l| l <= max)
            .ok_or(Error::PacketTooLarge { number, len, max })?;
        if len32 > ch.local_window {
            return Err(Error::WindowExceeded {
                number,
                len,
                window: ch.local_window,
            });
        }
        ch.local_window -= len32;
        if len == 0 {
            return Ok(());
        }
        if ch.close_requested {
            // The application closed the channel and will not read: drop.
            return Ok(());
        }
        ch.buffered = ch.buffered.saturating_add(len);
        match ext {
            None => {
                ch.inbox.push_back(data);
                if !ch.data_event {
                    ch.data_event = true;
                    self.events.push_back(Event::Data { id });
                }
            }
            Some(t) => {
                ch.ext_inbox.push_back((t, data));
                if !ch.ext_event {
                    ch.ext_event = true;
                    self.events.push_back(Event::ExtendedData { id });
                }
            }
        }
        Ok(())
    }

    fn on_eof(&mut self, number: u32) -> Result<()> {
        let message = ChannelEof::NAME;
        let ch = open_chan(&mut self.chans, number, message)?;
        let id = ch.id(number);
        if ch.peer_close {
            return Err(Error::AfterPeerClose { id, message });
        }
        if ch.peer_eof {
            return Err(Error::AfterPeerEof { id, message });
        }
        ch.peer_eof = true;
        if !ch.close_sent && !ch.close_requested {
            self.events.push_back(Event::Eof { id });
        }
        Ok(())
    }

    fn on_close(&mut self, number: u32) -> Result<()> {
        let message = ChannelClose::NAME;
        let ch = open_chan(&mut self.chans, number, message)?;
        let id = ch.id(number);
        if ch.peer_close {
            // OpenSSH logs "close rcvd twice"; harmless while we still hold the channel.
            return Err(Error::AfterPeerClose { id, message });
        }
        ch.peer_close = true;
        ch.out.clear();
        ch.queued = 0;
        self.ctl_total = self.ctl_total.saturating_sub(ch.ctl.len());
        ch.ctl.clear();
        ch.replies.clear();
        ch.want_writable = false;
        let awaiting = core::mem::take(&mut ch.awaiting);
        for seq in awaiting {
            self.events.push_back(Event::RequestResult {
                id,
                request: RequestId(seq),
                success: false,
            });
        }
        self.events.push_back(Event::Closed { id });
        self.maybe_release(number);
        Ok(())
    }

    fn maybe_release(&mut self, number: u32) {
        if self.chans.get(&number).is_some_and(Channel::releasable) {
            self.remove_chan(number);
        }
    }

    fn remove_chan(&mut self, number: u32) -> Option<Channel> {
        let ch = self.chans.remove(&number)?;
        self.ctl_total = self.ctl_total.saturating_sub(ch.ctl.len());
        Some(ch)
    }

    /// Whether this layer should answer a channel request itself (with FAILURE) instead of
    /// handing it to the application.
    fn refuse_request(&self, ch: &Channel, kind: &ChannelRequestKind) -> bool {
        use ChannelRequestKind as K;
        let max = self.config.max_request_string;
        let from_client = self.role == Role::Server;
        match kind {
            K::EndOfWrite => !ch.session,
            K::PtyReq { term, .. } => !from_client || !ch.session || !str_ok(term.as_bytes(), max),
            K::Env { name, value } => {
                !from_client
                    || !ch.session
                    || ch.env_count >= self.config.max_env_requests
                    || !str_ok(name.as_bytes(), max)
                    || !str_ok(value.as_bytes(), max)
            }
            K::Exec { command } => !from_client || !ch.session || !str_ok(command, max),
            K::Subsystem { name } | K::Signal { name } => {
                !from_client || !ch.session || !str_ok(name.as_bytes(), max)
            }
            K::X11Req { .. }
            | K::Shell
            | K::WindowChange { .. }
            | K::Break { .. }
            | K::AuthAgentReq => !from_client || !ch.session,
            K::XonXoff { .. } | K::ExitStatus { .. } | K::ExitSignal { .. } => {
                from_client || !ch.session
            }
            // keepalive@openssh.com is answered with FAILURE, as OpenSSH does; unknown
            // requests too (RFC 4254 §5.4).
            _ => true,
        }
    }

    fn on_request(&mut self, m: ChannelRequest) -> Result<()> {
        let number = m.recipient;
        let message = ChannelRequest::NAME;
        let max_pending = self.config.max_pending_requests;
        let ch = open_chan(&mut self.chans, number, message)?;
        let id = ch.id(number);
        if ch.peer_close {
            return Err(Error::AfterPeerClose { id, message });
        }
        if ch.close_sent {
            return Ok(());
        }
        let refuse = self
            .chans
            .get(&number)
            .is_none_or(|ch| self.refuse_request(ch, &m.kind));
        let Some(ch) = self.chans.get_mut(&number) else {
            return Ok(());
        };
        if m.want_reply && ch.replies.len() >= max_pending {
            return Err(Error::TooManyPendingRequests { max: max_pending });
        }
        if refuse {
            if m.want_reply {
                ch.replies.push_back((0, Some(false)));
                ch.flush_replies(&mut self.ctl_total);
            }
            return Ok(());
        }
        if matches!(m.kind, ChannelRequestKind::Env { .. }) {
            ch.env_count = ch.env_count.saturating_add(1);
        }
        let token = if m.want_reply {
            let seq = self.next_seq;
            self.next_seq = self.next_seq.wrapping_add(1);
            ch.replies.push_back((seq, None));
            Some(RequestToken { id, seq })
        } else {
            None
        };
        self.events.push_back(Event::Request {
            id,
            kind: m.kind,
            token,
        });
        Ok(())
    }

    fn on_request_result(&mut self, number: u32, success: bool) -> Result<()> {
        let message = if success {
            ChannelSuccess::NAME
        } else {
            ChannelFailure::NAME
        };
        let ch = open_chan(&mut self.chans, number, message)?;
        let id = ch.id(number);
        if ch.peer_close {
            return Err(Error::AfterPeerClose { id, message });
        }
        // A reply nobody asked for is dropped, as OpenSSH does.
        if let Some(seq) = ch.awaiting.pop_front() {
            self.events.push_back(Event::RequestResult {
                id,
                request: RequestId(seq),
                success,
            });
        }
        Ok(())
    }

    fn on_global(&mut self, m: GlobalRequest) -> Result<()> {
        use GlobalRequestKind as K;
        let server = self.role == Role::Server;
        // Some(answer): this layer answers; None: the application does.
        let auto = match &m.kind {
            K::NoMoreSessions if server => {
                self.no_more_sessions = true;
                Some(true)
            }
            K::HostKeys { .. } if !server => None,
            K::HostKeysProve { .. }
            | K::TcpipForward { .. }
            | K::CancelTcpipForward { .. }
            | K::StreamlocalForward { .. }
            | K::CancelStreamlocalForward { .. }
                if server =>
            {
                None
            }
            // keepalive@openssh.com, unknown requests, and requests the other side sends.
            _ => Some(false),
        };
        let max = self.config.max_pending_requests;
        if m.want_reply && self.global_replies.len() >= max {
            return Err(Error::TooManyPendingRequests { max });
        }
        match auto {
            Some(ok) => {
                if m.want_reply {
                    let reply = if ok {
                        GlobalReply::Success
                    } else {
                        GlobalReply::Failure
                    };
                    self.global_replies.push_back((0, Some(reply)));
                    self.flush_global_replies();
                }
            }
            None => {
                let token = if m.want_reply {
                    let seq = self.next_seq;
                    self.next_seq = self.next_seq.wrapping_add(1);
                    self.global_replies.push_back((seq, None));
                    Some(GlobalRequestToken { seq })
                } else {
                    None
                };
                self.events.push_back(Event::GlobalRequest {
                    kind: m.kind,
                    token,
                });
            }
        }
        Ok(())
    }

    fn flush_global_replies(&mut self) {
        while let Some((_, Some(_))) = self.global_replies.front() {
            let Some((_, Some(reply))) = self.global_replies.pop_front() else {
                break;
            };
            self.conn_out.push_back(match reply {
                GlobalReply::Failure => RequestFailure {}.into(),
                GlobalReply::Success => RequestSuccess {
                    data: RawTail::default(),
                }
                .into(),
                GlobalReply::BoundPort(port) => RequestSuccess {
                    data: RawTail(Bytes::copy_from_slice(&port.to_be_bytes())),
                }
                .into(),
                GlobalReply::Data(data) => RequestSuccess {
                    data: RawTail(data),
                }
                .into(),
            });
        }
    }

    fn on_global_result(&mut self, success: Option<RequestSuccess>) {
        // A reply nobody asked for is dropped (catalog C11).
        let Some(sent) = self.sent_globals.pop_front() else {
            return;
        };
        let mut bound_port = None;
        if let Some(s) = &success {
            if sent.port_zero {
                bound_port = s.bound_port().ok();
            }
            match sent.forward {
                Forward::Tcp(port) => {
                    if let Some(p) = if sent.port_zero {
                        bound_port
                    } else {
                        Some(port)
                    } {
                        self.tcp_forwards.push(p);
                    }
                }
                Forward::Stream(path) => self.stream_forwards.push(path),
                Forward::None => {}
            }
        }
        self.events.push_back(Event::GlobalRequestResult {
            request: GlobalRequestId(sent.id),
            success: success.is_some(),
            bound_port,
            data: success.map(|s| s.data.0).unwrap_or_default(),
        });
    }

    // ----- commands -----

    /// Opens a channel. The open goes out with the next [`Channels::poll_transmit`];
    /// [`Event::OpenConfirmed`] or [`Event::OpenFailed`] follows. Data written before the
    /// confirmation waits for it (writes return 0 until then, then [`Event::Writable`]).
    pub fn open(&mut self, kind: ChannelOpenKind, config: ChannelConfig) -> Result<ChannelId> {
        self.check()?;
        let cfg = config.clamped();
        let session = matches!(kind, ChannelOpenKind::Session);
        let max = self.config.max_channels;
        let number = self
            .alloc(|serial| Channel::new(serial, State::Opening, session, false, cfg))
            .ok_or(Error::TooManyChannels { max })?;
        let serial = self.chans.get(&number).map_or(0, |c| c.serial);
        self.conn_out.push_back(
            ChannelOpen {
                sender: number,
                initial_window: cfg.window,
                max_packet: cfg.max_packet,
                kind,
            }
            .into(),
        );
        Ok(ChannelId { number, serial })
    }

    /// Accepts a channel the peer opened, with our window and packet settings.
    pub fn accept(
        &mut self,
        incoming: IncomingChannel,
        config: ChannelConfig,
    ) -> Result<ChannelId> {
        self.check()?;
        let id = incoming.id;
        let cfg = config.clamped();
        let ch = self.chan_mut(id)?;
        if ch.state != State::PendingAccept {
            return Err(Error::InvalidState(id));
        }
        ch.state = State::Open;
        ch.cfg = cfg;
        ch.local_window = cfg.window;
        let remote = ch.remote;
        self.conn_out.push_back(
            ChannelOpenConfirmation {
                recipient: remote,
                sender: id.number,
                initial_window: cfg.window,
                max_packet: cfg.max_packet,
                data: RawTail::default(),
            }
            .into(),
        );
        Ok(id)
    }

    /// Refuses a channel the peer opened; its id is released at once.
    pub fn reject(
        &mut self,
        incoming: IncomingChannel,
        reason: ChannelOpenFailureReason,
        description: &str,
    ) -> Result<()> {
        self.check()?;
        let id = incoming.id;
        let ch = self.chan_mut(id)?;
        if ch.state != State::PendingAccept {
            return Err(Error::InvalidState(id));
        }
        let remote = ch.remote;
        self.remove_chan(id.number);
        self.conn_out.push_back(
            ChannelOpenFailure {
                recipient: remote,
                reason,
                description: Text(Bytes::copy_from_slice(description.as_bytes())),
                language: Text::default(),
            }
            .into(),
        );
        Ok(())
    }

    /// Queues data to send. Returns how many bytes were taken: fewer than `data.len()` (maybe
    /// 0) when the send buffer or the peer's window is full, in which case
    /// [`Event::Writable`] follows once more can be taken. Never blocks, never grows past
    /// the channel's `send_buffer`.
    pub fn write(&mut self, id: ChannelId, data: &[u8]) -> Result<usize> {
        self.write_inner(id, None, data)
    }

    /// Like [`Channels::write`], for extended data (`SSH_MSG_CHANNEL_EXTENDED_DATA`, e.g.
    /// [`ExtendedDataType::STDERR`]). It shares the window and send buffer with `write`, and
    /// goes out in the order written.
    pub fn write_extended(
        &mut self,
        id: ChannelId,
        data_type: ExtendedDataType,
        data: &[u8],
    ) -> Result<usize> {
        self.write_inner(id, Some(data_type), data)
    }

    fn write_inner(
        &mut self,
        id: ChannelId,
        ext: Option<ExtendedDataType>,
        data: &[u8],
    ) -> Result<usize> {
        self.check()?;
        let ch = self.chan_mut(id)?;
        if ch.state == State::PendingAccept {
            return Err(Error::InvalidState(id));
        }
        if ch.peer_close {
            return Err(Error::ClosedByPeer(id));
        }
        if ch.eof_requested || ch.close_requested {
            return Err(Error::WriteAfterEof(id));
        }
        if data.is_empty() {
            return Ok(0);
        }
        let n = ch.capacity().min(data.len());
        if let Some(taken) = data.get(..n)
            && n > 0
        {
            ch.push_out(ext, taken);
        }
        if n < data.len() {
            ch.want_writable = true;
        }
        Ok(n)
    }

    /// Takes up to `max` bytes of received data, as a zero-copy slice of the packet that
    /// carried it (`None` when nothing is buffered or the id is stale). Reading is what
    /// re-opens the window: once half of it has been read, a `WINDOW_ADJUST` is queued, so a
    /// slow reader slows the sender.
    pub fn read(&mut self, id: ChannelId, max: usize) -> Option<Bytes> {
        let ch = self.chan_mut(id).ok()?;
        ch.data_event = false;
        if max == 0 {
            return None;
        }
        let front = ch.inbox.front_mut()?;
        let out = if front.len() > max {
            front.split_to(max)
        } else {
            ch.inbox.pop_front()?
        };
        ch.credit(out.len());
        self.maybe_release(id.number);
        Some(out)
    }

    /// Like [`Channels::read`], for extended data; returns its data type too.
    pub fn read_extended(
        &mut self,
        id: ChannelId,
        max: usize,
    ) -> Option<(ExtendedDataType, Bytes)> {
        let ch = self.chan_mut(id).ok()?;
        ch.ext_event = false;
        if max == 0 {
            return None;
        }
        let (t, front) = ch.ext_inbox.front_mut()?;
        let t = *t;
        let out = if front.len() > max {
            front.split_to(max)
        } else {
            ch.ext_inbox.pop_front()?.1
        };
        ch.credit(out.len());
        self.maybe_release(id.number);
        Some((t, out))
    }

    /// Sends EOF once everything written so far has been sent. Writing afterwards fails;
    /// reading goes on. Calling it again does nothing.
    pub fn eof(&mut self, id: ChannelId) -> Result<()> {
        self.check()?;
        let ch = self.chan_mut(id)?;
        if ch.state == State::PendingAccept {
            return Err(Error::InvalidState(id));
        }
        if ch.peer_close {
            return Err(Error::ClosedByPeer(id));
        }
        ch.eof_requested = true;
        ch.want_writable = false;
        Ok(())
    }

    /// Closes the channel: what was written is still sent, then CLOSE. Data arriving
    /// afterwards, and data not yet read, are dropped. [`Event::Closed`] follows when the
    /// peer's CLOSE arrives; then the id is released. Calling it again does nothing.
    pub fn close(&mut self, id: ChannelId) -> Result<()> {
        self.check()?;
        let ch = self.chan_mut(id)?;
        if ch.state == State::PendingAccept {
            return Err(Error::InvalidState(id));
        }
        ch.close_requested = true;
        ch.want_writable = false;
        ch.inbox.clear();
        ch.ext_inbox.clear();
        ch.buffered = 0;
        self.maybe_release(id.number);
        Ok(())
    }

    /// Sends a channel request. With `want_reply`, [`Event::RequestResult`] with the
    /// returned id follows.
    pub fn request(
        &mut self,
        id: ChannelId,
        kind: ChannelRequestKind,
        want_reply: bool,
    ) -> Result<RequestId> {
        self.check()?;
        let seq = self.next_seq;
        let ch = self.chan_mut(id)?;
        if ch.state == State::PendingAccept || ch.close_requested {
            return Err(Error::InvalidState(id));
        }
        if ch.peer_close {
            return Err(Error::ClosedByPeer(id));
        }
        match kind {
            ChannelRequestKind::X11Req { .. } => self.x11_requested = true,
            ChannelRequestKind::AuthAgentReq => self.agent_requested = true,
            _ => {}
        }
        let ch = self.chan_mut(id)?;
        if want_reply {
            ch.awaiting.push_back(seq);
        }
        ch.ctl.push_back(Ctl::Request { kind, want_reply });
        self.ctl_total = self.ctl_total.saturating_add(1);
        self.next_seq = self.next_seq.wrapping_add(1);
        Ok(RequestId(seq))
    }

    /// Answers a channel request of the peer. Replies leave in the order the requests came;
    /// an answer for a channel that has closed meanwhile is dropped.
    pub fn respond(&mut self, token: RequestToken, success: bool) -> Result<()> {
        self.check()?;
        let Some(ch) = self
            .chans
            .get_mut(&token.id.number)
            .filter(|c| c.serial == token.id.serial)
        else {
            return Ok(());
        };
        if let Some(slot) = ch
            .replies
            .iter_mut()
            .find(|(s, r)| *s == token.seq && r.is_none())
        {
            slot.1 = Some(success);
        }
        ch.flush_replies(&mut self.ctl_total);
        Ok(())
    }

    /// Sends a global request. With `want_reply`, [`Event::GlobalRequestResult`] with the
    /// returned id follows.
    ///
    /// On the client, a granted `tcpip-forward` / `streamlocal-forward@openssh.com` is what
    /// lets the server open `forwarded-tcpip` / `forwarded-streamlocal@openssh.com`
    /// channels back (catalog C13); a request sent without `want_reply` counts as granted.
    pub fn global_request(
        &mut self,
        kind: GlobalRequestKind,
        want_reply: bool,
    ) -> Result<GlobalRequestId> {
        use GlobalRequestKind as K;
        self.check()?;
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        let (forward, port_zero) = match &kind {
            K::TcpipForward { port, .. } => (Forward::Tcp(*port), *port == 0),
            K::StreamlocalForward { socket_path } => {
                (Forward::Stream(socket_path.0.clone()), false)
            }
            K::CancelTcpipForward { port, .. } => {
                self.tcp_forwards.retain(|p| p != port);
                (Forward::None, false)
            }
            K::CancelStreamlocalForward { socket_path } => {
                self.stream_forwards
                    .retain(|p| p.as_ref() != socket_path.as_bytes());
                (Forward::None, false)
            }
            _ => (Forward::None, false),
        };
        if want_reply {
            self.sent_globals.push_back(SentGlobal {
                id: seq,
                forward,
                port_zero,
            });
        } else {
            match forward {
                Forward::Tcp(p) if p != 0 => self.tcp_forwards.push(p),
                Forward::Stream(path) => self.stream_forwards.push(path),
                _ => {}
            }
        }
        self.conn_out
            .push_back(GlobalRequest { want_reply, kind }.into());
        Ok(GlobalRequestId(seq))
    }

    /// Answers a global request of the peer. Replies leave in the order the requests came.
    pub fn respond_global(&mut self, token: GlobalRequestToken, reply: GlobalReply) -> Result<()> {
        self.check()?;
        if let Some(slot) = self
            .global_replies
            .iter_mut()
            .find(|(s, r)| *s == token.seq && r.is_none())
        {
            slot.1 = Some(reply);
        }
        self.flush_global_replies();
        Ok(())
    }

    // ----- output -----

    /// The next message to send, if any: connection-level messages first (opens, their
    /// answers, global requests and replies), then one message per channel in turn
    /// (round-robin), data cut to at most the peer's window and maximum packet size at this
    /// moment. After a fatal error: `None`.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Message> {
        if self.fatal.is_some() {
            return None;
        }
        if let Some(m) = self.conn_out.pop_front() {
            return Some(m);
        }
        let start = self.rr;
        let mut found = None;
        for (&number, ch) in self.chans.range_mut(start..) {
            if let Some(m) = ch.next_message(number, &mut self.events, &mut self.ctl_total) {
                found = Some((number, m));
                break;
            }
        }
        if found.is_none() {
            for (&number, ch) in self.chans.range_mut(..start) {
                if let Some(m) = ch.next_message(number, &mut self.events, &mut self.ctl_total) {
                    found = Some((number, m));
                    break;
                }
            }
        }
        let (number, m) = found?;
        self.rr = number.wrapping_add(1);
        self.maybe_release(number);
        Some(m)
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}
