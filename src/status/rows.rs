//! The rows the engine reads and writes: an item's state on each side, a collection's row,
//! a `keep both` under way, and the SQL that stores an item row.

use chrono::{DateTime, Utc};
use davsync_storages::{CollectionToken, ContentHash, Etag, Href};
use hashbrown::{hash_table, HashTable};
use rusqlite::{params, Connection};

use super::bases;

/// What an item looked like on one side after it was last synced. Stored as three TEXT
/// columns (`a_href`, `a_etag`, `a_hash` and the same for b), each the newtype's string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SideState {
    pub href: Href,
    pub etag: Etag,
    /// The normalized hash ([`davsync_storages::Item::hash`]).
    pub hash: ContentHash,
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

/// The item rows of one collection, by ident.
///
/// The rows sit in one vector, found through a table of their positions hashed by ident: a
/// map from an owned ident to its row kept every ident twice, and its buckets (a power of
/// two, up to twice the rows) each held a whole row, so at 20,000 rows most of that memory
/// was copies and empty buckets. Iteration follows the order the rows were inserted in.
///
/// aHash: a sync of a large collection is mostly lookups of hrefs and UIDs, and aHash is
/// several times faster than SipHash while still keyed randomly (a server cannot make
/// lookups degenerate).
#[derive(Clone, Default)]
pub struct Rows {
    rows: Vec<ItemRow>,
    by_ident: HashTable<u32>,
    hasher: ahash::RandomState,
}

impl Rows {
    /// Empty, with room for `n` rows.
    pub fn with_capacity(n: usize) -> Rows {
        Rows {
            rows: Vec::with_capacity(n),
            by_ident: HashTable::with_capacity(n),
            hasher: ahash::RandomState::new(),
        }
    }

    /// Adds `row`, or replaces the row of its ident (returned).
    pub fn insert(&mut self, row: ItemRow) -> Option<ItemRow> {
        let Rows {
            rows,
            by_ident,
            hasher,
        } = self;
        let hash = hasher.hash_one(row.ident.as_str());
        let entry = by_ident.entry(
            hash,
            |&i| rows[i as usize].ident == row.ident,
            |&i| hasher.hash_one(rows[i as usize].ident.as_str()),
        );
        match entry {
            hash_table::Entry::Occupied(slot) => {
                Some(std::mem::replace(&mut rows[*slot.get() as usize], row))
            }
            hash_table::Entry::Vacant(slot) => {
                let at = u32::try_from(rows.len()).expect("fewer than 2^32 items in a collection");
                rows.push(row);
                slot.insert(at);
                None
            }
        }
    }

    /// The row of `ident`.
    pub fn get(&self, ident: &str) -> Option<&ItemRow> {
        let hash = self.hasher.hash_one(ident);
        self.by_ident
            .find(hash, |&i| self.rows[i as usize].ident == ident)
            .map(|&i| &self.rows[i as usize])
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Every row.
    pub fn values(&self) -> std::slice::Iter<'_, ItemRow> {
        self.rows.iter()
    }

    /// Every ident.
    pub fn idents(&self) -> impl Iterator<Item = &str> {
        self.rows.iter().map(|r| r.ident.as_str())
    }
}

impl std::ops::Index<&str> for Rows {
    type Output = ItemRow;

    fn index(&self, ident: &str) -> &ItemRow {
        self.get(ident).expect("a status row of this ident")
    }
}

impl std::fmt::Debug for Rows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.rows).finish()
    }
}

impl FromIterator<ItemRow> for Rows {
    fn from_iter<I: IntoIterator<Item = ItemRow>>(iter: I) -> Self {
        let iter = iter.into_iter();
        let mut rows = Rows::with_capacity(iter.size_hint().0);
        for row in iter {
            rows.insert(row);
        }
        rows
    }
}

/// A `keep both` under way: b's version of `ident` (hash `b_hash`) is being copied to both
/// sides as `renamed` (hash `renamed_hash`). Recorded before the first write and cleared after
/// the last, so a sync that finds it knows an interrupted run may have left a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub ident: String,
    pub renamed: String,
    pub b_hash: ContentHash,
    pub renamed_hash: ContentHash,
}

/// The status row of one collection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CollectionRow {
    pub name: String,
    pub a_href: Option<String>,
    pub b_href: Option<String>,
    pub last_sync: Option<DateTime<Utc>>,
    /// What each side's `changes` handed out at the last sync.
    pub a_token: Option<CollectionToken>,
    pub b_token: Option<CollectionToken>,
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
        a.map(|s| s.href.as_str()),
        a.map(|s| s.etag.as_str()),
        a.map(|s| s.hash.as_str()),
        b.map(|s| s.href.as_str()),
        b.map(|s| s.etag.as_str()),
        b.map(|s| s.hash.as_str()),
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
