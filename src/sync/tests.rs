//! Targeted engine tests over `MemoryStorage`: one behaviour each, asserting the exact lines
//! users see and the writes the storages saw.

use std::path::Path;
use std::sync::Arc;

use davsync_storages::memory::{MemoryStorage, ROOT_HREF};
use davsync_storages::{ErrorKind, ItemKind, MetaKey, Storage};

use super::*;
use crate::status;

pub(crate) use super::event::Recorder as Rec;

fn ev(uid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
         DTSTAMP:20240101T000000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

/// The same event with noise a person would not call an edit (another PRODID and DTSTAMP).
fn ev_noisy(uid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nPRODID:-//other server//EN\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\n\
         DTSTAMP:20250505T101010Z\r\nUID:{uid}\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\n\
         END:VCALENDAR\r\n"
    )
}

fn ev_no_uid(summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\n\
         END:VCALENDAR\r\n"
    )
}

pub(crate) struct Fixture {
    pub a: Arc<MemoryStorage>,
    pub b: Arc<MemoryStorage>,
    pub dir: tempfile::TempDir,
    pub pair: PairSpec,
}

impl Fixture {
    pub fn new(strategies: Vec<Strategy>) -> Fixture {
        let a = Arc::new(MemoryStorage::new(ItemKind::Calendar));
        let b = Arc::new(MemoryStorage::new(ItemKind::Calendar));
        let pair = PairSpec {
            name: "p".into(),
            a: StorageHandle {
                name: "sa".into(),
                storage: a.clone(),
            },
            b: StorageHandle {
                name: "sb".into(),
                storage: b.clone(),
            },
            collections: None,
            conflict_resolution: strategies,
            partial_sync: PartialSync::Revert,
            metadata: vec![],
        };
        Fixture {
            a,
            b,
            dir: tempfile::tempdir().unwrap(),
            pair,
        }
    }

    pub async fn sync_with(&self, opts: &SyncOptions) -> (PairReport, Rec) {
        let rec = Rec::default();
        let report = sync_pair(&self.pair, self.dir.path(), opts, &rec).await;
        (report, rec)
    }

    pub async fn sync(&self) -> (PairReport, Rec) {
        self.sync_with(&SyncOptions::default()).await
    }

    fn writes(&self) -> usize {
        self.a.write_count() + self.b.write_count()
    }

    /// Syncs and asserts that nothing was written and nothing failed.
    async fn assert_quiet_sync(&self) {
        let before = self.writes();
        let (report, rec) = self.sync().await;
        assert_eq!(report.failures, 0, "{:?}", rec.failures());
        assert_eq!(rec.changes(), Vec::<String>::new());
        assert_eq!(self.writes(), before, "a quiet sync wrote");
    }

    fn status_rows(&self) -> usize {
        status::Status::open(self.dir.path(), "p")
            .unwrap()
            .item_count("")
            .unwrap()
    }
}

