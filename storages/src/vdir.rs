//! The `vdir` backend: a folder per collection, one file per item, as vdirsyncer lays it out
//! so khal, khard and todoman read the same folders.
//!
//! # File names
//!
//! An item is stored as `<name><fileext>`. `<name>` is the UID itself when every character
//! is in the conservative set `A-Z a-z 0-9 _ . - + @`, it does not begin with `.`, it is at
//! most [`MAX_PLAIN_NAME`] bytes long and it is not a Windows device name (`CON`, `NUL`,
//! `COM1`, ...). Any other UID (a `/`, `..`, `\`, NUL, control characters, spaces, non-ASCII,
//! an over-long one) is stored under the lowercase hex SHA-256 of the UID (64 characters).
//! Either way the name is a single path component that never begins with a dot, so it can
//! neither escape the collection folder nor hide itself, and the same UID always maps to the
//! same name, which is what `repair` checks against ([`Storage::preferred_href`]).
//!
//! When the preferred name is already taken by a file holding a *different* item (two UIDs
//! differing only in case on a case-insensitive file system, or a file another program named
//! freely), the upload falls back to a fresh random name rather than fail or overwrite.
//!
//! # Etags
//!
//! The etag of a file is built from its modification time in nanoseconds, its inode number and
//! its size, so listing a collection costs one `readdir` plus one `stat` per file and an
//! unchanged file is never opened. Every write replaces the file by renaming a new one over
//! it, so the inode changes even when size and (coarse) mtime would not.
//!
//! # Writes
//!
//! Every write goes to a temporary file in the collection folder that gets its final name in
//! one step (see [`crate::localfs`]). A crash leaves either the old or the new file; on Linux
//! the temporary file has no name until then, and a named leftover (`.davsync-*.tmp`, from a
//! file system without `O_TMPFILE` or a kill between two system calls) is removed by the next
//! listing of the folder once no other davsync process uses it.
//!
//! Durability is batched: on Linux an item write does not fsync anything itself; it notes its
//! folder, and [`Storage::flush`] makes every noted write durable with one `syncfs` per file
//! system. The engine flushes before it records writes in the status, so the status never
//! knows of a file a power loss could still take back, while a sync of thousands of files
//! pays for one journal commit per batch instead of two fsyncs per file (about 1.3 ms per
//! file on the reference machine, against 0.15 ms). `syncfs` flushes the whole file system,
//! so a flush also waits for other programs' unwritten data there. Elsewhere each write
//! fsyncs its file and its folder before it returns, and `flush` has nothing left to do.
//! Metadata files and new collection folders are always synced at once (they are few). An upload never replaces an existing file: the rename uses `RENAME_NOREPLACE`
//! (falling back to a hard link), so two writers cannot both win. Updates and deletes check
//! the etag right before renaming/removing; the window between the check and the rename is
//! as small as the file system allows (POSIX offers no compare-and-swap on file contents).
//!
//! # Missing folders
//!
//! A collection folder that does not exist lists as empty and is created (with its parents)
//! by the first write, so a new `path` needs no manual `mkdir`. Reading never creates
//! anything, which keeps `--dry-run` free of side effects.
//!
//! # Modules
//!
//! This file holds the storage and its [`Storage`] methods; the name rules are in `names`,
//! the file operations in `files` and the batched durability in `durable`.

mod durable;
mod files;
mod names;

use std::fs;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;

use crate::error::{Error, ErrorKind, Result};
use crate::item::{Item, ItemKind};
use crate::localfs::{is_temp_name, write_temp, FolderGuards};
use crate::storage::{Collection, Etag, Fetched, Href, ItemRef, MetaKey, Storage};

pub(crate) use durable::{enter_for_writing, replace_with};
use durable::{fsync_dir, Unsynced, DEFER_SYNC};
use files::blocking;
pub use files::etag_of;
pub(crate) use files::visible_entries;
use names::is_plain_component;
pub use names::{file_stem_for_uid, is_safe_file_stem, MAX_PLAIN_NAME};

/// How many files one blocking task reads in `get_many`.
const READ_CHUNK: usize = 128;

/// How a vdir storage is configured.
#[derive(Debug, Clone)]
pub struct VdirOptions {
    /// The collection folder itself (no `collections`) or the parent of the collection
    /// folders.
    pub path: PathBuf,
    /// Only files ending in this are items, e.g. `.ics` or `.vcf`.
    pub fileext: String,
    /// A command (program and arguments) run after each file written, with the file's path
    /// appended.
    pub post_hook: Option<Vec<String>>,
    pub kind: ItemKind,
}

/// A folder of collection folders of item files.
#[derive(Debug)]
pub struct Vdir {
    path: PathBuf,
    fileext: String,
    post_hook: Option<Vec<String>>,
    kind: ItemKind,
    unsynced: Arc<Unsynced>,
    /// The collection folders this storage has touched, held against other processes'
    /// clean-up of temporary files.
    folders: Arc<FolderGuards>,
}

