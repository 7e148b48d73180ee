//! Behaviour of the item model on small literal inputs; the real-world corpus is exercised by
//! tests/it/corpus.rs.

use chrono::{TimeZone, Utc};
use proptest::prelude::*;

use super::*;

fn crlf(lines: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(l.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn cal_item(lines: &[&str]) -> Item {
    Item::parse(ItemKind::Calendar, crlf(lines)).unwrap()
}

fn card_item(lines: &[&str]) -> Item {
    Item::parse(ItemKind::Contacts, crlf(lines)).unwrap()
}

const EVENT: &[&str] = &[
    "BEGIN:VCALENDAR",
    "VERSION:2.0",
    "PRODID:-//Example//Client 1.0//EN",
    "BEGIN:VTIMEZONE",
    "TZID:Europe/Berlin",
    "BEGIN:STANDARD",
    "DTSTART:19701025T030000",
    "TZOFFSETFROM:+0200",
    "TZOFFSETTO:+0100",
    "END:STANDARD",
    "END:VTIMEZONE",
    "BEGIN:VEVENT",
    "UID:event-1@example.com",
    "DTSTAMP:20240101T000000Z",
    "LAST-MODIFIED:20240101T100000Z",
    "DTSTART;TZID=Europe/Berlin:20240105T100000",
    "SUMMARY:Planning meeting",
    "DESCRIPTION:Bring the numbers\\, please",
    "ATTENDEE;CN=Jane Doe;ROLE=REQ-PARTICIPANT:mailto:jane@example.com",
    "RRULE:FREQ=WEEKLY",
    "END:VEVENT",
    "BEGIN:VEVENT",
    "UID:event-1@example.com",
    "RECURRENCE-ID;TZID=Europe/Berlin:20240112T100000",
    "DTSTAMP:20240101T000000Z",
    "LAST-MODIFIED:20240103T100000Z",
    "DTSTART;TZID=Europe/Berlin:20240112T110000",
    "SUMMARY:Planning meeting (moved)",
    "END:VEVENT",
    "END:VCALENDAR",
];

const CARD: &[&str] = &[
    "BEGIN:VCARD",
    "VERSION:3.0",
    "PRODID:-//Example//Contacts//EN",
    "UID:card-1",
    "FN:Jane Doe",
    "N:Doe;Jane;;;",
    "EMAIL;TYPE=INTERNET,WORK:jane@example.com",
    "TEL;TYPE=CELL:+1-555-0100",
    "REV:2024-01-05T10:00:00Z",
    "END:VCARD",
];

fn h(item: Item) -> String {
    item.hash().to_string()
}

fn with_line(lines: &[&str], index: usize, new: &str) -> Vec<String> {
    let mut v: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    v[index] = new.to_owned();
    v
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn index_of(lines: &[&str], prefix: &str) -> usize {
    lines.iter().position(|l| l.starts_with(prefix)).unwrap()
}

// ---- identity and basic parsing ------------------------------------------------------------

#[test]
fn calendar_item_reports_uid_and_keeps_bytes() {
    let raw = crlf(EVENT);
    let item = Item::parse(ItemKind::Calendar, raw.clone()).unwrap();
    assert_eq!(item.uid(), Some("event-1@example.com"));
    assert_eq!(item.ident(), "event-1@example.com");
    assert_eq!(item.raw(), &raw[..]);
    assert_eq!(item.kind(), ItemKind::Calendar);
    assert_eq!(item.hash().as_str().len(), 64);
}

#[test]
fn item_without_uid_is_identified_by_its_hash() {
    let item = cal_item(&[
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "BEGIN:VEVENT",
        "DTSTART:20240105T100000Z",
        "SUMMARY:No uid",
        "END:VEVENT",
        "END:VCALENDAR",
    ]);
    assert_eq!(item.uid(), None);
    assert_eq!(item.ident(), item.hash().as_str());
}

#[test]
fn empty_uid_counts_as_missing() {
    let item = card_item(&["BEGIN:VCARD", "VERSION:3.0", "UID:", "FN:X", "END:VCARD"]);
    assert_eq!(item.uid(), None);
}

#[test]
fn parse_refuses_two_uids_naming_the_second_component() {
    let raw = crlf(&[
        "BEGIN:VCALENDAR",
        "BEGIN:VEVENT",
        "UID:a",
        "END:VEVENT",
        "BEGIN:VEVENT",
        "UID:b",
        "END:VEVENT",
        "END:VCALENDAR",
    ]);
    let e = Item::parse(ItemKind::Calendar, raw).unwrap_err();
    assert_eq!(e.line, 5);
    assert!(e.message.contains("more than one item"), "{e}");
}

#[test]
fn parse_refuses_two_cards() {
    let raw = crlf(&[
        "BEGIN:VCARD",
        "FN:A",
        "END:VCARD",
        "BEGIN:VCARD",
        "FN:B",
        "END:VCARD",
    ]);
    let e = Item::parse(ItemKind::Contacts, raw).unwrap_err();
    assert_eq!(e.line, 4);
}

#[test]
fn non_utf8_bytes_are_preserved() {
    // A Shift_JIS name in a vCard 2.1.
    let mut raw = b"BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=SHIFT_JIS:".to_vec();
    raw.extend_from_slice(&[0x83, 0x65, 0x83, 0x58, 0x83, 0x67]);
    raw.extend_from_slice(b"\r\nUID:sj\r\nEND:VCARD\r\n");
    let item = Item::parse(ItemKind::Contacts, raw.clone()).unwrap();
    assert_eq!(item.raw(), &raw[..]);
    let items = split(ItemKind::Contacts, &[raw.clone(), raw.clone()].concat()).unwrap();
    assert_eq!(items[0].raw(), &raw[..]);
    let other = Item::parse(ItemKind::Contacts, raw.replace_byte(0x58, 0x59)).unwrap();
    assert_ne!(other.hash(), item.hash());
}

trait ReplaceByte {
    fn replace_byte(&self, from: u8, to: u8) -> Vec<u8>;
}

impl ReplaceByte for Vec<u8> {
    fn replace_byte(&self, from: u8, to: u8) -> Vec<u8> {
        self.iter()
            .map(|&b| if b == from { to } else { b })
            .collect()
    }
}

// ---- malformed input -----------------------------------------------------------------------

fn parse_err(kind: ItemKind, text: &str) -> ParseError {
    let e1 = Item::parse(kind, text.as_bytes().to_vec()).unwrap_err();
    let e2 = split(kind, text.as_bytes()).unwrap_err();
    assert_eq!(e1, e2, "parse and split disagree");
    e1
}

#[test]
fn truncated_input_names_the_unclosed_begin() {
    let e = parse_err(
        ItemKind::Calendar,
        "BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:x\nSUMMARY:cut off he",
    );
    assert_eq!(e.line, 3);
    assert!(e.message.contains("BEGIN:VEVENT is never closed"), "{e}");
}

#[test]
fn mismatched_end_is_reported_on_its_line() {
    let e = parse_err(
        ItemKind::Calendar,
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nEND:VTODO\nEND:VCALENDAR\n",
    );
    assert_eq!(e.line, 4);
    assert_eq!(e.message, "END:VTODO does not match BEGIN:VEVENT on line 2");
}

#[test]
fn end_without_begin_is_reported() {
    let e = parse_err(
        ItemKind::Contacts,
        "BEGIN:VCARD\nFN:x\nEND:VCARD\nEND:VCARD\n",
    );
    assert_eq!(e.line, 4);
    assert!(e.message.contains("without a matching BEGIN"), "{e}");
}

#[test]
fn input_not_beginning_with_begin_is_refused() {
    let e = parse_err(
        ItemKind::Calendar,
        "VERSION:2.0\nBEGIN:VCALENDAR\nEND:VCALENDAR\n",
    );
    assert_eq!(e.line, 1);
    assert_eq!(e.message, "does not begin with BEGIN:");
    let e = parse_err(ItemKind::Calendar, "\n\n<html>oops</html>\n");
    assert_eq!(e.line, 3);
}

#[test]
fn garbage_line_is_reported_with_its_number() {
    let e = parse_err(
        ItemKind::Calendar,
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nthis is not a content line\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    );
    assert_eq!(e.line, 4);
    assert_eq!(
        e.message,
        "not a content line (bad character in the property name): `this is not a content line`"
    );
}

#[test]
fn empty_input_is_no_item_but_an_empty_collection() {
    for kind in [ItemKind::Calendar, ItemKind::Contacts] {
        for text in ["", "\r\n\r\n", "\n"] {
            let e = Item::parse(kind, text.as_bytes().to_vec()).unwrap_err();
            assert_eq!(e.line, 1);
            assert!(split(kind, text.as_bytes()).unwrap().is_empty());
        }
    }
}

#[test]
fn calendar_without_components_is_not_an_item() {
    let e = Item::parse(
        ItemKind::Calendar,
        crlf(&["BEGIN:VCALENDAR", "VERSION:2.0", "END:VCALENDAR"]),
    )
    .unwrap_err();
    assert_eq!(e.line, 1);
    assert!(split(
        ItemKind::Calendar,
        &crlf(&["BEGIN:VCALENDAR", "END:VCALENDAR"])
    )
    .unwrap()
    .is_empty());
}

// ---- normalization: what must not change the hash ------------------------------------------

fn refold(lines: &[&str], width: usize, eol: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        let b = l.as_bytes();
        let mut first = true;
        for chunk in b.chunks(width) {
            if !first {
                out.push(b' ');
            }
            out.extend_from_slice(chunk);
            out.extend_from_slice(eol.as_bytes());
            first = false;
        }
    }
    out
}

#[test]
fn line_endings_do_not_change_the_hash() {
    let base = cal_item(EVENT);
    for eol in ["\n", "\r", "\r\n"] {
        let item = Item::parse(ItemKind::Calendar, refold(EVENT, 1000, eol)).unwrap();
        assert_eq!(item.hash(), base.hash(), "eol {eol:?}");
    }
    let mixed: Vec<u8> = EVENT
        .iter()
        .enumerate()
        .flat_map(|(i, l)| {
            let eol: &[u8] = if i % 2 == 0 { b"\n" } else { b"\r\n" };
            [l.as_bytes(), eol].concat()
        })
        .collect();
    assert_eq!(
        Item::parse(ItemKind::Calendar, mixed).unwrap().hash(),
        base.hash()
    );
}

#[test]
fn case_of_names_does_not_change_the_hash() {
    let base = cal_item(EVENT);
    let i = index_of(EVENT, "ATTENDEE");
    let lower = with_line(
        EVENT,
        i,
        "attendee;cn=Jane Doe;Role=REQ-PARTICIPANT:mailto:jane@example.com",
    );
    assert_eq!(cal_item(&strs(&lower)).hash(), base.hash());
}

#[test]
fn parameter_order_and_quoting_do_not_change_the_hash() {
    let base = cal_item(EVENT);
    let i = index_of(EVENT, "ATTENDEE");
    let swapped = with_line(
        EVENT,
        i,
        "ATTENDEE;ROLE=REQ-PARTICIPANT;CN=\"Jane Doe\":mailto:jane@example.com",
    );
    assert_eq!(cal_item(&strs(&swapped)).hash(), base.hash());
    let card = card_item(CARD);
    let j = index_of(CARD, "EMAIL");
    let split_types = with_line(CARD, j, "EMAIL;TYPE=WORK;TYPE=INTERNET:jane@example.com");
    assert_eq!(card_item(&strs(&split_types)).hash(), card.hash());
}

#[test]
fn volatile_properties_do_not_change_the_hash() {
    let base = cal_item(EVENT);
    for (prefix, new) in [
        ("PRODID", "PRODID:-//Other//Server 9//EN"),
        ("DTSTAMP", "DTSTAMP:20991231T235959Z"),
        ("LAST-MODIFIED", "LAST-MODIFIED:20991231T235959Z"),
    ] {
        let changed = with_line(EVENT, index_of(EVENT, prefix), new);
        assert_eq!(cal_item(&strs(&changed)).hash(), base.hash(), "{prefix}");
    }
    let card = card_item(CARD);
    let changed = with_line(CARD, index_of(CARD, "REV"), "REV:20991231T000000Z");
    assert_eq!(card_item(&strs(&changed)).hash(), card.hash());
    let changed = with_line(CARD, index_of(CARD, "PRODID"), "PRODID:x");
    assert_eq!(card_item(&strs(&changed)).hash(), card.hash());
}

#[test]
fn server_added_properties_do_not_change_the_hash() {
    let base = cal_item(EVENT);
    let mut v: Vec<&str> = EVENT.to_vec();
    v.insert(2, "METHOD:PUBLISH");
    v.insert(2, "X-WR-CALNAME:Work");
    v.insert(2, "CALSCALE:GREGORIAN");
    let at = index_of(&v, "SUMMARY:Planning meeting");
    v.insert(at, "X-RADICALE-NAME:event-1.ics");
    let at = index_of(&v, "SUMMARY:Planning meeting (moved)");
    v.insert(at, "X-RECURRENCE-EXCEPTION:True");
    assert_eq!(cal_item(&v).hash(), base.hash());
    let attendee = index_of(&v, "ATTENDEE");
    v[attendee] =
        "ATTENDEE;CN=Jane Doe;SCHEDULE-STATUS=1.2;ROLE=REQ-PARTICIPANT:mailto:jane@example.com";
    let mut c: Vec<&str> = CARD.to_vec();
    c.insert(3, "X-RADICALE-NAME:card-1.vcf");
    assert_eq!(card_item(&c).hash(), card_item(CARD).hash());
}

#[test]
fn component_order_does_not_change_the_hash() {
    let base = cal_item(EVENT);
    // Move the override before the master, and the VTIMEZONE to the end.
    let tz = &EVENT[3..11];
    let master = &EVENT[11..21];
    let over = &EVENT[21..29];
    let mut v: Vec<&str> = EVENT[..3].to_vec();
    v.extend_from_slice(over);
    v.extend_from_slice(master);
    v.extend_from_slice(tz);
    v.push("END:VCALENDAR");
    assert_eq!(cal_item(&v).hash(), base.hash());
}

// ---- normalization: what must change the hash ---------------------------------------------

#[test]
fn edits_a_person_makes_change_the_hash() {
    let base = cal_item(EVENT);
    for (prefix, new) in [
        ("SUMMARY:Planning", "SUMMARY:Planning meeting!"),
        (
            "DTSTART;TZID=Europe/Berlin:20240105",
            "DTSTART;TZID=Europe/Berlin:20240105T110000",
        ),
        ("DESCRIPTION", "DESCRIPTION:Bring the numbers\\, please."),
        (
            "ATTENDEE",
            "ATTENDEE;CN=Jane Doe;ROLE=OPT-PARTICIPANT:mailto:jane@example.com",
        ),
        (
            "ATTENDEE",
            "ATTENDEE;CN=Jane Doe;ROLE=REQ-PARTICIPANT:mailto:john@example.com",
        ),
        ("RRULE", "RRULE:FREQ=DAILY"),
    ] {
        let changed = with_line(EVENT, index_of(EVENT, prefix), new);
        assert_ne!(cal_item(&strs(&changed)).hash(), base.hash(), "{new}");
    }
    assert_ne!(base.with_uid("event-2@example.com").hash(), base.hash());
    let card = card_item(CARD);
    for (prefix, new) in [
        ("UID", "UID:card-2"),
        ("FN", "FN:Jane Roe"),
        ("EMAIL", "EMAIL;TYPE=INTERNET,HOME:jane@example.com"),
        ("TEL", "TEL;TYPE=CELL:+1-555-0101"),
    ] {
        let changed = with_line(CARD, index_of(CARD, prefix), new);
        assert_ne!(card_item(&strs(&changed)).hash(), card.hash(), "{new}");
    }
}

#[test]
fn value_case_and_whitespace_are_significant() {
    let base = cal_item(EVENT);
    let i = index_of(EVENT, "SUMMARY:Planning");
    for new in ["SUMMARY:planning meeting", "SUMMARY:Planning meeting "] {
        let changed = with_line(EVENT, i, new);
        assert_ne!(cal_item(&strs(&changed)).hash(), base.hash(), "{new:?}");
    }
}

#[test]
fn adding_or_removing_a_property_changes_the_hash() {
    let base = cal_item(EVENT);
    let mut added = EVENT.to_vec();
    added.insert(index_of(EVENT, "SUMMARY:Planning"), "LOCATION:Room 1");
    assert_ne!(cal_item(&added).hash(), base.hash());
    let mut removed = EVENT.to_vec();
    removed.remove(index_of(EVENT, "DESCRIPTION"));
    assert_ne!(cal_item(&removed).hash(), base.hash());
    // An X- property a person or client set is not ignored.
    let mut x = EVENT.to_vec();
    x.insert(index_of(EVENT, "SUMMARY:Planning"), "X-MOZ-GENERATION:3");
    assert_ne!(cal_item(&x).hash(), base.hash());
    // Removing the override changes the item too.
    let mut no_override = EVENT[..21].to_vec();
    no_override.push("END:VCALENDAR");
    assert_ne!(cal_item(&no_override).hash(), base.hash());
}

#[test]
fn moving_a_property_between_components_changes_the_hash() {
    let base = cal_item(EVENT);
    let mut v = EVENT.to_vec();
    let desc = v.remove(index_of(EVENT, "DESCRIPTION"));
    v.insert(index_of(&v, "SUMMARY:Planning meeting (moved)"), desc);
    assert_ne!(cal_item(&v).hash(), base.hash());
}

fn shuffled(lines: &[&str], seed: &[usize]) -> Vec<String> {
    // Reorders the properties inside each component, keeping BEGIN/END in place.
    let mut out: Vec<String> = Vec::new();
    let mut run: Vec<String> = Vec::new();
    let mut k = 0;
    let flush = |run: &mut Vec<String>, out: &mut Vec<String>, k: &mut usize| {
        for i in (1..run.len()).rev() {
            let j = seed[*k % seed.len()] % (i + 1);
            *k += 1;
            run.swap(i, j);
        }
        out.append(run);
    };
    for l in lines {
        if l.starts_with("BEGIN:") || l.starts_with("END:") {
            flush(&mut run, &mut out, &mut k);
            out.push(l.to_string());
        } else {
            run.push(l.to_string());
        }
    }
    flush(&mut run, &mut out, &mut k);
    out
}

proptest! {
    #[test]
    fn refolding_at_any_width_keeps_the_hash(width in 1usize..90, lf in any::<bool>()) {
        let base = cal_item(EVENT);
        let eol = if lf { "\n" } else { "\r\n" };
        let item = Item::parse(ItemKind::Calendar, refold(EVENT, width, eol)).unwrap();
        prop_assert_eq!(item.hash(), base.hash());
        prop_assert_eq!(item.uid(), base.uid());
        prop_assert_eq!(item.last_modified(), base.last_modified());
        let card = Item::parse(ItemKind::Contacts, refold(CARD, width, eol)).unwrap();
        prop_assert_eq!(h(card), h(card_item(CARD)));
    }

    #[test]
    fn reordering_properties_keeps_the_hash(seed in prop::collection::vec(0usize..1000, 1..40)) {
        let v = shuffled(EVENT, &seed);
        prop_assert_eq!(h(cal_item(&strs(&v))), h(cal_item(EVENT)));
        let c = shuffled(CARD, &seed);
        prop_assert_eq!(h(card_item(&strs(&c))), h(card_item(CARD)));
    }

    #[test]
    fn changing_any_counted_value_changes_the_hash(
        pick in 0usize..1000,
        extra in "[a-zA-Z0-9 ]{1,8}",
    ) {
        let candidates: Vec<usize> = EVENT
            .iter()
            .enumerate()
            .filter(|(_, l)| {
                // (UID edits are covered by with_uid: here they would make two items.)
                !["BEGIN:", "END:", "PRODID", "DTSTAMP", "LAST-MODIFIED", "UID"]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .map(|(i, _)| i)
            .collect();
        let i = candidates[pick % candidates.len()];
        let changed = format!("{}{}", EVENT[i], extra);
        let v = with_line(EVENT, i, &changed);
        prop_assert_ne!(h(cal_item(&strs(&v))), h(cal_item(EVENT)));
    }

    #[test]
    fn removing_any_counted_property_changes_the_hash(pick in 0usize..1000) {
        let candidates: Vec<usize> = CARD
            .iter()
            .enumerate()
            .filter(|(_, l)| !["BEGIN:", "END:", "PRODID", "REV"].iter().any(|p| l.starts_with(p)))
            .map(|(i, _)| i)
            .collect();
        let i = candidates[pick % candidates.len()];
        let mut v = CARD.to_vec();
        v.remove(i);
        prop_assert_ne!(h(card_item(&v)), h(card_item(CARD)));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = split(ItemKind::Calendar, &bytes);
        let _ = split(ItemKind::Contacts, &bytes);
        let _ = Item::parse(ItemKind::Calendar, bytes.clone());
        let _ = Item::parse(ItemKind::Contacts, bytes);
    }

    #[test]
    fn mangled_items_never_panic(cut in 0usize..2000, junk in "[A-Z:;=\r\n \"]{0,12}") {
        let raw = crlf(EVENT);
        let cut = cut % raw.len();
        let mut bytes = raw[..cut].to_vec();
        bytes.extend_from_slice(junk.as_bytes());
        bytes.extend_from_slice(&raw[cut..]);
        if let Err(e) = split(ItemKind::Calendar, &bytes) {
            prop_assert!(e.line >= 1);
        }
    }
}

// ---- timestamps -----------------------------------------------------------------------------

#[test]
fn rev_is_read_in_every_rfc6350_form() {
    let t = |s: &str| parse_timestamp(s);
    let at = |y, mo, d, h, mi, s| Some(Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap());
    // Basic and extended, UTC.
    assert_eq!(t("19951031T222710Z"), at(1995, 10, 31, 22, 27, 10));
    assert_eq!(t("1995-10-31T22:27:10Z"), at(1995, 10, 31, 22, 27, 10));
    // Offsets: ±hhmm, ±hh, ±hh:mm.
    assert_eq!(t("19951031T222710-0500"), at(1995, 11, 1, 3, 27, 10));
    assert_eq!(t("19951031T222710+05"), at(1995, 10, 31, 17, 27, 10));
    assert_eq!(t("1995-10-31T22:27:10+05:30"), at(1995, 10, 31, 16, 57, 10));
    // Without seconds or minutes (time-notrunc allows hour, hour+minute).
    assert_eq!(t("19961022T1400Z"), at(1996, 10, 22, 14, 0, 0));
    assert_eq!(t("19961022T14"), at(1996, 10, 22, 14, 0, 0));
    // Fractional seconds (vCard 3.0 writers).
    assert_eq!(t("2024-01-05T10:00:00.123Z"), at(2024, 1, 5, 10, 0, 0));
    // No offset: taken as UTC.
    assert_eq!(t("19951031T222710"), at(1995, 10, 31, 22, 27, 10));
    // Dates: midnight UTC, including reduced accuracy.
    assert_eq!(t("19850412"), at(1985, 4, 12, 0, 0, 0));
    assert_eq!(t("1985-04-12"), at(1985, 4, 12, 0, 0, 0));
    assert_eq!(t("1985-04"), at(1985, 4, 1, 0, 0, 0));
    assert_eq!(t("1985"), at(1985, 1, 1, 0, 0, 0));
    // Forms that name no instant, and nonsense.
    assert_eq!(t("--0412"), None);
    assert_eq!(t("---12"), None);
    assert_eq!(t("20241301T000000Z"), None);
    assert_eq!(t("tomorrow"), None);
    assert_eq!(t(""), None);
}

#[test]
fn rev_forms_compare_as_instants() {
    let rev = |v: &str| {
        let line = format!("REV:{v}");
        card_item(&["BEGIN:VCARD", "VERSION:4.0", "UID:r", &line, "END:VCARD"])
            .last_modified()
            .unwrap()
    };
    assert_eq!(rev("20240105T100000Z"), rev("2024-01-05T11:00:00+01:00"));
    assert!(rev("20240105T100000-0100") > rev("20240105T100000Z"));
    assert_eq!(rev("2024-01-05"), rev("20240105T000000Z"));
}

#[test]
fn last_modified_is_the_latest_over_the_components() {
    let item = cal_item(EVENT);
    assert_eq!(
        item.last_modified(),
        Some(Utc.with_ymd_and_hms(2024, 1, 3, 10, 0, 0).unwrap())
    );
    let none = cal_item(&[
        "BEGIN:VCALENDAR",
        "BEGIN:VTODO",
        "UID:t",
        "END:VTODO",
        "END:VCALENDAR",
    ]);
    assert_eq!(none.last_modified(), None);
}

// ---- with_uid -------------------------------------------------------------------------------

#[test]
fn with_uid_rewrites_every_component_and_nothing_else() {
    let item = cal_item(EVENT);
    let renamed = item.with_uid("new-uid");
    assert_eq!(renamed.uid(), Some("new-uid"));
    let text = String::from_utf8(renamed.raw().to_vec()).unwrap();
    assert_eq!(text.matches("UID:new-uid\r\n").count(), 2);
    assert!(!text.contains("event-1@example.com"));
    let expected = String::from_utf8(crlf(EVENT))
        .unwrap()
        .replace("UID:event-1@example.com", "UID:new-uid");
    assert_eq!(text, expected);
    // And back: the original bytes exactly.
    assert_eq!(renamed.with_uid("event-1@example.com").raw(), item.raw());
    assert_eq!(renamed.with_uid("event-1@example.com").hash(), item.hash());
}

#[test]
fn with_uid_adds_a_uid_where_there_is_none() {
    let raw = "BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nSUMMARY:x\nEND:VEVENT\nEND:VCALENDAR\n";
    let item = Item::parse(ItemKind::Calendar, raw.as_bytes().to_vec()).unwrap();
    let fixed = item.with_uid("fresh");
    assert_eq!(
        fixed.raw(),
        b"BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:fresh\nSUMMARY:x\nEND:VEVENT\nEND:VCALENDAR\n"
    );
    assert_eq!(fixed.ident(), "fresh");
    let card = Item::parse(
        ItemKind::Contacts,
        b"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:x\r\nEND:VCARD".to_vec(),
    )
    .unwrap();
    assert_eq!(
        card.with_uid("c").raw(),
        b"BEGIN:VCARD\r\nVERSION:4.0\r\nUID:c\r\nFN:x\r\nEND:VCARD"
    );
}

#[test]
fn with_uid_keeps_parameters_and_folds_a_long_uid() {
    let card = card_item(&[
        "BEGIN:VCARD",
        "VERSION:4.0",
        "UID;VALUE=text:old",
        "END:VCARD",
    ]);
    let long = "x".repeat(200);
    let renamed = card.with_uid(&long);
    assert_eq!(renamed.uid(), Some(long.as_str()));
    for line in renamed.raw().split(|&b| b == b'\n') {
        assert!(line.len() <= 76, "line longer than 75 octets");
    }
    assert!(renamed
        .raw()
        .starts_with(b"BEGIN:VCARD\r\nVERSION:4.0\r\nUID;VALUE=text:xxx"));
}

proptest! {
    #[test]
    fn with_uid_round_trips(uid in "[ -~]{1,120}") {
        let uid = uid.trim().to_owned();
        prop_assume!(!uid.is_empty());
        let item = cal_item(EVENT);
        let renamed = item.with_uid(&uid);
        prop_assert_eq!(renamed.uid(), Some(uid.as_str()));
        prop_assert_eq!(h(renamed.with_uid("event-1@example.com")), h(item));
        let card = card_item(CARD).with_uid(&uid);
        prop_assert_eq!(card.uid(), Some(uid.as_str()));
    }
}

// ---- split and join -------------------------------------------------------------------------

#[test]
fn split_groups_overrides_and_carries_only_the_timezones_used() {
    let raw = crlf(&[
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Feed//EN",
        "X-WR-CALNAME:Team",
        "BEGIN:VTIMEZONE",
        "TZID:Europe/Berlin",
        "END:VTIMEZONE",
        "BEGIN:VTIMEZONE",
        "TZID:America/New_York",
        "END:VTIMEZONE",
        "BEGIN:VEVENT",
        "UID:a",
        "DTSTART;TZID=Europe/Berlin:20240105T100000",
        "END:VEVENT",
        "BEGIN:VTODO",
        "UID:b",
        "DUE:20240105T100000Z",
        "END:VTODO",
        "BEGIN:VEVENT",
        "UID:a",
        "RECURRENCE-ID;TZID=Europe/Berlin:20240112T100000",
        "DTSTART;TZID=America/New_York:20240112T100000",
        "END:VEVENT",
        "BEGIN:VJOURNAL",
        "SUMMARY:no uid 1",
        "END:VJOURNAL",
        "BEGIN:VJOURNAL",
        "SUMMARY:no uid 2",
        "END:VJOURNAL",
        "END:VCALENDAR",
    ]);
    let items = split(ItemKind::Calendar, &raw).unwrap();
    assert_eq!(items.len(), 4);
    let a = String::from_utf8(items[0].raw().to_vec()).unwrap();
    assert_eq!(
        a,
        String::from_utf8(crlf(&[
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//Feed//EN",
            "X-WR-CALNAME:Team",
            "BEGIN:VTIMEZONE",
            "TZID:Europe/Berlin",
            "END:VTIMEZONE",
            "BEGIN:VTIMEZONE",
            "TZID:America/New_York",
            "END:VTIMEZONE",
            "BEGIN:VEVENT",
            "UID:a",
            "DTSTART;TZID=Europe/Berlin:20240105T100000",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "UID:a",
            "RECURRENCE-ID;TZID=Europe/Berlin:20240112T100000",
            "DTSTART;TZID=America/New_York:20240112T100000",
            "END:VEVENT",
            "END:VCALENDAR",
        ]))
        .unwrap()
    );
    let b = String::from_utf8(items[1].raw().to_vec()).unwrap();
    assert!(!b.contains("VTIMEZONE"));
    assert_eq!(items[1].uid(), Some("b"));
    assert_eq!(items[2].uid(), None);
    assert_eq!(items[3].uid(), None);
    assert_ne!(items[2].ident(), items[3].ident());

    // Joining gives each VTIMEZONE once and the same items back.
    let joined = join(ItemKind::Calendar, &items);
    let text = String::from_utf8(joined.clone()).unwrap();
    assert_eq!(text.matches("TZID:Europe/Berlin").count(), 1);
    assert_eq!(text.matches("BEGIN:VCALENDAR").count(), 1);
    let again = split(ItemKind::Calendar, &joined).unwrap();
    let ids = |v: &[Item]| -> Vec<(String, String)> {
        v.iter()
            .map(|i| (i.ident().to_owned(), i.hash().to_string()))
            .collect()
    };
    assert_eq!(ids(&again), ids(&items));
}

#[test]
fn split_handles_several_calendars_and_bare_components() {
    let raw = b"BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:a\nEND:VEVENT\nEND:VCALENDAR\n\
BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:b\nEND:VEVENT\nBEGIN:VEVENT\nUID:a\n\
RECURRENCE-ID:20240101T000000Z\nEND:VEVENT\nEND:VCALENDAR\nBEGIN:VTODO\nUID:c\nEND:VTODO\n";
    let items = split(ItemKind::Calendar, raw).unwrap();
    let uids: Vec<_> = items.iter().map(|i| i.uid().unwrap()).collect();
    assert_eq!(uids, ["a", "b", "c"]);
    assert_eq!(
        String::from_utf8_lossy(items[0].raw())
            .matches("BEGIN:VEVENT")
            .count(),
        2
    );
    assert!(items[2]
        .raw()
        .starts_with(b"BEGIN:VCALENDAR\nVERSION:2.0\n"));
}

#[test]
fn a_single_item_file_splits_into_its_exact_bytes() {
    let mut raw = b"\xEF\xBB\xBF".to_vec();
    raw.extend_from_slice(&refold(EVENT, 30, "\n"));
    raw.extend_from_slice(b"\n\n");
    let items = split(ItemKind::Calendar, &raw).unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].raw(), &raw[..]);
}

#[test]
fn join_keeps_calendars_whose_properties_differ_apart() {
    let a = cal_item(&[
        "BEGIN:VCALENDAR",
        "PRODID:one",
        "BEGIN:VEVENT",
        "UID:a",
        "END:VEVENT",
        "END:VCALENDAR",
    ]);
    let b = cal_item(&[
        "BEGIN:VCALENDAR",
        "PRODID:two",
        "BEGIN:VEVENT",
        "UID:b",
        "END:VEVENT",
        "END:VCALENDAR",
    ]);
    let c = cal_item(&[
        "BEGIN:VCALENDAR",
        "X-SPECIAL:yes",
        "BEGIN:VEVENT",
        "UID:c",
        "END:VEVENT",
        "END:VCALENDAR",
    ]);
    let joined = join(ItemKind::Calendar, &[a.clone(), b.clone(), c.clone()]);
    let text = String::from_utf8(joined.clone()).unwrap();
    // PRODID alone does not count: a and b share the first VCALENDAR.
    assert_eq!(text.matches("BEGIN:VCALENDAR").count(), 2);
    let again = split(ItemKind::Calendar, &joined).unwrap();
    assert_eq!(again[2].hash(), c.hash());
    assert!(join(ItemKind::Calendar, &[]).starts_with(b"BEGIN:VCALENDAR"));
    assert!(split(ItemKind::Calendar, &join(ItemKind::Calendar, &[]))
        .unwrap()
        .is_empty());
}

#[test]
fn vcard_split_keeps_nested_agent_and_21_continuations() {
    let raw = b"BEGIN:VCARD\r\nVERSION:2.1\r\nN:Doe;John\r\nUID:one\r\n\
NOTE;ENCODING=QUOTED-PRINTABLE:first line=0D=0A=\r\nsecond: line\r\n\
PHOTO;ENCODING=BASE64;TYPE=JPEG:\r\n/9j/4AAQSkZJRgABAQ\r\nAAAQABAAD/2wBDAA\r\n\r\n\
AGENT:\r\nBEGIN:VCARD\r\nVERSION:2.1\r\nN:Agent;Secret\r\nEND:VCARD\r\nEND:VCARD\r\n\
BEGIN:VCARD\r\nVERSION:2.1\r\nN:Roe;Jane\r\nUID:two\r\nEND:VCARD\r\n";
    let items = split(ItemKind::Contacts, raw).unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].uid(), Some("one"));
    assert!(items[0].raw().ends_with(b"END:VCARD\r\nEND:VCARD\r\n"));
    assert_eq!(items[1].uid(), Some("two"));
    assert_eq!(join(ItemKind::Contacts, &items), raw.to_vec());
    // A quoted-printable soft break is folding: moving it keeps the hash.
    let one = std::str::from_utf8(items[0].raw()).unwrap();
    let moved = one.replace("=0D=0A=\r\nsecond", "=0D=\r\n=0Asecond");
    assert_ne!(moved, one);
    let moved = Item::parse(ItemKind::Contacts, moved.into_bytes()).unwrap();
    assert_eq!(moved.hash(), items[0].hash());
    // Base64 continuation lines are part of the value.
    let edited = one.replace("AAAQABAAD", "AAAQABAAE");
    let edited = Item::parse(ItemKind::Contacts, edited.into_bytes()).unwrap();
    assert_ne!(edited.hash(), items[0].hash());
}

