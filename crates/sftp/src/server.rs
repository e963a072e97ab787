//! The server state machine and the [`Filesystem`] backend trait.
//!
//! Call order: feed the client's bytes to [`Server::handle_input`] (it returns how many it
//! consumed: it stops taking input while [`ServerConfig::max_outstanding`] requests await
//! their reply, which is the back-pressure), drain [`Server::poll_event`] and answer each
//! [`Event::Request`] with [`Server::reply`] (now or later, in any order), and collect the
//! bytes for the client with [`Server::poll_transmit`].
//!
//! The state machine enforces the protocol and the limits itself, before a backend sees a
//! request: INIT must come first and only once; packets longer than
//! [`ServerConfig::max_packet`] end the session (OpenSSH `SFTP_MAX_MSG_LENGTH`); a malformed
//! request, an over-long handle or a WRITE above [`ServerConfig::max_write`] is answered with
//! `BAD_MESSAGE`; READ lengths are clamped to [`ServerConfig::max_read`]; OPEN/OPENDIR
//! beyond [`ServerConfig::max_handles`] open handles get `FAILURE`; in read-only mode every
//! modifying request gets `PERMISSION_DENIED`; `limits@openssh.com` is answered here and
//! unknown extensions get `OP_UNSUPPORTED`.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use bytes::Bytes;
use whelk_wire::types::Text;

use crate::codec::{
    self, Attrs, DEFAULT_MAX_PACKET, DEFAULT_MAX_READ, Deframer, ExtendedRequest, Handle, Limits,
    Name, OpenFlags, Packet, ReplyKind, Request, Response, SFTP_VERSION, Status, StatusCode,
    Statvfs, UsersGroups, packet_type,
};
use crate::error::{Error, Result};

/// Server settings and limits.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The longest packet accepted (default 256 KiB, OpenSSH `SFTP_MAX_MSG_LENGTH`).
    pub max_packet: u32,
    /// READ lengths are clamped to this (default 255 KiB, OpenSSH `SFTP_MAX_READ_LENGTH`).
    pub max_read: u32,
    /// WRITE data longer than this is refused with `BAD_MESSAGE` (default 255 KiB).
    pub max_write: u32,
    /// How many handles may be open at once (default 256, libssh `SFTP_HANDLES`). OPEN and
    /// OPENDIR requests still awaiting their reply count too, so a client that pipelines opens
    /// near the limit may see `FAILURE` for one that would have fitted once a pending one
    /// failed.
    pub max_handles: u32,
    /// How many requests may await their reply before input is no longer consumed.
    pub max_outstanding: usize,
    /// Refuse every modifying request with `PERMISSION_DENIED` (catalog F12).
    pub read_only: bool,
    /// Extensions advertised in VERSION (name, version); the default is OpenSSH's set.
    pub extensions: Vec<(Text, Bytes)>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_packet: DEFAULT_MAX_PACKET,
            max_read: DEFAULT_MAX_READ,
            max_write: DEFAULT_MAX_READ,
            max_handles: 256,
            max_outstanding: 64,
            read_only: false,
            extensions: codec::ext::ADVERTISED
                .iter()
                .map(|(n, v)| (Text::from(*n), Bytes::from_static(v.as_bytes())))
                .collect(),
        }
    }
}

/// What the server reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// INIT arrived and VERSION was queued.
    Initialized {
        /// The negotiated version.
        version: u32,
        /// The client's INIT extensions.
        extensions: Vec<(Text, Bytes)>,
    },
    /// A request for the backend; answer it with [`Server::reply`].
    Request {
        /// The request id.
        id: u32,
        /// The request (READ lengths already clamped).
        request: Request,
    },
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    kind: ReplyKind,
    opens_handle: bool,
    closes_handle: bool,
    read_len: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitInit,
    Ready(u32),
}

/// The SFTP server state machine.
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    state: State,
    deframer: Deframer,
    out: Vec<u8>,
    pending: BTreeMap<u32, Pending>,
    events: VecDeque<Event>,
    /// Open handles plus OPEN/OPENDIR requests that may still produce one.
    handles: u32,
    error: Option<Error>,
}

