//! Views of an item for people: its title, and its normalized text for showing what differs
//! between two versions (`davsync resolve`, the trash).

use super::component::{parse_tree, Component};
use super::contentline::{lex, Line};
use super::normalize::{canonical, ignored};
use super::{Item, ItemKind};

/// A TEXT value on one line: escapes undone, line breaks as spaces, control characters dropped.
fn text_value(v: &[u8]) -> String {
    let s = String::from_utf8_lossy(v.trim_ascii());
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n' | 'N') => out.push(' '),
                Some(other) => out.push(other),
                None => {}
            },
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn render(c: &Component, lines: &[Line<'_>], depth: usize, out: &mut Vec<String>) {
    let indent = "  ".repeat(depth);
    out.push(format!("{indent}BEGIN:{}", c.name));
    let calendar_level = c.name == "VCALENDAR";
    let mut props: Vec<String> = c
        .props
        .iter()
        .map(|&i| &lines[i])
        .filter(|l| !ignored(l, calendar_level))
        .map(|l| format!("{indent}  {}", String::from_utf8_lossy(&canonical(l))))
        .collect();
    props.sort();
    out.extend(props);
    let mut children: Vec<Vec<String>> = c
        .children
        .iter()
        .map(|ch| {
            let mut v = Vec::new();
            render(ch, lines, depth + 1, &mut v);
            v
        })
        .collect();
    children.sort();
    out.extend(children.into_iter().flatten());
    out.push(format!("{indent}END:{}", c.name));
}

impl Item {
    /// The SUMMARY of the master component (or of the first one), or a vCard's FN.
    pub fn summary(&self) -> Option<String> {
        let lines = lex(self.kind(), self.raw()).ok()?;
        let tree = parse_tree(&lines).ok()?;
        let top = tree.first()?;
        let line = match self.kind() {
            ItemKind::Contacts => top.prop(&lines, "FN")?,
            ItemKind::Calendar => {
                let comps = || top.children.iter().filter(|c| c.name != "VTIMEZONE");
                let master = comps()
                    .find(|c| c.prop(&lines, "RECURRENCE-ID").is_none())
                    .or_else(|| comps().next())?;
                master.prop(&lines, "SUMMARY")?
            }
        };
        let text = text_value(line.value());
        (!text.is_empty()).then_some(text)
    }

    /// The normalized text, one property per line: unfolded, parameters and properties sorted,
    /// components sorted, the properties that comparison ignores left out. Two versions that
    /// compare equal have equal normalized texts, so a line diff of them shows only what
    /// really differs.
    pub fn normalized_text(&self) -> String {
        let Ok(lines) = lex(self.kind(), self.raw()) else {
            return String::from_utf8_lossy(self.raw()).into_owned();
        };
        let Ok(tree) = parse_tree(&lines) else {
            return String::from_utf8_lossy(self.raw()).into_owned();
        };
        let mut out = Vec::new();
        for c in &tree {
            render(c, &lines, 0, &mut out);
        }
        let mut text = out.join("\n");
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Item, ItemKind};

    const EVENT: &[u8] = b"BEGIN:VCALENDAR\r\nPRODID:x\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:1\r\nSUMMARY:Lunch\\, with Ana\r\n and Bo\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE;X-A=1:20260105\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:1\r\nRECURRENCE-ID:20260106\r\nSUMMARY:Moved\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

    #[test]
    fn summary_is_the_masters_unescaped() {
        let item = Item::parse(ItemKind::Calendar, EVENT.to_vec()).unwrap();
        assert_eq!(item.summary().as_deref(), Some("Lunch, with Anaand Bo"));
        let card = Item::parse(
            ItemKind::Contacts,
            b"BEGIN:VCARD\nVERSION:3.0\nFN:Ana\\nB\nEND:VCARD\n".to_vec(),
        )
        .unwrap();
        assert_eq!(card.summary().as_deref(), Some("Ana B"));
    }

    #[test]
    fn normalized_text_is_unfolded_sorted_and_leaves_out_ignored_properties() {
        let item = Item::parse(ItemKind::Calendar, EVENT.to_vec()).unwrap();
        assert_eq!(
            item.normalized_text(),
            "BEGIN:VCALENDAR\n  VERSION:2.0\n  BEGIN:VEVENT\n    DTSTART;VALUE=DATE;X-A=1:20260105\n    SUMMARY:Lunch\\, with Anaand Bo\n    UID:1\n  END:VEVENT\n  BEGIN:VEVENT\n    RECURRENCE-ID:20260106\n    SUMMARY:Moved\n    UID:1\n  END:VEVENT\nEND:VCALENDAR\n"
        );
    }
}
