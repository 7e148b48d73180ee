//! Importing vdirsyncer's status (0.16 to 0.21) into davsync's, so that the first davsync
//! sync after switching reads no item vdirsyncer had synced and that is unchanged since,
//! writes nothing and reports no conflict.
//!
//! vdirsyncer keeps, under its `status_path`: `<pair>/<collection>.items` (or `<pair>.items`
//! for `collections = null`), an SQLite database with one table
//! `status(ident, href_a, href_b, hash_a, hash_b, etag_a, etag_b)` (schema version 1 in
//! table `meta`; before 0.16 the same file held JSON, which is read too);
//! `<pair>.collections`, JSON `{"collections": [[name, [a_args, b_args]], ...]}` with where
//! each collection lives; `<pair>/<collection>.metadata`, JSON `{key: value}` of metasync.
//!
//! How rows are translated, per side:
//! - a DAV storage: the href is put in davsync's canonical spelling, the etag kept as the
//!   server sent it; a listing then finds every unchanged item known.
//! - a `filesystem` (vdir) storage: vdirsyncer's etag is `<mtime_ns as float>;<inode>`. The
//!   file is looked at now: when that etag still describes it, it is unchanged since the last
//!   vdirsyncer sync and gets the etag davsync's vdir storage lists for it; otherwise it keeps
//!   vdirsyncer's etag, which matches nothing, so the first sync reads it.
//! - a `singlefile` storage: vdirsyncer's etags are its own content hashes, which davsync
//!   cannot recompute; a file not modified after the status was written is taken as
//!   unchanged and its items get davsync's etags.
//!
//! The hash: davsync compares normalized hashes to decide what changed, and vdirsyncer's
//! hashes are of a different normalization. Both sides of a row get one hash: that of the
//! local copy when one was found unchanged (read now from disk), otherwise a marker derived
//! from vdirsyncer's hash. Equal hashes on both sides say what vdirsyncer knew (the two
//! were in sync); a side that changes later is read and its real hash differs from the
//! marker, so it counts as changed, exactly as vdirsyncer would have seen it.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use davsync_storages::{Item, ItemKind};
use rusqlite::{Connection, OpenFlags};
use serde_json::Value;

use crate::status::{ItemRow, RowChange, SideState, Status};

/// What one side of a pair is, as far as the import cares.
#[derive(Debug, Clone)]
pub enum SideKind {
    /// A vdir folder holding the collection's files.
    Vdir { folder: PathBuf, kind: ItemKind },
    /// The singlefile file of the collection.
    Singlefile { file: PathBuf, kind: ItemKind },
    /// A server: hrefs are normalized.
    Dav,
    /// Anything else (http): hrefs and etags taken as they are.
    Other,
}

/// One pair to import, resolved from vdirsyncer's config.
#[derive(Debug, Clone)]
pub struct PairSource {
    pub name: String,
    /// vdirsyncer's `status_path`, expanded.
    pub status_dir: PathBuf,
    /// `false` for `collections = null`.
    pub has_collections: bool,
    /// For each side: the storage's vdirsyncer `type` and its expanded `path` (local types).
    pub a: StorageSource,
    pub b: StorageSource,
}

#[derive(Debug, Clone)]
pub struct StorageSource {
    pub vtype: String,
    pub path: Option<String>,
    pub fileext: Option<String>,
    pub url: Option<String>,
}

/// The outcome for one pair.
#[derive(Debug, Default)]
pub struct PairReport {
    pub rows: usize,
    pub collections: usize,
    /// A problem that made the pair be imported without status: path and why.
    pub unreadable: Option<String>,
    /// The pair already had a davsync status and `--force` was not given.
    pub kept_existing: bool,
}

/// One collection's vdirsyncer status, read completely before anything is written.
struct CollectionStatus {
    name: String,
    a_href: String,
    b_href: String,
    rows: Vec<VRow>,
    meta: BTreeMap<String, String>,
    written: Option<std::time::SystemTime>,
}

