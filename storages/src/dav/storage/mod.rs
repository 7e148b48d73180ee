//! [`DavStorage`]: the [`Storage`] contract over CalDAV/CardDAV.
//!
//! This module holds the storage's configuration and state; each part of the contract lives
//! in the submodule of its concern (see the `impl Storage` below).

mod changes;
mod collection;
mod list;
mod read;
mod write;

pub(crate) use changes::sync_token_property_is_expensive;

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, OnceCell};
use url::Url;

use super::discovery::{ListedTokens, SharedListings};
use super::proto::{self, Component, ProtoError};
use crate::error::{Error, ErrorKind, Result};
use crate::item::{Item, ItemKind};
use crate::net::{Client, Request, Response, TransportOptions};
use crate::remember::Remember;
use crate::storage::{
    Changes, Collection, CollectionToken, Etag, Fetched, Href, ItemRef, MetaKey, Storage,
};

/// Hrefs per multiget REPORT: large enough to amortize the round trip, small enough that
/// one answer stays far below the response size cap and no server's match limit is near
/// (measured against Radicale and Xandikos: docs/performance-servers.md). A server that
/// refuses a batch makes it smaller for the rest of the run.
pub const DEFAULT_MULTIGET_BATCH: usize = 100;

/// Etags davsync makes up for items the server lists without one: a hash of the body.
/// The prefix can never start a server etag (those are quoted), so it is recognized before
/// any conditional write.
const HASH_ETAG_PREFIX: &str = "davsync-sha256:";

/// Configuration of a `caldav` or `carddav` storage.
#[derive(Debug, Clone)]
pub struct DavOptions {
    pub transport: TransportOptions,
    /// `caldav` = [`ItemKind::Calendar`], `carddav` = [`ItemKind::Contacts`].
    pub kind: ItemKind,
    /// Only items overlapping `[start, end)` are listed (CalDAV time-range filter).
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    /// Only these components (`VEVENT`, `VTODO`, `VJOURNAL`) are listed; empty = all.
    pub item_types: Vec<String>,
    /// Hrefs per multiget REPORT.
    pub multiget_batch: usize,
    /// Probe once, before the first update or delete, whether the server enforces
    /// `If-Match` / `If-None-Match`, and check etags itself where it does not (see
    /// `dav::guard`). Off only where a test's mock server does not model the probe.
    pub verify_preconditions: bool,
    /// Home-set listings shared with the other DAV storages of the run (one per process).
    pub listings: Option<Arc<SharedListings>>,
}

impl DavOptions {
    pub fn new(transport: TransportOptions, kind: ItemKind) -> Self {
        DavOptions {
            transport,
            kind,
            start: None,
            end: None,
            item_types: Vec::new(),
            multiget_batch: DEFAULT_MULTIGET_BATCH,
            verify_preconditions: true,
            listings: None,
        }
    }
}

/// A CalDAV or CardDAV server, one [`Client`] (connection pool, auth state) per storage.
#[derive(Debug)]
pub struct DavStorage {
    client: Client,
    kind: ItemKind,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    components: Vec<Component>,
    /// Hrefs per multiget; lowered for the rest of the run when the server refuses a batch.
    batch: AtomicUsize,
    /// Multiget batches in flight at once.
    parallel: usize,
    /// The configured URL with a trailing slash: the root collection and discovery start.
    root: Url,
    /// Home sets found by the first discovery, reused by `create_collection`.
    homes: OnceCell<Vec<Url>>,
    /// Whether the server enforces preconditions: probed once, `None` when not asked to.
    pub(super) preconditions: Option<OnceCell<super::guard::Preconditions>>,
    /// The user name, for the keys of what is remembered and shared (never the password).
    account: String,
    /// Where discovery is kept between runs.
    remember: Option<Arc<dyn Remember>>,
    listings: Option<Arc<SharedListings>>,
    /// Change tokens the last home-set listing carried, by collection URL; each is used once
    /// by `changes`, which then needs no request for an unchanged collection.
    listed: Mutex<HashMap<String, ListedTokens>>,
    /// What each calendar takes, checked before an upload (`dav::accepts`).
    accepted: super::accepts::Accepted,
}

