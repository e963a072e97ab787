//! Bodies of the `sftp_server_input` and `sftp_client_input` fuzz targets
//! (`fuzz/fuzz_targets/sftp_*.rs`), kept here so that `cargo test` replays the corpora in
//! `testdata/fuzz/sftp_*/` through exactly the code the fuzzer runs. Each panics if, and only
//! if, it finds a bug; an error returned for hostile input is not one.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use alloc::vec;
use alloc::vec::Vec;

use bytes::Bytes;
use whelk_wire::types::Text;

use crate::client::{Client, ClientConfig, Event as ClientEvent};
use crate::codec::{
    Attrs, Deframer, Handle, Name, OpenFlags, Packet, Request, Response, StatusCode,
};
use crate::server::{Event as ServerEvent, FsResult, Server, ServerConfig};

/// The packet limit of the fuzzed state machines: small, so the limit is reachable.
pub const FUZZ_MAX_PACKET: u32 = 4096;

/// Checks that a decoded packet re-encodes to something that decodes to the same value.
pub fn round_trip(p: &Packet) {
    let bytes = p.to_vec();
    let body = Bytes::copy_from_slice(&bytes[4..]);
    let again = Packet::decode(&body).expect("re-encoded packet decodes");
    assert_eq!(&again, p, "packet changed in a round trip");
}

/// Splits a byte stream into packets and decodes each; panics if one does not decode.
fn decode_stream(bytes: &[u8]) -> Vec<Packet> {
    let mut d = Deframer::new(u32::MAX);
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = d.push(rest).expect("own output frames");
        rest = &rest[n..];
        if let Some(p) = d.next_packet().expect("own output frames") {
            let p = Packet::decode(&p).expect("own output decodes");
            round_trip(&p);
            out.push(p);
        }
    }
    assert_eq!(d.buffered(), 0, "own output ends mid-packet");
    out
}

/// A backend that answers everything from memory without looking at paths.
#[derive(Default)]
struct Canned {
    open: u32,
}

impl crate::server::Filesystem for Canned {
    fn open(&mut self, _: &Text, _: OpenFlags, _: &Attrs) -> FsResult<Handle> {
        self.open += 1;
        Ok(Handle::new(Bytes::from(self.open.to_be_bytes().to_vec())).unwrap())
    }
    fn close(&mut self, h: &Handle) -> FsResult<()> {
        if h.as_bytes().len() == 4 {
            Ok(())
        } else {
            Err(StatusCode::FAILURE.into())
        }
    }
    fn read(&mut self, _: &Handle, offset: u64, len: u32) -> FsResult<Bytes> {
        if offset > 1000 {
            return Err(StatusCode::EOF.into());
        }
        // Deliberately longer than asked: the server must cut it.
        Ok(Bytes::from(vec![0x61; len as usize + 3]))
    }
    fn write(&mut self, _: &Handle, _: u64, _: &[u8]) -> FsResult<()> {
        Ok(())
    }
    fn lstat(&mut self, _: &Text) -> FsResult<Attrs> {
        Ok(Attrs {
            size: Some(1),
            ..Attrs::default()
        })
    }
    fn fstat(&mut self, _: &Handle) -> FsResult<Attrs> {
        Ok(Attrs::default())
    }
    fn setstat(&mut self, _: &Text, _: &Attrs) -> FsResult<()> {
        Ok(())
    }
    fn fsetstat(&mut self, _: &Handle, _: &Attrs) -> FsResult<()> {
        Ok(())
    }
    fn opendir(&mut self, p: &Text) -> FsResult<Handle> {
        self.open(p, OpenFlags::READ, &Attrs::default())
    }
    fn readdir(&mut self, _: &Handle) -> FsResult<Vec<Name>> {
        Ok(vec![Name {
            filename: Text::from("x"),
            longname: Text::from("-rw-r--r-- 1 0 0 0 Jan  1 00:00 x"),
            attrs: Attrs::default(),
        }])
    }
    fn remove(&mut self, _: &Text) -> FsResult<()> {
        Err(StatusCode::NO_SUCH_FILE.into())
    }
    fn mkdir(&mut self, _: &Text, _: &Attrs) -> FsResult<()> {
        Ok(())
    }
    fn rmdir(&mut self, _: &Text) -> FsResult<()> {
        Ok(())
    }
    fn realpath(&mut self, p: &Text) -> FsResult<Text> {
        Ok(p.clone())
    }
    fn stat(&mut self, p: &Text) -> FsResult<Attrs> {
        self.lstat(p)
    }
    fn rename(&mut self, _: &Text, _: &Text, _: bool) -> FsResult<()> {
        Ok(())
    }
    fn readlink(&mut self, p: &Text) -> FsResult<Text> {
        Ok(p.clone())
    }
    fn symlink(&mut self, _: &Text, _: &Text) -> FsResult<()> {
        Err(StatusCode::PERMISSION_DENIED.into())
    }
}

