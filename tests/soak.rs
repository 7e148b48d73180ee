//! The soak: many pairs over vdirs and a real Radicale, random edits, creations and deletions
//! on both sides between syncs, round after round; after each round the invariants of the
//! property tests hold:
//! - both sides hold exactly the expected UIDs with the expected contents (vdir sides byte
//!   for byte where davsync copied between vdirs; compared normalized where Radicale
//!   re-serialized), and Radicale stores each UID once;
//! - the status holds exactly one row per existing item;
//! - no temporary file is left anywhere.
//!
//! Wall time and the peak RSS of each `davsync sync` are recorded per round.
//!
//! The test suite runs the small version (`small_soak_of_ten_rounds_keeps_every_invariant`).
//! `scripts/soak` runs the full one (50 pairs x 1,000 items, 200 rounds by default) through
//! the ignored `soak_from_environment`: `DAVSYNC_SOAK_PAIRS`, `DAVSYNC_SOAK_ITEMS`,
//! `DAVSYNC_SOAK_ROUNDS`, `DAVSYNC_SOAK_SEED`, `DAVSYNC_SOAK_CHANGE_PERMILLE`,
//! `DAVSYNC_SOAK_UPLOAD` and `DAVSYNC_SOAK_REPORT` (a TSV file of the per-round figures).

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::dav_scenarios::vdir_section;
use common::servers::{Coll, DavServer, ServerKind};
use common::{edit_line, event, items_by_uid, write_events, Rng, Sandbox};

struct Pair {
    name: String,
    a: PathBuf,
    /// The other vdir (vdir pairs) or the check vdir synced directly with Radicale.
    b: PathBuf,
    /// The Radicale collection name, for pairs with a server side.
    remote: Option<String>,
    want: BTreeMap<String, String>,
}

struct Soak {
    sb: Sandbox,
    server: Option<DavServer>,
    pairs: Vec<Pair>,
    /// Items per pair at the start.
    items: usize,
    /// Of each thousand items, how many change in a round: two thirds are edited, one third
    /// deleted, and about as many created as deleted.
    change_permille: u64,
    rng: Rng,
}

/// Peak resident set of a child, sampled from /proc while it runs (the last sample before it
/// exits is close to its high-water mark: VmHWM only grows).
fn run_measured(cmd: &mut std::process::Command) -> (i32, String, Duration, u64) {
    let t = Instant::now();
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start davsync");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0u64;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            if let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak_kb = peak_kb.max(kb);
            }
        }
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(3600), "a sync hung");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    (status.code().unwrap_or(-1), stderr, t.elapsed(), peak_kb)
}

impl Soak {
    /// `preseed`: the Radicale collections start with the same items as their vdir, written
    /// into Radicale's store on disk, so that the first sync compares instead of uploading
    /// (at full size, 25,000 PUTs would take an hour or more).
    fn new(
        pairs: usize,
        items: usize,
        seed: u64,
        change_permille: u64,
        with_radicale: bool,
        preseed: bool,
    ) -> Option<Soak> {
        let server = if with_radicale {
            Some(DavServer::start(ServerKind::Radicale)?)
        } else {
            None
        };
        let sb = Sandbox::new();
        let mut config = String::new();
        let mut list = Vec::new();
        for i in 0..pairs {
            let name = format!("p{i}");
            let a = sb.mkdir(&format!("a{i}"));
            let b = sb.mkdir(&format!("b{i}"));
            write_events(&a, &format!("x{i}"), items);
            config.push_str(&vdir_section(&format!("a{i}"), &a, Coll::Calendar));
            config.push_str(&vdir_section(&format!("b{i}"), &b, Coll::Calendar));
            // Every other pair has Radicale on its b side; b is then a vdir synced directly
            // with the same collection, to edit and inspect the server's side.
            let remote = match &server {
                Some(server) if i % 2 == 1 => {
                    let coll = format!("soak{i}");
                    server.create_collection(Coll::Calendar, &coll, None);
                    if preseed {
                        let dir = server.radicale_collection_dir(&coll);
                        for e in std::fs::read_dir(&a).unwrap() {
                            let e = e.unwrap();
                            std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
                        }
                    }
                    let url = server.collection_url(Coll::Calendar, &coll);
                    config.push_str(&server.storage_section(
                        &format!("r{i}"),
                        Coll::Calendar,
                        &url,
                        // Radicale serializes writes: on a loaded machine a PUT can wait
                        // past the default 30 s.
                        "timeout = 120\n",
                    ));
                    config.push_str(&format!(
                        "[pair.{name}]\na = \"a{i}\"\nb = \"r{i}\"\n\n\
                         [pair.look{i}]\na = \"b{i}\"\nb = \"r{i}\"\n\n"
                    ));
                    Some(coll)
                }
                _ => {
                    config.push_str(&format!("[pair.{name}]\na = \"a{i}\"\nb = \"b{i}\"\n\n"));
                    None
                }
            };
            let want = items_by_uid(&a, ".ics");
            list.push(Pair {
                name,
                a,
                b,
                remote,
                want,
            });
        }
        sb.write_config(&config);
        Some(Soak {
            sb,
            server,
            pairs: list,
            items,
            change_permille,
            rng: Rng::new(seed),
        })
    }

