//! Behaviour of the vdir backend on a real temporary folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use davsync_storages::vdir::{Vdir, VdirOptions};
use davsync_storages::wrappers::{DryRun, ReadOnly};
use davsync_storages::{Collection, ErrorKind, Etag, Href, Item, ItemKind, MetaKey, Storage};

fn event(uid: &str, summary: &str) -> Item {
    let text = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//davsync tests//EN\r\nBEGIN:VEVENT\r\n\
         UID:{uid}\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240102T100000Z\r\n\
         SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    Item::parse(ItemKind::Calendar, text.into_bytes()).unwrap()
}

fn vdir_at(path: &Path) -> Vdir {
    Vdir::new(VdirOptions {
        path: path.to_owned(),
        fileext: ".ics".into(),
        post_hook: None,
        kind: ItemKind::Calendar,
    })
    .unwrap()
}

async fn root(s: &Vdir) -> Collection {
    s.root_collection().await.unwrap()
}

/// Every entry of `dir`, names only, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Every file below `dir`, recursively.
fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(all_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn hostile_uids_stay_inside_folder_and_round_trip() {
    let outer = tempfile::tempdir().unwrap();
    let dir = outer.path().join("cal");
    std::fs::create_dir(&dir).unwrap();
    let s = vdir_at(&dir);
    let c = root(&s).await;
    let long = "x".repeat(300);
    let uids = [
        "plain-uid@example.com",
        "with/slash",
        "../../escape",
        "..",
        ".hidden",
        "back\\slash",
        "with space",
        "ünïcødé-✓",
        long.as_str(),
        "CON",
        "tab\tand\u{7}bell",
    ];
    for (i, uid) in uids.iter().enumerate() {
        let item = event(uid, &format!("event {i}"));
        let (href, _) = s.upload(&c, &item).await.unwrap();
        assert!(!href.as_str().starts_with('.'), "{uid:?} -> {href}");
        assert!(!href.as_str().contains('/') && !href.as_str().contains('\\'));
        assert!(href.as_str().len() < 255);
        assert_eq!(Some(href.clone()), s.preferred_href(uid));
        let (got, _) = s.get(&c, &href).await.unwrap();
        assert_eq!(got.uid(), Some(*uid));
        assert_eq!(got.raw(), item.raw());
    }
    // Nothing was written outside the collection folder, nothing hidden is left behind.
    assert_eq!(entries(outer.path()), vec!["cal"]);
    let files = all_files(outer.path());
    assert_eq!(files.len(), uids.len());
    for f in &files {
        assert_eq!(f.parent().unwrap(), dir);
        assert!(!f.file_name().unwrap().to_string_lossy().starts_with('.'));
    }
    let listed = s.list(&c).await.unwrap();
    assert_eq!(listed.len(), uids.len());
    assert!(listed
        .iter()
        .any(|r| r.href.as_str() == "plain-uid@example.com.ics"));
}

#[tokio::test]
async fn hidden_files_folders_and_other_extensions_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("a.ics"), event("a", "A").raw()).unwrap();
    std::fs::write(p.join(".b.ics"), event("b", "B").raw()).unwrap();
    std::fs::write(p.join("c.vcf"), event("c", "C").raw()).unwrap();
    std::fs::write(p.join("displayname"), "Work").unwrap();
    std::fs::create_dir(p.join(".git")).unwrap();
    std::fs::create_dir(p.join("folder.ics")).unwrap();
    std::fs::create_dir(p.join("sub")).unwrap();
    let s = vdir_at(p);
    let listed = s.list(&root(&s).await).await.unwrap();
    let hrefs: Vec<_> = listed.iter().map(|r| r.href.as_str()).collect();
    assert_eq!(hrefs, vec!["a.ics"]);
    let names: Vec<_> = s
        .discover()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, vec!["folder.ics", "sub"]);
}

#[tokio::test]
async fn discovered_collection_is_the_sub_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("work")).unwrap();
    let s = vdir_at(dir.path());
    let cols = s.discover().await.unwrap();
    assert_eq!(cols.len(), 1);
    assert_eq!(cols[0].name, "work");
    assert_eq!(Path::new(&cols[0].href), dir.path().join("work"));
    let root = s.root_collection().await.unwrap();
    assert_eq!(root.name, "");
    assert_eq!(Path::new(&root.href), dir.path());
}

