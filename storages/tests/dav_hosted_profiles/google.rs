//! Google: VTODO refused on PUT, 409 to some updates, rate limits as 403 `usageLimits` or
//! 429, and OAuth bearer tokens.

use davsync_storages::dav::DavStorage;
use davsync_storages::net::{AuthMode, Secret};
use davsync_storages::{ErrorKind, Etag, Href, Item, ItemKind, Storage};
use wiremock::matchers::{header, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::dav_support::*;

const USAGE_LIMITS: &str = r#"{"error":{"errors":[{"domain":"usageLimits",
    "reason":"rateLimitExceeded","message":"Rate Limit Exceeded"}],"code":403,
    "message":"Rate Limit Exceeded"}}"#;

fn rate_limited() -> ResponseTemplate {
    ResponseTemplate::new(403).set_body_raw(USAGE_LIMITS, "application/json; charset=UTF-8")
}

fn storage(server: &MockServer) -> DavStorage {
    DavStorage::new(opts(server, "/cal/", ItemKind::Calendar)).unwrap()
}

fn vtodo(uid: &str) -> Item {
    let raw = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//davsync tests//EN\r\nBEGIN:VTODO\r\n\
         UID:{uid}\r\nDTSTAMP:20240101T000000Z\r\nSUMMARY:task\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
    );
    Item::parse(ItemKind::Calendar, raw).unwrap()
}

async fn count(server: &MockServer, m: &str) -> usize {
    requests(server)
        .await
        .iter()
        .filter(|r| r.method.as_str() == m)
        .count()
}

#[tokio::test]
async fn google_refusing_a_vtodo_on_put_fails_that_item_alone() {
    for status in [403, 415] {
        let server = MockServer::start().await;
        // The calendar does not say what it takes: the PUT finds out.
        Mock::given(method("PROPFIND"))
            .respond_with(ResponseTemplate::new(404))
            .mount(&server)
            .await;
        Mock::given(method("PUT"))
            .and(wiremock::matchers::body_string_contains("BEGIN:VTODO"))
            .respond_with(ResponseTemplate::new(status).set_body_raw(
                r#"<d:error xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
                <c:supported-calendar-component/></d:error>"#,
                "application/xml",
            ))
            .mount(&server)
            .await;
        Mock::given(method("PUT"))
            .respond_with(ResponseTemplate::new(201).insert_header("ETag", "\"1\""))
            .mount(&server)
            .await;
        let s = storage(&server);
        let c = collection(&server, "/cal/");
        let err = s.upload(&c, &vtodo("task1")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Refused, "{status}");
        let text = chain(&err);
        assert!(
            text.contains("item task1 (/cal/task1.ics)")
                && text.contains(&status.to_string())
                && text.contains("(the server says: supported-calendar-component)"),
            "{text}"
        );
        // Sent once: a refusal is final for this sync.
        assert_eq!(count(&server, "PUT").await, 1);
        // The rest of the calendar syncs.
        s.upload(&c, &item("ev1")).await.unwrap();
    }
}

#[tokio::test]
async fn google_409_on_an_update_fails_that_item_alone_and_the_next_attempt_goes_through() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(header("if-match", "\"v1\""))
        .respond_with(ResponseTemplate::new(409))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(header("if-match", "\"v1\""))
        .respond_with(ResponseTemplate::new(204).insert_header("ETag", "\"v2\""))
        .with_priority(2)
        .mount(&server)
        .await;
    let s = storage(&server);
    let c = collection(&server, "/cal/");
    let (href, etag) = (Href::from("/cal/ev1.ics"), Etag::from("\"v1\""));
    let err = s.update(&c, &href, &item("ev1"), &etag).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Refused);
    let text = chain(&err);
    assert!(
        text.contains("item ev1 (/cal/ev1.ics)") && text.contains("409 Conflict"),
        "{text}"
    );
    // Not sent again within the run: the engine keeps the status, and the next sync tries
    // the same update, which the server now takes.
    assert_eq!(count(&server, "PUT").await, 1);
    let new = s.update(&c, &href, &item("ev1"), &etag).await.unwrap();
    assert_eq!(new.as_str(), "\"v2\"");
}

#[tokio::test]
async fn google_403_usage_limit_on_a_listing_is_retried_after_backoff() {
    let server = MockServer::start().await;
    Mock::given(method("PROPFIND"))
        .respond_with(rate_limited())
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("PROPFIND"))
        .respond_with(ms(listing(&["/cal/a.ics"])))
        .with_priority(2)
        .mount(&server)
        .await;
    let listed = storage(&server)
        .list(&collection(&server, "/cal/"))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(count(&server, "PROPFIND").await, 3);
}

