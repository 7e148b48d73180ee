//! The merge on real items from the corpus (storages/tests/data/corpus, attribution in its
//! MANIFEST.tsv), edited the way clients edit them.

use super::super::{Item, ItemKind};
use super::{merge, MergePass};

const GOOGLE_ALARMS: &[u8] =
    include_bytes!("../../../tests/data/corpus/ics/icalendar-py__alarm_google_future.ics");
const THUNDERBIRD_OVERRIDES: &[u8] =
    include_bytes!("../../../tests/data/corpus/ics/icsparser__issue-196.ics");
const LOTUS_ATTENDEES: &[u8] =
    include_bytes!("../../../tests/data/corpus/ics/ical4j__calconnect7.ics");
const RFC6350_CARD: &[u8] =
    include_bytes!("../../../tests/data/corpus/vcf/ezvcard__rfc6350-example.vcf");
const IPHONE_CARD: &[u8] =
    include_bytes!("../../../tests/data/corpus/vcf/ezvcard__John_Doe_IPHONE.vcf");

/// `raw` with the one occurrence of `from` replaced by `to`.
fn edit(raw: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8(raw.to_vec()).expect("utf-8 test item");
    assert_eq!(
        text.matches(from).count(),
        1,
        "exactly one {from:?} in the item"
    );
    text.replacen(from, to, 1).into_bytes()
}

fn cal(raw: &[u8]) -> Item {
    Item::parse(ItemKind::Calendar, raw.to_vec()).expect("test item parses")
}

fn card(raw: &[u8]) -> Item {
    Item::parse(ItemKind::Contacts, raw.to_vec()).expect("test item parses")
}

fn text(item: &Item) -> String {
    String::from_utf8(item.raw().to_vec()).expect("utf-8")
}

/// The merge gives the same item (after normalization) whichever side is a.
fn merge_both_ways(base: &[u8], a: &Item, b: &Item) -> Item {
    let ab = merge(base, a, b).expect("merges");
    let ba = merge(base, b, a).expect("merges the other way round too");
    assert_eq!(ab.hash(), ba.hash(), "a/b and b/a merges agree");
    ab
}

#[test]
fn alarm_added_on_one_side_and_summary_edited_on_the_other_are_both_kept() {
    let a = cal(&edit(
        GOOGLE_ALARMS,
        "END:VEVENT\r\n",
        "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT1H\r\nDESCRIPTION:One hour\r\nEND:VALARM\r\nEND:VEVENT\r\n",
    ));
    let b = edit(
        GOOGLE_ALARMS,
        "SUMMARY:event with alarms",
        "SUMMARY:Dinner with Ana",
    );
    let b = cal(&edit(
        &b,
        "LAST-MODIFIED:20241004T175928Z",
        "LAST-MODIFIED:20241005T080000Z",
    ));
    let merged = merge_both_ways(GOOGLE_ALARMS, &a, &b);
    let out = text(&merged);
    assert!(out.contains("\r\nSUMMARY:Dinner with Ana\r\n"), "{out}");
    assert!(out.contains("TRIGGER:-PT1H\r\n"), "{out}");
    assert_eq!(out.matches("BEGIN:VALARM").count(), 5, "{out}");
    assert!(out.contains("LAST-MODIFIED:20241005T080000Z\r\n"), "{out}");
    assert_eq!(merged.uid(), a.uid());
    // Only b's edits differ from a's bytes: everything else is a's, byte for byte.
    let expected = edit(
        a.raw(),
        "SUMMARY:event with alarms",
        "SUMMARY:Dinner with Ana",
    );
    let expected = edit(
        &expected,
        "LAST-MODIFIED:20241004T175928Z",
        "LAST-MODIFIED:20241005T080000Z",
    );
    assert_eq!(merged.raw(), expected.as_slice());
}

