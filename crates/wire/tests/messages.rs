//! Every SSH message against hand-written wire bytes, proptest round trips for every message
//! type and sub-kind, and hostile input (truncation, trailing bytes, bad name-lists, mpints
//! and counts, arbitrary bytes).
//!
//! The expected bytes are derived from the field orders of the RFCs (RFC 4253, 4252, 4254,
//! 4256, 4419, 5656, 8308, 4335) and OpenSSH's PROTOCOL files, not from the implementation:
//! short fields are spelled out in hex, and long ASCII names go through [`st`], which writes
//! an RFC 4251 `string` (uint32 length, then the bytes) on its own.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::{Union, ValueTree};
use proptest::test_runner::{Config, TestRunner};
use whelk_wire::msg::{
    AuthFamily, AuthMethod, ChannelClose, ChannelData, ChannelEof, ChannelExtendedData,
    ChannelFailure, ChannelOpen, ChannelOpenConfirmation, ChannelOpenFailure,
    ChannelOpenFailureReason, ChannelOpenKind, ChannelRequest, ChannelRequestKind, ChannelSuccess,
    ChannelWindowAdjust, Context, DebugMessage, Disconnect, DisconnectReason, ExtInfo,
    ExtendedDataType, GlobalRequest, GlobalRequestKind, Ignore, KexDhGexGroup, KexDhGexInit,
    KexDhGexReply, KexDhGexRequest, KexDhGexRequestOld, KexEcdhInit, KexEcdhReply, KexFamily,
    KexInit, KexdhInit, KexdhReply, Message, MessageBody, MessageNumber, NewCompress, NewKeys,
    Phase, Ping, Pong, Prompt, RawTail, RequestFailure, RequestSuccess, ServiceAccept,
    ServiceRequest, SessionBind, Unimplemented, UserauthBanner, UserauthFailure,
    UserauthInfoRequest, UserauthInfoResponse, UserauthPasswdChangereq, UserauthPkOk,
    UserauthRequest, UserauthSuccess,
};
use whelk_wire::types::{MpInt, NameList, Text};
use whelk_wire::{Error, NameRule};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Joins hex fragments (whitespace ignored) into bytes.
fn hx(parts: &[&str]) -> Vec<u8> {
    let s: String = parts
        .concat()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    hex::decode(s).expect("test vector is valid hex")
}

/// An RFC 4251 `string` holding `s`, as hex: a big-endian uint32 length, then the bytes.
fn st(s: &str) -> String {
    format!("{:08x}{}", s.len(), hex::encode(s))
}

fn b(v: &'static [u8]) -> Bytes {
    Bytes::from_static(v)
}

const NONE: Context = Context {
    kex: None,
    auth: None,
};

fn kex(k: KexFamily) -> Context {
    Context {
        kex: Some(k),
        auth: None,
    }
}

fn auth(a: AuthFamily) -> Context {
    Context {
        kex: None,
        auth: Some(a),
    }
}

const KEXES: [Option<KexFamily>; 4] = [
    None,
    Some(KexFamily::Dh),
    Some(KexFamily::Ecdh),
    Some(KexFamily::DhGex),
];
const AUTHS: [Option<AuthFamily>; 4] = [
    None,
    Some(AuthFamily::PublicKey),
    Some(AuthFamily::Password),
    Some(AuthFamily::KeyboardInteractive),
];

fn all_contexts() -> impl Iterator<Item = Context> {
    KEXES
        .into_iter()
        .flat_map(|kex| AUTHS.into_iter().map(move |auth| Context { kex, auth }))
}

/// How a sample reacts to truncation and to an extra byte.
#[derive(Clone, Copy, Debug)]
enum Shape {
    /// Every field is required and nothing may follow: every strict prefix is `Truncated`
    /// (the empty one `EmptyPayload`) and one more byte is `TrailingData`.
    Strict,
    /// The last `n` bytes are a raw tail (type-specific data kept unparsed): prefixes that
    /// keep the fixed fields decode, and an extra byte is absorbed into the tail.
    Tail(usize),
    /// After `head` bytes come strings up to the end (`hostkeys-00`): a prefix decodes exactly
    /// at string boundaries, and an extra byte is a truncated string.
    Strings { head: usize },
}

fn decode(bytes: &[u8], ctx: Context) -> Result<Message, Error> {
    Message::decode_with(&Bytes::copy_from_slice(bytes), ctx)
}

/// Encode gives `parts`; decoding `parts` under `ctx` gives `msg`; then the hostile checks.
fn check(msg: impl Into<Message>, ctx: Context, parts: &[&str], shape: Shape) {
    let msg = msg.into();
    let expected = hx(parts);
    let encoded = msg.to_bytes().unwrap();
    assert_eq!(
        hex::encode(&encoded),
        hex::encode(&expected),
        "encoding of {msg:?}"
    );
    assert_eq!(msg.encoded_len(), expected.len(), "encoded_len of {msg:?}");
    let mut via_encode = Vec::new();
    msg.encode(&mut via_encode).unwrap();
    assert_eq!(via_encode, expected);
    assert_eq!(msg.number(), MessageNumber(expected[0]));
    let decoded = decode(&expected, ctx).unwrap();
    assert_eq!(decoded, msg, "decoding {}", hex::encode(&expected));
    hostile(&expected, ctx, shape);
}

/// Every strict prefix of `bytes` and `bytes` plus one byte, under `ctx`.
fn hostile(bytes: &[u8], ctx: Context, shape: Shape) {
    assert_eq!(decode(&[], ctx), Err(Error::EmptyPayload));
    let boundaries = match shape {
        Shape::Strings { head } => {
            // Walk the strings after `head` to find where each one ends.
            let mut at = head;
            let mut v = vec![head];
            while at < bytes.len() {
                let len =
                    usize::try_from(u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()))
                        .unwrap();
                at += 4 + len;
                v.push(at);
            }
            assert_eq!(at, bytes.len(), "sample ends on a string boundary");
            v
        }
        _ => Vec::new(),
    };
    for n in 1..bytes.len() {
        let prefix = &bytes[..n];
        let r = decode(prefix, ctx);
        let must_decode = match shape {
            Shape::Strict => false,
            Shape::Tail(tail) => n >= bytes.len() - tail,
            Shape::Strings { .. } => boundaries.contains(&n),
        };
        if must_decode {
            let m = r.unwrap_or_else(|e| panic!("prefix {} failed: {e}", hex::encode(prefix)));
            assert_eq!(m.to_bytes().unwrap(), prefix, "prefix re-encodes exactly");
        } else {
            // A count field cut short of its elements is caught as too large a count.
            assert!(
                matches!(
                    r,
                    Err(Error::Truncated { .. } | Error::CountTooLarge { .. })
                ),
                "prefix {} of {} gave {r:?}",
                hex::encode(prefix),
                hex::encode(bytes)
            );
        }
    }
    let mut longer = bytes.to_vec();
    longer.push(0x42);
    let r = decode(&longer, ctx);
    match shape {
        Shape::Strict => assert!(
            matches!(r, Err(Error::TrailingData { extra: 1, .. })),
            "{} + 42 gave {r:?}",
            hex::encode(bytes)
        ),
        Shape::Tail(_) => {
            let m = r.unwrap();
            assert_ne!(m, decode(bytes, ctx).unwrap(), "the tail absorbed the byte");
            assert_eq!(m.to_bytes().unwrap(), longer);
        }
        Shape::Strings { .. } => assert!(
            matches!(r, Err(Error::Truncated { .. })),
            "{} + 42 gave {r:?}",
            hex::encode(bytes)
        ),
    }
}

/// `check` for a message whose number means something only in `ctx`: also decodes to
/// `Unknown` without context.
fn check_ctx(msg: impl Into<Message>, ctx: Context, parts: &[&str]) {
    let expected = hx(parts);
    check(msg, ctx, parts, Shape::Strict);
    assert_eq!(
        decode(&expected, NONE).unwrap(),
        Message::Unknown {
            number: expected[0],
            payload: Bytes::copy_from_slice(&expected[1..]),
        },
        "without context"
    );
}

fn ssh_connection() -> String {
    // "ssh-connection", 14 bytes.
    "0000000e 7373682d636f6e6e656374696f6e".to_owned()
}

fn userauth(method: AuthMethod) -> UserauthRequest {
    UserauthRequest {
        user: "u".into(),
        service: "ssh-connection".into(),
        method,
    }
}

fn global(want_reply: bool, kind: GlobalRequestKind) -> GlobalRequest {
    GlobalRequest { want_reply, kind }
}

fn open(sender: u32, kind: ChannelOpenKind) -> ChannelOpen {
    ChannelOpen {
        sender,
        initial_window: 0x0020_0000,
        max_packet: 0x8000,
        kind,
    }
}

/// sender, initial window 2 MiB, maximum packet 32 KiB.
fn open_head(sender: &str) -> String {
    format!("{sender} 00200000 00008000")
}

fn chreq(want_reply: bool, kind: ChannelRequestKind) -> ChannelRequest {
    ChannelRequest {
        recipient: 0,
        want_reply,
        kind,
    }
}

// ---------------------------------------------------------------------------------------------
// Transport (RFC 4253 §§7, 10, 11; RFC 8308; OpenSSH PROTOCOL §1.9)
// ---------------------------------------------------------------------------------------------

#[test]
fn disconnect() {
    check(
        Disconnect {
            reason: DisconnectReason::BY_APPLICATION,
            description: "bye".into(),
            language: "".into(),
        },
        NONE,
        &[
            "01",              // SSH_MSG_DISCONNECT
            "0000000b",        // reason code 11, BY_APPLICATION
            "00000003 627965", // description "bye"
            "00000000",        // language tag ""
        ],
        Shape::Strict,
    );
    // An unassigned reason survives the round trip.
    check(
        Disconnect {
            reason: DisconnectReason(0x1234),
            description: "".into(),
            language: "en".into(),
        },
        NONE,
        &["01 00001234 00000000 00000002 656e"],
        Shape::Strict,
    );
}

#[test]
fn ignore() {
    check(
        Ignore {
            data: b(b"\xde\xad"),
        },
        NONE,
        &["02 00000002 dead"],
        Shape::Strict,
    );
    check(
        Ignore { data: Bytes::new() },
        NONE,
        &["02 00000000"],
        Shape::Strict,
    );
}

#[test]
fn unimplemented() {
    check(
        Unimplemented {
            sequence: 0x0102_0304,
        },
        NONE,
        &["03 01020304"],
        Shape::Strict,
    );
}

#[test]
fn debug() {
    check(
        DebugMessage {
            always_display: true,
            message: "hi".into(),
            language: "en".into(),
        },
        NONE,
        &["04", "01", "00000002 6869", "00000002 656e"],
        Shape::Strict,
    );
    // RFC 4251 §5: any non-zero boolean byte is TRUE; it is written back as 1.
    let m = decode(&hx(&["04 07 00000000 00000000"]), NONE).unwrap();
    let Message::Debug(d) = &m else {
        panic!("{m:?}")
    };
    assert!(d.always_display);
    assert_eq!(m.to_bytes().unwrap(), hx(&["04 01 00000000 00000000"]));
}

#[test]
fn service_request_and_accept() {
    check(
        ServiceRequest {
            service: "ssh-userauth".into(),
        },
        NONE,
        &["05", "0000000c 7373682d7573657261757468"],
        Shape::Strict,
    );
    check(
        ServiceAccept {
            service: "ssh-connection".into(),
        },
        NONE,
        &["06", &ssh_connection()],
        Shape::Strict,
    );
}

#[test]
fn ext_info() {
    let ext = ExtInfo {
        extensions: vec![
            ("server-sig-algs".into(), b(b"ssh-ed25519,rsa-sha2-256")),
            ("ping@openssh.com".into(), b(b"0")),
        ],
    };
    assert_eq!(ext.get("ping@openssh.com"), Some(&b(b"0")));
    assert_eq!(
        ext.get("server-sig-algs").map(|v| &v[..]),
        Some(&b"ssh-ed25519,rsa-sha2-256"[..])
    );
    assert_eq!(ext.get("elevation"), None);
    check(
        ext,
        NONE,
        &[
            "07",
            "00000002",                                // nr-extensions
            "0000000f 7365727665722d7369672d616c6773", // "server-sig-algs"
            &st("ssh-ed25519,rsa-sha2-256"),
            &st("ping@openssh.com"),
            "00000001 30", // "0"
        ],
        Shape::Strict,
    );
    check(ExtInfo::default(), NONE, &["07 00000000"], Shape::Strict);
}

