//! The status: per pair, what each item looked like on each side after the last sync.
//!
//! One SQLite database per pair, `<status_path>/<pair>.sqlite` (characters outside
//! `[A-Za-z0-9._-]` in the pair name are written as `%XX`). WAL journal, `synchronous=NORMAL`:
//! every statement is its own transaction, committed before the engine moves on, so a killed
//! process loses nothing it has recorded. The engine records each item's row right after the
//! storage write it describes; docs/sync-algorithm.md explains why the window between the
//! two is harmless (the next sync recognizes the item on both sides and only records it).
//!
//! Schema (versioned with `PRAGMA user_version`, migrated forward on open):
//! - `collections(name PK, a_href, b_href, last_sync, a_token, b_token, noop_digest)`; a
//!   token is the text of a [`CollectionToken`] (`ctag:<value>` for a ctag, a sync token as
//!   it is).
//! - `items(collection, ident, a_href, a_etag, a_hash, b_href, b_etag, b_hash)`,
//!   primary key `(collection, ident)`; a side's columns are NULL when the item is not
//!   recorded there.
//! - `conflicts(collection, ident, reason)`: unresolved conflicts of the last sync.
//! - `meta(collection, key, value)`: the last synced value of each metadata key.
//! - `pending(collection, ident, renamed, b_hash, renamed_hash)` (version 2): `keep both`
//!   operations begun and not finished, see [`Pending`].
//! - `bases(collection, ident, content)` (version 4): the text both sides held after the
//!   last sync that saw them equal, for the three-way merge (see [`bases`]). A status of an
//!   earlier version migrates with no bases: `merge` passes until the next sync records one.
//!
//! A dry run uses [`Status::open_dry`]: the database copied into memory, never written back.
//!
//! Modules: `rows` (the row types and the SQL of an item row), `schema` (version and
//! migrations), `file` (where the database lives, its modes, opening it read-only),
//! `summary` (what `davsync status` prints), [`bases`] (the merge bases), `error`.

pub mod bases;
mod error;
mod file;
mod rows;
mod schema;
mod summary;
#[cfg(test)]
mod tests;

pub use error::{Result, StatusError};
pub use file::path_for;
pub use rows::{CollectionRow, ItemRow, Pending, RowChange, Rows, SideState};
pub use schema::SCHEMA_VERSION;
pub use summary::{summary, CollectionSummary};

use std::path::Path;
#[cfg(any(test, feature = "testing"))]
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use davsync_storages::{CollectionToken, ContentHash, Etag, Href};
use rusqlite::{params, Connection, OptionalExtension};

use file::{make_private, open_read_only};
use rows::{clear_pending_row, put_row, remove_row};
use schema::{copy_tables, migrate, user_version};
use summary::parse_time;

/// An open status of one pair. Every method commits before returning (see the module docs).
/// Shared by the concurrent collection syncs of a pair; SQLite work is short, so a mutex
/// suffices.
pub struct Status {
    conn: Mutex<Connection>,
    /// Test hook: after this many more writes, writes fail (-1: never).
    #[cfg(any(test, feature = "testing"))]
    fail_after: AtomicI64,
}

impl std::fmt::Debug for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Status")
    }
}

impl Status {
    fn from_conn(mut conn: Connection) -> Result<Status> {
        migrate(&mut conn)?;
        Ok(Status {
            conn: Mutex::new(conn),
            #[cfg(any(test, feature = "testing"))]
            fail_after: AtomicI64::new(-1),
        })
    }

