//! Session data through the whole sans-IO stack, in memory: a client writes into a session
//! channel, the bytes go through channel framing, packet sealing, the peer's deframing,
//! opening and channel bookkeeping, and the server reads them out (its reads re-open the
//! window). This is the per-byte work of a connection without sockets or a runtime.
//!
//! `cargo bench -p whelk --bench session_data -- --warm-up-time 1 --measurement-time 3`
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand_core::SeedableRng;
use whelk::*;

fn rng(seed: u8) -> chacha20::ChaCha20Rng {
    chacha20::ChaCha20Rng::from_seed([seed; 32])
}

/// A client and a server with one open session channel, `exec` answered.
struct Link {
    client: ClientConnection,
    server: ServerConnection,
    id: ChannelId,
    server_id: Option<ChannelId>,
    confirmed: bool,
    now: Instant,
    c2s: BytesMut,
    s2c: BytesMut,
}

impl Link {
    fn new(cipher: &str) -> Self {
        let now = Instant::now();
        let host_key = PrivateKey::ed25519_from_seed(&[7; 32]);
        let mut cc = ClientConfig::new("alice");
        cc.algorithms().ciphers = vec![cipher.to_string()];
        let mut sc = ServerConfig::new(vec![host_key]);
        sc.algorithms().ciphers = vec![cipher.to_string()];
        let mut client = ClientConnection::new(cc, rng(1), now).unwrap();
        let server = ServerConnection::new(sc, rng(2), now).unwrap();
        let id = client.open_session().unwrap();
        client.exec(id, b"cat > /dev/null").unwrap();
        let mut link = Self {
            client,
            server,
            id,
            server_id: None,
            confirmed: false,
            now,
            c2s: BytesMut::with_capacity(1 << 20),
            s2c: BytesMut::with_capacity(1 << 20),
        };
        for i in 0..200 {
            link.now = now + Duration::from_millis(10 * i);
            link.pump(&mut 0);
            if link.server_id.is_some() && link.confirmed {
                break;
            }
        }
        assert!(link.server_id.is_some(), "session never opened");
        link
    }

    /// One round of moving bytes both ways and answering events; counts bytes the server read.
    fn pump(&mut self, read: &mut usize) {
        let now = self.now;
        self.c2s.clear();
        let _ = self.client.poll_transmit(now, &mut self.c2s);
        if !self.c2s.is_empty() {
            let n = self.server.handle_input(now, &self.c2s).unwrap();
            assert_eq!(n, self.c2s.len());
        }
        self.server.handle_timeout(now);
        while let Some(ev) = self.server.poll_event() {
            match ev {
                Event::AuthRequest(req) => {
                    let ok = matches!(&req.kind, RequestKind::Password { password, .. }
                        if password.as_slice() == b"pw");
                    let d = if ok {
                        Decision::Accept(Grant::default())
                    } else {
                        Decision::Reject
                    };
                    self.server.respond_auth(now, req, d).unwrap();
                }
                Event::Channel(ChannelEvent::OpenRequest(inc)) => {
                    self.server_id = Some(self.server.accept_channel(inc).unwrap());
                }
                Event::Channel(ChannelEvent::Request { token: Some(t), .. }) => {
                    self.server.respond_request(t, true).unwrap();
                }
                Event::Channel(ChannelEvent::Data { id }) => {
                    while let Some(b) = self.server.read(id, usize::MAX) {
                        *read += black_box(b.len());
                    }
                }
                _ => {}
            }
        }
        self.s2c.clear();
        let _ = self.server.poll_transmit(now, &mut self.s2c);
        if !self.s2c.is_empty() {
            self.client.handle_input(now, &self.s2c).unwrap();
        }
        while let Some(ev) = self.client.poll_event() {
            match ev {
                Event::HostKey(check) => self
                    .client
                    .respond_host_key(check, HostKeyDecision::Accept)
                    .unwrap(),
                Event::Credentials(req) => self
                    .client
                    .respond_credentials(req, Answer::Password("pw".to_string().into()))
                    .unwrap(),
                Event::Channel(ChannelEvent::OpenConfirmed { .. }) => self.confirmed = true,
                _ => {}
            }
        }
    }

    /// Sends `data.len() * rounds` bytes from the client and waits until the server read them.
    fn send(&mut self, data: &[u8], rounds: usize) {
        let total = data.len() * rounds;
        let (mut sent, mut read, mut off) = (0, 0, 0);
        while read < total {
            while sent < total {
                let n = self.client.write(self.id, &data[off..]).unwrap();
                if n == 0 {
                    break;
                }
                sent += n;
                off = (off + n) % data.len();
            }
            self.pump(&mut read);
        }
    }
}

fn bench(c: &mut Criterion) {
    let data = vec![0x5au8; 1 << 20];
    let mut g = c.benchmark_group("session_data");
    g.throughput(Throughput::Bytes(data.len() as u64 * 8));
    for cipher in [
        "aes128-gcm@openssh.com",
        "aes256-gcm@openssh.com",
        "chacha20-poly1305@openssh.com",
        "aes128-ctr",
    ] {
        let mut link = Link::new(cipher);
        g.bench_function(cipher.split('@').next().unwrap(), |b| {
            b.iter(|| link.send(&data, 8));
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
