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
//! - `collections(name PK, a_href, b_href, last_sync, a_token, b_token, noop_digest)`
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

mod error;

pub use error::{Result, StatusError};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
#[cfg(any(test, feature = "testing"))]
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

pub mod bases;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 4;

/// One collection of a pair, as `davsync status` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionSummary {
    /// Empty for a pair without `collections`.
    pub collection: String,
    pub items: usize,
    pub last_sync: Option<DateTime<Utc>>,
    /// UIDs of the conflicts left unresolved by the last sync.
    pub unresolved: Vec<String>,
}

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

/// The database file of a pair.
pub fn path_for(status_dir: &Path, pair: &str) -> PathBuf {
    let mut name = String::new();
    for b in pair.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && !name.is_empty()) {
            name.push(b as char);
        } else {
            name.push_str(&format!("%{b:02X}"));
        }
    }
    status_dir.join(format!("{name}.sqlite"))
}

/// Creates the status folder (mode 0700) and the database file (0600) when missing, and
/// restores those modes when they are looser: the status tells which items exist and where
/// they live, so it is private to the user (interface.md). SQLite gives its `-wal` and `-shm`
/// files the database file's mode, which is why the file is made here and not by SQLite.
fn make_private(status_dir: &Path, db: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
        let private = |p: &Path, mode: u32| -> std::io::Result<()> {
            let m = std::fs::metadata(p)?;
            if m.permissions().mode() & 0o777 != mode {
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))?;
            }
            Ok(())
        };
        if !status_dir.is_dir() {
            if let Some(parent) = status_dir.parent() {
                std::fs::create_dir_all(parent)?;
            }
            match std::fs::DirBuilder::new().mode(0o700).create(status_dir) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
                _ => {}
            }
        }
        private(status_dir, 0o700)?;
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(db)?;
        private(db, 0o600)?;
        for side in ["-wal", "-shm"] {
            let mut p = db.as_os_str().to_owned();
            p.push(side);
            match private(Path::new(&p), 0o600) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = db;
        std::fs::create_dir_all(status_dir)?;
    }
    Ok(())
}

/// The summary of one pair's status; empty when the pair was never synced.
pub fn summary(status_dir: &Path, pair: &str) -> Result<Vec<CollectionSummary>> {
    let path = path_for(status_dir, pair);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let conn = open_read_only(&path)?;
    if user_version(&conn)? == 0 {
        return Ok(Vec::new());
    }
    let mut out: Vec<CollectionSummary> = Vec::new();
    let mut stmt = conn.prepare(
        "SELECT c.name, c.last_sync,
                (SELECT COUNT(*) FROM items i WHERE i.collection = c.name)
         FROM collections c ORDER BY c.name",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    for row in rows {
        let (collection, last_sync, items) = row?;
        out.push(CollectionSummary {
            collection,
            items: items as usize,
            last_sync: last_sync.as_deref().and_then(parse_time),
            unresolved: Vec::new(),
        });
    }
    let mut stmt =
        conn.prepare("SELECT collection, ident FROM conflicts ORDER BY collection, ident")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    for row in rows {
        let (collection, ident) = row?;
        if let Some(s) = out.iter_mut().find(|s| s.collection == collection) {
            s.unresolved.push(ident);
        }
    }
    Ok(out)
}

