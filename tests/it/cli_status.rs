//! `davsync status`, `davsync discover` and `davsync metasync` output.

use crate::cli_util;

use cli_util::{event, two_vdirs, Env};

#[test]
fn status_of_a_never_synced_pair() {
    let env = Env::new();
    env.config(&two_vdirs(""));
    let r = env.run(&["status"]);
    r.assert_code(0);
    assert_eq!(r.lines(), ["p: never synced"]);
}

/// `p/work: 2 items, last sync YYYY-MM-DD HH:MM:SS UTC, no unresolved conflicts`
fn assert_status_line(line: &str, scope: &str, items: &str, conflicts: &str) {
    let prefix = format!("{scope}: {items}, last sync ");
    assert!(line.starts_with(&prefix), "{line}");
    let rest = &line[prefix.len()..];
    let (when, tail) = rest.split_at(23);
    assert!(
        chrono::NaiveDateTime::parse_from_str(when, "%Y-%m-%d %H:%M:%S UTC").is_ok(),
        "bad time {when:?} in {line}"
    );
    assert_eq!(tail, format!(", {conflicts}"), "{line}");
}

#[test]
fn status_counts_items_per_collection_and_names_unresolved_conflicts() {
    let env = Env::new();
    env.config(&two_vdirs("collections = [\"from a\"]"));
    env.write("a/work/one.ics", &event("one", "First"));
    env.write("a/work/two.ics", &event("two", "Second"));
    env.write("a/home/three.ics", &event("three", "Third"));
    env.run(&["sync"]).assert_code(0);
    let r = env.run(&["status", "p"]);
    r.assert_code(0);
    let lines = r.sorted_lines();
    assert_eq!(lines.len(), 2, "{}", r.stdout);
    assert_status_line(lines[0], "p/home", "1 item", "no unresolved conflicts");
    assert_status_line(lines[1], "p/work", "2 items", "no unresolved conflicts");

    // An unresolved conflict shows up by UID.
    env.write("a/work/one.ics", &event("one", "On A"));
    for (name, text) in env.items("b/work", ".ics") {
        if text.contains("UID:one") {
            env.write(&format!("b/work/{name}"), &event("one", "On B"));
        }
    }
    env.run(&["sync"]).assert_code(1);
    let r = env.run(&["status"]);
    r.assert_code(0);
    let lines = r.sorted_lines();
    assert_status_line(lines[1], "p/work", "2 items", "1 unresolved conflict: one");
}

#[test]
fn status_reads_nothing_but_the_status() {
    let env = Env::new();
    env.config(
        "[storage.local]\ntype = \"vdir\"\npath = \"local\"\nfileext = \".ics\"\n\n\
         [storage.remote]\ntype = \"caldav\"\nurl = \"https://dav.invalid/\"\n\
         password.command = [\"sh\", \"-c\", \"touch ran; echo pw\"]\n\n\
         [pair.p]\na = \"local\"\nb = \"remote\"\n",
    );
    let r = env.run(&["status"]);
    r.assert_code(0);
    assert_eq!(r.lines(), ["p: never synced"]);
    assert!(!env.path("ran").exists());
}

#[test]
fn discover_prints_each_collection_and_where_it_lives() {
    let env = Env::new();
    env.config(&two_vdirs("collections = [\"from a\", \"from b\"]"));
    env.write("a/work/one.ics", &event("one", "First"));
    env.mkdir("b/home");
    env.mkdir("a/both");
    env.mkdir("b/both");
    let r = env.run(&["discover"]);
    r.assert_code(0);
    let a = env.path("a").display().to_string();
    let b = env.path("b").display().to_string();
    let lines = r.lines();
    let line = |coll: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(&format!("p/{coll}: ")))
            .unwrap_or_else(|| panic!("no line for {coll} in\n{}", r.stdout))
            .to_string()
    };
    assert_eq!(line("both"), format!("p/both: a {a}/both <-> b {b}/both"));
    assert_eq!(
        line("work"),
        format!("p/work: a {a}/work <-> b {b}/work (created)")
    );
    assert_eq!(
        line("home"),
        format!("p/home: a {a}/home <-> b {b}/home (created)")
    );
    assert!(env.path("b/work").is_dir());
    assert!(env.path("a/home").is_dir());
    // Nothing was synced: items stay where they were.
    assert!(env.items("b/work", ".ics").is_empty());
    // A second discover creates nothing.
    let again = env.run(&["discover"]);
    again.assert_code(0);
    assert!(!again.stdout.contains("(created)"), "{}", again.stdout);
}

#[test]
fn metasync_copies_displayname_and_color() {
    let env = Env::new();
    env.config(&two_vdirs(
        "collections = [\"from a\"]\nmetadata = [\"displayname\", \"color\"]",
    ));
    env.write("a/work/displayname", "Work");
    env.write("a/work/color", "#1565C0");
    env.write("a/work/one.ics", &event("one", "First"));
    env.run(&["sync"]).assert_code(0);
    let r = env.run(&["metasync"]);
    r.assert_code(0);
    assert_eq!(env.read("b/work/displayname").trim_end(), "Work");
    assert_eq!(env.read("b/work/color").trim_end(), "#1565C0");
}
