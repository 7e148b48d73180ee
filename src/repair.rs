//! `davsync repair`: makes a collection syncable again.
//!
//! Sync keys everything by UID, so a collection must hold each UID once and every item must
//! have one. Repair walks one collection in href order and
//! - gives an item without a UID a fresh one (a random UUID);
//! - gives every later duplicate of a UID a fresh one (the first by href order keeps it);
//! - renames items whose href is not the one the storage would choose for their UID
//!   ([`Storage::preferred_href`], i.e. vdir files not named after their UID), so the file
//!   names are stable and predictable.
//!
//! A rename is an upload under the new name followed by a delete of the old one, the delete
//! conditional on the etag read, so an item edited meanwhile is never lost (at worst it
//! exists twice and the failure is reported). An item whose UID changes is moved to the
//! preferred href of its new UID the same way. Items whose hrefs are server paths
//! (CalDAV/CardDAV) are never renamed; a new UID is written there in place.
//!
//! Every change goes through `report` as one line; with `dry_run` the lines start with
//! `Would: ` and nothing is written. Failures (unreadable items,
//! refused writes) are logged with `tracing::error!` (shown on stderr even with `-q`) and
//! counted, and the rest of the collection is still repaired.

use crate::errors::render as chain;
use std::collections::HashSet;

use davsync_storages::{Collection, Etag, Href, Item, Storage};

use crate::trash::{Origin, Trash, Why};

/// How many items one `get_many` call reads.
const READ_BATCH: usize = 256;

/// What one repair run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepairOutcome {
    /// Changes made (or, in a dry run, that would be made).
    pub changes: usize,
    /// Items or requests that failed (each logged).
    pub failures: usize,
}

/// Repairs one collection of `storage`; see the module docs.
pub async fn repair(
    storage: &dyn Storage,
    collection: &Collection,
    storage_label: &str,
    dry_run: bool,
    report: &mut dyn FnMut(&str),
) -> RepairOutcome {
    repair_keeping(storage, collection, storage_label, dry_run, report, None).await
}

/// Where repair keeps the versions it replaces: the trash, and what it knows of the place.
pub struct Keeper<'t> {
    pub trash: &'t Trash,
    /// Pair, collection and storage; href, etag, UID and why are filled in per item.
    pub template: Origin,
}

impl Keeper<'_> {
    fn keep(&self, href: &Href, etag: &Etag, item: &Item, why: Why) -> Result<(), String> {
        let origin = Origin {
            href: href.clone(),
            etag: Some(etag.clone()),
            uid: item.ident().to_owned(),
            why,
            kind: item.kind(),
            ..self.template.clone()
        };
        self.trash
            .save(&origin, item.raw())
            .map(drop)
            .map_err(|e| format!("its current version could not be kept first: {e}"))
    }
}

