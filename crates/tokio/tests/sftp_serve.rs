//! `whelk_tokio::sftp::serve` and the scp server functions: over an in-memory duplex with
//! whelk's own SFTP client, and in a whelk-tokio server (subsystem `sftp`, exec `scp -t/-f`)
//! driven by whelk's client and by OpenSSH's `sftp -b` and `scp -O`. Files compared by
//! SHA-256. Fails (never skips) when OpenSSH is missing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod sftp_common;

use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::sync::Arc;

use whelk_sftp::fs::{StdFs, StdFsConfig};
use whelk_test::openssh::{find, run};
use whelk_tokio::sftp::{SftpClient, TransferOptions};

use sftp_common::{GUARD, WhelkServer, pattern, same_tree, sha, tree};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_over_duplex_with_whelk_client() {
    let root = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let (client_side, server_side) = tokio::io::duplex(64 * 1024);
    let (sr, sw) = tokio::io::split(server_side);
    let fs = StdFs::new(root.path(), StdFsConfig::default()).unwrap();
    let server = tokio::spawn(whelk_tokio::sftp::serve(sr, sw, fs));
    let (cr, cw) = tokio::io::split(client_side);
    let s = SftpClient::from_streams(cr, cw).await.unwrap();
    assert!(s.read_len() > 32 * 1024, "limits@openssh.com was used");

    let src = local.path().join("src.bin");
    std::fs::write(&src, pattern(5_000_000, 1)).unwrap();
    s.put(&src, "/up.bin", &TransferOptions::default())
        .await
        .unwrap();
    assert_eq!(sha(&src), sha(&root.path().join("up.bin")));
    s.get(
        "/up.bin",
        local.path().join("down.bin"),
        &TransferOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(sha(&src), sha(&local.path().join("down.bin")));
    s.copy("/up.bin", "/copy.bin", &TransferOptions::default())
        .await
        .unwrap();
    assert_eq!(sha(&src), sha(&root.path().join("copy.bin")));
    s.makedirs("/a/b").await.unwrap();
    assert_eq!(s.listdir("/").await.unwrap(), ["a", "copy.bin", "up.bin"]);
    // The root confines: `..` stops at it.
    assert_eq!(s.realpath("/../../..").await.unwrap(), "/");
    assert!(s.stat("/../../etc/passwd").await.is_err());
    s.rmtree("/a").await.unwrap();
    s.close();
    drop(s);
    server.await.unwrap().unwrap();
}

/// Without `copy-data` (and without `limits@openssh.com`), copy falls back to reading and
/// writing through the client, with 32 KiB blocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_without_copy_data_and_limits() {
    let root = tempfile::tempdir().unwrap();
    let (client_side, server_side) = tokio::io::duplex(64 * 1024);
    let (sr, sw) = tokio::io::split(server_side);
    let fs = StdFs::new(root.path(), StdFsConfig::default()).unwrap();
    let mut config = whelk_tokio::sftp::ServerConfig::default();
    config
        .extensions
        .retain(|(n, _)| n != "copy-data" && n != "limits@openssh.com");
    let server = tokio::spawn(whelk_tokio::sftp::serve_with(config, sr, sw, fs));
    let (cr, cw) = tokio::io::split(client_side);
    let s = SftpClient::from_streams(cr, cw).await.unwrap();
    assert!(!s.supports("copy-data"));
    assert_eq!((s.read_len(), s.write_len()), (32 * 1024, 32 * 1024));
    std::fs::write(root.path().join("a"), pattern(1_000_003, 3)).unwrap();
    std::fs::create_dir_all(root.path().join("d/e")).unwrap();
    std::fs::write(root.path().join("d/e/f"), pattern(70_000, 4)).unwrap();
    let n = s
        .copy("/a", "/b", &TransferOptions::default())
        .await
        .unwrap();
    assert_eq!(n, 1_000_003);
    assert_eq!(sha(&root.path().join("a")), sha(&root.path().join("b")));
    let rec = TransferOptions {
        recursive: true,
        ..TransferOptions::default()
    };
    s.copy("/d", "/d2", &rec).await.unwrap();
    assert_eq!(
        sha(&root.path().join("d/e/f")),
        sha(&root.path().join("d2/e/f"))
    );
    drop(s);
    server.await.unwrap().unwrap();
}

/// The server going away in the middle of a transfer ends it with an error, not a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_gone_mid_transfer_is_an_error() {
    let root = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("big"), pattern(20_000_000, 5)).unwrap();
    let (client_side, server_side) = tokio::io::duplex(64 * 1024);
    let (sr, sw) = tokio::io::split(server_side);
    let fs = StdFs::new(root.path(), StdFsConfig::default()).unwrap();
    let server = tokio::spawn(whelk_tokio::sftp::serve(sr, sw, fs));
    let (cr, cw) = tokio::io::split(client_side);
    let s = SftpClient::from_streams(cr, cw).await.unwrap();
    // The server goes away from inside the progress callback, after the first megabyte:
    // the duplex holds at most 64 KiB, so most of the file is still to come.
    let kill = server.abort_handle();
    let opts = TransferOptions {
        progress: Some(Arc::new(move |p| {
            if p.transferred > 1_000_000 {
                kill.abort();
            }
        })),
        ..TransferOptions::default()
    };
    let get = {
        let s = s.clone();
        let target = local.path().join("big");
        tokio::spawn(async move { s.get("/big", target, &opts).await })
    };
    let r = tokio::time::timeout(GUARD, get).await.unwrap().unwrap();
    assert!(r.is_err(), "{r:?}");
    assert!(!s.is_open());
    assert!(s.stat("/big").await.is_err());
}

