//! SSH packet protection, MACs and compression, without I/O (whelk issue 3).
//!
//! - Ciphers: `chacha20-poly1305@openssh.com`, `aes128-gcm@openssh.com`,
//!   `aes256-gcm@openssh.com`, `aes{128,192,256}-ctr`; legacy and off by default:
//!   `aes{128,192,256}-cbc`, `3des-cbc`, `none`.
//! - MACs: `umac-64@openssh.com`, `umac-128@openssh.com` (UMAC with AES-128, RFC 4418),
//!   `hmac-sha2-256`, `hmac-sha2-512`, `hmac-sha1`, and their `-etm@openssh.com` forms;
//!   legacy and off by default: `hmac-sha1-96`, `hmac-md5`, `hmac-md5-etm@openssh.com`, `none`.
//! - Compression: `none`, `zlib@openssh.com` (delayed until after authentication), `zlib`
//!   (off by default).
//!
//! The [`registry`] maps names to algorithms, with their key/IV/MAC sizes, the default
//! preference order (modern OpenSSH's) and the set that is off unless configured.
//!
//! # Sealing and opening
//!
//! A [`PacketSealer`] encrypts a packet in place inside the caller's output buffer and
//! appends the MAC or tag: build the packet with [`whelk_wire::frame::start_packet`] /
//! [`whelk_wire::frame::finish_packet`] using the sealer's [`PacketSealer::alignment`] (the
//! block size, and whether the length field counts towards it), then call
//! [`PacketSealer::seal`]. A [`PacketOpener`] works in two steps: [`PacketOpener::open_length`]
//! learns `packet_length` from the first bytes (in clear for AEAD and EtM, with the length key
//! for chacha20-poly1305, by decrypting the first block otherwise) so the caller can check it
//! against the limit before buffering the rest; [`PacketOpener::open`] then verifies the tag or
//! MAC, decrypts in place and checks the padding. [`Deframer`] combines the two steps over a
//! receive buffer and hands out payloads as [`bytes::Bytes`] views of it, without copying.
//!
//! ```
//! use bytes::{BufMut, BytesMut};
//! use rand_core::SeedableRng;
//! use whelk_cipher::{Deframer, Keys, registry};
//! use whelk_wire::frame::{PacketLimits, finish_packet, start_packet};
//!
//! // Keys come from the key exchange; fixed here.
//! let alg = registry::cipher_by_name("aes256-gcm@openssh.com").unwrap();
//! let keys = Keys { key: &[7; 32], iv: &[9; 12], mac_key: &[] };
//! let mut sealer = alg.sealer(None, &keys)?;
//! let opener = alg.opener(None, &keys)?;
//!
//! // Seal one packet (sequence number 3) straight into the output buffer.
//! let mut rng = chacha20::ChaCha20Rng::seed_from_u64(1);
//! let mut out = BytesMut::new();
//! let start = start_packet(&mut out);
//! out.put_slice(b"\x02\x00\x00\x00\x05hello"); // SSH_MSG_IGNORE "hello"
//! let packet = finish_packet(&mut out, start, sealer.alignment(), &mut rng)?;
//! sealer.seal(3, &mut out, packet)?;
//! assert_eq!(out.len() % 16, (4 + 16) % 16); // clear length + aligned body + tag
//!
//! // Open it on the other side, fed one byte at a time.
//! let mut deframer = Deframer::new(opener, PacketLimits::default());
//! let mut inbound = BytesMut::new();
//! let mut got = None;
//! for byte in out.iter() {
//!     inbound.put_u8(*byte);
//!     if let Some(p) = deframer.next_packet(3, &mut inbound)? {
//!         got = Some(p);
//!     }
//! }
//! assert_eq!(&got.unwrap().payload[..], b"\x02\x00\x00\x00\x05hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Design notes
//!
//! - **Traits, boxed.** Sealers and openers are trait objects built by the registry
//!   (`Box<dyn PacketSealer>`), so another crypto backend can provide its own; one virtual
//!   call per packet is noise next to the cipher. Within the RustCrypto implementation the
//!   non-AEAD modes and MACs are enums, so every cipher x MAC pair shares one code path.
//! - **In place.** Sealing encrypts inside the output buffer and appends the trailer; opening
//!   decrypts inside the receive buffer. Nothing is copied except the one decrypted first
//!   block an encrypt-and-MAC opener keeps between its two steps.
//! - **Verify first.** AEAD and EtM check the tag/MAC before decrypting; encrypt-and-MAC
//!   (which has no choice) checks it right after decrypting and before looking at the
//!   padding, so padding errors are never distinguishable from MAC errors there. All
//!   comparisons are constant-time (`subtle`, and `aes-gcm`'s own).
//! - **CBC** (catalog P07, CVE-2008-5161) is off by default. If configured with an
//!   encrypt-and-MAC MAC, the [`Deframer`] hides a bad length or MAC behind OpenSSH's
//!   discard-to-the-limit behaviour; see its docs.
//! - **Sequence numbers** are the caller's (the transport decides when strict KEX resets
//!   them). GCM ignores them: its invocation counter is internal state (RFC 5647 §7.1).
//! - **Keys** are copied into the algorithm states, which zeroize on drop (the RustCrypto
//!   crates' `zeroize` features, and `Zeroizing` for the keys and nonces kept here).
//! - **Compression** keeps one zlib stream per direction ([`Compressor`], [`Decompressor`]);
//!   each packet ends on a sync flush, and inflation stops at a per-packet cap with
//!   [`Error::DecompressedTooLarge`] (catalog R03).
//! - **Errors** are one enum, [`Error`], whose [`Error::disconnect_reason`] gives
//!   `MAC_ERROR`, `PROTOCOL_ERROR` or `COMPRESSION_ERROR`.
//! - **Departures from the design sketch.** [`PacketOpener::open`] checks the padding itself
//!   and returns the payload range, so the order "authenticate, then look at the padding"
//!   lives in one place for every mode rather than in each caller. [`Deframer::next_packet`]
//!   takes the sequence number per call instead of counting, because strict KEX resets it and
//!   only the transport knows when. AEAD ciphers ignore the negotiated MAC, as OpenSSH does
//!   (RFC 5647 §5.1 would have the MAC negotiation match instead).
//!
//! # Tests and performance
//!
//! Known answers: NIST SP 800-38A (CTR, CBC), SP 800-67 (3DES), RFC 2202/4231 (HMAC), RFC 4418
//! (UMAC-64; UMAC-128 from the reference implementation), the GCM specification's test
//! cases, RFC 7539 (ChaCha20, Poly1305) through this crate's internals, and SSH-level vectors
//! for every cipher and MAC produced by an independent implementation on OpenSSL
//! (`tests/data/gen_vectors.py`, with UMAC from `tests/data/umac_ref.py`). Round trips for every cipher x MAC x compression
//! combination from the smallest to the largest packet, every single-bit flip, every
//! truncation, catalog rows P01-P03, P06, P07 and R03, a zlib stream from C zlib, proptest, and
//! the `cipher_open` fuzz target (`fuzz/`, seeds in `testdata/fuzz/cipher_open/`, replayed by
//! `tests/fuzz_corpus.rs`). Seal + open runs within 2 % of the raw RustCrypto primitives; see
//! `docs/benchmarks.md`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

