//! `Pair`: two sans-IO endpoints wired together in memory, deterministically.
//!
//! A virtual clock (it only moves when [`Pair::step`] finds nothing else to do and jumps to
//! the earliest timer), a seeded splitter for byte delivery (whole, fixed-size chunks, or
//! random chunks down to one byte), a hook to tamper with bytes in flight, responders that
//! answer each side's events, and [`Pair::drive_bounded`], which fails on livelock (no end
//! after a bounded number of steps) or a stall (nothing in flight, no timer, not done).
//!
//! The harness knows nothing of the protocol: an endpoint is anything implementing
//! [`Endpoint`] (the transport's tests wrap `whelk_transport::Connection`).

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use bytes::BytesMut;

/// What the harness needs from a sans-IO endpoint.
pub trait Endpoint {
    /// The endpoint's event type.
    type Event;
    /// Feeds received bytes; returns how many were consumed, or `Err` (as text) on a fatal
    /// error.
    fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<usize, String>;
    /// Appends bytes to send; returns how many.
    fn poll_transmit(&mut self, now: Instant, out: &mut BytesMut) -> usize;
    /// The next event.
    fn poll_event(&mut self) -> Option<Self::Event>;
    /// The earliest timer.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Fires due timers.
    fn handle_timeout(&mut self, now: Instant);
}

/// Which end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The client (first endpoint).
    Client,
    /// The server (second endpoint).
    Server,
}

/// How bytes in flight are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Everything in flight at once.
    Whole,
    /// Chunks of exactly this many bytes (the last may be shorter).
    Fixed(usize),
    /// Chunks of a random length in `1..=max`, from the seeded generator.
    Random {
        /// Largest chunk.
        max: usize,
    },
}

/// Why driving stopped without reaching the goal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriveError {
    /// The step budget ran out (livelock).
    Livelock {
        /// Steps taken.
        steps: usize,
    },
    /// Nothing in flight, no timer armed, goal not reached.
    Stalled {
        /// Steps taken.
        steps: usize,
    },
}

impl fmt::Display for DriveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Livelock { steps } => write!(f, "livelock: no end after {steps} steps"),
            Self::Stalled { steps } => write!(f, "stalled after {steps} steps"),
        }
    }
}

impl std::error::Error for DriveError {}

/// A small deterministic generator (SplitMix64) for delivery splits and test data.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// Seeded.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `1..=max` (`max` at least 1).
    pub fn chunk(&mut self, max: usize) -> usize {
        let max = u64::try_from(max.max(1)).unwrap_or(u64::MAX);
        usize::try_from(self.next_u64() % max + 1).unwrap_or(1)
    }
}

/// Tampering hook: sees each batch of bytes one side produced (its direction, the offset of
/// the batch in that direction's stream) and may change, add or remove bytes.
pub type Tamper = Box<dyn FnMut(Side, usize, &mut Vec<u8>)>;

/// An event responder: may act on the endpoint (answer a decision token) and returns the
/// event to record, if any.
pub type Responder<E> =
    Box<dyn FnMut(&mut E, <E as Endpoint>::Event) -> Option<<E as Endpoint>::Event>>;

/// Two endpoints in memory.
pub struct Pair<E: Endpoint> {
    /// The client endpoint.
    pub client: E,
    /// The server endpoint.
    pub server: E,
    /// The virtual clock.
    pub now: Instant,
    start: Instant,
    /// How bytes are delivered.
    pub delivery: Delivery,
    rng: SplitMix,
    to_server: VecDeque<u8>,
    to_client: VecDeque<u8>,
    produced: [usize; 2],
    delivered: [u64; 2],
    tamper: Option<Tamper>,
    client_responder: Option<Responder<E>>,
    server_responder: Option<Responder<E>>,
    /// Recorded client events.
    pub client_events: Vec<E::Event>,
    /// Recorded server events.
    pub server_events: Vec<E::Event>,
    /// The first fatal error each side reported from `handle_input`.
    pub client_error: Option<String>,
    /// See `client_error`.
    pub server_error: Option<String>,
    steps: usize,
}

