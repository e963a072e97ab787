//! A tiny SFTP server over stdin/stdout, confined to a directory: what OpenSSH's
//! `sftp-server` is to sshd, for trying whelk's server with `sftp -D`:
//!
//! ```sh
//! cargo build -p whelk-sftp --example stdio_server
//! sftp -D "target/debug/examples/stdio_server /some/dir" # add --read-only to refuse writes
//! ```
use std::io::{Read, Write};

use whelk_sftp::fs::{StdFs, StdFsConfig, serve_chunk};
use whelk_sftp::server::{Server, ServerConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut root = None;
    let mut read_only = false;
    for arg in std::env::args().skip(1) {
        if arg == "--read-only" {
            read_only = true;
        } else {
            root = Some(arg);
        }
    }
    let root = root.ok_or("usage: stdio_server [--read-only] ROOT")?;
    let mut fs = StdFs::new(
        root,
        StdFsConfig {
            read_only,
            ..StdFsConfig::default()
        },
    )?;
    let mut server = Server::new(ServerConfig {
        read_only,
        ..ServerConfig::default()
    });
    let mut stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = stdin.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        let input = buf.get(..n).unwrap_or_default();
        let out = serve_chunk(&mut server, &mut fs, input)?;
        stdout.write_all(&out)?;
        stdout.flush()?;
    }
}
