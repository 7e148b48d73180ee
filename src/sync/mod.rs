//! The sync engine: pairs two storages collection by collection with the etag-mapping
//! algorithm, keeping a status per pair (see [`crate::status`]).
//!
//! A sync of one pair: [`collections`] pairs the collections of both sides (creating the
//! missing ones); then each collection is a [`job::CollectionJob`] that runs these steps,
//! one module each:
//!
//! | step | module | what it holds |
//! |---|---|---|
//! | read | [`read`], [`fresh`] | how a side is listed (delta, whole read, listing), the no-op digest, the streaming first sync |
//! | decide | [`plan`] | THE algorithm: the decision per item, pure, no I/O |
//! | policy | [`policy`] | `partial_sync`: the one rule for changes a read-only side cannot take |
//! | resolve | [`conflict`] | the conflict strategies |
//! | act | [`apply`] | performing ops, the race rules (412, vanished items, a delete meeting an edit) |
//! | record | [`journal`] | status rows queued until the writes are durable, then committed |
//! | tell | [`event`] | typed events: the lines users see, the counts of the summary |
//!
//! [`side`] holds [`Side`] and [`BySide`], which every per-side value uses. `--dry-run` runs
//! the same code over storages wrapped in `DryRun` and a status that is never written.
//! docs/sync-algorithm.md explains the algorithm and why it is safe.

use std::sync::Arc;

use davsync_storages::{Collection, MetaKey, Storage};
use futures::StreamExt;

pub mod apply;
pub mod collections;
pub mod conflict;
pub mod event;
pub mod fresh;
pub mod job;
pub mod journal;
pub mod keep;
pub mod metasync;
pub mod plan;
pub mod policy;
pub mod read;
pub mod side;
mod status_index;

#[cfg(test)]
mod href_race_tests;
#[cfg(test)]
mod tests;

pub use conflict::Strategy;
pub use event::{Action, Counts, Event, Failure, Place, Reporter, Scope, Tally};
pub use policy::PartialSync;
pub use side::{BySide, Side};

use crate::status::Status;
use job::{CollectionJob, SideCtx};
use plan::PlanContext;

/// How many collections of one pair sync at once.
const COLLECTION_CONCURRENCY: usize = 4;

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
    /// Where versions go before they are overwritten or deleted (None: nowhere, for tests of
    /// other things).
    pub trash: Option<crate::trash::Trash>,
}

/// The outcome of one pair, counted from its events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PairReport {
    /// Failed items, collections and the pair itself, unresolved conflicts included
    /// (0: exit code 0). The same as `counts.failures()`.
    pub failures: usize,
    pub counts: Counts,
}

