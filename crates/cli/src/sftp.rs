//! `whelk sftp [-P port] [-i key] [-b batchfile] [-o opt] [-F cfg] destination`: an
//! OpenSSH-style interactive SFTP client on whelk-tokio's [`whelk_tokio::sftp::SftpClient`].
//!
//! - Destination `[user@]host[:path]` or `sftp://[user@]host[:port][/path]`; a directory
//!   path becomes the starting directory, a file path is fetched and the program exits.
//! - Commands (OpenSSH's names and flags): `get`/`reget`, `put`/`reput` (`-a` resume, `-p`
//!   preserve, `-r` recursive, wildcards), `ls [-1al]`, `cd`, `lcd`, `pwd`, `lpwd`, `lls`,
//!   `mkdir`, `lmkdir`, `rmdir`, `rm`, `rename`, `ln [-s]`, `symlink`, `cp`, `chmod`,
//!   `chown`, `chgrp`, `df [-hi]`, `progress`, `version`, `!cmd`, `help`/`?`,
//!   `exit`/`quit`/`bye`.
//! - `-b file` (`-` for stdin) runs commands in batch mode: each is echoed as `sftp> cmd`
//!   (unless prefixed with `@`) and the first failing one aborts with exit status 1, unless
//!   it is prefixed with `-`. Without `-b` commands are read from stdin (with a prompt on a
//!   terminal, edited with history by a small line editor of our own) and errors do not
//!   abort.
//! - Transfers show an indicatif progress bar only when stdout is a terminal (and not with
//!   `-q`); piped output has no escape codes.

mod commands;
pub(crate) mod connect;
mod lineedit;

use std::process::ExitCode;

use connect::{ConnOpts, split_user, unbracket};

/// Command-line arguments of `whelk sftp`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Port to connect to on the remote host.
    #[arg(short = 'P', value_name = "port")]
    port: Option<u16>,
    /// Identity (private key) file; repeatable.
    #[arg(short = 'i', value_name = "identity_file")]
    identity: Vec<String>,
    /// Batch mode: read commands from this file (`-` for stdin); abort on the first error.
    #[arg(short = 'b', value_name = "batchfile")]
    batch: Option<String>,
    /// Option in ssh_config syntax (Option=value); repeatable.
    #[arg(short = 'o', value_name = "ssh_option")]
    options: Vec<String>,
    /// Configuration file ("none" for none; default ~/.ssh/config).
    #[arg(short = 'F', value_name = "ssh_config")]
    config_file: Option<String>,
    /// Ciphers, comma-separated.
    #[arg(short = 'c', value_name = "cipher")]
    cipher: Option<String>,
    /// Resume interrupted transfers (like `reget`/`reput`).
    #[arg(short = 'a')]
    resume: bool,
    /// Preserve modification times, access times and modes.
    #[arg(short = 'p')]
    preserve: bool,
    /// Copy directories recursively.
    #[arg(short = 'r')]
    recursive: bool,
    /// Requests in flight per transfer (default 64).
    #[arg(short = 'R', value_name = "num_requests")]
    requests: Option<usize>,
    /// Bytes per request (default: the server's limit).
    #[arg(short = 'B', value_name = "buffer_size")]
    buffer: Option<u32>,
    /// Quiet: no progress meter or informational messages.
    #[arg(short = 'q')]
    quiet: bool,
    /// Verbose (accepted for compatibility).
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    verbose: u8,
    /// Where to connect: `[user@]host[:path]` or `sftp://[user@]host[:port][/path]`.
    #[arg(help = "[user@]host[:path] or sftp://[user@]host[:port][/path]")]
    destination: String,
}

/// Where to connect and where to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dest {
    pub(crate) user: Option<String>,
    pub(crate) host: String,
    pub(crate) port: Option<u16>,
    pub(crate) path: Option<String>,
}

/// Parses `[user@]host[:path]` or `sftp://[user@]host[:port][/path]`.
pub(crate) fn parse_dest(s: &str) -> Result<Dest, String> {
    if let Some(rest) = s.strip_prefix("sftp://") {
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], Some(rest[i + 1..].to_string())),
            None => (rest, None),
        };
        let (user, hostport) = split_user(authority);
        let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
            let (h, p) = h.split_once(']').ok_or("bad IPv6 address")?;
            (h.to_string(), p.strip_prefix(':').map(str::to_string))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p.to_string())),
                None => (hostport.clone(), None),
            }
        };
        let port = match port {
            Some(p) if !p.is_empty() => Some(p.parse().map_err(|_| format!("bad port {p}"))?),
            _ => None,
        };
        return Ok(Dest {
            user,
            host,
            port,
            path: path.filter(|p| !p.is_empty()),
        });
    }
    let (user, rest) = match s.rfind('@') {
        Some(i) if !s[..i].contains(':') || s[..i].contains('[') => {
            (Some(s[..i].to_string()), &s[i + 1..])
        }
        _ => (None, s),
    };
    let (host, path) = if let Some(h) = rest.strip_prefix('[') {
        let (h, p) = h.split_once(']').ok_or("bad IPv6 address")?;
        (h.to_string(), p.strip_prefix(':').map(str::to_string))
    } else {
        match rest.split_once(':') {
            Some((h, p)) => (h.to_string(), Some(p.to_string())),
            None => (rest.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    Ok(Dest {
        user,
        host: unbracket(&host),
        port: None,
        path: path.filter(|p| !p.is_empty()),
    })
}

/// Runs `whelk sftp`.
pub(crate) fn main(args: Args) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sftp: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(args)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(255)
        }
    }
}

async fn run(args: Args) -> Result<u8, String> {
    let dest = parse_dest(&args.destination)?;
    let mut options = args.options.clone();
    // -q quiets ssh's warnings too (as `ssh -q`); an explicit -o LogLevel comes first and wins.
    if args.quiet {
        options.push("LogLevel=ERROR".into());
    }
    let conn = ConnOpts {
        port: args.port.or(dest.port),
        identities: args.identity.clone(),
        options,
        config_file: args.config_file.clone(),
        cipher: args.cipher.clone(),
    };
    let client = connect::connect(&conn, dest.user.clone(), &dest.host).await?;
    let sftp = whelk_tokio::sftp::SftpClient::connect(&client)
        .await
        .map_err(|e| format!("Connection closed: {e}"))?;
    if !args.quiet && args.batch.is_none() {
        println!("Connected to {}.", dest.host);
    }
    let mut shell = commands::Shell::new(sftp, &args).await?;
    if let Some(path) = &dest.path {
        match shell.start_at(path).await {
            Ok(true) => {}
            Ok(false) => return Ok(0),
            Err(e) => {
                eprintln!("{e}");
                return Ok(1);
            }
        }
    }
    let code = shell.run_input(args.batch.as_deref()).await;
    client.disconnect().await;
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        assert_eq!(
            parse_dest("alice@host:dir/x").unwrap(),
            Dest {
                user: Some("alice".into()),
                host: "host".into(),
                port: None,
                path: Some("dir/x".into())
            }
        );
        let d = parse_dest("sftp://bob@[::1]:2222/tmp").unwrap();
        assert_eq!(
            (
                d.user.as_deref(),
                d.host.as_str(),
                d.port,
                d.path.as_deref()
            ),
            (Some("bob"), "::1", Some(2222), Some("tmp"))
        );
        assert_eq!(parse_dest("host").unwrap().path, None);
        assert_eq!(parse_dest("[::1]:/x").unwrap().host, "::1");
    }
}
