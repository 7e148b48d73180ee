//! What the engine tells the world: typed [`Event`]s, one per change made or failure met.
//!
//! The engine never words output itself. It emits events into a [`Reporter`]; the CLI
//! renders them (`Display` is exactly the line of docs/interface.md), the sync command counts
//! them ([`Counts`]) for the summary line and the exit code, and other consumers (a JSON log,
//! `watch`) read the same events through [`Event::fields`] or an [`mpsc`] channel.
//!
//! Adding an event: a variant here, its line in `Display`, its [`Event::fields`] and, when it
//! counts in the summary, a line in [`Counts::add`]. Nothing else needs to know.

use std::fmt;
use std::sync::{Arc, Mutex};

use davsync_storages::{ErrorKind, Href, MetaKey};
use tokio::sync::mpsc;

/// Where an event happened: `<pair>` or `<pair>/<collection>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub pair: Arc<str>,
    /// The pair's name for the collection; `None` for a pair without `collections` and for
    /// events about the whole pair.
    pub collection: Option<Arc<str>>,
}

impl Scope {
    /// The whole pair.
    pub fn pair(pair: &str) -> Scope {
        Scope {
            pair: pair.into(),
            collection: None,
        }
    }

    /// One collection of a pair (`None`: the pair has no `collections`).
    pub fn collection(pair: &str, collection: Option<&str>) -> Scope {
        Scope {
            pair: pair.into(),
            collection: collection.map(Into::into),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.collection {
            Some(c) => write!(f, "{}/{c}", self.pair),
            None => f.write_str(&self.pair),
        }
    }
}

/// A collection on one storage: `<storage>` or `<storage>/<collection>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Place {
    pub storage: Arc<str>,
    /// The collection's name on that storage; `None` for a pair without `collections`.
    pub collection: Option<Arc<str>>,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.collection {
            Some(c) => write!(f, "{}/{c}", self.storage),
            None => f.write_str(&self.storage),
        }
    }
}

/// What the engine was doing when something failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Upload,
    Update,
    Delete,
    /// Reading items (a malformed item, a read that failed).
    Read,
    /// Listing a collection, or finding the pair's collections.
    List,
    /// Deciding what to do with an item (duplicate UIDs, `partial_sync = "error"`, the
    /// emptied-side guard).
    Plan,
    /// Resolving a conflict.
    Resolve,
    CreateCollection,
    DeleteCollection,
    /// Syncing a collection property.
    Metadata,
    /// Reading or writing the status, or making writes durable before recording them.
    Record,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Upload => "upload",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Read => "read",
            Action::List => "list",
            Action::Plan => "plan",
            Action::Resolve => "resolve",
            Action::CreateCollection => "create collection",
            Action::DeleteCollection => "delete collection",
            Action::Metadata => "metadata",
            Action::Record => "record",
        }
    }
}

/// Something that could not be done. The message names the item, collection or pair and is
/// what users read on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub at: Scope,
    pub action: Action,
    pub uid: Option<String>,
    pub href: Option<Href>,
    /// The storage error's kind, when a storage error caused it.
    pub kind: Option<ErrorKind>,
    pub message: String,
}

impl Failure {
    pub fn new(at: Scope, action: Action, message: impl Into<String>) -> Failure {
        Failure {
            at,
            action,
            uid: None,
            href: None,
            kind: None,
            message: message.into(),
        }
    }

    pub fn uid(mut self, uid: impl Into<String>) -> Self {
        self.uid = Some(uid.into());
        self
    }

    pub fn maybe_uid(mut self, uid: Option<String>) -> Self {
        self.uid = uid;
        self
    }

    pub fn href(mut self, href: Href) -> Self {
        self.href = Some(href);
        self
    }

    pub fn kind(mut self, kind: ErrorKind) -> Self {
        self.kind = Some(kind);
        self
    }
}

