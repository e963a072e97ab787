//! `whelk scp`.

use std::process::ExitCode;

/// Command-line arguments of `whelk scp`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Arguments (not parsed yet).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    rest: Vec<String>,
}

/// Runs `whelk scp`.
pub(crate) fn main(args: Args) -> ExitCode {
    let _ = args.rest;
    eprintln!("whelk scp: not implemented yet");
    ExitCode::from(255)
}
