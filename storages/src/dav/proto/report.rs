//! Reading items: `calendar-multiget` / `addressbook-multiget`, `calendar-query`,
//! `addressbook-query` REPORTs (RFC 4791 §7.8-7.9, RFC 6352 §8.6-8.7).
//!
//! All answer with a multistatus of `getetag` + `calendar-data`/`address-data` per item,
//! parsed by [`parse_items`]. A query sent without data answers like a listing: parse it with
//! [`super::parse_list`].

use chrono::{DateTime, Utc};
use url::Url;

use super::etag::parse_etag;
use super::href::canonical_path;
use super::list::is_request_target;
use super::multistatus::{parse_multistatus, MultistatusStream, Response};
use super::names::{self, Name};
use super::xml::XmlOut;
use super::{DavRequest, MultistatusInfo, ProtoError};
use crate::item::ItemKind;

/// The property holding an item's data for this kind.
fn data_prop(kind: ItemKind) -> Name {
    match kind {
        ItemKind::Calendar => names::CALENDAR_DATA,
        ItemKind::Contacts => names::ADDRESS_DATA,
    }
}

/// The iCalendar UTC date-time form CalDAV time ranges use (RFC 4791 §9.9).
fn caldav_time(t: &DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// A component type for the calendar-query filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Component {
    Event,
    Todo,
    Journal,
}

impl Component {
    /// `VEVENT`, `VTODO`, `VJOURNAL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Event => "VEVENT",
            Component::Todo => "VTODO",
            Component::Journal => "VJOURNAL",
        }
    }

    /// Parses `VEVENT`/`VTODO`/`VJOURNAL`, any case.
    pub fn parse(s: &str) -> Option<Component> {
        Some(match s.to_ascii_uppercase().as_str() {
            "VEVENT" => Component::Event,
            "VTODO" => Component::Todo,
            "VJOURNAL" => Component::Journal,
            _ => return None,
        })
    }
}

/// A `calendar-query` for one component type, optionally restricted to a time range
/// (either bound may be open).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarQuery {
    pub component: Component,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    /// Ask for `calendar-data` too (a whole-collection read) rather than etags only.
    pub with_data: bool,
}

/// Why one item of a multiget/query answer carries no data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemFailure {
    /// The server reported this status for the href (e.g. 404: gone since listed).
    Status(u16),
    /// A 2xx response without `calendar-data`/`address-data`.
    NoData,
}

/// One item of a multiget/query answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemData {
    /// Canonical absolute path.
    pub href: String,
    /// The etag as sent (`None` when missing) and the item bytes, exactly as decoded from the
    /// XML text or CDATA: entities (`&#13;`) decoded, line endings and surrounding whitespace
    /// left as the server sent them.
    pub result: Result<(Option<String>, Vec<u8>), ItemFailure>,
}

/// `REPORT` `calendar-multiget` (calendars) or `addressbook-multiget` (contacts) for these
/// hrefs (absolute paths or full URLs, percent-encoded or not: they are written as canonical
/// paths).
pub fn multiget_request(kind: ItemKind, hrefs: &[&str]) -> DavRequest {
    let (root, ns) = match kind {
        ItemKind::Calendar => (names::CALENDAR_MULTIGET, names::NS_CALDAV),
        ItemKind::Contacts => (names::ADDRESSBOOK_MULTIGET, names::NS_CARDDAV),
    };
    let mut out = XmlOut::new(root, &[names::NS_DAV, ns]);
    out.prop_names(&[names::GETETAG, data_prop(kind)]);
    for href in hrefs {
        // A full URL is tolerated: only its path goes out.
        let path = match Url::parse(href) {
            Ok(url) if url.has_host() => canonical_path(url.path()),
            _ => canonical_path(href),
        };
        out.text_element(names::HREF, &path);
    }
    DavRequest {
        method: "REPORT",
        // RFC 4791 says servers ignore it for multiget; RFC 6352's examples send 1 and some
        // servers insist on it.
        depth: Some("1"),
        body: out.finish(),
    }
}

