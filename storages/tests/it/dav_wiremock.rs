//! The CalDAV/CardDAV storage against a mock server: every request type and the server
//! quirks davsync must survive.

use crate::dav_support;

use dav_support::*;
use davsync_storages::dav::DavStorage;
use davsync_storages::{
    Collection, CollectionToken, ErrorKind, Etag, Href, Item, ItemKind, MetaKey, Storage,
};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn storage(server: &MockServer, kind: ItemKind) -> DavStorage {
    DavStorage::new(opts(server, "/cal/", kind)).unwrap()
}

fn no_writes(reqs: &[Request]) -> bool {
    reqs.iter()
        .all(|r| !matches!(r.method.as_str(), "PUT" | "DELETE" | "PROPPATCH" | "MKCOL"))
}

// ---------------------------------------------------------------------------------------
// Listing

#[tokio::test]
async fn list_handles_relative_absolute_hrefs_and_any_namespace_prefix() {
    let server = MockServer::start().await;
    let abs = format!("{}/cal/abs%20olute.ics", server.uri());
    let body = format!(
        r#"<?xml version="1.0"?>
<multistatus xmlns="DAV:">
  <response><href>/cal/</href><propstat><prop><resourcetype><collection/></resourcetype>
    <getetag>"ctag"</getetag></prop><status>HTTP/1.1 200 OK</status></propstat></response>
  <response><href>relative.ics</href><propstat><prop><getetag>"e1"</getetag>
    <getcontenttype>text/calendar; charset=utf-8</getcontenttype><resourcetype/></prop>
    <status>HTTP/1.1 200 OK</status></propstat></response>
  <D:response xmlns:D="DAV:"><D:href>{abs}</D:href><D:propstat><D:prop>
    <D:getetag>W/"e2"</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
  <x:response xmlns:x="DAV:"><x:href>/cal/sub/</x:href><x:propstat><x:prop><x:resourcetype>
    <x:collection/></x:resourcetype></x:prop><x:status>HTTP/1.1 200 OK</x:status></x:propstat></x:response>
  <response><href>/cal/page.html</href><propstat><prop><getetag>"e3"</getetag>
    <getcontenttype>text/html</getcontenttype></prop><status>HTTP/1.1 200 OK</status></propstat></response>
</multistatus>"#
    );
    Mock::given(method("PROPFIND"))
        .and(path("/cal/"))
        .and(header("depth", "1"))
        .respond_with(ms(body))
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    let mut listed = s.list(&collection(&server, "/cal/")).await.unwrap();
    listed.sort_by(|a, b| a.href.cmp(&b.href));
    let got: Vec<(&str, &str)> = listed
        .iter()
        .map(|r| (r.href.as_str(), r.etag.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("/cal/abs%20olute.ics", "W/\"e2\""),
            ("/cal/relative.ics", "\"e1\"")
        ]
    );
}

#[tokio::test]
async fn missing_etags_are_replaced_by_a_hash_of_the_body() {
    let server = MockServer::start().await;
    Mock::given(method("PROPFIND"))
        .respond_with(ms(
            r#"<d:multistatus xmlns:d="DAV:"><d:response><d:href>/cal/a.ics</d:href>
            <d:propstat><d:prop><d:resourcetype/></d:prop><d:status>HTTP/1.1 200 OK</d:status>
            </d:propstat></d:response></d:multistatus>"#,
        ))
        .mount(&server)
        .await;
    let data = ics("a");
    Mock::given(method("REPORT"))
        .and(body_string_contains("calendar-multiget"))
        .respond_with(ms(format!(
            r#"<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
            <d:response><d:href>/cal/a.ics</d:href><d:propstat><d:prop>
            <c:calendar-data>{data}</c:calendar-data></d:prop>
            <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"#
        )))
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    let c = collection(&server, "/cal/");
    let first = s.list(&c).await.unwrap();
    let second = s.list(&c).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(
        first[0].etag.as_str().starts_with("davsync-sha256:"),
        "{:?}",
        first[0]
    );
    assert_eq!(first, second, "a hash etag is stable while the body is");
    // A read gives the same version token as the listing.
    let (got, etag) = s.get(&c, &Href::from("/cal/a.ics")).await.unwrap();
    assert_eq!(etag, first[0].etag);
    assert_eq!(got.raw(), data.as_bytes());
}

