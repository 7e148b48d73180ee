//! The [`Storage`] trait: what the sync engine asks of every backend.
//!
//! One object-safe async trait, `&self` everywhere, so a storage is shared as
//! `Arc<dyn Storage>` by concurrent collection syncs. The required methods are the ones every
//! backend can answer; bulk and optional capabilities (incremental listing, a whole-collection
//! read, metadata) are default methods a backend overrides when it can do better.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::{Error, ErrorKind, Result};
use crate::item::{Item, ItemKind};

/// Where an item lives inside its collection: a file name (vdir), a URL path (DAV), or a
/// synthetic key (singlefile, http). Opaque to the engine.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Href(pub String);

/// A version token of one stored item. Changes whenever the item's bytes change; equal etags
/// mean the engine need not read the item again.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Etag(pub String);

/// An RFC 6578 sync token (or a backend's equivalent): "changes since here". Opaque.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SyncToken(pub String);

/// A CalendarServer `getctag`: a value that moves whenever anything in the collection does.
/// It tells whether something changed, never what. Opaque.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ctag(pub String);

/// What [`Storage::changes`] hands out with each answer and takes back next time: the
/// collection's state at that answer, in whichever form the backend can compare.
///
/// The engine keeps it between runs (in its status) as one string:
/// [`to_text`](CollectionToken::to_text) writes it, [`from_text`](CollectionToken::from_text)
/// reads it back.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CollectionToken {
    /// Changes since this token can be asked for (DAV sync-collection, the memory storage's
    /// change counter).
    Sync(SyncToken),
    /// The server has no sync-collection: the collection's ctag when it was last listed.
    /// The same ctag now means nothing changed; another one means a full listing.
    Ctag(Ctag),
    /// Both: changes since `sync` can be asked for, and `ctag` is the collection's ctag read
    /// before that token was taken. The same ctag now means nothing changed without asking
    /// for the sync token, which some servers (Radicale) compute at a higher price than the
    /// ctag; another one means asking for the changes since `sync`.
    SyncWithCtag { sync: SyncToken, ctag: Ctag },
}

/// Starts the text form of a [`CollectionToken::Ctag`]. No sync token starts with it: DAV
/// sync tokens are URIs, whose schemes are registered and hold no `ctag`, and the memory
/// storage's are numbers.
const CTAG_TEXT_PREFIX: &str = "ctag:";

/// Starts the text form of a [`CollectionToken::SyncWithCtag`]:
/// `ctag+sync:<byte length of the ctag>:<ctag><sync token>`. No sync token starts with it
/// either.
const SYNC_WITH_CTAG_TEXT_PREFIX: &str = "ctag+sync:";

impl CollectionToken {
    pub fn sync(token: impl Into<String>) -> CollectionToken {
        CollectionToken::Sync(SyncToken(token.into()))
    }

    pub fn ctag(ctag: impl Into<String>) -> CollectionToken {
        CollectionToken::Ctag(Ctag(ctag.into()))
    }

    /// The sync token to ask changes since, if this token has one.
    pub fn sync_token(&self) -> Option<&SyncToken> {
        match self {
            CollectionToken::Sync(sync) | CollectionToken::SyncWithCtag { sync, .. } => Some(sync),
            CollectionToken::Ctag(_) => None,
        }
    }

    /// The token as one string, to be kept until the next run: a sync token as it is, a
    /// ctag as `ctag:<value>`, both as `ctag+sync:<length>:<ctag><sync token>`. Stable:
    /// statuses written by earlier releases hold the first two forms.
    pub fn to_text(&self) -> String {
        match self {
            CollectionToken::Sync(t) => t.0.clone(),
            CollectionToken::Ctag(c) => format!("{CTAG_TEXT_PREFIX}{}", c.0),
            CollectionToken::SyncWithCtag { sync, ctag } => format!(
                "{SYNC_WITH_CTAG_TEXT_PREFIX}{}:{}{}",
                ctag.0.len(),
                ctag.0,
                sync.0
            ),
        }
    }

