//! whelk's scp client against OpenSSH's sshd: the legacy protocol (sshd runs the system's
//! `scp -t` / `scp -f`) and scp over SFTP, both directions, recursive with preserved times
//! and modes, several sources into a directory, and a copy between two connections through
//! this machine. Files compared by SHA-256. Fails (never skips) without OpenSSH.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod sftp_common;

use whelk::PrivateKey;
use whelk_test::openssh::Sshd;
use whelk_tokio::Client;
use whelk_tokio::scp::{self, Options, Protocol};

use sftp_common::{openssh_client, openssh_sshd, pattern, same_tree, sha, tree};

fn user_key() -> PrivateKey {
    PrivateKey::ed25519_from_seed(&[41; 32])
}

fn sshd() -> Sshd {
    // sshd runs the system's scp for the legacy protocol.
    openssh_sshd(&user_key(), &["scp"])
}

async fn client(sshd: &Sshd) -> Client {
    openssh_client(sshd, user_key()).await
}

async fn round_trip(protocol: Protocol) {
    let sshd = sshd();
    let c = client(&sshd).await;
    let local = tempfile::tempdir().unwrap();
    let remote = tempfile::tempdir().unwrap();
    let src = local.path().join("tree");
    tree(&src);
    let opts = Options {
        recursive: true,
        preserve: true,
        protocol,
    };
    // Upload a directory into an existing remote directory.
    scp::upload(&c, &[src.as_path()], remote.path().to_str().unwrap(), &opts)
        .await
        .unwrap();
    same_tree(&src, &remote.path().join("tree"));

    // Download it to a new name.
    let back = local.path().join("back");
    let rt = remote.path().join("tree");
    scp::download(&c, &[rt.to_str().unwrap()], &back, &opts)
        .await
        .unwrap();
    same_tree(&src, &back);

    // Single files: to a new name, then several into a directory.
    let plain = Options {
        protocol,
        ..Options::default()
    };
    let one = local.path().join("one.bin");
    std::fs::write(&one, pattern(100_000, 3)).unwrap();
    let named = remote.path().join("named.bin");
    scp::upload(&c, &[one.as_path()], named.to_str().unwrap(), &plain)
        .await
        .unwrap();
    assert_eq!(sha(&one), sha(&named));
    let into = local.path().join("into");
    std::fs::create_dir(&into).unwrap();
    let a = rt.join("a.txt");
    scp::download(
        &c,
        &[named.to_str().unwrap(), a.to_str().unwrap()],
        &into,
        &plain,
    )
    .await
    .unwrap();
    assert_eq!(sha(&one), sha(&into.join("named.bin")));
    assert_eq!(sha(&src.join("a.txt")), sha(&into.join("a.txt")));

    // Wildcards expand on the server.
    let globbed = local.path().join("globbed");
    std::fs::create_dir(&globbed).unwrap();
    let pat = format!("{}/*.txt", rt.display());
    scp::download(&c, &[pat.as_str()], &globbed, &plain)
        .await
        .unwrap();
    assert!(globbed.join("a.txt").exists());

    // Errors: a directory without recursive, a missing file.
    assert!(
        scp::download(&c, &[rt.to_str().unwrap()], &local.path().join("x"), &plain)
            .await
            .is_err()
    );
    let missing = remote.path().join("missing");
    assert!(
        scp::download(&c, &[missing.to_str().unwrap()], &into, &plain)
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_protocol_both_directions() {
    round_trip(Protocol::Legacy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_protocol_both_directions() {
    round_trip(Protocol::Sftp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_to_remote_through_this_machine() {
    let sshd = sshd();
    let from = client(&sshd).await;
    let to = client(&sshd).await;
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    tree(&a.path().join("tree"));
    for protocol in [Protocol::Legacy, Protocol::Sftp] {
        let dst = b.path().join(format!("{protocol:?}"));
        std::fs::create_dir(&dst).unwrap();
        let opts = Options {
            recursive: true,
            preserve: true,
            protocol,
        };
        let src = a.path().join("tree");
        scp::copy_between(
            &from,
            &[src.to_str().unwrap()],
            &to,
            dst.to_str().unwrap(),
            &opts,
        )
        .await
        .unwrap();
        same_tree(&src, &dst.join("tree"));
    }
}

/// With SFTP, a remote-to-remote copy streams: wildcards expand on the source server, a
/// large file arrives whole, a single file may be renamed on the way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_to_remote_sftp_streams_globs_and_renames() {
    let sshd = sshd();
    let from = client(&sshd).await;
    let to = client(&sshd).await;
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    std::fs::write(a.path().join("x1.bin"), pattern(9_000_001, 7)).unwrap();
    std::fs::write(a.path().join("x2.bin"), pattern(65_536, 8)).unwrap();
    std::fs::write(a.path().join("y.txt"), "not matched").unwrap();
    let opts = Options::default();
    let glob = a.path().join("x*.bin");
    scp::copy_between(
        &from,
        &[glob.to_str().unwrap()],
        &to,
        b.path().to_str().unwrap(),
        &opts,
    )
    .await
    .unwrap();
    for n in ["x1.bin", "x2.bin"] {
        assert_eq!(sha(&a.path().join(n)), sha(&b.path().join(n)), "{n}");
    }
    assert!(!b.path().join("y.txt").exists());
    // One file to a new name.
    let renamed = b.path().join("renamed.bin");
    scp::copy_between(
        &from,
        &[a.path().join("x1.bin").to_str().unwrap()],
        &to,
        renamed.to_str().unwrap(),
        &opts,
    )
    .await
    .unwrap();
    assert_eq!(sha(&a.path().join("x1.bin")), sha(&renamed));
    // Several sources into something that is not a directory: refused.
    let err = scp::copy_between(
        &from,
        &[glob.to_str().unwrap()],
        &to,
        renamed.to_str().unwrap(),
        &opts,
    )
    .await;
    assert!(err.is_err());
}
