//! Builds the storages a command uses into engine handles: resolves their passwords, then
//! constructs the backend, wrapped in `ReadOnly` (read_only, http). Not wrapped in `DryRun`:
//! the engine does that itself for `SyncOptions::dry_run`, and repair has its own dry run.

use std::collections::HashMap;
use std::sync::Arc;

use davsync_storages::dav::{DavOptions, DavStorage, SharedListings};
use davsync_storages::http::{HttpOptions, HttpStorage};
use davsync_storages::net::{AuthMode, PasswordRefresh, Secret, TransportOptions, Verify};
use davsync_storages::remember::Remember;
use davsync_storages::singlefile::{SingleFile, SingleFileOptions};
use davsync_storages::vdir::{Vdir, VdirOptions};
use davsync_storages::wrappers::ReadOnly;
use davsync_storages::{ItemKind, Storage};

use super::password::PasswordSource;
use super::resolve::{
    AuthChoice, Config, DavParams, PairConfig, StorageConfig, StorageParams, StorageType,
    VerifyChoice,
};
use super::{ConfigError, Problem};
use crate::remember::FileRemember;
use crate::sync::{PairSpec, StorageHandle};

/// What the server storages of one command share: where they remember what they learned
/// about their servers (in the status folder), and the home-set listings of this run.
#[derive(Clone)]
pub struct Shared {
    remember: Arc<dyn Remember>,
    listings: Arc<SharedListings>,
}

impl Shared {
    pub fn new(config: &Config) -> Self {
        Self::with(FileRemember::new(&config.status_path))
    }

    fn with(remember: FileRemember) -> Self {
        Shared {
            remember: Arc::new(remember),
            listings: Arc::new(SharedListings::new()),
        }
    }
}

/// Builds the storages of the pairs a command acts on, each once: a storage shared by two
/// pairs gets one client (one connection pool, one auth state) and its password command
/// runs once.
pub struct Builder<'c> {
    config: &'c Config,
    built: HashMap<String, StorageHandle>,
    shared: Shared,
}

impl<'c> Builder<'c> {
    pub fn new(config: &'c Config) -> Self {
        Builder {
            config,
            built: HashMap::new(),
            shared: Shared::new(config),
        }
    }

    /// For dry runs: what earlier syncs remembered is used, and nothing is written.
    pub fn dry_run(config: &'c Config) -> Self {
        Builder {
            shared: Shared::with(FileRemember::new(&config.status_path).read_only()),
            ..Builder::new(config)
        }
    }

    /// For `discover`: the storages find their collections out again instead of trusting
    /// what they remembered, and remember the new answers.
    pub fn rediscovering(config: &'c Config) -> Self {
        Builder {
            shared: Shared::with(FileRemember::new(&config.status_path).rediscovering()),
            ..Builder::new(config)
        }
    }

    /// Builds both storages of a pair into a [`PairSpec`]. Password sources run here, so
    /// only for the pairs the command acts on.
    pub fn pair_spec(&mut self, pair: &PairConfig) -> Result<PairSpec, ConfigError> {
        let a = self.storage(&pair.a)?;
        let b = self.storage(&pair.b)?;
        Ok(pair_spec_from(pair, a, b))
    }

    fn storage(&mut self, name: &str) -> Result<StorageHandle, ConfigError> {
        if let Some(h) = self.built.get(name) {
            return Ok(h.clone());
        }
        let h = handle_with(self.config, &self.config.storages[name], &self.shared)?;
        self.built.insert(name.to_owned(), h.clone());
        Ok(h)
    }
}

fn pair_spec_from(pair: &PairConfig, a: StorageHandle, b: StorageHandle) -> PairSpec {
    PairSpec {
        name: pair.name.clone(),
        a,
        b,
        collections: pair.collections.clone(),
        conflict_resolution: pair.conflict_resolution.clone(),
        partial_sync: pair.partial_sync,
        metadata: pair.metadata.clone(),
    }
}

/// Builds one storage into an engine handle.
pub fn handle(config: &Config, st: &StorageConfig) -> Result<StorageHandle, ConfigError> {
    handle_with(config, st, &Shared::new(config))
}

fn handle_with(
    config: &Config,
    st: &StorageConfig,
    shared: &Shared,
) -> Result<StorageHandle, ConfigError> {
    let password = password(config, st)?;
    let kind = st.kind.ok_or_else(|| {
        ConfigError::single(format!(
            "storage {:?}: cannot tell whether it holds calendars or contacts: set `fileext` to \".ics\" or \".vcf\" ({})",
            st.name,
            config.source.path.display()
        ))
    })?;
    let storage = construct(st, kind, password, shared)
        .map_err(|msg| ConfigError::single(format!("storage {:?}: {msg}", st.name)))?;
    let storage = if st.is_read_only() {
        read_only(storage)
    } else {
        storage
    };
    Ok(StorageHandle {
        name: st.name.clone(),
        storage,
    })
}

