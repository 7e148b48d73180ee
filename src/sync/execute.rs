//! Runs the plan of one collection: list, read what changed, plan, then perform each op and
//! record its status row after the storage acted. Rows are queued and committed in batches,
//! each once both storages made the writes it describes durable ([`Storage::flush`]); see
//! docs/sync-algorithm.md for why that order keeps an interrupted sync safe.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use davsync_storages::{Collection, Error, ErrorKind, Fetched, Href, Item, ItemRef, Storage};
use futures::StreamExt;
use tokio::sync::mpsc;

use super::conflict::{self, Outcome, Resolution};
use super::plan::{self, Current, FetchError, FetchResult, Op, PlanContext, PlanInput};
use super::{PartialSync, Reporter, Side, Strategy};
use crate::status::{CollectionRow, ItemRow, Pending, RowChange, Rows, SideState, Status};

/// How many hrefs one `get_many` asks for. The storage splits further as its protocol needs
/// (DAV: multiget batches, sent in parallel), so this only bounds one call's memory.
const FETCH_BATCH: usize = 2000;
/// Reading more than this share of a listing (and more than [`GET_ALL_MIN`] items) reads the
/// whole collection at once through [`Storage::get_all`] instead: on DAV one query answers
/// with every body, cheaper than the listing's worth of multiget batches.
const GET_ALL_FRACTION: f64 = 0.5;
const GET_ALL_MIN: usize = 100;
/// How many item writes of one collection run at once.
const WRITE_CONCURRENCY: usize = 8;
/// Items of a whole read parsed ahead of the writes (see [`CollectionJob::run_fresh`]).
const STREAMED_ITEMS: usize = 64;
/// Queued status rows are committed when there are this many, or when the oldest waited
/// [`COMMIT_INTERVAL`]: each commit costs a flush of both storages (one file-system sync for a
/// vdir), and the rows of an interrupted batch cost the next sync a comparison each.
const COMMIT_BATCH: usize = 500;
const COMMIT_INTERVAL: Duration = Duration::from_secs(2);

/// One side of a collection being synced.
pub struct SideCtx {
    pub storage: Arc<dyn Storage>,
    pub collection: Collection,
    /// `<storage>` or `<storage>/<collection>`.
    pub label: String,
    /// True when the collection was only just created by a dry run: it does not exist, so it
    /// is taken as empty instead of listed.
    pub phantom: bool,
}

/// One collection of a pair to sync.
pub struct CollectionJob<'a> {
    /// The key of the collection in the status (empty without `collections`).
    pub name: String,
    pub a: SideCtx,
    pub b: SideCtx,
    pub status: &'a Status,
    pub ctx: PlanContext,
    pub strategies: &'a [Strategy],
    pub reporter: &'a dyn Reporter,
    pub dry_run: bool,
    /// Status changes waiting for the writes they describe to become durable.
    pub unrecorded: Mutex<Vec<RowChange>>,
}

fn other(side: Side) -> Side {
    match side {
        Side::A => Side::B,
        Side::B => Side::A,
    }
}

/// A side's answer to "what is there": a listing, or changes since the stored token.
enum Listed {
    Full(Vec<ItemRef>),
    Delta(davsync_storages::Changes),
}

/// What identifies a side's state for the no-op fast path.
enum Seen<'l> {
    /// Every item with its etag.
    Listing(&'l [ItemRef]),
    /// Nothing changed since this sync token: the side is as the token describes it.
    Token(&'l str),
}

impl Listed {
    /// True when the side holds no item at all (a delta only when it is complete).
    fn lists_nothing(&self) -> bool {
        match self {
            Listed::Full(l) => l.is_empty(),
            Listed::Delta(c) => c.complete && c.changed.is_empty(),
        }
    }

    /// The side's state as the no-op digest sees it; `None` for a delta with changes.
    fn state<'l>(&'l self, token: Option<&'l str>) -> Option<Seen<'l>> {
        match self {
            Listed::Full(l) => Some(Seen::Listing(l)),
            Listed::Delta(c) if c.changed.is_empty() && c.deleted.is_empty() && !c.complete => {
                token.map(Seen::Token)
            }
            Listed::Delta(_) => None,
        }
    }

    fn into_listing(self, side: Side, status: &Rows) -> Vec<ItemRef> {
        match self {
            Listed::Full(l) => l,
            Listed::Delta(changes) => plan::listing_from_changes(side, status, changes),
        }
    }
}

/// A side's listing, the token to ask for changes next time, and the items already read.
type SideListing = (Listed, Option<String>, Option<HashMap<Href, FetchResult>>);

/// How a fresh collection was read ([`CollectionJob::run_fresh`]).
enum Fresh {
    /// One side was empty: the other's items were copied to it as they arrived.
    Copied { failures: usize },
    /// Both sides, for the plan.
    Read(Box<(SideListing, SideListing)>),
    /// This side could not be read.
    Failed(Side, Error),
    /// Copying began and the whole read broke off: list and plan as usual.
    Again { failures: usize },
}

/// How one side of a fresh collection was read.
enum Whole {
    /// Every item went through the channel.
    Streamed,
    /// No whole read: listed as usual.
    Listed(SideListing),
}

impl Whole {
    /// The side as the plan takes it; `got` holds what arrived through the channel.
    fn into_listing(self, got: Vec<Fetched>) -> SideListing {
        match self {
            Whole::Listed(l) => l,
            Whole::Streamed => read_whole(got),
        }
    }
}

/// A side read whole, as a listing plus the items already read.
fn read_whole(all: Vec<Fetched>) -> SideListing {
    let mut refs = Vec::with_capacity(all.len());
    let mut read = HashMap::with_capacity(all.len());
    for (href, res) in all {
        // An unreadable item has no etag to list; it fails alone in the plan, which never
        // records the etag of an item it could not read.
        let etag = match &res {
            Ok((_, etag)) => etag.clone(),
            Err(_) => davsync_storages::Etag(String::new()),
        };
        refs.push(ItemRef {
            href: href.clone(),
            etag,
        });
        read.insert(href, fetch_result(res));
    }
    (Listed::Full(refs), None, Some(read))
}

fn idx(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
    }
}

