//! iCloud: the principal names a home set on a per-user host (`pNN-caldav.icloud.com`),
//! CardDAV answers a GET of a card with 500, and each calendar takes VEVENT or VTODO only.

use davsync_storages::dav::DavStorage;
use davsync_storages::{ErrorKind, Href, Item, ItemKind, Storage};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::dav_support::*;

fn challenge() -> ResponseTemplate {
    ResponseTemplate::new(401).insert_header("WWW-Authenticate", "Basic realm=\"iCloud\"")
}

/// Answers `path` with `body` to requests carrying alice's credentials only.
async fn mount_authed(server: &MockServer, p: &str, body: String) {
    Mock::given(method("PROPFIND"))
        .and(path(p.to_owned()))
        .and(header("authorization", BASIC))
        .respond_with(ms(body))
        .with_priority(1)
        .mount(server)
        .await;
}

fn calendar(href: &str, component: &str) -> String {
    format!(
        r#"<d:response><d:href>{href}</d:href><d:propstat><d:prop><d:resourcetype><d:collection/>
        <c:calendar/></d:resourcetype><c:supported-calendar-component-set><c:comp name="{component}"/>
        </c:supported-calendar-component-set></d:prop><d:status>HTTP/1.1 200 OK</d:status>
        </d:propstat></d:response>"#
    )
}

fn home_listing() -> String {
    format!(
        r#"<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
        <d:response><d:href>/123456/calendars/</d:href><d:propstat><d:prop><d:resourcetype>
        <d:collection/></d:resourcetype></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>
        </d:response>{}{}</d:multistatus>"#,
        calendar("/123456/calendars/home/", "VEVENT"),
        calendar("/123456/calendars/tasks/", "VTODO"),
    )
}

fn vtodo(uid: &str) -> Item {
    let raw = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//davsync tests//EN\r\nBEGIN:VTODO\r\n\
         UID:{uid}\r\nDTSTAMP:20240101T000000Z\r\nSUMMARY:task\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
    );
    Item::parse(ItemKind::Calendar, raw).unwrap()
}

#[tokio::test]
async fn icloud_home_set_on_a_per_user_host_is_followed_with_the_same_credentials() {
    let front = MockServer::start().await; // caldav.icloud.com
    let partition = MockServer::start().await; // p42-caldav.icloud.com
    for s in [&front, &partition] {
        Mock::given(method("PROPFIND"))
            .respond_with(challenge())
            .with_priority(5)
            .mount(s)
            .await;
    }
    mount_authed(
        &front,
        "/",
        principal_answer("/", "d:current-user-principal", "/123456/principal/"),
    )
    .await;
    mount_authed(
        &front,
        "/123456/principal/",
        principal_answer(
            "/123456/principal/",
            "c:calendar-home-set",
            &format!("{}/123456/calendars/", partition.uri()),
        ),
    )
    .await;
    mount_authed(&partition, "/123456/calendars/", home_listing()).await;
    mount_authed(
        &partition,
        "/123456/calendars/home/",
        listing(&["/123456/calendars/home/e1.ics"]),
    )
    .await;

    let s = DavStorage::new(opts(&front, "/", ItemKind::Calendar)).unwrap();
    let found = s.discover().await.unwrap();
    let hrefs: Vec<&str> = found.iter().map(|c| c.href.as_str()).collect();
    assert_eq!(
        hrefs,
        [
            format!("{}/123456/calendars/home/", partition.uri()),
            format!("{}/123456/calendars/tasks/", partition.uri()),
        ],
    );
    let listed = s.list(&found[0]).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let on_partition = requests(&partition).await;
    assert!(
        on_partition
            .iter()
            .any(|r| r.headers.get("authorization").is_some_and(|v| v == BASIC)),
        "the per-user host never got the credentials"
    );

    // `check --online` says where the calendars are.
    let report = s.server_report().await.unwrap();
    assert!(
        report.homes == [format!("{}/123456/calendars/", partition.uri())]
            && report
                .quirks
                .iter()
                .any(|q| q.starts_with("home set on another host")),
        "{report:?}"
    );

    // What discovery read of each calendar decides uploads without asking again: an event
    // is not sent to the tasks calendar.
    partition.reset().await;
    let err = s.upload(&found[1], &item("ev1")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Refused);
    let text = chain(&err);
    assert!(
        text.contains("item ev1") && text.contains("VEVENT") && text.contains("takes only VTODO"),
        "{text}"
    );
    assert!(requests(&partition).await.is_empty());
}

