//! davsync: synchronize calendars and address books between CalDAV/CardDAV servers and
//! local folders.
//!
//! The binary is a thin `main` over [`run`]. The library exposes the engine so integration
//! tests can drive it over in-memory storages.

pub mod cli;
pub mod commands;
pub mod config;
pub mod errors;
pub mod logging;
pub mod migrate;
pub mod output;
pub mod remember;
pub mod repair;
pub mod status;
pub mod sync;

use std::process::ExitCode;

use clap::Parser;

/// Parses the command line, runs the command, and returns the exit code (0 all synced,
/// 1 some item or collection failed, 2 usage or config error). Errors returned here are
/// usage or config errors, printed once by `main` with exit code 2.
pub fn run() -> anyhow::Result<ExitCode> {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version land here too, with exit code 0; usage errors with 2.
            let code = e.exit_code();
            let _ = e.print();
            return Ok(ExitCode::from(code.clamp(0, 255) as u8));
        }
    };
    logging::init(cli.verbose, cli.quiet, cli.log_format);
    match &cli.command {
        cli::Command::ImportVdirsyncer(args) => return migrate::run(args, cli.config.as_deref()),
        cli::Command::Completions(args) => return commands::shell::completions(args.shell),
        cli::Command::Man => return commands::shell::man(),
        _ => {}
    }
    let path = config::locate(cli.config.as_deref())?;
    tracing::info!("reading config {}", path.display());
    let config = config::load(&path)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(commands::dispatch(&config, &cli))
}
