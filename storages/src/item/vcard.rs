//! vCard: one item is one top-level VCARD (a nested 2.1 AGENT card stays inside its parent).

use super::component::parse_tree;
use super::contentline::{eol_at, lex};
use super::datetime::parse_timestamp;
use super::ical::{apply, uid_edit};
use super::normalize::digest;
use super::{push_line_span, Item, ItemKind, Layout, ParseError, Parsed};

pub(super) fn parse_one(raw: &[u8]) -> Result<Parsed, ParseError> {
    let lines = lex(ItemKind::Contacts, raw)?;
    let tree = parse_tree(&lines)?;
    if let Some(second) = tree.get(1) {
        return Err(ParseError {
            line: lines[second.begin].lineno,
            message: format!(
                "a second top-level component (BEGIN:{}): an item is exactly one VCARD",
                second.name
            ),
        });
    }
    let card = &tree[0];
    if card.name != "VCARD" {
        return Err(ParseError {
            line: lines[card.begin].lineno,
            message: format!("expected BEGIN:VCARD, found BEGIN:{}", card.name),
        });
    }
    let begin = &lines[card.begin];
    Ok(Parsed {
        uid: card.uid(&lines),
        digest: digest(card, &lines),
        last_modified: card
            .prop(&lines, "REV")
            .and_then(|l| parse_timestamp(l.value())),
        layout: Layout::Contacts {
            body: card.span(&lines),
            eol: eol_at(raw, begin.content_end),
        },
    })
}

pub(super) fn split(raw: &[u8]) -> Result<Vec<Item>, ParseError> {
    let lines = lex(ItemKind::Contacts, raw)?;
    if lines.is_empty() {
        return Ok(Vec::new());
    }
    let tree = parse_tree(&lines)?;
    for c in &tree {
        if c.name != "VCARD" {
            return Err(ParseError {
                line: lines[c.begin].lineno,
                message: format!("BEGIN:{} where a VCARD was expected", c.name),
            });
        }
    }
    if tree.len() == 1 {
        return Ok(vec![Item::parse(ItemKind::Contacts, raw)?]);
    }
    tree.iter()
        .map(|c| {
            Item::parse(ItemKind::Contacts, raw[c.span(&lines)].to_vec()).map_err(|e| ParseError {
                line: lines[c.begin].lineno + e.line - 1,
                message: e.message,
            })
        })
        .collect()
}

pub(super) fn join(items: &[Item]) -> Vec<u8> {
    let size: usize = items.iter().map(|i| i.raw().len()).sum();
    let mut out = Vec::with_capacity(size + 16);
    for item in items {
        match &item.0.layout {
            Layout::Contacts { body, eol } => {
                push_line_span(&mut out, &item.raw()[body.clone()], eol)
            }
            Layout::Calendar { .. } => push_line_span(&mut out, item.raw(), b"\r\n"),
        }
    }
    out
}

pub(super) fn with_uid(raw: &[u8], uid: &str) -> Vec<u8> {
    let Ok(lines) = lex(ItemKind::Contacts, raw) else {
        return raw.to_vec();
    };
    let Ok(tree) = parse_tree(&lines) else {
        return raw.to_vec();
    };
    let mut edits = Vec::new();
    for card in &tree {
        // vCard 4.0 wants VERSION right after BEGIN: a new UID goes after it.
        let after = match card.props.first() {
            Some(&i) if lines[i].is("VERSION") => i,
            _ => card.begin,
        };
        edits.push(uid_edit(raw, &lines, card, after, uid));
    }
    apply(raw, edits)
}
