//! The conformance suite run against every server (tests/servers_conformance.rs), and the
//! one place where a server's expected differences are declared, each with its reason.
//!
//! A declared difference is tested too: where a server cannot create a collection, the test
//! checks that davsync says so clearly for that collection and goes on with the rest, so a
//! server that starts supporting it (or a davsync that stops handling the refusal) shows up.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use davsync_storages::dav::{DavOptions, DavStorage};
use davsync_storages::net::TransportOptions;
use davsync_storages::{Collection, ItemKind, Storage};

use super::dav_scenarios::{prop_value, vdir_section};
use super::servers::{Coll, DavServer, ServerKind};
use super::{edit_line, items_by_uid, write_events, Rng, Sandbox};

/// How a server lets davsync know that a collection did not change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unchanged {
    /// RFC 6578 sync-collection with a sync-token.
    SyncToken,
    /// CalendarServer's `getctag`.
    Ctag,
}

/// What a server does differently from the RFCs, as davsync must live with it.
#[derive(Debug, Clone)]
pub struct Expected {
    /// The path (under the server root) that discovery starts from, and why it is not the
    /// root itself.
    pub discovery_from: Option<(&'static str, &'static str)>,
    /// `Err(reason)`: discovery cannot find the address books (a configured address book
    /// URL still works).
    pub discovers_address_books: Result<(), &'static str>,
    /// `Err(reason)`: the server refuses to create calendars / address books.
    pub creates_calendars: Result<(), &'static str>,
    pub creates_address_books: Result<(), &'static str>,
    /// `Err(reason)`: collection properties cannot be written (PROPPATCH refused).
    pub writes_metadata: Result<(), &'static str>,
    pub unchanged: Unchanged,
    /// `Err(reason)`: `If-Match` / `If-None-Match` are not enforced.
    pub enforces_preconditions: Result<(), &'static str>,
    /// `Some(reason)`: the server changes items it stores, so an item an interrupted run
    /// uploaded without recording it differs at the next sync: a conflict that needs a
    /// `conflict_resolution` (the kill -9 scenario sets one).
    pub rewrites_items: Option<&'static str>,
}

const EVERYTHING: Expected = Expected {
    discovery_from: None,
    discovers_address_books: Ok(()),
    creates_calendars: Ok(()),
    creates_address_books: Ok(()),
    writes_metadata: Ok(()),
    unchanged: Unchanged::SyncToken,
    enforces_preconditions: Ok(()),
    rewrites_items: None,
};

/// The declared differences, per server. Nothing else in the suite varies by server.
pub fn expected(kind: ServerKind) -> Expected {
    match kind {
        ServerKind::Radicale | ServerKind::Xandikos | ServerKind::Davical | ServerKind::Cyrus => {
            EVERYTHING
        }
        ServerKind::Sabredav => Expected {
            unchanged: Unchanged::Ctag,
            ..EVERYTHING
        },
        ServerKind::Sogo => Expected {
            discovery_from: Some((
                "SOGo/dav/",
                "SOGo's /.well-known/ and / answer its web interface (200, HTML)",
            )),
            enforces_preconditions: Err(
                "a PUT with If-None-Match: * overwrites, a DELETE with a wrong If-Match deletes",
            ),
            rewrites_items: Some("SOGo adds CLASS:PUBLIC to every event it stores"),
            ..EVERYTHING
        },
        ServerKind::Calypso => Expected {
            discovery_from: Some((
                "test/",
                "Calypso's root and /.well-known/ answer 401 to any credentials",
            )),
            discovers_address_books: Err(
                "a Depth 1 listing of the home types every collection as a calendar only \
                 (so davsync also takes the address book for an empty calendar)",
            ),
            creates_calendars: Err("MKCALENDAR makes a collection of no type"),
            creates_address_books: Err("extended MKCOL answers 501"),
            writes_metadata: Err("PROPPATCH answers 501"),
            unchanged: Unchanged::Ctag,
            enforces_preconditions: Err("If-Match and If-None-Match are ignored"),
            rewrites_items: None,
        },
    }
}

