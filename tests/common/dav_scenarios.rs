//! Scenarios run against every real server (tests/servers_conformance.rs calls them per
//! server kind).
//!
//! Changes made "on the server" by another client are made by davsync itself through a second
//! pair (`other` vdir <-> the same server collection), as a second device would: servers may
//! re-serialize what they store, so contents are compared by UID and edited property, not
//! byte for byte, once an item went through a server.

use std::path::Path;

use super::servers::{Coll, DavServer, ServerKind};
use super::{edit_line, items_by_uid, toml_path, write_cards, write_events, Sandbox};

pub fn vdir_section(name: &str, path: &Path, coll: Coll) -> String {
    format!(
        "[storage.{name}]\ntype = \"vdir\"\npath = {}\nfileext = \"{}\"\n\n",
        toml_path(path),
        coll.fileext()
    )
}

/// The property tests edit: SUMMARY for events, FN for cards.
fn edited_prop(coll: Coll) -> &'static str {
    match coll {
        Coll::Calendar => "SUMMARY",
        Coll::AddressBook => "FN",
    }
}

fn write_items(coll: Coll, dir: &Path, prefix: &str, n: usize) -> Vec<String> {
    match coll {
        Coll::Calendar => write_events(dir, prefix, n),
        Coll::AddressBook => write_cards(dir, prefix, n),
    }
}

/// The value of a property in an item's text (unfolded lines only; enough for generated
/// items and for what servers send back of them).
pub fn prop_value(text: &str, prop: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{prop}:")))
        .map(|v| v.trim_end().to_owned())
}

