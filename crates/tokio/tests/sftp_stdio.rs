//! OpenSSH's `sftp` client (`sftp -D`, no SSH underneath) against `whelk_tokio::sftp::serve`
//! on stdin/stdout: put, get, ls -l, mkdir, rename, chmod, rm, rmdir, df and a read-only run.
//! Fails (never skips) when `sftp` is missing.
//!
//! `harness = false`: this executable is also the server `sftp -D` starts (when
//! `WHELK_SFTP_STDIO` is set it serves its argument's directory on stdin/stdout, like the
//! `sftp_serve` example), so nothing else needs to be built.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use whelk_test::openssh::{find, run};
use whelk_tokio::sftp::{ServerConfig, StdFs, StdFsConfig};

fn serve(args: &[String]) {
    let read_only = args.iter().any(|a| a == "--read-only");
    let root = args.iter().find(|a| !a.starts_with("--")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let fs = StdFs::new(
            root,
            StdFsConfig {
                read_only,
                ..StdFsConfig::default()
            },
        )
        .unwrap();
        let config = ServerConfig {
            read_only,
            ..ServerConfig::default()
        };
        whelk_tokio::sftp::serve_with(config, tokio::io::stdin(), tokio::io::stdout(), fs)
            .await
            .unwrap();
    });
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if std::env::var_os("WHELK_SFTP_STDIO").is_some() {
        serve(&args);
        return;
    }
    let name = "openssh_sftp_dash_d_against_serve";
    if args
        .iter()
        .any(|a| !a.starts_with('-') && !name.contains(a.as_str()))
    {
        return;
    }
    openssh_sftp_dash_d_against_serve();
    println!("test {name} ... ok");
}

fn sftp(server_args: &str, batch: &str, dir: &std::path::Path) -> whelk_test::openssh::Output {
    let exe = std::env::current_exe().unwrap();
    let file = dir.join("batch");
    std::fs::write(&file, batch).unwrap();
    let mut cmd = Command::new(find("sftp").expect("sftp not installed (openssh-client)"));
    cmd.env("WHELK_SFTP_STDIO", "1")
        .arg("-D")
        .arg(format!("{} {server_args}", exe.display()))
        .arg("-b")
        .arg(&file);
    run(cmd, Duration::from_secs(60)).unwrap()
}

fn openssh_sftp_dash_d_against_serve() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let local = dir.path().join("local");
    std::fs::create_dir(&root).unwrap();
    std::fs::create_dir(&local).unwrap();
    let data: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(local.join("up.bin"), &data).unwrap();
    let l = local.display();
    let out = sftp(
        &root.display().to_string(),
        &format!(
            "put {l}/up.bin\nmkdir d\nrename up.bin d/x.bin\nchmod 600 d/x.bin\nls -l d\nget d/x.bin {l}/back.bin\ndf\ncd /..\npwd\nrm d/x.bin\nrmdir d\n"
        ),
        dir.path(),
    );
    assert!(out.status.success(), "{}", out.stderr_str());
    let stdout = out.stdout_str();
    assert!(stdout.contains("-rw-------"), "{stdout}");
    assert!(stdout.contains("Remote working directory: /\n"), "{stdout}");
    assert!(std::fs::read(local.join("back.bin")).unwrap() == data);
    assert!(std::fs::read_dir(&root).unwrap().next().is_none());

    // Read-only: reads work, writes are refused.
    std::fs::write(root.join("r.txt"), "ro").unwrap();
    std::fs::set_permissions(root.join("r.txt"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = sftp(
        &format!("--read-only {}", root.display()),
        &format!("get r.txt {l}/r.txt\n-put {l}/up.bin\n-mkdir nope\n-rm r.txt\n"),
        dir.path(),
    );
    assert!(out.status.success(), "{}", out.stderr_str());
    assert_eq!(std::fs::read(local.join("r.txt")).unwrap(), b"ro");
    assert!(root.join("r.txt").exists() && !root.join("up.bin").exists());
    assert!(!root.join("nope").exists());
}
