//! `davsync check --online`: the failures a user sees without any server (the tables
//! themselves are checked against every real server in tests/servers_conformance.rs).

use crate::common;

use common::Sandbox;

fn config(sb: &Sandbox) {
    let local = sb.mkdir("local");
    sb.write_config(&format!(
        "[storage.local]\ntype = \"vdir\"\npath = {}\nfileext = \".ics\"\n\n\
         [storage.gone]\ntype = \"caldav\"\nurl = \"http://127.0.0.1:1/dav/\"\n\
         username = \"u\"\npassword = \"p\"\n\n\
         [pair.p]\na = \"local\"\nb = \"gone\"\n",
        common::toml_path(&local)
    ));
}

#[test]
fn an_unreachable_storage_is_named_with_the_reason_and_exits_1() {
    let sb = Sandbox::new();
    config(&sb);
    let run = sb.run(&["check", "--online"]);
    run.assert_code(1);
    assert!(
        run.stdout
            .contains("pair p: local (vdir) <-> gone (caldav)"),
        "{}",
        run.dump()
    );
    assert!(
        run.stdout
            .contains("storage gone (caldav): unreachable: PROPFIND http://127.0.0.1:1/dav/: could not connect"),
        "{}",
        run.dump()
    );
    assert!(
        run.stderr
            .contains("error: cannot reach or authenticate: gone ("),
        "{}",
        run.dump()
    );
}

#[test]
fn an_unknown_storage_name_is_a_usage_error() {
    let sb = Sandbox::new();
    config(&sb);
    let run = sb.run(&["check", "--online", "nope"]);
    run.assert_code(2);
    assert!(run.stderr.contains("no storage \"nope\""), "{}", run.dump());
}

#[test]
fn a_local_storage_named_is_said_to_need_no_online_check() {
    let sb = Sandbox::new();
    config(&sb);
    let run = sb.run(&["check", "--online", "local"]);
    run.assert_ok();
    assert!(
        run.stdout
            .contains("storage local (vdir): not a server storage, nothing to check online"),
        "{}",
        run.dump()
    );
}

#[test]
fn check_without_online_contacts_nothing() {
    let sb = Sandbox::new();
    config(&sb);
    sb.run(&["check"]).assert_ok();
}
