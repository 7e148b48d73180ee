//! Every XML namespace and element name the DAV layer reads or writes, in one place.
//!
//! Names are compared by (namespace URI, local name), never by prefix: servers pick any
//! prefix, use default namespaces and redeclare them on inner elements. The prefixes here are
//! only what davsync writes in its own request bodies.

/// An XML element name: namespace URI and local name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Name {
    pub ns: &'static str,
    pub local: &'static str,
}

impl Name {
    const fn new(ns: &'static str, local: &'static str) -> Name {
        Name { ns, local }
    }

    /// True when an element read from a response has this name.
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.ns == ns && self.local == local
    }

    /// The prefixed name davsync writes, e.g. `d:propfind`.
    pub fn qualified(&self) -> String {
        format!("{}:{}", prefix(self.ns), self.local)
    }
}

/// RFC 4918 WebDAV.
pub const NS_DAV: &str = "DAV:";
/// RFC 4791 CalDAV.
pub const NS_CALDAV: &str = "urn:ietf:params:xml:ns:caldav";
/// RFC 6352 CardDAV.
pub const NS_CARDDAV: &str = "urn:ietf:params:xml:ns:carddav";
/// Apple's iCal namespace (calendar-color, calendar-order), understood by most servers.
pub const NS_APPLE_ICAL: &str = "http://apple.com/ns/ical/";
/// CalendarServer extensions (getctag).
pub const NS_CALENDARSERVER: &str = "http://calendarserver.org/ns/";
/// SabreDAV's own namespace (Nextcloud, Baïkal): the exception and message of an error body.
pub const NS_SABREDAV: &str = "http://sabredav.org/ns";

/// The prefix davsync uses for a namespace in request bodies.
pub fn prefix(ns: &str) -> &'static str {
    match ns {
        NS_DAV => "d",
        NS_CALDAV => "c",
        NS_CARDDAV => "card",
        NS_APPLE_ICAL => "ical",
        NS_CALENDARSERVER => "cs",
        _ => "x",
    }
}

// WebDAV (RFC 4918, RFC 5689, RFC 6578, RFC 5397)
pub const MULTISTATUS: Name = Name::new(NS_DAV, "multistatus");
pub const RESPONSE: Name = Name::new(NS_DAV, "response");
pub const HREF: Name = Name::new(NS_DAV, "href");
pub const STATUS: Name = Name::new(NS_DAV, "status");
pub const PROPSTAT: Name = Name::new(NS_DAV, "propstat");
pub const PROP: Name = Name::new(NS_DAV, "prop");
pub const ERROR: Name = Name::new(NS_DAV, "error");
pub const RESPONSEDESCRIPTION: Name = Name::new(NS_DAV, "responsedescription");
pub const PROPFIND: Name = Name::new(NS_DAV, "propfind");
pub const PROPERTYUPDATE: Name = Name::new(NS_DAV, "propertyupdate");
pub const SET: Name = Name::new(NS_DAV, "set");
pub const REMOVE: Name = Name::new(NS_DAV, "remove");
pub const MKCOL: Name = Name::new(NS_DAV, "mkcol");
pub const GETETAG: Name = Name::new(NS_DAV, "getetag");
pub const GETCONTENTTYPE: Name = Name::new(NS_DAV, "getcontenttype");
pub const RESOURCETYPE: Name = Name::new(NS_DAV, "resourcetype");
pub const COLLECTION: Name = Name::new(NS_DAV, "collection");
pub const DISPLAYNAME: Name = Name::new(NS_DAV, "displayname");
pub const CURRENT_USER_PRINCIPAL: Name = Name::new(NS_DAV, "current-user-principal");
pub const SYNC_COLLECTION: Name = Name::new(NS_DAV, "sync-collection");
pub const SYNC_TOKEN: Name = Name::new(NS_DAV, "sync-token");
pub const SYNC_LEVEL: Name = Name::new(NS_DAV, "sync-level");
pub const LIMIT: Name = Name::new(NS_DAV, "limit");
pub const NRESULTS: Name = Name::new(NS_DAV, "nresults");
pub const VALID_SYNC_TOKEN: Name = Name::new(NS_DAV, "valid-sync-token");

// CalDAV (RFC 4791)
pub const CALENDAR: Name = Name::new(NS_CALDAV, "calendar");
pub const MKCALENDAR: Name = Name::new(NS_CALDAV, "mkcalendar");
pub const CALENDAR_HOME_SET: Name = Name::new(NS_CALDAV, "calendar-home-set");
pub const CALENDAR_DATA: Name = Name::new(NS_CALDAV, "calendar-data");
pub const CALENDAR_MULTIGET: Name = Name::new(NS_CALDAV, "calendar-multiget");
pub const CALENDAR_QUERY: Name = Name::new(NS_CALDAV, "calendar-query");
pub const SCHEDULE_INBOX: Name = Name::new(NS_CALDAV, "schedule-inbox");
pub const SCHEDULE_OUTBOX: Name = Name::new(NS_CALDAV, "schedule-outbox");
pub const SCHEDULE_INBOX_URL: Name = Name::new(NS_CALDAV, "schedule-inbox-URL");
pub const SCHEDULE_OUTBOX_URL: Name = Name::new(NS_CALDAV, "schedule-outbox-URL");
pub const CALENDAR_DESCRIPTION: Name = Name::new(NS_CALDAV, "calendar-description");
pub const SUPPORTED_CALENDAR_COMPONENT_SET: Name =
    Name::new(NS_CALDAV, "supported-calendar-component-set");
pub const COMP: Name = Name::new(NS_CALDAV, "comp");
pub const FILTER: Name = Name::new(NS_CALDAV, "filter");
pub const COMP_FILTER: Name = Name::new(NS_CALDAV, "comp-filter");
pub const TIME_RANGE: Name = Name::new(NS_CALDAV, "time-range");

// CardDAV (RFC 6352)
pub const ADDRESSBOOK: Name = Name::new(NS_CARDDAV, "addressbook");
pub const ADDRESSBOOK_HOME_SET: Name = Name::new(NS_CARDDAV, "addressbook-home-set");
pub const ADDRESS_DATA: Name = Name::new(NS_CARDDAV, "address-data");
pub const ADDRESSBOOK_MULTIGET: Name = Name::new(NS_CARDDAV, "addressbook-multiget");
pub const ADDRESSBOOK_QUERY: Name = Name::new(NS_CARDDAV, "addressbook-query");
pub const CARDDAV_FILTER: Name = Name::new(NS_CARDDAV, "filter");
pub const ADDRESSBOOK_DESCRIPTION: Name = Name::new(NS_CARDDAV, "addressbook-description");

// Vendor extensions
pub const CALENDAR_COLOR: Name = Name::new(NS_APPLE_ICAL, "calendar-color");
pub const CALENDAR_ORDER: Name = Name::new(NS_APPLE_ICAL, "calendar-order");
pub const GETCTAG: Name = Name::new(NS_CALENDARSERVER, "getctag");
pub const SABRE_EXCEPTION: Name = Name::new(NS_SABREDAV, "exception");
pub const SABRE_MESSAGE: Name = Name::new(NS_SABREDAV, "message");

/// The `name` attribute of `<C:comp>`.
pub const ATTR_NAME: &str = "name";
/// The attributes of `<C:time-range>`.
pub const ATTR_START: &str = "start";
pub const ATTR_END: &str = "end";
