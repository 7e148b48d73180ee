//! `kill -9` of the binary at seeded random moments of a large sync, then a rerun: the two
//! sides converge, with no item lost or duplicated, and a further sync changes nothing.
//!
//! The kill moments are drawn from a seeded generator (set `DAVSYNC_CRASH_SEED` to replay a
//! failure; the seed in use is printed) over the duration of an uninterrupted run of the same
//! work, measured first, so they fall inside the sync whatever the speed of the machine.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::dav_scenarios::vdir_section;
use common::servers::{Coll, DavServer, ServerKind};
use common::{edit_line, items_by_uid, write_events, Rng, Sandbox};

fn seed() -> u64 {
    let seed = std::env::var("DAVSYNC_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x00da_5eed);
    eprintln!("crash test seed: {seed} (set DAVSYNC_CRASH_SEED to replay)");
    seed
}

/// Runs `davsync sync` and SIGKILLs it after `after`, unless it finished first. Returns
/// whether it was killed.
fn sync_killed_after(sb: &Sandbox, after: Duration) -> bool {
    let mut child = sb
        .command(&["-q", "sync"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start davsync");
    let deadline = Instant::now() + after;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    // Child::kill sends SIGKILL on Unix: no destructor, no flush, no cleanup runs.
    let killed = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    killed
}

/// Duration of an uninterrupted `davsync sync` over a copy of the same data.
fn calibrate(setup: impl Fn(&Sandbox)) -> Duration {
    let sb = Sandbox::new();
    setup(&sb);
    let t = Instant::now();
    sb.run(&["-q", "sync"]).assert_ok();
    t.elapsed().max(Duration::from_millis(20))
}

/// Kills the sync `kills` times at random moments within `full`, then lets it finish.
fn kill_repeatedly(sb: &Sandbox, rng: &mut Rng, full: Duration, kills: usize) -> usize {
    let mut killed = 0;
    for _ in 0..kills {
        let ms = rng.range(1, full.as_millis() as u64 + 1);
        if sync_killed_after(sb, Duration::from_millis(ms)) {
            killed += 1;
        }
    }
    killed
}

#[track_caller]
fn assert_converged(a: &Path, b: &Path, want: &BTreeMap<String, String>) {
    // items_by_uid fails on a duplicate UID within a side.
    let got_a = items_by_uid(a, ".ics");
    let got_b = items_by_uid(b, ".ics");
    let missing: Vec<&String> = want.keys().filter(|u| !got_a.contains_key(*u)).collect();
    assert!(
        missing.is_empty(),
        "lost on a: {} items, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let missing: Vec<&String> = want.keys().filter(|u| !got_b.contains_key(*u)).collect();
    assert!(
        missing.is_empty(),
        "lost on b: {} items, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(got_a.len(), want.len(), "extra items on a");
    assert_eq!(got_b.len(), want.len(), "extra items on b");
    for (uid, text) in want {
        assert_eq!(&got_a[uid], text, "content of {uid} on a");
        assert_eq!(&got_b[uid], text, "content of {uid} on b");
    }
}

/// Every temporary file (`.davsync-*.tmp`) under `root`, however deep.
fn temp_files(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_owned()];
    while let Some(dir) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().unwrap().is_dir() {
                todo.push(e.path());
            } else if davsync_storages::localfs::is_temp_name(&name) {
                out.push(e.path());
            }
        }
    }
    out
}

#[track_caller]
fn assert_no_temp_files(dirs: &[&Path]) {
    for d in dirs {
        let left = temp_files(d);
        assert!(left.is_empty(), "temporary files left behind: {left:?}");
    }
}

/// A leftover of the kind a write killed between naming its temporary file and renaming it
/// (or one on a file system without `O_TMPFILE`) leaves: the next sync must remove it.
fn plant_leftover(dir: &Path, tag: &str) {
    std::fs::write(
        dir.join(format!(".davsync-{tag}.tmp")),
        "BEGIN:VCALENDAR\r\nhalf written",
    )
    .unwrap();
}

fn two_vdirs(sb: &Sandbox) {
    sb.write_config(&format!(
        "{}{}[pair.p]\na = \"a\"\nb = \"b\"\nconflict_resolution = \"a wins\"\n",
        vdir_section("a", &sb.path("a"), Coll::Calendar),
        vdir_section("b", &sb.path("b"), Coll::Calendar),
    ));
}

/// 1,800 events only on a, 200 only on b, 100 identical on both (not in the status yet).
fn initial_data(sb: &Sandbox) -> BTreeMap<String, String> {
    let a = sb.mkdir("a");
    let b = sb.mkdir("b");
    write_events(&a, "a", 1800);
    write_events(&b, "b", 200);
    write_events(&a, "both", 100);
    write_events(&b, "both", 100);
    two_vdirs(sb);
    let mut want = items_by_uid(&a, ".ics");
    want.extend(items_by_uid(&b, ".ics"));
    want
}

#[test]
fn kill9_during_a_two_thousand_item_vdir_sync_then_rerun_converges() {
    let mut rng = Rng::new(seed());
    let full = calibrate(|sb| {
        initial_data(sb);
    });
    eprintln!("uninterrupted initial sync: {full:?}");

    for round in 0..3 {
        let sb = Sandbox::new();
        let mut want = initial_data(&sb);
        plant_leftover(&sb.path("a"), "planted-a");
        let killed = kill_repeatedly(&sb, &mut rng, full, 3);
        eprintln!("round {round}: killed {killed} of 3 runs");
        plant_leftover(&sb.path("b"), "planted-b");
        sb.run(&["sync"]).assert_ok();
        assert_converged(&sb.path("a"), &sb.path("b"), &want);
        assert_no_temp_files(&[&sb.path("a"), &sb.path("b"), &sb.path("status")]);
        sb.run(&["sync"]).assert_no_change();

        // Second phase: deletions on a, edits on b, interrupted again.
        let a = sb.path("a");
        let b = sb.path("b");
        for i in 0..400 {
            let uid = format!("a-{i}");
            std::fs::remove_file(a.join(format!("{uid}.ics"))).unwrap();
            want.remove(&uid);
        }
        for i in (400..1800).step_by(5) {
            let uid = format!("a-{i}");
            let p = b.join(format!("{uid}.ics"));
            let text = edit_line(
                &std::fs::read_to_string(&p).unwrap(),
                "SUMMARY",
                "edited on b",
            );
            std::fs::write(&p, &text).unwrap();
            want.insert(uid, text);
        }
        let start = Instant::now();
        let killed = kill_repeatedly(&sb, &mut rng, full / 2, 3);
        eprintln!("round {round}: killed {killed} of 3 update runs");
        let run = sb.run(&["sync"]);
        eprintln!("final update run took {:?}", start.elapsed());
        run.assert_ok();
        assert_converged(&a, &b, &want);
        assert_no_temp_files(&[&a, &b]);
        sb.run(&["sync"]).assert_no_change();
    }
}

/// The same against a server: uploads to Radicale interrupted by kill -9, then a rerun;
/// every event is on the server exactly once (seen by a second client).
#[test]
fn kill9_during_upload_to_radicale_then_rerun_converges() {
    let Some(server) = DavServer::start(ServerKind::Radicale) else {
        return;
    };
    let mut rng = Rng::new(seed() ^ 0x5eed);
    let n = 150;
    let mut full = Duration::ZERO;
    for round in 0..2 {
        let name = format!("crash{round}");
        server.create_collection(Coll::Calendar, &name, None);
        let sb = Sandbox::new();
        let local = sb.mkdir("local");
        let check = sb.mkdir("check");
        write_events(&local, &format!("up{round}"), n);
        let want = items_by_uid(&local, ".ics");
        let url = server.collection_url(Coll::Calendar, &name);
        sb.write_config(&format!(
            "{}{}{}[pair.p]\na = \"local\"\nb = \"remote\"\n\n\
             [pair.look]\na = \"check\"\nb = \"remote\"\n",
            vdir_section("local", &local, Coll::Calendar),
            vdir_section("check", &check, Coll::Calendar),
            server.storage_section("remote", Coll::Calendar, &url, ""),
        ));
        if round == 0 {
            // Calibrate on the first collection: its uninterrupted upload is the reference.
            let t = Instant::now();
            sb.run(&["-q", "sync", "p"]).assert_ok();
            full = t.elapsed();
            eprintln!("uninterrupted upload of {n}: {full:?}");
            continue;
        }
        let mut killed = 0;
        for _ in 0..4 {
            let ms = rng.range(1, full.as_millis() as u64 + 1);
            let mut child = sb
                .command(&["-q", "sync", "p"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(ms));
            if child.try_wait().unwrap().is_none() {
                killed += 1;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        eprintln!("killed {killed} of 4 runs");
        sb.run(&["sync", "p"]).assert_ok();
        sb.run(&["sync", "p"]).assert_no_change();
        sb.run(&["sync", "look"]).assert_ok();
        assert_no_temp_files(&[&local, &check]);
        let on_server = items_by_uid(&check, ".ics");
        assert_eq!(on_server.len(), n, "items on the server");
        assert_eq!(
            on_server.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>()
        );
        let on_disk = std::fs::read_dir(server.radicale_collection_dir(&name))
            .unwrap()
            .filter(|e| {
                let n = e.as_ref().unwrap().file_name();
                !n.to_string_lossy().starts_with('.')
            })
            .count();
        assert_eq!(on_disk, n, "Radicale holds a duplicate");
    }
}