impl Server {
    /// A server waiting for INIT.
    #[must_use]
    pub fn new(config: ServerConfig) -> Self {
        Self {
            deframer: Deframer::new(config.max_packet),
            config,
            state: State::AwaitInit,
            out: Vec::new(),
            pending: BTreeMap::new(),
            events: VecDeque::new(),
            handles: 0,
            error: None,
        }
    }

    // ----- getters -----

    /// The negotiated version, once INIT has arrived.
    #[must_use]
    pub fn version(&self) -> Option<u32> {
        match self.state {
            State::Ready(v) => Some(v),
            State::AwaitInit => None,
        }
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Open handles, counting OPEN/OPENDIR requests not answered yet.
    #[must_use]
    pub fn open_handles(&self) -> u32 {
        self.handles
    }

    /// Requests awaiting their reply.
    #[must_use]
    pub fn outstanding(&self) -> usize {
        self.pending.len()
    }

    /// The fatal error, if one happened. The adapter closes the channel.
    #[must_use]
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// The limits this server reports in `limits@openssh.com`.
    #[must_use]
    pub fn limits(&self) -> Limits {
        Limits {
            max_packet_len: u64::from(self.config.max_packet),
            max_read_len: u64::from(self.config.max_read),
            max_write_len: u64::from(self.config.max_write),
            max_open_handles: u64::from(self.config.max_handles),
        }
    }

    // ----- input -----

    /// Feeds bytes from the client and returns how many were consumed: all of them, unless
    /// [`ServerConfig::max_outstanding`] requests await replies (call again with the rest
    /// after replying) or a fatal error happens.
    pub fn handle_input(&mut self, input: &[u8]) -> Result<usize> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let mut consumed = 0;
        while consumed < input.len() && self.pending.len() < self.config.max_outstanding {
            let rest = input.get(consumed..).unwrap_or_default();
            let n = self.deframer.push(rest).map_err(|e| self.fail(e))?;
            consumed += n;
            if let Some(p) = self.deframer.next_packet().map_err(|e| self.fail(e))? {
                self.on_packet(&p).map_err(|e| self.fail(e))?;
            }
            if n == 0 {
                break;
            }
        }
        Ok(consumed)
    }

    /// Appends bytes for the client to `out`; returns how many.
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

    // ----- commands -----

