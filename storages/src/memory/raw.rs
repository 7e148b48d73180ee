//! The test's own door into a [`MemoryStorage`], beside the [`Storage`](crate::storage::Storage)
//! contract: planting and changing bytes as "someone else" would (not counted as writes),
//! looking at what is stored, and counting what the engine asked for.

use std::sync::atomic::Ordering;

use super::{name_of, MemCollection, MemoryStorage};
use crate::storage::{Etag, Href, MetaKey};

impl MemoryStorage {
    /// Stores bytes under `href` in the collection `coll_href` (created if missing) without
    /// parsing them and without counting a write: test setup, or "someone else edited it".
    /// Returns the new etag.
    pub fn insert_raw(&self, coll_href: &str, href: &str, raw: impl Into<Vec<u8>>) -> Etag {
        let (n, etag) = self.next_etag();
        let mut state = self.state.lock().unwrap();
        let coll = state
            .entry(coll_href.to_owned())
            .or_insert_with(|| MemCollection {
                name: name_of(coll_href),
                ..Default::default()
            });
        let href = Href(href.to_owned());
        coll.items.insert(href.clone(), (raw.into(), etag.clone()));
        coll.log.push((n, href, false));
        etag
    }

    /// Removes an item without counting a write (an edit made outside the sync).
    pub fn remove_raw(&self, coll_href: &str, href: &str) -> bool {
        let (n, _) = self.next_etag();
        let mut state = self.state.lock().unwrap();
        let Some(coll) = state.get_mut(coll_href) else {
            return false;
        };
        let href = Href(href.to_owned());
        let found = coll.items.remove(&href).is_some();
        if found {
            coll.log.push((n, href, true));
        }
        found
    }

    /// Removes a whole collection without counting a write (it vanished on the server).
    pub fn remove_collection_raw(&self, coll_href: &str) -> bool {
        self.state.lock().unwrap().remove(coll_href).is_some()
    }

    /// Gives every item of the collection a fresh etag, content unchanged (a server that
    /// rewrote its etags).
    pub fn touch_all(&self, coll_href: &str) {
        let hrefs: Vec<Href> = self
            .state
            .lock()
            .unwrap()
            .get(coll_href)
            .map(|c| c.items.keys().cloned().collect())
            .unwrap_or_default();
        for h in hrefs {
            let (n, etag) = self.next_etag();
            let mut state = self.state.lock().unwrap();
            let coll = state.get_mut(coll_href).expect("collection");
            if let Some(e) = coll.items.get_mut(&h) {
                e.1 = etag;
                coll.log.push((n, h, false));
            }
        }
    }

    /// Moves an item to another href, keeping its bytes (with a fresh etag).
    pub fn move_raw(&self, coll_href: &str, from: &str, to: &str) -> bool {
        let raw = {
            let state = self.state.lock().unwrap();
            match state
                .get(coll_href)
                .and_then(|c| c.items.get(&Href::from(from)))
            {
                Some((raw, _)) => raw.clone(),
                None => return false,
            }
        };
        self.remove_raw(coll_href, from);
        self.insert_raw(coll_href, to, raw);
        true
    }

    /// The items of a collection: href, etag and bytes, sorted by href.
    pub fn items(&self, coll_href: &str) -> Vec<(Href, Etag, Vec<u8>)> {
        self.state
            .lock()
            .unwrap()
            .get(coll_href)
            .map(|c| {
                c.items
                    .iter()
                    .map(|(h, (raw, e))| (h.clone(), e.clone(), raw.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The hrefs of all collections, root included.
    pub fn collection_hrefs(&self) -> Vec<String> {
        self.state.lock().unwrap().keys().cloned().collect()
    }

    /// Sets a metadata value without counting a write.
    pub fn set_meta_raw(&self, coll_href: &str, key: MetaKey, value: Option<&str>) {
        let mut state = self.state.lock().unwrap();
        if let Some(c) = state.get_mut(coll_href) {
            match value {
                Some(v) => {
                    c.meta.insert(key, v.to_owned());
                }
                None => {
                    c.meta.remove(&key);
                }
            }
        }
    }

    /// Every write call so far (upload, update, delete, create/delete collection, set_meta),
    /// successful or not.
    pub fn write_count(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }

    /// Every item read so far (each href asked of `get_many` counts once).
    pub fn read_count(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }

    /// Every `list` call so far (`changes` calls are not counted).
    pub fn list_count(&self) -> usize {
        self.lists.load(Ordering::SeqCst)
    }
}
