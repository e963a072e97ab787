//! whelk-tokio's SFTP client against OpenSSH's `internal-sftp` (a private sshd): every API
//! call, transfers of an empty, a 64 MiB, a sparse and a unicode-named file (compared by
//! SHA-256), directory trees with wildcards, resume, preserved times and permissions,
//! server-side copy, and the `File` handle's AsyncRead/AsyncWrite/AsyncSeek.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod sftp_common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use whelk::PrivateKey;
use whelk_test::openssh::Sshd;
use whelk_tokio::sftp::{SftpClient, TransferOptions};

use sftp_common::{openssh_client, openssh_sshd, pattern_file, sha};

fn user_key() -> PrivateKey {
    PrivateKey::ed25519_from_seed(&[21; 32])
}

fn sshd() -> Sshd {
    openssh_sshd(&user_key(), &[])
}

async fn sftp(sshd: &Sshd) -> (whelk_tokio::Client, SftpClient) {
    let client = openssh_client(sshd, user_key()).await;
    let s = SftpClient::connect(&client).await.unwrap();
    (client, s)
}

fn p(path: &Path) -> String {
    path.to_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_call() {
    let sshd = sshd();
    let (_c, s) = sftp(&sshd).await;
    let dir = tempfile::tempdir().unwrap();
    let d = p(dir.path());

    assert!(s.read_len() >= 32 * 1024);
    assert!(s.limits().is_some());
    assert!(s.supports("posix-rename@openssh.com"));

    // realpath, mkdir, makedirs, isdir/isfile/exists
    s.mkdir(&format!("{d}/m"), Some(0o750)).await.unwrap();
    assert_eq!(s.realpath(&format!("{d}/./m/..")).await.unwrap(), d);
    assert_eq!(
        std::fs::metadata(dir.path().join("m")).unwrap().mode() & 0o777,
        0o750
    );
    s.makedirs(&format!("{d}/a/b/c")).await.unwrap();
    s.makedirs(&format!("{d}/a/b/c")).await.unwrap();
    assert!(s.isdir(&format!("{d}/a/b/c")).await.unwrap());
    assert!(!s.isfile(&format!("{d}/a/b/c")).await.unwrap());
    assert!(!s.exists(&format!("{d}/nope")).await.unwrap());

    // write/read/getsize/stat/lstat/fstat
    let f = format!("{d}/a/file.txt");
    s.write(&f, b"hello world").await.unwrap();
    assert_eq!(s.read(&f).await.unwrap(), b"hello world");
    assert_eq!(s.getsize(&f).await.unwrap(), 11);
    assert!(s.isfile(&f).await.unwrap());
    let st = s.stat(&f).await.unwrap();
    assert_eq!(st.size, Some(11));
    let file = s.open(&f).await.unwrap();
    assert_eq!(s.fstat(&file).await.unwrap().size, Some(11));
    file.close().await.unwrap();

    // setstat family
    s.chmod(&f, 0o640).await.unwrap();
    assert_eq!(
        s.stat(&f).await.unwrap().permissions.unwrap() & 0o777,
        0o640
    );
    s.utime(&f, 1_000_000, 2_000_000).await.unwrap();
    assert_eq!(
        s.stat(&f).await.unwrap().times,
        Some((1_000_000, 2_000_000))
    );
    let meta = std::fs::metadata(&f).unwrap();
    s.chown(&f, meta.uid(), meta.gid()).await.unwrap();
    s.truncate(&f, 5).await.unwrap();
    assert_eq!(std::fs::read(&f).unwrap(), b"hello");
    s.setstat(
        &f,
        whelk_tokio::sftp::Attrs {
            size: Some(2),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(&f).unwrap(), b"he");

    // symlink/readlink/lstat/link
    let l = format!("{d}/a/link");
    s.symlink(&f, &l).await.unwrap();
    assert_eq!(s.readlink(&l).await.unwrap(), f);
    assert!(s.lstat(&l).await.unwrap().is_symlink());
    assert!(s.stat(&l).await.unwrap().is_file());
    let h = format!("{d}/a/hard");
    s.link(&f, &h).await.unwrap();
    assert_eq!(std::fs::metadata(&h).unwrap().nlink(), 2);

    // opendir/readdir/listdir/scandir
    let names = s.listdir(&format!("{d}/a")).await.unwrap();
    assert!(!names.is_empty());
    assert_eq!(names, ["b", "file.txt", "hard", "link"]);
    let entries = s.scandir(&format!("{d}/a")).await.unwrap();
    assert!(entries[0].attrs.is_dir());
    let dh = s.opendir(&d).await.unwrap();
    let mut all = Vec::new();
    while let Some(batch) = s.readdir(&dh).await.unwrap() {
        all.extend(batch.into_iter().map(|n| n.filename.to_string()));
    }
    s.closedir(dh).await.unwrap();
    assert!(all.contains(&".".to_string()) && all.contains(&"a".to_string()));

    // rename/posix_rename/remove
    let g = format!("{d}/a/g");
    s.rename(&h, &g).await.unwrap();
    assert!(!s.exists(&h).await.unwrap());
    s.remove(&g).await.unwrap();
    s.write(&g, b"new").await.unwrap();
    assert!(
        s.rename(&g, &f).await.is_err(),
        "plain rename must not replace"
    );
    s.posix_rename(&g, &f).await.unwrap();
    assert!(!s.exists(&g).await.unwrap());
    assert_eq!(s.read(&f).await.unwrap(), b"new");
    s.remove(&l).await.unwrap();
    let e = s.remove(&l).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");

    // glob
    for n in ["x1.txt", "x2.txt", "y.txt", ".hidden.txt"] {
        std::fs::write(dir.path().join("m").join(n), n).unwrap();
    }
    let g = s.glob(&format!("{d}/m/*.txt")).await.unwrap();
    assert_eq!(
        g,
        [
            format!("{d}/m/x1.txt"),
            format!("{d}/m/x2.txt"),
            format!("{d}/m/y.txt")
        ]
    );
    assert_eq!(
        s.glob(&format!("{d}/?/x[0-1]*")).await.unwrap(),
        [format!("{d}/m/x1.txt")]
    );

    // statvfs, home directory
    let v = s.statvfs(&d).await.unwrap();
    assert!(v.bsize > 0 && v.blocks > 0);
    let _ = s.home_directory("").await;

    // rmdir/rmtree
    assert!(s.rmdir(&format!("{d}/a")).await.is_err());
    s.rmtree(&format!("{d}/a")).await.unwrap();
    assert!(!dir.path().join("a").exists());
    s.rmdir(&format!("{d}/m")).await.unwrap_err();
    s.rmtree(&format!("{d}/m")).await.unwrap();
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_handle_read_write_seek() {
    let sshd = sshd();
    let (_c, s) = sftp(&sshd).await;
    let dir = tempfile::tempdir().unwrap();
    let f = p(&dir.path().join("f"));
    let mut w = s.create(&f).await.unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    w.write_all(&big).await.unwrap();
    w.seek(std::io::SeekFrom::Start(1)).await.unwrap();
    w.write_all(b"XY").await.unwrap();
    assert_eq!(w.seek(std::io::SeekFrom::End(-10)).await.unwrap(), 299_990);
    w.flush().await.unwrap();
    w.fsync().await.unwrap();
    w.close().await.unwrap();
    let mut expect = big.clone();
    expect[1] = b'X';
    expect[2] = b'Y';
    assert!(std::fs::read(&f).unwrap() == expect);

    let mut r = s.open(&f).await.unwrap();
    let mut got = Vec::new();
    r.read_to_end(&mut got).await.unwrap();
    assert!(got == expect);
    r.seek(std::io::SeekFrom::Start(299_995)).await.unwrap();
    let mut tail = Vec::new();
    r.read_to_end(&mut tail).await.unwrap();
    assert_eq!(tail, &expect[299_995..]);
    r.seek(std::io::SeekFrom::Current(-3)).await.unwrap();
    let mut three = [0u8; 3];
    r.read_exact(&mut three).await.unwrap();
    assert_eq!(three, expect[299_997..]);
    assert!(r.read_at(400_000, 10).await.unwrap().is_none());
    r.close().await.unwrap();

    let mut a = s.append(&f).await.unwrap();
    a.write_all(b"END").await.unwrap();
    a.close().await.unwrap();
    assert!(std::fs::read(&f).unwrap().ends_with(b"END"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_put_copy_by_sha256() {
    let sshd = sshd();
    let (_c, s) = sftp(&sshd).await;
    let local = tempfile::tempdir().unwrap();
    let remote = tempfile::tempdir().unwrap();
    let r = p(remote.path());
    let calls = Arc::new(AtomicU64::new(0));
    let seen = calls.clone();
    let opts = TransferOptions {
        progress: Some(Arc::new(move |pr| {
            seen.fetch_max(pr.transferred, Ordering::Relaxed);
        })),
        ..TransferOptions::default()
    };

    // Empty, 64 MiB, unicode name.
    let files = [
        ("empty", 0usize),
        ("big.bin", 64 << 20),
        ("ünïcødé ☃ файл.txt", 100_003),
    ];
    for (name, len) in files {
        let src = local.path().join(name);
        pattern_file(&src, len, 7);
        let t0 = std::time::Instant::now();
        let n = s.put(&src, &format!("{r}/{name}"), &opts).await.unwrap();
        eprintln!("put {name} {:?}", t0.elapsed());
        assert_eq!(n, len as u64);
        assert_eq!(sha(&src), sha(&remote.path().join(name)), "put {name}");
        let back = local.path().join(format!("{name}.back"));
        let t0 = std::time::Instant::now();
        let n = s.get(&format!("{r}/{name}"), &back, &opts).await.unwrap();
        eprintln!("get {name} {:?}", t0.elapsed());
        assert_eq!(n, len as u64);
        assert_eq!(sha(&src), sha(&back), "get {name}");
        let copy = format!("{r}/{name}.copy");
        s.copy(&format!("{r}/{name}"), &copy, &opts).await.unwrap();
        assert_eq!(sha(&src), sha(Path::new(&copy)), "copy {name}");
    }
    assert_eq!(calls.load(Ordering::Relaxed), 64 << 20);

    // Sparse: 8 MiB hole, data, hole at the end; the copy keeps the holes.
    let sparse = local.path().join("sparse");
    {
        let f = std::fs::File::create(&sparse).unwrap();
        use std::os::unix::fs::FileExt;
        f.write_all_at(b"middle", 8 << 20).unwrap();
        f.set_len(16 << 20).unwrap();
    }
    s.put(&sparse, &format!("{r}/sparse"), &opts).await.unwrap();
    assert_eq!(sha(&sparse), sha(&remote.path().join("sparse")));
    let back = local.path().join("sparse.back");
    s.get(&format!("{r}/sparse"), &back, &opts).await.unwrap();
    assert_eq!(sha(&sparse), sha(&back));
    let m = std::fs::metadata(&back).unwrap();
    assert_eq!(m.len(), 16 << 20);
    assert!(
        m.blocks() * 512 < 1 << 20,
        "holes kept: {} blocks",
        m.blocks()
    );

    // Into an existing directory keeps the name.
    let into = local.path().join("into");
    std::fs::create_dir(&into).unwrap();
    s.get(&format!("{r}/empty"), &into, &opts).await.unwrap();
    assert!(into.join("empty").exists());

    // A directory without recursive is refused.
    assert!(s.get(&r, &into, &opts).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trees_globs_preserve_and_resume() {
    let sshd = sshd();
    let (_c, s) = sftp(&sshd).await;
    let local = tempfile::tempdir().unwrap();
    let remote = tempfile::tempdir().unwrap();
    let r = p(remote.path());

    // A tree: tree/{a.txt, b.log, sub/{c.txt, deeper/d.bin}, empty/}
    let tree = local.path().join("tree");
    std::fs::create_dir_all(tree.join("sub/deeper")).unwrap();
    std::fs::create_dir_all(tree.join("empty")).unwrap();
    pattern_file(&tree.join("a.txt"), 1000, 1);
    pattern_file(&tree.join("b.log"), 70_000, 2);
    pattern_file(&tree.join("sub/c.txt"), 0, 3);
    pattern_file(&tree.join("sub/deeper/d.bin"), 300_000, 4);
    std::fs::set_permissions(tree.join("a.txt"), std::fs::Permissions::from_mode(0o604)).unwrap();
    let mtime = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_234_567_890);
    std::fs::File::options()
        .write(true)
        .open(tree.join("a.txt"))
        .unwrap()
        .set_modified(mtime)
        .unwrap();

    let rec = TransferOptions {
        recursive: true,
        preserve: true,
        ..TransferOptions::default()
    };
    // mput -r
    s.mput(&[tree.to_str().unwrap()], &r, &rec).await.unwrap();
    let rt = remote.path().join("tree");
    for f in ["a.txt", "b.log", "sub/c.txt", "sub/deeper/d.bin"] {
        assert_eq!(sha(&tree.join(f)), sha(&rt.join(f)), "mput {f}");
    }
    assert!(rt.join("empty").is_dir());
    let m = std::fs::metadata(rt.join("a.txt")).unwrap();
    assert_eq!(m.mode() & 0o777, 0o604);
    assert_eq!(m.mtime(), 1_234_567_890);

    // mget -r into another directory
    let down = local.path().join("down");
    std::fs::create_dir(&down).unwrap();
    s.mget(&[&format!("{r}/tree")], &down, &rec).await.unwrap();
    for f in ["a.txt", "b.log", "sub/c.txt", "sub/deeper/d.bin"] {
        assert_eq!(
            sha(&tree.join(f)),
            sha(&down.join("tree").join(f)),
            "mget {f}"
        );
    }
    let m = std::fs::metadata(down.join("tree/a.txt")).unwrap();
    assert_eq!((m.mode() & 0o777, m.mtime()), (0o604, 1_234_567_890));
    // Again into the same directory: merged, not nested (like sftp's get -r).
    s.mget(&[&format!("{r}/tree")], &down, &rec).await.unwrap();
    assert!(!down.join("tree/tree").exists());
    s.mput(&[tree.to_str().unwrap()], &r, &rec).await.unwrap();
    assert!(!rt.join("tree").exists());
    // get/put into an existing directory keep the name (like cp).
    let into = local.path().join("into");
    std::fs::create_dir(&into).unwrap();
    s.get(&format!("{r}/tree"), &into, &rec).await.unwrap();
    assert!(into.join("tree/sub/deeper/d.bin").exists());

    // Globs both ways.
    let g = local.path().join("globbed");
    std::fs::create_dir(&g).unwrap();
    let plain = TransferOptions::default();
    s.mget(
        &[&format!("{r}/tree/*.txt"), &format!("{r}/tree/*.log")],
        &g,
        &plain,
    )
    .await
    .unwrap();
    let mut names: Vec<_> = std::fs::read_dir(&g)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["a.txt", "b.log"]);
    s.mkdir(&format!("{r}/up"), None).await.unwrap();
    s.mput(
        &[&format!("{}/tree/*.txt", p(local.path()))],
        &format!("{r}/up"),
        &plain,
    )
    .await
    .unwrap();
    assert_eq!(s.listdir(&format!("{r}/up")).await.unwrap(), ["a.txt"]);
    assert!(
        s.mget(&[&format!("{r}/nomatch*")], &g, &plain)
            .await
            .is_err()
    );

    // mcopy -r on the server.
    s.mcopy(&[&format!("{r}/tree")], &format!("{r}/up"), &rec)
        .await
        .unwrap();
    assert_eq!(
        sha(&tree.join("sub/deeper/d.bin")),
        sha(&remote.path().join("up/tree/sub/deeper/d.bin"))
    );

    // Resume: a partial download and a partial upload.
    let full = local.path().join("full.bin");
    pattern_file(&full, 5_000_000, 9);
    s.put(&full, &format!("{r}/full.bin"), &plain)
        .await
        .unwrap();
    let part = local.path().join("part.bin");
    std::fs::write(&part, &std::fs::read(&full).unwrap()[..1_234_567]).unwrap();
    let n = s
        .reget(&format!("{r}/full.bin"), &part, &plain)
        .await
        .unwrap();
    assert_eq!(n, 5_000_000 - 1_234_567);
    assert_eq!(sha(&full), sha(&part));
    let rpart = remote.path().join("rpart.bin");
    std::fs::write(&rpart, &std::fs::read(&full).unwrap()[..3_000_001]).unwrap();
    let n = s.reput(&full, &p(&rpart), &plain).await.unwrap();
    assert_eq!(n, 5_000_000 - 3_000_001);
    assert_eq!(sha(&full), sha(&rpart));
    // Already complete: nothing to do.
    assert_eq!(
        s.reget(&format!("{r}/full.bin"), &part, &plain)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_requests_in_flight_from_clones() {
    let sshd = sshd();
    let (_c, s) = sftp(&sshd).await;
    let dir = tempfile::tempdir().unwrap();
    let d = p(dir.path());
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let s = s.clone();
            let d = d.clone();
            tokio::spawn(async move {
                let f = format!("{d}/f{i}");
                s.write(&f, format!("n{i}").as_bytes()).await.unwrap();
                s.read(&f).await.unwrap()
            })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(t.await.unwrap(), format!("n{i}").as_bytes());
    }
    assert_eq!(s.listdir(&d).await.unwrap().len(), 32);
}
