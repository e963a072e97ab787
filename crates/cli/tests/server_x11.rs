//! `whelk server` X11 forwarding (`X11Forwarding`, `X11DisplayOffset`, `XAuthLocation`)
//! driven by OpenSSH's `ssh -Y` against a real X server: Xvfb on a display it picks
//! itself (`-displayfd`, `-nolisten tcp`, cookie authentication). The remote `xdpyinfo`
//! only reaches it through the session's `DISPLAY`, the cookie the server's `xauth` call
//! wrote into the session's Xauthority file (in the fixture's home, never the real one)
//! and the `x11` channels. Fails (never skips) when Xvfb, xauth, xdpyinfo or ssh are
//! missing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};

use common::{Fixture, Server, run_with_input};
use whelk_test::openssh;
use whelk_test::x11::Xvfb;

fn tool(name: &str) -> PathBuf {
    openssh::find(name).unwrap_or_else(|e| panic!("{e}"))
}

/// `xauth -q -f file args...`, which must succeed; returns its stdout.
fn xauth(file: &Path, args: &[&str]) -> String {
    whelk_test::x11::xauth(file, args).unwrap()
}

/// `ssh -Y` to `server` running `command`, with DISPLAY and XAUTHORITY of `xvfb` (or of
/// a display that does not exist). Returns (status, stdout, stderr).
fn ssh_y(
    f: &Fixture,
    server: &Server,
    xvfb: Option<&Xvfb>,
    extra: &[(&str, &str)],
    command: &str,
) -> (Option<i32>, String, String) {
    tool("xdpyinfo");
    let mut ssh = server
        .ssh(&f.key())
        .option("XAuthLocation", tool("xauth").display().to_string())
        .arg("-Y");
    for (k, v) in extra {
        ssh = ssh.option(*k, *v);
    }
    let mut cmd = ssh.remote_command(command).command().unwrap();
    match xvfb {
        Some(x) => cmd
            .env("DISPLAY", x.display())
            .env("XAUTHORITY", x.client_auth()),
        None => cmd
            .env("DISPLAY", ":99")
            .env("XAUTHORITY", f.path("none.Xauthority")),
    };
    run_with_input(cmd, b"")
}

#[test]
fn x11_forwarding_runs_xdpyinfo_through_ssh_y() {
    let f = Fixture::new();
    let server = f.start(&["-o", "X11Forwarding=yes"]);
    let xvfb = Xvfb::start().unwrap();
    let (code, out, err) = ssh_y(
        &f,
        &server,
        Some(&xvfb),
        &[],
        "echo \"DISPLAY=$DISPLAY\"; xdpyinfo",
    );
    assert_eq!(code, Some(0), "{out}\n{err}\n{}", server.log());
    assert!(out.contains("dimensions:"), "{out}\n{err}");
    let display = out
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("DISPLAY=localhost:"))
        .unwrap_or_else(|| panic!("{out}"));
    let n: u32 = display.strip_suffix(".0").unwrap().parse().unwrap();
    assert!(n >= 10, "{display}");
    server.assert_logged("X11 forwarding allowed (MIT-MAGIC-COOKIE-1, screen 0)");
    // The session's xauth wrote the client's (fake) cookie for unix:N into the home.
    let listed = xauth(&f.home().join(".Xauthority"), &["list"]);
    assert!(
        listed.contains(&format!("/unix:{n}  MIT-MAGIC-COOKIE-1")),
        "{listed}"
    );
}

#[test]
fn x11_cookie_goes_to_the_sessions_xauthority_and_display_offset_applies() {
    let f = Fixture::new();
    let server = f.start(&[
        "-o",
        "X11Forwarding=yes",
        "-o",
        "X11DisplayOffset=30",
        "-o",
        "AcceptEnv=XAUTHORITY",
    ]);
    let xvfb = Xvfb::start().unwrap();
    let remote = f.path("remote.Xauthority");
    let set = format!("XAUTHORITY={}", remote.display());
    let (code, out, err) = ssh_y(
        &f,
        &server,
        Some(&xvfb),
        &[("SetEnv", &set)],
        "echo \"DISPLAY=$DISPLAY\"; xdpyinfo | grep dimensions:",
    );
    assert_eq!(code, Some(0), "{out}\n{err}\n{}", server.log());
    assert!(out.contains("dimensions:"), "{out}\n{err}");
    let n: u32 = out
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("DISPLAY=localhost:"))
        .and_then(|d| d.strip_suffix(".0"))
        .unwrap_or_else(|| panic!("{out}"))
        .parse()
        .unwrap();
    assert!(n >= 30, "{out}");
    assert!(xauth(&remote, &["list"]).contains(&format!("/unix:{n}  MIT-MAGIC-COOKIE-1")));
    assert!(!f.home().join(".Xauthority").exists());
}

#[test]
fn x11_forwarding_refused_by_default_by_key_option_and_without_xauth() {
    let f = Fixture::new();
    let expect_refused = |server: &Server| {
        let (code, out, err) = ssh_y(&f, server, None, &[], "echo \"[$DISPLAY]\"");
        assert_eq!(code, Some(0), "{err}\n{}", server.log());
        assert_eq!(out, "[]\n");
        assert!(err.contains("X11 forwarding request failed"), "{err}");
        server.assert_logged("X11 forwarding refused");
    };
    // X11Forwarding no (the default).
    let server = f.start(&[]);
    expect_refused(&server);
    drop(server);

    // XAuthLocation names no program.
    let missing = format!("XAuthLocation={}", f.path("no-xauth").display());
    let server = f.start(&["-o", "X11Forwarding=yes", "-o", &missing]);
    expect_refused(&server);
    server.assert_logged("no xauth program");
    drop(server);

    // The key's no-x11-forwarding option (enforced before the handler is asked).
    f.authorize("no-x11-forwarding");
    let server = f.start(&["-o", "X11Forwarding=yes"]);
    let (code, out, err) = ssh_y(&f, &server, None, &[], "echo \"[$DISPLAY]\"");
    assert_eq!(code, Some(0), "{err}\n{}", server.log());
    assert_eq!(out, "[]\n");
    assert!(err.contains("X11 forwarding request failed"), "{err}");
    assert!(!f.home().join(".Xauthority").exists());
}
