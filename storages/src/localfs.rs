//! Atomic file writes for the local backends (vdir, singlefile), and the clean-up of what a
//! killed write leaves behind.
//!
//! # Temporary files
//!
//! A write first fills a temporary file in the target's folder and then makes it visible under
//! its final name in one step. On Linux the temporary file is anonymous (`O_TMPFILE`): it has
//! no name while it is written and synced, so a process killed meanwhile leaves nothing behind
//! (the kernel frees the inode). It gets its name with `linkat`: directly the final one for a
//! new file (which, like `RENAME_NOREPLACE`, fails when the name is taken), or, to replace a
//! file, a `.davsync-*.tmp` name renamed over the target right away — a window of two system
//! calls. Where `O_TMPFILE` is refused (some file systems, other platforms, no `/proc`), the
//! temporary file is a named `.davsync-*.tmp` from the start.
//!
//! # Clean-up
//!
//! A `.davsync-*.tmp` left by a killed process is removed the first time a storage touches
//! that folder again (its listing or first write), provided no other davsync process is using
//! the folder: every process holds a shared `flock` on each folder it writes to or lists, for
//! as long as its storage lives, and the clean-up needs the exclusive lock. The kernel drops
//! the lock of a killed process, so a crash never keeps the folder locked. Without `flock`
//! (not Linux), only temporary files older than `STALE_AFTER` are removed.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::storage::Etag;
use crate::vdir::etag_of;

/// Prefix and suffix of davsync's named temporary files (hidden, so never listed as items).
pub(crate) const TEMP_PREFIX: &str = ".davsync-";
pub(crate) const TEMP_SUFFIX: &str = ".tmp";

/// Where folders cannot be locked, a temporary file this old belongs to no running write.
#[cfg_attr(target_os = "linux", allow(dead_code))]
pub(crate) const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// True for a file name of davsync's temporary files.
pub fn is_temp_name(name: &str) -> bool {
    name.len() > TEMP_PREFIX.len() + TEMP_SUFFIX.len()
        && name.starts_with(TEMP_PREFIX)
        && name.ends_with(TEMP_SUFFIX)
}

/// A written temporary file, not yet visible under its final name.
pub(crate) struct TempFile {
    file: fs::File,
    dir: PathBuf,
    /// `None` for an anonymous (`O_TMPFILE`) file.
    named: Option<tempfile::TempPath>,
}

/// A failed [`TempFile::persist_noclobber`]: the error and the file back, for another try.
pub(crate) struct PersistError {
    pub error: io::Error,
    pub file: TempFile,
}

impl TempFile {
    pub fn as_file(&self) -> &fs::File {
        &self.file
    }

    /// Makes the file visible as `target`, replacing what is there.
    pub fn persist(self, target: &Path) -> io::Result<()> {
        let TempFile { file, dir, named } = self;
        match named {
            Some(path) => path.persist(target).map_err(|e| e.error),
            None => {
                let name = dir.join(random_temp_name());
                link_anonymous(&file, &name)?;
                fs::rename(&name, target).inspect_err(|_| {
                    let _ = fs::remove_file(&name);
                })
            }
        }
    }

    /// Makes the file visible as `target` unless that name exists (`AlreadyExists`).
    pub fn persist_noclobber(self, target: &Path) -> std::result::Result<(), PersistError> {
        let TempFile { file, dir, named } = self;
        match named {
            Some(path) => path.persist_noclobber(target).map_err(|e| PersistError {
                error: e.error,
                file: TempFile {
                    file,
                    dir,
                    named: Some(e.path),
                },
            }),
            None => link_anonymous(&file, target).map_err(|error| PersistError {
                error,
                file: TempFile {
                    file,
                    dir,
                    named: None,
                },
            }),
        }
    }
}

fn random_temp_name() -> String {
    format!(
        "{TEMP_PREFIX}{}{TEMP_SUFFIX}",
        uuid::Uuid::new_v4().simple()
    )
}

/// Writes `data` to a fresh temporary file in `dir` (created if missing), fsynced unless
/// `fsync` is false (the caller makes it durable later). Returns the temporary file and the
/// etag the data will have once it is visible: linking and renaming keep inode, size and
/// mtime, and stat-ing the final path afterwards could pick up someone else's write.
pub(crate) fn write_temp(dir: &Path, data: &[u8], fsync: bool) -> Result<(TempFile, Etag)> {
    let mut tmp = match new_temp(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(|e| Error::io(dir.display(), e))?;
            new_temp(dir)
        }
        r => r,
    }
    .map_err(|e| Error::io(dir.display(), e))?;
    let shown = || match &tmp.named {
        Some(p) => p.display().to_string(),
        None => format!("a temporary file in {}", dir.display()),
    };
    let written =
        tmp.file
            .write_all(data)
            .and_then(|_| if fsync { tmp.file.sync_all() } else { Ok(()) });
    if let Err(e) = written {
        return Err(Error::io(shown(), e));
    }
    let meta = tmp.file.metadata().map_err(|e| Error::io(shown(), e))?;
    Ok((tmp, etag_of(&meta)))
}

