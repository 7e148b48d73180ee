//! `davsync resolve`: through a pseudo-terminal as a user drives it, with `--take` for
//! scripts, and exit 2 without a terminal.

use crate::cli_util;

use cli_util::{two_vdirs, Env};

fn event(summary: &str, location: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//davsync tests//EN\r\nBEGIN:VEVENT\r\n\
         UID:one\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260110T100000Z\r\n\
         SUMMARY:{summary}\r\nLOCATION:{location}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

/// A pair without conflict_resolution whose item `one` was edited on both sides after a
/// sync: a's version and b's version (the summary on a, the location on b, unless `same`).
fn conflict(same: bool) -> Env {
    let env = Env::new();
    env.config(&two_vdirs(""));
    env.write("a/one.ics", &event("Lunch", "Cafe"));
    env.mkdir("b");
    env.run(&["sync"]).assert_code(0);
    env.write("a/one.ics", &event("Lunch with Ana", "Cafe"));
    let b_summary = if same { "Lunch with Bo" } else { "Lunch" };
    env.write("b/one.ics", &event(b_summary, "Bistro"));
    let r = env.run(&["sync"]);
    r.assert_code(1);
    assert!(r.stdout.contains("left unresolved"), "{}", r.stdout);
    env
}

#[test]
fn without_a_terminal_and_without_take_it_exits_2_and_changes_nothing() {
    let env = conflict(false);
    let before = env.snapshot();
    let r = env.run(&["resolve"]);
    r.assert_code(2);
    assert!(r.stderr.contains("--take"), "{}", r.stderr);
    assert_eq!(env.snapshot(), before);
}

#[test]
fn take_b_writes_b_to_a_keeps_a_in_the_trash_and_clears_the_conflict() {
    let env = conflict(true);
    let r = env.run(&["resolve", "--take", "b"]);
    r.assert_code(0);
    assert_eq!(r.lines(), ["Copying (updating) item one to a"]);
    assert_eq!(env.read("a/one.ics"), event("Lunch with Bo", "Bistro"));
    let status = env.run(&["status"]);
    assert!(
        status.stdout.contains("no unresolved conflicts"),
        "{}",
        status.stdout
    );
    let trash = env.run(&["trash", "list"]);
    assert!(
        trash
            .stdout
            .trim_end()
            .ends_with("p one overwritten on a: Lunch with Ana"),
        "{}",
        trash.stdout
    );
    let again = env.run(&["sync"]);
    again.assert_code(0);
    assert_eq!(again.stdout, "");
}

#[test]
fn take_both_keeps_both_versions_on_both_sides() {
    let env = conflict(true);
    let r = env.run(&["resolve", "--take", "both"]);
    r.assert_code(0);
    assert_eq!(env.items("a", ".ics").len(), 2);
    assert_eq!(env.items("b", ".ics").len(), 2);
    assert_eq!(env.read("b/one.ics"), event("Lunch with Ana", "Cafe"));
    let again = env.run(&["sync"]);
    again.assert_code(0);
    assert_eq!(again.stdout, "");
}

#[test]
fn a_user_at_the_terminal_sees_the_diff_and_merges() {
    let env = conflict(false);
    let mut cmd = env.command();
    cmd.arg("-c").arg(env.config_path()).arg("resolve");
    let mut p = rexpect::session::spawn_command(cmd, Some(20_000)).expect("spawn in a pty");
    p.exp_string("Conflict: item one in p").unwrap();
    p.exp_string("-    LOCATION:Cafe").unwrap();
    p.exp_string("+    LOCATION:Bistro").unwrap();
    p.exp_string("[a]/[b]/[m]erge/[k]eep both/[e]dit/[s]kip/[q]uit? ")
        .unwrap();
    p.send_line("m").unwrap();
    p.exp_string("Copying (updating) item one to a").unwrap();
    p.exp_string("Copying (updating) item one to b").unwrap();
    p.exp_eof().unwrap();
    let merged = event("Lunch with Ana", "Bistro");
    assert_eq!(env.read("a/one.ics"), merged);
    assert_eq!(env.read("b/one.ics"), merged);
}

#[test]
fn at_the_terminal_skip_leaves_the_conflict_and_quit_stops() {
    let env = conflict(true);
    let before = env.snapshot();
    let mut cmd = env.command();
    cmd.arg("-c").arg(env.config_path()).arg("resolve");
    let mut p = rexpect::session::spawn_command(cmd, Some(20_000)).expect("spawn in a pty");
    // Both changed the summary: no merge to offer.
    p.exp_string("[a]/[b]/[k]eep both/[e]dit/[s]kip/[q]uit? ")
        .unwrap();
    p.send_line("s").unwrap();
    p.exp_eof().unwrap();
    assert_eq!(env.snapshot().len(), before.len());
    assert_eq!(env.read("a/one.ics"), event("Lunch with Ana", "Cafe"));
    let status = env.run(&["status"]);
    assert!(
        status.stdout.contains("1 unresolved conflict: one"),
        "{}",
        status.stdout
    );
}

#[test]
fn edit_opens_the_editor_on_the_merged_draft_and_writes_the_result_to_both_sides() {
    let env = conflict(false);
    let mut cmd = env.command();
    cmd.arg("-c")
        .arg(env.config_path())
        .arg("resolve")
        .env("VISUAL", "sed -i s/Bistro/Office/");
    let mut p = rexpect::session::spawn_command(cmd, Some(20_000)).expect("spawn in a pty");
    p.exp_string("[a]/[b]/[m]erge/[k]eep both/[e]dit/[s]kip/[q]uit? ")
        .unwrap();
    p.send_line("e").unwrap();
    p.exp_string("Copying (updating) item one to a").unwrap();
    p.exp_eof().unwrap();
    let edited = event("Lunch with Ana", "Office");
    assert_eq!(env.read("a/one.ics"), edited);
    assert_eq!(env.read("b/one.ics"), edited);
    let again = env.run(&["sync"]);
    again.assert_code(0);
    assert_eq!(again.stdout, "");
}
