//! `davsync repair STORAGE[/COLLECTION] [--dry-run]`
//!
//! Which collections: `STORAGE/COLLECTION` names one, found by discovery under the storage's
//! path/url. `STORAGE` alone repairs every discovered collection when a pair uses the storage
//! with `collections` (its path/url is then a parent of collections), else the storage's
//! path/url itself as the one collection.

use std::process::ExitCode;

use davsync_storages::{Collection, Href};

use super::{chain, exit_code};
use crate::cli::RepairArgs;
use crate::config::{backends, Config};
use crate::output::CliReporter;
use crate::repair::{repair_keeping, Keeper};
use crate::trash::{Origin, Why};

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
    if collection == Some("") {
        anyhow::bail!("{:?}: empty collection name", args.target);
    }
    if st.is_read_only() && !args.dry_run {
        anyhow::bail!(
            "storage {name:?} is read-only, and repair writes to it; use --dry-run to see what it would change"
        );
    }
    // Not wrapped in DryRun: repair's own dry run reads everything and writes nothing.
    // A dry run of a read-only storage goes through the ReadOnly wrapper: it only reads.
    let storage = backends::handle(config, st)?.storage;
    let out = CliReporter::new(false, quiet);

    let with_collections = config
        .pairs
        .values()
        .any(|p| (p.a == name || p.b == name) && p.collections.is_some());
    let collections: Vec<Collection> = match collection {
        Some(c) => match storage.discover().await {
            Ok(found) => match found.into_iter().find(|x| x.name == c) {
                Some(x) => vec![x],
                None => {
                    out.failure(&format!("storage {name}: no collection named {c:?}"));
                    return Ok(exit_code(1));
                }
            },
            Err(e) => {
                out.failure(&format!("storage {name}: discovery failed: {}", chain(&e)));
                return Ok(exit_code(1));
            }
        },
        None if with_collections => match storage.discover().await {
            Ok(found) => found,
            Err(e) => {
                out.failure(&format!("storage {name}: discovery failed: {}", chain(&e)));
                return Ok(exit_code(1));
            }
        },
        None => match storage.root_collection().await {
            Ok(c) => vec![c],
            Err(e) => {
                out.failure(&format!("storage {name}: {}", chain(&e)));
                return Ok(exit_code(1));
            }
        },
    };

    let mut failures = 0;
    for c in &collections {
        let mut print = |line: &str| {
            if !quiet {
                out.line(line);
            }
        };
        // The versions repair replaces go to the trash, listed under the first pair that
        // uses the storage (or the storage's name when no pair does).
        let trash = super::trash::trash_of(config);
        let pair = config
            .pairs_in_order()
            .find(|p| p.a == name || p.b == name)
            .map_or_else(|| name.to_owned(), |p| p.name.clone());
        let keeper = Keeper {
            trash: &trash,
            template: Origin {
                pair,
                collection: c.name.clone(),
                storage: name.to_owned(),
                collection_href: c.href.clone(),
                collection_name: c.name.clone(),
                href: Href(String::new()),
                etag: None,
                uid: String::new(),
                why: Why::Overwritten,
                kind: storage.item_kind(),
            },
        };
        let keeper = (trash.keeps() && !args.dry_run).then_some(&keeper);
        let outcome =
            repair_keeping(storage.as_ref(), c, name, args.dry_run, &mut print, keeper).await;
        failures += outcome.failures;
    }
    out.finish();
    Ok(exit_code(failures + out.failures()))
}
