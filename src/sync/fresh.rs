//! The first sync of a collection (nothing of it in the status): both sides are read whole at
//! once, and when one side turns out empty (and writable) while the other is still
//! arriving, each of the other's items is copied as soon as it is parsed and dropped once
//! written. The transfer and the writes overlap, and memory holds a batch, not the
//! collection.
//!
//! Each streamed item goes through the plan's own per-item decision ([`plan::item_op`]) and
//! the executor's own ops, so a first sync decides exactly as a planned one would. What a
//! stream cannot know in advance, that a later item repeats a UID, is settled afterwards
//! (`undo_duplicates`) to the plan's outcome: no copy of such a UID stays.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use davsync_storages::{CollectionToken, Error, Fetched, Href, ItemRef};
use futures::StreamExt;
use tokio::sync::mpsc;

use super::apply::Done;
use super::event::Event;
use super::job::{CollectionJob, WRITE_CONCURRENCY};
use super::plan::{self, Cur};
use super::read::{fetch_error, read_whole, Snapshot};
use super::side::{BySide, Side};
use crate::status::Rows;

/// Items of a whole read parsed ahead of the writes.
const STREAMED_ITEMS: usize = 64;

/// How a fresh collection was read.
pub enum Fresh {
    /// One side was empty: the other's items were copied to it as they arrived.
    Copied,
    /// Both sides, for the plan.
    Read(Box<BySide<Snapshot>>),
    /// This side could not be read.
    Failed(Side, Error),
    /// Copying began and the whole read broke off: list and plan as usual.
    Again,
}

/// How one side of a fresh collection was read.
enum Whole {
    /// Every item went through the channel.
    Streamed,
    /// No whole read: listed as usual.
    Listed(Snapshot),
}

impl Whole {
    /// The side as the plan takes it; `got` holds what arrived through the channel.
    fn into_snapshot(self, got: Vec<Fetched>) -> Snapshot {
        match self {
            Whole::Listed(l) => l,
            Whole::Streamed => read_whole(got),
        }
    }
}

