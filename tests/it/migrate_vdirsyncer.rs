//! `davsync import-vdirsyncer` against the real vdirsyncer (0.21, installed by scripts/test into
//! .venv): vdirsyncer syncs first, then its config and status are imported and davsync's
//! first sync must have nothing to do: no change line, no write, no conflict and, against a
//! server, no item body read. Skipped loudly when vdirsyncer is missing; with CI=true a
//! missing vdirsyncer fails.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::servers::{Coll, DavServer, ServerKind, ServerOptions};
use common::{require_tool, run_command, write_events, Run, Sandbox};

/// Runs vdirsyncer with the sandbox's HOME; panics on failure.
fn vdirsyncer(sb: &Sandbox, exe: &Path, config: &Path, args: &[&str]) {
    let mut cmd = Command::new(exe);
    cmd.arg("-c").arg(config).args(args);
    sb.isolate(&mut cmd);
    let run = run_command(cmd, Duration::from_secs(300));
    assert_eq!(run.code, 0, "vdirsyncer {args:?} failed:\n{}", run.dump());
}

/// Imports into `<sandbox>/davsync.toml` (status in the sandbox's HOME).
fn import(sb: &Sandbox, vconfig: &Path) -> Run {
    let mut cmd = Command::new(common::davsync_bin());
    cmd.arg("import-vdirsyncer")
        .arg("--from")
        .arg(vconfig)
        .arg("--to")
        .arg(sb.path("davsync.toml"));
    sb.isolate(&mut cmd);
    run_command(cmd, Duration::from_secs(120))
}

fn davsync(sb: &Sandbox, args: &[&str]) -> Run {
    let mut cmd = Command::new(common::davsync_bin());
    cmd.arg("--config").arg(sb.path("davsync.toml")).args(args);
    sb.isolate(&mut cmd);
    run_command(cmd, Duration::from_secs(300))
}

