//! `ssh-audit` (jtesta/ssh-audit, `pip install ssh-audit`) as a loopback auditor of whelk
//! servers and clients: [`run`] it, build its arguments ([`server_args`], [`client_args`]),
//! wait for its client audit to listen ([`listening`]), and judge its report
//! ([`check_defaults`], [`check_clean`]). A missing ssh-audit is an error: the tests that
//! use it fail, never skip.
//!
//! ```no_run
//! use whelk_test::ssh_audit;
//!
//! let out = ssh_audit::run(&ssh_audit::server_args(2222, false))?;
//! ssh_audit::check_defaults(&out);
//! # Ok::<(), whelk_test::Error>(())
//! ```

use std::process::{Command, Output, Stdio};

use crate::{Error, Result};

/// Seconds ssh-audit waits for its peer (`-t`).
const AUDIT_TIMEOUT: &str = "20";

/// Longest wait for ssh-audit's client audit to listen.
const LISTEN_GUARD: std::time::Duration = std::time::Duration::from_secs(60);

fn installed() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("ssh-audit").is_file()))
}

fn missing(why: &str) -> Error {
    Error::ToolFailed {
        command: "ssh-audit".to_owned(),
        status: why.to_owned(),
        output: "install it with `pip install ssh-audit` (PyPI); the ssh-audit tests fail \
                 without it"
            .to_owned(),
    }
}

/// Runs ssh-audit with `args` (through `python3`, with every socket `bind` pinned to
/// 127.0.0.1: its client audit would listen on 0.0.0.0) and prints its report to the test
/// log. Fails when ssh-audit is not installed.
pub fn run(args: &[String]) -> Result<Output> {
    if !installed() {
        return Err(missing("not found in PATH"));
    }
    let code = "import socket, sys, runpy\n\
        _bind = socket.socket.bind\n\
        socket.socket.bind = lambda s, a: _bind(s, ('127.0.0.1', a[1]))\n\
        sys.argv = ['ssh-audit'] + sys.argv[1:]\n\
        runpy.run_module('ssh_audit', run_name='__main__')\n";
    let out = Command::new("python3")
        .arg("-c")
        .arg(code)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::io("run python3 for ssh-audit", e))?;
    println!(
        "--- ssh-audit {} (exit {:?})\n{}{}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if String::from_utf8_lossy(&out.stderr).contains("No module named") {
        return Err(missing("python3 cannot import ssh_audit"));
    }
    Ok(out)
}

/// Arguments auditing the server on 127.0.0.1:`port`; `rate_test` keeps ssh-audit's DHEat
/// connection-rate test (with debug output, which reports its results).
#[must_use]
pub fn server_args(port: u16, rate_test: bool) -> Vec<String> {
    let mode = if rate_test { "-d" } else { "--skip-rate-test" };
    [
        "-n",
        mode,
        "-t",
        AUDIT_TIMEOUT,
        "-p",
        &port.to_string(),
        "127.0.0.1",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Arguments for a client audit (`-c`): ssh-audit listens on 127.0.0.1:`port`, reads the
/// client's KEXINIT and hangs up.
#[must_use]
pub fn client_args(port: u16) -> Vec<String> {
    ["-n", "-c", "-t", AUDIT_TIMEOUT, "-p", &port.to_string()]
        .map(str::to_owned)
        .to_vec()
}

/// Whether something listens on 127.0.0.1:`port` (read from /proc, so ssh-audit's single
/// accept is not spent on a probe).
#[must_use]
pub fn listening(port: u16) -> bool {
    let want = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp").is_ok_and(|t| {
        t.lines().skip(1).any(|l| {
            let mut cols = l.split_whitespace();
            cols.nth(1) == Some(want.as_str()) && cols.nth(1) == Some("0A")
        })
    })
}

/// Waits until ssh-audit's client audit listens on 127.0.0.1:`port`, or `finished` says
/// it already ended (a failure it reports itself), at most a minute (a hang guard, not a
/// timing assertion). Returns whether it listens.
pub fn wait_listening(port: u16, finished: impl Fn() -> bool) -> bool {
    let start = std::time::Instant::now();
    while !listening(port) && !finished() && start.elapsed() < LISTEN_GUARD {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    listening(port)
}

/// ssh-audit's report (stdout).
#[must_use]
pub fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The default algorithms: exit code below 3 (no failure; the non-post-quantum methods
/// draw warnings), nothing flagged for Terrapin, the strict-KEX marker present.
///
/// # Panics
/// When the report breaks one of these rules (this is a test assertion).
pub fn check_defaults(out: &Output) {
    let code = out.status.code();
    let t = text(out);
    assert!(
        code.is_some_and(|c| (0..3).contains(&c)),
        "ssh-audit exit {code:?} (3 = failure)"
    );
    assert!(!t.contains("-- [fail]"), "a failure: {t}");
    assert!(
        !t.contains("vulnerable to the Terrapin attack"),
        "Terrapin flagged: {t}"
    );
    assert!(t.contains("kex-strict-"), "strict KEX marker missing: {t}");
}

/// The DHEat rate test ran ([`server_args`] with `rate_test`) and found the server's
/// connection throttling sufficient.
///
/// # Panics
/// When the test did not run or warned (this is a test assertion).
pub fn check_rate_throttled(out: &Output) {
    let t = text(out);
    assert!(
        t.contains("dh_rate_test() results"),
        "the rate test did not run: {t}"
    );
    assert!(
        !t.contains("insufficient connection throttling"),
        "DHEat warning: {t}"
    );
}

/// The hardened profile of docs/security.md: exit 0, no failure, no warning, nothing
/// flagged for Terrapin.
///
/// # Panics
/// When the report breaks one of these rules (this is a test assertion).
pub fn check_clean(out: &Output) {
    let t = text(out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "hardened profile: ssh-audit must exit 0"
    );
    assert!(!t.contains("-- [fail]") && !t.contains("-- [warn]"), "{t}");
    assert!(!t.contains("vulnerable to the Terrapin attack"), "{t}");
}