/// `sftp_server_input`: a server after INIT takes arbitrary bytes (first byte: settings,
/// bit 0 read-only, bit 1 answer requests as they come instead of at the end). Checks: the
/// server's output always frames and decodes, every request it reports decodes the same after
/// a round trip, READ lengths are clamped, DATA replies are no longer than the clamped READ,
/// open handles never exceed the limit, and nothing is buffered beyond one packet.
pub fn server_input(data: &[u8]) {
    let Some((&settings, data)) = data.split_first() else {
        return;
    };
    let config = ServerConfig {
        max_packet: FUZZ_MAX_PACKET,
        max_read: 1000,
        max_write: 1000,
        max_handles: 4,
        max_outstanding: 8,
        read_only: settings & 1 != 0,
        ..ServerConfig::default()
    };
    let mut server = Server::new(config);
    let mut fs = Canned::default();
    let init = Packet::Init {
        version: 3,
        extensions: Vec::new(),
    }
    .to_vec();
    assert_eq!(server.handle_input(&init).unwrap(), init.len());
    let mut out = Vec::new();
    let mut rest = data;
    let mut stalls = 0;
    while !rest.is_empty() {
        let r = server.handle_input(rest);
        assert!(server.open_handles() <= 4, "handle limit broken");
        let n = match r {
            Ok(n) => n,
            Err(e) => {
                let _ = alloc::format!("{e}");
                assert_eq!(server.handle_input(b"x"), Err(e), "error not latched");
                break;
            }
        };
        rest = &rest[n..];
        let mut reqs = Vec::new();
        while let Some(ev) = server.poll_event() {
            if let ServerEvent::Request { id, request } = ev {
                round_trip(&Packet::Request {
                    id,
                    request: request.clone(),
                });
                if let Request::Read { len, .. } = &request {
                    assert!(*len <= 1000, "READ not clamped");
                }
                reqs.push((id, request));
            }
        }
        if settings & 2 != 0 {
            reqs.reverse();
        }
        for (id, request) in reqs {
            let response = crate::server::dispatch(&mut fs, &request);
            server.reply(id, response).unwrap();
            // A second answer to the same id is refused.
            assert!(server.reply(id, StatusCode::OK.into()).is_err());
        }
        if n == 0 {
            stalls += 1;
            assert!(
                stalls < 2,
                "server consumed nothing with no request outstanding"
            );
        } else {
            stalls = 0;
        }
        server.poll_transmit(&mut out);
    }
    server.poll_transmit(&mut out);
    for p in decode_stream(&out).iter().skip(1) {
        match p {
            Packet::Response {
                response: Response::Data(d),
                ..
            } => assert!(d.len() <= 1000, "DATA longer than the READ clamp"),
            Packet::Response { .. } => {}
            other => panic!("server sent {other:?}"),
        }
    }
}

/// `sftp_client_input`: a client after VERSION with one request of every reply kind
/// outstanding takes arbitrary bytes as the server's. Checks: no panic, the error latches,
/// every reply answers an outstanding request with a fitting kind, DATA is no longer than
/// requested, and no request is answered twice.
pub fn client_input(data: &[u8]) {
    let mut client = Client::new(ClientConfig {
        max_packet: FUZZ_MAX_PACKET,
        ..ClientConfig::default()
    });
    let h = Handle::new(Bytes::from_static(b"h")).unwrap();
    let requests = [
        Request::Open {
            filename: Text::from("f"),
            pflags: OpenFlags::READ,
            attrs: Attrs::default(),
        },
        Request::Read {
            handle: h.clone(),
            offset: 0,
            len: 16,
        },
        Request::Readdir { handle: h.clone() },
        Request::Stat {
            path: Text::from("f"),
        },
        Request::Close { handle: h.clone() },
        Request::Extended(crate::codec::ExtendedRequest::Statvfs {
            path: Text::from("/"),
        }),
        Request::Extended(crate::codec::ExtendedRequest::Limits),
        Request::Extended(crate::codec::ExtendedRequest::UsersGroupsById {
            uids: vec![0],
            gids: vec![0],
        }),
        Request::Extended(crate::codec::ExtendedRequest::Other {
            name: Text::from("x@y"),
            data: Bytes::new(),
        }),
    ];
    let mut kinds = alloc::collections::BTreeMap::new();
    for r in requests {
        let kind = r.reply_kind();
        let id = client.send(r).unwrap();
        kinds.insert(id, kind);
    }
    let version = Packet::Version {
        version: 3,
        extensions: vec![(Text::from("limits@openssh.com"), Bytes::from_static(b"1"))],
    }
    .to_vec();
    client.handle_input(&version).unwrap();
    let mut sent = Vec::new();
    client.poll_transmit(&mut sent);
    assert_eq!(decode_stream(&sent).len(), 10);
    // Deliver in two pieces to exercise partial packets.
    let cut = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    for piece in [&data[..cut], &data[cut..]] {
        match client.handle_input(piece) {
            Ok(n) => assert_eq!(n, piece.len()),
            Err(e) => {
                assert_eq!(client.handle_input(b"x"), Err(e), "error not latched");
                break;
            }
        }
    }
    while let Some(ev) = client.poll_event() {
        match ev {
            ClientEvent::Reply { id, reply } => {
                let kind = kinds.remove(&id).expect("reply to an outstanding request");
                use crate::client::Reply as R;
                use crate::codec::ReplyKind as K;
                let fits = match &reply {
                    R::Status(_) => true,
                    R::Handle(_) => kind == K::Handle,
                    R::Data(d) => kind == K::Data && d.len() <= 16,
                    R::Name(_) => kind == K::Name,
                    R::Attrs(_) => kind == K::Attrs,
                    R::Statvfs(_) => kind == K::Statvfs,
                    R::Limits(_) => kind == K::Limits,
                    R::UsersGroups(_) => kind == K::UsersGroups,
                    R::Extended(_) => kind == K::Extended,
                };
                assert!(fits, "{reply:?} for a request expecting {kind:?}");
            }
            ClientEvent::Version { .. } => {}
        }
    }
    assert_eq!(client.outstanding(), kinds.len());
}
