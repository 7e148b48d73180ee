//! Data safety through the binary: emptied sides, vanished collections, hostile UIDs,
//! items without UID, duplicates and malformed files.

use crate::cli_util;

use std::collections::BTreeSet;

use cli_util::{event, event_without_uid, two_vdirs, uid_of, Env};

#[test]
fn emptied_side_deletes_nothing_and_names_force_delete() {
    let env = Env::new();
    env.config(&two_vdirs(""));
    env.write("a/one.ics", &event("one", "First"));
    env.write("a/two.ics", &event("two", "Second"));
    env.mkdir("b");
    env.run(&["sync"]).assert_code(0);
    for f in ["a/one.ics", "a/two.ics"] {
        std::fs::remove_file(env.path(f)).unwrap();
    }
    let r = env.run(&["sync"]);
    r.assert_code(1);
    assert!(r.stderr.contains("--force-delete"), "{}", r.stderr);
    assert_eq!(r.stdout, "");
    assert_eq!(env.items("b", ".ics").len(), 2, "nothing may be deleted");

    let q = env.run(&["-q", "sync"]);
    q.assert_code(1);
    assert!(
        q.stderr.contains("--force-delete"),
        "-q must still show failures"
    );

    let f = env.run(&["sync", "--force-delete"]);
    f.assert_code(0);
    assert_eq!(
        f.sorted_lines(),
        ["Deleting item one from b", "Deleting item two from b"]
    );
    assert!(env.items("b", ".ics").is_empty());
}

#[test]
fn vanished_collection_is_reported_not_recreated_until_force_delete() {
    let env = Env::new();
    env.config(&two_vdirs("collections = [\"from a\", \"from b\"]"));
    env.write("a/work/one.ics", &event("one", "First"));
    env.write("a/home/two.ics", &event("two", "Second"));
    env.run(&["sync"]).assert_code(0);
    std::fs::remove_dir_all(env.path("a/work")).unwrap();
    env.write("a/home/three.ics", &event("three", "Third"));

    let r = env.run(&["sync"]);
    r.assert_code(1);
    assert!(r.stderr.contains("work"), "{}", r.stderr);
    assert!(r.stderr.contains("--force-delete"), "{}", r.stderr);
    assert!(
        !env.path("a/work").exists(),
        "the vanished collection must not be re-created"
    );
    assert_eq!(
        env.items("b/work", ".ics").len(),
        1,
        "its items on b are kept"
    );
    // The other collection still synced.
    assert_eq!(r.lines(), ["Copying (uploading) item three to b/home"]);

    let f = env.run(&["sync", "--force-delete"]);
    f.assert_code(0);
    assert!(
        f.lines().contains(&"Deleting item one from b/work"),
        "{}",
        f.stdout
    );
    assert!(
        !env.path("b/work").exists(),
        "the emptied collection is deleted"
    );
    let again = env.run(&["sync"]);
    again.assert_code(0);
    assert_eq!(again.stdout, "");
}

