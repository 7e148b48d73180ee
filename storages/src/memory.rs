//! An in-memory storage: the reference implementation of the [`Storage`] contract, and the
//! backend the engine's tests run against.
//!
//! It holds bytes, not parsed items, so a test can plant a malformed item
//! ([`MemoryStorage::insert_raw`]) and see how the engine copes. Etags are a global counter, so
//! every write yields a fresh etag, exactly as a server would.
//!
//! The test hooks (failure injection, write counting, hanging after a write) exist because
//! the engine's promises are about what it does *not* do: "no write at all", "a read-only side
//! is never written", "an interrupted sync converges". Counting and failing at the storage
//! boundary is the only honest way to check them.
//!
//! The storage and its [`Storage`] methods are here; the test's direct access to the stored
//! bytes and the counters are in `raw`, the failure hooks in `faults`.

// Test support only (behind the `testing` feature): a poisoned lock here is a test that
// already failed, so unwrapping it is the clearest report.
#![allow(clippy::unwrap_used)]

mod faults;
mod raw;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::error::{Error, ErrorKind, Result};
use crate::item::{Item, ItemKind};
use crate::storage::{
    Changes, Collection, CollectionToken, Etag, Fetched, Href, ItemRef, MetaKey, Storage,
};
use faults::Hooks;

/// The href of the collection [`Storage::root_collection`] returns.
pub const ROOT_HREF: &str = "mem:/";

#[derive(Debug, Default, Clone)]
struct MemCollection {
    name: String,
    items: BTreeMap<Href, (Vec<u8>, Etag)>,
    meta: BTreeMap<MetaKey, String>,
    /// (version, href, deleted) of every change, for [`Storage::changes`].
    log: Vec<(u64, Href, bool)>,
}

/// A storage that lives in memory. Cheap to create; clone the `Arc` to share.
#[derive(Debug)]
pub struct MemoryStorage {
    kind: ItemKind,
    read_only: std::sync::atomic::AtomicBool,
    supports_changes: std::sync::atomic::AtomicBool,
    whole_reads: std::sync::atomic::AtomicBool,
    state: Mutex<BTreeMap<String, MemCollection>>,
    hooks: Mutex<Hooks>,
    counter: AtomicU64,
    writes: AtomicUsize,
    reads: AtomicUsize,
    lists: AtomicUsize,
}

impl MemoryStorage {
    /// An empty storage whose root collection ([`ROOT_HREF`]) exists.
    pub fn new(kind: ItemKind) -> MemoryStorage {
        let mut state = BTreeMap::new();
        state.insert(ROOT_HREF.to_owned(), MemCollection::default());
        MemoryStorage {
            kind,
            read_only: false.into(),
            supports_changes: false.into(),
            whole_reads: false.into(),
            state: Mutex::new(state),
            hooks: Mutex::new(Hooks::default()),
            counter: AtomicU64::new(0),
            writes: AtomicUsize::new(0),
            reads: AtomicUsize::new(0),
            lists: AtomicUsize::new(0),
        }
    }

    /// Makes [`Storage::read_only`] answer `true`. Writes are still counted (and refused with
    /// [`ErrorKind::ReadOnly`]), so a test can assert that none was even attempted.
    pub fn set_read_only(&self, ro: bool) {
        self.read_only.store(ro, Ordering::SeqCst);
    }

    /// Enables [`Storage::get_all`] (off by default, like local backends): the engine then
    /// reads a fresh collection whole, as from a server.
    pub fn set_whole_reads(&self, on: bool) {
        self.whole_reads.store(on, Ordering::SeqCst);
    }

    /// Enables [`Storage::changes`] (off by default, like most backends).
    pub fn set_supports_changes(&self, on: bool) {
        self.supports_changes.store(on, Ordering::SeqCst);
    }

    fn next_etag(&self) -> (u64, Etag) {
        let n = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        (n, Etag(format!("\"e{n}\"")))
    }

    fn root() -> Collection {
        Collection {
            href: ROOT_HREF.to_owned(),
            name: String::new(),
        }
    }

    fn with_coll<T>(
        &self,
        coll: &Collection,
        f: impl FnOnce(&mut MemCollection) -> Result<T>,
    ) -> Result<T> {
        let mut state = self.state.lock().unwrap();
        match state.get_mut(&coll.href) {
            Some(c) => f(c),
            None => Err(Error::new(ErrorKind::NotFound, coll.href.clone())),
        }
    }
}

