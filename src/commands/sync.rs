//! `davsync sync [PAIR[/COLLECTION]]... [--dry-run] [--force-delete]`

use std::process::ExitCode;

use futures::future::join_all;

use super::{exit_code, select};
use crate::cli::SyncArgs;
use crate::config::{backends, Config};
use crate::output::CliReporter;
use crate::sync::{sync_pair, SyncOptions};

pub async fn run(config: &Config, args: &SyncArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let targets = select(config, &args.targets, true)?;
    // Every storage is built (and every password fetched) before any pair starts, so a
    // config error stops the run with nothing touched.
    let mut builder = backends::Builder::new(config);
    let mut specs = Vec::new();
    for t in &targets {
        specs.push((builder.pair_spec(t.pair)?, t.only.clone()));
    }
    let reporter = CliReporter::new(args.dry_run, quiet);
    let runs = specs.iter().map(|(spec, only)| {
        let opts = SyncOptions {
            dry_run: args.dry_run,
            force_delete: args.force_delete,
            only_collections: only.clone(),
        };
        let reporter = &reporter;
        async move {
            tracing::info!(pair = %spec.name, "syncing");
            sync_pair(spec, &config.status_path, &opts, reporter).await
        }
    });
    let reports = join_all(runs).await;
    reporter.finish();
    let engine_failures: usize = reports.iter().map(|r| r.failures).sum();
    Ok(exit_code(engine_failures.max(reporter.failures())))
}
