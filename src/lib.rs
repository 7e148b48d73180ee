//! davsync: synchronize calendars and address books between CalDAV/CardDAV servers and
//! local folders.
//!
//! The binary is a thin `main` over [`run`]. The library exposes the engine so integration
//! tests can drive it over in-memory storages.

pub mod repair;
pub mod status;
pub mod sync;

use std::process::ExitCode;

/// Parses the command line, runs the command, and returns the exit code (0 all synced,
/// 1 some item or collection failed, 2 usage or config error). Errors returned here are
/// printed once by `main`.
pub fn run() -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet wired")
}
