//! `davsync check`: the config has been loaded and validated by the time this runs (any
//! error already exited 2); this prints one line per pair:
//! `pair <name>: <a> (<type>) <-> <b> (<type>), collections: <list>`.

use std::process::ExitCode;

use crate::config::{Config, PairConfig};
use crate::output::CliReporter;
use crate::sync::CollectionSpec;

pub fn run(config: &Config) -> anyhow::Result<ExitCode> {
    let out = CliReporter::new(false, false);
    if config.pairs.is_empty() {
        out.line(&format!(
            "no pairs configured in {}",
            config.source.path.display()
        ));
    }
    for pair in config.pairs_in_order() {
        out.line(&line(config, pair));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn line(config: &Config, pair: &PairConfig) -> String {
    let side = |name: &str| {
        let st = &config.storages[name];
        let ro = if st.read_only { ", read-only" } else { "" };
        format!("{name} ({}{ro})", st.ty.as_str())
    };
    let collections = match &pair.collections {
        None => "none (the storages themselves)".to_owned(),
        Some(list) => list
            .iter()
            .map(|c| match c {
                CollectionSpec::FromA => "from a".to_owned(),
                CollectionSpec::FromB => "from b".to_owned(),
                CollectionSpec::Named(n) => n.clone(),
                CollectionSpec::Mapped { name, a, b } => format!("{name} ({a} <-> {b})"),
            })
            .collect::<Vec<_>>()
            .join(", "),
    };
    format!(
        "pair {}: {} <-> {}, collections: {collections}",
        pair.name,
        side(&pair.a),
        side(&pair.b)
    )
}