#[test]
fn vcard_in_a_calendar_stream_is_refused() {
    let e = split(ItemKind::Calendar, b"BEGIN:VCARD\nFN:x\nEND:VCARD\n").unwrap_err();
    assert_eq!(e.line, 1);
    let e = split(ItemKind::Contacts, b"BEGIN:VCALENDAR\nEND:VCALENDAR\n").unwrap_err();
    assert_eq!(e.line, 1);
}

#[test]
fn split_finds_timezones_whose_tzid_needs_quoting_or_escaping() {
    let raw = crlf(&[
        "BEGIN:VCALENDAR",
        "BEGIN:VTIMEZONE",
        "TZID:Kuala Lumpur\\, Singapore",
        "END:VTIMEZONE",
        "BEGIN:VTIMEZONE",
        "TZID:Unused",
        "END:VTIMEZONE",
        "BEGIN:VEVENT",
        "UID:a",
        "DTSTART;TZID=\"Kuala Lumpur, Singapore\":20081031T094000",
        "END:VEVENT",
        "BEGIN:VEVENT",
        "UID:b",
        "END:VEVENT",
        "END:VCALENDAR",
    ]);
    let items = split(ItemKind::Calendar, &raw).unwrap();
    let a = String::from_utf8(items[0].raw().to_vec()).unwrap();
    assert!(a.contains("TZID:Kuala Lumpur\\, Singapore\r\n"), "{a}");
    assert!(!a.contains("Unused"));
}

