//! How a side is read: a delta since the stored sync token, one whole read, or a listing;
//! the no-op digest that lets an unchanged collection skip everything else; and the batched
//! reads of the items the plan needs.

use std::collections::HashMap;

use davsync_storages::{CollectionToken, Error, ErrorKind, Etag, Fetched, Href, Item, ItemRef};

use super::job::CollectionJob;
use super::plan::{self, Current, FetchError, FetchResult, Op, Problem};
use super::side::{BySide, Side};

/// How many hrefs one `get_many` asks for. The storage splits further as its protocol needs
/// (DAV: multiget batches, sent in parallel), so this only bounds one call's memory.
const FETCH_BATCH: usize = 2000;
/// Reading more than this share of a listing (and more than [`GET_ALL_MIN`] items) reads the
/// whole collection at once through `Storage::get_all` instead: on DAV one query answers
/// with every body, cheaper than the listing's worth of multiget batches.
const GET_ALL_FRACTION: f64 = 0.5;
const GET_ALL_MIN: usize = 100;

/// A side's answer to "what is there": a listing, or changes since the stored token.
pub enum Listed {
    Full(Vec<ItemRef>),
    Delta(davsync_storages::Changes),
}

impl Listed {
    /// True when the side holds no item at all (a delta only when it is complete).
    pub fn lists_nothing(&self) -> bool {
        match self {
            Listed::Full(l) => l.is_empty(),
            Listed::Delta(c) => c.complete && c.changed.is_empty(),
        }
    }
}

/// What one side holds now, as read: its listing, the token to ask for changes next time,
/// and the items already read with it (a whole read).
pub struct Snapshot {
    pub listed: Listed,
    pub token: Option<CollectionToken>,
    pub read: Option<HashMap<Href, FetchResult>>,
}

/// What identifies a side's state for the no-op fast path.
enum Seen<'l> {
    /// Every item with its etag.
    Listing(&'l [ItemRef]),
    /// Nothing changed since this token: the side is as the token describes it.
    Token(&'l CollectionToken),
}

impl Snapshot {
    fn listing(listed: Vec<ItemRef>) -> Self {
        Snapshot {
            listed: Listed::Full(listed),
            token: None,
            read: None,
        }
    }

    /// The side's state as the no-op digest sees it; `None` for a delta with changes.
    fn seen(&self) -> Option<Seen<'_>> {
        match &self.listed {
            Listed::Full(l) => Some(Seen::Listing(l)),
            Listed::Delta(c) if c.changed.is_empty() && c.deleted.is_empty() && !c.complete => {
                self.token.as_ref().map(Seen::Token)
            }
            Listed::Delta(_) => None,
        }
    }

    /// What the side lists (whole, or changes since the status's token: see
    /// [`plan::SideListing::view`]) and the items read.
    pub fn into_listing(self) -> (plan::SideListing, Option<HashMap<Href, FetchResult>>) {
        let listing = match self.listed {
            Listed::Full(l) => plan::SideListing::Full(l),
            Listed::Delta(c) if c.complete => plan::SideListing::Full(c.changed),
            Listed::Delta(c) => plan::SideListing::Since {
                changed: c.changed,
                deleted: c.deleted,
            },
        };
        (listing, self.read)
    }
}

/// A side read whole, as a listing plus the items already read.
pub fn read_whole(all: Vec<Fetched>) -> Snapshot {
    let mut refs = Vec::with_capacity(all.len());
    let mut read = HashMap::with_capacity(all.len());
    for (href, res) in all {
        // An unreadable item has no etag to list; it fails alone in the plan, which never
        // records the etag of an item it could not read.
        let etag = match &res {
            Ok((_, etag)) => etag.clone(),
            Err(_) => Etag(String::new()),
        };
        refs.push(ItemRef {
            href: href.clone(),
            etag,
        });
        read.insert(href, fetch_result(res));
    }
    Snapshot {
        listed: Listed::Full(refs),
        token: None,
        read: Some(read),
    }
}

/// A storage's answer for one href, as the plan takes it.
pub fn fetch_result(res: Result<(Item, Etag), Error>) -> FetchResult {
    res.map(|(item, _)| item).map_err(|e| fetch_error(&e))
}

pub fn fetch_error(e: &Error) -> FetchError {
    // A malformed item is described by what is wrong with it (the storage's context names
    // the file and the line); the kind's sentence ("invalid data") would only repeat it.
    let message = if e.kind() == davsync_storages::ErrorKind::InvalidData && !e.context().is_empty()
    {
        match std::error::Error::source(e) {
            Some(src) => format!("{} ({src})", e.context()),
            None => e.context().to_owned(),
        }
    } else {
        super::describe(e)
    };
    FetchError {
        kind: e.kind(),
        message,
    }
}

