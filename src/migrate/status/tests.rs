//! Tests of the import: the etag arithmetic, the row translation, and reading each of
//! vdirsyncer's status formats.

use rusqlite::Connection;

use super::read::read_items;
use super::*;

#[cfg(unix)]
#[test]
fn vdirsyncer_etag_goes_through_a_double_like_python() {
    // Python: f"{1733312345123456789:.9f}" == '1733312345123456768.000000000'
    let ns: i128 = 1_733_312_345_123_456_789;
    assert_eq!(format!("{:.9}", ns as f64), "1733312345123456768.000000000");
}

fn vdir_source(dir: &Path) -> StorageSource {
    StorageSource {
        vtype: "filesystem".into(),
        path: Some(dir.to_string_lossy().into_owned()),
        fileext: Some(".ics".into()),
        url: None,
    }
}

#[test]
fn a_half_written_status_is_reported_with_its_path() {
    let tmp = tempfile::tempdir().unwrap();
    let vs = tmp.path().join("vstatus");
    fs::create_dir_all(&vs).unwrap();
    fs::write(vs.join("p.items"), b"SQLite format 3\0garbage").unwrap();
    let src = PairSource {
        name: "p".into(),
        status_dir: vs.clone(),
        has_collections: false,
        a: vdir_source(tmp.path()),
        b: vdir_source(tmp.path()),
    };
    let report = import_pair(&src, &tmp.path().join("dstatus"), false);
    let msg = report.unreadable.expect("reported");
    assert!(
        msg.starts_with(&format!(
            "{}: not a readable vdirsyncer status database",
            vs.join("p.items").display()
        )),
        "{msg}"
    );
    assert_eq!(report.rows, 0);
    assert!(!tmp.path().join("dstatus").exists());
}

const EV: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:u1\r\n\
                  SUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

/// A vdirsyncer 0.16+ status database with the given rows.
fn items_db(path: &Path, rows: &[[&str; 7]]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let c = Connection::open(path).unwrap();
    c.execute_batch(
        "CREATE TABLE meta (\"version\" INTEGER PRIMARY KEY);
         INSERT INTO meta (version) VALUES (1);
         CREATE TABLE status (ident TEXT PRIMARY KEY NOT NULL, href_a TEXT, href_b TEXT,
             hash_a TEXT NOT NULL, hash_b TEXT NOT NULL, etag_a TEXT, etag_b TEXT);",
    )
    .unwrap();
    for r in rows {
        c.execute(
            "INSERT INTO status VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            rusqlite::params![r[0], r[1], r[2], r[3], r[4], r[5], r[6]],
        )
        .unwrap();
    }
}

