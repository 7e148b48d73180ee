//! Shared helpers of the whole-binary tests: a temporary directory holding a config file,
//! vdirs and the status, and a runner for the `davsync` binary with a clean environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_davsync");

pub struct Env {
    pub dir: tempfile::TempDir,
}

/// The outcome of one run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// Stdout lines, sorted: pairs and collections run concurrently.
    pub fn sorted_lines(&self) -> Vec<&str> {
        let mut l = self.lines();
        l.sort();
        l
    }

    /// The summary line a sync ends with on stderr, its seconds replaced by `<t>` so it can
    /// be compared exactly; `None` without one.
    pub fn summary(&self) -> Option<String> {
        let last = self.stderr.lines().last()?;
        if !(last.starts_with("Synced ") || last.starts_with("Would have synced ")) {
            return None;
        }
        let (head, time) = last.rsplit_once(" in ")?;
        let secs = time.strip_suffix('s')?;
        assert!(
            secs.parse::<f64>().is_ok(),
            "the summary ends in seconds: {last:?}"
        );
        Some(format!("{head} in <t>s"))
    }

    /// Stderr without the summary line of a sync (asserted to be there, and last).
    #[track_caller]
    pub fn stderr_but_summary(&self) -> String {
        assert!(
            self.summary().is_some(),
            "a sync ends with its summary line on stderr:\n{}",
            self.stderr
        );
        let mut lines: Vec<&str> = self.stderr.lines().collect();
        lines.pop();
        lines.iter().map(|l| format!("{l}\n")).collect()
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        Env { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn config_path(&self) -> PathBuf {
        self.path("config.toml")
    }

    /// Writes `config.toml`; `status_path` is `status` next to it unless the text sets one.
    pub fn config(&self, text: &str) -> &Self {
        let text = if text.contains("[general]") {
            text.to_owned()
        } else {
            format!("[general]\nstatus_path = \"status\"\n\n{text}")
        };
        std::fs::write(self.config_path(), text).unwrap();
        self
    }

    /// A command for the binary with an environment free of the caller's config: HOME is a
    /// fresh directory, no DAVSYNC_CONFIG, no XDG_CONFIG_HOME.
    pub fn command(&self) -> Command {
        let mut c = Command::new(BIN);
        c.current_dir(self.dir.path())
            .env_remove("DAVSYNC_CONFIG")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("RUST_LOG")
            .env("HOME", self.path("home"));
        c
    }

    /// Runs `davsync -c config.toml ARGS...`.
    pub fn run(&self, args: &[&str]) -> Run {
        let mut c = self.command();
        c.arg("-c").arg(self.config_path()).args(args);
        c.output().expect("run davsync").into()
    }

    /// Runs the binary with exactly these arguments.
    pub fn run_raw(&self, args: &[&str]) -> Run {
        self.command()
            .args(args)
            .output()
            .expect("run davsync")
            .into()
    }

    pub fn write(&self, rel: &str, content: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        p
    }

    pub fn mkdir(&self, rel: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap()
    }

    /// File name -> content of the item files directly inside a folder (dot files and
    /// metadata files without the extension left out).
    pub fn items(&self, rel: &str, ext: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Ok(rd) = std::fs::read_dir(self.path(rel)) else {
            return out;
        };
        for e in rd {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().unwrap().is_file() && name.ends_with(ext) && !name.starts_with('.') {
                out.insert(name, std::fs::read_to_string(e.path()).unwrap());
            }
        }
        out
    }

    /// Every file and folder under the test directory with its content, to prove that a
    /// run changed nothing.
    pub fn snapshot(&self) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
        let mut out = BTreeMap::new();
        walk(self.dir.path(), self.dir.path(), &mut out);
        out
    }
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Option<Vec<u8>>>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let rel = p.strip_prefix(root).unwrap().to_owned();
        if e.file_type().unwrap().is_dir() {
            out.insert(rel, None);
            walk(root, &p, out);
        } else {
            out.insert(rel, Some(std::fs::read(&p).unwrap()));
        }
    }
}

/// A one-event calendar object.
pub fn event(uid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//davsync tests//EN\r\nBEGIN:VEVENT\r\n\
         UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260110T100000Z\r\n\
         DTEND:20260110T110000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

/// A one-event calendar object with a LAST-MODIFIED, for `newer wins`.
pub fn event_modified(uid: &str, summary: &str, last_modified: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//davsync tests//EN\r\nBEGIN:VEVENT\r\n\
         UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nLAST-MODIFIED:{last_modified}\r\n\
         DTSTART:20260110T100000Z\r\nDTEND:20260110T110000Z\r\nSUMMARY:{summary}\r\n\
         END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

/// An event without UID.
pub fn event_without_uid(summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//davsync tests//EN\r\nBEGIN:VEVENT\r\n\
         DTSTAMP:20260101T000000Z\r\nDTSTART:20260110T100000Z\r\nSUMMARY:{summary}\r\n\
         END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

pub fn vcard(uid: &str, name: &str) -> String {
    format!("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{name};;;;\r\nEND:VCARD\r\n")
}

/// The config of one pair `p` of two vdirs `a/` and `b/` (storages `a` and `b`), calendars.
pub fn two_vdirs(pair_extra: &str) -> String {
    format!(
        "[storage.a]\ntype = \"vdir\"\npath = \"a\"\nfileext = \".ics\"\n\n\
         [storage.b]\ntype = \"vdir\"\npath = \"b\"\nfileext = \".ics\"\n\n\
         [pair.p]\na = \"a\"\nb = \"b\"\n{pair_extra}\n"
    )
}

/// The UID in an item's text.
pub fn uid_of(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("UID:"))
        .map(|u| u.trim_end_matches('\r').to_owned())
}

/// Asserts two snapshots are equal, naming the paths that differ (not dumping bytes).
#[track_caller]
pub fn assert_unchanged(
    before: &BTreeMap<PathBuf, Option<Vec<u8>>>,
    after: &BTreeMap<PathBuf, Option<Vec<u8>>>,
    what: &str,
) {
    let mut diffs = Vec::new();
    for (p, c) in before {
        match after.get(p) {
            None => diffs.push(format!("removed {}", p.display())),
            Some(c2) if c2 != c => diffs.push(format!("changed {}", p.display())),
            _ => {}
        }
    }
    for p in after.keys() {
        if !before.contains_key(p) {
            diffs.push(format!("created {}", p.display()));
        }
    }
    assert!(diffs.is_empty(), "{what}: {}", diffs.join(", "));
}
