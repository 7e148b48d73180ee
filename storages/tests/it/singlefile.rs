//! Behaviour of the singlefile backend on real temporary files.

use std::path::Path;

use davsync_storages::singlefile::{SingleFile, SingleFileOptions};
use davsync_storages::{Collection, ErrorKind, Href, Item, ItemKind, Storage};

fn vevent(uid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20240101T000000Z\r\n\
         DTSTART:20240102T100000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\n"
    )
}

fn calendar(events: &[(&str, &str)]) -> String {
    let mut s = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//davsync tests//EN\r\n");
    for (uid, summary) in events {
        s.push_str(&vevent(uid, summary));
    }
    s.push_str("END:VCALENDAR\r\n");
    s
}

fn event(uid: &str, summary: &str) -> Item {
    Item::parse(ItemKind::Calendar, calendar(&[(uid, summary)]).into_bytes()).unwrap()
}

fn storage(path: &Path) -> SingleFile {
    SingleFile::new(SingleFileOptions {
        path: path.to_str().unwrap().to_owned(),
        kind: ItemKind::Calendar,
    })
    .unwrap()
}

/// The SUMMARY of every event in the file, in file order.
fn summaries(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("SUMMARY:"))
        .map(|s| s.trim_end().to_owned())
        .collect()
}

async fn uids(s: &SingleFile, c: &Collection) -> Vec<String> {
    let hrefs: Vec<Href> = s
        .list(c)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.href)
        .collect();
    let mut out: Vec<String> = s
        .get_many(c, &hrefs)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, r)| r.unwrap().0.uid().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn existing_file_lists_one_item_per_uid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cal.ics");
    std::fs::write(&path, calendar(&[("a", "A"), ("b", "B"), ("c", "C")])).unwrap();
    let s = storage(&path);
    let c = s.root_collection().await.unwrap();
    assert_eq!(c.name, "");
    let listed = s.list(&c).await.unwrap();
    let mut hrefs: Vec<_> = listed.iter().map(|r| r.href.as_str().to_owned()).collect();
    hrefs.sort();
    assert_eq!(hrefs, ["a", "b", "c"]);
    assert_eq!(uids(&s, &c).await, ["a", "b", "c"]);
    let (item, _) = s.get(&c, &Href("b".into())).await.unwrap();
    assert!(String::from_utf8_lossy(item.raw()).contains("SUMMARY:B"));
}

#[tokio::test]
async fn round_trip_through_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join("cal.ics");
    let s = storage(&path);
    let c = s.root_collection().await.unwrap();
    assert!(s.list(&c).await.unwrap().is_empty());
    assert!(!path.exists(), "reading must not create the file");
    let (ha, ea) = s.upload(&c, &event("a", "first")).await.unwrap();
    let (hb, _) = s.upload(&c, &event("b", "second")).await.unwrap();
    assert!(path.exists());
    assert_eq!(summaries(&path), ["first", "second"]);
    let listed = s.list(&c).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().any(|r| r.href == ha && r.etag == ea));
    // A fresh storage (no cache) reads the same back.
    let fresh = storage(&path);
    assert_eq!(fresh.list(&c).await.unwrap(), listed);
    let (b, _) = fresh.get(&c, &hb).await.unwrap();
    assert_eq!(b.uid(), Some("b"));
    // Only the file itself is in the folder: no temporary file left.
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["cal.ics"]);
}

#[tokio::test]
async fn writes_are_conditional_on_the_item_etag() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cal.ics");
    let s = storage(&path);
    let c = s.root_collection().await.unwrap();
    let (ha, ea) = s.upload(&c, &event("a", "one")).await.unwrap();
    let (hb, eb) = s.upload(&c, &event("b", "bee")).await.unwrap();
    let ea2 = s.update(&c, &ha, &event("a", "two"), &ea).await.unwrap();
    assert_ne!(ea, ea2);
    // b's etag did not move when a changed.
    let listed = s.list(&c).await.unwrap();
    assert!(listed.iter().any(|r| r.href == hb && r.etag == eb));
    let err = s
        .update(&c, &ha, &event("a", "three"), &ea)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed);
    let err = s.delete(&c, &ha, &ea).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed);
    let err = s.upload(&c, &event("a", "again")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert_eq!(summaries(&path), ["two", "bee"]);
    s.delete(&c, &ha, &ea2).await.unwrap();
    assert_eq!(summaries(&path), ["bee"]);
    s.delete(&c, &hb, &eb).await.unwrap();
    assert!(s.list(&c).await.unwrap().is_empty());
}

