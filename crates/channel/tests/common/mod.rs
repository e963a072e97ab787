//! `Pair`: a client and a server `Channels` wired together in memory. Every message crosses
//! through `Message::encode` / `Message::decode`, so the wire format is exercised too.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use bytes::Bytes;
use whelk_channel::{ChannelConfig, ChannelId, Channels, Config, Event, Role};
use whelk_wire::msg::{ChannelOpenKind, Message};

/// Steps after which `drive` declares a livelock.
pub const MAX_STEPS: usize = 10_000;

/// Encodes and decodes a message, as the transport would.
pub fn wire(msg: &Message) -> Message {
    let bytes = msg.to_bytes().unwrap();
    Message::decode(&bytes).unwrap()
}

/// Which side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

pub struct Pair {
    pub client: Channels,
    pub server: Channels,
    /// Messages delivered so far, per direction (client to server, server to client).
    pub delivered: [usize; 2],
}

impl Default for Pair {
    fn default() -> Self {
        Self::new(Config::default(), Config::default())
    }
}

impl Pair {
    pub fn new(client: Config, server: Config) -> Self {
        Self {
            client: Channels::new(Role::Client, client),
            server: Channels::new(Role::Server, server),
            delivered: [0, 0],
        }
    }

    pub fn side(&mut self, side: Side) -> &mut Channels {
        match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        }
    }

    /// Moves at most `max` messages from `from` to the other side; returns how many moved.
    /// Any error on the receiving side fails the test: two honest sides never trip each other.
    pub fn transfer(&mut self, from: Side, max: usize) -> usize {
        let (src, dst, slot) = match from {
            Side::Client => (&mut self.client, &mut self.server, 0),
            Side::Server => (&mut self.server, &mut self.client, 1),
        };
        let mut n = 0;
        while n < max {
            let Some(msg) = src.poll_transmit() else {
                break;
            };
            dst.handle_message(wire(&msg))
                .unwrap_or_else(|e| panic!("{from:?} -> peer: {e} (message {msg:?})"));
            n += 1;
        }
        self.delivered[slot] += n;
        n
    }

    /// One round: everything the client has to send, then everything the server has.
    pub fn step(&mut self) -> bool {
        let a = self.transfer(Side::Client, usize::MAX);
        let b = self.transfer(Side::Server, usize::MAX);
        a + b > 0
    }

    /// Steps until neither side has anything to send; panics on livelock.
    pub fn drive(&mut self) {
        for _ in 0..MAX_STEPS {
            if !self.step() {
                return;
            }
        }
        panic!("livelock: still sending after {MAX_STEPS} steps");
    }

    pub fn events(&mut self, side: Side) -> Vec<Event> {
        let ch = self.side(side);
        std::iter::from_fn(|| ch.poll_event()).collect()
    }

    /// Opens a channel from `opener` and accepts it on the other side.
    pub fn open_with(
        &mut self,
        opener: Side,
        kind: ChannelOpenKind,
        opener_cfg: ChannelConfig,
        acceptor_cfg: ChannelConfig,
    ) -> (ChannelId, ChannelId) {
        let other = other(opener);
        let id = self.side(opener).open(kind, opener_cfg).unwrap();
        self.drive();
        let incoming = self
            .events(other)
            .into_iter()
            .find_map(|e| match e {
                Event::OpenRequest(i) => Some(i),
                _ => None,
            })
            .expect("open request");
        let peer = self.side(other).accept(incoming, acceptor_cfg).unwrap();
        self.drive();
        let evs = self.events(opener);
        assert!(
            evs.iter()
                .any(|e| matches!(e, Event::OpenConfirmed { id: i } if *i == id)),
            "{evs:?}"
        );
        (id, peer)
    }

    /// A session from the client, default settings: (client id, server id).
    pub fn session(&mut self) -> (ChannelId, ChannelId) {
        self.open_with(
            Side::Client,
            ChannelOpenKind::Session,
            ChannelConfig::default(),
            ChannelConfig::default(),
        )
    }

    /// Reads everything buffered on a channel.
    pub fn read_all(&mut self, side: Side, id: ChannelId) -> Vec<u8> {
        let ch = self.side(side);
        let mut out = Vec::new();
        while let Some(b) = ch.read(id, usize::MAX) {
            out.extend_from_slice(&b);
        }
        out
    }
}

pub fn other(side: Side) -> Side {
    match side {
        Side::Client => Side::Server,
        Side::Server => Side::Client,
    }
}

/// A deterministic byte pattern.
pub fn pattern(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| {
            u8::try_from(i % 256)
                .unwrap()
                .wrapping_mul(31)
                .wrapping_add(seed)
        })
        .collect::<Vec<u8>>()
        .into()
}
