//! The rows the engine reads and writes: an item's state on each side, a collection's row,
//! a `keep both` under way, and the SQL that stores an item row.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};

use super::bases;

/// What an item looked like on one side after it was last synced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SideState {
    pub href: String,
    pub etag: String,
    /// The normalized hash ([`davsync_storages::Item::hash`]).
    pub hash: String,
}

/// One change to the item rows of a collection, as the engine queues them until the storage
/// writes they describe are durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowChange {
    /// Insert or replace the row (a row with neither side is removed).
    Put(ItemRow),
    /// Remove the row of this ident.
    Remove(String),
    /// The `keep both` of this ident is finished.
    ClearPending(String),
    /// The text both sides of this ident now hold: the base of a later three-way merge.
    Base { ident: String, content: Vec<u8> },
}

/// The status row of one item.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ItemRow {
    pub ident: String,
    pub a: Option<SideState>,
    pub b: Option<SideState>,
}

impl ItemRow {
    /// The row's state on `side`.
    pub fn side(&self, side: crate::sync::Side) -> Option<&SideState> {
        match side {
            crate::sync::Side::A => self.a.as_ref(),
            crate::sync::Side::B => self.b.as_ref(),
        }
    }

    /// Sets the row's state on `side`.
    pub fn set_side(&mut self, side: crate::sync::Side, state: Option<SideState>) {
        match side {
            crate::sync::Side::A => self.a = state,
            crate::sync::Side::B => self.b = state,
        }
    }
}

/// The item rows of one collection by ident. aHash: the no-op sync of a large collection is
/// mostly hash-map lookups of hrefs and UIDs, and aHash is several times faster than SipHash
/// while still keyed randomly (a server cannot make lookups degenerate).
pub type Rows = HashMap<String, ItemRow, ahash::RandomState>;

/// A `keep both` under way: b's version of `ident` (hash `b_hash`) is being copied to both
/// sides as `renamed` (hash `renamed_hash`). Recorded before the first write and cleared after
/// the last, so a sync that finds it knows an interrupted run may have left a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub ident: String,
    pub renamed: String,
    pub b_hash: String,
    pub renamed_hash: String,
}

/// The status row of one collection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CollectionRow {
    pub name: String,
    pub a_href: Option<String>,
    pub b_href: Option<String>,
    pub last_sync: Option<DateTime<Utc>>,
    pub a_token: Option<String>,
    pub b_token: Option<String>,
    /// Set by a sync that found nothing to do: a digest of its inputs (see
    /// `sync::read`). A later sync with the same digest skips loading the items.
    pub noop_digest: Option<String>,
}

pub(super) fn put_row(c: &Connection, collection: &str, row: &ItemRow) -> rusqlite::Result<()> {
    if row.a.is_none() && row.b.is_none() {
        return remove_row(c, collection, &row.ident);
    }
    let mut stmt = c.prepare_cached(
        "INSERT OR REPLACE INTO items
         (collection, ident, a_href, a_etag, a_hash, b_href, b_etag, b_hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let a = row.a.as_ref();
    let b = row.b.as_ref();
    stmt.execute(params![
        collection,
        row.ident,
        a.map(|s| &s.href),
        a.map(|s| &s.etag),
        a.map(|s| &s.hash),
        b.map(|s| &s.href),
        b.map(|s| &s.etag),
        b.map(|s| &s.hash),
    ])
    .map(drop)
}

pub(super) fn remove_row(c: &Connection, collection: &str, ident: &str) -> rusqlite::Result<()> {
    c.prepare_cached("DELETE FROM items WHERE collection = ?1 AND ident = ?2")?
        .execute([collection, ident])?;
    bases::remove_base(c, collection, ident)
}

pub(super) fn clear_pending_row(
    c: &Connection,
    collection: &str,
    ident: &str,
) -> rusqlite::Result<()> {
    c.prepare_cached("DELETE FROM pending WHERE collection = ?1 AND ident = ?2")?
        .execute([collection, ident])
        .map(drop)
}
