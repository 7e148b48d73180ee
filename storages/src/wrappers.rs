//! Storages wrapped to refuse writes ([`ReadOnly`]) or to pretend them ([`DryRun`]).
//!
//! Read-only and dry-run are properties of how a storage is *used*, not of the backend, so
//! they live here once instead of as a flag checked in every backend's write path: a backend
//! cannot forget to honour them, and a new backend gets both for free. The engine and the
//! CLI wrap an `Arc<dyn Storage>` and never learn which backend is underneath.

use std::sync::Arc;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind, Result};
use crate::item::{Item, ItemKind};
use crate::storage::{
    Changes, Collection, CollectionToken, Etag, Fetched, Href, ItemRef, MetaKey, Storage,
};

/// Implements `Storage` for a wrapper: every read method forwarded to `self.inner`, plus the
/// given write methods.
macro_rules! wrapper_impl {
    ($t:ty { $($writes:tt)* }) => {
        #[async_trait]
        impl Storage for $t {
        fn item_kind(&self) -> ItemKind {
            self.inner.item_kind()
        }

        async fn root_collection(&self) -> Result<Collection> {
            self.inner.root_collection().await
        }

        async fn discover(&self) -> Result<Vec<Collection>> {
            self.inner.discover().await
        }

        async fn list(&self, collection: &Collection) -> Result<Vec<ItemRef>> {
            self.inner.list(collection).await
        }

        async fn get_many(
            &self,
            collection: &Collection,
            hrefs: &[Href],
        ) -> Result<Vec<Fetched>> {
            self.inner.get_many(collection, hrefs).await
        }

        async fn get(&self, collection: &Collection, href: &Href) -> Result<(Item, Etag)> {
            self.inner.get(collection, href).await
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
            self.inner.changes(collection, since).await
        }

        async fn get_all(&self, collection: &Collection) -> Result<Option<Vec<Fetched>>> {
            self.inner.get_all(collection).await
        }

        async fn get_all_into(
            &self,
            collection: &Collection,
            sink: tokio::sync::mpsc::Sender<Fetched>,
        ) -> Result<bool> {
            self.inner.get_all_into(collection, sink).await
        }

        async fn get_meta(&self, collection: &Collection, key: MetaKey) -> Result<Option<String>> {
            self.inner.get_meta(collection, key).await
        }

        async fn flush(&self) -> Result<()> {
            self.inner.flush().await
        }

        $($writes)*
        }
    };
}

/// A storage that can only be read: every write fails with [`ErrorKind::ReadOnly`].
pub struct ReadOnly {
    inner: Arc<dyn Storage>,
}

impl ReadOnly {
    pub fn new(inner: Arc<dyn Storage>) -> ReadOnly {
        ReadOnly { inner }
    }
}

fn read_only(what: String) -> Error {
    Error::new(ErrorKind::ReadOnly, what)
}

wrapper_impl!(ReadOnly {
    fn read_only(&self) -> bool {
        true
    }

    async fn create_collection(&self, name: &str) -> Result<Collection> {
        Err(read_only(format!("creating collection {name}")))
    }

    async fn delete_collection(&self, collection: &Collection) -> Result<()> {
        Err(read_only(format!("deleting collection {}", collection.href)))
    }

    async fn upload(&self, collection: &Collection, item: &Item) -> Result<(Href, Etag)> {
        Err(read_only(format!(
            "uploading {} to {}",
            item.ident(),
            collection.href
        )))
    }

    async fn update(
        &self,
        collection: &Collection,
        href: &Href,
        _item: &Item,
        _etag: &Etag,
    ) -> Result<Etag> {
        Err(read_only(format!("updating {href} in {}", collection.href)))
    }

    async fn delete(&self, collection: &Collection, href: &Href, _etag: &Etag) -> Result<()> {
        Err(read_only(format!("deleting {href} from {}", collection.href)))
    }

    async fn set_meta(
        &self,
        collection: &Collection,
        key: MetaKey,
        _value: Option<&str>,
    ) -> Result<()> {
        Err(read_only(format!(
            "setting {} of {}",
            key.as_str(),
            collection.href
        )))
    }
});

/// A storage whose writes do nothing and report plausible results, for `--dry-run`.
///
/// Reads go to the real storage, so the plan is computed from the real state; writes return
/// synthetic hrefs and the etag `dry-run`, which nothing ever compares against because a
/// dry run persists no status.
pub struct DryRun {
    inner: Arc<dyn Storage>,
}

impl DryRun {
    pub fn new(inner: Arc<dyn Storage>) -> DryRun {
        DryRun { inner }
    }

    /// A pretended write must fail where the real one would: a dry run over a read-only
    /// storage shows the same refusals as the real run.
    fn refuse_if_read_only(&self, what: impl FnOnce() -> String) -> Result<()> {
        if self.inner.read_only() {
            Err(read_only(what()))
        } else {
            Ok(())
        }
    }
}

/// The etag every pretended write returns.
pub const DRY_RUN_ETAG: &str = "dry-run";

wrapper_impl!(DryRun {
    fn read_only(&self) -> bool {
        self.inner.read_only()
    }

    async fn create_collection(&self, name: &str) -> Result<Collection> {
        self.refuse_if_read_only(|| format!("creating collection {name}"))?;
        // Best effort: a collection is usually created next to the discovered ones, so
        // borrow their parent; otherwise the name alone.
        let root = self.inner.root_collection().await.ok();
        let href = match root {
            Some(r) if !r.href.is_empty() => {
                let sep = if r.href.ends_with('/') { "" } else { "/" };
                let trailing = if r.href.starts_with("http://") || r.href.starts_with("https://")
                {
                    "/"
                } else {
                    ""
                };
                format!("{}{sep}{name}{trailing}", r.href)
            }
            _ => name.to_owned(),
        };
        Ok(Collection {
            href,
            name: name.to_owned(),
        })
    }

    async fn delete_collection(&self, collection: &Collection) -> Result<()> {
        self.refuse_if_read_only(|| format!("deleting collection {}", collection.href))
    }

    async fn upload(&self, collection: &Collection, item: &Item) -> Result<(Href, Etag)> {
        self.refuse_if_read_only(|| format!("uploading {} to {}", item.ident(), collection.href))?;
        let href = self.inner.preferred_href(item.ident()).unwrap_or_else(|| {
            Href(hex::encode(
                &Sha256::digest(item.ident().as_bytes())[..16],
            ))
        });
        Ok((href, Etag(DRY_RUN_ETAG.into())))
    }

    async fn update(
        &self,
        collection: &Collection,
        href: &Href,
        _item: &Item,
        _etag: &Etag,
    ) -> Result<Etag> {
        self.refuse_if_read_only(|| format!("updating {href} in {}", collection.href))?;
        Ok(Etag(DRY_RUN_ETAG.into()))
    }

    async fn delete(&self, collection: &Collection, href: &Href, _etag: &Etag) -> Result<()> {
        self.refuse_if_read_only(|| format!("deleting {href} from {}", collection.href))
    }

    async fn set_meta(
        &self,
        collection: &Collection,
        key: MetaKey,
        _value: Option<&str>,
    ) -> Result<()> {
        self.refuse_if_read_only(|| format!("setting {} of {}", key.as_str(), collection.href))
    }
});