fn new_temp(dir: &Path) -> io::Result<TempFile> {
    #[cfg(target_os = "linux")]
    if let Some(file) = anonymous_in(dir)? {
        return Ok(TempFile {
            file,
            dir: dir.to_owned(),
            named: None,
        });
    }
    let (file, path) = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .suffix(TEMP_SUFFIX)
        .tempfile_in(dir)?
        .into_parts();
    Ok(TempFile {
        file,
        dir: dir.to_owned(),
        named: Some(path),
    })
}

/// An `O_TMPFILE` file in `dir`, or `None` where that cannot be used (then a named temporary
/// file is). `NotFound` is passed on so that the caller can create the folder.
#[cfg(target_os = "linux")]
fn anonymous_in(dir: &Path) -> io::Result<Option<fs::File>> {
    use rustix::fs::{Mode, OFlags};
    // Linking an anonymous file to a name goes through /proc (linkat with AT_EMPTY_PATH
    // needs a capability).
    if !Path::new("/proc/self/fd").is_dir() {
        return Ok(None);
    }
    let flags = OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC;
    match rustix::fs::openat(rustix::fs::CWD, dir, flags, Mode::from_raw_mode(0o600)) {
        Ok(fd) => Ok(Some(fs::File::from(fd))),
        Err(rustix::io::Errno::NOENT) => Err(io::ErrorKind::NotFound.into()),
        // Not supported by the kernel or this file system (EISDIR on old kernels), or
        // whatever else: the named fallback reports real problems itself.
        Err(_) => Ok(None),
    }
}

#[cfg(target_os = "linux")]
fn link_anonymous(file: &fs::File, target: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let proc_path = format!("/proc/self/fd/{}", file.as_raw_fd());
    rustix::fs::linkat(
        rustix::fs::CWD,
        proc_path.as_str(),
        rustix::fs::CWD,
        target,
        rustix::fs::AtFlags::SYMLINK_FOLLOW,
    )
    .map_err(io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn link_anonymous(_file: &fs::File, _target: &Path) -> io::Result<()> {
    unreachable!("anonymous temporary files are made on Linux only")
}

/// The folders a storage uses, each held with a shared lock (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct FolderGuards {
    held: Mutex<HashMap<PathBuf, Option<fs::File>>>,
}

impl FolderGuards {
    /// Called before a storage lists or writes into `dir`: on the first call for `dir`,
    /// removes davsync's temporary files there unless another process holds the folder, then
    /// holds it. A folder that does not exist is left alone (and tried again next time).
    pub fn enter(&self, dir: &Path) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if held.contains_key(dir) {
            return;
        }
        match fs::File::open(dir) {
            Ok(f) => {
                let lock = tidy_and_hold(dir, f);
                held.insert(dir.to_owned(), lock);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                // Listing or writing will report the real problem.
                tracing::debug!("{}: not tidied: {e}", dir.display());
                held.insert(dir.to_owned(), None);
            }
        }
    }
}

