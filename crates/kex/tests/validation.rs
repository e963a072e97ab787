//! Hostile peer values: each is a key exchange failure, never a panic (catalog K09, K10,
//! K12, K13).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use bytes::Bytes;
use common::{assert_kex_failed, context, ed25519_key, rng};
use whelk_kex::{
    ClientKex, ClientStep, Error, GexRequest, Group, KeySigner, MLKEM768_CIPHERTEXT_LEN,
    MLKEM768_PUBLIC_LEN, SNTRUP761_CIPHERTEXT_LEN, SNTRUP761_PUBLIC_LEN, ServerKex, ServerStep,
    method_by_name,
};
use whelk_wire::msg::{
    KexDhGexGroup, KexDhGexInit, KexDhGexReply, KexDhGexRequest, KexEcdhInit, KexEcdhReply,
    KexdhInit, KexdhReply, Message,
};
use whelk_wire::types::MpInt;

fn hex32(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// The X25519 values of catalog K09: zero, one, the two order-8 points, p - 1, p, p + 1.
fn low_order_points() -> Vec<Vec<u8>> {
    let mut v = vec![vec![0u8; 32]];
    let mut one = vec![0u8; 32];
    one[0] = 1;
    v.push(one);
    v.push(hex32(
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    ));
    v.push(hex32(
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    ));
    for first in [0xec, 0xed, 0xee] {
        let mut p = vec![0xff; 32];
        p[0] = first;
        p[31] = 0x7f;
        v.push(p);
    }
    v
}

/// Feeds a client public value to a fresh server; returns its error.
fn server_rejects(method: &str, client_public: &[u8]) -> Error {
    let method = method_by_name(method).unwrap();
    let key = ed25519_key();
    let mut sr = rng(10);
    let mut signer = KeySigner::new(&key, "ssh-ed25519", &mut sr).unwrap();
    let mut server = ServerKex::for_method(method, context());
    let msg: Message = KexEcdhInit {
        client_public: Bytes::copy_from_slice(client_public),
    }
    .into();
    let e = server.handle(&msg, &mut rng(11), &mut signer).unwrap_err();
    assert_kex_failed(&e);
    e
}

/// Feeds a server public value (with a valid host key and junk signature) to a started
/// client; returns its error.
fn client_rejects(method: &str, server_public: &[u8]) -> Error {
    let method = method_by_name(method).unwrap();
    let key = ed25519_key();
    let mut client = ClientKex::for_method(method, "ssh-ed25519", context());
    let mut r = rng(12);
    client.start(&mut r).unwrap();
    let msg: Message = KexEcdhReply {
        host_key: Bytes::copy_from_slice(key.public_key().blob()),
        server_public: Bytes::copy_from_slice(server_public),
        signature: Bytes::from_static(b"junk"),
    }
    .into();
    let e = client.handle(&msg, &mut r).unwrap_err();
    assert_kex_failed(&e);
    e
}

fn is_peer_error(e: &Error) -> bool {
    matches!(e, Error::InvalidPeerValue { .. })
}

#[test]
fn catalog_k09_x25519_low_order_points() {
    for method in ["curve25519-sha256", "curve25519-sha256@libssh.org"] {
        for q in low_order_points() {
            assert!(
                is_peer_error(&server_rejects(method, &q)),
                "{method} {q:02x?}"
            );
            assert!(
                is_peer_error(&client_rejects(method, &q)),
                "{method} {q:02x?}"
            );
        }
    }
}

#[test]
fn catalog_k09_low_order_points_in_the_hybrids() {
    // A well-formed KEM part with a low-order X25519 part.
    let mut r = rng(20);
    let (mlkem_ek, _) = {
        // A real encapsulation key from a client start.
        let method = method_by_name("mlkem768x25519-sha256").unwrap();
        let mut c = ClientKex::for_method(method, "ssh-ed25519", context());
        let Message::KexEcdhInit(init) = c.start(&mut r).unwrap() else {
            panic!()
        };
        (init.client_public[..MLKEM768_PUBLIC_LEN].to_vec(), ())
    };
    let sntrup_pk = {
        let method = method_by_name("sntrup761x25519-sha512").unwrap();
        let mut c = ClientKex::for_method(method, "ssh-ed25519", context());
        let Message::KexEcdhInit(init) = c.start(&mut r).unwrap() else {
            panic!()
        };
        init.client_public[..SNTRUP761_PUBLIC_LEN].to_vec()
    };
    for q in low_order_points() {
        let mut v = mlkem_ek.clone();
        v.extend_from_slice(&q);
        assert!(is_peer_error(&server_rejects("mlkem768x25519-sha256", &v)));
        let mut v = vec![0u8; MLKEM768_CIPHERTEXT_LEN];
        v.extend_from_slice(&q);
        assert!(is_peer_error(&client_rejects("mlkem768x25519-sha256", &v)));
        let mut v = sntrup_pk.clone();
        v.extend_from_slice(&q);
        assert!(is_peer_error(&server_rejects("sntrup761x25519-sha512", &v)));
        let mut v = vec![0u8; SNTRUP761_CIPHERTEXT_LEN];
        v.extend_from_slice(&q);
        assert!(is_peer_error(&client_rejects(
            "sntrup761x25519-sha512@openssh.com",
            &v
        )));
    }
}

#[test]
fn catalog_k10_wrong_lengths() {
    let cases: &[(&str, &[usize])] = &[
        ("curve25519-sha256", &[0, 31, 33, 65]),
        ("ecdh-sha2-nistp256", &[0, 33, 64, 66, 97]),
        ("ecdh-sha2-nistp384", &[0, 49, 96, 98, 65]),
        ("ecdh-sha2-nistp521", &[0, 67, 132, 134, 65]),
        (
            "mlkem768x25519-sha256",
            &[
                0,
                32,
                MLKEM768_PUBLIC_LEN,
                MLKEM768_PUBLIC_LEN + 31,
                MLKEM768_PUBLIC_LEN + 33,
            ],
        ),
        (
            "sntrup761x25519-sha512",
            &[0, 32, SNTRUP761_PUBLIC_LEN + 31, SNTRUP761_PUBLIC_LEN + 33],
        ),
    ];
    for (method, lens) in cases {
        for &len in *lens {
            let v = vec![9u8; len];
            assert!(is_peer_error(&server_rejects(method, &v)), "{method} {len}");
        }
    }
    let client_cases: &[(&str, &[usize])] = &[
        ("curve25519-sha256", &[0, 31, 33]),
        ("ecdh-sha2-nistp256", &[0, 33, 64, 66]),
        (
            "mlkem768x25519-sha256",
            &[
                0,
                MLKEM768_CIPHERTEXT_LEN,
                MLKEM768_CIPHERTEXT_LEN + 31,
                MLKEM768_CIPHERTEXT_LEN + 33,
                MLKEM768_PUBLIC_LEN + 32,
            ],
        ),
        (
            "sntrup761x25519-sha512",
            &[
                0,
                SNTRUP761_CIPHERTEXT_LEN + 31,
                SNTRUP761_CIPHERTEXT_LEN + 33,
            ],
        ),
    ];
    for (method, lens) in client_cases {
        for &len in *lens {
            let v = vec![9u8; len];
            assert!(is_peer_error(&client_rejects(method, &v)), "{method} {len}");
        }
    }
}

#[test]
fn ec_points_off_the_curve_compressed_or_infinity() {
    for (method, field) in [
        ("ecdh-sha2-nistp256", 32),
        ("ecdh-sha2-nistp384", 48),
        ("ecdh-sha2-nistp521", 66),
    ] {
        // (1, 1) is on none of the curves.
        let mut off = vec![0x04];
        off.extend(std::iter::repeat_n(0, field - 1));
        off.push(1);
        off.extend(std::iter::repeat_n(0, field - 1));
        off.push(1);
        assert!(is_peer_error(&server_rejects(method, &off)), "{method}");
        assert!(is_peer_error(&client_rejects(method, &off)), "{method}");
        // All zero with the uncompressed tag: not a point (the identity has no affine form).
        let mut zero = vec![0x04];
        zero.extend(std::iter::repeat_n(0, 2 * field));
        assert!(is_peer_error(&server_rejects(method, &zero)), "{method}");
        // The identity's SEC1 encoding and a compressed point are refused by form.
        assert!(is_peer_error(&server_rejects(method, &[0x00])), "{method}");
        let mut compressed = vec![0x02];
        compressed.extend(std::iter::repeat_n(0x11, field));
        assert!(
            is_peer_error(&server_rejects(method, &compressed)),
            "{method}"
        );
    }
}

#[test]
fn mlkem_encapsulation_key_failing_the_modulus_check() {
    // Coefficients are 12-bit values that must be < q = 3329; 0xfff.. is not.
    let mut v = vec![0xff; MLKEM768_PUBLIC_LEN];
    v.extend_from_slice(&[9; 32]);
    assert!(is_peer_error(&server_rejects("mlkem768x25519-sha256", &v)));
}

fn p_minus(group: Group, d: u8) -> Vec<u8> {
    let mut p = group.prime().to_vec();
    let last = p.last_mut().unwrap();
    *last -= d;
    p
}

fn dh_values(group: Group) -> Vec<(&'static str, MpInt)> {
    let mut huge = vec![0x7f];
    huge.extend(std::iter::repeat_n(0xff, 2047));
    vec![
        ("zero", MpInt::zero()),
        ("one", MpInt::from_unsigned_be(&[1])),
        ("two", MpInt::from_unsigned_be(&[2])),
        (
            "three bits set",
            MpInt::from_unsigned_be(&[0x01, 0x00, 0x01, 0x01]),
        ),
        ("p - 1", MpInt::from_unsigned_be(&p_minus(group, 1))),
        ("p", MpInt::from_unsigned_be(group.prime())),
        ("p + 1", {
            let mut p = group.prime().to_vec();
            // p ends in 0xff..ff: p + 1 = 0x1000...00 - 2^N...; any value above p will do.
            p.insert(0, 1);
            MpInt::from_unsigned_be(&p)
        }),
        (
            "negative",
            MpInt::from_wire(Bytes::from_static(&[0x80])).unwrap(),
        ),
        ("2 KB", MpInt::from_wire(Bytes::from(huge)).unwrap()),
    ]
}

#[test]
fn catalog_k12_dh_values_server_side() {
    for (name, group) in [
        ("diffie-hellman-group14-sha256", Group::Modp2048),
        ("diffie-hellman-group16-sha512", Group::Modp4096),
        ("diffie-hellman-group1-sha1", Group::Oakley1024),
    ] {
        let method = method_by_name(name).unwrap();
        let key = ed25519_key();
        for (what, e) in dh_values(group) {
            let mut sr = rng(30);
            let mut signer = KeySigner::new(&key, "ssh-ed25519", &mut sr).unwrap();
            let mut server = ServerKex::for_method(method, context());
            let err = server
                .handle(&KexdhInit { e }.into(), &mut rng(31), &mut signer)
                .unwrap_err();
            assert!(is_peer_error(&err), "{name} {what}: {err:?}");
            assert_kex_failed(&err);
        }
    }
}

#[test]
fn catalog_k12_dh_values_client_side() {
    let method = method_by_name("diffie-hellman-group14-sha256").unwrap();
    let key = ed25519_key();
    for (what, f) in dh_values(Group::Modp2048) {
        let mut client = ClientKex::for_method(method, "ssh-ed25519", context());
        let mut r = rng(32);
        client.start(&mut r).unwrap();
        let reply = KexdhReply {
            host_key: Bytes::copy_from_slice(key.public_key().blob()),
            f,
            signature: Bytes::from_static(b"x"),
        };
        let err = client.handle(&reply.into(), &mut r).unwrap_err();
        assert!(is_peer_error(&err), "{what}: {err:?}");
        assert_kex_failed(&err);
    }
}

fn gex_client(req: GexRequest) -> (ClientKex, chacha20::ChaCha20Rng) {
    let method = method_by_name("diffie-hellman-group-exchange-sha256").unwrap();
    let mut client = ClientKex::for_method(method, "ssh-ed25519", context()).with_gex_request(req);
    let mut r = rng(40);
    let Message::KexDhGexRequest(sent) = client.start(&mut r).unwrap() else {
        panic!()
    };
    assert_eq!((sent.min, sent.n, sent.max), (req.min, req.n, req.max));
    (client, r)
}

#[test]
fn catalog_k13_client_refuses_small_or_bad_groups() {
    let two = MpInt::from_unsigned_be(&[2]);
    let bad: Vec<(&str, MpInt, MpInt)> = vec![
        (
            "1024-bit group",
            MpInt::from_unsigned_be(Group::Oakley1024.prime()),
            two.clone(),
        ),
        (
            "8192-bit group above max 4096",
            MpInt::from_unsigned_be(Group::Modp8192.prime()),
            two.clone(),
        ),
        (
            "g = 1",
            MpInt::from_unsigned_be(Group::Modp2048.prime()),
            MpInt::from_unsigned_be(&[1]),
        ),
        (
            "g = p - 1",
            MpInt::from_unsigned_be(Group::Modp2048.prime()),
            MpInt::from_unsigned_be(&p_minus(Group::Modp2048, 1)),
        ),
        (
            "even p",
            MpInt::from_unsigned_be(&p_minus(Group::Modp2048, 1)),
            two.clone(),
        ),
        (
            "negative p",
            {
                let mut v = Group::Modp2048.prime().to_vec();
                v[0] = 0x80;
                MpInt::from_wire(Bytes::from(v)).unwrap()
            },
            two.clone(),
        ),
    ];
    for (what, p, g) in bad {
        let (mut client, mut r) = gex_client(GexRequest::new(2048, 2048, 4096).unwrap());
        let err = client
            .handle(&KexDhGexGroup { p, g }.into(), &mut r)
            .unwrap_err();
        assert!(matches!(err, Error::GroupExchange(_)), "{what}: {err:?}");
        assert_kex_failed(&err);
    }
}

#[test]
fn catalog_k13_client_requests_are_checked() {
    assert!(GexRequest::new(1024, 2048, 8192).is_err());
    assert!(GexRequest::new(2048, 2048, 16384).is_err());
    assert!(GexRequest::new(4096, 2048, 8192).is_err());
    assert!(GexRequest::new(2048, 8192, 4096).is_err());
    assert!(GexRequest::new(2048, 3072, 8192).is_ok());
    assert_eq!(GexRequest::default().min, 2048);
    assert_eq!(GexRequest::for_security_bits(128).n, 3072);
    assert_eq!(GexRequest::for_security_bits(256).n, 8192);
}

#[test]
fn catalog_k13_server_clamps_or_refuses_requests() {
    let method = method_by_name("diffie-hellman-group-exchange-sha256").unwrap();
    let key = ed25519_key();
    // (min, n, max) -> Ok(group bits) or Err
    type Case = ((u32, u32, u32), Option<u32>);
    let cases: &[Case] = &[
        ((8192, 1024, 512), None),
        ((1024, 1024, 1024), None),
        ((512, 1024, 2048), Some(2048)),
        ((2048, 3072, 8192), Some(4096)),
        ((2048, 8192, 100_000), Some(8192)),
        ((4096, 4096, 4096), Some(4096)),
        ((3072, 3072, 3072), None),
        ((0, 0, 0), None),
        ((u32::MAX, u32::MAX, u32::MAX), None),
    ];
    for &((min, n, max), want) in cases {
        let mut sr = rng(50);
        let mut signer = KeySigner::new(&key, "ssh-ed25519", &mut sr).unwrap();
        let mut server = ServerKex::for_method(method, context());
        let r = server.handle(
            &KexDhGexRequest { min, n, max }.into(),
            &mut rng(51),
            &mut signer,
        );
        match (r, want) {
            (Ok(ServerStep::Send(m)), Some(bits)) => {
                let Message::KexDhGexGroup(g) = *m else {
                    panic!()
                };
                let p = g.p.unsigned_be().unwrap();
                assert_eq!(p.len() * 8, bits as usize, "{min} {n} {max}");
            }
            (Err(e), None) => assert_kex_failed(&e),
            (other, _) => panic!("{min} {n} {max}: {other:?}"),
        }
    }
}

#[test]
fn gex_dh_values_are_checked_on_both_sides() {
    let method = method_by_name("diffie-hellman-group-exchange-sha256").unwrap();
    let key = ed25519_key();
    for (what, e) in dh_values(Group::Modp2048) {
        let mut sr = rng(60);
        let mut signer = KeySigner::new(&key, "ssh-ed25519", &mut sr).unwrap();
        let mut server = ServerKex::for_method(method, context());
        let mut r = rng(61);
        let step = server
            .handle(
                &KexDhGexRequest {
                    min: 2048,
                    n: 2048,
                    max: 2048,
                }
                .into(),
                &mut r,
                &mut signer,
            )
            .unwrap();
        assert!(matches!(step, ServerStep::Send(_)));
        let err = server
            .handle(&KexDhGexInit { e: e.clone() }.into(), &mut r, &mut signer)
            .unwrap_err();
        assert!(is_peer_error(&err), "{what}");

        let (mut client, mut r) = gex_client(GexRequest::new(2048, 2048, 2048).unwrap());
        let group = KexDhGexGroup {
            p: MpInt::from_unsigned_be(Group::Modp2048.prime()),
            g: MpInt::from_unsigned_be(&[2]),
        };
        assert!(matches!(
            client.handle(&group.into(), &mut r).unwrap(),
            ClientStep::Send(_)
        ));
        let reply = KexDhGexReply {
            host_key: Bytes::copy_from_slice(key.public_key().blob()),
            f: e,
            signature: Bytes::new(),
        };
        let err = client.handle(&reply.into(), &mut r).unwrap_err();
        assert!(is_peer_error(&err), "{what}");
    }
}

#[test]
fn catalog_k05_wrong_messages_are_protocol_errors() {
    let key = ed25519_key();
    let method = method_by_name("curve25519-sha256").unwrap();
    let mut sr = rng(70);
    let mut signer = KeySigner::new(&key, "ssh-ed25519", &mut sr).unwrap();
    let mut server = ServerKex::for_method(method, context());
    let err = server
        .handle(
            &KexdhInit {
                e: MpInt::from_unsigned_be(&[5]),
            }
            .into(),
            &mut rng(71),
            &mut signer,
        )
        .unwrap_err();
    assert!(matches!(err, Error::UnexpectedMessage { found: 30, .. }));
    assert_eq!(
        err.disconnect_reason(),
        whelk_wire::msg::DisconnectReason::PROTOCOL_ERROR
    );
    // A client that has not started does not take a reply.
    let mut client = ClientKex::for_method(method, "ssh-ed25519", context());
    let reply = KexEcdhReply {
        host_key: Bytes::new(),
        server_public: Bytes::new(),
        signature: Bytes::new(),
    };
    assert!(matches!(
        client.handle(&reply.into(), &mut rng(72)),
        Err(Error::UnexpectedMessage { .. })
    ));
}
