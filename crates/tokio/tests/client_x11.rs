//! X11 forwarding on the whelk client (`Session::request_x11`) against OpenSSH's sshd and
//! a real X server: Xvfb with a random MIT-MAGIC-COOKIE-1 it checks, `xdpyinfo` run on
//! the server side through the forwarding. sshd runs `xauth` for the remote user in a
//! private mount namespace with a temporary directory over that user's home. Fails (never
//! skips) without Xvfb, xauth, xdpyinfo or sshd.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod client_common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use client_common::{client, sshd_builder, user};
use whelk_test::openssh::{Sshd, find, user_home};
use whelk_tokio::{Error, X11Auth, X11Options};

/// A running Xvfb ([`whelk_test::x11::Xvfb`]) that only accepts `cookie`; `client_auth`
/// holds the cookie for its display, `wrong_auth` a different one.
struct Xvfb {
    _x: whelk_test::x11::Xvfb,
    display: String,
    cookie: String,
    client_auth: PathBuf,
    wrong_auth: PathBuf,
}

fn random_hex() -> String {
    whelk_test::x11::random_cookie().unwrap()
}

fn xvfb() -> Xvfb {
    let x = whelk_test::x11::Xvfb::start().unwrap();
    let wrong_auth = x.dir().join("wrong");
    whelk_test::x11::xauth(&wrong_auth, &["add", &x.display(), ".", &random_hex()]).unwrap();
    find("xdpyinfo").expect("xdpyinfo not installed (package x11-utils)");
    Xvfb {
        display: x.display(),
        cookie: x.cookie().to_owned(),
        client_auth: x.client_auth().to_path_buf(),
        wrong_auth,
        _x: x,
    }
}

/// An sshd with X11 forwarding, running `xauth` in a temporary home of the remote user.
/// Its displays start at a random offset in 100..900 (sshd stops at 1000), away from the
/// default 10 that other X11 servers on this machine may be using at the same time.
fn x11_sshd(home: &Path, forwarding: bool) -> Sshd {
    let mut b = [0u8; 2];
    getrandom::fill(&mut b).unwrap();
    let offset = 100 + u16::from_le_bytes(b) % 800;
    sshd_builder()
        .option("X11Forwarding", if forwarding { "yes" } else { "no" })
        .option("X11DisplayOffset", offset.to_string())
        .option("X11UseLocalhost", "yes")
        .option(
            "XAuthLocation",
            find("xauth").unwrap().to_string_lossy().into_owned(),
        )
        .bind_mount(home, user_home(&user()).unwrap())
        .start()
        .unwrap()
}

