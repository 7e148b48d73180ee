//! davsync against a real Radicale server (installed by scripts/test into .venv).
//! Skipped loudly when Radicale is missing; with CI=true a missing Radicale fails.

use crate::common;

use common::dav_scenarios as sc;
use common::servers::Coll;

// The scenarios every server runs are in tests/servers_conformance.rs (module `radicale`).

// ---------------------------------------------------------------------------------------------
// TLS, authentication, and a server-to-server mirror.

use common::servers::{DavServer, ServerKind, ServerOptions, RADICALE_PASSWORD};
use common::tls::TestCerts;
use common::{items_by_uid, toml_path, write_events, Sandbox};

/// A Radicale over HTTPS with a certificate from a private CA, and one calendar holding two
/// events.
fn tls_server(certs: &TestCerts) -> Option<DavServer> {
    let server = DavServer::start_with(
        ServerKind::Radicale,
        ServerOptions {
            tls: Some(certs.clone()),
            ..Default::default()
        },
    )?;
    server.create_collection(Coll::Calendar, "cal", None);
    write_events(&server.radicale_collection_dir("cal"), "tls", 2);
    Some(server)
}

/// Syncs the TLS server's calendar into a fresh vdir with the given TLS options.
fn sync_over_tls(server: &DavServer, tls_options: &str) -> (Sandbox, common::Run) {
    let sb = Sandbox::new();
    let local = sb.mkdir("local");
    sb.write_config(&format!(
        "{}{}[pair.p]\na = \"local\"\nb = \"remote\"\n",
        sc::vdir_section("local", &local, Coll::Calendar),
        server.storage_section(
            "remote",
            Coll::Calendar,
            &server.collection_url(Coll::Calendar, "cal"),
            tls_options
        ),
    ));
    let run = sb.run(&["sync"]);
    (sb, run)
}

#[track_caller]
fn assert_synced(sb: &Sandbox, run: &common::Run) {
    run.assert_ok();
    assert_eq!(
        items_by_uid(&sb.path("local"), ".ics").len(),
        2,
        "{}",
        run.dump()
    );
}

#[track_caller]
fn assert_refused(sb: &Sandbox, run: &common::Run) {
    assert_eq!(run.code, 1, "the collection must fail\n{}", run.dump());
    assert!(run.change_lines().is_empty(), "{}", run.dump());
    assert!(
        items_by_uid(&sb.path("local"), ".ics").is_empty(),
        "nothing may be synced over an untrusted connection"
    );
}

#[test]
fn tls_with_private_ca_needs_the_right_verify_bundle() {
    let certs = TestCerts::generate();
    let Some(server) = tls_server(&certs) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();

    // Default verification (system roots): refused, saying why and what to do.
    let (sb, run) = sync_over_tls(&server, "");
    assert_refused(&sb, &run);
    assert!(
        run.stderr.contains(
            ": could not connect: network error: the server's certificate is not signed by a \
             trusted certificate authority (name its CA bundle with `verify = "
        ),
        "{}",
        run.dump()
    );

    // Another CA's bundle: refused.
    let other_ca = TestCerts::generate().write_ca(&dir.path().join("x").tap_mkdir());
    let (sb, run) = sync_over_tls(&server, &format!("verify = {}\n", toml_path(&other_ca)));
    assert_refused(&sb, &run);

    // Verification off is not what this test is about, but a pin-less `verify = false`
    // must still connect.
    let (sb, run) = sync_over_tls(&server, "verify = false\n");
    assert_synced(&sb, &run);

    // The right CA: accepted.
    let ca = certs.write_ca(dir.path());
    let (sb, run) = sync_over_tls(&server, &format!("verify = {}\n", toml_path(&ca)));
    assert_synced(&sb, &run);
}