#[derive(Debug, Clone)]
struct VRow {
    ident: String,
    a: Option<(String, String, String)>,
    b: Option<(String, String, String)>,
}

/// Reads a pair's vdirsyncer status and writes it into davsync's status in `status_dir`.
pub fn import_pair(src: &PairSource, davsync_status: &Path, force: bool) -> PairReport {
    let mut report = PairReport::default();
    let collections = match read_pair(src) {
        Ok(c) => c,
        Err(message) => {
            report.unreadable = Some(message);
            return report;
        }
    };
    if collections.is_empty() {
        return report;
    }
    let status = match Status::open(davsync_status, &src.name) {
        Ok(s) => s,
        Err(e) => {
            report.unreadable = Some(format!(
                "{}: {e}",
                crate::status::path_for(davsync_status, &src.name).display()
            ));
            return report;
        }
    };
    match write_pair(&status, src, &collections, force) {
        Ok(Some(rows)) => {
            report.rows = rows;
            report.collections = collections.len();
        }
        Ok(None) => report.kept_existing = true,
        Err(e) => {
            report.unreadable = Some(format!(
                "{}: {e}",
                crate::status::path_for(davsync_status, &src.name).display()
            ))
        }
    }
    report
}

fn write_pair(
    status: &Status,
    src: &PairSource,
    collections: &[CollectionStatus],
    force: bool,
) -> Result<Option<usize>, crate::status::StatusError> {
    let existing = status.collections()?;
    if !existing.is_empty() {
        if !force {
            return Ok(None);
        }
        for c in existing {
            status.forget_collection(&c.name)?;
        }
    }
    let mut total = 0;
    for c in collections {
        status.set_collection(&c.name, &c.a_href, &c.b_href)?;
        let mut changes: Vec<RowChange> = Vec::with_capacity(c.rows.len());
        for r in &c.rows {
            let (row, base) = translate(src, c, r);
            let ident = row.ident.clone();
            changes.push(RowChange::Put(row));
            if let Some(item) = base {
                changes.push(RowChange::Base {
                    ident,
                    content: item.raw().to_vec(),
                });
            }
        }
        total += c.rows.len();
        status.apply(&c.name, &changes)?;
        for (key, value) in &c.meta {
            status.set_meta(&c.name, key, Some(value))?;
        }
        let at = c
            .written
            .map(chrono::DateTime::<chrono::Utc>::from)
            .unwrap_or_else(chrono::Utc::now);
        status.set_last_sync(&c.name, at)?;
    }
    Ok(Some(total))
}

/// The davsync row of one vdirsyncer row (see the module docs), and the local copy found
/// unchanged, if any, as the merge base: vdirsyncer saw both sides equal to it. Nothing else
/// is read for a base; a row without such a copy gets its base at its next sync that reads it.
fn translate(src: &PairSource, c: &CollectionStatus, r: &VRow) -> (ItemRow, Option<Item>) {
    let side_a = side_kind(&src.a, &c.a_href);
    let side_b = side_kind(&src.b, &c.b_href);
    let a = r.a.as_ref().map(|s| side(&side_a, s, c.written));
    let b = r.b.as_ref().map(|s| side(&side_b, s, c.written));
    let local = a
        .as_ref()
        .and_then(|(_, i)| i.clone())
        .or_else(|| b.as_ref().and_then(|(_, i)| i.clone()));
    let local_hash = local.as_ref().map(|i| i.hash().to_owned());
    let vhash =
        r.a.as_ref()
            .or(r.b.as_ref())
            .map(|(_, _, h)| h.clone())
            .unwrap_or_default();
    let hash = local_hash.unwrap_or_else(|| format!("vdirsyncer:{vhash}"));
    let finish = |s: Option<(SideState, Option<Item>)>| {
        s.map(|(mut st, _)| {
            st.hash = hash.clone();
            st
        })
    };
    let row = ItemRow {
        ident: r.ident.clone(),
        a: finish(a),
        b: finish(b),
    };
    let base = local.filter(|_| row.a.is_some() && row.b.is_some());
    (row, base)
}

