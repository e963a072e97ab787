//! The driver: two threads per connection around one sans-IO connection kept behind a
//! mutex shared with the handles.
//!
//! - The **writer** thread owns the sending half of the socket and the timers. It takes
//!   what [`whelk::Connection::poll_transmit`] has ready (only when its own buffer is
//!   empty, so the core builds packets lazily), writes it without holding the lock, and
//!   otherwise sleeps on a condition variable with a timeout taken from
//!   [`whelk::Connection::poll_timeout`]. Handles notify it after every command, so a
//!   write on a channel goes out at once.
//! - The **reader** thread blocks in `read` with a read timeout derived from
//!   [`whelk::Connection::poll_timeout`] (at most [`MAX_READ_WAIT`]), feeds
//!   [`whelk::Connection::handle_input_buf`] and fires due timers too. It reads the socket
//!   straight into the buffer the packets are decrypted in, and channel data is handed out
//!   as views of it (see [`RecvBuffers`]): no copy and, in steady state, no allocation.
//!
//! `std` has no readiness API: a thread blocked in `read` cannot be woken by a handle that
//! has something to send, and a single thread that blocks in `write` while the peer does
//! the same deadlocks once both socket buffers are full. Two threads avoid both.
//!
//! Events are drained under the lock: channel bookkeeping happens there, and decisions
//! (host key, credentials, authentication, channel opens and requests) go to the role's
//! [`Hooks`] after the lock is released, so an application callback can take its time.

