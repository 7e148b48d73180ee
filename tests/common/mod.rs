//! Harness shared by the integration tests that drive the `davsync` binary: locating the test
//! tools installed by `scripts/test`, starting real CalDAV/CardDAV servers on free loopback
//! ports, writing configs into a sandbox, running the binary, and generating items.
//!
//! Every test binary compiles this module but uses only part of it.
#![allow(dead_code)]

pub mod conformance;
pub mod dav_scenarios;
pub mod fault_proxy;
pub mod plain_http;
pub mod servers;
pub mod tls;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The repository root (where `scripts/test` creates `.venv`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `CI=true` turns every missing tool into a test failure: a green CI must mean the
/// integration tests ran.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v.eq_ignore_ascii_case("true") || v == "1")
        .unwrap_or(false)
}

/// The virtualenv holding the Python tools: `$DAVSYNC_TEST_VENV`, else `<repo>/.venv`.
pub fn venv_dir() -> PathBuf {
    match std::env::var_os("DAVSYNC_TEST_VENV") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => repo_root().join(".venv"),
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Finds an external tool, first in the test venv, then on `PATH`.
///
/// When it is missing, the test must not pass silently: with `CI=true` this panics (the test
/// fails); otherwise it prints a loud skip notice and returns `None`, and the caller returns.
pub fn require_tool(name: &str) -> Option<PathBuf> {
    let in_venv = venv_dir().join("bin").join(name);
    if is_executable(&in_venv) {
        return Some(in_venv);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if is_executable(&candidate) {
                return Some(candidate);
            }
        }
    }
    let msg = format!(
        "`{name}` not found in {} nor on PATH; run scripts/test (it installs the test tools \
         into .venv) or set DAVSYNC_TEST_VENV",
        venv_dir().join("bin").display()
    );
    if in_ci() {
        panic!("CI=true and {msg}");
    }
    eprintln!("\n************************************************************");
    eprintln!("SKIPPED (not a pass): {msg}");
    eprintln!("************************************************************\n");
    None
}

/// The outcome of one run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The verbs of the change lines (interface contract); used to pick them out of stdout.
pub const CHANGE_PREFIXES: &[&str] = &[
    "Copying (uploading) item ",
    "Copying (updating) item ",
    "Deleting item ",
    "Conflict: item ",
    "Creating collection ",
];

impl Run {
    /// Stdout lines that report a change (ignoring any other informational output).
    pub fn change_lines(&self) -> Vec<String> {
        self.stdout
            .lines()
            .filter(|l| {
                let l = l.strip_prefix("Would: ").unwrap_or(l);
                CHANGE_PREFIXES.iter().any(|p| l.starts_with(p))
            })
            .map(str::to_owned)
            .collect()
    }

    /// Change lines sorted, for comparisons independent of the order of the work.
    pub fn sorted_changes(&self) -> Vec<String> {
        let mut v = self.change_lines();
        v.sort();
        v
    }

    pub fn dump(&self) -> String {
        format!(
            "exit code {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code\n{}", self.dump());
        self
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        self.assert_code(0)
    }

    /// Asserts a successful run that changed nothing.
    #[track_caller]
    pub fn assert_no_change(&self) -> &Self {
        self.assert_ok();
        assert!(
            self.change_lines().is_empty(),
            "expected no change line\n{}",
            self.dump()
        );
        self
    }

    /// Asserts the exact set of change lines (order-independent).
    #[track_caller]
    pub fn assert_changes(&self, expected: &[String]) -> &Self {
        let mut expected = expected.to_vec();
        expected.sort();
        assert_eq!(self.sorted_changes(), expected, "\n{}", self.dump());
        self
    }
}

/// The path of the binary under test.
pub fn davsync_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_davsync"))
}

/// A temporary directory holding a config, the status, a private HOME and the vdirs of a
/// test. Everything is removed on drop.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("davsync-test-")
            .tempdir()
            .expect("create sandbox dir");
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        Sandbox { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// A directory inside the sandbox, created if missing.
    pub fn mkdir(&self, rel: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    pub fn config_path(&self) -> PathBuf {
        self.path("config.toml")
    }

    /// Where configs written by tests keep the status (`[general] status_path`).
    pub fn status_path(&self) -> PathBuf {
        self.path("status")
    }

    /// Writes the config, prefixed with a `[general]` section pointing the status into the
    /// sandbox. Paths are passed as TOML literal strings by [`toml_path`].
    pub fn write_config(&self, body: &str) -> PathBuf {
        let text = format!(
            "[general]\nstatus_path = {}\n\n{}",
            toml_path(&self.status_path()),
            body
        );
        std::fs::write(self.config_path(), text).unwrap();
        self.config_path()
    }

    /// A command for the binary with the sandbox's config and a private HOME/XDG dirs.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(davsync_bin());
        cmd.arg("--config").arg(self.config_path()).args(args);
        self.isolate(&mut cmd);
        cmd
    }

    /// Points HOME and the XDG dirs of a command into the sandbox.
    pub fn isolate(&self, cmd: &mut Command) {
        let home = self.path("home");
        cmd.env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env_remove("DAVSYNC_CONFIG")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
    }

    /// Runs the binary to completion (bounded by a generous timeout) and captures its output.
    pub fn run(&self, args: &[&str]) -> Run {
        run_command(self.command(args), Duration::from_secs(600))
    }
}