#[tokio::test]
async fn google_usage_limit_outliving_the_retries_is_server_busy_never_an_auth_failure() {
    let server = MockServer::start().await;
    Mock::given(method("PROPFIND"))
        .respond_with(rate_limited())
        .mount(&server)
        .await;
    let err = storage(&server)
        .list(&collection(&server, "/cal/"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport);
    let text = chain(&err);
    assert!(
        text.contains("403 Forbidden: server busy") && text.contains("/cal/"),
        "{text}"
    );
    // The test policy's three attempts, no more.
    assert_eq!(count(&server, "PROPFIND").await, 3);
}

#[tokio::test]
async fn google_rate_limited_conditional_writes_are_sent_again_within_the_retry_cap() {
    let server = MockServer::start().await;
    // A Retry-After of an hour is cut to the policy's cap (20 ms here; 30 s by default).
    Mock::given(method("PUT"))
        .and(header("if-none-match", "*"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "3600"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(header("if-match", "\"v1\""))
        .respond_with(rate_limited())
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(201).insert_header("ETag", "\"v2\""))
        .with_priority(2)
        .mount(&server)
        .await;
    let s = storage(&server);
    let c = collection(&server, "/cal/");
    s.upload(&c, &item("ev1")).await.unwrap();
    s.update(
        &c,
        &Href::from("/cal/ev1.ics"),
        &item("ev1"),
        &Etag::from("\"v1\""),
    )
    .await
    .unwrap();
    assert_eq!(count(&server, "PUT").await, 4);
}

#[tokio::test]
async fn google_rate_limit_on_an_item_write_is_server_busy_not_a_refusal() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(rate_limited())
        .mount(&server)
        .await;
    let err = storage(&server)
        .upload(&collection(&server, "/cal/"), &item("ev1"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert!(chain(&err).contains("item ev1"), "{}", chain(&err));
    assert!(chain(&err).contains("server busy"), "{}", chain(&err));
    assert_eq!(count(&server, "PUT").await, 3);
}

#[tokio::test]
async fn google_bearer_token_goes_with_every_request() {
    let server = MockServer::start().await;
    Mock::given(header("authorization", "Bearer ya29.a0-token"))
        .and(method("PROPFIND"))
        .respond_with(ms(listing(&["/cal/a.ics"])))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(header("authorization", "Bearer ya29.a0-token"))
        .and(method("REPORT"))
        .respond_with(MiniDav::default())
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(401).insert_header("WWW-Authenticate", "Bearer"))
        .with_priority(2)
        .mount(&server)
        .await;
    let mut o = opts(&server, "/cal/", ItemKind::Calendar);
    o.transport.auth = AuthMode::Bearer;
    o.transport.password = Some(Secret::from("ya29.a0-token"));
    let s = DavStorage::new(o).unwrap();
    let c = collection(&server, "/cal/");
    assert_eq!(s.list(&c).await.unwrap().len(), 1);
    s.get_many(&c, &[Href::from("/cal/a.ics")]).await.unwrap();
    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 2);
    assert!(reqs
        .iter()
        .all(|r| r.headers.get("authorization").unwrap() == "Bearer ya29.a0-token"));
}

#[tokio::test]
async fn google_rate_limited_multiget_is_not_split_into_more_requests() {
    let server = MockServer::start().await;
    Mock::given(method("REPORT"))
        .respond_with(rate_limited())
        .mount(&server)
        .await;
    let hrefs: Vec<Href> = (0..10).map(|i| Href(format!("/cal/e{i}.ics"))).collect();
    let err = storage(&server)
        .get_many(&collection(&server, "/cal/"), &hrefs)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert!(chain(&err).contains("server busy"), "{}", chain(&err));
    // One batch: the first attempt and the policy's retries, no halves.
    assert_eq!(count(&server, "REPORT").await, 4);
}

#[tokio::test]
async fn google_rate_limit_during_discovery_fails_it_instead_of_guessing_the_home_set() {
    let server = MockServer::start().await;
    Mock::given(method("PROPFIND"))
        .respond_with(rate_limited())
        .mount(&server)
        .await;
    let s = DavStorage::new(opts(&server, "/caldav/v2/alice/", ItemKind::Calendar)).unwrap();
    let err = s.discover().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert!(chain(&err).contains("server busy"), "{}", chain(&err));
    // The first step's attempts only: no well-known lookup, no listing of a guessed home.
    assert_eq!(count(&server, "PROPFIND").await, 3);
}
