//! Runs the X11 connection-setup rewriter of client X11 forwarding over the input, whole,
//! byte by byte and in two pieces. The oracle is `whelk::x11::fuzzing::setup`, which
//! `cargo test` also runs over `testdata/fuzz/x11_setup/` (docs/fuzzing.md).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    whelk::x11::fuzzing::setup(data);
});