/// Every file under `dir` with its inode and modification time: changes when anything is
/// written (files are replaced by rename).
fn fingerprint(dir: &Path) -> Vec<(PathBuf, u64, i64, i64)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            if m.is_dir() {
                stack.push(e.path());
            } else {
                out.push((e.path(), m.ino(), m.mtime(), m.mtime_nsec()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn after_vdirsyncer_synced_two_vdirs_the_first_davsync_sync_has_nothing_to_do() {
    let Some(vds) = require_tool("vdirsyncer") else {
        return;
    };
    let sb = Sandbox::new();
    let a = sb.mkdir("a");
    let b = sb.mkdir("b");
    let work = write_events(&a.join("work"), "work", 12);
    write_events(&a.join("home"), "home", 3);
    let vconfig = sb.path("vdirsyncer.conf");
    std::fs::write(
        &vconfig,
        format!(
            "[general]\nstatus_path = \"{status}\"\n\n\
             [pair cals]\na = \"cal_a\"\nb = \"cal_b\"\ncollections = [\"from a\", \"from b\"]\n\
             conflict_resolution = \"a wins\"\n\n\
             [storage cal_a]\ntype = \"filesystem\"\npath = \"{a}\"\nfileext = \".ics\"\n\n\
             [storage cal_b]\ntype = \"filesystem\"\npath = \"{b}\"\nfileext = \".ics\"\n",
            status = sb.path("vstatus").display(),
            a = a.display(),
            b = b.display(),
        ),
    )
    .unwrap();
    // b's collections do not exist yet: vdirsyncer asks before creating them.
    let mut cmd = Command::new(&vds);
    cmd.arg("-c").arg(&vconfig).args(["discover", "cals"]);
    sb.isolate(&mut cmd);
    cmd.stdin(std::process::Stdio::piped());
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"y\ny\ny\ny\n")
        .unwrap();
    assert!(child.wait().unwrap().success(), "vdirsyncer discover");
    vdirsyncer(&sb, &vds, &vconfig, &["sync"]);
    assert_eq!(std::fs::read_dir(b.join("work")).unwrap().count(), 12);

    let run = import(&sb, &vconfig);
    assert_eq!(run.code, 0, "{}", run.dump());
    assert_eq!(
        run.stdout,
        format!(
            "Wrote {}\nImported 15 status rows for pair cals\n",
            sb.path("davsync.toml").display()
        ),
        "{}",
        run.dump()
    );
    assert_eq!(run.stderr, "");

    let before = (fingerprint(&a), fingerprint(&b));
    let run = davsync(&sb, &["sync"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    assert_eq!(run.change_lines(), Vec::<String>::new(), "{}", run.dump());
    assert!(!run.stdout.contains("Conflict"), "{}", run.dump());
    assert_eq!(
        (fingerprint(&a), fingerprint(&b)),
        before,
        "davsync wrote something"
    );

    // An edit made after vdirsyncer's last sync is an ordinary change, not a conflict.
    let edited = common::edit_line(
        &std::fs::read_to_string(b.join("work").join(format!("{}.ics", work[3]))).unwrap(),
        "SUMMARY",
        "Moved",
    );
    std::fs::write(b.join("work").join(format!("{}.ics", work[3])), edited).unwrap();
    let run = davsync(&sb, &["sync"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    assert_eq!(
        run.change_lines(),
        vec![format!("Copying (updating) item {} to cal_a/work", work[3])],
        "{}",
        run.dump()
    );
}

#[test]
fn after_vdirsyncer_synced_with_radicale_davsync_reads_no_item_and_writes_nothing() {
    let Some(vds) = require_tool("vdirsyncer") else {
        return;
    };
    let Some(server) = DavServer::start_with(
        ServerKind::Radicale,
        ServerOptions {
            verbose_log: true,
            ..Default::default()
        },
    ) else {
        return;
    };
    server.create_collection(Coll::Calendar, "work", Some("Work"));
    let sb = Sandbox::new();
    let local = sb.mkdir("cals");
    write_events(&local.join("work"), "ev", 20);
    let vconfig = sb.path("vdirsyncer.conf");
    std::fs::write(
        &vconfig,
        format!(
            "[general]\nstatus_path = \"{status}\"\n\n\
             [pair cals]\na = \"local\"\nb = \"remote\"\ncollections = [\"work\"]\n\n\
             [storage local]\ntype = \"filesystem\"\npath = \"{local}\"\nfileext = \".ics\"\n\n\
             [storage remote]\ntype = \"caldav\"\nurl = \"{url}\"\nusername = \"{user}\"\n\
             password.fetch = [\"command\", \"printf\", \"{pw}\"]\n",
            status = sb.path("vstatus").display(),
            local = local.display(),
            url = server.root_url(),
            user = server.username,
            pw = server.password,
        ),
    )
    .unwrap();
    vdirsyncer(&sb, &vds, &vconfig, &["discover", "cals"]);
    vdirsyncer(&sb, &vds, &vconfig, &["sync"]);
    assert_eq!(
        std::fs::read_dir(server.radicale_collection_dir("work"))
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "ics"))
            .count(),
        20
    );

    let run = import(&sb, &vconfig);
    assert_eq!(run.code, 0, "{}", run.dump());
    assert!(
        run.stdout
            .ends_with("Imported 20 status rows for pair cals\n"),
        "{}",
        run.dump()
    );
    let written = std::fs::read_to_string(sb.path("davsync.toml")).unwrap();
    assert!(
        written.contains(&format!(
            "password.command = [\"printf\", \"{}\"]",
            server.password
        )),
        "{written}"
    );

    let log_before = server.log().len();
    let before = fingerprint(&local);
    let run = davsync(&sb, &["sync"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    assert_eq!(run.stdout, "", "{}", run.dump());
    assert_eq!(fingerprint(&local), before, "davsync wrote to the vdir");
    let log = server.log();
    let during = &log[log_before..];
    let methods: Vec<&str> = during
        .lines()
        .filter_map(|l| l.split_once(" request for ").map(|(h, _)| h))
        .filter_map(|h| h.rsplit(' ').next())
        .collect();
    assert!(!methods.is_empty(), "the sync made no request?\n{during}");
    for forbidden in ["GET", "PUT", "DELETE", "MKCOL", "MKCALENDAR", "PROPPATCH"] {
        assert!(
            !methods.contains(&forbidden),
            "davsync sent {forbidden} on its first sync after the import: {methods:?}"
        );
    }
    assert!(
        !during.contains("calendar-multiget"),
        "davsync read item bodies (calendar-multiget) on its first sync after the import"
    );
}

#[test]
fn a_vdirsyncer_config_given_to_sync_points_at_the_import_command() {
    let sb = Sandbox::new();
    std::fs::write(
        sb.config_path(),
        "[general]\nstatus_path = \"~/.vdirsyncer/status/\"\n\n[pair cals]\na = \"x\"\nb = \"y\"\n",
    )
    .unwrap();
    let run = sb.run(&["sync"]);
    assert_eq!(run.code, 2, "{}", run.dump());
    assert_eq!(
        run.stderr,
        format!(
            "error: {p} is a vdirsyncer config ([pair NAME] and [storage NAME] sections), not a \
             davsync one; convert it with `davsync import-vdirsyncer --from {p}`\n",
            p = sb.config_path().display()
        )
    );
}

#[test]
fn keys_that_do_not_convert_are_named_and_exit_1_and_an_existing_config_is_kept() {
    let sb = Sandbox::new();
    let vconfig = sb.path("vdirsyncer.conf");
    std::fs::write(
        &vconfig,
        format!(
            "[general]\nstatus_path = \"{}\"\n\n\
             [storage r]\ntype = \"caldav\"\nurl = \"https://dav.example.org/\"\n\
             useragent = \"me\"\npassword.fetch = [\"prompt\", \"Password\"]\n\n\
             [storage l]\ntype = \"filesystem\"\npath = \"{}\"\nfileext = \".ics\"\n\n\
             [pair p]\na = \"l\"\nb = \"r\"\ncollections = null\n",
            sb.path("vstatus").display(),
            sb.mkdir("l").display()
        ),
    )
    .unwrap();
    let run = import(&sb, &vconfig);
    assert_eq!(run.code, 1, "{}", run.dump());
    assert_eq!(
        run.stderr,
        "[storage r] useragent: not converted: davsync sends its own User-Agent\n\
         [storage r] password.fetch: not converted: davsync does not prompt; use \
         password.command, password.env or password.keyring\n"
    );
    assert!(
        run.stdout.contains("Imported 0 status rows for pair p\n"),
        "{}",
        run.dump()
    );
    let written = std::fs::read_to_string(sb.path("davsync.toml")).unwrap();
    assert!(
        written.contains("# not converted: useragent = \"me\""),
        "{written}"
    );

    let again = import(&sb, &vconfig);
    assert_eq!(again.code, 2, "{}", again.dump());
    assert!(
        again.stderr.contains("already exists; pass --force"),
        "{}",
        again.dump()
    );
    assert_eq!(
        std::fs::read_to_string(sb.path("davsync.toml")).unwrap(),
        written
    );
}

#[test]
fn a_half_written_vdirsyncer_status_is_named_and_its_pair_imported_without_status() {
    let sb = Sandbox::new();
    let vstatus = sb.mkdir("vstatus");
    let items = vstatus.join("p.items");
    std::fs::write(&items, b"SQLite format 3\0truncated").unwrap();
    let vconfig = sb.path("vdirsyncer.conf");
    std::fs::write(
        &vconfig,
        format!(
            "[general]\nstatus_path = \"{}\"\n\n\
             [storage l]\ntype = \"filesystem\"\npath = \"{}\"\nfileext = \".ics\"\n\n\
             [storage r]\ntype = \"filesystem\"\npath = \"{}\"\nfileext = \".ics\"\n\n\
             [pair p]\na = \"l\"\nb = \"r\"\ncollections = null\n",
            vstatus.display(),
            sb.mkdir("l").display(),
            sb.mkdir("r").display()
        ),
    )
    .unwrap();
    let run = import(&sb, &vconfig);
    assert_eq!(run.code, 1, "{}", run.dump());
    assert_eq!(
        run.stdout,
        format!("Wrote {}\n", sb.path("davsync.toml").display())
    );
    assert!(
        run.stderr.starts_with(&format!(
            "error: {}: not a readable vdirsyncer status database (",
            items.display()
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.ends_with(
            "): pair p imported without status (its first sync compares the contents of \
             both sides)\n"
        ),
        "{}",
        run.stderr
    );
    // The config was still written and works.
    assert_eq!(davsync(&sb, &["check"]).code, 0);
}
