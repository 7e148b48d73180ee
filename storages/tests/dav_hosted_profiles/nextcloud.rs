//! Nextcloud (SabreDAV 4): the generated birthday calendar (`contact_birthdays`), read-only
//! and holding events with the same UID, and read-only shared calendars answering 403 to
//! writes.

use std::sync::Arc;

use davsync_storages::dav::DavStorage;
use davsync_storages::wrappers::ReadOnly;
use davsync_storages::{ErrorKind, Etag, Href, ItemKind, Storage};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::dav_support::*;

const BIRTHDAYS: &str = "/remote.php/dav/calendars/alice/contact_birthdays/";

/// Sabre's answer to a write without the privilege.
fn forbidden() -> ResponseTemplate {
    ResponseTemplate::new(403).set_body_raw(
        r#"<d:error xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns">
        <s:exception>Sabre\DAV\Exception\Forbidden</s:exception>
        <s:message>This calendar is read-only</s:message></d:error>"#,
        "application/xml; charset=utf-8",
    )
}

/// The birthday calendar: two contacts of two address books share a UID, so their birthday
/// events do too.
async fn birthday_server() -> MockServer {
    let server = MockServer::start().await;
    let a = format!("{BIRTHDAYS}card-a.ics");
    let b = format!("{BIRTHDAYS}card-b.ics");
    let mut body =
        String::from(r#"<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">"#);
    for href in [&a, &b] {
        body.push_str(&format!(
            "<d:response><d:href>{href}</d:href><d:propstat><d:prop><d:getetag>\"{}\"\
             </d:getetag><c:calendar-data>{}</c:calendar-data></d:prop>\
             <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>",
            href.len(),
            xml_escape(&ics("same-contact-uid-BDAY"))
        ));
    }
    body.push_str("</d:multistatus>");
    Mock::given(method("REPORT"))
        .respond_with(ms(body))
        .mount(&server)
        .await;
    Mock::given(method("PROPFIND"))
        .respond_with(ms(format!(
            r#"<multistatus xmlns="DAV:">
            <response><href>{a}</href><propstat><prop><getetag>"1"</getetag><resourcetype/>
            </prop><status>HTTP/1.1 200 OK</status></propstat></response>
            <response><href>{b}</href><propstat><prop><getetag>"2"</getetag><resourcetype/>
            </prop><status>HTTP/1.1 200 OK</status></propstat></response></multistatus>"#
        )))
        .mount(&server)
        .await;
    for m in ["PUT", "DELETE"] {
        Mock::given(method(m))
            .respond_with(forbidden())
            .mount(&server)
            .await;
    }
    server
}

#[tokio::test]
async fn nextcloud_birthday_events_sharing_a_uid_are_both_listed_and_read() {
    // Neither is dropped by the storage: the engine sees both, reports the duplicate UID
    // and syncs neither (docs/sync-algorithm.md, "Duplicate UIDs").
    let server = birthday_server().await;
    let s = DavStorage::new(opts(&server, BIRTHDAYS, ItemKind::Calendar)).unwrap();
    let c = collection(&server, BIRTHDAYS);
    let listed = s.list(&c).await.unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    let hrefs: Vec<Href> = listed.iter().map(|r| r.href.clone()).collect();
    let got = s.get_many(&c, &hrefs).await.unwrap();
    let uids: Vec<String> = got
        .iter()
        .map(|(_, r)| r.as_ref().unwrap().0.uid().unwrap().to_owned())
        .collect();
    assert_eq!(uids, ["same-contact-uid-BDAY", "same-contact-uid-BDAY"]);
    let whole = s.get_all(&c).await.unwrap().expect("read whole");
    assert_eq!(whole.len(), 2);
}

#[tokio::test]
async fn nextcloud_read_only_calendar_refuses_each_write_alone_and_never_as_an_auth_failure() {
    let server = birthday_server().await;
    let s = DavStorage::new(opts(&server, BIRTHDAYS, ItemKind::Calendar)).unwrap();
    let c = collection(&server, BIRTHDAYS);
    let href = Href(format!("{BIRTHDAYS}card-a.ics"));
    let etag = Etag::from("\"1\"");
    let errors = [
        s.upload(&c, &item("mine")).await.unwrap_err(),
        s.update(&c, &href, &item("same-contact-uid-BDAY"), &etag)
            .await
            .unwrap_err(),
        s.delete(&c, &href, &etag).await.unwrap_err(),
    ];
    for e in &errors {
        assert_eq!(e.kind(), ErrorKind::Refused, "{e}");
        assert!(
            chain(e).contains("403 Forbidden (the server says: \"This calendar is read-only\")"),
            "{}",
            chain(e)
        );
    }
    assert!(
        chain(&errors[0]).contains("item mine"),
        "{}",
        chain(&errors[0])
    );
    assert!(
        chain(&errors[2]).contains(&format!("item {BIRTHDAYS}card-a.ics")),
        "{}",
        chain(&errors[2])
    );
}

#[tokio::test]
async fn nextcloud_read_only_storage_sends_no_write_at_all() {
    let server = birthday_server().await;
    let inner = DavStorage::new(opts(&server, BIRTHDAYS, ItemKind::Calendar)).unwrap();
    let s = ReadOnly::new(Arc::new(inner));
    let c = collection(&server, BIRTHDAYS);
    let href = Href(format!("{BIRTHDAYS}card-a.ics"));
    let etag = Etag::from("\"1\"");
    let errors = [
        s.upload(&c, &item("mine")).await.unwrap_err(),
        s.update(&c, &href, &item("mine"), &etag).await.unwrap_err(),
        s.delete(&c, &href, &etag).await.unwrap_err(),
    ];
    for e in &errors {
        assert_eq!(e.kind(), ErrorKind::ReadOnly, "{e}");
    }
    assert!(requests(&server).await.is_empty());
}