#[test]
fn only_list_parameters_ignore_the_order_of_their_values() {
    let card = |email: &str| {
        card_item(&["BEGIN:VCARD", "VERSION:3.0", "UID:x", email, "END:VCARD"])
            .hash()
            .to_owned()
    };
    assert_eq!(
        card("EMAIL;TYPE=WORK,INTERNET:a@b"),
        card("EMAIL;TYPE=INTERNET,WORK:a@b")
    );
    assert_ne!(
        card("N;SORT-AS=\"Doe,John\":Doe;John"),
        card("N;SORT-AS=\"John,Doe\":Doe;John")
    );
    assert_ne!(card("EMAIL;X-LABEL=a,b:a@b"), card("EMAIL;X-LABEL=b,a:a@b"));
}

#[test]
fn quoted_printable_soft_break_before_an_empty_line_ends_the_value() {
    let raw = b"BEGIN:VCARD\r\nVERSION:2.1\r\nNOTE;ENCODING=QUOTED-PRINTABLE:abc=\r\n\r\nTEL:123\r\nUID:q\r\nEND:VCARD\r\n";
    let item = Item::parse(ItemKind::Contacts, raw.to_vec()).unwrap();
    let without_tel = b"BEGIN:VCARD\r\nVERSION:2.1\r\nNOTE;ENCODING=QUOTED-PRINTABLE:abc\r\nUID:q\r\nEND:VCARD\r\n";
    let with_tel = b"BEGIN:VCARD\r\nVERSION:2.1\r\nNOTE;ENCODING=QUOTED-PRINTABLE:abc\r\nTEL:123\r\nUID:q\r\nEND:VCARD\r\n";
    assert_eq!(
        item.hash(),
        Item::parse(ItemKind::Contacts, with_tel.to_vec())
            .unwrap()
            .hash()
    );
    assert_ne!(
        item.hash(),
        Item::parse(ItemKind::Contacts, without_tel.to_vec())
            .unwrap()
            .hash()
    );
}

