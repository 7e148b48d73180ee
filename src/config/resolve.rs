//! The validated config: every value checked, every path expanded and made absolute, every
//! pair's storages known to exist and to hold the same kind of items.
//!
//! Decisions (documented in docs/config.md):
//! - relative paths (storage `path`, `client_cert`, a `verify` CA bundle, `status_path`) are
//!   resolved against the directory of the config file, so a sync behaves the same whatever
//!   directory it is started from (cron, systemd);
//! - whether a `vdir` or `singlefile` storage holds calendars or contacts comes from its
//!   `fileext` / file extension (`.ics`, `.vcf`), else from the storage it is paired with.
//!
//! The resolved types and the order of the checks are here; each table's rules are in a
//! module of their own: `storage` (one storage table, local paths), `dav` (the network
//! storages' keys), `pair` (one pair table) and `pairing` (what a pair and its storages must
//! agree on).

mod dav;
mod pair;
mod pairing;
mod storage;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use davsync_storages::{ItemKind, MetaKey};
use toml::Spanned;

pub use super::password::PasswordSource;
use super::raw::RawConfig;
use super::{ConfigError, Problem, Source};
use crate::sync::{CollectionSpec, PartialSync, Strategy};

pub use dav::fingerprint;
use pair::pair;
use pairing::{check_pair_shapes, infer_kinds};
use storage::storage;

/// The documented default of `general.status_path`.
pub const DEFAULT_STATUS_PATH: &str = "~/.local/share/davsync/status";
/// The documented default of `general.trash_days`.
pub const DEFAULT_TRASH_DAYS: u32 = 30;
/// The documented default of a network storage's `timeout`, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
/// The defaults and bounds of `max_connections` and `batch_size` (docs/storages-dav.md says
/// how the defaults were measured).
pub const DEFAULT_MAX_CONNECTIONS: usize = davsync_storages::net::DEFAULT_MAX_CONNECTIONS;
const MAX_MAX_CONNECTIONS: usize = 64;
pub const DEFAULT_BATCH_SIZE: usize = davsync_storages::dav::DEFAULT_MULTIGET_BATCH;
const MAX_BATCH_SIZE: usize = 10_000;

#[derive(Debug)]
pub struct Config {
    pub source: Source,
    pub status_path: PathBuf,
    /// How long replaced versions stay in the trash (0: not kept).
    pub trash_days: u32,
    pub storages: BTreeMap<String, StorageConfig>,
    pub pairs: BTreeMap<String, PairConfig>,
    /// Pair names in the order of the file, for output.
    pub pair_order: Vec<String>,
}

