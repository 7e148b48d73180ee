//! Why a response body could not be understood.

/// A response body that is not what the protocol promised. The network layer maps every
/// variant to `ErrorKind::InvalidData` and adds the URL and HTTP status as context.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// An HTML page (a login form, a proxy's error page) where XML was expected.
    #[error("expected a WebDAV XML response, got an HTML page")]
    Html,
    /// The body is empty or does not start like XML; `start` holds its first characters.
    #[error("expected a WebDAV XML response, got {start:?}")]
    NotXml { start: String },
    /// Well-formed XML, but its root is not the expected element (e.g. `DAV:error`).
    #[error("expected <{expected}>, got <{found}>")]
    WrongRoot {
        expected: &'static str,
        found: String,
    },
    /// The body ends before its elements are closed: a cut connection or a server crash.
    #[error("XML response is truncated (ends inside <{inside}>)")]
    Truncated { inside: String },
    /// Not well-formed XML.
    #[error("malformed XML at byte {position}: {message}")]
    Malformed { position: u64, message: String },
    /// A `<status>` that is not an HTTP status line.
    #[error("invalid status line {line:?}")]
    InvalidStatus { line: String },
    /// A required element is absent, e.g. a `<response>` without `<href>`.
    #[error("<{element}> missing in <{parent}>")]
    Missing {
        element: &'static str,
        parent: &'static str,
    },
    /// The server cut a listing short (status 507 for the request URI) where davsync needs
    /// all of it.
    #[error("the server truncated the listing (507 Insufficient Storage)")]
    IncompleteListing,
    /// An href that cannot be resolved against the request URL.
    #[error("invalid href {href:?}")]
    InvalidHref { href: String },
}
