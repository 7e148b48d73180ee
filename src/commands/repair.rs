//! `davsync repair STORAGE[/COLLECTION] [--dry-run]`

use std::process::ExitCode;

use crate::cli::RepairArgs;
use crate::config::Config;

pub async fn run(config: &Config, args: &RepairArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let (name, collection) = match args.target.split_once('/') {
        Some((s, c)) => (s, Some(c)),
        None => (args.target.as_str(), None),
    };
    let Some(st) = config.storages.get(name) else {
        anyhow::bail!(
            "unknown storage {name:?} (configured storages: {})",
            config
                .storages
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let _ = (st, collection, quiet);
    anyhow::bail!("repair is not available in this build yet")
}
