//! Arbitrary server messages into the client authentication state machine. The oracle is
//! `whelk_auth::fuzzing::client`, which `cargo test -p whelk-auth` also runs over
//! `testdata/fuzz/auth_client/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    whelk_auth::fuzzing::client(data);
});
