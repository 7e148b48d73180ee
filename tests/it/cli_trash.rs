//! `davsync trash list` and `davsync trash restore`: the exact lines, exit codes, and that a
//! restore never overwrites anything without keeping it first.

use crate::cli_util;

use cli_util::{event, two_vdirs, Env};
use davsync::trash::{Origin, Trash, Why};
use davsync_storages::ItemKind;

fn keep(env: &Env, uid: &str, summary: &str, why: Why) -> String {
    let trash = Trash::new(&env.path("status"), 30);
    let origin = Origin {
        pair: "p".into(),
        collection: String::new(),
        storage: "a".into(),
        collection_href: env.path("a").display().to_string(),
        collection_name: String::new(),
        href: format!("{uid}.ics").into(),
        etag: None,
        uid: uid.into(),
        why,
        kind: ItemKind::Calendar,
    };
    trash
        .save(&origin, event(uid, summary).as_bytes())
        .unwrap()
        .unwrap()
}

#[test]
fn list_prints_one_line_per_version_newest_first() {
    let env = Env::new();
    env.config(&two_vdirs(""));
    let first = keep(&env, "one", "Dentist", Why::Deleted);
    std::thread::sleep(std::time::Duration::from_millis(10));
    let second = keep(&env, "two", "Lunch", Why::Overwritten);
    let r = env.run(&["trash", "list"]);
    r.assert_code(0);
    let lines = r.lines();
    assert_eq!(lines.len(), 2, "{}", r.stdout);
    let fields: Vec<&str> = lines[0].splitn(3, ' ').collect();
    assert_eq!(fields[0], second);
    // Local time, ISO 8601, with its offset.
    assert!(
        chrono::DateTime::parse_from_rfc3339(fields[1]).is_ok(),
        "{}",
        lines[0]
    );
    assert_eq!(fields[2], "p two overwritten on a: Lunch");
    assert!(lines[1].starts_with(&format!("{first} ")));
    assert!(lines[1].ends_with(" p one deleted on a: Dentist"));

    env.run(&["trash", "list", "p"]).assert_code(0);
    env.run(&["trash", "list", "nope"]).assert_code(2);
}

#[test]
fn restore_writes_a_deleted_version_back_and_forgets_it() {
    let env = Env::new();
    env.config(&two_vdirs(""));
    env.mkdir("a");
    let id = keep(&env, "one", "Dentist", Why::Deleted);
    let r = env.run(&["trash", "restore", &id]);
    r.assert_code(0);
    assert_eq!(r.lines(), ["Restoring item one to a"]);
    assert_eq!(env.read("a/one.ics"), event("one", "Dentist"));
    assert_eq!(env.run(&["trash", "list"]).stdout, "");
}

#[test]
fn restore_over_a_newer_version_keeps_that_one_in_the_trash() {
    let env = Env::new();
    env.config(&two_vdirs(""));
    env.write("a/one.ics", &event("one", "Dentist at 10"));
    let id = keep(&env, "one", "Dentist", Why::Overwritten);
    env.run(&["trash", "restore", &id]).assert_code(0);
    assert_eq!(env.read("a/one.ics"), event("one", "Dentist"));
    let list = env.run(&["trash", "list"]);
    assert_eq!(list.lines().len(), 1);
    assert!(list
        .stdout
        .trim_end()
        .ends_with(" p one overwritten on a: Dentist at 10"));
}

#[test]
fn an_unknown_id_is_a_usage_error_and_restores_nothing() {
    let env = Env::new();
    env.config(&two_vdirs(""));
    env.mkdir("a");
    let id = keep(&env, "one", "Dentist", Why::Deleted);
    let r = env.run(&["trash", "restore", &id, "0badc0de"]);
    r.assert_code(2);
    assert!(r.stderr.contains("0badc0de"), "{}", r.stderr);
    assert!(!env.path("a/one.ics").exists());
}

/// The ID of every `trash list` line.
fn ids(env: &Env) -> Vec<String> {
    let r = env.run(&["trash", "list"]);
    r.assert_code(0);
    r.lines()
        .iter()
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect()
}

#[test]
fn a_sync_keeps_what_it_overwrites_and_deletes() {
    let env = Env::new();
    env.config(&two_vdirs(""));
    env.write("a/one.ics", &event("one", "Dentist"));
    env.write("a/two.ics", &event("two", "Lunch"));
    env.write("a/three.ics", &event("three", "Gym"));
    env.mkdir("b");
    env.run(&["sync"]).assert_code(0);
    env.write("a/one.ics", &event("one", "Dentist at 10"));
    std::fs::remove_file(env.path("a/two.ics")).unwrap();
    env.run(&["sync"]).assert_code(0);
    let r = env.run(&["trash", "list"]);
    let mut tails: Vec<String> = r
        .lines()
        .iter()
        .map(|l| l.splitn(3, ' ').nth(2).unwrap().to_owned())
        .collect();
    tails.sort();
    assert_eq!(
        tails,
        [
            "p one overwritten on b: Dentist",
            "p two deleted on b: Lunch"
        ]
    );
}

