//! One large file (1 GiB) through whelk's SFTP client and a whelk-tokio server answering
//! the `sftp` subsystem with `sftp::serve`, over loopback TCP in one process: put, then get,
//! each compared with the source by SHA-256. No OpenSSH needed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod sftp_common;

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};
use whelk_tokio::sftp::TransferOptions;

use sftp_common::{WhelkServer, sha};

/// The file's size: 1 GiB (the largest transfer).
const SIZE: u64 = 1 << 30;

/// Writes `SIZE` bytes of xorshift output to `path`; returns their SHA-256.
fn write_random(path: &Path) -> Vec<u8> {
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let mut hash = Sha256::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..SIZE >> 20 {
        for chunk in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        hash.update(&block);
        f.write_all(&block).unwrap();
    }
    f.flush().unwrap();
    hash.finalize().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_and_get_1_gib_whelk_to_whelk() {
    let f = WhelkServer::start().await;
    let (root, local) = (&f.root, &f.local);
    let src = local.join("src.bin");
    let sum = tokio::task::spawn_blocking({
        let src = src.clone();
        move || write_random(&src)
    })
    .await
    .unwrap();

    let (c, s) = f.whelk_sftp().await;
    let n = s
        .put(&src, "/up.bin", &TransferOptions::default())
        .await
        .unwrap();
    assert_eq!(n, SIZE);
    assert_eq!(std::fs::metadata(root.join("up.bin")).unwrap().len(), SIZE);
    assert_eq!(sha(&root.join("up.bin")), sum, "put: SHA-256 differs");
    std::fs::remove_file(&src).unwrap();

    let back = local.join("back.bin");
    let n = s
        .get("/up.bin", &back, &TransferOptions::default())
        .await
        .unwrap();
    assert_eq!(n, SIZE);
    assert_eq!(sha(&back), sum, "get: SHA-256 differs");
    s.close();
    c.disconnect().await;
}
