//! One round of work: the pairs and collections a check found changed, synced with the
//! engine exactly as `davsync sync PAIR/COLLECTION` would, then one summary line.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crate::output::CliReporter;
use crate::sync::{sync_pair, PairSpec, Reporter, SyncOptions};

use super::local::Unit;

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

/// Counts what a round did while passing every line on to the terminal.
struct Tally<'r> {
    inner: &'r CliReporter,
    uploaded: AtomicUsize,
    updated: AtomicUsize,
    deleted: AtomicUsize,
    resolved: AtomicUsize,
    unresolved: AtomicUsize,
    failed: AtomicUsize,
}

impl Reporter for Tally<'_> {
    fn change(&self, line: &str) {
        let counter = if line.starts_with("Copying (uploading) item ") {
            Some(&self.uploaded)
        } else if line.starts_with("Copying (updating) item ") {
            Some(&self.updated)
        } else if line.starts_with("Deleting item ") {
            Some(&self.deleted)
        } else if line.starts_with("Conflict: item ") && line.contains(" resolved by ") {
            Some(&self.resolved)
        } else if line.starts_with("Conflict: item ") && line.contains(" left unresolved") {
            Some(&self.unresolved)
        } else {
            None
        };
        if let Some(c) = counter {
            c.fetch_add(1, Ordering::Relaxed);
        }
        self.inner.change(line);
    }

    fn failure(&self, message: &str) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        self.inner.failure(message);
    }

    fn progress(&self, scope: &str, done: u64, total: u64) {
        self.inner.progress(scope, done, total);
    }
}

/// Syncs the given pairs (concurrently) and prints the round's summary line unless `quiet`.
pub async fn run(
    work: &[PairWork<'_>],
    status_dir: &Path,
    reporter: &CliReporter,
    quiet: bool,
) -> RoundOutcome {
    let started = Instant::now();
    let tally = Tally {
        inner: reporter,
        uploaded: AtomicUsize::new(0),
        updated: AtomicUsize::new(0),
        deleted: AtomicUsize::new(0),
        resolved: AtomicUsize::new(0),
        unresolved: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
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
        };
        let tally = &tally;
        async move {
            tracing::info!(pair = %w.pair.name, "syncing");
            sync_pair(w.pair, status_dir, &opts, tally).await
        }
    });
    let reports = futures::future::join_all(runs).await;
    reporter.finish();
    let failures: Vec<usize> = reports.iter().map(|r| r.failures).collect();
    let collections: usize = work.iter().map(|w| collections_in(w, status_dir)).sum();
    if !quiet {
        let get = |c: &AtomicUsize| c.load(Ordering::Relaxed);
        // SUMMARY LINE: the one call site of the round summary. It counts the change lines
        // the engine reports; the engine's own summary of typed events replaces this once
        // it exists, with the same wording (interface.md, "After every sync").
        eprintln!(
            "Synced {} pairs, {} collections: {} uploaded, {} updated, {} deleted, {} conflicts \
             resolved, {} unresolved, {} failed in {:.1}s",
            work.len(),
            collections,
            get(&tally.uploaded),
            get(&tally.updated),
            get(&tally.deleted),
            get(&tally.resolved),
            get(&tally.unresolved),
            failures.iter().sum::<usize>().max(get(&tally.failed)),
            started.elapsed().as_secs_f64()
        );
    }
    RoundOutcome { failures }
}

/// How many collections the round covered for a pair: the ones named, or all the status
/// knows after a whole-pair round.
fn collections_in(w: &PairWork<'_>, status_dir: &Path) -> usize {
    let whole = w.units.is_empty() || w.units.contains(&Unit::Collections);
    if !whole {
        return w.units.len();
    }
    crate::status::summary(status_dir, &w.pair.name)
        .map(|s| s.len())
        .unwrap_or(0)
}
