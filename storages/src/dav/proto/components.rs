//! Which components a calendar takes (`supported-calendar-component-set`, RFC 4791 §5.2.3)
//! and which an item holds: iCloud and Google calendars take VEVENT or VTODO, not both, and
//! refuse an item of the other kind (403 with `supported-calendar-component`, or 415).

use super::names;
use super::report::Component;
use super::{propfind, DavRequest};

/// `PROPFIND` Depth 0 on a calendar for what it is and the components it takes: nothing
/// else, since some servers compute other properties (`sync-token`, `getctag`) by reading
/// every item. Its answer is read by [`parse_collections`](super::parse_collections).
pub fn supported_components_request() -> DavRequest {
    propfind(
        &[names::NS_DAV, names::NS_CALDAV],
        &[names::RESOURCETYPE, names::SUPPORTED_CALENDAR_COMPONENT_SET],
        "0",
    )
}

/// The components an iCalendar item holds at its top level (`VEVENT`, `VTODO`, `VJOURNAL`;
/// timezones and alarms are not what a calendar is restricted to), each once.
pub fn item_components(raw: &[u8]) -> Vec<Component> {
    let mut out = Vec::new();
    for line in raw.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(name) = line
            .get(..6)
            .filter(|p| p.eq_ignore_ascii_case(b"BEGIN:"))
            .map(|_| &line[6..])
        else {
            continue;
        };
        let name = String::from_utf8_lossy(name);
        if let Some(c) = Component::parse(name.trim()) {
            if !out.contains(&c) {
                out.push(c);
            }
        }
    }
    out
}

/// The components of `item` that a calendar taking `accepted` refuses; empty when the
/// calendar takes them all or did not say what it takes.
pub fn refused_components(accepted: &[String], item: &[Component]) -> Vec<Component> {
    if accepted.is_empty() {
        return Vec::new();
    }
    item.iter()
        .copied()
        .filter(|c| !accepted.iter().any(|a| a.eq_ignore_ascii_case(c.as_str())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dav::proto::xml::testutil::parse_tree;

    #[test]
    fn the_request_asks_only_the_type_and_the_component_set() {
        let req = supported_components_request();
        assert_eq!((req.method, req.depth), ("PROPFIND", Some("0")));
        let tree = parse_tree(&req.body);
        let prop = tree.child(names::PROP);
        prop.child(names::RESOURCETYPE);
        prop.child(names::SUPPORTED_CALENDAR_COMPONENT_SET);
        assert!(!req.body.contains("sync-token") && !req.body.contains("getctag"));
    }

    #[test]
    fn top_level_components_are_found_once_alarms_and_timezones_ignored() {
        let raw = b"BEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nEND:VTIMEZONE\r\nBEGIN:VTODO\r\n\
                    BEGIN:VALARM\r\nEND:VALARM\r\nEND:VTODO\r\nbegin:vtodo\nEND:VTODO\n\
                    END:VCALENDAR\r\n";
        assert_eq!(item_components(raw), vec![Component::Todo]);
        let both = b"BEGIN:VCALENDAR\nBEGIN:VEVENT\nEND:VEVENT\nBEGIN:VJOURNAL\nEND:VJOURNAL\n";
        assert_eq!(
            item_components(both),
            vec![Component::Event, Component::Journal]
        );
        assert!(item_components(b"BEGIN:VCARD\nEND:VCARD\n").is_empty());
    }

    #[test]
    fn a_component_the_calendar_does_not_list_is_refused() {
        let events_only = vec!["VEVENT".to_owned()];
        assert_eq!(
            refused_components(&events_only, &[Component::Todo]),
            vec![Component::Todo]
        );
        assert!(refused_components(&events_only, &[Component::Event]).is_empty());
        assert!(refused_components(&["vevent".into()], &[Component::Event]).is_empty());
        // A calendar that does not say takes everything.
        assert!(refused_components(&[], &[Component::Todo]).is_empty());
    }
}