    fn pair_names(&self) -> Vec<String> {
        self.pairs.iter().map(|p| p.name.clone()).collect()
    }

    fn look_names(&self) -> Vec<String> {
        self.pairs
            .iter()
            .enumerate()
            .filter(|(_, p)| p.remote.is_some())
            .map(|(i, _)| format!("look{i}"))
            .collect()
    }

    /// `davsync sync NAMES...` in groups: the vdir-only pairs at once, the pairs with a
    /// Radicale side two at a time. Radicale serves 8 connections at once by default and
    /// davsync opens up to 4 per storage, so more at once leave connections waiting in
    /// Radicale's backlog past the connect timeout. Every run must succeed; returns the
    /// summed wall time and the highest peak RSS (kB).
    fn sync(&self, names: &[String]) -> (Duration, u64) {
        let mut total = Duration::ZERO;
        let mut peak = 0;
        for group in self.groups(names) {
            let (t, rss) = self.sync_group(&group);
            total += t;
            peak = peak.max(rss);
        }
        (total, peak)
    }

    /// The vdir-only pairs in one group, the pairs with a Radicale side two at a time.
    fn groups(&self, names: &[String]) -> Vec<Vec<String>> {
        let remote = |n: &String| {
            self.pairs
                .iter()
                .any(|p| p.remote.is_some() && &p.name == n)
                || n.starts_with("look")
        };
        let local: Vec<String> = names.iter().filter(|n| !remote(n)).cloned().collect();
        let remotes: Vec<String> = names.iter().filter(|n| remote(n)).cloned().collect();
        std::iter::once(local)
            .chain(remotes.chunks(2).map(<[String]>::to_vec))
            .filter(|g| !g.is_empty())
            .collect()
    }

    fn sync_group(&self, names: &[String]) -> (Duration, u64) {
        if names.is_empty() {
            return (Duration::ZERO, 0);
        }
        let mut args = vec!["-q", "sync"];
        args.extend(names.iter().map(String::as_str));
        let (code, stderr, took, rss) = run_measured(&mut self.sb.command(&args));
        assert_eq!(code, 0, "davsync {args:?} failed:\n{stderr}");
        (took, rss)
    }

    /// Random edits, creations and deletions on both sides of every pair, on disjoint UIDs
    /// (so that no conflict resolution can hide a loss).
    fn edit(&mut self, round: usize) {
        for pi in 0..self.pairs.len() {
            let uids: Vec<String> = self.pairs[pi].want.keys().cloned().collect();
            for uid in uids {
                let r = self.rng.range(0, 1000);
                if r >= self.change_permille {
                    continue;
                }
                // Even draws edit on a, odd ones on b.
                let pair = &mut self.pairs[pi];
                let dir = if r % 2 == 0 { &pair.a } else { &pair.b };
                let path = dir.join(format!("{uid}.ics"));
                if r < self.change_permille * 2 / 3 {
                    let text = edit_line(
                        &std::fs::read_to_string(&path).unwrap(),
                        "SUMMARY",
                        &format!("round {round} edit"),
                    );
                    std::fs::write(&path, &text).unwrap();
                    pair.want.insert(uid, text);
                } else {
                    std::fs::remove_file(&path).unwrap();
                    pair.want.remove(&uid);
                }
            }
            // As many creations as deletions on average, so that the collections keep their
            // size over hundreds of rounds.
            let most = (self.items as u64 * self.change_permille / 3000).max(2);
            for side in 0..2 {
                let n = self.rng.range(0, most + 1);
                let pair = &mut self.pairs[pi];
                for k in 0..n {
                    let uid = format!("{}-r{round}-s{side}-{k}", pair.name);
                    let text = event(&uid, "created", k as usize);
                    let dir = if side == 0 { &pair.a } else { &pair.b };
                    std::fs::write(dir.join(format!("{uid}.ics")), &text).unwrap();
                    pair.want.insert(uid, text);
                }
            }
        }
    }

    fn check(&self, round: usize) {
        let status = self.sb.run(&{
            let mut a = vec!["status"];
            a.extend(self.pairs.iter().map(|p| p.name.as_str()));
            a
        });
        status.assert_ok();
        for p in &self.pairs {
            for (side, dir) in [("a", &p.a), ("b", &p.b)] {
                let got = items_by_uid(dir, ".ics");
                let lost: Vec<_> = p.want.keys().filter(|u| !got.contains_key(*u)).collect();
                let extra: Vec<_> = got.keys().filter(|u| !p.want.contains_key(*u)).collect();
                assert!(
                    lost.is_empty() && extra.is_empty(),
                    "round {round}, {} side {side}: lost {lost:?}, extra {extra:?}",
                    p.name
                );
                for (uid, text) in &p.want {
                    if p.remote.is_none() {
                        assert_eq!(&got[uid], text, "round {round}, {} {side}: {uid}", p.name);
                    } else {
                        assert_eq!(
                            norm(&got[uid]),
                            norm(text),
                            "round {round}, {} {side}: {uid}",
                            p.name
                        );
                    }
                }
                assert_no_temp_files(dir);
            }
            if let (Some(coll), Some(server)) = (&p.remote, &self.server) {
                let stored = std::fs::read_dir(server.radicale_collection_dir(coll))
                    .unwrap()
                    .filter(|e| {
                        !e.as_ref()
                            .unwrap()
                            .file_name()
                            .to_string_lossy()
                            .starts_with('.')
                    })
                    .count();
                assert_eq!(stored, p.want.len(), "round {round}: {coll} on Radicale");
            }
            let line = format!("{}: {} items,", p.name, p.want.len());
            assert!(
                status.stdout.lines().any(|l| l.starts_with(&line)),
                "round {round}: status should say {line:?}:\n{}",
                status.stdout
            );
        }
        assert_no_temp_files(&self.sb.status_path());
    }
}

