//! Discovery PROPFINDs: principal, home sets, and the collections in a home set
//! (RFC 5397, RFC 4791 §6.2.1, RFC 6352 §7.1.1).

use url::Url;

use super::href::canonical_path;
use super::multistatus::{parse_multistatus, Response};
use super::names::{self, Name};
use super::report::Component;
use super::xml::{Ev, XmlIn};
use super::{propfind, DavRequest, ProtoError};
use crate::item::ItemKind;
use crate::storage::MetaKey;

/// A calendar or address book found in a home set, with its properties.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CollectionInfo {
    /// Canonical absolute path (with the trailing slash the server gave it).
    pub href: String,
    /// What it holds, from `resourcetype`: `Calendar` for `C:calendar`, `Contacts` for
    /// `CR:addressbook`. Empty for a plain collection (e.g. the home set itself).
    pub kinds: Vec<ItemKind>,
    pub displayname: Option<String>,
    /// Apple `calendar-color`, as sent (usually `#RRGGBB` or `#RRGGBBAA`).
    pub color: Option<String>,
    /// `calendar-description` or `addressbook-description`.
    pub description: Option<String>,
    /// Apple `calendar-order`, as sent.
    pub order: Option<String>,
    /// `supported-calendar-component-set`; empty when the server did not say (all allowed).
    pub components: Vec<String>,
    /// CalendarServer `getctag`.
    pub ctag: Option<String>,
    /// `DAV:sync-token`; `Some` means the collection supports sync-collection.
    pub sync_token: Option<String>,
    /// Typed `schedule-outbox` as well as calendar (SOGo's personal calendar): a calendar
    /// even when the principal names it as its outbox.
    pub typed_outbox: bool,
}

impl CollectionInfo {
    /// The value of a metadata key, as read by [`collections_request`] (Depth 0 on the
    /// collection for `get_meta`).
    pub fn meta(&self, key: MetaKey) -> Option<&str> {
        match key {
            MetaKey::DisplayName => self.displayname.as_deref(),
            MetaKey::Color => self.color.as_deref(),
            MetaKey::Description => self.description.as_deref(),
            MetaKey::Order => self.order.as_deref(),
        }
    }

    pub fn has_kind(&self, kind: ItemKind) -> bool {
        self.kinds.contains(&kind)
    }

    /// True when the calendar accepts this component (or did not say what it accepts).
    pub fn supports(&self, component: Component) -> bool {
        self.components.is_empty()
            || self
                .components
                .iter()
                .any(|c| c.eq_ignore_ascii_case(component.as_str()))
    }
}

/// `PROPFIND` Depth 0 for `current-user-principal`, sent to the configured URL (or the
/// `/.well-known/caldav` / `carddav` redirect target).
pub fn current_user_principal_request() -> DavRequest {
    propfind(&[names::NS_DAV], &[names::CURRENT_USER_PRINCIPAL], "0")
}

/// The principal's canonical path, `None` when the server has none (unauthenticated, or no
/// RFC 5397 support: then the caller tries the URL itself as principal).
pub fn parse_current_user_principal(body: &[u8], base: &Url) -> Result<Option<String>, ProtoError> {
    let mut principal = None;
    parse_multistatus(body, base, |response| {
        if principal.is_none() {
            principal = response
                .prop(names::CURRENT_USER_PRINCIPAL)
                .and_then(|p| p.hrefs.first().cloned());
        }
    })?;
    Ok(principal)
}

/// `PROPFIND` Depth 0 on the principal for `calendar-home-set` or `addressbook-home-set`.
pub fn home_set_request(kind: ItemKind) -> DavRequest {
    match kind {
        // The scheduling inbox and outbox (RFC 6638) come along: some servers type them as
        // calendars (DAViCal's `.in/` and `.out/`), and only the principal says what they are.
        ItemKind::Calendar => propfind(
            &[names::NS_DAV, names::NS_CALDAV],
            &[
                names::CALENDAR_HOME_SET,
                names::SCHEDULE_INBOX_URL,
                names::SCHEDULE_OUTBOX_URL,
            ],
            "0",
        ),
        ItemKind::Contacts => propfind(
            &[names::NS_DAV, names::NS_CARDDAV],
            &[names::ADDRESSBOOK_HOME_SET],
            "0",
        ),
    }
}