#[tokio::test]
async fn etag_is_stable_until_the_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    let s = vdir_at(dir.path());
    let c = root(&s).await;
    let (href, etag) = s.upload(&c, &event("e", "one")).await.unwrap();
    let l1 = s.list(&c).await.unwrap();
    let l2 = s.list(&c).await.unwrap();
    assert_eq!(l1, l2);
    assert_eq!(l1[0].etag, etag);
    // Same size, different bytes.
    let etag2 = s
        .update(&c, &href, &event("e", "two"), &etag)
        .await
        .unwrap();
    assert_ne!(etag, etag2);
    assert_eq!(s.list(&c).await.unwrap()[0].etag, etag2);
    let (_, read_etag) = s.get(&c, &href).await.unwrap();
    assert_eq!(read_etag, etag2);
}

#[tokio::test]
async fn etag_changes_when_another_program_rewrites_the_file_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let s = vdir_at(dir.path());
    let c = root(&s).await;
    let (href, etag) = s.upload(&c, &event("e", "one")).await.unwrap();
    // An in-place rewrite of the same size keeps the inode: only the mtime tells.
    let path = dir.path().join(href.as_str());
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    drop(f);
    assert_ne!(s.list(&c).await.unwrap()[0].etag, etag);
}

#[tokio::test]
async fn stale_etag_fails_update_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let s = vdir_at(dir.path());
    let c = root(&s).await;
    let (href, old) = s.upload(&c, &event("e", "one")).await.unwrap();
    let new = s.update(&c, &href, &event("e", "two"), &old).await.unwrap();
    let err = s
        .update(&c, &href, &event("e", "three"), &old)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed);
    let err = s.delete(&c, &href, &old).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed);
    // Nothing was changed by the refused writes.
    let (got, _) = s.get(&c, &href).await.unwrap();
    assert_eq!(got.raw(), event("e", "two").raw());
    s.delete(&c, &href, &new).await.unwrap();
    assert!(s.list(&c).await.unwrap().is_empty());
    let err = s.delete(&c, &href, &new).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed);
}

#[tokio::test]
async fn upload_onto_an_existing_item_fails_with_already_exists() {
    let dir = tempfile::tempdir().unwrap();
    let s = vdir_at(dir.path());
    let c = root(&s).await;
    s.upload(&c, &event("e", "one")).await.unwrap();
    let err = s.upload(&c, &event("e", "other")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    let (got, _) = s.get(&c, &Href("e.ics".into())).await.unwrap();
    assert_eq!(got.raw(), event("e", "one").raw());
    assert_eq!(entries(dir.path()), vec!["e.ics"]);
}

#[tokio::test]
async fn name_taken_by_another_uid_falls_back_to_a_fresh_name() {
    let dir = tempfile::tempdir().unwrap();
    // A file named after UID "x" that holds UID "y" (another program named it freely).
    std::fs::write(dir.path().join("x.ics"), event("y", "squatter").raw()).unwrap();
    let s = vdir_at(dir.path());
    let c = root(&s).await;
    let (href, _) = s.upload(&c, &event("x", "real x")).await.unwrap();
    assert_ne!(href.as_str(), "x.ics");
    assert!(href.as_str().ends_with(".ics") && !href.as_str().starts_with('.'));
    let (got, _) = s.get(&c, &href).await.unwrap();
    assert_eq!(got.uid(), Some("x"));
    let (squatter, _) = s.get(&c, &Href("x.ics".into())).await.unwrap();
    assert_eq!(squatter.uid(), Some("y"));
}

#[tokio::test]
async fn malformed_file_fails_alone_naming_its_path_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let s = vdir_at(dir.path());
    let c = root(&s).await;
    s.upload(&c, &event("good", "fine")).await.unwrap();
    std::fs::write(dir.path().join("bad.ics"), "this is not a calendar\r\n").unwrap();
    let hrefs: Vec<Href> = s
        .list(&c)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.href)
        .collect();
    assert_eq!(hrefs.len(), 2);
    let fetched = s.get_many(&c, &hrefs).await.unwrap();
    assert_eq!(fetched.len(), 2);
    for (href, res) in fetched {
        match href.as_str() {
            "good.ics" => assert_eq!(res.unwrap().0.uid(), Some("good")),
            "bad.ics" => {
                let err = res.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::InvalidData);
                let bad = dir.path().join("bad.ics");
                let msg = err.to_string();
                assert!(msg.contains(&bad.display().to_string()), "{msg}");
                assert!(msg.contains("line 1"), "{msg}");
            }
            other => panic!("unexpected {other}"),
        }
    }
}

