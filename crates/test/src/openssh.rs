//! Real OpenSSH as a test peer, on loopback only.
//!
//! - [`find`] locates a tool (`sshd`, `ssh`, `ssh-keygen`, `ssh-keyscan`, `sshpass`, ...) and
//!   fails with an install hint when it is missing.
//! - [`Sshd`] runs a private `sshd -D -e` in its own temporary directory, on a free loopback
//!   port, configured as `/work/shared/openssh-peer.md` describes; [`SshdBuilder`] adds
//!   `-o Key=Value` options, host key types and config lines. It is killed on drop.
//! - [`Ssh`] builds an `ssh` client command with hermetic options (no config file, no known
//!   hosts, no agent, batch mode).
//! - [`free_port`] picks a free loopback port.
//!
//! Only loopback is used. Nothing here touches the system's `sshd` or port 22.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use whelk_wire::version::Role;

use crate::{Error, Result, hello};

/// Directories searched after `$PATH` (sshd lives in `/usr/sbin`, often not on a user's PATH).
const EXTRA_DIRS: &[&str] = &[
    "/usr/sbin",
    "/usr/local/sbin",
    "/sbin",
    "/usr/bin",
    "/usr/local/bin",
    "/bin",
];

/// Environment variable naming a directory searched before anything else, to test against
/// another OpenSSH build.
pub const TOOL_DIR_ENV: &str = "WHELK_OPENSSH_DIR";

/// How long [`SshdBuilder::start`] waits for `sshd` to accept connections by default.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the port is polled while waiting for readiness.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Times [`SshdBuilder::start`] retries with a new port when another process took the one
/// it picked.
const PORT_ATTEMPTS: usize = 3;

/// The Debian package providing `tool`.
fn package_for(tool: &str) -> &'static str {
    match tool {
        "sshd" => "openssh-server",
        "sshpass" => "sshpass",
        "unshare" | "mount" | "script" => "util-linux",
        "Xvfb" => "xvfb",
        "xauth" => "xauth",
        "xdpyinfo" => "x11-utils",
        "tmux" => "tmux",
        _ => "openssh-client",
    }
}

fn is_executable(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Locates an OpenSSH tool: `$WHELK_OPENSSH_DIR` first, then `$PATH`, then `/usr/sbin`,
/// `/usr/local/sbin`, `/sbin`, `/usr/bin`, `/usr/local/bin`, `/bin`. The path returned is
/// absolute (sshd refuses to re-execute itself otherwise).
///
/// A missing tool is [`Error::ToolMissing`], whose message says which package to install.
pub fn find(tool: &str) -> Result<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(dir) = std::env::var_os(TOOL_DIR_ENV) {
        dirs.push(PathBuf::from(dir));
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.extend(EXTRA_DIRS.iter().map(PathBuf::from));
    let mut searched = Vec::new();
    for dir in dirs {
        if !dir.is_absolute() || searched.contains(&dir) {
            continue;
        }
        let candidate = dir.join(tool);
        if is_executable(&candidate) {
            return Ok(candidate);
        }
        searched.push(dir);
    }
    Err(Error::ToolMissing {
        tool: tool.to_owned(),
        package: package_for(tool),
        searched: searched
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(":"),
    })
}

/// The `ssh -V` line, e.g. `OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.19 27 Jan 2026`.
pub fn ssh_version() -> Result<String> {
    let ssh = find("ssh")?;
    let mut cmd = Command::new(&ssh);
    cmd.arg("-V");
    let out = run(cmd, Duration::from_secs(10))?;
    // ssh prints its version on stderr.
    let text = String::from_utf8_lossy(if out.stderr.is_empty() {
        &out.stdout
    } else {
        &out.stderr
    })
    .trim()
    .to_owned();
    if !out.status.success() || text.is_empty() {
        return Err(out.failure(&format!("{} -V", ssh.display())));
    }
    Ok(text)
}

/// A free TCP port on 127.0.0.1, for a listener someone else opens (sshd, `ssh -L`).
///
/// Taken below the kernel's ephemeral range (`ip_local_port_range`), so the outgoing
/// connections of concurrent tests, which get ephemeral ports, cannot take it before it is
/// used; each call (and each process) tries other ports. A port is checked free by binding
/// it, then released: another test process may still take it, and [`Sshd`] retries when
/// that happens. Falls back to a kernel-chosen port when none below the range is free.
///
/// The probe listener is shut down before it is closed, so it stops listening at once even
/// if a child process started meanwhile by another thread holds a copy of it (until that
/// child execs): the port can be bound again (with `SO_REUSEADDR`, as listeners do) and
/// nothing connecting to it is accepted by the probe.
pub fn free_port() -> Result<u16> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const FIRST: u32 = 10_000;
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32_768);
    if let Some(span) = low.checked_sub(FIRST).filter(|s| *s >= 1_000) {
        let start = std::process::id().wrapping_mul(7_919) % span;
        for _ in 0..64 {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let offset = start.wrapping_add(n.wrapping_mul(389)) % span;
            let Ok(port) = u16::try_from(FIRST + offset) else {
                continue;
            };
            if let Ok(probe) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
                release(probe);
                return Ok(port);
            }
        }
    }
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| Error::io("binding 127.0.0.1:0", e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::io("reading the bound address", e))?;
    release(listener);
    Ok(addr.port())
}