/// The home sets (canonical paths; a server may list several), empty when none.
pub fn parse_home_sets(kind: ItemKind, body: &[u8], base: &Url) -> Result<Vec<String>, ProtoError> {
    let name = match kind {
        ItemKind::Calendar => names::CALENDAR_HOME_SET,
        ItemKind::Contacts => names::ADDRESSBOOK_HOME_SET,
    };
    let mut homes: Vec<String> = Vec::new();
    parse_multistatus(body, base, |response| {
        if let Some(prop) = response.prop(name) {
            for href in &prop.hrefs {
                if !homes.contains(href) {
                    homes.push(href.clone());
                }
            }
        }
    })?;
    Ok(homes)
}

/// The home sets as URLs: a relative href resolved against `base`, an absolute one kept
/// with its host, each path in its canonical spelling. iCloud's principal names a home set
/// on a per-user host (`https://p42-caldav.icloud.com:443/123456/calendars/`); its path
/// alone would send the listing back to the host that was asked.
pub fn parse_home_set_urls(
    kind: ItemKind,
    body: &[u8],
    base: &Url,
) -> Result<Vec<Url>, ProtoError> {
    // The multistatus reading says which home sets count (those of a 2xx propstat); a
    // second pass finds how each was written.
    let paths = parse_home_sets(kind, body, base)?;
    let name = match kind {
        ItemKind::Calendar => names::CALENDAR_HOME_SET,
        ItemKind::Contacts => names::ADDRESSBOOK_HOME_SET,
    };
    let mut out: Vec<Url> = Vec::new();
    for text in href_texts_in(body, name)? {
        let Ok(mut url) = base.join(text.trim()) else {
            continue;
        };
        let path = canonical_path(url.path());
        if !paths.contains(&path) {
            continue;
        }
        url.set_path(&path);
        url.set_query(None);
        url.set_fragment(None);
        if !out.contains(&url) {
            out.push(url);
        }
    }
    Ok(out)
}

/// The raw texts of the `DAV:href` elements inside every `name` element of a body.
fn href_texts_in(body: &[u8], name: Name) -> Result<Vec<String>, ProtoError> {
    let mut x = XmlIn::new(body);
    let mut inside: Option<usize> = None;
    let mut out = Vec::new();
    loop {
        match x.next()? {
            Ev::Start { ns, local, .. } => {
                if inside.is_none() && name.is(&ns, &local) {
                    inside = Some(x.depth());
                } else if inside.is_some() && names::HREF.is(&ns, &local) {
                    out.push(x.read_text()?);
                }
            }
            Ev::End => {
                if inside.is_some_and(|d| x.depth() < d) {
                    inside = None;
                }
            }
            Ev::Text(_) => {}
            Ev::Eof => return Ok(out),
        }
    }
}

/// The principal's scheduling inbox and outbox (canonical paths) from a [`home_set_request`]
/// answer: never calendars to sync, whatever their resourcetype says.
pub fn parse_scheduling_urls(body: &[u8], base: &Url) -> Result<Vec<String>, ProtoError> {
    let mut out: Vec<String> = Vec::new();
    parse_multistatus(body, base, |response| {
        for name in [names::SCHEDULE_INBOX_URL, names::SCHEDULE_OUTBOX_URL] {
            if let Some(prop) = response.prop(name) {
                out.extend(prop.hrefs.iter().cloned());
            }
        }
    })?;
    Ok(out)
}

