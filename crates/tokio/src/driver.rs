//! The driver task: one per connection, owning the socket; the handles share the sans-IO
//! connection behind a mutex (never held across an `.await`).

use std::collections::{HashMap, VecDeque};
use std::ops::DerefMut;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Instant;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;
use whelk::{ChannelEvent, ChannelId, ChannelRequestKind, Connection, Event, GlobalReply};

/// Most bytes read from the socket per turn: several full packets (OpenSSH sends up to
/// 32 KiB of data per packet), so one turn decrypts a batch and wakes a reader once.
const READ_CHUNK: usize = 256 * 1024;
/// Size of a receive buffer: a read of [`READ_CHUNK`] plus room for the partial packet
/// moved over, so that every buffer can be reused for the next read.
const BUFFER_SIZE: usize = READ_CHUNK + 64 * 1024;
/// Reading stops while this much received input waits in the buffer (the connection holds
/// it back: a host key decision is pending); more than one largest packet.
const MAX_BUFFERED: usize = 320 * 1024;
/// Receive buffers kept for reuse besides the one being read into: enough that one of
/// them is usually free again while channel readers still hold packets of the others (the
/// default 2 MiB window spans about eight reads). Dropped once reads stay small.
const SPARE_BUFFERS: usize = 6;
/// Reads shorter than this are not bulk transfer: after [`SMALL_READS`] of them in a row
/// the spare buffers are freed.
const SMALL_READ: usize = 16 * 1024;
/// See [`SMALL_READ`].
const SMALL_READS: u32 = 16;

/// The socket is read straight into these buffers, and the connection decrypts packets in
/// place there and hands channel data out as `Bytes` views of them (no copy). A buffer
/// whose packets are still held by channel readers cannot be written again; reading goes on
/// in a spare one whose packets were all dropped, so in steady state nothing is allocated.
struct RecvBuffers {
    cur: BytesMut,
    spare: Vec<BytesMut>,
    /// Small reads in a row.
    small: u32,
}

impl RecvBuffers {
    fn new() -> Self {
        Self {
            cur: BytesMut::new(),
            spare: Vec::new(),
            small: 0,
        }
    }

    /// Counts a read of `n` bytes; frees the spare buffers once the connection is no
    /// longer moving bulk data (an idle connection keeps one buffer).
    fn read_done(&mut self, n: usize) {
        if n >= SMALL_READ {
            self.small = 0;
            return;
        }
        self.small = self.small.saturating_add(1);
        if self.small >= SMALL_READS {
            self.spare = Vec::new();
        }
    }

    /// Makes room for a read of up to [`READ_CHUNK`] bytes after what `cur` holds.
    fn make_room(&mut self) {
        let free = self.cur.capacity() - self.cur.len();
        if free >= READ_CHUNK / 4 || self.cur.try_reclaim(READ_CHUNK / 2) {
            return;
        }
        // `cur` is shared with packets not read yet: move its partial packet (if any) to a
        // buffer whose packets are all gone, or to a new one. (`try_reclaim` asks for less
        // than a buffer holds, so any buffer of ours qualifies once it is free.)
        let need = READ_CHUNK / 2 + self.cur.len();
        let mut next = match self.spare.iter_mut().position(|b| b.try_reclaim(need)) {
            Some(i) => self.spare.swap_remove(i),
            None => BytesMut::with_capacity(need.max(BUFFER_SIZE)),
        };
        next.extend_from_slice(&self.cur);
        let mut old = std::mem::replace(&mut self.cur, next);
        old.clear();
        if self.spare.len() < SPARE_BUFFERS {
            self.spare.push(old);
        }
    }
}

/// What the handles know about one channel.
#[derive(Debug, Default)]
pub(crate) struct Chan {
    /// `Some(Ok)` once confirmed, `Some(Err)` if refused.
    pub(crate) open: Option<Result<(), String>>,
    pub(crate) eof: bool,
    pub(crate) closed: bool,
    /// The peer itself sent EOF or CLOSE (not just the connection ending).
    pub(crate) peer_eof: bool,
    pub(crate) exit_status: Option<u32>,
    pub(crate) exit_signal: Option<String>,
    /// Replies to our want-reply requests, in order.
    pub(crate) results: VecDeque<bool>,
    pub(crate) read_waker: Option<Waker>,
    pub(crate) err_waker: Option<Waker>,
    pub(crate) write_waker: Option<Waker>,
}

