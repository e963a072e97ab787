//! Serves SFTP on stdin/stdout from a directory (confined to it), for OpenSSH's
//! `sftp -D`:
//!
//! ```text
//! cargo build -p whelk-tokio --example sftp_serve
//! sftp -D "target/debug/examples/sftp_serve /srv/files"
//! ```
//!
//! `--read-only` refuses every modifying request.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let read_only = args.iter().any(|a| a == "--read-only");
    let root = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| ".".into());
    let fs = whelk_tokio::sftp::StdFs::new(
        &root,
        whelk_tokio::sftp::StdFsConfig {
            read_only,
            ..Default::default()
        },
    )?;
    let config = whelk_tokio::sftp::ServerConfig {
        read_only,
        ..Default::default()
    };
    whelk_tokio::sftp::serve_with(config, tokio::io::stdin(), tokio::io::stdout(), fs).await?;
    Ok(())
}