fn kind_of(vtype: &str, fileext: Option<&str>) -> ItemKind {
    if vtype == "carddav" || fileext.is_some_and(|e| e.eq_ignore_ascii_case(".vcf")) {
        ItemKind::Contacts
    } else {
        ItemKind::Calendar
    }
}

fn side_kind(s: &StorageSource, location: &str) -> SideKind {
    let kind = kind_of(&s.vtype, s.fileext.as_deref());
    match s.vtype.as_str() {
        "filesystem" => SideKind::Vdir {
            folder: PathBuf::from(location),
            kind,
        },
        "singlefile" => SideKind::Singlefile {
            file: PathBuf::from(location),
            kind: if location.to_lowercase().ends_with(".vcf") {
                ItemKind::Contacts
            } else {
                ItemKind::Calendar
            },
        },
        "caldav" | "carddav" => SideKind::Dav,
        _ => SideKind::Other,
    }
}

/// One side's state, and the local copy when it was found unchanged.
fn side(
    kind: &SideKind,
    (href, etag, _hash): &(String, String, String),
    written: Option<std::time::SystemTime>,
) -> (SideState, Option<Item>) {
    let mut st = SideState {
        href: href.clone(),
        etag: etag.clone(),
        hash: String::new(),
    };
    let mut local = None;
    match kind {
        SideKind::Dav => {
            st.href = davsync_storages::dav::proto::canonical_path(href);
            st.etag = etag.trim().to_owned();
        }
        SideKind::Vdir { folder, kind } => {
            let path = folder.join(href);
            if let Ok(meta) = fs::metadata(&path) {
                if vdirsyncer_file_etag(&meta) == *etag {
                    if let Ok(item) = fs::read(&path).map(|raw| Item::parse(*kind, raw)) {
                        local = item.ok();
                        st.etag = davsync_storages::vdir::etag_of(&meta).0;
                    }
                }
            }
        }
        SideKind::Singlefile { file, kind } => {
            let unchanged = fs::metadata(file)
                .and_then(|m| m.modified())
                .ok()
                .zip(written)
                .is_some_and(|(m, w)| m <= w);
            if unchanged {
                if let Some(item) = fs::read(file)
                    .ok()
                    .and_then(|raw| davsync_storages::item::split(*kind, &raw).ok())
                    .and_then(|items| items.into_iter().find(|i| i.ident() == href))
                {
                    st.etag = davsync_storages::singlefile::item_etag(&item).0;
                    local = Some(item);
                }
            }
        }
        SideKind::Other => {}
    }
    (st, local)
}

/// vdirsyncer's etag of a file: `f"{st_mtime_ns:.9f};{st_ino}"`. Python formats the integer
/// nanoseconds through a float, so the digits are those of the nearest double.
#[cfg(unix)]
pub fn vdirsyncer_file_etag(meta: &fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    let ns = meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128;
    format!("{:.9};{}", ns as f64, meta.ino())
}

#[cfg(not(unix))]
pub fn vdirsyncer_file_etag(_meta: &fs::Metadata) -> String {
    String::new()
}

/// Where a collection lives on one side: vdirsyncer's recorded `path`/`url` for it, or the
/// storage's own when there are no collections.
fn location(s: &StorageSource, args: Option<&Value>, collection: Option<&str>) -> String {
    let recorded = args.and_then(|a| a.get("path").or_else(|| a.get("url")));
    if let Some(v) = recorded.and_then(Value::as_str) {
        return expand(v);
    }
    let base = s.path.as_deref().or(s.url.as_deref()).unwrap_or_default();
    let base = expand(base);
    match (collection, s.vtype.as_str()) {
        (None, _) => base,
        (Some(c), "singlefile") => base.replace("%s", c),
        (Some(c), "filesystem") => Path::new(&base).join(c).to_string_lossy().into_owned(),
        (Some(c), _) => format!("{}/{c}/", base.trim_end_matches('/')),
    }
}

