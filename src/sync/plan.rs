//! THE ALGORITHM: from what the two sides list now and what the status remembers, decide
//! per item what to do. Pure functions, no I/O: the executor ([`super::execute`]) lists,
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
//! | x | y | any | equal hashes: record the status, no write |
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
use std::fmt;

use davsync_storages::{Changes, Etag, Href, Item, ItemRef};

use super::{PartialSync, Side};
use crate::status::{ItemRow, Pending, Rows, SideState};

/// The names an op's line uses.
#[derive(Debug, Clone, Default)]
pub struct Labels {
    /// `<pair>` or `<pair>/<collection>`.
    pub pair: String,
    /// `<storage>` or `<storage>/<collection>` of side a.
    pub a: String,
    /// The same for side b.
    pub b: String,
}

impl Labels {
    pub fn side(&self, side: Side) -> &str {
        match side {
            Side::A => &self.a,
            Side::B => &self.b,
        }
    }
}

/// Everything about the collection the plan depends on besides the data.
#[derive(Debug, Clone, Default)]
pub struct PlanContext {
    pub labels: Labels,
    pub read_only_a: bool,
    pub read_only_b: bool,
    pub partial_sync: PartialSync,
    pub force_delete: bool,
}

/// What one side holds for an ident now. `item` is `None` when the engine did not need to
/// read it (its href and etag are those of the status).
#[derive(Debug, Clone)]
pub struct Current {
    pub href: Href,
    pub etag: Etag,
    pub hash: String,
    pub item: Option<Item>,
}

/// One thing to do. `Display` is the exact line users see for it.
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
        target: String,
    },
    /// Deletes the item on `side`, conditional on its etag; the other side has none.
    Delete {
        ident: String,
        side: Side,
        target_item: Box<Current>,
        target: String,
    },
    /// Both sides agree; only the status changes.
    Record { row: Box<ItemRow> },
    /// Gone from both sides: drop the status row.
    Forget { ident: String },
    /// Both sides changed differently: conflict resolution decides.
    Conflict {
        ident: String,
        a: Box<Current>,
        b: Box<Current>,
        pair: String,
    },
    /// The `keep both` of `ident` that an earlier run began needs no further work.
    ClearPending { ident: String },
    /// Nothing can be done for this item now; the message names it.
    Fail {
        ident: Option<String>,
        message: String,
    },
}

impl Op {
    pub fn ident(&self) -> Option<&str> {
        match self {
            Op::Copy { ident, .. }
            | Op::Delete { ident, .. }
            | Op::Forget { ident }
            | Op::ClearPending { ident }
            | Op::Conflict { ident, .. } => Some(ident),
            Op::Record { row } => Some(&row.ident),
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

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Copy {
                ident,
                dst: None,
                target,
                ..
            } => write!(f, "Copying (uploading) item {ident} to {target}"),
            Op::Copy { ident, target, .. } => {
                write!(f, "Copying (updating) item {ident} to {target}")
            }
            Op::Delete { ident, target, .. } => write!(f, "Deleting item {ident} from {target}"),
            Op::Record { row } => write!(f, "Recording item {} in the status", row.ident),
            Op::Forget { ident } => write!(f, "Forgetting item {ident} in the status"),
            Op::ClearPending { ident } => {
                write!(f, "Forgetting the finished \"keep both\" of item {ident}")
            }
            Op::Conflict { ident, pair, .. } => write!(f, "Conflict: item {ident} in {pair}"),
            Op::Fail { message, .. } => f.write_str(message),
        }
    }
}

/// The line printed when conflict resolution succeeded.
pub fn resolved_line(ident: &str, pair: &str, strategy: &str) -> String {
    format!("Conflict: item {ident} in {pair} resolved by \"{strategy}\"")
}

/// The line (and failure message) of a conflict no strategy resolved.
pub fn unresolved_line(ident: &str, pair: &str, reason: &str) -> String {
    format!("Conflict: item {ident} in {pair} left unresolved: {reason}")
}

/// The status indexed by href, per side: which ident and state a listed href had.
pub struct StatusIndex<'s> {
    a: FastMap<&'s str, (&'s str, &'s SideState)>,
    b: FastMap<&'s str, (&'s str, &'s SideState)>,
}

impl<'s> StatusIndex<'s> {
    pub fn new(status: &'s Rows) -> Self {
        let mut a = FastMap::with_capacity_and_hasher(status.len(), Default::default());
        let mut b = FastMap::with_capacity_and_hasher(status.len(), Default::default());
        for (ident, row) in status {
            if let Some(s) = &row.a {
                a.insert(s.href.as_str(), (ident.as_str(), s));
            }
            if let Some(s) = &row.b {
                b.insert(s.href.as_str(), (ident.as_str(), s));
            }
        }
        StatusIndex { a, b }
    }