/// Create, update, delete and conflict between a vdir and one server collection, both ways.
pub fn vdir_and_server_sync_both_ways(kind: ServerKind, coll: Coll) {
    let Some(server) = DavServer::start(kind) else {
        return;
    };
    let sb = Sandbox::new();
    let name = server.default_collection(coll);
    server.create_collection(coll, name, None);
    let url = server.collection_url(coll, name);
    let local = sb.mkdir("local");
    let other = sb.mkdir("other");
    let prop = edited_prop(coll);
    let ext = coll.fileext();
    sb.write_config(&format!(
        "{}{}{}\
         [pair.main]\na = \"local\"\nb = \"remote\"\nconflict_resolution = \"a wins\"\n\n\
         [pair.second]\na = \"other\"\nb = \"remote\"\n",
        vdir_section("local", &local, coll),
        vdir_section("other", &other, coll),
        server.storage_section("remote", coll, &url, ""),
    ));

    // Create on a, upload to the server.
    let uids = write_items(coll, &local, "it", 3);
    let run = sb.run(&["sync", "main"]);
    run.assert_ok().assert_changes(
        &uids
            .iter()
            .map(|u| format!("Copying (uploading) item {u} to remote"))
            .collect::<Vec<_>>(),
    );
    sb.run(&["sync", "main"]).assert_no_change();

    // Another client downloads them.
    sb.run(&["sync", "second"]).assert_ok().assert_changes(
        &uids
            .iter()
            .map(|u| format!("Copying (uploading) item {u} to other"))
            .collect::<Vec<_>>(),
    );
    let seen = items_by_uid(&other, ext);
    assert_eq!(seen.keys().cloned().collect::<Vec<_>>(), {
        let mut u = uids.clone();
        u.sort();
        u
    });

    // Update on the server (through the other client), download to a.
    let target = &uids[1];
    let path = other.join(format!("{target}{ext}"));
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, edit_line(&text, prop, "Edited remotely")).unwrap();
    sb.run(&["sync", "second"])
        .assert_ok()
        .assert_changes(&[format!("Copying (updating) item {target} to remote")]);
    sb.run(&["sync", "main"])
        .assert_ok()
        .assert_changes(&[format!("Copying (updating) item {target} to local")]);
    let got = items_by_uid(&local, ext);
    assert_eq!(
        prop_value(&got[target], prop).as_deref(),
        Some("Edited remotely")
    );

    // Update on a, upload.
    let path = local.join(format!("{}{ext}", uids[2]));
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, edit_line(&text, prop, "Edited locally")).unwrap();
    sb.run(&["sync", "main"])
        .assert_ok()
        .assert_changes(&[format!("Copying (updating) item {} to remote", uids[2])]);

    // Delete on a, the server follows, and so does the other client.
    std::fs::remove_file(local.join(format!("{}{ext}", uids[0]))).unwrap();
    sb.run(&["sync", "main"])
        .assert_ok()
        .assert_changes(&[format!("Deleting item {} from remote", uids[0])]);
    sb.run(&["sync", "second"]).assert_ok().assert_changes(&[
        format!("Deleting item {} from other", uids[0]),
        format!("Copying (updating) item {} to other", uids[2]),
    ]);
    let seen = items_by_uid(&other, ext);
    assert!(!seen.contains_key(&uids[0]));
    assert_eq!(
        prop_value(&seen[&uids[2]], prop).as_deref(),
        Some("Edited locally")
    );

    // Delete on the server (through the other client), a follows.
    std::fs::remove_file(other.join(format!("{}{ext}", uids[1]))).unwrap();
    sb.run(&["sync", "second"])
        .assert_ok()
        .assert_changes(&[format!("Deleting item {} from remote", uids[1])]);
    sb.run(&["sync", "main"])
        .assert_ok()
        .assert_changes(&[format!("Deleting item {} from local", uids[1])]);

    // Conflict: both sides edit the same item; "a wins" keeps a's version everywhere.
    let c = &uids[2];
    let lp = local.join(format!("{c}{ext}"));
    let op = other.join(format!("{c}{ext}"));
    let t = std::fs::read_to_string(&lp).unwrap();
    std::fs::write(&lp, edit_line(&t, prop, "Mine")).unwrap();
    let t = std::fs::read_to_string(&op).unwrap();
    std::fs::write(&op, edit_line(&t, prop, "Theirs")).unwrap();
    sb.run(&["sync", "second"])
        .assert_ok()
        .assert_changes(&[format!("Copying (updating) item {c} to remote")]);
    let run = sb.run(&["sync", "main"]);
    run.assert_ok();
    let changes = run.change_lines();
    let conflict = format!("Conflict: item {c} in main resolved by \"a wins\"");
    assert!(changes.contains(&conflict), "{}", run.dump());
    for l in &changes {
        assert!(
            *l == conflict || *l == format!("Copying (updating) item {c} to remote"),
            "unexpected change line {l:?}\n{}",
            run.dump()
        );
    }
    assert_eq!(
        prop_value(&items_by_uid(&local, ext)[c], prop).as_deref(),
        Some("Mine")
    );
    sb.run(&["sync", "main"]).assert_no_change();
    sb.run(&["sync", "second"])
        .assert_ok()
        .assert_changes(&[format!("Copying (updating) item {c} to other")]);
    assert_eq!(
        prop_value(&items_by_uid(&other, ext)[c], prop).as_deref(),
        Some("Mine")
    );
    sb.run(&["sync"]).assert_no_change();
}

/// `discover` and `sync` with `url` at the server root: davsync follows `/.well-known/`,
/// `current-user-principal` and the home set, and pairs collections by name.
pub fn discovery_from_server_root(kind: ServerKind, coll: Coll) {
    discovery_from(kind, coll, "");
}

