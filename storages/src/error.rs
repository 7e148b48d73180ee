//! The closed set of failure kinds the engine branches on.
//!
//! An [`Error`] is a [`ErrorKind`] (what the engine needs to decide), a context naming the
//! thing that failed (href, file, URL, collection) and an optional source. `Display` prints
//! the kind's sentence and the context; the source is reachable through
//! [`std::error::Error::source`] and is printed once by whoever renders the chain, never
//! folded into this error's own text.

use std::fmt;

/// What went wrong, as far as the sync engine cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The href, collection or file does not exist.
    NotFound,
    /// An upload found the item already there (`If-None-Match: *` failed, file exists).
    AlreadyExists,
    /// The etag given to an update or delete is stale: someone else changed the item.
    PreconditionFailed,
    /// The storage (or a wrapper) refuses writes.
    ReadOnly,
    /// The data could not be parsed or is not what the protocol promised (malformed item,
    /// HTML instead of a multistatus, truncated body).
    InvalidData,
    /// The server refused the item or the request (403, 415, a CalDAV precondition), for
    /// this item alone.
    Refused,
    /// Authentication failed (401/403 on the collection, no usable password).
    Auth,
    /// Network, TLS, timeout or a 5xx that outlived the retries.
    Transport,
    /// Local I/O failed (disk full, permissions).
    Io,
    /// The backend cannot do this (e.g. create a collection on an http feed).
    Unsupported,
    /// A configuration value the backend cannot use.
    Config,
}

impl ErrorKind {
    fn sentence(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::AlreadyExists => "already exists",
            ErrorKind::PreconditionFailed => "changed concurrently (etag mismatch)",
            ErrorKind::ReadOnly => "storage is read-only",
            ErrorKind::InvalidData => "invalid data",
            ErrorKind::Refused => "refused by the server",
            ErrorKind::Auth => "authentication failed",
            ErrorKind::Transport => "network error",
            ErrorKind::Io => "I/O error",
            ErrorKind::Unsupported => "not supported",
            ErrorKind::Config => "invalid configuration",
        }
    }
}

/// A storage failure: a kind, what it concerns, and where it came from.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    /// Replaces the kind's sentence where it would mislead: a 500 is a transport failure
    /// for the engine (retried, then the collection fails) but not a "network error".
    label: Option<&'static str>,
    context: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// `context` names the thing concerned, e.g. `"/cal/work/abc.ics"` or
    /// `"PUT https://dav.example.com/cal/abc.ics: 403 Forbidden"`.
    pub fn new(kind: ErrorKind, context: impl Into<String>) -> Self {
        Error {
            kind,
            label: None,
            context: context.into(),
            source: None,
        }
    }

    pub fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Says `label` instead of the kind's sentence (see the field).
    pub fn labelled(mut self, label: &'static str) -> Self {
        self.label = Some(label);
        self
    }

    /// The label set by [`labelled`](Self::labelled), if any.
    pub fn label(&self) -> Option<&'static str> {
        self.label
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn context(&self) -> &str {
        &self.context
    }

    /// Shorthand for an [`std::io::Error`] on a path; maps `NotFound`/`AlreadyExists`.
    pub fn io(path: impl fmt::Display, err: std::io::Error) -> Self {
        let kind = match err.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            std::io::ErrorKind::AlreadyExists => ErrorKind::AlreadyExists,
            _ => ErrorKind::Io,
        };
        Error::new(kind, path.to_string()).with_source(err)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sentence = self.label.unwrap_or_else(|| self.kind.sentence());
        if self.context.is_empty() {
            f.write_str(sentence)
        } else {
            write!(f, "{}: {}", self.context, sentence)
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