/// Closes a probe listener of [`free_port`], shutting it down first (see there).
fn release(probe: TcpListener) {
    let _ = rustix::net::shutdown(&probe, rustix::net::Shutdown::Both);
}

/// Creates sshd's privilege-separation directory `/run/sshd` (mode 755) if it is missing.
pub fn ensure_privsep_dir() -> Result<()> {
    let dir = Path::new("/run/sshd");
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io("creating /run/sshd", e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| Error::io("chmod 755 /run/sshd", e))
}

/// The output of a finished command.
#[derive(Clone, Debug)]
pub struct Output {
    /// How it exited.
    pub status: ExitStatus,
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr.
    pub stderr: Vec<u8>,
}

impl Output {
    /// stdout as text (lossy).
    #[must_use]
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stderr as text (lossy).
    #[must_use]
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// An [`Error::ToolFailed`] describing this output.
    #[must_use]
    pub fn failure(&self, command: &str) -> Error {
        Error::ToolFailed {
            command: command.to_owned(),
            status: self.status.to_string(),
            output: format!(
                "--- stderr ---\n{}--- stdout ---\n{}",
                self.stderr_str(),
                self.stdout_str()
            ),
        }
    }
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Collects everything a pipe produces on a thread, so a chatty child never blocks.
fn collect<R: Read + Send + 'static>(mut pipe: R) -> (Arc<Mutex<Vec<u8>>>, JoinHandle<()>) {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&buf);
    let handle = std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        loop {
            match pipe.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    if let Ok(mut b) = sink.lock() {
                        b.extend_from_slice(chunk.get(..n).unwrap_or_default());
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    });
    (buf, handle)
}

fn take(buf: &Arc<Mutex<Vec<u8>>>) -> Vec<u8> {
    buf.lock().map(|b| b.clone()).unwrap_or_default()
}

/// Runs `cmd` to completion (stdin closed, output captured), killing it after `timeout`.
pub fn run(mut cmd: Command, timeout: Duration) -> Result<Output> {
    let what = describe(&cmd);
    let mut child = ChildGuard::spawn(&mut cmd)?;
    let status = child.wait_timeout(timeout)?;
    let Some(status) = status else {
        return Err(Error::Timeout {
            what: format!("waiting for `{what}`"),
            after: timeout,
        });
    };
    Ok(Output {
        status,
        stdout: child.stdout(),
        stderr: child.stderr(),
    })
}

/// A child process with captured stdout and stderr, killed and reaped on drop.
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    threads: Vec<JoinHandle<()>>,
    command: String,
}

impl ChildGuard {
    /// Spawns `cmd` with stdin closed and stdout/stderr captured.
    pub fn spawn(cmd: &mut Command) -> Result<Self> {
        let command = describe(cmd);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::io(format!("spawning `{command}`"), e))?;
        let mut threads = Vec::new();
        let stdout = match child.stdout.take() {
            Some(p) => {
                let (buf, t) = collect(p);
                threads.push(t);
                buf
            }
            None => Arc::default(),
        };
        let stderr = match child.stderr.take() {
            Some(p) => {
                let (buf, t) = collect(p);
                threads.push(t);
                buf
            }
            None => Arc::default(),
        };
        Ok(Self {
            child,
            stdout,
            stderr,
            threads,
            command,
        })
    }

    /// The process id.
    #[must_use]
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The command line it was started with.
    #[must_use]
    pub fn command(&self) -> &str {
        &self.command
    }

    /// Its exit status if it has exited.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        self.child
            .try_wait()
            .map_err(|e| Error::io(format!("waiting for `{}`", self.command), e))
    }

    /// Waits up to `timeout` for it to exit (polling); `None` if it is still running. Once
    /// it has exited, its output is complete.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait()? {
                self.join_readers();
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn join_readers(&mut self) {
        for t in self.threads.drain(..) {
            // A reader thread never panics; if it did, the output is simply shorter.
            let _ = t.join();
        }
    }

    /// What it has written to stdout so far.
    #[must_use]
    pub fn stdout(&self) -> Vec<u8> {
        take(&self.stdout)
    }

    /// What it has written to stderr so far.
    #[must_use]
    pub fn stderr(&self) -> Vec<u8> {
        take(&self.stderr)
    }

    /// stderr so far, as text (lossy).
    #[must_use]
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr()).into_owned()
    }

    /// Kills it (SIGKILL) and reaps it. Idempotent.
    pub fn kill(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            // It may exit between the check and the kill; either way it is gone after wait.
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        self.join_readers();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A host key type for [`SshdBuilder::host_key`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HostKeyType {
    /// Ed25519 (the default).
    Ed25519,
    /// ECDSA on NIST P-256.
    EcdsaP256,
    /// RSA, 3072 bits.
    Rsa,
}

impl HostKeyType {
    /// The `ssh-keygen -t` argument and extra arguments.
    fn keygen_args(self) -> &'static [&'static str] {
        match self {
            Self::Ed25519 => &["-t", "ed25519"],
            Self::EcdsaP256 => &["-t", "ecdsa", "-b", "256"],
            Self::Rsa => &["-t", "rsa", "-b", "3072"],
        }
    }

    /// The file name of the private key in the server's directory.
    #[must_use]
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Ed25519 => "host_ed25519",
            Self::EcdsaP256 => "host_ecdsa",
            Self::Rsa => "host_rsa",
        }
    }

    /// A short name, as used in golden-file names and notes.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Ed25519 => "ed25519",
            Self::EcdsaP256 => "ecdsa-p256",
            Self::Rsa => "rsa",
        }
    }

    /// The host key (signature) algorithms OpenSSH 9.x offers for a key of this type by
    /// default, without certificates: `ssh-rsa` (SHA-1) is off by default since 8.8.
    #[must_use]
    pub fn default_algorithms(self) -> &'static [&'static str] {
        match self {
            Self::Ed25519 => &["ssh-ed25519"],
            Self::EcdsaP256 => &["ecdsa-sha2-nistp256"],
            Self::Rsa => &["rsa-sha2-512", "rsa-sha2-256"],
        }
    }
}