impl PairReport {
    fn from_tally(tally: &Tally<'_>) -> Self {
        let counts = tally.counts();
        PairReport {
            failures: counts.failures(),
            counts,
        }
    }
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

/// Syncs one pair. Everything that happens is reported to `reporter` as events; the
/// [`PairReport`] counts them (item, collection and whole-pair failures alike).
pub async fn sync_pair(
    pair: &PairSpec,
    status_dir: &std::path::Path,
    opts: &SyncOptions,
    reporter: &dyn Reporter,
) -> PairReport {
    let tally = Tally::new(reporter);
    sync_collections(pair, status_dir, opts, &tally).await;
    PairReport::from_tally(&tally)
}

/// Reports a failure of the whole pair.
pub(crate) fn pair_failed(
    reporter: &dyn Reporter,
    pair: &PairSpec,
    action: Action,
    message: String,
) {
    reporter.event(&Event::Failed(Failure::new(
        Scope::pair(&pair.name),
        action,
        message,
    )));
}

async fn sync_collections(
    pair: &PairSpec,
    status_dir: &std::path::Path,
    opts: &SyncOptions,
    reporter: &dyn Reporter,
) {
    let Some(status) = open_status(pair, status_dir, opts.dry_run, reporter) else {
        return;
    };
    let sides = storages(pair, opts.dry_run);
    let only = opts
        .only_collections
        .as_deref()
        .filter(|_| pair.collections.is_some());
    let pairing =
        match collections::pair_collections(pair, &sides, &status, true, only, reporter).await {
            Ok(p) => p,
            Err(e) => {
                pair_failed(
                    reporter,
                    pair,
                    Action::List,
                    format!(
                        "pair {}: finding collections failed: {}",
                        pair.name,
                        describe(&e)
                    ),
                );
                return;
            }
        };
    if let (Some(only), Some(_)) = (&opts.only_collections, &pair.collections) {
        for name in only {
            if !pairing.iter().any(|p| p.name == *name) {
                pair_failed(
                    reporter,
                    pair,
                    Action::List,
                    format!(
                        "pair {}: no collection {name} on either side (or not selected by the \
                         pair's `collections`)",
                        pair.name
                    ),
                );
            }
        }
    }
    let mut jobs = Vec::new();
    for paired in pairing {
        if let Some(only) = &opts.only_collections {
            if pair.collections.is_some() && !only.contains(&paired.name) {
                continue;
            }
        }
        if paired.vanished {
            collections::vanished(pair, &sides, &paired, &status, opts, reporter).await;
            continue;
        }
        let (Some(ca), Some(cb)) = (paired.a.clone(), paired.b.clone()) else {
            continue;
        };
        let at = scope(pair, &paired.name);
        if let Err(e) = status.set_collection(&paired.name, &ca.href, &cb.href) {
            reporter.event(&Event::Failed(Failure::new(
                at.clone(),
                Action::Record,
                format!(
                    "{at}: recording the collection in the status: {}",
                    crate::errors::render(&e)
                ),
            )));
            continue;
        }
        let side_ctx = |side: Side, collection: Collection| {
            let handle = if side == Side::A { &pair.a } else { &pair.b };
            SideCtx {
                place: place(pair, &handle.name, &collection.name),
                storage: sides[side].clone(),
                collection,
                phantom: opts.dry_run && paired.created == Some(side),
            }
        };
        let ctx = PlanContext {
            read_only: BySide::from_fn(|side| sides[side].read_only()),
            partial_sync: pair.partial_sync,
            force_delete: opts.force_delete,
        };
        jobs.push(
            CollectionJob::new(
                paired.name.clone(),
                at,
                BySide::new(side_ctx(Side::A, ca), side_ctx(Side::B, cb)),
                &status,
                ctx,
                &pair.conflict_resolution,
                opts.dry_run,
                reporter,
            )
            .with_trash(opts.trash.clone()),
        );
    }
    // Boxed as `Send` futures: with the closure's own type, the compiler cannot prove the
    // pair's future `Send` for every lifetime, which spawning the pair as a task needs.
    let runs: Vec<futures::future::BoxFuture<'_, usize>> =
        jobs.iter().map(|j| Box::pin(j.run()) as _).collect();
    let mut runs = futures::stream::iter(runs).buffer_unordered(COLLECTION_CONCURRENCY);
    while runs.next().await.is_some() {}
}

/// Where a collection's events happened: `<pair>` or `<pair>/<collection>`.
pub(crate) fn scope(pair: &PairSpec, collection: &str) -> Scope {
    Scope::collection(&pair.name, pair.collections.as_ref().map(|_| collection))
}

/// A collection on one storage: `<storage>` or `<storage>/<collection>`.
pub(crate) fn place(pair: &PairSpec, storage: &str, collection: &str) -> Place {
    Place {
        storage: storage.into(),
        collection: pair.collections.as_ref().map(|_| collection.into()),
    }
}

/// A storage error as users read it (see [`crate::errors::render`]).
pub fn describe(e: &davsync_storages::Error) -> String {
    crate::errors::render(e)
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
            pair_failed(
                reporter,
                pair,
                Action::Record,
                format!(
                    "pair {}: opening the status {}: {}",
                    pair.name,
                    crate::status::path_for(status_dir, &pair.name).display(),
                    crate::errors::render(&e)
                ),
            );
            None
        }
    }
}

/// The pair's storages, wrapped in `DryRun` for a dry run.
pub(crate) fn storages(pair: &PairSpec, dry_run: bool) -> BySide<Arc<dyn Storage>> {
    let wrap = |s: &Arc<dyn Storage>| -> Arc<dyn Storage> {
        if dry_run {
            Arc::new(davsync_storages::wrappers::DryRun::new(s.clone()))
        } else {
            s.clone()
        }
    };
    BySide::new(wrap(&pair.a.storage), wrap(&pair.b.storage))
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
    let sides = storages(pair, false);
    // `discover` prints one line per collection, marking the created ones itself: the
    // `Creating collection` change lines of a sync would say the same thing twice.
    struct FailuresOnly<'r>(&'r dyn Reporter);
    impl Reporter for FailuresOnly<'_> {
        fn event(&self, event: &Event) {
            if event.is_failure() {
                self.0.event(event)
            }
        }
    }
    let quiet = FailuresOnly(reporter);
    let pairing =
        collections::pair_collections(pair, &sides, &status, create, None, &quiet).await?;
    Ok(pairing
        .into_iter()
        .map(|p| DiscoveredCollection {
            name: p.name,
            a: p.a.map(|c| c.href),
            b: p.b.map(|c| c.href),
            created: p.created,
        })
        .collect())
}

/// Syncs the collection properties named in the pair's `metadata`. A `dry_run` reports the
/// changes it would make and writes nothing (no storage, no status).
pub async fn metasync_pair(
    pair: &PairSpec,
    status_dir: &std::path::Path,
    only_collections: Option<&[String]>,
    dry_run: bool,
    reporter: &dyn Reporter,
) -> PairReport {
    let tally = Tally::new(reporter);
    metasync::metasync_pair(pair, status_dir, only_collections, dry_run, &tally).await;
    PairReport::from_tally(&tally)
}
