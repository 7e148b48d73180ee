//! THE ALGORITHM: from what the two sides list now and what the status remembers, decide
//! per item what to do. Pure functions, no I/O: the job ([`super::job`]) lists,
//! fetches, then asks [`needs_fetch`] what to read and [`plan`] what to do.
//!
//! Per ident (the UID, or the content hash of an item without one), with `a`/`b` what each
//! side holds now and `s` the status row of the last sync:
//!
//! | a | b | s | decision |
//! |---|---|---|---|
//! | - | - | some | forget the row (deleted on both sides) |
//! | x | - | none, or no b part | copy a -> b (upload) |
//! | x | - | has b part | a unchanged: delete a; a changed: copy a -> b (an edit beats a deletion) |
//! | x | y | any | equal hashes: record the status (and a read version as the merge base), no write |
//! | x | y | both parts | only a changed: copy a -> b; only b: copy b -> a; both: conflict |
//! | x | y | missing a part | conflict (both new and different) |
//!
//! (and symmetrically). "Changed" compares the normalized hash with the status, never the
//! etag: an etag that moved while the content did not, or an item that moved to another href,
//! only updates the status. An item is only read when its (href, etag) is not in the status.
//!
//! Then the read-only policy: when a decision would write to a read-only side, `partial_sync`
//! replaces it: `revert` makes the writable side equal to the read-only one, `ignore` drops
//! it, `error` turns it into a failure.

use std::collections::{BTreeMap, HashMap};

/// The engine's hash maps over hrefs and idents (see [`Rows`] for why aHash).
type FastMap<K, V> = HashMap<K, V, ahash::RandomState>;

use davsync_storages::{ContentHash, ErrorKind, Etag, Href, Item};

use super::policy::{self, PartialSync, Verdict};
use super::side::{BySide, Side};
pub use super::status_index::{Listed, SideListing, StatusIndex};
use crate::status::{ItemRow, Pending, Rows, SideState};

/// Everything about the collection the plan depends on besides the data.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlanContext {
    pub read_only: BySide<bool>,
    pub partial_sync: PartialSync,
    pub force_delete: bool,
}

/// What one side holds for an ident now. `item` is `None` when the engine did not need to
/// read it (its href and etag are those of the status).
#[derive(Debug, Clone)]
pub struct Current {
    pub href: Href,
    pub etag: Etag,
    pub hash: ContentHash,
    pub item: Option<Item>,
}

impl Current {
    /// The status row's view of this version.
    pub fn state(&self) -> SideState {
        SideState {
            href: self.href.clone(),
            etag: self.etag.clone(),
            hash: self.hash.clone(),
        }
    }
}

/// One thing to do: pure data. The executor ([`super::apply`]) performs it and reports what
/// became of it as [`super::event::Event`]s.
///
/// The item states are boxed: an initial sync plans one op per item, and an op holding them
/// inline would be three times larger.
#[derive(Debug, Clone)]
pub enum Op {
    /// Copies `from`'s version to the other side: an upload when `dst` is `None`, otherwise
    /// an update conditional on `dst`'s etag.
    Copy {
        ident: String,
        from: Side,
        src: Box<Current>,
        dst: Option<Box<Current>>,
    },
    /// Deletes the item on `side`, conditional on its etag; the other side has none.
    Delete {
        ident: String,
        side: Side,
        target: Box<Current>,
    },
    /// Both sides agree; only the status changes. `base` is a version read for the
    /// comparison (either side's: they are equal once normalized), kept as the base of a later
    /// three-way merge; `None` when neither side had to be read (the status then keeps the
    /// base it has, if any).
    Record {
        row: Box<ItemRow>,
        base: Option<Item>,
    },
    /// Gone from both sides: drop the status row.
    Forget { ident: String },
    /// Both sides changed differently: conflict resolution decides.
    Conflict {
        ident: String,
        a: Box<Current>,
        b: Box<Current>,
    },
    /// The `keep both` of `ident` that an earlier run began needs no further work.
    ClearPending { ident: String },
    /// Nothing can be done for this item now.
    Fail {
        ident: Option<String>,
        problem: Problem,
    },
}