/// [`discovery_from_server_root`] starting at `path` under the root instead.
pub fn discovery_from(kind: ServerKind, coll: Coll, path: &str) {
    let Some(server) = DavServer::start(kind) else {
        return;
    };
    let sb = Sandbox::new();
    server.create_collection(coll, "work", Some("Work"));
    let expected: Vec<String> = server.collection_names(coll);
    assert!(expected.contains(&"work".to_owned()), "{expected:?}");
    let parent = sb.mkdir("local");
    sb.write_config(&format!(
        "{}{}[pair.p]\na = \"local\"\nb = \"remote\"\ncollections = [\"from b\"]\n",
        vdir_section("local", &parent, coll),
        server.storage_section("remote", coll, &format!("{}{path}", server.root_url()), ""),
    ));
    let run = sb.run(&["discover"]);
    run.assert_ok();
    for name in &expected {
        // The pairing line names the collection and ends in "(created)"; a change line
        // `Creating collection <name> on local` may come with it.
        assert!(
            run.stdout.lines().any(|l| l.contains(name.as_str())
                && !l.starts_with("Creating collection")
                && l.trim_end().ends_with("(created)")),
            "discover should list {name} as created on local\n{}",
            run.dump()
        );
        assert!(parent.join(name).is_dir(), "{name} folder missing");
    }
    // Nothing else was created locally.
    let mut local_names: Vec<String> = std::fs::read_dir(&parent)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    local_names.sort();
    assert_eq!(local_names, expected);

    let run = sb.run(&["discover"]);
    run.assert_ok();
    assert!(
        !run.stdout.contains("(created)"),
        "second discover creates nothing\n{}",
        run.dump()
    );
    for name in &expected {
        assert!(run.stdout.contains(name.as_str()), "{}", run.dump());
    }
    sb.run(&["sync"]).assert_no_change();
}

/// `collections = ["from a", "from b"]`: each side's collections are created on the other
/// (MKCALENDAR / extended MKCOL on the server, folders locally) and their items copied.
pub fn collections_created_both_ways(kind: ServerKind, coll: Coll) {
    let Some(server) = DavServer::start(kind) else {
        return;
    };
    let sb = Sandbox::new();
    let ext = coll.fileext();
    server.create_collection(coll, "remote-one", None);
    let parent = sb.mkdir("local");
    let local_uids = write_items(coll, &parent.join("local-one"), "loc", 2);
    sb.write_config(&format!(
        "{}{}[pair.p]\na = \"local\"\nb = \"remote\"\ncollections = [\"from a\", \"from b\"]\n",
        vdir_section("local", &parent, coll),
        server.storage_section("remote", coll, &server.home_url(coll), ""),
    ));
    let remote_before = server.collection_names(coll);
    let run = sb.run(&["sync"]);
    run.assert_ok();
    let mut expected: Vec<String> = remote_before
        .iter()
        .map(|n| format!("Creating collection {n} on local"))
        .collect();
    expected.push("Creating collection local-one on remote".to_owned());
    expected.extend(
        local_uids
            .iter()
            .map(|u| format!("Copying (uploading) item {u} to remote/local-one")),
    );
    run.assert_changes(&expected);
    let mut after = remote_before.clone();
    after.push("local-one".to_owned());
    after.sort();
    assert_eq!(server.collection_names(coll), after);
    for n in &remote_before {
        assert!(parent.join(n).is_dir(), "{n} not created locally");
    }
    sb.run(&["sync"]).assert_no_change();

    // The created collection round-trips: a second client sees the items in it.
    let check = sb.mkdir("check");
    sb.write_config(&format!(
        "{}{}{}\
         [pair.p]\na = \"local\"\nb = \"remote\"\ncollections = [\"from a\", \"from b\"]\n\n\
         [pair.q]\na = \"check\"\nb = \"remote\"\ncollections = [\"local-one\"]\n",
        vdir_section("local", &parent, coll),
        vdir_section("check", &check, coll),
        server.storage_section("remote", coll, &server.home_url(coll), ""),
    ));
    let run = sb.run(&["sync", "q"]);
    run.assert_ok();
    let got = items_by_uid(&check.join("local-one"), ext);
    let mut want = local_uids.clone();
    want.sort();
    assert_eq!(
        got.keys().cloned().collect::<Vec<_>>(),
        want,
        "{}",
        run.dump()
    );
}

fn read_meta(dir: &Path, key: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(key))
        .ok()
        .map(|s| s.trim_end().to_owned())
}

