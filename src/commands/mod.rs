//! One module per command. Each returns the exit code for runtime outcomes (0 all well, 1
//! some item, collection or pair failed) and an `Err` only for usage and config errors,
//! which `main` prints once and turns into exit code 2 before anything is touched.

pub mod check;
pub mod discover;
pub mod metasync;
pub mod repair;
pub mod resolve;
pub mod shell;
pub mod status;
pub mod sync;
pub mod trash;
pub mod watch;

use std::process::ExitCode;

use crate::cli::{Cli, Command, TrashCommand};
use crate::config::{Config, PairConfig};
use crate::sync::CollectionSpec;

pub async fn dispatch(config: &Config, cli: &Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Sync(args) => sync::run(config, args, cli.quiet).await,
        Command::Discover(args) => discover::run(config, &args.pairs, cli.quiet).await,
        Command::Metasync(args) => metasync::run(config, args, cli.quiet).await,
        Command::Repair(args) => repair::run(config, args, cli.quiet).await,
        Command::Check(args) if args.online => check::run_online(config, &args.storages).await,
        Command::Check(_) => check::run(config),
        Command::Status(args) => status::run(config, &args.pairs),
        Command::Resolve(args) => resolve::run(config, args, cli.quiet).await,
        Command::Trash(TrashCommand::List(args)) => trash::list(config, &args.pairs),
        Command::Trash(TrashCommand::Restore(args)) => {
            trash::restore(config, &args.ids, cli.quiet).await
        }
        Command::Watch(args) => watch::run(config, args, cli.quiet).await,
        Command::ImportVdirsyncer(_) | Command::Completions(_) | Command::Man => {
            unreachable!("run() handles the commands that need no config")
        }
    }
}

/// The exit code for a run that reported `failures` failures.
pub fn exit_code(failures: usize) -> ExitCode {
    if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// One pair selected on the command line, with the collections named for it (`None`: all).
pub struct Target<'c> {
    pub pair: &'c PairConfig,
    pub only: Option<Vec<String>>,
}

/// Resolves `PAIR[/COLLECTION]` arguments (all pairs when none) in config order. A bare
/// `PAIR` wins over `PAIR/COLLECTION` for the same pair. Output follows the file's order.
pub fn select<'c>(
    config: &'c Config,
    args: &[String],
    allow_collections: bool,
) -> anyhow::Result<Vec<Target<'c>>> {
    if config.pairs.is_empty() {
        anyhow::bail!(
            "no pairs configured in {}: add a [pair.NAME] table",
            config.source.path.display()
        );
    }
    if args.is_empty() {
        return Ok(config
            .pairs_in_order()
            .map(|pair| Target { pair, only: None })
            .collect());
    }
    let mut wanted: Vec<(String, Option<Vec<String>>)> = Vec::new();
    for arg in args {
        let (name, coll) = match arg.split_once('/') {
            Some((p, c)) if allow_collections => (p, Some(c)),
            Some(_) => anyhow::bail!("{arg:?}: expected a pair name, without /COLLECTION"),
            None => (arg.as_str(), None),
        };
        let Some(pair) = config.pairs.get(name) else {
            anyhow::bail!(
                "unknown pair {name:?} (configured pairs: {})",
                config.pair_order.join(", ")
            );
        };
        if let Some(c) = coll {
            if pair.collections.is_none() {
                anyhow::bail!(
                    "{arg:?}: pair {name:?} has no `collections`, so it cannot be restricted to a collection; name the pair alone"
                );
            }
            if c.is_empty() {
                anyhow::bail!("{arg:?}: empty collection name");
            }
            // Without "from a"/"from b" the pair's collections are known without discovery.
            let specs = pair.collections.as_deref().unwrap_or(&[]);
            let names: Vec<&str> = specs
                .iter()
                .filter_map(|s| match s {
                    CollectionSpec::Named(n) => Some(n.as_str()),
                    CollectionSpec::Mapped { name, .. } => Some(name.as_str()),
                    CollectionSpec::FromA | CollectionSpec::FromB => None,
                })
                .collect();
            if names.len() == specs.len() && !names.contains(&c) {
                anyhow::bail!(
                    "{arg:?}: pair {name:?} has no collection {c:?} (its collections: {})",
                    names.join(", ")
                );
            }
        }
        match wanted.iter_mut().find(|(n, _)| n == name) {
            Some((_, only)) => match (only.as_mut(), coll) {
                (Some(list), Some(c)) => {
                    if !list.iter().any(|x| x == c) {
                        list.push(c.to_owned())
                    }
                }
                _ => *only = None,
            },
            None => wanted.push((name.to_owned(), coll.map(|c| vec![c.to_owned()]))),
        }
    }
    Ok(config
        .pairs_in_order()
        .filter_map(|pair| {
            wanted
                .iter()
                .find(|(n, _)| *n == pair.name)
                .map(|(_, only)| Target {
                    pair,
                    only: only.clone(),
                })
        })
        .collect())
}

/// `PAIR/COLLECTION` for a pair with `"from a"`/`"from b"`: whether the pair has that
/// collection is known only after discovery (a listing of collections, no item read and
/// nothing created). A collection it does not have is a usage error listing the ones it
/// has, before anything is touched. A discovery that fails here is left to the command,
/// which reports it as usual.
pub async fn check_discovered_collections(
    status_path: &std::path::Path,
    specs: &[(crate::sync::PairSpec, Option<Vec<String>>)],
) -> anyhow::Result<()> {
    struct Silent;
    impl crate::sync::Reporter for Silent {
        fn event(&self, _: &crate::sync::Event) {}
    }
    for (spec, only) in specs {
        let (Some(only), Some(list)) = (only, &spec.collections) else {
            continue;
        };
        if !list
            .iter()
            .any(|s| matches!(s, CollectionSpec::FromA | CollectionSpec::FromB))
        {
            continue; // Checked without discovery by `select`.
        }
        let Ok(found) = crate::sync::discover_pair(spec, status_path, false, &Silent).await else {
            continue;
        };
        let names: Vec<&str> = found.iter().map(|d| d.name.as_str()).collect();
        for c in only {
            if !names.contains(&c.as_str()) {
                anyhow::bail!(
                    "\"{}/{c}\": pair {:?} has no collection {c:?} (its collections: {})",
                    spec.name,
                    spec.name,
                    if names.is_empty() {
                        "none found".to_owned()
                    } else {
                        names.join(", ")
                    }
                );
            }
        }
    }
    Ok(())
}

pub use crate::errors::render as chain;
