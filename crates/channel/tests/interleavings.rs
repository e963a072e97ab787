//! Many channels at once with random interleavings of application commands and message
//! delivery (proptest). Invariants checked throughout: every side reads exactly a prefix of
//! what the other side wrote, buffered data never exceeds the window, send queues never
//! exceed their cap, replies come back in request order with the answers given, no honest
//! exchange ever raises a protocol error, and once everything is read and delivered, every
//! channel nobody closed carried all its data.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Pair, Side, pattern};
use proptest::prelude::*;
use whelk_channel::{ChannelConfig, ChannelId, Config, ErrorKind, Event, RequestId, RequestToken};
use whelk_wire::msg::{ChannelOpenKind, ChannelRequestKind};

#[derive(Debug, Clone)]
enum Op {
    Open { window: u32, max_packet: u32 },
    Write { side: Side, ch: usize, len: usize },
    Read { side: Side, ch: usize, max: usize },
    Eof { side: Side, ch: usize },
    Close { side: Side, ch: usize },
    Deliver { from: Side, n: usize },
    Request { ch: usize, want_reply: bool },
    Answer { pick: usize, ok: bool },
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Client), Just(Side::Server)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (prop_oneof![Just(1500u32), Just(8192), Just(65536)], prop_oneof![Just(1024u32), Just(4096)])
            .prop_map(|(window, max_packet)| Op::Open { window, max_packet }),
        6 => (side(), 0..16usize, 1..20_000usize).prop_map(|(side, ch, len)| Op::Write { side, ch, len }),
        4 => (side(), 0..16usize, 1..10_000usize).prop_map(|(side, ch, max)| Op::Read { side, ch, max }),
        1 => (side(), 0..16usize).prop_map(|(side, ch)| Op::Eof { side, ch }),
        1 => (side(), 0..16usize).prop_map(|(side, ch)| Op::Close { side, ch }),
        8 => (side(), 1..8usize).prop_map(|(from, n)| Op::Deliver { from, n }),
        2 => (0..16usize, any::<bool>()).prop_map(|(ch, want_reply)| Op::Request { ch, want_reply }),
        2 => (0..8usize, any::<bool>()).prop_map(|(pick, ok)| Op::Answer { pick, ok }),
    ]
}

#[derive(Default)]
struct Logical {
    client: Option<ChannelId>,
    server: Option<ChannelId>,
    /// Receive window of each side (client, server) and the senders' send buffer.
    windows: (u32, u32),
    written: [Vec<u8>; 2],
    read: [Vec<u8>; 2],
    closed: [bool; 2],
    eof: [bool; 2],
    requests: Vec<RequestId>,
    /// Index of the next token the server receives on this channel.
    tokens_seen: usize,
    answers: Vec<Option<bool>>,
    results: Vec<(RequestId, bool)>,
}

const SEND_BUFFER: usize = 16 * 1024;

struct World {
    pair: Pair,
    chans: Vec<Logical>,
    /// Opens the server has not seen yet, in order (indices into `chans`).
    unpaired: std::collections::VecDeque<usize>,
    tokens: Vec<(usize, usize, RequestToken)>,
    seed: u8,
}

fn idx(side: Side) -> usize {
    match side {
        Side::Client => 0,
        Side::Server => 1,
    }
}

impl World {
    fn new() -> Self {
        let mut server = Config::default();
        server.max_sessions = 1000;
        Self {
            pair: Pair::new(Config::default(), server),
            chans: Vec::new(),
            unpaired: Default::default(),
            tokens: Vec::new(),
            seed: 0,
        }
    }

    fn id(&self, side: Side, ch: usize) -> Option<(usize, ChannelId)> {
        if self.chans.is_empty() {
            return None;
        }
        let i = ch % self.chans.len();
        let l = &self.chans[i];
        let id = match side {
            Side::Client => l.client,
            Side::Server => l.server,
        }?;
        Some((i, id))
    }