/// [`repair`], keeping every version it overwrites or deletes with `keeper` first.
pub async fn repair_keeping(
    storage: &dyn Storage,
    collection: &Collection,
    storage_label: &str,
    dry_run: bool,
    report: &mut dyn FnMut(&str),
    keeper: Option<&Keeper<'_>>,
) -> RepairOutcome {
    let location = if collection.name.is_empty() {
        storage_label.to_owned()
    } else {
        format!("{storage_label}/{}", collection.name)
    };
    let mut out = RepairOutcome::default();

    let mut refs = match storage.list(collection).await {
        Ok(r) => r,
        Err(e) => {
            fail(
                &mut out,
                format!("Listing {location} failed: {}", chain(&e)),
            );
            return out;
        }
    };
    refs.sort_by(|a, b| a.href.cmp(&b.href));
    let listed: HashSet<Href> = refs.iter().map(|r| r.href.clone()).collect();

    let mut items: Vec<(Href, Item, Etag)> = Vec::with_capacity(refs.len());
    for chunk in refs.chunks(READ_BATCH) {
        let hrefs: Vec<Href> = chunk.iter().map(|r| r.href.clone()).collect();
        match storage.get_many(collection, &hrefs).await {
            Ok(fetched) => {
                for (href, res) in fetched {
                    match res {
                        Ok((item, etag)) => items.push((href, item, etag)),
                        Err(e) => fail(
                            &mut out,
                            format!("Reading item {href} in {location} failed: {}", chain(&e)),
                        ),
                    }
                }
            }
            Err(e) => fail(
                &mut out,
                format!("Reading items of {location} failed: {}", chain(&e)),
            ),
        }
    }
    items.sort_by(|a, b| a.0.cmp(&b.0));

    let prefix = if dry_run { "Would: " } else { "" };
    let mut seen: HashSet<String> = HashSet::new();
    for (href, item, etag) in items {
        let keeps_uid = match item.uid() {
            Some(uid) => seen.insert(uid.to_owned()),
            None => false,
        };
        if !keeps_uid {
            let new_uid = uuid::Uuid::new_v4().to_string();
            report(&format!(
                "{prefix}Giving item {href} a new UID {new_uid} in {location}"
            ));
            out.changes += 1;
            if dry_run {
                continue;
            }
            let fixed = item.with_uid(&new_uid);
            let res = match named_target(storage, &href, &new_uid) {
                Some(target) if target != href => move_item(
                    storage, collection, &href, &etag, &item, &fixed, &target, keeper,
                )
                .await
                .map(|_| ()),
                _ => match keeper.map_or(Ok(()), |k| k.keep(&href, &etag, &item, Why::Overwritten))
                {
                    Ok(()) => storage
                        .update(collection, &href, &fixed, &etag)
                        .await
                        .map(|_| ())
                        .map_err(|e| chain(&e)),
                    Err(e) => Err(e),
                },
            };
            if let Err(e) = res {
                fail(
                    &mut out,
                    format!("Giving item {href} in {location} a new UID failed: {e}"),
                );
            }
            continue;
        }

        let uid = item.uid().unwrap_or_default();
        let Some(target) = named_target(storage, &href, uid) else {
            continue;
        };
        if target == href {
            continue;
        }
        if listed.contains(&target) {
            // Another item sits under this UID's name (a misnamed file of its own); renaming
            // onto it is impossible, and the upload would only pick another random name.
            tracing::warn!(
                "Not renaming {href} to {target} in {location}: that name is taken by another item"
            );
            continue;
        }
        report(&format!(
            "{prefix}Renaming {href} to {target} in {location}"
        ));
        out.changes += 1;
        if dry_run {
            continue;
        }
        if let Err(e) = move_item(
            storage, collection, &href, &etag, &item, &item, &target, keeper,
        )
        .await
        {
            fail(
                &mut out,
                format!("Renaming {href} to {target} in {location} failed: {e}"),
            );
        }
    }
    if !dry_run && out.changes > 0 {
        if let Err(e) = storage.flush().await {
            fail(
                &mut out,
                format!(
                    "Making the changes to {location} durable failed: {}",
                    chain(&e)
                ),
            );
        }
    }
    out
}

/// Where an item with `uid` belongs, for storages that name their items after UIDs inside
/// the collection (vdir files, singlefile keys): hrefs without a `/`. Hrefs that are server
/// paths (CalDAV/CardDAV) are never moved: other clients know the items by them, and the
/// interface promises renames of vdir files only.
fn named_target(storage: &dyn Storage, href: &Href, uid: &str) -> Option<Href> {
    if href.as_str().contains('/') {
        return None;
    }
    storage.preferred_href(uid)
}

/// Stores `item` under `target` and deletes `href` (if still at `etag`). When the storage
/// could not use `target` (it picked another name because `target` is taken), the copy is
/// removed again and the item stays where it was.
/// `old` is the version at `href` (kept with `keeper` before it is deleted), `item` what goes
/// to `target`.
#[allow(clippy::too_many_arguments)]
async fn move_item(
    storage: &dyn Storage,
    collection: &Collection,
    href: &Href,
    etag: &Etag,
    old: &Item,
    item: &Item,
    target: &Href,
    keeper: Option<&Keeper<'_>>,
) -> Result<Href, String> {
    let e = |e: davsync_storages::Error| chain(&e);
    let (new_href, new_etag) = storage.upload(collection, item).await.map_err(e)?;
    if &new_href != target {
        storage
            .delete(collection, &new_href, &new_etag)
            .await
            .map_err(e)?;
        return Err(chain(&davsync_storages::Error::new(
            davsync_storages::ErrorKind::AlreadyExists,
            target.to_string(),
        )));
    }
    // The copy must be durable before the original goes, or a power loss could take both.
    storage.flush().await.map_err(e)?;
    if let Some(k) = keeper {
        k.keep(href, etag, old, Why::Deleted)?;
    }
    // If the item changed meanwhile this fails: both copies stay rather than lose the edit,
    // and the caller reports it.
    storage.delete(collection, href, etag).await.map_err(e)?;
    Ok(new_href)
}

fn fail(out: &mut RepairOutcome, msg: String) {
    tracing::error!("{msg}");
    out.failures += 1;
}

/// The error with its sources, each once.
#[cfg(test)]
mod tests {
    use std::path::Path;

    use davsync_storages::vdir::{Vdir, VdirOptions};
    use davsync_storages::{ItemKind, Storage};

    use super::*;

