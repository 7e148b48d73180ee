//! `davsync repair` on a vdir.

use crate::cli_util;

use std::collections::BTreeSet;

use cli_util::{event, event_without_uid, two_vdirs, uid_of, Env};

#[test]
fn repair_gives_missing_and_duplicate_uids_fresh_ones() {
    let env = Env::new();
    env.config(&two_vdirs(""));
    env.write("a/nouid.ics", &event_without_uid("No UID"));
    env.write("a/dup1.ics", &event("dup", "First"));
    env.write("a/dup2.ics", &event("dup", "Second"));
    env.write("a/fine.ics", &event("fine", "Fine"));
    let r = env.run(&["repair", "a"]);
    r.assert_code(0);
    assert!(r.lines().len() >= 2, "each change is printed: {}", r.stdout);
    let items = env.items("a", ".ics");
    assert_eq!(items.len(), 4, "{items:?}");
    let uids: Vec<String> = items
        .values()
        .map(|t| uid_of(t).expect("every item has a UID"))
        .collect();
    let distinct: BTreeSet<&String> = uids.iter().collect();
    assert_eq!(distinct.len(), 4, "{uids:?}");
    assert!(uids.contains(&"fine".to_owned()));
    assert!(items.values().any(|t| t.contains("SUMMARY:No UID")));
    // Idempotent.
    let again = env.run(&["repair", "a"]);
    again.assert_code(0);
    assert_eq!(again.stdout, "");
}

#[test]
fn repair_dry_run_changes_nothing() {
    let env = Env::new();
    env.config(&two_vdirs(""));
    env.write("a/nouid.ics", &event_without_uid("No UID"));
    let before = env.snapshot();
    let r = env.run(&["repair", "a", "--dry-run"]);
    r.assert_code(0);
    assert!(!r.stdout.is_empty());
    cli_util::assert_unchanged(&before, &env.snapshot(), "nothing may change");
}

#[test]
fn repair_of_one_collection_leaves_the_others() {
    let env = Env::new();
    env.config(&two_vdirs("collections = [\"from a\"]"));
    env.write("a/work/nouid.ics", &event_without_uid("Work"));
    env.write("a/home/nouid.ics", &event_without_uid("Home"));
    let r = env.run(&["repair", "a/work"]);
    r.assert_code(0);
    assert!(uid_of(env.items("a/work", ".ics").values().next().unwrap()).is_some());
    assert_eq!(env.read("a/home/nouid.ics"), event_without_uid("Home"));
}

#[test]
fn repair_refuses_a_read_only_storage_unless_dry_run() {
    let env = Env::new();
    env.config(&two_vdirs("").replacen(
        "fileext = \".ics\"",
        "fileext = \".ics\"\nread_only = true",
        1,
    ));
    env.write("a/nouid.ics", &event_without_uid("No UID"));
    let before = env.snapshot();
    let r = env.run(&["repair", "a"]);
    r.assert_code(2);
    assert!(
        r.stderr.contains("storage \"a\" is read-only"),
        "{}",
        r.stderr
    );
    let d = env.run(&["repair", "a", "--dry-run"]);
    d.assert_code(0);
    assert!(d.stdout.starts_with("Would: "), "{}", d.stdout);
    cli_util::assert_unchanged(
        &before,
        &env.snapshot(),
        "repair touched a read-only storage",
    );
}