#[test]
fn override_changed_on_one_side_and_master_on_the_other_merge_per_component() {
    let a = edit(
        THUNDERBIRD_OVERRIDES,
        "DTSTART;TZID=Europe/Berlin:20191109T170000",
        "DTSTART;TZID=Europe/Berlin:20191109T160000",
    );
    let a = edit(
        &a,
        "LAST-MODIFIED:20181202T202053Z",
        "LAST-MODIFIED:20190101T100000Z",
    );
    let a = cal(&a);
    let b = edit(THUNDERBIRD_OVERRIDES, "SEQUENCE:24\n", "SEQUENCE:25\n");
    let b = edit(
        &b,
        "RRULE:FREQ=DAILY;UNTIL=20191111T180000Z",
        "RRULE:FREQ=DAILY;UNTIL=20191120T180000Z",
    );
    let b = cal(&b);
    let merged = merge_both_ways(THUNDERBIRD_OVERRIDES, &a, &b);
    let out = text(&merged);
    assert!(
        out.contains("DTSTART;TZID=Europe/Berlin:20191109T160000\n"),
        "{out}"
    );
    assert!(
        out.contains("RRULE:FREQ=DAILY;UNTIL=20191120T180000Z\n"),
        "{out}"
    );
    assert!(!out.contains("SEQUENCE:24"), "{out}");
    assert!(out.contains("LAST-MODIFIED:20190101T100000Z\n"), "{out}");
    assert_eq!(out.matches("BEGIN:VEVENT").count(), 3);
}

#[test]
fn override_deleted_on_one_side_and_master_edited_on_the_other_deletes_the_override() {
    let text_in = String::from_utf8(THUNDERBIRD_OVERRIDES.to_vec()).unwrap();
    let start = text_in
        .find("BEGIN:VEVENT\nCREATED:20181202T202053Z")
        .unwrap();
    let end = text_in[start..].find("END:VEVENT\n").unwrap() + start + "END:VEVENT\n".len();
    let a = cal(format!("{}{}", &text_in[..start], &text_in[end..]).as_bytes());
    let b = cal(&edit(
        THUNDERBIRD_OVERRIDES,
        "TRANSP:OPAQUE\nSEQUENCE:24",
        "TRANSP:TRANSPARENT\nSEQUENCE:24",
    ));
    let merged = merge_both_ways(THUNDERBIRD_OVERRIDES, &a, &b);
    let out = text(&merged);
    assert_eq!(out.matches("BEGIN:VEVENT").count(), 2, "{out}");
    assert!(!out.contains("20191110T190000"), "{out}");
    assert!(out.contains("TRANSP:TRANSPARENT"), "{out}");
}

#[test]
fn attendees_added_on_both_sides_are_all_invited() {
    let a = cal(&edit(
        LOTUS_ATTENDEES,
        "CLASS:PUBLIC\n",
        "ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION:mailto:ana@example.org\nCLASS:PUBLIC\n",
    ));
    let b = cal(&edit(
        LOTUS_ATTENDEES,
        "CLASS:PUBLIC\n",
        "ATTENDEE;ROLE=OPT-PARTICIPANT;PARTSTAT=NEEDS-ACTION:mailto:bo@example.org\nCLASS:PUBLIC\n",
    ));
    let merged = merge_both_ways(LOTUS_ATTENDEES, &a, &b);
    let out = text(&merged);
    assert_eq!(out.matches("ATTENDEE").count(), 4, "{out}");
    assert!(out.contains("mailto:ana@example.org\n"), "{out}");
    assert!(out.contains("mailto:bo@example.org\n"), "{out}");
    // The folded attendee lines nobody touched keep their folding.
    assert!(
        out.contains("ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION\n ;CN="),
        "{out}"
    );
}

#[test]
fn one_attendee_answered_differently_on_each_side_passes_naming_the_attendee() {
    let from = "PARTSTAT=NEEDS-ACTION\n ;CN=\"iCal Participant";
    let a = cal(&edit(
        LOTUS_ATTENDEES,
        from,
        "PARTSTAT=ACCEPTED\n ;CN=\"iCal Participant",
    ));
    let b = cal(&edit(
        LOTUS_ATTENDEES,
        from,
        "PARTSTAT=DECLINED\n ;CN=\"iCal Participant",
    ));
    let err = merge(LOTUS_ATTENDEES, &a, &b).unwrap_err();
    assert!(matches!(err, MergePass::Conflicting(_)));
    let msg = err.to_string();
    assert!(msg.starts_with("ATTENDEE mailto:icalparticipant@coffeebean.com of VEVENT 6BA1ECA4D58B306C85256FDB0071B664-Lotus_Notes_Generated"), "{msg}");
    assert!(
        msg.ends_with("was changed differently on each side"),
        "{msg}"
    );
}