fn name_of(coll_href: &str) -> String {
    coll_href
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The href an item with this UID gets: its UID (or content hash) with `.item` appended,
/// slashes replaced so it stays a single path segment.
fn href_for(uid: &str) -> Href {
    Href(format!("{}.item", uid.replace('/', "_")))
}

#[async_trait]
impl Storage for MemoryStorage {
    fn item_kind(&self) -> ItemKind {
        self.kind
    }

    fn read_only(&self) -> bool {
        self.read_only.load(Ordering::SeqCst)
    }

    async fn root_collection(&self) -> Result<Collection> {
        Ok(Self::root())
    }

    async fn discover(&self) -> Result<Vec<Collection>> {
        Ok(self
            .state
            .lock()
            .unwrap()
            .iter()
            .filter(|(href, _)| href.as_str() != ROOT_HREF)
            .map(|(href, c)| Collection {
                href: href.clone(),
                name: c.name.clone(),
            })
            .collect())
    }

    async fn create_collection(&self, name: &str) -> Result<Collection> {
        let href = format!("{ROOT_HREF}{name}/");
        let coll = Collection {
            href: href.clone(),
            name: name.to_owned(),
        };
        self.before_write(&coll, None)?;
        {
            let mut state = self.state.lock().unwrap();
            if state.contains_key(&href) {
                return Err(Error::new(ErrorKind::AlreadyExists, href));
            }
            state.insert(
                href,
                MemCollection {
                    name: name.to_owned(),
                    ..Default::default()
                },
            );
        }
        self.after_write().await;
        Ok(coll)
    }

    async fn delete_collection(&self, collection: &Collection) -> Result<()> {
        self.before_write(collection, None)?;
        if self
            .state
            .lock()
            .unwrap()
            .remove(&collection.href)
            .is_none()
        {
            return Err(Error::new(ErrorKind::NotFound, collection.href.clone()));
        }
        self.after_write().await;
        Ok(())
    }

    async fn list(&self, collection: &Collection) -> Result<Vec<ItemRef>> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        {
            let mut h = self.hooks.lock().unwrap();
            if h.fail_lists > 0 {
                h.fail_lists -= 1;
                return Err(Error::new(
                    ErrorKind::Transport,
                    format!("injected failure listing {}", collection.href),
                ));
            }
        }
        self.with_coll(collection, |c| {
            Ok(c.items
                .iter()
                .map(|(href, (_, etag))| ItemRef {
                    href: href.clone(),
                    etag: etag.clone(),
                })
                .collect())
        })
    }

    async fn get_many(&self, collection: &Collection, hrefs: &[Href]) -> Result<Vec<Fetched>> {
        self.reads.fetch_add(hrefs.len(), Ordering::SeqCst);
        let failing = self.hooks.lock().unwrap().fail_reads.clone();
        let raw: Vec<(Href, Option<(Vec<u8>, Etag)>)> = self.with_coll(collection, |c| {
            Ok(hrefs
                .iter()
                .map(|h| (h.clone(), c.items.get(h).cloned()))
                .collect())
        })?;
        Ok(raw
            .into_iter()
            .map(|(href, found)| {
                let res =
                    if failing.contains(&href) {
                        Err(Error::new(
                            ErrorKind::Transport,
                            format!("injected failure reading {href}"),
                        ))
                    } else {
                        match found {
                            None => Err(Error::new(ErrorKind::NotFound, href.to_string())),
                            Some((bytes, etag)) => match Item::parse(self.kind, bytes) {
                                Ok(item) => Ok((item, etag)),
                                Err(e) => Err(Error::new(ErrorKind::InvalidData, href.to_string())
                                    .with_source(e)),
                            },
                        }
                    };
                (href, res)
            })
            .collect())
    }

    async fn upload(&self, collection: &Collection, item: &Item) -> Result<(Href, Etag)> {
        let href = href_for(item.ident());
        self.before_write(collection, Some(&href))?;
        let (n, etag) = self.next_etag();
        self.with_coll(collection, |c| {
            if c.items.contains_key(&href) {
                return Err(Error::new(ErrorKind::AlreadyExists, href.to_string()));
            }
            c.items
                .insert(href.clone(), (item.raw().to_vec(), etag.clone()));
            c.log.push((n, href.clone(), false));
            Ok(())
        })?;
        self.after_write().await;
        Ok((href, etag))
    }

    async fn update(
        &self,
        collection: &Collection,
        href: &Href,
        item: &Item,
        etag: &Etag,
    ) -> Result<Etag> {
        self.before_write(collection, Some(href))?;
        let (n, new) = self.next_etag();
        self.with_coll(collection, |c| match c.items.get_mut(href) {
            None => Err(Error::new(ErrorKind::NotFound, href.to_string())),
            Some((_, cur)) if cur != etag => {
                Err(Error::new(ErrorKind::PreconditionFailed, href.to_string()))
            }
            Some(entry) => {
                *entry = (item.raw().to_vec(), new.clone());
                c.log.push((n, href.clone(), false));
                Ok(())
            }
        })?;
        self.after_write().await;
        Ok(new)
    }

    async fn delete(&self, collection: &Collection, href: &Href, etag: &Etag) -> Result<()> {
        self.before_write(collection, Some(href))?;
        let (n, _) = self.next_etag();
        self.with_coll(collection, |c| match c.items.get(href) {
            None => Err(Error::new(ErrorKind::NotFound, href.to_string())),
            Some((_, cur)) if cur != etag => {
                Err(Error::new(ErrorKind::PreconditionFailed, href.to_string()))
            }
            Some(_) => {
                c.items.remove(href);
                c.log.push((n, href.clone(), true));
                Ok(())
            }
        })?;
        self.after_write().await;
        Ok(())
    }

    fn preferred_href(&self, uid: &str) -> Option<Href> {
        Some(href_for(uid))
    }

    /// Tokens are the value of the etag counter: everything logged after it is a change.
    async fn get_all(&self, collection: &Collection) -> Result<Option<Vec<Fetched>>> {
        if !self.whole_reads.load(Ordering::SeqCst) {
            return Ok(None);
        }
        let hrefs: Vec<Href> =
            self.with_coll(collection, |c| Ok(c.items.keys().cloned().collect()))?;
        self.lists.fetch_add(1, Ordering::SeqCst);
        self.get_many(collection, &hrefs).await.map(Some)
    }

    async fn flush(&self) -> Result<()> {
        let mut h = self.hooks.lock().unwrap();
        if h.fail_flushes > 0 {
            h.fail_flushes -= 1;
            return Err(Error::new(ErrorKind::Io, "injected flush failure"));
        }
        if h.durable.is_some() {
            h.durable = Some(self.state.lock().unwrap().clone());
        }
        Ok(())
    }

    async fn changes(
        &self,
        collection: &Collection,
        since: Option<&CollectionToken>,
    ) -> Result<Option<Changes>> {
        if !self.supports_changes.load(Ordering::SeqCst) {
            return Ok(None);
        }
        {
            let mut h = self.hooks.lock().unwrap();
            if h.fail_lists > 0 {
                h.fail_lists -= 1;
                return Err(Error::new(
                    ErrorKind::Transport,
                    format!("injected failure listing {}", collection.href),
                ));
            }
        }
        let now = self.counter.load(Ordering::SeqCst);
        let since: Option<u64> = match since {
            Some(CollectionToken::Sync(t)) => t.as_str().parse().ok(),
            _ => None,
        };
        self.with_coll(collection, |c| {
            let token = Some(CollectionToken::sync(now.to_string()));
            let Some(since) = since else {
                return Ok(Some(Changes {
                    token,
                    changed: c
                        .items
                        .iter()
                        .map(|(href, (_, etag))| ItemRef {
                            href: href.clone(),
                            etag: etag.clone(),
                        })
                        .collect(),
                    deleted: Vec::new(),
                    complete: true,
                }));
            };
            let mut touched: BTreeMap<&Href, bool> = BTreeMap::new();
            for (v, href, _) in &c.log {
                if *v > since && *v <= now {
                    touched.insert(href, true);
                }
            }
            let mut changes = Changes {
                token,
                ..Default::default()
            };
            for href in touched.keys() {
                match c.items.get(*href) {
                    Some((_, etag)) => changes.changed.push(ItemRef {
                        href: (*href).clone(),
                        etag: etag.clone(),
                    }),
                    None => changes.deleted.push((*href).clone()),
                }
            }
            Ok(Some(changes))
        })
    }

    async fn get_meta(&self, collection: &Collection, key: MetaKey) -> Result<Option<String>> {
        self.with_coll(collection, |c| Ok(c.meta.get(&key).cloned()))
    }

    async fn set_meta(
        &self,
        collection: &Collection,
        key: MetaKey,
        value: Option<&str>,
    ) -> Result<()> {
        self.before_write(collection, None)?;
        self.with_coll(collection, |c| {
            match value {
                Some(v) => c.meta.insert(key, v.to_owned()),
                None => c.meta.remove(&key),
            };
            Ok(())
        })?;
        self.after_write().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(uid: &str, summary: &str) -> Item {
        Item::parse(
            ItemKind::Calendar,
            format!(
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
                 SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
            ),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn writes_are_conditional_on_etags_and_never_overwrite() {
        let s = MemoryStorage::new(ItemKind::Calendar);
        let c = s.root_collection().await.unwrap();
        let (href, e1) = s.upload(&c, &ev("u1", "one")).await.unwrap();
        let again = s.upload(&c, &ev("u1", "other")).await.unwrap_err();
        assert_eq!(again.kind(), ErrorKind::AlreadyExists);
        let e2 = s.update(&c, &href, &ev("u1", "two"), &e1).await.unwrap();
        assert_ne!(e1, e2);
        let stale = s.update(&c, &href, &ev("u1", "x"), &e1).await.unwrap_err();
        assert_eq!(stale.kind(), ErrorKind::PreconditionFailed);
        let stale = s.delete(&c, &href, &e1).await.unwrap_err();
        assert_eq!(stale.kind(), ErrorKind::PreconditionFailed);
        let (item, etag) = s.get(&c, &href).await.unwrap();
        assert_eq!(etag, e2);
        assert!(String::from_utf8_lossy(item.raw()).contains("SUMMARY:two"));
        s.delete(&c, &href, &e2).await.unwrap();
        assert!(s.list(&c).await.unwrap().is_empty());
        assert_eq!(s.write_count(), 6);
    }

    #[tokio::test]
    async fn malformed_bytes_fail_alone_in_get_many() {
        let s = MemoryStorage::new(ItemKind::Calendar);
        let c = s.root_collection().await.unwrap();
        s.insert_raw(ROOT_HREF, "bad.ics", "garbage");
        let (good, _) = s.upload(&c, &ev("u1", "one")).await.unwrap();
        let got = s
            .get_many(&c, &[Href::from("bad.ics"), good.clone()])
            .await
            .unwrap();
        assert_eq!(
            got[0].1.as_ref().unwrap_err().kind(),
            ErrorKind::InvalidData
        );
        assert!(got[1].1.is_ok());
    }

    #[tokio::test]
    async fn changes_since_a_token_name_exactly_what_moved() {
        let s = MemoryStorage::new(ItemKind::Calendar);
        s.set_supports_changes(true);
        let c = s.root_collection().await.unwrap();
        let (h1, e1) = s.upload(&c, &ev("u1", "one")).await.unwrap();
        let (h2, _) = s.upload(&c, &ev("u2", "two")).await.unwrap();
        let all = s.changes(&c, None).await.unwrap().unwrap();
        assert!(all.complete);
        assert_eq!(all.changed.len(), 2);
        let token = all.token.unwrap();
        s.update(&c, &h1, &ev("u1", "edited"), &e1).await.unwrap();
        s.remove_raw(ROOT_HREF, h2.as_str());
        let delta = s.changes(&c, Some(&token)).await.unwrap().unwrap();
        assert!(!delta.complete);
        assert_eq!(delta.changed.len(), 1);
        assert_eq!(delta.changed[0].href, h1);
        assert_eq!(delta.deleted, vec![h2]);
    }

    #[tokio::test]
    async fn read_only_refuses_and_still_counts_the_attempt() {
        let s = MemoryStorage::new(ItemKind::Calendar);
        s.set_read_only(true);
        let c = s.root_collection().await.unwrap();
        let err = s.upload(&c, &ev("u1", "one")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ReadOnly);
        assert_eq!(s.write_count(), 1);
        assert!(s.items(ROOT_HREF).is_empty());
    }
}
