//! The trash: every version a sync, `resolve`, `repair` or `--force-delete` is about to
//! overwrite or delete, kept for `trash_days` so that no change is ever lost for good.
//!
//! Layout: `<status_path>/trash/<ID>/` holds `meta.toml` (when, where, why) and the item's
//! bytes as `item.ics` or `item.vcf`, exactly as they were on the storage. An entry is written
//! into a hidden `.tmp-<ID>` folder, both files and the folder are fsynced, and only then is
//! the folder renamed to `<ID>` and the trash folder fsynced: an entry is either complete and
//! durable or absent, and [`Trash::save`] returns only once it is durable, so the write that
//! replaces the version can follow safely. Folders are 0700, files 0600: items are private.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Local, SecondsFormat, Utc};
use davsync_storages::{Etag, Href, ItemKind};
use serde::{Deserialize, Serialize};

/// Why a version went to the trash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Why {
    Overwritten,
    Deleted,
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Why::Overwritten => "overwritten",
            Why::Deleted => "deleted",
        })
    }
}

/// Where a version was and why it is being replaced: what the caller knows before the write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub pair: String,
    /// Empty for a pair without `collections`.
    pub collection: String,
    pub storage: String,
    /// The collection on the storage (its locator and its name there, which a mapped
    /// collection may spell differently from the pair's), so a restore can write it back.
    pub collection_href: String,
    pub collection_name: String,
    pub href: Href,
    pub etag: Option<Etag>,
    pub uid: String,
    pub why: Why,
    pub kind: ItemKind,
}

/// One kept version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub when: DateTime<Utc>,
    pub origin: Origin,
    /// SUMMARY (calendars) or FN (contacts), for the listing.
    pub summary: Option<String>,
}

impl Entry {
    /// `<pair>/<collection>`, or `<pair>` for a pair without collections.
    pub fn place(&self) -> String {
        if self.origin.collection.is_empty() {
            self.origin.pair.clone()
        } else {
            format!("{}/{}", self.origin.pair, self.origin.collection)
        }
    }

    /// `<storage>/<collection>`, or `<storage>` for a pair without collections.
    pub fn storage_place(&self) -> String {
        if self.origin.collection.is_empty() {
            self.origin.storage.clone()
        } else {
            format!("{}/{}", self.origin.storage, self.origin.collection)
        }
    }

    /// The `davsync trash list` line: `<ID> <time, local, ISO 8601> <pair>/<collection> <UID>
    /// <overwritten|deleted> on <storage>: <SUMMARY or FN>`.
    pub fn line(&self) -> String {
        let when = self
            .when
            .with_timezone(&Local)
            .to_rfc3339_opts(SecondsFormat::Secs, false);
        format!(
            "{} {when} {} {} {} on {}: {}",
            self.id,
            self.place(),
            self.origin.uid,
            self.origin.why,
            self.origin.storage,
            self.summary.as_deref().unwrap_or("(untitled)")
        )
    }
}

/// What `meta.toml` holds.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    when: String,
    pair: String,
    collection: String,
    storage: String,
    collection_href: String,
    collection_name: String,
    href: String,
    etag: Option<String>,
    uid: String,
    why: Why,
    kind: String,
    summary: Option<String>,
}

/// A trash operation that failed, naming the path: the overwrite or deletion it was to
/// precede must not happen.
#[derive(Debug, thiserror::Error)]
#[error("trash {}: {message}", path.display())]
pub struct TrashError {
    pub path: PathBuf,
    pub message: String,
}

fn fail(path: &Path, e: impl std::fmt::Display) -> TrashError {
    TrashError {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

fn kind_name(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Calendar => "calendar",
        ItemKind::Contacts => "contacts",
    }
}

fn item_file(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Calendar => "item.ics",
        ItemKind::Contacts => "item.vcf",
    }
}

/// IDs are what `trash restore` is given: only these characters, so one can never name a
/// path outside the trash.
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TrashError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| fail(path, e))?;
    f.write_all(bytes).map_err(|e| fail(path, e))?;
    f.sync_all().map_err(|e| fail(path, e))
}

fn sync_dir(path: &Path) -> Result<(), TrashError> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(|e| fail(path, e))
}

/// The trash of one status folder.
#[derive(Debug, Clone)]
pub struct Trash {
    dir: PathBuf,
    days: u32,
}

