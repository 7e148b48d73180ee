//! [`Client`]: one keep-alive connection pool, auth state and retry policy per storage.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rand::Rng;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use url::Url;

use super::auth::{self, Auth, RequestLine};
use super::busy;
use super::{tls, AuthMode, RetryPolicy, Secret, TransportOptions};
use crate::error::{Error, ErrorKind, Result};

const MAX_REDIRECTS: usize = 10;

/// The URL without user info, as it may be shown in logs and errors.
pub(crate) fn redacted_url(url: &Url) -> Url {
    let mut u = url.clone();
    let _ = u.set_password(None);
    let _ = u.set_username("");
    u
}

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

    fn is_idempotent(&self) -> bool {
        matches!(
            self.method.as_str(),
            "GET" | "HEAD" | "OPTIONS" | "PROPFIND" | "REPORT"
        )
    }

    /// True when sending this request twice cannot do what sending it once would not: the
    /// idempotent reads, and a PUT or DELETE conditional on an etag (a second copy of one
    /// that landed meets a 412, or, on a server that ignores preconditions, repeats the
    /// same write).
    fn may_resend(&self) -> bool {
        self.is_idempotent()
            || (matches!(self.method.as_str(), "PUT" | "DELETE")
                && (self.headers.contains_key(header::IF_MATCH)
                    || self.headers.contains_key(header::IF_NONE_MATCH)))
    }
}

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
        busy::response_error(self, target, context)
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

/// A failure below HTTP status level, before it becomes an [`Error`].
enum SendError {
    Network(reqwest::Error),
    Truncated(reqwest::Error),
    TooLarge(u64),
    Fatal(Error),
}

impl SendError {
    fn retryable(&self) -> bool {
        matches!(self, SendError::Network(_) | SendError::Truncated(_))
    }

    fn into_error(self, method: &Method, url: &Url) -> Error {
        match self {
            SendError::Network(e) => {
                let what = if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "could not connect"
                } else {
                    "request failed"
                };
                let error = Error::new(ErrorKind::Transport, format!("{method} {url}: {what}"));
                // A cause a user can act on replaces reqwest's layers of "error sending
                // request" (still in the log at -vv).
                match super::cause::classify(&e, url) {
                    Some(cause) => {
                        tracing::debug!("{method} {url}: {e:?}");
                        error.with_source(cause)
                    }
                    None => error.with_source(e.without_url()),
                }
            }
            SendError::Truncated(e) => Error::new(
                ErrorKind::InvalidData,
                format!("{method} {url}: response body truncated"),
            )
            .with_source(e.without_url()),
            SendError::TooLarge(cap) => Error::new(
                ErrorKind::InvalidData,
                format!("{method} {url}: response body larger than the limit of {cap} bytes"),
            ),
            SendError::Fatal(e) => e,
        }
    }
}

/// True when `e` is a request that ran out of time (as opposed to a refused connection).
pub fn is_timeout(e: &Error) -> bool {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<reqwest::Error>())
        .is_some_and(|r| r.is_timeout())
}

/// An HTTP client for one storage.
pub struct Client {
    http: reqwest::Client,
    /// The same client without a connection pool: a request that met a connection the
    /// server had closed is sent again on a connection of its own.
    fresh: reqwest::Client,
    /// Requests in flight at once against this storage (`max_connections`): parallel reads
    /// and writes of the engine queue here instead of flooding the server.
    slots: tokio::sync::Semaphore,
    auth: Auth,
    /// Origins credentials may be sent to: the configured one, and those a trusted origin
    /// redirected us to or named in a discovery answer.
    trusted: Mutex<HashSet<String>>,
    retry: RetryPolicy,
    max_body: u64,
    base: Url,
    /// What the last answered request used, for `check --online`: the auth scheme of the
    /// `Authorization` header it carried, and the HTTP version of the answer.
    seen: Mutex<(Option<String>, Option<reqwest::Version>)>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .finish()
    }
}

