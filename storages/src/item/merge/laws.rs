//! The laws of the merge, checked with proptest on generated events: a base, and two versions
//! each made from it by a few random edits (summary, location, attendees and their answers,
//! categories, alarms, an override, SEQUENCE), written with either line ending and in either
//! property order.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::super::{Item, ItemKind};
use super::merge;

#[derive(Debug, Clone)]
struct Event {
    summary: u8,
    location: Option<u8>,
    /// Attendee number -> PARTSTAT number.
    attendees: BTreeMap<u8, u8>,
    categories: BTreeSet<u8>,
    /// Alarm trigger minutes.
    alarms: BTreeSet<u8>,
    /// The summary of the override of the second instance, if there is one.
    override_summary: Option<u8>,
    sequence: u8,
}

#[derive(Debug, Clone)]
enum Op {
    Summary(u8),
    Location(Option<u8>),
    Attendee(u8, Option<u8>),
    Category(u8),
    Alarm(u8),
    Override(Option<u8>),
    BumpSequence,
}

fn event() -> impl Strategy<Value = Event> {
    (
        0..4u8,
        proptest::option::of(0..3u8),
        proptest::collection::btree_map(0..5u8, 0..3u8, 0..4),
        proptest::collection::btree_set(0..4u8, 0..3),
        proptest::collection::btree_set(0..4u8, 0..3),
        proptest::option::of(0..3u8),
        0..3u8,
    )
        .prop_map(
            |(summary, location, attendees, categories, alarms, override_summary, sequence)| {
                Event {
                    summary,
                    location,
                    attendees,
                    categories,
                    alarms,
                    override_summary,
                    sequence,
                }
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..4u8).prop_map(Op::Summary),
        proptest::option::of(0..3u8).prop_map(Op::Location),
        (0..5u8, proptest::option::of(0..3u8)).prop_map(|(n, p)| Op::Attendee(n, p)),
        (0..4u8).prop_map(Op::Category),
        (0..4u8).prop_map(Op::Alarm),
        proptest::option::of(0..3u8).prop_map(Op::Override),
        Just(Op::BumpSequence),
    ]
}

fn toggle(set: &mut BTreeSet<u8>, v: u8) {
    if !set.remove(&v) {
        set.insert(v);
    }
}

fn apply(mut e: Event, ops: &[Op]) -> Event {
    for op in ops {
        match *op {
            Op::Summary(s) => e.summary = s,
            Op::Location(l) => e.location = l,
            Op::Attendee(n, Some(p)) => {
                e.attendees.insert(n, p);
            }
            Op::Attendee(n, None) => {
                e.attendees.remove(&n);
            }
            Op::Category(c) => toggle(&mut e.categories, c),
            Op::Alarm(m) => toggle(&mut e.alarms, m),
            Op::Override(o) => e.override_summary = o,
            Op::BumpSequence => e.sequence += 1,
        }
    }
    e
}

const PARTSTAT: [&str; 3] = ["NEEDS-ACTION", "ACCEPTED", "DECLINED"];

fn render(e: &Event, crlf: bool, reversed: bool) -> Vec<u8> {
    let mut props = vec![
        "UID:law@example.org".to_owned(),
        format!("SUMMARY:Summary {}", e.summary),
        "DTSTART:20260105T090000Z".to_owned(),
        "RRULE:FREQ=DAILY;COUNT=5".to_owned(),
        format!("SEQUENCE:{}", e.sequence),
        "DTSTAMP:20260101T000000Z".to_owned(),
    ];
    if let Some(l) = e.location {
        props.push(format!("LOCATION:Room {l}"));
    }
    for (n, p) in &e.attendees {
        props.push(format!(
            "ATTENDEE;PARTSTAT={}:mailto:person{n}@example.org",
            PARTSTAT[*p as usize]
        ));
    }
    for c in &e.categories {
        props.push(format!("CATEGORIES:Category {c}"));
    }
    if reversed {
        props.reverse();
    }
    let mut lines = vec!["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//law//EN"]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    lines.push("BEGIN:VEVENT".into());
    lines.extend(props);
    for m in &e.alarms {
        lines.extend([
            "BEGIN:VALARM".to_owned(),
            "ACTION:DISPLAY".to_owned(),
            format!("TRIGGER:-PT{m}0M"),
            "DESCRIPTION:Reminder".to_owned(),
            "END:VALARM".to_owned(),
        ]);
    }
    lines.push("END:VEVENT".into());
    if let Some(s) = e.override_summary {
        lines.extend([
            "BEGIN:VEVENT".to_owned(),
            "UID:law@example.org".to_owned(),
            "RECURRENCE-ID:20260106T090000Z".to_owned(),
            format!("SUMMARY:Moved {s}"),
            "DTSTART:20260106T100000Z".to_owned(),
            "END:VEVENT".to_owned(),
        ]);
    }
    lines.push("END:VCALENDAR".into());
    let eol = if crlf { "\r\n" } else { "\n" };
    let mut out = lines.join(eol);
    out.push_str(eol);
    out.into_bytes()
}

fn item(raw: Vec<u8>) -> Item {
    Item::parse(ItemKind::Calendar, raw).expect("generated items parse")
}

