//! Which `Authorization` header a request carries, and how a 401 challenge is answered.

use base64::Engine;
use http_auth::{PasswordClient, PasswordParams};
use reqwest::header::HeaderValue;
use std::sync::Mutex;
use zeroize::Zeroizing;

use super::{AuthMode, Secret};

/// The credentials and what the server asked for so far.
pub(super) struct Auth {
    mode: AuthMode,
    username: String,
    password: Option<Secret>,
    /// The scheme chosen from the last challenge (guess, digest), reused for later requests
    /// so each does not pay a 401 round trip.
    chosen: Mutex<Option<PasswordClient>>,
}

/// A request as Digest needs it: method, request-URI, body.
pub(super) struct RequestLine<'a> {
    pub method: &'a str,
    pub uri: &'a str,
    pub body: &'a [u8],
}

impl Auth {
    pub fn new(mode: AuthMode, username: Option<String>, password: Option<Secret>) -> Self {
        Auth {
            mode,
            username: username.unwrap_or_default(),
            password,
            chosen: Mutex::new(None),
        }
    }

    fn has_credentials(&self) -> bool {
        self.password.is_some()
    }

    /// The header sent before any challenge: Basic and Bearer always, Guess and Digest once a
    /// challenge has told us the scheme.
    pub fn preemptive(&self, req: &RequestLine<'_>) -> Option<HeaderValue> {
        let password = self.password.as_ref()?;
        match self.mode {
            AuthMode::Basic => Some(basic(&self.username, password)),
            AuthMode::Bearer => sensitive(&Zeroizing::new(format!("Bearer {}", password.expose()))),
            AuthMode::Guess | AuthMode::Digest => {
                let mut chosen = self.chosen.lock().expect("auth state poisoned");
                let client = chosen.as_mut()?;
                self.respond(client, req)
            }
        }
    }

    /// Answers a 401 challenge. `None` when there is nothing to try: no credentials, a mode
    /// that does not negotiate, or no usable challenge. The caller answers at most once per
    /// request, so refused credentials end in the 401 (a fresh challenge after a reused Digest
    /// nonce, e.g. an expired one, still gets its one answer).
    pub fn answer(&self, challenges: &[&str], req: &RequestLine<'_>) -> Option<HeaderValue> {
        if !self.has_credentials() || !matches!(self.mode, AuthMode::Guess | AuthMode::Digest) {
            return None;
        }
        let mut builder = PasswordClient::builder();
        for c in challenges {
            builder = builder.challenges(c);
        }
        let client = builder.build().ok()?;
        let mut client = match (self.mode, client) {
            (AuthMode::Digest, c @ PasswordClient::Digest(_)) => c,
            (AuthMode::Digest, _) => return None,
            (_, c) => c,
        };
        let header = self.respond(&mut client, req);
        *self.chosen.lock().expect("auth state poisoned") = Some(client);
        header
    }

    fn respond(&self, client: &mut PasswordClient, req: &RequestLine<'_>) -> Option<HeaderValue> {
        let password = self.password.as_ref()?;
        let value = client
            .respond(&PasswordParams {
                username: &self.username,
                password: password.expose(),
                uri: req.uri,
                method: req.method,
                body: Some(req.body),
            })
            .ok()
            .map(Zeroizing::new)?;
        sensitive(&value)
    }
}

/// Every string holding the password on the way is wiped when dropped.
fn basic(username: &str, password: &Secret) -> HeaderValue {
    let pair = Zeroizing::new(format!("{}:{}", username, password.expose()));
    let token = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&*pair));
    sensitive(&Zeroizing::new(format!("Basic {}", &*token)))
        .expect("base64 is a valid header value")
}

/// Marks the value sensitive so the HTTP stack never logs or indexes it.
fn sensitive(value: &str) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(value).ok()?;
    v.set_sensitive(true);
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> RequestLine<'static> {
        RequestLine {
            method: "PROPFIND",
            uri: "/cal/",
            body: b"",
        }
    }

    fn auth(mode: AuthMode) -> Auth {
        Auth::new(mode, Some("alice".into()), Some(Secret::new("s3cret")))
    }

    #[test]
    fn basic_sends_credentials_unasked() {
        let h = auth(AuthMode::Basic).preemptive(&line()).unwrap();
        assert_eq!(h.to_str().unwrap(), "Basic YWxpY2U6czNjcmV0");
        assert!(h.is_sensitive());
    }

    #[test]
    fn guess_sends_nothing_unasked_then_prefers_digest() {
        let a = auth(AuthMode::Guess);
        assert!(a.preemptive(&line()).is_none());
        let h = a
            .answer(
                &[
                    "Basic realm=\"x\"",
                    "Digest realm=\"x\", nonce=\"abc\", qop=\"auth\"",
                ],
                &line(),
            )
            .unwrap();
        assert!(h.to_str().unwrap().starts_with("Digest "), "{h:?}");
        // The choice is remembered for the next request.
        let next = a.preemptive(&line()).unwrap();
        assert!(next.to_str().unwrap().starts_with("Digest "));
    }

    #[test]
    fn guess_falls_back_to_basic_and_remembers_it() {
        let a = auth(AuthMode::Guess);
        let h = a.answer(&["Basic realm=\"x\""], &line()).unwrap();
        assert_eq!(h.to_str().unwrap(), "Basic YWxpY2U6czNjcmV0");
        assert!(a.preemptive(&line()).is_some());
    }

    #[test]
    fn digest_mode_ignores_a_basic_only_challenge() {
        let a = auth(AuthMode::Digest);
        assert!(a.preemptive(&line()).is_none());
        assert!(a.answer(&["Basic realm=\"x\""], &line()).is_none());
    }

    #[test]
    fn bearer_sends_the_token() {
        let h = auth(AuthMode::Bearer).preemptive(&line()).unwrap();
        assert_eq!(h.to_str().unwrap(), "Bearer s3cret");
    }

    #[test]
    fn no_password_no_header() {
        let a = Auth::new(AuthMode::Basic, Some("alice".into()), None);
        assert!(a.preemptive(&line()).is_none());
        assert!(a.answer(&["Basic realm=\"x\""], &line()).is_none());
    }
}
