//! The codec: hand-written vectors, proptest round trips for every packet, and truncation
//! (every strict prefix of a valid packet asks for more data or errors, never panics).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap
)]

use bytes::Bytes;
use proptest::prelude::*;
use whelk_sftp::Error;
use whelk_sftp::codec::{
    Attrs, Deframer, ExtendedRequest, Handle, Limits, Name, OpenFlags, Packet, Request, Response,
    Status, StatusCode, Statvfs, UsersGroups,
};
use whelk_wire::types::Text;

fn text() -> impl Strategy<Value = Text> {
    proptest::collection::vec(any::<u8>(), 0..12).prop_map(|v| Text(Bytes::from(v)))
}

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn handle() -> impl Strategy<Value = Handle> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..8),
        proptest::collection::vec(any::<u8>(), 256..=256),
    ]
    .prop_map(|v| Handle::new(Bytes::from(v)).unwrap())
}

fn attrs() -> impl Strategy<Value = Attrs> {
    (
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<(u32, u32)>()),
        proptest::option::of(any::<u32>()),
        proptest::option::of(any::<(u32, u32)>()),
        proptest::collection::vec((text(), bytes(6)), 0..3),
    )
        .prop_map(|(size, uid_gid, permissions, times, extended)| Attrs {
            size,
            uid_gid,
            permissions,
            times,
            extended,
        })
}

fn extended() -> impl Strategy<Value = ExtendedRequest> {
    use ExtendedRequest as E;
    prop_oneof![
        (text(), text()).prop_map(|(oldpath, newpath)| E::PosixRename { oldpath, newpath }),
        text().prop_map(|path| E::Statvfs { path }),
        handle().prop_map(|handle| E::Fstatvfs { handle }),
        (text(), text()).prop_map(|(oldpath, newpath)| E::Hardlink { oldpath, newpath }),
        handle().prop_map(|handle| E::Fsync { handle }),
        (text(), attrs()).prop_map(|(path, attrs)| E::Lsetstat { path, attrs }),
        Just(E::Limits),
        text().prop_map(|path| E::ExpandPath { path }),
        (handle(), any::<u64>(), any::<u64>(), handle(), any::<u64>()).prop_map(
            |(read_handle, read_offset, read_len, write_handle, write_offset)| E::CopyData {
                read_handle,
                read_offset,
                read_len,
                write_handle,
                write_offset,
            }
        ),
        text().prop_map(|username| E::HomeDirectory { username }),
        (
            proptest::collection::vec(any::<u32>(), 0..4),
            proptest::collection::vec(any::<u32>(), 0..4)
        )
            .prop_map(|(uids, gids)| E::UsersGroupsById { uids, gids }),
        ("x-[a-z]{0,8}@example", bytes(10)).prop_map(|(name, data)| E::Other {
            name: Text::from(name),
            data
        }),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        (text(), any::<u32>(), attrs()).prop_map(|(filename, f, attrs)| Request::Open {
            filename,
            pflags: OpenFlags(f),
            attrs
        }),
        handle().prop_map(|handle| Request::Close { handle }),
        (handle(), any::<u64>(), any::<u32>()).prop_map(|(handle, offset, len)| Request::Read {
            handle,
            offset,
            len
        }),
        (handle(), any::<u64>(), bytes(64)).prop_map(|(handle, offset, data)| Request::Write {
            handle,
            offset,
            data
        }),
        text().prop_map(|path| Request::Lstat { path }),
        handle().prop_map(|handle| Request::Fstat { handle }),
        (text(), attrs()).prop_map(|(path, attrs)| Request::Setstat { path, attrs }),
        (handle(), attrs()).prop_map(|(handle, attrs)| Request::Fsetstat { handle, attrs }),
        text().prop_map(|path| Request::Opendir { path }),
        handle().prop_map(|handle| Request::Readdir { handle }),
        text().prop_map(|filename| Request::Remove { filename }),
        (text(), attrs()).prop_map(|(path, attrs)| Request::Mkdir { path, attrs }),
        text().prop_map(|path| Request::Rmdir { path }),
        text().prop_map(|path| Request::Realpath { path }),
        text().prop_map(|path| Request::Stat { path }),
        (text(), text()).prop_map(|(oldpath, newpath)| Request::Rename { oldpath, newpath }),
        text().prop_map(|path| Request::Readlink { path }),
        (text(), text()).prop_map(|(link, target)| Request::Symlink { link, target }),
        extended().prop_map(Request::Extended),
    ]
}

fn response() -> impl Strategy<Value = Response> {
    prop_oneof![
        (any::<u32>(), text(), text()).prop_map(|(c, message, language)| Response::Status(
            Status {
                code: StatusCode(c),
                message,
                language
            }
        )),
        handle().prop_map(Response::Handle),
        bytes(64).prop_map(Response::Data),
        proptest::collection::vec(
            (text(), text(), attrs()).prop_map(|(filename, longname, attrs)| Name {
                filename,
                longname,
                attrs
            }),
            0..4
        )
        .prop_map(Response::Name),
        attrs().prop_map(Response::Attrs),
        bytes(40).prop_map(Response::ExtendedReply),
    ]
}

