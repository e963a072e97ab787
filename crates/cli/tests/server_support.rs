//! Shared helpers of the `whelk server` tests (included with `#[path]` by each
//! `server_*.rs` file): a server on a free loopback port with its own home directory, a client
//! key, and OpenSSH clients pointed at it.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::new_without_default)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::ffi::OsString;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use whelk_test::openssh::{self, ChildGuard, Ssh};

/// How long a test waits for the server to listen.
pub const READY: Duration = Duration::from_secs(20);
/// How long one client command may take.
pub const RUN: Duration = Duration::from_secs(30);

/// The account the tests run as (the only one the server admits).
pub fn me() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Generates an unencrypted key with `ssh-keygen`.
pub fn keygen(path: &Path, ty: &str) {
    let out = Command::new(openssh::find("ssh-keygen").unwrap())
        .args(["-q", "-t", ty, "-N", "", "-C", "test", "-f"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "ssh-keygen: {out:?}");
}

/// The public key line of a key file.
pub fn public_line(key: &Path) -> String {
    std::fs::read_to_string(key.with_extension("pub"))
        .unwrap()
        .trim()
        .to_owned()
}

/// A temporary directory with `home/`, a client key `id_ed25519`, a host key
/// `host_ed25519` and an `authorized_keys` holding the client key.
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        keygen(&dir.path().join("id_ed25519"), "ed25519");
        keygen(&dir.path().join("host_ed25519"), "ed25519");
        let f = Self { dir };
        f.set_authorized_keys(&format!("{}\n", public_line(&f.key())));
        f
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn home(&self) -> PathBuf {
        self.path("home")
    }

    pub fn key(&self) -> PathBuf {
        self.path("id_ed25519")
    }

    pub fn host_key(&self) -> PathBuf {
        self.path("host_ed25519")
    }

    pub fn authorized_keys(&self) -> PathBuf {
        self.path("authorized_keys")
    }

    pub fn set_authorized_keys(&self, text: &str) {
        std::fs::write(self.authorized_keys(), text).unwrap();
    }

    /// `whelk server` with the fixture's host key and authorized_keys plus `extra`.
    pub fn start(&self, extra: &[&str]) -> Server {
        let mut args: Vec<OsString> = vec![
            "--host-key".into(),
            self.host_key().into(),
            "--authorized-keys".into(),
            self.authorized_keys().into(),
        ];
        args.extend(extra.iter().map(OsString::from));
        self.start_raw(args)
    }

    /// `whelk server --listen 127.0.0.1:<free port>` with `args`, HOME set to the fixture's
    /// home and SHELL to /bin/sh. Waits until it accepts connections.
    pub fn start_raw(&self, args: Vec<OsString>) -> Server {
        for _ in 0..3 {
            let port = openssh::free_port().unwrap();
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_whelk"));
            cmd.arg("server")
                .arg("--listen")
                .arg(format!("127.0.0.1:{port}"))
                .args(&args)
                .env("HOME", self.home())
                .env("SHELL", "/bin/sh")
                .env_remove("XDG_STATE_HOME")
                .env("RUST_LOG", "info");
            let mut guard = ChildGuard::spawn(&mut cmd).unwrap();
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let start = Instant::now();
            loop {
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    return Server { guard, addr };
                }
                if guard.try_wait().unwrap().is_some() {
                    let log = guard.stderr_str();
                    if log.contains("Address already in use") {
                        break;
                    }
                    panic!("whelk server exited early:\n{log}");
                }
                assert!(
                    start.elapsed() < READY,
                    "whelk server not ready:\n{}",
                    guard.stderr_str()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("no free port for whelk server");
    }
}

/// A running `whelk server` (killed on drop).
pub struct Server {
    pub guard: ChildGuard,
    pub addr: SocketAddr,
}

impl Server {
    /// `ssh` as the current user with `key`.
    pub fn ssh(&self, key: &Path) -> Ssh {
        Ssh::new(self.addr)
            .user(me())
            .identity(key)
            .option("LogLevel", "ERROR")
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        self.guard.stderr_str()
    }

    /// Stops the server (SIGTERM) and waits for it.
    pub fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.guard.id().to_string())
            .status();
        let _ = self.guard.wait_timeout(Duration::from_secs(10));
        self.guard.stderr_str()
    }
}

/// Runs `cmd` with `input` on stdin; returns (status code, stdout, stderr).
pub fn run_with_input(mut cmd: Command, input: &[u8]) -> (Option<i32>, String, String) {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    drop(stdin);
    let (tx, rx) = std::sync::mpsc::channel();
    let pid = child.id();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(RUN) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
            panic!("command timed out");
        }
    };
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
