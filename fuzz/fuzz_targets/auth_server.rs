//! Arbitrary client messages into the server authentication state machine. The oracle is
//! `whelk_auth::fuzzing::server`, which `cargo test -p whelk-auth` also runs over
//! `testdata/fuzz/auth_server/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    whelk_auth::fuzzing::server(data);
});
