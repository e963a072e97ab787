//! Catalog F01 (path traversal) and F03 (symlink escape): nothing outside the root can be
//! read, written, listed, linked or renamed into or out of, by any path form.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap
)]

mod common;

use bytes::Bytes;
use common::{Pair, exists, t};
use whelk_sftp::client::Reply;
use whelk_sftp::codec::{Attrs, ExtendedRequest as E, OpenFlags, Request, StatusCode};

fn refused(code: StatusCode) -> bool {
    code == StatusCode::PERMISSION_DENIED || code == StatusCode::NO_SUCH_FILE
}

const ESCAPES: &[&str] = &[
    "../secret",
    "../../secret",
    "/../secret",
    "a/../../secret",
    "/..//../secret",
    "./../secret",
    "sub/../../secret",
    "sub/..",
    "..",
    "/..",
    ".\\..\\secret",
    "..\\secret",
];

#[test]
fn f01_traversal_paths_stay_inside() {
    let mut p = Pair::new();
    std::fs::create_dir(p.path("sub")).unwrap();
    let outside = p.outside().join("secret");
    for path in ESCAPES {
        // Reading never yields the outside file (`../secret` is `/secret` inside the root,
        // which the first write below creates empty).
        if let Ok(data) = p.read_file(path) {
            assert!(
                data.is_empty(),
                "{path}: read {:?}",
                String::from_utf8_lossy(&data)
            );
        }
        // Writing never touches it.
        if let Ok(h) = p.open(path, OpenFlags::WRITE | OpenFlags::CREAT | OpenFlags::TRUNC) {
            p.ok(Request::Close { handle: h });
        }
        assert_eq!(
            std::fs::read(&outside).unwrap(),
            b"outside the root",
            "{path}"
        );
        // Paths that would escape resolve to the root or below.
        let real = p.realpath(path).unwrap();
        // (On Unix a backslash is an ordinary byte: `.\..\secret` is one file name.)
        assert!(real.starts_with('/'), "{path} -> {real}");
        assert!(
            !real.split('/').any(|c| c == ".." || c == "."),
            "{path} -> {real}"
        );
    }
    // `../secret` lands on `/secret` inside the root, which was just created.
    assert_eq!(p.realpath("../../secret").unwrap(), "/secret");
    assert!(p.path("secret").exists());
    // The outside directory is never listed.
    for path in ["..", "/..", "../..", "sub/../.."] {
        let names = p.list(path).unwrap();
        assert!(
            !names.iter().any(|n| n.filename == "root"),
            "{path} lists the parent"
        );
    }
    // Absolute client paths are relative to the root.
    assert_eq!(
        p.open("/etc/passwd", OpenFlags::READ).unwrap_err().code,
        StatusCode::NO_SUCH_FILE
    );
    assert_eq!(
        p.open("../../../../../../etc/passwd", OpenFlags::READ)
            .unwrap_err()
            .code,
        StatusCode::NO_SUCH_FILE
    );
    // The root cannot be removed, renamed or replaced through `..`.
    for path in ["/", "..", "/.."] {
        assert_eq!(
            p.code(Request::Rmdir { path: t(path) }),
            StatusCode::PERMISSION_DENIED
        );
        assert_eq!(
            p.code(Request::Rename {
                oldpath: t(path),
                newpath: t("x")
            }),
            StatusCode::PERMISSION_DENIED
        );
        assert_eq!(
            p.code(Request::Remove { filename: t(path) }),
            StatusCode::PERMISSION_DENIED
        );
    }
    assert!(p.root.is_dir());
}