    /// Opens (creating it and `status_dir` when missing) the status of `pair`.
    pub fn open(status_dir: &Path, pair: &str) -> Result<Status> {
        let path = path_for(status_dir, pair);
        make_private(status_dir, &path).map_err(|e| StatusError::io("creating", status_dir, e))?;
        let conn = Connection::open(&path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        Status::from_conn(conn)
    }

    /// An empty status that lives in memory only.
    pub fn in_memory() -> Result<Status> {
        Status::from_conn(Connection::open_in_memory()?)
    }

    /// The status of `pair` copied into memory: reads see the last sync, writes go nowhere.
    /// Creates no file and no directory.
    pub fn open_dry(status_dir: &Path, pair: &str) -> Result<Status> {
        let path = path_for(status_dir, pair);
        if !path.exists() {
            return Status::in_memory();
        }
        let disk = open_read_only(&path)?;
        let version = user_version(&disk)?;
        if version == 0 {
            return Status::in_memory();
        }
        if version == SCHEMA_VERSION {
            return Status::copy_into_memory(&disk);
        }
        // Another schema: migrate a scratch copy (refuses a newer one), never the original.
        let scratch = tempfile::NamedTempFile::new()
            .map_err(|e| StatusError::io("making a scratch copy of", &path, e))?;
        drop(disk);
        std::fs::copy(&path, scratch.path()).map_err(|e| StatusError::io("copying", &path, e))?;
        let mut conn = Connection::open(scratch.path())?;
        migrate(&mut conn)?;
        Status::copy_into_memory(&conn)
    }

    fn copy_into_memory(src: &Connection) -> Result<Status> {
        let status = Status::in_memory()?;
        {
            let mut mem = status.conn.lock().unwrap_or_else(|e| e.into_inner());
            copy_tables(src, &mut mem)?;
        }
        Ok(status)
    }

    /// Test hook: after `n` more successful writes, every write fails, as if the process
    /// died between a storage write and the status commit.
    #[cfg(any(test, feature = "testing"))]
    pub fn fail_writes_after(&self, n: i64) {
        self.fail_after.store(n, Ordering::SeqCst);
    }

    fn write<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        self.injected_failure()?;
        Ok(f(&self.conn.lock().unwrap_or_else(|e| e.into_inner()))?)
    }