fn contents(s: &MemoryStorage) -> Vec<String> {
    let mut v: Vec<String> = s
        .items(ROOT_HREF)
        .into_iter()
        .map(|(_, _, raw)| String::from_utf8(raw).unwrap())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn new_item_on_a_is_uploaded_to_b_byte_for_byte_and_second_sync_writes_nothing() {
    let f = Fixture::new(vec![]);
    f.a.insert_raw(ROOT_HREF, "x.ics", ev_noisy("u1", "Lunch"));
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(rec.changes(), vec!["Copying (uploading) item u1 to sb"]);
    assert_eq!(contents(&f.b), vec![ev_noisy("u1", "Lunch")]);
    assert_eq!(f.status_rows(), 1);
    f.assert_quiet_sync().await;
}

#[tokio::test]
async fn update_and_deletion_propagate_in_both_directions() {
    let f = Fixture::new(vec![]);
    f.a.insert_raw(ROOT_HREF, "1.ics", ev("u1", "one"));
    f.b.insert_raw(ROOT_HREF, "2.ics", ev("u2", "two"));
    f.sync().await;
    f.b.insert_raw(ROOT_HREF, "u1.item", ev("u1", "one edited"));
    f.a.remove_raw(ROOT_HREF, "u2.item");
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(
        rec.changes(),
        vec![
            "Copying (updating) item u1 to sa",
            "Deleting item u2 from sb",
        ]
    );
    assert_eq!(contents(&f.a), vec![ev("u1", "one edited")]);
    assert_eq!(contents(&f.b), vec![ev("u1", "one edited")]);
    assert_eq!(f.status_rows(), 1);
    f.assert_quiet_sync().await;
}

#[tokio::test]
async fn href_moved_with_unchanged_content_causes_no_writes() {
    let f = Fixture::new(vec![]);
    f.a.insert_raw(ROOT_HREF, "old.ics", ev("u1", "one"));
    f.a.insert_raw(ROOT_HREF, "other.ics", ev("u2", "two"));
    f.sync().await;
    assert!(f.a.move_raw(ROOT_HREF, "old.ics", "new.ics"));
    f.assert_quiet_sync().await;
    // The status followed the move: a later deletion at the new href propagates.
    f.a.remove_raw(ROOT_HREF, "new.ics");
    let (_, rec) = f.sync().await;
    assert_eq!(rec.changes(), vec!["Deleting item u1 from sb"]);
}

#[tokio::test]
async fn etags_changed_while_contents_did_not_cause_no_writes_and_are_read_once() {
    let f = Fixture::new(vec![]);
    for i in 0..5 {
        f.a.insert_raw(ROOT_HREF, &format!("{i}.ics"), ev(&format!("u{i}"), "x"));
    }
    f.sync().await;
    f.a.touch_all(ROOT_HREF);
    f.b.touch_all(ROOT_HREF);
    f.assert_quiet_sync().await;
    let reads = f.a.read_count() + f.b.read_count();
    f.assert_quiet_sync().await;
    assert_eq!(
        f.a.read_count() + f.b.read_count(),
        reads,
        "unchanged items were read"
    );
}

#[tokio::test]
async fn noise_only_difference_on_both_sides_is_no_conflict() {
    let f = Fixture::new(vec![]);
    f.a.insert_raw(ROOT_HREF, "a.ics", ev("u1", "same"));
    f.b.insert_raw(ROOT_HREF, "b.ics", ev_noisy("u1", "same"));
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(rec.changes(), Vec::<String>::new());
    assert_eq!(f.writes(), 0);
    assert_eq!(f.status_rows(), 1);
}

async fn conflicting(strategies: Vec<Strategy>) -> (Fixture, PairReport, Rec) {
    let f = Fixture::new(strategies);
    f.a.insert_raw(ROOT_HREF, "u1.item", ev("u1", "base"));
    f.sync().await;
    f.a.insert_raw(ROOT_HREF, "u1.item", ev("u1", "edited on a"));
    f.b.insert_raw(ROOT_HREF, "u1.item", ev("u1", "edited on b"));
    let (report, rec) = f.sync().await;
    (f, report, rec)
}

#[tokio::test]
async fn a_wins_takes_a_version() {
    let (f, report, rec) = conflicting(vec![Strategy::AWins]).await;
    assert_eq!(report.failures, 0);
    assert_eq!(
        rec.changes(),
        vec![
            "Conflict: item u1 in p resolved by \"a wins\"",
            "Copying (updating) item u1 to sb",
        ]
    );
    assert_eq!(contents(&f.b), vec![ev("u1", "edited on a")]);
    f.assert_quiet_sync().await;
}

#[tokio::test]
async fn b_wins_takes_b_version() {
    let (f, report, rec) = conflicting(vec![Strategy::BWins]).await;
    assert_eq!(report.failures, 0);
    assert_eq!(
        rec.changes(),
        vec![
            "Conflict: item u1 in p resolved by \"b wins\"",
            "Copying (updating) item u1 to sa",
        ]
    );
    assert_eq!(contents(&f.a), vec![ev("u1", "edited on b")]);
    f.assert_quiet_sync().await;
}

#[tokio::test]
async fn unresolved_conflict_leaves_both_untouched_fails_and_is_in_status() {
    let (f, report, rec) = conflicting(vec![]).await;
    assert_eq!(report.failures, 1);
    let line = "Conflict: item u1 in p left unresolved: the versions differ and no \
                conflict_resolution is configured";
    assert_eq!(rec.changes(), vec![line]);
    assert_eq!(rec.failures(), vec![line]);
    assert_eq!(contents(&f.a), vec![ev("u1", "edited on a")]);
    assert_eq!(contents(&f.b), vec![ev("u1", "edited on b")]);
    let summary = status::summary(f.dir.path(), "p").unwrap();
    assert_eq!(summary[0].unresolved, vec!["u1".to_owned()]);
}

#[tokio::test]
async fn newer_wins_passes_without_timestamps_and_the_next_strategy_resolves() {
    let (f, report, rec) = conflicting(vec![Strategy::NewerWins, Strategy::BWins]).await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert!(rec
        .changes()
        .contains(&"Conflict: item u1 in p resolved by \"b wins\"".to_owned()));
    assert_eq!(contents(&f.a), contents(&f.b));
}

#[tokio::test]
async fn newer_wins_alone_without_timestamps_is_unresolved() {
    let (_f, report, rec) = conflicting(vec![Strategy::NewerWins]).await;
    assert_eq!(report.failures, 1);
    assert!(
        rec.failures()[0].contains("left unresolved: every strategy passed (newer wins:"),
        "{:?}",
        rec.failures()
    );
}

#[tokio::test]
async fn keep_both_gives_b_version_a_fresh_uid_on_both_sides() {
    let (f, report, rec) = conflicting(vec![Strategy::KeepBoth]).await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    let fresh = conflict::fresh_uid(
        "u1",
        davsync_storages::Item::parse(ItemKind::Calendar, ev("u1", "edited on b"))
            .unwrap()
            .hash(),
    );
    let mut expected = vec![
        "Conflict: item u1 in p resolved by \"keep both\"".to_owned(),
        "Copying (updating) item u1 to sb".to_owned(),
        format!("Copying (uploading) item {fresh} to sa"),
        format!("Copying (uploading) item {fresh} to sb"),
    ];
    expected.sort();
    assert_eq!(rec.changes(), expected);
    assert_eq!(contents(&f.a), contents(&f.b));
    let all = contents(&f.a).join("");
    assert!(all.contains("SUMMARY:edited on a") && all.contains("SUMMARY:edited on b"));
    assert!(all.contains(&format!("UID:{fresh}")));
    assert_eq!(f.status_rows(), 2);
    f.assert_quiet_sync().await;
}

#[tokio::test]
async fn command_strategy_writes_the_first_file_to_both_sides() {
    let script = "cat \"$2\" | sed 's/SUMMARY:edited on b/SUMMARY:merged/' > \"$1\"";
    let (f, report, rec) = conflicting(vec![Strategy::Command(vec![
        "sh".into(),
        "-c".into(),
        script.into(),
        "merge".into(),
    ])])
    .await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(
        rec.changes(),
        vec![
            "Conflict: item u1 in p resolved by \"command\"",
            "Copying (updating) item u1 to sa",
            "Copying (updating) item u1 to sb",
        ]
    );
    assert_eq!(contents(&f.a), vec![ev("u1", "merged")]);
    assert_eq!(contents(&f.b), vec![ev("u1", "merged")]);
    f.assert_quiet_sync().await;
}

#[tokio::test]
async fn failing_command_leaves_the_conflict_unresolved() {
    let (f, report, rec) = conflicting(vec![Strategy::Command(vec!["false".into()])]).await;
    assert_eq!(report.failures, 1);
    assert!(
        rec.failures()[0].contains("left unresolved"),
        "{:?}",
        rec.failures()
    );
    assert_eq!(contents(&f.a), vec![ev("u1", "edited on a")]);
    assert_eq!(contents(&f.b), vec![ev("u1", "edited on b")]);
}

#[tokio::test]
async fn emptied_side_is_refused_until_force_delete() {
    let f = Fixture::new(vec![]);
    f.a.insert_raw(ROOT_HREF, "1.ics", ev("u1", "one"));
    f.a.insert_raw(ROOT_HREF, "2.ics", ev("u2", "two"));
    f.sync().await;
    f.a.remove_raw(ROOT_HREF, "1.ics");
    f.a.remove_raw(ROOT_HREF, "2.ics");
    let before = f.writes();
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 1);
    assert!(
        rec.failures()[0].contains("--force-delete"),
        "{:?}",
        rec.failures()
    );
    assert_eq!(f.writes(), before);
    assert_eq!(contents(&f.b).len(), 2);

    let (report, rec) = f
        .sync_with(&SyncOptions {
            force_delete: true,
            ..Default::default()
        })
        .await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(
        rec.changes(),
        vec!["Deleting item u1 from sb", "Deleting item u2 from sb"]
    );
    assert!(contents(&f.b).is_empty());
    assert_eq!(f.status_rows(), 0);
}

#[tokio::test]
async fn precondition_failure_during_update_is_handled_as_a_conflict() {
    let f = Fixture::new(vec![Strategy::BWins]);
    f.a.insert_raw(ROOT_HREF, "u1.item", ev("u1", "base"));
    f.sync().await;
    f.a.insert_raw(ROOT_HREF, "u1.item", ev("u1", "edited on a"));
    // Someone edits b's copy between our listing and our write.
    f.b.edit_before_next_write("u1.item", ev("u1", "concurrent edit on b"));
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(
        rec.changes(),
        vec![
            "Conflict: item u1 in p resolved by \"b wins\"",
            "Copying (updating) item u1 to sa",
        ]
    );
    assert_eq!(contents(&f.a), vec![ev("u1", "concurrent edit on b")]);
    assert_eq!(contents(&f.b), vec![ev("u1", "concurrent edit on b")]);
    f.assert_quiet_sync().await;
}

#[tokio::test]
async fn precondition_failure_without_strategy_never_overwrites_the_edit() {
    let f = Fixture::new(vec![]);
    f.a.insert_raw(ROOT_HREF, "u1.item", ev("u1", "base"));
    f.sync().await;
    f.a.insert_raw(ROOT_HREF, "u1.item", ev("u1", "edited on a"));
    f.b.edit_before_next_write("u1.item", ev("u1", "concurrent edit on b"));
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 1);
    assert!(rec.failures()[0].starts_with("Conflict: item u1 in p left unresolved"));
    assert_eq!(contents(&f.b), vec![ev("u1", "concurrent edit on b")]);
    assert_eq!(contents(&f.a), vec![ev("u1", "edited on a")]);
}

#[tokio::test]
async fn deletion_meeting_a_concurrent_edit_keeps_the_edit() {
    let f = Fixture::new(vec![]);
    f.a.insert_raw(ROOT_HREF, "u1.item", ev("u1", "base"));
    f.a.insert_raw(ROOT_HREF, "u2.item", ev("u2", "other"));
    f.sync().await;
    f.a.remove_raw(ROOT_HREF, "u1.item");
    f.b.edit_before_next_write("u1.item", ev("u1", "edited on b meanwhile"));
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(rec.changes(), vec!["Copying (uploading) item u1 to sa"]);
    assert!(contents(&f.a).contains(&ev("u1", "edited on b meanwhile")));
    assert_eq!(contents(&f.a), contents(&f.b));
    f.assert_quiet_sync().await;
}