mod chachapoly;
mod cipher_mac;
pub mod compress;
mod deframe;
pub mod error;
mod gcm;
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "pclmulqdq",
    target_feature = "ssse3"
))]
mod ghash;
mod mac;
mod modes;
mod packet;
pub mod registry;
mod umac;

#[doc(hidden)]
pub mod fuzzing;

pub use compress::{Compressor, Decompressor};
pub use deframe::Deframer;
pub use error::{Error, Result};
pub use mac::MacKind;
pub use modes::ModeKind;
pub use packet::{PacketOpener, PacketSealer};
pub use registry::Keys;

#[cfg(test)]
mod zeroize_tests {
    use zeroize::ZeroizeOnDrop;

    fn zeroizes_on_drop<T: ZeroizeOnDrop>() {}

    /// The key-holding states this crate keeps wipe themselves when dropped (checked at
    /// compile time; our own copies are `Zeroizing`). Two are not covered by the marker
    /// trait: `hmac::Hmac` holds two hash cores (checked below), which wipe themselves, and
    /// `poly1305::Poly1305` wipes itself in its `Drop` with its `zeroize` feature.
    #[test]
    fn key_states_zeroize_on_drop() {
        zeroizes_on_drop::<aes_gcm::Aes128Gcm>();
        zeroizes_on_drop::<aes_gcm::Aes256Gcm>();
        zeroizes_on_drop::<aes::Aes128>();
        zeroizes_on_drop::<aes::Aes256>();
        zeroizes_on_drop::<des::TdesEde3>();
        zeroizes_on_drop::<ctr::Ctr128BE<aes::Aes128>>();
        zeroizes_on_drop::<cbc::Encryptor<aes::Aes128>>();
        zeroizes_on_drop::<cbc::Decryptor<des::TdesEde3>>();
        zeroizes_on_drop::<chacha20::ChaCha20Legacy>();
        zeroizes_on_drop::<sha2::block_api::Sha256VarCore>();
        zeroizes_on_drop::<sha2::block_api::Sha512VarCore>();
        zeroizes_on_drop::<sha1::block_api::Sha1Core>();
        zeroizes_on_drop::<md5::block_api::Md5Core>();
        zeroizes_on_drop::<zeroize::Zeroizing<[u8; 32]>>();
        zeroizes_on_drop::<crate::umac::Umac>();
    }
}
