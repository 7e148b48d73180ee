//! What `davsync status` prints of a pair, read without opening the status for writing.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::file::{open_read_only, path_for};
use super::schema::user_version;
use super::Result;

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

pub(super) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}