/// `REPORT` `calendar-query` (Depth 1) for one component type, with an optional time range.
pub fn calendar_query_request(query: &CalendarQuery) -> DavRequest {
    let mut out = XmlOut::new(names::CALENDAR_QUERY, &[names::NS_DAV, names::NS_CALDAV]);
    if query.with_data {
        out.prop_names(&[names::GETETAG, names::CALENDAR_DATA]);
    } else {
        out.prop_names(&[names::GETETAG, names::RESOURCETYPE, names::GETCONTENTTYPE]);
    }
    out.start(names::FILTER)
        .start_with(names::COMP_FILTER, &[(names::ATTR_NAME, "VCALENDAR")]);
    let component = [(names::ATTR_NAME, query.component.as_str())];
    if query.start.is_none() && query.end.is_none() {
        out.empty_with(names::COMP_FILTER, &component);
    } else {
        let start = query.start.as_ref().map(caldav_time);
        let end = query.end.as_ref().map(caldav_time);
        let mut range = Vec::new();
        if let Some(start) = &start {
            range.push((names::ATTR_START, start.as_str()));
        }
        if let Some(end) = &end {
            range.push((names::ATTR_END, end.as_str()));
        }
        out.start_with(names::COMP_FILTER, &component)
            .empty_with(names::TIME_RANGE, &range)
            .end();
    }
    DavRequest {
        method: "REPORT",
        depth: Some("1"),
        body: out.finish(),
    }
}

/// `REPORT` `addressbook-query` (Depth 1) matching every card.
pub fn addressbook_query_request(with_data: bool) -> DavRequest {
    let mut out = XmlOut::new(
        names::ADDRESSBOOK_QUERY,
        &[names::NS_DAV, names::NS_CARDDAV],
    );
    if with_data {
        out.prop_names(&[names::GETETAG, names::ADDRESS_DATA]);
    } else {
        out.prop_names(&[names::GETETAG, names::RESOURCETYPE, names::GETCONTENTTYPE]);
    }
    // A filter without prop-filter matches every card (RFC 6352 §10.5).
    out.empty(names::CARDDAV_FILTER);
    DavRequest {
        method: "REPORT",
        depth: Some("1"),
        body: out.finish(),
    }
}

/// Parses a multiget or query answer, calling `on_item` per href. Sub-collections and the
/// collection itself (some servers include them) are skipped.
pub fn parse_items(
    kind: ItemKind,
    body: &[u8],
    base: &Url,
    mut on_item: impl FnMut(ItemData),
) -> Result<MultistatusInfo, ProtoError> {
    parse_multistatus(body, base, |response| {
        if let Some(d) = item_of(kind, response, base) {
            on_item(d);
        }
    })
}

/// [`parse_items`] fed as the body arrives (see [`MultistatusStream`]).
#[derive(Debug)]
pub struct ItemsStream {
    kind: ItemKind,
    base: Url,
    inner: MultistatusStream,
}

impl ItemsStream {
    pub fn new(kind: ItemKind, base: Url) -> ItemsStream {
        ItemsStream {
            kind,
            inner: MultistatusStream::new(base.clone()),
            base,
        }
    }

    pub fn feed(
        &mut self,
        chunk: &[u8],
        mut on_item: impl FnMut(ItemData),
    ) -> Result<(), ProtoError> {
        let (kind, base) = (self.kind, &self.base);
        self.inner.feed(chunk, |r| {
            if let Some(d) = item_of(kind, r, base) {
                on_item(d);
            }
        })
    }

    pub fn finish(self, mut on_item: impl FnMut(ItemData)) -> Result<MultistatusInfo, ProtoError> {
        let (kind, base) = (self.kind, self.base);
        self.inner.finish(|r| {
            if let Some(d) = item_of(kind, r, &base) {
                on_item(d);
            }
        })
    }
}

