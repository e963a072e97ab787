//! The `whelk server` fixtures, now in `common/mod.rs`; kept for test files that still
//! include this file with `#[path = "server_support.rs"] mod support;`.
#![allow(unused_imports, unreachable_pub)]

#[path = "common/mod.rs"]
mod common;

pub use common::*;