#[test]
fn f03_symlink_to_outside_is_refused() {
    let mut p = Pair::new();
    // Links planted by someone else: absolute to /etc, relative up and out, to the outside file.
    std::os::unix::fs::symlink("/etc", p.path("etc")).unwrap();
    std::os::unix::fs::symlink("../secret", p.path("up")).unwrap();
    std::os::unix::fs::symlink(p.outside().join("secret"), p.path("abs_secret")).unwrap();
    std::os::unix::fs::symlink(p.outside(), p.path("parent")).unwrap();
    std::fs::create_dir(p.path("d")).unwrap();
    std::os::unix::fs::symlink("../../secret", p.path("d/deep")).unwrap();
    std::os::unix::fs::symlink("../etc", p.path("d/chain")).unwrap();
    let cases = [
        "etc/passwd",
        "/etc/passwd",
        "up",
        "abs_secret",
        "parent/secret",
        "d/deep",
        "d/chain/passwd",
        "d/../up",
    ];
    for path in cases {
        let err = p.open(path, OpenFlags::READ).unwrap_err();
        assert_eq!(err.code, StatusCode::PERMISSION_DENIED, "{path}: {err}");
        assert_eq!(
            p.stat(path).unwrap_err().code,
            StatusCode::PERMISSION_DENIED,
            "{path}"
        );
        assert_eq!(
            p.realpath(path).unwrap_err().code,
            StatusCode::PERMISSION_DENIED,
            "{path}"
        );
        let err = p
            .open(path, OpenFlags::WRITE | OpenFlags::CREAT)
            .unwrap_err();
        assert_eq!(err.code, StatusCode::PERMISSION_DENIED, "{path}");
        assert_eq!(
            p.code(Request::Setstat {
                path: t(path),
                attrs: Attrs {
                    permissions: Some(0o777),
                    ..Attrs::default()
                }
            }),
            StatusCode::PERMISSION_DENIED,
            "{path}"
        );
        match p.ext(E::Statvfs { path: t(path) }) {
            Reply::Status(s) => assert_eq!(s.code, StatusCode::PERMISSION_DENIED),
            other => panic!("{path}: {other:?}"),
        }
    }
    for path in ["etc", "parent", "d/chain"] {
        assert_eq!(
            p.list(path).unwrap_err().code,
            StatusCode::PERMISSION_DENIED,
            "{path}"
        );
    }
    // The links themselves can be inspected and removed (lstat/readlink/remove do not follow).
    assert!(p.lstat("etc").unwrap().is_symlink());
    assert_eq!(
        p.names(Request::Readlink { path: t("etc") }).unwrap()[0].filename,
        "/etc"
    );
    p.ok(Request::Remove { filename: t("up") });
    assert!(p.outside().join("secret").exists());
    // A link loop ends in FAILURE, not a hang.
    std::os::unix::fs::symlink("loop2", p.path("loop1")).unwrap();
    std::os::unix::fs::symlink("loop1", p.path("loop2")).unwrap();
    assert_eq!(p.stat("loop1").unwrap_err().code, StatusCode::FAILURE);
    assert_eq!(
        std::fs::read(p.outside().join("secret")).unwrap(),
        b"outside the root"
    );
}

#[test]
fn f03_symlink_request_targets_are_checked_in_both_argument_orders() {
    let mut p = Pair::new();
    std::fs::create_dir(p.path("d")).unwrap();
    // Targets that leave the root, given as either argument (the draft order and OpenSSH's).
    for (i, target) in ["/..", "../x", "../../etc/passwd", "d/../../x", "/../etc"]
        .iter()
        .enumerate()
    {
        let link = format!("l{i}");
        assert_eq!(
            p.code(Request::Symlink {
                link: t(&link),
                target: t(target)
            }),
            StatusCode::PERMISSION_DENIED,
            "target {target}"
        );
        assert!(!exists(&p.path(&link)));
        // Reversed: the "link" would be created at the target's place, which is resolved
        // inside the root (clamped), and the target is the harmless name.
        let code = p.code(Request::Symlink {
            link: t(target),
            target: t(&link),
        });
        assert!(
            code == StatusCode::OK || refused(code) || code == StatusCode::FAILURE,
            "{target}: {code}"
        );
    }
    assert!(!p.outside().join("x").exists());
    // Absolute targets are confined: `/` means the root, written as the real root path.
    p.ok(Request::Symlink {
        link: t("toroot"),
        target: t("/"),
    });
    assert_eq!(std::fs::read_link(p.path("toroot")).unwrap(), p.root);
    p.write_file("toroot/inside", b"i");
    assert!(p.path("inside").exists());
    assert_eq!(
        p.open("toroot/etc/passwd", OpenFlags::READ)
            .unwrap_err()
            .code,
        StatusCode::NO_SUCH_FILE
    );
    // A relative link that is fine where it is becomes an escape if moved up: refused.
    p.ok(Request::Symlink {
        link: t("d/ok"),
        target: t("../inside"),
    });
    assert_eq!(p.read_file("d/ok").unwrap(), b"i");
    std::fs::create_dir(p.path("d/e")).unwrap();
    p.ok(Request::Symlink {
        link: t("d/e/up2"),
        target: t("../../inside"),
    });
    assert_eq!(
        p.code(Request::Rename {
            oldpath: t("d/e/up2"),
            newpath: t("up2")
        }),
        StatusCode::PERMISSION_DENIED
    );
    match p.ext(E::Hardlink {
        oldpath: t("d/e/up2"),
        newpath: t("up3"),
    }) {
        Reply::Status(s) => assert_eq!(s.code, StatusCode::PERMISSION_DENIED),
        other => panic!("{other:?}"),
    }
    match p.ext(E::PosixRename {
        oldpath: t("d/e/up2"),
        newpath: t("/up4"),
    }) {
        Reply::Status(s) => assert_eq!(s.code, StatusCode::PERMISSION_DENIED),
        other => panic!("{other:?}"),
    }
    // Moving it deeper keeps it inside, so that is allowed.
    std::fs::create_dir(p.path("d/e/f")).unwrap();
    p.ok(Request::Rename {
        oldpath: t("d/e/up2"),
        newpath: t("d/e/f/up2"),
    });
}

#[test]
fn f03_then_open_through_the_link_is_denied() {
    // The catalog's scenario: plant a link to `/` (outside the root), then open through it.
    let mut p = Pair::new();
    std::os::unix::fs::symlink("/", p.path("slash")).unwrap();
    assert_eq!(
        p.open("slash/etc/passwd", OpenFlags::READ)
            .unwrap_err()
            .code,
        StatusCode::PERMISSION_DENIED
    );
    assert_eq!(
        p.list("slash").unwrap_err().code,
        StatusCode::PERMISSION_DENIED
    );
    assert_eq!(
        p.code(Request::Mkdir {
            path: t("slash/tmp/x"),
            attrs: Attrs::default()
        }),
        StatusCode::PERMISSION_DENIED
    );
}

