//! Discovery PROPFINDs: principal, home sets, and the collections in a home set
//! (RFC 5397, RFC 4791 §6.2.1, RFC 6352 §7.1.1).

use url::Url;

use super::report::Component;
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
    todo!()
}

/// The principal's canonical path, `None` when the server has none (unauthenticated, or no
/// RFC 5397 support: then the caller tries the URL itself as principal).
pub fn parse_current_user_principal(body: &[u8], base: &Url) -> Result<Option<String>, ProtoError> {
    todo!()
}

/// `PROPFIND` Depth 0 on the principal for `calendar-home-set` or `addressbook-home-set`.
pub fn home_set_request(kind: ItemKind) -> DavRequest {
    todo!()
}

/// The home sets (canonical paths; a server may list several), empty when none.
pub fn parse_home_sets(kind: ItemKind, body: &[u8], base: &Url) -> Result<Vec<String>, ProtoError> {
    todo!()
}

/// `PROPFIND` for every property in [`CollectionInfo`]: `depth` `"1"` on a home set lists
/// its collections, `"0"` on a collection reads its own properties (metadata).
pub fn collections_request(depth: &'static str) -> DavRequest {
    todo!()
}

/// Every collection in the answer (calendars, address books and plain collections, see
/// [`CollectionInfo::kinds`]); non-collections are skipped.
pub fn parse_collections(body: &[u8], base: &Url) -> Result<Vec<CollectionInfo>, ProtoError> {
    todo!()
}
