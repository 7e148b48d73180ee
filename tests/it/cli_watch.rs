//! `davsync watch` driven as a real process: local edits sync without a new command, its own
//! writes trigger nothing, remote changes are polled, failures are retried, signals end it
//! cleanly with everything recorded, readiness reaches service managers, a deleted folder is
//! reported and picked up again, and memory stays flat over many rounds.
//!
//! Waits are bounded by generous limits that only turn a hang into a failure; nothing here
//! asserts how long anything took.

use crate::common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::servers::{Coll, DavServer, ServerKind};
use common::{event, toml_path, wait_until, Sandbox};

/// The limit of every wait: long enough for a loaded CI machine, short enough for a hang.
const LIMIT: Duration = Duration::from_secs(90);

/// A running `davsync watch`, its output going to files so that a test can look at it while
/// it runs. Killed on drop.
struct Watch {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Watch {
    fn start(sb: &Sandbox, args: &[&str]) -> Watch {
        Self::start_with(sb, args, |_| {})
    }

    fn start_with(sb: &Sandbox, args: &[&str], setup: impl FnOnce(&mut Command)) -> Watch {
        let n = std::fs::read_dir(sb.dir.path()).unwrap().count();
        let stdout = sb.path(&format!("watch-{n}.out"));
        let stderr = sb.path(&format!("watch-{n}.err"));
        let mut all = vec!["watch"];
        all.extend_from_slice(args);
        let mut cmd = sb.command(&all);
        cmd.stdout(Stdio::from(File::create(&stdout).unwrap()))
            .stderr(Stdio::from(File::create(&stderr).unwrap()))
            .env_remove("NOTIFY_SOCKET");
        setup(&mut cmd);
        let child = cmd.spawn().expect("start davsync watch");
        Watch {
            child,
            stdout,
            stderr,
        }
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn dump(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout(),
            self.stderr()
        )
    }

    /// Summary lines so far: one per round of work.
    fn rounds(&self) -> usize {
        self.stderr()
            .lines()
            .filter(|l| l.starts_with("Synced "))
            .count()
    }

    #[track_caller]
    fn wait(&mut self, what: &str, mut cond: impl FnMut(&Watch) -> bool) {
        let ok = wait_until(LIMIT, || {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!(
                    "watch exited ({st}) while waiting for {what}\n{}",
                    self.dump()
                );
            }
            cond(self)
        });
        assert!(ok, "timed out waiting for {what}\n{}", self.dump());
    }

    #[track_caller]
    fn wait_rounds(&mut self, n: usize) {
        self.wait(&format!("{n} rounds"), |w| w.rounds() >= n);
    }

    fn count(&self, needle: &str) -> usize {
        self.stderr().matches(needle).count()
    }

    fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Waits for the process to end and returns its exit code.
    #[track_caller]
    fn exit_code(&mut self) -> i32 {
        let mut code = None;
        let ok = wait_until(LIMIT, || match self.child.try_wait().unwrap() {
            Some(st) => {
                code = Some(st.code().unwrap_or(-1));
                true
            }
            None => false,
        });
        assert!(ok, "watch did not exit\n{}", self.dump());
        code.unwrap()
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A pair `p` of two vdir folders `a` and `b` (calendars), with `extra` in storage b.
fn two_vdirs(sb: &Sandbox, extra_b: &str) {
    sb.mkdir("a");
    sb.mkdir("b");
    sb.write_config(&format!(
        "[storage.a]\ntype = \"vdir\"\npath = {}\nfileext = \".ics\"\n\n\
         [storage.b]\ntype = \"vdir\"\npath = {}\nfileext = \".ics\"\n{extra_b}\n\
         [pair.p]\na = \"a\"\nb = \"b\"\nconflict_resolution = \"a wins\"\n",
        toml_path(&sb.path("a")),
        toml_path(&sb.path("b")),
    ));
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn edits_sync_without_a_new_command_and_own_writes_trigger_nothing() {
    let sb = Sandbox::new();
    two_vdirs(&sb, "");
    write(&sb.path("a/one.ics"), &event("one", "First", 0));
    let mut w = Watch::start(&sb, &["-v"]);
    w.wait_rounds(1);
    assert_eq!(read(&sb.path("b/one.ics")), event("one", "First", 0));
    assert!(
        w.stdout().contains("Copying (uploading) item one to b"),
        "{}",
        w.dump()
    );

    // A new item on a, an edit on b: each arrives on the other side.
    write(&sb.path("a/two.ics"), &event("two", "Second", 1));
    w.wait("two on b", |_| sb.path("b/two.ics").exists());
    w.wait_rounds(2);
    write(
        &sb.path("b/one.ics"),
        &event("one", "First, edited on b", 0),
    );
    w.wait("the edit on a", |_| {
        read(&sb.path("a/one.ics")).contains("First, edited on b")
    });
    w.wait_rounds(3);

    // The last round's own write (one.ics on a) was looked at and found to be what the
    // status recorded: no round of its own.
    w.wait("the check of the round's own write", |w| {
        let err = w.stderr();
        let third = err.match_indices("\nSynced ").nth(2).map(|(i, _)| i);
        third.is_some_and(|i| err[i..].contains("p: unchanged since the last sync"))
    });
    assert_eq!(w.rounds(), 3, "own writes started a round\n{}", w.dump());
    let out = w.stdout();
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "Copying (uploading) item one to b",
            "Copying (uploading) item two to b",
            "Copying (updating) item one to a",
        ],
        "{}",
        w.dump()
    );
    assert!(
        w.stderr().contains(
            "Synced 1 pairs, 1 collections: 1 uploaded, 0 updated, 0 deleted, 0 conflicts \
             resolved, 0 unresolved, 0 failed in "
        ),
        "{}",
        w.dump()
    );

    w.signal("TERM");
    assert_eq!(w.exit_code(), 0, "{}", w.dump());
}

#[test]
fn a_singlefile_is_watched_and_its_own_rewrites_trigger_nothing() {
    let sb = Sandbox::new();
    sb.mkdir("a");
    sb.mkdir("s");
    sb.write_config(&format!(
        "[storage.a]\ntype = \"vdir\"\npath = {}\nfileext = \".ics\"\n\n\
         [storage.s]\ntype = \"singlefile\"\npath = {}\n\n\
         [pair.p]\na = \"a\"\nb = \"s\"\n",
        toml_path(&sb.path("a")),
        toml_path(&sb.path("s/cal.ics")),
    ));
    write(&sb.path("a/one.ics"), &event("one", "First", 0));
    let mut w = Watch::start(&sb, &["-v"]);
    w.wait_rounds(1);
    let file = sb.path("s/cal.ics");
    assert!(read(&file).contains("UID:one"), "{}", w.dump());
    // An edit of the single file reaches the vdir.
    let edited = read(&file).replace("SUMMARY:First", "SUMMARY:Edited in the file");
    write(&file, &edited);
    w.wait("the edit in a", |_| {
        read(&sb.path("a/one.ics")).contains("SUMMARY:Edited in the file")
    });
    w.wait_rounds(2);
    // A new item in the vdir is written into the file, and that rewrite is no change.
    write(&sb.path("a/two.ics"), &event("two", "Second", 1));
    w.wait("two in the file", |_| read(&file).contains("UID:two"));
    w.wait("the check of the rewrite", |w| {
        let err = w.stderr();
        let third = err.match_indices("\nSynced ").nth(2).map(|(i, _)| i);
        third.is_some_and(|i| err[i..].contains("p: unchanged since the last sync"))
    });
    assert_eq!(w.rounds(), 3, "{}", w.dump());
    w.signal("TERM");
    assert_eq!(w.exit_code(), 0, "{}", w.dump());
}

#[test]
fn sigterm_during_a_round_finishes_the_writes_in_flight_records_them_and_exits_0() {
    let sb = Sandbox::new();
    let started = sb.path("hook-started");
    let release = sb.path("hook-release");
    // Every write to b waits in its post_hook until released: the signal arrives while the
    // round's writes are in flight.
    two_vdirs(
        &sb,
        &format!(
            "post_hook = [\"sh\", \"-c\", \"touch '{}'; while [ ! -e '{}' ]; do sleep 0.02; done\", \"hook\"]\n",
            started.display(),
            release.display()
        ),
    );
    let mut w = Watch::start(&sb, &["-v"]);
    w.wait_rounds(1);
    const N: usize = 40;
    for i in 0..N {
        write(
            &sb.path(&format!("a/e{i}.ics")),
            &event(&format!("e{i}"), "Event", i),
        );
    }
    w.wait("the round's first write", |_| started.exists());
    w.signal("TERM");
    w.wait("the signal to be noticed", |w| {
        w.stderr()
            .contains("stopping: the writes in progress are finished and recorded")
    });
    write(&release, "");
    assert_eq!(w.exit_code(), 0, "{}", w.dump());

    // The writes in flight were finished, those not yet begun left (the engine has far
    // fewer than N in flight at once), and every write made is in the status.
    let written = common::read_items(&sb.path("b"), ".ics").len();
    eprintln!("{written} of {N} written before stopping");
    assert!(
        !w.stderr().contains("error:"),
        "work left for the next sync is no error\n{}",
        w.dump()
    );
    assert!((1..N).contains(&written), "{written} written\n{}", w.dump());
    assert_eq!(
        w.stdout().lines().count(),
        written,
        "one change line per write\n{}",
        w.dump()
    );
    let status = sb.run(&["status"]);
    status.assert_ok();
    let recorded = if written == 1 {
        "1 item,".to_owned()
    } else {
        format!("{written} items,")
    };
    assert!(status.stdout.contains(&recorded), "{}", status.dump());
    // The next sync does what was left, and only that.
    let sync = sb.run(&["sync"]);
    sync.assert_ok();
    assert_eq!(sync.change_lines().len(), N - written, "{}", sync.dump());
    assert_eq!(common::read_items(&sb.path("b"), ".ics").len(), N);
}

#[test]
fn sigint_while_idle_exits_0() {
    let sb = Sandbox::new();
    two_vdirs(&sb, "");
    let mut w = Watch::start(&sb, &[]);
    w.wait_rounds(1);
    w.signal("INT");
    assert_eq!(w.exit_code(), 0, "{}", w.dump());
}

#[test]
fn ready_fd_receives_ready_and_is_closed() {
    let sb = Sandbox::new();
    two_vdirs(&sb, "");
    let ready = sb.path("ready");
    // The shell opens descriptor 3 on the file and hands it to davsync, as a service
    // manager would hand over a pipe.
    let mut w = Watch::start_with(&sb, &["--ready-fd", "3"], |cmd| {
        let prog = cmd.get_program().to_owned();
        let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
        let mut sh = Command::new("sh");
        sh.arg("-c")
            .arg(format!("exec \"$@\" 3>'{}'", ready.display()))
            .arg("sh")
            .arg(prog)
            .args(args);
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => sh.env(k, v),
                None => sh.env_remove(k),
            };
        }
        *cmd = sh;
    });
    w.wait("READY=1 on the descriptor", |_| read(&ready) == "READY=1\n");
    let pid = w.pid();
    w.wait("the descriptor to be closed", |_| {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|rd| {
                !rd.filter_map(|e| e.ok())
                    .any(|e| std::fs::read_link(e.path()).ok().as_deref() == Some(&ready))
            })
            .unwrap_or(false)
    });
    w.signal("TERM");
    assert_eq!(w.exit_code(), 0, "{}", w.dump());
}