#[test]
fn tls_fingerprint_pin_accepts_the_leaf_and_refuses_any_other() {
    let certs = TestCerts::generate();
    let Some(server) = tls_server(&certs) else {
        return;
    };
    // The pin as openssl prints it.
    let (sb, run) = sync_over_tls(
        &server,
        &format!("verify_fingerprint = \"{}\"\n", certs.fingerprint),
    );
    assert_synced(&sb, &run);

    // Lower case, no colons, with the sha256: prefix.
    let compact = format!(
        "sha256:{}",
        certs.fingerprint.replace(':', "").to_ascii_lowercase()
    );
    let (sb, run) = sync_over_tls(&server, &format!("verify_fingerprint = \"{compact}\"\n"));
    assert_synced(&sb, &run);

    // Another certificate's fingerprint: refused.
    let other = TestCerts::generate().fingerprint;
    let (sb, run) = sync_over_tls(&server, &format!("verify_fingerprint = \"{other}\"\n"));
    assert_refused(&sb, &run);
    let why = format!(
        ": could not connect: network error: the server's certificate does not match \
         verify_fingerprint: expected sha256:{other}, the server presented sha256:{}\n",
        certs.fingerprint
    );
    assert!(run.stderr.contains(&why), "{why}\n{}", run.dump());

    // Pin and the right CA bundle: both hold, accepted.
    let dir = tempfile::tempdir().unwrap();
    let ca = certs.write_ca(dir.path());
    let (sb, run) = sync_over_tls(
        &server,
        &format!(
            "verify = {}\nverify_fingerprint = \"{}\"\n",
            toml_path(&ca),
            certs.fingerprint
        ),
    );
    assert_synced(&sb, &run);

    // Pin right but CA bundle wrong: both must hold, refused.
    let other_ca = TestCerts::generate().write_ca(&dir.path().join("o").tap_mkdir());
    let (sb, run) = sync_over_tls(
        &server,
        &format!(
            "verify = {}\nverify_fingerprint = \"{}\"\n",
            toml_path(&other_ca),
            certs.fingerprint
        ),
    );
    assert_refused(&sb, &run);
}

/// Creates a directory and returns it (keeps the TLS tests readable).
trait TapMkdir {
    fn tap_mkdir(self) -> std::path::PathBuf;
}

impl TapMkdir for std::path::PathBuf {
    fn tap_mkdir(self) -> std::path::PathBuf {
        std::fs::create_dir_all(&self).unwrap();
        self
    }
}

fn auth_sandbox(server: &DavServer, password_cmd: &[&str], auth: &str) -> Sandbox {
    let sb = Sandbox::new();
    let local = sb.mkdir("local");
    let cmd = password_cmd
        .iter()
        .map(|a| format!("{a:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    sb.write_config(&format!(
        "{}[storage.remote]\ntype = \"caldav\"\nurl = \"{}\"\nusername = \"{}\"\n\
         password.command = [{cmd}]\nauth = \"{auth}\"\n\n\
         [pair.p]\na = \"local\"\nb = \"remote\"\n",
        sc::vdir_section("local", &local, Coll::Calendar),
        server.collection_url(Coll::Calendar, "cal"),
        server.username,
    ));
    sb
}

/// What a leaked password would look like: itself, or inside a Basic `Authorization` header.
fn assert_no_password(run: &common::Run, password: &str, username: &str) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    for (what, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert!(
            !text.contains(password),
            "password leaked on {what}\n{}",
            run.dump()
        );
        assert!(
            !text.contains(&b64),
            "Authorization header leaked on {what}\n{}",
            run.dump()
        );
    }
}

#[test]
fn basic_auth_with_password_command_never_shows_the_password() {
    let Some(server) = DavServer::start(ServerKind::Radicale) else {
        return;
    };
    server.create_collection(Coll::Calendar, "cal", None);
    let uids = write_events(&server.radicale_collection_dir("cal"), "auth", 2);
    for auth in ["basic", "guess"] {
        // The command prints the password and a second line that must be ignored.
        let sb = auth_sandbox(
            &server,
            &["printf", "%s\\nsecond line\\n", RADICALE_PASSWORD],
            auth,
        );
        let run = sb.run(&["-vv", "sync"]);
        run.assert_ok().assert_changes(
            &uids
                .iter()
                .map(|u| format!("Copying (uploading) item {u} to local"))
                .collect::<Vec<_>>(),
        );
        assert!(
            !run.stderr.is_empty(),
            "-vv logs each request on stderr\n{}",
            run.dump()
        );
        assert_no_password(&run, RADICALE_PASSWORD, &server.username);
    }

    // A wrong password: the collection fails, and still no password in the output.
    let wrong = "wrong-Pw-93kd";
    let sb = auth_sandbox(&server, &["printf", "%s\\n", wrong], "basic");
    let run = sb.run(&["-vv", "sync"]);
    assert_ne!(run.code, 0, "{}", run.dump());
    assert!(items_by_uid(&sb.path("local"), ".ics").is_empty());
    assert_no_password(&run, wrong, &server.username);
}

