//! `davsync discover [PAIR]...`
//!
//! Prints one line per collection of each pair:
//! `<pair>/<collection>: <storage a> <where on a> <-> <storage b> <where on b>`, where a side
//! lacking the collection shows `(missing)` and a line ends in ` (created)` when this run
//! created the collection on one side. A pair without `collections` prints `<pair>: ...`.

use std::process::ExitCode;

use futures::future::join_all;

use super::{chain, exit_code, select};
use crate::config::{backends, Config};
use crate::output::CliReporter;
use crate::sync::{discover_pair, DiscoveredCollection, PairSpec};

pub async fn run(config: &Config, pairs: &[String], quiet: bool) -> anyhow::Result<ExitCode> {
    let targets = select(config, pairs, false)?;
    let mut builder = backends::Builder::rediscovering(config);
    let mut specs = Vec::new();
    for t in &targets {
        specs.push(builder.pair_spec(t.pair)?);
    }
    let reporter = CliReporter::new(false, quiet);
    let runs = specs
        .iter()
        .map(|spec| discover_pair(spec, &config.status_path, true, &reporter));
    let results = join_all(runs).await;
    for (spec, res) in specs.iter().zip(results) {
        match res {
            Ok(found) => {
                for c in &found {
                    reporter.line(&line(spec, c));
                }
            }
            Err(e) => reporter.failure(&format!(
                "pair {}: discovery failed: {}",
                spec.name,
                chain(&e)
            )),
        }
    }
    reporter.finish();
    Ok(exit_code(reporter.failures()))
}

/// The line printed for one collection (see the module docs).
pub fn line(spec: &PairSpec, c: &DiscoveredCollection) -> String {
    let scope = if c.name.is_empty() {
        spec.name.clone()
    } else {
        format!("{}/{}", spec.name, c.name)
    };
    let side = |name: &str, at: &Option<String>| match at {
        Some(href) => format!("{name} {href}"),
        None => format!("{name} (missing)"),
    };
    let mut out = format!(
        "{scope}: {} <-> {}",
        side(&spec.a.name, &c.a),
        side(&spec.b.name, &c.b)
    );
    if c.created.is_some() {
        out.push_str(" (created)");
    }
    out
}
