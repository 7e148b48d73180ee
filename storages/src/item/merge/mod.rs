//! The three-way merge behind the `"merge"` conflict strategy.
//!
//! Two versions that both changed since the base (the version both sides last held) are
//! merged property by property: each version is cut into components (matched by name, UID and
//! RECURRENCE-ID; VTIMEZONEs by TZID; alarms and other sub-components without UID by their
//! content) and properties (matched by name, LANGUAGE and position, or by value for the
//! repeatable ones such as ATTENDEE, CATEGORIES, EXDATE, EMAIL, TEL; a vCard group such as
//! `item1.` is one unit). For every match, a change on one side only is taken, the same change
//! on both sides once; anything changed differently on both sides makes the merge pass, and
//! nothing is written.
//!
//! The result is a's bytes with b's changes spliced in, so every line that b did not change
//! keeps a's bytes and every line taken from b keeps b's (line endings aside). Before the result
//! is handed out it is parsed again and checked to hold exactly what was decided: a merge either
//! succeeds whole or passes, never half-done. LAST-MODIFIED, DTSTAMP and REV, which comparison
//! ignores, become the later of both sides in every component merged from both; SEQUENCE
//! bumped on both sides becomes the higher one.

mod model;
mod render;

#[cfg(test)]
mod laws;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::fmt;

use self::model::{build, show_key, Canon, Child, Doc, Node};
use self::render::Splice;
use super::{Item, ItemKind, ParseError};

/// Why a merge did not produce a result: the conflict then goes on to the next strategy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergePass {
    /// The base does not parse (a status written by a buggy build, a damaged file).
    BadBase(ParseError),
    /// A version's components cannot be matched one to one (a duplicate RECURRENCE-ID, a
    /// component without UID inside a VCALENDAR, a calendar against a vCard).
    Unmatchable {
        version: &'static str,
        reason: String,
    },
    /// Something was changed differently on both sides.
    Conflicting(String),
    /// The text that would be written does not hold what the merge decided (a shape the
    /// splicing cannot express). Nothing is written.
    Unfaithful(String),
}

impl fmt::Display for MergePass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MergePass::BadBase(e) => write!(f, "the base version does not parse ({e})"),
            MergePass::Unmatchable { version, reason } => {
                write!(f, "cannot match the components of {version}: {reason}")
            }
            MergePass::Conflicting(what) => f.write_str(what),
            MergePass::Unfaithful(why) => {
                write!(f, "the merged text would not hold the merge ({why})")
            }
        }
    }
}

impl std::error::Error for MergePass {}

/// Merges `a` and `b`, two versions of one item, against `base`, the version both had before.
/// Returns a's bytes with b's changes applied (or one of the versions unchanged, when the other
/// holds no change of its own).
pub fn merge(base: &[u8], a: &Item, b: &Item) -> Result<Item, MergePass> {
    let kind = a.kind();
    if b.kind() != kind {
        return Err(MergePass::Unmatchable {
            version: "b's version",
            reason: "one version is a calendar object, the other a vCard".into(),
        });
    }
    let base_doc = Doc::parse(kind, base).map_err(MergePass::BadBase)?;
    let a_doc = parse_side(kind, a.raw(), "a's version")?;
    let b_doc = parse_side(kind, b.raw(), "b's version")?;
    let base_node = build(&base_doc).map_err(|reason| MergePass::Unmatchable {
        version: "the base version",
        reason,
    })?;
    let a_node = build(&a_doc).map_err(|reason| MergePass::Unmatchable {
        version: "a's version",
        reason,
    })?;
    let b_node = build(&b_doc).map_err(|reason| MergePass::Unmatchable {
        version: "b's version",
        reason,
    })?;
    let (o, x, y) = (base_node.canon(), a_node.canon(), b_node.canon());
    if x == o {
        return Ok(b.clone());
    }
    if y == o || x == y {
        return Ok(a.clone());
    }
    let mut splice = Splice::new(&a_doc, &b_doc);
    let label = top_label(kind, a);
    let merged = merge_node(&base_node, &a_node, &b_node, &mut splice, &label)?;
    let out = splice.apply()?;
    let item = Item::parse(kind, out).map_err(|e| MergePass::Unfaithful(e.to_string()))?;
    let doc = Doc::parse(kind, item.raw()).map_err(|e| MergePass::Unfaithful(e.to_string()))?;
    let written = build(&doc).map_err(MergePass::Unfaithful)?.canon();
    if written != merged {
        return Err(MergePass::Unfaithful(
            "the merged text does not match the merged properties".into(),
        ));
    }
    Ok(item)
}

fn parse_side<'a>(
    kind: ItemKind,
    raw: &'a [u8],
    version: &'static str,
) -> Result<Doc<'a>, MergePass> {
    Doc::parse(kind, raw).map_err(|e| MergePass::Unmatchable {
        version,
        reason: e.to_string(),
    })
}

fn top_label(kind: ItemKind, a: &Item) -> String {
    match kind {
        ItemKind::Calendar => "the VCALENDAR".into(),
        ItemKind::Contacts => match a.uid() {
            Some(uid) => format!("VCARD {uid}"),
            None => "the VCARD".into(),
        },
    }
}

