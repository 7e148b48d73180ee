//! The `singlefile` backend: every item of a collection in one `.ics` or `.vcf` file.
//!
//! # Collections
//!
//! Without `%s` in `path`, the file is the one (root) collection. With `%s` — allowed in the
//! file name only, not in the folders above it — every file of that folder matching the
//! pattern is a collection named by what `%s` matched (never empty, never hidden), and
//! creating a collection creates the (empty) file.
//!
//! # Items, hrefs, etags
//!
//! The file is cut into items with [`item::split`]. An item's href is its identity (the UID,
//! or the content hash of an item without one); should a file hold the same identity twice,
//! the later copies get `#2`, `#3`, ... appended so that none is lost on a rewrite. An item's
//! etag is the SHA-256 of its bytes as split from the file, so it changes exactly when that
//! item's text does, whatever happens to its neighbours.
//!
//! The parsed file is cached, keyed by the file's mtime, inode and size: a sync that finds
//! the file unchanged does not parse it again.
//!
//! # Writes
//!
//! A write reads the current file, checks the item's etag, changes the list of items and
//! writes the whole file anew with [`item::join`] through a temporary file that replaces the
//! old one in one step (see [`crate::localfs`] for how a killed write leaves nothing behind). The file's stamp is checked again right before the rename, so a concurrent
//! edit by another program fails the write with `PreconditionFailed` instead of being
//! overwritten. A file that does not parse is never rewritten. A path that does not exist yet
//! lists as empty and is created, with its parent folders, on the first write. Deleting the
//! last item leaves an empty file.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind, Result};
use crate::item::{self, Item, ItemKind};
use crate::localfs::{write_temp, FolderGuards};
use crate::storage::{Collection, Etag, Fetched, Href, ItemRef, Storage};
use crate::vdir::{enter_for_writing, etag_of, replace_with};

/// How a singlefile storage is configured.
#[derive(Debug, Clone)]
pub struct SingleFileOptions {
    /// The file, or with `%s` in its file name, the pattern of the collection files.
    pub path: String,
    pub kind: ItemKind,
}

/// One item of the file as last read.
#[derive(Debug, Clone)]
struct Entry {
    href: Href,
    etag: Etag,
    item: Item,
}

/// A file as last read: its stamp (mtime, inode, size; `None` when it does not exist) and
/// its items in file order.
#[derive(Debug)]
struct Parsed {
    stamp: Option<Etag>,
    entries: Vec<Entry>,
}

/// All items of a collection in one file.
#[derive(Debug)]
pub struct SingleFile {
    path: String,
    /// `(folder, file-name prefix, file-name suffix)` when `path` holds `%s`.
    pattern: Option<(PathBuf, String, String)>,
    kind: ItemKind,
    /// Parsed files by path. The lock also serializes this process's writes to a file, so
    /// two collection syncs never interleave their read-modify-write cycles.
    cache: tokio::sync::Mutex<HashMap<PathBuf, Arc<Parsed>>>,
    /// The folders of the files touched, held against other processes' clean-up of
    /// temporary files (see [`crate::localfs`]).
    folders: Arc<FolderGuards>,
}

/// The folder of a collection file, where its temporary files go.
fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// The etag of an item as split from the file. Public so that a status imported from another
/// tool can be given the etags this storage will list.
pub fn item_etag(item: &Item) -> Etag {
    Etag(hex::encode(&Sha256::digest(item.raw())[..16]))
}

/// Items with hrefs and etags, in file order.
fn entries_of(items: Vec<Item>) -> Vec<Entry> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    items
        .into_iter()
        .map(|item| {
            let n = seen.entry(item.ident().to_owned()).or_insert(0);
            *n += 1;
            let href = if *n == 1 {
                item.ident().to_owned()
            } else {
                format!("{}#{}", item.ident(), n)
            };
            Entry {
                href: Href(href),
                etag: item_etag(&item),
                item,
            }
        })
        .collect()
}

fn stamp_of(path: &Path) -> Result<Option<Etag>> {
    match fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(Some(etag_of(&m))),
        Ok(_) => Err(Error::new(
            ErrorKind::InvalidData,
            format!("{}: not a regular file", path.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path.display(), e)),
    }
}

