//! "Did anything change since the last sync?", as cheaply as each storage can tell, against
//! what the status recorded.
//!
//! Comparing with the status rather than with an earlier listing is what makes davsync's own
//! writes trigger nothing: after a round, the files and server items davsync wrote are
//! exactly the versions the status recorded, so they look unchanged; an edit made by someone
//! else during the round is not, whenever it happened.
//!
//! - Local storages (and remote ones without a usable token): the listing (hrefs and etags,
//!   no bodies; a vdir stats its files) compared with the status side's.
//! - Remote storages with a stored sync token: [`Storage::changes`] since that token, i.e.
//!   one PROPFIND of the `sync-token` or `getctag` (or a sync-collection REPORT on servers
//!   where that costs the same). A delta that names only versions the status holds (the
//!   round's own uploads, which moved the server's token) is no change either.

use std::collections::{BTreeSet, HashSet};

use davsync_storages::{Collection, CollectionToken, Etag, Href, ItemRef, Storage};

use crate::status::{CollectionRow, Rows, Status};
use crate::sync::Side;

/// The status's view of one side of a collection: (href, etag) of every recorded item.
fn recorded(rows: &Rows, side: Side) -> BTreeSet<(Href, Etag)> {
    rows.values()
        .filter_map(|r| match side {
            Side::A => r.a.as_ref(),
            Side::B => r.b.as_ref(),
        })
        .map(|s| (s.href.clone(), s.etag.clone()))
        .collect()
}

fn listed(list: &[ItemRef]) -> BTreeSet<(Href, Etag)> {
    list.iter()
        .map(|r| (r.href.clone(), r.etag.clone()))
        .collect()
}

/// The side's collection as recorded by the last sync, `None` when it was never synced.
pub fn side_collection(row: &CollectionRow, side: Side) -> Option<Collection> {
    let href = match side {
        Side::A => row.a_href.clone(),
        Side::B => row.b_href.clone(),
    }?;
    Some(Collection {
        href,
        name: row.name.clone(),
    })
}

/// What a check found about one side of a collection.
#[derive(Debug, PartialEq, Eq)]
pub struct Checked {
    /// The side differs from what the status recorded.
    pub changed: bool,
    /// A token at which the side was as recorded, for the next check to ask for changes
    /// since (the status may hold none: a collection first synced by reading it whole has
    /// no token until its next sync).
    pub token: Option<CollectionToken>,
}

/// Compares one side of a collection with what the status recorded for it. `remote`: ask
/// for changes since a token (`remembered`, from an earlier check, else the status's) rather
/// than list.
pub async fn side_changed(
    storage: &dyn Storage,
    status: &Status,
    row: &CollectionRow,
    side: Side,
    remote: bool,
    remembered: Option<&CollectionToken>,
) -> Result<Checked, String> {
    let Some(collection) = side_collection(row, side) else {
        return Ok(Checked {
            changed: true,
            token: None,
        });
    };
    let stored = match side {
        Side::A => row.a_token.clone(),
        Side::B => row.b_token.clone(),
    };
    let token = remembered.cloned().or(stored);
    let rows = status
        .items(&row.name)
        .map_err(|e| format!("reading the status: {e}"))?;
    let recorded = recorded(&rows, side);
    let err = |e: davsync_storages::Error| crate::commands::chain(&e);
    if remote {
        if let Some(ch) = storage
            .changes(&collection, token.as_ref())
            .await
            .map_err(err)?
        {
            let changed = if ch.complete {
                listed(&ch.changed) != recorded
            } else {
                // A delta: a change is a version the status does not hold, or the removal
                // of one it does. davsync's own uploads and deletions are neither.
                let known: HashSet<&Href> = recorded.iter().map(|(h, _)| h).collect();
                ch.changed
                    .iter()
                    .any(|r| !recorded.contains(&(r.href.clone(), r.etag.clone())))
                    || ch.deleted.iter().any(|h| known.contains(h))
            };
            return Ok(Checked {
                changed,
                token: ch.token.filter(|_| !changed),
            });
        }
    }
    let list = storage.list(&collection).await.map_err(err)?;
    Ok(Checked {
        changed: listed(&list) != recorded,
        token: None,
    })
}

