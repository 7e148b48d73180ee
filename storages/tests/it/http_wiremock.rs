//! The read-only `http` storage (iCalendar subscriptions) against a mock server.

use crate::dav_support;

use davsync_storages::http::{HttpOptions, HttpStorage};
use davsync_storages::{Collection, ErrorKind, Etag, Href, Item, ItemKind, Storage};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn feed(summary_b: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//feed//EN\r\n\
         BEGIN:VEVENT\r\nUID:event-a\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240102T100000Z\r\nSUMMARY:A\r\nEND:VEVENT\r\n\
         BEGIN:VEVENT\r\nUID:event-b\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240103T100000Z\r\nSUMMARY:{summary_b}\r\nEND:VEVENT\r\n\
         BEGIN:VEVENT\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240104T100000Z\r\nSUMMARY:no uid\r\nEND:VEVENT\r\n\
         END:VCALENDAR\r\n"
    )
}

fn storage(server: &MockServer) -> HttpStorage {
    HttpStorage::new(HttpOptions {
        transport: dav_support::transport(&server.uri(), "/holidays.ics"),
    })
    .unwrap()
}

async fn root(s: &HttpStorage) -> Collection {
    s.root_collection().await.unwrap()
}

fn ics_response(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.into_bytes(), "text/calendar; charset=utf-8")
}

#[tokio::test]
async fn feed_items_are_identified_by_uid_or_content_hash() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/holidays.ics"))
        .respond_with(ics_response(feed("B")))
        .mount(&server)
        .await;
    let s = storage(&server);
    assert!(s.read_only());
    let c = root(&s).await;
    let listed = s.list(&c).await.unwrap();
    assert_eq!(listed.len(), 3);
    let hrefs: Vec<&str> = listed.iter().map(|r| r.href.as_str()).collect();
    assert!(
        hrefs.contains(&"event-a") && hrefs.contains(&"event-b"),
        "{hrefs:?}"
    );
    let hrefs: Vec<Href> = listed.iter().map(|r| r.href.clone()).collect();
    let got = s.get_many(&c, &hrefs).await.unwrap();
    for ((href, res), listed) in got.iter().zip(&listed) {
        let (item, etag) = res.as_ref().unwrap();
        assert_eq!(item.ident(), href.as_str());
        assert_eq!(etag, &listed.etag);
    }
    // The listing's download served the reads.
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    let no_uid = got
        .iter()
        .find(|(_, r)| r.as_ref().unwrap().0.uid().is_none())
        .unwrap();
    assert_eq!(
        no_uid.0.as_str(),
        no_uid.1.as_ref().unwrap().0.hash().as_str()
    );
}

#[tokio::test]
async fn an_unchanged_event_keeps_its_etag_when_another_changes() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ics_response(feed("B")))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ics_response(feed("B, moved")))
        .with_priority(2)
        .mount(&server)
        .await;
    let s = storage(&server);
    let c = root(&s).await;
    let etag = |l: &[davsync_storages::ItemRef], h: &str| -> Etag {
        l.iter()
            .find(|r| r.href.as_str() == h)
            .unwrap()
            .etag
            .clone()
    };
    let before = s.list(&c).await.unwrap();
    let after = s.list(&c).await.unwrap();
    assert_eq!(etag(&before, "event-a"), etag(&after, "event-a"));
    assert_ne!(etag(&before, "event-b"), etag(&after, "event-b"));
    // The edited event keeps its href: it is updated in place, not deleted and re-created.
    assert_eq!(before.len(), after.len());
}

#[tokio::test]
async fn get_all_downloads_the_feed_once() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ics_response(feed("B")))
        .expect(1)
        .mount(&server)
        .await;
    let s = storage(&server);
    let all = s.get_all(&root(&s).await).await.unwrap().unwrap();
    assert_eq!(all.len(), 3);
}

#[tokio::test]
async fn every_write_fails_read_only() {
    let server = MockServer::start().await;
    let s = storage(&server);
    let c = root(&s).await;
    let item = Item::parse(ItemKind::Calendar, dav_support::ics("x")).unwrap();
    let href = Href::from("x");
    let etag = Etag::from("e");
    assert_eq!(
        s.upload(&c, &item).await.unwrap_err().kind(),
        ErrorKind::ReadOnly
    );
    assert_eq!(
        s.update(&c, &href, &item, &etag).await.unwrap_err().kind(),
        ErrorKind::ReadOnly
    );
    assert_eq!(
        s.delete(&c, &href, &etag).await.unwrap_err().kind(),
        ErrorKind::ReadOnly
    );
    assert_eq!(
        s.set_meta(&c, davsync_storages::MetaKey::Color, Some("#fff"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::ReadOnly
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_html_page_instead_of_the_feed_is_invalid_data_not_an_empty_feed() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw("<html><body>Maintenance</body></html>", "text/html"),
        )
        .mount(&server)
        .await;
    let s = storage(&server);
    let err = s.list(&root(&s).await).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    let text = err.to_string();
    assert!(
        text.contains("/holidays.ics") && text.contains("200"),
        "{text}"
    );
}

#[tokio::test]
async fn an_empty_body_is_invalid_data() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let s = storage(&server);
    assert_eq!(
        s.list(&root(&s).await).await.unwrap_err().kind(),
        ErrorKind::InvalidData
    );
}

#[tokio::test]
async fn a_missing_feed_is_not_found() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let s = storage(&server);
    assert_eq!(
        s.list(&root(&s).await).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn redirects_are_followed_for_feeds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/holidays.ics"))
        .respond_with(ResponseTemplate::new(302).insert_header("Location", "/v2/holidays.ics"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/holidays.ics"))
        .respond_with(ics_response(feed("B")))
        .mount(&server)
        .await;
    let s = storage(&server);
    assert_eq!(s.list(&root(&s).await).await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_feed_has_no_collections_to_discover() {
    let server = MockServer::start().await;
    let s = storage(&server);
    assert_eq!(
        s.discover().await.unwrap_err().kind(),
        ErrorKind::Unsupported
    );
}

#[tokio::test]
async fn a_calendar_without_events_is_an_empty_feed() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ics_response(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//feed//EN\r\nEND:VCALENDAR\r\n".into(),
        ))
        .mount(&server)
        .await;
    let s = storage(&server);
    assert!(s.list(&root(&s).await).await.unwrap().is_empty());
}
