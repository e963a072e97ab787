//! Interactive `whelk sftp` on a terminal (driven through util-linux `script`, which gives it
//! a pty): line editing with history and the progress bar; and piped output, which has no
//! progress bar and no escape codes. Against a private sshd; fails (never skips) when
//! OpenSSH or `script` is missing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Peer, me};
use whelk_test::openssh::find;

mod common;

const GUARD: Duration = Duration::from_secs(60);

/// The `whelk sftp` arguments (without the program).
fn sftp_args(e: &Peer) -> Vec<String> {
    vec![
        "sftp".into(),
        "-F".into(),
        "none".into(),
        "-P".into(),
        e.sshd.port().to_string(),
        "-i".into(),
        e.key.display().to_string(),
        "-o".into(),
        format!("UserKnownHostsFile={}", e.known.display()),
        "-o".into(),
        "StrictHostKeyChecking=yes".into(),
        "-o".into(),
        "BatchMode=yes".into(),
        format!("{}@127.0.0.1", me()),
    ]
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The terminal's output so far, read by a thread.
struct Screen {
    rx: mpsc::Receiver<Vec<u8>>,
    seen: Vec<u8>,
}

impl Screen {
    /// Waits until the output (after `from`) contains `needle`; returns where it ends.
    fn wait_for(&mut self, from: usize, needle: &str) -> usize {
        let deadline = Instant::now() + GUARD;
        loop {
            if let Some(i) = self.seen[from.min(self.seen.len())..]
                .windows(needle.len())
                .position(|w| w == needle.as_bytes())
            {
                return from + i + needle.len();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(b) => self.seen.extend_from_slice(&b),
                Err(_) => panic!(
                    "never saw {needle:?}; output:\n{}",
                    String::from_utf8_lossy(&self.seen)
                ),
            }
        }
    }
}

/// `whelk sftp` on a terminal of its own (util-linux `script`), started in `cwd`.
struct Terminal {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    screen: Screen,
    reader: std::thread::JoinHandle<()>,
}

impl Terminal {
    fn start(e: &Peer, cwd: &std::path::Path) -> Self {
        let script = find("script").expect("script not installed (util-linux)");
        // `exec`: the shell `script` starts must not stay as whelk's parent. A shell that
        // waits gets the terminal's SIGINT too, and dash then exits 130 when whelk ends.
        let cmdline = std::iter::once("exec".to_string())
            .chain(std::iter::once(env!("CARGO_BIN_EXE_whelk").to_string()))
            .chain(sftp_args(e))
            .map(|a| quote(&a))
            .collect::<Vec<_>>()
            .join(" ");
        let mut child = Command::new(script)
            .args(["-q", "-e", "-c", &cmdline, "/dev/null"])
            .current_dir(cwd)
            .env("TERM", "xterm")
            .env("COLUMNS", "100")
            .env("LINES", "30")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            stdin,
            screen: Screen {
                rx,
                seen: Vec::new(),
            },
            reader,
        }
    }

    /// Types `s`.
    fn send(&mut self, s: &str) {
        self.stdin.write_all(s.as_bytes()).unwrap();
        self.stdin.flush().unwrap();
    }

    /// [`Screen::wait_for`].
    fn wait_for(&mut self, from: usize, needle: &str) -> usize {
        self.screen.wait_for(from, needle)
    }

    /// Closes the terminal's input and waits for the session to end.
    fn finish(self) -> std::process::ExitStatus {
        let Self {
            mut child,
            stdin,
            reader,
            ..
        } = self;
        drop(stdin);
        let status = child.wait().unwrap();
        reader.join().unwrap();
        status
    }
}

#[test]
fn sftp_interactive_on_a_terminal() {
    let e = Peer::new();
    let local = e.dir.path().join("local");
    let remote = e.dir.path().join("remote");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::create_dir_all(&remote).unwrap();
    let data: Vec<u8> = (0..2_000_000u32).map(|i| ((i * 7) >> 3) as u8).collect();
    std::fs::write(local.join("up.bin"), &data).unwrap();

    let mut t = Terminal::start(&e, &local);
    let mut at = t.wait_for(0, "sftp> ");

    // A command, edited: typed with a typo, cursor moved left, character deleted and inserted.
    t.send(&format!("cd {}\r", remote.display()));
    at = t.wait_for(at, "sftp> ");
    t.send("pwdx\x7f\r");
    at = t.wait_for(
        at,
        &format!("Remote working directory: {}", remote.display()),
    );
    at = t.wait_for(at, "sftp> ");
    // A put on a terminal draws a progress bar that reaches 100%.
    t.send("put up.bin\r");
    at = t.wait_for(at, "100%");
    at = t.wait_for(at, "sftp> ");
    // History: Up twice brings back `pwd` (Up once would be the put).
    t.send("\x1b[A\x1b[A\r");
    at = t.wait_for(
        at,
        &format!("Remote working directory: {}", remote.display()),
    );
    at = t.wait_for(at, "sftp> ");
    // Cursor movement: "ls" typed as "s", Home, "l", End.
    t.send("s\x1b[H1\x7fl\x1b[F -1\r");
    at = t.wait_for(at, "up.bin");
    at = t.wait_for(at, "sftp> ");
    // Ctrl-C abandons a line; Ctrl-D on an empty line ends the session.
    t.send("rm up.bin\x03");
    at = t.wait_for(at, "^C");
    t.wait_for(at, "sftp> ");
    t.send("\x04");
    let status = t.finish();
    assert!(status.success(), "exit status {status:?}");
    assert_eq!(std::fs::read(remote.join("up.bin")).unwrap(), data);
}

