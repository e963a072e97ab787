//! Arbitrary bytes into the SFTP server state machine after version negotiation. The oracle is
//! `whelk_sftp::fuzzing::server_input`, which `cargo test -p whelk-sftp` also runs over
//! `testdata/fuzz/sftp_server_input/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    whelk_sftp::fuzzing::server_input(data);
});
