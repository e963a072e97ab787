//! Random bytes through the opening path (Deframer + PacketOpener + zlib inflate) of every
//! cipher x MAC pair under fixed keys: must never panic, never ask for more than the packet
//! limit, never inflate past the cap. The oracle is `whelk_cipher::fuzzing::open`, which
//! `cargo test -p whelk-cipher --test fuzz_corpus` also runs over `testdata/fuzz/cipher_open/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    whelk_cipher::fuzzing::open(data);
});
