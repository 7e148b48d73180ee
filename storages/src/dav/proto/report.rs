//! Reading items: `calendar-multiget` / `addressbook-multiget`, `calendar-query`,
//! `addressbook-query` REPORTs (RFC 4791 §7.8-7.9, RFC 6352 §8.6-8.7).
//!
//! All answer with a multistatus of `getetag` + `calendar-data`/`address-data` per item,
//! parsed by [`parse_items`]. A query sent without data answers like a listing: parse it with
//! [`super::parse_list`].

use chrono::{DateTime, Utc};
use url::Url;

use super::{DavRequest, MultistatusInfo, ProtoError};
use crate::item::ItemKind;

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
    todo!()
}

/// `REPORT` `calendar-query` (Depth 1) for one component type, with an optional time range.
pub fn calendar_query_request(query: &CalendarQuery) -> DavRequest {
    todo!()
}

/// `REPORT` `addressbook-query` (Depth 1) matching every card.
pub fn addressbook_query_request(with_data: bool) -> DavRequest {
    todo!()
}

/// Parses a multiget or query answer, calling `on_item` per href. Sub-collections and the
/// collection itself (some servers include them) are skipped.
pub fn parse_items(
    kind: ItemKind,
    body: &[u8],
    base: &Url,
    mut on_item: impl FnMut(ItemData),
) -> Result<MultistatusInfo, ProtoError> {
    todo!()
}
