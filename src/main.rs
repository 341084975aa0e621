//! `linkcast` binary: parse flags, set up logging, dispatch to `cli::*`. Nothing else.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    cli::init_tracing(args.verbose, args.quiet);
    match cli::run(args.command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line with the whole chain, e.g. "ingest failed: a.csv:3:2: ...".
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