/// Why an item cannot be synced now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A listed href could not be read, or its item does not parse (`error.kind` is
    /// `InvalidData`).
    Unreadable {
        side: Side,
        href: Href,
        error: FetchError,
    },
    /// A listed href had no answer from the read (`listed`), or an item needed for a write
    /// was not read.
    Unread {
        side: Side,
        href: Href,
        listed: bool,
    },
    /// Several items of one side share the UID.
    DuplicateUid { side: Side, hrefs: Vec<Href> },
    /// The writable side changed and `partial_sync = "error"`; `ro` is the read-only side.
    ReadOnly { ro: Side },
}

/// The emptied-side guard tripped: `side` lists nothing but `known` items were synced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emptied {
    pub side: Side,
    pub known: usize,
}

impl Op {
    pub fn ident(&self) -> Option<&str> {
        match self {
            Op::Copy { ident, .. }
            | Op::Delete { ident, .. }
            | Op::Forget { ident }
            | Op::ClearPending { ident }
            | Op::Conflict { ident, .. } => Some(ident),
            Op::Record { row, .. } => Some(&row.ident),
            Op::Fail { ident, .. } => ident.as_deref(),
        }
    }

    /// True for ops that write to a storage.
    pub fn writes(&self) -> bool {
        matches!(
            self,
            Op::Copy { .. } | Op::Delete { .. } | Op::Conflict { .. }
        )
    }
}

/// The hrefs of a listing that must be read: new ones and those whose etag moved.
pub fn needs_fetch(side: Side, listing: &[Listed<'_>], index: &StatusIndex<'_>) -> Vec<Href> {
    listing
        .iter()
        .filter(|r| index.known(side, **r).is_none())
        .map(|r| r.href.clone())
        .collect()
}

/// The emptied-side guard: if the status knows items and one side now lists none while the
/// other still has some, deleting everything on the other side is far more likely a broken
/// server or an unmounted folder than the user's wish.
pub fn check_emptied(len: BySide<usize>, status: &Rows, ctx: &PlanContext) -> Result<(), Emptied> {
    if ctx.force_delete {
        return Ok(());
    }
    for side in Side::BOTH {
        let known = status.values().filter(|r| r.side(side).is_some()).count();
        if len[side] == 0 && len[side.other()] > 0 && known > 0 {
            return Err(Emptied { side, known });
        }
    }
    Ok(())
}

/// The result of reading one href: the item, or why not.
pub type FetchResult = Result<Item, FetchError>;

/// Why a listed href could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError {
    /// `InvalidData` for a malformed item, otherwise why the read failed.
    pub kind: ErrorKind,
    /// The storage error, rendered.
    pub message: String,
}

impl FetchError {
    pub fn malformed(&self) -> bool {
        self.kind == ErrorKind::InvalidData
    }
}

/// The input of [`plan`].
pub struct PlanInput<'a> {
    pub listing: BySide<&'a [Listed<'a>]>,
    pub status: &'a Rows,
    /// [`StatusIndex::new`] of `status` (the caller built it already to decide what to read).
    pub index: &'a StatusIndex<'a>,
    pub fetched: BySide<&'a HashMap<Href, FetchResult>>,
    /// `keep both` operations an interrupted run left unfinished.
    pub pending: &'a [Pending],
    pub ctx: &'a PlanContext,
}

/// What one side holds for an ident, borrowed from the listing, the status and the fetched
/// items: building it allocates nothing, which keeps a no-op sync of many items cheap. Ops
/// get an owned [`Current`] only for the few idents that need one.
#[derive(Debug, Clone, Copy)]
pub struct Cur<'a> {
    r: Listed<'a>,
    hash: &'a ContentHash,
    item: Option<&'a Item>,
}