/// One thing the engine did or failed to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An item written to a side that did not have it.
    Uploaded {
        at: Scope,
        uid: String,
        to: Place,
    },
    /// An item's new version written over the old one.
    Updated {
        at: Scope,
        uid: String,
        to: Place,
    },
    Deleted {
        at: Scope,
        uid: String,
        from: Place,
    },
    /// A conflict settled by `strategy` (its config name); the writes it took were reported
    /// before it.
    Resolved {
        at: Scope,
        uid: String,
        strategy: &'static str,
    },
    /// A conflict no strategy resolved: both versions stay. A failure (exit code 1).
    Unresolved {
        at: Scope,
        uid: String,
        reason: String,
    },
    /// A collection made on `storage` (under the name it has there).
    CollectionCreated {
        at: Scope,
        collection: String,
        storage: String,
    },
    /// A collection deleted by `--force-delete` after it vanished from the other side.
    CollectionDeleted {
        at: Scope,
        collection: String,
        storage: String,
    },
    /// A collection property written (`value` present) or removed by metasync.
    MetadataChanged {
        at: Scope,
        key: MetaKey,
        storage: String,
        removed: bool,
    },
    Failed(Failure),
    /// The engine finished a collection (whatever became of its items). No line: it counts
    /// the collections of the summary.
    CollectionSynced {
        at: Scope,
    },
}

/// The fields a structured consumer (a JSON log) needs, borrowed from an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fields<'e> {
    pub pair: &'e str,
    pub collection: Option<&'e str>,
    pub uid: Option<&'e str>,
    /// What was done: `upload`, `update`, `delete`, `resolve`, `create collection`, ...
    pub action: &'static str,
    /// How it ended: `ok`, `resolved`, `unresolved` or `failed`.
    pub outcome: &'static str,
}

impl Event {
    /// Where it happened.
    pub fn scope(&self) -> &Scope {
        match self {
            Event::Uploaded { at, .. }
            | Event::Updated { at, .. }
            | Event::Deleted { at, .. }
            | Event::Resolved { at, .. }
            | Event::Unresolved { at, .. }
            | Event::CollectionCreated { at, .. }
            | Event::CollectionDeleted { at, .. }
            | Event::MetadataChanged { at, .. }
            | Event::CollectionSynced { at } => at,
            Event::Failed(f) => &f.at,
        }
    }

    /// True for a change users see on stdout (and `Would: ` in a dry run).
    pub fn is_change(&self) -> bool {
        !matches!(self, Event::Failed(_) | Event::CollectionSynced { .. })
    }

    /// True for what makes the exit code 1 (and is printed on stderr even with `-q`).
    pub fn is_failure(&self) -> bool {
        matches!(self, Event::Failed(_) | Event::Unresolved { .. })
    }

    /// The event's fields for structured output.
    pub fn fields(&self) -> Fields<'_> {
        let at = self.scope();
        let (uid, action, outcome) = match self {
            Event::Uploaded { uid, .. } => (Some(uid.as_str()), "upload", "ok"),
            Event::Updated { uid, .. } => (Some(uid.as_str()), "update", "ok"),
            Event::Deleted { uid, .. } => (Some(uid.as_str()), "delete", "ok"),
            Event::Resolved { uid, .. } => (Some(uid.as_str()), "resolve", "resolved"),
            Event::Unresolved { uid, .. } => (Some(uid.as_str()), "resolve", "unresolved"),
            Event::CollectionCreated { .. } => (None, "create collection", "ok"),
            Event::CollectionDeleted { .. } => (None, "delete collection", "ok"),
            Event::MetadataChanged { .. } => (None, "metadata", "ok"),
            Event::CollectionSynced { .. } => (None, "sync", "ok"),
            Event::Failed(f) => (f.uid.as_deref(), f.action.as_str(), "failed"),
        };
        Fields {
            pair: &at.pair,
            collection: at.collection.as_deref(),
            uid,
            action,
            outcome,
        }
    }
}