/// How a property key reads in a message: `SUMMARY`, `ATTENDEE mailto:x@example.com`, `the
/// lines of group ITEM1`.
fn prop_label(key: &[u8]) -> String {
    let text = String::from_utf8_lossy(key);
    let mut parts = text.split('\0');
    let name = parts.next().unwrap_or_default();
    let identity = parts.next().unwrap_or_default();
    if name == "\u{1}GROUP" {
        return format!("the lines of group {identity}");
    }
    if identity.is_empty() {
        name.to_owned()
    } else {
        show_key(format!("{name}\0{identity}").as_bytes())
    }
}

/// What to do with one matched property or component.
#[derive(PartialEq, Eq)]
enum Pick {
    /// Keep a's (a changed it, both changed it alike, or neither did).
    A,
    /// Take b's: b alone changed it.
    B,
}

/// The three-way rule on one match: `None` when the two sides changed it differently.
fn pick<T: PartialEq>(o: Option<&T>, x: Option<&T>, y: Option<&T>) -> Option<Pick> {
    if x == y || y == o {
        Some(Pick::A)
    } else if x == o {
        Some(Pick::B)
    } else {
        None
    }
}

fn conflict_text(what: &str, o: bool, x: bool, y: bool) -> String {
    match (o, x, y) {
        (true, true, true) => format!("{what} was changed differently on each side"),
        (true, _, _) => format!("{what} was removed on one side and changed on the other"),
        _ => format!("{what} was added differently on each side"),
    }
}

/// The SEQUENCE value of a property content (`SEQUENCE:3`).
fn sequence(content: &[u8]) -> Option<u64> {
    let colon = content.iter().position(|&c| c == b':')?;
    std::str::from_utf8(&content[colon + 1..])
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn merge_node(
    o: &Node<'_>,
    x: &Node<'_>,
    y: &Node<'_>,
    splice: &mut Splice<'_, '_>,
    label: &str,
) -> Result<Canon, MergePass> {
    let mut canon = Canon {
        props: Default::default(),
        children: Default::default(),
    };
    let keys: BTreeSet<&Vec<u8>> = o
        .props
        .keys()
        .chain(x.props.keys())
        .chain(y.props.keys())
        .collect();
    for key in keys {
        let (op, xp, yp) = (o.props.get(key), x.props.get(key), y.props.get(key));
        let content = |p: Option<&model::Prop>| p.map(|p| p.content.clone());
        let (oc, xc, yc) = (content(op), content(xp), content(yp));
        let choice = match pick(oc.as_ref(), xc.as_ref(), yc.as_ref()) {
            Some(c) => c,
            None => match (&xc, &yc) {
                // Both bumped SEQUENCE: the higher one says the event changed since either.
                (Some(xs), Some(ys)) if key.starts_with(b"SEQUENCE\0") => {
                    match (sequence(xs), sequence(ys)) {
                        (Some(m), Some(n)) if n > m => Pick::B,
                        (Some(_), Some(_)) => Pick::A,
                        _ => {
                            return Err(MergePass::Conflicting(format!(
                                "SEQUENCE of {label} is not a number"
                            )))
                        }
                    }
                }
                _ => {
                    return Err(MergePass::Conflicting(conflict_text(
                        &format!("{} of {label}", prop_label(key)),
                        op.is_some(),
                        xp.is_some(),
                        yp.is_some(),
                    )))
                }
            },
        };
        let chosen = if choice == Pick::B { yp } else { xp };
        if let Some(p) = chosen {
            canon.props.insert(key.clone(), p.content.clone());
        }
        if choice == Pick::B {
            match (xp, yp) {
                (Some(xp), Some(yp)) => splice.replace_prop(xp, yp),
                (Some(xp), None) => splice.delete_prop(xp),
                (None, Some(yp)) => splice.insert_prop(x, y, key, yp),
                (None, None) => {}
            }
        }
    }

    let keys: BTreeSet<&Vec<u8>> = o
        .children
        .keys()
        .chain(x.children.keys())
        .chain(y.children.keys())
        .collect();
    for key in keys {
        let (oc, xc, yc) = (
            o.children.get(key),
            x.children.get(key),
            y.children.get(key),
        );
        let canon_of = |c: Option<&Child<'_>>| c.map(Child::canon);
        let (ov, xv, yv) = (canon_of(oc), canon_of(xc), canon_of(yc));
        let merged = match pick(ov.as_ref(), xv.as_ref(), yv.as_ref()) {
            Some(Pick::A) => xv,
            Some(Pick::B) => {
                match (xc, yc) {
                    (Some(xc), Some(yc)) => splice.replace_comp(xc.comp(), yc.comp()),
                    (Some(xc), None) => splice.delete_comp(xc.comp()),
                    (None, Some(yc)) => splice.insert_comp(x, y, key, yc.comp()),
                    (None, None) => {}
                }
                yv
            }
            None => match (oc, xc, yc) {
                (Some(Child::Node(on)), Some(Child::Node(xn)), Some(Child::Node(yn))) => {
                    let child_label = show_key(key);
                    Some(model::CanonChild::Node(merge_node(
                        on,
                        xn,
                        yn,
                        splice,
                        &child_label,
                    )?))
                }
                _ => {
                    return Err(MergePass::Conflicting(conflict_text(
                        &show_key(key),
                        oc.is_some(),
                        xc.is_some(),
                        yc.is_some(),
                    )))
                }
            },
        };
        if let Some(m) = merged {
            canon.children.insert(key.clone(), m);
        }
    }
    splice.stamps(x, y);
    Ok(canon)
}
