//! davsync: synchronize calendars and address books between CalDAV/CardDAV servers and
//! local folders.
//!
//! The binary is a thin `main` over [`run`]; the storages (the item model, the `Storage`
//! trait and its backends) are the `davsync-storages` crate. This crate holds the rest:
//!
//! # The parts
//!
//! - [`cli`] and [`commands`]: the command line; one module per command, each returning the
//!   exit code for runtime outcomes and an error only for usage and config errors (exit 2).
//! - [`config`]: the TOML config, parsed strictly (every value keeps its span), then resolved
//!   into validated [`sync::PairSpec`]s holding the built storages.
//! - [`sync`]: **the engine**. A pair syncs collection by collection; each collection is a
//!   [`sync::job::CollectionJob`] that
//!   1. reads both sides ([`sync::read`]: a delta since the stored token, one whole read,
//!      or a listing; a collection whose inputs did not change since a sync that found
//!      nothing to do stops right there),
//!   2. decides per item ([`sync::plan`], pure: the etag-mapping algorithm, with
//!      [`sync::policy`] for read-only sides and [`sync::conflict`] for conflicts),
//!   3. performs the resulting [`sync::plan::Op`]s ([`sync::apply`]: conditional writes and
//!      the rules for races with other clients),
//!   4. records each result in the status once the write is durable ([`sync::journal`]).
//!
//!   A first sync into an empty side streams instead ([`sync::fresh`]), through the same
//!   per-item decision. Values that exist once per side are a [`sync::BySide`].
//! - [`sync::event`]: what the engine reports is typed [`sync::Event`]s into a
//!   [`sync::Reporter`]; their `Display` is the line users read. [`output`] renders them
//!   for the terminal and counts them (the summary line, the exit code).
//! - [`status`]: the SQLite database per pair that remembers, per item and side, the href,
//!   etag and content hash of the last sync ([`status::SideState`], typed as the storages
//!   type them), and per collection and side the token for asking what changed since.
//! - [`errors`]: the one renderer of an error and its causes, for every command.
//! - [`repair`]: `davsync repair` (fresh UIDs for items without one or sharing one).
//!
//! docs/sync-algorithm.md explains the algorithm and why an interrupted sync is safe.

// Outside tests, code says what it expected (`expect`) or handles the error.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod cli;
pub mod commands;
pub mod config;
pub mod diff;
pub mod errors;
pub mod lock;
pub mod logging;
pub mod migrate;
pub mod output;
pub mod remember;
pub mod repair;
pub mod status;
pub mod sync;
#[cfg(test)]
mod test_support;
pub mod trash;
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