impl<'a> Cur<'a> {
    /// An item that was read, listed as `r`.
    pub fn read(r: Listed<'a>, item: &'a Item) -> Self {
        Cur {
            r,
            hash: item.hash(),
            item: Some(item),
        }
    }

    fn to_current(self) -> Box<Current> {
        Box::new(Current {
            href: self.r.href.clone(),
            etag: self.r.etag.clone(),
            hash: self.hash.clone(),
            item: self.item.cloned(),
        })
    }

    fn state(self) -> SideState {
        SideState {
            href: self.r.href.clone(),
            etag: self.r.etag.clone(),
            hash: self.hash.clone(),
        }
    }
}

/// One side's items by ident, plus the idents that must not be touched and the failures
/// found while building it.
struct SideItems<'a> {
    by_ident: FastMap<&'a str, Cur<'a>>,
    poisoned: Vec<String>,
    failures: Vec<Op>,
}

fn side_items<'a>(
    side: Side,
    listing: &'a [Listed<'a>],
    fetched: &'a HashMap<Href, FetchResult>,
    index: &StatusIndex<'a>,
) -> SideItems<'a> {
    let mut by_ident: FastMap<&'a str, Cur<'a>> =
        FastMap::with_capacity_and_hasher(listing.len(), Default::default());
    let mut dups: BTreeMap<&'a str, Vec<&'a Href>> = BTreeMap::new();
    let mut out = SideItems {
        by_ident: FastMap::default(),
        poisoned: Vec::new(),
        failures: Vec::new(),
    };
    for &r in listing {
        let (ident, cur) = if let Some((ident, s)) = index.known(side, r) {
            (
                ident,
                Cur {
                    r,
                    hash: &s.hash,
                    item: None,
                },
            )
        } else {
            match fetched.get(r.href) {
                Some(Ok(item)) => (item.ident(), Cur::read(r, item)),
                other => {
                    let ident = index.ident_at(side, r.href).map(str::to_owned);
                    let problem = match other {
                        Some(Err(error)) => unreadable(side, r.href, error),
                        _ => Problem::Unread {
                            side,
                            href: r.href.clone(),
                            listed: true,
                        },
                    };
                    if let Some(i) = &ident {
                        out.poisoned.push(i.clone());
                    }
                    out.failures.push(Op::Fail { ident, problem });
                    continue;
                }
            }
        };
        match by_ident.entry(ident) {
            std::collections::hash_map::Entry::Occupied(prev) => dups
                .entry(ident)
                .or_insert_with(|| vec![prev.get().r.href])
                .push(r.href),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(cur);
            }
        }
    }
    for (ident, hrefs) in dups {
        out.failures.push(Op::Fail {
            ident: Some(ident.to_owned()),
            problem: duplicate_uid(side, hrefs.into_iter().cloned().collect()),
        });
        out.poisoned.push(ident.to_owned());
    }
    out.by_ident = by_ident;
    out
}

/// A listed href whose read failed: it is not synced (and its ident, when the status knows
/// one, is left alone).
pub fn unreadable(side: Side, href: &Href, error: &FetchError) -> Problem {
    Problem::Unreadable {
        side,
        href: href.clone(),
        error: error.clone(),
    }
}

/// Several items of `side` (at `hrefs`) share a UID: none of them is synced.
pub fn duplicate_uid(side: Side, mut hrefs: Vec<Href>) -> Problem {
    hrefs.sort();
    Problem::DuplicateUid { side, hrefs }
}

/// What the etag-mapping algorithm wants for one ident, before the read-only policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Nothing,
    Record,
    Forget,
    Copy(Side),
    Delete(Side),
    Conflict,
}

