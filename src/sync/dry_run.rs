//! Interim dry-run wrapper until `storages::wrappers::DryRun` lands: reads pass through,
//! writes do nothing and answer with synthetic hrefs/etags.

use std::sync::Arc;

use async_trait::async_trait;
use davsync_storages::{
    Changes, Collection, Etag, Fetched, Href, Item, ItemKind, ItemRef, MetaKey, Result, Storage,
    SyncToken,
};

pub struct DryRun(Arc<dyn Storage>);

impl DryRun {
    pub fn new(inner: Arc<dyn Storage>) -> Self {
        DryRun(inner)
    }
}

#[async_trait]
impl Storage for DryRun {
    fn item_kind(&self) -> ItemKind {
        self.0.item_kind()
    }
    fn read_only(&self) -> bool {
        self.0.read_only()
    }
    async fn root_collection(&self) -> Result<Collection> {
        self.0.root_collection().await
    }
    async fn discover(&self) -> Result<Vec<Collection>> {
        self.0.discover().await
    }
    async fn create_collection(&self, name: &str) -> Result<Collection> {
        Ok(Collection {
            href: format!("dry-run:{name}"),
            name: name.to_owned(),
        })
    }
    async fn delete_collection(&self, _c: &Collection) -> Result<()> {
        Ok(())
    }
    async fn list(&self, c: &Collection) -> Result<Vec<ItemRef>> {
        self.0.list(c).await
    }
    async fn get_many(&self, c: &Collection, hrefs: &[Href]) -> Result<Vec<Fetched>> {
        self.0.get_many(c, hrefs).await
    }
    async fn upload(&self, _c: &Collection, item: &Item) -> Result<(Href, Etag)> {
        Ok((
            Href(format!("dry-run:{}", item.ident())),
            Etag("dry-run".into()),
        ))
    }
    async fn update(&self, _c: &Collection, _h: &Href, _i: &Item, _e: &Etag) -> Result<Etag> {
        Ok(Etag("dry-run".into()))
    }
    async fn delete(&self, _c: &Collection, _h: &Href, _e: &Etag) -> Result<()> {
        Ok(())
    }
    async fn changes(&self, c: &Collection, since: Option<&SyncToken>) -> Result<Option<Changes>> {
        self.0.changes(c, since).await
    }
    async fn get_meta(&self, c: &Collection, key: MetaKey) -> Result<Option<String>> {
        self.0.get_meta(c, key).await
    }
    async fn set_meta(&self, _c: &Collection, _k: MetaKey, _v: Option<&str>) -> Result<()> {
        Ok(())
    }
}
