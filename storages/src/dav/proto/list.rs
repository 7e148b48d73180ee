//! Listing a collection: `PROPFIND` Depth 1 for `getetag`, `resourcetype`, `getcontenttype`.

use url::Url;

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
    todo!()
}

/// `PROPFIND` Depth 1 on the collection URL.
pub fn list_request() -> DavRequest {
    todo!()
}

/// Parses the listing. Every `<response>` becomes an entry, including the collection itself
/// and sub-collections; filter with [`ListEntry::is_item_for`]. Responses without a 2xx
/// propstat (e.g. a 404 for a vanished member) are skipped. A listing the server truncated
/// (507) fails with [`ProtoError::IncompleteListing`]: an incomplete listing would read as
/// deletions.
pub fn parse_list(body: &[u8], base: &Url) -> Result<Vec<ListEntry>, ProtoError> {
    todo!()
}
