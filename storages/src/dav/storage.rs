//! [`DavStorage`]: the [`Storage`] contract over CalDAV/CardDAV.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use reqwest::header::{HeaderName, IF_MATCH, IF_NONE_MATCH};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, OnceCell};
use url::Url;

use super::discovery::{self, ListedTokens, SharedListings};
use super::proto::{self, CalendarQuery, Component, ItemFailure, ListEntry, MetaProp, ProtoError};
use crate::error::{Error, ErrorKind, Result};
use crate::item::{Item, ItemKind};
use crate::net::{self, Client, Request, Response, Target, TransportOptions};
use crate::remember::Remember;
use crate::storage::{
    Changes, Collection, Etag, Fetched, Href, ItemRef, MetaKey, Storage, SyncToken,
};

/// Hrefs per multiget REPORT: large enough to amortize the round trip, small enough that
/// one answer stays far below the response size cap and no server's match limit is near
/// (measured against Radicale and Xandikos: docs/performance-servers.md). A server that
/// refuses a batch makes it smaller for the rest of the run.
pub const DEFAULT_MULTIGET_BATCH: usize = 100;

/// Body chunks received and not parsed yet, per whole-collection answer.
const CHUNKS_IN_FLIGHT: usize = 8;
/// Items parsed and not taken by the caller yet.
const ITEMS_IN_FLIGHT: usize = 64;

/// Parses one item of a whole-collection answer and passes it on, once per href; `false`
/// when the receiver is gone.
async fn hand_out(
    kind: ItemKind,
    d: proto::ItemData,
    sink: &mpsc::Sender<Fetched>,
    seen: &mut HashSet<String>,
) -> bool {
    if super::guard::is_probe_href(&d.href) || !seen.insert(d.href.clone()) {
        return true;
    }
    let href = Href(d.href);
    let r = item_result(kind, &href, d.result);
    sink.send((href, r)).await.is_ok()
}

/// Sync-token prefixes of servers that compute the `sync-token` property as expensively as
/// a whole sync-collection answer, so a pre-check would only double a no-op's cost.
/// Radicale 3 hashes every item of the collection for either (0.7 s per 5,000 items on the
/// reference machine); Xandikos answers the property in 3 to 5 ms against 90 to 100 ms for
/// the REPORT.
const EXPENSIVE_SYNC_TOKEN_PROPERTY: &[&str] = &["http://radicale.org/ns/sync/"];

/// One href of a multiget: its etag and body, or why it alone could not be read.
type RawRead = std::result::Result<(Etag, Vec<u8>), ReadFailure>;

/// Why one href could not be read.
#[derive(Debug)]
enum ReadFailure {
    /// The server's answer for this href (a status, no data).
    Item(ItemFailure),
    /// The request for this href alone failed (timeout, 5xx after the retries).
    Request(Error),
}

/// A multiget answer that says "too much at once" rather than "no": the batch is split.
/// 403 is Google's `number-of-matches-within-limits`; 413, 500 and 507 are what servers
/// answer to a body or result set they will not handle.
fn batch_too_large(status: u16) -> bool {
    matches!(status, 403 | 413 | 500 | 507)
}

/// Etags davsync makes up for items the server lists without one: a hash of the body.
/// The prefix can never start a server etag (those are quoted), so it is recognized before
/// any conditional write.
const HASH_ETAG_PREFIX: &str = "davsync-sha256:";

/// The etag of a member listed without one whose body could not be read to hash it.
const UNREADABLE_ETAG: &str = "davsync-unreadable";

/// Marks a stored token as a CalendarServer `getctag` rather than an RFC 6578 sync token:
/// the server answered sync-collection with "not supported" when it was made, so the next
/// sync asks for the ctag alone and sends no REPORT. Sync tokens are URIs that no server
/// starts with this scheme.
const CTAG_TOKEN_PREFIX: &str = "ctag:";

