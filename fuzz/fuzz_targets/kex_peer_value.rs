//! Arbitrary peer public values for every key exchange method, on both sides: the server
//! gets a hostile client value, the client a hostile server reply (or group exchange group).
//! The oracle is `whelk_kex::fuzzing::kex_peer_value` (never panics), which `cargo test`
//! also runs over `testdata/fuzz/kex_peer_value/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    whelk_kex::fuzzing::kex_peer_value(data);
});