proptest! {
    #[test]
    fn component_order_never_changes_the_hash(order in Just(vec![0usize, 1, 2]).prop_shuffle()) {
        let parts: [&[&str]; 3] = [&EVENT[3..11], &EVENT[11..21], &EVENT[21..29]];
        let mut v: Vec<&str> = EVENT[..3].to_vec();
        for i in order {
            v.extend_from_slice(parts[i]);
        }
        v.push("END:VCALENDAR");
        prop_assert_eq!(h(cal_item(&v)), h(cal_item(EVENT)));
    }

    #[test]
    fn volatile_values_never_change_the_hash(
        stamp in "[0-9]{8}T[0-9]{6}Z",
        prodid in "[ -~]{0,40}",
    ) {
        let mut v: Vec<String> = EVENT.iter().map(|s| s.to_string()).collect();
        for line in v.iter_mut() {
            if line.starts_with("DTSTAMP:") {
                *line = format!("DTSTAMP:{stamp}");
            } else if line.starts_with("LAST-MODIFIED:") {
                *line = format!("LAST-MODIFIED:{stamp}");
            } else if line.starts_with("PRODID:") {
                *line = format!("PRODID:{prodid}");
            }
        }
        prop_assert_eq!(h(cal_item(&strs(&v))), h(cal_item(EVENT)));
        let c = with_line(CARD, index_of(CARD, "REV"), &format!("REV:{stamp}"));
        prop_assert_eq!(h(card_item(&strs(&c))), h(card_item(CARD)));
    }
}

