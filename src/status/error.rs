//! The status's own error: what failed (a file operation on a named path, or the database),
//! with the cause as its source, so the one renderer ([`crate::errors::render`]) prints
//! `what path: why` without the status faking SQLite error codes for file errors.

use std::path::PathBuf;

/// Why the status could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// A file or folder operation around the database (creating the status folder, copying
    /// a status for a dry run).
    #[error("{what} {}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The database itself.
    #[error(transparent)]
    Db(#[from] rusqlite::Error),
}

pub type Result<T, E = StatusError> = std::result::Result<T, E>;

impl StatusError {
    pub(super) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StatusError::Io {
            what,
            path: path.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Status;

    #[test]
    fn a_status_folder_that_cannot_be_made_names_the_folder_and_why() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("status");
        std::fs::write(&blocker, "a file where the folder should be").unwrap();
        let err = Status::open(&blocker.join("inner"), "p").unwrap_err();
        let text = crate::errors::render(&err);
        assert!(
            text.starts_with(&format!("creating {}: ", blocker.join("inner").display())),
            "{text}"
        );
        assert!(matches!(err, super::StatusError::Io { .. }), "{err:?}");
    }
}