impl Client {
    pub fn new(opts: &TransportOptions) -> Result<Client> {
        // Credentials written into the URL are taken out of it, so the URL can be logged.
        let mut username = opts.username.clone();
        let mut password = opts.password.clone();
        if username.is_none() && !opts.url.username().is_empty() {
            username = Some(decode(opts.url.username()));
        }
        if password.is_none() {
            if let Some(p) = opts.url.password() {
                password = Some(Secret::new(decode(p)));
            }
        }
        let base = redacted_url(&opts.url);
        match base.scheme() {
            "http" | "https" => {}
            other => {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!("url {base}: unsupported scheme {other:?} (use https:// or http://)"),
                ))
            }
        }
        if opts.timeout.is_zero() {
            return Err(Error::new(
                ErrorKind::Config,
                "timeout must be more than 0 seconds",
            ));
        }
        if opts.auth == AuthMode::Bearer {
            match &password {
                None => {
                    return Err(Error::new(
                        ErrorKind::Config,
                        "auth = \"bearer\" needs the token in `password`",
                    ))
                }
                Some(p) if HeaderValue::from_str(&format!("Bearer {}", p.expose())).is_err() => {
                    return Err(Error::new(
                        ErrorKind::Config,
                        "password: the bearer token holds characters not allowed in a header",
                    ))
                }
                Some(_) => {}
            }
        }

        let tls = tls::client_config(opts)?;
        let builder = || {
            reqwest::Client::builder()
                .use_preconfigured_tls(tls.clone())
                .redirect(reqwest::redirect::Policy::none())
                .timeout(opts.timeout)
                .connect_timeout(opts.timeout)
                .user_agent(opts.user_agent.clone())
        };
        let http = builder()
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::new(ErrorKind::Config, "HTTP client").with_source(e))?;
        let fresh = builder()
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| Error::new(ErrorKind::Config, "HTTP client").with_source(e))?;

        let origin = base.origin().ascii_serialization();
        let remember = opts.remember.clone().map(|store| {
            let key = auth::memory_key(&origin, username.as_deref().unwrap_or(""));
            (store, key)
        });
        let auth = Auth::new(
            opts.auth,
            username,
            password,
            opts.refresh_password.clone(),
            remember,
        );
        let mut trusted = HashSet::new();
        trusted.insert(origin);
        Ok(Client {
            http,
            fresh,
            slots: tokio::sync::Semaphore::new(opts.max_connections.max(1)),
            auth,
            trusted: Mutex::new(trusted),
            retry: opts.retry.clone(),
            max_body: opts.max_response_bytes,
            base,
            seen: Mutex::new((None, None)),
        })
    }

    /// The scheme of the credentials last sent (`Basic`, `Digest`, `Bearer`), `None` before
    /// any were.
    pub fn auth_scheme(&self) -> Option<String> {
        self.seen.lock().expect("poisoned").0.clone()
    }

    /// The HTTP version of the last answer (`HTTP/1.1`, `HTTP/2.0`).
    pub fn http_version(&self) -> Option<String> {
        self.seen
            .lock()
            .expect("poisoned")
            .1
            .map(|v| format!("{v:?}"))
    }

    /// The configured URL, without user info.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// Allows credentials to go to `url`'s origin, which a trusted server named (a home set
    /// on another host). Refused for plain http when the configured URL is https.
    pub fn trust_origin(&self, url: &Url) {
        if self.base.scheme() == "https" && url.scheme() != "https" {
            return;
        }
        self.trusted
            .lock()
            .expect("trusted origins poisoned")
            .insert(url.origin().ascii_serialization());
    }

    fn is_trusted(&self, url: &Url) -> bool {
        self.trusted
            .lock()
            .expect("trusted origins poisoned")
            .contains(&url.origin().ascii_serialization())
    }

    /// Sends a request: follows redirects (reads only), answers auth challenges, retries
    /// idempotent requests, and reads the whole body. Any HTTP status is `Ok`; only failures
    /// below HTTP (network, TLS, timeout, size cap) are errors.
    pub async fn send(&self, req: &Request) -> Result<Response> {
        let mut attempt: u32 = 1;
        loop {
            let started = Instant::now();
            let result = {
                let _slot = self
                    .slots
                    .acquire()
                    .await
                    .expect("the semaphore is never closed");
                self.send_following(req).await
            };
            let busy = matches!(&result, Ok(r) if busy::is_rate_limited(r.status, &r.body));
            let delay = match &result {
                Ok(resp) if retryable_status(resp.status) || busy => {
                    Some(self.backoff(attempt, retry_after(&resp.headers)))
                }
                Err(e) if e.retryable() => Some(self.backoff(attempt, None)),
                _ => None,
            };
            let attempts = match req.sink {
                Some(_) => 1,
                None => req.attempts.unwrap_or(self.retry.max_attempts).max(1),
            };
            // A rate limit means the server did not act: a write that may be sent twice
            // is sent again too.
            let can_retry =
                (req.is_idempotent() || (busy && req.may_resend())) && attempt < attempts;
            match (delay, can_retry) {
                (Some(delay), true) => {
                    tracing::debug!(
                        method = %req.method,
                        url = %req.url,
                        attempt,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "retrying in {delay:?}",
                    );
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                _ => return result.map_err(|e| e.into_error(&req.method, &req.url)),
            }
        }
    }

    fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(d) = retry_after {
            return d.min(self.retry.max_delay);
        }
        let exp = self
            .retry
            .base_delay
            .saturating_mul(1u32 << (attempt - 1).min(16))
            .min(self.retry.max_delay);
        // Full jitter over the upper half, so parallel clients spread out.
        let factor: f64 = rand::thread_rng().gen_range(0.5..=1.0);
        exp.mul_f64(factor)
    }

    async fn send_following(&self, req: &Request) -> Result<Response, SendError> {
        let mut url = req.url.clone();
        for _ in 0..=MAX_REDIRECTS {
            let resp = self.send_authenticated(req, &url).await?;
            let follow =
                req.is_idempotent() && matches!(resp.status.as_u16(), 301 | 302 | 303 | 307 | 308);
            if !follow {
                return Ok(resp);
            }
            let Some(next) = resp.location() else {
                return Ok(resp);
            };
            if url.scheme() == "https" && next.scheme() != "https" {
                return Err(SendError::Fatal(Error::new(
                    ErrorKind::Transport,
                    format!(
                        "{} {url}: refusing the redirect to {} (https to plain http)",
                        req.method,
                        redacted_url(&next)
                    ),
                )));
            }
            if self.is_trusted(&url) {
                self.trust_origin(&next);
            }
            tracing::debug!(from = %url, to = %redacted_url(&next), "following redirect");
            url = redacted_url(&next);
        }
        Err(SendError::Fatal(Error::new(
            ErrorKind::InvalidData,
            format!(
                "{} {}: more than {MAX_REDIRECTS} redirects",
                req.method, req.url
            ),
        )))
    }

    async fn send_authenticated(&self, req: &Request, url: &Url) -> Result<Response, SendError> {
        let trusted = self.is_trusted(url);
        let uri = &url[url::Position::BeforePath..url::Position::AfterQuery];
        let line = RequestLine {
            method: req.method.as_str(),
            uri,
            body: &req.body,
        };
        let sent = if trusted {
            self.auth.preemptive(&line)
        } else {
            auth::Sent::none()
        };
        let resp = self.send_once(req, url, sent.header.clone()).await?;
        if resp.status != StatusCode::UNAUTHORIZED || !trusted {
            return Ok(resp);
        }
        if let Some(header) = self.auth.refreshed_bearer(&sent).await {
            return self.send_once(req, url, Some(header)).await;
        }
        let challenges: Vec<&str> = resp
            .headers
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        match self.auth.answer(&challenges, &line) {
            // The same header again (Basic, same password) would only be refused again,
            // after the server's failed-login delay once more.
            Some(answer) if sent.header.as_ref() != Some(&answer) => {
                let answered = self.send_once(req, url, Some(answer)).await?;
                if answered.status != StatusCode::UNAUTHORIZED {
                    self.auth.accepted(&challenges);
                }
                Ok(answered)
            }
            _ => Ok(resp),
        }
    }

    async fn send_once(
        &self,
        req: &Request,
        url: &Url,
        authorization: Option<HeaderValue>,
    ) -> Result<Response, SendError> {
        let started = Instant::now();
        let build = |http: &reqwest::Client| {
            let mut builder = http
                .request(req.method.clone(), url.as_str())
                .headers(req.headers.clone())
                .body(req.body.clone());
            if let Some(a) = &authorization {
                builder = builder.header(header::AUTHORIZATION, a.clone());
            }
            builder
        };
        let mut result = build(&self.http).send().await;
        if let Err(e) = &result {
            // A kept-alive connection the server had closed without saying so (SOGo after a
            // 401 or a PUT): the request never got an answer. Sent once more on a new
            // connection when that cannot do harm (RFC 9112 §9.3.1).
            if req.may_resend() && closed_before_answer(e) {
                tracing::debug!(
                    method = %req.method,
                    url = %url,
                    "connection closed before the answer ({}); sending again on a new connection",
                    e.without_url_ref(),
                );
                result = build(&self.fresh).send().await;
            }
        }
        let mut resp = match result {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(
                    method = %req.method,
                    url = %url,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "request failed: {}",
                    e.without_url_ref(),
                );
                return Err(SendError::Network(e));
            }
        };
        let status = resp.status();
        {
            let mut seen = self.seen.lock().expect("poisoned");
            seen.1 = Some(resp.version());
            if let Some(a) = &authorization {
                let scheme = a.to_str().ok().and_then(|v| v.split_whitespace().next());
                seen.0 = scheme.map(str::to_owned);
            }
        }
        let headers = std::mem::take(resp.headers_mut());
        if resp.content_length().is_some_and(|n| n > self.max_body) {
            return Err(SendError::TooLarge(self.max_body));
        }
        // The body is gathered as the chunks arrive and copied once into a buffer of its
        // exact size: growing one buffer by doubling would hold up to three times a large
        // multistatus at the moment of a reallocation.
        let mut chunks = Vec::new();
        let mut len = 0usize;
        let sink = req.sink.as_ref().filter(|_| status.is_success());
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    len += chunk.len();
                    if len as u64 > self.max_body {
                        return Err(SendError::TooLarge(self.max_body));
                    }
                    match sink {
                        Some(sink) => {
                            if sink.send((url.clone(), chunk)).await.is_err() {
                                return Err(SendError::Fatal(Error::new(
                                    ErrorKind::InvalidData,
                                    format!("{} {url}: the answer could not be read", req.method),
                                )));
                            }
                        }
                        None => chunks.push(chunk),
                    }
                }
                Ok(None) => break,
                Err(e) if e.is_timeout() => return Err(SendError::Network(e)),
                Err(e) => return Err(SendError::Truncated(e)),
            }
        }
        let body = match chunks.len() {
            1 => chunks.pop().unwrap_or_default(),
            _ => {
                let mut body = BytesMut::with_capacity(len);
                for chunk in chunks {
                    body.extend_from_slice(&chunk);
                }
                body.freeze()
            }
        };
        tracing::debug!(
            method = %req.method,
            url = %url,
            status = status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            bytes = len,
            "{} {} -> {}",
            req.method,
            url,
            status,
        );
        Ok(Response {
            method: req.method.clone(),
            url: url.clone(),
            status,
            headers,
            body,
        })
    }
}