/// The item a response carries, `None` for the collection itself and sub-collections.
fn item_of(kind: ItemKind, mut response: Response, base: &Url) -> Option<ItemData> {
    let data_name = data_prop(kind);
    let data = response.take_prop(data_name);
    if data.is_none() && (response.href.ends_with('/') || is_request_target(&response.href, base)) {
        return None;
    }
    let result = match (response.status, data) {
        (Some(status), _) if !(200..300).contains(&status) => Err(ItemFailure::Status(status)),
        (_, Some(data)) => Ok((
            response.prop_text(names::GETETAG).and_then(parse_etag),
            data.text.into_bytes(),
        )),
        (_, None) => match response.prop_status(data_name) {
            Some(status) if !(200..300).contains(&status) => Err(ItemFailure::Status(status)),
            _ => Err(ItemFailure::NoData),
        },
    };
    Some(ItemData {
        href: response.href,
        result,
    })
}

/// `REPORT` `calendar-query` (Depth 1) matching every calendar object resource (a filter of
/// `VCALENDAR` alone, RFC 4791 §9.7.1): a whole-collection read that returns exactly what an
/// unfiltered listing lists, whatever components the items hold.
pub fn calendar_query_all_request(with_data: bool) -> DavRequest {
    let mut out = XmlOut::new(names::CALENDAR_QUERY, &[names::NS_DAV, names::NS_CALDAV]);
    if with_data {
        out.prop_names(&[names::GETETAG, names::CALENDAR_DATA]);
    } else {
        out.prop_names(&[names::GETETAG, names::RESOURCETYPE, names::GETCONTENTTYPE]);
    }
    out.start(names::FILTER)
        .empty_with(names::COMP_FILTER, &[(names::ATTR_NAME, "VCALENDAR")])
        .end();
    DavRequest {
        method: "REPORT",
        depth: Some("1"),
        body: out.finish(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dav::proto::xml::testutil::{parse_tree, url};
    use chrono::TimeZone;

    fn items(kind: ItemKind, body: &str, base: &str) -> Vec<ItemData> {
        let mut out = Vec::new();
        parse_items(kind, body.as_bytes(), &url(base), |i| out.push(i)).unwrap();
        out
    }

    #[test]
    fn multiget_body_lists_hrefs_canonically_encoded_and_escaped() {
        let req = multiget_request(
            ItemKind::Calendar,
            &[
                "/cal/a b.ics",
                "/cal/a%20c.ics",
                "/cal/x@y.ics",
                "/cal/R&D.ics",
            ],
        );
        assert_eq!((req.method, req.depth), ("REPORT", Some("1")));
        assert!(
            req.body.contains("<d:href>/cal/R&amp;D.ics</d:href>"),
            "{}",
            req.body
        );
        let tree = parse_tree(&req.body);
        assert!(tree.is(names::CALENDAR_MULTIGET));
        let prop = tree.child(names::PROP);
        assert!(prop.child(names::GETETAG).children.is_empty());
        prop.child(names::CALENDAR_DATA);
        let hrefs: Vec<&str> = tree
            .all(names::HREF)
            .iter()
            .map(|h| h.text.as_str())
            .collect();
        assert_eq!(
            hrefs,
            [
                "/cal/a%20b.ics",
                "/cal/a%20c.ics",
                "/cal/x@y.ics",
                "/cal/R&D.ics"
            ]
        );
    }

    #[test]
    fn addressbook_multiget_uses_the_carddav_names() {
        let req = multiget_request(ItemKind::Contacts, &["/book/a.vcf"]);
        let tree = parse_tree(&req.body);
        assert!(tree.is(names::ADDRESSBOOK_MULTIGET));
        tree.child(names::PROP).child(names::ADDRESS_DATA);
        assert_eq!(tree.child(names::HREF).text, "/book/a.vcf");
    }

    #[test]
    fn calendar_query_golden_with_time_range() {
        let req = calendar_query_request(&CalendarQuery {
            component: Component::Event,
            start: Some(Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()),
            end: Some(Utc.with_ymd_and_hms(2027, 12, 31, 23, 0, 0).unwrap()),
            with_data: true,
        });
        assert_eq!((req.method, req.depth), ("REPORT", Some("1")));
        assert_eq!(
            req.body,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
             <c:calendar-query xmlns:d=\"DAV:\" xmlns:c=\"urn:ietf:params:xml:ns:caldav\">\
             <d:prop><d:getetag/><c:calendar-data/></d:prop>\
             <c:filter><c:comp-filter name=\"VCALENDAR\"><c:comp-filter name=\"VEVENT\">\
             <c:time-range start=\"20260102T030405Z\" end=\"20271231T230000Z\"/>\
             </c:comp-filter></c:comp-filter></c:filter></c:calendar-query>"
        );
    }

    #[test]
    fn calendar_query_without_range_or_data() {
        let req = calendar_query_request(&CalendarQuery {
            component: Component::Todo,
            start: None,
            end: None,
            with_data: false,
        });
        let tree = parse_tree(&req.body);
        let prop = tree.child(names::PROP);
        assert!(prop.all(names::CALENDAR_DATA).is_empty());
        prop.child(names::GETETAG);
        let vcal = tree.child(names::FILTER).child(names::COMP_FILTER);
        assert_eq!(vcal.attr("name"), Some("VCALENDAR"));
        let todo = vcal.child(names::COMP_FILTER);
        assert_eq!(todo.attr("name"), Some("VTODO"));
        assert!(todo.children.is_empty());
    }

    #[test]
    fn calendar_query_with_an_open_ended_range() {
        let req = calendar_query_request(&CalendarQuery {
            component: Component::Journal,
            start: Some(Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()),
            end: None,
            with_data: false,
        });
        let tree = parse_tree(&req.body);
        let range = tree
            .child(names::FILTER)
            .child(names::COMP_FILTER)
            .child(names::COMP_FILTER)
            .child(names::TIME_RANGE);
        assert_eq!(range.attr("start"), Some("20261101T000000Z"));
        assert_eq!(range.attr("end"), None);
    }

    #[test]
    fn addressbook_query_matches_all_cards() {
        let req = addressbook_query_request(true);
        let tree = parse_tree(&req.body);
        assert!(tree.is(names::ADDRESSBOOK_QUERY));
        tree.child(names::PROP).child(names::ADDRESS_DATA);
        assert!(tree.child(names::CARDDAV_FILTER).children.is_empty());
        let without = parse_tree(&addressbook_query_request(false).body);
        assert!(without
            .child(names::PROP)
            .all(names::ADDRESS_DATA)
            .is_empty());
    }

    #[test]
    fn multiget_with_a_per_item_404_fails_that_item_alone() {
        let body = r#"<?xml version="1.0" encoding="utf-8"?>
<d:multistatus xmlns:d="DAV:" xmlns:cal="urn:ietf:params:xml:ns:caldav">
<d:response><d:href>/cal/a.ics</d:href><d:propstat><d:prop>
<d:getetag>"1"</d:getetag><cal:calendar-data>BEGIN:VCALENDAR&#13;
VERSION:2.0&#13;
END:VCALENDAR&#13;
</cal:calendar-data></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
<d:response><d:href>/cal/b.ics</d:href><d:status>HTTP/1.1 404 Not Found</d:status></d:response>
</d:multistatus>"#;
        let got = items(ItemKind::Calendar, body, "https://x.example/cal/");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].href, "/cal/a.ics");
        let (etag, data) = got[0].result.as_ref().unwrap();
        assert_eq!(etag.as_deref(), Some("\"1\""));
        assert_eq!(data, b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n");
        assert_eq!(got[1].href, "/cal/b.ics");
        assert_eq!(got[1].result, Err(ItemFailure::Status(404)));
    }

    #[test]
    fn cdata_calendar_data_is_returned_verbatim() {
        let body = "<multistatus xmlns=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\">\
<response><href>/cal/a.ics</href><propstat><prop><getetag>\"2\"</getetag>\
<C:calendar-data><![CDATA[BEGIN:VCALENDAR\r\nSUMMARY:a < b & c ]] \r\nEND:VCALENDAR\r\n]]></C:calendar-data>\
</prop><status>HTTP/1.1 200 OK</status></propstat></response></multistatus>";
        let got = items(ItemKind::Calendar, body, "https://x.example/cal/");
        let (_, data) = got[0].result.as_ref().unwrap();
        assert_eq!(
            data,
            b"BEGIN:VCALENDAR\r\nSUMMARY:a < b & c ]] \r\nEND:VCALENDAR\r\n"
        );
    }

    #[test]
    fn data_missing_or_refused_per_property() {
        let body = r#"<d:multistatus xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav">
<d:response><d:href>/book/a.vcf</d:href>
<d:propstat><d:prop><d:getetag>"1"</d:getetag></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>
<d:propstat><d:prop><card:address-data/></d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat>
</d:response>
<d:response><d:href>/book/b.vcf</d:href>
<d:propstat><d:prop><d:getetag>"2"</d:getetag></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>
</d:response>
<d:response><d:href>/book/c.vcf</d:href>
<d:propstat><d:prop><card:address-data>BEGIN:VCARD
END:VCARD
</card:address-data></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>
</d:response>
</d:multistatus>"#;
        let got = items(ItemKind::Contacts, body, "https://x.example/book/");
        assert_eq!(got[0].result, Err(ItemFailure::Status(404)));
        assert_eq!(got[1].result, Err(ItemFailure::NoData));
        assert_eq!(
            got[2].result,
            Ok((None, b"BEGIN:VCARD\nEND:VCARD\n".to_vec())),
            "no etag: the caller hashes the data"
        );
    }

    #[test]
    fn xandikos_shape_with_caldav_namespace_declared_inline() {
        let body = "<ns0:multistatus xmlns:ns0=\"DAV:\"><ns0:response>\
<ns0:href>/user/calendars/calendar/e%C3%A9.ics</ns0:href><ns0:status>HTTP/1.1 200 OK</ns0:status>\
<ns0:propstat><ns0:status>HTTP/1.1 200 OK</ns0:status><ns0:prop>\
<ns0:getetag>\"deadbeef\"</ns0:getetag>\
<ns1:calendar-data xmlns:ns1=\"urn:ietf:params:xml:ns:caldav\">BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n</ns1:calendar-data>\
</ns0:prop></ns0:propstat></ns0:response></ns0:multistatus>";
        let got = items(
            ItemKind::Calendar,
            body,
            "http://localhost:8080/user/calendars/calendar/",
        );
        assert_eq!(got[0].href, "/user/calendars/calendar/e%C3%A9.ics");
        let (etag, data) = got[0].result.as_ref().unwrap();
        assert_eq!(etag.as_deref(), Some("\"deadbeef\""));
        assert_eq!(data, b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n");
    }

    #[test]
    fn query_answers_skip_the_collection_itself() {
        let body = r#"<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
<d:response><d:href>/cal/</d:href><d:propstat><d:prop><d:getetag>"col"</d:getetag></d:prop>
<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
<d:response><d:href>/cal/a.ics</d:href><d:propstat><d:prop><d:getetag>"1"</d:getetag>
<c:calendar-data>BEGIN:VCALENDAR
END:VCALENDAR
</c:calendar-data></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
</d:multistatus>"#;
        let got = items(ItemKind::Calendar, body, "https://x.example/cal/");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].href, "/cal/a.ics");
    }

    #[test]
    fn an_item_body_with_an_unknown_entity_is_malformed() {
        let body = r#"<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
<d:response><d:href>/cal/a.ics</d:href><d:propstat><d:prop>
<c:calendar-data>SUMMARY:&nbsp;</c:calendar-data></d:prop>
<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"#;
        let err = parse_items(
            ItemKind::Calendar,
            body.as_bytes(),
            &url("https://x.example/cal/"),
            |_| {},
        )
        .unwrap_err();
        assert!(matches!(err, ProtoError::Malformed { .. }), "{err:?}");
    }

    #[test]
    fn component_names_parse_in_any_case() {
        assert_eq!(Component::parse("vtodo"), Some(Component::Todo));
        assert_eq!(Component::parse("VEVENT"), Some(Component::Event));
        assert_eq!(Component::parse("VJournal"), Some(Component::Journal));
        assert_eq!(Component::parse("VFREEBUSY"), None);
    }
}
