//! Drives two `whelk_channel::Channels` (one per role) with application commands chosen from
//! the input, message delivery between them through the wire encoding, and arbitrary messages
//! (`Message::decode` of input bytes) injected into one side. The oracle is
//! `whelk_channel::fuzzing::channel_ops`, which `cargo test -p whelk-channel` also runs over
//! `testdata/fuzz/channel_ops/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    whelk_channel::fuzzing::channel_ops(data);
});
