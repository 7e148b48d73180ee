//! Conflicts through the binary: each strategy, the command strategy, unresolved
//! conflicts, and partial_sync against a read-only side.

use crate::cli_util;

use cli_util::{event, event_modified, two_vdirs, uid_of, Env};

/// Syncs `x` to both sides, then edits it differently on each.
fn conflicted(pair_extra: &str, a_text: &str, b_text: &str) -> Env {
    let env = Env::new();
    env.config(&two_vdirs(pair_extra));
    env.write("a/x.ics", &event("x", "Original"));
    env.mkdir("b");
    env.run(&["sync"]).assert_code(0);
    env.write("a/x.ics", a_text);
    let (b_name, _) = env.items("b", ".ics").into_iter().next().unwrap();
    env.write(&format!("b/{b_name}"), b_text);
    env
}

fn only_b(env: &Env) -> String {
    let b = env.items("b", ".ics");
    assert_eq!(b.len(), 1);
    b.into_values().next().unwrap()
}

#[test]
fn a_wins_takes_a_version() {
    let env = conflicted(
        "conflict_resolution = \"a wins\"",
        &event("x", "On A"),
        &event("x", "On B"),
    );
    let r = env.run(&["sync"]);
    r.assert_code(0);
    assert_eq!(
        r.sorted_lines(),
        [
            "Conflict: item x in p resolved by \"a wins\"",
            "Copying (updating) item x to b"
        ]
    );
    assert_eq!(only_b(&env), event("x", "On A"));
    assert_eq!(env.read("a/x.ics"), event("x", "On A"));
}

#[test]
fn b_wins_takes_b_version() {
    let env = conflicted(
        "conflict_resolution = \"b wins\"",
        &event("x", "On A"),
        &event("x", "On B"),
    );
    let r = env.run(&["sync"]);
    r.assert_code(0);
    assert!(
        r.lines()
            .contains(&"Conflict: item x in p resolved by \"b wins\""),
        "{}",
        r.stdout
    );
    assert_eq!(env.read("a/x.ics"), event("x", "On B"));
}

#[test]
fn newer_wins_by_last_modified_then_falls_through() {
    let env = conflicted(
        "conflict_resolution = [\"newer wins\", \"a wins\"]",
        &event_modified("x", "Older on A", "20260101T000000Z"),
        &event_modified("x", "Newer on B", "20260201T000000Z"),
    );
    let r = env.run(&["sync"]);
    r.assert_code(0);
    assert!(
        r.lines()
            .contains(&"Conflict: item x in p resolved by \"newer wins\""),
        "{}",
        r.stdout
    );
    assert!(env.read("a/x.ics").contains("SUMMARY:Newer on B"));

    // Without LAST-MODIFIED on one side, newer wins passes and the next strategy decides.
    let env = conflicted(
        "conflict_resolution = [\"newer wins\", \"a wins\"]",
        &event("x", "On A"),
        &event_modified("x", "On B", "20260201T000000Z"),
    );
    let r = env.run(&["sync"]);
    r.assert_code(0);
    assert!(
        r.lines()
            .contains(&"Conflict: item x in p resolved by \"a wins\""),
        "{}",
        r.stdout
    );
    assert_eq!(only_b(&env), event("x", "On A"));
}

#[test]
fn keep_both_gives_b_version_a_fresh_uid_on_both_sides() {
    let env = conflicted(
        "conflict_resolution = \"keep both\"",
        &event("x", "On A"),
        &event("x", "On B"),
    );
    let r = env.run(&["sync"]);
    r.assert_code(0);
    assert!(
        r.lines()
            .contains(&"Conflict: item x in p resolved by \"keep both\""),
        "{}",
        r.stdout
    );
    for side in ["a", "b"] {
        let items = env.items(side, ".ics");
        assert_eq!(items.len(), 2, "{side}: {items:?}");
        let by_summary = |s: &str| items.values().find(|t| t.contains(s)).cloned().unwrap();
        assert_eq!(uid_of(&by_summary("SUMMARY:On A")).as_deref(), Some("x"));
        let other = uid_of(&by_summary("SUMMARY:On B")).unwrap();
        assert_ne!(other, "x");
    }
    assert_eq!(env.run(&["sync"]).stdout, "");
}

#[test]
fn command_strategy_writes_the_merged_first_file_to_both_sides() {
    let env = conflicted(
        "conflict_resolution = { command = [\"sh\", \"-c\", \"sed 's/SUMMARY:.*/SUMMARY:Merged/' \\\"$1\\\" > \\\"$0.tmp\\\" && mv \\\"$0.tmp\\\" \\\"$0\\\"\"] }",
        &event("x", "On A"),
        &event("x", "On B"),
    );
    let r = env.run(&["sync"]);
    r.assert_code(0);
    assert!(
        r.lines()
            .contains(&"Conflict: item x in p resolved by \"command\""),
        "{}",
        r.stdout
    );
    assert!(env.read("a/x.ics").contains("SUMMARY:Merged"));
    assert!(only_b(&env).contains("SUMMARY:Merged"));
}

