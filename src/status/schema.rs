//! The schema: its version, the forward migrations, and the copy a dry run works on.

use rusqlite::Connection;

use super::bases;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 4;

pub(super) fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Brings a database to [`SCHEMA_VERSION`], one step per version, each in a transaction.
pub(super) fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
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

/// Copies every row of the status tables from `src` into `dst` (same schema version).
pub(super) fn copy_tables(src: &Connection, dst: &mut Connection) -> rusqlite::Result<()> {
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
