//! Pairing collections: which collection of a goes with which of b, per the pair's
//! `collections`, creating the missing ones, and spotting those that vanished.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use davsync_storages::{Collection, Error, Storage};

use super::{CollectionSpec, PairSpec, Reporter, Side};
use crate::status::Status;

/// One collection of the pair and where it lives on each side.
#[derive(Debug, Clone)]
pub struct Paired {
    /// The key in the status and the `<collection>` of `<pair>/<collection>`; empty without
    /// `collections`.
    pub name: String,
    pub a: Option<Collection>,
    pub b: Option<Collection>,
    /// The side this run created it on.
    pub created: Option<Side>,
    /// It was synced before and is now missing on the side(s) that are `None`.
    pub vanished: bool,
}

/// The collections of a pair, with the number of failures reported on the way.
pub struct Pairing {
    pub collections: Vec<Paired>,
    pub failures: usize,
}

/// Pairs the collections of `pair`. With `create`, a collection missing on one side (and
/// never synced before) is created there, unless that side is read-only.
pub async fn pair_collections(
    pair: &PairSpec,
    a: &Arc<dyn Storage>,
    b: &Arc<dyn Storage>,
    status: &Status,
    create: bool,
    reporter: &dyn Reporter,
) -> Result<Pairing, Error> {
    let Some(specs) = &pair.collections else {
        let (ra, rb) = futures::join!(a.root_collection(), b.root_collection());
        return Ok(Pairing {
            collections: vec![Paired {
                name: String::new(),
                a: Some(ra?),
                b: Some(rb?),
                created: None,
                vanished: false,
            }],
            failures: 0,
        });
    };
    let (da, db) = futures::join!(a.discover(), b.discover());
    let by_name = |v: Vec<Collection>| -> HashMap<String, Collection> {
        v.into_iter().map(|c| (c.name.clone(), c)).collect()
    };
    let on_a = by_name(da?);
    let on_b = by_name(db?);

    // name -> (name on a, name on b), in a stable order.
    let mut wanted: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut dynamic = false;
    for spec in specs {
        match spec {
            CollectionSpec::FromA => {
                dynamic = true;
                for n in on_a.keys() {
                    wanted.entry(n.clone()).or_insert((n.clone(), n.clone()));
                }
            }
            CollectionSpec::FromB => {
                dynamic = true;
                for n in on_b.keys() {
                    wanted.entry(n.clone()).or_insert((n.clone(), n.clone()));
                }
            }
            CollectionSpec::Named(n) => {
                wanted.insert(n.clone(), (n.clone(), n.clone()));
            }
            CollectionSpec::Mapped { name, a, b } => {
                wanted.insert(name.clone(), (a.clone(), b.clone()));
            }
        }
    }
    let known: HashMap<String, bool> = status
        .collections()
        .map_err(|e| {
            Error::new(
                davsync_storages::ErrorKind::Io,
                format!("{}: reading the status", pair.name),
            )
            .with_source(e)
        })?
        .into_iter()
        .map(|r| (r.name, r.last_sync.is_some()))
        .collect();
    if dynamic {
        // A collection synced before that vanished from the side it came from is still
        // this pair's business: it is reported, not silently dropped.
        for (name, synced) in &known {
            if *synced {
                wanted
                    .entry(name.clone())
                    .or_insert((name.clone(), name.clone()));
            }
        }
    }

    let mut out = Pairing {
        collections: Vec::new(),
        failures: 0,
    };
    for (name, (an, bn)) in wanted {
        let ca = on_a.get(&an).cloned();
        let cb = on_b.get(&bn).cloned();
        let synced_before = known.get(&name).copied().unwrap_or(false);
        let mut paired = Paired {
            name: name.clone(),
            a: ca,
            b: cb,
            created: None,
            vanished: false,
        };
        match (&paired.a, &paired.b) {
            (Some(_), Some(_)) => {}
            (None, None) => {
                // Gone from both sides: nothing left to sync or protect.
                tracing::info!(pair = %pair.name, collection = %name, "collection gone from both sides");
                continue;
            }
            _ if synced_before => paired.vanished = true,
            (missing_a, _) => {
                let side = if missing_a.is_none() {
                    Side::A
                } else {
                    Side::B
                };
                let (storage, handle_name, side_name) = match side {
                    Side::A => (a, &pair.a.name, &an),
                    Side::B => (b, &pair.b.name, &bn),
                };
                if create {
                    if storage.read_only() {
                        reporter.failure(&format!(
                            "collection {name} of pair {} is missing on {handle_name}, which \
                             is read-only: not created, not synced",
                            pair.name
                        ));
                        out.failures += 1;
                        continue;
                    }
                    match storage.create_collection(side_name).await {
                        Ok(c) => {
                            reporter.change(&format!(
                                "Creating collection {side_name} on {handle_name}"
                            ));
                            match side {
                                Side::A => paired.a = Some(c),
                                Side::B => paired.b = Some(c),
                            }
                            paired.created = Some(side);
                        }
                        Err(e) => {
                            reporter.failure(&format!(
                                "Creating collection {side_name} on {handle_name} failed: {}",
                                super::execute::describe(&e)
                            ));
                            out.failures += 1;
                            continue;
                        }
                    }
                }
            }
        }
        out.collections.push(paired);
    }
    Ok(out)
}