    fn side(&self, side: Side) -> &FastMap<&'s str, (&'s str, &'s SideState)> {
        match side {
            Side::A => &self.a,
            Side::B => &self.b,
        }
    }

    /// The ident and state a listed item is known under, when its href and etag are those
    /// the status recorded.
    pub fn known(&self, side: Side, r: &ItemRef) -> Option<(&'s str, &'s SideState)> {
        self.side(side)
            .get(r.href.as_str())
            .copied()
            .filter(|(_, s)| s.etag == r.etag.0)
    }

    /// The ident the status recorded at this href (whatever its etag now).
    pub fn ident_at(&self, side: Side, href: &Href) -> Option<&'s str> {
        self.side(side).get(href.as_str()).map(|(i, _)| *i)
    }
}

/// The hrefs of a listing that must be read: new ones and those whose etag moved.
pub fn needs_fetch(side: Side, listing: &[ItemRef], index: &StatusIndex<'_>) -> Vec<Href> {
    listing
        .iter()
        .filter(|r| index.known(side, r).is_none())
        .map(|r| r.href.clone())
        .collect()
}

/// The emptied-side guard: if the status knows items and one side now lists none while the
/// other still has some, deleting everything on the other side is far more likely a broken
/// server or an unmounted folder than the user's wish.
pub fn check_emptied(
    a_len: usize,
    b_len: usize,
    status: &Rows,
    ctx: &PlanContext,
) -> Result<(), String> {
    if ctx.force_delete {
        return Ok(());
    }
    let check = |empty: Side, side_len: usize, other_len: usize, other_label: &str| {
        let known = status
            .values()
            .filter(|r| match empty {
                Side::A => r.a.is_some(),
                Side::B => r.b.is_some(),
            })
            .count();
        if side_len == 0 && other_len > 0 && known > 0 {
            Err(format!(
                "{}: storage lists no items but {known} were synced before; refusing to \
                 delete them on {other_label} (run `davsync sync --force-delete` if that is \
                 really wanted)",
                ctx.labels.side(empty)
            ))
        } else {
            Ok(())
        }
    };
    check(Side::A, a_len, b_len, &ctx.labels.b)?;
    check(Side::B, b_len, a_len, &ctx.labels.a)
}

/// The full listing of a side rebuilt from an incremental answer: what the status recorded
/// there, minus what was deleted, plus what changed (with its new etag). A `complete` answer
/// is the listing itself.
pub fn listing_from_changes(side: Side, status: &Rows, changes: Changes) -> Vec<ItemRef> {
    if changes.complete {
        return changes.changed;
    }
    let mut by_href: HashMap<Href, Etag> = status
        .values()
        .filter_map(|row| match side {
            Side::A => row.a.as_ref(),
            Side::B => row.b.as_ref(),
        })
        .map(|s| (Href(s.href.clone()), Etag(s.etag.clone())))
        .collect();
    for href in changes.deleted {
        by_href.remove(&href);
    }
    for r in changes.changed {
        by_href.insert(r.href, r.etag);
    }
    by_href
        .into_iter()
        .map(|(href, etag)| ItemRef { href, etag })
        .collect()
}

/// The result of reading one href: the item, or why not (the message names nothing yet).
pub type FetchResult = Result<Item, FetchError>;

/// Why a listed href could not be used.
#[derive(Debug, Clone)]
pub struct FetchError {
    /// True for a malformed item (as opposed to a read failure).
    pub malformed: bool,
    pub message: String,
}

/// The input of [`plan`].
pub struct PlanInput<'a> {
    pub a: &'a [ItemRef],
    pub b: &'a [ItemRef],
    pub status: &'a Rows,
    /// [`StatusIndex::new`] of `status` (the caller built it already to decide what to read).
    pub index: &'a StatusIndex<'a>,
    pub fetched_a: &'a HashMap<Href, FetchResult>,
    pub fetched_b: &'a HashMap<Href, FetchResult>,
    /// `keep both` operations an interrupted run left unfinished.
    pub pending: &'a [Pending],
    pub ctx: &'a PlanContext,
}

/// What one side holds for an ident, borrowed from the listing, the status and the fetched
/// items: building it allocates nothing, which keeps a no-op sync of many items cheap. Ops
/// get an owned [`Current`] only for the few idents that need one.
#[derive(Debug, Clone, Copy)]
struct Cur<'a> {
    r: &'a ItemRef,
    hash: &'a str,
    item: Option<&'a Item>,
}

