use std::path::Path;

use super::*;
use crate::migrate::ini;

fn conv(text: &str) -> Converted {
    convert(&ini::parse(Path::new("/home/u/.vdirsyncer/config"), text).unwrap())
}

/// Caught by the vdirsyncer fuzz check (tests/fuzz/regressions/vdirsyncer/dotted-name):
/// names were written bare, so `[storage my.cal]` became a table `cal` inside a table `my`.
#[test]
fn a_name_toml_cannot_take_bare_is_quoted() {
    let c = conv(
        "[pair my cals]\na = \"my.cal\"\nb = \"b\"\ncollections = null\n\n\
             [storage my.cal]\ntype = \"filesystem\"\npath = \"/x\"\nfileext = \".ics\"\n\n\
             [storage b]\ntype = \"filesystem\"\npath = \"/y\"\nfileext = \".ics\"\n",
    );
    let table: toml::Table = c.toml.parse().unwrap();
    assert!(table["pair"]["my cals"].is_table(), "{}", c.toml);
    assert!(table["storage"]["my.cal"].is_table(), "{}", c.toml);
    assert!(table["storage"]["b"].is_table(), "{}", c.toml);
    assert!(c.toml.contains("[storage.\"my.cal\"]\n"), "{}", c.toml);
    assert!(c.toml.contains("[storage.b]\n"), "{}", c.toml);
}

/// Caught by the vdirsyncer fuzz check
/// (tests/fuzz/regressions/vdirsyncer/control-char-in-comment): a control character in a
/// key or a section name was copied into a comment, which TOML refuses.
#[test]
fn control_characters_are_escaped_in_comments() {
    let c = conv("[general]\na\u{1}b = \"x\u{7f}\"\n[odd\u{1}]\n");
    c.toml.parse::<toml::Table>().unwrap();
    assert!(
        c.toml
            .contains("# not converted: a\\u{1}b = \"x\\u{7f}\"  (not a vdirsyncer"),
        "{}",
        c.toml
    );
    assert!(
        c.toml.contains("# not converted: section [odd\\u{1}]\n"),
        "{}",
        c.toml
    );
}

/// Found by the vdirsyncer fuzz target (tests/fuzz/regressions/vdirsyncer/
/// password-and-password-fetch): both became keys of one TOML `password`, which TOML
/// refuses.
#[test]
fn password_and_password_fetch_together_keep_the_first() {
    let c = conv(
        "[storage r]\ntype = \"caldav\"\nurl = \"https://h/\"\npassword = \"pw\"\n\
             password.fetch = [\"command\", \"pass\"]\n",
    );
    let table: toml::Table = c.toml.parse().unwrap();
    assert_eq!(table["storage"]["r"]["password"].as_str(), Some("pw"));
    assert_eq!(c.left_out.len(), 1);
    assert_eq!(
        c.left_out[0].to_string(),
        "[storage r] password.fetch: not converted: password and password.fetch are both \
             set (vdirsyncer refuses that); the first one is kept"
    );
}

/// Found by the vdirsyncer fuzz target (tests/fuzz/regressions/vdirsyncer/
/// quote-in-name, second-general): a name holding a quote was written as a multi-line
/// string, which TOML does not take as a key; a second general section (`[general x]`)
/// was a second `[general]` table.
#[test]
fn names_with_quotes_and_a_second_general_section_still_give_toml() {
    let c = conv("[general]\n[general o]\n[pair '\"\\]\na = \"x\"\n");
    let table: toml::Table = c.toml.parse().unwrap();
    assert!(table["pair"]["'\"\\"].is_table(), "{}", c.toml);
    assert!(c.toml.contains("[pair.\"'\\\"\\\\\"]\n"), "{}", c.toml);
    assert_eq!(
        c.left_out[0].to_string(),
        "[general o]: not converted: a second [general] section (vdirsyncer refuses it)"
    );
}

