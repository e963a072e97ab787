//! Interop the other way round: OpenSSH's `sftp` client (`sftp -D`, no SSH underneath) drives
//! whelk's server state machine and `StdFs` (the `stdio_server` example) through a batch of
//! commands: put, get, ls -l, mkdir, rename, symlink, chmod, rm, rmdir, df, and an attempt to
//! leave the root.
//!
//! Needs `/usr/bin/sftp` (Debian package openssh-client); without it the test prints a note
//! and returns.
//!
//! This test has `harness = false`: the same executable is the server `sftp -D` starts (when
//! `WHELK_SFTP_SERVE` is set it serves its arguments' root on stdin/stdout, like the
//! `stdio_server` example), so nothing but the test itself needs to be built.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use whelk_sftp::fs::{StdFs, StdFsConfig, serve_chunk};
use whelk_sftp::server::{Server, ServerConfig};

fn serve(args: &[String]) {
    let read_only = args.iter().any(|a| a == "--read-only");
    let root = args.iter().find(|a| !a.starts_with("--")).unwrap();
    let mut fs = StdFs::new(
        root,
        StdFsConfig {
            read_only,
            ..StdFsConfig::default()
        },
    )
    .unwrap();
    let mut server = Server::new(ServerConfig {
        read_only,
        ..ServerConfig::default()
    });
    let mut stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = stdin.read(&mut buf).unwrap();
        if n == 0 {
            return;
        }
        let out = serve_chunk(&mut server, &mut fs, &buf[..n]).unwrap();
        stdout.write_all(&out).unwrap();
        stdout.flush().unwrap();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if std::env::var_os("WHELK_SFTP_SERVE").is_some() {
        serve(&args);
        return;
    }
    // Plain `cargo test` passes harness flags; a filter that is not ours skips the test.
    if args.iter().any(|a| {
        !a.starts_with('-') && !"openssh_sftp_client_against_whelk_server".contains(a.as_str())
    }) {
        return;
    }
    openssh_sftp_client_against_whelk_server();
    println!("test openssh_sftp_client_against_whelk_server ... ok");
}

fn openssh_sftp_client_against_whelk_server() {
    if !Path::new("/usr/bin/sftp").exists() {
        panic!("/usr/bin/sftp not installed: this interop test needs openssh-client");
    }
    let server = std::env::current_exe().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let local = dir.path().join("local");
    std::fs::create_dir(&root).unwrap();
    std::fs::create_dir(&local).unwrap();
    std::fs::write(dir.path().join("secret"), b"outside").unwrap();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(local.join("up.bin"), &data).unwrap();
    let batch = dir.path().join("batch");
    std::fs::write(
        &batch,
        format!(
            "pwd\n\
             mkdir sub\n\
             put {l}/up.bin sub/up.bin\n\
             ls -l sub\n\
             rename sub/up.bin sub/moved.bin\n\
             get sub/moved.bin {l}/down.bin\n\
             ln -s moved.bin sub/link\n\
             chmod 600 sub/moved.bin\n\
             df /\n\
             -get ../secret {l}/stolen\n\
             -get /../../secret {l}/stolen2\n\
             put {l}/up.bin gone.bin\n\
             rm gone.bin\n\
             mkdir empty\n\
             rmdir empty\n\
             ls -la /\n",
            l = local.display()
        ),
    )
    .unwrap();
    let out = Command::new("/usr/bin/sftp")
        .env("WHELK_SFTP_SERVE", "1")
        .arg("-D")
        .arg(format!("{} {}", server.display(), root.display()))
        .arg("-b")
        .arg(&batch)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        eprintln!("stdout:\n{stdout}\nstderr:\n{stderr}");
    }
    assert!(out.status.success(), "sftp failed");
    assert!(stdout.contains("Remote working directory: /"), "{stdout}");
    assert_eq!(std::fs::read(root.join("sub/moved.bin")).unwrap(), data);
    assert_eq!(std::fs::read(local.join("down.bin")).unwrap(), data);
    assert_eq!(
        std::fs::read_link(root.join("sub/link")).unwrap(),
        Path::new("moved.bin")
    );
    assert_eq!(
        std::fs::metadata(root.join("sub/moved.bin"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert!(!root.join("gone.bin").exists() && !root.join("empty").exists());
    // `ls -l` shows our long names; the escape attempts fetched nothing from outside.
    assert!(stdout.contains("up.bin"), "{stdout}");
    assert!(!local.join("stolen").exists() && !local.join("stolen2").exists());
    assert!(
        stderr.contains("not found") || stderr.contains("No such file"),
        "{stderr}"
    );

    // Read-only: uploads are refused.
    let batch2 = dir.path().join("batch2");
    std::fs::write(
        &batch2,
        format!(
            "-put {}/up.bin ro.bin\nget sub/moved.bin {}/ro_down.bin\n",
            local.display(),
            local.display()
        ),
    )
    .unwrap();
    let out = Command::new("/usr/bin/sftp")
        .env("WHELK_SFTP_SERVE", "1")
        .arg("-D")
        .arg(format!(
            "{} --read-only {}",
            server.display(),
            root.display()
        ))
        .arg("-b")
        .arg(&batch2)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("Permission denied"), "{stderr}");
    assert!(!root.join("ro.bin").exists());
    assert_eq!(std::fs::read(local.join("ro_down.bin")).unwrap(), data);
}