/// Upper bound on sync-collection pages followed in one call (a server that keeps
/// truncating would otherwise loop forever).
const MAX_SYNC_PAGES: usize = 1000;

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

    /// The token the home-set listing gave for this collection, in the form `changes` stores
    /// (`ctag:` prefixed when `since` is one), taken once: `None` when the listing had none.
    fn listed_token(&self, url: &Url, since: &SyncToken) -> Option<String> {
        let listed = self
            .listed
            .lock()
            .expect("listed tokens poisoned")
            .remove(url.as_str())?;
        match since.as_str().strip_prefix(CTAG_TOKEN_PREFIX) {
            Some(_) => listed.ctag.map(|c| format!("{CTAG_TOKEN_PREFIX}{c}")),
            None => listed.sync_token,
        }
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

    /// The members of a collection that are items of our kind, etags as the server sent them.
    async fn list_entries(&self, url: &Url) -> Result<Vec<ListEntry>> {
        let mut entries: Vec<ListEntry> = Vec::new();
        if self.filtered() {
            let mut seen = HashSet::new();
            for component in self.query_components() {
                let query = CalendarQuery {
                    component,
                    start: self.start,
                    end: self.end,
                    with_data: false,
                };
                let resp = self
                    .dav(url, proto::calendar_query_request(&query))
                    .await?
                    .ok(Target::Collection)?;
                for e in proto::parse_list(&resp.body, &resp.url).map_err(|e| invalid(&resp, e))? {
                    if seen.insert(e.href.clone()) {
                        entries.push(e);
                    }
                }
            }
        } else {
            let resp = self
                .dav(url, proto::list_request())
                .await?
                .ok(Target::Collection)?;
            entries = proto::parse_list(&resp.body, &resp.url).map_err(|e| invalid(&resp, e))?;
        }
        entries.retain(|e| e.is_item_for(self.kind));
        // One entry per href: DavMail (Exchange) lists some twice in one answer.
        let mut once = HashSet::new();
        entries.retain(|e| once.insert(e.href.clone()));
        self.drop_probe_items(url, &mut entries).await;
        Ok(entries)
    }

    /// Turns listed entries into [`ItemRef`]s; entries without an etag are read and get the
    /// hash of their body (an entry gone by then is dropped: it is gone).
    async fn complete_etags(&self, url: &Url, entries: Vec<ListEntry>) -> Result<Vec<ItemRef>> {
        let missing: Vec<Href> = entries
            .iter()
            .filter(|e| e.etag.is_none())
            .map(|e| Href(e.href.clone()))
            .collect();
        let mut fetched = if missing.is_empty() {
            HashMap::new()
        } else {
            tracing::debug!(
                collection = %url,
                count = missing.len(),
                "listing without etags: reading the items to hash them"
            );
            self.multiget_raw(url, &missing).await?
        };
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            let etag = match e.etag {
                Some(etag) => Etag(etag),
                None => match fetched.remove(&e.href) {
                    Some(Ok((etag, _))) => etag,
                    // Deleted since it was listed: really gone.
                    Some(Err(ReadFailure::Item(ItemFailure::Status(404 | 410)))) => continue,
                    // Unreadable for now: it stays listed (leaving it out would read as a
                    // deletion) under an etag no read ever returns, so the engine reads it
                    // and that item alone fails.
                    Some(Err(_)) | None => Etag(UNREADABLE_ETAG.to_owned()),
                },
            };
            out.push(ItemRef {
                href: Href(e.href),
                etag,
            });
        }
        Ok(out)
    }

    /// Multiget in batches, up to `parallel` at once: canonical href -> (etag, body) or why
    /// not.
    async fn multiget_raw(&self, url: &Url, hrefs: &[Href]) -> Result<HashMap<String, RawRead>> {
        let paths: Vec<String> = hrefs.iter().map(|h| member_path(url, h)).collect();
        let size = self.batch.load(Ordering::Relaxed);
        let chunks: Vec<Vec<String>> = paths.chunks(size).map(<[String]>::to_vec).collect();
        let mut batches = futures::stream::iter(chunks)
            .map(|c| self.multiget_batch(url, c))
            .buffer_unordered(self.parallel);
        let mut out = HashMap::with_capacity(paths.len());
        while let Some(r) = batches.next().await {
            out.extend(r?);
        }
        Ok(out)
    }

    /// One batch. A batch the server finds too large (or that times out) is split in two and
    /// the halves retried, and the smaller size is kept for the rest of the run; a single
    /// href that still fails is read with a GET and fails alone. Falls back to one GET per
    /// href when the server refuses the REPORT itself.
    async fn multiget_batch(
        &self,
        url: &Url,
        paths: Vec<String>,
    ) -> Result<HashMap<String, RawRead>> {
        let mut out = HashMap::with_capacity(paths.len());
        let mut queue = vec![paths];
        // The largest batch the server answered after refusing a larger one: the size kept
        // for the rest of the run (not the smallest, since a single bad href also splits
        // down to 1).
        let mut refused = false;
        let mut largest_ok = 0;
        while let Some(batch) = queue.pop() {
            let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
            let req = proto::multiget_request(self.kind, &refs);
            let mut r = Request::dav(req.method, url.clone()).xml(req.body);
            if let Some(depth) = req.depth {
                r = r.depth(depth);
            }
            let sent = if batch.len() > 1 {
                self.send_once_unless_busy(r).await
            } else {
                self.client.send(&r).await
            };
            let split = match sent {
                Ok(resp) if resp.is_success() => {
                    let asked = proto::AskedHrefs::new(&batch);
                    proto::parse_items(self.kind, &resp.body, &resp.url, |d| {
                        let r = d
                            .result
                            .map(|(etag, body)| {
                                let etag = etag.map(Etag).unwrap_or_else(|| hash_etag(&body));
                                (etag, body)
                            })
                            .map_err(ReadFailure::Item);
                        out.insert(asked.resolve(d.href), r);
                    })
                    .map_err(|e| invalid(&resp, e))?;
                    largest_ok = largest_ok.max(batch.len());
                    // An href the answer leaves out is neither read nor known to be gone: ask
                    // for it alone, so "not found" is only ever the server's word.
                    for path in &batch {
                        if !out.contains_key(path) {
                            let r = self.get_alone(url, path).await?;
                            out.insert(path.clone(), r);
                        }
                    }
                    false
                }
                Ok(resp)
                    if matches!(
                        resp.status.as_u16(),
                        400 | 404 | 405 | 409 | 415 | 422 | 501
                    ) =>
                {
                    tracing::debug!(
                        "{}: multiget refused, reading {} items one by one",
                        resp.describe(),
                        batch.len()
                    );
                    for path in &batch {
                        let r = self.get_alone(url, path).await?;
                        out.insert(path.clone(), r);
                    }
                    false
                }
                // Still rate limited after the retries: splitting would only ask more.
                Ok(resp) if net::is_rate_limited(resp.status, &resp.body) => {
                    return Err(resp.error(Target::Collection))
                }
                Ok(resp) if batch.len() > 1 && batch_too_large(resp.status.as_u16()) => {
                    tracing::debug!(
                        "{}: splitting the batch of {}",
                        resp.describe(),
                        batch.len()
                    );
                    true
                }
                Ok(resp) if batch.len() == 1 && batch_too_large(resp.status.as_u16()) => {
                    tracing::debug!("{}: reading {} alone", resp.describe(), batch[0]);
                    let r = self.get_alone(url, &batch[0]).await?;
                    out.insert(batch[0].clone(), r);
                    false
                }
                Ok(resp) => return Err(resp.error(Target::Collection)),
                Err(e) if net::is_timeout(&e) && batch.len() > 1 => {
                    tracing::debug!("{e}; splitting the batch of {}", batch.len());
                    true
                }
                Err(e) if net::is_timeout(&e) => {
                    let r = self.get_alone(url, &batch[0]).await?;
                    out.insert(batch[0].clone(), r);
                    false
                }
                Err(e) => return Err(e),
            };
            if split {
                refused = true;
                let half = batch.len().div_ceil(2);
                let mut first = batch;
                let second = first.split_off(half);
                queue.push(second);
                queue.push(first);
            }
        }
        if refused && largest_ok > 0 {
            let was = self.batch.fetch_min(largest_ok, Ordering::Relaxed);
            if largest_ok < was {
                tracing::info!("{url}: multiget batches of {largest_ok} from now on");
            }
        }
        Ok(out)
    }

    /// Sends a request whose failure has a better answer than sending it again (a batch is
    /// split, a whole-collection query falls back to batches): no retry, but for a server
    /// that says it is busy, which gets the usual retries with backoff.
    async fn send_once_unless_busy(&self, r: Request) -> Result<Response> {
        let resp = self.client.send(&r.clone().attempts(1)).await?;
        if matches!(resp.status.as_u16(), 502..=504)
            || net::is_rate_limited(resp.status, &resp.body)
        {
            return self.client.send(&r).await;
        }
        Ok(resp)
    }

    /// One href read with a GET, its failure kept to itself (but for credentials, which fail
    /// every request alike).
    async fn get_alone(&self, url: &Url, path: &str) -> Result<RawRead> {
        match self.get_raw(url, &Href(path.to_owned())).await {
            Ok(r) => Ok(r.map_err(ReadFailure::Item)),
            Err(e) if e.kind() == ErrorKind::Auth => Err(e),
            Err(e) => Ok(Err(ReadFailure::Request(e))),
        }
    }

    /// One GET: (etag, body), the etag from the header or the body's hash.
    async fn get_raw(
        &self,
        collection: &Url,
        href: &Href,
    ) -> Result<std::result::Result<(Etag, Vec<u8>), ItemFailure>> {
        let url = self.item_url(collection, href)?;
        let resp = self
            .client
            .send(&Request::new(net::Method::GET, url))
            .await?;
        if !resp.is_success() {
            return match resp.status.as_u16() {
                401 | 500..=599 => Err(resp.error(Target::ItemRead)),
                s => Ok(Err(ItemFailure::Status(s))),
            };
        }
        let etag = resp
            .etag()
            .map(|e| Etag(e.to_owned()))
            .unwrap_or_else(|| hash_etag(&resp.body));
        Ok(Ok((etag, resp.body.to_vec())))
    }

    /// The `If-Match` value for a stored etag. A weak etag is sent as its strong form (a proxy
    /// may have weakened it; if the server's comparison fails, the 412 is reported, never
    /// overridden). A hash etag (the server gave none) is checked against a fresh GET and
    /// replaced by that response's `ETag`; without one there is no safe conditional write.
    async fn if_match(&self, url: &Url, etag: &Etag, what: &str) -> Result<String> {
        if is_hash_etag(etag) {
            let resp = self
                .client
                .send(&Request::new(net::Method::GET, url.clone()))
                .await?
                .ok(Target::ItemRead)
                .map_err(|e| prefixed(e, what))?;
            if hash_etag(&resp.body) != *etag {
                return Err(Error::new(
                    ErrorKind::PreconditionFailed,
                    format!("{what}: changed on the server since it was listed"),
                ));
            }
            let Some(real) = resp.etag() else {
                return Err(Error::new(
                    ErrorKind::Refused,
                    format!(
                        "{what}: the server gives no etag for it, so it cannot be written \
                         without risking a concurrent change"
                    ),
                ));
            };
            return strong(real, what);
        }
        strong(etag.as_str(), what)
    }

    /// The etag of what a PUT just stored: the response's `ETag`, else a PROPFIND Depth 0,
    /// else a GET (header, or the hash of the body as a listing would give).
    async fn etag_after_write(&self, url: &Url, resp: &Response) -> Result<Etag> {
        if let Some(e) = resp.etag() {
            return Ok(Etag(e.to_owned()));
        }
        let req = proto::list_request();
        let r = Request::dav(req.method, url.clone())
            .depth("0")
            .xml(req.body);
        let pf = self.client.send(&r).await?;
        if pf.status.as_u16() == 207 {
            if let Ok(entries) = proto::parse_list(&pf.body, &pf.url) {
                if let Some(etag) = entries.into_iter().find_map(|e| e.etag) {
                    return Ok(Etag(etag));
                }
            }
        }
        let href = Href(proto::canonical_path(url.path()));
        match self.get_raw(url, &href).await? {
            Ok((etag, _)) => Ok(etag),
            Err(f) => Err(Error::new(
                ErrorKind::InvalidData,
                format!("{url}: written, but reading its etag back failed ({f:?})"),
            )),
        }
    }

    pub(super) async fn put(
        &self,
        url: &Url,
        item: &Item,
        condition: (HeaderName, &str),
    ) -> Result<Response> {
        let req = Request::new(net::Method::PUT, url.clone())
            .body(self.content_type(), item.raw().to_vec())
            .header(condition.0, condition.1)?;
        self.client.send(&req).await
    }

    /// A calendar-query/addressbook-query with data, each item handed to `sink` as soon as
    /// its `<response>` has arrived; `false` when the server refuses the query (or its
    /// answer breaks off: then the items already handed out stand, and the caller reads the
    /// rest another way).
    async fn query_with_data(
        &self,
        url: &Url,
        req: proto::DavRequest,
        sink: &mpsc::Sender<Fetched>,
        seen: &mut HashSet<String>,
    ) -> Result<bool> {
        let mut r = Request::dav(req.method, url.clone()).xml(req.body);
        if let Some(depth) = req.depth {
            r = r.depth(depth);
        }
        let kind = self.kind;
        let (chunks_tx, mut chunks) = mpsc::channel::<(Url, bytes::Bytes)>(CHUNKS_IN_FLIGHT);
        let send = async move { self.send_once_unless_busy(r.sink(chunks_tx)).await };
        let parse = async {
            let mut stream: Option<proto::ItemsStream> = None;
            let mut ready = Vec::new();
            while let Some((base, chunk)) = chunks.recv().await {
                let stream =
                    stream.get_or_insert_with(|| proto::ItemsStream::new(kind, base.clone()));
                if let Err(e) = stream.feed(&chunk, |d| ready.push(d)) {
                    // Closing the channel stops the transfer.
                    return (None, Some(e));
                }
                for d in ready.drain(..) {
                    if !hand_out(kind, d, sink, seen).await {
                        return (None, None);
                    }
                }
            }
            (stream, None)
        };
        let (sent, (stream, parse_error)) = futures::join!(send, parse);
        let resp = match sent {
            Ok(resp) => resp,
            // Too large (or cut short, or too slow) for one answer: the engine's list +
            // batched multiget reads the same items in bounded pieces.
            Err(e) if e.kind() == ErrorKind::InvalidData || net::is_timeout(&e) => {
                match &parse_error {
                    Some(pe) => {
                        tracing::debug!("{e}: {pe}; reading the collection in batches instead")
                    }
                    None => tracing::debug!("{e}; reading the collection in batches instead"),
                }
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        if !resp.is_success() {
            if matches!(
                resp.status.as_u16(),
                400 | 403 | 405 | 413 | 415 | 422 | 500 | 501 | 507
            ) {
                tracing::debug!("{}: query refused, listing instead", resp.describe());
                return Ok(false);
            }
            return Err(resp.error(Target::Collection));
        }
        let stream = stream.unwrap_or_else(|| proto::ItemsStream::new(kind, resp.url.clone()));
        let mut ready = Vec::new();
        if let Err(e) = stream.finish(|d| ready.push(d)) {
            // Cut short or damaged: batched reads get the same items in smaller answers and
            // tell which ones are really broken.
            let e = invalid(&resp, e);
            tracing::debug!("{e}; reading the collection in batches instead");
            return Ok(false);
        }
        for d in ready {
            if !hand_out(kind, d, sink, seen).await {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// True when the collection's `sync-token` property still equals `since`: nothing
    /// changed, and the sync-collection REPORT (which makes the server compare its whole
    /// state with the token) can be skipped. Any failure just means "ask the REPORT".
    /// Skipped for servers whose property costs as much as the REPORT itself.
    async fn unchanged_since(&self, url: &Url, since: &SyncToken) -> bool {
        if EXPENSIVE_SYNC_TOKEN_PROPERTY
            .iter()
            .any(|prefix| since.as_str().starts_with(prefix))
        {
            return false;
        }
        matches!(
            self.collection_prop(url, proto::sync_token_request(), proto::parse_sync_token).await,
            Ok(Some(now)) if now == since.as_str()
        )
    }

    /// A failed sync-collection: the getctag way ([`ctag_changes`](Self::ctag_changes)) when
    /// the server does not do RFC 6578, the mapped error otherwise.
    async fn without_sync_collection(&self, url: &Url, resp: Response) -> Result<Option<Changes>> {
        if !sync_collection_unsupported(resp.status.as_u16()) {
            return Err(resp.error(Target::Collection));
        }
        tracing::debug!(
            "{}: no sync-collection, asking for the getctag",
            resp.describe()
        );
        self.ctag_changes(url, None).await
    }

    /// Changes for a server without sync-collection, from the collection's `getctag`: equal
    /// to `since` (the ctag stored last time), nothing changed and nothing more is sent;
    /// otherwise the complete listing, under a token holding the ctag. The ctag is read
    /// before the listing, so a change made while listing moves it past the stored value and
    /// is seen next time. `Ok(None)` (the engine lists) when the collection has no ctag.
    async fn ctag_changes(&self, url: &Url, since: Option<&str>) -> Result<Option<Changes>> {
        let Some(ctag) = self.ctag(url).await? else {
            tracing::debug!(collection = %url, "no getctag either, listing");
            return Ok(None);
        };
        let token = Some(SyncToken(format!("{CTAG_TOKEN_PREFIX}{ctag}")));
        if since == Some(ctag.as_str()) {
            return Ok(Some(Changes {
                token,
                changed: Vec::new(),
                deleted: Vec::new(),
                complete: false,
            }));
        }
        let entries = self.list_entries(url).await?;
        let changed = self.complete_etags(url, entries).await?;
        Ok(Some(Changes {
            token,
            changed,
            deleted: Vec::new(),
            complete: true,
        }))
    }

    /// The collection's `getctag`, `None` when it has none.
    async fn ctag(&self, url: &Url) -> Result<Option<String>> {
        self.collection_prop(url, proto::ctag_request(), proto::parse_ctag)
            .await
    }

    /// One property of the collection (a Depth 0 PROPFIND and its reader), `None` when it
    /// has none. An answer that is not a multistatus carrying it also counts as none: what
    /// the caller asks next says what is wrong with the collection, if anything.
    async fn collection_prop(
        &self,
        url: &Url,
        req: proto::DavRequest,
        read: fn(&[u8], &Url) -> std::result::Result<Option<String>, ProtoError>,
    ) -> Result<Option<String>> {
        let resp = self.dav(url, req).await?;
        if !resp.is_success() {
            tracing::debug!("{}: property not available", resp.describe());
            return Ok(None);
        }
        match read(&resp.body, &resp.url) {
            Ok(value) => Ok(value),
            Err(e) => {
                tracing::debug!("{}: property not readable ({e})", resp.describe());
                Ok(None)
            }
        }
    }

    /// [`Storage::changes`] for an unfiltered collection: nothing sent when the home-set
    /// listing already said the token did not move; otherwise the cheap pre-check (where it
    /// is cheap and the listing did not answer), then sync-collection, or the getctag way.
    async fn changes_at(&self, url: &Url, since: Option<&SyncToken>) -> Result<Option<Changes>> {
        let listed = since.map(|s| (s, self.listed_token(url, s)));
        if let Some((since, Some(now))) = &listed {
            if now == since.as_str() {
                tracing::debug!(collection = %url, "unchanged (per the home-set listing)");
                return Ok(Some(Changes {
                    token: Some((*since).clone()),
                    changed: Vec::new(),
                    deleted: Vec::new(),
                    complete: false,
                }));
            }
        }
        if let Some(ctag) = since.and_then(|t| t.as_str().strip_prefix(CTAG_TOKEN_PREFIX)) {
            return self.ctag_changes(url, Some(ctag)).await;
        }
        if let Some((since, None)) = listed {
            if self.unchanged_since(url, since).await {
                return Ok(Some(Changes {
                    token: Some(since.clone()),
                    changed: Vec::new(),
                    deleted: Vec::new(),
                    complete: false,
                }));
            }
        }
        let mut complete = since.is_none();
        let first = match self.sync_report(url, since.map(SyncToken::as_str)).await? {
            Ok(r) => r,
            Err(resp) => {
                let status = resp.status.as_u16();
                if since.is_some() && proto::is_invalid_sync_token(status, &resp.body) {
                    tracing::debug!(collection = %url, "sync token rejected, listing from scratch");
                    complete = true;
                    match self.sync_report(url, None).await? {
                        Ok(r) => r,
                        Err(resp) => return self.without_sync_collection(url, resp).await,
                    }
                } else {
                    return self.without_sync_collection(url, resp).await;
                }
            }
        };

        if first.token.is_none() && !first.truncated {
            // An answer without a sync-token (Calypso lists everything and gives none) is no
            // way to see changes: the getctag is, when the collection has one.
            tracing::debug!(collection = %url, "sync-collection gave no token, trying the getctag");
            if let Some(changes) = self.ctag_changes(url, None).await? {
                return Ok(Some(changes));
            }
        }

        // By href, the last page's word winning: a full listing of thousands of members
        // must not cost a scan of all the others per member.
        let mut changed: BTreeMap<String, ListEntry> = BTreeMap::new();
        let mut deleted: BTreeSet<String> = BTreeSet::new();
        let mut page = first;
        let mut pages = 1;
        loop {
            for e in page.changed {
                deleted.remove(&e.href);
                changed.remove(&e.href);
                if e.is_item_for(self.kind) {
                    changed.insert(e.href.clone(), e);
                }
            }
            for d in page.deleted {
                changed.remove(&d);
                if !complete {
                    deleted.insert(d);
                }
            }
            let token = page.token.clone();
            if !page.truncated {
                let mut entries: Vec<ListEntry> = changed.into_values().collect();
                self.drop_probe_items(url, &mut entries).await;
                let changed = self.complete_etags(url, entries).await?;
                return Ok(Some(Changes {
                    token: token.map(SyncToken),
                    changed,
                    deleted: deleted.into_iter().map(Href).collect(),
                    complete,
                }));
            }
            let Some(token) = token else {
                return Err(Error::new(
                    ErrorKind::InvalidData,
                    format!("REPORT {url}: truncated sync-collection answer without a sync-token"),
                ));
            };
            pages += 1;
            if pages > MAX_SYNC_PAGES {
                return Err(Error::new(
                    ErrorKind::InvalidData,
                    format!(
                        "REPORT {url}: more than {MAX_SYNC_PAGES} truncated sync-collection pages"
                    ),
                ));
            }
            page = match self.sync_report(url, Some(&token)).await? {
                Ok(r) => r,
                Err(resp) => return Err(resp.error(Target::Collection)),
            };
        }
    }

    /// One sync-collection exchange: `Ok(None)` when the server does not support it.
    async fn sync_report(
        &self,
        url: &Url,
        token: Option<&str>,
    ) -> Result<std::result::Result<proto::SyncResult, Response>> {
        let resp = self
            .dav(url, proto::sync_collection_request(token, None))
            .await?;
        if resp.is_success() {
            let r = proto::parse_sync_collection(&resp.body, &resp.url)
                .map_err(|e| invalid(&resp, e))?;
            return Ok(Ok(r));
        }
        Ok(Err(resp))
    }
}

/// The canonical path of a member href: a relative href (the engine's `preferred_href`, a
/// bare file name) is taken relative to the collection, not to the server root.
fn member_path(collection: &Url, href: &Href) -> String {
    match collection.join(href.as_str()) {
        Ok(u) => proto::canonical_path(u.path()),
        Err(_) => proto::canonical_path(href.as_str()),
    }
}

fn prefixed(e: Error, what: &str) -> Error {
    let kind = e.kind();
    let context = format!("{what}: {}", e.context());
    let label = e.label();
    let out = match std::error::Error::source(&e) {
        Some(_) => Error::new(kind, context).with_source(e),
        None => Error::new(kind, context),
    };
    match label {
        Some(l) => out.labelled(l),
        None => out,
    }
}

fn strong(etag: &str, what: &str) -> Result<String> {
    let t = etag.trim();
    let t = t
        .strip_prefix("W/")
        .or_else(|| t.strip_prefix("w/"))
        .unwrap_or(t);
    proto::if_match_value(t).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidData,
            format!("{what}: etag {etag:?} cannot be sent in If-Match"),
        )
    })
}

/// One item of a multiget/query answer as the engine wants it.
fn item_result(
    kind: ItemKind,
    href: &Href,
    r: std::result::Result<(Option<String>, Vec<u8>), ItemFailure>,
) -> Result<(Item, Etag)> {
    match r {
        Ok((etag, body)) => {
            let etag = etag.map(Etag).unwrap_or_else(|| hash_etag(&body));
            parse_item(kind, href, body).map(|i| (i, etag))
        }
        Err(f) => Err(failure_error(href, f)),
    }
}

fn parse_item(kind: ItemKind, href: &Href, body: Vec<u8>) -> Result<Item> {
    Item::parse(kind, body).map_err(|e| {
        Error::new(ErrorKind::InvalidData, format!("{href}: malformed item")).with_source(e)
    })
}

fn failure_error(href: &Href, f: ItemFailure) -> Error {
    match f {
        ItemFailure::Status(s) => {
            let kind = reqwest::StatusCode::from_u16(s)
                .map(|st| net::status_kind(st, Target::ItemRead))
                .unwrap_or(ErrorKind::InvalidData);
            Error::new(
                kind,
                format!("{href}: the server answered {s} for this item"),
            )
        }
        ItemFailure::NoData => Error::new(
            ErrorKind::InvalidData,
            format!("{href}: the server returned no data for this item"),
        ),
    }
}

fn item_label(item: &Item, href: &str) -> String {
    match item.uid() {
        Some(uid) => format!("item {uid} ({href})"),
        None => format!("item without UID {} ({href})", item.ident()),
    }
}

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
        let found = discovery::discover(self).await?;
        let _ = self.homes.set(found.homes);
        self.accepted.learn(found.components);
        *self.listed.lock().expect("listed tokens poisoned") = found.tokens;
        Ok(found
            .collections
            .into_iter()
            .map(|url| Collection {
                name: proto::href::last_segment(url.path()),
                href: url.to_string(),
            })
            .collect())
    }

    async fn create_collection(&self, name: &str) -> Result<Collection> {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(Error::new(
                ErrorKind::Config,
                format!("collection name {name:?} cannot be a URL path segment"),
            ));
        }
        let homes = self
            .homes
            .get_or_try_init(|| async { discovery::discover(self).await.map(|f| f.homes) })
            .await?;
        let home = homes.first().ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "{}: no home set to create collection {name:?} in",
                    self.root
                ),
            )
        })?;
        let segment = proto::canonical_path(&format!("/{name}/"));
        let url = home.join(segment.trim_start_matches('/')).map_err(|e| {
            Error::new(ErrorKind::Config, format!("collection name {name:?}")).with_source(e)
        })?;
        let req = match self.kind {
            ItemKind::Calendar => proto::mkcalendar_request(None, &self.components),
            ItemKind::Contacts => proto::mkcol_addressbook_request(None),
        };
        let resp = self.dav(&url, req).await?;
        if !resp.is_success() {
            let e = resp.error(Target::Collection);
            let status = resp.status.as_u16();
            let kind = match status {
                405 => ErrorKind::AlreadyExists,
                501 => ErrorKind::Unsupported,
                _ => e.kind(),
            };
            let mut context = format!("creating collection {name:?}: {}", resp.describe());
            if status == 501 {
                context.push_str(&format!(
                    " (the server cannot create {}s; create it there by other means)",
                    kind_name(self.kind)
                ));
            }
            return Err(Error::new(kind, context));
        }
        Ok(Collection {
            href: url.to_string(),
            name: name.to_owned(),
        })
    }

    async fn delete_collection(&self, collection: &Collection) -> Result<()> {
        let url = self.collection_url(collection)?;
        let resp = self
            .client
            .send(&Request::new(net::Method::DELETE, url))
            .await?;
        if resp.is_success() || resp.status.as_u16() == 404 {
            return Ok(());
        }
        Err(resp.error(Target::Collection))
    }

    async fn list(&self, collection: &Collection) -> Result<Vec<ItemRef>> {
        let url = self.collection_url(collection)?;
        let entries = self.list_entries(&url).await?;
        self.complete_etags(&url, entries).await
    }

    async fn get_many(&self, collection: &Collection, hrefs: &[Href]) -> Result<Vec<Fetched>> {
        if hrefs.is_empty() {
            return Ok(Vec::new());
        }
        let url = self.collection_url(collection)?;
        let mut raw = self.multiget_raw(&url, hrefs).await?;
        Ok(hrefs
            .iter()
            .map(|href| {
                let key = member_path(&url, href);
                let r = match raw.remove(&key) {
                    Some(Ok((etag, body))) => parse_item(self.kind, href, body).map(|i| (i, etag)),
                    Some(Err(ReadFailure::Item(f))) => Err(failure_error(href, f)),
                    Some(Err(ReadFailure::Request(e))) => Err(e),
                    None => Err(Error::new(
                        ErrorKind::NotFound,
                        format!("{href}: missing from the server's answer"),
                    )),
                };
                (href.clone(), r)
            })
            .collect())
    }

    async fn get_all(&self, collection: &Collection) -> Result<Option<Vec<Fetched>>> {
        let (tx, mut rx) = mpsc::channel(ITEMS_IN_FLIGHT);
        let mut out = Vec::new();
        let collect = async {
            while let Some(f) = rx.recv().await {
                out.push(f);
            }
        };
        let (whole, ()) = futures::join!(self.get_all_into(collection, tx), collect);
        Ok(whole?.then_some(out))
    }

    async fn get_all_into(
        &self,
        collection: &Collection,
        sink: mpsc::Sender<Fetched>,
    ) -> Result<bool> {
        let url = self.collection_url(collection)?;
        let mut seen = HashSet::new();
        let requests = match self.kind {
            ItemKind::Contacts => vec![proto::addressbook_query_request(true)],
            ItemKind::Calendar if self.filtered() => self
                .query_components()
                .into_iter()
                .map(|component| {
                    proto::calendar_query_request(&CalendarQuery {
                        component,
                        start: self.start,
                        end: self.end,
                        with_data: true,
                    })
                })
                .collect(),
            ItemKind::Calendar => vec![proto::report::calendar_query_all_request(true)],
        };
        for req in requests {
            if !self.query_with_data(&url, req, &sink, &mut seen).await? {
                return Ok(false);
            }
        }
        if seen.is_empty() && !self.filtered() {
            // An empty answer is checked against a plain listing before it passes for an
            // empty collection: SOGo answers a calendar-query filtered on VCALENDAR alone with
            // an empty multistatus, whatever the calendar holds. Only an empty collection pays
            // for this, with one small PROPFIND.
            let listed = self.list_entries(&url).await?;
            if !listed.is_empty() {
                tracing::debug!(
                    collection = %url,
                    listed = listed.len(),
                    "the query found nothing but the listing has items: reading them in batches"
                );
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn changes(
        &self,
        collection: &Collection,
        since: Option<&SyncToken>,
    ) -> Result<Option<Changes>> {
        if self.filtered() {
            // sync-collection cannot apply the time-range/component filter; list() can.
            return Ok(None);
        }
        let url = self.collection_url(collection)?;
        let result = self.changes_at(&url, since).await;
        if result
            .as_ref()
            .is_err_and(|e| e.kind() == ErrorKind::NotFound)
        {
            // A collection the listing named is gone: where it was found may have moved.
            discovery::forget(self);
        }
        result
    }

    async fn upload(&self, collection: &Collection, item: &Item) -> Result<(Href, Etag)> {
        let coll = self.collection_url(collection)?;
        let name = item_file_name(item.ident(), self.ext());
        let url = coll.join(&name).map_err(|e| {
            Error::new(ErrorKind::InvalidData, format!("href {name}")).with_source(e)
        })?;
        let href = proto::canonical_path(url.path());
        let what = item_label(item, &href);
        super::accepts::check_upload(self, &self.accepted, &coll, item, &what).await?;
        self.guard_upload(&coll, &url, &what).await?;
        let resp = self.put(&url, item, (IF_NONE_MATCH, "*")).await?;
        if !resp.is_success() {
            // An item without a UID refused: the engine, which knows where the item comes
            // from, names the `davsync repair` to run.
            let note = proto::refusal_note(&resp.body);
            let context = format!("{what}: {}{note}", resp.describe());
            return Err(net::response_error(&resp, Target::Upload, context));
        }
        // A server may store the item elsewhere and say where.
        let (href, url) = match resp.location() {
            Some(loc) if loc.path() != url.path() => {
                let href = proto::canonical_path(loc.path());
                let url = self.item_url(&coll, &Href(href.clone()))?;
                (href, url)
            }
            _ => (href, url),
        };
        let etag = self
            .etag_after_write(&url, &resp)
            .await
            .map_err(|e| prefixed(e, &what))?;
        Ok((Href(href), etag))
    }

    async fn update(
        &self,
        collection: &Collection,
        href: &Href,
        item: &Item,
        etag: &Etag,
    ) -> Result<Etag> {
        let coll = self.collection_url(collection)?;
        let url = self.item_url(&coll, href)?;
        let what = item_label(item, href.as_str());
        let condition = self.if_match(&url, etag, &what).await?;
        self.guard_overwrite(&coll, &url, &condition, &what).await?;
        let resp = self.put(&url, item, (IF_MATCH, &condition)).await?;
        if !resp.is_success() {
            return Err(net::response_error(
                &resp,
                Target::ItemWrite,
                format!(
                    "{what}: {}{}",
                    resp.describe(),
                    proto::refusal_note(&resp.body)
                ),
            ));
        }
        self.etag_after_write(&url, &resp)
            .await
            .map_err(|e| prefixed(e, &what))
    }

    async fn delete(&self, collection: &Collection, href: &Href, etag: &Etag) -> Result<()> {
        let coll = self.collection_url(collection)?;
        let url = self.item_url(&coll, href)?;
        let what = format!("item {href}");
        let condition = self.if_match(&url, etag, &what).await?;
        self.guard_overwrite(&coll, &url, &condition, &what).await?;
        let req = Request::new(net::Method::DELETE, url).header(IF_MATCH, &condition)?;
        let resp = self.client.send(&req).await?;
        if !resp.is_success() {
            return Err(net::response_error(
                &resp,
                Target::ItemWrite,
                format!(
                    "{what}: {}{}",
                    resp.describe(),
                    proto::refusal_note(&resp.body)
                ),
            ));
        }
        Ok(())
    }

    fn preferred_href(&self, uid: &str) -> Option<Href> {
        Some(Href(item_file_name(uid, self.ext())))
    }

    async fn get_meta(&self, collection: &Collection, key: MetaKey) -> Result<Option<String>> {
        if MetaProp::for_key(key, self.kind).is_none() {
            return Ok(None);
        }
        let url = self.collection_url(collection)?;
        let resp = self
            .dav(&url, proto::collections_request("0"))
            .await?
            .ok(Target::Collection)?;
        let infos =
            proto::parse_collections(&resp.body, &resp.url).map_err(|e| invalid(&resp, e))?;
        let target = proto::canonical_path(url.path());
        let info = infos
            .iter()
            .find(|i| i.href.trim_end_matches('/') == target.trim_end_matches('/'))
            .or(infos.first());
        let Some(info) = info else {
            return Ok(None);
        };
        let value = info.meta(key).filter(|v| !v.is_empty());
        // Radicale answers a collection without a displayname with its path: that is no name
        // anyone gave it, and taking it as one would make the first metasync a conflict.
        if key == MetaKey::DisplayName && value.is_some_and(|v| proto::is_path_of(v, &target)) {
            return Ok(None);
        }
        Ok(value.map(str::to_owned))
    }

    async fn set_meta(
        &self,
        collection: &Collection,
        key: MetaKey,
        value: Option<&str>,
    ) -> Result<()> {
        let Some(prop) = MetaProp::for_key(key, self.kind) else {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("{} on a {} collection", key.as_str(), kind_name(self.kind)),
            ));
        };
        let url = self.collection_url(collection)?;
        let mut resp = self
            .dav(&url, proto::proppatch_request(&[(prop, value)]))
            .await?;
        if let (MetaProp::CalendarColor, Some(v), 400) = (prop, value, resp.status.as_u16()) {
            // SOGo takes colors as #RRGGBBAA only (400 "Bad color format"): the same color,
            // opaque.
            if v.len() == 7 && v.starts_with('#') {
                let opaque = format!("{v}FF");
                tracing::debug!("{}: sending the color as {opaque}", resp.describe());
                resp = self
                    .dav(&url, proto::proppatch_request(&[(prop, Some(&opaque))]))
                    .await?;
            }
        }
        if matches!(resp.status.as_u16(), 403 | 405 | 501) {
            // Calypso answers 501: the collection's properties cannot be changed at all.
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "setting {} of {url}: the server does not let collection properties be \
                     changed ({})",
                    key.as_str(),
                    resp.describe()
                ),
            ));
        }
        let resp = resp.ok(Target::Collection)?;
        if resp.status.as_u16() != 207 {
            return Ok(());
        }
        let statuses =
            proto::parse_proppatch(&resp.body, &resp.url).map_err(|e| invalid(&resp, e))?;
        if let Some(bad) = statuses.iter().find(|s| s.is(prop) && !s.is_success()) {
            return Err(Error::new(
                ErrorKind::Refused,
                format!(
                    "setting {} of {url}: the server answered {}",
                    key.as_str(),
                    bad.status
                ),
            ));
        }
        Ok(())
    }
}