impl CollectionJob<'_> {
    /// Reads a fresh collection; see the module docs.
    pub(super) async fn run_fresh(&self, tokens: &BySide<Option<CollectionToken>>) -> Fresh {
        let (tx_a, mut rx_a) = mpsc::channel::<Fetched>(STREAMED_ITEMS);
        let (tx_b, mut rx_b) = mpsc::channel::<Fetched>(STREAMED_ITEMS);
        let fa = self.whole(Side::A, tokens.a.clone(), tx_a);
        let fb = self.whole(Side::B, tokens.b.clone(), tx_b);
        tokio::pin!(fa, fb);
        let mut done: BySide<Option<Result<Whole, Error>>> = BySide::default();
        let mut open = BySide::new(true, true);
        let mut got: BySide<Vec<Fetched>> = BySide::default();
        let mut into: Option<Side> = None;
        let mut queue: VecDeque<Fetched> = VecDeque::new();
        let mut writes = futures::stream::FuturesUnordered::new();
        let mut sources: HashMap<String, Vec<Href>> = HashMap::new();
        let mut written = 0u64;
        let mut last_commit = Instant::now();
        let progress = self.at.to_string();
        loop {
            if into.is_none() {
                for y in Side::BOTH {
                    let x = y.other();
                    let y_empty = match &done[y] {
                        Some(Ok(Whole::Listed(l))) => l.listed.lists_nothing(),
                        Some(Ok(Whole::Streamed)) => !open[y] && got[y].is_empty(),
                        _ => false,
                    };
                    let x_arrives = matches!(&done[x], None | Some(Ok(Whole::Streamed)));
                    if y_empty && x_arrives && !self.ctx.read_only[y] {
                        into = Some(y);
                        queue.extend(std::mem::take(&mut got[x]));
                        break;
                    }
                }
            }
            if let Some(y) = into {
                while writes.len() < WRITE_CONCURRENCY {
                    let Some(f) = queue.pop_front() else { break };
                    if let Some(w) = self.copy_streamed(y.other(), f, &mut sources) {
                        writes.push(w);
                    }
                }
            }
            let finished = done.a.is_some() && done.b.is_some() && !open.a && !open.b;
            if finished && writes.is_empty() && queue.is_empty() {
                break;
            }
            let room = into.is_none() || (writes.len() < WRITE_CONCURRENCY && queue.is_empty());
            let route = |side: Side,
                         f: Fetched,
                         queue: &mut VecDeque<Fetched>,
                         got: &mut BySide<Vec<Fetched>>| {
                if into == Some(side.other()) {
                    queue.push_back(f);
                } else {
                    got[side].push(f);
                }
            };
            tokio::select! {
                r = &mut fa, if done.a.is_none() => done.a = Some(r),
                r = &mut fb, if done.b.is_none() => done.b = Some(r),
                f = rx_a.recv(), if open.a && room => match f {
                    Some(f) => route(Side::A, f, &mut queue, &mut got),
                    None => open.a = false,
                },
                f = rx_b.recv(), if open.b && room => match f {
                    Some(f) => route(Side::B, f, &mut queue, &mut got),
                    None => open.b = false,
                },
                Some(_) = writes.next(), if !writes.is_empty() => {
                    written += 1;
                    self.events.progress(&progress, written, written);
                }
                else => break,
            }
            if self.journal.due(last_commit) {
                self.commit().await;
                last_commit = Instant::now();
            }
        }
        let done = done.map(|_, d| d.expect("finished"));
        let Some(y) = into else {
            // Nothing was written: hand both sides to the plan.
            return match done.into_tuple() {
                (Ok(a), Ok(b)) => Fresh::Read(Box::new(BySide::new(
                    a.into_snapshot(got.a),
                    b.into_snapshot(got.b),
                ))),
                (Err(e), _) => Fresh::Failed(Side::A, e),
                (_, Err(e)) => Fresh::Failed(Side::B, e),
            };
        };
        let x = y.other();
        let BySide { a: da, b: db } = done;
        let dx = if x == Side::A { da } else { db };
        match dx {
            Ok(Whole::Streamed) => {}
            // The whole read broke off after some items were copied: those copies stand, the
            // rest goes through the usual listing and plan.
            Ok(Whole::Listed(_)) => {
                self.commit().await;
                return Fresh::Again;
            }
            Err(e) => {
                self.commit().await;
                self.listing_failed(x, &e);
                return Fresh::Copied;
            }
        }
        self.commit().await;
        self.undo_duplicates(x, sources).await;
        Fresh::Copied
    }

    /// A side of a fresh collection read whole into `sink` (`Storage::get_all_into`), or
    /// listed as [`Self::listing`] does when it has no whole read.
    async fn whole(
        &self,
        side: Side,
        token: Option<CollectionToken>,
        sink: mpsc::Sender<Fetched>,
    ) -> Result<Whole, Error> {
        let s = self.side(side);
        if !s.phantom && s.storage.get_all_into(&s.collection, sink).await? {
            return Ok(Whole::Streamed);
        }
        Ok(Whole::Listed(self.listing(side, token, false).await?))
    }

    /// Starts the op the plan decides for one item of side `x` as it arrived (a copy to the
    /// empty side); `None` when there is nothing to write (a read failure, reported here, or
    /// a second item with the same UID, settled by [`Self::undo_duplicates`]).
    fn copy_streamed<'s>(
        &'s self,
        x: Side,
        (href, res): Fetched,
        sources: &mut HashMap<String, Vec<Href>>,
    ) -> Option<futures::future::BoxFuture<'s, Done>> {
        let (item, etag) = match res {
            Ok(ok) => ok,
            Err(e) => {
                let problem = plan::unreadable(x, &href, &fetch_error(&e));
                self.problem(None, &problem);
                return None;
            }
        };
        let ident = item.ident().to_owned();
        let hrefs = sources.entry(ident.clone()).or_default();
        hrefs.push(href.clone());
        if hrefs.len() > 1 {
            return None;
        }
        let listed = ItemRef { href, etag };
        let mut cur = BySide::default();
        cur[x] = Some(Cur::read((&listed).into(), &item));
        // The other side is empty and the status knows nothing: the plan's decision for
        // this item, with nothing about the rest of the collection to wait for.
        let op = plan::item_op(&ident, cur, None, &self.ctx)?;
        Some(Box::pin(
            async move { self.exec(op, &Rows::default()).await },
        ))
    }

    /// Items of side `x` that shared a UID must not be synced (as the plan decides for a
    /// collection read before planning): the copy made of the first one is deleted again
    /// and each such UID is reported.
    async fn undo_duplicates(&self, x: Side, sources: HashMap<String, Vec<Href>>) {
        let mut dups: Vec<(String, Vec<Href>)> =
            sources.into_iter().filter(|(_, h)| h.len() > 1).collect();
        if dups.is_empty() {
            return;
        }
        dups.sort();
        let y = x.other();
        let t = self.side(y);
        let rows = self.status.items(&self.name).unwrap_or_default();
        for (ident, hrefs) in dups {
            if let Some(st) = rows.get(&ident).and_then(|r| r.side(y)) {
                let href = st.href.clone();
                let cur = super::plan::Current {
                    href: href.clone(),
                    etag: st.etag.clone(),
                    hash: st.hash.clone(),
                    item: None,
                };
                if self
                    .keep_before(&ident, y, &cur, crate::trash::Why::Deleted)
                    .await
                    .is_err()
                {
                    self.problem(Some(ident), &plan::duplicate_uid(x, hrefs));
                    continue;
                }
                match t.storage.delete(&t.collection, &href, &st.etag).await {
                    Ok(()) => {
                        self.emit(Event::Deleted {
                            at: self.at.clone(),
                            uid: ident.clone(),
                            from: t.place.clone(),
                        });
                        self.forget(&ident);
                    }
                    Err(e) => {
                        self.write_failed(&ident, y, super::apply::Write::Delete, &e, None);
                    }
                }
            }
            self.problem(Some(ident), &plan::duplicate_uid(x, hrefs));
        }
        self.commit().await;
    }
}
