//! `whelk sftp`.

use std::process::ExitCode;

/// Command-line arguments of `whelk sftp`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Arguments (not parsed yet).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    rest: Vec<String>,
}

/// Runs `whelk sftp`.
pub(crate) fn main(args: Args) -> ExitCode {
    let _ = args.rest;
    eprintln!("whelk sftp: not implemented yet");
    ExitCode::from(255)
}
