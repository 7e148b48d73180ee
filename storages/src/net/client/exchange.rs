//! One exchange with the server, below the retry loop of [`Client::send`]: following
//! redirects, answering an authentication challenge, sending again on a fresh connection
//! when a kept-alive one was closed under us, and reading the body within the size cap.
//!
//! Apart from the client's set-up and retry policy because these are the rules of a single
//! request's life on the wire, and each of them (redirect trust, the resend rule of RFC 9112)
//! is easier to check on its own.

use std::time::Instant;

use bytes::BytesMut;
use reqwest::header::{self, HeaderValue};
use reqwest::{Method, StatusCode};
use url::Url;

use super::{redacted_url, Client};
use crate::error::{Error, ErrorKind, Result};
use crate::net::auth::{self, RequestLine};
use crate::net::{Request, Response};

const MAX_REDIRECTS: usize = 10;

/// A failure below HTTP status level, before it becomes an [`Error`].
pub(super) enum SendError {
    Network(reqwest::Error),
    Truncated(reqwest::Error),
    TooLarge(u64),
    Fatal(Error),
}

impl SendError {
    pub(super) fn retryable(&self) -> bool {
        matches!(self, SendError::Network(_) | SendError::Truncated(_))
    }

    pub(super) fn into_error(self, method: &Method, url: &Url) -> Error {
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
                match crate::net::cause::classify(&e, url) {
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

impl Client {
    pub(super) async fn send_following(&self, req: &Request) -> Result<Response, SendError> {
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
