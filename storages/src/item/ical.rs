//! iCalendar: one item is one VCALENDAR holding the components of one UID (master and
//! RECURRENCE-ID overrides) and the VTIMEZONEs they use.

use std::collections::{HashMap, HashSet};

use super::component::{parse_tree, Component};
use super::contentline::{eol_at, lex, push_folded, Line};
use super::datetime::parse_timestamp;
use super::normalize::{digest, digest_skipping, props_digest};
use super::{push_line_span, Item, ItemKind, Layout, ParseError, Parsed, Zone};

fn err(line: usize, message: String) -> ParseError {
    ParseError { line, message }
}

/// The TZID a VTIMEZONE defines, unescaped as TEXT (`Kuala Lumpur\, Singapore` is what a
/// `TZID="Kuala Lumpur, Singapore"` parameter names).
fn tzid(c: &Component, lines: &[Line<'_>]) -> Vec<u8> {
    let Some(l) = c.prop(lines, "TZID") else {
        return Vec::new();
    };
    let v = l.value().trim_ascii();
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'\\' && matches!(v.get(i + 1), Some(b',' | b';' | b'\\')) {
            i += 1;
        }
        out.push(v[i]);
        i += 1;
    }
    out
}

/// The TZIDs a component refers to, in any parameter of any of its (nested) properties.
fn referenced_tzids(c: &Component, lines: &[Line<'_>], out: &mut Vec<Vec<u8>>) {
    c.walk_props(lines, &mut |l| {
        if !l.params_raw().is_empty() {
            for v in l.param("TZID") {
                if !out.iter().any(|t| t.as_slice() == v) {
                    out.push(v.to_vec());
                }
            }
        }
    });
}

pub(super) fn parse_one(raw: &[u8]) -> Result<Parsed, ParseError> {
    let lines = lex(ItemKind::Calendar, raw)?;
    let tree = parse_tree(&lines)?;
    if let Some(second) = tree.get(1) {
        return Err(err(
            lines[second.begin].lineno,
            format!(
                "a second top-level component (BEGIN:{}): an item is exactly one VCALENDAR",
                second.name
            ),
        ));
    }
    let cal = &tree[0];
    if cal.name != "VCALENDAR" {
        return Err(err(
            lines[cal.begin].lineno,
            format!("expected BEGIN:VCALENDAR, found BEGIN:{}", cal.name),
        ));
    }
    let mut uid: Option<String> = None;
    let mut first: Option<&Component> = None;
    let mut last_modified = None;
    let mut timezones: Vec<Zone> = Vec::new();
    // VTIMEZONEs repeating a TZID defined before them (a TZID is unique within a VCALENDAR,
    // RFC 5545 3.2.19): `split` and `join` carry the first definition only, so the hash
    // counts only that one, and an item keeps its hash through a join and split.
    let mut repeated_zones = Vec::new();
    let mut components = Vec::new();
    for (i, c) in cal.children.iter().enumerate() {
        if c.name == "VTIMEZONE" {
            let id = tzid(c, &lines);
            if timezones.iter().any(|z| z.tzid == id) {
                repeated_zones.push(i);
            } else {
                timezones.push(Zone {
                    tzid: id,
                    span: c.span(&lines),
                    digest: digest(c, &lines),
                });
            }
            continue;
        }
        let this_uid = c.uid(&lines);
        if let Some(f) = first {
            if this_uid.is_none() || uid.is_none() || this_uid != uid {
                let describe = |u: &Option<String>| match u {
                    Some(u) => format!("UID {u}"),
                    None => "no UID".to_owned(),
                };
                return Err(err(
                    lines[c.begin].lineno,
                    format!(
                        "more than one item: BEGIN:{} with {} after BEGIN:{} (line {}) with {}",
                        c.name,
                        describe(&this_uid),
                        f.name,
                        lines[f.begin].lineno,
                        describe(&uid)
                    ),
                ));
            }
        } else {
            first = Some(c);
            uid = this_uid;
        }
        if let Some(lm) = c
            .prop(&lines, "LAST-MODIFIED")
            .and_then(|l| parse_timestamp(l.value()))
        {
            last_modified = last_modified.max(Some(lm));
        }
        components.push(c.span(&lines));
    }
    if first.is_none() {
        return Err(err(
            lines[cal.begin].lineno,
            "the VCALENDAR holds no component besides VTIMEZONE".into(),
        ));
    }
    let begin_line = &lines[cal.begin];
    Ok(Parsed {
        uid,
        digest: digest_skipping(cal, &lines, &repeated_zones),
        last_modified,
        layout: Layout::Calendar {
            begin: begin_line.start..begin_line.end,
            props: cal
                .props
                .iter()
                .map(|&i| lines[i].start..lines[i].end)
                .collect(),
            timezones,
            components,
            wrapper: props_digest(cal, &lines),
            eol: eol_at(raw, begin_line.content_end),
        },
    })
}

/// Components of one item, found in the VCALENDAR `cal` of the stream (`None`: outside of any
/// VCALENDAR).
struct Group<'t> {
    cal: Option<usize>,
    components: Vec<&'t Component>,
}

