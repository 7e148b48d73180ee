//! The database file: where it lives, its private modes, and opening it read-only without a
//! trace.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

/// The database file of a pair.
pub fn path_for(status_dir: &Path, pair: &str) -> PathBuf {
    let mut name = String::new();
    for b in pair.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && !name.is_empty()) {
            name.push(b as char);
        } else {
            name.push_str(&format!("%{b:02X}"));
        }
    }
    status_dir.join(format!("{name}.sqlite"))
}

/// Creates the status folder (mode 0700) and the database file (0600) when missing, and
/// restores those modes when they are looser: the status tells which items exist and where
/// they live, so it is private to the user (interface.md). SQLite gives its `-wal` and `-shm`
/// files the database file's mode, which is why the file is made here and not by SQLite.
pub(super) fn make_private(status_dir: &Path, db: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
        let private = |p: &Path, mode: u32| -> std::io::Result<()> {
            let m = std::fs::metadata(p)?;
            if m.permissions().mode() & 0o777 != mode {
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))?;
            }
            Ok(())
        };
        if !status_dir.is_dir() {
            if let Some(parent) = status_dir.parent() {
                std::fs::create_dir_all(parent)?;
            }
            match std::fs::DirBuilder::new().mode(0o700).create(status_dir) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
                _ => {}
            }
        }
        private(status_dir, 0o700)?;
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(db)?;
        private(db, 0o600)?;
        for side in ["-wal", "-shm"] {
            let mut p = db.as_os_str().to_owned();
            p.push(side);
            match private(Path::new(&p), 0o600) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = db;
        std::fs::create_dir_all(status_dir)?;
    }
    Ok(())
}

/// Opens a status database for reading without leaving a trace: a read-only connection to a
/// WAL database would create `-wal`/`-shm` files next to it, which `status` and a dry run must
/// not. Without a `-wal` file the database file holds everything, so it is opened as
/// immutable (no locks, no side files); with one (a sync is running or was killed), the
/// ordinary read-only open is needed to see the latest commits.
pub(super) fn open_read_only(path: &Path) -> rusqlite::Result<Connection> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    if Path::new(&wal).exists() {
        return Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY);
    }
    let mut uri = String::from("file:");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    uri.push_str("?immutable=1");
    Connection::open_with_flags(
        uri,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI,
    )
}
