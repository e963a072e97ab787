//! The client state machine: sends INIT, negotiates the version, numbers requests and matches
//! every reply to its request.
//!
//! Call order: [`Client::send`] any number of requests (they are held until VERSION has
//! arrived), [`Client::poll_transmit`] to collect bytes for the server, feed what the server
//! sends to [`Client::handle_input`], then drain [`Client::poll_event`]. Any number of requests
//! may be outstanding; replies may come in any order. A reply with an unknown id, a reply of
//! the wrong kind for its request, `DATA` longer than requested, or a malformed packet is a
//! fatal [`Error`]: it is latched and returned by every later call.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use bytes::Bytes;
use whelk_wire::types::Text;

use crate::codec::{
    self, Attrs, DEFAULT_MAX_PACKET, Deframer, Handle, Limits, Name, Packet, ReplyKind, Request,
    Response, SFTP_VERSION, Status, Statvfs, UsersGroups,
};
use crate::error::{Error, Result};

/// Client settings.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The longest packet accepted from the server.
    pub max_packet: u32,
    /// The longest packet sent to the server (lowered by a `limits@openssh.com` reply).
    pub max_send_packet: u32,
    /// Extension pairs sent in INIT (OpenSSH sends none).
    pub init_extensions: Vec<(Text, Bytes)>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            max_packet: DEFAULT_MAX_PACKET,
            max_send_packet: DEFAULT_MAX_PACKET,
            init_extensions: Vec::new(),
        }
    }
}

/// A reply, decoded according to the request it answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `STATUS`.
    Status(Status),
    /// `HANDLE`.
    Handle(Handle),
    /// `DATA` (a view of the received packet).
    Data(Bytes),
    /// `NAME`.
    Name(Vec<Name>),
    /// `ATTRS`.
    Attrs(Attrs),
    /// `EXTENDED_REPLY` to statvfs / fstatvfs.
    Statvfs(Statvfs),
    /// `EXTENDED_REPLY` to `limits@openssh.com`.
    Limits(Limits),
    /// `EXTENDED_REPLY` to `users-groups-by-id@openssh.com`.
    UsersGroups(UsersGroups),
    /// `EXTENDED_REPLY` to an extension this crate does not know.
    Extended(Bytes),
}

/// What the client reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The server's VERSION arrived: the session is ready.
    Version {
        /// The negotiated version.
        version: u32,
        /// The server's extensions (name, data).
        extensions: Vec<(Text, Bytes)>,
    },
    /// The reply to request `id`.
    Reply {
        /// The id [`Client::send`] returned.
        id: u32,
        /// The reply.
        reply: Reply,
    },
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    kind: ReplyKind,
    read_len: Option<u32>,
}

/// The SFTP client state machine.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    deframer: Deframer,
    out: Vec<u8>,
    held: Vec<u8>,
    version: Option<u32>,
    extensions: Vec<(Text, Bytes)>,
    limits: Option<Limits>,
    pending: BTreeMap<u32, Pending>,
    events: VecDeque<Event>,
    next_id: u32,
    error: Option<Error>,
}

impl Client {
    /// A client that has queued INIT for version 3.
    #[must_use]
    pub fn new(config: ClientConfig) -> Self {
        let init = Packet::Init {
            version: SFTP_VERSION,
            extensions: config.init_extensions.clone(),
        };
        Self {
            deframer: Deframer::new(config.max_packet),
            out: init.to_vec(),
            held: Vec::new(),
            version: None,
            extensions: Vec::new(),
            limits: None,
            pending: BTreeMap::new(),
            events: VecDeque::new(),
            next_id: 0,
            error: None,
            config,
        }
    }

    // ----- getters -----

    /// The negotiated version, once VERSION has arrived.
    #[must_use]
    pub fn version(&self) -> Option<u32> {
        self.version
    }

    /// The server's extensions (name, data), once VERSION has arrived.
    #[must_use]
    pub fn extensions(&self) -> &[(Text, Bytes)] {
        &self.extensions
    }

    /// The data the server advertised for extension `name` (its version, e.g. `"2"` for
    /// `statvfs@openssh.com`), if it advertised it.
    #[must_use]
    pub fn extension(&self, name: &str) -> Option<&Bytes> {
        self.extensions
            .iter()
            .find(|(n, _)| n.as_bytes() == name.as_bytes())
            .map(|(_, d)| d)
    }

    /// Whether the server advertised extension `name`.
    #[must_use]
    pub fn supports(&self, name: &str) -> bool {
        self.extension(name).is_some()
    }

    /// The server's `limits@openssh.com` values, once a limits reply has arrived.
    #[must_use]
    pub fn limits(&self) -> Option<Limits> {
        self.limits
    }