impl<E: Endpoint> fmt::Debug for Pair<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pair")
            .field("elapsed", &self.elapsed())
            .field("delivery", &self.delivery)
            .field("in_flight", &(self.to_server.len(), self.to_client.len()))
            .field("client_error", &self.client_error)
            .field("server_error", &self.server_error)
            .finish_non_exhaustive()
    }
}

impl<E: Endpoint> Pair<E> {
    /// Wires `client` and `server` together; `seed` drives random delivery; `now` is the
    /// virtual clock's start (the instant the endpoints were created with).
    pub fn new(client: E, server: E, now: Instant, seed: u64) -> Self {
        Self {
            client,
            server,
            now,
            start: now,
            delivery: Delivery::Whole,
            rng: SplitMix::new(seed),
            to_server: VecDeque::new(),
            to_client: VecDeque::new(),
            produced: [0; 2],
            delivered: [0; 2],
            tamper: None,
            client_responder: None,
            server_responder: None,
            client_events: Vec::new(),
            server_events: Vec::new(),
            client_error: None,
            server_error: None,
            steps: 0,
        }
    }

    /// Sets the delivery mode.
    #[must_use]
    pub fn with_delivery(mut self, delivery: Delivery) -> Self {
        self.delivery = delivery;
        self
    }

    /// Sets a tampering hook.
    pub fn set_tamper(&mut self, tamper: Tamper) {
        self.tamper = Some(tamper);
    }

    /// Sets the responder for one side's events (without one, every event is recorded).
    pub fn set_responder(&mut self, side: Side, responder: Responder<E>) {
        match side {
            Side::Client => self.client_responder = Some(responder),
            Side::Server => self.server_responder = Some(responder),
        }
    }

