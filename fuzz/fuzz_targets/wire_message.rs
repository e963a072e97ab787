//! Decodes one message payload (first byte: the context selector) and checks the round trip.
//! The oracle is `whelk_wire::fuzzing::message`, which `cargo test` also runs over
//! `testdata/fuzz/wire_message/` (docs/fuzzing.md).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    whelk_wire::fuzzing::message(data);
});