#[test]
fn failing_command_leaves_the_conflict_unresolved() {
    let env = conflicted(
        "conflict_resolution = { command = [\"false\"] }",
        &event("x", "On A"),
        &event("x", "On B"),
    );
    let r = env.run(&["sync"]);
    r.assert_code(1);
    assert!(
        r.stdout.contains("Conflict: item x in p left unresolved: "),
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains("x"), "{}", r.stderr);
    assert_eq!(env.read("a/x.ics"), event("x", "On A"));
    assert_eq!(only_b(&env), event("x", "On B"));
}

#[test]
fn no_strategy_leaves_both_versions_and_exits_1_even_quiet() {
    let env = conflicted("", &event("x", "On A"), &event("x", "On B"));
    let r = env.run(&["sync"]);
    r.assert_code(1);
    assert!(
        r.lines()
            .iter()
            .any(|l| l.starts_with("Conflict: item x in p left unresolved: ")),
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains("x"));
    let q = env.run(&["-q", "sync"]);
    q.assert_code(1);
    assert_eq!(q.stdout, "");
    assert!(
        q.stderr.contains("x"),
        "stderr must name the conflict under -q: {}",
        q.stderr
    );
    assert_eq!(env.read("a/x.ics"), event("x", "On A"));
    assert_eq!(only_b(&env), event("x", "On B"));
}

#[test]
fn conflict_line_names_the_collection() {
    let env = Env::new();
    env.config(&two_vdirs(
        "collections = [\"from a\"]\nconflict_resolution = \"b wins\"",
    ));
    env.write("a/work/x.ics", &event("x", "Original"));
    env.run(&["sync"]).assert_code(0);
    env.write("a/work/x.ics", &event("x", "On A"));
    let (name, _) = env.items("b/work", ".ics").into_iter().next().unwrap();
    env.write(&format!("b/work/{name}"), &event("x", "On B"));
    let r = env.run(&["sync"]);
    r.assert_code(0);
    assert!(
        r.lines()
            .contains(&"Conflict: item x in p/work resolved by \"b wins\""),
        "{}",
        r.stdout
    );
}

#[test]
fn equal_after_normalization_is_no_conflict() {
    let same = event("x", "Same edit");
    let refolded = same.replace("\r\n", "\n");
    let env = conflicted("", &same, &refolded);
    let r = env.run(&["sync"]);
    r.assert_code(0);
    assert!(!r.stdout.contains("Conflict"), "{}", r.stdout);
}

fn read_only_a(partial: &str) -> Env {
    let env = Env::new();
    env.config(&two_vdirs(partial).replace(
        "path = \"a\"\nfileext = \".ics\"",
        "path = \"a\"\nfileext = \".ics\"\nread_only = true",
    ));
    env.write("a/x.ics", &event("x", "Feed"));
    env.write("a/y.ics", &event("y", "Feed too"));
    env.mkdir("b");
    env.run(&["sync"]).assert_code(0);
    // Edit x, delete y, create z on the writable side.
    for (name, text) in env.items("b", ".ics") {
        match uid_of(&text).as_deref() {
            Some("x") => {
                env.write(&format!("b/{name}"), &event("x", "Local edit"));
            }
            Some("y") => std::fs::remove_file(env.path(&format!("b/{name}"))).unwrap(),
            _ => {}
        }
    }
    env.write("b/z.ics", &event("z", "Local only"));
    env
}

#[test]
fn partial_sync_revert_restores_the_read_only_side() {
    let env = read_only_a("partial_sync = \"revert\"");
    let before_a = env.items("a", ".ics");
    let r = env.run(&["sync"]);
    r.assert_code(0);
    assert_eq!(
        r.sorted_lines(),
        [
            "Copying (updating) item x to b",
            "Copying (uploading) item y to b",
            "Deleting item z from b",
        ]
    );
    assert_eq!(env.items("a", ".ics"), before_a);
    let b: Vec<String> = env.items("b", ".ics").into_values().collect();
    assert_eq!(b.len(), 2);
    assert!(b.iter().any(|t| t == &event("x", "Feed")));
}

#[test]
fn partial_sync_ignore_keeps_local_changes_silently() {
    let env = read_only_a("partial_sync = \"ignore\"");
    let before = env.snapshot();
    let r = env.run(&["sync"]);
    r.assert_code(0);
    assert_eq!(r.stdout, "");
    assert_eq!(r.stderr_but_summary(), "");
    let after = env.snapshot();
    let items = |s: &std::collections::BTreeMap<std::path::PathBuf, Option<Vec<u8>>>| {
        s.iter()
            .filter(|(p, _)| p.starts_with("a") || p.starts_with("b"))
            .map(|(p, c)| (p.clone(), c.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(items(&after), items(&before));
}

#[test]
fn partial_sync_error_fails_each_change_alone() {
    let env = read_only_a("partial_sync = \"error\"");
    env.write("a/new.ics", &event("new", "New in feed"));
    let r = env.run(&["sync"]);
    r.assert_code(1);
    for uid in ["x", "y", "z"] {
        assert!(
            r.stderr
                .lines()
                .any(|l| l.contains(&format!("item {uid}")) || l.contains(uid)),
            "{uid} not named: {}",
            r.stderr
        );
    }
    // The feed's new item still synced; the local changes stayed.
    assert_eq!(r.lines(), ["Copying (uploading) item new to b"]);
    assert!(env
        .items("b", ".ics")
        .values()
        .any(|t| t.contains("SUMMARY:Local edit")));
    assert_eq!(env.items("a", ".ics").len(), 3);
}
