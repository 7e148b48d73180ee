//! Reading what vdirsyncer kept for a pair: the `.collections` list, each collection's
//! `.items` (SQLite, or the JSON of releases before 0.16) and `.metadata`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use serde_json::Value;

use super::*;

/// One collection's vdirsyncer status, read completely before anything is written.
pub(super) struct CollectionStatus {
    pub(super) name: String,
    pub(super) a_href: String,
    pub(super) b_href: String,
    pub(super) rows: Vec<VRow>,
    pub(super) meta: BTreeMap<String, String>,
    pub(super) written: Option<std::time::SystemTime>,
}

#[derive(Debug, Clone)]
pub(super) struct VRow {
    pub(super) ident: String,
    pub(super) a: Option<(String, String, String)>,
    pub(super) b: Option<(String, String, String)>,
}

/// Reads everything vdirsyncer kept for the pair; `Err` names the file that cannot be read.
pub(super) fn read_pair(src: &PairSource) -> Result<Vec<CollectionStatus>, String> {
    let dir = &src.status_dir;
    // (name, a args, b args) per collection.
    let mut list: Vec<(Option<String>, Option<Value>, Option<Value>)> = Vec::new();
    if !src.has_collections {
        list.push((None, None, None));
    } else {
        let cpath = dir.join(format!("{}.collections", src.name));
        match fs::read(&cpath) {
            Ok(bytes) => {
                let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
                    format!(
                        "{}: not a vdirsyncer collections file ({e})",
                        cpath.display()
                    )
                })?;
                let entries = v
                    .get("collections")
                    .and_then(Value::as_array)
                    .ok_or_else(|| format!("{}: no \"collections\" list in it", cpath.display()))?;
                for e in entries {
                    let name = e.get(0).and_then(Value::as_str).map(str::to_owned);
                    let args = e.get(1);
                    list.push((
                        name,
                        args.and_then(|a| a.get(0)).cloned(),
                        args.and_then(|a| a.get(1)).cloned(),
                    ));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Never discovered by this name: take the collections that have a status.
                if let Ok(rd) = fs::read_dir(dir.join(&src.name)) {
                    let mut names: Vec<String> = rd
                        .filter_map(|e| e.ok())
                        .filter_map(|e| {
                            e.file_name()
                                .to_str()
                                .and_then(|n| n.strip_suffix(".items"))
                                .map(str::to_owned)
                        })
                        .collect();
                    names.sort();
                    list.extend(names.into_iter().map(|n| (Some(n), None, None)));
                }
            }
            Err(e) => return Err(format!("{}: {e}", cpath.display())),
        }
    }
    let mut out = Vec::new();
    for (name, a_args, b_args) in list {
        let base = match &name {
            Some(n) => dir.join(&src.name).join(n),
            None => dir.join(&src.name),
        };
        let items_path = with_suffix(&base, ".items");
        let (rows, written) = match fs::metadata(&items_path) {
            Ok(m) => (read_items(&items_path)?, m.modified().ok()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Vec::new(), None),
            Err(e) => return Err(format!("{}: {e}", items_path.display())),
        };
        let meta_path = with_suffix(&base, ".metadata");
        let meta = match fs::read(&meta_path) {
            Ok(bytes) => {
                let v: BTreeMap<String, Value> = serde_json::from_slice(&bytes).map_err(|e| {
                    format!(
                        "{}: not a vdirsyncer metadata file ({e})",
                        meta_path.display()
                    )
                })?;
                v.into_iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k, s.trim().to_owned())))
                    .collect()
            }
            Err(_) => BTreeMap::new(),
        };
        if rows.is_empty() && meta.is_empty() && written.is_none() {
            continue;
        }
        out.push(CollectionStatus {
            a_href: location(&src.a, a_args.as_ref(), name.as_deref()),
            b_href: location(&src.b, b_args.as_ref(), name.as_deref()),
            name: name.unwrap_or_default(),
            rows,
            meta,
            written,
        });
    }
    Ok(out)
}

fn with_suffix(base: &Path, suffix: &str) -> PathBuf {
    let mut s = base.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The rows of an `.items` file: SQLite (0.16 and later) or the JSON of older releases.
pub(super) fn read_items(path: &Path) -> Result<Vec<VRow>, String> {
    let bytes_head = fs::read(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .into_iter()
        .take(1)
        .collect::<Vec<u8>>();
    if bytes_head == b"{" {
        return read_legacy_json(path);
    }
    read_sqlite(path).map_err(|e| {
        format!(
            "{}: not a readable vdirsyncer status database ({e})",
            path.display()
        )
    })
}

fn read_sqlite(path: &Path) -> rusqlite::Result<Vec<VRow>> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let version: i64 = conn.query_row("SELECT MAX(version) FROM meta", [], |r| r.get(0))?;
    if version != 1 {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISMATCH),
            Some(format!("status schema version {version}, expected 1")),
        ));
    }
    let mut stmt =
        conn.prepare("SELECT ident, href_a, etag_a, hash_a, href_b, etag_b, hash_b FROM status")?;
    let rows = stmt.query_map([], |r| {
        let side = |i: usize| -> rusqlite::Result<Option<(String, String, String)>> {
            let href: Option<String> = r.get(i)?;
            Ok(href.map(|h| {
                (
                    h,
                    r.get::<_, Option<String>>(i + 1)
                        .ok()
                        .flatten()
                        .unwrap_or_default(),
                    r.get::<_, Option<String>>(i + 2)
                        .ok()
                        .flatten()
                        .unwrap_or_default(),
                )
            }))
        };
        Ok(VRow {
            ident: r.get(0)?,
            a: side(1)?,
            b: side(4)?,
        })
    })?;
    rows.collect()
}

/// Before 0.16: `{ident: [href_a, etag_a, href_b, etag_b]}` or
/// `{ident: [{"href", "etag", "hash"}, {...}]}`.
fn read_legacy_json(path: &Path) -> Result<Vec<VRow>, String> {
    let bad = |why: String| {
        format!(
            "{}: not a readable vdirsyncer status ({why})",
            path.display()
        )
    };
    let bytes = fs::read(path).map_err(|e| bad(e.to_string()))?;
    let v: BTreeMap<String, Vec<Value>> =
        serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let mut out = Vec::new();
    for (ident, parts) in v {
        let (a, b) = match parts.as_slice() {
            [ha, ea, hb, eb] => ((s(ha), s(ea), String::new()), (s(hb), s(eb), String::new())),
            [a, b] => {
                let side = |x: &Value| (s(&x["href"]), s(&x["etag"]), s(&x["hash"]));
                (side(a), side(b))
            }
            _ => return Err(bad(format!("unexpected entry for {ident}"))),
        };
        out.push(VRow {
            ident,
            a: Some(a),
            b: Some(b),
        });
    }
    Ok(out)
}
