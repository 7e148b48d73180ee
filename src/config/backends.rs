//! Builds the storages a command uses into engine handles: resolves their passwords, then
//! constructs the backend, wrapped in `ReadOnly` (read_only, http) and, for `--dry-run`, in
//! `DryRun`.

use std::sync::Arc;

use davsync_storages::singlefile::{SingleFile, SingleFileOptions};
use davsync_storages::vdir::{Vdir, VdirOptions};
use davsync_storages::wrappers::{DryRun, ReadOnly};
use davsync_storages::{ItemKind, Storage};

use super::resolve::{Config, PairConfig, StorageConfig, StorageParams};
use super::{ConfigError, Problem};
use crate::sync::{PairSpec, StorageHandle};

/// Builds both storages of a pair into a [`PairSpec`]. Password sources run here, so only
/// for the pairs the command acts on.
///
/// Not wrapped in `DryRun`: the engine wraps the storages itself for
/// `SyncOptions::dry_run`.
pub fn pair_spec(config: &Config, pair: &PairConfig) -> Result<PairSpec, ConfigError> {
    let a = handle(config, &config.storages[&pair.a], false)?;
    let b = handle(config, &config.storages[&pair.b], false)?;
    Ok(PairSpec {
        name: pair.name.clone(),
        a,
        b,
        collections: pair.collections.clone(),
        conflict_resolution: pair.conflict_resolution.clone(),
        partial_sync: pair.partial_sync,
        metadata: pair.metadata.clone(),
    })
}

/// Builds one storage into an engine handle.
pub fn handle(
    config: &Config,
    st: &StorageConfig,
    dry_run: bool,
) -> Result<StorageHandle, ConfigError> {
    let password = password(config, st)?;
    let kind = st.kind.ok_or_else(|| {
        ConfigError::single(format!(
            "storage {:?}: cannot tell whether it holds calendars or contacts: set `fileext` to \".ics\" or \".vcf\" ({})",
            st.name,
            config.source.path.display()
        ))
    })?;
    let storage = construct(st, kind, password)
        .map_err(|msg| ConfigError::single(format!("storage {:?}: {msg}", st.name)))?;
    let storage = if st.is_read_only() {
        read_only(storage)
    } else {
        storage
    };
    let storage = if dry_run {
        dry_run_wrap(storage)
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
pub fn password(config: &Config, st: &StorageConfig) -> Result<Option<String>, ConfigError> {
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

fn construct(
    st: &StorageConfig,
    kind: ItemKind,
    password: Option<String>,
) -> Result<Arc<dyn Storage>, String> {
    let _ = password;
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
        StorageParams::Dav(_) => Err(format!(
            "the {} backend is not available in this build yet",
            st.ty.as_str()
        )),
    }
}

fn read_only(s: Arc<dyn Storage>) -> Arc<dyn Storage> {
    Arc::new(ReadOnly::new(s))
}

fn dry_run_wrap(s: Arc<dyn Storage>) -> Arc<dyn Storage> {
    Arc::new(DryRun::new(s))
}