#[cfg(unix)]
#[test]
fn rows_metadata_and_collection_places_are_imported_and_only_unchanged_files_are_trusted() {
    let tmp = tempfile::tempdir().unwrap();
    let cals = tmp.path().join("cals");
    let work = cals.join("Work");
    fs::create_dir_all(&work).unwrap();
    fs::write(work.join("u1.ics"), EV).unwrap();
    fs::write(work.join("u2.ics"), EV.replace("u1", "u2")).unwrap();
    let etag1 = vdirsyncer_file_etag(&fs::metadata(work.join("u1.ics")).unwrap());
    let vs = tmp.path().join("vstatus");
    fs::create_dir_all(&vs).unwrap();
    fs::write(
        vs.join("p.collections"),
        format!(
            r#"{{"collections": [["work", [{{"path": "{}", "collection": "Work"}},
                {{"url": "https://dav.example.org/alice/work/", "collection": "work"}}]]],
                "cache_key": "x"}}"#,
            work.display()
        ),
    )
    .unwrap();
    items_db(
        &vs.join("p").join("work.items"),
        &[
            [
                "u1",
                "u1.ics",
                "/alice/work/u1.ics",
                "h1",
                "h1",
                &etag1,
                "\"e1\"",
            ],
            // Changed on disk since: its etag no longer matches.
            [
                "u2",
                "u2.ics",
                "/alice/work/u%40x.ics",
                "h2",
                "h2",
                "1.000000000;1",
                "\"e2\"",
            ],
        ],
    );
    fs::write(
        vs.join("p").join("work.metadata"),
        r#"{"displayname": "Work "}"#,
    )
    .unwrap();
    let src = PairSource {
        name: "p".into(),
        status_dir: vs,
        has_collections: true,
        a: vdir_source(&cals),
        b: StorageSource {
            vtype: "caldav".into(),
            path: None,
            fileext: None,
            url: Some("https://dav.example.org/".into()),
        },
    };
    let dstatus = tmp.path().join("dstatus");
    let report = import_pair(&src, &dstatus, false);
    assert_eq!((report.rows, report.collections), (2, 1), "{report:?}");
    let status = Status::open(&dstatus, "p").unwrap();
    let coll = status.collection("work").unwrap().unwrap();
    assert_eq!(coll.a_href.as_deref(), Some(work.to_str().unwrap()));
    assert_eq!(
        coll.b_href.as_deref(),
        Some("https://dav.example.org/alice/work/")
    );
    assert!(coll.last_sync.is_some());
    let rows = status.items("work").unwrap();
    let u1 = &rows["u1"];
    let a1 = u1.a.as_ref().unwrap();
    let item = Item::parse(ItemKind::Calendar, EV).unwrap();
    assert_eq!(
        a1.etag,
        davsync_storages::vdir::etag_of(&fs::metadata(work.join("u1.ics")).unwrap())
    );
    assert_eq!(&a1.hash, item.hash());
    assert_eq!(&u1.b.as_ref().unwrap().hash, item.hash());
    assert_eq!(u1.b.as_ref().unwrap().etag.as_str(), "\"e1\"");
    let u2 = &rows["u2"];
    assert_eq!(u2.a.as_ref().unwrap().etag.as_str(), "1.000000000;1");
    assert_eq!(u2.a.as_ref().unwrap().hash.as_str(), "vdirsyncer:h2");
    assert_eq!(u2.b.as_ref().unwrap().hash.as_str(), "vdirsyncer:h2");
    assert_eq!(u2.b.as_ref().unwrap().href.as_str(), "/alice/work/u@x.ics");
    // The unchanged local copy is the merge base; a changed one is not trusted as one.
    assert_eq!(
        status.base("work", "u1").unwrap(),
        Some(EV.as_bytes().to_vec())
    );
    assert_eq!(status.base("work", "u2").unwrap(), None);
    assert_eq!(
        status.meta("work", "displayname").unwrap(),
        Some(Some("Work".to_owned()))
    );

    // A second import keeps the status davsync has now, unless forced.
    let again = import_pair(&src, &dstatus, false);
    assert!(again.kept_existing);
    let forced = import_pair(&src, &dstatus, true);
    assert_eq!(forced.rows, 2);
}

#[test]
fn the_json_status_of_releases_before_0_16_is_read_too() {
    let tmp = tempfile::tempdir().unwrap();
    let vs = tmp.path().join("vstatus");
    fs::create_dir_all(&vs).unwrap();
    fs::write(
        vs.join("p.items"),
        r#"{"u1": ["u1.ics", "1.5;2", "/c/u1.ics", "\"e\""],
            "u2": [{"href": "u2.ics", "etag": "3.5;4", "hash": "h"},
                   {"href": "/c/u2.ics", "etag": "\"f\"", "hash": "h"}]}"#,
    )
    .unwrap();
    let rows = read_items(&vs.join("p.items")).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0].a,
        Some(("u1.ics".into(), "1.5;2".into(), String::new()))
    );
    assert_eq!(
        rows[1].b,
        Some(("/c/u2.ics".into(), "\"f\"".into(), "h".into()))
    );
}