fn kind_name(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Calendar => "calendar",
        ItemKind::Contacts => "address book",
    }
}

/// True when a failed sync-collection answer means the server does not do RFC 6578 (rather
/// than a failure to report).
fn sync_collection_unsupported(status: u16) -> bool {
    matches!(status, 400 | 403 | 405 | 409 | 415 | 422 | 501)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_uids_become_file_names() {
        assert_eq!(item_file_name("abc-DEF_1.2~x", ".ics"), "abc-DEF_1.2~x.ics");
    }

    #[test]
    fn unsafe_uids_are_hashed() {
        for uid in ["..", ".hidden", "a/b?c#d", "with space", "ümlaut", ""] {
            let name = item_file_name(uid, ".vcf");
            assert_eq!(name.len(), 64 + 4, "{uid:?} -> {name}");
            assert!(name
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b'.' || b.is_ascii_lowercase()));
        }
        let long = "x".repeat(300);
        assert_eq!(item_file_name(&long, ".ics").len(), 68);
        assert_eq!(item_file_name(&"x".repeat(200), ".ics").len(), 204);
    }

    #[test]
    fn weak_etags_are_sent_strong() {
        assert_eq!(strong("W/\"abc\"", "x").unwrap(), "\"abc\"");
        assert_eq!(strong("abc", "x").unwrap(), "\"abc\"");
        assert_eq!(strong("\"abc\"", "x").unwrap(), "\"abc\"");
    }
}