/// What became of one op.
enum Done {
    Ok,
    Failed,
    Unresolved(String),
}

/// Describes a storage error once: the context names the thing, the source adds why.
pub fn describe(e: &Error) -> String {
    match std::error::Error::source(e) {
        Some(src) => format!("{e} ({src})"),
        None => e.to_string(),
    }
}

impl<'a> CollectionJob<'a> {
    fn side(&self, side: Side) -> &SideCtx {
        match side {
            Side::A => &self.a,
            Side::B => &self.b,
        }
    }

    fn read_only(&self, side: Side) -> bool {
        match side {
            Side::A => self.ctx.read_only_a,
            Side::B => self.ctx.read_only_b,
        }
    }

    fn fail(&self, message: &str) -> Done {
        self.reporter.failure(message);
        Done::Failed
    }

    /// Reads the hrefs the plan needs: those already read with the listing come from
    /// `read`; most of a large listing goes through one [`Storage::get_all`]; the rest
    /// through `get_many`.
    async fn read(
        &self,
        side: Side,
        hrefs: Vec<Href>,
        listed: usize,
        read: Option<HashMap<Href, FetchResult>>,
    ) -> HashMap<Href, FetchResult> {
        let mut read = read.unwrap_or_default();
        let mut rest: Vec<Href> = hrefs
            .into_iter()
            .filter(|h| !read.contains_key(h))
            .collect();
        if rest.len() > GET_ALL_MIN && rest.len() as f64 > GET_ALL_FRACTION * listed as f64 {
            let s = self.side(side);
            match s.storage.get_all(&s.collection).await {
                Ok(Some(all)) => {
                    tracing::debug!(
                        collection = %s.label,
                        wanted = rest.len(),
                        listed,
                        "most of the collection changed: read it whole"
                    );
                    let mut all: HashMap<Href, FetchResult> = all
                        .into_iter()
                        .map(|(href, res)| (href, fetch_result(res)))
                        .collect();
                    rest.retain(|h| match all.remove(h) {
                        Some(r) => {
                            read.insert(h.clone(), r);
                            false
                        }
                        None => true,
                    });
                }
                Ok(None) => {}
                // The batched reads below report what is really wrong, item by item.
                Err(e) => tracing::debug!("{}: reading whole failed: {}", s.label, describe(&e)),
            }
        }
        read.extend(self.fetch(side, rest).await);
        read
    }

    async fn fetch(&self, side: Side, hrefs: Vec<Href>) -> HashMap<Href, FetchResult> {
        let s = self.side(side);
        let mut out = HashMap::with_capacity(hrefs.len());
        for chunk in hrefs.chunks(FETCH_BATCH) {
            match s.storage.get_many(&s.collection, chunk).await {
                Ok(fetched) => {
                    for (href, res) in fetched {
                        out.insert(href, fetch_result(res));
                    }
                }
                Err(e) => {
                    for href in chunk {
                        out.insert(
                            href.clone(),
                            Err(FetchError {
                                malformed: false,
                                message: describe(&e),
                            }),
                        );
                    }
                }
            }
        }
        out
    }

    /// Syncs the collection; returns the number of failures reported.
    pub async fn run(&self) -> usize {
        let row = match self.status.collection(&self.name) {
            Ok(row) => row.unwrap_or_default(),
            Err(e) => {
                self.fail(&format!(
                    "{}: reading the status: {e}",
                    self.ctx.labels.pair
                ));
                return 1;
            }
        };
        // A collection the status knows nothing of must be read whole on both sides anyway.
        let fresh = matches!(self.status.item_count(&self.name), Ok(0))
            && matches!(self.status.pending(&self.name), Ok(p) if p.is_empty());
        let mut earlier = 0;
        let listed = if fresh {
            match self.run_fresh(&row).await {
                Fresh::Copied { failures } => return self.finish_copied(failures),
                Fresh::Read(both) => Ok(*both),
                Fresh::Failed(side, e) => Err((side, e)),
                Fresh::Again { failures } => {
                    earlier = failures;
                    let fresh = matches!(self.status.item_count(&self.name), Ok(0));
                    self.list_both(&row, fresh).await
                }
            }
        } else {
            self.list_both(&row, false).await
        };
        let ((la, ta, ra), (lb, tb, rb)) = match listed {
            Ok(both) => both,
            Err((side, e)) => {
                self.fail(&format!(
                    "{}: listing failed: {}",
                    self.side(side).label,
                    describe(&e)
                ));
                return earlier + 1;
            }
        };
        // The no-op fast path: both sides listed exactly as at the end of a sync that found
        // nothing to do, under the same settings: the plan would be empty again, so not even
        // the status rows are loaded.
        let digest = match (la.state(ta.as_deref()), lb.state(tb.as_deref())) {
            (Some(a), Some(b)) => Some(self.noop_digest(a, b)),
            _ => None,
        };
        if digest.is_some() && digest == row.noop_digest {
            return match self.status.set_last_sync(&self.name, chrono::Utc::now()) {
                Ok(()) => 0,
                Err(e) => {
                    self.fail(&format!(
                        "{}: recording the sync time: {e}",
                        self.ctx.labels.pair
                    ));
                    1
                }
            };
        }
        // Disarmed before anything can change, so a sync cut off halfway never leaves a
        // digest that no longer describes the status.
        if row.noop_digest.is_some() {
            if let Err(e) = self.status.set_noop_digest(&self.name, None) {
                self.fail(&format!(
                    "{}: recording the sync state: {e}",
                    self.ctx.labels.pair
                ));
                return 1;
            }
        }
        let status = match self.status.items(&self.name) {
            Ok(s) => s,
            Err(e) => {
                self.fail(&format!(
                    "{}: reading the status: {e}",
                    self.ctx.labels.pair
                ));
                return 1;
            }
        };
        let la = la.into_listing(Side::A, &status);
        let lb = lb.into_listing(Side::B, &status);
        let (failures, acted) = self.run_listed(&la, &lb, &status, [ra, rb]).await;
        let failures = failures + earlier;
        // A token is only worth keeping when everything up to it was synced: an item that
        // failed would not show up in the next delta. After a failure, list fully next time.
        let (ta, tb) = if failures == 0 {
            (ta, tb)
        } else {
            (None, None)
        };
        // The fast path is armed only by a sync that found nothing at all to do.
        let digest = digest.filter(|_| failures == 0 && !acted);
        if let Err(e) = self
            .status
            .set_tokens(&self.name, ta.as_deref(), tb.as_deref())
        {
            self.fail(&format!(
                "{}: recording sync tokens: {e}",
                self.ctx.labels.pair
            ));
            return failures + 1;
        }
        if let Err(e) = self.status.set_noop_digest(&self.name, digest.as_deref()) {
            self.fail(&format!(
                "{}: recording the sync state: {e}",
                self.ctx.labels.pair
            ));
            return failures + 1;
        }
        failures
    }