fn decide(a: Option<Cur<'_>>, b: Option<Cur<'_>>, s: Option<&ItemRow>) -> Decision {
    let sa = s.and_then(|s| s.a.as_ref());
    let sb = s.and_then(|s| s.b.as_ref());
    let changed = |cur: Cur<'_>, st: Option<&SideState>| st.map_or(true, |st| st.hash != *cur.hash);
    match (a, b) {
        (None, None) => {
            if s.is_some() {
                Decision::Forget
            } else {
                Decision::Nothing
            }
        }
        (Some(a), None) => {
            if sb.is_some() && !changed(a, sa) {
                Decision::Delete(Side::A)
            } else {
                Decision::Copy(Side::A)
            }
        }
        (None, Some(b)) => {
            if sa.is_some() && !changed(b, sb) {
                Decision::Delete(Side::B)
            } else {
                Decision::Copy(Side::B)
            }
        }
        (Some(a), Some(b)) => {
            if a.hash == b.hash {
                if same_state(a, sa) && same_state(b, sb) {
                    Decision::Nothing
                } else {
                    Decision::Record
                }
            } else if sa.is_some() && sb.is_some() {
                match (changed(a, sa), changed(b, sb)) {
                    (true, false) => Decision::Copy(Side::A),
                    (false, true) => Decision::Copy(Side::B),
                    _ => Decision::Conflict,
                }
            } else {
                Decision::Conflict
            }
        }
    }
}

/// True when the status recorded exactly this href, etag and hash.
fn same_state(cur: Cur<'_>, st: Option<&SideState>) -> bool {
    st.is_some_and(|st| st.href == *cur.r.href && st.etag == *cur.r.etag && st.hash == *cur.hash)
}

/// The sides a decision writes to.
fn writes_to(d: Decision) -> &'static [Side] {
    match d {
        Decision::Copy(Side::A) | Decision::Delete(Side::B) => &[Side::B],
        Decision::Copy(Side::B) | Decision::Delete(Side::A) => &[Side::A],
        Decision::Conflict => &[Side::A, Side::B],
        _ => &[],
    }
}

/// Makes the writable side equal to the read-only side `ro`.
fn revert(ro: Side, cur: BySide<Option<Cur<'_>>>, s: Option<&ItemRow>) -> Decision {
    match (cur[ro], cur[ro.other()]) {
        (Some(_), None) => Decision::Copy(ro),
        (Some(r), Some(w)) if r.hash != w.hash => Decision::Copy(ro),
        (None, Some(_)) => Decision::Delete(ro.other()),
        _ => decide(cur.a, cur.b, s),
    }
}

/// THE decision for one ident: what each side holds now (`None`: nothing), the status row,
/// and the read-only policy. `None`: nothing to do. Both the plan and the streaming first
/// sync ask this, so the two cannot decide differently.
pub fn item_op(
    ident: &str,
    cur: BySide<Option<Cur<'_>>>,
    s: Option<&ItemRow>,
    ctx: &PlanContext,
) -> Option<Op> {
    let mut d = decide(cur.a, cur.b, s);
    match policy::partial_sync(
        ctx.partial_sync,
        ctx.read_only,
        writes_to(d).iter().copied(),
    ) {
        Verdict::Proceed => {}
        Verdict::Skip => return None,
        Verdict::Revert { ro } => d = revert(ro, cur, s),
        Verdict::Fail { ro } => {
            return Some(Op::Fail {
                ident: Some(ident.to_owned()),
                problem: Problem::ReadOnly { ro },
            })
        }
    }
    let ident = ident.to_owned();
    Some(match d {
        Decision::Nothing => return None,
        Decision::Record => Op::Record {
            // Recorded only for two equal versions, so either read one will do.
            base: cur
                .iter()
                .find_map(|(_, c)| c.and_then(|c| c.item))
                .cloned(),
            row: Box::new(ItemRow {
                ident,
                a: cur.a.map(Cur::state),
                b: cur.b.map(Cur::state),
            }),
        },
        Decision::Forget => Op::Forget { ident },
        Decision::Copy(from) => Op::Copy {
            ident,
            from,
            src: cur[from].expect("copy from a present side").to_current(),
            dst: cur[from.other()].map(Cur::to_current),
        },
        Decision::Delete(side) => Op::Delete {
            ident,
            side,
            target: cur[side].expect("delete a present item").to_current(),
        },
        Decision::Conflict => Op::Conflict {
            ident,
            a: cur.a.expect("conflict needs a").to_current(),
            b: cur.b.expect("conflict needs b").to_current(),
        },
    })
}

