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

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::StreamExt;
use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind, Result};
use crate::item::{Item, ItemKind};
use crate::localfs::{is_temp_name, write_temp, FolderGuards, TempFile};
use crate::storage::{Collection, Etag, Fetched, Href, ItemRef, MetaKey, Storage};

/// Longest UID (in bytes) used verbatim as a file name; longer ones are hashed. Leaves room
/// for the extension within the usual 255-byte limit of a file name.
pub const MAX_PLAIN_NAME: usize = 200;

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

/// Item writes are synced in batches where the platform allows it (see the module docs).
const DEFER_SYNC: bool = cfg!(target_os = "linux");

/// The folders whose item writes are not durable yet.
#[derive(Debug, Default)]
struct Unsynced {
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
    fn one_writer(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writing.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Called after a write into `dir` became visible.
    fn wrote(&self, dir: &Path) {
        if DEFER_SYNC {
            let mut dirs = self.dirs.lock().unwrap_or_else(|e| e.into_inner());
            if !dirs.contains(dir) {
                dirs.insert(dir.to_owned());
            }
        } else {
            fsync_dir(dir);
        }
    }

    fn flush(&self) -> Result<()> {
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

/// True when `uid` can be a file name as it is (see the module docs for the rules).
pub fn is_safe_file_stem(uid: &str) -> bool {
    !uid.is_empty()
        && uid.len() <= MAX_PLAIN_NAME
        && !uid.starts_with('.')
        && uid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'+' | b'@'))
        && !is_windows_device_name(uid)
}

/// `CON`, `PRN`, `AUX`, `NUL`, `COM1`-`COM9`, `LPT1`-`LPT9`, alone or before a dot, in any
/// case: Windows refuses these as file names whatever the extension.
fn is_windows_device_name(stem: &str) -> bool {
    let base = stem.split('.').next().unwrap_or("").to_ascii_uppercase();
    matches!(base.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || (base.len() == 4
            && (base.starts_with("COM") || base.starts_with("LPT"))
            && matches!(base.as_bytes()[3], b'1'..=b'9'))
}

/// The file name (without extension) an item with this UID is stored under.
pub fn file_stem_for_uid(uid: &str) -> String {
    if is_safe_file_stem(uid) {
        uid.to_owned()
    } else {
        hex::encode(Sha256::digest(uid.as_bytes()))
    }
}

/// The entries of a folder that are not hidden (a name beginning with `.`), as collection
/// discovery sees them: a folder that does not exist holds nothing. The one walk behind the
/// discovery of vdir collections (sub-folders) and singlefile collections (files).
pub(crate) fn visible_entries(dir: &Path) -> Result<Vec<fs::DirEntry>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir.display(), e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(dir.display(), e))?;
        if !entry.file_name().as_encoded_bytes().starts_with(b".") {
            out.push(entry);
        }
    }
    Ok(out)
}

/// The etag of a file, from metadata only. Public so that a status imported from another
/// tool can be given the etags this storage will list.
pub fn etag_of(meta: &fs::Metadata) -> Etag {
    #[cfg(unix)]
    {
        use std::io::Write as _;
        use std::os::unix::fs::MetadataExt;
        // Called once per file on every listing: formatted on the stack and copied into a
        // string of the exact size, one allocation instead of `format!`'s growing buffer.
        // 96 bytes hold the longest possible value (three 20-digit numbers and the rest).
        let mut buf = [0u8; 96];
        let mut w = &mut buf[..];
        let _ = write!(
            w,
            "{}.{:09}-{}-{}",
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ino(),
            meta.size()
        );
        let n = 96 - w.len();
        Etag(String::from_utf8_lossy(&buf[..n]).into_owned())
    }
    #[cfg(not(unix))]
    {
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        Etag(format!("{}-{}", mtime, meta.len()))
    }
}

/// Runs blocking file-system work off the async threads.
async fn blocking<T, F>(f: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(Error::new(ErrorKind::Io, "file-system task").with_source(e)),
    }
}

/// A name usable as one entry of a folder we own: not empty, no separator or NUL, not hidden.
fn is_plain_component(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && !name.chars().any(|c| c.is_control())
}

