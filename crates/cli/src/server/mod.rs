//! `whelk server`.

use std::process::ExitCode;

/// Command-line arguments of `whelk server`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Arguments (not parsed yet).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    rest: Vec<String>,
}

/// Runs `whelk server`.
pub(crate) fn main(args: Args) -> ExitCode {
    let _ = args.rest;
    eprintln!("whelk server: not implemented yet");
    ExitCode::from(255)
}