fn split_file(kind: ItemKind, path: &Path, bytes: &[u8]) -> Result<Vec<Item>> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(Vec::new());
    }
    item::split(kind, bytes).map_err(|pe| {
        Error::new(
            ErrorKind::InvalidData,
            format!("{}: {}", path.display(), pe),
        )
    })
}

/// Reads and splits `path` unless `cached` is still current.
fn load_blocking(kind: ItemKind, path: &Path, cached: Option<Arc<Parsed>>) -> Result<Arc<Parsed>> {
    let stamp = stamp_of(path)?;
    if let Some(c) = cached {
        if c.stamp == stamp {
            return Ok(c);
        }
    }
    let Some(_) = stamp else {
        return Ok(Arc::new(Parsed {
            stamp: None,
            entries: Vec::new(),
        }));
    };
    let file = fs::File::open(path).map_err(|e| Error::io(path.display(), e))?;
    // The stamp of what is actually read, in case the file was replaced since the stat.
    let meta = file.metadata().map_err(|e| Error::io(path.display(), e))?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    io::Read::read_to_end(&mut &file, &mut bytes).map_err(|e| Error::io(path.display(), e))?;
    let items = split_file(kind, path, &bytes)?;
    Ok(Arc::new(Parsed {
        stamp: Some(etag_of(&meta)),
        entries: entries_of(items),
    }))
}

/// Writes `items` as the new content of `path`, provided the file is still at `expected`.
fn store_blocking(
    kind: ItemKind,
    path: &Path,
    expected: &Option<Etag>,
    items: &[Item],
) -> Result<Arc<Parsed>> {
    let bytes = if items.is_empty() {
        Vec::new()
    } else {
        item::join(kind, items)
    };
    let (tmp, stamp) = write_temp(&folder_of(path), &bytes, true)?;
    if let Ok(m) = fs::metadata(path) {
        let _ = tmp.as_file().set_permissions(m.permissions());
    }
    if stamp_of(path)? != *expected {
        return Err(Error::new(
            ErrorKind::PreconditionFailed,
            format!("{} (changed by another program)", path.display()),
        ));
    }
    replace_with(tmp, path)?;
    // Items as they will be read back from the file, so the etags returned now are the ones
    // the next listing shows.
    let items = split_file(kind, path, &bytes)?;
    Ok(Arc::new(Parsed {
        stamp: Some(stamp),
        entries: entries_of(items),
    }))
}

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

