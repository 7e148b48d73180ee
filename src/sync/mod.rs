//! The sync engine: pairs two storages collection by collection with the etag-mapping
//! algorithm, keeping a status per pair (see [`crate::status`]).
//!
//! The engine plans, then executes: for each collection it compares the two listings with
//! the status, produces typed [`Op`]s (each with a one-line `Display` that is exactly the
//! line users see), and runs them. `--dry-run` runs the same code over storages wrapped in
//! `DryRun` and a status that is never written.
//!
//! The algorithm itself lives in `plan.rs`.

use std::sync::Arc;

use davsync_storages::{MetaKey, Storage};

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
/// [`PairReport`]; an `Err` means the pair could not be synced at all (status unreadable,
/// discovery failed) and has also been reported.
pub async fn sync_pair(
    pair: &PairSpec,
    status_dir: &std::path::Path,
    opts: &SyncOptions,
    reporter: &dyn Reporter,
) -> PairReport {
    let _ = (pair, status_dir, opts, reporter);
    todo!("sync_pair")
}

/// Discovers the collections of both sides and pairs them per the pair's `collections`,
/// creating missing ones when `create` (unless that side is read-only).
pub async fn discover_pair(
    pair: &PairSpec,
    status_dir: &std::path::Path,
    create: bool,
    reporter: &dyn Reporter,
) -> Result<Vec<DiscoveredCollection>, davsync_storages::Error> {
    let _ = (pair, status_dir, create, reporter);
    todo!("discover_pair")
}

/// Syncs the collection properties named in the pair's `metadata`.
pub async fn metasync_pair(
    pair: &PairSpec,
    status_dir: &std::path::Path,
    only_collections: Option<&[String]>,
    reporter: &dyn Reporter,
) -> PairReport {
    let _ = (pair, status_dir, only_collections, reporter);
    todo!("metasync_pair")
}
