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
use super::multistatus::parse_multistatus;
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
    /// XML text or CDATA.
    pub result: Result<(Option<String>, Vec<u8>), ItemFailure>,
}

/// `REPORT` `calendar-multiget` (calendars) or `addressbook-multiget` (contacts) for these
/// hrefs (absolute paths, percent-encoded or not: they are written canonically encoded).
pub fn multiget_request(kind: ItemKind, hrefs: &[&str]) -> DavRequest {
    let (root, ns) = match kind {
        ItemKind::Calendar => (names::CALENDAR_MULTIGET, names::NS_CALDAV),
        ItemKind::Contacts => (names::ADDRESSBOOK_MULTIGET, names::NS_CARDDAV),
    };
    let mut out = XmlOut::new(root, &[names::NS_DAV, ns]);
    out.prop_names(&[names::GETETAG, data_prop(kind)]);
    for href in hrefs {
        out.text_element(names::HREF, &canonical_path(href));
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
    let data_name = data_prop(kind);
    parse_multistatus(body, base, |mut response| {
        let data = response.take_prop(data_name);
        if data.is_none()
            && (response.href.ends_with('/') || is_request_target(&response.href, base))
        {
            return;
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
        on_item(ItemData {
            href: response.href,
            result,
        });
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