/// The path (under the server root) discovery starts from: the root unless declared
/// otherwise.
pub fn discovery_url_of(kind: ServerKind) -> String {
    match expected(kind).discovery_from {
        Some((path, _)) => path.to_owned(),
        None => String::new(),
    }
}

/// A recurring event with an overridden instance and its VTIMEZONE.
pub fn recurring_event(uid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//davsync tests//EN\r\n\
         BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n\
         BEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\n\
         DTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\n\
         BEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\n\
         DTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\n\
         END:VTIMEZONE\r\n\
         BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20250101T000000Z\r\n\
         DTSTART;TZID=Europe/Berlin:20250106T090000\r\nDTEND;TZID=Europe/Berlin:20250106T100000\r\n\
         RRULE:FREQ=WEEKLY;COUNT=10\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\n\
         BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20250101T000000Z\r\n\
         RECURRENCE-ID;TZID=Europe/Berlin:20250113T090000\r\n\
         DTSTART;TZID=Europe/Berlin:20250113T110000\r\nDTEND;TZID=Europe/Berlin:20250113T120000\r\n\
         SUMMARY:{summary} (moved)\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

fn assert_recurring(text: &str, uid: &str) {
    for needle in [
        "BEGIN:VTIMEZONE",
        "TZID:Europe/Berlin",
        "RRULE:FREQ=WEEKLY;COUNT=10",
        "RECURRENCE-ID;TZID=Europe/Berlin:20250113T090000",
    ] {
        assert!(text.contains(needle), "{uid}: {needle} missing in\n{text}");
    }
    assert_eq!(text.matches("BEGIN:VEVENT").count(), 2, "{uid}: {text}");
}

/// A two-pair sandbox: `local` <-> `remote` (collection `url`), no conflict strategy.
fn one_collection(
    server: &DavServer,
    coll: Coll,
    url: &str,
    extra_pair: &str,
) -> (Sandbox, std::path::PathBuf) {
    let sb = Sandbox::new();
    let local = sb.mkdir("local");
    sb.write_config(&format!(
        "{}{}[pair.main]\na = \"local\"\nb = \"remote\"\n{extra_pair}\n",
        vdir_section("local", &local, coll),
        server.storage_section("remote", coll, url, ""),
    ));
    (sb, local)
}

/// First sync both ways with recurring events (an override, a VTIMEZONE): one made locally,
/// one put on the server by another client; both arrive whole on the other side.
pub fn recurring_events_both_ways(kind: ServerKind) {
    let Some(server) = DavServer::start(kind) else {
        return;
    };
    let coll = Coll::Calendar;
    // Radicale starts with no collection; the other servers' defaults are kept as they are.
    server.create_collection(coll, server.default_collection(coll), None);
    let url = server.collection_url(coll, server.default_collection(coll));
    let (sb, local) = one_collection(&server, coll, &url, "");
    std::fs::write(
        local.join("rec-local.ics"),
        recurring_event("rec-local", "Standup"),
    )
    .unwrap();
    let http = server.http();
    let put = http.put(
        &format!("{url}rec-server.ics"),
        "text/calendar; charset=utf-8",
        &recurring_event("rec-server", "Review"),
        Some(("If-None-Match", "*")),
    );
    assert!(put.ok(), "{put:?}");
    sb.run(&["sync"]).assert_ok().assert_changes(&[
        "Copying (uploading) item rec-local to remote".to_owned(),
        "Copying (uploading) item rec-server to local".to_owned(),
    ]);
    let got = items_by_uid(&local, ".ics");
    assert_recurring(&got["rec-server"], "rec-server");
    let members = http.members(&url);
    let href = members
        .iter()
        .map(|(h, _)| h)
        .find(|h| !h.contains("rec-server"))
        .expect("the uploaded event is listed");
    let on_server = http.get(&format!(
        "{}{}",
        server.root_url(),
        href.trim_start_matches('/')
    ));
    assert_recurring(&on_server.body, "rec-local");
    sb.run(&["sync"]).assert_no_change();
}

/// Both sides edit the same item and no strategy is configured: exit 1, an unresolved
/// conflict, and neither version is overwritten.
pub fn conflict_without_strategy_overwrites_nothing(kind: ServerKind, coll: Coll) {
    let Some(server) = DavServer::start(kind) else {
        return;
    };
    // Radicale starts with no collection; the other servers' defaults are kept as they are.
    server.create_collection(coll, server.default_collection(coll), None);
    let url = server.collection_url(coll, server.default_collection(coll));
    let (sb, local) = one_collection(&server, coll, &url, "");
    let ext = coll.fileext();
    let uids = match coll {
        Coll::Calendar => write_events(&local, "cf", 1),
        Coll::AddressBook => super::write_cards(&local, "cf", 1),
    };
    let uid = &uids[0];
    let prop = if coll == Coll::Calendar {
        "SUMMARY"
    } else {
        "FN"
    };
    sb.run(&["sync"]).assert_ok();
    let http = server.http();
    let (href, etag) = http.members(&url).into_iter().next().expect("uploaded");
    let item_url = format!("{}{}", server.root_url(), href.trim_start_matches('/'));
    let theirs = edit_line(&http.get(&item_url).body, prop, "Theirs");
    let ct = if coll == Coll::Calendar {
        "text/calendar; charset=utf-8"
    } else {
        "text/vcard; charset=utf-8"
    };
    assert!(http
        .put(&item_url, ct, &theirs, Some(("If-Match", &etag)))
        .ok());
    let p = local.join(format!("{uid}{ext}"));
    std::fs::write(
        &p,
        edit_line(&std::fs::read_to_string(&p).unwrap(), prop, "Mine"),
    )
    .unwrap();
    let run = sb.run(&["sync"]);
    run.assert_code(1);
    assert!(
        run.stdout
            .contains(&format!("Conflict: item {uid} in main left unresolved")),
        "{}",
        run.dump()
    );
    assert_eq!(
        prop_value(&http.get(&item_url).body, prop).as_deref(),
        Some("Theirs")
    );
    assert_eq!(
        prop_value(&std::fs::read_to_string(&p).unwrap(), prop).as_deref(),
        Some("Mine")
    );
}

/// The "unchanged" check davsync uses for the server is the declared one, and a second
/// look at an unchanged collection reports nothing.
pub fn unchanged_check_is_the_declared_one(kind: ServerKind, coll: Coll) {
    let Some(server) = DavServer::start(kind) else {
        return;
    };
    // Radicale starts with no collection; the other servers' defaults are kept as they are.
    server.create_collection(coll, server.default_collection(coll), None);
    let url = server.collection_url(coll, server.default_collection(coll));
    let mut t = TransportOptions::new(url::Url::parse(&url).unwrap());
    t.username = Some(server.username.clone());
    t.password = Some(server.password.as_str().into());
    let kind_ = if coll == Coll::Calendar {
        ItemKind::Calendar
    } else {
        ItemKind::Contacts
    };
    let storage = DavStorage::new(DavOptions::new(t, kind_)).unwrap();
    let c = Collection {
        href: url.clone(),
        name: String::new(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let first = rt
        .block_on(storage.changes(&c, None))
        .unwrap()
        .expect("a way to see changes");
    let token = first.token.clone().expect("a token");
    let got = match token {
        davsync_storages::CollectionToken::Ctag(_) => Unchanged::Ctag,
        davsync_storages::CollectionToken::Sync(_)
        | davsync_storages::CollectionToken::SyncWithCtag { .. } => Unchanged::SyncToken,
    };
    assert_eq!(got, expected(kind).unchanged, "token {token:?}");
    let second = rt
        .block_on(storage.changes(&c, Some(&token)))
        .unwrap()
        .unwrap();
    assert!(
        second.changed.is_empty() && second.deleted.is_empty(),
        "{second:?}"
    );
}

/// 500 events uploaded, davsync killed (SIGKILL) at random moments of the upload, then
/// left to finish: every event is on the server once, and a further sync changes nothing.
pub fn kill9_during_upload_converges(kind: ServerKind) {
    let Some(server) = DavServer::start(kind) else {
        return;
    };
    let n = 500;
    let coll = Coll::Calendar;
    server.create_collection(coll, "crash", None);
    let url = if expected(kind).creates_calendars.is_ok() {
        server.collection_url(coll, "crash")
    } else {
        server.collection_url(coll, server.default_collection(coll))
    };
    let strategy = match expected(kind).rewrites_items {
        Some(reason) => {
            eprintln!("{kind:?} declared: {reason}; the pair resolves conflicts with a wins");
            "conflict_resolution = \"a wins\"\n"
        }
        None => "",
    };
    let (sb, local) = one_collection(&server, coll, &url, strategy);
    write_events(&local, "up", n);
    let want = items_by_uid(&local, ".ics");
    // Killed within the first seconds of an upload that takes longer than that on every
    // server (a run that finished first just counts as not killed).
    let mut rng = Rng::new(0x6b11_1009 ^ kind as u64);
    let mut killed = 0;
    for _ in 0..3 {
        let mut child = sb
            .command(&["-q", "sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let at = Instant::now() + Duration::from_millis(rng.range(200, 1500));
        while Instant::now() < at && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(5));
        }
        if child.try_wait().unwrap().is_none() {
            killed += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    eprintln!("{kind:?}: killed {killed} of 3 runs");
    // A killed client's last requests may still be running on the server (Cyrus and DAViCal
    // answer one at a time): wait until the collection stops changing, so the next sync
    // lists what the server will hold.
    let http = server.http();
    let mut last = usize::MAX;
    for _ in 0..100 {
        let now = http.members(&url).len();
        if now == last {
            break;
        }
        last = now;
        std::thread::sleep(Duration::from_millis(300));
    }
    sb.run(&["-q", "sync"]).assert_ok();
    sb.run(&["sync"]).assert_no_change();
    let members = http.members(&url);
    let mut hrefs: BTreeMap<String, usize> = BTreeMap::new();
    for (h, _) in &members {
        *hrefs.entry(h.clone()).or_default() += 1;
    }
    let unexpected: Vec<&String> = hrefs
        .keys()
        .filter(|h| {
            let name = h.rsplit('/').next().unwrap_or_default();
            // Calypso lists its items under the UID, without the `.ics`.
            !name
                .strip_prefix("up-")
                .map(|r| r.strip_suffix(".ics").unwrap_or(r))
                .and_then(|i| i.parse::<usize>().ok())
                .is_some_and(|i| i < n)
        })
        .collect();
    assert!(unexpected.is_empty(), "unexpected hrefs {unexpected:?}");
    assert_eq!(members.len(), n, "items on the server");
    assert!(hrefs.values().all(|c| *c == 1));
    assert_eq!(items_by_uid(&local, ".ics").len(), want.len());
}

/// `from a` and `from b` create collections on the other side; where the server refuses
/// (declared), the refusal names the collection and the rest of the pair still syncs.
pub fn collections_created_or_refused(kind: ServerKind, coll: Coll) {
    let refusal = match coll {
        Coll::Calendar => expected(kind).creates_calendars,
        Coll::AddressBook => expected(kind).creates_address_books,
    };
    let Err(reason) = refusal else {
        return super::dav_scenarios::collections_created_both_ways(kind, coll);
    };
    let Some(server) = DavServer::start(kind) else {
        return;
    };
    eprintln!("{kind:?} declared: cannot create {coll:?} collections ({reason})");
    let sb = Sandbox::new();
    let parent = sb.mkdir("local");
    let uids = match coll {
        Coll::Calendar => write_events(&parent.join("local-one"), "loc", 2),
        Coll::AddressBook => super::write_cards(&parent.join("local-one"), "loc", 2),
    };
    sb.write_config(&format!(
        "{}{}[pair.p]\na = \"local\"\nb = \"remote\"\ncollections = [\"from a\", \"from b\"]\n",
        vdir_section("local", &parent, coll),
        server.storage_section("remote", coll, &server.home_url(coll), ""),
    ));
    let run = sb.run(&["sync"]);
    run.assert_code(1);
    assert!(
        run.stderr.contains("local-one"),
        "the refusal names the collection\n{}",
        run.dump()
    );
    let default = server.default_collection(coll);
    if coll == Coll::Calendar || expected(kind).discovers_address_books.is_ok() {
        assert!(parent.join(default).is_dir(), "{}", run.dump());
    }
    // Nothing of the local collection was lost.
    assert_eq!(
        items_by_uid(&parent.join("local-one"), coll.fileext()).len(),
        uids.len()
    );
}

/// metasync both ways; where PROPPATCH is refused (declared), metasync fails naming the
/// collection and leaves the local values alone.
pub fn metasync_or_refused(kind: ServerKind) {
    let Err(reason) = expected(kind).writes_metadata else {
        return super::dav_scenarios::metasync_both_ways(kind);
    };
    let Some(server) = DavServer::start(kind) else {
        return;
    };
    eprintln!("{kind:?} declared: collection properties cannot be written ({reason})");
    let coll = Coll::Calendar;
    let name = server.default_collection(coll);
    let sb = Sandbox::new();
    let parent = sb.mkdir("local");
    sb.write_config(&format!(
        "{}{}[pair.p]\na = \"local\"\nb = \"remote\"\ncollections = [\"{name}\"]\n\
         metadata = [\"displayname\"]\nconflict_resolution = \"a wins\"\n",
        vdir_section("local", &parent, coll),
        server.storage_section("remote", coll, &server.home_url(coll), ""),
    ));
    sb.run(&["sync"]).assert_ok();
    std::fs::write(parent.join(name).join("displayname"), "Family").unwrap();
    let run = sb.run(&["metasync"]);
    run.assert_code(1);
    assert!(run.stderr.contains(name), "{}", run.dump());
    assert_eq!(
        std::fs::read_to_string(parent.join(name).join("displayname")).unwrap(),
        "Family"
    );
}

/// Discovery from the declared URL finds what the server lists; where discovery of address
/// books is declared impossible, `discover` still succeeds and creates nothing.
pub fn discovery_finds_or_declared(kind: ServerKind, coll: Coll) {
    let declared = match coll {
        Coll::AddressBook => expected(kind).discovers_address_books,
        Coll::Calendar => Ok(()),
    };
    let Err(reason) = declared else {
        return super::dav_scenarios::discovery_from(kind, coll, &discovery_url_of(kind));
    };
    let Some(server) = DavServer::start(kind) else {
        return;
    };
    eprintln!("{kind:?} declared: address books are not discoverable ({reason})");
    let sb = Sandbox::new();
    let parent = sb.mkdir("local");
    sb.write_config(&format!(
        "{}{}[pair.p]\na = \"local\"\nb = \"remote\"\ncollections = [\"from b\"]\n",
        vdir_section("local", &parent, coll),
        server.storage_section(
            "remote",
            coll,
            &format!("{}{}", server.root_url(), discovery_url_of(kind)),
            ""
        ),
    ));
    let run = sb.run(&["discover"]);
    run.assert_ok();
    assert_eq!(
        std::fs::read_dir(&parent).unwrap().count(),
        0,
        "{}",
        run.dump()
    );
}

/// `check --online` reports what the suite declares: the unchanged check and whether
/// preconditions are enforced, and leaves no probe item behind.
pub fn check_online_reports_the_declared_capabilities(kind: ServerKind) {
    let Some(server) = DavServer::start(kind) else {
        return;
    };
    let coll = Coll::Calendar;
    let name = server.default_collection(coll);
    server.create_collection(coll, name, None);
    let url = server.collection_url(coll, name);
    let sb = Sandbox::new();
    sb.write_config(&server.storage_section("remote", coll, &url, ""));
    let run = sb.run(&["check", "--online"]);
    run.assert_ok();
    let row = |key: &str| {
        run.stdout
            .lines()
            .find(|l| l.trim_start().starts_with(key))
            .unwrap_or_else(|| panic!("no {key} row\n{}", run.dump()))
            .to_owned()
    };
    let want = match expected(kind).unchanged {
        Unchanged::SyncToken => "sync-collection",
        Unchanged::Ctag => "getctag",
    };
    assert!(row("unchanged check").ends_with(want), "{}", run.dump());
    let pre = row("preconditions");
    match expected(kind).enforces_preconditions {
        Ok(()) => assert!(pre.contains(" enforced ("), "{}", run.dump()),
        Err(_) => assert!(pre.contains("NOT enforced"), "{}", run.dump()),
    }
    assert!(
        server.http().members(&url).is_empty(),
        "the probe item was left behind"
    );
}
