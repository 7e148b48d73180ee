//! Pairing collections: which collection of a goes with which of b, per the pair's
//! `collections`, creating the missing ones, and spotting those that vanished.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use davsync_storages::{Collection, Error, Storage};

use super::event::{Action, Event, Failure, Reporter};
use super::{describe, scope, BySide, CollectionSpec, PairSpec, Side};
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

/// Pairs the collections of `pair`. With `create`, a collection missing on one side (and
/// never synced before) is created there, unless that side is read-only. With `only`
/// (`sync PAIR/COLLECTION`), the other collections are left out before anything is
/// created: they are neither created nor returned.
pub async fn pair_collections(
    pair: &PairSpec,
    sides: &BySide<Arc<dyn Storage>>,
    status: &Status,
    create: bool,
    only: Option<&[String]>,
    reporter: &dyn Reporter,
) -> Result<Vec<Paired>, Error> {
    let (a, b) = (&sides.a, &sides.b);
    let Some(specs) = &pair.collections else {
        let (ra, rb) = futures::join!(a.root_collection(), b.root_collection());
        return Ok(vec![Paired {
            name: String::new(),
            a: Some(ra?),
            b: Some(rb?),
            created: None,
            vanished: false,
        }]);
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

    let mut out = Vec::new();
    for (name, (an, bn)) in wanted {
        if only.is_some_and(|only| !only.contains(&name)) {
            continue;
        }
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
                    let at = scope(pair, &name);
                    if storage.read_only() {
                        reporter.event(&Event::Failed(Failure::new(
                            at,
                            Action::CreateCollection,
                            format!(
                                "collection {name} of pair {} is missing on {handle_name}, \
                                 which is read-only: not created, not synced",
                                pair.name
                            ),
                        )));
                        continue;
                    }
                    match storage.create_collection(side_name).await {
                        Ok(c) => {
                            reporter.event(&Event::CollectionCreated {
                                at,
                                collection: side_name.clone(),
                                storage: handle_name.clone(),
                            });
                            match side {
                                Side::A => paired.a = Some(c),
                                Side::B => paired.b = Some(c),
                            }
                            paired.created = Some(side);
                        }
                        Err(e) => {
                            reporter.event(&Event::Failed(
                                Failure::new(
                                    at,
                                    Action::CreateCollection,
                                    format!(
                                        "Creating collection {side_name} on {handle_name} \
                                         failed: {}",
                                        describe(&e)
                                    ),
                                )
                                .kind(e.kind()),
                            ));
                            continue;
                        }
                    }
                }
            }
        }
        out.push(paired);
    }
    Ok(out)
}

/// A collection synced before is gone from one side. Without `--force-delete` that is
/// reported and its items on the other side are kept; with it, those items and the emptied
/// collection are deleted and the status forgets it.
pub async fn vanished(
    pair: &PairSpec,
    sides: &BySide<Arc<dyn Storage>>,
    paired: &Paired,
    status: &Status,
    opts: &super::SyncOptions,
    reporter: &dyn Reporter,
) {
    let (gone_name, present_name, storage, coll) = match (&paired.a, &paired.b) {
        (None, Some(c)) => (&pair.a.name, &pair.b.name, &sides.b, c),
        (Some(c), None) => (&pair.b.name, &pair.a.name, &sides.a, c),
        _ => return,
    };
    let name = &paired.name;
    let at = scope(pair, name);
    let fail = |action: Action, message: String, kind: Option<davsync_storages::ErrorKind>| {
        let mut f = Failure::new(at.clone(), action, message);
        f.kind = kind;
        reporter.event(&Event::Failed(f));
    };
    if !opts.force_delete {
        return fail(
            Action::List,
            format!(
                "collection {name} of pair {} vanished from {gone_name} after it was synced; \
                 its items on {present_name} are kept and it is not re-created (run `davsync \
                 sync --force-delete` to delete them and the collection)",
                pair.name
            ),
            None,
        );
    }
    let place = super::place(pair, present_name, &coll.name);
    if storage.read_only() {
        return fail(
            Action::DeleteCollection,
            format!(
                "collection {name} vanished from {gone_name}, but {place} is read-only: not \
                 deleted"
            ),
            None,
        );
    }
    let listing = match storage.list(coll).await {
        Ok(l) => l,
        Err(e) => {
            return fail(
                Action::List,
                format!("{place}: listing failed: {}", describe(&e)),
                Some(e.kind()),
            )
        }
    };
    let hrefs: Vec<_> = listing.iter().map(|r| r.href.clone()).collect();
    let items: HashMap<_, _> = match storage.get_many(coll, &hrefs).await {
        Ok(f) => f
            .into_iter()
            .filter_map(|(h, r)| r.ok().map(|(item, _)| (h, item)))
            .collect(),
        Err(_) => HashMap::new(),
    };
    let mut failed = false;
    for r in &listing {
        let ident = items
            .get(&r.href)
            .map(|i| i.ident().to_owned())
            .unwrap_or_else(|| r.href.to_string());
        if let Some(trash) = opts.trash.as_ref().filter(|t| t.keeps() && !opts.dry_run) {
            let origin = crate::trash::Origin {
                pair: pair.name.clone(),
                collection: at.collection.as_deref().unwrap_or_default().to_owned(),
                storage: present_name.clone(),
                collection_href: coll.href.clone(),
                collection_name: coll.name.clone(),
                href: r.href.clone(),
                etag: Some(r.etag.clone()),
                uid: ident.clone(),
                why: crate::trash::Why::Deleted,
                kind: storage.item_kind(),
            };
            let kept = match items.get(&r.href) {
                Some(item) => super::keep::save(trash, origin, item).await,
                None => super::keep::keep_stored(trash, storage.as_ref(), coll, origin).await,
            };
            if let Err(message) = kept {
                failed = true;
                reporter.event(&Event::Failed(
                    Failure::new(
                        at.clone(),
                        Action::Delete,
                        format!(
                            "item {ident} on {place}: not deleted, it could not be kept in the \
                             trash first: {message}"
                        ),
                    )
                    .uid(ident)
                    .href(r.href.clone()),
                ));
                continue;
            }
        }
        match storage.delete(coll, &r.href, &r.etag).await {
            Ok(()) => reporter.event(&Event::Deleted {
                at: at.clone(),
                uid: ident,
                from: place.clone(),
            }),
            Err(e) => {
                failed = true;
                reporter.event(&Event::Failed(
                    Failure::new(
                        at.clone(),
                        Action::Delete,
                        format!(
                            "Deleting item {ident} from {place} failed: {}",
                            describe(&e)
                        ),
                    )
                    .uid(ident)
                    .href(r.href.clone())
                    .kind(e.kind()),
                ));
            }
        }
    }
    if failed {
        return;
    }
    if let Err(e) = storage.delete_collection(coll).await {
        return fail(
            Action::DeleteCollection,
            format!(
                "Deleting collection {} from {present_name} failed: {}",
                coll.name,
                describe(&e)
            ),
            Some(e.kind()),
        );
    }
    reporter.event(&Event::CollectionDeleted {
        at: at.clone(),
        collection: coll.name.clone(),
        storage: present_name.clone(),
    });
    if let Err(e) = status.forget_collection(name) {
        fail(
            Action::Record,
            format!(
                "pair {}: forgetting collection {name} in the status: {}",
                pair.name,
                crate::errors::render(&e)
            ),
            None,
        );
    }
}
