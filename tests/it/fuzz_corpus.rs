//! The fuzz targets' checks (tests/fuzz/checks.rs) run on stable over their seed corpus and
//! over every input a fuzzing run turned into a regression (tests/fuzz/regressions/<target>/),
//! so what the fuzzer once found stays fixed without a nightly toolchain.

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::{Path, PathBuf};

use davsync_storages::ItemKind;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The files of `dir` (sorted), failing when there are none: a corpus that went missing must
/// not make these tests pass vacuously.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && !p.ends_with("README.md"))
        .collect();
    v.sort();
    v
}

fn seeds(sub: &str) -> Vec<PathBuf> {
    let v = files(&root().join("tests/fuzz/seeds").join(sub));
    assert!(!v.is_empty(), "no seeds for {sub}");
    v
}

/// Regression inputs may be absent for a target (nothing found yet).
fn regressions(target: &str) -> Vec<PathBuf> {
    let dir = root().join("tests/fuzz/regressions").join(target);
    if dir.is_dir() {
        files(&dir)
    } else {
        Vec::new()
    }
}

#[test]
fn item_laws_hold_over_the_real_world_corpus() {
    let corpus = root().join("storages/tests/data/corpus");
    let mut n = 0;
    for (sub, kind) in [("ics", ItemKind::Calendar), ("vcf", ItemKind::Contacts)] {
        for p in files(&corpus.join(sub)) {
            let raw = std::fs::read(&p).unwrap();
            let res = std::panic::catch_unwind(|| checks::item_laws(kind, &raw));
            assert!(res.is_ok(), "item laws broken by {}", p.display());
            n += 1;
        }
    }
    assert!(n > 200, "the corpus shrank to {n} files");
}

#[test]
fn multistatus_whole_and_streamed_agree_at_every_cut_of_the_seeds() {
    for p in seeds("multistatus") {
        let body = std::fs::read(&p).unwrap();
        checks::multistatus_laws(&body, &[]);
        for cut in 0..=body.len() {
            let res = std::panic::catch_unwind(|| checks::multistatus_laws(&body, &[cut]));
            assert!(res.is_ok(), "{} cut at {cut}", p.display());
        }
        // Three cuts at once, spread over the body.
        let l = body.len();
        checks::multistatus_laws(&body, &[l / 4, l / 2, 3 * l / 4]);
    }
}

#[test]
fn config_parser_seeds_parse_or_fail_cleanly() {
    for p in seeds("config") {
        checks::config(&std::fs::read(&p).unwrap());
    }
}

/// `raw` with `line` inserted after the (unfolded) UID line, or before the last line when
/// there is none: an edit a client could make, in the item's own line ending.
fn with_line(raw: &[u8], line: &str) -> Vec<u8> {
    let eol: &[u8] = if raw.windows(2).any(|w| w == b"\r\n") {
        b"\r\n"
    } else {
        b"\n"
    };
    let starts: Vec<usize> = std::iter::once(0)
        .chain(
            raw.iter()
                .enumerate()
                .filter(|(_, &c)| c == b'\n')
                .map(|(i, _)| i + 1),
        )
        .filter(|&i| i < raw.len())
        .collect();
    let uid = starts
        .iter()
        .position(|&i| raw[i..].len() >= 4 && raw[i..i + 4].eq_ignore_ascii_case(b"UID:"));
    let at = match uid {
        Some(k) => starts[k + 1..]
            .iter()
            .copied()
            .find(|&i| !matches!(raw[i], b' ' | b'\t'))
            .unwrap_or(raw.len()),
        None => *starts.last().unwrap_or(&0),
    };
    let mut out = raw[..at].to_vec();
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.extend_from_slice(eol);
    }
    out.extend_from_slice(line.as_bytes());
    out.extend_from_slice(eol);
    out.extend_from_slice(&raw[at..]);
    out
}

#[test]
fn merge_laws_hold_over_the_corpus_edited_on_both_sides() {
    let corpus = root().join("storages/tests/data/corpus");
    let (mut parsed, mut merged) = (0, 0);
    for (sub, kind) in [("ics", ItemKind::Calendar), ("vcf", ItemKind::Contacts)] {
        for p in files(&corpus.join(sub)) {
            let base = std::fs::read(&p).unwrap();
            if davsync_storages::Item::parse(kind, base.clone()).is_err() {
                continue;
            }
            let a = with_line(&base, "X-FUZZ-A:from a");
            let b = with_line(&base, "X-FUZZ-B:from b");
            let b_conflict = with_line(&base, "X-FUZZ-A:from b");
            for (x, y) in [(&a, &b), (&a, &b_conflict), (&base, &b), (&a, &a)] {
                let res = std::panic::catch_unwind(|| checks::merge_laws(kind, &base, x, y));
                assert!(res.is_ok(), "merge laws broken by {}", p.display());
            }
            if let (Ok(a), Ok(b)) = (
                davsync_storages::Item::parse(kind, a),
                davsync_storages::Item::parse(kind, b),
            ) {
                parsed += 1;
                merged += usize::from(davsync_storages::item::merge(&base, &a, &b).is_ok());
            }
        }
    }
    // Nearly all merge (140 items parse alone, 129 merged when written); the rest pass for
    // reasons of their own (a component without UID, two of one RECURRENCE-ID).
    assert!(parsed > 120, "only {parsed} corpus files parse as one item");
    assert!(
        merged * 10 >= parsed * 9,
        "only {merged} of {parsed} merged"
    );
}

#[test]
fn merge_seeds_keep_the_laws() {
    for p in seeds("merge") {
        checks::merge(&std::fs::read(&p).unwrap());
    }
}

#[test]
fn vdirsyncer_config_seeds_parse_and_convert_to_toml() {
    for p in seeds("vdirsyncer") {
        let text = std::fs::read(&p).unwrap();
        checks::vdirsyncer(&text);
        // Every seed but the deliberately odd one is a config vdirsyncer accepts.
        if !p.ends_with("odd.conf") {
            let text = String::from_utf8(text).unwrap();
            davsync::migrate::ini::parse(&p, &text)
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        }
    }
}

#[test]
fn every_fuzz_regression_input_passes_its_check() {
    type Check = fn(&[u8]);
    let targets: [(&str, Check); 5] = [
        ("items", checks::items),
        ("multistatus", checks::multistatus),
        ("config", checks::config),
        ("merge", checks::merge),
        ("vdirsyncer", checks::vdirsyncer),
    ];
    for (target, check) in targets {
        for p in regressions(target) {
            let data = std::fs::read(&p).unwrap();
            let res = std::panic::catch_unwind(|| check(&data));
            assert!(res.is_ok(), "{target} regression {}", p.display());
        }
    }
}