#[tokio::test]
async fn duplicate_uids_are_reported_and_skipped_while_the_rest_syncs() {
    let f = Fixture::new(vec![]);
    f.a.insert_raw(ROOT_HREF, "one.ics", ev("dup", "first"));
    f.a.insert_raw(ROOT_HREF, "two.ics", ev("dup", "second"));
    f.a.insert_raw(ROOT_HREF, "ok.ics", ev("fine", "x"));
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 1);
    assert_eq!(
        rec.failures(),
        vec![
            "sa: duplicate UID dup in one.ics, two.ics (not synced; run `davsync repair` to \
             give each a fresh UID)"
        ]
    );
    assert_eq!(rec.changes(), vec!["Copying (uploading) item fine to sb"]);
}

#[tokio::test]
async fn malformed_item_is_reported_never_copied_and_never_deletes_the_other_copy() {
    let f = Fixture::new(vec![]);
    f.a.insert_raw(ROOT_HREF, "u1.item", ev("u1", "fine"));
    f.sync().await;
    // The synced item gets truncated on a; a new broken file appears too.
    f.a.insert_raw(ROOT_HREF, "u1.item", "garbage");
    f.a.insert_raw(ROOT_HREF, "broken.ics", "not a calendar");
    f.a.insert_raw(ROOT_HREF, "u2.ics", ev("u2", "new"));
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 2, "{:?}", rec.failures());
    let failures = rec.failures().join("\n");
    assert!(
        failures.contains("sa: malformed item broken.ics"),
        "{failures}"
    );
    assert!(
        failures.contains("sa: malformed item u1.item"),
        "{failures}"
    );
    assert_eq!(rec.changes(), vec!["Copying (uploading) item u2 to sb"]);
    assert!(contents(&f.b).contains(&ev("u1", "fine")));
    assert_eq!(contents(&f.b).len(), 2);
}

#[tokio::test]
async fn items_without_uid_sync_by_hash_and_a_refusal_names_repair() {
    let f = Fixture::new(vec![]);
    f.a.insert_raw(ROOT_HREF, "n.ics", ev_no_uid("anonymous"));
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(contents(&f.b), vec![ev_no_uid("anonymous")]);
    f.assert_quiet_sync().await;

    let g = Fixture::new(vec![]);
    g.a.insert_raw(ROOT_HREF, "n.ics", ev_no_uid("refused"));
    g.a.insert_raw(ROOT_HREF, "ok.ics", ev("ok", "fine"));
    let hash = davsync_storages::Item::parse(ItemKind::Calendar, ev_no_uid("refused"))
        .unwrap()
        .hash()
        .to_string();
    g.b.fail_href(g.b.preferred_href(&hash).unwrap().as_str());
    let (report, rec) = g.sync().await;
    assert_eq!(report.failures, 1);
    assert!(
        rec.failures()[0].contains("davsync repair"),
        "{:?}",
        rec.failures()
    );
    assert_eq!(rec.changes(), vec!["Copying (uploading) item ok to sb"]);
}

async fn partial(policy: PartialSync) -> (Fixture, PairReport, Rec) {
    let mut f = Fixture::new(vec![]);
    f.pair.partial_sync = policy;
    f.a.insert_raw(ROOT_HREF, "keep.ics", ev("keep", "v1"));
    f.a.insert_raw(ROOT_HREF, "edit.ics", ev("edit", "v1"));
    f.a.insert_raw(ROOT_HREF, "del.ics", ev("del", "v1"));
    f.sync().await;
    f.a.set_read_only(true);
    let a_writes = f.a.write_count();
    f.b.insert_raw(ROOT_HREF, "edit.item", ev("edit", "changed on b"));
    f.b.remove_raw(ROOT_HREF, "del.item");
    f.b.insert_raw(ROOT_HREF, "new.ics", ev("new", "created on b"));
    let (report, rec) = f.sync().await;
    assert_eq!(
        f.a.write_count(),
        a_writes,
        "the read-only side was written"
    );
    (f, report, rec)
}

#[tokio::test]
async fn partial_sync_revert_makes_the_writable_side_equal_again() {
    let (f, report, rec) = partial(PartialSync::Revert).await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(
        rec.changes(),
        vec![
            "Copying (updating) item edit to sb",
            "Copying (uploading) item del to sb",
            "Deleting item new from sb",
        ]
    );
    assert_eq!(contents(&f.a), contents(&f.b));
    f.assert_quiet_sync().await;
}

#[tokio::test]
async fn partial_sync_ignore_keeps_the_writable_side_changes_silently() {
    let (f, report, rec) = partial(PartialSync::Ignore).await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(rec.changes(), Vec::<String>::new());
    assert!(contents(&f.b).contains(&ev("edit", "changed on b")));
    assert!(contents(&f.b).contains(&ev("new", "created on b")));
    f.assert_quiet_sync().await;
}

#[tokio::test]
async fn partial_sync_error_fails_each_change_alone() {
    let (f, report, rec) = partial(PartialSync::Error).await;
    assert_eq!(report.failures, 3, "{:?}", rec.failures());
    assert!(rec
        .failures()
        .iter()
        .all(|m| m.contains("partial_sync = \"error\"")));
    assert_eq!(rec.changes(), Vec::<String>::new());
    assert!(contents(&f.b).contains(&ev("edit", "changed on b")));
}

#[tokio::test]
async fn dry_run_reports_the_same_lines_and_writes_nothing_anywhere() {
    let f = Fixture::new(vec![Strategy::AWins]);
    f.a.insert_raw(ROOT_HREF, "u1.item", ev("u1", "one"));
    f.a.insert_raw(ROOT_HREF, "u2.item", ev("u2", "two"));
    f.sync().await;
    f.a.insert_raw(ROOT_HREF, "u1.item", ev("u1", "one edited"));
    f.a.remove_raw(ROOT_HREF, "u2.item");
    f.a.insert_raw(ROOT_HREF, "u3.item", ev("u3", "three"));
    let db = status::path_for(f.dir.path(), "p");
    let db_before = std::fs::read(&db).unwrap();
    let listing = |dir: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let files_before = listing(f.dir.path());
    let writes = f.writes();
    let dry = SyncOptions {
        dry_run: true,
        ..Default::default()
    };
    let (report, rec) = f.sync_with(&dry).await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    let expected = vec![
        "Copying (updating) item u1 to sb",
        "Copying (uploading) item u3 to sb",
        "Deleting item u2 from sb",
    ];
    assert_eq!(rec.changes(), expected);
    assert_eq!(f.writes(), writes);
    assert_eq!(std::fs::read(&db).unwrap(), db_before);
    assert_eq!(listing(f.dir.path()), files_before);
    // The real sync does exactly what the dry run announced.
    let (_, rec) = f.sync().await;
    assert_eq!(rec.changes(), expected);
}

#[tokio::test]
async fn dry_run_of_a_never_synced_pair_creates_no_status() {
    let f = Fixture::new(vec![]);
    f.a.insert_raw(ROOT_HREF, "u1.item", ev("u1", "one"));
    let (_, rec) = f
        .sync_with(&SyncOptions {
            dry_run: true,
            ..Default::default()
        })
        .await;
    assert_eq!(rec.changes(), vec!["Copying (uploading) item u1 to sb"]);
    assert!(!status::path_for(f.dir.path(), "p").exists());
    assert_eq!(f.writes(), 0);
}