fn packet() -> impl Strategy<Value = Packet> {
    prop_oneof![
        (
            any::<u32>(),
            proptest::collection::vec((text(), bytes(4)), 0..3)
        )
            .prop_map(|(version, extensions)| Packet::Init {
                version,
                extensions
            }),
        (
            any::<u32>(),
            proptest::collection::vec((text(), bytes(4)), 0..3)
        )
            .prop_map(|(version, extensions)| Packet::Version {
                version,
                extensions
            }),
        (any::<u32>(), request()).prop_map(|(id, request)| Packet::Request { id, request }),
        (any::<u32>(), response()).prop_map(|(id, response)| Packet::Response { id, response }),
    ]
}

fn body(framed: &[u8]) -> Bytes {
    let len = u32::from_be_bytes(framed[..4].try_into().unwrap()) as usize;
    assert_eq!(len + 4, framed.len());
    Bytes::copy_from_slice(&framed[4..])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_packet_round_trips(p in packet()) {
        let framed = p.to_vec();
        let decoded = Packet::decode(&body(&framed)).unwrap();
        prop_assert_eq!(&decoded, &p);
        prop_assert_eq!(decoded.to_vec(), framed);
    }

    #[test]
    fn strict_prefixes_never_panic(p in packet()) {
        let framed = p.to_vec();
        // As a stream: every strict prefix leaves the deframer waiting.
        for cut in 0..framed.len() {
            let mut d = Deframer::new(u32::MAX);
            prop_assert_eq!(d.push(&framed[..cut]).unwrap(), cut);
            prop_assert!(d.next_packet().unwrap().is_none());
            // Before the length is complete it asks for the rest of the length.
            let needed = if cut < 4 { 4 - cut } else { framed.len() - cut };
            prop_assert_eq!(d.bytes_needed(), needed);
        }
        // As a body: every strict prefix decodes to an error or (when the tail is optional,
        // like STATUS's message, EXTENDED_REPLY's and unknown extensions' raw data, or
        // INIT/VERSION's pairs) a packet that re-encodes to no more than the prefix.
        let b = body(&framed);
        for cut in 0..b.len() {
            let prefix = b.slice(..cut);
            if let Ok(q) = Packet::decode(&prefix) {
                prop_assert!(q.to_vec().len() <= cut + 4 + 8, "{:?} from {} bytes", q, cut);
            }
        }
    }

    #[test]
    fn arbitrary_bodies_never_panic(b in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(p) = Packet::decode(&Bytes::from(b)) {
            let again = Packet::decode(&body(&p.to_vec())).unwrap();
            prop_assert_eq!(again, p);
        }
    }

    #[test]
    fn extended_reply_bodies_round_trip(
        v in proptest::array::uniform11(any::<u64>()),
        l in proptest::array::uniform4(any::<u64>()),
        users in proptest::collection::vec(text(), 0..4),
        groups in proptest::collection::vec(text(), 0..4),
    ) {
        let s = Statvfs { bsize: v[0], frsize: v[1], blocks: v[2], bfree: v[3], bavail: v[4], files: v[5], ffree: v[6], favail: v[7], fsid: v[8], flag: v[9], namemax: v[10] };
        prop_assert_eq!(Statvfs::decode(&s.encode()).unwrap(), s);
        let lim = Limits { max_packet_len: l[0], max_read_len: l[1], max_write_len: l[2], max_open_handles: l[3] };
        prop_assert_eq!(Limits::decode(&lim.encode()).unwrap(), lim);
        let ug = UsersGroups { users, groups };
        prop_assert_eq!(UsersGroups::decode(&ug.encode()).unwrap(), ug);
        // Truncated bodies are errors.
        let e = s.encode();
        prop_assert!(Statvfs::decode(&e.slice(..e.len() - 1)).is_err());
        let e = lim.encode();
        prop_assert!(Limits::decode(&e.slice(..31)).is_err());
    }
}

