//! The local side of `watch`: which folders to watch for a pair's vdir and singlefile
//! storages, which collection a file-system event concerns, and what to do when a watched
//! folder disappears.
//!
//! inotify watches an inode, not a name: a watched folder that is deleted (or replaced by a
//! new one of the same name) goes silent. So every root's identity (device and inode) is
//! checked once a second; a vanished root is reported and its pair's rounds held back (a
//! sync against the empty place would only fail, see the emptied-collection safety), and a
//! root that comes back is watched again and synced.

use std::path::{Component, Path, PathBuf};

use notify::{RecursiveMode, Watcher};

use crate::config::{Config, StorageParams};
use crate::sync::{CollectionSpec, PairSpec, Side};

/// What a root holds, to map an event's path to a collection.
#[derive(Debug, Clone)]
pub enum Shape {
    /// A vdir folder that is itself the pair's one collection.
    VdirCollection,
    /// A vdir folder whose sub-folders are the pair's collections.
    VdirParent,
    /// The folder of a singlefile storage's one file.
    SingleFile { file: PathBuf },
    /// The folder of a singlefile storage's `prefix%ssuffix` collection files.
    SingleFilePattern { prefix: String, suffix: String },
}

/// Which part of a pair an event concerns.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unit {
    /// One collection, by the pair's name for it (`""` for a pair without `collections`).
    Collection(String),
    /// The set of collections itself (a collection folder created or removed).
    Collections,
}

/// Whether a root is being watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootState {
    /// Watched; (device, inode) of the folder.
    Watching(u64, u64),
    /// Missing since the start (a vdir folder the first sync creates, say): not an error.
    Absent,
    /// Deleted while watched: reported, the pair's rounds held back until it is back.
    Deleted,
}

#[derive(Debug)]
pub struct Root {
    pub pair: usize,
    pub side: Side,
    /// The folder watched.
    pub dir: PathBuf,
    pub shape: Shape,
    pub state: RootState,
}

/// The roots of one pair's local storages (none for a pair of two remote storages).
pub fn roots_of(config: &Config, pair_index: usize, pair: &PairSpec) -> Vec<Root> {
    let mut out = Vec::new();
    for (side, handle) in [(Side::A, &pair.a), (Side::B, &pair.b)] {
        let Some(st) = config.storages.get(&handle.name) else {
            continue;
        };
        let (dir, shape) = match &st.params {
            StorageParams::Vdir { path, .. } => (
                path.clone(),
                if pair.collections.is_some() {
                    Shape::VdirParent
                } else {
                    Shape::VdirCollection
                },
            ),
            StorageParams::SingleFile { path } => {
                let dir = match path.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
                    _ => PathBuf::from("."),
                };
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let shape = match name.split_once("%s") {
                    Some((prefix, suffix)) => Shape::SingleFilePattern {
                        prefix: prefix.to_owned(),
                        suffix: suffix.to_owned(),
                    },
                    None => Shape::SingleFile { file: path.clone() },
                };
                (dir, shape)
            }
            StorageParams::Dav(_) => continue,
        };
        out.push(Root {
            pair: pair_index,
            side,
            dir,
            shape,
            state: RootState::Absent,
        });
    }
    out
}

/// The pair's name of a collection that the given side calls `side_name`.
pub fn pair_collection_name(pair: &PairSpec, side: Side, side_name: &str) -> String {
    for spec in pair.collections.iter().flatten() {
        if let CollectionSpec::Mapped { name, a, b } = spec {
            let on_side = if side == Side::A { a } else { b };
            if on_side == side_name {
                return name.clone();
            }
        }
    }
    side_name.to_owned()
}

impl Root {
    /// The part of the pair that a change at `path` concerns, `None` when it concerns none
    /// (hidden files such as davsync's own temporary files, unrelated files).
    pub fn unit_for(&self, pair: &PairSpec, path: &Path) -> Option<Unit> {
        let rel = path.strip_prefix(&self.dir).ok()?;
        let parts: Vec<String> = rel
            .components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        if parts.iter().any(|p| p.starts_with('.')) {
            return None;
        }
        match &self.shape {
            Shape::VdirCollection => match parts.len() {
                // The folder itself (deleted, attributes changed) or a file in it.
                0 | 1 => Some(Unit::Collection(String::new())),
                _ => None,
            },
            Shape::VdirParent => match parts.len() {
                0 | 1 => Some(Unit::Collections),
                _ => Some(Unit::Collection(pair_collection_name(
                    pair, self.side, &parts[0],
                ))),
            },
            Shape::SingleFile { file } => {
                (path == file.as_path()).then(|| Unit::Collection(String::new()))
            }
            Shape::SingleFilePattern { prefix, suffix } => {
                let [name] = parts.as_slice() else {
                    return None;
                };
                let middle = name.strip_prefix(prefix.as_str())?;
                let middle = middle.strip_suffix(suffix.as_str())?;
                (!middle.is_empty())
                    .then(|| Unit::Collection(pair_collection_name(pair, self.side, middle)))
            }
        }
    }

    fn mode(&self) -> RecursiveMode {
        match self.shape {
            Shape::VdirParent => RecursiveMode::Recursive,
            _ => RecursiveMode::NonRecursive,
        }
    }

    /// The identity of the folder now, `None` when it is not there.
    fn identity(&self) -> Option<(u64, u64)> {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(&self.dir)
            .ok()
            .filter(|m| m.is_dir())
            .map(|m| (m.dev(), m.ino()))
    }
}