#[tokio::test]
async fn lost_status_writes_after_storage_writes_converge_without_duplicates() {
    let f = Fixture::new(vec![]);
    for i in 0..6 {
        f.a.insert_raw(ROOT_HREF, &format!("{i}.ics"), ev(&format!("u{i}"), "x"));
    }
    // Simulate a crash between each storage write and its status commit: the status
    // records 2 items, then every later commit is lost.
    {
        let rec = Rec::default();
        // The hook lives on the Status value, so run the engine on it directly.
        let st = status::Status::open(f.dir.path(), "p").unwrap();
        st.fail_writes_after(3); // the collection row and 2 items
        run_root_job(&f, &st, &rec).await;
        assert_eq!(contents(&f.b).len(), 6, "storage writes happened");
    }
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(
        rec.changes(),
        Vec::<String>::new(),
        "no duplicate, no re-copy"
    );
    assert_eq!(contents(&f.b).len(), 6);
    assert_eq!(f.status_rows(), 6);
    f.assert_quiet_sync().await;
}

/// Runs the root collection of the fixture's pair against a given status.
async fn run_root_job(f: &Fixture, st: &status::Status, rec: &Rec) -> usize {
    let a: Arc<dyn Storage> = f.a.clone();
    let b: Arc<dyn Storage> = f.b.clone();
    st.set_collection("", ROOT_HREF, ROOT_HREF).ok();
    let root = a.root_collection().await.unwrap();
    let side = |collection: davsync_storages::Collection, storage: Arc<dyn Storage>, name: &str| {
        job::SideCtx {
            storage,
            collection,
            place: Place {
                storage: name.into(),
                collection: None,
            },
            phantom: false,
        }
    };
    let job = job::CollectionJob::new(
        String::new(),
        Scope::pair("p"),
        BySide::new(side(root.clone(), a, "sa"), side(root, b, "sb")),
        st,
        plan::PlanContext::default(),
        &f.pair.conflict_resolution,
        false,
        rec,
    );
    job.run().await
}

#[tokio::test]
async fn sync_dropped_right_after_a_storage_write_converges_without_duplicates() {
    let f = Fixture::new(vec![Strategy::KeepBoth]);
    f.a.insert_raw(ROOT_HREF, "u1.item", ev("u1", "base"));
    f.sync().await;
    f.a.insert_raw(ROOT_HREF, "u1.item", ev("u1", "edited on a"));
    f.b.insert_raw(ROOT_HREF, "u1.item", ev("u1", "edited on b"));
    for i in 0..4 {
        f.a.insert_raw(ROOT_HREF, &format!("n{i}.ics"), ev(&format!("n{i}"), "x"));
    }
    // The process "dies" right after b's second write: the future is dropped before the
    // status records it.
    f.b.hang_after_writes(1);
    let rec = Rec::default();
    let opts = SyncOptions::default();
    let interrupted = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        sync_pair(&f.pair, f.dir.path(), &opts, &rec),
    )
    .await;
    assert!(interrupted.is_err(), "the sync should have hung");
    f.b.clear_failures();
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    let (report, _) = f.sync().await;
    assert_eq!(report.failures, 0);
    f.assert_quiet_sync().await;
    // u1 twice (a's and b's version under a fresh UID) plus the four new ones, no more.
    assert_eq!(contents(&f.a).len(), 6, "{:#?}", contents(&f.a));
    assert_eq!(contents(&f.a), contents(&f.b));
}

#[tokio::test]
async fn status_rows_wait_until_the_writes_they_describe_are_durable() {
    let f = Fixture::new(vec![]);
    for i in 0..6 {
        f.a.insert_raw(ROOT_HREF, &format!("{i}.ics"), ev(&format!("u{i}"), "x"));
    }
    f.b.set_volatile();
    f.b.fail_next_flushes(1);
    let (report, rec) = f.sync().await;
    assert_eq!(
        rec.failures(),
        vec!["sb: making the writes durable failed: injected flush failure: I/O error"]
    );
    assert_eq!(report.failures, 1);
    assert_eq!(
        f.status_rows(),
        0,
        "rows recorded for writes that were not durable"
    );
    // The power goes: b loses the six files, and the status knows nothing of them.
    assert_eq!(f.b.power_loss(), 1);
    f.b.clear_failures();
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(rec.changes().len(), 6, "copied again, nothing deleted on a");
    assert_eq!(contents(&f.a).len(), 6);
    assert_eq!(contents(&f.a), contents(&f.b));
    f.assert_quiet_sync().await;
}

#[tokio::test]
async fn a_finished_sync_leaves_nothing_a_power_loss_can_take_back() {
    let f = Fixture::new(vec![]);
    for i in 0..6 {
        f.a.insert_raw(ROOT_HREF, &format!("{i}.ics"), ev(&format!("u{i}"), "x"));
    }
    f.a.set_volatile();
    f.b.set_volatile();
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(f.b.power_loss(), 0, "uploads were not flushed");
    // Deletions and updates too.
    f.a.remove_raw(ROOT_HREF, "0.ics");
    f.a.insert_raw(ROOT_HREF, "1.ics", ev("u1", "edited"));
    f.b.insert_raw(ROOT_HREF, "u2.item", ev("u2", "edited on b"));
    f.a.set_volatile();
    f.b.set_volatile();
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(rec.changes().len(), 3, "{:?}", rec.changes());
    assert_eq!(f.a.power_loss(), 0, "a's update was not flushed");
    assert_eq!(
        f.b.power_loss(),
        0,
        "b's update and deletion were not flushed"
    );
    f.a.clear_failures();
    f.b.clear_failures();
    f.assert_quiet_sync().await;
}

#[tokio::test]
async fn failing_writes_fail_their_items_alone_and_the_next_sync_converges() {
    let f = Fixture::new(vec![]);
    for i in 0..5 {
        f.a.insert_raw(ROOT_HREF, &format!("{i}.ics"), ev(&format!("u{i}"), "x"));
    }
    f.b.fail_next_writes(2, ErrorKind::Transport);
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 2, "{:?}", rec.failures());
    assert_eq!(rec.changes().len(), 3);
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 0);
    assert_eq!(rec.changes().len(), 2);
    assert_eq!(contents(&f.a), contents(&f.b));
}

#[tokio::test]
async fn failures_are_typed_events_naming_action_item_href_and_error_kind() {
    let f = Fixture::new(vec![]);
    f.a.insert_raw(ROOT_HREF, "broken.ics", "not a calendar");
    f.a.insert_raw(ROOT_HREF, "1.ics", ev("u1", "x"));
    f.b.fail_next_writes(1, ErrorKind::Transport);
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 2, "{:?}", rec.failures());
    let mut failed = rec.failed();
    failed.sort_by_key(|f| f.message.clone());
    let shape: Vec<_> = failed
        .iter()
        .map(|f| {
            (
                f.action,
                f.uid.clone(),
                f.href.as_ref().map(|h| h.to_string()),
                f.kind,
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            (
                Action::Upload,
                Some("u1".to_owned()),
                None,
                Some(ErrorKind::Transport)
            ),
            (
                Action::Read,
                None,
                Some("broken.ics".to_owned()),
                Some(ErrorKind::InvalidData)
            ),
        ]
    );
    assert!(failed.iter().all(|f| f.at == Scope::pair("p")));
}

