//! What server storages remember between runs (the auth scheme each server asked for, where
//! discovery found the collections), kept as one small file per key in
//! `<status_path>/remembered/`.
//!
//! The folder is 0700 and each file 0600, like the rest of the status: the files name
//! servers and users, never a password (the storages put none in). A file that cannot be
//! read, does not parse, or belongs to another key (a hash collision, a file copied in by
//! hand) is ignored with a warning and replaced by the next answer from the server: all it
//! costs is the requests it would have saved.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use davsync_storages::remember::Remember;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The marker every file begins with, so a foreign JSON file is told apart.
const FORMAT: &str = "davsync-remembered-1";

#[derive(Serialize, Deserialize)]
struct Entry {
    format: String,
    key: String,
    value: String,
}

/// The file-backed [`Remember`] of one status folder.
#[derive(Debug)]
pub struct FileRemember {
    dir: PathBuf,
    /// Set by `discover`: what is remembered about collections is not used, only replaced.
    rediscover: bool,
    /// Cleared for dry runs, which change nothing anywhere: what is remembered is used, and
    /// nothing is written or removed.
    writes: bool,
}

impl FileRemember {
    pub fn new(status_dir: &Path) -> Self {
        FileRemember {
            dir: status_dir.join("remembered"),
            rediscover: false,
            writes: true,
        }
    }

    /// A store that is read but never written (dry runs).
    pub fn read_only(mut self) -> Self {
        self.writes = false;
        self
    }

    /// A store whose storages find their collections out again (and keep the new answers).
    pub fn rediscovering(mut self) -> Self {
        self.rediscover = true;
        self
    }

    /// The folder the files live in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &str) -> PathBuf {
        let hash = hex::encode(Sha256::digest(key.as_bytes()));
        self.dir.join(format!("{}.json", &hash[..32]))
    }

    fn ensure_dir(&self) -> std::io::Result<()> {
        private_dir(&self.dir)
    }

    fn write(&self, key: &str, value: &str) -> std::io::Result<()> {
        self.ensure_dir()?;
        let entry = Entry {
            format: FORMAT.to_owned(),
            key: key.to_owned(),
            value: value.to_owned(),
        };
        let text = serde_json::to_vec(&entry).map_err(std::io::Error::other)?;
        let path = self.path(key);
        // Written aside and renamed over, so a reader (another davsync, a crash) never sees
        // half a file.
        let mut tmp = tempfile::Builder::new()
            .prefix(".remembered-")
            .tempfile_in(&self.dir)?;
        set_mode(tmp.path(), 0o600)?;
        tmp.write_all(&text)?;
        tmp.persist(&path).map_err(|e| e.error)?;
        Ok(())
    }
}

impl Remember for FileRemember {
    fn recall(&self, key: &str) -> Option<String> {
        let path = self.path(key);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                warn_ignored(&path, &e.to_string());
                return None;
            }
        };
        match serde_json::from_slice::<Entry>(&bytes) {
            Ok(entry) if entry.format == FORMAT && entry.key == key => Some(entry.value),
            Ok(_) => {
                warn_ignored(&path, "it was not written for this server");
                None
            }
            Err(e) => {
                warn_ignored(&path, &format!("it does not parse ({e})"));
                None
            }
        }
    }

    fn keep(&self, key: &str, value: &str) {
        if !self.writes {
            return;
        }
        if let Err(e) = self.write(key, value) {
            tracing::warn!(
                "could not write {}: {e} (the next sync asks the server again)",
                self.path(key).display()
            );
        }
    }

    fn forget(&self, key: &str) {
        if !self.writes {
            return;
        }
        let path = self.path(key);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("could not remove {}: {e}", path.display()),
        }
    }

    fn trust_recalled(&self) -> bool {
        !self.rediscover
    }
}

fn warn_ignored(path: &Path, why: &str) {
    tracing::warn!(
        "ignoring {}: {why}; it is rebuilt from the server's answers",
        path.display()
    );
}

/// Creates `dir` (and missing parents) private to the user, and makes it 0700 if it exists.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    #[cfg(not(unix))]
    fs::create_dir_all(dir)?;
    set_mode(dir, 0o700)
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn kept_values_come_back_in_private_files() {
        let tmp = tempfile::tempdir().unwrap();
        let r = FileRemember::new(tmp.path());
        assert_eq!(r.recall("auth a"), None);
        r.keep("auth a", "{\"challenges\":[]}");
        assert_eq!(r.recall("auth a").as_deref(), Some("{\"challenges\":[]}"));
        assert_eq!(r.recall("auth b"), None);
        #[cfg(unix)]
        {
            assert_eq!(mode(r.dir()), 0o700);
            for f in fs::read_dir(r.dir()).unwrap() {
                assert_eq!(mode(&f.unwrap().path()), 0o600);
            }
        }
        r.forget("auth a");
        assert_eq!(r.recall("auth a"), None);
    }

    #[test]
    fn a_corrupt_or_foreign_file_is_ignored_and_rebuilt() {
        let tmp = tempfile::tempdir().unwrap();
        let r = FileRemember::new(tmp.path());
        r.keep("k", "v");
        let path = r.path("k");
        fs::write(&path, b"{\"format\":").unwrap();
        assert_eq!(r.recall("k"), None);
        let foreign = Entry {
            format: FORMAT.into(),
            key: "other".into(),
            value: "v".into(),
        };
        fs::write(&path, serde_json::to_vec(&foreign).unwrap()).unwrap();
        assert_eq!(r.recall("k"), None);
        r.keep("k", "w");
        assert_eq!(r.recall("k").as_deref(), Some("w"));
    }

    #[test]
    fn rediscovering_distrusts_what_was_kept() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(FileRemember::new(tmp.path()).trust_recalled());
        assert!(!FileRemember::new(tmp.path())
            .rediscovering()
            .trust_recalled());
    }
}
