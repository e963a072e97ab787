//! `whelk scp [-P port] [-r] [-p] [-i key] [-O] [-o opt] [-F cfg] source... target`:
//! copies with OpenSSH's operand syntax on whelk-tokio's [`whelk_tokio::scp`].
//!
//! - Operands: `[user@]host:path` (`[addr]:path` for IPv6), `scp://[user@]host[:port][/path]`
//!   or local paths (a colon after a `/` is part of a local name). An empty remote path is
//!   the remote home directory.
//! - Protocol: SFTP by default (as OpenSSH 9), the legacy scp/rcp protocol with `-O`.
//! - Remote to remote copies always go through this machine (OpenSSH's `-3`, accepted);
//!   with SFTP the data streams from one server to the other, nothing stored locally.
//!   Local to local copies run `cp`.
//! - Exit status 0 on success, 1 if anything failed (each failure is reported).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use whelk_tokio::Client;
use whelk_tokio::scp::{Options, Protocol};

use crate::sftp::connect::{self, ConnOpts, split_user, unbracket};

/// Command-line arguments of `whelk scp`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Port to connect to on the remote host(s).
    #[arg(short = 'P', value_name = "port")]
    port: Option<u16>,
    /// Copy directories recursively.
    #[arg(short = 'r')]
    recursive: bool,
    /// Preserve modification times, access times and modes.
    #[arg(short = 'p')]
    preserve: bool,
    /// Identity (private key) file; repeatable.
    #[arg(short = 'i', value_name = "identity_file")]
    identity: Vec<String>,
    /// Use the legacy scp/rcp protocol instead of SFTP.
    #[arg(short = 'O')]
    legacy: bool,
    /// Use SFTP (the default).
    #[arg(short = 's')]
    sftp: bool,
    /// Option in ssh_config syntax (Option=value); repeatable.
    #[arg(short = 'o', value_name = "ssh_option")]
    options: Vec<String>,
    /// Configuration file ("none" for none; default ~/.ssh/config).
    #[arg(short = 'F', value_name = "ssh_config")]
    config_file: Option<String>,
    /// Ciphers, comma-separated.
    #[arg(short = 'c', value_name = "cipher")]
    cipher: Option<String>,
    /// Copy between two remote hosts through this machine (always done; accepted).
    #[arg(short = '3')]
    through_local: bool,
    /// Batch mode: never prompt.
    #[arg(short = 'B')]
    batch: bool,
    /// Compression (accepted; whelk does not compress).
    #[arg(short = 'C')]
    compression: bool,
    /// Quiet (no progress meter; whelk scp shows none).
    #[arg(short = 'q')]
    quiet: bool,
    /// Verbose (accepted for compatibility).
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    verbose: u8,
    /// Sources, then the target.
    #[arg(required = true, num_args = 2..)]
    operands: Vec<String>,
}

/// One operand.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Operand {
    Local(PathBuf),
    Remote {
        user: Option<String>,
        host: String,
        port: Option<u16>,
        path: String,
    },
}

/// Splits an operand the way OpenSSH's `colon()` does.
fn parse_operand(s: &str) -> Result<Operand, String> {
    if let Some(rest) = s.strip_prefix("scp://") {
        let (authority, path) = match rest.split_once('/') {
            Some((a, p)) => (a, p.to_string()),
            None => (rest, String::new()),
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
        return Ok(Operand::Remote {
            user,
            host,
            port,
            path,
        });
    }
    if s.starts_with('/') || s.starts_with("./") {
        return Ok(Operand::Local(PathBuf::from(s)));
    }
    let mut in_bracket = false;
    for (i, c) in s.char_indices() {
        match c {
            '[' => in_bracket = true,
            ']' => in_bracket = false,
            '/' if !in_bracket => break,
            ':' if !in_bracket => {
                let (left, right) = s.split_at(i);
                let path = right.get(1..).unwrap_or_default().to_string();
                let (user, host) = split_user(left);
                if host.is_empty() {
                    return Err(format!("{s}: empty host name"));
                }
                return Ok(Operand::Remote {
                    user,
                    host: unbracket(&host),
                    port: None,
                    path,
                });
            }
            _ => {}
        }
    }
    Ok(Operand::Local(PathBuf::from(s)))
}

type Key = (Option<String>, String, Option<u16>);

struct Conns {
    opts: ConnOpts,
    map: HashMap<Key, Client>,
}

impl Conns {
    async fn get(
        &mut self,
        user: &Option<String>,
        host: &str,
        port: Option<u16>,
    ) -> Result<Client, String> {
        let key = (user.clone(), host.to_string(), port);
        if let Some(c) = self.map.get(&key) {
            return Ok(c.clone());
        }
        let mut o = self.opts.clone();
        if port.is_some() {
            o.port = port;
        }
        let c = connect::connect(&o, user.clone(), host).await?;
        self.map.insert(key, c.clone());
        Ok(c)
    }
}

/// Runs `whelk scp`.
pub(crate) fn main(args: Args) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("scp: {e}");
            return ExitCode::from(1);
        }
    };
    ExitCode::from(rt.block_on(run(args)))
}