/// Runs `command` on a new session with X11 forwarding set up by `options`.
async fn run_with_x11(
    sshd: &Sshd,
    options: &X11Options,
    command: &str,
) -> (X11Auth, String, String, Option<u32>) {
    let client = client(sshd).await;
    let session = client.session().await.unwrap();
    let auth = session.request_x11(options).await.unwrap();
    session.exec(command).await.unwrap();
    let out = tokio::time::timeout(Duration::from_secs(30), session.collect())
        .await
        .expect("command timed out")
        .unwrap();
    drop(session);
    client.disconnect().await;
    (
        auth,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.exit_status,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_forwarding_runs_xdpyinfo_and_hides_the_real_cookie() {
    let x = xvfb();
    let home = tempfile::tempdir().unwrap();
    let sshd = x11_sshd(home.path(), true);
    let opts = X11Options::new(&x.display).xauthority(&x.client_auth);
    let (auth, out, err, status) = run_with_x11(
        &sshd,
        &opts,
        "echo display=$DISPLAY; xauth list \"$DISPLAY\"; \
         xdpyinfo | grep dimensions: && xdpyinfo >/dev/null && echo second-ok",
    )
    .await;
    assert_eq!(auth, X11Auth::Trusted);
    assert_eq!(status, Some(0), "stdout: {out}\nstderr: {err}");
    assert!(out.contains("display=localhost:"), "{out}");
    assert!(out.contains("dimensions:"), "{out}");
    assert!(out.contains("second-ok"), "{out}");
    // The server got a fake MIT-MAGIC-COOKIE-1, never the real one.
    assert!(out.contains("MIT-MAGIC-COOKIE-1"), "{out}");
    assert!(!out.contains(&x.cookie), "{out}");
    // sshd's xauth wrote into the temporary home, not the real one.
    assert!(home.path().join(".Xauthority").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_real_cookie_is_refused_by_the_x_server() {
    let x = xvfb();
    let home = tempfile::tempdir().unwrap();
    let sshd = x11_sshd(home.path(), true);
    let opts = X11Options::new(&x.display).xauthority(&x.wrong_auth);
    let (auth, out, err, status) = run_with_x11(&sshd, &opts, "xdpyinfo").await;
    assert_eq!(auth, X11Auth::Trusted);
    assert_ne!(status, Some(0));
    assert!(!out.contains("dimensions:"), "{out}");
    // The X server itself refused the (substituted, wrong) cookie.
    assert!(err.contains("Invalid MIT-MAGIC-COOKIE-1 key"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setups_without_the_fake_cookie_are_closed_by_the_client() {
    let x = xvfb();
    let home = tempfile::tempdir().unwrap();
    let sshd = x11_sshd(home.path(), true);
    let opts = X11Options::new(&x.display).xauthority(&x.client_auth);
    // A wrong fake cookie, and none at all: the client closes the channel before a byte
    // reaches the X server, so xdpyinfo gets no refusal reason from it. Forwarding keeps
    // working for a client that presents the fake cookie.
    let (_, out, err, status) = run_with_x11(
        &sshd,
        &opts,
        &format!(
            "f=$(mktemp); xauth -q -f $f add \"$DISPLAY\" . {}; \
             XAUTHORITY=$f xdpyinfo; echo wrong=$?; rm -f $f; \
             XAUTHORITY=/dev/null xdpyinfo; echo none=$?; \
             xdpyinfo | grep dimensions:",
            random_hex()
        ),
    )
    .await;
    assert_eq!(status, Some(0), "stdout: {out}\nstderr: {err}");
    assert!(out.contains("wrong=1"), "{out}");
    assert!(out.contains("none=1"), "{out}");
    assert!(out.contains("dimensions:"), "{out}");
    assert!(err.contains("unable to open display"), "{err}");
    assert!(!err.contains("Invalid MIT-MAGIC-COOKIE-1 key"), "{err}");
    assert!(!err.contains("Authorization required"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_by_sshd_without_x11_forwarding() {
    let x = xvfb();
    let home = tempfile::tempdir().unwrap();
    let sshd = x11_sshd(home.path(), false);
    let client = client(&sshd).await;
    let session = client.session().await.unwrap();
    let r = session
        .request_x11(&X11Options::new(&x.display).xauthority(&x.client_auth))
        .await;
    assert!(matches!(r, Err(Error::Refused(_))), "{r:?}");
    // The session is still usable.
    session.exec("echo still-here").await.unwrap();
    let out = session.collect().await.unwrap();
    assert_eq!(out.stdout, b"still-here\n");
    drop(session);
    client.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_display_is_an_error() {
    let home = tempfile::tempdir().unwrap();
    let sshd = x11_sshd(home.path(), true);
    let client = client(&sshd).await;
    let session = client.session().await.unwrap();
    let r = session.request_x11(&X11Options::new("no-display")).await;
    assert!(r.is_err(), "{r:?}");
    drop(session);
    client.disconnect().await;
}

/// `xauth` without data for the display: random data is sent (OpenSSH's "No xauth data"),
/// which this X server refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_xauth_data_uses_random_data() {
    let x = xvfb();
    let home = tempfile::tempdir().unwrap();
    let sshd = x11_sshd(home.path(), true);
    let empty = home.path().join("empty-xauthority");
    let opts = X11Options::new(&x.display).xauthority(&empty);
    let (auth, out, err, status) = run_with_x11(&sshd, &opts, "xdpyinfo").await;
    assert_eq!(auth, X11Auth::NoXauthData);
    assert_ne!(status, Some(0), "{out}");
    assert!(err.contains("Invalid MIT-MAGIC-COOKIE-1 key"), "{err}");
}

/// Untrusted forwarding (`ssh -X`): the cookie comes from `xauth generate ... untrusted
/// timeout 1260` (run against the X server's SECURITY extension), never the real one.
/// Whether the X server then admits the generated cookie is its own business (this Xvfb
/// build refuses SECURITY-generated cookies, as it does for `xauth generate` run by hand);
/// either way the forwarded connection reaches the X server, which answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_forwarding_uses_a_generated_cookie() {
    let x = xvfb();
    let home = tempfile::tempdir().unwrap();
    let sshd = x11_sshd(home.path(), true);
    let opts = X11Options::new(&x.display)
        .xauthority(&x.client_auth)
        .trusted(false);
    let (auth, out, err, _) = run_with_x11(&sshd, &opts, "xauth list \"$DISPLAY\"; xdpyinfo").await;
    assert_eq!(auth, X11Auth::Untrusted);
    assert!(!out.contains(&x.cookie), "{out}");
    assert!(
        out.contains("dimensions:") || err.contains("Invalid MIT-MAGIC-COOKIE-1 key"),
        "stdout: {out}\nstderr: {err}"
    );
    // Without access to the display, xauth cannot generate: an error, no request.
    let wrong = X11Options::new(&x.display)
        .xauthority(&x.wrong_auth)
        .trusted(false);
    let client = client(&sshd).await;
    let session = client.session().await.unwrap();
    let r = session.request_x11(&wrong).await;
    assert!(matches!(r, Err(Error::Refused(_))), "{r:?}");
    drop(session);
    client.disconnect().await;
}

/// Two sessions of one connection: both forward (with the connection's one fake cookie,
/// as OpenSSH does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sessions_share_the_forwarding() {
    let x = xvfb();
    let home = tempfile::tempdir().unwrap();
    let sshd = x11_sshd(home.path(), true);
    let opts = X11Options::new(&x.display).xauthority(&x.client_auth);
    let client = client(&sshd).await;
    let (a, b) = (
        client.session().await.unwrap(),
        client.session().await.unwrap(),
    );
    let (ra, rb) = tokio::join!(a.request_x11(&opts), b.request_x11(&opts));
    assert_eq!(
        (ra.unwrap(), rb.unwrap()),
        (X11Auth::Trusted, X11Auth::Trusted)
    );
    for s in [&a, &b] {
        s.exec("xauth list \"$DISPLAY\" | awk '{print $3}'; xdpyinfo | grep dimensions:")
            .await
            .unwrap();
    }
    let (oa, ob) = tokio::join!(a.collect(), b.collect());
    let (oa, ob) = (oa.unwrap(), ob.unwrap());
    let (sa, sb) = (
        String::from_utf8_lossy(&oa.stdout).into_owned(),
        String::from_utf8_lossy(&ob.stdout).into_owned(),
    );
    assert!(sa.contains("dimensions:"), "{sa}");
    assert!(sb.contains("dimensions:"), "{sb}");
    assert_eq!(sa.lines().next(), sb.lines().next(), "one fake cookie");
    drop((a, b));
    client.disconnect().await;
}

/// Untrusted forwarding refuses X11 connections once `ForwardX11Timeout` has passed: the
/// connection then never reaches the X server (no answer of its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_forwarding_refuses_connections_after_its_timeout() {
    let x = xvfb();
    let home = tempfile::tempdir().unwrap();
    let sshd = x11_sshd(home.path(), true);
    let opts = X11Options::new(&x.display)
        .xauthority(&x.client_auth)
        .trusted(false)
        .timeout(Duration::from_secs(1));
    let (auth, _, err, status) = run_with_x11(&sshd, &opts, "sleep 3; xdpyinfo").await;
    assert_eq!(auth, X11Auth::Untrusted);
    assert_ne!(status, Some(0));
    assert!(err.contains("unable to open display"), "{err}");
    assert!(!err.contains("Invalid MIT-MAGIC-COOKIE-1 key"), "{err}");
}