impl Config {
    /// The pairs in the order of the file.
    pub fn pairs_in_order(&self) -> impl Iterator<Item = &PairConfig> {
        self.pair_order.iter().filter_map(|n| self.pairs.get(n))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageType {
    Vdir,
    /// The vdirsyncer name of `vdir`.
    Filesystem,
    SingleFile,
    CalDav,
    CardDav,
    Http,
}

impl StorageType {
    pub fn as_str(self) -> &'static str {
        match self {
            StorageType::Vdir => "vdir",
            StorageType::Filesystem => "filesystem",
            StorageType::SingleFile => "singlefile",
            StorageType::CalDav => "caldav",
            StorageType::CardDav => "carddav",
            StorageType::Http => "http",
        }
    }

    fn parse(s: &str) -> Option<StorageType> {
        Some(match s {
            "vdir" => StorageType::Vdir,
            "filesystem" => StorageType::Filesystem,
            "singlefile" => StorageType::SingleFile,
            "caldav" => StorageType::CalDav,
            "carddav" => StorageType::CardDav,
            "http" => StorageType::Http,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct StorageConfig {
    pub name: String,
    pub ty: StorageType,
    /// Calendars or contacts; `None` only for a local storage that no pair uses and whose
    /// extension says nothing.
    pub kind: Option<ItemKind>,
    /// As configured; an `http` storage is read-only whatever this says.
    pub read_only: bool,
    /// How often `watch` checks the storage for changes (`interval`).
    pub interval: Duration,
    pub params: StorageParams,
}

impl StorageConfig {
    pub fn is_read_only(&self) -> bool {
        self.read_only || self.ty == StorageType::Http
    }
}

#[derive(Debug, Clone)]
pub enum StorageParams {
    Vdir {
        path: PathBuf,
        fileext: String,
        post_hook: Option<Vec<String>>,
    },
    SingleFile {
        path: PathBuf,
    },
    /// caldav, carddav and http.
    Dav(DavParams),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthChoice {
    Basic,
    Digest,
    Bearer,
    Guess,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyChoice {
    Yes,
    No,
    CaBundle(PathBuf),
}

#[derive(Debug, Clone)]
pub struct DavParams {
    pub url: String,
    pub username: Option<String>,
    /// The source and the span of its value, to locate a failure to fetch it.
    pub password: Option<(PasswordSource, Range<usize>)>,
    pub auth: AuthChoice,
    pub verify: VerifyChoice,
    /// Lowercase hex of the leaf certificate's SHA-256, without colons or prefix.
    pub verify_fingerprint: Option<String>,
    pub client_cert: Option<PathBuf>,
    pub timeout: Duration,
    /// Requests in flight at once against the server (`max_connections`).
    pub max_connections: usize,
    /// Hrefs per multiget REPORT (`batch_size`).
    pub batch_size: usize,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    /// Uppercase component names (`VEVENT`, `VTODO`, `VJOURNAL`).
    pub item_types: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct PairConfig {
    pub name: String,
    pub a: String,
    pub b: String,
    pub collections: Option<Vec<CollectionSpec>>,
    pub conflict_resolution: Vec<Strategy>,
    pub partial_sync: PartialSync,
    pub metadata: Vec<MetaKey>,
}

struct Ctx<'a> {
    source: &'a Source,
    base: PathBuf,
    now: DateTime<Utc>,
    problems: Vec<Problem>,
}

impl Ctx<'_> {
    fn err(&mut self, span: Range<usize>, message: impl Into<String>) {
        let p = self.source.problem(span, message);
        self.problems.push(p);
    }

    /// Expands `~` and `$VARS`, then anchors a relative path at the config's directory.
    /// A local storage's folder (vdir) or file (singlefile) may be missing (it is created),
    /// but the folder it would be created in must exist: a missing one is far more likely a
    /// typo than a wish, and syncing it would silently look like an empty storage.
    fn parent_must_exist(&mut self, key: &str, value: &Spanned<String>, path: &Path) {
        let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) else {
            return;
        };
        if !parent.is_dir() {
            self.err(
                value.span(),
                format!(
                    "{key}: {}: the folder {} does not exist (a typo? if the path is right, \
                     create that folder first)",
                    path.display(),
                    parent.display()
                ),
            );
        }
    }

    fn path(&mut self, key: &str, value: &Spanned<String>) -> Option<PathBuf> {
        let home = || dirs::home_dir().map(|h| h.to_string_lossy().into_owned());
        match shellexpand::full_with_context(value.get_ref(), home, |var| {
            std::env::var(var).map(Some)
        }) {
            Ok(expanded) => {
                let p = PathBuf::from(expanded.as_ref());
                Some(if p.is_absolute() {
                    p
                } else {
                    self.base.join(p)
                })
            }
            Err(e) => {
                self.err(
                    value.span(),
                    format!(
                        "{key}: cannot expand {:?}: ${} is not set",
                        value.get_ref(),
                        e.var_name
                    ),
                );
                None
            }
        }
    }
}

pub fn resolve(source: &Source, raw: RawConfig) -> Result<Config, ConfigError> {
    let base = source
        .path
        .parent()
        .map(Path::to_owned)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut cx = Ctx {
        source,
        base,
        now: Utc::now(),
        problems: Vec::new(),
    };

    let status_path = match &raw.general.status_path {
        Some(p) => cx.path("general.status_path", p),
        None => cx.path(
            "general.status_path",
            &Spanned::new(0..0, DEFAULT_STATUS_PATH.to_owned()),
        ),
    }
    .unwrap_or_default();

    let trash_days = match &raw.general.trash_days {
        None => DEFAULT_TRASH_DAYS,
        Some(d) => match u32::try_from(*d.get_ref()) {
            Ok(days) if days <= 36_500 => days,
            _ => {
                cx.err(
                    d.span(),
                    "general.trash_days: expected a number of days from 0 to 36500",
                );
                DEFAULT_TRASH_DAYS
            }
        },
    };

    let mut storages = BTreeMap::new();
    let mut storage_spans = BTreeMap::new();
    for (name, st) in &raw.storage {
        storage_spans.insert(name.get_ref().clone(), name.span());
        if let Some(cfg) = storage(&mut cx, name, st.get_ref(), st.span()) {
            storages.insert(name.get_ref().clone(), cfg);
        }
    }
    let known: Vec<&str> = raw.storage.keys().map(|k| k.get_ref().as_str()).collect();

    let mut pairs = BTreeMap::new();
    for (name, p) in &raw.pair {
        if let Some(cfg) = pair(&mut cx, name, p.get_ref(), &known) {
            pairs.insert(name.get_ref().clone(), cfg);
        }
    }

    if cx.problems.is_empty() {
        infer_kinds(&mut cx, &raw, &mut storages);
    }
    if cx.problems.is_empty() {
        check_pair_shapes(&mut cx, &raw, &storages);
    }

    let mut named: Vec<(usize, String)> = raw
        .pair
        .keys()
        .map(|k| (k.span().start, k.get_ref().clone()))
        .collect();
    named.sort();
    let pair_order = named.into_iter().map(|(_, n)| n).collect();

    if !cx.problems.is_empty() {
        // In file order, as a reader fixes them.
        cx.problems
            .sort_by_key(|p| p.location.as_ref().map(|l| (l.line, l.column)));
        return Err(ConfigError {
            problems: cx.problems,
        });
    }
    Ok(Config {
        source: source.clone(),
        status_path,
        trash_days,
        storages,
        pairs,
        pair_order,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_of_a_config_holds_no_literal_password() {
        let c = parse(
            "[storage.r]\ntype = \"caldav\"\nurl = \"https://x.example/\"\npassword = \"hunter2\"\n",
        )
        .unwrap();
        let text = format!("{c:?}");
        assert!(text.contains("caldav") || text.contains("CalDav"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    /// At the root, so that relative storage paths have an existing parent folder.
    pub(super) fn parse(text: &str) -> Result<Config, ConfigError> {
        super::super::parse(Path::new("/config.toml"), text.to_owned())
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = parse(
            "[storage.r]\ntype = \"caldav\"\nurl = \"https://x.example/\"\n\
             [storage.l]\ntype = \"vdir\"\npath = \"/abs\"\n\
             [pair.p]\na = \"l\"\nb = \"r\"\n",
        )
        .unwrap();
        let home = dirs::home_dir().unwrap();
        assert_eq!(c.status_path, home.join(".local/share/davsync/status"));
        let StorageParams::Dav(d) = &c.storages["r"].params else {
            panic!()
        };
        assert_eq!(d.auth, AuthChoice::Guess);
        assert_eq!(d.verify, VerifyChoice::Yes);
        assert_eq!(d.timeout, Duration::from_secs(30));
        let p = &c.pairs["p"];
        assert_eq!(p.partial_sync, PartialSync::Revert);
        assert!(p.conflict_resolution.is_empty());
        assert!(p.collections.is_none());
    }

    #[test]
    fn trash_days_defaults_to_30_and_takes_0() {
        let dflt = parse("").unwrap();
        assert_eq!(dflt.trash_days, 30);
        let zero = parse("[general]\ntrash_days = 0\n").unwrap();
        assert_eq!(zero.trash_days, 0);
    }

    #[test]
    fn a_negative_trash_days_is_refused_with_its_place() {
        let err = parse("[general]\ntrash_days = -1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("general.trash_days"), "{err}");
        assert!(err.contains(":2:"), "{err}");
    }
}
