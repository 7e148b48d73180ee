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
/// `supported-calendar-component-set`. With neither, the body is empty (sent without one):
/// RFC 4791's DTD requires `DAV:set` in a `<C:mkcalendar>` element, and a bare element is
/// refused by DAViCal (500, nothing created) and Cyrus (500 after creating it), while both
/// take a body-less MKCALENDAR.
pub fn mkcalendar_request(displayname: Option<&str>, components: &[Component]) -> DavRequest {
    if displayname.is_none() && components.is_empty() {
        return DavRequest {
            method: "MKCALENDAR",
            depth: None,
            body: String::new(),
        };
    }
    let mut out = XmlOut::new(names::MKCALENDAR, &[names::NS_DAV, names::NS_CALDAV]);
    out.start(names::SET).start(names::PROP);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dav::proto::xml::testutil::{parse_tree, url};

    #[test]
    fn mkcalendar_golden() {
        let req = mkcalendar_request(Some("Work & Play"), &[Component::Event, Component::Todo]);
        assert_eq!((req.method, req.depth), ("MKCALENDAR", None));
        assert_eq!(
            req.body,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
             <c:mkcalendar xmlns:d=\"DAV:\" xmlns:c=\"urn:ietf:params:xml:ns:caldav\">\
             <d:set><d:prop><d:displayname>Work &amp; Play</d:displayname>\
             <c:supported-calendar-component-set><c:comp name=\"VEVENT\"/><c:comp name=\"VTODO\"/>\
             </c:supported-calendar-component-set></d:prop></d:set></c:mkcalendar>"
        );
    }

    #[test]
    fn mkcalendar_without_properties_has_no_body_and_never_a_set_less_element() {
        assert_eq!(mkcalendar_request(None, &[]).body, "");
        let only_name = parse_tree(&mkcalendar_request(Some("x"), &[]).body);
        let prop = only_name.child(names::SET).child(names::PROP);
        assert_eq!(prop.child(names::DISPLAYNAME).text, "x");
        assert!(prop.all(names::SUPPORTED_CALENDAR_COMPONENT_SET).is_empty());
    }

    #[test]
    fn extended_mkcol_creates_an_address_book() {
        let req = mkcol_addressbook_request(Some("Friends"));
        assert_eq!((req.method, req.depth), ("MKCOL", None));
        let tree = parse_tree(&req.body);
        assert!(tree.is(names::MKCOL));
        let prop = tree.child(names::SET).child(names::PROP);
        let rt = prop.child(names::RESOURCETYPE);
        rt.child(names::COLLECTION);
        rt.child(names::ADDRESSBOOK);
        assert_eq!(prop.child(names::DISPLAYNAME).text, "Friends");
        let unnamed = parse_tree(&mkcol_addressbook_request(None).body);
        assert!(unnamed
            .child(names::SET)
            .child(names::PROP)
            .all(names::DISPLAYNAME)
            .is_empty());
    }

    #[test]
    fn proppatch_sets_and_removes_in_order() {
        let req = proppatch_request(&[
            (MetaProp::DisplayName, Some("New <name>")),
            (MetaProp::CalendarColor, None),
            (MetaProp::CalendarOrder, Some("2")),
        ]);
        assert_eq!((req.method, req.depth), ("PROPPATCH", None));
        let tree = parse_tree(&req.body);
        assert!(tree.is(names::PROPERTYUPDATE));
        let ops: Vec<String> = tree.child_names().into_iter().map(|(_, l)| l).collect();
        assert_eq!(ops, ["set", "remove", "set"]);
        let first = &tree.children[0].child(names::PROP).children[0];
        assert!(first.is(names::DISPLAYNAME));
        assert_eq!(first.text, "New <name>");
        let removed = &tree.children[1].child(names::PROP).children[0];
        assert!(removed.is(names::CALENDAR_COLOR));
        assert!(removed.text.is_empty());
        let order = &tree.children[2].child(names::PROP).children[0];
        assert!(order.is(names::CALENDAR_ORDER));
        assert_eq!(order.text, "2");
    }

    #[test]
    fn meta_keys_map_to_properties_per_kind() {
        use crate::storage::MetaKey::*;
        assert_eq!(
            MetaProp::for_key(Description, ItemKind::Contacts),
            Some(MetaProp::AddressbookDescription)
        );
        assert_eq!(
            MetaProp::for_key(Description, ItemKind::Calendar),
            Some(MetaProp::CalendarDescription)
        );
        assert_eq!(MetaProp::for_key(Color, ItemKind::Contacts), None);
        assert_eq!(MetaProp::for_key(Order, ItemKind::Contacts), None);
        assert_eq!(
            MetaProp::for_key(DisplayName, ItemKind::Contacts),
            Some(MetaProp::DisplayName)
        );
        assert_eq!(
            MetaProp::CalendarDescription.name(),
            names::CALENDAR_DESCRIPTION
        );
    }

    #[test]
    fn proppatch_answer_reports_each_property() {
        let body = r#"<?xml version="1.0" encoding="utf-8"?>
<d:multistatus xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns">
 <d:response><d:href>/cal/work/</d:href>
  <d:propstat><d:prop><d:displayname/></d:prop><d:status>HTTP/1.1 424 Failed Dependency</d:status></d:propstat>
  <d:propstat><d:prop><x1:calendar-color xmlns:x1="http://apple.com/ns/ical/"/></d:prop><d:status>HTTP/1.1 403 Forbidden</d:status></d:propstat>
 </d:response>
</d:multistatus>"#;
        let statuses =
            parse_proppatch(body.as_bytes(), &url("https://x.example/cal/work/")).unwrap();
        assert_eq!(statuses.len(), 2);
        assert!(statuses[0].is(MetaProp::DisplayName));
        assert_eq!(statuses[0].status, 424);
        assert!(statuses[1].is(MetaProp::CalendarColor));
        assert!(!statuses[1].is_success());
        let ok = r#"<multistatus xmlns="DAV:"><response><href>/cal/work/</href><propstat><prop>
<displayname/></prop><status>HTTP/1.1 200 OK</status></propstat></response></multistatus>"#;
        let statuses = parse_proppatch(ok.as_bytes(), &url("https://x.example/cal/work/")).unwrap();
        assert!(statuses[0].is(MetaProp::DisplayName) && statuses[0].is_success());
    }
}
