//! Fixes from a new user's trial: mistakes that used to pass silently or with a misleading
//! message.

use crate::common;

use common::{toml_path, Sandbox};

#[test]
fn a_vdir_or_singlefile_path_in_a_missing_folder_is_an_error_naming_the_key() {
    let sb = Sandbox::new();
    let missing = sb.path("no-such-dir/cals");
    let file = sb.path("gone/one.ics");
    sb.write_config(&format!(
        "[storage.a]\ntype = \"vdir\"\npath = {}\nfileext = \".ics\"\n\n\
         [storage.b]\ntype = \"singlefile\"\npath = {}\n\n\
         [pair.p]\na = \"a\"\nb = \"b\"\n",
        toml_path(&missing),
        toml_path(&file)
    ));
    let run = sb.run(&["sync"]);
    assert_eq!(run.code, 2, "{}", run.dump());
    assert_eq!(run.stdout, "");
    let cfg = sb.config_path();
    let first = format!(
        "error: storage.a.path: {}: the folder {} does not exist (a typo? if the path is \
         right, create that folder first)\n --> {}:6:8\n",
        missing.display(),
        sb.path("no-such-dir").display(),
        cfg.display()
    );
    assert!(run.stderr.starts_with(&first), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "error: storage.b.path: {}: the folder {} does not exist",
            file.display(),
            sb.path("gone").display()
        )),
        "{}",
        run.stderr
    );
    assert!(!sb.path("no-such-dir").exists());
    assert!(!sb.path("gone").exists());
    assert!(!sb.status_path().exists(), "nothing touched");
}