#[test]
fn notify_socket_receives_ready() {
    let sb = Sandbox::new();
    two_vdirs(&sb, "");
    let sock_path = sb.path("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(LIMIT)).unwrap();
    let mut w = Watch::start_with(&sb, &[], |cmd| {
        cmd.env("NOTIFY_SOCKET", &sock_path);
    });
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).expect("a notification");
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(msg.lines().any(|l| l == "READY=1"), "{msg:?}\n{}", w.dump());
    w.signal("TERM");
    assert_eq!(w.exit_code(), 0, "{}", w.dump());
}

#[test]
fn a_config_error_at_start_is_exit_2_and_a_held_lock_is_refused() {
    let sb = Sandbox::new();
    sb.mkdir("a");
    sb.write_config(&format!(
        "[storage.a]\ntype = \"vdir\"\npath = {}\nfileext = \".ics\"\ninterval = 5\n\n\
         [storage.b]\ntype = \"vdir\"\npath = {}\nfileext = \".ics\"\n\n\
         [pair.p]\na = \"a\"\nb = \"b\"\n",
        toml_path(&sb.path("a")),
        toml_path(&sb.path("b")),
    ));
    let r = sb.run(&["watch"]);
    r.assert_code(2);
    assert!(r.stderr.contains("storage.a.interval"), "{}", r.dump());
    assert!(
        !sb.status_path().exists(),
        "nothing touched on a config error"
    );
    let r = sb.run(&["watch", "--ready-fd", "987"]);
    r.assert_code(2);
    assert!(
        r.stderr
            .contains("--ready-fd 987: no such open file descriptor"),
        "{}",
        r.dump()
    );

    two_vdirs(&sb, "");
    let mut w = Watch::start(&sb, &[]);
    w.wait_rounds(1);
    let lock = sb.status_path().join("p.lock");
    for cmd in [&["sync"][..], &["watch"][..]] {
        let r = sb.run(cmd);
        r.assert_code(1);
        assert!(
            r.stderr.contains(&lock.display().to_string()),
            "{cmd:?} must name the lock\n{}",
            r.dump()
        );
    }
    // A dry run writes no status and takes no lock: it runs beside watch.
    sb.run(&["sync", "--dry-run"]).assert_ok();
    w.signal("TERM");
    assert_eq!(w.exit_code(), 0, "{}", w.dump());
}

