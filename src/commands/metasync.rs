//! `davsync metasync [PAIR[/COLLECTION]]...`

use std::process::ExitCode;

use futures::future::join_all;

use super::{exit_code, select};
use crate::config::{backends, Config};
use crate::output::CliReporter;
use crate::sync::metasync_pair;

pub async fn run(config: &Config, targets: &[String], quiet: bool) -> anyhow::Result<ExitCode> {
    let targets = select(config, targets, true)?;
    let mut builder = backends::Builder::new(config);
    let mut specs = Vec::new();
    for t in &targets {
        specs.push((builder.pair_spec(t.pair)?, t.only.clone()));
    }
    super::check_discovered_collections(&config.status_path, &specs).await?;
    let reporter = CliReporter::new(false, quiet);
    let runs = specs
        .iter()
        .map(|(spec, only)| metasync_pair(spec, &config.status_path, only.as_deref(), &reporter));
    join_all(runs).await;
    reporter.finish();
    Ok(exit_code(reporter.failures()))
}