/// The line users see (without the `Would: ` of a dry run or the `error: ` of stderr).
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Uploaded { uid, to, .. } => write!(f, "Copying (uploading) item {uid} to {to}"),
            Event::Updated { uid, to, .. } => write!(f, "Copying (updating) item {uid} to {to}"),
            Event::Deleted { uid, from, .. } => write!(f, "Deleting item {uid} from {from}"),
            Event::Resolved { at, uid, strategy } => {
                write!(f, "Conflict: item {uid} in {at} resolved by \"{strategy}\"")
            }
            Event::Unresolved { at, uid, reason } => {
                write!(f, "Conflict: item {uid} in {at} left unresolved: {reason}")
            }
            Event::CollectionCreated {
                collection,
                storage,
                ..
            } => write!(f, "Creating collection {collection} on {storage}"),
            Event::CollectionDeleted {
                collection,
                storage,
                ..
            } => write!(f, "Deleting collection {collection} from {storage}"),
            Event::MetadataChanged {
                at,
                key,
                storage,
                removed,
            } => {
                let (verb, prep) = if *removed {
                    ("Deleting", "from")
                } else {
                    ("Copying", "to")
                };
                write!(f, "{verb} metadata {}", key.as_str())?;
                if let Some(c) = &at.collection {
                    write!(f, " of {c}")?;
                }
                write!(f, " {prep} {storage}")
            }
            Event::Failed(failure) => f.write_str(&failure.message),
            Event::CollectionSynced { at } => write!(f, "Synced {at}"),
        }
    }
}

/// Where events go. Implementations must be cheap: the engine calls them from its write
/// loop.
pub trait Reporter: Send + Sync {
    fn event(&self, event: &Event);
    /// Progress of long work: `done` of `total` items in `scope` (`pair/collection`).
    fn progress(&self, scope: &str, done: u64, total: u64) {
        let _ = (scope, done, total);
    }
}

/// A channel subscribes to the events (a `watch` loop, a log writer on its own task).
impl Reporter for mpsc::UnboundedSender<Event> {
    fn event(&self, event: &Event) {
        // A consumer that went away does not stop the sync.
        let _ = self.send(event.clone());
    }
}

/// How many of each outcome a run had: the summary line and the exit code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub collections: usize,
    pub uploaded: usize,
    pub updated: usize,
    pub deleted: usize,
    pub resolved: usize,
    pub unresolved: usize,
    pub failed: usize,
}

impl Counts {
    /// Counts one event.
    pub fn add(&mut self, event: &Event) {
        match event {
            Event::Uploaded { .. } => self.uploaded += 1,
            Event::Updated { .. } => self.updated += 1,
            Event::Deleted { .. } => self.deleted += 1,
            Event::Resolved { .. } => self.resolved += 1,
            Event::Unresolved { .. } => self.unresolved += 1,
            Event::Failed(_) => self.failed += 1,
            Event::CollectionSynced { .. } => self.collections += 1,
            Event::CollectionCreated { .. }
            | Event::CollectionDeleted { .. }
            | Event::MetadataChanged { .. } => {}
        }
    }

    /// Everything that makes the exit code 1.
    pub fn failures(&self) -> usize {
        self.unresolved + self.failed
    }

    pub fn merge(&mut self, other: &Counts) {
        self.collections += other.collections;
        self.uploaded += other.uploaded;
        self.updated += other.updated;
        self.deleted += other.deleted;
        self.resolved += other.resolved;
        self.unresolved += other.unresolved;
        self.failed += other.failed;
    }
}

/// Counts the events passing through to `inner`: the engine's one place that counts, so a
/// failure is counted exactly when it was reported.
pub struct Tally<'r> {
    inner: &'r dyn Reporter,
    counts: Mutex<Counts>,
}

impl<'r> Tally<'r> {
    pub fn new(inner: &'r dyn Reporter) -> Self {
        Tally {
            inner,
            counts: Mutex::new(Counts::default()),
        }
    }

    pub fn counts(&self) -> Counts {
        *self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn failures(&self) -> usize {
        self.counts().failures()
    }

    pub fn progress(&self, scope: &str, done: u64, total: u64) {
        self.inner.progress(scope, done, total);
    }
}

impl Reporter for Tally<'_> {
    fn event(&self, event: &Event) {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add(event);
        self.inner.event(event);
    }

    fn progress(&self, scope: &str, done: u64, total: u64) {
        self.inner.progress(scope, done, total);
    }
}

/// Keeps every event: the reporter of the engine's tests.
#[cfg(any(test, feature = "testing"))]
#[derive(Default)]
pub struct Recorder {
    events: Mutex<Vec<Event>>,
}