#[tokio::test]
async fn each_collection_reports_itself_synced_once_and_the_report_counts_events() {
    let f = Fixture::new(vec![]);
    f.a.insert_raw(ROOT_HREF, "1.ics", ev("u1", "x"));
    f.b.insert_raw(ROOT_HREF, "2.ics", ev("u2", "y"));
    let (report, rec) = f.sync().await;
    assert_eq!(report.counts, rec.counts());
    assert_eq!((report.counts.collections, report.counts.uploaded), (1, 2));
    let uploads: Vec<Event> = rec
        .events()
        .into_iter()
        .filter(|e| matches!(e, Event::Uploaded { .. }))
        .collect();
    assert!(uploads.contains(&Event::Uploaded {
        at: Scope::pair("p"),
        uid: "u1".into(),
        to: Place {
            storage: "sb".into(),
            collection: None
        },
    }));
}

#[tokio::test]
async fn a_failing_listing_fails_the_collection_and_nothing_is_written() {
    let f = Fixture::new(vec![]);
    f.a.insert_raw(ROOT_HREF, "1.ics", ev("u1", "x"));
    f.b.fail_next_lists(1);
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 1);
    assert!(
        rec.failures()[0].starts_with("sb: listing failed"),
        "{:?}",
        rec.failures()
    );
    assert_eq!(f.writes(), 0);
}

fn with_collections(f: &mut Fixture, specs: Vec<CollectionSpec>) {
    f.pair.collections = Some(specs);
}

#[tokio::test]
async fn collections_from_a_are_created_on_b_and_synced() {
    let mut f = Fixture::new(vec![]);
    with_collections(&mut f, vec![CollectionSpec::FromA, CollectionSpec::FromB]);
    f.a.insert_raw("mem:/work/", "1.ics", ev("w1", "x"));
    f.b.insert_raw("mem:/home/", "2.ics", ev("h1", "y"));
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(
        rec.changes(),
        vec![
            "Copying (uploading) item h1 to sa/home",
            "Copying (uploading) item w1 to sb/work",
            "Creating collection home on sa",
            "Creating collection work on sb",
        ]
    );
    f.assert_quiet_sync().await;
    let names: Vec<String> = status::summary(f.dir.path(), "p")
        .unwrap()
        .into_iter()
        .map(|s| s.collection)
        .collect();
    assert_eq!(names, vec!["home", "work"]);
}

#[tokio::test]
async fn vanished_collection_is_reported_kept_and_force_delete_removes_it() {
    let mut f = Fixture::new(vec![]);
    with_collections(&mut f, vec![CollectionSpec::FromA, CollectionSpec::FromB]);
    f.a.insert_raw("mem:/work/", "1.ics", ev("w1", "x"));
    f.a.insert_raw("mem:/keep/", "k.ics", ev("k1", "x"));
    f.sync().await;
    f.a.remove_collection_raw("mem:/work/");
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 1);
    assert!(
        rec.failures()[0].contains("vanished from sa"),
        "{:?}",
        rec.failures()
    );
    assert!(rec.failures()[0].contains("--force-delete"));
    assert_eq!(rec.changes(), Vec::<String>::new());
    assert!(!f.a.collection_hrefs().contains(&"mem:/work/".to_owned()));
    assert_eq!(f.b.items("mem:/work/").len(), 1);

    let (report, rec) = f
        .sync_with(&SyncOptions {
            force_delete: true,
            ..Default::default()
        })
        .await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(
        rec.changes(),
        vec![
            "Deleting collection work from sb",
            "Deleting item w1 from sb/work"
        ]
    );
    assert!(!f.b.collection_hrefs().contains(&"mem:/work/".to_owned()));
    f.assert_quiet_sync().await;
}

#[tokio::test]
async fn only_collections_restricts_the_sync() {
    let mut f = Fixture::new(vec![]);
    with_collections(&mut f, vec![CollectionSpec::FromA]);
    f.a.insert_raw("mem:/one/", "1.ics", ev("o1", "x"));
    f.a.insert_raw("mem:/two/", "2.ics", ev("t1", "x"));
    let (_, rec) = f
        .sync_with(&SyncOptions {
            only_collections: Some(vec!["two".into()]),
            ..Default::default()
        })
        .await;
    assert!(rec
        .changes()
        .contains(&"Copying (uploading) item t1 to sb/two".to_owned()));
    assert!(!rec.changes().iter().any(|l| l.contains("o1")));
    let (report, rec) = f
        .sync_with(&SyncOptions {
            only_collections: Some(vec!["nope".into()]),
            ..Default::default()
        })
        .await;
    assert_eq!(report.failures, 1);
    assert!(rec.failures()[0].starts_with("pair p: no collection nope"));
}

#[tokio::test]
async fn discover_lists_pairs_and_creates_missing_collections() {
    let mut f = Fixture::new(vec![]);
    with_collections(
        &mut f,
        vec![CollectionSpec::Mapped {
            name: "cal".into(),
            a: "private".into(),
            b: "personal".into(),
        }],
    );
    f.a.insert_raw("mem:/private/", "1.ics", ev("p1", "x"));
    let rec = Rec::default();
    let found = discover_pair(&f.pair, f.dir.path(), true, &rec)
        .await
        .unwrap();
    assert_eq!(
        found,
        vec![DiscoveredCollection {
            name: "cal".into(),
            a: Some("mem:/private/".into()),
            b: Some("mem:/personal/".into()),
            created: Some(Side::B),
        }]
    );
    // The caller prints `(created)` on the collection's line instead of a change line.
    assert_eq!(rec.changes(), Vec::<String>::new());
    assert_eq!(f.b.collection_hrefs(), vec![ROOT_HREF, "mem:/personal/"]);
    assert!(!status::path_for(f.dir.path(), "p").exists());
}

#[tokio::test]
async fn metasync_copies_changed_values_and_respects_the_status() {
    let mut f = Fixture::new(vec![]);
    f.pair.metadata = vec![MetaKey::DisplayName, MetaKey::Color];
    f.a.set_meta_raw(ROOT_HREF, MetaKey::DisplayName, Some("Work"));
    f.b.set_meta_raw(ROOT_HREF, MetaKey::Color, Some("#ff0000"));
    let rec = Rec::default();
    let report = metasync_pair(&f.pair, f.dir.path(), None, false, &rec).await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(
        rec.changes(),
        vec![
            "Copying metadata color to sa",
            "Copying metadata displayname to sb"
        ]
    );
    // b changes the color; a unchanged since: b's value goes to a.
    f.b.set_meta_raw(ROOT_HREF, MetaKey::Color, Some("#00ff00"));
    let rec = Rec::default();
    metasync_pair(&f.pair, f.dir.path(), None, false, &rec).await;
    assert_eq!(rec.changes(), vec!["Copying metadata color to sa"]);
    assert_eq!(
        f.a.get_meta(&f.a.root_collection().await.unwrap(), MetaKey::Color)
            .await
            .unwrap()
            .as_deref(),
        Some("#00ff00")
    );
    // Both change: without a/b wins it is a reported conflict.
    f.a.set_meta_raw(ROOT_HREF, MetaKey::DisplayName, Some("A"));
    f.b.set_meta_raw(ROOT_HREF, MetaKey::DisplayName, Some("B"));
    let rec = Rec::default();
    let report = metasync_pair(&f.pair, f.dir.path(), None, false, &rec).await;
    assert_eq!(report.failures, 1);
    assert!(rec.failures()[0].starts_with("Conflict: metadata displayname of p"));
}

