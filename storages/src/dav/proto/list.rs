//! Listing a collection: `PROPFIND` Depth 1 for `getetag`, `resourcetype`, `getcontenttype`.

use url::Url;

use super::etag::parse_etag;
use super::href::canonical_path;
use super::multistatus::{parse_multistatus, Response};
use super::names;
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
    super::propfind(&[names::NS_DAV], &LIST_PROPS, "1")
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dav::proto::xml::testutil::{parse_tree, url};

    fn base() -> Url {
        url("https://cloud.example.com/remote.php/dav/calendars/alice/personal/")
    }

    #[test]
    fn list_request_asks_depth_1_for_etag_type_and_content_type() {
        let req = list_request();
        assert_eq!(req.method, "PROPFIND");
        assert_eq!(req.depth, Some("1"));
        assert_eq!(
            req.body,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
             <d:propfind xmlns:d=\"DAV:\"><d:prop><d:getetag/><d:resourcetype/>\
             <d:getcontenttype/></d:prop></d:propfind>"
        );
        let tree = parse_tree(&req.body);
        assert_eq!(tree.child(names::PROP).children.len(), 3);
    }

    /// Nextcloud (SabreDAV): `d:` prefix, many namespaces on the root, etags entity-quoted,
    /// the collection itself first.
    const NEXTCLOUD: &str = r#"<?xml version="1.0"?>
<d:multistatus xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns" xmlns:cal="urn:ietf:params:xml:ns:caldav" xmlns:cs="http://calendarserver.org/ns/" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns">
 <d:response>
  <d:href>/remote.php/dav/calendars/alice/personal/</d:href>
  <d:propstat>
   <d:prop><d:resourcetype><d:collection/><cal:calendar/></d:resourcetype></d:prop>
   <d:status>HTTP/1.1 200 OK</d:status>
  </d:propstat>
  <d:propstat>
   <d:prop><d:getetag/><d:getcontenttype/></d:prop>
   <d:status>HTTP/1.1 404 Not Found</d:status>
  </d:propstat>
 </d:response>
 <d:response>
  <d:href>/remote.php/dav/calendars/alice/personal/meeting%20notes.ics</d:href>
  <d:propstat>
   <d:prop>
    <d:getetag>&quot;5b1c8a4e0e3b2f7e9d&quot;</d:getetag>
    <d:resourcetype/>
    <d:getcontenttype>text/calendar; charset=utf-8; component=vevent</d:getcontenttype>
   </d:prop>
   <d:status>HTTP/1.1 200 OK</d:status>
  </d:propstat>
 </d:response>
 <d:response>
  <d:href>/remote.php/dav/calendars/alice/personal/weak.ics</d:href>
  <d:propstat>
   <d:prop><d:getetag>W/"17"</d:getetag><d:resourcetype/></d:prop>
   <d:status>HTTP/1.1 200 OK</d:status>
  </d:propstat>
  <d:propstat>
   <d:prop><d:getcontenttype/></d:prop>
   <d:status>HTTP/1.1 404 Not Found</d:status>
  </d:propstat>
 </d:response>