/// Generates an unencrypted key of type `ty` at `path` (and `path.pub`) with `ssh-keygen`.
pub fn keygen(ty: HostKeyType, path: &Path) -> Result<()> {
    let mut cmd = Command::new(find("ssh-keygen")?);
    cmd.arg("-q")
        .args(ty.keygen_args())
        .args(["-N", "", "-C", "whelk-test", "-f"])
        .arg(path);
    let what = describe(&cmd);
    let out = run(cmd, Duration::from_secs(60))?;
    if !out.status.success() {
        return Err(out.failure(&what));
    }
    Ok(())
}

/// Settings for a private [`Sshd`].
#[derive(Clone, Debug)]
#[must_use]
pub struct SshdBuilder {
    options: Vec<(String, String)>,
    host_keys: Vec<HostKeyType>,
    config_lines: Vec<String>,
    authorized_keys: Vec<String>,
    ready_timeout: Duration,
    bind_mounts: Vec<(PathBuf, PathBuf)>,
}

impl Default for SshdBuilder {
    fn default() -> Self {
        Self {
            options: Vec::new(),
            host_keys: Vec::new(),
            config_lines: Vec::new(),
            authorized_keys: Vec::new(),
            ready_timeout: DEFAULT_READY_TIMEOUT,
            bind_mounts: Vec::new(),
        }
    }
}

