//! One collection of a pair, synced from start to end: the order of the steps and what is
//! recorded at the end. Each step lives in its own module:
//!
//! 1. [`super::read`]: list both sides (delta, whole read or listing), take the no-op fast
//!    path when nothing changed, read what the plan needs;
//!    [`super::fresh`] instead for a collection the status knows nothing of (copies stream
//!    from one side to an empty other while it is still being read);
//! 2. [`super::plan`]: decide per item (pure);
//! 3. [`super::apply`]: perform the ops, with the race rules, emitting events;
//! 4. [`super::journal`]: queue the status rows and commit them once the writes are durable.

use std::sync::Arc;
use std::time::Instant;

use davsync_storages::{Changes, Collection, Error, Storage};
use futures::StreamExt;

use super::apply::Done;
use super::event::{Action, Event, Failure, Place, Reporter, Scope, Tally};
use super::fresh::Fresh;
use super::journal::Journal;
use super::plan::{self, PlanContext, PlanInput};
use super::read::Snapshot;
use super::side::{BySide, Side};
use super::Strategy;
use crate::status::{Rows, Status, StatusError};

/// How many item writes of one collection run at once.
pub(super) const WRITE_CONCURRENCY: usize = 8;

/// One side of a collection being synced.
pub struct SideCtx {
    pub storage: Arc<dyn Storage>,
    pub collection: Collection,
    /// `<storage>` or `<storage>/<collection>`: where its changes are reported.
    pub place: Place,
    /// True when the collection was only just created by a dry run: it does not exist, so it
    /// is taken as empty instead of listed.
    pub phantom: bool,
}

/// One collection of a pair to sync.
pub struct CollectionJob<'a> {
    /// The key of the collection in the status (empty without `collections`).
    pub(super) name: String,
    pub(super) sides: BySide<SideCtx>,
    pub(super) status: &'a Status,
    pub(super) ctx: PlanContext,
    pub(super) strategies: &'a [Strategy],
    pub(super) dry_run: bool,
    /// `<pair>` or `<pair>/<collection>`.
    pub(super) at: Scope,
    /// This collection's events, counted (its failures decide what is kept at the end) and
    /// passed on to the pair's reporter.
    pub(super) events: Tally<'a>,
    pub(super) journal: Journal,
    /// Where versions go before they are overwritten or deleted ([`super::keep`]).
    pub(super) trash: Option<crate::trash::Trash>,
}

