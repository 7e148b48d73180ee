//! What real servers were seen doing (docs/servers.md), each reproduced against a mock:
//! SOGo's empty calendar-query, connections closed before the answer, MKCALENDAR bodies,
//! DAViCal's scheduling inbox and outbox, and a 500 named for what it is.

mod dav_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use dav_support::*;
use davsync_storages::dav::DavStorage;
use davsync_storages::net::{Client, Method, Request};
use davsync_storages::{Etag, Href, Item, ItemKind, Storage};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use url::Url;
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const EMPTY_MULTISTATUS: &str = r#"<multistatus xmlns="DAV:"/>"#;

// ---------------------------------------------------------------------------------------
// SOGo: a calendar-query filtered on VCALENDAR alone answers an empty multistatus

#[tokio::test]
async fn an_empty_query_answer_contradicted_by_the_listing_never_reads_as_an_empty_calendar() {
    let server = MockServer::start().await;
    Mock::given(method("REPORT"))
        .and(path("/cal/"))
        .and(body_string_contains("calendar-query"))
        .respond_with(ms(EMPTY_MULTISTATUS))
        .mount(&server)
        .await;
    Mock::given(method("PROPFIND"))
        .and(path("/cal/"))
        .and(header("depth", "1"))
        .respond_with(ms(listing(&["/cal/a.ics", "/cal/b.ics"])))
        .mount(&server)
        .await;
    let s = DavStorage::new(opts(&server, "/cal/", ItemKind::Calendar)).unwrap();
    let got = s.get_all(&collection(&server, "/cal/")).await.unwrap();
    assert!(
        got.is_none(),
        "the collection must be read another way, not taken as empty: {got:?}"
    );
}

#[tokio::test]
async fn a_really_empty_calendar_is_read_whole_as_empty() {
    let server = MockServer::start().await;
    Mock::given(method("REPORT"))
        .and(path("/cal/"))
        .respond_with(ms(EMPTY_MULTISTATUS))
        .mount(&server)
        .await;
    Mock::given(method("PROPFIND"))
        .and(path("/cal/"))
        .and(header("depth", "1"))
        .respond_with(ms(listing(&[])))
        .expect(1)
        .mount(&server)
        .await;
    let s = DavStorage::new(opts(&server, "/cal/", ItemKind::Calendar)).unwrap();
    let got = s.get_all(&collection(&server, "/cal/")).await.unwrap();
    assert_eq!(got.map(|v| v.len()), Some(0));
}

#[tokio::test]
async fn a_query_that_found_items_costs_no_extra_listing() {
    let server = MockServer::start().await;
    let body = format!(
        r#"<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><response>
        <href>/cal/a.ics</href><propstat><prop><getetag>"1"</getetag><C:calendar-data>{}</C:calendar-data>
        </prop><status>HTTP/1.1 200 OK</status></propstat></response></multistatus>"#,
        xml_escape(&ics("a"))
    );
    Mock::given(method("REPORT"))
        .and(path("/cal/"))
        .respond_with(ms(body))
        .mount(&server)
        .await;
    Mock::given(method("PROPFIND"))
        .respond_with(ms(listing(&[])))
        .expect(0)
        .mount(&server)
        .await;
    let s = DavStorage::new(opts(&server, "/cal/", ItemKind::Calendar)).unwrap();
    let got = s.get_all(&collection(&server, "/cal/")).await.unwrap();
    assert_eq!(got.map(|v| v.len()), Some(1));
}

// ---------------------------------------------------------------------------------------
// Connections the server closes after one answer without saying so (SOGo)

/// A server that answers the first request of each connection and drops the connection
/// when a second one arrives on it, as sogod does after a 401 or a PUT. Counts requests
/// that got an answer.
async fn one_answer_per_connection_server() -> (Url, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}/cal/", listener.local_addr().unwrap())).unwrap();
    let answered = Arc::new(AtomicUsize::new(0));
    let count = answered.clone();
    tokio::spawn(async move {
        loop {
            let Ok((conn, _)) = listener.accept().await else {
                return;
            };
            let count = count.clone();
            tokio::spawn(async move { serve_once_then_drop(conn, count).await });
        }
    });
    (url, answered)
}