#[tokio::test]
async fn html_instead_of_multistatus_is_invalid_data_naming_url_and_status_and_nothing_is_written()
{
    let server = MockServer::start().await;
    Mock::given(method("PROPFIND"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw("<html><body>Please log in</body></html>", "text/html"),
        )
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    let err = s.list(&collection(&server, "/cal/")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    let text = err.to_string();
    assert!(text.contains(&format!("{}/cal/", server.uri())), "{text}");
    assert!(text.contains("200"), "{text}");
    assert!(no_writes(&requests(&server).await));
}

#[tokio::test]
async fn truncated_multistatus_fails_the_listing() {
    let server = MockServer::start().await;
    Mock::given(method("PROPFIND"))
        .respond_with(ms(
            r#"<d:multistatus xmlns:d="DAV:"><d:response><d:href>/cal/a.ics</d:href>
            <d:propstat><d:prop><d:getetag>"1"</d:getetag></d:prop>"#,
        ))
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    let err = s.list(&collection(&server, "/cal/")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    assert!(err.to_string().contains("/cal/"), "{err}");
}

#[tokio::test]
async fn listing_truncated_by_the_server_fails_rather_than_reading_as_deletions() {
    let server = MockServer::start().await;
    Mock::given(method("PROPFIND"))
        .respond_with(ms(r#"<d:multistatus xmlns:d="DAV:">
            <d:response><d:href>/cal/a.ics</d:href><d:propstat><d:prop><d:getetag>"1"</d:getetag>
            </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
            <d:response><d:href>/cal/</d:href><d:status>HTTP/1.1 507 Insufficient Storage</d:status>
            </d:response></d:multistatus>"#))
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    let err = s.list(&collection(&server, "/cal/")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
}

#[tokio::test]
async fn time_range_and_item_types_list_through_calendar_query() {
    let server = MockServer::start().await;
    Mock::given(method("REPORT"))
        .and(body_string_contains("calendar-query"))
        .and(body_string_contains("VTODO"))
        .and(body_string_contains("20240101T000000Z"))
        .respond_with(ms(
            r#"<d:multistatus xmlns:d="DAV:"><d:response><d:href>/cal/t.ics</d:href>
            <d:propstat><d:prop><d:getetag>"t"</d:getetag></d:prop>
            <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"#,
        ))
        .expect(1)
        .mount(&server)
        .await;
    let mut o = opts(&server, "/cal/", ItemKind::Calendar);
    o.item_types = vec!["vtodo".into()];
    o.start = Some("2024-01-01T00:00:00Z".parse().unwrap());
    let s = DavStorage::new(o).unwrap();
    let listed = s.list(&collection(&server, "/cal/")).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].href.as_str(), "/cal/t.ics");
    // sync-collection cannot filter: the engine must list instead.
    assert!(s
        .changes(&collection(&server, "/cal/"), None)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn unknown_item_type_is_a_config_error() {
    let server = MockServer::start().await;
    let mut o = opts(&server, "/cal/", ItemKind::Calendar);
    o.item_types = vec!["VEVENTS".into()];
    let err = DavStorage::new(o).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("VEVENTS"));
}

// ---------------------------------------------------------------------------------------
// Reads

#[tokio::test]
async fn multiget_with_a_per_item_404_fails_that_item_alone() {
    let server = MockServer::start().await;
    let data = ics("ok");
    Mock::given(method("REPORT"))
        .and(body_string_contains("calendar-multiget"))
        .respond_with(ms(format!(
            r#"<D:multistatus xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
            <D:response><D:href>/cal/ok.ics</D:href><D:propstat><D:prop><D:getetag>"1"</D:getetag>
            <C:calendar-data><![CDATA[{data}]]></C:calendar-data></D:prop>
            <D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
            <D:response><D:href>/cal/gone.ics</D:href><D:status>HTTP/1.1 404 Not Found</D:status>
            </D:response></D:multistatus>"#
        )))
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    // Left out of the answer: asked for alone.
    Mock::given(method("GET"))
        .and(path("/cal/unanswered.ics"))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    let hrefs = [
        Href::from("/cal/ok.ics"),
        Href::from("/cal/gone.ics"),
        Href::from("/cal/unanswered.ics"),
    ];
    let got = s
        .get_many(&collection(&server, "/cal/"), &hrefs)
        .await
        .unwrap();
    assert_eq!(got.len(), 3);
    let by: std::collections::HashMap<_, _> = got.into_iter().collect();
    let (item, etag) = by[&hrefs[0]].as_ref().unwrap();
    assert_eq!(item.uid(), Some("ok"));
    assert_eq!(etag.as_str(), "\"1\"");
    let err = by[&hrefs[1]].as_ref().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("/cal/gone.ics"), "{err}");
    assert_eq!(
        by[&hrefs[2]].as_ref().unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn multiget_is_sent_in_batches() {
    let server = MockServer::start().await;
    let dav = MiniDav::default();
    Mock::given(wiremock::matchers::any())
        .respond_with(dav.clone())
        .mount(&server)
        .await;
    let mut o = opts(&server, "/cal/", ItemKind::Calendar);
    o.multiget_batch = 2;
    let s = DavStorage::new(o).unwrap();
    let c = collection(&server, "/cal/");
    let mut hrefs = Vec::new();
    for i in 0..5 {
        hrefs.push(s.upload(&c, &item(&format!("u{i}"))).await.unwrap().0);
    }
    let got = s.get_many(&c, &hrefs).await.unwrap();
    assert!(got.iter().all(|(_, r)| r.is_ok()));
    let reports = requests(&server)
        .await
        .iter()
        .filter(|r| r.method.as_str() == "REPORT")
        .count();
    assert_eq!(reports, 3);
}

#[tokio::test]
async fn get_all_reads_the_collection_with_one_calendar_query() {
    let server = MockServer::start().await;
    let (a, b) = (ics("a"), ics("b"));
    Mock::given(method("REPORT"))
        .and(body_string_contains("calendar-query"))
        .and(body_string_contains("calendar-data"))
        .respond_with(ms(format!(
            r#"<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
            <response><href>/cal/a.ics</href><propstat><prop><getetag>"a"</getetag>
            <C:calendar-data>{a}</C:calendar-data></prop><status>HTTP/1.1 200 OK</status></propstat></response>
            <response><href>/cal/b.ics</href><propstat><prop><getetag>"b"</getetag>
            <C:calendar-data>{b}</C:calendar-data></prop><status>HTTP/1.1 200 OK</status></propstat></response>
            </multistatus>"#
        )))
        .expect(1)
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    let all = s
        .get_all(&collection(&server, "/cal/"))
        .await
        .unwrap()
        .expect("a DAV storage reads everything in one go");
    let mut uids: Vec<_> = all
        .iter()
        .map(|(_, r)| r.as_ref().unwrap().0.uid().unwrap().to_owned())
        .collect();
    uids.sort();
    assert_eq!(uids, ["a", "b"]);
}

#[tokio::test]
async fn get_all_for_contacts_uses_addressbook_query() {
    let server = MockServer::start().await;
    let card = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c1\r\nFN:Someone\r\nEND:VCARD\r\n";
    Mock::given(method("REPORT"))
        .and(body_string_contains("addressbook-query"))
        .respond_with(ms(format!(
            r#"<d:multistatus xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav">
            <d:response><d:href>/cal/c1.vcf</d:href><d:propstat><d:prop><d:getetag>"c"</d:getetag>
            <card:address-data>{card}</card:address-data></d:prop>
            <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"#
        )))
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Contacts);
    let all = s
        .get_all(&collection(&server, "/cal/"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].1.as_ref().unwrap().0.raw(), card.as_bytes());
}

// ---------------------------------------------------------------------------------------
// Writes

#[tokio::test]
async fn upload_puts_with_if_none_match_under_the_uid() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/cal/event-1.ics"))
        .and(header("if-none-match", "*"))
        .and(header("content-type", "text/calendar; charset=utf-8"))
        .respond_with(ResponseTemplate::new(201).insert_header("ETag", "\"new\""))
        .expect(1)
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    let (href, etag) = s
        .upload(&collection(&server, "/cal/"), &item("event-1"))
        .await
        .unwrap();
    assert_eq!(href.as_str(), "/cal/event-1.ics");
    assert_eq!(etag.as_str(), "\"new\"");
    assert_eq!(s.preferred_href("event-1"), Some(Href::from("event-1.ics")));
}

/// The href an upload that met an existing item records comes from `preferred_href`, a bare
/// file name; the listings give the absolute path. Recorded as it was, the next listing
/// showed the item twice ("duplicate UID up-35 in /dav/.../up-35.ics, up-35.ics", after a
/// killed upload against Cyrus).
#[tokio::test]
async fn a_preferred_href_is_given_in_the_form_listings_give() {
    let server = MockServer::start().await;
    let s = storage(&server, ItemKind::Calendar);
    let c = collection(&server, "/cal/");
    let preferred = s.preferred_href("up-35").unwrap();
    assert_eq!(s.listed_href(&c, &preferred), Href::from("/cal/up-35.ics"));
    let listed = Href::from("/cal/x%20y.ics");
    assert_eq!(s.listed_href(&c, &listed), listed);
    // Wrappers forward it.
    let ro = davsync_storages::wrappers::ReadOnly::new(std::sync::Arc::new(s));
    assert_eq!(ro.listed_href(&c, &preferred), Href::from("/cal/up-35.ics"));
}

#[tokio::test]
async fn upload_answered_412_is_already_exists() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(412))
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    let err = s
        .upload(&collection(&server, "/cal/"), &item("taken"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert!(err.to_string().contains("taken"), "{err}");
}

#[tokio::test]
async fn update_and_delete_send_if_match_and_412_is_precondition_failed() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(header("if-match", "\"old\""))
        .respond_with(ResponseTemplate::new(412))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(header("if-match", "\"old\""))
        .respond_with(ResponseTemplate::new(412))
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    let c = collection(&server, "/cal/");
    let href = Href::from("/cal/x.ics");
    let err = s
        .update(&c, &href, &item("x"), &Etag::from("\"old\""))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed);
    assert!(err.to_string().contains("x.ics"), "{err}");
    let err = s
        .delete(&c, &href, &Etag::from("\"old\""))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed);
}

#[tokio::test]
async fn weak_etag_goes_into_if_match_in_its_strong_form() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(header("if-match", "\"w\""))
        .respond_with(ResponseTemplate::new(204).insert_header("ETag", "\"w2\""))
        .expect(1)
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    let etag = s
        .update(
            &collection(&server, "/cal/"),
            &Href::from("/cal/w.ics"),
            &item("w"),
            &Etag::from("W/\"w\""),
        )
        .await
        .unwrap();
    assert_eq!(etag.as_str(), "\"w2\"");
}