    /// Virtual time since the start.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        self.now.duration_since(self.start)
    }

    /// Bytes delivered so far (to the server, to the client).
    #[must_use]
    pub fn delivered(&self) -> (u64, u64) {
        (self.delivered[0], self.delivered[1])
    }

    /// Steps taken so far.
    #[must_use]
    pub fn steps(&self) -> usize {
        self.steps
    }

    fn collect(&mut self, side: Side) -> bool {
        let mut buf = BytesMut::new();
        let n = match side {
            Side::Client => self.client.poll_transmit(self.now, &mut buf),
            Side::Server => self.server.poll_transmit(self.now, &mut buf),
        };
        if n == 0 {
            return false;
        }
        let mut bytes = buf.to_vec();
        let idx = usize::from(side == Side::Server);
        let offset = self.produced.get(idx).copied().unwrap_or(0);
        if let Some(t) = self.tamper.as_mut() {
            t(side, offset, &mut bytes);
        }
        if let Some(p) = self.produced.get_mut(idx) {
            *p += n;
        }
        match side {
            Side::Client => self.to_server.extend(bytes),
            Side::Server => self.to_client.extend(bytes),
        }
        true
    }

    fn deliver(&mut self, to: Side) -> bool {
        let queue = match to {
            Side::Server => &self.to_server,
            Side::Client => &self.to_client,
        };
        if queue.is_empty() {
            return false;
        }
        let len = queue.len();
        let n = match self.delivery {
            Delivery::Whole => len,
            Delivery::Fixed(k) => k.max(1).min(len),
            Delivery::Random { max } => self.rng.chunk(max).min(len),
        };
        let queue = match to {
            Side::Server => &mut self.to_server,
            Side::Client => &mut self.to_client,
        };
        let chunk: Vec<u8> = queue.iter().take(n).copied().collect();
        let (endpoint, error) = match to {
            Side::Server => (&mut self.server, &mut self.server_error),
            Side::Client => (&mut self.client, &mut self.client_error),
        };
        if error.is_some() {
            // A failed endpoint reads nothing more; drop what is in flight to it.
            queue.clear();
            return false;
        }
        match endpoint.handle_input(self.now, &chunk) {
            Ok(used) => {
                queue.drain(..used.min(chunk.len()));
                let idx = usize::from(to == Side::Client);
                if let Some(d) = self.delivered.get_mut(idx) {
                    *d += u64::try_from(used).unwrap_or(0);
                }
                used > 0
            }
            Err(e) => {
                *error = Some(e);
                queue.clear();
                true
            }
        }
    }

    fn drain_events(&mut self, side: Side) -> bool {
        let mut any = false;
        loop {
            let ev = match side {
                Side::Client => self.client.poll_event(),
                Side::Server => self.server.poll_event(),
            };
            let Some(ev) = ev else { break };
            any = true;
            let (endpoint, responder, log) = match side {
                Side::Client => (
                    &mut self.client,
                    &mut self.client_responder,
                    &mut self.client_events,
                ),
                Side::Server => (
                    &mut self.server,
                    &mut self.server_responder,
                    &mut self.server_events,
                ),
            };
            let keep = match responder.as_mut() {
                Some(r) => r(endpoint, ev),
                None => Some(ev),
            };
            if let Some(ev) = keep {
                log.push(ev);
            }
        }
        any
    }

    /// One step: collect what both sides send (through the tamper hook), deliver one chunk
    /// each way, drain events into the responders; if nothing happened, jump the clock to the
    /// earliest timer and fire it. Returns whether anything happened.
    pub fn step(&mut self) -> bool {
        self.step_inner(true)
    }

    fn step_inner(&mut self, allow_time: bool) -> bool {
        self.steps += 1;
        let mut progress = false;
        progress |= self.collect(Side::Client);
        progress |= self.collect(Side::Server);
        progress |= self.deliver(Side::Server);
        progress |= self.deliver(Side::Client);
        progress |= self.drain_events(Side::Client);
        progress |= self.drain_events(Side::Server);
        if progress || !allow_time {
            return progress;
        }
        let next = match (self.client.poll_timeout(), self.server.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let Some(at) = next else { return false };
        if at > self.now {
            self.now = at;
        }
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        true
    }

    /// Jumps the virtual clock forward by `by` (hours if a test wants), firing every timer
    /// that falls due on the way in order, with the endpoints quiet in between (at most
    /// `max_steps` steps of traffic after each timer). Returns how many timers fired.
    pub fn advance(&mut self, by: Duration, max_steps: usize) -> Result<usize, DriveError> {
        let target = self.now + by;
        let mut fired = 0;
        loop {
            self.drive_quiet(max_steps)?;
            let next = match (self.client.poll_timeout(), self.server.poll_timeout()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            match next {
                Some(at) if at <= target => {
                    if at > self.now {
                        self.now = at;
                    }
                    self.client.handle_timeout(self.now);
                    self.server.handle_timeout(self.now);
                    fired += 1;
                    if fired > max_steps {
                        return Err(DriveError::Livelock { steps: fired });
                    }
                }
                _ => {
                    self.now = target;
                    self.client.handle_timeout(self.now);
                    self.server.handle_timeout(self.now);
                    self.drive_quiet(max_steps)?;
                    return Ok(fired);
                }
            }
        }
    }

    /// Steps until `done(self)` holds, at most `max_steps` times.
    pub fn drive_bounded<F>(&mut self, max_steps: usize, mut done: F) -> Result<usize, DriveError>
    where
        F: FnMut(&mut Self) -> bool,
    {
        for i in 0..max_steps {
            if done(self) {
                return Ok(i);
            }
            if !self.step() {
                if done(self) {
                    return Ok(i + 1);
                }
                return Err(DriveError::Stalled { steps: i + 1 });
            }
        }
        if done(self) {
            return Ok(max_steps);
        }
        Err(DriveError::Livelock { steps: max_steps })
    }

    /// Steps while anything happens without moving the clock (no timer fires), at most
    /// `max_steps` times; returns the steps taken. For "run until quiet".
    pub fn drive_quiet(&mut self, max_steps: usize) -> Result<usize, DriveError> {
        for i in 0..max_steps {
            if !self.step_inner(false) {
                return Ok(i + 1);
            }
        }
        Err(DriveError::Livelock { steps: max_steps })
    }
}