/// What a write does to the list of items.
enum Change<'a> {
    Add(&'a Item),
    Replace(&'a Href, &'a Item, &'a Etag),
    Remove(&'a Href, &'a Etag),
}

impl SingleFile {
    pub fn new(opts: SingleFileOptions) -> Result<SingleFile> {
        let SingleFileOptions { path, kind } = opts;
        if path.is_empty() {
            return Err(Error::new(ErrorKind::Config, "path: must not be empty"));
        }
        let pattern = match path.matches("%s").count() {
            0 => None,
            1 => {
                let p = Path::new(&path);
                let file_name = p.file_name().and_then(|f| f.to_str()).unwrap_or("");
                let Some((prefix, suffix)) = file_name.split_once("%s") else {
                    return Err(Error::new(
                        ErrorKind::Config,
                        format!("path {path:?}: %s may appear only in the file name"),
                    ));
                };
                let dir = match p.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
                    _ => PathBuf::from("."),
                };
                Some((dir, prefix.to_owned(), suffix.to_owned()))
            }
            _ => {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!("path {path:?}: %s may appear only once"),
                ))
            }
        };
        Ok(SingleFile {
            path,
            pattern,
            kind,
            cache: tokio::sync::Mutex::new(HashMap::new()),
            folders: Arc::default(),
        })
    }

    async fn load(&self, collection: &Collection) -> Result<Arc<Parsed>> {
        let path = PathBuf::from(&collection.href);
        let mut cache = self.cache.lock().await;
        let cached = cache.get(&path).cloned();
        let kind = self.kind;
        let p = path.clone();
        let folders = self.folders.clone();
        let parsed = blocking(move || {
            folders.enter(&folder_of(&p));
            load_blocking(kind, &p, cached)
        })
        .await?;
        cache.insert(path, parsed.clone());
        Ok(parsed)
    }

    /// One read-modify-write cycle; returns the entry written (for `Add`/`Replace`).
    async fn modify(&self, collection: &Collection, change: Change<'_>) -> Result<Option<Entry>> {
        let path = PathBuf::from(&collection.href);
        let mut cache = self.cache.lock().await;
        let kind = self.kind;
        let cached = cache.get(&path).cloned();
        let p = path.clone();
        let current = blocking(move || load_blocking(kind, &p, cached)).await?;
        cache.insert(path.clone(), current.clone());

        let mut items: Vec<Item> = current.entries.iter().map(|e| e.item.clone()).collect();
        let find = |href: &Href, etag: &Etag| -> Result<usize> {
            match current.entries.iter().position(|e| &e.href == href) {
                Some(i) if &current.entries[i].etag == etag => Ok(i),
                Some(_) => Err(Error::new(
                    ErrorKind::PreconditionFailed,
                    format!("{href} in {}", path.display()),
                )),
                None => Err(Error::new(
                    ErrorKind::PreconditionFailed,
                    format!("{href} in {} (no longer exists)", path.display()),
                )),
            }
        };
        let written_ident = match change {
            Change::Add(item) => {
                if current
                    .entries
                    .iter()
                    .any(|e| e.item.ident() == item.ident())
                {
                    return Err(Error::new(
                        ErrorKind::AlreadyExists,
                        format!("{} in {}", item.ident(), path.display()),
                    ));
                }
                items.push(item.clone());
                Some(item.ident().to_owned())
            }
            Change::Replace(href, item, etag) => {
                let i = find(href, etag)?;
                items[i] = item.clone();
                Some(item.ident().to_owned())
            }
            Change::Remove(href, etag) => {
                let i = find(href, etag)?;
                items.remove(i);
                None
            }
        };
        let expected = current.stamp.clone();
        let p = path.clone();
        let folders = self.folders.clone();
        let written = blocking(move || {
            enter_for_writing(&folders, &folder_of(&p))?;
            store_blocking(kind, &p, &expected, &items)
        })
        .await;
        let written = match written {
            Ok(w) => w,
            Err(e) => {
                cache.remove(&path);
                return Err(e);
            }
        };
        cache.insert(path.clone(), written.clone());
        let Some(ident) = written_ident else {
            return Ok(None);
        };
        match written.entries.iter().find(|e| e.item.ident() == ident) {
            Some(e) => Ok(Some(e.clone())),
            None => Err(Error::new(
                ErrorKind::InvalidData,
                format!("{ident}: not found in {} after writing it", path.display()),
            )),
        }
    }
}

#[async_trait]
impl Storage for SingleFile {
    fn item_kind(&self) -> ItemKind {
        self.kind
    }

