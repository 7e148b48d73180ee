//! [`Client`]: one keep-alive connection pool, auth state and retry policy per storage.
//!
//! The rules of one request's exchange with the server (redirects, auth challenges, the body
//! and its size cap) live in [`exchange`]; this module sets the client up and owns the retry
//! loop around them.

mod exchange;

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::StatusCode;
use url::Url;

use super::auth::{self, Auth};
use super::busy;
use super::{tls, AuthMode, Request, Response, RetryPolicy, Secret, TransportOptions};
use crate::error::{Error, ErrorKind, Result};

pub use exchange::is_timeout;

/// The URL without user info, as it may be shown in logs and errors.
pub(crate) fn redacted_url(url: &Url) -> Url {
    let mut u = url.clone();
    let _ = u.set_password(None);
    let _ = u.set_username("");
    u
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
    /// The request timeout: the longest `Retry-After` a write waits for before it is sent
    /// again.
    timeout: Duration,
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
            timeout: opts.timeout,
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
            // A 503 with `Retry-After` (RFC 9110 15.6.4) says the server did not take the
            // request and when to come back, like a rate limit; a write waits for it only as
            // long as a request may take (the next sync retries a longer wait).
            let come_back = matches!(&result, Ok(r)
                if r.status == StatusCode::SERVICE_UNAVAILABLE
                    && retry_after(&r.headers).is_some_and(|d| d <= self.timeout));
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
            // A rate limit or a 503 with `Retry-After` means the server did not act: a write
            // that may be sent twice (conditional on an etag) is sent again too.
            let can_retry = (req.is_idempotent() || ((busy || come_back) && req.may_resend()))
                && attempt < attempts;
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
    use super::super::auth::RequestLine;
    use super::*;

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