    /// The token [`to_text`](Self::to_text) gave this string for.
    pub fn from_text(text: impl Into<String>) -> CollectionToken {
        let text = text.into();
        if let Some(both) = text.strip_prefix(SYNC_WITH_CTAG_TEXT_PREFIX) {
            let split = both.split_once(':').and_then(|(len, rest)| {
                let len: usize = len.parse().ok()?;
                Some((rest.get(..len)?, rest.get(len..)?))
            });
            if let Some((ctag, sync)) = split {
                return CollectionToken::SyncWithCtag {
                    sync: SyncToken(sync.to_owned()),
                    ctag: Ctag(ctag.to_owned()),
                };
            }
            // Damaged: kept as a sync token, which the server refuses, so the collection is
            // listed from scratch rather than trusted.
        }
        match text.strip_prefix(CTAG_TEXT_PREFIX) {
            Some(ctag) => CollectionToken::ctag(ctag),
            None => CollectionToken::Sync(SyncToken(text)),
        }
    }
}

impl From<SyncToken> for CollectionToken {
    fn from(t: SyncToken) -> Self {
        CollectionToken::Sync(t)
    }
}

impl From<Ctag> for CollectionToken {
    fn from(c: Ctag) -> Self {
        CollectionToken::Ctag(c)
    }
}

macro_rules! string_newtype {
    ($t:ident) => {
        impl $t {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl From<&str> for $t {
            fn from(s: &str) -> Self {
                $t(s.to_owned())
            }
        }
        impl From<String> for $t {
            fn from(s: String) -> Self {
                $t(s)
            }
        }
    };
}
string_newtype!(Href);
string_newtype!(Etag);
string_newtype!(SyncToken);
string_newtype!(Ctag);

/// One listed item: where it is and which version it is at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRef {
    pub href: Href,
    pub etag: Etag,
}

/// The answer to a read of one href: the item and the etag it was read at, or why not.
pub type Fetched = (Href, Result<(Item, Etag)>);

/// A calendar or an address book inside a storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collection {
    /// Backend-specific locator: the folder path of a vdir collection, the URL of a DAV
    /// collection, the file path of a singlefile collection. Stable across runs.
    pub href: String,
    /// The name shown to the user and matched in the config's `collections`: the folder name
    /// for a vdir, the last path segment for DAV. Empty for a storage without collections.
    pub name: String,
}

/// Collection properties that `metasync` can copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MetaKey {
    DisplayName,
    Color,
    Description,
    Order,
}

impl MetaKey {
    /// The config spelling (`metadata = ["displayname", "color"]`) and the vdir file name.
    pub fn as_str(self) -> &'static str {
        match self {
            MetaKey::DisplayName => "displayname",
            MetaKey::Color => "color",
            MetaKey::Description => "description",
            MetaKey::Order => "order",
        }
    }

    pub fn parse(s: &str) -> Option<MetaKey> {
        Some(match s {
            "displayname" => MetaKey::DisplayName,
            "color" => MetaKey::Color,
            "description" => MetaKey::Description,
            "order" => MetaKey::Order,
            _ => return None,
        })
    }

    pub const ALL: [MetaKey; 4] = [
        MetaKey::DisplayName,
        MetaKey::Color,
        MetaKey::Description,
        MetaKey::Order,
    ];
}

/// Properties discovered along with a collection (all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollectionMeta {
    pub displayname: Option<String>,
    pub color: Option<String>,
    pub description: Option<String>,
}

/// What changed in a collection since a [`CollectionToken`].
#[derive(Debug, Clone, Default)]
pub struct Changes {
    /// The token to store for the next sync.
    pub token: Option<CollectionToken>,
    /// Items created or modified since the token, with their new etags.
    pub changed: Vec<ItemRef>,
    /// Hrefs removed since the token.
    pub deleted: Vec<Href>,
    /// True when the backend could not use the token (expired, invalid, none given) and
    /// `changed` is the complete listing: anything not in it is gone.
    pub complete: bool,
}

/// A place that holds collections of items. See the crate docs for the model.
///
/// Every write is conditional: [`upload`](Storage::upload) fails with
/// [`ErrorKind::AlreadyExists`] if the href is taken, [`update`](Storage::update) and
/// [`delete`](Storage::delete) fail with [`ErrorKind::PreconditionFailed`] if the etag moved.
#[async_trait]
pub trait Storage: Send + Sync {
    /// Calendars or contacts: decides how bytes are split into items.
    fn item_kind(&self) -> ItemKind;

