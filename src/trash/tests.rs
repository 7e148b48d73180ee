use std::os::unix::fs::PermissionsExt;

use chrono::{Duration, Utc};
use davsync_storages::ItemKind;

use super::{Origin, Trash, Why};

const EVENT: &[u8] = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:ev1\r\nSUMMARY:Dentist\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

fn origin(uid: &str, why: Why) -> Origin {
    Origin {
        pair: "cal".into(),
        collection: "work".into(),
        storage: "cal_local".into(),
        collection_href: "/home/u/cal/work".into(),
        collection_name: "work".into(),
        href: format!("{uid}.ics").into(),
        etag: Some("\"e1\"".into()),
        uid: uid.into(),
        why,
        kind: ItemKind::Calendar,
    }
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_saved_version_comes_back_byte_for_byte_with_where_and_why() {
    let status = tempfile::tempdir().unwrap();
    let trash = Trash::new(status.path(), 30);
    let id = trash
        .save(&origin("ev1", Why::Overwritten), EVENT)
        .unwrap()
        .unwrap();
    let (entry, bytes) = trash.get(&id).unwrap().expect("kept");
    assert_eq!(bytes, EVENT);
    assert_eq!(entry.origin, origin("ev1", Why::Overwritten));
    assert_eq!(entry.summary.as_deref(), Some("Dentist"));
    assert!(Utc::now() - entry.when < Duration::minutes(5));
    let line = entry.line();
    assert!(line.starts_with(&format!("{id} ")), "{line}");
    assert!(
        line.ends_with(" cal/work ev1 overwritten on cal_local: Dentist"),
        "{line}"
    );
}

#[test]
fn the_trash_is_private_to_the_user() {
    let status = tempfile::tempdir().unwrap();
    let trash = Trash::new(status.path(), 30);
    let id = trash
        .save(&origin("ev1", Why::Deleted), EVENT)
        .unwrap()
        .unwrap();
    assert_eq!(mode(trash.dir()), 0o700);
    let entry = trash.dir().join(&id);
    assert_eq!(mode(&entry), 0o700);
    assert_eq!(mode(&entry.join("meta.toml")), 0o600);
    assert_eq!(mode(&entry.join("item.ics")), 0o600);
}

#[test]
fn the_listing_is_newest_first() {
    let status = tempfile::tempdir().unwrap();
    let trash = Trash::new(status.path(), 30);
    let first = trash
        .save(&origin("a", Why::Deleted), EVENT)
        .unwrap()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let second = trash
        .save(&origin("b", Why::Deleted), EVENT)
        .unwrap()
        .unwrap();
    let (entries, broken) = trash.list().unwrap();
    assert!(broken.is_empty());
    let ids: Vec<_> = entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, [second.as_str(), first.as_str()]);
}

#[test]
fn an_unknown_or_path_like_id_is_not_found() {
    let status = tempfile::tempdir().unwrap();
    let trash = Trash::new(status.path(), 30);
    trash.save(&origin("a", Why::Deleted), EVENT).unwrap();
    assert!(trash.get("deadbeef").unwrap().is_none());
    assert!(trash.get("../trash").unwrap().is_none());
    assert!(trash.get("").unwrap().is_none());
}

#[test]
fn prune_removes_what_is_older_than_trash_days_only() {
    let status = tempfile::tempdir().unwrap();
    let trash = Trash::new(status.path(), 30);
    let id = trash
        .save(&origin("a", Why::Deleted), EVENT)
        .unwrap()
        .unwrap();
    assert_eq!(trash.prune(Utc::now() + Duration::days(29)).unwrap(), 0);
    assert!(trash.get(&id).unwrap().is_some());
    assert_eq!(trash.prune(Utc::now() + Duration::days(31)).unwrap(), 1);
    assert!(trash.get(&id).unwrap().is_none());
}

#[test]
fn zero_days_keeps_nothing() {
    let status = tempfile::tempdir().unwrap();
    let trash = Trash::new(status.path(), 0);
    assert_eq!(trash.save(&origin("a", Why::Deleted), EVENT).unwrap(), None);
    assert!(!trash.dir().exists());
}

#[test]
fn an_unwritable_trash_is_an_error_naming_the_path() {
    let status = tempfile::tempdir().unwrap();
    // A file where the trash folder should be: no permission trick, so it fails as root too.
    std::fs::write(status.path().join("trash"), b"in the way").unwrap();
    let trash = Trash::new(status.path(), 30);
    let err = trash.save(&origin("a", Why::Deleted), EVENT).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("trash {}", status.path().join("trash").display())),
        "{msg}"
    );
}

