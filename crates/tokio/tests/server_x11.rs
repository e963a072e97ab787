//! X11 forwarding by the whelk-tokio server (RFC 4254 §6.3) against OpenSSH's `ssh -Y`
//! and a real X server: Xvfb on a display of its own (`-displayfd`, `-nolisten tcp`,
//! cookie authentication), `xauth` and `xdpyinfo`. The handler's `exec` writes the
//! session's cookie into an Xauthority file of the test's temporary directory and runs
//! `xdpyinfo` with the session's `DISPLAY`: its output proves the display listener, the
//! `x11` channels and the client's cookie substitution. Fails (never skips) when a tool
//! is missing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use whelk::{AuthRequest, AuthorizedKeysPolicy, Decision, PrivateKey};
use whelk_test::openssh::{Ssh, find};
use whelk_test::x11::Xvfb;
use whelk_tokio::{
    ConnectionInfo, Exit, Handler, Server, ServerConfig, ServerSession, X11Request, listen,
};

/// Longest any single run may take before the test fails (a hang guard).
const GUARD: Duration = Duration::from_secs(30);

struct App {
    policy: AuthorizedKeysPolicy,
    allow_x11: bool,
    /// Where `exec xdpyinfo` writes its Xauthority file.
    xauthority: PathBuf,
}

impl Handler for App {
    async fn auth(&self, request: &AuthRequest) -> Decision {
        match &request.kind {
            whelk::RequestKind::Password { password, .. } if password.as_slice() == b"pw" => {
                Decision::Accept(whelk::Grant::default())
            }
            _ => self.policy.decide(request, 0),
        }
    }

    async fn x11_forwarding(&self, _conn: &ConnectionInfo, request: &X11Request) -> bool {
        self.allow_x11 && request.auth_protocol == "MIT-MAGIC-COOKIE-1"
    }

    async fn exec(&self, command: String, session: ServerSession) -> Exit {
        let mut out = session.stdout();
        match command.as_str() {
            "display" => {
                let d = session.x11().map(|x| x.display()).unwrap_or_default();
                out.write_all(format!("DISPLAY={d}\n").as_bytes())
                    .await
                    .unwrap();
                Exit::Code(0)
            }
            "display-and-wait" => {
                let d = session.x11().map(|x| x.display()).unwrap_or_default();
                out.write_all(format!("DISPLAY={d}\n").as_bytes())
                    .await
                    .unwrap();
                session.closed().await;
                Exit::Code(0)
            }
            "xdpyinfo" => {
                let Some(x) = session.x11() else {
                    out.write_all(b"no x11\n").await.unwrap();
                    return Exit::Code(1);
                };
                if !self.xauthority.exists() {
                    std::fs::write(&self.xauthority, b"").unwrap();
                }
                let st = tokio::process::Command::new(find("xauth").unwrap())
                    .arg("-f")
                    .arg(&self.xauthority)
                    .args(["-q", "add", &x.xauth_display(), &x.auth_protocol])
                    .arg(&x.auth_cookie)
                    .status()
                    .await
                    .unwrap();
                assert!(st.success());
                let o = tokio::process::Command::new(find("xdpyinfo").unwrap())
                    .env("DISPLAY", x.display())
                    .env("XAUTHORITY", &self.xauthority)
                    .stdin(Stdio::null())
                    .output()
                    .await
                    .unwrap();
                out.write_all(&o.stdout).await.unwrap();
                session.stderr().write_all(&o.stderr).await.unwrap();
                Exit::Code(o.status.code().map_or(255, |c| c.try_into().unwrap()))
            }
            _ => Exit::Refused,
        }
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    key: PathBuf,
    server: Server,
}

impl Fixture {
    async fn start(allow_x11: bool, options: &str) -> Self {
        for tool in ["ssh", "ssh-keygen", "Xvfb", "xauth", "xdpyinfo"] {
            find(tool).unwrap_or_else(|e| panic!("{e}"));
        }
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id_ed25519");
        let st = std::process::Command::new(find("ssh-keygen").unwrap())
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "t", "-f"])
            .arg(&key)
            .status()
            .unwrap();
        assert!(st.success());
        let line = std::fs::read_to_string(format!("{}.pub", key.display())).unwrap();
        let app = App {
            policy: AuthorizedKeysPolicy::new(&format!("{options} {line}")),
            allow_x11,
            xauthority: dir.path().join("remote.Xauthority"),
        };
        let config = ServerConfig::new(vec![PrivateKey::ed25519_from_seed(&[6; 32])]);
        let server = listen("127.0.0.1:0", config, app).await.unwrap();
        Self { dir, key, server }
    }

    /// `ssh -Y` to the server, with the X server's display and Xauthority file.
    fn ssh_y(&self, xvfb: Option<&Xvfb>, command: &str) -> tokio::process::Command {
        let ssh = Ssh::new(self.server.local_addr())
            .user("alice")
            .identity(&self.key)
            .option(
                "XAuthLocation",
                find("xauth").unwrap().display().to_string(),
            )
            .arg("-Y")
            .remote_command(command);
        let mut cmd = tokio::process::Command::from(ssh.command().unwrap());
        let local_auth = self.dir.path().join("local.Xauthority");
        let display = xvfb.map_or(99, Xvfb::number);
        cmd.env("DISPLAY", format!(":{display}"))
            .env("XAUTHORITY", local_auth)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    /// A running Xvfb and the client's Xauthority file for it.
    async fn xvfb(&self) -> Xvfb {
        let x = Xvfb::start().unwrap();
        let local_auth = self.dir.path().join("local.Xauthority");
        whelk_test::x11::xauth(&local_auth, &["add", &x.display(), ".", x.cookie()]).unwrap();
        x
    }
}