impl SshdBuilder {
    /// Adds `-o key=value` to sshd's command line (`Ciphers`, `KexAlgorithms`, `MACs`,
    /// `HostKeyAlgorithms`, `PubkeyAcceptedAlgorithms`, `AuthenticationMethods`, ...). For
    /// most keywords the command line wins over the config file.
    pub fn option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.push((key.into(), value.into()));
        self
    }

    /// Generates a host key of type `ty`. Without any call, one Ed25519 key is generated;
    /// naming types replaces that default. Keys appear in `HostKey` lines in the order named.
    pub fn host_key(mut self, ty: HostKeyType) -> Self {
        if !self.host_keys.contains(&ty) {
            self.host_keys.push(ty);
        }
        self
    }

    /// Appends a raw line to `sshd_config`, after the defaults. `$DIR` is replaced by the
    /// server's directory.
    pub fn config_line(mut self, line: impl Into<String>) -> Self {
        self.config_lines.push(line.into());
        self
    }

    /// Appends a line (a public key, with options if any) to the server's
    /// `authorized_keys`.
    pub fn authorized_key(mut self, line: impl Into<String>) -> Self {
        self.authorized_keys.push(line.into());
        self
    }

    /// Runs sshd in a private mount namespace (`unshare -m`, which makes every mount
    /// private, so nothing propagates back) in which the directory `source` is
    /// bind-mounted over `target`, e.g. a temporary directory over the target user's home
    /// so a test can give that user `~/.shosts` or `~/.ssh/known_hosts` (hostbased
    /// authentication) without touching the real one. Only sshd and the sessions it starts
    /// see the mount. Needs root and `unshare`/`mount` (util-linux); starting fails
    /// (never skips) without them. sshd's own directory (config, host keys, logs) must
    /// not lie under `target`. Repeatable; mounts are made in the order given.
    ///
    /// ```no_run
    /// # use whelk_test::openssh::{Sshd, user_home};
    /// let home = tempfile::tempdir()?;
    /// std::fs::write(home.path().join(".shosts"), "client.example root\n")?;
    /// let sshd = Sshd::builder()
    ///     .option("HostbasedAuthentication", "yes")
    ///     .bind_mount(home.path(), user_home("root")?)
    ///     .start()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bind_mount(mut self, source: impl Into<PathBuf>, target: impl Into<PathBuf>) -> Self {
        self.bind_mounts.push((source.into(), target.into()));
        self
    }

    /// Hostbased authentication for the current user, who must be root (sshd reads only
    /// `~/.shosts` and `~/.ssh/known_hosts` for root): `HostbasedAuthentication yes`,
    /// `HostbasedUsesNameFromPacketOnly yes` (the name in the request, not the reverse DNS
    /// of 127.0.0.1), `IgnoreRhosts no`, and `home`, where `shosts` is written as `.shosts`
    /// and `known_hosts` as `.ssh/known_hosts`, mounted over the user's home for sshd
    /// only ([`SshdBuilder::bind_mount`]).
    pub fn hostbased_home(self, home: &Path, shosts: &str, known_hosts: &str) -> Result<Self> {
        let user = current_user()?;
        if user != "root" {
            return Err(Error::Unexpected(format!(
                "hostbased tests log in as root (sshd reads only its own files), not {user}"
            )));
        }
        let ssh_dir = home.join(".ssh");
        std::fs::create_dir_all(&ssh_dir).map_err(|e| Error::io("creating ~/.ssh", e))?;
        std::fs::write(home.join(".shosts"), shosts)
            .map_err(|e| Error::io("writing .shosts", e))?;
        std::fs::write(ssh_dir.join("known_hosts"), known_hosts)
            .map_err(|e| Error::io("writing known_hosts", e))?;
        Ok(self
            .option("HostbasedAuthentication", "yes")
            .option("HostbasedUsesNameFromPacketOnly", "yes")
            .option("IgnoreRhosts", "no")
            .bind_mount(home, user_home(&user)?))
    }

    /// How long to wait for the server to accept connections (default 10 s).
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Whether sshd will log at INFO: false if `-o LogLevel=` was lowered below it (the
    /// command line wins over the config file's `LogLevel DEBUG1`).
    fn logs_info(&self) -> bool {
        !self.options.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("LogLevel")
                && ["QUIET", "FATAL", "ERROR"]
                    .iter()
                    .any(|l| v.eq_ignore_ascii_case(l))
        })
    }

    fn host_key_types(&self) -> Vec<HostKeyType> {
        if self.host_keys.is_empty() {
            vec![HostKeyType::Ed25519]
        } else {
            self.host_keys.clone()
        }
    }

    fn config_text(&self, dir: &Path) -> String {
        let d = dir.display();
        let mut cfg = String::new();
        // Writing to a String cannot fail.
        let _ = writeln!(cfg, "ListenAddress 127.0.0.1");
        for ty in self.host_key_types() {
            let _ = writeln!(cfg, "HostKey {d}/{}", ty.file_name());
        }
        let _ = write!(
            cfg,
            "PidFile none\n\
             AuthorizedKeysFile {d}/authorized_keys\n\
             StrictModes no\n\
             UsePAM no\n\
             UseDNS no\n\
             PermitRootLogin yes\n\
             PasswordAuthentication yes\n\
             KbdInteractiveAuthentication yes\n\
             Subsystem sftp internal-sftp\n\
             LogLevel DEBUG1\n"
        );
        for line in &self.config_lines {
            let _ = writeln!(cfg, "{}", line.replace("$DIR", &d.to_string()));
        }
        cfg
    }

    /// Generates the keys, writes the config, starts `sshd -D -e -f CFG -p PORT -o ...` and
    /// polls its port (every 20 ms, up to the ready timeout) until it answers with an
    /// identification line and has logged that it listens there. If another process took
    /// the port in between, it retries with a new one (3 attempts).
    pub fn start(self) -> Result<Sshd> {
        let sshd = find("sshd")?;
        ensure_privsep_dir()?;
        let unshare = if self.bind_mounts.is_empty() {
            None
        } else {
            find("mount")?;
            Some(find("unshare")?)
        };
        let dir = tempfile::Builder::new()
            .prefix("whelk-sshd-")
            .tempdir()
            .map_err(|e| Error::io("creating a temporary directory", e))?;
        if let Some((_, target)) = self
            .bind_mounts
            .iter()
            .find(|(_, target)| dir.path().starts_with(target))
        {
            return Err(Error::Unexpected(format!(
                "sshd's directory {} lies under {}, which bind_mount hides",
                dir.path().display(),
                target.display()
            )));
        }
        let mut host_keys = Vec::new();
        for ty in self.host_key_types() {
            let path = dir.path().join(ty.file_name());
            keygen(ty, &path)?;
            host_keys.push((ty, path));
        }
        let authorized = dir.path().join("authorized_keys");
        let mut text = self.authorized_keys.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        write_file(&authorized, text.as_bytes())?;
        let config = dir.path().join("sshd_config");
        write_file(&config, self.config_text(dir.path()).as_bytes())?;

        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port()?;
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let args = sshd_args(&config, port, &self.options);
            let mut cmd = match &unshare {
                None => Command::new(&sshd),
                Some(unshare) => {
                    // unshare(1) execs the shell, which execs sshd: the child's pid is
                    // sshd's, and sshd's stderr (-e) is still ours.
                    let mut cmd = Command::new(unshare);
                    cmd.args(["-m", "--", "sh", "-c", BIND_MOUNT_SCRIPT, "sh"]);
                    for (source, target) in &self.bind_mounts {
                        cmd.arg(source).arg(target);
                    }
                    cmd.arg("--").arg(&sshd);
                    cmd
                }
            };
            cmd.args(&args);
            let command = describe(&cmd);
            let mut child = cmd
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| Error::io(format!("spawning `{command}`"), e))?;
            let (log, log_thread) = match child.stderr.take() {
                Some(p) => {
                    let (buf, t) = collect::<ChildStderr>(p);
                    (buf, Some(t))
                }
                None => (Arc::default(), None),
            };
            let mut server = Sshd {
                child,
                log,
                log_thread,
                addr,
                config: config.clone(),
                options: self.options.clone(),
                host_keys: host_keys.clone(),
                command,
                sshd: sshd.clone(),
                logs_listening: self.logs_info(),
                dir: None,
            };
            match server.wait_ready(self.ready_timeout) {
                Ok(()) => {
                    server.dir = Some(dir);
                    return Ok(server);
                }
                Err(e) => {
                    let log = server.stderr_log();
                    drop(server);
                    if log.contains("Address already in use") {
                        last_error = Some(e);
                        continue;
                    }
                    return Err(e);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| Error::Unexpected("sshd did not start".into())))
    }
}

