//! SSH key exchange for whelk, without I/O: algorithm negotiation (RFC 4253 §7.1), every
//! key exchange method whelk offers, the exchange hash and key derivation (RFC 4253 §7.2).
//!
//! # Pieces
//!
//! - [`negotiate`]: from the client's and the server's `SSH_MSG_KEXINIT` to a [`Negotiated`]
//!   set of algorithms, plus the `ext-info-*` / `kex-strict-*` flags of each side and whether
//!   a guessed first key exchange packet must be discarded.
//! - [`METHODS`]: the registry of key exchange methods (name, hash, message family,
//!   default-enabled flag), in OpenSSH 9.9/10's default order.
//! - [`ClientKex`] / [`ServerKex`]: one exchange each, as state machines: the client's
//!   [`ClientKex::start`] gives the first message, [`ClientKex::handle`] takes the server's
//!   replies; [`ServerKex::handle`] takes the client's messages. Both end in a [`KexOutput`]:
//!   `K` (encoded as the method says), `H`, the session identifier, the host key blob and
//!   signature.
//! - Host keys: the server signs through a [`HostKeySigner`] (e.g. [`KeySigner`] over a
//!   whelk-keys `PrivateKey`); the client verifies with whelk-keys' `PublicKey::verify` for
//!   the negotiated algorithm, rejecting a key or signature of another algorithm.
//! - [`derive_keys`] / [`KexOutput::derive_keys`]: IVs, encryption and integrity keys for
//!   both directions ("A".."F", extended when the hash is shorter than the key), zeroized.
//!
//! Randomness always arrives as a [`rand_core::CryptoRng`]; private scalars, shared secrets
//! and derived keys are zeroized on drop.
//!
//! # Methods
//!
//! | Method | Hash | `K` encoding | Default |
//! |---|---|---|---|
//! | `mlkem768x25519-sha256` | SHA-256 | string | yes |
//! | `sntrup761x25519-sha512`, `sntrup761x25519-sha512@openssh.com` | SHA-512 | string | yes |
//! | `curve25519-sha256`, `curve25519-sha256@libssh.org` | SHA-256 | mpint | yes |
//! | `ecdh-sha2-nistp256` / `384` / `521` | SHA-256 / 384 / 512 | mpint | yes |
//! | `diffie-hellman-group-exchange-sha256` | SHA-256 | mpint | yes |
//! | `diffie-hellman-group16-sha512`, `group18-sha512` | SHA-512 | mpint | yes |
//! | `diffie-hellman-group14-sha256` | SHA-256 | mpint | yes |
//! | `diffie-hellman-group14-sha1`, `group1-sha1`, `group-exchange-sha1` | SHA-1 | mpint | no |
//!
//! The hybrid methods follow OpenSSH's PROTOCOL and draft-ietf-sshm-mlkem-hybrid-kex:
//! `Q_C = kem_public || x25519_public`, `Q_S = kem_ciphertext || x25519_public`, and
//! `K = string(HASH(kem_secret || x25519_secret))`. ML-KEM-768 is RustCrypto's `ml-kem`
//! (FIPS 203, with the encapsulation key modulus check); Streamlined NTRU Prime 761 is the
//! `sntrup761` crate (0.4, a pure-Rust port of the reference implementation that OpenSSH
//! embeds; it is the one crate here on the previous RustCrypto `sha2` generation, which
//! `deny.toml` records). The X25519 half uses `x25519-dalek`.
//!
//! # Peer value checks
//!
//! Each failure is [`Error::InvalidPeerValue`] (or [`Error::GroupExchange`]), which maps to
//! `SSH_DISCONNECT_KEY_EXCHANGE_FAILED` ([`Error::disconnect_reason`]):
//!
//! - X25519: exactly 32 bytes; an all-zero shared secret (every low-order point) is rejected
//!   in constant time (catalog K09, K10), also inside the hybrids.
//! - NIST curves: uncompressed SEC1 points of exactly the curve's length, on the curve and
//!   not the identity.
//! - Finite-field DH: `1 < e, f < p - 1`, non-negative, at least 4 bits set (OpenSSH
//!   `dh_pub_is_valid`, catalog K12); the checks run on the byte string before any bignum is
//!   built, so an oversized value costs nothing.
//! - ML-KEM: encapsulation key and ciphertext of exactly 1184 / 1088 bytes, key modulus
//!   check; sntrup761: 1158 / 1039 bytes.
//! - Group exchange: the client asks for `2048 <= min <= n <= max <= 8192` and rejects a
//!   group outside `[min, max]`, an even modulus or `g` outside `(1, p - 1)` (catalog K13); the
//!   server clamps requests like OpenSSH's kexgexs.c and picks like `choose_dh` from the
//!   built-in RFC 3526 groups 14/16/18 or from an OpenSSH `moduli` file
//!   ([`GexGroups::from_moduli`]).
//!
//! # Finite-field arithmetic
//!
//! Modular exponentiation uses `crypto-bigint` 0.7's `BoxedMontyForm` (constant time in the
//! exponent). Secret exponents are `max(512, 16 * hash length)` bits (twice the security
//! the derived keys need, like OpenSSH), which keeps 8192-bit groups fast.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

mod client;
mod derive;
mod dh;
mod ecdh;
mod error;
mod exchange;
mod gex;
mod groups;
mod hash;
mod hostkey;
mod method;
mod negotiate;
mod server;

#[doc(hidden)]
pub mod fuzzing;

pub use client::{ClientKex, ClientStep};
pub use derive::{
    DirectionKeys, DirectionSizes, KeySizes, Keys, MAX_DERIVED_LEN, derive_key, derive_keys,
};
pub use dh::{DhGroup, GEX_MAX_BITS, GEX_MIN_BITS, Group, MAX_MODULUS_BITS};
pub use ecdh::{
    MLKEM768_CIPHERTEXT_LEN, MLKEM768_PUBLIC_LEN, SNTRUP761_CIPHERTEXT_LEN, SNTRUP761_PUBLIC_LEN,
    X25519_LEN,
};
pub use error::{Category, Error, Result};
pub use exchange::{ExchangeContext, KexOutput, SharedSecret};
pub use gex::{GexGroups, GexRequest};
pub use hash::{Hasher, KexHash};
pub use hostkey::{HostKeySigner, KeySigner, verify_host_signature};
pub use method::{
    CURVE25519_SHA256, CURVE25519_SHA256_LIBSSH, DH_GEX_SHA1, DH_GEX_SHA256, KexMethod, METHODS,
    MLKEM768X25519_SHA256, SNTRUP761X25519_SHA512, SNTRUP761X25519_SHA512_OPENSSH, SecretEncoding,
    default_method_names, default_methods, method_by_name,
};
pub use negotiate::{Negotiated, Role, is_kex_marker, is_signature_host_key_algorithm, negotiate};
pub use server::{ServerKex, ServerStep};