#[test]
fn newcompress_and_newkeys() {
    check(NewCompress {}, NONE, &["08"], Shape::Strict);
    check(NewKeys {}, NONE, &["15"], Shape::Strict);
}

fn sample_kexinit() -> KexInit {
    KexInit {
        cookie: core::array::from_fn(|i| u8::try_from(i).unwrap()),
        kex_algorithms: NameList::parse("curve25519-sha256,ext-info-c").unwrap(),
        server_host_key_algorithms: NameList::parse("ssh-ed25519").unwrap(),
        encryption_client_to_server: NameList::parse("aes128-ctr").unwrap(),
        encryption_server_to_client: NameList::parse("aes128-ctr").unwrap(),
        mac_client_to_server: NameList::parse("hmac-sha2-256").unwrap(),
        mac_server_to_client: NameList::parse("hmac-sha2-256").unwrap(),
        compression_client_to_server: NameList::parse("none").unwrap(),
        compression_server_to_client: NameList::parse("none").unwrap(),
        languages_client_to_server: NameList::empty(),
        languages_server_to_client: NameList::empty(),
        first_kex_packet_follows: false,
    }
}

fn sample_kexinit_hex() -> Vec<String> {
    vec![
        "14".into(),                               // SSH_MSG_KEXINIT
        "000102030405060708090a0b0c0d0e0f".into(), // cookie
        st("curve25519-sha256,ext-info-c"),
        "0000000b 7373682d65643235353139".into(), // "ssh-ed25519"
        st("aes128-ctr"),
        st("aes128-ctr"),
        st("hmac-sha2-256"),
        st("hmac-sha2-256"),
        "00000004 6e6f6e65".into(), // "none"
        "00000004 6e6f6e65".into(),
        "00000000".into(), // languages c2s
        "00000000".into(), // languages s2c
        "00".into(),       // first_kex_packet_follows
        "00000000".into(), // reserved
    ]
}

#[test]
fn kexinit() {
    let parts = sample_kexinit_hex();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    check(sample_kexinit(), NONE, &parts, Shape::Strict);

    let k = KexInit {
        first_kex_packet_follows: true,
        ..sample_kexinit()
    };
    let mut parts = sample_kexinit_hex();
    parts[12] = "01".into();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    check(k, NONE, &parts, Shape::Strict);
}

#[test]
fn kexinit_reserved_must_be_zero() {
    let mut parts = sample_kexinit_hex();
    parts[13] = "00000001".into();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    assert_eq!(decode(&hx(&parts), NONE), Err(Error::KexInitReserved(1)));
    let mut parts: Vec<String> = sample_kexinit_hex();
    parts[13] = "deadbeef".into();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    assert_eq!(
        KexInit::decode(&Bytes::from(hx(&parts))),
        Err(Error::KexInitReserved(0xdead_beef))
    );
}

#[test]
fn ping_pong() {
    check(
        Ping { data: b(b"ping") },
        NONE,
        &["c0 00000004 70696e67"],
        Shape::Strict,
    );
    check(
        Pong { data: b(b"ping") },
        NONE,
        &["c1 00000004 70696e67"],
        Shape::Strict,
    );
}

// ---------------------------------------------------------------------------------------------
// Key exchange methods, numbers 30-34 (RFC 4253 §8, RFC 5656 §7.1, RFC 4419)
// ---------------------------------------------------------------------------------------------

#[test]
fn kexdh_init_and_reply() {
    let dh = kex(KexFamily::Dh);
    check_ctx(
        KexdhInit {
            // 0x8001 has its top bit set: the mpint needs a leading zero byte.
            e: MpInt::from_unsigned_be(&[0x80, 0x01]),
        },
        dh,
        &["1e", "00000003 008001"],
    );
    check_ctx(
        KexdhReply {
            host_key: b(b"\xaa"),
            f: MpInt::from_unsigned_be(&[0x7f]),
            signature: b(b"\xbb\xcc"),
        },
        dh,
        &["1f", "00000001 aa", "00000001 7f", "00000002 bbcc"],
    );
}

#[test]
fn kex_ecdh_init_and_reply() {
    let ecdh = kex(KexFamily::Ecdh);
    check_ctx(
        KexEcdhInit {
            client_public: b(b"\x01\x02\x03\x04"),
        },
        ecdh,
        &["1e 00000004 01020304"],
    );
    check_ctx(
        KexEcdhReply {
            host_key: b(b"\xaa"),
            server_public: b(b"\x01\x02"),
            signature: b(b"\xff"),
        },
        ecdh,
        &["1f", "00000001 aa", "00000002 0102", "00000001 ff"],
    );
}

#[test]
fn kex_dh_gex() {
    let gex = kex(KexFamily::DhGex);
    check_ctx(KexDhGexRequestOld { n: 2048 }, gex, &["1e 00000800"]);
    check_ctx(
        KexDhGexGroup {
            p: MpInt::from_unsigned_be(&[0xff]),
            g: MpInt::from_unsigned_be(&[0x02]),
        },
        gex,
        &["1f", "00000002 00ff", "00000001 02"],
    );
    check_ctx(
        KexDhGexInit {
            e: MpInt::from_unsigned_be(&[0x01, 0x00]),
        },
        gex,
        &["20 00000002 0100"],
    );
    check_ctx(
        KexDhGexReply {
            host_key: b(b"\xaa"),
            f: MpInt::zero(),
            signature: b(b"\xbb"),
        },
        gex,
        &["21", "00000001 aa", "00000000", "00000001 bb"],
    );
    check_ctx(
        KexDhGexRequest {
            min: 2048,
            n: 4096,
            max: 8192,
        },
        gex,
        &["22 00000800 00001000 00002000"],
    );
}