#[test]
fn a_typical_setup_converts_completely() {
    let c = conv(
        r#"[general]
status_path = "~/.vdirsyncer/status/"

[pair cals]
a = "local"
b = "remote"
collections = ["from a", ["work", "Work", "work-cal"]]
conflict_resolution = ["command", "vimdiff"]
metadata = ["color", "displayname"]
partial_sync = "revert"

[storage local]
type = "filesystem"
path = "~/.calendars/"
fileext = ".ics"
post_hook = "/usr/bin/notify"

[storage remote]
type = "caldav"
url = "https://dav.example.com/"
username = "alice"
password.fetch = ["command", "pass", "show", "dav"]
verify = false
auth_cert = "~/me.pem"
start_date = "datetime.now() - timedelta(days=30)"
end_date = "datetime(2030, 1, 1)"
item_types = ["VEVENT"]
"#,
    );
    assert_eq!(c.left_out, vec![]);
    let expected = r#"# davsync config, converted by `davsync import-vdirsyncer` from vdirsyncer's
# /home/u/.vdirsyncer/config

[general]
# vdirsyncer's status_path = "~/.vdirsyncer/status/" was imported into davsync's own status (status_path, default ~/.local/share/davsync/status)

[pair.cals]
a = "local"
b = "remote"
collections = ["from a", ["work", "Work", "work-cal"]]
conflict_resolution = { command = ["vimdiff"] }
metadata = ["color", "displayname"]
partial_sync = "revert"

[storage.local]
type = "vdir"
path = "~/.calendars/"
fileext = ".ics"
post_hook = ["/usr/bin/notify"]

[storage.remote]
type = "caldav"
url = "https://dav.example.com/"
username = "alice"
password.command = ["pass", "show", "dav"]
verify = false
client_cert = "~/me.pem"
start_date = "-30d"
end_date = "2030-01-01"
item_types = ["VEVENT"]
"#;
    assert_eq!(c.toml, expected);
    let parsed = crate::config::parse(Path::new("/tmp/x.toml"), c.toml.clone());
    assert!(parsed.is_ok(), "{}", parsed.unwrap_err());
}

#[test]
fn what_cannot_be_converted_is_listed_and_kept_as_a_comment() {
    let c = conv(
        r#"[general]
status_path = "/s"

[storage g]
type = "google_calendar"
token_file = "/t"

[storage r]
type = "carddav"
url = "https://x/"
password.fetch = ["prompt", "Password for x"]
useragent = "me/1.0"
verify_fingerprint = "94:FD:7A:CB:50:75:A4:69:82:0A:F8:23:DF:07:FC:69:3E:1D:55:8B"

[pair p]
a = "g"
b = "r"
collections = null
"#,
    );
    let lines: Vec<String> = c.left_out.iter().map(|l| l.to_string()).collect();
    assert_eq!(
        lines,
        vec![
            "[storage g] type: not converted: davsync has no storage of type \
                 \"google_calendar\" (it has filesystem/vdir, singlefile, caldav, carddav, \
                 http); the pairs using it are left out too",
            "[storage r] password.fetch: not converted: davsync does not prompt; use \
                 password.command, password.env or password.keyring",
            "[storage r] useragent: not converted: davsync sends its own User-Agent",
            "[storage r] verify_fingerprint: not converted: davsync pins SHA-256 \
                 fingerprints only; put the certificate's SHA-256 fingerprint here",
            "[pair p]: not converted: it uses storage g, which was not converted",
        ]
    );
    assert!(
        c.toml
            .contains("# [storage.g]\n# type = \"google_calendar\"\n# token_file = \"/t\"\n"),
        "{}",
        c.toml
    );
    assert!(c
        .toml
        .contains("# not converted: useragent = \"me/1.0\"  (davsync sends its own User-Agent)\n"));
    assert!(c.toml.contains("# [pair.p]\n# a = \"g\"\n"));
    let parsed = crate::config::parse(Path::new("/tmp/x.toml"), c.toml.clone());
    assert!(parsed.is_ok(), "{}", parsed.unwrap_err());
}

#[test]
fn passwords_are_never_repeated_in_comments() {
    let c = conv("[storage s]\ntype = \"singlefile\"\npath = \"/x.ics\"\npassword = \"hunter2\"\n");
    assert!(!c.toml.contains("hunter2"));
    assert_eq!(c.left_out.len(), 1);
}