#[tokio::test]
async fn hrefs_that_could_escape_are_refused() {
    let outer = tempfile::tempdir().unwrap();
    let dir = outer.path().join("cal");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(outer.path().join("secret.ics"), event("s", "secret").raw()).unwrap();
    let s = vdir_at(&dir);
    let c = root(&s).await;
    for href in [
        "../secret.ics",
        "/etc/passwd.ics",
        ".hidden.ics",
        "",
        "x.txt",
    ] {
        let err = s.get(&c, &Href(href.into())).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{href}");
        let err = s
            .delete(&c, &Href(href.into()), &Etag("x".into()))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{href}");
    }
    assert!(outer.path().join("secret.ics").exists());
}

#[tokio::test]
async fn writes_leave_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let s = vdir_at(dir.path());
    let c = root(&s).await;
    let (href, etag) = s.upload(&c, &event("e", "one")).await.unwrap();
    s.update(&c, &href, &event("e", "two"), &etag)
        .await
        .unwrap();
    // A refused update must clean up its temporary file too.
    s.update(&c, &href, &event("e", "three"), &etag)
        .await
        .unwrap_err();
    s.set_meta(&c, MetaKey::Color, Some("#ff0000"))
        .await
        .unwrap();
    assert_eq!(entries(dir.path()), vec!["color", "e.ics"]);
}

#[tokio::test]
async fn missing_folder_lists_empty_and_is_created_on_first_write() {
    let outer = tempfile::tempdir().unwrap();
    let dir = outer.path().join("not").join("yet");
    let s = vdir_at(&dir);
    let c = root(&s).await;
    assert!(s.list(&c).await.unwrap().is_empty());
    assert!(s.discover().await.unwrap().is_empty());
    assert!(!dir.exists(), "reading must not create anything");
    s.upload(&c, &event("e", "one")).await.unwrap();
    assert_eq!(entries(&dir), vec!["e.ics"]);
}

#[cfg(unix)]
#[tokio::test]
async fn post_hook_receives_the_written_path() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join(".hook-log");
    let script = format!("echo \"$1\" >> '{}'", log.display());
    let s = Vdir::new(VdirOptions {
        path: dir.path().to_owned(),
        fileext: ".ics".into(),
        post_hook: Some(vec!["sh".into(), "-c".into(), script, "hook".into()]),
        kind: ItemKind::Calendar,
    })
    .unwrap();
    let c = root(&s).await;
    let (href, etag) = s.upload(&c, &event("e", "one")).await.unwrap();
    s.update(&c, &href, &event("e", "two"), &etag)
        .await
        .unwrap();
    let path = dir.path().join("e.ics").display().to_string();
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        format!("{path}\n{path}\n")
    );
}

#[tokio::test]
async fn failing_post_hook_does_not_fail_the_write() {
    let dir = tempfile::tempdir().unwrap();
    let s = Vdir::new(VdirOptions {
        path: dir.path().to_owned(),
        fileext: ".ics".into(),
        post_hook: Some(vec!["/nonexistent/davsync-hook".into()]),
        kind: ItemKind::Calendar,
    })
    .unwrap();
    let c = root(&s).await;
    s.upload(&c, &event("e", "one")).await.unwrap();
    assert_eq!(s.list(&c).await.unwrap().len(), 1);
}