#[test]
fn uids_of_nested_components_are_not_the_items_uid() {
    let event = cal_item(&[
        "BEGIN:VCALENDAR",
        "BEGIN:VEVENT",
        "UID:event",
        "BEGIN:VALARM",
        "UID:alarm",
        "ACTION:DISPLAY",
        "END:VALARM",
        "END:VEVENT",
        "END:VCALENDAR",
    ]);
    assert_eq!(event.uid(), Some("event"));
    let renamed = event.with_uid("new");
    assert!(String::from_utf8_lossy(renamed.raw()).contains("UID:alarm\r\n"));

    let card = card_item(&[
        "BEGIN:VCARD",
        "VERSION:2.1",
        "AGENT:",
        "BEGIN:VCARD",
        "VERSION:2.1",
        "UID:agent",
        "END:VCARD",
        "FN:Boss",
        "END:VCARD",
    ]);
    assert_eq!(card.uid(), None);
    let renamed = card.with_uid("boss");
    assert_eq!(renamed.uid(), Some("boss"));
    let text = String::from_utf8_lossy(renamed.raw()).into_owned();
    assert!(
        text.starts_with("BEGIN:VCARD\r\nVERSION:2.1\r\nUID:boss\r\nAGENT:"),
        "{text}"
    );
    assert!(text.contains("UID:agent\r\n"));
}

