//! Fixtures shared by the whelk-cli integration tests (`mod common;` in each): the account,
//! `ssh-keygen`, commands run with their input, a loopback echo service, a client home for
//! `whelk ssh` against a test sshd ([`Home`]), and a `whelk server` on a free loopback port
//! with its own home directory ([`Fixture`], [`Server`]).
#![allow(dead_code, unreachable_pub, missing_docs, clippy::new_without_default)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use whelk_test::openssh::{self, ChildGuard, Ssh, Sshd};

/// How long a test waits for the server to listen.
pub const READY: Duration = Duration::from_secs(20);
/// How long one client command may take.
pub const RUN: Duration = Duration::from_secs(30);

/// The account the tests run as (the only one the server admits).
pub fn me() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Runs `ssh-keygen` with `args`; fails the test if it fails.
pub fn ssh_keygen(args: &[&str]) -> Output {
    let o = Command::new(openssh::find("ssh-keygen").unwrap())
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "ssh-keygen {args:?}: {}",
        text(&o.stderr)
    );
    o
}

/// Generates an unencrypted key of type `ty` with `ssh-keygen`, commented `test`.
pub fn keygen(path: &Path, ty: &str) {
    ssh_keygen(&["-q", "-t", ty, "-N", "", "-C", "test", "-f", s(path)]);
}

/// A path as `&str` (test paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Lossy UTF-8 text of some output.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// stderr without the `debug1:` lines the test sshd (LogLevel DEBUG1) sends into sessions,
/// nor what the account's shell startup files print remotely: sshd runs the login shell,
/// which reads `~/.bashrc`, and here its `pyenv init` complains when concurrent logins race
/// for pyenv's rehash lock (`pyenv: cannot rehash: ...`, `rm: cannot remove
/// '.../.pyenv/shims/...'`).
pub fn err_text(b: &[u8]) -> String {
    text(b)
        .split_inclusive('\n')
        .filter(|l| !l.starts_with("debug1:") && !l.contains("/.pyenv/"))
        .collect()
}

/// `me@127.0.0.1`.
pub fn dest() -> String {
    format!("{}@127.0.0.1", me())
}

/// Runs `c` with `stdin` written to it (from a thread, so that a command that does not
/// read it cannot block), and collects its output.
pub fn run(mut c: Command, stdin: &[u8]) -> Output {
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut si = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let t = std::thread::spawn(move || {
        let _ = si.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    t.join().unwrap();
    out
}

/// Asserts that a log read by `log` contains `needle`; returns the log. The process wrote the
/// line before the test saw its effect, but the thread collecting its stderr may not have
/// read it yet: this waits for it (up to [`RUN`]).
#[track_caller]
pub fn assert_logged(log: impl Fn() -> String, needle: &str) -> String {
    let start = Instant::now();
    loop {
        let text = log();
        if text.contains(needle) {
            return text;
        }
        assert!(start.elapsed() < RUN, "{needle:?} not logged:\n{text}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until the process of `guard` accepts connections on the UNIX socket `sock` (the
/// file appears at `bind`, before `listen`).
pub fn wait_for_socket(sock: &Path, guard: &ChildGuard) {
    let start = Instant::now();
    while std::os::unix::net::UnixStream::connect(sock).is_err() {
        assert!(
            start.elapsed() < READY,
            "nothing listens on {}: {}",
            sock.display(),
            guard.stderr_str()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A TCP echo service on loopback (one thread per connection); returns its port.
pub fn echo_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// A home directory for `whelk ssh` against a test sshd, with a client key at
/// `~/.ssh/id_ed25519`.
pub struct Home {
    pub dir: tempfile::TempDir,
    pub pub_line: String,
}

impl Home {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ssh = dir.path().join(".ssh");
        std::fs::create_dir(&ssh).unwrap();
        let key = ssh.join("id_ed25519");
        ssh_keygen(&[
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "client",
            "-f",
            s(&key),
        ]);
        let pub_line = std::fs::read_to_string(ssh.join("id_ed25519.pub")).unwrap();
        Self { dir, pub_line }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.path().join(".ssh").join("known_hosts")
    }

    /// An sshd admitting the client key.
    pub fn sshd(&self) -> Sshd {
        Sshd::builder()
            .authorized_key(self.pub_line.trim())
            .start()
            .unwrap()
    }

    /// `whelk ssh` with HOME here, no config file, no agent.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_whelk"));
        c.arg("ssh")
            .env("HOME", self.path())
            .env_remove("SSH_AUTH_SOCK")
            .args(["-F", "none"]);
        c
    }

    /// Adds `sshd`'s host keys to known_hosts.
    pub fn trust(&self, sshd: &Sshd) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.known_hosts())
            .unwrap();
        f.write_all(sshd.known_hosts().unwrap().as_bytes()).unwrap();
    }
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
        f.authorize("");
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

    /// authorized_keys with the client key alone, after `options` (e.g. `no-pty`; may be
    /// empty).
    pub fn authorize(&self, options: &str) {
        let line = format!("{options} {}\n", public_line(&self.key()));
        self.set_authorized_keys(line.trim_start());
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

/// A test sshd admitting a client key, with its host key in a known_hosts file: the peer of
/// the `whelk sftp`/`scp` tests.
pub struct Peer {
    pub sshd: Sshd,
    pub dir: tempfile::TempDir,
    /// The client key (`id_ed25519`).
    pub key: PathBuf,
    /// A known_hosts file holding the sshd's host keys.
    pub known: PathBuf,
}

impl Peer {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id_ed25519");
        keygen(&key, "ed25519");
        let sshd = Sshd::builder()
            .authorized_key(public_line(&key))
            .start()
            .unwrap();
        let known = dir.path().join("known_hosts");
        std::fs::write(&known, sshd.known_hosts().unwrap()).unwrap();
        Self {
            sshd,
            dir,
            key,
            known,
        }
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

    /// Asserts that the server logged `needle`; returns the log.
    #[track_caller]
    pub fn assert_logged(&self, needle: &str) -> String {
        assert_logged(|| self.log(), needle)
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

/// Asserts that `ssh` was refused: exit status 255 and "Permission denied".
#[track_caller]
pub fn assert_denied(out: &openssh::Output) {
    assert_eq!(out.status.code(), Some(255), "{}", out.stderr_str());
    assert!(
        out.stderr_str().contains("Permission denied"),
        "{}",
        out.stderr_str()
    );
}

/// Runs `cmd` with `input` on stdin; returns (status code, stdout, stderr).
pub fn run_with_input(mut cmd: Command, input: &[u8]) -> (Option<i32>, String, String) {
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
