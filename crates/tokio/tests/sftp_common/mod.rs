//! What the SFTP and scp tests share: file contents and hashes, a test tree, a private
//! OpenSSH sshd with a whelk client key, and a whelk-tokio server answering the `sftp`
//! subsystem and `scp -t/-f`. Fails (never skips) when a needed OpenSSH tool is missing.
#![allow(dead_code, unused_imports)]

use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use whelk::{AuthRequest, AuthorizedKeysPolicy, Decision, PrivateKey};
use whelk_sftp::fs::{StdFs, StdFsConfig};
use whelk_test::openssh::{Sshd, find};
use whelk_tokio::sftp::SftpClient;
use whelk_tokio::{
    Client, ClientConfig, Exit, Handler, HostKeyPolicy, ServerConfig, ServerSession,
};

/// Longest any single step may take before the test fails (a hang guard).
pub(crate) const GUARD: Duration = Duration::from_secs(60);

/// The SHA-256 of a file, read in 1 MiB pieces.
pub(crate) fn sha(path: &Path) -> Vec<u8> {
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

/// `len` bytes of a pattern that differs per `seed`.
pub(crate) fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 11) as u8)
        .collect()
}

/// Writes [`pattern`] to `path`.
pub(crate) fn pattern_file(path: &Path, len: usize, seed: u32) {
    std::fs::write(path, pattern(len, seed)).unwrap();
}

/// A directory tree under `base`: a file with mode 0604 and a fixed mtime, a 3 MB file, an
/// empty one two levels down, and a unicode name.
pub(crate) fn tree(base: &Path) {
    std::fs::create_dir_all(base.join("sub/deep")).unwrap();
    std::fs::write(base.join("a.txt"), pattern(1234, 1)).unwrap();
    std::fs::write(base.join("sub/b.bin"), pattern(3_000_000, 2)).unwrap();
    std::fs::write(base.join("sub/deep/empty"), b"").unwrap();
    std::fs::write(base.join("sub/ünï ☃.txt"), "unicode").unwrap();
    std::fs::set_permissions(base.join("a.txt"), std::fs::Permissions::from_mode(0o604)).unwrap();
    let t = std::time::UNIX_EPOCH + Duration::from_secs(1_400_000_000);
    std::fs::File::options()
        .write(true)
        .open(base.join("a.txt"))
        .unwrap()
        .set_modified(t)
        .unwrap();
}

/// Whether `b` holds [`tree`]'s files as in `a`, with `a.txt`'s mode and mtime kept.
pub(crate) fn same_tree(a: &Path, b: &Path) {
    for f in ["a.txt", "sub/b.bin", "sub/deep/empty", "sub/ünï ☃.txt"] {
        assert_eq!(sha(&a.join(f)), sha(&b.join(f)), "{f}");
    }
    let m = std::fs::metadata(b.join("a.txt")).unwrap();
    assert_eq!((m.mode() & 0o777, m.mtime()), (0o604, 1_400_000_000));
}

/// A private OpenSSH sshd that lets `key` in (also checks that `tools` are installed).
pub(crate) fn openssh_sshd(key: &PrivateKey, tools: &[&str]) -> Sshd {
    find("sshd").expect("sshd not installed: this interop test needs openssh-server");
    for tool in tools {
        find(tool).unwrap_or_else(|e| panic!("{tool}: {e}"));
    }
    let line = key.public_key().to_openssh("whelk-test");
    Sshd::builder().authorized_key(line).start().unwrap()
}

/// A whelk client logged in to `sshd` as the current user with `key`.
pub(crate) async fn openssh_client(sshd: &Sshd, key: PrivateKey) -> Client {
    let user = std::env::var("USER").unwrap_or_else(|_| "root".to_owned());
    let config = ClientConfig::new(&user)
        .key(key)
        .host_key(HostKeyPolicy::KnownHosts(sshd.known_hosts().unwrap()));
    whelk_tokio::connect("127.0.0.1", sshd.port(), config)
        .await
        .unwrap()
}

/// A whelk-tokio server's handler: the `sftp` subsystem and `scp -t/-f` over `root`.
#[derive(Clone)]
pub(crate) struct App {
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

/// A whelk-tokio server serving [`App`] over `root`, with an empty `local` directory
/// beside it, a private key file for OpenSSH's tools in `key_file` and a whelk key, both
/// authorized.
pub(crate) struct WhelkServer {
    _dir: tempfile::TempDir,
    pub(crate) root: PathBuf,
    pub(crate) local: PathBuf,
    pub(crate) key_file: PathBuf,
    pub(crate) whelk_key: PrivateKey,
    pub(crate) server: whelk_tokio::Server,
}

impl WhelkServer {
    pub(crate) async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let local = dir.path().join("local");
        std::fs::create_dir(&root).unwrap();
        std::fs::create_dir(&local).unwrap();
        // The key OpenSSH's tools use (`-i key_file`), and whelk's.
        let ssh_key = PrivateKey::ed25519_from_seed(&[35; 32]);
        let key_file = dir.path().join("id_ed25519");
        std::fs::write(&key_file, ssh_key.to_openssh().unwrap().as_bytes()).unwrap();
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let whelk_key = PrivateKey::ed25519_from_seed(&[33; 32]);
        let keys = format!(
            "{}\n{}\n",
            ssh_key.public_key().to_openssh("openssh"),
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
        Self {
            _dir: dir,
            root,
            local,
            key_file,
            whelk_key,
            server,
        }
    }

    /// A whelk client logged in with the whelk key, and its SFTP session.
    pub(crate) async fn whelk_sftp(&self) -> (Client, SftpClient) {
        let config = ClientConfig::new("tester")
            .key(self.whelk_key.clone())
            .host_key(HostKeyPolicy::AcceptAny);
        let c = whelk_tokio::connect("127.0.0.1", self.server.local_addr().port(), config)
            .await
            .unwrap();
        let s = SftpClient::connect(&c).await.unwrap();
        (c, s)
    }
}
