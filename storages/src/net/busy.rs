//! "Too many requests" in the forms servers send it.
//!
//! RFC 6585 says 429; Google's APIs (its CalDAV/CardDAV endpoints included) also say 403
//! with an error in the `usageLimits` domain (`rateLimitExceeded`,
//! `userRateLimitExceeded`, `quotaExceeded`), in a JSON or XML body. Read as a plain 403,
//! such an answer would be taken for refused credentials (on a listing) or a refused item
//! (on a write), and never sent again. Both forms mean the server did not act on the
//! request, so it is sent again after a bounded backoff (`Retry-After` honoured up to the
//! retry policy's cap), even a conditional write; what outlives the retries is reported as
//! "server busy".

use reqwest::StatusCode;

use super::response::{status_error, Response, Target};
use crate::error::{Error, ErrorKind};

/// How much of a 403 body is searched for the usage-limit domain: Google's error bodies are
/// a few hundred bytes; an HTML page that happens to mention the words further down is not
/// one of them.
const BODY_SCAN: usize = 4096;

/// True when this answer says "too many requests, try later".
pub fn is_rate_limited(status: StatusCode, body: &[u8]) -> bool {
    match status.as_u16() {
        429 => true,
        403 => {
            let head = &body[..body.len().min(BODY_SCAN)];
            let text = String::from_utf8_lossy(head);
            text.contains("usageLimits")
                || text.contains("rateLimitExceeded")
                || text.contains("RateLimitExceeded")
        }
        _ => false,
    }
}

/// The error for a failed answer: [`status_error`]'s, but "server busy" (retryable,
/// [`ErrorKind::Transport`]) for a rate limit whatever its status.
pub fn response_error(resp: &Response, target: Target, context: String) -> Error {
    if resp.status.as_u16() != 429 && is_rate_limited(resp.status, &resp.body) {
        return Error::new(ErrorKind::Transport, context).labelled("server busy");
    }
    status_error(resp.status, target, context)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limited(status: u16, body: &str) -> bool {
        is_rate_limited(StatusCode::from_u16(status).unwrap(), body.as_bytes())
    }

    #[test]
    fn google_usage_limit_403s_are_rate_limits() {
        let json = r#"{"error":{"errors":[{"domain":"usageLimits","reason":"rateLimitExceeded",
            "message":"Rate Limit Exceeded"}],"code":403,"message":"Rate Limit Exceeded"}}"#;
        assert!(limited(403, json));
        let xml = r#"<errors xmlns="http://schemas.google.com/g/2005"><error>
            <domain>usageLimits</domain><code>userRateLimitExceeded</code></error></errors>"#;
        assert!(limited(403, xml));
        assert!(limited(429, ""));
    }

    #[test]
    fn other_403s_are_not() {
        assert!(!limited(403, ""));
        assert!(!limited(
            403,
            "<d:error xmlns:d=\"DAV:\"><d:need-privileges/></d:error>"
        ));
        assert!(!limited(500, "rateLimitExceeded"));
        let far = format!("{}usageLimits", " ".repeat(BODY_SCAN));
        assert!(!limited(403, &far));
    }
}
