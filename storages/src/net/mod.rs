//! The HTTP transport shared by the CalDAV/CardDAV and http storages.
//!
//! One [`Client`] per storage: it keeps one connection pool (keep-alive), the TLS settings,
//! the authentication state (the scheme chosen after the first challenge, the Digest nonce)
//! and the retry policy. It never interprets bodies: the DAV protocol layer
//! ([`crate::dav::proto`]) builds and parses them.
//!
//! Design decisions (also in docs/storages-dav.md):
//! - Redirects are followed by the client itself, keeping the method and body (a PROPFIND on
//!   `/.well-known/caldav` must stay a PROPFIND), for reads only; an https -> http downgrade is
//!   refused.
//! - Credentials go only to the configured origin and to origins a trusted origin redirected
//!   us to.
//! - Only idempotent requests (GET, HEAD, OPTIONS, PROPFIND, REPORT) are retried; a write is
//!   sent once and its failure reported, so the engine re-reads instead of guessing. The
//!   exception is a rate limit (429, Google's 403 `usageLimits`: see `busy`), which says the
//!   server did not act: a write conditional on an etag is then sent again after the backoff.

mod auth;
mod busy;
mod cause;
mod client;
mod request;
mod response;
mod secret;
mod tls;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

pub use busy::{is_rate_limited, response_error};
pub use cause::NetCause;
pub use client::{is_timeout, Client};
pub use request::{BodySink, Request};
pub use reqwest::header::HeaderName;
pub use reqwest::{Method, StatusCode};
pub use response::{status_error, status_kind, Response, Target};
pub use secret::Secret;
pub use tls::{fingerprint_text, parse_fingerprint, FingerprintError, PinMismatch};

/// How to authenticate (config key `auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// Send Basic credentials with every request, unasked.
    Basic,
    /// Answer the server's Digest challenge; never send the password itself.
    Digest,
    /// `Authorization: Bearer <password>` on every request.
    Bearer,
    /// Send nothing until a 401 challenge; then Digest when offered, else Basic, and keep
    /// that choice for the rest of the run.
    #[default]
    Guess,
}

/// Server certificate validation (config key `verify`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Verify {
    /// Validate the chain against the built-in web PKI roots.
    #[default]
    Yes,
    /// Accept any certificate (the fingerprint pin, if any, still applies).
    No,
    /// Validate the chain against this PEM bundle only.
    CaBundle(PathBuf),
}

/// Bounded exponential backoff with jitter for idempotent requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Delay before the second attempt; doubled for each further one.
    pub base_delay: Duration,
    /// Cap on any single delay, `Retry-After` included.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

/// Fetches the password again: bearer tokens from an OAuth2 helper expire, and a server's
/// 401 to one means "ask the helper for a fresh one". Blocking (it runs a command); the
/// client calls it off the async threads. The error text names the source, never a secret.
pub trait PasswordRefresh: Send + Sync {
    fn refresh(&self) -> std::result::Result<Secret, String>;
}

/// Default cap on one response body.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// Everything a network storage needs to reach its server. Built by the config layer.
#[derive(Clone)]
pub struct TransportOptions {
    pub url: Url,
    pub username: Option<String>,
    /// Already resolved (command, env, keyring). Never printed: `Debug` redacts it.
    pub password: Option<Secret>,
    pub auth: AuthMode,
    pub verify: Verify,
    /// SHA-256 of the leaf certificate; see [`parse_fingerprint`] for the accepted forms.
    pub verify_fingerprint: Option<String>,
    /// PEM file holding the client certificate chain and its private key.
    pub client_cert: Option<PathBuf>,
    /// Per request, connection and body included.
    pub timeout: Duration,
    pub user_agent: String,
    /// A larger response body is refused with `InvalidData`.
    pub max_response_bytes: u64,
    pub retry: RetryPolicy,
    /// Requests in flight at once to this storage's server.
    pub max_connections: usize,
    /// How to fetch the password again after a 401 (`auth = "bearer"` only).
    pub refresh_password: Option<Arc<dyn PasswordRefresh>>,
    /// Where the auth scheme a server asked for is kept between runs (`auth = "guess"`,
    /// `"digest"`), and where the DAV storage keeps what discovery found.
    pub remember: Option<Arc<dyn crate::remember::Remember>>,
}

/// Default of [`TransportOptions::max_connections`]: enough to hide the round trip on a
/// loopback or LAN server, few enough not to look like a flood to a hosted one.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4;

impl TransportOptions {
    /// Options with the defaults: no credentials, `auth = "guess"`, `verify = true`,
    /// 30 s timeout, 64 MiB cap, 4 attempts for reads.
    pub fn new(url: Url) -> Self {
        TransportOptions {
            url,
            username: None,
            password: None,
            auth: AuthMode::Guess,
            verify: Verify::Yes,
            verify_fingerprint: None,
            client_cert: None,
            timeout: Duration::from_secs(30),
            user_agent: concat!("davsync/", env!("CARGO_PKG_VERSION")).to_owned(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            retry: RetryPolicy::default(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            refresh_password: None,
            remember: None,
        }
    }
}

impl fmt::Debug for TransportOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportOptions")
            .field("url", &client::redacted_url(&self.url).as_str())
            .field("username", &self.username)
            .field("password", &self.password)
            .field("auth", &self.auth)
            .field("verify", &self.verify)
            .field("verify_fingerprint", &self.verify_fingerprint)
            .field("client_cert", &self.client_cert)
            .field("timeout", &self.timeout)
            .field("user_agent", &self.user_agent)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("retry", &self.retry)
            .field("max_connections", &self.max_connections)
            .field("refresh_password", &self.refresh_password.is_some())
            .field("remember", &self.remember)
            .finish()
    }
}