#[cfg(target_os = "linux")]
fn tidy_and_hold(dir: &Path, f: fs::File) -> Option<fs::File> {
    use rustix::fs::{flock, FlockOperation};
    if flock(&f, FlockOperation::NonBlockingLockExclusive).is_ok() {
        remove_temps(dir, |_| true);
    } else {
        tracing::debug!(
            "{}: in use by another davsync, temporary files left alone",
            dir.display()
        );
    }
    // Downgrades our exclusive lock, or waits for another process's clean-up to end.
    match flock(&f, FlockOperation::LockShared) {
        Ok(()) => Some(f),
        Err(e) => {
            tracing::debug!("{}: not locked: {e}", dir.display());
            None
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn tidy_and_hold(dir: &Path, _f: fs::File) -> Option<fs::File> {
    remove_temps(dir, |meta| {
        meta.modified()
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_AFTER)
    });
    None
}

/// Removes the temporary files of `dir` (not following links) for which `stale` holds.
fn remove_temps(dir: &Path, stale: impl Fn(&fs::Metadata) -> bool) {
    let Ok(rd) = fs::read_dir(dir) else {
        return;
    };
    for entry in rd.flatten() {
        let name = entry.file_name();
        if !name.to_str().is_some_and(is_temp_name) {
            continue;
        }
        match entry.metadata() {
            Ok(m) if m.is_file() && stale(&m) => {}
            _ => continue,
        }
        match fs::remove_file(entry.path()) {
            Ok(()) => tracing::info!(
                "removed {}, left by an interrupted write",
                entry.path().display()
            ),
            Err(e) => tracing::warn!("could not remove {}: {e}", entry.path().display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_written_temp_file_has_no_name_until_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let (tmp, _) = write_temp(dir.path(), b"x", false).unwrap();
        if cfg!(target_os = "linux") {
            assert!(
                tmp.named.is_none(),
                "O_TMPFILE is expected on Linux tmp dirs"
            );
            assert_eq!(names(dir.path()), Vec::<String>::new());
        }
        tmp.persist(&dir.path().join("a.ics")).unwrap();
        assert_eq!(names(dir.path()), ["a.ics"]);
        assert_eq!(fs::read(dir.path().join("a.ics")).unwrap(), b"x");
    }

    #[test]
    fn the_etag_of_a_temp_file_is_the_persisted_files() {
        let dir = tempfile::tempdir().unwrap();
        let (tmp, etag) = write_temp(dir.path(), b"abc", false).unwrap();
        tmp.persist(&dir.path().join("a.ics")).unwrap();
        let meta = fs::metadata(dir.path().join("a.ics")).unwrap();
        assert_eq!(etag_of(&meta), etag);
        let (tmp, etag) = write_temp(dir.path(), b"abcd", false).unwrap();
        tmp.persist_noclobber(&dir.path().join("b.ics"))
            .map_err(|e| e.error)
            .unwrap();
        let meta = fs::metadata(dir.path().join("b.ics")).unwrap();
        assert_eq!(etag_of(&meta), etag);
    }

    #[test]
    fn persist_noclobber_refuses_a_taken_name_and_gives_the_file_back() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.ics"), b"old").unwrap();
        let (tmp, _) = write_temp(dir.path(), b"new", false).unwrap();
        let Err(err) = tmp.persist_noclobber(&dir.path().join("a.ics")) else {
            panic!("the name is taken")
        };
        assert_eq!(err.error.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(dir.path().join("a.ics")).unwrap(), b"old");
        err.file
            .persist_noclobber(&dir.path().join("b.ics"))
            .map_err(|e| e.error)
            .unwrap();
        assert_eq!(names(dir.path()), ["a.ics", "b.ics"]);
    }

    #[test]
    fn entering_a_folder_removes_leftover_temp_files_only() {
        let dir = tempfile::tempdir().unwrap();
        for n in [".davsync-abc.tmp", ".davsync-x.ics", "a.ics", ".other.tmp"] {
            fs::write(dir.path().join(n), b"").unwrap();
        }
        fs::create_dir(dir.path().join(".davsync-dir.tmp")).unwrap();
        let guards = FolderGuards::default();
        guards.enter(dir.path());
        let mut want = vec![".davsync-dir.tmp", ".davsync-x.ics", ".other.tmp", "a.ics"];
        if !cfg!(target_os = "linux") {
            // Fresh files are kept where folders cannot be locked.
            want.push(".davsync-abc.tmp");
            want.sort();
        }
        assert_eq!(names(dir.path()), want);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_folder_held_by_another_storage_is_not_tidied() {
        let dir = tempfile::tempdir().unwrap();
        let first = FolderGuards::default();
        first.enter(dir.path());
        fs::write(dir.path().join(".davsync-live.tmp"), b"").unwrap();
        // Another holder (here another storage; the same holds for another process, since
        // flock locks belong to the open file).
        let second = FolderGuards::default();
        second.enter(dir.path());
        assert_eq!(names(dir.path()), [".davsync-live.tmp"]);
        drop(first);
        drop(second);
        FolderGuards::default().enter(dir.path());
        assert_eq!(names(dir.path()), Vec::<String>::new());
    }

    #[test]
    fn only_davsync_temp_names_count() {
        assert!(is_temp_name(".davsync-a1b2.tmp"));
        assert!(!is_temp_name(".davsync-.tmp"));
        assert!(!is_temp_name("davsync-a.tmp"));
        assert!(!is_temp_name(".davsync-a.ics"));
    }
}