trait WithoutUrlRef {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrlRef for reqwest::Error {
    /// The error's text without the URL, which the log line already names.
    fn without_url_ref(&self) -> String {
        let mut text = String::new();
        let mut cur: Option<&dyn std::error::Error> = Some(self);
        let mut first = true;
        while let Some(e) = cur {
            let s = if first {
                // reqwest's own text repeats the URL; keep its kind only.
                let full = e.to_string();
                full.split(" for url (").next().unwrap_or(&full).to_owned()
            } else {
                e.to_string()
            };
            if !first {
                text.push_str(": ");
            }
            text.push_str(&s);
            first = false;
            cur = e.source();
        }
        text
    }
}

/// True when a request failed because the connection broke before any answer arrived (hyper's
/// "connection closed before message completed", a reset or broken pipe on a reused
/// connection), as opposed to a timeout or a refused connection.
fn closed_before_answer(e: &reqwest::Error) -> bool {
    if e.is_timeout() || e.is_connect() || e.is_status() || e.is_body() || e.is_decode() {
        return false;
    }
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = cur {
        if let Some(h) = s.downcast_ref::<hyper::Error>() {
            if h.is_incomplete_message() || h.is_canceled() || h.is_closed() {
                return true;
            }
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            if matches!(
                io.kind(),
                K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof
            ) {
                return true;
            }
        }
        cur = s.source();
    }
    false
}

/// Statuses worth a retry: the server is busy or failed this once. 501 and 505 say the
/// server will never do it, so asking again only wastes the backoff.
fn retryable_status(status: StatusCode) -> bool {
    (status.is_server_error()
        && status != StatusCode::NOT_IMPLEMENTED
        && status != StatusCode::HTTP_VERSION_NOT_SUPPORTED)
        || status == StatusCode::TOO_MANY_REQUESTS
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
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

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            header::RETRY_AFTER,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn credentials_in_the_url_are_moved_out_of_it() {
        let mut opts =
            TransportOptions::new(Url::parse("https://bob:pa%24s@dav.test/cal/").unwrap());
        opts.auth = AuthMode::Basic;
        let c = Client::new(&opts).unwrap();
        assert_eq!(c.base_url().as_str(), "https://dav.test/cal/");
        let line = RequestLine {
            method: "GET",
            uri: "/",
            body: b"",
        };
        let h = c.auth.preemptive(&line).header.unwrap();
        // base64("bob:pa$s")
        assert_eq!(h.to_str().unwrap(), "Basic Ym9iOnBhJHM=");
        assert!(!format!("{opts:?}").contains("pa%24s"));
    }

    #[test]
    fn backoff_is_bounded_and_honours_retry_after_up_to_the_cap() {
        let opts = TransportOptions::new(Url::parse("https://dav.test/").unwrap());
        let c = Client::new(&opts).unwrap();
        for attempt in 1..20 {
            assert!(c.backoff(attempt, None) <= c.retry.max_delay);
        }
        assert_eq!(
            c.backoff(1, Some(Duration::from_secs(3600))),
            c.retry.max_delay
        );
        assert_eq!(
            c.backoff(1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
    }
}