#[test]
fn join_keeps_differing_definitions_of_one_tzid_apart() {
    let with_zone = |uid: &str, offset: &str| {
        let uid = format!("UID:{uid}");
        let offset = format!("TZOFFSETTO:{offset}");
        cal_item(&[
            "BEGIN:VCALENDAR",
            "BEGIN:VTIMEZONE",
            "TZID:Office",
            "BEGIN:STANDARD",
            "DTSTART:19700101T000000",
            &offset,
            "TZOFFSETFROM:+0000",
            "END:STANDARD",
            "END:VTIMEZONE",
            "BEGIN:VEVENT",
            &uid,
            "DTSTART;TZID=Office:20240105T100000",
            "END:VEVENT",
            "END:VCALENDAR",
        ])
    };
    let items = [
        with_zone("a", "+0100"),
        with_zone("b", "+0200"),
        with_zone("c", "+0100"),
    ];
    let joined = join(ItemKind::Calendar, &items);
    let text = String::from_utf8(joined.clone()).unwrap();
    assert_eq!(text.matches("BEGIN:VCALENDAR").count(), 2);
    assert_eq!(text.matches("TZID:Office").count(), 2);
    let again = split(ItemKind::Calendar, &joined).unwrap();
    let hashes = |v: &[Item]| -> Vec<String> {
        let mut h: Vec<String> = v
            .iter()
            .map(|i| format!("{} {}", i.ident(), i.hash()))
            .collect();
        h.sort();
        h
    };
    assert_eq!(hashes(&again), hashes(&items));
}

