//! Listing a collection: `PROPFIND` Depth 1 for `getetag`, `resourcetype`, `getcontenttype`.

use url::Url;

use super::etag::parse_etag;
use super::href::canonical_path;
use super::multistatus::{parse_multistatus, Response};
use super::names;
use super::xml::XmlOut;
use super::{DavRequest, ProtoError};
use crate::item::ItemKind;

/// One member of a listed collection (or of a sync-collection report's changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// Canonical absolute path.
    pub href: String,
    /// As the server sent it; `None` when missing (fetch the item and hash it instead).
    pub etag: Option<String>,
    /// A sub-collection (or the listed collection itself, which Depth 1 includes).
    pub is_collection: bool,
    /// `getcontenttype` as sent, trimmed.
    pub content_type: Option<String>,
}

impl ListEntry {
    /// True when this entry is an item of `kind`: not a collection, and a content type that
    /// fits (see [`is_item_for`]).
    pub fn is_item_for(&self, kind: ItemKind) -> bool {
        !self.is_collection && is_item_for(kind, self.content_type.as_deref())
    }
}

/// True when a resource of this content type may hold an item of `kind`: `text/calendar`
/// for calendars, `text/vcard` (or the older `text/x-vcard`, `text/directory`) for contacts,
/// and any resource without a content type (many servers omit it). Parameters
/// (`; charset=utf-8`, `; component=vevent`) and case are ignored.
pub fn is_item_for(kind: ItemKind, content_type: Option<&str>) -> bool {
    let Some(content_type) = content_type else {
        return true;
    };
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if mime.is_empty() {
        return true;
    }
    match kind {
        ItemKind::Calendar => mime == "text/calendar",
        ItemKind::Contacts => matches!(
            mime.as_str(),
            "text/vcard" | "text/x-vcard" | "text/directory"
        ),
    }
}

/// `PROPFIND` Depth 1 on the collection URL.
pub fn list_request() -> DavRequest {
    let mut out = XmlOut::new(names::PROPFIND, &[names::NS_DAV]);
    out.prop_names(&LIST_PROPS);
    DavRequest {
        method: "PROPFIND",
        depth: Some("1"),
        body: out.finish(),
    }
}

/// The properties a listing asks for.
pub(crate) const LIST_PROPS: [names::Name; 3] =
    [names::GETETAG, names::RESOURCETYPE, names::GETCONTENTTYPE];

/// Parses the listing. Every `<response>` becomes an entry, including the collection itself
/// and sub-collections; filter with [`ListEntry::is_item_for`]. Responses without a 2xx
/// propstat (e.g. a 404 for a vanished member) are skipped. A listing the server truncated
/// (507) fails with [`ProtoError::IncompleteListing`]: an incomplete listing would read as
/// deletions.
pub fn parse_list(body: &[u8], base: &Url) -> Result<Vec<ListEntry>, ProtoError> {
    let mut entries = Vec::new();
    let info = parse_multistatus(body, base, |response| {
        if response.resource_ok() {
            entries.push(list_entry(&response, base));
        }
    })?;
    if info.truncated {
        return Err(ProtoError::IncompleteListing);
    }
    Ok(entries)
}

/// The entry for one listed (or sync-reported) member.
pub(crate) fn list_entry(response: &Response, base: &Url) -> ListEntry {
    let is_collection = match response.prop(names::RESOURCETYPE) {
        Some(rt) => rt.has_child(names::COLLECTION),
        // Without a resourcetype, a trailing slash is the only hint.
        None => response.href.ends_with('/'),
    } || is_request_target(&response.href, base);
    ListEntry {
        href: response.href.clone(),
        etag: response.prop_text(names::GETETAG).and_then(parse_etag),
        is_collection,
        content_type: response.prop_text(names::GETCONTENTTYPE).map(str::to_owned),
    }
}

/// True when `href` names the request URL itself (trailing slash ignored): the listed
/// collection, which some servers (iCloud) report among its members, with an etag.
pub(crate) fn is_request_target(href: &str, base: &Url) -> bool {
    let target = canonical_path(base.path());
    href.trim_end_matches('/') == target.trim_end_matches('/')
}
