//! The status lock: one running `sync` or `watch` per pair status.
//!
//! Two processes syncing the same pair at once would both plan from the same status and
//! write the same items twice (a `watch` left running and a `sync` timer, say). Each pair's
//! status therefore has a lock file next to it, `<status_path>/<pair>.lock`, held with an
//! advisory `flock(2)` for as long as the process works on that pair. The kernel releases it
//! when the process ends, however it ends (`kill -9` included), so a stale lock cannot keep
//! davsync from running: the file itself stays and means nothing on its own.
//!
//! Commands that only read the status (`status`, `sync --dry-run`) take no lock.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

fn make_private(file: &File) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if file.metadata()?.permissions().mode() & 0o777 != 0o600 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// A held lock; dropping it releases it.
#[derive(Debug)]
pub struct StatusLock {
    _file: File,
    path: PathBuf,
}

impl StatusLock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Why a pair's status could not be locked.
#[derive(Debug)]
pub enum LockError {
    /// Another process holds the lock.
    Held { pair: String, path: PathBuf },
    /// The lock file could not be created or locked.
    Io {
        pair: String,
        path: PathBuf,
        err: io::Error,
    },
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::Held { pair, path } => write!(
                f,
                "pair {pair}: another davsync (sync or watch) is working on its status; \
                 refusing to run at the same time (lock held on {})",
                path.display()
            ),
            LockError::Io { pair, path, err } => write!(
                f,
                "pair {pair}: cannot lock the status with {}: {err}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for LockError {}

/// The lock file of a pair: the status database's name with `.lock` for `.sqlite`.
pub fn lock_path(status_dir: &Path, pair: &str) -> PathBuf {
    crate::status::path_for(status_dir, pair).with_extension("lock")
}

/// Takes the lock of `pair`'s status without waiting, creating the status folder (0700) and
/// the lock file (0600) when missing.
pub fn acquire(status_dir: &Path, pair: &str) -> Result<StatusLock, LockError> {
    let path = lock_path(status_dir, pair);
    let io_err = |err| LockError::Io {
        pair: pair.to_owned(),
        path: path.clone(),
        err,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(status_dir)
        .map_err(io_err)?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(io_err)?;
    // A lock file made looser by hand (or by an older umask) is private again, like the
    // status beside it.
    make_private(&file).map_err(io_err)?;
    // fs4's rather than std's `File::try_lock`, which needs Rust 1.89.
    match fs4::FileExt::try_lock(&file) {
        Ok(()) => Ok(StatusLock { _file: file, path }),
        Err(fs4::TryLockError::WouldBlock) => Err(LockError::Held {
            pair: pair.to_owned(),
            path,
        }),
        Err(fs4::TryLockError::Error(err)) => Err(io_err(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_pair_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let held = acquire(dir.path(), "cal").unwrap();
        let err = acquire(dir.path(), "cal").unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, LockError::Held { .. }), "{text}");
        assert!(
            text.contains(&dir.path().join("cal.lock").display().to_string()),
            "{text}"
        );
        // Other pairs are independent.
        let _other = acquire(dir.path(), "contacts").unwrap();
        drop(held);
        acquire(dir.path(), "cal").expect("released on drop");
    }

    #[test]
    fn lock_file_is_private_and_sits_next_to_the_status() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let status = dir.path().join("status");
        let lock = acquire(&status, "my pair").unwrap();
        assert_eq!(lock.path(), status.join("my%20pair.lock"));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(lock.path()), 0o600);
        assert_eq!(mode(&status), 0o700);
    }
}
