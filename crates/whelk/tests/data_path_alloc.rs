//! The channel data path allocates nothing per packet in steady state: with the counting
//! allocator, a client and a server in memory move megabytes of `SSH_MSG_CHANNEL_DATA` both
//! ways (AES-GCM and chacha20-poly1305), and each side's send work (`write` +
//! `poll_transmit`: channel queue, packet encoding, padding, sealing) and receive work
//! (`handle_input` + `read`: deframing, opening, decoding, window bookkeeping, the
//! `WINDOW_ADJUST` answers) is measured on its own once the buffers have reached their
//! working size.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use bytes::BytesMut;
use rand_core::SeedableRng;
use whelk::*;
use whelk_test::alloc::{Counting, Stats, measure};

#[global_allocator]
static ALLOC: Counting = Counting;

fn rng(seed: u8) -> chacha20::ChaCha20Rng {
    chacha20::ChaCha20Rng::from_seed([seed; 32])
}

/// A client and a server with one open session channel.
struct Link {
    client: ClientConnection,
    server: ServerConnection,
    cid: ChannelId,
    sid: Option<ChannelId>,
    confirmed: bool,
    now: Instant,
    c2s: BytesMut,
    s2c: BytesMut,
}

/// What one side did while measured.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    allocations: u64,
    peak: usize,
    bytes: usize,
}

impl Tally {
    fn add(&mut self, s: Stats, bytes: usize) {
        self.allocations += s.allocations;
        self.peak = self.peak.max(s.peak);
        self.bytes += bytes;
    }
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
        let cid = client.open_session().unwrap();
        client.shell(cid).unwrap();
        let mut link = Self {
            client,
            server,
            cid,
            sid: None,
            confirmed: false,
            now,
            c2s: BytesMut::with_capacity(4 << 20),
            s2c: BytesMut::with_capacity(4 << 20),
        };
        for i in 0..200 {
            link.now = now + Duration::from_millis(10 * i);
            link.handshake_round();
            if link.sid.is_some() && link.confirmed {
                return link;
            }
        }
        panic!("session never opened");
    }

    fn handshake_round(&mut self) {
        let now = self.now;
        self.c2s.clear();
        let _ = self.client.poll_transmit(now, &mut self.c2s);
        self.server.handle_input(now, &self.c2s).unwrap();
        self.server.handle_timeout(now);
        while let Some(ev) = self.server.poll_event() {
            match ev {
                Event::AuthRequest(req) => {
                    self.server
                        .respond_auth(now, req, Decision::Accept(Grant::default()))
                        .unwrap();
                }
                Event::Channel(ChannelEvent::OpenRequest(inc)) => {
                    self.sid = Some(self.server.accept_channel(inc).unwrap());
                }
                Event::Channel(ChannelEvent::Request { token: Some(t), .. }) => {
                    self.server.respond_request(t, true).unwrap();
                }
                _ => {}
            }
        }
        self.s2c.clear();
        let _ = self.server.poll_transmit(now, &mut self.s2c);
        self.client.handle_input(now, &self.s2c).unwrap();
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

    /// Moves `rounds` rounds of data from one side to the other, `chunk` bytes per write
    /// call, measuring the sender's and the receiver's work separately (after `warm_up`
    /// unmeasured rounds).
    fn transfer(
        &mut self,
        upload: bool,
        zero_copy: bool,
        chunk: usize,
        warm_up: usize,
        rounds: usize,
    ) -> (Tally, Tally) {
        let data = vec![0xa5u8; chunk];
        let sid = self.sid.unwrap();
        let (mut send, mut recv) = (Tally::default(), Tally::default());
        for round in 0..warm_up + rounds {
            let now = self.now;
            let (tx, rx, tx_id, rx_id, wire, back): (
                &mut Connection,
                &mut Connection,
                ChannelId,
                ChannelId,
                &mut BytesMut,
                &mut BytesMut,
            ) = if upload {
                (
                    &mut self.client,
                    &mut self.server,
                    self.cid,
                    sid,
                    &mut self.c2s,
                    &mut self.s2c,
                )
            } else {
                (
                    &mut self.server,
                    &mut self.client,
                    sid,
                    self.cid,
                    &mut self.s2c,
                    &mut self.c2s,
                )
            };
            // Sender: write until the channel takes no more, then build the packets.
            wire.clear();
            let (written, s) = measure(|| {
                let mut written = 0;
                loop {
                    let n = tx.write(tx_id, &data).unwrap();
                    written += n;
                    if n < data.len() {
                        break;
                    }
                }
                let _ = tx.poll_transmit(now, wire);
                written
            });
            let sent_bytes = wire.len();
            // Receiver: open the packets, read every byte, answer with WINDOW_ADJUST.
            back.clear();
            let (read, r) = measure(|| {
                if zero_copy {
                    // Packets are opened in `wire` itself and read as views of it.
                    rx.handle_input_buf(now, wire).unwrap();
                    assert!(wire.is_empty());
                } else {
                    assert_eq!(rx.handle_input(now, wire).unwrap(), wire.len());
                }
                let mut read = 0;
                while let Some(ev) = rx.poll_event() {
                    if let Event::Channel(ChannelEvent::Data { .. }) = ev {
                        while let Some(b) = rx.read(rx_id, usize::MAX) {
                            read += b.len();
                        }
                    }
                }
                while let Some(b) = rx.read(rx_id, usize::MAX) {
                    read += b.len();
                }
                let _ = rx.poll_transmit(now, back);
                read
            });
            // The window adjustments go back to the sender (not measured).
            assert_eq!(tx.handle_input(now, back).unwrap(), back.len());
            while tx.poll_event().is_some() {}
            assert!(written > 0, "round {round}: nothing written");
            assert_eq!(read, written, "round {round}");
            if round >= warm_up {
                send.add(s, written);
                recv.add(r, sent_bytes);
            }
        }
        (send, recv)
    }
}

