//! Passwords never appear in logs, at any verbosity, nor in errors or Debug output.

use crate::dav_support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use dav_support::*;
use davsync_storages::dav::DavStorage;
use davsync_storages::net::AuthMode;
use davsync_storages::{Collection, Item, ItemKind, Storage};
use wiremock::matchers::{header_exists, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// base64 of "alice:<password>", what a Basic header would carry.
fn basic_token() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("alice:{PASSWORD}"))
}

#[tokio::test]
async fn password_never_appears_in_trace_logs_errors_or_debug_output() {
    let logs = Captured::default();
    // Global, so records from every thread and from `log`-based dependencies are captured.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .try_init()
        .expect("the only subscriber of this test binary");

    let server = MockServer::start().await;
    Mock::given(method("PROPFIND"))
        .and(header_exists("authorization"))
        .respond_with(
            ResponseTemplate::new(401).insert_header("WWW-Authenticate", "Basic realm=\"x\""),
        )
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("PROPFIND"))
        .respond_with(
            ResponseTemplate::new(401)
                .append_header(
                    "WWW-Authenticate",
                    "Digest realm=\"x\", nonce=\"n\", qop=\"auth\"",
                )
                .append_header("WWW-Authenticate", "Basic realm=\"x\""),
        )
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;

    let mut texts = Vec::new();
    for mode in [
        AuthMode::Guess,
        AuthMode::Basic,
        AuthMode::Digest,
        AuthMode::Bearer,
    ] {
        let mut o = opts(&server, "/cal/", ItemKind::Calendar);
        o.transport.auth = mode;
        texts.push(format!("{o:?}"));
        let s = DavStorage::new(o).unwrap();
        texts.push(format!("{s:?}"));
        let c = Collection {
            href: format!("{}/cal/", server.uri()),
            name: String::new(),
        };
        let err = s.list(&c).await.unwrap_err();
        texts.push(format!("{err} {err:?}"));
        let it = Item::parse(ItemKind::Calendar, ics("u")).unwrap();
        let err = s.upload(&c, &it).await.unwrap_err();
        texts.push(format!("{err} {err:?}"));
        let _ = s.discover().await;
    }
    // Credentials in the URL are treated the same way.
    let mut t = transport(&server.uri(), "/cal/");
    t.url = url::Url::parse(&format!(
        "{}/cal/",
        server
            .uri()
            .replace("http://", &format!("http://alice:{PASSWORD}@"))
    ))
    .unwrap();
    texts.push(format!("{t:?}"));
    let s = DavStorage::new(davsync_storages::dav::DavOptions::new(
        t,
        ItemKind::Calendar,
    ))
    .unwrap();
    let c = s.root_collection().await.unwrap();
    texts.push(c.href.clone());
    let err = s.list(&c).await.unwrap_err();
    texts.push(format!("{err} {err:?}"));

    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logged.contains("PROPFIND"),
        "the requests were logged at debug level: {logged}"
    );
    for text in texts.iter().chain(std::iter::once(&logged)) {
        assert!(!text.contains(PASSWORD), "password leaked: {text}");
        assert!(!text.contains(&basic_token()), "Basic token leaked: {text}");
    }
}