#[test]
fn summary_edited_differently_on_both_sides_passes() {
    let a = cal(&edit(
        GOOGLE_ALARMS,
        "SUMMARY:event with alarms",
        "SUMMARY:Lunch",
    ));
    let b = cal(&edit(
        GOOGLE_ALARMS,
        "SUMMARY:event with alarms",
        "SUMMARY:Dinner",
    ));
    let err = merge(GOOGLE_ALARMS, &a, &b).unwrap_err();
    assert_eq!(
        err.to_string(),
        "SUMMARY of VEVENT 79fs7pkqvht9m5igs0vjv1sfra@google.com was changed differently on each side"
    );
}

#[test]
fn a_deletion_against_an_edit_of_the_same_property_passes() {
    let a = cal(&edit(GOOGLE_ALARMS, "TRANSP:OPAQUE\r\n", ""));
    let b = cal(&edit(
        GOOGLE_ALARMS,
        "TRANSP:OPAQUE\r\n",
        "TRANSP:TRANSPARENT\r\n",
    ));
    let err = merge(GOOGLE_ALARMS, &a, &b).unwrap_err();
    assert!(
        err.to_string()
            .contains("removed on one side and changed on the other"),
        "{err}"
    );
}

#[test]
fn vcard_with_an_email_added_on_each_side_keeps_both() {
    let a = card(&edit(
        RFC6350_CARD,
        "EMAIL;TYPE=work:simon.perreault@viagenie.ca\n",
        "EMAIL;TYPE=work:simon.perreault@viagenie.ca\nEMAIL;TYPE=home:simon@nomis80.org\n",
    ));
    let b = card(&edit(
        RFC6350_CARD,
        "EMAIL;TYPE=work:simon.perreault@viagenie.ca\n",
        "EMAIL;TYPE=work:simon.perreault@viagenie.ca\nEMAIL:sp@example.net\n",
    ));
    let merged = merge_both_ways(RFC6350_CARD, &a, &b);
    let out = text(&merged);
    assert_eq!(out.matches("EMAIL").count(), 3, "{out}");
    assert!(
        out.contains("EMAIL;TYPE=home:simon@nomis80.org\nEMAIL:sp@example.net\n")
            || out.contains("EMAIL:sp@example.net\nEMAIL;TYPE=home:simon@nomis80.org\n"),
        "the new addresses sit next to the old one: {out}"
    );
}

#[test]
fn iphone_card_with_emails_added_on_each_side_and_groups_untouched_merges() {
    let a = card(&edit(
        IPHONE_CARD,
        "TEL;type=PAGER:905-111-1234\r\r\n",
        "TEL;type=PAGER:905-111-1234\r\r\nEMAIL;type=INTERNET;type=HOME:john@home.example\r\r\n",
    ));
    let b = card(&edit(
        IPHONE_CARD,
        "TEL;type=PAGER:905-111-1234\r\r\n",
        "TEL;type=PAGER:905-111-1234\r\r\nEMAIL;type=INTERNET;type=WORK:jd@work.example\r\r\n",
    ));
    let merged = merge_both_ways(IPHONE_CARD, &a, &b);
    let out = text(&merged);
    assert!(out.contains("john@home.example"));
    assert!(out.contains("jd@work.example"));
    assert!(out.contains("item1.EMAIL;type=INTERNET;type=pref:john.doe@ibm.com\r\r\n"));
    assert!(
        out.contains("EMAIL;type=INTERNET;type=HOME:john@home.example\r\r\n"),
        "{out}"
    );
    assert!(
        out.contains("EMAIL;type=INTERNET;type=WORK:jd@work.example\r\r\n"),
        "{out}"
    );
}

#[test]
fn vcard_groups_added_differently_on_each_side_pass() {
    let add = |label: &str, value: &str| {
        card(&edit(
            IPHONE_CARD,
            "BDAY;value=date:2012-06-06\r\r\n",
            &format!("item9.URL:{value}\r\r\nitem9.X-ABLabel:{label}\r\r\nBDAY;value=date:2012-06-06\r\r\n"),
        ))
    };
    let err = merge(
        IPHONE_CARD,
        &add("blog", "https://a.example"),
        &add("shop", "https://b.example"),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the lines of group ITEM9 of the VCARD was added differently on each side"
    );
}

