//! The normalized form behind [`Item::hash`](super::Item::hash); docs/normalization.md states
//! the rules. The form is never written anywhere: it is streamed into SHA-256.
//!
//! A component's digest covers its upper-cased name, the canonical form of each property that
//! is not ignored, sorted, and the digests of its sub-components, sorted. So property order,
//! component order, folding and line endings cannot change it, while any value can.

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
];

/// Ignored only on the VCALENDAR itself: calendar-level markers a feed or server adds.
const IGNORED_CALENDAR_LEVEL: &[&str] = &[
    // Webcal feeds add METHOD:PUBLISH; it says how the object travelled, not what it holds.
    "METHOD",
    // Horde (and feeds) put the calendar's name into every object.
    "X-WR-CALNAME",
];

fn ignored(line: &Line<'_>, calendar_level: bool) -> bool {
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

/// Writes the canonical form of one property: upper-case name, parameters sorted by upper-case
/// name then value (quotes dropped; one entry per value of a list parameter), then the value
/// exactly as written.
fn canonical_prop(line: &Line<'_>, out: &mut Vec<u8>) {
    out.extend(line.name().iter().map(u8::to_ascii_uppercase));
    let params_raw = line.params_raw();
    if !params_raw.is_empty() {
        let mut params: Vec<(Vec<u8>, &[u8])> = Vec::new();
        for (n, v) in line.params() {
            let n = n.to_ascii_uppercase();
            if LIST_PARAMS.iter().any(|l| l.as_bytes() == n.as_slice()) {
                split_values(v, |v| params.push((n.clone(), v)));
            } else {
                params.push((n, unquote(v)));
            }
        }
        params.sort_unstable();
        for (n, v) in params {
            out.push(b';');
            out.extend_from_slice(&n);
            out.push(b'=');
            out.extend_from_slice(v);
        }
    }
    out.push(b':');
    out.extend_from_slice(line.value());
}

/// The canonical forms of a component's own properties that count, sorted.
fn canonical_props(c: &Component, lines: &[Line<'_>]) -> Vec<Vec<u8>> {
    let calendar_level = c.name == "VCALENDAR";
    let mut props: Vec<Vec<u8>> = Vec::with_capacity(c.props.len());
    for &i in &c.props {
        let line = &lines[i];
        if ignored(line, calendar_level) {
            continue;
        }
        let mut buf = Vec::with_capacity(line.content.len() + 8);
        canonical_prop(line, &mut buf);
        props.push(buf);
    }
    props.sort_unstable();
    props
}

fn hash_props(h: &mut Sha256, name: &str, props: &[Vec<u8>]) {
    h.update(b"BEGIN:");
    h.update(name.as_bytes());
    h.update(b"\n");
    for p in props {
        // Unfolded values never hold a line break, so a newline separates unambiguously.
        h.update(p);
        h.update(b"\n");
    }
}

/// The digest of a component and everything inside it.
pub(crate) fn digest(c: &Component, lines: &[Line<'_>]) -> [u8; 32] {
    let props = canonical_props(c, lines);
    let mut children: Vec<[u8; 32]> = c.children.iter().map(|ch| digest(ch, lines)).collect();
    children.sort_unstable();
    let mut h = Sha256::new();
    hash_props(&mut h, &c.name, &props);
    for d in &children {
        h.update(b"C:");
        h.update(d);
        h.update(b"\n");
    }
    h.update(b"END\n");
    h.finalize().into()
}

/// The digest of a component's own properties only: items whose VCALENDAR wrappers have equal
/// ones can share one wrapper when joined.
pub(crate) fn props_digest(c: &Component, lines: &[Line<'_>]) -> [u8; 32] {
    let mut h = Sha256::new();
    hash_props(&mut h, &c.name, &canonical_props(c, lines));
    h.finalize().into()
}