    /// True for storages that can never be written (`http`, the read-only wrapper).
    fn read_only(&self) -> bool {
        false
    }

    /// The collection the configured path/url designates itself, for pairs without
    /// `collections`.
    async fn root_collection(&self) -> Result<Collection>;

    /// The collections found under the configured path/url (vdir: sub-folders; DAV: the home
    /// sets), for pairs with `collections`.
    async fn discover(&self) -> Result<Vec<Collection>>;

    /// Creates a collection named `name` under the configured path/url.
    async fn create_collection(&self, name: &str) -> Result<Collection> {
        let _ = name;
        Err(Error::new(ErrorKind::Unsupported, "creating collections"))
    }

    /// Deletes an (emptied) collection; used only by `sync --force-delete`.
    async fn delete_collection(&self, collection: &Collection) -> Result<()> {
        Err(Error::new(
            ErrorKind::Unsupported,
            format!("deleting collection {}", collection.href),
        ))
    }

    /// Every item of the collection with its current etag. Must not read item bodies when the
    /// backend can avoid it.
    async fn list(&self, collection: &Collection) -> Result<Vec<ItemRef>>;

    /// Reads many items in one go. One entry per requested href, in any order; an href that
    /// cannot be read (gone, malformed) fails alone in its entry. The outer error is for
    /// failures of the whole request.
    async fn get_many(&self, collection: &Collection, hrefs: &[Href]) -> Result<Vec<Fetched>>;

    /// Reads one item.
    async fn get(&self, collection: &Collection, href: &Href) -> Result<(Item, Etag)> {
        let mut all = self
            .get_many(collection, std::slice::from_ref(href))
            .await?;
        match all.pop() {
            Some((_, res)) => res,
            None => Err(Error::new(ErrorKind::NotFound, href.to_string())),
        }
    }

    /// Stores a new item; the backend chooses the href (from the UID when that is safe).
    /// Fails with [`ErrorKind::AlreadyExists`] rather than overwrite anything.
    async fn upload(&self, collection: &Collection, item: &Item) -> Result<(Href, Etag)>;

    /// Replaces the item at `href` if it is still at `etag`; returns the new etag.
    async fn update(
        &self,
        collection: &Collection,
        href: &Href,
        item: &Item,
        etag: &Etag,
    ) -> Result<Etag>;

    /// Deletes the item at `href` if it is still at `etag`.
    async fn delete(&self, collection: &Collection, href: &Href, etag: &Etag) -> Result<()>;

    /// The href [`upload`](Storage::upload) would choose for this UID, for backends whose
    /// hrefs are derived from UIDs (`repair` renames items that deviate). `None`: the backend
    /// has no such rule.
    fn preferred_href(&self, uid: &str) -> Option<Href> {
        let _ = uid;
        None
    }

    /// The href, in the form this backend's listings give it, of the member at `href` (for
    /// example one [`preferred_href`](Storage::preferred_href) named): a DAV collection lists
    /// absolute paths where the preferred href is a bare file name. What the engine records
    /// must be the listed form, or the next listing shows the item twice. Default: as it is.
    fn listed_href(&self, collection: &Collection, href: &Href) -> Href {
        let _ = collection;
        href.clone()
    }

    /// Incremental listing: what changed since `since` (`None`: since ever). `Ok(None)` means
    /// the backend has no such capability and the engine must call [`list`](Storage::list).
    async fn changes(
        &self,
        collection: &Collection,
        since: Option<&CollectionToken>,
    ) -> Result<Option<Changes>> {
        let _ = (collection, since);
        Ok(None)
    }

    /// Reads the whole collection (hrefs, etags and bodies) in the cheapest way the backend
    /// has, for an initial sync. `Ok(None)`: no cheaper way than `list` + `get_many`.
    async fn get_all(&self, collection: &Collection) -> Result<Option<Vec<Fetched>>> {
        let _ = collection;
        Ok(None)
    }