/// The file name an item with this UID gets on upload (also `preferred_href`): the UID itself
/// when it is safe on every server (RFC 3986 unreserved characters only, no leading dot, at
/// most 200 bytes), otherwise the hex SHA-256 of the UID; then `ext`.
pub fn item_file_name(uid: &str, ext: &str) -> String {
    let safe = !uid.is_empty()
        && uid.len() <= 200
        && !uid.starts_with('.')
        && uid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if safe {
        format!("{uid}{ext}")
    } else {
        format!("{}{ext}", hex::encode(Sha256::digest(uid.as_bytes())))
    }
}

/// The etag for a body the server gave without one.
fn hash_etag(body: &[u8]) -> Etag {
    Etag(format!(
        "{HASH_ETAG_PREFIX}{}",
        hex::encode(Sha256::digest(body))
    ))
}

fn is_hash_etag(etag: &Etag) -> bool {
    etag.as_str().starts_with(HASH_ETAG_PREFIX)
}

/// An answer whose body is not what the protocol promised: names the request, URL and
/// status; the parser's reason is the source.
fn invalid(resp: &Response, err: ProtoError) -> Error {
    Error::new(ErrorKind::InvalidData, resp.describe()).with_source(err)
}

/// Adds the trailing slash a collection URL needs for relative joins.
pub(super) fn as_collection_url(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let p = format!("{}/", url.path());
        url.set_path(&p);
    }
    url.set_query(None);
    url.set_fragment(None);
    url
}

impl DavStorage {
    pub fn new(opts: DavOptions) -> Result<DavStorage> {
        let client = Client::new(&opts.transport)?;
        let mut components = Vec::new();
        for t in &opts.item_types {
            let c = Component::parse(t).ok_or_else(|| {
                Error::new(
                    ErrorKind::Config,
                    format!("item_types: unknown component {t:?} (use VEVENT, VTODO or VJOURNAL)"),
                )
            })?;
            if !components.contains(&c) {
                components.push(c);
            }
        }
        if opts.kind == ItemKind::Contacts
            && (!components.is_empty() || opts.start.is_some() || opts.end.is_some())
        {
            return Err(Error::new(
                ErrorKind::Config,
                "item_types, start_date and end_date apply to caldav storages only",
            ));
        }
        if let (Some(s), Some(e)) = (opts.start, opts.end) {
            if s >= e {
                return Err(Error::new(
                    ErrorKind::Config,
                    "start_date must be before end_date",
                ));
            }
        }
        let root = as_collection_url(client.base_url().clone());
        let account = opts
            .transport
            .username
            .clone()
            .unwrap_or_else(|| opts.transport.url.username().to_owned());
        Ok(DavStorage {
            client,
            kind: opts.kind,
            start: opts.start,
            end: opts.end,
            components,
            batch: AtomicUsize::new(opts.multiget_batch.max(1)),
            parallel: opts.transport.max_connections.max(1),
            root,
            homes: OnceCell::new(),
            preconditions: opts.verify_preconditions.then(OnceCell::new),
            account,
            remember: opts.transport.remember.clone(),
            listings: opts.listings.clone(),
            listed: Mutex::new(HashMap::new()),
            accepted: Default::default(),
        })
    }

    pub(super) fn ext(&self) -> &'static str {
        match self.kind {
            ItemKind::Calendar => ".ics",
            ItemKind::Contacts => ".vcf",
        }
    }

    pub(super) fn content_type(&self) -> &'static str {
        match self.kind {
            ItemKind::Calendar => "text/calendar; charset=utf-8",
            ItemKind::Contacts => "text/vcard; charset=utf-8",
        }
    }

    /// True when listing must go through calendar-query filters rather than PROPFIND.
    fn filtered(&self) -> bool {
        self.kind == ItemKind::Calendar
            && (self.start.is_some() || self.end.is_some() || !self.components.is_empty())
    }

    fn query_components(&self) -> Vec<Component> {
        if self.components.is_empty() {
            vec![Component::Event, Component::Todo, Component::Journal]
        } else {
            self.components.clone()
        }
    }

    fn collection_url(&self, collection: &Collection) -> Result<Url> {
        let url = Url::parse(&collection.href).map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!("collection {:?} is not a URL", collection.href),
            )
            .with_source(e)
        })?;
        Ok(as_collection_url(url))
    }

    fn item_url(&self, collection: &Url, href: &Href) -> Result<Url> {
        collection.join(href.as_str()).map_err(|e| {
            Error::new(ErrorKind::InvalidData, format!("invalid href {href}")).with_source(e)
        })
    }

    pub(super) fn client(&self) -> &Client {
        &self.client
    }

    pub(super) fn kind(&self) -> ItemKind {
        self.kind
    }

    /// The home sets the last discovery found.
    pub(super) fn homes_found(&self) -> Vec<Url> {
        self.homes.get().cloned().unwrap_or_default()
    }

    pub(super) fn root(&self) -> &Url {
        &self.root
    }

    pub(super) fn account(&self) -> &str {
        &self.account
    }

    pub(super) fn remember(&self) -> Option<&dyn Remember> {
        self.remember.as_deref()
    }

    pub(super) fn listings(&self) -> Option<&SharedListings> {
        self.listings.as_deref()
    }

    /// True when `changes` compares change tokens (filtered storages list instead), so
    /// listings are worth asking them.
    pub(super) fn compares_tokens(&self) -> bool {
        !self.filtered()
    }

    /// The configured `item_types` (empty: all).
    pub(super) fn components(&self) -> &[Component] {
        &self.components
    }

    /// Sends one request built by [`proto`].
    pub(super) async fn dav(&self, url: &Url, req: proto::DavRequest) -> Result<Response> {
        let mut r = Request::dav(req.method, url.clone());
        // An empty body goes without a Content-Type: an XML type on nothing is a parse error
        // to some servers.
        if !req.body.is_empty() {
            r = r.xml(req.body);
        }
        if let Some(depth) = req.depth {
            r = r.depth(depth);
        }
        self.client.send(&r).await
    }
}