impl Chan {
    fn wake_all(&mut self) {
        for w in [
            self.read_waker.take(),
            self.err_waker.take(),
            self.write_waker.take(),
        ]
        .into_iter()
        .flatten()
        {
            w.wake();
        }
    }
}

/// The state the driver and the handles share.
pub(crate) struct Inner<C> {
    pub(crate) conn: C,
    pub(crate) chans: HashMap<ChannelId, Chan>,
    /// Why the connection ended, once it did.
    pub(crate) done: Option<String>,
    pub(crate) authenticated: bool,
    /// Answers to our global requests: (request, success, bound port).
    pub(crate) global_results: Vec<(whelk::GlobalRequestId, bool, Option<u32>)>,
}

impl<C: DerefMut<Target = Connection>> Inner<C> {
    pub(crate) fn chan(&mut self, id: ChannelId) -> &mut Chan {
        self.chans.entry(id).or_default()
    }

    pub(crate) fn finish(&mut self, why: String) {
        if self.done.is_none() {
            self.done = Some(why);
        }
        for c in self.chans.values_mut() {
            c.closed = true;
            c.eof = true;
            c.wake_all();
        }
    }
}

/// Shared between the driver task and the handles.
pub(crate) struct Shared<C> {
    pub(crate) inner: Mutex<Inner<C>>,
    /// Wakes the driver (something to send, a window to re-open).
    pub(crate) wake: Notify,
    /// Wakes handles waiting for a state change.
    pub(crate) changed: Notify,
}

