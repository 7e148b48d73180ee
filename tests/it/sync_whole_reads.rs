//! The engine reads a collection whole (`Storage::get_all`) when it has to read most of it:
//! on the first sync of a side, and when most of a listing changed. Otherwise it lists and
//! reads only what changed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use davsync::sync::event::Recorder as Rec;
use davsync::sync::{sync_pair, PairSpec, PartialSync, StorageHandle, SyncOptions};
use davsync_storages::memory::{MemoryStorage, ROOT_HREF};
use davsync_storages::{
    Changes, Collection, CollectionToken, Etag, Fetched, Href, Item, ItemKind, ItemRef, Result,
    Storage,
};

/// A memory storage that can read a collection whole, counting how it is read.
struct Whole {
    inner: MemoryStorage,
    get_all: AtomicUsize,
    get_many_hrefs: AtomicUsize,
}

impl Whole {
    fn new() -> Arc<Whole> {
        Arc::new(Whole {
            inner: MemoryStorage::new(ItemKind::Calendar),
            get_all: AtomicUsize::new(0),
            get_many_hrefs: AtomicUsize::new(0),
        })
    }

    fn counts(&self) -> (usize, usize) {
        (
            self.get_all.swap(0, Ordering::SeqCst),
            self.get_many_hrefs.swap(0, Ordering::SeqCst),
        )
    }
}

#[async_trait]
impl Storage for Whole {
    fn item_kind(&self) -> ItemKind {
        self.inner.item_kind()
    }
    async fn root_collection(&self) -> Result<Collection> {
        self.inner.root_collection().await
    }
    async fn discover(&self) -> Result<Vec<Collection>> {
        self.inner.discover().await
    }
    async fn list(&self, c: &Collection) -> Result<Vec<ItemRef>> {
        self.inner.list(c).await
    }
    async fn get_many(&self, c: &Collection, hrefs: &[Href]) -> Result<Vec<Fetched>> {
        self.get_many_hrefs.fetch_add(hrefs.len(), Ordering::SeqCst);
        self.inner.get_many(c, hrefs).await
    }
    async fn get_all(&self, c: &Collection) -> Result<Option<Vec<Fetched>>> {
        self.get_all.fetch_add(1, Ordering::SeqCst);
        let hrefs: Vec<Href> = self
            .inner
            .list(c)
            .await?
            .into_iter()
            .map(|r| r.href)
            .collect();
        Ok(Some(self.inner.get_many(c, &hrefs).await?))
    }
    async fn upload(&self, c: &Collection, item: &Item) -> Result<(Href, Etag)> {
        self.inner.upload(c, item).await
    }
    async fn update(&self, c: &Collection, h: &Href, item: &Item, e: &Etag) -> Result<Etag> {
        self.inner.update(c, h, item, e).await
    }
    async fn delete(&self, c: &Collection, h: &Href, e: &Etag) -> Result<()> {
        self.inner.delete(c, h, e).await
    }
    async fn changes(
        &self,
        c: &Collection,
        since: Option<&CollectionToken>,
    ) -> Result<Option<Changes>> {
        self.inner.changes(c, since).await
    }
}

fn ev(uid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nSUMMARY:{summary}\r\n\
         END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

struct World {
    a: Arc<Whole>,
    b: Arc<Whole>,
    pair: PairSpec,
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let a = Whole::new();
        let b = Whole::new();
        World {
            pair: PairSpec {
                name: "p".into(),
                a: StorageHandle {
                    name: "a".into(),
                    storage: a.clone(),
                },
                b: StorageHandle {
                    name: "b".into(),
                    storage: b.clone(),
                },
                collections: None,
                conflict_resolution: vec![],
                partial_sync: PartialSync::Revert,
                metadata: vec![],
            },
            a,
            b,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn write_a(&self, n: usize, summary: &str) {
        for i in 0..n {
            let uid = format!("ev-{i}");
            self.a
                .inner
                .insert_raw(ROOT_HREF, &format!("{uid}.ics"), ev(&uid, summary));
        }
    }

    async fn sync(&self) -> Vec<String> {
        let rec = Rec::default();
        let report = sync_pair(&self.pair, self.dir.path(), &SyncOptions::default(), &rec).await;
        let failures = rec.failures();
        assert_eq!(report.failures, 0, "{failures:?}");
        rec.changes()
    }
}

#[tokio::test]
async fn first_sync_reads_each_side_whole_and_nothing_item_by_item() {
    let w = World::new();
    w.write_a(150, "one");
    let changes = w.sync().await;
    assert_eq!(changes.len(), 150);
    assert_eq!(w.a.counts(), (1, 0));
    assert_eq!(w.b.counts(), (1, 0));
    assert_eq!(w.b.inner.items(ROOT_HREF).len(), 150);
}

#[tokio::test]
async fn a_synced_collection_reads_only_what_changed() {
    let w = World::new();
    w.write_a(150, "one");
    w.sync().await;
    w.a.counts();
    w.b.counts();
    w.a.inner
        .insert_raw(ROOT_HREF, "ev-3.ics", ev("ev-3", "changed"));
    let changes = w.sync().await;
    assert_eq!(
        changes,
        vec!["Copying (updating) item ev-3 to b".to_owned()]
    );
    assert_eq!(w.a.counts(), (0, 1));
    assert_eq!(w.b.counts(), (0, 0));
}

#[tokio::test]
async fn most_of_a_collection_changed_is_read_whole() {
    let w = World::new();
    w.write_a(150, "one");
    w.sync().await;
    w.a.counts();
    w.b.counts();
    w.write_a(150, "two");
    let changes = w.sync().await;
    assert_eq!(changes.len(), 150);
    assert_eq!(w.a.counts(), (1, 0));
}