/// Run by `sh -c` inside the new mount namespace with `SOURCE TARGET ... -- SSHD ARGS...`:
/// bind-mounts each pair, then execs sshd.
const BIND_MOUNT_SCRIPT: &str = r#"while [ "$1" != "--" ]; do mount --bind "$1" "$2" || exit 1; shift 2; done; shift; exec "$@""#;

/// The home directory of `user`, from `getent passwd`.
pub fn user_home(user: &str) -> Result<PathBuf> {
    let mut cmd = Command::new("getent");
    cmd.args(["passwd", user]);
    let what = describe(&cmd);
    let out = run(cmd, Duration::from_secs(10))?;
    if !out.status.success() {
        return Err(out.failure(&what));
    }
    let text = out.stdout_str();
    match text.lines().next().and_then(|l| l.split(':').nth(5)) {
        Some(home) if home.starts_with('/') => Ok(PathBuf::from(home)),
        _ => Err(Error::Unexpected(format!(
            "no home directory in `{what}`: {text}"
        ))),
    }
}

/// The name of the user this process runs as (`id -un`).
pub fn current_user() -> Result<String> {
    let mut cmd = Command::new("id");
    cmd.arg("-un");
    let what = describe(&cmd);
    let out = run(cmd, Duration::from_secs(10))?;
    let name = out.stdout_str().trim().to_owned();
    if !out.status.success() || name.is_empty() {
        return Err(out.failure(&what));
    }
    Ok(name)
}

fn write_file(path: &Path, contents: &[u8]) -> Result<()> {
    std::fs::write(path, contents).map_err(|source| Error::File {
        path: path.to_owned(),
        source,
    })
}

fn sshd_args(config: &Path, port: u16, options: &[(String, String)]) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["-D".into(), "-e".into(), "-f".into(), config.into()];
    args.push("-p".into());
    args.push(port.to_string().into());
    for (k, v) in options {
        args.push("-o".into());
        args.push(format!("{k}={v}").into());
    }
    args
}

/// A private `sshd` on 127.0.0.1, killed (SIGKILL) and reaped on drop; its temporary
/// directory (config, host keys, `authorized_keys`) is removed then too.
#[derive(Debug)]
pub struct Sshd {
    child: Child,
    log: Arc<Mutex<Vec<u8>>>,
    log_thread: Option<JoinHandle<()>>,
    addr: SocketAddr,
    config: PathBuf,
    options: Vec<(String, String)>,
    host_keys: Vec<(HostKeyType, PathBuf)>,
    command: String,
    sshd: PathBuf,
    /// Whether the log level lets sshd log "Server listening on ..." (INFO).
    logs_listening: bool,
    // Dropped after the process is killed (fields drop after `Drop::drop`).
    dir: Option<tempfile::TempDir>,
}

impl Sshd {
    /// Settings for a new server.
    pub fn builder() -> SshdBuilder {
        SshdBuilder::default()
    }

    /// A server with the default settings (one Ed25519 host key).
    pub fn start() -> Result<Self> {
        SshdBuilder::default().start()
    }

