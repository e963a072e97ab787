//! `whelk sftp -b batch` and `whelk scp` (SFTP and legacy `-O`) against a private sshd.
//! Fails (never skips) when OpenSSH is missing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Peer, me};
use sha2::{Digest, Sha256};
use whelk_test::openssh::run;

mod common;

const GUARD: Duration = Duration::from_secs(60);

fn whelk(e: &Peer, sub: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_whelk"));
    cmd.arg(sub)
        .args(["-F", "none", "-P"])
        .arg(e.sshd.port().to_string())
        .arg("-i")
        .arg(&e.key)
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", e.known.display()))
        .args(["-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"]);
    cmd
}

fn sha(path: &Path) -> Vec<u8> {
    Sha256::digest(std::fs::read(path).unwrap()).to_vec()
}

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 11) as u8)
        .collect()
}

#[test]
fn sftp_batch_mode() {
    let e = Peer::new();
    let local = e.dir.path().join("local");
    let remote = e.dir.path().join("remote");
    std::fs::create_dir_all(local.join("tree/sub")).unwrap();
    std::fs::create_dir(&remote).unwrap();
    std::fs::write(local.join("big.bin"), pattern(3_000_000, 1)).unwrap();
    std::fs::write(local.join("tree/a.txt"), "a").unwrap();
    std::fs::write(local.join("tree/sub/b.txt"), pattern(70_000, 2)).unwrap();
    std::fs::write(local.join("x1.log"), "1").unwrap();
    std::fs::write(local.join("x2.log"), "2").unwrap();
    // Partial files for reget/reput.
    std::fs::write(remote.join("part.bin"), &pattern(3_000_000, 1)[..1_000_000]).unwrap();
    let r = remote.display();
    let batch = e.dir.path().join("batch");
    std::fs::write(
        &batch,
        format!(
            "lcd {l}\n\
             cd {r}\n\
             pwd\n\
             lpwd\n\
             put big.bin\n\
             put -r tree\n\
             put x*.log\n\
             mkdir newdir\n\
             rename big.bin newdir/moved.bin\n\
             ln -s newdir/moved.bin link\n\
             ln newdir/moved.bin hard\n\
             chmod 640 newdir/moved.bin\n\
             cp newdir/moved.bin copied.bin\n\
             ls -l newdir\n\
             ls\n\
             get newdir/moved.bin back.bin\n\
             get -r tree tree_back\n\
             reput big.bin part.bin\n\
             get -p copied.bin\n\
             df -h\n\
             !echo local-shell-ran\n\
             -rm does-not-exist\n\
             rm x*.log\n\
             -rmdir newdir\n\
             version\n\
             bye\n\
             put never-run\n",
            l = local.display()
        ),
    )
    .unwrap();
    let mut cmd = whelk(&e, "sftp");
    cmd.arg("-b").arg(&batch).arg(format!("{}@127.0.0.1", me()));
    let out = run(cmd, GUARD).unwrap();
    let stdout = out.stdout_str();
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        out.stderr_str()
    );
    assert!(stdout.contains(&format!("sftp> cd {r}")), "{stdout}");
    assert!(
        stdout.contains(&format!("Remote working directory: {r}")),
        "{stdout}"
    );
    assert!(stdout.contains("local-shell-ran"), "{stdout}");
    assert!(stdout.contains("moved.bin"), "{stdout}");
    assert!(
        stdout.contains("-rw-r-----"),
        "ls -l shows the mode: {stdout}"
    );
    assert!(stdout.contains("%Capacity"), "{stdout}");
    assert!(!stdout.contains("never-run"));
    let src = local.join("big.bin");
    assert_eq!(sha(&src), sha(&remote.join("newdir/moved.bin")));
    assert_eq!(sha(&src), sha(&remote.join("copied.bin")));
    assert_eq!(sha(&src), sha(&remote.join("part.bin")));
    assert_eq!(sha(&src), sha(&local.join("back.bin")));
    assert_eq!(sha(&src), sha(&local.join("copied.bin")));
    assert_eq!(
        sha(&local.join("tree/sub/b.txt")),
        sha(&local.join("tree_back/sub/b.txt"))
    );
    assert_eq!(
        sha(&local.join("tree/sub/b.txt")),
        sha(&remote.join("tree/sub/b.txt"))
    );
    assert!(
        remote
            .join("link")
            .symlink_metadata()
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::metadata(remote.join("hard")).unwrap().nlink(), 2);
    assert!(!remote.join("x1.log").exists() && !remote.join("x2.log").exists());
    assert!(
        remote.join("newdir").exists(),
        "rmdir of a non-empty dir failed"
    );
    assert_eq!(
        std::fs::metadata(local.join("copied.bin")).unwrap().mode() & 0o777,
        0o640
    );
}