#[tokio::test]
async fn status_path_is_one_sqlite_file_per_pair() {
    let f = Fixture::new(vec![]);
    f.a.insert_raw(ROOT_HREF, "1.ics", ev("u1", "x"));
    f.sync().await;
    let p: &Path = f.dir.path();
    assert!(p.join("p.sqlite").exists());
    assert_eq!(
        status::path_for(p, "we/ird").file_name().unwrap(),
        "we%2Fird.sqlite"
    );
    let s = status::summary(p, "p").unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].items, 1);
    assert!(s[0].last_sync.is_some());
    assert!(status::summary(p, "never").unwrap().is_empty());
    // Reading the status leaves no side files behind.
    let names: Vec<String> = std::fs::read_dir(p)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["p.sqlite"]);
}

#[tokio::test]
async fn noop_sync_of_20000_items_reads_and_writes_nothing() {
    let f = Fixture::new(vec![]);
    for i in 0..20_000 {
        let uid = format!("item-{i}");
        f.a.insert_raw(ROOT_HREF, &format!("{uid}.ics"), ev(&uid, "x"));
    }
    let (report, _) = f.sync().await;
    assert_eq!(report.failures, 0);
    let reads = f.a.read_count() + f.b.read_count();
    // The first quiet sync compares everything (and arms the fast path), the second finds
    // both listings unchanged. Timings are printed, not asserted: they belong to
    // docs/performance.md, not to a test.
    for what in ["full comparison", "unchanged listings"] {
        let started = std::time::Instant::now();
        let cpu = thread_cpu_ns();
        f.assert_quiet_sync().await;
        eprintln!(
            "no-op sync of 20000 items ({what}): {:?} wall, {:?} ms CPU",
            started.elapsed(),
            thread_cpu_ns().zip(cpu).map(|(b, a)| (b - a) / 1_000_000)
        );
    }
    assert_eq!(f.a.read_count() + f.b.read_count(), reads);
}

#[tokio::test]
async fn a_side_unchanged_since_its_token_arms_the_no_op_fast_path_and_edits_still_sync() {
    let f = Fixture::new(vec![]);
    f.b.set_supports_changes(true);
    f.a.insert_raw(ROOT_HREF, "1.ics", ev("u1", "one"));
    f.a.insert_raw(ROOT_HREF, "2.ics", ev("u2", "two"));
    let (report, _) = f.sync().await;
    assert_eq!(report.failures, 0);
    let digest = || {
        status::Status::open(f.dir.path(), "p")
            .unwrap()
            .collection("")
            .unwrap()
            .unwrap()
            .noop_digest
    };
    // The sync after the first one still lists b fully (no token yet), the next one sees
    // b unchanged since its token and a's listing as before.
    f.assert_quiet_sync().await;
    f.assert_quiet_sync().await;
    let armed = digest();
    assert!(
        armed.is_some(),
        "fast path not armed by a token and a listing"
    );
    f.assert_quiet_sync().await;
    assert_eq!(digest(), armed);
    // An edit on b moves its token: the digest no longer matches and the edit syncs.
    f.b.insert_raw(ROOT_HREF, "u1.item", ev("u1", "one edited on b"));
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(rec.changes(), vec!["Copying (updating) item u1 to sa"]);
    assert!(contents(&f.a).iter().any(|c| c.contains("one edited on b")));
    f.assert_quiet_sync().await;
}

#[tokio::test]
async fn a_collection_left_empty_is_asked_what_changed_since_its_token_not_read_whole_again() {
    let f = Fixture::new(vec![]);
    // b as a server: read whole when fresh, with sync tokens. Both sides start empty.
    f.b.set_whole_reads(true);
    f.b.set_supports_changes(true);
    f.assert_quiet_sync().await;
    let row = status::Status::open(f.dir.path(), "p")
        .unwrap()
        .collection("")
        .unwrap()
        .unwrap();
    assert!(row.a_token.is_none() && row.b_token.is_some());
    let whole_reads = f.b.list_count();
    f.assert_quiet_sync().await;
    f.assert_quiet_sync().await;
    assert_eq!(
        f.b.list_count(),
        whole_reads,
        "the empty side was read whole again"
    );
    // Items arriving later on either side are still found.
    f.b.insert_raw(ROOT_HREF, "1.ics", ev("u1", "one"));
    f.a.insert_raw(ROOT_HREF, "2.ics", ev("u2", "two"));
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    let mut changes = rec.changes();
    changes.sort();
    assert_eq!(
        changes,
        vec![
            "Copying (uploading) item u1 to sa",
            "Copying (uploading) item u2 to sb"
        ]
    );
    assert_eq!(contents(&f.a), contents(&f.b));
    f.assert_quiet_sync().await;
}

#[tokio::test]
async fn sync_tokens_replace_listings_and_a_failure_falls_back_to_full_listing() {
    let f = Fixture::new(vec![]);
    f.a.set_supports_changes(true);
    f.b.set_supports_changes(true);
    f.a.insert_raw(ROOT_HREF, "1.ics", ev("u1", "one"));
    f.a.insert_raw(ROOT_HREF, "2.ics", ev("u2", "two"));
    let (report, _) = f.sync().await;
    assert_eq!(report.failures, 0);
    let row = status::Status::open(f.dir.path(), "p")
        .unwrap()
        .collection("")
        .unwrap()
        .unwrap();
    assert!(row.a_token.is_some() && row.b_token.is_some());
    f.assert_quiet_sync().await;
    assert_eq!(
        f.a.list_count() + f.b.list_count(),
        0,
        "full listings despite tokens"
    );

    f.a.insert_raw(ROOT_HREF, "1.ics", ev("u1", "one edited"));
    f.b.remove_raw(ROOT_HREF, "u2.item");
    f.b.insert_raw(ROOT_HREF, "3.ics", ev("u3", "three"));
    f.a.fail_next_writes(1, ErrorKind::Transport);
    let (report, _) = f.sync().await;
    assert_eq!(report.failures, 1);
    let row = status::Status::open(f.dir.path(), "p")
        .unwrap()
        .collection("")
        .unwrap()
        .unwrap();
    assert!(row.a_token.is_none(), "token kept after a failure");
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(contents(&f.a), contents(&f.b));
    assert_eq!(contents(&f.a).len(), 2);
    f.assert_quiet_sync().await;
}