impl<'a> CollectionJob<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: String,
        at: Scope,
        sides: BySide<SideCtx>,
        status: &'a Status,
        ctx: PlanContext,
        strategies: &'a [Strategy],
        dry_run: bool,
        reporter: &'a dyn Reporter,
    ) -> Self {
        CollectionJob {
            name,
            sides,
            status,
            ctx,
            strategies,
            dry_run,
            at,
            events: Tally::new(reporter),
            journal: Journal::default(),
            trash: None,
        }
    }

    /// Keeps every version this job overwrites or deletes in `trash` first.
    pub fn with_trash(mut self, trash: Option<crate::trash::Trash>) -> Self {
        self.trash = trash;
        self
    }

    pub(super) fn side(&self, side: Side) -> &SideCtx {
        &self.sides[side]
    }

    pub(super) fn place(&self, side: Side) -> &Place {
        &self.sides[side].place
    }

    pub(super) fn emit(&self, event: Event) {
        self.events.event(&event);
    }

    /// Reports a failure of this collection.
    pub(super) fn fail(&self, action: Action, message: String) -> Done {
        self.report(Failure::new(self.at.clone(), action, message))
    }

    pub(super) fn report(&self, failure: Failure) -> Done {
        self.emit(Event::Failed(failure));
        Done::Failed
    }

    /// A status read or write that failed, worded `<pair/collection>: <what>: <error>`.
    pub(super) fn status_failed(&self, what: &str, e: StatusError) -> Done {
        self.fail(
            Action::Record,
            format!("{}: {what}: {}", self.at, crate::errors::render(&e)),
        )
    }

    /// Syncs the collection; returns the number of failures reported.
    pub async fn run(&self) -> usize {
        self.run_steps().await;
        self.emit(Event::CollectionSynced {
            at: self.at.clone(),
        });
        self.events.failures()
    }

    async fn run_steps(&self) {
        let row = match self.status.collection(&self.name) {
            Ok(row) => row.unwrap_or_default(),
            Err(e) => {
                self.status_failed("reading the status", e);
                return;
            }
        };
        let tokens = BySide::new(row.a_token.clone(), row.b_token.clone());
        // A collection the status knows nothing of must be read whole on both sides anyway,
        // unless a token says what it held: a collection both sides left empty (see
        // `keep_tokens_of_empty`) is asked what changed since, like any other.
        let fresh = tokens.a.is_none()
            && tokens.b.is_none()
            && matches!(self.status.item_count(&self.name), Ok(0))
            && matches!(self.status.pending(&self.name), Ok(p) if p.is_empty());
        let listed = if fresh {
            match self.run_fresh(&tokens).await {
                Fresh::Copied => {
                    self.finish_copied();
                    return self.keep_tokens_of_empty().await;
                }
                Fresh::Read(both) => Ok(*both),
                Fresh::Failed(side, e) => Err((side, e)),
                Fresh::Again => {
                    let fresh = matches!(self.status.item_count(&self.name), Ok(0));
                    self.list_both(&tokens, fresh).await
                }
            }
        } else {
            self.list_both(&tokens, false).await
        };
        let snapshots = match listed {
            Ok(both) => both,
            Err((side, e)) => {
                self.listing_failed(side, &e);
                return;
            }
        };
        // The no-op fast path: both sides listed exactly as at the end of a sync that found
        // nothing to do, under the same settings: the plan would be empty again, so not even
        // the status rows are loaded.
        let digest = self.noop_digest(&snapshots);
        if digest.is_some() && digest == row.noop_digest {
            if let Err(e) = self.status.set_last_sync(&self.name, chrono::Utc::now()) {
                self.status_failed("recording the sync time", e);
            }
            if fresh {
                // An empty collection armed this path before its tokens were kept.
                self.keep_tokens_of_empty().await;
            }
            return;
        }
        // Disarmed before anything can change, so a sync cut off halfway never leaves a
        // digest that no longer describes the status.
        if row.noop_digest.is_some() {
            if let Err(e) = self.status.set_noop_digest(&self.name, None) {
                self.status_failed("recording the sync state", e);
                return;
            }
        }
        let status = match self.status.items(&self.name) {
            Ok(s) => s,
            Err(e) => {
                self.status_failed("reading the status", e);
                return;
            }
        };
        let tokens = snapshots.as_ref().map(|_, s| s.token.clone());
        let acted = self.run_listed(snapshots, &status).await;
        let failed = self.events.failures() > 0;
        // A token is only worth keeping when everything up to it was synced: an item that
        // failed would not show up in the next delta. After a failure, list fully next time.
        let tokens = if failed { BySide::default() } else { tokens };
        // The fast path is armed only by a sync that found nothing at all to do.
        let digest = digest.filter(|_| !failed && !acted);
        if let Err(e) = self
            .status
            .set_tokens(&self.name, tokens.a.as_ref(), tokens.b.as_ref())
        {
            self.status_failed("recording sync tokens", e);
            return;
        }
        if let Err(e) = self.status.set_noop_digest(&self.name, digest.as_deref()) {
            self.status_failed("recording the sync state", e);
        }
        if fresh {
            self.keep_tokens_of_empty().await;
        }
    }

    /// A collection that its first sync left empty on both sides has nothing in the status,
    /// so every later sync would take it for fresh and read it whole: one query per sync
    /// (a REPORT on DAV) to find nothing again. Its change tokens, taken once now, let later
    /// syncs ask what changed since instead, which on DAV the home-set listing answers with
    /// no request of the collection's own. Kept only when both sides still hold nothing
    /// and the sync had no failure; a side without tokens (a vdir) keeps being listed.
    async fn keep_tokens_of_empty(&self) {
        let empty = matches!(self.status.item_count(&self.name), Ok(0))
            && matches!(self.status.pending(&self.name), Ok(p) if p.is_empty());
        if self.dry_run || self.events.failures() > 0 || !empty {
            return;
        }
        let ask = |side: Side| async move {
            let s = self.side(side);
            if s.phantom {
                return Ok(None);
            }
            s.storage.changes(&s.collection, None).await
        };
        let (a, b) = futures::join!(ask(Side::A), ask(Side::B));
        // Something that arrived since the whole read, or a failure to ask: no token, the
        // next sync reads the collection whole as before.
        let token = |r: Result<Option<Changes>, Error>| match r {
            Ok(None) => Some(None),
            Ok(Some(c)) if c.changed.is_empty() => Some(c.token),
            Ok(Some(_)) | Err(_) => None,
        };
        let (Some(a), Some(b)) = (token(a), token(b)) else {
            return;
        };
        if a.is_none() && b.is_none() {
            return;
        }
        if let Err(e) = self.status.set_tokens(&self.name, a.as_ref(), b.as_ref()) {
            self.status_failed("recording sync tokens", e);
        }
    }

    pub(super) fn listing_failed(&self, side: Side, e: &davsync_storages::Error) {
        self.report(
            Failure::new(
                self.at.clone(),
                Action::List,
                format!(
                    "{}: listing failed: {}",
                    self.place(side),
                    super::describe(e)
                ),
            )
            .kind(e.kind()),
        );
    }

    /// Reads what the plan needs, plans and executes; returns whether any op (write or
    /// status change) was planned.
    async fn run_listed(&self, snapshots: BySide<Snapshot>, status: &Rows) -> bool {
        let BySide {
            a: (la, ra),
            b: (lb, rb),
        } = snapshots.map(|_, s| s.into_listing());
        let answered = BySide::new(la, lb);
        let listing = BySide::from_fn(|side| answered[side].view(side, status));
        if let Err(emptied) =
            plan::check_emptied(listing.as_ref().map(|_, l| l.len()), status, &self.ctx)
        {
            self.emptied(&emptied);
            return true;
        }
        let index = plan::StatusIndex::new(status);
        let need = BySide::from_fn(|side| plan::needs_fetch(side, &listing[side], &index));
        let (fa, fb) = futures::join!(
            self.read(Side::A, need.a, listing.a.len(), ra),
            self.read(Side::B, need.b, listing.b.len(), rb)
        );
        let fetched = BySide::new(fa, fb);
        let pending = match self.status.pending(&self.name) {
            Ok(p) => p,
            Err(e) => {
                self.status_failed("reading the status", e);
                return true;
            }
        };
        let ops = match plan::plan(&PlanInput {
            listing: listing.as_ref().map(|_, l| l.as_slice()),
            status,
            index: &index,
            fetched: fetched.as_ref(),
            pending: &pending,
            ctx: &self.ctx,
        }) {
            Ok(ops) => ops,
            Err(emptied) => {
                self.emptied(&emptied);
                return true;
            }
        };
        // The ops own what they need: the listings, the items read and the index go now,
        // before the writes (and the other collections syncing meanwhile) need memory.
        drop((listing, index, fetched));
        drop(answered);
        let acted = !ops.is_empty();
        let ops = self.hydrate(ops).await;
        let total = ops.iter().filter(|o| o.writes()).count() as u64;
        let mut done = 0u64;
        let mut conflicts: Vec<(String, String)> = Vec::new();
        let progress = self.at.to_string();
        let mut results = futures::stream::iter(ops.into_iter().map(|op| async move {
            let ident = op.ident().map(str::to_owned);
            let writes = op.writes();
            (ident, writes, self.exec(op, status).await)
        }))
        .buffer_unordered(WRITE_CONCURRENCY);
        let mut last_commit = Instant::now();
        while let Some((ident, writes, result)) = results.next().await {
            if self.journal.due(last_commit) {
                self.commit().await;
                last_commit = Instant::now();
            }
            if writes {
                done += 1;
                self.events.progress(&progress, done, total.max(done));
            }
            if let Done::Unresolved(reason) = result {
                conflicts.push((ident.unwrap_or_default(), reason));
            }
        }
        drop(results);
        self.commit().await;
        conflicts.sort();
        if let Err(e) = self.status.set_conflicts(&self.name, &conflicts) {
            self.status_failed("recording conflicts", e);
        }
        if let Err(e) = self.status.set_last_sync(&self.name, chrono::Utc::now()) {
            self.status_failed("recording the sync time", e);
        }
        acted
    }

    /// The emptied-side guard tripped: the collection fails, nothing is written.
    fn emptied(&self, e: &plan::Emptied) {
        self.fail(
            Action::Plan,
            format!(
                "{}: storage lists no items but {} synced before; refusing to delete \
                 {} on {} (run `davsync sync --force-delete` if that is really wanted)",
                self.place(e.side),
                synced_before(e.known),
                if e.known == 1 { "it" } else { "them" },
                self.place(e.side.other())
            ),
        );
    }

    /// The end of a fresh collection whose items were copied as they arrived: what
    /// [`Self::run`] records after a plan (no conflicts, no tokens, no no-op digest).
    fn finish_copied(&self) {
        for r in [
            self.status.set_conflicts(&self.name, &[]),
            self.status.set_last_sync(&self.name, chrono::Utc::now()),
            self.status.set_tokens(&self.name, None, None),
            self.status.set_noop_digest(&self.name, None),
        ] {
            if let Err(e) = r {
                self.status_failed("recording the sync state", e);
            }
        }
    }
}

/// `1 item was` / `3 items were`: the emptied-side message reads naturally for one item.
fn synced_before(n: usize) -> String {
    if n == 1 {
        "1 item was".to_owned()
    } else {
        format!("{n} items were")
    }
}