/// `~` and `$VARS` expanded; left as written when a variable is unset.
pub fn expand(p: &str) -> String {
    shellexpand::full(p)
        .map(|c| c.into_owned())
        .unwrap_or_else(|_| p.to_owned())
}

/// Reads everything vdirsyncer kept for the pair; `Err` names the file that cannot be read.
fn read_pair(src: &PairSource) -> Result<Vec<CollectionStatus>, String> {
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
fn read_items(path: &Path) -> Result<Vec<VRow>, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn vdirsyncer_etag_goes_through_a_double_like_python() {
        // Python: f"{1733312345123456789:.9f}" == '1733312345123456768.000000000'
        let ns: i128 = 1_733_312_345_123_456_789;
        assert_eq!(format!("{:.9}", ns as f64), "1733312345123456768.000000000");
    }

    fn vdir_source(dir: &Path) -> StorageSource {
        StorageSource {
            vtype: "filesystem".into(),
            path: Some(dir.to_string_lossy().into_owned()),
            fileext: Some(".ics".into()),
            url: None,
        }
    }

    #[test]
    fn a_half_written_status_is_reported_with_its_path() {
        let tmp = tempfile::tempdir().unwrap();
        let vs = tmp.path().join("vstatus");
        fs::create_dir_all(&vs).unwrap();
        fs::write(vs.join("p.items"), b"SQLite format 3\0garbage").unwrap();
        let src = PairSource {
            name: "p".into(),
            status_dir: vs.clone(),
            has_collections: false,
            a: vdir_source(tmp.path()),
            b: vdir_source(tmp.path()),
        };
        let report = import_pair(&src, &tmp.path().join("dstatus"), false);
        let msg = report.unreadable.expect("reported");
        assert!(
            msg.starts_with(&format!(
                "{}: not a readable vdirsyncer status database",
                vs.join("p.items").display()
            )),
            "{msg}"
        );
        assert_eq!(report.rows, 0);
        assert!(!tmp.path().join("dstatus").exists());
    }

    const EV: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:u1\r\n\
                      SUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

    /// A vdirsyncer 0.16+ status database with the given rows.
    fn items_db(path: &Path, rows: &[[&str; 7]]) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let c = Connection::open(path).unwrap();
        c.execute_batch(
            "CREATE TABLE meta (\"version\" INTEGER PRIMARY KEY);
             INSERT INTO meta (version) VALUES (1);
             CREATE TABLE status (ident TEXT PRIMARY KEY NOT NULL, href_a TEXT, href_b TEXT,
                 hash_a TEXT NOT NULL, hash_b TEXT NOT NULL, etag_a TEXT, etag_b TEXT);",
        )
        .unwrap();
        for r in rows {
            c.execute(
                "INSERT INTO status VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                rusqlite::params![r[0], r[1], r[2], r[3], r[4], r[5], r[6]],
            )
            .unwrap();
        }
    }

    #[cfg(unix)]
    #[test]
    fn rows_metadata_and_collection_places_are_imported_and_only_unchanged_files_are_trusted() {
        let tmp = tempfile::tempdir().unwrap();
        let cals = tmp.path().join("cals");
        let work = cals.join("Work");
        fs::create_dir_all(&work).unwrap();
        fs::write(work.join("u1.ics"), EV).unwrap();
        fs::write(work.join("u2.ics"), EV.replace("u1", "u2")).unwrap();
        let etag1 = vdirsyncer_file_etag(&fs::metadata(work.join("u1.ics")).unwrap());
        let vs = tmp.path().join("vstatus");
        fs::create_dir_all(&vs).unwrap();
        fs::write(
            vs.join("p.collections"),
            format!(
                r#"{{"collections": [["work", [{{"path": "{}", "collection": "Work"}},
                    {{"url": "https://dav.example.org/alice/work/", "collection": "work"}}]]],
                    "cache_key": "x"}}"#,
                work.display()
            ),
        )
        .unwrap();
        items_db(
            &vs.join("p").join("work.items"),
            &[
                [
                    "u1",
                    "u1.ics",
                    "/alice/work/u1.ics",
                    "h1",
                    "h1",
                    &etag1,
                    "\"e1\"",
                ],
                // Changed on disk since: its etag no longer matches.
                [
                    "u2",
                    "u2.ics",
                    "/alice/work/u%40x.ics",
                    "h2",
                    "h2",
                    "1.000000000;1",
                    "\"e2\"",
                ],
            ],
        );
        fs::write(
            vs.join("p").join("work.metadata"),
            r#"{"displayname": "Work "}"#,
        )
        .unwrap();
        let src = PairSource {
            name: "p".into(),
            status_dir: vs,
            has_collections: true,
            a: vdir_source(&cals),
            b: StorageSource {
                vtype: "caldav".into(),
                path: None,
                fileext: None,
                url: Some("https://dav.example.org/".into()),
            },
        };
        let dstatus = tmp.path().join("dstatus");
        let report = import_pair(&src, &dstatus, false);
        assert_eq!((report.rows, report.collections), (2, 1), "{report:?}");
        let status = Status::open(&dstatus, "p").unwrap();
        let coll = status.collection("work").unwrap().unwrap();
        assert_eq!(coll.a_href.as_deref(), Some(work.to_str().unwrap()));
        assert_eq!(
            coll.b_href.as_deref(),
            Some("https://dav.example.org/alice/work/")
        );
        assert!(coll.last_sync.is_some());
        let rows = status.items("work").unwrap();
        let u1 = &rows["u1"];
        let a1 = u1.a.as_ref().unwrap();
        let item = Item::parse(ItemKind::Calendar, EV).unwrap();
        assert_eq!(
            a1.etag,
            davsync_storages::vdir::etag_of(&fs::metadata(work.join("u1.ics")).unwrap()).0
        );
        assert_eq!(a1.hash, item.hash());
        assert_eq!(u1.b.as_ref().unwrap().hash, item.hash());
        assert_eq!(u1.b.as_ref().unwrap().etag, "\"e1\"");
        let u2 = &rows["u2"];
        assert_eq!(u2.a.as_ref().unwrap().etag, "1.000000000;1");
        assert_eq!(u2.a.as_ref().unwrap().hash, "vdirsyncer:h2");
        assert_eq!(u2.b.as_ref().unwrap().hash, "vdirsyncer:h2");
        assert_eq!(u2.b.as_ref().unwrap().href, "/alice/work/u@x.ics");
        // The unchanged local copy is the merge base; a changed one is not trusted as one.
        assert_eq!(
            status.base("work", "u1").unwrap(),
            Some(EV.as_bytes().to_vec())
        );
        assert_eq!(status.base("work", "u2").unwrap(), None);
        assert_eq!(
            status.meta("work", "displayname").unwrap(),
            Some(Some("Work".to_owned()))
        );

        // A second import keeps the status davsync has now, unless forced.
        let again = import_pair(&src, &dstatus, false);
        assert!(again.kept_existing);
        let forced = import_pair(&src, &dstatus, true);
        assert_eq!(forced.rows, 2);
    }

    #[test]
    fn the_json_status_of_releases_before_0_16_is_read_too() {
        let tmp = tempfile::tempdir().unwrap();
        let vs = tmp.path().join("vstatus");
        fs::create_dir_all(&vs).unwrap();
        fs::write(
            vs.join("p.items"),
            r#"{"u1": ["u1.ics", "1.5;2", "/c/u1.ics", "\"e\""],
                "u2": [{"href": "u2.ics", "etag": "3.5;4", "hash": "h"},
                       {"href": "/c/u2.ics", "etag": "\"f\"", "hash": "h"}]}"#,
        )
        .unwrap();
        let rows = read_items(&vs.join("p.items")).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[0].a,
            Some(("u1.ics".into(), "1.5;2".into(), String::new()))
        );
        assert_eq!(
            rows[1].b,
            Some(("/c/u2.ics".into(), "\"f\"".into(), "h".into()))
        );
    }
}
