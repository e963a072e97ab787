//! Reads an identification exchange in both roles, whole and byte by byte.
//! The oracle is `whelk_wire::fuzzing::version`, which `cargo test` also runs over
//! `testdata/fuzz/wire_version/` (docs/fuzzing.md).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    whelk_wire::fuzzing::version(data);
});
