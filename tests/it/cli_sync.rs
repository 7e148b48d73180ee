//! `davsync sync` between two vdirs: the exact change lines, exit codes, dry-run, -q.

use crate::cli_util;

use cli_util::{event, two_vdirs, Env};

fn env_with_two_events() -> Env {
    let env = Env::new();
    env.config(&two_vdirs(""));
    env.write("a/one.ics", &event("one", "First"));
    env.write("a/two.ics", &event("two", "Second"));
    env.mkdir("b");
    env
}

#[test]
fn new_items_are_uploaded_with_one_line_each() {
    let env = env_with_two_events();
    let r = env.run(&["sync"]);
    r.assert_code(0);
    assert_eq!(
        r.sorted_lines(),
        [
            "Copying (uploading) item one to b",
            "Copying (uploading) item two to b",
        ]
    );
    let b = env.items("b", ".ics");
    assert_eq!(b.len(), 2);
    let mut contents: Vec<&String> = b.values().collect();
    contents.sort();
    let mut expected = [event("one", "First"), event("two", "Second")];
    expected.sort();
    assert_eq!(
        contents,
        expected.iter().collect::<Vec<_>>(),
        "items must be copied byte for byte"
    );
}

#[test]
fn second_sync_without_changes_prints_nothing() {
    let env = env_with_two_events();
    env.run(&["sync"]).assert_code(0);
    let r = env.run(&["sync"]);
    r.assert_code(0);
    assert_eq!(r.stdout, "");
}

#[test]
fn edited_item_is_updated_and_deleted_item_is_deleted() {
    let env = env_with_two_events();
    env.run(&["sync"]).assert_code(0);
    env.write("a/one.ics", &event("one", "First, edited"));
    std::fs::remove_file(env.path("a/two.ics")).unwrap();
    let r = env.run(&["sync"]);
    r.assert_code(0);
    assert_eq!(
        r.sorted_lines(),
        [
            "Copying (updating) item one to b",
            "Deleting item two from b"
        ]
    );
    let b = env.items("b", ".ics");
    assert_eq!(b.len(), 1);
    assert!(b.values().next().unwrap().contains("SUMMARY:First, edited"));
}

#[test]
fn changes_on_b_flow_to_a() {
    let env = env_with_two_events();
    env.run(&["sync"]).assert_code(0);
    env.write("b/three.ics", &event("three", "Third"));
    let r = env.run(&["sync"]);
    r.assert_code(0);
    assert_eq!(r.lines(), ["Copying (uploading) item three to a"]);
    assert_eq!(env.items("a", ".ics").len(), 3);
}

#[test]
fn collections_are_created_and_named_in_lines() {
    let env = Env::new();
    env.config(&two_vdirs("collections = [\"from a\", \"from b\"]"));
    env.write("a/work/one.ics", &event("one", "First"));
    env.write("b/home/two.ics", &event("two", "Second"));
    let r = env.run(&["sync"]);
    r.assert_code(0);
    assert_eq!(
        r.sorted_lines(),
        [
            "Copying (uploading) item one to b/work",
            "Copying (uploading) item two to a/home",
            "Creating collection home on a",
            "Creating collection work on b",
        ]
    );
    // The creation is printed before the items that go into it.
    let lines = r.lines();
    let pos = |s: &str| lines.iter().position(|l| *l == s).unwrap();
    assert!(pos("Creating collection work on b") < pos("Copying (uploading) item one to b/work"));
    assert_eq!(env.items("b/work", ".ics").len(), 1);
    assert_eq!(env.items("a/home", ".ics").len(), 1);
}

#[test]
fn sync_runs_discovery_itself_for_named_collections() {
    let env = Env::new();
    env.config(&two_vdirs("collections = [\"work\"]"));
    env.write("a/work/one.ics", &event("one", "First"));
    env.write("a/other/two.ics", &event("two", "Second"));
    env.mkdir("b");
    let r = env.run(&["sync"]);
    r.assert_code(0);
    assert_eq!(
        r.lines(),
        [
            "Creating collection work on b",
            "Copying (uploading) item one to b/work"
        ]
    );
    assert!(!env.path("b/other").exists());
}

