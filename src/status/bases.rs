//! The bases of the three-way merge, and the conflicts `davsync resolve` walks.
//!
//! A base is the text of an item as both sides held it after the last sync that saw them
//! equal: recorded with the row of every write that made the two sides equal, replaced by the
//! next one, removed with the row. One text per item, whichever side's bytes it came from:
//! the merge compares normalized content, and the two sides' texts of an equal item differ at
//! most in folding and the like. The text is stored compressed when that saves space
//! (see docs/conflicts.md for the measured cost).

use rusqlite::{params, Connection, OptionalExtension};

use super::Status;

/// Clustered on its key (`WITHOUT ROWID`): the key is not stored a second time in an index,
/// which is a fifth of a small item's row.
pub(super) const SCHEMA_V4: &str = "CREATE TABLE bases (
         collection TEXT NOT NULL,
         ident TEXT NOT NULL,
         content BLOB NOT NULL,
         PRIMARY KEY (collection, ident)
     ) WITHOUT ROWID;
     PRAGMA user_version = 4;";

const STORED: u8 = 0;
const DEFLATED: u8 = 1;

/// The stored form of a base: tagged, deflated when that saves space.
fn pack(content: &[u8]) -> Vec<u8> {
    let deflated = miniz_oxide::deflate::compress_to_vec(content, 6);
    let (tag, body) = if deflated.len() < content.len() {
        (DEFLATED, deflated.as_slice())
    } else {
        (STORED, content)
    };
    let mut out = Vec::with_capacity(body.len() + 1);
    out.push(tag);
    out.extend_from_slice(body);
    out
}

/// The text of a stored base; `None` for bytes this build did not write (read as no base).
fn unpack(stored: &[u8]) -> Option<Vec<u8>> {
    match stored.split_first()? {
        (&STORED, body) => Some(body.to_vec()),
        (&DEFLATED, body) => {
            miniz_oxide::inflate::decompress_to_vec_with_limit(body, 64 << 20).ok()
        }
        _ => None,
    }
}

pub(super) fn put_base(
    c: &Connection,
    collection: &str,
    ident: &str,
    content: &[u8],
) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT OR REPLACE INTO bases (collection, ident, content) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![collection, ident, pack(content)])
    .map(drop)
}

pub(super) fn remove_base(c: &Connection, collection: &str, ident: &str) -> rusqlite::Result<()> {
    c.prepare_cached("DELETE FROM bases WHERE collection = ?1 AND ident = ?2")?
        .execute([collection, ident])
        .map(drop)
}

impl Status {
    /// The base of `ident`: what both sides held after they were last seen equal.
    pub fn base(&self, collection: &str, ident: &str) -> super::Result<Option<Vec<u8>>> {
        self.read(|c| {
            let stored: Option<Vec<u8>> = c
                .prepare_cached("SELECT content FROM bases WHERE collection = ?1 AND ident = ?2")?
                .query_row([collection, ident], |r| r.get(0))
                .optional()?;
            Ok(stored.and_then(|s| unpack(&s)))
        })
    }

    /// The unresolved conflicts of a collection: (ident, reason), by ident.
    pub fn conflicts(&self, collection: &str) -> super::Result<Vec<(String, String)>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT ident, reason FROM conflicts WHERE collection = ?1 ORDER BY ident",
            )?;
            let rows = stmt.query_map([collection], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }

    /// Forgets one conflict (resolved by `davsync resolve`).
    pub fn clear_conflict(&self, collection: &str, ident: &str) -> super::Result<()> {
        self.write(|c| {
            c.execute(
                "DELETE FROM conflicts WHERE collection = ?1 AND ident = ?2",
                [collection, ident],
            )
            .map(drop)
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::status::{ItemRow, RowChange, SideState, Status};

    fn row(ident: &str) -> ItemRow {
        let side = SideState {
            href: format!("{ident}.ics").into(),
            etag: "e".into(),
            hash: "h".into(),
        };
        ItemRow {
            ident: ident.into(),
            a: Some(side.clone()),
            b: Some(side),
        }
    }

    #[test]
    fn a_base_is_kept_with_its_row_and_goes_with_it() {
        let s = Status::in_memory().unwrap();
        s.apply(
            "c",
            &[
                RowChange::Put(row("x")),
                RowChange::Base {
                    ident: "x".into(),
                    content: b"BEGIN:VCALENDAR".to_vec(),
                },
            ],
        )
        .unwrap();
        assert_eq!(
            s.base("c", "x").unwrap().as_deref(),
            Some(&b"BEGIN:VCALENDAR"[..])
        );
        assert_eq!(s.base("other", "x").unwrap(), None);
        s.apply("c", &[RowChange::Remove("x".into())]).unwrap();
        assert_eq!(s.base("c", "x").unwrap(), None);
    }

    #[test]
    fn bases_come_back_byte_for_byte_whether_deflated_or_not() {
        let s = Status::in_memory().unwrap();
        let long = "BEGIN:VCALENDAR\r\n".repeat(50).into_bytes();
        for (ident, text) in [("short", b"x".to_vec()), ("long", long)] {
            s.apply(
                "c",
                &[RowChange::Base {
                    ident: ident.into(),
                    content: text.clone(),
                }],
            )
            .unwrap();
            assert_eq!(s.base("c", ident).unwrap(), Some(text));
        }
        assert!(super::pack(&"BEGIN:VCALENDAR\r\n".repeat(50).into_bytes()).len() < 100);
    }

    #[test]
    fn a_status_of_schema_3_migrates_with_no_bases() {
        let dir = tempfile::tempdir().unwrap();
        let path = crate::status::path_for(dir.path(), "p");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE collections (name TEXT PRIMARY KEY NOT NULL, a_href TEXT, b_href TEXT,
                 last_sync TEXT, a_token TEXT, b_token TEXT, noop_digest TEXT);
             CREATE TABLE items (collection TEXT NOT NULL, ident TEXT NOT NULL,
                 a_href TEXT, a_etag TEXT, a_hash TEXT, b_href TEXT, b_etag TEXT, b_hash TEXT,
                 PRIMARY KEY (collection, ident));
             CREATE TABLE conflicts (collection TEXT NOT NULL, ident TEXT NOT NULL,
                 reason TEXT NOT NULL, PRIMARY KEY (collection, ident));
             CREATE TABLE meta (collection TEXT NOT NULL, key TEXT NOT NULL, value TEXT,
                 PRIMARY KEY (collection, key));
             CREATE TABLE pending (collection TEXT NOT NULL, ident TEXT NOT NULL,
                 renamed TEXT NOT NULL, b_hash TEXT NOT NULL, renamed_hash TEXT NOT NULL,
                 PRIMARY KEY (collection, ident));
             INSERT INTO items VALUES ('', 'x', 'x.ics', 'e', 'h', 'x.ics', 'e', 'h');
             INSERT INTO conflicts VALUES ('', 'y', 'every strategy passed');
             PRAGMA user_version = 3;",
        )
        .unwrap();
        drop(conn);
        let s = Status::open(dir.path(), "p").unwrap();
        assert_eq!(s.items("").unwrap().len(), 1);
        assert_eq!(s.base("", "x").unwrap(), None);
        assert_eq!(
            s.conflicts("").unwrap(),
            [("y".to_owned(), "every strategy passed".to_owned())]
        );
        s.clear_conflict("", "y").unwrap();
        assert!(s.conflicts("").unwrap().is_empty());
    }
}
