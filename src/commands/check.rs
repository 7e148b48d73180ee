//! `davsync check`: the config has been loaded and validated by the time this runs (any
//! error already exited 2); this prints one line per pair:
//! `pair <name>: <a> (<type>) <-> <b> (<type>), collections: <list>`.
//! With `--online`, a table per CalDAV/CardDAV storage of what its server supports.

use std::process::ExitCode;

use davsync_storages::dav::{DavStorage, ServerReport};
use davsync_storages::ItemKind;

use crate::config::backends;
use crate::config::{Config, PairConfig, StorageConfig, StorageType};
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

/// `davsync check --online [STORAGE]...`: per CalDAV/CardDAV storage (all, or the named
/// ones), a short table of what the server is and supports, to paste into a bug report.
/// Exit 1 naming every storage that could not be reached or authenticated, and why.
pub async fn run_online(config: &Config, names: &[String]) -> anyhow::Result<ExitCode> {
    for n in names {
        if !config.storages.contains_key(n) {
            let known: Vec<&str> = config.storages.keys().map(String::as_str).collect();
            anyhow::bail!(
                "no storage {n:?} in the config (storages: {})",
                known.join(", ")
            );
        }
    }
    // What `check` prints, then the servers.
    run(config)?;
    let out = CliReporter::new(false, false);
    let selected: Vec<&StorageConfig> = config
        .storages
        .values()
        .filter(|st| names.is_empty() || names.contains(&st.name))
        .collect();
    let mut failed: Vec<String> = Vec::new();
    let mut any = false;
    for st in selected {
        if !matches!(st.ty, StorageType::CalDav | StorageType::CardDav) {
            if names.contains(&st.name) {
                out.line(&format!(
                    "storage {} ({}): not a server storage, nothing to check online",
                    st.name,
                    st.ty.as_str()
                ));
            }
            continue;
        }
        any = true;
        match report(config, st).await {
            Ok(r) => {
                for line in table(st, &r) {
                    out.line(&line);
                }
            }
            Err(why) => {
                out.line(&format!(
                    "storage {} ({}): unreachable: {why}",
                    st.name,
                    st.ty.as_str()
                ));
                eprintln!("error: storage {}: {why}", st.name);
                failed.push(format!("{} ({why})", st.name));
            }
        }
    }
    if !any && names.is_empty() {
        out.line("no caldav or carddav storage in the config: nothing to check online");
    }
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("error: cannot reach or authenticate: {}", failed.join("; "));
        Ok(ExitCode::from(1))
    }
}

async fn report(config: &Config, st: &StorageConfig) -> Result<ServerReport, String> {
    let kind = match st.ty {
        StorageType::CardDav => ItemKind::Contacts,
        _ => ItemKind::Calendar,
    };
    let password = backends::password(config, st).map_err(|e| e.to_string())?;
    let opts = backends::dav_options(st, kind, password)?;
    let storage = DavStorage::new(opts).map_err(|e| crate::commands::chain(&e))?;
    storage
        .server_report()
        .await
        .map_err(|e| crate::commands::chain(&e))
}

fn yes_no(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown",
    }
}

/// The lines of one storage's table.
pub fn table(st: &StorageConfig, r: &ServerReport) -> Vec<String> {
    let mut lines = vec![format!("storage {} ({}):", st.name, st.ty.as_str())];
    let mut row = |k: &str, v: String| lines.push(format!("  {k:<22} {v}"));
    row(
        "principal",
        r.principal.clone().unwrap_or_else(|| "(none found)".into()),
    );
    row(
        "home sets",
        if r.homes.is_empty() {
            "(none found)".into()
        } else {
            r.homes.join(", ")
        },
    );
    row("collections", r.collections.len().to_string());
    for c in &r.collections {
        row("  -", format!("{} ({})", c.url, c.changes.as_str()));
    }
    let mut checks: Vec<&str> = r.collections.iter().map(|c| c.changes.as_str()).collect();
    checks.sort();
    checks.dedup();
    row(
        "unchanged check",
        if checks.is_empty() {
            "unknown (no collection)".into()
        } else {
            checks.join(", ")
        },
    );
    if st.ty == StorageType::CalDav {
        row("time-range queries", yes_no(r.time_range).into());
    }
    row("collection creation", yes_no(r.creation).into());
    row(
        "preconditions",
        match r.preconditions {
            None => "unknown (no collection to probe in)".into(),
            Some(p) if !p.probed => "unknown (the probe item was refused)".into(),
            Some(p) if p.enforced() => "enforced (probed on a scratch item, removed)".into(),
            Some(p) => {
                format!(
                "NOT enforced: If-Match {}, If-None-Match {} (probed on a scratch item, removed)",
                if p.if_match { "enforced" } else { "ignored" },
                if p.if_none_match { "enforced" } else { "ignored" }
            )
            }
        },
    );
    row(
        "auth scheme",
        r.auth.clone().unwrap_or_else(|| "none sent".into()),
    );
    row(
        "HTTP version",
        r.http_version.clone().unwrap_or_else(|| "unknown".into()),
    );
    row(
        "quirks applied",
        if r.quirks.is_empty() {
            "none".into()
        } else {
            r.quirks.join("; ")
        },
    );
    lines
}
