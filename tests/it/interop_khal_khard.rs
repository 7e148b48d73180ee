//! The vdirs davsync writes are read by khal and khard (installed by scripts/test into .venv):
//! every event and contact davsync copied shows up in `khal list`, `khard list` and
//! `khard show`. Skipped loudly when a tool is missing; with CI=true a missing tool fails.

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::dav_scenarios::vdir_section;
use common::servers::{Coll, DavServer, ServerKind};
use common::{card, event, run_command, write_cards, write_events, Run, Sandbox};

/// A recurring event with one moved occurrence, in one file: khal must see the override.
const WEEKLY: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//davsync tests//EN\r\n\
BEGIN:VEVENT\r\nUID:weekly@example.org\r\nDTSTAMP:20260101T000000Z\r\n\
DTSTART:20260302T120000Z\r\nDTEND:20260302T130000Z\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\n\
SUMMARY:Weekly sync\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:weekly@example.org\r\nDTSTAMP:20260101T000000Z\r\n\
RECURRENCE-ID:20260309T120000Z\r\nDTSTART:20260309T150000Z\r\nDTEND:20260309T160000Z\r\n\
SUMMARY:Weekly sync (moved)\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

/// UIDs that are not safe as file names, and text that is not ASCII.
const ODD_EVENT_UID: &str = "odd/uid:with*chars@example.org";
const ODD_CARD_UID: &str = "card/with:odd*chars";

fn khal_config(sb: &Sandbox, calendar: &Path) -> std::path::PathBuf {
    let path = sb.path("khal.conf");
    std::fs::write(
        &path,
        format!(
            "[calendars]\n[[synced]]\npath = {}\ntype = calendar\n\n\
             [locale]\nlocal_timezone = UTC\ndefault_timezone = UTC\ntimeformat = %H:%M\n\
             dateformat = %Y-%m-%d\nlongdateformat = %Y-%m-%d\n\
             datetimeformat = %Y-%m-%d %H:%M\nlongdatetimeformat = %Y-%m-%d %H:%M\n\n\
             [sqlite]\npath = {}\n",
            calendar.display(),
            sb.path("khal.db").display()
        ),
    )
    .unwrap();
    path
}

fn khard_config(sb: &Sandbox, book: &Path) -> std::path::PathBuf {
    let path = sb.path("khard.conf");
    std::fs::write(
        &path,
        format!(
            "[addressbooks]\n[[synced]]\npath = {}\n\n[general]\ndefault_action = list\n",
            book.display()
        ),
    )
    .unwrap();
    path
}

fn tool(sb: &Sandbox, exe: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(exe);
    cmd.args(args);
    sb.isolate(&mut cmd);
    cmd.env("TZ", "UTC").env("LC_ALL", "C.UTF-8");
    let run = run_command(cmd, Duration::from_secs(120));
    assert_eq!(run.code, 0, "{exe:?} {args:?} failed\n{}", run.dump());
    run
}

/// `(uid, title, start)` of every event occurrence khal lists in March 2026.
fn khal_events(sb: &Sandbox, khal: &Path, calendar: &Path) -> BTreeSet<(String, String, String)> {
    let conf = khal_config(sb, calendar);
    let run = tool(
        sb,
        khal,
        &[
            "-c",
            conf.to_str().unwrap(),
            "list",
            "--format",
            "{uid}|{title}|{start}",
            "--day-format",
            "",
            "2026-03-01",
            "2026-04-01",
        ],
    );
    run.stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut parts = l.splitn(3, '|');
            let p = (
                parts.next().unwrap_or_default().to_owned(),
                parts.next().unwrap_or_default().to_owned(),
                parts.next().unwrap_or_default().to_owned(),
            );
            assert!(
                !p.2.is_empty(),
                "unexpected khal line {l:?}\n{}",
                run.dump()
            );
            p
        })
        .collect()
}

/// The events a source collection holds, as khal should list them.
fn expected_events(n: usize) -> BTreeSet<(String, String, String)> {
    let mut want: BTreeSet<(String, String, String)> = (0..n)
        .map(|i| {
            let day = 2 + (i / 10) % 20;
            let hour = 8 + i % 10;
            (
                format!("ev-{i}"),
                format!("Event {i}"),
                format!("2026-03-{day:02} {hour:02}:00"),
            )
        })
        .collect();
    for (title, start) in [
        ("Weekly sync", "2026-03-02 12:00"),
        ("Weekly sync (moved)", "2026-03-09 15:00"),
        ("Weekly sync", "2026-03-16 12:00"),
    ] {
        want.insert((
            "weekly@example.org".to_owned(),
            title.to_owned(),
            start.to_owned(),
        ));
    }
    want.insert((
        ODD_EVENT_UID.to_owned(),
        "Réunion ☕ café".to_owned(),
        "2026-03-20 08:00".to_owned(),
    ));
    want
}

fn write_event_source(dir: &Path, n: usize) {
    write_events(dir, "ev", n);
    std::fs::write(dir.join("weekly.ics"), WEEKLY).unwrap();
    // The source file name is arbitrary; davsync picks its own on the other side.
    let odd = event(ODD_EVENT_UID, "Réunion ☕ café", 0).replace("20260302T08", "20260320T08");
    std::fs::write(dir.join("odd.ics"), odd).unwrap();
}