    /// Answers request `id`. The response must be `STATUS` or the kind the request expects
    /// (`HANDLE` for OPEN, `DATA` for READ, ...); DATA longer than the (clamped) READ length
    /// is cut. A response too long for one packet is replaced by `FAILURE`.
    pub fn reply(&mut self, id: u32, response: Response) -> Result<()> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let pending = *self.pending.get(&id).ok_or(Error::ApiUnknownId(id))?;
        let t = response.packet_type();
        if !pending.kind.accepts(t) {
            return Err(Error::ApiWrongReply {
                id,
                expected: pending.kind.describe(),
                got: t,
            });
        }
        self.pending.remove(&id);
        let response = match response {
            Response::Data(d) => {
                let max = usize::try_from(pending.read_len).unwrap_or(usize::MAX);
                Response::Data(if d.len() > max { d.slice(..max) } else { d })
            }
            other => other,
        };
        if pending.opens_handle && t != packet_type::HANDLE {
            self.handles = self.handles.saturating_sub(1);
        }
        if pending.closes_handle
            && matches!(&response, Response::Status(s) if s.code == StatusCode::OK)
        {
            self.handles = self.handles.saturating_sub(1);
        }
        self.send(id, response);
        Ok(())
    }

    /// Answers every queued request with `fs` synchronously and returns how many; other
    /// events are left in place.
    pub fn answer_all<F: Filesystem + ?Sized>(&mut self, fs: &mut F) -> Result<usize> {
        let mut n = 0;
        let mut keep = VecDeque::new();
        while let Some(ev) = self.events.pop_front() {
            match ev {
                Event::Request { id, request } => {
                    let response = dispatch(fs, &request);
                    self.reply(id, response)?;
                    n += 1;
                }
                other => keep.push_back(other),
            }
        }
        self.events = keep;
        Ok(n)
    }

    fn fail(&mut self, e: Error) -> Error {
        if self.error.is_none() {
            self.error = Some(e.clone());
        }
        e
    }

    fn send(&mut self, id: u32, response: Response) {
        let packet = Packet::Response { id, response };
        if packet
            .encode(&mut self.out, self.config.max_packet)
            .is_err()
        {
            let fallback = Packet::Response {
                id,
                response: Status::new(StatusCode::FAILURE, "reply too large").into(),
            };
            let _ = fallback.encode(&mut self.out, u32::MAX);
        }
    }

    fn status(&mut self, id: u32, code: StatusCode, message: &'static str) {
        self.send(id, Status::new(code, message).into());
    }

    fn on_packet(&mut self, p: &Bytes) -> Result<()> {
        let t = p.first().copied().ok_or(Error::EmptyPacket)?;
        match (self.state, t) {
            (State::AwaitInit, packet_type::INIT) => return self.on_init(p),
            (State::AwaitInit, other) => return Err(Error::NotNegotiated(other)),
            (State::Ready(_), packet_type::INIT) => return Err(Error::DuplicateVersion),
            (State::Ready(_), _) => {}
        }
        let id = match p.get(1..5).and_then(|b| <[u8; 4]>::try_from(b).ok()) {
            Some(b) => u32::from_be_bytes(b),
            // A packet too short for an id cannot be answered.
            None => {
                return Err(Error::Wire(whelk_wire::Error::Truncated {
                    what: "SFTP request id",
                }));
            }
        };
        if self.pending.contains_key(&id) {
            return Err(Error::DuplicateId(id));
        }
        if !packet_type::is_request(t) {
            self.status(id, StatusCode::OP_UNSUPPORTED, "Operation unsupported");
            return Ok(());
        }
        let request = match Packet::decode(p) {
            Ok(Packet::Request { request, .. }) => request,
            Ok(_) => {
                self.status(id, StatusCode::BAD_MESSAGE, "Bad message");
                return Ok(());
            }
            Err(e) => {
                let msg = alloc::format!("Bad message: {e}");
                self.send(id, Status::new(e.status_code(), msg).into());
                return Ok(());
            }
        };
        self.on_request(id, request);
        Ok(())
    }

    fn on_init(&mut self, p: &Bytes) -> Result<()> {
        let Packet::Init {
            version,
            extensions,
        } = Packet::decode(p)?
        else {
            return Err(Error::UnexpectedPacket(packet_type::INIT));
        };
        if version < SFTP_VERSION {
            return Err(Error::UnsupportedVersion(version));
        }
        // Versions 4-6 would be negotiated here; this crate speaks 3.
        let negotiated = version.min(SFTP_VERSION);
        self.state = State::Ready(negotiated);
        let reply = Packet::Version {
            version: negotiated,
            extensions: self.config.extensions.clone(),
        };
        reply.encode(&mut self.out, u32::MAX)?;
        self.events.push_back(Event::Initialized {
            version: negotiated,
            extensions,
        });
        Ok(())
    }

    fn on_request(&mut self, id: u32, mut request: Request) {
        if self.config.read_only && request.is_write() {
            self.status(id, StatusCode::PERMISSION_DENIED, "Read-only session");
            return;
        }
        let mut read_len = 0;
        match &mut request {
            Request::Read { len, .. } => {
                *len = (*len).min(self.config.max_read);
                read_len = *len;
            }
            Request::Write { data, .. }
                if data.len() > usize::try_from(self.config.max_write).unwrap_or(usize::MAX) =>
            {
                self.status(id, StatusCode::BAD_MESSAGE, "WRITE longer than the limit");
                return;
            }
            Request::Extended(ExtendedRequest::Limits) => {
                let body = self.limits().encode();
                self.send(id, Response::ExtendedReply(body));
                return;
            }
            Request::Extended(ExtendedRequest::Other { .. }) => {
                self.status(id, StatusCode::OP_UNSUPPORTED, "Unsupported extension");
                return;
            }
            _ => {}
        }
        let opens_handle = matches!(request, Request::Open { .. } | Request::Opendir { .. });
        if opens_handle {
            if self.handles >= self.config.max_handles {
                self.status(id, StatusCode::FAILURE, "Too many open handles");
                return;
            }
            self.handles += 1;
        }
        self.pending.insert(
            id,
            Pending {
                kind: request.reply_kind(),
                opens_handle,
                closes_handle: matches!(request, Request::Close { .. }),
                read_len,
            },
        );
        self.events.push_back(Event::Request { id, request });
    }
}

