//! The sync engine: pairs two storages collection by collection with the etag-mapping
//! algorithm, keeping a status per pair (see [`crate::status`]).
//!
//! The engine plans, then executes: for each collection it compares the two listings with
//! the status, produces typed [`plan::Op`]s (each with a one-line `Display` that is exactly the
//! line users see), and runs them. `--dry-run` runs the same code over storages wrapped in
//! `DryRun` and a status that is never written.
//!
//! The algorithm itself lives in [`plan`] (src/sync/plan.rs); docs/sync-algorithm.md explains it.

use std::sync::Arc;

use davsync_storages::{MetaKey, Storage};
use futures::StreamExt;

pub mod collections;
pub mod conflict;
pub mod execute;
pub mod metasync;
pub mod plan;

#[cfg(test)]
mod tests;

use crate::status::Status;
use execute::{describe, CollectionJob, SideCtx};
use plan::{Labels, PlanContext};

/// How many collections of one pair sync at once.
const COLLECTION_CONCURRENCY: usize = 4;

/// Which storage of a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    A,
    B,
}

/// One conflict resolution strategy (`conflict_resolution` in the config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    AWins,
    BWins,
    NewerWins,
    KeepBoth,
    /// Runs the command with two temporary files (a's, b's) appended; the first file's
    /// content after exit 0 is the merged result.
    Command(Vec<String>),
}

/// What to do when the writable side of a pair with a read-only side changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PartialSync {
    #[default]
    Revert,
    Error,
    Ignore,
}

/// One element of a pair's `collections` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CollectionSpec {
    FromA,
    FromB,
    /// The same name on both sides.
    Named(String),
    /// `["name", "name_on_a", "name_on_b"]`.
    Mapped {
        name: String,
        a: String,
        b: String,
    },
}

/// A configured storage as the engine sees it: its config name and the backend (already
/// wrapped in `ReadOnly` when configured so).
#[derive(Clone)]
pub struct StorageHandle {
    pub name: String,
    pub storage: Arc<dyn Storage>,
}

/// A resolved, validated pair.
#[derive(Clone)]
pub struct PairSpec {
    pub name: String,
    pub a: StorageHandle,
    pub b: StorageHandle,
    /// `None`: the storages' path/url are themselves the one collection.
    pub collections: Option<Vec<CollectionSpec>>,
    /// Tried in order; empty: every conflict stays unresolved.
    pub conflict_resolution: Vec<Strategy>,
    pub partial_sync: PartialSync,
    pub metadata: Vec<MetaKey>,
}

/// Options of one `davsync sync` run.
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    pub dry_run: bool,
    pub force_delete: bool,
    /// `PAIR/COLLECTION` arguments: only these collections of the pair (None: all).
    pub only_collections: Option<Vec<String>>,
}

/// Everything the engine tells the user goes through this; the CLI renders it (plain lines,
/// `Would: ` prefix, a progress bar on a terminal). Logs go through `tracing`.
pub trait Reporter: Send + Sync {
    /// One change made, exactly as interface.md spells it (e.g.
    /// `Copying (uploading) item UID to storage/collection`), without the `Would: ` prefix
    /// that the renderer adds in dry-run.
    fn change(&self, line: &str);
    /// One failed item or collection, the message naming it. Printed to stderr even with `-q`.
    fn failure(&self, message: &str);
    /// Progress of long work: `done` of `total` items in `scope` (`pair/collection`).
    fn progress(&self, scope: &str, done: u64, total: u64) {
        let _ = (scope, done, total);
    }
}

/// The outcome of one pair: how many items/collections failed (0: exit code 0).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PairReport {
    pub failures: usize,
}

/// One collection as `discover` found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredCollection {
    /// The name the pair uses for it (`<pair>/<name>`).
    pub name: String,
    /// Where it lives on a / b (the `Collection::href`), `None` when missing there.
    pub a: Option<String>,
    pub b: Option<String>,
    /// The side it was created on by this run.
    pub created: Option<Side>,
}