async fn read_request(conn: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = conn.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some(head);
        }
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn serve_once_then_drop(mut conn: TcpStream, answered: Arc<AtomicUsize>) {
    if read_request(&mut conn).await.is_none() {
        return;
    }
    let body = "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n";
    let answer = format!(
        "HTTP/1.1 200 OK\r\nETag: \"1\"\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(answer.as_bytes()).await.unwrap();
    answered.fetch_add(1, Ordering::SeqCst);
    // The next request on this connection is read and never answered.
    let _ = read_request(&mut conn).await;
}

fn client_for(url: &Url) -> Client {
    let mut t = transport(&format!("http://{}", url.authority()), url.path());
    t.auth = davsync_storages::net::AuthMode::Basic;
    Client::new(&t).unwrap()
}

#[tokio::test]
async fn reads_and_conditional_writes_on_a_connection_closed_before_the_answer_are_sent_again() {
    let (url, answered) = one_answer_per_connection_server().await;
    let client = client_for(&url);
    let item = url.join("a.ics").unwrap();
    let requests = [
        Request::new(Method::GET, item.clone()),
        Request::dav("PROPFIND", url.clone()).depth("1"),
        Request::new(Method::PUT, item.clone())
            .header(http::header::IF_MATCH, "\"1\"")
            .unwrap(),
        Request::new(Method::PUT, item.clone())
            .header(http::header::IF_NONE_MATCH, "*")
            .unwrap(),
        Request::new(Method::DELETE, item.clone())
            .header(http::header::IF_MATCH, "\"1\"")
            .unwrap(),
        Request::dav("REPORT", url.clone()),
    ];
    for (i, req) in requests.iter().enumerate() {
        let resp = client
            .send(req)
            .await
            .unwrap_or_else(|e| panic!("request {i} ({}) failed: {e:?}", req.method));
        assert_eq!(resp.status.as_u16(), 200, "request {i}");
    }
    assert_eq!(answered.load(Ordering::SeqCst), requests.len());
}

#[tokio::test]
async fn an_unconditional_write_on_a_closed_connection_is_not_sent_again() {
    let (url, answered) = one_answer_per_connection_server().await;
    let client = client_for(&url);
    client
        .send(&Request::new(Method::GET, url.clone()))
        .await
        .unwrap();
    // The pooled connection is now dead; MKCOL is not idempotent.
    let err = client
        .send(&Request::dav("MKCOL", url.join("new/").unwrap()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), davsync_storages::ErrorKind::Transport);
    assert_eq!(answered.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------------------------------
// MKCALENDAR: never a <mkcalendar> element without DAV:set (DAViCal, Cyrus answer 500)

/// `/home/` is no principal, and its own home set, holding nothing yet.
async fn mount_plain_home(server: &MockServer) {
    Mock::given(method("PROPFIND"))
        .and(header("depth", "0"))
        .respond_with(ResponseTemplate::new(404))
        .mount(server)
        .await;
    Mock::given(method("PROPFIND"))
        .and(path("/home/"))
        .and(header("depth", "1"))
        .respond_with(ms(r#"<multistatus xmlns="DAV:"/>"#))
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_calendar_is_created_with_a_body_less_mkcalendar() {
    let server = MockServer::start().await;
    mount_plain_home(&server).await;
    Mock::given(method("MKCALENDAR"))
        .and(path("/home/new/"))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    let s = DavStorage::new(opts(&server, "/home/", ItemKind::Calendar)).unwrap();
    s.create_collection("new").await.unwrap();
    let reqs = server.received_requests().await.unwrap();
    let mk = reqs
        .iter()
        .find(|r| r.method.as_str() == "MKCALENDAR")
        .unwrap();
    assert!(mk.body.is_empty(), "{}", String::from_utf8_lossy(&mk.body));
    assert!(mk.headers.get("content-type").is_none());
}

#[tokio::test]
async fn a_calendar_restricted_to_item_types_is_created_with_a_set_element() {
    let server = MockServer::start().await;
    mount_plain_home(&server).await;
    Mock::given(method("MKCALENDAR"))
        .and(body_string_contains(
            "<d:set><d:prop><c:supported-calendar-component-set>",
        ))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    let mut o = opts(&server, "/home/", ItemKind::Calendar);
    o.item_types = vec!["VTODO".into()];
    let s = DavStorage::new(o).unwrap();
    s.create_collection("tasks").await.unwrap();
}

// ---------------------------------------------------------------------------------------
// DAViCal: the scheduling inbox and outbox are typed as calendars

const DAVICAL_PRINCIPAL: &str = r#"<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
 <response><href>/caldav.php/test/</href><propstat><prop>
  <C:calendar-home-set><href>/caldav.php/test/</href></C:calendar-home-set>
  <C:schedule-inbox-URL><href>/caldav.php/test/.in/</href></C:schedule-inbox-URL>
  <C:schedule-outbox-URL><href>/caldav.php/test/.out/</href></C:schedule-outbox-URL>
 </prop><status>HTTP/1.1 200 OK</status></propstat></response></multistatus>"#;

const DAVICAL_HOME: &str = r#"<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
 <response><href>/caldav.php/test/</href><propstat><prop><resourcetype><collection/><principal/>
  </resourcetype></prop><status>HTTP/1.1 200 OK</status></propstat></response>
 <response><href>/caldav.php/test/calendar/</href><propstat><prop><resourcetype><collection/>
  <C:calendar/></resourcetype></prop><status>HTTP/1.1 200 OK</status></propstat></response>
 <response><href>/caldav.php/test/.out/</href><propstat><prop><resourcetype><collection/>
  <C:calendar/></resourcetype></prop><status>HTTP/1.1 200 OK</status></propstat></response>
 <response><href>/caldav.php/test/.in/</href><propstat><prop><resourcetype><collection/>
  <C:calendar/></resourcetype></prop><status>HTTP/1.1 200 OK</status></propstat></response>
 <response><href>/caldav.php/test/inbox/</href><propstat><prop><resourcetype><collection/>
  <C:calendar/><C:schedule-inbox/></resourcetype></prop><status>HTTP/1.1 200 OK</status>
  </propstat></response>
</multistatus>"#;

#[tokio::test]
async fn sogo_personal_calendar_doubling_as_the_outbox_is_a_calendar() {
    let server = MockServer::start().await;
    Mock::given(method("PROPFIND"))
        .and(path("/SOGo/dav/test/"))
        .and(header("depth", "0"))
        .respond_with(ms(
            r#"<D:multistatus xmlns:D="DAV:" xmlns:a="urn:ietf:params:xml:ns:caldav">
<D:response><D:href>/SOGo/dav/test/</D:href><D:propstat><D:status>HTTP/1.1 200 OK</D:status><D:prop>
<a:calendar-home-set><D:href>/SOGo/dav/test/Calendar/</D:href></a:calendar-home-set>
<a:schedule-inbox-URL><D:href>/SOGo/dav/test/Calendar/inbox/</D:href></a:schedule-inbox-URL>
<a:schedule-outbox-URL><D:href>/SOGo/dav/test/Calendar/personal/</D:href></a:schedule-outbox-URL>
</D:prop></D:propstat></D:response></D:multistatus>"#,
        ))
        .mount(&server)
        .await;
    Mock::given(method("PROPFIND"))
        .and(path("/SOGo/dav/test/Calendar/"))
        .and(header("depth", "1"))
        .respond_with(ms(r#"<D:multistatus xmlns:D="DAV:"><D:response><D:href>/SOGo/dav/test/Calendar/personal/</D:href>
<D:propstat><D:status>HTTP/1.1 200 OK</D:status><D:prop><D:resourcetype><D:collection/>
<calendar xmlns="urn:ietf:params:xml:ns:caldav"/><vevent-collection xmlns="http://groupdav.org/"/>
<schedule-outbox xmlns="urn:ietf:params:xml:ns:caldav"/></D:resourcetype></D:prop></D:propstat></D:response>
<D:response><D:href>/SOGo/dav/test/Calendar/inbox/</D:href><D:propstat><D:status>HTTP/1.1 200 OK</D:status>
<D:prop><D:resourcetype><D:collection/><schedule-inbox xmlns="urn:ietf:params:xml:ns:caldav"/>
</D:resourcetype></D:prop></D:propstat></D:response></D:multistatus>"#))
        .mount(&server)
        .await;
    let s = DavStorage::new(opts(&server, "/SOGo/dav/test/", ItemKind::Calendar)).unwrap();
    let found = s.discover().await.unwrap();
    let names: Vec<&str> = found.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, vec!["personal"]);
}

#[tokio::test]
async fn scheduling_inbox_and_outbox_are_never_taken_for_calendars() {
    let server = MockServer::start().await;
    Mock::given(method("PROPFIND"))
        .and(path("/caldav.php/test/"))
        .and(header("depth", "0"))
        .and(body_string_contains("schedule-inbox-URL"))
        .respond_with(ms(DAVICAL_PRINCIPAL))
        .mount(&server)
        .await;
    Mock::given(method("PROPFIND"))
        .and(path("/caldav.php/test/"))
        .and(header("depth", "1"))
        .respond_with(ms(DAVICAL_HOME))
        .mount(&server)
        .await;
    let s = DavStorage::new(opts(&server, "/caldav.php/test/", ItemKind::Calendar)).unwrap();
    let found = s.discover().await.unwrap();
    let names: Vec<&str> = found.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, vec!["calendar"]);
}

// ---------------------------------------------------------------------------------------
// A server failure is not a "network error"

#[tokio::test]
async fn a_500_on_an_update_is_reported_as_a_server_error() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let s = DavStorage::new(opts(&server, "/cal/", ItemKind::Calendar)).unwrap();
    let item = Item::parse(ItemKind::Calendar, ics("x")).unwrap();
    let err = s
        .update(
            &collection(&server, "/cal/"),
            &Href("/cal/x.ics".into()),
            &item,
            &Etag("\"1\"".into()),
        )
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.ends_with("500 Internal Server Error: server error"),
        "{text}"
    );
    assert!(!text.contains("network"), "{text}");
}

// ---------------------------------------------------------------------------------------
// Servers that ignore If-Match / If-None-Match (SOGo, Calypso)

/// An item store that takes every PUT and DELETE whatever its preconditions say, as SOGo
/// and Calypso do, and answers PROPFIND Depth 0 on an item with its etag.
/// Path -> (etag, body).
type Items = std::collections::HashMap<String, (String, Vec<u8>)>;

#[derive(Clone, Default)]
struct Lenient {
    items: Arc<std::sync::Mutex<Items>>,
    version: Arc<AtomicUsize>,
}

impl wiremock::Respond for Lenient {
    fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
        let path = req.url.path().to_owned();
        let mut items = self.items.lock().unwrap();
        match req.method.as_str() {
            "PUT" => {
                let etag = format!("\"v{}\"", self.version.fetch_add(1, Ordering::SeqCst));
                items.insert(path, (etag.clone(), req.body.clone()));
                ResponseTemplate::new(201).insert_header("ETag", etag.as_str())
            }
            "DELETE" => match items.remove(&path) {
                Some(_) => ResponseTemplate::new(204),
                None => ResponseTemplate::new(404),
            },
            "PROPFIND" => match items.get(&path) {
                Some((etag, _)) => ms(format!(
                    r#"<multistatus xmlns="DAV:"><response><href>{path}</href><propstat><prop>
                    <getetag>{}</getetag><resourcetype/><getcontenttype>text/calendar</getcontenttype>
                    </prop><status>HTTP/1.1 200 OK</status></propstat></response></multistatus>"#,
                    xml_escape(etag)
                )),
                None => ResponseTemplate::new(404),
            },
            _ => ResponseTemplate::new(405),
        }
    }
}

async fn lenient_server() -> (MockServer, Lenient) {
    let server = MockServer::start().await;
    let store = Lenient::default();
    Mock::given(wiremock::matchers::any())
        .respond_with(store.clone())
        .mount(&server)
        .await;
    (server, store)
}

fn guarded(server: &MockServer) -> DavStorage {
    let mut o = opts(server, "/cal/", ItemKind::Calendar);
    o.verify_preconditions = true;
    DavStorage::new(o).unwrap()
}

fn body_of(store: &Lenient, path: &str) -> String {
    String::from_utf8_lossy(&store.items.lock().unwrap()[path].1).into_owned()
}

#[tokio::test]
async fn the_probe_finds_preconditions_ignored_and_removes_its_scratch_item() {
    let (server, store) = lenient_server().await;
    let s = guarded(&server);
    let url = Url::parse(&format!("{}/cal/", server.uri())).unwrap();
    let p = s.probe_preconditions(&url).await.unwrap();
    assert!(p.probed && !p.if_match && !p.if_none_match, "{p:?}");
    assert!(store.items.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_probe_finds_preconditions_enforced_and_removes_its_scratch_item() {
    let server = MockServer::start().await;
    let dav = MiniDav::default();
    Mock::given(wiremock::matchers::any())
        .respond_with(dav.clone())
        .mount(&server)
        .await;
    let s = guarded(&server);
    let url = Url::parse(&format!("{}/cal/", server.uri())).unwrap();
    let p = s.probe_preconditions(&url).await.unwrap();
    assert!(p.probed && p.enforced(), "{p:?}");
    assert!(dav.items.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_edit_made_on_a_lenient_server_since_the_listing_is_never_overwritten() {
    let (server, store) = lenient_server().await;
    let s = guarded(&server);
    let coll = collection(&server, "/cal/");
    let (href, etag) = s.upload(&coll, &item("a")).await.unwrap();
    // Another client edits the item: its etag moves on.
    let edited = ics("a").replace("SUMMARY:test 1", "SUMMARY:edited elsewhere");
    store.items.lock().unwrap().insert(
        "/cal/a.ics".into(),
        ("\"elsewhere\"".into(), edited.clone().into_bytes()),
    );
    let err = s.update(&coll, &href, &item("a"), &etag).await.unwrap_err();
    assert_eq!(
        err.kind(),
        davsync_storages::ErrorKind::PreconditionFailed,
        "{err}"
    );
    let err = s.delete(&coll, &href, &etag).await.unwrap_err();
    assert_eq!(
        err.kind(),
        davsync_storages::ErrorKind::PreconditionFailed,
        "{err}"
    );
    assert_eq!(body_of(&store, "/cal/a.ics"), edited);
    // With the etag it has now, the write goes through.
    let now = Etag("\"elsewhere\"".into());
    s.update(&coll, &href, &item("a"), &now).await.unwrap();
}

#[tokio::test]
async fn an_upload_over_an_item_created_elsewhere_on_a_lenient_server_is_refused() {
    let (server, store) = lenient_server().await;
    let s = guarded(&server);
    let coll = collection(&server, "/cal/");
    store.items.lock().unwrap().insert(
        "/cal/b.ics".into(),
        ("\"theirs\"".into(), b"theirs".to_vec()),
    );
    let err = s.upload(&coll, &item("b")).await.unwrap_err();
    assert_eq!(
        err.kind(),
        davsync_storages::ErrorKind::AlreadyExists,
        "{err}"
    );
    assert_eq!(body_of(&store, "/cal/b.ics"), "theirs");
}

#[tokio::test]
async fn an_enforcing_server_costs_one_probe_and_no_check_per_write() {
    let server = MockServer::start().await;
    let dav = MiniDav::default();
    Mock::given(wiremock::matchers::any())
        .respond_with(dav.clone())
        .mount(&server)
        .await;
    let s = guarded(&server);
    let coll = collection(&server, "/cal/");
    for uid in ["c1", "c2", "c3"] {
        s.upload(&coll, &item(uid)).await.unwrap();
    }
    let reqs = server.received_requests().await.unwrap();
    let methods: Vec<&str> = reqs.iter().map(|r| r.method.as_str()).collect();
    // What the calendar takes (once per collection: no discovery ran); the probe: PUT, PUT
    // (412), DELETE (412), DELETE; then one PUT per upload.
    assert_eq!(
        methods,
        vec!["PROPFIND", "PUT", "PUT", "DELETE", "DELETE", "PUT", "PUT", "PUT"]
    );
}

// ---------------------------------------------------------------------------------------
// Calypso: 400 to multiget, 501 to PROPPATCH and extended MKCOL

#[tokio::test]
async fn a_refused_multiget_reads_each_item_with_a_get() {
    let server = MockServer::start().await;
    Mock::given(method("REPORT"))
        .respond_with(ResponseTemplate::new(400))
        .mount(&server)
        .await;
    for uid in ["a", "b"] {
        Mock::given(method("GET"))
            .and(path(format!("/cal/{uid}.ics")))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("ETag", format!("\"{uid}\"").as_str())
                    .set_body_raw(ics(uid).into_bytes(), "text/calendar"),
            )
            .expect(1)
            .mount(&server)
            .await;
    }
    let s = DavStorage::new(opts(&server, "/cal/", ItemKind::Calendar)).unwrap();
    let got = s
        .get_many(
            &collection(&server, "/cal/"),
            &[Href("/cal/a.ics".into()), Href("/cal/b.ics".into())],
        )
        .await
        .unwrap();
    for (href, r) in got {
        let (item, etag) = r.unwrap_or_else(|e| panic!("{href}: {e}"));
        assert_eq!(etag.as_str(), format!("\"{}\"", item.uid().unwrap()));
    }
}

#[tokio::test]
async fn a_refused_proppatch_says_properties_cannot_be_changed_there() {
    let server = MockServer::start().await;
    Mock::given(method("PROPPATCH"))
        .respond_with(ResponseTemplate::new(501))
        .mount(&server)
        .await;
    let s = DavStorage::new(opts(&server, "/cal/", ItemKind::Calendar)).unwrap();
    let err = s
        .set_meta(
            &collection(&server, "/cal/work/"),
            davsync_storages::MetaKey::DisplayName,
            Some("Work"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), davsync_storages::ErrorKind::Unsupported);
    let text = err.to_string();
    assert!(
        text.contains("/cal/work/")
            && text.contains("does not let collection properties be changed"),
        "{text}"
    );
}

#[tokio::test]
async fn a_refused_mkcol_names_the_collection_and_says_why() {
    let server = MockServer::start().await;
    mount_plain_home(&server).await;
    Mock::given(method("MKCOL"))
        .respond_with(ResponseTemplate::new(501))
        .mount(&server)
        .await;
    let s = DavStorage::new(opts(&server, "/home/", ItemKind::Contacts)).unwrap();
    let err = s.create_collection("friends").await.unwrap_err();
    assert_eq!(err.kind(), davsync_storages::ErrorKind::Unsupported);
    let text = err.to_string();
    assert!(
        text.contains("\"friends\"") && text.contains("cannot create address books"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------
// SOGo: colors as #RRGGBBAA only

#[tokio::test]
async fn a_color_refused_as_rrggbb_is_sent_again_opaque_as_rrggbbaa() {
    let server = MockServer::start().await;
    Mock::given(method("PROPPATCH"))
        .and(body_string_contains("#FF8800FF"))
        .respond_with(ms(
            r#"<multistatus xmlns="DAV:" xmlns:a="http://apple.com/ns/ical/">
            <response><href>/cal/</href><propstat><prop><a:calendar-color/></prop>
            <status>HTTP/1.1 200 OK</status></propstat></response></multistatus>"#,
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PROPPATCH"))
        .respond_with(ResponseTemplate::new(400).set_body_string(
            r#"<D:error xmlns:D="DAV">Bad color format (should be '#XXXXXXXX').</D:error>"#,
        ))
        .mount(&server)
        .await;
    let s = DavStorage::new(opts(&server, "/cal/", ItemKind::Calendar)).unwrap();
    s.set_meta(
        &collection(&server, "/cal/"),
        davsync_storages::MetaKey::Color,
        Some("#FF8800"),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_bare_file_name_is_read_from_the_collection_not_the_server_root() {
    let server = MockServer::start().await;
    Mock::given(method("REPORT"))
        .respond_with(ResponseTemplate::new(400))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/cal/a.ics"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("ETag", "\"a\"")
                .set_body_raw(ics("a").into_bytes(), "text/calendar"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let s = DavStorage::new(opts(&server, "/cal/", ItemKind::Calendar)).unwrap();
    let got = s
        .get_many(&collection(&server, "/cal/"), &[Href("a.ics".into())])
        .await
        .unwrap();
    assert!(got[0].1.is_ok(), "{:?}", got[0].1);
}

#[tokio::test]
async fn an_empty_multistatus_for_an_item_means_it_is_not_there() {
    // Calypso answers a PROPFIND on a missing item with an empty 207.
    let server = MockServer::start().await;
    Mock::given(method("PROPFIND"))
        .respond_with(ms(r#"<ns0:multistatus xmlns:ns0="DAV:" />"#))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/cal/c.ics"))
        .and(header("if-none-match", "*"))
        .respond_with(ResponseTemplate::new(201).insert_header("ETag", "abc"))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(201).insert_header("ETag", "probe"))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let s = guarded(&server);
    let (_, etag) = s
        .upload(&collection(&server, "/cal/"), &item("c"))
        .await
        .unwrap();
    assert_eq!(etag.as_str(), "abc");
}

#[tokio::test]
async fn a_sync_collection_answer_without_a_token_gives_way_to_the_getctag() {
    // Calypso answers sync-collection with a full listing and no sync-token.
    let server = MockServer::start().await;
    Mock::given(method("REPORT"))
        .respond_with(ms(listing(&["/cal/a.ics"])))
        .mount(&server)
        .await;
    Mock::given(method("PROPFIND"))
        .and(header("depth", "0"))
        .and(body_string_contains("getctag"))
        .respond_with(ms(
            r#"<d:multistatus xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:response>
            <d:href>/cal/</d:href><d:propstat><d:prop><cs:getctag>c1</cs:getctag></d:prop>
            <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"#,
        ))
        .mount(&server)
        .await;
    Mock::given(method("PROPFIND"))
        .and(header("depth", "1"))
        .respond_with(ms(listing(&["/cal/a.ics", "/cal/b.ics"])))
        .mount(&server)
        .await;
    let s = DavStorage::new(opts(&server, "/cal/", ItemKind::Calendar)).unwrap();
    let c = s
        .changes(&collection(&server, "/cal/"), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.token.as_ref().map(|t| t.as_str()), Some("ctag:c1"));
    assert!(c.complete);
    assert_eq!(c.changed.len(), 2);
}

#[tokio::test]
async fn a_probe_item_left_by_a_killed_run_is_never_listed_and_is_removed() {
    let server = MockServer::start().await;
    Mock::given(method("PROPFIND"))
        .respond_with(ms(listing(&["/cal/a.ics", "/cal/davsync-probe-1b2c.ics"])))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/cal/davsync-probe-1b2c.ics"))
        .and(header("if-match", "\"e-/cal/davsync-probe-1b2c.ics\""))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let s = DavStorage::new(opts(&server, "/cal/", ItemKind::Calendar)).unwrap();
    let listed = s.list(&collection(&server, "/cal/")).await.unwrap();
    let hrefs: Vec<&str> = listed.iter().map(|r| r.href.as_str()).collect();
    assert_eq!(hrefs, vec!["/cal/a.ics"]);
}
