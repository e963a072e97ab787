//! The body of the `channel_ops` fuzz target (`fuzz/fuzz_targets/channel_ops.rs`), kept here
//! so that an ordinary `cargo test` replays the corpus in `testdata/fuzz/channel_ops/`
//! through exactly the code the fuzzer runs.
//!
//! Two [`Channels`] (side 0 and side 1, opposite roles) talk to each other through the wire
//! encoding; the input chooses application commands on either side, when messages cross, and
//! arbitrary messages (any bytes, decoded with `Message::decode`) injected into side 0 as if
//! they came from side 1. The function panics if, and only if, it finds a bug:
//!
//! - a message that does not survive encode/decode unchanged, or an empty data message;
//! - inbound buffered data above the advertised window (memory must stay bounded);
//! - a side that never runs out of messages to send (livelock);
//! - any error at all on side 1, or a fatal error on side 0, while nothing was injected:
//!   two honest sides must never break each other's rules (except the pending-request and
//!   backlog limits, which an honest peer reaches when the application does not answer);
//! - data that arrives other than exactly as written, while nothing was injected.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use bytes::{Bytes, BytesMut};
use whelk_wire::msg::{
    ChannelOpenFailureReason, ChannelOpenKind, ChannelRequestKind, ExtendedDataType,
    GlobalRequestKind, Message,
};

use crate::{
    ChannelConfig, ChannelId, Channels, Config, Event, GlobalReply, GlobalRequestToken,
    IncomingChannel, RequestToken, Role,
};

/// The window every channel of the fuzzed pair advertises: small, so that exhaustion and
/// refill happen within short inputs.
pub const FUZZ_WINDOW: u32 = 4096;
/// The maximum packet every channel advertises.
pub const FUZZ_MAX_PACKET: u32 = 1024;
/// How many messages one side may produce in a row before it counts as a livelock.
const LIVELOCK: usize = 100_000;

struct Input<'a> {
    data: &'a [u8],
}

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(b)
    }

    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }
}

#[derive(Default)]
struct Side {
    ids: Vec<ChannelId>,
    incoming: Vec<IncomingChannel>,
    requests: Vec<RequestToken>,
    globals: Vec<GlobalRequestToken>,
    /// Bytes read per channel, for the integrity check.
    received: BTreeMap<ChannelId, Vec<u8>>,
}

struct Fuzz {
    sides: [Channels; 2],
    state: [Side; 2],
    injected: bool,
    /// Bytes written on side `s`'s channel, keyed by (side, id).
    written: BTreeMap<(usize, ChannelId), Vec<u8>>,
    counter: u8,
}

fn config() -> ChannelConfig {
    ChannelConfig::default()
        .with_window(FUZZ_WINDOW)
        .with_max_packet(FUZZ_MAX_PACKET)
        .with_send_buffer(8192)
}

fn kinds(sel: u8) -> ChannelOpenKind {
    match sel % 6 {
        0 => ChannelOpenKind::Session,
        1 => ChannelOpenKind::DirectTcpip {
            host: "localhost".into(),
            port: 22,
            originator_address: "127.0.0.1".into(),
            originator_port: 4000,
        },
        2 => ChannelOpenKind::ForwardedTcpip {
            connected_address: "0.0.0.0".into(),
            connected_port: u32::from(sel),
            originator_address: "10.0.0.1".into(),
            originator_port: 5000,
        },
        3 => ChannelOpenKind::X11 {
            originator_address: "127.0.0.1".into(),
            originator_port: 6000,
        },
        4 => ChannelOpenKind::AuthAgent,
        _ => ChannelOpenKind::Other {
            channel_type: "bogus@example.com".into(),
            data: Bytes::new(),
        },
    }
}

fn requests(sel: u8) -> ChannelRequestKind {
    match sel % 10 {
        0 => ChannelRequestKind::Shell,
        1 => ChannelRequestKind::Exec {
            command: Bytes::from_static(b"ls -l"),
        },
        2 => ChannelRequestKind::Env {
            name: "LANG".into(),
            value: "C".into(),
        },
        3 => ChannelRequestKind::PtyReq {
            term: "xterm".into(),
            columns: 80,
            rows: 24,
            width_px: 0,
            height_px: 0,
            modes: Bytes::from_static(&[53, 0, 0, 0, 1, 0]),
        },
        4 => ChannelRequestKind::ExitStatus {
            status: u32::from(sel),
        },
        5 => ChannelRequestKind::X11Req {
            single_connection: false,
            auth_protocol: "MIT-MAGIC-COOKIE-1".into(),
            auth_cookie: "00".into(),
            screen: 0,
        },
        6 => ChannelRequestKind::AuthAgentReq,
        7 => ChannelRequestKind::Keepalive,
        8 => ChannelRequestKind::WindowChange {
            columns: 100,
            rows: 40,
            width_px: 0,
            height_px: 0,
        },
        _ => ChannelRequestKind::Other {
            request: "custom@example.com".into(),
            data: Bytes::from_static(b"x"),
        },
    }
}