    /// Polls the port until sshd answers with `SSH-`, the process exits, or `timeout` passes.
    fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .map_err(|e| Error::io("waiting for sshd", e))?
            {
                // Let the log reader drain what the process wrote before it exited.
                if let Some(t) = self.log_thread.take() {
                    let _ = t.join();
                }
                return Err(Error::Peer {
                    what: format!("`{}` exited ({status}) before it was ready", self.command),
                    log: self.stderr_log(),
                });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Peer {
                    what: format!(
                        "`{}` did not answer on {} within {timeout:?}",
                        self.command, self.addr
                    ),
                    log: self.stderr_log(),
                });
            }
            // The banner alone could come from another process that took the port first;
            // sshd's own "Server listening" line (INFO) says the listener is ours.
            if probe(self.addr, left.min(Duration::from_secs(2)))
                && (!self.logs_listening || self.stderr_log().contains(&self.listening_line()))
            {
                return Ok(());
            }
            std::thread::sleep(POLL_INTERVAL.min(left));
        }
    }

    /// What sshd logs once it listens on our port.
    fn listening_line(&self) -> String {
        format!(
            "Server listening on {} port {}.",
            self.addr.ip(),
            self.port()
        )
    }

    /// The address it listens on (127.0.0.1:port).
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port it listens on.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Its process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its temporary directory (config, host keys, `authorized_keys`).
    #[must_use]
    pub fn dir(&self) -> &Path {
        self.config.parent().unwrap_or(Path::new("/"))
    }

    /// Its `sshd_config`.
    #[must_use]
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// Its `authorized_keys` file (empty unless keys were given; tests may append).
    #[must_use]
    pub fn authorized_keys_path(&self) -> PathBuf {
        self.dir().join("authorized_keys")
    }

    /// The `-o` options it was started with.
    #[must_use]
    pub fn options(&self) -> &[(String, String)] {
        &self.options
    }

    /// Its host keys: type and private key path (the public key is next to it, `.pub`).
    #[must_use]
    pub fn host_keys(&self) -> &[(HostKeyType, PathBuf)] {
        &self.host_keys
    }

    /// The public host keys in `known_hosts` form for its address
    /// (`[127.0.0.1]:PORT ssh-ed25519 AAAA...`).
    pub fn known_hosts(&self) -> Result<String> {
        let mut out = String::new();
        for (_, path) in &self.host_keys {
            let mut pub_path = path.clone().into_os_string();
            pub_path.push(".pub");
            let pub_path = PathBuf::from(pub_path);
            let text = std::fs::read_to_string(&pub_path).map_err(|source| Error::File {
                path: pub_path.clone(),
                source,
            })?;
            let mut fields = text.split_whitespace();
            let (Some(alg), Some(blob)) = (fields.next(), fields.next()) else {
                return Err(Error::Unexpected(format!(
                    "{} is not a public key",
                    pub_path.display()
                )));
            };
            let _ = writeln!(out, "[127.0.0.1]:{} {alg} {blob}", self.port());
        }
        Ok(out)
    }

    /// The command line it was started with.
    #[must_use]
    pub fn command_line(&self) -> &str {
        &self.command
    }

    /// Everything it has logged to stderr so far (`-e`, `LogLevel DEBUG1`), for diagnostics.
    #[must_use]
    pub fn stderr_log(&self) -> String {
        String::from_utf8_lossy(&take(&self.log)).into_owned()
    }

    /// Whether sshd logs `needle` within 2 s (it logs from its session processes, a little
    /// after the client has seen the result).
    #[must_use]
    pub fn logged(&self, needle: &str) -> bool {
        (0..100).any(|_| {
            let found = self.stderr_log().contains(needle);
            if !found {
                std::thread::sleep(Duration::from_millis(20));
            }
            found
        })
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// What `sshd -T` says this server's effective configuration is (same config file, port
    /// and `-o` options).
    pub fn effective_config(&self) -> Result<EffectiveConfig> {
        let mut cmd = Command::new(&self.sshd);
        cmd.arg("-T").args(
            sshd_args(&self.config, self.port(), &self.options)
                .iter()
                .skip(2),
        );
        let what = describe(&cmd);
        let out = run(cmd, Duration::from_secs(30))?;
        if !out.status.success() {
            return Err(out.failure(&what));
        }
        Ok(EffectiveConfig::parse(&out.stdout_str()))
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if let Some(t) = self.log_thread.take() {
            let _ = t.join();
        }
    }
}

/// Connects to `addr` and checks that an SSH identification line starts arriving.
fn probe(addr: SocketAddr, timeout: Duration) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, timeout) else {
        return false;
    };
    if stream.set_read_timeout(Some(timeout)).is_err() {
        return false;
    }
    let mut got = [0u8; 4];
    let mut n = 0;
    while n < got.len() {
        match stream.read(got.get_mut(n..).unwrap_or_default()) {
            Ok(0) | Err(_) => return false,
            Ok(k) => n += k,
        }
    }
    // Say goodbye politely so sshd logs a clean close rather than a protocol error.
    let _ = stream.write_all(b"SSH-2.0-whelk_probe\r\n");
    &got == b"SSH-"
}