</d:multistatus>"#;

    #[test]
    fn nextcloud_listing() {
        let entries = parse_list(NEXTCLOUD.as_bytes(), &base()).unwrap();
        assert_eq!(entries.len(), 3);
        assert!(entries[0].is_collection);
        assert!(!entries[0].is_item_for(ItemKind::Calendar));
        assert_eq!(entries[0].etag, None);
        assert_eq!(
            entries[1],
            ListEntry {
                href: "/remote.php/dav/calendars/alice/personal/meeting%20notes.ics".into(),
                etag: Some("\"5b1c8a4e0e3b2f7e9d\"".into()),
                is_collection: false,
                content_type: Some("text/calendar; charset=utf-8; component=vevent".into()),
            }
        );
        assert!(entries[1].is_item_for(ItemKind::Calendar));
        assert!(!entries[1].is_item_for(ItemKind::Contacts));
        assert_eq!(entries[2].etag.as_deref(), Some("W/\"17\""));
        assert_eq!(entries[2].content_type, None);
        assert!(entries[2].is_item_for(ItemKind::Calendar));
    }

    /// Radicale: `D:` prefix from ElementTree, hrefs quoted (so `@` arrives as `%40`), etags
    /// as plain quoted text.
    #[test]
    fn radicale_listing_with_encoded_at_sign_and_sub_collection() {
        let body = r#"<?xml version='1.0' encoding='utf-8'?>
<D:multistatus xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:response><D:href>/alice%40example.com/cal/</D:href><D:propstat><D:prop><D:getetag>"c0ffee"</D:getetag><D:resourcetype><C:calendar /><D:collection /></D:resourcetype><D:getcontenttype>text/calendar</D:getcontenttype></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response><D:response><D:href>/alice%40example.com/cal/e1%40host.ics</D:href><D:propstat><D:prop><D:getetag>"abc"</D:getetag><D:resourcetype /><D:getcontenttype>text/calendar;charset=utf-8;component=VEVENT</D:getcontenttype></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response><D:response><D:href>/alice%40example.com/cal/sub/</D:href><D:propstat><D:prop><D:resourcetype><D:collection /></D:resourcetype></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat><D:propstat><D:prop><D:getetag /><D:getcontenttype /></D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat></D:response></D:multistatus>"#;
        let base = url("http://localhost:5232/alice@example.com/cal/");
        let entries = parse_list(body.as_bytes(), &base).unwrap();
        let items: Vec<&ListEntry> = entries
            .iter()
            .filter(|e| e.is_item_for(ItemKind::Calendar))
            .collect();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].href, "/alice@example.com/cal/e1@host.ics");
        assert_eq!(items[0].etag.as_deref(), Some("\"abc\""));
        assert!(entries[0].is_collection && entries[2].is_collection);
    }

    #[test]
    fn unquoted_and_missing_etags_and_members_without_resourcetype() {
        let body = r#"<multistatus xmlns="DAV:">
<response><href>a.vcf</href><propstat><prop><getetag>1234-abcd</getetag></prop>
<status>HTTP/1.1 200 OK</status></propstat></response>
<response><href>b.vcf</href><propstat><prop><getetag></getetag>
<getcontenttype>text/vcard</getcontenttype></prop><status>HTTP/1.1 200 OK</status></propstat></response>
<response><href>folder/</href><propstat><prop><getetag>"f"</getetag></prop>
<status>HTTP/1.1 200 OK</status></propstat></response>
<response><href>gone.vcf</href><status>HTTP/1.1 404 Not Found</status></response>
</multistatus>"#;
        let base = url("https://dav.example.com/book/");
        let entries = parse_list(body.as_bytes(), &base).unwrap();
        assert_eq!(entries.len(), 3, "the 404 member is skipped");
        assert_eq!(entries[0].href, "/book/a.vcf");
        assert_eq!(entries[0].etag.as_deref(), Some("1234-abcd"));
        assert_eq!(entries[1].etag, None);
        assert!(entries[1].is_item_for(ItemKind::Contacts));
        assert!(
            entries[2].is_collection,
            "a trailing slash without resourcetype"
        );
    }

    #[test]
    fn the_collection_itself_counts_as_a_collection_even_without_resourcetype() {
        let body = r#"<d:multistatus xmlns:d="DAV:"><d:response><d:href>/cal</d:href>
            <d:propstat><d:prop><d:getetag>"ctag"</d:getetag>
            <d:getcontenttype>text/calendar</d:getcontenttype></d:prop>
            <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"#;
        let entries = parse_list(body.as_bytes(), &url("https://x.example/cal/")).unwrap();
        assert!(entries[0].is_collection);
        assert!(!entries[0].is_item_for(ItemKind::Calendar));
    }

    #[test]
    fn a_truncated_listing_is_an_error_not_a_shorter_list() {
        let body = r#"<d:multistatus xmlns:d="DAV:">
            <d:response><d:href>/cal/a.ics</d:href><d:propstat><d:prop><d:getetag>"1"</d:getetag>
            </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
            <d:response><d:href>/cal/</d:href><d:status>HTTP/1.1 507 Insufficient Storage</d:status>
            </d:response></d:multistatus>"#;
        assert_eq!(
            parse_list(body.as_bytes(), &url("https://x.example/cal/")).unwrap_err(),
            ProtoError::IncompleteListing
        );
    }

    #[test]
    fn content_types_that_hold_items() {
        use ItemKind::*;
        assert!(is_item_for(Calendar, None));
        assert!(is_item_for(Calendar, Some("")));
        assert!(is_item_for(Calendar, Some("TEXT/Calendar ; charset=UTF-8")));
        assert!(!is_item_for(Calendar, Some("text/vcard")));
        assert!(!is_item_for(Calendar, Some("text/html")));
        assert!(!is_item_for(Calendar, Some("application/octet-stream")));
        assert!(is_item_for(Contacts, Some("text/vcard; charset=utf-8")));
        assert!(is_item_for(Contacts, Some("text/x-vcard")));
        assert!(is_item_for(Contacts, Some("text/directory;profile=vCard")));
        assert!(!is_item_for(Contacts, Some("text/calendar")));
    }
}
