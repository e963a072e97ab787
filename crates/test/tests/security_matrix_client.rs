//! State × message matrix, whelk as client (the rules are in `common/matrix.rs`; whelk as
//! server is `security_matrix.rs`).
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
    matrix_client_before_kex: false, State::BeforeKex;
    matrix_client_strict_initial_kex: false, State::StrictInitialKex;
    matrix_client_after_newkeys: false, State::AfterNewKeys;
    matrix_client_userauth: false, State::Userauth;
    matrix_client_authenticated: false, State::Authenticated;
    matrix_client_rekey: false, State::Rekey;
}
