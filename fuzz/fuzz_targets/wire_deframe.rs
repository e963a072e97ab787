//! Splits a byte stream into unencrypted packets, whole and in pieces, and checks they agree.
//! The oracle is `whelk_wire::fuzzing::deframe`, which `cargo test` also runs over
//! `testdata/fuzz/wire_deframe/` (docs/fuzzing.md).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    whelk_wire::fuzzing::deframe(data);
});