use std::collections::{HashMap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::ops::DerefMut;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use whelk::{ChannelEvent, ChannelId, ChannelRequestKind, Connection, Event};

/// Most bytes read from the socket at once: several full packets (OpenSSH sends up to
/// 32 KiB of data per packet), so one turn decrypts a batch.
const READ_CHUNK: usize = 256 * 1024;
/// A read goes to a fresh buffer once fewer bytes than this are free in the current one.
const MIN_READ: usize = READ_CHUNK / 4;
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
/// Longest a read blocks while received input waits in the buffer (a partial packet, or
/// input held back until a decision is answered), so held-back input is fed again soon.
const HELD_READ_WAIT: Duration = Duration::from_millis(50);
/// Longest a read blocks before the reader looks at the timers and the connection state
/// again.
pub(crate) const MAX_READ_WAIT: Duration = Duration::from_millis(500);
/// How long the reader keeps reading after the connection ended (so the peer sees our
/// DISCONNECT before the socket closes), unless the peer closes first.
const LINGER: Duration = Duration::from_secs(2);

/// The socket is read straight into these buffers, and the connection decrypts packets in
/// place there and hands channel data out as `Bytes` views of them (no copy). A buffer
/// whose packets are still held by channel readers cannot be written again; reading goes on
/// in a spare one whose packets were all dropped, so in steady state nothing is allocated.
///
/// `Read` wants an initialized slice: a buffer is zero-filled once when it is taken into
/// use, and split in two adjacent parts of one allocation, `cur` (received, not taken by
/// the connection yet) and `free` (the rest). A read fills the front of `free`, which is
/// then split off and appended to `cur` without a copy (`BytesMut::unsplit` of adjacent
/// parts).
struct RecvBuffers {
    /// Received bytes the connection has not taken yet; ends where `free` begins.
    cur: BytesMut,
    /// The initialized, unused rest of the current buffer.
    free: BytesMut,
    spare: Vec<BytesMut>,
    /// `free` belongs to a buffer of ours (not the empty one of the start).
    started: bool,
    /// Small reads in a row.
    small: u32,
}

impl RecvBuffers {
    fn new() -> Self {
        Self {
            cur: BytesMut::new(),
            free: BytesMut::new(),
            spare: Vec::new(),
            started: false,
            small: 0,
        }
    }

    /// Where the next read goes: at most [`READ_CHUNK`] bytes right after `cur`.
    fn read_slice(&mut self) -> &mut [u8] {
        if self.free.len() < MIN_READ {
            self.next_buffer();
        }
        let n = self.free.len().min(READ_CHUNK);
        self.free.get_mut(..n).unwrap_or_default()
    }

    /// The first `n` bytes of [`RecvBuffers::read_slice`] were read.
    fn filled(&mut self, n: usize) {
        let n = n.min(self.free.len());
        let got = self.free.split_to(n);
        // Adjacent parts of one allocation: no copy.
        self.cur.unsplit(got);
        if n >= SMALL_READ {
            self.small = 0;
            return;
        }
        self.small = self.small.saturating_add(1);
        if self.small >= SMALL_READS {
            // No longer moving bulk data: an idle connection keeps one buffer.
            self.spare = Vec::new();
        }
    }

    /// Goes on in a buffer whose packets are all gone (or a new one), moving the partial
    /// packet (if any) over.
    fn next_buffer(&mut self) {
        let found = self.spare.iter_mut().position(|b| {
            b.clear();
            b.try_reclaim(BUFFER_SIZE)
        });
        let mut next = match found {
            Some(i) => self.spare.swap_remove(i),
            None => BytesMut::with_capacity(BUFFER_SIZE),
        };
        next.extend_from_slice(&self.cur);
        let held = next.len();
        next.resize(BUFFER_SIZE.max(held + MIN_READ), 0);
        self.cur = next.split_to(held);
        let old = std::mem::replace(&mut self.free, next);
        // `old` keeps the old buffer's allocation known: it can be reclaimed once the
        // packets handed out of it are dropped.
        if std::mem::replace(&mut self.started, true) && self.spare.len() < SPARE_BUFFERS {
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
    pub(crate) exit_status: Option<u32>,
    pub(crate) exit_signal: Option<String>,
    /// Replies to our want-reply requests, in order.
    pub(crate) results: VecDeque<bool>,
    /// Every handle is gone: forget the channel once it is closed.
    pub(crate) dropped: bool,
}

/// The state the driver threads and the handles share.
pub(crate) struct Inner<C> {
    pub(crate) conn: C,
    pub(crate) chans: HashMap<ChannelId, Chan>,
    /// Why the connection ended, once it did.
    pub(crate) done: Option<String>,
    /// When it ended.
    done_at: Option<Instant>,
    pub(crate) authenticated: bool,
    /// Client: why the host key was rejected.
    pub(crate) host_key_rejected: Option<String>,
    /// Answers to our global requests: (request, success, bound port).
    pub(crate) global_results: Vec<(whelk::GlobalRequestId, bool, Option<u32>)>,
    /// The writer thread has flushed everything and stopped.
    pub(crate) writer_done: bool,
}

impl<C: DerefMut<Target = Connection>> Inner<C> {
    /// Marks the connection over and every channel closed.
    pub(crate) fn finish(&mut self, why: String) {
        if self.done.is_none() {
            self.done = Some(why);
            self.done_at = Some(Instant::now());
        }
        for c in self.chans.values_mut() {
            c.closed = true;
            c.eof = true;
            if c.open.is_none() {
                c.open = Some(Err("connection closed".to_string()));
            }
        }
    }

    /// Why the connection ended, for an error: the protocol error if there was one.
    pub(crate) fn failure(&self) -> crate::Error {
        if let Some(why) = &self.host_key_rejected {
            return crate::Error::HostKey(why.clone());
        }
        if let Some(e) = self.conn.error() {
            return crate::Error::Ssh(e.clone());
        }
        crate::Error::Closed(
            self.done
                .clone()
                .unwrap_or_else(|| "connection closed".to_string()),
        )
    }

    fn check_closed(&mut self) {
        if self.done.is_none() && self.conn.is_closed() {
            let why = self
                .conn
                .error()
                .map_or_else(|| "connection closed".to_string(), ToString::to_string);
            self.finish(why);
        }
    }
}

/// Shared between the driver threads and the handles.
pub(crate) struct Shared<C> {
    inner: Mutex<Inner<C>>,
    /// Wakes handles waiting for a state change.
    pub(crate) changed: Condvar,
    /// Wakes the writer thread (something to send, a window to re-open, a timer moved).
    pub(crate) wake: Condvar,
}

impl<C> Shared<C> {
    pub(crate) fn new(conn: C) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(Inner {
                conn,
                chans: HashMap::new(),
                done: None,
                done_at: None,
                authenticated: false,
                host_key_rejected: None,
                global_results: Vec::new(),
                writer_done: false,
            }),
            changed: Condvar::new(),
            wake: Condvar::new(),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner<C>> {
        // A panic while holding the lock leaves the state usable: take it anyway.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits on [`Shared::changed`] until `deadline` (forever without one). Returns the
    /// guard and whether the deadline passed.
    pub(crate) fn wait<'a>(
        &'a self,
        g: MutexGuard<'a, Inner<C>>,
        deadline: Option<Instant>,
    ) -> (MutexGuard<'a, Inner<C>>, bool) {
        match deadline {
            None => (
                self.changed
                    .wait(g)
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
                false,
            ),
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    return (g, true);
                }
                let (g, _) = self
                    .changed
                    .wait_timeout(g, d - now)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                (g, Instant::now() >= d)
            }
        }
    }

    /// Waits until `f` returns `Some` (re-checked after every change), or `deadline`.
    pub(crate) fn wait_for<T>(
        &self,
        deadline: Option<Instant>,
        mut f: impl FnMut(&mut Inner<C>) -> Option<T>,
    ) -> Option<T> {
        let mut g = self.lock();
        loop {
            if let Some(t) = f(&mut g) {
                return Some(t);
            }
            let (g2, expired) = self.wait(g, deadline);
            g = g2;
            if expired {
                return f(&mut g);
            }
        }
    }

    /// Tells the writer thread there may be something to send.
    pub(crate) fn kick(&self) {
        self.wake.notify_all();
    }
}

/// What a role does with the events the common code does not handle. Called without the
/// lock held (lock `shared` to answer).
pub(crate) trait Hooks<C>: Send + Sync + 'static {
    /// A decision or a role-specific event.
    fn event(&self, shared: &Arc<Shared<C>>, event: Event);
}

