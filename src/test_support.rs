//! Test helpers shared by the engine's and the commands' unit tests.

use std::sync::Arc;

use davsync_storages::{
    Changes, Collection, CollectionToken, Etag, Fetched, Href, Item, ItemKind, ItemRef, Storage,
};

pub(crate) const PREFIX: &str = "/dav/";

/// A storage seen through server paths (`/dav/<name>`), as CalDAV/CardDAV list their
/// members, while `preferred_href` stays a bare file name as the DAV backend gives it.
pub(crate) struct PathHrefs(pub Arc<dyn Storage>);

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