/// The result of a backend operation: the value, or the status to report.
pub type FsResult<T> = core::result::Result<T, Status>;

fn unsupported<T>() -> FsResult<T> {
    Err(StatusCode::OP_UNSUPPORTED.into())
}

/// A file-system backend, called synchronously by [`dispatch`] (and [`Server::answer_all`]).
///
/// An asynchronous backend does not need this trait: it takes [`Event::Request`]s from the
/// server and answers them with [`Server::reply`] whenever it is ready. The extension
/// methods default to `OP_UNSUPPORTED`.
#[allow(missing_docs)] // One method per request, named after it.
pub trait Filesystem {
    fn open(&mut self, filename: &Text, flags: OpenFlags, attrs: &Attrs) -> FsResult<Handle>;
    fn close(&mut self, handle: &Handle) -> FsResult<()>;
    fn read(&mut self, handle: &Handle, offset: u64, len: u32) -> FsResult<Bytes>;
    fn write(&mut self, handle: &Handle, offset: u64, data: &[u8]) -> FsResult<()>;
    fn lstat(&mut self, path: &Text) -> FsResult<Attrs>;
    fn fstat(&mut self, handle: &Handle) -> FsResult<Attrs>;
    fn setstat(&mut self, path: &Text, attrs: &Attrs) -> FsResult<()>;
    fn fsetstat(&mut self, handle: &Handle, attrs: &Attrs) -> FsResult<()>;
    fn opendir(&mut self, path: &Text) -> FsResult<Handle>;
    /// The next batch of entries; `EOF` status at the end.
    fn readdir(&mut self, handle: &Handle) -> FsResult<Vec<Name>>;
    fn remove(&mut self, filename: &Text) -> FsResult<()>;
    fn mkdir(&mut self, path: &Text, attrs: &Attrs) -> FsResult<()>;
    fn rmdir(&mut self, path: &Text) -> FsResult<()>;
    /// The canonical absolute path (as the client sees it).
    fn realpath(&mut self, path: &Text) -> FsResult<Text>;
    fn stat(&mut self, path: &Text) -> FsResult<Attrs>;
    /// RENAME (`posix == false`: fail if `newpath` exists) or `posix-rename@openssh.com`.
    fn rename(&mut self, oldpath: &Text, newpath: &Text, posix: bool) -> FsResult<()>;
    fn readlink(&mut self, path: &Text) -> FsResult<Text>;
    fn symlink(&mut self, link: &Text, target: &Text) -> FsResult<()>;

    fn statvfs(&mut self, _path: &Text) -> FsResult<Statvfs> {
        unsupported()
    }
    fn fstatvfs(&mut self, _handle: &Handle) -> FsResult<Statvfs> {
        unsupported()
    }
    fn hardlink(&mut self, _oldpath: &Text, _newpath: &Text) -> FsResult<()> {
        unsupported()
    }
    fn fsync(&mut self, _handle: &Handle) -> FsResult<()> {
        unsupported()
    }
    fn lsetstat(&mut self, _path: &Text, _attrs: &Attrs) -> FsResult<()> {
        unsupported()
    }
    fn expand_path(&mut self, _path: &Text) -> FsResult<Text> {
        unsupported()
    }
    fn copy_data(
        &mut self,
        _read: &Handle,
        _read_offset: u64,
        _read_len: u64,
        _write: &Handle,
        _write_offset: u64,
    ) -> FsResult<()> {
        unsupported()
    }
    fn home_directory(&mut self, _username: &Text) -> FsResult<Text> {
        unsupported()
    }
    fn users_groups_by_id(&mut self, _uids: &[u32], _gids: &[u32]) -> FsResult<UsersGroups> {
        unsupported()
    }
}