/// Radicale <-> Xandikos: collections of one server are created and filled on the other,
/// then a change on either side reaches the other.
#[test]
fn radicale_and_xandikos_mirror_each_other() {
    let Some(rad) = DavServer::start(ServerKind::Radicale) else {
        return;
    };
    let Some(xan) = DavServer::start(ServerKind::Xandikos) else {
        return;
    };
    rad.create_collection(Coll::Calendar, "shared", Some("Shared"));
    let uids = write_events(&rad.radicale_collection_dir("shared"), "mirror", 5);
    let sb = Sandbox::new();
    let check = sb.mkdir("check");
    sb.write_config(&format!(
        "{}{}{}\
         [pair.mirror]\na = \"rad\"\nb = \"xan\"\ncollections = [\"shared\"]\n\n\
         [pair.look]\na = \"check\"\nb = \"xan\"\ncollections = [\"shared\"]\n",
        rad.storage_section("rad", Coll::Calendar, &rad.root_url(), ""),
        xan.storage_section("xan", Coll::Calendar, &xan.root_url(), ""),
        sc::vdir_section("check", &check, Coll::Calendar),
    ));
    let run = sb.run(&["sync", "mirror"]);
    let mut expected = vec!["Creating collection shared on xan".to_owned()];
    expected.extend(
        uids.iter()
            .map(|u| format!("Copying (uploading) item {u} to xan/shared")),
    );
    run.assert_ok().assert_changes(&expected);
    assert!(xan
        .collection_names(Coll::Calendar)
        .contains(&"shared".to_owned()));
    sb.run(&["sync", "mirror"]).assert_no_change();

    // What reached Xandikos, seen by a vdir client.
    sb.run(&["sync", "look"]).assert_ok();
    let got = items_by_uid(&check.join("shared"), ".ics");
    let mut want = uids.clone();
    want.sort();
    assert_eq!(got.keys().cloned().collect::<Vec<_>>(), want);

    // A change made on Xandikos flows back to Radicale.
    let p = check.join("shared").join(format!("{}.ics", uids[3]));
    let t = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, common::edit_line(&t, "SUMMARY", "Changed on xandikos")).unwrap();
    sb.run(&["sync", "look"]).assert_ok();
    sb.run(&["sync", "mirror"])
        .assert_ok()
        .assert_changes(&[format!("Copying (updating) item {} to rad/shared", uids[3])]);
    let on_radicale = items_by_uid(&rad.radicale_collection_dir("shared"), ".ics");
    assert_eq!(
        sc::prop_value(&on_radicale[&uids[3]], "SUMMARY").as_deref(),
        Some("Changed on xandikos")
    );
}

/// The configuration most users have: collections discovered from the server root, a
/// username and a password, the default `auth`. Only the first sync answers a challenge
/// (Radicale delays every failed login); later ones send the remembered scheme at once,
/// skip the principal look-ups, and a sync with nothing to do sends the home-set listing
/// alone, once for both storages, asking each collection's getctag.
#[test]
fn syncs_after_the_first_get_no_401_and_a_no_op_lists_the_home_set_once() {
    let Some(server) = DavServer::start_with(
        ServerKind::Radicale,
        ServerOptions {
            verbose_log: true,
            ..Default::default()
        },
    ) else {
        return;
    };
    server.create_collection(Coll::Calendar, "work", None);
    server.create_collection(Coll::AddressBook, "people", None);
    write_events(&server.radicale_collection_dir("work"), "w", 3);
    // Not empty: an empty collection is read whole at every sync (it never gets a status).
    std::fs::write(
        server.radicale_collection_dir("people").join("p1.vcf"),
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:p1\r\nFN:P One\r\nN:One;P;;;\r\nEND:VCARD\r\n",
    )
    .unwrap();
    let sb = Sandbox::new();
    let cal = sb.mkdir("cal");
    let card = sb.mkdir("card");
    let root = server.root_url();
    sb.write_config(&format!(
        "{}{}{}{}\
         [pair.cals]\na = \"cal\"\nb = \"rcal\"\ncollections = [\"from b\"]\n\n\
         [pair.cards]\na = \"card\"\nb = \"rcard\"\ncollections = [\"from b\"]\n",
        sc::vdir_section("cal", &cal, Coll::Calendar),
        sc::vdir_section("card", &card, Coll::AddressBook),
        server.storage_section("rcal", Coll::Calendar, &root, ""),
        server.storage_section("rcard", Coll::AddressBook, &root, ""),
    ));
    sb.run(&["sync"]).assert_ok();
    assert!(
        server.log().contains("401 Unauthorized"),
        "the first sync answers the challenge"
    );

    let before = server.log().len();
    sb.run(&["sync"]).assert_no_change();
    let second = server.log()[before..].to_owned();
    assert!(!second.contains("401"), "second sync got a 401:\n{second}");

    let before = server.log().len();
    sb.run(&["sync"]).assert_no_change();
    let third = server.log()[before..].to_owned();
    assert!(!third.contains("401"), "third sync got a 401:\n{third}");
    let requests: Vec<&str> = third
        .lines()
        .filter_map(|l| l.split_once(" request for ").map(|(head, _)| head))
        .collect();
    assert_eq!(
        requests.len(),
        1,
        "a no-op should send the shared home-set listing alone:\n{third}"
    );
    assert!(requests[0].ends_with("PROPFIND"), "{third}");
    // Radicale's sync-token property costs more than its getctag: the listing asks the ctag.
    assert!(
        third.contains("getctag") && !third.contains("sync-token"),
        "{third}"
    );
}