impl Cur<'_> {
    fn to_current(self) -> Box<Current> {
        Box::new(Current {
            href: self.r.href.clone(),
            etag: self.r.etag.clone(),
            hash: self.hash.to_owned(),
            item: self.item.cloned(),
        })
    }

    fn state(self) -> SideState {
        SideState {
            href: self.r.href.0.clone(),
            etag: self.r.etag.0.clone(),
            hash: self.hash.to_owned(),
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
    listing: &'a [ItemRef],
    fetched: &'a HashMap<Href, FetchResult>,
    index: &StatusIndex<'a>,
    label: &str,
) -> SideItems<'a> {
    let mut by_ident: FastMap<&'a str, Cur<'a>> =
        FastMap::with_capacity_and_hasher(listing.len(), Default::default());
    let mut dups: BTreeMap<&'a str, Vec<&'a Href>> = BTreeMap::new();
    let mut out = SideItems {
        by_ident: FastMap::default(),
        poisoned: Vec::new(),
        failures: Vec::new(),
    };
    for r in listing {
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
            match fetched.get(&r.href) {
                Some(Ok(item)) => (
                    item.ident(),
                    Cur {
                        r,
                        hash: item.hash(),
                        item: Some(item),
                    },
                ),
                other => {
                    let ident = index.ident_at(side, &r.href).map(str::to_owned);
                    let message = match other {
                        Some(Err(e)) if e.malformed => format!(
                            "{label}: malformed item {}: {} (not synced; fix or remove it)",
                            r.href, e.message
                        ),
                        Some(Err(e)) => format!("{label}: reading {}: {}", r.href, e.message),
                        _ => format!("{label}: {} was listed but not read", r.href),
                    };
                    if let Some(i) = &ident {
                        out.poisoned.push(i.clone());
                    }
                    out.failures.push(Op::Fail { ident, message });
                    continue;
                }
            }
        };
        match by_ident.entry(ident) {
            std::collections::hash_map::Entry::Occupied(prev) => dups
                .entry(ident)
                .or_insert_with(|| vec![&prev.get().r.href])
                .push(&r.href),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(cur);
            }
        }
    }
    for (ident, hrefs) in dups {
        let list: Vec<&str> = hrefs.iter().map(|h| h.as_str()).collect();
        out.failures.push(Op::Fail {
            ident: Some(ident.to_owned()),
            message: format!(
                "{label}: duplicate UID {ident} in {} (not synced; run `davsync repair` to \
                 give each a fresh UID)",
                list.join(", ")
            ),
        });
        out.poisoned.push(ident.to_owned());
    }
    out.by_ident = by_ident;
    out
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

fn other(side: Side) -> Side {
    match side {
        Side::A => Side::B,
        Side::B => Side::A,
    }
}

fn decide(a: Option<Cur<'_>>, b: Option<Cur<'_>>, s: Option<&ItemRow>) -> Decision {
    let sa = s.and_then(|s| s.a.as_ref());
    let sb = s.and_then(|s| s.b.as_ref());
    let changed = |cur: Cur<'_>, st: Option<&SideState>| st.map_or(true, |st| st.hash != cur.hash);
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
    st.is_some_and(|st| st.href == cur.r.href.0 && st.etag == cur.r.etag.0 && st.hash == cur.hash)
}