#[test]
fn hostile_uids_stay_inside_the_collection_folder_and_round_trip() {
    let env = Env::new();
    env.config(&two_vdirs("collections = [\"from a\", \"from b\"]"));
    let long = "x".repeat(300);
    let uids = [
        "with/slash",
        "../../escape",
        "..",
        ".hidden",
        "has spaces in it",
        "ünïcødé-日本語",
        long.as_str(),
        "back\\slash",
        "colon:and*star?",
    ];
    for (i, uid) in uids.iter().enumerate() {
        env.write(
            &format!("a/cal/item{i}.ics"),
            &event(uid, &format!("Item {i}")),
        );
    }
    env.mkdir("status");
    env.mkdir("b");
    let outside_before: BTreeSet<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let r = env.run(&["sync"]);
    r.assert_code(0);
    for uid in &uids {
        assert!(
            r.lines()
                .contains(&format!("Copying (uploading) item {uid} to b/cal").as_str()),
            "{uid}: {}",
            r.stdout
        );
    }
    // Everything written to b is a plain file directly in b/cal, never a dot file.
    let entries: Vec<_> = std::fs::read_dir(env.path("b/cal"))
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    for e in &entries {
        let name = e.file_name().to_string_lossy().into_owned();
        assert!(e.file_type().unwrap().is_file(), "{name} is not a file");
        assert!(!name.starts_with('.'), "{name} begins with a dot");
        assert!(name.len() <= 255, "{name} is too long for a file name");
    }
    let on_b: BTreeSet<String> = env
        .items("b/cal", ".ics")
        .values()
        .filter_map(|t| uid_of(t))
        .collect();
    let expected: BTreeSet<String> = uids.iter().map(|u| u.to_string()).collect();
    assert_eq!(on_b, expected);
    let outside_after: BTreeSet<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        outside_before, outside_after,
        "something was written outside the vdirs"
    );
    assert_eq!(
        std::fs::read_dir(env.path("b")).unwrap().count(),
        1,
        "only the collection folder in b"
    );
    // Round trip: edit each on b, sync back to a.
    for (name, text) in env.items("b/cal", ".ics") {
        env.write(
            &format!("b/cal/{name}"),
            &text.replace("SUMMARY:Item", "SUMMARY:Edited"),
        );
    }
    let back = env.run(&["sync"]);
    back.assert_code(0);
    assert_eq!(back.lines().len(), uids.len(), "{}", back.stdout);
    for (_, text) in env.items("a/cal", ".ics") {
        assert!(text.contains("SUMMARY:Edited"), "{text}");
    }
    assert_eq!(env.run(&["sync"]).stdout, "");
}

#[test]
fn item_without_uid_syncs_as_it_is() {
    let env = Env::new();
    env.config(&two_vdirs(""));
    let text = event_without_uid("No UID here");
    env.write("a/nouid.ics", &text);
    env.mkdir("b");
    let r = env.run(&["sync"]);
    r.assert_code(0);
    assert_eq!(r.lines().len(), 1, "{}", r.stdout);
    assert!(r.stdout.starts_with("Copying (uploading) item "));
    assert!(r.stdout.trim_end().ends_with(" to b"));
    let b = env.items("b", ".ics");
    assert_eq!(
        b.values().collect::<Vec<_>>(),
        [&text],
        "copied byte for byte, no UID added"
    );
    assert_eq!(env.run(&["sync"]).stdout, "");
}

#[test]
fn duplicate_uids_are_reported_and_the_rest_syncs() {
    let env = Env::new();
    env.config(&two_vdirs(""));
    env.write("a/dup1.ics", &event("dup", "First copy"));
    env.write("a/dup2.ics", &event("dup", "Second copy"));
    env.write("a/fine.ics", &event("fine", "Fine"));
    env.mkdir("b");
    let r = env.run(&["sync"]);
    r.assert_code(1);
    assert!(r.stderr.contains("dup"), "{}", r.stderr);
    assert!(
        r.lines().contains(&"Copying (uploading) item fine to b"),
        "{}",
        r.stdout
    );
    let b_uids: Vec<String> = env
        .items("b", ".ics")
        .values()
        .filter_map(|t| uid_of(t))
        .collect();
    assert!(b_uids.contains(&"fine".to_owned()));
}

#[test]
fn malformed_file_is_reported_with_its_path_and_the_rest_syncs() {
    let env = Env::new();
    env.config(&two_vdirs(""));
    let broken = env.write(
        "a/broken.ics",
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:broken\r\nSUMMARY:truncated\r\n",
    );
    env.write("a/fine.ics", &event("fine", "Fine"));
    env.mkdir("b");
    let r = env.run(&["sync"]);
    r.assert_code(1);
    assert!(
        r.stderr.contains(&broken.display().to_string()) || r.stderr.contains("broken.ics"),
        "{}",
        r.stderr
    );
    assert_eq!(r.lines(), ["Copying (uploading) item fine to b"]);
    let b = env.items("b", ".ics");
    assert_eq!(b.len(), 1, "the malformed file is never copied");
    // It stays where it was.
    assert!(broken.exists());
}