/// Found by fuzzing (tests/fuzz/regressions/items/join-split-changes-hash): a second
/// definition of a TZID in one VCALENDAR used to count in the hash, while `join` writes each
/// TZID once, so a singlefile rewrite changed the item's hash.
#[test]
fn a_tzid_defined_twice_counts_once_and_keeps_the_hash_through_join_and_split() {
    let zone = |offset: &str| {
        [
            "BEGIN:VTIMEZONE".to_owned(),
            "TZID:Europe/Berlin".to_owned(),
            "BEGIN:STANDARD".to_owned(),
            "DTSTART:19700101T000000".to_owned(),
            format!("TZOFFSETTO:{offset}"),
            "TZOFFSETFROM:+0000".to_owned(),
            "END:STANDARD".to_owned(),
            "END:VTIMEZONE".to_owned(),
        ]
    };
    let cal = |zones: &[[String; 8]]| {
        let mut lines = vec!["BEGIN:VCALENDAR".to_owned(), "VERSION:2.0".to_owned()];
        for z in zones {
            lines.extend(z.iter().cloned());
        }
        lines.extend(
            [
                "BEGIN:VEVENT",
                "UID:twice",
                "DTSTART;TZID=Europe/Berlin:20240105T100000",
                "END:VEVENT",
                "END:VCALENDAR",
            ]
            .map(str::to_owned),
        );
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        cal_item(&refs)
    };
    let both = cal(&[zone("+0100"), zone("+0200")]);
    let first_only = cal(&[zone("+0100")]);
    assert_eq!(both.hash(), first_only.hash());
    assert_ne!(both.hash(), cal(&[zone("+0200")]).hash());
    // The same definition twice counts once too.
    assert_eq!(
        cal(&[zone("+0100"), zone("+0100")]).hash(),
        first_only.hash()
    );

    let joined = join(ItemKind::Calendar, std::slice::from_ref(&both));
    assert_eq!(
        String::from_utf8(joined.clone())
            .unwrap()
            .matches("TZID:Europe/Berlin")
            .count(),
        1
    );
    let again = split(ItemKind::Calendar, &joined).unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].hash(), both.hash());
    // Joined with another item using the second definition, it stays apart from it.
    let second = cal(&[zone("+0200")]).with_uid("other");
    let joined = join(ItemKind::Calendar, &[both.clone(), second.clone()]);
    let mut hashes: Vec<ContentHash> = split(ItemKind::Calendar, &joined)
        .unwrap()
        .iter()
        .map(|i| i.hash().to_owned())
        .collect();
    hashes.sort();
    let mut expected = vec![both.hash().to_owned(), second.hash().to_owned()];
    expected.sort();
    assert_eq!(hashes, expected);
}