fn row_of(a: Option<Cur<'_>>, b: Option<Cur<'_>>) -> ItemRow {
    ItemRow {
        ident: String::new(),
        a: a.map(Cur::state),
        b: b.map(Cur::state),
    }
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
fn revert(ro: Side, a: Option<Cur<'_>>, b: Option<Cur<'_>>, s: Option<&ItemRow>) -> Decision {
    let (r, w) = match ro {
        Side::A => (a, b),
        Side::B => (b, a),
    };
    match (r, w) {
        (Some(_), None) => Decision::Copy(ro),
        (Some(r), Some(w)) if r.hash != w.hash => Decision::Copy(ro),
        (None, Some(_)) => Decision::Delete(other(ro)),
        _ => decide(a, b, s),
    }
}

/// THE plan of one collection. Ops come sorted by ident so runs are reproducible.
pub fn plan(input: &PlanInput<'_>) -> Result<Vec<Op>, String> {
    let ctx = input.ctx;
    check_emptied(input.a.len(), input.b.len(), input.status, ctx)?;
    let index = input.index;
    let a = side_items(Side::A, input.a, input.fetched_a, index, &ctx.labels.a);
    let b = side_items(Side::B, input.b, input.fetched_b, index, &ctx.labels.b);

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
                .keys()
                .map(String::as_str)
                .filter(|i| !a.by_ident.contains_key(i) && !b.by_ident.contains_key(i)),
        );

    for ident in idents {
        if !poisoned.is_empty() && poisoned.contains(ident) {
            continue;
        }
        let ca = a.by_ident.get(ident).copied();
        let cb = b.by_ident.get(ident).copied();
        let s = input.status.get(ident);
        let mut d = decide(ca, cb, s);
        let ro_target = writes_to(d).iter().copied().find(|side| match side {
            Side::A => ctx.read_only_a,
            Side::B => ctx.read_only_b,
        });
        if let Some(ro) = ro_target {
            if ctx.read_only_a && ctx.read_only_b {
                // Nothing can be written anywhere; the pair is a mirror of nothing.
                continue;
            }
            match ctx.partial_sync {
                PartialSync::Revert => d = revert(ro, ca, cb, s),
                PartialSync::Ignore => continue,
                PartialSync::Error => {
                    let w = other(ro);
                    ops.push(Op::Fail {
                        ident: Some(ident.to_owned()),
                        message: format!(
                            "item {ident} changed in {} but {} is read-only \
                             (partial_sync = \"error\"); nothing written for it",
                            ctx.labels.side(w),
                            ctx.labels.side(ro),
                        ),
                    });
                    continue;
                }
            }
        }
        let side_cur = |side: Side| match side {
            Side::A => ca,
            Side::B => cb,
        };
        match d {
            Decision::Nothing => {}
            Decision::Record => {
                let mut row = row_of(ca, cb);
                row.ident = ident.to_owned();
                ops.push(Op::Record { row: Box::new(row) });
            }
            Decision::Forget => ops.push(Op::Forget {
                ident: ident.to_owned(),
            }),
            Decision::Copy(from) => {
                let to = other(from);
                ops.push(Op::Copy {
                    ident: ident.to_owned(),
                    from,
                    src: side_cur(from)
                        .expect("copy from a present side")
                        .to_current(),
                    dst: side_cur(to).map(Cur::to_current),
                    target: ctx.labels.side(to).to_owned(),
                });
            }
            Decision::Delete(side) => ops.push(Op::Delete {
                ident: ident.to_owned(),
                side,
                target_item: side_cur(side).expect("delete a present item").to_current(),
                target: ctx.labels.side(side).to_owned(),
            }),
            Decision::Conflict => ops.push(Op::Conflict {
                ident: ident.to_owned(),
                a: ca.expect("conflict needs a").to_current(),
                b: cb.expect("conflict needs b").to_current(),
                pair: ctx.labels.pair.clone(),
            }),
        }
    }
    for p in input.pending {
        finish_pending(
            p,
            &a.by_ident,
            &b.by_ident,
            input.status,
            &poisoned,
            ctx,
            &mut ops,
        );
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
    a: &FastMap<&str, Cur<'_>>,
    b: &FastMap<&str, Cur<'_>>,
    status: &Rows,
    poisoned: &std::collections::HashSet<&str>,
    ctx: &PlanContext,
    ops: &mut Vec<Op>,
) {
    if poisoned.contains(p.ident.as_str()) || poisoned.contains(p.renamed.as_str()) {
        return;
    }
    let ca = a.get(p.ident.as_str()).copied();
    let cb = b.get(p.ident.as_str()).copied();
    let survivor = match decide(ca, cb, status.get(&p.ident)) {
        Decision::Conflict => return,
        Decision::Copy(Side::A) | Decision::Nothing | Decision::Record => ca.or(cb),
        Decision::Copy(Side::B) => cb,
        Decision::Delete(_) | Decision::Forget => None,
    };
    let copies = [
        (Side::A, a.get(p.renamed.as_str()).copied()),
        (Side::B, b.get(p.renamed.as_str()).copied()),
    ];
    let untouched = copies
        .iter()
        .all(|(_, c)| c.map_or(true, |c| c.hash == p.renamed_hash));
    if survivor.is_some_and(|s| s.hash == p.b_hash) && untouched {
        ops.retain(|op| op.ident() != Some(p.renamed.as_str()));
        for (side, cur) in copies {
            if let Some(cur) = cur {
                ops.push(Op::Delete {
                    ident: p.renamed.clone(),
                    side,
                    target_item: cur.to_current(),
                    target: ctx.labels.side(side).to_owned(),
                });
            }
        }
    }
    ops.push(Op::ClearPending {
        ident: p.ident.clone(),
    });
}
