//! One round of work: the pairs and collections a check found changed, synced with the
//! engine exactly as `davsync sync PAIR/COLLECTION` would, then one summary line.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crate::output::CliReporter;
use crate::sync::{sync_pair, PairSpec, SyncOptions};
use crate::trash::Trash;

use super::local::Unit;
use super::stop::{QuietWhenStopping, StopFlag};

/// What one round does for one pair.
pub struct PairWork<'p> {
    pub pair: &'p PairSpec,
    /// Empty or holding [`Unit::Collections`]: the whole pair (with discovery).
    pub units: BTreeSet<Unit>,
}

/// The outcome of a round, per pair in the order given: the failures of each.
pub struct RoundOutcome {
    pub failures: Vec<usize>,
}

/// Syncs the given pairs (concurrently) and prints the round's summary line unless `quiet`.
/// Each round has a reporter of its own, so its summary counts that round alone.
pub async fn run(
    work: &[PairWork<'_>],
    status_dir: &Path,
    trash: &Trash,
    quiet: bool,
    stop: &StopFlag,
) -> RoundOutcome {
    let started = Instant::now();
    let cli = CliReporter::new(false, quiet);
    let reporter = QuietWhenStopping {
        inner: &cli,
        stop: stop.clone(),
        left: AtomicUsize::new(0),
    };
    let runs = work.iter().map(|w| {
        let whole = w.units.is_empty() || w.units.contains(&Unit::Collections);
        let only = (!whole && w.pair.collections.is_some()).then(|| {
            w.units
                .iter()
                .filter_map(|u| match u {
                    Unit::Collection(c) => Some(c.clone()),
                    Unit::Collections => None,
                })
                .collect()
        });
        let opts = SyncOptions {
            dry_run: false,
            force_delete: false,
            only_collections: only,
            trash: Some(trash.clone()),
        };
        let reporter = &reporter;
        async move {
            tracing::info!(pair = %w.pair.name, "syncing");
            sync_pair(w.pair, status_dir, &opts, reporter).await
        }
    });
    let reports = futures::future::join_all(runs).await;
    if let Err(e) = trash.prune_if_due(chrono::Utc::now()) {
        tracing::warn!("{e}");
    }
    cli.finish();
    cli.summary(work.len(), started.elapsed());
    let left = reporter.left.load(Ordering::Relaxed);
    if left > 0 {
        tracing::warn!("stopped: {left} pieces of work of this round are left for the next sync");
    }
    RoundOutcome {
        // Work refused because davsync is stopping is no failure to retry.
        failures: reports
            .iter()
            .map(|r| r.failures.saturating_sub(left))
            .collect(),
    }
}
