//! In-memory client <-> server driver with a virtual clock.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod openssh;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand_core::SeedableRng;
use whelk_auth::*;
use whelk_keys::PrivateKey;
use whelk_wire::msg::{Context, Message};
use zeroize::Zeroizing;

pub const SESSION_ID: [u8; 32] = [0x5a; 32];
pub const NOW_UNIX: u64 = 1_750_000_000;

pub fn rng(seed: u8) -> chacha20::ChaCha20Rng {
    chacha20::ChaCha20Rng::from_seed([seed; 32])
}

pub fn keys_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/keys")
}

pub fn fixture_key(name: &str) -> PrivateKey {
    let text = std::fs::read_to_string(keys_dir().join(name)).unwrap();
    PrivateKey::from_openssh(&text, None).unwrap()
}

pub fn ed25519(seed: u8) -> PrivateKey {
    PrivateKey::ed25519_from_seed(&[seed; 32])
}

pub fn host_key_blob() -> Bytes {
    Bytes::copy_from_slice(ed25519(200).public_key().blob())
}

/// Re-encodes a message and decodes it with the receiver's context (what the transport does).
pub fn wire(m: &Message, ctx: Option<whelk_wire::msg::AuthFamily>) -> Message {
    let bytes = m.to_bytes().unwrap();
    Message::decode_with(
        &bytes,
        Context {
            kex: None,
            auth: ctx,
        },
    )
    .unwrap()
}

pub type Decider = Box<dyn FnMut(&AuthRequest) -> Decision>;
pub type Answerer = Box<dyn FnMut(&PromptKind) -> Answer>;

/// Log of what crossed the wire and what the sides saw.
#[derive(Debug, Default)]
pub struct Log {
    pub to_server: Vec<Message>,
    pub to_client: Vec<(Duration, Message)>,
    pub requests: Vec<String>,
    pub prompts: Vec<PromptKind>,
    pub banners: Vec<String>,
    pub partial: usize,
}

pub struct Pair {
    pub client: ClientAuth,
    pub server: ServerAuth,
    pub start: Instant,
    pub now: Instant,
    pub decide: Decider,
    pub answer: Answerer,
    pub log: Log,
    pub client_error: Option<Error>,
    pub server_error: Option<Error>,
}

pub fn client_config(user: &str) -> ClientConfig {
    ClientConfig {
        user: user.into(),
        ..ClientConfig::default()
    }
}

impl Pair {
    pub fn new(client: ClientConfig, server: ServerConfig) -> Self {
        let start = Instant::now();
        let server = ServerAuth::new(
            server,
            Bytes::from_static(&SESSION_ID),
            host_key_blob(),
            start,
        );
        let client = ClientAuth::new(
            client,
            Bytes::from_static(&SESSION_ID),
            Some(host_key_blob()),
        );
        Self {
            client,
            server,
            start,
            now: start,
            decide: Box::new(|_| Decision::Reject),
            answer: Box::new(|_| Answer::Skip),
            log: Log::default(),
            client_error: None,
            server_error: None,
        }
    }

    pub fn decide(mut self, f: impl FnMut(&AuthRequest) -> Decision + 'static) -> Self {
        self.decide = Box::new(f);
        self
    }

    pub fn answer(mut self, f: impl FnMut(&PromptKind) -> Answer + 'static) -> Self {
        self.answer = Box::new(f);
        self
    }

    pub fn password(self, p: &'static str) -> Self {
        self.answer(move |k| match k {
            PromptKind::Password => Answer::Password(Zeroizing::new(p.into())),
            _ => Answer::Skip,
        })
    }

    /// Sends a raw message to the server as if the client had.
    pub fn inject_to_server(&mut self, m: Message) {
        let m = wire(&m, self.server.context());
        if let Err(e) = self.server.handle_message(self.now, m) {
            self.server_error.get_or_insert(e);
        }
    }

    /// One round; returns whether anything happened.
    pub fn step(&mut self) -> bool {
        let mut progress = false;
        while let Some(m) = self.client.poll_transmit() {
            progress = true;
            self.log.to_server.push(m.clone());
            let m = wire(&m, self.server.context());
            if let Err(e) = self.server.handle_message(self.now, m) {
                self.server_error.get_or_insert(e);
            }
        }
        while let Some(ev) = self.server.poll_event() {
            progress = true;
            match ev {
                ServerEvent::Request(req) => {
                    self.log
                        .requests
                        .push(format!("{}:{:?}", req.user, req.kind.method()));
                    let d = (self.decide)(&req);
                    match self.server.respond(self.now, req, d) {
                        Ok(()) | Err(Error::StaleToken) => {}
                        Err(e) => {
                            self.server_error.get_or_insert(e);
                        }
                    }
                }
                ServerEvent::Authenticated(_) => {}
                _ => {}
            }
        }
        while let Some(m) = self.server.poll_transmit(self.now) {
            progress = true;
            self.log.to_client.push((self.now - self.start, m.clone()));
            let m = wire(&m, self.client.context());
            if let Err(e) = self.client.handle_message(m) {
                self.client_error.get_or_insert(e);
            }
        }
        while let Some(ev) = self.client.poll_event() {
            progress = true;
            match ev {
                ClientEvent::Banner(b) => self.log.banners.push(b),
                ClientEvent::Credentials(req) => {
                    self.log.prompts.push(req.kind.clone());
                    let a = (self.answer)(&req.kind);
                    if let Err(e) = self.client.respond(req, a) {
                        self.client_error.get_or_insert(e);
                    }
                }
                ClientEvent::PartialSuccess { .. } => self.log.partial += 1,
                ClientEvent::Authenticated { .. } => {}
                _ => {}
            }
        }
        progress
    }

    /// Drives to quiescence (jumping the clock to held-back replies), bounded.
    pub fn run(&mut self) {
        self.client.start().unwrap();
        self.drive();
    }

    pub fn drive(&mut self) {
        for _ in 0..10_000 {
            if self.step() {
                continue;
            }
            // Jump to held-back replies (never to the login grace deadline here).
            match self.server.poll_timeout() {
                Some(t) if t > self.now && t - self.start < Duration::from_secs(100) => {
                    self.now = t
                }
                _ => return,
            }
        }
        panic!("livelock");
    }

    pub fn authenticated(&self) -> bool {
        self.client.is_authenticated() && self.server.is_authenticated()
    }

    pub fn outcome(&self) -> &Authenticated {
        self.server.outcome().unwrap()
    }
}

pub fn accept() -> Decision {
    Decision::Accept(Grant::default())
}