/// Syncs one pair. Item and collection failures are reported and counted in the
/// [`PairReport`]; failures of the whole pair (status unreadable, discovery failed) too.
pub async fn sync_pair(
    pair: &PairSpec,
    status_dir: &std::path::Path,
    opts: &SyncOptions,
    reporter: &dyn Reporter,
) -> PairReport {
    let status = match open_status(pair, status_dir, opts.dry_run, reporter) {
        Some(s) => s,
        None => return PairReport { failures: 1 },
    };
    let (a, b) = storages(pair, opts.dry_run);
    let pairing = match collections::pair_collections(pair, &a, &b, &status, true, reporter).await {
        Ok(p) => p,
        Err(e) => {
            reporter.failure(&format!(
                "pair {}: finding collections failed: {}",
                pair.name,
                describe(&e)
            ));
            return PairReport { failures: 1 };
        }
    };
    let mut failures = pairing.failures;
    if let (Some(only), Some(_)) = (&opts.only_collections, &pair.collections) {
        for name in only {
            if !pairing.collections.iter().any(|p| p.name == *name) {
                reporter.failure(&format!(
                    "pair {}: no collection {name} on either side (or not selected by the \
                     pair's `collections`)",
                    pair.name
                ));
                failures += 1;
            }
        }
    }
    let mut jobs = Vec::new();
    for paired in pairing.collections {
        if let Some(only) = &opts.only_collections {
            if pair.collections.is_some() && !only.contains(&paired.name) {
                continue;
            }
        }
        if paired.vanished {
            failures += collections::vanished(pair, &a, &b, &paired, &status, opts, reporter).await;
            continue;
        }
        let (Some(ca), Some(cb)) = (paired.a.clone(), paired.b.clone()) else {
            continue;
        };
        if let Err(e) = status.set_collection(&paired.name, &ca.href, &cb.href) {
            reporter.failure(&format!(
                "{}: recording the collection in the status: {e}",
                pair_label(pair, &paired.name)
            ));
            failures += 1;
            continue;
        }
        let phantom = opts.dry_run;
        jobs.push(CollectionJob {
            name: paired.name.clone(),
            a: SideCtx {
                label: storage_label(pair, &pair.a.name, &ca.name),
                storage: a.clone(),
                collection: ca,
                phantom: phantom && paired.created == Some(Side::A),
            },
            b: SideCtx {
                label: storage_label(pair, &pair.b.name, &cb.name),
                storage: b.clone(),
                collection: cb,
                phantom: phantom && paired.created == Some(Side::B),
            },
            status: &status,
            ctx: PlanContext {
                labels: Labels {
                    pair: pair_label(pair, &paired.name),
                    a: String::new(),
                    b: String::new(),
                },
                read_only_a: a.read_only(),
                read_only_b: b.read_only(),
                partial_sync: pair.partial_sync,
                force_delete: opts.force_delete,
            },
            strategies: &pair.conflict_resolution,
            reporter,
            dry_run: opts.dry_run,
            unrecorded: Default::default(),
        });
    }
    for job in &mut jobs {
        job.ctx.labels.a = job.a.label.clone();
        job.ctx.labels.b = job.b.label.clone();
    }
    // Boxed as `Send` futures: with the closure's own type, the compiler cannot prove the
    // pair's future `Send` for every lifetime, which spawning the pair as a task needs.
    let runs: Vec<futures::future::BoxFuture<'_, usize>> =
        jobs.iter().map(|j| Box::pin(j.run()) as _).collect();
    let mut runs = futures::stream::iter(runs).buffer_unordered(COLLECTION_CONCURRENCY);
    while let Some(n) = runs.next().await {
        failures += n;
    }
    PairReport { failures }
}

/// `<pair>` or `<pair>/<collection>`.
pub(crate) fn pair_label(pair: &PairSpec, collection: &str) -> String {
    if pair.collections.is_none() {
        pair.name.clone()
    } else {
        format!("{}/{collection}", pair.name)
    }
}

/// `<storage>` or `<storage>/<collection>`.
pub(crate) fn storage_label(pair: &PairSpec, storage: &str, collection: &str) -> String {
    if pair.collections.is_none() {
        storage.to_owned()
    } else {
        format!("{storage}/{collection}")
    }
}

/// The pair's status: on disk, or for a dry run an in-memory copy that is never written.
pub(crate) fn open_status(
    pair: &PairSpec,
    status_dir: &std::path::Path,
    dry_run: bool,
    reporter: &dyn Reporter,
) -> Option<Status> {
    let res = if dry_run {
        Status::open_dry(status_dir, &pair.name)
    } else {
        Status::open(status_dir, &pair.name)
    };
    match res {
        Ok(s) => Some(s),
        Err(e) => {
            reporter.failure(&format!(
                "pair {}: opening the status {}: {e}",
                pair.name,
                crate::status::path_for(status_dir, &pair.name).display()
            ));
            None
        }
    }
}

/// The pair's storages, wrapped in `DryRun` for a dry run.
pub(crate) fn storages(pair: &PairSpec, dry_run: bool) -> (Arc<dyn Storage>, Arc<dyn Storage>) {
    let wrap = |s: &Arc<dyn Storage>| -> Arc<dyn Storage> {
        if dry_run {
            Arc::new(davsync_storages::wrappers::DryRun::new(s.clone()))
        } else {
            s.clone()
        }
    };
    (wrap(&pair.a.storage), wrap(&pair.b.storage))
}

/// Discovers the collections of both sides and pairs them per the pair's `collections`,
/// creating missing ones when `create` (unless that side is read-only). Reads the status
/// (to tell a vanished collection from a new one) but never writes it.
pub async fn discover_pair(
    pair: &PairSpec,
    status_dir: &std::path::Path,
    create: bool,
    reporter: &dyn Reporter,
) -> Result<Vec<DiscoveredCollection>, davsync_storages::Error> {
    let status = Status::open_dry(status_dir, &pair.name).map_err(|e| {
        davsync_storages::Error::new(
            davsync_storages::ErrorKind::Io,
            format!("pair {}: reading the status", pair.name),
        )
        .with_source(e)
    })?;
    let (a, b) = storages(pair, false);
    // `discover` prints one line per collection, marking the created ones itself: the
    // `Creating collection` change lines of a sync would say the same thing twice.
    struct FailuresOnly<'r>(&'r dyn Reporter);
    impl Reporter for FailuresOnly<'_> {
        fn change(&self, _line: &str) {}
        fn failure(&self, message: &str) {
            self.0.failure(message)
        }
    }
    let quiet = FailuresOnly(reporter);
    let pairing = collections::pair_collections(pair, &a, &b, &status, create, &quiet).await?;
    Ok(pairing
        .collections
        .into_iter()
        .map(|p| DiscoveredCollection {
            name: p.name,
            a: p.a.map(|c| c.href),
            b: p.b.map(|c| c.href),
            created: p.created,
        })
        .collect())
}

/// Syncs the collection properties named in the pair's `metadata`.
pub async fn metasync_pair(
    pair: &PairSpec,
    status_dir: &std::path::Path,
    only_collections: Option<&[String]>,
    reporter: &dyn Reporter,
) -> PairReport {
    metasync::metasync_pair(pair, status_dir, only_collections, reporter).await
}
