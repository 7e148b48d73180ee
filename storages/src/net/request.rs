//! [`Request`]: what the client sends, and which requests may be sent again.
//!
//! Kept apart from the client so the DAV layer, which builds requests, sees the request's
//! shape without the transport machinery behind [`super::Client::send`].

use bytes::Bytes;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::Method;
use url::Url;

use crate::error::{Error, ErrorKind, Result};

/// One HTTP request. Bodies are [`Bytes`] so a retry or a challenge answer resends them
/// without copying.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Overrides the retry policy's attempts for this request (1: no retry).
    pub attempts: Option<u32>,
    /// Where the body of a 2xx answer goes as it arrives, instead of into the response.
    pub sink: Option<BodySink>,
}

/// Takes the body of a successful answer chunk by chunk, with the URL that answered (after
/// redirects), so a large multistatus is parsed as it arrives instead of held whole. The
/// channel is bounded: a reader slower than the network slows the transfer down instead of
/// piling chunks up. Closing the receiver stops the transfer; the request then fails with
/// [`ErrorKind::InvalidData`] and the receiver's owner knows why. A request with a sink is
/// never retried (its body cannot be taken back).
pub type BodySink = tokio::sync::mpsc::Sender<(Url, Bytes)>;

impl Request {
    pub fn new(method: Method, url: Url) -> Request {
        Request {
            method,
            url,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            attempts: None,
            sink: None,
        }
    }

    /// Streams the body of a successful answer into `sink` (see [`BodySink`]).
    pub fn sink(mut self, sink: BodySink) -> Request {
        self.sink = Some(sink);
        self.attempts = Some(1);
        self
    }

    /// Sends this request at most `n` times: a caller that has a better answer to a failure
    /// than resending the same thing (a multiget batch is split instead) asks for 1.
    pub fn attempts(mut self, n: u32) -> Request {
        self.attempts = Some(n.max(1));
        self
    }

    /// A WebDAV method by name (`PROPFIND`, `REPORT`, `MKCALENDAR`, ...).
    pub fn dav(method: &str, url: Url) -> Request {
        let method = Method::from_bytes(method.as_bytes()).expect("a valid method token");
        Request::new(method, url)
    }

    /// Adds a header; a value that is not a valid header value is an [`ErrorKind::InvalidData`]
    /// error rather than a panic, since etags come from servers.
    pub fn header(mut self, name: HeaderName, value: &str) -> Result<Request> {
        let v = HeaderValue::from_str(value).map_err(|_| {
            Error::new(
                ErrorKind::InvalidData,
                format!(
                    "{} {}: invalid {} header value {value:?}",
                    self.method, self.url, name
                ),
            )
        })?;
        self.headers.insert(name, v);
        Ok(self)
    }

    pub fn depth(mut self, depth: &'static str) -> Request {
        self.headers.insert(
            HeaderName::from_static("depth"),
            HeaderValue::from_static(depth),
        );
        self
    }

    pub fn body(mut self, content_type: &'static str, body: impl Into<Bytes>) -> Request {
        self.headers
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        self.body = body.into();
        self
    }

    /// An XML body (`application/xml; charset=utf-8`).
    pub fn xml(self, body: impl Into<Bytes>) -> Request {
        self.body("application/xml; charset=utf-8", body)
    }

    pub(super) fn is_idempotent(&self) -> bool {
        matches!(
            self.method.as_str(),
            "GET" | "HEAD" | "OPTIONS" | "PROPFIND" | "REPORT"
        )
    }

    /// True when sending this request twice cannot do what sending it once would not: the
    /// idempotent reads, and a PUT or DELETE conditional on an etag (a second copy of one
    /// that landed meets a 412, or, on a server that ignores preconditions, repeats the
    /// same write).
    pub(super) fn may_resend(&self) -> bool {
        self.is_idempotent()
            || (matches!(self.method.as_str(), "PUT" | "DELETE")
                && (self.headers.contains_key(header::IF_MATCH)
                    || self.headers.contains_key(header::IF_NONE_MATCH)))
    }
}
