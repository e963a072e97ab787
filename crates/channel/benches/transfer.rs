//! Throughput of one channel between two `Channels` in memory: `write` 1 MiB, then
//! `poll_transmit` -> `handle_message` -> `read` until it has all arrived, window adjusts
//! flowing back. `direct` hands the `Message` values across; `wire` encodes and decodes each
//! one as the transport would (a copy per packet, as encryption would make anyway).
//!
//! `cargo bench -p whelk-channel --bench transfer`
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use whelk_channel::{ChannelConfig, ChannelId, Channels, Config, Event, Role};
use whelk_wire::msg::{ChannelOpenKind, Message};

const TOTAL: usize = 1024 * 1024;

fn pass(from: &mut Channels, to: &mut Channels, wire: bool) {
    while let Some(m) = from.poll_transmit() {
        let m = if wire {
            Message::decode(&m.to_bytes().unwrap()).unwrap()
        } else {
            m
        };
        to.handle_message(m).unwrap();
    }
}

fn setup() -> (Channels, Channels, ChannelId, ChannelId) {
    let mut c = Channels::new(Role::Client, Config::default());
    let mut s = Channels::new(Role::Server, Config::default());
    let cid = c
        .open(ChannelOpenKind::Session, ChannelConfig::default())
        .unwrap();
    pass(&mut c, &mut s, false);
    let Some(Event::OpenRequest(inc)) = s.poll_event() else {
        panic!()
    };
    let sid = s.accept(inc, ChannelConfig::default()).unwrap();
    pass(&mut s, &mut c, false);
    while c.poll_event().is_some() {}
    (c, s, cid, sid)
}

fn transfer(
    c: &mut Channels,
    s: &mut Channels,
    cid: ChannelId,
    sid: ChannelId,
    data: &[u8],
    wire: bool,
) {
    let mut written = 0;
    let mut read = 0;
    while read < TOTAL {
        if written < TOTAL {
            written += c.write(cid, &data[written..]).unwrap();
        }
        pass(c, s, wire);
        while let Some(b) = s.read(sid, usize::MAX) {
            read += black_box(b).len();
        }
        pass(s, c, wire);
        while s.poll_event().is_some() {}
        while c.poll_event().is_some() {}
    }
}

fn bench(cr: &mut Criterion) {
    let data = vec![0x5au8; TOTAL];
    let mut g = cr.benchmark_group("channel_transfer_1MiB");
    g.throughput(Throughput::Bytes(TOTAL as u64));
    for (name, wire) in [("direct", false), ("wire", true)] {
        let (mut c, mut s, cid, sid) = setup();
        g.bench_function(name, |b| {
            b.iter(|| transfer(&mut c, &mut s, cid, sid, &data, wire));
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
