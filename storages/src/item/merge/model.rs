//! What the merge compares: each version cut into properties and components, each under a key
//! that matches it across the three versions, with its canonical (normalized) content.

use std::collections::{BTreeMap, HashMap};

use super::super::component::{parse_tree, Component};
use super::super::contentline::{lex, Line};
use super::super::normalize::{canonical, digest, ignored};
use super::super::{ItemKind, ParseError};

/// Properties that may appear any number of times and whose instances are told apart by their
/// value: each is matched across versions by its value, so additions on both sides add up.
/// (Properties not listed are matched by name, LANGUAGE and position: two different edits of
/// one SUMMARY or DTSTART are a conflict, never two SUMMARY lines.)
const REPEATABLE: &[&str] = &[
    // iCalendar
    "ATTENDEE",
    "CATEGORIES",
    "EXDATE",
    "RDATE",
    "RELATED-TO",
    "COMMENT",
    "CONTACT",
    "ATTACH",
    "RESOURCES",
    "REQUEST-STATUS",
    "CONFERENCE",
    "IMAGE",
    // vCard
    "EMAIL",
    "TEL",
    "ADR",
    "URL",
    "IMPP",
    "NICKNAME",
    "LANG",
    "MEMBER",
    "RELATED",
    "CALURI",
    "CALADRURI",
    "FBURL",
    "KEY",
    "CLIENTPIDMAP",
    "LABEL",
    "X-SOCIALPROFILE",
];

/// Values compared without regard to case (a calendar address or an e-mail address).
const CASELESS_VALUE: &[&str] = &["ATTENDEE", "EMAIL", "MEMBER"];

/// Properties that are ignored by the comparison but carried to the merge result as the
/// latest of both sides.
pub(super) const STAMPS: &[&str] = &["LAST-MODIFIED", "DTSTAMP", "REV"];

fn is_one_of(name: &[u8], list: &[&str]) -> bool {
    list.iter().any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
}

/// One version, lexed and parsed: the lines borrow the bytes.
pub(super) struct Doc<'a> {
    pub raw: &'a [u8],
    pub lines: Vec<Line<'a>>,
    pub top: Component,
    pub kind: ItemKind,
}

impl<'a> Doc<'a> {
    pub fn parse(kind: ItemKind, raw: &'a [u8]) -> Result<Doc<'a>, ParseError> {
        let lines = lex(kind, raw)?;
        let mut tree = parse_tree(&lines)?;
        let expected = match kind {
            ItemKind::Calendar => "VCALENDAR",
            ItemKind::Contacts => "VCARD",
        };
        if tree.len() != 1 || tree[0].name != expected {
            return Err(ParseError {
                line: 1,
                message: format!("not exactly one {expected}"),
            });
        }
        let top = tree.remove(0);
        Ok(Doc {
            raw,
            lines,
            top,
            kind,
        })
    }
}

/// A property (or, in a vCard, a group of lines sharing a group prefix such as `item1.`).
#[derive(Debug)]
pub(super) struct Prop {
    /// Canonical lines, sorted and joined by `\n`.
    pub content: Vec<u8>,
    /// Line indices in the document, in order.
    pub lines: Vec<usize>,
}

/// A component whose properties and sub-components are merged one by one.
#[derive(Debug)]
pub(super) struct Node<'d> {
    pub comp: &'d Component,
    pub props: BTreeMap<Vec<u8>, Prop>,
    /// Keys of `props` in document order (of their first line).
    pub order: Vec<Vec<u8>>,
    pub children: BTreeMap<Vec<u8>, Child<'d>>,
    /// Keys of `children` in document order.
    pub child_order: Vec<Vec<u8>>,
}

/// A sub-component: merged further, or compared whole (VTIMEZONE, an alarm without UID).
#[derive(Debug)]
pub(super) enum Child<'d> {
    Node(Node<'d>),
    Unit {
        comp: &'d Component,
        digest: [u8; 32],
    },
}

impl<'d> Child<'d> {
    pub fn comp(&self) -> &'d Component {
        match self {
            Child::Node(n) => n.comp,
            Child::Unit { comp, .. } => comp,
        }
    }
}

/// Where a component sits, which decides how its children are keyed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    /// The VCALENDAR: children by name, UID and RECURRENCE-ID; VTIMEZONEs by TZID.
    Calendar,
    /// A VCARD or a component inside a calendar object: children by UID when they have one.
    Inner,
}

/// The content only, for checking that what was written is what was decided.
#[derive(Debug, PartialEq, Eq, Clone)]
pub(super) struct Canon {
    pub props: BTreeMap<Vec<u8>, Vec<u8>>,
    pub children: BTreeMap<Vec<u8>, CanonChild>,
}

#[derive(Debug, PartialEq, Eq, Clone)]
pub(super) enum CanonChild {
    Node(Canon),
    Unit([u8; 32]),
}

impl Node<'_> {
    pub fn canon(&self) -> Canon {
        Canon {
            props: self
                .props
                .iter()
                .map(|(k, p)| (k.clone(), p.content.clone()))
                .collect(),
            children: self
                .children
                .iter()
                .map(|(k, c)| (k.clone(), c.canon()))
                .collect(),
        }
    }
}

impl Child<'_> {
    pub fn canon(&self) -> CanonChild {
        match self {
            Child::Node(n) => CanonChild::Node(n.canon()),
            Child::Unit { digest, .. } => CanonChild::Unit(*digest),
        }
    }
}

