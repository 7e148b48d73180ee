//! Which `Authorization` header a request carries, and how a 401 challenge is answered.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use http_auth::{PasswordClient, PasswordParams};
use reqwest::header::HeaderValue;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{AuthMode, PasswordRefresh, Secret};
use crate::remember::Remember;

/// A bearer token is fetched again at most this often: a token the server refuses right
/// after a refresh is refused for another reason, and asking the helper for a new one on
/// every request would only hammer it.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// The credentials and what the server asked for so far.
pub(super) struct Auth {
    mode: AuthMode,
    username: String,
    password: RwLock<Option<Secret>>,
    /// Bumped whenever the password is fetched again, so requests that failed with the old
    /// one know a newer one is there to retry with.
    generation: AtomicU64,
    refresh: Option<Arc<dyn PasswordRefresh>>,
    /// When the password was last fetched again (one refresh at a time).
    last_refresh: tokio::sync::Mutex<Option<Instant>>,
    /// The scheme chosen from the last challenge (guess, digest), reused for later requests
    /// so each does not pay a 401 round trip.
    chosen: Mutex<Option<PasswordClient>>,
    /// Where the challenge is kept for later runs, and what is kept there now.
    memory: Option<Memory>,
}

struct Memory {
    store: Arc<dyn Remember>,
    key: String,
    kept: Mutex<Option<String>>,
}

/// What is kept per server and user: the `WWW-Authenticate` challenges that were answered
/// successfully (scheme, realm, a Digest nonce; never anything derived from the password).
#[derive(Serialize, Deserialize)]
struct Kept {
    challenges: Vec<String>,
}

/// A request as Digest needs it: method, request-URI, body.
pub(super) struct RequestLine<'a> {
    pub method: &'a str,
    pub uri: &'a str,
    pub body: &'a [u8],
}

/// The header a request went out with, and which password it was built from.
pub(super) struct Sent {
    pub header: Option<HeaderValue>,
    generation: u64,
}

impl Sent {
    /// No credentials (an origin they may not go to).
    pub fn none() -> Sent {
        Sent {
            header: None,
            generation: 0,
        }
    }
}

/// The key under which the challenge for this server and user is kept.
pub(super) fn memory_key(origin: &str, username: &str) -> String {
    format!("auth {origin} {username}")
}

impl Auth {
    pub fn new(
        mode: AuthMode,
        username: Option<String>,
        password: Option<Secret>,
        refresh: Option<Arc<dyn PasswordRefresh>>,
        remember: Option<(Arc<dyn Remember>, String)>,
    ) -> Self {
        let negotiates = matches!(mode, AuthMode::Guess | AuthMode::Digest);
        let memory = remember
            .filter(|_| negotiates && password.is_some())
            .map(|(store, key)| {
                let kept = store.recall(&key);
                Memory {
                    store,
                    key,
                    kept: Mutex::new(kept),
                }
            });
        let auth = Auth {
            mode,
            username: username.unwrap_or_default(),
            password: RwLock::new(password),
            generation: AtomicU64::new(0),
            refresh,
            last_refresh: tokio::sync::Mutex::new(None),
            chosen: Mutex::new(None),
            memory,
        };
        auth.restore();
        auth
    }

    /// Takes up the scheme a server asked for in an earlier run, so the first request
    /// already carries credentials.
    fn restore(&self) {
        let Some(m) = &self.memory else { return };
        let Some(text) = m.kept.lock().expect("auth state poisoned").clone() else {
            return;
        };
        let Ok(kept) = serde_json::from_str::<Kept>(&text) else {
            tracing::debug!("remembered auth scheme unreadable, waiting for a challenge");
            return;
        };
        let refs: Vec<&str> = kept.challenges.iter().map(String::as_str).collect();
        if let Some(client) = self.client_for(&refs) {
            tracing::debug!(
                scheme = scheme_name(&client),
                "using the remembered auth scheme"
            );
            *self.chosen.lock().expect("auth state poisoned") = Some(client);
        }
    }

    fn has_credentials(&self) -> bool {
        self.password.read().expect("auth state poisoned").is_some()
    }

    /// The header sent before any challenge: Basic and Bearer always, Guess and Digest once a
    /// challenge (in this run or, remembered, in an earlier one) has told us the scheme.
    pub fn preemptive(&self, req: &RequestLine<'_>) -> Sent {
        let password = self.password.read().expect("auth state poisoned");
        let generation = self.generation.load(Ordering::SeqCst);
        let header = password.as_ref().and_then(|password| match self.mode {
            AuthMode::Basic => Some(basic(&self.username, password)),
            AuthMode::Bearer => sensitive(&Zeroizing::new(format!("Bearer {}", password.expose()))),
            AuthMode::Guess | AuthMode::Digest => {
                let mut chosen = self.chosen.lock().expect("auth state poisoned");
                let client = chosen.as_mut()?;
                respond(&self.username, password, client, req)
            }
        });
        Sent { header, generation }
    }