#[tokio::test]
async fn icloud_calendar_taking_only_vtodo_gets_no_event_and_is_asked_once() {
    let server = MockServer::start().await;
    Mock::given(method("PROPFIND"))
        .and(header("depth", "0"))
        .respond_with(ms(format!(
            r#"<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">{}</d:multistatus>"#,
            calendar("/cal/", "VTODO")
        )))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(201).insert_header("ETag", "\"t1\""))
        .expect(1)
        .mount(&server)
        .await;
    let s = DavStorage::new(opts(&server, "/cal/", ItemKind::Calendar)).unwrap();
    let c = collection(&server, "/cal/");
    let err = s.upload(&c, &item("ev1")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Refused);
    let text = chain(&err);
    assert!(
        text.contains("item ev1 (/cal/ev1.ics): not uploaded: it is a VEVENT"),
        "{text}"
    );
    let (href, _) = s.upload(&c, &vtodo("todo1")).await.unwrap();
    assert_eq!(href.as_str(), "/cal/todo1.ics");
    assert!(s.upload(&c, &item("ev2")).await.is_err());
}

fn vcard(uid: &str) -> String {
    format!("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{uid}\r\nN:{uid};;;;\r\nEND:VCARD\r\n")
}

/// An addressbook-multiget answering every asked href but `left_out`.
struct CardMultiget {
    left_out: &'static str,
}

impl Respond for CardMultiget {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut body = String::from(
            r#"<d:multistatus xmlns:d="DAV:" xmlns:r="urn:ietf:params:xml:ns:carddav">"#,
        );
        for href in hrefs_in(&req.body) {
            if href == self.left_out {
                continue;
            }
            let uid = href.trim_start_matches("/card/").trim_end_matches(".vcf");
            body.push_str(&format!(
                "<d:response><d:href>{href}</d:href><d:propstat><d:prop><d:getetag>\"{uid}\"\
                 </d:getetag><r:address-data>{}</r:address-data></d:prop>\
                 <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>",
                xml_escape(&vcard(uid))
            ));
        }
        body.push_str("</d:multistatus>");
        ms(body)
    }
}

#[tokio::test]
async fn icloud_cards_are_read_by_multiget_and_never_by_the_get_it_answers_500() {
    let server = MockServer::start().await;
    Mock::given(method("REPORT"))
        .respond_with(CardMultiget { left_out: "" })
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let s = DavStorage::new(opts(&server, "/card/", ItemKind::Contacts)).unwrap();
    let hrefs: Vec<Href> = ["/card/a.vcf", "/card/b.vcf"]
        .into_iter()
        .map(Href::from)
        .collect();
    let got = s
        .get_many(&collection(&server, "/card/"), &hrefs)
        .await
        .unwrap();
    for (href, r) in got {
        let (card, _) = r.unwrap_or_else(|e| panic!("{href}: {e}"));
        assert!(href.as_str().contains(card.uid().unwrap()));
    }
}

#[tokio::test]
async fn icloud_card_left_out_of_a_multiget_fails_alone_when_its_get_answers_500() {
    let server = MockServer::start().await;
    Mock::given(method("REPORT"))
        .respond_with(CardMultiget {
            left_out: "/card/b.vcf",
        })
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/card/b.vcf"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let s = DavStorage::new(opts(&server, "/card/", ItemKind::Contacts)).unwrap();
    let hrefs: Vec<Href> = ["/card/a.vcf", "/card/b.vcf", "/card/c.vcf"]
        .into_iter()
        .map(Href::from)
        .collect();
    let got = s
        .get_many(&collection(&server, "/card/"), &hrefs)
        .await
        .unwrap();
    assert_eq!(got.len(), 3);
    for (href, r) in got {
        if href.as_str() == "/card/b.vcf" {
            let e = r.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Transport);
            let text = chain(&e);
            assert!(
                text.contains("/card/b.vcf")
                    && text.contains("500")
                    && text.contains("server error"),
                "{text}"
            );
        } else {
            assert!(r.is_ok(), "{href}: {r:?}");
        }
    }
}

#[tokio::test]
async fn a_home_set_named_on_a_host_that_cannot_be_reached_is_tried_where_davsync_was_pointed() {
    // Not iCloud: a server behind a proxy that names its internal address. Read by path
    // alone, as before full home-set URLs were followed, it still works.
    let server = MockServer::start().await;
    mount_authed(
        &server,
        "/",
        principal_answer(
            "/",
            "c:calendar-home-set",
            "http://127.0.0.1:1/123456/calendars/",
        ),
    )
    .await;
    mount_authed(&server, "/123456/calendars/", home_listing()).await;
    Mock::given(method("PROPFIND"))
        .respond_with(challenge())
        .with_priority(5)
        .mount(&server)
        .await;
    let s = DavStorage::new(opts(&server, "/", ItemKind::Calendar)).unwrap();
    let found = s.discover().await.unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].href.starts_with(&server.uri()), "{found:?}");
}