/// A collection synced before is gone from one side. Without `--force-delete` that is
/// reported and its items on the other side are kept; with it, those items and the emptied
/// collection are deleted and the status forgets it. Returns the failures reported.
pub async fn vanished(
    pair: &PairSpec,
    a: &Arc<dyn Storage>,
    b: &Arc<dyn Storage>,
    paired: &Paired,
    status: &Status,
    opts: &super::SyncOptions,
    reporter: &dyn Reporter,
) -> usize {
    let (gone_name, present_name, storage, coll) = match (&paired.a, &paired.b) {
        (None, Some(c)) => (&pair.a.name, &pair.b.name, b, c),
        (Some(c), None) => (&pair.b.name, &pair.a.name, a, c),
        _ => return 0,
    };
    let name = &paired.name;
    if !opts.force_delete {
        reporter.failure(&format!(
            "collection {name} of pair {} vanished from {gone_name} after it was synced; its \
             items on {present_name} are kept and it is not re-created (run `davsync sync \
             --force-delete` to delete them and the collection)",
            pair.name
        ));
        return 1;
    }
    let label = super::storage_label(pair, present_name, &coll.name);
    if storage.read_only() {
        reporter.failure(&format!(
            "collection {name} vanished from {gone_name}, but {label} is read-only: not deleted"
        ));
        return 1;
    }
    let listing = match storage.list(coll).await {
        Ok(l) => l,
        Err(e) => {
            reporter.failure(&format!(
                "{label}: listing failed: {}",
                super::execute::describe(&e)
            ));
            return 1;
        }
    };
    let hrefs: Vec<_> = listing.iter().map(|r| r.href.clone()).collect();
    let idents: HashMap<_, _> = match storage.get_many(coll, &hrefs).await {
        Ok(f) => f
            .into_iter()
            .filter_map(|(h, r)| r.ok().map(|(item, _)| (h, item.ident().to_owned())))
            .collect(),
        Err(_) => HashMap::new(),
    };
    let mut failures = 0;
    for r in &listing {
        let ident = idents
            .get(&r.href)
            .cloned()
            .unwrap_or_else(|| r.href.to_string());
        match storage.delete(coll, &r.href, &r.etag).await {
            Ok(()) => reporter.change(&format!("Deleting item {ident} from {label}")),
            Err(e) => {
                failures += 1;
                reporter.failure(&format!(
                    "Deleting item {ident} from {label} failed: {}",
                    super::execute::describe(&e)
                ));
            }
        }
    }
    if failures > 0 {
        return failures;
    }
    if let Err(e) = storage.delete_collection(coll).await {
        reporter.failure(&format!(
            "Deleting collection {} from {present_name} failed: {}",
            coll.name,
            super::execute::describe(&e)
        ));
        return 1;
    }
    reporter.change(&format!(
        "Deleting collection {} from {present_name}",
        coll.name
    ));
    if let Err(e) = status.forget_collection(name) {
        reporter.failure(&format!(
            "pair {}: forgetting collection {name} in the status: {e}",
            pair.name
        ));
        return 1;
    }
    0
}