#[test]
fn a_damaged_entry_is_reported_and_the_others_still_listed() {
    let status = tempfile::tempdir().unwrap();
    let trash = Trash::new(status.path(), 30);
    let good = trash
        .save(&origin("a", Why::Deleted), EVENT)
        .unwrap()
        .unwrap();
    let bad = trash
        .save(&origin("b", Why::Deleted), EVENT)
        .unwrap()
        .unwrap();
    std::fs::write(trash.dir().join(&bad).join("meta.toml"), "when = 3").unwrap();
    let (entries, broken) = trash.list().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].id, good);
    assert_eq!(broken.len(), 1);
    assert!(broken[0].to_string().contains(&bad));
}

#[test]
fn an_interrupted_save_leaves_no_entry_and_is_cleaned_up_later() {
    let status = tempfile::tempdir().unwrap();
    let trash = Trash::new(status.path(), 30);
    trash.save(&origin("a", Why::Deleted), EVENT).unwrap();
    // What a kill between writing and renaming leaves.
    let tmp = trash.dir().join(".tmp-0000abcd");
    std::fs::create_dir(&tmp).unwrap();
    std::fs::write(tmp.join("item.ics"), EVENT).unwrap();
    let (entries, _) = trash.list().unwrap();
    assert_eq!(entries.len(), 1);
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::open(&tmp)
        .unwrap()
        .set_modified(old)
        .unwrap();
    trash.prune(Utc::now()).unwrap();
    assert!(!tmp.exists());
}

/// Moves an entry's save time back by `by`, as no sync could: only to see whether a prune
/// reads the trash.
fn age(trash: &Trash, id: &str, by: Duration) {
    let meta = trash.dir().join(id).join("meta.toml");
    let text = std::fs::read_to_string(&meta).unwrap();
    let when = (Utc::now() - by).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let text: String = text
        .lines()
        .map(|l| match l.starts_with("when = ") {
            true => format!("when = \"{when}\"\n"),
            false => format!("{l}\n"),
        })
        .collect();
    std::fs::write(&meta, text).unwrap();
}

#[test]
fn the_end_of_a_sync_reads_the_trash_only_once_an_entry_can_have_expired() {
    let status = tempfile::tempdir().unwrap();
    let trash = Trash::new(status.path(), 1);
    let id = trash
        .save(&origin("a", Why::Deleted), EVENT)
        .unwrap()
        .unwrap();
    let t0 = Utc::now() + Duration::minutes(23 * 60 + 58);
    assert_eq!(trash.prune_if_due(t0).unwrap(), 0, "not a day old yet");
    assert_eq!(mode(&trash.dir().join(".pruned")), 0o600);
    // Nothing can expire before the entry does: a prune now would find this one, so none ran.
    let other = trash
        .save(&origin("b", Why::Deleted), EVENT)
        .unwrap()
        .unwrap();
    age(&trash, &other, Duration::days(2));
    assert_eq!(trash.prune_if_due(t0 + Duration::minutes(1)).unwrap(), 0);
    assert!(trash.get(&other).unwrap().is_some());
    // Three minutes after the last prune the first entry is a day old: pruned at once.
    assert_eq!(trash.prune_if_due(t0 + Duration::minutes(3)).unwrap(), 2);
    assert!(trash.get(&id).unwrap().is_none());
}

#[test]
fn a_prune_time_in_the_future_or_zero_days_prunes_at_once() {
    let status = tempfile::tempdir().unwrap();
    let trash = Trash::new(status.path(), 1);
    trash.save(&origin("a", Why::Deleted), EVENT).unwrap();
    let later = Utc::now() + Duration::days(3);
    assert_eq!(trash.prune_if_due(later).unwrap(), 1);
    // The clock went back after a prune three days ahead.
    let id = trash
        .save(&origin("b", Why::Deleted), EVENT)
        .unwrap()
        .unwrap();
    age(&trash, &id, Duration::days(2));
    assert_eq!(trash.prune_if_due(Utc::now()).unwrap(), 1);
    trash.save(&origin("c", Why::Deleted), EVENT).unwrap();
    let none = Trash::new(status.path(), 0);
    assert_eq!(none.prune_if_due(Utc::now()).unwrap(), 1);
    assert_eq!(none.prune_if_due(Utc::now()).unwrap(), 0);
}