fn remote_path(p: &str) -> &str {
    if p.is_empty() { "." } else { p }
}

async fn run(args: Args) -> u8 {
    let mut options = args.options.clone();
    if args.batch {
        options.push("BatchMode=yes".into());
    }
    // -q quiets ssh's warnings too (as `ssh -q`); an explicit -o LogLevel comes first and wins.
    if args.quiet {
        options.push("LogLevel=ERROR".into());
    }
    let mut conns = Conns {
        opts: ConnOpts {
            port: args.port,
            identities: args.identity.clone(),
            options,
            config_file: args.config_file.clone(),
            cipher: args.cipher.clone(),
        },
        map: HashMap::new(),
    };
    let opts = Options {
        recursive: args.recursive,
        preserve: args.preserve,
        protocol: if args.legacy && !args.sftp {
            Protocol::Legacy
        } else {
            Protocol::Sftp
        },
    };
    let mut operands = Vec::new();
    for s in &args.operands {
        match parse_operand(s) {
            Ok(o) => operands.push(o),
            Err(e) => {
                eprintln!("scp: {e}");
                return 1;
            }
        }
    }
    let Some(target) = operands.pop() else {
        eprintln!("usage: whelk scp [-rpO] [-P port] [-i identity] source ... target");
        return 1;
    };
    let mut failed = false;
    let mut report = |r: Result<(), String>| {
        if let Err(e) = r {
            eprintln!("scp: {e}");
            failed = true;
        }
    };
    match &target {
        Operand::Remote {
            user,
            host,
            port,
            path,
        } => {
            let to = match conns.get(user, host, *port).await {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("scp: {e}");
                    return 1;
                }
            };
            let dst = remote_path(path).to_string();
            let locals: Vec<&Path> = operands
                .iter()
                .filter_map(|o| match o {
                    Operand::Local(p) => Some(p.as_path()),
                    Operand::Remote { .. } => None,
                })
                .collect();
            if !locals.is_empty() {
                report(
                    whelk_tokio::scp::upload(&to, &locals, &dst, &opts)
                        .await
                        .map_err(|e| e.to_string()),
                );
            }
            for o in &operands {
                if let Operand::Remote {
                    user,
                    host,
                    port,
                    path,
                } = o
                {
                    let r = match conns.get(user, host, *port).await {
                        Ok(from) => whelk_tokio::scp::copy_between(
                            &from,
                            &[remote_path(path)],
                            &to,
                            &dst,
                            &opts,
                        )
                        .await
                        .map_err(|e| e.to_string()),
                        Err(e) => Err(e),
                    };
                    report(r);
                }
            }
        }
        Operand::Local(dst) => {
            for o in &operands {
                match o {
                    Operand::Remote {
                        user,
                        host,
                        port,
                        path,
                    } => {
                        let r = match conns.get(user, host, *port).await {
                            Ok(from) => {
                                whelk_tokio::scp::download(&from, &[remote_path(path)], dst, &opts)
                                    .await
                                    .map_err(|e| e.to_string())
                            }
                            Err(e) => Err(e),
                        };
                        report(r);
                    }
                    Operand::Local(src) => {
                        let mut cmd = std::process::Command::new("cp");
                        if opts.recursive {
                            cmd.arg("-r");
                        }
                        if opts.preserve {
                            cmd.arg("-p");
                        }
                        let r = cmd
                            .arg("--")
                            .arg(src)
                            .arg(dst)
                            .status()
                            .map_err(|e| format!("cp: {e}"))
                            .and_then(|s| {
                                if s.success() {
                                    Ok(())
                                } else {
                                    Err(format!("cp {} failed", src.display()))
                                }
                            });
                        report(r);
                    }
                }
            }
        }
    }
    for c in conns.map.values() {
        c.disconnect().await;
    }
    u8::from(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operands() {
        assert_eq!(
            parse_operand("u@h:dir/f").unwrap(),
            Operand::Remote {
                user: Some("u".into()),
                host: "h".into(),
                port: None,
                path: "dir/f".into()
            }
        );
        assert_eq!(
            parse_operand("a/b:c").unwrap(),
            Operand::Local("a/b:c".into())
        );
        assert_eq!(
            parse_operand("/x:y").unwrap(),
            Operand::Local("/x:y".into())
        );
        assert!(
            matches!(parse_operand("[::1]:p").unwrap(), Operand::Remote { host, .. } if host == "::1")
        );
        assert!(matches!(
            parse_operand("scp://u@h:2200/p").unwrap(),
            Operand::Remote {
                port: Some(2200),
                ..
            }
        ));
        assert_eq!(
            parse_operand("file").unwrap(),
            Operand::Local("file".into())
        );
    }
}
