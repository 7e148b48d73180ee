//! An upload that meets the item already there (a killed run's write the server finished
//! after our listing) records it under the href the listings give: through a storage whose
//! listings give server paths while its preferred href is a bare file name, as DAV's do.
//! Recorded under the bare name, the next delta listing showed the item twice and failed it
//! as a duplicate UID.

use std::sync::Arc;

use davsync_storages::memory::{MemoryStorage, ROOT_HREF};
use davsync_storages::ItemKind;

use super::tests::Rec;
use super::*;
use crate::status;
use crate::test_support::PathHrefs;

fn ev(uid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
         DTSTAMP:20240101T000000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

#[tokio::test]
async fn an_upload_meeting_the_same_item_records_it_at_its_listed_href() {
    let a = Arc::new(MemoryStorage::new(ItemKind::Calendar));
    let mem_b = Arc::new(MemoryStorage::new(ItemKind::Calendar));
    mem_b.set_supports_changes(true);
    let pair = PairSpec {
        name: "p".into(),
        a: StorageHandle {
            name: "sa".into(),
            storage: a.clone(),
        },
        b: StorageHandle {
            name: "sb".into(),
            storage: Arc::new(PathHrefs(mem_b.clone())),
        },
        collections: None,
        conflict_resolution: vec![],
        partial_sync: PartialSync::Revert,
        metadata: vec![],
    };
    let dir = tempfile::tempdir().unwrap();
    let sync = || async {
        let rec = Rec::default();
        let report = sync_pair(&pair, dir.path(), &SyncOptions::default(), &rec).await;
        (report, rec)
    };
    a.insert_raw(ROOT_HREF, "u0.item", ev("u0", "first"));
    let (report, rec) = sync().await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());

    // A new item on a; the same item reaches b right before our upload of it.
    a.insert_raw(ROOT_HREF, "u1.item", ev("u1", "same"));
    mem_b.edit_before_next_write("u1.item", ev("u1", "same"));
    let (report, rec) = sync().await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    let st = status::Status::open(dir.path(), "p").unwrap();
    let rows = st.items("").unwrap();
    assert_eq!(
        rows["u1"].b.as_ref().map(|s| s.href.as_str()),
        Some("/dav/u1.item")
    );

    // The next listing of b (changes since the token taken before that write) names the
    // item at its path: one item, nothing to do.
    let (report, rec) = sync().await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(rec.changes(), Vec::<String>::new());
}