#[test]
fn a_removed_collection_propagated_with_force_delete_comes_back_with_restore() {
    let env = Env::new();
    env.config(&two_vdirs("collections = [\"from a\", \"from b\"]"));
    env.write("a/work/one.ics", &event("one", "Dentist"));
    env.write("a/work/two.ics", &event("two", "Lunch"));
    env.mkdir("b");
    env.run(&["sync"]).assert_code(0);
    assert_eq!(env.items("b/work", ".ics").len(), 2);

    std::fs::remove_dir_all(env.path("a/work")).unwrap();
    env.run(&["sync"]).assert_code(1);
    let r = env.run(&["sync", "--force-delete"]);
    r.assert_code(0);
    assert!(!env.path("b/work").exists());

    let ids = ids(&env);
    assert_eq!(ids.len(), 2);
    let mut args = vec!["trash", "restore"];
    args.extend(ids.iter().map(String::as_str));
    let r = env.run(&args);
    r.assert_code(0);
    assert_eq!(
        r.sorted_lines(),
        [
            "Restoring item one to b/work",
            "Restoring item two to b/work"
        ]
    );
    assert_eq!(env.read("b/work/one.ics"), event("one", "Dentist"));
    assert_eq!(env.read("b/work/two.ics"), event("two", "Lunch"));

    // The next sync carries them back to a as ordinary changes.
    let r = env.run(&["sync"]);
    r.assert_code(0);
    assert_eq!(env.read("a/work/one.ics"), event("one", "Dentist"));
    assert_eq!(env.read("a/work/two.ics"), event("two", "Lunch"));
}

#[test]
fn a_blocked_trash_fails_the_item_naming_the_path_and_overwrites_nothing() {
    let env = Env::new();
    env.config(&two_vdirs(""));
    env.write("a/one.ics", &event("one", "Dentist"));
    env.mkdir("b");
    env.run(&["sync"]).assert_code(0);
    env.write("status/trash", "not a folder");
    env.write("a/one.ics", &event("one", "Dentist at 10"));
    let r = env.run(&["sync"]);
    r.assert_code(1);
    assert!(r.stderr.contains("status/trash"), "{}", r.stderr);
    assert!(r.stderr.contains("not overwritten"), "{}", r.stderr);
    assert_eq!(env.read("b/one.ics"), event("one", "Dentist"));
}

#[test]
fn repair_keeps_the_versions_it_replaces() {
    let env = Env::new();
    env.config(&two_vdirs(""));
    env.write("a/misnamed.ics", &event("one", "Dentist"));
    env.run(&["repair", "a"]).assert_code(0);
    assert!(env.path("a/one.ics").exists());
    let r = env.run(&["trash", "list"]);
    assert!(
        r.stdout
            .trim_end()
            .ends_with(" p one deleted on a: Dentist"),
        "{}",
        r.stdout
    );
    let id = ids(&env).remove(0);
    let (entry, bytes) = Trash::new(&env.path("status"), 30)
        .get(&id)
        .unwrap()
        .unwrap();
    assert_eq!(entry.origin.href.as_str(), "misnamed.ics");
    assert_eq!(bytes, event("one", "Dentist").as_bytes());
}

/// Moves an entry's save time `days` back, as if it had been kept that long.
fn age(env: &Env, id: &str, days: i64) {
    let meta = env.path("status").join("trash").join(id).join("meta.toml");
    let text = std::fs::read_to_string(&meta).unwrap();
    let when = (chrono::Utc::now() - chrono::Duration::days(days))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("when = ") {
                format!("when = \"{when}\"\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&meta, text).unwrap();
}

#[test]
fn a_sync_prunes_the_versions_past_trash_days() {
    let env = Env::new();
    env.config(&two_vdirs(""));
    env.mkdir("a");
    env.mkdir("b");
    let old = keep(&env, "old", "Dentist", Why::Deleted);
    let recent = keep(&env, "recent", "Lunch", Why::Deleted);
    age(&env, &old, 31);
    age(&env, &recent, 29);
    env.run(&["sync"]).assert_code(0);
    assert_eq!(ids(&env), vec![recent.as_str()]);
    assert!(env.path("status").join("trash").join(".pruned").is_file());
}