#[tokio::test]
async fn refused_item_fails_alone_with_uid_and_href() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(403))
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    let err = s
        .upload(&collection(&server, "/cal/"), &item("bad-one"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Refused);
    let text = err.to_string();
    assert!(
        text.contains("bad-one") && text.contains("/cal/bad-one.ics"),
        "{text}"
    );
}

#[tokio::test]
async fn location_header_on_put_gives_the_href() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(
            ResponseTemplate::new(201)
                .insert_header("Location", "/cal/server-chose-this.ics")
                .insert_header("ETag", "\"s\""),
        )
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    let (href, etag) = s
        .upload(&collection(&server, "/cal/"), &item("mine"))
        .await
        .unwrap();
    assert_eq!(href.as_str(), "/cal/server-chose-this.ics");
    assert_eq!(etag.as_str(), "\"s\"");
}

#[tokio::test]
async fn put_without_etag_reads_it_back_with_propfind() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;
    Mock::given(method("PROPFIND"))
        .and(path("/cal/noetag.ics"))
        .and(header("depth", "0"))
        .respond_with(ms(
            r#"<d:multistatus xmlns:d="DAV:"><d:response><d:href>/cal/noetag.ics</d:href>
            <d:propstat><d:prop><d:getetag>"read-back"</d:getetag></d:prop>
            <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"#,
        ))
        .expect(1)
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    let (_, etag) = s
        .upload(&collection(&server, "/cal/"), &item("noetag"))
        .await
        .unwrap();
    assert_eq!(etag.as_str(), "\"read-back\"");
}

#[tokio::test]
async fn put_without_etag_anywhere_uses_the_hash_of_what_get_returns() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    Mock::given(method("PROPFIND"))
        .respond_with(ResponseTemplate::new(405))
        .mount(&server)
        .await;
    let stored = ics("plain");
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(stored.clone(), "text/calendar"))
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    let (_, etag) = s
        .upload(&collection(&server, "/cal/"), &item("plain"))
        .await
        .unwrap();
    assert!(etag.as_str().starts_with("davsync-sha256:"), "{etag}");
}

#[tokio::test]
async fn odd_uids_round_trip_through_upload_and_get() {
    let server = MockServer::start().await;
    let dav = MiniDav::default();
    Mock::given(wiremock::matchers::any())
        .respond_with(dav.clone())
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    let c = collection(&server, "/cal/");
    let long = "x".repeat(300);
    for uid in ["..", ".hidden", long.as_str(), "a/b?c#d", "plain-uid"] {
        let it = item(uid);
        let (href, etag) = s.upload(&c, &it).await.unwrap();
        assert!(href.as_str().starts_with("/cal/"), "{uid:?} -> {href}");
        assert!(!href.as_str()[5..].contains('/'), "{uid:?} -> {href}");
        assert!(!href.as_str()[5..].starts_with('.'), "{uid:?} -> {href}");
        let (back, back_etag) = s.get(&c, &href).await.unwrap();
        assert_eq!(back.uid(), Some(uid));
        assert_eq!(back.raw(), it.raw());
        assert_eq!(back_etag, etag);
        // A second upload of the same UID is refused, never overwritten.
        assert_eq!(
            s.upload(&c, &it).await.unwrap_err().kind(),
            ErrorKind::AlreadyExists
        );
    }
    let listed = s.list(&c).await.unwrap();
    assert_eq!(listed.len(), 5);
    // Delete with the right etag works, with a stale one does not.
    let (href, etag) = (&listed[0].href, &listed[0].etag);
    assert_eq!(
        s.delete(&c, href, &Etag::from("\"stale\""))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::PreconditionFailed
    );
    s.delete(&c, href, etag).await.unwrap();
    assert_eq!(s.list(&c).await.unwrap().len(), 4);
}

/// The storage names the item; the engine adds the one `davsync repair` hint (its own tests).
#[tokio::test]
async fn item_without_uid_refused_by_the_server_is_a_refusal_naming_the_item() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(415))
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    let no_uid = Item::parse(
        ItemKind::Calendar,
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    )
    .unwrap();
    let err = s
        .upload(&collection(&server, "/cal/"), &no_uid)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Refused);
    assert!(err.to_string().contains("item without UID"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Retries, auth, errors

#[tokio::test]
async fn retry_after_503_then_success() {
    let server = MockServer::start().await;
    Mock::given(method("PROPFIND"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "0"))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("PROPFIND"))
        .respond_with(ms(r#"<d:multistatus xmlns:d="DAV:"/>"#))
        .with_priority(2)
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    let listed = s.list(&collection(&server, "/cal/")).await.unwrap();
    assert!(listed.is_empty());
    assert_eq!(requests(&server).await.len(), 3);
}

#[tokio::test]
async fn persistent_5xx_is_a_transport_error_after_bounded_attempts() {
    let server = MockServer::start().await;
    Mock::given(method("PROPFIND"))
        .respond_with(ResponseTemplate::new(502))
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    let err = s.list(&collection(&server, "/cal/")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert_eq!(requests(&server).await.len(), 3);
}

#[tokio::test]
async fn not_implemented_is_final_and_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("PROPFIND"))
        .respond_with(ResponseTemplate::new(501))
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    s.list(&collection(&server, "/cal/")).await.unwrap_err();
    assert_eq!(requests(&server).await.len(), 1);
}

#[tokio::test]
async fn writes_are_not_retried_on_a_failure_that_may_have_acted() {
    let server = MockServer::start().await;
    // A 500, or a 503 without `Retry-After`, may come after the write took effect.
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    let c = collection(&server, "/cal/");
    let err = s.upload(&c, &item("once")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport);
    let err = s
        .delete(&c, &Href::from("/cal/once.ics"), &Etag::from("\"1\""))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert_eq!(write_methods(&server).await, ["PUT", "DELETE"]);
}

async fn write_methods(server: &MockServer) -> Vec<String> {
    requests(server)
        .await
        .iter()
        .map(|r| r.method.to_string())
        .filter(|m| m != "PROPFIND")
        .collect()
}

/// A 503 with `Retry-After` says the server did not take the request and when to come back;
/// the PUT is conditional (`If-None-Match: *`), so a second copy cannot do more than the
/// first would have.
#[tokio::test]
async fn a_conditional_write_answered_503_with_retry_after_is_sent_again() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(header("If-None-Match", "*"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "0"))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(201).insert_header("ETag", "\"e1\""))
        .with_priority(2)
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    let c = collection(&server, "/cal/");
    s.upload(&c, &item("later")).await.unwrap();
    assert_eq!(write_methods(&server).await, ["PUT", "PUT", "PUT"]);
}