fn ev_modified(uid: &str, summary: &str, last_modified: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nSUMMARY:{summary}\r\n\
         LAST-MODIFIED:{last_modified}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

#[tokio::test]
async fn newer_wins_takes_the_later_last_modified_from_either_side() {
    for (a_time, b_time, winner) in [
        ("20240102T000000Z", "20240101T000000Z", "on a"),
        ("20240101T000000Z", "20240102T000000Z", "on b"),
    ] {
        let f = Fixture::new(vec![Strategy::NewerWins]);
        f.a.insert_raw(ROOT_HREF, "u1.item", ev("u1", "base"));
        f.sync().await;
        f.a.insert_raw(ROOT_HREF, "u1.item", ev_modified("u1", "on a", a_time));
        f.b.insert_raw(ROOT_HREF, "u1.item", ev_modified("u1", "on b", b_time));
        let (report, rec) = f.sync().await;
        assert_eq!(report.failures, 0, "{:?}", rec.failures());
        assert!(rec
            .changes()
            .contains(&"Conflict: item u1 in p resolved by \"newer wins\"".to_owned()));
        let both = [contents(&f.a), contents(&f.b)].concat().join("");
        assert!(
            both.matches(&format!("SUMMARY:{winner}")).count() == 2,
            "{both}"
        );
    }
}

#[tokio::test]
async fn read_only_wrapper_side_is_never_written_under_revert() {
    let inner = Arc::new(MemoryStorage::new(ItemKind::Calendar));
    let mut f = Fixture::new(vec![Strategy::BWins]);
    f.pair.a.storage = Arc::new(davsync_storages::wrappers::ReadOnly::new(inner.clone()));
    inner.insert_raw(ROOT_HREF, "1.ics", ev("u1", "feed"));
    inner.insert_raw(ROOT_HREF, "2.ics", ev("u2", "feed"));
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    // b edits and deletes; the feed changes too: b wins would pick b, but revert rules.
    f.b.insert_raw(ROOT_HREF, "u1.item", ev("u1", "local edit"));
    f.b.remove_raw(ROOT_HREF, "u2.item");
    inner.insert_raw(ROOT_HREF, "2.ics", ev("u2", "feed changed"));
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(inner.write_count(), 0);
    assert_eq!(
        rec.changes(),
        vec![
            "Copying (updating) item u1 to sb",
            "Copying (uploading) item u2 to sb",
        ]
    );
    assert_eq!(contents(&f.b), contents(&inner));
}

#[tokio::test]
async fn dry_run_with_collections_announces_creation_and_creates_nothing() {
    let mut f = Fixture::new(vec![]);
    with_collections(&mut f, vec![CollectionSpec::FromA]);
    f.a.insert_raw("mem:/work/", "1.ics", ev("w1", "x"));
    let (report, rec) = f
        .sync_with(&SyncOptions {
            dry_run: true,
            ..Default::default()
        })
        .await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(
        rec.changes(),
        vec![
            "Copying (uploading) item w1 to sb/work",
            "Creating collection work on sb",
        ]
    );
    assert_eq!(f.b.collection_hrefs(), vec![ROOT_HREF.to_owned()]);
    assert_eq!(f.writes(), 0);
    assert!(!status::path_for(f.dir.path(), "p").exists());
}

/// CPU time of this thread (Linux), so a loaded machine does not distort the printed figure.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[tokio::test]
async fn keep_both_cut_off_then_conflict_removed_leaves_no_duplicate() {
    let f = Fixture::new(vec![Strategy::KeepBoth]);
    f.a.insert_raw(ROOT_HREF, "u1.item", ev("u1", "base"));
    f.a.insert_raw(ROOT_HREF, "u2.item", ev("u2", "other"));
    f.sync().await;
    f.a.insert_raw(ROOT_HREF, "u1.item", ev("u1", "edited on a"));
    f.b.insert_raw(ROOT_HREF, "u1.item", ev("u1", "edited on b"));
    // Cut off right after the renamed copy reached b, before b's original was replaced.
    f.b.hang_after_writes(0);
    let rec = Rec::default();
    let cut = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        sync_pair(&f.pair, f.dir.path(), &SyncOptions::default(), &rec),
    )
    .await;
    assert!(cut.is_err(), "the sync should have hung");
    f.b.clear_failures();
    assert_eq!(contents(&f.a).len(), 3, "the renamed copy was made on a");
    // Before the next sync, the user deletes a's version: the conflict is gone.
    f.a.remove_raw(ROOT_HREF, "u1.item");
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    let fresh = conflict::fresh_uid(
        "u1",
        davsync_storages::Item::parse(ItemKind::Calendar, ev("u1", "edited on b"))
            .unwrap()
            .hash(),
    );
    assert_eq!(
        rec.changes(),
        vec![
            "Copying (uploading) item u1 to sa".to_owned(),
            format!("Deleting item {fresh} from sa"),
            format!("Deleting item {fresh} from sb"),
        ]
    );
    assert_eq!(
        contents(&f.a),
        vec![ev("u1", "edited on b"), ev("u2", "other")]
    );
    assert_eq!(contents(&f.a), contents(&f.b));
    f.assert_quiet_sync().await;
}

#[tokio::test]
async fn a_version_1_status_is_migrated_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = status::path_for(dir.path(), "p");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE collections (name TEXT PRIMARY KEY NOT NULL, a_href TEXT, \
             b_href TEXT, last_sync TEXT, a_token TEXT, b_token TEXT);
             CREATE TABLE items (collection TEXT NOT NULL, ident TEXT NOT NULL, a_href TEXT, \
             a_etag TEXT, a_hash TEXT, b_href TEXT, b_etag TEXT, b_hash TEXT, \
             PRIMARY KEY (collection, ident));
             CREATE TABLE conflicts (collection TEXT NOT NULL, ident TEXT NOT NULL, \
             reason TEXT NOT NULL, PRIMARY KEY (collection, ident));
             CREATE TABLE meta (collection TEXT NOT NULL, key TEXT NOT NULL, value TEXT, \
             PRIMARY KEY (collection, key));
             INSERT INTO items VALUES ('', 'u1', 'h', 'e', 'x', 'h', 'e', 'x');
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    // A dry run reads the old schema without touching the file.
    let before = std::fs::read(&path).unwrap();
    let dry = status::Status::open_dry(dir.path(), "p").unwrap();
    assert_eq!(dry.item_count("").unwrap(), 1);
    assert!(dry.pending("").unwrap().is_empty());
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let st = status::Status::open(dir.path(), "p").unwrap();
    assert_eq!(st.item_count("").unwrap(), 1);
    assert!(st.pending("").unwrap().is_empty());
    let version: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, status::SCHEMA_VERSION);
}

#[tokio::test]
async fn unchanged_listings_shortcut_never_hides_an_edit_or_a_new_setting() {
    let mut f = Fixture::new(vec![]);
    f.pair.partial_sync = PartialSync::Ignore;
    f.a.insert_raw(ROOT_HREF, "1.ics", ev("u1", "one"));
    f.sync().await;
    f.a.set_read_only(true);
    f.b.insert_raw(ROOT_HREF, "new.ics", ev("new", "made on b"));
    f.assert_quiet_sync().await; // ignored, and arms the shortcut
    f.assert_quiet_sync().await; // the shortcut
    f.pair.partial_sync = PartialSync::Revert;
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(rec.changes(), vec!["Deleting item new from sb"]);
    f.assert_quiet_sync().await;
    f.assert_quiet_sync().await;
    f.a.insert_raw(ROOT_HREF, "1.ics", ev("u1", "edited"));
    let (_, rec) = f.sync().await;
    assert_eq!(rec.changes(), vec!["Copying (updating) item u1 to sb"]);
}

// ---------------------------------------------------------------------------------------
// A fresh collection read whole: items copied as they arrive.

/// The same scenario with and without whole reads on a: the outcome must not depend on
/// how a was read.
async fn fresh_outcome(
    whole: bool,
    setup: impl Fn(&Fixture),
) -> (Vec<String>, Vec<String>, Vec<String>, Vec<String>, usize) {
    let f = Fixture::new(vec![]);
    f.a.set_whole_reads(whole);
    setup(&f);
    let (report, rec) = f.sync().await;
    let mut failures = rec.failures();
    failures.sort();
    assert_eq!(report.failures, failures.len());
    // And the next sync converges without writing anything new.
    let (_, again) = f.sync().await;
    assert!(again.changes().is_empty(), "{:?}", again.changes());
    (
        rec.changes(),
        failures,
        contents(&f.a),
        contents(&f.b),
        f.status_rows(),
    )
}