impl Vdir {
    pub fn new(opts: VdirOptions) -> Result<Vdir> {
        let VdirOptions {
            path,
            fileext,
            post_hook,
            kind,
        } = opts;
        if fileext.is_empty() || fileext.contains(['/', '\\', '\0']) {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "fileext {fileext:?}: must be a non-empty file name ending such as \".ics\""
                ),
            ));
        }
        if path.to_str().is_none() {
            return Err(Error::new(
                ErrorKind::Config,
                format!("path {}: not valid UTF-8", path.display()),
            ));
        }
        if let Some(hook) = &post_hook {
            if hook.is_empty() {
                return Err(Error::new(
                    ErrorKind::Config,
                    "post_hook: needs at least the program to run",
                ));
            }
        }
        Ok(Vdir {
            path,
            fileext,
            post_hook,
            kind,
            unsynced: Arc::default(),
            folders: Arc::default(),
        })
    }

    fn collection_dir(collection: &Collection) -> PathBuf {
        PathBuf::from(&collection.href)
    }

    /// The path of `href` in `collection`, refusing hrefs that are not one of our item file
    /// names (they could point outside the folder).
    fn item_path(&self, collection: &Collection, href: &Href) -> Result<PathBuf> {
        let name = href.as_str();
        if !is_plain_component(name) || !name.ends_with(&self.fileext) {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("{}: not an item file name in {}", name, collection.href),
            ));
        }
        Ok(Self::collection_dir(collection).join(name))
    }

    fn meta_path(collection: &Collection, key: MetaKey) -> PathBuf {
        Self::collection_dir(collection).join(key.as_str())
    }
}

#[async_trait]
impl Storage for Vdir {
    fn item_kind(&self) -> ItemKind {
        self.kind
    }

    async fn root_collection(&self) -> Result<Collection> {
        Ok(Collection {
            href: self.path.to_str().unwrap_or_default().to_owned(),
            name: String::new(),
        })
    }

    async fn discover(&self) -> Result<Vec<Collection>> {
        let root = self.path.clone();
        blocking(move || {
            let mut out = Vec::new();
            for entry in visible_entries(&root)? {
                let fname = entry.file_name();
                let Some(name) = fname.to_str() else {
                    tracing::warn!(
                        "ignoring {}: folder name is not valid UTF-8",
                        entry.path().display()
                    );
                    continue;
                };
                // Follows symlinks: a linked calendar folder is a collection too.
                match fs::metadata(entry.path()) {
                    Ok(m) if m.is_dir() => {}
                    _ => continue,
                }
                let href = entry.path().to_str().unwrap_or_default().to_owned();
                out.push(Collection {
                    href,
                    name: name.to_owned(),
                });
            }
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        })
        .await
    }

    async fn create_collection(&self, name: &str) -> Result<Collection> {
        if !is_plain_component(name) || name == ".." {
            return Err(Error::new(
                ErrorKind::Config,
                format!("{name:?}: not usable as a collection folder name"),
            ));
        }
        let dir = self.path.join(name);
        let coll = Collection {
            href: dir.to_str().unwrap_or_default().to_owned(),
            name: name.to_owned(),
        };
        blocking(move || {
            fs::create_dir_all(&dir).map_err(|e| Error::io(dir.display(), e))?;
            if let Some(parent) = dir.parent() {
                fsync_dir(parent);
            }
            Ok(())
        })
        .await?;
        Ok(coll)
    }

    async fn delete_collection(&self, collection: &Collection) -> Result<()> {
        let dir = Self::collection_dir(collection);
        let fileext = self.fileext.clone();
        blocking(move || {
            let rd = fs::read_dir(&dir).map_err(|e| Error::io(dir.display(), e))?;
            let mut removable = Vec::new();
            for entry in rd {
                let entry = entry.map_err(|e| Error::io(dir.display(), e))?;
                let fname = entry.file_name();
                let name = fname.to_string_lossy();
                let is_meta = MetaKey::parse(&name).is_some();
                let is_temp = is_temp_name(&name);
                if (is_meta || is_temp) && entry.file_type().is_ok_and(|t| t.is_file()) {
                    removable.push(entry.path());
                    continue;
                }
                let what = if !name.starts_with('.') && name.ends_with(fileext.as_str()) {
                    "an item"
                } else {
                    "a file davsync did not write"
                };
                return Err(Error::new(
                    ErrorKind::Refused,
                    format!(
                        "deleting collection {}: it still holds {what} ({})",
                        dir.display(),
                        entry.path().display()
                    ),
                ));
            }
            for p in removable {
                fs::remove_file(&p).map_err(|e| Error::io(p.display(), e))?;
            }
            fs::remove_dir(&dir).map_err(|e| Error::io(dir.display(), e))?;
            Ok(())
        })
        .await
    }

    async fn list(&self, collection: &Collection) -> Result<Vec<ItemRef>> {
        let dir = Self::collection_dir(collection);
        let fileext = self.fileext.clone();
        let folders = self.folders.clone();
        blocking(move || {
            folders.enter(&dir);
            Self::list_blocking(&dir, &fileext)
        })
        .await
    }

