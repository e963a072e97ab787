//! Decode + encode throughput of a `SSH_MSG_CHANNEL_DATA` payload carrying 32 KiB.
//!
//! `cargo bench -p whelk-wire --bench channel_data`
#![allow(missing_docs, clippy::unwrap_used)]

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use whelk_wire::msg::{ChannelData, Message, MessageBody};

fn channel_data(c: &mut Criterion) {
    let data = Bytes::from(vec![0xa5u8; 32 * 1024]);
    let msg = ChannelData { recipient: 3, data };
    let mut payload = BytesMut::new();
    msg.encode(&mut payload);
    let payload = payload.freeze();

    let mut g = c.benchmark_group("channel_data_32k");
    g.throughput(Throughput::Bytes(payload.len() as u64));
    g.bench_function("decode", |b| {
        b.iter(|| {
            let Message::ChannelData(d) = Message::decode(black_box(&payload)).unwrap() else {
                unreachable!()
            };
            black_box(d.data.len())
        });
    });
    let mut out = BytesMut::with_capacity(payload.len() + 64);
    g.bench_function("decode_encode", |b| {
        b.iter(|| {
            let m = Message::decode(black_box(&payload)).unwrap();
            out.clear();
            m.encode(&mut out).unwrap();
            black_box(out.len())
        });
    });
    g.finish();
}

criterion_group!(benches, channel_data);
criterion_main!(benches);
