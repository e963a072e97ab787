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

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use whelk::{AuthRequest, AuthorizedKeysPolicy, Decision, PrivateKey};
use whelk_sftp::fs::{StdFs, StdFsConfig};
use whelk_tokio::sftp::{SftpClient, TransferOptions};
use whelk_tokio::{ClientConfig, Exit, Handler, HostKeyPolicy, ServerConfig, ServerSession};

/// The file's size: 1 GiB (the largest transfer).
const SIZE: u64 = 1 << 30;

struct App {
    policy: Arc<AuthorizedKeysPolicy>,
    root: PathBuf,
}

impl Handler for App {
    async fn auth(&self, request: &AuthRequest) -> Decision {
        self.policy.decide(request, 0)
    }

    async fn subsystem(&self, name: String, session: ServerSession) -> Exit {
        if name != "sftp" {
            return Exit::Refused;
        }
        let fs = StdFs::new(&self.root, StdFsConfig::default()).unwrap();
        match whelk_tokio::sftp::serve(session.stdin(), session.stdout(), fs).await {
            Ok(()) => Exit::Code(0),
            Err(_) => Exit::Code(1),
        }
    }
}

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

fn sha(path: &Path) -> Vec<u8> {
    let mut f = std::fs::File::open(path).unwrap();
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    hash.finalize().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_and_get_1_gib_whelk_to_whelk() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let local = dir.path().join("local");
    std::fs::create_dir(&root).unwrap();
    std::fs::create_dir(&local).unwrap();
    let user_key = PrivateKey::ed25519_from_seed(&[51; 32]);
    let app = App {
        policy: Arc::new(AuthorizedKeysPolicy::new(
            &user_key.public_key().to_openssh("large"),
        )),
        root: root.clone(),
    };
    let host = PrivateKey::ed25519_from_seed(&[52; 32]);
    let server = whelk_tokio::listen("127.0.0.1:0", ServerConfig::new(vec![host]), app)
        .await
        .unwrap();

    let src = local.join("src.bin");
    let sum = tokio::task::spawn_blocking({
        let src = src.clone();
        move || write_random(&src)
    })
    .await
    .unwrap();

    let config = ClientConfig::new("tester")
        .key(user_key)
        .host_key(HostKeyPolicy::AcceptAny);
    let c = whelk_tokio::connect("127.0.0.1", server.local_addr().port(), config)
        .await
        .unwrap();
    let s = SftpClient::connect(&c).await.unwrap();
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
