//! whelk on `std::net`: a blocking SSH client and server driving the sans-IO
//! [`whelk`] connections (threads where concurrency is needed).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
