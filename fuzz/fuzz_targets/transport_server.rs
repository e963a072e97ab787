//! A whelk server transport fed arbitrary bytes after a valid identification line (the first
//! byte picks the chunk size). The oracle is `whelk_transport::fuzzing::server` (never panics,
//! errors latch), which `cargo test -p whelk-transport --test fuzz_corpus` also runs over
//! `testdata/fuzz/transport_server/` (captured sessions that replay into the encrypted phase).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = whelk_transport::fuzzing::server(data);
});
