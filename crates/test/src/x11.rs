//! A real X server for the X11 forwarding tests: Xvfb (package `xvfb`) on a display it
//! picks itself (`-displayfd`), listening on its UNIX socket only and accepting one random
//! MIT-MAGIC-COOKIE-1, so that a test sees whether the right cookie reached it. `xauth`
//! (package `xauth`) writes the Xauthority files.
//!
//! ```no_run
//! use whelk_test::x11::Xvfb;
//! let x = Xvfb::start()?;
//! // A client with DISPLAY=x.display() and XAUTHORITY=x.client_auth() gets in.
//! assert!(x.display().starts_with(':'));
//! # Ok::<(), whelk_test::Error>(())
//! ```

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::openssh::{ChildGuard, find};
use crate::{Error, Result};

/// How long Xvfb may take to report its display.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running Xvfb, killed on drop, with a temporary directory for Xauthority files.
#[derive(Debug)]
pub struct Xvfb {
    _guard: ChildGuard,
    number: u32,
    cookie: String,
    client_auth: PathBuf,
    dir: tempfile::TempDir,
}

impl Xvfb {
    /// Starts `Xvfb -displayfd 1 -nolisten tcp -noreset -auth <file>` with a fresh random
    /// cookie, and writes that cookie for its display into [`Xvfb::client_auth`].
    pub fn start() -> Result<Self> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("creating a temporary dir", e))?;
        let cookie = random_cookie()?;
        // The X server loads every cookie of its -auth file, whatever the display name.
        let server_auth = dir.path().join("xvfb.auth");
        xauth(&server_auth, &["add", ":0", ".", &cookie])?;
        let mut cmd = Command::new(find("Xvfb")?);
        cmd.args(["-displayfd", "1", "-nolisten", "tcp", "-noreset", "-auth"])
            .arg(&server_auth);
        let mut guard = ChildGuard::spawn(&mut cmd)?;
        let started = Instant::now();
        let number = loop {
            let out = String::from_utf8_lossy(&guard.stdout()).into_owned();
            if let Some(line) = out.strip_suffix('\n') {
                break line
                    .trim()
                    .parse::<u32>()
                    .map_err(|_| Error::Unexpected(format!("Xvfb's display number: {line:?}")))?;
            }
            if guard.try_wait()?.is_some() || started.elapsed() > START_TIMEOUT {
                return Err(Error::Unexpected(format!(
                    "Xvfb did not start: {}",
                    guard.stderr_str()
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let socket = format!("/tmp/.X11-unix/X{number}");
        if !Path::new(&socket).exists() {
            return Err(Error::Unexpected(format!("Xvfb :{number} but no {socket}")));
        }
        let client_auth = dir.path().join("client.Xauthority");
        xauth(&client_auth, &["add", &format!(":{number}"), ".", &cookie])?;
        Ok(Self {
            _guard: guard,
            number,
            cookie,
            client_auth,
            dir,
        })
    }

    /// The display number `N`.
    #[must_use]
    pub fn number(&self) -> u32 {
        self.number
    }

    /// `DISPLAY` for it: `:N`.
    #[must_use]
    pub fn display(&self) -> String {
        format!(":{}", self.number)
    }

    /// The cookie it accepts (32 hex digits).
    #[must_use]
    pub fn cookie(&self) -> &str {
        &self.cookie
    }

    /// An Xauthority file holding the cookie for [`Xvfb::display`].
    #[must_use]
    pub fn client_auth(&self) -> &Path {
        &self.client_auth
    }

    /// Its temporary directory (for more Xauthority files).
    #[must_use]
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// 16 random bytes from `/dev/urandom`, in hex: an MIT-MAGIC-COOKIE-1.
pub fn random_cookie() -> Result<String> {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| Error::io("reading /dev/urandom", e))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// `xauth -q -f file args...`, which must succeed; returns its stdout. An empty `file` is
/// created first (xauth would warn that it creates one).
pub fn xauth(file: &Path, args: &[&str]) -> Result<String> {
    if !file.exists() {
        std::fs::write(file, b"").map_err(|e| Error::io("creating an Xauthority file", e))?;
    }
    let out = Command::new(find("xauth")?)
        .arg("-q")
        .arg("-f")
        .arg(file)
        .args(args)
        .output()
        .map_err(|e| Error::io("running xauth", e))?;
    if !out.status.success() {
        return Err(Error::Unexpected(format!(
            "xauth {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