/// Drains the connection's events: channel bookkeeping here, the rest returned for the
/// role (in order).
fn drain<C>(inner: &mut Inner<C>) -> (Vec<Event>, bool)
where
    C: DerefMut<Target = Connection>,
{
    let mut deferred = Vec::new();
    let mut any = false;
    while let Some(ev) = inner.conn.poll_event() {
        any = true;
        match ev {
            Event::Channel(ce) => match ce {
                ChannelEvent::OpenConfirmed { id } => {
                    if let Some(c) = inner.chans.get_mut(&id) {
                        c.open = Some(Ok(()));
                    }
                }
                ChannelEvent::OpenFailed {
                    id, description, ..
                } => {
                    if let Some(c) = inner.chans.get_mut(&id) {
                        c.open = Some(Err(description.to_string()));
                        c.closed = true;
                        c.eof = true;
                    }
                }
                ChannelEvent::Data { .. }
                | ChannelEvent::ExtendedData { .. }
                | ChannelEvent::Writable { .. } => {}
                ChannelEvent::Eof { id } => {
                    if let Some(c) = inner.chans.get_mut(&id) {
                        c.eof = true;
                    }
                }
                ChannelEvent::Closed { id } => {
                    let forget = inner.chans.get_mut(&id).is_some_and(|c| {
                        c.eof = true;
                        c.closed = true;
                        c.dropped
                    });
                    if forget {
                        inner.chans.remove(&id);
                    }
                }
                ChannelEvent::RequestResult { id, success, .. } => {
                    if let Some(c) = inner.chans.get_mut(&id) {
                        c.results.push_back(success);
                    }
                }
                ChannelEvent::Request {
                    id,
                    kind: ChannelRequestKind::ExitStatus { status },
                    token,
                } => {
                    if let Some(c) = inner.chans.get_mut(&id) {
                        c.exit_status = Some(status);
                    }
                    if let Some(t) = token {
                        let _ = inner.conn.respond_request(t, true);
                    }
                }
                ChannelEvent::Request {
                    id,
                    kind: ChannelRequestKind::ExitSignal { signal, .. },
                    token,
                } => {
                    if let Some(c) = inner.chans.get_mut(&id) {
                        c.exit_signal = Some(signal.to_string());
                    }
                    if let Some(t) = token {
                        let _ = inner.conn.respond_request(t, true);
                    }
                }
                ChannelEvent::GlobalRequestResult {
                    request,
                    success,
                    bound_port,
                    ..
                } => inner.global_results.push((request, success, bound_port)),
                other => deferred.push(Event::Channel(other)),
            },
            Event::Disconnected { description, .. } => inner.finish(description),
            Event::Authenticated { .. } => {
                inner.authenticated = true;
                deferred.push(ev);
            }
            other => deferred.push(other),
        }
    }
    inner.check_closed();
    (deferred, any)
}