impl<C> Shared<C> {
    pub(crate) fn new(conn: C) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(Inner {
                conn,
                chans: HashMap::new(),
                done: None,
                authenticated: false,
                global_results: Vec::new(),
            }),
            wake: Notify::new(),
            changed: Notify::new(),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner<C>> {
        // A panic while holding the lock leaves the state usable: take it anyway.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What a role does with the events the common code does not handle.
pub(crate) trait Hooks<C>: Send + 'static {
    /// A non-channel event, or a channel open/request the role decides.
    fn event(&mut self, shared: &Arc<Shared<C>>, inner: &mut Inner<C>, event: Event);

    /// A global request of the peer. Returns the token if it is still unanswered: the
    /// common code then refuses it (the default for roles that take none).
    fn global_request(
        &mut self,
        _shared: &Arc<Shared<C>>,
        _inner: &mut Inner<C>,
        _kind: whelk::GlobalRequestKind,
        token: Option<whelk::GlobalRequestToken>,
    ) -> Option<whelk::GlobalRequestToken> {
        token
    }
}

/// Drains the connection's events: channel bookkeeping here, the rest to the role.
pub(crate) fn process<C, H>(shared: &Arc<Shared<C>>, inner: &mut Inner<C>, hooks: &mut H)
where
    C: DerefMut<Target = Connection>,
    H: Hooks<C>,
{
    let mut any = false;
    while let Some(ev) = inner.conn.poll_event() {
        any = true;
        match ev {
            Event::Channel(ce) => match ce {
                ChannelEvent::OpenConfirmed { id } => inner.chan(id).open = Some(Ok(())),
                ChannelEvent::OpenFailed {
                    id, description, ..
                } => {
                    let c = inner.chan(id);
                    c.open = Some(Err(description.to_string()));
                    c.closed = true;
                }
                ChannelEvent::Data { id } => {
                    if let Some(w) = inner.chan(id).read_waker.take() {
                        w.wake();
                    }
                }
                ChannelEvent::ExtendedData { id } => {
                    if let Some(w) = inner.chan(id).err_waker.take() {
                        w.wake();
                    }
                }
                ChannelEvent::Eof { id } => {
                    let c = inner.chan(id);
                    c.eof = true;
                    c.peer_eof = true;
                    c.wake_all();
                }
                ChannelEvent::Closed { id } => {
                    let c = inner.chan(id);
                    c.eof = true;
                    c.peer_eof = true;
                    c.closed = true;
                    c.wake_all();
                }
                ChannelEvent::Writable { id } => {
                    if let Some(w) = inner.chan(id).write_waker.take() {
                        w.wake();
                    }
                }
                ChannelEvent::RequestResult { id, success, .. } => {
                    inner.chan(id).results.push_back(success);
                }
                ChannelEvent::Request {
                    id,
                    kind: ChannelRequestKind::ExitStatus { status },
                    ..
                } => inner.chan(id).exit_status = Some(status),
                ChannelEvent::Request {
                    id,
                    kind: ChannelRequestKind::ExitSignal { signal, .. },
                    ..
                } => inner.chan(id).exit_signal = Some(signal.to_string()),
                ChannelEvent::GlobalRequestResult {
                    request,
                    success,
                    bound_port,
                    ..
                } => inner.global_results.push((request, success, bound_port)),
                ChannelEvent::GlobalRequest { kind, token } => {
                    if let Some(token) = hooks.global_request(shared, inner, kind, token) {
                        let _ = inner.conn.respond_global(token, GlobalReply::Failure);
                    }
                }
                other => hooks.event(shared, inner, Event::Channel(other)),
            },
            Event::Disconnected { description, .. } => inner.finish(description),
            Event::Authenticated { .. } => {
                inner.authenticated = true;
                hooks.event(shared, inner, ev);
            }
            other => hooks.event(shared, inner, other),
        }
    }
    if any {
        shared.changed.notify_waiters();
    }
}

/// Runs the connection over `stream` (a socket, a proxy command's pipes, a channel of
/// another connection) until it ends.
pub(crate) async fn drive<C, H, S>(shared: Arc<Shared<C>>, stream: S, mut hooks: H)
where
    C: DerefMut<Target = Connection> + Send + 'static,
    H: Hooks<C>,
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut rx = RecvBuffers::new();
    let mut out = BytesMut::new();
    loop {
        let (deadline, finished) = {
            let mut g = shared.lock();
            let now = Instant::now();
            if !rx.cur.is_empty() && g.conn.handle_input_buf(now, &mut rx.cur).is_err() {
                rx.cur.clear();
            }
            process(&shared, &mut g, &mut hooks);
            let _ = g.conn.poll_transmit(now, &mut out);
            process(&shared, &mut g, &mut hooks);
            let finished = g.conn.is_closed();
            if finished {
                let why = g
                    .conn
                    .error()
                    .map_or_else(|| "connection closed".to_string(), ToString::to_string);
                g.finish(why);
            }
            (g.conn.poll_timeout(), finished)
        };
        if !out.is_empty() {
            if wr.write_all(&out).await.is_err() {
                break;
            }
            out.clear();
            continue;
        }
        if finished {
            break;
        }
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                None => std::future::pending().await,
            }
        };
        // Input the connection holds back stays in the buffer; past a packet's worth,
        // reading waits until it is taken (after a decision or polled events).
        let room = rx.cur.len() < MAX_BUFFERED;
        if room {
            rx.make_room();
        }
        tokio::select! {
            r = rd.read_buf(&mut rx.cur), if room => {
                // The bytes are handed to the connection at the top of the loop.
                if let Ok(n @ 1..) = r {
                    rx.read_done(n);
                } else {
                    let mut g = shared.lock();
                    let _ = g.conn.handle_eof();
                    process(&shared, &mut g, &mut hooks);
                    g.finish("connection closed by peer".to_string());
                    break;
                }
            }
            () = shared.wake.notified() => {}
            () = sleep => {
                shared.lock().conn.handle_timeout(Instant::now());
            }
        }
    }
    let _ = wr.shutdown().await;
    let mut g = shared.lock();
    process(&shared, &mut g, &mut hooks);
    g.finish("connection closed".to_string());
    drop(g);
    shared.changed.notify_waiters();
}
