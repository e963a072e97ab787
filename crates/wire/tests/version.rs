//! The identification exchange (RFC 4253 §4.2): parsing, limits, both roles, chunking, and
//! the security catalog rows V01, V02, V03 and V05.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;
use whelk_wire::Error;
use whelk_wire::msg::DisconnectReason;
use whelk_wire::version::{
    MAX_VERSION_LINE, PreambleLimits, Role, Version, VersionReader, VersionStatus,
};

/// What a caller sees feeding `data` in pieces of `chunk` bytes and discarding what the
/// reader says it consumed: the total consumed and the version, `None` if more is needed.
fn feed(
    role: Role,
    limits: PreambleLimits,
    data: &[u8],
    chunk: usize,
) -> Result<Option<(usize, Version)>, Error> {
    let mut r = VersionReader::new(role, limits);
    let mut buf = Vec::new();
    let mut discarded = 0;
    for piece in data.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        match r.read(&buf)? {
            VersionStatus::Incomplete { consumed } => {
                assert!(consumed <= buf.len());
                buf.drain(..consumed);
                discarded += consumed;
            }
            VersionStatus::Done { consumed, version } => {
                assert!(consumed <= buf.len());
                return Ok(Some((discarded + consumed, version)));
            }
        }
    }
    Ok(None)
}

/// `feed` whole, one byte at a time and in 3-byte pieces; all three must agree.
fn read(role: Role, data: &[u8]) -> Result<Option<(usize, Version)>, Error> {
    read_with(role, PreambleLimits::default(), data)
}

fn read_with(
    role: Role,
    limits: PreambleLimits,
    data: &[u8],
) -> Result<Option<(usize, Version)>, Error> {
    let whole = feed(role, limits, data, data.len());
    assert_eq!(
        whole,
        feed(role, limits, data, 1),
        "byte at a time differs ({role:?})"
    );
    assert_eq!(
        whole,
        feed(role, limits, data, 3),
        "3-byte pieces differ ({role:?})"
    );
    whole
}

/// Reads `data` in both roles (no preamble in it, so both must agree) and returns the version.
fn version(data: &[u8]) -> Version {
    let client = read(Role::Client, data).unwrap().unwrap();
    let server = read(Role::Server, data).unwrap().unwrap();
    assert_eq!(client, server);
    assert_eq!(client.0, data.len());
    client.1
}

fn both_err(data: &[u8]) -> Error {
    let client = read(Role::Client, data).unwrap_err();
    let server = read(Role::Server, data).unwrap_err();
    assert_eq!(client, server);
    client
}