/// Everything [`collections_request`] asks for.
const COLLECTION_PROPS: [Name; 9] = [
    names::RESOURCETYPE,
    names::DISPLAYNAME,
    names::CALENDAR_COLOR,
    names::CALENDAR_ORDER,
    names::CALENDAR_DESCRIPTION,
    names::ADDRESSBOOK_DESCRIPTION,
    names::SUPPORTED_CALENDAR_COMPONENT_SET,
    names::GETCTAG,
    names::SYNC_TOKEN,
];

/// `PROPFIND` for every property in [`CollectionInfo`]: `depth` `"1"` on a home set lists
/// its collections, `"0"` on a collection reads its own properties (metadata).
pub fn collections_request(depth: &'static str) -> DavRequest {
    propfind(
        &[
            names::NS_DAV,
            names::NS_CALDAV,
            names::NS_CARDDAV,
            names::NS_APPLE_ICAL,
            names::NS_CALENDARSERVER,
        ],
        &COLLECTION_PROPS,
        depth,
    )
}

/// Which change token a home-set listing asks of each collection (see
/// [`home_listing_request`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ListingTokens {
    pub sync_token: bool,
    pub ctag: bool,
}

/// `PROPFIND` Depth 1 on a home set asking only what a sync uses: what each member is
/// (`resourcetype`, the components a calendar takes) and the change tokens asked for. Servers
/// may compute a token by hashing every item of the collection (Radicale does), so a token
/// nobody compares is not asked.
pub fn home_listing_request(tokens: ListingTokens) -> DavRequest {
    let mut props = vec![names::RESOURCETYPE, names::SUPPORTED_CALENDAR_COMPONENT_SET];
    if tokens.sync_token {
        props.push(names::SYNC_TOKEN);
    }
    if tokens.ctag {
        props.push(names::GETCTAG);
    }
    propfind(
        &[
            names::NS_DAV,
            names::NS_CALDAV,
            names::NS_CARDDAV,
            names::NS_CALENDARSERVER,
        ],
        &props,
        "1",
    )
}

/// Every collection in the answer (calendars, address books and plain collections, see
/// [`CollectionInfo::kinds`]); non-collections are skipped.
pub fn parse_collections(body: &[u8], base: &Url) -> Result<Vec<CollectionInfo>, ProtoError> {
    let mut out = Vec::new();
    parse_multistatus(body, base, |response| {
        if let Some(info) = collection_info(&response) {
            out.push(info);
        }
    })?;
    Ok(out)
}