#[test]
fn pair_slash_collection_syncs_only_that_collection() {
    let env = Env::new();
    env.config(&two_vdirs("collections = [\"from a\"]"));
    env.write("a/work/one.ics", &event("one", "First"));
    env.write("a/home/two.ics", &event("two", "Second"));
    env.mkdir("b/work");
    env.mkdir("b/home");
    let r = env.run(&["sync", "p/work"]);
    r.assert_code(0);
    assert_eq!(r.lines(), ["Copying (uploading) item one to b/work"]);
    assert!(env.items("b/home", ".ics").is_empty());
}

#[test]
fn dry_run_prints_would_lines_and_changes_nothing() {
    let env = env_with_two_events();
    let before = env.snapshot();
    let r = env.run(&["sync", "--dry-run"]);
    r.assert_code(0);
    assert_eq!(
        r.sorted_lines(),
        [
            "Would: Copying (uploading) item one to b",
            "Would: Copying (uploading) item two to b",
        ]
    );
    cli_util::assert_unchanged(
        &before,
        &env.snapshot(),
        "--dry-run changed files or status",
    );
}

#[test]
fn dry_run_after_a_sync_changes_neither_storage_nor_status() {
    let env = env_with_two_events();
    env.run(&["sync"]).assert_code(0);
    env.write("a/one.ics", &event("one", "Edited"));
    std::fs::remove_file(env.path("b/two.ics")).ok();
    for e in std::fs::read_dir(env.path("b")).unwrap() {
        let e = e.unwrap();
        if std::fs::read_to_string(e.path())
            .unwrap()
            .contains("UID:two")
        {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    let before = env.snapshot();
    let r = env.run(&["sync", "--dry-run"]);
    r.assert_code(0);
    assert_eq!(
        r.sorted_lines(),
        [
            "Would: Copying (updating) item one to b",
            "Would: Deleting item two from a",
        ]
    );
    cli_util::assert_unchanged(&before, &env.snapshot(), "nothing may change");
    // And the real sync then does exactly what was announced.
    let real = env.run(&["sync"]);
    real.assert_code(0);
    assert_eq!(
        real.sorted_lines(),
        [
            "Copying (updating) item one to b",
            "Deleting item two from a"
        ]
    );
}

#[test]
fn dry_run_with_collections_creates_nothing() {
    let env = Env::new();
    env.config(&two_vdirs("collections = [\"from a\"]"));
    env.write("a/work/one.ics", &event("one", "First"));
    env.mkdir("b");
    let before = env.snapshot();
    let r = env.run(&["sync", "--dry-run"]);
    r.assert_code(0);
    assert_eq!(
        r.lines(),
        [
            "Would: Creating collection work on b",
            "Would: Copying (uploading) item one to b/work",
        ]
    );
    cli_util::assert_unchanged(&before, &env.snapshot(), "nothing may change");
}

#[test]
fn quiet_prints_no_change_lines_but_syncs() {
    let env = env_with_two_events();
    let r = env.run(&["-q", "sync"]);
    r.assert_code(0);
    assert_eq!(r.stdout, "");
    assert_eq!(r.stderr, "");
    assert_eq!(env.items("b", ".ics").len(), 2);
}

#[test]
fn output_has_no_progress_bar_when_not_a_terminal() {
    let env = env_with_two_events();
    let r = env.run(&["sync"]);
    r.assert_code(0);
    assert_eq!(
        r.stderr_but_summary(),
        "",
        "stderr holds only the summary when there is nothing to report"
    );
    assert!(!r.stdout.contains('\u{1b}'));
}

#[test]
fn pairs_sync_independently_and_all_by_default() {
    let env = Env::new();
    env.config(
        &(two_vdirs("")
            + "[storage.c]\ntype = \"vdir\"\npath = \"c\"\nfileext = \".ics\"\n\n\
               [storage.d]\ntype = \"vdir\"\npath = \"d\"\nfileext = \".ics\"\n\n\
               [pair.q]\na = \"c\"\nb = \"d\"\n"),
    );
    env.write("a/one.ics", &event("one", "First"));
    env.write("c/two.ics", &event("two", "Second"));
    env.mkdir("b");
    env.mkdir("d");
    let r = env.run(&["sync", "q"]);
    r.assert_code(0);
    assert_eq!(r.lines(), ["Copying (uploading) item two to d"]);
    assert!(env.items("b", ".ics").is_empty());
    let r = env.run(&["sync"]);
    r.assert_code(0);
    assert_eq!(r.lines(), ["Copying (uploading) item one to b"]);
}

#[test]
fn contacts_sync_like_calendars() {
    let env = Env::new();
    env.config(
        "[storage.a]\ntype = \"filesystem\"\npath = \"a\"\nfileext = \".vcf\"\n\n\
         [storage.b]\ntype = \"vdir\"\npath = \"b\"\n\n\
         [pair.p]\na = \"a\"\nb = \"b\"\n",
    );
    env.write("a/sam.vcf", &cli_util::vcard("sam", "Sam Lee"));
    env.mkdir("b");
    let r = env.run(&["sync"]);
    r.assert_code(0);
    assert_eq!(r.lines(), ["Copying (uploading) item sam to b"]);
    // b's fileext was inferred from the pair.
    assert_eq!(env.items("b", ".vcf").len(), 1);
}

#[test]
fn example_config_syncs_the_samples_into_demo() {
    let env = Env::new();
    let root = env!("CARGO_MANIFEST_DIR");
    // Copy the example and the samples so the run writes its demo/ into the temp dir.
    let text = std::fs::read_to_string(format!("{root}/config.example.toml")).unwrap();
    std::fs::write(env.config_path(), text).unwrap();
    for (from, to) in [
        ("docs/examples/calendars", "docs/examples/calendars"),
        ("docs/examples/contacts", "docs/examples/contacts"),
    ] {
        for coll in std::fs::read_dir(format!("{root}/{from}")).unwrap() {
            let coll = coll.unwrap();
            for f in std::fs::read_dir(coll.path()).unwrap() {
                let f = f.unwrap();
                let rel = format!(
                    "{to}/{}/{}",
                    coll.file_name().to_string_lossy(),
                    f.file_name().to_string_lossy()
                );
                env.write(&rel, &std::fs::read_to_string(f.path()).unwrap());
            }
        }
    }
    // The repository ships the (ignored) demo/ folder the example writes into.
    env.write("demo/.gitkeep", "");
    let samples_before = env.snapshot();
    let r = env.run(&["sync"]);
    r.assert_code(0);
    assert!(
        r.stdout
            .contains("Creating collection work on demo_calendars"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(
            "Copying (uploading) item team-standup-2026@example.org to demo_calendars/work"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(
            "Copying (uploading) item contact-sam-lee@example.org to demo_contacts/friends"
        ),
        "{}",
        r.stdout
    );
    assert_eq!(env.items("demo/calendars/work", ".ics").len(), 3);
    assert_eq!(env.items("demo/calendars/personal", ".ics").len(), 2);
    assert_eq!(env.items("demo/contacts/friends", ".vcf").len(), 3);
    assert!(env.path("demo/status").exists());
    // The samples were not touched.
    let after = env.snapshot();
    for (path, content) in &samples_before {
        assert_eq!(after.get(path), Some(content), "{} changed", path.display());
    }
    let again = env.run(&["sync"]);
    again.assert_code(0);
    assert_eq!(again.stdout, "");
}

#[test]
fn singlefile_pairs_with_a_vdir_and_is_created_on_first_write() {
    let env = Env::new();
    env.config(
        "[storage.a]\ntype = \"vdir\"\npath = \"a\"\nfileext = \".ics\"\n\n\
         [storage.f]\ntype = \"singlefile\"\npath = \"out/calendar.ics\"\n\n\
         [pair.p]\na = \"a\"\nb = \"f\"\n",
    );
    env.write("a/one.ics", &event("one", "First"));
    env.write("a/two.ics", &event("two", "Second"));
    env.mkdir("out");
    let r = env.run(&["sync"]);
    r.assert_code(0);
    assert_eq!(
        r.sorted_lines(),
        [
            "Copying (uploading) item one to f",
            "Copying (uploading) item two to f"
        ]
    );
    let text = env.read("out/calendar.ics");
    assert_eq!(text.matches("BEGIN:VEVENT").count(), 2, "{text}");
    assert_eq!(env.run(&["sync"]).stdout, "");
}

#[test]
fn tilde_and_variables_in_paths_are_expanded_and_relative_paths_follow_the_config() {
    let env = Env::new();
    env.write(
        "conf/config.toml",
        "[general]\nstatus_path = \"state\"\n\n\
         [storage.a]\ntype = \"vdir\"\npath = \"$DAVSYNC_TEST_ROOT/a\"\nfileext = \".ics\"\n\n\
         [storage.b]\ntype = \"vdir\"\npath = \"~/b\"\nfileext = \".ics\"\n\n\
         [pair.p]\na = \"a\"\nb = \"b\"\n",
    );
    env.write("a/one.ics", &event("one", "First"));
    env.mkdir("home/b");
    env.mkdir("elsewhere");
    let r: cli_util::Run = env
        .command()
        .current_dir(env.path("elsewhere"))
        .env("DAVSYNC_TEST_ROOT", env.dir.path())
        .args(["-c", "../conf/config.toml", "sync"])
        .output()
        .unwrap()
        .into();
    r.assert_code(0);
    assert_eq!(r.lines(), ["Copying (uploading) item one to b"]);
    assert_eq!(env.items("home/b", ".ics").len(), 1);
    assert!(
        env.path("conf/state").is_dir(),
        "status_path is relative to the config file"
    );
    assert_eq!(std::fs::read_dir(env.path("elsewhere")).unwrap().count(), 0);
}

#[test]
fn verbose_adds_logs_on_stderr_only() {
    let env = env_with_two_events();
    let r = env.run(&["-v", "sync"]);
    r.assert_code(0);
    assert!(r.stderr.contains("INFO"), "{}", r.stderr);
    assert!(
        !r.stderr.contains('\u{1b}'),
        "no colour codes off a terminal"
    );
    assert_eq!(r.lines().len(), 2, "stdout keeps only the change lines");
    assert!(r
        .lines()
        .iter()
        .all(|l| l.starts_with("Copying (uploading) item ")));
}

#[test]
fn every_sync_ends_with_a_summary_line_even_when_nothing_changed() {
    let env = env_with_two_events();
    let r = env.run(&["sync"]);
    r.assert_code(0);
    assert_eq!(
        r.summary().as_deref(),
        Some(
            "Synced 1 pairs, 1 collections: 2 uploaded, 0 updated, 0 deleted, 0 conflicts \
             resolved, 0 unresolved, 0 failed in <t>s"
        )
    );
    assert_eq!(r.stderr_but_summary(), "");
    let r = env.run(&["sync"]);
    r.assert_code(0);
    assert_eq!(
        r.summary().as_deref(),
        Some(
            "Synced 1 pairs, 1 collections: 0 uploaded, 0 updated, 0 deleted, 0 conflicts \
             resolved, 0 unresolved, 0 failed in <t>s"
        )
    );
}

#[test]
fn the_summary_counts_updates_deletions_conflicts_and_failures() {
    let env = Env::new();
    env.config(&two_vdirs("conflict_resolution = \"a wins\""));
    env.write("a/one.ics", &event("one", "First"));
    env.write("a/two.ics", &event("two", "Second"));
    env.write("a/three.ics", &event("three", "Third"));
    env.mkdir("b");
    env.run(&["sync"]).assert_code(0);
    env.write("a/one.ics", &event("one", "First, edited"));
    std::fs::remove_file(env.path("a/two.ics")).unwrap();
    env.write("a/three.ics", &event("three", "Third on a"));
    env.write("b/three.ics", &event("three", "Third on b"));
    env.write(
        "a/broken.ics",
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:broken\r\n",
    );
    let r = env.run(&["sync"]);
    r.assert_code(1);
    assert_eq!(
        r.summary().as_deref(),
        Some(
            "Synced 1 pairs, 1 collections: 0 uploaded, 2 updated, 1 deleted, 1 conflicts \
             resolved, 0 unresolved, 1 failed in <t>s"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn an_unresolved_conflict_counts_as_unresolved_not_as_failed() {
    let env = Env::new();
    env.config(&two_vdirs(""));
    env.write("a/x.ics", &event("x", "on a"));
    env.write("b/x.ics", &event("x", "on b"));
    let r = env.run(&["sync"]);
    r.assert_code(1);
    assert_eq!(
        r.summary().as_deref(),
        Some(
            "Synced 1 pairs, 1 collections: 0 uploaded, 0 updated, 0 deleted, 0 conflicts \
             resolved, 1 unresolved, 0 failed in <t>s"
        )
    );
}

#[test]
fn a_dry_run_summary_says_would_have_synced() {
    let env = env_with_two_events();
    let r = env.run(&["sync", "--dry-run"]);
    r.assert_code(0);
    assert_eq!(
        r.summary().as_deref(),
        Some(
            "Would have synced 1 pairs, 1 collections: 2 uploaded, 0 updated, 0 deleted, 0 \
             conflicts resolved, 0 unresolved, 0 failed in <t>s"
        )
    );
}