/// A generated calendar: components with a UID out of a few (or none), an optional reference
/// to one of two VTIMEZONEs, and a summary.
fn generated_calendar(components: &[(Option<u8>, Option<u8>, String)], eol: &str) -> Vec<u8> {
    let mut lines: Vec<String> = vec!["BEGIN:VCALENDAR".into(), "VERSION:2.0".into()];
    for z in 0..2 {
        lines.extend([
            "BEGIN:VTIMEZONE".into(),
            format!("TZID:Zone {z}"),
            "BEGIN:STANDARD".into(),
            "DTSTART:19700101T000000".into(),
            format!("TZOFFSETTO:+0{z}00"),
            "TZOFFSETFROM:+0000".into(),
            "END:STANDARD".into(),
            "END:VTIMEZONE".into(),
        ]);
    }
    for (i, (uid, tz, summary)) in components.iter().enumerate() {
        lines.push("BEGIN:VEVENT".into());
        if let Some(u) = uid {
            lines.push(format!("UID:uid-{u}"));
            lines.push(format!("RECURRENCE-ID:2024010{}T000000Z", i % 10));
        }
        match tz {
            Some(z) => lines.push(format!("DTSTART;TZID=\"Zone {z}\":20240105T100000")),
            None => lines.push("DTSTART:20240105T100000Z".into()),
        }
        lines.push(format!("SUMMARY:{summary}"));
        lines.push("END:VEVENT".into());
    }
    lines.push("END:VCALENDAR".into());
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(l.as_bytes());
        out.extend_from_slice(eol.as_bytes());
    }
    out
}

proptest! {
    #[test]
    fn split_groups_by_uid_and_join_gives_the_items_back(
        components in prop::collection::vec(
            (prop::option::of(0u8..3), prop::option::of(0u8..2), "[a-z ]{0,12}"),
            1..8,
        ),
        lf in any::<bool>(),
    ) {
        let raw = generated_calendar(&components, if lf { "\n" } else { "\r\n" });
        let items = split(ItemKind::Calendar, &raw).unwrap();
        let uids: std::collections::BTreeSet<u8> =
            components.iter().filter_map(|c| c.0).collect();
        let no_uid = components.iter().filter(|c| c.0.is_none()).count();
        prop_assert_eq!(items.len(), uids.len() + no_uid);
        for item in &items {
            let text = String::from_utf8(item.raw().to_vec()).unwrap();
            // Every component of the UID is in its item, with the zones it refers to, and
            // (unless the item is the whole input, kept byte for byte) no other zone.
            if let Some(uid) = item.uid() {
                let count = components
                    .iter()
                    .filter(|c| c.0.map(|u| format!("uid-{u}")).as_deref() == Some(uid))
                    .count();
                prop_assert_eq!(text.matches("BEGIN:VEVENT").count(), count);
            }
            for z in 0..2 {
                let used = text.contains(&format!("TZID=\"Zone {z}\""));
                let carried = text.contains(&format!("TZID:Zone {z}"));
                prop_assert!(carried || !used);
                prop_assert!(used || !carried || items.len() == 1);
            }
            let again = Item::parse(ItemKind::Calendar, item.raw().to_vec()).unwrap();
            prop_assert_eq!(again.hash(), item.hash());
        }
        if items.len() == 1 {
            prop_assert_eq!(items[0].raw(), &raw[..]);
        }
        let joined = join(ItemKind::Calendar, &items);
        let again = split(ItemKind::Calendar, &joined).unwrap();
        let summary = |v: &[Item]| -> Vec<(String, String)> {
            v.iter().map(|i| (i.ident().to_owned(), i.hash().to_string())).collect()
        };
        prop_assert_eq!(summary(&again), summary(&items));
    }
}