#[test]
fn a_deleted_watched_folder_is_reported_and_watched_again_when_back() {
    let sb = Sandbox::new();
    two_vdirs(&sb, "");
    write(&sb.path("a/one.ics"), &event("one", "First", 0));
    let mut w = Watch::start(&sb, &[]);
    w.wait_rounds(1);
    // Moved away: gone from where it is watched.
    std::fs::rename(sb.path("a"), sb.path("a-away")).unwrap();
    w.wait("the report", |w| {
        w.stderr().contains(&format!(
            "watched folder {} was deleted",
            sb.path("a").display()
        ))
    });
    write(&sb.path("a-away/two.ics"), &event("two", "Second", 1));
    std::fs::rename(sb.path("a-away"), sb.path("a")).unwrap();
    w.wait("two on b", |_| sb.path("b/two.ics").exists());
    // And the folder is watched again: a later edit syncs too.
    write(&sb.path("a/three.ics"), &event("three", "Third", 2));
    w.wait("three on b", |_| sb.path("b/three.ics").exists());
    assert_eq!(read(&sb.path("b/one.ics")), event("one", "First", 0));
    w.signal("TERM");
    assert_eq!(w.exit_code(), 0, "{}", w.dump());
}

/// The resident set size of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// Memory stays flat over many rounds: after a warm-up (allocator pools, caches), 180 more
/// rounds of edits may not grow the resident set by more than 4 MiB. A leak of a round's
/// listings, events or status handles would (a per-round leak of 25 KiB is past it).
#[test]
fn memory_stays_flat_over_200_rounds_of_edits() {
    const ROUNDS: usize = 200;
    const WARM_UP: usize = 20;
    const BOUND_KIB: u64 = 4 * 1024;
    let sb = Sandbox::new();
    two_vdirs(&sb, "");
    for i in 0..20 {
        write(
            &sb.path(&format!("a/e{i}.ics")),
            &event(&format!("e{i}"), "Event", i),
        );
    }
    let mut w = Watch::start(&sb, &["-q"]);
    w.wait("the first sync", |_| {
        common::read_items(&sb.path("b"), ".ics").len() == 20
    });
    let mut warm = 0;
    for round in 0..ROUNDS {
        if round == WARM_UP {
            warm = rss_kib(w.pid());
        }
        let summary = format!("Edit {round}");
        let (from, to) = if round % 2 == 0 {
            ("a", "b")
        } else {
            ("b", "a")
        };
        let file = format!("e{}.ics", round % 20);
        write(
            &sb.path(&format!("{from}/{file}")),
            &event(&format!("e{}", round % 20), &summary, round % 20),
        );
        w.wait(&format!("round {round}"), |_| {
            read(&sb.path(&format!("{to}/{file}"))).contains(&format!("SUMMARY:{summary}\r\n"))
        });
    }
    let end = rss_kib(w.pid());
    eprintln!("watch RSS: {warm} KiB after {WARM_UP} rounds, {end} KiB after {ROUNDS}");
    assert!(
        end <= warm + BOUND_KIB,
        "RSS grew from {warm} KiB to {end} KiB over {} rounds",
        ROUNDS - WARM_UP
    );
    w.signal("TERM");
    assert_eq!(w.exit_code(), 0, "{}", w.dump());
}