fn line_of(total: usize) -> Vec<u8> {
    // `SSH-2.0-` + A's + CR LF, `total` bytes in all.
    let mut v = b"SSH-2.0-".to_vec();
    v.extend(std::iter::repeat_n(b'A', total - 8 - 2));
    v.extend_from_slice(b"\r\n");
    assert_eq!(v.len(), total);
    v
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

#[test]
fn openssh_debian_line() {
    let v = version(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n");
    assert_eq!(v.protocol(), "2.0");
    assert_eq!(v.software(), "OpenSSH_9.2p1");
    assert_eq!(v.comments(), Some(&b"Debian-2+deb12u3"[..]));
    assert_eq!(&v.line()[..], b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3");
    assert_eq!(
        format!("{v:?}"),
        r#"Version("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3")"#
    );
    let mut out = Vec::new();
    v.encode(&mut out);
    assert_eq!(out, b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n");
}

#[test]
fn no_comments_and_several_comments() {
    let v = version(b"SSH-2.0-whelk\r\n");
    assert_eq!(v.software(), "whelk");
    assert_eq!(v.comments(), None);
    let v = version(b"SSH-2.0-x a b  c\r\n");
    assert_eq!(v.software(), "x");
    assert_eq!(v.comments(), Some(&b"a b  c"[..]));
}

#[test]
fn bare_lf_accepted() {
    let v = version(b"SSH-2.0-OpenSSH_9.6\n");
    assert_eq!(v.software(), "OpenSSH_9.6");
    assert_eq!(&v.line()[..], b"SSH-2.0-OpenSSH_9.6");
}

#[test]
fn empty_software_is_malformed() {
    for bad in [
        &b"SSH-2.0-\r\n"[..],
        b"SSH-2.0- comment\r\n",
        b"SSH-2.0\r\n",
        b"SSH-\r\n",
        b"SSH--x\r\n",
        b"SSH-x.y-z\r\n",
        b"SSH-2.0-a\x7fb\r\n",
        b"SSH-2.0-a\x01b\r\n",
        b"SSH-2.0-ok tab\there\r\n",
    ] {
        assert_eq!(
            both_err(bad),
            Error::MalformedVersion,
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn nul_rejected_even_before_the_line_feed() {
    assert_eq!(both_err(b"SSH-2.0-x\0y\r\n"), Error::NulInVersion);
    // The line is still open: the NUL alone condemns it.
    assert_eq!(both_err(b"SSH-2.0-\0"), Error::NulInVersion);
    assert_eq!(
        read(Role::Client, b"hello\0world\r\nSSH-2.0-x\r\n"),
        Err(Error::NulInVersion)
    );
}

#[test]
fn stray_carriage_return() {
    assert_eq!(both_err(b"SSH-2.0-x\ry\r\n"), Error::StrayCarriageReturn);
    assert_eq!(both_err(b"SSH-2.0-x\r\r\n"), Error::StrayCarriageReturn);
    // Known as soon as the byte after the CR is not LF.
    assert_eq!(both_err(b"SSH-2.0-x\rz"), Error::StrayCarriageReturn);
    // A trailing CR may still be followed by LF.
    assert_eq!(read(Role::Server, b"SSH-2.0-x\r"), Ok(None));
    assert_eq!(
        read(Role::Client, b"pre\ramble\r\nSSH-2.0-x\r\n"),
        Err(Error::StrayCarriageReturn)
    );
}

#[test]
fn line_length_limit() {
    assert_eq!(MAX_VERSION_LINE, 255);
    // 255 bytes including CR LF is the longest allowed.
    let ok = line_of(255);
    let v = version(&ok);
    assert_eq!(v.line().len(), 253);
    let too_long = line_of(256);
    assert_eq!(both_err(&too_long), Error::VersionLineTooLong { max: 255 });
    // A partial `SSH-` line longer than the limit fails before its LF arrives.
    assert_eq!(
        both_err(&too_long[..255]),
        Error::VersionLineTooLong { max: 255 }
    );
    let mut partial = b"SSH-2.0-".to_vec();
    partial.extend([b'A'; 5000]);
    assert_eq!(both_err(&partial), Error::VersionLineTooLong { max: 255 });
    // 253 bytes of a line are still fine: CR LF would make 255.
    assert_eq!(read(Role::Server, &ok[..253]), Ok(None));
}

#[test]
fn version_new_encodes_our_line() {
    let v = Version::new("whelk_0.1", None).unwrap();
    let mut out = Vec::new();
    v.encode(&mut out);
    assert_eq!(out, b"SSH-2.0-whelk_0.1\r\n");
    assert_eq!(&v.line()[..], b"SSH-2.0-whelk_0.1");
    assert_eq!(v.software(), "whelk_0.1");
    assert_eq!(v.protocol(), "2.0");
    let v = Version::new("whelk_0.1", Some("test build")).unwrap();
    let mut out = BytesMut::new();
    v.encode(&mut out);
    assert_eq!(&out[..], b"SSH-2.0-whelk_0.1 test build\r\n");
    assert_eq!(v.comments(), Some(&b"test build"[..]));
    // What we send, we read back.
    assert_eq!(version(&out), v);

    assert_eq!(Version::new("a-b", None), Err(Error::MalformedVersion));
    assert_eq!(Version::new("a b", None), Err(Error::MalformedVersion));
    assert_eq!(
        Version::new("caf\u{e9}", None),
        Err(Error::MalformedVersion)
    );
    assert_eq!(Version::new("", None), Err(Error::MalformedVersion));
    assert_eq!(
        Version::new("x", Some("bad\r\nline")),
        Err(Error::MalformedVersion)
    );
    assert_eq!(
        Version::new(&"a".repeat(246), None),
        Err(Error::VersionLineTooLong { max: 255 })
    );
    assert!(Version::new(&"a".repeat(245), None).is_ok());
}

#[test]
fn version_parse_directly() {
    let v = Version::parse(Bytes::from_static(b"SSH-1.99-Cisco-1.25")).unwrap();
    assert_eq!(v.protocol(), "1.99");
    assert_eq!(v.software(), "Cisco-1.25");
    assert_eq!(
        Version::parse(Bytes::from_static(b"SSH-2.0-x\r\n")),
        Err(Error::MalformedVersion)
    );
    assert_eq!(
        Version::parse(Bytes::from_static(b"ssh-2.0-x")),
        Err(Error::MalformedVersion)
    );
}

// ---------------------------------------------------------------------------------------------
// Roles, preamble and consumption
// ---------------------------------------------------------------------------------------------

#[test]
fn client_accepts_a_preamble() {
    let data = b"Welcome to example.org\r\nplease behave\n\r\nSSH-2.0-srv\r\n";
    let (consumed, v) = read(Role::Client, data).unwrap().unwrap();
    assert_eq!(consumed, data.len());
    assert_eq!(v.software(), "srv");
    // The reader reports whole preamble lines as consumed while it waits.
    let mut r = VersionReader::new(Role::Client, PreambleLimits::default());
    assert_eq!(
        r.read(b"hello\r\nworld\r\nSSH-2."),
        Ok(VersionStatus::Incomplete { consumed: 14 })
    );
    assert_eq!(
        r.read(b"SSH-2.0-s\r\n"),
        Ok(VersionStatus::Done {
            consumed: 11,
            version: Version::new("s", None).unwrap()
        })
    );
}

#[test]
fn bytes_after_the_line_are_not_consumed() {
    // The first binary packet often arrives in the same read as the identification line.
    let mut data = b"SSH-2.0-OpenSSH_9.6\r\n".to_vec();
    let packet = [0, 0, 0, 0x0c, 0x0a, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    data.extend_from_slice(&packet);
    for role in [Role::Client, Role::Server] {
        let mut r = VersionReader::new(role, PreambleLimits::default());
        let Ok(VersionStatus::Done { consumed, version }) = r.read(&data) else {
            panic!()
        };
        assert_eq!(consumed, 21);
        assert_eq!(&data[consumed..], &packet);
        assert_eq!(version.software(), "OpenSSH_9.6");
    }
    // Same for a client with a preamble before the line.
    let mut data2 = b"banner\r\n".to_vec();
    data2.extend_from_slice(&data);
    let (consumed, _) = read(Role::Client, &data2).unwrap().unwrap();
    assert_eq!(&data2[consumed..], &packet);
}

#[test]
fn empty_and_partial_input_is_incomplete() {
    for role in [Role::Client, Role::Server] {
        let mut r = VersionReader::new(role, PreambleLimits::default());
        assert_eq!(r.read(b""), Ok(VersionStatus::Incomplete { consumed: 0 }));
        for partial in [&b"S"[..], b"SS", b"SSH", b"SSH-", b"SSH-2.0-Open"] {
            assert_eq!(read(role, partial), Ok(None));
        }
    }
}

#[test]
fn preamble_line_limits() {
    // 1024 lines before the identification are fine.
    let mut data = b"x\r\n".repeat(1024);
    data.extend_from_slice(b"SSH-2.0-s\r\n");
    let (consumed, _) = read(Role::Client, &data).unwrap().unwrap();
    assert_eq!(consumed, data.len());
    // A line of 8192 bytes with its CR LF is fine, 8193 is not.
    let mut ok = vec![b'A'; 8190];
    ok.extend_from_slice(b"\r\nSSH-2.0-s\r\n");
    assert!(read(Role::Client, &ok).unwrap().is_some());
    let mut long = vec![b'A'; 8191];
    long.extend_from_slice(b"\r\n");
    assert_eq!(
        read(Role::Client, &long),
        Err(Error::PreambleLineTooLong { max: 8192 })
    );
    // Known before the LF arrives.
    assert_eq!(
        read(Role::Client, &long[..8192]),
        Err(Error::PreambleLineTooLong { max: 8192 })
    );
}

#[test]
fn preamble_total_limit() {
    // 9 lines of 8000 bytes: each within 8192, but 72000 bytes in all > 64 KiB.
    let mut line = vec![b'A'; 7998];
    line.extend_from_slice(b"\r\n");
    let mut data = line.repeat(8);
    data.extend_from_slice(b"SSH-2.0-s\r\n");
    assert!(read(Role::Client, &data).unwrap().is_some());
    let mut data = line.repeat(9);
    data.extend_from_slice(b"SSH-2.0-s\r\n");
    assert_eq!(
        read(Role::Client, &data),
        Err(Error::PreambleTooLarge { max: 65_536 })
    );
}

#[test]
fn custom_preamble_limits() {
    let limits = PreambleLimits {
        max_lines: 2,
        max_line_len: 10,
        max_total: 12,
    };
    let d = PreambleLimits::default();
    assert_eq!(
        (d.max_lines, d.max_line_len, d.max_total),
        (1024, 8192, 65_536)
    );
    assert!(
        read_with(Role::Client, limits, b"a\r\nb\r\nSSH-2.0-s\r\n")
            .unwrap()
            .is_some()
    );
    assert_eq!(
        read_with(Role::Client, limits, b"a\r\nb\r\nc\r\nSSH-2.0-s\r\n"),
        Err(Error::TooManyPreambleLines { max: 2 })
    );
    assert_eq!(
        read_with(Role::Client, limits, b"0123456789\r\n"),
        Err(Error::PreambleLineTooLong { max: 10 })
    );
    assert_eq!(
        read_with(Role::Client, limits, b"0123456\r\n0123456\r\n"),
        Err(Error::PreambleTooLarge { max: 12 })
    );
    // The identification line itself is bound by 255, not by the preamble limits.
    assert!(
        read_with(Role::Client, limits, &line_of(255))
            .unwrap()
            .is_some()
    );
}

#[test]
fn server_refuses_any_preamble() {
    for data in [
        &b"\r\nSSH-2.0-x\r\n"[..],
        b"x\r\n",
        b"SSX",
        b"ssh-2.0-x\r\n",
        b"SSH",
    ] {
        let r = read(Role::Server, data);
        if data == b"SSH" {
            assert_eq!(r, Ok(None));
        } else {
            assert_eq!(r, Err(Error::UnexpectedPreamble), "{data:?}");
        }
    }
    assert_eq!(
        Error::UnexpectedPreamble.disconnect_reason(),
        DisconnectReason::PROTOCOL_ERROR
    );
}

// ---------------------------------------------------------------------------------------------
// Security catalog rows (docs: security-catalog.md)
// ---------------------------------------------------------------------------------------------

/// V01: a client that sends lines before its `SSH-` line is refused, already on the partial
/// first line (RFC 4253 §4.2: only servers may send other lines first).
#[test]
fn catalog_v01_client_preamble_refused() {
    assert_eq!(
        read(Role::Server, b"HELLO\r\nSSH-2.0-t\r\n"),
        Err(Error::UnexpectedPreamble)
    );
    let mut r = VersionReader::new(Role::Server, PreambleLimits::default());
    assert_eq!(r.read(b"HEL"), Err(Error::UnexpectedPreamble));
    let mut r = VersionReader::new(Role::Server, PreambleLimits::default());
    assert_eq!(r.read(b"H"), Err(Error::UnexpectedPreamble));
    // The same bytes are a fine preamble from a server.
    assert!(
        read(Role::Client, b"HELLO\r\nSSH-2.0-t\r\n")
            .unwrap()
            .is_some()
    );
}

/// V02: a server that sends more than 1024 lines before its identification is refused.
#[test]
fn catalog_v02_too_many_preamble_lines() {
    let data = b"x\r\n".repeat(1025);
    assert_eq!(
        read(Role::Client, &data),
        Err(Error::TooManyPreambleLines { max: 1024 })
    );
    // Caught at the 1025th line, not after buffering more.
    let mut r = VersionReader::new(Role::Client, PreambleLimits::default());
    assert_eq!(
        r.read(&b"x\r\n".repeat(1024)),
        Ok(VersionStatus::Incomplete { consumed: 3072 })
    );
    assert_eq!(
        r.read(b"x\r\n"),
        Err(Error::TooManyPreambleLines { max: 1024 })
    );
}

/// V03: over-long identification lines: 255 for the `SSH-` line, 8192 for other lines
/// (read by a client), both caught before the line ends.
#[test]
fn catalog_v03_over_long_lines() {
    let mut line = b"SSH-2.0-".to_vec();
    line.extend([b'A'; 300]);
    line.extend_from_slice(b"\r\n");
    assert_eq!(
        read(Role::Server, &line),
        Err(Error::VersionLineTooLong { max: 255 })
    );
    assert_eq!(
        read(Role::Client, &line),
        Err(Error::VersionLineTooLong { max: 255 })
    );
    let junk = vec![b'A'; 9000];
    assert_eq!(
        read(Role::Client, &junk),
        Err(Error::PreambleLineTooLong { max: 8192 })
    );
    assert_eq!(read(Role::Server, &junk), Err(Error::UnexpectedPreamble));
}

/// V05: protocol 1.x and other versions are refused with PROTOCOL_VERSION_NOT_SUPPORTED;
/// `SSH-1.99-` (a server that also speaks 1.x) is 2.0.
#[test]
fn catalog_v05_protocol_versions() {
    for bad in [
        &b"SSH-1.5-x\r\n"[..],
        b"SSH-3.0-x\r\n",
        b"SSH-1.5-HALLO\r\n",
        b"SSH-2.1-x\r\n",
        b"SSH-1-x\r\n",
    ] {
        let e = both_err(bad);
        assert_eq!(e, Error::UnsupportedProtocolVersion);
        assert_eq!(
            e.disconnect_reason(),
            DisconnectReason::PROTOCOL_VERSION_NOT_SUPPORTED
        );
        assert_eq!(e.disconnect_reason().0, 8);
    }
    let v = version(b"SSH-1.99-x\r\n");
    assert_eq!(v.protocol(), "1.99");
    assert_eq!(v.software(), "x");
}

// ---------------------------------------------------------------------------------------------
// Chunking
// ---------------------------------------------------------------------------------------------

#[test]
fn byte_at_a_time_equals_whole_on_examples() {
    let inputs: Vec<Vec<u8>> = vec![
        b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n".to_vec(),
        b"a\r\nb\nSSH-2.0-x\r\n\0\0\0\x0c".to_vec(),
        b"HELLO\r\nSSH-2.0-t\r\n".to_vec(),
        line_of(255),
        line_of(256),
        b"SSH-2.0-x\ry\r\n".to_vec(),
        b"SSH-1.5-x\r\n".to_vec(),
        b"x\r\n".repeat(1100),
        vec![b'A'; 9000],
    ];
    // `read` itself asserts that whole, 1-byte and 3-byte feeding agree.
    for data in &inputs {
        for role in [Role::Client, Role::Server] {
            let _ = read(role, data);
        }
    }
}

/// Lines made of pieces that hit every rule: prefixes of `SSH-`, versions, control bytes,
/// long runs.
fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"SSH-".to_vec()),
        Just(b"SSH-2.0-".to_vec()),
        Just(b"SSH-1.99-".to_vec()),
        Just(b"SSH-1.5-".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\0".to_vec()),
        Just(b" ".to_vec()),
        Just(b"-".to_vec()),
        "[a-zA-Z0-9._]{1,8}".prop_map(String::into_bytes),
        (1usize..300).prop_map(|n| vec![b'A'; n]),
        vec(any::<u8>(), 0..8),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn chunking_never_changes_the_result(
        pieces in vec(piece(), 0..40),
        chunk in 1usize..50,
        server in any::<bool>(),
    ) {
        let data = pieces.concat();
        let role = if server { Role::Server } else { Role::Client };
        let limits = PreambleLimits { max_lines: 8, max_line_len: 600, max_total: 1500 };
        let whole = feed(role, limits, &data, data.len());
        prop_assert_eq!(&whole, &feed(role, limits, &data, 1));
        prop_assert_eq!(&whole, &feed(role, limits, &data, chunk));
        if let Ok(Some((consumed, v))) = &whole {
            // The line ends at a line feed, within the limit, and is what preceded it.
            prop_assert_eq!(data[consumed - 1], b'\n');
            let before = &data[..consumed - 1];
            let before = before.strip_suffix(b"\r").unwrap_or(before);
            prop_assert!(before.ends_with(v.line()));
            prop_assert!(v.line().len() + 2 <= MAX_VERSION_LINE);
            prop_assert!(v.line().starts_with(b"SSH-2.0-") || v.line().starts_with(b"SSH-1.99-"));
        }
    }
}