/// The key part that tells instances of one property apart.
fn identity(line: &Line<'_>, name: &[u8]) -> Vec<u8> {
    if is_one_of(name, REPEATABLE) {
        let v = line.value().trim_ascii();
        if is_one_of(name, CASELESS_VALUE) {
            v.to_ascii_lowercase()
        } else {
            v.to_vec()
        }
    } else {
        // SUMMARY;LANGUAGE=de and SUMMARY;LANGUAGE=en are two properties.
        line.param("LANGUAGE")
            .first()
            .map(|l| l.to_ascii_lowercase())
            .unwrap_or_default()
    }
}

/// The vCard group of a line (`item1` of `item1.EMAIL`), upper-cased.
fn group(line: &Line<'_>) -> Option<Vec<u8>> {
    let n = line.name();
    n.iter()
        .rposition(|&b| b == b'.')
        .map(|i| n[..i].to_ascii_uppercase())
}

fn join_sorted(mut parts: Vec<Vec<u8>>) -> Vec<u8> {
    parts.sort();
    parts.join(&b'\n')
}

/// A readable rendering of a key for messages (NUL separators shown as spaces).
pub(super) fn show_key(key: &[u8]) -> String {
    let text: String = String::from_utf8_lossy(key)
        .split('\0')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let mut out: String = text.chars().filter(|c| !c.is_control()).take(80).collect();
    if text.chars().count() > 80 {
        out.push_str("...");
    }
    out
}

pub(super) fn build<'d>(doc: &'d Doc<'_>) -> Result<Node<'d>, String> {
    let level = match doc.kind {
        ItemKind::Calendar => Level::Calendar,
        ItemKind::Contacts => Level::Inner,
    };
    node(doc, &doc.top, level)
}

fn node<'d>(doc: &'d Doc<'_>, comp: &'d Component, level: Level) -> Result<Node<'d>, String> {
    let lines = &doc.lines;
    let calendar_level = comp.name == "VCALENDAR";
    let mut props: BTreeMap<Vec<u8>, Prop> = BTreeMap::new();
    let mut order = Vec::new();
    let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut groups: BTreeMap<Vec<u8>, Vec<usize>> = BTreeMap::new();
    for &i in &comp.props {
        let line = &lines[i];
        if ignored(line, calendar_level) {
            continue;
        }
        if doc.kind == ItemKind::Contacts {
            if let Some(g) = group(line) {
                let key = [b"\x01GROUP\0".as_slice(), &g].concat();
                let members = groups.entry(key.clone()).or_default();
                if members.is_empty() {
                    order.push(key);
                }
                members.push(i);
                continue;
            }
        }
        let name = line.bare_name().to_ascii_uppercase();
        let base_key = [name.as_slice(), b"\0", &identity(line, &name)].concat();
        let n = seen.entry(base_key.clone()).or_default();
        let key = [base_key.as_slice(), b"\0", n.to_string().as_bytes()].concat();
        *n += 1;
        order.push(key.clone());
        props.insert(
            key,
            Prop {
                content: canonical(line),
                lines: vec![i],
            },
        );
    }
    for (key, members) in groups {
        let content = join_sorted(members.iter().map(|&i| canonical(&lines[i])).collect());
        props.insert(
            key,
            Prop {
                content,
                lines: members,
            },
        );
    }

    let mut children = BTreeMap::new();
    let mut child_order = Vec::new();
    let mut unit_seen: HashMap<Vec<u8>, usize> = HashMap::new();
    for c in &comp.children {
        let (key, child) = if level == Level::Calendar && c.name == "VTIMEZONE" {
            let tzid = c
                .prop(lines, "TZID")
                .map(|l| l.value().trim_ascii().to_vec())
                .unwrap_or_default();
            let key = [b"VTIMEZONE\0".as_slice(), &tzid].concat();
            let unit = Child::Unit {
                comp: c,
                digest: digest(c, lines),
            };
            (key, unit)
        } else if level == Level::Calendar {
            let Some(uid) = c.prop(lines, "UID").map(|l| l.value().trim_ascii()) else {
                return Err(format!(
                    "BEGIN:{} on line {} has no UID",
                    c.name, lines[c.begin].lineno
                ));
            };
            let rid = c
                .prop(lines, "RECURRENCE-ID")
                .map(|l| {
                    let canon = canonical(l);
                    // Drop the property name: only the parameters and value identify.
                    canon[l.name_len..].to_vec()
                })
                .unwrap_or_default();
            let key = [c.name.as_bytes(), b"\0", uid, b"\0", &rid].concat();
            (key, Child::Node(node(doc, c, Level::Inner)?))
        } else if let Some(uid) = c.prop(lines, "UID").map(|l| l.value().trim_ascii()) {
            let key = [c.name.as_bytes(), b"\0UID\0", uid].concat();
            (key, Child::Node(node(doc, c, Level::Inner)?))
        } else {
            // Without a UID (most alarms) a sub-component is known by its content only: it can
            // be added or removed, and an edit is a removal plus an addition.
            let d = digest(c, lines);
            let base_key = [c.name.as_bytes(), b"\0#", hex::encode(d).as_bytes()].concat();
            let n = unit_seen.entry(base_key.clone()).or_default();
            let key = [base_key.as_slice(), b"\0", n.to_string().as_bytes()].concat();
            *n += 1;
            (key, Child::Unit { comp: c, digest: d })
        };
        if children.contains_key(&key) {
            let what = if c.prop(lines, "RECURRENCE-ID").is_some() {
                "the same UID and RECURRENCE-ID"
            } else {
                "the same identity"
            };
            return Err(format!(
                "two BEGIN:{} with {what} (line {})",
                c.name, lines[c.begin].lineno
            ));
        }
        child_order.push(key.clone());
        children.insert(key, child);
    }
    Ok(Node {
        comp,
        props,
        order,
        children,
        child_order,
    })
}
