//! X11 forwarding on the client (RFC 4254 §6.3; `ssh -X` / `ssh -Y`): see
//! [`Session::request_x11`] and [`whelk::x11`] for the fake-cookie scheme.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use whelk::x11::{Cookie, Display, SetupRewriter, Spoofing, Target};

use crate::client::Session;
use crate::error::{Error, Result};
use crate::forward::{Endpoint, Io, connect_local};
use crate::os_rng;

/// OpenSSH's default `XAuthLocation`.
pub(crate) const DEFAULT_XAUTH: &str = "/usr/bin/xauth";

/// OpenSSH's default `ForwardX11Timeout` (untrusted forwarding only).
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// OpenSSH's `X11_TIMEOUT_SLACK`: the untrusted cookie outlives the timeout by this much.
const TIMEOUT_SLACK: Duration = Duration::from_secs(60);

/// How to forward X11 for a session (what `ssh -X` / `-Y` and the `ForwardX11*` options
/// of `ssh_config` set).
#[derive(Debug, Clone)]
pub struct X11Options {
    display: String,
    trusted: bool,
    xauth: PathBuf,
    xauthority: Option<PathBuf>,
    timeout: Duration,
}

impl X11Options {
    /// Forwarding to `display` (usually `$DISPLAY`), trusted (`ssh -Y`), with OpenSSH's
    /// defaults: `xauth` at `/usr/bin/xauth`, a 20-minute `ForwardX11Timeout`.
    #[must_use]
    pub fn new(display: &str) -> Self {
        Self {
            display: display.to_string(),
            trusted: true,
            xauth: PathBuf::from(DEFAULT_XAUTH),
            xauthority: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Trusted (`ssh -Y`, `ForwardX11Trusted yes`: remote clients get the existing
    /// cookie's full access) or untrusted (`ssh -X`: a cookie made with `xauth generate
    /// ... untrusted`, which the X server's SECURITY extension restricts, and no new X11
    /// connections after [`X11Options::timeout`]).
    #[must_use]
    pub fn trusted(mut self, trusted: bool) -> Self {
        self.trusted = trusted;
        self
    }

    /// The `xauth` program (`XAuthLocation`).
    #[must_use]
    pub fn xauth_location(mut self, path: impl Into<PathBuf>) -> Self {
        self.xauth = path.into();
        self
    }

    /// The authority file `xauth` reads the display's cookie from (it is run with
    /// `XAUTHORITY` set to it); by default `xauth` finds it itself (`$XAUTHORITY`, else
    /// `~/.Xauthority`).
    #[must_use]
    pub fn xauthority(mut self, path: impl Into<PathBuf>) -> Self {
        self.xauthority = Some(path.into());
        self
    }

    /// `ForwardX11Timeout`: how long untrusted forwarding accepts new X11 connections (the
    /// generated cookie expires a minute later). Zero means no limit.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// Which authorization data the forwarding substitutes for the fake cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum X11Auth {
    /// The display's cookie from `xauth list` (trusted forwarding).
    Trusted,
    /// A cookie generated with `xauth generate ... untrusted`.
    Untrusted,
    /// `xauth` had nothing for the display: random data is used, which only an X server
    /// without access control accepts (OpenSSH: "No xauth data; using fake authentication
    /// data for X11 forwarding").
    NoXauthData,
}

/// What incoming `x11` channels are served with (one per connection, as in OpenSSH: later
/// requests reuse the first one's cookies).
pub(crate) struct X11Route {
    spoofing: Spoofing,
    target: Endpoint,
    /// For `:N` / `unix:N` on Linux: the abstract socket `\0/tmp/.X11-unix/XN`, tried first.
    abstract_name: Option<String>,
    refuse_after: Option<Instant>,
    auth: X11Auth,
}

/// Shared between the client handles and the driver's hooks.
pub(crate) type X11Slot = Arc<Mutex<Option<Arc<X11Route>>>>;

/// The route for a new `x11` channel, if forwarding was requested and has not timed out.
pub(crate) fn route(slot: &X11Slot) -> Option<Arc<X11Route>> {
    let g = slot.lock().unwrap_or_else(PoisonError::into_inner);
    g.as_ref()
        .filter(|r| r.refuse_after.is_none_or(|t| Instant::now() < t))
        .cloned()
}

impl X11Route {
    /// Connects to the local display: on Linux, like OpenSSH, the abstract socket of a
    /// local display first (the X server listens on both; unlike the socket file it cannot
    /// be removed or replaced by another process), then the socket file or TCP.
    pub(crate) async fn connect(&self) -> std::io::Result<Box<dyn Io>> {
        if let Some(name) = &self.abstract_name
            && let Some(sock) = connect_abstract(name)
        {
            return Ok(sock);
        }
        connect_local(&self.target).await
    }

    /// Reads the connection setup from the channel, passes it on with the real cookie,
    /// then copies both ways. A setup that does not present the fake cookie closes the
    /// channel (and the local connection) without a byte reaching the X server.
    pub(crate) async fn serve(&self, mut sock: Box<dyn Io>, mut ch: Session) {
        let mut rw: SetupRewriter = self.spoofing.rewriter();
        let mut buf = [0u8; 512];
        let first = loop {
            match ch.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    ch.close();
                    return;
                }
                Ok(n) => match rw.handle_input(buf.get(..n).unwrap_or(&[])) {
                    Ok(None) => {}
                    Ok(Some(out)) => break out,
                    Err(_) => {
                        ch.close();
                        return;
                    }
                },
            }
        };
        if sock.write_all(&first).await.is_err() {
            ch.close();
            return;
        }
        crate::forward::splice(sock, ch).await;
    }
}

/// Connects to the abstract UNIX socket `name` (Linux); `None` if that fails.
#[cfg(target_os = "linux")]
fn connect_abstract(name: &str) -> Option<Box<dyn Io>> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).ok()?;
    // A local connect does not wait for the server to accept.
    let sock = std::os::unix::net::UnixStream::connect_addr(&addr).ok()?;
    sock.set_nonblocking(true).ok()?;
    let sock = tokio::net::UnixStream::from_std(sock).ok()?;
    Some(Box::new(sock))
}

