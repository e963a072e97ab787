//! Parses arbitrary text as an ssh_config (both passes) and as an sshd_config (with and
//! without a connection), with an in-memory file source for `Include`. It must never panic.
//! The body is `whelk_config::fuzzing::parse`, which `cargo test` also runs over
//! `testdata/fuzz/config_parse/` (crates/config/tests/fuzz_corpus.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    whelk_config::fuzzing::parse(data);
});
