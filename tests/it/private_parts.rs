//! The status folder and everything in it is private to the user: folders 0700, files 0600
//! (interface.md, Safety), whatever the umask, and looser modes found there are tightened.

#![cfg(unix)]

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::dav_scenarios::vdir_section;
use common::servers::Coll;
use common::{davsync_bin, run_command, write_events, Run, Sandbox};

/// `davsync sync` under a umask that would make new files world-readable.
fn sync_with_open_umask(sb: &Sandbox) -> Run {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "umask 022; exec \"$@\"", "sh"])
        .arg(davsync_bin())
        .arg("--config")
        .arg(sb.config_path())
        .arg("sync");
    sb.isolate(&mut cmd);
    run_command(cmd, Duration::from_secs(300))
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Every entry under `root` with its mode, the root included.
fn modes(root: &Path) -> Vec<(String, bool, u32)> {
    let mut out = vec![(root.display().to_string(), true, mode(root))];
    for e in std::fs::read_dir(root).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            out.extend(modes(&p));
        } else {
            out.push((p.display().to_string(), false, mode(&p)));
        }
    }
    out
}

#[track_caller]
fn assert_private(root: &Path) {
    let all = modes(root);
    assert!(all.len() > 1, "the status folder holds nothing: {all:?}");
    for (path, is_dir, m) in all {
        let want = if is_dir { 0o700 } else { 0o600 };
        assert_eq!(m, want, "{path} has mode {m:o}, not {want:o}");
    }
}

fn two_vdirs(sb: &Sandbox) {
    write_events(&sb.mkdir("a"), "a", 3);
    sb.mkdir("b");
    sb.write_config(&format!(
        "{}{}[pair.p]\na = \"a\"\nb = \"b\"\n",
        vdir_section("a", &sb.path("a"), Coll::Calendar),
        vdir_section("b", &sb.path("b"), Coll::Calendar),
    ));
}

#[test]
fn a_new_status_folder_and_its_files_are_private_whatever_the_umask() {
    let sb = Sandbox::new();
    two_vdirs(&sb);
    sync_with_open_umask(&sb).assert_ok();
    assert_private(&sb.status_path());
}

#[test]
fn a_status_folder_and_files_readable_by_others_are_made_private_again() {
    let sb = Sandbox::new();
    two_vdirs(&sb);
    sync_with_open_umask(&sb).assert_ok();
    let status = sb.status_path();
    for entry in std::fs::read_dir(&status).unwrap() {
        let p = entry.unwrap().path();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    std::fs::set_permissions(&status, std::fs::Permissions::from_mode(0o755)).unwrap();
    write_events(&sb.path("b"), "b", 2);
    sync_with_open_umask(&sb).assert_ok();
    assert_private(&status);
}