#[cfg(any(test, feature = "testing"))]
impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every event so far, in the order reported.
    pub fn events(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The change lines, sorted (writes run concurrently, so their order is not fixed).
    pub fn changes(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .events()
            .iter()
            .filter(|e| e.is_change())
            .map(ToString::to_string)
            .collect();
        v.sort();
        v
    }

    /// The failure messages (stderr), in the order reported.
    pub fn failures(&self) -> Vec<String> {
        self.events()
            .iter()
            .filter(|e| e.is_failure())
            .map(ToString::to_string)
            .collect()
    }

    /// The failures as typed events.
    pub fn failed(&self) -> Vec<Failure> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Failed(f) => Some(f),
                _ => None,
            })
            .collect()
    }

    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for e in self.events() {
            c.add(&e);
        }
        c
    }

    pub fn clear(&self) {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

#[cfg(any(test, feature = "testing"))]
impl Reporter for Recorder {
    fn event(&self, event: &Event) {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(storage: &str, collection: Option<&str>) -> Place {
        Place {
            storage: storage.into(),
            collection: collection.map(Into::into),
        }
    }

    #[test]
    fn change_lines_are_those_of_the_interface() {
        let at = Scope::collection("p", Some("work"));
        let flat = Scope::pair("p");
        let cases = [
            (
                Event::Uploaded {
                    at: at.clone(),
                    uid: "u1".into(),
                    to: place("remote", Some("work")),
                },
                "Copying (uploading) item u1 to remote/work",
            ),
            (
                Event::Updated {
                    at: flat.clone(),
                    uid: "u1".into(),
                    to: place("remote", None),
                },
                "Copying (updating) item u1 to remote",
            ),
            (
                Event::Deleted {
                    at: at.clone(),
                    uid: "u1".into(),
                    from: place("local", Some("w")),
                },
                "Deleting item u1 from local/w",
            ),
            (
                Event::Resolved {
                    at: at.clone(),
                    uid: "u1".into(),
                    strategy: "b wins",
                },
                "Conflict: item u1 in p/work resolved by \"b wins\"",
            ),
            (
                Event::Unresolved {
                    at: flat.clone(),
                    uid: "u1".into(),
                    reason: "why".into(),
                },
                "Conflict: item u1 in p left unresolved: why",
            ),
            (
                Event::CollectionCreated {
                    at: at.clone(),
                    collection: "work".into(),
                    storage: "remote".into(),
                },
                "Creating collection work on remote",
            ),
            (
                Event::MetadataChanged {
                    at: at.clone(),
                    key: MetaKey::Color,
                    storage: "remote".into(),
                    removed: false,
                },
                "Copying metadata color of work to remote",
            ),
            (
                Event::MetadataChanged {
                    at: flat,
                    key: MetaKey::DisplayName,
                    storage: "local".into(),
                    removed: true,
                },
                "Deleting metadata displayname from local",
            ),
        ];
        for (event, line) in cases {
            assert_eq!(event.to_string(), line);
        }
    }

    #[test]
    fn a_tally_counts_each_event_once_and_passes_it_on() {
        let rec = Recorder::new();
        let tally = Tally::new(&rec);
        let at = Scope::pair("p");
        tally.event(&Event::Failed(Failure::new(at.clone(), Action::Read, "x")));
        tally.event(&Event::Unresolved {
            at: at.clone(),
            uid: "u".into(),
            reason: "r".into(),
        });
        tally.event(&Event::Uploaded {
            at,
            uid: "u".into(),
            to: place("s", None),
        });
        let c = tally.counts();
        assert_eq!(
            (c.failed, c.unresolved, c.uploaded, c.failures()),
            (1, 1, 1, 2)
        );
        assert_eq!(rec.events().len(), 3);
        assert_eq!(
            rec.failures(),
            ["x", "Conflict: item u in p left unresolved: r"]
        );
    }

    #[test]
    fn structured_fields_name_pair_collection_uid_action_and_outcome() {
        let e = Event::Failed(
            Failure::new(Scope::collection("p", Some("c")), Action::Upload, "failed").uid("u1"),
        );
        let f = e.fields();
        assert_eq!(
            (f.pair, f.collection, f.uid, f.action, f.outcome),
            ("p", Some("c"), Some("u1"), "upload", "failed")
        );
    }
}