    fn ics(uid: Option<&str>, summary: &str) -> String {
        let uid_line = uid.map(|u| format!("UID:{u}\r\n")).unwrap_or_default();
        format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//davsync tests//EN\r\nBEGIN:VEVENT\r\n\
             {uid_line}DTSTAMP:20240101T000000Z\r\nDTSTART:20240102T100000Z\r\n\
             SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        )
    }

    fn vdir(path: &Path) -> Vdir {
        Vdir::new(VdirOptions {
            path: path.to_owned(),
            fileext: ".ics".into(),
            post_hook: None,
            kind: ItemKind::Calendar,
        })
        .unwrap()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    /// Every file of the folder with its content.
    fn snapshot(dir: &Path) -> Vec<(String, String)> {
        names(dir)
            .into_iter()
            .map(|n| {
                let text = std::fs::read_to_string(dir.join(&n)).unwrap();
                (n, text)
            })
            .collect()
    }

    async fn run(s: &Vdir, dry_run: bool) -> (RepairOutcome, Vec<String>) {
        let c = s.root_collection().await.unwrap();
        let mut lines = Vec::new();
        let out = repair(s, &c, "cal_local", dry_run, &mut |l| {
            lines.push(l.to_owned())
        })
        .await;
        (out, lines)
    }

    /// Lines with the random UIDs replaced by `<uid>`.
    fn masked(lines: &[String]) -> Vec<String> {
        lines
            .iter()
            .map(|l| match l.find(" a new UID ") {
                Some(i) => {
                    let rest = &l[i + " a new UID ".len()..];
                    let end = rest.find(' ').unwrap();
                    format!("{}<uid>{}", &l[..i + " a new UID ".len()], &rest[end..])
                }
                None => l.clone(),
            })
            .collect()
    }

    #[tokio::test]
    async fn item_without_uid_gets_a_fresh_one_and_a_matching_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("nouid.ics"), ics(None, "no uid")).unwrap();
        let s = vdir(dir.path());
        let (out, lines) = run(&s, false).await;
        assert_eq!(
            masked(&lines),
            ["Giving item nouid.ics a new UID <uid> in cal_local"]
        );
        assert_eq!(
            out,
            RepairOutcome {
                changes: 1,
                failures: 0
            }
        );
        let files = names(dir.path());
        assert_eq!(files.len(), 1);
        let text = std::fs::read_to_string(dir.path().join(&files[0])).unwrap();
        let item = Item::parse(ItemKind::Calendar, text.into_bytes()).unwrap();
        let uid = item.uid().expect("a UID now");
        assert_eq!(files[0], format!("{uid}.ics"));
        assert!(lines[0].contains(uid));
        assert!(String::from_utf8_lossy(item.raw()).contains("SUMMARY:no uid"));
        // Nothing left to do.
        assert_eq!(run(&s, false).await.0, RepairOutcome::default());
    }

    #[tokio::test]
    async fn duplicate_uids_keep_the_first_by_href() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("dup.ics"), ics(Some("dup"), "first")).unwrap();
        std::fs::write(dir.path().join("other-1.ics"), ics(Some("dup"), "second")).unwrap();
        let s = vdir(dir.path());
        let (out, lines) = run(&s, false).await;
        assert_eq!(
            masked(&lines),
            ["Giving item other-1.ics a new UID <uid> in cal_local"]
        );
        assert_eq!(out.changes, 1);
        assert_eq!(out.failures, 0);
        let c = s.root_collection().await.unwrap();
        let refs = s.list(&c).await.unwrap();
        assert_eq!(refs.len(), 2);
        let mut uids = HashSet::new();
        for r in refs {
            let (item, _) = s.get(&c, &r.href).await.unwrap();
            let uid = item.uid().unwrap().to_owned();
            assert_eq!(r.href.as_str(), format!("{uid}.ics"));
            if uid == "dup" {
                assert!(String::from_utf8_lossy(item.raw()).contains("SUMMARY:first"));
            }
            uids.insert(uid);
        }
        assert_eq!(uids.len(), 2);
    }

    #[tokio::test]
    async fn misnamed_files_are_renamed_after_their_uid() {
        let dir = tempfile::tempdir().unwrap();
        let content = ics(Some("real-uid"), "misnamed");
        std::fs::write(dir.path().join("random-name.ics"), &content).unwrap();
        std::fs::write(dir.path().join("slash.ics"), ics(Some("a/b"), "hashed")).unwrap();
        std::fs::write(dir.path().join("ok.ics"), ics(Some("ok"), "fine")).unwrap();
        let s = vdir(dir.path());
        let hashed = s.preferred_href("a/b").unwrap();
        let (out, lines) = run(&s, false).await;
        assert_eq!(
            lines,
            [
                "Renaming random-name.ics to real-uid.ics in cal_local".to_owned(),
                format!("Renaming slash.ics to {hashed} in cal_local"),
            ]
        );
        assert_eq!(
            out,
            RepairOutcome {
                changes: 2,
                failures: 0
            }
        );
        let mut expected = vec![
            "ok.ics".to_owned(),
            "real-uid.ics".to_owned(),
            hashed.to_string(),
        ];
        expected.sort();
        assert_eq!(names(dir.path()), expected);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("real-uid.ics")).unwrap(),
            content
        );
    }

    #[tokio::test]
    async fn collection_name_appears_in_the_lines() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("work")).unwrap();
        std::fs::write(dir.path().join("work").join("x.ics"), ics(Some("y"), "s")).unwrap();
        let s = vdir(dir.path());
        let c = s.discover().await.unwrap().remove(0);
        let mut lines = Vec::new();
        repair(&s, &c, "cal_local", false, &mut |l| {
            lines.push(l.to_owned())
        })
        .await;
        assert_eq!(lines, ["Renaming x.ics to y.ics in cal_local/work"]);
    }

    #[tokio::test]
    async fn dry_run_prints_the_same_changes_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("nouid.ics"), ics(None, "no uid")).unwrap();
        std::fs::write(dir.path().join("a.ics"), ics(Some("a"), "first")).unwrap();
        std::fs::write(dir.path().join("b.ics"), ics(Some("a"), "second")).unwrap();
        std::fs::write(dir.path().join("misnamed.ics"), ics(Some("m"), "m")).unwrap();
        let before = snapshot(dir.path());
        let s = vdir(dir.path());
        let (out, lines) = run(&s, true).await;
        assert_eq!(
            masked(&lines),
            [
                "Would: Giving item b.ics a new UID <uid> in cal_local",
                "Would: Renaming misnamed.ics to m.ics in cal_local",
                "Would: Giving item nouid.ics a new UID <uid> in cal_local",
            ]
        );
        assert_eq!(
            out,
            RepairOutcome {
                changes: 3,
                failures: 0
            }
        );
        assert_eq!(snapshot(dir.path()), before);
        // The real run makes the same changes.
        let (real, real_lines) = run(&s, false).await;
        assert_eq!(real.changes, 3);
        assert_eq!(
            masked(&real_lines),
            masked(&lines)
                .iter()
                .map(|l| l.trim_start_matches("Would: ").to_owned())
                .collect::<Vec<_>>()
        );
    }

    #[tokio::test]
    async fn malformed_file_is_a_failure_and_the_rest_is_repaired() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("broken.ics"), "garbage\r\n").unwrap();
        std::fs::write(dir.path().join("x.ics"), ics(Some("y"), "s")).unwrap();
        let s = vdir(dir.path());
        let (out, lines) = run(&s, false).await;
        assert_eq!(lines, ["Renaming x.ics to y.ics in cal_local"]);
        assert_eq!(
            out,
            RepairOutcome {
                changes: 1,
                failures: 1
            }
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("broken.ics")).unwrap(),
            "garbage\r\n"
        );
    }

    #[tokio::test]
    async fn rename_onto_a_name_taken_by_another_item_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        // x.ics holds y, y.ics holds x: neither can move first.
        std::fs::write(dir.path().join("x.ics"), ics(Some("y"), "holds y")).unwrap();
        std::fs::write(dir.path().join("y.ics"), ics(Some("x"), "holds x")).unwrap();
        let before = snapshot(dir.path());
        let s = vdir(dir.path());
        let (out, lines) = run(&s, false).await;
        assert!(lines.is_empty(), "{lines:?}");
        assert_eq!(out, RepairOutcome::default());
        assert_eq!(snapshot(dir.path()), before);
    }

    #[tokio::test]
    async fn server_paths_are_never_renamed_and_new_uids_are_written_in_place() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("nouid.ics"), ics(None, "no uid")).unwrap();
        std::fs::write(dir.path().join("server-name.ics"), ics(Some("x"), "x")).unwrap();
        let s = crate::test_support::PathHrefs(std::sync::Arc::new(vdir(dir.path())));
        let c = s.root_collection().await.unwrap();
        let mut lines = Vec::new();
        let out = repair(&s, &c, "dav", false, &mut |l| lines.push(l.to_owned())).await;
        assert_eq!(
            masked(&lines),
            ["Giving item /dav/nouid.ics a new UID <uid> in dav"]
        );
        assert_eq!(
            out,
            RepairOutcome {
                changes: 1,
                failures: 0
            }
        );
        assert_eq!(names(dir.path()), ["nouid.ics", "server-name.ics"]);
        let text = std::fs::read_to_string(dir.path().join("nouid.ics")).unwrap();
        let item = Item::parse(ItemKind::Calendar, text.into_bytes()).unwrap();
        assert!(lines[0].contains(item.uid().expect("a UID now")));
    }
}
