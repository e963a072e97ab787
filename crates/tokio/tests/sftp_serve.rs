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

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use whelk::{AuthRequest, AuthorizedKeysPolicy, Decision, PrivateKey};
use whelk_sftp::fs::{StdFs, StdFsConfig};
use whelk_test::openssh::{find, run};
use whelk_tokio::sftp::{SftpClient, TransferOptions};
use whelk_tokio::{ClientConfig, Exit, Handler, HostKeyPolicy, ServerConfig, ServerSession};

const GUARD: Duration = Duration::from_secs(60);

fn sha(path: &Path) -> Vec<u8> {
    Sha256::digest(std::fs::read(path).unwrap()).to_vec()
}

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 11) as u8)
        .collect()
}

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

#[derive(Clone)]
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

    async fn exec(&self, command: String, session: ServerSession) -> Exit {
        let r = whelk_tokio::scp::serve_command(
            &command,
            session.stdin(),
            session.stdout(),
            &self.root,
        )
        .await;
        match r {
            Some(Ok(code)) => Exit::Code(code),
            Some(Err(e)) => {
                use tokio::io::AsyncWriteExt;
                let _ = session
                    .stderr()
                    .write_all(format!("{e}\n").as_bytes())
                    .await;
                Exit::Code(1)
            }
            None => Exit::Refused,
        }
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    local: PathBuf,
    key_file: PathBuf,
    whelk_key: PrivateKey,
    server: whelk_tokio::Server,
}

async fn fixture() -> Fixture {
    let keygen = find("ssh-keygen").expect("ssh-keygen not installed (openssh-client)");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let local = dir.path().join("local");
    std::fs::create_dir(&root).unwrap();
    std::fs::create_dir(&local).unwrap();
    let key_file = dir.path().join("id_ed25519");
    let mut cmd = Command::new(keygen);
    cmd.args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key_file);
    run(cmd, GUARD).unwrap();
    let whelk_key = PrivateKey::ed25519_from_seed(&[33; 32]);
    let keys = format!(
        "{}{}\n",
        std::fs::read_to_string(key_file.with_extension("pub")).unwrap(),
        whelk_key.public_key().to_openssh("whelk")
    );
    let app = App {
        policy: Arc::new(AuthorizedKeysPolicy::new(&keys)),
        root: root.clone(),
    };
    let host = PrivateKey::ed25519_from_seed(&[34; 32]);
    let server = whelk_tokio::listen("127.0.0.1:0", ServerConfig::new(vec![host]), app)
        .await
        .unwrap();
    Fixture {
        _dir: dir,
        root,
        local,
        key_file,
        whelk_key,
        server,
    }
}

fn openssh(tool: &str, f: &Fixture) -> Command {
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
    let f = fixture().await;
    let config = ClientConfig::new("tester")
        .key(f.whelk_key.clone())
        .host_key(HostKeyPolicy::AcceptAny);
    let c = whelk_tokio::connect("127.0.0.1", f.server.local_addr().port(), config)
        .await
        .unwrap();
    let s = SftpClient::connect(&c).await.unwrap();
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
    let f = fixture().await;
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

fn tree(base: &Path) {
    std::fs::create_dir_all(base.join("sub/deep")).unwrap();
    std::fs::write(base.join("a.txt"), pattern(1234, 1)).unwrap();
    std::fs::write(base.join("sub/b.bin"), pattern(700_000, 2)).unwrap();
    std::fs::write(base.join("sub/deep/empty"), b"").unwrap();
    std::fs::set_permissions(base.join("a.txt"), std::fs::Permissions::from_mode(0o640)).unwrap();
    let t = std::time::UNIX_EPOCH + Duration::from_secs(1_500_000_000);
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
    assert_eq!((m.mode() & 0o777, m.mtime()), (0o640, 1_500_000_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssh_legacy_scp_against_whelk_server() {
    let f = fixture().await;
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