async fn output(mut cmd: tokio::process::Command) -> (Option<i32>, String, String) {
    let o = tokio::time::timeout(GUARD, cmd.output())
        .await
        .expect("ssh hung")
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_x11_forwarding_runs_xdpyinfo_through_ssh_y() {
    let f = Fixture::start(true, "").await;
    let xvfb = f.xvfb().await;
    let (code, out, err) = output(f.ssh_y(Some(&xvfb), "display")).await;
    assert_eq!(code, Some(0), "{err}");
    // The first free display from 10 on, screen 0.
    let display = out.trim().strip_prefix("DISPLAY=localhost:").unwrap();
    let (n, screen) = display.split_once('.').unwrap();
    assert!(n.parse::<u32>().unwrap() >= 10, "{out}");
    assert_eq!(screen, "0");

    let (code, out, err) = output(f.ssh_y(Some(&xvfb), "xdpyinfo")).await;
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("dimensions:"), "{out}\n{err}");
    assert!(out.contains("name of display:"), "{out}");
    // Twice in a row: the second connection to the display is forwarded too.
    let (code, out, err) = output(f.ssh_y(Some(&xvfb), "xdpyinfo")).await;
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("dimensions:"), "{out}\n{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_x11_refused_by_default_handler_and_by_key_option() {
    // The handler refuses.
    let f = Fixture::start(false, "").await;
    let (code, out, err) = output(f.ssh_y(None, "display")).await;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "DISPLAY=\n");
    assert!(err.contains("X11 forwarding request failed"), "{err}");

    // The handler allows, the key's options do not.
    let f = Fixture::start(true, "no-x11-forwarding").await;
    let (code, out, err) = output(f.ssh_y(None, "display")).await;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "DISPLAY=\n");
    assert!(err.contains("X11 forwarding request failed"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_x11_default_handler_refuses() {
    struct Plain(AuthorizedKeysPolicy);
    impl Handler for Plain {
        async fn auth(&self, request: &AuthRequest) -> Decision {
            self.0.decide(request, 0)
        }
        async fn exec(&self, _command: String, session: ServerSession) -> Exit {
            let text = format!("x11={}\n", session.x11().is_some());
            session.stdout().write_all(text.as_bytes()).await.unwrap();
            Exit::Code(0)
        }
    }
    let f = Fixture::start(true, "").await;
    let line = std::fs::read_to_string(format!("{}.pub", f.key.display())).unwrap();
    let config = ServerConfig::new(vec![PrivateKey::ed25519_from_seed(&[6; 32])]);
    let server = listen(
        "127.0.0.1:0",
        config,
        Plain(AuthorizedKeysPolicy::new(&line)),
    )
    .await
    .unwrap();
    let ssh = Ssh::new(server.local_addr())
        .user("alice")
        .identity(&f.key)
        .option(
            "XAuthLocation",
            find("xauth").unwrap().display().to_string(),
        )
        .arg("-Y")
        .remote_command("x");
    let mut cmd = tokio::process::Command::from(ssh.command().unwrap());
    cmd.env("DISPLAY", ":99")
        .env("XAUTHORITY", f.dir.path().join("none"))
        .stdin(Stdio::null());
    let (code, out, err) = output(cmd).await;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "x11=false\n");
    assert!(err.contains("X11 forwarding request failed"), "{err}");
}

/// A whelk client driven by hand over TCP, to send `x11-req`s OpenSSH never sends.
struct Raw {
    conn: whelk::ClientConnection,
    sock: tokio::net::TcpStream,
    events: std::collections::VecDeque<whelk::Event>,
}

impl Raw {
    async fn connect(addr: std::net::SocketAddr) -> Self {
        use rand_core::SeedableRng;
        let rng = chacha20::ChaCha20Rng::from_seed([3; 32]);
        let conn = whelk::ClientConnection::new(
            whelk::ClientConfig::new("alice"),
            rng,
            std::time::Instant::now(),
        )
        .unwrap();
        let sock = tokio::net::TcpStream::connect(addr).await.unwrap();
        Self {
            conn,
            sock,
            events: Default::default(),
        }
    }

    /// Sends what is queued, reads what arrives, answers the host key and password
    /// prompts; other events are kept.
    async fn turn(&mut self) {
        use tokio::io::AsyncReadExt;
        let now = std::time::Instant::now();
        let mut out = bytes::BytesMut::new();
        let _ = self.conn.poll_transmit(now, &mut out);
        if !out.is_empty() {
            self.sock.write_all(&out).await.unwrap();
        }
        let mut buf = vec![0u8; 65536];
        if let Ok(r) =
            tokio::time::timeout(Duration::from_millis(20), self.sock.read(&mut buf)).await
        {
            let n = r.unwrap();
            assert!(n > 0, "server closed the connection");
            self.conn.handle_input(now, &buf[..n]).unwrap();
        }
        self.conn.handle_timeout(now);
        while let Some(ev) = self.conn.poll_event() {
            match ev {
                whelk::Event::HostKey(check) => self
                    .conn
                    .respond_host_key(check, whelk::HostKeyDecision::Accept)
                    .unwrap(),
                whelk::Event::Credentials(req) => self
                    .conn
                    .respond_credentials(req, whelk::Answer::Password("pw".to_string().into()))
                    .unwrap(),
                ev => self.events.push_back(ev),
            }
        }
    }

    /// Turns until `pick` takes an event (others are dropped).
    async fn until<T>(&mut self, mut pick: impl FnMut(&mut Self, whelk::Event) -> Option<T>) -> T {
        let start = std::time::Instant::now();
        loop {
            while let Some(ev) = self.events.pop_front() {
                if let Some(t) = pick(self, ev) {
                    return t;
                }
            }
            assert!(start.elapsed() < GUARD, "no such event");
            self.turn().await;
        }
    }

    async fn x11_req(&mut self, ch: whelk::ChannelId, cookie: &str, single: bool) -> bool {
        let kind = whelk::ChannelRequestKind::X11Req {
            single_connection: single,
            auth_protocol: "MIT-MAGIC-COOKIE-1".to_string().into(),
            auth_cookie: cookie.to_string().into(),
            screen: 0,
        };
        let id = self.conn.request(ch, kind, true).unwrap();
        self.until(|_, ev| match ev {
            whelk::Event::Channel(whelk::ChannelEvent::RequestResult {
                request, success, ..
            }) if request == id => Some(success),
            _ => None,
        })
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_x11_bad_requests_single_connection_and_listener_lifetime() {
    let f = Fixture::start(true, "").await;
    let mut c = Raw::connect(f.server.local_addr()).await;
    let ch = c.conn.open_session().unwrap();
    c.until(|_, ev| match ev {
        whelk::Event::Channel(whelk::ChannelEvent::OpenConfirmed { id }) if id == ch => Some(()),
        _ => None,
    })
    .await;
    // What would inject xauth commands, or is not a cookie at all, fails without a panic.
    for bad in ["ab\nadd evil", "", "a b", "x;rm", &"a".repeat(2000)] {
        assert!(!c.x11_req(ch, bad, true).await, "{bad:?}");
    }
    assert!(c.x11_req(ch, "0123456789abcdef", true).await);
    // One display per session.
    assert!(!c.x11_req(ch, "0123456789abcdef", false).await);
    c.conn.exec(ch, b"display-and-wait").unwrap();
    let mut text = Vec::new();
    let display = c
        .until(|c, ev| {
            if let whelk::Event::Channel(whelk::ChannelEvent::Data { id }) = ev {
                while let Some(b) = c.conn.read(id, 1024) {
                    text.extend_from_slice(&b);
                }
            }
            let t = String::from_utf8_lossy(&text).into_owned();
            t.strip_prefix("DISPLAY=localhost:")
                .and_then(|r| r.strip_suffix(".0\n"))
                .map(|n| n.parse::<u16>().unwrap())
        })
        .await;
    let port = 6000 + display;
    // The first connection comes to the client as an x11 channel from 127.0.0.1.
    let mut x = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    x.write_all(b"hello X").await.unwrap();
    let xid = c
        .until(|c, ev| match ev {
            whelk::Event::Channel(whelk::ChannelEvent::OpenRequest(inc)) => {
                match inc.kind() {
                    whelk::ChannelOpenKind::X11 {
                        originator_address, ..
                    } => assert_eq!(originator_address.to_string_lossy(), "127.0.0.1"),
                    other => panic!("{other:?}"),
                }
                Some(c.conn.accept_channel(inc).unwrap())
            }
            _ => None,
        })
        .await;
    let mut got = Vec::new();
    c.until(|c, ev| {
        if let whelk::Event::Channel(whelk::ChannelEvent::Data { id }) = ev
            && id == xid
        {
            while let Some(b) = c.conn.read(id, 1024) {
                got.extend_from_slice(&b);
            }
        }
        (got == b"hello X").then_some(())
    })
    .await;
    // single_connection: nobody listens any more.
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
    );

    // Another session's display listens until that session ends.
    let ch2 = c.conn.open_session().unwrap();
    c.until(|_, ev| match ev {
        whelk::Event::Channel(whelk::ChannelEvent::OpenConfirmed { id }) if id == ch2 => Some(()),
        _ => None,
    })
    .await;
    assert!(c.x11_req(ch2, "00ff", false).await);
    c.conn.exec(ch2, b"display-and-wait").unwrap();
    let mut text = Vec::new();
    let display2 = c
        .until(|c, ev| {
            if let whelk::Event::Channel(whelk::ChannelEvent::Data { id }) = ev
                && id == ch2
            {
                while let Some(b) = c.conn.read(id, 1024) {
                    text.extend_from_slice(&b);
                }
            }
            let t = String::from_utf8_lossy(&text).into_owned();
            t.strip_prefix("DISPLAY=localhost:")
                .and_then(|r| r.strip_suffix(".0\n"))
                .map(|n| n.parse::<u16>().unwrap())
        })
        .await;
    let port2 = 6000 + display2;
    for _ in 0..2 {
        let _x = tokio::net::TcpStream::connect(("127.0.0.1", port2))
            .await
            .unwrap();
        c.until(|c, ev| match ev {
            whelk::Event::Channel(whelk::ChannelEvent::OpenRequest(inc)) => {
                Some(c.conn.accept_channel(inc).unwrap())
            }
            _ => None,
        })
        .await;
    }
    c.conn.close(ch2).unwrap();
    let start = std::time::Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port2))
        .await
        .is_ok()
    {
        assert!(start.elapsed() < GUARD, "the display outlived its session");
        c.turn().await;
    }
}