    async fn root_collection(&self) -> Result<Collection> {
        if self.pattern.is_some() {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "path {:?} contains %s: it names collections, so the pair needs `collections`",
                    self.path
                ),
            ));
        }
        Ok(Collection {
            href: self.path.clone(),
            name: String::new(),
        })
    }

    async fn discover(&self) -> Result<Vec<Collection>> {
        let Some((dir, prefix, suffix)) = self.pattern.clone() else {
            // A plain path is one collection; it is discovered as soon as it exists.
            let path = PathBuf::from(&self.path);
            let exists = blocking(move || stamp_of(&path)).await?.is_some();
            return Ok(if exists {
                vec![self.root_collection().await?]
            } else {
                Vec::new()
            });
        };
        blocking(move || {
            let mut out = Vec::new();
            for entry in crate::vdir::visible_entries(&dir)? {
                let fname = entry.file_name();
                let Some(fname) = fname.to_str() else {
                    continue;
                };
                if fname.len() < prefix.len() + suffix.len() + 1 {
                    continue;
                }
                let Some(name) = fname
                    .strip_prefix(prefix.as_str())
                    .and_then(|r| r.strip_suffix(suffix.as_str()))
                else {
                    continue;
                };
                if name.is_empty() || name.starts_with('.') {
                    continue;
                }
                if !fs::metadata(entry.path()).is_ok_and(|m| m.is_file()) {
                    continue;
                }
                out.push(Collection {
                    href: entry.path().to_string_lossy().into_owned(),
                    name: name.to_owned(),
                });
            }
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        })
        .await
    }

    async fn create_collection(&self, name: &str) -> Result<Collection> {
        if self.pattern.is_none() {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "creating collection {name}: path {:?} has no %s for the name",
                    self.path
                ),
            ));
        }
        if name.is_empty()
            || name.starts_with('.')
            || name.contains(['/', '\\', '\0'])
            || name.chars().any(char::is_control)
        {
            return Err(Error::new(
                ErrorKind::Config,
                format!("{name:?}: not usable as a collection file name"),
            ));
        }
        let path = PathBuf::from(self.path.replacen("%s", name, 1));
        let coll = Collection {
            href: path.to_string_lossy().into_owned(),
            name: name.to_owned(),
        };
        blocking(move || {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                fs::create_dir_all(dir).map_err(|e| Error::io(dir.display(), e))?;
            }
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(Error::io(path.display(), e)),
            }
        })
        .await?;
        Ok(coll)
    }

    async fn delete_collection(&self, collection: &Collection) -> Result<()> {
        let parsed = self.load(collection).await?;
        if !parsed.entries.is_empty() {
            return Err(Error::new(
                ErrorKind::Refused,
                format!(
                    "deleting collection {}: it still holds {} items",
                    collection.href,
                    parsed.entries.len()
                ),
            ));
        }
        let path = PathBuf::from(&collection.href);
        self.cache.lock().await.remove(&path);
        blocking(move || match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(path.display(), e)),
        })
        .await
    }

    async fn list(&self, collection: &Collection) -> Result<Vec<ItemRef>> {
        let parsed = self.load(collection).await?;
        Ok(parsed
            .entries
            .iter()
            .map(|e| ItemRef {
                href: e.href.clone(),
                etag: e.etag.clone(),
            })
            .collect())
    }

    async fn get_many(&self, collection: &Collection, hrefs: &[Href]) -> Result<Vec<Fetched>> {
        let parsed = self.load(collection).await?;
        let by_href: HashMap<&Href, &Entry> = parsed.entries.iter().map(|e| (&e.href, e)).collect();
        Ok(hrefs
            .iter()
            .map(|h| {
                let res = match by_href.get(h) {
                    Some(e) => Ok((e.item.clone(), e.etag.clone())),
                    None => Err(Error::new(
                        ErrorKind::NotFound,
                        format!("{h} in {}", collection.href),
                    )),
                };
                (h.clone(), res)
            })
            .collect())
    }

    async fn get_all(&self, collection: &Collection) -> Result<Option<Vec<Fetched>>> {
        let parsed = self.load(collection).await?;
        Ok(Some(
            parsed
                .entries
                .iter()
                .map(|e| (e.href.clone(), Ok((e.item.clone(), e.etag.clone()))))
                .collect(),
        ))
    }

    async fn upload(&self, collection: &Collection, item: &Item) -> Result<(Href, Etag)> {
        let e = self
            .modify(collection, Change::Add(item))
            .await?
            .expect("an added entry");
        Ok((e.href, e.etag))
    }

    async fn update(
        &self,
        collection: &Collection,
        href: &Href,
        item: &Item,
        etag: &Etag,
    ) -> Result<Etag> {
        let e = self
            .modify(collection, Change::Replace(href, item, etag))
            .await?
            .expect("a replaced entry");
        Ok(e.etag)
    }

    async fn delete(&self, collection: &Collection, href: &Href, etag: &Etag) -> Result<()> {
        self.modify(collection, Change::Remove(href, etag)).await?;
        Ok(())
    }

    fn preferred_href(&self, uid: &str) -> Option<Href> {
        Some(Href(uid.to_owned()))
    }
}