/// THE plan of one collection. Ops come sorted by ident so runs are reproducible.
pub fn plan(input: &PlanInput<'_>) -> Result<Vec<Op>, Emptied> {
    let ctx = input.ctx;
    check_emptied(input.listing.map(|_, l| l.len()), input.status, ctx)?;
    let index = input.index;
    let items =
        BySide::from_fn(|side| side_items(side, input.listing[side], input.fetched[side], index));
    let (a, b) = (&items.a, &items.b);

    let mut ops: Vec<Op> = Vec::new();
    ops.extend(a.failures.iter().cloned());
    ops.extend(b.failures.iter().cloned());
    let poisoned: std::collections::HashSet<&str> = a
        .poisoned
        .iter()
        .chain(b.poisoned.iter())
        .map(String::as_str)
        .collect();

    // Every ident once: a's, then b's not on a, then the status's found on neither side.
    // Not sorted: the (few) ops are sorted at the end instead of the (many) idents.
    let idents = a
        .by_ident
        .keys()
        .copied()
        .chain(
            b.by_ident
                .keys()
                .copied()
                .filter(|i| !a.by_ident.contains_key(i)),
        )
        .chain(
            input
                .status
                .idents()
                .filter(|i| !a.by_ident.contains_key(i) && !b.by_ident.contains_key(i)),
        );

    for ident in idents {
        if !poisoned.is_empty() && poisoned.contains(ident) {
            continue;
        }
        let cur = BySide::new(
            a.by_ident.get(ident).copied(),
            b.by_ident.get(ident).copied(),
        );
        ops.extend(item_op(ident, cur, input.status.get(ident), ctx));
    }
    let by_ident = BySide::new(&a.by_ident, &b.by_ident);
    for p in input.pending {
        finish_pending(p, by_ident, input.status, &poisoned, &mut ops);
    }
    ops.sort_by(|x, y| x.ident().cmp(&y.ident()));
    Ok(ops)
}

/// An interrupted `keep both` of `p.ident` may have left the renamed copy of b's version.
/// If the conflict is still there, resolving it again finishes the job (same fresh UID). If
/// it is gone and b's version survives under its original UID anyway (say a's version was
/// deleted meanwhile, so b's is restored), the renamed copy is a duplicate made by us: it is
/// deleted wherever it still holds exactly what we wrote. Otherwise it stays.
fn finish_pending(
    p: &Pending,
    by_ident: BySide<&FastMap<&str, Cur<'_>>>,
    status: &Rows,
    poisoned: &std::collections::HashSet<&str>,
    ops: &mut Vec<Op>,
) {
    if poisoned.contains(p.ident.as_str()) || poisoned.contains(p.renamed.as_str()) {
        return;
    }
    let cur = by_ident.map(|_, m| m.get(p.ident.as_str()).copied());
    let survivor = match decide(cur.a, cur.b, status.get(&p.ident)) {
        Decision::Conflict => return,
        Decision::Copy(Side::A) | Decision::Nothing | Decision::Record => cur.a.or(cur.b),
        Decision::Copy(Side::B) => cur.b,
        Decision::Delete(_) | Decision::Forget => None,
    };
    let copies = by_ident.map(|_, m| m.get(p.renamed.as_str()).copied());
    let untouched = copies
        .iter()
        .all(|(_, c)| c.map_or(true, |c| *c.hash == p.renamed_hash));
    if survivor.is_some_and(|s| *s.hash == p.b_hash) && untouched {
        ops.retain(|op| op.ident() != Some(p.renamed.as_str()));
        for (side, cur) in copies.iter() {
            if let Some(cur) = cur {
                ops.push(Op::Delete {
                    ident: p.renamed.clone(),
                    side,
                    target: cur.to_current(),
                });
            }
        }
    }
    ops.push(Op::ClearPending {
        ident: p.ident.clone(),
    });
}