#[tokio::test]
async fn edit_by_another_program_is_seen_and_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cal.ics");
    std::fs::write(&path, calendar(&[("a", "A"), ("b", "B")])).unwrap();
    let s = storage(&path);
    let c = s.root_collection().await.unwrap();
    let before = s.list(&c).await.unwrap();
    let etag_a = before
        .iter()
        .find(|r| r.href.as_str() == "a")
        .unwrap()
        .etag
        .clone();
    // Another program edits a (different size, new inode as editors usually do).
    let edited = calendar(&[("a", "A edited elsewhere"), ("b", "B")]);
    let tmp = dir.path().join(".edit");
    std::fs::write(&tmp, &edited).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    let after = s.list(&c).await.unwrap();
    let new_a = after.iter().find(|r| r.href.as_str() == "a").unwrap();
    assert_ne!(new_a.etag, etag_a);
    let err = s
        .update(&c, &Href("a".into()), &event("a", "mine"), &etag_a)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), edited);
}

#[tokio::test]
async fn malformed_file_is_reported_with_its_path_and_never_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cal.ics");
    let broken = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\n";
    std::fs::write(&path, broken).unwrap();
    let s = storage(&path);
    let c = s.root_collection().await.unwrap();
    let err = s.list(&c).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert!(s.upload(&c, &event("b", "B")).await.is_err());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), broken);
}

#[tokio::test]
async fn percent_s_discovers_and_creates_collection_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("work.ics"), calendar(&[("w", "W")])).unwrap();
    std::fs::write(dir.path().join("home.ics"), calendar(&[("h", "H")])).unwrap();
    std::fs::write(dir.path().join(".hidden.ics"), calendar(&[("x", "X")])).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a calendar").unwrap();
    std::fs::create_dir(dir.path().join("folder.ics")).unwrap();
    let pattern = dir.path().join("%s.ics");
    let s = storage(&pattern);
    let found = s.discover().await.unwrap();
    let names: Vec<_> = found.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["home", "work"]);
    assert_eq!(Path::new(&found[1].href), dir.path().join("work.ics"));
    assert_eq!(uids(&s, &found[1]).await, ["w"]);
    assert_eq!(
        s.root_collection().await.unwrap_err().kind(),
        ErrorKind::Config
    );

    let created = s.create_collection("travel").await.unwrap();
    assert_eq!(created.name, "travel");
    assert!(dir.path().join("travel.ics").is_file());
    assert!(s.list(&created).await.unwrap().is_empty());
    s.upload(&created, &event("t", "T")).await.unwrap();
    assert_eq!(summaries(&dir.path().join("travel.ics")), ["T"]);
    for bad in ["", "../up", "a/b", ".hidden"] {
        assert_eq!(
            s.create_collection(bad).await.unwrap_err().kind(),
            ErrorKind::Config,
            "{bad:?}"
        );
    }
}

#[tokio::test]
async fn percent_s_outside_the_file_name_is_a_config_error() {
    for path in ["/tmp/%s/cal.ics", "/tmp/%s-%s.ics"] {
        let err = SingleFile::new(SingleFileOptions {
            path: path.into(),
            kind: ItemKind::Calendar,
        })
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{path}");
    }
}

#[tokio::test]
async fn contacts_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contacts.vcf");
    let s = SingleFile::new(SingleFileOptions {
        path: path.to_str().unwrap().into(),
        kind: ItemKind::Contacts,
    })
    .unwrap();
    let c = s.root_collection().await.unwrap();
    for (uid, name) in [("u1", "Ann"), ("u2", "Bob")] {
        let card = format!("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nEND:VCARD\r\n");
        s.upload(
            &c,
            &Item::parse(ItemKind::Contacts, card.into_bytes()).unwrap(),
        )
        .await
        .unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.matches("BEGIN:VCARD").count(), 2);
    let fresh = SingleFile::new(SingleFileOptions {
        path: path.to_str().unwrap().into(),
        kind: ItemKind::Contacts,
    })
    .unwrap();
    assert_eq!(fresh.list(&c).await.unwrap().len(), 2);
}