    /// Answers a 401 challenge. `None` when there is nothing to try: no credentials, a mode
    /// that does not negotiate, or no usable challenge. The caller answers at most once per
    /// request, so refused credentials end in the 401 (a fresh challenge after a reused Digest
    /// nonce, e.g. an expired one, still gets its one answer).
    pub fn answer(&self, challenges: &[&str], req: &RequestLine<'_>) -> Option<HeaderValue> {
        if !self.has_credentials() || !matches!(self.mode, AuthMode::Guess | AuthMode::Digest) {
            return None;
        }
        let mut client = self.client_for(challenges)?;
        let header = {
            let password = self.password.read().expect("auth state poisoned");
            respond(&self.username, password.as_ref()?, &mut client, req)
        };
        *self.chosen.lock().expect("auth state poisoned") = Some(client);
        header
    }

    /// The client for these challenges in this mode: Digest when offered, Basic otherwise
    /// (Guess only).
    fn client_for(&self, challenges: &[&str]) -> Option<PasswordClient> {
        let mut builder = PasswordClient::builder();
        for c in challenges {
            builder = builder.challenges(c);
        }
        match (self.mode, builder.build().ok()?) {
            (AuthMode::Digest, c @ PasswordClient::Digest(_)) => Some(c),
            (AuthMode::Digest, _) => None,
            (_, c) => Some(c),
        }
    }

    /// The server accepted the answer to `challenges`: keep them for later runs (written only
    /// when they differ from what is kept).
    pub fn accepted(&self, challenges: &[&str]) {
        let Some(m) = &self.memory else { return };
        let kept = Kept {
            challenges: challenges.iter().map(|c| (*c).to_owned()).collect(),
        };
        let Ok(text) = serde_json::to_string(&kept) else {
            return;
        };
        let mut current = m.kept.lock().expect("auth state poisoned");
        if current.as_deref() != Some(text.as_str()) {
            m.store.keep(&m.key, &text);
            *current = Some(text);
        }
    }

    /// After a 401 to a bearer token sent as `sent`: the header to send again, from a token
    /// fetched again (expired tokens), or from one another request fetched meanwhile. `None`
    /// when there is no way to get another token, or one was fetched moments ago.
    pub async fn refreshed_bearer(&self, sent: &Sent) -> Option<HeaderValue> {
        if self.mode != AuthMode::Bearer {
            return None;
        }
        let refresh = self.refresh.as_ref()?;
        let mut last = self.last_refresh.lock().await;
        if self.generation.load(Ordering::SeqCst) == sent.generation {
            if last.is_some_and(|t| t.elapsed() < MIN_REFRESH_INTERVAL) {
                return None;
            }
            let refresh = refresh.clone();
            *last = Some(Instant::now());
            tracing::debug!("the server refused the token: fetching it again");
            let fetched = tokio::task::spawn_blocking(move || refresh.refresh()).await;
            let token = match fetched {
                Ok(Ok(token)) => token,
                Ok(Err(message)) => {
                    tracing::warn!("{message}");
                    return None;
                }
                Err(_) => return None,
            };
            *self.password.write().expect("auth state poisoned") = Some(token);
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
        let password = self.password.read().expect("auth state poisoned");
        sensitive(&Zeroizing::new(format!(
            "Bearer {}",
            password.as_ref()?.expose()
        )))
    }
}

fn scheme_name(client: &PasswordClient) -> &'static str {
    match client {
        PasswordClient::Basic(_) => "basic",
        PasswordClient::Digest(_) => "digest",
        _ => "other",
    }
}