#[test]
fn sftp_piped_output_has_no_progress_bar() {
    let e = Peer::new();
    let local = e.dir.path().join("local");
    let remote = e.dir.path().join("remote");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::create_dir_all(&remote).unwrap();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| ((i * 13) >> 5) as u8).collect();
    std::fs::write(local.join("a.bin"), &data).unwrap();
    let commands = format!(
        "lcd {l}\ncd {r}\nput a.bin\nget a.bin b.bin\nprogress\nput a.bin c.bin\nls\n",
        l = local.display(),
        r = remote.display()
    );
    // Interactive mode with a pipe for stdin and stdout, and batch mode.
    let batch = e.dir.path().join("batch");
    std::fs::write(&batch, &commands).unwrap();
    for with_batch in [false, true] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_whelk"));
        let mut args = sftp_args(&e);
        if with_batch {
            args.insert(1, "-b".into());
            args.insert(2, batch.display().to_string());
        }
        cmd.args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        if !with_batch {
            stdin.write_all(commands.as_bytes()).unwrap();
        }
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("c.bin"), "{text}");
        for o in [&out.stdout, &out.stderr] {
            assert!(
                !o.contains(&0x1b),
                "escape code in {:?}",
                String::from_utf8_lossy(o)
            );
            assert!(
                !o.contains(&b'\r'),
                "carriage return in {:?}",
                String::from_utf8_lossy(o)
            );
            assert!(
                !String::from_utf8_lossy(o).contains('%'),
                "progress in {text}"
            );
        }
        assert_eq!(std::fs::read(local.join("b.bin")).unwrap(), data);
        assert_eq!(std::fs::read(remote.join("c.bin")).unwrap(), data);
        for f in [
            local.join("b.bin"),
            remote.join("a.bin"),
            remote.join("c.bin"),
        ] {
            std::fs::remove_file(f).unwrap();
        }
    }
}

#[test]
fn sftp_ctrl_c_interrupts_a_transfer_and_the_session_goes_on() {
    let e = Peer::new();
    let local = e.dir.path().join("local");
    let remote = e.dir.path().join("remote");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::create_dir_all(&remote).unwrap();
    // 64 GiB, mostly holes (minutes to fetch, little disk space on either side), with a
    // marker byte every 256 MiB.
    let huge = 64u64 << 30;
    let marker_every = 256u64 << 20;
    let marker = |at: u64| [(at / marker_every) as u8 | 1];
    let f = std::fs::File::create(remote.join("huge.bin")).unwrap();
    f.set_len(huge).unwrap();
    for at in (0..huge).step_by(marker_every as usize) {
        std::os::unix::fs::FileExt::write_all_at(&f, &marker(at), at).unwrap();
    }
    drop(f);
    let data: Vec<u8> = (0..300_000u32).map(|i| ((i * 11) >> 4) as u8).collect();
    std::fs::write(remote.join("small.bin"), &data).unwrap();

    let mut t = Terminal::start(&e, &local);
    let mut at = t.wait_for(0, "sftp> ");
    t.send(&format!("cd {}\r", remote.display()));
    at = t.wait_for(at, "sftp> ");
    // Ctrl-C on the terminal while the download runs: the terminal sends SIGINT.
    t.send("get huge.bin\r");
    at = t.wait_for(at, "Fetching");
    at = t.wait_for(at, "huge.bin");
    std::thread::sleep(Duration::from_millis(1500));
    t.send("\x03");
    at = t.wait_for(at, "Interrupt");
    at = t.wait_for(at, "sftp> ");
    // The session goes on: another download, whole.
    t.send("get small.bin\r");
    at = t.wait_for(at, "Fetching");
    t.wait_for(at, "sftp> ");
    t.send("\x04");
    let status = t.finish();
    assert!(status.success(), "exit status {status:?}");
    assert_eq!(std::fs::read(local.join("small.bin")).unwrap(), data);
    // The interrupted download stopped short of the end, its file holding only what came
    // without a gap: every marker below its length is there.
    let partial = std::fs::File::open(local.join("huge.bin")).unwrap();
    let len = partial.metadata().unwrap().len();
    assert!(len < huge, "{len} bytes");
    for at in (0..len).step_by(marker_every as usize) {
        let mut b = [0u8];
        std::os::unix::fs::FileExt::read_exact_at(&partial, &mut b, at).unwrap();
        assert_eq!(b, marker(at), "at {at} of {len}");
    }
    eprintln!("interrupted after {len} of {huge} bytes");
}
