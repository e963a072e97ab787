//! whelk-keys: `whelk_keys::fuzzing::verify`, which `cargo test -p whelk-keys --test fuzz_corpus`
//! also runs over `testdata/fuzz/keys_verify/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    whelk_keys::fuzzing::verify(data);
});
