//! Conflict resolution: the pair's strategies, tried in order until one resolves.
//!
//! A strategy either resolves (names the version that goes to both sides) or passes, with a
//! reason that ends up in the "left unresolved" line when every strategy passed.

use std::path::Path;

use davsync_storages::{ContentHash, Item};
use sha2::{Digest, Sha256};

use super::Side;

/// One conflict resolution strategy (`conflict_resolution` in the config). Adding one: a
/// variant here, its name in [`Strategy::NAMES`] (or [`Strategy::name`] for one with
/// arguments), and what it does in [`resolve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    AWins,
    BWins,
    NewerWins,
    KeepBoth,
    /// The three-way merge against the base the status keeps.
    Merge,
    /// Runs the command with two temporary files (a's, b's) appended; the first file's
    /// content after exit 0 is the merged result.
    Command(Vec<String>),
}

impl Strategy {
    /// The strategies the config names by a string, with their names: the one place those
    /// names are spelled (config parsing, the `resolved by "..."` lines).
    pub const NAMES: [(&'static str, Strategy); 5] = [
        ("a wins", Strategy::AWins),
        ("b wins", Strategy::BWins),
        ("newer wins", Strategy::NewerWins),
        ("keep both", Strategy::KeepBoth),
        ("merge", Strategy::Merge),
    ];

    /// The strategy a config string names.
    pub fn from_name(name: &str) -> Option<Strategy> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| s.clone())
    }

    /// The name users see in `resolved by "<name>"`.
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::Command(_) => "command",
            named => Self::NAMES
                .iter()
                .find(|(_, s)| s == named)
                .map(|(n, _)| *n)
                .expect("every strategy without arguments has a name"),
        }
    }
}

/// How a conflict was resolved.
#[derive(Debug, Clone)]
pub enum Resolution {
    /// This side's version goes to the other side.
    Take(Side),
    /// a keeps its version; b's version, under a fresh UID, lands on both sides.
    KeepBoth { renamed: Item },
    /// A merged version goes to both sides.
    Merged(Item),
}

/// The outcome of trying the strategies.
#[derive(Debug, Clone)]
pub enum Outcome {
    Resolved {
        strategy: &'static str,
        resolution: Resolution,
    },
    Unresolved {
        reason: String,
    },
}

/// The fresh UID `keep both` gives b's version. Derived from the UID and b's content, so a
/// sync interrupted halfway through `keep both` and run again picks the same UID and finds
/// the copy it already made instead of making another.
pub fn fresh_uid(uid: &str, b_hash: &ContentHash) -> String {
    let mut h = Sha256::new();
    h.update(uid.as_bytes());
    h.update(b"\0");
    h.update(b_hash.as_str().as_bytes());
    let d = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&d[..16]);
    uuid::Builder::from_sha1_bytes(bytes)
        .into_uuid()
        .to_string()
        .to_uppercase()
}

/// Tries `strategies` in order on versions `a` and `b` (whose normalized hashes differ);
/// `base` is what both held after the last sync that saw them equal, if the status has it.
/// With `dry_run`, a `command` is not run (it may be interactive) and counts as resolving
/// with a's version.
pub async fn resolve(
    strategies: &[Strategy],
    a: &Item,
    b: &Item,
    base: Option<&[u8]>,
    dry_run: bool,
) -> Outcome {
    if strategies.is_empty() {
        return Outcome::Unresolved {
            reason: "the versions differ and no conflict_resolution is configured".into(),
        };
    }
    let mut passed: Vec<String> = Vec::new();
    for s in strategies {
        let name = s.name();
        let resolution = match s {
            Strategy::AWins => Ok(Resolution::Take(Side::A)),
            Strategy::BWins => Ok(Resolution::Take(Side::B)),
            Strategy::NewerWins => match (a.last_modified(), b.last_modified()) {
                (Some(ta), Some(tb)) if ta > tb => Ok(Resolution::Take(Side::A)),
                (Some(ta), Some(tb)) if tb > ta => Ok(Resolution::Take(Side::B)),
                (Some(_), Some(_)) => Err("same LAST-MODIFIED/REV on both sides".to_owned()),
                _ => Err("LAST-MODIFIED/REV missing on a side".to_owned()),
            },
            Strategy::KeepBoth => match b.uid() {
                Some(uid) => Ok(Resolution::KeepBoth {
                    renamed: b.with_uid(&fresh_uid(uid, b.hash())),
                }),
                None => Err("the item has no UID".to_owned()),
            },
            Strategy::Merge => three_way(base, a, b),
            Strategy::Command(cmd) => {
                if dry_run {
                    Ok(Resolution::Take(Side::A))
                } else {
                    run_command(cmd, a, b).await
                }
            }
        };
        match resolution {
            Ok(resolution) => {
                return Outcome::Resolved {
                    strategy: name,
                    resolution,
                }
            }
            Err(why) => passed.push(format!("{name}: {why}")),
        }
    }
    Outcome::Unresolved {
        reason: format!("every strategy passed ({})", passed.join("; ")),
    }
}

/// The `merge` strategy: a three-way merge of `a` and `b` against `base`.
pub fn three_way(base: Option<&[u8]>, a: &Item, b: &Item) -> Result<Resolution, String> {
    let Some(base) = base else {
        return Err(
            "no base version (the item was not synced since the status began keeping \
                    them)"
                .into(),
        );
    };
    match davsync_storages::item::merge(base, a, b) {
        Ok(merged) if merged.hash() == a.hash() => Ok(Resolution::Take(Side::A)),
        Ok(merged) if merged.hash() == b.hash() => Ok(Resolution::Take(Side::B)),
        Ok(merged) => Ok(Resolution::Merged(merged)),
        Err(pass) => {
            tracing::info!(uid = a.ident(), "merge passed: {pass}");
            Err(pass.to_string())
        }
    }
}

/// Runs the merge command on two temporary files and reads the first back.
async fn run_command(cmd: &[String], a: &Item, b: &Item) -> Result<Resolution, String> {
    let Some((prog, args)) = cmd.split_first() else {
        return Err("empty command".into());
    };
    let dir = tempfile::tempdir().map_err(|e| format!("creating a temporary folder: {e}"))?;
    let ext = match a.kind() {
        davsync_storages::ItemKind::Calendar => "ics",
        davsync_storages::ItemKind::Contacts => "vcf",
    };
    let pa = dir.path().join(format!("a.{ext}"));
    let pb = dir.path().join(format!("b.{ext}"));
    write(&pa, a.raw())?;
    write(&pb, b.raw())?;
    let status = tokio::process::Command::new(prog)
        .args(args)
        .arg(&pa)
        .arg(&pb)
        .kill_on_drop(true)
        .status()
        .await
        .map_err(|e| format!("running {prog}: {e}"))?;
    if !status.success() {
        return Err(format!("{prog} exited with {status}"));
    }
    let merged = std::fs::read(&pa).map_err(|e| format!("reading the merged file: {e}"))?;
    let merged = Item::parse(a.kind(), merged)
        .map_err(|e| format!("the merged version does not parse: {e}"))?;
    if merged.ident() != a.ident() {
        return Err(format!(
            "the merged version has UID {} instead of {}",
            merged.ident(),
            a.ident()
        ));
    }
    Ok(if merged.hash() == a.hash() {
        Resolution::Take(Side::A)
    } else if merged.hash() == b.hash() {
        Resolution::Take(Side::B)
    } else {
        Resolution::Merged(merged)
    })
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("writing {}: {e}", path.display()))
}
