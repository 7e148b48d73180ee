//! The validated config: every value checked, every path expanded and made absolute, every
//! pair's storages known to exist and to hold the same kind of items.
//!
//! Decisions (documented in docs/config.md):
//! - relative paths (storage `path`, `client_cert`, a `verify` CA bundle, `status_path`) are
//!   resolved against the directory of the config file, so a sync behaves the same whatever
//!   directory it is started from (cron, systemd);
//! - whether a `vdir` or `singlefile` storage holds calendars or contacts comes from its
//!   `fileext` / file extension (`.ics`, `.vcf`), else from the storage it is paired with.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use davsync_storages::net::Secret;
use davsync_storages::{ItemKind, MetaKey};
use toml::Spanned;

pub use super::password::PasswordSource;
use super::raw::{
    self, RawCollection, RawConfig, RawConflict, RawDate, RawPair, RawPassword, RawPasswordTable,
    RawStorage, RawStrategy, RawVerify,
};
use super::{dates, ConfigError, Problem, Source};
use crate::sync::{CollectionSpec, PartialSync, Strategy};

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

fn storage(
    cx: &mut Ctx,
    name: &Spanned<String>,
    st: &RawStorage,
    table: Range<usize>,
) -> Option<StorageConfig> {
    let sname = name.get_ref();
    let key = |k: &str| format!("storage.{sname}.{k}");
    if sname.is_empty() || sname.contains('/') {
        cx.err(
            name.span(),
            format!("storage name {sname:?} must be non-empty and must not contain '/'"),
        );
    }
    let Some(ty) = StorageType::parse(st.kind.get_ref()) else {
        cx.err(
            st.kind.span(),
            format!(
                "{}: unknown storage type {:?} (expected one of: {})",
                key("type"),
                st.kind.get_ref(),
                raw::STORAGE_TYPES
                    .iter()
                    .map(|(t, _)| format!("\"{t}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        return None;
    };
    let allowed = raw::STORAGE_TYPES
        .iter()
        .find(|(t, _)| *t == ty.as_str())
        .map(|(_, keys)| *keys)
        .unwrap_or(&[]);
    let before = cx.problems.len();
    for (k, span) in st.present_keys(cx.source, table.clone()) {
        if k != "read_only" && k != "interval" && !allowed.contains(&k) {
            cx.err(
                span,
                format!(
                    "{}: key `{k}` is not valid for a storage of type \"{}\" (valid keys: type, {}, read_only, interval)",
                    key(k),
                    ty.as_str(),
                    allowed.join(", ")
                ),
            );
        }
    }
    if cx.problems.len() > before {
        return None;
    }
    let read_only = st.read_only.as_ref().map(|r| *r.get_ref());
    if ty == StorageType::Http && read_only == Some(false) {
        let span = st.read_only.as_ref().map(|r| r.span()).unwrap_or_default();
        cx.err(
            span,
            format!("{}: an http storage is always read-only", key("read_only")),
        );
    }
    let read_only = read_only.unwrap_or(false);
    let interval = match super::interval::resolve(st.interval.as_ref(), &key("interval")) {
        Ok(d) => d,
        Err((span, message)) => {
            cx.err(span, message);
            super::interval::DEFAULT
        }
    };

    let (kind, params) = match ty {
        StorageType::Vdir | StorageType::Filesystem => {
            let raw_path = required(cx, st.path.as_ref(), name, &key("path"))?;
            let path = cx.path(&key("path"), raw_path)?;
            cx.parent_must_exist(&key("path"), raw_path, &path);
            let fileext = st.fileext.as_ref().map(|f| f.get_ref().clone());
            let kind = fileext.as_deref().and_then(kind_of_ext);
            if let Some(f) = &st.fileext {
                if f.get_ref().contains('/') {
                    cx.err(
                        f.span(),
                        format!("{}: must not contain '/'", key("fileext")),
                    );
                }
            }
            let post_hook = st.post_hook.as_ref().map(|h| h.get_ref().clone());
            if let (Some(h), Some(span)) = (&post_hook, st.post_hook.as_ref().map(|h| h.span())) {
                if h.is_empty() {
                    cx.err(
                        span,
                        format!(
                            "{}: must name a program (e.g. [\"notify-send\", \"updated\"])",
                            key("post_hook")
                        ),
                    );
                }
            }
            (
                kind,
                StorageParams::Vdir {
                    path,
                    // Empty until inferred from the kind (see infer_kinds).
                    fileext: fileext.unwrap_or_default(),
                    post_hook,
                },
            )
        }
        StorageType::SingleFile => {
            let raw_path = required(cx, st.path.as_ref(), name, &key("path"))?;
            let path = cx.path(&key("path"), raw_path)?;
            cx.parent_must_exist(&key("path"), raw_path, &path);
            let kind = path
                .extension()
                .and_then(|e| e.to_str())
                .and_then(|e| kind_of_ext(&format!(".{e}")));
            (kind, StorageParams::SingleFile { path })
        }
        StorageType::CalDav | StorageType::CardDav | StorageType::Http => {
            let kind = if ty == StorageType::CardDav {
                ItemKind::Contacts
            } else {
                ItemKind::Calendar
            };
            let params = dav(cx, name, st, ty, table)?;
            (Some(kind), StorageParams::Dav(params))
        }
    };
    Some(StorageConfig {
        name: sname.clone(),
        ty,
        kind,
        read_only,
        interval,
        params,
    })
}

fn required<'v>(
    cx: &mut Ctx,
    v: Option<&'v Spanned<String>>,
    table: &Spanned<String>,
    key: &str,
) -> Option<&'v Spanned<String>> {
    if v.is_none() {
        cx.err(
            table.span(),
            format!("{key}: missing (required for this storage type)"),
        );
    }
    v
}

fn kind_of_ext(ext: &str) -> Option<ItemKind> {
    match ext.to_ascii_lowercase().as_str() {
        ".ics" | ".ical" | ".ifb" => Some(ItemKind::Calendar),
        ".vcf" | ".vcard" => Some(ItemKind::Contacts),
        _ => None,
    }
}

fn dav(
    cx: &mut Ctx,
    name: &Spanned<String>,
    st: &RawStorage,
    ty: StorageType,
    table: Range<usize>,
) -> Option<DavParams> {
    let sname = name.get_ref();
    let key = |k: &str| format!("storage.{sname}.{k}");
    let before = cx.problems.len();
    let url = required(cx, st.url.as_ref(), name, &key("url"))?;
    let mut url_text = url.get_ref().trim().to_owned();
    let lower = url_text.to_ascii_lowercase();
    if ty == StorageType::Http
        && (lower.starts_with("webcal://") || lower.starts_with("webcals://"))
    {
        url_text = format!(
            "https://{}",
            &url_text[url_text.find("://").unwrap_or(0) + 3..]
        );
    } else if !(lower.starts_with("http://") || lower.starts_with("https://"))
        || url_text.len() <= lower.find("://").unwrap_or(0) + 3
    {
        cx.err(
            url.span(),
            format!(
                "{}: {:?} is not an http:// or https:// URL",
                key("url"),
                url.get_ref()
            ),
        );
    }

    if cx.problems.len() == before {
        if let Err(e) = url::Url::parse(&url_text) {
            cx.err(
                url.span(),
                format!("{}: {:?}: {e}", key("url"), url.get_ref()),
            );
        }
    }

    let password = st.password.as_ref().and_then(|p| {
        let span = RawStorage::key_span(cx.source, table.clone(), "password");
        match password_source(p) {
            Ok(src) => Some((src, span)),
            Err(msg) => {
                cx.err(span, format!("{}: {msg}", key("password")));
                None
            }
        }
    });

    let auth = match st.auth.as_ref().map(|a| (a.get_ref().as_str(), a.span())) {
        None | Some(("guess", _)) => AuthChoice::Guess,
        Some(("basic", _)) => AuthChoice::Basic,
        Some(("digest", _)) => AuthChoice::Digest,
        Some(("bearer", _)) => AuthChoice::Bearer,
        Some((other, span)) => {
            cx.err(
                span,
                format!(
                    "{}: unknown auth {other:?} (expected \"basic\", \"digest\", \"bearer\" or \"guess\")",
                    key("auth")
                ),
            );
            AuthChoice::Guess
        }
    };
    if auth == AuthChoice::Bearer && password.is_none() {
        let span = st.auth.as_ref().map(|a| a.span()).unwrap_or_default();
        cx.err(
            span,
            format!("{}: \"bearer\" needs the token in `password`", key("auth")),
        );
    }

    let verify = match st.verify.as_ref() {
        None => VerifyChoice::Yes,
        Some(v) => match v.get_ref() {
            RawVerify::Bool(true) => VerifyChoice::Yes,
            RawVerify::Bool(false) => VerifyChoice::No,
            RawVerify::CaBundle(s) => {
                let spanned = Spanned::new(v.span(), s.clone());
                match cx.path(&key("verify"), &spanned) {
                    Some(p) => VerifyChoice::CaBundle(p),
                    None => VerifyChoice::Yes,
                }
            }
        },
    };

    let verify_fingerprint =
        st.verify_fingerprint
            .as_ref()
            .and_then(|f| match fingerprint(f.get_ref()) {
                Ok(fp) => Some(fp),
                Err(msg) => {
                    cx.err(f.span(), format!("{}: {msg}", key("verify_fingerprint")));
                    None
                }
            });

    let client_cert = st
        .client_cert
        .as_ref()
        .and_then(|c| cx.path(&key("client_cert"), c));

    let timeout = match st.timeout.as_ref() {
        None => Duration::from_secs(DEFAULT_TIMEOUT_SECS),
        Some(t) => {
            let secs = t.get_ref().0;
            match secs {
                s if s > 0.0 && s.is_finite() && s < 1e9 => Duration::from_secs_f64(s),
                _ => {
                    cx.err(
                        t.span(),
                        format!("{}: expected a positive number of seconds", key("timeout")),
                    );
                    Duration::from_secs(DEFAULT_TIMEOUT_SECS)
                }
            }
        }
    };

    let mut count = |k: &str, v: Option<&Spanned<i64>>, default: usize, max: usize| -> usize {
        let Some(v) = v else { return default };
        match usize::try_from(*v.get_ref()) {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => {
                cx.err(
                    v.span(),
                    format!("{}: expected a whole number from 1 to {max}", key(k)),
                );
                default
            }
        }
    };
    let max_connections = count(
        "max_connections",
        st.max_connections.as_ref(),
        DEFAULT_MAX_CONNECTIONS,
        MAX_MAX_CONNECTIONS,
    );
    let batch_size = count(
        "batch_size",
        st.batch_size.as_ref(),
        DEFAULT_BATCH_SIZE,
        MAX_BATCH_SIZE,
    );

    let mut date = |k: &str, v: Option<&Spanned<RawDate>>| -> Option<DateTime<Utc>> {
        let v = v?;
        match dates::parse(&v.get_ref().0, cx.now) {
            Ok(d) => Some(d),
            Err(msg) => {
                cx.err(v.span(), format!("{}: {msg}", key(k)));
                None
            }
        }
    };
    let start_date = date("start_date", st.start_date.as_ref());
    let end_date = date("end_date", st.end_date.as_ref());
    if let (Some(s), Some(e), Some(span)) =
        (start_date, end_date, st.end_date.as_ref().map(|e| e.span()))
    {
        if e <= s {
            cx.err(
                span,
                format!("{}: must be after start_date", key("end_date")),
            );
        }
    }

    let item_types = st.item_types.as_ref().map(|t| {
        let mut out = Vec::new();
        for ty in t.get_ref() {
            let up = ty.to_ascii_uppercase();
            if ["VEVENT", "VTODO", "VJOURNAL"].contains(&up.as_str()) {
                out.push(up);
            } else {
                cx.err(
                    t.span(),
                    format!(
                        "{}: unknown component {ty:?} (expected \"VEVENT\", \"VTODO\" or \"VJOURNAL\")",
                        key("item_types")
                    ),
                );
            }
        }
        if out.is_empty() && cx.problems.len() == before {
            cx.err(t.span(), format!("{}: must not be empty", key("item_types")));
        }
        out
    });

    if cx.problems.len() > before {
        return None;
    }
    Some(DavParams {
        url: url_text,
        username: st.username.as_ref().map(|u| u.get_ref().clone()),
        password,
        auth,
        verify,
        verify_fingerprint,
        client_cert,
        timeout,
        max_connections,
        batch_size,
        start_date,
        end_date,
        item_types,
    })
}

fn password_source(v: &RawPassword) -> Result<PasswordSource, String> {
    match v {
        RawPassword::Literal(s) => Ok(PasswordSource::Literal(Secret::new(s.clone()))),
        RawPassword::Table(t) => {
            let t: &RawPasswordTable = t;
            match (t.command.clone(), t.env.clone(), t.keyring.as_ref()) {
                (Some(c), None, None) => {
                    if c.is_empty() {
                        Err("password.command must name a program".into())
                    } else {
                        Ok(PasswordSource::Command(c))
                    }
                }
                (None, Some(e), None) => Ok(PasswordSource::Env(e)),
                (None, None, Some(k)) => Ok(PasswordSource::Keyring {
                    service: k.service.clone(),
                    username: k.username.clone(),
                }),
                _ => Err("expected exactly one of `command`, `env` or `keyring`".into()),
            }
        }
    }
}

/// Normalizes a SHA-256 pin (hex in any case, colons optional, `sha256:` prefix optional) to
/// lowercase hex, with the storages' own parser, so the config accepts exactly what the TLS
/// layer pins.
pub fn fingerprint(text: &str) -> Result<String, String> {
    davsync_storages::net::parse_fingerprint(text)
        .map(hex::encode)
        .map_err(|e| e.to_string())
}

fn pair(cx: &mut Ctx, name: &Spanned<String>, p: &RawPair, known: &[&str]) -> Option<PairConfig> {
    let pname = name.get_ref();
    let key = |k: &str| format!("pair.{pname}.{k}");
    let before = cx.problems.len();
    if pname.is_empty() || pname.contains('/') {
        cx.err(
            name.span(),
            format!("pair name {pname:?} must be non-empty and must not contain '/'"),
        );
    }
    for (side, v) in [("a", &p.a), ("b", &p.b)] {
        if !known.contains(&v.get_ref().as_str()) {
            cx.err(
                v.span(),
                format!(
                    "{}: no storage named {:?} (configured storages: {})",
                    key(side),
                    v.get_ref(),
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            );
        }
    }
    if p.a.get_ref() == p.b.get_ref() {
        cx.err(
            p.b.span(),
            format!("{}: a pair needs two different storages", key("b")),
        );
    }

    let collections = p.collections.as_ref().map(|list| {
        let mut out = Vec::new();
        let mut names = BTreeSet::new();
        if list.get_ref().is_empty() {
            cx.err(
                list.span(),
                format!(
                    "{}: empty list; omit `collections` to sync the storages' path/url as one collection",
                    key("collections")
                ),
            );
        }
        for el in list.get_ref() {
            match collection_spec(el.get_ref()) {
                Ok(spec) => {
                    let n = match &spec {
                        CollectionSpec::FromA => "from a".to_owned(),
                        CollectionSpec::FromB => "from b".to_owned(),
                        CollectionSpec::Named(n) => n.clone(),
                        CollectionSpec::Mapped { name, .. } => name.clone(),
                    };
                    if !names.insert(n.clone()) {
                        cx.err(el.span(), format!("{}: {n:?} is listed twice", key("collections")));
                    }
                    out.push(spec);
                }
                Err(msg) => cx.err(el.span(), format!("{}: {msg}", key("collections"))),
            }
        }
        out
    });

    let conflict_resolution = match &p.conflict_resolution {
        None => Vec::new(),
        Some(v) => {
            let items: Vec<&RawStrategy> = match v.get_ref() {
                RawConflict::List(a) => a.iter().collect(),
                RawConflict::One(one) => vec![one],
            };
            let mut out = Vec::new();
            for it in items {
                match strategy(it) {
                    Ok(s) => out.push(s),
                    Err(msg) => cx.err(v.span(), format!("{}: {msg}", key("conflict_resolution"))),
                }
            }
            out
        }
    };

    let partial_sync = match p.partial_sync.as_ref() {
        None => PartialSync::default(),
        Some(v) => match PartialSync::from_name(v.get_ref()) {
            Some(p) => p,
            None => {
                let other = v.get_ref();
                cx.err(
                    v.span(),
                    format!(
                        "{}: unknown value {other:?} (expected \"revert\", \"error\" or \"ignore\")",
                        key("partial_sync")
                    ),
                );
                PartialSync::default()
            }
        },
    };

    let mut metadata = Vec::new();
    for m in p.metadata.iter().flat_map(|m| m.get_ref()) {
        match MetaKey::parse(m.get_ref()) {
            Some(k) if !metadata.contains(&k) => metadata.push(k),
            Some(_) => {}
            None => cx.err(
                m.span(),
                format!(
                    "{}: unknown property {:?} (expected {})",
                    key("metadata"),
                    m.get_ref(),
                    MetaKey::ALL
                        .iter()
                        .map(|k| format!("\"{}\"", k.as_str()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
        }
    }

    if cx.problems.len() > before {
        return None;
    }
    Some(PairConfig {
        name: pname.clone(),
        a: p.a.get_ref().clone(),
        b: p.b.get_ref().clone(),
        collections,
        conflict_resolution,
        partial_sync,
        metadata,
    })
}

fn collection_name(n: &str) -> Result<String, String> {
    if n.is_empty() || n.contains('/') || n.starts_with('.') || n.contains('\\') {
        Err(format!(
            "collection name {n:?} must be non-empty, must not contain '/' or '\\' and must not begin with '.'"
        ))
    } else {
        Ok(n.to_owned())
    }
}

fn collection_spec(v: &RawCollection) -> Result<CollectionSpec, String> {
    match v {
        RawCollection::Name(s) if s == "from a" => Ok(CollectionSpec::FromA),
        RawCollection::Name(s) if s == "from b" => Ok(CollectionSpec::FromB),
        RawCollection::Name(s) => Ok(CollectionSpec::Named(collection_name(s)?)),
        RawCollection::Mapped(names) => match names.as_slice() {
            [name, on_a, on_b] => Ok(CollectionSpec::Mapped {
                name: collection_name(name)?,
                a: collection_name(on_a)?,
                b: collection_name(on_b)?,
            }),
            _ => Err(
                "a mapped collection is a list of three names: [\"name\", \"name_on_a\", \"name_on_b\"]"
                    .into(),
            ),
        },
    }
}

fn strategy(v: &RawStrategy) -> Result<Strategy, String> {
    match v {
        RawStrategy::Name(s) => Strategy::from_name(s).ok_or_else(|| {
            let names: Vec<String> = Strategy::NAMES
                .iter()
                .map(|(n, _)| format!("{n:?}"))
                .collect();
            format!(
                "unknown strategy {s:?} (expected {} or {{ command = [...] }})",
                names.join(", ")
            )
        }),
        RawStrategy::Command(c) => {
            if c.command.is_empty() {
                Err("command must name a program".into())
            } else {
                Ok(Strategy::Command(c.command.clone()))
            }
        }
    }
}

fn kind_name(k: ItemKind) -> &'static str {
    match k {
        ItemKind::Calendar => "calendars",
        ItemKind::Contacts => "contacts",
    }
}

/// Gives local storages the kind of the storage they are paired with, and refuses pairs
/// whose two sides hold different kinds.
fn infer_kinds(cx: &mut Ctx, raw: &RawConfig, storages: &mut BTreeMap<String, StorageConfig>) {
    // Two rounds so a chain vdir - vdir - caldav settles.
    for _ in 0..2 {
        for p in raw.pair.values() {
            let p = p.get_ref();
            let (a, b) = (p.a.get_ref(), p.b.get_ref());
            let ka = storages.get(a).and_then(|s| s.kind);
            let kb = storages.get(b).and_then(|s| s.kind);
            match (ka, kb) {
                (Some(x), None) => storages.get_mut(b).expect("checked").kind = Some(x),
                (None, Some(x)) => storages.get_mut(a).expect("checked").kind = Some(x),
                _ => {}
            }
        }
    }
    for (pname, p) in &raw.pair {
        let p = p.get_ref();
        let sa = &storages[p.a.get_ref()];
        let sb = &storages[p.b.get_ref()];
        if let (Some(ka), Some(kb)) = (sa.kind, sb.kind) {
            if ka != kb {
                cx.err(
                    p.b.span(),
                    format!(
                        "pair.{}: storage {:?} ({}) holds {} but storage {:?} ({}) holds {}",
                        pname.get_ref(),
                        sa.name,
                        sa.ty.as_str(),
                        kind_name(ka),
                        sb.name,
                        sb.ty.as_str(),
                        kind_name(kb)
                    ),
                );
            }
        }
    }
    let used: BTreeSet<&str> = raw
        .pair
        .values()
        .flat_map(|p| {
            [
                p.get_ref().a.get_ref().as_str(),
                p.get_ref().b.get_ref().as_str(),
            ]
        })
        .collect();
    for (name, raw_st) in &raw.storage {
        let st = storages.get_mut(name.get_ref()).expect("resolved");
        if st.kind.is_none() && used.contains(name.get_ref().as_str()) {
            let what = match st.params {
                StorageParams::SingleFile { .. } => "give `path` the extension .ics or .vcf",
                _ => "set `fileext` to \".ics\" or \".vcf\"",
            };
            cx.err(
                name.span(),
                format!(
                    "storage.{}: cannot tell whether it holds calendars or contacts: {what}",
                    name.get_ref()
                ),
            );
        }
        if let (StorageParams::Vdir { fileext, .. }, Some(kind)) = (&mut st.params, st.kind) {
            if fileext.is_empty() && raw_st.get_ref().fileext.is_none() {
                *fileext = match kind {
                    ItemKind::Calendar => ".ics".into(),
                    ItemKind::Contacts => ".vcf".into(),
                };
            }
        }
    }
}

/// Checks what depends on both the pair and its storages: `collections` against storages
/// that have none (http) or need `%s` (singlefile).
fn check_pair_shapes(cx: &mut Ctx, raw: &RawConfig, storages: &BTreeMap<String, StorageConfig>) {
    for (pname, p) in &raw.pair {
        let p = p.get_ref();
        let with_collections = p.collections.is_some();
        for side in [&p.a, &p.b] {
            let st = &storages[side.get_ref()];
            match (&st.params, st.ty) {
                (_, StorageType::Http) if with_collections => cx.err(
                    p.collections.as_ref().map(|c| c.span()).unwrap_or_default(),
                    format!(
                        "pair.{}.collections: storage {:?} is an http feed, which is one collection; omit `collections`",
                        pname.get_ref(),
                        st.name
                    ),
                ),
                (StorageParams::SingleFile { path }, _) => {
                    let has = path.to_string_lossy().contains("%s");
                    if with_collections && !has {
                        cx.err(
                            side.span(),
                            format!(
                                "pair.{}: storage {:?} is used with `collections`, so its path must contain %s (the collection name)",
                                pname.get_ref(),
                                st.name
                            ),
                        );
                    } else if !with_collections && has {
                        cx.err(
                            side.span(),
                            format!(
                                "pair.{}: storage {:?} has %s in its path, which needs `collections` in the pair",
                                pname.get_ref(),
                                st.name
                            ),
                        );
                    }
                }
                _ => {}
            }
        }
    }
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

    #[test]
    fn fingerprint_spellings_normalize_to_lowercase_hex() {
        let hex = "0123456789abcdef".repeat(4);
        let colons = hex
            .as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap().to_ascii_uppercase())
            .collect::<Vec<_>>()
            .join(":");
        for spelling in [
            hex.clone(),
            format!("SHA256:{colons}"),
            format!("sha256:{hex}"),
            colons,
        ] {
            assert_eq!(fingerprint(&spelling).unwrap(), hex, "{spelling}");
        }
    }

    #[test]
    fn sha1_pins_are_refused_in_both_forms() {
        assert!(fingerprint(&"ab".repeat(20)).unwrap_err().contains("SHA-1"));
        assert!(fingerprint(&format!("sha1:{}", "ab".repeat(20)))
            .unwrap_err()
            .contains("SHA-1"));
    }

    /// At the root, so that relative storage paths have an existing parent folder.
    fn parse(text: &str) -> Result<Config, ConfigError> {
        super::super::parse(Path::new("/config.toml"), text.to_owned())
    }

    #[test]
    fn vdir_takes_the_kind_and_fileext_of_its_partner() {
        let c = parse(
            "[storage.l]\ntype = \"vdir\"\npath = \"contacts\"\n\
             [storage.r]\ntype = \"carddav\"\nurl = \"https://x.example/\"\n\
             [pair.p]\na = \"l\"\nb = \"r\"\n",
        )
        .unwrap();
        let l = &c.storages["l"];
        assert_eq!(l.kind, Some(ItemKind::Contacts));
        match &l.params {
            StorageParams::Vdir { path, fileext, .. } => {
                assert_eq!(fileext, ".vcf");
                assert_eq!(path, Path::new("/contacts"));
            }
            other => panic!("{other:?}"),
        }
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
    fn max_connections_and_batch_size_default_and_take_their_values() {
        let text = |extra: &str| {
            format!(
                "[storage.r]\ntype = \"carddav\"\nurl = \"https://x.example/\"\n{extra}\n\
                 [storage.l]\ntype = \"vdir\"\npath = \"/abs\"\n\
                 [pair.p]\na = \"l\"\nb = \"r\"\n"
            )
        };
        let dav = |c: &Config| match &c.storages["r"].params {
            StorageParams::Dav(d) => (d.max_connections, d.batch_size),
            other => panic!("{other:?}"),
        };
        assert_eq!(dav(&parse(&text("")).unwrap()), (4, 100));
        let c = parse(&text("max_connections = 8\nbatch_size = 500")).unwrap();
        assert_eq!(dav(&c), (8, 500));
        for bad in [
            "max_connections = 0",
            "max_connections = 65",
            "batch_size = -1",
        ] {
            let e = parse(&text(bad)).unwrap_err().to_string();
            let k = bad.split(' ').next().unwrap();
            let max = if k == "batch_size" { "10000" } else { "64" };
            assert!(
                e.contains(&format!(
                    "storage.r.{k}: expected a whole number from 1 to {max}"
                )),
                "{e}"
            );
        }
        // Keys of the network storages only.
        let e = parse(
            "[storage.l]\ntype = \"vdir\"\npath = \"/abs\"\nbatch_size = 5\n\
             [storage.m]\ntype = \"vdir\"\npath = \"/b\"\n[pair.p]\na = \"l\"\nb = \"m\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("storage.l.batch_size"), "{e}");
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

    #[test]
    fn strategies_and_collections_resolve_in_order() {
        let c = parse(
            "[storage.a]\ntype = \"vdir\"\npath = \"a\"\nfileext = \".ics\"\n\
             [storage.b]\ntype = \"vdir\"\npath = \"b\"\nfileext = \".ics\"\n\
             [pair.p]\na = \"a\"\nb = \"b\"\n\
             collections = [\"from b\", \"work\", [\"home\", \"h\", \"Home\"]]\n\
             conflict_resolution = [\"newer wins\", { command = [\"meld\"] }, \"keep both\"]\n",
        )
        .unwrap();
        let p = &c.pairs["p"];
        assert_eq!(
            p.collections.as_deref().unwrap(),
            [
                CollectionSpec::FromB,
                CollectionSpec::Named("work".into()),
                CollectionSpec::Mapped {
                    name: "home".into(),
                    a: "h".into(),
                    b: "Home".into()
                }
            ]
        );
        assert_eq!(
            p.conflict_resolution,
            [
                Strategy::NewerWins,
                Strategy::Command(vec!["meld".into()]),
                Strategy::KeepBoth
            ]
        );
    }
}
