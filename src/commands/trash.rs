//! `davsync trash list [PAIR]...` and `davsync trash restore ID...`.
//!
//! The listing reads the trash folder only: no storage is built, no password fetched.
//! A restore writes the kept version back where it was taken from, conditionally: when an
//! item is at that href now, its current version goes to the trash first and the write is
//! conditional on the etag just read; when none is, the write is an upload that refuses to
//! overwrite. A collection that is gone (a vdir folder removed, then `--force-delete`) is
//! created again. A restored entry leaves the trash: it is back in place. The next sync
//! carries the restored version to the other side as an ordinary change.

use std::process::ExitCode;

use davsync_storages::{Collection, Item, Storage};

use super::{chain, exit_code, select};
use crate::config::{backends, Config};
use crate::output::CliReporter;
use crate::trash::{Entry, Origin, Trash, Why};

/// The trash of the configured status folder.
pub fn trash_of(config: &Config) -> Trash {
    Trash::new(&config.status_path, config.trash_days)
}

pub fn list(config: &Config, pairs: &[String]) -> anyhow::Result<ExitCode> {
    let wanted: Vec<String> = if pairs.is_empty() {
        Vec::new()
    } else {
        select(config, pairs, false)?
            .iter()
            .map(|t| t.pair.name.clone())
            .collect()
    };
    let out = CliReporter::new(false, false);
    let (entries, broken) = match trash_of(config).list() {
        Ok(found) => found,
        Err(e) => {
            out.failure(&e.to_string());
            return Ok(exit_code(1));
        }
    };
    for e in entries
        .iter()
        .filter(|e| wanted.is_empty() || wanted.contains(&e.origin.pair))
    {
        out.line(&e.line());
    }
    for b in &broken {
        out.failure(&format!("unreadable trash entry: {b}"));
    }
    Ok(exit_code(out.failures()))
}

pub async fn restore(config: &Config, ids: &[String], quiet: bool) -> anyhow::Result<ExitCode> {
    let trash = trash_of(config);
    let mut found = Vec::with_capacity(ids.len());
    // Every ID is checked before anything is written: a typo changes nothing.
    for id in ids {
        match trash.get(id) {
            Ok(Some(entry)) => found.push(entry),
            Ok(None) => anyhow::bail!(
                "no version {id:?} in the trash ({}); `davsync trash list` shows what it holds",
                trash.dir().display()
            ),
            Err(e) => anyhow::bail!("{e}"),
        }
    }
    let out = CliReporter::new(false, quiet);
    for (entry, bytes) in found {
        match restore_one(config, &trash, &entry, bytes).await {
            Ok(()) if quiet => {}
            Ok(()) => out.line(&format!(
                "Restoring item {} to {}",
                entry.origin.uid,
                entry.storage_place()
            )),
            Err(msg) => out.failure(&format!(
                "restoring {} (item {} to {}): {msg}",
                entry.id,
                entry.origin.uid,
                entry.storage_place()
            )),
        }
    }
    out.finish();
    Ok(exit_code(out.failures()))
}

/// The collection the entry was taken from, created again when it is gone.
async fn collection_for(storage: &dyn Storage, origin: &Origin) -> Result<Collection, String> {
    if origin.collection_name.is_empty() {
        return storage.root_collection().await.map_err(|e| chain(&e));
    }
    let found = storage.discover().await.map_err(|e| chain(&e))?;
    if let Some(c) = found
        .into_iter()
        .find(|c| c.href == origin.collection_href || c.name == origin.collection_name)
    {
        return Ok(c);
    }
    storage
        .create_collection(&origin.collection_name)
        .await
        .map_err(|e| {
            format!(
                "creating collection {}: {}",
                origin.collection_name,
                chain(&e)
            )
        })
}

async fn restore_one(
    config: &Config,
    trash: &Trash,
    entry: &Entry,
    bytes: Vec<u8>,
) -> Result<(), String> {
    let origin = &entry.origin;
    let Some(st) = config.storages.get(&origin.storage) else {
        return Err(format!(
            "storage {:?} is not in the config any more",
            origin.storage
        ));
    };
    let storage = backends::handle(config, st)
        .map_err(|e| e.to_string())?
        .storage;
    if storage.item_kind() != origin.kind {
        return Err(format!(
            "storage {:?} does not hold this kind of item",
            origin.storage
        ));
    }
    let item = Item::parse(origin.kind, bytes).map_err(|e| format!("the kept version: {e}"))?;
    let collection = collection_for(storage.as_ref(), origin).await?;
    let href = origin.href.clone();
    let listing = storage.list(&collection).await.map_err(|e| chain(&e))?;
    if listing.iter().any(|r| r.href == href) {
        {
            let (now, etag) = storage
                .get(&collection, &href)
                .await
                .map_err(|e| chain(&e))?;
            if now.hash() != item.hash() {
                let replaced = Origin {
                    why: Why::Overwritten,
                    etag: Some(etag.clone()),
                    collection_href: collection.href.clone(),
                    ..origin.clone()
                };
                trash
                    .save(&replaced, now.raw())
                    .map_err(|e| format!("{e}; nothing was overwritten"))?;
                storage
                    .update(&collection, &href, &item, &etag)
                    .await
                    .map_err(|e| chain(&e))?;
            }
        }
    } else {
        storage
            .upload(&collection, &item)
            .await
            .map_err(|e| chain(&e))?;
    }
    storage.flush().await.map_err(|e| chain(&e))?;
    trash.remove(&entry.id).map_err(|e| e.to_string())
}
