//! State × message matrix, whelk as client (the rules are in `common/matrix.rs`; whelk as
//! server is `security_matrix.rs`).
//!
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

macro_rules! matrix_tests {
    ($($name:ident: $server:expr, $state:expr;)*) => {
        $(#[test] fn $name() { matrix($server, $state); })*
    };
}

matrix_tests! {
    matrix_client_before_kex: false, State::BeforeKex;
    matrix_client_strict_initial_kex: false, State::StrictInitialKex;
    matrix_client_after_newkeys: false, State::AfterNewKeys;
    matrix_client_userauth: false, State::Userauth;
    matrix_client_authenticated: false, State::Authenticated;
    matrix_client_rekey: false, State::Rekey;
}
