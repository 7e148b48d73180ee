//! Reading items: multiget in batches that shrink when the server refuses them, a GET per
//! href as the fallback, and whole-collection queries parsed while they arrive.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;

use futures::StreamExt;
use tokio::sync::mpsc;
use url::Url;

use super::{hash_etag, invalid, DavStorage};
use crate::dav::proto::{self, CalendarQuery, ItemFailure};
use crate::error::{Error, ErrorKind, Result};
use crate::item::{Item, ItemKind};
use crate::net::{self, Request, Response, Target};
use crate::storage::{Collection, Etag, Fetched, Href};

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
    if crate::dav::guard::is_probe_href(&d.href) || !seen.insert(d.href.clone()) {
        return true;
    }
    let href = Href(d.href);
    let r = item_result(kind, &href, d.result);
    sink.send((href, r)).await.is_ok()
}

/// One href of a multiget: its etag and body, or why it alone could not be read.
pub(super) type RawRead = std::result::Result<(Etag, Vec<u8>), ReadFailure>;

/// Why one href could not be read.
#[derive(Debug)]
pub(super) enum ReadFailure {
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

impl DavStorage {
    /// Multiget in batches, up to `parallel` at once: canonical href -> (etag, body) or why
    /// not.
    pub(super) async fn multiget_raw(
        &self,
        url: &Url,
        hrefs: &[Href],
    ) -> Result<HashMap<String, RawRead>> {
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
    pub(super) async fn get_raw(
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

    pub(super) async fn read_many(
        &self,
        collection: &Collection,
        hrefs: &[Href],
    ) -> Result<Vec<Fetched>> {
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

    pub(super) async fn read_all(&self, collection: &Collection) -> Result<Option<Vec<Fetched>>> {
        let (tx, mut rx) = mpsc::channel(ITEMS_IN_FLIGHT);
        let mut out = Vec::new();
        let collect = async {
            while let Some(f) = rx.recv().await {
                out.push(f);
            }
        };
        let (whole, ()) = futures::join!(self.read_all_into(collection, tx), collect);
        Ok(whole?.then_some(out))
    }

    pub(super) async fn read_all_into(
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
}

/// The canonical path of a member href: a relative href (the engine's `preferred_href`, a
/// bare file name) is taken relative to the collection, not to the server root.
pub(super) fn member_path(collection: &Url, href: &Href) -> String {
    match collection.join(href.as_str()) {
        Ok(u) => proto::canonical_path(u.path()),
        Err(_) => proto::canonical_path(href.as_str()),
    }
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
