//! Zoho: a multiget answers 100 items at most. Zimbra: UIDs holding a `/`.

use davsync_storages::dav::DavStorage;
use davsync_storages::{Href, Item, ItemKind, Storage};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::dav_support::*;

/// Zoho answers a multiget with its first 100 hrefs at most.
struct FirstHundred;

impl Respond for FirstHundred {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut body = String::from(
            r#"<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">"#,
        );
        for href in hrefs_in(&req.body).into_iter().take(100) {
            let uid = href.trim_start_matches("/cal/").trim_end_matches(".ics");
            body.push_str(&format!(
                "<d:response><d:href>{href}</d:href><d:propstat><d:prop><d:getetag>\"{uid}\"\
                 </d:getetag><c:calendar-data>{}</c:calendar-data></d:prop>\
                 <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>",
                xml_escape(&ics(uid))
            ));
        }
        body.push_str("</d:multistatus>");
        ms(body)
    }
}

#[tokio::test]
async fn zoho_answering_only_100_of_a_multiget_gets_the_rest_read_alone() {
    let server = MockServer::start().await;
    Mock::given(method("REPORT"))
        .respond_with(FirstHundred)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/cal/e\d+\.ics$"))
        .respond_with(|req: &Request| {
            let uid = req
                .url
                .path()
                .trim_start_matches("/cal/")
                .trim_end_matches(".ics")
                .to_owned();
            ResponseTemplate::new(200)
                .insert_header("ETag", format!("\"{uid}\"").as_str())
                .set_body_raw(ics(&uid).into_bytes(), "text/calendar")
        })
        .expect(50)
        .mount(&server)
        .await;
    let mut o = opts(&server, "/cal/", ItemKind::Calendar);
    o.multiget_batch = 150;
    let s = DavStorage::new(o).unwrap();
    let hrefs: Vec<Href> = (0..150).map(|i| Href(format!("/cal/e{i}.ics"))).collect();
    let got = s
        .get_many(&collection(&server, "/cal/"), &hrefs)
        .await
        .unwrap();
    assert_eq!(got.len(), 150);
    for (href, r) in got {
        let (item, _) = r.unwrap_or_else(|e| panic!("{href}: {e}"));
        assert!(href.as_str().contains(item.uid().unwrap()));
    }
}

#[tokio::test]
async fn zimbra_uid_with_a_slash_is_uploaded_under_a_safe_name() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path_regex(r"^/cal/[0-9a-f]{64}\.ics$"))
        .respond_with(ResponseTemplate::new(201).insert_header("ETag", "\"1\""))
        .expect(1)
        .mount(&server)
        .await;
    let s = DavStorage::new(opts(&server, "/cal/", ItemKind::Calendar)).unwrap();
    let item = Item::parse(ItemKind::Calendar, ics("abc/def@zimbra")).unwrap();
    let (href, _) = s
        .upload(&collection(&server, "/cal/"), &item)
        .await
        .unwrap();
    assert!(
        !href.as_str().trim_start_matches("/cal/").contains('/'),
        "{href}"
    );
}