#[tokio::test]
async fn metadata_lives_in_plain_files() {
    let dir = tempfile::tempdir().unwrap();
    let s = vdir_at(dir.path());
    let c = root(&s).await;
    assert_eq!(s.get_meta(&c, MetaKey::DisplayName).await.unwrap(), None);
    s.set_meta(&c, MetaKey::DisplayName, Some("Work stuff"))
        .await
        .unwrap();
    s.set_meta(&c, MetaKey::Order, Some("3")).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("displayname")).unwrap(),
        "Work stuff"
    );
    std::fs::write(dir.path().join("color"), "#00ff00\n").unwrap();
    assert_eq!(
        s.get_meta(&c, MetaKey::Color).await.unwrap().as_deref(),
        Some("#00ff00")
    );
    assert_eq!(
        s.get_meta(&c, MetaKey::Order).await.unwrap().as_deref(),
        Some("3")
    );
    s.set_meta(&c, MetaKey::DisplayName, None).await.unwrap();
    assert!(!dir.path().join("displayname").exists());
    assert_eq!(s.get_meta(&c, MetaKey::DisplayName).await.unwrap(), None);
}

#[tokio::test]
async fn collections_are_created_as_folders_and_deleted_only_when_empty() {
    let dir = tempfile::tempdir().unwrap();
    let s = vdir_at(dir.path());
    for bad in ["", ".", "..", ".hidden", "a/b", "../up", "a\\b"] {
        let err = s.create_collection(bad).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{bad:?}");
    }
    assert!(entries(dir.path()).is_empty());
    let c = s.create_collection("home").await.unwrap();
    assert_eq!(c.name, "home");
    assert!(dir.path().join("home").is_dir());
    s.set_meta(&c, MetaKey::Color, Some("red")).await.unwrap();
    let (href, etag) = s.upload(&c, &event("e", "one")).await.unwrap();
    let err = s.delete_collection(&c).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Refused);
    assert!(dir.path().join("home").join("e.ics").exists());
    s.delete(&c, &href, &etag).await.unwrap();
    s.delete_collection(&c).await.unwrap();
    assert!(!dir.path().join("home").exists());
}

#[tokio::test]
async fn read_only_wrapper_refuses_every_write() {
    let dir = tempfile::tempdir().unwrap();
    let inner = Arc::new(vdir_at(dir.path()));
    let c = root(&inner).await;
    let (href, etag) = inner.upload(&c, &event("e", "one")).await.unwrap();
    let before = std::fs::read(dir.path().join("e.ics")).unwrap();
    let s = ReadOnly::new(inner);
    assert!(s.read_only());
    assert_eq!(s.list(&c).await.unwrap().len(), 1);
    assert_eq!(s.get(&c, &href).await.unwrap().0.uid(), Some("e"));
    let kinds = [
        s.upload(&c, &event("f", "new")).await.unwrap_err().kind(),
        s.update(&c, &href, &event("e", "two"), &etag)
            .await
            .unwrap_err()
            .kind(),
        s.delete(&c, &href, &etag).await.unwrap_err().kind(),
        s.create_collection("x").await.unwrap_err().kind(),
        s.delete_collection(&c).await.unwrap_err().kind(),
        s.set_meta(&c, MetaKey::Color, Some("red"))
            .await
            .unwrap_err()
            .kind(),
    ];
    assert!(kinds.iter().all(|k| *k == ErrorKind::ReadOnly), "{kinds:?}");
    assert_eq!(entries(dir.path()), vec!["e.ics"]);
    assert_eq!(std::fs::read(dir.path().join("e.ics")).unwrap(), before);
}

#[tokio::test]
async fn dry_run_wrapper_changes_nothing_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let inner = Arc::new(vdir_at(dir.path()));
    let c = root(&inner).await;
    let (href, etag) = inner.upload(&c, &event("e", "one")).await.unwrap();
    let before = std::fs::read(dir.path().join("e.ics")).unwrap();
    let s = DryRun::new(inner);
    assert!(!s.read_only());
    let (new_href, new_etag) = s.upload(&c, &event("f/g", "new")).await.unwrap();
    assert_eq!(Some(new_href), s.preferred_href("f/g"));
    assert_eq!(new_etag, Etag("dry-run".into()));
    assert_eq!(
        s.update(&c, &href, &event("e", "two"), &etag)
            .await
            .unwrap(),
        Etag("dry-run".into())
    );
    s.delete(&c, &href, &etag).await.unwrap();
    s.set_meta(&c, MetaKey::Color, Some("red")).await.unwrap();
    let created = s.create_collection("new").await.unwrap();
    assert_eq!(created.name, "new");
    assert_eq!(Path::new(&created.href), dir.path().join("new"));
    assert_eq!(entries(dir.path()), vec!["e.ics"]);
    assert_eq!(std::fs::read(dir.path().join("e.ics")).unwrap(), before);
    assert_eq!(s.list(&c).await.unwrap()[0].etag, etag);
}