    /// Both sides' listings (see [`Self::listing`]), or the side whose listing failed.
    async fn list_both(
        &self,
        row: &CollectionRow,
        fresh: bool,
    ) -> Result<(SideListing, SideListing), (Side, Error)> {
        let (la, lb) = futures::join!(
            self.listing(Side::A, row.a_token.clone(), fresh),
            self.listing(Side::B, row.b_token.clone(), fresh)
        );
        match (la, lb) {
            (Ok(a), Ok(b)) => Ok((a, b)),
            (Err(e), _) => Err((Side::A, e)),
            (_, Err(e)) => Err((Side::B, e)),
        }
    }

    /// A fresh collection (nothing of it in the status) is read whole on both sides at once.
    /// When one side turns out empty (and writable) while the other is still arriving, each
    /// of the other's items is copied as soon as it is parsed and dropped once written: the
    /// transfer and the writes overlap, and memory holds a batch, not the collection.
    /// Otherwise both sides are collected for the plan, as [`Self::listing`] would.
    async fn run_fresh(&self, row: &CollectionRow) -> Fresh {
        let (tx_a, mut rx_a) = mpsc::channel::<Fetched>(STREAMED_ITEMS);
        let (tx_b, mut rx_b) = mpsc::channel::<Fetched>(STREAMED_ITEMS);
        let fa = self.whole(Side::A, row.a_token.clone(), tx_a);
        let fb = self.whole(Side::B, row.b_token.clone(), tx_b);
        tokio::pin!(fa, fb);
        let mut done: [Option<Result<Whole, Error>>; 2] = [None, None];
        let mut open = [true, true];
        let mut got: [Vec<Fetched>; 2] = [Vec::new(), Vec::new()];
        let mut into: Option<Side> = None;
        let mut queue: VecDeque<Fetched> = VecDeque::new();
        let mut writes = futures::stream::FuturesUnordered::new();
        let mut sources: HashMap<String, Vec<Href>> = HashMap::new();
        let mut failures = 0;
        let mut written = 0u64;
        let mut last_commit = Instant::now();
        loop {
            if into.is_none() {
                for y in [Side::A, Side::B] {
                    let x = other(y);
                    let y_empty = match &done[idx(y)] {
                        Some(Ok(Whole::Listed(l))) => l.0.lists_nothing(),
                        Some(Ok(Whole::Streamed)) => !open[idx(y)] && got[idx(y)].is_empty(),
                        _ => false,
                    };
                    let x_arrives = matches!(&done[idx(x)], None | Some(Ok(Whole::Streamed)));
                    if y_empty && x_arrives && !self.read_only(y) {
                        into = Some(y);
                        queue.extend(std::mem::take(&mut got[idx(x)]));
                        break;
                    }
                }
            }
            if let Some(y) = into {
                while writes.len() < WRITE_CONCURRENCY {
                    let Some(f) = queue.pop_front() else { break };
                    if let Some(w) = self.copy_streamed(other(y), f, &mut sources, &mut failures) {
                        writes.push(w);
                    }
                }
            }
            let finished = done.iter().all(Option::is_some) && open == [false, false];
            if finished && writes.is_empty() && queue.is_empty() {
                break;
            }
            let room = into.is_none() || (writes.len() < WRITE_CONCURRENCY && queue.is_empty());
            let route = |side: Side,
                         f: Fetched,
                         queue: &mut VecDeque<Fetched>,
                         got: &mut [Vec<Fetched>; 2]| {
                if into == Some(other(side)) {
                    queue.push_back(f);
                } else {
                    got[idx(side)].push(f);
                }
            };
            tokio::select! {
                r = &mut fa, if done[0].is_none() => done[0] = Some(r),
                r = &mut fb, if done[1].is_none() => done[1] = Some(r),
                f = rx_a.recv(), if open[0] && room => match f {
                    Some(f) => route(Side::A, f, &mut queue, &mut got),
                    None => open[0] = false,
                },
                f = rx_b.recv(), if open[1] && room => match f {
                    Some(f) => route(Side::B, f, &mut queue, &mut got),
                    None => open[1] = false,
                },
                Some(result) = writes.next(), if !writes.is_empty() => {
                    written += 1;
                    self.reporter.progress(&self.ctx.labels.pair, written, written);
                    if !matches!(result, Done::Ok) {
                        failures += 1;
                    }
                }
                else => break,
            }
            if self.queued() >= COMMIT_BATCH || last_commit.elapsed() >= COMMIT_INTERVAL {
                failures += self.commit().await;
                last_commit = Instant::now();
            }
        }
        let [da, db] = done;
        let (da, db) = (da.expect("finished"), db.expect("finished"));
        let Some(y) = into else {
            // Nothing was written: hand both sides to the plan.
            let [ga, gb] = got;
            return match (da, db) {
                (Ok(a), Ok(b)) => Fresh::Read(Box::new((a.into_listing(ga), b.into_listing(gb)))),
                (Err(e), _) => Fresh::Failed(Side::A, e),
                (_, Err(e)) => Fresh::Failed(Side::B, e),
            };
        };
        let x = other(y);
        let dx = if x == Side::A { da } else { db };
        match dx {
            Ok(Whole::Streamed) => {}
            // The whole read broke off after some items were copied: those copies stand, the
            // rest goes through the usual listing and plan.
            Ok(Whole::Listed(_)) => {
                failures += self.commit().await;
                return Fresh::Again { failures };
            }
            Err(e) => {
                failures += self.commit().await;
                self.fail(&format!(
                    "{}: listing failed: {}",
                    self.side(x).label,
                    describe(&e)
                ));
                return Fresh::Copied {
                    failures: failures + 1,
                };
            }
        }
        failures += self.commit().await;
        failures += self.undo_duplicates(x, sources).await;
        Fresh::Copied { failures }
    }