/// Opens a status database for reading without leaving a trace: a read-only connection to a
/// WAL database would create `-wal`/`-shm` files next to it, which `status` and a dry run must
/// not. Without a `-wal` file the database file holds everything, so it is opened as
/// immutable (no locks, no side files); with one (a sync is running or was killed), the
/// ordinary read-only open is needed to see the latest commits.
fn open_read_only(path: &Path) -> rusqlite::Result<Connection> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    if Path::new(&wal).exists() {
        return Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY);
    }
    let mut uri = String::from("file:");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    uri.push_str("?immutable=1");
    Connection::open_with_flags(
        uri,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI,
    )
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Brings a database to [`SCHEMA_VERSION`], one step per version, each in a transaction.
fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let version = user_version(conn)?;
    if version > SCHEMA_VERSION {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISMATCH),
            Some(format!(
                "status schema version {version} is newer than this davsync understands \
                 ({SCHEMA_VERSION})"
            )),
        ));
    }
    if version < 1 {
        let tx = conn.transaction()?;
        tx.execute_batch(
            "CREATE TABLE collections (
                 name TEXT PRIMARY KEY NOT NULL,
                 a_href TEXT, b_href TEXT,
                 last_sync TEXT,
                 a_token TEXT, b_token TEXT
             );
             CREATE TABLE items (
                 collection TEXT NOT NULL,
                 ident TEXT NOT NULL,
                 a_href TEXT, a_etag TEXT, a_hash TEXT,
                 b_href TEXT, b_etag TEXT, b_hash TEXT,
                 PRIMARY KEY (collection, ident)
             );
             CREATE TABLE conflicts (
                 collection TEXT NOT NULL,
                 ident TEXT NOT NULL,
                 reason TEXT NOT NULL,
                 PRIMARY KEY (collection, ident)
             );
             CREATE TABLE meta (
                 collection TEXT NOT NULL,
                 key TEXT NOT NULL,
                 value TEXT,
                 PRIMARY KEY (collection, key)
             );
             PRAGMA user_version = 1;",
        )?;
        tx.commit()?;
    }
    if version < 2 {
        let tx = conn.transaction()?;
        tx.execute_batch(
            "CREATE TABLE pending (
                 collection TEXT NOT NULL,
                 ident TEXT NOT NULL,
                 renamed TEXT NOT NULL,
                 b_hash TEXT NOT NULL,
                 renamed_hash TEXT NOT NULL,
                 PRIMARY KEY (collection, ident)
             );
             PRAGMA user_version = 2;",
        )?;
        tx.commit()?;
    }
    if version < 3 {
        let tx = conn.transaction()?;
        tx.execute_batch(
            "ALTER TABLE collections ADD COLUMN noop_digest TEXT;
             PRAGMA user_version = 3;",
        )?;
        tx.commit()?;
    }
    if version < 4 {
        let tx = conn.transaction()?;
        tx.execute_batch(bases::SCHEMA_V4)?;
        tx.commit()?;
    }
    Ok(())
}

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
                        a_token: r.get(4)?,
                        b_token: r.get(5)?,
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

    /// Stores the sync tokens to ask for changes next time (`None`: list fully).
    pub fn set_tokens(&self, name: &str, a: Option<&str>, b: Option<&str>) -> Result<()> {
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
            c.execute_batch("BEGIN")?;
            let r = (|| {
                for table in ["items", "conflicts", "meta", "pending", "bases"] {
                    c.execute(
                        &format!("DELETE FROM {table} WHERE collection = ?1"),
                        [name],
                    )?;
                }
                c.execute("DELETE FROM collections WHERE name = ?1", [name])?;
                Ok(())
            })();
            match r {
                Ok(()) => c.execute_batch("COMMIT"),
                Err(e) => {
                    c.execute_batch("ROLLBACK").ok();
                    Err(e)
                }
            }
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
            let mut out = Rows::with_capacity_and_hasher(
                usize::try_from(count).unwrap_or(0),
                Default::default(),
            );
            let mut stmt = c.prepare_cached(
                "SELECT ident, a_href, a_etag, a_hash, b_href, b_etag, b_hash
                 FROM items WHERE collection = ?1",
            )?;
            let rows = stmt.query_map([collection], |r| {
                let side = |i: usize| -> rusqlite::Result<Option<SideState>> {
                    let href: Option<String> = r.get(i)?;
                    Ok(match href {
                        Some(href) => Some(SideState {
                            href,
                            etag: r.get::<_, Option<String>>(i + 1)?.unwrap_or_default(),
                            hash: r.get::<_, Option<String>>(i + 2)?.unwrap_or_default(),
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
                let row = row?;
                out.insert(row.ident.clone(), row);
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
                    b_hash: r.get(2)?,
                    renamed_hash: r.get(3)?,
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
                params![collection, p.ident, p.renamed, p.b_hash, p.renamed_hash],
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
            c.execute_batch("BEGIN")?;
            let r = (|| {
                c.execute("DELETE FROM conflicts WHERE collection = ?1", [collection])?;
                for (ident, reason) in conflicts {
                    c.execute(
                        "INSERT OR REPLACE INTO conflicts (collection, ident, reason)
                         VALUES (?1, ?2, ?3)",
                        params![collection, ident, reason],
                    )?;
                }
                Ok(())
            })();
            match r {
                Ok(()) => c.execute_batch("COMMIT"),
                Err(e) => {
                    c.execute_batch("ROLLBACK").ok();
                    Err(e)
                }
            }
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

/// Copies every row of the status tables from `src` into `dst` (same schema version).
fn copy_tables(src: &Connection, dst: &mut Connection) -> rusqlite::Result<()> {
    let tx = dst.transaction()?;
    for (table, cols) in [
        (
            "collections",
            "name, a_href, b_href, last_sync, a_token, b_token, noop_digest",
        ),
        (
            "items",
            "collection, ident, a_href, a_etag, a_hash, b_href, b_etag, b_hash",
        ),
        ("conflicts", "collection, ident, reason"),
        ("meta", "collection, key, value"),
        (
            "pending",
            "collection, ident, renamed, b_hash, renamed_hash",
        ),
    ] {
        let n = cols.split(',').count();
        let mut stmt = src.prepare(&format!("SELECT {cols} FROM {table}"))?;
        let placeholders: Vec<String> = (1..=n).map(|i| format!("?{i}")).collect();
        let mut ins = tx.prepare(&format!(
            "INSERT INTO {table} ({cols}) VALUES ({})",
            placeholders.join(", ")
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let vals: Vec<rusqlite::types::Value> =
                (0..n).map(|i| r.get(i)).collect::<Result<_, _>>()?;
            ins.execute(rusqlite::params_from_iter(vals))?;
        }
    }
    tx.commit()
}

fn put_row(c: &Connection, collection: &str, row: &ItemRow) -> rusqlite::Result<()> {
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

fn remove_row(c: &Connection, collection: &str, ident: &str) -> rusqlite::Result<()> {
    c.prepare_cached("DELETE FROM items WHERE collection = ?1 AND ident = ?2")?
        .execute([collection, ident])?;
    bases::remove_base(c, collection, ident)
}

fn clear_pending_row(c: &Connection, collection: &str, ident: &str) -> rusqlite::Result<()> {
    c.prepare_cached("DELETE FROM pending WHERE collection = ?1 AND ident = ?2")?
        .execute([collection, ident])
        .map(drop)
}