#[test]
fn sftp_batch_aborts_on_error() {
    let e = Peer::new();
    let d = e.dir.path();
    let batch = d.join("batch");
    std::fs::write(
        &batch,
        format!(
            "cd {}\nmkdir first\nrmdir does-not-exist\nmkdir second\n",
            d.display()
        ),
    )
    .unwrap();
    let mut cmd = whelk(&e, "sftp");
    cmd.arg("-b").arg(&batch).arg(format!("{}@127.0.0.1", me()));
    let out = run(cmd, GUARD).unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr_str());
    assert!(d.join("first").is_dir());
    assert!(!d.join("second").exists());

    // Destination with a file path: fetched into the local directory.
    std::fs::write(d.join("f.txt"), "content").unwrap();
    let dl = d.join("dl");
    std::fs::create_dir(&dl).unwrap();
    let mut cmd = whelk(&e, "sftp");
    cmd.current_dir(&dl)
        .arg(format!("{}@127.0.0.1:{}", me(), d.join("f.txt").display()));
    let out = run(cmd, GUARD).unwrap();
    assert!(out.status.success(), "{}", out.stderr_str());
    assert_eq!(std::fs::read(dl.join("f.txt")).unwrap(), b"content");
}

fn tree(base: &Path) {
    std::fs::create_dir_all(base.join("sub/deep")).unwrap();
    std::fs::write(base.join("a.txt"), pattern(1234, 1)).unwrap();
    std::fs::write(base.join("sub/b.bin"), pattern(1_500_000, 2)).unwrap();
    std::fs::write(base.join("sub/deep/empty"), b"").unwrap();
    std::fs::set_permissions(base.join("a.txt"), std::fs::Permissions::from_mode(0o604)).unwrap();
    let t = std::time::UNIX_EPOCH + Duration::from_secs(1_300_000_000);
    std::fs::File::options()
        .write(true)
        .open(base.join("a.txt"))
        .unwrap()
        .set_modified(t)
        .unwrap();
}

fn same_tree(a: &Path, b: &Path) {
    for f in ["a.txt", "sub/b.bin", "sub/deep/empty"] {
        assert_eq!(sha(&a.join(f)), sha(&b.join(f)), "{f}");
    }
    let m = std::fs::metadata(b.join("a.txt")).unwrap();
    assert_eq!((m.mode() & 0o777, m.mtime()), (0o604, 1_300_000_000));
}

#[test]
fn scp_both_protocols_both_directions() {
    let e = Peer::new();
    let src = e.dir.path().join("tree");
    tree(&src);
    for (flag, name) in [(None, "sftp"), (Some("-O"), "legacy")] {
        let up = e.dir.path().join(format!("up-{name}"));
        std::fs::create_dir(&up).unwrap();
        let mut cmd = whelk(&e, "scp");
        cmd.args(flag).args(["-r", "-p"]).arg(&src).arg(format!(
            "{}@127.0.0.1:{}",
            me(),
            up.display()
        ));
        let out = run(cmd, GUARD).unwrap();
        assert!(out.status.success(), "{name} upload: {}", out.stderr_str());
        same_tree(&src, &up.join("tree"));

        let down = e.dir.path().join(format!("down-{name}"));
        let mut cmd = whelk(&e, "scp");
        cmd.args(flag)
            .args(["-r", "-p"])
            .arg(format!("127.0.0.1:{}", up.join("tree").display()))
            .arg(&down);
        let out = run(cmd, GUARD).unwrap();
        assert!(
            out.status.success(),
            "{name} download: {}",
            out.stderr_str()
        );
        same_tree(&src, &down);

        // Single file, to a new name; then a missing source fails with status 1.
        let one = e.dir.path().join(format!("one-{name}"));
        let mut cmd = whelk(&e, "scp");
        cmd.args(flag)
            .arg(format!("127.0.0.1:{}", src.join("sub/b.bin").display()))
            .arg(&one);
        let out = run(cmd, GUARD).unwrap();
        assert!(out.status.success(), "{name} single: {}", out.stderr_str());
        assert_eq!(sha(&src.join("sub/b.bin")), sha(&one));
        let mut cmd = whelk(&e, "scp");
        cmd.args(flag)
            .arg(format!("127.0.0.1:{}/missing", up.display()))
            .arg(&one);
        let out = run(cmd, GUARD).unwrap();
        assert_eq!(out.status.code(), Some(1), "{name} missing source");

        // Remote to remote (through this machine).
        let r2r = e.dir.path().join(format!("r2r-{name}"));
        std::fs::create_dir(&r2r).unwrap();
        let mut cmd = whelk(&e, "scp");
        cmd.args(flag)
            .args(["-3", "-r", "-p"])
            .arg(format!("127.0.0.1:{}", up.join("tree").display()))
            .arg(format!("127.0.0.1:{}", r2r.display()));
        let out = run(cmd, GUARD).unwrap();
        assert!(
            out.status.success(),
            "{name} remote to remote: {}",
            out.stderr_str()
        );
        same_tree(&src, &r2r.join("tree"));
    }
}