/// The wrapper given to components found outside of any VCALENDAR (concatenated RFC examples,
/// sloppy feeds): the minimum a VCALENDAR needs.
const BARE_WRAPPER: &[&[u8]] = &[
    b"BEGIN:VCALENDAR",
    b"VERSION:2.0",
    b"PRODID:-//davsync//davsync//EN",
];

pub(super) fn split(raw: &[u8]) -> Result<Vec<Item>, ParseError> {
    let lines = lex(ItemKind::Calendar, raw)?;
    if lines.is_empty() {
        return Ok(Vec::new());
    }
    let tree = parse_tree(&lines)?;
    let mut groups: Vec<Group<'_>> = Vec::new();
    let mut by_uid: HashMap<String, usize> = HashMap::new();
    // Per VCALENDAR, its VTIMEZONEs by TZID; the last entry holds those outside of any.
    let mut zones: Vec<Vec<(Vec<u8>, &Component)>> = vec![Vec::new(); tree.len() + 1];
    let bare_zones = tree.len();
    for (ci, top) in tree.iter().enumerate() {
        let (cal, children): (Option<usize>, &[Component]) = if top.name == "VCALENDAR" {
            (Some(ci), &top.children)
        } else if top.name == "VCARD" {
            return Err(err(
                lines[top.begin].lineno,
                "BEGIN:VCARD in a calendar: this is a vCard file".into(),
            ));
        } else {
            (None, std::slice::from_ref(top))
        };
        for c in children {
            if c.name == "VTIMEZONE" {
                zones[cal.unwrap_or(bare_zones)].push((tzid(c, &lines), c));
                continue;
            }
            match c.uid(&lines) {
                Some(uid) => match by_uid.get(&uid) {
                    Some(&g) => groups[g].components.push(c),
                    None => {
                        by_uid.insert(uid, groups.len());
                        groups.push(Group {
                            cal,
                            components: vec![c],
                        });
                    }
                },
                None => groups.push(Group {
                    cal,
                    components: vec![c],
                }),
            }
        }
    }
    if groups.len() == 1 && tree.len() == 1 && groups[0].cal.is_some() {
        return Ok(vec![Item::parse(ItemKind::Calendar, raw)?]);
    }
    let mut items = Vec::with_capacity(groups.len());
    let mut tzids = Vec::new();
    for g in &groups {
        let first = &lines[g.components[0].begin];
        let size: usize = g.components.iter().map(|c| c.span(&lines).len()).sum();
        let mut out = Vec::with_capacity(size + 512);
        let eol;
        match g.cal {
            Some(ci) => {
                let cal = &tree[ci];
                let begin = &lines[cal.begin];
                eol = eol_at(raw, begin.content_end);
                push_line_span(&mut out, &raw[begin.start..begin.end], eol);
                for &p in &cal.props {
                    push_line_span(&mut out, &raw[lines[p].start..lines[p].end], eol);
                }
            }
            None => {
                eol = eol_at(raw, first.content_end);
                for l in BARE_WRAPPER {
                    out.extend_from_slice(l);
                    out.extend_from_slice(eol);
                }
            }
        }
        tzids.clear();
        for c in &g.components {
            referenced_tzids(c, &lines, &mut tzids);
        }
        let own = g.cal.unwrap_or(bare_zones);
        for t in &tzids {
            let zone = zones[own]
                .iter()
                .chain(zones.iter().flatten())
                .find(|(id, _)| id == t);
            if let Some((_, z)) = zone {
                push_line_span(&mut out, &raw[z.span(&lines)], eol);
            }
        }
        for c in &g.components {
            push_line_span(&mut out, &raw[c.span(&lines)], eol);
        }
        match g.cal {
            Some(ci) => {
                let end = &lines[tree[ci].end];
                push_line_span(&mut out, &raw[end.start..end.content_end], eol);
            }
            None => {
                out.extend_from_slice(b"END:VCALENDAR");
                out.extend_from_slice(eol);
            }
        }
        let item = Item::parse(ItemKind::Calendar, out).map_err(|e| {
            err(
                first.lineno,
                format!("the item starting here does not stand alone: {}", e.message),
            )
        })?;
        items.push(item);
    }
    Ok(items)
}

const EMPTY_CALENDAR: &[u8] =
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//davsync//davsync//EN\r\nEND:VCALENDAR\r\n";