/// Fetches the storage's password (network storages only), naming the config value on
/// failure.
pub fn password(config: &Config, st: &StorageConfig) -> Result<Option<Secret>, ConfigError> {
    let StorageParams::Dav(dav) = &st.params else {
        return Ok(None);
    };
    let Some((src, span)) = &dav.password else {
        return Ok(None);
    };
    match src.fetch() {
        Ok(p) => Ok(Some(p)),
        Err(msg) => {
            let problem: Problem = config
                .source
                .problem(span.clone(), format!("storage.{}.{msg}", st.name));
            Err(ConfigError {
                problems: vec![problem],
            })
        }
    }
}

/// Fetches a bearer token again (the server refused it: expired) from the same source.
struct Refetch(PasswordSource);

impl PasswordRefresh for Refetch {
    fn refresh(&self) -> Result<Secret, String> {
        self.0.fetch()
    }
}

fn construct(
    st: &StorageConfig,
    kind: ItemKind,
    password: Option<Secret>,
    shared: &Shared,
) -> Result<Arc<dyn Storage>, String> {
    match &st.params {
        StorageParams::Vdir {
            path,
            fileext,
            post_hook,
        } => Vdir::new(VdirOptions {
            path: path.clone(),
            fileext: fileext.clone(),
            post_hook: post_hook.clone(),
            kind,
        })
        .map(|v| Arc::new(v) as Arc<dyn Storage>)
        .map_err(|e| crate::commands::chain(&e)),
        StorageParams::SingleFile { path } => {
            let path = path
                .to_str()
                .ok_or_else(|| format!("path {}: not valid UTF-8", path.display()))?;
            SingleFile::new(SingleFileOptions {
                path: path.to_owned(),
                kind,
            })
            .map(|s| Arc::new(s) as Arc<dyn Storage>)
            .map_err(|e| crate::commands::chain(&e))
        }
        StorageParams::Dav(_) if st.ty != StorageType::Http => {
            let opts = dav_options_with(st, kind, password, Some(shared))?;
            DavStorage::new(opts)
                .map(|s| Arc::new(s) as Arc<dyn Storage>)
                .map_err(|e| crate::commands::chain(&e))
        }
        StorageParams::Dav(dav) => {
            let transport = transport_options(dav, password, Some(shared))?;
            HttpStorage::new(HttpOptions { transport })
                .map(|s| Arc::new(s) as Arc<dyn Storage>)
                .map_err(|e| crate::commands::chain(&e))
        }
    }
}

/// The options of a `caldav`/`carddav` storage (`check --online` builds the storage itself
/// to ask it what the server supports; it neither uses nor updates what syncs remembered).
pub fn dav_options(
    st: &StorageConfig,
    kind: ItemKind,
    password: Option<Secret>,
) -> Result<DavOptions, String> {
    dav_options_with(st, kind, password, None)
}

fn dav_options_with(
    st: &StorageConfig,
    kind: ItemKind,
    password: Option<Secret>,
    shared: Option<&Shared>,
) -> Result<DavOptions, String> {
    let StorageParams::Dav(dav) = &st.params else {
        return Err("not a CalDAV/CardDAV storage".to_owned());
    };
    let transport = transport_options(dav, password, shared)?;
    let mut opts = DavOptions::new(transport, kind);
    opts.start = dav.start_date;
    opts.end = dav.end_date;
    opts.item_types = dav.item_types.clone().unwrap_or_default();
    opts.multiget_batch = dav.batch_size;
    opts.listings = shared.map(|s| s.listings.clone());
    Ok(opts)
}

/// How a network storage connects and authenticates. With `shared`, what earlier runs
/// remembered (auth scheme, discovery) is used and kept.
fn transport_options(
    dav: &DavParams,
    password: Option<Secret>,
    shared: Option<&Shared>,
) -> Result<TransportOptions, String> {
    let url = url::Url::parse(&dav.url).map_err(|e| format!("url {:?}: {e}", dav.url))?;
    let mut transport = TransportOptions::new(url);
    transport.username = dav.username.clone();
    transport.password = password;
    transport.auth = match dav.auth {
        AuthChoice::Basic => AuthMode::Basic,
        AuthChoice::Digest => AuthMode::Digest,
        AuthChoice::Bearer => AuthMode::Bearer,
        AuthChoice::Guess => AuthMode::Guess,
    };
    transport.verify = match &dav.verify {
        VerifyChoice::Yes => Verify::Yes,
        VerifyChoice::No => Verify::No,
        VerifyChoice::CaBundle(p) => Verify::CaBundle(p.clone()),
    };
    transport.verify_fingerprint = dav.verify_fingerprint.clone();
    transport.client_cert = dav.client_cert.clone();
    transport.timeout = dav.timeout;
    transport.max_connections = dav.max_connections;
    transport.remember = shared.map(|s| s.remember.clone());
    if let (AuthMode::Bearer, Some((src, _))) = (transport.auth, &dav.password) {
        if !matches!(src, PasswordSource::Literal(_)) {
            transport.refresh_password = Some(Arc::new(Refetch(src.clone())));
        }
    }
    Ok(transport)
}

fn read_only(s: Arc<dyn Storage>) -> Arc<dyn Storage> {
    Arc::new(ReadOnly::new(s))
}
