//! `whelk ssh -X` / `-Y` / `-x` and `ForwardX11*` against OpenSSH's sshd and a real X
//! server (Xvfb checking a random MIT-MAGIC-COOKIE-1), with `xdpyinfo` run remotely
//! through the forwarding. sshd runs `xauth` in a private mount namespace with a
//! temporary directory over the user's home. Fails (never skips) without Xvfb, xauth,
//! xdpyinfo or sshd.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use common::{Home, dest, me, run, text};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use whelk_test::openssh::{Sshd, find, user_home};

mod common;

/// A running Xvfb ([`whelk_test::x11::Xvfb`]) that only accepts `cookie`; `client_auth`
/// holds it for `display`.
struct Xvfb {
    _x: whelk_test::x11::Xvfb,
    display: String,
    cookie: String,
    client_auth: PathBuf,
}

fn xvfb() -> Xvfb {
    let x = whelk_test::x11::Xvfb::start().unwrap();
    find("xdpyinfo").expect("xdpyinfo not installed (package x11-utils)");
    Xvfb {
        display: x.display(),
        cookie: x.cookie().to_owned(),
        client_auth: x.client_auth().to_path_buf(),
        _x: x,
    }
}

/// An sshd admitting `home`'s key with X11 forwarding on (displays from a random offset
/// in 100..900), running `xauth` with `server_home` over the user's home.
fn x11_sshd(home: &Home, server_home: &Path) -> Sshd {
    let mut b = [0u8; 2];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut b)
        .unwrap();
    let offset = 100 + u16::from_le_bytes(b) % 800;
    find("sshd").expect("sshd not installed");
    Sshd::builder()
        .authorized_key(home.pub_line.trim())
        .option("X11Forwarding", "yes")
        .option("X11UseLocalhost", "yes")
        .option("X11DisplayOffset", offset.to_string())
        .option(
            "XAuthLocation",
            find("xauth").unwrap().to_string_lossy().into_owned(),
        )
        .bind_mount(server_home, user_home(&me()).unwrap())
        .start()
        .unwrap()
}

struct Setup {
    x: Xvfb,
    home: Home,
    _server_home: tempfile::TempDir,
    sshd: Sshd,
}

fn setup() -> Setup {
    let x = xvfb();
    let home = Home::new();
    let server_home = tempfile::tempdir().unwrap();
    let sshd = x11_sshd(&home, server_home.path());
    home.trust(&sshd);
    Setup {
        x,
        home,
        _server_home: server_home,
        sshd,
    }
}

impl Setup {
    /// `whelk ssh` with DISPLAY and XAUTHORITY for the Xvfb, `-p` set.
    fn cmd(&self) -> Command {
        let mut c = self.home.cmd();
        c.env("DISPLAY", &self.x.display)
            .env("XAUTHORITY", &self.x.client_auth)
            .args(["-p", &self.sshd.port().to_string()]);
        c
    }
}

const PROBE: &str = "echo display=$DISPLAY; xdpyinfo | grep dimensions:";

#[test]
fn ssh_y_runs_xdpyinfo_through_the_forwarding() {
    let s = setup();
    let mut c = s.cmd();
    c.args(["-Y", &dest(), PROBE]);
    let out = run(c, b"");
    let (o, e) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "stdout: {o}\nstderr: {e}");
    assert!(o.contains("display=localhost:"), "{o}");
    assert!(o.contains("dimensions:"), "{o}");
    assert!(!o.contains(&s.x.cookie));
    // The same through ssh_config options.
    let mut c = s.cmd();
    c.args([
        "-o",
        "ForwardX11=yes",
        "-o",
        "ForwardX11Trusted=yes",
        "-o",
        "XAuthLocation=/usr/bin/xauth",
        &dest(),
        PROBE,
    ]);
    let out = run(c, b"");
    assert!(
        text(&out.stdout).contains("dimensions:"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn ssh_x_and_config_file_with_x_to_disable() {
    let s = setup();
    // -X: untrusted, a cookie from `xauth generate`; the connection reaches the X server,
    // which judges that cookie (this Xvfb build refuses SECURITY-generated cookies, and
    // does the same for OpenSSH's `ssh -X`).
    let mut c = s.cmd();
    c.args(["-X", &dest(), PROBE]);
    let out = run(c, b"");
    let (o, e) = (text(&out.stdout), text(&out.stderr));
    assert!(o.contains("display=localhost:"), "{o}");
    assert!(
        o.contains("dimensions:") || e.contains("Invalid MIT-MAGIC-COOKIE-1 key"),
        "stdout: {o}\nstderr: {e}"
    );
    // OpenSSH's ssh -X with the same settings gets the same answer from the X server.
    let mut c = Command::new(find("ssh").unwrap());
    c.env("DISPLAY", &s.x.display)
        .env("XAUTHORITY", &s.x.client_auth)
        .env("HOME", s.home.path())
        .args([
            "-F",
            "none",
            "-o",
            "BatchMode=yes",
            "-o",
            "ForwardX11Trusted=no",
            "-o",
        ])
        .arg(format!(
            "UserKnownHostsFile={}",
            s.home.known_hosts().display()
        ))
        .args(["-i"])
        .arg(s.home.path().join(".ssh/id_ed25519"))
        .args(["-p", &s.sshd.port().to_string(), "-X", &dest(), PROBE]);
    let theirs = run(c, b"");
    assert_eq!(
        text(&theirs.stdout).contains("dimensions:"),
        o.contains("dimensions:"),
        "ssh -X: {} {}",
        text(&theirs.stdout),
        text(&theirs.stderr)
    );
    // ForwardX11 yes in a config file; -x turns it off.
    let cfg = s.home.path().join("config");
    std::fs::write(&cfg, "ForwardX11 yes\nForwardX11Trusted yes\n").unwrap();
    let with_cfg = |extra: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_whelk"));
        c.arg("ssh")
            .env("HOME", s.home.path())
            .env_remove("SSH_AUTH_SOCK")
            .env("DISPLAY", &s.x.display)
            .env("XAUTHORITY", &s.x.client_auth)
            .arg("-F")
            .arg(&cfg)
            .args(extra)
            .args(["-p", &s.sshd.port().to_string(), &dest(), PROBE]);
        run(c, b"")
    };
    let out = with_cfg(&[]);
    assert!(
        text(&out.stdout).contains("dimensions:"),
        "{}",
        text(&out.stderr)
    );
    let out = with_cfg(&["-x"]);
    assert!(
        text(&out.stdout).contains("display=\n"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn without_display_the_session_goes_on() {
    let s = setup();
    let mut c = s.cmd();
    c.env_remove("DISPLAY")
        .args(["-v", "-Y", &dest(), "echo display=$DISPLAY"]);
    let out = run(c, b"");
    let (o, e) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{e}");
    assert_eq!(o, "display=\n");
    // As OpenSSH: a debug message (-v), no warning otherwise.
    assert!(
        e.contains("X11 forwarding requested but DISPLAY not set"),
        "{e}"
    );
    let mut c = s.cmd();
    c.env_remove("DISPLAY")
        .args(["-Y", &dest(), "echo display=$DISPLAY"]);
    let out = run(c, b"");
    assert!(
        !text(&out.stderr).contains("DISPLAY"),
        "{}",
        text(&out.stderr)
    );
}