#[test]
fn a_missing_vdir_folder_whose_parent_exists_is_still_fine() {
    let sb = Sandbox::new();
    let a = sb.mkdir("a");
    common::write_events(&a, "e", 2);
    sb.write_config(&format!(
        "[storage.a]\ntype = \"vdir\"\npath = {}\nfileext = \".ics\"\n\n\
         [storage.b]\ntype = \"vdir\"\npath = {}\nfileext = \".ics\"\n\n\
         [pair.p]\na = \"a\"\nb = \"b\"\n",
        toml_path(&a),
        toml_path(&sb.path("b"))
    ));
    let run = sb.run(&["sync"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    assert_eq!(run.change_lines().len(), 2, "{}", run.dump());
}

#[test]
fn a_broken_table_header_is_named_not_the_table_before_it() {
    let sb = Sandbox::new();
    std::fs::write(
        sb.config_path(),
        "[storage.a]\ntype = \"vdir\"\npath = \"a\"\n\n[storage.b\ntype = \"vdir\"\n",
    )
    .unwrap();
    let run = sb.run(&["check"]);
    assert_eq!(run.code, 2, "{}", run.dump());
    assert_eq!(
        run.stderr,
        format!(
            "error: table header [storage.b: invalid table header\nexpected `.`, `]`\n \
             --> {}:5:11\n  |\n5 | [storage.b\n  |           ^\n",
            sb.config_path().display()
        )
    );
}

#[test]
fn the_readme_begins_with_its_title_then_the_two_commands() {
    let readme = std::fs::read_to_string(common::repo_root().join("README.md")).unwrap();
    assert!(
        readme.starts_with(
            "# davsync\n\n    cargo run --release -- -c config.example.toml sync\n    scripts/test\n\n"
        ),
        "{}",
        &readme[..readme.len().min(300)]
    );
}

/// The example's first command writes under ./demo/, which must exist for its storage paths
/// to be accepted: the repository ships the (otherwise ignored) folder.
#[test]
fn the_shipped_example_config_validates_from_a_fresh_checkout() {
    assert!(common::repo_root().join("demo").is_dir());
    let mut cmd = std::process::Command::new(common::davsync_bin());
    cmd.arg("-c")
        .arg(common::repo_root().join("config.example.toml"))
        .arg("check");
    let run = common::run_command(cmd, std::time::Duration::from_secs(60));
    assert_eq!(run.code, 0, "{}", run.dump());
}

/// a holds `home` and `work`; b is empty; the pair takes every collection of a.
fn two_collections() -> Sandbox {
    let sb = Sandbox::new();
    let a = sb.mkdir("a");
    sb.mkdir("b");
    common::write_events(&a.join("work"), "w", 2);
    common::write_events(&a.join("home"), "h", 1);
    sb.write_config(&format!(
        "[storage.a]\ntype = \"vdir\"\npath = {}\nfileext = \".ics\"\n\n\
         [storage.b]\ntype = \"vdir\"\npath = {}\nfileext = \".ics\"\n\n\
         [pair.p]\na = \"a\"\nb = \"b\"\ncollections = [\"from a\", \"from b\"]\n",
        toml_path(&a),
        toml_path(&sb.path("b"))
    ));
    sb
}

#[test]
fn sync_pair_slash_collection_creates_and_syncs_that_collection_only() {
    let sb = two_collections();
    let run = sb.run(&["sync", "p/work"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    assert_eq!(
        run.sorted_changes(),
        vec![
            "Copying (uploading) item w-0 to b/work",
            "Copying (uploading) item w-1 to b/work",
            "Creating collection work on b",
        ]
    );
    assert!(
        !sb.path("b/home").exists(),
        "the other collection was created"
    );
    assert!(
        run.stderr
            .starts_with("Synced 1 pairs, 1 collections: 2 uploaded"),
        "{}",
        run.stderr
    );
}

#[test]
fn sync_of_a_collection_the_pair_does_not_have_is_a_usage_error_listing_its_collections() {
    let sb = two_collections();
    let run = sb.run(&["sync", "p/wrok"]);
    assert_eq!(run.code, 2, "{}", run.dump());
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "error: \"p/wrok\": pair \"p\" has no collection \"wrok\" (its collections: home, work)\n"
    );
    assert_eq!(
        std::fs::read_dir(sb.path("b")).unwrap().count(),
        0,
        "nothing created"
    );
    assert!(!sb.status_path().exists(), "nothing recorded");
}

fn plain_pair(sb: &Sandbox) {
    sb.write_config(&format!(
        "[storage.a]\ntype = \"vdir\"\npath = {}\nfileext = \".ics\"\n\n\
         [storage.b]\ntype = \"vdir\"\npath = {}\nfileext = \".ics\"\n\n\
         [pair.p]\na = \"a\"\nb = \"b\"\n",
        toml_path(&sb.path("a")),
        toml_path(&sb.path("b"))
    ));
}

#[test]
fn an_emptied_side_with_one_item_synced_before_reads_naturally() {
    let sb = Sandbox::new();
    let uids = common::write_events(&sb.mkdir("a"), "only", 1);
    sb.mkdir("b");
    plain_pair(&sb);
    assert_eq!(sb.run(&["sync"]).code, 0);
    std::fs::remove_file(sb.path(&format!("a/{}.ics", uids[0]))).unwrap();
    let run = sb.run(&["sync"]);
    assert_eq!(run.code, 1, "{}", run.dump());
    assert!(
        run.stderr.starts_with(
            "error: a: storage lists no items but 1 item was synced before; refusing to delete \
             it on b (run `davsync sync --force-delete` if that is really wanted)\n"
        ),
        "{}",
        run.stderr
    );
    assert!(sb.path(&format!("b/{}.ics", uids[0])).exists());
}

#[test]
fn a_malformed_item_is_reported_once_naming_its_file_once() {
    let sb = Sandbox::new();
    common::write_events(&sb.mkdir("a"), "ok", 1);
    sb.mkdir("b");
    let bad = sb.path("a/bad.ics");
    std::fs::write(&bad, "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:bad\r\n").unwrap();
    plain_pair(&sb);
    for round in 0..2 {
        let run = sb.run(&["sync"]);
        assert_eq!(run.code, 1, "{}", run.dump());
        let about: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| l.contains("bad.ics"))
            .collect();
        assert_eq!(about.len(), 1, "round {round}: {}", run.stderr);
        let line = about[0];
        let prefix = format!("error: a: malformed item {}: line ", bad.display());
        assert!(line.starts_with(&prefix), "{line}");
        assert!(
            line.ends_with("(END:VEVENT missing) (not synced; fix or remove it)"),
            "{line}"
        );
        assert_eq!(line.matches("bad.ics").count(), 1, "{line}");
        assert!(!line.contains("invalid data"), "{line}");
    }
}

/// A vdir collection `work` named "Work", paired with Radicale's `work` that has no
/// displayname of its own.
fn vdir_and_radicale(sb: &Sandbox) -> Option<common::servers::DavServer> {
    use common::servers::{Coll, DavServer, ServerKind};
    let server = DavServer::start(ServerKind::Radicale)?;
    server.create_collection(Coll::Calendar, "work", None);
    let local = sb.mkdir("local/work");
    std::fs::write(local.join("displayname"), "Work").unwrap();
    sb.write_config(&format!(
        "[storage.local]\ntype = \"vdir\"\npath = {}\nfileext = \".ics\"\n\n{}\n\
         [pair.p]\na = \"local\"\nb = \"remote\"\ncollections = [\"work\"]\n\
         metadata = [\"displayname\"]\n",
        toml_path(&sb.path("local")),
        server.storage_section("remote", Coll::Calendar, &server.root_url(), "")
    ));
    Some(server)
}

#[test]
fn metasync_dry_run_prints_what_it_would_do_and_changes_nothing() {
    let sb = Sandbox::new();
    let Some(server) = vdir_and_radicale(&sb) else {
        return;
    };
    let props = server
        .radicale_collection_dir("work")
        .join(".Radicale.props");
    let before = std::fs::read_to_string(&props).unwrap();
    let run = sb.run(&["metasync", "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    assert_eq!(
        run.stdout,
        "Would: Copying metadata displayname of work to remote\n"
    );
    assert_eq!(
        std::fs::read_to_string(&props).unwrap(),
        before,
        "the server was written"
    );
    // (The server storage may remember the auth scheme it was asked for under
    // `remembered/`; the pair's status itself is not written.)
    assert!(
        !sb.status_path().join("p.sqlite").exists(),
        "a dry run wrote the status"
    );
}

#[test]
fn first_metasync_against_radicale_takes_its_path_fallback_for_no_name() {
    let sb = Sandbox::new();
    let Some(server) = vdir_and_radicale(&sb) else {
        return;
    };
    let run = sb.run(&["metasync"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    assert_eq!(
        run.stdout,
        "Copying metadata displayname of work to remote\n"
    );
    assert!(!run.stderr.contains("Conflict"), "{}", run.stderr);
    let props = std::fs::read_to_string(
        server
            .radicale_collection_dir("work")
            .join(".Radicale.props"),
    )
    .unwrap();
    assert!(props.contains("\"D:displayname\": \"Work\""), "{props}");
    let again = sb.run(&["metasync"]);
    assert_eq!(
        (again.code, again.stdout.as_str()),
        (0, ""),
        "{}",
        again.dump()
    );
}
