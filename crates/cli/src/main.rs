//! `whelk`: an SSH client, server, SFTP/SCP client, key generator and agent whose flags
//! follow OpenSSH's (`whelk ssh`, `whelk server`, `whelk sftp`, `whelk scp`, `whelk keygen`,
//! `whelk agent`).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod agent;
mod common;
mod keygen;
mod scp;
mod server;
mod sftp;
mod ssh;

/// The `whelk` command line.
#[derive(Debug, Parser)]
#[command(
    name = "whelk",
    version,
    about = "SSH client, server, SFTP, SCP, keygen and agent"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// One subcommand per OpenSSH tool.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once, at start-up
enum Command {
    /// Connect to a host and run a command or a shell (like `ssh`).
    Ssh(ssh::Args),
    /// Run a per-user SSH server (like `sshd`, without root).
    Server(server::Args),
    /// Transfer files interactively or in batch (like `sftp`).
    Sftp(sftp::Args),
    /// Copy files (like `scp`).
    Scp(scp::Args),
    /// Generate and inspect keys and certificates (like `ssh-keygen`).
    Keygen(keygen::Args),
    /// Hold keys for other programs (like `ssh-agent`).
    Agent(agent::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Ssh(args) => ssh::main(args),
        Command::Server(args) => server::main(args),
        Command::Sftp(args) => sftp::main(args),
        Command::Scp(args) => scp::main(args),
        Command::Keygen(args) => keygen::main(args),
        Command::Agent(args) => agent::main(args),
    }
}
