//! The trash hook: before the engine overwrites or deletes a version on any storage, that
//! version is saved in the trash ([`crate::trash`]), durably. When it cannot be saved (the
//! trash folder unwritable, the disk full) the write does not happen: the item fails alone,
//! with a message naming the trash path, and nothing is lost.
//!
//! The version to keep is the one the plan saw (`Current::item`) or, when the plan did not
//! need to read it (an unchanged side about to receive the other side's edit), read now: one
//! extra read per overwrite or deletion, never per unchanged item.

use davsync_storages::{Item, Storage};

use super::apply::Done;
use super::event::{Action, Failure};
use super::job::CollectionJob;
use super::plan::Current;
use super::side::Side;
use crate::trash::{Origin, Trash, Why};

impl CollectionJob<'_> {
    /// Keeps the version at `cur` on `side` before it is overwritten or deleted (`why`).
    /// `Err` carries the reported failure: the caller must then not write.
    pub(super) async fn keep_before(
        &self,
        ident: &str,
        side: Side,
        cur: &Current,
        why: Why,
    ) -> Result<(), Done> {
        let Some(trash) = self.trash.as_ref().filter(|t| t.keeps()) else {
            return Ok(());
        };
        if self.dry_run {
            return Ok(());
        }
        let s = self.side(side);
        let item = match &cur.item {
            Some(item) => item.clone(),
            None => match s.storage.get(&s.collection, &cur.href).await {
                Ok((item, _)) => item,
                // Nothing there to keep: the write itself will find out what happened.
                Err(_) => return Ok(()),
            },
        };
        let origin = Origin {
            pair: self.at.pair.to_string(),
            collection: self.at.collection.as_deref().unwrap_or_default().to_owned(),
            storage: s.place.storage.to_string(),
            collection_href: s.collection.href.clone(),
            collection_name: s.collection.name.clone(),
            href: cur.href.clone(),
            etag: Some(cur.etag.clone()),
            uid: ident.to_owned(),
            why,
            kind: item.kind(),
        };
        save(trash, origin, &item).await.map_err(|message| {
            let action = match why {
                Why::Deleted => Action::Delete,
                Why::Overwritten => Action::Update,
            };
            let verb = match why {
                Why::Deleted => "deleted",
                Why::Overwritten => "overwritten",
            };
            self.report(
                Failure::new(
                    self.at.clone(),
                    action,
                    format!(
                        "item {ident} on {}: not {verb}, its current version could not be kept \
                         first: {message}",
                        s.place
                    ),
                )
                .uid(ident),
            )
        })
    }
}

/// Saves `item` in `trash` on a blocking thread (the save fsyncs).
pub(crate) async fn save(trash: &Trash, origin: Origin, item: &Item) -> Result<(), String> {
    let trash = trash.clone();
    let bytes = item.raw().to_vec();
    tokio::task::spawn_blocking(move || trash.save(&origin, &bytes).map(drop))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// Keeps what `storage` holds at `href` (read now) before a deletion outside of a collection
/// job (`--force-delete` of a vanished collection).
pub(crate) async fn keep_stored(
    trash: &Trash,
    storage: &dyn Storage,
    collection: &davsync_storages::Collection,
    origin: Origin,
) -> Result<(), String> {
    let href = origin.href.clone();
    match storage.get(collection, &href).await {
        Ok((item, _)) => save(trash, origin, &item).await,
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
#[path = "keep_tests.rs"]
mod tests;