fn globals(sel: u8) -> GlobalRequestKind {
    match sel % 6 {
        0 => GlobalRequestKind::TcpipForward {
            address: "localhost".into(),
            port: u32::from(sel % 3),
        },
        1 => GlobalRequestKind::CancelTcpipForward {
            address: "localhost".into(),
            port: u32::from(sel % 3),
        },
        2 => GlobalRequestKind::Keepalive,
        3 => GlobalRequestKind::NoMoreSessions,
        4 => GlobalRequestKind::HostKeys {
            keys: alloc::vec![Bytes::from_static(b"key")],
        },
        _ => GlobalRequestKind::Other {
            name: "unknown@example.com".into(),
            data: Bytes::new(),
        },
    }
}

/// Encodes and decodes `msg`, checking that it survives unchanged.
fn through_wire(msg: &Message) -> Message {
    if let Message::ChannelData(d) = msg {
        assert!(!d.data.is_empty(), "empty CHANNEL_DATA");
    }
    if let Message::ChannelExtendedData(d) = msg {
        assert!(!d.data.is_empty(), "empty CHANNEL_EXTENDED_DATA");
    }
    let bytes = msg.to_bytes().expect("encodable");
    let back = Message::decode(&bytes).expect("decodable");
    assert_eq!(&back, msg, "wire round trip");
    back
}

impl Fuzz {
    fn new(flags: u8) -> Self {
        let (r0, r1) = if flags & 1 == 0 {
            (Role::Client, Role::Server)
        } else {
            (Role::Server, Role::Client)
        };
        let mut limits = Config::default();
        if flags & 2 != 0 {
            limits.max_channels = 4;
            limits.max_sessions = 2;
            limits.max_pending_requests = 3;
            limits.max_env_requests = 2;
        }
        Self {
            sides: [Channels::new(r0, limits), Channels::new(r1, limits)],
            state: [Side::default(), Side::default()],
            injected: false,
            written: BTreeMap::new(),
            counter: 0,
        }
    }

