//! State × message matrix (catalog §6.2, libssh's `torture_packet_filter` idea): for each
//! role of whelk (the victim) and each protocol state, the hostile peer sends a minimal
//! well-formed instance of every message number 0..=255. Each is either explicitly allowed
//! or ends in the documented disconnect (PROTOCOL_ERROR, or KEY_EXCHANGE_FAILED for a kex
//! message whose content the running exchange rejects) or an UNIMPLEMENTED reply carrying
//! the packet's sequence number; a refused message never reaches the application (no
//! authentication, channel or credential event after it). The rules are in
//! docs/security.md ("State × message matrix").
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::matrix::*;
use common::*;

matrix_tests! {
    matrix_server_before_kex: true, State::BeforeKex;
    matrix_server_strict_initial_kex: true, State::StrictInitialKex;
    matrix_server_after_newkeys: true, State::AfterNewKeys;
    matrix_server_userauth: true, State::Userauth;
    matrix_server_authenticated: true, State::Authenticated;
    matrix_server_rekey: true, State::Rekey;
}

#[test]
fn matrix_covers_every_state() {
    assert_eq!(STATES.len(), 6);
}
