//! Creating collections (MKCALENDAR, RFC 4791 §5.3.1; extended MKCOL, RFC 5689) and
//! changing their properties (PROPPATCH, RFC 4918 §9.2).

use url::Url;

use super::multistatus::parse_multistatus;
use super::names::{self, Name};
use super::report::Component;
use super::xml::XmlOut;
use super::{DavRequest, ProtoError};
use crate::item::ItemKind;
use crate::storage::MetaKey;

/// A collection property that `metasync` reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetaProp {
    DisplayName,
    CalendarColor,
    CalendarDescription,
    AddressbookDescription,
    CalendarOrder,
}

impl MetaProp {
    /// The DAV property for a metadata key on a collection of this kind; `None` when the
    /// kind has no such property (color and order exist for calendars only).
    pub fn for_key(key: MetaKey, kind: ItemKind) -> Option<MetaProp> {
        Some(match (key, kind) {
            (MetaKey::DisplayName, _) => MetaProp::DisplayName,
            (MetaKey::Color, ItemKind::Calendar) => MetaProp::CalendarColor,
            (MetaKey::Description, ItemKind::Calendar) => MetaProp::CalendarDescription,
            (MetaKey::Description, ItemKind::Contacts) => MetaProp::AddressbookDescription,
            (MetaKey::Order, ItemKind::Calendar) => MetaProp::CalendarOrder,
            _ => return None,
        })
    }

    /// The XML element name.
    pub fn name(self) -> Name {
        match self {
            MetaProp::DisplayName => names::DISPLAYNAME,
            MetaProp::CalendarColor => names::CALENDAR_COLOR,
            MetaProp::CalendarDescription => names::CALENDAR_DESCRIPTION,
            MetaProp::AddressbookDescription => names::ADDRESSBOOK_DESCRIPTION,
            MetaProp::CalendarOrder => names::CALENDAR_ORDER,
        }
    }
}

/// The status the server gave one property of a PROPPATCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropStatus {
    pub ns: String,
    pub local: String,
    pub status: u16,
}

impl PropStatus {
    pub fn is(&self, prop: MetaProp) -> bool {
        prop.name().is(&self.ns, &self.local)
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// `MKCALENDAR` with an optional displayname and, when not empty, a
/// `supported-calendar-component-set`. With neither, the body is an empty `<C:mkcalendar/>`.
pub fn mkcalendar_request(displayname: Option<&str>, components: &[Component]) -> DavRequest {
    let mut out = XmlOut::new(names::MKCALENDAR, &[names::NS_DAV, names::NS_CALDAV]);
    if displayname.is_some() || !components.is_empty() {
        out.start(names::SET).start(names::PROP);
    }
    if let Some(name) = displayname {
        out.text_element(names::DISPLAYNAME, name);
    }
    if !components.is_empty() {
        out.start(names::SUPPORTED_CALENDAR_COMPONENT_SET);
        for c in components {
            out.empty_with(names::COMP, &[(names::ATTR_NAME, c.as_str())]);
        }
        out.end();
    }
    DavRequest {
        method: "MKCALENDAR",
        depth: None,
        body: out.finish(),
    }
}

/// Extended `MKCOL` (RFC 5689) creating an address book with an optional displayname.
pub fn mkcol_addressbook_request(displayname: Option<&str>) -> DavRequest {
    let mut out = XmlOut::new(names::MKCOL, &[names::NS_DAV, names::NS_CARDDAV]);
    out.start(names::SET)
        .start(names::PROP)
        .start(names::RESOURCETYPE)
        .empty(names::COLLECTION)
        .empty(names::ADDRESSBOOK)
        .end();
    if let Some(name) = displayname {
        out.text_element(names::DISPLAYNAME, name);
    }
    DavRequest {
        method: "MKCOL",
        depth: None,
        body: out.finish(),
    }
}

/// `PROPPATCH` setting (`Some`) or removing (`None`) properties, in the given order.
pub fn proppatch_request(changes: &[(MetaProp, Option<&str>)]) -> DavRequest {
    let mut out = XmlOut::new(
        names::PROPERTYUPDATE,
        &[
            names::NS_DAV,
            names::NS_CALDAV,
            names::NS_CARDDAV,
            names::NS_APPLE_ICAL,
        ],
    );
    for (prop, value) in changes {
        match value {
            Some(value) => {
                out.start(names::SET)
                    .start(names::PROP)
                    .text_element(prop.name(), value)
                    .end()
                    .end();
            }
            None => {
                out.start(names::REMOVE)
                    .start(names::PROP)
                    .empty(prop.name())
                    .end()
                    .end();
            }
        }
    }
    DavRequest {
        method: "PROPPATCH",
        depth: None,
        body: out.finish(),
    }
}

/// The status of every property the PROPPATCH answer mentions. RFC 4918 makes a
/// PROPPATCH atomic: one failure turns the others into 424 Failed Dependency.
pub fn parse_proppatch(body: &[u8], base: &Url) -> Result<Vec<PropStatus>, ProtoError> {
    let mut out = Vec::new();
    parse_multistatus(body, base, |response| {
        for propstat in response.propstats {
            for prop in propstat.props {
                out.push(PropStatus {
                    ns: prop.ns,
                    local: prop.local,
                    status: propstat.status,
                });
            }
        }
    })?;
    Ok(out)
}