    fn usage_only<T>(r: Result<T, whelk_channel::Error>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Usage, "{e}");
                None
            }
        }
    }

    fn drain_events(&mut self) {
        while let Some(ev) = self.pair.server.poll_event() {
            match ev {
                Event::OpenRequest(inc) => {
                    let i = self.unpaired.pop_front().expect("an open we sent");
                    let cfg = ChannelConfig::default()
                        .with_window(self.chans[i].windows.1)
                        .with_max_packet(1024)
                        .with_send_buffer(SEND_BUFFER);
                    let id = self.pair.server.accept(inc, cfg).unwrap();
                    self.chans[i].server = Some(id);
                }
                Event::Request { id, token, .. } => {
                    let i = self
                        .chans
                        .iter()
                        .position(|l| l.server == Some(id))
                        .unwrap();
                    if let Some(t) = token {
                        let n = self.chans[i].tokens_seen;
                        self.chans[i].tokens_seen += 1;
                        self.tokens.push((i, n, t));
                    }
                }
                _ => {}
            }
        }
        while let Some(ev) = self.pair.client.poll_event() {
            if let Event::RequestResult {
                id,
                request,
                success,
            } = ev
            {
                let i = self
                    .chans
                    .iter()
                    .position(|l| l.client == Some(id))
                    .unwrap();
                self.chans[i].results.push((request, success));
            }
        }
    }

    fn read(&mut self, side: Side, i: usize, id: ChannelId, max: usize) {
        let s = idx(side);
        while let Some(b) = self.pair.side(side).read(id, max) {
            assert!(!b.is_empty() && b.len() <= max);
            let l = &mut self.chans[i];
            l.read[s].extend_from_slice(&b);
            assert!(
                l.written[1 - s].starts_with(&l.read[s]),
                "channel {i}: read something not written"
            );
            if max < 5000 {
                break;
            }
        }
        while self.pair.side(side).read_extended(id, max).is_some() {}
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Open { window, max_packet } => {
                if self.chans.len() >= 16 {
                    return;
                }
                let cfg = ChannelConfig::default()
                    .with_window(window)
                    .with_max_packet(max_packet)
                    .with_send_buffer(SEND_BUFFER);
                let id = self
                    .pair
                    .client
                    .open(ChannelOpenKind::Session, cfg)
                    .unwrap();
                self.chans.push(Logical {
                    client: Some(id),
                    windows: (window, window.max(4096)),
                    ..Logical::default()
                });
                self.unpaired.push_back(self.chans.len() - 1);
            }
            Op::Write { side, ch, len } => {
                let Some((i, id)) = self.id(side, ch) else {
                    return;
                };
                self.seed = self.seed.wrapping_add(1);
                let data = pattern(len, self.seed);
                if let Some(n) = Self::usage_only(self.pair.side(side).write(id, &data)) {
                    self.chans[i].written[idx(side)].extend_from_slice(&data[..n]);
                }
            }
            Op::Read { side, ch, max } => {
                if let Some((i, id)) = self.id(side, ch) {
                    self.read(side, i, id, max);
                }
            }
            Op::Eof { side, ch } => {
                if let Some((i, id)) = self.id(side, ch)
                    && Self::usage_only(self.pair.side(side).eof(id)).is_some()
                {
                    self.chans[i].eof[idx(side)] = true;
                }
            }
            Op::Close { side, ch } => {
                if let Some((i, id)) = self.id(side, ch)
                    && Self::usage_only(self.pair.side(side).close(id)).is_some()
                {
                    self.chans[i].closed[idx(side)] = true;
                }
            }
            Op::Deliver { from, n } => {
                self.pair.transfer(from, n);
            }
            Op::Request { ch, want_reply } => {
                let Some((i, id)) = self.id(Side::Client, ch) else {
                    return;
                };
                let kind = if want_reply {
                    ChannelRequestKind::Shell
                } else {
                    ChannelRequestKind::WindowChange {
                        columns: 80,
                        rows: 24,
                        width_px: 0,
                        height_px: 0,
                    }
                };
                if let Some(r) = Self::usage_only(self.pair.client.request(id, kind, want_reply))
                    && want_reply
                {
                    self.chans[i].requests.push(r);
                }
            }
            Op::Answer { pick, ok } => {
                if self.tokens.is_empty() {
                    return;
                }
                let (i, n, t) = self.tokens.remove(pick % self.tokens.len());
                let answers = &mut self.chans[i].answers;
                if answers.len() <= n {
                    answers.resize(n + 1, None);
                }
                answers[n] = Some(ok);
                self.pair.server.respond(t, ok).unwrap();
            }
        }
        self.drain_events();
        self.check_bounds();
    }

    fn check_bounds(&self) {
        for l in &self.chans {
            if let Some(id) = l.client {
                assert!(self.pair.client.buffered(id) <= l.windows.0 as usize);
                assert!(self.pair.client.queued(id) <= SEND_BUFFER);
            }
            if let Some(id) = l.server {
                assert!(self.pair.server.buffered(id) <= l.windows.1 as usize);
                assert!(self.pair.server.queued(id) <= SEND_BUFFER);
            }
        }
    }

    /// Answers everything, then reads and delivers until nothing moves.
    fn settle(&mut self) {
        for _ in 0..10_000 {
            while let Some((i, n, t)) = self.tokens.pop() {
                let answers = &mut self.chans[i].answers;
                if answers.len() <= n {
                    answers.resize(n + 1, None);
                }
                answers[n] = Some(true);
                self.pair.server.respond(t, true).unwrap();
            }
            let moved = self.pair.step();
            self.drain_events();
            let before: usize = self
                .chans
                .iter()
                .map(|l| l.read[0].len() + l.read[1].len())
                .sum();
            for i in 0..self.chans.len() {
                for side in [Side::Client, Side::Server] {
                    if let Some((_, id)) = self.id(side, i) {
                        self.read(side, i, id, usize::MAX);
                    }
                }
            }
            let after: usize = self
                .chans
                .iter()
                .map(|l| l.read[0].len() + l.read[1].len())
                .sum();
            self.check_bounds();
            if !moved && before == after {
                return;
            }
        }
        panic!("livelock while settling");
    }

    fn check_final(&self) {
        for (i, l) in self.chans.iter().enumerate() {
            // Direction s -> r is complete unless the reader closed the channel.
            for s in 0..2 {
                let r = 1 - s;
                if !l.closed[r] && l.server.is_some() {
                    assert_eq!(
                        l.read[r].len(),
                        l.written[s].len(),
                        "channel {i}: data lost from side {s}"
                    );
                }
            }
            // Replies: in order, with the answers given.
            let ids: Vec<RequestId> = l.results.iter().map(|r| r.0).collect();
            assert!(
                l.requests.starts_with(&ids),
                "channel {i}: results out of order"
            );
            if !l.closed[0] && !l.closed[1] {
                assert_eq!(
                    l.results.len(),
                    l.requests.len(),
                    "channel {i}: lost results"
                );
                for (n, (_, ok)) in l.results.iter().enumerate() {
                    assert_eq!(Some(*ok), l.answers.get(n).copied().flatten());
                }
            }
        }
    }
}

proptest! {
    // 200 cases by default; PROPTEST_CASES=n for a longer run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(200),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_interleavings(ops in prop::collection::vec(op(), 1..300)) {
        let mut w = World::new();
        // Always at least two channels.
        w.apply(Op::Open { window: 8192, max_packet: 1024 });
        w.apply(Op::Open { window: 65536, max_packet: 4096 });
        for op in ops {
            w.apply(op);
        }
        w.settle();
        w.check_final();
    }
}
