//! Discovery PROPFINDs: principal, home sets, and the collections in a home set
//! (RFC 5397, RFC 4791 §6.2.1, RFC 6352 §7.1.1).

use url::Url;

use super::multistatus::{parse_multistatus, Response};
use super::names::{self, Name};
use super::report::Component;
use super::xml::XmlOut;
use super::{DavRequest, ProtoError};
use crate::item::ItemKind;

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
}

impl CollectionInfo {
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

fn propfind(namespaces: &[&'static str], props: &[Name], depth: &'static str) -> DavRequest {
    let mut out = XmlOut::new(names::PROPFIND, namespaces);
    out.prop_names(props);
    DavRequest {
        method: "PROPFIND",
        depth: Some(depth),
        body: out.finish(),
    }
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
        ItemKind::Calendar => propfind(
            &[names::NS_DAV, names::NS_CALDAV],
            &[names::CALENDAR_HOME_SET],
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
    if rt.has_child(names::CALENDAR) {
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
    })
}
