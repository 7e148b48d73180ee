//! The status's typed rows against the TEXT columns they are stored in: what earlier
//! releases wrote must load, and what this one writes must be what they wrote.

use davsync_storages::{CollectionToken, ContentHash, Etag, Href};
use rusqlite::Connection;

use super::{path_for, ItemRow, SideState, Status};

fn raw(dir: &std::path::Path) -> Connection {
    Connection::open(path_for(dir, "p")).unwrap()
}

#[test]
fn a_stored_ctag_token_loads_as_a_ctag_and_any_other_as_a_sync_token() {
    let dir = tempfile::tempdir().unwrap();
    Status::open(dir.path(), "p").unwrap();
    // As a release that kept the ctag inside a sync token wrote it.
    raw(dir.path())
        .execute(
            "INSERT INTO collections (name, a_href, b_href, a_token, b_token)
             VALUES ('c', '/a/', 'https://dav.example.org/c/', 'http://radicale.org/ns/sync/9', 'ctag:\"abc\"')",
            [],
        )
        .unwrap();
    let row = Status::open(dir.path(), "p")
        .unwrap()
        .collection("c")
        .unwrap()
        .unwrap();
    assert_eq!(
        row.a_token,
        Some(CollectionToken::sync("http://radicale.org/ns/sync/9"))
    );
    assert_eq!(row.b_token, Some(CollectionToken::ctag("\"abc\"")));
}

#[test]
fn tokens_are_stored_as_the_text_earlier_releases_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let status = Status::open(dir.path(), "p").unwrap();
    status.set_collection("c", "/a/", "/b/").unwrap();
    let (a, b) = (
        CollectionToken::ctag("\"c1\""),
        CollectionToken::sync("data:,17"),
    );
    status.set_tokens("c", Some(&a), Some(&b)).unwrap();
    let stored: (String, String) = raw(dir.path())
        .query_row(
            "SELECT a_token, b_token FROM collections WHERE name = 'c'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(stored, ("ctag:\"c1\"".to_owned(), "data:,17".to_owned()));
    let row = status.collection("c").unwrap().unwrap();
    assert_eq!((row.a_token, row.b_token), (Some(a), Some(b)));

    status.set_tokens("c", None, None).unwrap();
    let row = status.collection("c").unwrap().unwrap();
    assert_eq!((row.a_token, row.b_token), (None, None));
}

#[test]
fn an_item_row_is_stored_as_plain_text_columns_and_read_back_typed() {
    let dir = tempfile::tempdir().unwrap();
    let status = Status::open(dir.path(), "p").unwrap();
    let a = SideState {
        href: Href::from("u1.ics"),
        etag: Etag::from("\"e1\""),
        hash: ContentHash::from("9f86d081"),
    };
    let row = ItemRow {
        ident: "u1".into(),
        a: Some(a.clone()),
        b: None,
    };
    status.put_item("c", &row).unwrap();
    let stored: (String, String, String, Option<String>) = raw(dir.path())
        .query_row(
            "SELECT a_href, a_etag, a_hash, b_href FROM items WHERE ident = 'u1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(
        stored,
        (
            "u1.ics".to_owned(),
            "\"e1\"".to_owned(),
            "9f86d081".to_owned(),
            None
        )
    );
    assert_eq!(status.items("c").unwrap()["u1"], row);
}

#[test]
fn a_full_hash_is_stored_as_its_lowercase_hex_and_read_back_equal() {
    let dir = tempfile::tempdir().unwrap();
    let status = Status::open(dir.path(), "p").unwrap();
    let hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let row = ItemRow {
        ident: "u1".into(),
        a: None,
        b: Some(SideState {
            href: Href::from("/c/u1.ics"),
            etag: Etag::from("\"e1\""),
            hash: ContentHash::from(hex),
        }),
    };
    status.put_item("c", &row).unwrap();
    let stored: String = raw(dir.path())
        .query_row("SELECT b_hash FROM items WHERE ident = 'u1'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(stored, hex);
    assert_eq!(status.items("c").unwrap()["u1"], row);
}

#[test]
fn rows_keep_one_row_per_ident_in_the_order_first_inserted() {
    let row = |ident: &str, href: &str| ItemRow {
        ident: ident.into(),
        a: Some(SideState {
            href: Href::from(href),
            etag: Etag::from("e"),
            hash: ContentHash::default(),
        }),
        b: None,
    };
    let mut rows = super::Rows::with_capacity(1);
    assert!(rows.insert(row("u2", "2.ics")).is_none());
    assert!(rows.insert(row("u1", "1.ics")).is_none());
    let old = rows.insert(row("u2", "2-moved.ics")).unwrap();
    assert_eq!(old.a.unwrap().href.as_str(), "2.ics");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows.idents().collect::<Vec<_>>(), ["u2", "u1"]);
    assert_eq!(rows["u2"].a.as_ref().unwrap().href.as_str(), "2-moved.ics");
    assert!(rows.get("u3").is_none());
}
