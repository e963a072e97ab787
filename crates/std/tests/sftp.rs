//! The blocking SFTP client against sshd's `internal-sftp`. Fails (never skips) when
//! OpenSSH is not installed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use std::io::{Read, Seek, SeekFrom, Write};

use whelk::PrivateKey;
use whelk_std::sftp::StatusCode;
use whelk_std::*;
use whelk_test::openssh::{Sshd, find};

fn user_key() -> PrivateKey {
    PrivateKey::ed25519_from_seed(&[31; 32])
}

fn setup() -> (Sshd, Client) {
    find("sshd").expect("sshd not installed: this interop test needs openssh-server");
    let line = user_key().public_key().to_openssh("whelk-std-sftp");
    let sshd = Sshd::builder().authorized_key(line).start().unwrap();
    let user = std::env::var("USER").unwrap_or_else(|_| "root".to_owned());
    let config = ClientConfig::new(&user)
        .key(user_key())
        .host_key(HostKeyPolicy::KnownHosts(sshd.known_hosts().unwrap()));
    let c = connect("127.0.0.1", sshd.port(), config).unwrap();
    (sshd, c)
}

#[test]
fn sftp_against_internal_sftp() {
    let (_sshd, c) = setup();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap().to_string();
    let sftp = c.sftp().unwrap();
    assert_eq!(
        sftp.realpath(&root).unwrap(),
        std::fs::canonicalize(&root).unwrap().to_str().unwrap()
    );

    // write / read / stat, larger than a channel window and the pipeline.
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let a = format!("{root}/a.bin");
    sftp.write(&a, &data).unwrap();
    assert!(std::fs::read(&a).unwrap() == data);
    assert!(sftp.read(&a).unwrap() == data);
    assert_eq!(sftp.stat(&a).unwrap().size, Some(3_000_000));

    // get / put through local files.
    let local = dir.path().join("local.bin");
    assert_eq!(sftp.get(&a, &local).unwrap(), 3_000_000);
    assert!(std::fs::read(&local).unwrap() == data);
    let b = format!("{root}/b.bin");
    std::fs::write(&local, b"put me").unwrap();
    assert_eq!(sftp.put(&local, &b).unwrap(), 6);
    assert_eq!(std::fs::read(&b).unwrap(), b"put me");
    // An empty file both ways.
    sftp.write(&format!("{root}/empty"), b"").unwrap();
    assert_eq!(sftp.read(&format!("{root}/empty")).unwrap(), b"");

    // Directories.
    sftp.mkdir(&format!("{root}/sub")).unwrap();
    sftp.rename(&b, &format!("{root}/sub/c.txt")).unwrap();
    let mut names: Vec<String> = sftp
        .read_dir(&root)
        .unwrap()
        .into_iter()
        .map(|n| n.filename.to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["a.bin", "empty", "local.bin", "sub"]);
    let sub = sftp.read_dir(&format!("{root}/sub")).unwrap();
    assert_eq!(sub.len(), 1);
    assert_eq!(sub[0].attrs.size, Some(6));

    // A File: Write, Seek, Read.
    let f_path = format!("{root}/sub/file");
    let mut f = sftp.create(&f_path).unwrap();
    f.write_all(b"hello world").unwrap();
    f.seek(SeekFrom::Start(6)).unwrap();
    f.write_all(b"WORLD").unwrap();
    f.close().unwrap();
    let mut f = sftp.open(&f_path).unwrap();
    f.seek(SeekFrom::End(-5)).unwrap();
    let mut s = String::new();
    f.read_to_string(&mut s).unwrap();
    assert_eq!(s, "WORLD");
    assert_eq!(f.stat().unwrap().size, Some(11));
    drop(f);

    // Errors carry the status.
    match sftp.stat(&format!("{root}/missing")) {
        Err(Error::SftpStatus { code, .. }) => assert_eq!(code, StatusCode::NO_SUCH_FILE),
        other => panic!("{other:?}"),
    }
    let e = sftp.open(&format!("{root}/missing")).unwrap_err();
    assert!(matches!(e, Error::SftpStatus { .. }), "{e:?}");
    assert!(sftp.rmdir(&format!("{root}/sub")).is_err());

    sftp.remove(&f_path).unwrap();
    sftp.remove(&format!("{root}/sub/c.txt")).unwrap();
    sftp.rmdir(&format!("{root}/sub")).unwrap();
    assert!(!dir.path().join("sub").exists());

    // Several threads share one session.
    let sftp = std::sync::Arc::new(sftp);
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let sftp = sftp.clone();
            let root = root.clone();
            std::thread::spawn(move || {
                let p = format!("{root}/t{i}");
                let body = vec![i as u8; 100_000 + i];
                sftp.write(&p, &body).unwrap();
                assert!(sftp.read(&p).unwrap() == body);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Commands still run beside it.
    assert_eq!(c.run("exit 0").unwrap().exit_status, Some(0));
    drop(sftp);
    c.disconnect();
}
