//! The SSH wire format, without I/O and without cryptography.
//!
//! - [`types`]: the data types of RFC 4251 §5 (`string`, `mpint`, `name-list`, ...), read
//!   zero-copy from [`bytes::Bytes`] and written to any [`bytes::BufMut`].
//! - [`msg`]: a typed struct for every message of RFC 4253, 4252, 4254, 4256, 4419, 5656,
//!   8308, 8332, 8731 and OpenSSH's PROTOCOL extensions, and [`msg::Message`], their sum.
//! - [`frame`]: binary packet framing of RFC 4253 §6 (lengths, padding, limits).
//! - [`version`]: the identification exchange of RFC 4253 §4.2.
//! - [`Error`]: every rule the input can break, with the disconnect reason it maps to.
//!
//! ```
//! use bytes::Bytes;
//! use whelk_wire::msg::{ChannelData, Message, MessageBody};
//!
//! let payload = Bytes::from_static(b"\x5e\x00\x00\x00\x07\x00\x00\x00\x05hello");
//! let Message::ChannelData(data) = Message::decode(&payload)? else { unreachable!() };
//! assert_eq!(data.recipient, 7);
//! assert_eq!(&data.data[..], b"hello");
//! // The data is a view of the payload, not a copy.
//! assert_eq!(data.data.as_ptr(), payload[9..].as_ptr());
//!
//! let mut out = Vec::new();
//! ChannelData { recipient: 7, data: Bytes::from_static(b"hello") }.encode(&mut out);
//! assert_eq!(out, payload);
//! # Ok::<(), whelk_wire::Error>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod error;
pub mod frame;
pub mod msg;
pub mod names;
pub mod types;
pub mod version;

#[doc(hidden)]
pub mod fuzzing;

pub use error::{Error, NameRule, Result};
