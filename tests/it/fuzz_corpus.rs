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

#[test]
fn every_fuzz_regression_input_passes_its_check() {
    type Check = fn(&[u8]);
    let targets: [(&str, Check); 3] = [
        ("items", checks::items),
        ("multistatus", checks::multistatus),
        ("config", checks::config),
    ];
    for (target, check) in targets {
        for p in regressions(target) {
            let data = std::fs::read(&p).unwrap();
            let res = std::panic::catch_unwind(|| check(&data));
            assert!(res.is_ok(), "{target} regression {}", p.display());
        }
    }
}