    fn result<T>(&mut self, side: usize, r: crate::Result<T>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                // Usage errors come from the fuzzer's own choices (stale ids etc.); the
                // pending-request and backlog limits can be reached by an honest peer whose
                // requests the application does not answer. Everything else only comes from
                // a misbehaving peer.
                let limit = matches!(
                    e,
                    crate::Error::TooManyPendingRequests { .. }
                        | crate::Error::BacklogExceeded { .. }
                );
                if !self.injected && !limit && (side == 1 || e.is_fatal()) {
                    assert!(
                        e.kind() == crate::ErrorKind::Usage,
                        "honest peers tripped side {side}: {e}"
                    );
                }
                None
            }
        }
    }

    /// Moves up to `n` messages from side `from` to the other side.
    fn transfer(&mut self, from: usize, n: usize) {
        let to = 1 - from;
        for _ in 0..n {
            let Some(msg) = self.sides[from].poll_transmit() else {
                break;
            };
            let msg = through_wire(&msg);
            let r = self.sides[to].handle_message(msg);
            self.result(to, r);
            self.drain_events(to);
        }
        self.drain_events(from);
    }

    fn drain_events(&mut self, side: usize) {
        while let Some(ev) = self.sides[side].poll_event() {
            let st = &mut self.state[side];
            match ev {
                Event::OpenRequest(inc) => st.incoming.push(inc),
                Event::Request {
                    token: Some(token), ..
                } => st.requests.push(token),
                Event::GlobalRequest {
                    token: Some(token), ..
                } => st.globals.push(token),
                _ => {}
            }
        }
    }

    fn pick_id(&self, side: usize, sel: u8) -> Option<ChannelId> {
        let ids = &self.state[side].ids;
        if ids.is_empty() {
            None
        } else {
            Some(ids[usize::from(sel) % ids.len()])
        }
    }

    fn check_invariants(&self) {
        for ch in &self.sides {
            for id in ch.ids() {
                assert!(
                    ch.buffered(id) <= usize::try_from(FUZZ_WINDOW).unwrap(),
                    "buffered data above the window"
                );
            }
        }
    }

    fn step(&mut self, inp: &mut Input<'_>) -> Option<()> {
        let op = inp.byte()?;
        let side = usize::from(op >> 7);
        let arg = inp.byte().unwrap_or(0);
        match op & 0x0f {
            0 => {
                // Inject an arbitrary connection-protocol message into side 0.
                let len = usize::from(inp.byte()?);
                let mut payload = BytesMut::new();
                payload.extend_from_slice(&[80 + arg % 21]);
                payload.extend_from_slice(inp.bytes(len));
                if let Ok(msg) = Message::decode(&payload.freeze()) {
                    self.injected = true;
                    let _ = self.sides[0].handle_message(msg);
                    self.drain_events(0);
                }
            }
            1 => self.transfer(side, usize::from(arg) + 1),
            2 => {
                let r = self.sides[side].open(kinds(arg), config());
                if let Some(id) = self.result(side, r) {
                    self.state[side].ids.push(id);
                }
            }
            3 => {
                let id = self.pick_id(side, arg)?;
                let len = usize::from(inp.byte()?) * 64;
                self.counter = self.counter.wrapping_add(1);
                let data = alloc::vec![self.counter; len];
                let r = self.sides[side].write(id, &data);
                if let Some(n) = self.result(side, r) {
                    self.written
                        .entry((side, id))
                        .or_default()
                        .extend_from_slice(&data[..n]);
                }
            }
            4 => {
                let id = self.pick_id(side, arg)?;
                let max = usize::from(inp.byte()?) * 32;
                while let Some(b) = self.sides[side].read(id, max) {
                    assert!(b.len() <= max && !b.is_empty());
                    self.state[side]
                        .received
                        .entry(id)
                        .or_default()
                        .extend_from_slice(&b);
                    if arg & 1 == 0 {
                        break;
                    }
                }
                while self.sides[side].read_extended(id, max).is_some() {}
            }
            5 => {
                let id = self.pick_id(side, arg)?;
                let r = self.sides[side].eof(id);
                self.result(side, r);
            }
            6 => {
                let id = self.pick_id(side, arg)?;
                let r = self.sides[side].close(id);
                self.result(side, r);
            }
            7 => {
                let id = self.pick_id(side, arg)?;
                let r = self.sides[side].request(id, requests(arg >> 2), arg & 1 == 1);
                self.result(side, r);
            }
            8 => {
                let r = self.sides[side].global_request(globals(arg), arg & 0x80 != 0);
                self.result(side, r);
            }
            9 => {
                if self.state[side].incoming.is_empty() {
                    return Some(());
                }
                let inc = self.state[side].incoming.remove(0);
                if arg & 1 == 0 {
                    let r = self.sides[side].accept(inc, config());
                    if let Some(id) = self.result(side, r) {
                        self.state[side].ids.push(id);
                    }
                } else {
                    let r = self.sides[side].reject(
                        inc,
                        ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED,
                        "no",
                    );
                    self.result(side, r);
                }
            }
            10 => {
                let reqs = &mut self.state[side].requests;
                if !reqs.is_empty() {
                    // Answer out of order on purpose: the layer must keep the reply order.
                    let i = usize::from(arg) % reqs.len();
                    let tok = reqs.remove(i);
                    let r = self.sides[side].respond(tok, arg & 1 == 0);
                    self.result(side, r);
                }
                let globals = &mut self.state[side].globals;
                if !globals.is_empty() {
                    let i = usize::from(arg) % globals.len();
                    let tok = globals.remove(i);
                    let reply = match arg % 3 {
                        0 => GlobalReply::Failure,
                        1 => GlobalReply::BoundPort(2222),
                        _ => GlobalReply::Success,
                    };
                    let r = self.sides[side].respond_global(tok, reply);
                    self.result(side, r);
                }
            }
            11 => {
                let id = self.pick_id(side, arg)?;
                let len = usize::from(inp.byte()?) * 16;
                let data = alloc::vec![0xee; len];
                let r = self.sides[side].write_extended(id, ExtendedDataType::STDERR, &data);
                self.result(side, r);
            }
            _ => {
                // Let both sides settle.
                self.transfer(0, 64);
                self.transfer(1, 64);
            }
        }
        self.check_invariants();
        Some(())
    }

    /// Drains both sides completely, reading everything, and checks for livelock.
    fn settle(&mut self) {
        for _ in 0..64 {
            let mut moved = false;
            for from in 0..2 {
                let mut n = 0;
                while let Some(msg) = self.sides[from].poll_transmit() {
                    n += 1;
                    assert!(n < LIVELOCK, "side {from} never stops sending");
                    moved = true;
                    let msg = through_wire(&msg);
                    let to = 1 - from;
                    let r = self.sides[to].handle_message(msg);
                    self.result(to, r);
                }
                for side in 0..2 {
                    self.drain_events(side);
                    let ids: Vec<ChannelId> = self.sides[side].ids().collect();
                    for id in ids {
                        while let Some(b) = self.sides[side].read(id, usize::MAX) {
                            moved = true;
                            self.state[side]
                                .received
                                .entry(id)
                                .or_default()
                                .extend_from_slice(&b);
                        }
                        while self.sides[side].read_extended(id, usize::MAX).is_some() {
                            moved = true;
                        }
                    }
                }
            }
            if !moved {
                break;
            }
            self.check_invariants();
        }
    }

    /// Every stream read must be a prefix of a stream written on the other side (each write
    /// uses a fresh byte value, so streams are hard to confuse).
    fn check_integrity(&self) {
        if self.injected {
            return;
        }
        for side in 0..2 {
            let other = 1 - side;
            for got in self.state[side].received.values() {
                let ok = self
                    .written
                    .iter()
                    .filter(|((s, _), _)| *s == other)
                    .any(|(_, w)| w.starts_with(got));
                assert!(ok, "side {side} read data nobody wrote");
            }
        }
    }
}

/// Runs one fuzz input: byte 0 picks the roles and limits, the rest are operations.
pub fn channel_ops(data: &[u8]) {
    let mut inp = Input { data };
    let Some(flags) = inp.byte() else {
        return;
    };
    let mut f = Fuzz::new(flags);
    while f.step(&mut inp).is_some() {}
    f.settle();
    f.check_integrity();
}