/// The output of `sshd -T` or `ssh -G`: lower-case keywords and their values, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EffectiveConfig {
    entries: Vec<(String, String)>,
}

impl EffectiveConfig {
    /// Parses `keyword value...` lines.
    #[must_use]
    pub fn parse(text: &str) -> Self {
        let entries = text
            .lines()
            .filter_map(|line| {
                let line = line.trim();
                let (k, v) = line.split_once(' ').unwrap_or((line, ""));
                (!k.is_empty()).then(|| (k.to_ascii_lowercase(), v.trim().to_owned()))
            })
            .collect();
        Self { entries }
    }

    /// The first value of `keyword` (lower-case, e.g. `kexalgorithms`).
    #[must_use]
    pub fn get(&self, keyword: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == keyword)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated keyword (e.g. `hostkey`).
    #[must_use]
    pub fn get_all(&self, keyword: &str) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|(k, _)| k == keyword)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value of `keyword` as a comma-separated list; empty if absent.
    #[must_use]
    pub fn list(&self, keyword: &str) -> Vec<String> {
        self.get(keyword)
            .map(|v| {
                v.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// All keyword/value pairs in order.
    #[must_use]
    pub fn entries(&self) -> &[(String, String)] {
        &self.entries
    }
}

/// An `ssh` client invocation with hermetic defaults.
///
/// The defaults, placed after anything set here (ssh keeps the first value it sees for an
/// option, so options set here win): `-F /dev/null`, `StrictHostKeyChecking=no`,
/// `UserKnownHostsFile=/dev/null`, `GlobalKnownHostsFile=/dev/null`, `BatchMode=yes`,
/// `ConnectTimeout=5`, `IdentitiesOnly=yes`, `IdentityAgent=none`, `ControlMaster=no`,
/// `ControlPath=none`.
#[derive(Clone, Debug)]
#[must_use]
pub struct Ssh {
    addr: SocketAddr,
    user: String,
    options: Vec<(String, String)>,
    identities: Vec<PathBuf>,
    args: Vec<OsString>,
    remote: Vec<OsString>,
}

/// The hermetic defaults of [`Ssh`].
pub const SSH_DEFAULT_OPTIONS: &[(&str, &str)] = &[
    ("StrictHostKeyChecking", "no"),
    ("UserKnownHostsFile", "/dev/null"),
    ("GlobalKnownHostsFile", "/dev/null"),
    ("BatchMode", "yes"),
    ("ConnectTimeout", "5"),
    ("IdentitiesOnly", "yes"),
    ("IdentityAgent", "none"),
    ("ControlMaster", "no"),
    ("ControlPath", "none"),
];

impl Ssh {
    /// A client for `addr`, logging in as `$USER` (or `root`).
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            user: std::env::var("USER").unwrap_or_else(|_| "root".to_owned()),
            options: Vec::new(),
            identities: Vec::new(),
            args: Vec::new(),
            remote: Vec::new(),
        }
    }

    /// The user to log in as.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = user.into();
        self
    }

    /// Adds `-o key=value` (before the defaults, so it overrides them).
    pub fn option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.push((key.into(), value.into()));
        self
    }

    /// Adds `-i path`.
    pub fn identity(mut self, path: impl Into<PathBuf>) -> Self {
        self.identities.push(path.into());
        self
    }

    /// Adds a raw argument before the destination (e.g. `-vvv`, `-N`, `-T`).
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds a word of the remote command (after the destination).
    pub fn remote_command(mut self, word: impl AsRef<OsStr>) -> Self {
        self.remote.push(word.as_ref().to_owned());
        self
    }

    /// The arguments, without the program.
    #[must_use]
    pub fn args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec!["-F".into(), "/dev/null".into()];
        args.push("-p".into());
        args.push(self.addr.port().to_string().into());
        for path in &self.identities {
            args.push("-i".into());
            args.push(path.into());
        }
        let set: BTreeSet<String> = self
            .options
            .iter()
            .map(|(k, _)| k.to_ascii_lowercase())
            .collect();
        for (k, v) in self
            .options
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(
                SSH_DEFAULT_OPTIONS
                    .iter()
                    .copied()
                    .filter(|(k, _)| !set.contains(&k.to_ascii_lowercase())),
            )
        {
            args.push("-o".into());
            args.push(format!("{k}={v}").into());
        }
        args.extend(self.args.iter().cloned());
        args.push(format!("{}@{}", self.user, self.addr.ip()).into());
        args.extend(self.remote.iter().cloned());
        args
    }

    /// A [`Command`] ready to spawn.
    pub fn command(&self) -> Result<Command> {
        let mut cmd = Command::new(find("ssh")?);
        cmd.args(self.args());
        Ok(cmd)
    }

    /// The command line, for notes and diagnostics.
    pub fn command_line(&self) -> Result<String> {
        Ok(describe(&self.command()?))
    }

    /// Spawns it with stdin closed and output captured; killed when the guard drops.
    pub fn spawn(&self) -> Result<ChildGuard> {
        ChildGuard::spawn(&mut self.command()?)
    }

    /// Runs it to completion, killing it after `timeout`.
    pub fn run(&self, timeout: Duration) -> Result<Output> {
        run(self.command()?, timeout)
    }

    /// What `ssh -G` says the effective client configuration is for this invocation.
    pub fn effective_config(&self) -> Result<EffectiveConfig> {
        let mut cmd = Command::new(find("ssh")?);
        cmd.arg("-G").args(self.args());
        let what = describe(&cmd);
        let out = run(cmd, Duration::from_secs(30))?;
        if !out.status.success() {
            return Err(out.failure(&what));
        }
        Ok(EffectiveConfig::parse(&out.stdout_str()))
    }
}

