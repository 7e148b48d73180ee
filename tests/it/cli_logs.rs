//! stderr formats: `--log-format json` (one JSON object per line) and colour (only on a
//! terminal, never with NO_COLOR).

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::{require_tool, run_command, toml_path, write_events, Sandbox};

/// Two vdirs, one collection on a with one good and one truncated item.
fn setup() -> Sandbox {
    let sb = Sandbox::new();
    let a = sb.mkdir("a");
    sb.mkdir("b");
    write_events(&a.join("work"), "ok", 1);
    std::fs::write(
        a.join("work").join("bad.ics"),
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:bad\r\n",
    )
    .unwrap();
    sb.write_config(&format!(
        "[storage.a]\ntype = \"vdir\"\npath = {}\nfileext = \".ics\"\n\n\
         [storage.b]\ntype = \"vdir\"\npath = {}\nfileext = \".ics\"\n\n\
         [pair.p]\na = \"a\"\nb = \"b\"\ncollections = [\"from a\"]\n",
        toml_path(&sb.path("a")),
        toml_path(&sb.path("b"))
    ));
    sb
}

#[test]
fn json_log_format_makes_every_stderr_line_a_json_object_and_keeps_stdout() {
    let sb = setup();
    let run = sb.run(&["--log-format", "json", "-v", "sync"]);
    assert_eq!(run.code, 1, "{}", run.dump());
    assert_eq!(
        run.change_lines(),
        vec![
            "Creating collection work on b".to_owned(),
            "Copying (uploading) item ok-0 to b/work".to_owned()
        ]
    );
    let lines: Vec<serde_json::Value> = run
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect();
    assert_eq!(
        lines[0],
        serde_json::json!({
            "level": "INFO",
            "message": format!("reading config {}", sb.config_path().display()),
        })
    );
    for l in &lines {
        let keys: Vec<&str> = l.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        assert_eq!(&keys[..2], ["level", "message"], "{l}");
    }
    assert!(
        lines.contains(&serde_json::json!({
            "level": "INFO",
            "message": "Copying (uploading) item ok-0 to b/work",
            "pair": "p",
            "collection": "work",
            "uid": "ok-0",
            "action": "upload",
            "outcome": "ok",
        })),
        "{}",
        run.stderr
    );
    let mut summary = lines.last().unwrap().clone();
    let map = summary.as_object_mut().unwrap();
    assert!(map.remove("duration_ms").unwrap().is_u64());
    let message = map.remove("message").unwrap();
    assert!(message
        .as_str()
        .unwrap()
        .starts_with("Synced 1 pairs, 1 collections: 1 uploaded, 0 updated, 0 deleted, 0 conflicts resolved, 0 unresolved, 1 failed in "));
    assert_eq!(
        summary,
        serde_json::json!({
            "level": "INFO", "action": "summary", "pairs": 1, "collections": 1,
            "uploaded": 1, "updated": 0, "deleted": 0, "resolved": 0, "unresolved": 0,
            "failed": 1,
        })
    );
    let errors: Vec<&serde_json::Value> = lines.iter().filter(|l| l["level"] == "ERROR").collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0]["message"].as_str().unwrap().contains("bad.ics"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_config_error_in_json_mode_is_a_json_line_too() {
    let sb = Sandbox::new();
    let run = sb.run(&["--log-format", "json", "check"]);
    assert_eq!(run.code, 2, "{}", run.dump());
    let line: serde_json::Value = serde_json::from_str(run.stderr.trim_end()).unwrap();
    assert_eq!(line["level"], "ERROR");
    assert_eq!(
        line["message"],
        format!(
            "cannot read config file {}: No such file or directory (os error 2)",
            sb.config_path().display()
        )
    );
    assert_eq!(run.stderr.lines().count(), 1);
}

#[test]
fn without_a_terminal_stderr_has_no_colour() {
    let sb = setup();
    let run = sb.run(&["-v", "sync"]);
    assert!(!run.stderr.contains('\x1b'), "{:?}", run.stderr);
    assert!(
        run.stderr.contains(" INFO reading config "),
        "{}",
        run.stderr
    );
}

/// Runs `davsync -v sync` on a pseudo-terminal (util-linux `script`) and returns what the
/// terminal showed.
fn on_a_terminal(sb: &Sandbox, no_color: Option<&str>) -> Option<String> {
    let script = require_tool("script")?;
    let cmdline = format!(
        "{} --config '{}' -v sync",
        common::davsync_bin().display(),
        sb.config_path().display()
    );
    let mut cmd = Command::new(script);
    cmd.args(["-qec", &cmdline, "/dev/null"]);
    sb.isolate(&mut cmd);
    cmd.env_remove("NO_COLOR");
    if let Some(v) = no_color {
        cmd.env("NO_COLOR", v);
    }
    let run = run_command(cmd, Duration::from_secs(120));
    Some(run.stdout)
}

#[test]
fn on_a_terminal_log_levels_are_coloured_unless_no_color_is_set() {
    let sb = setup();
    let Some(coloured) = on_a_terminal(&sb, None) else {
        return;
    };
    assert!(coloured.contains("\x1b["), "{coloured:?}");
    for value in ["1", ""] {
        std::fs::remove_dir_all(sb.status_path()).ok();
        std::fs::remove_dir_all(sb.path("b/work")).ok();
        let plain = on_a_terminal(&sb, Some(value)).unwrap();
        assert!(!plain.contains("\x1b["), "NO_COLOR={value:?}: {plain:?}");
        assert!(plain.contains("INFO reading config"), "{plain:?}");
        assert!(plain.contains("error: a/work: "), "{plain:?}");
    }
}