fn fsync_dir(dir: &Path) {
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

    fn run_post_hook(hook: &[String], path: &Path) {
        let out = std::process::Command::new(&hook[0])
            .args(&hook[1..])
            .arg(path)
            .stdin(std::process::Stdio::null())
            .output();
        match out {
            Ok(o) if o.status.success() => {
                tracing::debug!(hook = %hook[0], file = %path.display(), "post_hook ran");
            }
            Ok(o) => tracing::warn!(
                "post_hook {:?} failed for {} ({}): {}",
                hook[0],
                path.display(),
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => tracing::warn!(
                "post_hook {:?} could not run for {}: {}",
                hook[0],
                path.display(),
                e
            ),
        }
    }

    fn list_blocking(dir: &Path, fileext: &str) -> Result<Vec<ItemRef>> {
        let rd = match fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(dir.display(), e)),
        };
        let mut out = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| Error::io(dir.display(), e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                tracing::warn!(
                    "ignoring {}: file name is not valid UTF-8",
                    entry.path().display()
                );
                continue;
            };
            if name.starts_with('.') || name.len() <= fileext.len() || !name.ends_with(fileext) {
                continue;
            }
            let ft = match entry.file_type() {
                Ok(ft) => ft,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(entry.path().display(), e)),
            };
            // DirEntry::metadata is an fstatat relative to the open folder: no path walk.
            let meta = if ft.is_symlink() {
                fs::metadata(entry.path())
            } else {
                entry.metadata()
            };
            let meta = match meta {
                Ok(m) => m,
                // Removed between readdir and stat, or a dangling link: not an item.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(entry.path().display(), e)),
            };
            if !meta.is_file() {
                continue;
            }
            out.push(ItemRef {
                href: Href(name.to_owned()),
                etag: etag_of(&meta),
            });
        }
        Ok(out)
    }

    fn read_blocking(kind: ItemKind, path: &Path) -> Result<(Item, Etag)> {
        let mut f = fs::File::open(path).map_err(|e| Error::io(path.display(), e))?;
        // The etag is taken before reading: if the file is rewritten in place meanwhile, the
        // next listing shows a newer etag and the item is read again.
        let meta = f.metadata().map_err(|e| Error::io(path.display(), e))?;
        if !meta.is_file() {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("{}: not a file", path.display()),
            ));
        }
        let mut buf = Vec::with_capacity(meta.len() as usize);
        f.read_to_end(&mut buf)
            .map_err(|e| Error::io(path.display(), e))?;
        let item = Item::parse(kind, buf).map_err(|pe| {
            Error::new(
                ErrorKind::InvalidData,
                format!("{}: {}", path.display(), pe),
            )
        })?;
        Ok((item, etag_of(&meta)))
    }

    /// Checks that `path` is still at `etag`.
    fn check_etag(path: &Path, etag: &Etag) -> Result<()> {
        match fs::metadata(path) {
            Ok(m) if m.is_file() && etag_of(&m) == *etag => Ok(()),
            Ok(_) => Err(Error::new(
                ErrorKind::PreconditionFailed,
                path.display().to_string(),
            )),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::new(
                ErrorKind::PreconditionFailed,
                format!("{} (no longer exists)", path.display()),
            )),
            Err(e) => Err(Error::io(path.display(), e)),
        }
    }

    fn upload_blocking(
        kind: ItemKind,
        dir: &Path,
        stem: &str,
        fileext: &str,
        item: &Item,
        unsynced: &Unsynced,
    ) -> Result<(PathBuf, Etag)> {
        let (mut tmp, etag) = write_temp(dir, item.raw(), !DEFER_SYNC)?;
        let mut name = format!("{stem}{fileext}");
        let mut tries = 0;
        loop {
            let target = dir.join(&name);
            match tmp.persist_noclobber(&target) {
                Ok(_) => {
                    unsynced.wrote(dir);
                    return Ok((target, etag));
                }
                Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => {
                    tmp = e.file;
                    // The same item (by UID, or by content for items without one) is already
                    // there: that is a real conflict for the caller. A different item merely
                    // squatting on the name: pick a fresh one.
                    let same = match Self::read_blocking(kind, &target) {
                        Ok((existing, _)) => existing.ident() == item.ident(),
                        Err(_) => false,
                    };
                    tries += 1;
                    if same || tries > 3 {
                        return Err(Error::new(
                            ErrorKind::AlreadyExists,
                            target.display().to_string(),
                        ));
                    }
                    tracing::debug!(
                        "{} holds another item; storing {} under a fresh name",
                        target.display(),
                        item.ident()
                    );
                    name = format!("{}{fileext}", uuid::Uuid::new_v4());
                }
                Err(e) => return Err(Error::io(target.display(), e.error)),
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn plain_uids_are_used_verbatim() {
        assert_eq!(
            file_stem_for_uid("abc-123@example.com"),
            "abc-123@example.com"
        );
        assert_eq!(file_stem_for_uid("a.b_c+d"), "a.b_c+d");
    }

    #[test]
    fn unsafe_uids_are_hashed() {
        for uid in [
            "",
            ".",
            "..",
            ".hidden",
            "a/b",
            "../x",
            "a\\b",
            "a\0b",
            "a b",
            "tab\there",
            "ünïcode",
            "CON",
            "nul.txt",
            "com1",
            "LPT9",
        ] {
            let stem = file_stem_for_uid(uid);
            assert_eq!(stem.len(), 64, "{uid:?}");
            assert!(stem.bytes().all(|b| b.is_ascii_hexdigit()), "{uid:?}");
        }
        assert_eq!(
            file_stem_for_uid(&"x".repeat(MAX_PLAIN_NAME)).len(),
            MAX_PLAIN_NAME
        );
        assert_eq!(file_stem_for_uid(&"x".repeat(MAX_PLAIN_NAME + 1)).len(), 64);
    }

    #[test]
    fn device_name_lookalikes_stay_plain() {
        assert_eq!(file_stem_for_uid("CONSOLE"), "CONSOLE");
        assert_eq!(file_stem_for_uid("COM0"), "COM0");
        assert_eq!(file_stem_for_uid("com10"), "com10");
    }
}
