//! [`Response`] and the status -> [`ErrorKind`] table of the storage contract.
//!
//! One place decides what an HTTP status means for the engine (a stale etag, a refusal, bad
//! credentials), whichever request produced it.

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use url::Url;

use crate::error::{Error, ErrorKind, Result};

/// What a request is about, which decides how a failure status maps to an [`ErrorKind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Listing, discovery, properties: 401/403 mean the credentials are wrong.
    Collection,
    /// Reading one item.
    ItemRead,
    /// Updating or deleting one item: 412 is a stale etag, 403/409/415 a refusal of the item.
    ItemWrite,
    /// Creating one item: 412 means the href is taken.
    Upload,
}

/// A complete response: the body is read (up to the size cap) before it is returned.
#[derive(Debug, Clone)]
pub struct Response {
    pub method: Method,
    /// The URL that answered, after redirects: relative hrefs resolve against it.
    pub url: Url,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn is_success(&self) -> bool {
        self.status.is_success()
    }

    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `ETag` header, if the server sent one.
    pub fn etag(&self) -> Option<&str> {
        self.header_str("etag")
            .map(str::trim)
            .filter(|e| !e.is_empty())
    }

    /// The `Location` header resolved against the request URL.
    pub fn location(&self) -> Option<Url> {
        self.url.join(self.header_str("location")?.trim()).ok()
    }

    /// `"PUT https://dav.example.com/cal/x.ics: 412 Precondition Failed"`.
    pub fn describe(&self) -> String {
        format!("{} {}: {}", self.method, self.url, self.status)
    }

    /// The error for a non-success status. See [`Target`].
    pub fn error(&self, target: Target) -> Error {
        let mut context = self.describe();
        if self.status.is_success() || self.status.is_redirection() {
            context.push_str(" (unexpected response)");
        }
        super::busy::response_error(self, target, context)
    }
}

/// The error for a status, its kind from [`status_kind`], labelled for what it is when the
/// kind's own sentence would mislead (a 500 is no "network error").
pub fn status_error(status: StatusCode, target: Target, context: String) -> Error {
    let e = Error::new(status_kind(status, target), context);
    match status.as_u16() {
        500..=599 => e.labelled("server error"),
        408 | 429 => e.labelled("server busy"),
        _ => e,
    }
}

impl Response {
    /// `Ok(self)` for a 2xx status, else [`Response::error`].
    pub fn ok(self, target: Target) -> Result<Response> {
        if self.is_success() {
            Ok(self)
        } else {
            Err(self.error(target))
        }
    }
}

/// The status -> kind table of the storage contract.
pub fn status_kind(status: StatusCode, target: Target) -> ErrorKind {
    use Target::*;
    match (status.as_u16(), target) {
        (401, _) => ErrorKind::Auth,
        (403, Collection) => ErrorKind::Auth,
        (404 | 410, _) => ErrorKind::NotFound,
        (412, Upload) => ErrorKind::AlreadyExists,
        (412, _) => ErrorKind::PreconditionFailed,
        (500..=599, _) => ErrorKind::Transport,
        (408 | 429, _) => ErrorKind::Transport,
        (400..=499, ItemRead | ItemWrite | Upload) => ErrorKind::Refused,
        (400..=499, Collection) => ErrorKind::Refused,
        _ => ErrorKind::InvalidData,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_table_follows_the_contract() {
        use Target::*;
        let k = |s: u16, t| status_kind(StatusCode::from_u16(s).unwrap(), t);
        assert_eq!(k(401, ItemWrite), ErrorKind::Auth);
        assert_eq!(k(403, Collection), ErrorKind::Auth);
        assert_eq!(k(403, ItemWrite), ErrorKind::Refused);
        assert_eq!(k(409, ItemWrite), ErrorKind::Refused);
        assert_eq!(k(415, Upload), ErrorKind::Refused);
        assert_eq!(k(404, Collection), ErrorKind::NotFound);
        assert_eq!(k(412, ItemWrite), ErrorKind::PreconditionFailed);
        assert_eq!(k(412, Upload), ErrorKind::AlreadyExists);
        assert_eq!(k(503, ItemRead), ErrorKind::Transport);
        assert_eq!(k(200, Collection), ErrorKind::InvalidData);
    }

    fn answer(status: u16) -> Response {
        Response {
            method: Method::GET,
            url: Url::parse("https://dav.test/cal/x.ics").unwrap(),
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    #[test]
    fn a_server_failure_is_not_called_a_network_error() {
        let e = answer(500).error(Target::ItemRead);
        assert_eq!(e.kind(), ErrorKind::Transport);
        assert_eq!(
            e.to_string(),
            "GET https://dav.test/cal/x.ics: 500 Internal Server Error: server error"
        );
        let e = answer(429).error(Target::Collection);
        assert_eq!(
            e.to_string(),
            "GET https://dav.test/cal/x.ics: 429 Too Many Requests: server busy"
        );
        assert!(answer(404)
            .error(Target::ItemRead)
            .to_string()
            .ends_with(": not found"));
    }
}