/// Drains events under the lock, then releases it and hands the decisions to the role.
/// Returns the guard again.
fn pump<'a, C, H>(
    shared: &'a Arc<Shared<C>>,
    hooks: &H,
    mut g: MutexGuard<'a, Inner<C>>,
) -> MutexGuard<'a, Inner<C>>
where
    C: DerefMut<Target = Connection>,
    H: Hooks<C>,
{
    loop {
        let (deferred, any) = drain(&mut g);
        if any {
            shared.changed.notify_all();
            shared.wake.notify_all();
        }
        if deferred.is_empty() {
            return g;
        }
        drop(g);
        for ev in deferred {
            hooks.event(shared, ev);
        }
        g = shared.lock();
    }
}

/// The receiving half of a connection's byte stream: a TCP socket, or a channel of
/// another connection (ProxyJump).
pub(crate) trait ReadHalf: Read + Send {
    /// Makes `read` give up with `WouldBlock` or `TimedOut` after `timeout`.
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()>;
    /// Closes the stream in both directions (fails a write blocked on the other half).
    fn shutdown(&mut self);
}

/// The sending half of a connection's byte stream.
pub(crate) trait WriteHalf: Write + Send {
    /// Ends the sending direction (TCP FIN, channel EOF).
    fn shutdown_write(&mut self);
}

impl ReadHalf for TcpStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        Self::set_read_timeout(self, timeout)
    }

    fn shutdown(&mut self) {
        let _ = Self::shutdown(self, Shutdown::Both);
    }
}

impl WriteHalf for TcpStream {
    fn shutdown_write(&mut self) {
        let _ = Self::shutdown(self, Shutdown::Write);
    }
}

/// Starts the two driver threads of a connection over `stream`.
pub(crate) fn spawn<C, H>(
    shared: &Arc<Shared<C>>,
    stream: TcpStream,
    hooks: Arc<H>,
    name: &str,
) -> std::io::Result<()>
where
    C: DerefMut<Target = Connection> + Send + 'static,
    H: Hooks<C>,
{
    let wstream = stream.try_clone()?;
    spawn_halves(shared, Box::new(stream), Box::new(wstream), hooks, name)
}

/// Starts the two driver threads of a connection over a stream split in two halves.
pub(crate) fn spawn_halves<C, H>(
    shared: &Arc<Shared<C>>,
    stream: Box<dyn ReadHalf>,
    wstream: Box<dyn WriteHalf>,
    hooks: Arc<H>,
    name: &str,
) -> std::io::Result<()>
where
    C: DerefMut<Target = Connection> + Send + 'static,
    H: Hooks<C>,
{
    let (s1, h1) = (shared.clone(), hooks.clone());
    std::thread::Builder::new()
        .name(format!("{name}-writer"))
        .spawn(move || writer(&s1, &*h1, wstream))?;
    let s2 = shared.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("{name}-reader"))
        .spawn(move || reader(&s2, &*hooks, stream));
    if let Err(e) = spawned {
        // The writer would wait forever for a reader: end the connection.
        let mut g = shared.lock();
        g.conn.disconnect(
            whelk::DisconnectReason::BY_APPLICATION,
            "cannot start a thread",
        );
        g.check_closed();
        drop(g);
        shared.kick();
        return Err(e);
    }
    Ok(())
}

fn fire_timers<C: DerefMut<Target = Connection>>(inner: &mut Inner<C>, now: Instant) {
    if inner.conn.poll_timeout().is_some_and(|t| t <= now) {
        inner.conn.handle_timeout(now);
    }
}

