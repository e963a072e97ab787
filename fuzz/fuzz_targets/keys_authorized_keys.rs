//! whelk-keys: `whelk_keys::fuzzing::authorized_keys`, which `cargo test -p whelk-keys --test fuzz_corpus`
//! also runs over `testdata/fuzz/keys_authorized_keys/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    whelk_keys::fuzzing::authorized_keys(data);
});
