//! Catalog F07's resource check: 10 000 OPEN/OPENDIR without CLOSE hold at most the handle
//! limit of file descriptors, failures leak none, and ending the session gives every
//! descriptor back. Its own test binary (one test), so no other test's descriptors interfere.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use whelk_sftp::codec::{Attrs, OpenFlags, Packet, Request};
use whelk_sftp::fs::{StdFs, StdFsConfig, serve_chunk};
use whelk_sftp::server::{Server, ServerConfig};
use whelk_wire::types::Text;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn f07_descriptors_are_bounded_and_returned() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), b"x").unwrap();
    std::fs::create_dir(dir.path().join("d")).unwrap();
    let baseline = open_fds();
    {
        let mut fs = StdFs::new(dir.path(), StdFsConfig::default()).unwrap();
        let mut server = Server::new(ServerConfig::default());
        serve_chunk(&mut server, &mut fs, &[0, 0, 0, 5, 1, 0, 0, 0, 3]).unwrap();
        let with_root = open_fds();
        assert_eq!(
            with_root,
            baseline + 1,
            "StdFs holds one descriptor for the root"
        );
        let mut input = Vec::new();
        for id in 0..10_000u32 {
            let request = match id % 3 {
                0 => Request::Opendir {
                    path: Text::from("/d"),
                },
                1 => Request::Open {
                    filename: Text::from("f"),
                    pflags: OpenFlags::READ,
                    attrs: Attrs::default(),
                },
                _ => Request::Open {
                    filename: Text::from("missing"),
                    pflags: OpenFlags::READ,
                    attrs: Attrs::default(),
                },
            };
            input.extend(Packet::Request { id, request }.to_vec());
        }
        serve_chunk(&mut server, &mut fs, &input).unwrap();
        assert_eq!(
            server.open_handles() as usize,
            fs.open_handles(),
            "server and backend disagree"
        );
        // Pipelined: OPENs still pending count against the limit, so a few valid ones may be
        // refused while failing ones are outstanding; never more than the limit.
        let held = fs.open_handles();
        assert!((200..=256).contains(&held), "{held}");
        // One descriptor per handle, none for refused or failed opens.
        assert_eq!(open_fds(), with_root + held);
        fs.close_all();
        assert_eq!(open_fds(), with_root);
    }
    assert_eq!(open_fds(), baseline);
}
