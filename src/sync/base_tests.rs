//! The merge base of items a sync finds equal on both sides without writing them: the
//! version it read to compare them becomes the base, so `"merge"` works from that sync on.

use davsync_storages::memory::ROOT_HREF;

use super::super::tests::Fixture;
use crate::status::Status;

fn ev(prodid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:{prodid}\r\nBEGIN:VEVENT\r\nUID:u1\r\n\
         DTSTAMP:20240101T000000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

fn base(f: &Fixture) -> Option<String> {
    Status::open(f.dir.path(), "p")
        .unwrap()
        .base("", "u1")
        .unwrap()
        .map(|b| String::from_utf8(b).unwrap())
}

#[tokio::test]
async fn two_prefilled_sides_that_compare_equal_get_a_base_without_any_write() {
    let f = Fixture::new(vec![]);
    // Equal once normalized (only the PRODID differs), not byte for byte.
    f.a.insert_raw(ROOT_HREF, "u1.ics", ev("-//phone//EN", "Lunch"));
    f.b.insert_raw(ROOT_HREF, "u1.ics", ev("-//laptop//EN", "Lunch"));
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(rec.changes(), Vec::<String>::new());
    assert_eq!(f.a.write_count() + f.b.write_count(), 0);
    assert_eq!(base(&f).as_deref(), Some(&*ev("-//phone//EN", "Lunch")));
}

#[tokio::test]
async fn an_etag_that_moved_on_equal_content_refreshes_the_base_from_the_version_read() {
    let f = Fixture::new(vec![]);
    f.a.insert_raw(ROOT_HREF, "u1.ics", ev("-//phone//EN", "Lunch"));
    f.b.insert_raw(ROOT_HREF, "u1.ics", ev("-//laptop//EN", "Lunch"));
    f.sync().await;
    // b's server rewrote its etags: only b is read again, and its version is the base now.
    f.b.touch_all(ROOT_HREF);
    let reads = f.a.read_count();
    let (report, rec) = f.sync().await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(rec.changes(), Vec::<String>::new());
    assert_eq!(f.a.read_count(), reads, "a base must not cost a read");
    assert_eq!(base(&f).as_deref(), Some(&*ev("-//laptop//EN", "Lunch")));
}
