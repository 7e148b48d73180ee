//! Incremental listing: the `sync-collection` REPORT (RFC 6578), and the CalendarServer
//! `getctag` property for servers without it.

use url::Url;

use super::list::{list_entry, ListEntry, LIST_PROPS};
use super::multistatus::parse_multistatus;
use super::names;
use super::xml::{Ev, XmlIn, XmlOut};
use super::{DavRequest, ProtoError};

/// What a sync-collection report says changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncResult {
    /// Members created or changed since the token (may include sub-collections: filter with
    /// [`ListEntry::is_item_for`]).
    pub changed: Vec<ListEntry>,
    /// Members removed since the token (a response with status 404).
    pub deleted: Vec<String>,
    /// The token to send next time.
    pub token: Option<String>,
    /// The server stopped early (507, or our `limit`): send the new token again for the rest.
    pub truncated: bool,
}

/// `REPORT` `sync-collection` (Depth 0, `sync-level` 1) asking for `getetag`,
/// `getcontenttype` and `resourcetype`. `token` `None` (or empty) asks for an initial, full
/// listing. `limit` becomes `<limit><nresults>`.
pub fn sync_collection_request(token: Option<&str>, limit: Option<u32>) -> DavRequest {
    let mut out = XmlOut::new(names::SYNC_COLLECTION, &[names::NS_DAV]);
    match token.map(str::trim).filter(|t| !t.is_empty()) {
        Some(token) => out.text_element(names::SYNC_TOKEN, token),
        None => out.empty(names::SYNC_TOKEN),
    };
    out.text_element(names::SYNC_LEVEL, "1");
    if let Some(limit) = limit {
        out.start(names::LIMIT)
            .text_element(names::NRESULTS, &limit.to_string())
            .end();
    }
    out.prop_names(&LIST_PROPS);
    DavRequest {
        method: "REPORT",
        // RFC 6578 §3.2: the scope is in sync-level; the Depth header must be 0.
        depth: Some("0"),
        body: out.finish(),
    }
}

/// Parses a sync-collection answer.
pub fn parse_sync_collection(body: &[u8], base: &Url) -> Result<SyncResult, ProtoError> {
    let mut result = SyncResult::default();
    let info = parse_multistatus(body, base, |response| match response.status {
        Some(404) => result.deleted.push(response.href),
        // Any other failure says nothing about the member: neither changed nor gone.
        Some(status) if !(200..300).contains(&status) => {}
        _ => result.changed.push(list_entry(&response, base)),
    })?;
    result.token = info.sync_token;
    result.truncated = info.truncated;
    Ok(result)
}

/// `PROPFIND` Depth 0 for the collection's `DAV:sync-token` property (RFC 6578 §4): the
/// token the collection is at now. Equal to a stored token, it proves the collection
/// unchanged without asking for a delta.
pub fn sync_token_request() -> DavRequest {
    super::propfind(&[names::NS_DAV], &[names::SYNC_TOKEN], "0")
}

/// The `DAV:sync-token` property in a PROPFIND answer; `None` when the server has none (or
/// refused it with a non-2xx propstat).
pub fn parse_sync_token(body: &[u8], base: &Url) -> Result<Option<String>, ProtoError> {
    super::first_prop_text(body, base, names::SYNC_TOKEN)
}

/// `PROPFIND` Depth 0 for the collection's CalendarServer `getctag` property: a token that
/// changes whenever any member of the collection does. A server without sync-collection
/// that has it can prove a collection unchanged with this one small request instead of a
/// whole listing.
pub fn ctag_request() -> DavRequest {
    super::propfind(
        &[names::NS_DAV, names::NS_CALENDARSERVER],
        &[names::GETCTAG],
        "0",
    )
}

/// The `getctag` property in a PROPFIND answer, trimmed; `None` when the server has none (or
/// refused it with a non-2xx propstat, or sent it empty).
pub fn parse_ctag(body: &[u8], base: &Url) -> Result<Option<String>, ProtoError> {
    super::first_prop_text(body, base, names::GETCTAG)
}

