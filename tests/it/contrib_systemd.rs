//! The systemd units in contrib/systemd/ start what the docs say they start, with arguments
//! the binary accepts: `davsync.service` runs `watch` as `Type=notify`, the timer pair runs
//! `sync`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

/// `Section.Key` -> values, in order (a key may repeat).
fn unit(name: &str) -> BTreeMap<String, Vec<String>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("contrib/systemd")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut section = String::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.to_owned();
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("{name}: not a key=value line: {line}"));
        assert!(!section.is_empty(), "{name}: key outside a section: {line}");
        out.entry(format!("{section}.{}", k.trim()))
            .or_default()
            .push(v.trim().to_owned());
    }
    out
}

fn one<'u>(u: &'u BTreeMap<String, Vec<String>>, key: &str) -> &'u str {
    match u.get(key).map(Vec::as_slice) {
        Some([v]) => v,
        other => panic!("{key}: expected one value, found {other:?}"),
    }
}

/// The davsync arguments of an `ExecStart=` line, checked against the binary's own parser.
fn davsync_args(exec: &str) -> Vec<String> {
    let mut words = exec.split_whitespace();
    let program = words.next().unwrap();
    assert!(
        program.ends_with("/davsync"),
        "ExecStart runs {program}, not davsync"
    );
    let args: Vec<String> = words.map(str::to_owned).collect();
    let help = Command::new(env!("CARGO_BIN_EXE_davsync"))
        .args(&args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(
        help.status.success(),
        "davsync {args:?} is not a valid command line: {}",
        String::from_utf8_lossy(&help.stderr)
    );
    args
}

#[test]
fn watch_service_is_a_notify_service_running_watch() {
    let u = unit("davsync.service");
    assert_eq!(one(&u, "Service.Type"), "notify");
    assert_eq!(davsync_args(one(&u, "Service.ExecStart")), ["watch"]);
    // A config error (exit 2) is not fixed by restarting.
    assert_eq!(one(&u, "Service.RestartPreventExitStatus"), "2");
    assert_eq!(one(&u, "Install.WantedBy"), "default.target");
}

#[test]
fn timer_starts_a_oneshot_sync() {
    let s = unit("davsync-sync.service");
    assert_eq!(one(&s, "Service.Type"), "oneshot");
    assert_eq!(davsync_args(one(&s, "Service.ExecStart")), ["sync"]);
    let t = unit("davsync-sync.timer");
    assert!(t.contains_key("Timer.OnUnitActiveSec"), "{t:?}");
    assert_eq!(one(&t, "Timer.Persistent"), "true");
    assert_eq!(one(&t, "Install.WantedBy"), "timers.target");
    // The timer starts the service of its own name.
    assert!(!t.contains_key("Timer.Unit"), "{t:?}");
}
