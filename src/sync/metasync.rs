//! Metasync: the collection properties named in the pair's `metadata`, synced with the same
//! three-way logic as items, the status remembering the last synced value of each key.
//!
//! Lines: `Copying metadata <key> of <collection> to <storage>` (`... <key> to <storage>`
//! for a pair without `collections`); a value removed on one side prints
//! `Deleting metadata <key> of <collection> from <storage>`.

use std::sync::Arc;

use davsync_storages::{Collection, MetaKey, Storage};

use super::execute::describe;
use super::{collections, open_status, PairReport, PairSpec, PartialSync, Reporter, Side};
use super::{storages, Strategy};
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

pub async fn metasync_pair(
    pair: &PairSpec,
    status_dir: &std::path::Path,
    only_collections: Option<&[String]>,
    reporter: &dyn Reporter,
) -> PairReport {
    let Some(status) = open_status(pair, status_dir, false, reporter) else {
        return PairReport { failures: 1 };
    };
    let (a, b) = storages(pair, false);
    let pairing = match collections::pair_collections(pair, &a, &b, &status, false, reporter).await
    {
        Ok(p) => p,
        Err(e) => {
            reporter.failure(&format!(
                "pair {}: finding collections failed: {}",
                pair.name,
                describe(&e)
            ));
            return PairReport { failures: 1 };
        }
    };
    let mut failures = pairing.failures;
    for paired in pairing.collections {
        if let Some(only) = only_collections {
            if pair.collections.is_some() && !only.contains(&paired.name) {
                continue;
            }
        }
        let (Some(ca), Some(cb)) = (&paired.a, &paired.b) else {
            reporter.failure(&format!(
                "{}: missing on one side, metadata not synced (run `davsync sync` first)",
                super::pair_label(pair, &paired.name)
            ));
            failures += 1;
            continue;
        };
        for key in &pair.metadata {
            failures += sync_key(
                pair,
                &paired.name,
                *key,
                (&a, ca),
                (&b, cb),
                &status,
                reporter,
            )
            .await;
        }
    }
    PairReport { failures }
}

fn line(pair: &PairSpec, verb: &str, key: MetaKey, coll: &str, storage: &str) -> String {
    let prep = if verb == "Deleting" { "from" } else { "to" };
    if pair.collections.is_none() {
        format!("{verb} metadata {} {prep} {storage}", key.as_str())
    } else {
        format!(
            "{verb} metadata {} of {coll} {prep} {storage}",
            key.as_str()
        )
    }
}

async fn sync_key(
    pair: &PairSpec,
    name: &str,
    key: MetaKey,
    (a, ca): (&Arc<dyn Storage>, &Collection),
    (b, cb): (&Arc<dyn Storage>, &Collection),
    status: &Status,
    reporter: &dyn Reporter,
) -> usize {
    let label = super::pair_label(pair, name);
    let (va, vb) = futures::join!(a.get_meta(ca, key), b.get_meta(cb, key));
    let (va, vb) = match (va, vb) {
        (Ok(va), Ok(vb)) => (va, vb),
        (Err(e), _) | (_, Err(e)) => {
            reporter.failure(&format!(
                "{label}: reading metadata {}: {}",
                key.as_str(),
                describe(&e)
            ));
            return 1;
        }
    };
    let last = match status.meta(name, key.as_str()) {
        Ok(l) => l,
        Err(e) => {
            reporter.failure(&format!("{label}: reading the status: {e}"));
            return 1;
        }
    };
    let mut d = decide(
        va.as_deref(),
        vb.as_deref(),
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
        let to_ro = match from {
            Side::A => b.read_only(),
            Side::B => a.read_only(),
        };
        if to_ro {
            let from_ro = match from {
                Side::A => a.read_only(),
                Side::B => b.read_only(),
            };
            d = match pair.partial_sync {
                PartialSync::Revert if !from_ro => MetaDecision::Copy(match from {
                    Side::A => Side::B,
                    Side::B => Side::A,
                }),
                PartialSync::Error if !from_ro => {
                    reporter.failure(&format!(
                        "{label}: metadata {} changed but the other side is read-only \
                         (partial_sync = \"error\")",
                        key.as_str()
                    ));
                    return 1;
                }
                _ => MetaDecision::Nothing,
            };
        }
    }
    match d {
        MetaDecision::Nothing => 0,
        MetaDecision::Record(v) => record(status, name, key, v.as_deref(), &label, reporter),
        MetaDecision::Conflict => {
            reporter.failure(&format!(
                "Conflict: metadata {} of {label} left unresolved: {:?} on {}, {:?} on {}",
                key.as_str(),
                va.as_deref().unwrap_or(""),
                pair.a.name,
                vb.as_deref().unwrap_or(""),
                pair.b.name
            ));
            1
        }
        MetaDecision::Copy(from) => {
            let (value, target, coll, tname) = match from {
                Side::A => (va.as_deref(), b, cb, &pair.b.name),
                Side::B => (vb.as_deref(), a, ca, &pair.a.name),
            };
            match target.set_meta(coll, key, value).await {
                Ok(()) => {
                    let verb = if value.is_some() {
                        "Copying"
                    } else {
                        "Deleting"
                    };
                    reporter.change(&line(pair, verb, key, name, tname));
                    record(status, name, key, value, &label, reporter)
                }
                Err(e) => {
                    reporter.failure(&format!(
                        "{}: failed: {}",
                        line(pair, "Copying", key, name, tname),
                        describe(&e)
                    ));
                    1
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
    label: &str,
    reporter: &dyn Reporter,
) -> usize {
    match status.set_meta(name, key.as_str(), value) {
        Ok(()) => 0,
        Err(e) => {
            reporter.failure(&format!("{label}: recording metadata in the status: {e}"));
            1
        }
    }
}
