//! Exchange through DavMail: hrefs whose case changes (the mailbox name as typed in the URL
//! or as Exchange stores it), the same href twice in one answer, and XML that is not
//! well-formed (control characters copied from Exchange items, tags that do not match).

use davsync_storages::dav::DavStorage;
use davsync_storages::{ErrorKind, Href, ItemKind, Storage};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::dav_support::*;

const LOWER: &str = "/users/alice.smith@example.com/calendar/";
const UPPER: &str = "/users/Alice.Smith@Example.com/calendar/";

/// A multiget answered with Exchange's spelling of each asked href.
struct ExchangeCase;

impl Respond for ExchangeCase {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut body = String::from(
            r#"<D:multistatus xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">"#,
        );
        for href in hrefs_in(&req.body) {
            let name = href.rsplit('/').next().unwrap().to_owned();
            let uid = name.trim_end_matches(".EML");
            body.push_str(&format!(
                "<D:response><D:href>{UPPER}{name}</D:href><D:propstat><D:prop><D:getetag>\
                 2015-07-27T14:45:14Z</D:getetag><C:calendar-data>{}</C:calendar-data></D:prop>\
                 <D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>",
                xml_escape(&ics(uid))
            ));
        }
        body.push_str("</D:multistatus>");
        ms(body)
    }
}

#[tokio::test]
async fn davmail_multiget_answering_in_another_case_reads_every_item_without_a_get() {
    let server = MockServer::start().await;
    Mock::given(method("REPORT"))
        .respond_with(ExchangeCase)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404))
        .expect(0)
        .mount(&server)
        .await;
    let s = DavStorage::new(opts(&server, LOWER, ItemKind::Calendar)).unwrap();
    let hrefs: Vec<Href> = ["AAMkADE1AAA.EML", "AAMkADE2AAA.EML"]
        .iter()
        .map(|n| Href(format!("{LOWER}{n}")))
        .collect();
    let got = s
        .get_many(&collection(&server, LOWER), &hrefs)
        .await
        .unwrap();
    let asked: Vec<&str> = got.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(asked, hrefs.iter().map(Href::as_str).collect::<Vec<_>>());
    for (href, r) in &got {
        let (item, _) = r.as_ref().unwrap_or_else(|e| panic!("{href}: {e}"));
        assert!(href.as_str().contains(item.uid().unwrap()), "{href}");
    }
}

#[tokio::test]
async fn davmail_listing_in_another_case_lists_the_same_items_under_the_new_spelling() {
    // The storage passes the server's spelling on; the engine reads an href it does not
    // know, finds the UID and content it has, and only records the new href
    // (src/sync/tests.rs: href_moved_with_unchanged_content_causes_no_writes).
    let server = MockServer::start().await;
    let entry = |base: &str| {
        format!(
            r#"<D:multistatus xmlns:D="DAV:"><D:response><D:href>{base}AAMk1%3d.EML</D:href>
            <D:propstat><D:prop><D:getetag>2015-07-27T14:45:14Z</D:getetag><D:getcontenttype>
            text/calendar; component=vevent</D:getcontenttype><D:resourcetype/></D:prop>
            <D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>"#
        )
    };
    Mock::given(method("PROPFIND"))
        .respond_with(ms(entry(LOWER)))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("PROPFIND"))
        .respond_with(ms(entry(UPPER)))
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("REPORT"))
        .respond_with(ExchangeCase)
        .mount(&server)
        .await;
    let s = DavStorage::new(opts(&server, LOWER, ItemKind::Calendar)).unwrap();
    let c = collection(&server, LOWER);
    let first = s.list(&c).await.unwrap();
    let second = s.list(&c).await.unwrap();
    // Percent-encoding is compared in one canonical spelling (`%3d`, `%3D` and `=` are
    // one href); case is the server's.
    assert_eq!(first[0].href.as_str(), format!("{LOWER}AAMk1=.EML"));
    assert_eq!(second[0].href.as_str(), format!("{UPPER}AAMk1=.EML"));
    assert_eq!(first[0].etag, second[0].etag);
    let got = s.get_many(&c, &[second[0].href.clone()]).await.unwrap();
    let (item, _) = got[0].1.as_ref().unwrap();
    assert_eq!(item.uid(), Some("AAMk1="));
}

