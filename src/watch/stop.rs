//! Stopping at a write boundary: after SIGINT/SIGTERM the storages of a running round refuse
//! every write (and read) not yet begun, while those in flight finish; the engine then
//! flushes and records them as usual and winds the round down. A long first sync thus ends
//! within one write, not after its last, and what it wrote is in the status. The writes it
//! did not begin are the next sync's.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use davsync_storages::{
    Changes, Collection, CollectionToken, Error, ErrorKind, Etag, Fetched, Href, Item, ItemKind,
    ItemRef, MetaKey, Result, Storage,
};

use crate::sync::event::{Event, Reporter};

/// Set once a signal asked to stop.
#[derive(Clone, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    pub fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    fn check(&self) -> Result<()> {
        if self.is_set() {
            Err(Error::new(ErrorKind::Io, STOPPING))
        } else {
            Ok(())
        }
    }
}

const STOPPING: &str = "davsync is stopping";

/// A storage that refuses new work once the flag is set. `flush` always goes through: it is
/// what makes the finished writes durable before the engine records them.
pub struct Stoppable {
    inner: Arc<dyn Storage>,
    stop: StopFlag,
}

impl Stoppable {
    pub fn wrap(inner: Arc<dyn Storage>, stop: &StopFlag) -> Arc<dyn Storage> {
        Arc::new(Stoppable {
            inner,
            stop: stop.clone(),
        })
    }
}

#[async_trait]
impl Storage for Stoppable {
    fn item_kind(&self) -> ItemKind {
        self.inner.item_kind()
    }

    fn read_only(&self) -> bool {
        self.inner.read_only()
    }

    async fn root_collection(&self) -> Result<Collection> {
        self.stop.check()?;
        self.inner.root_collection().await
    }

    async fn discover(&self) -> Result<Vec<Collection>> {
        self.stop.check()?;
        self.inner.discover().await
    }

    async fn create_collection(&self, name: &str) -> Result<Collection> {
        self.stop.check()?;
        self.inner.create_collection(name).await
    }

    async fn delete_collection(&self, collection: &Collection) -> Result<()> {
        self.stop.check()?;
        self.inner.delete_collection(collection).await
    }

    async fn list(&self, collection: &Collection) -> Result<Vec<ItemRef>> {
        self.stop.check()?;
        self.inner.list(collection).await
    }

    async fn get_many(&self, collection: &Collection, hrefs: &[Href]) -> Result<Vec<Fetched>> {
        self.stop.check()?;
        self.inner.get_many(collection, hrefs).await
    }

    async fn get(&self, collection: &Collection, href: &Href) -> Result<(Item, Etag)> {
        self.stop.check()?;
        self.inner.get(collection, href).await
    }

    async fn upload(&self, collection: &Collection, item: &Item) -> Result<(Href, Etag)> {
        self.stop.check()?;
        self.inner.upload(collection, item).await
    }

    async fn update(
        &self,
        collection: &Collection,
        href: &Href,
        item: &Item,
        etag: &Etag,
    ) -> Result<Etag> {
        self.stop.check()?;
        self.inner.update(collection, href, item, etag).await
    }

    async fn delete(&self, collection: &Collection, href: &Href, etag: &Etag) -> Result<()> {
        self.stop.check()?;
        self.inner.delete(collection, href, etag).await
    }

    fn preferred_href(&self, uid: &str) -> Option<Href> {
        self.inner.preferred_href(uid)
    }

    fn listed_href(&self, collection: &Collection, href: &Href) -> Href {
        self.inner.listed_href(collection, href)
    }

    async fn changes(
        &self,
        collection: &Collection,
        since: Option<&CollectionToken>,
    ) -> Result<Option<Changes>> {
        self.stop.check()?;
        self.inner.changes(collection, since).await
    }

    async fn get_all(&self, collection: &Collection) -> Result<Option<Vec<Fetched>>> {
        self.stop.check()?;
        self.inner.get_all(collection).await
    }

    async fn get_all_into(
        &self,
        collection: &Collection,
        sink: tokio::sync::mpsc::Sender<Fetched>,
    ) -> Result<bool> {
        self.stop.check()?;
        self.inner.get_all_into(collection, sink).await
    }

    async fn flush(&self) -> Result<()> {
        self.inner.flush().await
    }

    async fn get_meta(&self, collection: &Collection, key: MetaKey) -> Result<Option<String>> {
        self.stop.check()?;
        self.inner.get_meta(collection, key).await
    }

    async fn set_meta(
        &self,
        collection: &Collection,
        key: MetaKey,
        value: Option<&str>,
    ) -> Result<()> {
        self.stop.check()?;
        self.inner.set_meta(collection, key, value).await
    }
}

/// Passes events on, except the failures that stopping itself causes once the flag is set:
/// they are work left for the next sync, not errors, and are counted instead.
pub struct QuietWhenStopping<'r> {
    pub inner: &'r dyn Reporter,
    pub stop: StopFlag,
    pub left: AtomicUsize,
}

impl Reporter for QuietWhenStopping<'_> {
    fn event(&self, event: &Event) {
        if self.stop.is_set() {
            if let Event::Failed(_) = event {
                if event.to_string().contains(STOPPING) {
                    self.left.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
        self.inner.event(event);
    }

    fn progress(&self, scope: &str, done: u64, total: u64) {
        self.inner.progress(scope, done, total);
    }
}
