//! `kill -9` of a sync that overwrites and deletes, at seeded random moments: after every
//! kill, each version the sync was replacing is still in place or already in the trash,
//! never neither; after the final run every replaced version is in the trash.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::dav_scenarios::vdir_section;
use common::servers::Coll;
use common::{edit_line, items_by_uid, write_events, Rng, Sandbox};
use davsync::trash::Trash;

const N: usize = 300;

fn setup(sb: &Sandbox) -> BTreeMap<String, String> {
    write_events(&sb.path("a"), "ev", N);
    sb.mkdir("b");
    sb.write_config(&format!(
        "{}{}[pair.p]\na = \"a\"\nb = \"b\"\n",
        vdir_section("a", &sb.path("a"), Coll::Calendar),
        vdir_section("b", &sb.path("b"), Coll::Calendar),
    ));
    sb.run(&["sync"]).assert_ok();
    let old = items_by_uid(&sb.path("b"), ".ics");
    // Edits of two thirds on a, deletions of the rest: every item of b gets replaced.
    for (i, (uid, text)) in old.iter().enumerate() {
        let path = sb.path("a").join(format!("{uid}.ics"));
        if i % 3 == 0 {
            std::fs::remove_file(path).unwrap();
        } else {
            std::fs::write(path, edit_line(text, "SUMMARY", "edited on a")).unwrap();
        }
    }
    old
}

/// Every item text the trash holds, by UID.
fn trashed(sb: &Sandbox) -> BTreeMap<String, BTreeSet<String>> {
    let trash = Trash::new(&sb.status_path(), 30);
    let (entries, broken) = trash.list().unwrap();
    assert!(broken.is_empty(), "a damaged trash entry: {broken:?}");
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in entries {
        let (_, bytes) = trash.get(&e.id).unwrap().unwrap();
        out.entry(e.origin.uid)
            .or_default()
            .insert(String::from_utf8(bytes).unwrap());
    }
    out
}

#[track_caller]
fn assert_nothing_lost(sb: &Sandbox, old: &BTreeMap<String, String>) {
    let now = items_by_uid(&sb.path("b"), ".ics");
    let kept = trashed(sb);
    for (uid, text) in old {
        let in_place = now.get(uid) == Some(text);
        let in_trash = kept.get(uid).is_some_and(|k| k.contains(text));
        assert!(
            in_place || in_trash,
            "the old version of {uid} is neither on b nor in the trash"
        );
    }
}

#[test]
fn kill9_between_trash_and_storage_writes_never_loses_the_old_version() {
    let seed = std::env::var("DAVSYNC_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x7a5u64);
    eprintln!("crash test seed: {seed} (set DAVSYNC_CRASH_SEED to replay)");
    let mut rng = Rng::new(seed);
    let full = {
        let sb = Sandbox::new();
        setup(&sb);
        let t = Instant::now();
        sb.run(&["-q", "sync"]).assert_ok();
        t.elapsed().max(Duration::from_millis(20))
    };
    eprintln!("uninterrupted run: {full:?}");
    let sb = Sandbox::new();
    let old = setup(&sb);
    for _ in 0..4 {
        let after = Duration::from_millis(rng.range(1, full.as_millis() as u64 + 1));
        let mut child = sb
            .command(&["-q", "sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start davsync");
        let deadline = Instant::now() + after;
        while Instant::now() < deadline && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = child.kill();
        let _ = child.wait();
        assert_nothing_lost(&sb, &old);
    }
    sb.run(&["sync"]).assert_ok();
    assert_nothing_lost(&sb, &old);
    let kept = trashed(&sb);
    for (uid, text) in &old {
        assert!(
            kept.get(uid).is_some_and(|k| k.contains(text)),
            "the replaced version of {uid} is not in the trash"
        );
    }
}