    /// The longest READ length worth asking for: the server's `max_read_len` when known,
    /// else 32 KiB (the draft's minimum every server must handle).
    #[must_use]
    pub fn max_read_len(&self) -> u32 {
        match self.limits {
            Some(l) if l.max_read_len > 0 => u32::try_from(l.max_read_len).unwrap_or(u32::MAX),
            _ => 32 * 1024,
        }
    }

    /// How many requests await their reply.
    #[must_use]
    pub fn outstanding(&self) -> usize {
        self.pending.len()
    }

    /// The fatal error, if one happened.
    #[must_use]
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    // ----- commands -----

    /// Queues `request` and returns its id. Before VERSION has arrived the request is held
    /// (and sent right after). A request that would exceed the server's packet limit is
    /// refused.
    pub fn send(&mut self, request: Request) -> Result<u32> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let mut id = self.next_id;
        while self.pending.contains_key(&id) {
            id = id.wrapping_add(1);
        }
        let kind = request.reply_kind();
        let read_len = match &request {
            Request::Read { len, .. } => Some(*len),
            _ => None,
        };
        let packet = Packet::Request { id, request };
        let target = if self.version.is_some() {
            &mut self.out
        } else {
            &mut self.held
        };
        packet.encode(target, self.config.max_send_packet)?;
        self.pending.insert(id, Pending { kind, read_len });
        self.next_id = id.wrapping_add(1);
        Ok(id)
    }

    /// Feeds bytes from the server. Consumes all of `input` unless an error happens.
    pub fn handle_input(&mut self, input: &[u8]) -> Result<usize> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let mut consumed = 0;
        while consumed < input.len() {
            let rest = input.get(consumed..).unwrap_or_default();
            let n = self.deframer.push(rest).map_err(|e| self.fail(e))?;
            consumed += n;
            while let Some(p) = self.deframer.next_packet().map_err(|e| self.fail(e))? {
                self.on_packet(&p).map_err(|e| self.fail(e))?;
            }
            if n == 0 {
                break;
            }
        }
        Ok(consumed)
    }

    /// Appends bytes for the server to `out`; returns how many.
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        let n = self.out.len();
        out.append(&mut self.out);
        n
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn fail(&mut self, e: Error) -> Error {
        if self.error.is_none() {
            self.error = Some(e.clone());
        }
        e
    }

    fn on_packet(&mut self, p: &Bytes) -> Result<()> {
        let t = p.first().copied().unwrap_or_default();
        if self.version.is_none() && t != codec::packet_type::VERSION {
            return Err(Error::NotNegotiated(t));
        }
        match Packet::decode(p)? {
            Packet::Version {
                version,
                extensions,
            } => {
                if self.version.is_some() {
                    return Err(Error::DuplicateVersion);
                }
                if version != SFTP_VERSION {
                    return Err(Error::UnsupportedVersion(version));
                }
                self.version = Some(version);
                self.extensions.clone_from(&extensions);
                self.out.append(&mut self.held);
                self.events.push_back(Event::Version {
                    version,
                    extensions,
                });
                Ok(())
            }
            Packet::Response { id, response } => self.on_response(id, response),
            other => Err(Error::UnexpectedPacket(other.packet_type())),
        }
    }

    fn on_response(&mut self, id: u32, response: Response) -> Result<()> {
        let pending = *self.pending.get(&id).ok_or(Error::UnknownId(id))?;
        let t = response.packet_type();
        if !pending.kind.accepts(t) {
            return Err(Error::WrongReply {
                id,
                expected: pending.kind.describe(),
                got: t,
            });
        }
        let reply = match response {
            Response::Status(s) => Reply::Status(s),
            Response::Handle(h) => Reply::Handle(h),
            Response::Data(d) => {
                let asked = pending.read_len.unwrap_or(0);
                if d.len() > usize::try_from(asked).unwrap_or(usize::MAX) {
                    return Err(Error::WrongReply {
                        id,
                        expected: "DATA no longer than requested",
                        got: t,
                    });
                }
                Reply::Data(d)
            }
            Response::Name(n) => Reply::Name(n),
            Response::Attrs(a) => Reply::Attrs(a),
            Response::ExtendedReply(b) => match pending.kind {
                ReplyKind::Statvfs => Reply::Statvfs(Statvfs::decode(&b)?),
                ReplyKind::Limits => {
                    let l = Limits::decode(&b)?;
                    self.limits = Some(l);
                    if l.max_packet_len > 0 {
                        let cap = u32::try_from(l.max_packet_len).unwrap_or(u32::MAX);
                        self.config.max_send_packet = self.config.max_send_packet.min(cap);
                    }
                    Reply::Limits(l)
                }
                ReplyKind::UsersGroups => Reply::UsersGroups(UsersGroups::decode(&b)?),
                _ => Reply::Extended(b),
            },
        };
        self.pending.remove(&id);
        self.events.push_back(Event::Reply { id, reply });
        Ok(())
    }
}