    async fn get_many(&self, collection: &Collection, hrefs: &[Href]) -> Result<Vec<Fetched>> {
        let kind = self.kind;
        let jobs: Vec<Vec<(Href, Result<PathBuf>)>> = hrefs
            .chunks(READ_CHUNK)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|h| (h.clone(), self.item_path(collection, h)))
                    .collect()
            })
            .collect();
        let results: Vec<Result<Vec<Fetched>>> = futures::stream::iter(jobs)
            .map(|job| {
                blocking(move || {
                    Ok(job
                        .into_iter()
                        .map(|(href, path)| {
                            let res = path.and_then(|p| Self::read_blocking(kind, &p));
                            (href, res)
                        })
                        .collect())
                })
            })
            .buffered(2)
            .collect()
            .await;
        let mut out = Vec::with_capacity(hrefs.len());
        for r in results {
            out.extend(r?);
        }
        Ok(out)
    }

    async fn upload(&self, collection: &Collection, item: &Item) -> Result<(Href, Etag)> {
        let dir = Self::collection_dir(collection);
        let stem = file_stem_for_uid(item.ident());
        let fileext = self.fileext.clone();
        let item = item.clone();
        let kind = self.kind;
        let hook = self.post_hook.clone();
        let unsynced = self.unsynced.clone();
        let folders = self.folders.clone();
        blocking(move || {
            let _one = unsynced.one_writer();
            enter_for_writing(&folders, &dir)?;
            let (path, etag) =
                Self::upload_blocking(kind, &dir, &stem, &fileext, &item, &unsynced)?;
            if let Some(hook) = &hook {
                Self::run_post_hook(hook, &path);
            }
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            Ok((Href(name), etag))
        })
        .await
    }

    async fn update(
        &self,
        collection: &Collection,
        href: &Href,
        item: &Item,
        etag: &Etag,
    ) -> Result<Etag> {
        let path = self.item_path(collection, href)?;
        let dir = Self::collection_dir(collection);
        let item = item.clone();
        let etag = etag.clone();
        let hook = self.post_hook.clone();
        let unsynced = self.unsynced.clone();
        let folders = self.folders.clone();
        blocking(move || {
            let _one = unsynced.one_writer();
            // Fail early (and write nothing) when the etag is already stale.
            Self::check_etag(&path, &etag)?;
            enter_for_writing(&folders, &dir)?;
            let (tmp, new_etag) = write_temp(&dir, item.raw(), !DEFER_SYNC)?;
            #[cfg(unix)]
            if let Ok(m) = fs::metadata(&path) {
                // Keep the permissions the user gave the file.
                let _ = tmp.as_file().set_permissions(m.permissions());
            }
            // Checked again right before the rename, to keep the race window minimal.
            Self::check_etag(&path, &etag)?;
            tmp.persist(&path)
                .map_err(|e| Error::io(path.display(), e))?;
            unsynced.wrote(&dir);
            if let Some(hook) = &hook {
                Self::run_post_hook(hook, &path);
            }
            Ok(new_etag)
        })
        .await
    }

    async fn delete(&self, collection: &Collection, href: &Href, etag: &Etag) -> Result<()> {
        let path = self.item_path(collection, href)?;
        let etag = etag.clone();
        let unsynced = self.unsynced.clone();
        blocking(move || {
            let _one = unsynced.one_writer();
            Self::check_etag(&path, &etag)?;
            fs::remove_file(&path).map_err(|e| Error::io(path.display(), e))?;
            if let Some(dir) = path.parent() {
                unsynced.wrote(dir);
            }
            Ok(())
        })
        .await
    }

    async fn flush(&self) -> Result<()> {
        let unsynced = self.unsynced.clone();
        blocking(move || unsynced.flush()).await
    }

    fn preferred_href(&self, uid: &str) -> Option<Href> {
        Some(Href(format!("{}{}", file_stem_for_uid(uid), self.fileext)))
    }

    async fn get_meta(&self, collection: &Collection, key: MetaKey) -> Result<Option<String>> {
        let path = Self::meta_path(collection, key);
        blocking(move || match fs::read(&path) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|e| {
                    Error::new(ErrorKind::InvalidData, path.display().to_string()).with_source(e)
                })?;
                let t = text.trim();
                Ok((!t.is_empty()).then(|| t.to_owned()))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path.display(), e)),
        })
        .await
    }

    async fn set_meta(
        &self,
        collection: &Collection,
        key: MetaKey,
        value: Option<&str>,
    ) -> Result<()> {
        let path = Self::meta_path(collection, key);
        let dir = Self::collection_dir(collection);
        let value = value.map(str::to_owned);
        let folders = self.folders.clone();
        blocking(move || match value {
            Some(v) => {
                enter_for_writing(&folders, &dir)?;
                let (tmp, _) = write_temp(&dir, v.as_bytes(), true)?;
                replace_with(tmp, &path)
            }
            None => match fs::remove_file(&path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(Error::io(path.display(), e)),
            },
        })
        .await
    }
}
