//! The file operations behind the [`Storage`](crate::storage::Storage) methods of
//! [`Vdir`]: listing a folder, reading and writing one item file, the etag from metadata,
//! and the post hook. They block, and run through [`blocking`] off the async threads.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::durable::{Unsynced, DEFER_SYNC};
use super::Vdir;
use crate::error::{Error, ErrorKind, Result};
use crate::item::{Item, ItemKind};
use crate::localfs::write_temp;
use crate::storage::{Etag, Href, ItemRef};

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
pub(super) async fn blocking<T, F>(f: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(Error::new(ErrorKind::Io, "file-system task").with_source(e)),
    }
}

impl Vdir {
    pub(super) fn run_post_hook(hook: &[String], path: &Path) {
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

    pub(super) fn list_blocking(dir: &Path, fileext: &str) -> Result<Vec<ItemRef>> {
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

    pub(super) fn read_blocking(kind: ItemKind, path: &Path) -> Result<(Item, Etag)> {
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
    pub(super) fn check_etag(path: &Path, etag: &Etag) -> Result<()> {
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

    pub(super) fn upload_blocking(
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
}