/// Runs the `ssh` client against a loopback listener of ours and reads its hello (its
/// identification line and KEXINIT) after sending [`hello::OUR_IDENTIFICATION`]. `configure`
/// receives an [`Ssh`] aimed at the listener and may add options. The client is killed once
/// the hello is read. Returns the hello and the invocation used.
pub fn client_hello<F>(configure: F, timeout: Duration) -> Result<(hello::Hello, Ssh)>
where
    F: FnOnce(Ssh) -> Ssh,
{
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| Error::io("binding 127.0.0.1:0", e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::io("reading the bound address", e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::io("making the listener non-blocking", e))?;
    let ssh = configure(Ssh::new(addr));
    let mut child = ssh.spawn()?;
    let deadline = Instant::now() + timeout;
    let mut stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(Error::io("accepting the ssh client", e)),
        }
        if let Some(status) = child.try_wait()? {
            return Err(Error::Peer {
                what: format!("`{}` exited ({status}) before connecting", child.command()),
                log: child.stderr_str(),
            });
        }
        if Instant::now() >= deadline {
            return Err(Error::Peer {
                what: format!("`{}` did not connect within {timeout:?}", child.command()),
                log: child.stderr_str(),
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    stream
        .set_nonblocking(false)
        .map_err(|e| Error::io("making the stream blocking", e))?;
    let left = deadline.saturating_duration_since(Instant::now());
    let hello = hello::exchange(&mut stream, Role::Server, left).map_err(|e| Error::Peer {
        what: format!("reading the hello of `{}`: {e}", child.command()),
        log: child.stderr_str(),
    })?;
    drop(stream);
    drop(child);
    Ok((hello, ssh))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_tool_says_what_to_install() {
        let err = find("whelk-no-such-tool").unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::ToolMissing { .. }));
        assert!(msg.contains("whelk-no-such-tool"), "{msg}");
        assert!(msg.contains("install"), "{msg}");
        assert!(msg.contains("openssh-client"), "{msg}");
        assert_eq!(package_for("sshd"), "openssh-server");
    }

    #[test]
    fn free_port_is_bindable() {
        let port = free_port().unwrap();
        assert_ne!(port, 0);
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
    }

    #[test]
    fn effective_config_parses() {
        let c = EffectiveConfig::parse("port 22\nHostKey /a\nhostkey /b\nciphers a,b\nempty\n");
        assert_eq!(c.get("port"), Some("22"));
        assert_eq!(c.get_all("hostkey"), ["/a", "/b"]);
        assert_eq!(c.list("ciphers"), ["a", "b"]);
        assert_eq!(c.get("empty"), Some(""));
        assert!(c.list("macs").is_empty());
    }

    #[test]
    fn ssh_options_override_defaults() {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 2222));
        let args: Vec<String> = Ssh::new(addr)
            .user("u")
            .option("ConnectTimeout", "1")
            .arg("-v")
            .remote_command("true")
            .args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(&args[..4], ["-F", "/dev/null", "-p", "2222"]);
        assert!(args.contains(&"ConnectTimeout=1".to_owned()));
        assert!(!args.contains(&"ConnectTimeout=5".to_owned()));
        assert!(args.contains(&"BatchMode=yes".to_owned()));
        assert_eq!(&args[args.len() - 3..], ["-v", "u@127.0.0.1", "true"]);
    }

    #[test]
    fn config_follows_the_peer_notes() {
        let b = Sshd::builder()
            .host_key(HostKeyType::Rsa)
            .host_key(HostKeyType::Ed25519)
            .config_line("Banner $DIR/banner");
        let text = b.config_text(Path::new("/tmp/x"));
        assert!(text.starts_with("ListenAddress 127.0.0.1\nHostKey /tmp/x/host_rsa\n"));
        assert!(text.contains("HostKey /tmp/x/host_ed25519\n"));
        assert!(text.contains("PidFile none\n"));
        assert!(text.contains("UsePAM no\n"));
        assert!(text.ends_with("Banner /tmp/x/banner\n"));
        let default = Sshd::builder().config_text(Path::new("/d"));
        assert_eq!(default.matches("HostKey ").count(), 1);
    }
}
