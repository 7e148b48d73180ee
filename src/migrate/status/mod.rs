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

use std::fs;
use std::path::{Path, PathBuf};

mod read;

use davsync_storages::{ContentHash, Etag, Href, Item, ItemKind};
use serde_json::Value;

use crate::status::{ItemRow, RowChange, SideState, Status};
use read::{read_pair, CollectionStatus, VRow};

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
    let local_hash = local.as_ref().map(|i| i.hash().clone());
    let vhash =
        r.a.as_ref()
            .or(r.b.as_ref())
            .map(|(_, _, h)| h.clone())
            .unwrap_or_default();
    let hash = local_hash.unwrap_or_else(|| ContentHash::from(format!("vdirsyncer:{vhash}")));
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
        href: Href(href.clone()),
        etag: Etag(etag.clone()),
        hash: ContentHash::default(),
    };
    let mut local = None;
    match kind {
        SideKind::Dav => {
            st.href = Href(davsync_storages::dav::proto::canonical_path(href));
            st.etag = Etag(etag.trim().to_owned());
        }
        SideKind::Vdir { folder, kind } => {
            let path = folder.join(href);
            if let Ok(meta) = fs::metadata(&path) {
                if vdirsyncer_file_etag(&meta) == *etag {
                    if let Ok(item) = fs::read(&path).map(|raw| Item::parse(*kind, raw)) {
                        local = item.ok();
                        st.etag = davsync_storages::vdir::etag_of(&meta);
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
                    st.etag = davsync_storages::singlefile::item_etag(&item);
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

#[cfg(test)]
mod tests;
