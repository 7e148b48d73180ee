//! When writes become durable: the batched `syncfs` of item writes on Linux, and the
//! immediate fsyncs elsewhere and for metadata.
//!
//! Kept apart from the file operations because the rule (the engine flushes before it
//! records a write in the status) spans every write path and is easiest to audit in one
//! place; see "Writes" in the module docs of [`super`].

use std::collections::HashSet;
use std::fs;
#[cfg(target_os = "linux")]
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[cfg(target_os = "linux")]
use crate::error::Error;
use crate::error::Result;
use crate::localfs::{FolderGuards, TempFile};

/// Item writes are synced in batches where the platform allows it (see the module docs).
pub(super) const DEFER_SYNC: bool = cfg!(target_os = "linux");

/// The folders whose item writes are not durable yet.
#[derive(Debug, Default)]
pub(super) struct Unsynced {
    dirs: Mutex<HashSet<PathBuf>>,
    /// Held for a whole flush: a flush that finds the set already taken by another one still
    /// syncing must wait for it, or it would report writes durable too early.
    syncing: Mutex<()>,
    /// Held by each item write: the kernel serializes creations and renames in one folder
    /// anyway, and writers queueing on its lock burn CPU (8 parallel writers cost 3 to 6
    /// times the system time of one for the same 5,000 files on the reference machine).
    writing: Mutex<()>,
}

impl Unsynced {
    pub(super) fn one_writer(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writing.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Called after a write into `dir` became visible.
    pub(super) fn wrote(&self, dir: &Path) {
        if DEFER_SYNC {
            let mut dirs = self.dirs.lock().unwrap_or_else(|e| e.into_inner());
            if !dirs.contains(dir) {
                dirs.insert(dir.to_owned());
            }
        } else {
            fsync_dir(dir);
        }
    }

    pub(super) fn flush(&self) -> Result<()> {
        let _syncing = self.syncing.lock().unwrap_or_else(|e| e.into_inner());
        let dirs = std::mem::take(&mut *self.dirs.lock().unwrap_or_else(|e| e.into_inner()));
        sync_file_systems(dirs)
    }
}

/// One `syncfs` per file system holding one of `dirs`.
#[cfg(target_os = "linux")]
fn sync_file_systems(dirs: HashSet<PathBuf>) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let mut done = HashSet::new();
    for dir in dirs {
        let f = match fs::File::open(&dir) {
            Ok(f) => f,
            // Removed since (a deleted collection): nothing of it is left to lose.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(dir.display(), e)),
        };
        let dev = f.metadata().map_err(|e| Error::io(dir.display(), e))?.dev();
        if done.insert(dev) {
            rustix::fs::syncfs(&f).map_err(|e| Error::io(dir.display(), io::Error::from(e)))?;
        }
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn sync_file_systems(dirs: HashSet<PathBuf>) -> Result<()> {
    // Writes were synced one by one already.
    debug_assert!(dirs.is_empty());
    Ok(())
}

pub(super) fn fsync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Creates `dir` when missing and holds it (see [`FolderGuards`]) before a first write: the
/// clean-up of leftover temporary files must come before this process makes any.
pub(crate) fn enter_for_writing(folders: &FolderGuards, dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir.display(), e))?;
    }
    folders.enter(dir);
    Ok(())
}

/// Replaces `target` by `tmp` atomically, and syncs its folder.
pub(crate) fn replace_with(tmp: TempFile, target: &Path) -> Result<()> {
    tmp.persist(target)
        .map_err(|e| Error::io(target.display(), e))?;
    if let Some(dir) = target.parent() {
        fsync_dir(dir);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{Vdir, VdirOptions};
    use super::*;
    use crate::item::{Item, ItemKind};
    use crate::storage::Storage;

    fn pending_dirs(v: &Vdir) -> usize {
        v.unsynced.dirs.lock().unwrap().len()
    }

    #[tokio::test]
    async fn item_writes_wait_for_flush_to_be_synced_and_flush_syncs_them_all() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vdir::new(VdirOptions {
            path: dir.path().to_owned(),
            fileext: ".ics".into(),
            post_hook: None,
            kind: ItemKind::Calendar,
        })
        .unwrap();
        let coll = v.create_collection("cal").await.unwrap();
        let raw = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:u1\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let item = Item::parse(ItemKind::Calendar, raw.as_bytes().to_vec()).unwrap();
        let (href, etag) = v.upload(&coll, &item).await.unwrap();
        let expect = usize::from(DEFER_SYNC);
        assert_eq!(
            pending_dirs(&v),
            expect,
            "the upload's folder awaits a sync"
        );
        v.flush().await.unwrap();
        assert_eq!(pending_dirs(&v), 0);
        let etag = v.update(&coll, &href, &item, &etag).await.unwrap();
        v.delete(&coll, &href, &etag).await.unwrap();
        assert_eq!(pending_dirs(&v), expect, "one entry per folder");
        v.flush().await.unwrap();
        assert_eq!(pending_dirs(&v), 0);
        v.flush().await.unwrap();
    }
}