/// True when the storage holds a collection that the status does not know for this side
/// (one created there since, for pairs with `"from a"`/`"from b"`).
pub async fn new_collections(
    storage: &dyn Storage,
    rows: &[CollectionRow],
    side: Side,
) -> Result<bool, String> {
    let found = storage
        .discover()
        .await
        .map_err(|e| crate::commands::chain(&e))?;
    let known: HashSet<&str> = rows
        .iter()
        .filter_map(|r| match side {
            Side::A => r.a_href.as_deref(),
            Side::B => r.b_href.as_deref(),
        })
        .collect();
    Ok(found.iter().any(|c| !known.contains(c.href.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{ItemRow, SideState};
    use davsync_storages::memory::MemoryStorage;
    use davsync_storages::{Item, ItemKind};

    fn event(uid: &str, summary: &str) -> Item {
        Item::parse(
            ItemKind::Calendar,
            format!(
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
                 SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
            )
            .into_bytes(),
        )
        .unwrap()
    }

    async fn setup() -> (MemoryStorage, Collection, Status, CollectionRow) {
        let storage = MemoryStorage::new(ItemKind::Calendar);
        let coll = storage.create_collection("c").await.unwrap();
        let status = Status::in_memory().unwrap();
        status.set_collection("c", &coll.href, "elsewhere").unwrap();
        let (href, etag) = storage.upload(&coll, &event("one", "x")).await.unwrap();
        status
            .put_item(
                "c",
                &ItemRow {
                    ident: "one".into(),
                    a: Some(SideState {
                        href,
                        etag,
                        hash: Default::default(),
                    }),
                    b: None,
                },
            )
            .unwrap();
        let row = status.collection("c").unwrap().unwrap();
        (storage, coll, status, row)
    }

    /// Whether side a's check, with no token, finds a change.
    async fn changed_now(storage: &MemoryStorage, status: &Status, row: &CollectionRow) -> bool {
        side_changed(storage, status, row, Side::A, true, None)
            .await
            .unwrap()
            .changed
    }

    #[tokio::test]
    async fn a_side_as_recorded_is_unchanged_and_an_edit_is_a_change() {
        let (storage, coll, status, row) = setup().await;
        assert!(
            !side_changed(&storage, &status, &row, Side::A, true, None)
                .await
                .unwrap()
                .changed
        );
        let list = storage.list(&coll).await.unwrap();
        storage
            .update(&coll, &list[0].href, &event("one", "edited"), &list[0].etag)
            .await
            .unwrap();
        assert!(changed_now(&storage, &status, &row).await);
    }

    #[tokio::test]
    async fn a_new_item_and_a_deleted_item_are_changes() {
        let (storage, coll, status, row) = setup().await;
        storage.upload(&coll, &event("two", "y")).await.unwrap();
        assert!(changed_now(&storage, &status, &row).await);
        let (storage, coll, status, row) = setup().await;
        let list = storage.list(&coll).await.unwrap();
        storage
            .delete(&coll, &list[0].href, &list[0].etag)
            .await
            .unwrap();
        assert!(changed_now(&storage, &status, &row).await);
    }

    #[tokio::test]
    async fn a_token_from_an_unchanged_check_serves_the_next_one() {
        let (storage, coll, status, row) = setup().await;
        storage.set_supports_changes(true);
        assert_eq!(row.a_token, None, "a collection read whole has no token");
        let first = side_changed(&storage, &status, &row, Side::A, true, None)
            .await
            .unwrap();
        assert!(!first.changed);
        let token = first.token.expect("the memory storage hands out tokens");
        let again = side_changed(&storage, &status, &row, Side::A, true, Some(&token))
            .await
            .unwrap();
        assert!(!again.changed);
        storage.upload(&coll, &event("two", "y")).await.unwrap();
        let after = side_changed(&storage, &status, &row, Side::A, true, Some(&token))
            .await
            .unwrap();
        assert!(after.changed);
        assert_eq!(after.token, None, "no token past a change the status lacks");
    }

    #[tokio::test]
    async fn a_collection_never_synced_is_a_change() {
        let (storage, _coll, status, mut row) = setup().await;
        row.a_href = None;
        assert!(changed_now(&storage, &status, &row).await);
    }
}