#[tokio::test]
async fn dry_run_over_read_only_still_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let inner: Arc<dyn Storage> = Arc::new(ReadOnly::new(Arc::new(vdir_at(dir.path()))));
    let s = DryRun::new(inner);
    let c = s.root_collection().await.unwrap();
    let err = s.upload(&c, &event("e", "one")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ReadOnly);
}

#[tokio::test]
async fn bad_fileext_is_a_config_error() {
    for ext in ["", "a/b"] {
        let err = Vdir::new(VdirOptions {
            path: "/tmp".into(),
            fileext: ext.into(),
            post_hook: None,
            kind: ItemKind::Calendar,
        })
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_uploads_of_one_uid_have_exactly_one_winner() {
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let s = Arc::new(vdir_at(dir.path()));
        let c = root(&s).await;
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let (s, c) = (s.clone(), c.clone());
                tokio::spawn(
                    async move { s.upload(&c, &event("race", &format!("writer {i}"))).await },
                )
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => ok += 1,
                Err(e) => assert_eq!(e.kind(), ErrorKind::AlreadyExists, "round {round}"),
            }
        }
        assert_eq!(ok, 1, "round {round}");
        assert_eq!(entries(dir.path()), vec!["race.ics"], "round {round}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn symlinked_item_files_are_followed() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("real.ics");
    std::fs::write(&target, event("linked", "L").raw()).unwrap();
    std::os::unix::fs::symlink(&target, dir.path().join("linked.ics")).unwrap();
    std::os::unix::fs::symlink(
        elsewhere.path().join("gone.ics"),
        dir.path().join("dangling.ics"),
    )
    .unwrap();
    let s = vdir_at(dir.path());
    let c = root(&s).await;
    let listed = s.list(&c).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].href.as_str(), "linked.ics");
    let (item, etag) = s.get(&c, &listed[0].href).await.unwrap();
    assert_eq!(item.uid(), Some("linked"));
    assert_eq!(etag, listed[0].etag);
}

proptest::proptest! {
    #[test]
    fn any_uid_gives_one_safe_file_name(uid in proptest::prelude::any::<String>()) {
        let s = vdir_at(Path::new("/nonexistent"));
        let href = s.preferred_href(&uid).unwrap();
        let name = href.as_str();
        proptest::prop_assert!(!name.starts_with('.'));
        proptest::prop_assert!(name.len() <= 255);
        proptest::prop_assert!(name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-+@".contains(&b)));
        proptest::prop_assert_eq!(Path::new(name).components().count(), 1);
        proptest::prop_assert_eq!(s.preferred_href(&uid).unwrap(), href.clone());
    }
}

#[tokio::test]
async fn leftover_temp_files_go_with_the_next_listing_and_writes_leave_none() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".davsync-killed.tmp"), "BEGIN:VCAL").unwrap();
    std::fs::write(dir.path().join(".hidden-by-user"), "kept").unwrap();
    let s = vdir_at(dir.path());
    let c = root(&s).await;
    assert!(s.list(&c).await.unwrap().is_empty());
    assert_eq!(entries(dir.path()), [".hidden-by-user"]);
    let (href, etag) = s.upload(&c, &event("e1", "one")).await.unwrap();
    let etag = s
        .update(&c, &href, &event("e1", "two"), &etag)
        .await
        .unwrap();
    s.set_meta(&c, MetaKey::Color, Some("#ff0000"))
        .await
        .unwrap();
    s.flush().await.unwrap();
    assert_eq!(entries(dir.path()), [".hidden-by-user", "color", "e1.ics"]);
    s.delete(&c, &href, &etag).await.unwrap();
    assert_eq!(entries(dir.path()), [".hidden-by-user", "color"]);
}