#[tokio::test]
async fn a_fresh_collection_read_whole_is_copied_item_by_item_into_the_empty_side() {
    let f = Fixture::new(vec![]);
    f.a.set_whole_reads(true);
    for i in 0..300 {
        f.a.insert_raw(ROOT_HREF, &format!("{i}.ics"), ev(&format!("u{i}"), "x"));
    }
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(rec.changes().len(), 300);
    assert_eq!(contents(&f.a), contents(&f.b));
    assert_eq!(f.status_rows(), 300);
    assert!(f.a.list_count() >= 1, "a was not read whole");
    f.assert_quiet_sync().await;
}

#[tokio::test]
async fn streamed_copies_end_as_the_plan_would_for_duplicates_and_malformed_items() {
    let setup = |f: &Fixture| {
        f.a.insert_raw(ROOT_HREF, "1.ics", ev("u1", "one"));
        f.a.insert_raw(ROOT_HREF, "2.ics", ev("dup", "first"));
        f.a.insert_raw(ROOT_HREF, "3.ics", ev("dup", "second"));
        f.a.insert_raw(
            ROOT_HREF,
            "4.ics",
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:broken\r\n",
        );
        f.a.insert_raw(ROOT_HREF, "5.ics", ev("u5", "five"));
    };
    let planned = fresh_outcome(false, setup).await;
    let streamed = fresh_outcome(true, setup).await;
    // Streaming may copy the first duplicate before it meets the second, and then deletes
    // it again: the same end state and failures, one more pair of lines.
    assert_eq!(streamed.1, planned.1, "failures");
    assert_eq!(streamed.2, planned.2, "a");
    assert_eq!(streamed.3, planned.3, "b");
    assert_eq!(streamed.4, planned.4, "status rows");
    assert_eq!(planned.3.len(), 2, "u1 and u5 only");
    assert!(
        streamed.0.contains(&"Deleting item dup from sb".to_owned()),
        "not streamed: {:?}",
        streamed.0
    );
    assert!(!planned.0.iter().any(|l| l.starts_with("Deleting")));
    assert!(
        planned.1.iter().any(|m| m.contains("duplicate UID dup")),
        "{:?}",
        planned.1
    );
    assert!(
        planned.1.iter().any(|m| m.contains("malformed item 4.ics")),
        "{:?}",
        planned.1
    );
}

#[tokio::test]
async fn streamed_and_planned_fresh_syncs_agree_when_both_sides_hold_items() {
    let setup = |f: &Fixture| {
        f.a.insert_raw(ROOT_HREF, "1.ics", ev("u1", "same"));
        f.b.insert_raw(ROOT_HREF, "u1.item", ev("u1", "same"));
        f.a.insert_raw(ROOT_HREF, "2.ics", ev("u2", "only on a"));
        f.b.insert_raw(ROOT_HREF, "u3.item", ev("u3", "only on b"));
    };
    let planned = fresh_outcome(false, setup).await;
    let streamed = fresh_outcome(true, setup).await;
    assert_eq!(streamed, planned);
    assert_eq!(planned.4, 3);
}

#[tokio::test]
async fn a_fresh_collection_streams_into_an_empty_side_that_is_read_whole_too() {
    let f = Fixture::new(vec![]);
    f.a.set_whole_reads(true);
    f.b.set_whole_reads(true);
    f.b.insert_raw(ROOT_HREF, "2.ics", ev("dup", "first"));
    f.b.insert_raw(ROOT_HREF, "3.ics", ev("dup", "second"));
    f.b.insert_raw(ROOT_HREF, "4.ics", ev("u4", "four"));
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 1, "{:?}", rec.failures());
    // Only the streaming path copies a duplicate before it knows, and takes it back.
    assert_eq!(
        rec.changes(),
        vec![
            "Copying (uploading) item dup to sa",
            "Copying (uploading) item u4 to sa",
            "Deleting item dup from sa",
        ]
    );
    assert_eq!(contents(&f.a).len(), 1);
}

#[tokio::test]
async fn a_read_only_empty_side_is_never_written_by_a_streamed_fresh_sync() {
    let f = Fixture::new(vec![]);
    f.a.set_whole_reads(true);
    f.b.set_read_only(true);
    for i in 0..5 {
        f.a.insert_raw(ROOT_HREF, &format!("{i}.ics"), ev(&format!("u{i}"), "x"));
    }
    let mut pair = f.pair.clone();
    pair.partial_sync = PartialSync::Ignore;
    let rec = Rec::default();
    let report = sync_pair(&pair, f.dir.path(), &SyncOptions::default(), &rec).await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(f.b.write_count(), 0);
    assert!(contents(&f.b).is_empty());
    assert_eq!(contents(&f.a).len(), 5);
}

#[tokio::test]
async fn a_streamed_fresh_sync_cut_off_midway_converges_without_duplicates() {
    let f = Fixture::new(vec![]);
    f.a.set_whole_reads(true);
    for i in 0..40 {
        f.a.insert_raw(ROOT_HREF, &format!("{i}.ics"), ev(&format!("u{i}"), "x"));
    }
    f.b.hang_after_writes(17);
    let rec = Rec::default();
    let cut = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        sync_pair(&f.pair, f.dir.path(), &SyncOptions::default(), &rec),
    )
    .await;
    assert!(cut.is_err(), "the sync should have hung");
    f.b.clear_failures();
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(contents(&f.b).len(), 40);
    assert_eq!(contents(&f.a), contents(&f.b));
    f.assert_quiet_sync().await;
}

#[tokio::test]
async fn a_streamed_fresh_dry_run_prints_the_copies_and_writes_nothing() {
    let f = Fixture::new(vec![]);
    f.a.set_whole_reads(true);
    for i in 0..3 {
        f.a.insert_raw(ROOT_HREF, &format!("{i}.ics"), ev(&format!("u{i}"), "x"));
    }
    let (report, rec) = f
        .sync_with(&SyncOptions {
            dry_run: true,
            ..Default::default()
        })
        .await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(rec.changes().len(), 3);
    assert_eq!(f.writes(), 0);
    assert!(!status::path_for(f.dir.path(), "p").exists());
}

#[tokio::test]
async fn an_item_created_on_the_target_meanwhile_is_compared_not_failed() {
    let f = Fixture::new(vec![Strategy::AWins]);
    f.a.insert_raw(ROOT_HREF, "1.ics", ev("u1", "same"));
    f.a.insert_raw(ROOT_HREF, "2.ics", ev("u2", "a's"));
    // Between the listing and the upload, the same UID appears on b: identical first, then
    // different (a conflict, which `a wins` settles).
    f.b.edit_before_next_write("u1.item", ev("u1", "same"));
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(f.status_rows(), 2);
    f.a.insert_raw(ROOT_HREF, "3.ics", ev("u3", "a's"));
    f.b.edit_before_next_write("u3.item", ev("u3", "b's"));
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(contents(&f.a), contents(&f.b));
    assert!(contents(&f.b)
        .iter()
        .any(|c| c.contains("SUMMARY:a's") && c.contains("u3")));
    f.assert_quiet_sync().await;
}

#[tokio::test]
async fn a_refused_item_without_uid_names_the_exact_repair_to_run_once() {
    let f = Fixture::new(vec![]);
    f.a.insert_raw(ROOT_HREF, "nouid.ics", ev_no_uid("Standup"));
    f.b.fail_next_writes(1, ErrorKind::Refused);
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 1);
    let failures = rec.failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
    let msg = &failures[0];
    assert!(msg.starts_with("Copying (uploading) item "), "{msg}");
    assert!(
        msg.ends_with(" (the item has no UID; run `davsync repair sa` to give it one)"),
        "{msg}"
    );
    assert_eq!(msg.matches("repair").count(), 1, "{msg}");
}
