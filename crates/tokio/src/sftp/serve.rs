//! The server side: whelk-sftp's server state machine over a session's streams.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use whelk_sftp::server::{Filesystem, Server, ServerConfig};

use super::error::Result;

/// Serves SFTP on `stdin`/`stdout` (a session's channel streams, or a process's stdio for
/// `sftp -D`) from `fs` until the client closes its side, with the default limits of
/// [`ServerConfig`] (256 KiB packets, 255 KiB reads/writes, 256 open handles, 64 outstanding
/// requests).
///
/// ```no_run
/// # async fn demo() -> Result<(), whelk_tokio::sftp::Error> {
/// use whelk_sftp::fs::{StdFs, StdFsConfig};
/// let fs = StdFs::new("/srv/files", StdFsConfig::default())?;
/// whelk_tokio::sftp::serve(tokio::io::stdin(), tokio::io::stdout(), fs).await?;
/// # Ok(()) }
/// ```
pub async fn serve<R, W, F>(stdin: R, stdout: W, fs: F) -> Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    F: Filesystem,
{
    serve_with(ServerConfig::default(), stdin, stdout, fs).await
}

/// [`serve`] with explicit limits (read-only mode, handle and packet limits, extensions).
///
/// The backend is synchronous ([`Filesystem`]); requests are answered in the order they
/// arrive, between reads of the channel. Input is only taken while fewer than
/// [`ServerConfig::max_outstanding`] requests wait, so a fast client cannot make the server
/// buffer without bound. A protocol error (oversized packet, no INIT first) ends the
/// session with that error.
pub async fn serve_with<R, W, F>(
    config: ServerConfig,
    mut stdin: R,
    mut stdout: W,
    mut fs: F,
) -> Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    F: Filesystem,
{
    let mut server = Server::new(config);
    let mut buf = vec![0u8; 256 * 1024];
    let mut out = Vec::new();
    loop {
        let n = stdin.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        let mut input = buf.get(..n).unwrap_or_default();
        loop {
            let used = server.handle_input(input)?;
            input = input.get(used..).unwrap_or_default();
            server.answer_all(&mut fs)?;
            server.poll_transmit(&mut out);
            if !out.is_empty() {
                stdout.write_all(&out).await?;
                out.clear();
            }
            if input.is_empty() || (used == 0 && server.outstanding() == 0) {
                break;
            }
        }
        stdout.flush().await?;
    }
    stdout.flush().await?;
    let _ = stdout.shutdown().await;
    Ok(())
}