#[test]
fn kex_numbers_depend_on_the_family() {
    // The same bytes are a KEXDH_REPLY under Dh and a KEX_ECDH_REPLY under Ecdh.
    let bytes = hx(&["1f 00000001 aa 00000001 7f 00000002 bbcc"]);
    assert!(matches!(
        decode(&bytes, kex(KexFamily::Dh)),
        Ok(Message::KexdhReply(_))
    ));
    assert_eq!(
        decode(&bytes, kex(KexFamily::Ecdh)),
        Ok(Message::KexEcdhReply(KexEcdhReply {
            host_key: b(b"\xaa"),
            server_public: b(b"\x7f"),
            signature: b(b"\xbb\xcc"),
        }))
    );
    // 32-34 mean nothing to fixed-group DH and ECDH; 35-49 mean nothing to any of them.
    for family in [KexFamily::Dh, KexFamily::Ecdh] {
        for number in 32..=34u8 {
            let m = decode(&[number, 1, 2], kex(family)).unwrap();
            assert_eq!(
                m,
                Message::Unknown {
                    number,
                    payload: b(b"\x01\x02")
                }
            );
        }
    }
    for ctx in all_contexts() {
        for number in 35..=49u8 {
            assert!(matches!(
                decode(&[number], ctx),
                Ok(Message::Unknown { number: n, .. }) if n == number
            ));
        }
    }
    // Without a kex context all of 30-34 are Unknown, whatever the auth context.
    for a in AUTHS {
        for number in 30..=34u8 {
            let ctx = Context { kex: None, auth: a };
            assert!(matches!(
                decode(&[number, 0, 0], ctx),
                Ok(Message::Unknown { number: n, .. }) if n == number
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// User authentication (RFC 4252, RFC 4256, OpenSSH PROTOCOL §2.5)
// ---------------------------------------------------------------------------------------------

#[test]
fn userauth_request_none() {
    check(
        userauth(AuthMethod::None),
        NONE,
        &[
            "32",          // SSH_MSG_USERAUTH_REQUEST
            "00000001 75", // user "u"
            &ssh_connection(),
            "00000004 6e6f6e65", // "none"
        ],
        Shape::Strict,
    );
}

#[test]
fn userauth_request_password() {
    check(
        userauth(AuthMethod::Password {
            password: b(b"pw"),
            new_password: None,
        }),
        NONE,
        &[
            "32 00000001 75",
            &ssh_connection(),
            "00000008 70617373776f7264", // "password"
            "00",                        // FALSE: not a change
            "00000002 7077",             // "pw"
        ],
        Shape::Strict,
    );
    check(
        userauth(AuthMethod::Password {
            password: b(b"old"),
            new_password: Some(b(b"new")),
        }),
        NONE,
        &[
            "32 00000001 75",
            &ssh_connection(),
            "00000008 70617373776f7264",
            "01",              // TRUE: change request
            "00000003 6f6c64", // old
            "00000003 6e6577", // new
        ],
        Shape::Strict,
    );
}

#[test]
fn userauth_request_publickey() {
    check(
        userauth(AuthMethod::PublicKey {
            algorithm: "ssh-ed25519".into(),
            public_key: b(b"\x01\x02\x03"),
            signature: None,
        }),
        NONE,
        &[
            "32 00000001 75",
            &ssh_connection(),
            "00000009 7075626c69636b6579",     // "publickey"
            "00",                              // FALSE: a query
            "0000000b 7373682d65643235353139", // "ssh-ed25519"
            "00000003 010203",                 // key blob
        ],
        Shape::Strict,
    );
    check(
        userauth(AuthMethod::PublicKey {
            algorithm: "ssh-ed25519".into(),
            public_key: b(b"\x01\x02\x03"),
            signature: Some(b(b"\x51\x51")),
        }),
        NONE,
        &[
            "32 00000001 75",
            &ssh_connection(),
            "00000009 7075626c69636b6579",
            "01",
            "0000000b 7373682d65643235353139",
            "00000003 010203",
            "00000002 5151", // signature
        ],
        Shape::Strict,
    );
}

#[test]
fn userauth_request_publickey_hostbound() {
    for (signature, flag, sig_hex) in [(None, "00", ""), (Some(b(b"\xee")), "01", "00000001 ee")] {
        check(
            userauth(AuthMethod::PublicKeyHostbound {
                algorithm: "ssh-ed25519".into(),
                public_key: b(b"\x01\x02\x03"),
                host_key: b(b"\xaa\xbb"),
                signature,
            }),
            NONE,
            &[
                "32 00000001 75",
                &ssh_connection(),
                &st("publickey-hostbound-v00@openssh.com"),
                flag,
                "0000000b 7373682d65643235353139",
                "00000003 010203",
                "00000002 aabb", // server host key
                sig_hex,
            ],
            Shape::Strict,
        );
    }
}

#[test]
fn userauth_request_keyboard_interactive() {
    check(
        userauth(AuthMethod::KeyboardInteractive {
            language: "".into(),
            submethods: "pam".into(),
        }),
        NONE,
        &[
            "32 00000001 75",
            &ssh_connection(),
            &st("keyboard-interactive"),
            "00000000",        // language tag
            "00000003 70616d", // submethods "pam"
        ],
        Shape::Strict,
    );
}

#[test]
fn userauth_request_hostbased() {
    check(
        userauth(AuthMethod::HostBased {
            algorithm: "ssh-ed25519".into(),
            public_key: b(b"\x0a\x0b"),
            client_host: "h.example".into(),
            client_user: "bob".into(),
            signature: b(b"\x99"),
        }),
        NONE,
        &[
            "32 00000001 75",
            &ssh_connection(),
            "00000009 686f73746261736564", // "hostbased"
            "0000000b 7373682d65643235353139",
            "00000002 0a0b",
            "00000009 682e6578616d706c65", // "h.example"
            "00000003 626f62",             // "bob"
            "00000001 99",
        ],
        Shape::Strict,
    );
}

#[test]
fn userauth_request_other() {
    check(
        userauth(AuthMethod::Other {
            method: "gssapi-with-mic".into(),
            data: b(b"\x00\x00\x00\x01\x00\x00\x00\x02\x06\x01"),
        }),
        NONE,
        &[
            "32 00000001 75",
            &ssh_connection(),
            "0000000f 6773736170692d776974682d6d6963", // "gssapi-with-mic"
            "00000001 00000002 0601",                  // raw method data
        ],
        Shape::Tail(10),
    );
    // A known name is always the typed variant: `Other { method: "none" }` comes back as
    // `None` (the encoder writes what it is given; the decoder rightly types it).
    let m: Message = userauth(AuthMethod::Other {
        method: "none".into(),
        data: Bytes::new(),
    })
    .into();
    assert_eq!(
        decode(&m.to_bytes().unwrap(), NONE).unwrap(),
        userauth(AuthMethod::None).into()
    );
}

#[test]
fn auth_method_names() {
    let cases: [(AuthMethod, &[u8]); 7] = [
        (AuthMethod::None, b"none"),
        (
            AuthMethod::Password {
                password: Bytes::new(),
                new_password: None,
            },
            b"password",
        ),
        (
            AuthMethod::PublicKey {
                algorithm: "".into(),
                public_key: Bytes::new(),
                signature: None,
            },
            b"publickey",
        ),
        (
            AuthMethod::PublicKeyHostbound {
                algorithm: "".into(),
                public_key: Bytes::new(),
                host_key: Bytes::new(),
                signature: None,
            },
            b"publickey-hostbound-v00@openssh.com",
        ),
        (
            AuthMethod::KeyboardInteractive {
                language: "".into(),
                submethods: "".into(),
            },
            b"keyboard-interactive",
        ),
        (
            AuthMethod::HostBased {
                algorithm: "".into(),
                public_key: Bytes::new(),
                client_host: "".into(),
                client_user: "".into(),
                signature: Bytes::new(),
            },
            b"hostbased",
        ),
        (
            AuthMethod::Other {
                method: "x".into(),
                data: Bytes::new(),
            },
            b"x",
        ),
    ];
    for (m, name) in cases {
        assert_eq!(m.name(), name);
    }
}

#[test]
fn userauth_failure_success_banner() {
    check(
        UserauthFailure {
            methods: NameList::parse("publickey,password").unwrap(),
            partial_success: false,
        },
        NONE,
        &[
            "33",
            "00000012 7075626c69636b65792c70617373776f7264", // "publickey,password"
            "00",
        ],
        Shape::Strict,
    );
    check(
        UserauthFailure {
            methods: NameList::empty(),
            partial_success: true,
        },
        NONE,
        &["33 00000000 01"],
        Shape::Strict,
    );
    check(UserauthSuccess {}, NONE, &["34"], Shape::Strict);
    check(
        UserauthBanner {
            message: "hello\n".into(),
            language: "".into(),
        },
        NONE,
        &["35", "00000006 68656c6c6f0a", "00000000"],
        Shape::Strict,
    );
}

#[test]
fn userauth_pk_ok() {
    check_ctx(
        UserauthPkOk {
            algorithm: "ssh-ed25519".into(),
            public_key: b(b"\x01\x02\x03"),
        },
        auth(AuthFamily::PublicKey),
        &["3c", "0000000b 7373682d65643235353139", "00000003 010203"],
    );
}

#[test]
fn userauth_passwd_changereq() {
    check_ctx(
        UserauthPasswdChangereq {
            prompt: "change?".into(),
            language: "en".into(),
        },
        auth(AuthFamily::Password),
        &["3c", "00000007 6368616e67653f", "00000002 656e"],
    );
}

#[test]
fn userauth_info_request() {
    let ki = auth(AuthFamily::KeyboardInteractive);
    check_ctx(
        UserauthInfoRequest {
            name: "otp".into(),
            instruction: "".into(),
            language: "".into(),
            prompts: vec![
                Prompt {
                    prompt: "Password: ".into(),
                    echo: false,
                },
                Prompt {
                    prompt: "OTP: ".into(),
                    echo: true,
                },
            ],
        },
        ki,
        &[
            "3c",
            "00000003 6f7470", // name "otp"
            "00000000",        // instruction
            "00000000",        // language tag
            "00000002",        // num-prompts
            "0000000a 50617373776f72643a20 00",
            "00000005 4f54503a20 01",
        ],
    );
    check_ctx(
        UserauthInfoRequest {
            name: "".into(),
            instruction: "".into(),
            language: "".into(),
            prompts: vec![],
        },
        ki,
        &["3c 00000000 00000000 00000000 00000000"],
    );
}

#[test]
fn userauth_info_response() {
    let ki = auth(AuthFamily::KeyboardInteractive);
    check_ctx(
        UserauthInfoResponse {
            responses: vec![b(b"pw"), b(b"123")],
        },
        ki,
        &["3d", "00000002", "00000002 7077", "00000003 313233"],
    );
    check_ctx(
        UserauthInfoResponse { responses: vec![] },
        ki,
        &["3d 00000000"],
    );
}

#[test]
fn auth_numbers_depend_on_the_method() {
    let bytes = hx(&["3c 00000002 6869 00000002 656e"]);
    assert!(matches!(
        decode(&bytes, auth(AuthFamily::PublicKey)),
        Ok(Message::UserauthPkOk(_))
    ));
    assert!(matches!(
        decode(&bytes, auth(AuthFamily::Password)),
        Ok(Message::UserauthPasswdChangereq(_))
    ));
    // 61 is INFO_RESPONSE only for keyboard-interactive.
    for ctx in [
        NONE,
        auth(AuthFamily::PublicKey),
        auth(AuthFamily::Password),
    ] {
        assert_eq!(
            decode(&[61, 0, 0, 0, 0], ctx),
            Ok(Message::Unknown {
                number: 61,
                payload: b(b"\0\0\0\0")
            })
        );
    }
    for ctx in all_contexts() {
        for number in 62..=79u8 {
            assert!(matches!(
                decode(&[number, 9], ctx),
                Ok(Message::Unknown { number: n, .. }) if n == number
            ));
        }
    }
    // Auth context does not change kex numbers, nor kex context auth numbers.
    for k in KEXES {
        let ctx = Context { kex: k, auth: None };
        assert!(matches!(
            decode(&bytes, ctx),
            Ok(Message::Unknown { number: 60, .. })
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// Connection protocol (RFC 4254, RFC 4335, OpenSSH PROTOCOL §§2.1-2.5)
// ---------------------------------------------------------------------------------------------

#[test]
fn global_request_tcpip_forward() {
    check(
        global(
            true,
            GlobalRequestKind::TcpipForward {
                address: "localhost".into(),
                port: 0,
            },
        ),
        NONE,
        &[
            "50",                                  // SSH_MSG_GLOBAL_REQUEST
            "0000000d 74637069702d666f7277617264", // "tcpip-forward"
            "01",                                  // want reply
            "00000009 6c6f63616c686f7374",         // "localhost"
            "00000000",                            // port 0
        ],
        Shape::Strict,
    );
    check(
        global(
            false,
            GlobalRequestKind::CancelTcpipForward {
                address: "127.0.0.1".into(),
                port: 8080,
            },
        ),
        NONE,
        &[
            "50",
            &st("cancel-tcpip-forward"),
            "00",
            "00000009 3132372e302e302e31",
            "00001f90",
        ],
        Shape::Strict,
    );
}

#[test]
fn global_request_streamlocal() {
    check(
        global(
            true,
            GlobalRequestKind::StreamlocalForward {
                socket_path: "/tmp/s".into(),
            },
        ),
        NONE,
        &[
            "50",
            &st("streamlocal-forward@openssh.com"),
            "01",
            "00000006 2f746d702f73",
        ],
        Shape::Strict,
    );
    check(
        global(
            true,
            GlobalRequestKind::CancelStreamlocalForward {
                socket_path: "/tmp/s".into(),
            },
        ),
        NONE,
        &[
            "50",
            &st("cancel-streamlocal-forward@openssh.com"),
            "01",
            "00000006 2f746d702f73",
        ],
        Shape::Strict,
    );
}

#[test]
fn global_request_keepalive_and_no_more_sessions() {
    check(
        global(true, GlobalRequestKind::Keepalive),
        NONE,
        &["50", &st("keepalive@openssh.com"), "01"],
        Shape::Strict,
    );
    check(
        global(false, GlobalRequestKind::NoMoreSessions),
        NONE,
        &["50", &st("no-more-sessions@openssh.com"), "00"],
        Shape::Strict,
    );
}

#[test]
fn global_request_hostkeys() {
    let name = st("hostkeys-00@openssh.com");
    let head = 1 + name.len() / 2 + 1;
    check(
        global(
            false,
            GlobalRequestKind::HostKeys {
                keys: vec![b(b"\xaa"), b(b"\xbb\xcc")],
            },
        ),
        NONE,
        &["50", &name, "00", "00000001 aa", "00000002 bbcc"],
        Shape::Strings { head },
    );
    let name = st("hostkeys-prove-00@openssh.com");
    let head = 1 + name.len() / 2 + 1;
    check(
        global(
            true,
            GlobalRequestKind::HostKeysProve {
                keys: vec![b(b"\xaa")],
            },
        ),
        NONE,
        &["50", &name, "01", "00000001 aa"],
        Shape::Strings { head },
    );
    check(
        global(true, GlobalRequestKind::HostKeysProve { keys: vec![] }),
        NONE,
        &["50", &name, "01"],
        Shape::Strings { head },
    );
}

#[test]
fn global_request_other() {
    check(
        global(
            true,
            GlobalRequestKind::Other {
                name: "x@example.com".into(),
                data: b(b"\x01\x02\x03"),
            },
        ),
        NONE,
        &["50", &st("x@example.com"), "01", "010203"],
        Shape::Tail(3),
    );
}

#[test]
fn global_request_kind_names() {
    let k = |kind: GlobalRequestKind| kind.name().to_vec();
    let t = || Text::from("");
    assert_eq!(
        k(GlobalRequestKind::TcpipForward {
            address: t(),
            port: 0
        }),
        b"tcpip-forward"
    );
    assert_eq!(
        k(GlobalRequestKind::CancelTcpipForward {
            address: t(),
            port: 0
        }),
        b"cancel-tcpip-forward"
    );
    assert_eq!(
        k(GlobalRequestKind::StreamlocalForward { socket_path: t() }),
        b"streamlocal-forward@openssh.com"
    );
    assert_eq!(
        k(GlobalRequestKind::CancelStreamlocalForward { socket_path: t() }),
        b"cancel-streamlocal-forward@openssh.com"
    );
    assert_eq!(k(GlobalRequestKind::Keepalive), b"keepalive@openssh.com");
    assert_eq!(
        k(GlobalRequestKind::NoMoreSessions),
        b"no-more-sessions@openssh.com"
    );
    assert_eq!(
        k(GlobalRequestKind::HostKeys { keys: vec![] }),
        b"hostkeys-00@openssh.com"
    );
    assert_eq!(
        k(GlobalRequestKind::HostKeysProve { keys: vec![] }),
        b"hostkeys-prove-00@openssh.com"
    );
}

#[test]
fn request_success_and_failure() {
    check(
        RequestSuccess {
            data: RawTail(Bytes::new()),
        },
        NONE,
        &["51"],
        Shape::Tail(0),
    );
    check(
        RequestSuccess {
            data: RawTail(b(b"\x00\x00\x04\x00")),
        },
        NONE,
        &["51 00000400"],
        Shape::Tail(4),
    );
    check(RequestFailure {}, NONE, &["52"], Shape::Strict);
}

#[test]
fn request_success_bound_port() {
    let Message::RequestSuccess(r) = decode(&hx(&["51 00000400"]), NONE).unwrap() else {
        panic!()
    };
    assert_eq!(r.bound_port(), Ok(1024));
    let Message::RequestSuccess(r) = decode(&hx(&["51 0000"]), NONE).unwrap() else {
        panic!()
    };
    assert!(matches!(r.bound_port(), Err(Error::Truncated { .. })));
    let Message::RequestSuccess(r) = decode(&hx(&["51 00000400 00"]), NONE).unwrap() else {
        panic!()
    };
    assert!(matches!(
        r.bound_port(),
        Err(Error::TrailingData { extra: 1, .. })
    ));
    let r = RequestSuccess {
        data: RawTail(Bytes::new()),
    };
    assert!(matches!(r.bound_port(), Err(Error::Truncated { .. })));
}

#[test]
fn request_success_hostkey_signatures() {
    let Message::RequestSuccess(r) = decode(&hx(&["51 00000001 aa 00000002 bbcc"]), NONE).unwrap()
    else {
        panic!()
    };
    assert_eq!(r.hostkey_signatures(), Ok(vec![b(b"\xaa"), b(b"\xbb\xcc")]));
    let r = RequestSuccess {
        data: RawTail(Bytes::new()),
    };
    assert_eq!(r.hostkey_signatures(), Ok(vec![]));
    for bad in ["000000", "00000002 aa", "00000001 aa 00"] {
        let r = RequestSuccess {
            data: RawTail(Bytes::from(hx(&[bad]))),
        };
        assert!(
            matches!(r.hostkey_signatures(), Err(Error::Truncated { .. })),
            "{bad}"
        );
    }
}

#[test]
fn channel_open_session_x11_agent() {
    check(
        open(0, ChannelOpenKind::Session),
        NONE,
        &[
            "5a",                      // SSH_MSG_CHANNEL_OPEN
            "00000007 73657373696f6e", // "session"
            "00000000",                // sender channel
            "00200000",                // initial window 2 MiB
            "00008000",                // maximum packet 32 KiB
        ],
        Shape::Strict,
    );
    check(
        open(
            1,
            ChannelOpenKind::X11 {
                originator_address: "127.0.0.1".into(),
                originator_port: 54321,
            },
        ),
        NONE,
        &[
            "5a",
            "00000003 783131", // "x11"
            &open_head("00000001"),
            "00000009 3132372e302e302e31",
            "0000d431",
        ],
        Shape::Strict,
    );
    check(
        open(2, ChannelOpenKind::AuthAgent),
        NONE,
        &["5a", &st("auth-agent@openssh.com"), &open_head("00000002")],
        Shape::Strict,
    );
}

#[test]
fn channel_open_tcpip() {
    check(
        open(
            2,
            ChannelOpenKind::ForwardedTcpip {
                connected_address: "localhost".into(),
                connected_port: 2222,
                originator_address: "10.0.0.1".into(),
                originator_port: 40000,
            },
        ),
        NONE,
        &[
            "5a",
            &st("forwarded-tcpip"),
            &open_head("00000002"),
            "00000009 6c6f63616c686f7374", // address that was connected
            "000008ae",                    // port that was connected
            "00000008 31302e302e302e31",   // originator IP address
            "00009c40",                    // originator port
        ],
        Shape::Strict,
    );
    check(
        open(
            3,
            ChannelOpenKind::DirectTcpip {
                host: "example.com".into(),
                port: 80,
                originator_address: "::1".into(),
                originator_port: 1,
            },
        ),
        NONE,
        &[
            "5a",
            &st("direct-tcpip"),
            &open_head("00000003"),
            "0000000b 6578616d706c652e636f6d", // host to connect
            "00000050",                        // port to connect
            "00000003 3a3a31",                 // originator IP address
            "00000001",                        // originator port
        ],
        Shape::Strict,
    );
}

#[test]
fn channel_open_streamlocal_and_tun() {
    check(
        open(
            4,
            ChannelOpenKind::DirectStreamlocal {
                socket_path: "/tmp/s".into(),
                reserved: "".into(),
                reserved_port: 0,
            },
        ),
        NONE,
        &[
            "5a",
            &st("direct-streamlocal@openssh.com"),
            &open_head("00000004"),
            "00000006 2f746d702f73", // socket path
            "00000000",              // reserved string
            "00000000",              // reserved uint32
        ],
        Shape::Strict,
    );
    check(
        open(
            5,
            ChannelOpenKind::ForwardedStreamlocal {
                socket_path: "/tmp/s".into(),
                reserved: "".into(),
            },
        ),
        NONE,
        &[
            "5a",
            &st("forwarded-streamlocal@openssh.com"),
            &open_head("00000005"),
            "00000006 2f746d702f73",
            "00000000",
        ],
        Shape::Strict,
    );
    check(
        open(
            6,
            ChannelOpenKind::Tun {
                mode: 1,
                remote_unit: 0x7fff_ffff,
            },
        ),
        NONE,
        &[
            "5a",
            &st("tun@openssh.com"),
            &open_head("00000006"),
            "00000001", // tunnel mode: point-to-point
            "7fffffff", // any remote unit
        ],
        Shape::Strict,
    );
}

#[test]
fn channel_open_other() {
    check(
        open(
            7,
            ChannelOpenKind::Other {
                channel_type: "x-custom@example.com".into(),
                data: b(b"\xde\xad\xbe\xef"),
            },
        ),
        NONE,
        &[
            "5a",
            &st("x-custom@example.com"),
            &open_head("00000007"),
            "deadbeef",
        ],
        Shape::Tail(4),
    );
}

#[test]
fn channel_open_kind_names() {
    let t = || Text::from("");
    let cases: [(ChannelOpenKind, &str); 8] = [
        (ChannelOpenKind::Session, "session"),
        (
            ChannelOpenKind::X11 {
                originator_address: t(),
                originator_port: 0,
            },
            "x11",
        ),
        (
            ChannelOpenKind::ForwardedTcpip {
                connected_address: t(),
                connected_port: 0,
                originator_address: t(),
                originator_port: 0,
            },
            "forwarded-tcpip",
        ),
        (
            ChannelOpenKind::DirectTcpip {
                host: t(),
                port: 0,
                originator_address: t(),
                originator_port: 0,
            },
            "direct-tcpip",
        ),
        (
            ChannelOpenKind::DirectStreamlocal {
                socket_path: t(),
                reserved: t(),
                reserved_port: 0,
            },
            "direct-streamlocal@openssh.com",
        ),
        (
            ChannelOpenKind::ForwardedStreamlocal {
                socket_path: t(),
                reserved: t(),
            },
            "forwarded-streamlocal@openssh.com",
        ),
        (ChannelOpenKind::AuthAgent, "auth-agent@openssh.com"),
        (
            ChannelOpenKind::Tun {
                mode: 0,
                remote_unit: 0,
            },
            "tun@openssh.com",
        ),
    ];
    for (kind, name) in cases {
        assert_eq!(kind.name(), name.as_bytes());
    }
}

#[test]
fn channel_open_confirmation_and_failure() {
    check(
        ChannelOpenConfirmation {
            recipient: 0,
            sender: 5,
            initial_window: 0x0020_0000,
            max_packet: 0x8000,
            data: RawTail(Bytes::new()),
        },
        NONE,
        &["5b", "00000000", "00000005", "00200000", "00008000"],
        Shape::Tail(0),
    );
    check(
        ChannelOpenConfirmation {
            recipient: 1,
            sender: 2,
            initial_window: 3,
            max_packet: 4,
            data: RawTail(b(b"\x01\x02")),
        },
        NONE,
        &["5b 00000001 00000002 00000003 00000004 0102"],
        Shape::Tail(2),
    );
    check(
        ChannelOpenFailure {
            recipient: 7,
            reason: ChannelOpenFailureReason::CONNECT_FAILED,
            description: "refused".into(),
            language: "".into(),
        },
        NONE,
        &[
            "5c",
            "00000007",                // recipient channel
            "00000002",                // SSH_OPEN_CONNECT_FAILED
            "00000007 72656675736564", // "refused"
            "00000000",
        ],
        Shape::Strict,
    );
}

#[test]
fn channel_window_data_eof_close() {
    check(
        ChannelWindowAdjust {
            recipient: 1,
            bytes_to_add: 0x0010_0000,
        },
        NONE,
        &["5d 00000001 00100000"],
        Shape::Strict,
    );
    check(
        ChannelData {
            recipient: 7,
            data: b(b"hello"),
        },
        NONE,
        &["5e 00000007 00000005 68656c6c6f"],
        Shape::Strict,
    );
    check(
        ChannelExtendedData {
            recipient: 1,
            data_type: ExtendedDataType::STDERR,
            data: b(b"err"),
        },
        NONE,
        &["5f", "00000001", "00000001", "00000003 657272"],
        Shape::Strict,
    );
    check(
        ChannelEof { recipient: 2 },
        NONE,
        &["60 00000002"],
        Shape::Strict,
    );
    check(
        ChannelClose { recipient: 2 },
        NONE,
        &["61 00000002"],
        Shape::Strict,
    );
    check(
        ChannelSuccess { recipient: 4 },
        NONE,
        &["63 00000004"],
        Shape::Strict,
    );
    check(
        ChannelFailure { recipient: 4 },
        NONE,
        &["64 00000004"],
        Shape::Strict,
    );
}

#[test]
fn channel_request_pty_x11_env() {
    check(
        chreq(
            true,
            ChannelRequestKind::PtyReq {
                term: "xterm-256color".into(),
                columns: 80,
                rows: 24,
                width_px: 0,
                height_px: 0,
                modes: b(b"\x81\x00\x00\x96\x00\x00"),
            },
        ),
        NONE,
        &[
            "62",                                    // SSH_MSG_CHANNEL_REQUEST
            "00000000",                              // recipient channel
            "00000007 7074792d726571",               // "pty-req"
            "01",                                    // want reply
            "0000000e 787465726d2d323536636f6c6f72", // TERM
            "00000050 00000018 00000000 00000000",   // 80x24 chars, 0x0 pixels
            "00000006 810000960000",                 // TTY_OP_ISPEED 38400, TTY_OP_END
        ],
        Shape::Strict,
    );
    check(
        chreq(
            false,
            ChannelRequestKind::X11Req {
                single_connection: true,
                auth_protocol: "MIT-MAGIC-COOKIE-1".into(),
                auth_cookie: "abcd".into(),
                screen: 0,
            },
        ),
        NONE,
        &[
            "62 00000000",
            "00000007 7831312d726571", // "x11-req"
            "00",
            "01", // single connection
            "00000012 4d49542d4d414749432d434f4f4b49452d31",
            "00000004 61626364",
            "00000000", // screen
        ],
        Shape::Strict,
    );
    check(
        chreq(
            false,
            ChannelRequestKind::Env {
                name: "LANG".into(),
                value: "C.UTF-8".into(),
            },
        ),
        NONE,
        &[
            "62 00000000",
            "00000003 656e76", // "env"
            "00",
            "00000004 4c414e47",
            "00000007 432e5554462d38",
        ],
        Shape::Strict,
    );
}

#[test]
fn channel_request_shell_exec_subsystem() {
    check(
        chreq(true, ChannelRequestKind::Shell),
        NONE,
        &["62 00000000", "00000005 7368656c6c", "01"],
        Shape::Strict,
    );
    check(
        chreq(
            true,
            ChannelRequestKind::Exec {
                command: b(b"ls -l"),
            },
        ),
        NONE,
        &[
            "62 00000000",
            "00000004 65786563", // "exec"
            "01",
            "00000005 6c73202d6c",
        ],
        Shape::Strict,
    );
    check(
        chreq(
            true,
            ChannelRequestKind::Subsystem {
                name: "sftp".into(),
            },
        ),
        NONE,
        &[
            "62 00000000",
            "00000009 73756273797374656d", // "subsystem"
            "01",
            "00000004 73667470", // "sftp"
        ],
        Shape::Strict,
    );
}

#[test]
fn channel_request_window_change_xon_xoff_signal() {
    check(
        chreq(
            false,
            ChannelRequestKind::WindowChange {
                columns: 120,
                rows: 40,
                width_px: 1,
                height_px: 2,
            },
        ),
        NONE,
        &[
            "62 00000000",
            &st("window-change"),
            "00",
            "00000078 00000028 00000001 00000002",
        ],
        Shape::Strict,
    );
    check(
        chreq(
            false,
            ChannelRequestKind::XonXoff {
                client_can_do: true,
            },
        ),
        NONE,
        &["62 00000000", &st("xon-xoff"), "00", "01"],
        Shape::Strict,
    );
    check(
        chreq(
            false,
            ChannelRequestKind::Signal {
                name: "TERM".into(),
            },
        ),
        NONE,
        &[
            "62 00000000",
            "00000006 7369676e616c", // "signal"
            "00",
            "00000004 5445524d", // "TERM"
        ],
        Shape::Strict,
    );
}

#[test]
fn channel_request_exit_status_and_signal() {
    check(
        chreq(false, ChannelRequestKind::ExitStatus { status: 1 }),
        NONE,
        &["62 00000000", &st("exit-status"), "00", "00000001"],
        Shape::Strict,
    );
    check(
        chreq(
            false,
            ChannelRequestKind::ExitSignal {
                signal: "SEGV".into(),
                core_dumped: true,
                message: "boom".into(),
                language: "".into(),
            },
        ),
        NONE,
        &[
            "62 00000000",
            &st("exit-signal"),
            "00",
            "00000004 53454756", // "SEGV"
            "01",                // core dumped
            "00000004 626f6f6d", // "boom"
            "00000000",
        ],
        Shape::Strict,
    );
}

#[test]
fn channel_request_break_agent_eow_keepalive() {
    check(
        chreq(true, ChannelRequestKind::Break { length_ms: 500 }),
        NONE,
        &["62 00000000", "00000005 627265616b", "01", "000001f4"],
        Shape::Strict,
    );
    check(
        chreq(false, ChannelRequestKind::AuthAgentReq),
        NONE,
        &["62 00000000", &st("auth-agent-req@openssh.com"), "00"],
        Shape::Strict,
    );
    check(
        chreq(false, ChannelRequestKind::EndOfWrite),
        NONE,
        &["62 00000000", &st("eow@openssh.com"), "00"],
        Shape::Strict,
    );
    check(
        chreq(true, ChannelRequestKind::Keepalive),
        NONE,
        &["62 00000000", &st("keepalive@openssh.com"), "01"],
        Shape::Strict,
    );
}

#[test]
fn channel_request_other() {
    check(
        chreq(
            true,
            ChannelRequestKind::Other {
                request: "x-req@example.com".into(),
                data: b(b"\x0a\x0b\x0c"),
            },
        ),
        NONE,
        &["62 00000000", &st("x-req@example.com"), "01", "0a0b0c"],
        Shape::Tail(3),
    );
}

#[test]
fn unknown_numbers() {
    check(
        Message::Unknown {
            number: 200,
            payload: b(b"\x01\x02"),
        },
        NONE,
        &["c8 0102"],
        Shape::Tail(2),
    );
    check(
        Message::Unknown {
            number: 9,
            payload: Bytes::new(),
        },
        NONE,
        &["09"],
        Shape::Tail(0),
    );
    for number in unassigned_numbers() {
        for ctx in all_contexts() {
            assert_eq!(
                decode(&[number, 0xaa], ctx),
                Ok(Message::Unknown {
                    number,
                    payload: b(b"\xaa")
                })
            );
        }
    }
}

#[test]
fn reserved_and_empty() {
    for ctx in all_contexts() {
        assert_eq!(decode(&[], ctx), Err(Error::EmptyPayload));
        assert_eq!(decode(&[0], ctx), Err(Error::ReservedMessageNumber));
        assert_eq!(
            decode(&[0, 1, 2, 3], ctx),
            Err(Error::ReservedMessageNumber)
        );
    }
    assert_eq!(ChannelData::decode(&Bytes::new()), Err(Error::EmptyPayload));
    assert_eq!(
        ChannelData::decode(&b(b"\x5f\x00\x00\x00\x00")),
        Err(Error::UnexpectedMessage {
            expected: 94,
            found: 95
        })
    );
    assert_eq!(
        KexdhInit::decode(&b(b"\x1e\x00\x00\x00\x01\x05")),
        Ok(KexdhInit {
            e: MpInt::from_unsigned_be(&[5])
        })
    );
}

#[test]
fn session_bind() {
    let sb = SessionBind {
        host_key: b(b"\xaa"),
        session_id: b(b"\xbb\xcc"),
        signature: b(b"\xdd"),
        is_forwarding: true,
    };
    let expected = hx(&[
        "00000001 aa",   // host key
        "00000002 bbcc", // session identifier
        "00000001 dd",   // signature
        "01",            // is_forwarding
    ]);
    let mut out = Vec::new();
    sb.encode(&mut out);
    assert_eq!(out, expected);
    assert_eq!(sb.encoded_len(), expected.len());
    assert_eq!(SessionBind::decode(&Bytes::from(expected.clone())), Ok(sb));
    for n in 0..expected.len() {
        assert!(matches!(
            SessionBind::decode(&Bytes::copy_from_slice(&expected[..n])),
            Err(Error::Truncated { .. })
        ));
    }
    let mut longer = expected;
    longer.push(0);
    assert_eq!(
        SessionBind::decode(&Bytes::from(longer)),
        Err(Error::TrailingData {
            what: "session-bind@openssh.com",
            extra: 1
        })
    );
}

// ---------------------------------------------------------------------------------------------
// Numbers, codes and errors
// ---------------------------------------------------------------------------------------------

#[test]
fn message_number_phase_and_name() {
    let cases = [
        (0, Phase::Invalid, "unassigned"),
        (1, Phase::Transport, "SSH_MSG_DISCONNECT"),
        (7, Phase::Transport, "SSH_MSG_EXT_INFO"),
        (19, Phase::Transport, "unassigned"),
        (20, Phase::AlgorithmNegotiation, "SSH_MSG_KEXINIT"),
        (21, Phase::AlgorithmNegotiation, "SSH_MSG_NEWKEYS"),
        (
            30,
            Phase::KexMethod,
            "SSH_MSG_KEXDH_INIT/KEX_ECDH_INIT/KEX_DH_GEX_REQUEST_OLD",
        ),
        (34, Phase::KexMethod, "SSH_MSG_KEX_DH_GEX_REQUEST"),
        (49, Phase::KexMethod, "unassigned"),
        (50, Phase::Userauth, "SSH_MSG_USERAUTH_REQUEST"),
        (
            60,
            Phase::UserauthMethod,
            "SSH_MSG_USERAUTH_PK_OK/PASSWD_CHANGEREQ/INFO_REQUEST",
        ),
        (79, Phase::UserauthMethod, "unassigned"),
        (80, Phase::Connection, "SSH_MSG_GLOBAL_REQUEST"),
        (89, Phase::Connection, "unassigned"),
        (94, Phase::Channel, "SSH_MSG_CHANNEL_DATA"),
        (127, Phase::Channel, "unassigned"),
        (128, Phase::Reserved, "unassigned"),
        (191, Phase::Reserved, "unassigned"),
        (192, Phase::LocalExtension, "SSH2_MSG_PING"),
        (193, Phase::LocalExtension, "SSH2_MSG_PONG"),
        (255, Phase::LocalExtension, "unassigned"),
    ];
    for (n, phase, name) in cases {
        let num = MessageNumber(n);
        assert_eq!(num.phase(), phase, "{n}");
        assert_eq!(num.name(), name, "{n}");
    }
    assert_eq!(
        format!("{:?}", MessageNumber::CHANNEL_DATA),
        "SSH_MSG_CHANNEL_DATA(94)"
    );
    assert_eq!(format!("{:?}", MessageNumber(200)), "unassigned(200)");
    assert_eq!(MessageNumber::from(5u8), MessageNumber::SERVICE_REQUEST);
    assert_eq!(MessageNumber::KEX_ECDH_INIT, MessageNumber::KEXDH_INIT);
    assert_eq!(
        MessageNumber::USERAUTH_INFO_REQUEST,
        MessageNumber::USERAUTH_PK_OK
    );
    // Every assigned number has a name, and every unassigned one is "unassigned".
    let unassigned: BTreeSet<u8> = unassigned_numbers().collect();
    for n in 1..=255u8 {
        assert_eq!(
            MessageNumber(n).name() == "unassigned",
            unassigned.contains(&n),
            "{n}"
        );
    }
}

#[test]
fn disconnect_reason_debug() {
    assert_eq!(
        format!("{:?}", DisconnectReason::PROTOCOL_ERROR),
        "PROTOCOL_ERROR"
    );
    assert_eq!(format!("{:?}", DisconnectReason(11)), "BY_APPLICATION");
    assert_eq!(format!("{:?}", DisconnectReason(15)), "ILLEGAL_USER_NAME");
    assert_eq!(format!("{:?}", DisconnectReason(0)), "DisconnectReason(0)");
    assert_eq!(
        format!("{:?}", DisconnectReason(16)),
        "DisconnectReason(16)"
    );
    assert_eq!(DisconnectReason(3).name(), Some("KEY_EXCHANGE_FAILED"));
    assert_eq!(DisconnectReason(99).name(), None);
    assert_eq!(u32::from(DisconnectReason::MAC_ERROR), 5);
    assert_eq!(
        DisconnectReason::from(8u32),
        DisconnectReason::PROTOCOL_VERSION_NOT_SUPPORTED
    );
    assert_eq!(
        format!("{:?}", ChannelOpenFailureReason::RESOURCE_SHORTAGE),
        "RESOURCE_SHORTAGE"
    );
    assert_eq!(
        format!("{:?}", ChannelOpenFailureReason(9)),
        "ChannelOpenFailureReason(9)"
    );
    assert_eq!(format!("{:?}", ExtendedDataType(1)), "STDERR");
    assert_eq!(format!("{:?}", ExtendedDataType(2)), "ExtendedDataType(2)");
}

#[test]
fn error_disconnect_reason() {
    let protocol_errors = [
        Error::Truncated { what: "x" },
        Error::TrailingData {
            what: "x",
            extra: 1,
        },
        Error::InvalidNameList {
            what: "x",
            rule: NameRule::Empty,
        },
        Error::NonCanonicalMpint { what: "x" },
        Error::CountTooLarge {
            what: "x",
            count: 1,
        },
        Error::EmptyPayload,
        Error::ReservedMessageNumber,
        Error::UnexpectedMessage {
            expected: 1,
            found: 2,
        },
        Error::KexInitReserved(1),
        Error::EncodingTooLarge { len: 1 },
        Error::PacketTooLarge { len: 1, max: 0 },
        Error::PacketTooSmall { len: 0 },
        Error::PacketMisaligned { len: 1, block: 8 },
        Error::BadPadding { padding: 0, len: 0 },
        Error::VersionLineTooLong { max: 255 },
        Error::PreambleLineTooLong { max: 1 },
        Error::TooManyPreambleLines { max: 1 },
        Error::PreambleTooLarge { max: 1 },
        Error::UnexpectedPreamble,
        Error::NulInVersion,
        Error::StrayCarriageReturn,
        Error::MalformedVersion,
    ];
    for e in &protocol_errors {
        assert_eq!(
            e.disconnect_reason(),
            DisconnectReason::PROTOCOL_ERROR,
            "{e}"
        );
        assert_eq!(DisconnectReason::from(e), DisconnectReason::PROTOCOL_ERROR);
        assert!(!e.to_string().is_empty());
    }
    let e = Error::UnsupportedProtocolVersion;
    assert_eq!(
        e.disconnect_reason(),
        DisconnectReason::PROTOCOL_VERSION_NOT_SUPPORTED
    );
    assert_eq!(DisconnectReason::from(&e).0, 8);
    // Errors from real input carry their reason too.
    let e = decode(&[0], NONE).unwrap_err();
    assert_eq!(e.disconnect_reason().0, 2);
}

// ---------------------------------------------------------------------------------------------
// Data type rules: name-lists, mpints, counts
// ---------------------------------------------------------------------------------------------

/// USERAUTH_FAILURE with `methods` as the raw name-list bytes.
fn failure_with(list: &[u8]) -> Result<Message, Error> {
    let mut p = vec![51];
    p.extend_from_slice(&u32::try_from(list.len()).unwrap().to_be_bytes());
    p.extend_from_slice(list);
    p.push(0);
    decode(&p, NONE)
}

#[test]
fn name_list_rules() {
    let long = "a".repeat(65);
    let max = "a".repeat(64);
    let bad: [(&[u8], NameRule); 12] = [
        (b",", NameRule::Empty),
        (b"a,,b", NameRule::Empty),
        (b",a", NameRule::Empty),
        (b"a,", NameRule::Empty),
        (b",,", NameRule::Empty),
        (long.as_bytes(), NameRule::TooLong),
        (b"a\x01", NameRule::NotPrintable),
        (b"a\x7f", NameRule::NotPrintable),
        (b"a b", NameRule::NotPrintable),
        (b"a,b c", NameRule::NotPrintable),
        ("caf\u{e9}".as_bytes(), NameRule::NotPrintable),
        (b"a\0", NameRule::NotPrintable),
    ];
    for (list, rule) in bad {
        assert_eq!(
            failure_with(list),
            Err(Error::InvalidNameList {
                what: "SSH_MSG_USERAUTH_FAILURE",
                rule
            }),
            "{list:?}"
        );
        if let Ok(s) = std::str::from_utf8(list) {
            assert_eq!(NameList::parse(s), Err(rule), "{s:?}");
        }
    }
    // Also in KEXINIT, in any of the ten lists.
    let mut parts = sample_kexinit_hex();
    parts[7] = st("hmac-sha2-256,");
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    assert_eq!(
        decode(&hx(&parts), NONE),
        Err(Error::InvalidNameList {
            what: "SSH_MSG_KEXINIT",
            rule: NameRule::Empty
        })
    );

    let good: [&[u8]; 5] = [
        b"",
        b"a",
        max.as_bytes(),
        b"curve25519-sha256,ext-info-c,kex-strict-c-v00@openssh.com",
        b"!#$%&'*+-./:;<=>?@[\\]^_`{|}~",
    ];
    for list in good {
        let m = failure_with(list).unwrap();
        let Message::UserauthFailure(f) = &m else {
            panic!()
        };
        assert_eq!(f.methods.as_str().as_bytes(), list);
    }

    // The constructors apply the same rules.
    assert_eq!(NameList::from_names([""]), Err(NameRule::Empty));
    assert_eq!(NameList::from_names(["a", ""]), Err(NameRule::Empty));
    assert_eq!(
        NameList::from_names([long.as_str()]),
        Err(NameRule::TooLong)
    );
    assert_eq!(NameList::from_names(["a b"]), Err(NameRule::NotPrintable));
    assert_eq!(NameList::from_names(["a,b"]).unwrap().len(), 2);
    let l = NameList::from_names(["x", "y"]).unwrap();
    assert_eq!(l.as_str(), "x,y");
    assert_eq!(l.iter().collect::<Vec<_>>(), ["x", "y"]);
    assert!(l.contains("y") && !l.contains("z"));
    assert_eq!(format!("{l:?}"), r#"["x", "y"]"#);
    assert_eq!(l.to_string(), "x,y");
    let empty = NameList::from_names(Vec::<&str>::new()).unwrap();
    assert!(empty.is_empty());
    assert_eq!(empty.len(), 0);
    assert_eq!(empty, NameList::parse("").unwrap());
    // RFC 4253 §7.1: the first of the client's names the server also has.
    let client = NameList::parse("c,b,a").unwrap();
    let server = NameList::parse("a,b").unwrap();
    assert_eq!(client.first_match(&server), Some("b"));
    assert_eq!(server.first_match(&client), Some("a"));
    assert_eq!(client.first_match(&NameList::empty()), None);
}

/// KEXDH_INIT with `e` as the raw mpint bytes.
fn kexdh_init_with(e: &[u8]) -> Result<Message, Error> {
    let mut p = vec![30];
    p.extend_from_slice(&u32::try_from(e.len()).unwrap().to_be_bytes());
    p.extend_from_slice(e);
    decode(&p, kex(KexFamily::Dh))
}

#[test]
fn mpint_rules() {
    // RFC 4251 §5: no unnecessary leading 0x00 or 0xff bytes.
    for bad in [
        &[0x00, 0x01][..],
        &[0x00, 0x7f],
        &[0x00, 0x00, 0x80],
        &[0xff, 0xff],
        &[0xff, 0x80],
        &[0xff, 0xff, 0x01],
        // Zero is the empty string, not a zero byte.
        &[0x00],
    ] {
        assert_eq!(
            kexdh_init_with(bad),
            Err(Error::NonCanonicalMpint {
                what: "SSH_MSG_KEXDH_INIT"
            }),
            "{bad:02x?}"
        );
        assert_eq!(
            MpInt::from_wire(Bytes::copy_from_slice(bad)),
            Err(Error::NonCanonicalMpint { what: "mpint" })
        );
    }
    // Examples of RFC 4251 §5, and negative values.
    for (good, negative) in [
        (&[][..], false),
        (&[0x09, 0xa3, 0x78, 0xf9, 0xb2, 0xe3, 0x32, 0xa7][..], false),
        (&[0x00, 0x80][..], false),
        (&[0xed, 0xcc][..], true),                   // -1234
        (&[0xff, 0x21, 0x52, 0x41, 0x11][..], true), // -0xdeadbeef
        (&[0x80][..], true),
        (&[0xff][..], true),
        (&[0xff, 0x7f][..], true),
        (&[0x7f][..], false),
    ] {
        let Message::KexdhInit(k) = kexdh_init_with(good).unwrap() else {
            panic!()
        };
        assert_eq!(k.e.as_bytes(), good);
        assert_eq!(k.e.is_negative(), negative, "{good:02x?}");
        assert_eq!(k.e.is_zero(), good.is_empty());
        if negative {
            assert_eq!(k.e.unsigned_be(), None);
        }
    }
    // Zero is the empty string.
    assert_eq!(MpInt::zero().as_bytes(), b"");
    assert!(MpInt::zero().is_zero());
    assert_eq!(MpInt::from_unsigned_be(&[]), MpInt::zero());
    assert_eq!(MpInt::from_unsigned_be(&[0, 0, 0]), MpInt::zero());
    assert_eq!(MpInt::zero().unsigned_be(), Some(&b""[..]));
    // High-bit magnitudes get a leading zero byte; leading zeros are stripped.
    let m = MpInt::from_unsigned_be(&[0x80]);
    assert_eq!(m.as_bytes(), [0x00, 0x80]);
    assert!(!m.is_negative());
    assert_eq!(m.unsigned_be(), Some(&[0x80][..]));
    let m = MpInt::from_unsigned_be(&[0x00, 0x00, 0xde, 0xad]);
    assert_eq!(m.as_bytes(), [0x00, 0xde, 0xad]);
    let m = MpInt::from_unsigned_be(&[0x00, 0x12, 0x34]);
    assert_eq!(m.as_bytes(), [0x12, 0x34]);
    assert_eq!(m.unsigned_be(), Some(&[0x12, 0x34][..]));
    assert_eq!(format!("{m:?}"), "MpInt(1234)");
}

#[test]
fn count_fields_too_large() {
    let cases: [(Context, &str, &str); 3] = [
        (NONE, "07 ffffffff", "SSH_MSG_EXT_INFO"),
        (
            auth(AuthFamily::KeyboardInteractive),
            "3c 00000000 00000000 00000000 ffffffff",
            "SSH_MSG_USERAUTH_INFO_REQUEST",
        ),
        (
            auth(AuthFamily::KeyboardInteractive),
            "3d ffffffff",
            "SSH_MSG_USERAUTH_INFO_RESPONSE",
        ),
    ];
    for (ctx, head, what) in cases {
        // The count is rejected before anything is allocated for it: a `Vec` of 2^32
        // elements would abort the test process rather than return.
        let mut p = hx(&[head]);
        assert_eq!(
            decode(&p, ctx),
            Err(Error::CountTooLarge {
                what,
                count: u32::MAX
            })
        );
        // Same with some (too few) bytes after it.
        p.extend_from_slice(&[0; 64]);
        assert_eq!(
            decode(&p, ctx),
            Err(Error::CountTooLarge {
                what,
                count: u32::MAX
            })
        );
    }
    // A count just one element more than the rest can hold is rejected too...
    assert_eq!(
        decode(
            &hx(&["07 00000002 00000000 00000000 00000000 000000"]),
            NONE
        ),
        Err(Error::CountTooLarge {
            what: "SSH_MSG_EXT_INFO",
            count: 2
        })
    );
    // ...and one that fits exactly decodes.
    assert_eq!(
        decode(
            &hx(&["07 00000002 00000000 00000000 00000000 00000000"]),
            NONE
        ),
        Ok(Message::ExtInfo(ExtInfo {
            extensions: vec![("".into(), Bytes::new()), ("".into(), Bytes::new())]
        }))
    );
    let ki = auth(AuthFamily::KeyboardInteractive);
    assert!(matches!(
        decode(&hx(&["3d 00000002 00000000 000000"]), ki),
        Err(Error::CountTooLarge { count: 2, .. })
    ));
    assert!(matches!(
        decode(
            &hx(&["3c 00000000 00000000 00000000 00000001 00000000"]),
            ki
        ),
        Err(Error::CountTooLarge { count: 1, .. })
    ));
    assert!(matches!(
        decode(
            &hx(&["3c 00000000 00000000 00000000 00000001 00000000 01"]),
            ki
        ),
        Ok(Message::UserauthInfoRequest(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------------------

/// Numbers that mean nothing in any context.
fn unassigned_numbers() -> impl Iterator<Item = u8> {
    (9..=19)
        .chain(22..=29)
        .chain(35..=49)
        .chain(54..=59)
        .chain(62..=79)
        .chain(83..=89)
        .chain(101..=191)
        .chain(194..=255)
}

fn bytes_upto(max: usize) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn text() -> impl Strategy<Value = Text> {
    prop_oneof![
        bytes_upto(24).prop_map(Text::from),
        "[a-zA-Z0-9 ./@\u{e9}\u{1f600}-]{0,24}".prop_map(Text::from),
    ]
}

fn name() -> impl Strategy<Value = String> {
    vec(prop_oneof![0x21u8..=0x2b, 0x2du8..=0x7e], 1..=64)
        .prop_map(|v| String::from_utf8(v).unwrap())
}

fn name_list() -> impl Strategy<Value = NameList> {
    vec(name(), 0..5).prop_map(|v| NameList::from_names(v).unwrap())
}

fn mpint() -> impl Strategy<Value = MpInt> {
    prop_oneof![
        vec(any::<u8>(), 0..40).prop_map(|v| MpInt::from_unsigned_be(&v)),
        vec(any::<u8>(), 1..40).prop_filter_map("canonical", |v| MpInt::from_wire(v.into()).ok()),
    ]
}

fn reason() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..20, any::<u32>()]
}

const AUTH_NAMES: &[&str] = &[
    "none",
    "password",
    "publickey",
    "publickey-hostbound-v00@openssh.com",
    "keyboard-interactive",
    "hostbased",
];
const GLOBAL_NAMES: &[&str] = &[
    "tcpip-forward",
    "cancel-tcpip-forward",
    "streamlocal-forward@openssh.com",
    "cancel-streamlocal-forward@openssh.com",
    "keepalive@openssh.com",
    "no-more-sessions@openssh.com",
    "hostkeys-00@openssh.com",
    "hostkeys-prove-00@openssh.com",
];
const OPEN_NAMES: &[&str] = &[
    "session",
    "x11",
    "forwarded-tcpip",
    "direct-tcpip",
    "direct-streamlocal@openssh.com",
    "forwarded-streamlocal@openssh.com",
    "auth-agent@openssh.com",
    "tun@openssh.com",
];
const REQUEST_NAMES: &[&str] = &[
    "pty-req",
    "x11-req",
    "env",
    "shell",
    "exec",
    "subsystem",
    "window-change",
    "xon-xoff",
    "signal",
    "exit-status",
    "exit-signal",
    "break",
    "auth-agent-req@openssh.com",
    "eow@openssh.com",
    "keepalive@openssh.com",
];

/// A name that is none of `known`: arbitrary bytes, or a near miss of a known name.
fn other_name(known: &'static [&'static str]) -> impl Strategy<Value = Text> {
    prop_oneof![
        bytes_upto(40),
        (proptest::sample::select(known), any::<bool>()).prop_map(|(n, upper)| {
            // A near miss: one byte longer, or differently cased.
            if upper {
                Bytes::from(n.to_uppercase())
            } else {
                Bytes::from(format!("{n}x"))
            }
        }),
    ]
    .prop_filter("not a known name", move |b| {
        !known.iter().any(|k| k.as_bytes() == &b[..])
    })
    .prop_map(Text::from)
}

type Boxed = BoxedStrategy<(Message, Context)>;

fn any_ctx() -> impl Strategy<Value = Context> {
    (
        proptest::sample::select(KEXES.to_vec()),
        proptest::sample::select(AUTHS.to_vec()),
    )
        .prop_map(|(kex, auth)| Context { kex, auth })
}

/// A message that means the same in every context.
fn free<M: Into<Message> + core::fmt::Debug + 'static>(
    s: impl Strategy<Value = M> + 'static,
) -> Boxed {
    (s, any_ctx()).prop_map(|(m, ctx)| (m.into(), ctx)).boxed()
}

fn in_kex<M: Into<Message> + core::fmt::Debug + 'static>(
    family: KexFamily,
    s: impl Strategy<Value = M> + 'static,
) -> Boxed {
    (s, proptest::sample::select(AUTHS.to_vec()))
        .prop_map(move |(m, auth)| {
            (
                m.into(),
                Context {
                    kex: Some(family),
                    auth,
                },
            )
        })
        .boxed()
}

fn in_auth<M: Into<Message> + core::fmt::Debug + 'static>(
    family: AuthFamily,
    s: impl Strategy<Value = M> + 'static,
) -> Boxed {
    (s, proptest::sample::select(KEXES.to_vec()))
        .prop_map(move |(m, kex)| {
            (
                m.into(),
                Context {
                    kex,
                    auth: Some(family),
                },
            )
        })
        .boxed()
}

fn auth_methods() -> Vec<BoxedStrategy<AuthMethod>> {
    vec![
        Just(AuthMethod::None).boxed(),
        (bytes_upto(20), proptest::option::of(bytes_upto(20)))
            .prop_map(|(password, new_password)| AuthMethod::Password {
                password,
                new_password,
            })
            .boxed(),
        (text(), bytes_upto(40), proptest::option::of(bytes_upto(40)))
            .prop_map(|(algorithm, public_key, signature)| AuthMethod::PublicKey {
                algorithm,
                public_key,
                signature,
            })
            .boxed(),
        (
            text(),
            bytes_upto(40),
            bytes_upto(40),
            proptest::option::of(bytes_upto(40)),
        )
            .prop_map(|(algorithm, public_key, host_key, signature)| {
                AuthMethod::PublicKeyHostbound {
                    algorithm,
                    public_key,
                    host_key,
                    signature,
                }
            })
            .boxed(),
        (text(), text())
            .prop_map(|(language, submethods)| AuthMethod::KeyboardInteractive {
                language,
                submethods,
            })
            .boxed(),
        (text(), bytes_upto(40), text(), text(), bytes_upto(40))
            .prop_map(
                |(algorithm, public_key, client_host, client_user, signature)| {
                    AuthMethod::HostBased {
                        algorithm,
                        public_key,
                        client_host,
                        client_user,
                        signature,
                    }
                },
            )
            .boxed(),
        (other_name(AUTH_NAMES), bytes_upto(40))
            .prop_map(|(method, data)| AuthMethod::Other { method, data })
            .boxed(),
    ]
}

fn global_kinds() -> Vec<BoxedStrategy<GlobalRequestKind>> {
    type K = GlobalRequestKind;
    vec![
        (text(), any::<u32>())
            .prop_map(|(address, port)| K::TcpipForward { address, port })
            .boxed(),
        (text(), any::<u32>())
            .prop_map(|(address, port)| K::CancelTcpipForward { address, port })
            .boxed(),
        text()
            .prop_map(|socket_path| K::StreamlocalForward { socket_path })
            .boxed(),
        text()
            .prop_map(|socket_path| K::CancelStreamlocalForward { socket_path })
            .boxed(),
        Just(K::Keepalive).boxed(),
        Just(K::NoMoreSessions).boxed(),
        vec(bytes_upto(30), 0..4)
            .prop_map(|keys| K::HostKeys { keys })
            .boxed(),
        vec(bytes_upto(30), 0..4)
            .prop_map(|keys| K::HostKeysProve { keys })
            .boxed(),
        (other_name(GLOBAL_NAMES), bytes_upto(30))
            .prop_map(|(name, data)| K::Other { name, data })
            .boxed(),
    ]
}

fn open_kinds() -> Vec<BoxedStrategy<ChannelOpenKind>> {
    type K = ChannelOpenKind;
    vec![
        Just(K::Session).boxed(),
        (text(), any::<u32>())
            .prop_map(|(originator_address, originator_port)| K::X11 {
                originator_address,
                originator_port,
            })
            .boxed(),
        (text(), any::<u32>(), text(), any::<u32>())
            .prop_map(|(a, pa, b, pb)| K::ForwardedTcpip {
                connected_address: a,
                connected_port: pa,
                originator_address: b,
                originator_port: pb,
            })
            .boxed(),
        (text(), any::<u32>(), text(), any::<u32>())
            .prop_map(|(a, pa, b, pb)| K::DirectTcpip {
                host: a,
                port: pa,
                originator_address: b,
                originator_port: pb,
            })
            .boxed(),
        (text(), text(), any::<u32>())
            .prop_map(
                |(socket_path, reserved, reserved_port)| K::DirectStreamlocal {
                    socket_path,
                    reserved,
                    reserved_port,
                },
            )
            .boxed(),
        (text(), text())
            .prop_map(|(socket_path, reserved)| K::ForwardedStreamlocal {
                socket_path,
                reserved,
            })
            .boxed(),
        Just(K::AuthAgent).boxed(),
        (any::<u32>(), any::<u32>())
            .prop_map(|(mode, remote_unit)| K::Tun { mode, remote_unit })
            .boxed(),
        (other_name(OPEN_NAMES), bytes_upto(30))
            .prop_map(|(channel_type, data)| K::Other { channel_type, data })
            .boxed(),
    ]
}

fn request_kinds() -> Vec<BoxedStrategy<ChannelRequestKind>> {
    type K = ChannelRequestKind;
    let u = any::<u32>;
    vec![
        (text(), u(), u(), u(), u(), bytes_upto(30))
            .prop_map(
                |(term, columns, rows, width_px, height_px, modes)| K::PtyReq {
                    term,
                    columns,
                    rows,
                    width_px,
                    height_px,
                    modes,
                },
            )
            .boxed(),
        (any::<bool>(), text(), text(), u())
            .prop_map(
                |(single_connection, auth_protocol, auth_cookie, screen)| K::X11Req {
                    single_connection,
                    auth_protocol,
                    auth_cookie,
                    screen,
                },
            )
            .boxed(),
        (text(), text())
            .prop_map(|(name, value)| K::Env { name, value })
            .boxed(),
        Just(K::Shell).boxed(),
        bytes_upto(40)
            .prop_map(|command| K::Exec { command })
            .boxed(),
        text().prop_map(|name| K::Subsystem { name }).boxed(),
        (u(), u(), u(), u())
            .prop_map(|(columns, rows, width_px, height_px)| K::WindowChange {
                columns,
                rows,
                width_px,
                height_px,
            })
            .boxed(),
        any::<bool>()
            .prop_map(|client_can_do| K::XonXoff { client_can_do })
            .boxed(),
        text().prop_map(|name| K::Signal { name }).boxed(),
        u().prop_map(|status| K::ExitStatus { status }).boxed(),
        (text(), any::<bool>(), text(), text())
            .prop_map(|(signal, core_dumped, message, language)| K::ExitSignal {
                signal,
                core_dumped,
                message,
                language,
            })
            .boxed(),
        u().prop_map(|length_ms| K::Break { length_ms }).boxed(),
        Just(K::AuthAgentReq).boxed(),
        Just(K::EndOfWrite).boxed(),
        Just(K::Keepalive).boxed(),
        (other_name(REQUEST_NAMES), bytes_upto(30))
            .prop_map(|(request, data)| K::Other { request, data })
            .boxed(),
    ]
}

fn kexinit_strategy() -> impl Strategy<Value = KexInit> {
    (
        any::<[u8; 16]>(),
        [
            name_list(),
            name_list(),
            name_list(),
            name_list(),
            name_list(),
            name_list(),
            name_list(),
            name_list(),
            name_list(),
            name_list(),
        ],
        any::<bool>(),
    )
        .prop_map(
            |(cookie, [a, b, c, d, e, f, g, h, i, j], follows)| KexInit {
                cookie,
                kex_algorithms: a,
                server_host_key_algorithms: b,
                encryption_client_to_server: c,
                encryption_server_to_client: d,
                mac_client_to_server: e,
                mac_server_to_client: f,
                compression_client_to_server: g,
                compression_server_to_client: h,
                languages_client_to_server: i,
                languages_server_to_client: j,
                first_kex_packet_follows: follows,
            },
        )
}

/// Unknown messages with the contexts in which their number means nothing.
fn unknown() -> Boxed {
    let always: Vec<u8> = unassigned_numbers().collect();
    let payload = || bytes_upto(40);
    Union::new(vec![
        (proptest::sample::select(always), payload(), any_ctx())
            .prop_map(|(number, payload, ctx)| (Message::Unknown { number, payload }, ctx))
            .boxed(),
        // 30-34 without a kex context; 32-34 under fixed-group DH and ECDH.
        (
            30u8..=34,
            payload(),
            proptest::sample::select(AUTHS.to_vec()),
        )
            .prop_map(|(number, payload, auth)| {
                (
                    Message::Unknown { number, payload },
                    Context { kex: None, auth },
                )
            })
            .boxed(),
        (
            32u8..=34,
            payload(),
            proptest::sample::select(vec![KexFamily::Dh, KexFamily::Ecdh]),
            proptest::sample::select(AUTHS.to_vec()),
        )
            .prop_map(|(number, payload, k, auth)| {
                (
                    Message::Unknown { number, payload },
                    Context { kex: Some(k), auth },
                )
            })
            .boxed(),
        // 60-61 without an auth context; 61 outside keyboard-interactive.
        (
            60u8..=61,
            payload(),
            proptest::sample::select(KEXES.to_vec()),
        )
            .prop_map(|(number, payload, kex)| {
                (
                    Message::Unknown { number, payload },
                    Context { kex, auth: None },
                )
            })
            .boxed(),
        (
            payload(),
            proptest::sample::select(KEXES.to_vec()),
            proptest::sample::select(vec![AuthFamily::PublicKey, AuthFamily::Password]),
        )
            .prop_map(|(payload, kex, a)| {
                (
                    Message::Unknown {
                        number: 61,
                        payload,
                    },
                    Context { kex, auth: Some(a) },
                )
            })
            .boxed(),
    ])
    .boxed()
}

/// Every message type, every sub-kind, and `Unknown`, each with a context it decodes in.
fn message() -> Boxed {
    let u = any::<u32>;
    let mut arms: Vec<Boxed> = vec![
        // Transport.
        free(
            (reason(), text(), text()).prop_map(|(r, description, language)| Disconnect {
                reason: DisconnectReason(r),
                description,
                language,
            }),
        ),
        free(bytes_upto(64).prop_map(|data| Ignore { data })),
        free(u().prop_map(|sequence| Unimplemented { sequence })),
        free(
            (any::<bool>(), text(), text()).prop_map(|(always_display, message, language)| {
                DebugMessage {
                    always_display,
                    message,
                    language,
                }
            }),
        ),
        free(text().prop_map(|service| ServiceRequest { service })),
        free(text().prop_map(|service| ServiceAccept { service })),
        free(vec((text(), bytes_upto(30)), 0..5).prop_map(|extensions| ExtInfo { extensions })),
        free(Just(NewCompress {})),
        free(kexinit_strategy()),
        free(Just(NewKeys {})),
        free(bytes_upto(30).prop_map(|data| Ping { data })),
        free(bytes_upto(30).prop_map(|data| Pong { data })),
        // Key exchange methods.
        in_kex(KexFamily::Dh, mpint().prop_map(|e| KexdhInit { e })),
        in_kex(
            KexFamily::Dh,
            (bytes_upto(40), mpint(), bytes_upto(40)).prop_map(|(host_key, f, signature)| {
                KexdhReply {
                    host_key,
                    f,
                    signature,
                }
            }),
        ),
        in_kex(
            KexFamily::Ecdh,
            bytes_upto(64).prop_map(|client_public| KexEcdhInit { client_public }),
        ),
        in_kex(
            KexFamily::Ecdh,
            (bytes_upto(40), bytes_upto(64), bytes_upto(40)).prop_map(
                |(host_key, server_public, signature)| KexEcdhReply {
                    host_key,
                    server_public,
                    signature,
                },
            ),
        ),
        in_kex(KexFamily::DhGex, u().prop_map(|n| KexDhGexRequestOld { n })),
        in_kex(
            KexFamily::DhGex,
            (u(), u(), u()).prop_map(|(min, n, max)| KexDhGexRequest { min, n, max }),
        ),
        in_kex(
            KexFamily::DhGex,
            (mpint(), mpint()).prop_map(|(p, g)| KexDhGexGroup { p, g }),
        ),
        in_kex(KexFamily::DhGex, mpint().prop_map(|e| KexDhGexInit { e })),
        in_kex(
            KexFamily::DhGex,
            (bytes_upto(40), mpint(), bytes_upto(40)).prop_map(|(host_key, f, signature)| {
                KexDhGexReply {
                    host_key,
                    f,
                    signature,
                }
            }),
        ),
        // User authentication.
        free(
            (name_list(), any::<bool>()).prop_map(|(methods, partial_success)| UserauthFailure {
                methods,
                partial_success,
            }),
        ),
        free(Just(UserauthSuccess {})),
        free((text(), text()).prop_map(|(message, language)| UserauthBanner { message, language })),
        in_auth(
            AuthFamily::PublicKey,
            (text(), bytes_upto(40)).prop_map(|(algorithm, public_key)| UserauthPkOk {
                algorithm,
                public_key,
            }),
        ),
        in_auth(
            AuthFamily::Password,
            (text(), text())
                .prop_map(|(prompt, language)| UserauthPasswdChangereq { prompt, language }),
        ),
        in_auth(
            AuthFamily::KeyboardInteractive,
            (
                text(),
                text(),
                text(),
                vec(
                    (text(), any::<bool>()).prop_map(|(prompt, echo)| Prompt { prompt, echo }),
                    0..5,
                ),
            )
                .prop_map(|(name, instruction, language, prompts)| {
                    UserauthInfoRequest {
                        name,
                        instruction,
                        language,
                        prompts,
                    }
                }),
        ),
        in_auth(
            AuthFamily::KeyboardInteractive,
            vec(bytes_upto(20), 0..5).prop_map(|responses| UserauthInfoResponse { responses }),
        ),
        // Connection.
        free(bytes_upto(20).prop_map(|d| RequestSuccess { data: RawTail(d) })),
        free(Just(RequestFailure {})),
        free((u(), u(), u(), u(), bytes_upto(20)).prop_map(
            |(recipient, sender, initial_window, max_packet, d)| ChannelOpenConfirmation {
                recipient,
                sender,
                initial_window,
                max_packet,
                data: RawTail(d),
            },
        )),
        free(
            (u(), reason(), text(), text()).prop_map(|(recipient, r, description, language)| {
                ChannelOpenFailure {
                    recipient,
                    reason: ChannelOpenFailureReason(r),
                    description,
                    language,
                }
            }),
        ),
        free(
            (u(), u()).prop_map(|(recipient, bytes_to_add)| ChannelWindowAdjust {
                recipient,
                bytes_to_add,
            }),
        ),
        free((u(), bytes_upto(300)).prop_map(|(recipient, data)| ChannelData { recipient, data })),
        free(
            (u(), reason(), bytes_upto(100)).prop_map(|(recipient, t, data)| ChannelExtendedData {
                recipient,
                data_type: ExtendedDataType(t),
                data,
            }),
        ),
        free(u().prop_map(|recipient| ChannelEof { recipient })),
        free(u().prop_map(|recipient| ChannelClose { recipient })),
        free(u().prop_map(|recipient| ChannelSuccess { recipient })),
        free(u().prop_map(|recipient| ChannelFailure { recipient })),
        unknown(),
    ];
    for method in auth_methods() {
        arms.push(free((text(), text(), method).prop_map(
            |(user, service, method)| UserauthRequest {
                user,
                service,
                method,
            },
        )));
    }
    for kind in global_kinds() {
        arms.push(free((any::<bool>(), kind).prop_map(
            |(want_reply, kind)| GlobalRequest { want_reply, kind },
        )));
    }
    for kind in open_kinds() {
        arms.push(free((u(), u(), u(), kind).prop_map(
            |(sender, initial_window, max_packet, kind)| ChannelOpen {
                sender,
                initial_window,
                max_packet,
                kind,
            },
        )));
    }
    for kind in request_kinds() {
        arms.push(free((u(), any::<bool>(), kind).prop_map(
            |(recipient, want_reply, kind)| ChannelRequest {
                recipient,
                want_reply,
                kind,
            },
        )));
    }
    Union::new(arms).boxed()
}

/// A label naming the message variant and, where there is one, its sub-kind.
fn label(m: &Message) -> String {
    let debug = format!("{m:?}");
    let variant: String = debug.chars().take_while(|c| c.is_alphanumeric()).collect();
    let sub = ["method: ", "kind: "]
        .iter()
        .find_map(|key| debug.find(key).map(|at| &debug[at + key.len()..]))
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_alphanumeric())
                .collect::<String>()
        });
    match sub {
        Some(s) => format!("{variant}/{s}"),
        None => variant,
    }
}

#[test]
fn strategy_covers_every_variant_and_sub_kind() {
    let expected: BTreeSet<&str> = [
        "Disconnect",
        "Ignore",
        "Unimplemented",
        "Debug",
        "ServiceRequest",
        "ServiceAccept",
        "ExtInfo",
        "NewCompress",
        "KexInit",
        "NewKeys",
        "KexdhInit",
        "KexdhReply",
        "KexEcdhInit",
        "KexEcdhReply",
        "KexDhGexRequestOld",
        "KexDhGexRequest",
        "KexDhGexGroup",
        "KexDhGexInit",
        "KexDhGexReply",
        "UserauthRequest/None",
        "UserauthRequest/Password",
        "UserauthRequest/PublicKey",
        "UserauthRequest/PublicKeyHostbound",
        "UserauthRequest/KeyboardInteractive",
        "UserauthRequest/HostBased",
        "UserauthRequest/Other",
        "UserauthFailure",
        "UserauthSuccess",
        "UserauthBanner",
        "UserauthPkOk",
        "UserauthPasswdChangereq",
        "UserauthInfoRequest",
        "UserauthInfoResponse",
        "GlobalRequest/TcpipForward",
        "GlobalRequest/CancelTcpipForward",
        "GlobalRequest/StreamlocalForward",
        "GlobalRequest/CancelStreamlocalForward",
        "GlobalRequest/Keepalive",
        "GlobalRequest/NoMoreSessions",
        "GlobalRequest/HostKeys",
        "GlobalRequest/HostKeysProve",
        "GlobalRequest/Other",
        "RequestSuccess",
        "RequestFailure",
        "ChannelOpen/Session",
        "ChannelOpen/X11",
        "ChannelOpen/ForwardedTcpip",
        "ChannelOpen/DirectTcpip",
        "ChannelOpen/DirectStreamlocal",
        "ChannelOpen/ForwardedStreamlocal",
        "ChannelOpen/AuthAgent",
        "ChannelOpen/Tun",
        "ChannelOpen/Other",
        "ChannelOpenConfirmation",
        "ChannelOpenFailure",
        "ChannelWindowAdjust",
        "ChannelData",
        "ChannelExtendedData",
        "ChannelEof",
        "ChannelClose",
        "ChannelRequest/PtyReq",
        "ChannelRequest/X11Req",
        "ChannelRequest/Env",
        "ChannelRequest/Shell",
        "ChannelRequest/Exec",
        "ChannelRequest/Subsystem",
        "ChannelRequest/WindowChange",
        "ChannelRequest/XonXoff",
        "ChannelRequest/Signal",
        "ChannelRequest/ExitStatus",
        "ChannelRequest/ExitSignal",
        "ChannelRequest/Break",
        "ChannelRequest/AuthAgentReq",
        "ChannelRequest/EndOfWrite",
        "ChannelRequest/Keepalive",
        "ChannelRequest/Other",
        "ChannelSuccess",
        "ChannelFailure",
        "Ping",
        "Pong",
        "Unknown",
    ]
    .into_iter()
    .collect();
    let strategy = message();
    let mut runner = TestRunner::deterministic();
    let mut seen = BTreeSet::new();
    // 81 equally likely arms: 3000 draws miss one with probability below e^-36 (and the runner is
    // deterministic, so the outcome does not vary between runs).
    for _ in 0..3000 {
        let (m, _) = strategy.new_tree(&mut runner).unwrap().current();
        seen.insert(label(&m));
    }
    let seen: BTreeSet<&str> = seen.iter().map(String::as_str).collect();
    assert_eq!(seen, expected);
}

fn ctx_from(kex: u8, auth: u8) -> Context {
    Context {
        kex: KEXES[usize::from(kex % 4)],
        auth: AUTHS[usize::from(auth % 4)],
    }
}

/// Whatever decodes re-encodes to something that decodes to the same value, at the length
/// `encoded_len` promises.
fn assert_stable(payload: &[u8], ctx: Context) {
    if let Ok(m) = decode(payload, ctx) {
        let again = m.to_bytes().unwrap();
        assert_eq!(again.len(), m.encoded_len());
        assert_eq!(decode(&again, ctx).unwrap(), m);
    }
}

proptest! {
    #![proptest_config(Config { cases: 4096, ..Config::default() })]

    #[test]
    fn round_trip((m, ctx) in message()) {
        let bytes = m.to_bytes().unwrap();
        prop_assert_eq!(bytes.len(), m.encoded_len());
        prop_assert_eq!(Message::decode_with(&bytes, ctx).unwrap(), m.clone());
        // `encode` into a Vec agrees with `to_bytes`.
        let mut v = Vec::new();
        m.encode(&mut v).unwrap();
        prop_assert_eq!(&v[..], &bytes[..]);
        prop_assert_eq!(m.number().0, bytes[0]);
    }

    #[test]
    fn mutated_messages_never_panic(
        (m, ctx) in message(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = m.to_bytes().unwrap().to_vec();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        assert_stable(&bytes, ctx);
        let n = cut.index(bytes.len() + 1);
        assert_stable(&bytes[..n], ctx);
        bytes.push(byte);
        assert_stable(&bytes, ctx);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        data in vec(any::<u8>(), 0..300),
        kex in any::<u8>(),
        auth in any::<u8>(),
    ) {
        assert_stable(&data, ctx_from(kex, auth));
    }

    #[test]
    fn arbitrary_bodies_under_every_context(
        number in prop_oneof![
            Just(20u8), 1u8..=8, 30u8..=34, 50u8..=53, 60u8..=61, 80u8..=82, 90u8..=100,
            192u8..=193,
        ],
        body in vec(any::<u8>(), 0..200),
    ) {
        let mut p = vec![number];
        p.extend_from_slice(&body);
        for ctx in all_contexts() {
            assert_stable(&p, ctx);
        }
    }
}