#[tokio::test]
async fn a_write_told_to_come_back_after_the_timeout_fails_at_once() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "3600"))
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    let err = s
        .upload(&collection(&server, "/cal/"), &item("much-later"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert!(err.to_string().contains("503"), "{err}");
    assert_eq!(write_methods(&server).await, ["PUT"]);
}

#[tokio::test]
async fn a_write_kept_at_503_with_retry_after_fails_after_bounded_attempts() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "0"))
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    let err = s
        .delete(
            &collection(&server, "/cal/"),
            &Href::from("/cal/x.ics"),
            &Etag::from("\"1\""),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert_eq!(write_methods(&server).await, ["DELETE"; 3]);
}

fn digest_challenge() -> ResponseTemplate {
    ResponseTemplate::new(401)
        .append_header(
            "WWW-Authenticate",
            "Digest realm=\"dav\", nonce=\"n0nce\", qop=\"auth\", algorithm=SHA-256",
        )
        .append_header("WWW-Authenticate", "Basic realm=\"dav\"")
}

fn mount_digest_server() -> Vec<Mock> {
    vec![
        Mock::given(method("PROPFIND"))
            .and(valid_digest)
            .respond_with(ms(r#"<d:multistatus xmlns:d="DAV:"/>"#))
            .with_priority(1),
        Mock::given(method("PROPFIND"))
            .respond_with(digest_challenge())
            .with_priority(2),
    ]
}

#[tokio::test]
async fn guess_answers_a_digest_challenge_and_keeps_using_digest() {
    let server = MockServer::start().await;
    for m in mount_digest_server() {
        m.mount(&server).await;
    }
    let s = storage(&server, ItemKind::Calendar);
    let c = collection(&server, "/cal/");
    s.list(&c).await.unwrap();
    s.list(&c).await.unwrap();
    let reqs = requests(&server).await;
    let auths: Vec<Option<String>> = reqs
        .iter()
        .map(|r| {
            r.headers
                .get("authorization")
                .map(|v| v.to_str().unwrap().split(' ').next().unwrap().to_owned())
        })
        .collect();
    // No credentials before the challenge; Digest after, without a second round trip.
    assert_eq!(
        auths,
        vec![None, Some("Digest".to_owned()), Some("Digest".to_owned())]
    );
}

#[tokio::test]
async fn digest_mode_answers_the_challenge() {
    let server = MockServer::start().await;
    for m in mount_digest_server() {
        m.mount(&server).await;
    }
    let mut o = opts(&server, "/cal/", ItemKind::Calendar);
    o.transport.auth = davsync_storages::net::AuthMode::Digest;
    let s = DavStorage::new(o).unwrap();
    s.list(&collection(&server, "/cal/")).await.unwrap();
}

#[tokio::test]
async fn guess_never_sends_credentials_unchallenged() {
    let server = MockServer::start().await;
    Mock::given(method("PROPFIND"))
        .respond_with(ms(r#"<d:multistatus xmlns:d="DAV:"/>"#))
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    s.list(&collection(&server, "/cal/")).await.unwrap();
    s.list(&collection(&server, "/cal/")).await.unwrap();
    assert!(requests(&server)
        .await
        .iter()
        .all(|r| r.headers.get("authorization").is_none()));
}

#[tokio::test]
async fn basic_sends_credentials_with_the_first_request() {
    let server = MockServer::start().await;
    Mock::given(method("PROPFIND"))
        // base64("alice:hunter2-very-secret")
        .and(header(
            "authorization",
            "Basic YWxpY2U6aHVudGVyMi12ZXJ5LXNlY3JldA==",
        ))
        .respond_with(ms(r#"<d:multistatus xmlns:d="DAV:"/>"#))
        .expect(1)
        .mount(&server)
        .await;
    let mut o = opts(&server, "/cal/", ItemKind::Calendar);
    o.transport.auth = davsync_storages::net::AuthMode::Basic;
    let s = DavStorage::new(o).unwrap();
    s.list(&collection(&server, "/cal/")).await.unwrap();
    assert_eq!(requests(&server).await.len(), 1);
}

#[tokio::test]
async fn guess_falls_back_to_basic_when_digest_is_not_offered() {
    let server = MockServer::start().await;
    Mock::given(method("PROPFIND"))
        .and(header(
            "authorization",
            "Basic YWxpY2U6aHVudGVyMi12ZXJ5LXNlY3JldA==",
        ))
        .respond_with(ms(r#"<d:multistatus xmlns:d="DAV:"/>"#))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("PROPFIND"))
        .respond_with(
            ResponseTemplate::new(401).insert_header("WWW-Authenticate", "Basic realm=\"x\""),
        )
        .with_priority(2)
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    s.list(&collection(&server, "/cal/")).await.unwrap();
}

#[tokio::test]
async fn wrong_password_is_an_auth_error() {
    let server = MockServer::start().await;
    Mock::given(method("PROPFIND"))
        .respond_with(
            ResponseTemplate::new(401).insert_header("WWW-Authenticate", "Basic realm=\"x\""),
        )
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    let err = s.list(&collection(&server, "/cal/")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    // One unauthenticated try, one answer; never a loop.
    assert_eq!(requests(&server).await.len(), 2);
}

#[tokio::test]
async fn bearer_sends_the_token() {
    let server = MockServer::start().await;
    Mock::given(method("PROPFIND"))
        .and(header(
            "authorization",
            format!("Bearer {PASSWORD}").as_str(),
        ))
        .respond_with(ms(r#"<d:multistatus xmlns:d="DAV:"/>"#))
        .expect(1)
        .mount(&server)
        .await;
    let mut o = opts(&server, "/cal/", ItemKind::Calendar);
    o.transport.auth = davsync_storages::net::AuthMode::Bearer;
    let s = DavStorage::new(o).unwrap();
    s.list(&collection(&server, "/cal/")).await.unwrap();
}

#[tokio::test]
async fn oversized_response_is_invalid_data_naming_the_url() {
    let server = MockServer::start().await;
    Mock::given(method("PROPFIND"))
        .respond_with(ms(format!(
            r#"<d:multistatus xmlns:d="DAV:"><!-- {} --></d:multistatus>"#,
            "x".repeat(4096)
        )))
        .mount(&server)
        .await;
    let mut o = opts(&server, "/cal/", ItemKind::Calendar);
    o.transport.max_response_bytes = 1024;
    let s = DavStorage::new(o).unwrap();
    let err = s.list(&collection(&server, "/cal/")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    assert!(
        err.to_string().contains(&format!("{}/cal/", server.uri())),
        "{err}"
    );
}

#[tokio::test]
async fn body_cut_short_by_the_connection_is_invalid_data() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    let task = tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buf = vec![0u8; 8192];
            let _ = sock.read(&mut buf).await;
            let _ = sock
                .write_all(
                    b"HTTP/1.1 207 Multi-Status\r\nContent-Type: application/xml\r\n\
                      Content-Length: 5000\r\n\r\n<d:multistatus xmlns:d=\"DAV:\"><d:response>",
                )
                .await;
            drop(sock);
        }
    });
    let s = DavStorage::new(davsync_storages::dav::DavOptions::new(
        transport(&format!("http://{addr}"), "/cal/"),
        ItemKind::Calendar,
    ))
    .unwrap();
    let c = Collection {
        href: format!("http://{addr}/cal/"),
        name: String::new(),
    };
    let err = s.list(&c).await.unwrap_err();
    task.abort();
    assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");
    // A read is retried (the cut may be transient) within the bound.
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 3);
}

// ---------------------------------------------------------------------------------------
// Incremental sync

const SYNC_PAGE_1: &str = r#"<d:multistatus xmlns:d="DAV:">
  <d:response><d:href>/cal/a.ics</d:href><d:propstat><d:prop><d:getetag>"a1"</d:getetag>
  </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
  <d:response><d:href>/cal/</d:href><d:status>HTTP/1.1 507 Insufficient Storage</d:status></d:response>
  <d:sync-token>http://example.com/sync/2</d:sync-token></d:multistatus>"#;

const SYNC_PAGE_2: &str = r#"<d:multistatus xmlns:d="DAV:">
  <d:response><d:href>/cal/b.ics</d:href><d:propstat><d:prop><d:getetag>"b1"</d:getetag>
  </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
  <d:response><d:href>/cal/old.ics</d:href><d:status>HTTP/1.1 404 Not Found</d:status></d:response>
  <d:sync-token>http://example.com/sync/3</d:sync-token></d:multistatus>"#;

#[tokio::test]
async fn sync_collection_reports_changes_and_deletions_since_the_token() {
    let server = MockServer::start().await;
    Mock::given(method("REPORT"))
        .and(body_string_contains("sync-collection"))
        .and(body_string_contains("http://example.com/sync/2"))
        .respond_with(ms(SYNC_PAGE_2))
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    let ch = s
        .changes(
            &collection(&server, "/cal/"),
            Some(&CollectionToken::sync("http://example.com/sync/2")),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(!ch.complete);
    assert_eq!(
        ch.token,
        Some(CollectionToken::sync("http://example.com/sync/3"))
    );
    assert_eq!(ch.changed.len(), 1);
    assert_eq!(ch.changed[0].href.as_str(), "/cal/b.ics");
    assert_eq!(ch.deleted, vec![Href::from("/cal/old.ics")]);
}

fn sync_token_answer(token: &str) -> String {
    format!(
        r#"<d:multistatus xmlns:d="DAV:"><d:response><d:href>/cal/</d:href><d:propstat>
<d:prop><d:sync-token>{token}</d:sync-token></d:prop><d:status>HTTP/1.1 200 OK</d:status>
</d:propstat></d:response></d:multistatus>"#
    )
}

#[tokio::test]
async fn unchanged_sync_token_property_answers_without_the_report() {
    let server = MockServer::start().await;
    Mock::given(method("PROPFIND"))
        .and(body_string_contains("sync-token"))
        .respond_with(ms(sync_token_answer("http://example.com/sync/2")))
        .mount(&server)
        .await;
    Mock::given(method("REPORT"))
        .respond_with(ms(SYNC_PAGE_2))
        .expect(0)
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    let ch = s
        .changes(
            &collection(&server, "/cal/"),
            Some(&CollectionToken::sync("http://example.com/sync/2")),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(!ch.complete);
    assert!(ch.changed.is_empty() && ch.deleted.is_empty());
    assert_eq!(
        ch.token,
        Some(CollectionToken::sync("http://example.com/sync/2"))
    );
    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].headers.get("depth").unwrap(), "0");
}

#[tokio::test]
async fn moved_sync_token_property_leads_to_the_report() {
    let server = MockServer::start().await;
    Mock::given(method("PROPFIND"))
        .respond_with(ms(sync_token_answer("http://example.com/sync/3")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("REPORT"))
        .and(body_string_contains("http://example.com/sync/2"))
        .respond_with(ms(SYNC_PAGE_2))
        .expect(1)
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    let ch = s
        .changes(
            &collection(&server, "/cal/"),
            Some(&CollectionToken::sync("http://example.com/sync/2")),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ch.changed.len(), 1);
    assert_eq!(ch.deleted, vec![Href::from("/cal/old.ics")]);
}

#[tokio::test]
async fn radicale_tokens_skip_the_costly_sync_token_property() {
    let server = MockServer::start().await;
    let token = "http://radicale.org/ns/sync/0123abcd";
    Mock::given(method("PROPFIND"))
        .respond_with(ms(sync_token_answer(token)))
        .expect(0)
        .mount(&server)
        .await;
    Mock::given(method("REPORT"))
        .respond_with(ms(SYNC_PAGE_2.replace("http://example.com/sync/3", token)))
        .expect(1)
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    s.changes(
        &collection(&server, "/cal/"),
        Some(&CollectionToken::sync(token)),
    )
    .await
    .unwrap()
    .unwrap();
}

#[tokio::test]
async fn truncated_sync_collection_is_paged_with_the_new_token() {
    let server = MockServer::start().await;
    Mock::given(method("REPORT"))
        .and(body_string_contains("http://example.com/sync/2"))
        .respond_with(ms(SYNC_PAGE_2))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("REPORT"))
        .and(body_string_contains("sync-collection"))
        .respond_with(ms(SYNC_PAGE_1))
        .with_priority(2)
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    let ch = s
        .changes(&collection(&server, "/cal/"), None)
        .await
        .unwrap()
        .unwrap();
    assert!(
        ch.complete,
        "no token given: the answer is the whole listing"
    );
    let mut hrefs: Vec<_> = ch.changed.iter().map(|r| r.href.as_str()).collect();
    hrefs.sort();
    assert_eq!(hrefs, ["/cal/a.ics", "/cal/b.ics"]);
    assert_eq!(
        ch.token,
        Some(CollectionToken::sync("http://example.com/sync/3"))
    );
    assert_eq!(requests(&server).await.len(), 2);
}

#[tokio::test]
async fn expired_sync_token_falls_back_to_a_complete_listing() {
    let server = MockServer::start().await;
    Mock::given(method("REPORT"))
        .and(body_string_contains("expired-token"))
        .respond_with(ResponseTemplate::new(403).set_body_raw(
            r#"<?xml version="1.0"?><d:error xmlns:d="DAV:"><d:valid-sync-token/></d:error>"#,
            "application/xml",
        ))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("REPORT"))
        .and(body_string_contains("sync-collection"))
        .respond_with(ms(SYNC_PAGE_2))
        .with_priority(2)
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    let ch = s
        .changes(
            &collection(&server, "/cal/"),
            Some(&CollectionToken::sync("expired-token")),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(ch.complete);
    assert!(
        ch.deleted.is_empty(),
        "a complete listing names no deletions"
    );
    assert_eq!(ch.changed.len(), 1);
}

fn ctag_answer(ctag: &str) -> String {
    format!(
        r#"<d:multistatus xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:response>
<d:href>/cal/</d:href><d:propstat><d:prop><cs:getctag>{ctag}</cs:getctag></d:prop>
<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"#
    )
}

const NO_CTAG_ANSWER: &str = r#"<d:multistatus xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/">
<d:response><d:href>/cal/</d:href><d:propstat><d:prop><cs:getctag/></d:prop>
<d:status>HTTP/1.1 404 Not Found</d:status></d:propstat></d:response></d:multistatus>"#;

const LISTING: &str = r#"<d:multistatus xmlns:d="DAV:">
  <d:response><d:href>/cal/</d:href><d:propstat><d:prop><d:resourcetype><d:collection/>
  </d:resourcetype></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
  <d:response><d:href>/cal/a.ics</d:href><d:propstat><d:prop><d:getetag>"a1"</d:getetag>
  <d:resourcetype/></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
  <d:response><d:href>/cal/b.ics</d:href><d:propstat><d:prop><d:getetag>"b1"</d:getetag>
  <d:resourcetype/></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
</d:multistatus>"#;

/// A server without sync-collection: the REPORT answered `report`, the collection's getctag
/// `ctag` (PROPFIND Depth 0) and its members [`LISTING`] (PROPFIND Depth 1).
async fn server_without_sync_collection(report: ResponseTemplate, ctag: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("REPORT"))
        .respond_with(report)
        .mount(&server)
        .await;
    Mock::given(method("PROPFIND"))
        .and(header("depth", "0"))
        .and(body_string_contains("getctag"))
        .respond_with(ms(ctag_answer(ctag)))
        .mount(&server)
        .await;
    Mock::given(method("PROPFIND"))
        .and(header("depth", "1"))
        .respond_with(ms(LISTING))
        .mount(&server)
        .await;
    server
}

/// Method and Depth of each request, in order; repeats in a row (the transport's retries of
/// a 5xx) count once.
fn methods_and_depths(reqs: &[Request]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = reqs
        .iter()
        .map(|r| {
            let depth = r
                .headers
                .get("depth")
                .map(|d| d.to_str().unwrap().to_owned())
                .unwrap_or_default();
            (r.method.to_string(), depth)
        })
        .collect();
    out.dedup();
    out
}

fn hrefs_and_etags(refs: &[davsync_storages::ItemRef]) -> Vec<(&str, &str)> {
    let mut got: Vec<(&str, &str)> = refs
        .iter()
        .map(|r| (r.href.as_str(), r.etag.as_str()))
        .collect();
    got.sort();
    got
}

#[tokio::test]
async fn server_without_sync_collection_lists_fully_under_a_ctag_token_read_before_the_listing() {
    let refusals = [
        ResponseTemplate::new(501),
        // A 403 that is not about the token: no sync-collection either.
        ResponseTemplate::new(403).set_body_raw(
            r#"<d:error xmlns:d="DAV:"><d:supported-report/></d:error>"#,
            "application/xml",
        ),
    ];
    for report in refusals {
        let server = server_without_sync_collection(report, "\"c1\"").await;
        let s = storage(&server, ItemKind::Calendar);
        let ch = s
            .changes(&collection(&server, "/cal/"), None)
            .await
            .unwrap()
            .expect("a getctag gives the capability");
        assert!(ch.complete, "the answer is the whole listing");
        assert!(ch.deleted.is_empty());
        assert_eq!(
            hrefs_and_etags(&ch.changed),
            [("/cal/a.ics", "\"a1\""), ("/cal/b.ics", "\"b1\"")]
        );
        assert_eq!(ch.token, Some(CollectionToken::ctag("\"c1\"")));
        assert_eq!(
            methods_and_depths(&requests(&server).await),
            [
                ("REPORT".to_owned(), "0".to_owned()),
                ("PROPFIND".to_owned(), "0".to_owned()),
                ("PROPFIND".to_owned(), "1".to_owned()),
            ]
        );
    }
}

#[tokio::test]
async fn unchanged_ctag_is_a_no_op_in_one_small_request() {
    let server = server_without_sync_collection(ResponseTemplate::new(501), "\"c1\"").await;
    let s = storage(&server, ItemKind::Calendar);
    let since = CollectionToken::ctag("\"c1\"");
    let ch = s
        .changes(&collection(&server, "/cal/"), Some(&since))
        .await
        .unwrap()
        .unwrap();
    assert!(!ch.complete);
    assert!(ch.changed.is_empty() && ch.deleted.is_empty());
    assert_eq!(ch.token, Some(since));
    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        methods_and_depths(&reqs),
        [("PROPFIND".to_owned(), "0".to_owned())]
    );
    let body = String::from_utf8_lossy(&reqs[0].body);
    assert!(
        body.contains("getctag") && !body.contains("getetag"),
        "{body}"
    );
}

#[tokio::test]
async fn moved_ctag_gives_the_complete_listing_and_the_new_token_without_a_report() {
    let server = server_without_sync_collection(ResponseTemplate::new(501), "\"c2\"").await;
    let s = storage(&server, ItemKind::Calendar);
    let ch = s
        .changes(
            &collection(&server, "/cal/"),
            Some(&CollectionToken::ctag("\"c1\"")),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(ch.complete, "a moved ctag says nothing of what moved");
    assert!(ch.deleted.is_empty());
    assert_eq!(
        hrefs_and_etags(&ch.changed),
        [("/cal/a.ics", "\"a1\""), ("/cal/b.ics", "\"b1\"")]
    );
    assert_eq!(ch.token, Some(CollectionToken::ctag("\"c2\"")));
    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        methods_and_depths(&reqs),
        [
            ("PROPFIND".to_owned(), "0".to_owned()),
            ("PROPFIND".to_owned(), "1".to_owned()),
        ]
    );
}

#[tokio::test]
async fn server_without_sync_collection_or_getctag_means_no_capability() {
    let server = MockServer::start().await;
    Mock::given(method("REPORT"))
        .respond_with(ResponseTemplate::new(501))
        .mount(&server)
        .await;
    Mock::given(method("PROPFIND"))
        .and(header("depth", "0"))
        .respond_with(ms(NO_CTAG_ANSWER))
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    assert!(s
        .changes(&collection(&server, "/cal/"), None)
        .await
        .unwrap()
        .is_none());
    // The engine lists by itself: the storage does not list on top.
    assert_eq!(
        methods_and_depths(&requests(&server).await),
        [
            ("REPORT".to_owned(), "0".to_owned()),
            ("PROPFIND".to_owned(), "0".to_owned()),
        ]
    );
}

#[tokio::test]
async fn ctag_token_of_a_collection_that_lost_its_getctag_means_no_capability() {
    let server = MockServer::start().await;
    Mock::given(method("PROPFIND"))
        .and(header("depth", "0"))
        .respond_with(ms(NO_CTAG_ANSWER))
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    assert!(s
        .changes(
            &collection(&server, "/cal/"),
            Some(&CollectionToken::ctag("\"c1\""))
        )
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        methods_and_depths(&requests(&server).await),
        [("PROPFIND".to_owned(), "0".to_owned())]
    );
}

#[tokio::test]
async fn sync_collection_failing_otherwise_is_an_error_not_a_ctag_fallback() {
    let server = server_without_sync_collection(ResponseTemplate::new(404), "\"c1\"").await;
    let s = storage(&server, ItemKind::Calendar);
    let err = s
        .changes(&collection(&server, "/cal/"), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(requests(&server).await.len(), 1);
}

// ---------------------------------------------------------------------------------------
// Discovery, collections, metadata

const HOME_LISTING: &str = r#"<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"
    xmlns:A="http://apple.com/ns/ical/" xmlns:CR="urn:ietf:params:xml:ns:carddav">
  <response><href>/dav/calendars/alice/</href><propstat><prop><resourcetype><collection/></resourcetype>
  </prop><status>HTTP/1.1 200 OK</status></propstat></response>
  <response><href>/dav/calendars/alice/work/</href><propstat><prop><resourcetype><collection/><C:calendar/>
  </resourcetype><displayname>Work</displayname><A:calendar-color>#ff0000</A:calendar-color></prop>
  <status>HTTP/1.1 200 OK</status></propstat></response>
  <response><href>/dav/calendars/alice/home%20stuff/</href><propstat><prop><resourcetype><collection/><C:calendar/>
  </resourcetype></prop><status>HTTP/1.1 200 OK</status></propstat></response>
  <response><href>/dav/calendars/alice/contacts/</href><propstat><prop><resourcetype><collection/><CR:addressbook/>
  </resourcetype></prop><status>HTTP/1.1 200 OK</status></propstat></response>
</multistatus>"#;

#[tokio::test]
async fn discovery_follows_a_well_known_redirect_chain() {
    let server = MockServer::start().await;
    // The configured URL knows nothing.
    Mock::given(method("PROPFIND"))
        .and(path("/"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    Mock::given(method("PROPFIND"))
        .and(path("/.well-known/caldav"))
        .respond_with(ResponseTemplate::new(301).insert_header("Location", "/hop/"))
        .mount(&server)
        .await;
    Mock::given(method("PROPFIND"))
        .and(path("/hop/"))
        .respond_with(
            ResponseTemplate::new(308).insert_header("Location", format!("{}/dav/", server.uri())),
        )
        .mount(&server)
        .await;
    Mock::given(method("PROPFIND"))
        .and(path("/dav/"))
        .and(body_string_contains("current-user-principal"))
        .respond_with(ms(principal_answer(
            "/dav/",
            "d:current-user-principal",
            "principals/alice/",
        )))
        .mount(&server)
        .await;
    Mock::given(method("PROPFIND"))
        .and(path("/dav/principals/alice/"))
        .and(body_string_contains("calendar-home-set"))
        .respond_with(ms(principal_answer(
            "/dav/principals/alice/",
            "c:calendar-home-set",
            "/dav/calendars/alice/",
        )))
        .mount(&server)
        .await;
    Mock::given(method("PROPFIND"))
        .and(path("/dav/calendars/alice/"))
        .and(header("depth", "1"))
        .respond_with(ms(HOME_LISTING))
        .mount(&server)
        .await;
    let s = DavStorage::new(opts(&server, "/", ItemKind::Calendar)).unwrap();
    let mut found = s.discover().await.unwrap();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<(&str, &str)> = found
        .iter()
        .map(|c| (c.name.as_str(), c.href.as_str()))
        .collect();
    let work = format!("{}/dav/calendars/alice/work/", server.uri());
    let home = format!("{}/dav/calendars/alice/home%20stuff/", server.uri());
    assert_eq!(
        names,
        vec![("home stuff", home.as_str()), ("work", work.as_str())]
    );
    // The redirect kept the method: no GET was sent.
    assert!(requests(&server)
        .await
        .iter()
        .all(|r| r.method.as_str() == "PROPFIND"));
}

#[tokio::test]
async fn a_url_that_is_the_principal_is_accepted() {
    let server = MockServer::start().await;
    Mock::given(method("PROPFIND"))
        .and(path("/dav/principals/alice/"))
        .and(body_string_contains("addressbook-home-set"))
        .respond_with(ms(principal_answer(
            "/dav/principals/alice/",
            "card:addressbook-home-set",
            "/dav/calendars/alice/",
        )
        .replace(
            "xmlns:c=",
            "xmlns:card=\"urn:ietf:params:xml:ns:carddav\" xmlns:c=",
        )))
        .mount(&server)
        .await;
    Mock::given(method("PROPFIND"))
        .and(path("/dav/calendars/alice/"))
        .respond_with(ms(HOME_LISTING))
        .mount(&server)
        .await;
    let s = DavStorage::new(opts(&server, "/dav/principals/alice/", ItemKind::Contacts)).unwrap();
    let found = s.discover().await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name, "contacts");
}

#[tokio::test]
async fn a_url_that_is_the_home_set_is_accepted_and_collections_are_created_in_it() {
    let server = MockServer::start().await;
    Mock::given(method("PROPFIND"))
        .and(header("depth", "0"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    Mock::given(method("PROPFIND"))
        .and(path("/dav/calendars/alice/"))
        .and(header("depth", "1"))
        .respond_with(ms(HOME_LISTING))
        .mount(&server)
        .await;
    Mock::given(method("MKCALENDAR"))
        .and(path("/dav/calendars/alice/new%20one/"))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    let s = DavStorage::new(opts(&server, "/dav/calendars/alice/", ItemKind::Calendar)).unwrap();
    assert_eq!(s.discover().await.unwrap().len(), 2);
    let created = s.create_collection("new one").await.unwrap();
    assert_eq!(created.name, "new one");
    assert_eq!(
        created.href,
        format!("{}/dav/calendars/alice/new%20one/", server.uri())
    );
}

#[tokio::test]
async fn addressbooks_are_created_with_extended_mkcol() {
    let server = MockServer::start().await;
    Mock::given(method("PROPFIND"))
        .and(body_string_contains("addressbook-home-set"))
        .respond_with(ms(principal_answer(
            "/p/",
            "card:addressbook-home-set",
            "/books/",
        )
        .replace(
            "xmlns:c=",
            "xmlns:card=\"urn:ietf:params:xml:ns:carddav\" xmlns:c=",
        )))
        .mount(&server)
        .await;
    Mock::given(method("PROPFIND"))
        .and(path("/books/"))
        .respond_with(ms(r#"<d:multistatus xmlns:d="DAV:"/>"#))
        .mount(&server)
        .await;
    Mock::given(method("MKCOL"))
        .and(path("/books/friends/"))
        .and(body_string_contains("addressbook"))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    let s = DavStorage::new(opts(&server, "/p/", ItemKind::Contacts)).unwrap();
    let c = s.create_collection("friends").await.unwrap();
    assert_eq!(c.href, format!("{}/books/friends/", server.uri()));
}

#[tokio::test]
async fn metadata_is_read_with_propfind_and_written_with_proppatch() {
    let server = MockServer::start().await;
    Mock::given(method("PROPFIND"))
        .and(header("depth", "0"))
        .respond_with(ms(r#"<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"
            xmlns:a="http://apple.com/ns/ical/"><d:response><d:href>/cal/</d:href><d:propstat><d:prop>
            <d:resourcetype><d:collection/><c:calendar/></d:resourcetype>
            <d:displayname>My cal</d:displayname><a:calendar-color>#00ff00ff</a:calendar-color>
            <c:calendar-description>things</c:calendar-description></d:prop>
            <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"#))
        .mount(&server)
        .await;
    Mock::given(method("PROPPATCH"))
        .and(body_string_contains("calendar-color"))
        .and(body_string_contains("#123456"))
        .respond_with(ms(
            r#"<d:multistatus xmlns:d="DAV:" xmlns:a="http://apple.com/ns/ical/">
            <d:response><d:href>/cal/</d:href><d:propstat><d:prop><a:calendar-color/></d:prop>
            <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"#,
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PROPPATCH"))
        .and(body_string_contains("displayname"))
        .respond_with(ms(
            r#"<d:multistatus xmlns:d="DAV:"><d:response><d:href>/cal/</d:href>
            <d:propstat><d:prop><d:displayname/></d:prop><d:status>HTTP/1.1 403 Forbidden</d:status>
            </d:propstat></d:response></d:multistatus>"#,
        ))
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    let c = collection(&server, "/cal/");
    assert_eq!(
        s.get_meta(&c, MetaKey::DisplayName)
            .await
            .unwrap()
            .as_deref(),
        Some("My cal")
    );
    assert_eq!(
        s.get_meta(&c, MetaKey::Color).await.unwrap().as_deref(),
        Some("#00ff00ff")
    );
    assert_eq!(
        s.get_meta(&c, MetaKey::Description)
            .await
            .unwrap()
            .as_deref(),
        Some("things")
    );
    assert_eq!(s.get_meta(&c, MetaKey::Order).await.unwrap(), None);
    s.set_meta(&c, MetaKey::Color, Some("#123456"))
        .await
        .unwrap();
    let err = s
        .set_meta(&c, MetaKey::DisplayName, Some("x"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Refused);
}

#[tokio::test]
async fn root_collection_is_the_configured_url() {
    let server = MockServer::start().await;
    let s = DavStorage::new(opts(&server, "/cal/work", ItemKind::Calendar)).unwrap();
    let root = s.root_collection().await.unwrap();
    assert_eq!(root.href, format!("{}/cal/work/", server.uri()));
}

#[tokio::test]
async fn a_reused_digest_nonce_that_expired_is_answered_afresh() {
    let server = MockServer::start().await;
    // The first nonce works once; afterwards the server only accepts answers to "n2".
    Mock::given(method("PROPFIND"))
        .and(|r: &Request| {
            r.headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("nonce=\"n2\""))
        })
        .respond_with(ms(r#"<d:multistatus xmlns:d="DAV:"/>"#))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("PROPFIND"))
        .and(|r: &Request| {
            r.headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("nonce=\"n1\""))
        })
        .respond_with(ms(r#"<d:multistatus xmlns:d="DAV:"/>"#))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("PROPFIND"))
        .respond_with(ResponseTemplate::new(401).insert_header(
            "WWW-Authenticate",
            "Digest realm=\"dav\", nonce=\"n1\", qop=\"auth\"",
        ))
        .up_to_n_times(1)
        .with_priority(3)
        .mount(&server)
        .await;
    Mock::given(method("PROPFIND"))
        .respond_with(ResponseTemplate::new(401).insert_header(
            "WWW-Authenticate",
            "Digest realm=\"dav\", nonce=\"n2\", qop=\"auth\"",
        ))
        .with_priority(4)
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    let c = collection(&server, "/cal/");
    s.list(&c).await.unwrap();
    s.list(&c).await.unwrap();
    s.list(&c).await.unwrap();
}

#[tokio::test]
async fn get_all_too_large_for_one_answer_leaves_it_to_list_and_multiget() {
    let server = MockServer::start().await;
    Mock::given(method("REPORT"))
        .and(body_string_contains("calendar-query"))
        .respond_with(ms(format!(
            r#"<d:multistatus xmlns:d="DAV:"><!-- {} --></d:multistatus>"#,
            "x".repeat(4096)
        )))
        .mount(&server)
        .await;
    let mut o = opts(&server, "/cal/", ItemKind::Calendar);
    o.transport.max_response_bytes = 1024;
    let s = DavStorage::new(o).unwrap();
    assert!(s
        .get_all(&collection(&server, "/cal/"))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn an_etagless_member_that_cannot_be_read_stays_listed() {
    let server = MockServer::start().await;
    Mock::given(method("PROPFIND"))
        .respond_with(ms(r#"<d:multistatus xmlns:d="DAV:">
            <d:response><d:href>/cal/a.ics</d:href><d:propstat><d:prop><d:resourcetype/></d:prop>
            <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
            <d:response><d:href>/cal/gone.ics</d:href><d:propstat><d:prop><d:resourcetype/></d:prop>
            <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"#))
        .mount(&server)
        .await;
    // The multiget answers for neither a.ics (left out, then refused) nor gone.ics (404).
    Mock::given(method("GET"))
        .and(path("/cal/a.ics"))
        .respond_with(ResponseTemplate::new(403))
        .mount(&server)
        .await;
    Mock::given(method("REPORT"))
        .respond_with(ms(
            r#"<d:multistatus xmlns:d="DAV:"><d:response><d:href>/cal/gone.ics</d:href>
            <d:status>HTTP/1.1 404 Not Found</d:status></d:response></d:multistatus>"#,
        ))
        .mount(&server)
        .await;
    let s = storage(&server, ItemKind::Calendar);
    let c = collection(&server, "/cal/");
    let listed = s.list(&c).await.unwrap();
    // Leaving a.ics out would read as its deletion; gone.ics really is gone.
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].href.as_str(), "/cal/a.ics");
    let err = s.get(&c, &listed[0].href).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Refused);
    assert!(err.to_string().contains("/cal/a.ics"), "{err}");
}