fn check(cipher: &str, upload: bool, chunk: usize) {
    check_with(cipher, upload, false, chunk);
    check_with(cipher, upload, true, chunk);
}

fn check_with(cipher: &str, upload: bool, zero_copy: bool, chunk: usize) {
    assert!(whelk_test::alloc::installed());
    let mut link = Link::new(cipher);
    let (send, recv) = link.transfer(upload, zero_copy, chunk, 8, 32);
    // Full 32 KiB packets (the peer's maximum packet size), some shorter at the ends.
    let packets = send.bytes / (32 * 1024);
    println!(
        "{cipher} {} zero-copy {zero_copy} chunk {chunk}: {} bytes in ~{packets} packets; send {send:?}; receive {recv:?}",
        if upload { "upload" } else { "download" },
        send.bytes
    );
    assert!(packets >= 200, "{packets} packets");
    assert_eq!(
        send.allocations, 0,
        "{cipher}: the send path allocated ({send:?})"
    );
    assert_eq!(
        recv.allocations, 0,
        "{cipher}: the receive path allocated ({recv:?})"
    );
}

#[test]
fn aes128_gcm_upload_allocates_nothing_per_packet() {
    check("aes128-gcm@openssh.com", true, 64 * 1024);
}

#[test]
fn aes256_gcm_download_allocates_nothing_per_packet() {
    check("aes256-gcm@openssh.com", false, 64 * 1024);
}

#[test]
fn chacha20_poly1305_both_ways_allocate_nothing_per_packet() {
    check("chacha20-poly1305@openssh.com", true, 16 * 1024);
    check("chacha20-poly1305@openssh.com", false, 128 * 1024);
}

/// `handle_input_buf` with the bytes arriving in pieces of every size (1 byte to several
/// packets): the data comes out whole and in order, and whatever stays in the buffer is a
/// partial packet that the next call completes.
#[test]
fn handle_input_buf_takes_any_split() {
    let mut link = Link::new("aes128-gcm@openssh.com");
    let sid = link.sid.unwrap();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let (mut off, mut got) = (0, Vec::new());
    let mut buf = BytesMut::new();
    let mut state = 0x1234_5678u32;
    let now = link.now;
    while got.len() < data.len() {
        if off < data.len() {
            off += link.client.write(link.cid, &data[off..]).unwrap();
        }
        link.c2s.clear();
        let _ = link.client.poll_transmit(now, &mut link.c2s);
        let mut wire = &link.c2s[..];
        while !wire.is_empty() {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let n = match state >> 29 {
                0 => 1,
                1 => 5,
                2 => 4096,
                _ => (state as usize >> 8) % 70_000 + 1,
            }
            .min(wire.len());
            buf.extend_from_slice(&wire[..n]);
            wire = &wire[n..];
            link.server.handle_input_buf(now, &mut buf).unwrap();
            while link.server.poll_event().is_some() {}
            while let Some(b) = link.server.read(sid, usize::MAX) {
                got.extend_from_slice(&b);
            }
        }
        link.s2c.clear();
        let _ = link.server.poll_transmit(now, &mut link.s2c);
        link.client.handle_input(now, &link.s2c).unwrap();
        while link.client.poll_event().is_some() {}
    }
    assert!(buf.is_empty(), "{} bytes left", buf.len());
    assert!(got == data, "data differs");
}