#[tokio::test]
async fn davmail_listing_the_same_href_twice_lists_it_once() {
    let server = MockServer::start().await;
    let entry = r#"<d:response><d:href>/cal/a.ics</d:href><d:propstat><d:prop>
        <d:getetag>"1"</d:getetag><d:resourcetype/></d:prop>
        <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"#;
    Mock::given(method("PROPFIND"))
        .and(path("/cal/"))
        .respond_with(ms(format!(
            r#"<d:multistatus xmlns:d="DAV:">{entry}{entry}</d:multistatus>"#
        )))
        .mount(&server)
        .await;
    let s = DavStorage::new(opts(&server, "/cal/", ItemKind::Calendar)).unwrap();
    let listed = s.list(&collection(&server, "/cal/")).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
}

/// A listing with a control character (XML 1.0 allows none but tab, CR and LF), raw or as
/// a character reference, as DavMail copies them from Exchange items.
const CONTROL_CHARACTERS: [&str; 2] = [
    "<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>/cal/a.EML</D:href><D:propstat>\
     <D:prop><D:getetag>\"1\"</D:getetag><D:displayname>Lunch\u{1}</D:displayname>\
     <D:resourcetype/></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>\
     </D:response></D:multistatus>",
    "<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>/cal/a.EML</D:href><D:propstat>\
     <D:prop><D:getetag>\"1\"</D:getetag><D:displayname>Lunch&#11;</D:displayname>\
     <D:resourcetype/></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>\
     </D:response></D:multistatus>",
];

/// Tags that do not match: `</D:prop>` where `</D:propstat>` belongs.
const MISMATCHED: &str =
    "<D:multistatus xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\">\
     <D:response><D:href>/cal/a.EML</D:href><D:propstat><D:prop><D:getetag>\"1\"</D:getetag>\
     <D:resourcetype/></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:prop></D:response>\
     </D:multistatus>";

#[tokio::test]
async fn davmail_control_characters_in_a_listing_are_read_through() {
    for body in CONTROL_CHARACTERS {
        let server = MockServer::start().await;
        Mock::given(method("PROPFIND"))
            .and(path("/cal/"))
            .respond_with(ms(body))
            .mount(&server)
            .await;
        let s = DavStorage::new(opts(&server, "/cal/", ItemKind::Calendar)).unwrap();
        let listed = s.list(&collection(&server, "/cal/")).await.unwrap();
        let hrefs: Vec<&str> = listed.iter().map(|r| r.href.as_str()).collect();
        assert_eq!(hrefs, ["/cal/a.EML"], "{body}");
    }
}

#[tokio::test]
async fn davmail_mismatched_tags_fail_the_listing_naming_the_collection_never_as_empty() {
    let server = MockServer::start().await;
    Mock::given(method("PROPFIND"))
        .and(path("/cal/"))
        .respond_with(ms(MISMATCHED))
        .mount(&server)
        .await;
    Mock::given(method("REPORT"))
        .and(path("/cal/"))
        .respond_with(ms(MISMATCHED))
        .mount(&server)
        .await;
    let s = DavStorage::new(opts(&server, "/cal/", ItemKind::Calendar)).unwrap();
    let c = collection(&server, "/cal/");
    let err = s.list(&c).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    let text = chain(&err);
    assert!(
        text.contains(&format!("PROPFIND {}/cal/: 207 Multi-Status", server.uri()))
            && text.contains("malformed XML")
            && text.contains("expected `</D:propstat>`"),
        "{text}"
    );
    // A whole-collection read that meets it gives way to the listing, which fails as above:
    // never an empty calendar.
    assert!(s.get_all(&c).await.unwrap().is_none());
    let changes = s.changes(&c, None).await;
    assert!(changes.is_err(), "{changes:?}");
}