impl CollectionJob<'_> {
    /// The side's items now (a full listing or a delta), the token to ask for changes next
    /// time, and the items already read. A `fresh` collection (nothing in the status) must be
    /// read whole anyway: one `Storage::get_all` does it where the backend has a cheaper
    /// way than listing and reading (no token then; the next sync lists fully once and gets
    /// one). Otherwise `Storage::changes` when the backend offers it, `list` else.
    pub(super) async fn listing(
        &self,
        side: Side,
        token: Option<CollectionToken>,
        fresh: bool,
    ) -> Result<Snapshot, Error> {
        let s = self.side(side);
        if s.phantom {
            return Ok(Snapshot::listing(Vec::new()));
        }
        if fresh {
            if let Some(all) = s.storage.get_all(&s.collection).await? {
                return Ok(read_whole(all));
            }
        }
        match s.storage.changes(&s.collection, token.as_ref()).await? {
            Some(changes) => {
                let token = changes.token.clone();
                Ok(Snapshot {
                    listed: Listed::Delta(changes),
                    token,
                    read: None,
                })
            }
            None => Ok(Snapshot::listing(s.storage.list(&s.collection).await?)),
        }
    }

    /// Both sides' snapshots, or the side whose listing failed.
    pub(super) async fn list_both(
        &self,
        tokens: &BySide<Option<CollectionToken>>,
        fresh: bool,
    ) -> Result<BySide<Snapshot>, (Side, Error)> {
        let (la, lb) = futures::join!(
            self.listing(Side::A, tokens.a.clone(), fresh),
            self.listing(Side::B, tokens.b.clone(), fresh)
        );
        match (la, lb) {
            (Ok(a), Ok(b)) => Ok(BySide::new(a, b)),
            (Err(e), _) => Err((Side::A, e)),
            (_, Err(e)) => Err((Side::B, e)),
        }
    }

    /// Reads the hrefs the plan needs: those already read with the listing come from
    /// `read`; most of a large listing goes through one `Storage::get_all`; the rest
    /// through `get_many`.
    pub(super) async fn read(
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
                        collection = %s.place,
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
                Err(e) => {
                    tracing::debug!("{}: reading whole failed: {}", s.place, super::describe(&e))
                }
            }
        }
        read.extend(self.fetch(side, rest).await);
        read
    }

    /// Reads `hrefs` in batches of [`FETCH_BATCH`].
    pub(super) async fn fetch(&self, side: Side, hrefs: Vec<Href>) -> HashMap<Href, FetchResult> {
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
                    let error = fetch_error(&e);
                    for href in chunk {
                        out.insert(href.clone(), Err(error.clone()));
                    }
                }
            }
        }
        out
    }

    /// Reads the items the plan needs but did not have to read to decide (an unchanged item
    /// copied to restore it, both sides of a conflict).
    pub(super) async fn hydrate(&self, mut ops: Vec<Op>) -> Vec<Op> {
        let mut need: BySide<Vec<Href>> = BySide::default();
        for op in &ops {
            match op {
                Op::Copy { from, src, .. } if src.item.is_none() => {
                    need[*from].push(src.href.clone())
                }
                Op::Conflict { a, b, .. } => {
                    for (side, cur) in [(Side::A, a), (Side::B, b)] {
                        if cur.item.is_none() {
                            need[side].push(cur.href.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        if need.a.is_empty() && need.b.is_empty() {
            return ops;
        }
        let (fa, fb) = futures::join!(self.fetch(Side::A, need.a), self.fetch(Side::B, need.b));
        let fetched = BySide::new(fa, fb);
        let fill = |side: Side, cur: &mut Current| -> Result<(), Problem> {
            if cur.item.is_some() {
                return Ok(());
            }
            match fetched[side].get(&cur.href) {
                Some(Ok(item)) => {
                    cur.item = Some(item.clone());
                    Ok(())
                }
                Some(Err(error)) => Err(plan::unreadable(
                    side,
                    &cur.href,
                    &FetchError {
                        // Read to be written, not to be parsed: never called malformed here.
                        kind: if error.malformed() {
                            ErrorKind::Io
                        } else {
                            error.kind
                        },
                        message: error.message.clone(),
                    },
                )),
                None => Err(Problem::Unread {
                    side,
                    href: cur.href.clone(),
                    listed: false,
                }),
            }
        };
        for op in ops.iter_mut() {
            let res = match op {
                Op::Copy { from, src, .. } => fill(*from, src),
                Op::Conflict { a, b, .. } => fill(Side::A, a).and_then(|_| fill(Side::B, b)),
                _ => Ok(()),
            };
            if let Err(problem) = res {
                *op = Op::Fail {
                    ident: op.ident().map(str::to_owned),
                    problem,
                };
            }
        }
        ops
    }

    /// SHA-256 over the settings that shape the plan and both sides' states (sorted listings,
    /// or the sync token of a side that reported no change); `None` when a side changed
    /// since its token. Equal digests mean equal inputs to [`plan::plan`] (the status is
    /// unchanged, as any change to it clears the stored digest; a side unchanged since its
    /// token lists as the status says), hence the same empty plan.
    pub(super) fn noop_digest(&self, snapshots: &BySide<Snapshot>) -> Option<String> {
        use sha2::{Digest, Sha256};
        let seen = [snapshots.a.seen()?, snapshots.b.seen()?];
        let mut h = Sha256::new();
        let settings = format!(
            "v1\0{}\0{}\0{}\0{}\0{:?}\0{:?}\0",
            self.sides.a.collection.href,
            self.sides.b.collection.href,
            self.ctx.read_only.a,
            self.ctx.read_only.b,
            self.ctx.partial_sync,
            self.strategies
        );
        h.update(settings.as_bytes());
        for state in seen {
            let listing = match state {
                Seen::Listing(l) => l,
                Seen::Token(t) => {
                    // The token's stored text: a digest recorded before tokens were typed
                    // still matches.
                    h.update(b"token\0");
                    h.update(t.to_text().as_bytes());
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
        Some(hex::encode(h.finalize()))
    }
}