fn openssh(tool: &str, f: &WhelkServer) -> Command {
    let mut cmd = Command::new(find(tool).unwrap_or_else(|e| panic!("{tool}: {e}")));
    cmd.args([
        "-F",
        "/dev/null",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "LogLevel=ERROR",
        "-P",
    ])
    .arg(f.server.local_addr().port().to_string())
    .arg("-i")
    .arg(&f.key_file);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whelk_client_to_whelk_server_subsystem() {
    let f = WhelkServer::start().await;
    let (_c, s) = f.whelk_sftp().await;
    let src = f.local.join("x.bin");
    std::fs::write(&src, pattern(3_000_000, 5)).unwrap();
    s.put(&src, "x.bin", &TransferOptions::default())
        .await
        .unwrap();
    assert_eq!(sha(&src), sha(&f.root.join("x.bin")));
    s.get("/x.bin", f.local.join("y.bin"), &TransferOptions::default())
        .await
        .unwrap();
    assert_eq!(sha(&src), sha(&f.local.join("y.bin")));
    assert_eq!(s.listdir(".").await.unwrap(), ["x.bin"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssh_sftp_batch_against_whelk_server() {
    let f = WhelkServer::start().await;
    let src = f.local.join("up.bin");
    std::fs::write(&src, pattern(2_000_000, 9)).unwrap();
    std::fs::write(f.root.join("remote.txt"), "from the server\n").unwrap();
    let batch = f.local.join("batch");
    std::fs::write(
        &batch,
        format!(
            "put {} up.bin\nget remote.txt {}\nmkdir d\nrename up.bin d/moved.bin\nls -l d\nsymlink d/moved.bin link\nchmod 600 d/moved.bin\ndf\n-rm nonexistent\n",
            src.display(),
            f.local.join("remote.txt").display()
        ),
    )
    .unwrap();
    let mut cmd = openssh("sftp", &f);
    cmd.arg("-b").arg(&batch).arg("tester@127.0.0.1");
    let out = tokio::task::spawn_blocking(move || run(cmd, GUARD))
        .await
        .unwrap()
        .unwrap();
    assert!(out.status.success(), "{}", out.stderr_str());
    assert!(
        out.stdout_str().contains("moved.bin"),
        "{}",
        out.stdout_str()
    );
    assert_eq!(sha(&src), sha(&f.root.join("d/moved.bin")));
    assert_eq!(
        std::fs::read(f.local.join("remote.txt")).unwrap(),
        b"from the server\n"
    );
    assert_eq!(
        std::fs::metadata(f.root.join("d/moved.bin"))
            .unwrap()
            .mode()
            & 0o777,
        0o600
    );
    assert!(
        f.root
            .join("link")
            .symlink_metadata()
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssh_legacy_scp_against_whelk_server() {
    let f = WhelkServer::start().await;
    let src = f.local.join("tree");
    tree(&src);
    // Upload: scp -O runs `scp -r -p -t -- <dir>` on the whelk server (serve_sink).
    let mut cmd = openssh("scp", &f);
    cmd.args(["-O", "-r", "-p"])
        .arg(&src)
        .arg(format!("tester@127.0.0.1:{}", f.root.display()));
    let out = tokio::task::spawn_blocking(move || run(cmd, GUARD))
        .await
        .unwrap()
        .unwrap();
    assert!(out.status.success(), "{}", out.stderr_str());
    same_tree(&src, &f.root.join("tree"));

    // Download: `scp -r -p -f -- <dir>` (serve_source).
    let back = f.local.join("back");
    let mut cmd = openssh("scp", &f);
    cmd.args(["-O", "-r", "-p"])
        .arg(format!(
            "tester@127.0.0.1:{}",
            f.root.join("tree").display()
        ))
        .arg(&back);
    let out = tokio::task::spawn_blocking(move || run(cmd, GUARD))
        .await
        .unwrap()
        .unwrap();
    assert!(out.status.success(), "{}", out.stderr_str());
    same_tree(&src, &back);

    // A missing source is an error, reported by the client.
    let mut cmd = openssh("scp", &f);
    cmd.arg("-O")
        .arg(format!("tester@127.0.0.1:{}/nope", f.root.display()))
        .arg(&back);
    let out = tokio::task::spawn_blocking(move || run(cmd, GUARD))
        .await
        .unwrap()
        .unwrap();
    assert!(!out.status.success());
}