/// True when a failed sync-collection request says the token is no longer valid
/// (`DAV:valid-sync-token` precondition in a `DAV:error` body with a 4xx status, RFC 6578
/// §3.2): the storage then starts over with an empty token and treats the answer as a
/// complete listing.
pub fn is_invalid_sync_token(status: u16, body: &[u8]) -> bool {
    // RFC 6578 uses 403 (Radicale, SabreDAV) or 409; the precondition element decides, the
    // status only has to be a client error.
    if !(400..500).contains(&status) {
        return false;
    }
    let mut x = XmlIn::new(body);
    if x.expect_root(names::ERROR).is_err() {
        return false;
    }
    loop {
        match x.next() {
            Ok(Ev::Start { ns, local, .. }) if names::VALID_SYNC_TOKEN.is(&ns, &local) => {
                return true
            }
            Ok(Ev::Eof) | Err(_) => return false,
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cyrus_refusal_of_an_unknown_token_is_an_invalid_token() {
        // Cyrus 3.6, to any token it did not issue (seen on the real server).
        let body = br#"<?xml version="1.0" encoding="utf-8"?>
<D:error xmlns:D="DAV:"><D:valid-sync-token/><D:responsedescription>Invalid sync-token</D:responsedescription></D:error>"#;
        assert!(is_invalid_sync_token(403, body));
        assert!(!is_invalid_sync_token(500, body));
    }
    use crate::dav::proto::xml::testutil::{parse_tree, url};
    use crate::item::ItemKind;

    #[test]
    fn sync_token_property_is_asked_with_depth_0_and_read_back() {
        let req = sync_token_request();
        assert_eq!((req.method, req.depth), ("PROPFIND", Some("0")));
        assert_eq!(
            req.body,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
             <d:propfind xmlns:d=\"DAV:\"><d:prop><d:sync-token/></d:prop></d:propfind>"
        );
        // Xandikos' shape: the token with surrounding whitespace.
        let body = br#"<?xml version="1.0" encoding="utf-8"?>
<ns0:multistatus xmlns:ns0="DAV:"><ns0:response><ns0:href>/user/calendars/calendar/</ns0:href>
<ns0:propstat><ns0:status>HTTP/1.1 200 OK</ns0:status><ns0:prop><ns0:sync-token>
 http://example.com/sync/4d1e0b </ns0:sync-token></ns0:prop></ns0:propstat></ns0:response>
</ns0:multistatus>"#;
        assert_eq!(
            parse_sync_token(body, &url("http://h/user/calendars/calendar/")).unwrap(),
            Some("http://example.com/sync/4d1e0b".to_owned())
        );
        let missing = br#"<d:multistatus xmlns:d="DAV:"><d:response><d:href>/c/</d:href>
<d:propstat><d:status>HTTP/1.1 404 Not Found</d:status><d:prop><d:sync-token/></d:prop>
</d:propstat></d:response></d:multistatus>"#;
        assert_eq!(
            parse_sync_token(missing, &url("http://h/c/")).unwrap(),
            None
        );
    }

    #[test]
    fn ctag_is_asked_with_depth_0_in_the_calendarserver_namespace() {
        let req = ctag_request();
        assert_eq!((req.method, req.depth), ("PROPFIND", Some("0")));
        assert_eq!(
            req.body,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
             <d:propfind xmlns:d=\"DAV:\" xmlns:cs=\"http://calendarserver.org/ns/\">\
             <d:prop><cs:getctag/></d:prop></d:propfind>"
        );
        let tree = parse_tree(&req.body);
        assert!(tree.is(names::PROPFIND));
        assert!(tree
            .child(names::PROP)
            .child(names::GETCTAG)
            .is(names::GETCTAG));
    }

    #[test]
    fn ctag_is_read_back_trimmed_whatever_the_prefix() {
        // SabreDAV shape: `cs:` prefix, the ctag a sync-token URI.
        let sabre = br#"<?xml version="1.0"?>
<d:multistatus xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns" xmlns:cs="http://calendarserver.org/ns/">
 <d:response><d:href>/dav/calendars/alice/home/</d:href>
  <d:propstat><d:prop><cs:getctag>http://sabre.io/ns/sync/17</cs:getctag></d:prop>
  <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"#;
        assert_eq!(
            parse_ctag(sabre, &url("https://x.example/dav/calendars/alice/home/")).unwrap(),
            Some("http://sabre.io/ns/sync/17".to_owned())
        );
        // Default namespace redeclared on the property, quoted value, whitespace around it.
        let quoted = br#"<multistatus xmlns="DAV:"><response><href>/c/</href><propstat>
<prop><getctag xmlns="http://calendarserver.org/ns/">
  "1700000000-42" </getctag></prop><status>HTTP/1.1 200 OK</status></propstat></response>
</multistatus>"#;
        assert_eq!(
            parse_ctag(quoted, &url("http://h/c/")).unwrap(),
            Some("\"1700000000-42\"".to_owned())
        );
    }

    #[test]
    fn ctag_missing_refused_or_in_another_namespace_is_none() {
        let not_found = br#"<d:multistatus xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/">
<d:response><d:href>/c/</d:href><d:propstat><d:prop><cs:getctag/></d:prop>
<d:status>HTTP/1.1 404 Not Found</d:status></d:propstat></d:response></d:multistatus>"#;
        assert_eq!(parse_ctag(not_found, &url("http://h/c/")).unwrap(), None);
        // A 404 propstat carrying a value still does not count.
        let refused_with_text =
            br#"<d:multistatus xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/">
<d:response><d:href>/c/</d:href><d:propstat><d:prop><cs:getctag>x</cs:getctag></d:prop>
<d:status>HTTP/1.1 403 Forbidden</d:status></d:propstat></d:response></d:multistatus>"#;
        assert_eq!(
            parse_ctag(refused_with_text, &url("http://h/c/")).unwrap(),
            None
        );
        let empty = br#"<d:multistatus xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/">
<d:response><d:href>/c/</d:href><d:propstat><d:prop><cs:getctag> </cs:getctag></d:prop>
<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"#;
        assert_eq!(parse_ctag(empty, &url("http://h/c/")).unwrap(), None);
        let wrong_ns = br#"<d:multistatus xmlns:d="DAV:"><d:response><d:href>/c/</d:href>
<d:propstat><d:prop><d:getctag>x</d:getctag></d:prop>
<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"#;
        assert_eq!(parse_ctag(wrong_ns, &url("http://h/c/")).unwrap(), None);
        assert!(parse_ctag(b"<html>Please log in</html>", &url("http://h/c/")).is_err());
    }

    #[test]
    fn initial_request_sends_an_empty_token() {
        let req = sync_collection_request(None, None);
        assert_eq!((req.method, req.depth), ("REPORT", Some("0")));
        assert_eq!(
            req.body,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
             <d:sync-collection xmlns:d=\"DAV:\"><d:sync-token/><d:sync-level>1</d:sync-level>\
             <d:prop><d:getetag/><d:resourcetype/><d:getcontenttype/></d:prop>\
             </d:sync-collection>"
        );
        assert_eq!(sync_collection_request(Some("  "), None).body, req.body);
    }

    #[test]
    fn token_and_limit_are_written_in_rfc_order() {
        let req = sync_collection_request(Some("http://x/sync/1?a=1&b=2"), Some(100));
        let tree = parse_tree(&req.body);
        assert!(tree.is(names::SYNC_COLLECTION));
        let order: Vec<String> = tree.child_names().into_iter().map(|(_, l)| l).collect();
        assert_eq!(order, ["sync-token", "sync-level", "limit", "prop"]);
        assert_eq!(
            tree.child(names::SYNC_TOKEN).text,
            "http://x/sync/1?a=1&b=2"
        );
        assert_eq!(tree.child(names::LIMIT).child(names::NRESULTS).text, "100");
    }

    #[test]
    fn changes_deletions_and_new_token() {
        // SabreDAV/Nextcloud shape.
        let body = r#"<?xml version="1.0"?>
<d:multistatus xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns" xmlns:cal="urn:ietf:params:xml:ns:caldav">
 <d:response>
  <d:href>/remote.php/dav/calendars/alice/personal/new.ics</d:href>
  <d:propstat><d:prop><d:getetag>&quot;e1&quot;</d:getetag><d:resourcetype/>
   <d:getcontenttype>text/calendar; charset=utf-8; component=vevent</d:getcontenttype></d:prop>
   <d:status>HTTP/1.1 200 OK</d:status></d:propstat>
 </d:response>
 <d:response>
  <d:href>/remote.php/dav/calendars/alice/personal/old%20one.ics</d:href>
  <d:status>HTTP/1.1 404 Not Found</d:status>
 </d:response>
 <d:sync-token>http://sabre.io/ns/sync/42</d:sync-token>
</d:multistatus>"#;
        let base = url("https://cloud.example.com/remote.php/dav/calendars/alice/personal/");
        let result = parse_sync_collection(body.as_bytes(), &base).unwrap();
        assert_eq!(result.changed.len(), 1);
        assert_eq!(
            result.changed[0].href,
            "/remote.php/dav/calendars/alice/personal/new.ics"
        );
        assert_eq!(result.changed[0].etag.as_deref(), Some("\"e1\""));
        assert!(result.changed[0].is_item_for(ItemKind::Calendar));
        assert_eq!(
            result.deleted,
            ["/remote.php/dav/calendars/alice/personal/old%20one.ics"]
        );
        assert_eq!(result.token.as_deref(), Some("http://sabre.io/ns/sync/42"));
        assert!(!result.truncated);
    }

    #[test]
    fn truncation_with_507_on_the_collection() {
        let body = r#"<D:multistatus xmlns:D="DAV:">
<D:response><D:href>/cal/a.ics</D:href><D:propstat><D:prop><D:getetag>"1"</D:getetag></D:prop>
<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
<D:response><D:href>/cal/</D:href><D:status>HTTP/1.1 507 Insufficient Storage</D:status>
<D:error><D:number-of-matches-within-limits/></D:error></D:response>
<D:sync-token>http://example.com/ns/sync/1235</D:sync-token>
</D:multistatus>"#;
        let result =
            parse_sync_collection(body.as_bytes(), &url("https://x.example/cal/")).unwrap();
        assert!(result.truncated);
        assert_eq!(result.changed.len(), 1);
        assert!(result.deleted.is_empty());
        assert_eq!(
            result.token.as_deref(),
            Some("http://example.com/ns/sync/1235")
        );
    }

    #[test]
    fn radicale_shape_with_default_namespace_token_last() {
        let body = r#"<?xml version='1.0' encoding='utf-8'?>
<multistatus xmlns="DAV:"><response><href>/alice/cal/a.ics</href><propstat><prop><getetag>"x"</getetag></prop><status>HTTP/1.1 200 OK</status></propstat></response><response><href>/alice/cal/b.ics</href><status>HTTP/1.1 404 Not Found</status></response><sync-token>http://radicale.org/ns/sync/9f86d081</sync-token></multistatus>"#;
        let result =
            parse_sync_collection(body.as_bytes(), &url("http://localhost:5232/alice/cal/"))
                .unwrap();
        assert_eq!(result.changed.len(), 1);
        assert_eq!(result.deleted, ["/alice/cal/b.ics"]);
        assert_eq!(
            result.token.as_deref(),
            Some("http://radicale.org/ns/sync/9f86d081")
        );
    }

    #[test]
    fn the_collection_itself_among_changes_is_marked_as_collection() {
        let body = r#"<d:multistatus xmlns:d="DAV:"><d:response><d:href>/cal/</d:href>
<d:propstat><d:prop><d:getetag>"c"</d:getetag></d:prop><d:status>HTTP/1.1 200 OK</d:status>
</d:propstat></d:response><d:sync-token>t</d:sync-token></d:multistatus>"#;
        let result =
            parse_sync_collection(body.as_bytes(), &url("https://x.example/cal/")).unwrap();
        assert!(result.changed[0].is_collection);
        assert!(!result.changed[0].is_item_for(ItemKind::Calendar));
    }

    #[test]
    fn invalid_token_bodies_of_several_servers_are_recognized() {
        // Radicale: 403 with D: prefix.
        let radicale = br#"<?xml version='1.0' encoding='utf-8'?>
<D:error xmlns:D="DAV:"><D:valid-sync-token /></D:error>"#;
        assert!(is_invalid_sync_token(403, radicale));
        // SabreDAV/Nextcloud: 403 with extra sabre elements.
        let sabre = br#"<?xml version="1.0" encoding="utf-8"?>
<d:error xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns">
  <s:sabredav-version>4.6.0</s:sabredav-version>
  <s:exception>Sabre\DAV\Exception\InvalidSyncToken</s:exception>
  <s:message>Invalid or unknown sync token</s:message>
  <d:valid-sync-token/>
</d:error>"#;
        assert!(is_invalid_sync_token(403, sabre));
        // RFC 6578 example shape, 409, default namespace.
        let rfc = br#"<error xmlns="DAV:"><valid-sync-token/></error>"#;
        assert!(is_invalid_sync_token(409, rfc));
    }

    #[test]
    fn other_failures_are_not_an_invalid_token() {
        let token_error = br#"<d:error xmlns:d="DAV:"><d:valid-sync-token/></d:error>"#;
        assert!(!is_invalid_sync_token(500, token_error));
        assert!(!is_invalid_sync_token(207, token_error));
        let other = br#"<d:error xmlns:d="DAV:"><d:need-privileges/></d:error>"#;
        assert!(!is_invalid_sync_token(403, other));
        let wrong_ns =
            br#"<d:error xmlns:d="DAV:" xmlns:x="urn:x"><x:valid-sync-token/></d:error>"#;
        assert!(!is_invalid_sync_token(403, wrong_ns));
        assert!(!is_invalid_sync_token(
            403,
            b"<html><body>Forbidden</body></html>"
        ));
        assert!(!is_invalid_sync_token(403, b""));
        assert!(!is_invalid_sync_token(
            409,
            b"<d:error xmlns:d=\"DAV:\"><d:valid-sync"
        ));
    }
}