#[test]
fn rename_and_hardlink_into_or_out_of_the_root_are_refused() {
    let mut p = Pair::new();
    p.write_file("mine", b"m");
    std::os::unix::fs::symlink(p.outside(), p.path("out")).unwrap();
    // Out of the root: the destination resolves through a link that leaves it.
    assert_eq!(
        p.code(Request::Rename {
            oldpath: t("mine"),
            newpath: t("out/stolen")
        }),
        StatusCode::PERMISSION_DENIED
    );
    // `..` in the destination is clamped at the root: it stays inside.
    p.ok(Request::Rename {
        oldpath: t("mine"),
        newpath: t("../../moved"),
    });
    assert!(p.path("moved").exists());
    assert!(!p.outside().join("moved").exists());
    // Into the root: the source resolves through the link.
    assert_eq!(
        p.code(Request::Rename {
            oldpath: t("out/secret"),
            newpath: t("got")
        }),
        StatusCode::PERMISSION_DENIED
    );
    assert_eq!(
        p.code(Request::Rename {
            oldpath: t("../secret"),
            newpath: t("got")
        }),
        StatusCode::NO_SUCH_FILE
    );
    for (old, new) in [("out/secret", "h1"), ("moved", "out/h2")] {
        match p.ext(E::Hardlink {
            oldpath: t(old),
            newpath: t(new),
        }) {
            Reply::Status(s) => assert_eq!(s.code, StatusCode::PERMISSION_DENIED, "{old} -> {new}"),
            other => panic!("{other:?}"),
        }
    }
    match p.ext(E::PosixRename {
        oldpath: t("moved"),
        newpath: t("out/secret"),
    }) {
        Reply::Status(s) => assert_eq!(s.code, StatusCode::PERMISSION_DENIED),
        other => panic!("{other:?}"),
    }
    // copy-data cannot reach outside either: it only takes handles.
    assert!(!p.path("got").exists() && !p.path("h1").exists());
    assert!(!p.outside().join("stolen").exists() && !p.outside().join("h2").exists());
    assert_eq!(
        std::fs::read(p.outside().join("secret")).unwrap(),
        b"outside the root"
    );
    // Writing through a link to an outside file is refused.
    assert_eq!(
        p.open("out/secret", OpenFlags::WRITE | OpenFlags::TRUNC)
            .unwrap_err()
            .code,
        StatusCode::PERMISSION_DENIED
    );
    let _ = Bytes::new();
}

/// Catalog F03's race: another process swaps a directory inside the root with a symlink to
/// the outside (atomically, `RENAME_EXCHANGE`) in a loop while the client keeps reading,
/// listing and writing through it. The descriptor walk (`O_NOFOLLOW` on every component)
/// means no operation ever reaches the outside, whichever way the race falls.
#[test]
fn f03_directory_symlink_swap_race_never_escapes() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let mut p = Pair::new();
    let outside = p.outside().join("victim");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("f"), b"outside").unwrap();
    std::fs::create_dir(p.path("d")).unwrap();
    std::fs::write(p.path("d/f"), b"inside").unwrap();
    std::os::unix::fs::symlink(&outside, p.path("spare")).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let stop = Arc::clone(&stop);
        let (a, b) = (p.path("d"), p.path("spare"));
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                rustix::fs::renameat_with(
                    rustix::fs::CWD,
                    &a,
                    rustix::fs::CWD,
                    &b,
                    rustix::fs::RenameFlags::EXCHANGE,
                )
                .unwrap();
                swaps += 1;
            }
            swaps
        })
    };
    let (mut inside, mut refused) = (0, 0);
    for i in 0..3000 {
        match p.read_file("d/f") {
            Ok(data) => {
                assert_eq!(data, b"inside", "read through the swapped link");
                inside += 1;
            }
            Err(_) => refused += 1,
        }
        if let Ok(names) = p.list("d") {
            assert!(
                names
                    .iter()
                    .all(|n| n.attrs.size != Some(7) || n.filename != "f")
            );
        }
        if i % 10 == 0 {
            if let Ok(h) = p.open("d/new", OpenFlags::WRITE | OpenFlags::CREAT) {
                p.ok(Request::Close { handle: h });
            }
            let _ = p.code(Request::Setstat {
                path: t("d/f"),
                attrs: Attrs {
                    times: Some((1, 1)),
                    ..Attrs::default()
                },
            });
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    eprintln!("{swaps} swaps, {inside} reads inside, {refused} refused");
    assert!(inside > 0);
    assert_eq!(std::fs::read(outside.join("f")).unwrap(), b"outside");
    assert!(
        !outside.join("new").exists(),
        "created a file outside the root"
    );
    assert_ne!(
        std::fs::metadata(outside.join("f"))
            .unwrap()
            .modified()
            .unwrap(),
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(1)
    );
}