/// vdir <-> Radicale: a change on the server arrives through the interval check; a local
/// edit is uploaded; the upload does not make the next server check start a round; a server
/// that goes away fails rounds without ending watch, and they succeed once it is back.
#[test]
fn remote_changes_are_polled_and_a_server_outage_is_retried() {
    let Some(mut server) = DavServer::start(ServerKind::Radicale) else {
        return;
    };
    server.create_collection(Coll::Calendar, "cal", None);
    let sb = Sandbox::new();
    sb.mkdir("local");
    let url = server.collection_url(Coll::Calendar, "cal");
    sb.write_config(&format!(
        "[storage.local]\ntype = \"vdir\"\npath = {}\nfileext = \".ics\"\n\n{}\n\
         [pair.p]\na = \"local\"\nb = \"remote\"\n",
        toml_path(&sb.path("local")),
        server.storage_section("remote", Coll::Calendar, &url, "interval = 10\n"),
    ));
    write(&sb.path("local/one.ics"), &event("one", "First", 0));
    let mut w = Watch::start(&sb, &["-vv"]);
    w.wait_rounds(1);
    let server_dir = server.radicale_collection_dir("cal");
    let on_server = |uid: &str| {
        std::fs::read_dir(&server_dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .any(|e| read(&e.path()).contains(&format!("UID:{uid}\r\n")))
    };
    assert!(on_server("one"), "{}", w.dump());

    // An item added on the server arrives with the next interval check.
    let tmp = sb.path("srv.tmp");
    write(&tmp, &event("srv", "From the server", 3));
    std::fs::rename(&tmp, server_dir.join("srv.ics")).unwrap();
    w.wait("the server's item locally", |_| {
        sb.path("local/srv.ics").exists()
    });
    w.wait_rounds(2);

    // A local edit is uploaded; the next server check sees only that upload and starts
    // no round.
    write(&sb.path("local/two.ics"), &event("two", "Second", 1));
    w.wait("two on the server", |_| on_server("two"));
    w.wait_rounds(3);
    let checks_before = w.count("remote: unchanged since the last sync");
    w.wait("a server check after the upload", |w| {
        w.count("remote: unchanged since the last sync") > checks_before
    });
    assert_eq!(w.rounds(), 3, "the upload started a round\n{}", w.dump());

    // The server goes away: a local edit fails its round, watch stays up and retries.
    server.stop();
    write(&sb.path("local/three.ics"), &event("three", "Third", 2));
    w.wait("the failed round", |w| {
        w.stderr().contains("trying again in")
    });
    server.restart();
    w.wait("three on the server after the retry", |_| {
        on_server("three")
    });
    w.signal("TERM");
    assert_eq!(w.exit_code(), 0, "{}", w.dump());
}