#[cfg(not(target_os = "linux"))]
fn connect_abstract(_name: &str) -> Option<Box<dyn Io>> {
    None
}

/// Runs `xauth` with `args` (stderr discarded) and returns its stdout if it succeeded.
async fn xauth(options: &X11Options, args: &[&str]) -> Option<String> {
    let mut cmd = Command::new(&options.xauth);
    if let Some(file) = &options.xauthority {
        cmd.env("XAUTHORITY", file);
    }
    let out = cmd
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .await
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A private temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self> {
        use rand_core::Rng;
        use std::os::unix::fs::DirBuilderExt;
        let mut rng = os_rng()?;
        let mut name = String::from("whelk-xauth-");
        for _ in 0..12 {
            let c = b"abcdefghijklmnopqrstuvwxyz0123456789"
                .get(usize::try_from(rng.next_u32() % 36).unwrap_or(0))
                .copied()
                .unwrap_or(b'x');
            name.push(char::from(c));
        }
        let path = std::env::temp_dir().join(name);
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The real cookie for `display`, as OpenSSH's `client_x11_get_proto` gets it.
async fn real_cookie(display: &Display, options: &X11Options) -> Result<(Option<Cookie>, X11Auth)> {
    let name = display.xauth_name.as_str();
    if options.trusted {
        let out = xauth(options, &["-q", "list", name]).await;
        let cookie = out.as_deref().and_then(whelk::x11::parse_xauth_list);
        let auth = if cookie.is_some() {
            X11Auth::Trusted
        } else {
            X11Auth::NoXauthData
        };
        return Ok((cookie, auth));
    }
    let dir = TempDir::new()?;
    let file = dir.0.join("xauthfile");
    let file = file.to_string_lossy();
    let timeout = if options.timeout.is_zero() {
        None
    } else {
        Some(
            options
                .timeout
                .saturating_add(TIMEOUT_SLACK)
                .as_secs()
                .to_string(),
        )
    };
    let mut args = vec![
        "-f",
        &file,
        "generate",
        name,
        whelk::x11::MIT_MAGIC_COOKIE_1,
        "untrusted",
    ];
    if let Some(t) = &timeout {
        args.extend(["timeout", t.as_str()]);
    }
    if xauth(options, &args).await.is_none() {
        return Err(Error::Refused(
            "untrusted X11 forwarding setup failed: xauth key data not generated".into(),
        ));
    }
    let out = xauth(options, &["-q", "-f", &file, "list", name]).await;
    match out.as_deref().and_then(whelk::x11::parse_xauth_list) {
        Some(c) => Ok((Some(c), X11Auth::Untrusted)),
        None => Err(Error::Refused(
            "untrusted X11 forwarding setup failed: xauth key data not generated".into(),
        )),
    }
}

impl Session {
    /// Asks the server to forward X11 connections to the local display `options` names
    /// (RFC 4254 §6.3.1, `x11-req`; send it before `shell` / `exec`), and serves the
    /// `x11` channels the server then opens (§6.3.2).
    ///
    /// Like OpenSSH, the server never sees the real cookie: the real one comes from
    /// `xauth list <display>` (trusted) or `xauth generate <display> MIT-MAGIC-COOKIE-1
    /// untrusted` (untrusted), the `x11-req` carries a random fake one of the same length
    /// (fresh for each connection, from the OS RNG), and each forwarded connection's setup
    /// must present the fake cookie, which is replaced with the real one before the bytes
    /// reach the X server; anything else is closed. Local displays (`:N`, `unix:N`) are
    /// reached over `/tmp/.X11-unix/X<N>` (on Linux its abstract socket first, as OpenSSH
    /// does), others over TCP `6000 + N`. Later requests on the same connection reuse the
    /// first one's display and cookies (as OpenSSH).
    ///
    /// Returns which authorization data is used. Fails if the display cannot be parsed,
    /// untrusted cookie generation failed, or the server refused (`X11Forwarding no`).
    ///
    /// ```no_run
    /// # async fn demo(client: whelk_tokio::Client) -> Result<(), whelk_tokio::Error> {
    /// use whelk_tokio::X11Options;
    /// let display = std::env::var("DISPLAY").unwrap_or_else(|_| ":0".into());
    /// let session = client.session().await?;
    /// session.request_x11(&X11Options::new(&display).trusted(true)).await?;
    /// session.exec("xdpyinfo | head -3").await?;
    /// let out = session.collect().await?;
    /// print!("{}", String::from_utf8_lossy(&out.stdout));
    /// # Ok(()) }
    /// ```
    pub async fn request_x11(&self, options: &X11Options) -> Result<X11Auth> {
        let display = Display::parse(&options.display)
            .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?;
        let existing = self
            .x11_slot()
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let (route, auth) = match existing {
            Some(r) => {
                let auth = r.auth;
                (r, auth)
            }
            None => {
                let (cookie, auth) = real_cookie(&display, options).await?;
                let mut rng = os_rng()?;
                let cookie = match cookie {
                    Some(c) => c,
                    None => Cookie::random(&mut rng),
                };
                let target = match &display.target {
                    Target::Tcp { host, port } => Endpoint::Tcp {
                        host: host.clone(),
                        port: *port,
                    },
                    Target::Unix(p) => Endpoint::Unix(PathBuf::from(p)),
                    _ => {
                        return Err(Error::Io(std::io::Error::other("unsupported X11 display")));
                    }
                };
                let local = format!("{}/X{}", whelk::x11::UNIX_SOCKET_DIR, display.number);
                let abstract_name = (cfg!(target_os = "linux")
                    && matches!(&display.target, Target::Unix(p) if *p == local))
                .then_some(local);
                let refuse_after = (!options.trusted && !options.timeout.is_zero())
                    .then(|| Instant::now() + options.timeout);
                let route = Arc::new(X11Route {
                    spoofing: Spoofing::new(cookie, &mut rng),
                    target,
                    abstract_name,
                    refuse_after,
                    auth,
                });
                // A concurrent first request may have won: use its cookies too.
                let route = self
                    .x11_slot()
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get_or_insert(route)
                    .clone();
                let auth = route.auth;
                (route, auth)
            }
        };
        let id = self.id();
        let kind = route.spoofing.request(display.screen, false);
        self.request("x11-req", |c| c.request(id, kind, true))
            .await?;
        Ok(auth)
    }
}
