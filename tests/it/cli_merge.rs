//! The `"merge"` strategy end to end between two vdirs: edits of different properties on the
//! two sides both survive; edits of the same property pass to the next strategy.

use crate::cli_util;

use cli_util::{two_vdirs, Env};

fn event(summary: &str, location: &str, lm: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//davsync tests//EN\r\nBEGIN:VEVENT\r\n\
         UID:one\r\nDTSTAMP:20260101T000000Z\r\nLAST-MODIFIED:{lm}\r\nDTSTART:20260110T100000Z\r\n\
         SUMMARY:{summary}\r\nLOCATION:{location}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

fn synced(strategies: &str) -> Env {
    let env = Env::new();
    env.config(&two_vdirs(&format!("conflict_resolution = {strategies}")));
    env.write("a/one.ics", &event("Lunch", "Cafe", "20260101T000000Z"));
    env.mkdir("b");
    env.run(&["sync"]).assert_code(0);
    env
}

#[test]
fn edits_of_different_properties_are_merged_onto_both_sides() {
    let env = synced(r#"["merge", "newer wins"]"#);
    env.write(
        "a/one.ics",
        &event("Lunch with Ana", "Cafe", "20260102T000000Z"),
    );
    env.write("b/one.ics", &event("Lunch", "Bistro", "20260103T000000Z"));
    let r = env.run(&["sync"]);
    r.assert_code(0);
    assert_eq!(
        r.sorted_lines(),
        [
            "Conflict: item one in p resolved by \"merge\"",
            "Copying (updating) item one to a",
            "Copying (updating) item one to b",
        ]
    );
    let expected = event("Lunch with Ana", "Bistro", "20260103T000000Z");
    assert_eq!(env.read("a/one.ics"), expected);
    assert_eq!(env.read("b/one.ics"), expected);
    // Settled: the next sync has nothing to do.
    let again = env.run(&["sync"]);
    again.assert_code(0);
    assert_eq!(again.stdout, "");
}

#[test]
fn the_same_property_edited_on_both_sides_passes_to_the_next_strategy() {
    let env = synced(r#"["merge", "newer wins"]"#);
    env.write(
        "a/one.ics",
        &event("Lunch at noon", "Cafe", "20260102T000000Z"),
    );
    env.write(
        "b/one.ics",
        &event("Lunch at one", "Cafe", "20260103T000000Z"),
    );
    let r = env.run(&["sync"]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("resolved by \"newer wins\""),
        "{}",
        r.stdout
    );
    assert_eq!(
        env.read("a/one.ics"),
        event("Lunch at one", "Cafe", "20260103T000000Z")
    );
}

#[test]
fn merge_alone_leaves_a_real_conflict_unresolved_naming_the_property() {
    let env = synced(r#""merge""#);
    env.write(
        "a/one.ics",
        &event("Lunch at noon", "Cafe", "20260102T000000Z"),
    );
    env.write(
        "b/one.ics",
        &event("Lunch at one", "Cafe", "20260103T000000Z"),
    );
    let r = env.run(&["sync"]);
    r.assert_code(1);
    assert_eq!(
        r.lines(),
        ["Conflict: item one in p left unresolved: every strategy passed (merge: SUMMARY of VEVENT one was changed differently on each side)"]
    );
    assert_eq!(
        env.read("a/one.ics"),
        event("Lunch at noon", "Cafe", "20260102T000000Z")
    );
    assert_eq!(
        env.read("b/one.ics"),
        event("Lunch at one", "Cafe", "20260103T000000Z")
    );
}

#[test]
fn sides_found_equal_without_a_write_are_merged_on_their_next_conflict() {
    let env = Env::new();
    env.config(&two_vdirs(r#"conflict_resolution = ["merge"]"#));
    // Both sides pre-filled with the same event (a first sync of two filled folders, or the
    // first one after import-vdirsyncer): nothing is written, the status learns the base.
    let same = event("Lunch", "Cafe", "20260101T000000Z");
    env.write("a/one.ics", &same);
    env.write("b/one.ics", &same);
    let first = env.run(&["sync"]);
    first.assert_code(0);
    assert_eq!(first.stdout, "");
    env.write(
        "a/one.ics",
        &event("Lunch with Ana", "Cafe", "20260102T000000Z"),
    );
    let alarm = "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Lunch\r\nTRIGGER:-PT15M\r\n\
                 END:VALARM\r\n";
    env.write(
        "b/one.ics",
        &same.replace("END:VEVENT\r\n", &format!("{alarm}END:VEVENT\r\n")),
    );
    let r = env.run(&["sync"]);
    r.assert_code(0);
    assert_eq!(
        r.sorted_lines(),
        [
            "Conflict: item one in p resolved by \"merge\"",
            "Copying (updating) item one to a",
            "Copying (updating) item one to b",
        ]
    );
    let merged = env.read("a/one.ics");
    assert_eq!(env.read("b/one.ics"), merged);
    assert!(merged.contains("SUMMARY:Lunch with Ana\r\n"), "{merged}");
    assert!(merged.contains(alarm), "{merged}");
    assert!(!merged.contains("SUMMARY:Lunch\r\n"), "{merged}");
}

#[test]
fn the_example_config_shows_merge_then_newer_wins_and_it_parses() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml"))
        .unwrap();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("# conflict_resolution = "))
        .expect("the example shows conflict_resolution");
    let value = line.split('#').next().unwrap().trim();
    assert_eq!(value, r#"["merge", "newer wins"]"#);
    let env = Env::new();
    env.config(&two_vdirs(&format!("conflict_resolution = {value}")));
    env.mkdir("a");
    env.mkdir("b");
    env.run(&["check"]).assert_code(0);
}
