//! Byte streams SSH can run over besides TCP: a proxy command's pipes
//! ([`crate::connect_command`], OpenSSH `ProxyCommand`). Channels of another connection
//! ([`crate::Session`], used by [`crate::Client::jump`]) are streams themselves.

use std::pin::Pin;
use std::process::Stdio;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::error::{Error, Result};

/// A child process's stdout (read) and stdin (write) as one stream; the process is killed
/// when the stream is dropped.
#[derive(Debug)]
pub struct ChildStream {
    _child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
}

/// Expands OpenSSH's `%h`, `%p` and `%%` in a proxy command.
fn expand(command: &str, host: &str, port: u16) -> String {
    let mut out = String::with_capacity(command.len());
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('h') => out.push_str(host),
            Some('p') => out.push_str(&port.to_string()),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

impl ChildStream {
    /// Starts `sh -c COMMAND` (with `%h`, `%p`, `%%` expanded), its stderr inherited.
    pub fn spawn(command: &str, host: &str, port: u16) -> Result<Self> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(expand(command, host, port))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(Error::Io(std::io::Error::other(
                "proxy command without pipes",
            )));
        };
        Ok(Self {
            _child: child,
            stdin,
            stdout,
        })
    }
}

impl AsyncRead for ChildStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stdout).poll_read(cx, buf)
    }
}

impl AsyncWrite for ChildStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stdin).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stdin).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stdin).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::expand;

    #[test]
    fn proxy_command_expansion() {
        assert_eq!(
            expand("nc %h %p %% %x %", "example.org", 2222),
            "nc example.org 2222 % %x %"
        );
    }
}