    /// Makes every write this storage has acknowledged so far durable, so that it survives a
    /// power loss. The engine calls it before it records those writes in the status: the
    /// status must never know of a write the disk could still lose. A backend whose writes
    /// are durable when they return (a server's `2xx`) keeps this default; the vdir defers
    /// its syncs to here so that one file-system sync covers a whole batch of files.
    async fn flush(&self) -> Result<()> {
        Ok(())
    }

    /// [`get_all`](Storage::get_all) handing each item to `sink` as soon as it is read, so a
    /// caller can act on the first items while the rest arrive, and need not hold them all.
    /// `Ok(false)`: no cheaper way than `list` + `get_many` (or the answer broke off: the
    /// items already sent are real, the caller reads the collection another way). The
    /// default sends what [`get_all`](Storage::get_all) returns.
    async fn get_all_into(
        &self,
        collection: &Collection,
        sink: tokio::sync::mpsc::Sender<Fetched>,
    ) -> Result<bool> {
        match self.get_all(collection).await? {
            Some(all) => {
                for f in all {
                    if sink.send(f).await.is_err() {
                        break;
                    }
                }
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// A collection property, `None` when unset.
    async fn get_meta(&self, collection: &Collection, key: MetaKey) -> Result<Option<String>> {
        let _ = (collection, key);
        Ok(None)
    }

    /// Sets (or with `None` removes) a collection property.
    async fn set_meta(
        &self,
        collection: &Collection,
        key: MetaKey,
        value: Option<&str>,
    ) -> Result<()> {
        let _ = (collection, key, value);
        Err(Error::new(
            ErrorKind::Unsupported,
            format!("setting {}", key.as_str()),
        ))
    }
}

/// Convenience: forward the trait through `Arc` so wrappers can hold `Arc<dyn Storage>`.
pub type SharedStorage = Arc<dyn Storage>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_tokens_come_back_from_their_text_as_they_went_in() {
        for token in [
            CollectionToken::sync("http://radicale.org/ns/sync/3f2a"),
            CollectionToken::sync("data:,17"),
            CollectionToken::sync("42"),
            CollectionToken::sync(""),
            CollectionToken::ctag("\"c1\""),
            CollectionToken::ctag("http://sabre.io/ns/sync/17"),
            CollectionToken::ctag("ctag:nested"),
            CollectionToken::ctag(""),
            CollectionToken::SyncWithCtag {
                sync: SyncToken("http://radicale.org/ns/sync/3f2a".into()),
                ctag: Ctag("\"3f:2a\"".into()),
            },
            CollectionToken::SyncWithCtag {
                sync: SyncToken(String::new()),
                ctag: Ctag("é:1".into()),
            },
        ] {
            assert_eq!(CollectionToken::from_text(token.to_text()), token);
        }
    }

    #[test]
    fn the_text_of_a_ctag_is_the_form_statuses_already_hold() {
        assert_eq!(CollectionToken::ctag("\"c1\"").to_text(), "ctag:\"c1\"");
        assert_eq!(
            CollectionToken::from_text("ctag:\"c1\""),
            CollectionToken::Ctag(Ctag("\"c1\"".into()))
        );
        assert_eq!(
            CollectionToken::from_text("http://example.com/sync/3"),
            CollectionToken::Sync(SyncToken("http://example.com/sync/3".into()))
        );
    }

    #[test]
    fn a_damaged_sync_and_ctag_text_is_never_trusted_as_a_ctag() {
        // A length past the end, or no length: kept whole as a sync token, which the server
        // refuses, so the collection is listed again rather than called unchanged.
        for text in [
            "ctag+sync:99:\"c\"tok",
            "ctag+sync:\"c\"tok",
            "ctag+sync:x:",
        ] {
            assert_eq!(
                CollectionToken::from_text(text),
                CollectionToken::Sync(SyncToken(text.into()))
            );
        }
        assert_eq!(
            CollectionToken::from_text("ctag+sync:3:\"c\"tok"),
            CollectionToken::SyncWithCtag {
                sync: SyncToken("tok".into()),
                ctag: Ctag("\"c\"".into())
            }
        );
    }
}
