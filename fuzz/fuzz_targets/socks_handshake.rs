//! Runs a SOCKS 4/4a/5 server handshake over the input, whole, byte by byte and in two
//! pieces. The oracle is `whelk::socks::fuzzing::handshake`, which `cargo test` also runs
//! over `testdata/fuzz/socks_handshake/` (docs/fuzzing.md).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    whelk::socks::fuzzing::handshake(data);
});