impl Trash {
    /// The trash under `status_path`, keeping versions `days` days (0: keeps nothing).
    pub fn new(status_path: &Path, days: u32) -> Trash {
        Trash {
            dir: status_path.join("trash"),
            days,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether versions are kept at all (`trash_days` above 0).
    pub fn keeps(&self) -> bool {
        self.days > 0
    }

    fn ensure_dir(&self) -> Result<(), TrashError> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| fail(&self.dir, e))?;
        let meta = fs::metadata(&self.dir).map_err(|e| fail(&self.dir, e))?;
        if meta.permissions().mode() & 0o077 != 0 {
            fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| fail(&self.dir, e))?;
        }
        Ok(())
    }

    /// Keeps `content`, the version described by `origin`, durably. Returns its ID, or `None`
    /// when the trash keeps nothing (`trash_days = 0`). The caller must not overwrite or
    /// delete the version unless this succeeded.
    pub fn save(&self, origin: &Origin, content: &[u8]) -> Result<Option<String>, TrashError> {
        if !self.keeps() {
            return Ok(None);
        }
        self.ensure_dir()?;
        let summary = davsync_storages::Item::parse(origin.kind, content.to_vec())
            .ok()
            .and_then(|i| i.summary());
        let when = Utc::now();
        let meta = Meta {
            when: when.to_rfc3339_opts(SecondsFormat::Micros, true),
            pair: origin.pair.clone(),
            collection: origin.collection.clone(),
            storage: origin.storage.clone(),
            collection_href: origin.collection_href.clone(),
            collection_name: origin.collection_name.clone(),
            href: origin.href.to_string(),
            etag: origin.etag.as_ref().map(Etag::to_string),
            uid: origin.uid.clone(),
            why: origin.why,
            kind: kind_name(origin.kind).into(),
            summary,
        };
        let meta_text = toml::to_string(&meta).map_err(|e| fail(&self.dir, e))?;
        for _ in 0..16 {
            let id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
            let final_path = self.dir.join(&id);
            if final_path.exists() {
                continue;
            }
            let tmp = self.dir.join(format!(".tmp-{id}"));
            DirBuilder::new()
                .mode(0o700)
                .create(&tmp)
                .map_err(|e| fail(&tmp, e))?;
            let written = write_private(&tmp.join(item_file(origin.kind)), content)
                .and_then(|()| write_private(&tmp.join("meta.toml"), meta_text.as_bytes()))
                .and_then(|()| sync_dir(&tmp))
                .and_then(|()| fs::rename(&tmp, &final_path).map_err(|e| fail(&final_path, e)))
                .and_then(|()| sync_dir(&self.dir));
            if let Err(e) = written {
                let _ = fs::remove_dir_all(&tmp);
                return Err(e);
            }
            return Ok(Some(id));
        }
        Err(fail(&self.dir, "no free entry name"))
    }

    fn read_entry(&self, id: &str) -> Result<Entry, TrashError> {
        let path = self.dir.join(id).join("meta.toml");
        let text = fs::read_to_string(&path).map_err(|e| fail(&path, e))?;
        let meta: Meta = toml::from_str(&text).map_err(|e| fail(&path, e))?;
        let when = DateTime::parse_from_rfc3339(&meta.when)
            .map_err(|e| fail(&path, format!("bad time {:?}: {e}", meta.when)))?
            .with_timezone(&Utc);
        let kind = match meta.kind.as_str() {
            "calendar" => ItemKind::Calendar,
            "contacts" => ItemKind::Contacts,
            other => return Err(fail(&path, format!("unknown kind {other:?}"))),
        };
        Ok(Entry {
            id: id.to_owned(),
            when,
            origin: Origin {
                pair: meta.pair,
                collection: meta.collection,
                storage: meta.storage,
                collection_href: meta.collection_href,
                collection_name: meta.collection_name,
                href: Href(meta.href),
                etag: meta.etag.map(Etag),
                uid: meta.uid,
                why: meta.why,
                kind,
            },
            summary: meta.summary,
        })
    }

    /// Every kept version, newest first. An entry that cannot be read is reported in the
    /// second list (path and reason) rather than hiding the others.
    pub fn list(&self) -> Result<(Vec<Entry>, Vec<TrashError>), TrashError> {
        let read = match fs::read_dir(&self.dir) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Vec::new(), Vec::new()))
            }
            Err(e) => return Err(fail(&self.dir, e)),
        };
        let mut entries = Vec::new();
        let mut broken = Vec::new();
        for dirent in read {
            let dirent = dirent.map_err(|e| fail(&self.dir, e))?;
            let name = dirent.file_name();
            let Some(id) = name.to_str().filter(|n| valid_id(n)) else {
                continue;
            };
            match self.read_entry(id) {
                Ok(e) => entries.push(e),
                Err(e) => broken.push(e),
            }
        }
        entries.sort_by(|x, y| y.when.cmp(&x.when).then_with(|| x.id.cmp(&y.id)));
        Ok((entries, broken))
    }

    /// The entry and the bytes kept under `id`; `None` for an ID the trash does not hold.
    pub fn get(&self, id: &str) -> Result<Option<(Entry, Vec<u8>)>, TrashError> {
        if !valid_id(id) || !self.dir.join(id).is_dir() {
            return Ok(None);
        }
        let entry = self.read_entry(id)?;
        let path = self.dir.join(id).join(item_file(entry.origin.kind));
        let bytes = fs::read(&path).map_err(|e| fail(&path, e))?;
        Ok(Some((entry, bytes)))
    }

    /// Forgets the entry `id` (after it was restored).
    pub fn remove(&self, id: &str) -> Result<(), TrashError> {
        if !valid_id(id) {
            return Ok(());
        }
        let path = self.dir.join(id);
        match fs::remove_dir_all(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(fail(&path, e)),
        }
    }

    /// [`Trash::prune`] at the end of a sync, unless no entry can have expired since the last
    /// prune. Pruning reads every entry's `meta.toml`, and a trash can hold hundreds of
    /// thousands (the soak keeps 1,800 a round): pruned at every sync, the trash made each sync
    /// slower the longer davsync ran. Entries saved after a prune are newer than it, so the
    /// first entry to expire is the oldest one that prune kept, or one saved after it: the
    /// prune notes `<its time> <the earliest expiry>` in `trash/.pruned`, and until that
    /// expiry nothing can be due. A missing or unreadable note, a prune time in the future (the
    /// clock went back) and `trash_days = 0` prune at once.
    pub fn prune_if_due(&self, now: DateTime<Utc>) -> Result<usize, TrashError> {
        let note = self.dir.join(".pruned");
        if self.days > 0 {
            let text = fs::read_to_string(&note).unwrap_or_default();
            let mut times = text.split_whitespace().map(|t| {
                DateTime::parse_from_rfc3339(t)
                    .ok()
                    .map(|t| t.with_timezone(&Utc))
            });
            if let (Some(Some(pruned)), Some(Some(due))) = (times.next(), times.next()) {
                if pruned <= now && now < due {
                    return Ok(0);
                }
            }
        }
        let (removed, oldest_kept) = self.prune_keeping(now)?;
        if self.dir.is_dir() {
            let due =
                oldest_kept.unwrap_or(now).min(now) + chrono::Duration::days(i64::from(self.days));
            let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Micros, true);
            // Only a hint: losing it costs one more prune, so it is neither fsynced nor fatal.
            let _ = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&note)
                .and_then(|mut f| write!(f, "{} {}", stamp(now), stamp(due)));
        }
        Ok(removed)
    }

    /// Removes the entries older than `trash_days` at `now` (all of them with 0), and the
    /// leftovers of saves interrupted more than an hour ago. Returns how many entries went.
    pub fn prune(&self, now: DateTime<Utc>) -> Result<usize, TrashError> {
        Ok(self.prune_keeping(now)?.0)
    }

    /// [`Trash::prune`], also returning the save time of the oldest entry kept.
    fn prune_keeping(
        &self,
        now: DateTime<Utc>,
    ) -> Result<(usize, Option<DateTime<Utc>>), TrashError> {
        let cutoff = now - chrono::Duration::days(i64::from(self.days));
        let (entries, _) = self.list()?;
        let mut removed = 0;
        let mut oldest_kept: Option<DateTime<Utc>> = None;
        for e in &entries {
            if self.days == 0 || e.when < cutoff {
                self.remove(&e.id)?;
                removed += 1;
            } else {
                oldest_kept = Some(oldest_kept.map_or(e.when, |o| o.min(e.when)));
            }
        }
        if let Ok(read) = fs::read_dir(&self.dir) {
            let stale = SystemTime::now() - Duration::from_secs(3600);
            for dirent in read.flatten() {
                let is_tmp = dirent.file_name().to_string_lossy().starts_with(".tmp-");
                let old = dirent
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t < stale);
                if is_tmp && old {
                    let _ = fs::remove_dir_all(dirent.path());
                }
            }
        }
        Ok((removed, oldest_kept))
    }
}

#[cfg(test)]
mod tests;
