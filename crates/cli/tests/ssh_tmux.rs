//! `whelk ssh -tt` driven through tmux like a person would: an interactive shell on
//! OpenSSH's sshd, `stty size` before and after `tmux resize-window`, and a full-screen
//! program (`vi`) edited with keystrokes. Fails (never skips) without OpenSSH, tmux or vi.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use whelk_test::openssh::{self, Sshd};

fn user() -> String {
    let o = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

/// A tmux server of its own (`-S socket`), killed when dropped.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> Output {
        let o = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux is needed (apt package tmux)");
        assert!(
            o.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o
    }

    fn keys(&self, keys: &[&str]) {
        let mut a = vec!["send-keys", "-t", "w"];
        a.extend(keys);
        self.run(&a);
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "w"]).stdout).into_owned()
    }

    /// Waits until the pane shows a line for which `want` holds.
    fn wait_for(&self, what: &str, want: impl Fn(&str) -> bool) -> String {
        self.wait_screen(what, |screen| screen.lines().any(&want))
    }

    /// Waits until the whole pane satisfies `want` (the deadline only bounds a hung test;
    /// nothing is asserted about the time taken).
    fn wait_screen(&self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if want(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} on the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

fn setup(home: &Path) -> (Sshd, String) {
    let ssh_dir = home.join(".ssh");
    std::fs::create_dir(&ssh_dir).unwrap();
    let o = Command::new(openssh::find("ssh-keygen").unwrap())
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(ssh_dir.join("id_ed25519"))
        .output()
        .unwrap();
    assert!(o.status.success());
    let pub_line = std::fs::read_to_string(ssh_dir.join("id_ed25519.pub")).unwrap();
    let sshd = Sshd::builder()
        .authorized_key(pub_line.trim())
        .option("LogLevel", "ERROR")
        .start()
        .unwrap();
    std::fs::write(ssh_dir.join("known_hosts"), sshd.known_hosts().unwrap()).unwrap();
    // tmux runs this with `sh -c`; the shell records whelk's exit status in a file,
    // because tmux (3.3a with libutempter) can miss the pane's SIGCHLD while it waits for
    // its utmp helper, and then never marks the pane dead.
    let cmd = format!(
        "env HOME={} SSH_AUTH_SOCK= {} ssh -tt -F none -p {} {}@127.0.0.1 \
         'cd {}; PS1=\"remote\\$ \" exec sh -i'; echo $? > {}",
        home.display(),
        env!("CARGO_BIN_EXE_whelk"),
        sshd.port(),
        user(),
        home.display(),
        home.join("status").display()
    );
    (sshd, cmd)
}

#[test]
fn interactive_shell_resize_and_vi_through_tmux() {
    assert!(
        Path::new("/usr/bin/vi").exists() || Path::new("/bin/vi").exists(),
        "vi is needed"
    );
    let home = tempfile::tempdir().unwrap();
    let (_sshd, cmd) = setup(home.path());
    let tmux = Tmux {
        socket: home.path().join("tmux.sock"),
    };
    tmux.run(&[
        "-f",
        "/dev/null",
        "new-session",
        "-d",
        "-s",
        "w",
        "-x",
        "80",
        "-y",
        "24",
        &cmd,
    ]);
    // Keep the pane (and its last screen) if whelk exits early.
    tmux.run(&["set-option", "-t", "w", "remain-on-exit", "on"]);
    tmux.wait_for("remote prompt", |l| l.starts_with("remote$"));
    // The PTY has the window's size.
    tmux.keys(&["stty size", "Enter"]);
    tmux.wait_for("24 80", |l| l == "24 80");
    // Resized: SIGWINCH reaches whelk, which sends window-change.
    tmux.run(&["resize-window", "-t", "w", "-x", "100", "-y", "30"]);
    tmux.keys(&["clear; stty size", "Enter"]);
    tmux.wait_for("30 100", |l| l == "30 100");
    // A full-screen program: vi draws its screen, takes keystrokes, writes the file.
    // The command line itself shows "notes.txt"; vi's screen is the 30 rows: the empty
    // first line, 28 rows of '~' and the status line.
    tmux.keys(&["clear; vi -u NONE notes.txt", "Enter"]);
    tmux.wait_screen("vi's 30-row screen", |s| {
        s.lines().filter(|l| l.starts_with('~')).count() >= 28
            && s.lines().any(|l| l.starts_with("\"notes.txt\""))
    });
    tmux.keys(&["i", "typed through whelk", "Escape"]);
    tmux.wait_for("the typed text", |l| l.starts_with("typed through whelk"));
    tmux.keys(&[":wq", "Enter"]);
    tmux.wait_for("the prompt after vi", |l| l.starts_with("remote$"));
    assert_eq!(
        std::fs::read_to_string(home.path().join("notes.txt")).unwrap(),
        "typed through whelk\n"
    );
    // Ending the shell ends whelk with its status.
    tmux.keys(&["exit 3", "Enter"]);
    tmux.wait_for("whelk's goodbye", |l| {
        l == "Connection to 127.0.0.1 closed."
    });
    let status = home.path().join("status");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&status).is_ok_and(|s| s.ends_with('\n')) {
        assert!(
            Instant::now() < deadline,
            "whelk did not exit:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(std::fs::read_to_string(&status).unwrap(), "3\n");
}
