//! SSH layer vs raw primitive, interleaved: short bursts of each alternate many times, so a
//! busy machine slows both alike, and the median per-round ratio is reported. Prints a
//! Markdown table (docs/benchmarks.md).
//!
//! Run: `cargo bench -p whelk-cipher --bench ratio`
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::indexing_slicing
)]

mod support;

use std::time::{Duration, Instant};

const ROUNDS: usize = 101;
const BURST: usize = 32;

fn time(work: &mut dyn FnMut(), n: usize) -> Duration {
    let t = Instant::now();
    for _ in 0..n {
        work();
    }
    t.elapsed()
}

fn mib_s(d: Duration, n: usize) -> f64 {
    (support::PAYLOAD * n) as f64 / d.as_secs_f64() / (1024.0 * 1024.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    println!(
        "| algorithm | raw primitive | raw MiB/s | ssh MiB/s | ssh / raw | pipeline MiB/s | pipeline / raw | target |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---|");
    for mut case in support::cases() {
        for _ in 0..BURST {
            (case.ssh)();
            (case.pipeline)();
        }
        let Some((raw_name, raw)) = case.raw.as_mut() else {
            let ssh: Vec<f64> = (0..ROUNDS / 4)
                .map(|_| mib_s(time(&mut case.ssh, BURST), BURST))
                .collect();
            let pipe: Vec<f64> = (0..ROUNDS / 4)
                .map(|_| mib_s(time(&mut case.pipeline, BURST), BURST))
                .collect();
            println!(
                "| {} | – | – | {:.0} | – | {:.0} | – | – |",
                case.name,
                median(ssh),
                median(pipe)
            );
            continue;
        };
        for _ in 0..BURST {
            raw();
        }
        let (mut r, mut s, mut p, mut rs, mut rp) = (vec![], vec![], vec![], vec![], vec![]);
        for round in 0..ROUNDS {
            // Alternate the order so neither side always runs first.
            let (tr, ts, tp) = if round % 2 == 0 {
                let tr = time(raw, BURST);
                let ts = time(&mut case.ssh, BURST);
                let tp = time(&mut case.pipeline, BURST);
                (tr, ts, tp)
            } else {
                let tp = time(&mut case.pipeline, BURST);
                let ts = time(&mut case.ssh, BURST);
                let tr = time(raw, BURST);
                (tr, ts, tp)
            };
            r.push(mib_s(tr, BURST));
            s.push(mib_s(ts, BURST));
            p.push(mib_s(tp, BURST));
            rs.push(tr.as_secs_f64() / ts.as_secs_f64());
            rp.push(tr.as_secs_f64() / tp.as_secs_f64());
        }
        let (ratio_s, ratio_p) = (median(rs), median(rp));
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.1} % | {:.0} | {:.1} % | {} |",
            case.name,
            raw_name,
            median(r),
            median(s),
            ratio_s * 100.0,
            median(p),
            ratio_p * 100.0,
            if !case.target {
                "–"
            } else if ratio_s >= 0.9 {
                "≥ 90 %: met"
            } else {
                "≥ 90 %: NOT met"
            }
        );
    }
}