fn write_card_source(dir: &Path, n: usize) {
    write_cards(dir, "person", n);
    std::fs::write(dir.join("odd.vcf"), card(ODD_CARD_UID, "Zoë Ünsal")).unwrap();
}

fn expected_names(n: usize) -> BTreeSet<String> {
    let mut want: BTreeSet<String> = (0..n).map(|i| format!("Person{i} Example")).collect();
    want.insert("Zoë Ünsal".to_owned());
    want
}

/// Names of the contacts `khard list --parsable` shows (uid, name, address book per line).
fn khard_names(sb: &Sandbox, khard: &Path, book: &Path) -> BTreeSet<String> {
    let conf = khard_config(sb, book);
    let run = tool(
        sb,
        khard,
        &["-c", conf.to_str().unwrap(), "list", "--parsable"],
    );
    run.stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert!(cols.len() >= 3, "unexpected khard line {l:?}");
            assert_eq!(cols[2], "synced", "{l:?}");
            cols[1].to_owned()
        })
        .collect()
}

fn assert_khard_shows_odd_card(sb: &Sandbox, khard: &Path, book: &Path) {
    let conf = khard_config(sb, book);
    let run = tool(
        sb,
        khard,
        &[
            "-c",
            conf.to_str().unwrap(),
            "show",
            "--format",
            "yaml",
            &format!("uid:{ODD_CARD_UID}"),
        ],
    );
    assert!(run.stdout.contains("Zoë"), "{}", run.dump());
    assert!(
        run.stdout.contains("zoë.ünsal@example.org"),
        "{}",
        run.dump()
    );
}

#[test]
fn khal_lists_every_event_davsync_copied_between_vdirs() {
    let Some(khal) = common::require_tool("khal") else {
        return;
    };
    let sb = Sandbox::new();
    let n = 30;
    write_event_source(&sb.path("src/home"), n);
    let dst = sb.mkdir("dst");
    sb.write_config(&format!(
        "{}{}[pair.cal]\na = \"src\"\nb = \"dst\"\ncollections = [\"from a\"]\n",
        vdir_section("src", &sb.path("src"), Coll::Calendar),
        vdir_section("dst", &dst, Coll::Calendar),
    ));
    sb.run(&["sync"]).assert_ok();
    sb.run(&["sync"]).assert_no_change();
    assert_eq!(
        khal_events(&sb, &khal, &dst.join("home")),
        expected_events(n)
    );
}

#[test]
fn khard_lists_and_shows_every_card_davsync_copied_between_vdirs() {
    let Some(khard) = common::require_tool("khard") else {
        return;
    };
    let sb = Sandbox::new();
    let n = 12;
    write_card_source(&sb.path("src/people"), n);
    let dst = sb.mkdir("dst");
    sb.write_config(&format!(
        "{}{}[pair.ab]\na = \"src\"\nb = \"dst\"\ncollections = [\"from a\"]\n",
        vdir_section("src", &sb.path("src"), Coll::AddressBook),
        vdir_section("dst", &dst, Coll::AddressBook),
    ));
    sb.run(&["sync"]).assert_ok();
    let book = dst.join("people");
    assert_eq!(khard_names(&sb, &khard, &book), expected_names(n));
    assert_khard_shows_odd_card(&sb, &khard, &book);
}

/// Items that went through a CalDAV/CardDAV server (Radicale) and were downloaded by
/// davsync are read by khal and khard too.
#[test]
fn khal_and_khard_read_what_davsync_downloaded_from_radicale() {
    let Some(khal) = common::require_tool("khal") else {
        return;
    };
    let Some(khard) = common::require_tool("khard") else {
        return;
    };
    let Some(server) = DavServer::start(ServerKind::Radicale) else {
        return;
    };
    server.create_collection(Coll::Calendar, "home", Some("Home"));
    server.create_collection(Coll::AddressBook, "people", Some("People"));
    let n = 20;
    write_event_source(&server.radicale_collection_dir("home"), n);
    write_card_source(&server.radicale_collection_dir("people"), n);

    let sb = Sandbox::new();
    let cals = sb.mkdir("calendars");
    let books = sb.mkdir("contacts");
    sb.write_config(&format!(
        "{}{}{}{}\
         [pair.cal]\na = \"cal_local\"\nb = \"cal_remote\"\ncollections = [\"from b\"]\n\n\
         [pair.ab]\na = \"ab_local\"\nb = \"ab_remote\"\ncollections = [\"from b\"]\n",
        vdir_section("cal_local", &cals, Coll::Calendar),
        vdir_section("ab_local", &books, Coll::AddressBook),
        server.storage_section("cal_remote", Coll::Calendar, &server.root_url(), ""),
        server.storage_section("ab_remote", Coll::AddressBook, &server.root_url(), ""),
    ));
    sb.run(&["sync"]).assert_ok();
    sb.run(&["sync"]).assert_no_change();
    assert_eq!(
        khal_events(&sb, &khal, &cals.join("home")),
        expected_events(n)
    );
    let book = books.join("people");
    assert_eq!(khard_names(&sb, &khard, &book), expected_names(n));
    assert_khard_shows_odd_card(&sb, &khard, &book);
}
