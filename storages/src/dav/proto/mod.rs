//! The sans-IO WebDAV/CalDAV/CardDAV protocol layer.
//!
//! Each request type is a pair of pure functions: one builds a [`DavRequest`] (method, Depth,
//! XML body), one parses the response body. No I/O happens here, so the network layer stays
//! thin and every server quirk is unit-tested on literal XML.
//!
//! # Hrefs
//!
//! Every href returned by a parser is a *canonical absolute path* (see [`href`]): relative
//! hrefs are resolved against the request URL, absolute URLs are reduced to their path, and
//! percent-encoding is normalized, so `/cal/a%20b.ics` and `/cal/a b.ics` come out equal
//! (`/cal/a%20b.ics`). The network layer joins such a path onto the server URL with
//! [`url::Url::join`] and normalizes its own paths with [`href::canonical_path`] before
//! comparing.
//!
//! # Etags
//!
//! Etags are returned exactly as the server sent them (see [`etag`]); a weak etag cannot go
//! into `If-Match`.
//!
//! # Which request for what
//!
//! | storage operation | request (URL) | parser |
//! | --- | --- | --- |
//! | `list` | [`list_request`] (collection) | [`parse_list`], keep [`ListEntry::is_item_for`] |
//! | `get_many` | [`multiget_request`] (collection) | [`parse_items`] |
//! | `get_all` | [`calendar_query_request`] / [`addressbook_query_request`] with data | [`parse_items`] |
//! | `changes` | [`sync_token_request`] (collection, a cheap pre-check), then [`sync_collection_request`] | [`parse_sync_token`]; [`parse_sync_collection`]; on a 4xx, [`is_invalid_sync_token`] |
//! | `changes` without sync-collection | [`ctag_request`] (collection), then [`list_request`] when it moved | [`parse_ctag`], [`parse_list`] |
//! | `discover` | [`current_user_principal_request`], [`home_set_request`], [`collections_request`]`("1")` | [`parse_current_user_principal`], [`parse_home_set_urls`], [`parse_collections`] |
//! | `upload` (calendars; once per collection unless discovery said) | [`supported_components_request`] (collection) | [`parse_collections`], then [`item_components`] and [`refused_components`] |
//! | `create_collection` | [`mkcalendar_request`] / [`mkcol_addressbook_request`] (new URL) | HTTP status only (201) |
//! | `get_meta` | [`collections_request`]`("0")` (collection) | [`parse_collections`], [`CollectionInfo::meta`] |
//! | `set_meta` | [`proppatch_request`] with [`MetaProp::for_key`] | [`parse_proppatch`] |
//!
//! Parsers expect the body of a 207 Multi-Status; the network layer checks the HTTP status
//! first (a 404 or 403 is not a body to parse, except for [`is_invalid_sync_token`]).
//!
//! # Errors
//!
//! Parsers fail with [`ProtoError`] when the body is not the promised XML (an HTML login page,
//! a truncated body, a missing element). The network layer maps it to
//! `ErrorKind::InvalidData` and adds the URL and status.

pub mod collection;
pub mod components;
pub mod discovery;
mod error;
pub mod etag;
pub mod href;
pub mod list;
pub mod multistatus;
pub mod names;
pub mod refusal;
pub mod report;
pub mod sync;
mod xml;

pub use collection::{
    mkcalendar_request, mkcol_addressbook_request, parse_proppatch, proppatch_request, MetaProp,
    PropStatus,
};
pub use components::{item_components, refused_components, supported_components_request};
pub use discovery::{
    collections_request, current_user_principal_request, home_listing_request, home_set_request,
    parse_collections, parse_current_user_principal, parse_home_set_urls, parse_home_sets,
    parse_scheduling_urls, CollectionInfo, ListingTokens,
};
pub use error::ProtoError;
pub use etag::{if_match_value, is_weak, parse_etag};
pub use href::{canonical_path, is_path_of, last_segment, normalize_href, AskedHrefs};
pub use list::{is_item_for, list_request, parse_list, ListEntry};
pub use multistatus::{
    parse_multistatus, MultistatusInfo, MultistatusStream, Prop, PropChild, Propstat, Response,
};
pub use refusal::refusal_note;
pub use report::{
    addressbook_query_request, calendar_query_request, multiget_request, parse_items,
    CalendarQuery, Component, ItemData, ItemFailure, ItemsStream,
};
pub use sync::{
    ctag_request, is_invalid_sync_token, parse_ctag, parse_sync_collection, parse_sync_token,
    sync_collection_request, sync_token_request, SyncResult,
};

/// The `Content-Type` of every request body built here.
pub const CONTENT_TYPE: &str = "application/xml; charset=utf-8";

/// A request to send: method, optional `Depth` header and XML body (sent with
/// [`CONTENT_TYPE`]). The URL is the caller's: the collection, principal or home set concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DavRequest {
    /// `PROPFIND`, `REPORT`, `MKCALENDAR`, `MKCOL` or `PROPPATCH`.
    pub method: &'static str,
    /// The `Depth` header (`"0"` or `"1"`), `None` for none.
    pub depth: Option<&'static str>,
    /// The XML body, UTF-8.
    pub body: String,
}

/// A `PROPFIND` for `props` (declaring `namespaces` on the root) with this `Depth`.
pub(crate) fn propfind(
    namespaces: &[&'static str],
    props: &[names::Name],
    depth: &'static str,
) -> DavRequest {
    let mut out = xml::XmlOut::new(names::PROPFIND, namespaces);
    out.prop_names(props);
    DavRequest {
        method: "PROPFIND",
        depth: Some(depth),
        body: out.finish(),
    }
}

/// The trimmed text of property `name` in the first response of a PROPFIND answer that
/// carries it with a 2xx status; `None` when none does.
pub(crate) fn first_prop_text(
    body: &[u8],
    base: &url::Url,
    name: names::Name,
) -> Result<Option<String>, ProtoError> {
    let mut found = None;
    multistatus::parse_multistatus(body, base, |response| {
        if found.is_none() && response.resource_ok() {
            found = response.prop_text(name).map(str::to_owned);
        }
    })?;
    Ok(found)
}