/// The contract, each part implemented where its concern lives: `collection` (discovery,
/// creating and deleting collections, metadata), `list` (hrefs and etags), `read` (multiget,
/// GET, whole-collection queries), `changes` (sync-collection, getctag), `write` (conditional
/// PUT and DELETE).
#[async_trait]
impl Storage for DavStorage {
    fn item_kind(&self) -> ItemKind {
        self.kind
    }

    async fn root_collection(&self) -> Result<Collection> {
        Ok(Collection {
            href: self.root.to_string(),
            name: String::new(),
        })
    }

    async fn discover(&self) -> Result<Vec<Collection>> {
        self.discover_collections().await
    }

    async fn create_collection(&self, name: &str) -> Result<Collection> {
        self.create_in_home(name).await
    }

    async fn delete_collection(&self, collection: &Collection) -> Result<()> {
        self.remove_collection(collection).await
    }

    async fn list(&self, collection: &Collection) -> Result<Vec<ItemRef>> {
        self.list_items(collection).await
    }

    async fn get_many(&self, collection: &Collection, hrefs: &[Href]) -> Result<Vec<Fetched>> {
        self.read_many(collection, hrefs).await
    }

    async fn get_all(&self, collection: &Collection) -> Result<Option<Vec<Fetched>>> {
        self.read_all(collection).await
    }

    async fn get_all_into(
        &self,
        collection: &Collection,
        sink: mpsc::Sender<Fetched>,
    ) -> Result<bool> {
        self.read_all_into(collection, sink).await
    }

    async fn changes(
        &self,
        collection: &Collection,
        since: Option<&CollectionToken>,
    ) -> Result<Option<Changes>> {
        self.changes_of(collection, since).await
    }

    async fn upload(&self, collection: &Collection, item: &Item) -> Result<(Href, Etag)> {
        self.upload_item(collection, item).await
    }

    async fn update(
        &self,
        collection: &Collection,
        href: &Href,
        item: &Item,
        etag: &Etag,
    ) -> Result<Etag> {
        self.update_item(collection, href, item, etag).await
    }

    async fn delete(&self, collection: &Collection, href: &Href, etag: &Etag) -> Result<()> {
        self.delete_item(collection, href, etag).await
    }

    fn preferred_href(&self, uid: &str) -> Option<Href> {
        Some(Href(item_file_name(uid, self.ext())))
    }

    fn listed_href(&self, collection: &Collection, href: &Href) -> Href {
        match self.collection_url(collection) {
            Ok(url) => Href(read::member_path(&url, href)),
            Err(_) => href.clone(),
        }
    }

    async fn get_meta(&self, collection: &Collection, key: MetaKey) -> Result<Option<String>> {
        self.read_meta(collection, key).await
    }

    async fn set_meta(
        &self,
        collection: &Collection,
        key: MetaKey,
        value: Option<&str>,
    ) -> Result<()> {
        self.write_meta(collection, key, value).await
    }
}

#[cfg(test)]
mod tests;