/// `metasync` copies displayname and color from the vdir to the server and back.
///
/// Both pairs resolve conflicts with `"a wins"` (the vdir): a server may report a value of its
/// own for a property nobody set (Radicale answers the collection's path as displayname), so
/// the first metasync is a conflict the vdir must win. The way back then relies on the
/// metadata status: only the server's value changed since the last metasync, so it is copied
/// without a conflict, as vdirsyncer does.
pub fn metasync_both_ways(kind: ServerKind) {
    let Some(server) = DavServer::start(kind) else {
        return;
    };
    let coll = Coll::Calendar;
    let sb = Sandbox::new();
    let parent = sb.mkdir("local");
    let other = sb.mkdir("other");
    let home = parent.join("meta");
    write_events(&home, "m", 1);
    std::fs::write(home.join("displayname"), "Family").unwrap();
    std::fs::write(home.join("color"), "#FF8800").unwrap();
    sb.write_config(&format!(
        "{}{}{}\
         [pair.p]\na = \"local\"\nb = \"remote\"\ncollections = [\"from a\"]\n\
         metadata = [\"displayname\", \"color\"]\nconflict_resolution = \"a wins\"\n\n\
         [pair.q]\na = \"other\"\nb = \"remote\"\ncollections = [\"meta\"]\n\
         metadata = [\"displayname\", \"color\"]\nconflict_resolution = \"a wins\"\n",
        vdir_section("local", &parent, coll),
        vdir_section("other", &other, coll),
        server.storage_section("remote", coll, &server.home_url(coll), ""),
    ));
    sb.run(&["sync", "p"]).assert_ok();
    let run = sb.run(&["metasync", "p"]);
    run.assert_ok();
    // The second client sees the server's properties.
    sb.run(&["sync", "q"]).assert_ok();
    let run = sb.run(&["metasync", "q"]);
    run.assert_ok();
    let o = other.join("meta");
    assert_eq!(
        read_meta(&o, "displayname").as_deref(),
        Some("Family"),
        "{}",
        run.dump()
    );
    let color = read_meta(&o, "color").unwrap_or_default();
    assert!(
        color.eq_ignore_ascii_case("#FF8800") || color.eq_ignore_ascii_case("#FF8800FF"),
        "color went through the server as {color:?}"
    );

    // Changed on the server (by the second client), back to the first vdir.
    std::fs::write(o.join("displayname"), "Family and friends").unwrap();
    std::fs::write(o.join("color"), "#00AA00").unwrap();
    sb.run(&["metasync", "q"]).assert_ok();
    let run = sb.run(&["metasync", "p"]);
    run.assert_ok();
    assert_eq!(
        read_meta(&home, "displayname").as_deref(),
        Some("Family and friends"),
        "{}",
        run.dump()
    );
    let color = read_meta(&home, "color").unwrap_or_default();
    assert!(
        color.eq_ignore_ascii_case("#00AA00") || color.eq_ignore_ascii_case("#00AA00FF"),
        "color came back as {color:?}"
    );
}

/// A 1,000-event collection: loaded into the server, downloaded by the initial sync (one
/// change line per item), then a second sync changes nothing and one local edit makes
/// exactly one change. (Uploads of many items are covered by the kill -9 tests.)
pub fn thousand_events(kind: ServerKind) {
    let Some(mut server) = DavServer::start(kind) else {
        return;
    };
    let coll = Coll::Calendar;
    let sb = Sandbox::new();
    let n = 1000;
    let local = sb.mkdir("local");
    let name = server.default_collection(coll);
    server.create_collection(coll, name, None);
    let url = server.collection_url(coll, name);
    sb.write_config(&format!(
        "{}{}[pair.big]\na = \"local\"\nb = \"remote\"\n",
        vdir_section("local", &local, coll),
        server.storage_section("remote", coll, &url, ""),
    ));
    let uids = server.load_items(coll, name, |dir| write_events(dir, "bulk", n));
    let run = sb.run(&["sync"]);
    run.assert_ok().assert_changes(
        &uids
            .iter()
            .map(|u| format!("Copying (uploading) item {u} to local"))
            .collect::<Vec<_>>(),
    );
    let got = items_by_uid(&local, ".ics");
    assert_eq!(got.len(), n);
    sb.run(&["sync"]).assert_no_change();

    let p = local.join(format!("{}.ics", uids[500]));
    let t = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, edit_line(&t, "SUMMARY", "Moved")).unwrap();
    sb.run(&["sync"])
        .assert_ok()
        .assert_changes(&[format!("Copying (updating) item {} to remote", uids[500])]);
    sb.run(&["sync"]).assert_no_change();
}
