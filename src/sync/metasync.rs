//! Metasync: the collection properties named in the pair's `metadata`, synced with the same
//! three-way logic as items, the status remembering the last synced value of each key.
//!
//! Lines: `Copying metadata <key> of <collection> to <storage>` (`... <key> to <storage>`
//! for a pair without `collections`); a value removed on one side prints
//! `Deleting metadata <key> of <collection> from <storage>`.

use std::sync::Arc;

use davsync_storages::{Collection, MetaKey, Storage};

use super::event::{Action, Event, Failure, Reporter, Scope};
use super::policy::{self, Verdict};
use super::{collections, describe, open_status, pair_failed, scope, storages};
use super::{BySide, PairSpec, Side, Strategy};
use crate::errors::render;
use crate::status::Status;

/// What to do with one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaDecision {
    Nothing,
    /// Both sides agree: remember the value.
    Record(Option<String>),
    /// Write `from`'s value to the other side.
    Copy(Side),
    Conflict,
}

/// The three-way decision for one key: `last` is the status (`None`: never synced).
pub fn decide(a: Option<&str>, b: Option<&str>, last: Option<Option<&str>>) -> MetaDecision {
    if a == b {
        return if last == Some(a) {
            MetaDecision::Nothing
        } else {
            MetaDecision::Record(a.map(str::to_owned))
        };
    }
    match last {
        Some(last) if a == last => MetaDecision::Copy(Side::B),
        Some(last) if b == last => MetaDecision::Copy(Side::A),
        Some(_) => MetaDecision::Conflict,
        // Never synced: a value on one side only is simply copied.
        None if b.is_none() => MetaDecision::Copy(Side::A),
        None if a.is_none() => MetaDecision::Copy(Side::B),
        None => MetaDecision::Conflict,
    }
}

/// Syncs the metadata of the pair's collections; failures and changes go to `reporter`.
pub async fn metasync_pair(
    pair: &PairSpec,
    status_dir: &std::path::Path,
    only_collections: Option<&[String]>,
    dry_run: bool,
    reporter: &dyn Reporter,
) {
    let Some(status) = open_status(pair, status_dir, dry_run, reporter) else {
        return;
    };
    let sides = storages(pair, dry_run);
    let pairing = match collections::pair_collections(
        pair,
        &sides,
        &status,
        false,
        only_collections.filter(|_| pair.collections.is_some()),
        reporter,
    )
    .await
    {
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
    for paired in pairing {
        if let Some(only) = only_collections {
            if pair.collections.is_some() && !only.contains(&paired.name) {
                continue;
            }
        }
        let at = scope(pair, &paired.name);
        let (Some(ca), Some(cb)) = (&paired.a, &paired.b) else {
            fail(
                reporter,
                &at,
                format!(
                    "{at}: missing on one side, metadata not synced (run `davsync sync` first)"
                ),
            );
            continue;
        };
        let cols = BySide::new(ca, cb);
        for key in &pair.metadata {
            sync_key(
                pair,
                &at,
                &paired.name,
                *key,
                &sides,
                cols,
                &status,
                reporter,
            )
            .await;
        }
    }
}

fn fail(reporter: &dyn Reporter, at: &Scope, message: String) {
    reporter.event(&Event::Failed(Failure::new(
        at.clone(),
        Action::Metadata,
        message,
    )));
}

#[allow(clippy::too_many_arguments)]
async fn sync_key(
    pair: &PairSpec,
    at: &Scope,
    name: &str,
    key: MetaKey,
    sides: &BySide<Arc<dyn Storage>>,
    cols: BySide<&Collection>,
    status: &Status,
    reporter: &dyn Reporter,
) {
    let (va, vb) = futures::join!(sides.a.get_meta(cols.a, key), sides.b.get_meta(cols.b, key));
    let values = match (va, vb) {
        (Ok(va), Ok(vb)) => BySide::new(va, vb),
        (Err(e), _) | (_, Err(e)) => {
            return fail(
                reporter,
                at,
                format!("{at}: reading metadata {}: {}", key.as_str(), describe(&e)),
            );
        }
    };
    let last = match status.meta(name, key.as_str()) {
        Ok(l) => l,
        Err(e) => {
            return fail(
                reporter,
                at,
                format!("{at}: reading the status: {}", render(&e)),
            )
        }
    };
    let mut d = decide(
        values.a.as_deref(),
        values.b.as_deref(),
        last.as_ref().map(|l| l.as_deref()),
    );
    if d == MetaDecision::Conflict {
        d = pair
            .conflict_resolution
            .iter()
            .find_map(|s| match s {
                Strategy::AWins => Some(MetaDecision::Copy(Side::A)),
                Strategy::BWins => Some(MetaDecision::Copy(Side::B)),
                _ => None,
            })
            .unwrap_or(MetaDecision::Conflict);
    }
    // A read-only side is never written: partial_sync decides instead.
    if let MetaDecision::Copy(from) = d {
        let read_only = BySide::from_fn(|side| sides[side].read_only());
        match policy::partial_sync(pair.partial_sync, read_only, [from.other()]) {
            Verdict::Proceed => {}
            Verdict::Skip => d = MetaDecision::Nothing,
            Verdict::Revert { ro } => d = MetaDecision::Copy(ro),
            Verdict::Fail { .. } => {
                return fail(
                    reporter,
                    at,
                    format!(
                        "{at}: metadata {} changed but the other side is read-only \
                         (partial_sync = \"error\")",
                        key.as_str()
                    ),
                );
            }
        }
    }
    match d {
        MetaDecision::Nothing => {}
        MetaDecision::Record(v) => record(status, name, key, v.as_deref(), at, reporter),
        MetaDecision::Conflict => fail(
            reporter,
            at,
            format!(
                "Conflict: metadata {} of {at} left unresolved: {:?} on {}, {:?} on {}",
                key.as_str(),
                values.a.as_deref().unwrap_or(""),
                pair.a.name,
                values.b.as_deref().unwrap_or(""),
                pair.b.name
            ),
        ),
        MetaDecision::Copy(from) => {
            let to = from.other();
            let value = values[from].as_deref();
            let storage = if to == Side::A {
                &pair.a.name
            } else {
                &pair.b.name
            };
            let changed = Event::MetadataChanged {
                at: at.clone(),
                key,
                storage: storage.clone(),
                removed: value.is_none(),
            };
            match sides[to].set_meta(cols[to], key, value).await {
                Ok(()) => {
                    reporter.event(&changed);
                    record(status, name, key, value, at, reporter)
                }
                Err(e) => {
                    // Worded as the line of a copy, whatever the value.
                    let line = Event::MetadataChanged {
                        at: at.clone(),
                        key,
                        storage: storage.clone(),
                        removed: false,
                    };
                    fail(reporter, at, format!("{line}: failed: {}", describe(&e)))
                }
            }
        }
    }
}

fn record(
    status: &Status,
    name: &str,
    key: MetaKey,
    value: Option<&str>,
    at: &Scope,
    reporter: &dyn Reporter,
) {
    if let Err(e) = status.set_meta(name, key.as_str(), value) {
        fail(
            reporter,
            at,
            format!("{at}: recording metadata in the status: {}", render(&e)),
        );
    }
}
