//! The trash hook over `MemoryStorage`: every overwrite and deletion keeps the old version
//! first, and a write cut off after that leaves the old version in place and in the trash.

use davsync_storages::memory::ROOT_HREF;
use davsync_storages::ErrorKind;

use super::super::tests::Fixture;
use super::super::SyncOptions;
use crate::trash::{Trash, Why};

fn ev(uid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
         DTSTAMP:20240101T000000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

fn trash(f: &Fixture) -> Trash {
    Trash::new(f.dir.path(), 30)
}

fn opts(f: &Fixture) -> SyncOptions {
    SyncOptions {
        trash: Some(trash(f)),
        ..Default::default()
    }
}

/// (uid, why, storage, bytes) of everything in the trash, newest first.
fn kept(f: &Fixture) -> Vec<(String, Why, String, String)> {
    let t = trash(f);
    let (entries, broken) = t.list().unwrap();
    assert!(broken.is_empty());
    entries
        .into_iter()
        .map(|e| {
            let (_, bytes) = t.get(&e.id).unwrap().unwrap();
            (
                e.origin.uid,
                e.origin.why,
                e.origin.storage,
                String::from_utf8(bytes).unwrap(),
            )
        })
        .collect()
}

/// The versions of u1 the storage holds.
fn stored(s: &davsync_storages::memory::MemoryStorage) -> Vec<String> {
    s.items(ROOT_HREF)
        .into_iter()
        .map(|(_, _, raw)| String::from_utf8(raw).unwrap())
        .filter(|t| t.contains("UID:u1\r\n"))
        .collect()
}

async fn synced_pair() -> Fixture {
    let f = Fixture::new(vec![]);
    f.a.insert_raw(ROOT_HREF, "u1.item", ev("u1", "Lunch"));
    // A second item, so that deleting the first does not empty a side.
    f.a.insert_raw(ROOT_HREF, "u2.item", ev("u2", "Dinner"));
    let (report, rec) = f.sync_with(&opts(&f)).await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert!(kept(&f).is_empty(), "an upload replaces nothing");
    f
}

#[tokio::test]
async fn an_update_keeps_the_version_it_overwrites() {
    let f = synced_pair().await;
    f.a.insert_raw(ROOT_HREF, "u1.item", ev("u1", "Lunch at one"));
    let (report, rec) = f.sync_with(&opts(&f)).await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(
        kept(&f),
        [(
            "u1".into(),
            Why::Overwritten,
            "sb".into(),
            ev("u1", "Lunch")
        )]
    );
    assert_eq!(stored(&f.b), [ev("u1", "Lunch at one")]);
}

#[tokio::test]
async fn a_deletion_keeps_the_version_it_deletes() {
    let f = synced_pair().await;
    f.a.remove_raw(ROOT_HREF, "u1.item");
    let (report, rec) = f.sync_with(&opts(&f)).await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(
        kept(&f),
        [("u1".into(), Why::Deleted, "sb".into(), ev("u1", "Lunch"))]
    );
    assert!(stored(&f.b).is_empty());
}

#[tokio::test]
async fn a_write_cut_off_after_the_trash_leaves_the_old_version_in_place_and_kept() {
    let f = synced_pair().await;
    f.a.insert_raw(ROOT_HREF, "u1.item", ev("u1", "Lunch at one"));
    // The process "dies" between the trash write and the storage write: the write never
    // lands.
    f.b.fail_next_writes(1, ErrorKind::Io);
    let (report, _) = f.sync_with(&opts(&f)).await;
    assert_eq!(report.failures, 1);
    assert_eq!(stored(&f.b), [ev("u1", "Lunch")]);
    assert_eq!(kept(&f)[0].3, ev("u1", "Lunch"));
    // The next sync converges; the old version is still in the trash.
    let (report, rec) = f.sync_with(&opts(&f)).await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(stored(&f.b), [ev("u1", "Lunch at one")]);
    assert!(kept(&f).iter().all(|k| k.3 == ev("u1", "Lunch")));
}

#[tokio::test]
async fn an_unwritable_trash_fails_the_item_and_overwrites_nothing() {
    let f = synced_pair().await;
    std::fs::write(f.dir.path().join("trash"), "in the way").unwrap();
    f.a.insert_raw(ROOT_HREF, "u1.item", ev("u1", "Lunch at one"));
    let writes = f.b.write_count();
    let (report, rec) = f.sync_with(&opts(&f)).await;
    assert_eq!(report.failures, 1);
    let msg = &rec.failures()[0];
    assert!(
        msg.starts_with(
            "item u1 on sb: not overwritten, its current version could not be kept first: trash "
        ),
        "{msg}"
    );
    assert!(
        msg.contains(&f.dir.path().join("trash").display().to_string()),
        "{msg}"
    );
    assert_eq!(f.b.write_count(), writes);
    assert_eq!(stored(&f.b), [ev("u1", "Lunch")]);
}
