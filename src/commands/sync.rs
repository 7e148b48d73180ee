//! `davsync sync [PAIR[/COLLECTION]]... [--dry-run] [--force-delete]`

use std::process::ExitCode;
use std::sync::Arc;

use super::{exit_code, select};
use crate::cli::SyncArgs;
use crate::config::{backends, Config};
use crate::output::CliReporter;
use crate::sync::{sync_pair, SyncOptions};

pub async fn run(config: &Config, args: &SyncArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let targets = select(config, &args.targets, true)?;
    // Every storage is built (and every password fetched) before any pair starts, so a
    // config error stops the run with nothing touched.
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
    let started = std::time::Instant::now();
    let reporter = Arc::new(CliReporter::new(args.dry_run, quiet));
    // A pair whose status another davsync holds fails alone, untouched; a dry run writes no
    // status and needs no lock.
    let mut locks = Vec::new();
    if !args.dry_run {
        specs.retain(
            |(spec, _)| match crate::lock::acquire(&config.status_path, &spec.name) {
                Ok(lock) => {
                    locks.push(lock);
                    true
                }
                Err(e) => {
                    reporter.failure(&e.to_string());
                    false
                }
            },
        );
    }
    let pairs = specs.len();
    // Each pair is a task of its own, so pairs parse, hash and plan on every core.
    let mut tasks = tokio::task::JoinSet::new();
    for (spec, only) in specs {
        let opts = SyncOptions {
            dry_run: args.dry_run,
            force_delete: args.force_delete,
            only_collections: only,
            trash: Some(super::trash::trash_of(config)),
        };
        let reporter = reporter.clone();
        let status_path = config.status_path.clone();
        tasks.spawn(async move {
            tracing::info!(pair = %spec.name, "syncing");
            sync_pair(&spec, &status_path, &opts, reporter.as_ref()).await
        });
    }
    while let Some(joined) = tasks.join_next().await {
        // A panic in a pair is a bug; it must not pass for success.
        if let Err(e) = joined {
            reporter.failure(&format!("a pair's sync stopped unexpectedly: {e}"));
        }
    }
    if !args.dry_run {
        // Old versions leave the trash at the end of a sync (see docs/conflicts.md).
        if let Err(e) = super::trash::trash_of(config).prune_if_due(chrono::Utc::now()) {
            reporter.failure(&e.to_string());
        }
    }
    reporter.finish();
    drop(locks);
    // Every event went through the reporter, which counted it once: the summary and the exit
    // code come from the same counts.
    reporter.summary(pairs, started.elapsed());
    Ok(exit_code(reporter.failures()))
}
