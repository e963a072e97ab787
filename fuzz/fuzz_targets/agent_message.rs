//! Arbitrary bytes into the agent message parsers (request and reply) and a server
//! connection's byte stream, whole and in two pieces. The oracle is
//! `whelk_agent::fuzzing::agent_message`, which `cargo test -p whelk-agent` also runs over
//! `testdata/fuzz/agent_message/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    whelk_agent::fuzzing::agent_message(data);
});