fn norm(text: &str) -> String {
    davsync_storages::Item::parse(
        davsync_storages::ItemKind::Calendar,
        text.as_bytes().to_vec(),
    )
    .expect("an item")
    .hash()
    .to_string()
}

#[track_caller]
fn assert_no_temp_files(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            !davsync_storages::localfs::is_temp_name(&name),
            "{name} left in {}",
            dir.display()
        );
    }
}

/// Runs `rounds` rounds; writes one TSV line per round to `report` as it goes (a run of hours
/// that is stopped keeps the rounds it finished): round, seconds and peak RSS (kB) of the main
/// sync, items over all pairs, seconds of the whole round (edits, syncs and checks).
fn soak(
    pairs: usize,
    items: usize,
    rounds: usize,
    change_permille: u64,
    seed: u64,
    preseed: bool,
    mut report: impl Write,
) -> Option<()> {
    eprintln!(
        "soak: {pairs} pairs x {items} items, {rounds} rounds, {change_permille}\u{2030} \
         changed a round, seed {seed}{}",
        if preseed { ", Radicale preseeded" } else { "" }
    );
    writeln!(report, "round\tseconds\tpeak_rss_kb\titems\tround_seconds").unwrap();
    let t = Instant::now();
    let mut s = Soak::new(pairs, items, seed, change_permille, true, preseed)?;
    let names = s.pair_names();
    let looks = s.look_names();
    let (took, rss) = s.sync(&names);
    s.sync(&looks);
    eprintln!(
        "initial sync: {:.1}s, peak RSS {} MB",
        took.as_secs_f64(),
        rss / 1024
    );
    s.check(0);
    let total: usize = s.pairs.iter().map(|p| p.want.len()).sum();
    writeln!(
        report,
        "0\t{:.3}\t{rss}\t{total}\t{:.3}",
        took.as_secs_f64(),
        t.elapsed().as_secs_f64()
    )
    .unwrap();
    for round in 1..=rounds {
        let t = Instant::now();
        s.edit(round);
        // The server side's edits reach Radicale first (a clean, direct sync).
        s.sync(&looks);
        let (took, rss) = s.sync(&names);
        s.sync(&looks);
        s.check(round);
        // A further sync finds nothing to do.
        for group in s.groups(&names) {
            let mut args = vec!["sync"];
            args.extend(group.iter().map(String::as_str));
            s.sb.run(&args).assert_no_change();
        }
        let total: usize = s.pairs.iter().map(|p| p.want.len()).sum();
        let whole = t.elapsed().as_secs_f64();
        eprintln!(
            "round {round}: {:.2}s, peak RSS {} MB, {total} items ({whole:.1}s in all)",
            took.as_secs_f64(),
            rss / 1024
        );
        writeln!(
            report,
            "{round}\t{:.3}\t{rss}\t{total}\t{whole:.3}",
            took.as_secs_f64()
        )
        .unwrap();
        report.flush().unwrap();
    }
    Some(())
}

#[test]
fn small_soak_of_ten_rounds_keeps_every_invariant() {
    let _ = soak(4, 30, 10, 60, 0x50a4, false, std::io::sink());
}

#[test]
#[ignore = "long: run by scripts/soak"]
fn soak_from_environment() {
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let pairs = env("DAVSYNC_SOAK_PAIRS", 50);
    let items = env("DAVSYNC_SOAK_ITEMS", 1000);
    let rounds = env("DAVSYNC_SOAK_ROUNDS", 200);
    let seed = env("DAVSYNC_SOAK_SEED", 0x50a4) as u64;
    let change = env("DAVSYNC_SOAK_CHANGE_PERMILLE", 20) as u64;
    let preseed = std::env::var("DAVSYNC_SOAK_UPLOAD").map_or(true, |v| v != "1");
    let report: Box<dyn Write> = match std::env::var("DAVSYNC_SOAK_REPORT") {
        Ok(path) => Box::new(std::io::LineWriter::new(
            std::fs::File::create(path).expect("create the report"),
        )),
        Err(_) => Box::new(std::io::sink()),
    };
    soak(pairs, items, rounds, change, seed, preseed, report)
        .expect("Radicale is needed for the soak");
}