    /// Counts one write down for the test hook `fail_writes_after`; fails once it is spent.
    /// Without the `testing` feature there is no hook and nothing fails here.
    fn injected_failure(&self) -> rusqlite::Result<()> {
        #[cfg(any(test, feature = "testing"))]
        {
            let left = self.fail_after.load(Ordering::SeqCst);
            if left == 0 {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
                    Some("injected status write failure".into()),
                ));
            }
            if left > 0 {
                self.fail_after.store(left - 1, Ordering::SeqCst);
            }
        }
        Ok(())
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        Ok(f(&self.conn.lock().unwrap_or_else(|e| e.into_inner()))?)
    }

    pub fn collection(&self, name: &str) -> Result<Option<CollectionRow>> {
        self.read(|c| {
            c.query_row(
                "SELECT name, a_href, b_href, last_sync, a_token, b_token, noop_digest
                 FROM collections WHERE name = ?1",
                [name],
                |r| {
                    Ok(CollectionRow {
                        name: r.get(0)?,
                        a_href: r.get(1)?,
                        b_href: r.get(2)?,
                        last_sync: r
                            .get::<_, Option<String>>(3)?
                            .as_deref()
                            .and_then(parse_time),
                        a_token: r
                            .get::<_, Option<String>>(4)?
                            .map(CollectionToken::from_text),
                        b_token: r
                            .get::<_, Option<String>>(5)?
                            .map(CollectionToken::from_text),
                        noop_digest: r.get(6)?,
                    })
                },
            )
            .optional()
        })
    }

    /// Every collection recorded for the pair.
    pub fn collections(&self) -> Result<Vec<CollectionRow>> {
        let names: Vec<String> = self.read(|c| {
            let mut stmt = c.prepare("SELECT name FROM collections ORDER BY name")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect()
        })?;
        let mut out = Vec::new();
        for n in names {
            if let Some(row) = self.collection(&n)? {
                out.push(row);
            }
        }
        Ok(out)
    }

    /// Records where a collection lives (keeps its tokens and last sync).
    pub fn set_collection(&self, name: &str, a_href: &str, b_href: &str) -> Result<()> {
        self.write(|c| {
            c.execute(
                "INSERT INTO collections (name, a_href, b_href) VALUES (?1, ?2, ?3)
                 ON CONFLICT(name) DO UPDATE SET a_href = ?2, b_href = ?3",
                params![name, a_href, b_href],
            )
            .map(drop)
        })
    }

    pub fn set_last_sync(&self, name: &str, at: DateTime<Utc>) -> Result<()> {
        self.write(|c| {
            c.execute(
                "UPDATE collections SET last_sync = ?2 WHERE name = ?1",
                params![name, at.to_rfc3339()],
            )
            .map(drop)
        })
    }

    /// Stores the tokens to ask for changes next time (`None`: list fully).
    pub fn set_tokens(
        &self,
        name: &str,
        a: Option<&CollectionToken>,
        b: Option<&CollectionToken>,
    ) -> Result<()> {
        let (a, b) = (
            a.map(CollectionToken::to_text),
            b.map(CollectionToken::to_text),
        );
        self.write(|c| {
            c.execute(
                "UPDATE collections SET a_token = ?2, b_token = ?3 WHERE name = ?1",
                params![name, a, b],
            )
            .map(drop)
        })
    }

    pub fn set_noop_digest(&self, name: &str, digest: Option<&str>) -> Result<()> {
        self.write(|c| {
            c.execute(
                "UPDATE collections SET noop_digest = ?2 WHERE name = ?1",
                params![name, digest],
            )
            .map(drop)
        })
    }

    /// Forgets a collection, its items, conflicts and metadata.
    pub fn forget_collection(&self, name: &str) -> Result<()> {
        self.write(|c| {
            in_transaction(c, || {
                for table in ["items", "conflicts", "meta", "pending", "bases"] {
                    c.execute(
                        &format!("DELETE FROM {table} WHERE collection = ?1"),
                        [name],
                    )?;
                }
                c.execute("DELETE FROM collections WHERE name = ?1", [name])?;
                Ok(())
            })
        })
    }

    /// All item rows of a collection, by ident: the one query of a sync.
    pub fn items(&self, collection: &str) -> Result<Rows> {
        self.read(|c| {
            // Sized once: growing by doubling holds the old and the new table at once, which
            // at 20,000 rows was the largest single peak of a sync's memory.
            let count: i64 = c.query_row(
                "SELECT COUNT(*) FROM items WHERE collection = ?1",
                [collection],
                |r| r.get(0),
            )?;
            let mut out = Rows::with_capacity(usize::try_from(count).unwrap_or(0));
            let mut stmt = c.prepare_cached(
                "SELECT ident, a_href, a_etag, a_hash, b_href, b_etag, b_hash
                 FROM items WHERE collection = ?1",
            )?;
            let rows = stmt.query_map([collection], |r| {
                let side = |i: usize| -> rusqlite::Result<Option<SideState>> {
                    let href: Option<String> = r.get(i)?;
                    Ok(match href {
                        Some(href) => Some(SideState {
                            href: Href(href),
                            etag: Etag(r.get::<_, Option<String>>(i + 1)?.unwrap_or_default()),
                            hash: ContentHash::from(
                                r.get::<_, Option<String>>(i + 2)?.unwrap_or_default(),
                            ),
                        }),
                        None => None,
                    })
                };
                Ok(ItemRow {
                    ident: r.get(0)?,
                    a: side(1)?,
                    b: side(4)?,
                })
            })?;
            for row in rows {
                out.insert(row?);
            }
            Ok(out)
        })
    }

    pub fn item_count(&self, collection: &str) -> Result<usize> {
        self.read(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM items WHERE collection = ?1",
                [collection],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as usize)
        })
    }

    /// Records (inserts or replaces) one item row; a row with neither side is deleted.
    pub fn put_item(&self, collection: &str, row: &ItemRow) -> Result<()> {
        self.write(|c| put_row(c, collection, row))
    }

    pub fn remove_item(&self, collection: &str, ident: &str) -> Result<()> {
        self.write(|c| remove_row(c, collection, ident))
    }

    /// Applies `changes` in order in one transaction (one commit for a whole batch of items).
    /// With the test hook `fail_writes_after` armed, the changes before the
    /// injected failure are committed and the rest lost, as if the process died there.
    pub fn apply(&self, collection: &str, changes: &[RowChange]) -> Result<()> {
        let c = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        c.execute_batch("BEGIN")?;
        let mut result = Ok(());
        for change in changes {
            if let Err(e) = self.injected_failure() {
                c.execute_batch("COMMIT")?;
                return Err(e.into());
            }
            result = match change {
                RowChange::Put(row) => put_row(&c, collection, row),
                RowChange::Remove(ident) => remove_row(&c, collection, ident),
                RowChange::ClearPending(ident) => clear_pending_row(&c, collection, ident),
                RowChange::Base { ident, content } => {
                    bases::put_base(&c, collection, ident, content)
                }
            };
            if result.is_err() {
                break;
            }
        }
        match result {
            Ok(()) => Ok(c.execute_batch("COMMIT")?),
            Err(e) => {
                c.execute_batch("ROLLBACK").ok();
                Err(e.into())
            }
        }
    }

    /// The `keep both` operations an earlier run began and did not finish.
    pub fn pending(&self, collection: &str) -> Result<Vec<Pending>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT ident, renamed, b_hash, renamed_hash FROM pending WHERE collection = ?1",
            )?;
            let rows = stmt.query_map([collection], |r| {
                Ok(Pending {
                    ident: r.get(0)?,
                    renamed: r.get(1)?,
                    b_hash: ContentHash::from(r.get::<_, String>(2)?),
                    renamed_hash: ContentHash::from(r.get::<_, String>(3)?),
                })
            })?;
            rows.collect()
        })
    }

    pub fn set_pending(&self, collection: &str, p: &Pending) -> Result<()> {
        self.write(|c| {
            c.execute(
                "INSERT OR REPLACE INTO pending (collection, ident, renamed, b_hash, renamed_hash)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    collection,
                    p.ident,
                    p.renamed,
                    p.b_hash.as_str(),
                    p.renamed_hash.as_str()
                ],
            )
            .map(drop)
        })
    }

    pub fn clear_pending(&self, collection: &str, ident: &str) -> Result<()> {
        self.write(|c| clear_pending_row(c, collection, ident))
    }

    /// Replaces the unresolved conflicts of a collection with `conflicts` (ident, reason).
    pub fn set_conflicts(&self, collection: &str, conflicts: &[(String, String)]) -> Result<()> {
        self.write(|c| {
            in_transaction(c, || {
                c.execute("DELETE FROM conflicts WHERE collection = ?1", [collection])?;
                for (ident, reason) in conflicts {
                    c.execute(
                        "INSERT OR REPLACE INTO conflicts (collection, ident, reason)
                         VALUES (?1, ?2, ?3)",
                        params![collection, ident, reason],
                    )?;
                }
                Ok(())
            })
        })
    }

    /// The last synced value of a metadata key: `None` never synced, `Some(None)` synced as
    /// unset.
    pub fn meta(&self, collection: &str, key: &str) -> Result<Option<Option<String>>> {
        self.read(|c| {
            c.query_row(
                "SELECT value FROM meta WHERE collection = ?1 AND key = ?2",
                [collection, key],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()
        })
    }

    pub fn set_meta(&self, collection: &str, key: &str, value: Option<&str>) -> Result<()> {
        self.write(|c| {
            c.execute(
                "INSERT OR REPLACE INTO meta (collection, key, value) VALUES (?1, ?2, ?3)",
                params![collection, key, value],
            )
            .map(drop)
        })
    }
}

/// Runs `f` in one transaction: committed when it succeeds, rolled back when it fails, so a
/// half-done change never reaches the status file.
fn in_transaction(
    c: &Connection,
    f: impl FnOnce() -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    c.execute_batch("BEGIN")?;
    match f() {
        Ok(()) => c.execute_batch("COMMIT"),
        Err(e) => {
            c.execute_batch("ROLLBACK").ok();
            Err(e)
        }
    }
}