pub(super) fn join(items: &[Item]) -> Vec<u8> {
    if items.is_empty() {
        return EMPTY_CALENDAR.to_vec();
    }
    // Group the items by wrapper, in order of first appearance; an item whose VTIMEZONE
    // differs from one of the same TZID already in a group starts another group.
    let mut blocks: Vec<Block<'_>> = Vec::new();
    for item in items {
        let (key, zones): ([u8; 32], &[Zone]) = match &item.0.layout {
            Layout::Calendar {
                wrapper, timezones, ..
            } => (*wrapper, timezones),
            Layout::Contacts { .. } => ([0; 32], &[]),
        };
        let fits = |b: &Block<'_>| {
            b.wrapper == key
                && zones.iter().all(|z| {
                    b.zones
                        .get(z.tzid.as_slice())
                        .map_or(true, |d| *d == z.digest)
                })
        };
        let index = match blocks.iter().position(fits) {
            Some(i) => i,
            None => {
                blocks.push(Block {
                    wrapper: key,
                    zones: HashMap::new(),
                    items: Vec::new(),
                });
                blocks.len() - 1
            }
        };
        let block = &mut blocks[index];
        for z in zones {
            block.zones.insert(&z.tzid, z.digest);
        }
        block.items.push(item);
    }
    let size: usize = items.iter().map(|i| i.raw().len()).sum();
    let mut out = Vec::with_capacity(size + 64);
    for block in &blocks {
        join_block(&mut out, &block.items);
    }
    out
}

/// Items that can share one VCALENDAR.
struct Block<'i> {
    wrapper: [u8; 32],
    /// Digest of each VTIMEZONE in the block, by TZID.
    zones: HashMap<&'i [u8], [u8; 32]>,
    items: Vec<&'i Item>,
}

/// Writes one VCALENDAR holding `items`.
fn join_block(out: &mut Vec<u8>, items: &[&Item]) {
    let mut seen_zones: HashSet<&[u8]> = HashSet::new();
    let mut eol_used: &[u8] = b"\r\n";
    match &items[0].0.layout {
        Layout::Calendar {
            begin, props, eol, ..
        } => {
            eol_used = eol;
            push_line_span(out, &items[0].raw()[begin.clone()], eol);
            for p in props {
                push_line_span(out, &items[0].raw()[p.clone()], eol);
            }
        }
        Layout::Contacts { .. } => {
            out.extend_from_slice(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n");
        }
    }
    for item in items {
        if let Layout::Calendar { timezones, .. } = &item.0.layout {
            for z in timezones {
                if seen_zones.insert(&z.tzid) {
                    push_line_span(out, &item.raw()[z.span.clone()], eol_used);
                }
            }
        }
    }
    for item in items {
        match &item.0.layout {
            Layout::Calendar { components, .. } => {
                for span in components {
                    push_line_span(out, &item.raw()[span.clone()], eol_used);
                }
            }
            Layout::Contacts { body, .. } => {
                push_line_span(out, &item.raw()[body.clone()], eol_used)
            }
        }
    }
    out.extend_from_slice(b"END:VCALENDAR");
    out.extend_from_slice(eol_used);
}

/// A replacement of `range` in the original bytes.
pub(super) struct Edit {
    pub range: std::ops::Range<usize>,
    pub bytes: Vec<u8>,
}

pub(super) fn apply(raw: &[u8], mut edits: Vec<Edit>) -> Vec<u8> {
    edits.sort_by_key(|e| e.range.start);
    let mut out = Vec::with_capacity(raw.len() + 128);
    let mut pos = 0;
    for e in edits {
        out.extend_from_slice(&raw[pos..e.range.start]);
        out.extend_from_slice(&e.bytes);
        pos = e.range.end;
    }
    out.extend_from_slice(&raw[pos..]);
    out
}

/// The edit that sets the UID of component `c` (replacing its UID line, or inserting one after
/// the line `after`).
pub(super) fn uid_edit(
    raw: &[u8],
    lines: &[Line<'_>],
    c: &Component,
    after: usize,
    uid: &str,
) -> Edit {
    match c.prop(lines, "UID") {
        Some(l) => {
            let mut line = l.content[..l.colon + 1].to_vec();
            line.extend_from_slice(uid.as_bytes());
            let eol = eol_at(raw, l.content_end);
            let mut bytes = Vec::with_capacity(line.len() + 8);
            push_folded(&mut bytes, &line, eol);
            bytes.truncate(bytes.len() - eol.len());
            Edit {
                range: l.start..l.content_end,
                bytes,
            }
        }
        None => {
            let a = &lines[after];
            let eol = eol_at(raw, a.content_end);
            let at = (a.content_end + eol.len()).min(raw.len());
            let mut bytes = Vec::with_capacity(uid.len() + 8);
            if at == a.content_end {
                // The line has no line ending (end of input): start a new line first.
                bytes.extend_from_slice(eol);
            }
            push_folded(&mut bytes, format!("UID:{uid}").as_bytes(), eol);
            Edit {
                range: at..at,
                bytes,
            }
        }
    }
}

pub(super) fn with_uid(raw: &[u8], uid: &str) -> Vec<u8> {
    let Ok(lines) = lex(ItemKind::Calendar, raw) else {
        return raw.to_vec();
    };
    let Ok(tree) = parse_tree(&lines) else {
        return raw.to_vec();
    };
    let mut edits = Vec::new();
    for cal in &tree {
        for c in cal.children.iter().filter(|c| c.name != "VTIMEZONE") {
            edits.push(uid_edit(raw, &lines, c, c.begin, uid));
        }
    }
    apply(raw, edits)
}
