//! The engine over two real vdir folders: what the targeted tests check over memory storages
//! must hold over files too (etags from the file system, hrefs from UIDs).

use std::path::Path;
use std::sync::Arc;

use davsync::sync::event::Recorder as Rec;
use davsync::sync::{sync_pair, PairSpec, PartialSync, StorageHandle, SyncOptions};
use davsync_storages::vdir::{Vdir, VdirOptions};
use davsync_storages::ItemKind;

fn vdir(path: &Path) -> StorageHandle {
    std::fs::create_dir_all(path).unwrap();
    StorageHandle {
        name: path.file_name().unwrap().to_string_lossy().into_owned(),
        storage: Arc::new(
            Vdir::new(VdirOptions {
                path: path.to_owned(),
                fileext: ".ics".into(),
                post_hook: None,
                kind: ItemKind::Calendar,
            })
            .unwrap(),
        ),
    }
}

fn ev(uid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nSUMMARY:{summary}\r\n\
         END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

fn files(dir: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

async fn sync(pair: &PairSpec, status: &Path) -> (usize, Vec<String>, Vec<String>) {
    let rec = Rec::default();
    let report = sync_pair(pair, status, &SyncOptions::default(), &rec).await;
    let mut changes = rec.changes();
    changes.sort();
    let failures = rec.failures();
    (report.failures, changes, failures)
}

#[tokio::test]
async fn two_vdirs_sync_both_ways_and_a_second_sync_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (pa, pb, status) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("s"),
    );
    let pair = PairSpec {
        name: "cal".into(),
        a: vdir(&pa),
        b: vdir(&pb),
        collections: None,
        conflict_resolution: vec![],
        partial_sync: PartialSync::Revert,
        metadata: vec![],
    };
    std::fs::write(pa.join("one.ics"), ev("one", "first")).unwrap();
    std::fs::write(pb.join("two.ics"), ev("two", "second")).unwrap();
    let (failures, changes, errs) = sync(&pair, &status).await;
    assert_eq!(failures, 0, "{errs:?}");
    assert_eq!(
        changes,
        vec![
            "Copying (uploading) item one to b",
            "Copying (uploading) item two to a",
        ]
    );
    let contents = |p: &Path| -> Vec<String> {
        let mut v: Vec<String> = files(p).into_iter().map(|(_, c)| c).collect();
        v.sort();
        v
    };
    assert_eq!(contents(&pa), contents(&pb));
    let before = (files(&pa), files(&pb));
    let (failures, changes, _) = sync(&pair, &status).await;
    assert_eq!((failures, changes), (0, vec![]));
    assert_eq!((files(&pa), files(&pb)), before);

    std::fs::remove_file(pa.join("one.ics")).unwrap();
    let (failures, changes, errs) = sync(&pair, &status).await;
    assert_eq!(failures, 0, "{errs:?}");
    assert_eq!(changes, vec!["Deleting item one from b"]);
    assert_eq!(contents(&pa), contents(&pb));
}