#[test]
fn the_same_change_on_both_sides_is_taken_once() {
    let both = edit(GOOGLE_ALARMS, "SUMMARY:event with alarms", "SUMMARY:Same");
    let a = cal(&edit(&both, "STATUS:CONFIRMED", "STATUS:TENTATIVE"));
    let b = cal(&edit(&both, "TRANSP:OPAQUE", "TRANSP:TRANSPARENT"));
    let merged = merge_both_ways(GOOGLE_ALARMS, &a, &b);
    let out = text(&merged);
    assert_eq!(out.matches("SUMMARY:Same").count(), 1);
    assert!(out.contains("STATUS:TENTATIVE") && out.contains("TRANSP:TRANSPARENT"));
}

#[test]
fn a_base_that_does_not_parse_passes() {
    let a = cal(&edit(
        GOOGLE_ALARMS,
        "SUMMARY:event with alarms",
        "SUMMARY:x",
    ));
    let b = cal(&edit(GOOGLE_ALARMS, "STATUS:CONFIRMED", "STATUS:TENTATIVE"));
    let err = merge(b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n", &a, &b).unwrap_err();
    assert!(matches!(err, MergePass::BadBase(_)));
    assert!(
        err.to_string()
            .starts_with("the base version does not parse"),
        "{err}"
    );
}

#[test]
fn duplicate_recurrence_ids_pass_naming_the_line() {
    let text_in = String::from_utf8(THUNDERBIRD_OVERRIDES.to_vec()).unwrap();
    let dup = text_in.replace(
        "RECURRENCE-ID;TZID=Europe/Berlin:20191110T190000",
        "RECURRENCE-ID;TZID=Europe/Berlin:20191109T190000",
    );
    let a = cal(dup.as_bytes());
    let b = cal(&edit(THUNDERBIRD_OVERRIDES, "SEQUENCE:24", "SEQUENCE:30"));
    let err = merge(THUNDERBIRD_OVERRIDES, &a, &b).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot match the components of a's version: two BEGIN:VEVENT with the same UID and RECURRENCE-ID (line 50)"
    );
}

#[test]
fn a_component_without_uid_inside_the_base_passes() {
    let base = edit(
        GOOGLE_ALARMS,
        "UID:79fs7pkqvht9m5igs0vjv1sfra@google.com\r\n",
        "",
    );
    let a = cal(&edit(
        GOOGLE_ALARMS,
        "SUMMARY:event with alarms",
        "SUMMARY:x",
    ));
    let b = cal(&edit(GOOGLE_ALARMS, "STATUS:CONFIRMED", "STATUS:TENTATIVE"));
    let err = merge(&base, &a, &b).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot match the components of the base version: BEGIN:VEVENT on line 26 has no UID"
    );
}

#[test]
fn a_calendar_against_a_card_passes() {
    let err = merge(GOOGLE_ALARMS, &cal(GOOGLE_ALARMS), &card(RFC6350_CARD)).unwrap_err();
    assert!(matches!(err, MergePass::Unmatchable { .. }));
}

#[test]
fn sequence_bumped_on_both_sides_takes_the_higher() {
    let a = edit(GOOGLE_ALARMS, "SEQUENCE:0", "SEQUENCE:1");
    let a = cal(&edit(&a, "STATUS:CONFIRMED", "STATUS:TENTATIVE"));
    let b = edit(GOOGLE_ALARMS, "SEQUENCE:0", "SEQUENCE:2");
    let b = cal(&edit(&b, "TRANSP:OPAQUE", "TRANSP:TRANSPARENT"));
    let out = text(&merge_both_ways(GOOGLE_ALARMS, &a, &b));
    assert!(
        out.contains("SEQUENCE:2\r\n") && !out.contains("SEQUENCE:1"),
        "{out}"
    );
}

#[test]
fn lines_from_b_take_the_line_endings_of_a() {
    let crlf = String::from_utf8(LOTUS_ATTENDEES.to_vec())
        .unwrap()
        .replace('\n', "\r\n");
    let a = cal(&edit(crlf.as_bytes(), "SUMMARY:More", "SUMMARY:Even more"));
    let b = cal(&edit(
        LOTUS_ATTENDEES,
        "CLASS:PUBLIC\n",
        "CLASS:PUBLIC\nCATEGORIES:Work\n",
    ));
    let out = text(&merge(LOTUS_ATTENDEES, &a, &b).unwrap());
    assert!(out.contains("CLASS:PUBLIC\r\nCATEGORIES:Work\r\n"), "{out}");
    assert!(!out.replace("\r\n", "").contains('\n'), "{out}");
}
