//! Seal + open throughput for 32 KiB payloads, per algorithm, next to the raw RustCrypto
//! primitives doing the same cryptographic work in the same run (docs/benchmarks.md).
//!
//! Rows per algorithm (`benches/support/mod.rs`):
//! - `raw/…`: the RustCrypto crates alone, encrypting + authenticating 32 KiB, then
//!   verifying + decrypting it (what seal + open cannot avoid);
//! - `ssh/…`: `PacketSealer::seal` then `PacketOpener::open_length` + `open`, in place on one
//!   buffer (the packet is plaintext again after `open`, so no copy is needed between rounds);
//! - `pipeline/…`: the full path a transport takes: `start_packet`, copy the payload in,
//!   `finish_packet` (random padding), `seal`, then `Deframer::next_packet` handing out the
//!   payload as `Bytes`.
//!
//! Run: `cargo bench -p whelk-cipher --bench seal_open -- --warm-up-time 1 --measurement-time 2`
//! (and `--bench ratio` for the interleaved SSH/raw ratio, which is robust on a busy machine).
#![allow(missing_docs, clippy::unwrap_used)]

mod support;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("seal_open_32k");
    g.throughput(Throughput::Bytes(support::PAYLOAD as u64));
    for mut case in support::cases() {
        if let Some((name, raw)) = case.raw.as_mut() {
            g.bench_function(format!("raw/{name} ({})", case.name), |b| b.iter(&mut *raw));
        }
        g.bench_function(format!("ssh/{}", case.name), |b| b.iter(&mut case.ssh));
        g.bench_function(format!("pipeline/{}", case.name), |b| {
            b.iter(&mut case.pipeline);
        });
    }
    g.finish();
}

criterion_group!(group, benches);
criterion_main!(group);