/// What [`refresh`] found about one root.
#[derive(Debug, PartialEq, Eq)]
pub enum RootChange {
    /// Watched as before, or still missing.
    Same,
    /// Deleted (or replaced): reported; the pair waits for it.
    Lost,
    /// There again, or there for the first time, and watched now: sync it.
    Back,
    /// There, but the watch could not be set up; retried at the next refresh.
    Failed,
}

/// Brings a root's watch in line with the folder on disk.
pub fn refresh(root: &mut Root, watcher: &mut dyn Watcher) -> RootChange {
    let now = root.identity();
    match (root.state, now) {
        (RootState::Watching(d, i), Some(id)) if (d, i) == id => RootChange::Same,
        (RootState::Watching(..), found) => {
            let _ = watcher.unwatch(&root.dir);
            root.state = RootState::Deleted;
            match found {
                // Replaced by a new folder of the same name: watch the new one at once.
                Some(_) => {
                    tracing::warn!(
                        "watched folder {} was replaced; watching the new one",
                        root.dir.display()
                    );
                    watch(root, watcher)
                }
                None => {
                    tracing::error!(
                        "watched folder {} was deleted; its pair is not synced until it is \
                         back (davsync keeps watching for it)",
                        root.dir.display()
                    );
                    RootChange::Lost
                }
            }
        }
        (RootState::Absent | RootState::Deleted, None) => RootChange::Same,
        (RootState::Absent | RootState::Deleted, Some(_)) => {
            if root.state == RootState::Deleted {
                tracing::warn!("watched folder {} is back", root.dir.display());
            }
            watch(root, watcher)
        }
    }
}

fn watch(root: &mut Root, watcher: &mut dyn Watcher) -> RootChange {
    match watcher.watch(&root.dir, root.mode()) {
        Ok(()) => match root.identity() {
            Some((d, i)) => {
                tracing::debug!("watching {}", root.dir.display());
                root.state = RootState::Watching(d, i);
                RootChange::Back
            }
            None => {
                let _ = watcher.unwatch(&root.dir);
                RootChange::Same
            }
        },
        Err(e) => {
            tracing::warn!("cannot watch {}: {e}", root.dir.display());
            RootChange::Failed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(collections: Option<Vec<CollectionSpec>>) -> PairSpec {
        let storage = std::sync::Arc::new(davsync_storages::memory::MemoryStorage::new(
            davsync_storages::ItemKind::Calendar,
        ));
        let handle = |name: &str| crate::sync::StorageHandle {
            name: name.to_owned(),
            storage: storage.clone(),
        };
        PairSpec {
            name: "p".into(),
            a: handle("a"),
            b: handle("b"),
            collections,
            conflict_resolution: Vec::new(),
            partial_sync: Default::default(),
            metadata: Vec::new(),
        }
    }

    fn root(dir: &str, shape: Shape, side: Side) -> Root {
        Root {
            pair: 0,
            side,
            dir: PathBuf::from(dir),
            shape,
            state: RootState::Absent,
        }
    }

    #[test]
    fn files_of_a_collection_folder_map_to_the_pair_collection() {
        let p = pair(None);
        let r = root("/v/cal", Shape::VdirCollection, Side::A);
        let unit = |s: &str| r.unit_for(&p, Path::new(s));
        assert_eq!(unit("/v/cal/x.ics"), Some(Unit::Collection(String::new())));
        assert_eq!(unit("/v/cal"), Some(Unit::Collection(String::new())));
        assert_eq!(unit("/v/cal/.davsync-1.tmp"), None, "own temporary files");
        assert_eq!(unit("/v/other/x.ics"), None);
    }

    #[test]
    fn sub_folders_of_a_parent_map_to_collections_by_the_pair_name() {
        let p = pair(Some(vec![
            CollectionSpec::FromA,
            CollectionSpec::Mapped {
                name: "work".into(),
                a: "job".into(),
                b: "work-b".into(),
            },
        ]));
        let a = root("/v", Shape::VdirParent, Side::A);
        let b = root("/w", Shape::VdirParent, Side::B);
        assert_eq!(
            a.unit_for(&p, Path::new("/v/home/x.ics")),
            Some(Unit::Collection("home".into()))
        );
        assert_eq!(
            a.unit_for(&p, Path::new("/v/job/x.ics")),
            Some(Unit::Collection("work".into()))
        );
        assert_eq!(
            b.unit_for(&p, Path::new("/w/work-b/x.ics")),
            Some(Unit::Collection("work".into()))
        );
        assert_eq!(a.unit_for(&p, Path::new("/v/new")), Some(Unit::Collections));
        assert_eq!(a.unit_for(&p, Path::new("/v/home/.x.swp")), None);
    }

    #[test]
    fn singlefile_events_concern_only_the_file_or_pattern() {
        let p = pair(Some(vec![CollectionSpec::FromA]));
        let one = root(
            "/s",
            Shape::SingleFile {
                file: PathBuf::from("/s/cal.ics"),
            },
            Side::A,
        );
        assert_eq!(
            one.unit_for(&p, Path::new("/s/cal.ics")),
            Some(Unit::Collection(String::new()))
        );
        assert_eq!(one.unit_for(&p, Path::new("/s/other.ics")), None);
        let many = root(
            "/s",
            Shape::SingleFilePattern {
                prefix: "cal-".into(),
                suffix: ".ics".into(),
            },
            Side::A,
        );
        assert_eq!(
            many.unit_for(&p, Path::new("/s/cal-home.ics")),
            Some(Unit::Collection("home".into()))
        );
        assert_eq!(many.unit_for(&p, Path::new("/s/cal-.ics")), None);
        assert_eq!(many.unit_for(&p, Path::new("/s/notes.txt")), None);
    }
}
