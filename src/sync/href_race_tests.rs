//! An upload that meets the item already there (a killed run's write the server finished
//! after our listing) records it under the href the listings give: through a storage whose
//! listings give server paths while its preferred href is a bare file name, as DAV's do.
//! Recorded under the bare name, the next delta listing showed the item twice and failed it
//! as a duplicate UID.

use std::sync::Arc;

use davsync_storages::memory::{MemoryStorage, ROOT_HREF};
use davsync_storages::{
    Changes, Collection, CollectionToken, Etag, Fetched, Href, Item, ItemKind, ItemRef, Storage,
};

use super::tests::Rec;
use super::*;
use crate::status;

const PREFIX: &str = "/dav/";

/// A memory storage seen through server paths (`/dav/<name>`).
struct PathHrefs(Arc<MemoryStorage>);

/// The inner name; a bare name passes as it is, as a DAV storage takes it relative to the
/// collection.
fn inner(h: &Href) -> Href {
    Href(
        h.as_str()
            .strip_prefix(PREFIX)
            .unwrap_or(h.as_str())
            .to_owned(),
    )
}

fn outer(h: Href) -> Href {
    Href(format!("{PREFIX}{h}"))
}

#[async_trait::async_trait]
impl Storage for PathHrefs {
    fn item_kind(&self) -> ItemKind {
        self.0.item_kind()
    }
    async fn root_collection(&self) -> davsync_storages::Result<Collection> {
        self.0.root_collection().await
    }
    async fn discover(&self) -> davsync_storages::Result<Vec<Collection>> {
        self.0.discover().await
    }
    async fn list(&self, c: &Collection) -> davsync_storages::Result<Vec<ItemRef>> {
        let mut refs = self.0.list(c).await?;
        for r in &mut refs {
            r.href = outer(r.href.clone());
        }
        Ok(refs)
    }
    async fn get_many(
        &self,
        c: &Collection,
        hrefs: &[Href],
    ) -> davsync_storages::Result<Vec<Fetched>> {
        let hs: Vec<Href> = hrefs.iter().map(inner).collect();
        let got = self.0.get_many(c, &hs).await?;
        Ok(got.into_iter().map(|(h, r)| (outer(h), r)).collect())
    }
    async fn upload(&self, c: &Collection, item: &Item) -> davsync_storages::Result<(Href, Etag)> {
        let (h, e) = self.0.upload(c, item).await?;
        Ok((outer(h), e))
    }
    async fn update(
        &self,
        c: &Collection,
        href: &Href,
        item: &Item,
        etag: &Etag,
    ) -> davsync_storages::Result<Etag> {
        self.0.update(c, &inner(href), item, etag).await
    }
    async fn delete(
        &self,
        c: &Collection,
        href: &Href,
        etag: &Etag,
    ) -> davsync_storages::Result<()> {
        self.0.delete(c, &inner(href), etag).await
    }
    fn preferred_href(&self, uid: &str) -> Option<Href> {
        self.0.preferred_href(uid)
    }
    fn listed_href(&self, _: &Collection, href: &Href) -> Href {
        outer(inner(href))
    }
    async fn changes(
        &self,
        c: &Collection,
        since: Option<&CollectionToken>,
    ) -> davsync_storages::Result<Option<Changes>> {
        Ok(self.0.changes(c, since).await?.map(|mut ch| {
            for r in &mut ch.changed {
                r.href = outer(r.href.clone());
            }
            ch.deleted = ch.deleted.into_iter().map(outer).collect();
            ch
        }))
    }
}

fn ev(uid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
         DTSTAMP:20240101T000000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

#[tokio::test]
async fn an_upload_meeting_the_same_item_records_it_at_its_listed_href() {
    let a = Arc::new(MemoryStorage::new(ItemKind::Calendar));
    let mem_b = Arc::new(MemoryStorage::new(ItemKind::Calendar));
    mem_b.set_supports_changes(true);
    let pair = PairSpec {
        name: "p".into(),
        a: StorageHandle {
            name: "sa".into(),
            storage: a.clone(),
        },
        b: StorageHandle {
            name: "sb".into(),
            storage: Arc::new(PathHrefs(mem_b.clone())),
        },
        collections: None,
        conflict_resolution: vec![],
        partial_sync: PartialSync::Revert,
        metadata: vec![],
    };
    let dir = tempfile::tempdir().unwrap();
    let sync = || async {
        let rec = Rec::default();
        let report = sync_pair(&pair, dir.path(), &SyncOptions::default(), &rec).await;
        (report, rec)
    };
    a.insert_raw(ROOT_HREF, "u0.item", ev("u0", "first"));
    let (report, rec) = sync().await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());

    // A new item on a; the same item reaches b right before our upload of it.
    a.insert_raw(ROOT_HREF, "u1.item", ev("u1", "same"));
    mem_b.edit_before_next_write("u1.item", ev("u1", "same"));
    let (report, rec) = sync().await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    let st = status::Status::open(dir.path(), "p").unwrap();
    let rows = st.items("").unwrap();
    assert_eq!(
        rows["u1"].b.as_ref().map(|s| s.href.as_str()),
        Some("/dav/u1.item")
    );

    // The next listing of b (changes since the token taken before that write) names the
    // item at its path: one item, nothing to do.
    let (report, rec) = sync().await;
    assert_eq!(report.failures, 0, "{:?}", rec.failures());
    assert_eq!(rec.changes(), Vec::<String>::new());
}