    /// A side of a fresh collection read whole into `sink` ([`Storage::get_all_into`]), or
    /// listed as [`Self::listing`] does when it has no whole read.
    async fn whole(
        &self,
        side: Side,
        token: Option<String>,
        sink: mpsc::Sender<Fetched>,
    ) -> Result<Whole, Error> {
        let s = self.side(side);
        if !s.phantom && s.storage.get_all_into(&s.collection, sink).await? {
            return Ok(Whole::Streamed);
        }
        let (listed, token, read) = self.listing(side, token, false).await?;
        Ok(Whole::Listed((listed, token, read)))
    }

    /// Starts copying one item of side `x` as it arrived; `None` when there is nothing to
    /// write (a read failure, reported here, or a second item with the same UID, settled by
    /// [`Self::undo_duplicates`]).
    fn copy_streamed<'s>(
        &'s self,
        x: Side,
        (href, res): Fetched,
        sources: &mut HashMap<String, Vec<Href>>,
        failures: &mut usize,
    ) -> Option<futures::future::BoxFuture<'s, Done>> {
        let label = &self.side(x).label;
        let (item, etag) = match res {
            Ok(ok) => ok,
            Err(e) => {
                let message = match fetch_result(Err(e)) {
                    Err(e) if e.malformed => format!(
                        "{label}: malformed item {href}: {} (not synced; fix or remove it)",
                        e.message
                    ),
                    Err(e) => format!("{label}: reading {href}: {}", e.message),
                    Ok(_) => unreachable!("an error stays an error"),
                };
                self.fail(&message);
                *failures += 1;
                return None;
            }
        };
        let ident = item.ident().to_owned();
        let hrefs = sources.entry(ident.clone()).or_default();
        hrefs.push(href.clone());
        if hrefs.len() > 1 {
            return None;
        }
        let src = Current {
            href,
            etag,
            hash: item.hash().to_owned(),
            item: Some(item.clone()),
        };
        Some(Box::pin(async move {
            self.copy(&ident, x, &src, &item, None, true).await
        }))
    }

    /// Items of side `x` that shared a UID must not be synced (as the plan decides for a
    /// collection read before planning): the copy made of the first one is deleted again
    /// and each such UID is reported. Returns the failures reported.
    async fn undo_duplicates(&self, x: Side, sources: HashMap<String, Vec<Href>>) -> usize {
        let mut dups: Vec<(String, Vec<Href>)> =
            sources.into_iter().filter(|(_, h)| h.len() > 1).collect();
        if dups.is_empty() {
            return 0;
        }
        dups.sort();
        let y = other(x);
        let t = self.side(y);
        let rows = self.status.items(&self.name).unwrap_or_default();
        let mut failures = 0;
        for (ident, mut hrefs) in dups {
            hrefs.sort();
            let made = rows.get(&ident).and_then(|r| match y {
                Side::A => r.a.clone(),
                Side::B => r.b.clone(),
            });
            if let Some(st) = made {
                let href = Href(st.href);
                match t
                    .storage
                    .delete(&t.collection, &href, &davsync_storages::Etag(st.etag))
                    .await
                {
                    Ok(()) => {
                        self.reporter
                            .change(&format!("Deleting item {ident} from {}", t.label));
                        self.forget(&ident);
                    }
                    Err(e) => {
                        failures += 1;
                        self.fail(&format!(
                            "Deleting item {ident} from {} failed: {}",
                            t.label,
                            describe(&e)
                        ));
                    }
                }
            }
            let list: Vec<&str> = hrefs.iter().map(Href::as_str).collect();
            self.fail(&format!(
                "{}: duplicate UID {ident} in {} (not synced; run `davsync repair` to give \
                 each a fresh UID)",
                self.side(x).label,
                list.join(", ")
            ));
            failures += 1;
        }
        failures + self.commit().await
    }

    /// The end of a fresh collection whose items were copied as they arrived: what
    /// [`Self::run`] records after a plan (no conflicts, no tokens, no no-op digest).
    fn finish_copied(&self, mut failures: usize) -> usize {
        for r in [
            self.status.set_conflicts(&self.name, &[]),
            self.status.set_last_sync(&self.name, chrono::Utc::now()),
            self.status.set_tokens(&self.name, None, None),
            self.status.set_noop_digest(&self.name, None),
        ] {
            if let Err(e) = r {
                failures += 1;
                self.fail(&format!(
                    "{}: recording the sync state: {e}",
                    self.ctx.labels.pair
                ));
            }
        }
        failures
    }

    /// SHA-256 over the settings that shape the plan and both sides' states (sorted listings,
    /// or the sync token of a side that reported no change). Equal digests mean equal inputs
    /// to [`plan::plan`] (the status is unchanged, as any change to it clears the stored
    /// digest; a side unchanged since its token lists as the status says), hence the same
    /// empty plan.
    fn noop_digest(&self, a: Seen<'_>, b: Seen<'_>) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        let settings = format!(
            "v1\0{}\0{}\0{}\0{}\0{:?}\0{:?}\0",
            self.a.collection.href,
            self.b.collection.href,
            self.ctx.read_only_a,
            self.ctx.read_only_b,
            self.ctx.partial_sync,
            self.strategies
        );
        h.update(settings.as_bytes());
        for state in [a, b] {
            let listing = match state {
                Seen::Listing(l) => l,
                Seen::Token(t) => {
                    h.update(b"token\0");
                    h.update(t.as_bytes());
                    h.update(b"\0");
                    continue;
                }
            };
            let mut refs: Vec<&ItemRef> = listing.iter().collect();
            refs.sort_unstable_by(|x, y| x.href.cmp(&y.href));
            h.update(refs.len().to_le_bytes());
            for r in refs {
                h.update(r.href.as_str().as_bytes());
                h.update(b"\0");
                h.update(r.etag.as_str().as_bytes());
                h.update(b"\0");
            }
        }
        hex::encode(h.finalize())
    }

    /// The side's items now (a full listing or a delta), the token to ask for changes next
    /// time, and the items already read. A `fresh` collection (nothing in the status) must be
    /// read whole anyway: one [`Storage::get_all`] does it where the backend has a cheaper
    /// way than listing and reading (no token then; the next sync lists fully once and gets
    /// one). Otherwise [`Storage::changes`] when the backend offers it, `list` else.
    async fn listing(
        &self,
        side: Side,
        token: Option<String>,
        fresh: bool,
    ) -> Result<(Listed, Option<String>, Option<HashMap<Href, FetchResult>>), Error> {
        let s = self.side(side);
        if s.phantom {
            return Ok((Listed::Full(Vec::new()), None, None));
        }
        if fresh {
            if let Some(all) = s.storage.get_all(&s.collection).await? {
                return Ok(read_whole(all));
            }
        }
        let since = token.map(davsync_storages::SyncToken);
        match s.storage.changes(&s.collection, since.as_ref()).await? {
            Some(changes) => {
                let new_token = changes.token.clone().map(|t| t.0);
                Ok((Listed::Delta(changes), new_token, None))
            }
            None => Ok((
                Listed::Full(s.storage.list(&s.collection).await?),
                None,
                None,
            )),
        }
    }

    /// Plans and executes; returns the failures and whether any op (write or status change)
    /// was planned.
    async fn run_listed(
        &self,
        la: &[ItemRef],
        lb: &[ItemRef],
        status: &Rows,
        read: [Option<HashMap<Href, FetchResult>>; 2],
    ) -> (usize, bool) {
        if let Err(message) = plan::check_emptied(la.len(), lb.len(), status, &self.ctx) {
            self.fail(&message);
            return (1, true);
        }
        let index = plan::StatusIndex::new(status);
        let need_a = plan::needs_fetch(Side::A, la, &index);
        let need_b = plan::needs_fetch(Side::B, lb, &index);
        let [read_a, read_b] = read;
        let (fa, fb) = futures::join!(
            self.read(Side::A, need_a, la.len(), read_a),
            self.read(Side::B, need_b, lb.len(), read_b)
        );
        let pending = match self.status.pending(&self.name) {
            Ok(p) => p,
            Err(e) => {
                self.fail(&format!(
                    "{}: reading the status: {e}",
                    self.ctx.labels.pair
                ));
                return (1, true);
            }
        };
        let ops = match plan::plan(&PlanInput {
            a: la,
            b: lb,
            status,
            index: &index,
            fetched_a: &fa,
            fetched_b: &fb,
            pending: &pending,
            ctx: &self.ctx,
        }) {
            Ok(ops) => ops,
            Err(message) => {
                self.fail(&message);
                return (1, true);
            }
        };
        let acted = !ops.is_empty();
        let ops = self.hydrate(ops).await;
        let total = ops.iter().filter(|o| o.writes()).count() as u64;
        let mut done = 0u64;
        let mut failures = 0usize;
        let mut conflicts: Vec<(String, String)> = Vec::new();
        let status_ref = status;
        let mut results = futures::stream::iter(ops.into_iter().map(|op| async move {
            let ident = op.ident().map(str::to_owned);
            let writes = op.writes();
            (ident, writes, self.exec(op, status_ref).await)
        }))
        .buffer_unordered(WRITE_CONCURRENCY);
        let mut last_commit = Instant::now();
        while let Some((ident, writes, result)) = results.next().await {
            if self.queued() >= COMMIT_BATCH || last_commit.elapsed() >= COMMIT_INTERVAL {
                failures += self.commit().await;
                last_commit = Instant::now();
            }
            if writes {
                done += 1;
                self.reporter
                    .progress(&self.ctx.labels.pair, done, total.max(done));
            }
            match result {
                Done::Ok => {}
                Done::Failed => failures += 1,
                Done::Unresolved(reason) => {
                    failures += 1;
                    conflicts.push((ident.unwrap_or_default(), reason));
                }
            }
        }
        drop(results);
        failures += self.commit().await;
        conflicts.sort();
        if let Err(e) = self.status.set_conflicts(&self.name, &conflicts) {
            failures += 1;
            self.fail(&format!(
                "{}: recording conflicts: {e}",
                self.ctx.labels.pair
            ));
        }
        if let Err(e) = self.status.set_last_sync(&self.name, chrono::Utc::now()) {
            failures += 1;
            self.fail(&format!(
                "{}: recording the sync time: {e}",
                self.ctx.labels.pair
            ));
        }
        (failures, acted)
    }

    /// Reads the items the plan needs but did not have to read to decide (an unchanged item
    /// copied to restore it, both sides of a conflict).
    async fn hydrate(&self, mut ops: Vec<Op>) -> Vec<Op> {
        let mut need: [Vec<Href>; 2] = [Vec::new(), Vec::new()];
        let idx = |s: Side| match s {
            Side::A => 0,
            Side::B => 1,
        };
        for op in &ops {
            match op {
                Op::Copy { from, src, .. } if src.item.is_none() => {
                    need[idx(*from)].push(src.href.clone())
                }
                Op::Conflict { a, b, .. } => {
                    if a.item.is_none() {
                        need[0].push(a.href.clone());
                    }
                    if b.item.is_none() {
                        need[1].push(b.href.clone());
                    }
                }
                _ => {}
            }
        }
        if need[0].is_empty() && need[1].is_empty() {
            return ops;
        }
        let [na, nb] = need;
        let (fa, fb) = futures::join!(self.fetch(Side::A, na), self.fetch(Side::B, nb));
        let fill = |side: Side, cur: &mut Current| -> Result<(), String> {
            if cur.item.is_some() {
                return Ok(());
            }
            let fetched = match side {
                Side::A => &fa,
                Side::B => &fb,
            };
            match fetched.get(&cur.href) {
                Some(Ok(item)) => {
                    cur.item = Some(item.clone());
                    Ok(())
                }
                Some(Err(e)) => Err(format!(
                    "{}: reading {}: {}",
                    self.side(side).label,
                    cur.href,
                    e.message
                )),
                None => Err(format!(
                    "{}: {} was not read",
                    self.side(side).label,
                    cur.href
                )),
            }
        };
        for op in ops.iter_mut() {
            let res = match op {
                Op::Copy { from, src, .. } => fill(*from, src),
                Op::Conflict { a, b, .. } => fill(Side::A, a).and_then(|_| fill(Side::B, b)),
                _ => Ok(()),
            };
            if let Err(message) = res {
                *op = Op::Fail {
                    ident: op.ident().map(str::to_owned),
                    message,
                };
            }
        }
        ops
    }

    async fn exec(&self, op: Op, status: &Rows) -> Done {
        match op {
            Op::Record { row } => self.record(&row),
            Op::Forget { ident } => self.forget(&ident),
            Op::Fail { message, .. } => self.fail(&message),
            Op::ClearPending { ident } => {
                self.queue(RowChange::ClearPending(ident));
                Done::Ok
            }
            Op::Copy {
                ident,
                from,
                src,
                dst,
                ..
            } => {
                let item = src.item.clone().expect("hydrated");
                self.copy(&ident, from, &src, &item, dst.as_deref(), true)
                    .await
            }
            Op::Delete {
                ident,
                side,
                target_item,
                ..
            } => self.delete(&ident, side, &target_item, true).await,
            Op::Conflict { ident, a, b, .. } => self.conflict(&ident, *a, *b, true, status).await,
        }
    }

    fn queue(&self, change: RowChange) {
        self.unrecorded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(change);
    }

    fn queued(&self) -> usize {
        self.unrecorded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Makes the writes behind the queued rows durable on both sides, then commits the rows
    /// in one transaction; returns the failures reported. When either step fails the rows
    /// are dropped: the next sync finds those items on both sides and only records them.
    async fn commit(&self) -> usize {
        let batch = std::mem::take(&mut *self.unrecorded.lock().unwrap_or_else(|e| e.into_inner()));
        if batch.is_empty() {
            return 0;
        }
        let (fa, fb) = futures::join!(self.a.storage.flush(), self.b.storage.flush());
        for (res, side) in [(fa, &self.a), (fb, &self.b)] {
            if let Err(e) = res {
                self.fail(&format!(
                    "{}: making the writes durable failed: {}",
                    side.label,
                    describe(&e)
                ));
                return 1;
            }
        }
        match self.status.apply(&self.name, &batch) {
            Ok(()) => 0,
            Err(e) => {
                self.fail(&format!(
                    "{}: recording {} item(s) in the status: {e}",
                    self.ctx.labels.pair,
                    batch.len()
                ));
                1
            }
        }
    }

    /// Queues the row for the status (see [`Self::commit`]).
    fn record(&self, row: &ItemRow) -> Done {
        self.queue(RowChange::Put(row.clone()));
        Done::Ok
    }

    fn forget(&self, ident: &str) -> Done {
        self.queue(RowChange::Remove(ident.to_owned()));
        Done::Ok
    }

    fn row(ident: &str, side: Side, this: SideState, other_state: Option<SideState>) -> ItemRow {
        let (a, b) = match side {
            Side::A => (Some(this), other_state),
            Side::B => (other_state, Some(this)),
        };
        ItemRow {
            ident: ident.to_owned(),
            a,
            b,
        }
    }

    fn item_failure(&self, ident: &str, side: Side, what: &str, e: &Error, item: &Item) -> Done {
        let label = &self.side(side).label;
        let mut msg = format!("{what} item {ident} to {label} failed: {}", describe(e));
        let refusal = !matches!(
            e.kind(),
            ErrorKind::Transport | ErrorKind::Io | ErrorKind::Auth | ErrorKind::PreconditionFailed
        );
        if item.uid().is_none() && refusal {
            msg.push_str(
                " (the item has no UID; run `davsync repair` on the other storage to give it one)",
            );
        }
        self.fail(&msg)
    }

    /// Writes `item` (the version of `from`, described by `src`) to the other side: an upload
    /// when `dst` is `None`, an update conditional on `dst`'s etag otherwise.
    async fn copy(
        &self,
        ident: &str,
        from: Side,
        src: &Current,
        item: &Item,
        dst: Option<&Current>,
        retry: bool,
    ) -> Done {
        let to = other(from);
        let t = self.side(to);
        let src_state = SideState {
            href: src.href.0.clone(),
            etag: src.etag.0.clone(),
            hash: item.hash().to_owned(),
        };
        match dst {
            None => match t.storage.upload(&t.collection, item).await {
                Ok((href, etag)) => {
                    self.reporter
                        .change(&format!("Copying (uploading) item {ident} to {}", t.label));
                    self.record(&Self::row(
                        ident,
                        to,
                        SideState {
                            href: href.0,
                            etag: etag.0,
                            hash: item.hash().to_owned(),
                        },
                        Some(src_state),
                    ))
                }
                // Created there meanwhile (another client, or a write of an interrupted run
                // the server finished after our listing): compare with what is there now.
                Err(e) if retry && e.kind() == ErrorKind::AlreadyExists => {
                    match t.storage.preferred_href(ident) {
                        Some(href) => {
                            let there = Current {
                                href,
                                etag: davsync_storages::Etag(String::new()),
                                hash: String::new(),
                                item: None,
                            };
                            Box::pin(self.after_precondition(ident, from, src, item, &there)).await
                        }
                        None => self.item_failure(ident, to, "Copying (uploading)", &e, item),
                    }
                }
                Err(e) => self.item_failure(ident, to, "Copying (uploading)", &e, item),
            },
            Some(d) => match t
                .storage
                .update(&t.collection, &d.href, item, &d.etag)
                .await
            {
                Ok(etag) => {
                    self.reporter
                        .change(&format!("Copying (updating) item {ident} to {}", t.label));
                    self.record(&Self::row(
                        ident,
                        to,
                        SideState {
                            href: d.href.0.clone(),
                            etag: etag.0,
                            hash: item.hash().to_owned(),
                        },
                        Some(src_state),
                    ))
                }
                Err(e) if retry && e.kind() == ErrorKind::PreconditionFailed => {
                    Box::pin(self.after_precondition(ident, from, src, item, d)).await
                }
                Err(e) if retry && e.kind() == ErrorKind::NotFound => {
                    // Deleted there meanwhile: the edit we carry beats that deletion.
                    Box::pin(self.copy(ident, from, src, item, None, false)).await
                }
                Err(e) => self.item_failure(ident, to, "Copying (updating)", &e, item),
            },
        }
    }

    /// An update met a fresh etag: someone edited the item meanwhile. Re-read it and treat the
    /// two versions as a conflict, never overwriting the edit blindly.
    async fn after_precondition(
        &self,
        ident: &str,
        from: Side,
        src: &Current,
        item: &Item,
        dst: &Current,
    ) -> Done {
        let to = other(from);
        let t = self.side(to);
        match t.storage.get(&t.collection, &dst.href).await {
            Ok((now, etag)) => {
                let fresh = Current {
                    href: dst.href.clone(),
                    etag,
                    hash: now.hash().to_owned(),
                    item: Some(now),
                };
                let mut src = src.clone();
                src.item = Some(item.clone());
                if fresh.hash == item.hash() {
                    return self.record(&Self::row(
                        ident,
                        to,
                        SideState {
                            href: fresh.href.0.clone(),
                            etag: fresh.etag.0.clone(),
                            hash: fresh.hash.clone(),
                        },
                        Some(SideState {
                            href: src.href.0.clone(),
                            etag: src.etag.0.clone(),
                            hash: src.hash.clone(),
                        }),
                    ));
                }
                let (a, b) = match from {
                    Side::A => (src, fresh),
                    Side::B => (fresh, src),
                };
                Box::pin(self.conflict(ident, a, b, false, &Rows::default())).await
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                Box::pin(self.copy(ident, from, src, item, None, false)).await
            }
            Err(e) => self.fail(&format!(
                "item {ident} changed on {} during the sync and could not be re-read: {}",
                t.label,
                describe(&e)
            )),
        }
    }

    async fn delete(&self, ident: &str, side: Side, cur: &Current, retry: bool) -> Done {
        let s = self.side(side);
        match s.storage.delete(&s.collection, &cur.href, &cur.etag).await {
            Ok(()) => {
                self.reporter
                    .change(&format!("Deleting item {ident} from {}", s.label));
                self.forget(ident)
            }
            Err(e) if e.kind() == ErrorKind::NotFound => self.forget(ident),
            Err(e) if retry && e.kind() == ErrorKind::PreconditionFailed => {
                // Edited meanwhile: the edit beats the deletion, it goes to the other side.
                match s.storage.get(&s.collection, &cur.href).await {
                    Ok((item, etag)) if !self.read_only(other(side)) => {
                        let now = Current {
                            href: cur.href.clone(),
                            etag,
                            hash: item.hash().to_owned(),
                            item: Some(item.clone()),
                        };
                        Box::pin(self.copy(ident, side, &now, &item, None, false)).await
                    }
                    Ok(_) => self.fail(&format!(
                        "item {ident} changed on {} during the sync; not deleted",
                        s.label
                    )),
                    Err(e) if e.kind() == ErrorKind::NotFound => self.forget(ident),
                    Err(e) => self.fail(&format!(
                        "Deleting item {ident} from {} failed: {}",
                        s.label,
                        describe(&e)
                    )),
                }
            }
            Err(e) => self.fail(&format!(
                "Deleting item {ident} from {} failed: {}",
                s.label,
                describe(&e)
            )),
        }
    }

    async fn conflict(
        &self,
        ident: &str,
        a: Current,
        b: Current,
        retry: bool,
        status: &Rows,
    ) -> Done {
        let pair = &self.ctx.labels.pair;
        let (Some(ia), Some(ib)) = (a.item.clone(), b.item.clone()) else {
            return self.fail(&format!(
                "item {ident} in {pair}: conflict without both versions"
            ));
        };
        if ia.hash() == ib.hash() {
            return self.record(&ItemRow {
                ident: ident.to_owned(),
                a: Some(state(&a)),
                b: Some(state(&b)),
            });
        }
        // A read-only side can only win (or be ignored): partial_sync decides.
        let ro = [Side::A, Side::B].into_iter().find(|s| self.read_only(*s));
        if let Some(ro) = ro {
            if self.ctx.read_only_a && self.ctx.read_only_b {
                return Done::Ok;
            }
            return match self.ctx.partial_sync {
                PartialSync::Ignore => Done::Ok,
                PartialSync::Error => self.fail(&format!(
                    "item {ident} changed in {} but {} is read-only (partial_sync = \"error\"); \
                     nothing written for it",
                    self.side(other(ro)).label,
                    self.side(ro).label
                )),
                PartialSync::Revert => {
                    let (src, item, dst) = match ro {
                        Side::A => (&a, &ia, &b),
                        Side::B => (&b, &ib, &a),
                    };
                    self.copy(ident, ro, src, item, Some(dst), retry).await
                }
            };
        }
        match conflict::resolve(self.strategies, &ia, &ib, self.dry_run).await {
            Outcome::Unresolved { reason } => {
                let line = plan::unresolved_line(ident, pair, &reason);
                self.reporter.change(&line);
                self.reporter.failure(&line);
                Done::Unresolved(reason)
            }
            Outcome::Resolved {
                strategy,
                resolution,
            } => {
                let done = match resolution {
                    Resolution::Take(side) => {
                        let (src, item, dst) = match side {
                            Side::A => (&a, &ia, &b),
                            Side::B => (&b, &ib, &a),
                        };
                        self.copy(ident, side, src, item, Some(dst), retry).await
                    }
                    Resolution::KeepBoth { renamed } => {
                        self.keep_both(ident, &a, &ia, &b, &renamed, retry, status)
                            .await
                    }
                    Resolution::Merged(merged) => self.merged(ident, &a, &b, &merged).await,
                };
                if matches!(done, Done::Ok) {
                    self.reporter
                        .change(&plan::resolved_line(ident, pair, strategy));
                }
                done
            }
        }
    }

    /// `keep both`: b's version goes to both sides under its fresh UID, then a's version
    /// replaces b's under the original UID. The fresh UID is derived from the content, and a
    /// copy the status already knows on a side is not made again, so repeating this after an
    /// interruption makes no duplicate.
    #[allow(clippy::too_many_arguments)]
    async fn keep_both(
        &self,
        ident: &str,
        a: &Current,
        ia: &Item,
        b: &Current,
        renamed: &Item,
        retry: bool,
        status: &Rows,
    ) -> Done {
        let new_ident = renamed.ident().to_owned();
        // Recorded before the first write: if this is cut off halfway, the next sync knows
        // the renamed copy is ours (see plan::finish_pending).
        if let Err(e) = self.status.set_pending(
            &self.name,
            &Pending {
                ident: ident.to_owned(),
                renamed: new_ident.clone(),
                b_hash: b.hash.clone(),
                renamed_hash: renamed.hash().to_owned(),
            },
        ) {
            return self.fail(&format!(
                "{}: recording item {ident} in the status: {e}",
                self.ctx.labels.pair
            ));
        }
        let known = status.get(&new_ident).cloned().unwrap_or(ItemRow {
            ident: new_ident.clone(),
            a: None,
            b: None,
        });
        let mut row = known;
        for side in [Side::A, Side::B] {
            let already = match side {
                Side::A => row.a.is_some(),
                Side::B => row.b.is_some(),
            };
            if already {
                continue;
            }
            let s = self.side(side);
            match s.storage.upload(&s.collection, renamed).await {
                Ok((href, etag)) => {
                    self.reporter.change(&format!(
                        "Copying (uploading) item {new_ident} to {}",
                        s.label
                    ));
                    let st = SideState {
                        href: href.0,
                        etag: etag.0,
                        hash: renamed.hash().to_owned(),
                    };
                    match side {
                        Side::A => row.a = Some(st),
                        Side::B => row.b = Some(st),
                    }
                    if let Done::Failed = self.record(&row) {
                        return Done::Failed;
                    }
                }
                // Made by an interrupted earlier run whose status row was lost: the next
                // sync finds it on both sides and records it.
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return self.item_failure(&new_ident, side, "Copying (uploading)", &e, renamed)
                }
            }
        }
        let done = self.copy(ident, Side::A, a, ia, Some(b), retry).await;
        if matches!(done, Done::Ok) {
            self.queue(RowChange::ClearPending(ident.to_owned()));
        }
        done
    }

    /// A merged version (from `command`) replaces both sides' versions.
    async fn merged(&self, ident: &str, a: &Current, b: &Current, merged: &Item) -> Done {
        let mut states = Vec::new();
        for (side, cur) in [(Side::A, a), (Side::B, b)] {
            let s = self.side(side);
            match s
                .storage
                .update(&s.collection, &cur.href, merged, &cur.etag)
                .await
            {
                Ok(etag) => {
                    self.reporter
                        .change(&format!("Copying (updating) item {ident} to {}", s.label));
                    states.push(SideState {
                        href: cur.href.0.clone(),
                        etag: etag.0,
                        hash: merged.hash().to_owned(),
                    });
                }
                Err(e) => return self.item_failure(ident, side, "Copying (updating)", &e, merged),
            }
        }
        let b_state = states.pop();
        let a_state = states.pop();
        self.record(&ItemRow {
            ident: ident.to_owned(),
            a: a_state,
            b: b_state,
        })
    }
}

fn fetch_result(res: Result<(Item, davsync_storages::Etag), Error>) -> FetchResult {
    res.map(|(item, _)| item).map_err(|e| FetchError {
        malformed: e.kind() == ErrorKind::InvalidData,
        message: describe(&e),
    })
}

fn state(c: &Current) -> SideState {
    SideState {
        href: c.href.0.clone(),
        etag: c.etag.0.clone(),
        hash: c.hash.clone(),
    }
}
