//! The normalized form behind [`Item::hash`](super::Item::hash); docs/normalization.md states
//! the rules. The form is never written anywhere: it is streamed into SHA-256.
//!
//! A component's digest covers its upper-cased name, the canonical form of each property that
//! is not ignored, sorted, and the digests of its sub-components, sorted. So property order,
//! component order, folding and line endings cannot change it, while any value can.

use std::ops::Range;

use sha2::{Digest, Sha256};

use super::component::Component;
use super::contentline::{split_values, unquote, Line};

/// Parameters whose value is an unordered list: `TYPE=WORK,VOICE` equals `TYPE=VOICE,WORK`
/// and `TYPE=WORK;TYPE=VOICE`. Other parameters keep their value whole, as order may matter
/// there (SORT-AS) or a comma may be text.
const LIST_PARAMS: &[&str] = &["TYPE", "MEMBER", "DELEGATED-TO", "DELEGATED-FROM"];

/// Properties that change without a person editing anything: timestamps rewritten on every
/// save or export, the producing software, and markers that servers add to stored objects.
const IGNORED: &[&str] = &[
    "PRODID",
    "DTSTAMP",
    "LAST-MODIFIED",
    "REV",
    // Radicale stores the resource name of an item in it.
    "X-RADICALE-NAME",
    // iCloud marks overrides with it depending on the time range asked for; RECURRENCE-ID
    // already says the component is an override.
    "X-RECURRENCE-EXCEPTION",
];

/// Parameters that scheduling servers set (RFC 6638 SCHEDULE-STATUS on ATTENDEE/ORGANIZER:
/// Cyrus and SabreDAV/Nextcloud write it into stored objects after delivering invitations).
const IGNORED_PARAMS: &[&str] = &["SCHEDULE-STATUS"];

/// Ignored only on the VCALENDAR itself: calendar-level markers a feed or server adds.
const IGNORED_CALENDAR_LEVEL: &[&str] = &[
    // Webcal feeds add METHOD:PUBLISH; it says how the object travelled, not what it holds.
    "METHOD",
    // Horde (and feeds) put the calendar's name into every object.
    "X-WR-CALNAME",
];

pub(crate) fn ignored(line: &Line<'_>, calendar_level: bool) -> bool {
    let name = line.bare_name();
    if IGNORED
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
    {
        return true;
    }
    if !calendar_level {
        return false;
    }
    if IGNORED_CALENDAR_LEVEL
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
    {
        return true;
    }
    // GREGORIAN is the default scale: stating it or not means the same.
    name.eq_ignore_ascii_case(b"CALSCALE")
        && line.value().trim_ascii().eq_ignore_ascii_case(b"GREGORIAN")
}

/// Buffers reused across all properties and components of one item, so that computing the
/// hash allocates a handful of times per item rather than per property.
#[derive(Default)]
struct Scratch {
    /// Canonical properties of the component at hand, one after another.
    props: Vec<u8>,
    prop_ranges: Vec<Range<usize>>,
    /// `NAME=value` entries of the property at hand.
    params: Vec<u8>,
    param_ranges: Vec<Range<usize>>,
}

/// Appends the canonical form of one property to `s.props`: upper-case name, parameters as
/// `;NAME=value` sorted (quotes dropped; one entry per value of a list parameter), then `:`
/// and the value exactly as written.
fn canonical_prop(line: &Line<'_>, s: &mut Scratch) {
    let out = &mut s.props;
    out.extend(line.name().iter().map(u8::to_ascii_uppercase));
    if !line.params_raw().is_empty() {
        s.params.clear();
        s.param_ranges.clear();
        for (n, v) in line.params() {
            if IGNORED_PARAMS
                .iter()
                .any(|i| i.as_bytes().eq_ignore_ascii_case(n))
            {
                continue;
            }
            let list = LIST_PARAMS
                .iter()
                .any(|l| l.as_bytes().eq_ignore_ascii_case(n));
            let mut push = |v: &[u8]| {
                let start = s.params.len();
                s.params.extend(n.iter().map(u8::to_ascii_uppercase));
                s.params.push(b'=');
                s.params.extend_from_slice(v);
                s.param_ranges.push(start..s.params.len());
            };
            if list {
                split_values(v, push);
            } else {
                push(unquote(v));
            }
        }
        let params = &s.params;
        s.param_ranges
            .sort_unstable_by(|a, b| params[a.clone()].cmp(&params[b.clone()]));
        for r in &s.param_ranges {
            out.push(b';');
            out.extend_from_slice(&params[r.clone()]);
        }
    }
    out.push(b':');
    out.extend_from_slice(line.value());
}

/// The canonical text of one property line (the form that is hashed), for comparing single
/// properties (merge) and for showing what differs (diff).
pub(crate) fn canonical(line: &Line<'_>) -> Vec<u8> {
    let mut s = Scratch::default();
    canonical_prop(line, &mut s);
    s.props
}

fn digest_with(c: &Component, lines: &[Line<'_>], s: &mut Scratch, skip: &[usize]) -> [u8; 32] {
    let mut children: Vec<[u8; 32]> = c
        .children
        .iter()
        .enumerate()
        .filter(|(i, _)| !skip.contains(i))
        .map(|(_, ch)| digest_with(ch, lines, s, &[]))
        .collect();
    children.sort_unstable();
    let mut h = Sha256::new();
    hash_props(&mut h, c, lines, s);
    for d in &children {
        h.update(b"C:");
        h.update(d);
        h.update(b"\n");
    }
    h.update(b"END\n");
    h.finalize().into()
}

/// Feeds the component name and its counted properties, sorted, into `h`.
fn hash_props(h: &mut Sha256, c: &Component, lines: &[Line<'_>], s: &mut Scratch) {
    let calendar_level = c.name == "VCALENDAR";
    s.props.clear();
    s.prop_ranges.clear();
    for &i in &c.props {
        let line = &lines[i];
        if ignored(line, calendar_level) {
            continue;
        }
        let start = s.props.len();
        canonical_prop(line, s);
        s.prop_ranges.push(start..s.props.len());
    }
    let props = &s.props;
    s.prop_ranges
        .sort_unstable_by(|a, b| props[a.clone()].cmp(&props[b.clone()]));
    h.update(b"BEGIN:");
    h.update(c.name.as_bytes());
    h.update(b"\n");
    for r in &s.prop_ranges {
        // Unfolded values never hold a line break, so a newline separates unambiguously.
        h.update(&props[r.clone()]);
        h.update(b"\n");
    }
}

/// The digest of a component and everything inside it.
pub(crate) fn digest(c: &Component, lines: &[Line<'_>]) -> [u8; 32] {
    digest_with(c, lines, &mut Scratch::default(), &[])
}

/// The digest of a component leaving out its direct children at the indices `skip`: the
/// VTIMEZONEs of a VCALENDAR that repeat a TZID defined before them, which no reader can use
/// and which `join` does not carry.
pub(crate) fn digest_skipping(c: &Component, lines: &[Line<'_>], skip: &[usize]) -> [u8; 32] {
    digest_with(c, lines, &mut Scratch::default(), skip)
}

/// The digest of a component's own properties only: items whose VCALENDAR wrappers have equal
/// ones can share one wrapper when joined.
pub(crate) fn props_digest(c: &Component, lines: &[Line<'_>]) -> [u8; 32] {
    let mut h = Sha256::new();
    hash_props(&mut h, c, lines, &mut Scratch::default());
    h.finalize().into()
}
