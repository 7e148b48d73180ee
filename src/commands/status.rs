//! `davsync status [PAIR]...`: reads the status only; no storage is built, no password
//! fetched. One line per pair and collection:
//! `<pair>/<collection>: <N> items, last sync <time>, <conflicts>`, or `<pair>: never synced`.

use std::process::ExitCode;

use super::{chain, exit_code, select};
use crate::config::Config;
use crate::output::CliReporter;
use crate::status::{summary, CollectionSummary};

pub fn run(config: &Config, pairs: &[String]) -> anyhow::Result<ExitCode> {
    let targets = select(config, pairs, false)?;
    let out = CliReporter::new(false, false);
    for t in &targets {
        match summary(&config.status_path, &t.pair.name) {
            Ok(list) if list.is_empty() => out.line(&format!("{}: never synced", t.pair.name)),
            Ok(list) => {
                for c in &list {
                    out.line(&line(&t.pair.name, c));
                }
            }
            Err(e) => out.failure(&format!(
                "pair {}: cannot read the status in {}: {}",
                t.pair.name,
                config.status_path.display(),
                chain(&e)
            )),
        }
    }
    Ok(exit_code(out.failures()))
}

pub fn line(pair: &str, c: &CollectionSummary) -> String {
    let scope = if c.collection.is_empty() {
        pair.to_owned()
    } else {
        format!("{pair}/{}", c.collection)
    };
    let items = if c.items == 1 {
        "1 item".to_owned()
    } else {
        format!("{} items", c.items)
    };
    let when = match c.last_sync {
        Some(t) => format!("last sync {}", t.format("%Y-%m-%d %H:%M:%S UTC")),
        None => "never synced".to_owned(),
    };
    let conflicts = match c.unresolved.len() {
        0 => "no unresolved conflicts".to_owned(),
        1 => format!("1 unresolved conflict: {}", c.unresolved[0]),
        n => format!("{n} unresolved conflicts: {}", c.unresolved.join(", ")),
    };
    format!("{scope}: {items}, {when}, {conflicts}")
}