fn respond(
    username: &str,
    password: &Secret,
    client: &mut PasswordClient,
    req: &RequestLine<'_>,
) -> Option<HeaderValue> {
    let value = client
        .respond(&PasswordParams {
            username,
            password: password.expose(),
            uri: req.uri,
            method: req.method,
            body: Some(req.body),
        })
        .ok()
        .map(Zeroizing::new)?;
    sensitive(&value)
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
    use crate::remember::InMemory;

    fn line() -> RequestLine<'static> {
        RequestLine {
            method: "PROPFIND",
            uri: "/cal/",
            body: b"",
        }
    }

    fn auth(mode: AuthMode) -> Auth {
        Auth::new(
            mode,
            Some("alice".into()),
            Some(Secret::new("s3cret")),
            None,
            None,
        )
    }

    fn remembering(store: &Arc<InMemory>) -> Auth {
        Auth::new(
            AuthMode::Guess,
            Some("alice".into()),
            Some(Secret::new("s3cret")),
            None,
            Some((store.clone() as Arc<dyn Remember>, "auth k".into())),
        )
    }

    #[test]
    fn basic_sends_credentials_unasked() {
        let h = auth(AuthMode::Basic).preemptive(&line()).header.unwrap();
        assert_eq!(h.to_str().unwrap(), "Basic YWxpY2U6czNjcmV0");
        assert!(h.is_sensitive());
    }

    #[test]
    fn guess_sends_nothing_unasked_then_prefers_digest() {
        let a = auth(AuthMode::Guess);
        assert!(a.preemptive(&line()).header.is_none());
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
        let next = a.preemptive(&line()).header.unwrap();
        assert!(next.to_str().unwrap().starts_with("Digest "));
    }

    #[test]
    fn guess_falls_back_to_basic_and_remembers_it() {
        let a = auth(AuthMode::Guess);
        let h = a.answer(&["Basic realm=\"x\""], &line()).unwrap();
        assert_eq!(h.to_str().unwrap(), "Basic YWxpY2U6czNjcmV0");
        assert!(a.preemptive(&line()).header.is_some());
    }

    #[test]
    fn an_accepted_scheme_is_used_unasked_by_the_next_run_and_holds_no_password() {
        let store = Arc::new(InMemory::new());
        let first = remembering(&store);
        let challenges = ["Basic realm=\"Radicale\""];
        first.answer(&challenges, &line()).unwrap();
        first.accepted(&challenges);
        let kept = store.snapshot();
        assert_eq!(kept.len(), 1);
        assert!(!kept[0].1.contains("s3cret") && !kept[0].1.contains("YWxpY2U6czNjcmV0"));

        let second = remembering(&store);
        let h = second.preemptive(&line()).header.unwrap();
        assert_eq!(h.to_str().unwrap(), "Basic YWxpY2U6czNjcmV0");
    }

    #[test]
    fn a_scheme_is_kept_only_once_accepted_and_an_unreadable_one_is_ignored() {
        let store = Arc::new(InMemory::new());
        let a = remembering(&store);
        a.answer(&["Basic realm=\"x\""], &line()).unwrap();
        assert!(
            store.snapshot().is_empty(),
            "kept before the server accepted it"
        );
        store.keep("auth k", "{not json");
        assert!(remembering(&store).preemptive(&line()).header.is_none());
    }

    #[test]
    fn digest_mode_ignores_a_basic_only_challenge() {
        let a = auth(AuthMode::Digest);
        assert!(a.preemptive(&line()).header.is_none());
        assert!(a.answer(&["Basic realm=\"x\""], &line()).is_none());
    }

    #[test]
    fn bearer_sends_the_token() {
        let h = auth(AuthMode::Bearer).preemptive(&line()).header.unwrap();
        assert_eq!(h.to_str().unwrap(), "Bearer s3cret");
    }

    struct Counter(std::sync::atomic::AtomicUsize);
    impl PasswordRefresh for Counter {
        fn refresh(&self) -> std::result::Result<Secret, String> {
            let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(Secret::new(format!("token{n}")))
        }
    }

    #[tokio::test]
    async fn a_refused_bearer_token_is_fetched_again_once() {
        let counter = Arc::new(Counter(Default::default()));
        let a = Auth::new(
            AuthMode::Bearer,
            None,
            Some(Secret::new("token0")),
            Some(counter.clone()),
            None,
        );
        let first = a.preemptive(&line());
        let concurrent = a.preemptive(&line());
        let h = a.refreshed_bearer(&first).await.unwrap();
        assert_eq!(h.to_str().unwrap(), "Bearer token1");
        // A request that failed with the old token meanwhile reuses the new one.
        let h = a.refreshed_bearer(&concurrent).await.unwrap();
        assert_eq!(h.to_str().unwrap(), "Bearer token1");
        // The new one refused too: no second fetch right away.
        let again = a.preemptive(&line());
        assert!(a.refreshed_bearer(&again).await.is_none());
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn no_password_no_header() {
        let a = Auth::new(AuthMode::Basic, Some("alice".into()), None, None, None);
        assert!(a.preemptive(&line()).header.is_none());
        assert!(a.answer(&["Basic realm=\"x\""], &line()).is_none());
    }
}