/// Runs a command, killing it if it exceeds `limit` (a hung binary fails the test instead of
/// hanging the suite).
pub fn run_command(mut cmd: Command, limit: Duration) -> Run {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = String::from_utf8_lossy(&t_err.join().unwrap()).into_owned();
            panic!("{cmd:?} did not finish within {limit:?}; stderr:\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = String::from_utf8_lossy(&t_out.join().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&t_err.join().unwrap()).into_owned();
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    Run {
        code,
        stdout,
        stderr,
    }
}

/// A path as a TOML literal string (no escaping issues with backslashes or quotes).
pub fn toml_path(p: &Path) -> String {
    let s = p.to_str().expect("utf-8 path");
    assert!(!s.contains('\''), "test paths must not contain quotes");
    format!("'{s}'")
}

// ---------------------------------------------------------------------------------------------
// Item generators. Deterministic: the same arguments give the same bytes.

/// Fixed base date of generated events, so khal queries can name the range.
pub const EVENT_BASE_DATE: (i32, u32, u32) = (2026, 3, 2);

/// One VEVENT in a VCALENDAR, CRLF line endings. `index` spreads events over hours of days
/// starting at [`EVENT_BASE_DATE`].
pub fn event(uid: &str, summary: &str, index: usize) -> String {
    let (y, m, d) = EVENT_BASE_DATE;
    let day = d as usize + (index / 10) % 20;
    let hour = 8 + index % 10;
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//davsync tests//EN\r\nBEGIN:VEVENT\r\n\
         UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{y:04}{m:02}{day:02}T{hour:02}0000Z\r\n\
         DTEND:{y:04}{m:02}{day:02}T{hour:02}3000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\n\
         END:VCALENDAR\r\n"
    )
}

/// One vCard 3.0 with FN, N, EMAIL; CRLF line endings.
pub fn card(uid: &str, full_name: &str) -> String {
    let (given, family) = full_name.split_once(' ').unwrap_or((full_name, ""));
    let email = full_name.to_lowercase().replace(' ', ".");
    format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{full_name}\r\nN:{family};{given};;;\r\n\
         EMAIL;TYPE=INTERNET:{email}@example.org\r\nEND:VCARD\r\n"
    )
}

/// Writes `n` events `<prefix>-<i>` (summary `Event <i>`) into a vdir folder; returns the UIDs.
pub fn write_events(dir: &Path, prefix: &str, n: usize) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    (0..n)
        .map(|i| {
            let uid = format!("{prefix}-{i}");
            std::fs::write(
                dir.join(format!("{uid}.ics")),
                event(&uid, &format!("Event {i}"), i),
            )
            .unwrap();
            uid
        })
        .collect()
}

/// Writes `n` cards `<prefix>-<i>` (named `Person<i> Example`) into a vdir folder.
pub fn write_cards(dir: &Path, prefix: &str, n: usize) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    (0..n)
        .map(|i| {
            let uid = format!("{prefix}-{i}");
            std::fs::write(
                dir.join(format!("{uid}.vcf")),
                card(&uid, &format!("Person{i} Example")),
            )
            .unwrap();
            uid
        })
        .collect()
}

/// The items of a vdir folder: file name -> content, ignoring dot-files and sub-folders.
pub fn read_vdir(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !e.file_type().unwrap().is_file() {
            continue;
        }
        out.insert(name, std::fs::read_to_string(e.path()).unwrap());
    }
    out
}

/// The item files of a vdir with a given extension (metadata files excluded).
pub fn read_items(dir: &Path, ext: &str) -> BTreeMap<String, String> {
    read_vdir(dir)
        .into_iter()
        .filter(|(n, _)| n.ends_with(ext))
        .collect()
}

/// The UID of an item's text (first `UID:` line; unfolded enough for generated items).
pub fn uid_of(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("UID:"))
        .map(|u| u.trim_end().to_owned())
}

/// UID -> content of every item in a vdir folder; panics on a duplicate UID.
pub fn items_by_uid(dir: &Path, ext: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, text) in read_items(dir, ext) {
        let uid = uid_of(&text).unwrap_or_else(|| panic!("{name} has no UID"));
        if let Some(prev) = out.insert(uid.clone(), text) {
            let _ = prev;
            panic!("UID {uid} appears twice in {}", dir.display());
        }
    }
    out
}

/// Replaces the SUMMARY/FN of a generated item, keeping everything else.
pub fn edit_line(text: &str, prop: &str, value: &str) -> String {
    let mut out = String::new();
    // Servers may hand items back with bare LF line endings (an XML parser turns CRLF in
    // calendar-data into LF unless the server escaped the CR): each line keeps its own.
    for line in text.split_inclusive('\n') {
        if line.starts_with(&format!("{prop}:")) {
            let end = if line.ends_with("\r\n") { "\r\n" } else { "\n" };
            out.push_str(&format!("{prop}:{value}{end}"));
        } else {
            out.push_str(line);
        }
    }
    out
}

/// A small seeded generator (xorshift64*) so "random" test schedules are reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo).max(1)
    }
}

/// Polls `cond` until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