/// The listing sorted by href, and each item's normalized hash.
async fn snapshot(
    s: &SingleFile,
    c: &Collection,
) -> (Vec<davsync_storages::ItemRef>, Vec<(Href, String)>) {
    let mut refs = s.list(c).await.unwrap();
    refs.sort_by(|a, b| a.href.cmp(&b.href));
    let hrefs: Vec<Href> = refs.iter().map(|r| r.href.clone()).collect();
    let mut got = s.get_many(c, &hrefs).await.unwrap();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let hashes = got
        .into_iter()
        .map(|(h, r)| (h, r.unwrap().0.hash().to_string()))
        .collect();
    (refs, hashes)
}

/// Every corpus file that splits: rewriting it through singlefile keeps every item (same
/// hrefs, same normalized content), and once davsync has written the file, a further rewrite
/// leaves the untouched items' etags alone.
#[tokio::test]
async fn corpus_files_survive_rewrites() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/corpus");
    let mut checked = 0;
    for (sub, kind) in [("ics", ItemKind::Calendar), ("vcf", ItemKind::Contacts)] {
        let mut files: Vec<_> = std::fs::read_dir(corpus.join(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            let bytes = std::fs::read(&file).unwrap();
            let Ok(items) = davsync_storages::item::split(kind, &bytes) else {
                continue;
            };
            if items.is_empty() {
                continue;
            }
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(file.file_name().unwrap());
            std::fs::write(&path, &bytes).unwrap();
            let s = SingleFile::new(SingleFileOptions {
                path: path.to_str().unwrap().into(),
                kind,
            })
            .unwrap();
            let c = s.root_collection().await.unwrap();
            let (refs0, hashes0) = snapshot(&s, &c).await;
            // Rewrite the whole file by updating the first item with itself.
            let first = refs0[0].clone();
            let (item, _) = s.get(&c, &first.href).await.unwrap();
            s.update(&c, &first.href, &item, &first.etag).await.unwrap();
            let (refs1, hashes1) = snapshot(&s, &c).await;
            assert_eq!(hashes1, hashes0, "{}", file.display());
            // Once written by davsync, another rewrite keeps the other items' etags.
            let last = refs1.last().unwrap().clone();
            let (item, _) = s.get(&c, &last.href).await.unwrap();
            s.update(&c, &last.href, &item, &last.etag).await.unwrap();
            let (refs2, _) = snapshot(&s, &c).await;
            assert_eq!(refs2, refs1, "{}", file.display());
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} corpus files checked");
}

#[tokio::test]
async fn duplicate_uids_in_one_file_are_all_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contacts.vcf");
    let card = |name: &str| {
        format!("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:same\r\nFN:{name}\r\nEND:VCARD\r\n")
    };
    std::fs::write(&path, format!("{}{}", card("Ann"), card("Bob"))).unwrap();
    let s = SingleFile::new(SingleFileOptions {
        path: path.to_str().unwrap().into(),
        kind: ItemKind::Contacts,
    })
    .unwrap();
    let c = s.root_collection().await.unwrap();
    let refs = s.list(&c).await.unwrap();
    let hrefs: Vec<_> = refs.iter().map(|r| r.href.as_str()).collect();
    assert_eq!(hrefs, ["same", "same#2"]);
    // Rewriting for another item keeps both copies.
    let new = Item::parse(
        ItemKind::Contacts,
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:other\r\nFN:Cy\r\nEND:VCARD\r\n",
    )
    .unwrap();
    s.upload(&c, &new).await.unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("FN:Ann") && text.contains("FN:Bob") && text.contains("FN:Cy"));
}

#[tokio::test]
async fn leftover_temp_files_beside_the_file_go_with_its_next_reading() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cal.ics");
    std::fs::write(&path, calendar(&[("a", "one")])).unwrap();
    std::fs::write(dir.path().join(".davsync-killed.tmp"), "BEGIN:VCAL").unwrap();
    let s = storage(&path);
    let c = s.root_collection().await.unwrap();
    assert_eq!(uids(&s, &c).await, ["a"]);
    s.upload(&c, &event("b", "two")).await.unwrap();
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["cal.ics"]);
}