/// The lines of each VEVENT (alarms included), by RECURRENCE-ID ("" for the master), without
/// the lines the merge may rewrite (SEQUENCE, DTSTAMP).
fn blocks(item: &Item) -> BTreeMap<String, BTreeSet<String>> {
    let text = String::from_utf8(item.raw().to_vec())
        .unwrap()
        .replace('\r', "");
    let mut out = BTreeMap::new();
    for block in text.split("BEGIN:VEVENT\n").skip(1) {
        let block = block.split("END:VEVENT\n").next().unwrap();
        let key = block
            .lines()
            .find(|l| l.starts_with("RECURRENCE-ID"))
            .unwrap_or("")
            .to_owned();
        // An alarm counts as one entry: its lines mean something only together.
        let mut lines = BTreeSet::new();
        let mut alarm: Option<String> = None;
        for l in block.lines() {
            match (&mut alarm, l) {
                (None, "BEGIN:VALARM") => alarm = Some(String::new()),
                (Some(a), "END:VALARM") => {
                    lines.insert(format!("VALARM {a}"));
                    alarm = None;
                }
                (Some(a), l) => {
                    a.push_str(l);
                    a.push('|');
                }
                (None, l) if !l.starts_with("SEQUENCE") && !l.starts_with("DTSTAMP") => {
                    lines.insert(l.to_owned());
                }
                (None, _) => {}
            }
        }
        out.insert(key, lines);
    }
    out
}

#[derive(Debug, Clone)]
struct Case {
    base: Event,
    a_ops: Vec<Op>,
    b_ops: Vec<Op>,
    a_crlf: bool,
    b_crlf: bool,
    a_reversed: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        event(),
        proptest::collection::vec(op(), 0..4),
        proptest::collection::vec(op(), 0..4),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(base, a_ops, b_ops, a_crlf, b_crlf, a_reversed)| Case {
            base,
            a_ops,
            b_ops,
            a_crlf,
            b_crlf,
            a_reversed,
        })
}

impl Case {
    fn items(&self) -> (Vec<u8>, Item, Item) {
        let base = render(&self.base, false, false);
        let a = item(render(
            &apply(self.base.clone(), &self.a_ops),
            self.a_crlf,
            self.a_reversed,
        ));
        let b = item(render(
            &apply(self.base.clone(), &self.b_ops),
            self.b_crlf,
            false,
        ));
        (base, a, b)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn merging_against_an_unchanged_side_gives_the_changed_side(c in case()) {
        let (base, a, _) = c.items();
        let base_item = item(base.clone());
        for merged in [merge(&base, &a, &base_item).unwrap(), merge(&base, &base_item, &a).unwrap()] {
            prop_assert_eq!(merged.hash(), a.hash());
            // Byte for byte, unless a holds no change (then either version is the answer).
            if a.hash() != base_item.hash() {
                prop_assert_eq!(merged.raw(), a.raw());
            }
        }
    }

    #[test]
    fn merging_a_version_with_itself_gives_it_back(c in case()) {
        let (base, a, _) = c.items();
        prop_assert_eq!(merge(&base, &a, &a).unwrap().raw().to_vec(), a.raw().to_vec());
    }

    #[test]
    fn the_order_of_the_sides_does_not_matter(c in case()) {
        let (base, a, b) = c.items();
        match (merge(&base, &a, &b), merge(&base, &b, &a)) {
            (Ok(ab), Ok(ba)) => prop_assert_eq!(ab.hash(), ba.hash()),
            (Err(_), Err(_)) => {}
            (ab, ba) => prop_assert!(false, "one order merges, the other not: {:?} / {:?}", ab.map(|i| i.hash().to_owned()), ba.map(|i| i.hash().to_owned())),
        }
    }

    #[test]
    fn nothing_both_sides_kept_or_either_side_added_is_lost(c in case()) {
        let (base, a, b) = c.items();
        let Ok(merged) = merge(&base, &a, &b) else { return Ok(()) };
        let (o, x, y, r) = (blocks(&item(base)), blocks(&a), blocks(&b), blocks(&merged));
        for (key, xl) in &x {
            if let Some(yl) = y.get(key) {
                let rl = r.get(key).expect("a component both sides hold stays");
                for line in xl.intersection(yl) {
                    prop_assert!(rl.contains(line), "{} lost from {:?}", line, key);
                }
            }
        }
        for side in [&x, &y] {
            for (key, lines) in side {
                let before = o.get(key).cloned().unwrap_or_default();
                if let Some(rl) = r.get(key) {
                    for line in lines.difference(&before) {
                        prop_assert!(rl.contains(line), "added {} lost from {:?}", line, key);
                    }
                }
            }
        }
    }

    #[test]
    fn a_merge_result_is_stable(c in case()) {
        let (base, a, b) = c.items();
        let Ok(merged) = merge(&base, &a, &b) else { return Ok(()) };
        prop_assert_eq!(merge(&base, &merged, &merged).unwrap().raw().to_vec(), merged.raw().to_vec());
        prop_assert_eq!(merge(&base, &merged, &a).unwrap().hash().to_owned(), merged.hash().to_owned());
        prop_assert_eq!(merge(&base, &b, &merged).unwrap().hash().to_owned(), merged.hash().to_owned());
        prop_assert_eq!(merged.uid(), Some("law@example.org"));
    }

    #[test]
    fn changes_to_different_things_always_merge(
        base in event(), s in 0..4u8, l in proptest::option::of(0..3u8), crlf in any::<bool>(),
    ) {
        let a = item(render(&apply(base.clone(), &[Op::Summary(s)]), crlf, false));
        let b = item(render(&apply(base.clone(), &[Op::Location(l), Op::Alarm(7)]), false, true));
        prop_assert!(merge(&render(&base, false, false), &a, &b).is_ok());
    }
}
