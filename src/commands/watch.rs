//! `davsync watch [PAIR]... [--ready-fd FD]`

use std::process::ExitCode;

use super::select;
use crate::cli::WatchArgs;
use crate::config::{backends, Config};

pub async fn run(config: &Config, args: &WatchArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let targets = select(config, &args.pairs, false)?;
    // Every storage built and every password fetched first: a config error is exit 2 at
    // start, never a failure hours later.
    let mut builder = backends::Builder::new(config);
    let mut specs = Vec::new();
    for t in &targets {
        specs.push(builder.pair_spec(t.pair)?);
    }
    // All locks or nothing: a watcher that silently left out a pair would look like it
    // keeps that pair in sync.
    let mut locks = Vec::new();
    let mut refused = false;
    for spec in &specs {
        match crate::lock::acquire(&config.status_path, &spec.name) {
            Ok(lock) => locks.push(lock),
            Err(e) => {
                eprintln!("error: {e}");
                refused = true;
            }
        }
    }
    if refused {
        return Ok(ExitCode::from(1));
    }
    let code = crate::watch::run(config, specs, quiet).await;
    drop(locks);
    code
}