fn writer<C, H>(shared: &Arc<Shared<C>>, hooks: &H, mut stream: Box<dyn WriteHalf>)
where
    C: DerefMut<Target = Connection>,
    H: Hooks<C>,
{
    let mut out = BytesMut::new();
    let mut g = shared.lock();
    loop {
        let now = Instant::now();
        fire_timers(&mut g, now);
        let _ = g.conn.poll_transmit(now, &mut out);
        g = pump(shared, hooks, g);
        if !out.is_empty() {
            drop(g);
            let r = stream.write_all(&out);
            out.clear();
            g = shared.lock();
            if let Err(e) = r {
                let _ = g.conn.handle_eof();
                g = pump(shared, hooks, g);
                g.finish(format!("write failed: {e}"));
                break;
            }
            // A flush may be waiting for the bytes to leave.
            shared.changed.notify_all();
            continue;
        }
        if g.done.is_some() || g.conn.is_closed() {
            g.check_closed();
            break;
        }
        let wait = g
            .conn
            .poll_timeout()
            .map(|t| t.saturating_duration_since(Instant::now()));
        g = match wait {
            Some(d) if d.is_zero() => g,
            Some(d) => {
                shared
                    .wake
                    .wait_timeout(g, d)
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .0
            }
            None => shared
                .wake
                .wait(g)
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        };
    }
    g.writer_done = true;
    drop(g);
    let _ = stream.flush();
    stream.shutdown_write();
    shared.changed.notify_all();
}

fn reader<C, H>(shared: &Arc<Shared<C>>, hooks: &H, mut stream: Box<dyn ReadHalf>)
where
    C: DerefMut<Target = Connection>,
    H: Hooks<C>,
{
    let mut rx = RecvBuffers::new();
    let mut read_timeout = None;
    loop {
        let mut g = shared.lock();
        loop {
            if g.done.is_some() {
                rx.cur.clear();
            }
            let before = rx.cur.len();
            if before > 0 {
                if g.conn
                    .handle_input_buf(Instant::now(), &mut rx.cur)
                    .is_err()
                {
                    rx.cur.clear();
                }
                // Replies, window adjustments, key exchange messages may be ready now.
                shared.kick();
            }
            g = pump(shared, hooks, g);
            // Once its events are drained (or a decision answered), the connection may
            // take more of what is left.
            if rx.cur.is_empty() || rx.cur.len() == before {
                break;
            }
        }
        // Once over, stop when the writer is done and the peer had time to read our
        // DISCONNECT; or, if the writer is stuck in a write the peer never reads, cut it off
        // (shutting the socket down below fails that write).
        if let Some(at) = g.done_at
            && at.elapsed() >= LINGER
        {
            break;
        }
        if rx.cur.len() >= MAX_BUFFERED {
            // The connection takes no more input until a decision is answered.
            let _ = shared
                .changed
                .wait_timeout(g, HELD_READ_WAIT)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            continue;
        }
        let now = Instant::now();
        let most = if rx.cur.is_empty() {
            MAX_READ_WAIT
        } else {
            HELD_READ_WAIT
        };
        let wait = g
            .conn
            .poll_timeout()
            .map_or(most, |t| t.saturating_duration_since(now))
            .clamp(Duration::from_millis(1), most);
        drop(g);
        if read_timeout != Some(wait) {
            if stream.set_read_timeout(Some(wait)).is_err() {
                break;
            }
            read_timeout = Some(wait);
        }
        match stream.read(rx.read_slice()) {
            Ok(0) => {
                let mut g = shared.lock();
                let _ = g.conn.handle_eof();
                g = pump(shared, hooks, g);
                g.finish("connection closed by peer".to_string());
                break;
            }
            // The bytes are handed to the connection at the top of the loop.
            Ok(n) => rx.filled(n),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                let mut g = shared.lock();
                fire_timers(&mut g, Instant::now());
                drop(pump(shared, hooks, g));
                shared.kick();
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                let mut g = shared.lock();
                let _ = g.conn.handle_eof();
                g = pump(shared, hooks, g);
                g.finish(format!("read failed: {e}"));
                break;
            }
        }
    }
    stream.shutdown();
    shared.changed.notify_all();
    shared.kick();
}