fn collection_info(response: &Response) -> Option<CollectionInfo> {
    if !response.resource_ok() {
        return None;
    }
    let rt = response.prop(names::RESOURCETYPE)?;
    let mut kinds = Vec::new();
    // A scheduling inbox holds invitations, never the user's calendar. An outbox typed as
    // one but not as a calendar is no calendar either; SOGo types its personal calendar as
    // both (it doubles as the outbox), and that one is a calendar.
    let inbox = rt.has_child(names::SCHEDULE_INBOX);
    let outbox = rt.has_child(names::SCHEDULE_OUTBOX);
    if rt.has_child(names::CALENDAR) && !inbox {
        kinds.push(ItemKind::Calendar);
    }
    if rt.has_child(names::ADDRESSBOOK) {
        kinds.push(ItemKind::Contacts);
    }
    if kinds.is_empty() && !rt.has_child(names::COLLECTION) {
        return None;
    }
    let text = |name| response.prop_text(name).map(str::to_owned);
    let components = response
        .prop(names::SUPPORTED_CALENDAR_COMPONENT_SET)
        .map(|p| {
            p.children
                .iter()
                .filter(|c| c.is(names::COMP))
                .filter_map(|c| c.name_attr.as_deref())
                .map(|n| n.trim().to_ascii_uppercase())
                .collect()
        })
        .unwrap_or_default();
    Some(CollectionInfo {
        href: response.href.clone(),
        kinds,
        displayname: text(names::DISPLAYNAME),
        color: text(names::CALENDAR_COLOR),
        description: text(names::CALENDAR_DESCRIPTION)
            .or_else(|| text(names::ADDRESSBOOK_DESCRIPTION)),
        order: text(names::CALENDAR_ORDER),
        components,
        ctag: text(names::GETCTAG),
        sync_token: text(names::SYNC_TOKEN),
        typed_outbox: outbox,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dav::proto::xml::testutil::{parse_tree, url};

    #[test]
    fn principal_request_is_depth_0() {
        let req = current_user_principal_request();
        assert_eq!((req.method, req.depth), ("PROPFIND", Some("0")));
        parse_tree(&req.body)
            .child(names::PROP)
            .child(names::CURRENT_USER_PRINCIPAL);
    }

    #[test]
    fn nextcloud_principal() {
        let body = r#"<?xml version="1.0"?>
<d:multistatus xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns" xmlns:cal="urn:ietf:params:xml:ns:caldav" xmlns:cs="http://calendarserver.org/ns/" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns">
 <d:response><d:href>/remote.php/dav/</d:href>
  <d:propstat><d:prop><d:current-user-principal><d:href>/remote.php/dav/principals/users/alice/</d:href></d:current-user-principal></d:prop>
  <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
</d:multistatus>"#;
        let principal = parse_current_user_principal(
            body.as_bytes(),
            &url("https://cloud.example.com/remote.php/dav/"),
        )
        .unwrap();
        assert_eq!(
            principal.as_deref(),
            Some("/remote.php/dav/principals/users/alice/")
        );
    }

    #[test]
    fn unauthenticated_or_unsupported_principal_is_none() {
        let unauth = r#"<multistatus xmlns="DAV:"><response><href>/</href><propstat><prop>
<current-user-principal><unauthenticated/></current-user-principal></prop>
<status>HTTP/1.1 200 OK</status></propstat></response></multistatus>"#;
        let missing = r#"<multistatus xmlns="DAV:"><response><href>/</href><propstat><prop>
<current-user-principal/></prop><status>HTTP/1.1 404 Not Found</status></propstat></response>
</multistatus>"#;
        for body in [unauth, missing] {
            let got =
                parse_current_user_principal(body.as_bytes(), &url("https://x.example/")).unwrap();
            assert_eq!(got, None, "{body}");
        }
    }

    #[test]
    fn home_set_requests_ask_the_principal_for_one_property() {
        let cal = parse_tree(&home_set_request(ItemKind::Calendar).body);
        cal.child(names::PROP).child(names::CALENDAR_HOME_SET);
        let card = parse_tree(&home_set_request(ItemKind::Contacts).body);
        card.child(names::PROP).child(names::ADDRESSBOOK_HOME_SET);
        assert_eq!(home_set_request(ItemKind::Contacts).depth, Some("0"));
    }

    #[test]
    fn home_sets_may_be_several_relative_or_absolute() {
        let body = r#"<D:multistatus xmlns:D="DAV:"><D:response><D:href>/principals/alice/</D:href>
<D:propstat><D:prop><C:calendar-home-set xmlns:C="urn:ietf:params:xml:ns:caldav">
<D:href>../../calendars/alice/</D:href>
<D:href>https://other.example.com/shared%20cals/</D:href>
<D:href>/calendars/alice/</D:href>
</C:calendar-home-set></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>
</D:response></D:multistatus>"#;
        let homes = parse_home_sets(
            ItemKind::Calendar,
            body.as_bytes(),
            &url("https://dav.example.com/principals/alice/"),
        )
        .unwrap();
        assert_eq!(homes, ["/calendars/alice/", "/shared%20cals/"]);
        let none = parse_home_sets(
            ItemKind::Contacts,
            body.as_bytes(),
            &url("https://dav.example.com/principals/alice/"),
        )
        .unwrap();
        assert!(none.is_empty(), "an addressbook-home-set was not given");
    }

    #[test]
    fn a_home_set_on_another_host_keeps_its_host() {
        let body = r#"<multistatus xmlns="DAV:"><response><href>/123456/principal/</href>
<propstat><prop><C:calendar-home-set xmlns:C="urn:ietf:params:xml:ns:caldav">
<href>https://p42-caldav.icloud.com:443/123456/calendars/</href>
<href>../my%20cals/</href></C:calendar-home-set></prop>
<status>HTTP/1.1 200 OK</status></propstat>
<propstat><prop><C:addressbook-home-set xmlns:C="urn:ietf:params:xml:ns:carddav">
<href>https://p42-contacts.icloud.com/123456/carddavhome/</href></C:addressbook-home-set></prop>
<status>HTTP/1.1 404 Not Found</status></propstat></response></multistatus>"#;
        let base = url("https://caldav.icloud.com/123456/principal/");
        let homes = parse_home_set_urls(ItemKind::Calendar, body.as_bytes(), &base).unwrap();
        let homes: Vec<&str> = homes.iter().map(Url::as_str).collect();
        assert_eq!(
            homes,
            [
                "https://p42-caldav.icloud.com/123456/calendars/",
                "https://caldav.icloud.com/123456/my%20cals/",
            ]
        );
        // A home set in a failed propstat is none.
        let cards = parse_home_set_urls(ItemKind::Contacts, body.as_bytes(), &base).unwrap();
        assert!(cards.is_empty(), "{cards:?}");
    }

    #[test]
    fn collections_request_asks_for_every_property() {
        let req = collections_request("1");
        assert_eq!((req.method, req.depth), ("PROPFIND", Some("1")));
        let tree = parse_tree(&req.body);
        let prop = tree.child(names::PROP);
        for name in COLLECTION_PROPS {
            prop.child(name);
        }
        assert_eq!(collections_request("0").depth, Some("0"));
    }

    #[test]
    fn home_listing_asks_only_the_tokens_wanted() {
        let req = home_listing_request(ListingTokens {
            sync_token: true,
            ctag: false,
        });
        assert_eq!((req.method, req.depth), ("PROPFIND", Some("1")));
        let tree = parse_tree(&req.body);
        let prop = tree.child(names::PROP);
        prop.child(names::RESOURCETYPE);
        prop.child(names::SYNC_TOKEN);
        let body = &req.body;
        assert!(
            !body.contains("getctag") && !body.contains("displayname"),
            "{body}"
        );
    }

    #[test]
    fn nextcloud_home_set_listing() {
        let body = r##"<?xml version="1.0"?>
<d:multistatus xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns" xmlns:cal="urn:ietf:params:xml:ns:caldav" xmlns:cs="http://calendarserver.org/ns/" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns">
 <d:response>
  <d:href>/remote.php/dav/calendars/alice/</d:href>
  <d:propstat><d:prop><d:resourcetype><d:collection/></d:resourcetype></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>
  <d:propstat><d:prop><d:displayname/><x1:calendar-color xmlns:x1="http://apple.com/ns/ical/"/><cs:getctag/></d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat>
 </d:response>
 <d:response>
  <d:href>/remote.php/dav/calendars/alice/personal/</d:href>
  <d:propstat>
   <d:prop>
    <d:resourcetype><d:collection/><cal:calendar/></d:resourcetype>
    <d:displayname>Personal</d:displayname>
    <x1:calendar-color xmlns:x1="http://apple.com/ns/ical/">#0082C9</x1:calendar-color>
    <x1:calendar-order xmlns:x1="http://apple.com/ns/ical/">3</x1:calendar-order>
    <cal:calendar-description>Mine &amp; only mine</cal:calendar-description>
    <cal:supported-calendar-component-set><cal:comp name="VEVENT"/><cal:comp name="vtodo"/></cal:supported-calendar-component-set>
    <cs:getctag>http://sabre.io/ns/sync/17</cs:getctag>
    <d:sync-token>http://sabre.io/ns/sync/17</d:sync-token>
   </d:prop>
   <d:status>HTTP/1.1 200 OK</d:status>
  </d:propstat>
  <d:propstat><d:prop><card:addressbook-description xmlns:card="urn:ietf:params:xml:ns:carddav"/></d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat>
 </d:response>
 <d:response>
  <d:href>/remote.php/dav/calendars/alice/inbox/</d:href>
  <d:propstat><d:prop><d:resourcetype><d:collection/><cal:schedule-inbox/></d:resourcetype></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>
 </d:response>
 <d:response>
  <d:href>/remote.php/dav/calendars/alice/stray.ics</d:href>
  <d:propstat><d:prop><d:resourcetype/></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>
 </d:response>
</d:multistatus>"##;
        let found = parse_collections(
            body.as_bytes(),
            &url("https://cloud.example.com/remote.php/dav/calendars/alice/"),
        )
        .unwrap();
        assert_eq!(found.len(), 3, "the plain item is skipped");
        assert!(found[0].kinds.is_empty());
        assert_eq!(found[0].displayname, None);
        let personal = &found[1];
        assert_eq!(
            personal,
            &CollectionInfo {
                href: "/remote.php/dav/calendars/alice/personal/".into(),
                kinds: vec![ItemKind::Calendar],
                displayname: Some("Personal".into()),
                color: Some("#0082C9".into()),
                description: Some("Mine & only mine".into()),
                order: Some("3".into()),
                components: vec!["VEVENT".into(), "VTODO".into()],
                ctag: Some("http://sabre.io/ns/sync/17".into()),
                sync_token: Some("http://sabre.io/ns/sync/17".into()),
                typed_outbox: false,
            }
        );
        assert!(personal.supports(Component::Todo));
        assert_eq!(personal.meta(MetaKey::Color), Some("#0082C9"));
        assert_eq!(personal.meta(MetaKey::Order), Some("3"));
        assert_eq!(
            personal.meta(MetaKey::Description),
            Some("Mine & only mine")
        );
        assert!(!personal.supports(Component::Journal));
        assert!(found[2].kinds.is_empty(), "a schedule inbox is no calendar");
    }

    #[test]
    fn radicale_address_book_listing() {
        let body = r#"<?xml version='1.0' encoding='utf-8'?>
<D:multistatus xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav" xmlns:CS="http://calendarserver.org/ns/"><D:response><D:href>/alice/contacts/</D:href><D:propstat><D:prop><D:resourcetype><CR:addressbook /><D:collection /></D:resourcetype><D:displayname>Contacts</D:displayname><CR:addressbook-description>Family</CR:addressbook-description><CS:getctag>"ab12"</CS:getctag><D:sync-token>http://radicale.org/ns/sync/ab12</D:sync-token></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat><D:propstat><D:prop><ICAL:calendar-color xmlns:ICAL="http://apple.com/ns/ical/" /><C:supported-calendar-component-set xmlns:C="urn:ietf:params:xml:ns:caldav" /></D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat></D:response></D:multistatus>"#;
        let found =
            parse_collections(body.as_bytes(), &url("http://localhost:5232/alice/")).unwrap();
        assert_eq!(found.len(), 1);
        let book = &found[0];
        assert!(book.has_kind(ItemKind::Contacts) && !book.has_kind(ItemKind::Calendar));
        assert_eq!(book.description.as_deref(), Some("Family"));
        assert_eq!(book.color, None);
        assert!(book.components.is_empty());
        assert!(
            book.supports(Component::Event),
            "no component set: all allowed"
        );
        assert_eq!(book.ctag.as_deref(), Some("\"ab12\""));
    }

    #[test]
    fn a_login_page_instead_of_a_listing_is_an_error() {
        let err = parse_collections(
            b"<!DOCTYPE html><html><body>Please log in</body></html>",
            &url("https://x.example/"),
        )
        .unwrap_err();
        assert_eq!(err, ProtoError::Html);
    }
}
