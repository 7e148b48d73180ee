//! `davsync import-vdirsyncer`: convert a vdirsyncer setup, config and status.
//!
//! [`ini`] reads vdirsyncer's config format, [`convert`] maps it to davsync's TOML (keeping
//! what it cannot map as comments), [`status`] translates vdirsyncer's sync status so the
//! first davsync sync has nothing to do. docs/migrating.md is the user's side of this.
//!
//! Output: the written file and, per pair, the status rows imported on stdout; every key
//! left out, and every status that could not be read, on stderr. Exit 1 when anything was
//! left out, 2 when nothing could be done (no vdirsyncer config, a syntax error in it, an
//! existing target without `--force`).

pub mod convert;
pub mod ini;
pub mod pydate;
pub mod status;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use serde_json::Value;

use crate::cli::ImportArgs;

/// vdirsyncer's config file per the documented order: `--from`, `$VDIRSYNCER_CONFIG`,
/// `$XDG_CONFIG_HOME/vdirsyncer/config` (`~/.config` when unset), `~/.vdirsyncer/config`.
fn locate_vdirsyncer(from: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = from {
        return Ok(p.to_owned());
    }
    if let Some(p) = std::env::var_os("VDIRSYNCER_CONFIG").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let home = dirs::home_dir();
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".config")));
    let mut tried = Vec::new();
    for candidate in [
        xdg.map(|x| x.join("vdirsyncer").join("config")),
        home.map(|h| h.join(".vdirsyncer").join("config")),
    ]
    .into_iter()
    .flatten()
    {
        if candidate.exists() {
            return Ok(candidate);
        }
        tried.push(candidate.display().to_string());
    }
    bail!(
        "no vdirsyncer config found (looked at $VDIRSYNCER_CONFIG, {}); name it with --from",
        tried.join(", ")
    )
}

/// Where davsync's config goes: `--to`, else the path davsync would read its config from
/// (`--config`, `$DAVSYNC_CONFIG`, `$XDG_CONFIG_HOME/davsync/config.toml`,
/// `~/.config/davsync/config.toml`), whether or not it exists yet.
fn target_path(to: Option<&Path>, config: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = to.or(config) {
        return Ok(p.to_owned());
    }
    if let Ok(p) = crate::config::locate(None) {
        return Ok(p);
    }
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(x).join("davsync").join("config.toml"));
    }
    match dirs::home_dir() {
        Some(h) => Ok(h.join(".config").join("davsync").join("config.toml")),
        None => bail!("no home directory: name the davsync config to write with --to"),
    }
}

/// Writes `text` to `path` (0600: it may hold a password) through a temporary file.
fn write_config(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".davsync-config")
        .tempfile_in(&dir)
        .with_context(|| format!("writing into {}", dir.display()))?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

pub fn run(args: &ImportArgs, config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let from = locate_vdirsyncer(args.from.as_deref())?;
    let to = target_path(args.to.as_deref(), config)?;
    let text = std::fs::read_to_string(&from)
        .with_context(|| format!("cannot read vdirsyncer config {}", from.display()))?;
    let from_abs = std::path::absolute(&from).unwrap_or(from.clone());
    let vconfig = ini::parse(&from_abs, &text)?;
    if to.exists() && !args.force {
        bail!(
            "{} already exists; pass --force to overwrite it (nothing was written)",
            to.display()
        );
    }
    let converted = convert::convert(&vconfig);
    write_config(&to, &converted.toml)?;
    println!("Wrote {}", to.display());
    let mut incomplete = false;
    for left in &converted.left_out {
        crate::logging::warn_line(&left.to_string());
        incomplete = true;
    }

    let davsync_status = match crate::config::load(&to) {
        Ok(c) => c.status_path,
        Err(e) => {
            crate::logging::error_line(&format!(
                "the written config does not validate yet, fix it before syncing:\n{e}"
            ));
            incomplete = true;
            PathBuf::from(status::expand(crate::config::resolve::DEFAULT_STATUS_PATH))
        }
    };
    let vstatus = vconfig
        .general()
        .and_then(|g| g.get("status_path"))
        .and_then(Value::as_str)
        .map(|p| {
            let p = PathBuf::from(status::expand(p));
            match from_abs.parent() {
                Some(dir) => dir.join(p),
                None => p,
            }
        });
    let Some(vstatus) = vstatus else {
        crate::logging::error_line(&format!(
            "[general] status_path is missing in {}: no status imported; the first \
             sync compares the contents of both sides",
            from.display()
        ));
        return Ok(ExitCode::from(1));
    };
    let skipped: Vec<&str> = converted
        .left_out
        .iter()
        .filter(|l| l.key.is_empty() && l.section.starts_with("pair "))
        .map(|l| &l.section["pair ".len()..])
        .collect();
    for pair in vconfig.sections_of("pair") {
        if skipped.contains(&pair.name.as_str()) {
            continue;
        }
        let Some(src) = pair_source(&vconfig, pair, &vstatus) else {
            continue;
        };
        let report = status::import_pair(&src, &davsync_status, args.force);
        if let Some(why) = &report.unreadable {
            crate::logging::error_line(&format!(
                "{why}: pair {} imported without status (its first sync compares the \
                 contents of both sides)",
                pair.name
            ));
            incomplete = true;
        } else if report.kept_existing {
            crate::logging::error_line(&format!(
                "pair {} already has a davsync status in {}: kept, nothing imported \
                 (pass --force to replace it)",
                pair.name,
                davsync_status.display()
            ));
            incomplete = true;
        } else {
            println!(
                "Imported {} status {} for pair {}",
                report.rows,
                if report.rows == 1 { "row" } else { "rows" },
                pair.name
            );
        }
    }
    Ok(if incomplete {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn pair_source(
    vconfig: &ini::VConfig,
    pair: &ini::Section,
    status_dir: &Path,
) -> Option<status::PairSource> {
    let storage = |key: &str| -> Option<status::StorageSource> {
        let name = pair.get(key)?.as_str()?;
        let st = vconfig.storage(name)?;
        let s = |k: &str| st.get(k).and_then(Value::as_str).map(str::to_owned);
        Some(status::StorageSource {
            vtype: s("type")?,
            path: s("path"),
            fileext: s("fileext"),
            url: s("url"),
        })
    };
    Some(status::PairSource {
        name: pair.name.clone(),
        status_dir: status_dir.to_owned(),
        has_collections: !matches!(pair.get("collections"), None | Some(Value::Null)),
        a: storage("a")?,
        b: storage("b")?,
    })
}