#[test]
fn known_vectors() {
    // INIT version 3, as OpenSSH's sftp client sends it.
    let init = Packet::Init {
        version: 3,
        extensions: vec![],
    };
    assert_eq!(init.to_vec(), [0, 0, 0, 5, 1, 0, 0, 0, 3]);
    // STAT id 1 "/".
    let stat = Packet::Request {
        id: 1,
        request: Request::Stat {
            path: Text::from("/"),
        },
    };
    assert_eq!(
        stat.to_vec(),
        [0, 0, 0, 10, 17, 0, 0, 0, 1, 0, 0, 0, 1, b'/']
    );
    // STATUS id 1 OK "Success" "".
    let st = Packet::Response {
        id: 1,
        response: Status::ok().into(),
    };
    assert_eq!(
        hex::encode(st.to_vec()),
        concat!(
            "00000018",
            "65",
            "00000001",
            "00000000",
            "00000007",
            "53756363657373",
            "00000000"
        )
    );
    // SYMLINK goes target first (OpenSSH PROTOCOL 4.1).
    let sym = Packet::Request {
        id: 2,
        request: Request::Symlink {
            link: Text::from("L"),
            target: Text::from("T"),
        },
    };
    assert_eq!(
        sym.to_vec(),
        [
            0, 0, 0, 15, 20, 0, 0, 0, 2, 0, 0, 0, 1, b'T', 0, 0, 0, 1, b'L'
        ]
    );
    // ATTRS with every field.
    let a = Attrs {
        size: Some(0x0102),
        uid_gid: Some((3, 4)),
        permissions: Some(0o100_644),
        times: Some((5, 6)),
        extended: vec![(Text::from("k"), Bytes::from_static(b"v"))],
    };
    let p = Packet::Response {
        id: 0,
        response: Response::Attrs(a),
    };
    assert_eq!(
        hex::encode(p.to_vec()),
        concat!(
            "00000033",
            "69",
            "00000000",
            "8000000f",
            "0000000000000102",
            "00000003",
            "00000004",
            "000081a4",
            "00000005",
            "00000006",
            "00000001",
            "000000016b",
            "0000000176"
        )
    );
    // limits@openssh.com request.
    let l = Packet::Request {
        id: 3,
        request: Request::Extended(ExtendedRequest::Limits),
    };
    let mut expect = vec![0, 0, 0, 27, 200, 0, 0, 0, 3, 0, 0, 0, 18];
    expect.extend_from_slice(b"limits@openssh.com");
    assert_eq!(l.to_vec(), expect);
}

#[test]
fn decode_errors() {
    let d = |b: &[u8]| Packet::decode(&Bytes::copy_from_slice(b));
    assert_eq!(d(&[]), Err(Error::EmptyPacket));
    assert_eq!(d(&[99, 0, 0, 0, 1]), Err(Error::UnexpectedPacket(99)));
    // ATTRS with an undefined flag bit.
    assert_eq!(
        d(&[105, 0, 0, 0, 1, 0, 0, 1, 0]),
        Err(Error::BadAttrFlags(0x100))
    );
    // EXTENDED count larger than the rest.
    assert!(matches!(
        d(&[105, 0, 0, 0, 1, 0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]),
        Err(Error::Wire(_))
    ));
    // NAME count larger than the rest.
    assert!(matches!(
        d(&[104, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0]),
        Err(Error::Wire(_))
    ));
    // A handle of 257 bytes.
    let mut b = vec![102, 0, 0, 0, 1, 0, 0, 1, 1];
    b.extend(vec![0; 257]);
    assert_eq!(d(&b), Err(Error::HandleTooLong(257)));
    assert_eq!(Handle::new(vec![0; 257]), Err(Error::HandleTooLong(257)));
    // Trailing data.
    assert!(matches!(d(&[1, 0, 0, 0, 3, 0]), Err(Error::Wire(_))));
    // STATUS without message and language (old servers) is accepted.
    assert_eq!(
        d(&[101, 0, 0, 0, 7, 0, 0, 0, 2]).unwrap(),
        Packet::Response {
            id: 7,
            response: Response::Status(Status {
                code: StatusCode::NO_SUCH_FILE,
                ..Status::default()
            })
        }
    );
}

#[test]
fn deframer_limits() {
    let mut d = Deframer::new(1000);
    assert_eq!(
        d.push(&[0, 0, 3, 0xe9]),
        Err(Error::PacketTooLarge {
            len: 1001,
            max: 1000
        })
    );
    assert_eq!(d.buffered(), 4);
    let mut d = Deframer::new(1000);
    // Only the next packet's bytes are taken.
    let mut two = Packet::Init {
        version: 3,
        extensions: vec![],
    }
    .to_vec();
    two.extend(two.clone());
    assert_eq!(d.push(&two).unwrap(), 9);
    assert_eq!(&d.next_packet().unwrap().unwrap()[..], &[1, 0, 0, 0, 3]);
    assert_eq!(d.bytes_needed(), 4);
    let mut d = Deframer::new(1000);
    d.push(&[0, 0, 0, 0]).unwrap();
    assert_eq!(d.next_packet(), Err(Error::EmptyPacket));
}

#[test]
fn status_code_names_and_unknown_values() {
    assert_eq!(
        format!("{:?}", StatusCode::OP_UNSUPPORTED),
        "OP_UNSUPPORTED"
    );
    assert_eq!(format!("{:?}", StatusCode(77)), "StatusCode(77)");
    for c in 0..=8 {
        assert!(StatusCode(c).name().is_some());
    }
    let s = Packet::Response {
        id: 1,
        response: StatusCode(1234).into(),
    };
    assert_eq!(Packet::decode(&body(&s.to_vec())).unwrap(), s);
}