fn done(r: FsResult<()>) -> Response {
    Response::Status(r.map_or_else(|s| s, |()| Status::ok()))
}

fn path_name(r: FsResult<Text>) -> Response {
    match r {
        Ok(p) => Response::Name(alloc::vec![Name {
            filename: p.clone(),
            longname: p,
            attrs: Attrs::default(),
        }]),
        Err(s) => Response::Status(s),
    }
}

fn or_status<T>(r: FsResult<T>, f: impl FnOnce(T) -> Response) -> Response {
    r.map_or_else(Response::Status, f)
}

/// Runs `request` against `fs` and builds the response.
pub fn dispatch<F: Filesystem + ?Sized>(fs: &mut F, request: &Request) -> Response {
    use ExtendedRequest as E;
    match request {
        Request::Open {
            filename,
            pflags,
            attrs,
        } => or_status(fs.open(filename, *pflags, attrs), Response::Handle),
        Request::Close { handle } => done(fs.close(handle)),
        Request::Read {
            handle,
            offset,
            len,
        } => or_status(fs.read(handle, *offset, *len), Response::Data),
        Request::Write {
            handle,
            offset,
            data,
        } => done(fs.write(handle, *offset, data)),
        Request::Lstat { path } => or_status(fs.lstat(path), Response::Attrs),
        Request::Fstat { handle } => or_status(fs.fstat(handle), Response::Attrs),
        Request::Setstat { path, attrs } => done(fs.setstat(path, attrs)),
        Request::Fsetstat { handle, attrs } => done(fs.fsetstat(handle, attrs)),
        Request::Opendir { path } => or_status(fs.opendir(path), Response::Handle),
        Request::Readdir { handle } => or_status(fs.readdir(handle), Response::Name),
        Request::Remove { filename } => done(fs.remove(filename)),
        Request::Mkdir { path, attrs } => done(fs.mkdir(path, attrs)),
        Request::Rmdir { path } => done(fs.rmdir(path)),
        Request::Realpath { path } => path_name(fs.realpath(path)),
        Request::Stat { path } => or_status(fs.stat(path), Response::Attrs),
        Request::Rename { oldpath, newpath } => done(fs.rename(oldpath, newpath, false)),
        Request::Readlink { path } => path_name(fs.readlink(path)),
        Request::Symlink { link, target } => done(fs.symlink(link, target)),
        Request::Extended(e) => match e {
            E::PosixRename { oldpath, newpath } => done(fs.rename(oldpath, newpath, true)),
            E::Statvfs { path } => {
                or_status(fs.statvfs(path), |v| Response::ExtendedReply(v.encode()))
            }
            E::Fstatvfs { handle } => {
                or_status(fs.fstatvfs(handle), |v| Response::ExtendedReply(v.encode()))
            }
            E::Hardlink { oldpath, newpath } => done(fs.hardlink(oldpath, newpath)),
            E::Fsync { handle } => done(fs.fsync(handle)),
            E::Lsetstat { path, attrs } => done(fs.lsetstat(path, attrs)),
            E::ExpandPath { path } => path_name(fs.expand_path(path)),
            E::CopyData {
                read_handle,
                read_offset,
                read_len,
                write_handle,
                write_offset,
            } => done(fs.copy_data(
                read_handle,
                *read_offset,
                *read_len,
                write_handle,
                *write_offset,
            )),
            E::HomeDirectory { username } => path_name(fs.home_directory(username)),
            E::UsersGroupsById { uids, gids } => {
                or_status(fs.users_groups_by_id(uids, gids), |v| {
                    Response::ExtendedReply(v.encode())
                })
            }
            E::Limits | E::Other { .. } => StatusCode::OP_UNSUPPORTED.into(),
        },
    }
}
