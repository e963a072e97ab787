//! Uploads a file over SFTP, lists the remote directory and downloads the file again.
//!
//! ```text
//! cargo run -p whelk-tokio --example sftp_client -- HOST PORT USER KEYFILE LOCAL REMOTE
//! ```
//!
//! KEYFILE is an unencrypted OpenSSH private key; the host key is accepted without checking
//! (an example, not a template for production).

use whelk_tokio::sftp::{SftpClient, TransferOptions};
use whelk_tokio::{ClientConfig, HostKeyPolicy, connect};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let [host, port, user, key, local, remote] = a.as_slice() else {
        eprintln!("usage: sftp_client HOST PORT USER KEYFILE LOCAL REMOTE");
        std::process::exit(2);
    };
    let key = whelk::PrivateKey::from_openssh(&std::fs::read_to_string(key)?, None)?;
    let config = ClientConfig::new(user)
        .key(key)
        .host_key(HostKeyPolicy::AcceptAny);
    let client = connect(host, port.parse()?, config).await?;
    let sftp = SftpClient::connect(&client).await?;
    let opts = TransferOptions {
        progress: Some(std::sync::Arc::new(|p| {
            eprint!("\r{} {} bytes", p.path, p.transferred);
        })),
        ..TransferOptions::default()
    };
    let sent = sftp.put(local, remote, &opts).await?;
    eprintln!(
        "\nuploaded {sent} bytes (blocks of {} bytes)",
        sftp.write_len()
    );
    let dir = remote.rsplit_once('/').map_or(".", |(d, _)| d);
    for name in sftp.scandir(if dir.is_empty() { "/" } else { dir }).await? {
        println!("{}", name.longname);
    }
    let back = format!("{local}.back");
    let got = sftp.get(remote, &back, &opts).await?;
    eprintln!("\ndownloaded {got} bytes to {back}");
    client.disconnect().await;
    Ok(())
}
