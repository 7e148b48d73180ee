//! `davsync metasync [PAIR[/COLLECTION]]... [--dry-run]`

use std::process::ExitCode;

use futures::future::join_all;

use super::{exit_code, select};
use crate::cli::MetasyncArgs;
use crate::config::{backends, Config};
use crate::output::CliReporter;
use crate::sync::metasync_pair;

pub async fn run(config: &Config, args: &MetasyncArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let targets = select(config, &args.targets, true)?;
    let mut builder = if args.dry_run {
        backends::Builder::dry_run(config)
    } else {
        backends::Builder::new(config)
    };
    let mut specs = Vec::new();
    for t in &targets {
        specs.push((builder.pair_spec(t.pair)?, t.only.clone()));
    }
    super::check_discovered_collections(&config.status_path, &specs).await?;
    let reporter = CliReporter::new(args.dry_run, quiet);
    let runs = specs.iter().map(|(spec, only)| {
        metasync_pair(
            spec,
            &config.status_path,
            only.as_deref(),
            args.dry_run,
            &reporter,
        )
    });
    join_all(runs).await;
    reporter.finish();
    Ok(exit_code(reporter.failures()))
}
