//! davsync: synchronize calendars and address books between CalDAV/CardDAV servers and
//! local folders.
//!
//! The binary is a thin `main` over [`run`]. The library exposes the engine so integration
//! tests can drive it over in-memory storages.

pub mod cli;
pub mod commands;
pub mod config;
pub mod errors;
pub mod lock;
pub mod output;
pub mod remember;
pub mod repair;
pub mod status;
pub mod sync;
pub mod watch;

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
    // Before anything else opens a file, so the number can only be the inherited one.
    if let cli::Command::Watch(cli::WatchArgs {
        ready_fd: Some(fd), ..
    }) = &cli.command
    {
        watch::ready::claim_fd(*fd)?;
    }
    init_logging(cli.verbose, cli.quiet);
    let path = config::locate(cli.config.as_deref())?;
    tracing::info!("reading config {}", path.display());
    let config = config::load(&path)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(commands::dispatch(&config, &cli))
}

/// Logs go to stderr: warnings by default, `-v` info, `-vv` debug (each HTTP request),
/// `-vvv` trace, `-q` errors only. Only davsync's own crates get past `warn`, so no
/// dependency's debug output (headers included) can reach the terminal.
fn init_logging(verbose: u8, quiet: bool) {
    let ours = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let base = if quiet { "error" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::new(format!(
        "{base},davsync={ours},davsync_storages={ours}"
    ));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(verbose >= 2)
        .without_time()
        .try_init();
}
